//! `import cluster`: a `kubectl get … -A -o yaml` dump → a scenario directory
//! (docs/your-cluster.md "What is imported").
//!
//! Output: one manifest file per kind under `manifests/`, `scenario.yaml` including them, and
//! `import-report.md`. Objects are written in (namespace, name) order whatever the order of the
//! dump, so two dumps of the same cluster give the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Map, Value, json};

use asim_core::k8s::duration::{format_duration, parse_duration};

use super::Imported;
use super::anonymize::Anonymizer;
use super::objects::{DumpObject, clean, clean_job_spec, read_dump};
use crate::load::LoadError;
use crate::yaml;

/// What `import cluster` is asked for besides the dumps.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// The scenario's `metadata.name`.
    pub name: String,
    /// The scenario's `spec.duration` (a Go duration).
    pub duration: String,
    pub anonymize: Option<Anonymizer>,
}

/// The kinds copied into the scenario, with the apiVersion the loader reads and the file they
/// go to. HorizontalPodAutoscalers are copied whatever their version (the loader reads v2,
/// v2beta2 and v1).
const COPIED: [(&str, &str, &str); 9] = [
    (
        "PriorityClass",
        "scheduling.k8s.io/v1",
        "priorityclasses.yaml",
    ),
    ("Deployment", "apps/v1", "deployments.yaml"),
    ("StatefulSet", "apps/v1", "statefulsets.yaml"),
    ("DaemonSet", "apps/v1", "daemonsets.yaml"),
    ("Job", "batch/v1", "jobs.yaml"),
    (
        "PodDisruptionBudget",
        "policy/v1",
        "poddisruptionbudgets.yaml",
    ),
    (
        "HorizontalPodAutoscaler",
        "",
        "horizontalpodautoscalers.yaml",
    ),
    ("NodePool", "karpenter.sh/v1", "nodepools.yaml"),
    (
        "EC2NodeClass",
        "karpenter.k8s.aws/v1",
        "ec2nodeclasses.yaml",
    ),
];

const CRONJOB_FILE: &str = "cronjobs.yaml";

/// Node labels that say who manages a node.
const KARPENTER_NODEPOOL: &str = "karpenter.sh/nodepool";
const NODE_GROUP_LABELS: [&str; 2] = [
    "eks.amazonaws.com/nodegroup",
    "alpha.eksctl.io/nodegroup-name",
];
const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
const ZONE: &str = "topology.kubernetes.io/zone";
const REGION: &str = "topology.kubernetes.io/region";

/// Label key domains set by the kubelet, the cloud provider or an autoscaler: not carried to
/// static nodes (the simulator sets its own well-known labels from the instance type).
const NODE_SYSTEM_DOMAINS: [&str; 12] = [
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
    "alpha.eksctl.io",
];

/// One skipped object and why.
struct Skip {
    kind: String,
    name: String,
    why: String,
}

/// A group of identical static nodes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct NodeShape {
    instance_type: String,
    zone: Option<String>,
    capacity_type: String,
    ami_family: Option<String>,
    labels: BTreeMap<String, String>,
    taints: Vec<(String, String, String)>,
    /// Why the nodes are static: `unmanaged` or `node group NAME`.
    origin: String,
}

