//! Karpenter's AWS capacity and allocatable formulas (docs/model/karpenter.md §1.5).
//!
//! `allocatable = capacity − (kube-reserved + system-reserved + eviction threshold)`, with
//! memory capacity already reduced for the arm64 CMA region and the VM overhead. The float
//! arithmetic mirrors Karpenter's (f64 products truncated or rounded up at the same places) so
//! the results agree with its generated instance-type page to the byte.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Add, Sub};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Arch, InstanceType};

pub const KI: i64 = 1024;
pub const MI: i64 = 1024 * KI;
pub const GI: i64 = 1024 * MI;

/// Default VM memory overhead (`VM_MEMORY_OVERHEAD_PERCENT`, docs/model/karpenter.md §1.5).
pub const DEFAULT_VM_MEMORY_OVERHEAD_PERCENT: f64 = 0.075;
/// Default root/data volume, and so ephemeral-storage capacity, of the Linux AMI families.
pub const DEFAULT_EPHEMERAL_STORAGE_BYTES: i64 = 20 * GI;
/// Default `/dev/sda1` volume of the Windows AMI family ([aws] pkg/providers/amifamily/windows.go).
pub const WINDOWS_EPHEMERAL_STORAGE_BYTES: i64 = 50 * GI;
/// Pods capacity of AMI families without ENI-limited pod density (Windows).
pub const DEFAULT_MAX_PODS: i64 = 110;
/// Memory Graviton reserves for CMA, deducted from arm64 capacity.
pub const ARM64_CMA_MIB: i64 = 64;
/// Default eviction threshold for memory (`memory.available`).
pub const DEFAULT_EVICTION_MEMORY_BYTES: i64 = 100 * MI;
/// Default eviction threshold for ephemeral storage, percent of capacity (`nodefs.available`).
pub const DEFAULT_EVICTION_STORAGE_PERCENT: f64 = 10.0;
/// Default kube-reserved ephemeral storage.
pub const DEFAULT_KUBE_RESERVED_STORAGE_BYTES: i64 = GI;

/// Kube-reserved CPU tiers: (start, end) in millicores and the fraction reserved of that
/// range — 6 % of the first core, 1 % of the second, 0.5 % of cores 3–4, 0.25 % beyond.
const CPU_TIERS: [(i64, i64, f64); 4] = [
    (0, 1000, 0.06),
    (1000, 2000, 0.01),
    (2000, 4000, 0.005),
    (4000, 1 << 31, 0.0025),
];

/// The EC2NodeClass AMI family, as far as allocatable is concerned (docs/model/karpenter.md §7).
#[allow(clippy::upper_case_acronyms)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum AmiFamily {
    AL2,
    /// Karpenter's default for new EC2NodeClasses (`al2023@latest`).
    #[default]
    AL2023,
    Bottlerocket,
    /// Windows2019 / Windows2022 / Windows2025.
    Windows,
    Custom,
}

impl AmiFamily {
    /// Max pods defaults to the ENI-limited count (else 110).
    pub fn supports_eni_limited_pod_density(self) -> bool {
        !matches!(self, AmiFamily::Windows)
    }

    /// `podsPerCore` is honoured (Bottlerocket ignores it).
    pub fn pods_per_core_enabled(self) -> bool {
        !matches!(self, AmiFamily::Bottlerocket)
    }

    /// Kube-reserved memory is computed from the ENI-limited pods even when `maxPods`
    /// overrides the pod count (docs/model/karpenter.md §1.5, §8 item 59).
    pub fn uses_eni_limited_memory_overhead(self) -> bool {
        matches!(self, AmiFamily::AL2 | AmiFamily::AL2023 | AmiFamily::Custom)
    }

    /// Ephemeral-storage capacity with no `blockDeviceMappings` and no RAID0: the AMI's
    /// default ephemeral volume (Bottlerocket's 20Gi data volume, Windows' 50Gi root).
    pub fn default_ephemeral_storage_bytes(self) -> i64 {
        match self {
            AmiFamily::Windows => WINDOWS_EPHEMERAL_STORAGE_BYTES,
            _ => DEFAULT_EPHEMERAL_STORAGE_BYTES,
        }
    }

    /// The device whose volume holds the kubelet's root dir, so its size is the node's
    /// ephemeral storage (Karpenter AWS provider pkg/providers/amifamily/*.go
    /// `EphemeralBlockDevice`): the root volume on AL2 and AL2023, Bottlerocket's data volume,
    /// Windows' root. Custom AMIs have none the provider knows.
    pub fn ephemeral_block_device(self) -> Option<&'static str> {
        match self {
            AmiFamily::AL2 | AmiFamily::AL2023 => Some("/dev/xvda"),
            AmiFamily::Bottlerocket => Some("/dev/xvdb"),
            AmiFamily::Windows => Some("/dev/sda1"),
            AmiFamily::Custom => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AmiFamily::AL2 => "AL2",
            AmiFamily::AL2023 => "AL2023",
            AmiFamily::Bottlerocket => "Bottlerocket",
            AmiFamily::Windows => "Windows",
            AmiFamily::Custom => "Custom",
        }
    }
}

