//! Node-selector requirements with Karpenter's set semantics (docs/model/karpenter.md §1.4, §1.7,
//! §7; behaviour read from kubernetes-sigs/karpenter `pkg/scheduling/requirement.go` and
//! `requirements.go`).
//!
//! A [`Requirement`] is, for one label key, either a finite set of allowed values (`In`;
//! the empty set is `DoesNotExist`) or the complement of a finite set (`NotIn`; the complement
//! of nothing is `Exists`), plus optional inclusive integer bounds (`Gt N` is stored as `≥ N+1`,
//! `Lt N` as `≤ N−1`, `Gte`/`Lte` as given) and an optional `minValues`. Bounds only ever sit on
//! complement sets: intersecting with a finite set filters the values by the bounds and drops
//! them. A value outside the bounds, or not an integer while bounds exist, is not allowed.
//!
//! [`Requirements`] maps keys to requirements; adding requirements intersects them per key.
//! Karpenter's algebra is deliberately loose in two places, reproduced here:
//! * two complement sets always intersect (unless their bounds are disjoint), even if in truth
//!   only excluded values lie within the bounds;
//! * `DoesNotExist` is the empty finite set, so "label absent" and "no value possible" are the
//!   same thing.
//!
//! [`Requirements::matches_labels`] answers the plain Kubernetes question instead (does this
//! concrete node satisfy the nodeAffinity / nodeSelector), exactly, for the kube-scheduler binder.
//!
//! Label keys are normalised as Karpenter does (`beta.kubernetes.io/arch` →
//! `kubernetes.io/arch`, …; see [`normalized_label_key`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use k8s_openapi::api::core::v1 as corev1;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Karpenter's `minValues` upper bound (CRD `Maximum:=50`).
pub const MAX_MIN_VALUES: u32 = 50;

/// The operators of a node-selector requirement, including Karpenter v1's `Gte` / `Lte`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeSelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
    Gte,
    Lte,
}

impl NodeSelectorOperator {
    pub const ALL: [NodeSelectorOperator; 8] = [
        NodeSelectorOperator::In,
        NodeSelectorOperator::NotIn,
        NodeSelectorOperator::Exists,
        NodeSelectorOperator::DoesNotExist,
        NodeSelectorOperator::Gt,
        NodeSelectorOperator::Lt,
        NodeSelectorOperator::Gte,
        NodeSelectorOperator::Lte,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NodeSelectorOperator::In => "In",
            NodeSelectorOperator::NotIn => "NotIn",
            NodeSelectorOperator::Exists => "Exists",
            NodeSelectorOperator::DoesNotExist => "DoesNotExist",
            NodeSelectorOperator::Gt => "Gt",
            NodeSelectorOperator::Lt => "Lt",
            NodeSelectorOperator::Gte => "Gte",
            NodeSelectorOperator::Lte => "Lte",
        }
    }

    /// Operators that compare the label as an integer.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            NodeSelectorOperator::Gt
                | NodeSelectorOperator::Lt
                | NodeSelectorOperator::Gte
                | NodeSelectorOperator::Lte
        )
    }
}

impl fmt::Display for NodeSelectorOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NodeSelectorOperator {
    type Err = RequirementError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NodeSelectorOperator::ALL
            .into_iter()
            .find(|op| op.as_str() == s)
            .ok_or_else(|| RequirementError::UnknownOperator {
                found: s.to_string(),
            })
    }
}

impl<'de> Deserialize<'de> for NodeSelectorOperator {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for NodeSelectorOperator {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Invalid requirements, operators, label keys or values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequirementError {
    #[error(
        "unknown operator {found:?} (expected In, NotIn, Exists, DoesNotExist, Gt, Lt, Gte, Lte)"
    )]
    UnknownOperator { found: String },
    #[error("requirement on key {key:?}: operator In needs at least one value")]
    InWithoutValues { key: String },
    #[error("requirement on key {key:?}: operator {operator} takes no values, found {values:?}")]
    UnexpectedValues {
        key: String,
        operator: NodeSelectorOperator,
        values: Vec<String>,
    },
    #[error(
        "requirement on key {key:?}: operator {operator} needs exactly one integer value, found {values:?}"
    )]
    NotOneInteger {
        key: String,
        operator: NodeSelectorOperator,
        values: Vec<String>,
    },
    #[error(
        "requirement on key {key:?}: minValues must be between 1 and {MAX_MIN_VALUES}, found {min_values}"
    )]
    MinValuesOutOfRange { key: String, min_values: u32 },
    #[error(
        "requirement on key {key:?}: minValues is {min_values} but operator In lists only {count} value(s)"
    )]
    MinValuesAboveValueCount {
        key: String,
        min_values: u32,
        count: usize,
    },
    #[error("node selector term uses matchFields ({fields:?}), which Karpenter does not support")]
    MatchFieldsUnsupported { fields: Vec<String> },
    #[error("invalid label key {key:?}: {reason}")]
    InvalidLabelKey { key: String, reason: String },
    #[error("invalid value {value:?} for label {key:?}: {reason}")]
    InvalidLabelValue {
        key: String,
        value: String,
        reason: String,
    },
}

/// Why two sets of requirements are not compatible (Karpenter's `Compatible` / `Intersects`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncompatibleError {
    /// The incoming side requires a value for a key the other side does not define.
    #[error("label {key:?} does not have known values{hint}")]
    UndefinedKey { key: String, hint: String },
    /// Both sides define the key and no value satisfies both.
    #[error("key {key}, {incoming} not in {existing}")]
    NoIntersection {
        key: String,
        incoming: String,
        existing: String,
    },
}

/// One requirement as written in a NodePool / NodeClaim (`karpenter.sh/v1`
/// `NodeSelectorRequirementWithMinValues`); also the shape of a core `NodeSelectorRequirement`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorRequirementWithMinValues {
    pub key: String,
    pub operator: NodeSelectorOperator,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_values: Option<u32>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(deserializer)?.unwrap_or_default())
}

impl NodeSelectorRequirementWithMinValues {
    /// Values consistent with the operator: `In` has at least one value; `Exists` /
    /// `DoesNotExist` none; `Gt`/`Lt`/`Gte`/`Lte` exactly one integer. `minValues`, when set, is
    /// 1–50 and, with `In`, at most the number of values (Karpenter's CRD rules). `NotIn` may be
    /// empty, as Karpenter's CRD allows (it then means `Exists`).
    pub fn validate(&self) -> Result<(), RequirementError> {
        check_values(&self.key, self.operator, &self.values)?;
        if let Some(min_values) = self.min_values {
            if !(1..=MAX_MIN_VALUES).contains(&min_values) {
                return Err(RequirementError::MinValuesOutOfRange {
                    key: self.key.clone(),
                    min_values,
                });
            }
            if self.operator == NodeSelectorOperator::In && self.values.len() < min_values as usize
            {
                return Err(RequirementError::MinValuesAboveValueCount {
                    key: self.key.clone(),
                    min_values,
                    count: self.values.len(),
                });
            }
        }
        Ok(())
    }
}

