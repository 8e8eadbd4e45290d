//! The simulated Kubernetes cluster: pods, nodes, workload controllers, PDBs and the
//! kube-scheduler binder (docs/design.md §7).
//!
//! `Cluster` is plain state plus the rules that change it; it never schedules events itself.
//! `asim_sim` calls it and turns what changed into future events (pod start, pod end, …).

pub mod autoscaler;
pub mod controllers;
pub mod free_capacity;
pub mod hpa;
pub mod node;
pub mod pod;
pub mod pod_spec;
pub mod scheduler;
pub mod volume;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use asim_core::engine::SimTime;
use asim_core::k8s::taints::Taint;
use scheduler::queue::ClusterEvent;

pub use controllers::{DaemonSetController, IntOrPercent, JobController, Pdb, ReplicaController};
pub use node::{Node, NodeId, NodeOwner, NodePatch};
pub use pod::{EndReason, OwnerKind, Pod, PodId, PodPhase, PodTemplate, PreemptionPolicy};

/// Index of a controller in the cluster's tables.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ControllerRef {
    Replicas(u32),
    Job(u32),
    DaemonSet(u32),
}

/// Per PDB (in `Cluster::pdbs` order): the active pods it selects and how many of them are
/// Running, kept up to date by the pod lifecycle methods (`create_pod`, `bind`, `mark_running`,
/// `begin_termination`, `end_pod`) instead of recounted over every pod for each question:
/// eviction checks ask once per cluster change, and recounting was a fifth of a 5,000-node
/// cluster-autoscaler day.
#[derive(Default)]
struct PdbCounts {
    /// How many PDBs `counts` is for. Another number (a PDB added) means: count afresh at the
    /// next question, and until then the lifecycle methods leave `counts` alone.
    pdbs: usize,
    counts: Vec<(i64, i64)>,
    /// Which PDBs select a pod template (namespace and labels are the template's), by the
    /// template's address; the entry holds the template so that the address stays its own.
    selected: HashMap<usize, (Arc<PodTemplate>, Vec<u32>)>,
}

/// Templates whose PDB matches are remembered (a cluster's pods share a few templates; past
/// this many, the memo starts afresh rather than holding templates alive without bound).
const MAX_PDB_TEMPLATES: usize = 4096;

#[derive(Default)]
pub struct Cluster {
    pub pods: Vec<Pod>,
    nodes: Vec<Option<Node>>,
    /// The live nodes' ids, ascending (ids are never reused: a long replay leaves tens of
    /// thousands of empty slots in `nodes`, which iterating the live nodes skips).
    live: Vec<NodeId>,
    /// How many pods are Running: moved by `mark_running`, `begin_termination` and
    /// `end_pod`, the only ways into and out of the phase.
    running: usize,
    /// Live nodes that are Ready, and live nodes labelled spot (`karpenter.sh/capacity-type`;
    /// a node's labels are set when it joins): what every sample counts, kept so that a
    /// sample does not read every node.
    ready_nodes: usize,
    spot_nodes: usize,
    node_names: BTreeMap<String, NodeId>,
    /// The name of every node ever added, by id: reports name the node a finished pod ran on
    /// after the node is gone.
    names_by_id: Vec<String>,
    pub replica_sets: Vec<ReplicaController>,
    pub jobs: Vec<JobController>,
    pub daemonsets: Vec<DaemonSetController>,
    pub pdbs: Vec<Pdb>,
    /// Pods not bound to a node, in creation order.
    pending: BTreeSet<PodId>,
    /// Bound pods with required pod anti-affinity (for the symmetric anti-affinity check).
    anti_affinity_pods: BTreeSet<PodId>,
    pub scheduler_settings: scheduler::SchedulerSettings,
    /// Requests and allocatable over Ready nodes (utilization).
    totals: Totals,
    /// Bumped by every bind, pod end, termination and node change: lets a controller tell
    /// that nothing changed since it last looked (Karpenter's consolidation state, docs/model/karpenter.md §4.6).
    pub changes: u64,
    /// Bumped by every method that can change the cluster (any `&mut self` method, including
    /// `pod_mut` and `node_mut`): equal generations mean nothing changed at all. Coarser than
    /// `changes` in the other direction; what caches of derived results key on. (`pods` and
    /// `pdbs` are public for reading; a write through them would bypass this — nothing does.)
    generation: u64,
    /// Per PDB: (matching active pods, matching running pods), see [`PdbCounts`].
    pdb_counts: std::cell::RefCell<PdbCounts>,
    /// A node lost a taint or was uncordoned since the last [`Cluster::take_node_relaxed`].
    node_relaxed: bool,
    /// Preemptions the binder decided (docs/model/scheduler.md §2), for tests and debugging;
    /// their victims are counted as evicted in the report.
    pub preemptions: u64,
    /// StorageClasses and PersistentVolumeClaims (docs/model/scheduler.md §3).
    pub volumes: volume::Volumes,
    /// The binder's unschedulable pool and the cluster events that release pods from it
    /// (docs/model/scheduler.md §4): every method below that changes what a filter reads
    /// records its event here.
    queue: scheduler::queue::SchedulingQueue,
    /// The binder's fixed-filter verdicts per template, from the last pass, and the
    /// `node_verdicts_version` they were computed at (reused while no node changed).
    verdict_cache: std::cell::RefCell<(u64, scheduler::Verdicts)>,
    /// Bumped when a node joins or goes, or when what the binder's fixed filters and scores
    /// read of a node changes ([`node::FilterFacts`]): the key of `verdict_cache`.
    node_verdicts_version: u64,
    /// The binder's topology spread counts, kept between passes and brought up to date with
    /// every pod and node event ([`scheduler::SpreadKept`]).
    spread_kept: scheduler::SpreadKept,
    /// The nodes in kube-scheduler's search order, and where the next search starts
    /// (docs/model/scheduler.md §5).
    node_tree: scheduler::node_tree::NodeTree,
    /// Per node id: allocatable − requested for cpu, memory, pods and ephemeral storage, kept
    /// with every change of a node's requests (`scheduler::free_of`). The binder reads it
    /// before it reads a node; building it afresh for each pass cost O(nodes) per pod arrival.
    free: Vec<[i64; 4]>,
    /// Bound pods per priority: preemption's first question is whether any bound pod has a
    /// lower priority than the pod that failed (answered once per pass, from this).
    bound_priorities: BTreeMap<i32, u32>,
    /// Bound pods per request shape (cpu, memory, pods, ephemeral storage): Karpenter gives its
    /// simulations' free-capacity index exact bits for the shapes it will place, and reading
    /// them off every node's templates cost a cache miss per node per build.
    bound_shapes: BTreeMap<free_capacity::Free, u32>,
    /// When each node last changed ([`NodeStamps`]).
    node_stamps: NodeStamps,
}

