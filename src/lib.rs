//! # autoscale-sim
//!
//! A deterministic discrete-event simulator of Kubernetes node autoscaling on AWS: a workload
//! replayed against a simulated cluster and a simulated EC2, driven by Karpenter's or
//! cluster-autoscaler's decisions, reporting cost and pod latency.
//!
//! The simulator is a workspace of layer crates (`crates/`); this package is the command line
//! and re-exports each layer under the module name it has always had, so that
//! `autoscale_sim::karpenter::apis::NodePool` names what it did before the split. Start
//! reading at [`sim::Simulation`] (the event loop). `ARCHITECTURE.md` at the repository root
//! is the map.

pub use asim_cluster as cluster;
pub use asim_cluster::autoscaler;
pub use asim_cluster_autoscaler as cluster_autoscaler;
pub use asim_core::{catalog, cloud, engine, k8s};
pub use asim_karpenter as karpenter;
/// Live mode (cargo feature `live`): the AWS SDK, never built by default.
#[cfg(feature = "live")]
pub use asim_live as live;
pub use asim_manifests as manifests;
pub use asim_report as report;
pub use asim_sim as sim;
pub use asim_sim::run;
pub use asim_sweep as sweep;
pub use asim_workload as workload;

pub mod selftest;
