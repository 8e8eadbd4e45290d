//! The `kind: Scenario` document (docs/design.md §4) as serde structs. Unknown fields are errors here
//! (unlike in Kubernetes manifests, which the API server would prune).

use std::collections::BTreeMap;

use serde::Deserialize;

use asim_core::k8s::duration::Duration;

pub const API_VERSION: &str = "autoscale-sim/v1alpha1";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScenarioDoc {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: ScenarioSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScenarioSpec {
    #[serde(default)]
    pub seed: u64,
    pub duration: Duration,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub zones: Option<Vec<String>>,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub catalog: Option<String>,
    /// Which autoscaler `run` uses when `--autoscaler` is not given.
    #[serde(default)]
    pub autoscaler: Option<AutoscalerKind>,
    #[serde(default)]
    pub cloud: CloudSpec,
    #[serde(default)]
    pub scheduler: SchedulerSpec,
    #[serde(default)]
    pub karpenter: KarpenterSpec,
    #[serde(default)]
    pub cluster_autoscaler: ClusterAutoscalerSpec,
    /// A fixed set of instances that exist from time zero (the `none` autoscaler's cluster).
    #[serde(default)]
    pub static_nodes: Vec<StaticNodes>,
    /// The VPC's subnets, which EC2NodeClass `subnetSelectorTerms` select (by id or tags) to
    /// decide the zones Karpenter launches into. Default: one subnet per scenario zone, matched
    /// by every selector.
    #[serde(default)]
    pub subnets: Vec<asim_core::cloud::Subnet>,
    #[serde(default)]
    pub timeline: Vec<TimelineStep>,
    #[serde(default)]
    pub generators: Vec<Generator>,
    #[serde(default)]
    pub traces: Vec<TraceSpec>,
    /// kube-controller-manager's HorizontalPodAutoscaler flags.
    #[serde(default)]
    pub horizontal_pod_autoscaling: HpaSettingsSpec,
    /// The load each HPA metric reads, per target workload and metric (docs/scenario.md).
    #[serde(default)]
    pub metrics: Vec<MetricSeriesSpec>,
    /// Per autoscaler (`karpenter`, `cluster-autoscaler`, `none`, or `all`): report key → bounds.
    #[serde(default)]
    pub expect: BTreeMap<String, BTreeMap<String, asim_report::expect::Threshold>>,
}

/// `--horizontal-pod-autoscaler-*` flags (docs/model/hpa.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HpaSettingsSpec {
    /// `--horizontal-pod-autoscaler-sync-period` (15s).
    #[serde(default)]
    pub sync_period: Option<Duration>,
    /// `--horizontal-pod-autoscaler-tolerance` (0.1).
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// `--horizontal-pod-autoscaler-downscale-stabilization` (5m): the scale-down window of an
    /// HPA whose behavior does not set one.
    #[serde(default)]
    pub downscale_stabilization: Option<Duration>,
    /// How long a new pod runs before metrics-server has a sample of it (30s; [assumption]:
    /// two 15 s scrapes).
    #[serde(default)]
    pub new_pod_metrics_delay: Option<Duration>,
}

/// One metric's values over time for one workload: `{target: {deployment: web}, metric: cpu,
/// diurnal: {...}}`. For Resource and Pods metrics the value is the total over the workload's
/// running pods (cores for cpu, bytes for memory); for Object and External metrics, the
/// metric itself.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricSeriesSpec {
    pub target: ObjectRef,
    pub metric: String,
    #[serde(default)]
    pub constant: Option<f64>,
    #[serde(default)]
    pub diurnal: Option<DiurnalSpec>,
    /// Straight lines between `{at, value}` points.
    #[serde(default)]
    pub points: Option<Vec<SeriesPoint>>,
    /// A CSV of `time,value` rows (time a Go duration or seconds), each value held until the
    /// next: a scraped series.
    #[serde(default)]
    pub file: Option<String>,
    /// A Prometheus `query_range` response (JSON, `resultType: matrix`): the series summed
    /// per timestamp, times from the first sample, each held until the next.
    #[serde(default)]
    pub prometheus: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DiurnalSpec {
    pub min: f64,
    pub max: f64,
    pub peak_at: Duration,
    /// Default 24h.
    #[serde(default)]
    pub period: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesPoint {
    pub at: Duration,
    pub value: f64,
}

#[derive(Copy, Clone, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub enum AutoscalerKind {
    #[serde(rename = "karpenter")]
    Karpenter,
    #[serde(rename = "cluster-autoscaler")]
    ClusterAutoscaler,
    #[serde(rename = "none")]
    None,
}

