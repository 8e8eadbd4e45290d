//! cluster-autoscaler's node groups in a live run: each drives a real, existing Auto Scaling
//! group (docs/live.md "cluster-autoscaler").
//!
//! cluster-autoscaler acts only through its groups: SetDesiredCapacity to scale up or cancel,
//! TerminateInstanceInAutoScalingGroup (decrementing) to remove a drained node. Those calls go
//! to Auto Scaling as they are; what the group then does is learnt by polling
//! DescribeAutoScalingGroups (new members are reported pending, with the group's notice, as
//! the mock's dispatch reports them; members that left are shut down). Without `--launch`
//! nothing is sent — Auto Scaling has no DryRun — and the group is simulated as the mock
//! simulates one (zone balancing, newest-first scale-in), after the model's dispatch latency.
//!
//! Safety: [`check_asgs`] takes only groups whose owner tagged them
//! `autoscale-sim:allow-live=true` and that are empty, so everything a group holds during the
//! run was launched by it; the run tags the group with its run id (propagated to the
//! instances at launch), and every exit path sets it back to 0
//! ([`crate::autoscaling::release_asgs`]).

use std::collections::BTreeMap;

use asim_core::cloud::{
    AsgSpec, AsgView, CloudError, CloudRngs, CloudTimer, InstanceId, Notice, PoolKey,
    TerminationReason,
};
use asim_workload::Scenario;

use super::LiveEc2;
use crate::LiveError;
use crate::autoscaling::RealAsg;
use crate::ec2::Ec2;

/// How often a group that has not reached its desired capacity is polled.
const ASG_POLL_MS: u64 = 2_000;

/// One node group of the run and the real group behind it.
pub(super) struct LiveAsg {
    spec: AsgSpec,
    /// The real group's name (`--asg GROUP=NAME`, else the node group's).
    real: String,
    desired: u32,
    /// Live members, in launch order.
    members: Vec<InstanceId>,
    /// Real members already known, by EC2 id.
    by_ec2: BTreeMap<String, InstanceId>,
    last_failed_activity_ms: Option<u64>,
    poll_scheduled: bool,
}

impl LiveAsg {
    pub(super) fn view(&self) -> AsgView {
        AsgView {
            name: self.spec.name.clone(),
            desired: self.desired,
            min: self.spec.min_size,
            max: self.spec.max_size,
            instances: self.members.clone(),
            last_failed_activity_ms: self.last_failed_activity_ms,
        }
    }
}

