//! Consolidation (docs/model/karpenter.md §4.6): simulate removing candidates, decide between
//! delete and replace, apply the price rules (worst launch price strictly lower, spot pinning,
//! spot-to-spot behind its feature gate, no same-type merges), and the multi-node binary
//! search and single-node round robin.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;

use crate::Karpenter;
use crate::apis::DisruptionReason;
use crate::instancetype::{CAPACITY_TYPE, InstanceTypeInfo, OfferingReqs};
use crate::nodeclaim::store::ClaimId;
use crate::provisioning::scheduling::{
    PlannedClaim, Template, core, instance_type_requirement, satisfies_min_values,
};
use crate::provisioning::{SolveBase, narrow_capacity_types};
use asim_cluster::autoscaler::Ctx;
use asim_cluster::{NodeId, PodId};
use asim_core::cloud::CapacityType;
use asim_core::engine::SimTime;
use asim_core::k8s::requirements::{Requirement, Requirements};

use super::{BudgetLedger, Candidate, Command, Method, underutilized_allowed};

/// Multi-node consolidation looks at no more than this many candidates (§4.6).
pub const MAX_MULTI_NODE_CANDIDATES: usize = 100;
/// [simulator] Single-node consolidation simulates at most this many candidates per pass,
/// resuming after the last one next pass: the stand-in for Karpenter's 3-minute timeout,
/// which a wall clock would make nondeterministic (§4.6).
pub const MAX_SINGLE_NODE_SIMULATIONS: usize = 20;
/// Spot-to-spot single-node consolidation needs this many cheaper spot types (§4.6).
pub const MIN_SPOT_TO_SPOT_TYPES: usize = 15;

/// What a command does with its candidates.
#[derive(Clone)]
pub enum Decision {
    Delete,
    Replace(Vec<Replacement>),
}

/// A NodeClaim to create in place of the candidates.
#[derive(Clone)]
pub struct Replacement {
    pub template: Template,
    pub claim: PlannedClaim,
    pub requirements: Requirements,
    /// Instance types, cheapest first.
    pub types: Vec<u32>,
    pub type_names: Vec<String>,
    pub cheapest_price: f64,
}

/// The price a launch of `it` could cost at worst under `reqs` (§4.6 `WorstLaunchPrice`): the
/// most expensive available compatible offering of the capacity type that would be used (spot
/// before on-demand).
fn worst_launch_price(
    it: &InstanceTypeInfo,
    reqs: &Requirements,
    ice: &crate::instancetype::IceCache,
    now: SimTime,
) -> Option<f64> {
    let allowed = OfferingReqs::of(reqs);
    let compatible: Vec<_> = it
        .offerings
        .iter()
        .filter(|o| allowed.allows(o) && ice.available(&it.name, o, now))
        .collect();
    let ct = if compatible
        .iter()
        .any(|o| o.capacity_type == CapacityType::Spot)
    {
        CapacityType::Spot
    } else {
        CapacityType::OnDemand
    };
    compatible
        .iter()
        .filter(|o| o.capacity_type == ct)
        .map(|o| o.price)
        .max_by(f64::total_cmp)
}

fn allows(reqs: &Requirements, ct: &str) -> bool {
    reqs.get(CAPACITY_TYPE).is_none_or(|r| r.has(ct))
}

impl Karpenter {
    /// Simulate deleting `cands` (§4.6 `computeConsolidation` / `SimulateScheduling`): their
    /// pods, the pending pods and the pods of leaving nodes are scheduled against the rest.
    /// `drift` accepts several replacements and skips the price rules (§4.5).
    pub(super) fn simulate_removal(
        &mut self,
        ctx: &mut Ctx<'_>,
        cands: &[&Candidate],
        drift: bool,
    ) -> Result<Decision, String> {
        let base = self.pass_base(ctx);
        self.decide(ctx, &base, cands, drift, false, false)
    }

