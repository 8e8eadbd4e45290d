//! One instance's life (docs/model/latency.md §3 stages 2a–5): launch with every stage drawn at
//! once, `pending`, adoption of the scenario's static nodes, shutting down and TerminateInstances.
//! The stage timers come back through `on_timer` in `mod.rs`.

use rand_chacha::ChaCha8Rng;

use super::MockEc2;
use crate::cloud::{
    CapacityType, CloudError, CloudRngs, CloudTimer, InstanceId, InstanceState, InstanceView,
    LaunchSpec, Notice, PoolKey, TerminationReason,
};

/// What the outside world must not see about an instance.
#[derive(Debug, Clone)]
pub(super) struct Hidden {
    pub(super) pool: usize,
    pub(super) running_at: u64,
    pub(super) registered_at: u64,
    pub(super) ready_at: u64,
    pub(super) registered: bool,
    /// Planned reclaim time (spot). Timers that do not match it are stale.
    pub(super) interrupt_at: Option<u64>,
    pub(super) warn_at: Option<u64>,
    pub(super) rebalance_at: Option<u64>,
    pub(super) rebalance_sent: bool,
    pub(super) warning_sent: bool,
    /// Planned `terminated` time once shutting down.
    pub(super) terminated_at: Option<u64>,
}

impl MockEc2 {
    /// Creates an instance entering `pending` at `launched_at`. Draws stages 3–5 from
    /// `latency`, then the spot interruption from `spot`. The pending notice comes by timer,
    /// or, with `pending_by_timer` false, from the caller (`enter_pending`).
    pub(super) fn launch(
        &mut self,
        launched_at: u64,
        pool: usize,
        launch: &LaunchSpec,
        asg: Option<&str>,
        pending_by_timer: bool,
        rngs: &mut CloudRngs<'_>,
    ) -> InstanceId {
        let id = InstanceId(u32::try_from(self.views.len()).unwrap_or(u32::MAX));
        // An instance keeps the price it launched at (docs/model/ec2.md §2.4).
        let price_per_hour = self.price_at(pool);
        let spec = &self.pools[pool];
        let startup = self
            .latency
            .sample_node_startup(rngs.latency, launch.ami_family);
        let running_at = launched_at.saturating_add(startup.pending_to_running_ms);
        let registered_at = running_at.saturating_add(startup.running_to_registered_ms);
        let ready_at = registered_at.saturating_add(startup.registered_to_ready_ms);
        self.views.push(InstanceView::pending(
            id,
            spec.key.clone(),
            price_per_hour,
            launch.ami_family,
            launched_at,
            asg.map(str::to_string),
            launch.tags.clone(),
        ));
        let mut hidden = Hidden {
            pool,
            running_at,
            registered_at,
            ready_at,
            registered: false,
            interrupt_at: None,
            warn_at: None,
            rebalance_at: None,
            rebalance_sent: false,
            warning_sent: false,
            terminated_at: None,
        };
        if spec.key.capacity_type == CapacityType::Spot && self.spot.interruptions {
            self.plan_interruption(&mut hidden, launched_at, pool, rngs.spot);
        }
        let timers = [
            (hidden.rebalance_at, CloudTimer::Rebalance(id)),
            (hidden.warn_at, CloudTimer::InterruptionWarning(id)),
            (hidden.interrupt_at, CloudTimer::Reclaim(id)),
        ];
        self.hidden.push(hidden);
        self.pool_live[pool].insert(id.0);
        if pending_by_timer {
            // First, so it fires before a same-time `running`.
            self.schedule(launched_at, CloudTimer::InstancePending(id));
        }
        self.schedule(running_at, CloudTimer::InstanceRunning(id));
        self.schedule(registered_at, CloudTimer::NodeRegistered(id));
        self.schedule(ready_at, CloudTimer::NodeReady(id));
        for (at, timer) in timers {
            if let Some(at) = at {
                self.schedule(at, timer);
            }
        }
        id
    }

