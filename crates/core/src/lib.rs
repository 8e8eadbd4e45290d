//! The bottom layer of autoscale-sim: what every other crate speaks and nothing here knows
//! about a cluster or an autoscaler. The event queue and clock ([`engine`]), Kubernetes'
//! vocabulary (quantities, durations, label requirements, selectors, taints, resources:
//! [`k8s`]), the EC2 instance catalog ([`catalog`]) and the [`cloud::Cloud`] seam with the
//! sans-IO mock EC2 that implements it ([`cloud::mock`]).

pub mod catalog;
pub mod cloud;
pub mod engine;
pub mod files;
pub mod hash;
pub mod k8s;
pub mod math;