impl fmt::Display for AmiFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AmiFamily {
    type Err = AllocatableError;
    /// Accepts `amiFamily` values (`AL2`, `AL2023`, `Bottlerocket`, `Custom`, `Windows2019`,
    /// `Windows2022`, `Windows2025`) and alias prefixes (`al2023`, `bottlerocket`, `windows2022`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "al2" => Ok(AmiFamily::AL2),
            "al2023" => Ok(AmiFamily::AL2023),
            "bottlerocket" => Ok(AmiFamily::Bottlerocket),
            "custom" => Ok(AmiFamily::Custom),
            "windows" | "windows2019" | "windows2022" | "windows2025" => Ok(AmiFamily::Windows),
            _ => Err(AllocatableError::UnknownAmiFamily(s.to_string())),
        }
    }
}

/// The EC2NodeClass `kubelet` fields that affect allocatable. Reserved values are plain
/// numbers keyed by resource name: `cpu` in millicores, `memory` / `ephemeral-storage` in bytes
/// (`pid` is accepted and ignored). `eviction_hard` holds kubelet signal strings such as
/// `memory.available: "100Mi"` or `nodefs.available: "10%"`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeletSettings {
    pub max_pods: Option<u32>,
    pub pods_per_core: Option<u32>,
    pub kube_reserved: BTreeMap<String, i64>,
    pub system_reserved: BTreeMap<String, i64>,
    pub eviction_hard: BTreeMap<String, String>,
}

/// Errors in kubelet settings or options; each names the field and what was expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AllocatableError {
    #[error(
        "kubelet {field}: unknown resource `{key}` (expected cpu, memory, ephemeral-storage or pid)"
    )]
    UnknownReservedResource { field: &'static str, key: String },
    #[error("kubelet {field}.{key}: expected a non-negative value, found {value}")]
    NegativeReserved {
        field: &'static str,
        key: String,
        value: i64,
    },
    #[error(
        "kubelet evictionHard.{key}: expected a quantity like 100Mi or a percentage 0-100% like 10%, found {value:?}"
    )]
    BadEvictionValue { key: String, value: String },
    #[error("vmMemoryOverheadPercent: expected a finite fraction in [0, 1), found {0}")]
    BadOverheadPercent(f64),
    #[error("ephemeral-storage capacity: expected a non-negative byte count, found {0}")]
    NegativeStorage(i64),
    #[error(
        "amiFamily: expected AL2, AL2023, Bottlerocket, Custom or Windows2019/2022/2025, found {0:?}"
    )]
    UnknownAmiFamily(String),
}

/// A resource vector in plain units: CPU millicores, memory and storage bytes, counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Res {
    pub cpu_m: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    pub pods: i64,
    pub nvidia_gpu: i64,
    pub amd_gpu: i64,
    pub neuron: i64,
    pub neuroncore: i64,
    pub efa: i64,
}

impl Res {
    /// As the Kubernetes resource list a node reports (extended resources by their names).
    pub fn to_resources(&self) -> crate::k8s::resources::Resources {
        let mut out = crate::k8s::resources::Resources {
            cpu_m: self.cpu_m,
            memory: self.memory,
            ephemeral_storage: self.ephemeral_storage,
            pods: self.pods,
            ..Default::default()
        };
        out.set("nvidia.com/gpu", self.nvidia_gpu);
        out.set("amd.com/gpu", self.amd_gpu);
        out.set("aws.amazon.com/neuron", self.neuron);
        out.set("aws.amazon.com/neuroncore", self.neuroncore);
        out.set("vpc.amazonaws.com/efa", self.efa);
        out
    }

    fn zip(self, o: Res, f: impl Fn(i64, i64) -> i64) -> Res {
        Res {
            cpu_m: f(self.cpu_m, o.cpu_m),
            memory: f(self.memory, o.memory),
            ephemeral_storage: f(self.ephemeral_storage, o.ephemeral_storage),
            pods: f(self.pods, o.pods),
            nvidia_gpu: f(self.nvidia_gpu, o.nvidia_gpu),
            amd_gpu: f(self.amd_gpu, o.amd_gpu),
            neuron: f(self.neuron, o.neuron),
            neuroncore: f(self.neuroncore, o.neuroncore),
            efa: f(self.efa, o.efa),
        }
    }
}