impl AutoscalerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AutoscalerKind::Karpenter => "karpenter",
            AutoscalerKind::ClusterAutoscaler => "cluster-autoscaler",
            AutoscalerKind::None => "none",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CloudSpec {
    /// Per-stage overrides of the launch-latency model; see `asim_core::cloud::latency`.
    #[serde(default)]
    pub latency: Option<asim_core::cloud::latency::LatencyModel>,
    #[serde(default)]
    pub spot: SpotSpec,
    #[serde(default)]
    pub capacity: Vec<CapacityWindow>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpotSpec {
    #[serde(default)]
    pub interruptions: Option<Interruptions>,
    /// Probability that a rebalance recommendation precedes the interruption notice.
    #[serde(default)]
    pub rebalance_probability: Option<f64>,
    /// Mean lead time of a rebalance recommendation before the notice.
    #[serde(default)]
    pub rebalance_lead: Option<Duration>,
    /// Probability that each other instance of a pool is reclaimed along with one that is.
    #[serde(default)]
    pub correlation: Option<f64>,
    /// Spot price drift (docs/model/ec2.md §2.4); off when absent.
    #[serde(default)]
    pub price_changes: Option<PriceChangesSpec>,
}

/// `priceChanges: {every: 1h, maxStep: 5%}`: every `every`, each spot pool's price moves by
/// up to `maxStep` either way. Checked at load (`validate`): `every` > 0, `maxStep` in
/// (0, 50 %].
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PriceChangesSpec {
    pub every: Duration,
    pub max_step: Fraction,
}

/// A fraction written as a number (`0.05`) or a percentage (`5%`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fraction(pub f64);

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        let bad = |w: &str| {
            serde::de::Error::custom(format!(
                "expected a fraction like 0.05 or a percentage like 5%, got {w:?}"
            ))
        };
        match Raw::deserialize(d)? {
            Raw::Number(x) if x.is_finite() => Ok(Fraction(x)),
            Raw::Number(x) => Err(bad(&x.to_string())),
            Raw::Text(t) => t
                .trim()
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<f64>().ok())
                .filter(|x| x.is_finite())
                .map(|x| Fraction(x / 100.0))
                .ok_or_else(|| bad(&t)),
        }
    }
}

/// `advisor` | `none` | `{perHour: 0.002}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Interruptions {
    Advisor,
    None,
    PerHour(f64),
}

impl<'de> Deserialize<'de> for Interruptions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            Rate {
                #[serde(rename = "perHour")]
                per_hour: f64,
            },
        }
        match Raw::deserialize(d)? {
            Raw::Word(w) if w == "advisor" => Ok(Interruptions::Advisor),
            Raw::Word(w) if w == "none" => Ok(Interruptions::None),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "unknown interruptions mode {w:?} (expected advisor, none or {{perHour: RATE}})"
            ))),
            Raw::Rate { per_hour } if per_hour >= 0.0 && per_hour.is_finite() => {
                Ok(Interruptions::PerHour(per_hour))
            }
            Raw::Rate { per_hour } => Err(serde::de::Error::custom(format!(
                "interruptions perHour must be a non-negative number, got {per_hour}"
            ))),
        }
    }
}

