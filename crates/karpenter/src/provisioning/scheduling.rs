//! Karpenter's scheduling simulation (`Solve`): pack the pending pods onto existing nodes, then
//! onto NodeClaims planned in this batch, then onto new NodeClaims from the NodePools in weight
//! order, relaxing preferences on failure. docs/model/karpenter.md §1.3–§1.9.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use asim_core::hash::FastMap;
use std::sync::Arc;

use crate::apis::WELL_KNOWN_LABELS;
use asim_cluster::pod::{
    HOSTNAME_KEY, HostPort, PodAffinityTerm, PodTemplate, TopologySpread, WhenUnsatisfiable,
};
use asim_cluster::{NodeId, PodId};
use asim_core::engine::SimTime;
use asim_core::k8s::requirements::{Requirement, Requirements};
use asim_core::k8s::resources::Resources;
use asim_core::k8s::selector::Labels;
use asim_core::k8s::taints::{Taint, TaintEffect};

use crate::apis::is_ephemeral_taint;
use crate::decision::PodDecision;
use crate::instancetype::{
    CAPACITY_TYPE, INSTANCE_TYPE, IceCache, InstanceTypeInfo, OfferingKeys, ZONE, ZONE_ID,
};
use crate::provisioning::free_capacity::FreeCapacity;
use crate::provisioning::seed::{SeedCache, TopologySeed};
use crate::provisioning::topology::{
    AdmitScratch, DomId, DomainMasks, KeyId, KindId, Placed, PodRules, RulesStamp, SharedDoms,
    Topology, TopologyView,
};

/// One NodePool's NodeClaim template, ready for a solve.
#[derive(Clone)]
pub struct Template {
    pub nodepool: String,
    pub requirements: Requirements,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    pub startup_taints: Vec<Taint>,
    /// The NodeClass's instance types (shared), and the ones this NodePool may use (indices
    /// into `all_types`, ascending and distinct: the overhead lookup binary-searches them).
    pub all_types: Arc<Vec<InstanceTypeInfo>>,
    pub types: Vec<u32>,
    /// DaemonSet overhead per entry of `types` (same order).
    pub daemon_overhead: Vec<Resources>,
    /// `spec.limits − Σ capacity of the NodePool's nodes`; None = unlimited (§1.8).
    pub remaining: Option<Resources>,
    pub remaining_nodes: Option<i64>,
    /// Why `types` is empty, naming the filter that removed the last type (None when it is
    /// not empty).
    pub no_types_reason: Option<String>,
}

/// What an existing node is named and labelled, and the requirements its labels make: fixed
/// while its labels are (they only grow), so each pass's base shares one copy with the
/// provisioner's per-node cache. One reference per node per base, rather than one each for the
/// name, the labels and the requirements: on a large cluster every count is a cache miss.
#[derive(Debug)]
pub struct NodeIdentity {
    pub name: String,
    pub labels: Labels,
    pub requirements: Requirements,
}

impl NodeIdentity {
    /// A node named `name` with these labels, whose requirements are the labels'.
    pub fn new(name: &str, labels: Labels) -> Arc<NodeIdentity> {
        Arc::new(NodeIdentity {
            name: name.to_string(),
            requirements: Requirements::from_labels(&labels),
            labels,
        })
    }
}

/// A node (or in-flight NodeClaim) that exists before this batch.
#[derive(Clone, Debug)]
pub struct ExistingNode {
    /// Its name, labels and their requirements, shared with the provisioner's per-node cache:
    /// built once per node, not per batch.
    pub identity: Arc<NodeIdentity>,
    pub node: Option<NodeId>,
    /// Index of the NodeClaim in Karpenter's table, if Karpenter owns it.
    pub nodeclaim: Option<usize>,
    pub taints: Vec<Taint>,
    pub startup_taints: Vec<Taint>,
    pub initialized: bool,
    /// Allocatable − requests of bound pods − DaemonSet overhead not yet running.
    pub available: Resources,
    pub host_ports: Vec<HostPort>,
}

impl ExistingNode {
    pub fn name(&self) -> &str {
        &self.identity.name
    }

    pub fn labels(&self) -> &Labels {
        &self.identity.labels
    }

    pub fn requirements(&self) -> &Requirements {
        &self.identity.requirements
    }
}

/// A NodeClaim planned in this batch.
#[derive(Clone, Debug)]
pub struct PlannedClaim {
    pub template: usize,
    pub hostname: String,
    pub requirements: Requirements,
    pub pods: Vec<PodId>,
    pub requests: Resources,
    /// Indices into the template's `all_types` that still fit every pod (in the template's
    /// order; filled in when the solve ends).
    pub types: Vec<u32>,
    pub host_ports: Vec<HostPort>,
    /// Component-wise maximum of (allocatable − DaemonSet overhead) over `types`: a pod whose
    /// requests do not fit under it fits no remaining type.
    pub envelope: Resources,
}

/// `a + b + c ≤ cap` for every resource any of them requests.
pub fn fits_sum(a: &Resources, b: &Resources, c: &Resources, cap: &Resources) -> bool {
    a.cpu_m + b.cpu_m + c.cpu_m <= cap.cpu_m
        && a.memory + b.memory + c.memory <= cap.memory
        && a.pods + b.pods + c.pods <= cap.pods
        && a.ephemeral_storage + b.ephemeral_storage + c.ephemeral_storage <= cap.ephemeral_storage
        && (a.extended.is_empty() && b.extended.is_empty() && c.extended.is_empty()
            || [a, b, c].iter().all(|r| {
                r.extended
                    .keys()
                    .all(|k| a.get(k) + b.get(k) + c.get(k) <= cap.get(k))
            }))
}

pub struct SolveResult {
    pub claims: Vec<PlannedClaim>,
    /// Pods placed on existing nodes: (pod, index into `existing`).
    pub existing: Vec<(PodId, usize)>,
    pub errors: BTreeMap<PodId, String>,
    pub decisions: Vec<(PodId, PodDecision)>,
    /// The solve's type tables, for the next solve over the same templates, ICE cache and time.
    pub type_tables: TypeTables,
    /// The solve stopped at its [`Scheduler::max_claims`]: the rest is incomplete.
    pub stopped: bool,
    /// The free-capacity index as the solve left it, for a caller that lent it
    /// ([`Scheduler::over_base`]) to take back and restore.
    pub free: FreeCapacity,
}

/// Per template, its [`TypeTable`] once built. The tables depend only on the templates' types
/// and DaemonSet overhead, the ICE cache and the time, so the simulations of one disruption
/// pass hand them on to each other ([`Scheduler::set_type_tables`]) instead of rebuilding them
/// and re-deriving the same requirement and offering checks.
#[derive(Default)]
pub struct TypeTables(Vec<Option<TypeTable>>);

/// What of a pod the scheduler may relax (§1.7, PREFERENCE_POLICY=Respect). Borrowed from the
/// pod's template; copied only where an order or a filter differs from the template's.
#[derive(Clone, Debug)]
struct PodPrefs<'p> {
    /// Required node-affinity terms still allowed (OR); only the first is used.
    required_terms: &'p [Requirements],
    /// Preferred node-affinity terms, heaviest first; the first is treated as required.
    preferred_terms: Cow<'p, [(i32, Requirements)]>,
    /// DoNotSchedule spreads, pod affinity and pod anti-affinity.
    spread: Cow<'p, [TopologySpread]>,
    affinity: &'p [PodAffinityTerm],
    anti_affinity: &'p [PodAffinityTerm],
    /// Preferred pod (anti-)affinity and ScheduleAnyway spreads, treated as required until relaxed.
    preferred_affinity: Cow<'p, [PodAffinityTerm]>,
    preferred_anti_affinity: Cow<'p, [PodAffinityTerm]>,
    schedule_anyway: Cow<'p, [TopologySpread]>,
    tolerate_prefer_no_schedule: bool,
    relaxed: Vec<String>,
}

