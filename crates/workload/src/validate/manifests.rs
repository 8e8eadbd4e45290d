//! The scenario's manifests, converted in file order: workloads (Deployment, StatefulSet,
//! DaemonSet, Job, Pod), PodDisruptionBudgets, Nodes, NodePools and EC2NodeClasses.
//! PriorityClasses are read first, because pod templates refer to them.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use asim_cluster::pod::PodTemplate;
use asim_cluster::pod_spec::{PriorityClasses, pod_template_from_api};
use asim_cluster::volume::ClaimSpec;
use asim_cluster::{IntOrPercent, Pdb};
use asim_cluster_autoscaler::scale_up::expander::PriorityRules;
use asim_core::k8s::selector::LabelSelector;
use asim_core::k8s::taints::Taint;
use asim_karpenter::apis::{ApiError, EC2NodeClass, NodePool};

use super::Doc;
use super::volumes::{Storage, claim_spec};
use crate::load::{LoadError, Manifest, Object, Source};
use crate::{NodeDef, Workload, WorkloadKind};

/// What the manifests define, in file order.
#[derive(Default)]
pub(super) struct Objects {
    pub(super) workloads: Vec<Workload>,
    pub(super) pdbs: Vec<Pdb>,
    pub(super) nodes: Vec<NodeDef>,
    pub(super) nodepools: Vec<(Source, NodePool)>,
    pub(super) nodeclasses: Vec<(Source, EC2NodeClass)>,
}

/// PriorityClass name → value and preemptionPolicy, and the `globalDefault` one; like the API
/// server, at most one class may be the global default.
pub(super) fn priority_classes(manifests: &[Manifest]) -> Result<PriorityClasses, LoadError> {
    let mut pcs = PriorityClasses::default();
    for m in manifests {
        if let Object::PriorityClass {
            name,
            class,
            global_default,
        } = &m.object
        {
            pcs.values.insert(name.clone(), *class);
            if *global_default {
                if let Some(prev) = &pcs.global_default {
                    return Err(m.error(
                        "globalDefault",
                        format!(
                            "PriorityClass {prev:?} is already marked as default; only one default can exist"
                        ),
                        Some("globalDefault"),
                    ));
                }
                pcs.global_default = Some(name.clone());
            }
        }
    }
    Ok(pcs)
}

/// The priority expander's rules from its ConfigMap (docs/model/cluster-autoscaler.md §3.4):
/// `data.priorities` is YAML, a map of integer priority → list of regexes over node-group names.
/// `other_source` names the other place rules were given (node groups' `priority`, the
/// `sim-priority-expander-config` flag), if any: giving both is an error, as one would be
/// silently dropped.
pub(super) fn priority_expander(
    manifests: &[Manifest],
    other_source: Option<&str>,
) -> Result<Option<BTreeMap<i32, Vec<String>>>, LoadError> {
    let Some((m, data)) = manifests.iter().find_map(|m| match &m.object {
        Object::PriorityExpanderConfig(data) => Some((m, data)),
        _ => None,
    }) else {
        return Ok(None);
    };
    if let Some(other) = other_source {
        return Err(m.error(
            "metadata.name",
            format!(
                "the priority expander's rules are given twice: by this ConfigMap and by {other}; keep one"
            ),
            Some(&m.name),
        ));
    }
    let Some(text) = data.get("priorities") else {
        return Err(m.error(
            "data",
            "no `priorities` key (a YAML map of integer priority → list of node-group name regexes)",
            None,
        ));
    };
    let rules: BTreeMap<i32, Vec<String>> = serde_saphyr::from_str(text).map_err(|e| {
        m.error(
            "data.priorities",
            format!("not a map of integer priority → list of regexes: {e}"),
            None,
        )
    })?;
    // Compile each rule now, so that a bad regex is reported here with its place.
    let mut check = PriorityRules::default();
    for (p, list) in &rules {
        check
            .add(*p, list)
            .map_err(|e| m.error("data.priorities", e.to_string(), None))?;
    }
    Ok(Some(rules))
}

/// `(kind, name)` of the objects created later: named by a timeline `apply`, a generator's
/// template or a trace's `podTemplate`, they do not exist at time zero. Checks that each timeline
/// `apply` and generator template names exactly one object.
pub(super) fn deferred(d: &Doc<'_>) -> Result<Vec<(String, String)>, LoadError> {
    let mut deferred: Vec<(String, String)> = Vec::new();
    for (i, step) in d.spec.timeline.iter().enumerate() {
        if let Some(r) = &step.apply {
            let (kind, name) = r
                .single()
                .map_err(|m| d.err(&format!("spec.timeline[{i}].apply"), m))?;
            deferred.push((kind.to_string(), name.to_string()));
        }
    }
    for (i, g) in d.spec.generators.iter().enumerate() {
        let (kind, name) = g
            .poisson
            .template
            .single()
            .map_err(|m| d.err(&format!("spec.generators[{i}].poisson.template"), m))?;
        deferred.push((kind.to_string(), name.to_string()));
    }
    for t in &d.spec.traces {
        if let Some(p) = &t.pod_template {
            deferred.push(("Pod".into(), p.clone()));
        }
    }
    Ok(deferred)
}

