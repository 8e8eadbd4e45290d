//! CreateFleet `instant` (docs/model/karpenter.md §2 step 5, §10): the offerings a request
//! names, ranked by its allocation strategy; insufficient capacity (ICE windows and the per-pool
//! ICE probability); price-capacity-optimized, which Auto Scaling groups use for spot too.

use std::collections::BTreeSet;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::MockEc2;
use crate::cloud::{
    AllocationStrategy, CloudRngs, FleetError, FleetErrorCode, FleetOutcome, FleetRequest,
    InvalidRequest, PoolSpec,
};

/// CreateFleet takes at most this many instance types; Karpenter truncates to the 60 cheapest
/// types and sends one override per type × zone (docs/model/karpenter.md §2 steps 2 and 5, §10).
/// docs/design.md §6 says "at most 60 overrides"; with one zone the two agree, with several zones
/// Karpenter's own request has up to 60 × zones overrides, so we bound distinct types.
pub const MAX_FLEET_OVERRIDES: usize = 60;

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

impl MockEc2 {
    /// CreateFleet `instant`, one instance (docs/model/karpenter.md §2 step 5, §10). The API
    /// latency is drawn first, whatever the outcome. Capacity is decided at `now_ms`.
    ///
    /// Ranking: `LowestPrice` by price, `Prioritized` by priority, `PriceCapacityOptimized` by
    /// (−capacity score, price), `CapacityOptimizedPrioritized` by (−capacity score, priority);
    /// ties by request order, except exact price-capacity-optimized ties, drawn from `alloc`
    /// (see `price_capacity_optimized`). The best pool with capacity launches; pools ranked at
    /// or ahead of it that had none are returned as `InsufficientInstanceCapacity` errors, and
    /// overrides naming pools that are not offered as `Unsupported`.
    pub(super) fn create_fleet_instant(
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

    /// AWS: "the lowest-priced pools among those with the highest capacity availability".
    /// Rule: keep the pools with the maximum `capacity_score` (exact comparison), then the
    /// lowest price; exact ties are drawn uniformly from `alloc` — spot prices differ per zone
    /// on AWS, so exact ties are an artefact of our per-type price table and request order
    /// would pile every launch into the first zone (Karpenter's KWOK provider also draws among
    /// equal-price offerings, docs/model/karpenter.md §10).
    pub(super) fn price_capacity_optimized(
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
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
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
}
