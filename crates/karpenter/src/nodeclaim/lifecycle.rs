//! The NodeClaim lifecycle (docs/model/karpenter.md §3; karpenter:
//! pkg/controllers/nodeclaim/lifecycle — launch.go, registration.go, initialization.go,
//! liveness.go — and the termination finalizer): CreateFleet for a new NodeClaim, the node it
//! becomes, registration, initialization, the registration timeout, and deletion.

use std::collections::BTreeMap;

use asim_cluster::autoscaler::{Ctx, DrainOptions, NodeBlueprint, NodeEvent};
use asim_cluster::{NodeId, NodeOwner};
use asim_core::cloud::{FleetOutcome, InstanceId};
use asim_core::k8s::taints::{Taint, TaintEffect};

use super::store::ClaimId;
use super::{ClaimState, Launched, REGISTRATION_TIMEOUT_MS, UNREGISTERED_TAINT};
use crate::decision::Decision;
use crate::timer::Timer;
use crate::{Karpenter, apis, instancetype, launch};

impl Karpenter {
    pub(crate) fn launch(&mut self, ctx: &mut Ctx<'_>, i: ClaimId) {
        if self.claims[i].state != ClaimState::Pending {
            return;
        }
        let c = &self.claims[i];
        let class = &self.classes[c.nodeclass];
        let ami = class
            .nodeclass
            .as_ref()
            .map_or(asim_core::catalog::allocatable::AmiFamily::AL2023, |n| {
                instancetype::catalog_ami(n.effective_ami_family())
            });
        let launch = asim_core::cloud::LaunchSpec {
            ami_family: ami,
            tags: BTreeMap::from([
                ("karpenter.sh/nodeclaim".to_string(), c.name.clone()),
                ("karpenter.sh/nodepool".to_string(), c.nodepool.clone()),
            ]),
        };
        let req = match launch::fleet_request(
            &class.types,
            &c.types,
            &c.requirements,
            &self.ice,
            ctx.now,
            launch,
        ) {
            Ok(r) => r,
            Err(launch::NoOffering(why)) => {
                let name = c.name.clone();
                self.log(
                    ctx.now,
                    Decision::LaunchFailed {
                        nodeclaim: name,
                        reason: why,
                        errors: None,
                    },
                );
                self.delete_claim(ctx, i, "insufficient-capacity");
                return;
            }
        };
        self.last_request_ct.insert(i, req.capacity_type);
        let outcome = ctx.create_fleet(&req);
        let api = outcome.api_latency_ms();
        if let FleetOutcome::Launched { instance, pool, .. } = &outcome
            && let Some(bp) = self.blueprint(i, pool)
        {
            ctx.expect_node(*instance, bp);
        }
        self.outcomes.insert(i, outcome);
        ctx.set_timer(ctx.now + api, Timer::Launched(i).encode());
    }

