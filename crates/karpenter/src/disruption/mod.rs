//! Karpenter's disruption controller (docs/model/karpenter.md §4): every 10 s, try the methods
//! in order — emptiness, drift, multi-node consolidation, single-node consolidation — and act
//! on the first that produces a command. Emptiness and consolidation commands wait 15 s and
//! are re-validated; a command with replacements waits for them to initialize before its
//! candidates are deleted (the orchestration queue, §4.8).
//!
//! Module map: candidates and budgets here; the consolidation simulation and pricing rules in
//! `consolidation`; cron budgets in `budgets`. Expiration lives in the NodeClaim lifecycle and
//! interruption in `karpenter::interruption`: they are forceful and take no budget.

mod balanced;
mod consolidation;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use asim_cluster::autoscaler::Ctx;
use asim_cluster::{Cluster, Node, NodeId, OwnerKind, Pod, PodId, PodPhase};
use asim_core::engine::SimTime;
use asim_core::k8s::duration::NillableDuration;
use asim_core::k8s::taints::{Taint, TaintEffect};

use super::Karpenter;
use super::apis::{ConsolidationPolicy, DisruptionReason};
use super::nodeclaim::ClaimState;
use crate::decision::Decision as LogDecision;
use crate::nodeclaim::store::ClaimId;
use crate::provisioning::{bit, name_prefix, set_bit};
use crate::timer::Timer;

pub use consolidation::{Decision, Replacement};

/// The disruption loop's polling period (§4.1).
pub const POLLING_PERIOD_MS: u64 = 10_000;
/// Emptiness and consolidation commands wait this long and are re-validated (§4.6).
pub const VALIDATION_DELAY_MS: u64 = 15_000;
/// A method that found nothing is skipped until the cluster changes or this much time passes
/// (§4.6 "Consolidated memo").
pub const CONSOLIDATED_MEMO_MS: u64 = 5 * 60_000;
/// Orchestration timeout for a command's replacements: clamp(80 ms × commands, 10 min, 1 h)
/// (§4.8); with few commands in flight, 10 minutes.
pub const COMMAND_TIMEOUT_MS: u64 = 10 * 60_000;
use crate::apis::DISRUPTED_TAINT;

/// Disruption methods, in the order a pass tries them (v1.5+, §4.1).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    Emptiness,
    Drift,
    MultiNodeConsolidation,
    SingleNodeConsolidation,
}

pub const METHODS: [Method; 4] = [
    Method::Emptiness,
    Method::Drift,
    Method::MultiNodeConsolidation,
    Method::SingleNodeConsolidation,
];

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Emptiness => "emptiness",
            Method::Drift => "drift",
            Method::MultiNodeConsolidation => "multi-node-consolidation",
            Method::SingleNodeConsolidation => "single-node-consolidation",
        }
    }

    /// The budget reason (§4.7).
    pub fn reason(self) -> DisruptionReason {
        match self {
            Method::Emptiness => DisruptionReason::Empty,
            Method::Drift => DisruptionReason::Drifted,
            _ => DisruptionReason::Underutilized,
        }
    }

    /// The report's `disruption` key the deleted nodes count under.
    pub fn report_key(self) -> &'static str {
        match self {
            Method::Emptiness => "emptiness",
            Method::Drift => "drift",
            _ => "consolidation",
        }
    }

    fn validated(self) -> bool {
        self != Method::Drift
    }
}

/// A decided disruption: which NodeClaims go, and what replaces them.
#[derive(Clone)]
pub struct Command {
    pub method: Method,
    /// NodeClaim indices.
    pub candidates: Vec<ClaimId>,
    pub decision: Decision,
}

/// A command whose replacements are launching (§4.8).
#[derive(Clone)]
struct InFlight {
    id: u64,
    command: Command,
    replacements: Vec<ClaimId>,
}

/// A consolidation simulation's candidates, whether it is for drift, for multi-node and for
/// multi-node's binary search, and the computation of the windows whose waiting nodes it
/// leaves out ([`Windows::epoch`]).
pub(super) type SimKey = (Vec<ClaimId>, bool, bool, bool, u64);
/// The cluster's generation, the NodeClaims' version, and the ICE cache's [`IceCache::state`](crate::instancetype::IceCache::state).
pub(super) type SimState = (u64, u64, (u64, usize));
/// What a pass's shared base was built for: [`SimState`], the nominations made, the time.
pub(super) type PassKey = (SimState, u64, SimTime);
/// A pass's [`SolveBase`](crate::provisioning::SolveBase), built by its first simulation.
pub(super) type SharedBase = std::rc::Rc<std::cell::OnceCell<crate::provisioning::SolveBase>>;

/// The controller's state between passes.
#[derive(Default)]
pub struct Controller {
    /// `featureGates.SpotToSpotConsolidation` (default false, §4.6).
    pub spot_to_spot: bool,
    /// A command waiting out its validation delay, and the index of the method after it.
    validating: Option<Command>,
    in_flight: Vec<InFlight>,
    next_command: u64,
    /// Per method: the cluster state and time at which it last found nothing (§4.6 memo).
    memo: BTreeMap<Method, ((u64, usize, usize), SimTime)>,
    /// What each consolidation simulation found, while the cluster, the NodeClaims and the
    /// unavailable offerings stay as they were ([`SimState`]): a pass re-run with nothing
    /// changed (the 5-minute refresh of §4.6, or a capped single-node pass resuming) reuses
    /// them instead of simulating again. Keyed by the candidates (in order), the kind of
    /// decision, and the computation of the consolidateAfter windows whose waiting nodes the
    /// simulation leaves out ([`Windows::epoch`]: a new computation may hold the same nodes,
    /// which only costs a simulation run again).
    pub(super) sims: BTreeMap<SimKey, Result<consolidation::Decision, String>>,
    pub(super) sims_state: Option<SimState>,
    /// The simulations' shared inputs at one instant ([`Karpenter::pass_base`]), with the
    /// state and time they were built for.
    pub(super) pass_base: Option<(PassKey, SharedBase)>,
    /// The candidates (§4.2), while nothing they are built from changes.
    candidates: Option<TimeBound<Arc<Vec<Candidate>>>>,
    /// Nodes inside their consolidateAfter window, and how many are past it (§4.3).
    pub(super) windows: Option<TimeBound<Windows>>,
    /// How many times the windows were computed ([`Windows::epoch`]).
    pub(super) windows_built: u64,
    /// The disruptions each NodePool's budgets allow per reason (§4.4), while nothing they are
    /// counted from changes.
    budgets: Option<TimeBound<BTreeMap<(usize, DisruptionReason), u32>>>,
    /// What the candidates take from each node's pods, kept while those pods are unchanged.
    node_pods: KeptNodePods,
    /// Why each node was last found unconsolidatable, so the log says it once per change.
    unconsolidatable: BTreeMap<ClaimId, String>,
    /// Where single-node consolidation resumes after a pass that hit its simulation cap.
    pub(super) single_cursor: usize,
    /// (cluster changes, NodeClaims) and how many single-node candidates were tried in it.
    pub(super) single_scanned: ((u64, usize), usize),
    started: bool,
}