/// Every manifest, in file order: no two objects of one kind share a namespace and name, and
/// each converts (a workload's counts and pod template, a PDB, a Node; a NodePool or
/// EC2NodeClass follows the API's rules and is one the simulator supports). A manifest's own
/// errors come before a later manifest's duplicate.
pub(super) fn convert(
    manifests: &[Manifest],
    priority_classes: &PriorityClasses,
    storage: &Storage,
    deferred: &[(String, String)],
) -> Result<Objects, LoadError> {
    let mut objects = Objects::default();
    let mut seen: BTreeMap<(String, String, String), Source> = BTreeMap::new();
    for m in manifests {
        let key = (
            m.object.kind().to_string(),
            m.namespace.clone(),
            m.name.clone(),
        );
        if let Some(prev) = seen.insert(key, m.source.clone()) {
            return Err(m.error(
                "metadata.name",
                format!(
                    "duplicate {} {:?} (first defined at {}:{})",
                    m.object.kind(),
                    m.name,
                    prev.file.display(),
                    prev.line
                ),
                Some(&m.name),
            ));
        }
        let at_start = !deferred
            .iter()
            .any(|(k, n)| k == m.object.kind() && n == &m.name);
        match &m.object {
            Object::Deployment(_)
            | Object::StatefulSet(_)
            | Object::DaemonSet(_)
            | Object::Job(_)
            | Object::Pod(_) => {
                let (kind, template, claim_templates) = workload(m, priority_classes, storage)?;
                objects.workloads.push(Workload {
                    name: m.name.clone(),
                    namespace: m.namespace.clone(),
                    kind,
                    template,
                    claim_templates,
                    at_start,
                    source: m.source.clone(),
                });
            }
            Object::Pdb(p) => objects.pdbs.push(pdb(m, p)?),
            Object::Node(n) => objects.nodes.push(node_def(m, n)?),
            Object::NodePool(np) => {
                np.validate().map_err(|e| api_error(m, &e))?;
                unsupported_nodepool(m, np)?;
                objects.nodepools.push((m.source.clone(), (**np).clone()));
            }
            Object::NodeClass(nc) => {
                nc.validate().map_err(|e| api_error(m, &e))?;
                unsupported_nodeclass(m, nc)?;
                objects.nodeclasses.push((m.source.clone(), (**nc).clone()));
            }
            // HorizontalPodAutoscalers are converted once the workloads are known (validate/hpa.rs).
            Object::PriorityClass { .. }
            | Object::PriorityExpanderConfig(_)
            | Object::Pvc(_)
            | Object::StorageClass(_)
            | Object::Hpa(_) => {}
        }
    }
    Ok(objects)
}

