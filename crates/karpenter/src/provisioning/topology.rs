//! Topology in Karpenter's scheduling simulation: spread constraints, pod affinity and pod
//! anti-affinity over zone, hostname, capacity type or any label, counted over existing nodes
//! and the NodeClaims planned so far in this batch. docs/model/karpenter.md §1.7.
//!
//! A placement first resolves the pod's constraints to groups once ([`Topology::resolve`]), then
//! asks [`Topology::requirements_for`] which domains the pod may take on each candidate (an
//! existing node with fixed labels, or a planned NodeClaim whose requirements may still allow
//! several zones); the answer narrows the candidate's requirements. After the placement,
//! [`Topology::record`] (or [`Topology::record_ids`]) counts the pod in every group that
//! selects it.
//!
//! Label keys, domain values and pods' (namespace, labels) are interned to small integers, so
//! that the per-candidate checks (a pod tries every planned NodeClaim) are array lookups and bit
//! operations rather than string hashing, and a selector is evaluated once per distinct label
//! set. Interned ids never reach output: every ordering that does (the first candidate domain,
//! ties between equally loaded domains, error messages) follows the domain strings.

use std::collections::BTreeSet;

use asim_core::hash::FastMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use asim_cluster::pod::{HOSTNAME_KEY, PodAffinityTerm, TopologySpread};
use asim_core::k8s::requirements::{Requirement, Requirements};
use asim_core::k8s::selector::{LabelSelector, Labels};

/// An interned label key.
pub type KeyId = usize;
/// An interned value of one key (a domain: a zone, a hostname, …).
pub type DomId = u32;
/// An interned (namespace, labels) of a pod.
pub type KindId = usize;

/// A node's labels interned, shared: (key, value) pairs in label order, one per key.
pub type SharedDoms = Arc<[(KeyId, DomId)]>;
/// A pod kind's (namespace, labels), shared by the clones of a topology.
type PodKind = Arc<(String, Labels)>;

/// A placed entry by name, for tests: (the kind's labels, its (key, value) domains, pods).
#[cfg(test)]
pub type PlacedByName = (Labels, Vec<(String, String)>, i64);

/// The hostname key is interned first.
const HOST: KeyId = 0;

/// Keys with at most this many values use bit masks for their domains.
const MASK_BITS: usize = 64;

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Spread,
    Affinity,
    AntiAffinity,
}

/// Interned values of one key: ids in order of first use.
#[derive(Clone, Debug, Default)]
struct Interned {
    /// Only probed, never iterated into output (docs/design.md §1.2).
    ids: FastMap<String, DomId>,
    names: Vec<String>,
    /// Kept for the shared part only: the ids in string order, and each id's place in it.
    /// A pass's whole topology adds every node's labels to the universe, kept in string
    /// order; with a value per node (the NodeClaim's name) that was a binary search by string
    /// comparisons for each node in every pass.
    order: Vec<DomId>,
    rank: Vec<u32>,
}

/// One label key: its interned values and the known domains (the universe).
///
/// The values interned before [`Topology::freeze`] are shared between the clones of a frozen
/// topology (every simulation of a consolidation pass starts from one); values interned later
/// (a planned NodeClaim's hostname) are the clone's own and take the ids after them.
#[derive(Clone, Debug)]
struct KeyDomains {
    /// Shared, as are the universe's two lists below until a copy changes them: each
    /// simulation copies its pass's topology, and most of its keys' universes never move.
    name: Arc<str>,
    shared: Arc<Interned>,
    local: Interned,
    /// Known domain values, in string order (the order Karpenter's sets iterate in).
    universe: Arc<Vec<DomId>>,
    in_universe: Arc<Vec<bool>>,
    /// The universe as a bit set, while every value id fits in [`MASK_BITS`].
    universe_mask: u64,
    /// Moves whenever a value is interned or the universe changes ([`Topology::rules_stamp`]).
    version: Changes,
}

/// See [`Topology::rules_stamp`]: (changes to the keys' values and universes, anti-affinity
/// entries).
pub type RulesStamp = (u64, usize);

/// A count of changes: history, not part of the value (two topologies that hold the same
/// domains compare and print alike whatever their counts).
#[derive(Clone, Copy, Default)]
struct Changes(u64);

impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("_")
    }
}

impl KeyDomains {
    fn new(name: &str) -> Self {
        KeyDomains {
            name: name.into(),
            shared: Arc::default(),
            local: Interned::default(),
            universe: Arc::default(),
            in_universe: Arc::default(),
            universe_mask: 0,
            version: Changes::default(),
        }
    }

    fn id(&self, value: &str) -> Option<DomId> {
        self.shared
            .ids
            .get(value)
            .or_else(|| self.local.ids.get(value))
            .copied()
    }

    fn len(&self) -> usize {
        self.shared.names.len() + self.local.names.len()
    }

    fn intern(&mut self, value: &str) -> DomId {
        if let Some(d) = self.id(value) {
            return d;
        }
        let d = self.len() as DomId;
        self.version.0 += 1;
        self.local.names.push(value.to_string());
        self.local.ids.insert(value.to_string(), d);
        Arc::make_mut(&mut self.in_universe).push(false);
        d
    }

    /// Move the values interned so far into the shared part.
    fn freeze(&mut self) {
        if self.local.names.is_empty() {
            return;
        }
        let local = std::mem::take(&mut self.local);
        let shared = Arc::make_mut(&mut self.shared);
        let first = shared.names.len() as DomId;
        shared.ids.extend(local.ids);
        shared.names.extend(local.names);
        // The new ids' places in string order, then one merge: the values are unique.
        let names = &shared.names;
        let mut fresh: Vec<DomId> = (first..names.len() as DomId).collect();
        fresh.sort_unstable_by(|&a, &b| names[a as usize].cmp(&names[b as usize]));
        let mut order = Vec::with_capacity(names.len());
        let mut old = shared.order.iter().copied().peekable();
        for d in fresh {
            let name = &names[d as usize];
            while let Some(x) = old.next_if(|&x| names[x as usize] < *name) {
                order.push(x);
            }
            order.push(d);
        }
        order.extend(old);
        let mut rank = vec![0u32; names.len()];
        for (i, &d) in order.iter().enumerate() {
            rank[d as usize] = i as u32;
        }
        shared.order = order;
        shared.rank = rank;
    }

    /// `name_of(a) < name_of(b)`, by rank when both are shared.
    fn before(&self, a: DomId, b: DomId) -> bool {
        let rank = &self.shared.rank;
        match (rank.get(a as usize), rank.get(b as usize)) {
            (Some(x), Some(y)) => x < y,
            _ => self.name_of(a) < self.name_of(b),
        }
    }

    fn add_universe(&mut self, d: DomId) {
        if self.in_universe[d as usize] {
            return;
        }
        self.version.0 += 1;
        Arc::make_mut(&mut self.in_universe)[d as usize] = true;
        if (d as usize) < MASK_BITS {
            self.universe_mask |= 1 << d;
        }
        let pos = self.universe.partition_point(|&x| self.before(x, d));
        Arc::make_mut(&mut self.universe).insert(pos, d);
    }

    /// Undo [`KeyDomains::add_universe`]: as if `d` had never been added.
    fn remove_universe(&mut self, d: DomId) {
        if !self.in_universe[d as usize] {
            return;
        }
        self.version.0 += 1;
        Arc::make_mut(&mut self.in_universe)[d as usize] = false;
        if (d as usize) < MASK_BITS {
            self.universe_mask &= !(1 << d);
        }
        Arc::make_mut(&mut self.universe).retain(|&x| x != d);
    }

    fn name_of(&self, d: DomId) -> &str {
        let d = d as usize;
        let shared = self.shared.names.len();
        if d < shared {
            &self.shared.names[d]
        } else {
            &self.local.names[d - shared]
        }
    }

    /// Every value id fits in a mask.
    fn small(&self) -> bool {
        self.len() <= MASK_BITS
    }

    /// The known domains `r` allows, as a mask (`None` allows all); for small keys.
    fn mask(&self, r: Option<&Requirement>) -> u64 {
        match r {
            None => self.universe_mask,
            Some(r) => self
                .universe
                .iter()
                .filter(|&&d| r.has(self.name_of(d)))
                .fold(0, |m, &d| m | (1 << d)),
        }
    }
}

/// Whether a group or an inverse entry selects each pod kind: 0 unknown, 1 no, 2 yes.
#[derive(Clone, Debug, Default)]
struct SelectsCache(Vec<u8>);

impl SelectsCache {
    fn get(
        &mut self,
        kinds: &[PodKind],
        k: KindId,
        namespace: &str,
        selector: &LabelSelector,
    ) -> bool {
        if self.0.len() <= k {
            self.0.resize(k + 1, 0);
        }
        if self.0[k] == 0 {
            let (ns, labels) = &*kinds[k];
            self.0[k] = 1 + u8::from(namespace == ns && selector.matches(labels));
        }
        self.0[k] == 2
    }
}

#[derive(Clone, Debug)]
struct Group {
    #[allow(dead_code)] // kept for Debug output of groups
    kind: Kind,
    key: KeyId,
    namespace: String,
    selector: LabelSelector,
    max_skew: i64,
    min_domains: Option<u32>,
    /// Matching pods per domain of `key` (indexed by domain id; absent = 0).
    counts: Vec<i64>,
    /// Matching pods over all domains.
    total: i64,
    /// Planned claims' hosts with a matching pod (hostname groups).
    claim_hosts_hit: usize,
    selects: SelectsCache,
}

