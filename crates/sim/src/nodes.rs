//! Nodes coming and going as the cloud reports them: a launched instance registers as the
//! node its launcher described (with the kubelet's and the cloud provider's labels), becomes
//! Ready, and disappears when its instance shuts down.

use asim_cluster::autoscaler::{NodeBlueprint, NodeEvent};
use asim_cluster::pod::{CAPACITY_TYPE_KEY, HOSTNAME_KEY, ZONE_KEY};
use asim_cluster::{Node, NodeId};
use asim_core::cloud::{InstanceId, Notice, TerminationReason};
use asim_core::engine::SimTime;

use crate::Simulation;
use crate::setup::add_system_labels;

impl Simulation<'_> {
    pub(crate) fn handle_notice(&mut self, now: SimTime, notice: Notice) {
        match &notice {
            // Counted at the two-minute warning: Karpenter may terminate the instance itself
            // before EC2 reclaims it.
            Notice::SpotInterruptionWarning { .. } => self.recorder.spot_interruptions += 1,
            Notice::NodeRegistered { instance } => {
                if let Some(bp) = self.blueprints.remove(instance) {
                    self.register_node(now, *instance, bp);
                }
            }
            Notice::NodeReady { instance } => {
                if let Some(node) = self.instance_nodes.get(instance).copied() {
                    self.node_ready(now, node);
                }
            }
            Notice::InstanceShuttingDown { instance, reason } => {
                let spot = *reason == TerminationReason::SpotReclaimed;
                self.blueprints.remove(instance);
                if let Some(&rec) = self.instance_records.get(instance) {
                    let r = &mut self.recorder.nodes[rec];
                    r.terminated_at.get_or_insert(now);
                    if spot {
                        r.termination_reason
                            .get_or_insert_with(|| "spot-interruption".into());
                    }
                }
                if let Some(node) = self.instance_nodes.remove(instance) {
                    self.deletions.remove(&node);
                    self.drop_pinned(now, node);
                    self.count_pods_lost(node, spot);
                    let owners = self.cluster.remove_node(node, now);
                    for c in owners {
                        self.reconcile(now, c, true);
                    }
                    self.request_pass(now);
                    self.with_ctx(now, |a, ctx| a.on_node_event(ctx, node, NodeEvent::Deleted));
                }
            }
            _ => {}
        }
        self.with_ctx(now, |a, ctx| a.on_cloud_notice(ctx, &notice));
    }

    pub(crate) fn register_node(&mut self, now: SimTime, instance: InstanceId, bp: NodeBlueprint) {
        let Some(view) = self.cloud.instance(instance) else {
            return;
        };
        let mut labels = bp.labels.clone();
        labels.insert(ZONE_KEY.into(), view.pool.zone.clone());
        labels.insert(
            CAPACITY_TYPE_KEY.into(),
            view.pool.capacity_type.as_str().into(),
        );
        labels.insert(
            "node.kubernetes.io/instance-type".into(),
            view.pool.instance_type.clone(),
        );
        labels.insert(HOSTNAME_KEY.into(), bp.name.clone());
        add_system_labels(&mut labels, self.scenario.catalog.region());
        let mut taints = bp.taints.clone();
        taints.extend(bp.startup_taints.iter().cloned());
        let mut node = Node::new(
            bp.name.clone(),
            labels,
            taints,
            bp.capacity.clone(),
            bp.allocatable.clone(),
            bp.owner.clone(),
            Some(instance.0),
            now,
            false,
        );
        node.annotations = bp.annotations.clone();
        let id = self.cluster.add_node(node);
        self.instance_nodes.insert(instance, id);
        if let Some(&rec) = self.instance_records.get(&instance) {
            self.recorder.nodes[rec].registered_at = Some(now);
            self.node_records.insert(id, rec);
        }
        self.recorder.note_nodes(self.cluster.node_count() as u64);
        self.with_ctx(now, |a, ctx| {
            a.on_node_event(ctx, id, NodeEvent::Registered)
        });
    }

    pub(crate) fn node_ready(&mut self, now: SimTime, node: NodeId) {
        if self.cluster.node(node).is_none() {
            return;
        }
        self.cluster.mark_ready(node, now);
        if let Some(&rec) = self.node_records.get(&node) {
            self.recorder.nodes[rec].ready_at = Some(now);
        }
        for ds in 0..self.cluster.daemonsets.len() {
            self.place_daemon_pod(now, ds, node);
        }
        self.request_pass(now);
        self.with_ctx(now, |a, ctx| a.on_node_event(ctx, node, NodeEvent::Ready));
    }
}
