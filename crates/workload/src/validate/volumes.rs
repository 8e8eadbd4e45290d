//! StorageClasses and PersistentVolumeClaims (docs/model/scheduler.md §3), read before the
//! workloads that mount them: a class's binding mode, whether its volumes are zonal and its
//! allowed zones; each claim's class, resolved (the default class filled in). A claim that names
//! no class that exists, or a workload that mounts a claim that does not exist, is an error here
//! rather than a pod pending forever.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::storage::v1::StorageClass as ApiStorageClass;

use asim_cluster::volume::{
    ClaimSpec, StorageClass, VolumeBindingMode, ZONAL_PROVISIONERS, ZONE_TOPOLOGY_KEYS,
};

use crate::load::{LoadError, Manifest, Object};

/// The annotation that marks the cluster's default StorageClass.
pub(super) const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";

/// What the StorageClass and PersistentVolumeClaim manifests define.
#[derive(Default)]
pub(super) struct Storage {
    pub(super) classes: Vec<StorageClass>,
    /// The class marked default, given to claims that name none.
    pub(super) default_class: Option<String>,
    /// Standalone claims, in file order: (namespace, spec).
    pub(super) claims: Vec<(String, ClaimSpec)>,
}

impl Storage {
    /// Does a standalone claim `name` exist in `namespace`?
    pub(super) fn has_claim(&self, namespace: &str, name: &str) -> bool {
        self.claims
            .iter()
            .any(|(ns, c)| ns == namespace && c.name == name)
    }

    /// The class a claim gets: `storageClassName` as written (`""`: none, a pre-provisioned
    /// volume), or the default class when it is absent. `field` locates the errors.
    pub(super) fn resolve_class(
        &self,
        m: &Manifest,
        class: Option<&str>,
        field: &str,
    ) -> Result<Option<String>, LoadError> {
        match class {
            Some("") => Ok(None),
            Some(name) => {
                if self.classes.iter().any(|c| c.name == name) {
                    Ok(Some(name.to_string()))
                } else {
                    Err(m.error(
                        field,
                        format!("no StorageClass named {name:?} (define one in the scenario's manifests)"),
                        Some(name),
                    ))
                }
            }
            None => self.default_class.clone().map(Some).ok_or_else(|| {
                m.error(
                    field,
                    format!(
                        "no storageClassName and no default StorageClass (name one, or annotate a StorageClass with {DEFAULT_CLASS_ANNOTATION}: \"true\")"
                    ),
                    None,
                )
            }),
        }
    }
}

/// StorageClasses first (claims name them), then the standalone PersistentVolumeClaims.
pub(super) fn storage(manifests: &[Manifest], zones: &[String]) -> Result<Storage, LoadError> {
    let mut s = Storage::default();
    for m in manifests {
        if let Object::StorageClass(sc) = &m.object {
            let class = storage_class(m, sc, zones)?;
            let is_default = sc
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
                .is_some_and(|v| v == "true");
            if is_default {
                if let Some(prev) = &s.default_class {
                    return Err(m.error(
                        &format!("metadata.annotations.{DEFAULT_CLASS_ANNOTATION}"),
                        format!(
                            "StorageClass {prev:?} is already the default; mark one class only"
                        ),
                        Some(DEFAULT_CLASS_ANNOTATION),
                    ));
                }
                s.default_class = Some(class.name.clone());
            }
            s.classes.push(class);
        }
    }
    for m in manifests {
        if let Object::Pvc(pvc) = &m.object {
            let spec = claim_spec(&s, m, pvc, "spec.storageClassName")?;
            s.claims.push((m.namespace.clone(), spec));
        }
    }
    Ok(s)
}

/// A claim's spec: its name and its resolved class.
pub(super) fn claim_spec(
    s: &Storage,
    m: &Manifest,
    pvc: &PersistentVolumeClaim,
    field: &str,
) -> Result<ClaimSpec, LoadError> {
    let class = pvc
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref());
    Ok(ClaimSpec {
        name: pvc.metadata.name.clone().unwrap_or_else(|| m.name.clone()),
        storage_class: s.resolve_class(m, class, field)?,
    })
}

fn storage_class(
    m: &Manifest,
    sc: &ApiStorageClass,
    zones: &[String],
) -> Result<StorageClass, LoadError> {
    let binding_mode = match sc.volume_binding_mode.as_deref() {
        None => VolumeBindingMode::Immediate,
        Some(v) => VolumeBindingMode::parse(v).ok_or_else(|| {
            m.error(
                "volumeBindingMode",
                format!("must be Immediate or WaitForFirstConsumer, got {v:?}"),
                Some(v),
            )
        })?,
    };
    let mut allowed: BTreeMap<String, ()> = BTreeMap::new();
    for (i, term) in sc.allowed_topologies.iter().flatten().enumerate() {
        for (j, e) in term.match_label_expressions.iter().flatten().enumerate() {
            let f = format!("allowedTopologies[{i}].matchLabelExpressions[{j}]");
            if !ZONE_TOPOLOGY_KEYS.contains(&e.key.as_str()) {
                return Err(m.error(
                    &format!("{f}.key"),
                    format!(
                        "{:?} is not simulated: only zone keys ({}) constrain where volumes go",
                        e.key,
                        ZONE_TOPOLOGY_KEYS.join(", ")
                    ),
                    Some(&e.key),
                ));
            }
            for v in &e.values {
                if !zones.contains(v) {
                    return Err(m.error(
                        &format!("{f}.values"),
                        format!(
                            "zone {v:?} is not one of the scenario's zones ({})",
                            zones.join(", ")
                        ),
                        Some(v),
                    ));
                }
                allowed.insert(v.clone(), ());
            }
        }
    }
    Ok(StorageClass {
        name: m.name.clone(),
        binding_mode,
        zonal: ZONAL_PROVISIONERS.contains(&sc.provisioner.as_str()),
        allowed_zones: allowed.into_keys().collect(),
    })
}
