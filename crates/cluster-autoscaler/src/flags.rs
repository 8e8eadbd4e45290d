//! cluster-autoscaler's command-line flags (`spec.clusterAutoscaler.flags`), by their real
//! names and with the defaults of cluster-autoscaler 1.36 (docs/model/cluster-autoscaler.md
//! §6; cluster-autoscaler: config/autoscaling_options.go, main.go). Flags that cannot change
//! a simulated run are parsed and checked, then ignored.

use std::collections::BTreeMap;

use asim_core::k8s::duration::{DurationError, parse_duration};
use serde_json::Value;
use thiserror::Error;

use crate::error::ConfigError;

/// Every flag of the reference's defaults table (§6) plus a few more CA has, with their
/// defaults. Flags that cannot change a simulated run are parsed and checked, then ignored
/// (see the module docs).
#[derive(Clone, Debug)]
pub struct Flags {
    pub scan_interval_ms: u64,
    pub frequent_loops: bool,
    pub new_pod_scale_up_delay_ms: u64,
    pub expendable_pods_priority_cutoff: i32,
    pub expander: String,
    pub max_nodes_per_scaleup: u32,
    pub fastpath_binpacking: bool,
    pub balance_similar_node_groups: bool,
    pub similarity: Similarity,
    /// 0 = no limit.
    pub max_nodes_total: u32,
    /// `--cores-total` min:max (cores).
    pub cores_total: (i64, i64),
    /// `--memory-total` min:max (GiB).
    pub memory_total: (i64, i64),
    /// `--gpu-total` min:max (GPUs) per GPU type (see [`GPU_LABEL`]); a type not listed has
    /// no limit.
    pub gpu_total: BTreeMap<String, (i64, i64)>,
    pub max_node_provision_ms: u64,
    pub max_node_startup_ms: u64,
    pub backoff: BackoffSettings,
    pub scale_up_from_zero: bool,
    pub enforce_node_group_min_size: bool,
    pub salvo_scale_up: bool,
    pub max_total_unready_percentage: f64,
    pub ok_total_unready_count: u32,
    pub scale_down_enabled: bool,
    pub scale_down: ScaleDownSettings,
    pub delay_after_add_ms: u64,
    pub delay_after_delete_ms: u64,
    pub delay_after_failure_ms: u64,
    pub delay_type_local: bool,
    pub max_graceful_termination_ms: u64,
    /// `--max-pod-eviction-time`: how long a drain retries evictions before it fails (§4.6).
    pub max_pod_eviction_ms: u64,
    pub node_delete_delay_after_taint_ms: u64,
    pub cordon_node_before_terminating: bool,
    pub max_bulk_soft_taint_count: u32,
    pub node_info_cache_expire_ms: u64,
    /// Simulator knob `sim-loop-duration`: a fixed iteration duration instead of the model.
    pub loop_duration_ms: Option<u64>,
    /// Simulator knob `sim-priority-expander-config`: the priority ConfigMap's rules.
    pub priority_config: BTreeMap<i32, Vec<String>>,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            scan_interval_ms: 10_000,
            frequent_loops: true,
            new_pod_scale_up_delay_ms: 0,
            expendable_pods_priority_cutoff: -10,
            expander: "least-waste".into(),
            max_nodes_per_scaleup: 1000,
            fastpath_binpacking: false,
            balance_similar_node_groups: false,
            similarity: Similarity {
                memory_difference_ratio: 0.015,
                max_allocatable_difference_ratio: 0.05,
                max_free_difference_ratio: 0.05,
                ignore_labels: Vec::new(),
                only_labels: Vec::new(),
            },
            max_nodes_total: 0,
            cores_total: (0, 320_000),
            memory_total: (0, 6_400_000),
            gpu_total: BTreeMap::new(),
            max_node_provision_ms: 15 * 60_000,
            max_node_startup_ms: 15 * 60_000,
            backoff: BackoffSettings::default(),
            scale_up_from_zero: true,
            enforce_node_group_min_size: false,
            salvo_scale_up: false,
            max_total_unready_percentage: 45.0,
            ok_total_unready_count: 3,
            scale_down_enabled: true,
            scale_down: ScaleDownSettings::default(),
            delay_after_add_ms: 10 * 60_000,
            delay_after_delete_ms: 0,
            delay_after_failure_ms: 3 * 60_000,
            delay_type_local: false,
            max_graceful_termination_ms: 600_000,
            max_pod_eviction_ms: 120_000,
            node_delete_delay_after_taint_ms: 5_000,
            cordon_node_before_terminating: true,
            max_bulk_soft_taint_count: 10,
            node_info_cache_expire_ms: 87_600 * 3_600_000,
            loop_duration_ms: None,
            priority_config: BTreeMap::new(),
        }
    }
}