/// Where a pod went: an existing node (its index in the list), or a NodeClaim of this solve
/// (its index). Named only when the decisions are logged.
#[derive(Clone, Copy)]
enum Target {
    Existing(usize),
    Claim(usize),
}

/// The elements of `items` sorted by `key` (stable), borrowed when already in that order.
fn sorted_by<T: Clone, K: Ord>(items: &[T], key: impl Fn(&T) -> K) -> Cow<'_, [T]> {
    if items.is_sorted_by_key(&key) {
        Cow::Borrowed(items)
    } else {
        let mut v = items.to_vec();
        v.sort_by_key(key);
        Cow::Owned(v)
    }
}

/// The spreads with `when`, borrowed when that is all of them.
fn spreads(t: &PodTemplate, when: WhenUnsatisfiable) -> Cow<'_, [TopologySpread]> {
    if t.spread.iter().all(|s| s.when_unsatisfiable == when) {
        Cow::Borrowed(&t.spread)
    } else {
        Cow::Owned(
            t.spread
                .iter()
                .filter(|s| s.when_unsatisfiable == when)
                .cloned()
                .collect(),
        )
    }
}

/// Drop the first element (the caller checked there is one).
fn drop_first<T: Clone>(items: &mut Cow<'_, [T]>) {
    match items {
        Cow::Borrowed(s) => *s = s.get(1..).unwrap_or_default(),
        Cow::Owned(v) => {
            v.remove(0);
        }
    }
}

impl<'p> PodPrefs<'p> {
    fn new(t: &'p PodTemplate) -> Self {
        PodPrefs {
            required_terms: &t.required_terms,
            preferred_terms: sorted_by(&t.preferred_terms, |(w, _)| std::cmp::Reverse(*w)),
            spread: spreads(t, WhenUnsatisfiable::DoNotSchedule),
            affinity: &t.affinity,
            anti_affinity: &t.anti_affinity,
            preferred_affinity: sorted_by(&t.preferred_affinity, |a| std::cmp::Reverse(a.weight)),
            preferred_anti_affinity: sorted_by(&t.preferred_anti_affinity, |a| {
                std::cmp::Reverse(a.weight)
            }),
            schedule_anyway: spreads(t, WhenUnsatisfiable::ScheduleAnyway),
            tolerate_prefer_no_schedule: false,
            relaxed: Vec::new(),
        }
    }

    /// The pod's node requirements now: node selector ∧ first required term ∧ heaviest preferred.
    fn requirements(&self, t: &PodTemplate) -> Requirements {
        let mut r = Requirements::from_labels(&t.node_selector);
        if let Some(first) = self.required_terms.first() {
            r.add(first);
        }
        if let Some((_, p)) = self.preferred_terms.first() {
            r.add(p);
        }
        r
    }

    /// The pod's topology now: its required constraints, then the preferences still treated
    /// as required.
    fn topology(&self) -> TopologyView<'_> {
        TopologyView {
            spread: [&self.spread, &self.schedule_anyway],
            affinity: [self.affinity, &self.preferred_affinity],
            anti_affinity: [self.anti_affinity, &self.preferred_anti_affinity],
        }
    }

    /// Relax one preference, in Karpenter's order. False when nothing is left to relax.
    fn relax(&mut self, any_prefer_no_schedule: bool) -> bool {
        if self.required_terms.len() > 1 {
            self.required_terms = &self.required_terms[1..];
            self.relaxed
                .push("dropped a required node-affinity term".into());
        } else if !self.preferred_affinity.is_empty() {
            drop_first(&mut self.preferred_affinity);
            self.relaxed
                .push("dropped a preferred pod-affinity term".into());
        } else if !self.preferred_anti_affinity.is_empty() {
            drop_first(&mut self.preferred_anti_affinity);
            self.relaxed
                .push("dropped a preferred pod-anti-affinity term".into());
        } else if !self.preferred_terms.is_empty() {
            drop_first(&mut self.preferred_terms);
            self.relaxed
                .push("dropped a preferred node-affinity term".into());
        } else if !self.schedule_anyway.is_empty() {
            drop_first(&mut self.schedule_anyway);
            self.relaxed
                .push("dropped a ScheduleAnyway topology spread".into());
        } else if any_prefer_no_schedule && !self.tolerate_prefer_no_schedule {
            self.tolerate_prefer_no_schedule = true;
            self.relaxed
                .push("tolerating PreferNoSchedule taints".into());
        } else {
            return false;
        }
        true
    }
}

/// The first taint the pod does not tolerate (skipping `ignore`d ones and, when allowed,
/// PreferNoSchedule ones).
fn untolerated<'x>(
    t: &PodTemplate,
    taints: &'x [Taint],
    prefer_ok: bool,
    ignore: impl Fn(&Taint) -> bool,
) -> Option<&'x Taint> {
    taints.iter().find(|taint| {
        let skipped = ignore(taint) || (prefer_ok && taint.effect == TaintEffect::PreferNoSchedule);
        !skipped && !t.tolerations.iter().any(|tol| tol.tolerates(taint))
    })
}

fn tolerates(
    t: &PodTemplate,
    taints: &[Taint],
    prefer_ok: bool,
    ignore: impl Fn(&Taint) -> bool,
) -> Result<(), String> {
    match untolerated(t, taints, prefer_ok, ignore) {
        Some(taint) => Err(format!("did not tolerate taint {taint}")),
        None => Ok(()),
    }
}

/// Whether the surviving types still cover every `minValues` (§1.4).
pub fn satisfies_min_values(
    reqs: &Requirements,
    all: &[InstanceTypeInfo],
    types: &[u32],
) -> Result<(), String> {
    for r in reqs.iter() {
        let Some(min) = r.min_values() else { continue };
        let mut seen = BTreeSet::new();
        for &i in types {
            if let Some(v) = all[i as usize].requirements.get(r.key())
                && !v.is_complement()
            {
                for x in v.values() {
                    if r.has(x) {
                        seen.insert(x.clone());
                    }
                }
            }
        }
        if (seen.len() as u32) < min {
            return Err(format!(
                "minValues {min} for {} not satisfied: only {} value(s) left",
                r.key(),
                seen.len()
            ));
        }
    }
    Ok(())
}

/// A template's instance types as dense columns, built on the first placement that needs them
/// in a solve. A planned claim keeps its surviving types as a bit set over `all_types`; a pod
/// committed to it narrows the set by walking, per resource, only the types whose room lies
/// between the old and the new total (the types are pre-sorted by room), and requirement and
/// offering checks are computed once per distinct requirement and cached for the solve (the
/// types, the ICE cache and the time do not change during a solve).
struct TypeTable {
    /// Per `all_types` index (only the template's types are filled): allocatable − DaemonSet
    /// overhead as [cpu, memory, pods, ephemeral storage].
    room: Vec<[i64; 4]>,
    /// The DaemonSet overhead has extended resources: fit with [`fits_sum`] instead.
    exact: Vec<bool>,
    /// The allocatable has extended resources (the envelope must cover them).
    extended: Vec<bool>,
    any_exact: bool,
    any_extended: bool,
    /// The template's types as a set.
    all: Vec<u64>,
    /// Per resource: the template's types as (room, index), by room.
    by_room: [Vec<(i64, u32)>; 4],
    /// Words of a type bit set.
    words: usize,
    /// Bit set of the types whose requirement on the key intersects it. Probed only, never
    /// iterated (docs/design.md §1.2).
    req_ok: FastMap<Requirement, Vec<u64>>,
    /// Bit set of the types with an available offering, per (zone, capacity type) requirement.
    offer_ok: FastMap<OfferingKeys, Vec<u64>>,
}

