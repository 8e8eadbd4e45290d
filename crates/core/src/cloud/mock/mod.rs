//! The mock EC2 (docs/design.md §6): pools with prices, capacity scores and insufficient-capacity
//! windows; CreateFleet `instant` for Karpenter; Auto Scaling groups for cluster-autoscaler;
//! launch-latency stages; spot interruptions; per-second billing.
//!
//! A sans-IO state machine: every call carries `now_ms`, timers go out through `take_timers`
//! and come back through `on_timer`, randomness comes from the caller's [`CloudRngs`].
//! All stage durations of an instance are drawn when it launches, so its timeline does not
//! depend on how other events interleave.
//!
//! One idea per file: `fleet` (CreateFleet: ranking offerings, allocation strategies, ICE),
//! `asg` (Auto Scaling groups), `instance` (an instance's launch, stages and shutdown), `spot`
//! (interruptions, rebalance), `billing` (cost, hourly rate). This file holds the state, the
//! pool table, the `Cloud` dispatch and the timers.

mod asg;
mod billing;
mod fleet;
mod instance;
mod spot;
#[cfg(test)]
mod test_support;

use std::collections::{BTreeMap, BTreeSet};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::latency::LatencyModel;
use super::{
    AsgSettings, AsgSpec, AsgView, BillingSettings, CapacityType, Cloud, CloudError, CloudRngs,
    CloudTimer, CostBreakdown, FleetOutcome, FleetRequest, InstanceId, InstanceState, InstanceView,
    MockConfig, Notice, PoolSpec, SpotMarket, SpotSettings, TerminationReason,
};
use crate::math;
use asg::Asg;
use billing::Meter;
pub use fleet::{
    MAX_FLEET_OVERRIDES, PCO_ENOUGH_PER_INSTANCE, PCO_TIER_MARGIN, pco_tier_threshold,
};
use instance::Hidden;

const MS_PER_HOUR: f64 = 3_600_000.0;
const MS_PER_DAY: u64 = 24 * 3_600_000;

/// A drifting spot price stays within this fraction of its starting price (docs/model/ec2.md
/// §2.4): spot prices move gradually and AWS's own price history rarely shows a pool halving
/// or rising by half within a run; the bound also keeps a long run from wandering off.
pub const PRICE_DRIFT_BAND: f64 = 0.5;

/// Random-access draw kinds of the spot market (the high half of the ChaCha stream number).
const DRAW_CAPACITY_DAY: u64 = 1;
const DRAW_PRICE_STEP: u64 = 2;
const DRAW_CRUNCH: u64 = 3;

/// The low half of a per-zone draw's stream: FNV-1a (32-bit) of the zone's name, so that a
/// zone's draws depend on its name only, not on which other zones the scenario lists.
fn zone_key(zone: &str) -> u64 {
    let mut h: u32 = 0x811c_9dc5;
    for b in zone.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    u64::from(h)
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
    market: SpotMarket,
    /// Keyed by `market.seed`; only cloned and repositioned, never drawn from in place.
    market_rng: ChaCha8Rng,
    /// Each pool's price now: the configured price, moved by the drift up to `price_step`.
    price_now: Vec<f64>,
    /// Drift steps applied to `price_now` (the step whose interval contains the last call).
    price_step: u64,
}

