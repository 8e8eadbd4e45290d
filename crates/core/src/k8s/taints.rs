//! Taints and tolerations with exact Kubernetes semantics (`k8s.io/api/core/v1`
//! `Toleration.ToleratesTaint`), deserializable from Kubernetes YAML and convertible from
//! `k8s-openapi` types.

use std::fmt;
use std::str::FromStr;

use k8s_openapi::api::core::v1 as corev1;
use serde::de::Deserializer;
use serde::{Deserialize, Serialize, Serializer};

/// Invalid taint effect or toleration operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaintError {
    #[error("unknown taint effect {found:?} (expected NoSchedule, PreferNoSchedule, NoExecute)")]
    UnknownEffect { found: String },
    #[error("unknown toleration operator {found:?} (expected Equal, Exists)")]
    UnknownOperator { found: String },
    #[error("taint has an empty key")]
    EmptyKey,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

impl FromStr for TaintEffect {
    type Err = TaintError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "NoSchedule" => Ok(TaintEffect::NoSchedule),
            "PreferNoSchedule" => Ok(TaintEffect::PreferNoSchedule),
            "NoExecute" => Ok(TaintEffect::NoExecute),
            _ => Err(TaintError::UnknownEffect {
                found: s.to_string(),
            }),
        }
    }
}

impl fmt::Display for TaintEffect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TaintEffect {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for TaintEffect {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A node taint. An empty value is stored as `None` (Kubernetes does not distinguish them).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    pub key: String,
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<String>,
    pub effect: TaintEffect,
}

impl Taint {
    pub fn new(key: impl Into<String>, value: Option<&str>, effect: TaintEffect) -> Taint {
        Taint {
            key: key.into(),
            value: value.filter(|v| !v.is_empty()).map(str::to_string),
            effect,
        }
    }

    /// The value, `""` when unset.
    pub fn value_str(&self) -> &str {
        self.value.as_deref().unwrap_or("")
    }

    /// Same key and effect (Kubernetes `MatchTaint`): how startup taints are found and removed.
    pub fn matches(&self, other: &Taint) -> bool {
        self.key == other.key && self.effect == other.effect
    }
}

/// `key=value:Effect` (or `key:Effect`), as kubectl prints it.
impl fmt::Display for Taint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={}:{}", self.key, v, self.effect),
            None => write!(f, "{}:{}", self.key, self.effect),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TolerationOperator {
    /// The default when the operator is omitted or empty.
    #[default]
    Equal,
    Exists,
}

impl TolerationOperator {
    pub fn as_str(self) -> &'static str {
        match self {
            TolerationOperator::Equal => "Equal",
            TolerationOperator::Exists => "Exists",
        }
    }
}

impl FromStr for TolerationOperator {
    type Err = TaintError;

    /// An empty operator means `Equal`, as in Kubernetes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" | "Equal" => Ok(TolerationOperator::Equal),
            "Exists" => Ok(TolerationOperator::Exists),
            _ => Err(TaintError::UnknownOperator {
                found: s.to_string(),
            }),
        }
    }
}

