//! The `none` autoscaler: a fixed cluster (Node manifests and `spec.staticNodes`), nothing scales.

use crate::{NodeId, PodId};
use asim_core::cloud::Notice;

use super::{Autoscaler, Ctx, NodeEvent};

#[derive(Default)]
pub struct NoAutoscaler;

impl Autoscaler for NoAutoscaler {
    fn name(&self) -> &'static str {
        "none"
    }
    /// It draws nothing; the stream is named only because every autoscaler has one.
    fn rng_stream(&self) -> asim_core::engine::Stream {
        asim_core::engine::Stream::Karpenter
    }
    fn start(&mut self, _ctx: &mut Ctx<'_>) {}
    fn on_timer(&mut self, _ctx: &mut Ctx<'_>, _token: u64) {}
    fn on_pods_unschedulable(&mut self, _ctx: &mut Ctx<'_>, _pods: &[PodId]) {}
    fn on_cloud_notice(&mut self, _ctx: &mut Ctx<'_>, _notice: &Notice) {}
    fn on_node_event(&mut self, _ctx: &mut Ctx<'_>, _node: NodeId, _event: NodeEvent) {}
}
