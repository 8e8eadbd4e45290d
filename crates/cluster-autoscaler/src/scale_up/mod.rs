//! Scale-up (docs/model/cluster-autoscaler.md §2.4, §3.2–§3.6; cluster-autoscaler:
//! core/scaleup/orchestrator/orchestrator.go): which pending pods need a node, which node
//! groups could give them one (the binpacking `estimator`), which of those the `expander`
//! chain picks, and how the nodes are split across similar groups (`balancing`).

pub mod balancing;
pub mod estimator;
pub mod expander;

use std::collections::{BTreeMap, BTreeSet};

use asim_cluster::autoscaler::Ctx;
use asim_cluster::{Cluster, OwnerKind, PodId, PodPhase};
use asim_core::engine::SimTime;
use asim_core::k8s::duration::parse_duration;
use asim_core::k8s::resources::NVIDIA_GPU;

use crate::clusterstate::ClusterState;
use crate::decision::{
    Considered, Decision, DecisionLog, GroupResize, LatencySummary, NoScaleUpReason, Outcome,
    ScaleUpFailure, SkipReason,
};
use crate::flags::{Flags, GPU_LABEL};
use crate::nodegroup::{GroupId, NodeGroup, NodeGroups, Template};

pub use balancing::{AWS_IGNORED_LABELS, Similarity, balance};
pub use estimator::{
    Estimate, PodGroup, SimNode, Snapshot, equivalence_groups, estimate, filter_out_schedulable,
    fits_empty_template, fits_static, why_not_fit,
};
use expander::{ExpanderChain, ExpansionOption};

/// Hard-coded: the oldest pending pod must be this old before CA scales up (§2.4
/// `unschedulablePodTimeBuffer`), 30 s if a GPU pod is pending.
pub const NEW_POD_BUFFER_MS: u64 = 2_000;
pub const NEW_GPU_POD_BUFFER_MS: u64 = 30_000;
/// Per-pod annotation that can only lengthen `--new-pod-scale-up-delay` (§2.4).
pub const POD_SCALE_UP_DELAY: &str = "cluster-autoscaler.kubernetes.io/pod-scale-up-delay";

const GIB: i64 = 1 << 30;

/// What one `ScaleUp` call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// At least one group's desired capacity was raised.
    pub scaled_up: bool,
    /// Pending pods were all too new to act on (`allPodsAreNew`, §2.4).
    pub all_new: bool,
}

/// The scale-up orchestrator and what it remembers between loops.
#[derive(Clone, Debug)]
pub struct Orchestrator {
    chain: ExpanderChain,
    /// The last `no-scale-up` written, so an unchanged one is not repeated.
    last_no_scale_up: Option<NoScaleUpKey>,
    /// Pods already named in a `not-trigger-scale-up` record.
    reported_unfit: BTreeSet<PodId>,
    /// Pods whose decision latency was already counted (the first scale-up that helps them).
    counted: BTreeSet<PodId>,
}

/// A planned scale-up, computed with the cluster borrowed, executed afterwards.
struct Plan {
    option: ExpansionOption,
    chosen_by: &'static str,
    considered: Vec<Considered>,
    split: Vec<(GroupId, u32)>,
    pending: usize,
}

/// What makes two `no-scale-up` records the same: pods, reason and the groups' reasons.
type NoScaleUpKey = (usize, NoScaleUpReason, BTreeMap<String, SkipReason>);

enum PlanResult {
    Nothing,
    AllNew,
    Plan(Plan),
}

impl Orchestrator {
    pub fn new(chain: ExpanderChain) -> Self {
        Orchestrator {
            chain,
            last_no_scale_up: None,
            reported_unfit: BTreeSet::new(),
            counted: BTreeSet::new(),
        }
    }

    /// One loop's scale-up: a plan and its execution; with `--salvo-scale-up`, again until
    /// nothing is left to do or every group has had its turn.
    pub fn scale_up(
        &mut self,
        ctx: &mut Ctx<'_>,
        flags: &Flags,
        groups: &mut NodeGroups,
        state: &mut ClusterState,
        log: &mut DecisionLog,
        loop_start: SimTime,
    ) -> Status {
        let mut status = Status::default();
        let mut rounds = 0;
        loop {
            rounds += 1;
            match self.plan(ctx, flags, groups, state, log, loop_start) {
                PlanResult::Nothing => break,
                PlanResult::AllNew => {
                    status.all_new = true;
                    break;
                }
                PlanResult::Plan(plan) => {
                    if self.execute(ctx, flags, groups, state, log, plan) {
                        status.scaled_up = true;
                    }
                    if !flags.salvo_scale_up || rounds >= groups.len() {
                        break;
                    }
                }
            }
        }
        status
    }

