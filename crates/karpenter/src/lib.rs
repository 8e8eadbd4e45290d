//! Karpenter, as it runs on AWS: NodePools and EC2NodeClasses (`apis`), the instance types a
//! NodeClass offers (`instancetype`), the provisioner with its batcher and scheduling
//! simulation (`provisioning`, `scheduling`, `topology`), the launch (`launch`), the
//! NodeClaim lifecycle with expiration (`nodeclaim`), the disruption controller
//! (`disruption`: emptiness, drift, consolidation, budgets) and interruption handling
//! (`interruption`). Termination (the drain) runs in the simulation with Karpenter's drain
//! options. docs/model/karpenter.md.

pub mod apis;
pub mod config;
pub mod decision;
pub mod disruption;
pub mod ids;
pub mod instancetype;
pub mod interruption;
pub mod launch;
pub mod nodeclaim;
pub mod nodepool;
pub mod provisioning;
mod timer;

use std::collections::BTreeMap;
use std::sync::Arc;

use asim_cluster::autoscaler::{Autoscaler, ConfigChange, Ctx, NodeEvent};
use asim_cluster::{NodeId, PodId};
use asim_core::cloud::{FleetOutcome, Notice};
use asim_core::engine::SimTime;

pub use config::{KarpenterConfig, Settings};
use decision::Decision;
use instancetype::IceCache;
use nodeclaim::ClaimState;
use nodeclaim::store::ClaimId;
use nodepool::{ClassInfo, NodeClasses, PoolInfo, StaticTemplate, sort_pools};
use timer::Timer;

/// How long a node the provisioner placed pods on stays nominated: max(2 × batchMaxDuration,
/// 10 s) = 20 s (docs/model/karpenter.md §11).
const NOMINATION_WINDOW_MS: u64 = 20_000;

pub struct Karpenter {
    pub settings: Settings,
    pub pools: Vec<PoolInfo>,
    pub classes: NodeClasses,
    pub claims: nodeclaim::store::ClaimStore,
    pub ice: IceCache,
    batcher: provisioning::Batcher,
    requeue_pending: bool,
    outcomes: BTreeMap<ClaimId, FleetOutcome>,
    last_request_ct: BTreeMap<ClaimId, asim_core::cloud::CapacityType>,
    /// Per NodePool: (its requirements, NodeClass index, NodeClass generation, the NodeClass's
    /// types those requirements allow), reused across provisioning rounds and simulations.
    #[allow(clippy::type_complexity)]
    compatible_cache: std::cell::RefCell<
        BTreeMap<
            String,
            (
                asim_core::k8s::requirements::Requirements,
                ids::ClassId,
                u64,
                Arc<Vec<u32>>,
            ),
        >,
    >,
    /// Interned node labels and pod kinds, carried from one scheduling pass's topology seed
    /// to the next (provisioning/seed.rs).
    seed_cache: std::cell::RefCell<provisioning::seed::SeedCache>,
    /// [`Karpenter::plan_claim`]'s answers at one instant (provisioning/mod.rs).
    plan_memo: std::cell::RefCell<provisioning::PlanMemo>,
    /// Per NodePool: its compatible types (as cached above) with an offering its requirements
    /// allow and the ICE cache does not hold back, for one [`IceCache::state`]: the same
    /// answer every pass until an offering is marked or a mark lapses.
    #[allow(clippy::type_complexity)]
    available_cache:
        std::cell::RefCell<BTreeMap<String, (Arc<Vec<u32>>, (u64, usize), Arc<Vec<u32>>)>>,
    /// Per launched NodeClaim not yet registered: its labels and the requirements they make,
    /// as the simulations' existing capacity sees it. Both are fixed from launch (instance
    /// type, zone, capacity type, the claim's labels) to registration, and a NodeClaim's index
    /// is never reused: built once per claim instead of once per pass. Each entry holds the
    /// NodeClass's type list and the instance type it was built from, and is used only while
    /// they are the claim's (a NodeClass change rebuilds the list). Holds the claims that were
    /// launched at the last [`Karpenter::existing_nodes`] only.
    pub(crate) launched_cache: std::cell::RefCell<provisioning::LaunchedCache>,
    /// The last existing capacity built afresh, in the scheduler's order, with its names'
    /// first 16 bytes: the next built afresh is read in this order (provisioning/existing.rs).
    pub(crate) existing_order: std::cell::RefCell<Vec<(provisioning::ExistingSource, u128)>>,
    /// The last dropped base's existing capacity, for the next build to bring up to date
    /// instead of reading every node again, and how many builds there were
    /// (provisioning/existing.rs).
    pub(crate) existing_slot: provisioning::ExistingSlot,
    pub(crate) existing_serial: std::cell::Cell<u64>,
    /// Per node: what its entry in the simulations' existing capacity keeps from one pass to
    /// the next (provisioning/existing.rs).
    pub(crate) node_cache:
        std::cell::RefCell<asim_core::hash::FastMap<NodeId, provisioning::KeptNode>>,
    /// Per NodeClaim index: its NodePool's index in `pools`, once looked up (a NodeClaim's
    /// NodePool never changes; [`Karpenter::pool_of`]). Cleared whenever `pools` changes:
    /// an applied NodePool re-sorts them. The per-pass loops asked for every node's NodePool
    /// by name, a string compared per node per pass.
    pub(crate) claim_pools: std::cell::RefCell<Vec<u32>>,
    decisions: asim_cluster::autoscaler::DecisionLines,
    /// Nodes the provisioner placed pods on, until when (§4.2 "not nominated").
    pub(crate) nominated: BTreeMap<NodeId, SimTime>,
    /// Bumped by every new nomination: what caches of the disruption candidates key on.
    pub(crate) nominations: u64,
    /// The NodeClaim each pod was last planned onto as a new NodeClaim: a pod still pending
    /// once that NodeClaim's node is up, and refused by it, is a disagreement with
    /// kube-scheduler ([`Karpenter::check_refused_pods`]).
    planned_on: BTreeMap<PodId, ClaimId>,
    pub(crate) disruption: disruption::Controller,
    /// Compare what is kept from one build to the next with a fresh build, every time
    /// ([`Karpenter::with_self_checks`]; debug builds always do).
    pub(crate) self_checks: bool,
}

