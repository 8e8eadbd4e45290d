//! Pods as the simulator sees them: an immutable, shared [`PodTemplate`] (what the manifest says)
//! and a small mutable [`Pod`] record (where the pod is in its life).

use std::collections::BTreeMap;
use std::sync::Arc;

use asim_core::engine::SimTime;
use asim_core::k8s::requirements::Requirements;
use asim_core::k8s::resources::Resources;
use asim_core::k8s::selector::{LabelSelector, Labels};
use asim_core::k8s::taints::Toleration;

use super::NodeId;

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodId(pub u32);

/// A PersistentVolumeClaim, by its index in the cluster's claims (the `volume` module).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClaimId(pub u32);

pub const ZONE_KEY: &str = "topology.kubernetes.io/zone";
pub const REGION_KEY: &str = "topology.kubernetes.io/region";
pub const HOSTNAME_KEY: &str = "kubernetes.io/hostname";
pub const CAPACITY_TYPE_KEY: &str = "karpenter.sh/capacity-type";
pub const DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";
pub const SAFE_TO_EVICT: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict";
pub const DURATION_ANNOTATION: &str = "autoscale-sim/duration";
pub const IMAGE_SIZE_ANNOTATION: &str = "autoscale-sim/image-size";

/// `whenUnsatisfiable` of a topology spread constraint.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WhenUnsatisfiable {
    DoNotSchedule,
    ScheduleAnyway,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TopologySpread {
    pub max_skew: u32,
    pub topology_key: String,
    pub when_unsatisfiable: WhenUnsatisfiable,
    pub selector: LabelSelector,
    pub min_domains: Option<u32>,
}

/// A pod (anti-)affinity term: pods matching `selector` (in the pod's namespace) in the same
/// `topology_key` domain.
#[derive(Clone, Debug, PartialEq)]
pub struct PodAffinityTerm {
    pub selector: LabelSelector,
    pub topology_key: String,
    /// 0 for required terms, the weight for preferred ones.
    pub weight: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostPort {
    pub port: i32,
    pub protocol: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub name: String,
    /// Uncompressed size in bytes; 0 = unknown (pulled in the base pod-start latency).
    pub size: u64,
}

/// `preemptionPolicy` of a pod (from its PriorityClass, or its own spec): whether kube-scheduler
/// may evict lower-priority pods to make room for it (kubernetes:
/// pkg/scheduler/framework/plugins/defaultpreemption/default_preemption.go `PodEligibleToPreemptOthers`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum PreemptionPolicy {
    #[default]
    PreemptLowerPriority,
    Never,
}

impl PreemptionPolicy {
    /// The API's spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<PreemptionPolicy> {
        match s {
            "PreemptLowerPriority" => Some(PreemptionPolicy::PreemptLowerPriority),
            "Never" => Some(PreemptionPolicy::Never),
            _ => None,
        }
    }
}

/// What kind of object created the pod; decides what happens when it is evicted or finishes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OwnerKind {
    None,
    ReplicaSet,
    StatefulSet,
    Job,
    DaemonSet,
    /// A static (mirror) pod, owned by its node.
    Node,
}

impl OwnerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::None => "Pod",
            OwnerKind::ReplicaSet => "ReplicaSet",
            OwnerKind::StatefulSet => "StatefulSet",
            OwnerKind::Job => "Job",
            OwnerKind::DaemonSet => "DaemonSet",
            OwnerKind::Node => "Node",
        }
    }
}

/// Everything about a pod that comes from its manifest. Shared (`Arc`) by every replica, so a
/// 10,000-replica Deployment costs one template; pointer equality also marks scheduling
/// equivalence classes.
#[derive(Clone, Debug, Default)]
pub struct PodTemplate {
    pub namespace: String,
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    /// Effective requests (max of init containers and the sum of containers, plus overhead),
    /// always with `pods: 1`.
    pub requests: Resources,
    pub node_selector: Labels,
    /// Required node affinity: OR of terms; empty = no constraint.
    pub required_terms: Vec<Requirements>,
    /// Preferred node affinity terms with weights.
    pub preferred_terms: Vec<(i32, Requirements)>,
    pub tolerations: Vec<Toleration>,
    pub spread: Vec<TopologySpread>,
    pub affinity: Vec<PodAffinityTerm>,
    pub anti_affinity: Vec<PodAffinityTerm>,
    pub preferred_affinity: Vec<PodAffinityTerm>,
    pub preferred_anti_affinity: Vec<PodAffinityTerm>,
    pub host_ports: Vec<HostPort>,
    pub priority: i32,
    pub priority_class_name: Option<String>,
    pub preemption_policy: PreemptionPolicy,
    pub termination_grace_ms: u64,
    /// How long the containers run before exiting (Jobs, bare pods, trace tasks). `None` = forever.
    pub duration_ms: Option<u64>,
    pub images: Vec<Image>,
    /// Names of its node-local volumes (hostPath, emptyDir not backed by `Memory`): they block
    /// cluster-autoscaler scale-down unless listed in `safe-to-evict-local-volumes`.
    pub local_volumes: Vec<String>,
    /// Names of the PersistentVolumeClaims its `volumes` mount (`persistentVolumeClaim.claimName`),
    /// in its namespace (docs/model/scheduler.md §3).
    pub claims: Vec<String>,
    /// Set on a template derived for pods whose claims bind them to these zones
    /// (the `volume` module): the zone is then also in every required node-affinity term. Lets the
    /// binder name kube-scheduler's VolumeZone reason.
    pub volume_zones: Option<Vec<String>>,
}