/// An insufficient-capacity window for some pools.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CapacityWindow {
    #[serde(default)]
    pub instance_types: Vec<String>,
    #[serde(default)]
    pub zones: Vec<String>,
    /// `spot` or `on-demand`; none: both.
    #[serde(default)]
    pub capacity_type: Option<asim_core::cloud::CapacityType>,
    #[serde(default)]
    pub from: Option<Duration>,
    #[serde(default)]
    pub until: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SchedulerSpec {
    /// `LeastAllocated` (kube-scheduler's default) or `MostAllocated`.
    #[serde(default)]
    pub scoring: Option<asim_cluster::scheduler::Scoring>,
    /// kube-scheduler's `percentageOfNodesToScore`: 0–100, absent or 0 for its adaptive
    /// default (docs/model/scheduler.md §5).
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KarpenterSpec {
    /// Operator settings (`batchIdleDuration`, `batchMaxDuration`, …), parsed at load into
    /// `asim_karpenter::Settings`.
    #[serde(default)]
    pub settings: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub feature_gates: BTreeMap<String, bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterAutoscalerSpec {
    /// Real cluster-autoscaler flag names → values, parsed at load into
    /// `asim_cluster_autoscaler::Flags`.
    #[serde(default)]
    pub flags: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub node_groups: Vec<asim_cluster_autoscaler::NodeGroupSpec>,
    /// aws-node-termination-handler beside cluster-autoscaler (off by default).
    #[serde(default)]
    pub termination_handler: asim_cluster_autoscaler::TerminationHandlerSpec,
}

fn default_on_demand() -> String {
    "on-demand".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StaticNodes {
    pub instance_type: String,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default = "default_on_demand")]
    pub capacity_type: String,
    /// Zone of every node; default: round-robin over the scenario zones.
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub taints: Vec<asim_core::k8s::taints::Taint>,
    #[serde(default)]
    pub ami_family: Option<String>,
}

fn one() -> u32 {
    1
}

/// One timeline entry: `at` or `every` (with `from`/`until`), and exactly one action.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TimelineStep {
    #[serde(default)]
    pub at: Option<Duration>,
    #[serde(default)]
    pub every: Option<Duration>,
    #[serde(default)]
    pub from: Option<Duration>,
    #[serde(default)]
    pub until: Option<Duration>,
    #[serde(default)]
    pub scale: Option<ScaleAction>,
    #[serde(default)]
    pub apply: Option<ObjectRef>,
    #[serde(default)]
    pub delete: Option<ObjectRef>,
    #[serde(default)]
    pub drift_node_class: Option<String>,
    /// A file of NodePool manifests applied now, as `kubectl apply -f` would (relative to the
    /// scenario file).
    #[serde(default)]
    pub apply_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScaleAction {
    #[serde(default)]
    pub deployment: Option<String>,
    #[serde(default)]
    pub statefulset: Option<String>,
    #[serde(default)]
    pub job: Option<String>,
    pub replicas: i64,
}

/// A reference to a manifest by kind and name: `{job: etl}`, `{deployment: web}`, `{pod: x}`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectRef {
    #[serde(default)]
    pub job: Option<String>,
    #[serde(default)]
    pub deployment: Option<String>,
    #[serde(default)]
    pub statefulset: Option<String>,
    #[serde(default)]
    pub daemonset: Option<String>,
    #[serde(default)]
    pub pod: Option<String>,
    #[serde(default)]
    pub nodepool: Option<String>,
    #[serde(default)]
    pub poddisruptionbudget: Option<String>,
}

impl ObjectRef {
    /// `(kind, name)` if exactly one field is set.
    pub fn single(&self) -> Result<(&'static str, &str), String> {
        let set: Vec<(&'static str, &str)> = [
            ("Job", &self.job),
            ("Deployment", &self.deployment),
            ("StatefulSet", &self.statefulset),
            ("DaemonSet", &self.daemonset),
            ("Pod", &self.pod),
            ("NodePool", &self.nodepool),
            ("PodDisruptionBudget", &self.poddisruptionbudget),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect();
        match set.as_slice() {
            [one] => Ok(*one),
            [] => Err("names no object (expected one of job, deployment, statefulset, daemonset, pod, nodepool, poddisruptionbudget)".into()),
            _ => Err("names more than one object (expected exactly one)".into()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Generator {
    pub poisson: PoissonGenerator,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PoissonGenerator {
    pub rate_per_hour: f64,
    /// The pod template to stamp out: `{job: NAME}` or `{pod: NAME}`.
    pub template: ObjectRef,
    #[serde(default)]
    pub duration: Option<DurationDist>,
    #[serde(default)]
    pub from: Option<Duration>,
    #[serde(default)]
    pub until: Option<Duration>,
}

/// How long a generated pod runs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum DurationDist {
    Constant(Duration),
    Exponential { mean: Duration },
    Lognormal { median: Duration, sigma: f64 },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TraceSpec {
    pub path: String,
    pub format: crate::traces::TraceFormat,
    #[serde(default = "unit_scale")]
    pub time_scale: f64,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub from: Option<Duration>,
    #[serde(default)]
    pub until: Option<Duration>,
    /// Pod template fields applied to every trace pod (tolerations, node selector…): a Pod
    /// manifest name.
    #[serde(default)]
    pub pod_template: Option<String>,
}

fn unit_scale() -> f64 {
    1.0
}
