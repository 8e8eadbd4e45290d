//! CreateFleet `instant` (docs/model/karpenter.md §2 step 5, §10): the offerings a request
//! names, ranked by its allocation strategy; insufficient capacity (ICE windows and the per-pool
//! ICE probability); price-capacity-optimized, which Auto Scaling groups use for spot too.

use std::collections::BTreeSet;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::MockEc2;
use crate::cloud::{
    AllocationStrategy, CloudRngs, FleetError, FleetErrorCode, FleetOutcome, FleetRequest,
    InvalidRequest,
};

/// CreateFleet takes at most this many instance types; Karpenter truncates to the 60 cheapest
/// types and sends one override per type × zone (docs/model/karpenter.md §2 steps 2 and 5, §10).
/// docs/design.md §6 says "at most 60 overrides"; with one zone the two agree, with several zones
/// Karpenter's own request has up to 60 × zones overrides, so we bound distinct types.
pub const MAX_FLEET_OVERRIDES: usize = 60;

/// Price-capacity-optimized: a pool has "enough" capacity for a request when its capacity
/// figure is at least this many times the number of instances launching (docs/model/ec2.md
/// §2.2). [assumption]: AWS publishes no figure; 10 puts nearly every current-generation pool
/// of a common size in the tier for one instance, and only the deepest pools for tens.
pub const PCO_ENOUGH_PER_INSTANCE: f64 = 10.0;

/// Price-capacity-optimized: when no pool has enough, the tier is the pools within this
/// fraction of the deepest one (docs/model/ec2.md §2.2), so the tier is never empty and a
/// large request still weighs price among comparably deep pools. [assumption].
pub const PCO_TIER_MARGIN: f64 = 0.5;

/// The capacity figure a pool needs to join price-capacity-optimized's price tier, given the
/// deepest pool's figure and the instances launching (docs/model/ec2.md §2.2):
/// `min(10 × launching, 0.5 × deepest)`.
pub fn pco_tier_threshold(deepest: f64, launching: u32) -> f64 {
    (PCO_ENOUGH_PER_INSTANCE * f64::from(launching.max(1))).min(PCO_TIER_MARGIN * deepest)
}

/// Strategy ranking key of a pool with capacity figure `capacity` and price `price` now:
/// lower is better (capacity negated so deeper ranks first). Price-capacity-optimized is not a
/// plain order (it depends on the other pools) and goes through `price_capacity_optimized`.
fn rank_key(strategy: AllocationStrategy, capacity: f64, price: f64, priority: f64) -> (f64, f64) {
    match strategy {
        AllocationStrategy::LowestPrice => (price, 0.0),
        AllocationStrategy::Prioritized => (priority, 0.0),
        AllocationStrategy::PriceCapacityOptimized => (-capacity, price),
        AllocationStrategy::CapacityOptimizedPrioritized => (-capacity, priority),
    }
}

fn cmp_key(a: (f64, f64), b: (f64, f64)) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1))
}