// ---- the flag groups each part of the autoscaler reads -----------------------------------------
//
// They live here, with the flags, so that the parts depend on the flags and never the other way
// round (cluster-autoscaler: config/autoscaling_options.go holds them all in AutoscalingOptions).

/// The scale-down flags the planner and the actuator need (§4, §6).
#[derive(Clone, Debug)]
pub struct ScaleDownSettings {
    pub utilization_threshold: f64,
    pub gpu_utilization_threshold: f64,
    pub ignore_daemonsets_utilization: bool,
    pub ignore_mirror_pods_utilization: bool,
    pub unneeded_ms: u64,
    pub unready_ms: u64,
    pub unready_enabled: bool,
    pub unremovable_recheck_ms: u64,
    pub skip_nodes_with_system_pods: bool,
    pub blocking_system_pod_ms: u64,
    pub skip_nodes_with_local_storage: bool,
    pub skip_nodes_with_custom_controller_pods: bool,
    pub min_replica_count: u32,
    pub expendable_priority_cutoff: i32,
    pub max_scale_down_parallelism: u32,
    pub max_drain_parallelism: u32,
    /// `--max-empty-bulk-delete` (removed from 1.33); caps empty deletions if given.
    pub max_empty_bulk_delete: Option<u32>,
    /// Loop interval for the unneeded-nodes limit.
    pub scan_interval_ms: u64,
}

/// cluster-autoscaler 1.36 flag defaults (docs/model/cluster-autoscaler.md §6).
impl Default for ScaleDownSettings {
    fn default() -> Self {
        ScaleDownSettings {
            utilization_threshold: 0.5,
            gpu_utilization_threshold: 0.5,
            ignore_daemonsets_utilization: false,
            ignore_mirror_pods_utilization: false,
            unneeded_ms: 10 * 60_000,
            unready_ms: 20 * 60_000,
            unready_enabled: true,
            unremovable_recheck_ms: 5 * 60_000,
            skip_nodes_with_system_pods: true,
            blocking_system_pod_ms: 3_600_000,
            skip_nodes_with_local_storage: true,
            skip_nodes_with_custom_controller_pods: true,
            min_replica_count: 0,
            expendable_priority_cutoff: -10,
            max_scale_down_parallelism: 10,
            max_drain_parallelism: 1,
            max_empty_bulk_delete: None,
            scan_interval_ms: 10_000,
        }
    }
}

/// The node label whose value is a GPU node's type for `--gpu-total` on AWS
/// (cluster-autoscaler: cloudprovider/aws, `GPULabel`). \[simulator\] A GPU node without it
/// counts as type `nvidia.com/gpu`, so that a limit written with the resource name is not
/// silently ignored (CA counts such a node against no GPU limit).
pub const GPU_LABEL: &str = "k8s.amazonaws.com/accelerator";

/// Per-ASG overrides of the scale-down flags, from the ASG's
/// `k8s.io/cluster-autoscaler/node-template/autoscaling-options/<option>` tags
/// (docs/model/cluster-autoscaler.md §4.2, §5.1; cluster-autoscaler: cloudprovider/aws/README.md,
/// `aws_manager.go` `GetAsgOptions`). `None` keeps the flag's value.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AutoscalingOptions {
    pub utilization_threshold: Option<f64>,
    pub gpu_utilization_threshold: Option<f64>,
    pub unneeded_ms: Option<u64>,
    pub unready_ms: Option<u64>,
    pub ignore_daemonsets_utilization: Option<bool>,
}

/// The tag prefix of the per-ASG options.
pub const AUTOSCALING_OPTIONS_TAG: &str =
    "k8s.io/cluster-autoscaler/node-template/autoscaling-options/";

