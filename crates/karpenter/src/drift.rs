//! The NodeClaim drift check (docs/model/karpenter.md §4.5) and the two changes that cause drift
//! in a scenario: a timeline `applyFile` of NodePools (`kubectl apply -f`) and a timeline
//! `driftNodeClass` (a new AMI).
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
use asim_cluster::autoscaler::Ctx;
use asim_core::engine::SimTime;
use asim_core::k8s::duration::NillableDuration;
use asim_core::k8s::requirements::Requirements;
use asim_core::k8s::taints::Taint;

use super::Karpenter;
use super::apis::{NodeClassReference, NodePool, WELL_KNOWN_LABELS};

/// How often the drift check looks at a NodeClaim (§4.5).
pub const DRIFT_RECHECK_MS: u64 = 5 * 60_000;

/// The NodePool template fields Karpenter hashes into `karpenter.sh/nodepool-hash` (§4.5). A
/// NodeClaim keeps the value of its NodePool at creation; a difference means drift. Compared by
/// value, so changing a field and changing it back is no drift, as with the real hash.
#[derive(Clone, Debug, PartialEq)]
pub struct StaticTemplate {
    labels: asim_core::k8s::selector::Labels,
    annotations: asim_core::k8s::selector::Labels,
    taints: Vec<Taint>,
    startup_taints: Vec<Taint>,
    node_class_ref: NodeClassReference,
    expire_after: NillableDuration,
    termination_grace_period: Option<asim_core::k8s::duration::Duration>,
}

impl StaticTemplate {
    pub fn of(np: &NodePool) -> Arc<StaticTemplate> {
        let t = &np.spec.template;
        Arc::new(StaticTemplate {
            labels: t.metadata.labels.clone(),
            annotations: t.metadata.annotations.clone(),
            taints: t.spec.taints.clone(),
            startup_taints: t.spec.startup_taints.clone(),
            node_class_ref: t.spec.node_class_ref.clone(),
            expire_after: t.spec.expire_after,
            termination_grace_period: t.spec.termination_grace_period,
        })
    }
}

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
    pub(super) fn drift_reason(&self, cluster: &Cluster, i: usize) -> Option<DriftReason> {
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
    pub(super) fn refresh_drift(&mut self, cluster: &Cluster, now: SimTime, i: usize) {
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

    /// An EC2NodeClass changed (a timeline `driftNodeClass` step): its NodeClaims launched
    /// before now resolve an older AMI and are found drifted at their next check (§4.5).
    pub(super) fn nodeclass_changed(&mut self, ctx: &mut Ctx<'_>, name: &str) {
        let Some(ci) = self.classes.iter().position(|c| c.name == name) else {
            return;
        };
        self.classes[ci].generation += 1;
        for i in 0..self.claims.len() {
            if self.claims[i].nodeclass == ci {
                self.refresh_drift(ctx.cluster(), ctx.now, i);
            }
        }
        self.disruption.forget();
        self.log(
            ctx.now,
            serde_json::json!({"event": "nodeclass-changed", "nodeclass": name}),
        );
    }

    /// NodePools applied by a timeline `applyFile` step: each replaces the NodePool of its name
    /// or is created. Requirements, limits, weight and the disruption block take effect at the
    /// next provisioning or disruption pass; template changes drift the NodePool's NodeClaims.
    pub(super) fn apply_nodepools(&mut self, ctx: &mut Ctx<'_>, nodepools: &[NodePool]) {
        for np in nodepools {
            let budgets = match super::disruption::budgets::Budgets::new(np) {
                Ok(b) => b,
                Err(e) => {
                    // Validated when the scenario was loaded; kept as a logged refusal.
                    self.log(
                        ctx.now,
                        serde_json::json!({"event": "nodepool-rejected", "nodepool": np.name(), "reason": e.to_string()}),
                    );
                    continue;
                }
            };
            let class = self
                .classes
                .iter()
                .position(|c| c.name == np.spec.template.spec.node_class_ref.name);
            let template = StaticTemplate::of(np);
            let existing = self
                .pools
                .iter()
                .position(|p| p.nodepool.name() == np.name());
            let changed: Vec<&str> = match existing {
                Some(pi) => {
                    let old = &self.pools[pi];
                    let (o, n) = (&old.nodepool.spec, &np.spec);
                    [
                        ("template", *old.template != *template),
                        (
                            "requirements",
                            o.template.spec.requirements != n.template.spec.requirements,
                        ),
                        ("disruption", o.disruption != n.disruption),
                        ("limits", o.limits != n.limits),
                        ("weight", o.weight != n.weight),
                        ("replicas", o.replicas != n.replicas),
                    ]
                    .into_iter()
                    .filter_map(|(k, c)| c.then_some(k))
                    .collect()
                }
                None => vec!["created"],
            };
            let info = super::PoolInfo {
                nodepool: np.clone(),
                budgets,
                class,
                template,
            };
            match existing {
                Some(pi) => self.pools[pi] = info,
                None => self.pools.push(info),
            }
            super::sort_pools(&mut self.pools);
            let mut drifted = 0;
            for i in 0..self.claims.len() {
                if self.claims[i].nodepool == np.name() {
                    let before = self.claims[i].drifted_at.is_some();
                    self.refresh_drift(ctx.cluster(), ctx.now, i);
                    drifted += usize::from(!before && self.claims[i].drifted_at.is_some());
                }
            }
            self.log(
                ctx.now,
                serde_json::json!({"event": "nodepool-applied", "nodepool": np.name(), "changed": changed, "drifted_nodeclaims": drifted}),
            );
        }
        self.disruption.forget();
        // The provisioner watches NodePools: pending pods are tried against the new ones.
        let pods = super::provisioning::provisionable_pods(ctx.cluster());
        if !pods.is_empty() {
            self.trigger(ctx, pods);
        }
    }
}
