//! The mock EC2 (docs/design.md §6): pools with prices, capacity scores and insufficient-capacity
//! windows; CreateFleet `instant` for Karpenter; Auto Scaling groups for cluster-autoscaler;
//! launch-latency stages; spot interruptions; per-second billing.
//!
//! A sans-IO state machine: every call carries `now_ms`, timers go out through `take_timers`
//! and come back through `on_timer`, randomness comes from the caller's [`CloudRngs`].
//! All stage durations of an instance are drawn when it launches, so its timeline does not
//! depend on how other events interleave.

use std::collections::{BTreeMap, BTreeSet};

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1};

use super::latency::LatencyModel;
use super::{
    AllocationStrategy, AsgSettings, AsgSpec, AsgView, BillingSettings, CapacityType, Cloud,
    CloudError, CloudRngs, CloudTimer, CostBreakdown, FleetError, FleetErrorCode, FleetOutcome,
    FleetRequest, InstanceId, InstanceState, InstanceView, InvalidRequest, LaunchSpec, MockConfig,
    Notice, PoolKey, PoolSpec, SpotSettings, TerminationReason,
};

/// CreateFleet takes at most this many instance types; Karpenter truncates to the 60 cheapest
/// types and sends one override per type × zone (docs/model/karpenter.md §2 steps 2 and 5, §10).
/// docs/design.md §6 says "at most 60 overrides"; with one zone the two agree, with several zones
/// Karpenter's own request has up to 60 × zones overrides, so we bound distinct types.
pub const MAX_FLEET_OVERRIDES: usize = 60;

const MS_PER_HOUR: f64 = 3_600_000.0;

/// What the outside world must not see about an instance.
#[derive(Debug, Clone)]
struct Hidden {
    pool: usize,
    running_at: u64,
    registered_at: u64,
    ready_at: u64,
    registered: bool,
    /// Planned reclaim time (spot). Timers that do not match it are stale.
    interrupt_at: Option<u64>,
    warn_at: Option<u64>,
    rebalance_at: Option<u64>,
    rebalance_sent: bool,
    warning_sent: bool,
    /// Planned `terminated` time once shutting down.
    terminated_at: Option<u64>,
}

#[derive(Debug, Clone)]
struct Asg {
    spec: AsgSpec,
    desired: u32,
    /// Live instances in launch order.
    instances: Vec<InstanceId>,
    last_failed_activity_ms: Option<u64>,
    retry_scheduled: bool,
}

/// An open billing interval.
#[derive(Debug, Clone, Copy)]
struct Meter {
    start_ms: u64,
    price_per_hour: f64,
    capacity_type: CapacityType,
}

/// The mock EC2. See the module docs.
#[derive(Debug, Clone)]
pub struct MockEc2 {
    pools: Vec<PoolSpec>,
    /// ICE windows `[from, until)` per pool, precomputed from the config.
    pool_ice: Vec<Vec<(u64, u64)>>,
    /// type → zone → [on-demand, spot] pool index; `&str` lookups without allocation.
    index: BTreeMap<String, BTreeMap<String, [Option<usize>; 2]>>,
    /// Live instance ids per pool, for correlated reclaims.
    pool_live: Vec<BTreeSet<u32>>,
    latency: LatencyModel,
    spot: SpotSettings,
    asg_settings: AsgSettings,
    billing: BillingSettings,
    views: Vec<InstanceView>,
    hidden: Vec<Hidden>,
    asgs: BTreeMap<String, Asg>,
    timers: Vec<(u64, CloudTimer)>,
    meters: BTreeMap<u32, Meter>,
    closed_on_demand_usd: f64,
    closed_spot_usd: f64,
}

fn ct_slot(ct: CapacityType) -> usize {
    match ct {
        CapacityType::OnDemand => 0,
        CapacityType::Spot => 1,
    }
}

fn ms_from_f64(x: f64) -> u64 {
    // Saturating: NaN/negative → 0, +inf → u64::MAX.
    x.round() as u64
}

/// Cost of `elapsed_ms` of billed time: whole seconds, rounded up, at least the minimum.
fn billed_usd(elapsed_ms: u64, minimum_ms: u64, price_per_hour: f64) -> f64 {
    let secs = elapsed_ms.div_ceil(1000).max(minimum_ms.div_ceil(1000));
    secs as f64 * 1000.0 * price_per_hour / MS_PER_HOUR
}

impl MockEc2 {
    /// Checks the pool table: unique keys, finite non-negative prices and hazards,
    /// `ice_probability` in [0, 1].
    pub fn new(cfg: MockConfig) -> Result<Self, CloudError> {
        let MockConfig {
            pools,
            ice,
            latency,
            spot,
            asg,
            billing,
        } = cfg;
        let mut index: BTreeMap<String, BTreeMap<String, [Option<usize>; 2]>> = BTreeMap::new();
        for (i, p) in pools.iter().enumerate() {
            let bad = |reason: &str| CloudError::InvalidPool {
                pool: p.key.to_string(),
                reason: reason.to_string(),
            };
            if !(p.price_per_hour.is_finite() && p.price_per_hour >= 0.0) {
                return Err(bad("price_per_hour must be a finite number ≥ 0"));
            }
            if !(p.interruption_per_hour.is_finite() && p.interruption_per_hour >= 0.0) {
                return Err(bad("interruption_per_hour must be a finite number ≥ 0"));
            }
            if !p.capacity_score.is_finite() {
                return Err(bad("capacity_score must be finite"));
            }
            if !(0.0..=1.0).contains(&p.ice_probability) {
                return Err(bad("ice_probability must be in [0, 1]"));
            }
            let slot = &mut index
                .entry(p.key.instance_type.clone())
                .or_default()
                .entry(p.key.zone.clone())
                .or_default()[ct_slot(p.key.capacity_type)];
            if slot.is_some() {
                return Err(bad("listed twice"));
            }
            *slot = Some(i);
        }
        let pool_ice = pools
            .iter()
            .map(|p| {
                ice.iter()
                    .filter(|w| w.matches(&p.key) && w.from_ms < w.until_ms)
                    .map(|w| (w.from_ms, w.until_ms))
                    .collect()
            })
            .collect();
        Ok(MockEc2 {
            pool_live: vec![BTreeSet::new(); pools.len()],
            pools,
            pool_ice,
            index,
            latency,
            spot,
            asg_settings: asg,
            billing,
            views: Vec::new(),
            hidden: Vec::new(),
            asgs: BTreeMap::new(),
            timers: Vec::new(),
            meters: BTreeMap::new(),
            closed_on_demand_usd: 0.0,
            closed_spot_usd: 0.0,
        })
    }

    /// The latency model, for the stages the cluster samples itself (pod start, image pull,
    /// unschedulable mark).
    pub fn latency(&self) -> &LatencyModel {
        &self.latency
    }

    pub fn pools(&self) -> &[PoolSpec] {
        &self.pools
    }

    fn lookup(&self, instance_type: &str, zone: &str, ct: CapacityType) -> Option<usize> {
        self.index.get(instance_type)?.get(zone)?[ct_slot(ct)]
    }

    /// Whether one launch attempt into `pool` at `now` finds capacity. ICE windows first (no
    /// draw); then, only for pools with `ice_probability > 0`, one draw from `alloc`.
    fn has_capacity(&self, pool: usize, now: u64, alloc: &mut ChaCha8Rng) -> bool {
        if self.pool_ice[pool]
            .iter()
            .any(|&(from, until)| from <= now && now < until)
        {
            return false;
        }
        let p = self.pools[pool].ice_probability;
        !(p > 0.0 && alloc.random::<f64>() < p)
    }

