//! The cloud as the autoscalers see it: the `Cloud` trait (CreateFleet for Karpenter, Auto
//! Scaling groups for cluster-autoscaler, TerminateInstances, billing) and the types shared by the
//! mock EC2 (`mock`) and, later, the live driver (docs/design.md §6, §14).
//!
//! Sans-IO: nothing here reads a clock or owns randomness. Every call carries `now_ms`; the
//! implementation asks for timers through [`Cloud::take_timers`] and the engine feeds them back
//! through [`Cloud::on_timer`] at the requested time. What the outside world may observe comes
//! back as [`Notice`]s at the time it happens; hidden truth (e.g. when a spot instance will be
//! reclaimed) stays inside the implementation (docs/design.md §2).

pub mod latency;
pub mod market;
pub mod mock;
pub mod zones;

use std::collections::BTreeMap;
use std::fmt;

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use latency::{Dist, LatencyModel};
pub use mock::MockEc2;

/// Dense instance index, in launch order (0, 1, 2, …). Printed as a fake EC2 id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InstanceId(pub u32);

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "i-{:017x}", self.0)
    }
}

/// Purchase option of an offering, spelled as Karpenter's `karpenter.sh/capacity-type` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CapacityType {
    OnDemand,
    Spot,
}

impl CapacityType {
    pub fn as_str(self) -> &'static str {
        match self {
            CapacityType::OnDemand => "on-demand",
            CapacityType::Spot => "spot",
        }
    }
}

impl fmt::Display for CapacityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The EC2NodeClass AMI family (boot latency, docs/model/latency.md §3 stage 4; allocatable).
pub use crate::catalog::allocatable::AmiFamily;

/// One capacity pool: an (instance type, zone, capacity type) offering.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PoolKey {
    pub instance_type: String,
    pub zone: String,
    pub capacity_type: CapacityType,
}

impl PoolKey {
    pub fn new(
        instance_type: impl Into<String>,
        zone: impl Into<String>,
        capacity_type: CapacityType,
    ) -> Self {
        PoolKey {
            instance_type: instance_type.into(),
            zone: zone.into(),
            capacity_type,
        }
    }
}

impl fmt::Display for PoolKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.instance_type, self.zone, self.capacity_type
        )
    }
}

/// What the mock knows about one pool. Pools not listed are not offered (CreateFleet answers
/// `Unsupported` for them, as EC2 does for a type not offered in a zone).
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSpec {
    pub key: PoolKey,
    pub price_per_hour: f64,
    /// Spot interruption hazard, per hour (the lead derives it from the Advisor bucket:
    /// `λ = −ln(1 − p) / 730 h`, docs/model/latency.md "Spot interruption model"). Ignored for
    /// on-demand pools.
    pub interruption_per_hour: f64,
    /// Spot capacity figure for price-capacity-optimized, before the day-to-day variation
    /// ([`SpotMarket::daily_spread`]): roughly the instances the pool could take at once
    /// (docs/model/ec2.md §2.1). Higher = deeper. Pools at or above the tier threshold for a
    /// request are priced against each other (§2.2); 0 everywhere gives lowest-price.
    pub capacity_score: f64,
    /// A current-generation (Nitro) spot pool: its capacity figure drops by
    /// [`SpotMarket::crunch_factor`] on the days its zone is in a capacity crunch
    /// (docs/model/ec2.md §2.1). Legacy pools, and on-demand pools, are not crunched.
    pub current_generation: bool,
    /// Probability that one launch attempt into this pool fails with insufficient capacity, on
    /// top of ICE windows. AWS publishes no such rate; docs/model/latency.md §3 "Spot launch" asks
    /// for a per-pool parameter defaulting to 0 (then no random draw is made).
    pub ice_probability: f64,
}

impl PoolSpec {
    pub fn new(key: PoolKey, price_per_hour: f64) -> Self {
        PoolSpec {
            key,
            price_per_hour,
            interruption_per_hour: 0.0,
            capacity_score: 0.0,
            current_generation: false,
            ice_probability: 0.0,
        }
    }
}

