//! How big a run the scenario asks for, estimated before anything runs, against limits.
//!
//! Why: `check` runs in CI on scenarios people edit in pull requests, and a typo
//! (`replicas: 2000000000`, `count: 100000000`, `ratePerHour: 1e15`) must get a located error
//! in a second, not take the machine's memory or hang it. The estimates are upper bounds built
//! from what the files say — replicas, static nodes, generator rates, trace rows, the duration —
//! without simulating; they are meant to catch the order of magnitude, and each limit can be
//! raised (`--max-pods`, `--max-nodes`, `--max-events`) for a genuinely huge cluster.
//! docs/scenario.md ("Size limits") documents them.

use super::Doc;
use crate::load::{LoadError, Manifest, Source};
use crate::scenario::DurationDist;
use crate::{Action, GeneratorDef, HpaDef, NodeDef, TimedAction, TraceDef, Workload, WorkloadKind};

/// The largest run a command accepts without being told otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Pods that exist at one time.
    pub pods: u64,
    /// Nodes the files create themselves (static nodes, Node manifests, node groups' minimum).
    pub nodes: u64,
    /// Events over the whole run.
    pub events: u64,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        pods: 2_000_000,
        nodes: 100_000,
        events: 50_000_000,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A run's estimated size.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Estimate {
    /// Pods that can exist at one time (an upper bound).
    pub peak_pods: f64,
    /// Pods created over the run.
    pub pods_created: f64,
    /// Nodes the files create (the autoscalers add more, bounded by the pods).
    pub nodes: f64,
    /// Events over the run: a few per pod created, the timeline, the controllers' periodic
    /// loops.
    pub events: f64,
    pub duration_ms: u64,
}

impl Estimate {
    pub fn events_per_hour(&self) -> f64 {
        self.events / (self.duration_ms.max(1) as f64 / 3_600_000.0)
    }
}

/// Events a pod costs the engine, an upper bound measured on the shipped scenarios
/// (`events` in run-meta.json over pods created, up to ~4 with restarts and evictions):
/// arrival, scheduling, start, end, and its share of the passes these trigger.
const EVENTS_PER_POD: f64 = 6.0;
/// Every periodic loop (Karpenter's disruption and batch windows, cluster-autoscaler's scan,
/// the recorder's samples) ticks at most every 10 s; a few of them run.
const PERIODIC_LOOPS: f64 = 4.0;
const PERIODIC_MS: f64 = 10_000.0;

/// Where a share of the estimate comes from: the field to name in an error.
enum Blame<'a> {
    /// A field of the Scenario document.
    Spec(String),
    /// `field` of the manifest at `source`, shown as `KIND/NAME: field`.
    Manifest {
        source: &'a Source,
        object: String,
        field: &'static str,
    },
}

struct Share<'a> {
    blame: Blame<'a>,
    peak_pods: f64,
    pods_created: f64,
    nodes: f64,
}

impl<'a> Share<'a> {
    fn new(blame: Blame<'a>) -> Self {
        Share {
            blame,
            peak_pods: 0.0,
            pods_created: 0.0,
            nodes: 0.0,
        }
    }
}

/// Everything validated that the estimate reads.
pub(super) struct Inputs<'a> {
    pub duration_ms: u64,
    pub workloads: &'a [Workload],
    pub nodes: &'a [NodeDef],
    pub timeline: &'a [TimedAction],
    pub generators: &'a [GeneratorDef],
    pub traces: &'a [TraceDef],
    pub hpas: &'a [HpaDef],
    pub hpa_sync_ms: u64,
    pub node_group_min: &'a [(String, u32)],
    /// Every manifest, to find the line of a field in one.
    pub manifests: &'a [Manifest],
}

