//! cluster-autoscaler's command-line flags (`spec.clusterAutoscaler.flags`), by their real
//! names and with the defaults of cluster-autoscaler 1.36 (docs/model/cluster-autoscaler.md
//! §6; cluster-autoscaler: config/autoscaling_options.go, main.go). Flags that cannot change
//! a simulated run are parsed and checked, then ignored.

use std::collections::BTreeMap;

use asim_core::k8s::duration::parse_duration;
use serde_json::Value;

use crate::clusterstate::BackoffSettings;
use crate::config::ConfigError;
use crate::scale_down::ScaleDownSettings;
use crate::scale_up::Similarity;

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
    /// `--gpu-total` min:max over all GPU types (GPUs); None = no limit.
    pub gpu_total: Option<(i64, i64)>,
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
            gpu_total: None,
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

fn bad(_name: &str, want: &str, v: &Value) -> String {
    format!("expected {want}, got {v}")
}

fn as_duration(name: &str, v: &Value) -> Result<u64, String> {
    match v {
        Value::String(s) => {
            parse_duration(s).map_err(|e| format!("spec.clusterAutoscaler.flags.{name}: {e}"))
        }
        Value::Number(n) if n.as_u64() == Some(0) => Ok(0),
        _ => Err(bad(name, "a Go duration such as 10s or 15m", v)),
    }
}

fn as_bool(name: &str, v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        _ => Err(bad(name, "true or false", v)),
    }
}

fn as_i64(name: &str, v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| bad(name, "an integer", v)),
        Value::String(s) => s.trim().parse().map_err(|_| bad(name, "an integer", v)),
        _ => Err(bad(name, "an integer", v)),
    }
}

fn as_u32(name: &str, v: &Value) -> Result<u32, String> {
    u32::try_from(as_i64(name, v)?).map_err(|_| bad(name, "a non-negative integer", v))
}

fn as_f64(name: &str, v: &Value) -> Result<f64, String> {
    let x = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    x.filter(|x| x.is_finite())
        .ok_or_else(|| bad(name, "a number", v))
}

fn as_str<'v>(name: &str, v: &'v Value) -> Result<&'v str, String> {
    v.as_str().ok_or_else(|| bad(name, "a string", v))
}

fn as_list(name: &str, v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()),
        Value::Array(a) => a
            .iter()
            .map(|x| as_str(name, x).map(str::to_string))
            .collect(),
        _ => Err(bad(name, "a string or a list of strings", v)),
    }
}

/// `<min>:<max>` (`--cores-total`, `--memory-total`).
fn as_min_max(name: &str, v: &Value) -> Result<(i64, i64), String> {
    let s = as_str(name, v)?;
    let parsed = s
        .split_once(':')
        .and_then(|(a, b)| Some((a.trim().parse::<i64>().ok()?, b.trim().parse::<i64>().ok()?)));
    match parsed {
        Some((lo, hi)) if 0 <= lo && lo <= hi => Ok((lo, hi)),
        _ => Err(bad(name, "<min>:<max> with 0 ≤ min ≤ max", v)),
    }
}

fn as_ratio(name: &str, v: &Value) -> Result<f64, String> {
    let x = as_f64(name, v)?;
    if x < 0.0 {
        return Err(bad(name, "a non-negative number", v));
    }
    Ok(x)
}

impl Flags {
    /// Parse `spec.clusterAutoscaler.flags`: real flag names (a leading `--` is allowed), an
    /// unknown flag is an error naming it.
    pub fn parse(map: &BTreeMap<String, Value>) -> Result<Flags, ConfigError> {
        let mut f = Flags::default();
        for (raw, v) in map {
            f.set(raw, v).map_err(|message| {
                ConfigError::new(format!("spec.clusterAutoscaler.flags.{raw}"), message)
            })?;
        }
        f.scale_down.expendable_priority_cutoff = f.expendable_pods_priority_cutoff;
        f.scale_down.scan_interval_ms = f.scan_interval_ms;
        Ok(f)
    }