/// An insufficient-capacity window: every matching pool fails launches during
/// `[from_ms, until_ms)` (docs/design.md §4 `spec.cloud.capacity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceWindow {
    /// Empty = all instance types.
    pub instance_types: Vec<String>,
    /// Empty = all zones.
    pub zones: Vec<String>,
    /// None = both capacity types.
    pub capacity_type: Option<CapacityType>,
    pub from_ms: u64,
    pub until_ms: u64,
}

impl IceWindow {
    pub fn matches(&self, key: &PoolKey) -> bool {
        (self.instance_types.is_empty() || self.instance_types.contains(&key.instance_type))
            && (self.zones.is_empty() || self.zones.contains(&key.zone))
            && self.capacity_type.is_none_or(|c| c == key.capacity_type)
    }
}

/// Spot interruption settings (docs/model/latency.md "Spot interruption model", §2.1).
#[derive(Debug, Clone, PartialEq)]
pub struct SpotSettings {
    /// `spec.cloud.spot.interruptions: none` turns this off.
    pub interruptions: bool,
    /// `{perHour: x}` replaces every pool's hazard.
    pub override_per_hour: Option<f64>,
    /// Probability that a rebalance recommendation precedes the interruption notice, else it
    /// arrives together with it. 0.5 is an [assumption] of docs/model/latency.md.
    pub rebalance_probability: f64,
    /// Mean of the exponential lead of the rebalance recommendation before the notice:
    /// 10 min, an [assumption] of docs/model/latency.md ("no public distribution").
    pub rebalance_lead_mean_ms: u64,
    /// Interruption notice lead: two minutes (AWS docs, docs/model/latency.md §2.1).
    pub warning_lead_ms: u64,
    /// When an instance of a pool is reclaimed, each other live instance of that pool is
    /// reclaimed with it (same notice time, same reclaim time) with this probability.
    /// [assumption]: no public figure. It raises the per-instance rate above the pool hazard,
    /// to about `λ·(1 + c·(n − 1))` for n live instances in the pool; 0 keeps the Advisor rate.
    pub correlation: f64,
}

impl Default for SpotSettings {
    fn default() -> Self {
        SpotSettings {
            interruptions: true,
            override_per_hour: None,
            rebalance_probability: 0.5,
            rebalance_lead_mean_ms: 10 * 60_000,
            warning_lead_ms: 120_000,
            correlation: 0.2,
        }
    }
}

/// Auto Scaling group behaviour not set per group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsgSettings {
    /// After a failed scaling activity (no pool could launch), the group tries again after this
    /// long. [assumption]: AWS only says it "will retry until an instance becomes available"
    /// (cluster-autoscaler.md §5.4); 30 s is our choice.
    pub retry_interval_ms: u64,
}

impl Default for AsgSettings {
    fn default() -> Self {
        AsgSettings {
            retry_interval_ms: 30_000,
        }
    }
}

/// Billing rule. AWS: "You are not billed for any instance usage while an instance is not in the
/// running state … you stop incurring charges … as soon as its state changes to shutting-down"
/// (EC2 user guide, "Troubleshoot instance termination" and the instance-lifecycle table:
/// pending not billed); per-second billing with a 60-second minimum (docs/design.md §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingSettings {
    /// Bill from `pending` instead of `running` (docs/design.md §6 says "from launch"; AWS bills from
    /// running). Default false = AWS's rule.
    pub from_pending: bool,
    pub minimum_ms: u64,
}

impl Default for BillingSettings {
    fn default() -> Self {
        BillingSettings {
            from_pending: false,
            minimum_ms: 60_000,
        }
    }
}

/// Everything the mock EC2 needs. The lead builds `pools` from the catalog and scenario zones.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MockConfig {
    pub pools: Vec<PoolSpec>,
    pub ice: Vec<IceWindow>,
    pub latency: LatencyModel,
    pub spot: SpotSettings,
    pub asg: AsgSettings,
    pub billing: BillingSettings,
    pub market: SpotMarket,
}