fn bit(set: &[u64], i: u32) -> bool {
    set[(i / 64) as usize] & (1u64 << (i % 64)) != 0
}

fn set_bit(set: &mut [u64], i: u32) {
    set[(i / 64) as usize] |= 1u64 << (i % 64);
}

fn clear_bit(set: &mut [u64], i: u32) {
    set[(i / 64) as usize] &= !(1u64 << (i % 64));
}

fn count(set: &[u64]) -> usize {
    set.iter().map(|w| w.count_ones() as usize).sum()
}

/// The four core resources of a request, in the order of [`TypeTable::room`].
pub(crate) use asim_cluster::free_capacity::core;

impl TypeTable {
    fn new(tpl: &Template) -> Self {
        let n = tpl.all_types.len();
        let mut room = vec![[0i64; 4]; n];
        let mut exact = vec![false; n];
        let mut extended = vec![false; n];
        for &i in &tpl.types {
            let a = &tpl.all_types[i as usize].allocatable;
            let ov = overhead(tpl, i);
            let (a, o) = (core(a), core(ov));
            room[i as usize] = [a[0] - o[0], a[1] - o[1], a[2] - o[2], a[3] - o[3]];
            exact[i as usize] = !ov.extended.is_empty();
            extended[i as usize] = !tpl.all_types[i as usize].allocatable.extended.is_empty();
        }
        let by_room = std::array::from_fn(|j| {
            let mut v: Vec<(i64, u32)> = tpl
                .types
                .iter()
                .map(|&i| (room[i as usize][j], i))
                .collect();
            v.sort_unstable();
            v
        });
        let mut all = vec![0u64; n.div_ceil(64)];
        for &i in &tpl.types {
            set_bit(&mut all, i);
        }
        TypeTable {
            any_exact: exact.iter().any(|x| *x),
            any_extended: extended.iter().any(|x| *x),
            all,
            room,
            exact,
            extended,
            by_room,
            words: n.div_ceil(64),
            req_ok: FastMap::default(),
            offer_ok: FastMap::default(),
        }
    }

    fn bits(tpl: &Template, ok: impl Fn(&InstanceTypeInfo) -> bool) -> Vec<u64> {
        let mut set = vec![0u64; tpl.all_types.len().div_ceil(64)];
        for &i in &tpl.types {
            if ok(&tpl.all_types[i as usize]) {
                set_bit(&mut set, i);
            }
        }
        set
    }

    /// `set &= ` the types whose requirement on `r`'s key intersects `r` (or who have none).
    fn and_requirement(&mut self, tpl: &Template, r: &Requirement, set: &mut [u64]) {
        if !self.req_ok.contains_key(r) {
            let ok = Self::bits(tpl, |it| {
                it.requirements
                    .get(r.key())
                    .is_none_or(|a| a.has_intersection(r))
            });
            self.req_ok.insert(r.clone(), ok);
        }
        if let Some(ok) = self.req_ok.get(r) {
            set.iter_mut().zip(ok).for_each(|(m, s)| *m &= s);
        }
    }

    /// `set &= ` the types with an available offering under `reqs`.
    fn and_offering(
        &mut self,
        tpl: &Template,
        reqs: &Requirements,
        ice: &IceCache,
        now: SimTime,
        set: &mut [u64],
    ) {
        let key = OfferingKeys::of(reqs);
        let ok = self
            .offer_ok
            .entry(key)
            .or_insert_with_key(|keys| Self::bits(tpl, |it| it.has_offering_in(keys, ice, now)));
        set.iter_mut().zip(ok.iter()).for_each(|(m, s)| *m &= s);
    }

    /// Whether a pod total of `total` fits type `i` with the template's DaemonSet overhead
    /// (`fits_sum(total, overhead, 0, allocatable)`).
    fn fits(&self, tpl: &Template, total: &Resources, i: u32) -> bool {
        let (r, need) = (&self.room[i as usize], core(total));
        if (0..4).any(|j| need[j] > r[j]) {
            return false;
        }
        if total.extended.is_empty() && !self.exact[i as usize] {
            return true;
        }
        fits_sum(
            total,
            overhead(tpl, i),
            &Resources::default(),
            &tpl.all_types[i as usize].allocatable,
        )
    }

    /// The set of `source`'s types (all the template's when `None`) that `mask` allows (if
    /// any) and that fit a pod total of `total`.
    fn new_set(
        &self,
        tpl: &Template,
        source: Option<&[u32]>,
        total: &Resources,
        mask: Option<&[u64]>,
        set: &mut Vec<u64>,
    ) {
        set.clear();
        match source {
            None => set.extend_from_slice(&self.all),
            Some(types) => {
                set.resize(self.words, 0);
                for &i in types {
                    set_bit(set, i);
                }
            }
        }
        if let Some(m) = mask {
            set.iter_mut().zip(m).for_each(|(s, m)| *s &= m);
        }
        let nothing = Resources {
            cpu_m: i64::MIN,
            memory: i64::MIN,
            ephemeral_storage: i64::MIN,
            pods: i64::MIN,
            extended: BTreeMap::new(),
        };
        self.narrow(tpl, set, &nothing, total);
    }

    /// Narrow a claim's set from pod total `old` to `new`. Every type in it fits `old`
    /// already, so only the types whose room lies in `[old, new)` for some resource can drop
    /// out; extended resources, when in play, are checked type by type.
    fn narrow(&self, tpl: &Template, set: &mut [u64], old: &Resources, new: &Resources) {
        let (o, n) = (core(old), core(new));
        for j in 0..4 {
            if n[j] <= o[j] {
                continue;
            }
            let list = &self.by_room[j];
            let start = list.partition_point(|(r, _)| *r < o[j]);
            for &(r, i) in &list[start..] {
                if r >= n[j] {
                    break;
                }
                clear_bit(set, i);
            }
        }
        if !new.extended.is_empty() || self.any_exact {
            for &i in &tpl.types {
                if bit(set, i) && !self.fits(tpl, new, i) {
                    clear_bit(set, i);
                }
            }
        }
    }

    /// The types of a set, in the template's order.
    fn list(&self, tpl: &Template, set: &[u64], out: &mut Vec<u32>) {
        out.clear();
        out.extend(tpl.types.iter().copied().filter(|&i| bit(set, i)));
    }

    /// The envelope of a set of the template's types (see [`PlannedClaim::envelope`]): per
    /// resource, the room of the roomiest type of the set (at least 0).
    fn envelope(&self, tpl: &Template, set: &[u64]) -> Resources {
        let ceil: [i64; 4] = std::array::from_fn(|j| {
            self.by_room[j]
                .iter()
                .rev()
                .find(|(_, i)| bit(set, *i))
                .map_or(0, |(r, _)| (*r).max(0))
        });
        let mut env = Resources {
            cpu_m: ceil[0],
            memory: ceil[1],
            pods: ceil[2],
            ephemeral_storage: ceil[3],
            extended: BTreeMap::new(),
        };
        if self.any_extended {
            for &i in &tpl.types {
                if bit(set, i) && self.extended[i as usize] {
                    let ov = overhead(tpl, i);
                    for (k, v) in &tpl.all_types[i as usize].allocatable.extended {
                        let e = env.extended.entry(k.clone()).or_insert(0);
                        *e = (*e).max(v - ov.get(k));
                    }
                }
            }
        }
        env
    }
}

/// The DaemonSet overhead of one of the template's types.
fn overhead(tpl: &Template, i: u32) -> &Resources {
    static ZERO: std::sync::OnceLock<Resources> = std::sync::OnceLock::new();
    let pos = tpl.types.binary_search(&i).unwrap_or(0);
    tpl.daemon_overhead
        .get(pos)
        .unwrap_or_else(|| ZERO.get_or_init(Resources::default))
}