/// The estimate, and the shares that make it up.
fn shares<'a>(d: &Doc<'_>, i: &Inputs<'a>) -> (Estimate, Vec<Share<'a>>) {
    let mut shares = Vec::new();

    // Static nodes and Node manifests exist from time zero, with a DaemonSet pod each.
    let daemonsets = i
        .workloads
        .iter()
        .filter(|w| w.kind == WorkloadKind::DaemonSet)
        .count() as f64;
    for (k, s) in d.spec.static_nodes.iter().enumerate() {
        let mut sh = Share::new(Blame::Spec(format!("spec.staticNodes[{k}].count")));
        sh.nodes = f64::from(s.count);
        sh.peak_pods = sh.nodes * daemonsets;
        sh.pods_created = sh.peak_pods;
        shares.push(sh);
    }
    if !i.nodes.is_empty() {
        let mut sh = Share::new(Blame::Spec("Node manifests".into()));
        sh.nodes = i.nodes.len() as f64;
        sh.peak_pods = sh.nodes * daemonsets;
        shares.push(sh);
    }
    for (name, min) in i.node_group_min {
        let mut sh = Share::new(Blame::Spec(format!(
            "spec.clusterAutoscaler.nodeGroups[name={name}].minSize"
        )));
        sh.nodes = f64::from(*min);
        sh.peak_pods = sh.nodes * daemonsets;
        shares.push(sh);
    }

    // Workloads: the most replicas any source asks for (manifest, timeline, HPA), times the
    // copies the timeline applies.
    for (idx, w) in i.workloads.iter().enumerate() {
        let mut copies: f64 = if w.at_start { 1.0 } else { 0.0 };
        let mut most: u32 = 0;
        for a in i.timeline {
            match a.action {
                Action::Apply { workload, .. } if workload == idx => copies += 1.0,
                Action::Scale { workload, replicas } if workload == idx => {
                    most = most.max(replicas);
                }
                _ => {}
            }
        }
        let copies = copies.max(1.0);
        let manifest = |field: &'static str| Blame::Manifest {
            source: &w.source,
            object: format!("{}/{}", w.kind.as_str(), w.name),
            field,
        };
        let timeline = || Blame::Spec(format!("spec.timeline (scale steps of {})", w.name));
        let (peak, created, blame) = match w.kind {
            WorkloadKind::Deployment { replicas } | WorkloadKind::StatefulSet { replicas } => {
                let hpa = i
                    .hpas
                    .iter()
                    .filter(|h| h.workload == idx)
                    .max_by_key(|h| h.controller.max_replicas);
                let hpa_max = hpa.map_or(0, |h| h.controller.max_replicas);
                let n = replicas.max(most).max(hpa_max);
                let blame = match hpa {
                    _ if n == replicas => manifest("spec.replicas"),
                    Some(h) if n == hpa_max => Blame::Manifest {
                        source: &h.source,
                        object: format!("HorizontalPodAutoscaler/{}", h.name),
                        field: "spec.maxReplicas",
                    },
                    _ => timeline(),
                };
                (f64::from(n), f64::from(n), blame)
            }
            WorkloadKind::Job {
                completions,
                parallelism,
            } => {
                let par = parallelism.max(most).min(completions.max(1));
                let blame = if most > parallelism && par == most {
                    timeline()
                } else if completions >= parallelism {
                    manifest("spec.completions")
                } else {
                    manifest("spec.parallelism")
                };
                (f64::from(par), f64::from(completions), blame)
            }
            WorkloadKind::Pod => (1.0, 1.0, manifest("spec")),
            // One per node: counted with the nodes above.
            WorkloadKind::DaemonSet => continue,
        };
        let mut sh = Share::new(blame);
        sh.peak_pods = peak * copies;
        sh.pods_created = created * copies;
        shares.push(sh);
    }

    // Poisson generators: rate × window pods; at one time, rate × how long each runs
    // (Little's law), or every arrival if they never end.
    for (k, g) in i.generators.iter().enumerate() {
        let window = g.until_ms.saturating_sub(g.from_ms) as f64;
        let created = g.rate_per_ms * window;
        let mean_run = g
            .duration
            .as_ref()
            .map_or(window, |dd| mean_ms(dd).min(window));
        let mut sh = Share::new(Blame::Spec(format!(
            "spec.generators[{k}].poisson.ratePerHour"
        )));
        sh.pods_created = created;
        sh.peak_pods = (g.rate_per_ms * mean_run).min(created).max(1.0);
        shares.push(sh);
    }

    // Traces: every row is a pod; at one time, the most rows running together.
    for (k, t) in i.traces.iter().enumerate() {
        let mut sh = Share::new(Blame::Spec(format!("spec.traces[{k}].path")));
        sh.pods_created = t.jobs.len() as f64;
        sh.peak_pods = trace_concurrency(t, i.duration_ms) as f64;
        shares.push(sh);
    }

    let sum = |f: fn(&Share<'_>) -> f64| shares.iter().map(f).sum::<f64>();
    let duration = i.duration_ms as f64;
    let periodic = PERIODIC_LOOPS * duration / PERIODIC_MS
        + i.hpas.len() as f64 * duration / i.hpa_sync_ms.max(1) as f64;
    let pods_created = sum(|s| s.pods_created);
    let est = Estimate {
        peak_pods: sum(|s| s.peak_pods),
        pods_created,
        nodes: sum(|s| s.nodes),
        events: EVENTS_PER_POD * pods_created + i.timeline.len() as f64 + periodic,
        duration_ms: i.duration_ms,
    };
    (est, shares)
}