impl Controller {
    /// A NodePool or NodeClass changed: what every method last found no longer holds.
    pub(crate) fn forget(&mut self) {
        self.memo.clear();
        self.sims.clear();
        self.pass_base = None;
        self.candidates = None;
        self.windows = None;
        self.budgets = None;
    }

    /// `spot_to_spot`: the `SpotToSpotConsolidation` feature gate.
    pub fn new(spot_to_spot: bool) -> Controller {
        Controller {
            spot_to_spot,
            ..Controller::default()
        }
    }
}

/// A result derived from the cluster and the NodeClaims that depends on the time only through
/// known edges — a consolidateAfter window ending, a nomination or a do-not-disrupt duration
/// expiring, a drift time arriving. It holds while its inputs are unchanged and the clock has
/// not reached the next edge, so an idle cluster's passes reuse it (docs/performance.md, "Idle
/// time") and a busy one rebuilds it, as it would without the cache.
pub(super) struct TimeBound<T> {
    /// Cluster generation, NodeClaims version, nominations made.
    inputs: (u64, u64, u64),
    /// Computed at `from`; the first instant at which some part may differ is `until`.
    from: SimTime,
    until: SimTime,
    pub(super) value: T,
}

impl<T> TimeBound<T> {
    fn holds(&self, inputs: (u64, u64, u64), now: SimTime) -> bool {
        self.inputs == inputs && self.from <= now && now < self.until
    }
}

/// The consolidateAfter windows (§4.3) of the initialized nodes.
pub(super) struct Windows {
    /// Nodes of NodePools with consolidation enabled still inside their window. Shared with
    /// the pass's base, which leaves them out.
    pub(super) waiting: Arc<BTreeSet<NodeId>>,
    /// Which computation of the windows this is (a count): what the simulations' memo keys
    /// on in place of the waiting nodes themselves.
    pub(super) epoch: u64,
    /// Nodes past it (the `Consolidatable` condition true).
    pub(super) consolidatable: usize,
}

/// Lower `until` to `at` when `at` is still ahead of `now`.
fn edge(until: &mut SimTime, at: SimTime, now: SimTime) {
    if at > now && at < *until {
        *until = at;
    }
}

/// A node the disruption controller may consider (§4.2), with what the methods need.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub claim: ClaimId,
    pub node: NodeId,
    /// Index into `Karpenter::pools`.
    pub pool: usize,
    pub price: f64,
    pub spot: bool,
    /// Index into the NodeClass's instance types.
    pub instance_type: u32,
    pub consolidatable: bool,
    /// Pods that would need a new home; none ⇒ empty (§4.4).
    pub reschedulable: Arc<[PodId]>,
    /// A pod that keeps the node where it is (do-not-disrupt, or a PDB allowing nothing).
    pub blocked: Option<String>,
    pub drifted_at: Option<SimTime>,
    /// v1.14 ordering key: price / (1 + Σ max(0, eviction cost)) (§4.6).
    pub savings_per_disruption: f64,
    /// The NodeClaim's name, shared with the kept facts of its node (a copy per candidate per
    /// pass was a heap block and a cache miss each).
    pub name: Arc<str>,
}

impl Candidate {
    pub fn is_empty(&self) -> bool {
        self.reschedulable.is_empty()
    }
}

/// A pod's eviction cost (§4.6): clamp(1 + deletion-cost/2²⁷ + priority/2²⁵, −10, 10).
pub fn eviction_cost(pod: &Pod) -> f64 {
    let deletion_cost = pod
        .template
        .annotations
        .get("controller.kubernetes.io/pod-deletion-cost")
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    let priority = f64::from(pod.template.priority);
    // 2²⁷ and 2²⁵, exact as f64.
    const TWO_27: f64 = (1u64 << 27) as f64;
    const TWO_25: f64 = (1u64 << 25) as f64;
    (1.0 + deletion_cost / TWO_27 + priority / TWO_25).clamp(-10.0, 10.0)
}

/// `DisruptionCost` of a node: Σ eviction cost of its pods × lifetime remaining (§3, §4.6).
/// v1.0–v1.13 ordered consolidation candidates by it; v1.14, which we follow, orders by
/// savings per unit of eviction cost, so only the formula (§8 item 48) is kept.
pub fn disruption_cost(pods: &[&Pod], lifetime_remaining: f64) -> f64 {
    pods.iter().map(|p| eviction_cost(p)).sum::<f64>() * lifetime_remaining.clamp(0.0, 1.0)
}

/// What is left of each NodePool's budget for one reason while a method picks candidates
/// (each pick takes one slot, §4.7).
pub(super) struct BudgetLedger<'b> {
    budgets: &'b BTreeMap<(usize, DisruptionReason), u32>,
    reason: DisruptionReason,
    left: BTreeMap<usize, u32>,
    /// Some candidate was refused for want of budget.
    pub blocked: bool,
}

impl<'b> BudgetLedger<'b> {
    pub(super) fn new(
        budgets: &'b BTreeMap<(usize, DisruptionReason), u32>,
        reason: DisruptionReason,
    ) -> Self {
        BudgetLedger {
            budgets,
            reason,
            left: BTreeMap::new(),
            blocked: false,
        }
    }

    /// Take one slot of `pool`'s budget, if any is left.
    pub(super) fn take(&mut self, pool: usize) -> bool {
        let b = self
            .left
            .entry(pool)
            .or_insert_with(|| self.budgets.get(&(pool, self.reason)).copied().unwrap_or(0));
        if *b == 0 {
            self.blocked = true;
            return false;
        }
        *b -= 1;
        true
    }
}

/// PDB allowances computed once per pass: (pdb index → disruptions allowed now).
struct PdbTable {
    allowed: Vec<i64>,
    /// The PDBs selecting each pod template's pods, by the template's address: a pod's
    /// namespace and labels are its template's, so the selectors are matched once per
    /// template rather than once per pod of every node (the templates outlive the table, which
    /// lives while the cluster is borrowed).
    selected: std::cell::RefCell<crate::ids::AddrMap<*const asim_cluster::PodTemplate, Selected>>,
}

/// The PDBs selecting a pod template: none, one, or several (the first named).
#[derive(Clone, Copy)]
enum Selected {
    None,
    One(usize),
    Several(usize),
}

impl PdbTable {
    fn new(cluster: &Cluster) -> PdbTable {
        let counts = cluster.pdb_pod_counts();
        PdbTable {
            allowed: cluster
                .pdbs
                .iter()
                .zip(counts)
                .map(|(pdb, (e, h))| pdb.disruptions_allowed(e, h))
                .collect(),
            selected: Default::default(),
        }
    }

    /// The PDBs selecting `pod`.
    fn selecting(&self, cluster: &Cluster, pod: &Pod) -> Selected {
        let key = Arc::as_ptr(&pod.template);
        let found = self.selected.borrow().get(&key).copied();
        found.unwrap_or_else(|| {
            let mut matching = cluster.pdbs.iter().enumerate().filter(|(_, pdb)| {
                pdb.namespace == pod.template.namespace && pdb.selector.matches(pod.labels())
            });
            let s = match (matching.next(), matching.next()) {
                (None, _) => Selected::None,
                (Some((i, _)), None) => Selected::One(i),
                (Some((i, _)), Some(_)) => Selected::Several(i),
            };
            self.selected.borrow_mut().insert(key, s);
            s
        })
    }