impl Add for Res {
    type Output = Res;
    fn add(self, o: Res) -> Res {
        self.zip(o, i64::saturating_add)
    }
}

impl Sub for Res {
    type Output = Res;
    fn sub(self, o: Res) -> Res {
        self.zip(o, i64::saturating_sub)
    }
}

/// Capacity, the three overheads, and allocatable of one instance type under one NodeClass.
/// Allocatable is not clamped at zero (as in Karpenter): a negative value fits nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeResources {
    pub capacity: Res,
    pub kube_reserved: Res,
    pub system_reserved: Res,
    pub eviction: Res,
    pub allocatable: Res,
}

/// Capacity, overheads and allocatable of `it` (docs/model/karpenter.md §1.5).
///
/// `ephemeral_storage_bytes` is the node's ephemeral-storage capacity, which the caller derives
/// from `blockDeviceMappings`, `instanceStorePolicy: RAID0` or the AMI default
/// ([`AmiFamily::default_ephemeral_storage_bytes`]). `vm_memory_overhead_percent` is a fraction,
/// normally [`DEFAULT_VM_MEMORY_OVERHEAD_PERCENT`].
pub fn node_resources(
    it: &InstanceType,
    ami: AmiFamily,
    kubelet: &KubeletSettings,
    ephemeral_storage_bytes: i64,
    vm_memory_overhead_percent: f64,
) -> Result<NodeResources, AllocatableError> {
    if !vm_memory_overhead_percent.is_finite() || !(0.0..1.0).contains(&vm_memory_overhead_percent)
    {
        return Err(AllocatableError::BadOverheadPercent(
            vm_memory_overhead_percent,
        ));
    }
    if ephemeral_storage_bytes < 0 {
        return Err(AllocatableError::NegativeStorage(ephemeral_storage_bytes));
    }
    let kube_overrides = reserved_overrides("kubeReserved", &kubelet.kube_reserved)?;
    let system_reserved = reserved_overrides("systemReserved", &kubelet.system_reserved)?;
    let memory = memory_capacity_bytes(it, vm_memory_overhead_percent);
    let eviction_memory = match kubelet.eviction_hard.get("memory.available") {
        Some(v) => Some(eviction_signal("memory.available", v, memory)?),
        None => None,
    };
    let eviction_storage = match kubelet.eviction_hard.get("nodefs.available") {
        Some(v) => Some(eviction_signal(
            "nodefs.available",
            v,
            ephemeral_storage_bytes,
        )?),
        None => None,
    };

    let capacity = Res {
        cpu_m: i64::from(it.vcpu) * 1000,
        memory,
        ephemeral_storage: ephemeral_storage_bytes,
        pods: pods_capacity(it, ami, kubelet.max_pods, kubelet.pods_per_core),
        nvidia_gpu: i64::from(it.res_nvidia_gpu),
        amd_gpu: i64::from(it.res_amd_gpu),
        neuron: i64::from(it.res_aws_neuron),
        neuroncore: i64::from(it.res_aws_neuroncore),
        efa: i64::from(it.res_efa),
    };
    let reserved_pods = if ami.uses_eni_limited_memory_overhead() {
        i64::from(it.eni_pods)
    } else {
        capacity.pods
    };
    let mut kube_reserved = Res {
        cpu_m: kube_reserved_cpu_m(capacity.cpu_m),
        memory: kube_reserved_memory_bytes(reserved_pods),
        ephemeral_storage: DEFAULT_KUBE_RESERVED_STORAGE_BYTES,
        ..Res::default()
    };
    // User kubeReserved keys replace the defaults key by key.
    kube_overrides.apply(&mut kube_reserved);
    let mut system = Res::default();
    system_reserved.apply(&mut system);
    let eviction = Res {
        memory: eviction_memory.unwrap_or(DEFAULT_EVICTION_MEMORY_BYTES),
        ephemeral_storage: eviction_storage.unwrap_or_else(|| {
            percent_of(ephemeral_storage_bytes, DEFAULT_EVICTION_STORAGE_PERCENT)
        }),
        ..Res::default()
    };
    let allocatable = capacity - (kube_reserved + system + eviction);
    Ok(NodeResources {
        capacity,
        kube_reserved,
        system_reserved: system,
        eviction,
        allocatable,
    })
}

/// Node resources with an AMI family's defaults: no kubelet overrides, the AMI's default
/// ephemeral volume, 7.5 % VM overhead. AL2023 gives the values on Karpenter's instance-type page.
pub fn default_node_resources(
    it: &InstanceType,
    ami: AmiFamily,
) -> Result<NodeResources, AllocatableError> {
    node_resources(
        it,
        ami,
        &KubeletSettings::default(),
        ami.default_ephemeral_storage_bytes(),
        DEFAULT_VM_MEMORY_OVERHEAD_PERCENT,
    )
}

