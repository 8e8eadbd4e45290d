//! kube-scheduler's pool of unschedulable pods (docs/model/scheduler.md §4; kubernetes:
//! pkg/scheduler/backend/queue/scheduling_queue.go, unschedulable_pods.go).
//!
//! A pod that fails every node and is not nominated is *parked*: passes skip it until a cluster
//! event that one of the plugins that rejected it registers for (their `EventsToRegister`)
//! happens, or until it has been parked for longer than `podMaxInUnschedulablePodsDuration`
//! (five minutes), when the periodic flush sends it back. Without this, every pass retried every
//! pending pod against every node, and pods waiting for new nodes cost pods × nodes × passes.
//!
//! Events are recorded where the cluster changes, as one sequence number per kind (the number of
//! the latest event of that kind), so asking whether a parked pod may be retried is a handful of
//! comparisons, whatever the cluster's size.

use asim_core::engine::SimTime;

use super::Reject;
use crate::PodId;

/// `DefaultPodMaxInUnschedulablePodsDuration` (kubernetes:
/// pkg/scheduler/backend/queue/scheduling_queue.go): a pod parked for longer than this is retried
/// on the next pass even if no event woke it.
pub const MAX_IN_UNSCHEDULABLE_PODS_MS: u64 = 5 * 60_000;

/// The cluster events the binder tells apart: the ones the filter plugins it models register
/// for (kubernetes: `framework.ClusterEvent`, pkg/scheduler/framework/types.go).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ClusterEvent {
    /// A node joined (Node/Add).
    NodeAdd,
    /// A node changed in a way that can only admit more pods, or was patched (Node/Update:
    /// became Ready, lost a taint, was uncordoned, or any patch through `Cluster::node_mut`,
    /// whose effect is not inspected).
    NodeUpdate,
    /// A node went (Node/Delete).
    NodeDelete,
    /// A pod bound to a node ended, releasing its requests and ports (Pod/Delete of an assigned
    /// pod); also a nominated pod's reservation released (see `Cluster::release_nomination`).
    AssignedPodDelete,
    /// A pod was bound to a node (Pod/Add of an assigned pod).
    AssignedPodAdd,
}

const KINDS: usize = 5;

impl ClusterEvent {
    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of [`ClusterEvent`] kinds.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct EventSet(u8);

impl EventSet {
    /// Every kind: a pod rejected by no plugin in particular (no nodes at all) is retried on any
    /// event, as upstream requeues a pod without rejector plugins on every event.
    pub const ALL: EventSet = EventSet((1 << KINDS) - 1);

    pub fn of(events: &[ClusterEvent]) -> EventSet {
        EventSet(events.iter().fold(0, |m, e| m | e.bit()))
    }

    pub fn union(self, other: EventSet) -> EventSet {
        EventSet(self.0 | other.0)
    }

    pub fn contains(self, e: ClusterEvent) -> bool {
        self.0 & e.bit() != 0
    }
}

impl Reject {
    /// The events that may make a pod this filter rejected schedulable: the `EventsToRegister`
    /// of the plugin behind the reason, with queueing hints on (their default since 1.32).
    pub fn wake_events(self) -> EventSet {
        use ClusterEvent::*;
        match self {
            // TaintToleration (a not-Ready node carries the not-ready taint), NodeUnschedulable,
            // NodeAffinity, VolumeZone: a new node, or a node's taints, labels or
            // spec.unschedulable changing (kubernetes:
            // pkg/scheduler/framework/plugins/tainttoleration/taint_toleration.go,
            // nodeunschedulable/node_unschedulable.go, nodeaffinity/node_affinity.go,
            // volumezone/volume_zone.go).
            Reject::NotReady
            | Reject::Unschedulable
            | Reject::Taint
            | Reject::NodeAffinity
            | Reject::VolumeZone => EventSet::of(&[NodeAdd, NodeUpdate]),
            // NodeResourcesFit, NodePorts: an assigned pod deleted, or a new node (allocatable
            // updates, which it also registers, do not happen here) (kubernetes:
            // pkg/scheduler/framework/plugins/noderesources/fit.go, nodeports/node_ports.go).
            Reject::Insufficient(_) | Reject::HostPort => {
                EventSet::of(&[NodeAdd, AssignedPodDelete])
            }
            // PodTopologySpread: every pod event, and nodes added, deleted or relabelled
            // (kubernetes: pkg/scheduler/framework/plugins/podtopologyspread/plugin.go).
            Reject::TopologySpread => EventSet::ALL,
            // InterPodAffinity: every pod event, and nodes added or relabelled (kubernetes:
            // pkg/scheduler/framework/plugins/interpodaffinity/plugin.go).
            Reject::PodAffinity | Reject::PodAntiAffinity => {
                EventSet::of(&[NodeAdd, NodeUpdate, AssignedPodDelete, AssignedPodAdd])
            }
        }
    }
}

/// A parked pod: when it was parked, the event count then, and what may wake it.
#[derive(Copy, Clone, Debug)]
struct Parked {
    since: SimTime,
    seq: u64,
    wake: EventSet,
}

/// The binder's unschedulable pool and the event counts it is checked against.
#[derive(Clone, Debug, Default)]
pub struct SchedulingQueue {
    /// Events recorded so far.
    seq: u64,
    /// Per [`ClusterEvent`] kind: the number of its latest event (0: none yet).
    last: [u64; KINDS],
    /// Per pod id: parked or not. Grown on demand; pods are never removed from the cluster.
    parked: Vec<Option<Parked>>,
}

impl SchedulingQueue {
    pub fn record(&mut self, e: ClusterEvent) {
        self.seq += 1;
        self.last[e as usize] = self.seq;
    }

    /// The number of events recorded so far: what a failure is dated with.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Put `pod` in the pool at `now`, to wait for one of `wake` recorded after event `seq`
    /// (the moment its failure was decided: a pod that reuses a template-mate's failure waits
    /// for the events after the mate's attempt).
    pub fn park(&mut self, pod: PodId, now: SimTime, wake: EventSet, seq: u64) {
        let i = pod.0 as usize;
        if self.parked.len() <= i {
            self.parked.resize(i + 1, None);
        }
        self.parked[i] = Some(Parked {
            since: now,
            seq,
            wake,
        });
    }

    /// Take `pod` out of the pool (it bound, ended, was nominated or was itself updated).
    pub fn unpark(&mut self, pod: PodId) {
        if let Some(p) = self.parked.get_mut(pod.0 as usize) {
            *p = None;
        }
    }

    /// Whether a pass at `now` skips `pod`: parked, not woken by an event since, and not yet
    /// flushed (upstream flushes a pod parked for longer than the limit).
    pub fn is_parked(&self, pod: PodId, now: SimTime) -> bool {
        let Some(Some(p)) = self.parked.get(pod.0 as usize) else {
            return false;
        };
        if now.since(p.since) > MAX_IN_UNSCHEDULABLE_PODS_MS {
            return false;
        }
        let woken = (0..KINDS).any(|k| p.wake.0 & (1 << k) != 0 && self.last[k] > p.seq);
        !woken
    }
}