    /// One flag, by its name as written (`--` allowed).
    fn set(&mut self, raw: &str, v: &Value) -> Result<(), String> {
        let f = self;
        {
            let name = raw.trim_start_matches('-');
            let n = name;
            let sd = &mut f.scale_down;
            match name {
                "scan-interval" => {
                    f.scan_interval_ms = as_duration(n, v)?;
                    if f.scan_interval_ms == 0 {
                        return Err(bad(n, "a positive duration", v));
                    }
                }
                "frequent-loops-enabled" => f.frequent_loops = as_bool(n, v)?,
                "new-pod-scale-up-delay" => f.new_pod_scale_up_delay_ms = as_duration(n, v)?,
                "expendable-pods-priority-cutoff" => {
                    f.expendable_pods_priority_cutoff =
                        i32::try_from(as_i64(n, v)?).map_err(|_| bad(n, "a 32-bit integer", v))?;
                }
                "estimator" => {
                    if as_str(n, v)? != "binpacking" {
                        return Err(bad(n, "binpacking (the only estimator)", v));
                    }
                }
                "expander" => f.expander = as_str(n, v)?.to_string(),
                "max-nodes-per-scaleup" => f.max_nodes_per_scaleup = as_u32(n, v)?,
                "fastpath-binpacking-enabled" => f.fastpath_binpacking = as_bool(n, v)?,
                "balance-similar-node-groups" => f.balance_similar_node_groups = as_bool(n, v)?,
                "memory-difference-ratio" => f.similarity.memory_difference_ratio = as_ratio(n, v)?,
                "max-allocatable-difference-ratio" => {
                    f.similarity.max_allocatable_difference_ratio = as_ratio(n, v)?
                }
                "max-free-difference-ratio" => {
                    f.similarity.max_free_difference_ratio = as_ratio(n, v)?
                }
                "balancing-ignore-label" => f.similarity.ignore_labels = as_list(n, v)?,
                "balancing-label" => f.similarity.only_labels = as_list(n, v)?,
                "max-nodes-total" => f.max_nodes_total = as_u32(n, v)?,
                "cores-total" => f.cores_total = as_min_max(n, v)?,
                "memory-total" => f.memory_total = as_min_max(n, v)?,
                "gpu-total" => {
                    // `<gpu_type>:<min>:<max>`, repeatable; limits are summed over types.
                    let mut total: Option<(i64, i64)> = None;
                    for item in as_list(n, v)? {
                        let parts: Vec<&str> = item.split(':').collect();
                        let nums = match parts.as_slice() {
                            [_, lo, hi] => lo.parse::<i64>().ok().zip(hi.parse::<i64>().ok()),
                            _ => None,
                        };
                        let Some((lo, hi)) = nums.filter(|(lo, hi)| 0 <= *lo && lo <= hi) else {
                            return Err(bad(n, "<gpu_type>:<min>:<max>", v));
                        };
                        let (a, b) = total.unwrap_or((0, 0));
                        total = Some((a + lo, b + hi));
                    }
                    f.gpu_total = total;
                }
                "max-node-provision-time" => f.max_node_provision_ms = as_duration(n, v)?,
                "max-node-startup-time" => f.max_node_startup_ms = as_duration(n, v)?,
                "initial-node-group-backoff-duration" => f.backoff.initial_ms = as_duration(n, v)?,
                "max-node-group-backoff-duration" => f.backoff.max_ms = as_duration(n, v)?,
                "node-group-backoff-reset-timeout" => f.backoff.reset_ms = as_duration(n, v)?,
                "scale-up-from-zero" => f.scale_up_from_zero = as_bool(n, v)?,
                "enforce-node-group-min-size" => f.enforce_node_group_min_size = as_bool(n, v)?,
                "salvo-scale-up" => f.salvo_scale_up = as_bool(n, v)?,
                "max-total-unready-percentage" => f.max_total_unready_percentage = as_ratio(n, v)?,
                "ok-total-unready-count" => f.ok_total_unready_count = as_u32(n, v)?,
                "scale-down-enabled" => f.scale_down_enabled = as_bool(n, v)?,
                "scale-down-unneeded-time" => sd.unneeded_ms = as_duration(n, v)?,
                "scale-down-unready-enabled" => sd.unready_enabled = as_bool(n, v)?,
                "scale-down-unready-time" => sd.unready_ms = as_duration(n, v)?,
                "scale-down-delay-after-add" => f.delay_after_add_ms = as_duration(n, v)?,
                "scale-down-delay-after-delete" => f.delay_after_delete_ms = as_duration(n, v)?,
                "scale-down-delay-after-failure" => f.delay_after_failure_ms = as_duration(n, v)?,
                "scale-down-delay-type-local" => f.delay_type_local = as_bool(n, v)?,
                "scale-down-utilization-threshold" => sd.utilization_threshold = as_ratio(n, v)?,
                "scale-down-gpu-utilization-threshold" => {
                    sd.gpu_utilization_threshold = as_ratio(n, v)?
                }
                "ignore-daemonsets-utilization" => {
                    sd.ignore_daemonsets_utilization = as_bool(n, v)?
                }
                "ignore-mirror-pods-utilization" => {
                    sd.ignore_mirror_pods_utilization = as_bool(n, v)?
                }
                "unremovable-node-recheck-timeout" => {
                    sd.unremovable_recheck_ms = as_duration(n, v)?
                }
                "max-scale-down-parallelism" => sd.max_scale_down_parallelism = as_u32(n, v)?,
                "max-drain-parallelism" => sd.max_drain_parallelism = as_u32(n, v)?,
                "max-empty-bulk-delete" => sd.max_empty_bulk_delete = Some(as_u32(n, v)?),
                "max-graceful-termination-sec" => {
                    f.max_graceful_termination_ms = u64::from(as_u32(n, v)?) * 1000
                }
                "max-pod-eviction-time" => f.max_pod_eviction_ms = as_duration(n, v)?,
                "node-delete-delay-after-taint" => {
                    f.node_delete_delay_after_taint_ms = as_duration(n, v)?
                }
                "skip-nodes-with-system-pods" => sd.skip_nodes_with_system_pods = as_bool(n, v)?,
                "blocking-system-pod-distruption-timeout" => {
                    sd.blocking_system_pod_ms = as_duration(n, v)?
                }
                "skip-nodes-with-local-storage" => {
                    sd.skip_nodes_with_local_storage = as_bool(n, v)?
                }
                "skip-nodes-with-custom-controller-pods" => {
                    sd.skip_nodes_with_custom_controller_pods = as_bool(n, v)?
                }
                "min-replica-count" => sd.min_replica_count = as_u32(n, v)?,
                "cordon-node-before-terminating" => {
                    f.cordon_node_before_terminating = as_bool(n, v)?
                }
                "max-bulk-soft-taint-count" => f.max_bulk_soft_taint_count = as_u32(n, v)?,
                "node-info-cache-expire-time" => f.node_info_cache_expire_ms = as_duration(n, v)?,
                "cloud-provider" => {
                    if as_str(n, v)? != "aws" {
                        return Err(bad(n, "aws (the simulator models the AWS provider)", v));
                    }
                }
                "sim-loop-duration" => f.loop_duration_ms = Some(as_duration(n, v)?),
                "sim-priority-expander-config" => {
                    let Value::Object(m) = v else {
                        return Err(bad(n, "a map of priority → list of node-group regexes", v));
                    };
                    for (k, list) in m {
                        let p: i32 = k
                            .trim()
                            .parse()
                            .map_err(|_| format!("priority {k:?} is not an integer"))?;
                        f.priority_config.insert(p, as_list(n, list)?);
                    }
                }
                other => match INERT_FLAGS.iter().find(|(k, _)| *k == other) {
                    Some((_, kind)) => {
                        match kind {
                            Kind::Duration => as_duration(n, v).map(drop),
                            Kind::Bool => as_bool(n, v).map(drop),
                            Kind::Int => as_i64(n, v).map(drop),
                            Kind::Float => as_f64(n, v).map(drop),
                            Kind::Str => as_str(n, v).map(drop),
                        }?;
                    }
                    None => {
                        return Err(format!(
                            "unknown flag {raw:?} (not a cluster-autoscaler 1.36 flag the simulator knows; see docs/scenario.md)"
                        ));
                    }
                },
            }
        }
        Ok(())
    }
}