impl AutoscalingOptions {
    /// Read one option from its tag: `key` is the part after [`AUTOSCALING_OPTIONS_TAG`].
    /// CA's `GetAsgOptions` logs and skips a value it cannot parse; here it is an error, since a
    /// run that silently ignored the tag would look like a result.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), FlagError> {
        let v = Value::String(value.to_string());
        match key {
            "scaledownutilizationthreshold" => self.utilization_threshold = Some(as_ratio(&v)?),
            "scaledowngpuutilizationthreshold" => {
                self.gpu_utilization_threshold = Some(as_ratio(&v)?)
            }
            "scaledownunneededtime" => self.unneeded_ms = Some(as_duration(&v)?),
            "scaledownunreadytime" => self.unready_ms = Some(as_duration(&v)?),
            "ignoredaemonsetsutilization" => {
                self.ignore_daemonsets_utilization = Some(as_bool(&v)?)
            }
            _ => return Err(FlagError::UnknownOption(key.to_string())),
        }
        Ok(())
    }
}

impl ScaleDownSettings {
    /// The settings of one node group: the flags with its ASG's overrides applied.
    pub fn with(&self, o: &AutoscalingOptions) -> ScaleDownSettings {
        let mut s = self.clone();
        if let Some(x) = o.utilization_threshold {
            s.utilization_threshold = x;
        }
        if let Some(x) = o.gpu_utilization_threshold {
            s.gpu_utilization_threshold = x;
        }
        if let Some(x) = o.unneeded_ms {
            s.unneeded_ms = x;
        }
        if let Some(x) = o.unready_ms {
            s.unready_ms = x;
        }
        if let Some(x) = o.ignore_daemonsets_utilization {
            s.ignore_daemonsets_utilization = x;
        }
        s
    }
}

/// Ratios and label rules of `IsCloudProviderNodeInfoSimilar` with the AWS comparator (§3.5);
/// the comparison itself is `scale_up::balancing`.
#[derive(Clone, Debug)]
pub struct Similarity {
    pub memory_difference_ratio: f64,
    pub max_allocatable_difference_ratio: f64,
    pub max_free_difference_ratio: f64,
    /// `--balancing-ignore-label` values (added to the built-in ignored labels).
    pub ignore_labels: Vec<String>,
    /// `--balancing-label`: if set, compare only these labels.
    pub only_labels: Vec<String>,
}

/// Backoff settings (`--initial-node-group-backoff-duration` 5 m,
/// `--max-node-group-backoff-duration` 30 m, `--node-group-backoff-reset-timeout` 3 h; §3.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffSettings {
    pub initial_ms: u64,
    pub max_ms: u64,
    pub reset_ms: u64,
}

impl Default for BackoffSettings {
    fn default() -> Self {
        BackoffSettings {
            initial_ms: 5 * 60_000,
            max_ms: 30 * 60_000,
            reset_ms: 3 * 3_600_000,
        }
    }
}

/// Flags accepted for compatibility that change nothing in a simulation (wall-clock budgets,
/// concurrency, liveness, API caches): name → expected kind.
const INERT_FLAGS: &[(&str, Kind)] = &[
    ("max-nodegroup-binpacking-duration", Kind::Duration),
    ("max-binpacking-time", Kind::Duration),
    ("parallel-scale-up", Kind::Bool),
    ("salvo-scale-up-budget", Kind::Duration),
    ("scale-down-simulation-timeout", Kind::Duration),
    ("node-deletion-delay-timeout", Kind::Duration),
    ("node-deletion-batcher-interval", Kind::Duration),
    ("daemonset-eviction-for-empty-nodes", Kind::Bool),
    ("daemonset-eviction-for-occupied-nodes", Kind::Bool),
    ("max-bulk-soft-taint-time", Kind::Duration),
    ("scale-down-non-empty-candidates-count", Kind::Int),
    ("scale-down-candidates-pool-ratio", Kind::Float),
    ("scale-down-candidates-pool-min-count", Kind::Int),
    ("aws-use-static-instance-list", Kind::Bool),
    ("max-inactivity", Kind::Duration),
    ("max-failing-time", Kind::Duration),
    ("grpc-expander-url", Kind::Str),
];

#[derive(Clone, Copy, Debug)]
enum Kind {
    Duration,
    Bool,
    Int,
    Float,
    Str,
}

