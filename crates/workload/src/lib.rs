//! The workload side of a scenario: the scenario file, its manifests, the timeline, generators
//! and traces, validated into a [`Scenario`] the simulation can run (docs/design.md §4).

pub mod load;
pub mod scenario;
pub mod set;
pub mod traces;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use asim_cluster::autoscaler::ConfigChange;
use asim_cluster::pod::PodTemplate;
use asim_cluster::pod_spec::pod_template_from_api;
use asim_cluster::{IntOrPercent, Pdb};
use asim_cluster_autoscaler::ClusterAutoscalerConfig;
use asim_core::catalog::Catalog;
use asim_core::k8s::selector::LabelSelector;
use asim_core::k8s::taints::Taint;
use asim_karpenter::KarpenterConfig;
use asim_karpenter::apis::{EC2NodeClass, NodePool};
use asim_karpenter::config::{self as karpenter_config, Change as KarpenterChange};
use asim_report::view::Step;

pub use asim_report::expect::Threshold;
pub use load::{LoadError, Manifest, Object, Source};
pub use scenario::{AutoscalerKind, DurationDist, ScenarioSpec};
use scenario::{ObjectRef, TimelineStep};
pub use traces::TraceJob;

/// What kind of controller a workload manifest is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkloadKind {
    Deployment { replicas: u32 },
    StatefulSet { replicas: u32 },
    Job { completions: u32, parallelism: u32 },
    Pod,
    DaemonSet,
}

impl WorkloadKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            WorkloadKind::Deployment { .. } => "Deployment",
            WorkloadKind::StatefulSet { .. } => "StatefulSet",
            WorkloadKind::Job { .. } => "Job",
            WorkloadKind::Pod => "Pod",
            WorkloadKind::DaemonSet => "DaemonSet",
        }
    }
}

/// A workload manifest, converted.
#[derive(Clone, Debug)]
pub struct Workload {
    pub name: String,
    pub namespace: String,
    pub kind: WorkloadKind,
    pub template: Arc<PodTemplate>,
    /// Exists at time zero (not named by a timeline `apply`, a generator or a trace).
    pub at_start: bool,
    pub source: Source,
}

/// A pre-existing `v1` Node manifest (unmanaged capacity).
#[derive(Clone, Debug)]
pub struct NodeDef {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub capacity: asim_core::k8s::resources::Resources,
    pub allocatable: asim_core::k8s::resources::Resources,
}

#[derive(Clone, Debug)]
pub enum Action {
    /// Set replicas (Deployment/StatefulSet) or parallelism (Job) of workload `index`.
    Scale { workload: usize, replicas: u32 },
    /// Create workload `index` (a fresh copy of a Job, numbered by `occurrence`).
    Apply { workload: usize, occurrence: u32 },
    /// Delete workload `index` and its pods.
    Delete { workload: usize },
    /// Change the autoscaler's own configuration (Karpenter: an EC2NodeClass's AMI, NodePools
    /// applied from a file). Handed to the autoscaler unopened; the others ignore it.
    Configure(ConfigChange),
}

#[derive(Clone, Debug)]
pub struct TimedAction {
    pub at_ms: u64,
    pub action: Action,
}

#[derive(Clone, Debug)]
pub struct GeneratorDef {
    pub name: String,
    /// Mean arrivals per millisecond.
    pub rate_per_ms: f64,
    pub template: Arc<PodTemplate>,
    pub duration: Option<DurationDist>,
    pub from_ms: u64,
    pub until_ms: u64,
}

#[derive(Clone, Debug)]
pub struct TraceDef {
    pub name: String,
    pub jobs: Vec<TraceJob>,
    /// Scheduling fields (tolerations, selectors…) every trace pod gets.
    pub base: Arc<PodTemplate>,
}