/// Reads the dumps and builds the scenario directory's files.
pub fn import_cluster(dumps: &[&Path], opts: &ClusterOptions) -> Result<Imported, LoadError> {
    let mut objects = Vec::new();
    for p in dumps {
        objects.extend(read_dump(p)?);
    }
    let duration_ms = parse_duration(&opts.duration)
        .map_err(|e| LoadError::new(Path::new("--duration"), None, None, e.to_string()))?;
    let anon = opts.anonymize;
    let name_of = |o: &DumpObject| -> String {
        let ns = o
            .value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str);
        let n = o.name();
        match (anon, ns) {
            (Some(a), Some(ns)) => format!("{}/{}", a.namespace(ns), a.token(n)),
            (Some(_), None) if o.kind == "PriorityClass" && n.starts_with("system-") => n.into(),
            (Some(a), None) => a.token(n),
            (None, Some(ns)) => format!("{ns}/{n}"),
            (None, None) => n.to_string(),
        }
    };

    // (file, (namespace, name)) → manifest; BTreeMaps keep the output sorted.
    let mut files: BTreeMap<&str, BTreeMap<(String, String), Value>> = BTreeMap::new();
    let mut copied: BTreeMap<&str, usize> = BTreeMap::new();
    let mut skipped: Vec<Skip> = Vec::new();
    let mut cron_steps: Vec<Value> = Vec::new();
    let mut cron_names: BTreeSet<String> = BTreeSet::new();
    let mut shapes: BTreeMap<NodeShape, u32> = BTreeMap::new();
    let mut karpenter_nodes: BTreeMap<String, u32> = BTreeMap::new();
    let mut regions: BTreeMap<String, u32> = BTreeMap::new();
    let mut zones: BTreeSet<String> = BTreeSet::new();
    let mut seen: BTreeSet<(String, String, String)> = BTreeSet::new();
    let skip = |o: &DumpObject, why: String| Skip {
        kind: o.kind.clone(),
        name: name_of(o),
        why,
    };

    for o in &objects {
        let key = (
            o.kind.clone(),
            o.namespace().to_string(),
            o.name().to_string(),
        );
        if o.name().is_empty() {
            return Err(o.err("metadata.name", "an object without a name"));
        }
        if !seen.insert(key) {
            skipped.push(skip(
                o,
                "a second copy in the dump (the first is imported)".into(),
            ));
            continue;
        }
        let controller = o
            .value
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .and_then(|refs| {
                refs.iter()
                    .find(|r| r.get("controller") == Some(&Value::Bool(true)))
                    .or(refs.first())
            })
            .map(|r| {
                let owner = r.get("name").and_then(Value::as_str).unwrap_or("?");
                format!(
                    "{}/{}",
                    r.get("kind").and_then(Value::as_str).unwrap_or("?"),
                    anon.map_or_else(|| owner.to_string(), |a| a.token(owner))
                )
            });
        match o.kind.as_str() {
            "Node" => {
                node(
                    o,
                    anon,
                    &mut shapes,
                    &mut karpenter_nodes,
                    &mut regions,
                    &mut zones,
                    &mut skipped,
                    &name_of,
                );
                continue;
            }
            "CronJob" => {
                match cronjob(o, duration_ms, &cron_names) {
                    Ok((job, step)) => {
                        cron_names.insert(o.name().to_string());
                        let mut job = job;
                        let mut step = step;
                        if let Some(a) = anon {
                            a.object("Job", &mut job);
                            if let Some(Value::Object(apply)) = step.get_mut("apply") {
                                apply.insert("job".into(), json!(a.token(o.name())));
                            }
                        }
                        files
                            .entry(CRONJOB_FILE)
                            .or_default()
                            .insert((o.namespace().into(), o.name().into()), job);
                        cron_steps.push(step);
                        *copied
                            .entry("CronJob (as a repeating Job apply)")
                            .or_default() += 1;
                    }
                    Err(why) => skipped.push(skip(o, why)),
                }
                continue;
            }
            "Job" => {
                if let Some(c) = controller.as_ref().filter(|c| c.starts_with("CronJob/")) {
                    skipped.push(skip(
                        o,
                        format!("created by {c}, which is imported as a repeating apply"),
                    ));
                    continue;
                }
                if job_finished(&o.value) {
                    skipped.push(skip(o, "finished before the dump".into()));
                    continue;
                }
            }
            "Pod" => {
                skipped.push(skip(
                    o,
                    match &controller {
                        Some(c) => format!("created by its controller ({c})"),
                        None => "a pod with no controller: add it by hand if it matters (the simulator reads v1 Pods)".into(),
                    },
                ));
                continue;
            }
            "NodeClaim" => {
                skipped.push(skip(o, "Karpenter's own state: Karpenter creates NodeClaims for the pods that need them".into()));
                continue;
            }
            _ => {}
        }
        let Some((_, api, file)) = COPIED.iter().find(|(k, _, _)| *k == o.kind) else {
            skipped.push(skip(
                o,
                match &controller {
                    Some(c) => format!("created by {c}; the simulator does not read {}", o.kind),
                    None => format!("the simulator does not read {}", o.kind),
                },
            ));
            continue;
        };
        if !api.is_empty() && o.api_version != *api {
            skipped.push(skip(
                o,
                format!("apiVersion {} (the simulator reads {api})", o.api_version),
            ));
            continue;
        }
        let mut v = o.value.clone();
        clean(&o.kind, &mut v);
        if let Some(a) = anon {
            a.object(&o.kind, &mut v);
        }
        let ns = v
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let n = v
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        files.entry(file).or_default().insert((ns, n), v);
        *copied.entry(o.kind.as_str()).or_default() += 1;
    }

    // Region: the one most nodes carry (ties → first by name); zones: all the nodes' zones in it.
    let region = regions
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(r, _)| r.clone());
    let zones: Vec<String> = zones
        .into_iter()
        .filter(|z| region.as_ref().is_none_or(|r| z.starts_with(r.as_str())))
        .collect();

    let mut out = Imported::default();
    let mut include = Vec::new();
    for (file, objs) in &files {
        let path = format!("manifests/{file}");
        let mut text = String::new();
        for (i, v) in objs.values().enumerate() {
            if i > 0 {
                text.push_str("---\n");
            }
            text.push_str(&yaml::to_yaml(v));
        }
        include.push(json!(path));
        out.files.insert(path, text);
    }

    let mut static_nodes = Vec::new();
    for (s, count) in &shapes {
        let mut e = Map::new();
        e.insert("instanceType".into(), json!(s.instance_type));
        e.insert("count".into(), json!(count));
        if s.capacity_type != "on-demand" {
            e.insert("capacityType".into(), json!(s.capacity_type));
        }
        if let Some(z) = &s.zone {
            e.insert("zone".into(), json!(z));
        }
        if let Some(a) = &s.ami_family {
            e.insert("amiFamily".into(), json!(a));
        }
        if !s.labels.is_empty() {
            e.insert("labels".into(), json!(s.labels));
        }
        if !s.taints.is_empty() {
            e.insert(
                "taints".into(),
                Value::Array(
                    s.taints
                        .iter()
                        .map(|(k, v, eff)| json!({"key": k, "value": v, "effect": eff}))
                        .collect(),
                ),
            );
        }
        static_nodes.push(Value::Object(e));
    }

    let mut spec = Map::new();
    spec.insert("duration".into(), json!(opts.duration));
    if let Some(r) = &region {
        spec.insert("region".into(), json!(r));
    }
    if !zones.is_empty() {
        spec.insert("zones".into(), json!(zones));
    }
    if files.contains_key("nodepools.yaml") {
        spec.insert("autoscaler".into(), json!("karpenter"));
    }
    spec.insert("include".into(), Value::Array(include));
    if !static_nodes.is_empty() {
        spec.insert("staticNodes".into(), Value::Array(static_nodes));
    }
    if !cron_steps.is_empty() {
        spec.insert("timeline".into(), Value::Array(cron_steps));
    }
    let hpa_load = hpa_metric_stubs(&files);
    if !hpa_load.is_empty() {
        spec.insert("metrics".into(), Value::Array(hpa_load));
    }
    let scenario = json!({
        "apiVersion": crate::scenario::API_VERSION,
        "kind": "Scenario",
        "metadata": {
            "name": opts.name,
            "description": "Imported by `autoscale-sim import cluster`; see import-report.md."
        },
        "spec": Value::Object(spec),
    });
    let mut text = String::from(
        "# Written by `autoscale-sim import cluster` from a kubectl dump; import-report.md says\n\
         # what was imported and what was not.\n",
    );
    text.push_str(&yaml::to_yaml(&scenario));
    out.files.insert("scenario.yaml".into(), text);

    out.report = report(
        &copied,
        &shapes,
        &karpenter_nodes,
        &skipped,
        region.as_deref(),
        &zones,
    );
    out.files
        .insert("import-report.md".into(), out.report.clone());
    Ok(out)
}