/// Per node slot, the reading of a clock that ticks at every change to a node — any of its
/// fields, a pod joining or leaving it, one of its pods changing phase or being patched, the
/// node going. A controller that keeps what it derived from each node remembers the clock at
/// its last look and reads again only the nodes stamped after it
/// ([`Cluster::node_changed_since`]): one array instead of every node's record.
#[derive(Clone, Debug, Default)]
struct NodeStamps {
    clock: u64,
    at: Vec<u64>,
}

impl NodeStamps {
    fn touch(&mut self, id: NodeId) {
        self.clock += 1;
        let i = id.0 as usize;
        if self.at.len() <= i {
            self.at.resize(i + 1, 0);
        }
        self.at[i] = self.clock;
    }
}

/// One fewer of `key` in `counts` (bound pods per priority, per request shape): a key whose
/// count reaches zero goes, so the keys are exactly those with a bound pod.
fn uncount<K: Ord>(counts: &mut BTreeMap<K, u32>, key: &K) {
    if let Some(c) = counts.get_mut(key) {
        *c -= 1;
        if *c == 0 {
            counts.remove(key);
        }
    }
}

/// Requests and allocatable summed over Ready nodes, what utilization is measured on
/// (docs/reports.md `utilization`): a node counts from Ready until it is gone, and DaemonSet
/// pods' requests are kept apart from the workload's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Workload (non-DaemonSet) pods' requests: millicores, bytes.
    pub requested_cpu_m: i64,
    pub requested_memory: i64,
    /// DaemonSet pods' requests.
    pub daemonset_cpu_m: i64,
    pub daemonset_memory: i64,
    pub allocatable_cpu_m: i64,
    pub allocatable_memory: i64,
}

/// Whether `node` is labelled spot capacity (`karpenter.sh/capacity-type: spot`).
pub fn is_spot(node: &Node) -> bool {
    node.label(pod::CAPACITY_TYPE_KEY) == Some("spot")
}

impl Totals {
    fn add_pod(&mut self, r: &asim_core::k8s::resources::Resources, daemon: bool, sign: i64) {
        if daemon {
            self.daemonset_cpu_m += sign * r.cpu_m;
            self.daemonset_memory += sign * r.memory;
        } else {
            self.requested_cpu_m += sign * r.cpu_m;
            self.requested_memory += sign * r.memory;
        }
    }

    fn add_node(&mut self, allocatable: &asim_core::k8s::resources::Resources, sign: i64) {
        self.allocatable_cpu_m += sign * allocatable.cpu_m;
        self.allocatable_memory += sign * allocatable.memory;
    }
}

impl Cluster {
    pub fn new(scheduler_settings: scheduler::SchedulerSettings) -> Self {
        Cluster {
            scheduler_settings,
            ..Default::default()
        }
    }

    // ---- pods -------------------------------------------------------------------------------

    pub fn pod(&self, id: PodId) -> &Pod {
        &self.pods[id.0 as usize]
    }

    /// See the field: equal generations mean no method that can change the cluster ran.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The pod to update. An update to a parked pod sends it back to the active queue, as
    /// kube-scheduler's `Update` does for a pod in its unschedulable pool (the caller may change
    /// anything the filters read). Not for its phase, node or template: those change through
    /// the lifecycle methods, which keep the nodes' books and the PDB counts.
    pub fn pod_mut(&mut self, id: PodId) -> &mut Pod {
        self.generation += 1;
        self.queue.unpark(id);
        if let Some(n) = self.pods[id.0 as usize]
            .node
            .and_then(|n| self.nodes[n.0 as usize].as_mut())
        {
            n.pods_version += 1;
            self.node_stamps.touch(n.id);
        }
        &mut self.pods[id.0 as usize]
    }

    /// Whether a scheduling pass at `now` would skip `pod`: it waits in the unschedulable pool
    /// for an event that could help it (docs/model/scheduler.md §4).
    pub fn is_parked(&self, pod: PodId, now: SimTime) -> bool {
        self.queue.is_parked(pod, now)
    }

    pub fn create_pod(
        &mut self,
        now: SimTime,
        name: String,
        template: Arc<PodTemplate>,
        owner: OwnerKind,
        owner_index: u32,
        replaces_evicted: bool,
    ) -> PodId {
        self.create_pod_with_ordinal(
            now,
            name,
            template,
            owner,
            owner_index,
            replaces_evicted,
            None,
        )
    }

    /// [`Cluster::create_pod`] for a StatefulSet's pod of `ordinal`: it mounts that ordinal's
    /// claims, created on first use. Any pod whose claims constrain its zone runs with the
    /// derived template (docs/model/scheduler.md §3).
    #[allow(clippy::too_many_arguments)]
    pub fn create_pod_with_ordinal(
        &mut self,
        now: SimTime,
        name: String,
        template: Arc<PodTemplate>,
        owner: OwnerKind,
        owner_index: u32,
        replaces_evicted: bool,
        ordinal: Option<u32>,
    ) -> PodId {
        self.generation += 1;
        let id = PodId(self.pods.len() as u32);
        let mut claims = Vec::new();
        // Names the loader checked; a claim that is not there would leave the pod unschedulable
        // upstream, and is not created here.
        for c in &template.claims {
            if let Some(cid) = self.volumes.by_name(&template.namespace, c) {
                claims.push(cid);
            }
        }
        if owner == OwnerKind::StatefulSet
            && let (Some(ord), Some(rc)) = (ordinal, self.replica_sets.get(owner_index as usize))
        {
            for spec in &rc.claim_templates {
                let claim = format!("{}-{}-{ord}", spec.name, rc.name);
                claims.push(self.volumes.ensure(&rc.namespace, &claim, spec));
            }
        }
        let template = if claims.is_empty() {
            template
        } else {
            self.volumes.effective(&template, &claims)
        };
        self.pods.push(Pod {
            id,
            name,
            template,
            owner,
            owner_index,
            created_at: now,
            phase: PodPhase::Pending,
            node: None,
            unschedulable_since: None,
            unschedulable_reason: None,
            bound_at: None,
            running_at: None,
            ended_at: None,
            terminating_since: None,
            end_reason: None,
            replaces_evicted,
            queued: false,
            nominated_node: None,
            ordinal,
            claims,
        });
        self.pending.insert(id);
        self.pdb_track(id, 1, 0);
        id
    }

