//! Helpers the integration tests share: paths into the repository, scenarios written from
//! text or JSON into a temporary directory and loaded, and driving a simulation to a time.
//! Each test crate uses some of them.
#![allow(dead_code)]

pub mod ca;

use std::path::{Path, PathBuf};

use autoscale_sim::cluster::{Node, NodeOwner};
use autoscale_sim::engine::SimTime;
use autoscale_sim::k8s::resources::Resources;
use autoscale_sim::k8s::selector::Labels;
use autoscale_sim::karpenter::Karpenter;
use autoscale_sim::sim::Simulation;
use autoscale_sim::workload::Scenario;
use serde_json::{Value, json};

/// A Ready node no autoscaler owns, with `cpu_m` millicores, `memory` bytes and 110 pods
/// allocatable (and as capacity), for the binder's tests.
pub fn ready_node(name: &str, labels: Labels, cpu_m: i64, memory: i64) -> Node {
    let mut r = Resources::new(cpu_m, memory);
    r.pods = 110;
    Node::new(
        name.into(),
        labels,
        Vec::new(),
        r.clone(),
        r,
        NodeOwner::Unmanaged,
        None,
        SimTime::ZERO,
        true,
    )
}

/// A path inside the repository.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A shipped scenario, `scenarios/<name>`.
pub fn shipped(name: &str) -> PathBuf {
    repo("scenarios").join(name)
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Deep-merge `patch` into `base` (objects key by key; anything else replaces).
pub fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p,
    }
}

/// A scenario written to a temporary directory (kept alive with it) and loaded.
pub struct Loaded {
    pub dir: tempfile::TempDir,
    pub sc: Scenario,
    pub yaml: String,
}

/// Load scenario `text` from a temporary `scenario.yaml`, with `files` beside it.
pub fn try_load_text(text: &str, files: &[(&str, String)]) -> Result<Loaded, String> {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, body) in files {
        std::fs::write(dir.path().join(name), body).expect("write file");
    }
    let path = dir.path().join("scenario.yaml");
    std::fs::write(&path, text).expect("write scenario");
    let sc = Scenario::load(&path).map_err(|e| e.to_string())?;
    Ok(Loaded {
        dir,
        sc,
        yaml: text.to_string(),
    })
}

/// [`try_load_text`], panicking with the text when it does not load.
pub fn load_text(text: &str) -> Loaded {
    try_load_text(text, &[]).unwrap_or_else(|e| panic!("scenario does not load: {e}\n{text}"))
}

/// Why `text` does not load.
pub fn load_error(text: &str) -> String {
    match try_load_text(text, &[]) {
        Ok(_) => panic!("scenario loads, expected an error:\n{text}"),
        Err(e) => e,
    }
}

/// A scenario named `name` with `spec`, followed by the manifests `docs`, as a YAML stream
/// (JSON is YAML).
pub fn scenario_yaml(name: &str, spec: Value, docs: &[Value]) -> String {
    let mut yaml = json!({
        "apiVersion": "autoscale-sim/v1alpha1",
        "kind": "Scenario",
        "metadata": {"name": name},
        "spec": spec,
    })
    .to_string();
    for d in docs {
        yaml.push_str("\n---\n");
        yaml.push_str(&d.to_string());
    }
    yaml.push('\n');
    yaml
}

/// [`scenario_yaml`] loaded, with more files beside it (e.g. a timeline `applyFile`), each a
/// stream of JSON documents.
pub fn load_json(name: &str, spec: Value, docs: &[Value], files: &[(&str, &[Value])]) -> Loaded {
    let yaml = scenario_yaml(name, spec, docs);
    let files: Vec<(&str, String)> = files
        .iter()
        .map(|(n, docs)| {
            let text: Vec<String> = docs.iter().map(Value::to_string).collect();
            (*n, text.join("\n---\n"))
        })
        .collect();
    try_load_text(&yaml, &files).unwrap_or_else(|e| panic!("scenario does not load: {e}\n{yaml}"))
}

/// A simulation of `l` under Karpenter, started (time zero done).
pub fn start_karpenter(l: &Loaded) -> Simulation<'_> {
    // Every kept structure is compared with a fresh build at each use: a stale cache fails the
    // test that drives it, in release builds too.
    let k = Karpenter::new(&l.sc.karpenter)
        .unwrap_or_else(|e| panic!("{e}\n{}", l.yaml))
        .with_self_checks();
    let mut sim = Simulation::new(&l.sc, Box::new(k)).unwrap_or_else(|e| panic!("{e}"));
    sim.start();
    sim
}

/// Process events up to (about) `t_ms`: stops after the first event at or past it.
pub fn run_to(sim: &mut Simulation<'_>, t_ms: u64) {
    while let Some(t) = sim.step() {
        if t.0 >= t_ms {
            break;
        }
    }
}
