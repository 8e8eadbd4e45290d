//! Karpenter's view of the EC2 instance types for one EC2NodeClass: requirements (labels),
//! capacity, allocatable under the NodeClass's kubelet settings, and offerings (zone × capacity
//! type × price). Availability of an offering also depends on the insufficient-capacity cache
//! ([`IceCache`]), consulted at use time.
//! reference/karpenter.md §1.4, §1.5, §2 "Selection criteria", §7.

use std::collections::BTreeMap;

use crate::catalog::allocatable::{AmiFamily, KubeletSettings, node_resources};
use crate::catalog::{Arch, Catalog};
use crate::cloud::CapacityType;
use crate::engine::SimTime;
use crate::k8s::requirements::{Requirement, Requirements};
use crate::k8s::resources::Resources;
use crate::karpenter::apis::{AmiFamily as ApiAmiFamily, EC2NodeClass, EvictionThreshold};
use crate::sim::res_to_resources;

pub const ZONE: &str = "topology.kubernetes.io/zone";
pub const CAPACITY_TYPE: &str = "karpenter.sh/capacity-type";
pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";

/// Insufficient-capacity TTL: 3 minutes (reference/karpenter.md §2 "Unavailable-offerings").
pub const ICE_TTL_MS: u64 = 3 * 60_000;

#[derive(Clone, Debug, PartialEq)]
pub struct Offering {
    pub zone: String,
    pub capacity_type: CapacityType,
    pub price: f64,
}

#[derive(Clone, Debug)]
pub struct InstanceTypeInfo {
    pub name: String,
    pub requirements: Requirements,
    pub capacity: Resources,
    pub allocatable: Resources,
    /// Offerings in the NodeClass's zones; unpriced or incompatible ones are absent.
    pub offerings: Vec<Offering>,
    /// Metal, GPU or accelerator types: launched only when nothing else fits (§2 step 1).
    pub exotic: bool,
}

impl InstanceTypeInfo {
    /// Whether some available offering matches `reqs` (zone and capacity type).
    pub fn has_offering(&self, reqs: &Requirements, ice: &IceCache, now: SimTime) -> bool {
        self.has_offering_in(reqs.get(ZONE), reqs.get(CAPACITY_TYPE), ice, now)
    }

    /// [`InstanceTypeInfo::has_offering`] given only the two requirements it reads (the zone
    /// and capacity-type requirements; `None` = unconstrained), so callers can cache it.
    pub fn has_offering_in(
        &self,
        zone: Option<&Requirement>,
        capacity_type: Option<&Requirement>,
        ice: &IceCache,
        now: SimTime,
    ) -> bool {
        self.offerings.iter().any(|o| {
            zone.is_none_or(|r| r.has(&o.zone))
                && capacity_type.is_none_or(|r| r.has(o.capacity_type.as_str()))
                && ice.available(&self.name, o, now)
        })
    }

    /// Cheapest available offering compatible with `reqs`.
    pub fn cheapest(&self, reqs: &Requirements, ice: &IceCache, now: SimTime) -> Option<&Offering> {
        self.offerings
            .iter()
            .filter(|o| offering_compatible(o, reqs) && ice.available(&self.name, o, now))
            .min_by(|a, b| a.price.total_cmp(&b.price))
    }
}

pub fn offering_compatible(o: &Offering, reqs: &Requirements) -> bool {
    reqs.get(ZONE).is_none_or(|r| r.has(&o.zone))
        && reqs
            .get(CAPACITY_TYPE)
            .is_none_or(|r| r.has(o.capacity_type.as_str()))
}

/// Karpenter's unavailable-offerings cache: `(type, zone, capacity type)` → expiry.
#[derive(Clone, Debug, Default)]
pub struct IceCache {
    entries: BTreeMap<(String, String, CapacityType), SimTime>,
}

impl IceCache {
    pub fn mark(&mut self, instance_type: &str, zone: &str, ct: CapacityType, now: SimTime) {
        self.entries.insert(
            (instance_type.to_string(), zone.to_string(), ct),
            now + ICE_TTL_MS,
        );
    }