/// A Job that completed or failed: re-running it would not be the cluster as dumped.
fn job_finished(v: &Value) -> bool {
    v.pointer("/status/completionTime").is_some()
        || v.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    matches!(
                        c.get("type").and_then(Value::as_str),
                        Some("Complete" | "Failed")
                    ) && c.get("status").and_then(Value::as_str) == Some("True")
                })
            })
}

/// A CronJob as a Job manifest (its `jobTemplate`) and a timeline step applying it on the
/// schedule, or why not: only schedules that repeat at one fixed interval have an `every`
/// equivalent (see [`cron_every`]).
fn cronjob(
    o: &DumpObject,
    duration_ms: u64,
    taken: &BTreeSet<String>,
) -> Result<(Value, Value), String> {
    if o.api_version != "batch/v1" {
        return Err(format!(
            "apiVersion {} (the importer reads batch/v1)",
            o.api_version
        ));
    }
    let v = &o.value;
    if v.pointer("/spec/suspend") == Some(&Value::Bool(true)) {
        return Err("suspended".into());
    }
    if taken.contains(o.name()) {
        return Err("another CronJob has the same name in another namespace (timeline steps name workloads by name only)".into());
    }
    let schedule = v
        .pointer("/spec/schedule")
        .and_then(Value::as_str)
        .unwrap_or("");
    let (every, from) = cron_every(schedule).ok_or_else(|| {
        format!("schedule {schedule:?} does not repeat at one fixed interval, which is what a timeline `every` step can express")
    })?;
    if from > duration_ms {
        return Err(format!(
            "schedule {schedule:?} first fires at {} (Monday 00:00 UTC + that), after the scenario's end",
            format_duration(from)
        ));
    }
    let mut spec = v
        .pointer("/spec/jobTemplate/spec")
        .cloned()
        .unwrap_or(json!({}));
    clean_job_spec(&mut spec);
    if let Some(Value::Object(meta)) = spec.pointer_mut("/template/metadata") {
        meta.remove("creationTimestamp");
    }
    let mut meta = Map::new();
    meta.insert("name".into(), json!(o.name()));
    if let Some(ns) = v.pointer("/metadata/namespace") {
        meta.insert("namespace".into(), ns.clone());
    }
    if let Some(l) = v.pointer("/spec/jobTemplate/metadata/labels") {
        meta.insert("labels".into(), l.clone());
    }
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": Value::Object(meta), "spec": spec});
    let mut step = Map::new();
    step.insert("every".into(), json!(format_duration(every)));
    if from > 0 {
        step.insert("from".into(), json!(format_duration(from)));
    }
    step.insert("apply".into(), json!({"job": o.name()}));
    Ok((job, Value::Object(step)))
}