    /// The [`SolveBase`] of this instant's simulations, shared by the methods of one pass
    /// (drift, multi-node, single-node): it depends on the cluster, the NodeClaims, the
    /// unavailable offerings, the nominations (through the windows) and the time, so it is
    /// kept while none of them has moved and built again otherwise.
    fn pass_base(&mut self, ctx: &Ctx<'_>) -> Rc<OnceCell<SolveBase>> {
        let now = ctx.now;
        let key = (
            (
                ctx.cluster().generation(),
                self.claims.version(),
                self.ice.state(now),
            ),
            self.nominations,
            now,
        );
        match &self.disruption.pass_base {
            Some((k, base)) if *k == key => Rc::clone(base),
            _ => {
                let base = Rc::new(OnceCell::new());
                self.disruption.pass_base = Some((key, Rc::clone(&base)));
                base
            }
        }
    }

    /// `search`: multi-node consolidation's binary search, which reads only whether the
    /// candidates can go (not why not), so the simulation may stop as soon as it cannot.
    fn decide(
        &mut self,
        ctx: &mut Ctx<'_>,
        base: &OnceCell<SolveBase>,
        cands: &[&Candidate],
        drift: bool,
        multi: bool,
        search: bool,
    ) -> Result<Decision, String> {
        let now = ctx.now;
        let cluster = ctx.cluster();
        // v1.14: pods may not move onto a node still inside its own consolidateAfter window
        // (§4.3). [simplification] Karpenter exempts pending pods; we keep such nodes out of
        // the simulation altogether.
        let windows = self.windows(cluster, now);
        let (waiting, epoch) = (Arc::clone(&windows.waiting), windows.epoch);
        // Nothing this simulation reads has changed since it last ran: same answer.
        let state = (
            cluster.generation(),
            self.claims.version(),
            self.ice.state(now),
        );
        if self.disruption.sims_state != Some(state) {
            self.disruption.sims.clear();
            self.disruption.sims_state = Some(state);
        }
        let key = (
            cands.iter().map(|c| c.claim).collect(),
            drift,
            multi,
            search,
            epoch,
        );
        if let Some(found) = self.disruption.sims.get(&key) {
            return found.clone();
        }
        // The pass's waiting nodes are left out of its base. A simulation over that base
        // takes out only its candidates (a node the base does not hold is no exclusion);
        // should the windows have moved since the base was built, it builds its own base and
        // takes out the waiting nodes too.
        let base = base.get_or_init(|| self.solve_base(cluster, now, Arc::clone(&waiting)));
        let own;
        let mut excluded: BTreeSet<NodeId> = cands.iter().map(|c| c.node).collect();
        let base = if Arc::ptr_eq(&base.left_out, &waiting) {
            base
        } else {
            excluded.extend(waiting.iter().copied());
            if base.left_out.is_subset(&excluded) {
                base
            } else {
                own = self.solve_base(cluster, now, Arc::default());
                &own
            }
        };
        let found =
            self.simulate_decision(cluster, now, base, cands, drift, multi, search, &excluded);
        self.disruption.sims.insert(key, found.clone());
        found
    }

