//! `--anonymize`: names, namespaces, label values and images replaced by stable hashes, so a
//! dump can be shared without saying whose cluster it is.
//!
//! One function maps every string ([`Anonymizer::token`]: keyed FNV-1a, 64 bits), so a value
//! keeps matching wherever it is referred to: a Deployment's name and its HPA's
//! `scaleTargetRef.name`, a label and the selectors, PDBs and topology spread constraints
//! that select it, a PriorityClass and `priorityClassName`, an EC2NodeClass and a NodePool's
//! `nodeClassRef`, a node group label and a `nodeSelector`. What gives the simulator its
//! meaning is kept: label keys, the values of well-known labels (instance types, zones,
//! capacity types, architectures), resource names and quantities, built-in namespaces and
//! PriorityClasses. What the simulator never reads and may hold secrets (environment,
//! commands, arguments, annotations other than the ones that change scheduling or
//! disruption) is dropped.

use serde_json::{Map, Value};

/// Label (and annotation) key prefixes whose values are vocabulary, not the user's data.
const SYSTEM_DOMAINS: [&str; 13] = [
    "kubernetes.io",
    "node.kubernetes.io",
    "topology.kubernetes.io",
    "beta.kubernetes.io",
    "failure-domain.beta.kubernetes.io",
    "node-role.kubernetes.io",
    "karpenter.sh",
    "karpenter.k8s.aws",
    "eks.amazonaws.com",
    "topology.ebs.csi.aws.com",
    "k8s.io",
    "autoscale-sim",
    "cluster-autoscaler.kubernetes.io",
];

/// Well-known keys whose values are nevertheless names the user chose.
const NAMED_BY_USER: [&str; 2] = [
    "eks.amazonaws.com/nodegroup",
    "alpha.eksctl.io/nodegroup-name",
];

const BUILTIN_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// String fields that name another object: hashed like `metadata.name`.
const NAME_FIELDS: [&str; 9] = [
    "name",
    "priorityClassName",
    "serviceAccountName",
    "serviceName",
    "claimName",
    "secretName",
    "role",
    "instanceProfile",
    "id",
];

/// Fields the simulator does not read that may carry secrets or identifying text.
const DROPPED_FIELDS: [&str; 4] = ["env", "envFrom", "command", "args"];

#[derive(Debug, Clone, Copy)]
pub struct Anonymizer {
    key: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

impl Anonymizer {
    /// Keyed by `key` (the CLI's `--anonymize-key`): the same key gives the same hashes, so two
    /// dumps of one cluster (or a dump and its history) still line up; a secret key stops
    /// anyone from hashing guessed names to find them.
    pub fn new(key: &str) -> Self {
        // The key is hashed first and its hash seeds every token's hash, with a separator byte
        // so that (key, value) pairs cannot collide by shifting characters between them.
        let seeded = fnv1a(FNV_OFFSET, key.as_bytes());
        Anonymizer {
            key: fnv1a(seeded, &[0xff]),
        }
    }

    /// A DNS-label-safe stand-in for `s` (starts with a letter, 13 characters): valid as a
    /// name, a namespace and a label value. The empty string stays empty.
    pub fn token(&self, s: &str) -> String {
        if s.is_empty() {
            return String::new();
        }
        format!("a{:012x}", fnv1a(self.key, s.as_bytes()) & 0xffff_ffff_ffff)
    }

    pub fn namespace(&self, ns: &str) -> String {
        if BUILTIN_NAMESPACES.contains(&ns) {
            ns.to_string()
        } else {
            self.token(ns)
        }
    }

    /// A label value: kept for well-known keys, hashed for the user's own.
    pub fn label_value(&self, key: &str, value: &str) -> String {
        if is_system_key(key) && !NAMED_BY_USER.contains(&key) {
            value.to_string()
        } else {
            self.token(value)
        }
    }

    fn name(&self, field: &str, value: &str) -> String {
        // Built-in PriorityClasses keep their names: the API server creates them in every
        // cluster and pods refer to them by name.
        if field == "priorityClassName" && value.starts_with("system-") {
            value.to_string()
        } else {
            self.token(value)
        }
    }

    /// An image reference: one token for the whole reference, so two images differ exactly
    /// when they did.
    pub fn image(&self, image: &str) -> String {
        format!("registry.invalid/{}", self.token(image))
    }

    /// Anonymizes one object in place (an object of a dump, already cleaned).
    pub fn object(&self, kind: &str, v: &mut Value) {
        let keep_name = kind == "PriorityClass"
            && v.pointer("/metadata/name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.starts_with("system-"));
        let original = v.pointer("/metadata/name").cloned();
        self.walk(None, v);
        if keep_name && let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("name".into(), original.unwrap_or(Value::Null));
        }
    }