    pub fn available(&self, instance_type: &str, o: &Offering, now: SimTime) -> bool {
        if self.entries.is_empty() {
            return true;
        }
        self.entries
            .get(&(instance_type.to_string(), o.zone.clone(), o.capacity_type))
            .is_none_or(|until| now >= *until)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The catalog AMI family for an EC2NodeClass family.
pub fn catalog_ami(f: ApiAmiFamily) -> AmiFamily {
    match f {
        ApiAmiFamily::Al2 => AmiFamily::AL2,
        ApiAmiFamily::Al2023 => AmiFamily::AL2023,
        ApiAmiFamily::Bottlerocket => AmiFamily::Bottlerocket,
        ApiAmiFamily::Custom => AmiFamily::Custom,
        ApiAmiFamily::Windows2019 | ApiAmiFamily::Windows2022 | ApiAmiFamily::Windows2025 => {
            AmiFamily::Windows
        }
    }
}

/// Kubelet settings of an EC2NodeClass, in the units the allocatable formulas take.
pub fn kubelet_settings(nc: &EC2NodeClass) -> KubeletSettings {
    let k = &nc.spec.kubelet;
    let res = |m: &BTreeMap<String, crate::k8s::quantity::Quantity>| {
        m.iter()
            .map(|(key, q)| {
                let v = if key == "cpu" {
                    q.to_milli_ceil()
                } else {
                    q.to_units_ceil()
                };
                (key.clone(), v)
            })
            .collect()
    };
    KubeletSettings {
        max_pods: k.max_pods.and_then(|v| u32::try_from(v).ok()),
        pods_per_core: k.pods_per_core.and_then(|v| u32::try_from(v).ok()),
        kube_reserved: res(&k.kube_reserved),
        system_reserved: res(&k.system_reserved),
        eviction_hard: k
            .eviction_hard
            .iter()
            .map(|(key, t)| {
                let v = match t {
                    EvictionThreshold::Quantity(q) => q.to_units_ceil().to_string(),
                    EvictionThreshold::PercentHundredths(h) => {
                        format!("{}%", f64::from(*h) / 100.0)
                    }
                };
                (key.clone(), v)
            })
            .collect(),
    }
}

/// Ephemeral-storage capacity from the NodeClass (§1.5): RAID0 instance store, else the root
/// volume from `blockDeviceMappings`, else the AMI default.
fn ephemeral_bytes(nc: Option<&EC2NodeClass>, ami: AmiFamily, local_nvme_gb: Option<u64>) -> i64 {
    if let Some(nc) = nc {
        if nc.spec.instance_store_policy.is_some()
            && let Some(gb) = local_nvme_gb
        {
            return (gb as i64) * 1_000_000_000;
        }
        let root = nc
            .root_volume()
            .or_else(|| nc.spec.block_device_mappings.last());
        if let Some(size) = root
            .and_then(|m| m.ebs.as_ref())
            .and_then(|e| e.volume_size.as_ref())
        {
            return size.to_units_ceil();
        }
    }
    ami.default_ephemeral_storage_bytes()
}

/// Resolve every catalog type for a NodeClass (or the defaults when `nc` is None) in `zones`.
pub fn resolve(
    catalog: &Catalog,
    nc: Option<&EC2NodeClass>,
    zones: &[String],
) -> Vec<InstanceTypeInfo> {
    let api_ami = nc.map_or(ApiAmiFamily::Al2023, |n| n.effective_ami_family());
    let ami = catalog_ami(api_ami);
    let kubelet = nc.map(kubelet_settings).unwrap_or_default();
    let mut out = Vec::with_capacity(catalog.len());
    for it in catalog.types() {
        // Compatibility (§2 "Implicit filters"): no a1 with AL2023; no arm64 Windows.
        if (ami == AmiFamily::AL2023 && it.family == "a1")
            || (ami == AmiFamily::Windows && it.arch == Arch::Arm64)
        {
            continue;
        }
        let storage = ephemeral_bytes(nc, ami, it.local_nvme_gb);
        let Ok(res) = node_resources(
            it,
            ami,
            &kubelet,
            storage,
            crate::catalog::allocatable::DEFAULT_VM_MEMORY_OVERHEAD_PERCENT,
        ) else {
            continue;
        };
        let mut offerings = Vec::new();
        for z in zones {
            offerings.push(Offering {
                zone: z.clone(),
                capacity_type: CapacityType::OnDemand,
                price: it.od_usd_per_hour,
            });
            if let Some(p) = it.spot_price() {
                offerings.push(Offering {
                    zone: z.clone(),
                    capacity_type: CapacityType::Spot,
                    price: p,
                });
            }
        }
        let mut requirements = Requirements::from_labels(&it.labels());
        requirements.add_requirement(Requirement::in_values(
            ZONE,
            zones.iter().map(String::as_str),
        ));
        let cts: Vec<&str> = if it.has_spot() {
            vec!["on-demand", "spot"]
        } else {
            vec!["on-demand"]
        };
        requirements.add_requirement(Requirement::in_values(CAPACITY_TYPE, cts));
        let mut capacity = res_to_resources(&res.capacity);
        capacity.pods = res.capacity.pods;
        let allocatable = res_to_resources(&res.allocatable);
        out.push(InstanceTypeInfo {
            name: it.name.clone(),
            requirements,
            capacity,
            allocatable,
            offerings,
            exotic: it.size.contains("metal")
                || it.gpu_count.unwrap_or(0) > 0
                || it.res_nvidia_gpu > 0
                || it.res_amd_gpu > 0
                || it.accelerator_count.unwrap_or(0) > 0
                || it.res_aws_neuron > 0,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_nodeclass_allocatable_matches_karpenter_docs_for_m5_large() {
        // reference/karpenter.md §1.5 worked example.
        let cat = Catalog::embedded("us-east-1").expect("embedded catalog");
        let zones = vec!["us-east-1a".to_string()];
        let types = resolve(&cat, None, &zones);
        let m5 = types
            .iter()
            .find(|t| t.name == "m5.large")
            .expect("m5.large");
        assert_eq!(m5.allocatable.cpu_m, 1930);
        assert_eq!(m5.allocatable.memory, 6903 * 1024 * 1024);
        assert_eq!(m5.allocatable.pods, 29);
    }

    #[test]
    fn a1_types_are_unavailable_with_al2023() {
        let cat = Catalog::embedded("us-east-1").expect("embedded catalog");
        let types = resolve(&cat, None, &["us-east-1a".to_string()]);
        assert!(types.iter().all(|t| !t.name.starts_with("a1.")));
    }

    #[test]
    fn ice_cache_expires_after_three_minutes() {
        let mut ice = IceCache::default();
        let o = Offering {
            zone: "z".into(),
            capacity_type: CapacityType::Spot,
            price: 1.0,
        };
        ice.mark("m5.large", "z", CapacityType::Spot, SimTime(0));
        assert!(!ice.available("m5.large", &o, SimTime(179_999)));
        assert!(ice.available("m5.large", &o, SimTime(180_000)));
    }
}
