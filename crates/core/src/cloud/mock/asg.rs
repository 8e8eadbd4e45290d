//! Auto Scaling groups for cluster-autoscaler (cluster-autoscaler.md §5): desired capacity,
//! the dispatch stage, zone balancing, launch failures and retries, scale-in.

use rand_chacha::ChaCha8Rng;

use super::MockEc2;
use crate::cloud::{
    AsgSpec, AsgView, CapacityType, CloudError, CloudRngs, CloudTimer, InstanceId, Notice, PoolKey,
    TerminationReason,
};

#[derive(Debug, Clone)]
pub(super) struct Asg {
    pub(super) spec: AsgSpec,
    pub(super) desired: u32,
    /// Live instances in launch order.
    pub(super) instances: Vec<InstanceId>,
    pub(super) last_failed_activity_ms: Option<u64>,
    pub(super) retry_scheduled: bool,
}

impl MockEc2 {
    /// CreateAutoScalingGroup: a new name, some instance types and zones, min ≤ max, and at least
    /// one offering of its capacity type; desired starts at min.
    pub(super) fn create_group(
        &mut self,
        now_ms: u64,
        spec: AsgSpec,
        rngs: &mut CloudRngs<'_>,
    ) -> Result<(), CloudError> {
        let bad = |reason: &str| CloudError::InvalidAsgSpec {
            asg: spec.name.clone(),
            reason: reason.to_string(),
        };
        if self.asgs.contains_key(&spec.name) {
            return Err(CloudError::AsgExists(spec.name));
        }
        if spec.instance_types.is_empty() {
            return Err(bad("instanceTypes is empty"));
        }
        if spec.zones.is_empty() {
            return Err(bad("zones is empty"));
        }
        if spec.min_size > spec.max_size {
            return Err(bad(&format!(
                "minSize {} exceeds maxSize {}",
                spec.min_size, spec.max_size
            )));
        }
        let offered = spec.instance_types.iter().any(|t| {
            spec.zones
                .iter()
                .any(|z| self.lookup(t, z, spec.capacity_type).is_some())
        });
        if !offered {
            return Err(bad(&format!(
                "no {} offering for any of its instance types in its zones",
                spec.capacity_type
            )));
        }
        let name = spec.name.clone();
        let desired = spec.min_size;
        self.asgs.insert(
            name.clone(),
            Asg {
                spec,
                desired,
                instances: Vec::new(),
                last_failed_activity_ms: None,
                retry_scheduled: false,
            },
        );
        if desired > 0 {
            self.schedule_dispatch(&name, now_ms, rngs.latency);
        }
        Ok(())
    }

    /// Raising desired capacity schedules an activity after the dispatch stage (2b); lowering
    /// it below the live count scales in at once.
    pub(super) fn set_group_desired(
        &mut self,
        now_ms: u64,
        asg: &str,
        desired: u32,
        rngs: &mut CloudRngs<'_>,
    ) -> Result<Vec<Notice>, CloudError> {
        let g = self
            .asgs
            .get_mut(asg)
            .ok_or_else(|| CloudError::UnknownAsg(asg.to_string()))?;
        if desired < g.spec.min_size || desired > g.spec.max_size {
            return Err(CloudError::DesiredOutOfRange {
                asg: asg.to_string(),
                desired,
                min: g.spec.min_size,
                max: g.spec.max_size,
            });
        }
        g.desired = desired;
        let live = g.instances.len();
        let mut notices = Vec::new();
        if desired as usize > live {
            self.schedule_dispatch(asg, now_ms, rngs.latency);
        } else if (desired as usize) < live {
            self.scale_in(asg, now_ms, rngs, &mut notices);
        }
        Ok(notices)
    }

