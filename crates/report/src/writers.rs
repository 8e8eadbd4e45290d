//! Writers for `report.json`, `report.md`, `report.html`, `timeseries.csv`, `pods.csv`, `nodes.csv` and
//! `run-meta.json`. Everything is written to a temporary directory first and renamed into
//! place, so a failed run never leaves half-written outputs.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

use serde::Serialize;

use crate::{NodeRecord, Report, Sample};
use asim_cluster::Cluster;
use asim_cluster::autoscaler::DecisionLines;

/// Wall-clock facts about a run: never in `report.json` (docs/design.md §10).
#[derive(Clone, Debug, Serialize)]
pub struct RunMeta {
    pub scenario: String,
    pub autoscaler: String,
    pub seed: u64,
    pub wall_seconds: f64,
    pub simulated_seconds: f64,
    pub speedup: f64,
    pub events: u64,
    pub version: String,
    /// The scenario's accepted-but-not-simulated fields (docs/scenario.md).
    pub warnings: Vec<String>,
    /// A partial run: stopped (`run --max-wall`) at this simulated second instead of the
    /// scenario's end; every output covers the time up to it. Absent for a whole run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at_seconds: Option<f64>,
}

fn secs(t: Option<asim_core::engine::SimTime>) -> String {
    t.map(|t| format!("{:.3}", t.as_secs_f64()))
        .unwrap_or_default()
}

