//! Property tests of the simulation's invariants (ARCHITECTURE.md "Invariants") over random
//! small scenarios: random static nodes (some spot, reclaimed at a high rate), Deployments with
//! scheduling constraints and priorities (so the binder preempts), Jobs, a Poisson generator, a DaemonSet, timeline steps, a PDB and
//! insufficient-capacity windows — under no autoscaler, Karpenter (one NodePool, consolidating
//! empty or underutilized nodes) or cluster-autoscaler (one node group), drawn per case. Each
//! scenario is written as YAML, loaded with `Scenario::load` and stepped event by event; the
//! invariants are checked after every step.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use autoscale_sim::cloud::{CapacityType, InstanceState, InstanceView};
use autoscale_sim::cluster::{NodeId, PodId, PodPhase};
use autoscale_sim::engine::SimTime;
use autoscale_sim::k8s::resources::Resources;
use autoscale_sim::run::make_autoscaler;
use autoscale_sim::sim::Simulation;
use autoscale_sim::workload::{AutoscalerKind, Scenario};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;

// ---- scenario generation --------------------------------------------------------------------

const TYPES: &[&str] = &["m5.large", "m5.xlarge", "c5.large", "r5.large", "t3.medium"];
const ZONES: &[&str] = &["us-east-1a", "us-east-1b", "us-east-1c"];

#[derive(Clone, Debug)]
struct NodeGroup {
    instance_type: &'static str,
    count: u32,
    spot: bool,
    /// `pool: a|b` label, which node selectors name.
    pool: Option<&'static str>,
    /// `dedicated=x:NoSchedule`.
    tainted: bool,
    zone: Option<usize>,
}

#[derive(Clone, Debug)]
struct Spread {
    max_skew: u32,
    zone_key: bool,
    hard: bool,
}

#[derive(Clone, Debug)]
struct Deploy {
    replicas: u32,
    cpu_m: u32,
    mem_mi: u32,
    pool: Option<&'static str>,
    tolerates: bool,
    host_port: bool,
    spread: Option<Spread>,
    anti_affinity: bool,
    grace_s: u32,
    /// `spec.priority` and whether `preemptionPolicy: Never` (preemption, docs/model/scheduler.md §2).
    priority: Option<(i32, bool)>,
}

#[derive(Clone, Debug)]
struct JobDef {
    completions: u32,
    parallelism: u32,
    cpu_m: u32,
    mem_mi: u32,
    run_min: u32,
    tolerates: bool,
    /// Applied by the timeline every this many minutes instead of existing at time zero.
    every_min: Option<u32>,
}

#[derive(Clone, Debug)]
enum Dist {
    Constant(u32),
    Exponential(u32),
    Lognormal(u32, f64),
}

#[derive(Clone, Debug)]
struct GenDef {
    rate_per_hour: u32,
    cpu_m: u32,
    mem_mi: u32,
    duration: Dist,
}

#[derive(Clone, Debug)]
enum StepKind {
    Scale(u32),
    Delete,
}

#[derive(Clone, Debug)]
struct Step {
    at_min: u32,
    deployment: usize,
    kind: StepKind,
}

#[derive(Clone, Debug)]
enum Interruptions {
    None,
    Advisor,
    PerHour(f64),
}

#[derive(Clone, Debug)]
struct Ice {
    types: Vec<&'static str>,
    spot_only: bool,
    from_min: u32,
    len_min: u32,
}

/// Which autoscaler drives the generated cluster, and how it is set up.
#[derive(Clone, Debug)]
enum Auto {
    None,
    /// One NodePool over `TYPES`: capacity types (None = unconstrained), and whether it
    /// consolidates underutilized nodes (else only empty ones).
    Karpenter {
        capacity_type: Option<&'static str>,
        underutilized: bool,
    },
    /// One node group of `TYPES[0..2]` up to `max` nodes.
    ClusterAutoscaler {
        spot: bool,
        max: u32,
    },
}

impl Auto {
    fn name(&self) -> &'static str {
        match self {
            Auto::None => "none",
            Auto::Karpenter { .. } => "karpenter",
            Auto::ClusterAutoscaler { .. } => "cluster-autoscaler",
        }
    }
}

fn auto() -> impl Strategy<Value = Auto> {
    prop_oneof![
        1 => Just(Auto::None),
        1 => (
            prop::option::of(select(&["spot", "on-demand"][..])),
            prop::bool::ANY,
        )
            .prop_map(|(capacity_type, underutilized)| Auto::Karpenter {
                capacity_type,
                underutilized,
            }),
        1 => (prop::bool::ANY, 1u32..=6)
            .prop_map(|(spot, max)| Auto::ClusterAutoscaler { spot, max }),
    ]
}

#[derive(Clone, Debug)]
struct Spec {
    autoscaler: Auto,
    seed: u64,
    duration_min: u32,
    nodes: Vec<NodeGroup>,
    deployments: Vec<Deploy>,
    jobs: Vec<JobDef>,
    generator: Option<GenDef>,
    daemonset: Option<(u32, u32)>,
    steps: Vec<Step>,
    /// (deployment index, minAvailable)
    pdb: Option<(usize, u32)>,
    interruptions: Interruptions,
    correlation: f64,
    ice: Vec<Ice>,
}

