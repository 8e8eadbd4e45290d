//! `karpenter.sh/v1` NodePool: fields, CRD defaults and validation (karpenter: pkg/apis/v1/nodepool.go, nodepool_validation.go).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use asim_core::k8s::duration::{Duration, NillableDuration};
use asim_core::k8s::quantity::Quantity;
use asim_core::k8s::requirements::{
    NodeSelectorOperator, NodeSelectorRequirementWithMinValues, RequirementError, Requirements,
    normalized_label_key, validate_label_key, validate_label_value,
};
use asim_core::k8s::taints::Taint;

use super::*;

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

pub(super) fn default_expire_after() -> NillableDuration {
    NillableDuration::After(DEFAULT_EXPIRE_AFTER_MS)
}

pub(super) fn default_consolidate_after() -> NillableDuration {
    NillableDuration::After(0)
}

pub(super) fn default_budget_nodes() -> String {
    DEFAULT_BUDGET_NODES.to_string()
}

pub(super) fn default_budgets() -> Vec<Budget> {
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

pub(super) fn parse_budget_nodes(s: &str) -> Option<BudgetNodes> {
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

pub(super) const CRON_MACROS: &[&str] = &[
    "@annually",
    "@yearly",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

pub(super) fn is_budget_schedule(s: &str) -> bool {
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

pub(super) fn validate_template(c: &mut Checker, template: &NodeClaimTemplate) {
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

pub(super) fn validate_requirement(
    c: &mut Checker,
    field: &str,
    r: &NodeSelectorRequirementWithMinValues,
) {
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

pub(super) fn validate_disruption(c: &mut Checker, d: &Disruption) {
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