impl fmt::Display for TolerationOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TolerationOperator {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .unwrap_or_default()
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for TolerationOperator {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A pod toleration. Empty `key`, `value` and `effect` are stored as `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Toleration {
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub key: Option<String>,
    #[serde(default)]
    pub operator: TolerationOperator,
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<String>,
    /// `None` matches every effect.
    #[serde(
        default,
        deserialize_with = "optional_effect",
        skip_serializing_if = "Option::is_none"
    )]
    pub effect: Option<TaintEffect>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

impl Toleration {
    /// Tolerates every taint (`operator: Exists` with no key and no effect).
    pub fn tolerate_all() -> Toleration {
        Toleration {
            operator: TolerationOperator::Exists,
            ..Toleration::default()
        }
    }

    /// Kubernetes `ToleratesTaint`: the effect matches (or is unset), the key matches (or is
    /// unset), and then `Exists` tolerates any value while `Equal` needs an equal value (an
    /// unset value equals an empty one). So an empty key with `Exists` tolerates everything,
    /// and an empty key with `Equal` tolerates any key carrying the same value.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|e| e != taint.effect) {
            return false;
        }
        if self.key.as_deref().is_some_and(|k| k != taint.key) {
            return false;
        }
        match self.operator {
            TolerationOperator::Exists => true,
            TolerationOperator::Equal => self.value.as_deref().unwrap_or("") == taint.value_str(),
        }
    }
}

/// The first taint (in the given order) that no toleration tolerates. With
/// `ignore_prefer_no_schedule`, `PreferNoSchedule` taints never block (kube-scheduler's filter
/// ignores them; Karpenter tolerates them when relaxing preferences, docs/model/karpenter.md §1.7).
pub fn tolerates_all<'a>(
    tolerations: &[Toleration],
    taints: &'a [Taint],
    ignore_prefer_no_schedule: bool,
) -> Result<(), &'a Taint> {
    let blocks = |taint: &Taint| {
        if ignore_prefer_no_schedule && taint.effect == TaintEffect::PreferNoSchedule {
            return false;
        }
        !tolerations.iter().any(|t| t.tolerates(taint))
    };
    match taints.iter().find(|taint| blocks(taint)) {
        Some(taint) => Err(taint),
        None => Ok(()),
    }
}

fn empty_as_none<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.filter(|s| !s.is_empty()))
}

fn optional_effect<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<TaintEffect>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => s.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

impl TryFrom<&corev1::Taint> for Taint {
    type Error = TaintError;

    fn try_from(t: &corev1::Taint) -> Result<Self, Self::Error> {
        if t.key.is_empty() {
            return Err(TaintError::EmptyKey);
        }
        Ok(Taint::new(
            t.key.clone(),
            t.value.as_deref(),
            t.effect.parse()?,
        ))
    }
}

impl TryFrom<&corev1::Toleration> for Toleration {
    type Error = TaintError;

    fn try_from(t: &corev1::Toleration) -> Result<Self, Self::Error> {
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        Ok(Toleration {
            key: non_empty(&t.key),
            operator: t.operator.as_deref().unwrap_or("").parse()?,
            value: non_empty(&t.value),
            effect: match t.effect.as_deref() {
                None | Some("") => None,
                Some(e) => Some(e.parse()?),
            },
            toleration_seconds: t.toleration_seconds,
        })
    }
}

impl From<&Taint> for corev1::Taint {
    fn from(t: &Taint) -> Self {
        corev1::Taint {
            key: t.key.clone(),
            value: t.value.clone(),
            effect: t.effect.as_str().to_string(),
            time_added: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: Option<&str>, effect: TaintEffect) -> Taint {
        Taint::new(key, value, effect)
    }

    fn tol(
        key: Option<&str>,
        op: TolerationOperator,
        value: Option<&str>,
        effect: Option<TaintEffect>,
    ) -> Toleration {
        Toleration {
            key: key.map(str::to_string),
            operator: op,
            value: value.map(str::to_string),
            effect,
            toleration_seconds: None,
        }
    }

    use TaintEffect::*;
    use TolerationOperator::*;

    const GPU: &str = "nvidia.com/gpu";

    #[test]
    fn empty_key_exists_tolerates_everything() {
        let t = Toleration::tolerate_all();
        for effect in [NoSchedule, PreferNoSchedule, NoExecute] {
            assert!(t.tolerates(&taint("a", Some("b"), effect)));
            assert!(t.tolerates(&taint("c", None, effect)));
        }
    }

    #[test]
    fn equal_requires_same_key_and_value() {
        let t = tol(Some(GPU), Equal, Some("true"), Some(NoSchedule));
        assert!(t.tolerates(&taint(GPU, Some("true"), NoSchedule)));
        assert!(!t.tolerates(&taint(GPU, Some("false"), NoSchedule)));
        assert!(!t.tolerates(&taint(GPU, None, NoSchedule)));
        assert!(!t.tolerates(&taint("other", Some("true"), NoSchedule)));
    }

    #[test]
    fn equal_with_unset_value_matches_empty_taint_value() {
        let t = tol(Some(GPU), Equal, None, None);
        assert!(t.tolerates(&taint(GPU, None, NoSchedule)));
        assert!(!t.tolerates(&taint(GPU, Some("x"), NoSchedule)));
    }

    #[test]
    fn exists_with_key_ignores_value() {
        let t = tol(Some(GPU), Exists, None, Some(NoSchedule));
        assert!(t.tolerates(&taint(GPU, Some("true"), NoSchedule)));
        assert!(t.tolerates(&taint(GPU, None, NoSchedule)));
        assert!(!t.tolerates(&taint("other", None, NoSchedule)));
    }

    #[test]
    fn effect_must_match_when_set_and_unset_matches_all() {
        let only_noexec = tol(Some(GPU), Exists, None, Some(NoExecute));
        assert!(!only_noexec.tolerates(&taint(GPU, None, NoSchedule)));
        assert!(only_noexec.tolerates(&taint(GPU, None, NoExecute)));
        let any_effect = tol(Some(GPU), Exists, None, None);
        for effect in [NoSchedule, PreferNoSchedule, NoExecute] {
            assert!(any_effect.tolerates(&taint(GPU, None, effect)));
        }
    }

    #[test]
    fn empty_key_equal_matches_any_key_with_that_value() {
        let t = tol(None, Equal, Some("v"), None);
        assert!(t.tolerates(&taint("a", Some("v"), NoSchedule)));
        assert!(!t.tolerates(&taint("a", Some("w"), NoSchedule)));
    }

    #[test]
    fn tolerates_all_returns_first_untolerated_taint() {
        let taints = vec![
            taint("a", None, NoSchedule),
            taint("soft", None, PreferNoSchedule),
            taint("b", None, NoExecute),
        ];
        let tols = vec![tol(Some("a"), Exists, None, None)];
        assert_eq!(tolerates_all(&tols, &taints, false), Err(&taints[1]));
        assert_eq!(tolerates_all(&tols, &taints, true), Err(&taints[2]));
        let tols = vec![
            tol(Some("a"), Exists, None, None),
            tol(Some("b"), Exists, None, None),
        ];
        assert_eq!(tolerates_all(&tols, &taints, true), Ok(()));
        assert_eq!(tolerates_all(&tols, &taints, false), Err(&taints[1]));
        assert_eq!(tolerates_all(&[], &[], false), Ok(()));
    }

    #[test]
    fn taints_and_tolerations_deserialize_from_kubernetes_yaml() {
        let taints: Vec<Taint> = serde_saphyr::from_str(
            "- key: nvidia.com/gpu\n  value: \"true\"\n  effect: NoSchedule\n- key: dedicated\n  effect: NoExecute\n  timeAdded: \"2024-01-01T00:00:00Z\"\n- key: e\n  value: \"\"\n  effect: PreferNoSchedule\n",
        )
        .unwrap();
        assert_eq!(taints[0], taint(GPU, Some("true"), NoSchedule));
        assert_eq!(taints[1], taint("dedicated", None, NoExecute));
        assert_eq!(taints[2].value, None);
        let tols: Vec<Toleration> = serde_saphyr::from_str(
            "- key: nvidia.com/gpu\n  operator: Exists\n  effect: NoSchedule\n- operator: Exists\n- key: k\n  value: v\n  tolerationSeconds: 300\n  effect: \"\"\n",
        )
        .unwrap();
        assert_eq!(tols[0], tol(Some(GPU), Exists, None, Some(NoSchedule)));
        assert_eq!(tols[1], Toleration::tolerate_all());
        assert_eq!(tols[2].operator, Equal);
        assert_eq!(tols[2].effect, None);
        assert_eq!(tols[2].toleration_seconds, Some(300));
    }

    #[test]
    fn unknown_effect_or_operator_is_an_error_listing_allowed_values() {
        let err = serde_saphyr::from_str::<Taint>("key: a\neffect: NoScheduled\n").unwrap_err();
        assert!(
            err.to_string().contains(
                "unknown taint effect \"NoScheduled\" (expected NoSchedule, PreferNoSchedule, NoExecute)"
            ),
            "{err}"
        );
        let err = serde_saphyr::from_str::<Toleration>("key: a\noperator: Equals\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown toleration operator \"Equals\" (expected Equal, Exists)"),
            "{err}"
        );
        let err = serde_saphyr::from_str::<Toleration>("key: a\neffect: Always\n").unwrap_err();
        assert!(
            err.to_string().contains("unknown taint effect \"Always\""),
            "{err}"
        );
        // A taint needs an effect.
        assert!(serde_saphyr::from_str::<Taint>("key: a\n").is_err());
    }

    #[test]
    fn converts_from_k8s_openapi() {
        let t = corev1::Taint {
            key: GPU.to_string(),
            value: Some(String::new()),
            effect: "NoSchedule".to_string(),
            time_added: None,
        };
        assert_eq!(Taint::try_from(&t), Ok(taint(GPU, None, NoSchedule)));
        let bad = corev1::Taint {
            effect: "Sometimes".to_string(),
            ..t.clone()
        };
        assert!(matches!(
            Taint::try_from(&bad),
            Err(TaintError::UnknownEffect { .. })
        ));
        let empty_key = corev1::Taint {
            key: String::new(),
            ..t.clone()
        };
        assert_eq!(Taint::try_from(&empty_key), Err(TaintError::EmptyKey));
        let back = corev1::Taint::from(&taint(GPU, Some("true"), NoExecute));
        assert_eq!(back.effect, "NoExecute");
        assert_eq!(back.value.as_deref(), Some("true"));

        let k = corev1::Toleration {
            key: Some(String::new()),
            operator: Some("Exists".to_string()),
            value: None,
            effect: Some(String::new()),
            toleration_seconds: Some(30),
        };
        let converted = Toleration::try_from(&k).unwrap();
        assert_eq!(converted.key, None);
        assert_eq!(converted.effect, None);
        assert_eq!(converted.operator, Exists);
        assert_eq!(converted.toleration_seconds, Some(30));
        let default_op = corev1::Toleration {
            operator: None,
            ..k.clone()
        };
        assert_eq!(Toleration::try_from(&default_op).unwrap().operator, Equal);
        let bad_op = corev1::Toleration {
            operator: Some("Gt".to_string()),
            ..k
        };
        assert!(matches!(
            Toleration::try_from(&bad_op),
            Err(TaintError::UnknownOperator { .. })
        ));
    }

    #[test]
    fn taint_display_and_match() {
        assert_eq!(
            taint(GPU, Some("true"), NoSchedule).to_string(),
            "nvidia.com/gpu=true:NoSchedule"
        );
        assert_eq!(taint("a", None, NoExecute).to_string(), "a:NoExecute");
        assert!(taint("a", Some("x"), NoExecute).matches(&taint("a", None, NoExecute)));
        assert!(!taint("a", None, NoSchedule).matches(&taint("a", None, NoExecute)));
    }
}