/// A validated scenario.
pub struct Scenario {
    pub name: String,
    pub file: PathBuf,
    pub seed: u64,
    pub duration_ms: u64,
    pub region: String,
    pub zones: Vec<String>,
    pub catalog: Arc<Catalog>,
    pub default_autoscaler: AutoscalerKind,
    pub spec: ScenarioSpec,
    pub workloads: Vec<Workload>,
    pub pdbs: Vec<Pdb>,
    pub nodes: Vec<NodeDef>,
    pub nodepools: Vec<(Source, NodePool)>,
    pub nodeclasses: Vec<(Source, EC2NodeClass)>,
    pub timeline: Vec<TimedAction>,
    pub generators: Vec<GeneratorDef>,
    pub traces: Vec<TraceDef>,
    pub expect: BTreeMap<String, BTreeMap<String, Threshold>>,
    /// Karpenter's configuration, checked at load (used when Karpenter runs).
    pub karpenter: KarpenterConfig,
    /// cluster-autoscaler's configuration, checked at load (used when it runs).
    pub cluster_autoscaler: ClusterAutoscalerConfig,
}

const DEFAULT_REGION: &str = "us-east-1";

fn region_zones(region: &str) -> Vec<String> {
    ["a", "b", "c"]
        .iter()
        .map(|s| format!("{region}{s}"))
        .collect()
}

/// Map-valued report sections whose entries `expect` may name (`nodes.by_instance_type.m5.large`).
const EXPECT_PREFIXES: &[&str] = &[
    "nodes.by_instance_type.",
    "nodes.by_capacity_type.",
    "nodes.by_zone.",
];

