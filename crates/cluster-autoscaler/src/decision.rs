//! cluster-autoscaler's decision log, for the behaviours of docs/model/cluster-autoscaler.md
//! (`decisions.jsonl`; the schema is in docs/reports.md, "decisions.jsonl —
//! cluster-autoscaler"). Every event is a [`Decision`] variant; the log
//! stores each as one line of JSON with its time `t_s` and its name under `event`.
//!
//! Keys come out sorted at every level: an event is turned into a `serde_json::Value`
//! first, whose objects are `BTreeMap`s (serde_json is built without `preserve_order`).

use std::collections::BTreeMap;

use serde::Serialize;

use asim_core::engine::SimTime;

/// One event of the decision log.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Decision {
    /// CA started: the flags that shape its decisions, and its node groups.
    Start {
        expander: String,
        scan_interval_s: u64,
        frequent_loops: bool,
        balance_similar_node_groups: bool,
        node_groups: Vec<GroupSummary>,
    },
    /// CreateAutoScalingGroup failed: the group does not exist and is skipped by scale-up.
    NodeGroupError { group: String, error: String },
    /// aws-node-termination-handler acted on a spot interruption warning or a rebalance
    /// recommendation (§8): `cordon` or `cordon-and-drain`, with the pods on the node then.
    TerminationHandler {
        mode: &'static str,
        node: String,
        action: &'static str,
        pods: usize,
    },
    /// `IsClusterHealthy` turned true again (§2.2 step 6).
    ClusterHealthy,
    /// `IsClusterHealthy` turned false: the loop stops before scaling until it recovers.
    ClusterUnhealthy,
    /// A scale-up: the expander's choice and everything it weighed (§3.2–§3.5).
    ScaleUp {
        /// The group the expander chose.
        group: String,
        /// Nodes the estimator asked for in that group.
        nodes: u32,
        /// `--expander` as given.
        expander: String,
        /// The expander of the chain that settled the choice (`random` when ties remained).
        chosen_by: &'static str,
        /// Pending pods that still needed a node after `FilterOutSchedulable`.
        pods_pending: usize,
        /// Of those, the pods the chosen option would place.
        pods_helped: usize,
        /// The chosen option's least-waste score.
        waste: f64,
        /// The groups whose desired capacity was raised (several when balancing).
        groups: Vec<GroupResize>,
        /// Every group, with why it was skipped or what the estimator found.
        considered: Vec<Considered>,
        /// Unschedulable → scale-up request, over the pods helped for the first time.
        decision_latency_s: LatencySummary,
    },
    /// Pending pods could not trigger a scale-up; written when the reason or the pod count
    /// changes.
    NoScaleUp {
        reason: NoScaleUpReason,
        pods: usize,
        /// Why each node group was no option (`NoNodeGroupCanHelp` with mixed reasons says
        /// nothing on its own); empty for `MaxNodesTotalReached`, decided before any group.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        groups: BTreeMap<String, SkipReason>,
    },
    /// Pods that fit no node group's template at all (CA's `NotTriggerScaleUp` pod event,
    /// processors/status): written once for each pod, the first loop it is found so.
    NotTriggerScaleUp {
        /// `namespace/name` of the pods, new in this record.
        pods: Vec<String>,
        /// Per group, the first predicate a fresh template node fails.
        groups: BTreeMap<String, &'static str>,
    },
    /// Why scale-down keeps a node (CA's `NoScaleDown` node status, `simulator.UnremovableReason`
    /// in cluster-autoscaler: simulator/cluster.go); written when the node's reason changes,
    /// not every loop.
    NoScaleDown {
        node: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        group: Option<String>,
        #[serde(flatten)]
        reason: Unremovable,
    },
    /// A scale-up failed; the group is backed off for `backoff_s` (§3.8).
    ScaleUpFailed {
        group: String,
        #[serde(flatten)]
        cause: ScaleUpFailure,
        backoff_s: u64,
    },
    /// An instance that never registered within `--max-node-provision-time` was terminated
    /// (`removeOldUnregisteredNodes`, §2.2 step 5).
    UnregisteredNodeRemoved { group: String, instance: String },
    /// A node was tainted `ToBeDeletedByClusterAutoscaler` for deletion (§4.4–§4.6).
    ScaleDown {
        node: String,
        group: String,
        kind: ScaleDownKind,
        utilization: f64,
        /// How long the node had been unneeded, whole seconds.
        unneeded_s: u64,
    },
    /// An empty node got pods during `--node-delete-delay-after-taint` and was given back.
    ScaleDownAborted { node: String, reason: AbortReason },
    /// A drain did not finish within `--max-pod-eviction-time` (§4.6 step 6).
    ScaleDownFailed {
        node: String,
        group: Option<String>,
        reason: DrainFailure,
        /// `namespace/name` of the pods still not evicted.
        pods: Vec<String>,
    },
}

