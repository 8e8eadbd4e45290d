//! The control loop (docs/model/cluster-autoscaler.md; cluster-autoscaler:
//! core/static_autoscaler.go): when an iteration starts
//! and ends, and `RunOnce` itself — refresh the cloud provider's view and the cluster-state
//! registry, then scale up (`scale_up`), then plan and actuate scale-down (`scale_down`).
//!
//! ## The loop (§2.1, §2.2)
//! An iteration starts on the `--scan-interval` timer (measured from the end of the previous
//! iteration, as `time.After` in the real loop) or, with `--frequent-loops-enabled` (default
//! true, as in 1.35+), immediately after a productive iteration or when a pod becomes
//! Unschedulable (a signal that arrives while an iteration runs is buffered and starts the next
//! one at once). An iteration takes time (docs/model/latency.md §3 stage 1c: `LN(1 s, 0.6)` under
//! 100 nodes, `LN(5 s, 0.6)` above; simulator flag `sim-loop-duration` fixes it); its decisions
//! take effect at its end, and "too young" pod checks use its start.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use asim_cluster::NodeId;
use asim_cluster::autoscaler::Ctx;
use asim_core::catalog::Catalog;
use asim_core::cloud::InstanceId;
use asim_core::cloud::latency::Dist;
use asim_core::engine::SimTime;
use asim_core::hash::FastMap;

use crate::clusterstate::{ClusterState, Readiness, RequestOutcome};
use crate::config::ClusterAutoscalerConfig;
use crate::decision::{Decision, DecisionLog, GroupSummary, ScaleUpFailure};
use crate::error::ConfigError;
use crate::flags::Flags;
use crate::nodegroup::NodeGroups;
use crate::scale_down::{self, Actuator, Planner};
use crate::scale_up::Orchestrator;
use crate::status::NoScaleDownStatus;
use crate::timer::Timer;

/// AWS ASG re-read interval (`refreshInterval`, §5.3).
pub const ASG_REFRESH_MS: u64 = 60_000;

/// cluster-autoscaler's whole state (`StaticAutoscaler`).
pub struct StaticAutoscaler {
    pub flags: Flags,
    groups: NodeGroups,
    catalog: Arc<Catalog>,
    region: String,
    state: ClusterState,
    scale_up: Orchestrator,
    planner: Planner,
    actuator: Actuator,
    status: NoScaleDownStatus,
    log: DecisionLog,
    /// Bumped whenever a loop timer is set, so that a superseded one is ignored.
    generation: u64,
    running: bool,
    loop_start: SimTime,
    /// A pod became Unschedulable while an iteration ran (§2.1).
    signal: bool,
    last_refresh: Option<SimTime>,
    force_refresh: bool,
    last_scale_up: Option<SimTime>,
    last_scale_down_delete: Option<SimTime>,
    /// Set only by a synchronous deletion error, which the simulator never has (crate docs).
    last_scale_down_fail: Option<SimTime>,
    node_instance: BTreeMap<NodeId, InstanceId>,
    /// Only looked up (every group instance, every loop): hashed.
    instance_node: FastMap<InstanceId, NodeId>,
    /// Instances CA terminated itself (unregistered ones); their shutdown lowers the target.
    terminating: BTreeSet<InstanceId>,
    unhealthy: bool,
}

impl StaticAutoscaler {
    /// cluster-autoscaler with the flags and node groups of `config` (checked when the
    /// scenario was loaded).
    pub fn new(config: &ClusterAutoscalerConfig) -> Result<Self, ConfigError> {
        let (groups, chain) = config.build_groups()?;
        let flags = config.flags.clone();
        Ok(StaticAutoscaler {
            state: ClusterState::new(groups.len(), flags.backoff),
            flags,
            groups,
            catalog: Arc::clone(&config.catalog),
            region: config.region.clone(),
            scale_up: Orchestrator::new(chain),
            planner: Planner::default(),
            actuator: Actuator::default(),
            status: NoScaleDownStatus::default(),
            log: DecisionLog::default(),
            generation: 0,
            running: false,
            loop_start: SimTime::ZERO,
            signal: false,
            last_refresh: None,
            force_refresh: true,
            last_scale_up: None,
            last_scale_down_delete: None,
            last_scale_down_fail: None,
            node_instance: BTreeMap::new(),
            instance_node: FastMap::default(),
            terminating: BTreeSet::new(),
            unhealthy: false,
        })
    }

    pub fn decisions(&self) -> &asim_cluster::autoscaler::DecisionLines {
        self.log.lines()
    }

    /// Write an event of a controller riding with CA (the termination handler) to its log.
    pub fn log(&mut self, now: SimTime, d: Decision) {
        self.log.log(now, d);
    }