    /// [`Karpenter::decide`] without the memo: a function of the cluster, the NodeClaims, the
    /// configuration and the unavailable offerings at `now`, and nothing else.
    #[allow(clippy::too_many_arguments)]
    fn simulate_decision(
        &self,
        cluster: &asim_cluster::Cluster,
        now: SimTime,
        base: &SolveBase,
        cands: &[&Candidate],
        drift: bool,
        multi: bool,
        search: bool,
        excluded: &BTreeSet<NodeId>,
    ) -> Result<Decision, String> {
        let pending = &base.pending;
        let mut pods: Vec<PodId> = pending.iter().copied().collect();
        for c in cands {
            pods.extend(c.reschedulable.iter().copied());
        }
        pods.extend(base.deleting_pods.iter().copied());
        // Its pods' decisions are not logged: the simulation does not word them. The binary
        // search reads only whether a prefix works (§4.6), and a plan of two new nodes never
        // does: the solve may stop at the second NodeClaim. (Elsewhere the reason is logged,
        // with how many nodes removing the candidates would need, so the solve runs to the end.)
        let max_claims = (search && !drift).then_some(1);
        // The same answer without a solve, when the pods that must move ask more of some
        // resource than the other nodes' room and one new node together (a bound, exact
        // whenever it applies: such a solve plans a second NodeClaim or leaves a pod out).
        if max_claims.is_some() {
            let mut moving: Vec<PodId> = pods
                .iter()
                .copied()
                .filter(|p| !pending.contains(p))
                .collect();
            moving.sort_unstable();
            moving.dedup();
            let mut need = [0i64; 4];
            for p in moving {
                for (j, v) in core(&cluster.pod(p).template.requests)
                    .into_iter()
                    .enumerate()
                {
                    need[j] += v;
                }
            }
            if base.exceeds_one_more_node(need, excluded) {
                return Err("removing them would need more than one new node".into());
            }
        }
        let sim = self.simulate(
            cluster,
            now,
            base,
            pods,
            excluded,
            "consolidation".into(),
            false,
            max_claims,
        );
        if sim.result.stopped {
            return Err("removing them would need more than one new node".into());
        }
        // Every pod that is running somewhere must find a place (§4.6).
        if let Some((pod, why)) = sim.result.errors.iter().find(|(p, _)| !pending.contains(p)) {
            let p = cluster.pod(*pod);
            return Err(format!(
                "pod {}/{} could not be rescheduled: {why}",
                p.namespace(),
                p.name
            ));
        }
        if let Some((pod, _)) = sim.result.existing.iter().find(|(p, e)| {
            !pending.contains(p) && sim.existing.get(*e).is_some_and(|m| !m.initialized)
        }) {
            let p = cluster.pod(*pod);
            return Err(format!(
                "pod {}/{} would schedule against an uninitialized node",
                p.namespace(),
                p.name
            ));
        }
        let claims = &sim.result.claims;
        if claims.is_empty() {
            return Ok(Decision::Delete);
        }
        if drift {
            let mut out = Vec::new();
            for claim in claims {
                let tpl = &sim.templates[claim.template];
                let (reqs, types) = Rc::unwrap_or_clone(self.plan_claim(tpl, claim, now)?);
                out.push(self.replacement(tpl, claim, reqs, types, now));
            }
            return Ok(Decision::Replace(out));
        }
        if claims.len() > 1 {
            return Err(format!(
                "removing it would need {} new nodes; consolidation replaces with at most one",
                claims.len()
            ));
        }
        let claim = &claims[0];
        let tpl = &sim.templates[claim.template];
        let r = self.cheaper_replacement(tpl, claim, cands, multi, now)?;
        Ok(Decision::Replace(vec![r]))
    }

    fn replacement(
        &self,
        tpl: &Template,
        claim: &PlannedClaim,
        reqs: Requirements,
        types: Vec<u32>,
        now: SimTime,
    ) -> Replacement {
        let type_names = types
            .iter()
            .map(|i| tpl.all_types[*i as usize].name.clone())
            .collect();
        let cheapest_price = types
            .first()
            .and_then(|i| tpl.all_types[*i as usize].cheapest(&reqs, &self.ice, now))
            .map_or(0.0, |o| o.price);
        Replacement {
            template: tpl.clone(),
            claim: claim.clone(),
            requirements: reqs,
            types,
            type_names,
            cheapest_price,
        }
    }