/// The mean of a run-time distribution, in ms.
fn mean_ms(d: &DurationDist) -> f64 {
    match d {
        DurationDist::Constant(c) => c.0 as f64,
        DurationDist::Exponential { mean } => mean.0 as f64,
        DurationDist::Lognormal { median, sigma } => {
            median.0 as f64 * asim_core::math::exp(sigma * sigma / 2.0)
        }
    }
}

/// The most rows of a trace running at one time (a row without a duration runs to the end).
fn trace_concurrency(t: &TraceDef, end_ms: u64) -> usize {
    let mut edges: Vec<(u64, i8)> = Vec::with_capacity(t.jobs.len() * 2);
    for j in &t.jobs {
        edges.push((j.arrival_ms, 1));
        let stop = j
            .duration_ms
            .map_or(end_ms, |d| j.arrival_ms.saturating_add(d));
        edges.push((stop, -1));
    }
    // Ends before starts at the same instant: a pod that ends as another arrives is not
    // counted twice.
    edges.sort_unstable();
    let (mut now, mut most) = (0i64, 0i64);
    for (_, e) in edges {
        now += i64::from(e);
        most = most.max(now);
    }
    most as usize
}

/// The estimate, or the located error of the first limit it is over.
pub(super) fn check(d: &Doc<'_>, i: &Inputs<'_>, limits: &Limits) -> Result<Estimate, LoadError> {
    let (est, shares) = shares(d, i);
    let over = |what: &str, estimate: f64, limit: u64, flag: &str, key: fn(&Share<'_>) -> f64| {
        let top = shares
            .iter()
            .max_by(|a, b| key(a).total_cmp(&key(b)))
            .filter(|s| key(s) > 0.0);
        let msg = format!(
            "the scenario would run about {} {what} (estimate; the limit is {}); \
             raise it with {flag} if this is meant",
            count(estimate),
            count(limit as f64),
        );
        match top.map(|s| &s.blame) {
            Some(Blame::Manifest {
                source,
                object,
                field,
            }) => {
                // The field's own line, from the manifest's text.
                let line = i
                    .manifests
                    .iter()
                    .find(|m| m.source == **source)
                    .map_or(source.line, |m| {
                        crate::load::field_line(source.line, &m.text, field)
                    });
                LoadError::new(
                    &source.file,
                    Some(line),
                    Some(&format!("{object}: {field}")),
                    msg,
                )
            }
            Some(Blame::Spec(field)) => d.err(field, msg),
            None => d.err("spec.duration", msg),
        }
    };
    // Nodes first: a huge node count also means huge DaemonSet pod counts, and the nodes are
    // what the user wrote.
    if est.nodes > limits.nodes as f64 {
        return Err(over("nodes", est.nodes, limits.nodes, "--max-nodes", |s| {
            s.nodes
        }));
    }
    if est.peak_pods > limits.pods as f64 {
        return Err(over(
            "pods at once",
            est.peak_pods,
            limits.pods,
            "--max-pods",
            |s| s.peak_pods,
        ));
    }
    if est.events > limits.events as f64 {
        // The pods dominate unless the duration alone does (a run of years).
        let pods_events = EVENTS_PER_POD * est.pods_created;
        if pods_events * 2.0 >= est.events {
            return Err(over(
                "events",
                est.events,
                limits.events,
                "--max-events",
                |s| s.pods_created,
            ));
        }
        return Err(d.err(
            "spec.duration",
            format!(
                "the scenario would run about {} events (estimate; the limit is {}), most of \
                 them the controllers' periodic loops over so long a duration; raise it with \
                 --max-events if this is meant",
                count(est.events),
                count(limits.events as f64)
            ),
        ));
    }
    Ok(est)
}

/// `2,000,000`, or `1.0e15` when the figure is too large to read digit by digit.
pub fn count(x: f64) -> String {
    if !x.is_finite() || x >= 1e15 {
        return format!("{x:.1e}");
    }
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (k, ch) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_people_write_them() {
        assert_eq!(count(0.0), "0");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(2_000_000.0), "2,000,000");
        assert_eq!(count(1234567.4), "1,234,567");
        assert_eq!(count(1e15), "1.0e15");
    }
}
