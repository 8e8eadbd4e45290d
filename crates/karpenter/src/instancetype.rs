//! Karpenter's view of the EC2 instance types for one EC2NodeClass: requirements (labels),
//! capacity, allocatable under the NodeClass's kubelet settings, and offerings (zone × capacity
//! type × price). Availability of an offering also depends on the insufficient-capacity cache
//! ([`IceCache`]), consulted at use time.
//! docs/model/karpenter.md §1.4, §1.5, §2 "Selection criteria", §7.

use std::collections::BTreeMap;

use crate::apis::{AmiFamily as ApiAmiFamily, EC2NodeClass, EvictionThreshold};
use asim_core::catalog::allocatable::{AmiFamily, KubeletSettings, node_resources};
use asim_core::catalog::{Arch, Catalog};
use asim_core::cloud::CapacityType;
use asim_core::cloud::zones::zone_id;
use asim_core::engine::SimTime;
use asim_core::k8s::requirements::{Requirement, Requirements};
use asim_core::k8s::resources::Resources;

pub const ZONE: &str = "topology.kubernetes.io/zone";
pub const CAPACITY_TYPE: &str = "karpenter.sh/capacity-type";
pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
pub const ZONE_ID: &str = "topology.k8s.aws/zone-id";
pub const REGION: &str = "topology.kubernetes.io/region";

/// Insufficient-capacity TTL: 3 minutes (docs/model/karpenter.md §2 "Unavailable-offerings").
pub const ICE_TTL_MS: u64 = 3 * 60_000;

#[derive(Clone, Debug, PartialEq)]
pub struct Offering {
    pub zone: String,
    /// The zone's id (`use1-az1`): offerings answer `topology.k8s.aws/zone-id` requirements too.
    pub zone_id: String,
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
        self.has_offering_in(&OfferingKeys::of(reqs), ice, now)
    }

    /// [`InstanceTypeInfo::has_offering`] given only the requirements it reads, so callers can
    /// cache it.
    pub fn has_offering_in(&self, keys: &OfferingKeys, ice: &IceCache, now: SimTime) -> bool {
        self.offerings
            .iter()
            .any(|o| keys.allows(o) && ice.available(&self.name, o, now))
    }

    /// Cheapest available offering compatible with `reqs`.
    pub fn cheapest(&self, reqs: &Requirements, ice: &IceCache, now: SimTime) -> Option<&Offering> {
        self.cheapest_allowed(&OfferingReqs::of(reqs), ice, now)
    }

    /// [`InstanceTypeInfo::cheapest`] with the requirements already looked up.
    pub fn cheapest_allowed(
        &self,
        allowed: &OfferingReqs<'_>,
        ice: &IceCache,
        now: SimTime,
    ) -> Option<&Offering> {
        self.offerings
            .iter()
            .filter(|o| allowed.allows(o) && ice.available(&self.name, o, now))
            .min_by(|a, b| a.price.total_cmp(&b.price))
    }
}

/// The requirements an offering answers: zone, zone id and capacity type (`None` =
/// unconstrained). Karpenter's offerings carry exactly these keys (AWS provider
/// pkg/providers/instancetype/offering/provider.go).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct OfferingKeys {
    pub zone: Option<Requirement>,
    pub zone_id: Option<Requirement>,
    pub capacity_type: Option<Requirement>,
}

impl OfferingKeys {
    pub fn of(reqs: &Requirements) -> OfferingKeys {
        OfferingKeys {
            zone: reqs.get(ZONE).cloned(),
            zone_id: reqs.get(ZONE_ID).cloned(),
            capacity_type: reqs.get(CAPACITY_TYPE).cloned(),
        }
    }

    pub fn allows(&self, o: &Offering) -> bool {
        offering_allowed(
            o,
            self.zone.as_ref(),
            self.zone_id.as_ref(),
            self.capacity_type.as_ref(),
        )
    }
}

pub fn offering_compatible(o: &Offering, reqs: &Requirements) -> bool {
    OfferingReqs::of(reqs).allows(o)
}