fn node_group() -> impl Strategy<Value = NodeGroup> {
    (
        select(TYPES),
        1u32..=3,
        prop::bool::weighted(0.4),
        prop::option::weighted(0.3, select(&["a", "b"][..])),
        prop::bool::weighted(0.2),
        prop::option::weighted(0.3, 0usize..ZONES.len()),
    )
        .prop_map(
            |(instance_type, count, spot, pool, tainted, zone)| NodeGroup {
                instance_type,
                count,
                spot,
                pool,
                tainted,
                zone,
            },
        )
}

fn deploy() -> impl Strategy<Value = Deploy> {
    let spread =
        (1u32..=2, any::<bool>(), any::<bool>()).prop_map(|(max_skew, zone_key, hard)| Spread {
            max_skew,
            zone_key,
            hard,
        });
    (
        (0u32..=30, 10u32..=2500, 16u32..=6000),
        prop::option::weighted(0.2, select(&["a", "b"][..])),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.2),
        prop::option::weighted(0.3, spread),
        prop::bool::weighted(0.2),
        0u32..=120,
        prop::option::weighted(
            0.4,
            (select(&[-10, 100, 1000][..]), prop::bool::weighted(0.2)),
        ),
    )
        .prop_map(
            |(
                (replicas, cpu_m, mem_mi),
                pool,
                tolerates,
                host_port,
                spread,
                anti,
                grace_s,
                priority,
            )| {
                Deploy {
                    replicas,
                    cpu_m,
                    mem_mi,
                    pool,
                    tolerates,
                    host_port,
                    spread,
                    anti_affinity: anti,
                    grace_s,
                    priority,
                }
            },
        )
}

fn job() -> impl Strategy<Value = JobDef> {
    (
        (1u32..=8, 1u32..=4),
        (50u32..=2000, 32u32..=4000),
        1u32..=40,
        prop::bool::weighted(0.3),
        prop::option::weighted(0.4, 10u32..=60),
    )
        .prop_map(
            |((completions, parallelism), (cpu_m, mem_mi), run_min, tolerates, every_min)| JobDef {
                completions,
                parallelism,
                cpu_m,
                mem_mi,
                run_min,
                tolerates,
                every_min,
            },
        )
}

fn generator() -> impl Strategy<Value = GenDef> {
    let dist = prop_oneof![
        (1u32..=20).prop_map(Dist::Constant),
        (1u32..=20).prop_map(Dist::Exponential),
        (1u32..=20, 0.0f64..1.5).prop_map(|(m, s)| Dist::Lognormal(m, s)),
    ];
    (1u32..=60, 50u32..=1500, 32u32..=2048, dist).prop_map(
        |(rate_per_hour, cpu_m, mem_mi, duration)| GenDef {
            rate_per_hour,
            cpu_m,
            mem_mi,
            duration,
        },
    )
}

fn step() -> impl Strategy<Value = Step> {
    (
        0u32..=120,
        0usize..3,
        prop_oneof![4 => (0u32..=30).prop_map(StepKind::Scale), 1 => Just(StepKind::Delete)],
    )
        .prop_map(|(at_min, deployment, kind)| Step {
            at_min,
            deployment,
            kind,
        })
}

fn ice() -> impl Strategy<Value = Ice> {
    (
        prop::collection::vec(select(TYPES), 0..=2),
        any::<bool>(),
        0u32..=60,
        1u32..=60,
    )
        .prop_map(|(types, spot_only, from_min, len_min)| Ice {
            types,
            spot_only,
            from_min,
            len_min,
        })
}

fn spec() -> impl Strategy<Value = Spec> {
    let interruptions = prop_oneof![
        1 => Just(Interruptions::None),
        1 => Just(Interruptions::Advisor),
        // High rates, so that spot instances are reclaimed within the scenario.
        4 => (0.2f64..6.0).prop_map(Interruptions::PerHour),
    ];
    (
        (any::<u64>(), 10u32..=120),
        prop::collection::vec(node_group(), 1..=4),
        prop::collection::vec(deploy(), 0..=2),
        prop::collection::vec(job(), 0..=2),
        prop::option::weighted(0.6, generator()),
        prop::option::weighted(0.4, (10u32..=300, 16u32..=512)),
        prop::collection::vec(step(), 0..=4),
        prop::option::weighted(0.4, (0usize..2, 0u32..=6)),
        (interruptions, 0.0f64..1.0),
        (prop::collection::vec(ice(), 0..=2), auto()),
    )
        .prop_map(
            |(
                (seed, duration_min),
                nodes,
                deployments,
                jobs,
                generator,
                daemonset,
                steps,
                pdb,
                (interruptions, correlation),
                (ice, autoscaler),
            )| Spec {
                autoscaler,
                seed,
                duration_min,
                nodes,
                deployments,
                jobs,
                generator,
                daemonset,
                steps,
                pdb,
                interruptions,
                correlation,
                ice,
            },
        )
}