/// One node group in the `start` event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupSummary {
    pub group: String,
    /// The AWS provider template's instance type and zone (§3.1).
    pub template: String,
    pub template_zone: String,
    pub min: u32,
    pub max: u32,
    pub capacity_type: &'static str,
}

/// A group whose desired capacity a scale-up raised.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupResize {
    pub group: String,
    pub from: u32,
    pub to: u32,
}

/// One group as the scale-up orchestrator looked at it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Considered {
    pub group: String,
    pub target: u32,
    pub max: u32,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Why a group was not an option, or what the estimator found for it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Skipped { skipped: SkipReason },
    Estimated { nodes: u32, pods: usize },
}

/// Why the orchestrator skipped a group (CA's `SkippedReasons`, §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SkipReason {
    /// CreateAutoScalingGroup failed.
    NotCreated,
    BackedOff,
    MaxSizeReached,
    /// `--cores-total` / `--memory-total` / `--gpu-total` leave no room for one more node.
    MaxResourceLimitReached,
    /// No pending pod fits a fresh node of the group's template.
    NotTriggerScaleUp,
    /// `--max-nodes-total` counting registered and upcoming nodes leaves no room (§3.6).
    MaxNodesTotalReached,
}

/// Why pending pods triggered no scale-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum NoScaleUpReason {
    /// `--max-nodes-total` Ready nodes already.
    MaxNodesTotalReached,
    /// Every group was no option, for different reasons (see `groups`).
    NoNodeGroupCanHelp,
    /// The expander chain left no option.
    ExpanderFilteredAll,
    /// Every group is at its max size.
    MaxSizeReached,
    /// `--cores-total` / `--memory-total` / `--gpu-total` leave room for no node of any group.
    MaxResourceLimitReached,
    /// Every group is backed off after failed scale-ups (§3.8).
    BackedOff,
    /// No pending pod fits a fresh node of any group.
    NotTriggerScaleUp,
}

impl NoScaleUpReason {
    /// The reason when every group was skipped for the same one.
    pub fn all(skip: SkipReason) -> NoScaleUpReason {
        match skip {
            SkipReason::NotCreated => NoScaleUpReason::NoNodeGroupCanHelp,
            SkipReason::BackedOff => NoScaleUpReason::BackedOff,
            SkipReason::MaxSizeReached => NoScaleUpReason::MaxSizeReached,
            SkipReason::MaxResourceLimitReached => NoScaleUpReason::MaxResourceLimitReached,
            SkipReason::NotTriggerScaleUp => NoScaleUpReason::NotTriggerScaleUp,
            SkipReason::MaxNodesTotalReached => NoScaleUpReason::MaxNodesTotalReached,
        }
    }
}

