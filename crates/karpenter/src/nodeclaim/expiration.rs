//! Expiration (docs/model/karpenter.md §3; karpenter: pkg/controllers/nodeclaim/expiration):
//! a NodeClaim older than its `expireAfter` is deleted at once, outside the disruption
//! controller's budgets, and its pods are provisioned for in parallel with the drain.

use asim_cluster::autoscaler::Ctx;

use super::ClaimState;
use super::store::ClaimId;
use crate::Karpenter;
use crate::decision::Decision;

impl Karpenter {
    /// `expireAfter` has passed since the NodeClaim was created (§3).
    pub(crate) fn expire(&mut self, ctx: &mut Ctx<'_>, i: ClaimId) {
        let Some(c) = self.claims.get(i) else { return };
        if !c.is_active() || c.state == ClaimState::Pending {
            return;
        }
        let name = c.name.clone();
        self.log(ctx.now, Decision::Expired { nodeclaim: name });
        self.forceful_delete(ctx, i, "expiration");
    }
}