/// The zone, zone-id and capacity-type requirements of a requirement set, looked up once for
/// a loop over offerings.
#[derive(Clone, Copy)]
pub struct OfferingReqs<'r> {
    zone: Option<&'r Requirement>,
    zone_id: Option<&'r Requirement>,
    capacity_type: Option<&'r Requirement>,
}

impl<'r> OfferingReqs<'r> {
    pub fn of(reqs: &'r Requirements) -> Self {
        OfferingReqs {
            zone: reqs.get(ZONE),
            zone_id: reqs.get(ZONE_ID),
            capacity_type: reqs.get(CAPACITY_TYPE),
        }
    }

    /// [`offering_compatible`].
    pub fn allows(&self, o: &Offering) -> bool {
        offering_allowed(o, self.zone, self.zone_id, self.capacity_type)
    }
}

/// Whether offering `o` meets the zone, zone-id and capacity-type requirements (None =
/// unconstrained).
fn offering_allowed(
    o: &Offering,
    zone: Option<&Requirement>,
    zone_id: Option<&Requirement>,
    capacity_type: Option<&Requirement>,
) -> bool {
    zone.is_none_or(|r| r.has(&o.zone))
        && zone_id.is_none_or(|r| r.has(&o.zone_id))
        && capacity_type.is_none_or(|r| r.has(o.capacity_type.as_str()))
}

/// Karpenter's unavailable-offerings cache: `(type, zone, capacity type)` → expiry.
#[derive(Clone, Debug, Default)]
pub struct IceCache {
    entries: BTreeMap<(String, String, CapacityType), SimTime>,
    /// How many times an offering has been marked.
    marks: u64,
}

