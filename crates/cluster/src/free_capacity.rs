//! Where a pod's requests still fit among the nodes, without trying each one.
//!
//! Two searches read nodes in a fixed order and reject most of them on a busy cluster:
//! Karpenter's solve offers every pod to the existing nodes in order and takes the first that
//! accepts it (docs/model/karpenter.md §1.3 step 1) — for each pod of each candidate, in every
//! consolidation simulation of every pass — and kube-scheduler's node search reads nodes from
//! where its last cycle stopped until it has found enough that pass every filter
//! (docs/model/scheduler.md §5; the binder, `scheduler::node_tree`), as cluster-autoscaler's
//! FilterOutSchedulable does over its snapshot's nodes. [`FreeCapacity`] keeps
//! the nodes' free core resources (CPU, memory, pods, ephemeral storage) in a max-tree over
//! that order, so a search visits only the nodes whose free capacity covers the pod's
//! requests, in the same order as the scan. Every node it skips is one the scan would have
//! rejected on those resources without side effects, so the nodes found are the scan's.
//!
//! A range's maximum is taken per resource, so a range of one CPU-rich node and one
//! memory-rich node "covers" a pod that neither fits, and the search must look inside. In a
//! packed cluster that made the search visit dozens of ranges per pod. The requests the
//! simulations will place are few (a Deployment's pods share one), so an index may also be
//! given them up front ([`FreeCapacity::with_shapes`]): per range, one bit per request saying
//! whether some node in it fits that request exactly, and a search for a known request
//! follows the bits straight to the first node that fits.

/// One node's free core resources: CPU, memory, pods, ephemeral storage (the order of
/// [`core`]).
pub type Free = [i64; 4];

/// The four core resources of a request or of a node's room, in the index's order.
pub fn core(r: &asim_core::k8s::resources::Resources) -> Free {
    [r.cpu_m, r.memory, r.pods, r.ephemeral_storage]
}

/// A padding leaf: covers no request (requests are never negative).
const NONE: Free = [i64::MIN; 4];

/// The component-wise maximum of the existing nodes' free core resources over every aligned
/// range of nodes (a segment tree): a range whose maximum does not cover a request holds no
/// node that fits it.
#[derive(Clone, Debug, Default)]
pub struct FreeCapacity {
    /// Leaves (a power of two, at least 1): node `i` is at `leaves + i`.
    leaves: usize,
    /// `tree[1]` is the root; `tree[k]` covers `tree[2k]` and `tree[2k + 1]`.
    tree: Vec<Free>,
    /// Requests known up front (at most [`MAX_SHAPES`]), each with a bit in `fits`.
    shapes: Vec<Free>,
    /// Bit `j` of `fits[k]`: some node under `tree[k]` covers `shapes[j]` (empty without
    /// shapes).
    fits: Vec<u64>,
    /// While journaling ([`FreeCapacity::journal`]): each leaf change, with the leaf's value
    /// and bits before.
    undo: Option<Vec<(usize, Free, u64)>>,
}

/// Requests one index keeps exact bits for.
pub const MAX_SHAPES: usize = 64;

/// `need` fits in `free`, resource by resource.
pub fn covers(free: &Free, need: &Free) -> bool {
    free[0] >= need[0] && free[1] >= need[1] && free[2] >= need[2] && free[3] >= need[3]
}

fn max(a: &Free, b: &Free) -> Free {
    [
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].max(b[2]),
        a[3].max(b[3]),
    ]
}

impl FreeCapacity {
    /// The index over nodes `0..free.len()` with these free resources.
    pub fn new(free: impl ExactSizeIterator<Item = Free>) -> Self {
        let leaves = free.len().next_power_of_two();
        let mut tree = vec![NONE; 2 * leaves];
        for (i, f) in free.enumerate() {
            tree[leaves + i] = f;
        }
        for k in (1..leaves).rev() {
            tree[k] = max(&tree[2 * k], &tree[2 * k + 1]);
        }
        FreeCapacity {
            leaves,
            tree,
            shapes: Vec::new(),
            fits: Vec::new(),
            undo: None,
        }
    }

