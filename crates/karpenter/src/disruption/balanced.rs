//! The `Balanced` consolidation policy (v1.14, docs/model/karpenter.md §4.6 "Balanced"): a
//! consolidation move of a Balanced NodePool is taken only when the share of the NodePool's
//! cost it saves is at least half the share of the NodePool's disruption cost it causes.
//! Emptiness, drift, expiration and interruption are not scored (upstream
//! `designs/balanced-consolidation.md`, "Interaction with Existing Features").

use std::collections::BTreeMap;

use asim_cluster::{Cluster, OwnerKind};

use super::{Candidate, Decision, eviction_cost};
use crate::Karpenter;
use crate::apis::ConsolidationPolicy;
use crate::nodeclaim::ClaimState;

/// The policy's k: a move passes when its score is at least 1/k. A constant in v1.14
/// (`BalancedK`, karpenter: pkg/apis/v1/nodepool.go), not a NodePool field.
pub const BALANCED_K: u32 = 2;

/// What draining any node costs besides its pods (`PerNodeBaseDisruptionCost`): it keeps an
/// empty node's disruption above zero, so no fraction divides by zero.
pub const PER_NODE_BASE_DISRUPTION_COST: f64 = 1.0;

/// A NodePool's denominators, taken once per method run (`computeNodePoolTotals`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PoolTotals {
    /// $/h of the NodePool's launched NodeClaims.
    pub cost: f64,
    /// Σ over the NodePool's NodeClaims of 1 + the positive eviction costs of their pods.
    pub disruption: f64,
}

/// A move's two fractions of its NodePool's totals (`ScoreResult`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Score {
    pub savings_fraction: f64,
    pub disruption_fraction: f64,
}

impl Score {
    /// `ScoreMove`: with a zero total there is nothing to normalize against and the score is
    /// zero, so the move is refused.
    pub fn of(savings: f64, disruption: f64, totals: PoolTotals) -> Score {
        if totals.cost <= 0.0 || totals.disruption <= 0.0 {
            return Score::default();
        }
        Score {
            savings_fraction: savings / totals.cost,
            disruption_fraction: disruption / totals.disruption,
        }
    }

    /// savings fraction / disruption fraction; zero for no (or negative) savings, infinite for
    /// no disruption (which the per-node base cost rules out in practice).
    pub fn value(&self) -> f64 {
        if self.savings_fraction <= 0.0 {
            0.0
        } else if self.disruption_fraction == 0.0 {
            f64::INFINITY
        } else {
            self.savings_fraction / self.disruption_fraction
        }
    }

    pub fn threshold() -> f64 {
        1.0 / f64::from(BALANCED_K)
    }

    pub fn approved(&self) -> bool {
        self.value() >= Self::threshold()
    }

    /// The wording of Karpenter's ConsolidationRejected/Approved events, for the decision log.
    fn describe(&self) -> String {
        format!(
            "score {:.2} {} threshold {:.2} (k: {BALANCED_K}, savings {:.1}%, disruption {:.1}%)",
            self.value(),
            if self.approved() { ">=" } else { "<" },
            Self::threshold(),
            self.savings_fraction * 100.0,
            self.disruption_fraction * 100.0
        )
    }
}

/// The totals of every NodePool that has a candidate, for the NodePools that are Balanced.
pub(super) type Totals = BTreeMap<usize, PoolTotals>;

/// A candidate's own disruption: the base cost plus the positive eviction costs of the pods
/// that would be rescheduled (`RescheduleDisruptionCost`; DaemonSet and mirror pods are not
/// rescheduled and cost nothing).
pub(super) fn reschedule_disruption_cost(cluster: &Cluster, c: &Candidate) -> f64 {
    PER_NODE_BASE_DISRUPTION_COST
        + c.reschedulable
            .iter()
            .map(|p| eviction_cost(cluster.pod(*p)).max(0.0))
            .sum::<f64>()
}

impl Karpenter {
    fn is_balanced(&self, pool: usize) -> bool {
        self.pools[pool]
            .nodepool
            .spec
            .disruption
            .consolidation_policy
            == ConsolidationPolicy::Balanced
    }