/// The values `key` takes over a template's instance types, narrowed by its NodePool's
/// requirement on the key.
pub(super) fn type_domains(t: &Template, key: &str) -> BTreeSet<String> {
    // Hundreds of types share a few values (three zones, two capacity types): look the
    // NodePool's requirement up once and copy a value only the first time it is seen.
    let mut vals = BTreeSet::new();
    let narrowed = t.requirements.get(key);
    for &i in &t.types {
        if let Some(r) = t.all_types[i as usize].requirements.get(key) {
            if r.is_complement() {
                continue;
            }
            for v in r.values() {
                if !vals.contains(v) && narrowed.is_none_or(|tr| tr.has(v)) {
                    vals.insert(v.clone());
                }
            }
        }
    }
    vals
}

/// What the solve keeps per planned claim besides [`PlannedClaim`]: what the loop over claims
/// reads for its cheap rejections, and the surviving types as a bit set (the claim's `types`
/// list is filled in when the solve ends).
struct ClaimState {
    template: usize,
    /// Interned hostname.
    host: DomId,
    types: Vec<u64>,
    /// envelope − requests: a pod requesting more of a resource fits no surviving type.
    slack: [i64; 4],
    /// The envelope or the requests have extended resources: check with [`fits_sum`].
    slack_exact: bool,
    /// Topology domains its requirements allow (cleared when they change).
    masks: DomainMasks,
    /// What its requirements give a placed pod, kept until they change: the domains the pod is
    /// recorded in (the hostname, and each topology key the requirements pin to one value),
    /// and whether some requirement has minValues. Each placement used to look every key up
    /// in the requirements again.
    recorded: Arc<(Vec<(KeyId, DomId)>, bool)>,
}

impl ClaimState {
    fn set_slack(&mut self, requests: &Resources, envelope: &Resources) {
        let (e, r) = (core(envelope), core(requests));
        self.slack = [e[0] - r[0], e[1] - r[1], e[2] - r[2], e[3] - r[3]];
        self.slack_exact = !envelope.extended.is_empty() || !requests.extended.is_empty();
    }
}

/// What a solve's placements changed on one existing node: the node itself stays shared with
/// the pass's other simulations ([`Scheduler::over_base`]).
#[derive(Clone, Debug)]
struct NodeChange {
    available: Resources,
    host_ports: Vec<HostPort>,
}

/// No node left out (a scheduler over its own list).
static NO_NODES: BTreeSet<NodeId> = BTreeSet::new();

/// [`Scheduler::resolved`]: per (template, preferences relaxed), the rules and their stamp.
type ResolvedRules = FastMap<(*const PodTemplate, usize), (RulesStamp, PodRules)>;

pub struct Scheduler<'a> {
    pub templates: &'a [Template],
    /// Per template, what is left of its NodePool's limits (`remaining`, `remaining_nodes`)
    /// as this solve plans NodeClaims: the templates themselves are shared by a pass's
    /// simulations.
    limits: Vec<(Option<Resources>, Option<i64>)>,
    /// Per template, its types within the NodePool's remaining limits, and those limits.
    within: Vec<Option<(Resources, Arc<[u32]>)>>,
    /// The existing nodes in the scheduler's order: its own list, or a disruption pass's,
    /// shared by its simulations (each leaves some out: `absent`).
    existing: Cow<'a, [ExistingNode]>,
    /// Nodes of `existing` this solve leaves out; their `free` entries cover nothing, so no
    /// pod is offered to them.
    absent: &'a BTreeSet<NodeId>,
    /// The nodes a placement changed, by index: read through [`Scheduler::node_state`].
    /// Private: [`Scheduler::free`] must follow every change to a node's `available`.
    changed: FastMap<usize, NodeChange>,
    pub ice: &'a IceCache,
    pub now: SimTime,
    pub topology: Topology,
    /// `minValuesPolicy: BestEffort`: unmet minValues do not reject a NodeClaim.
    pub min_values_best_effort: bool,
    /// Word each pod's outcome in `SolveResult::decisions` (the provisioner logs them; a
    /// consolidation simulation reads only the claims, the placements and the errors).
    pub log_decisions: bool,
    /// Stop once more NodeClaims than this are planned ([`SolveResult::stopped`]): for a
    /// caller to which any such plan is the same answer (multi-node consolidation, which
    /// replaces with at most one node, §4.6). Claims are never taken back within a solve, so
    /// the plan could only have grown.
    pub max_claims: Option<usize>,
    claims: Vec<PlannedClaim>,
    /// Parallel to `claims`.
    claim_state: Vec<ClaimState>,
    /// The existing nodes' free core resources, kept with their `available`: the pod's first
    /// fitting node without a scan.
    free: FreeCapacity,
    /// Topology domains allowed by each existing node's and each template's requirements.
    existing_masks: Vec<DomainMasks>,
    /// Reused storage for [`Topology::admits_existing`], and its answers for the pod being
    /// placed.
    admit: AdmitScratch,
    /// Each existing node's labels interned, when the caller has them (else interned on
    /// each placement).
    existing_doms: &'a [Option<SharedDoms>],
    /// Per existing node (same order), its hostname's id in the pass's seed, when the seed
    /// knows it ([`Scheduler::set_existing_hosts`]): looked up once per pass, not per try.
    existing_hosts: &'a [Option<DomId>],
    template_masks: Vec<DomainMasks>,
    /// The resolved topology rules of the pod being placed (kept for their buffers).
    rules: PodRules,
    /// Each pod template's kind in `topology`, by address (the solve's pods hold their
    /// templates, so an address names one template while the solve runs; only looked up).
    kinds: FastMap<*const PodTemplate, KindId>,
    /// Per (template, preferences relaxed so far), its rules as last resolved and the
    /// topology's [`Topology::rules_stamp`] then: the pods of one template are placed one after
    /// another, and resolving each again (its groups looked up by selector) was ~5 % of a
    /// consolidation pass.
    resolved: ResolvedRules,
    claim_prefix: String,
    any_prefer_no_schedule: bool,
    /// The keys a planned claim's single-valued requirements give domains for (zone, capacity
    /// type), with their interned ids.
    topology_keys: Vec<(String, KeyId)>,
    /// Per template: host ports of the DaemonSets that will run on its new NodeClaims.
    daemon_host_ports: Vec<Vec<HostPort>>,
    /// Planned claims by pod count, each bucket in index order: the emptiest first, then the
    /// oldest (§1.3 step 2).
    order: Vec<Vec<usize>>,
    /// Per template, built on first use.
    tables: Vec<Option<TypeTable>>,
    /// Reused buffers of the type filter.
    scratch_set: Vec<u64>,
    scratch_mask: Vec<u64>,
    scratch_list: Vec<u32>,
}

impl<'a> Scheduler<'a> {
    pub fn new(
        templates: &'a [Template],
        existing: Vec<ExistingNode>,
        ice: &'a IceCache,
        now: SimTime,
        claim_prefix: String,
    ) -> Self {
        let seed = TopologySeed::new(templates, &existing, None, &mut SeedCache::default());
        let topology = seed.topology(&BTreeSet::new(), false);
        Self::with_topology(
            templates,
            existing,
            ice,
            now,
            claim_prefix,
            topology,
            seed.keys(),
        )
    }

