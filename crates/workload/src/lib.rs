//! The workload side of a scenario: the scenario file, its manifests, the timeline, generators
//! and traces, validated into a [`Scenario`] the simulation can run (docs/design.md §4).

pub mod hpa;
pub mod import;
pub mod load;
pub mod scenario;
pub mod set;
pub mod sweep;
mod text;
pub mod traces;
mod validate;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use asim_cluster::Pdb;
use asim_cluster::autoscaler::ConfigChange;
use asim_cluster::pod::PodTemplate;
use asim_cluster_autoscaler::ClusterAutoscalerConfig;
use asim_core::catalog::Catalog;
use asim_core::k8s::taints::Taint;
use asim_karpenter::KarpenterConfig;
use asim_karpenter::apis::{EC2NodeClass, NodePool};
use asim_report::view::Step;

pub use asim_report::expect::Threshold;
pub use load::{LoadError, Manifest, Object, Source};
pub use scenario::{AutoscalerKind, DurationDist, ScenarioSpec};
pub use traces::TraceJob;
pub use validate::size::{Estimate as SizeEstimate, Limits, count as size_count};

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
    /// A StatefulSet's `volumeClaimTemplates` (classes resolved); empty for other kinds.
    pub claim_templates: Vec<asim_cluster::volume::ClaimSpec>,
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

/// An HPA ready to run: its target (by workload index), its bounds and behavior, and for each
/// metric the target and the values it reads (`None`: no `spec.metrics` entry gives them, so
/// the metric cannot be read — the controller leaves it out).
#[derive(Clone, Debug)]
pub struct HpaDef {
    pub name: String,
    pub namespace: String,
    pub workload: usize,
    pub controller: asim_cluster::hpa::Autoscaler,
    pub metrics: Vec<(
        asim_cluster::hpa::MetricTarget,
        Option<asim_cluster::hpa::Series>,
    )>,
    pub source: Source,
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
    /// StorageClasses, and the standalone PersistentVolumeClaims as (namespace, spec), which
    /// exist from time zero (docs/model/scheduler.md §3).
    pub storage_classes: Vec<asim_cluster::volume::StorageClass>,
    pub claims: Vec<(String, asim_cluster::volume::ClaimSpec)>,
    pub expect: BTreeMap<String, BTreeMap<String, Threshold>>,
    /// Karpenter's configuration, checked at load (used when Karpenter runs).
    pub karpenter: KarpenterConfig,
    /// cluster-autoscaler's configuration, checked at load (used when it runs).
    pub cluster_autoscaler: ClusterAutoscalerConfig,
    /// Accepted fields the simulator does not model, one located line each; every command
    /// prints them once and `run-meta.json` lists them.
    pub warnings: Vec<String>,
    /// HorizontalPodAutoscalers, each with its target workload and metrics' values.
    pub hpas: Vec<HpaDef>,
    /// kube-controller-manager's HPA settings.
    pub hpa_settings: asim_cluster::hpa::Settings,
    /// How long a new pod runs before its metrics are in.
    pub hpa_new_pod_metrics_delay_ms: u64,
    /// The run's estimated size, checked against the load's [`Limits`].
    pub size: SizeEstimate,
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
        Self::from_raw(raw, &Limits::DEFAULT)
    }

    /// [`Scenario::load`] with `compare --variant` manifests and `--set` overrides applied to
    /// the parsed documents before validation.
    pub fn load_with(path: &Path, opts: &set::LoadOptions) -> Result<Scenario, LoadError> {
        let raw = set::apply(load::read_scenario(path)?, opts)?;
        Self::from_raw(raw, &opts.limits)
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