fn check_values(
    key: &str,
    operator: NodeSelectorOperator,
    values: &[String],
) -> Result<Option<i64>, RequirementError> {
    match operator {
        NodeSelectorOperator::In if values.is_empty() => Err(RequirementError::InWithoutValues {
            key: key.to_string(),
        }),
        NodeSelectorOperator::Exists | NodeSelectorOperator::DoesNotExist if !values.is_empty() => {
            Err(RequirementError::UnexpectedValues {
                key: key.to_string(),
                operator,
                values: values.to_vec(),
            })
        }
        op if op.is_numeric() => match values {
            [one] => one
                .parse::<i64>()
                .map(Some)
                .map_err(|_| RequirementError::NotOneInteger {
                    key: key.to_string(),
                    operator,
                    values: values.to_vec(),
                }),
            _ => Err(RequirementError::NotOneInteger {
                key: key.to_string(),
                operator,
                values: values.to_vec(),
            }),
        },
        _ => Ok(None),
    }
}

/// Deprecated label keys Karpenter translates to their stable names (`v1.NormalizedLabels`);
/// the kubelet still sets each next to its stable key.
pub const NORMALIZED_LABELS: [(&str, &str); 5] = [
    (
        "failure-domain.beta.kubernetes.io/zone",
        "topology.kubernetes.io/zone",
    ),
    ("beta.kubernetes.io/arch", "kubernetes.io/arch"),
    ("beta.kubernetes.io/os", "kubernetes.io/os"),
    (
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
    ),
    (
        "failure-domain.beta.kubernetes.io/region",
        "topology.kubernetes.io/region",
    ),
];

/// The stable name of a label key (`beta.kubernetes.io/arch` → `kubernetes.io/arch`).
pub fn normalized_label_key(key: &str) -> &str {
    NORMALIZED_LABELS
        .iter()
        .find(|(old, _)| *old == key)
        .map_or(key, |(_, new)| new)
}

/// The requirement on one label key (module docs for the representation).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    complement: bool,
    values: BTreeSet<String>,
    gte: Option<i64>,
    lte: Option<i64>,
    min_values: Option<u32>,
    /// Plain Kubernetes semantics only: the label must be present (true for In, Exists, Gt, Lt,
    /// Gte, Lte and anything intersected with them). Karpenter's algebra ignores it;
    /// [`Requirement::matches_label`] uses it so that e.g. `NotIn [a]` ∧ `Exists` rejects a node
    /// without the label although Karpenter collapses the pair to `NotIn [a]`.
    must_exist: bool,
}

impl Requirement {
    /// A requirement from an operator and its values (checked as in
    /// [`NodeSelectorRequirementWithMinValues::validate`], minus minValues). The key is normalised.
    pub fn new(
        key: &str,
        operator: NodeSelectorOperator,
        values: &[String],
    ) -> Result<Requirement, RequirementError> {
        let number = check_values(key, operator, values)?;
        let key = normalized_label_key(key);
        let bound = number.unwrap_or(0);
        Ok(match operator {
            NodeSelectorOperator::In => Requirement::in_values(key, values.iter().cloned()),
            NodeSelectorOperator::NotIn => Requirement::not_in(key, values.iter().cloned()),
            NodeSelectorOperator::Exists => Requirement::exists(key),
            NodeSelectorOperator::DoesNotExist => Requirement::does_not_exist(key),
            NodeSelectorOperator::Gt => Requirement::greater_than(key, bound),
            NodeSelectorOperator::Lt => Requirement::less_than(key, bound),
            NodeSelectorOperator::Gte => Requirement::at_least(key, bound),
            NodeSelectorOperator::Lte => Requirement::at_most(key, bound),
        })
    }

    /// From a NodePool requirement (validated, including minValues).
    pub fn from_node_selector_requirement(
        r: &NodeSelectorRequirementWithMinValues,
    ) -> Result<Requirement, RequirementError> {
        r.validate()?;
        Ok(Requirement::new(&r.key, r.operator, &r.values)?.with_min_values(r.min_values))
    }

    /// From a core `NodeSelectorRequirement` (pod node affinity), whose operator is a string.
    pub fn from_k8s(r: &corev1::NodeSelectorRequirement) -> Result<Requirement, RequirementError> {
        let operator: NodeSelectorOperator = r.operator.parse()?;
        Requirement::new(&r.key, operator, r.values.as_deref().unwrap_or_default())
    }

    fn base(key: &str, complement: bool, values: BTreeSet<String>, must_exist: bool) -> Self {
        Requirement {
            key: normalized_label_key(key).to_string(),
            complement,
            values,
            gte: None,
            lte: None,
            min_values: None,
            must_exist,
        }
    }

