//! Karpenter's CRDs as the simulator reads them: `karpenter.sh/v1` NodePool and
//! `karpenter.k8s.aws/v1` EC2NodeClass (docs/model/karpenter.md §1, §4, §7; field list and
//! validation rules read from kubernetes-sigs/karpenter `pkg/apis/v1` and
//! aws/karpenter-provider-aws `pkg/apis/v1` + CRDs at v1.14.1).
//!
//! Deserialization only. As the API server prunes unknown fields, unknown fields are ignored;
//! wrong types, invalid enum values, operators, quantities and durations are errors. Defaults are
//! the CRD defaults (expireAfter 720h, consolidateAfter 0s, consolidationPolicy
//! WhenEmptyOrUnderutilized, budgets `[{nodes: 10%}]`). The CRD's CEL / pattern rules and
//! Karpenter's runtime validation that matter are enforced by `validate()`, which reports every
//! violation with its field path. Fields the simulator never reads (cpuOptions,
//! connectionTracking) are kept as loose JSON values.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use asim_core::k8s::duration::{Duration, NEVER, NillableDuration, parse_duration};
use asim_core::k8s::quantity::{Quantity, parse_quantity};
use asim_core::k8s::requirements::{
    NodeSelectorOperator, NodeSelectorRequirementWithMinValues, RequirementError, Requirements,
    is_dns_subdomain, normalized_label_key, validate_label_key, validate_label_value,
};
use asim_core::k8s::taints::Taint;

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
fn known_values(key: &str) -> Option<&'static [&'static str]> {
    match key {
        CAPACITY_TYPE_LABEL => Some(&["on-demand", "spot", "reserved"]),
        INSTANCE_TENANCY_LABEL => Some(&["dedicated", "default"]),
        _ => None,
    }
}

/// A value outside a string enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {found:?} (expected {expected})")]
pub struct UnknownValueError {
    pub what: &'static str,
    pub found: String,
    pub expected: String,
}

/// A string enum with `as_str`, `FromStr`, `Display` and a `Deserialize` whose error names the
/// value found and lists the allowed ones.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValueError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValueError {
                        what: $what,
                        found: s.to_string(),
                        expected: $name::ALL
                            .iter()
                            .map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer)?
                    .parse()
                    .map_err(de::Error::custom)
            }
        }
    };
}

string_enum! {
    /// Which nodes consolidation may disrupt (docs/model/karpenter.md §4.3).
    #[derive(Default)]
    pub enum ConsolidationPolicy ("consolidation policy") {
        WhenEmpty = "WhenEmpty",
        /// The CRD default.
        #[default]
        WhenEmptyOrUnderutilized = "WhenEmptyOrUnderutilized",
        /// v1.14+: consolidation also weighs savings against disruption (§4.6).
        Balanced = "Balanced",
    }
}

string_enum! {
    /// Disruption methods a budget can apply to (docs/model/karpenter.md §4.7).
    pub enum DisruptionReason ("disruption reason") {
        Underutilized = "Underutilized",
        Empty = "Empty",
        Drifted = "Drifted",
    }
}

string_enum! {
    /// EC2NodeClass `amiFamily` (docs/model/karpenter.md §7).
    pub enum AmiFamily ("AMI family") {
        Al2 = "AL2",
        Al2023 = "AL2023",
        Bottlerocket = "Bottlerocket",
        Custom = "Custom",
        Windows2019 = "Windows2019",
        Windows2022 = "Windows2022",
        Windows2025 = "Windows2025",
    }
}

impl AmiFamily {
    pub fn is_windows(self) -> bool {
        matches!(
            self,
            AmiFamily::Windows2019 | AmiFamily::Windows2022 | AmiFamily::Windows2025
        )
    }

    /// The family named by an alias prefix (`al2023` in `al2023@latest`); `Custom` has none.
    pub fn from_alias_prefix(prefix: &str) -> Option<AmiFamily> {
        AmiFamily::ALL
            .iter()
            .copied()
            .filter(|f| *f != AmiFamily::Custom)
            .find(|f| f.as_str().to_ascii_lowercase() == prefix)
    }
}

string_enum! {
    pub enum InstanceStorePolicy ("instance store policy") {
        Raid0 = "RAID0",
    }
}

string_enum! {
    pub enum VolumeType ("EBS volume type") {
        Standard = "standard",
        Io1 = "io1",
        Io2 = "io2",
        Gp2 = "gp2",
        Sc1 = "sc1",
        St1 = "st1",
        Gp3 = "gp3",
    }
}

string_enum! {
    pub enum InterfaceType ("network interface type") {
        Interface = "interface",
        /// Does not count towards ENI-limited pods (docs/model/karpenter.md §1.5).
        EfaOnly = "efa-only",
    }
}

string_enum! {
    pub enum MetadataEndpointState ("metadata endpoint state") {
        Enabled = "enabled",
        Disabled = "disabled",
    }
}

string_enum! {
    pub enum HttpTokens ("httpTokens value") {
        Required = "required",
        Optional = "optional",
    }
}

string_enum! {
    pub enum InstanceMatchCriteria ("instanceMatchCriteria") {
        Open = "open",
        Targeted = "targeted",
    }
}

/// One rule of the API broken, at a field path such as `spec.weight`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every rule a NodePool / EC2NodeClass breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {name:?} is invalid: {}", join_violations(.violations))]
pub struct ApiError {
    pub kind: &'static str,
    pub name: String,
    pub violations: Vec<Violation>,
}

fn join_violations(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Default)]
struct Checker {
    violations: Vec<Violation>,
}

impl Checker {
    fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.violations.push(Violation {
            field: field.into(),
            message: message.into(),
        });
    }

    fn check(&mut self, ok: bool, field: impl Into<String>, message: impl Into<String>) {
        if !ok {
            self.fail(field, message);
        }
    }

    fn finish(self, kind: &'static str, name: &str) -> Result<(), ApiError> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(ApiError {
                kind,
                name: name.to_string(),
                violations: self.violations,
            })
        }
    }

    fn type_meta(
        &mut self,
        api_version: &Option<String>,
        kind: &Option<String>,
        want: (&str, &str),
    ) {
        if let Some(v) = api_version.as_deref().filter(|v| *v != want.0) {
            self.fail("apiVersion", format!("expected {}, found {v:?}", want.0));
        }
        if let Some(k) = kind.as_deref().filter(|k| *k != want.1) {
            self.fail("kind", format!("expected {}, found {k:?}", want.1));
        }
    }

    fn object_name(&mut self, name: &str) {
        self.check(
            is_dns_subdomain(name),
            "metadata.name",
            format!("must be a non-empty lowercase RFC 1123 subdomain, found {name:?}"),
        );
    }
}

/// `metadata` of a top-level object: only what the simulator reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------------
// NodePool
// ---------------------------------------------------------------------------------------------