pub fn report_md(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## {} — {} (seed {})\n",
        r.scenario, r.autoscaler, r.seed
    );
    let _ = writeln!(
        s,
        "Simulated {}.\n",
        asim_core::k8s::duration::format_duration(r.duration_s * 1000)
    );
    let _ = writeln!(s, "| metric | value |\n|---|---|");
    let p = &r.pods;
    let _ = writeln!(
        s,
        "| pods created / scheduled | {} / {} |",
        p.created, p.scheduled
    );
    let _ = writeln!(
        s,
        "| pods unschedulable / not started at end | {} / {} |",
        p.unschedulable_at_end, p.not_started_at_end
    );
    let _ = writeln!(s, "| pods evicted | {} |", p.evicted);
    let _ = writeln!(
        s,
        "| scheduling latency p50 / p90 / p99 / max | {:.1} s / {:.1} s / {:.1} s / {:.1} s |",
        p.scheduling_latency_s.p50,
        p.scheduling_latency_s.p90,
        p.scheduling_latency_s.p99,
        p.scheduling_latency_s.max
    );
    let _ = writeln!(
        s,
        "| startup latency p50 / p90 / p99 / max | {:.1} s / {:.1} s / {:.1} s / {:.1} s |",
        p.startup_latency_s.p50,
        p.startup_latency_s.p90,
        p.startup_latency_s.p99,
        p.startup_latency_s.max
    );
    if p.startup_latency_s.censored > 0 {
        let _ = writeln!(
            s,
            "| of which never started (counted until the end) | {} |",
            p.startup_latency_s.censored
        );
    }
    let n = &r.nodes;
    let _ = writeln!(
        s,
        "| nodes launched / terminated / peak | {} / {} / {} |",
        n.launched, n.terminated, n.peak
    );
    if n.static_nodes > 0 {
        let _ = writeln!(s, "| static nodes | {} |", n.static_nodes);
    }
    let _ = writeln!(s, "| node-hours | {:.2} |", n.node_hours);
    let _ = writeln!(
        s,
        "| cost (total / on-demand / spot) | ${:.2} / ${:.2} / ${:.2} |",
        r.cost.total_usd, r.cost.on_demand_usd, r.cost.spot_usd
    );
    let _ = writeln!(
        s,
        "| cost per requested vCPU-hour | ${:.4} |",
        r.cost.per_requested_vcpu_hour
    );
    let u = &r.utilization;
    let _ = writeln!(
        s,
        "| utilization (cpu / memory; DaemonSets cpu / memory) | {:.1} % / {:.1} %; {:.1} % / {:.1} % |",
        u.cpu * 100.0,
        u.memory * 100.0,
        u.daemonset_cpu * 100.0,
        u.daemonset_memory * 100.0
    );
    let d = &r.disruption;
    let nr = &d.nodes_removed;
    let _ = writeln!(
        s,
        "| nodes removed (underutilized / empty / drifted / expired / interrupted / other) | {} / {} / {} / {} / {} / {} |",
        nr.underutilized, nr.empty, nr.drifted, nr.expired, nr.interrupted, nr.other
    );
    let pd = &d.pods_disrupted;
    let _ = writeln!(
        s,
        "| pods disrupted (evicted / reclaimed / deleted with node) | {} ({} / {} / {}) |",
        pd.total, pd.evicted, pd.reclaimed, pd.deleted_with_node
    );
    let _ = writeln!(
        s,
        "| spot interruption warnings · pods re-created | {} · {} |",
        d.spot_interruptions, d.recreated_pods
    );
    let _ = writeln!(
        s,
        "| node churn (launches / terminations per hour) | {:.2} / {:.2} |",
        d.churn.launches_per_hour, d.churn.terminations_per_hour
    );
    if !n.by_instance_type.is_empty() {
        let _ = writeln!(
            s,
            "\n**Instance types launched:** {}",
            n.by_instance_type
                .iter()
                .map(|(k, v)| format!("{k} × {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !p.never_scheduled.is_empty() {
        let _ = writeln!(
            s,
            "\n### Pods never scheduled\n\n| pod | reason |\n|---|---|"
        );
        for ns in p.never_scheduled.iter().take(50) {
            let _ = writeln!(s, "| {} | {} |", ns.pod, ns.reason.replace('|', "\\|"));
        }
        if p.never_scheduled.len() > 50 {
            let _ = writeln!(
                s,
                "\n…and {} more (see pods.csv).",
                p.never_scheduled.len() - 50
            );
        }
    }
    s
}

fn timeseries_csv(samples: &[Sample]) -> String {
    let mut s = String::from(
        "t_s,nodes,nodes_ready,nodes_spot,pending_pods,running_pods,cost_rate_usd_per_hour,cost_usd,cpu_utilization,memory_utilization\n",
    );
    for x in samples {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{:.4},{:.4},{:.4},{:.4}",
            x.t_s,
            x.nodes,
            x.nodes_ready,
            x.nodes_spot,
            x.pending_pods,
            x.running_pods,
            x.cost_rate_usd_per_hour,
            x.cost_usd,
            x.cpu_utilization,
            x.memory_utilization
        );
    }
    s
}

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// `pods.csv`, written row by row to `out`: a replay of hundreds of thousands of pods makes
/// a file of tens of megabytes, which need not be held in memory beside the run.
fn write_pods_csv(out: &mut impl io::Write, cluster: &Cluster) -> io::Result<()> {
    out.write_all(
        b"pod,namespace,owner,created_s,unschedulable_s,bound_s,running_s,ended_s,phase,node,cpu_m,memory_mib,replaces_evicted,reason\n",
    )?;
    for p in &cluster.pods {
        let node = p
            .node
            .and_then(|n| cluster.node_name(n))
            .unwrap_or_default();
        let reason: &str = if p.bound_at.is_none() {
            p.unschedulable_reason.as_deref().unwrap_or_default()
        } else {
            ""
        };
        writeln!(
            out,
            "{},{},{},{:.3},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&p.name),
            csv_field(p.namespace()),
            p.owner.as_str(),
            p.created_at.as_secs_f64(),
            secs(p.unschedulable_since),
            secs(p.bound_at),
            secs(p.running_at),
            secs(p.ended_at),
            p.phase.as_str(),
            csv_field(node),
            p.template.requests.cpu_m,
            p.template.requests.memory / (1 << 20),
            p.replaces_evicted,
            csv_field(reason)
        )?;
    }
    Ok(())
}

fn nodes_csv(nodes: &[NodeRecord]) -> String {
    let mut s = String::from(
        "node,instance_type,zone,capacity_type,owner,price_usd_per_hour,launched_s,registered_s,ready_s,terminated_s,termination_reason\n",
    );
    for n in nodes {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{:.6},{:.3},{},{},{},{}",
            csv_field(&n.name),
            n.instance_type,
            n.zone,
            n.capacity_type,
            csv_field(&n.owner),
            n.price_per_hour,
            n.launched_at.as_secs_f64(),
            secs(n.registered_at),
            secs(n.ready_at),
            secs(n.terminated_at),
            n.termination_reason.clone().unwrap_or_default()
        );
    }
    s
}