/// `(every, from)` in ms for the cron schedules with one fixed period, the simulated clock
/// starting at Monday 00:00 UTC: `*/N * * * *` (N divides 60), `M * * * *`, `M */N * * *`
/// (N divides 24), `M H * * *`, and `@hourly` / `@daily` / `@midnight`. Anything else (lists,
/// ranges, days of the week or month) fires at uneven gaps.
pub fn cron_every(schedule: &str) -> Option<(u64, u64)> {
    const MIN: u64 = 60_000;
    let s = match schedule.trim() {
        "@hourly" => "0 * * * *",
        "@daily" | "@midnight" => "0 0 * * *",
        other => other,
    };
    let f: Vec<&str> = s.split_whitespace().collect();
    let [m, h, "*", "*", "*"] = f.as_slice() else {
        return None;
    };
    let num = |x: &str, max: u64| x.parse::<u64>().ok().filter(|n| *n < max);
    let step = |x: &str, max: u64| {
        x.strip_prefix("*/")
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|n| *n > 0 && max.is_multiple_of(*n))
    };
    match (*m, *h) {
        ("*", "*") => Some((MIN, 0)),
        (m, "*") => {
            if let Some(n) = step(m, 60) {
                Some((n * MIN, 0))
            } else {
                num(m, 60).map(|m| (60 * MIN, m * MIN))
            }
        }
        (m, h) => {
            let m = num(m, 60)?;
            if let Some(n) = step(h, 24) {
                Some((n * 60 * MIN, m * MIN))
            } else {
                num(h, 24).map(|h| (24 * 60 * MIN, (h * 60 + m) * MIN))
            }
        }
    }
}