impl PodTemplate {
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }

    pub fn do_not_disrupt(&self) -> bool {
        self.annotation(DO_NOT_DISRUPT) == Some("true")
    }

    /// `system-node-critical` / `system-cluster-critical`, drained last (docs/model/karpenter.md §6).
    pub fn is_critical(&self) -> bool {
        matches!(
            self.priority_class_name.as_deref(),
            Some("system-node-critical") | Some("system-cluster-critical")
        )
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PodPhase {
    /// Not bound to a node.
    Pending,
    /// Bound; containers starting (image pull, start).
    Starting,
    Running,
    /// Being deleted or evicted; still holds its node's resources until the grace period ends.
    Terminating,
    Succeeded,
    /// Deleted by a user action (scale down) or a controller.
    Deleted,
    /// Evicted by a drain (disruption, interruption, scale-down).
    Evicted,
}

impl PodPhase {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            PodPhase::Succeeded | PodPhase::Deleted | PodPhase::Evicted
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PodPhase::Pending => "Pending",
            PodPhase::Starting => "Starting",
            PodPhase::Running => "Running",
            PodPhase::Terminating => "Terminating",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Deleted => "Deleted",
            PodPhase::Evicted => "Evicted",
        }
    }
}

/// Why a terminating pod is going away; decides its terminal phase.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum EndReason {
    Deleted,
    Evicted,
}

#[derive(Clone, Debug)]
pub struct Pod {
    pub id: PodId,
    pub name: String,
    pub template: Arc<PodTemplate>,
    pub owner: OwnerKind,
    /// Index of the owning controller in its kind's table.
    pub owner_index: u32,
    pub created_at: SimTime,
    pub phase: PodPhase,
    pub node: Option<NodeId>,
    /// When kube-scheduler first marked it `PodScheduled=False/Unschedulable`.
    pub unschedulable_since: Option<SimTime>,
    /// The binder's last reason for not placing it. Shared: the pods that fail like a
    /// template-mate in one pass (thousands while a cluster grows) hold one message, rather
    /// than a copy each, made and freed on every pass.
    pub unschedulable_reason: Option<Arc<str>>,
    pub bound_at: Option<SimTime>,
    pub running_at: Option<SimTime>,
    pub ended_at: Option<SimTime>,
    /// When it began terminating (deletion or eviction of a bound pod).
    pub terminating_since: Option<SimTime>,
    pub end_reason: Option<EndReason>,
    /// This pod replaces one that was evicted (its wait is counted as disruption cost).
    pub replaces_evicted: bool,
    /// kube-scheduler has taken it into its queue (after the stage-0 delay).
    pub queued: bool,
    /// `status.nominatedNodeName`: the node where this pod preempted lower-priority pods and
    /// waits for them to go (the binder reserves its requests there). Cleared on bind.
    pub nominated_node: Option<NodeId>,
    /// A StatefulSet pod's ordinal (`NAME-ORDINAL`): its replacement takes the same one.
    pub ordinal: Option<u32>,
    /// The PersistentVolumeClaims it mounts (its template's and, for a StatefulSet pod, its
    /// ordinal's `volumeClaimTemplates`).
    pub claims: Vec<ClaimId>,
}

impl Pod {
    pub fn is_active(&self) -> bool {
        !self.phase.is_terminal()
    }

    pub fn is_bound(&self) -> bool {
        matches!(
            self.phase,
            PodPhase::Starting | PodPhase::Running | PodPhase::Terminating
        )
    }

    pub fn labels(&self) -> &Labels {
        &self.template.labels
    }

    pub fn namespace(&self) -> &str {
        &self.template.namespace
    }

    /// When a `karpenter.sh/do-not-disrupt` duration ends (the pod's phase held): `None` for
    /// `"true"`, no annotation, or a value that is not a duration. Caches of results that
    /// read [`Pod::do_not_disrupt_active`] expire then.
    pub fn do_not_disrupt_ends(&self) -> Option<SimTime> {
        let d = self.template.annotations.get(DO_NOT_DISRUPT)?;
        let ms = asim_core::k8s::duration::parse_duration(d).ok()?;
        let since = self.running_at.or(self.bound_at).unwrap_or(self.created_at);
        Some(SimTime(since.0.saturating_add(ms)))
    }

    /// Does the pod carry an active `karpenter.sh/do-not-disrupt` (docs/model/karpenter.md §4.2):
    /// `"true"`, or a duration still running since the pod started? Invalid values are
    /// ignored; terminal and terminating pods never block.
    pub fn do_not_disrupt_active(&self, now: SimTime) -> bool {
        if !matches!(self.phase, PodPhase::Starting | PodPhase::Running) {
            return false;
        }
        match self
            .template
            .annotations
            .get(DO_NOT_DISRUPT)
            .map(String::as_str)
        {
            Some("true") => true,
            Some(d) => asim_core::k8s::duration::parse_duration(d).is_ok_and(|ms| {
                let since = self.running_at.or(self.bound_at).unwrap_or(self.created_at);
                now.0.saturating_sub(since.0) < ms
            }),
            None => false,
        }
    }
}