    /// Create the ASGs, log the configuration, start the first iteration.
    pub fn start(&mut self, ctx: &mut Ctx<'_>) {
        for id in self.groups.ids() {
            let spec = self.groups[id].asg_spec();
            let name = spec.name.clone();
            match ctx.create_asg(spec) {
                Ok(()) => self.groups[id].exists = true,
                Err(e) => self.log.log(
                    ctx.now,
                    Decision::NodeGroupError {
                        group: name,
                        error: e.to_string(),
                    },
                ),
            }
        }
        let node_groups = self
            .groups
            .iter()
            .map(|(_, g)| GroupSummary {
                group: g.name.clone(),
                template: g.asg_template.instance_type.clone(),
                template_zone: g.asg_template.zone.clone(),
                min: g.min_size,
                max: g.max_size,
                capacity_type: g.capacity_type.as_str(),
            })
            .collect();
        let f = &self.flags;
        let start = Decision::Start {
            expander: f.expander.clone(),
            scan_interval_s: f.scan_interval_ms / 1000,
            frequent_loops: f.frequent_loops,
            balance_similar_node_groups: f.balance_similar_node_groups,
            node_groups,
        };
        self.log.log(ctx.now, start);
        self.start_loop(ctx);
    }

    // ---- the loop ------------------------------------------------------------------------

    /// [`Timer::Wake`]: the scan interval is over.
    pub fn wake(&mut self, ctx: &mut Ctx<'_>, generation: u64) {
        if generation == self.generation && !self.running {
            self.start_loop(ctx);
        }
    }

    /// [`Timer::Run`]: the iteration has taken its time; its decisions take effect now.
    pub fn run(&mut self, ctx: &mut Ctx<'_>, generation: u64) {
        if generation == self.generation && self.running {
            self.run_once(ctx);
            self.end_loop(ctx);
        }
    }

    /// The pod observer of frequent loops (§2.1): start now, or right after this iteration.
    pub fn pods_unschedulable(&mut self, ctx: &mut Ctx<'_>) {
        if !self.flags.frequent_loops {
            return;
        }
        if self.running {
            self.signal = true;
        } else {
            self.start_loop(ctx);
        }
    }

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
        let at = ctx.now + d;
        Timer::Run {
            generation: self.generation,
        }
        .set(ctx, at);
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
            let at = ctx.now + self.flags.scan_interval_ms;
            Timer::Wake {
                generation: self.generation,
            }
            .set(ctx, at);
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
        for g in self.groups.iter_mut() {
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
            let d = if healthy {
                Decision::ClusterHealthy
            } else {
                Decision::ClusterUnhealthy
            };
            self.log.log(now, d);
        }
        if !healthy {
            return;
        }
        if self.flags.enforce_node_group_min_size {
            for id in self.groups.ids() {
                let g = &self.groups[id];
                if g.exists && g.target < g.min_size {
                    let (name, min) = (g.name.clone(), g.min_size);
                    if ctx.set_desired_capacity(&name, min).is_ok() {
                        self.groups[id].target = min;
                        self.groups[id].last_set_desired_ms = Some(now.0);
                    }
                }
            }
        }

        let up = self.scale_up.scale_up(
            ctx,
            &self.flags,
            &mut self.groups,
            &mut self.state,
            &mut self.log,
            loop_start,
        );
        if up.scaled_up {
            self.last_scale_up = Some(now);
        }