    /// `key In [values]` (no values: nothing matches).
    pub fn in_values<I, S>(key: &str, values: I) -> Requirement
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Requirement::base(
            key,
            false,
            values.into_iter().map(Into::into).collect(),
            true,
        )
    }

    /// `key NotIn [values]`: absent, or present with another value.
    pub fn not_in<I, S>(key: &str, values: I) -> Requirement
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Requirement::base(
            key,
            true,
            values.into_iter().map(Into::into).collect(),
            false,
        )
    }

    pub fn exists(key: &str) -> Requirement {
        Requirement::base(key, true, BTreeSet::new(), true)
    }

    pub fn does_not_exist(key: &str) -> Requirement {
        Requirement::base(key, false, BTreeSet::new(), false)
    }

    /// `key Gt n` (stored as `≥ n+1`; `Gt i64::MAX` matches nothing).
    pub fn greater_than(key: &str, n: i64) -> Requirement {
        match n.checked_add(1) {
            Some(min) => Requirement::at_least(key, min),
            None => Requirement::nothing(key),
        }
    }

    /// `key Lt n` (stored as `≤ n−1`; `Lt i64::MIN` matches nothing).
    pub fn less_than(key: &str, n: i64) -> Requirement {
        match n.checked_sub(1) {
            Some(max) => Requirement::at_most(key, max),
            None => Requirement::nothing(key),
        }
    }

    /// `key Gte n`.
    pub fn at_least(key: &str, n: i64) -> Requirement {
        Requirement {
            gte: Some(n),
            ..Requirement::exists(key)
        }
    }

    /// `key Lte n`.
    pub fn at_most(key: &str, n: i64) -> Requirement {
        Requirement {
            lte: Some(n),
            ..Requirement::exists(key)
        }
    }

    /// Karpenter represents an impossible numeric bound as `DoesNotExist`; for plain Kubernetes
    /// matching it still needs the label, so nothing matches.
    fn nothing(key: &str) -> Requirement {
        Requirement {
            must_exist: true,
            ..Requirement::does_not_exist(key)
        }
    }

    pub fn with_min_values(mut self, min_values: Option<u32>) -> Requirement {
        self.min_values = min_values;
        self
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator Karpenter derives from the set: `In` (finite, non-empty), `DoesNotExist`
    /// (finite, empty), `NotIn` (complement of a non-empty set) or `Exists` (complement of
    /// nothing, possibly with integer bounds).
    pub fn operator(&self) -> NodeSelectorOperator {
        match (self.complement, self.values.is_empty()) {
            (true, true) => NodeSelectorOperator::Exists,
            (true, false) => NodeSelectorOperator::NotIn,
            (false, false) => NodeSelectorOperator::In,
            (false, true) => NodeSelectorOperator::DoesNotExist,
        }
    }

    /// True for `NotIn` / `Exists` sets (all values except `values()`).
    pub fn is_complement(&self) -> bool {
        self.complement
    }

    /// The allowed values (finite set) or the excluded values (complement set).
    pub fn values(&self) -> &BTreeSet<String> {
        &self.values
    }

    /// Inclusive lower integer bound.
    pub fn gte(&self) -> Option<i64> {
        self.gte
    }

    /// Inclusive upper integer bound.
    pub fn lte(&self) -> Option<i64> {
        self.lte
    }

    pub fn min_values(&self) -> Option<u32> {
        self.min_values
    }

    /// Number of allowed values if finite (`None` for complement sets).
    pub fn finite_len(&self) -> Option<usize> {
        (!self.complement).then_some(self.values.len())
    }

    /// Whether `value` is allowed (Karpenter's `Has`).
    pub fn has(&self, value: &str) -> bool {
        self.complement != self.values.contains(value) && within_bounds(value, self.gte, self.lte)
    }

    /// Plain Kubernetes matching of one node label (`None` = the node lacks the label).
    pub fn matches_label(&self, value: Option<&str>) -> bool {
        match value {
            None => !self.must_exist,
            Some(v) => self.has(v),
        }
    }

    /// Karpenter's `Intersection`: values allowed by both; `minValues` is the larger one.
    pub fn intersection(&self, other: &Requirement) -> Requirement {
        let complement = self.complement && other.complement;
        let gte = max_opt(self.gte, other.gte);
        let mut lte = min_opt(self.lte, other.lte);
        let min_values = max_opt(self.min_values, other.min_values);
        let must_exist = self.must_exist || other.must_exist;
        if let (Some(lo), Some(hi)) = (gte, lte)
            && lo > hi
        {
            return Requirement {
                must_exist,
                min_values,
                ..Requirement::does_not_exist(&self.key)
            };
        }
        let values: BTreeSet<String> = match (self.complement, other.complement) {
            (true, true) => self.values.union(&other.values).cloned().collect(),
            (true, false) => other.values.difference(&self.values).cloned().collect(),
            (false, true) => self.values.difference(&other.values).cloned().collect(),
            (false, false) => self.values.intersection(&other.values).cloned().collect(),
        };
        let values = values
            .into_iter()
            .filter(|v| complement || within_bounds(v, gte, lte))
            .collect();
        let mut gte = gte;
        if !complement {
            // Finite sets carry no bounds: the values were filtered above.
            gte = None;
            lte = None;
        }
        Requirement {
            key: self.key.clone(),
            complement,
            values,
            gte,
            lte,
            min_values,
            must_exist,
        }
    }

    /// Whether `self ∧ other` differs from `other` (`self.intersection(other) != *other`),
    /// without building the intersection when both are finite sets: a scheduling solve asks
    /// this of every requirement a pod brings to a NodeClaim, and most change nothing.
    pub fn narrows(&self, other: &Requirement) -> bool {
        let finite = |r: &Requirement| !r.complement && r.gte.is_none() && r.lte.is_none();
        if finite(self) && finite(other) {
            // The values are `other`'s exactly when `self` allows each of them; the rest
            // follows the intersection's own rules.
            return !(other.values.iter().all(|v| self.values.contains(v))
                && max_opt(self.min_values, other.min_values) == other.min_values
                && (self.must_exist || other.must_exist) == other.must_exist);
        }
        self.intersection(other) != *other
    }

    /// Karpenter's `HasIntersection`: is some value allowed by both? Two complement sets always
    /// intersect unless their bounds are disjoint.
    pub fn has_intersection(&self, other: &Requirement) -> bool {
        let gte = max_opt(self.gte, other.gte);
        let lte = min_opt(self.lte, other.lte);
        if let (Some(lo), Some(hi)) = (gte, lte)
            && lo > hi
        {
            return false;
        }
        match (self.complement, other.complement) {
            (true, true) => true,
            (true, false) => other
                .values
                .iter()
                .any(|v| !self.values.contains(v) && within_bounds(v, gte, lte)),
            (false, true) => self
                .values
                .iter()
                .any(|v| !other.values.contains(v) && within_bounds(v, gte, lte)),
            (false, false) => self
                .values
                .iter()
                .any(|v| other.values.contains(v) && within_bounds(v, gte, lte)),
        }
    }

    /// A deterministic allowed value: the smallest (string order) for a finite set; for a
    /// complement set the smallest integer within the bounds that is not excluded, starting from
    /// the lower bound or 0 (Karpenter picks a random integer there). `None` if nothing is allowed.
    pub fn any_value(&self) -> Option<String> {
        if !self.complement {
            return self.values.first().cloned();
        }
        let upper = self.lte.unwrap_or(i64::MAX);
        let start = self.gte.unwrap_or(0);
        let allowed = |n: i64| !self.values.contains(&n.to_string());
        if start <= upper {
            // At most |values| + 1 candidates are needed.
            (start..=upper).find(|&n| allowed(n)).map(|n| n.to_string())
        } else {
            // No lower bound and an upper bound below 0: search downwards.
            (i64::MIN..=upper)
                .rev()
                .find(|&n| allowed(n))
                .map(|n| n.to_string())
        }
    }

    /// The requirement written back as NodePool requirements (Karpenter's
    /// `NodeSelectorRequirement`): bounds become `Gte`/`Lte` (dropping excluded values, as
    /// Karpenter does), otherwise In / NotIn / Exists / DoesNotExist.
    pub fn to_node_selector_requirements(&self) -> Vec<NodeSelectorRequirementWithMinValues> {
        let make = |operator, values: Vec<String>| NodeSelectorRequirementWithMinValues {
            key: self.key.clone(),
            operator,
            values,
            min_values: self.min_values,
        };
        let mut out = Vec::new();
        if let Some(gte) = self.gte {
            out.push(make(NodeSelectorOperator::Gte, vec![gte.to_string()]));
        }
        if let Some(lte) = self.lte {
            out.push(make(NodeSelectorOperator::Lte, vec![lte.to_string()]));
        }
        if out.is_empty() {
            let op = self.operator();
            let values = match op {
                NodeSelectorOperator::In | NodeSelectorOperator::NotIn => {
                    self.values.iter().cloned().collect()
                }
                _ => Vec::new(),
            };
            out.push(make(op, values));
        }
        out
    }
}

/// `key Op [v1 v2 …]`, at most five values shown, then bounds and minValues (Karpenter's
/// `String`).
impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = self.operator();
        match op {
            NodeSelectorOperator::Exists | NodeSelectorOperator::DoesNotExist => {
                write!(f, "{} {}", self.key, op)?
            }
            _ => {
                let mut shown: Vec<String> = self.values.iter().take(5).cloned().collect();
                if self.values.len() > 5 {
                    shown.push(format!("and {} others", self.values.len() - 5));
                }
                write!(f, "{} {} [{}]", self.key, op, shown.join(" "))?
            }
        }
        if let Some(gte) = self.gte {
            write!(f, " >={gte}")?;
        }
        if let Some(lte) = self.lte {
            write!(f, " <={lte}")?;
        }
        if let Some(min_values) = self.min_values {
            write!(f, " minValues {min_values}")?;
        }
        Ok(())
    }
}

fn within_bounds(value: &str, gte: Option<i64>, lte: Option<i64>) -> bool {
    if gte.is_none() && lte.is_none() {
        return true;
    }
    // With bounds, a non-integer value is not allowed.
    let Ok(n) = value.parse::<i64>() else {
        return false;
    };
    gte.is_none_or(|lo| n >= lo) && lte.is_none_or(|hi| n <= hi)
}

fn max_opt<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn min_opt<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Requirements keyed by (normalised) label key; adding intersects per key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requirements {
    by_key: BTreeMap<String, Requirement>,
}

impl Requirements {
    pub fn new() -> Requirements {
        Requirements::default()
    }

