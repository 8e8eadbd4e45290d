//! Karpenter, as it runs on AWS: NodePools and EC2NodeClasses (`apis`), the instance types a
//! NodeClass offers (`instancetype`), the provisioner with its batcher and scheduling
//! simulation (`provisioning`, `scheduling`, `topology`), the launch (`launch`), the
//! NodeClaim lifecycle with expiration (`nodeclaim`), the disruption controller
//! (`disruption`: emptiness, drift, consolidation, budgets) and interruption handling
//! (`interruption`). Termination (the drain) runs in the simulation with Karpenter's drain
//! options. docs/model/karpenter.md.

pub mod apis;
pub mod config;
pub mod disruption;
pub mod drift;
pub mod instancetype;
pub mod interruption;
pub mod launch;
pub mod nodeclaim;
pub mod provisioning;
pub mod scheduling;
pub mod topology;

use std::collections::BTreeMap;
use std::sync::Arc;

use asim_cluster::autoscaler::{Autoscaler, ConfigChange, Ctx, NodeBlueprint, NodeEvent};
use asim_cluster::{NodeId, NodeOwner, PodId};
use asim_core::cloud::{FleetOutcome, InstanceId, Notice};
use asim_core::engine::SimTime;
use asim_core::k8s::taints::{Taint, TaintEffect};

use apis::{EC2NodeClass, NodePool};
pub use config::{KarpenterConfig, Settings};
use instancetype::{IceCache, InstanceTypeInfo};
use nodeclaim::{ClaimState, NodeClaim};

/// Timer kinds (the high byte of a timer token; the rest is a NodeClaim index).
const T_BATCH: u64 = 1;
const T_REQUEUE: u64 = 2;
const T_LAUNCH: u64 = 3;
const T_LAUNCHED: u64 = 4;
const T_REGISTRATION_TIMEOUT: u64 = 5;
const T_STARTUP_TAINTS: u64 = 6;
const T_EXPIRE: u64 = 7;
const T_DISRUPTION: u64 = 8;
const T_VALIDATE: u64 = 9;
const T_ORCHESTRATION_TIMEOUT: u64 = 10;

/// How long a node the provisioner placed pods on stays nominated: max(2 × batchMaxDuration,
/// 10 s) = 20 s (docs/model/karpenter.md §11).
const NOMINATION_WINDOW_MS: u64 = 20_000;

fn token(kind: u64, payload: usize) -> u64 {
    (kind << 56) | payload as u64
}

/// One NodePool as the provisioner uses it.
pub struct PoolInfo {
    pub nodepool: NodePool,
    pub budgets: disruption::budgets::Budgets,
    /// Index into `Karpenter::classes`; None when the NodeClass does not exist (not Ready).
    pub class: Option<usize>,
    /// The hashed template fields; NodeClaims created from another value drift (§4.5).
    pub template: Arc<drift::StaticTemplate>,
}

/// Weight descending; ties by name descending (§1.6).
fn sort_pools(pools: &mut [PoolInfo]) {
    pools.sort_by(|a, b| {
        b.nodepool
            .weight()
            .cmp(&a.nodepool.weight())
            .then_with(|| b.nodepool.name().cmp(a.nodepool.name()))
    });
}

pub struct ClassInfo {
    pub nodeclass: Option<EC2NodeClass>,
    pub name: String,
    pub zones: Vec<String>,
    pub types: Arc<Vec<InstanceTypeInfo>>,
    /// Catalog types its AMI family cannot run (named in "no instance type" reasons).
    pub ami_excluded: Vec<(String, asim_core::k8s::requirements::Requirements)>,
    /// Bumped when a timeline step changes the class (its AMI): NodeClaims launched from an
    /// older generation drift (§4.5).
    pub generation: u64,
}