        // Scale-down: the planner always runs; actuation only outside cooldown (§4.1).
        if self.flags.scale_down_enabled {
            let (candidates, mut reasons) = scale_down::candidates(
                ctx.cluster(),
                &self.groups,
                &self.actuator,
                &self.flags,
                now,
            );
            self.planner.update(
                ctx.cluster(),
                &candidates,
                &self.groups,
                &self.flags.scale_down,
                now,
            );
            let (removable, refused) = scale_down::removable_at(
                ctx.cluster(),
                &self.planner,
                &self.groups,
                &self.actuator,
                &self.flags,
                now,
            );
            // Both in node order: merged in one walk (the planner makes its reasons afresh on
            // every update, so they are taken rather than copied).
            reasons.append(&mut self.planner.reasons);
            reasons.extend(refused);
            self.actuator
                .update_soft_taints(ctx, &self.planner, &self.flags);
            let cooldown = up.scaled_up || up.all_new || self.global_cooldown(now);
            if !cooldown
                && self.actuator.start_deletions(
                    ctx,
                    &removable,
                    &mut self.planner,
                    &mut self.groups,
                    &self.flags,
                    &mut self.log,
                )
            {
                self.last_scale_down_delete = Some(now);
            }
            self.status
                .update(now, ctx.cluster(), &self.groups, reasons, &mut self.log);
        }
    }

    /// `--scale-down-delay-after-add`, `-after-failure` and `-after-delete`, cluster-wide unless
    /// `--scale-down-delay-type-local` (§4.1).
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
        for id in self.groups.ids() {
            if !self.groups[id].exists {
                continue;
            }
            let Some(view) = ctx.describe_asg(&self.groups[id].name) else {
                continue;
            };
            let g = &mut self.groups[id];
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
                let backoff = self.state.register_failed_scale_up(id, now);
                if ctx.set_desired_capacity(&name, to).is_ok() {
                    self.groups[id].target = to;
                    self.groups[id].last_set_desired_ms = Some(now.0);
                }
                self.log.log(
                    now,
                    Decision::ScaleUpFailed {
                        group: name,
                        cause: ScaleUpFailure::OutOfResources {
                            placeholders,
                            target: to,
                        },
                        backoff_s: backoff / 1000,
                    },
                );
            }
        }
        let groups = &self.groups;
        self.terminating
            .retain(|id| groups.iter().any(|(_, g)| g.instances.contains(id)));
    }

    /// `updateReadinessStats` per group.
    fn update_readiness(&mut self, ctx: &Ctx<'_>) {
        let now = ctx.now;
        let mut r = vec![Readiness::default(); self.groups.len()];
        for n in ctx.cluster().nodes() {
            let Some(g) = self.groups.of_node(n) else {
                continue;
            };
            let c = &mut r[g.0];
            if n.ready || n.deleting {
                c.ready += 1;
            } else if now.since(n.created_at) < self.flags.max_node_startup_ms {
                c.not_started += 1;
            } else {
                c.unready += 1;
            }
        }
        for (id, g) in self.groups.iter() {
            for i in &g.instances {
                if self.instance_node.contains_key(i) {
                    continue;
                }
                let old = ctx.instance(*i).is_some_and(|v| {
                    v.state.is_live()
                        && now.0.saturating_sub(v.launched_at_ms) > g.max_node_provision_ms
                });
                if old {
                    r[id.0].long_unregistered += 1;
                }
            }
        }
        self.state.readiness = r;
    }

    /// `updateScaleRequests` (§3.7, §3.8): a timed-out scale-up backs the group off and, as in
    /// 1.36, takes the outstanding increase back off the target.
    fn update_requests(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        let state = &self.state;
        let groups = &self.groups;
        // Not `upcoming`: instances that never registered are not provisioned, so the request
        // times out rather than counting as done once they are long-unregistered (§3.7).
        let upcoming: Vec<u32> = groups
            .iter()
            .map(|(id, g)| state.not_provisioned(id, g.target))
            .collect();
        let outcomes = self
            .state
            .update_scale_requests(now, |g| upcoming.get(g.0).copied().unwrap_or(0));
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
                self.log.log(
                    now,
                    Decision::ScaleUpFailed {
                        group: name,
                        cause: ScaleUpFailure::Timeout {
                            outstanding,
                            target: to,
                        },
                        backoff_s: backoff / 1000,
                    },
                );
            }
        }
    }

    /// `removeOldUnregisteredNodes` (§2.2 step 5): instances that never registered within
    /// `max-node-provision-time` are terminated, min size respected.
    fn remove_old_unregistered(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        for gi in self.groups.ids() {
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
                    self.log.log(
                        now,
                        Decision::UnregisteredNodeRemoved {
                            group: name,
                            instance: id.to_string(),
                        },
                    );
                }
            }
        }
    }

    // ---- events from the cloud and the cluster --------------------------------------------

    /// A new ASG instance will register as a node of its group (the launch template's kubelet
    /// labels and taints).
    pub fn asg_instance_launched(&mut self, ctx: &mut Ctx<'_>, asg: &str, instance: InstanceId) {
        let Some(g) = self.groups.by_name(asg) else {
            return;
        };
        let Some(itype) = ctx.instance(instance).map(|v| v.pool.instance_type.clone()) else {
            return;
        };
        if let Some(bp) = self.groups[g].blueprint(instance, &itype, &self.catalog, &self.region) {
            ctx.expect_node(instance, bp);
        }
    }

    pub fn node_registered(&mut self, ctx: &Ctx<'_>, node: NodeId) {
        let Some(n) = ctx.cluster().node(node) else {
            return;
        };
        if self.groups.of_node(n).is_none() {
            return;
        }
        if let Some(i) = n.instance {
            self.node_instance.insert(node, InstanceId(i));
            self.instance_node.insert(InstanceId(i), node);
        }
    }

    pub fn node_deleted(&mut self, node: NodeId) {
        if let Some(i) = self.node_instance.remove(&node) {
            self.instance_node.remove(&i);
        }
        // A node CA deleted: the simulator terminated its instance with the ASG's
        // desired-capacity decrement (DeleteInstances, §5.5), so CA's cached size goes down
        // and the next loop re-reads the group.
        if let Some(g) = self.actuator.node_deleted(node) {
            let g = &mut self.groups[g];
            g.target = g.target.saturating_sub(1).max(g.min_size);
            self.force_refresh = true;
        }
        self.planner.forget(node);
    }

    /// [`Timer::Delete`].
    pub fn delete_after_taint(&mut self, ctx: &mut Ctx<'_>, node: NodeId) {
        self.actuator
            .delete_after_taint(ctx, node, &self.flags, &mut self.log);
    }

    /// [`Timer::EvictionDeadline`].
    pub fn check_eviction_deadline(&mut self, ctx: &mut Ctx<'_>, node: NodeId) {
        self.actuator.check_eviction_deadline(
            ctx,
            node,
            &self.flags,
            &self.groups,
            &mut self.planner,
            &mut self.log,
        );
    }
}