    /// The distinct request shapes ([`free_capacity::core`]) of the pods bound to nodes, in
    /// order: kept with every bind and end, so that reading them costs the shapes, not the
    /// nodes.
    pub fn bound_request_shapes(&self) -> impl Iterator<Item = free_capacity::Free> + '_ {
        debug_assert!(
            self.bound_shapes.keys().copied().eq(self
                .nodes()
                .flat_map(|n| n
                    .pod_templates
                    .iter()
                    .map(|(t, _)| free_capacity::core(&t.requests)))
                .collect::<BTreeSet<_>>()),
            "Cluster::bound_shapes is stale"
        );
        self.bound_shapes.keys().copied()
    }

    /// Pending (unbound, active) pods in creation order.
    pub fn pending_pods(&self) -> impl Iterator<Item = PodId> + '_ {
        self.pending.iter().copied()
    }

    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Bind a pending pod to a node (the binder's decision, or a DaemonSet pod's placement).
    pub fn bind(&mut self, pod: PodId, node: NodeId, now: SimTime) {
        self.generation += 1;
        self.changes += 1;
        if !self.pods[pod.0 as usize].claims.is_empty() {
            self.bind_claims(pod, node);
        }
        self.queue.unpark(pod);
        self.queue.record(ClusterEvent::AssignedPodAdd);
        let p = &mut self.pods[pod.0 as usize];
        debug_assert_eq!(p.phase, PodPhase::Pending);
        p.phase = PodPhase::Starting;
        p.node = Some(node);
        p.bound_at = Some(now);
        // Bound elsewhere than its nominated node: the room held there is free again.
        if p.nominated_node.take().is_some_and(|n| n != node) {
            self.queue.record(ClusterEvent::AssignedPodDelete);
        }
        let template = Arc::clone(&p.template);
        self.pending.remove(&pod);
        if !template.anti_affinity.is_empty() {
            self.anti_affinity_pods.insert(pod);
        }
        let daemon = p.owner == OwnerKind::DaemonSet;
        if let Some(n) = self.nodes[node.0 as usize].as_mut() {
            if n.ready {
                self.totals.add_pod(&template.requests, daemon, 1);
            }
            n.requested.add(&template.requests);
            n.pods.insert(pod);
            *self.bound_priorities.entry(template.priority).or_insert(0) += 1;
            *self
                .bound_shapes
                .entry(free_capacity::core(&template.requests))
                .or_insert(0) += 1;
            self.free[node.0 as usize] = scheduler::free_of(n);
            self.node_tree.set_room(node, self.free[node.0 as usize]);
            self.spread_kept.journal(&template, node, 1);
            match n
                .pod_templates
                .iter_mut()
                .find(|(t, _)| Arc::ptr_eq(t, &template))
            {
                Some((_, count)) => *count += 1,
                None => n.pod_templates.push((Arc::clone(&template), 1)),
            }
            n.host_ports.extend(template.host_ports.iter().cloned());
            n.last_pod_event = now;
            n.pods_version += 1;
            self.node_stamps.touch(node);
        } else {
            // Bound to a node that is gone: on no node's books, so no longer active.
            self.pdb_track(pod, -1, 0);
        }
    }

    /// VolumeBinding's PreBind (docs/model/scheduler.md §3): the pod's WaitForFirstConsumer
    /// claims are provisioned in its node's zone. From then on the pod, and every pending pod
    /// that mounts one of those claims, runs with the zone required.
    fn bind_claims(&mut self, pod: PodId, node: NodeId) {
        let zone = self
            .node(node)
            .and_then(|n| n.label(pod::ZONE_KEY))
            .map(str::to_string);
        let claims = self.pods[pod.0 as usize].claims.clone();
        if !self.volumes.bind_first_consumer(&claims, zone.as_deref()) {
            return;
        }
        let sharing: Vec<PodId> = self
            .pending
            .iter()
            .copied()
            .filter(|p| {
                *p == pod
                    || self.pods[p.0 as usize]
                        .claims
                        .iter()
                        .any(|c| claims.contains(c))
            })
            .collect();
        for p in sharing {
            let pd = &self.pods[p.0 as usize];
            let t = self.volumes.effective(&pd.template, &pd.claims);
            self.pods[p.0 as usize].template = t;
            // Its volume now has a zone: retried like a pod whose PVC/PV changed (VolumeZone's
            // and VolumeBinding's events), though the zone can only narrow where it may go.
            self.queue.unpark(p);
        }
    }

    /// Containers started. Records the images as pulled on the node.
    pub fn mark_running(&mut self, pod: PodId, now: SimTime) {
        self.generation += 1;
        let p = &mut self.pods[pod.0 as usize];
        if p.phase != PodPhase::Starting {
            return;
        }
        p.phase = PodPhase::Running;
        p.running_at = Some(now);
        self.running += 1;
        let template = Arc::clone(&p.template);
        if let Some(n) = p.node.and_then(|n| self.nodes[n.0 as usize].as_mut()) {
            for img in &template.images {
                n.images.insert(img.name.clone());
            }
            n.pods_version += 1;
            self.node_stamps.touch(n.id);
            self.pdb_track(pod, 0, 1);
        }
    }

    /// Start deleting or evicting a pod. A pending pod ends at once (returns `None`); a bound one
    /// becomes Terminating and keeps its resources for its grace period (returned in ms).
    pub fn begin_termination(
        &mut self,
        pod: PodId,
        now: SimTime,
        reason: EndReason,
    ) -> Option<u64> {
        self.generation += 1;
        self.changes += 1;
        let p = &mut self.pods[pod.0 as usize];
        match p.phase {
            PodPhase::Pending => {
                p.end_reason = Some(reason);
                self.end_pod(pod, now, terminal_phase(reason));
                None
            }
            PodPhase::Starting | PodPhase::Running => {
                let was_running = p.phase == PodPhase::Running;
                p.phase = PodPhase::Terminating;
                self.running -= usize::from(was_running);
                if matches!(p.owner, OwnerKind::ReplicaSet | OwnerKind::StatefulSet) {
                    self.replica_sets[p.owner_index as usize].terminating += 1;
                }
                p.terminating_since = Some(now);
                p.end_reason = Some(reason);
                let grace = p.template.termination_grace_ms;
                if let Some(n) = p.node.and_then(|n| self.nodes[n.0 as usize].as_mut()) {
                    n.last_pod_event = now;
                    n.pods_version += 1;
                    self.node_stamps.touch(n.id);
                    if was_running {
                        self.pdb_track(pod, 0, -1);
                    }
                }
                Some(grace)
            }
            _ => None,
        }
    }

    /// A pod reaches a terminal phase: release its node's resources and tell its controller.
    /// Returns the controller that may need to create a replacement.
    pub fn end_pod(&mut self, pod: PodId, now: SimTime, phase: PodPhase) -> Option<ControllerRef> {
        self.generation += 1;
        debug_assert!(phase.is_terminal());
        self.changes += 1;
        let p = &mut self.pods[pod.0 as usize];
        if p.phase.is_terminal() {
            return None;
        }
        let was_running = p.phase == PodPhase::Running;
        let was_terminating = p.phase == PodPhase::Terminating;
        p.phase = phase;
        self.running -= usize::from(was_running);
        p.ended_at = Some(now);
        if p.nominated_node.take().is_some() {
            // The room its nomination held is free again.
            self.queue.record(ClusterEvent::AssignedPodDelete);
        }
        self.queue.unpark(pod);
        if p.end_reason.is_none() && phase == PodPhase::Evicted {
            p.end_reason = Some(EndReason::Evicted);
        }
        let (owner, idx) = (p.owner, p.owner_index);
        let template = Arc::clone(&p.template);
        let mut was_active = self.pending.remove(&pod);
        self.anti_affinity_pods.remove(&pod);
        if let Some(node_id) = p.node
            && let Some(n) = self.nodes[node_id.0 as usize].as_mut()
            && n.pods.remove(&pod)
        {
            was_active = true;
            self.queue.record(ClusterEvent::AssignedPodDelete);
            uncount(&mut self.bound_priorities, &template.priority);
            uncount(
                &mut self.bound_shapes,
                &free_capacity::core(&template.requests),
            );
            if let Some(i) = n
                .pod_templates
                .iter()
                .position(|(t, _)| Arc::ptr_eq(t, &template))
            {
                n.pod_templates[i].1 -= 1;
                if n.pod_templates[i].1 == 0 {
                    n.pod_templates.swap_remove(i);
                }
            }
            if n.ready {
                self.totals
                    .add_pod(&template.requests, owner == OwnerKind::DaemonSet, -1);
            }
            n.requested.sub(&template.requests);
            self.free[node_id.0 as usize] = scheduler::free_of(n);
            self.node_tree
                .set_room(node_id, self.free[node_id.0 as usize]);
            self.spread_kept.journal(&template, node_id, -1);
            for hp in &template.host_ports {
                if let Some(i) = n.host_ports.iter().position(|h| h == hp) {
                    n.host_ports.swap_remove(i);
                }
            }
            n.last_pod_event = now;
            n.pods_version += 1;
            self.node_stamps.touch(node_id);
        }
        if was_active {
            self.pdb_track(pod, -1, -i64::from(was_running));
        }
        match owner {
            OwnerKind::ReplicaSet | OwnerKind::StatefulSet => {
                let rc = &mut self.replica_sets[idx as usize];
                if rc.pods.remove(&pod) && was_terminating {
                    rc.terminating -= 1;
                }
                Some(ControllerRef::Replicas(idx))
            }
            OwnerKind::Job => {
                let j = &mut self.jobs[idx as usize];
                j.pods.remove(&pod);
                if phase == PodPhase::Succeeded {
                    j.succeeded += 1;
                }
                Some(ControllerRef::Job(idx))
            }
            _ => None,
        }
    }

    // ---- nodes ------------------------------------------------------------------------------

    pub fn add_node(&mut self, mut node: Node) -> NodeId {
        self.generation += 1;
        self.changes += 1;
        let id = NodeId(self.nodes.len() as u32);
        node.id = id;
        debug_assert!(node.pods.is_empty(), "a node joins without pods");
        if node.ready {
            self.totals.add_node(&node.allocatable, 1);
            self.ready_nodes += 1;
        }
        self.spot_nodes += usize::from(is_spot(&node));
        self.node_names.insert(node.name.clone(), id);
        self.names_by_id.push(node.name.clone());
        self.free.push(scheduler::free_of(&node));
        self.node_tree
            .add(id, scheduler::node_tree::zone_key(&node.labels));
        self.nodes.push(Some(node));
        self.live.push(id);
        self.node_stamps.touch(id);
        self.queue.record(ClusterEvent::NodeAdd);
        self.node_verdicts_version += 1;
        // The kept spread counts take a new node in (it has no pods yet).
        self.spread_kept.node_added(id);
        id
    }

    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id.0 as usize).and_then(Option::as_ref)
    }

    /// The clock of [`NodeStamps`]: remember it when you read the nodes, and ask
    /// [`Cluster::node_changed_since`] next time.
    pub fn node_clock(&self) -> u64 {
        self.node_stamps.clock
    }

    /// Whether node `id` changed (or went) after the node clock read `clock`. Ids never seen
    /// count as changed.
    pub fn node_changed_since(&self, id: NodeId, clock: u64) -> bool {
        self.node_stamps
            .at
            .get(id.0 as usize)
            .is_none_or(|&at| at > clock)
    }

    /// The live nodes' ids, ascending (creation order): for a scan that reads a node only if
    /// its stamp says it changed.
    pub fn node_ids(&self) -> &[NodeId] {
        &self.live
    }

    /// The node to patch. Counted as a Node/Update for the unschedulable pool whatever the
    /// caller changes (docs/model/scheduler.md §4). The binder's kept state is brought up to
    /// date from what the patch changed, which the [`NodePatch`] compares when it is dropped:
    /// the spread counts take a new label or deletion mark in, the fixed-filter verdicts and
    /// scores are dropped only if something they read changed (autoscalers label, taint and
    /// mark nodes all day).
    pub fn node_mut(&mut self, id: NodeId) -> Option<NodePatch<'_>> {
        self.generation += 1;
        self.queue.record(ClusterEvent::NodeUpdate);
        // The kept spread counts are brought up to date before the patch, which they then
        // take in (`NodePatch`'s drop).
        self.spread_kept.flush(&self.nodes);
        let node = self.nodes.get_mut(id.0 as usize).and_then(Option::as_mut)?;
        self.node_stamps.touch(id);
        Some(NodePatch {
            before: node::FilterFacts::of(node),
            node,
            spread: &mut self.spread_kept,
            verdicts_version: &mut self.node_verdicts_version,
        })
    }

    /// Add `taint` to node `id` (a Node/Update); false when there is no such node. The
    /// binder's kept spread counts stay as they are: they read no taint (nodeTaintsPolicy
    /// Ignore).
    pub fn taint(&mut self, id: NodeId, taint: Taint) -> bool {
        self.generation += 1;
        let Some(n) = self.nodes.get_mut(id.0 as usize).and_then(Option::as_mut) else {
            return false;
        };
        n.taints.push(taint);
        self.node_stamps.touch(id);
        self.queue.record(ClusterEvent::NodeUpdate);
        self.node_verdicts_version += 1;
        true
    }

    /// Remove the taints `drop` selects from node `id`; true when any went. A node that loses
    /// a taint may now take pods the binder rejected, so their next pass is requested (see
    /// [`Cluster::take_node_relaxed`]).
    pub fn untaint(&mut self, id: NodeId, drop: impl Fn(&Taint) -> bool) -> bool {
        self.generation += 1;
        let Some(n) = self.nodes.get_mut(id.0 as usize).and_then(Option::as_mut) else {
            return false;
        };
        let before = n.taints.len();
        n.taints.retain(|t| !drop(t));
        let removed = n.taints.len() != before;
        self.node_relaxed |= removed;
        if removed {
            self.node_stamps.touch(id);
            self.queue.record(ClusterEvent::NodeUpdate);
            self.node_verdicts_version += 1;
        }
        removed
    }

    /// Mark node `id` schedulable again (`kubectl uncordon`).
    pub fn uncordon(&mut self, id: NodeId) {
        self.generation += 1;
        if let Some(n) = self.nodes.get_mut(id.0 as usize).and_then(Option::as_mut)
            && n.unschedulable
        {
            n.unschedulable = false;
            self.node_stamps.touch(id);
            self.node_relaxed = true;
            self.queue.record(ClusterEvent::NodeUpdate);
            self.node_verdicts_version += 1;
        }
    }

    /// Whether a node lost a taint or was uncordoned since the last call. kube-scheduler moves
    /// unschedulable pods back to its active queue on such a Node update (the queueing hints of
    /// its TaintToleration and NodeUnschedulable plugins, kubernetes:
    /// pkg/scheduler/framework/plugins/tainttoleration/taint_toleration.go
    /// `isSchedulableAfterNodeChange`); the driver requests a scheduling pass when this is true.
    pub fn take_node_relaxed(&mut self) -> bool {
        std::mem::take(&mut self.node_relaxed)
    }

    /// The name of node `id`, live or removed.
    pub fn node_name(&self, id: NodeId) -> Option<&str> {
        self.names_by_id.get(id.0 as usize).map(String::as_str)
    }

    pub fn node_by_name(&self, name: &str) -> Option<&Node> {
        self.node_names.get(name).and_then(|id| self.node(*id))
    }

    /// Live nodes in creation order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.live
            .iter()
            .filter_map(|id| self.nodes[id.0 as usize].as_ref())
    }

    /// How many pods are Running.
    pub fn running_count(&self) -> usize {
        self.running
    }

    /// How many live nodes are Ready.
    pub fn ready_node_count(&self) -> usize {
        self.ready_nodes
    }

    /// How many live nodes are spot capacity (`karpenter.sh/capacity-type: spot`).
    pub fn spot_node_count(&self) -> usize {
        self.spot_nodes
    }

    pub fn node_count(&self) -> usize {
        self.live.len()
    }

    /// Whether any bound pod has required pod anti-affinity.
    pub fn has_anti_affinity_pods(&self) -> bool {
        !self.anti_affinity_pods.is_empty()
    }

    /// Requests and allocatable over Ready nodes, DaemonSets apart ([`Totals`]).
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// The node became Ready: from now on its allocatable and its pods' requests count in
    /// [`Cluster::totals`].
    pub fn mark_ready(&mut self, id: NodeId, now: SimTime) {
        self.generation += 1;
        let Some(n) = self.nodes.get_mut(id.0 as usize).and_then(Option::as_mut) else {
            return;
        };
        if n.ready {
            return;
        }
        n.ready = true;
        n.ready_at = Some(now);
        self.node_stamps.touch(id);
        self.ready_nodes += 1;
        // The node loses its not-ready taint: a Node/Update.
        self.queue.record(ClusterEvent::NodeUpdate);
        self.node_verdicts_version += 1;
        self.totals.add_node(&n.allocatable, 1);
        for p in &n.pods {
            let pod = &self.pods[p.0 as usize];
            self.totals
                .add_pod(&pod.template.requests, pod.owner == OwnerKind::DaemonSet, 1);
        }
    }

    /// Remove a node object. Pods still bound to it are ended as evicted (a node that vanishes
    /// takes its pods with it, as when an instance is reclaimed); their controllers are returned.
    pub fn remove_node(&mut self, id: NodeId, now: SimTime) -> Vec<ControllerRef> {
        self.generation += 1;
        self.changes += 1;
        let pods: Vec<PodId> = match self.node(id) {
            Some(n) => n.pods.iter().copied().collect(),
            None => return Vec::new(),
        };
        // The kept spread counts take the node out with its pods; the pods' ends below then
        // count nothing.
        self.spread_kept.flush(&self.nodes);
        if let Some(n) = self.nodes[id.0 as usize].as_ref() {
            self.spread_kept.node_removed(n, self.live.len());
        }
        let mut owners = Vec::new();
        for p in pods {
            if self.pods[p.0 as usize].end_reason.is_none() {
                self.pods[p.0 as usize].end_reason = Some(EndReason::Evicted);
            }
            let phase = terminal_phase(
                self.pods[p.0 as usize]
                    .end_reason
                    .unwrap_or(EndReason::Evicted),
            );
            owners.extend(self.end_pod(p, now, phase));
        }
        if let Some(n) = self.nodes[id.0 as usize].take() {
            self.node_stamps.touch(id);
            self.queue.record(ClusterEvent::NodeDelete);
            self.node_verdicts_version += 1;
            self.node_tree.remove(id);
            // Its pods ended above, taking their requests with them.
            if n.ready {
                self.totals.add_node(&n.allocatable, -1);
                self.ready_nodes -= 1;
            }
            self.spot_nodes -= usize::from(is_spot(&n));
            self.node_names.remove(&n.name);
            if let Ok(i) = self.live.binary_search(&id) {
                self.live.remove(i);
            }
        }
        owners
    }

    // ---- controllers ------------------------------------------------------------------------

    /// Pod name for the next replica of a controller (Deployment pods get a stable suffix).
    fn next_pod_name(name: &str, kind: OwnerKind, ordinal: u64) -> String {
        match kind {
            OwnerKind::StatefulSet => format!("{name}-{ordinal}"),
            _ => format!("{name}-{ordinal:05x}"),
        }
    }

    /// Bring a controller to its desired state. Returns the pods it created and the pods it
    /// wants deleted (the caller starts their termination).
    pub fn reconcile(
        &mut self,
        ctrl: ControllerRef,
        now: SimTime,
        replaces_evicted: bool,
    ) -> (Vec<PodId>, Vec<PodId>) {
        self.generation += 1;
        let mut created = Vec::new();
        let mut deleted = Vec::new();
        match ctrl {
            ControllerRef::Replicas(i)
                if self.replica_sets[i as usize].kind == OwnerKind::StatefulSet =>
            {
                self.reconcile_statefulset(i, now, replaces_evicted, &mut created, &mut deleted);
            }
            ControllerRef::Replicas(i) => {
                let rc = &self.replica_sets[i as usize];
                // Its replicas are its pods that are not Terminating (kube-controller-manager's
                // `FilterActivePods`).
                let active = rc.pods.len() - rc.terminating;
                debug_assert_eq!(
                    active,
                    rc.pods
                        .iter()
                        .filter(|p| self.pods[p.0 as usize].phase != PodPhase::Terminating)
                        .count()
                );
                let want = rc.replicas as usize;
                if active < want {
                    for _ in active..want {
                        let rc = &mut self.replica_sets[i as usize];
                        let name = Self::next_pod_name(&rc.name, rc.kind, rc.next_ordinal);
                        rc.next_ordinal += 1;
                        let (t, kind) = (Arc::clone(&rc.template), rc.kind);
                        let id = self.create_pod(now, name, t, kind, i, replaces_evicted);
                        self.replica_sets[i as usize].pods.insert(id);
                        created.push(id);
                    }
                } else if active > want {
                    // ReplicaSet scale-down order: unassigned first, then not-yet-running, then
                    // the newest (kube-controller-manager's ActivePods ranking, simplified).
                    let mut ranked: Vec<PodId> = rc
                        .pods
                        .iter()
                        .copied()
                        .filter(|p| self.pods[p.0 as usize].phase != PodPhase::Terminating)
                        .collect();
                    ranked.sort_by_key(|p| {
                        let pod = &self.pods[p.0 as usize];
                        let rank = match pod.phase {
                            PodPhase::Pending => 0,
                            PodPhase::Starting => 1,
                            _ => 2,
                        };
                        (
                            rank,
                            std::cmp::Reverse(pod.created_at),
                            std::cmp::Reverse(pod.id),
                        )
                    });
                    // As many as there are replicas too many: pods already Terminating are
                    // not counted, and not deleted again (`manageReplicas`' diff,
                    // kubernetes: pkg/controller/replicaset/replica_set.go).
                    deleted.extend(ranked.into_iter().take(active - want));
                }
            }
            ControllerRef::Job(i) => {
                let job = &self.jobs[i as usize];
                let active = job.pods.len() as u32;
                let wanted = job.wanted();
                for _ in active..wanted {
                    let job = &mut self.jobs[i as usize];
                    let name = format!("{}-{:05x}", job.name, job.next_ordinal);
                    job.next_ordinal += 1;
                    let t = Arc::clone(&job.template);
                    let id = self.create_pod(now, name, t, OwnerKind::Job, i, replaces_evicted);
                    self.jobs[i as usize].pods.insert(id);
                    created.push(id);
                }
            }
            ControllerRef::DaemonSet(_) => {}
        }
        (created, deleted)
    }

    /// A StatefulSet keeps one pod per ordinal in `0..replicas` (kubernetes:
    /// pkg/controller/statefulset/stateful_set_control.go): a missing ordinal is recreated
    /// under the same name, mounting the same claims — but only once the old pod is gone, as
    /// a terminating pod still holds its name. Ordinals at or above `replicas` are deleted.
    /// [simplification] Pods are created and deleted together (podManagementPolicy:
    /// Parallel); OrderedReady's one-at-a-time wait for Ready is not modelled.
    fn reconcile_statefulset(
        &mut self,
        i: u32,
        now: SimTime,
        replaces_evicted: bool,
        created: &mut Vec<PodId>,
        deleted: &mut Vec<PodId>,
    ) {
        let rc = &self.replica_sets[i as usize];
        let want = rc.replicas;
        let mut held = BTreeSet::new();
        for p in &rc.pods {
            let pod = &self.pods[p.0 as usize];
            let Some(ord) = pod.ordinal else { continue };
            held.insert(ord);
            if ord >= want && pod.phase != PodPhase::Terminating {
                deleted.push(*p);
            }
        }
        // Highest ordinal first, as the controller scales down.
        deleted.sort_by_key(|p| std::cmp::Reverse(self.pods[p.0 as usize].ordinal));
        for ord in (0..want).filter(|o| !held.contains(o)) {
            let rc = &self.replica_sets[i as usize];
            let name = Self::next_pod_name(&rc.name, rc.kind, u64::from(ord));
            let t = Arc::clone(&rc.template);
            let id = self.create_pod_with_ordinal(
                now,
                name,
                t,
                OwnerKind::StatefulSet,
                i,
                replaces_evicted,
                Some(ord),
            );
            self.replica_sets[i as usize].pods.insert(id);
            created.push(id);
        }
    }

    // ---- PDBs -------------------------------------------------------------------------------

    /// Per PDB (in `pdbs` order): the active pods it selects and how many of them are
    /// Running ([`PdbCounts`]).
    pub fn pdb_pod_counts(&self) -> Vec<(i64, i64)> {
        self.pdb_counts_ref().counts.clone()
    }

    /// The kept counts, counted afresh if a PDB was added since.
    fn pdb_counts_ref(&self) -> std::cell::Ref<'_, PdbCounts> {
        {
            let mut live = self.pdb_counts.borrow_mut();
            if live.pdbs != self.pdbs.len() {
                live.counts = self.count_pdb_pods();
                live.pdbs = self.pdbs.len();
                // Matched against the PDBs there were.
                live.selected.clear();
            }
            debug_assert_eq!(live.counts, self.count_pdb_pods(), "PDB counts are stale");
        }
        self.pdb_counts.borrow()
    }

    /// A pod became active (`active` 1) or stopped being active (−1), or started (`running` 1)
    /// or stopped running (−1) while active: move the counts of the PDBs that select it.
    fn pdb_track(&mut self, pod: PodId, active: i64, running: i64) {
        let live = self.pdb_counts.get_mut();
        if self.pdbs.is_empty() || live.pdbs != self.pdbs.len() {
            return;
        }
        let t = &self.pods[pod.0 as usize].template;
        if live.selected.len() >= MAX_PDB_TEMPLATES {
            live.selected.clear();
        }
        let pdbs = &self.pdbs;
        let (_, selected) = live
            .selected
            .entry(Arc::as_ptr(t) as usize)
            .or_insert_with(|| {
                let selected = pdbs
                    .iter()
                    .enumerate()
                    .filter(|(_, pdb)| {
                        t.namespace == pdb.namespace && pdb.selector.matches(&t.labels)
                    })
                    .map(|(i, _)| i as u32)
                    .collect();
                (Arc::clone(t), selected)
            });
        for &i in selected.iter() {
            let c = &mut live.counts[i as usize];
            c.0 += active;
            c.1 += running;
        }
    }

    /// Per PDB: the active pods it selects and how many of them are Running, counted over
    /// every pod. Active pods are the pending ones and those bound to a node (terminal pods
    /// leave both).
    fn count_pdb_pods(&self) -> Vec<(i64, i64)> {
        let mut counts = vec![(0i64, 0i64); self.pdbs.len()];
        // A pod's namespace and labels are its template's, and a cluster's pods share a few
        // templates: match each template against the PDBs once, not each pod.
        let mut selected: HashMap<*const PodTemplate, Vec<usize>> = HashMap::new();
        let bound = self.nodes().flat_map(|n| n.pods.iter());
        for id in self.pending.iter().chain(bound) {
            let other = &self.pods[id.0 as usize];
            let pdbs = selected
                .entry(Arc::as_ptr(&other.template))
                .or_insert_with(|| {
                    self.pdbs
                        .iter()
                        .enumerate()
                        .filter(|(_, pdb)| {
                            other.template.namespace == pdb.namespace
                                && pdb.selector.matches(other.labels())
                        })
                        .map(|(i, _)| i)
                        .collect()
                });
            for &i in pdbs.iter() {
                let c = &mut counts[i];
                c.0 += 1;
                if other.phase == PodPhase::Running {
                    c.1 += 1;
                }
            }
        }
        counts
    }

    /// Can `pod` be evicted now without violating a PodDisruptionBudget? Returns the blocking
    /// PDB's name otherwise. Pods that are not running do not count as healthy.
    pub fn pdb_blocking(&self, pod: PodId) -> Option<&str> {
        let p = &self.pods[pod.0 as usize];
        if self.pdbs.is_empty() {
            return None;
        }
        let live = self.pdb_counts_ref();
        for (pdb, &(expected, healthy)) in self.pdbs.iter().zip(&live.counts) {
            if pdb.namespace != p.template.namespace || !pdb.selector.matches(p.labels()) {
                continue;
            }
            // An unhealthy pod can always be evicted (unhealthyPodEvictionPolicy AlwaysAllow is
            // not the default; IfHealthyBudget allows it when the budget is met — simplified).
            if p.phase == PodPhase::Running && pdb.disruptions_allowed(expected, healthy) < 1 {
                return Some(&pdb.name);
            }
        }
        None
    }
}