/// `report.json` text: pretty, stable key order, trailing newline.
pub fn report_json(r: &Report) -> String {
    let mut s =
        serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// Write every output into `out`, replacing the directory as a whole ([`crate::output`]): a
/// failed write leaves the earlier set, and the outputs of an earlier run that this one does
/// not write are removed.
pub fn write_outputs(
    out: &Path,
    report: &Report,
    meta: &RunMeta,
    samples: &[Sample],
    nodes: &[NodeRecord],
    cluster: &Cluster,
) -> io::Result<()> {
    let view = super::view::RunView::new(&report.autoscaler, report, samples, nodes, cluster);
    write_files(
        out,
        report,
        meta,
        &view,
        samples,
        nodes,
        cluster,
        &DecisionLines::new(),
    )
}

/// The digest of a run's `decisions.jsonl` that baselines keep (`reports/<scenario>/<autoscaler>/
/// decisions.digest`): its line count and a 64-bit FNV-1a hash of its bytes, as one line. The
/// decision log is too large to keep beside every baseline, but it is where a change of
/// behaviour — or a cache that returns a stale answer — shows first, so the golden test compares
/// it byte for byte through this digest.
pub fn decisions_digest(decisions: &DecisionLines) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    // Every line followed by its `\n`, as in the file.
    for bytes in decisions.bytes() {
        feed(bytes);
    }
    format!("lines {} fnv1a64 {hash:016x}\n", decisions.len())
}

/// Every output of one run: [`write_outputs`] plus the autoscaler's `decisions.jsonl`, with
/// the timeline steps already on `view`.
#[allow(clippy::too_many_arguments)]
pub fn write_files(
    out: &Path,
    report: &Report,
    meta: &RunMeta,
    view: &super::view::RunView,
    samples: &[Sample],
    nodes: &[NodeRecord],
    cluster: &Cluster,
    decisions: &DecisionLines,
) -> io::Result<()> {
    let files: Vec<(&str, String)> = vec![
        ("report.json", report_json(report)),
        ("report.md", report_md(report)),
        ("report.html", super::html::report_html(view)),
        ("timeseries.csv", timeseries_csv(samples)),
        ("nodes.csv", nodes_csv(nodes)),
        (
            "run-meta.json",
            serde_json::to_string_pretty(meta).unwrap_or_default() + "\n",
        ),
    ];
    let staged = crate::output::StagedDir::new(out)?;
    for (name, text) in &files {
        fs::write(staged.path().join(name), text)?;
    }
    {
        let file = fs::File::create(staged.path().join("pods.csv"))?;
        let mut w = io::BufWriter::new(file);
        write_pods_csv(&mut w, cluster)?;
        w.flush()?;
    }
    if !decisions.is_empty() {
        // Chunk by chunk: a long replay's log runs to hundreds of megabytes, and joining it
        // into one string would hold it twice.
        let file = fs::File::create(staged.path().join("decisions.jsonl"))?;
        let mut w = io::BufWriter::new(file);
        for bytes in decisions.bytes() {
            w.write_all(bytes)?;
        }
        w.flush()?;
    }
    // An output an earlier run wrote and this one does not (a `decisions.jsonl` of another
    // autoscaler) goes, so the directory never mixes two runs; other files are kept.
    staged.commit(|name, _| RUN_OUTPUTS.contains(&name))?;
    Ok(())
}

/// Every file a run may write into its `--out` directory.
pub const RUN_OUTPUTS: [&str; 8] = [
    "report.json",
    "report.md",
    "report.html",
    "timeseries.csv",
    "pods.csv",
    "nodes.csv",
    "run-meta.json",
    "decisions.jsonl",
];
