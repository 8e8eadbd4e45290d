//! From a real Kubernetes pod template (`k8s-openapi` types) to the simulator's [`PodTemplate`].
//!
//! Effective requests follow Kubernetes: the larger of the largest init container and the sum
//! of app containers (restartable "sidecar" init containers add to the sum), plus pod overhead,
//! plus `pods: 1`. Errors name the field path so the loader can point at the line.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as api;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use thiserror::Error;

use crate::pod::{
    DURATION_ANNOTATION, HostPort, IMAGE_SIZE_ANNOTATION, Image, PodAffinityTerm, PodTemplate,
    PreemptionPolicy, TopologySpread, WhenUnsatisfiable,
};
use asim_core::k8s::duration::parse_duration;
use asim_core::k8s::quantity::parse_quantity;
use asim_core::k8s::requirements::Requirements;
use asim_core::k8s::resources::{self, Resources};
use asim_core::k8s::selector::LabelSelector;
use asim_core::k8s::taints::Toleration;

/// A problem in one field of a manifest; `field` is a dotted path from the pod template.
#[derive(Debug, Error, Clone, PartialEq)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
    /// The offending value as written, to locate its line in the source.
    pub value: Option<String>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
            value: None,
        }
    }

    fn with_value(mut self, v: &str) -> Self {
        self.value = Some(v.to_string());
        self
    }

    /// Prefix the field path (`spec.template.` + `spec.containers[0]…`).
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}{}", self.field);
        self
    }
}

/// A PriorityClass as pod templates read it: its value and its `preemptionPolicy` (the API
/// defaults the latter to `PreemptLowerPriority`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PriorityClass {
    pub value: i32,
    pub preemption_policy: PreemptionPolicy,
}

/// Well-known priority classes (the rest come from PriorityClass manifests).
pub fn builtin_priority(class: &str) -> Option<i32> {
    match class {
        "system-node-critical" => Some(2_000_001_000),
        "system-cluster-critical" => Some(2_000_000_000),
        _ => None,
    }
}

fn resource_list(
    list: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
    field: &str,
) -> Result<Resources, FieldError> {
    let mut r = Resources::default();
    for (name, q) in list.into_iter().flatten() {
        let f = format!("{field}.{name}");
        let parsed = parse_quantity(&q.0)
            .map_err(|e| FieldError::new(&f, e.to_string()).with_value(&q.0))?;
        if parsed.is_negative() {
            return Err(
                FieldError::new(&f, format!("must not be negative, got {:?}", q.0))
                    .with_value(&q.0),
            );
        }
        let v = if name == resources::CPU {
            parsed.to_milli_ceil()
        } else {
            parsed.to_units_ceil()
        };
        r.set(name, v);
    }
    Ok(r)
}

/// Requests of one container: `requests`, falling back to `limits` (as the API server defaults
/// requests from limits when only limits are set).
fn container_requests(c: &api::Container, field: &str) -> Result<Resources, FieldError> {
    let Some(res) = &c.resources else {
        return Ok(Resources::default());
    };
    let mut r = resource_list(res.limits.as_ref(), &format!("{field}.resources.limits"))?;
    let req = resource_list(
        res.requests.as_ref(),
        &format!("{field}.resources.requests"),
    )?;
    for (name, _) in res.requests.iter().flatten() {
        r.set(name, req.get(name));
    }
    Ok(r)
}