impl Group {
    fn selects(&mut self, kinds: &[PodKind], k: KindId) -> bool {
        self.selects.get(kinds, k, &self.namespace, &self.selector)
    }

    fn count(&self, d: DomId) -> i64 {
        self.counts.get(d as usize).copied().unwrap_or(0)
    }

    /// Count `n` more matching pods in domain `d`.
    fn add(&mut self, d: DomId, n: i64) {
        let i = d as usize;
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += n;
        self.total += n;
    }
}

/// Anti-affinity declared by placed pods: an incoming pod the selector matches may not enter
/// `domains` (the symmetric rule).
#[derive(Clone, Debug)]
struct Inverse {
    key: KeyId,
    namespace: String,
    selector: LabelSelector,
    /// Indexed by domain id.
    domains: Vec<bool>,
    selects: SelectsCache,
}

impl Inverse {
    fn contains(&self, d: DomId) -> bool {
        self.domains.get(d as usize).copied().unwrap_or(false)
    }
}

/// A pod already placed (existing or planned in this batch), as topology sees it.
#[derive(Clone, Debug)]
pub struct Placed<'a> {
    pub namespace: &'a str,
    pub labels: &'a Labels,
    /// Domain values the pod is known to be in, per key (single values only), plus hostname.
    pub domains: &'a Labels,
    pub anti_affinity: &'a [PodAffinityTerm],
}

/// The constraints one pod carries into a placement attempt (after relaxation).
#[derive(Clone, Debug, Default)]
pub struct PodTopology {
    pub spread: Vec<TopologySpread>,
    pub affinity: Vec<PodAffinityTerm>,
    pub anti_affinity: Vec<PodAffinityTerm>,
}

impl PodTopology {
    pub fn is_empty(&self) -> bool {
        self.spread.is_empty() && self.affinity.is_empty() && self.anti_affinity.is_empty()
    }

    pub fn view(&self) -> TopologyView<'_> {
        TopologyView {
            spread: [&self.spread, &[]],
            affinity: [&self.affinity, &[]],
            anti_affinity: [&self.anti_affinity, &[]],
        }
    }
}