    /// The index with exact bits for these requests (repeats ignored; past [`MAX_SHAPES`]
    /// distinct ones, the rest are searched by the maxima alone). Which requests are given
    /// changes only the cost of a search, never its answer.
    pub fn with_shapes(mut self, shapes: impl IntoIterator<Item = Free>) -> Self {
        for s in shapes {
            if self.shapes.len() == MAX_SHAPES {
                break;
            }
            if !self.shapes.contains(&s) {
                self.shapes.push(s);
            }
        }
        if self.shapes.is_empty() {
            return self;
        }
        self.fits = vec![0; self.tree.len()];
        for k in self.leaves..self.tree.len() {
            self.fits[k] = self.leaf_bits(k);
        }
        for k in (1..self.leaves).rev() {
            self.fits[k] = self.fits[2 * k] | self.fits[2 * k + 1];
        }
        self
    }

    /// The shapes leaf `k` covers, as bits.
    fn leaf_bits(&self, k: usize) -> u64 {
        self.shapes
            .iter()
            .enumerate()
            .filter(|(_, s)| covers(&self.tree[k], s))
            .fold(0, |bits, (j, _)| bits | 1 << j)
    }

    /// Node `i`'s free resources changed (a pod was placed on it).
    pub fn set(&mut self, i: usize, free: Free) {
        let k = self.leaves + i;
        let bits = !self.fits.is_empty();
        if let Some(undo) = &mut self.undo {
            undo.push((i, self.tree[k], if bits { self.fits[k] } else { 0 }));
        }
        self.tree[k] = free;
        if bits {
            self.fits[k] = self.leaf_bits(k);
        }
        self.update_above(k);
    }

    /// Recompute the ranges above leaf `k` from their halves, up to the first range that
    /// comes out as it was: the ranges above it depend on nothing that changed. (A pod placed
    /// on a node that was not its ranges' maximum in any resource stops at its parent.)
    fn update_above(&mut self, mut k: usize) {
        let bits = !self.fits.is_empty();
        while k > 1 {
            k /= 2;
            let m = max(&self.tree[2 * k], &self.tree[2 * k + 1]);
            let f = if bits {
                self.fits[2 * k] | self.fits[2 * k + 1]
            } else {
                0
            };
            if m == self.tree[k] && (!bits || f == self.fits[k]) {
                return;
            }
            self.tree[k] = m;
            if bits {
                self.fits[k] = f;
            }
        }
    }

    /// Record every change from now on, for [`FreeCapacity::restore`]: a disruption pass
    /// keeps one index over its existing nodes, and each simulation takes its excluded nodes
    /// out and places its pods in that index itself, then puts it back as it was, instead of
    /// copying the whole tree (a copy per simulation was 7 % of a busy pass's instructions).
    pub fn journal(&mut self) {
        self.undo = Some(Vec::new());
    }

    /// Undo every change since [`FreeCapacity::journal`] and stop journaling: each changed
    /// leaf gets its first value back, newest change first, and the ranges above it are
    /// recomputed from their halves, so the tree and its bits are the ones it had.
    pub fn restore(&mut self) {
        let Some(undo) = self.undo.take() else {
            return;
        };
        for &(i, free, bits) in undo.iter().rev() {
            let k = self.leaves + i;
            self.tree[k] = free;
            if !self.fits.is_empty() {
                self.fits[k] = bits;
            }
            self.update_above(k);
        }
    }

    /// Take the nodes `out` (indices, any order, repeats allowed) out: they cover nothing, as
    /// if they were not in the list.
    pub fn exclude(&mut self, out: impl IntoIterator<Item = usize>) {
        for i in out {
            self.set(i, NONE);
        }
    }

    /// A copy in which the nodes `out` (indices, any order, repeats allowed) cover nothing,
    /// as if they were not in the list. Only the ranges above those nodes are recomputed.
    #[cfg(test)]
    pub fn without(&self, out: impl IntoIterator<Item = usize>) -> Self {
        let mut t = self.clone();
        let mut dirty: Vec<usize> = Vec::new();
        let bits = !t.fits.is_empty();
        for i in out {
            let k = t.leaves + i;
            t.tree[k] = NONE;
            if bits {
                t.fits[k] = 0;
            }
            dirty.push(k / 2);
        }
        // Level by level from the leaves' parents up: each range once, after its halves.
        while !dirty.is_empty() {
            dirty.sort_unstable();
            dirty.dedup();
            for &k in &dirty {
                t.tree[k] = max(&t.tree[2 * k], &t.tree[2 * k + 1]);
                if bits {
                    t.fits[k] = t.fits[2 * k] | t.fits[2 * k + 1];
                }
            }
            dirty.retain(|&k| k > 1);
            for k in &mut dirty {
                *k /= 2;
            }
        }
        t
    }