impl IceCache {
    pub fn mark(&mut self, instance_type: &str, zone: &str, ct: CapacityType, now: SimTime) {
        self.marks += 1;
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

    /// Which offerings are unavailable at `now`, as a key that changes whenever that set
    /// does: marks so far and marks still in force. Every mark lasts the same TTL, so marks
    /// expire in the order they were made and the two counts name the set.
    pub fn state(&self, now: SimTime) -> (u64, usize) {
        let live = self.entries.values().filter(|until| **until > now).count();
        (self.marks, live)
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
    let res = |m: &BTreeMap<String, asim_core::k8s::quantity::Quantity>| {
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

/// Ephemeral-storage capacity from the NodeClass (§1.5; AWS provider
/// pkg/providers/instancetype/types.go `ephemeralStorage`): the RAID0 instance store; else the
/// mapping marked `rootVolume`; else, for a Custom AMI, the last mapping, and for the other
/// families the mapping of the family's ephemeral device (`/dev/xvda` on AL2023, `/dev/xvdb`
/// on Bottlerocket) — a second, larger volume listed last does not count; else the AMI
/// default.
pub fn ephemeral_bytes(
    nc: Option<&EC2NodeClass>,
    ami: AmiFamily,
    local_nvme_gb: Option<u64>,
) -> i64 {
    let size_of = |m: &crate::apis::BlockDeviceMapping| {
        m.ebs
            .as_ref()
            .and_then(|e| e.volume_size.as_ref())
            .map(|q| q.to_units_ceil())
    };
    if let Some(nc) = nc {
        if nc.spec.instance_store_policy.is_some()
            && let Some(gb) = local_nvme_gb
        {
            return (gb as i64) * 1_000_000_000;
        }
        let mappings = &nc.spec.block_device_mappings;
        if let Some(size) = nc.root_volume().and_then(size_of) {
            return size;
        }
        let chosen = match ami.ephemeral_block_device() {
            None => mappings.last(),
            Some(device) => mappings
                .iter()
                .find(|m| m.device_name.as_deref() == Some(device)),
        };
        if let Some(size) = chosen.and_then(size_of) {
            return size;
        }
    }
    ami.default_ephemeral_storage_bytes()
}

/// An instance type's requirements as Karpenter's AWS provider builds them
/// (pkg/providers/instancetype/types.go `computeRequirements`): the type's own labels, the
/// zones and zone ids of the NodeClass's subnets, the region, the capacity types it is sold
/// as, tenancy `default`, and `DoesNotExist` for every other well-known label the type has no
/// value for (no GPU, no local NVMe, no capacity reservation, no Windows build, …). Defining
/// every well-known key is what keeps Karpenter's view and the node's labels in agreement: a
/// pod requiring `instance-local-nvme Exists` must not be planned onto a type without NVMe,
/// whose node would then refuse it (docs/model/karpenter-provisioning.md "Instance-type
/// labels").
pub fn type_requirements(
    it: &asim_core::catalog::InstanceType,
    region: &str,
    zones: &[String],
) -> Requirements {
    use crate::apis::{INSTANCE_TENANCY_LABEL, NODEPOOL_LABEL, WELL_KNOWN_LABELS};
    let mut reqs = Requirements::from_labels(&it.labels());
    reqs.add_requirement(Requirement::in_values(
        ZONE,
        zones.iter().map(String::as_str),
    ));
    let ids: Vec<String> = zones.iter().map(|z| zone_id(z)).collect();
    reqs.add_requirement(Requirement::in_values(
        ZONE_ID,
        ids.iter().map(String::as_str),
    ));
    reqs.add_requirement(Requirement::in_values(REGION, [region]));
    let cts: &[&str] = if it.has_spot() {
        &["on-demand", "spot"]
    } else {
        &["on-demand"]
    };
    reqs.add_requirement(Requirement::in_values(CAPACITY_TYPE, cts.iter().copied()));
    // Dedicated tenancy is not simulated: every instance is `default`.
    reqs.add_requirement(Requirement::in_values(INSTANCE_TENANCY_LABEL, ["default"]));
    for key in WELL_KNOWN_LABELS {
        if *key != NODEPOOL_LABEL && !reqs.has(key) {
            reqs.add_requirement(Requirement::does_not_exist(key));
        }
    }
    reqs
}

/// Compatibility (§2 "Implicit filters"): no a1 with AL2023; no arm64 Windows.
fn ami_runs_on(ami: AmiFamily, it: &asim_core::catalog::InstanceType) -> bool {
    !((ami == AmiFamily::AL2023 && it.family == "a1")
        || (ami == AmiFamily::Windows && it.arch == Arch::Arm64))
}

/// The catalog types a NodeClass's AMI family cannot run, with their requirements: never
/// offered, but named when they are the reason a NodePool has no instance type.
pub fn ami_excluded(
    catalog: &Catalog,
    nc: Option<&EC2NodeClass>,
    zones: &[String],
) -> Vec<(String, Requirements)> {
    let ami = catalog_ami(nc.map_or(ApiAmiFamily::Al2023, |n| n.effective_ami_family()));
    catalog
        .types()
        .iter()
        .filter(|it| !ami_runs_on(ami, it))
        .map(|it| {
            (
                it.name.clone(),
                type_requirements(it, catalog.region(), zones),
            )
        })
        .collect()
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
        if !ami_runs_on(ami, it) {
            continue;
        }
        let storage = ephemeral_bytes(nc, ami, it.local_nvme_gb);
        let Ok(res) = node_resources(
            it,
            ami,
            &kubelet,
            storage,
            asim_core::catalog::allocatable::DEFAULT_VM_MEMORY_OVERHEAD_PERCENT,
        ) else {
            continue;
        };
        let mut offerings = Vec::new();
        for z in zones {
            let zone_id = zone_id(z);
            offerings.push(Offering {
                zone: z.clone(),
                zone_id: zone_id.clone(),
                capacity_type: CapacityType::OnDemand,
                price: it.od_usd_per_hour,
            });
            if let Some(p) = it.spot_price() {
                offerings.push(Offering {
                    zone: z.clone(),
                    zone_id,
                    capacity_type: CapacityType::Spot,
                    price: p,
                });
            }
        }
        let requirements = type_requirements(it, catalog.region(), zones);
        let mut capacity = res.capacity.to_resources();
        capacity.pods = res.capacity.pods;
        let allocatable = res.allocatable.to_resources();
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
        // docs/model/karpenter.md §1.5 worked example.
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
            zone_id: "z-az1".into(),
            capacity_type: CapacityType::Spot,
            price: 1.0,
        };
        ice.mark("m5.large", "z", CapacityType::Spot, SimTime(0));
        assert!(!ice.available("m5.large", &o, SimTime(179_999)));
        assert!(ice.available("m5.large", &o, SimTime(180_000)));
    }
}