/// A pod's constraints for one attempt without copying them: each kind as two lists, taken in
/// order (its required constraints, then the preferences still treated as required).
#[derive(Clone, Copy, Debug, Default)]
pub struct TopologyView<'a> {
    pub spread: [&'a [TopologySpread]; 2],
    pub affinity: [&'a [PodAffinityTerm]; 2],
    pub anti_affinity: [&'a [PodAffinityTerm]; 2],
}

#[derive(Clone, Debug)]
struct Rule {
    group: usize,
    key: KeyId,
    /// Whether the group selects the pod itself.
    self_match: bool,
    /// The known domains the pod's own requirements allow (small keys only).
    pod_mask: u64,
}

/// A pod's constraints resolved to groups for one placement attempt (see
/// [`Topology::resolve`]). Valid while [`Topology::rules_stamp`] stays the same.
#[derive(Clone, Debug, Default)]
pub struct PodRules {
    kind: KindId,
    spread: Vec<Rule>,
    affinity: Vec<Rule>,
    anti_affinity: Vec<Rule>,
    /// Entries of the placed pods' anti-affinity that select the pod, with the pod's mask.
    inverse: Vec<(usize, u64)>,
    /// Hostname rules as (group, most matching pods allowed already on the host).
    host_limits: Vec<(usize, i64)>,
    /// Hostname-keyed entries of `inverse`.
    host_inverse: Vec<usize>,
}

impl PodRules {
    /// Become a copy of `other`, in this one's buffers.
    pub fn copy_from(&mut self, other: &PodRules) {
        self.kind = other.kind;
        self.spread.clone_from(&other.spread);
        self.affinity.clone_from(&other.affinity);
        self.anti_affinity.clone_from(&other.anti_affinity);
        self.inverse.clone_from(&other.inverse);
        self.host_limits.clone_from(&other.host_limits);
        self.host_inverse.clone_from(&other.host_inverse);
    }

    /// No constraint of the pod's own, and no placed pod's anti-affinity selects it.
    pub fn is_empty(&self) -> bool {
        self.spread.is_empty()
            && self.affinity.is_empty()
            && self.anti_affinity.is_empty()
            && self.inverse.is_empty()
    }

    /// No hostname rule: every host passes [`Topology::host_allows`].
    pub fn host_rules_empty(&self) -> bool {
        self.host_limits.is_empty() && self.host_inverse.is_empty()
    }

    /// The pod's interned (namespace, labels), for [`Topology::record_ids`].
    pub fn kind(&self) -> KindId {
        self.kind
    }
}

/// A candidate's allowed domains per key, as masks (see [`Topology::requirements_for`]),
/// cached while its requirements do not change; [`DomainMasks::clear`] when they do.
#[derive(Clone, Debug, Default)]
pub struct DomainMasks {
    /// (key, universe size when computed, whether the candidate defines the key, mask).
    entries: Vec<(KeyId, usize, bool, u64)>,
}

impl DomainMasks {
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    fn get(&mut self, key: KeyId, kd: &KeyDomains, candidate: &Requirements) -> u64 {
        self.get_defined(key, kd, candidate).1
    }

    /// Whether the candidate defines the key, and the known domains it allows there.
    fn get_defined(
        &mut self,
        key: KeyId,
        kd: &KeyDomains,
        candidate: &Requirements,
    ) -> (bool, u64) {
        // The universe only grows: an unchanged size is an unchanged universe.
        let size = kd.universe.len();
        let fresh = || {
            let r = candidate.get(&kd.name);
            (r.is_some(), kd.mask(r))
        };
        match self.entries.iter_mut().find(|e| e.0 == key) {
            Some(e) if e.1 == size => (e.2, e.3),
            Some(e) => {
                e.1 = size;
                (e.2, e.3) = fresh();
                (e.2, e.3)
            }
            None => {
                let (defined, m) = fresh();
                self.entries.push((key, size, defined, m));
                (defined, m)
            }
        }
    }
}

/// Reused storage for [`Topology::admits_existing`], and its answers during one placement
/// attempt (one pod, counts unchanged).
#[derive(Clone, Debug, Default)]
pub struct AdmitScratch {
    /// The fields below describe this attempt's rules.
    ready: bool,
    /// The rules' keys but the hostname, sorted and distinct.
    keys: Vec<KeyId>,
    /// Some rule is keyed by hostname: the answer depends on the host.
    by_host: bool,
    /// Every key in `keys` is small.
    all_small: bool,
    /// A node's (defines the key, allowed known domains) per key of `keys`.
    sig: Vec<(bool, u64)>,
    /// Answers by signature.
    answers: Vec<(Vec<(bool, u64)>, bool)>,
    chosen: Vec<(KeyId, u64)>,
}

impl AdmitScratch {
    /// A new pod, or the counts have moved: forget the answers.
    pub fn new_attempt(&mut self) {
        self.ready = false;
        self.answers.clear();
    }
}

/// Why a pod cannot take any allowed domain on a candidate. Cheap to build: a pod is rejected
/// by many candidates, and only some callers word the reason ([`Topology::reject_message`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Hostname spread: maxSkew of the group reached on the host.
    HostSpread {
        group: usize,
    },
    /// No allowed domain of the key within maxSkew; `candidates` were allowed (left empty
    /// when only the verdict is asked for, [`Topology::admits_existing`]).
    Spread {
        group: usize,
        key: KeyId,
        candidates: Vec<DomId>,
    },
    HostAffinity,
    Affinity {
        key: KeyId,
    },
    HostAntiAffinity,
    AntiAffinity {
        key: KeyId,
    },
    HostInverse,
    Inverse {
        key: KeyId,
    },
}

#[derive(Clone, Debug)]
pub struct Topology {
    /// Interned keys; the hostname key is [`HOST`].
    keys: Vec<KeyDomains>,
    /// Only probed (docs/design.md §1.2). Shared between copies until one interns a key.
    key_ids: Arc<FastMap<String, KeyId>>,
    /// Interned (namespace, labels) of pods.
    kinds: Vec<PodKind>,
    /// Kinds by a hash of (namespace, labels); only probed. Shared between copies until one
    /// interns a kind.
    kind_ids: Arc<FastMap<u64, Vec<KindId>>>,
    groups: Vec<Group>,
    inverse: Vec<Inverse>,
    /// Every pod placed so far, kept to seed groups created later: (kind, its domains as a
    /// range of `placed_doms`, how many pods). The pods of one kind on one existing node are
    /// one entry, and the entries of one node share their range.
    placed: Vec<(KindId, usize, usize, i64)>,
    placed_doms: Vec<(KeyId, DomId)>,
    /// Placed entries shared with the topology this one was copied from (a pass's whole
    /// topology, [`Topology::share_placed`]), read before `placed` and without the ranges of
    /// entries in `shared_skip`: each simulation of the pass reads the hundreds of existing
    /// nodes' entries instead of copying them.
    shared: Option<Arc<SharedPlaced>>,
    shared_skip: Vec<(usize, usize)>,
    /// Per hostname id: whether it is a claim planned in this batch.
    claim_host: Vec<bool>,
}

/// Placed entries as [`Topology`] keeps them, shared between copies.
#[derive(Debug, Default)]
struct SharedPlaced {
    placed: Vec<(KindId, usize, usize, i64)>,
    doms: Vec<(KeyId, DomId)>,
    /// Matching pods per domain over every entry here, for each (key, namespace, selector) a
    /// copy has created a group for: the next copy that creates such a group starts from these
    /// counts and takes out the entries it skips, instead of counting the hundreds of existing
    /// nodes' entries again (a pass's simulations each create the same groups).
    counts: std::sync::Mutex<Vec<SharedCounts>>,
}

/// A group's counts over every shared entry: (key, namespace, selector, per domain, total).
type SharedCounts = (KeyId, String, LabelSelector, Vec<i64>, i64);

impl Default for Topology {
    fn default() -> Self {
        Topology {
            keys: vec![KeyDomains::new(HOSTNAME_KEY)],
            key_ids: Arc::new(FastMap::from_iter([(HOSTNAME_KEY.to_string(), HOST)])),
            kinds: Vec::new(),
            kind_ids: Arc::default(),
            groups: Vec::new(),
            inverse: Vec::new(),
            placed: Vec::new(),
            placed_doms: Vec::new(),
            shared: None,
            shared_skip: Vec::new(),
            claim_host: Vec::new(),
        }
    }
}

impl Topology {
    /// The id of a label key, interning it.
    pub fn key_id(&mut self, key: &str) -> KeyId {
        if let Some(&k) = self.key_ids.get(key) {
            return k;
        }
        let k = self.keys.len();
        self.keys.push(KeyDomains::new(key));
        Arc::make_mut(&mut self.key_ids).insert(key.to_string(), k);
        k
    }

    /// The id of a value of `key`, interning it.
    pub fn domain_id(&mut self, key: KeyId, value: &str) -> DomId {
        self.keys[key].intern(value)
    }

    /// The id of a hostname, if any pod or rule has named it.
    pub fn host_id(&self, host: &str) -> Option<DomId> {
        self.keys[HOST].id(host)
    }

    /// The id of a new planned claim's hostname, interning it (before any pod is recorded on
    /// it).
    pub fn intern_claim_host(&mut self, host: &str) -> DomId {
        let d = self.keys[HOST].intern(host);
        if self.claim_host.len() <= d as usize {
            self.claim_host.resize(d as usize + 1, false);
        }
        self.claim_host[d as usize] = true;
        d
    }

    fn is_claim_host(&self, d: DomId) -> bool {
        self.claim_host.get(d as usize).copied().unwrap_or(false)
    }

    /// Whether a hostname rule of the pod rejects every one of the `claims` planned claims:
    /// one that allows no matching pod on the host, in a group with a matching pod on each.
    pub fn blocks_every_claim(&self, rules: &PodRules, claims: usize) -> bool {
        rules
            .host_limits
            .iter()
            .any(|&(gi, max)| max <= 0 && self.groups[gi].claim_hosts_hit >= claims)
    }

    /// The key id of the hostname key.
    pub fn host_key(&self) -> KeyId {
        HOST
    }

    /// How many hostnames are interned (one per node ever seen, for a carried topology).
    pub fn hosts_interned(&self) -> usize {
        self.keys[HOST].len()
    }

    /// The id of a pod's (namespace, labels), interning it.
    pub fn kind_id(&mut self, namespace: &str, labels: &Labels) -> KindId {
        let mut h = std::hash::DefaultHasher::new();
        namespace.hash(&mut h);
        labels.hash(&mut h);
        let hash = h.finish();
        if let Some(ids) = self.kind_ids.get(&hash)
            && let Some(&k) = ids
                .iter()
                .find(|&&k| self.kinds[k].0 == namespace && self.kinds[k].1 == *labels)
        {
            return k;
        }
        let k = self.kinds.len();
        self.kinds
            .push(Arc::new((namespace.to_string(), labels.clone())));
        Arc::make_mut(&mut self.kind_ids)
            .entry(hash)
            .or_default()
            .push(k);
        k
    }

    /// The keys of the inverse anti-affinity entries (bound pods' required anti-affinity).
    pub fn inverse_keys(&self) -> Vec<KeyId> {
        self.inverse.iter().map(|e| e.key).collect()
    }

    /// Share every value interned so far between this topology and its clones: cloning a
    /// frozen topology copies no strings.
    pub fn freeze(&mut self) {
        for k in &mut self.keys {
            k.freeze();
        }
    }

    /// The universe of `key`, in order (tests compare topologies built two ways).
    #[cfg(test)]
    pub fn universe_names(&self, key: &str) -> Vec<String> {
        let Some(&k) = self.key_ids.get(key) else {
            return Vec::new();
        };
        let kd = &self.keys[k];
        kd.universe
            .iter()
            .map(|&d| kd.name_of(d).to_string())
            .collect()
    }

    /// Every placed entry as (kind's labels, its domains by name, pods), in order.
    #[cfg(test)]
    pub fn placed_by_name(&self) -> Vec<PlacedByName> {
        let mut out = Vec::new();
        self.for_each_placed(|kind, doms, n| {
            let doms = doms
                .iter()
                .map(|&(k, d)| {
                    (
                        self.keys[k].name.to_string(),
                        self.keys[k].name_of(d).to_string(),
                    )
                })
                .collect();
            out.push((self.kinds[kind].1.clone(), doms, n));
        });
        out
    }

    /// Register an interned domain of an interned key as one the key can take.
    pub fn add_universe_id(&mut self, key: KeyId, d: DomId) {
        self.keys[key].add_universe(d);
    }

    /// Unregister a domain: the universe as if `d` had never been registered for `key` (a
    /// simulation's topology without the nodes that alone gave it).
    pub fn remove_universe_id(&mut self, key: KeyId, d: DomId) {
        self.keys[key].remove_universe(d);
    }

    /// Room for `entries` more placed entries over `doms` more interned labels: a pass's whole
    /// topology records every node's pods at once, and growing the lists as it went cost a
    /// copy of them at each doubling.
    pub fn reserve_placed(&mut self, entries: usize, doms: usize) {
        self.placed.reserve(entries);
        self.placed_doms.reserve(doms);
    }

    /// How many placed entries there are (before [`Topology::share_placed`]); the entries
    /// recorded between two readings are a range for [`Topology::without_placed`].
    pub fn placed_len(&self) -> usize {
        self.placed.len()
    }

    /// Move the placed entries into a part that copies made by [`Topology::without_placed`]
    /// share instead of copying.
    pub fn share_placed(&mut self) {
        debug_assert!(self.shared.is_none());
        self.shared = Some(Arc::new(SharedPlaced {
            placed: std::mem::take(&mut self.placed),
            doms: std::mem::take(&mut self.placed_doms),
            counts: Default::default(),
        }));
    }

    /// Every placed entry, shared ones first (skipped ranges left out): (kind, its domains,
    /// how many pods).
    fn for_each_placed(&self, mut f: impl FnMut(KindId, &[(KeyId, DomId)], i64)) {
        if let Some(sh) = &self.shared {
            let mut from = 0;
            for &(start, end) in self.shared_skip.iter().chain([&(sh.placed.len(), 0)]) {
                for &(kind, s, e, n) in &sh.placed[from..start.max(from)] {
                    f(kind, &sh.doms[s..e], n);
                }
                from = from.max(end);
            }
        }
        for &(kind, s, e, n) in &self.placed {
            f(kind, &self.placed_doms[s..e], n);
        }
    }

    /// A copy without the placed entries in `skip` (ranges of entry indices, sorted and
    /// disjoint), stored as recording only the kept entries would have stored them. Only the
    /// placed pods are dropped: the universe the skipped entries added stays (see
    /// [`Topology::remove_universe_id`]), and so do groups and inverse entries, which a seed
    /// without them has none of.
    pub fn without_placed(&self, skip: &[(usize, usize)]) -> Topology {
        // Entries already shared: the copy shares them too, and leaves the skipped ones out
        // when it reads them.
        if self.shared.is_some() && self.placed.is_empty() && self.shared_skip.is_empty() {
            let mut t = self.clone();
            t.shared_skip = skip.to_vec();
            return t;
        }
        debug_assert!(self.shared.is_none());
        let mut t = Topology {
            keys: self.keys.clone(),
            key_ids: self.key_ids.clone(),
            kinds: self.kinds.clone(),
            kind_ids: self.kind_ids.clone(),
            groups: self.groups.clone(),
            inverse: self.inverse.clone(),
            placed: Vec::with_capacity(self.placed.len()),
            placed_doms: Vec::with_capacity(self.placed_doms.len()),
            shared: None,
            shared_skip: Vec::new(),
            claim_host: self.claim_host.clone(),
        };
        let mut skip = skip.iter().peekable();
        // The last kept entry's domains: (start here, start and end in `t`). Entries that
        // shared their domains here share them in `t`, as `record_n` would have.
        let mut last: Option<(usize, usize, usize)> = None;
        for (i, &(kind, start, end, n)) in self.placed.iter().enumerate() {
            while skip.peek().is_some_and(|&&(_, e)| e <= i) {
                skip.next();
            }
            if skip.peek().is_some_and(|&&(s, _)| s <= i) {
                continue;
            }
            let (s, e) = match last {
                Some((from, s, e)) if from == start => (s, e),
                _ => {
                    let s = t.placed_doms.len();
                    t.placed_doms
                        .extend_from_slice(&self.placed_doms[start..end]);
                    (s, t.placed_doms.len())
                }
            };
            last = Some((start, s, e));
            t.placed.push((kind, s, e, n));
        }
        t
    }

    /// Register the domain values a key can take (from NodePools and their instance types).
    pub fn add_universe(&mut self, key: &str, values: impl IntoIterator<Item = String>) {
        let k = self.key_id(key);
        for v in values {
            let d = self.keys[k].intern(&v);
            self.keys[k].add_universe(d);
        }
    }

    /// Count a pod that exists before the batch (bound to an existing node) or was placed.
    pub fn record(&mut self, p: &Placed<'_>) {
        let doms = self.domain_ids(p.domains);
        let kind = self.kind_id(p.namespace, p.labels);
        self.record_ids(kind, &doms, [p.anti_affinity, &[]]);
    }

    /// A node's labels as interned (key, value) pairs.
    pub fn domain_ids(&mut self, labels: &Labels) -> Vec<(KeyId, DomId)> {
        let mut doms = Vec::with_capacity(labels.len());
        for (k, v) in labels {
            let key = self.key_id(k);
            let d = self.keys[key].intern(v);
            doms.push((key, d));
        }
        doms
    }

    /// [`Topology::record`] with the pod and its domains already interned: (key, value) pairs,
    /// at most one per key.
    pub fn record_ids(
        &mut self,
        kind: KindId,
        doms: &[(KeyId, DomId)],
        anti_affinity: [&[PodAffinityTerm]; 2],
    ) {
        self.record_n(kind, doms, anti_affinity, 1, None, false);
    }

    /// Count `n` pods of one kind without anti-affinity on the same domains at once: the pods
    /// of one existing node, grouped (what the consolidation's simulations seed their topology
    /// with, for every node of the cluster).
    pub fn record_many(&mut self, kind: KindId, doms: &[(KeyId, DomId)], n: i64) {
        self.record_n(kind, doms, [&[], &[]], n, None, false);
    }

    /// [`Topology::record_many`] for each `(kind, n)` of `counts` in turn, adding to the
    /// universe only the domains of the keys `universe_keys` marks (indexed by key id): a
    /// pass's whole topology records every node's pods kind by kind, and only the keys some
    /// pod's rule names are ever read from the universe. `doms` are taken to be a node's not
    /// yet recorded (not compared with the last entry's: two nodes' differ, and comparing cost
    /// a read of both per node); the kinds after the first share its entry's domains.
    pub fn record_counts_in(
        &mut self,
        doms: &[(KeyId, DomId)],
        counts: &[(KindId, i64)],
        universe_keys: &[bool],
    ) {
        let Some((&(first, n), rest)) = counts.split_first() else {
            return;
        };
        self.record_n(first, doms, [&[], &[]], n, Some(universe_keys), true);
        let &(_, start, end, _) = self.placed.last().expect("record_n adds an entry");
        for &(kind, n) in rest {
            self.count_in_groups(kind, doms, n);
            self.placed.push((kind, start, end, n));
        }
    }

    /// Count `n` pods of one kind with required anti-affinity on the same domains: as `n`
    /// calls of [`Topology::record_ids`] (the symmetric rule they add is one per domain).
    pub fn record_anti(
        &mut self,
        kind: KindId,
        doms: &[(KeyId, DomId)],
        anti_affinity: &[PodAffinityTerm],
        n: i64,
    ) {
        self.record_n(kind, doms, [anti_affinity, &[]], n, None, false);
    }

    /// `fresh`: `doms` are known to be another node's than the last entry's, so they are
    /// stored without comparing them with its domains.
    fn record_n(
        &mut self,
        kind: KindId,
        doms: &[(KeyId, DomId)],
        anti_affinity: [&[PodAffinityTerm]; 2],
        n: i64,
        universe_keys: Option<&[bool]>,
        fresh: bool,
    ) {
        self.count_in_groups(kind, doms, n);
        let dom_of = |key: KeyId| doms.iter().find(|(k, _)| *k == key).map(|(_, d)| *d);
        for term in anti_affinity.into_iter().flatten() {
            let Some(&key) = self.key_ids.get(&term.topology_key) else {
                continue;
            };
            let Some(d) = dom_of(key) else { continue };
            let namespace = &self.kinds[kind].0;
            let i = match self.inverse.iter().position(|e| {
                e.key == key && e.namespace == *namespace && e.selector == term.selector
            }) {
                Some(i) => i,
                None => {
                    self.inverse.push(Inverse {
                        key,
                        namespace: namespace.clone(),
                        selector: term.selector.clone(),
                        domains: Vec::new(),
                        selects: SelectsCache::default(),
                    });
                    self.inverse.len() - 1
                }
            };
            let ds = &mut self.inverse[i].domains;
            if ds.len() <= d as usize {
                ds.resize(d as usize + 1, false);
            }
            ds[d as usize] = true;
        }
        // Entries of one node share the node's domains, which the first of them added to the
        // universe already (a pass's whole topology records each node's pods kind by kind).
        let (start, end) = match self.placed.last() {
            Some(&(_, start, end, _)) if !fresh && self.placed_doms[start..end] == *doms => {
                (start, end)
            }
            _ => {
                for &(k, d) in doms {
                    let wanted = universe_keys.is_none_or(|u| u.get(k).copied().unwrap_or(false));
                    if k != HOST && wanted {
                        self.keys[k].add_universe(d);
                    }
                }
                let start = self.placed_doms.len();
                self.placed_doms.extend_from_slice(doms);
                (start, self.placed_doms.len())
            }
        };
        self.placed.push((kind, start, end, n));
    }

    /// Count `n` pods of `kind` on `doms` in every group that selects them.
    fn count_in_groups(&mut self, kind: KindId, doms: &[(KeyId, DomId)], n: i64) {
        let dom_of = |key: KeyId| doms.iter().find(|(k, _)| *k == key).map(|(_, d)| *d);
        for g in &mut self.groups {
            if let Some(d) = dom_of(g.key)
                && g.selects(&self.kinds, kind)
            {
                if g.key == HOST
                    && g.count(d) == 0
                    && self.claim_host.get(d as usize).copied().unwrap_or(false)
                {
                    g.claim_hosts_hit += 1;
                }
                g.add(d, n);
            }
        }
    }

    fn group(
        &mut self,
        kind: Kind,
        key: &str,
        ns: &str,
        sel: &LabelSelector,
        skew: i64,
        min_domains: Option<u32>,
    ) -> usize {
        // Groups are few: a linear scan with field comparison beats formatting a key. Every
        // pod placement asks again, so the key is compared by name rather than hashed to its
        // id (an id names one key).
        if let Some(i) = self.groups.iter().position(|g| {
            g.kind == kind
                && g.max_skew == skew
                && g.min_domains == min_domains
                && *self.keys[g.key].name == *key
                && g.namespace == ns
                && g.selector == *sel
        }) {
            return i;
        }
        let key = self.key_id(key);
        let mut g = Group {
            kind,
            key,
            namespace: ns.to_string(),
            selector: sel.clone(),
            max_skew: skew,
            min_domains,
            counts: Vec::new(),
            total: 0,
            claim_hosts_hit: 0,
            selects: SelectsCache::default(),
        };
        match self.shared.clone().filter(|_| key != HOST) {
            // The shared entries' counts, less the skipped entries', plus this copy's own: the
            // same counts as reading every kept entry (hostname groups also count planned
            // claims' hosts as they go, so they read every entry).
            Some(sh) => {
                let (counts, total) = self.shared_counts(&sh, &mut g);
                g.counts = counts;
                g.total = total;
                for &(start, end) in &self.shared_skip {
                    for &(kind, s, e, n) in &sh.placed[start..end] {
                        if let Some(&(_, d)) = sh.doms[s..e].iter().find(|(x, _)| *x == key)
                            && g.selects(&self.kinds, kind)
                        {
                            g.add(d, -n);
                        }
                    }
                }
                for &(kind, s, e, n) in &self.placed {
                    if let Some(&(_, d)) = self.placed_doms[s..e].iter().find(|(x, _)| *x == key)
                        && g.selects(&self.kinds, kind)
                    {
                        g.add(d, n);
                    }
                }
            }
            None => self.for_each_placed(|k, doms, n| {
                if let Some(&(_, d)) = doms.iter().find(|(x, _)| *x == key)
                    && g.selects(&self.kinds, k)
                {
                    if key == HOST && g.count(d) == 0 && self.is_claim_host(d) {
                        g.claim_hosts_hit += 1;
                    }
                    g.add(d, n);
                }
            }),
        }
        self.groups.push(g);
        self.groups.len() - 1
    }

    /// New group `g`'s matching pods per domain and in all over every shared entry, skipped
    /// or not: counted by the first copy that asks, then kept with the entries.
    fn shared_counts(&self, sh: &SharedPlaced, g: &mut Group) -> (Vec<i64>, i64) {
        let mut cache = sh
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = cache
            .iter()
            .find(|c| c.0 == g.key && c.1 == g.namespace && c.2 == g.selector)
        {
            return (c.3.clone(), c.4);
        }
        for &(kind, s, e, n) in &sh.placed {
            if let Some(&(_, d)) = sh.doms[s..e].iter().find(|(x, _)| *x == g.key)
                && g.selects(&self.kinds, kind)
            {
                g.add(d, n);
            }
        }
        let counts = std::mem::take(&mut g.counts);
        let total = std::mem::take(&mut g.total);
        cache.push((
            g.key,
            g.namespace.clone(),
            g.selector.clone(),
            counts.clone(),
            total,
        ));
        (counts, total)
    }

    /// The reason of a [`Reject`] on candidate host `host`, in words.
    pub fn reject_message(&self, r: &Reject, host: &str) -> String {
        match r {
            Reject::HostSpread { group } => format!(
                "topology spread on {HOSTNAME_KEY}: maxSkew {} reached on {host}",
                self.groups[*group].max_skew
            ),
            Reject::Spread {
                group,
                key,
                candidates,
            } => {
                let kd = &self.keys[*key];
                let cands: BTreeSet<&str> = candidates.iter().map(|d| kd.name_of(*d)).collect();
                format!(
                    "topology spread on {}: no domain within maxSkew {} (candidates {:?})",
                    kd.name, self.groups[*group].max_skew, cands
                )
            }
            Reject::HostAffinity => {
                format!("pod affinity on {HOSTNAME_KEY}: no matching pod on {host}")
            }
            Reject::Affinity { key } => format!(
                "pod affinity on {}: no domain holds a matching pod",
                self.keys[*key].name
            ),
            Reject::HostAntiAffinity => {
                format!("pod anti-affinity on {HOSTNAME_KEY}: a matching pod is on {host}")
            }
            Reject::AntiAffinity { key } => format!(
                "pod anti-affinity on {}: every candidate domain holds a matching pod",
                self.keys[*key].name
            ),
            Reject::HostInverse => format!("pod anti-affinity of a placed pod forbids {host}"),
            Reject::Inverse { key } => format!(
                "pod anti-affinity of placed pods forbids every candidate {}",
                self.keys[*key].name
            ),
        }
    }

    fn rule(&mut self, group: usize, kind: KindId, pod_reqs: &Requirements) -> Rule {
        let key = self.groups[group].key;
        let kd = &self.keys[key];
        let pod_mask = if key != HOST && kd.small() {
            kd.mask(pod_reqs.get(&kd.name))
        } else {
            0
        };
        Rule {
            group,
            key,
            self_match: self.groups[group].selects(&self.kinds, kind),
            pod_mask,
        }
    }

    /// What [`Topology::resolve_kind`]'s answer for a pod reads besides the pod and the groups
    /// (whose indices never change once made): every key's values and universe (through the
    /// domain masks, and whether a key is small) and the placed pods' anti-affinity entries.
    /// Equal stamps: the same rules. (Both parts only grow over one topology's life.)
    pub fn rules_stamp(&self) -> RulesStamp {
        (
            self.keys.iter().map(|k| k.version.0).sum(),
            self.inverse.len(),
        )
    }

    /// Resolve a pod's constraints to groups (creating the groups it needs) into `r`, once
    /// per placement attempt: the candidates it then tries cost array lookups.
    pub fn resolve(
        &mut self,
        r: &mut PodRules,
        namespace: &str,
        labels: &Labels,
        topo: TopologyView<'_>,
        pod_reqs: &Requirements,
    ) {
        let kind = self.kind_id(namespace, labels);
        self.resolve_kind(r, kind, namespace, topo, pod_reqs);
    }

    /// [`Topology::resolve`] for a pod whose kind ([`Topology::kind_id`] of its namespace and
    /// labels) the caller already has.
    pub fn resolve_kind(
        &mut self,
        r: &mut PodRules,
        kind: KindId,
        namespace: &str,
        topo: TopologyView<'_>,
        pod_reqs: &Requirements,
    ) {
        r.kind = kind;
        r.spread.clear();
        r.affinity.clear();
        r.anti_affinity.clear();
        r.inverse.clear();
        r.host_limits.clear();
        r.host_inverse.clear();
        for c in topo.spread.into_iter().flatten() {
            let skew = i64::from(c.max_skew);
            let gi = self.group(
                Kind::Spread,
                &c.topology_key,
                namespace,
                &c.selector,
                skew,
                c.min_domains,
            );
            let rule = self.rule(gi, kind, pod_reqs);
            if rule.key == HOST {
                r.host_limits.push((gi, skew - i64::from(rule.self_match)));
            }
            r.spread.push(rule);
        }
        for term in topo.affinity.into_iter().flatten() {
            let gi = self.group(
                Kind::Affinity,
                &term.topology_key,
                namespace,
                &term.selector,
                0,
                None,
            );
            let rule = self.rule(gi, kind, pod_reqs);
            r.affinity.push(rule);
        }
        for term in topo.anti_affinity.into_iter().flatten() {
            let gi = self.group(
                Kind::AntiAffinity,
                &term.topology_key,
                namespace,
                &term.selector,
                0,
                None,
            );
            let rule = self.rule(gi, kind, pod_reqs);
            if rule.key == HOST {
                r.host_limits.push((gi, 0));
            }
            r.anti_affinity.push(rule);
        }
        for (i, e) in self.inverse.iter_mut().enumerate() {
            if e.selects.get(&self.kinds, kind, &e.namespace, &e.selector) {
                let kd = &self.keys[e.key];
                let pod_mask = if e.key != HOST && kd.small() {
                    kd.mask(pod_reqs.get(&kd.name))
                } else {
                    0
                };
                r.inverse.push((i, pod_mask));
                if e.key == HOST {
                    r.host_inverse.push(i);
                }
            }
        }
    }

    /// Whether a host passes the pod's hostname rules: the same verdict as the hostname checks
    /// of [`Topology::requirements_for`], for the cheap rejection of a candidate NodeClaim.
    pub fn host_allows(&self, rules: &PodRules, host: Option<DomId>) -> bool {
        rules
            .host_limits
            .iter()
            .all(|(gi, max)| host.map_or(0, |h| self.groups[*gi].count(h)) <= *max)
            && rules
                .host_inverse
                .iter()
                .all(|i| host.is_none_or(|h| !self.inverse[*i].contains(h)))
    }

    /// The domains of key `key` a pod may take on a candidate: the known ones that the
    /// candidate, the pod and the requirements derived so far (`out`, mirrored by `out_masks`
    /// for small keys) all allow. A candidate that does not constrain the key (a NodePool
    /// without a zone requirement) allows every known domain: Karpenter reads an undefined key
    /// as `Exists` (§1.7; [core] pkg/scheduling/requirements.go `Get`).
    #[allow(clippy::too_many_arguments)]
    fn allowed<'x>(
        &'x self,
        key: KeyId,
        pod_mask: u64,
        pod_reqs: &'x Requirements,
        candidate: &'x Requirements,
        masks: &mut DomainMasks,
        out: &'x Requirements,
        out_masks: &[(KeyId, u64)],
    ) -> Allowed<'x> {
        let kd = &self.keys[key];
        let how = if kd.small() {
            let out_mask = out_masks
                .iter()
                .filter(|(k, _)| *k == key)
                .fold(!0, |m, (_, x)| m & x);
            How::Mask(masks.get(key, kd, candidate) & pod_mask & out_mask)
        } else {
            How::Requirements([
                candidate.get(&kd.name),
                pod_reqs.get(&kd.name),
                out.get(&kd.name),
            ])
        };
        Allowed { kd, how }
    }

    /// The domains `pod` may take for each constrained key on a candidate whose requirements
    /// are `candidate` (with its mask cache `masks`; hostname interned as `host_id`, if known).
    /// Returns requirements to add, or why it cannot go there.
    ///
    /// `candidate` may leave out the pod's own requirements: a domain is allowed when both
    /// allow it, which is what their intersection allows.
    pub fn requirements_for(
        &self,
        rules: &PodRules,
        pod_reqs: &Requirements,
        candidate: &Requirements,
        masks: &mut DomainMasks,
        host_id: Option<DomId>,
    ) -> Result<Requirements, Reject> {
        let mut out = Requirements::new();
        if rules.is_empty() {
            return Ok(out);
        }
        let mut out_masks = Vec::new();
        self.choose(
            rules,
            pod_reqs,
            candidate,
            masks,
            host_id,
            Some(&mut out),
            &mut out_masks,
        )?;
        Ok(out)
    }

    /// Whether a pod may go on an existing node, whose labels are fixed (`node` are its
    /// requirements): [`Topology::requirements_for`] succeeds and the node meets what it
    /// returns, with no undefined key (Karpenter's `Compatible` on an existing node, [core]
    /// scheduling/existingnode.go).
    ///
    /// A pod is tried against many full nodes of a busy cluster, so: when every key the pod's
    /// rules name has few enough values for masks, the chosen domains are kept as masks only,
    /// not built into requirements; and when no rule is keyed by hostname, the answer depends
    /// on the node only through whether it defines each key and the known domains it allows
    /// there, so nodes alike in those (one zone's nodes) share it. `scratch` keeps those
    /// answers for one placement attempt: [`AdmitScratch::new_attempt`] before each, since
    /// placing a pod moves the counts.
    pub fn admits_existing(
        &self,
        rules: &PodRules,
        pod_reqs: &Requirements,
        node: &Requirements,
        masks: &mut DomainMasks,
        host_id: Option<DomId>,
        scratch: &mut AdmitScratch,
    ) -> bool {
        if rules.is_empty() {
            return true;
        }
        if !scratch.ready {
            self.prepare_admit(rules, scratch);
        }
        if !scratch.all_small {
            return self
                .requirements_for(rules, pod_reqs, node, masks, host_id)
                .is_ok_and(|extra| node.is_compatible_allowing_undefined(&extra, &[]));
        }
        if scratch.by_host {
            return self.admits_by_masks(rules, pod_reqs, node, masks, host_id, scratch);
        }
        scratch.sig.clear();
        for &key in &scratch.keys {
            scratch
                .sig
                .push(masks.get_defined(key, &self.keys[key], node));
        }
        if let Some((_, answer)) = scratch.answers.iter().find(|(s, _)| *s == scratch.sig) {
            return *answer;
        }
        let answer = self.admits_by_masks(rules, pod_reqs, node, masks, host_id, scratch);
        let sig = scratch.sig.clone();
        scratch.answers.push((sig, answer));
        answer
    }

    /// What [`Topology::admits_existing`] needs to know of the pod's rules once per attempt.
    fn prepare_admit(&self, rules: &PodRules, scratch: &mut AdmitScratch) {
        let keys = rules
            .spread
            .iter()
            .chain(&rules.affinity)
            .chain(&rules.anti_affinity)
            .map(|r| r.key)
            .chain(rules.inverse.iter().map(|&(i, _)| self.inverse[i].key));
        scratch.keys.clear();
        scratch.keys.extend(keys);
        scratch.keys.sort_unstable();
        scratch.keys.dedup();
        scratch.by_host = scratch.keys.contains(&HOST);
        scratch.keys.retain(|&k| k != HOST);
        scratch.all_small = scratch.keys.iter().all(|&k| self.keys[k].small());
        scratch.ready = true;
    }

    /// [`Topology::admits_existing`] for small keys, from the chosen domains' masks.
    fn admits_by_masks(
        &self,
        rules: &PodRules,
        pod_reqs: &Requirements,
        node: &Requirements,
        masks: &mut DomainMasks,
        host_id: Option<DomId>,
        scratch: &mut AdmitScratch,
    ) -> bool {
        let chosen = &mut scratch.chosen;
        chosen.clear();
        if self
            .choose(rules, pod_reqs, node, masks, host_id, None, chosen)
            .is_err()
        {
            return false;
        }
        // What `requirements_for` would return is `key In <chosen>` per rule, every value a
        // known domain: the node must define each key and allow one of the values left once a
        // key's rules are intersected. Its allowed known domains are its cached mask.
        chosen.iter().all(|&(key, _)| {
            let all = chosen
                .iter()
                .filter(|(k, _)| *k == key)
                .fold(!0u64, |m, (_, x)| m & x);
            let (defined, allows) = masks.get_defined(key, &self.keys[key], node);
            defined && allows & all != 0
        })
    }

    /// The rules' domain choices on a candidate (see [`Topology::requirements_for`]), added
    /// to `out` when given, and as masks to `out_masks` for the small keys. Without `out`,
    /// every key the rules name must be small.
    #[allow(clippy::too_many_arguments)]
    fn choose(
        &self,
        rules: &PodRules,
        pod_reqs: &Requirements,
        candidate: &Requirements,
        masks: &mut DomainMasks,
        host_id: Option<DomId>,
        mut out: Option<&mut Requirements>,
        out_masks: &mut Vec<(KeyId, u64)>,
    ) -> Result<(), Reject> {
        let none = Requirements::new();
        let on_host = |g: &Group| host_id.map_or(0, |h| g.count(h));
        for rule in &rules.spread {
            let g = &self.groups[rule.group];
            let self_match = i64::from(rule.self_match);
            if rule.key == HOST {
                // A new node can always be created: the global minimum is 0 (§1.7).
                if on_host(g) + self_match > g.max_skew {
                    return Err(Reject::HostSpread { group: rule.group });
                }
                continue;
            }
            let kd = &self.keys[rule.key];
            // Global minimum over the domains the pod could take anywhere.
            let pod_r = (!kd.small()).then(|| pod_reqs.get(&kd.name)).flatten();
            let pod_allows = |d: DomId| {
                if kd.small() {
                    rule.pod_mask & (1 << d) != 0
                } else {
                    pod_r.is_none_or(|r| r.has(kd.name_of(d)))
                }
            };
            let mut pod_domains = 0u32;
            let mut min: Option<i64> = None;
            for &d in kd.universe.iter().filter(|&&d| pod_allows(d)) {
                pod_domains += 1;
                let n = g.count(d);
                min = Some(min.map_or(n, |m: i64| m.min(n)));
            }
            let mut min = min.unwrap_or(0);
            if let Some(md) = g.min_domains
                && pod_domains < md
            {
                min = 0;
            }
            let allowed = self.allowed(
                rule.key,
                rule.pod_mask,
                pod_reqs,
                candidate,
                masks,
                out.as_deref().unwrap_or(&none),
                out_masks,
            );
            // The least loaded allowed domain within maxSkew; ties go to the first by name.
            let mut best: Option<(i64, DomId)> = None;
            for d in allowed.iter() {
                let n = g.count(d);
                if n + self_match - min <= g.max_skew && best.is_none_or(|(b, _)| n < b) {
                    best = Some((n, d));
                }
            }
            let Some((_, d)) = best else {
                // Only a caller that words the reason (one building requirements) reads the
                // candidates: an existing node's verdict is a yes or no, asked very often.
                let candidates = if out.is_some() {
                    allowed.iter().collect()
                } else {
                    Vec::new()
                };
                return Err(Reject::Spread {
                    group: rule.group,
                    key: rule.key,
                    candidates,
                });
            };
            add_domains(
                out.as_deref_mut(),
                out_masks,
                kd,
                rule.key,
                Picked::of(kd, std::iter::once(d)),
            );
        }
        for rule in &rules.affinity {
            let g = &self.groups[rule.group];
            let any_match = g.total > 0;
            if rule.key == HOST {
                if on_host(g) > 0 || (!any_match && rule.self_match) {
                    continue;
                }
                return Err(Reject::HostAffinity);
            }
            let kd = &self.keys[rule.key];
            let allowed = self.allowed(
                rule.key,
                rule.pod_mask,
                pod_reqs,
                candidate,
                masks,
                out.as_deref().unwrap_or(&none),
                out_masks,
            );
            if allowed.iter().any(|d| g.count(d) > 0) {
                let matched = Picked::of(kd, allowed.iter().filter(|&d| g.count(d) > 0));
                add_domains(out.as_deref_mut(), out_masks, kd, rule.key, matched);
            } else if !any_match && rule.self_match {
                // Bootstrap: the first pod of a self-selecting group picks one domain (none
                // allowed: the empty set).
                let first = Picked::of(kd, allowed.iter().take(1));
                add_domains(out.as_deref_mut(), out_masks, kd, rule.key, first);
            } else {
                return Err(Reject::Affinity { key: rule.key });
            }
        }
        for rule in &rules.anti_affinity {
            let g = &self.groups[rule.group];
            if rule.key == HOST {
                if on_host(g) > 0 {
                    return Err(Reject::HostAntiAffinity);
                }
                continue;
            }
            let kd = &self.keys[rule.key];
            let allowed = self.allowed(
                rule.key,
                rule.pod_mask,
                pod_reqs,
                candidate,
                masks,
                out.as_deref().unwrap_or(&none),
                out_masks,
            );
            if !allowed.iter().any(|d| g.count(d) == 0) {
                return Err(Reject::AntiAffinity { key: rule.key });
            }
            let free = Picked::of(kd, allowed.iter().filter(|&d| g.count(d) == 0));
            add_domains(out.as_deref_mut(), out_masks, kd, rule.key, free);
        }
        // The symmetric rule: placed pods' anti-affinity that selects this pod.
        for &(i, pod_mask) in &rules.inverse {
            let e = &self.inverse[i];
            if e.key == HOST {
                if host_id.is_some_and(|h| e.contains(h)) {
                    return Err(Reject::HostInverse);
                }
                continue;
            }
            let kd = &self.keys[e.key];
            let allowed = self.allowed(
                e.key,
                pod_mask,
                pod_reqs,
                candidate,
                masks,
                out.as_deref().unwrap_or(&none),
                out_masks,
            );
            if !allowed.iter().any(|d| !e.contains(d)) {
                return Err(Reject::Inverse { key: e.key });
            }
            let free = Picked::of(kd, allowed.iter().filter(|&d| !e.contains(d)));
            add_domains(out.as_deref_mut(), out_masks, kd, e.key, free);
        }
        Ok(())
    }
}