/// `karpenter.sh/v1` NodePool.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePool {
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: NodePoolSpec,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePoolSpec {
    pub template: NodeClaimTemplate,
    #[serde(default)]
    pub disruption: Disruption,
    /// Resource name → limit (`cpu`, `memory`, `nodes`, …); §1.8.
    #[serde(default)]
    pub limits: BTreeMap<String, Quantity>,
    /// 1–100; unset counts as 0 when ordering NodePools (§1.6).
    #[serde(default)]
    pub weight: Option<i32>,
    /// Static NodePool (alpha): a fixed node count; such NodePools take no part in provisioning
    /// (§1.2).
    #[serde(default)]
    pub replicas: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeClaimTemplate {
    #[serde(default)]
    pub metadata: TemplateMetadata,
    pub spec: NodeClaimTemplateSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateMetadata {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeClaimTemplateSpec {
    pub requirements: Vec<NodeSelectorRequirementWithMinValues>,
    #[serde(default)]
    pub taints: Vec<Taint>,
    /// Not required to be tolerated for provisioning; block initialization until removed (§3).
    #[serde(default)]
    pub startup_taints: Vec<Taint>,
    pub node_class_ref: NodeClassReference,
    /// Default 720h; `Never` disables expiration (§3).
    #[serde(
        default = "default_expire_after",
        deserialize_with = "crd_nillable_duration"
    )]
    pub expire_after: NillableDuration,
    #[serde(default, deserialize_with = "crd_optional_duration")]
    pub termination_grace_period: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeClassReference {
    pub group: String,
    pub kind: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Disruption {
    #[serde(default)]
    pub consolidation_policy: ConsolidationPolicy,
    /// Default 0s; `Never` disables consolidation, emptiness included (§4.3).
    #[serde(
        default = "default_consolidate_after",
        deserialize_with = "crd_nillable_duration"
    )]
    pub consolidate_after: NillableDuration,
    /// Default `[{nodes: 10%}]` when absent; an explicit empty list means no budget at all.
    #[serde(default = "default_budgets")]
    pub budgets: Vec<Budget>,
}

impl Default for Disruption {
    fn default() -> Self {
        Disruption {
            consolidation_policy: ConsolidationPolicy::default(),
            consolidate_after: default_consolidate_after(),
            budgets: default_budgets(),
        }
    }
}

/// A disruption budget (§4.7).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    /// `"10%"` or `"5"` (`^((100|[0-9]{1,2})%|[0-9]+)$`); default 10%.
    #[serde(default = "default_budget_nodes")]
    pub nodes: String,
    /// Cron (UTC, 5 fields or an @macro); active for `duration` after each hit.
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default, deserialize_with = "budget_duration")]
    pub duration: Option<Duration>,
    /// `None` = all reasons; `Some([])` = none (as Karpenter reads it).
    #[serde(default)]
    pub reasons: Option<Vec<DisruptionReason>>,
}

/// A budget's `nodes`, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetNodes {
    Count(u32),
    /// 0–100.
    Percent(u8),
}

/// 720h (docs/model/karpenter.md §11).
pub const DEFAULT_EXPIRE_AFTER_MS: u64 = 720 * 3_600_000;
pub const DEFAULT_BUDGET_NODES: &str = "10%";
pub const MAX_REQUIREMENTS: usize = 100;
pub const MAX_BUDGETS: usize = 50;

fn default_expire_after() -> NillableDuration {
    NillableDuration::After(DEFAULT_EXPIRE_AFTER_MS)
}

fn default_consolidate_after() -> NillableDuration {
    NillableDuration::After(0)
}

fn default_budget_nodes() -> String {
    DEFAULT_BUDGET_NODES.to_string()
}

fn default_budgets() -> Vec<Budget> {
    vec![Budget {
        nodes: default_budget_nodes(),
        schedule: None,
        duration: None,
        reasons: None,
    }]
}

impl Budget {
    /// `nodes` parsed; `None` if it does not match the CRD pattern. A count beyond `u32`
    /// saturates.
    pub fn nodes_value(&self) -> Option<BudgetNodes> {
        parse_budget_nodes(&self.nodes)
    }

    /// Whether this budget constrains disruptions for `reason` (no reasons listed = all).
    pub fn applies_to(&self, reason: DisruptionReason) -> bool {
        self.reasons.as_ref().is_none_or(|r| r.contains(&reason))
    }

    /// How many of `total_nodes` this budget lets be disrupted while it is active: a count as
    /// given, a percentage of the total rounded **up** (10% of 11 → 2), as Karpenter does
    /// (§4.7). Whether a scheduled budget is active is the caller's concern. An invalid `nodes`
    /// allows nothing (Karpenter fails closed).
    pub fn allowed_disruptions(&self, total_nodes: u32) -> u32 {
        match self.nodes_value() {
            Some(BudgetNodes::Count(n)) => n,
            Some(BudgetNodes::Percent(p)) => {
                (u64::from(p) * u64::from(total_nodes)).div_ceil(100) as u32
            }
            None => 0,
        }
    }
}

fn parse_budget_nodes(s: &str) -> Option<BudgetNodes> {
    let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if let Some(pct) = s.strip_suffix('%') {
        if pct == "100" || (all_digits(pct) && pct.len() <= 2) {
            return pct.parse().ok().map(BudgetNodes::Percent);
        }
        return None;
    }
    if !all_digits(s) {
        return None;
    }
    Some(BudgetNodes::Count(s.parse::<u32>().unwrap_or(u32::MAX)))
}

const CRON_MACROS: &[&str] = &[
    "@annually",
    "@yearly",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

fn is_budget_schedule(s: &str) -> bool {
    CRON_MACROS.contains(&s) || s.split_whitespace().count() == 5
}

impl NodePool {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// `spec.weight`, 0 when unset (§1.6).
    pub fn weight(&self) -> i32 {
        self.spec.weight.unwrap_or(0)
    }

    /// Static NodePools (`spec.replicas` set) do not provision for pending pods (§1.2).
    pub fn is_static(&self) -> bool {
        self.spec.replicas.is_some()
    }

    /// The NodeClaim template's requirements, as Karpenter builds them
    /// (`NewNodeClaimTemplate`): `spec.template.spec.requirements`, then the template labels,
    /// `karpenter.sh/nodepool In [name]`, `<nodeClassRef.group>/<kind lowercased> In [name]`,
    /// and `karpenter.sh/registered` / `karpenter.sh/initialized In [true]` (so that DaemonSets
    /// selecting on those labels count as overhead).
    pub fn template_requirements(&self) -> Result<Requirements, RequirementError> {
        let spec = &self.spec.template.spec;
        let mut reqs = Requirements::from_node_selector_requirements(&spec.requirements)?;
        let mut labels = self.spec.template.metadata.labels.clone();
        labels.insert(NODEPOOL_LABEL.to_string(), self.metadata.name.clone());
        labels.insert(
            format!(
                "{}/{}",
                spec.node_class_ref.group,
                spec.node_class_ref.kind.to_ascii_lowercase()
            ),
            spec.node_class_ref.name.clone(),
        );
        labels.insert(REGISTERED_LABEL.to_string(), "true".to_string());
        labels.insert(INITIALIZED_LABEL.to_string(), "true".to_string());
        reqs.add(&Requirements::from_labels(&labels));
        Ok(reqs)
    }

    /// The minimum over the budgets that apply to `reason` and that `is_active` says are active
    /// now, of [`Budget::allowed_disruptions`]; `u32::MAX` when no budget constrains (§4.7,
    /// Karpenter's `GetAllowedDisruptionsByReason`).
    pub fn allowed_disruptions(
        &self,
        reason: DisruptionReason,
        total_nodes: u32,
        is_active: impl Fn(&Budget) -> bool,
    ) -> u32 {
        self.spec
            .disruption
            .budgets
            .iter()
            .filter(|b| b.applies_to(reason) && is_active(b))
            .map(|b| b.allowed_disruptions(total_nodes))
            .min()
            .unwrap_or(u32::MAX)
    }

    /// The API's own rules: CRD patterns and CEL rules, plus Karpenter's runtime validation of
    /// labels, requirements and taints. Reports every violation.
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checker::default();
        c.type_meta(
            &self.api_version,
            &self.kind,
            (NODEPOOL_API_VERSION, "NodePool"),
        );
        c.object_name(&self.metadata.name);
        let spec = &self.spec;
        if let Some(w) = spec.weight {
            c.check(
                (1..=100).contains(&w),
                "spec.weight",
                format!("must be between 1 and 100, found {w}"),
            );
        }
        if let Some(r) = spec.replicas {
            c.check(
                r >= 0,
                "spec.replicas",
                format!("must be at least 0, found {r}"),
            );
            c.check(
                spec.weight.is_none(),
                "spec.weight",
                "'weight' is not supported on static NodePools",
            );
            c.check(
                spec.limits.keys().all(|k| k == "nodes"),
                "spec.limits",
                "only 'limits.nodes' is supported on static NodePools",
            );
        }
        validate_template(&mut c, &spec.template);
        validate_disruption(&mut c, &spec.disruption);
        c.finish("NodePool", &self.metadata.name)
    }
}

