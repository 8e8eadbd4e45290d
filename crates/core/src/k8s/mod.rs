//! The Kubernetes vocabulary: quantities, Go durations, label selectors, node-selector
//! requirements, taints and tolerations, resource lists, and the conversion of real pod specs.

pub mod duration;
pub mod quantity;
pub mod requirements;
pub mod resources;
pub mod selector;
pub mod taints;
