//! NodePools and EC2NodeClasses as Karpenter's controllers hold them: the provisioner's order
//! (weight, then name), the NodePool hash that NodeClaims drift from
//! (karpenter: pkg/controllers/nodepool/hash), and the timeline changes to both, the
//! `kubectl apply` of NodePools and an EC2NodeClass's new AMI (docs/model/karpenter.md §4.5).

pub mod budgets;

use std::sync::Arc;

use asim_cluster::autoscaler::Ctx;
use asim_core::k8s::duration::NillableDuration;
use asim_core::k8s::taints::Taint;

use crate::Karpenter;
use crate::apis::{EC2NodeClass, NodeClassReference, NodePool};
use crate::decision::Decision;
use crate::ids::ClassId;
use crate::instancetype::InstanceTypeInfo;
use budgets::Budgets;

/// One NodePool as the provisioner uses it.
pub struct PoolInfo {
    pub nodepool: NodePool,
    pub budgets: Budgets,
    /// Its EC2NodeClass; None when the NodeClass does not exist (not Ready).
    pub class: Option<ClassId>,
    /// The hashed template fields; NodeClaims created from another value drift (§4.5).
    pub template: Arc<StaticTemplate>,
}

/// Weight descending; ties by name descending (§1.6).
pub(crate) fn sort_pools(pools: &mut [PoolInfo]) {
    pools.sort_by(|a, b| {
        b.nodepool
            .weight()
            .cmp(&a.nodepool.weight())
            .then_with(|| b.nodepool.name().cmp(a.nodepool.name()))
    });
}

pub struct ClassInfo {
    pub nodeclass: Option<EC2NodeClass>,
    pub name: String,
    pub zones: Vec<String>,
    pub types: Arc<Vec<InstanceTypeInfo>>,
    /// Catalog types its AMI family cannot run (named in "no instance type" reasons).
    pub ami_excluded: Vec<(String, asim_core::k8s::requirements::Requirements)>,
    /// Bumped when a timeline step changes the class (its AMI): NodeClaims launched from an
    /// older generation drift (§4.5).
    pub generation: u64,
}

/// Karpenter's EC2NodeClasses, by [`ClassId`].
#[derive(Default)]
pub struct NodeClasses(Vec<ClassInfo>);

impl NodeClasses {
    pub fn push(&mut self, class: ClassInfo) -> ClassId {
        self.0.push(class);
        ClassId(self.0.len() - 1)
    }

    /// The class named `name`.
    pub fn by_name(&self, name: &str) -> Option<ClassId> {
        self.0.iter().position(|c| c.name == name).map(ClassId)
    }

    pub fn iter(&self) -> impl Iterator<Item = &ClassInfo> {
        self.0.iter()
    }
}

impl std::ops::Index<ClassId> for NodeClasses {
    type Output = ClassInfo;
    fn index(&self, id: ClassId) -> &ClassInfo {
        &self.0[id.0]
    }
}

impl std::ops::IndexMut<ClassId> for NodeClasses {
    fn index_mut(&mut self, id: ClassId) -> &mut ClassInfo {
        &mut self.0[id.0]
    }
}

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

impl Karpenter {
    /// NodePools applied by a timeline `applyFile` step: each replaces the NodePool of its name
    /// or is created. Requirements, limits, weight and the disruption block take effect at the
    /// next provisioning or disruption pass; template changes drift the NodePool's NodeClaims.
    pub(crate) fn apply_nodepools(&mut self, ctx: &mut Ctx<'_>, nodepools: &[NodePool]) {
        for np in nodepools {
            let budgets = match Budgets::new(np) {
                Ok(b) => b,
                Err(e) => {
                    // Validated when the scenario was loaded; kept as a logged refusal.
                    self.log(
                        ctx.now,
                        Decision::NodepoolRejected {
                            nodepool: np.name().to_string(),
                            reason: e.to_string(),
                        },
                    );
                    continue;
                }
            };
            let class = self
                .classes
                .by_name(&np.spec.template.spec.node_class_ref.name);
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
            let info = PoolInfo {
                nodepool: np.clone(),
                budgets,
                class,
                template,
            };
            match existing {
                Some(pi) => self.pools[pi] = info,
                None => self.pools.push(info),
            }
            sort_pools(&mut self.pools);
            self.claim_pools.get_mut().clear();
            let mut drifted = 0;
            for i in self.claims.ids() {
                if self.claims[i].nodepool == np.name() {
                    let before = self.claims[i].drifted_at.is_some();
                    self.refresh_drift(ctx.cluster(), ctx.now, i);
                    drifted += usize::from(!before && self.claims[i].drifted_at.is_some());
                }
            }
            self.log(
                ctx.now,
                Decision::NodepoolApplied {
                    nodepool: np.name().to_string(),
                    changed: changed.iter().map(|c| c.to_string()).collect(),
                    drifted_nodeclaims: drifted,
                },
            );
        }
        self.disruption.forget();
        // The provisioner watches NodePools: pending pods are tried against the new ones.
        self.requeue_provisionable(ctx);
    }

    /// An EC2NodeClass changed (a timeline `driftNodeClass` step): its NodeClaims launched
    /// before now resolve an older AMI and are found drifted at their next check (§4.5).
    pub(crate) fn nodeclass_changed(&mut self, ctx: &mut Ctx<'_>, name: &str) {
        let Some(ci) = self.classes.by_name(name) else {
            return;
        };
        self.classes[ci].generation += 1;
        for i in self.claims.ids() {
            if self.claims[i].nodeclass == ci {
                self.refresh_drift(ctx.cluster(), ctx.now, i);
            }
        }
        self.disruption.forget();
        self.log(
            ctx.now,
            Decision::NodeclassChanged {
                nodeclass: name.to_string(),
            },
        );
    }
}