/// The spot market's movement over a run (docs/model/ec2.md §2): each spot pool's capacity
/// figure varies from day to day and, if asked, its price drifts. Both are drawn by random
/// access (stream = what and which pool, position = which day or step) from a ChaCha8 keyed
/// by `seed`, so a value depends only on the pool and the time, never on which calls came
/// first. The default moves nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpotMarket {
    /// Key of the random-access draws; the simulation derives it from the scenario seed and
    /// the `spot-market` stream name (`engine::rng::Stream::SpotMarket`).
    pub seed: u64,
    /// Each pool's capacity figure is multiplied, per UTC day, by `exp(u)` with `u` uniform in
    /// `[−daily_spread, daily_spread]`; 0 = no variation.
    pub daily_spread: f64,
    /// Probability that a zone is in a capacity crunch on a UTC day, drawn per (zone, day);
    /// 0 = never (docs/model/ec2.md §2.1).
    pub crunch_probability: f64,
    /// Factor on the capacity figure of a [`PoolSpec::current_generation`] pool in a crunched
    /// zone.
    pub crunch_factor: f64,
    /// `spec.cloud.spot.priceChanges`; None = prices fixed for the run.
    pub price_changes: Option<PriceChanges>,
}

/// Spot price drift (docs/model/ec2.md §2.4): every `every_ms`, each spot pool's price moves by
/// a uniform step in `[−max_step, +max_step]` (a fraction), staying within ±50 % of its
/// starting price and never above the on-demand price of the same type and zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PriceChanges {
    pub every_ms: u64,
    pub max_step: f64,
}

/// What an instance is launched with. Only what changes simulated behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LaunchSpec {
    pub ami_family: AmiFamily,
    pub tags: BTreeMap<String, String>,
}

/// CreateFleet allocation strategies Karpenter uses (docs/model/karpenter.md §2, step 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocationStrategy {
    /// On-demand default: cheapest available override; ties by request order.
    LowestPrice,
    /// On-demand with NodeOverlay price overlays: lowest `priority` value first.
    Prioritized,
    /// Spot default: among available pools, those with the highest capacity score, then the
    /// cheapest of those; exact ties drawn at random.
    PriceCapacityOptimized,
    /// Spot with NodeOverlay: highest capacity score, then lowest `priority` value.
    CapacityOptimizedPrioritized,
}

/// One launch-template override: an instance type in a zone (the subnet's zone).
#[derive(Debug, Clone, PartialEq)]
pub struct FleetOverride {
    pub instance_type: String,
    pub zone: String,
    /// Karpenter sets Priority = price (docs/model/karpenter.md §2); lower = preferred.
    pub priority: f64,
}

/// A CreateFleet `Type=instant`, `TotalTargetCapacity=1` request.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRequest {
    pub capacity_type: CapacityType,
    pub allocation: AllocationStrategy,
    pub overrides: Vec<FleetOverride>,
    pub launch: LaunchSpec,
}

/// The answer of CreateFleet. The caller receives it `api_latency_ms` after the call.
#[derive(Debug, Clone, PartialEq)]
pub enum FleetOutcome {
    Launched {
        instance: InstanceId,
        pool: PoolKey,
        price_per_hour: f64,
        api_latency_ms: u64,
        /// Errors for pools tried before the one that launched (ranked ahead of it but out of
        /// capacity) and for overrides naming unoffered pools; Karpenter caches these as ICE.
        errors: Vec<FleetError>,
    },
    Failed {
        errors: Vec<FleetError>,
        api_latency_ms: u64,
    },
}

impl FleetOutcome {
    pub fn api_latency_ms(&self) -> u64 {
        match self {
            FleetOutcome::Launched { api_latency_ms, .. }
            | FleetOutcome::Failed { api_latency_ms, .. } => *api_latency_ms,
        }
    }
}

