//! The narrow interface through which an autoscaler sees and acts on the simulated world
//! (docs/design.md §2): read the cluster, request and terminate instances, cordon/drain/delete nodes,
//! and set timers. Neither autoscaler may read the other's state or the mock's hidden truth.

mod decision_lines;
pub mod none;

use std::collections::BTreeMap;

pub use decision_lines::{DecisionLines, Mark as DecisionMark};

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use asim_core::cloud::latency::LatencyModel;
use asim_core::cloud::{
    AsgSpec, AsgView, Cloud, CloudError, CloudRngs, FleetOutcome, FleetRequest, InstanceId,
    InstanceView, Notice,
};
use asim_core::engine::{SimTime, Stream};
use asim_core::k8s::resources::Resources;
use asim_core::k8s::selector::Labels;
use asim_core::k8s::taints::Taint;

use crate::{Cluster, NodeId, NodeOwner, PodId};

/// What a launched instance becomes when its kubelet registers: the node object the launcher
/// (NodeClaim, node group, static list) describes.
#[derive(Clone, Debug)]
pub struct NodeBlueprint {
    pub name: String,
    pub labels: Labels,
    /// The node's `metadata.annotations` at registration.
    pub annotations: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    /// Taints removed a moment after the node becomes Ready (Karpenter `startupTaints`).
    pub startup_taints: Vec<Taint>,
    pub capacity: Resources,
    pub allocatable: Resources,
    pub owner: NodeOwner,
}

/// How a node is drained before its instance is terminated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DrainOptions {
    /// Cap on evicted pods' grace periods (cluster-autoscaler `--max-graceful-termination-sec`).
    pub max_grace_ms: Option<u64>,
    /// Karpenter's terminator (docs/model/karpenter.md §6): evict in tiers (non-critical
    /// non-DaemonSet, non-critical DaemonSet, critical non-DaemonSet, critical DaemonSet),
    /// leave `do-not-disrupt` pods in place (they still block), spare pods tolerating the
    /// `karpenter.sh/disrupted` taint, and take at least `MinDrainTime`. Otherwise the drain
    /// evicts every non-DaemonSet pod at once and leaves DaemonSet pods to go with the node.
    pub tiered: bool,
    /// `terminationGracePeriod` deadline: from `deadline − pod grace` a pod is deleted whatever
    /// its PDBs and `do-not-disrupt` say (docs/model/karpenter.md §6).
    pub deadline: Option<SimTime>,
    /// The key of the `NoSchedule` taint the deleting controller puts on the node for its
    /// drain (Karpenter's `karpenter.sh/disrupted`), removed again if the drain is given up;
    /// the tiered drain spares pods that tolerate it. None: the controller taints the node
    /// itself, if at all (cluster-autoscaler's `ToBeDeletedByClusterAutoscaler`).
    pub taint: Option<&'static str>,
}

/// What an autoscaler asked for during one callback, carried out by the simulation when the
/// callback returns (in this order: timers, blueprints, aborted drains, deletions, drains,
/// notices).
#[derive(Default)]
pub struct Effects {
    /// `(when, token)`: call [`Autoscaler::on_timer`] with `token` at `when`.
    pub timers: Vec<(SimTime, u64)>,
    /// The node each newly launched instance becomes when its kubelet registers.
    pub blueprints: BTreeMap<InstanceId, NodeBlueprint>,
    /// Nodes to drain and delete, with the reason and how to drain them.
    pub deletions: Vec<(NodeId, String, DrainOptions)>,
    /// Drains given up on: the node goes back into service.
    pub aborted_drains: Vec<NodeId>,
    /// Nodes to cordon and drain while they stay (a termination handler ahead of a spot
    /// reclaim): no deletion, no instance termination.
    pub drains: Vec<(NodeId, DrainOptions)>,
    /// Notices returned synchronously by cloud calls, delivered after the callback.
    pub notices: Vec<Notice>,
}

/// Everything an autoscaler may do during one callback, and nothing more: what a controller in
/// a real cluster can do. It reads the cluster (as an informer would), patches nodes (taints,
/// labels, cordon), calls the cloud through the [`Cloud`] trait, asks for drains and deletions,
/// and sets timers. The simulation builds one per callback; its fields are private, so an
/// autoscaler crate cannot reach past it.
pub struct Ctx<'a> {
    pub now: SimTime,
    cluster: &'a mut Cluster,
    cloud: &'a mut dyn Cloud,
    latency: &'a LatencyModel,
    effects: &'a mut Effects,
    rng: &'a mut rand_chacha::ChaCha8Rng,
    cloud_rngs: CloudRngs<'a>,
}

