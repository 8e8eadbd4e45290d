//! Interruption handling on AWS (docs/model/karpenter.md §5; karpenter-provider-aws:
//! pkg/controllers/interruption): a spot interruption warning deletes the NodeClaim at once,
//! taking no disruption budget and ignoring `do-not-disrupt`. No replacement is launched ahead;
//! the displaced pods are provisioned for in the next batch, in parallel with the drain.

use asim_cluster::autoscaler::Ctx;
use asim_core::cloud::{CapacityType, InstanceId};

use super::Karpenter;
use crate::decision::Decision;

impl Karpenter {
    /// A spot interruption warning (≈2 minutes' notice): mark the offering unavailable for the
    /// ICE cache's 3 minutes and delete the NodeClaim (§5).
    pub(super) fn spot_interrupted(&mut self, ctx: &mut Ctx<'_>, instance: InstanceId) {
        let Some(i) = self.claims.by_instance(instance) else {
            return;
        };
        if !self.claims[i].is_active() {
            return;
        }
        if let Some(l) = &self.claims[i].launched {
            let ty = self.classes[self.claims[i].nodeclass].types[l.instance_type as usize]
                .name
                .clone();
            self.ice.mark(&ty, &l.zone, CapacityType::Spot, ctx.now);
        }
        let name = self.claims[i].name.clone();
        self.log(
            ctx.now,
            Decision::Interruption {
                kind: "spot_interrupted".into(),
                nodeclaim: name,
                action: "delete".into(),
            },
        );
        self.forceful_delete(ctx, i, "interruption");
    }

    /// A rebalance recommendation is recorded and nothing more (§5).
    pub(super) fn rebalance_recommended(&mut self, ctx: &mut Ctx<'_>, instance: InstanceId) {
        if let Some(i) = self.claims.by_instance(instance) {
            let name = self.claims[i].name.clone();
            self.log(
                ctx.now,
                Decision::Interruption {
                    kind: "rebalance_recommendation".into(),
                    nodeclaim: name,
                    action: "none".into(),
                },
            );
        }
    }
}
