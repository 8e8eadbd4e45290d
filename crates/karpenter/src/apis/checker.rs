//! Validation that names every violation by its field path, as the API server reports CEL rules.

use std::fmt;

use asim_core::k8s::requirements::is_dns_subdomain;

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

pub(super) fn join_violations(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Default)]
pub(super) struct Checker {
    violations: Vec<Violation>,
}

impl Checker {
    pub(super) fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.violations.push(Violation {
            field: field.into(),
            message: message.into(),
        });
    }

    pub(super) fn check(&mut self, ok: bool, field: impl Into<String>, message: impl Into<String>) {
        if !ok {
            self.fail(field, message);
        }
    }

    pub(super) fn finish(self, kind: &'static str, name: &str) -> Result<(), ApiError> {
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

    pub(super) fn type_meta(
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

    pub(super) fn object_name(&mut self, name: &str) {
        self.check(
            is_dns_subdomain(name),
            "metadata.name",
            format!("must be a non-empty lowercase RFC 1123 subdomain, found {name:?}"),
        );
    }
}