/// One CreateFleet error. Request-level errors (`InvalidRequest`) have empty type and zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetError {
    pub instance_type: String,
    pub zone: String,
    pub code: FleetErrorCode,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetErrorCode {
    /// The pool is out of capacity (ICE window or a failed `ice_probability` draw).
    InsufficientInstanceCapacity,
    /// The type is not offered in that zone / capacity type.
    Unsupported,
    InvalidRequest(InvalidRequest),
}

impl FleetErrorCode {
    /// The EC2 error code string.
    pub fn as_str(&self) -> &'static str {
        match self {
            FleetErrorCode::InsufficientInstanceCapacity => "InsufficientInstanceCapacity",
            FleetErrorCode::Unsupported => "Unsupported",
            FleetErrorCode::InvalidRequest(_) => "InvalidParameterValue",
        }
    }

    /// Karpenter treats both capacity kinds as "unfulfillable capacity" and marks the offering
    /// unavailable for 3 min (docs/model/karpenter.md §2).
    pub fn is_capacity_error(&self) -> bool {
        matches!(
            self,
            FleetErrorCode::InsufficientInstanceCapacity | FleetErrorCode::Unsupported
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidRequest {
    /// More than [`mock::MAX_FLEET_OVERRIDES`] overrides.
    TooManyOverrides {
        count: usize,
        max: usize,
    },
    NoOverrides,
}

/// An Auto Scaling group (cluster-autoscaler.md §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsgSpec {
    pub name: String,
    /// MixedInstancesPolicy overrides; the first is the template CA builds nodes from.
    pub instance_types: Vec<String>,
    pub capacity_type: CapacityType,
    /// In AZ-balancing tie order.
    pub zones: Vec<String>,
    pub min_size: u32,
    pub max_size: u32,
    pub launch: LaunchSpec,
}

/// DescribeAutoScalingGroups + DescribeScalingActivities, as CA reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsgView {
    pub name: String,
    pub desired: u32,
    pub min: u32,
    pub max: u32,
    /// Live (pending or running) instances, in launch order.
    pub instances: Vec<InstanceId>,
    /// Start time of the latest failed scaling activity (cluster-autoscaler.md §5.4: CA treats
    /// a failure that started after its last SetDesiredCapacity as out-of-resources).
    pub last_failed_activity_ms: Option<u64>,
}

/// EC2 instance states (pending → running → shutting-down → terminated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    Pending,
    Running,
    ShuttingDown,
    Terminated,
}