    /// From NodePool / NodeClaim requirements (each validated, minValues kept).
    pub fn from_node_selector_requirements(
        reqs: &[NodeSelectorRequirementWithMinValues],
    ) -> Result<Requirements, RequirementError> {
        let mut out = Requirements::new();
        for r in reqs {
            out.add_requirement(Requirement::from_node_selector_requirement(r)?);
        }
        Ok(out)
    }

    /// From core `NodeSelectorRequirement`s (the `matchExpressions` of one term).
    pub fn from_k8s_requirements(
        reqs: &[corev1::NodeSelectorRequirement],
    ) -> Result<Requirements, RequirementError> {
        let mut out = Requirements::new();
        for r in reqs {
            out.add_requirement(Requirement::from_k8s(r)?);
        }
        Ok(out)
    }

    /// From one node-selector term (its expressions are ANDed). Karpenter rejects pods whose
    /// terms use `matchFields`; so does this.
    pub fn from_node_selector_term(
        term: &corev1::NodeSelectorTerm,
    ) -> Result<Requirements, RequirementError> {
        if let Some(fields) = term.match_fields.as_ref().filter(|f| !f.is_empty()) {
            return Err(RequirementError::MatchFieldsUnsupported {
                fields: fields.iter().map(|f| f.key.clone()).collect(),
            });
        }
        Requirements::from_k8s_requirements(term.match_expressions.as_deref().unwrap_or_default())
    }

    /// `key In [value]` for each label (a nodeSelector, or a NodePool's template labels).
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Requirements {
        let mut out = Requirements::new();
        for (key, value) in labels {
            out.add_requirement(Requirement::in_values(key, [value.as_str()]));
        }
        out
    }

    /// Intersects `r` into the requirement already held for its key, if any.
    pub fn add_requirement(&mut self, r: Requirement) {
        let merged = match self.by_key.get(&r.key) {
            Some(existing) => r.intersection(existing),
            None => r,
        };
        self.by_key.insert(merged.key.clone(), merged);
    }

    /// Intersects every requirement of `other` into these (Karpenter's `Add`).
    pub fn add(&mut self, other: &Requirements) {
        for r in other.by_key.values() {
            self.add_requirement(r.clone());
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Requirement> {
        self.by_key.remove(normalized_label_key(key))
    }

    pub fn has(&self, key: &str) -> bool {
        self.by_key.contains_key(normalized_label_key(key))
    }

    pub fn get(&self, key: &str) -> Option<&Requirement> {
        self.by_key.get(normalized_label_key(key))
    }

    /// The requirement for `key`, or `Exists` if undefined (Karpenter's `Get`).
    pub fn get_or_exists(&self, key: &str) -> Requirement {
        self.get(key)
            .cloned()
            .unwrap_or_else(|| Requirement::exists(key))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.by_key.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Requirement> {
        self.by_key.values()
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn has_min_values(&self) -> bool {
        self.by_key.values().any(|r| r.min_values.is_some())
    }

    /// Karpenter's `Compatible` with no undefined keys allowed; see
    /// [`Requirements::compatible_allowing_undefined`].
    pub fn compatible(&self, incoming: &Requirements) -> Result<(), IncompatibleError> {
        self.compatible_allowing_undefined(incoming, &[])
    }

    /// Can `incoming` (e.g. a pod's requirements) loosely be met by `self` (e.g. a NodePool /
    /// NodeClaim template)? Karpenter's `Compatible`, checked in key order:
    /// 1. every key of `incoming` that is not in `allow_undefined` must be defined by `self`,
    ///    unless `incoming` only forbids values for it (its operator is `NotIn` or
    ///    `DoesNotExist`): a custom label the node will not carry can't satisfy `In`/`Exists`/
    ///    `Gt`… (Karpenter passes its well-known labels as `allow_undefined` when scheduling);
    /// 2. then [`Requirements::intersects`]: keys defined on both sides must intersect.
    ///
    /// The first failure is returned; an undefined key's error carries Karpenter's typo hint.
    pub fn compatible_allowing_undefined(
        &self,
        incoming: &Requirements,
        allow_undefined: &[&str],
    ) -> Result<(), IncompatibleError> {
        for (key, r) in &incoming.by_key {
            if allow_undefined.contains(&key.as_str()) || self.by_key.contains_key(key) {
                continue;
            }
            if matches!(
                r.operator(),
                NodeSelectorOperator::NotIn | NodeSelectorOperator::DoesNotExist
            ) {
                continue;
            }
            return Err(IncompatibleError::UndefinedKey {
                key: key.clone(),
                hint: self.label_hint(key, allow_undefined),
            });
        }
        self.intersects(incoming)
    }

    /// Whether [`Requirements::compatible_allowing_undefined`] succeeds, without building the
    /// error: the hot path of trying a pod against many planned NodeClaims.
    pub fn is_compatible_allowing_undefined(
        &self,
        incoming: &Requirements,
        allow_undefined: &[&str],
    ) -> bool {
        incoming.by_key.iter().all(|(key, r)| {
            allow_undefined.contains(&key.as_str())
                || self.by_key.contains_key(key)
                || matches!(
                    r.operator(),
                    NodeSelectorOperator::NotIn | NodeSelectorOperator::DoesNotExist
                )
        }) && self.intersects_ok(incoming)
    }

    /// Karpenter's `Intersects`: for every key defined on both sides, some value must satisfy
    /// both — except that two requirements which both only forbid values (`NotIn` /
    /// `DoesNotExist`, e.g. `DoesNotExist` vs `DoesNotExist`) never conflict. Keys defined on
    /// one side only are allowed. The first failing key (in key order) is returned.
    pub fn intersects(&self, incoming: &Requirements) -> Result<(), IncompatibleError> {
        let negative = |op| {
            matches!(
                op,
                NodeSelectorOperator::NotIn | NodeSelectorOperator::DoesNotExist
            )
        };
        for (key, existing) in &self.by_key {
            let Some(inc) = incoming.by_key.get(key) else {
                continue;
            };
            if existing.has_intersection(inc)
                || (negative(inc.operator()) && negative(existing.operator()))
            {
                continue;
            }
            return Err(IncompatibleError::NoIntersection {
                key: key.clone(),
                incoming: inc.to_string(),
                existing: existing.to_string(),
            });
        }
        Ok(())
    }

    /// [`Requirements::intersects`] without building an error: the hot path of instance-type
    /// filtering.
    pub fn intersects_ok(&self, incoming: &Requirements) -> bool {
        let negative = |op| {
            matches!(
                op,
                NodeSelectorOperator::NotIn | NodeSelectorOperator::DoesNotExist
            )
        };
        // Iterate the smaller side.
        let (small, large) = if self.by_key.len() <= incoming.by_key.len() {
            (&self.by_key, &incoming.by_key)
        } else {
            (&incoming.by_key, &self.by_key)
        };
        small.iter().all(|(key, a)| match large.get(key) {
            None => true,
            Some(b) => a.has_intersection(b) || (negative(a.operator()) && negative(b.operator())),
        })
    }

    /// Whether [`Requirements::compatible`] succeeds.
    pub fn is_compatible(&self, incoming: &Requirements) -> bool {
        self.compatible(incoming).is_ok()
    }

    /// Karpenter's typo hint: a known key containing `key` or ending with its name part.
    fn label_hint(&self, key: &str, allow_undefined: &[&str]) -> String {
        let suffix = key.split_once('/').map_or(key, |(_, name)| name);
        let mut candidates: Vec<&str> = allow_undefined.to_vec();
        candidates.sort_unstable();
        candidates.extend(self.by_key.keys().map(String::as_str));
        candidates
            .into_iter()
            .find(|known| known.contains(key) || known.ends_with(suffix))
            .map(|known| format!(" (typo of {known:?}?)"))
            .unwrap_or_default()
    }

    /// The single-valued `In` requirements as labels (what a node launched for these
    /// requirements is certain to carry).
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.by_key
            .iter()
            .filter(|(_, r)| !r.complement && r.values.len() == 1)
            .filter_map(|(k, r)| r.values.first().map(|v| (k.clone(), v.clone())))
            .collect()
    }

    /// Does a concrete node with these labels satisfy all requirements? Plain Kubernetes
    /// nodeAffinity semantics (In/Exists/Gt/… need the label; NotIn/DoesNotExist accept its
    /// absence; Gt/Lt parse the label as an integer). A requirement on a normalised key also
    /// reads the node's deprecated alias labels (`beta.kubernetes.io/arch`, …).
    pub fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.by_key
            .iter()
            .all(|(key, r)| r.matches_label(label_value(labels, key)))
    }

    /// Back to NodePool-style requirements, in key order.
    pub fn to_node_selector_requirements(&self) -> Vec<NodeSelectorRequirementWithMinValues> {
        self.by_key
            .values()
            .flat_map(Requirement::to_node_selector_requirements)
            .collect()
    }
}

fn label_value<'a>(labels: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    labels.get(key).map(String::as_str).or_else(|| {
        NORMALIZED_LABELS
            .iter()
            .filter(|(_, new)| *new == key)
            .find_map(|(old, _)| labels.get(*old).map(String::as_str))
    })
}