/// May `expect` name this report key: a numeric leaf of report.json, or an entry of one of its
/// maps? The leaves come from the report itself, so a new key is usable at once.
pub fn is_known_expect_key(key: &str) -> bool {
    asim_report::numeric_keys().contains(key)
        || EXPECT_PREFIXES
            .iter()
            .any(|p| key.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
}

impl Scenario {
    /// Read, parse and validate a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, LoadError> {
        let raw = load::read_scenario(path)?;
        Self::from_raw(raw)
    }

    /// [`Scenario::load`] with `compare --variant` manifests and `--set` overrides applied to
    /// the parsed documents before validation.
    pub fn load_with(path: &Path, opts: &set::LoadOptions) -> Result<Scenario, LoadError> {
        let raw = set::apply(load::read_scenario(path)?, opts)?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: load::RawScenario) -> Result<Scenario, LoadError> {
        let load::RawScenario {
            doc,
            source,
            text,
            manifests,
        } = raw;
        let spec = doc.spec;
        let err = |field: &str, msg: String| {
            let line = load::field_line(source.line, &text, field);
            LoadError::new(&source.file, Some(line), Some(field), msg)
        };
        let duration_ms = spec.duration.0;
        if duration_ms == 0 {
            return Err(err("spec.duration", "must be positive".into()));
        }
        let region = spec
            .region
            .clone()
            .unwrap_or_else(|| DEFAULT_REGION.to_string());
        let zones = spec.zones.clone().unwrap_or_else(|| region_zones(&region));
        if zones.is_empty() {
            return Err(err("spec.zones", "must list at least one zone".into()));
        }
        for z in &zones {
            if !z.starts_with(&region) {
                return Err(err(
                    "spec.zones",
                    format!("zone {z:?} is not in region {region:?}"),
                ));
            }
        }
        let base_dir = source.file.parent().unwrap_or(Path::new(".")).to_path_buf();
        let catalog = match &spec.catalog {
            Some(dir) => Catalog::load_dir(&base_dir.join(dir)),
            None => Catalog::for_region(&region, None),
        }
        .map_err(|e| {
            err(
                if spec.catalog.is_some() {
                    "spec.catalog"
                } else {
                    "spec.region"
                },
                e.to_string(),
            )
        })?;
        let catalog = Arc::new(catalog);

        // Priority classes first: pod templates refer to them.
        let mut priority_classes = BTreeMap::new();
        for m in &manifests {
            if let Object::PriorityClass { name, value } = &m.object {
                priority_classes.insert(name.clone(), *value);
            }
        }

        // Names referenced by the timeline, generators and traces do not exist at time zero.
        let mut deferred: Vec<(String, String)> = Vec::new();
        for (i, step) in spec.timeline.iter().enumerate() {
            if let Some(r) = &step.apply {
                let (kind, name) = r
                    .single()
                    .map_err(|m| err(&format!("spec.timeline[{i}].apply"), m))?;
                deferred.push((kind.to_string(), name.to_string()));
            }
        }
        for (i, g) in spec.generators.iter().enumerate() {
            let (kind, name) = g
                .poisson
                .template
                .single()
                .map_err(|m| err(&format!("spec.generators[{i}].poisson.template"), m))?;
            deferred.push((kind.to_string(), name.to_string()));
        }
        for t in &spec.traces {
            if let Some(p) = &t.pod_template {
                deferred.push(("Pod".into(), p.clone()));
            }
        }

        let mut workloads = Vec::new();
        let mut pdbs = Vec::new();
        let mut nodes = Vec::new();
        let mut nodepools = Vec::new();
        let mut nodeclasses = Vec::new();
        let mut seen: BTreeMap<(String, String, String), Source> = BTreeMap::new();
        for m in &manifests {
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
            let conv =
                |meta: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
                 spec: &k8s_openapi::api::core::v1::PodSpec,
                 prefix: &str| {
                    pod_template_from_api(meta, spec, &m.namespace, &priority_classes)
                        .map(Arc::new)
                        .map_err(|e| {
                            let v = e.value.clone();
                            m.error(&format!("{prefix}{}", e.field), e.message, v.as_deref())
                        })
                };
            let replicas = |r: Option<i32>, field: &str| -> Result<u32, LoadError> {
                let r = r.unwrap_or(1);
                u32::try_from(r).map_err(|_| {
                    m.error(
                        field,
                        format!("must not be negative, got {r}"),
                        Some(&r.to_string()),
                    )
                })
            };
            let push = |workloads: &mut Vec<Workload>, kind, template| {
                workloads.push(Workload {
                    name: m.name.clone(),
                    namespace: m.namespace.clone(),
                    kind,
                    template,
                    at_start,
                    source: m.source.clone(),
                })
            };
            let missing = |field: &str| m.error(field, "missing", None);
            // The pod template of a controller (`spec.template`), converted.
            let template_of = |t: &k8s_openapi::api::core::v1::PodTemplateSpec| {
                let spec = t
                    .spec
                    .as_ref()
                    .ok_or_else(|| missing("spec.template.spec"))?;
                conv(t.metadata.as_ref(), spec, "spec.template.")
            };
            match &m.object {
                Object::Deployment(d) => {
                    let s = d.spec.as_ref().ok_or_else(|| missing("spec"))?;
                    let replicas = replicas(s.replicas, "spec.replicas")?;
                    let tpl = template_of(&s.template)?;
                    push(&mut workloads, WorkloadKind::Deployment { replicas }, tpl);
                }
                Object::StatefulSet(d) => {
                    let s = d.spec.as_ref().ok_or_else(|| missing("spec"))?;
                    let replicas = replicas(s.replicas, "spec.replicas")?;
                    let tpl = template_of(&s.template)?;
                    push(&mut workloads, WorkloadKind::StatefulSet { replicas }, tpl);
                }
                Object::DaemonSet(d) => {
                    let s = d.spec.as_ref().ok_or_else(|| missing("spec"))?;
                    push(
                        &mut workloads,
                        WorkloadKind::DaemonSet,
                        template_of(&s.template)?,
                    );
                }
                Object::Job(j) => {
                    let s = j.spec.as_ref().ok_or_else(|| missing("spec"))?;
                    let completions = replicas(s.completions, "spec.completions")?;
                    let parallelism = replicas(s.parallelism, "spec.parallelism")?;
                    let tpl = template_of(&s.template)?;
                    push(
                        &mut workloads,
                        WorkloadKind::Job {
                            completions,
                            parallelism,
                        },
                        tpl,
                    );
                }
                Object::Pod(p) => {
                    let s = p
                        .spec
                        .as_ref()
                        .ok_or_else(|| m.error("spec", "missing", None))?;
                    let tpl = conv(Some(&p.metadata), s, "")?;
                    push(&mut workloads, WorkloadKind::Pod, tpl);
                }
                Object::Pdb(p) => {
                    let s = p
                        .spec
                        .as_ref()
                        .ok_or_else(|| m.error("spec", "missing", None))?;
                    let selector = match &s.selector {
                        Some(sel) => LabelSelector::from_api(sel)
                            .map_err(|e| m.error("spec.selector", e.to_string(), None))?,
                        None => LabelSelector::default(),
                    };
                    let iop = |v: &Option<
                        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString,
                    >,
                               field: &str|
                     -> Result<Option<IntOrPercent>, LoadError> {
                        use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
                        match v {
                            None => Ok(None),
                            Some(IntOrString::Int(n)) if *n >= 0 => Ok(Some(IntOrPercent::Int(i64::from(*n)))),
                            Some(IntOrString::String(s)) => s
                                .strip_suffix('%')
                                .and_then(|p| p.parse::<u32>().ok())
                                .filter(|p| *p <= 100)
                                .map(|p| Some(IntOrPercent::Percent(p)))
                                .ok_or_else(|| m.error(field, format!("expected a non-negative integer or a percentage like 10%, got {s:?}"), Some(s))),
                            Some(IntOrString::Int(n)) => Err(m.error(field, format!("must not be negative, got {n}"), None)),
                        }
                    };
                    let min_available = iop(&s.min_available, "spec.minAvailable")?;
                    let max_unavailable = iop(&s.max_unavailable, "spec.maxUnavailable")?;
                    if min_available.is_some() && max_unavailable.is_some() {
                        return Err(m.error(
                            "spec",
                            "minAvailable and maxUnavailable are mutually exclusive",
                            None,
                        ));
                    }
                    pdbs.push(Pdb {
                        name: m.name.clone(),
                        namespace: m.namespace.clone(),
                        selector,
                        min_available,
                        max_unavailable,
                    });
                }
                Object::Node(n) => nodes.push(node_def(m, n)?),
                Object::NodePool(np) => {
                    np.validate().map_err(|e| api_error(m, &e))?;
                    unsupported_nodepool(m, np)?;
                    nodepools.push((m.source.clone(), (**np).clone()));
                }
                Object::NodeClass(nc) => {
                    nc.validate().map_err(|e| api_error(m, &e))?;
                    unsupported_nodeclass(m, nc)?;
                    nodeclasses.push((m.source.clone(), (**nc).clone()));
                }
                Object::PriorityClass { .. } => {}
            }
        }

        let find = |r: &ObjectRef, field: &str| -> Result<usize, LoadError> {
            let (kind, name) = r.single().map_err(|m| err(field, m))?;
            workloads
                .iter()
                .position(|w| w.kind.as_str() == kind && w.name == name)
                .ok_or_else(|| {
                    // The reference's keys are the kinds in lower case (`{deployment: web}`).
                    err(
                        &format!("{field}.{}", kind.to_lowercase()),
                        format!("no {kind} named {name:?} in the scenario's manifests"),
                    )
                })
        };

        // Timeline.
        let mut timeline = Vec::new();
        for (i, step) in spec.timeline.iter().enumerate() {
            let f = format!("spec.timeline[{i}]");
            let times = step_times(step, duration_ms).map_err(|m| err(&f, m))?;
            let actions = [
                step.scale.is_some(),
                step.apply.is_some(),
                step.delete.is_some(),
                step.drift_node_class.is_some(),
                step.apply_file.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if actions != 1 {
                return Err(err(
                    &f,
                    format!(
                        "needs exactly one action (scale, apply, delete, driftNodeClass or applyFile), found {actions}"
                    ),
                ));
            }
            for (occurrence, at_ms) in times.into_iter().enumerate() {
                let action = if let Some(s) = &step.scale {
                    let named = [
                        ("Deployment", &s.deployment),
                        ("StatefulSet", &s.statefulset),
                        ("Job", &s.job),
                    ]
                    .into_iter()
                    .filter_map(|(k, n)| n.as_ref().map(|n| (k, n)))
                    .collect::<Vec<_>>();
                    let [(kind, name)] = named.as_slice() else {
                        return Err(err(
                            &format!("{f}.scale"),
                            "must name exactly one of deployment, statefulset, job".into(),
                        ));
                    };
                    let idx = workloads
                        .iter()
                        .position(|w| w.kind.as_str() == *kind && &w.name == *name)
                        .ok_or_else(|| {
                            err(
                                &format!("{f}.scale.{}", kind.to_lowercase()),
                                format!("no {kind} named {name:?} in the scenario's manifests"),
                            )
                        })?;
                    let replicas = u32::try_from(s.replicas).map_err(|_| {
                        err(
                            &format!("{f}.scale.replicas"),
                            format!("must not be negative, got {}", s.replicas),
                        )
                    })?;
                    Action::Scale {
                        workload: idx,
                        replicas,
                    }
                } else if let Some(r) = &step.apply {
                    Action::Apply {
                        workload: find(r, &format!("{f}.apply"))?,
                        occurrence: occurrence as u32,
                    }
                } else if let Some(r) = &step.delete {
                    Action::Delete {
                        workload: find(r, &format!("{f}.delete"))?,
                    }
                } else if let Some(nc) = &step.drift_node_class {
                    if !nodeclasses.iter().any(|(_, c)| c.metadata.name == *nc) {
                        return Err(err(
                            &format!("{f}.driftNodeClass"),
                            format!("no EC2NodeClass named {nc:?}"),
                        ));
                    }
                    Action::Configure(ConfigChange::new(
                        format!("drift EC2NodeClass {nc}"),
                        KarpenterChange::NodeClassChanged(nc.clone()),
                    ))
                } else if let Some(file) = &step.apply_file {
                    applied_nodepools(&base_dir, file, &format!("{f}.applyFile"), &err)?
                } else {
                    unreachable!("exactly one action checked above")
                };
                timeline.push(TimedAction { at_ms, action });
            }
        }
        timeline.sort_by_key(|a| a.at_ms);

        // Generators.
        let mut generators = Vec::new();
        for (i, g) in spec.generators.iter().enumerate() {
            let f = format!("spec.generators[{i}].poisson");
            let p = &g.poisson;
            if !(p.rate_per_hour.is_finite() && p.rate_per_hour > 0.0) {
                return Err(err(
                    &format!("{f}.ratePerHour"),
                    format!("must be a positive number, got {}", p.rate_per_hour),
                ));
            }
            let idx = find(&p.template, &format!("{f}.template"))?;
            let w = &workloads[idx];
            if !matches!(w.kind, WorkloadKind::Job { .. } | WorkloadKind::Pod) {
                return Err(err(
                    &format!("{f}.template"),
                    format!("must name a Job or a Pod, not a {}", w.kind.as_str()),
                ));
            }
            if let Some(DurationDist::Lognormal { sigma, .. }) = &p.duration
                && !(sigma.is_finite() && *sigma >= 0.0)
            {
                return Err(err(
                    &format!("{f}.duration.lognormal.sigma"),
                    format!("must be a non-negative number, got {sigma}"),
                ));
            }
            let from_ms = p.from.map_or(0, |d| d.0);
            let until_ms = p.until.map_or(duration_ms, |d| d.0);
            if from_ms > duration_ms || until_ms > duration_ms {
                return Err(err(
                    &f,
                    format!("from/until must be within the scenario duration ({duration_ms} ms)"),
                ));
            }
            generators.push(GeneratorDef {
                name: w.name.clone(),
                rate_per_ms: p.rate_per_hour / 3_600_000.0,
                template: Arc::clone(&w.template),
                duration: p.duration.clone(),
                from_ms,
                until_ms,
            });
        }

        // Traces (read now, so `validate` checks every row).
        let mut traces = Vec::new();
        for (i, t) in spec.traces.iter().enumerate() {
            let f = format!("spec.traces[{i}]");
            if !(t.time_scale.is_finite() && t.time_scale > 0.0) {
                return Err(err(
                    &format!("{f}.timeScale"),
                    format!("must be a positive number, got {}", t.time_scale),
                ));
            }
            let path = base_dir.join(&t.path);
            let opts = traces::TraceOptions {
                time_scale: t.time_scale,
                limit: t.limit,
                start_ms: t.from.map_or(0, |d| d.0),
                until_ms: Some(t.until.map_or(duration_ms, |d| d.0)),
            };
            let mut rng = ChaCha8Rng::seed_from_u64(asim_core::engine::derive_seed(
                spec.seed,
                &format!("trace-{i}"),
            ));
            let jobs = traces::read_trace(&path, t.format, &opts, &mut rng).map_err(|e| {
                let at = format!(
                    "{}:{}",
                    source.file.display(),
                    load::field_line(source.line, &text, &f)
                );
                trace_error(e, &f, &at, &err)
            })?;
            let base = match &t.pod_template {
                Some(name) => {
                    let w = workloads
                        .iter()
                        .find(|w| w.kind == WorkloadKind::Pod && &w.name == name)
                        .ok_or_else(|| {
                            err(
                                &format!("{f}.podTemplate"),
                                format!("no Pod named {name:?}"),
                            )
                        })?;
                    Arc::clone(&w.template)
                }
                None => Arc::new(PodTemplate {
                    namespace: "default".into(),
                    termination_grace_ms: 30_000,
                    ..Default::default()
                }),
            };
            traces.push(TraceDef {
                name: Path::new(&t.path)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| format!("trace-{i}")),
                jobs,
                base,
            });
        }

        for (i, sn) in spec.subnets.iter().enumerate() {
            if !zones.contains(&sn.zone) {
                return Err(err(
                    &format!("spec.subnets[{i}].zone"),
                    format!(
                        "zone {:?} is not one of the scenario zones {zones:?}",
                        sn.zone
                    ),
                ));
            }
        }
        // Static nodes and node groups name real instance types.
        for (i, s) in spec.static_nodes.iter().enumerate() {
            if catalog.get(&s.instance_type).is_none() {
                return Err(err(
                    &format!("spec.staticNodes[{i}].instanceType"),
                    unknown_type(&catalog, &s.instance_type),
                ));
            }
        }
        for (i, g) in spec.cluster_autoscaler.node_groups.iter().enumerate() {
            if g.instance_types.is_empty() {
                return Err(err(
                    &format!("spec.clusterAutoscaler.nodeGroups[{i}].instanceTypes"),
                    "must list at least one instance type".into(),
                ));
            }
            for (j, t) in g.instance_types.iter().enumerate() {
                if catalog.get(t).is_none() {
                    return Err(err(
                        &format!("spec.clusterAutoscaler.nodeGroups[{i}].instanceTypes[{j}]"),
                        unknown_type(&catalog, t),
                    ));
                }
            }
            if g.min_size > g.max_size {
                return Err(err(
                    &format!("spec.clusterAutoscaler.nodeGroups[{i}]"),
                    format!("minSize {} is above maxSize {}", g.min_size, g.max_size),
                ));
            }
        }
        for (i, w) in spec.cloud.capacity.iter().enumerate() {
            for (j, t) in w.instance_types.iter().enumerate() {
                if catalog.get(t).is_none() {
                    return Err(err(
                        &format!("spec.cloud.capacity[{i}].instanceTypes[{j}]"),
                        unknown_type(&catalog, t),
                    ));
                }
            }
            for z in &w.zones {
                if !zones.contains(z) {
                    return Err(err(
                        &format!("spec.cloud.capacity[{i}].zones"),
                        format!("zone {z:?} is not one of the scenario zones {zones:?}"),
                    ));
                }
            }
        }

        // Expectations.
        for (who, checks) in &spec.expect {
            if !matches!(
                who.as_str(),
                "karpenter" | "cluster-autoscaler" | "none" | "all"
            ) {
                return Err(err(
                    &format!("spec.expect.{who}"),
                    "unknown autoscaler (expected karpenter, cluster-autoscaler, none or all)"
                        .into(),
                ));
            }
            for (key, t) in checks {
                if !is_known_expect_key(key) {
                    return Err(err(
                        &format!("spec.expect.{who}.{key}"),
                        "unknown report key (see docs/scenario.md for the list)".into(),
                    ));
                }
                if t.min.is_none() && t.max.is_none() {
                    return Err(err(
                        &format!("spec.expect.{who}.{key}"),
                        "needs min, max or both".into(),
                    ));
                }
            }
        }

        // Each autoscaler's configuration, checked as the autoscaler would when it starts, so
        // a mistake is reported here with its line rather than when a run begins.
        let karpenter = KarpenterConfig {
            settings: karpenter_config::Settings::parse(&spec.karpenter.settings)
                .map_err(|e| err(&e.field, e.message))?,
            feature_gates: karpenter_config::FeatureGates::parse(&spec.karpenter.feature_gates)
                .map_err(|e| err(&e.field, e.message))?,
            nodepools: nodepools.iter().map(|(_, np)| np.clone()).collect(),
            nodeclasses: nodeclasses.iter().map(|(_, nc)| nc.clone()).collect(),
            subnets: spec.subnets.clone(),
            zones: zones.clone(),
            catalog: Arc::clone(&catalog),
        };
        karpenter.validate().map_err(|e| {
            match nodepools
                .iter()
                .find(|(_, np)| Some(np.name()) == e.nodepool.as_deref())
            {
                Some((src, _)) => LoadError::at(src, Some(&e.field), e.message.clone()),
                None => err(&e.field, e.message.clone()),
            }
        })?;
        let cluster_autoscaler = ClusterAutoscalerConfig::new(
            &spec.cluster_autoscaler.flags,
            spec.cluster_autoscaler.node_groups.clone(),
            zones.clone(),
            region.clone(),
            Arc::clone(&catalog),
        )
        .map_err(|e| err(&e.field, e.message))?;

        let default_autoscaler = spec.autoscaler.unwrap_or(if !nodepools.is_empty() {
            AutoscalerKind::Karpenter
        } else if !spec.cluster_autoscaler.node_groups.is_empty() {
            AutoscalerKind::ClusterAutoscaler
        } else {
            AutoscalerKind::None
        });

        Ok(Scenario {
            name: doc.metadata.name,
            file: source.file.clone(),
            seed: spec.seed,
            duration_ms,
            region,
            zones,
            catalog,
            default_autoscaler,
            expect: spec.expect.clone(),
            spec,
            workloads,
            pdbs,
            nodes,
            nodepools,
            nodeclasses,
            timeline,
            generators,
            traces,
            karpenter,
            cluster_autoscaler,
        })
    }

    /// One label per timeline occurrence, in time order (markers on the report's charts).
    pub fn timeline_steps(&self) -> Vec<Step> {
        let name = |i: usize| {
            self.workloads
                .get(i)
                .map(|w| w.name.clone())
                .unwrap_or_else(|| format!("#{i}"))
        };
        let mut steps: Vec<Step> = self
            .timeline
            .iter()
            .map(|a| Step {
                at_s: a.at_ms as f64 / 1000.0,
                label: match &a.action {
                    Action::Scale { workload, replicas } => {
                        format!("scale {} to {replicas}", name(*workload))
                    }
                    Action::Apply { workload, .. } => format!("apply {}", name(*workload)),
                    Action::Delete { workload } => format!("delete {}", name(*workload)),
                    Action::Configure(change) => change.label.clone(),
                },
            })
            .collect();
        steps.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        steps
    }
}