    pub(crate) fn on_launched(&mut self, ctx: &mut Ctx<'_>, i: ClaimId) {
        let Some(outcome) = self.outcomes.remove(&i) else {
            return;
        };
        if self.claims[i].state != ClaimState::Pending {
            return;
        }
        let (errors, launched) = match outcome {
            FleetOutcome::Launched {
                instance,
                pool,
                price_per_hour,
                errors,
                ..
            } => (errors, Some((instance, pool, price_per_hour))),
            FleetOutcome::Failed { errors, .. } => (errors, None),
        };
        // Every unfulfillable-capacity error marks its offering unavailable for 3 minutes (§2).
        for e in &errors {
            if e.code.is_capacity_error() {
                let cap = launched
                    .as_ref()
                    .map(|(_, p, _)| p.capacity_type)
                    .or_else(|| self.last_request_ct.get(&i).copied())
                    .unwrap_or(asim_core::cloud::CapacityType::OnDemand);
                self.ice.mark(&e.instance_type, &e.zone, cap, ctx.now);
            }
        }
        self.last_request_ct.remove(&i);
        match launched {
            None => {
                let name = self.claims[i].name.clone();
                self.log(
                    ctx.now,
                    Decision::LaunchFailed {
                        nodeclaim: name,
                        reason: "insufficient capacity".into(),
                        errors: Some(errors.len()),
                    },
                );
                self.delete_claim(ctx, i, "insufficient-capacity");
                // The pods are still pending: the next batch re-plans without those offerings.
                self.requeue_provisionable(ctx);
            }
            Some((instance, pool, price)) => {
                let c = &mut self.claims[i];
                let class = &self.classes[c.nodeclass];
                let ti = class
                    .types
                    .iter()
                    .position(|t| t.name == pool.instance_type)
                    .unwrap_or(0) as u32;
                c.launched = Some(Launched {
                    instance,
                    instance_type: ti,
                    zone: pool.zone.clone(),
                    capacity_type: pool.capacity_type,
                    price,
                });
                c.launched_at = Some(ctx.now);
                c.state = ClaimState::Launched;
                let name = c.name.clone();
                self.claims.set_instance(instance, i);
                ctx.set_timer(
                    ctx.now + REGISTRATION_TIMEOUT_MS,
                    Timer::RegistrationTimeout(i).encode(),
                );
                self.log(
                    ctx.now,
                    Decision::Launched {
                        nodeclaim: name,
                        instance_type: pool.instance_type.clone(),
                        zone: pool.zone.clone(),
                        capacity_type: pool.capacity_type.as_str().into(),
                        price,
                    },
                );
            }
        }
    }

    pub(crate) fn blueprint(
        &self,
        i: ClaimId,
        pool_key: &asim_core::cloud::PoolKey,
    ) -> Option<NodeBlueprint> {
        let c = &self.claims[i];
        let class = &self.classes[c.nodeclass];
        let it = class
            .types
            .iter()
            .find(|t| t.name == pool_key.instance_type)?;
        let mut labels = c.labels.clone();
        labels.extend(it.requirements.labels());
        labels.extend(c.requirements.labels());
        labels.remove(apis::REGISTERED_LABEL);
        labels.remove(apis::INITIALIZED_LABEL);
        labels.insert(instancetype::ZONE.into(), pool_key.zone.clone());
        labels.insert(
            instancetype::CAPACITY_TYPE.into(),
            pool_key.capacity_type.as_str().into(),
        );
        let mut taints = c.taints.clone();
        // The bootstrap registers the node with this taint; registration removes it (§3).
        taints.push(Taint::new(UNREGISTERED_TAINT, None, TaintEffect::NoExecute));
        Some(NodeBlueprint {
            name: c.name.clone(),
            labels,
            annotations: Default::default(),
            taints,
            startup_taints: c.startup_taints.clone(),
            capacity: it.capacity.clone(),
            allocatable: it.allocatable.clone(),
            owner: NodeOwner::NodeClaim {
                nodepool: c.nodepool.clone(),
                nodeclaim: c.name.clone(),
            },
        })
    }

    pub(crate) fn initialize(&mut self, ctx: &mut Ctx<'_>, i: ClaimId) {
        let c = &mut self.claims[i];
        if c.state != ClaimState::Registered {
            return;
        }
        let Some(mut node) = c.node.and_then(|n| ctx.patch_node(n)) else {
            return;
        };
        if !node.ready {
            return;
        }
        // Initialized: Ready, startup and ephemeral taints gone (§3).
        let startup = c.startup_taints.clone();
        if node.taints.iter().any(|t| {
            startup
                .iter()
                .any(|s| s.key == t.key && s.effect == t.effect)
                || apis::is_ephemeral_taint(t)
        }) {
            return;
        }
        node.labels
            .insert(apis::INITIALIZED_LABEL.into(), "true".into());
        drop(node);
        c.state = ClaimState::Initialized;
        c.initialized_at = Some(ctx.now);
        self.orchestrate(ctx, None);
    }

