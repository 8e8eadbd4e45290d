//! cluster-autoscaler 1.36 on AWS (docs/model/cluster-autoscaler.md): node groups backed by Auto
//! Scaling groups (`nodegroup`), the cluster-state registry with upcoming nodes and backoff
//! (`clusterstate`), scale-up with equivalence groups, the binpacking estimator and balancing
//! (`scale_up`), expanders (`expander`) and scale-down (`scale_down`). This file holds the flags
//! and the control loop.
//!
//! ## The loop (§2.1, §2.2)
//! An iteration starts on the `--scan-interval` timer (measured from the end of the previous
//! iteration, as `time.After` in the real loop) or, with `--frequent-loops-enabled` (default
//! true, as in 1.35+), immediately after a productive iteration or when a pod becomes
//! Unschedulable (a signal that arrives while an iteration runs is buffered and starts the next
//! one at once). An iteration takes time (docs/model/latency.md §3 stage 1c: `LN(1 s, 0.6)` under
//! 100 nodes, `LN(5 s, 0.6)` above; simulator flag `sim-loop-duration` fixes it); its decisions
//! take effect at its end, and "too young" pod checks use its start.
//!
//! ## What is simplified
//! - Required pod *affinity* is not simulated in CA's own scheduling simulations (anti-affinity
//!   and `DoNotSchedule` spread are); pods needing it are assumed to fit.
//! - A drain retries blocked evictions every 5 s (CA: every 10 s) until
//!   `--max-pod-eviction-time` (2 min) after it began; then it fails as in §4.6 step 6: the node
//!   is untainted and uncordoned, pods already evicted stay evicted, and the node is not
//!   considered again for `--unremovable-node-recheck-timeout` (5 min, the FAQ's "extra 5
//!   minutes" after a failed removal, §7). As in CA, an asynchronous drain failure does not
//!   start `--scale-down-delay-after-failure`, which only a synchronous `StartDeletion` error
//!   sets (there is none in the simulator).
//! - `--scale-down-simulation-timeout`, `--max-binpacking-time`,
//!   `--max-nodegroup-binpacking-duration`, `--parallel-scale-up` and the other wall-clock or
//!   concurrency flags are accepted and checked but change nothing: a simulated loop has no
//!   compute budget to exceed.
//! - Empty-node and drained-node deletions are recorded under the report's `emptiness` and
//!   `consolidation` disruption keys, the closest Karpenter terms.

pub mod clusterstate;
pub mod config;
pub mod expander;
pub mod flags;
pub mod nodegroup;
pub mod scale_down;
pub mod scale_up;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Value, json};

use asim_cluster::autoscaler::{Autoscaler, Ctx, NodeEvent};
use asim_cluster::{Cluster, NodeId, NodeOwner, OwnerKind, PodId, PodPhase};
use asim_core::catalog::Catalog;
use asim_core::cloud::latency::Dist;
use asim_core::cloud::{InstanceId, Notice};
use asim_core::engine::SimTime;
use asim_core::k8s::duration::parse_duration;
use asim_core::k8s::resources::NVIDIA_GPU;
use asim_core::k8s::taints::{Taint, TaintEffect};

use clusterstate::{ClusterState, Readiness, RequestOutcome};
use expander::ExpanderChain;
use nodegroup::{DELETION_CANDIDATE_TAINT, NodeGroup, TO_BE_DELETED_TAINT};
use scale_down::{Candidate, Planner};
use scale_up::{PodGroup, Snapshot};

pub use config::{ClusterAutoscalerConfig, ConfigError, NodeGroupSpec};
pub use flags::Flags;

/// Hard-coded: the oldest pending pod must be this old before CA scales up (§2.4
/// `unschedulablePodTimeBuffer`), 30 s if a GPU pod is pending.
pub const NEW_POD_BUFFER_MS: u64 = 2_000;
pub const NEW_GPU_POD_BUFFER_MS: u64 = 30_000;
/// AWS ASG re-read interval (`refreshInterval`, §5.3).
pub const ASG_REFRESH_MS: u64 = 60_000;
/// Per-pod annotation that can only lengthen `--new-pod-scale-up-delay` (§2.4).
pub const POD_SCALE_UP_DELAY: &str = "cluster-autoscaler.kubernetes.io/pod-scale-up-delay";

const GIB: i64 = 1 << 30;

// ---- timers ----------------------------------------------------------------------------------

const T_WAKE: u64 = 1;
const T_RUN: u64 = 2;
const T_DELETE: u64 = 3;
const T_EVICTION_DEADLINE: u64 = 4;

fn token(kind: u64, payload: u64) -> u64 {
    (kind << 56) | (payload & ((1 << 56) - 1))
}

/// A node CA is deleting.
#[derive(Clone, Debug)]
struct Deleting {
    group: usize,
    drain: bool,
    reason: &'static str,
}

/// A planned scale-up, computed with the cluster borrowed, executed afterwards.
struct Plan {
    option: expander::ExpansionOption,
    chosen_by: &'static str,
    considered: Vec<Value>,
    split: Vec<(usize, u32)>,
    pending: usize,
}