fn node_selector_terms(
    terms: &[api::NodeSelectorTerm],
    field: &str,
) -> Result<Vec<Requirements>, FieldError> {
    terms
        .iter()
        .enumerate()
        .map(|(i, t)| {
            // `Gte`/`Lte` are Karpenter's NodePool operators; the Kubernetes API refuses them in
            // a pod's node affinity (kubernetes: pkg/apis/core/validation/validation.go
            // `validateNodeSelectorRequirement`), so a pod using them never exists.
            for (j, e) in t.match_expressions.iter().flatten().enumerate() {
                if !matches!(
                    e.operator.as_str(),
                    "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt"
                ) {
                    return Err(FieldError::new(
                        format!("{field}[{i}].matchExpressions[{j}].operator"),
                        format!(
                            "Unsupported value: {:?}: supported values: \"DoesNotExist\", \"Exists\", \"Gt\", \"In\", \"Lt\", \"NotIn\"",
                            e.operator
                        ),
                    ));
                }
            }
            Requirements::from_node_selector_term(t).map_err(|e| {
                FieldError::new(format!("{field}[{i}].matchExpressions"), e.to_string())
            })
        })
        .collect()
}

fn affinity_term(
    t: &api::PodAffinityTerm,
    weight: i32,
    field: &str,
) -> Result<PodAffinityTerm, FieldError> {
    let selector = match &t.label_selector {
        Some(s) => LabelSelector::from_api(s)
            .map_err(|e| FieldError::new(format!("{field}.labelSelector"), e.to_string()))?,
        // A term without a selector matches no pods.
        None => LabelSelector {
            match_labels: BTreeMap::from([("autoscale-sim/matches-nothing".into(), "".into())]),
            match_expressions: Vec::new(),
        },
    };
    if t.namespaces.as_ref().is_some_and(|n| !n.is_empty()) || t.namespace_selector.is_some() {
        tracing::debug!(
            "{field}: namespaces/namespaceSelector are ignored (same namespace assumed)"
        );
    }
    Ok(PodAffinityTerm {
        selector,
        topology_key: t.topology_key.clone(),
        weight,
    })
}

/// The scenario's PriorityClasses: name → value and policy, and the one marked
/// `globalDefault`, whose value, name and policy the Priority admission plugin gives a pod
/// that names no class (kubernetes: `plugin/pkg/admission/priority/admission.go`).
#[derive(Clone, Debug, Default)]
pub struct PriorityClasses {
    pub values: BTreeMap<String, PriorityClass>,
    pub global_default: Option<String>,
}