    /// cluster-autoscaler.md §5.5: CA always decrements. Decrementing below minSize is rejected,
    /// as AWS does.
    pub(super) fn terminate_group_instance(
        &mut self,
        now_ms: u64,
        id: InstanceId,
        decrement_desired: bool,
        rngs: &mut CloudRngs<'_>,
    ) -> Result<Vec<Notice>, CloudError> {
        let name = self.live_asg_member(id)?;
        let g = self
            .asgs
            .get_mut(&name)
            .ok_or_else(|| CloudError::UnknownAsg(name.clone()))?;
        if decrement_desired {
            if g.desired <= g.spec.min_size {
                return Err(CloudError::BelowMinSize {
                    asg: name,
                    desired: g.desired,
                    min: g.spec.min_size,
                });
            }
            g.desired -= 1;
        }
        let mut notices = Vec::new();
        self.shut_down(
            id,
            now_ms,
            TerminationReason::Requested,
            rngs.latency,
            &mut notices,
        );
        if !decrement_desired {
            self.schedule_dispatch(&name, now_ms, rngs.latency);
        }
        Ok(notices)
    }

    /// DescribeAutoScalingGroups for one group.
    pub(super) fn group_view(&self, asg: &str) -> Option<AsgView> {
        self.asgs.get(asg).map(|g| AsgView {
            name: g.spec.name.clone(),
            desired: g.desired,
            min: g.spec.min_size,
            max: g.spec.max_size,
            instances: g.instances.clone(),
            last_failed_activity_ms: g.last_failed_activity_ms,
        })
    }

    /// The ASG's next activity, after the dispatch stage (docs/model/latency.md §3 stage 2b).
    pub(super) fn schedule_dispatch(&mut self, asg: &str, now: u64, latency: &mut ChaCha8Rng) {
        let at = now.saturating_add(self.latency.asg_dispatch.sample(latency));
        self.schedule(at, CloudTimer::AsgDispatch(asg.to_string()));
    }

    /// Picks the pool for one ASG launch, or None with the pools tried.
    ///
    /// Zones: fewest live instances of the group first, ties by the group's zone order; a zone
    /// with no capacity falls through to the next ("Auto Scaling uses the Availability Zone with
    /// the least number of instances … if an Availability Zone has insufficient capacity …
    /// launches instances in another Availability Zone", AWS Auto Scaling developer guide,
    /// "Auto Scaling behavior"). Type within a zone: on-demand = MixedInstancesPolicy order
    /// (`prioritized`); spot = price-capacity-optimized as in CreateFleet, for the `launching`
    /// instances of this activity (docs/model/ec2.md §2.2: a larger scale-up needs deeper pools).
    pub(super) fn pick_asg_pool(
        &self,
        spec: &AsgSpec,
        zone_counts: &[u32],
        launching: u32,
        now: u64,
        alloc: &mut ChaCha8Rng,
        tried: &mut Vec<PoolKey>,
    ) -> Option<usize> {
        let mut zones: Vec<usize> = (0..spec.zones.len()).collect();
        zones.sort_by_key(|&z| (zone_counts[z], z));
        for z in zones {
            let zone = &spec.zones[z];
            let pools = spec
                .instance_types
                .iter()
                .filter_map(|t| self.lookup(t, zone, spec.capacity_type));
            match spec.capacity_type {
                CapacityType::OnDemand => {
                    for p in pools {
                        if self.has_capacity(p, now, alloc) {
                            return Some(p);
                        }
                        tried.push(self.pools[p].key.clone());
                    }
                }
                CapacityType::Spot => {
                    let mut available = Vec::new();
                    for p in pools {
                        if self.has_capacity(p, now, alloc) {
                            available.push(p);
                        } else {
                            tried.push(self.pools[p].key.clone());
                        }
                    }
                    if let Some(p) =
                        self.price_capacity_optimized(&available, launching, now, alloc)
                    {
                        return Some(p);
                    }
                }
            }
        }
        None
    }