impl<'a> Ctx<'a> {
    /// Called by the simulation only.
    pub fn new(
        now: SimTime,
        cluster: &'a mut Cluster,
        cloud: &'a mut dyn Cloud,
        latency: &'a LatencyModel,
        effects: &'a mut Effects,
        rng: &'a mut rand_chacha::ChaCha8Rng,
        cloud_rngs: CloudRngs<'a>,
    ) -> Ctx<'a> {
        Ctx {
            now,
            cluster,
            cloud,
            latency,
            effects,
            rng,
            cloud_rngs,
        }
    }

    /// The cluster as the API server shows it.
    pub fn cluster(&self) -> &Cluster {
        self.cluster
    }

    /// The node object to patch (labels, taints, cordon), as a controller patches it through
    /// the API server. Removing a taint or uncordoning goes through [`Ctx::untaint`] and
    /// [`Ctx::uncordon`] instead, which requeue unschedulable pods as kube-scheduler's
    /// queueing hints do. The binder's kept state survives a patch that changes nothing it
    /// reads ([`crate::NodePatch`]).
    pub fn patch_node(&mut self, node: NodeId) -> Option<crate::NodePatch<'_>> {
        self.cluster.node_mut(node)
    }

    /// Add a taint to the node; false when there is no such node.
    pub fn taint(&mut self, node: NodeId, taint: Taint) -> bool {
        self.cluster.taint(node, taint)
    }

    /// Remove the node's taints that match `pred`.
    pub fn untaint(&mut self, node: NodeId, pred: impl Fn(&Taint) -> bool) {
        self.cluster.untaint(node, pred);
    }

    /// Mark the node schedulable again.
    pub fn uncordon(&mut self, node: NodeId) {
        self.cluster.uncordon(node);
    }

    /// Call `on_timer(token)` at `at`.
    pub fn set_timer(&mut self, at: SimTime, token: u64) {
        self.effects.timers.push((at, token));
    }

    /// Describe the node an instance will become.
    pub fn expect_node(&mut self, instance: InstanceId, blueprint: NodeBlueprint) {
        self.effects.blueprints.insert(instance, blueprint);
    }

    /// Cordon, drain and delete a node, then terminate its instance.
    pub fn delete_node(&mut self, node: NodeId, reason: &str) {
        self.drain_and_delete(node, reason, DrainOptions::default());
    }

    /// Like [`Ctx::delete_node`], with evicted pods' grace periods capped at `max_grace_ms`
    /// (cluster-autoscaler's `--max-graceful-termination-sec`).
    pub fn delete_node_with_grace(&mut self, node: NodeId, reason: &str, max_grace_ms: u64) {
        let opts = DrainOptions {
            max_grace_ms: Some(max_grace_ms),
            ..DrainOptions::default()
        };
        self.drain_and_delete(node, reason, opts);
    }

    /// Drain a node as `opts` says, then terminate its instance.
    pub fn drain_and_delete(&mut self, node: NodeId, reason: &str, opts: DrainOptions) {
        self.effects
            .deletions
            .push((node, reason.to_string(), opts));
    }

    /// Cordon and drain a node as `opts` says, and leave it: the node and its instance stay
    /// (aws-node-termination-handler drains a spot node that EC2 is about to reclaim; it
    /// never deletes it). Ignored while the node is being deleted; a later
    /// [`Ctx::drain_and_delete`] of the node takes the drain over.
    pub fn cordon_and_drain(&mut self, node: NodeId, opts: DrainOptions) {
        self.effects.drains.push((node, opts));
    }

    /// Give up on a drain that has not finished: stop evicting (pods already evicted stay
    /// gone), uncordon the node and leave it running. Ignored once the instance is being
    /// terminated. cluster-autoscaler's eviction timeout (docs/model/cluster-autoscaler.md §4.6).
    pub fn abort_drain(&mut self, node: NodeId) {
        self.effects.aborted_drains.push(node);
    }

    /// The autoscaler's own random stream ([`Autoscaler::rng_stream`]).
    pub fn rng(&mut self) -> &mut rand_chacha::ChaCha8Rng {
        self.rng
    }

    /// The cluster and the random stream together, for a decision that reads one while
    /// drawing from the other (an expander's random choice among options built from the
    /// cluster).
    pub fn cluster_and_rng(&mut self) -> (&Cluster, &mut rand_chacha::ChaCha8Rng) {
        (self.cluster, self.rng)
    }

    /// CreateFleet through the cloud (the answer is known now; it arrives `api_latency_ms` later).
    pub fn create_fleet(&mut self, req: &FleetRequest) -> FleetOutcome {
        self.cloud
            .create_fleet(self.now.0, req, &mut self.cloud_rngs)
    }

    /// TerminateInstances for one instance (idempotent).
    pub fn terminate_instance(&mut self, id: InstanceId) {
        match self
            .cloud
            .terminate_instances(self.now.0, &[id], &mut self.cloud_rngs)
        {
            Ok(n) => self.effects.notices.extend(n),
            Err(e) => tracing::warn!("terminate {id}: {e}"),
        }
    }

    /// DescribeInstances for one instance.
    pub fn instance(&self, id: InstanceId) -> Option<&InstanceView> {
        self.cloud.instance(id)
    }

    /// CreateAutoScalingGroup (cluster-autoscaler's node groups).
    pub fn create_asg(&mut self, spec: AsgSpec) -> Result<(), CloudError> {
        self.cloud
            .create_asg(self.now.0, spec, &mut self.cloud_rngs)
    }

    /// SetDesiredCapacity(HonorCooldown=false); notices (scale-in) are delivered after the
    /// callback.
    pub fn set_desired_capacity(&mut self, asg: &str, desired: u32) -> Result<(), CloudError> {
        let n = self
            .cloud
            .set_desired_capacity(self.now.0, asg, desired, &mut self.cloud_rngs)?;
        self.effects.notices.extend(n);
        Ok(())
    }

    /// TerminateInstanceInAutoScalingGroup.
    pub fn terminate_instance_in_asg(
        &mut self,
        id: InstanceId,
        decrement_desired: bool,
    ) -> Result<(), CloudError> {
        let n = self.cloud.terminate_instance_in_asg(
            self.now.0,
            id,
            decrement_desired,
            &mut self.cloud_rngs,
        )?;
        self.effects.notices.extend(n);
        Ok(())
    }

    /// DescribeAutoScalingGroups + DescribeScalingActivities for one group.
    pub fn describe_asg(&self, asg: &str) -> Option<AsgView> {
        self.cloud.describe_asg(asg)
    }

    /// The latency model: how long the controller's own stages take (Karpenter's solve, …).
    pub fn latency(&self) -> &LatencyModel {
        self.latency
    }
}

