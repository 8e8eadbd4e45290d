//! `trace convert` (docs/design.md §11): a pod-level trace (openb, azure-vm, generic) read as a
//! scenario would read it, written as the generic CSV, with a scenario that replays it on
//! Karpenter. The Azure trace's draws (arrival within its bin, lifetime within its bin) are
//! made once, from the seed given, exactly as a scenario with that seed makes them
//! (`trace-0` stream): the CSV fixes them, so a variant can change the seed without changing
//! the workload.

use std::fmt::Write as _;
use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::traces::{TraceError, TraceFormat, TraceJob, TraceOptions, read_trace};

/// A converted trace: the generic CSV, the scenario that replays it, and what was done.
pub struct Converted {
    pub csv: String,
    pub scenario: String,
    pub jobs: usize,
    pub gpu_jobs: usize,
    pub duration_ms: u64,
}

/// Read `path` in `format` (`seed` for the Azure draws) and convert it.
pub fn convert(
    path: &Path,
    format: TraceFormat,
    opts: &TraceOptions,
    seed: u64,
    name: &str,
) -> Result<Converted, TraceError> {
    if format == TraceFormat::Replicas {
        return Err(TraceError::InvalidOption {
            option: "format",
            message: "a `replicas` trace holds replica counts, not pods: use `import history`"
                .into(),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(asim_core::engine::derive_seed(seed, "trace-0"));
    let jobs = read_trace(path, format, opts, &mut rng)?;
    let csv = generic_csv(&jobs);
    // Long enough for the last arrival and the longest run, rounded up to the hour.
    let end = jobs
        .iter()
        .map(|j| j.arrival_ms + j.duration_ms.unwrap_or(0))
        .max()
        .unwrap_or(0)
        .max(1);
    let duration_ms = end.div_ceil(3_600_000) * 3_600_000;
    let gpu_jobs = jobs.iter().filter(|j| j.gpu > 0).count();
    let scenario = scenario_yaml(name, format, duration_ms, seed);
    Ok(Converted {
        csv,
        scenario,
        jobs: jobs.len(),
        gpu_jobs,
        duration_ms,
    })
}

/// The generic format's columns, one row per job in arrival order. Times to the millisecond,
/// memory rounded up to whole MiB.
pub fn generic_csv(jobs: &[TraceJob]) -> String {
    let mut out = String::from("arrival_s,duration_s,cpu_m,memory_mib,gpu,priority,group\n");
    let secs = |ms: u64| {
        let s = format!("{}.{:03}", ms / 1000, ms % 1000);
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    for j in jobs {
        let group = j.group.as_deref().unwrap_or("");
        let group = if group.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", group.replace('"', "\"\""))
        } else {
            group.to_string()
        };
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            secs(j.arrival_ms),
            j.duration_ms.map(secs).unwrap_or_default(),
            j.cpu_m,
            (j.memory_bytes + (1 << 20) - 1) >> 20,
            j.gpu,
            j.priority.map(|p| p.to_string()).unwrap_or_default(),
            group
        );
    }
    out
}

fn scenario_yaml(name: &str, format: TraceFormat, duration_ms: u64, seed: u64) -> String {
    let scenario = json!({
        "apiVersion": crate::scenario::API_VERSION,
        "kind": "Scenario",
        "metadata": {"name": name},
        "spec": {
            "seed": seed,
            "duration": asim_core::k8s::duration::format_duration(duration_ms),
            "autoscaler": "karpenter",
            "traces": [{"path": "trace.csv", "format": "generic"}],
        },
    });
    let nodepool = json!({
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "default"},
        "spec": {
            "template": {"spec": {
                "requirements": [
                    {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                ],
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
            }},
            "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "1m"},
        },
    });
    let nodeclass = json!({
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": "default"},
        "spec": {
            "role": "KarpenterNodeRole",
            "amiSelectorTerms": [{"alias": "al2023@latest"}],
            "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "sim"}}],
            "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "sim"}}],
        },
    });
    format!(
        "# Written by `autoscale-sim trace convert --format {format}`: trace.csv holds the trace in\n\
         # the generic format (docs/scenario.md, traces), replayed on one on-demand NodePool.\n\
         # Change the NodePool, or compare it with cluster-autoscaler node groups, as for any\n\
         # scenario.\n{}---\n{}---\n{}",
        crate::yaml::to_yaml(&scenario),
        crate::yaml::to_yaml(&nodepool),
        crate::yaml::to_yaml(&nodeclass)
    )
}
