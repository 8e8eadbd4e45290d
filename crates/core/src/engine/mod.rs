//! The discrete-event engine: virtual time, the event queue and the seeded random streams.
//!
//! Nothing here knows about Kubernetes. The simulation (`asim_sim`) owns one [`EventQueue`]
//! of its own event type and one [`RngStreams`], and advances [`SimTime`] only by popping events.
//! There is no wall clock anywhere in the core (docs/design.md §1.2).

mod queue;
mod rng;
mod time;

pub use queue::{EventId, EventQueue};
pub use rng::{RngStreams, Stream, derive_seed};
pub use time::SimTime;
