//! aws-node-termination-handler (NTH) beside cluster-autoscaler (docs/model/cluster-autoscaler.md
//! §8): most EKS clusters that run cluster-autoscaler on spot run NTH as well, because
//! cluster-autoscaler itself does nothing with a spot interruption warning. On the warning NTH
//! cordons the node and drains it as `kubectl drain` does, so the pods leave gracefully and
//! come back as pending pods (for cluster-autoscaler to scale up for) about two minutes before
//! EC2 reclaims the instance, instead of dying with it. NTH never deletes the node or the
//! instance. It is its own deployment in a real cluster; here it rides with cluster-autoscaler
//! because the simulation runs one controller (the seam's `Autoscaler`).
//!
//! Upstream (aws/aws-node-termination-handler): `cmd/node-termination-handler.go` (monitors
//! polled every 2 s, events processed on a 1 s tick), `pkg/node/node.go` `getDrainHelper`
//! (Force, IgnoreAllDaemonSets, DeleteEmptyDirData, evictions through the Eviction API so PDBs
//! hold, `pod-termination-grace-period` −1 = the pod's own), `pkg/config/config.go` defaults,
//! `pkg/interruptionevent/draincordon/handler.go` (cordon only vs cordon and drain).

use serde::Deserialize;

use asim_cluster::NodeId;
use asim_cluster::autoscaler::{Ctx, DrainOptions};
use asim_core::cloud::{InstanceId, Notice};
use asim_core::k8s::duration::Duration;

use crate::decision::Decision;
use crate::error::ConfigError;

/// How NTH learns of an interruption.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No termination handler: pods die when EC2 reclaims the instance.
    #[default]
    None,
    /// Queue processor: EventBridge rules deliver EC2 events to an SQS queue that NTH
    /// long-polls (one Deployment for the cluster).
    Queue,
    /// IMDS processor: a DaemonSet pod on each node polls the instance metadata service.
    Imds,
}

impl Mode {
    /// [simulator] The time from the notice to NTH cordoning the node. IMDS: the monitor polls
    /// every 2 s and the event loop ticks every 1 s, so about 2 s on average and at most 3 s.
    /// Queue: EventBridge's delivery to SQS (typically seconds; AWS gives no bound), the
    /// long poll returning at once, then the 1 s tick: 5 s. Fixed values, so runs stay
    /// deterministic; `detectionDelay` overrides them.
    pub fn default_delay_ms(self) -> u64 {
        match self {
            Mode::None => 0,
            Mode::Queue => 5_000,
            Mode::Imds => 2_000,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::None => "none",
            Mode::Queue => "queue",
            Mode::Imds => "imds",
        }
    }
}

/// What NTH does on a rebalance recommendation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OnRebalance {
    /// NTH's default in IMDS mode (`enableRebalanceMonitoring` and `enableRebalanceDraining`
    /// false), and queue mode without an EventBridge rule for the recommendation.
    #[default]
    Ignore,
    /// IMDS `enableRebalanceMonitoring: true`: cordon only.
    Cordon,
    /// IMDS `enableRebalanceDraining: true`, or queue mode with the rule and
    /// `enableSqsTerminationDraining: true`: cordon and drain.
    CordonAndDrain,
}

/// `spec.clusterAutoscaler.terminationHandler` as the scenario writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TerminationHandlerSpec {
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub on_rebalance: OnRebalance,
    /// Overrides [`Mode::default_delay_ms`].
    #[serde(default)]
    pub detection_delay: Option<Duration>,
    /// NTH's `pod-termination-grace-period` in seconds: negative (the default, −1) keeps each
    /// pod's own `terminationGracePeriodSeconds`.
    #[serde(default = "minus_one")]
    pub pod_termination_grace_period: i64,
}

fn minus_one() -> i64 {
    -1
}

const FIELD: &str = "spec.clusterAutoscaler.terminationHandler";

/// The handler, checked at load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TerminationHandler {
    pub mode: Mode,
    pub on_rebalance: OnRebalance,
    pub delay_ms: u64,
    /// Cap on each evicted pod's grace period; `None` keeps the pod's own.
    pub pod_grace_ms: Option<u64>,
}