    /// The price rules of a one-node replacement (§4.6).
    fn cheaper_replacement(
        &self,
        tpl: &Template,
        claim: &PlannedClaim,
        cands: &[&Candidate],
        multi: bool,
        now: SimTime,
    ) -> Result<Replacement, String> {
        let all = &tpl.all_types;
        let planned = self.plan_claim(tpl, claim, now)?;
        // Most candidates find no cheaper type: the requirements are copied only to be added to.
        let mut reqs = std::borrow::Cow::Borrowed(&planned.0);
        let mut types = planned.1.clone();
        let candidate_price: f64 = cands.iter().map(|c| c.price).sum();
        let all_spot = cands.iter().all(|c| c.spot);
        let below = |types: &mut Vec<u32>, reqs: &Requirements, limit: f64| {
            types.retain(|&i| {
                worst_launch_price(&all[i as usize], reqs, &self.ice, now)
                    .is_some_and(|p| p < limit)
            });
        };
        if all_spot && allows(&reqs, "spot") {
            if !self.disruption.spot_to_spot {
                return Err(
                    "SpotToSpotConsolidation is disabled, can't replace a spot node with a spot node"
                        .into(),
                );
            }
            reqs.to_mut()
                .add_requirement(Requirement::in_values(CAPACITY_TYPE, ["spot"]));
            below(&mut types, &reqs, candidate_price);
            if !multi {
                if types.len() < MIN_SPOT_TO_SPOT_TYPES {
                    return Err(format!(
                        "spot-to-spot needs {MIN_SPOT_TO_SPOT_TYPES} cheaper spot instance types, found {}",
                        types.len()
                    ));
                }
                let own = cands[0].instance_type;
                let own_name = &self.claim_types(cands[0].claim)[own as usize].name;
                if types[..MIN_SPOT_TO_SPOT_TYPES]
                    .iter()
                    .any(|i| &all[*i as usize].name == own_name)
                {
                    return Err(
                        "the node is already one of the 15 cheapest spot instance types".into(),
                    );
                }
                types.truncate(MIN_SPOT_TO_SPOT_TYPES);
            }
        } else {
            below(&mut types, &reqs, candidate_price);
            if types.is_empty() {
                return Err(format!(
                    "no replacement is cheaper than the ${candidate_price:.4}/h the node{} cost{}",
                    if cands.len() > 1 { "s" } else { "" },
                    if cands.len() > 1 { "" } else { "s" }
                ));
            }
            // Flexible to both: pinned to spot, so a failed spot launch never falls back to
            // a pricier on-demand node (§4.6).
            if allows(&reqs, "spot") && allows(&reqs, "on-demand") {
                reqs.to_mut()
                    .add_requirement(Requirement::in_values(CAPACITY_TYPE, ["spot"]));
                types.retain(|&i| all[i as usize].has_offering(&reqs, &self.ice, now));
            }
        }
        if multi {
            // Never merge nodes into one of their own types unless it is cheaper than the
            // cheapest of them (`filterOutSameInstanceType`).
            let mut max_price = f64::MAX;
            for c in cands {
                let name = &self.claim_types(c.claim)[c.instance_type as usize].name;
                if types.iter().any(|i| &all[*i as usize].name == name) {
                    max_price = max_price.min(c.price);
                }
            }
            if max_price < f64::MAX {
                below(&mut types, &reqs, max_price);
            }
        }
        if types.is_empty() {
            return Err("no cheaper replacement instance type is left".into());
        }
        satisfies_min_values(&reqs, all, &types).map_err(|why| format!("minValues: {why}"))?;
        let mut reqs = reqs.into_owned();
        reqs.add_requirement(instance_type_requirement(&types, all));
        narrow_capacity_types(&mut reqs, &types, all);
        Ok(self.replacement(tpl, claim, reqs, types, now))
    }

    fn claim_types(&self, claim: ClaimId) -> &[InstanceTypeInfo] {
        &self.classes[self.claims[claim].nodeclass].types
    }

