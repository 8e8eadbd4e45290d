//! # autoscale-sim
//!
//! A deterministic discrete-event simulator of Kubernetes node autoscaling on AWS: a workload
//! replayed against a simulated cluster and a simulated EC2, driven by Karpenter's or
//! cluster-autoscaler's decisions, reporting cost and pod latency.
//!
//! Start reading at [`sim::Simulation`] (the event loop), then [`cluster`] (pods, nodes and the
//! kube-scheduler binder), [`cloud`] (the mock EC2) and [`workload`] (the scenario format).
//! `ARCHITECTURE.md` at the repository root is the map.

pub mod autoscaler;
pub mod catalog;
pub mod cloud;
pub mod cluster;
pub mod cluster_autoscaler;
pub mod engine;
pub mod k8s;
pub mod karpenter;
pub mod report;
pub mod run;
pub mod sim;
pub mod workload;