impl InstanceState {
    /// Pending or running: counts toward an ASG's capacity and can still be terminated.
    pub fn is_live(self) -> bool {
        matches!(self, InstanceState::Pending | InstanceState::Running)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TerminationReason {
    /// TerminateInstances or TerminateInstanceInAutoScalingGroup.
    Requested,
    /// The ASG lowered its capacity below the live count (scale-in).
    AsgScaleIn,
    SpotReclaimed,
}

/// What DescribeInstances would show. No hidden truth (no planned interruption time).
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceView {
    pub id: InstanceId,
    pub pool: PoolKey,
    pub price_per_hour: f64,
    pub ami_family: AmiFamily,
    pub state: InstanceState,
    /// Enters `pending`: the CreateFleet response time, or the ASG dispatch time.
    pub launched_at_ms: u64,
    pub running_at_ms: Option<u64>,
    pub shutting_down_at_ms: Option<u64>,
    pub terminated_at_ms: Option<u64>,
    pub termination_reason: Option<TerminationReason>,
    pub asg: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// Which member an Auto Scaling group terminates when it is above its desired capacity, by
/// the simplified default termination policy [assumption]: AWS first picks the zone with the
/// most instances, then (allocation strategy, oldest launch template, next billing hour) and
/// finally random; we take that zone (ties: the group's zone order) and its newest member,
/// which is usually the least useful one. `members` in launch order.
/// Every `Cloud` that simulates a group scales it in through this.
pub fn asg_scale_in_victim<'v>(
    zones: &[String],
    members: &[InstanceId],
    zone_of: impl Fn(InstanceId) -> &'v str,
) -> Option<InstanceId> {
    let counts: Vec<usize> = zones
        .iter()
        .map(|z| members.iter().filter(|&&id| zone_of(id) == z).count())
        .collect();
    let max = counts.iter().copied().max().unwrap_or(0);
    counts
        .iter()
        .position(|&c| c == max && c > 0)
        .and_then(|z| {
            members
                .iter()
                .rev()
                .find(|&&id| zone_of(id) == zones[z])
                .copied()
        })
        .or_else(|| members.last().copied())
}

impl InstanceView {
    /// A just-launched instance as DescribeInstances first shows it: `pending` since
    /// `launched_at_ms`, nothing else has happened to it yet. Every `Cloud` builds its
    /// instances through this, so a new field gets its launch value in one place.
    pub fn pending(
        id: InstanceId,
        pool: PoolKey,
        price_per_hour: f64,
        ami_family: AmiFamily,
        launched_at_ms: u64,
        asg: Option<String>,
        tags: BTreeMap<String, String>,
    ) -> Self {
        InstanceView {
            id,
            pool,
            price_per_hour,
            ami_family,
            state: InstanceState::Pending,
            launched_at_ms,
            running_at_ms: None,
            shutting_down_at_ms: None,
            terminated_at_ms: None,
            termination_reason: None,
            asg,
            tags,
        }
    }
}

/// Something the outside world can observe, returned at the time it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    InstancePending {
        instance: InstanceId,
    },
    InstanceRunning {
        instance: InstanceId,
    },
    /// kubelet registered the Node.
    NodeRegistered {
        instance: InstanceId,
    },
    /// The Node became Ready.
    NodeReady {
        instance: InstanceId,
    },
    RebalanceRecommendation {
        instance: InstanceId,
    },
    /// Two minutes before the instance is reclaimed.
    SpotInterruptionWarning {
        instance: InstanceId,
    },
    /// Billing stops; the node is gone (EventBridge state-change `shutting-down`).
    InstanceShuttingDown {
        instance: InstanceId,
        reason: TerminationReason,
    },
    InstanceTerminated {
        instance: InstanceId,
        reason: TerminationReason,
    },
    /// A scaling activity failed: no pool among `tried` could launch.
    AsgLaunchFailed {
        asg: String,
        tried: Vec<PoolKey>,
        at_ms: u64,
    },
    AsgInstanceLaunched {
        asg: String,
        instance: InstanceId,
    },
}

/// A timer the cloud asked for; the engine hands it back to [`Cloud::on_timer`] at its time.
/// Timers may be stale by then (e.g. the instance was terminated); stale ones are no-ops.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CloudTimer {
    InstancePending(InstanceId),
    InstanceRunning(InstanceId),
    NodeRegistered(InstanceId),
    NodeReady(InstanceId),
    Rebalance(InstanceId),
    InterruptionWarning(InstanceId),
    Reclaim(InstanceId),
    InstanceTerminated(InstanceId),
    /// The ASG's activity after a desired-capacity change or a lost instance.
    AsgDispatch(String),
    /// The ASG's retry after a failed scaling activity.
    AsgRetry(String),
}

/// Money spent so far.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct CostBreakdown {
    pub total_usd: f64,
    pub on_demand_usd: f64,
    pub spot_usd: f64,
}