/// A timeline `applyFile` step: the NodePools of `file` (relative to the scenario's folder),
/// validated as the scenario's own are. Only NodePools: workloads change through `scale` /
/// `apply` / `delete`, and an EC2NodeClass through `driftNodeClass`.
fn applied_nodepools(
    base_dir: &Path,
    file: &str,
    field: &str,
    err: &dyn Fn(&str, String) -> LoadError,
) -> Result<Action, LoadError> {
    let path = base_dir.join(file);
    if !path.is_file() {
        return Err(err(
            field,
            format!("cannot read {}: no such file", path.display()),
        ));
    }
    let manifests = load::read_manifests(&path)?;
    let mut nodepools: Vec<NodePool> = Vec::new();
    for m in &manifests {
        let Object::NodePool(np) = &m.object else {
            return Err(m.error(
                "kind",
                format!(
                    "a timeline applyFile may hold NodePools only, not a {} (workloads change with scale/apply/delete, an EC2NodeClass with driftNodeClass)",
                    m.object.kind()
                ),
                None,
            ));
        };
        np.validate().map_err(|e| api_error(m, &e))?;
        unsupported_nodepool(m, np)?;
        if nodepools.iter().any(|p| p.name() == np.name()) {
            return Err(m.error(
                "metadata.name",
                format!("NodePool {:?} appears twice in this file", np.name()),
                None,
            ));
        }
        nodepools.push((**np).clone());
    }
    Ok(Action::Configure(ConfigChange::new(
        format!("apply NodePools from {file}"),
        KarpenterChange::NodePoolsApplied(nodepools),
    )))
}