    /// An instance that was already running, registered and Ready when the scenario began
    /// (`spec.staticNodes`): billed from `now`, interrupted like any other spot instance.
    pub fn adopt_running_instance(
        &mut self,
        now: u64,
        key: &PoolKey,
        launch: &LaunchSpec,
        rngs: &mut CloudRngs<'_>,
    ) -> Result<InstanceId, CloudError> {
        self.advance_market(now);
        let pool = self
            .lookup(&key.instance_type, &key.zone, key.capacity_type)
            .ok_or_else(|| CloudError::InvalidPool {
                pool: key.to_string(),
                reason: "not offered".into(),
            })?;
        let id = InstanceId(u32::try_from(self.views.len()).unwrap_or(u32::MAX));
        let price_per_hour = self.price_at(pool);
        let spec = &self.pools[pool];
        // A static node exists at `now` already running: pending and running at the same instant.
        let mut view = InstanceView::pending(
            id,
            spec.key.clone(),
            price_per_hour,
            launch.ami_family,
            now,
            None,
            launch.tags.clone(),
        );
        view.state = InstanceState::Running;
        view.running_at_ms = Some(now);
        self.views.push(view);
        let mut hidden = Hidden {
            pool,
            running_at: now,
            registered_at: now,
            ready_at: now,
            registered: true,
            interrupt_at: None,
            warn_at: None,
            rebalance_at: None,
            rebalance_sent: false,
            warning_sent: false,
            terminated_at: None,
        };
        if key.capacity_type == CapacityType::Spot && self.spot.interruptions {
            self.plan_interruption(&mut hidden, now, pool, rngs.spot);
        }
        let timers = [
            (hidden.rebalance_at, CloudTimer::Rebalance(id)),
            (hidden.warn_at, CloudTimer::InterruptionWarning(id)),
            (hidden.interrupt_at, CloudTimer::Reclaim(id)),
        ];
        self.hidden.push(hidden);
        self.pool_live[pool].insert(id.0);
        self.open_meter(id, now);
        for (at, timer) in timers {
            if let Some(at) = at {
                self.schedule(at, timer);
            }
        }
        Ok(id)
    }

    pub(super) fn enter_pending(&mut self, id: InstanceId, at: u64) -> Notice {
        if self.billing.from_pending {
            self.open_meter(id, at);
        }
        Notice::InstancePending { instance: id }
    }

    /// A live instance enters shutting-down now: billing stops (AWS bills nothing after
    /// `shutting-down`, see [`BillingSettings`](crate::cloud::BillingSettings)), it leaves its
    /// pool and ASG, and `terminated` follows after the terminate stage. Returns the ASG it
    /// belonged to.
    pub(super) fn shut_down(
        &mut self,
        id: InstanceId,
        now: u64,
        reason: TerminationReason,
        latency: &mut ChaCha8Rng,
        notices: &mut Vec<Notice>,
    ) -> Option<String> {
        let i = id.0 as usize;
        if !self.views.get(i).is_some_and(|v| v.state.is_live()) {
            return None;
        }
        self.close_meter(id, now);
        let done = now.saturating_add(self.latency.terminate.sample(latency));
        let pool = self.hidden[i].pool;
        self.hidden[i].terminated_at = Some(done);
        self.pool_live[pool].remove(&id.0);
        let v = &mut self.views[i];
        v.state = InstanceState::ShuttingDown;
        v.shutting_down_at_ms = Some(now);
        v.termination_reason = Some(reason);
        let asg = v.asg.clone();
        if let Some(g) = asg.as_ref().and_then(|name| self.asgs.get_mut(name)) {
            g.instances.retain(|x| *x != id);
        }
        self.schedule(done, CloudTimer::InstanceTerminated(id));
        notices.push(Notice::InstanceShuttingDown {
            instance: id,
            reason,
        });
        asg
    }

