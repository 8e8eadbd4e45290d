//! The narrow interface through which an autoscaler sees and acts on the simulated world
//! (docs/design.md §2): read the cluster, request and terminate instances, cordon/drain/delete nodes,
//! and set timers. Neither autoscaler may read the other's state or the mock's hidden truth.

pub mod none;

use std::collections::BTreeMap;

use crate::cloud::mock::MockEc2;
use crate::cloud::{
    AsgSpec, AsgView, Cloud, CloudError, CloudRngs, FleetOutcome, FleetRequest, InstanceId, Notice,
};
use crate::cluster::{Cluster, NodeId, NodeOwner, PodId};
use crate::engine::SimTime;
use crate::k8s::resources::Resources;
use crate::k8s::selector::Labels;
use crate::k8s::taints::Taint;
use crate::karpenter::apis::NodePool;
use crate::report::Recorder;

/// What a launched instance becomes when its kubelet registers: the node object the launcher
/// (NodeClaim, node group, static list) describes.
#[derive(Clone, Debug)]
pub struct NodeBlueprint {
    pub name: String,
    pub labels: Labels,
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
    /// its PDBs and `do-not-disrupt` say (§6).
    pub deadline: Option<SimTime>,
    /// The key of the `NoSchedule` taint the deleting controller puts on the node for its
    /// drain (Karpenter's `karpenter.sh/disrupted`), removed again if the drain is given up;
    /// the tiered drain spares pods that tolerate it. None: the controller taints the node
    /// itself, if at all (cluster-autoscaler's `ToBeDeletedByClusterAutoscaler`).
    pub taint: Option<&'static str>,
}

/// Everything an autoscaler may touch during one callback.
pub struct Ctx<'a> {
    pub now: SimTime,
    pub cluster: &'a mut Cluster,
    pub cloud: &'a mut MockEc2,
    pub recorder: &'a mut Recorder,
    pub(crate) timers: &'a mut Vec<(SimTime, u64)>,
    pub(crate) blueprints: &'a mut BTreeMap<InstanceId, NodeBlueprint>,
    /// Nodes the autoscaler asked to delete (drain then terminate), with the reason and how
    /// to drain them.
    pub(crate) deletions: &'a mut Vec<(NodeId, String, DrainOptions)>,
    /// Drains the autoscaler gave up on: the node goes back into service.
    pub(crate) aborted_drains: &'a mut Vec<NodeId>,
    pub(crate) rng: &'a mut rand_chacha::ChaCha8Rng,
    pub(crate) cloud_rngs: CloudRngs<'a>,
    /// Notices returned synchronously by cloud calls, delivered after the callback.
    pub(crate) notices: &'a mut Vec<Notice>,
}

impl Ctx<'_> {
    /// Call `on_timer(token)` at `at`.
    pub fn set_timer(&mut self, at: SimTime, token: u64) {
        self.timers.push((at, token));
    }

    /// Describe the node an instance will become.
    pub fn expect_node(&mut self, instance: InstanceId, blueprint: NodeBlueprint) {
        self.blueprints.insert(instance, blueprint);
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
        self.deletions.push((node, reason.to_string(), opts));
    }

    /// Give up on a drain that has not finished: stop evicting (pods already evicted stay
    /// gone), uncordon the node and leave it running. Ignored once the instance is being
    /// terminated. cluster-autoscaler's eviction timeout (docs/model/cluster-autoscaler.md §4.6).
    pub fn abort_drain(&mut self, node: NodeId) {
        self.aborted_drains.push(node);
    }

    pub fn rng(&mut self) -> &mut rand_chacha::ChaCha8Rng {
        self.rng
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
            Ok(n) => self.notices.extend(n),
            Err(e) => tracing::warn!("terminate {id}: {e}"),
        }
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
        self.notices.extend(n);
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
        self.notices.extend(n);
        Ok(())
    }

    /// DescribeAutoScalingGroups + DescribeScalingActivities for one group.
    pub fn describe_asg(&self, asg: &str) -> Option<AsgView> {
        self.cloud.describe_asg(asg)
    }

    /// Sample a duration from the latency model's Karpenter solve stage, etc.
    pub fn latency(&self) -> &crate::cloud::latency::LatencyModel {
        self.cloud.latency()
    }
}

/// A node autoscaler (Karpenter, cluster-autoscaler, or none).
pub trait Autoscaler {
    fn name(&self) -> &'static str;
    /// The random stream its callbacks draw from (`Ctx::rng`).
    fn rng_stream(&self) -> crate::engine::Stream;
    /// Called once at time zero.
    fn start(&mut self, ctx: &mut Ctx<'_>);
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, token: u64);
    /// kube-scheduler marked these pods Unschedulable.
    fn on_pods_unschedulable(&mut self, ctx: &mut Ctx<'_>, pods: &[PodId]);
    /// A cloud notice the autoscaler can observe (instance state, interruption warnings…).
    fn on_cloud_notice(&mut self, ctx: &mut Ctx<'_>, notice: &Notice);
    /// A node was registered, became Ready, or was removed.
    fn on_node_event(&mut self, ctx: &mut Ctx<'_>, node: NodeId, event: NodeEvent);
    /// A timeline step changed an EC2NodeClass (its AMI): Karpenter's nodes using it drift.
    fn on_nodeclass_changed(&mut self, _ctx: &mut Ctx<'_>, _nodeclass: &str) {}
    /// A timeline step applied NodePools (`kubectl apply -f`): Karpenter's nodes whose
    /// NodePool template changed drift.
    fn on_nodepools_applied(&mut self, _ctx: &mut Ctx<'_>, _nodepools: &[NodePool]) {}
    /// The decision log (one JSON object per line in `decisions.jsonl`).
    fn decisions(&self) -> &[String] {
        &[]
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    Registered,
    Ready,
    Deleted,
}