fn validate_template(c: &mut Checker, template: &NodeClaimTemplate) {
    let labels = &template.metadata.labels;
    c.check(
        labels.len() <= 100,
        "spec.template.metadata.labels",
        format!("at most 100 labels, found {}", labels.len()),
    );
    for (key, value) in labels {
        let field = format!("spec.template.metadata.labels[{key}]");
        if let Err(e) = validate_label_key(key) {
            c.fail(&field, e.to_string());
        }
        if let Err(e) = validate_label_value(key, value) {
            c.fail(&field, e.to_string());
        }
        if let Some(reason) = restricted_label_reason(key) {
            c.fail(&field, reason);
        }
    }
    let spec = &template.spec;
    c.check(
        spec.requirements.len() <= MAX_REQUIREMENTS,
        "spec.template.spec.requirements",
        format!(
            "at most {MAX_REQUIREMENTS} requirements, found {}",
            spec.requirements.len()
        ),
    );
    for (i, r) in spec.requirements.iter().enumerate() {
        validate_requirement(c, &format!("spec.template.spec.requirements[{i}]"), r);
    }
    let mut seen = BTreeSet::new();
    for (list, name) in [
        (&spec.taints, "taints"),
        (&spec.startup_taints, "startupTaints"),
    ] {
        for (i, taint) in list.iter().enumerate() {
            let field = format!("spec.template.spec.{name}[{i}]");
            if let Err(e) = validate_label_key(&taint.key) {
                c.fail(&field, format!("invalid taint key: {e}"));
            }
            if let Some(v) = &taint.value
                && let Err(e) = validate_label_key(v)
            {
                c.fail(&field, format!("invalid taint value: {e}"));
            }
            if !seen.insert((taint.key.clone(), taint.effect)) {
                c.fail(
                    &field,
                    format!(
                        "duplicate taint Key/Effect pair {}={}",
                        taint.key, taint.effect
                    ),
                );
            }
        }
    }
    let r = &spec.node_class_ref;
    for (value, name) in [(&r.group, "group"), (&r.kind, "kind"), (&r.name, "name")] {
        c.check(
            !value.is_empty(),
            format!("spec.template.spec.nodeClassRef.{name}"),
            format!("{name} may not be empty"),
        );
    }
    c.check(
        !r.group.contains('/'),
        "spec.template.spec.nodeClassRef.group",
        format!("must not contain '/', found {:?}", r.group),
    );
}

fn validate_requirement(c: &mut Checker, field: &str, r: &NodeSelectorRequirementWithMinValues) {
    if let Err(e) = r.validate() {
        c.fail(field, e.to_string());
    }
    if r.operator.is_numeric()
        && r.values
            .iter()
            .any(|v| v.parse::<i64>().is_ok_and(|n| n < 0))
    {
        c.fail(
            field,
            format!(
                "requirements operator {} must have a single positive integer value, found {:?}",
                r.operator, r.values
            ),
        );
    }
    let key = normalized_label_key(&r.key);
    if let Err(e) = validate_label_key(key) {
        c.fail(field, e.to_string());
    }
    if let Some(reason) = restricted_label_reason(key) {
        c.fail(field, reason);
    }
    for value in &r.values {
        if let Err(e) = validate_label_value(key, value) {
            c.fail(field, e.to_string());
        }
    }
    if r.operator == NodeSelectorOperator::In
        && let Some(known) = known_values(key)
    {
        let valid = r
            .values
            .iter()
            .filter(|v| known.contains(&v.as_str()))
            .count();
        if valid == 0 {
            c.fail(
                field,
                format!(
                    "no valid values found in {:?} for {key}, expected one of: {}",
                    r.values,
                    known.join(", ")
                ),
            );
        } else if let Some(min) = r.min_values
            && valid < min as usize
        {
            c.fail(
                field,
                format!(
                    "not enough valid values found in {:?} for {key}, expected at least {min} valid values from: {}",
                    r.values,
                    known.join(", ")
                ),
            );
        }
    }
}