/// Sorts a node: Karpenter's (counted, left to Karpenter), a node group's or an unmanaged
/// one (static nodes), or skipped (no instance type, Fargate).
#[allow(clippy::too_many_arguments)]
fn node(
    o: &DumpObject,
    anon: Option<Anonymizer>,
    shapes: &mut BTreeMap<NodeShape, u32>,
    karpenter: &mut BTreeMap<String, u32>,
    regions: &mut BTreeMap<String, u32>,
    zones: &mut BTreeSet<String>,
    skipped: &mut Vec<Skip>,
    name_of: &dyn Fn(&DumpObject) -> String,
) {
    let labels: BTreeMap<String, String> = o
        .value
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let skip = |why: &str| Skip {
        kind: "Node".into(),
        name: name_of(o),
        why: why.into(),
    };
    if labels
        .get("eks.amazonaws.com/compute-type")
        .map(String::as_str)
        == Some("fargate")
    {
        skipped.push(skip("a Fargate node: Fargate pods are not simulated"));
        return;
    }
    if let Some(r) = labels.get(REGION) {
        *regions.entry(r.clone()).or_default() += 1;
    }
    if let Some(z) = labels.get(ZONE) {
        zones.insert(z.clone());
    }
    if let Some(pool) = labels.get(KARPENTER_NODEPOOL) {
        let pool = anon.map_or_else(|| pool.clone(), |a| a.token(pool));
        *karpenter.entry(pool).or_default() += 1;
        return;
    }
    let Some(instance_type) = labels.get(INSTANCE_TYPE) else {
        skipped.push(skip(
            "no node.kubernetes.io/instance-type label, so no instance type to start",
        ));
        return;
    };
    let group = NODE_GROUP_LABELS
        .iter()
        .find_map(|k| labels.get(*k).map(|v| (*k, v)));
    let capacity_type = match labels
        .get("karpenter.sh/capacity-type")
        .or(labels.get("eks.amazonaws.com/capacityType"))
        .map(|s| s.to_ascii_lowercase())
        .as_deref()
    {
        Some("spot") => "spot",
        _ => "on-demand",
    };
    let os_image = o
        .value
        .pointer("/status/nodeInfo/osImage")
        .and_then(Value::as_str)
        .unwrap_or("");
    let ami_family = if os_image.starts_with("Bottlerocket") {
        Some("Bottlerocket")
    } else if os_image.starts_with("Amazon Linux 2023") {
        None // the default
    } else if os_image.starts_with("Amazon Linux 2") {
        Some("AL2")
    } else {
        None
    };
    let kept: BTreeMap<String, String> = labels
        .iter()
        .filter(|(k, _)| {
            NODE_GROUP_LABELS.contains(&k.as_str())
                || k.split_once('/')
                    .is_none_or(|(d, _)| !NODE_SYSTEM_DOMAINS.contains(&d))
        })
        .map(|(k, v)| {
            let v = anon.map_or_else(|| v.clone(), |a| a.label_value(k, v));
            (k.clone(), v)
        })
        .collect();
    let taints = o
        .value
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .filter_map(|t| {
                    let key = t.get("key")?.as_str()?.to_string();
                    // Taints the node lifecycle, Karpenter or cluster-autoscaler put on for a
                    // while (not-ready, disruption, deletion candidates) are state, not shape.
                    if key.starts_with("node.kubernetes.io/")
                        || key.starts_with("karpenter.sh/")
                        || key.starts_with("node.cloudprovider.kubernetes.io/")
                        || key == "ToBeDeletedByClusterAutoscaler"
                        || key == "DeletionCandidateOfClusterAutoscaler"
                    {
                        return None;
                    }
                    let value = t
                        .get("value")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let effect = t.get("effect")?.as_str()?.to_string();
                    Some((key, value, effect))
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let origin = match group {
        Some((_, g)) => format!(
            "node group {}",
            anon.map_or_else(|| g.clone(), |a| a.token(g))
        ),
        None => "unmanaged".into(),
    };
    *shapes
        .entry(NodeShape {
            instance_type: instance_type.clone(),
            zone: labels.get(ZONE).cloned(),
            capacity_type: capacity_type.into(),
            ami_family: ami_family.map(str::to_string),
            labels: kept,
            taints,
            origin,
        })
        .or_default() += 1;
}

fn report(
    copied: &BTreeMap<&str, usize>,
    shapes: &BTreeMap<NodeShape, u32>,
    karpenter: &BTreeMap<String, u32>,
    skipped: &[Skip],
    region: Option<&str>,
    zones: &[String],
) -> String {
    let mut r = String::from("# Import report\n\n");
    let _ = writeln!(
        r,
        "Region {} and zones {} (from the nodes' `topology.kubernetes.io` labels).\n",
        region.unwrap_or("us-east-1 (no node carried a region label: the default)"),
        if zones.is_empty() {
            "the region's default".to_string()
        } else {
            zones.join(", ")
        }
    );
    r.push_str("## Imported\n\n| kind | count |\n|---|---|\n");
    for (k, n) in copied {
        let _ = writeln!(r, "| {k} | {n} |");
    }
    r.push_str(
        "\nReplica counts are the dump's `spec.replicas`, the starting point of the run. \
         HorizontalPodAutoscalers are copied as they are, and each of their metrics gets a \
         constant load in `spec.metrics` that holds the dump's replica count (what the metric \
         reads at its target, times the replicas): replace it with your load over time — a \
         `diurnal` curve, a CSV, or a Prometheus range query (docs/your-cluster.md).\n",
    );
    r.push_str("\n## Static nodes\n\n");
    if shapes.is_empty() {
        r.push_str("None: every node was Karpenter's (or skipped below).\n");
    } else {
        r.push_str(
            "Nodes neither Karpenter nor anyone else will launch in the simulation, as \
             `spec.staticNodes` (Ready at time zero). Managed and eksctl node groups become \
             static nodes too, not cluster-autoscaler node groups: a dump holds neither their \
             Auto Scaling groups' min/max sizes nor their instance-type lists, and a simulated \
             node group starts at its minimum size, so the starting cluster would not match. \
             Add `spec.clusterAutoscaler.nodeGroups` by hand to let cluster-autoscaler scale them.\n\n\
             | instance type | zone | capacity | count | from |\n|---|---|---|---|---|\n",
        );
        for (s, n) in shapes {
            let _ = writeln!(
                r,
                "| {} | {} | {} | {n} | {} |",
                s.instance_type,
                s.zone.as_deref().unwrap_or("(round-robin)"),
                s.capacity_type,
                s.origin
            );
        }
    }
    if !karpenter.is_empty() {
        r.push_str(
            "\n## Karpenter's nodes\n\nNot imported: at time zero the workloads' pods are pending \
             and Karpenter launches nodes for them (so the first minutes show a scale-up the real \
             cluster had already done).\n\n| NodePool | nodes in the dump |\n|---|---|\n",
        );
        for (p, n) in karpenter {
            let _ = writeln!(r, "| {p} | {n} |");
        }
    }
    r.push_str("\n## Skipped\n\n");
    if skipped.is_empty() {
        r.push_str("Nothing.\n");
    } else {
        r.push_str("| kind | name | why |\n|---|---|---|\n");
        for s in skipped {
            let _ = writeln!(r, "| {} | {} | {} |", s.kind, s.name, s.why);
        }
    }
    r.push_str(
        "\n## Not modelled\n\n\
         - Jobs (and CronJobs' Jobs) without an `autoscale-sim/duration` annotation on their pod \
           template run until the scenario ends; add one with the run time you see.\n\
         - CronJob schedules run on the simulated clock (Monday 00:00 UTC at time zero); \
           `timeZone`, `startingDeadlineSeconds` and `concurrencyPolicy` are not modelled.\n\
         - Probes, init containers' run time, image pulls, Services and networking are not \
           simulated; fields the simulator accepts without modelling are listed by `validate` \
           (docs/scenario.md, \"Accepted but not simulated\").\n",
    );
    r
}

/// A cpu or memory quantity (`500m`, `2Gi`) as cores or bytes.
fn quantity(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => asim_core::k8s::quantity::parse_quantity(s)
            .ok()
            .map(|q| q.nanos() as f64 / 1e9),
        _ => None,
    }
}

/// For each metric of each imported HPA, a `spec.metrics` entry with the constant load at
/// which the controller keeps the target's current replicas (usage ratio 1): the imported
/// cluster starts as it was, and the user swaps in their real load (docs/model/hpa.md).
fn hpa_metric_stubs(files: &BTreeMap<&str, BTreeMap<(String, String), Value>>) -> Vec<Value> {
    let mut out = Vec::new();
    let Some(hpas) = files.get("horizontalpodautoscalers.yaml") else {
        return out;
    };
    let v1_cpu = |h: &Value| {
        h.pointer("/spec/targetCPUUtilizationPercentage").map(|p| {
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": p}}}])
        })
    };
    for ((ns, _), h) in hpas {
        let (Some(kind), Some(target)) = (
            h.pointer("/spec/scaleTargetRef/kind")
                .and_then(Value::as_str),
            h.pointer("/spec/scaleTargetRef/name")
                .and_then(Value::as_str),
        ) else {
            continue;
        };
        let (file, key) = match kind {
            "Deployment" => ("deployments.yaml", "deployment"),
            "StatefulSet" => ("statefulsets.yaml", "statefulset"),
            _ => continue,
        };
        let Some(w) = files
            .get(file)
            .and_then(|m| m.get(&(ns.clone(), target.to_string())))
        else {
            continue;
        };
        let replicas = w
            .pointer("/spec/replicas")
            .and_then(Value::as_f64)
            .unwrap_or(1.0);
        let containers = w
            .pointer("/spec/template/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let request = |res: &str| -> f64 {
            containers
                .iter()
                .filter_map(|c| c.pointer(&format!("/resources/requests/{res}")))
                .filter_map(quantity)
                .sum()
        };
        let metrics = h
            .pointer("/spec/metrics")
            .cloned()
            .or_else(|| v1_cpu(h))
            .unwrap_or_else(|| {
                json!([{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80}}}])
            });
        for m in metrics.as_array().into_iter().flatten() {
            let kind = m.get("type").and_then(Value::as_str).unwrap_or_default();
            let body = match kind {
                "Resource" => m.get("resource"),
                "ContainerResource" => m.get("containerResource"),
                "Pods" => m.get("pods"),
                "Object" => m.get("object"),
                "External" => m.get("external"),
                _ => None,
            };
            let Some(body) = body else { continue };
            let name = body
                .get("name")
                .or_else(|| body.pointer("/metric/name"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let t = body.get("target").cloned().unwrap_or(Value::Null);
            let value = |f: &str| t.get(f).and_then(quantity);
            let load = match t.get("type").and_then(Value::as_str) {
                Some("Utilization") => t
                    .get("averageUtilization")
                    .and_then(Value::as_f64)
                    .map(|p| replicas * request(name) * p / 100.0),
                Some("AverageValue") => value("averageValue").map(|v| v * replicas),
                Some("Value") => value("value"),
                _ => None,
            };
            let Some(load) = load.filter(|l| l.is_finite() && *l >= 0.0) else {
                continue;
            };
            // Six decimals: the same text on every platform.
            let load = (load * 1e6).round() / 1e6;
            out.push(json!({"target": {key: target}, "metric": name, "constant": load}));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::cron_every;

    #[test]
    fn cron_schedules_with_one_period() {
        let h = 3_600_000;
        assert_eq!(cron_every("*/15 * * * *"), Some((900_000, 0)));
        assert_eq!(cron_every("5 * * * *"), Some((h, 300_000)));
        assert_eq!(cron_every("30 */6 * * *"), Some((6 * h, 1_800_000)));
        assert_eq!(cron_every("0 2 * * *"), Some((24 * h, 2 * h)));
        assert_eq!(cron_every("@hourly"), Some((h, 0)));
        assert_eq!(cron_every("*/7 * * * *"), None);
        assert_eq!(cron_every("0 2 * * 1"), None);
        assert_eq!(cron_every("0 1,13 * * *"), None);
    }
}