    /// A scheduler whose topology comes from a [`TopologySeed`] built over the same templates
    /// and (at least) the same existing nodes; `topology_keys` is the seed's
    /// [`TopologySeed::keys`].
    pub fn with_topology(
        templates: &'a [Template],
        mut existing: Vec<ExistingNode>,
        ice: &'a IceCache,
        now: SimTime,
        claim_prefix: String,
        topology: Topology,
        topology_keys: Vec<(String, KeyId)>,
    ) -> Self {
        // Existing nodes: initialized first, then by name (§1.3 step 1).
        existing.sort_by(|a, b| (!a.initialized, a.name()).cmp(&(!b.initialized, b.name())));
        let any_prefer_no_schedule = templates.iter().any(|t| {
            t.taints
                .iter()
                .any(|x| x.effect == TaintEffect::PreferNoSchedule)
        });
        // The universe of domains per key (Karpenter's `buildDomainGroups`, §1.7) is the
        // seed's: zone and capacity type from the NodePools' instance types narrowed by the
        // NodePools, every key a NodePool's requirements or labels give `In` values for (a
        // custom label such as `capacity-spread In [1,2,3,4]` makes those values domains), and
        // the values existing nodes carry. Other keys the instance types define are added per
        // solve, when a pod's rules use them ([`Scheduler::solve`]).
        let tables = templates.iter().map(|_| None).collect();
        let existing_masks = vec![DomainMasks::default(); existing.len()];
        let free = FreeCapacity::new(existing.iter().map(|e| core(&e.available)));
        let template_masks = vec![DomainMasks::default(); templates.len()];
        Scheduler {
            limits: templates
                .iter()
                .map(|t| (t.remaining.clone(), t.remaining_nodes))
                .collect(),
            within: vec![None; templates.len()],
            templates,
            existing: Cow::Owned(existing),
            absent: &NO_NODES,
            changed: FastMap::default(),
            ice,
            now,
            topology,
            min_values_best_effort: false,
            log_decisions: true,
            max_claims: None,
            claims: Vec::new(),
            claim_state: Vec::new(),
            free,
            existing_masks,
            admit: AdmitScratch::default(),
            existing_doms: &[],
            existing_hosts: &[],
            template_masks,
            rules: PodRules::default(),
            kinds: FastMap::default(),
            resolved: FastMap::default(),
            claim_prefix,
            any_prefer_no_schedule,
            topology_keys,
            daemon_host_ports: Vec::new(),
            order: Vec::new(),
            tables,
            scratch_set: Vec::new(),
            scratch_mask: Vec::new(),
            scratch_list: Vec::new(),
        }
    }

    /// Start from the tables of an earlier solve over the same templates (with the same types
    /// and DaemonSet overhead), ICE cache and time.
    pub fn set_type_tables(&mut self, tables: TypeTables) {
        if tables.0.len() == self.templates.len() {
            self.tables = tables.0;
        }
    }

    /// A scheduler over a disruption pass's existing nodes (already in the scheduler's order,
    /// [`Karpenter::solve_base`](crate::Karpenter)) without `absent`, borrowing them instead of
    /// copying them: `free` is the pass's index with the absent nodes taken out, and `doms`
    /// the nodes' interned labels (a placement then records its pod without interning the node's
    /// labels again). A simulation then costs
    /// what its pods touch, not the cluster's size. The indices `SolveResult::existing`
    /// reports are indices into `existing`.
    #[allow(clippy::too_many_arguments)]
    pub fn over_base(
        templates: &'a [Template],
        existing: &'a [ExistingNode],
        absent: &'a BTreeSet<NodeId>,
        free: FreeCapacity,
        doms: &'a [Option<SharedDoms>],
        ice: &'a IceCache,
        now: SimTime,
        claim_prefix: String,
        topology: Topology,
        topology_keys: Vec<(String, KeyId)>,
    ) -> Self {
        let mut s = Self::with_topology(
            templates,
            Vec::new(),
            ice,
            now,
            claim_prefix,
            topology,
            topology_keys,
        );
        s.existing_masks = vec![DomainMasks::default(); existing.len()];
        s.existing = Cow::Borrowed(existing);
        s.absent = absent;
        s.free = free;
        s.existing_doms = doms;
        s
    }

    /// The existing nodes' hostname ids in the topology this solve was copied from (the
    /// seed's interned names do not change; a name it does not know is looked up as before).
    pub fn set_existing_hosts(&mut self, hosts: &'a [Option<DomId>]) {
        self.existing_hosts = hosts;
    }

    /// Existing node `idx`'s free resources and host ports in use, placements included.
    fn node_state(&self, idx: usize) -> (&Resources, &[HostPort]) {
        match self.changed.get(&idx) {
            Some(c) => (&c.available, &c.host_ports),
            None => {
                let e = &self.existing[idx];
                (&e.available, &e.host_ports)
            }
        }
    }

    /// Host ports of the DaemonSets compatible with template `ti`: they are in use on every new
    /// NodeClaim of it, so a pod asking for one cannot go there (§1.4 "Host ports of compatible
    /// daemonsets block pods with the same host port"; [core] scheduling/nodeclaim.go).
    pub fn set_daemon_host_ports(&mut self, ti: usize, ports: Vec<HostPort>) {
        if self.daemon_host_ports.len() <= ti {
            self.daemon_host_ports.resize(ti + 1, Vec::new());
        }
        self.daemon_host_ports[ti] = ports;
    }

    /// Count one pod already bound to an existing node in the topology.
    pub fn record_existing(
        &mut self,
        namespace: &str,
        labels: &Labels,
        node_labels: &Labels,
        anti: &[asim_cluster::pod::PodAffinityTerm],
    ) {
        self.topology.record(&Placed {
            namespace,
            labels,
            domains: node_labels,
            anti_affinity: anti,
        });
    }

    /// Run the simulation over `pods` (already in Karpenter's order).
    /// Keep only the topology keys some rule of this solve can read, registering the domains of
    /// keys only the instance types define (instance type, architecture, …) when a pod's rules
    /// use them. Recording a placement then looks at no key nobody counts.
    fn prepare_topology_keys(&mut self, pods: &[(PodId, Arc<PodTemplate>, String)]) {
        let mut used: BTreeSet<&str> = BTreeSet::new();
        for (_, t, _) in pods {
            used.extend(t.spread.iter().map(|s| s.topology_key.as_str()));
            for term in t
                .affinity
                .iter()
                .chain(&t.anti_affinity)
                .chain(&t.preferred_affinity)
                .chain(&t.preferred_anti_affinity)
            {
                used.insert(term.topology_key.as_str());
            }
        }
        let inverse = self.topology.inverse_keys();
        let mut keep = Vec::new();
        for (k, id) in std::mem::take(&mut self.topology_keys) {
            if used.contains(k.as_str()) || inverse.contains(&id) {
                keep.push((k, id));
            }
        }
        for key in used {
            if key == HOSTNAME_KEY || keep.iter().any(|(k, _)| k == key) {
                continue;
            }
            for t in self.templates.iter() {
                let values = type_domains(t, key);
                self.topology.add_universe(key, values);
            }
            for e in self.existing.iter() {
                if e.node.is_some_and(|n| self.absent.contains(&n)) {
                    continue;
                }
                if let Some(v) = e.labels().get(key) {
                    self.topology.add_universe(key, [v.clone()]);
                }
            }
            let id = self.topology.key_id(key);
            keep.push((key.to_string(), id));
        }
        keep.sort();
        self.topology_keys = keep;
    }