    /// An ASG activity: launch the missing instances one by one; on the first that cannot be
    /// placed anywhere, record a failed activity and retry later (AWS keeps retrying on
    /// insufficient capacity, cluster-autoscaler.md §5.4).
    pub(super) fn dispatch(
        &mut self,
        name: &str,
        now: u64,
        rngs: &mut CloudRngs<'_>,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        self.advance_market(now);
        let Some(g) = self.asgs.get(name) else {
            return notices;
        };
        let missing = (g.desired as usize).saturating_sub(g.instances.len());
        if missing == 0 {
            return notices;
        }
        let spec = g.spec.clone();
        let launching = u32::try_from(missing).unwrap_or(u32::MAX);
        let mut zone_counts: Vec<u32> = spec
            .zones
            .iter()
            .map(|z| {
                g.instances
                    .iter()
                    .filter(|id| self.views[id.0 as usize].pool.zone == *z)
                    .count() as u32
            })
            .collect();
        for _ in 0..missing {
            let mut tried = Vec::new();
            match self.pick_asg_pool(&spec, &zone_counts, launching, now, rngs.alloc, &mut tried) {
                Some(pool) => {
                    let id = self.launch(now, pool, &spec.launch, Some(name), false, rngs);
                    notices.push(self.enter_pending(id, now));
                    if let Some(z) = spec
                        .zones
                        .iter()
                        .position(|z| *z == self.pools[pool].key.zone)
                    {
                        zone_counts[z] += 1;
                    }
                    if let Some(g) = self.asgs.get_mut(name) {
                        g.instances.push(id);
                    }
                    notices.push(Notice::AsgInstanceLaunched {
                        asg: name.to_string(),
                        instance: id,
                    });
                }
                None => {
                    notices.push(Notice::AsgLaunchFailed {
                        asg: name.to_string(),
                        tried,
                        at_ms: now,
                    });
                    let retry_at = now.saturating_add(self.asg_settings.retry_interval_ms);
                    let schedule_retry = match self.asgs.get_mut(name) {
                        Some(g) => {
                            g.last_failed_activity_ms = Some(now);
                            !std::mem::replace(&mut g.retry_scheduled, true)
                        }
                        None => false,
                    };
                    if schedule_retry {
                        self.schedule(retry_at, CloudTimer::AsgRetry(name.to_string()));
                    }
                    break;
                }
            }
        }
        notices
    }

    /// Scale-in when desired < live, by [`asg_scale_in_victim`](crate::cloud::asg_scale_in_victim).
    pub(super) fn scale_in(
        &mut self,
        name: &str,
        now: u64,
        rngs: &mut CloudRngs<'_>,
        notices: &mut Vec<Notice>,
    ) {
        loop {
            let Some(g) = self.asgs.get(name) else { return };
            if g.instances.len() <= g.desired as usize {
                return;
            }
            let victim = crate::cloud::asg_scale_in_victim(&g.spec.zones, &g.instances, |id| {
                self.views[id.0 as usize].pool.zone.as_str()
            });
            let Some(victim) = victim else { return };
            self.shut_down(
                victim,
                now,
                TerminationReason::AsgScaleIn,
                rngs.latency,
                notices,
            );
        }
    }