    /// The first node at or after `from` whose free resources cover `need` in every
    /// component, if any.
    pub fn first_fit(&self, from: usize, need: &Free) -> Option<usize> {
        if from >= self.leaves {
            return None;
        }
        match self.shapes.iter().position(|s| s == need) {
            // A known request: a range is entered only when some node in it fits, so the
            // descent never turns back.
            Some(j) => self.climb(from, |k| self.descend(k, 1 << j)),
            None => self.climb(from, |k| self.leftmost(k, need)),
        }
    }

    /// The first node at or after `from` that `inside` finds: the solve asks again from the
    /// node after one it refused, and in a cluster with room that node often fits (one look,
    /// as the scan made); otherwise climb from its leaf and search the ranges right of the
    /// path, nearest first. `inside(k)` is the leftmost fitting node under `tree[k]`, if any.
    fn climb(&self, from: usize, inside: impl Fn(usize) -> Option<usize>) -> Option<usize> {
        let mut k = self.leaves + from;
        if let Some(i) = inside(k) {
            return Some(i);
        }
        loop {
            while k & 1 == 1 {
                k /= 2;
                if k == 0 {
                    return None;
                }
            }
            k += 1;
            if let Some(i) = inside(k) {
                return Some(i);
            }
        }
    }

    /// The leftmost node under `tree[k]` whose bit `bit` is set, by the bits alone.
    fn descend(&self, mut k: usize, bit: u64) -> Option<usize> {
        if self.fits[k] & bit == 0 {
            return None;
        }
        while k < self.leaves {
            k = if self.fits[2 * k] & bit != 0 {
                2 * k
            } else {
                2 * k + 1
            };
        }
        Some(k - self.leaves)
    }

    /// The leftmost node under `tree[k]` that covers `need`. A range's maximum is taken per
    /// resource, so it may cover `need` with no single node that does: both halves are
    /// searched, and only ranges whose maximum falls short are skipped.
    fn leftmost(&self, k: usize, need: &Free) -> Option<usize> {
        if !covers(&self.tree[k], need) {
            return None;
        }
        if k >= self.leaves {
            return Some(k - self.leaves);
        }
        self.leftmost(2 * k, need)
            .or_else(|| self.leftmost(2 * k + 1, need))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// What the solve did before the index: try every node from `from` on, in order.
    fn scan(free: &[Free], from: usize, need: &Free) -> Option<usize> {
        (from..free.len()).find(|&i| covers(&free[i], need))
    }

    #[test]
    fn finds_the_first_node_that_fits_as_the_scan_does() {
        let free = [
            [4, 8, 10, 0],
            [1, 1, 1, 0],
            [2, 16, 3, 0],
            [8, 2, 5, 0],
            [2, 16, 3, 0],
        ];
        let index = FreeCapacity::new(free.iter().copied());
        for need in [
            [1, 1, 1, 0],
            [2, 9, 1, 0],
            [5, 1, 1, 0],
            [9, 1, 1, 0],
            [0, 0, 0, 0],
        ] {
            for from in 0..=free.len() + 2 {
                assert_eq!(index.first_fit(from, &need), scan(&free, from, &need));
            }
        }
    }

    #[test]
    fn a_range_can_cover_a_request_that_none_of_its_nodes_covers() {
        // One node rich in CPU, the next in memory: their range's maximum covers 4 CPU and 4
        // of memory, but neither node does; the third does.
        let free = [[8, 1, 1, 1], [1, 8, 1, 1], [4, 4, 1, 1]];
        let index = FreeCapacity::new(free.iter().copied());
        assert_eq!(index.first_fit(0, &[4, 4, 1, 1]), Some(2));
        assert_eq!(index.first_fit(0, &[5, 5, 1, 1]), None);
    }

    #[test]
    fn an_empty_index_finds_nothing() {
        let index = FreeCapacity::new(std::iter::empty());
        assert_eq!(index.first_fit(0, &[0, 0, 0, 0]), None);
    }

    #[test]
    fn taking_nodes_out_gives_the_tree_built_without_them() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for n in [1usize, 2, 5, 8, 9, 64, 100] {
            let free: Vec<Free> = (0..n)
                .map(|_| [rng.random_range(-2..16), rng.random_range(0..64), 3, 1])
                .collect();
            let index = FreeCapacity::new(free.iter().copied());
            let out: Vec<usize> = (0..n / 3 + 1).map(|_| rng.random_range(0..n)).collect();
            let mut kept = free.clone();
            for &i in &out {
                kept[i] = NONE;
            }
            let built = FreeCapacity::new(kept.iter().copied());
            assert_eq!(index.without(out.iter().copied()).tree, built.tree, "n={n}");
        }
    }