    /// The candidates consolidation may take (§4.6): consolidatable, not empty (emptiness takes
    /// those), unblocked, in a NodePool whose policy allows underutilized nodes.
    fn consolidation_candidates<'c>(&self, candidates: &'c [Candidate]) -> Vec<&'c Candidate> {
        candidates
            .iter()
            .filter(|c| {
                c.consolidatable
                    && !c.is_empty()
                    && c.blocked.is_none()
                    && self.consolidation_enabled(c.pool)
                    && underutilized_allowed(
                        self.pools[c.pool]
                            .nodepool
                            .spec
                            .disruption
                            .consolidation_policy,
                    )
            })
            .collect()
    }

    /// Multi-node consolidation (§4.6): budget-filtered candidates, then a binary search for the
    /// longest prefix (at least two) that can be deleted or replaced by one cheaper node.
    pub(super) fn multi_node(
        &mut self,
        ctx: &mut Ctx<'_>,
        candidates: &[Candidate],
        budgets: &BTreeMap<(usize, DisruptionReason), u32>,
    ) -> (Option<Command>, bool) {
        let mut ledger = BudgetLedger::new(budgets, DisruptionReason::Underutilized);
        let cands: Vec<&Candidate> = self
            .consolidation_candidates(candidates)
            .into_iter()
            .filter(|c| ledger.take(c.pool))
            .collect();
        let budget_blocked = ledger.blocked;
        if cands.len() < 2 {
            return (None, budget_blocked);
        }
        let base = self.pass_base(ctx);
        let balanced = self.balanced_totals(ctx.cluster(), candidates);
        // Karpenter's bounds are indices: prefixes of 2 ..= len, or up to 101 (§4.6).
        let (mut lo, mut hi) = (1usize, (cands.len() - 1).min(MAX_MULTI_NODE_CANDIDATES));
        let mut best = None;
        while lo <= hi {
            let mid = (lo + hi) / 2;
            let prefix = &cands[..=mid];
            // A prefix a Balanced NodePool refuses counts as invalid: the search tries a
            // shorter one (§4.6 "Balanced").
            let found = self
                .decide(ctx, &base, prefix, false, true, true)
                .and_then(|d| match &balanced {
                    Some(t) => self
                        .balanced_verdict(ctx.cluster(), t, prefix, &d)
                        .map(|()| d),
                    None => Ok(d),
                });
            match found {
                Ok(decision) => {
                    best = Some(Command {
                        method: Method::MultiNodeConsolidation,
                        candidates: prefix.iter().map(|c| c.claim).collect(),
                        decision,
                    });
                    lo = mid + 1;
                }
                Err(_) => hi = mid - 1,
            }
        }
        (best, budget_blocked)
    }

    /// Single-node consolidation (§4.6): candidates in order, round-robin across NodePools,
    /// the first that can be deleted or replaced by a cheaper node.
    pub(super) fn single_node(
        &mut self,
        ctx: &mut Ctx<'_>,
        candidates: &[Candidate],
        budgets: &BTreeMap<(usize, DisruptionReason), u32>,
    ) -> (Option<Command>, bool) {
        let cands = self.consolidation_candidates(candidates);
        let mut by_pool: BTreeMap<usize, std::collections::VecDeque<&Candidate>> = BTreeMap::new();
        for c in cands {
            by_pool.entry(c.pool).or_default().push_back(c);
        }
        let mut order = Vec::new();
        while by_pool.values().any(|q| !q.is_empty()) {
            for q in by_pool.values_mut() {
                if let Some(c) = q.pop_front() {
                    order.push(c);
                }
            }
        }
        if order.is_empty() {
            return (None, false);
        }
        let base = self.pass_base(ctx);
        let balanced = self.balanced_totals(ctx.cluster(), candidates);
        let mut budget_blocked = false;
        // Resume where the last pass stopped (Karpenter: NodePools skipped by a timed-out run
        // go first next time).
        let start = self.disruption.single_cursor % order.len();
        order.rotate_left(start);
        // How many candidates earlier capped passes already tried in this cluster state: once
        // every candidate has been tried, the method has found nothing (and may be memoized).
        let state = (ctx.cluster().changes, self.claims.len());
        if self.disruption.single_scanned.0 != state {
            self.disruption.single_scanned = (state, 0);
        }
        let total = order.len();
        let mut simulated = 0;
        for c in order {
            if simulated == MAX_SINGLE_NODE_SIMULATIONS {
                self.disruption.single_cursor = start + simulated;
                self.disruption.single_scanned.1 += simulated;
                let unfinished = self.disruption.single_scanned.1 < total;
                return (None, budget_blocked || unfinished);
            }
            if budgets
                .get(&(c.pool, DisruptionReason::Underutilized))
                .copied()
                .unwrap_or(0)
                == 0
            {
                budget_blocked = true;
                continue;
            }
            // A Balanced NodePool's node that could not pass even by being deleted is not
            // simulated (`CanPassThreshold`), so it does not count against the cap either.
            if let Some(t) = &balanced
                && let Err(why) = self.balanced_can_pass(ctx.cluster(), t, c)
            {
                self.note_unconsolidatable(ctx.now, c, &why);
                continue;
            }
            simulated += 1;
            let found = self
                .decide(ctx, &base, &[c], false, false, false)
                .and_then(|d| match &balanced {
                    Some(t) => self
                        .balanced_verdict(ctx.cluster(), t, &[c], &d)
                        .map(|()| d),
                    None => Ok(d),
                });
            match found {
                Ok(decision) => {
                    return (
                        Some(Command {
                            method: Method::SingleNodeConsolidation,
                            candidates: vec![c.claim],
                            decision,
                        }),
                        budget_blocked,
                    );
                }
                Err(why) => self.note_unconsolidatable(ctx.now, c, &why),
            }
        }
        (None, budget_blocked)
    }

    /// Re-check a consolidation command after its delay (§4.6 validation): every candidate is
    /// still a valid candidate within budget, and a new simulation gives the same shape.
    pub(super) fn revalidate_consolidation(
        &mut self,
        ctx: &mut Ctx<'_>,
        command: &Command,
        candidates: &[Candidate],
        budgets: &BTreeMap<(usize, DisruptionReason), u32>,
    ) -> Result<Command, String> {
        let valid = self.consolidation_candidates(candidates);
        let mut cands = Vec::new();
        let mut per_pool: BTreeMap<usize, u32> = BTreeMap::new();
        for ci in &command.candidates {
            let Some(c) = valid.iter().find(|c| c.claim == *ci) else {
                return Err(format!(
                    "{} is no longer a consolidation candidate",
                    self.claims[*ci].name
                ));
            };
            *per_pool.entry(c.pool).or_insert(0) += 1;
            cands.push(*c);
        }
        for (pool, n) in per_pool {
            let allowed = budgets
                .get(&(pool, DisruptionReason::Underutilized))
                .copied()
                .unwrap_or(0);
            if n > allowed {
                return Err("the disruption budget no longer allows it".into());
            }
        }
        // The instant's shared base: a command that fails here falls through to the next
        // method, whose pass at this same instant then finds the base built.
        let base = self.pass_base(ctx);
        let multi = command.method == Method::MultiNodeConsolidation;
        let again = self.decide(ctx, &base, &cands, false, multi, false)?;
        match (&command.decision, &again) {
            (Decision::Delete, Decision::Delete) => Ok(command.clone()),
            (Decision::Replace(old), Decision::Replace(new))
                if old.len() == 1 && new.len() == 1 =>
            {
                let fresh: BTreeSet<&String> = new[0].type_names.iter().collect();
                if old[0].type_names.iter().all(|n| fresh.contains(n)) {
                    Ok(command.clone())
                } else {
                    Err("the replacement's instance types changed".into())
                }
            }
            _ => Err("the simulation no longer gives the same decision".into()),
        }
    }
}