/// A change a timeline step makes to an autoscaler's own configuration (Karpenter's NodePools
/// and EC2NodeClasses today). The seam does not know either autoscaler's types: the scenario
/// builds the change in the autoscaler's own type, the simulation hands it over unopened, and
/// the autoscaler that owns the type reads it with [`ConfigChange::get`]; any other ignores it.
#[derive(Clone)]
pub struct ConfigChange {
    /// What the step does, as the report's timeline shows it (`apply NodePools from f.yaml`).
    pub label: String,
    change: Arc<dyn Any + Send + Sync>,
}

impl ConfigChange {
    pub fn new<T: Any + Send + Sync>(label: impl Into<String>, change: T) -> ConfigChange {
        ConfigChange {
            label: label.into(),
            change: Arc::new(change),
        }
    }

    /// The change, if it is a `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.change.downcast_ref()
    }
}

impl fmt::Debug for ConfigChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigChange")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// A node autoscaler (Karpenter, cluster-autoscaler, or none).
pub trait Autoscaler {
    fn name(&self) -> &'static str;
    /// The random stream its callbacks draw from (`Ctx::rng`).
    fn rng_stream(&self) -> Stream;
    /// Called once at time zero.
    fn start(&mut self, ctx: &mut Ctx<'_>);
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, token: u64);
    /// kube-scheduler marked these pods Unschedulable.
    fn on_pods_unschedulable(&mut self, ctx: &mut Ctx<'_>, pods: &[PodId]);
    /// A cloud notice the autoscaler can observe (instance state, interruption warnings…).
    fn on_cloud_notice(&mut self, ctx: &mut Ctx<'_>, notice: &Notice);
    /// A node was registered, became Ready, or was removed.
    fn on_node_event(&mut self, ctx: &mut Ctx<'_>, node: NodeId, event: NodeEvent);
    /// A timeline step changed the autoscaler's configuration (see [`ConfigChange`]).
    fn on_config_change(&mut self, _ctx: &mut Ctx<'_>, _change: &ConfigChange) {}
    /// The decision log (one JSON object per line in `decisions.jsonl`).
    fn decisions(&self) -> &DecisionLines {
        static NONE: DecisionLines = DecisionLines::new();
        &NONE
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    Registered,
    Ready,
    Deleted,
}
