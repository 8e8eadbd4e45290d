//! PersistentVolumeClaims and StorageClasses, modelled as far as they constrain where a pod may
//! run (docs/model/scheduler.md §3): a claim of a zonal StorageClass (EBS) is bound to a volume
//! in one zone, and from then on every pod that mounts it may run only in that zone.
//!
//! A pod whose claims constrain its zones gets a *derived* template: its own, with the zone
//! requirement added to every required node-affinity term (or as the only term). That is what
//! Karpenter's volume topology does to the pod it schedules (kubernetes-sigs/karpenter:
//! pkg/controllers/provisioning/scheduling/volumetopology.go `Inject`), and what
//! cluster-autoscaler's scheduler framework sees through the PV's node affinity; the binder
//! additionally marks it (`volume_zones`) to report kube-scheduler's VolumeZone reason.
//! Derived templates are shared by every pod of one base template and one zone set, so the
//! binder's per-template caches keep working for a Deployment whose replicas share a claim.

use std::collections::BTreeMap;
use std::sync::Arc;

use asim_core::k8s::requirements::{Requirement, Requirements};

pub use crate::pod::ClaimId;
use crate::pod::{PodTemplate, ZONE_KEY};

/// `volumeBindingMode` of a StorageClass.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum VolumeBindingMode {
    /// The volume is provisioned when the claim is created. [simplification] In a zone chosen
    /// then, round robin over the allowed zones in claim-creation order (the EBS CSI driver
    /// picks one of the allowed zones; ours is deterministic).
    #[default]
    Immediate,
    /// Provisioned when the first pod using the claim is bound, in that pod's node's zone
    /// (kube-scheduler's VolumeBinding plugin, kubernetes:
    /// pkg/scheduler/framework/plugins/volumebinding/binder.go).
    WaitForFirstConsumer,
}

impl VolumeBindingMode {
    /// The API's spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<VolumeBindingMode> {
        match s {
            "Immediate" => Some(VolumeBindingMode::Immediate),
            "WaitForFirstConsumer" => Some(VolumeBindingMode::WaitForFirstConsumer),
            _ => None,
        }
    }
}

/// The provisioners whose volumes live in one zone: the EBS CSI driver and the in-tree EBS
/// plugin it replaced. Other provisioners (EFS, FSx, …) are taken as reachable from every zone.
pub const ZONAL_PROVISIONERS: &[&str] = &["ebs.csi.aws.com", "kubernetes.io/aws-ebs"];

/// The label keys a StorageClass's `allowedTopologies` may name for a zone (the well-known key,
/// and the one the EBS CSI driver also publishes).
pub const ZONE_TOPOLOGY_KEYS: &[&str] = &[ZONE_KEY, "topology.ebs.csi.aws.com/zone"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageClass {
    pub name: String,
    pub binding_mode: VolumeBindingMode,
    /// Its volumes live in one zone (see [`ZONAL_PROVISIONERS`]).
    pub zonal: bool,
    /// The zones of `allowedTopologies`; empty = any zone.
    pub allowed_zones: Vec<String>,
}

/// A claim as it is asked for: a standalone PersistentVolumeClaim, or one of a StatefulSet's
/// `volumeClaimTemplates` (then `name` is the template's, and each ordinal's claim is named
/// `NAME-STATEFULSET-ORDINAL`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimSpec {
    pub name: String,
    /// The StorageClass, resolved at load (the default class filled in); `None` for
    /// `storageClassName: ""`, a pre-provisioned volume with no topology here.
    pub storage_class: Option<String>,
}

/// A PersistentVolumeClaim in the cluster.
#[derive(Clone, Debug)]
pub struct Claim {
    pub namespace: String,
    pub name: String,
    pub storage_class: Option<String>,
    /// Bound to a volume (Immediate: at creation; WaitForFirstConsumer: at its first pod's bind).
    pub bound: bool,
    /// The zone of its volume, once bound, for a zonal class.
    pub zone: Option<String>,
}

/// The cluster's StorageClasses and claims, and the derived templates of pods that use them.
#[derive(Default)]
pub struct Volumes {
    classes: BTreeMap<String, StorageClass>,
    /// The cluster's zones, for Immediate claims of a class without `allowedTopologies`.
    zones: Vec<String>,
    pub claims: Vec<Claim>,
    by_name: BTreeMap<(String, String), ClaimId>,
    /// Immediate claims created so far (the round robin's position).
    immediate: usize,
    /// (base template, zones, derived template). The base is held so that its address, the
    /// key, cannot be reused by another template.
    #[allow(clippy::type_complexity)]
    derived: Vec<(Arc<PodTemplate>, Vec<String>, Arc<PodTemplate>)>,
}

impl Volumes {
    pub fn new(classes: impl IntoIterator<Item = StorageClass>, zones: Vec<String>) -> Volumes {
        Volumes {
            classes: classes.into_iter().map(|c| (c.name.clone(), c)).collect(),
            zones,
            ..Volumes::default()
        }
    }