impl FromIterator<Requirement> for Requirements {
    fn from_iter<T: IntoIterator<Item = Requirement>>(iter: T) -> Self {
        let mut out = Requirements::new();
        for r in iter {
            out.add_requirement(r);
        }
        out
    }
}

/// Sorted by key, comma-separated.
impl fmt::Display for Requirements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.by_key.values().map(ToString::to_string).collect();
        f.write_str(&parts.join(", "))
    }
}

/// Kubernetes `IsQualifiedName` for label keys: optional DNS-subdomain prefix (≤ 253) and `/`,
/// then a name of ≤ 63 alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
pub fn validate_label_key(key: &str) -> Result<(), RequirementError> {
    let err = |reason: &str| RequirementError::InvalidLabelKey {
        key: key.to_string(),
        reason: reason.to_string(),
    };
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err(err("prefix part must be non-empty"));
        }
        if prefix.len() > 253 {
            return Err(err("prefix part must be no more than 253 characters"));
        }
        if !is_dns_subdomain(prefix) {
            return Err(err(
                "prefix part must be a lowercase RFC 1123 subdomain (e.g. example.com)",
            ));
        }
    }
    if name.is_empty() {
        return Err(err("name part must be non-empty"));
    }
    if name.len() > 63 {
        return Err(err("name part must be no more than 63 characters"));
    }
    if !is_label_name(name) {
        return Err(err(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most one '/')",
        ));
    }
    Ok(())
}