    #[test]
    fn restoring_a_journal_gives_back_the_tree_and_its_bits() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let known: Vec<Free> = vec![[1, 2, 1, 0], [4, 8, 1, 0], [0, 0, 1, 0]];
        for n in [1usize, 2, 5, 8, 9, 64, 100] {
            let free: Vec<Free> = (0..n)
                .map(|_| [rng.random_range(-2..16), rng.random_range(0..64), 3, 1])
                .collect();
            let mut index = FreeCapacity::new(free.iter().copied()).with_shapes(known.clone());
            let (tree, fits) = (index.tree.clone(), index.fits.clone());
            for _ in 0..3 {
                index.journal();
                let out: Vec<usize> = (0..n / 3 + 1).map(|_| rng.random_range(0..n)).collect();
                index.exclude(out.iter().copied());
                let mut kept = free.clone();
                for &i in &out {
                    kept[i] = NONE;
                }
                let built = FreeCapacity::new(kept.iter().copied()).with_shapes(known.clone());
                assert_eq!(
                    (&index.tree, &index.fits),
                    (&built.tree, &built.fits),
                    "n={n}"
                );
                // A solve's placements, some on the same node twice.
                for _ in 0..2 * n {
                    let i = rng.random_range(0..n);
                    let f = [rng.random_range(-2..16), rng.random_range(0..64), 2, 1];
                    index.set(i, f);
                }
                index.restore();
                assert_eq!((&index.tree, &index.fits), (&tree, &fits), "n={n}");
                assert!(index.undo.is_none());
            }
        }
    }

    #[test]
    fn agrees_with_the_scan_through_random_placements() {
        agrees_through_random_placements(false);
    }

    #[test]
    fn with_known_requests_agrees_with_the_scan_through_random_placements() {
        agrees_through_random_placements(true);
    }

    /// Random placements; with `shapes`, most requests are known to the index up front (the
    /// others take the maxima's search) and some nodes are taken out first.
    fn agrees_through_random_placements(shapes: bool) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let known: Vec<Free> = (0..6)
            .map(|_| {
                [
                    rng.random_range(0..8),
                    rng.random_range(0..32),
                    rng.random_range(0..2),
                    rng.random_range(0..2),
                ]
            })
            .collect();
        for n in [1usize, 2, 3, 7, 8, 9, 33, 100] {
            let mut free: Vec<Free> = (0..n)
                .map(|_| {
                    [
                        rng.random_range(-2..16),
                        rng.random_range(-2..64),
                        rng.random_range(0..10),
                        rng.random_range(0..3),
                    ]
                })
                .collect();
            let mut index = FreeCapacity::new(free.iter().copied());
            if shapes {
                index = index.with_shapes(known.iter().copied());
                let out: Vec<usize> = (0..n / 4).map(|_| rng.random_range(0..n)).collect();
                index = index.without(out.iter().copied());
                for &i in &out {
                    free[i] = NONE;
                }
            }
            for _ in 0..2000 {
                let need = if shapes && rng.random_range(0..4) > 0 {
                    known[rng.random_range(0..known.len())]
                } else {
                    [
                        rng.random_range(0..8),
                        rng.random_range(0..32),
                        rng.random_range(0..2),
                        rng.random_range(0..2),
                    ]
                };
                let from = rng.random_range(0..n + 1);
                let got = index.first_fit(from, &need);
                assert_eq!(
                    got,
                    scan(&free, from, &need),
                    "n={n} from={from} need={need:?}"
                );
                // Place the pod where it landed, as the solve does.
                if let Some(i) = got {
                    for (f, r) in free[i].iter_mut().zip(need) {
                        *f -= r;
                    }
                    index.set(i, free[i]);
                }
            }
        }
    }
}