/// Domains picked for a key: a mask for a small key, else a list (in the universe's order).
enum Picked {
    Mask(u64),
    List(Vec<DomId>),
}

impl Picked {
    fn of(kd: &KeyDomains, domains: impl Iterator<Item = DomId>) -> Self {
        if kd.small() {
            Picked::Mask(domains.fold(0, |m, d| m | (1 << d)))
        } else {
            Picked::List(domains.collect())
        }
    }
}

/// `out ∧= key In domains` (when `out` is given), and its mask when the key is small.
fn add_domains(
    out: Option<&mut Requirements>,
    out_masks: &mut Vec<(KeyId, u64)>,
    kd: &KeyDomains,
    key: KeyId,
    picked: Picked,
) {
    let list = match picked {
        Picked::Mask(m) => {
            out_masks.push((key, m));
            let Some(out) = out else { return };
            let values = kd.universe.iter().filter(|&&d| m & (1 << d) != 0);
            let values = values.map(|&d| kd.name_of(d));
            out.add_requirement(Requirement::in_values(&kd.name, values));
            return;
        }
        Picked::List(list) => list,
    };
    if let Some(out) = out {
        let values = list.iter().map(|&d| kd.name_of(d));
        out.add_requirement(Requirement::in_values(&kd.name, values));
    }
}