impl MockEc2 {
    /// CreateFleet `instant`, one instance (docs/model/karpenter.md §2 step 5, §10). The API
    /// latency is drawn first, whatever the outcome. Capacity is decided at `now_ms`.
    ///
    /// Ranking: `LowestPrice` by price, `Prioritized` by priority, `CapacityOptimizedPrioritized`
    /// by (−capacity figure, priority), ties by request order; `PriceCapacityOptimized` by the
    /// tier rule for one instance (`price_capacity_optimized`, docs/model/ec2.md §2.2). Prices
    /// and capacity figures are those at `now_ms`. The chosen pool launches; pools that had no
    /// capacity and would have been chosen or ranked ahead of it (for price-capacity-optimized:
    /// in the tier and no dearer) are returned as `InsufficientInstanceCapacity` errors, and
    /// overrides naming pools that are not offered as `Unsupported`.
    pub(super) fn create_fleet_instant(
        &mut self,
        now_ms: u64,
        req: &FleetRequest,
        rngs: &mut CloudRngs<'_>,
    ) -> FleetOutcome {
        let api_latency_ms = self.latency.create_fleet.sample(rngs.latency);
        self.advance_market(now_ms);
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
            rank_key(
                req.allocation,
                self.capacity_at(p, now_ms),
                self.price_at(p),
                req.overrides[i].priority,
            )
        };
        let pco = req.allocation == AllocationStrategy::PriceCapacityOptimized;
        let available: Vec<usize> = cands.iter().filter(|c| c.2).map(|c| c.1).collect();
        let deepest_available = available
            .iter()
            .map(|&p| self.capacity_at(p, now_ms))
            .fold(0.0, f64::max);
        let chosen: Option<(usize, usize, bool)> = if pco {
            self.price_capacity_optimized(&available, 1, now_ms, rngs.alloc)
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
            let ahead = chosen.is_none_or(|ch| {
                if pco {
                    // Had it had capacity, it would have joined the tier and been no dearer.
                    let cap = self.capacity_at(c.1, now_ms);
                    cap >= pco_tier_threshold(deepest_available.max(cap), 1)
                        && self.price_at(c.1) <= self.price_at(ch.1)
                } else {
                    cmp_key(key(c), key(&ch)).is_le()
                }
            });
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
                FleetOutcome::Launched {
                    instance,
                    pool: self.pools[pool].key.clone(),
                    price_per_hour: self.price_at(pool),
                    api_latency_ms,
                    errors,
                }
            }
        }
    }

    /// Whether one launch attempt into `pool` at `now` finds capacity. ICE windows first (no
    /// draw); then, only for pools with `ice_probability > 0`, one draw from `alloc`.
    pub(super) fn has_capacity(&self, pool: usize, now: u64, alloc: &mut ChaCha8Rng) -> bool {
        if self.pool_ice[pool]
            .iter()
            .any(|&(from, until)| from <= now && now < until)
        {
            return false;
        }
        let p = self.pools[pool].ice_probability;
        !(p > 0.0 && alloc.random::<f64>() < p)
    }

    /// Price-capacity-optimized for `launching` instances at `now` (docs/model/ec2.md §2.2).
    /// AWS: it "identifies the pools with the highest capacity availability for the number of
    /// instances that are launching", then "requests Spot Instances from the lowest priced of
    /// these pools" (EC2 user guide, "Allocation strategies for Spot Instances"). Rule: the
    /// tier is every pool whose capacity figure is at least
    /// [`pco_tier_threshold`]`(deepest, launching)` — enough for the request, or within half of
    /// the deepest when none is — and the cheapest pool of the tier launches. Exact price ties
    /// are drawn uniformly from `alloc`: request order would pile every launch into the first
    /// zone (Karpenter's KWOK provider also draws among equal-price offerings,
    /// docs/model/karpenter.md §10).
    pub(super) fn price_capacity_optimized(
        &self,
        available: &[usize],
        launching: u32,
        now: u64,
        alloc: &mut ChaCha8Rng,
    ) -> Option<usize> {
        let caps: Vec<f64> = available
            .iter()
            .map(|&p| self.capacity_at(p, now))
            .collect();
        let deepest = caps.iter().copied().max_by(f64::total_cmp)?;
        let threshold = pco_tier_threshold(deepest, launching);
        let tier: Vec<usize> = available
            .iter()
            .zip(&caps)
            .filter(|&(_, &c)| c >= threshold)
            .map(|(&p, _)| p)
            .collect();
        let best_price = tier
            .iter()
            .map(|&p| self.price_at(p))
            .min_by(f64::total_cmp)?;
        let tied: Vec<usize> = tier
            .into_iter()
            .filter(|&p| self.price_at(p) == best_price)
            .collect();
        match tied.len() {
            0 => None,
            1 => Some(tied[0]),
            n => Some(tied[alloc.random_range(0..n)]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::pco_tier_threshold;
    use crate::cloud::*;
    use std::collections::BTreeSet;

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

    fn spot_pool(t: &str, z: &str, price: f64, capacity: f64) -> PoolSpec {
        PoolSpec {
            capacity_score: capacity,
            ..pool(t, z, SPOT, price)
        }
    }

    // ---- Price-capacity-optimized tier rule (docs/model/ec2.md §2.2) ----

    #[test]
    fn pco_tier_threshold_is_enough_for_the_request_or_half_the_deepest() {
        // Enough for one instance: 10; the deepest pool (100) does not raise the bar.
        assert_eq!(pco_tier_threshold(100.0, 1), 10.0);
        // Enough for 8 instances: 80, above half the deepest (50): within half of it counts.
        assert_eq!(pco_tier_threshold(100.0, 8), 50.0);
        // Shallow market: half the deepest.
        assert_eq!(pco_tier_threshold(12.0, 1), 6.0);
        // Zero launching is treated as one.
        assert_eq!(pco_tier_threshold(100.0, 0), 10.0);
    }

    #[test]
    fn spot_pco_takes_the_cheapest_pool_with_enough_capacity_not_the_deepest() {
        // The old rule (deepest bucket first) took the calm, dear legacy pool; AWS takes "the
        // lowest priced" of the pools with capacity for the request (EC2 user guide,
        // "Allocation strategies for Spot Instances").
        let mut sim = Sim::new(config(vec![
            spot_pool("m3.xlarge", A, 0.0931, 90.0),
            spot_pool("m5.xlarge", A, 0.0653, 40.0),
            spot_pool("m6i.xlarge", A, 0.07, 55.0),
        ]));
        let out = sim.fleet(&spot_pco(&[
            ("m3.xlarge", A),
            ("m5.xlarge", A),
            ("m6i.xlarge", A),
        ]));
        assert_eq!(launched_pool(&out).instance_type, "m5.xlarge");
    }

    #[test]
    fn spot_pco_takes_a_dearer_deep_pool_when_the_cheap_pools_are_shallow() {
        // kubernetes-sigs/karpenter#2137, aws/karpenter-provider-aws#3044: an older, dearer type
        // wins when the cheap pools lack capacity; here the cheap pool (6) is under the bar
        // of one instance (10), the legacy pool (30) over it.
        let mut sim = Sim::new(config(vec![
            spot_pool("r6a.2xlarge", A, 0.1724, 6.0),
            spot_pool("r4.2xlarge", A, 0.2607, 30.0),
        ]));
        let out = sim.fleet(&spot_pco(&[("r6a.2xlarge", A), ("r4.2xlarge", A)]));
        assert_eq!(launched_pool(&out).instance_type, "r4.2xlarge");
    }

    #[test]
    fn spot_pco_tier_narrows_as_more_instances_launch() {
        let pools = vec![
            spot_pool("cheap.large", A, 0.03, 25.0),
            spot_pool("deep.large", A, 0.05, 100.0),
        ];
        let sim = Sim::new(config(pools));
        let mut alloc = sim.alloc.clone();
        let [cheap, deep] = [0, 1];
        // One instance: both have enough (≥ 10); the cheaper wins.
        assert_eq!(
            sim.cloud
                .price_capacity_optimized(&[cheap, deep], 1, 0, &mut alloc),
            Some(cheap)
        );
        // Five: the bar is min(50, 50) = 50, only the deep pool clears it.
        assert_eq!(
            sim.cloud
                .price_capacity_optimized(&[cheap, deep], 5, 0, &mut alloc),
            Some(deep)
        );
    }

    #[test]
    fn spot_pco_reports_ice_only_for_pools_that_would_have_been_chosen() {
        let mut cfg = config(vec![
            spot_pool("shallow.cheap", A, 0.01, 2.0),
            spot_pool("dear.deep", A, 0.05, 60.0),
            spot_pool("mid.deep", A, 0.04, 50.0),
            spot_pool("best.ice", A, 0.001, 80.0),
            spot_pool("dearest.ice", A, 0.09, 80.0),
        ]);
        cfg.ice = vec![ice(&["best.ice", "dearest.ice"], &[], None, 0, u64::MAX)];
        let mut sim = Sim::new(cfg);
        let out = sim.fleet(&spot_pco(&[
            ("shallow.cheap", A),
            ("dear.deep", A),
            ("mid.deep", A),
            ("best.ice", A),
            ("dearest.ice", A),
        ]));
        // Tier (≥ 10): dear.deep, mid.deep; the cheaper launches. The exhausted pool that was
        // in the tier and cheaper is reported; the dearer exhausted one was never a candidate.
        assert_eq!(launched_pool(&out).instance_type, "mid.deep");
        match out {
            FleetOutcome::Launched { errors, .. } => {
                let names: Vec<&str> = errors.iter().map(|e| e.instance_type.as_str()).collect();
                assert_eq!(names, vec!["best.ice"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn spot_market_capacity_varies_by_day_deterministically() {
        let mut cfg = config(vec![spot_pool("m5.large", A, 0.03, 50.0)]);
        cfg.market = SpotMarket {
            seed: 7,
            daily_spread: 0.4,
            ..Default::default()
        };
        let sim = Sim::new(cfg.clone());
        let day = 24 * 3_600_000;
        let figures: Vec<f64> = (0..20).map(|d| sim.cloud.capacity_at(0, d * day)).collect();
        let again = Sim::new(cfg);
        // Same key, same figures, whatever was asked before.
        assert_eq!(again.cloud.capacity_at(0, 13 * day), figures[13]);
        // Constant within a day, different across days, inside exp(±0.4).
        assert_eq!(sim.cloud.capacity_at(0, 5 * day + 3_600_000), figures[5]);
        assert!(figures.windows(2).any(|w| w[0] != w[1]));
        let (lo, hi) = (50.0 * crate::math::exp(-0.4), 50.0 * crate::math::exp(0.4));
        assert!(figures.iter().all(|f| (lo..=hi).contains(f)), "{figures:?}");
    }

    #[test]
    fn spot_market_crunch_drops_current_pools_of_a_zone_for_a_day_and_spares_legacy() {
        let current = |t: &str, z: &str| PoolSpec {
            current_generation: true,
            ..spot_pool(t, z, 0.03, 50.0)
        };
        let mut cfg = config(vec![
            current("m5.large", A),
            current("m6i.large", A),
            spot_pool("m4.large", A, 0.05, 30.0),
            current("m5.large", B),
        ]);
        cfg.market = SpotMarket {
            seed: 11,
            crunch_probability: 0.25,
            crunch_factor: 0.05,
            ..Default::default()
        };
        let sim = Sim::new(cfg.clone());
        let day = 24 * 3_600_000;
        let days = 400u64;
        let crunched_a: Vec<bool> = (0..days)
            .map(|d| sim.cloud.zone_crunched(A, d * day))
            .collect();
        let crunched_b: Vec<bool> = (0..days)
            .map(|d| sim.cloud.zone_crunched(B, d * day))
            .collect();
        // One draw per (zone, day), at about its probability, zones independent.
        let share = crunched_a.iter().filter(|c| **c).count() as f64 / days as f64;
        assert!((0.18..0.32).contains(&share), "{share}");
        assert_ne!(crunched_a, crunched_b);
        let d = (0..days)
            .find(|d| crunched_a[*d as usize])
            .expect("a crunched day")
            * day;
        // Constant within the day, same whatever was asked before.
        assert!(Sim::new(cfg).cloud.zone_crunched(A, d + 23 * 3_600_000));
        // Every current pool of the zone drops together; the legacy pool does not.
        assert_eq!(sim.cloud.capacity_at(0, d), 2.5);
        assert_eq!(sim.cloud.capacity_at(1, d), 2.5);
        assert_eq!(sim.cloud.capacity_at(2, d), 30.0);
        // So price-capacity-optimized takes the dearer legacy pool that day, the cheap one
        // otherwise.
        let mut alloc = sim.alloc.clone();
        assert_eq!(
            sim.cloud
                .price_capacity_optimized(&[0, 1, 2], 1, d, &mut alloc),
            Some(2)
        );
        let calm = (0..days)
            .find(|d| !crunched_a[*d as usize])
            .expect("a calm day")
            * day;
        assert_eq!(sim.cloud.capacity_at(0, calm), 50.0);
        assert_ne!(
            sim.cloud
                .price_capacity_optimized(&[0, 1, 2], 1, calm, &mut alloc),
            Some(2)
        );
    }

    #[test]
    fn spot_price_drift_moves_launch_prices_within_the_band_and_under_on_demand() {
        let mut cfg = config(vec![
            pool("m5.large", A, OD, 0.05),
            spot_pool("m5.large", A, 0.04, 50.0),
        ]);
        cfg.market = SpotMarket {
            seed: 3,
            daily_spread: 0.0,
            crunch_probability: 0.0,
            crunch_factor: 1.0,
            price_changes: Some(PriceChanges {
                every_ms: 3_600_000,
                max_step: 0.2,
            }),
        };
        let mut sim = Sim::new(cfg);
        let mut prices = Vec::new();
        for h in 0..100u64 {
            sim.run_until(h * 3_600_000);
            match sim.fleet(&spot_pco(&[("m5.large", A)])) {
                FleetOutcome::Launched { price_per_hour, .. } => prices.push(price_per_hour),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(prices[0], 0.04, "no step before the first interval ends");
        assert!(prices.windows(2).any(|w| w[0] != w[1]), "{prices:?}");
        assert!(
            prices.iter().all(|p| (0.02..=0.05).contains(p)),
            "±50 % band, capped by on-demand: {prices:?}"
        );
        // The instance keeps its launch price.
        let first = sim.cloud.instances()[0].price_per_hour;
        assert_eq!(first, 0.04);
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
}