/// cluster-autoscaler as an [`Autoscaler`].
pub struct ClusterAutoscaler {
    pub flags: Flags,
    chain: ExpanderChain,
    groups: Vec<NodeGroup>,
    by_name: BTreeMap<String, usize>,
    catalog: Arc<Catalog>,
    region: String,
    state: ClusterState,
    planner: Planner,
    generation: u64,
    running: bool,
    loop_start: SimTime,
    signal: bool,
    last_refresh: Option<SimTime>,
    force_refresh: bool,
    last_scale_up: Option<SimTime>,
    last_scale_down_delete: Option<SimTime>,
    last_scale_down_fail: Option<SimTime>,
    group_last_scale_up: Vec<Option<SimTime>>,
    group_last_delete: Vec<Option<SimTime>>,
    node_instance: BTreeMap<NodeId, InstanceId>,
    instance_node: BTreeMap<InstanceId, NodeId>,
    deleting: BTreeMap<NodeId, Deleting>,
    /// Instances CA terminated itself (unregistered ones); their shutdown lowers the target.
    terminating: BTreeSet<InstanceId>,
    soft_tainted: BTreeSet<NodeId>,
    counted: BTreeSet<PodId>,
    last_no_scale_up: Option<(usize, String)>,
    unhealthy: bool,
    decisions: Vec<String>,
}

impl ClusterAutoscaler {
    /// cluster-autoscaler with the flags and node groups of `config` (checked when the
    /// scenario was loaded).
    pub fn new(config: &ClusterAutoscalerConfig) -> Result<Self, ConfigError> {
        let (groups, by_name, chain) = config.build_groups()?;
        let flags = config.flags.clone();
        let n = groups.len();
        Ok(ClusterAutoscaler {
            state: ClusterState::new(n, flags.backoff),
            flags,
            chain,
            groups,
            by_name,
            catalog: Arc::clone(&config.catalog),
            region: config.region.clone(),
            planner: Planner::default(),
            generation: 0,
            running: false,
            loop_start: SimTime::ZERO,
            signal: false,
            last_refresh: None,
            force_refresh: true,
            last_scale_up: None,
            last_scale_down_delete: None,
            last_scale_down_fail: None,
            group_last_scale_up: vec![None; n],
            group_last_delete: vec![None; n],
            node_instance: BTreeMap::new(),
            instance_node: BTreeMap::new(),
            deleting: BTreeMap::new(),
            terminating: BTreeSet::new(),
            soft_tainted: BTreeSet::new(),
            counted: BTreeSet::new(),
            last_no_scale_up: None,
            unhealthy: false,
            decisions: Vec::new(),
        })
    }

    fn log(&mut self, now: SimTime, v: Value) {
        let mut obj = json!({ "t_s": now.as_secs_f64() });
        if let (Some(o), Value::Object(extra)) = (obj.as_object_mut(), v) {
            o.extend(extra);
        }
        self.decisions.push(obj.to_string());
    }

    // ---- the loop ------------------------------------------------------------------------

    fn start_loop(&mut self, ctx: &mut Ctx<'_>) {
        self.running = true;
        self.signal = false;
        self.loop_start = ctx.now;
        self.generation += 1;
        let d = match self.flags.loop_duration_ms {
            Some(d) => d,
            None => {
                // docs/model/latency.md §3 stage 1c.
                let median = if ctx.cluster().node_count() < 100 {
                    1_000
                } else {
                    5_000
                };
                Dist::lognormal_ms(median, 0.6).sample(ctx.rng())
            }
        };
        ctx.set_timer(ctx.now + d, token(T_RUN, self.generation));
    }

    fn end_loop(&mut self, ctx: &mut Ctx<'_>) {
        self.running = false;
        let productive = self.last_scale_up.is_some_and(|t| t >= self.loop_start)
            || self
                .last_scale_down_delete
                .is_some_and(|t| t >= self.loop_start);
        if self.flags.frequent_loops && (productive || self.signal) {
            self.start_loop(ctx);
        } else {
            self.generation += 1;
            ctx.set_timer(
                ctx.now + self.flags.scan_interval_ms,
                token(T_WAKE, self.generation),
            );
        }
    }