pub fn terminal_phase(reason: EndReason) -> PodPhase {
    match reason {
        EndReason::Deleted => PodPhase::Deleted,
        EndReason::Evicted => PodPhase::Evicted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asim_core::k8s::resources::Resources;
    use asim_core::k8s::selector::Labels;

    /// A Ready node without labels or taints.
    fn bare_node(name: &str, allocatable: Resources) -> Node {
        Node::new(
            name.into(),
            Labels::new(),
            Vec::new(),
            allocatable.clone(),
            allocatable,
            NodeOwner::Unmanaged,
            None,
            SimTime(0),
            true,
        )
    }

    #[test]
    fn a_removed_node_keeps_its_name_for_the_reports() {
        let mut c = Cluster::default();
        let node = |name: &str| bare_node(name, Resources::default());
        let a = c.add_node(node("ip-10-0-0-1"));
        let b = c.add_node(node("ip-10-0-0-2"));
        c.remove_node(a, SimTime(1_000));
        assert!(c.node(a).is_none());
        assert_eq!(c.node_name(a), Some("ip-10-0-0-1"));
        assert_eq!(c.node_name(b), Some("ip-10-0-0-2"));
        assert_eq!(c.node_name(NodeId(7)), None);
    }

    /// The bound pods' request shapes are kept through binds, ends and a node's removal (its
    /// pods end with it), and a shape goes only when its last bound pod does: Karpenter's
    /// simulations read them instead of every node's templates.
    #[test]
    fn bound_request_shapes_follow_binds_ends_and_node_removals() {
        let mut c = Cluster::default();
        let a = c.add_node(bare_node("a", Resources::new(64_000, 1 << 40)));
        let b = c.add_node(bare_node("b", Resources::new(64_000, 1 << 40)));
        let template = |cpu_m: i64| {
            Arc::new(PodTemplate {
                requests: Resources::new(cpu_m, 1 << 20),
                ..Default::default()
            })
        };
        let (small, large) = (template(100), template(2_000));
        let mut pod = |name: &str, t: &Arc<PodTemplate>| {
            c.create_pod(
                SimTime(0),
                name.into(),
                Arc::clone(t),
                OwnerKind::None,
                0,
                false,
            )
        };
        let (p1, p2, p3) = (pod("p1", &small), pod("p2", &small), pod("p3", &large));
        let shapes = |c: &Cluster| c.bound_request_shapes().map(|s| s[0]).collect::<Vec<_>>();
        assert!(shapes(&c).is_empty(), "pending pods are not bound");
        c.bind(p1, a, SimTime(0));
        c.bind(p2, b, SimTime(0));
        c.bind(p3, b, SimTime(0));
        assert_eq!(shapes(&c), [100, 2_000]);
        c.end_pod(p1, SimTime(1_000), PodPhase::Succeeded);
        assert_eq!(shapes(&c), [100, 2_000], "p2 still has the small shape");
        c.remove_node(b, SimTime(2_000));
        assert!(shapes(&c).is_empty(), "b's pods ended with it");
    }

    /// Every change to a node stamps it — its pods joining, changing phase, being patched and
    /// leaving; a taint added or removed; uncordon; Ready; a patch; its removal — and only
    /// that node: Karpenter's existing capacity keeps each node's entry while its stamp holds
    /// (docs/performance.md).
    #[test]
    fn node_stamps_move_with_every_change_to_that_node_only() {
        let mut c = Cluster::default();
        let mut unready = bare_node("a", Resources::new(64_000, 1 << 40));
        unready.ready = false;
        let a = c.add_node(unready);
        let b = c.add_node(bare_node("b", Resources::new(64_000, 1 << 40)));
        let t = Arc::new(PodTemplate {
            requests: Resources::new(100, 1 << 20),
            ..Default::default()
        });
        let p = c.create_pod(SimTime(0), "p".into(), t, OwnerKind::None, 0, false);
        let changed = |c: &Cluster, clock: u64| {
            c.node_ids()
                .iter()
                .filter(|&&n| c.node_changed_since(n, clock))
                .map(|&n| c.node(n).map_or("?", |n| n.name.as_str()).to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            changed(&c, 0),
            ["a", "b"],
            "nodes that joined count as changed"
        );
        let step = |c: &mut Cluster, what: &str, f: &dyn Fn(&mut Cluster)| {
            let clock = c.node_clock();
            f(c);
            assert_eq!(changed(c, clock), ["a"], "{what} stamps a, and only a");
            assert!(!c.node_changed_since(b, clock), "{what}");
        };
        step(&mut c, "a bind", &|c| c.bind(p, a, SimTime(1)));
        step(&mut c, "Running", &|c| c.mark_running(p, SimTime(2)));
        step(&mut c, "a pod patch", &|c| {
            c.pod_mut(p);
        });
        step(&mut c, "a taint", &|c| {
            c.taint(
                a,
                Taint::new(
                    "k",
                    Some("v"),
                    asim_core::k8s::taints::TaintEffect::NoSchedule,
                ),
            );
        });
        step(&mut c, "an untaint", &|c| {
            c.untaint(a, |_| true);
        });
        step(&mut c, "Ready", &|c| c.mark_ready(a, SimTime(3)));
        step(&mut c, "a node patch", &|c| {
            if let Some(mut n) = c.node_mut(a) {
                n.unschedulable = true;
            }
        });
        step(&mut c, "uncordon", &|c| c.uncordon(a));
        step(&mut c, "a termination", &|c| {
            c.begin_termination(p, SimTime(4), EndReason::Deleted);
        });
        step(&mut c, "a pod's end", &|c| {
            c.end_pod(p, SimTime(5), PodPhase::Succeeded);
        });
        let clock = c.node_clock();
        c.remove_node(a, SimTime(6));
        assert!(c.node_changed_since(a, clock), "a removal stamps the node");
        assert!(changed(&c, clock).is_empty(), "a removed node is not live");
    }

    /// kube-controller-manager's ReplicaSet controller counts only pods that are not
    /// terminating as replicas and deletes `active − replicas` of them (`manageReplicas`,
    /// kubernetes: pkg/controller/replicaset/replica_set.go): scaled down while a pod
    /// terminates, it keeps exactly the replicas it wants.
    #[test]
    fn a_replica_set_scaled_down_while_a_pod_terminates_keeps_its_replicas() {
        let mut c = Cluster::default();
        let node = c.add_node(bare_node("n", Resources::new(64_000, 1 << 40)));
        c.replica_sets.push(ReplicaController {
            kind: OwnerKind::ReplicaSet,
            name: "web".into(),
            namespace: "default".into(),
            replicas: 4,
            template: Arc::new(PodTemplate::default()),
            pods: BTreeSet::new(),
            terminating: 0,
            next_ordinal: 0,
            claim_templates: Vec::new(),
        });
        let web = ControllerRef::Replicas(0);
        let (created, _) = c.reconcile(web, SimTime(0), false);
        assert_eq!(created.len(), 4);
        for &p in &created {
            c.bind(p, node, SimTime(0));
            c.mark_running(p, SimTime(1_000));
        }
        // One is evicted: it terminates for its grace period and is replaced at once.
        assert!(
            c.begin_termination(created[0], SimTime(2_000), EndReason::Evicted)
                .is_some()
        );
        let (replacement, _) = c.reconcile(web, SimTime(2_000), true);
        assert_eq!(replacement.len(), 1);
        // Scaled to 2 while it still terminates: 4 active, so 2 deleted, not 3.
        c.replica_sets[0].replicas = 2;
        let (_, deleted) = c.reconcile(web, SimTime(3_000), false);
        assert_eq!(deleted.len(), 2);
        assert!(
            !deleted.contains(&created[0]),
            "a terminating pod is not deleted again"
        );
        // Its end leaves the count of terminating pods at 0.
        c.end_pod(created[0], SimTime(30_000), PodPhase::Evicted);
        assert_eq!(c.replica_sets[0].terminating, 0);
    }

    /// The PDB counts kept by the lifecycle methods equal a count over every pod, whatever
    /// the order of creations, binds (to a node that may be gone), starts, terminations, ends,
    /// node removals and PDBs added midway.
    mod pdb_counts_kept {
        use super::*;
        use proptest::prelude::*;

        #[derive(Clone, Debug)]
        enum Op {
            Create(usize),
            Bind(usize, usize),
            Run(usize),
            Terminate(usize),
            End(usize, bool),
            AddNode,
            RemoveNode(usize),
            AddPdb,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0..3usize).prop_map(Op::Create),
                (0..40usize, 0..6usize).prop_map(|(p, n)| Op::Bind(p, n)),
                (0..40usize).prop_map(Op::Run),
                (0..40usize).prop_map(Op::Terminate),
                (0..40usize, any::<bool>()).prop_map(|(p, ok)| Op::End(p, ok)),
                Just(Op::AddNode),
                (0..6usize).prop_map(Op::RemoveNode),
                Just(Op::AddPdb),
            ]
        }

        fn pdb(name: &str, namespace: &str, app: Option<&str>) -> Pdb {
            let mut selector = LabelSelector::default();
            if let Some(app) = app {
                selector.match_labels.insert("app".into(), app.into());
            }
            Pdb {
                name: name.into(),
                namespace: namespace.into(),
                selector,
                min_available: Some(IntOrPercent::Int(1)),
                max_unavailable: None,
            }
        }

        use asim_core::k8s::selector::LabelSelector;

        proptest! {
            #[test]
            fn equal_a_recount(ops in proptest::collection::vec(op(), 1..120)) {
                let mut c = Cluster::default();
                c.pdbs.push(pdb("a", "default", Some("a")));
                let templates: Vec<Arc<PodTemplate>> = [("default", "a"), ("default", "b"), ("other", "a")]
                    .iter()
                    .map(|(ns, app)| {
                        let mut t = PodTemplate { namespace: (*ns).into(), ..Default::default() };
                        t.labels.insert("app".into(), (*app).into());
                        Arc::new(t)
                    })
                    .collect();
                let node = |i: usize| bare_node(&format!("n{i}"), Resources::default());
                let mut nodes = vec![c.add_node(node(0))];
                let mut pods: Vec<PodId> = Vec::new();
                // What each node's pods were (id and phase) at which `pods_version`.
                let mut seen: BTreeMap<NodeId, (u64, Vec<(PodId, PodPhase)>)> = BTreeMap::new();
                for (step, op) in ops.into_iter().enumerate() {
                    let now = SimTime(step as u64);
                    match op {
                        Op::Create(t) => pods.push(c.create_pod(now, format!("p{step}"), Arc::clone(&templates[t]), OwnerKind::None, 0, false)),
                        Op::Bind(p, n) => {
                            if let (Some(&p), Some(&n)) = (pods.get(p), nodes.get(n))
                                && c.pod(p).phase == PodPhase::Pending
                            {
                                c.bind(p, n, now);
                            }
                        }
                        Op::Run(p) => if let Some(&p) = pods.get(p) { c.mark_running(p, now) },
                        Op::Terminate(p) => if let Some(&p) = pods.get(p) { c.begin_termination(p, now, EndReason::Evicted); },
                        Op::End(p, ok) => if let Some(&p) = pods.get(p) {
                            c.end_pod(p, now, if ok { PodPhase::Succeeded } else { PodPhase::Evicted });
                        },
                        Op::AddNode => nodes.push(c.add_node(node(nodes.len()))),
                        Op::RemoveNode(n) => if let Some(&n) = nodes.get(n) { c.remove_node(n, now); },
                        Op::AddPdb => c.pdbs.push(pdb(&format!("p{step}"), "default", None)),
                    }
                    prop_assert_eq!(c.pdb_pod_counts(), c.count_pdb_pods(), "after step {}", step);
                    // The live list is the occupied slots, in id order.
                    let slots: Vec<NodeId> = c.nodes.iter().flatten().map(|n| n.id).collect();
                    let live: Vec<NodeId> = c.nodes().map(|n| n.id).collect();
                    prop_assert_eq!(c.node_count(), slots.len());
                    prop_assert_eq!(live, slots, "after step {}", step);
                    // The kept count of Running pods is a recount (the timeseries reads it).
                    let all = c.pods.iter().filter(|p| p.phase == PodPhase::Running).count();
                    prop_assert_eq!(c.running_count(), all, "after step {}", step);
                    // Node::pods_version moves whenever a node's pods or their phases do, so
                    // what an autoscaler keeps per (node, version) is never stale.
                    for n in c.nodes() {
                        let now_pods: Vec<(PodId, PodPhase)> =
                            n.pods.iter().map(|p| (*p, c.pod(*p).phase)).collect();
                        if let Some((version, before)) = seen.get(&n.id)
                            && *before != now_pods
                        {
                            prop_assert_ne!(*version, n.pods_version, "node {} after step {}", n.name, step);
                        }
                        seen.insert(n.id, (n.pods_version, now_pods));
                    }
                }
            }
        }
    }
}