/// Why one flag's value is wrong (the caller adds the flag's path).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum FlagError {
    #[error("expected {want}, got {got}")]
    Expected { want: &'static str, got: Value },
    #[error(transparent)]
    Duration(#[from] DurationError),
    #[error("priority {0:?} is not an integer")]
    Priority(String),
    #[error(
        "unknown flag {0:?} (not a cluster-autoscaler 1.36 flag the simulator knows; see docs/scenario.md)"
    )]
    Unknown(String),
    #[error(
        "unknown autoscaling option {0:?} (expected scaledownutilizationthreshold, scaledowngpuutilizationthreshold, scaledownunneededtime, scaledownunreadytime or ignoredaemonsetsutilization)"
    )]
    UnknownOption(String),
    #[error("GPU type {0:?} is given twice")]
    DuplicateGpuType(String),
}

fn bad(want: &'static str, v: &Value) -> FlagError {
    FlagError::Expected {
        want,
        got: v.clone(),
    }
}

fn as_duration(v: &Value) -> Result<u64, FlagError> {
    match v {
        Value::String(s) => Ok(parse_duration(s)?),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(0),
        _ => Err(bad("a Go duration such as 10s or 15m", v)),
    }
}

fn as_bool(v: &Value) -> Result<bool, FlagError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        _ => Err(bad("true or false", v)),
    }
}

fn as_i64(v: &Value) -> Result<i64, FlagError> {
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| bad("an integer", v)),
        Value::String(s) => s.trim().parse().map_err(|_| bad("an integer", v)),
        _ => Err(bad("an integer", v)),
    }
}

fn as_u32(v: &Value) -> Result<u32, FlagError> {
    u32::try_from(as_i64(v)?).map_err(|_| bad("a non-negative integer", v))
}

fn as_f64(v: &Value) -> Result<f64, FlagError> {
    let x = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    x.filter(|x| x.is_finite())
        .ok_or_else(|| bad("a number", v))
}

fn as_str(v: &Value) -> Result<&str, FlagError> {
    v.as_str().ok_or_else(|| bad("a string", v))
}

fn as_list(v: &Value) -> Result<Vec<String>, FlagError> {
    match v {
        Value::String(s) => Ok(s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()),
        Value::Array(a) => a.iter().map(|x| as_str(x).map(str::to_string)).collect(),
        _ => Err(bad("a string or a list of strings", v)),
    }
}

/// `<min>:<max>` (`--cores-total`, `--memory-total`).
fn as_min_max(v: &Value) -> Result<(i64, i64), FlagError> {
    let s = as_str(v)?;
    let parsed = s
        .split_once(':')
        .and_then(|(a, b)| Some((a.trim().parse::<i64>().ok()?, b.trim().parse::<i64>().ok()?)));
    match parsed {
        Some((lo, hi)) if 0 <= lo && lo <= hi => Ok((lo, hi)),
        _ => Err(bad("<min>:<max> with 0 ≤ min ≤ max", v)),
    }
}

fn as_ratio(v: &Value) -> Result<f64, FlagError> {
    let x = as_f64(v)?;
    if x < 0.0 {
        return Err(bad("a non-negative number", v));
    }
    Ok(x)
}

impl Flags {
    /// Parse `spec.clusterAutoscaler.flags`: real flag names (a leading `--` is allowed), an
    /// unknown flag is an error naming it.
    pub fn parse(map: &BTreeMap<String, Value>) -> Result<Flags, ConfigError> {
        let mut f = Flags::default();
        for (raw, v) in map {
            f.set(raw, v)
                .map_err(|e| ConfigError::new(format!("spec.clusterAutoscaler.flags.{raw}"), e))?;
        }
        f.scale_down.expendable_priority_cutoff = f.expendable_pods_priority_cutoff;
        f.scale_down.scan_interval_ms = f.scan_interval_ms;
        Ok(f)
    }