    fn walk(&self, parent: Option<&str>, v: &mut Value) {
        match v {
            Value::Object(m) => self.map(parent, m),
            Value::Array(a) => {
                for x in a {
                    self.walk(parent, x);
                }
            }
            _ => {}
        }
    }

    fn map(&self, parent: Option<&str>, m: &mut Map<String, Value>) {
        for f in DROPPED_FIELDS {
            m.remove(f);
        }
        // A requirement or match expression: its values are label values of its key.
        if let (Some(Value::String(key)), Some(Value::Array(values))) =
            (m.get("key").cloned(), m.get_mut("values"))
        {
            for x in values.iter_mut() {
                if let Value::String(s) = x {
                    *s = self.label_value(&key, s);
                }
            }
        }
        for (k, child) in m.iter_mut() {
            match (k.as_str(), child) {
                ("labels" | "matchLabels" | "nodeSelector" | "tags", Value::Object(labels)) => {
                    for (lk, lv) in labels.iter_mut() {
                        if let Value::String(s) = lv {
                            *s = if k == "tags" {
                                self.token(s)
                            } else {
                                self.label_value(lk, s)
                            };
                        }
                    }
                }
                ("annotations", Value::Object(ann)) => {
                    ann.retain(|key, _| is_system_key(key));
                }
                ("image", Value::String(s)) => *s = self.image(s),
                ("namespace", Value::String(s)) => *s = self.namespace(s),
                ("namespaces", Value::Array(a)) => {
                    for x in a {
                        if let Value::String(s) = x {
                            *s = self.namespace(s);
                        }
                    }
                }
                // A resource metric names a resource (`cpu`), not an object.
                ("name", Value::String(_))
                    if matches!(parent, Some("resource" | "containerResource")) => {}
                (field, Value::String(s)) if NAME_FIELDS.contains(&field) => {
                    *s = self.name(field, s);
                }
                (field, x @ (Value::Object(_) | Value::Array(_))) => self.walk(Some(field), x),
                _ => {}
            }
        }
    }
}

/// A key with a well-known prefix (`topology.kubernetes.io/zone`, `karpenter.sh/…`).
fn is_system_key(key: &str) -> bool {
    key.split_once('/')
        .is_some_and(|(domain, _)| SYSTEM_DOMAINS.contains(&domain))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_still_match_and_vocabulary_is_kept() {
        let a = Anonymizer::new("k");
        let mut deploy = json!({
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"},
                "annotations": {"team": "x", "karpenter.sh/do-not-disrupt": "true"}},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                    "priorityClassName": "high",
                    "nodeSelector": {"karpenter.sh/capacity-type": "spot", "team": "pay"},
                    "containers": [{"name": "web", "image": "nginx:1", "env": [{"name": "K", "value": "s"}],
                        "resources": {"requests": {"cpu": "1"}}}]}}}
        });
        a.object("Deployment", &mut deploy);
        let mut hpa = json!({"metadata": {"name": "web", "namespace": "shop"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                "metrics": [{"type": "Resource", "resource": {"name": "cpu"}}]}});
        a.object("HorizontalPodAutoscaler", &mut hpa);
        let mut pc = json!({"metadata": {"name": "high"}, "value": 10});
        a.object("PriorityClass", &mut pc);
        let web = a.token("web");
        assert_eq!(deploy["metadata"]["name"], json!(web));
        assert_eq!(deploy["spec"]["selector"]["matchLabels"]["app"], json!(web));
        assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], json!(web));
        assert_eq!(hpa["spec"]["metrics"][0]["resource"]["name"], json!("cpu"));
        assert_eq!(
            hpa["metadata"]["namespace"],
            deploy["metadata"]["namespace"]
        );
        let spec = &deploy["spec"]["template"]["spec"];
        assert_eq!(spec["priorityClassName"], pc["metadata"]["name"]);
        assert_eq!(
            spec["nodeSelector"]["karpenter.sh/capacity-type"],
            json!("spot")
        );
        assert_ne!(spec["nodeSelector"]["team"], json!("pay"));
        assert!(spec["containers"][0].get("env").is_none());
        assert_eq!(
            deploy["metadata"]["annotations"],
            json!({"karpenter.sh/do-not-disrupt": "true"})
        );
        assert_ne!(Anonymizer::new("other").token("web"), web);
        assert_eq!(Anonymizer::new("k").token("web"), web, "stable");
    }
}