    pub fn solve(mut self, pods: &[(PodId, Arc<PodTemplate>, String)]) -> SolveResult {
        self.prepare_topology_keys(pods);
        debug_assert!(
            {
                let mut ids: Vec<PodId> = pods.iter().map(|p| p.0).collect();
                ids.sort_unstable();
                ids.windows(2).all(|w| w[0] != w[1])
            },
            "a pod comes once"
        );
        // Per position in `pods` (a pod comes once): its preferences relaxed so far.
        let mut prefs: Vec<Option<PodPrefs>> = Vec::with_capacity(pods.len());
        prefs.resize_with(pods.len(), || None);
        let mut queue: std::collections::VecDeque<usize> = (0..pods.len()).collect();
        let mut last_len: BTreeMap<usize, usize> = BTreeMap::new();
        let mut errors = BTreeMap::new();
        let mut existing_out = Vec::new();
        let mut decisions = Vec::new();
        let mut stopped = false;
        while let Some(i) = queue.pop_front() {
            let (pid, t, name) = &pods[i];
            if last_len.get(&i) == Some(&queue.len()) {
                // A full pass without progress: stop (§1.3 queue).
                break;
            }
            let p = prefs[i].get_or_insert_with(|| PodPrefs::new(t));
            match self.add(*pid, t, p) {
                Ok(placed) => {
                    errors.remove(pid);
                    last_len.clear();
                    if self.max_claims.is_some_and(|m| self.claims.len() > m) {
                        stopped = true;
                        break;
                    }
                    if let Target::Existing(e) = placed {
                        existing_out.push((*pid, e));
                    }
                    if !self.log_decisions {
                        continue;
                    }
                    let (outcome, target, nodepool) = match placed {
                        Target::Existing(i) => {
                            let e = &self.existing[i];
                            let pool = e.labels().get(crate::apis::NODEPOOL_LABEL).cloned();
                            ("existing", e.name().to_string(), pool)
                        }
                        Target::Claim(c) => {
                            let claim = &self.claims[c];
                            let pool = self.templates[claim.template].nodepool.clone();
                            ("nodeclaim", claim.hostname.clone(), Some(pool))
                        }
                    };
                    decisions.push((
                        *pid,
                        PodDecision {
                            pod: name.clone(),
                            outcome: outcome.into(),
                            target: Some(target),
                            nodepool,
                            relaxed: p.relaxed.clone(),
                            reason: None,
                        },
                    ));
                }
                Err(e) => {
                    errors.insert(*pid, e);
                    let relaxed = p.relax(self.any_prefer_no_schedule);
                    if relaxed {
                        last_len.remove(&i);
                        queue.push_front(i);
                    } else {
                        queue.push_back(i);
                        last_len.insert(i, queue.len() - 1);
                    }
                }
            }
        }
        for (pid, e) in errors.iter().filter(|_| self.log_decisions) {
            if let Some(i) = pods.iter().position(|(p, _, _)| p == pid) {
                decisions.push((
                    *pid,
                    PodDecision {
                        pod: pods[i].2.clone(),
                        outcome: "unschedulable".into(),
                        target: None,
                        nodepool: None,
                        relaxed: prefs[i]
                            .as_ref()
                            .map(|p| p.relaxed.clone())
                            .unwrap_or_default(),
                        reason: Some(e.clone()),
                    },
                ));
            }
        }
        // The claims' surviving types, from their bit sets.
        for (claim, state) in self.claims.iter_mut().zip(&self.claim_state) {
            if let Some(table) = &self.tables[claim.template] {
                table.list(
                    &self.templates[claim.template],
                    &state.types,
                    &mut claim.types,
                );
            }
        }
        SolveResult {
            claims: self.claims,
            existing: existing_out,
            errors,
            decisions,
            type_tables: TypeTables(self.tables),
            stopped,
            free: self.free,
        }
    }

    /// Try existing nodes, then planned claims (emptiest first), then new claims.
    fn add(&mut self, pid: PodId, t: &Arc<PodTemplate>, p: &PodPrefs) -> Result<Target, String> {
        let reqs = p.requirements(t);
        let topo = p.topology();
        let mut rules = std::mem::take(&mut self.rules);
        // A pod is placed (or tried again) many times per solve, and its kind is its
        // template's: hash the namespace and labels once per template.
        let kind = match self.kinds.get(&Arc::as_ptr(t)) {
            Some(&k) => k,
            None => {
                let k = self.topology.kind_id(&t.namespace, &t.labels);
                self.kinds.insert(Arc::as_ptr(t), k);
                k
            }
        };
        // The same template at the same relaxation has the same requirements and constraints.
        let key = (Arc::as_ptr(t), p.relaxed.len());
        let stamp = self.topology.rules_stamp();
        match self.resolved.get(&key) {
            Some((s, kept)) if *s == stamp => rules.copy_from(kept),
            _ => {
                self.topology
                    .resolve_kind(&mut rules, kind, &t.namespace, topo, &reqs);
                if self.topology.rules_stamp() == stamp {
                    let (s, kept) = self.resolved.entry(key).or_default();
                    *s = stamp;
                    kept.copy_from(&rules);
                }
            }
        }
        let pod = Pod {
            t,
            reqs: &reqs,
            topo,
            rules: &rules,
            prefer_ok: p.tolerate_prefer_no_schedule,
        };
        let placed = self.place(pid, &pod);
        self.rules = rules;
        placed
    }

