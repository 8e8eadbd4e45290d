//! Reading `kubectl get … -o yaml` output, and cleaning an object of what the API server
//! wrote into it.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::load::{LoadError, parse_doc, split_documents};

/// One object of a dump, with where it came from (a List's items point at the List, as the
/// scenario loader's do).
#[derive(Debug, Clone)]
pub struct DumpObject {
    pub file: PathBuf,
    pub line: u64,
    pub api_version: String,
    pub kind: String,
    pub value: Value,
}

impl DumpObject {
    pub fn name(&self) -> &str {
        self.value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `metadata.namespace`, `default` when absent (cluster-scoped kinds have none).
    pub fn namespace(&self) -> &str {
        self.value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
    }

    pub fn err(&self, field: &str, message: impl Into<String>) -> LoadError {
        LoadError::new(&self.file, Some(self.line), Some(field), message)
    }
}

/// Every object in `path`: a YAML stream whose documents are objects or `kind: List`s (what
/// `kubectl get -A -o yaml` prints), in file order.
pub fn read_dump(path: &Path) -> Result<Vec<DumpObject>, LoadError> {
    let text = asim_core::files::read_to_string_capped(
        path,
        asim_core::files::MAX_TRACE_BYTES,
        "cluster dump",
    )
    .map_err(|e| LoadError::new(path, None, None, format!("cannot read: {e}")))?;
    let mut out = Vec::new();
    for (line, doc) in split_documents(&text) {
        let value: Value = parse_doc(path, line, &doc)?;
        push_object(path, line, value, &mut out)?;
    }
    Ok(out)
}

fn push_object(
    path: &Path,
    line: u64,
    value: Value,
    out: &mut Vec<DumpObject>,
) -> Result<(), LoadError> {
    let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_string);
    let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) else {
        return Err(LoadError::new(
            path,
            Some(line),
            Some("kind"),
            "expected an object with apiVersion and kind (the output of kubectl get -o yaml)",
        ));
    };
    if kind == "List" || (kind.ends_with("List") && value.get("items").is_some()) {
        let items = match value.get("items") {
            Some(Value::Array(items)) => items.clone(),
            Some(Value::Null) | None => Vec::new(),
            Some(_) => {
                return Err(LoadError::new(
                    path,
                    Some(line),
                    Some("items"),
                    "expected a list of objects",
                ));
            }
        };
        for item in items {
            push_object(path, line, item, out)?;
        }
        return Ok(());
    }
    out.push(DumpObject {
        file: path.to_path_buf(),
        line,
        api_version,
        kind,
        value,
    });
    Ok(())
}

/// `metadata` fields the API server sets (or that tie the object to one cluster), removed.
const SERVER_METADATA: [&str; 9] = [
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
];

/// Annotations written by the API server, kubectl or controllers rather than by the object's
/// author: removed, so the manifests read as someone would write them.
const SERVER_ANNOTATIONS: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "deprecated.daemonset.template.generation",
    "karpenter.sh/nodepool-hash",
    "karpenter.sh/nodepool-hash-version",
    "karpenter.k8s.aws/ec2nodeclass-hash",
];

/// Labels the Job controller stamps on a Job's selector and pod template (tied to the Job's
/// uid): removed with the generated selector, so the Job can be created again.
const JOB_CONTROLLER_LABELS: [&str; 4] = [
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "job-name",
    "batch.kubernetes.io/job-name",
];

/// The object as its author would apply it: no `status`, no server-set metadata or
/// annotations, no `creationTimestamp: null` in pod templates, and for a Job no generated
/// selector (nor its labels) — the API server refuses a Job that brings its own without
/// `manualSelector`.
pub fn clean(kind: &str, v: &mut Value) {
    let Some(obj) = v.as_object_mut() else {
        return;
    };
    obj.remove("status");
    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
        clean_metadata(meta);
        if kind == "EC2NodeClass" || kind == "NodePool" {
            meta.remove("finalizers");
        }
    }
    if let Some(spec) = obj.get_mut("spec") {
        clean_templates(spec);
        if kind == "Job" {
            clean_job_spec(spec);
        }
        if kind == "StatefulSet"
            && let Some(Value::Array(claims)) = spec.get_mut("volumeClaimTemplates")
        {
            for c in claims {
                if let Some(c) = c.as_object_mut() {
                    c.remove("status");
                    if let Some(Value::Object(meta)) = c.get_mut("metadata") {
                        clean_metadata(meta);
                    }
                }
            }
        }
    }
}

/// A Job spec (also a CronJob's `jobTemplate.spec`) without the controller's selector.
pub fn clean_job_spec(spec: &mut Value) {
    let Some(spec) = spec.as_object_mut() else {
        return;
    };
    if spec.get("manualSelector") != Some(&Value::Bool(true)) {
        spec.remove("selector");
        if let Some(Value::Object(labels)) = spec
            .get_mut("template")
            .and_then(|t| t.get_mut("metadata"))
            .and_then(|m| m.get_mut("labels"))
        {
            for l in JOB_CONTROLLER_LABELS {
                labels.remove(l);
            }
        }
    }
}

fn clean_metadata(meta: &mut Map<String, Value>) {
    for f in SERVER_METADATA {
        meta.remove(f);
    }
    let mut empty = false;
    if let Some(Value::Object(ann)) = meta.get_mut("annotations") {
        for a in SERVER_ANNOTATIONS {
            ann.remove(a);
        }
        empty = ann.is_empty();
    }
    if empty {
        meta.remove("annotations");
    }
}

/// Pod templates (`spec.template`, a CronJob's `spec.jobTemplate.spec.template`) print
/// `metadata.creationTimestamp: null`.
fn clean_templates(spec: &mut Value) {
    for ptr in ["/template/metadata", "/jobTemplate/metadata"] {
        if let Some(Value::Object(meta)) = spec.pointer_mut(ptr) {
            meta.remove("creationTimestamp");
        }
    }
    if let Some(inner) = spec.pointer_mut("/jobTemplate/spec") {
        clean_templates(inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clean_removes_server_fields_and_a_jobs_generated_selector() {
        let mut job = json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "etl", "uid": "u", "resourceVersion": "1",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"selector": {"matchLabels": {"controller-uid": "u"}},
                "template": {"metadata": {"creationTimestamp": null,
                    "labels": {"controller-uid": "u", "job-name": "etl", "app": "etl"}}}},
            "status": {"active": 1}
        });
        clean("Job", &mut job);
        assert_eq!(
            job,
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "etl"},
                "spec": {"template": {"metadata": {"labels": {"app": "etl"}}}}})
        );
    }
}