impl Karpenter {
    /// Karpenter with the NodePools, EC2NodeClasses and settings of `config` (validated when
    /// the scenario was loaded).
    pub fn new(config: &KarpenterConfig) -> Result<Self, config::ConfigError> {
        let settings = config.settings.clone();
        let mut classes = NodeClasses::default();
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
            let class = classes.by_name(&np.spec.template.spec.node_class_ref.name);
            if class.is_none() {
                tracing::warn!(
                    "NodePool {} refers to EC2NodeClass {:?}, which does not exist: the NodePool is not Ready and provisions nothing",
                    np.name(),
                    np.spec.template.spec.node_class_ref.name
                );
            }
            let budgets = nodepool::budgets::Budgets::new(np)
                .map_err(|e| config::ConfigError::budgets(np, e))?;
            pools.push(PoolInfo {
                nodepool: np.clone(),
                budgets,
                class,
                template: StaticTemplate::of(np),
            });
        }
        sort_pools(&mut pools);
        Ok(Karpenter {
            settings,
            pools,
            classes,
            claims: Default::default(),
            ice: IceCache::default(),
            batcher: provisioning::Batcher::default(),
            requeue_pending: false,
            outcomes: BTreeMap::new(),
            last_request_ct: BTreeMap::new(),
            node_cache: Default::default(),
            launched_cache: Default::default(),
            existing_order: Default::default(),
            existing_slot: Default::default(),
            existing_serial: Default::default(),
            claim_pools: Default::default(),
            compatible_cache: Default::default(),
            available_cache: Default::default(),
            seed_cache: Default::default(),
            plan_memo: Default::default(),
            decisions: Default::default(),
            nominated: BTreeMap::new(),
            nominations: 0,
            planned_on: BTreeMap::new(),
            disruption: disruption::Controller::new(
                config.feature_gates.spot_to_spot_consolidation,
            ),
            self_checks: false,
        })
    }

    /// For tests: compare every structure kept from one pass to the next and brought up to
    /// date (so far the simulations' existing capacity, provisioning/existing.rs) with the same
    /// built afresh, and panic on a difference. Slow; release builds skip it otherwise.
    pub fn with_self_checks(mut self) -> Self {
        self.self_checks = true;
        self
    }

    /// Whether to run the comparisons of [`Karpenter::with_self_checks`].
    pub(crate) fn checking(&self) -> bool {
        cfg!(debug_assertions) || self.self_checks
    }

    /// Append to the decision log (`decisions.jsonl`).
    fn log(&mut self, now: SimTime, d: Decision) {
        self.decisions.push(&d.to_line(now.as_secs_f64()));
    }

    fn trigger(&mut self, ctx: &mut Ctx<'_>, pods: impl IntoIterator<Item = PodId>) {
        if let Some(at) = self.batcher.trigger(ctx.now, pods, &self.settings) {
            ctx.set_timer(at, Timer::Batch.encode());
        }
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

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, token: u64) {
        let Some(timer) = Timer::decode(token) else {
            return;
        };
        match timer {
            Timer::Batch if self.batcher.should_close(ctx.now, &self.settings) => {
                self.batcher.close();
                self.provision(ctx);
            }
            Timer::Batch => {}
            Timer::Requeue => {
                self.requeue_pending = false;
                let pods = provisioning::provisionable_pods(ctx.cluster());
                if !pods.is_empty() {
                    self.trigger(ctx, pods);
                }
            }
            Timer::Launch(i) => self.launch(ctx, i),
            Timer::Expire(i) => self.expire(ctx, i),
            Timer::Disruption => self.disruption_pass(ctx, 0),
            Timer::Validate => self.validate_command(ctx),
            Timer::OrchestrationTimeout(command) => self.orchestrate(ctx, Some(command)),
            Timer::Launched(i) => self.on_launched(ctx, i),
            Timer::RegistrationTimeout(i) => {
                if self
                    .claims
                    .get(i)
                    .is_some_and(|c| c.state == ClaimState::Launched)
                {
                    self.delete_claim(ctx, i, "registration-timeout");
                }
            }
            Timer::StartupTaints(i) => {
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
        }
        // A launch failure or a liveness deletion may fail a disruption command (§4.8).
        if matches!(
            timer,
            Timer::Launch(_) | Timer::Launched(_) | Timer::RegistrationTimeout(_)
        ) {
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
            | Notice::InstanceTerminated { instance, .. } => self.instance_gone(ctx, *instance),
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
        self.node_event(ctx, node, event);
    }

    fn decisions(&self) -> &asim_cluster::autoscaler::DecisionLines {
        &self.decisions
    }
}
