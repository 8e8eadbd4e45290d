//! The AWS provider's launch: from a NodeClaim's instance-type options to one CreateFleet
//! request. docs/model/karpenter.md §2 (filters in order, the 60 cheapest, capacity-type
//! preference, overrides per type × zone, allocation strategy).

use asim_core::cloud::{AllocationStrategy, CapacityType, FleetOverride, FleetRequest, LaunchSpec};
use asim_core::engine::SimTime;
use asim_core::k8s::requirements::Requirements;

use super::instancetype::{IceCache, InstanceTypeInfo, OfferingReqs};

/// CreateFleet receives at most the 60 cheapest types (§2 step 2).
pub const MAX_FLEET_TYPES: usize = 60;

/// Why no request could be built: every candidate was filtered out.
#[derive(Debug, Clone, PartialEq)]
pub struct NoOffering(pub String);

/// Build the CreateFleet request for a NodeClaim with `types` (indices into `all`) and
/// `reqs`. `min_values` disables the exotic and spot-price filters, as in Karpenter.
pub fn fleet_request(
    all: &[InstanceTypeInfo],
    types: &[u32],
    reqs: &Requirements,
    ice: &IceCache,
    now: SimTime,
    launch: LaunchSpec,
) -> Result<FleetRequest, NoOffering> {
    let min_values = reqs.has_min_values();
    // 1. Compatible and available.
    let mut cands: Vec<u32> = types
        .iter()
        .copied()
        .filter(|&i| all[i as usize].has_offering(reqs, ice, now))
        .collect();
    if cands.is_empty() {
        return Err(NoOffering(
            "no instance type has an available offering".into(),
        ));
    }
    // Exotic filter: metal, GPU and accelerator types only when nothing else remains.
    if !min_values {
        let generic: Vec<u32> = cands
            .iter()
            .copied()
            .filter(|&i| !all[i as usize].exotic)
            .collect();
        if !generic.is_empty() {
            cands = generic;
        }
    }
    let allows = |ct: CapacityType| {
        reqs.get(super::instancetype::CAPACITY_TYPE)
            .is_none_or(|r| r.has(ct.as_str()))
    };
    let allowed = OfferingReqs::of(reqs);
    let available = |i: u32, ct: CapacityType| {
        let it = &all[i as usize];
        it.offerings.iter().filter(move |o| {
            o.capacity_type == ct && allowed.allows(o) && ice.available(&it.name, o, now)
        })
    };
    // Spot-offering filter: with both capacity types allowed, drop spot offerings priced above
    // the cheapest compatible on-demand offering.
    let cheapest_od = cands
        .iter()
        .flat_map(|&i| available(i, CapacityType::OnDemand).map(|o| o.price))
        .min_by(f64::total_cmp);
    let spot_cap = if allows(CapacityType::Spot) && allows(CapacityType::OnDemand) && !min_values {
        cheapest_od
    } else {
        None
    };
    let spot_ok = |p: f64| spot_cap.is_none_or(|cap| p <= cap);
    // Capacity type: spot if allowed and any spot offering is available, else on-demand (§2 step 3).
    let has_spot = allows(CapacityType::Spot)
        && cands
            .iter()
            .any(|&i| available(i, CapacityType::Spot).any(|o| spot_ok(o.price)));
    let ct = if has_spot {
        CapacityType::Spot
    } else {
        CapacityType::OnDemand
    };
    if !has_spot && !allows(CapacityType::OnDemand) {
        return Err(NoOffering(
            "only spot is allowed and no spot offering is available".into(),
        ));
    }
    // Cheapest offering per type for that capacity type; keep the 60 cheapest types.
    let mut priced: Vec<(f64, u32)> = cands
        .iter()
        .filter_map(|&i| {
            available(i, ct)
                .filter(|o| ct != CapacityType::Spot || spot_ok(o.price))
                .map(|o| o.price)
                .min_by(f64::total_cmp)
                .map(|p| (p, i))
        })
        .collect();
    priced.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then(all[a.1 as usize].name.cmp(&all[b.1 as usize].name))
    });
    priced.truncate(MAX_FLEET_TYPES);
    if priced.is_empty() {
        return Err(NoOffering(format!(
            "no {} offering is available",
            ct.as_str()
        )));
    }
    let mut overrides = Vec::new();
    for (_, i) in &priced {
        let it = &all[*i as usize];
        for o in available(*i, ct) {
            if ct == CapacityType::Spot && !spot_ok(o.price) {
                continue;
            }
            overrides.push(FleetOverride {
                instance_type: it.name.clone(),
                zone: o.zone.clone(),
                priority: o.price,
            });
        }
    }
    Ok(FleetRequest {
        capacity_type: ct,
        allocation: match ct {
            CapacityType::Spot => AllocationStrategy::PriceCapacityOptimized,
            CapacityType::OnDemand => AllocationStrategy::LowestPrice,
        },
        overrides,
        launch,
    })
}