/// CA's `UnremovableReason` (cluster-autoscaler: simulator/cluster.go), with the blocking pod
/// and its drainability rule for `BlockedByPod` (`drain.BlockingPod`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "reason")]
pub enum Unremovable {
    /// The node carries `cluster-autoscaler.kubernetes.io/scale-down-disabled: "true"`.
    ScaleDownDisabledAnnotation,
    /// Unready, and `--scale-down-unready-enabled=false`.
    ScaleDownUnreadyDisabled,
    /// Not in any node group CA manages (static nodes).
    NotAutoscaled,
    /// Unneeded, for less than `scale-down-unneeded-time` so far.
    NotUnneededLongEnough,
    /// Unneeded and unready, for less than `scale-down-unready-time` so far.
    NotUnreadyLongEnough,
    /// Removing it would take its group below min size.
    NodeGroupMinSizeReached,
    /// Removing it would take the cluster below `--cores-total` / `--memory-total` minimum.
    MinimalResourceLimitExceeded { resource: &'static str },
    /// Utilization above the scale-down threshold (`utilization` as CA computes it, §4.2).
    NotUnderutilized { utilization: f64 },
    /// Its removal failed lately; looked at again after the recheck timeout.
    RecentlyUnremovable,
    /// Some pod that must move fits no other node.
    NoPlaceToMovePods,
    /// A pod that cannot be drained (§4.3): `pod` is `namespace/name`, `rule` CA's
    /// `BlockingPodReason`.
    BlockedByPod { pod: String, rule: &'static str },
}

/// What made a scale-up fail, under `reason`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "reason")]
pub enum ScaleUpFailure {
    /// The ASG's scaling activity failed (§5.4): `placeholders` instances never came; the
    /// desired capacity was put back to `target`.
    OutOfResources { placeholders: usize, target: u32 },
    /// `--max-node-provision-time` passed with `outstanding` nodes still upcoming (§3.7); the
    /// desired capacity was put back to `target`.
    #[serde(rename = "timeout")]
    Timeout { outstanding: u32, target: u32 },
    /// SetDesiredCapacity itself failed (§3.8 source 1).
    CloudProviderError { error: String },
}

/// Whether a deleted node was empty or is drained first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScaleDownKind {
    Empty,
    Drain,
}

/// Why a deletion was called off before it began.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AbortReason {
    #[serde(rename = "pods arrived")]
    PodsArrived,
}

/// Why a drain failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DrainFailure {
    #[serde(rename = "pods not evicted within max-pod-eviction-time")]
    EvictionTimeout,
}

/// Decision latency over the pods a scale-up helped for the first time (seconds).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LatencySummary {
    pub pods: usize,
    pub mean: f64,
    pub max: f64,
}

/// One line of `decisions.jsonl`.
#[derive(Serialize)]
struct Entry<'a> {
    t_s: f64,
    #[serde(flatten)]
    decision: &'a Decision,
}

/// The decision log, one JSON line per event.
#[derive(Clone, Debug, Default)]
pub struct DecisionLog {
    lines: asim_cluster::autoscaler::DecisionLines,
}

impl DecisionLog {
    pub fn log(&mut self, now: SimTime, decision: Decision) {
        let entry = Entry {
            t_s: now.as_secs_f64(),
            decision: &decision,
        };
        // Through a `Value` so that keys are sorted (module docs). Only a map with non-string
        // keys could fail to convert, and no event has one.
        let line = match serde_json::to_value(&entry) {
            Ok(v) => v.to_string(),
            Err(e) => unreachable!("a Decision always converts to JSON: {e}"),
        };
        self.lines.push(&line);
    }