fn resources(cpu_m: u32, mem_mi: u32) -> String {
    format!("resources: {{requests: {{cpu: {cpu_m}m, memory: {mem_mi}Mi}}}}")
}

const TOLERATION: &str =
    "tolerations: [{key: dedicated, operator: Equal, value: x, effect: NoSchedule}]";

/// The scenario file for `s`.
fn render(s: &Spec) -> String {
    let mut y = String::new();
    let w = &mut y;
    let _ = writeln!(
        w,
        "apiVersion: autoscale-sim/v1alpha1\nkind: Scenario\nmetadata: {{name: prop}}\nspec:"
    );
    let _ = writeln!(w, "  seed: {}\n  duration: {}m", s.seed, s.duration_min);
    let _ = writeln!(
        w,
        "  region: us-east-1\n  autoscaler: {}",
        s.autoscaler.name()
    );
    if let Auto::ClusterAutoscaler { spot, max } = s.autoscaler {
        let _ = writeln!(
            w,
            "  clusterAutoscaler:\n    nodeGroups:\n      - {{name: g1, instanceTypes: [{}, {}], capacityType: {}, zones: [{}, {}], maxSize: {max}}}",
            TYPES[0],
            TYPES[1],
            if spot { "spot" } else { "on-demand" },
            ZONES[0],
            ZONES[1],
        );
    }
    let _ = writeln!(w, "  cloud:\n    spot:");
    match s.interruptions {
        Interruptions::None => {
            let _ = writeln!(w, "      interruptions: none");
        }
        Interruptions::Advisor => {
            let _ = writeln!(w, "      interruptions: advisor");
        }
        Interruptions::PerHour(r) => {
            let _ = writeln!(w, "      interruptions: {{perHour: {r:.4}}}");
        }
    }
    let _ = writeln!(w, "      correlation: {:.3}", s.correlation);
    if !s.ice.is_empty() {
        let _ = writeln!(w, "    capacity:");
        for i in &s.ice {
            let _ = write!(
                w,
                "      - {{instanceTypes: [{}], from: {}m, until: {}m",
                i.types.join(", "),
                i.from_min,
                i.from_min + i.len_min
            );
            if i.spot_only {
                let _ = write!(w, ", capacityType: spot");
            }
            let _ = writeln!(w, "}}");
        }
    }
    let _ = writeln!(w, "  staticNodes:");
    for n in &s.nodes {
        let _ = write!(
            w,
            "    - {{instanceType: {}, count: {}, capacityType: {}",
            n.instance_type,
            n.count,
            if n.spot { "spot" } else { "on-demand" }
        );
        if let Some(z) = n.zone {
            let _ = write!(w, ", zone: {}", ZONES[z]);
        }
        if let Some(p) = n.pool {
            let _ = write!(w, ", labels: {{pool: {p}}}");
        }
        if n.tainted {
            let _ = write!(
                w,
                ", taints: [{{key: dedicated, value: x, effect: NoSchedule}}]"
            );
        }
        let _ = writeln!(w, "}}");
    }
    let mut timeline = Vec::new();
    for st in &s.steps {
        if st.deployment >= s.deployments.len() || st.at_min > s.duration_min {
            continue;
        }
        let action = match st.kind {
            StepKind::Scale(r) => {
                format!("scale: {{deployment: d{}, replicas: {r}}}", st.deployment)
            }
            StepKind::Delete => format!("delete: {{deployment: d{}}}", st.deployment),
        };
        timeline.push(format!("    - at: {}m\n      {action}", st.at_min));
    }
    for (i, j) in s.jobs.iter().enumerate() {
        if let Some(every) = j.every_min {
            timeline.push(format!(
                "    - every: {every}m\n      from: 1m\n      apply: {{job: j{i}}}"
            ));
        }
    }
    if !timeline.is_empty() {
        let _ = writeln!(w, "  timeline:\n{}", timeline.join("\n"));
    }
    if let Some(g) = &s.generator {
        let d = match g.duration {
            Dist::Constant(m) => format!("{{constant: {m}m}}"),
            Dist::Exponential(m) => format!("{{exponential: {{mean: {m}m}}}}"),
            Dist::Lognormal(m, sigma) => {
                format!("{{lognormal: {{median: {m}m, sigma: {sigma:.3}}}}}")
            }
        };
        let _ = writeln!(
            w,
            "  generators:\n    - poisson: {{ratePerHour: {}, template: {{pod: gen}}, duration: {d}}}",
            g.rate_per_hour
        );
    }
    for (i, d) in s.deployments.iter().enumerate() {
        let _ = writeln!(
            w,
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d{i}}}\nspec:"
        );
        let _ = writeln!(w, "  replicas: {}", d.replicas);
        let _ = writeln!(w, "  selector: {{matchLabels: {{app: d{i}}}}}");
        let _ = writeln!(
            w,
            "  template:\n    metadata: {{labels: {{app: d{i}}}}}\n    spec:"
        );
        let _ = writeln!(w, "      terminationGracePeriodSeconds: {}", d.grace_s);
        if let Some((p, never)) = d.priority {
            let _ = writeln!(w, "      priority: {p}");
            if never {
                let _ = writeln!(w, "      preemptionPolicy: Never");
            }
        }
        if let Some(p) = d.pool {
            let _ = writeln!(w, "      nodeSelector: {{pool: {p}}}");
        }
        if d.tolerates {
            let _ = writeln!(w, "      {TOLERATION}");
        }
        if let Some(sp) = &d.spread {
            let _ = writeln!(
                w,
                "      topologySpreadConstraints:\n        - {{maxSkew: {}, topologyKey: {}, whenUnsatisfiable: {}, labelSelector: {{matchLabels: {{app: d{i}}}}}}}",
                sp.max_skew,
                if sp.zone_key {
                    "topology.kubernetes.io/zone"
                } else {
                    "kubernetes.io/hostname"
                },
                if sp.hard {
                    "DoNotSchedule"
                } else {
                    "ScheduleAnyway"
                }
            );
        }
        if d.anti_affinity {
            let _ = writeln!(
                w,
                "      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            - {{topologyKey: kubernetes.io/hostname, labelSelector: {{matchLabels: {{app: d{i}}}}}}}"
            );
        }
        let _ = writeln!(
            w,
            "      containers:\n        - name: c\n          image: nginx"
        );
        let _ = writeln!(w, "          {}", resources(d.cpu_m, d.mem_mi));
        if d.host_port {
            let _ = writeln!(
                w,
                "          ports: [{{containerPort: 8080, hostPort: 8080}}]"
            );
        }
    }
    for (i, j) in s.jobs.iter().enumerate() {
        let _ = writeln!(
            w,
            "---\napiVersion: batch/v1\nkind: Job\nmetadata: {{name: j{i}}}\nspec:"
        );
        let _ = writeln!(
            w,
            "  completions: {}\n  parallelism: {}",
            j.completions, j.parallelism
        );
        let _ = writeln!(
            w,
            "  template:\n    metadata: {{annotations: {{autoscale-sim/duration: {}m}}}}\n    spec:",
            j.run_min
        );
        let _ = writeln!(w, "      restartPolicy: Never");
        if j.tolerates {
            let _ = writeln!(w, "      {TOLERATION}");
        }
        let _ = writeln!(
            w,
            "      containers:\n        - name: c\n          image: busybox"
        );
        let _ = writeln!(w, "          {}", resources(j.cpu_m, j.mem_mi));
    }
    if let Some(g) = &s.generator {
        let _ = writeln!(
            w,
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: gen}}\nspec:\n  containers:\n    - name: c\n      image: busybox\n      {}",
            resources(g.cpu_m, g.mem_mi)
        );
    }
    if let Some((cpu, mem)) = s.daemonset {
        let _ = writeln!(
            w,
            "---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: ds}}\nspec:\n  selector: {{matchLabels: {{app: ds}}}}\n  template:\n    metadata: {{labels: {{app: ds}}}}\n    spec:\n      {TOLERATION}\n      containers:\n        - name: c\n          image: exporter\n          {}",
            resources(cpu, mem)
        );
    }
    if let Some((d, min)) = s.pdb
        && d < s.deployments.len()
    {
        let _ = writeln!(
            w,
            "---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: pdb}}\nspec:\n  minAvailable: {min}\n  selector: {{matchLabels: {{app: d{d}}}}}"
        );
    }
    if let Auto::Karpenter {
        capacity_type,
        underutilized,
    } = s.autoscaler
    {
        karpenter_docs(w, capacity_type, underutilized);
    }
    y
}

