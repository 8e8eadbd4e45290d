//! Label selectors (`matchLabels` + `matchExpressions`), as used by PDBs, topology spread
//! constraints and pod (anti-)affinity.

use std::collections::BTreeMap;

use thiserror::Error;

pub type Labels = BTreeMap<String, String>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectorOp {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectorExpr {
    pub key: String,
    pub op: SelectorOp,
}

/// A label selector. `None` in an API object means "selects nothing" for PDBs and "matches
/// nothing" for affinity terms; an empty selector selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub match_labels: Labels,
    pub match_expressions: Vec<SelectorExpr>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SelectorError {
    #[error("unknown label selector operator {0:?} (expected In, NotIn, Exists, DoesNotExist)")]
    UnknownOperator(String),
    #[error("label selector operator {op} on key {key:?} needs {expected}")]
    BadValues {
        key: String,
        op: String,
        expected: &'static str,
    },
}

impl LabelSelector {
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|e| {
                let got = labels.get(&e.key);
                match &e.op {
                    SelectorOp::In(vs) => got.is_some_and(|g| vs.contains(g)),
                    SelectorOp::NotIn(vs) => got.is_none_or(|g| !vs.contains(g)),
                    SelectorOp::Exists => got.is_some(),
                    SelectorOp::DoesNotExist => got.is_none(),
                }
            })
    }

    pub fn from_api(
        s: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    ) -> Result<Self, SelectorError> {
        let mut out = LabelSelector {
            match_labels: s.match_labels.clone().unwrap_or_default(),
            match_expressions: Vec::new(),
        };
        for e in s.match_expressions.iter().flatten() {
            let values = e.values.clone().unwrap_or_default();
            let bad = |expected| SelectorError::BadValues {
                key: e.key.clone(),
                op: e.operator.clone(),
                expected,
            };
            let op = match e.operator.as_str() {
                "In" if values.is_empty() => return Err(bad("at least one value")),
                "NotIn" if values.is_empty() => return Err(bad("at least one value")),
                "In" => SelectorOp::In(values),
                "NotIn" => SelectorOp::NotIn(values),
                "Exists" if !values.is_empty() => return Err(bad("no values")),
                "DoesNotExist" if !values.is_empty() => return Err(bad("no values")),
                "Exists" => SelectorOp::Exists,
                "DoesNotExist" => SelectorOp::DoesNotExist,
                other => return Err(SelectorError::UnknownOperator(other.to_string())),
            };
            out.match_expressions.push(SelectorExpr {
                key: e.key.clone(),
                op,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> Labels {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_selector_selects_everything() {
        assert!(LabelSelector::default().matches(&labels(&[("a", "b")])));
    }

    #[test]
    fn expressions_follow_kubernetes_semantics() {
        let sel = LabelSelector {
            match_labels: labels(&[("app", "web")]),
            match_expressions: vec![
                SelectorExpr {
                    key: "tier".into(),
                    op: SelectorOp::NotIn(vec!["db".into()]),
                },
                SelectorExpr {
                    key: "canary".into(),
                    op: SelectorOp::DoesNotExist,
                },
            ],
        };
        assert!(sel.matches(&labels(&[("app", "web")])));
        assert!(sel.matches(&labels(&[("app", "web"), ("tier", "fe")])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("canary", "1")])));
        assert!(!sel.matches(&labels(&[("app", "api")])));
    }
}