/// A workload manifest's kind with its counts (replicas, completions, parallelism: default 1,
/// not negative), its pod template (`spec.template`, or the Pod itself), converted, whose
/// PersistentVolumeClaims must exist in its namespace, and a StatefulSet's
/// `volumeClaimTemplates`; checked in that order.
#[allow(clippy::type_complexity)]
fn workload(
    m: &Manifest,
    priority_classes: &PriorityClasses,
    storage: &Storage,
) -> Result<(WorkloadKind, Arc<PodTemplate>, Vec<ClaimSpec>), LoadError> {
    let conv = |meta: Option<&ObjectMeta>, spec: &PodSpec, prefix: &str| {
        let t = pod_template_from_api(meta, spec, &m.namespace, priority_classes)
            .map(Arc::new)
            .map_err(|e| {
                let v = e.value.clone();
                m.error(&format!("{prefix}{}", e.field), e.message, v.as_deref())
            })?;
        for (i, v) in spec.volumes.iter().flatten().enumerate() {
            if let Some(c) = &v.persistent_volume_claim
                && !storage.has_claim(&m.namespace, &c.claim_name)
            {
                return Err(m.error(
                    &format!("{prefix}spec.volumes[{i}].persistentVolumeClaim.claimName"),
                    format!(
                        "no PersistentVolumeClaim named {:?} in namespace {:?} (define one in the scenario's manifests)",
                        c.claim_name, m.namespace
                    ),
                    Some(&c.claim_name),
                ));
            }
        }
        Ok(t)
    };
    let count = |r: Option<i32>, field: &str| -> Result<u32, LoadError> {
        let r = r.unwrap_or(1);
        u32::try_from(r).map_err(|_| {
            m.error(
                field,
                format!("must not be negative, got {r}"),
                Some(&r.to_string()),
            )
        })
    };
    let missing = |field: &str| m.error(field, "missing", None);
    // The pod template of a controller (`spec.template`), converted.
    let template_of = |t: &PodTemplateSpec| {
        let spec = t
            .spec
            .as_ref()
            .ok_or_else(|| missing("spec.template.spec"))?;
        conv(t.metadata.as_ref(), spec, "spec.template.")
    };
    let (kind, template) = match &m.object {
        Object::Deployment(d) => {
            let s = d.spec.as_ref().ok_or_else(|| missing("spec"))?;
            let replicas = count(s.replicas, "spec.replicas")?;
            let tpl = template_of(&s.template)?;
            (WorkloadKind::Deployment { replicas }, tpl)
        }
        Object::StatefulSet(d) => {
            let s = d.spec.as_ref().ok_or_else(|| missing("spec"))?;
            let replicas = count(s.replicas, "spec.replicas")?;
            let tpl = template_of(&s.template)?;
            let mut claims = Vec::new();
            for (i, c) in s.volume_claim_templates.iter().flatten().enumerate() {
                if c.metadata.name.as_deref().is_none_or(str::is_empty) {
                    return Err(missing(&format!(
                        "spec.volumeClaimTemplates[{i}].metadata.name"
                    )));
                }
                claims.push(claim_spec(
                    storage,
                    m,
                    c,
                    &format!("spec.volumeClaimTemplates[{i}].spec.storageClassName"),
                )?);
            }
            return Ok((WorkloadKind::StatefulSet { replicas }, tpl, claims));
        }
        Object::DaemonSet(d) => {
            let s = d.spec.as_ref().ok_or_else(|| missing("spec"))?;
            (WorkloadKind::DaemonSet, template_of(&s.template)?)
        }
        Object::Job(j) => {
            let s = j.spec.as_ref().ok_or_else(|| missing("spec"))?;
            let completions = count(s.completions, "spec.completions")?;
            let parallelism = count(s.parallelism, "spec.parallelism")?;
            let tpl = template_of(&s.template)?;
            (
                WorkloadKind::Job {
                    completions,
                    parallelism,
                },
                tpl,
            )
        }
        Object::Pod(p) => {
            let s = p.spec.as_ref().ok_or_else(|| missing("spec"))?;
            (WorkloadKind::Pod, conv(Some(&p.metadata), s, "")?)
        }
        other => unreachable!("{} is not a workload", other.kind()),
    };
    Ok((kind, template, Vec::new()))
}

/// A PodDisruptionBudget: a valid selector (none selects every pod), and at most one of
/// minAvailable / maxUnavailable, each a non-negative integer or a percentage up to 100%.
fn pdb(
    m: &Manifest,
    p: &k8s_openapi::api::policy::v1::PodDisruptionBudget,
) -> Result<Pdb, LoadError> {
    let s = p
        .spec
        .as_ref()
        .ok_or_else(|| m.error("spec", "missing", None))?;
    let selector = match &s.selector {
        Some(sel) => LabelSelector::from_api(sel)
            .map_err(|e| m.error("spec.selector", e.to_string(), None))?,
        None => LabelSelector::default(),
    };
    let min_available = int_or_percent(m, &s.min_available, "spec.minAvailable")?;
    let max_unavailable = int_or_percent(m, &s.max_unavailable, "spec.maxUnavailable")?;
    if min_available.is_some() && max_unavailable.is_some() {
        return Err(m.error(
            "spec",
            "minAvailable and maxUnavailable are mutually exclusive",
            None,
        ));
    }
    Ok(Pdb {
        name: m.name.clone(),
        namespace: m.namespace.clone(),
        selector,
        min_available,
        max_unavailable,
    })
}

/// A PDB's minAvailable / maxUnavailable: a non-negative integer or `N%` with N ≤ 100.
fn int_or_percent(
    m: &Manifest,
    v: &Option<IntOrString>,
    field: &str,
) -> Result<Option<IntOrPercent>, LoadError> {
    match v {
        None => Ok(None),
        Some(IntOrString::Int(n)) if *n >= 0 => Ok(Some(IntOrPercent::Int(i64::from(*n)))),
        Some(IntOrString::String(s)) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<u32>().ok())
            .filter(|p| *p <= 100)
            .map(|p| Some(IntOrPercent::Percent(p)))
            .ok_or_else(|| {
                m.error(
                    field,
                    format!("expected a non-negative integer or a percentage like 10%, got {s:?}"),
                    Some(s),
                )
            }),
        Some(IntOrString::Int(n)) => {
            Err(m.error(field, format!("must not be negative, got {n}"), None))
        }
    }
}