    /// The PDB named by `selected` if it blocks a pod's eviction now (a pod under two PDBs is
    /// blocked too, §4.2); `running`: the pod is Running (only those count against a budget).
    fn blocking<'c>(
        &self,
        cluster: &'c Cluster,
        selected: Selected,
        running: bool,
    ) -> Option<&'c str> {
        match selected {
            Selected::None => None,
            Selected::Several(i) => Some(&cluster.pdbs[i].name),
            Selected::One(i) => (running && self.allowed[i] < 1).then_some(&cluster.pdbs[i].name),
        }
    }
}

/// [`NodePods`] of the candidates' nodes, for the PDBs there were when they were built (the
/// PDBs only ever grow, at setup).
#[derive(Default)]
pub(super) struct KeptNodePods {
    pdbs: usize,
    /// Only looked up (and pruned): hashed.
    nodes: asim_core::hash::FastMap<NodeId, KeptCandidate>,
    /// The last candidates' nodes in their sorted order: the next build reads the nodes in
    /// this order, so that its sort meets a list already nearly in order (from pass to pass
    /// only the few nodes whose pods moved change their place).
    order: Vec<(NodeId, ClaimId)>,
}

/// What a candidate keeps from pass to pass: its NodeClaim's name and the name's first 16
/// bytes (neither changes: a node has one NodeClaim), and what it takes from its node's pods.
pub(super) struct KeptCandidate {
    name: Arc<str>,
    prefix: u128,
    pods: NodePods,
}

/// What a candidate takes from its node's pods (§4.2), valid while `Node::pods_version` is
/// `version`: the pods that would need a new home, the sum of their eviction costs, and the
/// pods that may keep the node where it is, in the node's pod order.
pub(super) struct NodePods {
    version: u64,
    reschedulable: Arc<[PodId]>,
    /// Σ max(0, eviction cost) over the node's active pods.
    evict_sum: f64,
    blockers: Vec<Blocker>,
}

/// A pod that may block its node's disruption: by a `karpenter.sh/do-not-disrupt` (for good,
/// or until a time), or by the PDBs selecting it. Of the pods under one PDB only the first
/// Running one is listed: if that PDB allows no disruption, it is the one named.
struct Blocker {
    pod: PodId,
    /// When a do-not-disrupt duration ends (kept as a cache edge whether or not it blocks).
    dnd_ends: Option<SimTime>,
    /// The pod's do-not-disrupt is in force: for good (`Some(None)`) or until a time.
    dnd: Option<Option<SimTime>>,
    /// The PDBs selecting it (`One` only for a Running pod).
    pdb: Selected,
}

/// Whether a PDB can keep `pod` on its node (§4.2): not a static pod, not already terminating,
/// and not tolerating the `disrupted` taint (such pods are not evicted).
fn pdb_applies(pod: &Pod, disrupted: &Taint) -> bool {
    pod.owner != OwnerKind::Node
        && pod.phase != PodPhase::Terminating
        && !pod
            .template
            .tolerations
            .iter()
            .any(|t| t.tolerates(disrupted))
}

impl NodePods {
    fn of(cluster: &Cluster, node: &Node, pdbs: &PdbTable) -> NodePods {
        let disrupted = Taint::new(DISRUPTED_TAINT, None, TaintEffect::NoSchedule);
        let mut evict_sum = 0.0;
        let mut blockers = Vec::new();
        let mut first_under: BTreeSet<usize> = BTreeSet::new();
        for p in &node.pods {
            let pod = cluster.pod(*p);
            if !pod.is_active() {
                continue;
            }
            evict_sum += eviction_cost(pod).max(0.0);
            let dnd_ends = pod.do_not_disrupt_ends();
            let dnd = match pod
                .template
                .annotations
                .get(asim_cluster::pod::DO_NOT_DISRUPT)
            {
                _ if !matches!(pod.phase, PodPhase::Starting | PodPhase::Running) => None,
                Some(v) if v == "true" => Some(None),
                Some(_) => dnd_ends.map(Some),
                None => None,
            };
            let pdb = if pdb_applies(pod, &disrupted) {
                pdbs.selecting(cluster, pod)
            } else {
                Selected::None
            };
            // Under a single PDB only a Running pod counts against it, and a second Running
            // pod blocks exactly when the first does, which comes before it: list the first.
            let running = pod.phase == PodPhase::Running;
            let pdb = match pdb {
                Selected::One(i) if !running || !first_under.insert(i) => Selected::None,
                other => other,
            };
            if dnd_ends.is_some() || dnd.is_some() || !matches!(pdb, Selected::None) {
                blockers.push(Blocker {
                    pod: *p,
                    dnd_ends,
                    dnd,
                    pdb,
                });
            }
        }
        NodePods {
            version: node.pods_version,
            reschedulable: Karpenter::reschedulable_pods(cluster, node).into(),
            evict_sum,
            blockers,
        }
    }

    /// Why the node cannot be disrupted now, if a pod keeps it: the first pod in the node's
    /// order with a do-not-disrupt in force or a PDB allowing nothing. The do-not-disrupt
    /// durations up to it are edges of the candidates' validity.
    fn blocked(
        &self,
        cluster: &Cluster,
        pdbs: &PdbTable,
        now: SimTime,
        until: &mut SimTime,
    ) -> Option<String> {
        for b in &self.blockers {
            if let Some(end) = b.dnd_ends {
                edge(until, end, now);
            }
            let pod = || cluster.pod(b.pod);
            if b.dnd.is_some_and(|ends| ends.is_none_or(|t| now < t)) {
                let pod = pod();
                return Some(format!(
                    "pod {}/{} has karpenter.sh/do-not-disrupt",
                    pod.namespace(),
                    pod.name
                ));
            }
            if let Some(pdb) = pdbs.blocking(cluster, b.pdb, true) {
                let pod = pod();
                return Some(format!(
                    "pod {}/{} is protected by PodDisruptionBudget {pdb}",
                    pod.namespace(),
                    pod.name
                ));
            }
        }
        None
    }
}

impl Karpenter {
    /// Schedule the first disruption pass (called at start).
    pub(super) fn start_disruption(&mut self, ctx: &mut Ctx<'_>) {
        if !self.pools.is_empty() && !self.disruption.started {
            self.disruption.started = true;
            ctx.set_timer(ctx.now + POLLING_PERIOD_MS, Timer::Disruption.encode());
        }
    }

