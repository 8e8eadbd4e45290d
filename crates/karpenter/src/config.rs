//! Karpenter's configuration as the scenario gives it: the operator's settings and feature
//! gates (`spec.karpenter`), the NodePools and EC2NodeClasses, and the subnets and zones they
//! select from. Parsed and checked when the scenario is loaded, so every mistake is reported
//! with its file, line and field before a run starts; [`crate::Karpenter::new`] takes the
//! result.

use std::collections::BTreeMap;
use std::sync::Arc;

use asim_core::catalog::Catalog;
use asim_core::cloud::Subnet;
use asim_core::k8s::duration::parse_duration;
use serde_json::Value;
use thiserror::Error;

use crate::apis::{EC2NodeClass, NodePool};
use crate::nodepool::budgets::{Budgets, CronError};

/// A mistake in Karpenter's configuration: `field` is the dotted path from the scenario root
/// (or from the NodePool manifest, for `nodepool`), for the loader to find the line.
#[derive(Debug, Error, Clone, PartialEq)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: String,
    /// The NodePool the field is in, when it is in one.
    pub nodepool: Option<String>,
    pub message: String,
}

impl ConfigError {
    fn setting(key: &str, message: String) -> ConfigError {
        ConfigError {
            field: format!("spec.karpenter.settings.{key}"),
            nodepool: None,
            message,
        }
    }

    /// A NodePool's `spec.disruption.budgets` that does not parse.
    pub fn budgets(np: &NodePool, e: CronError) -> ConfigError {
        ConfigError {
            field: "spec.disruption.budgets".into(),
            nodepool: Some(np.name().to_string()),
            message: e.to_string(),
        }
    }
}

/// Operator settings (docs/model/karpenter.md §11), from `spec.karpenter.settings`.
#[derive(Clone, Debug)]
pub struct Settings {
    pub batch_idle_ms: u64,
    pub batch_max_ms: u64,
    /// `Respect` (default) or `Ignore` preferences (§1.7).
    pub ignore_preferences: bool,
    /// Simulator knob: how long after Ready the agent that owns a startup taint removes it.
    pub startup_taint_removal_ms: u64,
    /// Simulator knob: how long one Solve takes (docs/model/latency.md §3 stage 1d: LN(0.3 s, 0.5));
    /// we use the median, the scatter being negligible next to the launch.
    pub solve_ms: u64,
    /// `MIN_VALUES_POLICY=BestEffort`: a NodeClaim whose types cannot meet a requirement's
    /// `minValues` is still created, with minValues relaxed to what is left (and the NodeClaim
    /// annotated `karpenter.sh/nodeclaim-min-values-relaxed`); `Strict` (default) rejects the
    /// NodePool for the pod (§1.4; karpenter: pkg/operator/options/options.go).
    pub min_values_best_effort: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            batch_idle_ms: 1_000,
            batch_max_ms: 10_000,
            ignore_preferences: false,
            startup_taint_removal_ms: 5_000,
            solve_ms: 300,
            min_values_best_effort: false,
        }
    }
}