pub struct Karpenter {
    pub settings: Settings,
    pub pools: Vec<PoolInfo>,
    pub classes: Vec<ClassInfo>,
    pub claims: Vec<NodeClaim>,
    pub ice: IceCache,
    batcher: provisioning::Batcher,
    requeue_pending: bool,
    outcomes: BTreeMap<usize, FleetOutcome>,
    last_request_ct: BTreeMap<usize, asim_core::cloud::CapacityType>,
    by_instance: BTreeMap<InstanceId, usize>,
    pub(crate) by_node: BTreeMap<NodeId, usize>,
    /// Per NodePool: (its requirements, NodeClass index, NodeClass generation, the NodeClass's
    /// types those requirements allow), reused across provisioning rounds and simulations.
    #[allow(clippy::type_complexity)]
    compatible_cache: std::cell::RefCell<
        BTreeMap<
            String,
            (
                asim_core::k8s::requirements::Requirements,
                usize,
                u64,
                Arc<Vec<u32>>,
            ),
        >,
    >,
    /// Per node: (label count, labels, requirements), reused across provisioning rounds.
    #[allow(clippy::type_complexity)]
    pub(crate) node_cache: std::cell::RefCell<
        BTreeMap<
            NodeId,
            (
                usize,
                Arc<asim_core::k8s::selector::Labels>,
                Arc<asim_core::k8s::requirements::Requirements>,
            ),
        >,
    >,
    decisions: Vec<String>,
    next_claim: u64,
    /// Nodes the provisioner placed pods on, until when (§4.2 "not nominated").
    pub(crate) nominated: BTreeMap<NodeId, SimTime>,
    /// The NodeClaim each pod was last planned onto as a new NodeClaim: a pod still pending
    /// once that NodeClaim's node is up, and refused by it, is a disagreement with
    /// kube-scheduler ([`Karpenter::check_refused_pods`]).
    planned_on: BTreeMap<PodId, usize>,
    pub(crate) disruption: disruption::Controller,
}

impl Karpenter {
    /// Karpenter with the NodePools, EC2NodeClasses and settings of `config` (validated when
    /// the scenario was loaded).
    pub fn new(config: &KarpenterConfig) -> Result<Self, config::ConfigError> {
        let settings = config.settings.clone();
        let mut classes = Vec::new();
        for nc in &config.nodeclasses {
            let zones = config.nodeclass_zones(nc);
            if zones.is_empty() {
                tracing::warn!(
                    "EC2NodeClass {} selects no subnet: it is not Ready and its NodePools provision nothing",
                    nc.name()
                );
            }
            classes.push(ClassInfo {
                name: nc.name().to_string(),
                types: Arc::new(instancetype::resolve(&config.catalog, Some(nc), &zones)),
                ami_excluded: instancetype::ami_excluded(&config.catalog, Some(nc), &zones),
                zones,
                nodeclass: Some(nc.clone()),
                generation: 0,
            });
        }
        let mut pools = Vec::new();
        for np in &config.nodepools {
            let class = classes
                .iter()
                .position(|c| c.name == np.spec.template.spec.node_class_ref.name);
            if class.is_none() {
                tracing::warn!(
                    "NodePool {} refers to EC2NodeClass {:?}, which does not exist: the NodePool is not Ready and provisions nothing",
                    np.name(),
                    np.spec.template.spec.node_class_ref.name
                );
            }
            let budgets = disruption::budgets::Budgets::new(np)
                .map_err(|e| config::ConfigError::budgets(np, e))?;
            pools.push(PoolInfo {
                nodepool: np.clone(),
                budgets,
                class,
                template: drift::StaticTemplate::of(np),
            });
        }
        sort_pools(&mut pools);
        Ok(Karpenter {
            settings,
            pools,
            classes,
            claims: Vec::new(),
            ice: IceCache::default(),
            batcher: provisioning::Batcher::default(),
            requeue_pending: false,
            outcomes: BTreeMap::new(),
            last_request_ct: BTreeMap::new(),
            by_instance: BTreeMap::new(),
            by_node: BTreeMap::new(),
            node_cache: Default::default(),
            compatible_cache: Default::default(),
            decisions: Vec::new(),
            next_claim: 0,
            nominated: BTreeMap::new(),
            planned_on: BTreeMap::new(),
            disruption: disruption::Controller::new(&config.feature_gates),
        })
    }

    fn log(&mut self, now: SimTime, v: serde_json::Value) {
        let mut obj = serde_json::json!({ "t_s": now.as_secs_f64() });
        if let (Some(o), serde_json::Value::Object(extra)) = (obj.as_object_mut(), v) {
            o.extend(extra);
        }
        self.decisions.push(obj.to_string());
    }

    fn trigger(&mut self, ctx: &mut Ctx<'_>, pods: impl IntoIterator<Item = PodId>) {
        if let Some(at) = self.batcher.trigger(ctx.now, pods, &self.settings) {
            ctx.set_timer(at, token(T_BATCH, 0));
        }
    }

