//! The spot market at time zero (docs/model/ec2.md §2): each spot pool's capacity figure
//! (§2.1) and its price in each zone (§2.3), from the catalog and the `spot-market` stream.
//! What moves during a run (the day's capacity variation, price drift) is the mock's
//! (`mock/mod.rs`, [`super::SpotMarket`]).

use std::collections::BTreeMap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::catalog::InstanceType;

/// Capacity figure of the deepest kind of pool (Advisor bucket 0, current hardware, a common
/// size, the best zone): roughly how many instances it could take at once. Only ratios and the
/// tier threshold (`mock::fleet::PCO_ENOUGH_PER_INSTANCE`, per instance) give it meaning.
pub const CAPACITY_SCALE: f64 = 100.0;

/// Capacity factor per Spot Advisor interruption bucket (under 5 %, 5–10 %, 10–15 %, 15–20 %,
/// over 20 % a month). AWS reclaims where spare capacity runs out, so a calmer pool has more spare
/// capacity; linear and gentle because the Advisor's bucket is a monthly, region-wide average
/// for the type, and today's current generations sit mostly in the top bucket.
pub const BUCKET_FACTOR: [f64; 5] = [1.0, 0.85, 0.7, 0.55, 0.4];

/// Depth of a legacy family's pool: Xen (pre-Nitro) hardware — m3, m4, c3, c4, r3, r4, i2, i3,
/// d2, x1, h1, t2, … — that EC2 no longer adds to. [assumption], see docs/model/ec2.md §2.1.
pub const LEGACY_DEPTH: f64 = 0.3;

/// Depth of the first generations (m1, m2, c1, t1: generation ≤ 2), "previous generation"
/// types that only a few hosts still serve.
pub const ANCIENT_DEPTH: f64 = 0.15;

/// Per-zone capacity factor of a family: uniform in `[ZONE_CAPACITY_MIN, 1]`, one draw per
/// (family, zone) — zones are built out unevenly, and a family's sizes share hosts.
pub const ZONE_CAPACITY_MIN: f64 = 0.6;

/// Per-zone spot price factor: uniform in `[1 − s, 1 + s]` around the Advisor's price, one
/// draw per (type, zone). AWS prices spot per zone; the Advisor gives one saving per region.
pub const ZONE_PRICE_SPREAD: f64 = 0.10;

/// Day-to-day variation of a pool's capacity figure: `exp(u)`, `u` uniform in `[−s, s]`
/// (`SpotMarket::daily_spread`; the simulation's setting).
pub const DAILY_CAPACITY_SPREAD: f64 = 0.4;

/// Probability that a zone is in a capacity crunch on a UTC day (`SpotMarket::crunch_probability`;
/// docs/model/ec2.md §2.1): a surge of spot demand drains the current-generation pools of the
/// zone — where every flexible price-capacity-optimized request converges — while the legacy
/// pools, which few requests list, keep their spare capacity. [assumption]
pub const CRUNCH_PROBABILITY: f64 = 0.07;

/// Factor on a crunched pool's capacity figure (`SpotMarket::crunch_factor`): a twentieth, so
/// that even the deepest current pool of the best zone on its best day (100 × e^0.4 ≈ 149)
/// falls to ≈ 7.5, under the tier's bar for one instance (10). [assumption]
pub const CRUNCH_FACTOR: f64 = 0.05;

/// Depth of a type's real pools before the Advisor bucket and zone: hardware generation
/// (Nitro current, Xen legacy, the first generations ancient) times size (common sizes up to
/// 16 vCPU deep; 32–48 vCPU 0.7; 64–96 vCPU 0.5; larger, and bare metal, 0.35: a host gives
/// one such instance where it gives many small ones).
pub fn pool_depth(it: &InstanceType) -> f64 {
    let hardware = if it.generation <= 2 {
        ANCIENT_DEPTH
    } else if it.hypervisor == "xen" {
        LEGACY_DEPTH
    } else {
        1.0
    };
    let size = if it.size.contains("metal") || it.vcpu > 96 {
        0.35
    } else if it.vcpu > 48 {
        0.5
    } else if it.vcpu > 16 {
        0.7
    } else {
        1.0
    };
    hardware * size
}

/// Whether docs/model/ec2.md §2.1 counts the type as legacy (shallow hardware).
pub fn is_legacy(it: &InstanceType) -> bool {
    it.generation <= 2 || it.hypervisor == "xen"
}

/// The time-zero draws of the spot market, in a fixed order: the caller asks for pools in
/// catalog order × zone order, and each pool draws its price factor, then (on a family's first
/// pool in a zone) the family's zone capacity factor.
pub struct MarketDraws {
    rng: ChaCha8Rng,
    family_zone: BTreeMap<(String, String), f64>,
}

/// One spot pool at time zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpotPoolDraw {
    pub capacity: f64,
    pub price_per_hour: f64,
}

impl MarketDraws {
    /// `seed` is the `spot-market` stream's seed (`Stream::SpotMarket.seed(scenario seed)`);
    /// this draws from ChaCha stream 0 of it, the mock's random access from streams ≥ 2³².
    pub fn new(seed: u64) -> Self {
        MarketDraws {
            rng: ChaCha8Rng::seed_from_u64(seed),
            family_zone: BTreeMap::new(),
        }
    }

    /// The spot pool of `it` in `zone`, or None without Advisor data. `zone_price`, when the
    /// catalog carries the zone's real spot price, replaces the drawn factor (which is drawn
    /// anyway, so the other pools' draws do not depend on which prices a catalog carries).
    pub fn spot_pool(
        &mut self,
        it: &InstanceType,
        zone: &str,
        zone_price: Option<f64>,
    ) -> Option<SpotPoolDraw> {
        let advisor = it.spot_price()?;
        let u: f64 = self.rng.random();
        let price_per_hour =
            zone_price.unwrap_or(advisor * (1.0 + ZONE_PRICE_SPREAD * (2.0 * u - 1.0)));
        let rng = &mut self.rng;
        let zone_factor = *self
            .family_zone
            .entry((it.family.clone(), zone.to_string()))
            .or_insert_with(|| ZONE_CAPACITY_MIN + (1.0 - ZONE_CAPACITY_MIN) * rng.random::<f64>());
        let bucket = BUCKET_FACTOR
            .get(usize::from(it.interruption_bucket.unwrap_or(4)))
            .copied()
            .unwrap_or(BUCKET_FACTOR[4]);
        Some(SpotPoolDraw {
            capacity: CAPACITY_SCALE * bucket * pool_depth(it) * zone_factor,
            price_per_hour,
        })
    }
}
