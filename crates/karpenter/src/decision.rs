//! Karpenter's decision log (sections `§` are docs/model/karpenter.md's), one JSON object per
//! line of `decisions.jsonl` (schema: docs/reports.md). Every line is one [`Decision`] plus the simulated time `t_s`; the keys of
//! a line come out in alphabetical order (they go through `serde_json::Value`, whose map is
//! ordered), so the file is byte-identical from run to run.

use serde::Serialize;

/// One thing Karpenter decided or observed. `event` is the variant's name in kebab-case.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Decision {
    /// Where the provisioner's scheduling simulation put one pod (docs/model/karpenter.md §1).
    Scheduled(PodDecision),
    /// A new NodeClaim from a provisioning round or a disruption replacement (§2).
    NodeclaimCreated {
        nodeclaim: String,
        /// The placeholder hostname `scheduled` events name as their target.
        hostname: String,
        nodepool: String,
        /// Pods the simulation planned onto it.
        pods: usize,
        /// Instance types it may launch as.
        instance_types: usize,
        /// `minValuesPolicy: BestEffort` relaxed a requirement's minValues (§1.4).
        #[serde(skip_serializing_if = "Option::is_none")]
        min_values_relaxed: Option<bool>,
    },
    /// A pod planned onto a new NodeClaim was refused by that NodeClaim's node: the simulation
    /// and kube-scheduler disagree (a simulator bug or an unmodelled rule).
    NodeclaimRefusedPod {
        pod: String,
        nodeclaim: String,
        reason: String,
    },
    /// CreateFleet gave an instance (§2 step 5).
    Launched {
        nodeclaim: String,
        instance_type: String,
        zone: String,
        capacity_type: String,
        price: f64,
    },
    /// No instance for the NodeClaim: no offering left, or every override failed.
    LaunchFailed {
        nodeclaim: String,
        reason: String,
        /// The fleet's errors, when CreateFleet was called.
        #[serde(skip_serializing_if = "Option::is_none")]
        errors: Option<usize>,
    },
    /// A NodeClaim is being deleted (drain, then terminate), and why.
    NodeclaimDeleted { nodeclaim: String, reason: String },
    /// `expireAfter` elapsed (§3).
    Expired { nodeclaim: String },
    /// A spot interruption warning or a rebalance recommendation (§5).
    Interruption {
        kind: String,
        nodeclaim: String,
        /// `delete` or `none`.
        action: String,
    },
    /// A disruption command is carried out (§4.8).
    Disruption {
        method: String,
        reason: String,
        /// `delete` or `replace`.
        decision: String,
        nodeclaims: Vec<String>,
        nodes: Vec<String>,
        /// Up to five types per replacement.
        replacement_instance_types: Vec<String>,
        price_before: f64,
        price_after: f64,
        /// Which drift check found it, for drift (§4.5).
        #[serde(skip_serializing_if = "Option::is_none")]
        drift_reason: Option<String>,
    },
    /// An emptiness or consolidation command waits its 15 s validation (§4.7).
    DisruptionValidating {
        method: String,
        nodeclaims: Vec<String>,
    },
    /// The validation found the command no longer valid.
    DisruptionCancelled {
        method: String,
        nodeclaims: Vec<String>,
        reason: String,
    },
    /// A command's replacements failed or timed out: the candidates are kept (§4.8).
    DisruptionFailed {
        method: String,
        nodeclaims: Vec<String>,
        reason: String,
    },
    /// Consolidation looked at a NodeClaim and could not act on it (the reason Karpenter puts
    /// on its `Unconsolidatable` event).
    Unconsolidatable { nodeclaim: String, reason: String },
    /// A timeline step applied a NodePool; `changed` lists the parts that differ.
    NodepoolApplied {
        nodepool: String,
        changed: Vec<String>,
        drifted_nodeclaims: usize,
    },
    /// An applied NodePool Karpenter would reject.
    NodepoolRejected { nodepool: String, reason: String },
    /// A timeline step changed an EC2NodeClass's AMI.
    NodeclassChanged { nodeclass: String },
}