    /// Delete a NodeClaim: drain and terminate its node, or terminate its instance.
    pub fn delete_claim(&mut self, ctx: &mut Ctx<'_>, i: usize, reason: &str) {
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
            serde_json::json!({"event": "nodeclaim-deleted", "nodeclaim": name, "reason": reason}),
        );
        let opts = asim_cluster::autoscaler::DrainOptions {
            max_grace_ms: None,
            tiered: true,
            deadline: c_deadline,
            taint: Some(disruption::DISRUPTED_TAINT),
        };
        match (node, instance) {
            (Some(n), _) => ctx.drain_and_delete(n, reason, opts),
            (None, Some(inst)) => ctx.terminate_instance(inst),
            (None, None) => self.claims[i].state = ClaimState::Deleted,
        }
    }

    fn on_launched(&mut self, ctx: &mut Ctx<'_>, i: usize) {
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
                self.log(ctx.now, serde_json::json!({"event": "launch-failed", "nodeclaim": name, "reason": "insufficient capacity", "errors": errors.len()}));
                self.delete_claim(ctx, i, "insufficient-capacity");
                // The pods are still pending: the next batch re-plans without those offerings.
                let pods: Vec<PodId> = provisioning::provisionable_pods(ctx.cluster());
                self.trigger(ctx, pods);
            }
            Some((instance, pool, price)) => {
                let c = &mut self.claims[i];
                let class = &self.classes[c.nodeclass];
                let ti = class
                    .types
                    .iter()
                    .position(|t| t.name == pool.instance_type)
                    .unwrap_or(0) as u32;
                c.launched = Some(nodeclaim::Launched {
                    instance,
                    instance_type: ti,
                    zone: pool.zone.clone(),
                    capacity_type: pool.capacity_type,
                    price,
                });
                c.launched_at = Some(ctx.now);
                c.state = ClaimState::Launched;
                self.by_instance.insert(instance, i);
                ctx.set_timer(
                    ctx.now + nodeclaim::REGISTRATION_TIMEOUT_MS,
                    token(T_REGISTRATION_TIMEOUT, i),
                );
                let name = c.name.clone();
                self.log(ctx.now, serde_json::json!({"event": "launched", "nodeclaim": name, "instance_type": pool.instance_type, "zone": pool.zone, "capacity_type": pool.capacity_type.as_str(), "price": price}));
            }
        }
    }

    fn blueprint(&self, i: usize, pool_key: &asim_core::cloud::PoolKey) -> Option<NodeBlueprint> {
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
        taints.push(Taint::new(
            nodeclaim::UNREGISTERED_TAINT,
            None,
            TaintEffect::NoExecute,
        ));
        Some(NodeBlueprint {
            name: c.name.clone(),
            labels,
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

    fn launch(&mut self, ctx: &mut Ctx<'_>, i: usize) {
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
                    serde_json::json!({"event": "launch-failed", "nodeclaim": name, "reason": why}),
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
        ctx.set_timer(ctx.now + api, token(T_LAUNCHED, i));
    }

    fn initialize(&mut self, ctx: &mut Ctx<'_>, i: usize) {
        let c = &mut self.claims[i];
        if c.state != ClaimState::Registered {
            return;
        }
        let Some(node) = c.node.and_then(|n| ctx.patch_node(n)) else {
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
                || scheduling::is_ephemeral_taint(t)
        }) {
            return;
        }
        node.labels
            .insert(apis::INITIALIZED_LABEL.into(), "true".into());
        c.state = ClaimState::Initialized;
        c.initialized_at = Some(ctx.now);
        self.orchestrate(ctx, None);
    }
}

impl Autoscaler for Karpenter {
    fn name(&self) -> &'static str {
        "karpenter"
    }

    fn rng_stream(&self) -> asim_core::engine::Stream {
        asim_core::engine::Stream::Karpenter
    }

    fn start(&mut self, ctx: &mut Ctx<'_>) {
        self.start_disruption(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, tok: u64) {
        let kind = tok >> 56;
        let i = (tok & ((1 << 56) - 1)) as usize;
        match kind {
            T_BATCH if self.batcher.should_close(ctx.now, &self.settings) => {
                self.batcher.close();
                self.provision(ctx);
            }
            T_REQUEUE => {
                self.requeue_pending = false;
                let pods = provisioning::provisionable_pods(ctx.cluster());
                if !pods.is_empty() {
                    self.trigger(ctx, pods);
                }
            }
            T_LAUNCH => self.launch(ctx, i),
            T_EXPIRE => self.expire(ctx, i),
            T_DISRUPTION => self.disruption_pass(ctx, 0),
            T_VALIDATE => self.validate_command(ctx),
            T_ORCHESTRATION_TIMEOUT => self.orchestrate(ctx, Some(i as u64)),
            T_LAUNCHED => self.on_launched(ctx, i),
            T_REGISTRATION_TIMEOUT
                if self
                    .claims
                    .get(i)
                    .is_some_and(|c| c.state == ClaimState::Launched) =>
            {
                self.delete_claim(ctx, i, "registration-timeout");
            }
            T_STARTUP_TAINTS => {
                if let Some(n) = self.claims.get(i).and_then(|c| c.node) {
                    let startup = &self.claims[i].startup_taints;
                    ctx.untaint(n, |t| {
                        startup
                            .iter()
                            .any(|s| s.key == t.key && s.effect == t.effect)
                    });
                    self.initialize(ctx, i);
                }
            }
            _ => {}
        }
        // A launch failure or a liveness deletion may fail a disruption command (§4.8).
        if matches!(kind, T_LAUNCH | T_LAUNCHED | T_REGISTRATION_TIMEOUT) {
            self.orchestrate(ctx, None);
        }
    }

    fn on_pods_unschedulable(&mut self, ctx: &mut Ctx<'_>, pods: &[PodId]) {
        let provisionable: Vec<PodId> = pods
            .iter()
            .copied()
            .filter(|p| provisioning::is_provisionable(ctx.cluster().pod(*p)))
            .collect();
        if !provisionable.is_empty() {
            self.trigger(ctx, provisionable);
        }
    }

    fn on_cloud_notice(&mut self, ctx: &mut Ctx<'_>, notice: &Notice) {
        match notice {
            Notice::SpotInterruptionWarning { instance } => self.spot_interrupted(ctx, *instance),
            Notice::RebalanceRecommendation { instance } => {
                self.rebalance_recommended(ctx, *instance)
            }
            Notice::InstanceShuttingDown { instance, .. }
            | Notice::InstanceTerminated { instance, .. } => {
                if let Some(&i) = self.by_instance.get(instance) {
                    let c = &mut self.claims[i];
                    if c.state != ClaimState::Deleted {
                        if c.state != ClaimState::Deleting {
                            c.deletion_reason = Some("instance-terminated".into());
                        }
                        c.state = ClaimState::Deleted;
                    }
                    self.orchestrate(ctx, None);
                }
            }
            _ => {}
        }
    }

    fn on_config_change(&mut self, ctx: &mut Ctx<'_>, change: &ConfigChange) {
        match change.get::<config::Change>() {
            Some(config::Change::NodeClassChanged(name)) => self.nodeclass_changed(ctx, name),
            Some(config::Change::NodePoolsApplied(nodepools)) => {
                self.apply_nodepools(ctx, nodepools)
            }
            None => {}
        }
    }

    fn on_node_event(&mut self, ctx: &mut Ctx<'_>, node: NodeId, event: NodeEvent) {
        let instance = ctx
            .cluster()
            .node(node)
            .and_then(|n| n.instance)
            .map(InstanceId);
        let Some(i) = instance.and_then(|id| self.by_instance.get(&id).copied()) else {
            if event == NodeEvent::Deleted
                && let Some(i) = self.by_node.remove(&node)
            {
                self.claims[i].state = ClaimState::Deleted;
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
                self.by_node.insert(node, i);
                // Registration: drop the unregistered taint, mark the node registered (§3).
                ctx.untaint(node, |t| t.key == nodeclaim::UNREGISTERED_TAINT);
                if let Some(n) = ctx.patch_node(node) {
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
                        token(T_STARTUP_TAINTS, i),
                    );
                }
            }
            NodeEvent::Deleted => {
                self.by_node.remove(&node);
                self.claims[i].state = ClaimState::Deleted;
                self.orchestrate(ctx, None);
            }
        }
    }

    fn decisions(&self) -> &[String] {
        &self.decisions
    }
}