    fn place(&mut self, pid: PodId, pod: &Pod<'_>) -> Result<Target, String> {
        let t = pod.t;
        // 1. Existing nodes, in order: only those with room for the pod's core requests, the
        // others being ones `try_existing` would reject first.
        let need = core(&t.requests);
        let mut from = 0;
        self.admit.new_attempt();
        while let Some(idx) = self.free.first_fit(from, &need) {
            from = idx + 1;
            if self.try_existing(idx, pod) {
                self.free.set(idx, core(self.node_state(idx).0));
                return Ok(Target::Existing(idx));
            }
        }
        // 2. Claims planned in this batch, fewest pods first. Cheap rejections first: a pod
        // tries every planned claim, so a claim that cannot take it must say so at once.
        let tolerated: Vec<bool> = self
            .templates
            .iter()
            .map(|tpl| tolerates(t, &tpl.taints, pod.prefer_ok, |_| false).is_ok())
            .collect();
        let order = std::mem::take(&mut self.order);
        let mut taken = None;
        // A hostname rule that every claim breaks (a pod anti-affine to a pod on each) skips the
        // loop: each claim would reject the pod.
        let blocked = !pod.rules.host_rules_empty()
            && self
                .topology
                .blocks_every_claim(pod.rules, self.claims.len());
        'claims: for (n, bucket) in order.iter().enumerate().filter(|_| !blocked) {
            for &c in bucket {
                if self.claim_rejects(c, pod, &tolerated) {
                    continue;
                }
                if self
                    .try_claim(Some(c), self.claim_state[c].template, pod)
                    .is_ok()
                {
                    taken = Some((n, c));
                    break 'claims;
                }
            }
        }
        self.order = order;
        if let Some((n, c)) = taken {
            if let Ok(pos) = self.order[n].binary_search(&c) {
                self.order[n].remove(pos);
            }
            self.order_insert(n + 1, c);
            self.claims[c].pods.push(pid);
            return Ok(Target::Claim(c));
        }
        // 3. A new claim from the first template that can host the pod.
        let mut template_errors = Vec::new();
        for ti in 0..self.templates.len() {
            match self.try_claim(None, ti, pod) {
                Ok(()) => {
                    if let Some(c) = self.claims.last_mut() {
                        c.pods.push(pid);
                    }
                    let last = self.claims.len() - 1;
                    self.order_insert(1, last);
                    return Ok(Target::Claim(last));
                }
                Err(e) => {
                    template_errors.push(format!("nodepool {}: {e}", self.templates[ti].nodepool))
                }
            }
        }
        if template_errors.is_empty() {
            template_errors.push("no NodePool is ready".into());
        }
        Err(template_errors.join("; "))
    }

    /// Place the pod on existing node `idx` if it fits there. Why not is not kept (the pod
    /// goes on to planned and new NodeClaims), so a rejection builds no message.
    /// File claim `c` under `n` pods.
    fn order_insert(&mut self, n: usize, c: usize) {
        if self.order.len() <= n {
            self.order.resize(n + 1, Vec::new());
        }
        let bucket = &mut self.order[n];
        let pos = bucket.partition_point(|x| *x < c);
        bucket.insert(pos, c);
    }

    fn try_existing(&mut self, idx: usize, pod: &Pod<'_>) -> bool {
        let t = pod.t;
        let (available, host_ports) = self.node_state(idx);
        // Most existing nodes of a busy cluster are full: the cheapest check first (the
        // checks below have no side effects, so their order changes nothing but the cost).
        if !t.requests.fits_in(available) {
            return false;
        }
        let ports_taken = t.host_ports.iter().any(|hp| host_ports.contains(hp));
        let e = &self.existing[idx];
        let initialized = e.initialized;
        let blocked = untolerated(t, &e.taints, pod.prefer_ok, |x| {
            !initialized
                && (is_ephemeral_taint(x)
                    || e.startup_taints
                        .iter()
                        .any(|s| s.key == x.key && s.effect == x.effect))
        });
        if blocked.is_some()
            || ports_taken
            || !e
                .requirements()
                .is_compatible_allowing_undefined(pod.reqs, &[])
        {
            return false;
        }
        // Returns at once when neither the pod nor a placed pod's anti-affinity constrains it.
        let host_id = match self.existing_hosts.get(idx) {
            Some(Some(d)) => Some(*d),
            _ => self.topology.host_id(e.name()),
        };
        // Existing nodes have fixed labels: the domains the pod's rules pick must hold for
        // them, and a node without the topology label cannot take the domain.
        let masks = &mut self.existing_masks[idx];
        if !self.topology.admits_existing(
            pod.rules,
            pod.reqs,
            e.requirements(),
            masks,
            host_id,
            &mut self.admit,
        ) {
            return false;
        }
        let e = &self.existing[idx];
        let change = self.changed.entry(idx).or_insert_with(|| NodeChange {
            available: e.available.clone(),
            host_ports: e.host_ports.clone(),
        });
        change.available.sub(&t.requests);
        change.host_ports.extend(t.host_ports.iter().cloned());
        match self.existing_doms.get(idx).and_then(Option::as_ref) {
            Some(domains) => {
                self.topology
                    .record_ids(pod.rules.kind(), domains, pod.topo.anti_affinity)
            }
            None => {
                let domains = self.topology.domain_ids(e.labels());
                self.topology
                    .record_ids(pod.rules.kind(), &domains, pod.topo.anti_affinity);
            }
        }
        true
    }

    /// Whether planned claim `c` certainly cannot take the pod: a template taint it does not
    /// tolerate, a host port in use, no surviving type with room, or a hostname topology rule.
    /// Each is a rejection `try_claim` would also make.
    fn claim_rejects(&self, c: usize, pod: &Pod<'_>, tolerated: &[bool]) -> bool {
        let cs = &self.claim_state[c];
        let t = pod.t;
        let fits = if cs.slack_exact || !t.requests.extended.is_empty() {
            let pc = &self.claims[c];
            fits_sum(
                &pc.requests,
                &t.requests,
                &Resources::default(),
                &pc.envelope,
            )
        } else {
            let need = core(&t.requests);
            (0..4).all(|j| need[j] <= cs.slack[j])
        };
        !tolerated[cs.template]
            || !fits
            || (!t.host_ports.is_empty()
                && t.host_ports
                    .iter()
                    .any(|hp| self.claims[c].host_ports.contains(hp)))
            || (!pod.rules.host_rules_empty()
                && !self.topology.host_allows(pod.rules, Some(cs.host)))
    }

    /// Try to add the pod to planned claim `claim` (which passed [`Scheduler::claim_rejects`])
    /// or to a new one from template `ti`. A planned claim's rejection is not worded (the pod
    /// just tries the next claim), so its error is empty; a new claim's names the reason.
    fn try_claim(&mut self, claim: Option<usize>, ti: usize, pod: &Pod<'_>) -> Result<(), String> {
        let t = pod.t;
        // A new claim's candidate types: the template's, within the NodePool's limits.
        let mut new_types: Option<Arc<[u32]>> = None;
        let mut new_host = String::new();
        if claim.is_none() {
            let templates = self.templates;
            let tpl = &templates[ti];
            let (remaining, remaining_nodes) = &self.limits[ti];
            tolerates(t, &tpl.taints, pod.prefer_ok, |_| false)?;
            if remaining_nodes.is_some_and(|n| n <= 0) {
                return Err("NodePool node limit reached".into());
            }
            if let Some(rem) = remaining {
                // The same list until the limits move (a new NodeClaim): each pod that tries
                // a new NodeClaim asked for it again.
                let within = match &self.within[ti] {
                    Some((r, w)) if r == rem => Arc::clone(w),
                    _ => {
                        let w: Arc<[u32]> = tpl
                            .types
                            .iter()
                            .copied()
                            .filter(|i| tpl.all_types[*i as usize].capacity.fits_in(rem))
                            .collect();
                        self.within[ti] = Some((rem.clone(), Arc::clone(&w)));
                        w
                    }
                };
                if within.is_empty() {
                    return Err(match &tpl.no_types_reason {
                        Some(why) => why.clone(),
                        None => "NodePool limits exceeded by every instance type".into(),
                    });
                }
                new_types = Some(within);
            } else if tpl.types.is_empty() {
                return Err(tpl
                    .no_types_reason
                    .clone()
                    .unwrap_or_else(|| "the NodePool has no instance type".into()));
            }
            new_host = format!("{}-{}", self.claim_prefix, self.claims.len());
            let daemon_ports = self.daemon_host_ports.get(ti).map_or(&[][..], |v| v);
            if t.host_ports.iter().any(|hp| daemon_ports.contains(hp)) {
                return Err("host port conflict with a DaemonSet".into());
            }
        }
        let (cur_reqs, masks, host_id) = match claim {
            Some(c) => {
                let cs = &mut self.claim_state[c];
                (&self.claims[c].requirements, &mut cs.masks, Some(cs.host))
            }
            None => (
                &self.templates[ti].requirements,
                &mut self.template_masks[ti],
                self.topology.host_id(&new_host),
            ),
        };
        // Requirements.
        if claim.is_none() {
            cur_reqs
                .compatible_allowing_undefined(pod.reqs, WELL_KNOWN_LABELS)
                .map_err(|e| format!("incompatible requirements: {e}"))?;
        } else if !cur_reqs.is_compatible_allowing_undefined(pod.reqs, WELL_KNOWN_LABELS) {
            return Err(String::new());
        }
        // Topology, against the claim's requirements and the pod's separately: a domain passes
        // both exactly when it passes their intersection (the requirements property test
        // `intersection_membership_is_conjunction`), so nothing is merged until it passes.
        let extra = match self
            .topology
            .requirements_for(pod.rules, pod.reqs, cur_reqs, masks, host_id)
        {
            Ok(extra) => extra,
            Err(why) if claim.is_none() => {
                return Err(self.topology.reject_message(&why, &new_host));
            }
            Err(_) => return Err(String::new()),
        };
        // The claim's requirements ∧ the pod's ∧ the topology's, copied only when that changes
        // them (most pods add nothing to a claim that already holds their zone).
        let mut merged: Option<Requirements> = None;
        for r in pod.reqs.iter().chain(extra.iter()) {
            let base = merged.as_ref().unwrap_or(cur_reqs);
            let same = base.get(r.key()).is_some_and(|e| !r.narrows(e));
            if !same {
                merged
                    .get_or_insert_with(|| cur_reqs.clone())
                    .add_requirement(r.clone());
            }
        }
        let reqs_now = merged.as_ref().unwrap_or(cur_reqs);
        // Only the keys whose requirement changed can rule a type out: against the claim's
        // current requirements, or for a new claim against the template's (its types were
        // filtered by those already).
        let changed: Vec<&Requirement> = match &merged {
            Some(m) => m
                .iter()
                .filter(|r| cur_reqs.get(r.key()) != Some(*r))
                .collect(),
            None => Vec::new(),
        };
        let offering_keys_changed = changed
            .iter()
            .any(|r| r.key() == ZONE || r.key() == ZONE_ID || r.key() == CAPACITY_TYPE);
        let old_total = match claim {
            Some(c) => self.claims[c].requests.clone(),
            None => Resources::default(),
        };
        let mut total = old_total.clone();
        total.add(&t.requests);
        let tpl = &self.templates[ti];
        let table = self.tables[ti].get_or_insert_with(|| TypeTable::new(tpl));
        let mut mask = std::mem::take(&mut self.scratch_mask);
        let masked = !changed.is_empty();
        if masked {
            mask.clear();
            mask.resize(table.words, !0u64);
            for r in &changed {
                table.and_requirement(tpl, r, &mut mask);
            }
            if offering_keys_changed {
                table.and_offering(tpl, reqs_now, self.ice, self.now, &mut mask);
            }
        }
        let mut set = std::mem::take(&mut self.scratch_set);
        match claim {
            Some(c) => {
                set.clear();
                set.extend_from_slice(&self.claim_state[c].types);
                if masked {
                    set.iter_mut().zip(&mask).for_each(|(s, m)| *s &= m);
                }
                table.narrow(tpl, &mut set, &old_total, &total);
            }
            None => {
                let mask = masked.then_some(&mask[..]);
                table.new_set(tpl, new_types.as_deref(), &total, mask, &mut set);
            }
        }
        self.scratch_mask = mask;
        let table = &*table;
        let left = count(&set);
        if left == 0 {
            self.scratch_set = set;
            if claim.is_some() {
                return Err(String::new());
            }
            // Name the pod's requirement that no type of the NodePool meets, if one alone does
            // it (a hardware label the NodePool's types lack, an instance family it excludes).
            let table = &mut *self.tables[ti].get_or_insert_with(|| TypeTable::new(tpl));
            for r in &changed {
                let mut one = table.all.clone();
                table.and_requirement(tpl, r, &mut one);
                if count(&one) == 0 {
                    return Err(format!(
                        "no instance type of the NodePool satisfies the pod's requirement {r}"
                    ));
                }
            }
            return Err(
                "no instance type satisfies the pod's requirements and resources (with DaemonSet overhead)"
                    .to_string(),
            );
        }
        // The claim's own requirements, unchanged, give what they gave its last placement.
        let kept = match claim {
            Some(c) if merged.is_none() => Some(Arc::clone(&self.claim_state[c].recorded)),
            _ => None,
        };
        let has_min_values = match &kept {
            Some(r) => r.1,
            None => reqs_now.has_min_values(),
        };
        if has_min_values && !self.min_values_best_effort {
            let mut list = std::mem::take(&mut self.scratch_list);
            table.list(tpl, &set, &mut list);
            let ok = satisfies_min_values(reqs_now, &tpl.all_types, &list);
            self.scratch_list = list;
            if let Err(e) = ok {
                self.scratch_set = set;
                return Err(e);
            }
        }
        // Commit.
        let host_id = match claim {
            Some(c) => self.claim_state[c].host,
            None => self.topology.intern_claim_host(&new_host),
        };
        let recorded = match kept {
            Some(r) => r,
            None => {
                let mut domains = vec![(self.topology.host_key(), host_id)];
                for (k, id) in &self.topology_keys {
                    if let Some(r) = reqs_now.get(k)
                        && !r.is_complement()
                        && r.values().len() == 1
                        && let Some(v) = r.values().iter().next()
                    {
                        domains.push((*id, self.topology.domain_id(*id, v)));
                    }
                }
                Arc::new((domains, has_min_values))
            }
        };
        self.topology
            .record_ids(pod.rules.kind(), &recorded.0, pod.topo.anti_affinity);
        match claim {
            Some(c) => {
                let cs = &mut self.claim_state[c];
                let pc = &mut self.claims[c];
                // A stale envelope is still an upper bound; refresh it when the set halves.
                if left * 2 < count(&cs.types) {
                    pc.envelope = table.envelope(tpl, &set);
                }
                self.scratch_set = std::mem::replace(&mut cs.types, set);
                if let Some(m) = merged {
                    pc.requirements = m;
                    cs.masks.clear();
                }
                cs.recorded = recorded;
                pc.requests = total;
                pc.host_ports.extend(t.host_ports.iter().cloned());
                cs.set_slack(&pc.requests, &pc.envelope);
            }
            None => {
                let requirements =
                    merged.unwrap_or_else(|| self.templates[ti].requirements.clone());
                let envelope = table.envelope(tpl, &set);
                // Pessimistic limits: subtract the largest candidate's capacity (§1.8).
                let tpl = &self.templates[ti];
                let (remaining, remaining_nodes) = &mut self.limits[ti];
                if let Some(rem) = remaining.as_mut() {
                    let mut max = Resources::default();
                    for &i in tpl.types.iter().filter(|&&i| bit(&set, i)) {
                        max.max_with(&tpl.all_types[i as usize].capacity);
                    }
                    rem.sub(&max);
                }
                if let Some(n) = remaining_nodes.as_mut() {
                    *n -= 1;
                }
                let mut ports = self.daemon_host_ports.get(ti).cloned().unwrap_or_default();
                ports.extend(t.host_ports.iter().cloned());
                let mut state = ClaimState {
                    template: ti,
                    host: host_id,
                    types: set,
                    slack: [0; 4],
                    slack_exact: false,
                    masks: DomainMasks::default(),
                    recorded,
                };
                state.set_slack(&total, &envelope);
                self.claim_state.push(state);
                self.claims.push(PlannedClaim {
                    template: ti,
                    hostname: new_host,
                    requirements,
                    pods: Vec::new(),
                    requests: total,
                    types: Vec::new(),
                    host_ports: ports,
                    envelope,
                });
            }
        }
        Ok(())
    }

    pub fn claims(&self) -> &[PlannedClaim] {
        &self.claims
    }
}