fn ct_slot(ct: CapacityType) -> usize {
    match ct {
        CapacityType::OnDemand => 0,
        CapacityType::Spot => 1,
    }
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
            market,
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
            if !(p.capacity_score.is_finite() && p.capacity_score >= 0.0) {
                return Err(bad("capacity_score must be a finite number ≥ 0"));
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
        if let Some(pc) = market.price_changes
            && !(pc.every_ms > 0 && pc.max_step.is_finite() && (0.0..1.0).contains(&pc.max_step))
        {
            return Err(CloudError::InvalidPool {
                pool: "*".into(),
                reason: "price changes need a positive interval and a step in [0, 1)".into(),
            });
        }
        if !((0.0..=1.0).contains(&market.crunch_probability)
            && (0.0..=1.0).contains(&market.crunch_factor))
        {
            return Err(CloudError::InvalidPool {
                pool: "*".into(),
                reason: "the crunch probability and factor must be in [0, 1]".into(),
            });
        }
        if !(market.daily_spread.is_finite() && market.daily_spread >= 0.0) {
            return Err(CloudError::InvalidPool {
                pool: "*".into(),
                reason: "the daily capacity spread must be a finite number ≥ 0".into(),
            });
        }
        Ok(MockEc2 {
            price_now: pools.iter().map(|p| p.price_per_hour).collect(),
            price_step: 0,
            market_rng: ChaCha8Rng::seed_from_u64(market.seed),
            market,
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

    /// The spot pool of (`instance_type`, `zone`): its capacity figure at `now_ms`, with the
    /// day's variation (docs/model/ec2.md §2.1), and its price now. None when not offered.
    pub fn spot_market_at(
        &self,
        instance_type: &str,
        zone: &str,
        now_ms: u64,
    ) -> Option<(f64, f64)> {
        let p = self.lookup(instance_type, zone, CapacityType::Spot)?;
        Some((self.capacity_at(p, now_ms), self.price_at(p)))
    }

    fn lookup(&self, instance_type: &str, zone: &str, ct: CapacityType) -> Option<usize> {
        self.index.get(instance_type)?.get(zone)?[ct_slot(ct)]
    }

    fn schedule(&mut self, at: u64, timer: CloudTimer) {
        self.timers.push((at, timer));
    }

    /// A uniform draw in [0, 1) that depends only on (`kind`, `key`, `index`): the market's
    /// ChaCha8 on stream `kind << 32 | key` (`key` a pool's index or a [`zone_key`]), at block
    /// `index`. Random access keeps every value independent of the order in which launches
    /// asked for them.
    fn market_unit(&self, kind: u64, key: u64, index: u64) -> f64 {
        let mut r = self.market_rng.clone();
        r.set_stream((kind << 32) | key);
        // 16 words = one ChaCha block: each index starts a fresh block.
        r.set_word_pos(u128::from(index) * 16);
        r.random::<f64>()
    }

    /// Whether `zone` is in a capacity crunch on the UTC day of `now_ms` (docs/model/ec2.md
    /// §2.1): one draw per (zone, day), so every current-generation pool of the zone is
    /// crunched together, whatever the request.
    pub fn zone_crunched(&self, zone: &str, now_ms: u64) -> bool {
        let p = self.market.crunch_probability;
        p > 0.0 && self.market_unit(DRAW_CRUNCH, zone_key(zone), now_ms / MS_PER_DAY) < p
    }

    /// A pool's capacity figure at `now`: the configured figure times the day's variation, and
    /// for a current-generation pool in a crunched zone times the crunch factor
    /// (docs/model/ec2.md §2.1). Pools of capacity 0 stay 0.
    fn capacity_at(&self, pool: usize, now: u64) -> f64 {
        let spec = &self.pools[pool];
        let mut figure = spec.capacity_score;
        if figure == 0.0 {
            return 0.0;
        }
        let s = self.market.daily_spread;
        if s > 0.0 {
            let u = self.market_unit(DRAW_CAPACITY_DAY, pool as u64, now / MS_PER_DAY);
            figure *= math::exp(s * (2.0 * u - 1.0));
        }
        if spec.current_generation && self.zone_crunched(&spec.key.zone, now) {
            figure *= self.market.crunch_factor;
        }
        figure
    }

    /// The price a launch into `pool` pays now (docs/model/ec2.md §2.4).
    fn price_at(&self, pool: usize) -> f64 {
        self.price_now[pool]
    }

    /// Applies the spot price drift's steps up to `now` (no-op without `priceChanges`). Each
    /// step's move comes from `market_unit`, so the price at a time is the same whenever the
    /// mock is asked.
    fn advance_market(&mut self, now: u64) {
        let Some(pc) = self.market.price_changes else {
            return;
        };
        let target = now / pc.every_ms;
        while self.price_step < target {
            self.price_step += 1;
            for p in 0..self.pools.len() {
                let spec = &self.pools[p];
                if spec.key.capacity_type != CapacityType::Spot {
                    continue;
                }
                let base = spec.price_per_hour;
                let ceiling = self
                    .lookup(
                        &spec.key.instance_type,
                        &spec.key.zone,
                        CapacityType::OnDemand,
                    )
                    .map_or(f64::INFINITY, |od| self.pools[od].price_per_hour);
                let u = self.market_unit(DRAW_PRICE_STEP, p as u64, self.price_step);
                let moved = self.price_now[p] * (1.0 + pc.max_step * (2.0 * u - 1.0));
                let lo = base * (1.0 - PRICE_DRIFT_BAND);
                let hi = (base * (1.0 + PRICE_DRIFT_BAND)).min(ceiling.max(lo));
                self.price_now[p] = moved.clamp(lo, hi);
            }
        }
    }
}

/// The AWS calls, each answered by the module that models it.
impl Cloud for MockEc2 {
    fn adopt_running_instance(
        &mut self,
        now_ms: u64,
        key: &super::PoolKey,
        launch: &super::LaunchSpec,
        rngs: &mut CloudRngs<'_>,
    ) -> Result<InstanceId, CloudError> {
        MockEc2::adopt_running_instance(self, now_ms, key, launch, rngs)
    }

    fn create_fleet(
        &mut self,
        now_ms: u64,
        req: &FleetRequest,
        rngs: &mut CloudRngs<'_>,
    ) -> FleetOutcome {
        self.create_fleet_instant(now_ms, req, rngs)
    }

    fn terminate_instances(
        &mut self,
        now_ms: u64,
        ids: &[InstanceId],
        rngs: &mut CloudRngs<'_>,
    ) -> Result<Vec<Notice>, CloudError> {
        self.terminate_requested(now_ms, ids, rngs)
    }

    fn create_asg(
        &mut self,
        now_ms: u64,
        spec: AsgSpec,
        rngs: &mut CloudRngs<'_>,
    ) -> Result<(), CloudError> {
        self.create_group(now_ms, spec, rngs)
    }

    fn set_desired_capacity(
        &mut self,
        now_ms: u64,
        asg: &str,
        desired: u32,
        rngs: &mut CloudRngs<'_>,
    ) -> Result<Vec<Notice>, CloudError> {
        self.set_group_desired(now_ms, asg, desired, rngs)
    }

    fn terminate_instance_in_asg(
        &mut self,
        now_ms: u64,
        id: InstanceId,
        decrement_desired: bool,
        rngs: &mut CloudRngs<'_>,
    ) -> Result<Vec<Notice>, CloudError> {
        self.terminate_group_instance(now_ms, id, decrement_desired, rngs)
    }

    fn describe_asg(&self, asg: &str) -> Option<AsgView> {
        self.group_view(asg)
    }

    fn instance(&self, id: InstanceId) -> Option<&InstanceView> {
        self.views.get(id.0 as usize)
    }

    fn instances(&self) -> &[InstanceView] {
        &self.views
    }

    /// A timer is stale, and does nothing, once the instance's state or plan no longer matches
    /// it: an instance terminated before it ran, a reclaim moved earlier by a correlated one.
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

    fn cost_usd(&self, now_ms: u64) -> CostBreakdown {
        self.cost_at(now_ms)
    }

    fn hourly_rate(&self) -> f64 {
        self.running_rate()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use crate::cloud::*;

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
