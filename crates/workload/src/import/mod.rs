//! `autoscale-sim import`: a real cluster's objects and history turned into a scenario
//! directory (docs/your-cluster.md).
//!
//! - `objects`: reading `kubectl get -o yaml` dumps into located JSON values, and removing the
//!   fields the API server sets.
//! - `anonymize`: stable, keyed hashing of names, namespaces, label values and images.
//! - `cluster`: `import cluster`, the dump → manifests, `scenario.yaml` and a report.
//! - `history`: `import history`, replica histories (CSV, Prometheus `query_range`, kubereplay)
//!   → the `replicas` trace CSV (and, for kubereplay, the manifests its create events carry).
//! - `trace`: `trace convert`, a pod-level trace → the generic CSV and a scenario replaying it.
//!
//! Nothing here writes files: each importer returns the files' contents and the CLI writes
//! them, so the output is a function of the inputs alone.

pub mod anonymize;
pub mod cluster;
pub mod history;
pub mod objects;
pub mod trace;

use std::collections::BTreeMap;

/// What an importer produced: file contents by path relative to the output directory, and
/// the report (Markdown) of what was skipped and why.
#[derive(Debug, Default)]
pub struct Imported {
    pub files: BTreeMap<String, String>,
    pub report: String,
}
