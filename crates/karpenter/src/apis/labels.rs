//! Label keys Karpenter owns or knows, and the restricted-label rule (karpenter: pkg/apis/v1/labels.go).

pub const NODEPOOL_API_VERSION: &str = "karpenter.sh/v1";
pub const EC2NODECLASS_API_VERSION: &str = "karpenter.k8s.aws/v1";

pub const NODEPOOL_LABEL: &str = "karpenter.sh/nodepool";
pub const CAPACITY_TYPE_LABEL: &str = "karpenter.sh/capacity-type";
pub const EC2NODECLASS_LABEL: &str = "karpenter.k8s.aws/ec2nodeclass";
pub const INSTANCE_TENANCY_LABEL: &str = "karpenter.k8s.aws/instance-tenancy";
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
pub const REGISTERED_LABEL: &str = "karpenter.sh/registered";
pub const INITIALIZED_LABEL: &str = "karpenter.sh/initialized";

/// Labels Karpenter knows values for and lets NodePools and pods narrow (core
/// `v1.WellKnownLabels` plus those the AWS provider registers). Pods may require them although
/// a NodePool does not define them (`Requirements::compatible_allowing_undefined`).
pub const WELL_KNOWN_LABELS: &[&str] = &[
    NODEPOOL_LABEL,
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/arch",
    "kubernetes.io/os",
    CAPACITY_TYPE_LABEL,
    "node.kubernetes.io/windows-build",
    "karpenter.k8s.aws/capacity-reservation-id",
    "karpenter.k8s.aws/capacity-reservation-type",
    "karpenter.k8s.aws/capacity-reservation-interruptible",
    "karpenter.k8s.aws/instance-hypervisor",
    "karpenter.k8s.aws/instance-encryption-in-transit-supported",
    "karpenter.k8s.aws/nitro-sandbox",
    "karpenter.k8s.aws/instance-category",
    "karpenter.k8s.aws/instance-capability-flex",
    "karpenter.k8s.aws/instance-family",
    "karpenter.k8s.aws/instance-generation",
    "karpenter.k8s.aws/instance-size",
    "karpenter.k8s.aws/instance-local-nvme",
    "karpenter.k8s.aws/instance-cpu",
    "karpenter.k8s.aws/instance-cpu-manufacturer",
    "karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz",
    "karpenter.k8s.aws/instance-memory",
    "karpenter.k8s.aws/instance-ebs-bandwidth",
    "karpenter.k8s.aws/instance-network-bandwidth",
    "karpenter.k8s.aws/instance-gpu-name",
    "karpenter.k8s.aws/instance-gpu-manufacturer",
    "karpenter.k8s.aws/instance-gpu-count",
    "karpenter.k8s.aws/instance-gpu-memory",
    "karpenter.k8s.aws/instance-accelerator-name",
    "karpenter.k8s.aws/instance-accelerator-manufacturer",
    "karpenter.k8s.aws/instance-accelerator-count",
    "topology.k8s.aws/zone-id",
    INSTANCE_TENANCY_LABEL,
    "karpenter.k8s.aws/placement-group-id",
    "karpenter.k8s.aws/placement-group-partition",
];

/// Label domains reserved by Karpenter (and their subdomains), except for well-known labels.
pub const RESTRICTED_LABEL_DOMAINS: &[&str] = &["karpenter.sh", "karpenter.k8s.aws"];

/// Why a label key may not appear in a NodePool's template labels or requirements, if it may
/// not (Karpenter's `IsRestrictedLabel` plus the explicit `karpenter.sh/nodepool` rule).
pub fn restricted_label_reason(key: &str) -> Option<String> {
    if key == NODEPOOL_LABEL || key == HOSTNAME_LABEL {
        return Some(format!("label {key:?} is restricted"));
    }
    if WELL_KNOWN_LABELS.contains(&key) {
        return None;
    }
    let domain = key.split_once('/').map_or("", |(domain, _)| domain);
    RESTRICTED_LABEL_DOMAINS
        .iter()
        .find(|d| domain == **d || domain.ends_with(&format!(".{d}")))
        .map(|d| {
            format!(
                "label domain {d:?} is restricted (use a well-known label such as karpenter.k8s.aws/instance-family, or a custom label outside {d})"
            )
        })
}

/// Values Karpenter knows for some well-known labels (`WellKnownValuesForRequirements`).
pub(super) fn known_values(key: &str) -> Option<&'static [&'static str]> {
    match key {
        CAPACITY_TYPE_LABEL => Some(&["on-demand", "spot", "reserved"]),
        INSTANCE_TENANCY_LABEL => Some(&["dedicated", "default"]),
        _ => None,
    }
}