    /// The totals of the Balanced NodePools among `candidates`' (`computeNodePoolTotals`);
    /// `None` when no candidate is in a Balanced NodePool, so other policies pay nothing.
    ///
    /// Cost: every NodeClaim of the NodePool that has launched and is not yet gone (Karpenter's
    /// cost tracker follows NodeClaims from the moment they carry instance type, zone and
    /// capacity type until they are deleted), falling back to the candidates' prices when that
    /// sums to zero. Disruption: every NodeClaim of the NodePool, candidate or not ("non-candidate
    /// nodes still contribute to the denominators"): a candidate counts its reschedule cost, any
    /// other NodeClaim 1 plus the positive eviction costs of its active non-DaemonSet pods (a
    /// NodeClaim without a node yet counts 1).
    pub(super) fn balanced_totals(
        &self,
        cluster: &Cluster,
        candidates: &[Candidate],
    ) -> Option<Totals> {
        let mut totals: Totals = BTreeMap::new();
        let mut fallback: BTreeMap<usize, f64> = BTreeMap::new();
        let mut by_claim = BTreeMap::new();
        for c in candidates.iter().filter(|c| self.is_balanced(c.pool)) {
            totals.entry(c.pool).or_default();
            *fallback.entry(c.pool).or_default() += c.price;
            by_claim.insert(c.claim, reschedule_disruption_cost(cluster, c));
        }
        if totals.is_empty() {
            return None;
        }
        for ci in self.claims.ids() {
            let claim = &self.claims[ci];
            if claim.state == ClaimState::Deleted {
                continue;
            }
            let Some(pool) = self.pool_of(ci) else {
                continue;
            };
            let Some(t) = totals.get_mut(&pool) else {
                continue;
            };
            if let Some(l) = &claim.launched {
                t.cost += l.price;
            }
            t.disruption += match by_claim.get(&ci) {
                Some(cost) => *cost,
                None => {
                    let pods = claim.node.and_then(|n| cluster.node(n)).map_or(0.0, |n| {
                        n.pods
                            .iter()
                            .map(|p| cluster.pod(*p))
                            .filter(|p| p.is_active() && p.owner != OwnerKind::DaemonSet)
                            .map(|p| eviction_cost(p).max(0.0))
                            .sum::<f64>()
                    });
                    PER_NODE_BASE_DISRUPTION_COST + pods
                }
            };
        }
        for (pool, t) in &mut totals {
            if t.cost <= 0.0 {
                t.cost = fallback.get(pool).copied().unwrap_or(0.0);
            }
        }
        Some(totals)
    }

    /// Single-node's pre-filter (`CanPassThreshold`): deleting the node outright is the best
    /// any move of it can score; when even that fails, it is not simulated.
    pub(super) fn balanced_can_pass(
        &self,
        cluster: &Cluster,
        totals: &Totals,
        c: &Candidate,
    ) -> Result<(), String> {
        let Some(t) = totals.get(&c.pool) else {
            return Ok(());
        };
        if t.cost <= 0.0 {
            return Ok(());
        }
        let score = Score::of(c.price, reschedule_disruption_cost(cluster, c), *t);
        if score.approved() {
            Ok(())
        } else {
            Err(format!(
                "Balanced: even deleting it would {}",
                score.describe()
            ))
        }
    }

    /// Score a consolidation move (`EvaluateBalancedMove`): each Balanced NodePool among its
    /// candidates must approve; other NodePools are not scored. A move spanning NodePools
    /// credits each with the net savings in proportion to its share of the candidates' price.
    pub(super) fn balanced_verdict(
        &self,
        cluster: &Cluster,
        totals: &Totals,
        cands: &[&Candidate],
        decision: &Decision,
    ) -> Result<(), String> {
        let source: f64 = cands.iter().map(|c| c.price).sum();
        // `EstimatedSavings`: a replacement costs its cheapest available offering.
        let savings = match decision {
            Decision::Delete => source,
            Decision::Replace(r) => source - r.iter().map(|r| r.cheapest_price).sum::<f64>(),
        };
        let mut by_pool: BTreeMap<usize, (f64, f64)> = BTreeMap::new();
        for c in cands {
            let e = by_pool.entry(c.pool).or_default();
            e.0 += c.price;
            e.1 += reschedule_disruption_cost(cluster, c);
        }
        let pools = by_pool.len();
        for (pool, (price, disruption)) in by_pool {
            if !self.is_balanced(pool) {
                continue;
            }
            let share = if pools > 1 && source > 0.0 {
                savings * (price / source)
            } else {
                savings
            };
            let score = Score::of(
                share,
                disruption,
                totals.get(&pool).copied().unwrap_or_default(),
            );
            if !score.approved() {
                return Err(format!(
                    "Balanced: NodePool {} would {}",
                    self.pools[pool].nodepool.name(),
                    score.describe()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOTALS: PoolTotals = PoolTotals {
        cost: 58.08,
        disruption: 80.0,
    };

    // designs/balanced-consolidation.md "Examples": the oversized node and the spare-capacity
    // delete pass, the marginal move does not, a move saving nothing never does.
    #[test]
    fn the_design_examples_score_as_upstream_says() {
        let oversized = Score::of(7.26, 3.0, TOTALS);
        assert!((oversized.value() - 3.33).abs() < 0.01 && oversized.approved());
        assert!(Score::of(4.84, 4.0, TOTALS).approved());
        let marginal = Score::of(2.42, 8.0, TOTALS);
        assert!((marginal.value() - 0.42).abs() < 0.01 && !marginal.approved());
        assert!(!Score::of(0.0, 10.0, TOTALS).approved());
        assert!(!Score::of(-1.0, 1.0, TOTALS).approved());
    }

    // balanced.go `ScoreMove`: zero totals give a zero score (refused); a lone node's delete
    // scores exactly 1 ("Single-Node Pool") and passes.
    #[test]
    fn zero_totals_refuse_and_a_single_node_pool_delete_scores_one() {
        assert_eq!(Score::of(1.0, 1.0, PoolTotals::default()).value(), 0.0);
        let lone = Score::of(
            0.096,
            3.0,
            PoolTotals {
                cost: 0.096,
                disruption: 3.0,
            },
        );
        assert_eq!(lone.value(), 1.0);
        assert!(lone.approved());
        assert_eq!(Score::threshold(), 0.5);
    }
}