/// The NodePool and EC2NodeClass of a Karpenter spec.
fn karpenter_docs(w: &mut String, capacity_type: Option<&str>, underutilized: bool) {
    let _ = write!(
        w,
        "---\napiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {{name: default}}\nspec:\n  template:\n    spec:\n      requirements:\n        - {{key: node.kubernetes.io/instance-type, operator: In, values: [{}]}}\n",
        TYPES.join(", ")
    );
    if let Some(ct) = capacity_type {
        let _ = writeln!(
            w,
            "        - {{key: karpenter.sh/capacity-type, operator: In, values: [{ct}]}}"
        );
    }
    let _ = writeln!(
        w,
        "      nodeClassRef: {{group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}}\n  disruption:\n    consolidationPolicy: {}\n    consolidateAfter: 1m",
        if underutilized {
            "WhenEmptyOrUnderutilized"
        } else {
            "WhenEmpty"
        }
    );
    let _ = writeln!(
        w,
        "---\napiVersion: karpenter.k8s.aws/v1\nkind: EC2NodeClass\nmetadata: {{name: default}}\nspec:\n  role: KarpenterNodeRole-prop\n  amiSelectorTerms: [{{alias: al2023@latest}}]\n  subnetSelectorTerms: [{{tags: {{karpenter.sh/discovery: prop}}}}]\n  securityGroupSelectorTerms: [{{tags: {{karpenter.sh/discovery: prop}}}}]"
    );
}