    pub fn claim(&self, id: ClaimId) -> &Claim {
        &self.claims[id.0 as usize]
    }

    pub fn by_name(&self, namespace: &str, name: &str) -> Option<ClaimId> {
        self.by_name
            .get(&(namespace.to_string(), name.to_string()))
            .copied()
    }

    fn class_of(&self, c: &Claim) -> Option<&StorageClass> {
        c.storage_class.as_ref().and_then(|n| self.classes.get(n))
    }

    /// The claim named `name` in `namespace`, created from `spec` if it does not exist yet (a
    /// StatefulSet's claims outlive its pods: the replacement of ordinal N mounts the same one).
    pub fn ensure(&mut self, namespace: &str, name: &str, spec: &ClaimSpec) -> ClaimId {
        if let Some(id) = self.by_name(namespace, name) {
            return id;
        }
        let mut claim = Claim {
            namespace: namespace.to_string(),
            name: name.to_string(),
            storage_class: spec.storage_class.clone(),
            bound: false,
            zone: None,
        };
        match self.class_of(&claim).cloned() {
            Some(class) if class.binding_mode == VolumeBindingMode::Immediate => {
                claim.bound = true;
                if class.zonal {
                    let zones = if class.allowed_zones.is_empty() {
                        &self.zones
                    } else {
                        &class.allowed_zones
                    };
                    if !zones.is_empty() {
                        claim.zone = Some(zones[self.immediate % zones.len()].clone());
                        self.immediate += 1;
                    }
                }
            }
            Some(_) => {}
            // No class: a pre-provisioned volume, bound and without topology.
            None => claim.bound = true,
        }
        let id = ClaimId(self.claims.len() as u32);
        self.by_name
            .insert((namespace.to_string(), name.to_string()), id);
        self.claims.push(claim);
        id
    }

    /// The zones claim `id` allows its pods: its volume's zone once bound; before that, a
    /// WaitForFirstConsumer class's `allowedTopologies` (kube-scheduler's VolumeBinding checks
    /// them for an unbound claim, and Karpenter's volume topology adds them as a requirement).
    /// `None`: no constraint.
    pub fn zones_of(&self, id: ClaimId) -> Option<Vec<String>> {
        let c = self.claim(id);
        let class = self.class_of(c)?;
        if !class.zonal {
            return None;
        }
        match &c.zone {
            Some(z) => Some(vec![z.clone()]),
            None if !class.allowed_zones.is_empty() => Some(class.allowed_zones.clone()),
            None => None,
        }
    }

    /// A pod using `claims` is bound to a node in `zone`: bind its WaitForFirstConsumer claims
    /// that are still unbound there. Returns whether any claim changed.
    pub fn bind_first_consumer(&mut self, claims: &[ClaimId], zone: Option<&str>) -> bool {
        let mut changed = false;
        for &id in claims {
            let zonal = self.class_of(self.claim(id)).is_some_and(|c| c.zonal);
            let c = &mut self.claims[id.0 as usize];
            if c.bound {
                continue;
            }
            c.bound = true;
            if zonal {
                c.zone = zone.map(str::to_string);
            }
            changed = true;
        }
        changed
    }

    /// The template a pod of `base` that uses `claims` runs with: `base` when no claim
    /// constrains its zone, else `base` with the intersection of the claims' zones required.
    pub fn effective(&mut self, base: &Arc<PodTemplate>, claims: &[ClaimId]) -> Arc<PodTemplate> {
        let base = self.base_of(base);
        let mut zones: Option<Vec<String>> = None;
        for &id in claims {
            if let Some(z) = self.zones_of(id) {
                zones = Some(match zones {
                    None => z,
                    Some(prev) => prev.into_iter().filter(|p| z.contains(p)).collect(),
                });
            }
        }
        let Some(mut zones) = zones else {
            return base;
        };
        zones.sort();
        zones.dedup();
        if let Some((_, _, d)) = self
            .derived
            .iter()
            .find(|(b, z, _)| Arc::ptr_eq(b, &base) && *z == zones)
        {
            return Arc::clone(d);
        }
        let mut t = (*base).clone();
        // An empty set (claims in different zones) leaves the pod no node, as upstream.
        let req = Requirement::in_values(ZONE_KEY, zones.iter().map(String::as_str));
        if t.required_terms.is_empty() {
            t.required_terms.push(Requirements::new());
        }
        for term in &mut t.required_terms {
            term.add_requirement(req.clone());
        }
        t.volume_zones = Some(zones.clone());
        let d = Arc::new(t);
        self.derived
            .push((Arc::clone(&base), zones, Arc::clone(&d)));
        d
    }

    /// The template `t` was derived from, or `t` itself.
    fn base_of(&self, t: &Arc<PodTemplate>) -> Arc<PodTemplate> {
        self.derived
            .iter()
            .find(|(_, _, d)| Arc::ptr_eq(d, t))
            .map_or_else(|| Arc::clone(t), |(b, _, _)| Arc::clone(b))
    }
}