    /// One `RunOnce` (§2.2).
    fn run_once(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        let loop_start = self.loop_start;
        if !self.flags.scale_up_from_zero && !ctx.cluster().nodes().any(|n| n.ready) {
            return;
        }
        self.refresh_asgs(ctx);
        self.update_readiness(ctx);
        for g in &mut self.groups {
            g.refresh_template(ctx.cluster(), now, self.flags.node_info_cache_expire_ms);
        }
        self.update_requests(ctx);
        self.remove_old_unregistered(ctx);
        self.state.backoff.remove_stale(now);

        let healthy = self.state.is_healthy(
            self.flags.ok_total_unready_count,
            self.flags.max_total_unready_percentage,
        );
        if healthy == self.unhealthy {
            self.unhealthy = !healthy;
            self.log(
                now,
                json!({"event": if healthy {"cluster-healthy"} else {"cluster-unhealthy"}}),
            );
        }
        if !healthy {
            return;
        }
        if self.flags.enforce_node_group_min_size {
            for i in 0..self.groups.len() {
                let g = &self.groups[i];
                if g.exists && g.target < g.min_size {
                    let (name, min) = (g.name.clone(), g.min_size);
                    if ctx.set_desired_capacity(&name, min).is_ok() {
                        self.groups[i].target = min;
                        self.groups[i].last_set_desired_ms = Some(now.0);
                    }
                }
            }
        }

        // Scale-up.
        let mut scaled_up = false;
        let mut all_new = false;
        let mut rounds = 0;
        loop {
            rounds += 1;
            match self.plan_scale_up(ctx, loop_start) {
                PlanResult::Nothing => break,
                PlanResult::AllNew => {
                    all_new = true;
                    break;
                }
                PlanResult::Plan(plan) => {
                    if self.execute_scale_up(ctx, plan) {
                        scaled_up = true;
                    }
                    if !self.flags.salvo_scale_up || rounds >= self.groups.len() {
                        break;
                    }
                }
            }
        }

        // Scale-down: the planner always runs; actuation only outside cooldown (§4.1).
        if self.flags.scale_down_enabled {
            self.plan_scale_down(ctx);
            self.update_soft_taints(ctx);
            let cooldown = scaled_up || all_new || self.global_cooldown(now);
            if !cooldown {
                self.actuate_scale_down(ctx);
            }
        }
    }

    // ---- cloud-provider refresh and cluster state -----------------------------------------

    /// `AwsManager.Refresh` (§5.3, §5.4): every 60 s (or after a deletion), re-read the ASGs;
    /// a failed scaling activity newer than CA's last SetDesiredCapacity turns the missing
    /// instances into `placeholder-cannot-be-fulfilled`: the group is backed off and its desired
    /// capacity is put back to the instances it has.
    fn refresh_asgs(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        let due = self.force_refresh
            || self
                .last_refresh
                .is_none_or(|t| now.since(t) >= ASG_REFRESH_MS);
        if !due {
            return;
        }
        self.force_refresh = false;
        self.last_refresh = Some(now);
        for i in 0..self.groups.len() {
            if !self.groups[i].exists {
                continue;
            }
            let Some(view) = ctx.describe_asg(&self.groups[i].name) else {
                continue;
            };
            let g = &mut self.groups[i];
            g.target = view.desired;
            g.instances = view.instances.clone();
            let missing = view.desired as usize > view.instances.len();
            let failed = view
                .last_failed_activity_ms
                .is_some_and(|f| f >= g.last_set_desired_ms.unwrap_or(0));
            if missing && failed {
                let placeholders = view.desired as usize - view.instances.len();
                let to = (view.instances.len() as u32).max(g.min_size);
                let name = g.name.clone();
                let backoff = self.state.register_failed_scale_up(i, now);
                if ctx.set_desired_capacity(&name, to).is_ok() {
                    self.groups[i].target = to;
                    self.groups[i].last_set_desired_ms = Some(now.0);
                }
                self.log(
                    now,
                    json!({"event": "scale-up-failed", "group": name, "reason": "OutOfResources",
                           "placeholders": placeholders, "target": to,
                           "backoff_s": backoff / 1000}),
                );
            }
        }
        let groups = &self.groups;
        self.terminating
            .retain(|id| groups.iter().any(|g| g.instances.contains(id)));
    }

    fn group_of(&self, owner: &NodeOwner) -> Option<usize> {
        match owner {
            NodeOwner::NodeGroup(name) => self.by_name.get(name).copied(),
            _ => None,
        }
    }

    /// `updateReadinessStats` per group.
    fn update_readiness(&mut self, ctx: &Ctx<'_>) {
        let now = ctx.now;
        let mut r = vec![Readiness::default(); self.groups.len()];
        for n in ctx.cluster().nodes() {
            let Some(g) = self.group_of(&n.owner) else {
                continue;
            };
            if n.ready || n.deleting {
                r[g].ready += 1;
            } else if now.since(n.created_at) < self.flags.max_node_startup_ms {
                r[g].not_started += 1;
            } else {
                r[g].unready += 1;
            }
        }
        for (gi, g) in self.groups.iter().enumerate() {
            for id in &g.instances {
                if self.instance_node.contains_key(id) {
                    continue;
                }
                let old = ctx.instance(*id).is_some_and(|v| {
                    v.state.is_live()
                        && now.0.saturating_sub(v.launched_at_ms) > g.max_node_provision_ms
                });
                if old {
                    r[gi].long_unregistered += 1;
                }
            }
        }
        self.state.readiness = r;
    }

    /// `updateScaleRequests` (§3.7, §3.8): a timed-out scale-up backs the group off and, as in
    /// 1.36, takes the outstanding increase back off the target.
    fn update_requests(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        let targets: Vec<u32> = self.groups.iter().map(|g| g.target).collect();
        let state = &self.state;
        let upcoming: Vec<u32> = (0..self.groups.len())
            .map(|g| state.upcoming(g, targets[g], now))
            .collect();
        let outcomes = self
            .state
            .update_scale_requests(now, |g| upcoming.get(g).copied().unwrap_or(0));
        for (g, outcome) in outcomes {
            if let RequestOutcome::TimedOut { outstanding } = outcome {
                let backoff = self.state.backoff.backoff(g, now);
                let grp = &self.groups[g];
                let to = grp.target.saturating_sub(outstanding).max(grp.min_size);
                let name = grp.name.clone();
                if ctx.set_desired_capacity(&name, to).is_ok() {
                    self.groups[g].target = to;
                    self.groups[g].last_set_desired_ms = Some(now.0);
                }
                self.log(
                    now,
                    json!({"event": "scale-up-failed", "group": name, "reason": "timeout",
                           "outstanding": outstanding, "target": to, "backoff_s": backoff / 1000}),
                );
            }
        }
    }