/// Before a cluster-autoscaler run: every node group names a real group of the region
/// (`names` maps node group → group; unmapped ones use their own name) that its owner allowed
/// and that is empty. Returns (node group, real group) pairs, or why the run is refused.
pub fn check_asgs(
    ec2: &Ec2,
    scenario: &Scenario,
    names: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, LiveError> {
    let groups = &scenario.spec.cluster_autoscaler.node_groups;
    if groups.is_empty() {
        return Err(LiveError::Scenario(
            "live run: the scenario has no node group for cluster-autoscaler".into(),
        ));
    }
    for g in names.keys() {
        if !groups.iter().any(|n| n.name == *g) {
            return Err(LiveError::Input(format!(
                "--asg {g}=…: the scenario has no node group {g:?} (it has {})",
                groups
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let pairs: Vec<(String, String)> = groups
        .iter()
        .map(|g| {
            let real = names
                .get(&g.name)
                .cloned()
                .unwrap_or_else(|| g.name.clone());
            (g.name.clone(), real)
        })
        .collect();
    let wanted: Vec<String> = pairs.iter().map(|(_, r)| r.clone()).collect();
    let found: BTreeMap<String, RealAsg> = ec2
        .describe_asgs(Some(&wanted))?
        .into_iter()
        .map(|g| (g.name.clone(), g))
        .collect();
    let mut problems = Vec::new();
    for (group, real) in &pairs {
        match found.get(real) {
            None => problems.push(format!(
                "node group {group}: no Auto Scaling group named {real:?} in {}",
                ec2.region()
            )),
            Some(g) => {
                if let Some(why) = g.refusal() {
                    problems.push(format!(
                        "node group {group}: Auto Scaling group {real:?}: {why}"
                    ));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(LiveError::Scenario(format!(
            "live run: cluster-autoscaler drives real Auto Scaling groups, and live mode does not \
             create them; refusing: {} (map a node group to an existing group with --asg \
             GROUP=NAME; docs/live.md \"cluster-autoscaler\")",
            problems.join("; ")
        )));
    }
    Ok(pairs)
}

impl LiveEc2<'_> {
    pub(super) fn asg_create(&mut self, spec: AsgSpec) -> Result<(), CloudError> {
        if self.asgs.contains_key(&spec.name) {
            return Err(CloudError::AsgExists(spec.name));
        }
        if spec.min_size > spec.max_size {
            return Err(CloudError::InvalidAsgSpec {
                asg: spec.name,
                reason: "minSize above maxSize".into(),
            });
        }
        let real = self
            .asg_names
            .get(&spec.name)
            .cloned()
            .unwrap_or_else(|| spec.name.clone());
        self.asgs.insert(
            spec.name.clone(),
            LiveAsg {
                spec,
                real,
                desired: 0,
                members: Vec::new(),
                by_ec2: BTreeMap::new(),
                last_failed_activity_ms: None,
                poll_scheduled: false,
            },
        );
        Ok(())
    }

    /// The dearest pool the group may launch into (the caps' worst case per instance).
    fn asg_worst_price(&self, spec: &AsgSpec) -> f64 {
        spec.instance_types
            .iter()
            .flat_map(|t| {
                spec.zones
                    .iter()
                    .map(move |z| PoolKey::new(t, z, spec.capacity_type))
            })
            .filter_map(|k| self.prices.get(&k).copied())
            .fold(0.0, f64::max)
    }

    fn asg_schedule_poll(&mut self, name: &str, at: u64) {
        if let Some(g) = self.asgs.get_mut(name)
            && !std::mem::replace(&mut g.poll_scheduled, true)
        {
            self.timers
                .push((at, CloudTimer::AsgDispatch(name.to_string())));
        }
    }

    /// When the group next acts: the real one is polled; the simulated one dispatches after
    /// the model's latency, as the mock's does.
    fn asg_next_look(&self, now_ms: u64, rngs: &mut CloudRngs<'_>) -> u64 {
        if self.launch {
            now_ms + ASG_POLL_MS
        } else {
            now_ms + self.latency.asg_dispatch.sample(rngs.latency)
        }
    }

    pub(super) fn asg_set_desired(
        &mut self,
        now_ms: u64,
        name: &str,
        desired: u32,
        rngs: &mut CloudRngs<'_>,
    ) -> Result<Vec<Notice>, CloudError> {
        let Some(g) = self.asgs.get(name) else {
            return Err(CloudError::UnknownAsg(name.to_string()));
        };
        if desired < g.spec.min_size || desired > g.spec.max_size {
            return Err(CloudError::DesiredOutOfRange {
                asg: name.to_string(),
                desired,
                min: g.spec.min_size,
                max: g.spec.max_size,
            });
        }
        let (from, real) = (g.desired, g.real.clone());
        let op = format!("SetDesiredCapacity {real} {from} → {desired}");
        if desired > from {
            let worst = self.asg_worst_price(&g.spec.clone());
            let (live, rate) = self.live_counts();
            let adding = desired - from;
            if let Err(e) = self
                .caps
                .allow(live, rate, adding, worst * f64::from(adding))
            {
                self.call(op, !self.launch, format!("not sent: {e}"));
                // A refused increase is a failed scale-up to cluster-autoscaler: it backs the
                // group off, as after any IncreaseSize error.
                return Err(CloudError::InvalidAsgSpec {
                    asg: name.to_string(),
                    reason: format!("refused by live mode: {e}"),
                });
            }
        }
        if self.launch {
            match self.ec2.set_desired_capacity(&real, desired) {
                Ok(()) => self.call(op, false, "accepted".into()),
                Err(LiveError::Api { code, message, .. }) if code == "ValidationError" => {
                    // Outside the real group's own bounds: the call fails, the run goes on.
                    self.call(op, false, format!("{code}: {message}"));
                    if let Some(g) = self.asgs.get_mut(name) {
                        g.last_failed_activity_ms = Some(now_ms);
                    }
                    return Err(CloudError::InvalidAsgSpec {
                        asg: name.to_string(),
                        reason: message,
                    });
                }
                Err(e) => {
                    self.call(op, false, e.to_string());
                    self.fatal(e);
                    return Err(CloudError::InvalidAsgSpec {
                        asg: name.to_string(),
                        reason: "the live run stopped on an error".into(),
                    });
                }
            }
        } else {
            self.call(
                op,
                true,
                "not sent: Auto Scaling has no DryRun; the group is simulated".into(),
            );
        }
        let mut notices = Vec::new();
        if let Some(g) = self.asgs.get_mut(name) {
            g.desired = desired;
        }
        if desired < from && !self.launch {
            notices.extend(self.asg_simulated_scale_in(now_ms, name, rngs));
        }
        let at = self.asg_next_look(now_ms, rngs);
        self.asg_schedule_poll(name, at);
        Ok(notices)
    }

    /// A simulated group above its desired capacity: members go as the mock's do
    /// ([`asg_scale_in_victim`](asim_core::cloud::asg_scale_in_victim)).
    fn asg_simulated_scale_in(
        &mut self,
        now_ms: u64,
        name: &str,
        rngs: &mut CloudRngs<'_>,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        while let Some(g) = self.asgs.get(name) {
            if g.members.len() as u32 <= g.desired {
                break;
            }
            let victim = asim_core::cloud::asg_scale_in_victim(&g.spec.zones, &g.members, |id| {
                self.views[id.0 as usize].pool.zone.as_str()
            });
            let Some(victim) = victim else {
                break;
            };
            if let Some(g) = self.asgs.get_mut(name) {
                g.members.retain(|&m| m != victim);
            }
            notices.push(self.shut_down(victim, now_ms, TerminationReason::AsgScaleIn, rngs));
        }
        notices
    }

    pub(super) fn asg_terminate_instance(
        &mut self,
        now_ms: u64,
        id: InstanceId,
        decrement: bool,
        rngs: &mut CloudRngs<'_>,
    ) -> Result<Vec<Notice>, CloudError> {
        let Some(name) = self
            .asgs
            .iter()
            .find(|(_, g)| g.members.contains(&id))
            .map(|(n, _)| n.clone())
        else {
            return Err(CloudError::NotInAsg(id));
        };
        let g = &self.asgs[&name];
        if decrement && g.desired <= g.spec.min_size {
            return Err(CloudError::BelowMinSize {
                asg: name,
                desired: g.desired,
                min: g.spec.min_size,
            });
        }
        let real = self.extra[id.0 as usize].real.clone();
        let op = format!(
            "TerminateInstanceInAutoScalingGroup {}{}",
            real.as_deref().unwrap_or("(simulated instance)"),
            if decrement { " (decrement)" } else { "" }
        );
        match real {
            Some(ec2_id) => match self.ec2.terminate_in_asg(&ec2_id, decrement) {
                Ok(()) => self.call(op, false, "terminating".into()),
                Err(e) => {
                    self.call(op, false, e.to_string());
                    self.fatal(e);
                }
            },
            None => self.call(
                op,
                true,
                "not sent: Auto Scaling has no DryRun; the group is simulated".into(),
            ),
        }
        if let Some(g) = self.asgs.get_mut(&name) {
            g.members.retain(|&m| m != id);
            if decrement {
                g.desired -= 1;
            }
        }
        let notice = self.shut_down(id, now_ms, TerminationReason::Requested, rngs);
        if !decrement {
            // The group launches a replacement.
            let at = self.asg_next_look(now_ms, rngs);
            self.asg_schedule_poll(&name, at);
        }
        Ok(vec![notice])
    }

    /// A member left by EC2's TerminateInstances: the group will replace it.
    pub(super) fn asg_member_lost(&mut self, now_ms: u64, id: InstanceId) {
        let Some(name) = self.views[id.0 as usize].asg.clone() else {
            return;
        };
        let Some(g) = self.asgs.get_mut(&name) else {
            return;
        };
        if g.members.contains(&id) {
            g.members.retain(|&m| m != id);
            let at = if self.launch {
                now_ms + ASG_POLL_MS
            } else {
                now_ms + self.latency.asg_dispatch.median_ms().round() as u64
            };
            self.asg_schedule_poll(&name, at);
        }
    }

    /// The group's activity: a real group polled (new members reported, departed ones shut
    /// down), a simulated one filled up to its desired capacity.
    pub(super) fn asg_poll(
        &mut self,
        now_ms: u64,
        name: &str,
        rngs: &mut CloudRngs<'_>,
    ) -> Vec<Notice> {
        let Some(g) = self.asgs.get_mut(name) else {
            return Vec::new();
        };
        g.poll_scheduled = false;
        if self.ledger.borrow().fatal.is_some() || self.ec2.stopped() {
            return Vec::new();
        }
        let notices = if self.launch {
            self.asg_poll_real(now_ms, name, rngs)
        } else {
            self.asg_fill_simulated(now_ms, name, rngs)
        };
        let settled = self
            .asgs
            .get(name)
            .is_none_or(|g| g.members.len() as u32 == g.desired);
        if !settled {
            let at = self.asg_next_look(now_ms, rngs);
            self.asg_schedule_poll(name, at);
        }
        notices
    }

    fn asg_poll_real(&mut self, now_ms: u64, name: &str, rngs: &mut CloudRngs<'_>) -> Vec<Notice> {
        let mut notices = Vec::new();
        let real = self.asgs[name].real.clone();
        let found = match self.ec2.describe_asgs(Some(std::slice::from_ref(&real))) {
            Ok(mut v) if !v.is_empty() => v.remove(0),
            Ok(_) => {
                self.fatal(LiveError::Api {
                    op: "DescribeAutoScalingGroups",
                    code: "NotFound".into(),
                    message: format!("Auto Scaling group {real} disappeared during the run"),
                });
                return notices;
            }
            Err(e) => {
                self.fatal(e);
                return notices;
            }
        };
        let alive: Vec<&crate::autoscaling::RealMember> = found
            .members
            .iter()
            .filter(|m| !m.lifecycle_state.starts_with("Terminat"))
            .collect();
        // Members that left (scale-in by the group, a failed health check, a reclaimed spot
        // instance): shut down here.
        let gone: Vec<InstanceId> = self.asgs[name]
            .by_ec2
            .iter()
            .filter(|(ec2_id, _)| !alive.iter().any(|m| m.id == **ec2_id))
            .map(|(_, &id)| id)
            .filter(|id| self.views[id.0 as usize].state.is_live())
            .collect();
        for id in gone {
            if let Some(g) = self.asgs.get_mut(name) {
                g.members.retain(|&m| m != id);
            }
            notices.push(self.shut_down(id, now_ms, TerminationReason::AsgScaleIn, rngs));
        }
        // New members: the capacity type comes from EC2 (a mixed group may launch either).
        let new: Vec<String> = alive
            .iter()
            .filter(|m| !self.asgs[name].by_ec2.contains_key(&m.id))
            .map(|m| m.id.clone())
            .collect();
        if new.is_empty() {
            return notices;
        }
        let described = match self.ec2.describe(&new) {
            Ok(d) => d,
            Err(e) => {
                self.fatal(e);
                return notices;
            }
        };
        let spec = self.asgs[name].spec.clone();
        let worst = self.asg_worst_price(&spec);
        for i in described {
            let ct = i.capacity_type;
            let pool = PoolKey::new(&i.instance_type, &i.zone, ct);
            let price = self.prices.get(&pool).copied().unwrap_or(worst);
            let id = self.add_instance(
                now_ms,
                now_ms,
                pool,
                price,
                &spec.launch,
                Some(i.id.clone()),
                None,
                Some(name),
                rngs,
            );
            self.call(
                format!("Auto Scaling group {} launched", spec.name),
                false,
                format!("{} {} {} {}", i.id, i.instance_type, i.zone, ct),
            );
            if let Some(g) = self.asgs.get_mut(name) {
                g.members.push(id);
                g.by_ec2.insert(i.id.clone(), id);
            }
            notices.push(Notice::InstancePending { instance: id });
            notices.push(Notice::AsgInstanceLaunched {
                asg: name.to_string(),
                instance: id,
            });
        }
        notices
    }

    fn asg_fill_simulated(
        &mut self,
        now_ms: u64,
        name: &str,
        rngs: &mut CloudRngs<'_>,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        let spec = self.asgs[name].spec.clone();
        loop {
            let g = &self.asgs[name];
            if g.members.len() as u32 >= g.desired {
                break;
            }
            // The zone with the fewest members (ties: the spec's order), and the first of
            // the group's types offered there.
            let count = |z: &str| {
                g.members
                    .iter()
                    .filter(|id| self.views[id.0 as usize].pool.zone == z)
                    .count()
            };
            let choice = spec.zones.iter().min_by_key(|z| count(z)).and_then(|z| {
                spec.instance_types.iter().find_map(|t| {
                    let k = PoolKey::new(t, z, spec.capacity_type);
                    self.prices.get(&k).map(|&p| (k, p))
                })
            });
            let Some((pool, price)) = choice else {
                if let Some(g) = self.asgs.get_mut(name) {
                    g.last_failed_activity_ms = Some(now_ms);
                }
                notices.push(Notice::AsgLaunchFailed {
                    asg: name.to_string(),
                    tried: Vec::new(),
                    at_ms: now_ms,
                });
                break;
            };
            let id = self.add_instance(
                now_ms,
                now_ms,
                pool,
                price,
                &spec.launch,
                None,
                None,
                Some(name),
                rngs,
            );
            if let Some(g) = self.asgs.get_mut(name) {
                g.members.push(id);
            }
            notices.push(Notice::InstancePending { instance: id });
            notices.push(Notice::AsgInstanceLaunched {
                asg: name.to_string(),
                instance: id,
            });
        }
        notices
    }
}