    pub(super) fn live_asg_member(&self, id: InstanceId) -> Result<String, CloudError> {
        let v = self
            .views
            .get(id.0 as usize)
            .ok_or(CloudError::UnknownInstance(id))?;
        match (&v.asg, v.state.is_live()) {
            (Some(name), true) => Ok(name.clone()),
            _ => Err(CloudError::NotInAsg(id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::cloud::*;

    // ---- Auto Scaling groups (cluster-autoscaler.md §5) ----

    #[test]
    fn asg_launches_missing_instances_after_dispatch_delay() {
        let mut sim = Sim::new(config(three_zone_pools("m5.xlarge", OD, 0.192)));
        sim.create_asg(asg_spec("general", &["m5.xlarge"], OD, &[A, B, C], 0, 10));
        sim.run_until(60_000);
        sim.set_desired("general", 3).expect("in range");
        sim.run_until(64_999);
        assert!(sim.asg("general").instances.is_empty());
        sim.run_until(65_000);
        let v = sim.asg("general");
        assert_eq!((v.desired, v.instances.len()), (3, 3));
        assert_eq!(
            sim.times_of(|n| matches!(n, Notice::AsgInstanceLaunched { .. })),
            vec![65_000; 3]
        );
        assert_eq!(
            sim.times_of(|n| matches!(n, Notice::InstancePending { .. })),
            vec![65_000; 3]
        );
        sim.run_until(200_000);
        assert_eq!(
            sim.times_of(|n| matches!(n, Notice::NodeReady { .. })),
            vec![101_000; 3]
        );
        assert!(v.instances.iter().all(|id| {
            sim.cloud
                .instance(*id)
                .and_then(|i| i.asg.clone())
                .as_deref()
                == Some("general")
        }));
    }

    #[test]
    fn asg_balances_instances_across_zones() {
        let mut sim = Sim::new(config(three_zone_pools("m5.xlarge", OD, 0.192)));
        sim.create_asg(asg_spec("g", &["m5.xlarge"], OD, &[A, B, C], 0, 10));
        sim.set_desired("g", 2).expect("in range");
        sim.run_until(10_000);
        sim.set_desired("g", 7).expect("in range");
        sim.run_until(20_000);
        let zones: Vec<String> = sim
            .asg("g")
            .instances
            .iter()
            .map(|id| sim.zone(*id))
            .collect();
        assert_eq!(zones, vec![A, B, C, A, B, C, A]);
    }

    #[test]
    fn asg_on_demand_uses_mixed_instances_order_and_skips_exhausted_pools() {
        let mut pools = three_zone_pools("m5.xlarge", OD, 0.192);
        pools.extend(three_zone_pools("m5a.xlarge", OD, 0.172));
        let mut cfg = config(pools);
        cfg.ice = vec![ice(&["m5.xlarge"], &[B], Some(OD), 0, u64::MAX)];
        let mut sim = Sim::new(cfg);
        sim.create_asg(asg_spec(
            "g",
            &["m5.xlarge", "m5a.xlarge"],
            OD,
            &[A, B],
            0,
            10,
        ));
        sim.set_desired("g", 2).expect("in range");
        sim.run_until(10_000);
        let pools: Vec<PoolKey> = sim
            .asg("g")
            .instances
            .iter()
            .map(|id| {
                sim.cloud
                    .instance(*id)
                    .map(|v| v.pool.clone())
                    .expect("exists")
            })
            .collect();
        // First type wins even though the second is cheaper; in B it is exhausted, so m5a.
        assert_eq!(
            pools,
            vec![
                PoolKey::new("m5.xlarge", A, OD),
                PoolKey::new("m5a.xlarge", B, OD)
            ]
        );
    }

    #[test]
    fn asg_spot_uses_price_capacity_optimized_over_its_types() {
        let mut pools = Vec::new();
        for (t, price, score) in [
            ("m5.xlarge", 0.07, 1.0),
            ("m5a.xlarge", 0.08, 2.0),
            ("m4.xlarge", 0.06, 2.0),
        ] {
            pools.push(PoolSpec {
                capacity_score: score,
                ..pool(t, A, SPOT, price)
            });
        }
        let mut sim = Sim::new(config(pools));
        sim.create_asg(asg_spec(
            "s",
            &["m5.xlarge", "m5a.xlarge", "m4.xlarge"],
            SPOT,
            &[A],
            0,
            10,
        ));
        sim.set_desired("s", 2).expect("in range");
        sim.run_until(10_000);
        for id in sim.asg("s").instances {
            assert_eq!(
                sim.cloud
                    .instance(id)
                    .map(|v| v.pool.instance_type.as_str()),
                Some("m4.xlarge")
            );
        }
    }

    #[test]
    fn asg_falls_back_to_another_zone_when_the_balanced_zone_is_exhausted() {
        let mut cfg = config(three_zone_pools("m5.xlarge", OD, 0.192));
        cfg.ice = vec![ice(&[], &[A], None, 0, u64::MAX)];
        let mut sim = Sim::new(cfg);
        sim.create_asg(asg_spec("g", &["m5.xlarge"], OD, &[A, B], 0, 10));
        sim.set_desired("g", 2).expect("in range");
        sim.run_until(10_000);
        let zones: Vec<String> = sim
            .asg("g")
            .instances
            .iter()
            .map(|id| sim.zone(*id))
            .collect();
        assert_eq!(zones, vec![B, B]);
        assert_eq!(sim.asg("g").last_failed_activity_ms, None);
    }

    #[test]
    fn asg_records_failed_activity_and_retries_until_capacity_returns() {
        let mut cfg = config(vec![pool("m5.xlarge", A, OD, 0.192)]);
        cfg.ice = vec![ice(&["m5.xlarge"], &[], None, 0, 100_000)];
        let mut sim = Sim::new(cfg);
        sim.create_asg(asg_spec("g", &["m5.xlarge"], OD, &[A], 0, 10));
        sim.set_desired("g", 2).expect("in range");
        sim.run_until(5_000);
        let v = sim.asg("g");
        assert_eq!(
            (v.desired, v.instances.len(), v.last_failed_activity_ms),
            (2, 0, Some(5_000))
        );
        sim.run_until(99_999);
        // Retries every 30 s: 35, 65, 95 s.
        assert_eq!(
            sim.times_of(|n| matches!(n, Notice::AsgLaunchFailed { .. })),
            vec![5_000, 35_000, 65_000, 95_000]
        );
        match &sim.log[0].1 {
            Notice::AsgLaunchFailed { tried, .. } => {
                assert_eq!(tried, &vec![PoolKey::new("m5.xlarge", A, OD)])
            }
            other => panic!("{other:?}"),
        }
        sim.run_until(200_000);
        let v = sim.asg("g");
        assert_eq!(
            (v.instances.len(), v.last_failed_activity_ms),
            (2, Some(95_000))
        );
        assert_eq!(
            sim.times_of(|n| matches!(n, Notice::AsgInstanceLaunched { .. })),
            vec![125_000, 125_000]
        );
    }

    #[test]
    fn asg_rejects_desired_outside_min_max() {
        let mut sim = Sim::new(config(vec![pool("m5.xlarge", A, OD, 0.192)]));
        sim.create_asg(asg_spec("g", &["m5.xlarge"], OD, &[A], 1, 3));
        assert!(matches!(
            sim.set_desired("g", 4),
            Err(CloudError::DesiredOutOfRange { desired: 4, .. })
        ));
        assert!(matches!(
            sim.set_desired("g", 0),
            Err(CloudError::DesiredOutOfRange { .. })
        ));
        assert!(matches!(
            sim.set_desired("nope", 1),
            Err(CloudError::UnknownAsg(_))
        ));
        assert_eq!(sim.asg("g").desired, 1);
    }

    #[test]
    fn create_asg_validates_and_launches_min_size() {
        let mut sim = Sim::new(config(vec![pool("m5.xlarge", A, OD, 0.192)]));
        let mut r = CloudRngs {
            latency: &mut sim.lat,
            spot: &mut sim.spot,
            alloc: &mut sim.alloc,
        };
        let bad = sim
            .cloud
            .create_asg(0, asg_spec("x", &["m5.xlarge"], OD, &[A], 3, 2), &mut r);
        assert!(matches!(bad, Err(CloudError::InvalidAsgSpec { .. })));
        let unoffered =
            sim.cloud
                .create_asg(0, asg_spec("y", &["m5.xlarge"], SPOT, &[A], 0, 2), &mut r);
        assert!(matches!(unoffered, Err(CloudError::InvalidAsgSpec { .. })));
        sim.create_asg(asg_spec("g", &["m5.xlarge"], OD, &[A], 2, 5));
        sim.run_until(5_000);
        assert_eq!(sim.asg("g").instances.len(), 2);
    }

    #[test]
    fn asg_lowering_desired_terminates_from_fullest_zone_newest_first() {
        let mut sim = Sim::new(config(three_zone_pools("m5.xlarge", OD, 0.192)));
        sim.create_asg(asg_spec("g", &["m5.xlarge"], OD, &[A, B, C], 0, 10));
        sim.set_desired("g", 5).expect("in range"); // A B C A B
        sim.run_until(10_000);
        let before = sim.asg("g").instances;
        sim.set_desired("g", 3).expect("in range");
        // Zones A and B have 2 each: A first (zone order), its newest (#3); then B's newest (#4).
        let gone: Vec<InstanceId> = sim
            .log
            .iter()
            .filter_map(|(_, n)| match n {
                Notice::InstanceShuttingDown {
                    instance,
                    reason: TerminationReason::AsgScaleIn,
                } => Some(*instance),
                _ => None,
            })
            .collect();
        assert_eq!(gone, vec![before[3], before[4]]);
        assert_eq!(sim.asg("g").instances, before[..3].to_vec());
    }

    #[test]
    fn terminate_instance_in_asg_with_decrement_lowers_desired_without_replacement() {
        let mut sim = Sim::new(config(vec![pool("m5.xlarge", A, OD, 0.192)]));
        sim.create_asg(asg_spec("g", &["m5.xlarge"], OD, &[A], 0, 10));
        sim.set_desired("g", 2).expect("in range");
        sim.run_until(10_000);
        let victim = sim.asg("g").instances[0];
        sim.terminate_in_asg(victim, true).expect("member");
        sim.run_until(100_000);
        let v = sim.asg("g");
        assert_eq!((v.desired, v.instances.len()), (1, 1));
        assert_eq!(sim.cloud.instances().len(), 2, "no replacement launched");
        assert!(matches!(
            sim.terminate_in_asg(victim, true),
            Err(CloudError::NotInAsg(_))
        ));
    }

    #[test]
    fn terminate_instance_in_asg_without_decrement_is_replaced() {
        let mut sim = Sim::new(config(vec![pool("m5.xlarge", A, OD, 0.192)]));
        sim.create_asg(asg_spec("g", &["m5.xlarge"], OD, &[A], 0, 10));
        sim.set_desired("g", 1).expect("in range");
        sim.run_until(10_000);
        let victim = sim.asg("g").instances[0];
        sim.terminate_in_asg(victim, false).expect("member");
        sim.run_until(14_999);
        assert!(sim.asg("g").instances.is_empty());
        sim.run_until(15_000);
        let v = sim.asg("g");
        assert_eq!((v.desired, v.instances.len()), (1, 1));
        assert_ne!(v.instances[0], victim);
    }

    #[test]
    fn terminate_instance_in_asg_below_min_size_is_rejected() {
        let mut sim = Sim::new(config(vec![pool("m5.xlarge", A, OD, 0.192)]));
        sim.create_asg(asg_spec("g", &["m5.xlarge"], OD, &[A], 1, 10));
        sim.run_until(20_000);
        let only = sim.asg("g").instances[0];
        assert!(matches!(
            sim.terminate_in_asg(only, true),
            Err(CloudError::BelowMinSize { .. })
        ));
        assert_eq!(
            sim.cloud.instance(only).map(|v| v.state),
            Some(InstanceState::Running)
        );
    }

    #[test]
    fn ec2_terminate_of_an_asg_instance_is_replaced_by_the_group() {
        let mut sim = Sim::new(config(vec![pool("m5.xlarge", A, OD, 0.192)]));
        sim.create_asg(asg_spec("g", &["m5.xlarge"], OD, &[A], 0, 10));
        sim.set_desired("g", 1).expect("in range");
        sim.run_until(10_000);
        let victim = sim.asg("g").instances[0];
        sim.terminate(&[victim]);
        sim.run_until(15_000);
        let v = sim.asg("g");
        assert_eq!((v.desired, v.instances.len()), (1, 1));
        assert_ne!(v.instances[0], victim);
    }
}