/// How [`Allowed`] decides.
enum How<'a> {
    /// Bit per domain id (every value of the key is below [`MASK_BITS`]).
    Mask(u64),
    /// Each requirement present must allow the domain's value.
    Requirements([Option<&'a Requirement>; 3]),
}

/// The allowed domains of a key (see [`Topology::allowed`]).
struct Allowed<'a> {
    kd: &'a KeyDomains,
    how: How<'a>,
}

impl Allowed<'_> {
    /// In string order.
    fn iter(&self) -> impl Iterator<Item = DomId> + '_ {
        self.kd
            .universe
            .iter()
            .copied()
            .filter(|&d| match &self.how {
                How::Mask(m) => m & (1 << d) != 0,
                How::Requirements(reqs) => {
                    let v = self.kd.name_of(d);
                    reqs.iter().flatten().all(|r| r.has(v))
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(k: &str, v: &str) -> Labels {
        Labels::from([(k.to_string(), v.to_string())])
    }

    const ZONE: &str = "topology.kubernetes.io/zone";

    fn resolve(t: &mut Topology, l: &Labels, topo: &PodTopology) -> PodRules {
        let mut rules = PodRules::default();
        t.resolve(&mut rules, "default", l, topo.view(), &Requirements::new());
        rules
    }

    fn zone_spread(app: &str) -> PodTopology {
        PodTopology {
            spread: vec![TopologySpread {
                max_skew: 1,
                topology_key: ZONE.into(),
                when_unsatisfiable: asim_cluster::pod::WhenUnsatisfiable::DoNotSchedule,
                selector: LabelSelector {
                    match_labels: labels("app", app),
                    match_expressions: vec![],
                },
                min_domains: None,
            }],
            ..Default::default()
        }
    }

    /// Nodes' labels as recorded by a seed: hostname, zone and one more key.
    fn node(t: &mut Topology, i: usize) -> Vec<(KeyId, DomId)> {
        let labels = Labels::from([
            (HOSTNAME_KEY.to_string(), format!("node-{i}")),
            (ZONE.to_string(), format!("z{}", i % 3)),
            ("size".to_string(), format!("s{}", i % 5)),
        ]);
        t.domain_ids(&labels)
    }

    /// Seven nodes as [`node`] labels them; node i runs `i % 3` pod kinds (node 0 none), 1 + i
    /// pods of each.
    struct SevenNodes {
        base: Topology,
        doms: Vec<Vec<(KeyId, DomId)>>,
        kinds: Vec<KindId>,
    }

    impl SevenNodes {
        fn new() -> Self {
            let mut base = Topology::default();
            let doms = (0..7).map(|i| node(&mut base, i)).collect();
            let kinds = ["a", "b"]
                .iter()
                .map(|app| base.kind_id("default", &labels("app", app)))
                .collect();
            SevenNodes { base, doms, kinds }
        }

        fn record(&self, t: &mut Topology, i: usize) {
            for &k in self.kinds.iter().take(i % 3) {
                t.record_many(k, &self.doms[i], 1 + i as i64);
            }
        }

        /// Every node recorded, with each node's range of placed entries.
        fn recorded(&self) -> (Topology, Vec<(usize, usize)>) {
            let mut full = self.base.clone();
            let mut ranges = Vec::new();
            for i in 0..7 {
                let start = full.placed_len();
                self.record(&mut full, i);
                ranges.push((start, full.placed_len()));
            }
            (full, ranges)
        }
    }

    #[test]
    fn removing_nodes_gives_the_topology_recorded_without_them() {
        let nodes = SevenNodes::new();
        let (base, doms) = (&nodes.base, &nodes.doms);
        let record = |t: &mut Topology, i: usize| nodes.record(t, i);
        let (full, ranges) = nodes.recorded();
        for excluded in [
            vec![],
            vec![1],
            vec![2, 5],
            vec![0, 1, 2, 3, 4, 5, 6],
            vec![4],
        ] {
            let mut fresh = base.clone();
            for i in (0..7).filter(|i| !excluded.contains(i)) {
                record(&mut fresh, i);
            }
            let mut skip: Vec<_> = excluded.iter().map(|&i| ranges[i]).collect();
            skip.sort_unstable();
            let mut shared = full.clone();
            shared.share_placed();
            // The entries a group would count, in order, then the rest of the topology.
            let entries = |t: &Topology| {
                let mut v = Vec::new();
                t.for_each_placed(|k, d, n| v.push((k, d.to_vec(), n)));
                v
            };
            let want = entries(&fresh);
            fresh.placed.clear();
            fresh.placed_doms.clear();
            for mut got in [full.without_placed(&skip), shared.without_placed(&skip)] {
                // Domains only excluded nodes gave leave the universe.
                for &i in &excluded {
                    for &(k, d) in &doms[i] {
                        let others = (0..7)
                            .filter(|j| !excluded.contains(j) && j % 3 != 0)
                            .any(|j| doms[j].contains(&(k, d)));
                        if k != HOST && !others {
                            got.remove_universe_id(k, d);
                        }
                    }
                }
                assert_eq!(entries(&got), want, "{excluded:?}");
                got.placed.clear();
                got.placed_doms.clear();
                got.shared = None;
                got.shared_skip.clear();
                assert_eq!(format!("{got:?}"), format!("{fresh:?}"), "{excluded:?}");
            }
        }
    }

    #[test]
    fn a_copys_new_group_counts_the_pods_it_kept() {
        let nodes = SevenNodes::new();
        let (base, doms, kinds) = (&nodes.base, &nodes.doms, &nodes.kinds);
        let record = |t: &mut Topology, i: usize| nodes.record(t, i);
        let (mut shared, ranges) = nodes.recorded();
        shared.share_placed();
        // Each group the first copy creates is counted over every shared entry and kept; later
        // copies start from those counts. Every copy must count what a topology recording only
        // its kept nodes (and a placement of its own, on node 1) counts.
        for (excluded, app) in [
            (vec![], "a"),
            (vec![1], "a"),
            (vec![2, 5], "a"),
            (vec![0, 1, 2, 3, 4, 5, 6], "b"),
            (vec![4], "b"),
            (vec![4, 5], "a"),
        ] {
            let sel = LabelSelector {
                match_labels: labels("app", app),
                ..Default::default()
            };
            let mut fresh = base.clone();
            for i in (0..7).filter(|i| !excluded.contains(i)) {
                record(&mut fresh, i);
            }
            let mut skip: Vec<_> = excluded.iter().map(|&i| ranges[i]).collect();
            skip.sort_unstable();
            let mut copy = shared.without_placed(&skip);
            for t in [&mut fresh, &mut copy] {
                t.record_many(kinds[0], &doms[1], 10);
            }
            for key in [ZONE, "size"] {
                let (gf, gc) = (
                    fresh.group(Kind::Spread, key, "default", &sel, 1, None),
                    copy.group(Kind::Spread, key, "default", &sel, 1, None),
                );
                let (f, c) = (&fresh.groups[gf], &copy.groups[gc]);
                assert_eq!(f.total, c.total, "{excluded:?} {key}");
                for d in 0..8 {
                    assert_eq!(f.count(d), c.count(d), "{excluded:?} {key} domain {d}");
                }
            }
        }
    }

    /// The scheduler reuses a template's resolved rules while [`Topology::rules_stamp`] holds
    /// (scheduling.rs, `Scheduler::resolved`): the stamp must move with everything a
    /// resolution reads — a new domain in a key's universe (it widens the pod's mask), a new
    /// anti-affinity entry that selects the pod — and stay put when a pod is merely counted.
    #[test]
    fn rules_stamp_moves_with_what_resolved_rules_read() {
        let mut t = Topology::default();
        let nodes: Vec<_> = (0..2).map(|i| node(&mut t, i)).collect();
        for d in &nodes {
            for &(k, v) in d {
                t.add_universe_id(k, v);
            }
        }
        let web = labels("app", "web");
        let spread = zone_spread("web");
        let kind = t.kind_id("default", &web);
        let first = format!("{:?}", resolve(&mut t, &web, &spread));
        let stamp = t.rules_stamp();

        // Counted where the domains are known: nothing a resolution reads moved.
        t.record_many(kind, &nodes[0], 3);
        assert_eq!(t.rules_stamp(), stamp);
        assert_eq!(format!("{:?}", resolve(&mut t, &web, &spread)), first);

        // A third zone: the pod's zone mask grows.
        let third = node(&mut t, 2);
        assert_ne!(t.rules_stamp(), stamp, "interning a value moves the stamp");
        let stamp = t.rules_stamp();
        for &(k, v) in &third {
            t.add_universe_id(k, v);
        }
        assert_ne!(
            t.rules_stamp(),
            stamp,
            "a new universe domain moves the stamp"
        );
        let widened = format!("{:?}", resolve(&mut t, &web, &spread));
        assert_ne!(widened, first);

        // A placed pod whose anti-affinity selects web pods: a new inverse entry.
        let stamp = t.rules_stamp();
        let api = t.kind_id("default", &labels("app", "api"));
        let anti = [PodAffinityTerm {
            topology_key: ZONE.into(),
            selector: LabelSelector {
                match_labels: web.clone(),
                match_expressions: vec![],
            },
            weight: 0,
        }];
        t.record_anti(api, &nodes[1], &anti, 1);
        assert_ne!(
            t.rules_stamp(),
            stamp,
            "an anti-affinity entry moves the stamp"
        );
        assert_ne!(format!("{:?}", resolve(&mut t, &web, &spread)), widened);
    }

    #[test]
    fn universe_iterates_in_string_order_whatever_the_interning_order() {
        let mut t = Topology::default();
        t.add_universe(ZONE, ["c".to_string(), "a".to_string()]);
        t.add_universe(ZONE, ["b".to_string(), "a".to_string()]);
        let k = t.key_id(ZONE);
        let names: Vec<&str> = t.keys[k]
            .universe
            .iter()
            .map(|d| t.keys[k].name_of(*d))
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn universe_keeps_string_order_across_freezes_and_local_values() {
        // Values interned in three rounds, frozen after the first two (shared, ordered by
        // rank), the last left local (ordered by string), then added in a scrambled order.
        let rounds = [
            vec!["m", "c", "x", "a"],
            vec!["b", "z", "n", "d", "aa"],
            vec!["ab", "y", "0"],
        ];
        let mut t = Topology::default();
        let k = t.key_id("k");
        let mut all = Vec::new();
        for (i, round) in rounds.iter().enumerate() {
            for v in round {
                all.push(t.domain_id(k, v));
            }
            if i < 2 {
                t.freeze();
            }
        }
        let mut scrambled = all.clone();
        scrambled.sort_by_key(|&d| (d * 7) % 13);
        for d in scrambled {
            t.add_universe_id(k, d);
        }
        let names: Vec<&str> = t.keys[k]
            .universe
            .iter()
            .map(|d| t.keys[k].name_of(*d))
            .collect();
        let mut expected: Vec<&str> = rounds.concat();
        expected.sort();
        assert_eq!(names, expected);
    }

    #[test]
    fn zone_spread_picks_least_loaded_zone_breaking_ties_by_name() {
        let mut t = Topology::default();
        t.add_universe(ZONE, ["z2".to_string(), "z1".to_string(), "z3".to_string()]);
        let l = labels("app", "web");
        let topo = zone_spread("web");
        let rules = resolve(&mut t, &l, &topo);
        let none = Requirements::new();
        let r = t.requirements_for(&rules, &none, &none, &mut DomainMasks::default(), None);
        assert_eq!(r.map(|r| r.labels()), Ok(labels(ZONE, "z1")));
        t.record(&Placed {
            namespace: "default",
            labels: &l,
            domains: &labels(ZONE, "z1"),
            anti_affinity: &[],
        });
        let rules = resolve(&mut t, &l, &topo);
        let r = t.requirements_for(&rules, &none, &none, &mut DomainMasks::default(), None);
        assert_eq!(r.map(|r| r.labels()), Ok(labels(ZONE, "z2")));
    }

    #[test]
    fn groups_created_after_placements_count_them() {
        let mut t = Topology::default();
        t.add_universe(ZONE, ["z1".to_string(), "z2".to_string()]);
        let l = labels("app", "web");
        for _ in 0..2 {
            t.record(&Placed {
                namespace: "default",
                labels: &l,
                domains: &labels(ZONE, "z1"),
                anti_affinity: &[],
            });
        }
        let rules = resolve(&mut t, &l, &zone_spread("web"));
        let only_z1 = Requirements::from_labels(&labels(ZONE, "z1"));
        let none = Requirements::new();
        // z1 holds 2, z2 holds 0: another pod in z1 would make the skew 3.
        let err = t.requirements_for(&rules, &none, &only_z1, &mut DomainMasks::default(), None);
        let words = err.map_err(|r| t.reject_message(&r, "h"));
        assert_eq!(
            words,
            Err(
                "topology spread on topology.kubernetes.io/zone: no domain within maxSkew 1 \
                 (candidates {\"z1\"})"
                    .to_string()
            )
        );
        assert!(
            t.requirements_for(&rules, &none, &none, &mut DomainMasks::default(), None)
                .is_ok()
        );
    }

    proptest::proptest! {
        /// [`Topology::admits_existing`] (masks only, for small keys) answers as
        /// [`Topology::requirements_for`] followed by the existing node's compatibility check
        /// (Karpenter's `Compatible` with no undefined keys, [core]
        /// scheduling/existingnode.go): whatever the rules, the recorded pods and the node's
        /// labels — a missing key, a value the topology has never seen, 3 or 70 values.
        #[test]
        fn admits_existing_answers_as_requirements_for_and_the_compatibility_check(
            racks in proptest::sample::select(vec![3usize, 70]),
            placed in proptest::collection::vec(
                (0usize..3, 0usize..4, 0usize..3, 0usize..4, 1i64..3), 0..12),
            rules_of in proptest::collection::vec((0usize..4, 0usize..3, 0usize..3, 1u32..3), 1..4),
            pod_zone in proptest::option::of(0usize..3),
            nodes in proptest::collection::vec(
                (proptest::option::of(0usize..4), proptest::option::of(0usize..4), 0usize..5),
                1..8),
        ) {
            let apps = ["a", "b", "c"];
            let keys = [ZONE, "rack", HOSTNAME_KEY];
            let mut t = Topology::default();
            t.add_universe(ZONE, ["z0", "z1", "z2"].map(String::from));
            t.add_universe("rack", (0..racks).map(|i| format!("r{i:02}")));
            for &(app, zone, rack, host, n) in &placed {
                let mut l = labels(ZONE, &format!("z{zone}"));
                l.insert("rack".into(), format!("r{rack:02}"));
                l.insert(HOSTNAME_KEY.into(), format!("node-{host}"));
                let doms = t.domain_ids(&l);
                let kind = t.kind_id("default", &labels("app", apps[app]));
                t.record_many(kind, &doms, n);
            }
            let term = |app: usize, key: usize| PodAffinityTerm {
                selector: LabelSelector {
                    match_labels: labels("app", apps[app]),
                    match_expressions: vec![],
                },
                topology_key: keys[key].into(),
                weight: 0,
            };
            let mut topo = PodTopology::default();
            for &(what, app, key, skew) in &rules_of {
                match what {
                    0 | 1 => {
                        let mut s = zone_spread(apps[app]).spread.remove(0);
                        s.topology_key = keys[key].into();
                        s.max_skew = skew;
                        topo.spread.push(s);
                    }
                    2 => topo.affinity.push(term(app, key)),
                    _ => topo.anti_affinity.push(term(app, key)),
                }
            }
            let pod_reqs = match pod_zone {
                Some(z) => Requirements::from_iter([Requirement::in_values(
                    ZONE,
                    [format!("z{z}"), "z2".into()],
                )]),
                None => Requirements::new(),
            };
            let mut rules = PodRules::default();
            t.resolve(&mut rules, "default", &labels("app", "a"), topo.view(), &pod_reqs);
            // One placement attempt over several nodes, sharing the scratch's answers.
            let mut scratch = AdmitScratch::default();
            scratch.new_attempt();
            for &(zone, rack, host) in &nodes {
                let mut node = Labels::new();
                if let Some(z) = zone {
                    node.insert(ZONE.into(), format!("z{z}"));
                }
                if let Some(r) = rack {
                    node.insert("rack".into(), format!("r{r:02}"));
                }
                let name = format!("node-{host}");
                node.insert(HOSTNAME_KEY.into(), name.clone());
                let host_id = t.host_id(&name);
                let node = Requirements::from_labels(&node);
                let want = t
                    .requirements_for(&rules, &pod_reqs, &node, &mut DomainMasks::default(), host_id)
                    .is_ok_and(|extra| node.is_compatible_allowing_undefined(&extra, &[]));
                let mut masks = DomainMasks::default();
                for _ in 0..2 {
                    let got = t.admits_existing(
                        &rules, &pod_reqs, &node, &mut masks, host_id, &mut scratch,
                    );
                    proptest::prop_assert_eq!(got, want, "{:?}", node);
                }
            }
        }
    }

    #[test]
    fn keys_with_more_values_than_a_mask_holds_give_the_same_answers() {
        for n in [3, 70] {
            let mut t = Topology::default();
            t.add_universe("rack", (0..n).map(|i| format!("r{i:02}")));
            let l = labels("app", "web");
            let mut topo = zone_spread("web");
            topo.spread[0].topology_key = "rack".into();
            let rules = resolve(&mut t, &l, &topo);
            let candidate =
                Requirements::from_iter([Requirement::in_values("rack", ["r02", "r01"])]);
            let none = Requirements::new();
            let mut masks = DomainMasks::default();
            let r = t.requirements_for(&rules, &none, &candidate, &mut masks, None);
            assert_eq!(
                r.map(|r| r.labels()),
                Ok(labels("rack", "r01")),
                "{n} racks"
            );
        }
    }

    #[test]
    fn hostname_anti_affinity_rejects_a_host_with_a_matching_pod() {
        let mut t = Topology::default();
        let l = labels("app", "db");
        let anti = vec![PodAffinityTerm {
            selector: LabelSelector {
                match_labels: l.clone(),
                match_expressions: vec![],
            },
            topology_key: HOSTNAME_KEY.into(),
            weight: 0,
        }];
        let topo = PodTopology {
            anti_affinity: anti.clone(),
            ..Default::default()
        };
        let h = t.intern_claim_host("node-a");
        let key = t.host_key();
        let kind = t.kind_id("default", &l);
        t.record_ids(kind, &[(key, h)], [&anti, &[]]);
        let rules = resolve(&mut t, &l, &topo);
        assert!(!t.host_allows(&rules, Some(h)));
        assert!(t.host_allows(&rules, None));
        // The only planned claim holds a matching pod: no claim can take the pod.
        assert!(t.blocks_every_claim(&rules, 1));
        let other = t.intern_claim_host("node-b");
        assert!(t.host_allows(&rules, Some(other)));
        assert!(!t.blocks_every_claim(&rules, 2));
        let none = Requirements::new();
        let err = t.requirements_for(&rules, &none, &none, &mut DomainMasks::default(), Some(h));
        assert_eq!(
            err.map_err(|r| t.reject_message(&r, "node-a")),
            Err("pod anti-affinity on kubernetes.io/hostname: a matching pod is on node-a".into())
        );
        assert!(
            t.requirements_for(&rules, &none, &none, &mut DomainMasks::default(), None)
                .is_ok()
        );
    }
}