fn validate_disruption(c: &mut Checker, d: &Disruption) {
    c.check(
        d.budgets.len() <= MAX_BUDGETS,
        "spec.disruption.budgets",
        format!("at most {MAX_BUDGETS} budgets, found {}", d.budgets.len()),
    );
    for (i, b) in d.budgets.iter().enumerate() {
        let field = format!("spec.disruption.budgets[{i}]");
        c.check(
            b.nodes_value().is_some(),
            format!("{field}.nodes"),
            format!(
                "must be a node count or a percentage up to 100% (e.g. \"5\", \"10%\"), found {:?}",
                b.nodes
            ),
        );
        c.check(
            b.schedule.is_some() == b.duration.is_some(),
            &field,
            "'schedule' must be set with 'duration'",
        );
        if let Some(s) = &b.schedule {
            c.check(
                is_budget_schedule(s),
                format!("{field}.schedule"),
                format!(
                    "must be a cron expression with 5 fields (UTC) or one of {}, found {s:?}",
                    CRON_MACROS.join(", ")
                ),
            );
        }
        if let Some(reasons) = &b.reasons {
            c.check(
                reasons.len() <= 50,
                format!("{field}.reasons"),
                format!("at most 50 reasons, found {}", reasons.len()),
            );
            let distinct: BTreeSet<_> = reasons.iter().collect();
            c.check(
                distinct.len() == reasons.len(),
                format!("{field}.reasons"),
                "reasons must not repeat",
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Durations as the CRDs constrain them
// ---------------------------------------------------------------------------------------------

/// A duration field's text before parsing; a bare integer is kept as its digits.
struct RawText(String);

impl<'de> Deserialize<'de> for RawText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as 30s, 1h30m or 720h")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawText, E> {
                Ok(RawText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawText, E> {
                Ok(RawText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawText, E> {
                Ok(RawText(v.to_string()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// `^([0-9]+(s|m|h))+$`, the CRD pattern of expireAfter / consolidateAfter /
/// terminationGracePeriod (a bare `0` is also taken, as 0s).
fn is_crd_duration(s: &str) -> bool {
    if s == "0" {
        return true;
    }
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        match rest.as_bytes().get(digits) {
            Some(b's' | b'm' | b'h') => rest = &rest[digits + 1..],
            _ => return false,
        }
        // "ms" is not allowed: "5ms" reads 5m then "s" without digits, which fails above.
    }
    !s.is_empty()
}

/// `^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$`: whole minutes (cron has no seconds).
fn is_budget_duration_text(s: &str) -> bool {
    let core = s.strip_suffix("0s").unwrap_or(s);
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if let Some(h) = core.strip_suffix('h') {
        return digits(h);
    }
    if let Some(hm) = core.strip_suffix('m') {
        return match hm.split_once('h') {
            Some((h, m)) => digits(h) && digits(m),
            None => digits(hm),
        };
    }
    false
}

fn crd_duration_text<E: de::Error>(text: &str, allow_never: bool) -> Result<NillableDuration, E> {
    if allow_never && text == NEVER {
        return Ok(NillableDuration::Never);
    }
    let ms = parse_duration(text).map_err(E::custom)?;
    if !is_crd_duration(text) {
        return Err(E::custom(format!(
            "invalid duration {text:?}: Karpenter accepts only whole numbers with units s, m, h (e.g. 30s, 1h30m, 720h){}",
            if allow_never { " or Never" } else { "" }
        )));
    }
    Ok(NillableDuration::After(ms))
}

fn crd_nillable_duration<'de, D: Deserializer<'de>>(d: D) -> Result<NillableDuration, D::Error> {
    let RawText(text) = RawText::deserialize(d)?;
    crd_duration_text(&text, true)
}

fn crd_optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match Option::<RawText>::deserialize(d)? {
        None => Ok(None),
        Some(RawText(text)) => {
            crd_duration_text(&text, false).map(|nd| Some(Duration(nd.as_millis().unwrap_or(0))))
        }
    }
}

fn budget_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match Option::<RawText>::deserialize(d)? {
        None => Ok(None),
        Some(RawText(text)) => {
            let ms = parse_duration(&text).map_err(de::Error::custom)?;
            if !is_budget_duration_text(&text) {
                return Err(de::Error::custom(format!(
                    "invalid budget duration {text:?}: only hours and minutes are accepted (e.g. 30m, 8h, 1h30m), as cron has no seconds"
                )));
            }
            Ok(Some(Duration(ms)))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// EC2NodeClass
// ---------------------------------------------------------------------------------------------

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

const RESERVED_RESOURCE_KEYS: &[&str] = &["cpu", "memory", "ephemeral-storage", "pid"];
const EVICTION_SIGNALS: &[&str] = &[
    "memory.available",
    "nodefs.available",
    "nodefs.inodesFree",
    "imagefs.available",
    "imagefs.inodesFree",
    "pid.available",
];

impl EC2NodeClass {
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

fn check_tags(c: &mut Checker, field: &str, tags: &Option<BTreeMap<String, String>>) {
    if let Some(tags) = tags
        && tags.iter().any(|(k, v)| k.is_empty() || v.is_empty())
    {
        c.fail(
            format!("{field}.tags"),
            "empty tag keys or values aren't supported",
        );
    }
}

fn validate_ami_terms(c: &mut Checker, spec: &EC2NodeClassSpec) {
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

fn validate_selector_terms(c: &mut Checker, spec: &EC2NodeClassSpec) {
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

fn validate_kubelet(c: &mut Checker, k: &KubeletConfiguration) {
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

fn validate_block_devices(c: &mut Checker, mappings: &[BlockDeviceMapping]) {
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

fn validate_network_interfaces(c: &mut Checker, nics: &[NetworkInterface]) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use asim_core::k8s::taints::TaintEffect;

    /// The getting-started NodePool and EC2NodeClass (docs/model/karpenter.md §2; aws
    /// website v1.14 getting-started step 12), with the variables filled in.
    const GETTING_STARTED_NODEPOOL: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: default
spec:
  template:
    spec:
      requirements:
        - key: kubernetes.io/arch
          operator: In
          values: ["amd64"]
        - key: kubernetes.io/os
          operator: In
          values: ["linux"]
        - key: karpenter.sh/capacity-type
          operator: In
          values: ["on-demand"]
        - key: karpenter.k8s.aws/instance-category
          operator: In
          values: ["c", "m", "r"]
        - key: karpenter.k8s.aws/instance-generation
          operator: Gt
          values: ["2"]
      nodeClassRef:
        group: karpenter.k8s.aws
        kind: EC2NodeClass
        name: default
      expireAfter: 720h # 30 * 24h = 720h
  limits:
    cpu: 1000
  disruption:
    consolidationPolicy: WhenEmptyOrUnderutilized
    consolidateAfter: 1m
"#;

    const GETTING_STARTED_NODECLASS: &str = r#"
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata:
  name: default
spec:
  role: "KarpenterNodeRole-demo"
  amiSelectorTerms:
    - alias: "al2023@latest"
  subnetSelectorTerms:
    - tags:
        karpenter.sh/discovery: "demo"
  securityGroupSelectorTerms:
    - tags:
        karpenter.sh/discovery: "demo"
"#;

    const FULL_NODEPOOL: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: gpu
  uid: 1234
  annotations: {kubernetes.io/description: "GPU pool"}
spec:
  weight: 50
  template:
    metadata:
      labels:
        team: ml
        karpenter.sh/capacity-type: spot
      annotations:
        example.com/owner: ml-platform
    spec:
      requirements:
        - key: node.kubernetes.io/instance-type
          operator: In
          values: [g5.xlarge, g5.2xlarge, g6.xlarge]
          minValues: 2
        - key: karpenter.k8s.aws/instance-gpu-count
          operator: Gte
          values: ["1"]
        - key: karpenter.k8s.aws/instance-memory
          operator: Lte
          values: ["65536"]
        - key: topology.kubernetes.io/zone
          operator: NotIn
          values: [us-east-1e]
        - key: example.com/rack
          operator: DoesNotExist
        - key: kubernetes.io/os
          operator: Exists
      taints:
        - key: nvidia.com/gpu
          value: "true"
          effect: NoSchedule
      startupTaints:
        - key: example.com/agent-not-ready
          effect: NoExecute
      nodeClassRef:
        group: karpenter.k8s.aws
        kind: EC2NodeClass
        name: gpu
      expireAfter: Never
      terminationGracePeriod: 1h30m
      futureField: {ignored: true}
  limits:
    cpu: "500"
    memory: 2000Gi
    nvidia.com/gpu: 64
  disruption:
    consolidationPolicy: WhenEmpty
    consolidateAfter: Never
    budgets:
      - nodes: "20%"
        reasons: [Empty, Drifted]
      - nodes: "0"
        schedule: "0 9 * * mon-fri"
        duration: 8h
      - nodes: "5"
        schedule: "@daily"
        duration: 1h30m
status:
  resources: {cpu: "12"}
  conditions: [{type: Ready, status: "True"}]
"#;

    const KUBELET_NODECLASS: &str = r#"
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata:
  name: tuned
spec:
  amiFamily: AL2023
  amiSelectorTerms:
    - id: ami-0123456789abcdef0
    - tags: {Name: "eks-node-*"}
      owner: "123456789012"
  subnetSelectorTerms:
    - id: subnet-0aaa
    - tags: {Tier: private}
  securityGroupSelectorTerms:
    - name: eks-cluster-sg
  capacityReservationSelectorTerms:
    - id: cr-0123
  placementGroupSelector: {name: analytics}
  instanceProfile: KarpenterNodeInstanceProfile
  associatePublicIPAddress: false
  detailedMonitoring: true
  instanceStorePolicy: RAID0
  userData: |
    [settings.kubernetes]
    max-pods = 110
  tags:
    team: platform
  context: ctx-1
  metadataOptions:
    httpEndpoint: enabled
    httpProtocolIPv6: disabled
    httpPutResponseHopLimit: 2
    httpTokens: required
  kubelet:
    maxPods: 58
    podsPerCore: 4
    clusterDNS: ["10.100.0.10"]
    kubeReserved: {cpu: 200m, memory: 1Gi, ephemeral-storage: 3Gi}
    systemReserved: {cpu: 100m, memory: 100Mi, pid: 1000}
    evictionHard: {memory.available: 5%, nodefs.available: 10%, nodefs.inodesFree: 7.5%}
    evictionSoft: {memory.available: 500Mi}
    evictionSoftGracePeriod: {memory.available: 1m30s}
    evictionMaxPodGracePeriod: 60
    imageGCHighThresholdPercent: 85
    imageGCLowThresholdPercent: 80
    cpuCFSQuota: true
    someNewKubeletSetting: 3
  blockDeviceMappings:
    - deviceName: /dev/xvda
      rootVolume: true
      ebs:
        volumeSize: 100Gi
        volumeType: gp3
        iops: 10000
        throughput: 125
        encrypted: true
        deleteOnTermination: true
        kmsKeyID: arn:aws:kms:us-east-1:123456789012:key/abc
        snapshotID: snap-0123
  networkInterfaces:
    - {networkCardIndex: 0, deviceIndex: 0, interfaceType: interface}
    - {networkCardIndex: 0, deviceIndex: 1, interfaceType: efa-only}
  cpuOptions: {nestedVirtualization: disabled}
status:
  subnets: [{id: subnet-0aaa, zone: us-east-1a}]
"#;

    fn nodepool(yaml: &str) -> NodePool {
        match serde_saphyr::from_str(yaml) {
            Ok(np) => np,
            Err(e) => panic!("{e}"),
        }
    }

    fn nodeclass(yaml: &str) -> EC2NodeClass {
        match serde_saphyr::from_str(yaml) {
            Ok(nc) => nc,
            Err(e) => panic!("{e}"),
        }
    }

    fn violations(err: ApiError) -> Vec<String> {
        err.violations.iter().map(ToString::to_string).collect()
    }

    fn with(yaml: &str, from: &str, to: &str) -> String {
        assert!(yaml.contains(from), "fixture lacks {from:?}");
        yaml.replacen(from, to, 1)
    }

    #[test]
    fn getting_started_nodepool_parses_with_defaults() {
        let np = nodepool(GETTING_STARTED_NODEPOOL);
        np.validate().unwrap();
        assert_eq!(np.name(), "default");
        assert_eq!(np.weight(), 0);
        assert!(!np.is_static());
        let spec = &np.spec.template.spec;
        assert_eq!(spec.requirements.len(), 5);
        assert_eq!(spec.requirements[4].operator, NodeSelectorOperator::Gt);
        assert_eq!(
            spec.expire_after,
            NillableDuration::After(DEFAULT_EXPIRE_AFTER_MS)
        );
        assert_eq!(spec.termination_grace_period, None);
        assert_eq!(spec.node_class_ref.kind, "EC2NodeClass");
        assert_eq!(np.spec.limits["cpu"].to_milli_ceil(), 1_000_000);
        let d = &np.spec.disruption;
        assert_eq!(
            d.consolidation_policy,
            ConsolidationPolicy::WhenEmptyOrUnderutilized
        );
        assert_eq!(d.consolidate_after, NillableDuration::After(60_000));
        assert_eq!(d.budgets, default_budgets());
        let reqs = np.template_requirements().unwrap();
        assert!(
            reqs.get("karpenter.k8s.aws/instance-generation")
                .unwrap()
                .has("3")
        );
        assert!(
            !reqs
                .get("karpenter.k8s.aws/instance-generation")
                .unwrap()
                .has("2")
        );
        assert_eq!(reqs.labels()["karpenter.sh/nodepool"], "default");
        assert_eq!(reqs.labels()["karpenter.k8s.aws/ec2nodeclass"], "default");
        assert_eq!(reqs.labels()["kubernetes.io/arch"], "amd64");
        assert_eq!(reqs.labels()["karpenter.sh/initialized"], "true");
    }

    const MINIMAL_NODEPOOL: &str = r#"
metadata: {name: minimal}
spec:
  template:
    spec:
      requirements: []
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
"#;

    #[test]
    fn nodepool_defaults_when_disruption_and_expiry_are_absent() {
        let np = nodepool(MINIMAL_NODEPOOL);
        np.validate().unwrap();
        assert_eq!(np.spec.disruption, Disruption::default());
        assert_eq!(
            np.spec.disruption.consolidate_after,
            NillableDuration::After(0)
        );
        assert_eq!(
            np.spec.disruption.consolidation_policy,
            ConsolidationPolicy::WhenEmptyOrUnderutilized
        );
        assert_eq!(np.spec.disruption.budgets[0].nodes, "10%");
        assert_eq!(
            np.spec.template.spec.expire_after.as_millis(),
            Some(720 * 3_600_000)
        );
        assert!(np.spec.limits.is_empty());
        // A budget without nodes gets 10%.
        let np = nodepool(&format!(
            "{MINIMAL_NODEPOOL}  disruption:\n    budgets: [{{reasons: [Drifted]}}]\n"
        ));
        assert_eq!(np.spec.disruption.budgets[0].nodes, "10%");
        // An explicit empty budget list stays empty: nothing constrains disruption.
        let np = nodepool(&format!(
            "{MINIMAL_NODEPOOL}  disruption:\n    budgets: []\n"
        ));
        assert!(np.spec.disruption.budgets.is_empty());
        assert_eq!(
            np.allowed_disruptions(DisruptionReason::Empty, 10, |_| true),
            u32::MAX
        );
    }

    #[test]
    fn full_nodepool_parses_every_field_and_ignores_unknown_ones() {
        let np = nodepool(FULL_NODEPOOL);
        np.validate().unwrap();
        assert_eq!(np.weight(), 50);
        let t = &np.spec.template;
        assert_eq!(t.metadata.labels["team"], "ml");
        assert_eq!(t.metadata.annotations["example.com/owner"], "ml-platform");
        let spec = &t.spec;
        assert_eq!(spec.requirements[0].min_values, Some(2));
        assert_eq!(spec.requirements[1].operator, NodeSelectorOperator::Gte);
        assert_eq!(
            spec.requirements[4].operator,
            NodeSelectorOperator::DoesNotExist
        );
        assert_eq!(
            spec.taints,
            [Taint::new(
                "nvidia.com/gpu",
                Some("true"),
                TaintEffect::NoSchedule
            )]
        );
        assert_eq!(spec.startup_taints[0].effect, TaintEffect::NoExecute);
        assert_eq!(spec.expire_after, NillableDuration::Never);
        assert_eq!(spec.termination_grace_period, Some(Duration(5_400_000)));
        assert_eq!(np.spec.limits["memory"].to_units_ceil(), 2000 << 30);
        assert_eq!(np.spec.limits["nvidia.com/gpu"].to_units_ceil(), 64);
        let d = &np.spec.disruption;
        assert_eq!(d.consolidation_policy, ConsolidationPolicy::WhenEmpty);
        assert!(d.consolidate_after.is_never());
        assert_eq!(d.budgets.len(), 3);
        assert_eq!(
            d.budgets[0].reasons.as_deref(),
            Some(&[DisruptionReason::Empty, DisruptionReason::Drifted][..])
        );
        assert_eq!(d.budgets[1].schedule.as_deref(), Some("0 9 * * mon-fri"));
        assert_eq!(d.budgets[1].duration, Some(Duration(8 * 3_600_000)));
        assert_eq!(d.budgets[2].duration, Some(Duration(5_400_000)));
        let reqs = np.template_requirements().unwrap();
        assert!(
            reqs.get("karpenter.k8s.aws/instance-gpu-count")
                .unwrap()
                .has("1")
        );
        assert!(
            !reqs
                .get("karpenter.k8s.aws/instance-memory")
                .unwrap()
                .has("65537")
        );
        assert_eq!(
            reqs.get("node.kubernetes.io/instance-type")
                .unwrap()
                .min_values(),
            Some(2)
        );
    }

    #[test]
    fn budget_allowed_disruptions_rounds_percentages_up() {
        let b = |nodes: &str| Budget {
            nodes: nodes.to_string(),
            schedule: None,
            duration: None,
            reasons: None,
        };
        assert_eq!(b("10%").allowed_disruptions(10), 1);
        assert_eq!(b("10%").allowed_disruptions(11), 2);
        assert_eq!(b("30%").allowed_disruptions(10), 3);
        assert_eq!(b("50%").allowed_disruptions(3), 2);
        assert_eq!(b("100%").allowed_disruptions(7), 7);
        assert_eq!(b("0%").allowed_disruptions(100), 0);
        assert_eq!(b("10%").allowed_disruptions(0), 0);
        assert_eq!(b("5").allowed_disruptions(2), 5);
        assert_eq!(b("0").allowed_disruptions(10), 0);
        assert_eq!(
            b("99999999999").nodes_value(),
            Some(BudgetNodes::Count(u32::MAX))
        );
        // Invalid values fail closed.
        assert_eq!(b("110%").allowed_disruptions(10), 0);
        assert_eq!(b("ten").allowed_disruptions(10), 0);
    }

    #[test]
    fn nodepool_allowed_disruptions_takes_the_minimum_applicable_active_budget() {
        let np = nodepool(FULL_NODEPOOL);
        let always = |_: &Budget| true;
        // Budget 0 (20%, Empty/Drifted), budget 1 (0, scheduled), budget 2 (5, scheduled).
        assert_eq!(
            np.allowed_disruptions(DisruptionReason::Empty, 10, always),
            0
        );
        let unscheduled_only = |b: &Budget| b.schedule.is_none();
        assert_eq!(
            np.allowed_disruptions(DisruptionReason::Empty, 10, unscheduled_only),
            2
        );
        assert_eq!(
            np.allowed_disruptions(DisruptionReason::Drifted, 11, unscheduled_only),
            3
        );
        assert_eq!(
            np.allowed_disruptions(DisruptionReason::Underutilized, 10, unscheduled_only),
            u32::MAX
        );
        let not_zero = |b: &Budget| b.nodes != "0";
        assert_eq!(
            np.allowed_disruptions(DisruptionReason::Underutilized, 10, not_zero),
            5
        );
    }

    #[test]
    fn nodepool_weight_must_be_between_1_and_100() {
        for w in ["0", "101", "-5"] {
            let np = nodepool(&with(FULL_NODEPOOL, "weight: 50", &format!("weight: {w}")));
            let v = violations(np.validate().unwrap_err());
            assert_eq!(
                v,
                [format!("spec.weight: must be between 1 and 100, found {w}")]
            );
        }
        nodepool(&with(FULL_NODEPOOL, "weight: 50", "weight: 100"))
            .validate()
            .unwrap();
    }

    #[test]
    fn nodepool_rejects_wrong_types_and_unknown_enum_values() {
        let cases = [
            ("weight: 50", "weight: heavy"),
            (
                "consolidationPolicy: WhenEmpty",
                "consolidationPolicy: WhenUnderutilized",
            ),
            ("operator: Gte", "operator: Equals"),
            ("effect: NoSchedule", "effect: Sometimes"),
            ("memory: 2000Gi", "memory: 2000Qi"),
            ("expireAfter: Never", "expireAfter: 5 minutes"),
            ("expireAfter: Never", "expireAfter: 1.5h"),
            ("expireAfter: Never", "expireAfter: 500ms"),
            (
                "terminationGracePeriod: 1h30m",
                "terminationGracePeriod: Never",
            ),
            ("consolidateAfter: Never", "consolidateAfter: never"),
            ("reasons: [Empty, Drifted]", "reasons: [Empty, Expired]"),
            ("duration: 8h", "duration: 30s"),
            ("minValues: 2", "minValues: -1"),
            (
                "    spec:\n      requirements:",
                "    spec:\n      requirementz:",
            ),
        ];
        for (from, to) in cases {
            let yaml = with(FULL_NODEPOOL, from, to);
            assert!(
                serde_saphyr::from_str::<NodePool>(&yaml).is_err(),
                "{to} was accepted"
            );
        }
        let err = serde_saphyr::from_str::<NodePool>(&with(
            FULL_NODEPOOL,
            "consolidationPolicy: WhenEmpty",
            "consolidationPolicy: WhenUnderutilized",
        ))
        .unwrap_err();
        assert!(
            err.to_string().contains(
                "unknown consolidation policy \"WhenUnderutilized\" (expected WhenEmpty, WhenEmptyOrUnderutilized, Balanced)"
            ),
            "{err}"
        );
        let err = serde_saphyr::from_str::<NodePool>(&with(
            FULL_NODEPOOL,
            "expireAfter: Never",
            "expireAfter: 1.5h",
        ))
        .unwrap_err();
        assert!(
            err.to_string().contains("whole numbers with units s, m, h"),
            "{err}"
        );
        let missing = with(
            GETTING_STARTED_NODEPOOL,
            "      nodeClassRef:\n        group: karpenter.k8s.aws\n        kind: EC2NodeClass\n        name: default\n",
            "",
        );
        let err = serde_saphyr::from_str::<NodePool>(&missing).unwrap_err();
        assert!(err.to_string().contains("nodeClassRef"), "{err}");
    }

    #[test]
    fn nodepool_rejects_restricted_requirement_keys() {
        for (key, expect) in [
            (
                "karpenter.sh/nodepool",
                "label \"karpenter.sh/nodepool\" is restricted",
            ),
            (
                "kubernetes.io/hostname",
                "label \"kubernetes.io/hostname\" is restricted",
            ),
            (
                "karpenter.sh/custom",
                "label domain \"karpenter.sh\" is restricted",
            ),
            (
                "sub.karpenter.k8s.aws/x",
                "label domain \"karpenter.k8s.aws\" is restricted",
            ),
            (
                "karpenter.k8s.aws/instance-foo",
                "label domain \"karpenter.k8s.aws\" is restricted",
            ),
        ] {
            let np = nodepool(&with(
                FULL_NODEPOOL,
                "key: example.com/rack",
                &format!("key: {key}"),
            ));
            let v = violations(np.validate().unwrap_err());
            assert_eq!(v.len(), 1, "{v:?}");
            assert!(
                v[0].starts_with("spec.template.spec.requirements[4]: "),
                "{v:?}"
            );
            assert!(v[0].contains(expect), "{v:?}");
        }
        // Well-known labels in restricted domains are fine, as are normalised beta keys.
        for key in [
            "karpenter.sh/capacity-type",
            "karpenter.k8s.aws/instance-family",
            "beta.kubernetes.io/arch",
        ] {
            nodepool(&with(
                FULL_NODEPOOL,
                "key: example.com/rack",
                &format!("key: {key}"),
            ))
            .validate()
            .unwrap();
        }
    }

    #[test]
    fn nodepool_rejects_restricted_template_labels() {
        let np = nodepool(&with(
            FULL_NODEPOOL,
            "team: ml",
            "karpenter.sh/nodepool: other",
        ));
        let v = violations(np.validate().unwrap_err());
        assert_eq!(
            v,
            [
                "spec.template.metadata.labels[karpenter.sh/nodepool]: label \"karpenter.sh/nodepool\" is restricted"
            ]
        );
        let np = nodepool(&with(FULL_NODEPOOL, "team: ml", "team: \"not valid\""));
        assert!(np.validate().is_err());
    }

    #[test]
    fn nodepool_validates_requirement_values_and_counts() {
        let np = nodepool(&with(FULL_NODEPOOL, "values: [\"1\"]", "values: [\"-1\"]"));
        assert!(violations(np.validate().unwrap_err())[0].contains("single positive integer"));
        let np = nodepool(&with(FULL_NODEPOOL, "values: [\"1\"]", "values: [\"one\"]"));
        assert!(violations(np.validate().unwrap_err())[0].contains("exactly one integer"));
        let np = nodepool(&with(FULL_NODEPOOL, "minValues: 2", "minValues: 4"));
        assert!(violations(np.validate().unwrap_err())[0].contains("minValues is 4"));
        let np = nodepool(&with(
            GETTING_STARTED_NODEPOOL,
            "values: [\"on-demand\"]",
            "values: [\"ondemand\"]",
        ));
        assert!(violations(np.validate().unwrap_err())[0].contains("no valid values found"));
        // More than 100 requirements.
        let many: String = (0..101)
            .map(|i| format!("        - {{key: example.com/k{i}, operator: Exists}}\n"))
            .collect();
        let np = nodepool(&with(
            GETTING_STARTED_NODEPOOL,
            "      requirements:\n",
            &format!("      requirements:\n{many}"),
        ));
        assert!(
            violations(np.validate().unwrap_err())[0]
                .contains("at most 100 requirements, found 106")
        );
    }

    #[test]
    fn nodepool_validates_budgets() {
        let np = nodepool(&with(FULL_NODEPOOL, "nodes: \"20%\"", "nodes: \"110%\""));
        assert!(
            violations(np.validate().unwrap_err())[0]
                .starts_with("spec.disruption.budgets[0].nodes: must be")
        );
        let np = nodepool(&with(FULL_NODEPOOL, "        duration: 8h\n", ""));
        assert_eq!(
            violations(np.validate().unwrap_err()),
            ["spec.disruption.budgets[1]: 'schedule' must be set with 'duration'"]
        );
        let np = nodepool(&with(
            FULL_NODEPOOL,
            "schedule: \"0 9 * * mon-fri\"",
            "schedule: \"0 9 * *\"",
        ));
        assert!(
            violations(np.validate().unwrap_err())[0].contains("cron expression with 5 fields")
        );
        let np = nodepool(&with(
            FULL_NODEPOOL,
            "schedule: \"@daily\"",
            "schedule: \"@every 1h\"",
        ));
        assert!(np.validate().is_err());
        let np = nodepool(&with(FULL_NODEPOOL, "duration: 8h", "duration: 8h30m0s"));
        np.validate().unwrap();
        let np = nodepool(&with(
            FULL_NODEPOOL,
            "reasons: [Empty, Drifted]",
            "reasons: [Empty, Empty]",
        ));
        assert!(violations(np.validate().unwrap_err())[0].contains("must not repeat"));
    }

    #[test]
    fn nodepool_validates_taints_and_node_class_ref() {
        let np = nodepool(&with(
            FULL_NODEPOOL,
            "key: example.com/agent-not-ready\n          effect: NoExecute",
            "key: nvidia.com/gpu\n          effect: NoSchedule",
        ));
        assert!(
            violations(np.validate().unwrap_err())[0]
                .contains("duplicate taint Key/Effect pair nvidia.com/gpu=NoSchedule")
        );
        let np = nodepool(&with(FULL_NODEPOOL, "kind: EC2NodeClass", "kind: \"\""));
        assert_eq!(
            violations(np.validate().unwrap_err()),
            ["spec.template.spec.nodeClassRef.kind: kind may not be empty"]
        );
    }

    #[test]
    fn static_nodepool_keeps_replicas_and_rejects_weight_and_resource_limits() {
        let np = nodepool(&with(FULL_NODEPOOL, "weight: 50", "replicas: 3"));
        assert!(np.is_static());
        assert_eq!(np.spec.replicas, Some(3));
        let v = violations(np.validate().unwrap_err());
        assert_eq!(
            v,
            ["spec.limits: only 'limits.nodes' is supported on static NodePools"]
        );
        let np = nodepool(&with(
            GETTING_STARTED_NODEPOOL,
            "  limits:\n    cpu: 1000\n",
            "  replicas: 2\n  weight: 5\n",
        ));
        assert_eq!(
            violations(np.validate().unwrap_err()),
            ["spec.weight: 'weight' is not supported on static NodePools"]
        );
    }

    #[test]
    fn getting_started_nodeclass_infers_al2023_from_alias() {
        let nc = nodeclass(GETTING_STARTED_NODECLASS);
        nc.validate().unwrap();
        assert_eq!(nc.effective_ami_family(), AmiFamily::Al2023);
        assert_eq!(
            nc.alias(),
            Some(AmiAlias {
                family: AmiFamily::Al2023,
                version: "latest".to_string()
            })
        );
        assert_eq!(nc.spec.role.as_deref(), Some("KarpenterNodeRole-demo"));
        assert_eq!(nc.spec.kubelet, KubeletConfiguration::default());
        assert!(nc.root_volume().is_none());
    }

    #[test]
    fn effective_ami_family_from_each_alias_and_override() {
        for (alias, family) in [
            ("al2@latest", AmiFamily::Al2),
            ("al2023@v20240807", AmiFamily::Al2023),
            ("bottlerocket@1.20.0", AmiFamily::Bottlerocket),
            ("windows2019@latest", AmiFamily::Windows2019),
            ("windows2022@latest", AmiFamily::Windows2022),
            ("windows2025@latest", AmiFamily::Windows2025),
        ] {
            let nc = nodeclass(&with(GETTING_STARTED_NODECLASS, "al2023@latest", alias));
            nc.validate().unwrap();
            assert_eq!(nc.effective_ami_family(), family, "{alias}");
        }
        let custom = with(
            GETTING_STARTED_NODECLASS,
            "  role:",
            "  amiFamily: Custom\n  role:",
        );
        let nc = nodeclass(&custom);
        nc.validate().unwrap();
        assert_eq!(nc.effective_ami_family(), AmiFamily::Custom);
        assert_eq!(
            nodeclass(KUBELET_NODECLASS).effective_ami_family(),
            AmiFamily::Al2023
        );
    }

    #[test]
    fn nodeclass_with_kubelet_overrides_parses_every_field() {
        let nc = nodeclass(KUBELET_NODECLASS);
        nc.validate().unwrap();
        let k = &nc.spec.kubelet;
        assert_eq!(k.max_pods, Some(58));
        assert_eq!(k.pods_per_core, Some(4));
        assert_eq!(k.cluster_dns, ["10.100.0.10"]);
        assert_eq!(k.kube_reserved["cpu"].to_milli_ceil(), 200);
        assert_eq!(k.kube_reserved["memory"].to_units_ceil(), 1 << 30);
        assert_eq!(k.system_reserved["pid"].to_units_ceil(), 1000);
        assert_eq!(
            k.eviction_hard["memory.available"],
            EvictionThreshold::PercentHundredths(500)
        );
        assert_eq!(
            k.eviction_hard["nodefs.inodesFree"],
            EvictionThreshold::PercentHundredths(750)
        );
        assert_eq!(
            k.eviction_soft["memory.available"],
            EvictionThreshold::Quantity(parse_quantity("500Mi").unwrap())
        );
        assert_eq!(
            k.eviction_soft_grace_period["memory.available"],
            Duration(90_000)
        );
        assert_eq!(k.eviction_max_pod_grace_period, Some(60));
        assert_eq!(
            (
                k.image_gc_high_threshold_percent,
                k.image_gc_low_threshold_percent
            ),
            (Some(85), Some(80))
        );
        assert_eq!(k.cpu_cfs_quota, Some(true));
        let root = nc.root_volume().unwrap();
        let ebs = root.ebs.as_ref().unwrap();
        assert_eq!(ebs.volume_size.unwrap().to_units_ceil(), 100 << 30);
        assert_eq!(ebs.volume_type, Some(VolumeType::Gp3));
        assert_eq!(
            ebs.kms_key_id.as_deref(),
            Some("arn:aws:kms:us-east-1:123456789012:key/abc")
        );
        assert_eq!(ebs.snapshot_id.as_deref(), Some("snap-0123"));
        assert_eq!((ebs.iops, ebs.throughput), (Some(10_000), Some(125)));
        assert_eq!(
            nc.spec.instance_store_policy,
            Some(InstanceStorePolicy::Raid0)
        );
        assert_eq!(
            nc.spec.network_interfaces[1].interface_type,
            InterfaceType::EfaOnly
        );
        let m = nc.spec.metadata_options.as_ref().unwrap();
        assert_eq!(m.http_tokens, Some(HttpTokens::Required));
        assert_eq!(m.http_protocol_ipv6, Some(MetadataEndpointState::Disabled));
        assert_eq!(m.http_put_response_hop_limit, Some(2));
        assert_eq!(nc.spec.associate_public_ip_address, Some(false));
        assert_eq!(nc.spec.detailed_monitoring, Some(true));
        assert_eq!(
            nc.spec.instance_profile.as_deref(),
            Some("KarpenterNodeInstanceProfile")
        );
        assert_eq!(
            nc.spec
                .placement_group_selector
                .as_ref()
                .unwrap()
                .name
                .as_deref(),
            Some("analytics")
        );
        assert_eq!(
            nc.spec.capacity_reservation_selector_terms[0].id.as_deref(),
            Some("cr-0123")
        );
        assert_eq!(
            nc.spec.ami_selector_terms[1].owner.as_deref(),
            Some("123456789012")
        );
        assert!(nc.spec.user_data.as_deref().unwrap().contains("max-pods"));
        assert_eq!(nc.spec.context.as_deref(), Some("ctx-1"));
        assert!(nc.spec.cpu_options.is_some());
    }

    #[test]
    fn nodeclass_rejects_wrong_types_and_enums() {
        for (from, to) in [
            ("amiFamily: AL2023", "amiFamily: Ubuntu"),
            ("volumeType: gp3", "volumeType: gp4"),
            ("volumeSize: 100Gi", "volumeSize: 100Gb"),
            ("interfaceType: efa-only", "interfaceType: efa"),
            ("maxPods: 58", "maxPods: many"),
            ("httpTokens: required", "httpTokens: always"),
            ("instanceStorePolicy: RAID0", "instanceStorePolicy: RAID1"),
            ("memory.available: 5%", "memory.available: 5.555%"),
            ("memory.available: 1m30s", "memory.available: 90"),
            ("cpu: 200m", "cpu: lots"),
            ("  subnetSelectorTerms:", "  subnetSelectorTermz:"),
        ] {
            let yaml = with(KUBELET_NODECLASS, from, to);
            assert!(
                serde_saphyr::from_str::<EC2NodeClass>(&yaml).is_err(),
                "{to} was accepted"
            );
        }
        let err = serde_saphyr::from_str::<EC2NodeClass>(&with(
            KUBELET_NODECLASS,
            "amiFamily: AL2023",
            "amiFamily: Ubuntu",
        ))
        .unwrap_err();
        assert!(
            err.to_string().contains(
                "unknown AMI family \"Ubuntu\" (expected AL2, AL2023, Bottlerocket, Custom, Windows2019, Windows2022, Windows2025)"
            ),
            "{err}"
        );
    }

    #[test]
    fn nodeclass_validation_rules() {
        let cases: &[(&str, &str, &str, &str)] = &[
            (
                GETTING_STARTED_NODECLASS,
                "  role: \"KarpenterNodeRole-demo\"\n",
                "",
                "exactly one of ['role', 'instanceProfile']",
            ),
            (
                GETTING_STARTED_NODECLASS,
                "  role:",
                "  instanceProfile: x\n  role:",
                "exactly one of ['role', 'instanceProfile']",
            ),
            (
                GETTING_STARTED_NODECLASS,
                "  role:",
                "  amiFamily: Bottlerocket\n  role:",
                "amiFamily must be 'AL2023' or 'Custom'",
            ),
            (
                GETTING_STARTED_NODECLASS,
                "al2023@latest",
                "windows2022@2024",
                "windows families may only specify version 'latest'",
            ),
            (
                GETTING_STARTED_NODECLASS,
                "al2023@latest",
                "ubuntu@latest",
                "must match 'family@version'",
            ),
            (
                GETTING_STARTED_NODECLASS,
                "    - alias: \"al2023@latest\"\n",
                "    - alias: \"al2023@latest\"\n    - id: ami-123\n",
                "'alias' is mutually exclusive",
            ),
            (
                KUBELET_NODECLASS,
                "  amiFamily: AL2023\n",
                "",
                "must specify amiFamily if amiSelectorTerms does not contain an alias",
            ),
            (
                KUBELET_NODECLASS,
                "imageGCLowThresholdPercent: 80",
                "imageGCLowThresholdPercent: 85",
                "imageGCHighThresholdPercent must be greater",
            ),
            (
                KUBELET_NODECLASS,
                "    evictionSoftGracePeriod: {memory.available: 1m30s}\n",
                "",
                "does not have a matching evictionSoftGracePeriod",
            ),
            (
                KUBELET_NODECLASS,
                "ephemeral-storage: 3Gi",
                "gpu: 1",
                "valid keys for kubeReserved",
            ),
            (
                KUBELET_NODECLASS,
                "cpu: 100m, memory: 100Mi",
                "cpu: -100m, memory: 100Mi",
                "systemReserved value cannot be a negative",
            ),
            (
                KUBELET_NODECLASS,
                "nodefs.inodesFree: 7.5%",
                "disk.available: 7.5%",
                "valid keys for evictionHard",
            ),
            (
                KUBELET_NODECLASS,
                "  networkInterfaces:\n",
                "    - deviceName: /dev/xvdb\n      rootVolume: true\n      ebs: {volumeSize: 20Gi}\n  networkInterfaces:\n",
                "only one blockDeviceMappings with rootVolume",
            ),
            (
                KUBELET_NODECLASS,
                "volumeSize: 100Gi",
                "volumeSize: 100Ti",
                "between 1Gi and 64T",
            ),
            (
                KUBELET_NODECLASS,
                "  networkInterfaces:\n",
                "    - deviceName: /dev/xvdc\n      ebs: {volumeType: gp2}\n  networkInterfaces:\n",
                "snapshotID or volumeSize must be defined",
            ),
            (
                KUBELET_NODECLASS,
                "    - {networkCardIndex: 0, deviceIndex: 0, interfaceType: interface}\n",
                "",
                "must include a primary interface",
            ),
            (
                KUBELET_NODECLASS,
                "deviceIndex: 1, interfaceType: efa-only",
                "deviceIndex: 0, interfaceType: efa-only",
                "duplicate networkCardIndex and deviceIndex",
            ),
            (
                KUBELET_NODECLASS,
                "httpPutResponseHopLimit: 2",
                "httpPutResponseHopLimit: 65",
                "between 1 and 64",
            ),
            (
                KUBELET_NODECLASS,
                "placementGroupSelector: {name: analytics}",
                "placementGroupSelector: {name: analytics, id: pg-1}",
                "'name' and 'id' are mutually exclusive",
            ),
            (
                KUBELET_NODECLASS,
                "    team: platform",
                "    kubernetes.io/cluster/demo: owned",
                "restricted tag matching kubernetes.io/cluster/",
            ),
            (
                KUBELET_NODECLASS,
                "  securityGroupSelectorTerms:\n    - name: eks-cluster-sg\n",
                "  securityGroupSelectorTerms: []\n",
                "securityGroupSelectorTerms must have between 1 and 30 terms",
            ),
            (
                KUBELET_NODECLASS,
                "    - id: subnet-0aaa\n    - tags: {Tier: private}\n",
                "    - {}\n",
                "expected at least one, got none, ['tags', 'id']",
            ),
            (
                KUBELET_NODECLASS,
                "- tags: {Tier: private}",
                "- tags: {Tier: \"\"}",
                "empty tag keys or values",
            ),
            (
                KUBELET_NODECLASS,
                "- id: ami-0123456789abcdef0",
                "- id: img-1",
                "must look like ami-",
            ),
            (
                KUBELET_NODECLASS,
                "owner: \"123456789012\"",
                "id: ami-0123",
                "'id' is mutually exclusive",
            ),
        ];
        for (base, from, to, expect) in cases {
            let nc = nodeclass(&with(base, from, to));
            let err = match nc.validate() {
                Ok(()) => panic!("{to:?} passed validation"),
                Err(e) => e,
            };
            assert!(err.to_string().contains(expect), "{to:?}: {err}");
            assert!(err.to_string().starts_with("EC2NodeClass \""), "{err}");
        }
    }

    #[test]
    fn api_error_names_object_and_every_field() {
        let np = nodepool(&with(
            &with(FULL_NODEPOOL, "weight: 50", "weight: 0"),
            "nodes: \"20%\"",
            "nodes: \"abc\"",
        ));
        let err = np.validate().unwrap_err();
        assert_eq!(err.violations.len(), 2);
        let text = err.to_string();
        assert!(text.starts_with("NodePool \"gpu\" is invalid: spec.weight: must be between 1 and 100, found 0; spec.disruption.budgets[0].nodes:"), "{text}");
        let np = nodepool(&with(
            GETTING_STARTED_NODEPOOL,
            "kind: NodePool",
            "kind: NodePools",
        ));
        assert_eq!(
            violations(np.validate().unwrap_err()),
            ["kind: expected NodePool, found \"NodePools\""]
        );
    }

    #[test]
    fn crd_duration_patterns() {
        for ok in ["0", "0s", "30s", "1m", "720h", "1h30m", "1h0m0s", "90s"] {
            assert!(is_crd_duration(ok), "{ok}");
        }
        for bad in ["", "1.5h", "500ms", "1d", "h", "1h30", "-1s"] {
            assert!(!is_crd_duration(bad), "{bad}");
        }
        for ok in ["8h", "30m", "1h30m", "8h0s", "1h30m0s", "0m"] {
            assert!(is_budget_duration_text(ok), "{ok}");
        }
        for bad in ["30s", "10s", "0s", "1h30m10s", "h", "1.5h"] {
            assert!(!is_budget_duration_text(bad), "{bad}");
        }
    }

    #[test]
    fn eviction_threshold_percentages() {
        let p = |s: &str| s.parse::<EvictionThreshold>();
        assert_eq!(p("10%"), Ok(EvictionThreshold::PercentHundredths(1000)));
        assert_eq!(p("7.5%"), Ok(EvictionThreshold::PercentHundredths(750)));
        assert_eq!(p("0.25%"), Ok(EvictionThreshold::PercentHundredths(25)));
        assert_eq!(p("100%"), Ok(EvictionThreshold::PercentHundredths(10_000)));
        for bad in ["101%", "5.555%", "%", "5.%", "a%", "1000%"] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert!(matches!(p("100Mi"), Ok(EvictionThreshold::Quantity(_))));
    }
}
