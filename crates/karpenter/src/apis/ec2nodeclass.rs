//! `karpenter.k8s.aws/v1` EC2NodeClass: fields and validation (karpenter-provider-aws: pkg/apis/v1/ec2nodeclass.go, ec2nodeclass_validation.go).

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{self, Deserializer};

use asim_core::k8s::duration::Duration;
use asim_core::k8s::quantity::{Quantity, parse_quantity};

use super::*;

/// `karpenter.k8s.aws/v1` EC2NodeClass.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EC2NodeClass {
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: EC2NodeClassSpec,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EC2NodeClassSpec {
    /// Optional with an alias term (inferred from it); required otherwise.
    #[serde(default)]
    pub ami_family: Option<AmiFamily>,
    pub ami_selector_terms: Vec<AmiSelectorTerm>,
    /// Their zones bound where offerings exist (§7).
    pub subnet_selector_terms: Vec<SubnetSelectorTerm>,
    pub security_group_selector_terms: Vec<SecurityGroupSelectorTerm>,
    #[serde(default)]
    pub capacity_reservation_selector_terms: Vec<CapacityReservationSelectorTerm>,
    #[serde(default)]
    pub placement_group_selector: Option<PlacementGroupSelector>,
    #[serde(default, rename = "associatePublicIPAddress")]
    pub associate_public_ip_address: Option<bool>,
    #[serde(default)]
    pub ip_prefix_count: Option<i32>,
    #[serde(default)]
    pub user_data: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub instance_profile: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub kubelet: KubeletConfiguration,
    #[serde(default)]
    pub block_device_mappings: Vec<BlockDeviceMapping>,
    #[serde(default)]
    pub instance_store_policy: Option<InstanceStorePolicy>,
    #[serde(default)]
    pub network_interfaces: Vec<NetworkInterface>,
    #[serde(default)]
    pub detailed_monitoring: Option<bool>,
    #[serde(default)]
    pub metadata_options: Option<MetadataOptions>,
    #[serde(default)]
    pub context: Option<String>,
    /// Not read by the simulator.
    #[serde(default)]
    pub connection_tracking: Option<serde_json::Value>,
    /// Not read by the simulator.
    #[serde(default)]
    pub cpu_options: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmiSelectorTerm {
    /// `family@version`, e.g. `al2023@latest`, `bottlerocket@v1.20.0`.
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub ssm_parameter: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubnetSelectorTerm {
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub id: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupSelectorTerm {
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityReservationSelectorTerm {
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "ownerID")]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub instance_match_criteria: Option<InstanceMatchCriteria>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementGroupSelector {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
}

/// Kubelet overrides (moved from the NodePool to the EC2NodeClass in v1; §1.5, §7).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletConfiguration {
    #[serde(default, rename = "clusterDNS")]
    pub cluster_dns: Vec<String>,
    #[serde(default)]
    pub max_pods: Option<i32>,
    #[serde(default)]
    pub pods_per_core: Option<i32>,
    /// Keys cpu, memory, ephemeral-storage, pid.
    #[serde(default)]
    pub system_reserved: BTreeMap<String, Quantity>,
    /// Keys cpu, memory, ephemeral-storage, pid; replace Karpenter's defaults per key.
    #[serde(default)]
    pub kube_reserved: BTreeMap<String, Quantity>,
    /// Signal → threshold; only `memory.available` and `nodefs.available` affect allocatable.
    #[serde(default)]
    pub eviction_hard: BTreeMap<String, EvictionThreshold>,
    #[serde(default)]
    pub eviction_soft: BTreeMap<String, EvictionThreshold>,
    #[serde(default)]
    pub eviction_soft_grace_period: BTreeMap<String, Duration>,
    #[serde(default)]
    pub eviction_max_pod_grace_period: Option<i32>,
    #[serde(default, rename = "imageGCHighThresholdPercent")]
    pub image_gc_high_threshold_percent: Option<i32>,
    #[serde(default, rename = "imageGCLowThresholdPercent")]
    pub image_gc_low_threshold_percent: Option<i32>,
    #[serde(default, rename = "cpuCFSQuota")]
    pub cpu_cfs_quota: Option<bool>,
}

/// An eviction threshold: an absolute quantity (`100Mi`) or a percentage of capacity (`10%`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvictionThreshold {
    Quantity(Quantity),
    /// In hundredths of a percent (`10.5%` → 1050); at most 10000.
    PercentHundredths(u32),
}

impl FromStr for EvictionThreshold {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some(pct) = s.strip_suffix('%') else {
            return parse_quantity(s)
                .map(EvictionThreshold::Quantity)
                .map_err(|e| e.to_string());
        };
        let bad = || {
            format!(
                "invalid eviction threshold {s:?}: expected a quantity (e.g. 100Mi) or a percentage with at most two decimals (e.g. 10%, 7.5%)"
            )
        };
        let (int, frac) = pct.split_once('.').unwrap_or((pct, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty()
            || int.len() > 3
            || frac.len() > 2
            || !digits(int)
            || !digits(frac)
            || (pct.contains('.') && frac.is_empty())
        {
            return Err(bad());
        }
        let whole: u32 = int.parse().map_err(|_| bad())?;
        let hundredths: u32 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
        let value = whole * 100 + hundredths;
        if value > 10_000 {
            return Err(bad());
        }
        Ok(EvictionThreshold::PercentHundredths(value))
    }
}

impl<'de> Deserialize<'de> for EvictionThreshold {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let RawText(text) = RawText::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDeviceMapping {
    #[serde(default)]
    pub device_name: Option<String>,
    #[serde(default)]
    pub ebs: Option<BlockDevice>,
    /// The device mounted as the kubelet root dir (its size is ephemeral-storage capacity).
    #[serde(default)]
    pub root_volume: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDevice {
    #[serde(default)]
    pub delete_on_termination: Option<bool>,
    #[serde(default)]
    pub encrypted: Option<bool>,
    #[serde(default)]
    pub iops: Option<i64>,
    #[serde(default, rename = "kmsKeyID")]
    pub kms_key_id: Option<String>,
    #[serde(default, rename = "snapshotID")]
    pub snapshot_id: Option<String>,
    #[serde(default)]
    pub throughput: Option<i64>,
    #[serde(default)]
    pub volume_initialization_rate: Option<i32>,
    #[serde(default)]
    pub volume_size: Option<Quantity>,
    #[serde(default)]
    pub volume_type: Option<VolumeType>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    pub network_card_index: i32,
    pub device_index: i32,
    pub interface_type: InterfaceType,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataOptions {
    #[serde(default)]
    pub http_endpoint: Option<MetadataEndpointState>,
    #[serde(default, rename = "httpProtocolIPv6")]
    pub http_protocol_ipv6: Option<MetadataEndpointState>,
    #[serde(default)]
    pub http_put_response_hop_limit: Option<i64>,
    #[serde(default)]
    pub http_tokens: Option<HttpTokens>,
}

/// A parsed `amiSelectorTerms[].alias`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmiAlias {
    pub family: AmiFamily,
    pub version: String,
}

/// `family@version` with a known lowercase family.
pub fn parse_ami_alias(alias: &str) -> Option<AmiAlias> {
    let (family, version) = alias.split_once('@')?;
    if version.is_empty() || version.contains('@') {
        return None;
    }
    Some(AmiAlias {
        family: AmiFamily::from_alias_prefix(family)?,
        version: version.to_string(),
    })
}

pub(super) const RESERVED_RESOURCE_KEYS: &[&str] = &["cpu", "memory", "ephemeral-storage", "pid"];
pub(super) const EVICTION_SIGNALS: &[&str] = &[
    "memory.available",
    "nodefs.available",
    "nodefs.inodesFree",
    "imagefs.available",
    "imagefs.inodesFree",
    "pid.available",
];

impl EC2NodeClass {
    /// Fields set here that would change what a real cluster does but that the simulator does
    /// not model: (field, what is not simulated). The scenario warns about each once
    /// (docs/scenario.md "Accepted but not simulated"). Fields with no bearing on capacity,
    /// cost or timing (tags, userData, role, metadataOptions, …) are not listed.
    pub fn not_simulated(&self) -> Vec<(&'static str, &'static str)> {
        let s = &self.spec;
        let mut out = Vec::new();
        if !s.capacity_reservation_selector_terms.is_empty() {
            out.push((
                "spec.capacityReservationSelectorTerms",
                "capacity reservations (capacity type `reserved`) are not simulated; launches are on-demand or spot",
            ));
        }
        if s.placement_group_selector.is_some() {
            out.push((
                "spec.placementGroupSelector",
                "placement groups are not simulated: no zone pinning and no extra capacity limit",
            ));
        }
        if s.ip_prefix_count.is_some() {
            out.push((
                "spec.ipPrefixCount",
                "IPv4 prefix counts are not simulated: pods per node come from kubelet maxPods or the ENI limit",
            ));
        }
        if !s.network_interfaces.is_empty() {
            out.push((
                "spec.networkInterfaces",
                "the network interface layout (EFA) is not simulated",
            ));
        }
        if s.cpu_options.is_some() {
            out.push((
                "spec.cpuOptions",
                "CPU options are not simulated: a node has the instance type's full vCPU count",
            ));
        }
        out
    }

    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// The first alias term, parsed (`None` without one or if malformed).
    pub fn alias(&self) -> Option<AmiAlias> {
        self.spec
            .ami_selector_terms
            .iter()
            .find_map(|t| t.alias.as_deref())
            .and_then(parse_ami_alias)
    }

    /// `amiFamily` if set, else the alias's family, else Custom (Karpenter's `AMIFamily()`).
    pub fn effective_ami_family(&self) -> AmiFamily {
        self.spec
            .ami_family
            .or_else(|| self.alias().map(|a| a.family))
            .unwrap_or(AmiFamily::Custom)
    }

    /// The block device mapping marked `rootVolume`, if any.
    pub fn root_volume(&self) -> Option<&BlockDeviceMapping> {
        self.spec
            .block_device_mappings
            .iter()
            .find(|m| m.root_volume)
    }

    /// The CRD's patterns and CEL rules (v1.14.1). Reports every violation.
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checker::default();
        c.type_meta(
            &self.api_version,
            &self.kind,
            (EC2NODECLASS_API_VERSION, "EC2NodeClass"),
        );
        c.object_name(&self.metadata.name);
        let spec = &self.spec;
        validate_ami_terms(&mut c, spec);
        validate_selector_terms(&mut c, spec);
        match (&spec.role, &spec.instance_profile) {
            (Some(_), None) | (None, Some(_)) => {}
            _ => c.fail(
                "spec",
                "must specify exactly one of ['role', 'instanceProfile']",
            ),
        }
        if spec.role.as_deref() == Some("") {
            c.fail("spec.role", "role cannot be empty");
        }
        if spec.instance_profile.as_deref() == Some("") {
            c.fail("spec.instanceProfile", "instanceProfile cannot be empty");
        }
        for key in spec.tags.keys() {
            let field = format!("spec.tags[{key}]");
            if key.is_empty() {
                c.fail(&field, "empty tag keys aren't supported");
            }
            for restricted in [
                "eks:eks-cluster-name",
                NODEPOOL_LABEL,
                "karpenter.sh/nodeclaim",
                EC2NODECLASS_LABEL,
            ] {
                if key == restricted {
                    c.fail(
                        &field,
                        format!("tag contains a restricted tag matching {restricted}"),
                    );
                }
            }
            if key.starts_with("kubernetes.io/cluster") {
                c.fail(
                    &field,
                    "tag contains a restricted tag matching kubernetes.io/cluster/",
                );
            }
        }
        validate_kubelet(&mut c, &spec.kubelet);
        validate_block_devices(&mut c, &spec.block_device_mappings);
        validate_network_interfaces(&mut c, &spec.network_interfaces);
        if let Some(m) = &spec.metadata_options
            && let Some(hops) = m.http_put_response_hop_limit
        {
            c.check(
                (1..=64).contains(&hops),
                "spec.metadataOptions.httpPutResponseHopLimit",
                format!("must be between 1 and 64, found {hops}"),
            );
        }
        if let Some(pg) = &spec.placement_group_selector {
            c.check(
                pg.name.is_some() || pg.id.is_some(),
                "spec.placementGroupSelector",
                "expected at least one, got none, ['name', 'id']",
            );
            c.check(
                !(pg.name.is_some() && pg.id.is_some()),
                "spec.placementGroupSelector",
                "'name' and 'id' are mutually exclusive",
            );
        }
        if let Some(n) = spec.ip_prefix_count {
            c.check(
                n >= 0,
                "spec.ipPrefixCount",
                format!("must be at least 0, found {n}"),
            );
        }
        c.finish("EC2NodeClass", &self.metadata.name)
    }
}

pub(super) fn check_tags(c: &mut Checker, field: &str, tags: &Option<BTreeMap<String, String>>) {
    if let Some(tags) = tags
        && tags.iter().any(|(k, v)| k.is_empty() || v.is_empty())
    {
        c.fail(
            format!("{field}.tags"),
            "empty tag keys or values aren't supported",
        );
    }
}

pub(super) fn validate_ami_terms(c: &mut Checker, spec: &EC2NodeClassSpec) {
    let terms = &spec.ami_selector_terms;
    let f = "spec.amiSelectorTerms";
    c.check(
        (1..=30).contains(&terms.len()),
        f,
        format!("must have between 1 and 30 terms, found {}", terms.len()),
    );
    for (i, t) in terms.iter().enumerate() {
        let field = format!("{f}[{i}]");
        check_tags(c, &field, &t.tags);
        c.check(
            t.tags.is_some()
                || t.id.is_some()
                || t.name.is_some()
                || t.alias.is_some()
                || t.ssm_parameter.is_some(),
            &field,
            "expected at least one, got none, ['tags', 'id', 'name', 'alias', 'ssmParameter']",
        );
        if t.id.is_some() {
            c.check(
                t.alias.is_none() && t.tags.is_none() && t.name.is_none() && t.owner.is_none(),
                &field,
                "'id' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms",
            );
            if let Some(id) = &t.id {
                c.check(
                    id.starts_with("ami-") && id.len() > 4,
                    format!("{field}.id"),
                    format!("must look like ami-0123abcd, found {id:?}"),
                );
            }
        }
        if let Some(alias) = &t.alias {
            c.check(
                t.id.is_none() && t.tags.is_none() && t.name.is_none() && t.owner.is_none(),
                &field,
                "'alias' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms",
            );
            c.check(
                terms.len() == 1,
                &field,
                "'alias' is mutually exclusive, cannot be set with a combination of other amiSelectorTerms",
            );
            match parse_ami_alias(alias) {
                None => c.fail(
                    format!("{field}.alias"),
                    format!(
                        "must match 'family@version' with family one of al2, al2023, bottlerocket, windows2019, windows2022, windows2025, found {alias:?}"
                    ),
                ),
                Some(a) => {
                    if a.family.is_windows() && a.version != "latest" {
                        c.fail(
                            format!("{field}.alias"),
                            "windows families may only specify version 'latest'",
                        );
                    }
                    if let Some(family) = spec.ami_family
                        && family != AmiFamily::Custom
                        && family != a.family
                    {
                        c.fail(
                            "spec.amiFamily",
                            format!(
                                "if set, amiFamily must be '{}' or 'Custom' when using {} alias, found {family}",
                                a.family, a.family
                            ),
                        );
                    }
                }
            }
        }
    }
    if spec.ami_family.is_none() && !terms.iter().any(|t| t.alias.is_some()) {
        c.fail(
            "spec.amiFamily",
            "must specify amiFamily if amiSelectorTerms does not contain an alias",
        );
    }
}

pub(super) fn validate_selector_terms(c: &mut Checker, spec: &EC2NodeClassSpec) {
    // The CRD's mutual-exclusion rules use `self.all(...)`: they only reject when *every* term
    // combines the fields. Reproduced as written.
    let subnets = &spec.subnet_selector_terms;
    let f = "spec.subnetSelectorTerms";
    c.check(
        (1..=30).contains(&subnets.len()),
        f,
        format!(
            "subnetSelectorTerms must have between 1 and 30 terms, found {}",
            subnets.len()
        ),
    );
    for (i, t) in subnets.iter().enumerate() {
        let field = format!("{f}[{i}]");
        check_tags(c, &field, &t.tags);
        c.check(
            t.tags.is_some() || t.id.is_some(),
            &field,
            "expected at least one, got none, ['tags', 'id']",
        );
    }
    if !subnets.is_empty() && subnets.iter().all(|t| t.id.is_some() && t.tags.is_some()) {
        c.fail(f, "'id' is mutually exclusive, cannot be set with a combination of other fields in a subnet selector term");
    }

    let groups = &spec.security_group_selector_terms;
    let f = "spec.securityGroupSelectorTerms";
    c.check(
        (1..=30).contains(&groups.len()),
        f,
        format!(
            "securityGroupSelectorTerms must have between 1 and 30 terms, found {}",
            groups.len()
        ),
    );
    for (i, t) in groups.iter().enumerate() {
        let field = format!("{f}[{i}]");
        check_tags(c, &field, &t.tags);
        c.check(
            t.tags.is_some() || t.id.is_some() || t.name.is_some(),
            &field,
            "expected at least one, got none, ['tags', 'id', 'name']",
        );
    }
    if !groups.is_empty()
        && groups
            .iter()
            .all(|t| t.id.is_some() && (t.tags.is_some() || t.name.is_some()))
    {
        c.fail(f, "'id' is mutually exclusive, cannot be set with a combination of other fields in a security group selector term");
    }
    if !groups.is_empty()
        && groups
            .iter()
            .all(|t| t.name.is_some() && (t.tags.is_some() || t.id.is_some()))
    {
        c.fail(f, "'name' is mutually exclusive, cannot be set with a combination of other fields in a security group selector term");
    }

    let reservations = &spec.capacity_reservation_selector_terms;
    let f = "spec.capacityReservationSelectorTerms";
    c.check(
        reservations.len() <= 30,
        f,
        format!("at most 30 terms, found {}", reservations.len()),
    );
    for (i, t) in reservations.iter().enumerate() {
        let field = format!("{f}[{i}]");
        check_tags(c, &field, &t.tags);
        c.check(
            t.tags.is_some() || t.id.is_some() || t.instance_match_criteria.is_some(),
            &field,
            "expected at least one, got none, ['tags', 'id', 'instanceMatchCriteria']",
        );
        if let Some(owner) = &t.owner_id {
            c.check(
                owner.len() == 12 && owner.bytes().all(|b| b.is_ascii_digit()),
                format!("{field}.ownerID"),
                format!("must be a 12-digit AWS account id, found {owner:?}"),
            );
        }
    }
    if !reservations.is_empty()
        && reservations.iter().all(|t| {
            t.id.is_some()
                && (t.tags.is_some() || t.owner_id.is_some() || t.instance_match_criteria.is_some())
        })
    {
        c.fail(f, "'id' is mutually exclusive, cannot be set along with other fields in a capacity reservation selector term");
    }
}

pub(super) fn validate_kubelet(c: &mut Checker, k: &KubeletConfiguration) {
    let f = "spec.kubelet";
    for (map, name) in [
        (&k.kube_reserved, "kubeReserved"),
        (&k.system_reserved, "systemReserved"),
    ] {
        for (key, q) in map {
            c.check(
                RESERVED_RESOURCE_KEYS.contains(&key.as_str()),
                format!("{f}.{name}[{key}]"),
                format!("valid keys for {name} are ['cpu','memory','ephemeral-storage','pid']"),
            );
            c.check(
                !q.is_negative(),
                format!("{f}.{name}[{key}]"),
                format!("{name} value cannot be a negative resource quantity"),
            );
        }
    }
    let signals = |name: &str, keys: Vec<&String>, c: &mut Checker| {
        for key in keys {
            c.check(
                EVICTION_SIGNALS.contains(&key.as_str()),
                format!("{f}.{name}[{key}]"),
                format!(
                    "valid keys for {name} are ['{}']",
                    EVICTION_SIGNALS.join("','")
                ),
            );
        }
    };
    signals("evictionHard", k.eviction_hard.keys().collect(), c);
    signals("evictionSoft", k.eviction_soft.keys().collect(), c);
    signals(
        "evictionSoftGracePeriod",
        k.eviction_soft_grace_period.keys().collect(),
        c,
    );
    for (map, name) in [
        (&k.eviction_hard, "evictionHard"),
        (&k.eviction_soft, "evictionSoft"),
    ] {
        for (key, t) in map {
            if let EvictionThreshold::Quantity(q) = t {
                c.check(
                    !q.is_negative(),
                    format!("{f}.{name}[{key}]"),
                    "eviction threshold cannot be negative",
                );
            }
        }
    }
    for key in k.eviction_soft.keys() {
        c.check(
            k.eviction_soft_grace_period.contains_key(key),
            format!("{f}.evictionSoft[{key}]"),
            "evictionSoft OwnerKey does not have a matching evictionSoftGracePeriod",
        );
    }
    for key in k.eviction_soft_grace_period.keys() {
        c.check(
            k.eviction_soft.contains_key(key),
            format!("{f}.evictionSoftGracePeriod[{key}]"),
            "evictionSoftGracePeriod OwnerKey does not have a matching evictionSoft",
        );
    }
    for (v, name) in [(k.max_pods, "maxPods"), (k.pods_per_core, "podsPerCore")] {
        if let Some(v) = v {
            c.check(
                v >= 0,
                format!("{f}.{name}"),
                format!("must be at least 0, found {v}"),
            );
        }
    }
    for (v, name) in [
        (
            k.image_gc_high_threshold_percent,
            "imageGCHighThresholdPercent",
        ),
        (
            k.image_gc_low_threshold_percent,
            "imageGCLowThresholdPercent",
        ),
    ] {
        if let Some(v) = v {
            c.check(
                (0..=100).contains(&v),
                format!("{f}.{name}"),
                format!("must be between 0 and 100, found {v}"),
            );
        }
    }
    if let (Some(high), Some(low)) = (
        k.image_gc_high_threshold_percent,
        k.image_gc_low_threshold_percent,
    ) {
        c.check(
            high > low,
            f,
            "imageGCHighThresholdPercent must be greater than imageGCLowThresholdPercent",
        );
    }
}

pub(super) fn validate_block_devices(c: &mut Checker, mappings: &[BlockDeviceMapping]) {
    let f = "spec.blockDeviceMappings";
    c.check(
        mappings.len() <= 50,
        f,
        format!("at most 50 mappings, found {}", mappings.len()),
    );
    c.check(
        mappings.iter().filter(|m| m.root_volume).count() <= 1,
        f,
        "must have only one blockDeviceMappings with rootVolume",
    );
    // volumeSize pattern: 1–59000Gi, 1–64000G, 1–58Ti or 1–64T; checked as a byte range.
    const MIN_VOLUME_BYTES: i64 = 1 << 30;
    const MAX_VOLUME_BYTES: i64 = 64_000_000_000_000;
    for (i, m) in mappings.iter().enumerate() {
        let Some(ebs) = &m.ebs else { continue };
        let field = format!("{f}[{i}].ebs");
        c.check(
            ebs.snapshot_id.is_some() || ebs.volume_size.is_some(),
            &field,
            "snapshotID or volumeSize must be defined",
        );
        if ebs.volume_initialization_rate.is_some() {
            c.check(
                ebs.snapshot_id.as_deref().is_some_and(|s| !s.is_empty()),
                &field,
                "snapshotID must be set when volumeInitializationRate is set",
            );
        }
        if let Some(rate) = ebs.volume_initialization_rate {
            c.check(
                (100..=300).contains(&rate),
                format!("{field}.volumeInitializationRate"),
                format!("must be between 100 and 300, found {rate}"),
            );
        }
        if let Some(size) = ebs.volume_size {
            let bytes = size.to_units_ceil();
            c.check(
                (MIN_VOLUME_BYTES..=MAX_VOLUME_BYTES).contains(&bytes),
                format!("{field}.volumeSize"),
                format!("must be between 1Gi and 64T (e.g. 20Gi, 100G, 1Ti), found {size}"),
            );
        }
    }
}

pub(super) fn validate_network_interfaces(c: &mut Checker, nics: &[NetworkInterface]) {
    let f = "spec.networkInterfaces";
    if nics.is_empty() {
        return;
    }
    c.check(
        nics.len() <= 150,
        f,
        format!("at most 150 interfaces, found {}", nics.len()),
    );
    for (i, n) in nics.iter().enumerate() {
        c.check(
            n.network_card_index >= 0 && n.device_index >= 0,
            format!("{f}[{i}]"),
            "networkCardIndex and deviceIndex must be at least 0",
        );
    }
    c.check(
        nics.iter().any(|n| {
            n.device_index == 0
                && n.network_card_index == 0
                && n.interface_type == InterfaceType::Interface
        }),
        f,
        "networkInterfaces must include a primary interface with interfaceType='interface'",
    );
    let mut pairs = BTreeSet::new();
    let mut efa_cards = BTreeSet::new();
    let ok = nics.iter().all(|n| {
        pairs.insert((n.network_card_index, n.device_index))
            && (n.interface_type != InterfaceType::EfaOnly
                || efa_cards.insert(n.network_card_index))
    });
    c.check(
        ok,
        f,
        "networkInterfaces must not have duplicate networkCardIndex and deviceIndex pairs, and can have at most one efa device per network card",
    );
}