    /// Index of the NodePool named `name` in `pools`.
    /// The initialized NodeClaims that have a node, with the node and their NodePool's index.
    pub(super) fn initialized_nodes<'a>(
        &'a self,
        cluster: &'a Cluster,
    ) -> impl Iterator<Item = (asim_cluster::NodeId, ClaimId, usize, &'a asim_cluster::Node)> + 'a
    {
        self.claims.nodes().filter_map(move |(node, ci)| {
            let c = &self.claims[ci];
            if !c.initialized() {
                return None;
            }
            Some((node, ci, self.pool_of(ci)?, cluster.node(node)?))
        })
    }

    pub(super) fn pool_index(&self, name: &str) -> Option<usize> {
        self.pools.iter().position(|p| p.nodepool.name() == name)
    }

    /// [`Karpenter::pool_index`] of NodeClaim `ci`'s NodePool, from `claim_pools` once known.
    pub(crate) fn pool_of(&self, ci: ClaimId) -> Option<usize> {
        const UNKNOWN: u32 = u32::MAX;
        const NONE: u32 = u32::MAX - 1;
        let mut known = self.claim_pools.borrow_mut();
        if known.len() <= ci.0 {
            known.resize(ci.0 + 1, UNKNOWN);
        }
        match known[ci.0] {
            UNKNOWN => {
                let pool = self.pool_index(&self.claims[ci].nodepool);
                known[ci.0] = pool.map_or(NONE, |p| p as u32);
                pool
            }
            NONE => None,
            p => Some(p as usize),
        }
    }

    /// Is consolidation (emptiness included) enabled for this NodePool (§4.3)?
    pub(super) fn consolidation_enabled(&self, pool: usize) -> bool {
        self.pools[pool].nodepool.spec.disruption.consolidate_after != NillableDuration::Never
    }

    /// Has the node been quiet for `consolidateAfter` since its last pod event or its
    /// initialization (§4.3)?
    pub(super) fn consolidatable(
        &self,
        pool: usize,
        claim: ClaimId,
        node: &Node,
        now: SimTime,
    ) -> bool {
        self.window_ends(pool, claim, node)
            .is_some_and(|end| now >= end)
    }

    /// When the node's consolidateAfter window ends: `None` when consolidation is off for its
    /// NodePool or its NodeClaim is not initialized.
    fn window_ends(&self, pool: usize, claim: ClaimId, node: &Node) -> Option<SimTime> {
        let NillableDuration::After(after) =
            self.pools[pool].nodepool.spec.disruption.consolidate_after
        else {
            return None;
        };
        let init = self.claims[claim].initialized_at?;
        Some(SimTime(node.last_pod_event.max(init).0 + after))
    }

    /// What the disruption caches key on ([`TimeBound`]).
    fn disruption_inputs(&self, cluster: &Cluster) -> (u64, u64, u64) {
        (
            cluster.generation(),
            self.claims.version(),
            self.nominations,
        )
    }

    /// The consolidateAfter windows now, from the cache while it holds.
    pub(super) fn windows(&mut self, cluster: &Cluster, now: SimTime) -> &Windows {
        let inputs = self.disruption_inputs(cluster);
        if !self
            .disruption
            .windows
            .as_ref()
            .is_some_and(|w| w.holds(inputs, now))
        {
            self.disruption.windows_built += 1;
            let mut until = SimTime(u64::MAX);
            let mut waiting = BTreeSet::new();
            let mut consolidatable = 0;
            for (node_id, ci, pool, node) in self.initialized_nodes(cluster) {
                let Some(end) = self.window_ends(pool, ci, node) else {
                    continue;
                };
                if now >= end {
                    consolidatable += 1;
                } else {
                    waiting.insert(node_id);
                    edge(&mut until, end, now);
                }
            }
            self.disruption.windows = Some(TimeBound {
                inputs,
                from: now,
                until,
                value: Windows {
                    waiting: Arc::new(waiting),
                    epoch: self.disruption.windows_built,
                    consolidatable,
                },
            });
        }
        match &self.disruption.windows {
            Some(w) => &w.value,
            None => unreachable!("set above"),
        }
    }

    /// The candidates now (§4.2), from the cache while it holds.
    pub(crate) fn candidates(&mut self, cluster: &Cluster, now: SimTime) -> Arc<Vec<Candidate>> {
        let inputs = self.disruption_inputs(cluster);
        if let Some(c) = &self.disruption.candidates
            && c.holds(inputs, now)
        {
            return c.value.clone();
        }
        let (list, until) = self.build_candidates(cluster, now);
        let list = Arc::new(list);
        self.disruption.candidates = Some(TimeBound {
            inputs,
            from: now,
            until,
            value: list.clone(),
        });
        list
    }

    /// Every node the controller may consider (§4.2), and the first instant at which the
    /// answer may change with the inputs unchanged ([`TimeBound`]). What a candidate takes
    /// from its node's pods is kept per node ([`NodePods`]) while those pods are unchanged, so
    /// a busy cluster's pass reads only the nodes whose pods moved.
    fn build_candidates(&mut self, cluster: &Cluster, now: SimTime) -> (Vec<Candidate>, SimTime) {
        let pdbs = PdbTable::new(cluster);
        let mut kept = std::mem::take(&mut self.disruption.node_pods);
        if kept.pdbs != cluster.pdbs.len() {
            kept = KeptNodePods {
                pdbs: cluster.pdbs.len(),
                ..KeptNodePods::default()
            };
        }
        let mut until = SimTime(u64::MAX);
        let mut out = Vec::with_capacity(cluster.node_count());
        let mut seen = Vec::with_capacity(cluster.node_count());
        // Per candidate, its name's first 16 bytes (the sort's key).
        let mut prefixes = Vec::with_capacity(cluster.node_count());
        // Every registered node with its NodeClaim: the last candidates first, in their order,
        // then the others in node order. (The order read changes nothing but the sort's work:
        // the candidates' sort key is total.)
        let mut pairs: Vec<(NodeId, ClaimId)> = Vec::with_capacity(cluster.node_count());
        // A bit per node slot (ids are dense and never reused), not a hashed set.
        let mut listed: Vec<bool> = Vec::new();
        for &(n, ci) in &kept.order {
            if self.claims.by_node(n) == Some(ci) && !bit(&listed, n.0 as usize) {
                set_bit(&mut listed, n.0 as usize);
                pairs.push((n, ci));
            }
        }
        pairs.extend(
            self.claims
                .nodes()
                .filter(|(n, _)| !bit(&listed, n.0 as usize)),
        );
        for (node_id, ci) in pairs {
            let c = &self.claims[ci];
            if c.state != ClaimState::Initialized || c.marked_for_deletion || c.do_not_disrupt {
                continue;
            }
            let Some(node) = cluster.node(node_id) else {
                continue;
            };
            if node.deleting {
                continue;
            }
            if let Some(&t) = self.nominated.get(&node_id)
                && t > now
            {
                edge(&mut until, t, now);
                continue;
            }
            let Some(pool) = self.pool_of(ci) else {
                continue;
            };
            let Some(l) = &c.launched else { continue };
            seen.push(node_id);
            let kept_node = kept.nodes.entry(node_id).or_insert_with(|| KeptCandidate {
                name: c.name.as_str().into(),
                prefix: name_prefix(&c.name),
                pods: NodePods::of(cluster, node, &pdbs),
            });
            if kept_node.pods.version != node.pods_version {
                kept_node.pods = NodePods::of(cluster, node, &pdbs);
            }
            let facts = &kept_node.pods;
            let blocked = facts.blocked(cluster, &pdbs, now, &mut until);
            if let Some(end) = self.window_ends(pool, ci, node) {
                edge(&mut until, end, now);
            }
            if let Some(t) = c.drifted_at {
                edge(&mut until, t, now);
            }
            out.push(Candidate {
                claim: ci,
                node: node_id,
                pool,
                price: l.price,
                spot: l.capacity_type == asim_core::cloud::CapacityType::Spot,
                instance_type: l.instance_type,
                consolidatable: self.consolidatable(pool, ci, node, now),
                reschedulable: Arc::clone(&facts.reschedulable),
                blocked,
                drifted_at: c.drifted_at.filter(|t| *t <= now),
                savings_per_disruption: l.price / (1.0 + facts.evict_sum),
                name: Arc::clone(&kept_node.name),
            });
            prefixes.push(kept_node.prefix);
        }
        // Forget the nodes no longer candidates (gone, deleting, nominated): what is kept stays
        // the size of the cluster.
        if kept.nodes.len() > seen.len() {
            let seen: asim_core::hash::FastSet<NodeId> = seen.into_iter().collect();
            kept.nodes.retain(|n, _| seen.contains(n));
        }
        // v1.14: the most savings per unit of disruption first; ties by name (§4.6). Names are
        // unique, so the order is total and any sort gives the same order. Sorted on small
        // keys (the savings' total order as an integer, the name's first 16 bytes; names
        // compared in full only when those are equal) by a sort that runs through a list
        // already in order in linear time, then the candidates put in their places.
        let mut keys: Vec<(std::cmp::Reverse<i64>, u128, u32)> = out
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let key = total_order_key(c.savings_per_disruption);
                (std::cmp::Reverse(key), prefixes[i], i as u32)
            })
            .collect();
        keys.sort_by(|a, b| {
            (a.0, a.1)
                .cmp(&(b.0, b.1))
                .then_with(|| out[a.2 as usize].name.cmp(&out[b.2 as usize].name))
        });
        let order: Vec<usize> = keys.iter().map(|k| k.2 as usize).collect();
        permute(&mut out, &order);
        kept.order = out.iter().map(|c| (c.node, c.claim)).collect();
        self.disruption.node_pods = kept;
        (out, until)
    }

    /// Per NodePool and reason: how many more nodes may be disrupted now (§4.7). The total is
    /// the initialized nodes not yet terminating; NotReady nodes and those being deleted or
    /// marked for deletion use up the budget.
    pub(crate) fn budget_mapping(
        &mut self,
        cluster: &Cluster,
        now: SimTime,
    ) -> BTreeMap<(usize, DisruptionReason), u32> {
        let inputs = self.disruption_inputs(cluster);
        if let Some(b) = &self.disruption.budgets
            && b.holds(inputs, now)
        {
            return b.value.clone();
        }
        let value = self.count_budgets(cluster, now);
        // A scheduled budget may open or close at any instant (its cron matches on the
        // minute, its duration ends anywhere): then the counts hold for this instant only.
        let until = if self.pools.iter().any(|p| p.budgets.scheduled()) {
            SimTime(now.0 + 1)
        } else {
            SimTime(u64::MAX)
        };
        self.disruption.budgets = Some(TimeBound {
            inputs,
            from: now,
            until,
            value: value.clone(),
        });
        value
    }

    /// [`Karpenter::budget_mapping`], counted.
    fn count_budgets(
        &self,
        cluster: &Cluster,
        now: SimTime,
    ) -> BTreeMap<(usize, DisruptionReason), u32> {
        let mut total = vec![0u32; self.pools.len()];
        let mut disrupting = vec![0u32; self.pools.len()];
        for (node_id, ci) in self.claims.nodes() {
            let c = &self.claims[ci];
            let Some(node) = cluster.node(node_id) else {
                continue;
            };
            if c.initialized_at.is_none() || c.state == ClaimState::Deleted {
                continue;
            }
            let Some(pool) = self.pool_of(ci) else {
                continue;
            };
            total[pool] += 1;
            if !node.ready || node.deleting || c.marked_for_deletion {
                disrupting[pool] += 1;
            }
        }
        let mut out = BTreeMap::new();
        for (pi, p) in self.pools.iter().enumerate() {
            for reason in [
                DisruptionReason::Empty,
                DisruptionReason::Drifted,
                DisruptionReason::Underutilized,
            ] {
                let allowed = p.budgets.allowed(reason, total[pi], now);
                out.insert((pi, reason), allowed.saturating_sub(disrupting[pi]));
            }
        }
        out
    }

    /// What Karpenter's consolidation state tracks, cheaply: cluster changes, NodeClaims, and
    /// how many NodeClaims have passed their consolidateAfter (the `Consolidatable` condition
    /// flipping is a state change too, §4.3).
    fn consolidation_state(&mut self, cluster: &Cluster, now: SimTime) -> (u64, usize, usize) {
        let consolidatable = self.windows(cluster, now).consolidatable;
        (cluster.changes, self.claims.len(), consolidatable)
    }

    /// One pass of the disruption loop, from method `from` on (§4.1).
    pub(super) fn disruption_pass(&mut self, ctx: &mut Ctx<'_>, from: usize) {
        let now = ctx.now;
        // Drop expired nominations.
        self.nominated.retain(|_, until| *until > now);
        let state = self.consolidation_state(ctx.cluster(), now);
        // Nothing changed since every method last found nothing: skip the pass without
        // building the candidates (§4.6 memo; drift has its own check below).
        let drift_pending = self
            .claims
            .live()
            .any(|(_, c)| c.drifted_at.is_some_and(|t| t <= now) && c.is_active());
        let memo_holds = |m: &Method| {
            self.disruption
                .memo
                .get(m)
                .is_some_and(|(s, at)| *s == state && now.0 < at.0 + CONSOLIDATED_MEMO_MS)
        };
        if !drift_pending
            && METHODS[from.min(METHODS.len())..]
                .iter()
                .filter(|m| **m != Method::Drift)
                .all(memo_holds)
        {
            ctx.set_timer(now + POLLING_PERIOD_MS, Timer::Disruption.encode());
            return;
        }
        let candidates = self.candidates(ctx.cluster(), now);
        // A method that finds nothing changes nothing, so every method sees the same budgets.
        let budgets = self.budget_mapping(ctx.cluster(), now);
        for &method in &METHODS[from.min(METHODS.len())..] {
            if let Some((s, at)) = self.disruption.memo.get(&method)
                && *s == state
                && now.0 < at.0 + CONSOLIDATED_MEMO_MS
            {
                continue;
            }
            let (command, budget_blocked) = match method {
                Method::Emptiness => self.emptiness(&candidates, &budgets),
                Method::Drift => (self.drift(ctx, &candidates, &budgets), false),
                Method::MultiNodeConsolidation => self.multi_node(ctx, &candidates, &budgets),
                Method::SingleNodeConsolidation => self.single_node(ctx, &candidates, &budgets),
            };
            let Some(command) = command else {
                if !budget_blocked && method != Method::Drift {
                    self.disruption.memo.insert(method, (state, now));
                }
                continue;
            };
            self.disruption.forget();
            if method.validated() {
                self.log(
                    now,
                    LogDecision::DisruptionValidating {
                        method: method.as_str().into(),
                        nodeclaims: self.names(&command.candidates),
                    },
                );
                self.disruption.validating = Some(command);
                ctx.set_timer(now + VALIDATION_DELAY_MS, Timer::Validate.encode());
            } else {
                self.execute(ctx, command);
                // After a command the loop runs again at once (§4.1).
                ctx.set_timer(now, Timer::Disruption.encode());
            }
            return;
        }
        ctx.set_timer(now + POLLING_PERIOD_MS, Timer::Disruption.encode());
    }

    /// The 15-second re-validation of an emptiness or consolidation command (§4.6).
    pub(super) fn validate_command(&mut self, ctx: &mut Ctx<'_>) {
        let Some(command) = self.disruption.validating.take() else {
            return;
        };
        let now = ctx.now;
        self.nominated.retain(|_, until| *until > now);
        let candidates = self.candidates(ctx.cluster(), now);
        let budgets = self.budget_mapping(ctx.cluster(), now);
        let method = command.method;
        let result = match method {
            Method::Emptiness => {
                // Keep the candidates still empty, consolidatable, unblocked and in budget.
                let mut ledger = BudgetLedger::new(&budgets, DisruptionReason::Empty);
                let keep: Vec<ClaimId> = command
                    .candidates
                    .iter()
                    .copied()
                    .filter(|ci| {
                        candidates.iter().any(|c| {
                            c.claim == *ci
                                && c.is_empty()
                                && c.consolidatable
                                && c.blocked.is_none()
                                && ledger.take(c.pool)
                        })
                    })
                    .collect();
                if keep.is_empty() {
                    Err("no candidate is still empty and within budget".to_string())
                } else {
                    Ok(Command {
                        candidates: keep,
                        ..command.clone()
                    })
                }
            }
            _ => self.revalidate_consolidation(ctx, &command, &candidates, &budgets),
        };
        match result {
            Ok(cmd) => {
                self.execute(ctx, cmd);
                ctx.set_timer(now, Timer::Disruption.encode());
            }
            Err(why) => {
                self.log(
                    now,
                    LogDecision::DisruptionCancelled {
                        method: method.as_str().into(),
                        nodeclaims: self.names(&command.candidates),
                        reason: why.to_string(),
                    },
                );
                // A failed validation falls through to the next method in the same pass.
                let next = METHODS
                    .iter()
                    .position(|m| *m == method)
                    .map_or(4, |i| i + 1);
                self.disruption_pass(ctx, next);
            }
        }
    }

    fn names(&self, claims: &[ClaimId]) -> Vec<String> {
        claims
            .iter()
            .map(|i| self.claims[*i].name.clone())
            .collect()
    }

    /// Emptiness (§4.4): every empty, consolidatable candidate the `Empty` budget allows, in one
    /// delete command. Returns (command, blocked by budgets).
    fn emptiness(
        &self,
        candidates: &[Candidate],
        budgets: &BTreeMap<(usize, DisruptionReason), u32>,
    ) -> (Option<Command>, bool) {
        let mut ledger = BudgetLedger::new(budgets, DisruptionReason::Empty);
        let mut chosen = Vec::new();
        for c in candidates.iter().filter(|c| {
            c.is_empty()
                && c.consolidatable
                && c.blocked.is_none()
                && self.consolidation_enabled(c.pool)
        }) {
            if ledger.take(c.pool) {
                chosen.push(c.claim);
            }
        }
        let budget_blocked = ledger.blocked;
        let cmd = (!chosen.is_empty()).then_some(Command {
            method: Method::Emptiness,
            candidates: chosen,
            decision: Decision::Delete,
        });
        (cmd, budget_blocked)
    }

    /// Drift (§4.5): drifted candidates, empty ones first, then the earliest drifted; one per
    /// command, skipping those whose pods cannot all be rescheduled.
    fn drift(
        &mut self,
        ctx: &mut Ctx<'_>,
        candidates: &[Candidate],
        budgets: &BTreeMap<(usize, DisruptionReason), u32>,
    ) -> Option<Command> {
        let mut drifted: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| {
                c.drifted_at.is_some()
                    && (c.blocked.is_none() || self.claims[c.claim].termination_grace_ms.is_some())
            })
            .collect();
        drifted.sort_by(|a, b| {
            (!a.is_empty(), a.drifted_at, &a.name).cmp(&(!b.is_empty(), b.drifted_at, &b.name))
        });
        for c in drifted {
            if budgets
                .get(&(c.pool, DisruptionReason::Drifted))
                .copied()
                .unwrap_or(0)
                == 0
            {
                continue;
            }
            match self.simulate_removal(ctx, &[c], true) {
                Ok(decision) => {
                    return Some(Command {
                        method: Method::Drift,
                        candidates: vec![c.claim],
                        decision,
                    });
                }
                Err(why) => self.note_unconsolidatable(ctx.now, c, &why),
            }
        }
        None
    }

    /// Log why a node was passed over, once per change of reason ("why didn't it consolidate
    /// this node?").
    pub(super) fn note_unconsolidatable(&mut self, now: SimTime, c: &Candidate, why: &str) {
        if self
            .disruption
            .unconsolidatable
            .get(&c.claim)
            .map(String::as_str)
            == Some(why)
        {
            return;
        }
        self.disruption
            .unconsolidatable
            .insert(c.claim, why.to_string());
        self.log(
            now,
            LogDecision::Unconsolidatable {
                nodeclaim: c.name.to_string(),
                reason: why.to_string(),
            },
        );
    }

    /// Carry out a command (§4.8): taint and mark the candidates; delete them now, or create
    /// the replacements and delete the candidates once those are initialized.
    fn execute(&mut self, ctx: &mut Ctx<'_>, command: Command) {
        let now = ctx.now;
        let (types, price_after): (Vec<String>, f64) = match &command.decision {
            Decision::Delete => (Vec::new(), 0.0),
            Decision::Replace(r) => (
                r.iter()
                    .flat_map(|r| r.type_names.iter().take(5).cloned())
                    .collect(),
                r.iter().map(|r| r.cheapest_price).sum(),
            ),
        };
        let price_before: f64 = command
            .candidates
            .iter()
            .filter_map(|i| self.claims[*i].launched.as_ref().map(|l| l.price))
            .sum();
        let nodes: Vec<String> = command
            .candidates
            .iter()
            .filter_map(|i| self.claims[*i].node)
            .filter_map(|n| ctx.cluster().node(n).map(|n| n.name.clone()))
            .collect();
        // Which drift check found it (§4.5).
        let drift_reason = (command.method == Method::Drift)
            .then(|| {
                command
                    .candidates
                    .first()
                    .and_then(|&i| self.claims[i].drift_reason)
            })
            .flatten()
            .map(|r| r.as_str().to_string());
        let event = LogDecision::Disruption {
            method: command.method.as_str().into(),
            reason: command.method.reason().as_str().into(),
            decision: match command.decision {
                Decision::Delete => "delete",
                Decision::Replace(_) => "replace",
            }
            .into(),
            nodeclaims: self.names(&command.candidates),
            nodes,
            replacement_instance_types: types,
            price_before,
            price_after,
            drift_reason,
        };
        self.log(now, event);
        for &ci in &command.candidates {
            self.disruption.unconsolidatable.remove(&ci);
            let c = &mut self.claims[ci];
            c.marked_for_deletion = true;
            if let Some(mut node) = c.node.and_then(|n| ctx.patch_node(n))
                && !node.taints.iter().any(|t| t.key == DISRUPTED_TAINT)
            {
                node.taints
                    .push(Taint::new(DISRUPTED_TAINT, None, TaintEffect::NoSchedule));
            }
        }
        let replacements = match &command.decision {
            Decision::Delete => Vec::new(),
            Decision::Replace(r) => r.clone(),
        };
        if replacements.is_empty() {
            for &ci in &command.candidates {
                self.delete_claim(ctx, ci, command.method.report_key());
            }
            return;
        }
        let mut created = Vec::new();
        for r in replacements {
            match self.create_claim(ctx, &r.template, &r.claim, r.requirements, r.types) {
                Some(i) => created.push(i),
                None => {
                    // Could not create a replacement: abort and untaint (§4.8 step 2).
                    self.abort(ctx, &command, "replacement could not be created");
                    return;
                }
            }
        }
        let id = self.disruption.next_command;
        self.disruption.next_command += 1;
        self.disruption.in_flight.push(InFlight {
            id,
            command,
            replacements: created,
        });
        ctx.set_timer(
            now + COMMAND_TIMEOUT_MS,
            Timer::OrchestrationTimeout(id).encode(),
        );
    }

    /// Undo a command's marks and taints.
    fn abort(&mut self, ctx: &mut Ctx<'_>, command: &Command, why: &str) {
        for &ci in &command.candidates {
            let c = &mut self.claims[ci];
            c.marked_for_deletion = false;
            if let Some(n) = c.node
                && ctx.cluster().node(n).is_some_and(|node| !node.deleting)
            {
                ctx.untaint(n, |t| t.key == DISRUPTED_TAINT);
            }
        }
        self.log(
            ctx.now,
            LogDecision::DisruptionFailed {
                method: command.method.as_str().into(),
                nodeclaims: self.names(&command.candidates),
                reason: why.to_string(),
            },
        );
    }

    /// Advance the orchestration queue: delete the candidates of commands whose replacements
    /// are all initialized; fail those with a replacement gone or past `timeout_id`'s deadline.
    pub(super) fn orchestrate(&mut self, ctx: &mut Ctx<'_>, timeout_id: Option<u64>) {
        let in_flight = std::mem::take(&mut self.disruption.in_flight);
        for f in in_flight {
            let failed = f.replacements.iter().any(|i| !self.claims[*i].is_active());
            let ready = f.replacements.iter().all(|i| self.claims[*i].initialized());
            if failed {
                self.abort(
                    ctx,
                    &f.command,
                    "a replacement NodeClaim was deleted before it initialized",
                );
            } else if ready {
                for &ci in &f.command.candidates {
                    self.delete_claim(ctx, ci, f.command.method.report_key());
                }
            } else if timeout_id == Some(f.id) {
                self.abort(
                    ctx,
                    &f.command,
                    "replacements did not initialize within the command timeout",
                );
            } else {
                self.disruption.in_flight.push(f);
            }
        }
    }
}

