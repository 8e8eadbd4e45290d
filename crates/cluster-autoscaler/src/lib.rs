//! cluster-autoscaler 1.36 on AWS (docs/model/cluster-autoscaler.md), laid out as
//! kubernetes/autoscaler's cluster-autoscaler is:
//!
//! | module | holds | upstream |
//! |---|---|---|
//! | `flags` | the flags, their defaults and the option groups each part reads | `config/flags`, `config/autoscaling_options.go` |
//! | `config` | what the scenario starts CA with, checked at load | `main.go` |
//! | `core` | the loop and `RunOnce` | `core/static_autoscaler.go` |
//! | `scale_up` | the orchestrator; `estimator` (snapshot, binpacking), `expander`, `balancing` | `core/scaleup`, `estimator`, `expander`, `processors/nodegroupset` |
//! | `scale_down` | `planner` (utilization, unneeded clock, drainability), `actuation` (taints, budgets, drain) | `core/scaledown` |
//! | `clusterstate` | upcoming nodes, provision timeout, backoff | `clusterstate` |
//! | `nodegroup` | node groups (ASGs) and their template nodes | `cloudprovider/aws` |
//! | `decision` | the decision log's events | — |
//! | `termination_handler` | aws-node-termination-handler beside CA: cordon and drain on a spot warning | aws/aws-node-termination-handler |
//!
//! This file is the adapter to the simulation's [`Autoscaler`] seam; `timer` packs CA's timers
//! into the seam's `u64` tokens, and `error` holds the configuration error.
//!
//! ## What is simplified
//! - CA's scale-up simulation checks required pod affinity and anti-affinity and
//!   `DoNotSchedule` spread; the scale-down removal simulation checks only hostname
//!   anti-affinity among them.
//! - A drain retries blocked evictions every 5 s (CA: every 10 s) until
//!   `--max-pod-eviction-time` (2 min) after it began; then it fails as in §4.6 step 6: the node
//!   is untainted and uncordoned, pods already evicted stay evicted, and the node is not
//!   considered again for `--unremovable-node-recheck-timeout` (5 min, the FAQ's "extra 5
//!   minutes" after a failed removal, §7). As in CA, an asynchronous drain failure does not
//!   start `--scale-down-delay-after-failure`, which only a synchronous `StartDeletion` error
//!   sets (there is none in the simulator).
//! - `--scale-down-simulation-timeout`, `--max-binpacking-time`,
//!   `--max-nodegroup-binpacking-duration`, `--parallel-scale-up` and the other wall-clock or
//!   concurrency flags are accepted and checked but change nothing: a simulated loop has no
//!   compute budget to exceed.
//! - Empty-node and drained-node deletions are recorded under the report's `emptiness` and
//!   `consolidation` disruption keys, the closest Karpenter terms.

pub mod clusterstate;
pub mod config;
pub mod core;
pub mod decision;
pub mod error;
pub mod flags;
pub mod nodegroup;
pub mod scale_down;
pub mod scale_up;
pub mod status;
pub mod termination_handler;
pub mod timer;

use asim_cluster::NodeId;
use asim_cluster::autoscaler::{Autoscaler, Ctx, NodeEvent};
use asim_core::cloud::Notice;
use asim_core::engine::Stream;

use crate::core::StaticAutoscaler;
use crate::timer::Timer;

pub use crate::core::ASG_REFRESH_MS;
pub use config::ClusterAutoscalerConfig;
pub use decision::Decision;
pub use error::ConfigError;
pub use flags::Flags;
pub use nodegroup::{GroupId, NodeGroupSpec};
pub use scale_up::{NEW_GPU_POD_BUFFER_MS, NEW_POD_BUFFER_MS, POD_SCALE_UP_DELAY};
pub use termination_handler::{TerminationHandler, TerminationHandlerSpec};

/// cluster-autoscaler as an [`Autoscaler`].
pub struct ClusterAutoscaler {
    core: StaticAutoscaler,
    /// A separate controller in a real cluster (§8), off unless the scenario turns it on.
    termination_handler: TerminationHandler,
}

impl ClusterAutoscaler {
    /// cluster-autoscaler with the flags and node groups of `config` (checked when the
    /// scenario was loaded).
    pub fn new(config: &ClusterAutoscalerConfig) -> Result<Self, ConfigError> {
        Ok(ClusterAutoscaler {
            core: StaticAutoscaler::new(config)?,
            termination_handler: config.termination_handler,
        })
    }

    pub fn flags(&self) -> &Flags {
        &self.core.flags
    }
}

impl Autoscaler for ClusterAutoscaler {
    fn name(&self) -> &'static str {
        "cluster-autoscaler"
    }

    fn rng_stream(&self) -> Stream {
        Stream::ClusterAutoscaler
    }

    fn start(&mut self, ctx: &mut Ctx<'_>) {
        self.core.start(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, token: u64) {
        match Timer::decode(token) {
            Some(Timer::Wake { generation }) => self.core.wake(ctx, generation),
            Some(Timer::Run { generation }) => self.core.run(ctx, generation),
            Some(Timer::Delete(node)) => self.core.delete_after_taint(ctx, node),
            Some(Timer::EvictionDeadline(node)) => self.core.check_eviction_deadline(ctx, node),
            Some(Timer::TerminationHandler { node, drain }) => {
                if let Some(d) = self.termination_handler.act(ctx, node, drain) {
                    self.core.log(ctx.now, d);
                }
            }
            None => {}
        }
    }

    fn on_pods_unschedulable(&mut self, ctx: &mut Ctx<'_>, _pods: &[asim_cluster::PodId]) {
        self.core.pods_unschedulable(ctx);
    }

    fn on_cloud_notice(&mut self, ctx: &mut Ctx<'_>, notice: &Notice) {
        if let Notice::AsgInstanceLaunched { asg, instance } = notice {
            self.core.asg_instance_launched(ctx, asg, *instance);
        }
        if let Some((at, node, drain)) = self.termination_handler.on_notice(ctx, notice) {
            Timer::TerminationHandler { node, drain }.set(ctx, asim_core::engine::SimTime(at));
        }
    }

    fn on_node_event(&mut self, ctx: &mut Ctx<'_>, node: NodeId, event: NodeEvent) {
        match event {
            NodeEvent::Registered => self.core.node_registered(ctx, node),
            NodeEvent::Ready => {}
            NodeEvent::Deleted => self.core.node_deleted(node),
        }
    }

    fn decisions(&self) -> &asim_cluster::autoscaler::DecisionLines {
        self.core.decisions()
    }
}