/// Convert a pod template. `namespace` is the owning object's namespace.
pub fn pod_template_from_api(
    meta: Option<&ObjectMeta>,
    spec: &api::PodSpec,
    namespace: &str,
    priority_classes: &PriorityClasses,
) -> Result<PodTemplate, FieldError> {
    let labels = meta.and_then(|m| m.labels.clone()).unwrap_or_default();
    let annotations = meta.and_then(|m| m.annotations.clone()).unwrap_or_default();

    // Requests.
    let mut sum = Resources::default();
    for (i, c) in spec.containers.iter().enumerate() {
        sum.add(&container_requests(c, &format!("spec.containers[{i}]"))?);
    }
    let mut init_max = Resources::default();
    let mut sidecars = Resources::default();
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let r = container_requests(c, &format!("spec.initContainers[{i}]"))?;
        if c.restart_policy.as_deref() == Some("Always") {
            // A sidecar runs alongside the app containers and during later init containers.
            sidecars.add(&r);
        } else {
            let mut with_sidecars = r;
            with_sidecars.add(&sidecars);
            init_max.max_with(&with_sidecars);
        }
    }
    sum.add(&sidecars);
    sum.max_with(&init_max);
    if let Some(oh) = &spec.overhead {
        sum.add(&resource_list(Some(oh), "spec.overhead")?);
    }
    sum.pods = 1;

    // Node selection.
    let node_selector = spec.node_selector.clone().unwrap_or_default();
    let mut required_terms = Vec::new();
    let mut preferred_terms = Vec::new();
    let mut affinity = Vec::new();
    let mut anti_affinity = Vec::new();
    let mut preferred_affinity = Vec::new();
    let mut preferred_anti_affinity = Vec::new();
    if let Some(a) = &spec.affinity {
        if let Some(na) = &a.node_affinity {
            if let Some(req) = &na.required_during_scheduling_ignored_during_execution {
                required_terms = node_selector_terms(
                    &req.node_selector_terms,
                    "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms",
                )?;
            }
            for (i, p) in na
                .preferred_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
                .enumerate()
            {
                let f = format!(
                    "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[{i}].preference"
                );
                let mut terms = node_selector_terms(std::slice::from_ref(&p.preference), &f)?;
                if let Some(t) = terms.pop() {
                    preferred_terms.push((p.weight, t));
                }
            }
        }
        if let Some(pa) = &a.pod_affinity {
            for (i, t) in pa
                .required_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
                .enumerate()
            {
                affinity.push(affinity_term(
                    t,
                    0,
                    &format!("spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[{i}]"),
                )?);
            }
            for (i, w) in pa
                .preferred_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
                .enumerate()
            {
                preferred_affinity.push(affinity_term(
                    &w.pod_affinity_term,
                    w.weight,
                    &format!("spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[{i}]"),
                )?);
            }
        }
        if let Some(pa) = &a.pod_anti_affinity {
            for (i, t) in pa
                .required_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
                .enumerate()
            {
                anti_affinity.push(affinity_term(
                    t,
                    0,
                    &format!("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[{i}]"),
                )?);
            }
            for (i, w) in pa
                .preferred_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
                .enumerate()
            {
                preferred_anti_affinity.push(affinity_term(
                    &w.pod_affinity_term,
                    w.weight,
                    &format!("spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[{i}]"),
                )?);
            }
        }
    }

    let mut tolerations = Vec::new();
    for (i, t) in spec.tolerations.iter().flatten().enumerate() {
        tolerations.push(
            Toleration::try_from(t)
                .map_err(|e| FieldError::new(format!("spec.tolerations[{i}]"), e.to_string()))?,
        );
    }

    let mut spread = Vec::new();
    for (i, c) in spec
        .topology_spread_constraints
        .iter()
        .flatten()
        .enumerate()
    {
        let f = format!("spec.topologySpreadConstraints[{i}]");
        if c.max_skew < 1 {
            return Err(FieldError::new(
                format!("{f}.maxSkew"),
                format!("must be at least 1, got {}", c.max_skew),
            ));
        }
        let when = match c.when_unsatisfiable.as_str() {
            "DoNotSchedule" => WhenUnsatisfiable::DoNotSchedule,
            "ScheduleAnyway" => WhenUnsatisfiable::ScheduleAnyway,
            other => {
                return Err(FieldError::new(
                    format!("{f}.whenUnsatisfiable"),
                    format!("unknown value {other:?} (expected DoNotSchedule or ScheduleAnyway)"),
                )
                .with_value(other));
            }
        };
        let mut selector = match &c.label_selector {
            Some(s) => LabelSelector::from_api(s)
                .map_err(|e| FieldError::new(format!("{f}.labelSelector"), e.to_string()))?,
            None => LabelSelector::default(),
        };
        // matchLabelKeys: values taken from the pod's own labels.
        for key in c.match_label_keys.iter().flatten() {
            if let Some(v) = labels.get(key) {
                selector.match_labels.insert(key.clone(), v.clone());
            }
        }
        spread.push(TopologySpread {
            max_skew: c.max_skew as u32,
            topology_key: c.topology_key.clone(),
            when_unsatisfiable: when,
            selector,
            min_domains: c.min_domains.map(|m| m.max(1) as u32),
        });
    }

    let mut host_ports = Vec::new();
    let mut images = Vec::new();
    let image_size = match annotations.get(IMAGE_SIZE_ANNOTATION) {
        Some(s) => {
            let f = format!("metadata.annotations.{IMAGE_SIZE_ANNOTATION}");
            let q =
                parse_quantity(s).map_err(|e| FieldError::new(&f, e.to_string()).with_value(s))?;
            q.to_units_ceil().max(0) as u64
        }
        None => 0,
    };
    for c in &spec.containers {
        for p in c.ports.iter().flatten() {
            if let Some(hp) = p.host_port.filter(|hp| *hp > 0) {
                host_ports.push(HostPort {
                    port: hp,
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                });
            }
        }
        if let Some(img) = &c.image {
            images.push(Image {
                name: img.clone(),
                size: 0,
            });
        }
    }
    // The annotation gives the pod's total image size; charge it to the first image.
    if let Some(first) = images.first_mut() {
        first.size = image_size;
    } else if image_size > 0 {
        images.push(Image {
            name: "autoscale-sim/unnamed".into(),
            size: image_size,
        });
    }

    let duration_ms = match annotations.get(DURATION_ANNOTATION) {
        Some(s) => Some(parse_duration(s).map_err(|e| {
            FieldError::new(
                format!("metadata.annotations.{DURATION_ANNOTATION}"),
                e.to_string(),
            )
            .with_value(s)
        })?),
        None => None,
    };

    // A pod that names no class gets the globalDefault class (name, value and policy).
    let class_name = spec
        .priority_class_name
        .clone()
        .or_else(|| priority_classes.global_default.clone());
    let class = match &class_name {
        Some(pc) => match builtin_priority(pc)
            .map(|value| PriorityClass {
                value,
                preemption_policy: PreemptionPolicy::PreemptLowerPriority,
            })
            .or_else(|| priority_classes.values.get(pc).copied())
        {
            Some(c) => Some(c),
            None => {
                return Err(FieldError::new(
                    "spec.priorityClassName",
                    format!("no PriorityClass named {pc:?} (define one, or use system-cluster-critical / system-node-critical)"),
                )
                .with_value(pc));
            }
        },
        None => None,
    };
    let priority = spec.priority.or(class.map(|c| c.value)).unwrap_or(0);
    // The Priority admission plugin sets the pod's preemptionPolicy from its class and refuses
    // a pod that asks for another (kubernetes: plugin/pkg/admission/priority/admission.go).
    let own_policy = match &spec.preemption_policy {
        Some(s) => Some(PreemptionPolicy::parse(s).ok_or_else(|| {
            FieldError::new(
                "spec.preemptionPolicy",
                format!("must be PreemptLowerPriority or Never, got {s:?}"),
            )
            .with_value(s)
        })?),
        None => None,
    };
    let preemption_policy = match (class, own_policy) {
        (Some(c), Some(p)) if c.preemption_policy != p => {
            return Err(FieldError::new(
                "spec.preemptionPolicy",
                format!(
                    "{p:?} does not match the preemptionPolicy of PriorityClass {:?} ({:?})",
                    class_name.as_deref().unwrap_or_default(),
                    c.preemption_policy
                ),
            ));
        }
        (Some(c), _) => c.preemption_policy,
        (None, p) => p.unwrap_or_default(),
    };

    // Node-local volumes: hostPath, and emptyDir unless backed by memory (cluster-autoscaler:
    // `utils/drain/drain.go`, `isLocalVolume`).
    let local_volumes = spec
        .volumes
        .iter()
        .flatten()
        .filter(|v| {
            v.host_path.is_some()
                || v.empty_dir
                    .as_ref()
                    .is_some_and(|e| e.medium.as_deref() != Some("Memory"))
        })
        .map(|v| v.name.clone())
        .collect();
    let claims = spec
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.clone())
        .collect();

    Ok(PodTemplate {
        namespace: namespace.to_string(),
        labels,
        annotations,
        requests: sum,
        node_selector,
        required_terms,
        preferred_terms,
        tolerations,
        spread,
        affinity,
        anti_affinity,
        preferred_affinity,
        preferred_anti_affinity,
        host_ports,
        priority,
        priority_class_name: class_name,
        preemption_policy,
        termination_grace_ms: spec.termination_grace_period_seconds.unwrap_or(30).max(0) as u64
            * 1000,
        duration_ms,
        images,
        local_volumes,
        claims,
        volume_zones: None,
    })
}