    fn schedule(&mut self, at: u64, timer: CloudTimer) {
        self.timers.push((at, timer));
    }

    /// Creates an instance entering `pending` at `launched_at`. Draws stages 3–5 from
    /// `latency`, then the spot interruption from `spot`. The pending notice comes by timer,
    /// or, with `pending_by_timer` false, from the caller (`enter_pending`).
    fn launch(
        &mut self,
        launched_at: u64,
        pool: usize,
        launch: &LaunchSpec,
        asg: Option<&str>,
        pending_by_timer: bool,
        rngs: &mut CloudRngs<'_>,
    ) -> InstanceId {
        let id = InstanceId(u32::try_from(self.views.len()).unwrap_or(u32::MAX));
        let spec = &self.pools[pool];
        let startup = self
            .latency
            .sample_node_startup(rngs.latency, launch.ami_family);
        let running_at = launched_at.saturating_add(startup.pending_to_running_ms);
        let registered_at = running_at.saturating_add(startup.running_to_registered_ms);
        let ready_at = registered_at.saturating_add(startup.registered_to_ready_ms);
        self.views.push(InstanceView {
            id,
            pool: spec.key.clone(),
            price_per_hour: spec.price_per_hour,
            ami_family: launch.ami_family,
            state: InstanceState::Pending,
            launched_at_ms: launched_at,
            running_at_ms: None,
            shutting_down_at_ms: None,
            terminated_at_ms: None,
            termination_reason: None,
            asg: asg.map(str::to_string),
            tags: launch.tags.clone(),
        });
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

    /// Spot interruption from a constant hazard (docs/model/latency.md "Spot interruption model"):
    /// reclaim at `t = launch + Exp(λ)`, notice at `t − 2 min`, rebalance recommendation with
    /// probability q at `notice − Exp(lead mean)`, else together with the notice. Times before
    /// the launch are clamped to it.
    fn plan_interruption(
        &self,
        h: &mut Hidden,
        launched_at: u64,
        pool: usize,
        rng: &mut ChaCha8Rng,
    ) {
        let per_hour = self
            .spot
            .override_per_hour
            .unwrap_or(self.pools[pool].interruption_per_hour);
        if !(per_hour.is_finite() && per_hour > 0.0) {
            return;
        }
        let e: f64 = Exp1.sample(rng);
        let t = launched_at.saturating_add(ms_from_f64(e * MS_PER_HOUR / per_hour));
        let warn = t.saturating_sub(self.spot.warning_lead_ms).max(launched_at);
        h.interrupt_at = Some(t);
        h.warn_at = Some(warn);
        if rng.random::<f64>() < self.spot.rebalance_probability {
            let lead: f64 = Exp1.sample(rng);
            let lead_ms = ms_from_f64(lead * self.spot.rebalance_lead_mean_ms as f64);
            h.rebalance_at = Some(warn.saturating_sub(lead_ms).max(launched_at));
        }
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
        let pool = self
            .lookup(&key.instance_type, &key.zone, key.capacity_type)
            .ok_or_else(|| CloudError::InvalidPool {
                pool: key.to_string(),
                reason: "not offered".into(),
            })?;
        let id = InstanceId(u32::try_from(self.views.len()).unwrap_or(u32::MAX));
        let spec = &self.pools[pool];
        self.views.push(InstanceView {
            id,
            pool: spec.key.clone(),
            price_per_hour: spec.price_per_hour,
            ami_family: launch.ami_family,
            state: InstanceState::Running,
            launched_at_ms: now,
            running_at_ms: Some(now),
            shutting_down_at_ms: None,
            terminated_at_ms: None,
            termination_reason: None,
            asg: None,
            tags: launch.tags.clone(),
        });
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

    fn enter_pending(&mut self, id: InstanceId, at: u64) -> Notice {
        if self.billing.from_pending {
            self.open_meter(id, at);
        }
        Notice::InstancePending { instance: id }
    }

    fn open_meter(&mut self, id: InstanceId, at: u64) {
        let v = &self.views[id.0 as usize];
        self.meters.insert(
            id.0,
            Meter {
                start_ms: at,
                price_per_hour: v.price_per_hour,
                capacity_type: v.pool.capacity_type,
            },
        );
    }

    fn close_meter(&mut self, id: InstanceId, at: u64) {
        if let Some(m) = self.meters.remove(&id.0) {
            let usd = billed_usd(
                at.saturating_sub(m.start_ms),
                self.billing.minimum_ms,
                m.price_per_hour,
            );
            match m.capacity_type {
                CapacityType::OnDemand => self.closed_on_demand_usd += usd,
                CapacityType::Spot => self.closed_spot_usd += usd,
            }
        }
    }

    /// A live instance enters shutting-down now: billing stops (AWS bills nothing after
    /// `shutting-down`, see [`BillingSettings`]), it leaves its pool and ASG, and `terminated`
    /// follows after the terminate stage. Returns the ASG it belonged to.
    fn shut_down(
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

    /// The ASG's next activity, after the dispatch stage (docs/model/latency.md §3 stage 2b).
    fn schedule_dispatch(&mut self, asg: &str, now: u64, latency: &mut ChaCha8Rng) {
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
    /// (`prioritized`); spot = price-capacity-optimized as in CreateFleet.
    fn pick_asg_pool(
        &self,
        spec: &AsgSpec,
        zone_counts: &[u32],
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
                    if let Some(p) = self.price_capacity_optimized(&available, alloc) {
                        return Some(p);
                    }
                }
            }
        }
        None
    }

    /// AWS: "the lowest-priced pools among those with the highest capacity availability".
    /// Rule: keep the pools with the maximum `capacity_score` (exact comparison), then the
    /// lowest price; exact ties are drawn uniformly from `alloc` — spot prices differ per zone
    /// on AWS, so exact ties are an artefact of our per-type price table and request order
    /// would pile every launch into the first zone (Karpenter's KWOK provider also draws among
    /// equal-price offerings, docs/model/karpenter.md §10).
    fn price_capacity_optimized(
        &self,
        available: &[usize],
        alloc: &mut ChaCha8Rng,
    ) -> Option<usize> {
        let best_score = available
            .iter()
            .map(|&p| self.pools[p].capacity_score)
            .max_by(f64::total_cmp)?;
        let best_price = available
            .iter()
            .filter(|&&p| self.pools[p].capacity_score == best_score)
            .map(|&p| self.pools[p].price_per_hour)
            .min_by(f64::total_cmp)?;
        let tied: Vec<usize> = available
            .iter()
            .copied()
            .filter(|&p| {
                self.pools[p].capacity_score == best_score
                    && self.pools[p].price_per_hour == best_price
            })
            .collect();
        match tied.len() {
            0 => None,
            1 => Some(tied[0]),
            n => Some(tied[alloc.random_range(0..n)]),
        }
    }

    /// An ASG activity: launch the missing instances one by one; on the first that cannot be
    /// placed anywhere, record a failed activity and retry later (AWS keeps retrying on
    /// insufficient capacity, cluster-autoscaler.md §5.4).
    fn dispatch(&mut self, name: &str, now: u64, rngs: &mut CloudRngs<'_>) -> Vec<Notice> {
        let mut notices = Vec::new();
        let Some(g) = self.asgs.get(name) else {
            return notices;
        };
        let missing = (g.desired as usize).saturating_sub(g.instances.len());
        if missing == 0 {
            return notices;
        }
        let spec = g.spec.clone();
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
            match self.pick_asg_pool(&spec, &zone_counts, now, rngs.alloc, &mut tried) {
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

    /// Scale-in when desired < live. Simplified default termination policy [assumption]:
    /// AWS first picks the AZ with the most instances, then (allocation strategy, oldest launch
    /// template, next billing hour) and finally random; we take that AZ (ties: zone order) and
    /// terminate its newest instance, which is usually the least useful one.
    fn scale_in(
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
            let zone_of = |id: &InstanceId| self.views[id.0 as usize].pool.zone.as_str();
            let counts: Vec<usize> = g
                .spec
                .zones
                .iter()
                .map(|z| g.instances.iter().filter(|id| zone_of(id) == z).count())
                .collect();
            let max = counts.iter().copied().max().unwrap_or(0);
            let victim = counts
                .iter()
                .position(|&c| c == max && c > 0)
                .and_then(|z| {
                    let zone = g.spec.zones[z].as_str();
                    g.instances
                        .iter()
                        .rev()
                        .find(|id| zone_of(id) == zone)
                        .copied()
                })
                .or_else(|| g.instances.last().copied());
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

    /// The interruption notice of `id`: its rebalance recommendation if not yet sent, the
    /// warning, then the correlated pool mates (each with probability `correlation`, drawn in
    /// id order) get the same notice now and the same reclaim time. Pool mates do not cascade.
    fn interruption_warning(
        &mut self,
        id: InstanceId,
        now: u64,
        spot: &mut ChaCha8Rng,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        let i = id.0 as usize;
        let h = &self.hidden[i];
        if !self.views[i].state.is_live() || h.warn_at != Some(now) || h.warning_sent {
            return notices;
        }
        let Some(reclaim_at) = h.interrupt_at else {
            return notices;
        };
        let pool = h.pool;
        self.warn(id, &mut notices);
        let c = self.spot.correlation;
        if c > 0.0 {
            let mates: Vec<u32> = self.pool_live[pool]
                .iter()
                .copied()
                .filter(|&m| m != id.0)
                .collect();
            for m in mates {
                let mi = m as usize;
                if self.hidden[mi].warning_sent || self.views[mi].launched_at_ms > now {
                    continue;
                }
                if spot.random::<f64>() < c {
                    let h = &mut self.hidden[mi];
                    h.interrupt_at = Some(reclaim_at);
                    h.warn_at = Some(now);
                    self.warn(InstanceId(m), &mut notices);
                    self.schedule(reclaim_at, CloudTimer::Reclaim(InstanceId(m)));
                }
            }
        }
        notices
    }

    fn warn(&mut self, id: InstanceId, notices: &mut Vec<Notice>) {
        let h = &mut self.hidden[id.0 as usize];
        if !h.rebalance_sent {
            h.rebalance_sent = true;
            notices.push(Notice::RebalanceRecommendation { instance: id });
        }
        h.warning_sent = true;
        notices.push(Notice::SpotInterruptionWarning { instance: id });
    }

    fn live_asg_member(&self, id: InstanceId) -> Result<String, CloudError> {
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

/// Strategy ranking key: lower is better (score negated so higher capacity ranks first).
fn rank_key(strategy: AllocationStrategy, pool: &PoolSpec, priority: f64) -> (f64, f64) {
    match strategy {
        AllocationStrategy::LowestPrice => (pool.price_per_hour, 0.0),
        AllocationStrategy::Prioritized => (priority, 0.0),
        AllocationStrategy::PriceCapacityOptimized => (-pool.capacity_score, pool.price_per_hour),
        AllocationStrategy::CapacityOptimizedPrioritized => (-pool.capacity_score, priority),
    }
}

fn cmp_key(a: (f64, f64), b: (f64, f64)) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1))
}

impl Cloud for MockEc2 {
    /// CreateFleet `instant`, one instance (docs/model/karpenter.md §2 step 5, §10). The API
    /// latency is drawn first, whatever the outcome. Capacity is decided at `now_ms`.
    ///
    /// Ranking: `LowestPrice` by price, `Prioritized` by priority, `PriceCapacityOptimized` by
    /// (−capacity score, price), `CapacityOptimizedPrioritized` by (−capacity score, priority);
    /// ties by request order, except exact price-capacity-optimized ties, drawn from `alloc`
    /// (see `price_capacity_optimized`). The best pool with capacity launches; pools ranked at
    /// or ahead of it that had none are returned as `InsufficientInstanceCapacity` errors, and
    /// overrides naming pools that are not offered as `Unsupported`.
    fn create_fleet(
        &mut self,
        now_ms: u64,
        req: &FleetRequest,
        rngs: &mut CloudRngs<'_>,
    ) -> FleetOutcome {
        let api_latency_ms = self.latency.create_fleet.sample(rngs.latency);
        let invalid = |r: InvalidRequest| FleetOutcome::Failed {
            errors: vec![FleetError {
                instance_type: String::new(),
                zone: String::new(),
                code: FleetErrorCode::InvalidRequest(r),
            }],
            api_latency_ms,
        };
        let distinct_types = req
            .overrides
            .iter()
            .map(|o| o.instance_type.as_str())
            .collect::<BTreeSet<_>>()
            .len();
        if distinct_types > MAX_FLEET_OVERRIDES {
            return invalid(InvalidRequest::TooManyOverrides {
                count: distinct_types,
                max: MAX_FLEET_OVERRIDES,
            });
        }
        if req.overrides.is_empty() {
            return invalid(InvalidRequest::NoOverrides);
        }
        // (request index, pool, has capacity)
        let mut cands: Vec<(usize, usize, bool)> = Vec::with_capacity(req.overrides.len());
        let mut errors: Vec<(usize, FleetError)> = Vec::new();
        for (i, o) in req.overrides.iter().enumerate() {
            match self.lookup(&o.instance_type, &o.zone, req.capacity_type) {
                Some(p) => cands.push((i, p, self.has_capacity(p, now_ms, rngs.alloc))),
                None => errors.push((
                    i,
                    FleetError {
                        instance_type: o.instance_type.clone(),
                        zone: o.zone.clone(),
                        code: FleetErrorCode::Unsupported,
                    },
                )),
            }
        }
        let key = |&(i, p, _): &(usize, usize, bool)| {
            rank_key(req.allocation, &self.pools[p], req.overrides[i].priority)
        };
        let chosen: Option<(usize, usize, bool)> =
            if req.allocation == AllocationStrategy::PriceCapacityOptimized {
                let available: Vec<usize> = cands.iter().filter(|c| c.2).map(|c| c.1).collect();
                self.price_capacity_optimized(&available, rngs.alloc)
                    .and_then(|p| cands.iter().copied().find(|c| c.1 == p && c.2))
            } else {
                // min_by keeps the first of equal elements: ties go to request order.
                cands
                    .iter()
                    .copied()
                    .filter(|c| c.2)
                    .min_by(|a, b| cmp_key(key(a), key(b)))
            };
        for c in cands.iter().filter(|c| !c.2) {
            let ahead = chosen.is_none_or(|ch| cmp_key(key(c), key(&ch)).is_le());
            if ahead {
                errors.push((
                    c.0,
                    FleetError {
                        instance_type: req.overrides[c.0].instance_type.clone(),
                        zone: req.overrides[c.0].zone.clone(),
                        code: FleetErrorCode::InsufficientInstanceCapacity,
                    },
                ));
            }
        }
        errors.sort_by_key(|e| e.0);
        let errors: Vec<FleetError> = errors.into_iter().map(|e| e.1).collect();
        match chosen {
            None => FleetOutcome::Failed {
                errors,
                api_latency_ms,
            },
            Some((_, pool, _)) => {
                let at = now_ms.saturating_add(api_latency_ms);
                // Pending when the API answers: a timer, even for 0 latency.
                let instance = self.launch(at, pool, &req.launch, None, true, rngs);
                let spec = &self.pools[pool];
                FleetOutcome::Launched {
                    instance,
                    pool: spec.key.clone(),
                    price_per_hour: spec.price_per_hour,
                    api_latency_ms,
                    errors,
                }
            }
        }
    }

    /// An ASG member terminated this way is replaced by its group (the instance is gone but
    /// desired capacity is unchanged; AWS EC2 user guide, "Instances automatically launched or
    /// terminated").
    fn terminate_instances(
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

    fn create_asg(
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
    fn set_desired_capacity(
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
    fn terminate_instance_in_asg(
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

    fn describe_asg(&self, asg: &str) -> Option<AsgView> {
        self.asgs.get(asg).map(|g| AsgView {
            name: g.spec.name.clone(),
            desired: g.desired,
            min: g.spec.min_size,
            max: g.spec.max_size,
            instances: g.instances.clone(),
            last_failed_activity_ms: g.last_failed_activity_ms,
        })
    }

    fn instance(&self, id: InstanceId) -> Option<&InstanceView> {
        self.views.get(id.0 as usize)
    }

    fn instances(&self) -> &[InstanceView] {
        &self.views
    }

    fn on_timer(
        &mut self,
        now_ms: u64,
        timer: CloudTimer,
        rngs: &mut CloudRngs<'_>,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        let now = now_ms;
        let state_of = |s: &Self, id: InstanceId| s.views.get(id.0 as usize).map(|v| v.state);
        match timer {
            CloudTimer::InstancePending(id) => {
                if state_of(self, id) == Some(InstanceState::Pending) {
                    notices.push(self.enter_pending(id, now));
                }
            }
            CloudTimer::InstanceRunning(id) => {
                if state_of(self, id) == Some(InstanceState::Pending)
                    && self.hidden[id.0 as usize].running_at == now
                {
                    let v = &mut self.views[id.0 as usize];
                    v.state = InstanceState::Running;
                    v.running_at_ms = Some(now);
                    if !self.billing.from_pending {
                        self.open_meter(id, now);
                    }
                    notices.push(Notice::InstanceRunning { instance: id });
                }
            }
            CloudTimer::NodeRegistered(id) => {
                if state_of(self, id) == Some(InstanceState::Running) {
                    let h = &mut self.hidden[id.0 as usize];
                    if h.registered_at == now && !h.registered {
                        h.registered = true;
                        notices.push(Notice::NodeRegistered { instance: id });
                    }
                }
            }
            CloudTimer::NodeReady(id) => {
                if state_of(self, id) == Some(InstanceState::Running) {
                    let h = &self.hidden[id.0 as usize];
                    if h.registered && h.ready_at == now {
                        notices.push(Notice::NodeReady { instance: id });
                    }
                }
            }
            CloudTimer::Rebalance(id) => {
                if state_of(self, id).is_some_and(InstanceState::is_live) {
                    let h = &mut self.hidden[id.0 as usize];
                    if h.rebalance_at == Some(now) && !h.rebalance_sent {
                        h.rebalance_sent = true;
                        notices.push(Notice::RebalanceRecommendation { instance: id });
                    }
                }
            }
            CloudTimer::InterruptionWarning(id) => {
                if (id.0 as usize) < self.views.len() {
                    notices = self.interruption_warning(id, now, rngs.spot);
                }
            }
            CloudTimer::Reclaim(id) => {
                let due = state_of(self, id).is_some_and(InstanceState::is_live)
                    && self.hidden[id.0 as usize].interrupt_at == Some(now);
                if due {
                    let asg = self.shut_down(
                        id,
                        now,
                        TerminationReason::SpotReclaimed,
                        rngs.latency,
                        &mut notices,
                    );
                    if let Some(asg) = asg {
                        self.schedule_dispatch(&asg, now, rngs.latency);
                    }
                }
            }
            CloudTimer::InstanceTerminated(id) => {
                if state_of(self, id) == Some(InstanceState::ShuttingDown)
                    && self.hidden[id.0 as usize].terminated_at == Some(now)
                {
                    let v = &mut self.views[id.0 as usize];
                    v.state = InstanceState::Terminated;
                    v.terminated_at_ms = Some(now);
                    let reason = v.termination_reason.unwrap_or(TerminationReason::Requested);
                    notices.push(Notice::InstanceTerminated {
                        instance: id,
                        reason,
                    });
                }
            }
            CloudTimer::AsgDispatch(name) => notices = self.dispatch(&name, now, rngs),
            CloudTimer::AsgRetry(name) => {
                if let Some(g) = self.asgs.get_mut(&name) {
                    g.retry_scheduled = false;
                }
                notices = self.dispatch(&name, now, rngs);
            }
        }
        notices
    }

    fn take_timers(&mut self) -> Vec<(u64, CloudTimer)> {
        std::mem::take(&mut self.timers)
    }

    /// Closed intervals plus open meters up to `now_ms`; once billing starts, the 60-second
    /// minimum is owed at once.
    fn cost_usd(&self, now_ms: u64) -> CostBreakdown {
        let (mut od, mut spot) = (self.closed_on_demand_usd, self.closed_spot_usd);
        for m in self.meters.values() {
            let usd = billed_usd(
                now_ms.saturating_sub(m.start_ms),
                self.billing.minimum_ms,
                m.price_per_hour,
            );
            match m.capacity_type {
                CapacityType::OnDemand => od += usd,
                CapacityType::Spot => spot += usd,
            }
        }
        CostBreakdown {
            total_usd: od + spot,
            on_demand_usd: od,
            spot_usd: spot,
        }
    }

    fn hourly_rate(&self) -> f64 {
        self.meters.values().map(|m| m.price_per_hour).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::latency::{Dist, SlowTail};
    use crate::cloud::{AmiFamily, FleetOverride, IceWindow};
    use rand::SeedableRng;

    const A: &str = "us-east-1a";
    const B: &str = "us-east-1b";
    const C: &str = "us-east-1c";
    const OD: CapacityType = CapacityType::OnDemand;
    const SPOT: CapacityType = CapacityType::Spot;

    fn pool(t: &str, z: &str, ct: CapacityType, price: f64) -> PoolSpec {
        PoolSpec::new(PoolKey::new(t, z, ct), price)
    }

    /// Every stage constant, so times are exact: API 1 s, dispatch 5 s, running +10 s,
    /// registered +20 s (AL2) / +300 s (Windows), ready +6 s, terminate 30 s.
    fn constant_latency() -> LatencyModel {
        let mut m = LatencyModel {
            create_fleet: Dist::Constant(1000),
            asg_dispatch: Dist::Constant(5000),
            pending_to_running: Dist::Constant(10_000),
            registered_to_ready: Dist::Constant(6000),
            slow_tail: SlowTail {
                probability: 0.0,
                ..SlowTail::default()
            },
            terminate: Dist::Constant(30_000),
            ..LatencyModel::default()
        };
        m.boot.al2 = Dist::Constant(20_000);
        m.boot.windows = Dist::Constant(300_000);
        m
    }

    fn config(pools: Vec<PoolSpec>) -> MockConfig {
        MockConfig {
            pools,
            latency: constant_latency(),
            spot: SpotSettings {
                interruptions: false,
                ..SpotSettings::default()
            },
            ..MockConfig::default()
        }
    }

    /// A minimal engine: a timer queue ordered by (time, request order), three rng streams and
    /// a log of every notice with its time.
    struct Sim {
        cloud: MockEc2,
        queue: BTreeMap<(u64, u64), CloudTimer>,
        seq: u64,
        now: u64,
        lat: ChaCha8Rng,
        spot: ChaCha8Rng,
        alloc: ChaCha8Rng,
        log: Vec<(u64, Notice)>,
    }

    impl Sim {
        fn new(cfg: MockConfig) -> Sim {
            Sim::seeded(cfg, 1)
        }

        fn seeded(cfg: MockConfig, seed: u64) -> Sim {
            Sim {
                cloud: MockEc2::new(cfg).expect("valid config"),
                queue: BTreeMap::new(),
                seq: 0,
                now: 0,
                lat: ChaCha8Rng::seed_from_u64(seed),
                spot: ChaCha8Rng::seed_from_u64(seed + 1000),
                alloc: ChaCha8Rng::seed_from_u64(seed + 2000),
                log: Vec::new(),
            }
        }

        fn pump(&mut self) {
            for (at, t) in self.cloud.take_timers() {
                self.queue.insert((at, self.seq), t);
                self.seq += 1;
            }
        }

        fn record(&mut self, notices: Vec<Notice>) {
            let now = self.now;
            self.log.extend(notices.into_iter().map(|n| (now, n)));
            self.pump();
        }

        /// Runs timers due at or before `t`, then sets the clock to `t`.
        fn run_until(&mut self, t: u64) {
            while let Some(entry) = self.queue.first_entry() {
                if entry.key().0 > t {
                    break;
                }
                let ((at, _), timer) = entry.remove_entry();
                self.now = at;
                let mut r = CloudRngs {
                    latency: &mut self.lat,
                    spot: &mut self.spot,
                    alloc: &mut self.alloc,
                };
                let n = self.cloud.on_timer(at, timer, &mut r);
                self.record(n);
            }
            self.now = t;
        }

        fn fleet(&mut self, req: &FleetRequest) -> FleetOutcome {
            let mut r = CloudRngs {
                latency: &mut self.lat,
                spot: &mut self.spot,
                alloc: &mut self.alloc,
            };
            let out = self.cloud.create_fleet(self.now, req, &mut r);
            self.pump();
            out
        }

        fn launch_one(&mut self, req: &FleetRequest) -> InstanceId {
            match self.fleet(req) {
                FleetOutcome::Launched { instance, .. } => instance,
                other => panic!("expected a launch, got {other:?}"),
            }
        }

        fn terminate(&mut self, ids: &[InstanceId]) {
            let mut r = CloudRngs {
                latency: &mut self.lat,
                spot: &mut self.spot,
                alloc: &mut self.alloc,
            };
            let n = self
                .cloud
                .terminate_instances(self.now, ids, &mut r)
                .expect("known ids");
            self.record(n);
        }

        fn create_asg(&mut self, spec: AsgSpec) {
            let mut r = CloudRngs {
                latency: &mut self.lat,
                spot: &mut self.spot,
                alloc: &mut self.alloc,
            };
            self.cloud
                .create_asg(self.now, spec, &mut r)
                .expect("valid asg");
            self.pump();
        }

        fn set_desired(&mut self, asg: &str, desired: u32) -> Result<(), CloudError> {
            let mut r = CloudRngs {
                latency: &mut self.lat,
                spot: &mut self.spot,
                alloc: &mut self.alloc,
            };
            let n = self
                .cloud
                .set_desired_capacity(self.now, asg, desired, &mut r)?;
            self.record(n);
            Ok(())
        }

        fn terminate_in_asg(&mut self, id: InstanceId, decrement: bool) -> Result<(), CloudError> {
            let mut r = CloudRngs {
                latency: &mut self.lat,
                spot: &mut self.spot,
                alloc: &mut self.alloc,
            };
            let n = self
                .cloud
                .terminate_instance_in_asg(self.now, id, decrement, &mut r)?;
            self.record(n);
            Ok(())
        }

        fn times_of(&self, f: impl Fn(&Notice) -> bool) -> Vec<u64> {
            self.log
                .iter()
                .filter(|(_, n)| f(n))
                .map(|(t, _)| *t)
                .collect()
        }

        fn asg(&self, name: &str) -> AsgView {
            self.cloud.describe_asg(name).expect("asg exists")
        }

        fn zone(&self, id: InstanceId) -> String {
            self.cloud.instance(id).expect("exists").pool.zone.clone()
        }
    }

    fn req(
        ct: CapacityType,
        allocation: AllocationStrategy,
        overrides: &[(&str, &str)],
    ) -> FleetRequest {
        FleetRequest {
            capacity_type: ct,
            allocation,
            overrides: overrides
                .iter()
                .map(|(t, z)| FleetOverride {
                    instance_type: t.to_string(),
                    zone: z.to_string(),
                    priority: 0.0,
                })
                .collect(),
            launch: LaunchSpec {
                ami_family: AmiFamily::AL2,
                ..LaunchSpec::default()
            },
        }
    }

    fn od(overrides: &[(&str, &str)]) -> FleetRequest {
        req(OD, AllocationStrategy::LowestPrice, overrides)
    }

    fn spot_pco(overrides: &[(&str, &str)]) -> FleetRequest {
        req(SPOT, AllocationStrategy::PriceCapacityOptimized, overrides)
    }

    fn ice(
        types: &[&str],
        zones: &[&str],
        ct: Option<CapacityType>,
        from_ms: u64,
        until_ms: u64,
    ) -> IceWindow {
        IceWindow {
            instance_types: types.iter().map(|s| s.to_string()).collect(),
            zones: zones.iter().map(|s| s.to_string()).collect(),
            capacity_type: ct,
            from_ms,
            until_ms,
        }
    }

    fn launched_pool(out: &FleetOutcome) -> PoolKey {
        match out {
            FleetOutcome::Launched { pool, .. } => pool.clone(),
            other => panic!("expected a launch, got {other:?}"),
        }
    }

    fn asg_spec(
        name: &str,
        types: &[&str],
        ct: CapacityType,
        zones: &[&str],
        min: u32,
        max: u32,
    ) -> AsgSpec {
        AsgSpec {
            name: name.to_string(),
            instance_types: types.iter().map(|s| s.to_string()).collect(),
            capacity_type: ct,
            zones: zones.iter().map(|s| s.to_string()).collect(),
            min_size: min,
            max_size: max,
            launch: LaunchSpec {
                ami_family: AmiFamily::AL2,
                ..LaunchSpec::default()
            },
        }
    }

    fn three_zone_pools(t: &str, ct: CapacityType, price: f64) -> Vec<PoolSpec> {
        [A, B, C].iter().map(|z| pool(t, z, ct, price)).collect()
    }

    // ---- CreateFleet (docs/model/karpenter.md §2, §10) ----

    #[test]
    fn create_fleet_rejects_more_than_60_instance_types() {
        let names: Vec<String> = (0..61).map(|i| format!("t{i}.large")).collect();
        let pools = names.iter().map(|n| pool(n, A, OD, 0.1)).collect();
        let mut sim = Sim::new(config(pools));
        let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), A)).collect();
        match sim.fleet(&od(&many)) {
            FleetOutcome::Failed { errors, .. } => assert_eq!(
                errors[0].code,
                FleetErrorCode::InvalidRequest(InvalidRequest::TooManyOverrides {
                    count: 61,
                    max: 60
                })
            ),
            other => panic!("{other:?}"),
        }
        assert!(sim.cloud.instances().is_empty());
        assert!(matches!(
            sim.fleet(&od(&many[..60])),
            FleetOutcome::Launched { .. }
        ));
    }

    #[test]
    fn create_fleet_reports_ice_per_override_when_all_pools_are_exhausted() {
        let mut cfg = config(vec![
            pool("m5.large", A, OD, 0.096),
            pool("m5.large", B, OD, 0.096),
        ]);
        cfg.ice = vec![ice(&["m5.large"], &[], Some(OD), 0, 3_600_000)];
        let mut sim = Sim::new(cfg);
        match sim.fleet(&od(&[("m5.large", A), ("m5.large", B)])) {
            FleetOutcome::Failed {
                errors,
                api_latency_ms,
            } => {
                assert_eq!(api_latency_ms, 1000);
                let got: Vec<(&str, &str, &FleetErrorCode)> = errors
                    .iter()
                    .map(|e| (e.instance_type.as_str(), e.zone.as_str(), &e.code))
                    .collect();
                assert_eq!(
                    got,
                    vec![
                        ("m5.large", A, &FleetErrorCode::InsufficientInstanceCapacity),
                        ("m5.large", B, &FleetErrorCode::InsufficientInstanceCapacity),
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        // The window ends: the same request launches.
        sim.run_until(3_600_000);
        assert!(matches!(
            sim.fleet(&od(&[("m5.large", A)])),
            FleetOutcome::Launched { .. }
        ));
    }

    #[test]
    fn ice_window_matches_only_its_capacity_type() {
        let mut cfg = config(vec![
            pool("c6i.large", A, OD, 0.085),
            pool("c6i.large", A, SPOT, 0.03),
        ]);
        cfg.ice = vec![ice(&["c6i.large"], &[A], Some(SPOT), 0, 10_000)];
        let mut sim = Sim::new(cfg);
        assert!(matches!(
            sim.fleet(&spot_pco(&[("c6i.large", A)])),
            FleetOutcome::Failed { .. }
        ));
        assert!(matches!(
            sim.fleet(&od(&[("c6i.large", A)])),
            FleetOutcome::Launched { .. }
        ));
    }

    #[test]
    fn create_fleet_unknown_pool_is_an_unsupported_error_for_that_override() {
        let mut sim = Sim::new(config(vec![pool("m5.large", A, OD, 0.096)]));
        match sim.fleet(&od(&[("x9.huge", A), ("m5.large", A), ("m5.large", B)])) {
            FleetOutcome::Launched { pool, errors, .. } => {
                assert_eq!(pool, PoolKey::new("m5.large", A, OD));
                let unsupported: Vec<(&str, &str)> = errors
                    .iter()
                    .filter(|e| e.code == FleetErrorCode::Unsupported)
                    .map(|e| (e.instance_type.as_str(), e.zone.as_str()))
                    .collect();
                assert_eq!(unsupported, vec![("x9.huge", A), ("m5.large", B)]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn on_demand_lowest_price_picks_cheapest_available_override() {
        let mut cfg = config(vec![
            pool("m5.xlarge", A, OD, 0.192),
            pool("m5a.xlarge", A, OD, 0.172),
            pool("m6a.xlarge", A, OD, 0.1728),
            pool("m7a.xlarge", A, OD, 0.15),
        ]);
        cfg.ice = vec![ice(&["m7a.xlarge"], &[], None, 0, u64::MAX)];
        let mut sim = Sim::new(cfg);
        let out = sim.fleet(&od(&[
            ("m5.xlarge", A),
            ("m6a.xlarge", A),
            ("m5a.xlarge", A),
            ("m7a.xlarge", A),
        ]));
        assert_eq!(launched_pool(&out), PoolKey::new("m5a.xlarge", A, OD));
        match out {
            FleetOutcome::Launched {
                price_per_hour,
                errors,
                ..
            } => {
                assert_eq!(price_per_hour, 0.172);
                // The cheaper, exhausted pool was tried first and is reported for the ICE cache.
                assert_eq!(errors.len(), 1);
                assert_eq!(errors[0].instance_type, "m7a.xlarge");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn on_demand_lowest_price_ties_go_to_request_order() {
        let mut sim = Sim::new(config(three_zone_pools("m5.large", OD, 0.096)));
        for _ in 0..5 {
            let out = sim.fleet(&od(&[("m5.large", B), ("m5.large", C), ("m5.large", A)]));
            assert_eq!(launched_pool(&out).zone, B);
        }
    }

    #[test]
    fn prioritized_strategy_uses_lowest_priority_value() {
        let mut sim = Sim::new(config(vec![
            pool("m5.large", A, OD, 0.05),
            pool("m6i.large", A, OD, 0.2),
        ]));
        let mut r = req(
            OD,
            AllocationStrategy::Prioritized,
            &[("m5.large", A), ("m6i.large", A)],
        );
        r.overrides[0].priority = 2.0;
        r.overrides[1].priority = 1.0;
        assert_eq!(launched_pool(&sim.fleet(&r)).instance_type, "m6i.large");
    }

    #[test]
    fn spot_price_capacity_optimized_prefers_capacity_then_price() {
        let mk = |t: &str, price: f64, score: f64| PoolSpec {
            capacity_score: score,
            ..pool(t, A, SPOT, price)
        };
        let mut cfg = config(vec![
            mk("cheap.low", 0.01, 1.0),
            mk("dear.high", 0.05, 3.0),
            mk("mid.high", 0.04, 3.0),
            mk("best.ice", 0.001, 4.0),
        ]);
        cfg.ice = vec![ice(&["best.ice"], &[], None, 0, u64::MAX)];
        let mut sim = Sim::new(cfg);
        let out = sim.fleet(&spot_pco(&[
            ("cheap.low", A),
            ("dear.high", A),
            ("mid.high", A),
            ("best.ice", A),
        ]));
        // Highest score among pools with capacity is 3; the cheaper of those wins.
        assert_eq!(launched_pool(&out).instance_type, "mid.high");
        match out {
            FleetOutcome::Launched { errors, .. } => {
                assert_eq!(errors.len(), 1);
                assert_eq!(errors[0].instance_type, "best.ice");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn spot_pco_exact_ties_are_drawn_from_alloc_stream() {
        let mut sim = Sim::new(config(three_zone_pools("c6i.large", SPOT, 0.034)));
        let mut zones = BTreeSet::new();
        for _ in 0..60 {
            zones.insert(
                launched_pool(&sim.fleet(&spot_pco(&[
                    ("c6i.large", A),
                    ("c6i.large", B),
                    ("c6i.large", C),
                ])))
                .zone,
            );
        }
        assert_eq!(zones.len(), 3, "all tied zones get launches: {zones:?}");
        // The latency stream is untouched by the tie-breaks: same API latency sequence as a run
        // without ties.
        let mut other = Sim::new(config(vec![pool("c6i.large", A, SPOT, 0.034)]));
        let a: Vec<u64> = (0..5)
            .map(|_| sim.fleet(&spot_pco(&[("c6i.large", A)])).api_latency_ms())
            .collect();
        let b: Vec<u64> = (0..5)
            .map(|_| other.fleet(&spot_pco(&[("c6i.large", A)])).api_latency_ms())
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn ice_probability_fails_launches_at_about_its_rate() {
        let p = PoolSpec {
            ice_probability: 0.3,
            ..pool("m5.large", A, OD, 0.096)
        };
        let mut sim = Sim::new(config(vec![p]));
        let n = 2000;
        let failed = (0..n)
            .filter(|_| {
                matches!(
                    sim.fleet(&od(&[("m5.large", A)])),
                    FleetOutcome::Failed { .. }
                )
            })
            .count();
        let frac = failed as f64 / n as f64;
        assert!((0.26..0.34).contains(&frac), "{frac}");
    }

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

    // ---- Billing (docs/design.md §6; EC2 bills running only, per second, 60 s minimum) ----

    #[test]
    fn billing_is_per_second_from_running_with_60_second_minimum() {
        let price = 3.6; // $0.001 per second
        let mut sim = Sim::new(config(vec![pool("m5.large", A, OD, price)]));
        let id = sim.launch_one(&od(&[("m5.large", A)]));
        assert_eq!(
            sim.cloud.cost_usd(10_999).total_usd,
            0.0,
            "pending is not billed"
        );
        sim.run_until(11_000); // running
        assert!(
            (sim.cloud.cost_usd(11_000).total_usd - 0.06).abs() < 1e-9,
            "60 s minimum owed"
        );
        assert!((sim.cloud.cost_usd(71_000).total_usd - 0.06).abs() < 1e-9);
        assert!(
            (sim.cloud.cost_usd(71_001).total_usd - 0.061).abs() < 1e-9,
            "partial seconds round up"
        );
        sim.run_until(111_000);
        sim.terminate(&[id]);
        assert!((sim.cloud.cost_usd(111_000).total_usd - 0.1).abs() < 1e-9);
        // A short-lived instance pays the minimum.
        let short = sim.launch_one(&od(&[("m5.large", A)]));
        sim.run_until(123_000); // running at 122 s
        sim.terminate(&[short]);
        assert!((sim.cloud.cost_usd(500_000).total_usd - 0.16).abs() < 1e-9);
    }

    #[test]
    fn nothing_is_billed_after_shutting_down() {
        let mut sim = Sim::new(config(vec![pool("m5.large", A, OD, 0.096)]));
        let id = sim.launch_one(&od(&[("m5.large", A)]));
        sim.run_until(3_600_000);
        sim.terminate(&[id]);
        let at_stop = sim.cloud.cost_usd(3_600_000);
        sim.run_until(10 * 3_600_000);
        assert_eq!(sim.cloud.cost_usd(10 * 3_600_000), at_stop);
        assert_eq!(sim.cloud.hourly_rate(), 0.0);
        let expected = (3_600_000.0 - 11_000.0) / 3_600_000.0 * 0.096;
        assert!((at_stop.total_usd - expected).abs() < 1e-9);
    }

    #[test]
    fn instance_terminated_while_pending_costs_nothing() {
        let mut sim = Sim::new(config(vec![pool("m5.large", A, OD, 0.096)]));
        let id = sim.launch_one(&od(&[("m5.large", A)]));
        sim.run_until(5_000);
        sim.terminate(&[id]);
        sim.run_until(3_600_000);
        assert_eq!(sim.cloud.cost_usd(3_600_000).total_usd, 0.0);
        assert!(
            sim.times_of(|n| matches!(n, Notice::InstanceRunning { .. }))
                .is_empty()
        );
    }

    #[test]
    fn billing_from_pending_setting_starts_meter_at_launch() {
        let mut cfg = config(vec![pool("m5.large", A, OD, 3.6)]);
        cfg.billing.from_pending = true;
        let mut sim = Sim::new(cfg);
        sim.launch_one(&od(&[("m5.large", A)]));
        sim.run_until(1000); // pending at 1 s
        assert!((sim.cloud.cost_usd(101_000).total_usd - 0.1).abs() < 1e-9);
    }

    #[test]
    fn cost_splits_on_demand_and_spot_and_hourly_rate_sums_running() {
        let mut sim = Sim::new(config(vec![
            pool("m5.large", A, OD, 0.096),
            pool("m5.large", A, SPOT, 0.036),
        ]));
        sim.launch_one(&od(&[("m5.large", A)]));
        sim.launch_one(&spot_pco(&[("m5.large", A)]));
        sim.run_until(11_000);
        assert!((sim.cloud.hourly_rate() - 0.132).abs() < 1e-12);
        let c = sim.cloud.cost_usd(11_000 + 3_600_000);
        assert!((c.on_demand_usd - 0.096).abs() < 1e-9, "{c:?}");
        assert!((c.spot_usd - 0.036).abs() < 1e-9, "{c:?}");
        assert!((c.total_usd - 0.132).abs() < 1e-9);
    }

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

    // ---- Spot (docs/model/latency.md "Spot interruption model", §2.1) ----

    fn spot_cfg(per_hour: f64, rebalance: f64, correlation: f64) -> MockConfig {
        let mut cfg = config(vec![PoolSpec {
            interruption_per_hour: per_hour,
            ..pool("c5.xlarge", A, SPOT, 0.07)
        }]);
        cfg.spot = SpotSettings {
            interruptions: true,
            rebalance_probability: rebalance,
            correlation,
            ..SpotSettings::default()
        };
        cfg
    }

    #[test]
    fn spot_interruption_warning_comes_two_minutes_before_reclaim() {
        let mut sim = Sim::new(spot_cfg(1.0, 0.0, 0.0));
        let mut seen = 0;
        for _ in 0..20 {
            let id = sim.launch_one(&spot_pco(&[("c5.xlarge", A)]));
            sim.run_until(sim.now + 100 * 3_600_000);
            let warn = sim.times_of(|n| *n == Notice::SpotInterruptionWarning { instance: id });
            let reclaim = sim.times_of(|n| {
                *n == Notice::InstanceShuttingDown {
                    instance: id,
                    reason: TerminationReason::SpotReclaimed,
                }
            });
            assert_eq!((warn.len(), reclaim.len()), (1, 1));
            let launched = sim
                .cloud
                .instance(id)
                .map(|v| v.launched_at_ms)
                .unwrap_or(0);
            if reclaim[0] >= launched + 120_000 {
                assert_eq!(reclaim[0] - warn[0], 120_000);
                seen += 1;
            } else {
                assert_eq!(
                    warn[0], launched,
                    "an early notice is clamped to the launch"
                );
            }
            assert!(sim.log.iter().any(|(_, n)| *n
                == Notice::InstanceTerminated {
                    instance: id,
                    reason: TerminationReason::SpotReclaimed
                }));
        }
        assert!(seen > 10);
    }

    #[test]
    fn spot_interruption_times_follow_the_pool_hazard() {
        // λ = 0.5/h ⇒ mean time to reclaim 2 h.
        let mut sim = Sim::new(spot_cfg(0.5, 0.0, 0.0));
        let n = 1500;
        let ids: Vec<InstanceId> = (0..n)
            .map(|_| sim.launch_one(&spot_pco(&[("c5.xlarge", A)])))
            .collect();
        sim.run_until(1000 * 3_600_000);
        let mean_h = ids
            .iter()
            .map(|id| {
                let v = sim.cloud.instance(*id).expect("exists");
                (v.shutting_down_at_ms.expect("reclaimed") - v.launched_at_ms) as f64 / 3_600_000.0
            })
            .sum::<f64>()
            / n as f64;
        assert!((mean_h - 2.0).abs() < 0.15, "mean {mean_h} h");
    }

    #[test]
    fn rebalance_recommendation_precedes_or_accompanies_the_warning() {
        // q = 1: always earlier (or at the launch when clamped); q = 0: together with the notice.
        for (q, earlier) in [(1.0, true), (0.0, false)] {
            let mut sim = Sim::new(spot_cfg(0.2, q, 0.0));
            let ids: Vec<InstanceId> = (0..50)
                .map(|_| sim.launch_one(&spot_pco(&[("c5.xlarge", A)])))
                .collect();
            sim.run_until(1000 * 3_600_000);
            let mut strictly_before = 0;
            for id in ids {
                let rb = sim.times_of(|n| *n == Notice::RebalanceRecommendation { instance: id });
                let warn = sim.times_of(|n| *n == Notice::SpotInterruptionWarning { instance: id });
                assert_eq!((rb.len(), warn.len()), (1, 1), "q={q}");
                assert!(rb[0] <= warn[0]);
                if rb[0] < warn[0] {
                    strictly_before += 1;
                }
            }
            assert_eq!(strictly_before > 40, earlier, "q={q}: {strictly_before}");
        }
    }

    #[test]
    fn correlated_reclaim_takes_pool_mates_with_it() {
        for (c, expect_all) in [(1.0, true), (0.0, false)] {
            let mut sim = Sim::new(spot_cfg(0.01, 0.0, c));
            let ids: Vec<InstanceId> = (0..10)
                .map(|_| sim.launch_one(&spot_pco(&[("c5.xlarge", A)])))
                .collect();
            sim.run_until(11_000);
            // Run until the first reclaim.
            let mut t = 11_000;
            while sim
                .times_of(|n| matches!(n, Notice::InstanceShuttingDown { .. }))
                .is_empty()
            {
                t += 3_600_000;
                sim.run_until(t);
            }
            let first = sim.times_of(|n| matches!(n, Notice::InstanceShuttingDown { .. }))[0];
            let reclaimed_then = ids
                .iter()
                .filter(|id| {
                    sim.cloud.instance(**id).and_then(|v| v.shutting_down_at_ms) == Some(first)
                })
                .count();
            if expect_all {
                assert_eq!(reclaimed_then, 10, "c=1: the whole pool goes together");
                assert_eq!(
                    sim.times_of(|n| matches!(n, Notice::SpotInterruptionWarning { .. }))
                        .len(),
                    10
                );
            } else {
                assert_eq!(reclaimed_then, 1, "c=0: independent");
            }
        }
    }

    #[test]
    fn spot_interruptions_off_or_overridden() {
        let mut cfg = spot_cfg(5.0, 0.5, 0.0);
        cfg.spot.interruptions = false;
        let mut sim = Sim::new(cfg);
        sim.launch_one(&spot_pco(&[("c5.xlarge", A)]));
        sim.run_until(100 * 3_600_000);
        assert!(
            sim.log
                .iter()
                .all(|(_, n)| !matches!(n, Notice::SpotInterruptionWarning { .. }))
        );

        // The pool hazard is 0, the override makes it 10/h: reclaimed within hours.
        let mut cfg = spot_cfg(0.0, 0.0, 0.0);
        cfg.spot.override_per_hour = Some(10.0);
        let mut sim = Sim::new(cfg);
        let id = sim.launch_one(&spot_pco(&[("c5.xlarge", A)]));
        sim.run_until(10 * 3_600_000);
        assert_eq!(
            sim.cloud.instance(id).and_then(|v| v.termination_reason),
            Some(TerminationReason::SpotReclaimed)
        );
    }

    #[test]
    fn on_demand_instances_are_never_interrupted() {
        let mut cfg = spot_cfg(10.0, 0.5, 0.5);
        cfg.pools.push(PoolSpec {
            interruption_per_hour: 10.0,
            ..pool("c5.xlarge", A, OD, 0.17)
        });
        let mut sim = Sim::new(cfg);
        let id = sim.launch_one(&od(&[("c5.xlarge", A)]));
        sim.run_until(100 * 3_600_000);
        assert_eq!(
            sim.cloud.instance(id).map(|v| v.state),
            Some(InstanceState::Running)
        );
    }

    #[test]
    fn spot_reclaimed_asg_instance_is_replaced() {
        let mut cfg = spot_cfg(1.0, 0.0, 0.0);
        cfg.pools[0].capacity_score = 1.0;
        let mut sim = Sim::new(cfg);
        sim.create_asg(asg_spec("s", &["c5.xlarge"], SPOT, &[A], 0, 5));
        sim.set_desired("s", 1).expect("in range");
        sim.run_until(6_000);
        let first = sim.asg("s").instances[0];
        sim.run_until(100 * 3_600_000);
        assert_eq!(
            sim.cloud.instance(first).and_then(|v| v.termination_reason),
            Some(TerminationReason::SpotReclaimed)
        );
        let v = sim.asg("s");
        assert_eq!((v.desired, v.instances.len()), (1, 1));
        assert!(
            sim.cloud.instances().len() > 2,
            "replaced after each reclaim"
        );
    }

    // ---- Determinism (docs/design.md §1.2) ----

    fn scripted_run(seed: u64) -> (Vec<(u64, Notice)>, Vec<InstanceView>, CostBreakdown) {
        let mut pools = three_zone_pools("m5.large", OD, 0.096);
        for z in [A, B, C] {
            pools.push(PoolSpec {
                interruption_per_hour: 0.3,
                capacity_score: 2.0,
                ice_probability: 0.1,
                ..pool("m5.large", z, SPOT, 0.035)
            });
        }
        let cfg = MockConfig {
            pools,
            ice: vec![ice(&[], &[B], Some(OD), 600_000, 1_800_000)],
            ..MockConfig::default() // default (random) latency and spot settings
        };
        let mut sim = Sim::seeded(cfg, seed);
        sim.create_asg(asg_spec("od", &["m5.large"], OD, &[A, B, C], 1, 20));
        sim.create_asg(asg_spec("sp", &["m5.large"], SPOT, &[A, B, C], 0, 20));
        for step in 0..40u64 {
            sim.run_until(step * 300_000);
            if step % 4 == 0 {
                sim.launch_one_or_fail(&spot_pco(&[
                    ("m5.large", A),
                    ("m5.large", B),
                    ("m5.large", C),
                ]));
            }
            let _ = sim.set_desired("od", 1 + (step % 7) as u32);
            let _ = sim.set_desired("sp", (step % 5) as u32);
            if step % 6 == 5 {
                let victim = sim
                    .cloud
                    .instances()
                    .iter()
                    .find(|v| v.state.is_live())
                    .map(|v| v.id);
                if let Some(v) = victim {
                    sim.terminate(&[v]);
                }
            }
        }
        sim.run_until(48 * 3_600_000);
        let cost = sim.cloud.cost_usd(48 * 3_600_000);
        (sim.log, sim.cloud.instances().to_vec(), cost)
    }

    impl Sim {
        fn launch_one_or_fail(&mut self, req: &FleetRequest) {
            let _ = self.fleet(req);
        }
    }

    #[test]
    fn same_seeds_give_identical_runs() {
        let a = scripted_run(42);
        let b = scripted_run(42);
        assert_eq!(a.0, b.0);
        assert_eq!(a.1, b.1);
        assert_eq!(a.2, b.2);
        assert!(
            a.0.len() > 100,
            "the script exercises the mock: {} notices",
            a.0.len()
        );
        let c = scripted_run(43);
        assert_ne!(a.0, c.0, "a different seed changes the run");
    }

    #[test]
    fn invalid_pool_table_is_rejected() {
        let dup = config(vec![
            pool("m5.large", A, OD, 0.1),
            pool("m5.large", A, OD, 0.2),
        ]);
        assert!(matches!(
            MockEc2::new(dup),
            Err(CloudError::InvalidPool { .. })
        ));
        let neg = config(vec![pool("m5.large", A, OD, -1.0)]);
        assert!(matches!(
            MockEc2::new(neg),
            Err(CloudError::InvalidPool { .. })
        ));
        let p = PoolSpec {
            ice_probability: 1.5,
            ..pool("m5.large", A, OD, 0.1)
        };
        assert!(matches!(
            MockEc2::new(config(vec![p])),
            Err(CloudError::InvalidPool { .. })
        ));
    }
}