/// Memory capacity in bytes: `SizeInMiB` (− 64 MiB on arm64) minus
/// `ceil(bytes × overhead / MiB)` MiB.
pub fn memory_capacity_bytes(it: &InstanceType, vm_memory_overhead_percent: f64) -> i64 {
    let mut mib = i64::try_from(it.memory_mib).unwrap_or(i64::MAX / MI);
    if it.arch == Arch::Arm64 {
        mib -= ARM64_CMA_MIB;
    }
    let bytes = mib.saturating_mul(MI);
    // Same operation order as Karpenter: bytes × pct / 1024 / 1024, rounded up to whole MiB.
    let overhead_mib = (bytes as f64 * vm_memory_overhead_percent / 1024.0 / 1024.0).ceil() as i64;
    bytes.saturating_sub(overhead_mib.saturating_mul(MI))
}

/// Pods capacity: `maxPods` if set, else the ENI-limited count (110 for Windows), then capped
/// at `podsPerCore × vCPU` where the AMI family honours it.
pub fn pods_capacity(
    it: &InstanceType,
    ami: AmiFamily,
    max_pods: Option<u32>,
    pods_per_core: Option<u32>,
) -> i64 {
    let mut count = match max_pods {
        Some(n) => i64::from(n),
        None if ami.supports_eni_limited_pod_density() => i64::from(it.eni_pods),
        None => DEFAULT_MAX_PODS,
    };
    if let Some(ppc) = pods_per_core.filter(|&p| p > 0 && ami.pods_per_core_enabled()) {
        count = count.min(i64::from(ppc) * i64::from(it.vcpu));
    }
    count
}

/// Kube-reserved CPU in millicores for a CPU capacity in millicores (tiers 6/1/0.5/0.25 %;
/// each tier's share truncated to whole millicores, as Karpenter does).
pub fn kube_reserved_cpu_m(cpu_m: i64) -> i64 {
    CPU_TIERS
        .iter()
        .filter(|(start, _, _)| cpu_m >= *start)
        .map(|&(start, end, pct)| {
            let span = if cpu_m < end {
                cpu_m - start
            } else {
                end - start
            };
            (span as f64 * pct) as i64
        })
        .sum()
}

/// Kube-reserved memory `11 × pods + 255` MiB.
pub fn kube_reserved_memory_bytes(pods: i64) -> i64 {
    (11 * pods + 255).saturating_mul(MI)
}

/// Reserved-resource overrides parsed from a kubeReserved / systemReserved map.
#[derive(Debug, Default)]
struct Overrides {
    cpu_m: Option<i64>,
    memory: Option<i64>,
    ephemeral_storage: Option<i64>,
}

impl Overrides {
    fn apply(&self, r: &mut Res) {
        if let Some(v) = self.cpu_m {
            r.cpu_m = v;
        }
        if let Some(v) = self.memory {
            r.memory = v;
        }
        if let Some(v) = self.ephemeral_storage {
            r.ephemeral_storage = v;
        }
    }
}

fn reserved_overrides(
    field: &'static str,
    m: &BTreeMap<String, i64>,
) -> Result<Overrides, AllocatableError> {
    let mut o = Overrides::default();
    for (k, &v) in m {
        if v < 0 {
            return Err(AllocatableError::NegativeReserved {
                field,
                key: k.clone(),
                value: v,
            });
        }
        match k.as_str() {
            "cpu" => o.cpu_m = Some(v),
            "memory" => o.memory = Some(v),
            "ephemeral-storage" => o.ephemeral_storage = Some(v),
            // A valid kubelet key with no resource in the scheduling model.
            "pid" => {}
            _ => {
                return Err(AllocatableError::UnknownReservedResource {
                    field,
                    key: k.clone(),
                });
            }
        }
    }
    Ok(o)
}

/// `ceil(capacity / 100 × p)` in Karpenter's float order.
fn percent_of(capacity: i64, p: f64) -> i64 {
    (capacity as f64 / 100.0 * p).ceil() as i64
}

/// An evictionHard signal value in bytes: a percentage of `capacity` (`100%` disables the
/// threshold, i.e. 0) or a quantity.
fn eviction_signal(key: &str, value: &str, capacity: i64) -> Result<i64, AllocatableError> {
    let bad = || AllocatableError::BadEvictionValue {
        key: key.to_string(),
        value: value.to_string(),
    };
    if let Some(num) = value.strip_suffix('%') {
        let p: f64 = num.trim().parse().map_err(|_| bad())?;
        if !p.is_finite() || !(0.0..=100.0).contains(&p) {
            return Err(bad());
        }
        let p = if p == 100.0 { 0.0 } else { p };
        return Ok(percent_of(capacity, p));
    }
    parse_quantity(value).ok_or_else(bad)
}