    fn plan(
        &mut self,
        ctx: &mut Ctx<'_>,
        flags: &Flags,
        groups: &NodeGroups,
        state: &ClusterState,
        log: &mut DecisionLog,
        loop_start: SimTime,
    ) -> PlanResult {
        let now = ctx.now;
        let (cluster, rng) = ctx.cluster_and_rng();
        let cutoff = flags.expendable_pods_priority_cutoff;
        let mut pending: Vec<PodId> = cluster
            .pending_pods()
            .filter(|p| {
                let pod = cluster.pod(*p);
                // A pod waiting on preemption (nominatedNodeName) is about to be
                // scheduled, not unschedulable (§2.3).
                pod.phase == PodPhase::Pending
                    && pod.unschedulable_since.is_some()
                    && pod.nominated_node.is_none()
                    && pod.owner != OwnerKind::DaemonSet
                    && pod.template.priority >= cutoff
            })
            .collect();
        if pending.is_empty() {
            return PlanResult::Nothing;
        }
        pending.sort_by_key(|p| {
            let pod = cluster.pod(*p);
            (
                std::cmp::Reverse(pod.template.priority),
                pod.created_at,
                pod.id,
            )
        });
        // Snapshot: Ready nodes plus one template node per upcoming node (§2.2 step 8).
        let mut snap = Snapshot::from_cluster(cluster, cutoff);
        let mut upcoming_total = 0u32;
        for (id, g) in groups.iter() {
            let u = state.upcoming(id, g.target, now);
            upcoming_total += u;
            snap.add_template_nodes(&g.template, &format!("upcoming-{}", g.name), u);
        }
        let eq_groups = equivalence_groups(cluster, &pending);
        let (remaining, _absorbed) = filter_out_schedulable(&mut snap, cluster, eq_groups);
        // filterOutYoungPods.
        let delay = flags.new_pod_scale_up_delay_ms;
        let remaining: Vec<PodGroup<'_>> = remaining
            .into_iter()
            .filter(|g| {
                let extra = g
                    .template
                    .annotation(POD_SCALE_UP_DELAY)
                    .and_then(|s| parse_duration(s).ok())
                    .unwrap_or(0);
                let d = delay.max(extra);
                g.pods
                    .first()
                    .is_some_and(|p| cluster.pod(*p).created_at + d <= loop_start)
            })
            .collect();
        let n_pending: usize = remaining.iter().map(|g| g.pods.len()).sum();
        if n_pending == 0 {
            return PlanResult::Nothing;
        }
        let ready_nodes = cluster.nodes().filter(|n| n.ready).count() as u32;
        self.note_unfit(log, now, cluster, groups, &remaining);
        if flags.max_nodes_total > 0 && ready_nodes >= flags.max_nodes_total {
            self.note_no_scale_up(
                log,
                now,
                n_pending,
                NoScaleUpReason::MaxNodesTotalReached,
                BTreeMap::new(),
            );
            return PlanResult::Nothing;
        }
        // allPodsAreNew (§2.4).
        let oldest = remaining
            .iter()
            .flat_map(|g| g.pods.iter())
            .map(|p| cluster.pod(*p).created_at)
            .min()
            .unwrap_or(now);
        let oldest_gpu = remaining
            .iter()
            .filter(|g| g.template.requests.get(NVIDIA_GPU) > 0)
            .flat_map(|g| g.pods.iter())
            .map(|p| cluster.pod(*p).created_at)
            .min();
        if oldest + NEW_POD_BUFFER_MS > loop_start
            || oldest_gpu.is_some_and(|t| t + NEW_GPU_POD_BUFFER_MS > loop_start)
        {
            return PlanResult::AllNew;
        }

        // Cluster-wide limits (§3.2, §3.6).
        let registered = cluster.node_count() as u32;
        let cluster_left = if flags.max_nodes_total > 0 {
            Some(
                flags
                    .max_nodes_total
                    .saturating_sub(registered + upcoming_total),
            )
        } else {
            None
        };
        let left = ResourcesLeft::new(cluster, groups, flags);

        let mut considered = Vec::new();
        let mut options = Vec::new();
        for (id, g) in groups.iter() {
            let skipped = if !g.exists {
                Some(SkipReason::NotCreated)
            } else if state.backoff.is_backed_off(id, now) {
                Some(SkipReason::BackedOff)
            } else if g.target >= g.max_size {
                Some(SkipReason::MaxSizeReached)
            } else if left.max_new(&g.template) == 0 {
                Some(SkipReason::MaxResourceLimitReached)
            } else if cluster_left == Some(0) {
                Some(SkipReason::MaxNodesTotalReached)
            } else {
                None
            };
            let entry = |outcome| Considered {
                group: g.name.clone(),
                target: g.target,
                max: g.max_size,
                outcome,
            };
            if let Some(skipped) = skipped {
                considered.push(entry(Outcome::Skipped { skipped }));
                continue;
            }
            let fitting: Vec<&PodGroup<'_>> = remaining
                .iter()
                .filter(|pg| fits_empty_template(pg.template, &g.template))
                .collect();
            if fitting.is_empty() {
                considered.push(entry(Outcome::Skipped {
                    skipped: SkipReason::NotTriggerScaleUp,
                }));
                continue;
            }
            let mut cap = g.max_size - g.target;
            if flags.balance_similar_node_groups {
                for j in similar_groups(id, now, flags, groups, state) {
                    cap += groups[j].max_size - groups[j].target;
                }
            }
            let mut limit = flags.max_nodes_per_scaleup.min(cap);
            if let Some(c) = cluster_left {
                limit = limit.min(c);
            }
            let est = estimate(
                &g.template,
                &g.name,
                &fitting,
                &snap,
                cluster,
                limit,
                flags.fastpath_binpacking,
            );
            considered.push(entry(Outcome::Estimated {
                nodes: est.node_count,
                pods: est.pods.len(),
            }));
            if est.node_count > 0 {
                options.push(option_from(id, g, est, cluster));
            }
        }
        if options.is_empty() {
            // Name what stopped it: one reason when every group had the same (§3.2).
            let why: BTreeMap<String, SkipReason> = considered
                .iter()
                .map(|c| {
                    let r = match c.outcome {
                        Outcome::Skipped { skipped } => skipped,
                        // Fits the template, yet the estimator placed nothing (spread,
                        // anti-affinity): the group cannot help these pods.
                        Outcome::Estimated { .. } => SkipReason::NotTriggerScaleUp,
                    };
                    (c.group.clone(), r)
                })
                .collect();
            let first = why.values().next().copied();
            let reason = match first {
                Some(one) if why.values().all(|r| *r == one) => NoScaleUpReason::all(one),
                _ => NoScaleUpReason::NoNodeGroupCanHelp,
            };
            self.note_no_scale_up(log, now, n_pending, reason, why);
            return PlanResult::Nothing;
        }
        let Some((best, chosen_by)) = self.chain.best_option(&options, rng) else {
            self.note_no_scale_up(
                log,
                now,
                n_pending,
                NoScaleUpReason::ExpanderFilteredAll,
                BTreeMap::new(),
            );
            return PlanResult::Nothing;
        };
        let option = options.swap_remove(best);
        let gi = option.group;
        let mut count = option.node_count;
        if let Some(c) = cluster_left {
            count = count.min(c);
        }
        count = count.min(left.max_new(&groups[gi].template));
        let split = if flags.balance_similar_node_groups {
            let mut members = vec![gi];
            for j in similar_groups(gi, now, flags, groups, state) {
                let tj = &groups[j].template;
                // A similar group must be able to run the same pods (§3.5).
                let same = remaining
                    .iter()
                    .filter(|pg| fits_empty_template(pg.template, &groups[gi].template))
                    .all(|pg| fits_empty_template(pg.template, tj));
                if same {
                    members.push(j);
                }
            }
            balance(groups, &members, count)
        } else {
            let g = &groups[gi];
            vec![(gi, count.min(g.max_size - g.target))]
        };
        self.last_no_scale_up = None;
        PlanResult::Plan(Plan {
            option,
            chosen_by,
            considered,
            split,
            pending: n_pending,
        })
    }