/// Rearrange `v` so that position `k` holds what was at `order[k]` (`order` a permutation),
/// moving only what changes place: cycle by cycle, by swaps.
fn permute<T>(v: &mut [T], order: &[usize]) {
    debug_assert_eq!(v.len(), order.len());
    let mut placed = vec![false; v.len()];
    for start in 0..v.len() {
        if placed[start] {
            continue;
        }
        // Fill `start`, then the place whose element moved into it, and so on round the cycle.
        let mut k = start;
        placed[k] = true;
        while order[k] != start {
            let from = order[k];
            v.swap(k, from);
            k = from;
            placed[k] = true;
        }
    }
}

/// `x` as an integer ordered as [`f64::total_cmp`] orders the floats.
fn total_order_key(x: f64) -> i64 {
    let bits = x.to_bits() as i64;
    bits ^ ((((bits >> 63) as u64) >> 1) as i64)
}

/// Consolidation policy helpers.
pub(crate) fn underutilized_allowed(policy: ConsolidationPolicy) -> bool {
    policy != ConsolidationPolicy::WhenEmpty
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use asim_cluster::PodTemplate;
    use asim_cluster::pod::DO_NOT_DISRUPT;
    use asim_cluster::scheduler::SchedulerSettings;

    fn pod_with(cluster: &mut Cluster, deletion_cost: Option<&str>, priority: i32) -> PodId {
        let mut t = PodTemplate {
            priority,
            ..Default::default()
        };
        if let Some(c) = deletion_cost {
            t.annotations.insert(
                "controller.kubernetes.io/pod-deletion-cost".into(),
                c.into(),
            );
        }
        cluster.create_pod(
            SimTime(0),
            "p".into(),
            Arc::new(t),
            OwnerKind::None,
            0,
            false,
        )
    }

    // docs/model/karpenter.md §8 item 48.
    #[test]
    fn disruption_cost_rises_with_deletion_cost_and_priority_and_falls_with_negative_values() {
        let mut c = Cluster::new(SchedulerSettings::default());
        let base = pod_with(&mut c, None, 0);
        let costly = pod_with(&mut c, Some("100000000"), 0);
        let important = pod_with(&mut c, None, 100_000_000);
        let cheap = pod_with(&mut c, Some("-100000000"), 0);
        let low = pod_with(&mut c, None, -100_000_000);
        let cost = |p: PodId| disruption_cost(&[c.pod(p)], 1.0);
        assert_eq!(cost(base), 1.0);
        assert!(cost(costly) > cost(base));
        assert!(cost(important) > cost(base));
        assert!(cost(cheap) < cost(base));
        assert!(cost(low) < cost(base));
        // Clamped to [-10, 10]; scaled by the lifetime left.
        let huge = pod_with(&mut c, None, i32::MAX);
        assert_eq!(eviction_cost(c.pod(huge)), 10.0);
        assert_eq!(disruption_cost(&[c.pod(base)], 0.25), 0.25);
    }

    /// The pod-by-pod scan `NodePods` replaced: the first pod in the node's order with a
    /// do-not-disrupt in force or a PDB allowing nothing keeps the node (docs/model/karpenter.md
    /// §4.2), the do-not-disrupt durations up to it bound the candidates' validity, and the
    /// eviction costs of every active pod add up.
    fn scan(
        cluster: &Cluster,
        node: &Node,
        pdbs: &PdbTable,
        now: SimTime,
    ) -> (Option<String>, SimTime, f64) {
        let disrupted = Taint::new(DISRUPTED_TAINT, None, TaintEffect::NoSchedule);
        let mut until = SimTime(u64::MAX);
        let (mut blocked, mut sum) = (None, 0.0);
        for p in &node.pods {
            let pod = cluster.pod(*p);
            if !pod.is_active() {
                continue;
            }
            sum += eviction_cost(pod).max(0.0);
            if blocked.is_some() {
                continue;
            }
            if let Some(end) = pod.do_not_disrupt_ends() {
                edge(&mut until, end, now);
            }
            if pod.do_not_disrupt_active(now) {
                blocked = Some(format!(
                    "pod {}/{} has karpenter.sh/do-not-disrupt",
                    pod.namespace(),
                    pod.name
                ));
            } else if pdb_applies(pod, &disrupted)
                && let Some(pdb) = pdbs.blocking(
                    cluster,
                    pdbs.selecting(cluster, pod),
                    pod.phase == PodPhase::Running,
                )
            {
                blocked = Some(format!(
                    "pod {}/{} is protected by PodDisruptionBudget {pdb}",
                    pod.namespace(),
                    pod.name
                ));
            }
        }
        (blocked, until, sum)
    }

    proptest::proptest! {
        /// The candidates are put in their sorted places by `permute`: position `k` gets
        /// what was at `order[k]`, for any permutation.
        #[test]
        fn permute_puts_each_element_where_the_order_says(v in proptest::collection::vec(0u32..1000, 0..40), seed in proptest::prelude::any::<u64>()) {
            // A permutation from the seed (a Fisher–Yates shuffle on a small generator).
            let mut order: Vec<usize> = (0..v.len()).collect();
            let mut x = seed | 1;
            for i in (1..order.len()).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                order.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let want: Vec<u32> = order.iter().map(|&i| v[i]).collect();
            let mut got = v.clone();
            permute(&mut got, &order);
            proptest::prop_assert_eq!(got, want);
        }

        /// The candidates' sort key orders savings as `f64::total_cmp` does (§4.6: the most
        /// savings per unit of disruption first), whatever the bits: signs, zeros, infinities,
        /// NaNs.
        #[test]
        fn savings_keys_order_as_total_cmp(a in proptest::num::f64::ANY, b in proptest::num::f64::ANY) {
            proptest::prop_assert_eq!(total_order_key(a).cmp(&total_order_key(b)), a.total_cmp(&b));
        }
    }

    mod kept_node_pods {
        use super::*;
        use asim_cluster::Pdb;
        use asim_core::k8s::resources::Resources;
        use asim_core::k8s::selector::{LabelSelector, Labels};
        use asim_core::k8s::taints::{Toleration, TolerationOperator};
        use proptest::prelude::*;

        fn pdb(name: &str, key: &str, value: &str) -> Pdb {
            let mut selector = LabelSelector::default();
            selector.match_labels.insert(key.into(), value.into());
            Pdb {
                name: name.into(),
                namespace: "default".into(),
                selector,
                min_available: Some(asim_cluster::IntOrPercent::Int(1)),
                max_unavailable: None,
            }
        }

        /// A pod: labels (app=web?, tier=front?), its do-not-disrupt value, whether it
        /// tolerates the disrupted taint, a static pod (owner Node), a deletion cost, and how
        /// far its lifecycle goes (0 bound, 1 running, 2 terminating, 3 ended).
        type PodSpec = (bool, bool, u8, bool, bool, i8, u8);

        fn pod_spec() -> impl Strategy<Value = PodSpec> {
            (
                any::<bool>(),
                any::<bool>(),
                0..4u8,
                any::<bool>(),
                prop::bool::weighted(0.1),
                -2..3i8,
                0..4u8,
            )
        }

        proptest! {
            // What NodePods keeps gives the candidate the scan gives, at any time and for any
            // PDB allowances (docs/model/karpenter.md §4.2).
            #[test]
            fn block_as_the_pod_by_pod_scan_does(
                specs in prop::collection::vec(pod_spec(), 0..12),
                allowed in prop::collection::vec(0..2i64, 2),
                now in prop_oneof![0..700u64, 355..375u64],
            ) {
                let mut c = Cluster::new(SchedulerSettings::default());
                c.pdbs.push(pdb("web", "app", "web"));
                c.pdbs.push(pdb("front", "tier", "front"));
                let node = c.add_node(Node::new(
                    "n".into(),
                    Labels::new(),
                    Vec::new(),
                    Resources::default(),
                    Resources::default(),
                    asim_cluster::NodeOwner::Unmanaged,
                    None,
                    SimTime(0),
                    true,
                ));
                for (i, (web, front, dnd, tolerates, static_pod, cost, stage)) in specs.into_iter().enumerate() {
                    let mut t = PodTemplate::default();
                    if web {
                        t.labels.insert("app".into(), "web".into());
                    }
                    if front {
                        t.labels.insert("tier".into(), "front".into());
                    }
                    if let Some(v) = ["", "true", "5m", "soon"].get(dnd as usize).filter(|v| !v.is_empty()) {
                        t.annotations.insert(DO_NOT_DISRUPT.into(), (*v).into());
                    }
                    if tolerates {
                        t.tolerations.push(Toleration {
                            key: Some(DISRUPTED_TAINT.into()),
                            operator: TolerationOperator::Exists,
                            ..Toleration::default()
                        });
                    }
                    t.annotations.insert(
                        "controller.kubernetes.io/pod-deletion-cost".into(),
                        (i64::from(cost) * 100_000_000).to_string(),
                    );
                    let owner = if static_pod { OwnerKind::Node } else { OwnerKind::None };
                    let at = SimTime(i as u64 * 1_000);
                    let p = c.create_pod(at, format!("p{i}"), Arc::new(t), owner, 0, false);
                    c.bind(p, node, at);
                    if stage >= 1 {
                        c.mark_running(p, SimTime(at.0 + 60_000));
                    }
                    if stage >= 2 {
                        c.begin_termination(p, SimTime(at.0 + 120_000), asim_cluster::EndReason::Evicted);
                    }
                    if stage >= 3 {
                        c.end_pod(p, SimTime(at.0 + 150_000), PodPhase::Evicted);
                    }
                }
                let pdbs = PdbTable { allowed, selected: Default::default() };
                let n = c.node(node).expect("added");
                // Whole seconds, often near the 5-minute do-not-disrupt ends (pods bound a second
                // apart, running a minute later), so that `now` meets them exactly.
                let now = SimTime(now * 1_000);
                let (blocked, until, sum) = scan(&c, n, &pdbs, now);
                let kept = NodePods::of(&c, n, &pdbs);
                let mut kept_until = SimTime(u64::MAX);
                prop_assert_eq!(kept.blocked(&c, &pdbs, now, &mut kept_until), blocked);
                prop_assert_eq!(kept_until, until);
                prop_assert_eq!(kept.evict_sum, sum);
                prop_assert_eq!(kept.version, n.pods_version);
            }
        }
    }

    #[test]
    fn do_not_disrupt_with_a_duration_lapses_after_it() {
        let mut c = Cluster::new(SchedulerSettings::default());
        let mut t = PodTemplate::default();
        t.annotations.insert(DO_NOT_DISRUPT.into(), "5m".into());
        let p = c.create_pod(
            SimTime(0),
            "p".into(),
            Arc::new(t),
            OwnerKind::None,
            0,
            false,
        );
        c.pod_mut(p).phase = PodPhase::Running;
        c.pod_mut(p).running_at = Some(SimTime(0));
        assert!(c.pod(p).do_not_disrupt_active(SimTime(299_000)));
        assert!(!c.pod(p).do_not_disrupt_active(SimTime(300_000)));
    }
}