impl Settings {
    /// `spec.karpenter.settings`: the operator's environment variables the simulation reads,
    /// by their option names (karpenter: pkg/operator/options/options.go), plus the
    /// simulator's own knobs.
    pub fn parse(s: &BTreeMap<String, Value>) -> Result<Self, ConfigError> {
        let mut out = Settings::default();
        for (k, v) in s {
            let dur = |v: &Value| -> Result<u64, ConfigError> {
                let text = v.as_str().ok_or_else(|| {
                    ConfigError::setting(k, "expected a duration string like 1s".into())
                })?;
                parse_duration(text).map_err(|e| ConfigError::setting(k, e.to_string()))
            };
            let policy = |v: &Value, (off, on): (&str, &str)| match v.as_str() {
                Some(x) if x == off => Ok(false),
                Some(x) if x == on => Ok(true),
                _ => Err(ConfigError::setting(
                    k,
                    format!("expected {off} or {on}, got {v}"),
                )),
            };
            match k.as_str() {
                "batchIdleDuration" => out.batch_idle_ms = dur(v)?,
                "batchMaxDuration" => out.batch_max_ms = dur(v)?,
                "startupTaintRemoval" => out.startup_taint_removal_ms = dur(v)?,
                "solveDuration" => out.solve_ms = dur(v)?,
                // Two-valued policies: (value meaning false, value meaning true).
                "preferencePolicy" => out.ignore_preferences = policy(v, ("Respect", "Ignore"))?,
                "minValuesPolicy" => {
                    out.min_values_best_effort = policy(v, ("Strict", "BestEffort"))?;
                }
                other => {
                    return Err(ConfigError::setting(
                        other,
                        format!(
                            "unknown setting {other:?} (expected batchIdleDuration, batchMaxDuration, minValuesPolicy, preferencePolicy, startupTaintRemoval, solveDuration)"
                        ),
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// `spec.karpenter.featureGates` (karpenter: pkg/operator/options/options.go `FeatureGates`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeatureGates {
    /// `SpotToSpotConsolidation` (docs/model/karpenter.md §4.4).
    pub spot_to_spot_consolidation: bool,
}

impl FeatureGates {
    pub fn parse(gates: &BTreeMap<String, bool>) -> Result<FeatureGates, ConfigError> {
        let mut out = FeatureGates::default();
        for (k, v) in gates {
            match k.as_str() {
                "SpotToSpotConsolidation" => out.spot_to_spot_consolidation = *v,
                // Gates that change nothing in the simulation are accepted as Karpenter does.
                "NodeRepair" | "ReservedCapacity" | "NodeOverlay" | "StaticCapacity" => {}
                other => {
                    return Err(ConfigError {
                        field: format!("spec.karpenter.featureGates.{other}"),
                        nodepool: None,
                        message: format!(
                            "unknown feature gate {other:?} (expected SpotToSpotConsolidation, NodeRepair, ReservedCapacity, NodeOverlay or StaticCapacity)"
                        ),
                    });
                }
            }
        }
        Ok(out)
    }
}

/// Everything Karpenter is started with.
#[derive(Clone, Debug)]
pub struct KarpenterConfig {
    pub settings: Settings,
    pub feature_gates: FeatureGates,
    /// In the order the scenario lists them.
    pub nodepools: Vec<NodePool>,
    pub nodeclasses: Vec<EC2NodeClass>,
    /// The VPC's subnets (`spec.subnets`); none: one subnet per zone that every selector term
    /// matches.
    pub subnets: Vec<Subnet>,
    /// The scenario's zones.
    pub zones: Vec<String>,
    pub catalog: Arc<Catalog>,
}

impl KarpenterConfig {
    /// Check what Karpenter would reject when started: the NodePools' disruption budgets.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for np in &self.nodepools {
            Budgets::new(np).map_err(|e| ConfigError::budgets(np, e))?;
        }
        Ok(())
    }

    /// The zones of the subnets an EC2NodeClass selects (docs/model/karpenter.md §7): a term
    /// matches a subnet by `id`, or when every tag it names has that value (`*` = any value).
    /// Without declared subnets, every scenario zone has one subnet that every term matches.
    pub fn nodeclass_zones(&self, nc: &EC2NodeClass) -> Vec<String> {
        if self.subnets.is_empty() {
            return self.zones.clone();
        }
        let selected = |s: &Subnet| {
            nc.spec.subnet_selector_terms.iter().any(|t| {
                t.id.as_deref().is_some_and(|id| id == s.id)
                    || t.tags.as_ref().is_some_and(|tags| {
                        !tags.is_empty()
                            && tags
                                .iter()
                                .all(|(k, v)| s.tags.get(k).is_some_and(|sv| v == "*" || sv == v))
                    })
            })
        };
        self.zones
            .iter()
            .filter(|z| self.subnets.iter().any(|s| &s.zone == *z && selected(s)))
            .cloned()
            .collect()
    }
}

/// What a timeline step can change in Karpenter's configuration (delivered through the seam's
/// [`asim_cluster::autoscaler::ConfigChange`]).
#[derive(Clone, Debug)]
pub enum Change {
    /// An EC2NodeClass's AMI changed: the nodes launched from it drift (§4.5).
    NodeClassChanged(String),
    /// NodePools applied from a file (`kubectl apply -f`): each replaces the NodePool of its
    /// name or is created; nodes whose NodePool template changed drift (§4.5).
    NodePoolsApplied(Vec<NodePool>),
}
