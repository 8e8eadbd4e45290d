//! The NodeClaim drift check (docs/model/karpenter.md §4.5; karpenter:
//! pkg/controllers/nodeclaim/disruption/drift.go). The changes that cause drift in a scenario,
//! a timeline `applyFile` of NodePools and a `driftNodeClass`, are applied in `crate::nodepool`.
//!
//! A launched NodeClaim is `Drifted`, checked in this order, when
//! 1. its NodePool's template hash changed — the static fields only: template labels and
//!    annotations, taints, startupTaints, nodeClassRef, expireAfter, terminationGracePeriod
//!    (`NodePoolDrifted`); requirements, budgets, weight and limits are not hashed;
//! 2. its labels no longer meet the NodePool's requirements (`RequirementsDrifted`);
//! 3. its EC2NodeClass resolves another AMI (`AMIDrift`).
//!
//! Karpenter re-checks every NodeClaim every 5 minutes; we evaluate the check when something it
//! reads changes and date the result to the NodeClaim's next 5-minute check. A NodeClaim that is
//! no longer drifted (the NodePool was changed back) loses the condition, unless a disruption
//! command has already taken it.

use std::sync::Arc;

use asim_cluster::Cluster;
use asim_core::engine::SimTime;
use asim_core::k8s::requirements::Requirements;

use crate::Karpenter;
use crate::apis::WELL_KNOWN_LABELS;
use crate::nodeclaim::store::ClaimId;

/// How often the drift check looks at a NodeClaim (§4.5).
pub const DRIFT_RECHECK_MS: u64 = 5 * 60_000;

/// Why a NodeClaim drifted; Karpenter's condition reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriftReason {
    NodePoolDrifted,
    RequirementsDrifted,
    AmiDrift,
}

impl DriftReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftReason::NodePoolDrifted => "NodePoolDrifted",
            DriftReason::RequirementsDrifted => "RequirementsDrifted",
            DriftReason::AmiDrift => "AMIDrift",
        }
    }
}

impl Karpenter {
    /// The drift check for NodeClaim `i`, now. Only launched NodeClaims drift; a NodeClaim
    /// whose NodePool is gone is left alone.
    pub(crate) fn drift_reason(&self, cluster: &Cluster, i: ClaimId) -> Option<DriftReason> {
        let c = &self.claims[i];
        let launched = c.launched.as_ref()?;
        let pool = self
            .pools
            .iter()
            .find(|p| p.nodepool.name() == c.nodepool)?;
        if !Arc::ptr_eq(&c.template, &pool.template) && *c.template != *pool.template {
            return Some(DriftReason::NodePoolDrifted);
        }
        // The NodeClaim's labels: its Node's once registered, else those it was created with
        // plus its instance type's.
        let labels = match c.node.and_then(|n| cluster.node(n)) {
            Some(node) => node.labels.clone(),
            None => {
                let mut l = c.labels.clone();
                let it = &self.classes[c.nodeclass].types[launched.instance_type as usize];
                for r in it.requirements.iter() {
                    if let Some(v) = r.values().first().filter(|_| r.finite_len() == Some(1)) {
                        l.insert(r.key().to_string(), v.clone());
                    }
                }
                l
            }
        };
        // Only `spec.template.spec.requirements`: the template labels are hashed instead.
        if let Ok(reqs) = Requirements::from_node_selector_requirements(
            &pool.nodepool.spec.template.spec.requirements,
        ) && Requirements::from_labels(&labels)
            .compatible_allowing_undefined(&reqs, WELL_KNOWN_LABELS)
            .is_err()
        {
            return Some(DriftReason::RequirementsDrifted);
        }
        (c.nodeclass_generation < self.classes[c.nodeclass].generation)
            .then_some(DriftReason::AmiDrift)
    }

    /// Re-run the drift check for NodeClaim `i` after something it reads changed: a newly
    /// drifted NodeClaim is found at its next 5-minute check.
    pub(crate) fn refresh_drift(&mut self, cluster: &Cluster, now: SimTime, i: ClaimId) {
        if !self.claims[i].is_active() {
            return;
        }
        let reason = self.drift_reason(cluster, i);
        let c = &mut self.claims[i];
        match (reason, c.drifted_at) {
            (Some(r), None) => {
                let age = now.0.saturating_sub(c.created_at.0);
                let next_check = c.created_at.0 + age.div_ceil(DRIFT_RECHECK_MS) * DRIFT_RECHECK_MS;
                c.drifted_at = Some(SimTime(next_check));
                c.drift_reason = Some(r);
            }
            (Some(r), Some(_)) => c.drift_reason = Some(r),
            (None, Some(_)) if !c.marked_for_deletion => {
                c.drifted_at = None;
                c.drift_reason = None;
            }
            _ => {}
        }
    }
}