/// Parses a non-negative Kubernetes quantity (`100Mi`, `1.5Gi`, `500M`, `1e9`, `1024`) into
/// whole units, rounding a fractional result up as `Quantity.Value()` does. None if malformed
/// or out of range.
pub fn parse_quantity(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(num_end);
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if frac_part.contains('.') || frac_part.len() > 18 {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let mut numer: i128 = digits.parse().ok()?;
    let mut denom: i128 = 10i128.checked_pow(u32::try_from(frac_part.len()).ok()?)?;
    let (base, exp): (i128, i32) = match suffix {
        "" => (10, 0),
        "Ki" => (2, 10),
        "Mi" => (2, 20),
        "Gi" => (2, 30),
        "Ti" => (2, 40),
        "Pi" => (2, 50),
        "Ei" => (2, 60),
        "n" => (10, -9),
        "u" => (10, -6),
        "m" => (10, -3),
        "k" => (10, 3),
        "M" => (10, 6),
        "G" => (10, 9),
        "T" => (10, 12),
        "P" => (10, 15),
        "E" => (10, 18),
        _ => {
            let e = suffix.strip_prefix(['e', 'E'])?;
            let e: i32 = e.parse().ok()?;
            if !(-30..=30).contains(&e) {
                return None;
            }
            (10, e)
        }
    };
    let factor = base.checked_pow(exp.unsigned_abs())?;
    if exp >= 0 {
        numer = numer.checked_mul(factor)?;
    } else {
        denom = denom.checked_mul(factor)?;
    }
    let value = (numer + denom - 1) / denom;
    i64::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use proptest::prelude::*;

    /// Parsed once: proptest cases would otherwise re-parse the catalog each time.
    fn catalog() -> &'static Catalog {
        static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        CATALOG.get_or_init(|| Catalog::embedded("us-east-1").expect("embedded catalog parses"))
    }

    fn ty(name: &str) -> InstanceType {
        catalog()
            .get(name)
            .cloned()
            .expect("type in embedded catalog")
    }

    fn al2023(it: &InstanceType) -> NodeResources {
        default_node_resources(it, AmiFamily::AL2023).expect("defaults are valid")
    }

    #[test]
    fn m5_large_al2023_allocatable_matches_karpenter_docs() {
        let r = al2023(&ty("m5.large"));
        assert_eq!(r.allocatable.cpu_m, 1930);
        assert_eq!(r.allocatable.memory, 6903 * MI);
        assert_eq!(r.allocatable.ephemeral_storage, 17 * GI);
        assert_eq!(r.allocatable.pods, 29);
        assert_eq!(r.capacity.memory, (8192 - 615) * MI);
    }

    #[test]
    fn m5_xlarge_overheads_match_karpenter_test() {
        // docs/model/karpenter.md §8 item 58.
        let r = al2023(&ty("m5.xlarge"));
        assert_eq!(r.kube_reserved.cpu_m, 80);
        assert_eq!(r.kube_reserved.memory, 893 * MI);
        assert_eq!(r.kube_reserved.ephemeral_storage, GI);
        assert_eq!(r.system_reserved, Res::default());
        assert_eq!(r.eviction.memory, 100 * MI);
        assert_eq!(r.eviction.ephemeral_storage, 2 * GI);
        assert_eq!(r.eviction.cpu_m, 0);
    }

    #[test]
    fn t3_large_max_pods_10_reserves_by_family() {
        // docs/model/karpenter.md §8 item 59: 11·35+255 vs 11·10+255.
        let t3 = ty("t3.large");
        let k = KubeletSettings {
            max_pods: Some(10),
            ..KubeletSettings::default()
        };
        for (ami, mib) in [
            (AmiFamily::AL2, 640),
            (AmiFamily::AL2023, 640),
            (AmiFamily::Custom, 640),
            (AmiFamily::Bottlerocket, 365),
            (AmiFamily::Windows, 365),
        ] {
            let r = node_resources(&t3, ami, &k, DEFAULT_EPHEMERAL_STORAGE_BYTES, 0.075)
                .expect("valid");
            assert_eq!(r.capacity.pods, 10, "{ami}");
            assert_eq!(r.allocatable.pods, 10, "{ami}");
            assert_eq!(r.kube_reserved.memory, mib * MI, "{ami}");
        }
    }

    #[test]
    fn kube_reserved_cpu_tiers() {
        for (vcpu, m) in [
            (1, 60),
            (2, 70),
            (3, 75),
            (4, 80),
            (8, 90),
            (16, 110),
            (64, 230),
            (96, 310),
        ] {
            assert_eq!(kube_reserved_cpu_m(vcpu * 1000), m, "{vcpu} vCPU");
        }
        assert_eq!(kube_reserved_cpu_m(0), 0);
        assert_eq!(kube_reserved_cpu_m(500), 30);
    }

    #[test]
    fn arm64_loses_cma_before_vm_overhead() {
        // a1.medium: (2048 − 64) MiB, ceil(1984 × 0.075 = 148.8) = 149 MiB overhead.
        let r = al2023(&ty("a1.medium"));
        assert_eq!(r.capacity.memory, (1984 - 149) * MI);
    }

    #[test]
    fn windows_uses_110_pods_and_honours_pods_per_core() {
        let m5 = ty("m5.large");
        let mut k = KubeletSettings::default();
        let r = node_resources(
            &m5,
            AmiFamily::Windows,
            &k,
            WINDOWS_EPHEMERAL_STORAGE_BYTES,
            0.075,
        )
        .expect("valid");
        assert_eq!(r.capacity.pods, 110);
        assert_eq!(r.kube_reserved.memory, (11 * 110 + 255) * MI);
        k.pods_per_core = Some(4);
        let r = node_resources(
            &m5,
            AmiFamily::Windows,
            &k,
            WINDOWS_EPHEMERAL_STORAGE_BYTES,
            0.075,
        )
        .expect("valid");
        assert_eq!(r.capacity.pods, 8);
    }

    #[test]
    fn pods_per_core_is_ignored_by_bottlerocket_only() {
        let m5 = ty("m5.large");
        assert_eq!(
            pods_capacity(&m5, AmiFamily::Bottlerocket, None, Some(4)),
            29
        );
        assert_eq!(pods_capacity(&m5, AmiFamily::AL2023, None, Some(4)), 8);
        assert_eq!(
            pods_capacity(&m5, AmiFamily::AL2023, Some(20), Some(100)),
            20
        );
        assert_eq!(pods_capacity(&m5, AmiFamily::AL2023, None, Some(0)), 29);
    }

    #[test]
    fn al2023_kube_reserved_memory_ignores_pods_per_core() {
        // podsPerCore lowers capacity pods but AL2023 reserves for the ENI-limited count.
        let m5 = ty("m5.large");
        let k = KubeletSettings {
            pods_per_core: Some(4),
            ..KubeletSettings::default()
        };
        let r = node_resources(
            &m5,
            AmiFamily::AL2023,
            &k,
            DEFAULT_EPHEMERAL_STORAGE_BYTES,
            0.075,
        )
        .expect("valid");
        assert_eq!(r.capacity.pods, 8);
        assert_eq!(r.kube_reserved.memory, (11 * 29 + 255) * MI);
    }

    #[test]
    fn eviction_hard_overrides_memory_and_nodefs() {
        let m5 = ty("m5.large");
        let mut k = KubeletSettings::default();
        k.eviction_hard
            .insert("memory.available".into(), "500Mi".into());
        k.eviction_hard
            .insert("nodefs.available".into(), "15%".into());
        k.eviction_hard
            .insert("imagefs.available".into(), "99%".into());
        let r = node_resources(&m5, AmiFamily::AL2023, &k, 100 * GI, 0.075).expect("valid");
        assert_eq!(r.eviction.memory, 500 * MI);
        assert_eq!(r.eviction.ephemeral_storage, 15 * GI);
    }

    #[test]
    fn eviction_percent_of_memory_uses_capacity_after_overhead() {
        let m5 = ty("m5.large");
        let mut k = KubeletSettings::default();
        k.eviction_hard
            .insert("memory.available".into(), "10%".into());
        let r = node_resources(&m5, AmiFamily::AL2023, &k, 20 * GI, 0.075).expect("valid");
        let cap = (8192 - 615) * MI;
        assert_eq!(r.eviction.memory, (cap as f64 / 10.0).ceil() as i64);
    }

    #[test]
    fn eviction_100_percent_disables_threshold() {
        let mut k = KubeletSettings::default();
        k.eviction_hard
            .insert("memory.available".into(), "100%".into());
        k.eviction_hard
            .insert("nodefs.available".into(), "100%".into());
        let r =
            node_resources(&ty("m5.large"), AmiFamily::AL2023, &k, 20 * GI, 0.075).expect("valid");
        assert_eq!((r.eviction.memory, r.eviction.ephemeral_storage), (0, 0));
    }

    #[test]
    fn bad_eviction_value_names_the_signal() {
        let mut k = KubeletSettings::default();
        k.eviction_hard
            .insert("memory.available".into(), "lots".into());
        let err = node_resources(&ty("m5.large"), AmiFamily::AL2023, &k, 20 * GI, 0.075)
            .expect_err("bad");
        assert!(
            err.to_string().contains("evictionHard.memory.available"),
            "{err}"
        );
        k.eviction_hard
            .insert("memory.available".into(), "150%".into());
        assert!(node_resources(&ty("m5.large"), AmiFamily::AL2023, &k, 20 * GI, 0.075).is_err());
    }

    #[test]
    fn kube_and_system_reserved_overrides_replace_per_key() {
        let mut k = KubeletSettings::default();
        k.kube_reserved.insert("cpu".into(), 200);
        k.kube_reserved.insert("pid".into(), 1000);
        k.system_reserved.insert("memory".into(), 300 * MI);
        let r =
            node_resources(&ty("m5.large"), AmiFamily::AL2023, &k, 20 * GI, 0.075).expect("valid");
        assert_eq!(r.kube_reserved.cpu_m, 200);
        assert_eq!(r.kube_reserved.memory, 574 * MI, "memory default kept");
        assert_eq!(r.system_reserved.memory, 300 * MI);
        assert_eq!(r.allocatable.cpu_m, 1800);
        assert_eq!(r.allocatable.memory, (6903 - 300) * MI);
    }

    #[test]
    fn unknown_or_negative_reserved_keys_are_errors() {
        let mut k = KubeletSettings::default();
        k.kube_reserved.insert("gpu".into(), 1);
        let err = node_resources(&ty("m5.large"), AmiFamily::AL2023, &k, 20 * GI, 0.075)
            .expect_err("unknown");
        assert!(matches!(
            err,
            AllocatableError::UnknownReservedResource {
                field: "kubeReserved",
                ..
            }
        ));
        let mut k = KubeletSettings::default();
        k.system_reserved.insert("cpu".into(), -1);
        assert!(node_resources(&ty("m5.large"), AmiFamily::AL2023, &k, 20 * GI, 0.075).is_err());
    }

    #[test]
    fn bad_overhead_percent_and_storage_are_errors() {
        let k = KubeletSettings::default();
        let m5 = ty("m5.large");
        assert!(node_resources(&m5, AmiFamily::AL2023, &k, 20 * GI, f64::NAN).is_err());
        assert!(node_resources(&m5, AmiFamily::AL2023, &k, 20 * GI, -0.1).is_err());
        assert!(node_resources(&m5, AmiFamily::AL2023, &k, -1, 0.075).is_err());
    }

    #[test]
    fn extended_resources_pass_through_unreserved() {
        let r = al2023(&ty("p5.48xlarge"));
        assert_eq!(r.capacity.nvidia_gpu, 8);
        assert_eq!(r.allocatable.nvidia_gpu, 8);
        assert_eq!(r.allocatable.efa, r.capacity.efa);
        assert!(r.capacity.efa > 0);
    }

    #[test]
    fn ami_family_parses_karpenter_spellings() {
        assert_eq!("AL2023".parse::<AmiFamily>(), Ok(AmiFamily::AL2023));
        assert_eq!("Windows2022".parse::<AmiFamily>(), Ok(AmiFamily::Windows));
        assert_eq!(
            "bottlerocket".parse::<AmiFamily>(),
            Ok(AmiFamily::Bottlerocket)
        );
        assert!("Ubuntu".parse::<AmiFamily>().is_err());
    }

    #[test]
    fn parse_quantity_handles_suffixes_and_rounds_up() {
        assert_eq!(parse_quantity("100Mi"), Some(100 * MI));
        assert_eq!(parse_quantity("1.5Gi"), Some(3 * GI / 2));
        assert_eq!(parse_quantity("500M"), Some(500_000_000));
        assert_eq!(parse_quantity("1e3"), Some(1000));
        assert_eq!(parse_quantity("1024"), Some(1024));
        assert_eq!(parse_quantity("1500m"), Some(2));
        assert_eq!(parse_quantity("0.1"), Some(1));
        assert_eq!(parse_quantity("10Ki"), Some(10 * KI));
        for bad in ["", "Mi", "-1Mi", "1.2.3", "1Xi", "1e99", "abc", "."] {
            assert_eq!(parse_quantity(bad), None, "{bad:?}");
        }
    }

    /// Rows of Karpenter's instance-type page (data/ec2-instance-types.csv): name, allocatable
    /// CPU (m), memory (MiB), pods, for AL2023 defaults.
    const KNOWN_ROWS: [(&str, i64, i64, i64); 19] = [
        ("a1.medium", 940, 1392, 8),
        ("t3.nano", 1930, 74, 4),
        ("t4g.nano", 1930, 15, 4),
        ("m5.large", 1930, 6903, 29),
        ("m5.xlarge", 3920, 14162, 58),
        ("c7g.16xlarge", 63770, 112720, 737),
        ("m7i-flex.large", 1930, 6903, 29),
        ("p5.48xlarge", 191450, 1938410, 100),
        ("g6f.large", 1930, 7002, 20),
        ("inf2.xlarge", 3920, 14162, 58),
        ("trn1.32xlarge", 127610, 481894, 247),
        ("x2iedn.32xlarge", 127610, 3871269, 737),
        ("c5.metal", 95690, 173400, 737),
        ("m6g.metal", 63770, 233962, 737),
        ("r8g.48xlarge", 191450, 1446378, 737),
        ("u7i-12tb.224xlarge", 893690, 11630731, 737),
        ("c1.medium", 1930, 1122, 12),
        ("g4dn.xlarge", 3920, 14481, 29),
        ("t3.large", 1930, 6837, 35),
    ];

    #[test]
    fn known_rows_of_embedded_catalog_match_karpenter_page() {
        let c = catalog();
        for (name, cpu, mem, pods) in KNOWN_ROWS {
            let it = c
                .get(name)
                .unwrap_or_else(|| panic!("{name} missing from embedded catalog"));
            let r = al2023(it);
            assert_eq!(
                (
                    r.allocatable.cpu_m,
                    r.allocatable.memory,
                    r.allocatable.pods
                ),
                (cpu, mem * MI, pods),
                "{name}"
            );
            assert_eq!(r.allocatable.ephemeral_storage, 17 * GI, "{name}");
        }
    }

    #[test]
    fn every_embedded_row_has_positive_al2023_allocatable_cpu_and_pods() {
        for it in catalog().iter() {
            let r = al2023(it);
            assert!(
                r.allocatable.cpu_m > 0 && r.allocatable.pods > 0,
                "{}",
                it.name
            );
        }
    }

    /// Every row of data/ec2-instance-types.csv (all 1,363, priced or not) against its
    /// alloc_* columns (Karpenter's generated instance-type docs).
    #[test]
    fn every_source_row_matches_karpenter_allocatable_columns() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/ec2-instance-types.csv");
        let rows = crate::catalog::build::read_source_types(&path).expect("source parses");
        let mut mismatches = Vec::new();
        for s in &rows {
            let r = al2023(&s.ty);
            let got = (
                r.allocatable.cpu_m,
                r.allocatable.memory,
                r.allocatable.pods,
                r.allocatable.ephemeral_storage,
            );
            let want = (
                s.alloc_cpu_millicores,
                s.alloc_memory_mib * MI,
                i64::from(s.ty.eni_pods),
                s.alloc_ephemeral_storage_gib * GI,
            );
            if got != want {
                mismatches.push(format!("{}: got {got:?}, want {want:?}", s.ty.name));
            }
        }
        println!(
            "{}/{} source rows match",
            rows.len() - mismatches.len(),
            rows.len()
        );
        assert!(rows.len() > 1000, "only {} rows", rows.len());
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }

    proptest! {
        #[test]
        fn allocatable_is_capacity_minus_overheads(
            idx in 0usize..2000,
            max_pods in proptest::option::of(1u32..300),
            ppc in proptest::option::of(0u32..50),
            ami in prop_oneof![Just(AmiFamily::AL2), Just(AmiFamily::AL2023), Just(AmiFamily::Bottlerocket), Just(AmiFamily::Windows), Just(AmiFamily::Custom)],
            storage_gi in 1i64..2000,
        ) {
            let c = catalog();
            let it = &c.types()[idx % c.len()];
            let k = KubeletSettings { max_pods, pods_per_core: ppc, ..KubeletSettings::default() };
            let r = node_resources(it, ami, &k, storage_gi * GI, 0.075).expect("valid");
            prop_assert_eq!(r.allocatable + r.kube_reserved + r.system_reserved + r.eviction, r.capacity);
            prop_assert!(r.capacity.memory < i64::try_from(it.memory_mib).expect("fits") * MI);
            prop_assert!(r.capacity.pods >= 0);
            if let Some(m) = max_pods {
                prop_assert!(r.capacity.pods <= i64::from(m));
            }
        }

        #[test]
        fn kube_reserved_cpu_is_monotone_and_small(a in 0i64..2_000_000, b in 0i64..2_000_000) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(kube_reserved_cpu_m(lo) <= kube_reserved_cpu_m(hi));
            prop_assert!(kube_reserved_cpu_m(hi) <= hi * 6 / 100 + 1);
        }

        #[test]
        fn parse_quantity_binary_suffixes(n in 0i64..1_000_000, s in 0usize..4) {
            let (suffix, mult) = [("", 1), ("Ki", KI), ("Mi", MI), ("Gi", GI)][s];
            prop_assert_eq!(parse_quantity(&format!("{n}{suffix}")), Some(n * mult));
        }
    }
}