/// The seeded streams a cloud call may draw from, one per subsystem (docs/design.md §1.2), so a new
/// latency draw never shifts the spot or allocation draws.
pub struct CloudRngs<'a> {
    /// `Stream::Latency`: API latency, ASG dispatch, boot stages, termination.
    pub latency: &'a mut ChaCha8Rng,
    /// `Stream::Spot`: interruption times, rebalance recommendations, correlation.
    pub spot: &'a mut ChaCha8Rng,
    /// `Stream::Allocation`: price-capacity-optimized tie-breaks, `ice_probability` draws.
    pub alloc: &'a mut ChaCha8Rng,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CloudError {
    #[error("auto scaling group `{0}` not found")]
    UnknownAsg(String),
    #[error("auto scaling group `{0}` already exists")]
    AsgExists(String),
    #[error("auto scaling group `{asg}`: {reason}")]
    InvalidAsgSpec { asg: String, reason: String },
    #[error(
        "auto scaling group `{asg}`: desired capacity {desired} outside [minSize {min}, maxSize {max}]"
    )]
    DesiredOutOfRange {
        asg: String,
        desired: u32,
        min: u32,
        max: u32,
    },
    #[error(
        "auto scaling group `{asg}`: decrementing desired capacity {desired} would go below minSize {min}"
    )]
    BelowMinSize { asg: String, desired: u32, min: u32 },
    #[error("instance {0} not found")]
    UnknownInstance(InstanceId),
    #[error("instance {0} is not a live member of an auto scaling group")]
    NotInAsg(InstanceId),
    #[error("pool {pool}: {reason}")]
    InvalidPool { pool: String, reason: String },
}

/// The cloud, as the engine and the autoscalers drive it. Object-safe.
pub trait Cloud {
    /// CreateFleet `instant` for one instance. The outcome is decided now; the caller should
    /// deliver it `api_latency_ms` later, when the instance enters `pending`.
    fn create_fleet(
        &mut self,
        now_ms: u64,
        req: &FleetRequest,
        rngs: &mut CloudRngs<'_>,
    ) -> FleetOutcome;

    /// TerminateInstances: live instances go to shutting-down now. Idempotent for instances
    /// already shutting down or terminated; an unknown id fails the whole call, as in EC2.
    fn terminate_instances(
        &mut self,
        now_ms: u64,
        ids: &[InstanceId],
        rngs: &mut CloudRngs<'_>,
    ) -> Result<Vec<Notice>, CloudError>;

    /// CreateAutoScalingGroup with desired = min size (dispatches at once if min > 0).
    fn create_asg(
        &mut self,
        now_ms: u64,
        spec: AsgSpec,
        rngs: &mut CloudRngs<'_>,
    ) -> Result<(), CloudError>;

    /// SetDesiredCapacity(HonorCooldown=false). Outside [min, max] is rejected, as AWS does.
    fn set_desired_capacity(
        &mut self,
        now_ms: u64,
        asg: &str,
        desired: u32,
        rngs: &mut CloudRngs<'_>,
    ) -> Result<Vec<Notice>, CloudError>;

    /// TerminateInstanceInAutoScalingGroup. Without the decrement the group replaces it.
    fn terminate_instance_in_asg(
        &mut self,
        now_ms: u64,
        id: InstanceId,
        decrement_desired: bool,
        rngs: &mut CloudRngs<'_>,
    ) -> Result<Vec<Notice>, CloudError>;

    fn describe_asg(&self, asg: &str) -> Option<AsgView>;

    fn instance(&self, id: InstanceId) -> Option<&InstanceView>;

    /// Every instance ever launched, indexed by `InstanceId`.
    fn instances(&self) -> &[InstanceView];

    /// A timer handed out by `take_timers` is due.
    fn on_timer(&mut self, now_ms: u64, timer: CloudTimer, rngs: &mut CloudRngs<'_>)
    -> Vec<Notice>;

    /// Timers requested since the last call, in request order; drain after every call.
    fn take_timers(&mut self) -> Vec<(u64, CloudTimer)>;

    /// Billing up to `now_ms`.
    fn cost_usd(&self, now_ms: u64) -> CostBreakdown;

    /// USD per hour of the instances being billed now.
    fn hourly_rate(&self) -> f64;

    /// An instance already running, registered and Ready when the scenario begins
    /// (`spec.staticNodes`), billed from `now_ms`.
    fn adopt_running_instance(
        &mut self,
        now_ms: u64,
        key: &PoolKey,
        launch: &LaunchSpec,
        rngs: &mut CloudRngs<'_>,
    ) -> Result<InstanceId, CloudError>;
}

/// A VPC subnet (`spec.subnets`): EC2NodeClasses select subnets by id or tags, and a node
/// launches in a selected subnet's zone.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Subnet {
    pub id: String,
    pub zone: String,
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
}