/// Write the scenario to a temp dir and load it. The YAML comes back for failure messages.
fn load(s: &Spec) -> (Scenario, String) {
    let yaml = render(s);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("scenario.yaml");
    std::fs::write(&path, &yaml).expect("write scenario");
    match Scenario::load(&path) {
        Ok(sc) => (sc, yaml),
        Err(e) => panic!("generated scenario does not load: {e}\n{yaml}"),
    }
}

// ---- driving --------------------------------------------------------------------------------

/// Far more events than any generated scenario needs: a loop guard, not a limit.
const MAX_STEPS: u64 = 5_000_000;

/// Run `sc` to its end, calling `check` after `start()` (at time zero) and after every `step()`.
fn drive<'s>(
    sc: &'s Scenario,
    mut check: impl FnMut(&Simulation<'s>, SimTime) -> Result<(), String>,
) -> Result<Simulation<'s>, String> {
    let kind = sc.spec.autoscaler.unwrap_or(AutoscalerKind::None);
    let autoscaler = make_autoscaler(kind, sc).map_err(|e| e.to_string())?;
    let mut sim = Simulation::new(sc, autoscaler).map_err(|e| e.to_string())?;
    sim.start();
    check(&sim, SimTime::ZERO)?;
    let mut steps = 0u64;
    while let Some(t) = sim.step() {
        check(&sim, t).map_err(|e| format!("after step {steps} at {t}: {e}"))?;
        steps += 1;
        if steps > MAX_STEPS {
            return Err(format!("more than {MAX_STEPS} events: runaway event loop"));
        }
    }
    sim.finish();
    Ok(sim)
}

fn fail(yaml: &str, e: String) -> TestCaseError {
    TestCaseError::fail(format!("{e}\n--- scenario ---\n{yaml}"))
}

// ---- the invariants -------------------------------------------------------------------------

/// No node holds more than its allocatable, and its `requested` is the sum of its pods' requests.
fn check_nodes(sim: &Simulation<'_>) -> Result<(), String> {
    let cluster = &sim.cluster;
    for node in cluster.nodes() {
        let mut sum = Resources::default();
        for &p in &node.pods {
            let pod = cluster.pod(p);
            if pod.node != Some(node.id) {
                return Err(format!(
                    "pod {} is in node {}'s pod set but its node is {:?}",
                    pod.name, node.name, pod.node
                ));
            }
            sum.add(&pod.template.requests);
        }
        let a = &node.allocatable;
        for (what, used, cap) in [
            ("cpu", sum.cpu_m, a.cpu_m),
            ("memory", sum.memory, a.memory),
            ("pods", sum.pods, a.pods),
        ] {
            if used > cap {
                return Err(format!(
                    "node {} is overcommitted on {what}: pods request {used}, allocatable {cap} (pods {:?})",
                    node.name,
                    node.pods
                        .iter()
                        .map(|p| cluster.pod(*p).name.as_str())
                        .collect::<Vec<_>>()
                ));
            }
        }
        if !sum.fits_in(a) {
            return Err(format!(
                "node {}: requests {sum:?} do not fit allocatable {a:?}",
                node.name
            ));
        }
        if sum != node.requested {
            return Err(format!(
                "node {}: requested {:?} is not the sum of its pods' requests {sum:?}",
                node.name, node.requested
            ));
        }
    }
    Ok(())
}

/// Life-cycle rank: phases only move forward (terminal phases share the last rank).
fn rank(p: PodPhase) -> u8 {
    match p {
        PodPhase::Pending => 0,
        PodPhase::Starting => 1,
        PodPhase::Running => 2,
        PodPhase::Terminating => 3,
        PodPhase::Succeeded | PodPhase::Deleted | PodPhase::Evicted => 4,
    }
}

