//! `run --set PATH=VALUE` through the CLI: overrides of the Scenario and of manifests before
//! validation, and bad paths as exit 2 naming the path (docs/design.md §11).

mod common;

use std::path::PathBuf;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::str::contains;

fn scenario(name: &str) -> PathBuf {
    common::shipped(name)
}

/// Run static-cluster.yaml with `sets` and return its report.json.
fn run_with(sets: &[&str]) -> serde_json::Value {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut c = cargo_bin_cmd!("autoscale-sim");
    c.arg("--quiet")
        .arg("run")
        .arg(scenario("static-cluster.yaml"))
        .arg("--out")
        .arg(tmp.path());
    for s in sets {
        c.arg("--set").arg(s);
    }
    c.assert().code(0);
    let text = std::fs::read_to_string(tmp.path().join("report.json")).expect("report.json");
    serde_json::from_str(&text).expect("report.json is JSON")
}

fn run_fails(set: &str) -> assert_cmd::assert::Assert {
    let tmp = tempfile::tempdir().expect("temp dir");
    cargo_bin_cmd!("autoscale-sim")
        .arg("--quiet")
        .arg("run")
        .arg(scenario("static-cluster.yaml"))
        .arg("--out")
        .arg(tmp.path())
        .arg("--set")
        .arg(set)
        .assert()
        .code(2)
        .stderr(contains(set))
}

#[test]
fn set_overrides_scenario_fields() {
    let r = run_with(&["spec.duration=45m", "spec.seed=3"]);
    assert_eq!(r["duration_s"], 2700);
    assert_eq!(r["seed"], 3);
}

#[test]
fn set_overrides_manifest_and_list_fields() {
    let base = run_with(&[]);
    let r = run_with(&[
        "spec.staticNodes[0].count=2",
        "Deployment/web:spec.template.spec.containers[0].resources.requests={cpu: 100m, memory: 128Mi}",
    ]);
    assert_eq!(r["nodes"]["static"], 2);
    assert_eq!(base["nodes"]["static"], 6);
    assert_ne!(r["utilization"], base["utilization"]);
}

#[test]
fn unknown_fields_and_objects_are_bad_input_naming_the_path() {
    run_fails("spec.durationn=1h").stderr(contains("unknown field `durationn`"));
    run_fails("Deployment/web:spec.replica=8").stderr(contains("has no field spec.replica"));
    run_fails("Deployment/api:spec.replicas=8").stderr(contains("no Deployment named \"api\""));
    run_fails("NodePool/default:spec.weight=3").stderr(contains("has no NodePool"));
    run_fails("spec.staticNodes[4].count=1").stderr(contains("index 4 is out of range"));
    run_fails("Deployment/web:spec.replicas=lots").stderr(contains("static-cluster.yaml:"));
    run_fails("spec.duration").stderr(contains("expected PATH=VALUE"));
}