    /// `removeOldUnregisteredNodes` (§2.2 step 5): instances that never registered within
    /// `max-node-provision-time` are terminated, min size respected.
    fn remove_old_unregistered(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        for gi in 0..self.groups.len() {
            let old: Vec<InstanceId> = {
                let g = &self.groups[gi];
                g.instances
                    .iter()
                    .copied()
                    .filter(|id| {
                        !self.instance_node.contains_key(id)
                            && !self.terminating.contains(id)
                            && ctx.instance(*id).is_some_and(|v| {
                                v.state.is_live()
                                    && now.0.saturating_sub(v.launched_at_ms)
                                        > g.max_node_provision_ms
                            })
                    })
                    .collect()
            };
            for id in old {
                let g = &self.groups[gi];
                if g.target <= g.min_size {
                    break;
                }
                let name = g.name.clone();
                if ctx.terminate_instance_in_asg(id, true).is_ok() {
                    // DeleteInstances decrements the cached size and forces a refresh (§5.5).
                    self.terminating.insert(id);
                    let g = &mut self.groups[gi];
                    g.target = g.target.saturating_sub(1);
                    self.force_refresh = true;
                    self.log(
                        now,
                        json!({"event": "unregistered-node-removed", "group": name, "instance": id.to_string()}),
                    );
                }
            }
        }
    }

    // ---- scale-up --------------------------------------------------------------------------