/// Every pod is in exactly one place for its phase: the pending queue (Pending), one live
/// node's pod set (Starting, Running, Terminating) or nowhere (terminal). Phases only move
/// forward, and a terminal phase never changes. `prev` holds the phases seen last step.
fn check_pods(sim: &Simulation<'_>, prev: &mut Vec<PodPhase>) -> Result<(), String> {
    let cluster = &sim.cluster;
    let mut on_node: BTreeMap<PodId, Vec<NodeId>> = BTreeMap::new();
    for n in cluster.nodes() {
        for &p in &n.pods {
            on_node.entry(p).or_default().push(n.id);
        }
    }
    let mut pending: BTreeMap<PodId, usize> = BTreeMap::new();
    for p in cluster.pending_pods() {
        *pending.entry(p).or_insert(0) += 1;
    }
    if pending.len() != cluster.pending_count() {
        return Err("pending_count disagrees with pending_pods".into());
    }
    for (i, pod) in cluster.pods.iter().enumerate() {
        if pod.id.0 as usize != i {
            return Err(format!("pod at index {i} has id {:?}", pod.id));
        }
        let nodes = on_node.get(&pod.id).map_or(&[][..], Vec::as_slice);
        let queued = pending.get(&pod.id).copied().unwrap_or(0);
        let here = match pod.phase {
            PodPhase::Pending => {
                if pod.node.is_some() {
                    Err("is Pending but has a node".to_string())
                } else if queued != 1 || !nodes.is_empty() {
                    Err(format!(
                        "is Pending but in the pending set {queued} time(s) and on nodes {nodes:?}"
                    ))
                } else {
                    Ok(())
                }
            }
            PodPhase::Starting | PodPhase::Running | PodPhase::Terminating => match pod.node {
                None => Err("is bound but has no node".to_string()),
                Some(n) if cluster.node(n).is_none() => {
                    Err(format!("is bound to node {n:?}, which does not exist"))
                }
                Some(n) if nodes != [n] || queued != 0 => Err(format!(
                    "is bound to {n:?} but is in the pod sets of {nodes:?} and the pending set {queued} time(s)"
                )),
                Some(_) => Ok(()),
            },
            PodPhase::Succeeded | PodPhase::Deleted | PodPhase::Evicted => {
                if !nodes.is_empty() || queued != 0 {
                    Err(format!(
                        "is terminal but still in the pod sets of {nodes:?} / pending set {queued} time(s)"
                    ))
                } else if pod.ended_at.is_none() {
                    Err("is terminal without an end time".to_string())
                } else {
                    Ok(())
                }
            }
        };
        here.map_err(|e| format!("pod {} ({}) {e}", pod.name, pod.phase.as_str()))?;
        if let Some(&before) = prev.get(i) {
            if before.is_terminal() && pod.phase != before {
                return Err(format!(
                    "pod {} left terminal phase {} for {}",
                    pod.name,
                    before.as_str(),
                    pod.phase.as_str()
                ));
            }
            if rank(pod.phase) < rank(before) {
                return Err(format!(
                    "pod {} went back from {} to {}",
                    pod.name,
                    before.as_str(),
                    pod.phase.as_str()
                ));
            }
        }
    }
    if prev.len() > cluster.pods.len() {
        return Err(format!(
            "pods disappeared: {} before, {} now",
            prev.len(),
            cluster.pods.len()
        ));
    }
    prev.clear();
    prev.extend(cluster.pods.iter().map(|p| p.phase));
    Ok(())
}

const MS_PER_HOUR: f64 = 3_600_000.0;
const BILLING_MINIMUM_S: u64 = 60;

/// AWS's rule, written independently of the mock: billed from `running` to `shutting-down`
/// (or `at`), per second rounded up, at least 60 s. Returns (on-demand, spot) USD.
fn expected_cost(instances: &[InstanceView], at: u64) -> (f64, f64) {
    let (mut od, mut spot) = (0.0, 0.0);
    for v in instances {
        let Some(start) = v.running_at_ms.filter(|r| *r <= at) else {
            continue;
        };
        let stop = v.shutting_down_at_ms.unwrap_or(at).min(at);
        let secs = (stop - start).div_ceil(1000).max(BILLING_MINIMUM_S);
        let usd = secs as f64 * 1000.0 * v.price_per_hour / MS_PER_HOUR;
        match v.pool.capacity_type {
            CapacityType::OnDemand => od += usd,
            CapacityType::Spot => spot += usd,
        }
    }
    (od, spot)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6
}

/// The meter runs for exactly the instances that are `running`: the hourly rate is their price
/// sum, and the cost never decreases.
fn check_billing_step(sim: &Simulation<'_>, t: SimTime, last: &mut f64) -> Result<(), String> {
    let running: f64 = sim
        .cloud
        .instances()
        .iter()
        .filter(|v| v.state == InstanceState::Running)
        .map(|v| v.price_per_hour)
        .sum();
    let rate = sim.cloud.hourly_rate();
    if !close(rate, running) {
        return Err(format!(
            "billing rate {rate} $/h, but the running instances cost {running} $/h"
        ));
    }
    if let Some(v) = sim
        .cloud
        .instances()
        .iter()
        .find(|v| v.shutting_down_at_ms.is_some_and(|s| s > t.0))
    {
        return Err(format!("instance {} shuts down in the future", v.id));
    }
    let cost = sim.cloud.cost_usd(t.0).total_usd;
    if cost + 1e-9 < *last {
        return Err(format!("cost went down from {last} to {cost}"));
    }
    *last = cost;
    Ok(())
}

/// At the end: the mock's cost equals the independent computation, now and long after the end
/// (so nothing shut down keeps billing), and is flat after the last shutdown when no instance
/// is left running.
fn check_billing_end(sim: &Simulation<'_>, end: u64) -> Result<(), String> {
    let instances = sim.cloud.instances();
    for at in [end, end + 100 * 3_600_000] {
        let (od, spot) = expected_cost(instances, at);
        let got = sim.cloud.cost_usd(at);
        if !(close(got.on_demand_usd, od)
            && close(got.spot_usd, spot)
            && close(got.total_usd, od + spot))
        {
            return Err(format!(
                "cost at {at} ms: mock says {got:?}, expected on-demand {od}, spot {spot} from {} instances {instances:#?}",
                instances.len()
            ));
        }
    }
    if !instances.is_empty() && instances.iter().all(|v| !v.state.is_live()) {
        let last_shutdown = instances
            .iter()
            .filter_map(|v| v.shutting_down_at_ms)
            .max()
            .unwrap_or(0);
        let at_shutdown = sim.cloud.cost_usd(last_shutdown).total_usd;
        for at in [end, end + 3_600_000, end * 10 + 1] {
            let c = sim.cloud.cost_usd(at).total_usd;
            if !close(c, at_shutdown) {
                return Err(format!(
                    "every instance shut down by {last_shutdown} ms (cost {at_shutdown}), but cost at {at} ms is {c}"
                ));
            }
        }
    }
    Ok(())
}