    /// Registration (the unregistered taint goes, the node is labelled registered, its first
    /// drift check), Ready (initialization once startup taints are gone) and deletion.
    pub(crate) fn node_event(&mut self, ctx: &mut Ctx<'_>, node: NodeId, event: NodeEvent) {
        let instance = ctx
            .cluster()
            .node(node)
            .and_then(|n| n.instance)
            .map(InstanceId);
        let Some(i) = instance.and_then(|id| self.claims.by_instance(id)) else {
            if event == NodeEvent::Deleted
                && let Some(i) = self.claims.forget_node(node)
            {
                self.claims.mark_deleted(i);
            }
            return;
        };
        match event {
            NodeEvent::Registered => {
                let c = &mut self.claims[i];
                if c.state != ClaimState::Launched {
                    return;
                }
                c.node = Some(node);
                c.state = ClaimState::Registered;
                c.registered_at = Some(ctx.now);
                self.claims.set_node(node, i);
                // Registration: drop the unregistered taint, mark the node registered (§3).
                ctx.untaint(node, |t| t.key == UNREGISTERED_TAINT);
                if let Some(mut n) = ctx.patch_node(node) {
                    n.labels
                        .insert(apis::REGISTERED_LABEL.into(), "true".into());
                }
                // Its first drift check: the NodePool or NodeClass may have changed since it
                // was created (§4.5).
                self.refresh_drift(ctx.cluster(), ctx.now, i);
            }
            NodeEvent::Ready => {
                if self.claims[i].startup_taints.is_empty() {
                    self.initialize(ctx, i);
                } else {
                    ctx.set_timer(
                        ctx.now + self.settings.startup_taint_removal_ms,
                        Timer::StartupTaints(i).encode(),
                    );
                }
            }
            NodeEvent::Deleted => {
                self.claims.forget_node(node);
                self.claims.mark_deleted(i);
                self.orchestrate(ctx, None);
            }
        }
    }

    /// The instance is shutting down or gone: its NodeClaim is deleted (an instance
    /// terminated behind Karpenter's back records why).
    pub(crate) fn instance_gone(&mut self, ctx: &mut Ctx<'_>, instance: InstanceId) {
        if let Some(i) = self.claims.by_instance(instance) {
            let c = &mut self.claims[i];
            if c.state != ClaimState::Deleted {
                if c.state != ClaimState::Deleting {
                    c.deletion_reason = Some("instance-terminated".into());
                }
                self.claims.mark_deleted(i);
            }
            self.orchestrate(ctx, None);
        }
    }

    /// Delete a NodeClaim: drain and terminate its node, or terminate its instance.
    pub(crate) fn delete_claim(&mut self, ctx: &mut Ctx<'_>, i: ClaimId, reason: &str) {
        let c = &mut self.claims[i];
        if !c.is_active() {
            return;
        }
        c.state = ClaimState::Deleting;
        c.deletion_reason = Some(reason.to_string());
        // The finalizer's termination deadline: deletion + terminationGracePeriod (§6).
        let c_deadline = c.termination_grace_ms.map(|g| ctx.now + g);
        let (node, instance) = (c.node, c.launched.as_ref().map(|l| l.instance));
        let name = c.name.clone();
        self.log(
            ctx.now,
            Decision::NodeclaimDeleted {
                nodeclaim: name,
                reason: reason.to_string(),
            },
        );
        let opts = DrainOptions {
            max_grace_ms: None,
            tiered: true,
            deadline: c_deadline,
            taint: Some(apis::DISRUPTED_TAINT),
        };
        match (node, instance) {
            (Some(n), _) => ctx.drain_and_delete(n, reason, opts),
            (None, Some(inst)) => ctx.terminate_instance(inst),
            (None, None) => self.claims.mark_deleted(i),
        }
    }

    /// Delete a NodeClaim outside the disruption controller, and let the provisioner plan for
    /// its pods at once.
    pub(crate) fn forceful_delete(&mut self, ctx: &mut Ctx<'_>, i: ClaimId, reason: &str) {
        let pods = self.claims[i]
            .node
            .and_then(|n| ctx.cluster().node(n))
            .map(|n| Self::reschedulable_pods(ctx.cluster(), n))
            .unwrap_or_default();
        self.delete_claim(ctx, i, reason);
        if !pods.is_empty() {
            self.trigger(ctx, pods);
        }
    }
}
