//! Live mode (docs/live.md, docs/design.md §14): the simulator's decisions against real EC2.
//!
//! Built only with the root package's cargo feature `live`; the simulator's crates stay
//! sans-IO and know nothing of this one. `ec2` is the blocking EC2 client (the official SDK on
//! a tokio runtime, credentials from the standard AWS chain) and `autoscaling` its Auto Scaling
//! calls; `safety` holds run ids, caps and cleanup by tag; `catalog_sync`, `calibrate` and `run` are the commands.

pub mod autoscaling;
pub mod calibrate;
pub mod catalog_sync;
pub mod ec2;
mod error;
pub mod run;
pub mod safety;

pub use error::LiveError;