/// Where one pod went, and why — the decision log users query (`decisions.jsonl`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PodDecision {
    pub pod: String,
    pub outcome: String,
    pub target: Option<String>,
    pub nodepool: Option<String>,
    pub relaxed: Vec<String>,
    pub reason: Option<String>,
}

impl Decision {
    /// The line of `decisions.jsonl`: the decision with `t_s`, keys in alphabetical order.
    pub fn to_line(&self, t_s: f64) -> String {
        if let Decision::Scheduled(d) = self {
            return d.line(t_s);
        }
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(o) = &mut v {
            o.insert("t_s".into(), serde_json::json!(t_s));
        }
        v.to_string()
    }
}

impl PodDecision {
    /// [`Decision::to_line`] of a `scheduled` decision, written directly: most lines of a
    /// busy cluster's log are these, and going through `serde_json::Value` (a map of owned
    /// keys, then formatting it) cost more than the simulation that made them. The keys are
    /// written in the order the `Value` map sorts them; each value is formatted by serde_json
    /// as the `Value` would be (a test compares the two).
    fn line(&self, t_s: f64) -> String {
        fn put<T: Serialize + ?Sized>(out: &mut Vec<u8>, key: &str, value: &T) {
            out.extend_from_slice(key.as_bytes());
            // Serializing a string, an option, a list of strings or a float cannot fail.
            let _ = serde_json::to_writer(&mut *out, value);
        }
        let mut out = Vec::with_capacity(192);
        put(
            &mut out,
            r#"{"event":"scheduled","nodepool":"#,
            &self.nodepool,
        );
        put(&mut out, r#","outcome":"#, &self.outcome);
        put(&mut out, r#","pod":"#, &self.pod);
        put(&mut out, r#","reason":"#, &self.reason);
        put(&mut out, r#","relaxed":"#, &self.relaxed);
        put(&mut out, r#","t_s":"#, &serde_json::json!(t_s));
        put(&mut out, r#","target":"#, &self.target);
        out.push(b'}');
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The general path of [`Decision::to_line`], through `serde_json::Value`.
    fn via_value(d: &Decision, t_s: f64) -> String {
        let mut v = serde_json::to_value(d).unwrap();
        if let serde_json::Value::Object(o) = &mut v {
            o.insert("t_s".into(), serde_json::json!(t_s));
        }
        v.to_string()
    }

    #[test]
    fn a_scheduled_line_is_the_one_the_value_path_writes() {
        let decisions = [
            PodDecision {
                pod: "default/web-0".into(),
                outcome: "existing".into(),
                target: Some("ip-10-0-0-1".into()),
                nodepool: Some("default".into()),
                relaxed: Vec::new(),
                reason: None,
            },
            PodDecision {
                pod: "ns/\"quoted\"\tpod\u{1}é".into(),
                outcome: "unschedulable".into(),
                target: None,
                nodepool: None,
                relaxed: vec!["preferred affinity".into(), "a\nb".into()],
                reason: Some("0/3 nodes: \\ too many <pods>".into()),
            },
        ];
        for d in decisions {
            for t in [0.0, 61.5, 1e-7, 123456789.125, 86400.0, f64::NAN] {
                let d = Decision::Scheduled(d.clone());
                assert_eq!(d.to_line(t), via_value(&d, t));
            }
        }
    }

    #[test]
    fn a_line_is_the_decision_with_its_time_and_sorted_keys() {
        let d = Decision::NodeclaimDeleted {
            nodeclaim: "default-00001".into(),
            reason: "emptiness".into(),
        };
        assert_eq!(
            d.to_line(61.5),
            r#"{"event":"nodeclaim-deleted","nodeclaim":"default-00001","reason":"emptiness","t_s":61.5}"#
        );
        let d = Decision::LaunchFailed {
            nodeclaim: "a".into(),
            reason: "no offering".into(),
            errors: None,
        };
        assert!(!d.to_line(0.0).contains("errors"));
    }
}
