//! Karpenter's CRDs as the simulator reads them: `karpenter.sh/v1` NodePool and
//! `karpenter.k8s.aws/v1` EC2NodeClass (docs/model/karpenter.md §1, §4, §7; field list and
//! validation rules read from kubernetes-sigs/karpenter `pkg/apis/v1` and
//! aws/karpenter-provider-aws `pkg/apis/v1` + CRDs at v1.14.1).
//!
//! Deserialization only. As the API server prunes unknown fields, unknown fields are ignored;
//! wrong types, invalid enum values, operators, quantities and durations are errors. Defaults are
//! the CRD defaults (expireAfter 720h, consolidateAfter 0s, consolidationPolicy
//! WhenEmptyOrUnderutilized, budgets `[{nodes: 10%}]`). The CRD's CEL / pattern rules and
//! Karpenter's runtime validation that matter are enforced by `validate()`, which reports every
//! violation with its field path. Fields the simulator never reads (cpuOptions,
//! connectionTracking) are kept as loose JSON values.

mod checker;
mod durations;
mod ec2nodeclass;
mod enums;
mod labels;
mod nodepool;
mod taints;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::Deserialize;

pub use checker::*;
use durations::*;
pub use ec2nodeclass::*;
pub use enums::*;
pub use labels::*;
pub use nodepool::*;
pub use taints::*;

/// `metadata` of a top-level object: only what the simulator reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}