/// The pod being placed, as one attempt sees it.
struct Pod<'p> {
    t: &'p PodTemplate,
    /// Node selector ∧ the node-affinity terms in force.
    reqs: &'p Requirements,
    topo: TopologyView<'p>,
    rules: &'p PodRules,
    prefer_ok: bool,
}

/// After the solve: the instance-type requirement a NodeClaim carries — its types sorted by
/// cheapest available compatible offering, at most 600 (§1.9).
pub const MAX_INSTANCE_TYPES: usize = 600;

pub fn finalize_types(
    claim: &PlannedClaim,
    all: &[InstanceTypeInfo],
    ice: &IceCache,
    now: SimTime,
) -> Vec<u32> {
    let allowed = crate::instancetype::OfferingReqs::of(&claim.requirements);
    let mut priced: Vec<(f64, u32)> = claim
        .types
        .iter()
        .filter_map(|&i| {
            all[i as usize]
                .cheapest_allowed(&allowed, ice, now)
                .map(|o| (o.price, i))
        })
        .collect();
    priced.sort_by(|a, b| {
        // The names only break ties in price: compared only then.
        a.0.total_cmp(&b.0)
            .then_with(|| all[a.1 as usize].name.cmp(&all[b.1 as usize].name))
    });
    priced.truncate(MAX_INSTANCE_TYPES);
    priced.into_iter().map(|(_, i)| i).collect()
}

/// The requirement naming the claim's instance types.
pub fn instance_type_requirement(types: &[u32], all: &[InstanceTypeInfo]) -> Requirement {
    Requirement::in_values(
        INSTANCE_TYPE,
        types.iter().map(|i| all[*i as usize].name.as_str()),
    )
}

/// Hostname key re-exported for the provisioner.
pub const HOSTNAME: &str = HOSTNAME_KEY;