/// 48 cases by default; `PROPTEST_CASES=5000` for a deeper search.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(48),
        // Failures are reported with their scenario YAML; no regression files next to the tests.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn no_node_is_overcommitted(s in spec()) {
        let (sc, yaml) = load(&s);
        drive(&sc, |sim, _| check_nodes(sim)).map_err(|e| fail(&yaml, e))?;
    }

    #[test]
    fn the_clock_never_goes_back(s in spec()) {
        let (sc, yaml) = load(&s);
        let end = sc.duration_ms;
        let mut last = SimTime::ZERO;
        drive(&sc, |sim, t| {
            if t < last {
                return Err(format!("step returned {t} after {last}"));
            }
            if sim.now() != t {
                return Err(format!("step returned {t} but now() is {}", sim.now()));
            }
            if t.0 > end {
                return Err(format!("processed an event at {t}, past the end {end} ms"));
            }
            last = t;
            Ok(())
        })
        .map_err(|e| fail(&yaml, e))?;
    }

    #[test]
    fn every_pod_is_in_exactly_one_phase_and_terminal_phases_are_final(s in spec()) {
        let (sc, yaml) = load(&s);
        let mut prev = Vec::new();
        let sim = drive(&sc, |sim, _| check_pods(sim, &mut prev)).map_err(|e| fail(&yaml, e))?;
        // The report agrees with the pod table.
        let r = sim.report(s.autoscaler.name());
        prop_assert_eq!(r.pods.created, sim.cluster.pods.len() as u64);
    }

    #[test]
    fn nothing_is_billed_after_termination(s in spec()) {
        let (sc, yaml) = load(&s);
        let mut last = 0.0;
        let sim = drive(&sc, |sim, t| check_billing_step(sim, t, &mut last))
            .map_err(|e| fail(&yaml, e))?;
        check_billing_end(&sim, sc.duration_ms).map_err(|e| fail(&yaml, e))?;
    }

    #[test]
    fn same_seed_gives_the_same_report(s in spec()) {
        let (sc, yaml) = load(&s);
        let a = drive(&sc, |_, _| Ok(())).map_err(|e| fail(&yaml, e))?;
        let b = drive(&sc, |_, _| Ok(())).map_err(|e| fail(&yaml, e))?;
        let (ra, rb) = (a.report(s.autoscaler.name()), b.report(s.autoscaler.name()));
        let ja = serde_json::to_string(&ra).map_err(|e| fail(&yaml, e.to_string()))?;
        let jb = serde_json::to_string(&rb).map_err(|e| fail(&yaml, e.to_string()))?;
        prop_assert_eq!(ja, jb, "reports differ\n{}", yaml);
        prop_assert_eq!(a.events, b.events);
        prop_assert_eq!(&a.recorder.samples, &b.recorder.samples);
        prop_assert_eq!(&a.recorder.nodes, &b.recorder.nodes);
    }
}

// ---- the checkers and the generator are not vacuous -----------------------------------------

/// A fixed small scenario with a few nodes and pods, for the checker self-tests.
fn small_spec() -> Spec {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut s = spec().new_tree(&mut runner).expect("a spec").current();
    s.nodes = vec![NodeGroup {
        instance_type: "m5.large",
        count: 2,
        spot: false,
        pool: None,
        tainted: false,
        zone: None,
    }];
    s.deployments = vec![Deploy {
        replicas: 3,
        cpu_m: 100,
        mem_mi: 128,
        pool: None,
        tolerates: false,
        host_port: false,
        spread: None,
        anti_affinity: false,
        grace_s: 30,
        priority: None,
    }];
    s.duration_min = 20;
    s
}

#[test]
fn node_checker_catches_an_overcommitted_node() {
    use autoscale_sim::cluster::{OwnerKind, PodTemplate};
    let (sc, _) = load(&small_spec());
    let mut sim = drive(&sc, |sim, _| check_nodes(sim)).expect("a clean run");
    let node = sim.cluster.nodes().next().expect("a node").id;
    let huge = PodTemplate {
        requests: Resources {
            pods: 1,
            ..Resources::new(1_000_000, 1 << 40)
        },
        ..PodTemplate::default()
    };
    let now = sim.now();
    let p = sim.cluster.create_pod(
        now,
        "huge".into(),
        std::sync::Arc::new(huge),
        OwnerKind::None,
        0,
        false,
    );
    sim.cluster.bind(p, node, now);
    let e = check_nodes(&sim).expect_err("overcommit is caught");
    assert!(e.contains("overcommitted on cpu"), "{e}");
}