/// Kubernetes `IsValidLabelValue`: empty, or ≤ 63 alphanumerics, `-`, `_`, `.`, starting and
/// ending alphanumeric.
pub fn validate_label_value(key: &str, value: &str) -> Result<(), RequirementError> {
    let err = |reason: &str| RequirementError::InvalidLabelValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    };
    if value.is_empty() {
        return Ok(());
    }
    if value.len() > 63 {
        return Err(err("must be no more than 63 characters"));
    }
    if !is_label_name(value) {
        return Err(err(
            "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        ));
    }
    Ok(())
}

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A lowercase RFC 1123 subdomain (≤ 253 characters): what Kubernetes requires of object names
/// and label-key prefixes.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            match (b.first(), b.last()) {
                (Some(first), Some(last)) => {
                    (first.is_ascii_lowercase() || first.is_ascii_digit())
                        && (last.is_ascii_lowercase() || last.is_ascii_digit())
                        && b.iter()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                }
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ZONE: &str = "topology.kubernetes.io/zone";

    fn req(op: NodeSelectorOperator, values: &[&str]) -> Requirement {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        Requirement::new("k", op, &values).unwrap()
    }

    fn reqs(list: &[(&str, NodeSelectorOperator, &[&str])]) -> Requirements {
        list.iter()
            .map(|(k, op, vals)| {
                let vals: Vec<String> = vals.iter().map(|v| v.to_string()).collect();
                Requirement::new(k, *op, &vals).unwrap()
            })
            .collect()
    }

    fn labels(list: &[(&str, &str)]) -> BTreeMap<String, String> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    use NodeSelectorOperator::*;

    #[test]
    fn operator_parses_all_and_rejects_unknown() {
        for op in NodeSelectorOperator::ALL {
            assert_eq!(op.as_str().parse::<NodeSelectorOperator>(), Ok(op));
        }
        assert_eq!(
            "Equals"
                .parse::<NodeSelectorOperator>()
                .unwrap_err()
                .to_string(),
            "unknown operator \"Equals\" (expected In, NotIn, Exists, DoesNotExist, Gt, Lt, Gte, Lte)"
        );
        let err = serde_saphyr::from_str::<NodeSelectorOperator>("Equals").unwrap_err();
        assert!(
            err.to_string().contains("unknown operator \"Equals\""),
            "{err}"
        );
    }

    #[test]
    fn requirement_struct_deserializes_camel_case_and_ignores_unknown_fields() {
        let r: NodeSelectorRequirementWithMinValues = serde_saphyr::from_str(
            "key: node.kubernetes.io/instance-type\noperator: In\nvalues: [a, b, c]\nminValues: 2\nextra: ignored\n",
        )
        .unwrap();
        assert_eq!(r.min_values, Some(2));
        assert_eq!(r.values, ["a", "b", "c"]);
        r.validate().unwrap();
        let r: NodeSelectorRequirementWithMinValues =
            serde_saphyr::from_str("key: k\noperator: Exists\n").unwrap();
        assert!(r.values.is_empty());
        let r: NodeSelectorRequirementWithMinValues =
            serde_saphyr::from_str("key: k\noperator: Exists\nvalues: null\n").unwrap();
        assert!(r.values.is_empty());
        assert!(
            serde_saphyr::from_str::<NodeSelectorRequirementWithMinValues>(
                "key: k\noperator: Equals\n"
            )
            .is_err()
        );
    }

    #[test]
    fn requirement_values_must_match_operator() {
        let v = |key: &str, operator, values: &[&str], min_values| {
            NodeSelectorRequirementWithMinValues {
                key: key.to_string(),
                operator,
                values: values.iter().map(|s| s.to_string()).collect(),
                min_values,
            }
            .validate()
        };
        assert!(matches!(
            v("k", In, &[], None),
            Err(RequirementError::InWithoutValues { .. })
        ));
        assert!(v("k", NotIn, &[], None).is_ok());
        assert!(matches!(
            v("k", Exists, &["a"], None),
            Err(RequirementError::UnexpectedValues { .. })
        ));
        assert!(matches!(
            v("k", DoesNotExist, &["a"], None),
            Err(RequirementError::UnexpectedValues { .. })
        ));
        for op in [Gt, Lt, Gte, Lte] {
            assert!(v("k", op, &["3"], None).is_ok());
            assert!(v("k", op, &["-3"], None).is_ok());
            assert!(matches!(
                v("k", op, &["x"], None),
                Err(RequirementError::NotOneInteger { .. })
            ));
            assert!(matches!(
                v("k", op, &["1", "2"], None),
                Err(RequirementError::NotOneInteger { .. })
            ));
            assert!(matches!(
                v("k", op, &[], None),
                Err(RequirementError::NotOneInteger { .. })
            ));
        }
        assert!(matches!(
            v("k", In, &["a"], Some(2)),
            Err(RequirementError::MinValuesAboveValueCount { .. })
        ));
        assert!(matches!(
            v("k", Exists, &[], Some(0)),
            Err(RequirementError::MinValuesOutOfRange { .. })
        ));
        assert!(matches!(
            v("k", Exists, &[], Some(51)),
            Err(RequirementError::MinValuesOutOfRange { .. })
        ));
        assert!(v("k", Exists, &[], Some(3)).is_ok());
        assert_eq!(
            v("zone", Gt, &["x"], None).unwrap_err().to_string(),
            "requirement on key \"zone\": operator Gt needs exactly one integer value, found [\"x\"]"
        );
    }

    #[test]
    fn derived_operator_for_each_constructor() {
        assert_eq!(req(In, &["a"]).operator(), In);
        assert_eq!(req(NotIn, &["a"]).operator(), NotIn);
        assert_eq!(req(Exists, &[]).operator(), Exists);
        assert_eq!(req(DoesNotExist, &[]).operator(), DoesNotExist);
        // Numeric operators are Exists with bounds.
        for op in [Gt, Lt, Gte, Lte] {
            assert_eq!(req(op, &["5"]).operator(), Exists);
        }
        assert_eq!(req(Gt, &["5"]).gte(), Some(6));
        assert_eq!(req(Lt, &["5"]).lte(), Some(4));
        assert_eq!(req(Gte, &["5"]).gte(), Some(5));
        assert_eq!(req(Lte, &["5"]).lte(), Some(5));
        assert_eq!(req(Gt, &[&i64::MAX.to_string()]).operator(), DoesNotExist);
        assert_eq!(req(Lt, &[&i64::MIN.to_string()]).operator(), DoesNotExist);
    }

    #[test]
    fn in_intersect_in_keeps_common_values() {
        let r = req(In, &["a", "b"]).intersection(&req(In, &["b", "c"]));
        assert_eq!(r.operator(), In);
        assert_eq!(r.values().iter().collect::<Vec<_>>(), ["b"]);
        let none = req(In, &["a"]).intersection(&req(In, &["c"]));
        assert_eq!(none.operator(), DoesNotExist);
        assert!(!req(In, &["a"]).has_intersection(&req(In, &["c"])));
    }

    #[test]
    fn in_intersect_not_in_removes_excluded_values() {
        let r = req(In, &["a", "b"]).intersection(&req(NotIn, &["a"]));
        assert_eq!(r.operator(), In);
        assert_eq!(r.values().iter().collect::<Vec<_>>(), ["b"]);
        // Order does not matter.
        assert_eq!(
            req(NotIn, &["a"])
                .intersection(&req(In, &["a", "b"]))
                .values(),
            r.values()
        );
        assert!(!req(In, &["a"]).has_intersection(&req(NotIn, &["a"])));
        assert!(req(In, &["a", "b"]).has_intersection(&req(NotIn, &["a"])));
    }

    #[test]
    fn not_in_intersect_not_in_unions_exclusions() {
        let r = req(NotIn, &["a"]).intersection(&req(NotIn, &["b"]));
        assert_eq!(r.operator(), NotIn);
        assert_eq!(r.values().len(), 2);
        assert!(req(NotIn, &["a"]).has_intersection(&req(NotIn, &["a"])));
    }

    #[test]
    fn exists_and_does_not_exist_interactions() {
        assert_eq!(
            req(Exists, &[]).intersection(&req(In, &["a"])).operator(),
            In
        );
        assert_eq!(
            req(Exists, &[])
                .intersection(&req(NotIn, &["a"]))
                .operator(),
            NotIn
        );
        assert_eq!(
            req(Exists, &[]).intersection(&req(Exists, &[])).operator(),
            Exists
        );
        assert_eq!(
            req(Exists, &[])
                .intersection(&req(DoesNotExist, &[]))
                .operator(),
            DoesNotExist
        );
        assert!(!req(Exists, &[]).has_intersection(&req(DoesNotExist, &[])));
        assert!(!req(DoesNotExist, &[]).has_intersection(&req(DoesNotExist, &[])));
        assert!(!req(In, &["a"]).has_intersection(&req(DoesNotExist, &[])));
        assert!(!req(NotIn, &["a"]).has_intersection(&req(DoesNotExist, &[])));
        assert!(req(Exists, &[]).has_intersection(&req(In, &["a"])));
    }

    #[test]
    fn gt_intersect_lt_empty_range_is_does_not_exist() {
        let r = req(Gt, &["5"]).intersection(&req(Lt, &["3"]));
        assert_eq!(r.operator(), DoesNotExist);
        assert!(!req(Gt, &["5"]).has_intersection(&req(Lt, &["3"])));
        // Gt 5 ∩ Lt 6: no integer, Karpenter's inclusive bounds 6 > 5.
        assert!(!req(Gt, &["5"]).has_intersection(&req(Lt, &["6"])));
        // Gte 5 ∩ Lte 5: exactly 5.
        let five = req(Gte, &["5"]).intersection(&req(Lte, &["5"]));
        assert_eq!((five.gte(), five.lte()), (Some(5), Some(5)));
        assert!(five.has("5") && !five.has("4") && !five.has("6"));
    }

    #[test]
    fn bounds_filter_finite_values_and_are_dropped() {
        let r = req(In, &["1", "3", "10", "x"]).intersection(&req(Gt, &["2"]));
        assert_eq!(r.operator(), In);
        assert_eq!(r.values().iter().collect::<Vec<_>>(), ["10", "3"]);
        assert_eq!((r.gte(), r.lte()), (None, None));
        assert!(req(In, &["3"]).has_intersection(&req(Gt, &["2"])));
        assert!(!req(In, &["x"]).has_intersection(&req(Gt, &["2"])));
        assert!(!req(In, &["2"]).has_intersection(&req(Gt, &["2"])));
        // Not-in with bounds keeps both.
        let nb = req(NotIn, &["4"]).intersection(&req(Gt, &["2"]));
        assert_eq!(nb.operator(), NotIn);
        assert_eq!(nb.gte(), Some(3));
        assert!(nb.has("3") && !nb.has("4") && !nb.has("2") && !nb.has("x"));
    }

    #[test]
    fn min_values_takes_the_larger() {
        let a = req(Exists, &[]).with_min_values(Some(2));
        let b = req(In, &["a", "b", "c"]).with_min_values(Some(3));
        assert_eq!(a.intersection(&b).min_values(), Some(3));
        assert_eq!(a.intersection(&req(Exists, &[])).min_values(), Some(2));
    }

    #[test]
    fn any_value_is_deterministic_smallest() {
        assert_eq!(req(In, &["c", "b"]).any_value().as_deref(), Some("b"));
        assert_eq!(req(DoesNotExist, &[]).any_value(), None);
        assert_eq!(req(Exists, &[]).any_value().as_deref(), Some("0"));
        assert_eq!(req(NotIn, &["0", "1"]).any_value().as_deref(), Some("2"));
        assert_eq!(req(Gt, &["4"]).any_value().as_deref(), Some("5"));
        assert_eq!(req(Lt, &["-3"]).any_value().as_deref(), Some("-4"));
        let only_excluded = req(Gte, &["1"])
            .intersection(&req(Lte, &["2"]))
            .intersection(&req(NotIn, &["1", "2"]));
        assert_eq!(only_excluded.any_value(), None);
    }

    #[test]
    fn keys_are_normalized() {
        let r =
            Requirements::from_labels(&labels(&[("failure-domain.beta.kubernetes.io/zone", "a")]));
        assert!(r.has(ZONE));
        assert!(r.has("failure-domain.beta.kubernetes.io/zone"));
        assert_eq!(r.keys().collect::<Vec<_>>(), [ZONE]);
        assert_eq!(
            normalized_label_key("beta.kubernetes.io/arch"),
            "kubernetes.io/arch"
        );
        assert_eq!(normalized_label_key("custom/x"), "custom/x");
    }

    #[test]
    fn add_intersects_per_key() {
        let mut a = reqs(&[(ZONE, In, &["a", "b"]), ("arch", In, &["amd64"])]);
        a.add(&reqs(&[(ZONE, NotIn, &["a"]), ("team", Exists, &[])]));
        assert_eq!(a.len(), 3);
        assert_eq!(
            a.get(ZONE).unwrap().values().iter().collect::<Vec<_>>(),
            ["b"]
        );
        assert_eq!(a.get("team").unwrap().operator(), Exists);
        assert_eq!(a.get_or_exists("missing").operator(), Exists);
        assert!(a.get("missing").is_none());
    }

    #[test]
    fn compatible_requires_intersection_on_shared_keys() {
        let pool = reqs(&[(ZONE, In, &["a", "b"])]);
        assert!(pool.compatible(&reqs(&[(ZONE, In, &["b", "c"])])).is_ok());
        let err = pool.compatible(&reqs(&[(ZONE, In, &["c"])])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "key topology.kubernetes.io/zone, topology.kubernetes.io/zone In [c] not in topology.kubernetes.io/zone In [a b]"
        );
    }

    #[test]
    fn compatible_undefined_key_rules() {
        let pool = reqs(&[(ZONE, In, &["a"])]);
        // Positive requirements on a key the pool does not define fail...
        for op in [In, Exists, Gt] {
            let vals: &[&str] = match op {
                In => &["x"],
                Gt => &["1"],
                _ => &[],
            };
            let pod = reqs(&[("team", op, vals)]);
            assert!(matches!(
                pool.compatible(&pod),
                Err(IncompatibleError::UndefinedKey { .. })
            ));
            // ... unless the key is allowed to be undefined (Karpenter's well-known labels).
            assert!(pool.compatible_allowing_undefined(&pod, &["team"]).is_ok());
        }
        // Negative ones pass.
        assert!(pool.compatible(&reqs(&[("team", NotIn, &["x"])])).is_ok());
        assert!(
            pool.compatible(&reqs(&[("team", DoesNotExist, &[])]))
                .is_ok()
        );
        // The pool may define keys the pod does not mention.
        assert!(pool.compatible(&Requirements::new()).is_ok());
    }

    #[test]
    fn compatible_hints_typos() {
        let pool = reqs(&[("karpenter.k8s.aws/instance-family", In, &["m5"])]);
        let err = pool
            .compatible(&reqs(&[("example.com/instance-family", In, &["m5"])]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "label \"example.com/instance-family\" does not have known values (typo of \"karpenter.k8s.aws/instance-family\"?)"
        );
    }

    #[test]
    fn compatible_exists_vs_does_not_exist() {
        let absent = reqs(&[("team", DoesNotExist, &[])]);
        let present = reqs(&[("team", Exists, &[])]);
        assert!(absent.compatible(&present).is_err());
        assert!(present.compatible(&absent).is_err());
        // Both forbidding: compatible although the sets do not intersect.
        assert!(absent.compatible(&absent).is_ok());
        assert!(reqs(&[("team", NotIn, &["a"])]).compatible(&absent).is_ok());
        assert!(absent.compatible(&reqs(&[("team", NotIn, &["a"])])).is_ok());
        // In vs DoesNotExist conflicts.
        assert!(reqs(&[("team", In, &["a"])]).compatible(&absent).is_err());
        assert!(absent.compatible(&reqs(&[("team", In, &["a"])])).is_err());
    }

    #[test]
    fn compatible_numeric_ranges() {
        let pool = reqs(&[("gen", Gt, &["2"])]);
        assert!(pool.compatible(&reqs(&[("gen", In, &["3"])])).is_ok());
        assert!(pool.compatible(&reqs(&[("gen", In, &["2"])])).is_err());
        assert!(pool.compatible(&reqs(&[("gen", Lt, &["3"])])).is_err());
        assert!(pool.compatible(&reqs(&[("gen", Lt, &["4"])])).is_ok());
    }

    #[test]
    fn labels_are_single_valued_in_requirements() {
        let r = reqs(&[
            (ZONE, In, &["a"]),
            ("arch", In, &["amd64", "arm64"]),
            ("team", Exists, &[]),
            ("gen", Gt, &["2"]),
        ]);
        assert_eq!(r.labels(), labels(&[(ZONE, "a")]));
    }

    #[test]
    fn matches_labels_uses_kubernetes_semantics() {
        let node = labels(&[(ZONE, "a"), ("gen", "5"), ("name", "x")]);
        assert!(reqs(&[(ZONE, In, &["a", "b"])]).matches_labels(&node));
        assert!(!reqs(&[(ZONE, In, &["b"])]).matches_labels(&node));
        assert!(reqs(&[("team", NotIn, &["a"])]).matches_labels(&node));
        assert!(!reqs(&[("name", NotIn, &["x"])]).matches_labels(&node));
        assert!(reqs(&[("team", DoesNotExist, &[])]).matches_labels(&node));
        assert!(!reqs(&[("team", Exists, &[])]).matches_labels(&node));
        assert!(reqs(&[("gen", Gt, &["4"])]).matches_labels(&node));
        assert!(!reqs(&[("gen", Gt, &["5"])]).matches_labels(&node));
        assert!(reqs(&[("gen", Lt, &["6"])]).matches_labels(&node));
        assert!(!reqs(&[("name", Gt, &["1"])]).matches_labels(&node));
        assert!(!reqs(&[("team", Lt, &["1"])]).matches_labels(&node));
        // NotIn ∧ Exists needs the label, although Karpenter's algebra collapses it to NotIn.
        assert!(!reqs(&[("team", NotIn, &["a"]), ("team", Exists, &[])]).matches_labels(&node));
        // A stable-key requirement matches a node that carries only the beta label.
        let beta = labels(&[("beta.kubernetes.io/arch", "amd64")]);
        assert!(reqs(&[("kubernetes.io/arch", In, &["amd64"])]).matches_labels(&beta));
    }

    #[test]
    fn from_node_selector_term_rejects_match_fields() {
        let term = corev1::NodeSelectorTerm {
            match_expressions: Some(vec![corev1::NodeSelectorRequirement {
                key: ZONE.to_string(),
                operator: "In".to_string(),
                values: Some(vec!["a".to_string()]),
            }]),
            match_fields: None,
        };
        let r = Requirements::from_node_selector_term(&term).unwrap();
        assert!(r.get(ZONE).unwrap().has("a"));
        let with_fields = corev1::NodeSelectorTerm {
            match_fields: Some(vec![corev1::NodeSelectorRequirement {
                key: "metadata.name".to_string(),
                operator: "In".to_string(),
                values: Some(vec!["n1".to_string()]),
            }]),
            ..term.clone()
        };
        assert!(matches!(
            Requirements::from_node_selector_term(&with_fields),
            Err(RequirementError::MatchFieldsUnsupported { .. })
        ));
        let bad_op = corev1::NodeSelectorTerm {
            match_expressions: Some(vec![corev1::NodeSelectorRequirement {
                key: ZONE.to_string(),
                operator: "Equals".to_string(),
                values: None,
            }]),
            match_fields: None,
        };
        assert!(matches!(
            Requirements::from_node_selector_term(&bad_op),
            Err(RequirementError::UnknownOperator { .. })
        ));
    }

    #[test]
    fn round_trips_to_node_selector_requirements() {
        let r = reqs(&[
            ("a", In, &["x", "y"]),
            ("b", NotIn, &["z"]),
            ("c", Exists, &[]),
            ("d", DoesNotExist, &[]),
            ("e", Gt, &["2"]),
            ("e", Lt, &["9"]),
        ]);
        let back =
            Requirements::from_node_selector_requirements(&r.to_node_selector_requirements())
                .unwrap();
        assert_eq!(back, r);
        let ops: Vec<_> = r
            .to_node_selector_requirements()
            .iter()
            .map(|x| x.operator)
            .collect();
        assert_eq!(ops, [In, NotIn, Exists, DoesNotExist, Gte, Lte]);
    }

    #[test]
    fn display_shows_five_values_then_count() {
        let r = req(In, &["1", "2", "3", "4", "5", "6", "7"]).with_min_values(Some(2));
        assert_eq!(r.to_string(), "k In [1 2 3 4 5 and 2 others] minValues 2");
        assert_eq!(req(Gt, &["2"]).to_string(), "k Exists >=3");
    }

    #[test]
    fn label_key_and_value_validation() {
        for ok in [
            "a",
            "kubernetes.io/arch",
            "karpenter.k8s.aws/instance-family",
            "A_b.c-1",
        ] {
            assert!(validate_label_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a/b/c",
            "Example.com/a",
            "-a",
            "a-",
            &"x".repeat(64),
        ] {
            assert!(validate_label_key(bad).is_err(), "{bad}");
        }
        assert!(validate_label_value("k", "").is_ok());
        assert!(validate_label_value("k", "on-demand").is_ok());
        assert!(validate_label_value("k", "a b").is_err());
        assert!(validate_label_value("k", &"x".repeat(64)).is_err());
    }

    // Property tests: the set algebra agrees value-by-value with membership, and
    // matches_labels with plain per-expression Kubernetes evaluation.

    const UNIVERSE: [&str; 8] = ["1", "2", "3", "5", "10", "-1", "a", "b"];

    fn arb_expr() -> impl Strategy<Value = (NodeSelectorOperator, Vec<String>)> {
        let vals = proptest::sample::subsequence(UNIVERSE.to_vec(), 1..4)
            .prop_map(|v| v.into_iter().map(String::from).collect::<Vec<_>>());
        let num = proptest::sample::select(vec!["0", "1", "2", "3", "5", "10"])
            .prop_map(|n| vec![n.to_string()]);
        prop_oneof![
            vals.clone().prop_map(|v| (In, v)),
            vals.prop_map(|v| (NotIn, v)),
            Just((Exists, vec![])),
            Just((DoesNotExist, vec![])),
            num.clone().prop_map(|v| (Gt, v)),
            num.clone().prop_map(|v| (Lt, v)),
            num.clone().prop_map(|v| (Gte, v)),
            num.prop_map(|v| (Lte, v)),
        ]
    }

    fn k8s_match(op: NodeSelectorOperator, values: &[String], label: Option<&str>) -> bool {
        let num = |s: &str| s.parse::<i64>().ok();
        let bound = values.first().and_then(|v| num(v));
        match (op, label) {
            (In, Some(l)) => values.iter().any(|v| v == l),
            (NotIn, Some(l)) => !values.iter().any(|v| v == l),
            (NotIn, None) | (DoesNotExist, None) | (Exists, Some(_)) => true,
            (Gt, Some(l)) => matches!((num(l), bound), (Some(n), Some(b)) if n > b),
            (Lt, Some(l)) => matches!((num(l), bound), (Some(n), Some(b)) if n < b),
            (Gte, Some(l)) => matches!((num(l), bound), (Some(n), Some(b)) if n >= b),
            (Lte, Some(l)) => matches!((num(l), bound), (Some(n), Some(b)) if n <= b),
            _ => false,
        }
    }

    proptest! {
        #[test]
        fn intersection_membership_is_conjunction(a in arb_expr(), b in arb_expr()) {
            let ra = Requirement::new("k", a.0, &a.1).unwrap();
            let rb = Requirement::new("k", b.0, &b.1).unwrap();
            let both = ra.intersection(&rb);
            for v in UNIVERSE {
                prop_assert_eq!(both.has(v), ra.has(v) && rb.has(v), "value {}", v);
            }
            if !(ra.is_complement() && rb.is_complement()) {
                let witness = UNIVERSE.iter().any(|v| ra.has(v) && rb.has(v));
                prop_assert_eq!(ra.has_intersection(&rb), witness);
            }
        }

        #[test]
        fn narrows_says_whether_the_intersection_differs(
            a in arb_expr(),
            b in arb_expr(),
            ma in proptest::option::of(1u32..3),
            mb in proptest::option::of(1u32..3),
        ) {
            let mut ra = Requirement::new("k", a.0, &a.1).unwrap();
            let mut rb = Requirement::new("k", b.0, &b.1).unwrap();
            ra.min_values = ma;
            rb.min_values = mb;
            prop_assert_eq!(ra.narrows(&rb), ra.intersection(&rb) != rb);
            prop_assert_eq!(rb.narrows(&rb), rb.intersection(&rb) != rb);
        }

        #[test]
        fn matches_labels_agrees_with_per_expression_evaluation(
            exprs in proptest::collection::vec(arb_expr(), 1..4),
            label in proptest::option::of(proptest::sample::select(UNIVERSE.to_vec())),
        ) {
            let r: Requirements = exprs
                .iter()
                .map(|(op, vals)| Requirement::new("k", *op, vals).unwrap())
                .collect();
            let node = label.map(|l| labels(&[("k", l)])).unwrap_or_default();
            let expected = exprs.iter().all(|(op, vals)| k8s_match(*op, vals, label));
            prop_assert_eq!(r.matches_labels(&node), expected);
        }

        #[test]
        fn compatible_fast_path_agrees_with_compatible(
            a in proptest::collection::vec((proptest::sample::select(vec!["k", "j", "u"]), arb_expr()), 0..4),
            b in proptest::collection::vec((proptest::sample::select(vec!["k", "j", "u"]), arb_expr()), 0..4),
        ) {
            let build = |exprs: &[(&str, (NodeSelectorOperator, Vec<String>))]| -> Requirements {
                exprs
                    .iter()
                    .map(|(key, (op, vals))| Requirement::new(key, *op, vals).unwrap())
                    .collect()
            };
            let (ra, rb) = (build(&a), build(&b));
            for allow in [&[][..], &["u"][..]] {
                prop_assert_eq!(
                    ra.is_compatible_allowing_undefined(&rb, allow),
                    ra.compatible_allowing_undefined(&rb, allow).is_ok()
                );
            }
        }
    }
}