/// A pre-existing Node: capacity and allocatable quantities parse (allocatable defaults to
/// capacity, and must have cpu; pods default to 110), taints parse, and the hostname label
/// defaults to the node's name.
fn node_def(m: &Manifest, n: &k8s_openapi::api::core::v1::Node) -> Result<NodeDef, LoadError> {
    use asim_core::k8s::quantity::parse_quantity;
    use asim_core::k8s::resources::Resources;
    let status = n.status.as_ref();
    let list =
        |l: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
         field: &str|
         -> Result<Resources, LoadError> {
            let mut r = Resources::default();
            for (k, q) in l.into_iter().flatten() {
                let v = parse_quantity(&q.0)
                    .map_err(|e| m.error(&format!("{field}.{k}"), e.to_string(), Some(&q.0)))?;
                r.set(
                    k,
                    if k == "cpu" {
                        v.to_milli_ceil()
                    } else {
                        v.to_units_ceil()
                    },
                );
            }
            Ok(r)
        };
    let capacity = list(status.and_then(|s| s.capacity.as_ref()), "status.capacity")?;
    let mut allocatable = list(
        status.and_then(|s| s.allocatable.as_ref()),
        "status.allocatable",
    )?;
    if allocatable.is_zero() {
        allocatable = capacity.clone();
    }
    if allocatable.cpu_m == 0 {
        return Err(m.error(
            "status.allocatable.cpu",
            "a Node manifest needs status.capacity or status.allocatable with cpu and memory",
            None,
        ));
    }
    if allocatable.pods == 0 {
        allocatable.pods = 110;
    }
    let mut taints = Vec::new();
    for (i, t) in n
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        taints.push(
            Taint::try_from(t)
                .map_err(|e| m.error(&format!("spec.taints[{i}]"), e.to_string(), None))?,
        );
    }
    let mut labels = n.metadata.labels.clone().unwrap_or_default();
    labels
        .entry("kubernetes.io/hostname".into())
        .or_insert_with(|| m.name.clone());
    Ok(NodeDef {
        name: m.name.clone(),
        labels,
        taints,
        capacity,
        allocatable,
    })
}

/// A valid NodePool the simulator cannot run faithfully is refused, never accepted and
/// ignored: static NodePools (`spec.replicas`, Karpenter's alpha `StaticCapacity` gate) keep a
/// fixed count of nodes outside provisioning and disruption, which is not modelled.
pub(super) fn unsupported_nodepool(m: &Manifest, np: &NodePool) -> Result<(), LoadError> {
    if np.is_static() {
        return Err(m.error(
            "spec.replicas",
            "static NodePools (spec.replicas, the StaticCapacity feature gate) are not simulated; \
             remove spec.replicas, or give the fixed nodes as spec.staticNodes of the Scenario",
            None,
        ));
    }
    Ok(())
}

/// Windows AMI families need Windows prices (license included) and Windows node overheads,
/// which the catalog does not carry: refused rather than priced and sized as Linux.
fn unsupported_nodeclass(m: &Manifest, nc: &EC2NodeClass) -> Result<(), LoadError> {
    use asim_karpenter::apis::AmiFamily as F;
    let family = nc.effective_ami_family();
    if matches!(family, F::Windows2019 | F::Windows2022 | F::Windows2025) {
        let field = if nc.spec.ami_family.is_some() {
            "spec.amiFamily"
        } else {
            "spec.amiSelectorTerms"
        };
        return Err(m.error(
            field,
            format!(
                "{} is not simulated: the catalog has no Windows prices or Windows node overheads \
                 (use al2023, al2 or bottlerocket)",
                family.as_str()
            ),
            None,
        ));
    }
    Ok(())
}

/// A NodePool / EC2NodeClass that breaks the API's rules: located at its first violation; the
/// message lists them all.
pub(super) fn api_error(m: &Manifest, e: &ApiError) -> LoadError {
    match e.violations.split_first() {
        Some((first, rest)) => {
            let mut msg = first.message.clone();
            if !rest.is_empty() {
                let others: Vec<String> = rest.iter().map(ToString::to_string).collect();
                msg.push_str(&format!(" (also: {})", others.join("; ")));
            }
            m.error(&first.field, msg, None)
        }
        None => m.error("spec", e.to_string(), None),
    }
}
