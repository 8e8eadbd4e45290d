//! The workload controllers the simulator runs: ReplicaSets (behind Deployments), StatefulSets,
//! Jobs and DaemonSets, plus PodDisruptionBudgets. Each keeps its desired state and the pods it
//! owns; `crate::Cluster` reconciles them.

use std::collections::BTreeSet;
use std::sync::Arc;

use asim_core::k8s::selector::LabelSelector;

use super::pod::{OwnerKind, PodId, PodTemplate};

/// A Deployment (through its ReplicaSet) or a StatefulSet: keeps `replicas` pods alive and
/// replaces deleted or evicted ones.
#[derive(Clone, Debug)]
pub struct ReplicaController {
    pub kind: OwnerKind,
    pub name: String,
    pub namespace: String,
    pub replicas: u32,
    pub template: Arc<PodTemplate>,
    pub pods: BTreeSet<PodId>,
    /// How many of `pods` are Terminating, kept by the cluster (0 for a new controller): the
    /// controller counts only the others as its replicas, and reconciling after each pod end
    /// must not scan every pod to know how many.
    pub terminating: usize,
    /// Next pod name suffix of a Deployment's pods (a StatefulSet's pods take the lowest free
    /// ordinal instead).
    pub next_ordinal: u64,
    /// A StatefulSet's `volumeClaimTemplates`: each ordinal mounts its own claim of each, kept
    /// across the pod's replacements.
    pub claim_templates: Vec<crate::volume::ClaimSpec>,
}

/// A Job: runs pods to `completions` with at most `parallelism` at once.
#[derive(Clone, Debug)]
pub struct JobController {
    pub name: String,
    pub namespace: String,
    pub completions: u32,
    pub parallelism: u32,
    pub succeeded: u32,
    pub template: Arc<PodTemplate>,
    pub pods: BTreeSet<PodId>,
    pub next_ordinal: u64,
}

impl JobController {
    /// How many more pods should be running now.
    pub fn wanted(&self) -> u32 {
        let remaining = self.completions.saturating_sub(self.succeeded);
        remaining.min(self.parallelism)
    }
}

#[derive(Clone, Debug)]
pub struct DaemonSetController {
    pub name: String,
    pub namespace: String,
    pub template: Arc<PodTemplate>,
}

/// `minAvailable` / `maxUnavailable` of a PodDisruptionBudget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntOrPercent {
    Int(i64),
    Percent(u32),
}

impl IntOrPercent {
    /// Resolve against `total`; Kubernetes rounds percentages up for PDBs.
    pub fn resolve(&self, total: i64) -> i64 {
        match self {
            IntOrPercent::Int(n) => *n,
            IntOrPercent::Percent(p) => (total * i64::from(*p) + 99) / 100,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Pdb {
    pub name: String,
    pub namespace: String,
    pub selector: LabelSelector,
    pub min_available: Option<IntOrPercent>,
    pub max_unavailable: Option<IntOrPercent>,
}

impl Pdb {
    /// Evictions allowed now, given the matching pods: `expected` (all active matching pods)
    /// and `healthy` (running ones). Mirrors the disruption controller's `disruptionsAllowed`.
    pub fn disruptions_allowed(&self, expected: i64, healthy: i64) -> i64 {
        let desired_healthy = match (&self.min_available, &self.max_unavailable) {
            (Some(min), _) => min.resolve(expected),
            (None, Some(max)) => expected - max.resolve(expected),
            (None, None) => expected,
        };
        (healthy - desired_healthy).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdb(min: Option<IntOrPercent>, max: Option<IntOrPercent>) -> Pdb {
        Pdb {
            name: "p".into(),
            namespace: "default".into(),
            selector: LabelSelector::default(),
            min_available: min,
            max_unavailable: max,
        }
    }

    #[test]
    fn pdb_min_available_counts_healthy_pods() {
        let p = pdb(Some(IntOrPercent::Int(2)), None);
        assert_eq!(p.disruptions_allowed(3, 3), 1);
        assert_eq!(p.disruptions_allowed(3, 2), 0);
    }

    #[test]
    fn pdb_max_unavailable_percent_rounds_up() {
        let p = pdb(None, Some(IntOrPercent::Percent(10)));
        // 10 % of 15 = 1.5 → 2 unavailable allowed.
        assert_eq!(p.disruptions_allowed(15, 15), 2);
    }

    #[test]
    fn job_wants_at_most_parallelism() {
        let j = JobController {
            name: "j".into(),
            namespace: "default".into(),
            completions: 5,
            parallelism: 2,
            succeeded: 4,
            template: Arc::new(PodTemplate::default()),
            pods: BTreeSet::new(),
            next_ordinal: 0,
        };
        assert_eq!(j.wanted(), 1);
    }
}