    /// An ASG member terminated this way is replaced by its group (the instance is gone but
    /// desired capacity is unchanged; AWS EC2 user guide, "Instances automatically launched or
    /// terminated").
    pub(super) fn terminate_requested(
        &mut self,
        now_ms: u64,
        ids: &[InstanceId],
        rngs: &mut CloudRngs<'_>,
    ) -> Result<Vec<Notice>, CloudError> {
        if let Some(bad) = ids.iter().find(|id| id.0 as usize >= self.views.len()) {
            return Err(CloudError::UnknownInstance(*bad));
        }
        let mut notices = Vec::new();
        for &id in ids {
            if let Some(asg) = self.shut_down(
                id,
                now_ms,
                TerminationReason::Requested,
                rngs.latency,
                &mut notices,
            ) {
                self.schedule_dispatch(&asg, now_ms, rngs.latency);
            }
        }
        Ok(notices)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::cloud::*;

    // ---- Instance life (docs/model/latency.md §3 stages 2a–5) ----

    #[test]
    fn instance_lifecycle_notices_follow_latency_stages() {
        let mut sim = Sim::new(config(vec![pool("m5.large", A, OD, 0.096)]));
        sim.run_until(100_000);
        let id = sim.launch_one(&od(&[("m5.large", A)]));
        assert_eq!(
            sim.cloud.instance(id).map(|v| v.launched_at_ms),
            Some(101_000)
        );
        sim.run_until(1_000_000);
        let at = |f: fn(&Notice) -> bool| sim.times_of(f);
        assert_eq!(
            at(|n| matches!(n, Notice::InstancePending { .. })),
            vec![101_000]
        );
        assert_eq!(
            at(|n| matches!(n, Notice::InstanceRunning { .. })),
            vec![111_000]
        );
        assert_eq!(
            at(|n| matches!(n, Notice::NodeRegistered { .. })),
            vec![131_000]
        );
        assert_eq!(at(|n| matches!(n, Notice::NodeReady { .. })), vec![137_000]);
        let v = sim.cloud.instance(id).expect("exists");
        assert_eq!(
            (v.state, v.running_at_ms),
            (InstanceState::Running, Some(111_000))
        );
    }

    #[test]
    fn zero_latency_launch_still_reports_pending_before_running() {
        let mut cfg = config(vec![pool("m5.large", A, OD, 0.096)]);
        cfg.latency.create_fleet = Dist::Constant(0);
        cfg.latency.pending_to_running = Dist::Constant(0);
        let mut sim = Sim::new(cfg);
        let id = sim.launch_one(&od(&[("m5.large", A)]));
        sim.run_until(0);
        let first: Vec<&Notice> = sim.log.iter().take(2).map(|(_, n)| n).collect();
        assert_eq!(
            first,
            vec![
                &Notice::InstancePending { instance: id },
                &Notice::InstanceRunning { instance: id }
            ]
        );
    }

    #[test]
    fn boot_stage_uses_the_launch_ami_family() {
        let mut sim = Sim::new(config(vec![pool("m5.large", A, OD, 0.096)]));
        let mut r = od(&[("m5.large", A)]);
        r.launch.ami_family = AmiFamily::Windows;
        sim.launch_one(&r);
        sim.run_until(1_000_000);
        // 1 s API + 10 s running + 300 s Windows boot.
        assert_eq!(
            sim.times_of(|n| matches!(n, Notice::NodeRegistered { .. })),
            vec![311_000]
        );
    }

    #[test]
    fn terminate_goes_shutting_down_now_and_terminated_after_the_stage() {
        let mut sim = Sim::new(config(vec![pool("m5.large", A, OD, 0.096)]));
        let id = sim.launch_one(&od(&[("m5.large", A)]));
        sim.run_until(200_000);
        sim.terminate(&[id, id]);
        assert_eq!(
            sim.cloud.instance(id).map(|v| v.state),
            Some(InstanceState::ShuttingDown)
        );
        sim.run_until(229_999);
        assert!(
            sim.times_of(|n| matches!(n, Notice::InstanceTerminated { .. }))
                .is_empty()
        );
        sim.run_until(400_000);
        assert_eq!(
            sim.log
                .iter()
                .filter(|(_, n)| matches!(n, Notice::InstanceShuttingDown { .. }))
                .count(),
            1,
            "terminating twice is idempotent"
        );
        let v = sim.cloud.instance(id).expect("exists");
        assert_eq!(
            (v.state, v.shutting_down_at_ms, v.terminated_at_ms),
            (InstanceState::Terminated, Some(200_000), Some(230_000))
        );
        assert!(sim.log.contains(&(
            230_000,
            Notice::InstanceTerminated {
                instance: id,
                reason: TerminationReason::Requested
            }
        )));
    }

    #[test]
    fn terminate_unknown_instance_fails_whole_call() {
        let mut sim = Sim::new(config(vec![pool("m5.large", A, OD, 0.096)]));
        let id = sim.launch_one(&od(&[("m5.large", A)]));
        let mut r = CloudRngs {
            latency: &mut sim.lat,
            spot: &mut sim.spot,
            alloc: &mut sim.alloc,
        };
        let err = sim
            .cloud
            .terminate_instances(0, &[id, InstanceId(9)], &mut r);
        assert_eq!(err, Err(CloudError::UnknownInstance(InstanceId(9))));
        assert_eq!(
            sim.cloud.instance(id).map(|v| v.state),
            Some(InstanceState::Pending)
        );
    }

    #[test]
    fn terminated_before_registered_emits_no_node_registered() {
        let mut sim = Sim::new(config(vec![pool("m5.large", A, OD, 0.096)]));
        let id = sim.launch_one(&od(&[("m5.large", A)]));
        sim.run_until(20_000); // running at 11 s, registration due at 31 s
        sim.terminate(&[id]);
        sim.run_until(1_000_000);
        assert!(
            sim.times_of(|n| matches!(n, Notice::NodeRegistered { .. } | Notice::NodeReady { .. }))
                .is_empty()
        );
        assert_eq!(
            sim.times_of(|n| matches!(n, Notice::InstanceTerminated { .. })),
            vec![50_000]
        );
    }
}