impl TerminationHandler {
    pub fn new(spec: &TerminationHandlerSpec) -> Result<TerminationHandler, ConfigError> {
        let delay_ms = spec
            .detection_delay
            .map_or(spec.mode.default_delay_ms(), Duration::as_millis);
        // The warning comes two minutes ahead; a handler slower than that never acts.
        if delay_ms >= 120_000 {
            return Err(ConfigError::new(
                format!("{FIELD}.detectionDelay"),
                "must be under the 2-minute spot interruption notice",
            ));
        }
        if spec.mode == Mode::None
            && (spec.detection_delay.is_some() || spec.on_rebalance != OnRebalance::Ignore)
        {
            return Err(ConfigError::new(
                format!("{FIELD}.mode"),
                "detectionDelay and onRebalance need a mode (queue or imds)",
            ));
        }
        let pod_grace_ms = u64::try_from(spec.pod_termination_grace_period)
            .ok()
            .map(|s| s * 1000);
        Ok(TerminationHandler {
            mode: spec.mode,
            on_rebalance: spec.on_rebalance,
            delay_ms,
            pod_grace_ms,
        })
    }

    /// A cloud notice NTH reacts to: when to act, on which node, and whether to drain. `None`
    /// when the handler is off, the notice is not for it, or the instance has no node.
    pub fn on_notice(&self, ctx: &Ctx<'_>, notice: &Notice) -> Option<(u64, NodeId, bool)> {
        if self.mode == Mode::None {
            return None;
        }
        let (instance, drain) = match notice {
            Notice::SpotInterruptionWarning { instance } => (*instance, true),
            Notice::RebalanceRecommendation { instance } => match self.on_rebalance {
                OnRebalance::Ignore => return None,
                OnRebalance::Cordon => (*instance, false),
                OnRebalance::CordonAndDrain => (*instance, true),
            },
            _ => return None,
        };
        let node = node_of(ctx, instance)?;
        Some((ctx.now.0 + self.delay_ms, node, drain))
    }

    /// NTH's draincordon handler on `node`: cordon, and with `drain` evict every pod but
    /// DaemonSet pods through the Eviction API (PDBs respected, blocked evictions retried).
    /// Nothing is done to a node already going away.
    pub fn act(&self, ctx: &mut Ctx<'_>, node: NodeId, drain: bool) -> Option<Decision> {
        let n = ctx.cluster().node(node)?;
        if n.deleting {
            return None;
        }
        let name = n.name.clone();
        let pods = n.pods.len();
        if let Some(mut n) = ctx.patch_node(node) {
            n.unschedulable = true;
        }
        if drain {
            ctx.cordon_and_drain(
                node,
                DrainOptions {
                    max_grace_ms: self.pod_grace_ms,
                    ..DrainOptions::default()
                },
            );
        }
        Some(Decision::TerminationHandler {
            mode: self.mode.as_str(),
            node: name,
            action: if drain { "cordon-and-drain" } else { "cordon" },
            pods,
        })
    }
}

fn node_of(ctx: &Ctx<'_>, instance: InstanceId) -> Option<NodeId> {
    ctx.cluster()
        .nodes()
        .find(|n| n.instance == Some(instance.0))
        .map(|n| n.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> TerminationHandlerSpec {
        serde_json::from_str(json).expect("spec")
    }

    #[test]
    fn each_mode_has_its_detection_delay_and_none_acts_on_nothing() {
        let q = TerminationHandler::new(&spec(r#"{"mode": "queue"}"#)).expect("queue");
        assert_eq!((q.delay_ms, q.pod_grace_ms), (5_000, None));
        let i = TerminationHandler::new(&spec(r#"{"mode": "imds", "detectionDelay": "3s"}"#))
            .expect("imds");
        assert_eq!(i.delay_ms, 3_000);
        let g = TerminationHandler::new(&spec(
            r#"{"mode": "queue", "podTerminationGracePeriod": 30}"#,
        ))
        .expect("grace");
        assert_eq!(g.pod_grace_ms, Some(30_000));
        assert_eq!(
            TerminationHandler::new(&TerminationHandlerSpec::default())
                .expect("none")
                .mode,
            Mode::None
        );
    }

    #[test]
    fn a_delay_past_the_notice_or_options_without_a_mode_are_refused() {
        let e = TerminationHandler::new(&spec(r#"{"mode": "queue", "detectionDelay": "2m"}"#))
            .unwrap_err();
        assert_eq!(
            e.field,
            "spec.clusterAutoscaler.terminationHandler.detectionDelay"
        );
        let e = TerminationHandler::new(&spec(r#"{"onRebalance": "cordon"}"#)).unwrap_err();
        assert_eq!(e.field, "spec.clusterAutoscaler.terminationHandler.mode");
        assert!(serde_json::from_str::<TerminationHandlerSpec>(r#"{"mode": "sqs"}"#).is_err());
    }
}