    fn note_no_scale_up(
        &mut self,
        log: &mut DecisionLog,
        now: SimTime,
        pods: usize,
        reason: NoScaleUpReason,
        groups: BTreeMap<String, SkipReason>,
    ) {
        let key = (pods, reason, groups);
        if self.last_no_scale_up.as_ref() != Some(&key) {
            let groups = key.2.clone();
            self.last_no_scale_up = Some(key);
            log.log(
                now,
                Decision::NoScaleUp {
                    reason,
                    pods,
                    groups,
                },
            );
        }
    }

    /// Pods that fit a fresh node of no group at all, whatever the groups' sizes and backoff
    /// (too large, or asking for labels or tolerations no template has): CA's
    /// `NotTriggerScaleUp` pod event. One record per equivalence group, naming the pods not
    /// named before.
    fn note_unfit(
        &mut self,
        log: &mut DecisionLog,
        now: SimTime,
        cluster: &Cluster,
        groups: &NodeGroups,
        pending: &[PodGroup<'_>],
    ) {
        for pg in pending {
            if pg.pods.iter().all(|p| self.reported_unfit.contains(p)) {
                continue;
            }
            let mut why = BTreeMap::new();
            for (_, g) in groups.iter().filter(|(_, g)| g.exists) {
                match why_not_fit(pg.template, &g.template) {
                    Some(r) => {
                        why.insert(g.name.clone(), r);
                    }
                    None => break,
                }
            }
            let existing = groups.iter().filter(|(_, g)| g.exists).count();
            if existing == 0 || why.len() < existing {
                continue;
            }
            let pods: Vec<String> = pg
                .pods
                .iter()
                .filter(|p| self.reported_unfit.insert(**p))
                .map(|p| {
                    let pod = cluster.pod(*p);
                    format!("{}/{}", pod.namespace(), pod.name)
                })
                .collect();
            log.log(now, Decision::NotTriggerScaleUp { pods, groups: why });
        }
    }

    fn execute(
        &mut self,
        ctx: &mut Ctx<'_>,
        flags: &Flags,
        groups: &mut NodeGroups,
        state: &mut ClusterState,
        log: &mut DecisionLog,
        plan: Plan,
    ) -> bool {
        let now = ctx.now;
        let mut done = Vec::new();
        for &(g, delta) in &plan.split {
            if delta == 0 {
                continue;
            }
            let (name, from) = (groups[g].name.clone(), groups[g].target);
            let to = from + delta;
            match ctx.set_desired_capacity(&name, to) {
                Ok(()) => {
                    let grp = &mut groups[g];
                    grp.target = to;
                    grp.last_set_desired_ms = Some(now.0);
                    grp.last_scale_up = Some(now);
                    state.register_scale_up(g, delta, now, grp.max_node_provision_ms);
                    done.push(GroupResize {
                        group: name,
                        from,
                        to,
                    });
                }
                Err(e) => {
                    // An IncreaseSize error is a failed scale-up (§3.8 source 1).
                    let backoff = state.register_failed_scale_up(g, now);
                    log.log(
                        now,
                        Decision::ScaleUpFailed {
                            group: name,
                            cause: ScaleUpFailure::CloudProviderError {
                                error: e.to_string(),
                            },
                            backoff_s: backoff / 1000,
                        },
                    );
                }
            }
        }
        if done.is_empty() {
            return false;
        }
        // Decision latency: pod marked Unschedulable → scale-up request, first time a pod is
        // helped (the FAQ's SLO, §2.1).
        let cluster: &Cluster = ctx.cluster();
        let mut lat = Vec::new();
        for p in &plan.option.pods {
            if self.counted.insert(*p)
                && let Some(since) = cluster.pod(*p).unschedulable_since
            {
                lat.push(now.since(since));
            }
        }
        let mean = if lat.is_empty() {
            0.0
        } else {
            lat.iter().sum::<u64>() as f64 / lat.len() as f64 / 1000.0
        };
        let max = lat.iter().copied().max().unwrap_or(0) as f64 / 1000.0;
        let o = &plan.option;
        log.log(
            now,
            Decision::ScaleUp {
                group: o.group_name.clone(),
                nodes: o.node_count,
                expander: flags.expander.clone(),
                chosen_by: plan.chosen_by,
                pods_pending: plan.pending,
                pods_helped: o.pods.len(),
                waste: expander::waste_score(o),
                groups: done,
                considered: plan.considered,
                decision_latency_s: LatencySummary {
                    pods: lat.len(),
                    mean,
                    max,
                },
            },
        );
        true
    }
}

/// Groups similar to `gi` that are not backed off and below max (§3.5).
fn similar_groups(
    gi: GroupId,
    now: SimTime,
    flags: &Flags,
    groups: &NodeGroups,
    state: &ClusterState,
) -> Vec<GroupId> {
    let t = &groups[gi].template;
    groups
        .iter()
        .filter(|&(j, g)| {
            j != gi
                && g.exists
                && !state.backoff.is_backed_off(j, now)
                && g.target < g.max_size
                && flags.similarity.similar(t, &g.template)
        })
        .map(|(j, _)| j)
        .collect()
}

/// Build the expansion option of one group from its estimate.
pub fn option_from(
    group: GroupId,
    g: &NodeGroup,
    est: Estimate,
    cluster: &Cluster,
) -> ExpansionOption {
    let (mut cpu, mut mem) = (0i64, 0i64);
    for p in &est.pods {
        let r = &cluster.pod(*p).template.requests;
        cpu += r.cpu_m;
        mem += r.memory;
    }
    ExpansionOption {
        group,
        group_name: g.name.clone(),
        node_count: est.node_count,
        pods: est.pods,
        requested_cpu_m: cpu,
        requested_memory: mem,
        node_cpu_m: g.template.capacity.cpu_m,
        node_memory: g.template.capacity.memory,
    }
}

/// What `--cores-total` / `--memory-total` / `--gpu-total` leave (§3.2, §3.6).
struct ResourcesLeft {
    cores_m: i64,
    memory: i64,
    /// Per GPU type with a limit: GPUs left under its max.
    gpus: BTreeMap<String, i64>,
}

/// A node's GPU type for `--gpu-total`: its [`GPU_LABEL`] value, else the resource name.
fn gpu_type(labels: &asim_core::k8s::selector::Labels) -> &str {
    labels.get(GPU_LABEL).map_or(NVIDIA_GPU, String::as_str)
}

impl ResourcesLeft {
    /// The limits minus the groups' targets and the nodes CA does not manage.
    fn new(cluster: &Cluster, groups: &NodeGroups, flags: &Flags) -> ResourcesLeft {
        let (mut cores_m, mut mem) = (0i64, 0i64);
        let mut gpus: BTreeMap<String, i64> = flags
            .gpu_total
            .iter()
            .map(|(ty, (_, hi))| (ty.clone(), *hi))
            .collect();
        let mut take_gpus = |labels, n: i64| {
            if n > 0
                && let Some(left) = gpus.get_mut(gpu_type(labels))
            {
                *left -= n;
            }
        };
        for (_, g) in groups.iter() {
            let n = i64::from(g.target);
            cores_m += n * g.template.capacity.cpu_m;
            mem += n * g.template.capacity.memory;
            take_gpus(&g.template.labels, n * g.template.capacity.get(NVIDIA_GPU));
        }
        for node in cluster.nodes() {
            if groups.of_node(node).is_none() {
                cores_m += node.capacity.cpu_m;
                mem += node.capacity.memory;
                take_gpus(&node.labels, node.capacity.get(NVIDIA_GPU));
            }
        }
        ResourcesLeft {
            cores_m: flags.cores_total.1 * 1000 - cores_m,
            memory: flags.memory_total.1.saturating_mul(GIB) - mem,
            gpus,
        }
    }

    /// How many more nodes of `t` fit under the limits.
    fn max_new(&self, t: &Template) -> u32 {
        let per = |left: i64, each: i64| {
            if each <= 0 {
                u32::MAX
            } else {
                u32::try_from(left.max(0) / each).unwrap_or(u32::MAX)
            }
        };
        let mut n = per(self.cores_m, t.capacity.cpu_m).min(per(self.memory, t.capacity.memory));
        if let Some(left) = self.gpus.get(gpu_type(&t.labels)) {
            n = n.min(per(*left, t.capacity.get(NVIDIA_GPU)));
        }
        n
    }
}