    pub fn lines(&self) -> &asim_cluster::autoscaler::DecisionLines {
        &self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(d: Decision) -> String {
        let mut log = DecisionLog::default();
        log.log(SimTime(1_500), d);
        log.lines().iter().next().unwrap_or_default().to_string()
    }

    /// The lines are those the ad-hoc `json!` objects used to give: same keys, same order,
    /// same numbers.
    #[test]
    fn lines_match_the_former_json_objects() {
        assert_eq!(
            line(Decision::ScaleUpFailed {
                group: "g".into(),
                cause: ScaleUpFailure::Timeout {
                    outstanding: 2,
                    target: 3
                },
                backoff_s: 300,
            }),
            json!({"t_s": 1.5, "event": "scale-up-failed", "group": "g", "reason": "timeout",
                   "outstanding": 2, "target": 3, "backoff_s": 300})
            .to_string()
        );
        assert_eq!(
            line(Decision::ClusterUnhealthy),
            r#"{"event":"cluster-unhealthy","t_s":1.5}"#
        );
        assert_eq!(
            line(Decision::ScaleDownFailed {
                node: "n".into(),
                group: None,
                reason: DrainFailure::EvictionTimeout,
                pods: vec!["default/p".into()],
            }),
            json!({"t_s": 1.5, "event": "scale-down-failed", "node": "n", "group": null,
                   "reason": "pods not evicted within max-pod-eviction-time",
                   "pods": ["default/p"]})
            .to_string()
        );
        let considered = vec![
            Considered {
                group: "a".into(),
                target: 1,
                max: 4,
                outcome: Outcome::Skipped {
                    skipped: SkipReason::BackedOff,
                },
            },
            Considered {
                group: "b".into(),
                target: 0,
                max: 4,
                outcome: Outcome::Estimated { nodes: 2, pods: 7 },
            },
        ];
        assert_eq!(
            line(Decision::ScaleUp {
                group: "b".into(),
                nodes: 2,
                expander: "least-waste".into(),
                chosen_by: "least-waste",
                pods_pending: 7,
                pods_helped: 7,
                waste: 0.25,
                groups: vec![GroupResize {
                    group: "b".into(),
                    from: 0,
                    to: 2
                }],
                considered,
                decision_latency_s: LatencySummary {
                    pods: 7,
                    mean: 3.0,
                    max: 4.5
                },
            }),
            json!({"t_s": 1.5, "event": "scale-up", "group": "b", "nodes": 2,
                   "expander": "least-waste", "chosen_by": "least-waste", "pods_pending": 7,
                   "pods_helped": 7, "waste": 0.25,
                   "groups": [{"group": "b", "from": 0, "to": 2}],
                   "considered": [
                       {"group": "a", "target": 1, "max": 4, "skipped": "BackedOff"},
                       {"group": "b", "target": 0, "max": 4, "nodes": 2, "pods": 7}],
                   "decision_latency_s": {"pods": 7, "mean": 3.0, "max": 4.5}})
            .to_string()
        );
        let same = |d: Decision, former: serde_json::Value| assert_eq!(line(d), former.to_string());
        same(
            Decision::Start {
                expander: "least-waste".into(),
                scan_interval_s: 10,
                frequent_loops: true,
                balance_similar_node_groups: false,
                node_groups: vec![GroupSummary {
                    group: "g".into(),
                    template: "m5.large".into(),
                    template_zone: "us-east-1a".into(),
                    min: 0,
                    max: 3,
                    capacity_type: "spot",
                }],
            },
            json!({"t_s": 1.5, "event": "start", "expander": "least-waste",
                   "scan_interval_s": 10, "frequent_loops": true,
                   "balance_similar_node_groups": false,
                   "node_groups": [{"group": "g", "template": "m5.large",
                                    "template_zone": "us-east-1a", "min": 0, "max": 3,
                                    "capacity_type": "spot"}]}),
        );
        same(
            Decision::NodeGroupError {
                group: "g".into(),
                error: "boom".into(),
            },
            json!({"t_s": 1.5, "event": "node-group-error", "group": "g", "error": "boom"}),
        );
        same(
            Decision::ClusterHealthy,
            json!({"t_s": 1.5, "event": "cluster-healthy"}),
        );
        same(
            Decision::NoScaleUp {
                reason: NoScaleUpReason::ExpanderFilteredAll,
                pods: 4,
                groups: BTreeMap::new(),
            },
            json!({"t_s": 1.5, "event": "no-scale-up", "reason": "ExpanderFilteredAll", "pods": 4}),
        );
        same(
            Decision::ScaleUpFailed {
                group: "g".into(),
                cause: ScaleUpFailure::OutOfResources {
                    placeholders: 2,
                    target: 1,
                },
                backoff_s: 600,
            },
            json!({"t_s": 1.5, "event": "scale-up-failed", "group": "g",
                   "reason": "OutOfResources", "placeholders": 2, "target": 1,
                   "backoff_s": 600}),
        );
        same(
            Decision::ScaleUpFailed {
                group: "g".into(),
                cause: ScaleUpFailure::CloudProviderError { error: "no".into() },
                backoff_s: 300,
            },
            json!({"t_s": 1.5, "event": "scale-up-failed", "group": "g",
                   "reason": "CloudProviderError", "error": "no", "backoff_s": 300}),
        );
        same(
            Decision::UnregisteredNodeRemoved {
                group: "g".into(),
                instance: "i-0001".into(),
            },
            json!({"t_s": 1.5, "event": "unregistered-node-removed", "group": "g",
                   "instance": "i-0001"}),
        );
        same(
            Decision::ScaleDownAborted {
                node: "n".into(),
                reason: AbortReason::PodsArrived,
            },
            json!({"t_s": 1.5, "event": "scale-down-aborted", "node": "n",
                   "reason": "pods arrived"}),
        );
        assert_eq!(
            line(Decision::ScaleDown {
                node: "n".into(),
                group: "g".into(),
                kind: ScaleDownKind::Empty,
                utilization: 0.0,
                unneeded_s: 600,
            }),
            r#"{"event":"scale-down","group":"g","kind":"empty","node":"n","t_s":1.5,"unneeded_s":600,"utilization":0.0}"#
        );
    }
}