/// A NodePool / EC2NodeClass that breaks the API's rules: located at its first violation; the
/// message lists them all.
/// A valid NodePool the simulator cannot run faithfully is refused, never accepted and
/// ignored: static NodePools (`spec.replicas`, Karpenter's alpha `StaticCapacity` gate) keep a
/// fixed count of nodes outside provisioning and disruption, which is not modelled.
fn unsupported_nodepool(
    m: &Manifest,
    np: &asim_karpenter::apis::NodePool,
) -> Result<(), LoadError> {
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
fn unsupported_nodeclass(
    m: &Manifest,
    nc: &asim_karpenter::apis::EC2NodeClass,
) -> Result<(), LoadError> {
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

fn api_error(m: &Manifest, e: &asim_karpenter::apis::ApiError) -> LoadError {
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

/// A trace that cannot be read: a bad row is reported at its line in the trace file (with the
/// scenario entry `at` that names it), a problem with the entry itself through `err`.
fn trace_error(
    e: traces::TraceError,
    field: &str,
    at: &str,
    err: &dyn Fn(&str, String) -> LoadError,
) -> LoadError {
    use traces::TraceError as T;
    let from = format!("(trace of {field} at {at})");
    match e {
        T::Field {
            path,
            line,
            column,
            message,
        } => LoadError::new(
            &path,
            Some(line),
            Some(&format!("column `{column}`")),
            format!("{message} {from}"),
        ),
        T::Header {
            path,
            line,
            message,
        } => LoadError::new(
            &path,
            Some(line),
            Some("header"),
            format!("{message} {from}"),
        ),
        T::Malformed {
            path,
            line,
            message,
        } => LoadError::new(&path, Some(line), None, format!("{message} {from}")),
        T::Empty { .. } | T::NoRows { .. } | T::BadPath { .. } | T::MissingFile { .. } => {
            err(&format!("{field}.path"), e.to_string())
        }
        T::Io { path, source } => err(
            &format!("{field}.path"),
            format!("cannot read trace {}: {source}", path.display()),
        ),
        T::UnknownFormat { .. } => err(&format!("{field}.format"), e.to_string()),
        T::InvalidOption { .. } => err(field, e.to_string()),
    }
}

fn unknown_type(catalog: &Catalog, name: &str) -> String {
    let family = name.split('.').next().unwrap_or(name);
    let similar: Vec<&str> = catalog
        .types()
        .iter()
        .filter(|t| t.family == family)
        .map(|t| t.name.as_str())
        .take(6)
        .collect();
    if similar.is_empty() {
        format!(
            "unknown instance type {name:?} in the {} catalog",
            catalog.region()
        )
    } else {
        format!(
            "unknown instance type {name:?} in the {} catalog (did you mean one of {}?)",
            catalog.region(),
            similar.join(", ")
        )
    }
}

/// The times a timeline step fires at.
fn step_times(step: &TimelineStep, duration_ms: u64) -> Result<Vec<u64>, String> {
    match (step.at, step.every) {
        (Some(at), None) => {
            if step.from.is_some() || step.until.is_some() {
                return Err("from/until go with every, not at".into());
            }
            if at.0 > duration_ms {
                return Err(format!(
                    "at {} is past the scenario duration {}",
                    asim_core::k8s::duration::format_duration(at.0),
                    asim_core::k8s::duration::format_duration(duration_ms)
                ));
            }
            Ok(vec![at.0])
        }
        (None, Some(every)) => {
            if every.0 == 0 {
                return Err("every must be positive".into());
            }
            let from = step.from.map_or(0, |d| d.0);
            let until = step.until.map_or(duration_ms, |d| d.0.min(duration_ms));
            if from > duration_ms {
                return Err("from is past the scenario duration".into());
            }
            let mut v = Vec::new();
            let mut t = from;
            while t < until {
                v.push(t);
                t += every.0;
            }
            Ok(v)
        }
        (Some(_), Some(_)) => Err("has both at and every (expected one)".into()),
        (None, None) => Err("needs at or every".into()),
    }
}

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