#[test]
fn pod_checker_catches_a_resurrected_pod() {
    let (sc, _) = load(&small_spec());
    let mut prev = Vec::new();
    let mut sim = drive(&sc, |sim, _| check_pods(sim, &mut prev)).expect("a clean run");
    let running = sim
        .cluster
        .pods
        .iter()
        .position(|p| p.phase == PodPhase::Running)
        .expect("a running pod");
    prev[running] = PodPhase::Succeeded;
    let e = check_pods(&sim, &mut prev).expect_err("a terminal phase left is caught");
    assert!(e.contains("left terminal phase"), "{e}");
    // A bound pod whose node forgot it.
    let p = sim.cluster.pods[running].id;
    let node = sim.cluster.pods[running].node.expect("bound");
    sim.cluster.node_mut(node).expect("node").pods.remove(&p);
    let mut fresh = Vec::new();
    let e = check_pods(&sim, &mut fresh).expect_err("an orphaned bound pod is caught");
    assert!(e.contains("is bound to"), "{e}");
}

fn view(capacity_type: CapacityType, running: u64, shutdown: Option<u64>) -> InstanceView {
    use autoscale_sim::cloud::{AmiFamily, InstanceId, PoolKey};
    InstanceView {
        id: InstanceId(0),
        pool: PoolKey::new("m5.large", "us-east-1a", capacity_type),
        price_per_hour: 3.6,
        ami_family: AmiFamily::AL2023,
        state: if shutdown.is_some() {
            InstanceState::ShuttingDown
        } else {
            InstanceState::Running
        },
        launched_at_ms: 0,
        running_at_ms: Some(running),
        shutting_down_at_ms: shutdown,
        terminated_at_ms: None,
        termination_reason: None,
        asg: None,
        tags: BTreeMap::new(),
    }
}

#[test]
fn cost_oracle_bills_whole_seconds_with_a_minute_minimum() {
    // 3.6 $/h = 0.001 $/s.
    let a = view(CapacityType::OnDemand, 1_000, Some(2_500)); // 1.5 s → the 60 s minimum
    let b = view(CapacityType::Spot, 0, Some(90_001)); // 90.001 s → 91 s
    let c = view(CapacityType::Spot, 0, None); // open: billed to `at`
    let (od, spot) = expected_cost(&[a, b, c], 120_000);
    assert!(close(od, 0.060), "{od}");
    assert!(close(spot, 0.091 + 0.120), "{spot}");
}

/// What a generated scenario exercised.
#[derive(Debug, Default)]
struct Coverage {
    cases: u32,
    bound: u32,
    unschedulable: u32,
    spot_reclaims: u32,
    evictions: u32,
    preemptions: u32,
    all_instances_gone: u32,
    succeeded: u32,
    /// Cases where Karpenter / cluster-autoscaler launched a node, and where either removed one.
    karpenter_launched: u32,
    ca_launched: u32,
    autoscaler_removed: u32,
}

#[test]
fn generated_scenarios_exercise_the_interesting_paths() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut c = Coverage::default();
    for _ in 0..config().cases {
        let s = spec().new_tree(&mut runner).expect("a spec").current();
        let (sc, _) = load(&s);
        let sim = drive(&sc, |_, _| Ok(())).expect("runs");
        let r = sim.report(s.autoscaler.name());
        c.cases += 1;
        let launched_by = |prefix: &str| {
            sim.recorder
                .nodes
                .iter()
                .any(|n| n.owner.starts_with(prefix))
        };
        c.karpenter_launched += u32::from(launched_by("nodepool/"));
        c.ca_launched += u32::from(launched_by("nodegroup/"));
        c.autoscaler_removed += u32::from(sim.recorder.nodes.iter().any(|n| {
            !n.owner.starts_with("unmanaged")
                && n.termination_reason
                    .as_deref()
                    .is_some_and(|r| !r.contains("spot"))
        }));
        c.bound += u32::from(r.pods.scheduled > 0);
        c.unschedulable += u32::from(r.pods.unschedulable_at_end > 0);
        c.spot_reclaims += u32::from(r.disruption.spot_interruptions > 0);
        c.evictions += u32::from(r.pods.evicted > 0);
        c.preemptions += u32::from(sim.cluster.preemptions > 0);
        c.succeeded += u32::from(r.pods.succeeded > 0);
        c.all_instances_gone += u32::from(sim.cloud.instances().iter().all(|v| !v.state.is_live()));
    }
    eprintln!("{c:?}");
    assert!(c.bound >= c.cases / 2, "{c:?}");
    assert!(c.unschedulable > 0, "{c:?}");
    assert!(c.spot_reclaims >= c.cases / 8, "{c:?}");
    assert!(c.evictions > 0, "{c:?}");
    assert!(c.preemptions > 0, "{c:?}");
    assert!(c.succeeded > 0, "{c:?}");
    assert!(c.all_instances_gone > 0, "{c:?}");
    // The invariants are checked under each autoscaler, not only the static cluster.
    assert!(c.karpenter_launched >= c.cases / 8, "{c:?}");
    assert!(c.ca_launched >= c.cases / 8, "{c:?}");
    assert!(c.autoscaler_removed > 0, "{c:?}");
}