    /// One flag, by its name as written (`--` allowed).
    fn set(&mut self, raw: &str, v: &Value) -> Result<(), FlagError> {
        let f = self;
        {
            let name = raw.trim_start_matches('-');
            let sd = &mut f.scale_down;
            match name {
                "scan-interval" => {
                    f.scan_interval_ms = as_duration(v)?;
                    if f.scan_interval_ms == 0 {
                        return Err(bad("a positive duration", v));
                    }
                }
                "frequent-loops-enabled" => f.frequent_loops = as_bool(v)?,
                "new-pod-scale-up-delay" => f.new_pod_scale_up_delay_ms = as_duration(v)?,
                "expendable-pods-priority-cutoff" => {
                    f.expendable_pods_priority_cutoff =
                        i32::try_from(as_i64(v)?).map_err(|_| bad("a 32-bit integer", v))?;
                }
                "estimator" => {
                    if as_str(v)? != "binpacking" {
                        return Err(bad("binpacking (the only estimator)", v));
                    }
                }
                "expander" => f.expander = as_str(v)?.to_string(),
                "max-nodes-per-scaleup" => f.max_nodes_per_scaleup = as_u32(v)?,
                "fastpath-binpacking-enabled" => f.fastpath_binpacking = as_bool(v)?,
                "balance-similar-node-groups" => f.balance_similar_node_groups = as_bool(v)?,
                "memory-difference-ratio" => f.similarity.memory_difference_ratio = as_ratio(v)?,
                "max-allocatable-difference-ratio" => {
                    f.similarity.max_allocatable_difference_ratio = as_ratio(v)?
                }
                "max-free-difference-ratio" => {
                    f.similarity.max_free_difference_ratio = as_ratio(v)?
                }
                "balancing-ignore-label" => f.similarity.ignore_labels = as_list(v)?,
                "balancing-label" => f.similarity.only_labels = as_list(v)?,
                "max-nodes-total" => f.max_nodes_total = as_u32(v)?,
                "cores-total" => f.cores_total = as_min_max(v)?,
                "memory-total" => f.memory_total = as_min_max(v)?,
                "gpu-total" => {
                    // `<gpu_type>:<min>:<max>`, repeatable (a list here), one limit per type
                    // (cluster-autoscaler: config/flags/flags.go, `parseMultipleGpuLimits`).
                    // The type may hold `/` (`nvidia.com/gpu`) but not `:`.
                    let mut limits = BTreeMap::new();
                    for item in as_list(v)? {
                        let parts: Vec<&str> = item.split(':').collect();
                        let parsed = match parts.as_slice() {
                            [ty, lo, hi] if !ty.trim().is_empty() => lo
                                .trim()
                                .parse::<i64>()
                                .ok()
                                .zip(hi.trim().parse::<i64>().ok())
                                .map(|n| (ty.trim().to_string(), n)),
                            _ => None,
                        };
                        let Some((ty, (lo, hi))) =
                            parsed.filter(|(_, (lo, hi))| 0 <= *lo && lo <= hi)
                        else {
                            return Err(bad("<gpu_type>:<min>:<max> with 0 ≤ min ≤ max", v));
                        };
                        if limits.insert(ty.clone(), (lo, hi)).is_some() {
                            return Err(FlagError::DuplicateGpuType(ty));
                        }
                    }
                    f.gpu_total = limits;
                }
                "max-node-provision-time" => f.max_node_provision_ms = as_duration(v)?,
                "max-node-startup-time" => f.max_node_startup_ms = as_duration(v)?,
                "initial-node-group-backoff-duration" => f.backoff.initial_ms = as_duration(v)?,
                "max-node-group-backoff-duration" => f.backoff.max_ms = as_duration(v)?,
                "node-group-backoff-reset-timeout" => f.backoff.reset_ms = as_duration(v)?,
                "scale-up-from-zero" => f.scale_up_from_zero = as_bool(v)?,
                "enforce-node-group-min-size" => f.enforce_node_group_min_size = as_bool(v)?,
                "salvo-scale-up" => f.salvo_scale_up = as_bool(v)?,
                "max-total-unready-percentage" => f.max_total_unready_percentage = as_ratio(v)?,
                "ok-total-unready-count" => f.ok_total_unready_count = as_u32(v)?,
                "scale-down-enabled" => f.scale_down_enabled = as_bool(v)?,
                "scale-down-unneeded-time" => sd.unneeded_ms = as_duration(v)?,
                "scale-down-unready-enabled" => sd.unready_enabled = as_bool(v)?,
                "scale-down-unready-time" => sd.unready_ms = as_duration(v)?,
                "scale-down-delay-after-add" => f.delay_after_add_ms = as_duration(v)?,
                "scale-down-delay-after-delete" => f.delay_after_delete_ms = as_duration(v)?,
                "scale-down-delay-after-failure" => f.delay_after_failure_ms = as_duration(v)?,
                "scale-down-delay-type-local" => f.delay_type_local = as_bool(v)?,
                "scale-down-utilization-threshold" => sd.utilization_threshold = as_ratio(v)?,
                "scale-down-gpu-utilization-threshold" => {
                    sd.gpu_utilization_threshold = as_ratio(v)?
                }
                "ignore-daemonsets-utilization" => sd.ignore_daemonsets_utilization = as_bool(v)?,
                "ignore-mirror-pods-utilization" => sd.ignore_mirror_pods_utilization = as_bool(v)?,
                "unremovable-node-recheck-timeout" => sd.unremovable_recheck_ms = as_duration(v)?,
                "max-scale-down-parallelism" => sd.max_scale_down_parallelism = as_u32(v)?,
                "max-drain-parallelism" => sd.max_drain_parallelism = as_u32(v)?,
                "max-empty-bulk-delete" => sd.max_empty_bulk_delete = Some(as_u32(v)?),
                "max-graceful-termination-sec" => {
                    f.max_graceful_termination_ms = u64::from(as_u32(v)?) * 1000
                }
                "max-pod-eviction-time" => f.max_pod_eviction_ms = as_duration(v)?,
                "node-delete-delay-after-taint" => {
                    f.node_delete_delay_after_taint_ms = as_duration(v)?
                }
                "skip-nodes-with-system-pods" => sd.skip_nodes_with_system_pods = as_bool(v)?,
                "blocking-system-pod-distruption-timeout" => {
                    sd.blocking_system_pod_ms = as_duration(v)?
                }
                "skip-nodes-with-local-storage" => sd.skip_nodes_with_local_storage = as_bool(v)?,
                "skip-nodes-with-custom-controller-pods" => {
                    sd.skip_nodes_with_custom_controller_pods = as_bool(v)?
                }
                "min-replica-count" => sd.min_replica_count = as_u32(v)?,
                "cordon-node-before-terminating" => f.cordon_node_before_terminating = as_bool(v)?,
                "max-bulk-soft-taint-count" => f.max_bulk_soft_taint_count = as_u32(v)?,
                "node-info-cache-expire-time" => f.node_info_cache_expire_ms = as_duration(v)?,
                "cloud-provider" => {
                    if as_str(v)? != "aws" {
                        return Err(bad("aws (the simulator models the AWS provider)", v));
                    }
                }
                "sim-loop-duration" => f.loop_duration_ms = Some(as_duration(v)?),
                "sim-priority-expander-config" => {
                    let Value::Object(m) = v else {
                        return Err(bad("a map of priority → list of node-group regexes", v));
                    };
                    for (k, list) in m {
                        let p: i32 = k
                            .trim()
                            .parse()
                            .map_err(|_| FlagError::Priority(k.clone()))?;
                        f.priority_config.insert(p, as_list(list)?);
                    }
                }
                other => match INERT_FLAGS.iter().find(|(k, _)| *k == other) {
                    Some((_, kind)) => {
                        match kind {
                            Kind::Duration => as_duration(v).map(drop),
                            Kind::Bool => as_bool(v).map(drop),
                            Kind::Int => as_i64(v).map(drop),
                            Kind::Float => as_f64(v).map(drop),
                            Kind::Str => as_str(v).map(drop),
                        }?;
                    }
                    None => return Err(FlagError::Unknown(raw.to_string())),
                },
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flags(pairs: &[(&str, Value)]) -> Result<Flags, String> {
        let m: BTreeMap<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        Flags::parse(&m).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_match_the_reference_table() {
        let f = Flags::default();
        assert_eq!(f.scan_interval_ms, 10_000);
        assert!(f.frequent_loops);
        assert_eq!(f.expander, "least-waste");
        assert_eq!(f.max_node_provision_ms, 900_000);
        assert_eq!(f.scale_down.unneeded_ms, 600_000);
        assert_eq!(f.scale_down.unready_ms, 1_200_000);
        assert_eq!(f.delay_after_add_ms, 600_000);
        assert_eq!(f.delay_after_failure_ms, 180_000);
        assert_eq!(f.scale_down.utilization_threshold, 0.5);
        assert_eq!(f.scale_down.max_scale_down_parallelism, 10);
        assert_eq!(f.scale_down.max_drain_parallelism, 1);
        assert_eq!(f.max_graceful_termination_ms, 600_000);
        assert_eq!(f.max_pod_eviction_ms, 120_000);
        assert_eq!(f.scale_down.unremovable_recheck_ms, 300_000);
        assert_eq!(f.cores_total, (0, 320_000));
        assert_eq!(f.memory_total, (0, 6_400_000));
    }

    #[test]
    fn flags_parse_real_names_and_reject_unknown_ones() {
        let f = flags(&[
            ("scan-interval", json!("30s")),
            ("--expander", json!("most-pods,random")),
            ("scale-down-utilization-threshold", json!(0.65)),
            ("cores-total", json!("0:64")),
            ("balance-similar-node-groups", json!(true)),
            ("max-graceful-termination-sec", json!(120)),
            ("max-binpacking-time", json!("1m")),
        ])
        .expect("valid");
        assert_eq!(f.scan_interval_ms, 30_000);
        assert_eq!(f.scale_down.scan_interval_ms, 30_000);
        assert_eq!(f.expander, "most-pods,random");
        assert_eq!(f.scale_down.utilization_threshold, 0.65);
        assert_eq!(f.cores_total, (0, 64));
        assert!(f.balance_similar_node_groups);
        assert_eq!(f.max_graceful_termination_ms, 120_000);
        let e = flags(&[("scale-down-unneded-time", json!("5m"))]).unwrap_err();
        assert!(e.contains("scale-down-unneded-time"), "{e}");
        let e = flags(&[("scan-interval", json!(true))]).unwrap_err();
        assert!(e.contains("flags.scan-interval"), "{e}");
        assert!(flags(&[("cores-total", json!("9:3"))]).is_err());
        assert!(flags(&[("estimator", json!("oldbinpacking"))]).is_err());
    }

    /// `--gpu-total` keeps one limit per GPU type (a type may contain `/`), and refuses a
    /// type given twice or a malformed item.
    #[test]
    fn gpu_total_is_per_gpu_type() {
        let f = flags(&[(
            "gpu-total",
            json!(["nvidia-tesla-t4:0:4", "nvidia.com/gpu:1:8"]),
        )])
        .expect("valid");
        assert_eq!(f.gpu_total.get("nvidia-tesla-t4"), Some(&(0, 4)));
        assert_eq!(f.gpu_total.get("nvidia.com/gpu"), Some(&(1, 8)));
        assert!(flags(&[("gpu-total", json!("a:0:1,a:0:2"))]).is_err());
        assert!(flags(&[("gpu-total", json!("0:4"))]).is_err());
        assert!(flags(&[("gpu-total", json!("t4:5:4"))]).is_err());
    }

    /// The ASG's autoscaling-options tags, by their README names; an unknown one is refused.
    #[test]
    fn autoscaling_options_read_the_readme_names() {
        let mut o = AutoscalingOptions::default();
        o.set("scaledownutilizationthreshold", "0.3").expect("ok");
        o.set("scaledownunneededtime", "2m").expect("ok");
        o.set("ignoredaemonsetsutilization", "true").expect("ok");
        let s = ScaleDownSettings::default().with(&o);
        assert_eq!(s.utilization_threshold, 0.3);
        assert_eq!(s.unneeded_ms, 120_000);
        assert!(s.ignore_daemonsets_utilization);
        assert_eq!(s.unready_ms, 20 * 60_000);
        assert!(o.set("scaledownunneededtime", "soon").is_err());
        assert!(o.set("scaledownthreshold", "0.3").is_err());
    }

    /// The flag's path is said once, by `Flags::parse`, whatever went wrong with its value.
    #[test]
    fn a_bad_duration_names_the_flag_once() {
        let e = flags(&[("--scan-interval", json!("5 minutes"))]).unwrap_err();
        assert!(
            e.starts_with("spec.clusterAutoscaler.flags.--scan-interval: invalid duration"),
            "{e}"
        );
        assert_eq!(e.matches("spec.clusterAutoscaler").count(), 1, "{e}");
    }
}