    fn plan_scale_up(&mut self, ctx: &mut Ctx<'_>, loop_start: SimTime) -> PlanResult {
        let now = ctx.now;
        let (cluster, rng) = ctx.cluster_and_rng();
        let cutoff = self.flags.expendable_pods_priority_cutoff;
        let mut pending: Vec<PodId> = cluster
            .pending_pods()
            .filter(|p| {
                let pod = cluster.pod(*p);
                pod.phase == PodPhase::Pending
                    && pod.unschedulable_since.is_some()
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
        let mut snap = Snapshot::from_cluster(cluster);
        let mut upcoming_total = 0u32;
        for (i, g) in self.groups.iter().enumerate() {
            let u = self.state.upcoming(i, g.target, now);
            upcoming_total += u;
            snap.add_template_nodes(&g.template, &format!("upcoming-{}", g.name), u);
        }
        let groups = scale_up::equivalence_groups(cluster, &pending);
        let (remaining, _absorbed) = scale_up::filter_out_schedulable(&mut snap, cluster, groups);
        // filterOutYoungPods.
        let delay = self.flags.new_pod_scale_up_delay_ms;
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
        if self.flags.max_nodes_total > 0 && ready_nodes >= self.flags.max_nodes_total {
            self.note_no_scale_up(now, n_pending, "MaxNodesTotalReached");
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
        let cluster_left = if self.flags.max_nodes_total > 0 {
            Some(
                self.flags
                    .max_nodes_total
                    .saturating_sub(registered + upcoming_total),
            )
        } else {
            None
        };
        let left = self.resources_left(cluster);

        let mut considered = Vec::new();
        let mut options = Vec::new();
        for (i, g) in self.groups.iter().enumerate() {
            let mut entry = json!({"group": g.name, "target": g.target, "max": g.max_size});
            let reason = if !g.exists {
                Some("NotCreated")
            } else if self.state.backoff.is_backed_off(i, now) {
                Some("BackedOff")
            } else if g.target >= g.max_size {
                Some("MaxSizeReached")
            } else if left.max_new(&g.template) == 0 {
                Some("MaxResourceLimitReached")
            } else {
                None
            };
            if let Some(r) = reason {
                entry["skipped"] = json!(r);
                considered.push(entry);
                continue;
            }
            let fitting: Vec<&PodGroup<'_>> = remaining
                .iter()
                .filter(|pg| scale_up::fits_empty_template(pg.template, &g.template))
                .collect();
            if fitting.is_empty() {
                entry["skipped"] = json!("NotTriggerScaleUp");
                considered.push(entry);
                continue;
            }
            let mut cap = g.max_size - g.target;
            if self.flags.balance_similar_node_groups {
                for j in self.similar_groups(i, now) {
                    cap += self.groups[j].max_size - self.groups[j].target;
                }
            }
            let mut limit = self.flags.max_nodes_per_scaleup.min(cap);
            if let Some(c) = cluster_left {
                limit = limit.min(c);
            }
            let est = scale_up::estimate(
                &g.template,
                &g.name,
                &fitting,
                &snap,
                cluster,
                limit,
                self.flags.fastpath_binpacking,
            );
            entry["nodes"] = json!(est.node_count);
            entry["pods"] = json!(est.pods.len());
            considered.push(entry);
            if est.node_count > 0 {
                options.push(scale_up::option_from(i, g, est, cluster));
            }
        }
        if options.is_empty() {
            self.note_no_scale_up(now, n_pending, "NoNodeGroupCanHelp");
            return PlanResult::Nothing;
        }
        let Some((best, chosen_by)) = self.chain.best_option(&options, rng) else {
            self.note_no_scale_up(now, n_pending, "ExpanderFilteredAll");
            return PlanResult::Nothing;
        };
        let option = options.swap_remove(best);
        let gi = option.group;
        let mut count = option.node_count;
        if let Some(c) = cluster_left {
            count = count.min(c);
        }
        count = count.min(left.max_new(&self.groups[gi].template));
        let split = if self.flags.balance_similar_node_groups {
            let mut members = vec![gi];
            for j in self.similar_groups(gi, now) {
                let tj = &self.groups[j].template;
                // A similar group must be able to run the same pods (§3.5).
                let same = remaining
                    .iter()
                    .filter(|pg| {
                        scale_up::fits_empty_template(pg.template, &self.groups[gi].template)
                    })
                    .all(|pg| scale_up::fits_empty_template(pg.template, tj));
                if same {
                    members.push(j);
                }
            }
            scale_up::balance(&self.groups, &members, count)
        } else {
            let g = &self.groups[gi];
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

    fn note_no_scale_up(&mut self, now: SimTime, pods: usize, reason: &str) {
        let key = (pods, reason.to_string());
        if self.last_no_scale_up.as_ref() != Some(&key) {
            self.last_no_scale_up = Some(key);
            self.log(
                now,
                json!({"event": "no-scale-up", "reason": reason, "pods": pods}),
            );
        }
    }

    /// Groups similar to `gi` that are not backed off and below max (§3.5).
    fn similar_groups(&self, gi: usize, now: SimTime) -> Vec<usize> {
        let t = &self.groups[gi].template;
        (0..self.groups.len())
            .filter(|&j| {
                j != gi
                    && self.groups[j].exists
                    && !self.state.backoff.is_backed_off(j, now)
                    && self.groups[j].target < self.groups[j].max_size
                    && self.flags.similarity.similar(t, &self.groups[j].template)
            })
            .collect()
    }

    fn resources_left(&self, cluster: &Cluster) -> ResourcesLeft {
        let (mut cores_m, mut mem, mut gpus) = (0i64, 0i64, 0i64);
        for g in &self.groups {
            let n = i64::from(g.target);
            cores_m += n * g.template.capacity.cpu_m;
            mem += n * g.template.capacity.memory;
            gpus += n * g.template.capacity.get(NVIDIA_GPU);
        }
        for node in cluster.nodes() {
            if self.group_of(&node.owner).is_none() {
                cores_m += node.capacity.cpu_m;
                mem += node.capacity.memory;
                gpus += node.capacity.get(NVIDIA_GPU);
            }
        }
        ResourcesLeft {
            cores_m: self.flags.cores_total.1 * 1000 - cores_m,
            memory: self.flags.memory_total.1.saturating_mul(GIB) - mem,
            gpus: self.flags.gpu_total.map(|(_, hi)| hi - gpus),
        }
    }

    fn execute_scale_up(&mut self, ctx: &mut Ctx<'_>, plan: Plan) -> bool {
        let now = ctx.now;
        let mut done = Vec::new();
        for &(g, delta) in &plan.split {
            if delta == 0 {
                continue;
            }
            let (name, from) = (self.groups[g].name.clone(), self.groups[g].target);
            let to = from + delta;
            match ctx.set_desired_capacity(&name, to) {
                Ok(()) => {
                    let grp = &mut self.groups[g];
                    grp.target = to;
                    grp.last_set_desired_ms = Some(now.0);
                    let provision = grp.max_node_provision_ms;
                    self.state.register_scale_up(g, delta, now, provision);
                    self.group_last_scale_up[g] = Some(now);
                    done.push(json!({"group": name, "from": from, "to": to}));
                }
                Err(e) => {
                    // An IncreaseSize error is a failed scale-up (§3.8 source 1).
                    let backoff = self.state.register_failed_scale_up(g, now);
                    self.log(
                        now,
                        json!({"event": "scale-up-failed", "group": name, "reason": "CloudProviderError",
                               "error": e.to_string(), "backoff_s": backoff / 1000}),
                    );
                }
            }
        }
        if done.is_empty() {
            return false;
        }
        self.last_scale_up = Some(now);
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
        self.log(
            now,
            json!({
                "event": "scale-up",
                "group": o.group_name,
                "nodes": o.node_count,
                "expander": self.flags.expander,
                "chosen_by": plan.chosen_by,
                "pods_pending": plan.pending,
                "pods_helped": o.pods.len(),
                "waste": expander::waste_score(o),
                "groups": done,
                "considered": plan.considered,
                "decision_latency_s": {"pods": lat.len(), "mean": mean, "max": max},
            }),
        );
        true
    }

    // ---- scale-down ------------------------------------------------------------------------

    fn candidates(&self, ctx: &Ctx<'_>) -> Vec<Candidate> {
        let now = ctx.now;
        let mut out = Vec::new();
        for n in ctx.cluster().nodes() {
            let Some(g) = self.group_of(&n.owner) else {
                continue;
            };
            if n.deleting || self.deleting.contains_key(&n.id) {
                continue;
            }
            // NotStarted nodes are upcoming, not candidates (§2.2 step 8).
            if !n.ready && now.since(n.created_at) < self.flags.max_node_startup_ms {
                continue;
            }
            if self.groups[g].target <= self.groups[g].min_size {
                continue;
            }
            out.push(Candidate {
                node: n.id,
                group: g,
            });
        }
        out
    }

    fn plan_scale_down(&mut self, ctx: &Ctx<'_>) {
        let candidates = self.candidates(ctx);
        self.planner
            .update(ctx.cluster(), &candidates, &self.flags.scale_down, ctx.now);
    }

    /// Soft `DeletionCandidateOfClusterAutoscaler` taints on unneeded nodes, at most
    /// `--max-bulk-soft-taint-count` new ones per loop; removed once a node is needed (§4.5).
    fn update_soft_taints(&mut self, ctx: &mut Ctx<'_>) {
        let stale: Vec<NodeId> = self
            .soft_tainted
            .iter()
            .copied()
            .filter(|n| !self.planner.unneeded.contains_key(n))
            .collect();
        for n in stale {
            self.soft_tainted.remove(&n);
            ctx.untaint(n, |t| t.key == DELETION_CANDIDATE_TAINT);
        }
        let mut added = 0;
        let unneeded: Vec<NodeId> = self.planner.unneeded.keys().copied().collect();
        for n in unneeded {
            if added >= self.flags.max_bulk_soft_taint_count {
                break;
            }
            if self.soft_tainted.contains(&n) {
                continue;
            }
            if let Some(node) = ctx.patch_node(n) {
                node.taints.push(Taint::new(
                    DELETION_CANDIDATE_TAINT,
                    None,
                    TaintEffect::PreferNoSchedule,
                ));
                self.soft_tainted.insert(n);
                added += 1;
            }
        }
    }

    fn global_cooldown(&self, now: SimTime) -> bool {
        if self.flags.delay_type_local {
            return false;
        }
        let within = |t: Option<SimTime>, d: u64| t.is_some_and(|t| now < t + d);
        within(self.last_scale_up, self.flags.delay_after_add_ms)
            || within(self.last_scale_down_fail, self.flags.delay_after_failure_ms)
            || within(
                self.last_scale_down_delete,
                self.flags.delay_after_delete_ms,
            )
    }

    fn group_cooldown(&self, g: usize, now: SimTime) -> bool {
        if !self.flags.delay_type_local {
            return false;
        }
        let within = |t: Option<SimTime>, d: u64| t.is_some_and(|t| now < t + d);
        within(self.group_last_scale_up[g], self.flags.delay_after_add_ms)
            || within(self.group_last_delete[g], self.flags.delay_after_delete_ms)
    }

    /// `NodesToDelete` + budgets (§4.4, §4.5): empty nodes first up to the parallelism left,
    /// then at most `--max-drain-parallelism` drains in flight; min sizes respected.
    fn actuate_scale_down(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        let s = &self.flags.scale_down;
        let removable = self.planner.removable_now(s, now);
        if removable.is_empty() {
            return;
        }
        let in_progress = self.deleting.len() as u32;
        let drains = self.deleting.values().filter(|d| d.drain).count() as u32;
        let mut left = s.max_scale_down_parallelism.saturating_sub(in_progress);
        let mut size: Vec<i64> = self.groups.iter().map(|g| i64::from(g.target)).collect();
        for d in self.deleting.values() {
            size[d.group] -= 1;
        }
        let mut chosen: Vec<(NodeId, usize, bool, f64, u64)> = Vec::new();
        let mut empty_taken = 0u32;
        for (node, u) in removable.iter().filter(|(_, u)| u.empty) {
            if left == 0 || s.max_empty_bulk_delete.is_some_and(|m| empty_taken >= m) {
                break;
            }
            let g = u.group;
            if size[g] - 1 < i64::from(self.groups[g].min_size) || self.group_cooldown(g, now) {
                continue;
            }
            size[g] -= 1;
            left -= 1;
            empty_taken += 1;
            chosen.push((*node, g, false, u.utilization, now.since(u.since)));
        }
        let mut drain_left = left.min(s.max_drain_parallelism.saturating_sub(drains));
        for (node, u) in removable.iter().filter(|(_, u)| !u.empty) {
            if drain_left == 0 {
                break;
            }
            let g = u.group;
            if size[g] - 1 < i64::from(self.groups[g].min_size) || self.group_cooldown(g, now) {
                continue;
            }
            size[g] -= 1;
            drain_left -= 1;
            chosen.push((*node, g, true, u.utilization, now.since(u.since)));
        }
        for (node, g, drain, util, unneeded_ms) in chosen {
            let Some(n) = ctx.patch_node(node) else {
                continue;
            };
            // Taint synchronously before anything is drained (§4.6 step 1).
            n.taints.retain(|t| t.key != DELETION_CANDIDATE_TAINT);
            n.taints.push(Taint::new(
                TO_BE_DELETED_TAINT,
                None,
                TaintEffect::NoSchedule,
            ));
            if self.flags.cordon_node_before_terminating {
                n.unschedulable = true;
            }
            let name = n.name.clone();
            self.soft_tainted.remove(&node);
            self.planner.forget(node);
            let reason = if drain { "consolidation" } else { "emptiness" };
            self.deleting.insert(
                node,
                Deleting {
                    group: g,
                    drain,
                    reason,
                },
            );
            self.last_scale_down_delete = Some(now);
            self.group_last_delete[g] = Some(now);
            ctx.set_timer(
                now + self.flags.node_delete_delay_after_taint_ms,
                token(T_DELETE, u64::from(node.0)),
            );
            let group = self.groups[g].name.clone();
            self.log(
                now,
                json!({"event": "scale-down", "node": name, "group": group,
                       "kind": if drain {"drain"} else {"empty"},
                       "utilization": util, "unneeded_s": unneeded_ms / 1000}),
            );
        }
    }

    /// After `--node-delete-delay-after-taint`: an empty node that got pods meanwhile is given
    /// back; otherwise the simulator drains it (grace capped at
    /// `--max-graceful-termination-sec`) and terminates its instance in the ASG.
    fn delete_after_taint(&mut self, ctx: &mut Ctx<'_>, node: NodeId) {
        let Some(d) = self.deleting.get(&node).cloned() else {
            return;
        };
        let Some(n) = ctx.cluster().node(node) else {
            self.deleting.remove(&node);
            return;
        };
        if !d.drain {
            let cluster: &Cluster = ctx.cluster();
            let got_pods = n.pods.iter().any(|p| {
                let pod = cluster.pod(*p);
                pod.is_active() && pod.owner != OwnerKind::DaemonSet && pod.owner != OwnerKind::Node
            });
            if got_pods {
                let name = n.name.clone();
                ctx.untaint(node, |t| t.key == TO_BE_DELETED_TAINT);
                ctx.uncordon(node);
                self.deleting.remove(&node);
                self.log(
                    ctx.now,
                    json!({"event": "scale-down-aborted", "node": name, "reason": "pods arrived"}),
                );
                return;
            }
        }
        ctx.delete_node_with_grace(node, d.reason, self.flags.max_graceful_termination_ms);
        if d.drain {
            // Evictions are retried until `--max-pod-eviction-time` (§4.6 step 3).
            ctx.set_timer(
                ctx.now + self.flags.max_pod_eviction_ms,
                token(T_EVICTION_DEADLINE, u64::from(node.0)),
            );
        }
    }

    /// `--max-pod-eviction-time` after a drain began: if a pod is still not evicted (its PDB
    /// allowed no disruption the whole time), the drain fails — `AbortNodeDeletion` /
    /// `CleanUpAndRecordFailedScaleDownEvent` (§4.6 step 6): the `ToBeDeletedByClusterAutoscaler`
    /// taint goes, the node is uncordoned and kept, and the next loop judges it afresh.
    fn check_eviction_deadline(&mut self, ctx: &mut Ctx<'_>, node: NodeId) {
        if !self.deleting.get(&node).is_some_and(|d| d.drain) {
            return;
        }
        let Some(n) = ctx.cluster().node(node) else {
            return;
        };
        let cluster: &Cluster = ctx.cluster();
        let stuck: Vec<String> = n
            .pods
            .iter()
            .map(|p| cluster.pod(*p))
            .filter(|p| {
                p.is_active() && p.phase != PodPhase::Terminating && p.owner != OwnerKind::DaemonSet
            })
            .map(|p| format!("{}/{}", p.namespace(), p.name))
            .collect();
        if stuck.is_empty() {
            // Every pod was evicted: what is left is waiting for them to terminate.
            return;
        }
        let name = n.name.clone();
        ctx.abort_drain(node);
        ctx.untaint(node, |t| t.key == TO_BE_DELETED_TAINT);
        ctx.uncordon(node);
        let d = self.deleting.remove(&node);
        let group = d.map(|d| self.groups[d.group].name.clone());
        // FAQ: after a failed attempt to remove a node CA waits an extra 5 minutes before
        // considering it again (§4.6, §7: the unremovable-node recheck timeout).
        let recheck = ctx.now + self.flags.scale_down.unremovable_recheck_ms;
        self.planner
            .unremovable
            .insert(node, (recheck, scale_down::Blocker::RecentlyUnremovable));
        self.log(
            ctx.now,
            json!({"event": "scale-down-failed", "node": name, "group": group,
                   "reason": "pods not evicted within max-pod-eviction-time", "pods": stuck}),
        );
    }
}

enum PlanResult {
    Nothing,
    AllNew,
    Plan(Plan),
}

/// What `--cores-total` / `--memory-total` / `--gpu-total` leave (§3.2, §3.6).
struct ResourcesLeft {
    cores_m: i64,
    memory: i64,
    gpus: Option<i64>,
}

impl ResourcesLeft {
    /// How many more nodes of `t` fit under the limits.
    fn max_new(&self, t: &nodegroup::Template) -> u32 {
        let per = |left: i64, each: i64| {
            if each <= 0 {
                u32::MAX
            } else {
                u32::try_from(left.max(0) / each).unwrap_or(u32::MAX)
            }
        };
        let mut n = per(self.cores_m, t.capacity.cpu_m).min(per(self.memory, t.capacity.memory));
        if let Some(g) = self.gpus {
            n = n.min(per(g, t.capacity.get(NVIDIA_GPU)));
        }
        n
    }
}

/// Escape regex metacharacters of a node-group name.
pub(crate) fn escape_regex(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_punctuation() && c != '_' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Autoscaler for ClusterAutoscaler {
    fn name(&self) -> &'static str {
        "cluster-autoscaler"
    }

    fn rng_stream(&self) -> asim_core::engine::Stream {
        asim_core::engine::Stream::ClusterAutoscaler
    }

    fn start(&mut self, ctx: &mut Ctx<'_>) {
        for i in 0..self.groups.len() {
            let spec = self.groups[i].asg_spec();
            let name = spec.name.clone();
            match ctx.create_asg(spec) {
                Ok(()) => self.groups[i].exists = true,
                Err(e) => {
                    self.log(
                        ctx.now,
                        json!({"event": "node-group-error", "group": name, "error": e.to_string()}),
                    );
                }
            }
        }
        let groups: Vec<Value> = self
            .groups
            .iter()
            .map(|g| {
                json!({"group": g.name, "template": g.asg_template.instance_type,
                       "template_zone": g.asg_template.zone, "min": g.min_size, "max": g.max_size,
                       "capacity_type": g.capacity_type.as_str()})
            })
            .collect();
        let f = &self.flags;
        let cfg = json!({"event": "start", "expander": f.expander,
            "scan_interval_s": f.scan_interval_ms / 1000, "frequent_loops": f.frequent_loops,
            "balance_similar_node_groups": f.balance_similar_node_groups, "node_groups": groups});
        self.log(ctx.now, cfg);
        self.start_loop(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, tok: u64) {
        let kind = tok >> 56;
        let payload = tok & ((1 << 56) - 1);
        match kind {
            T_WAKE if payload == self.generation && !self.running => self.start_loop(ctx),
            T_RUN if payload == self.generation && self.running => {
                self.run_once(ctx);
                self.end_loop(ctx);
            }
            T_DELETE => {
                if let Ok(n) = u32::try_from(payload) {
                    self.delete_after_taint(ctx, NodeId(n));
                }
            }
            T_EVICTION_DEADLINE => {
                if let Ok(n) = u32::try_from(payload) {
                    self.check_eviction_deadline(ctx, NodeId(n));
                }
            }
            _ => {}
        }
    }

    fn on_pods_unschedulable(&mut self, ctx: &mut Ctx<'_>, _pods: &[PodId]) {
        // The pod observer of frequent loops (§2.1): start now, or right after this iteration.
        if !self.flags.frequent_loops {
            return;
        }
        if self.running {
            self.signal = true;
        } else {
            self.start_loop(ctx);
        }
    }

    fn on_cloud_notice(&mut self, ctx: &mut Ctx<'_>, notice: &Notice) {
        // A new ASG instance will register as a node of its group (the launch template's
        // kubelet labels and taints).
        if let Notice::AsgInstanceLaunched { asg, instance } = notice {
            let Some(&g) = self.by_name.get(asg) else {
                return;
            };
            let Some(itype) = ctx
                .instance(*instance)
                .map(|v| v.pool.instance_type.clone())
            else {
                return;
            };
            if let Some(bp) =
                self.groups[g].blueprint(*instance, &itype, &self.catalog, &self.region)
            {
                ctx.expect_node(*instance, bp);
            }
        }
    }

    fn on_node_event(&mut self, ctx: &mut Ctx<'_>, node: NodeId, event: NodeEvent) {
        match event {
            NodeEvent::Registered => {
                let Some(n) = ctx.cluster().node(node) else {
                    return;
                };
                if self.group_of(&n.owner).is_none() {
                    return;
                }
                if let Some(i) = n.instance {
                    self.node_instance.insert(node, InstanceId(i));
                    self.instance_node.insert(InstanceId(i), node);
                }
            }
            NodeEvent::Ready => {}
            NodeEvent::Deleted => {
                if let Some(i) = self.node_instance.remove(&node) {
                    self.instance_node.remove(&i);
                }
                // A node CA deleted: the simulator terminated its instance with the ASG's
                // desired-capacity decrement (DeleteInstances, §5.5), so CA's cached size goes
                // down and the next loop re-reads the group.
                if let Some(d) = self.deleting.remove(&node) {
                    let g = &mut self.groups[d.group];
                    g.target = g.target.saturating_sub(1).max(g.min_size);
                    self.force_refresh = true;
                }
                self.soft_tainted.remove(&node);
                self.planner.forget(node);
            }
        }
    }

    fn decisions(&self) -> &[String] {
        &self.decisions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn escape_regex_escapes_dots() {
        assert_eq!(escape_regex("ng.m5-large_a"), "ng\\.m5\\-large_a");
    }
}
