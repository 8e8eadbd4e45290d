//! Determinism (docs/design.md §1.2): one scenario and one seed give byte-identical outputs, through the
//! library and through the CLI; another seed gives another run.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::cargo::cargo_bin_cmd;
use autoscale_sim::report::write_outputs;
use autoscale_sim::run::{RunOutput, run_to_end};
use autoscale_sim::workload::{AutoscalerKind, Scenario};

/// The files of an output directory that must not depend on the wall clock.
const DETERMINISTIC_FILES: &[&str] = &[
    "report.json",
    "report.md",
    "report.html",
    "pods.csv",
    "nodes.csv",
    "timeseries.csv",
];

fn static_cluster() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/static-cluster.yaml")
}

fn load(seed: Option<u64>) -> Scenario {
    let mut sc = Scenario::load(&static_cluster()).expect("static-cluster.yaml loads");
    if let Some(s) = seed {
        sc.seed = s;
    }
    sc
}

fn simulate(sc: &Scenario) -> RunOutput<'_> {
    run_to_end(sc, AutoscalerKind::None).expect("static-cluster runs under `none`")
}

fn write(out: &RunOutput<'_>, dir: &Path) {
    write_outputs(
        dir,
        &out.report,
        &out.meta,
        &out.sim.recorder.samples,
        &out.sim.recorder.nodes,
        &out.sim.cluster,
    )
    .expect("outputs are written");
}

fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{}/{name}: {e}", dir.display()))
}

/// report.json without its `seed` key, so two seeds are compared on what they simulated.
fn report_without_seed(text: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(text).expect("report.json is JSON");
    v.as_object_mut()
        .expect("report is an object")
        .remove("seed");
    v
}

#[test]
fn same_scenario_twice_gives_identical_report() {
    let sc = load(None);
    let a = simulate(&sc);
    let b = simulate(&sc);
    // Not a vacuous comparison: the run did something.
    assert!(a.report.pods.created > 0 && a.report.cost.total_usd > 0.0);
    let ja = serde_json::to_string_pretty(&a.report).expect("report serialises");
    let jb = serde_json::to_string_pretty(&b.report).expect("report serialises");
    assert_eq!(ja, jb);
    assert_eq!(a.sim.events, b.sim.events);
}

#[test]
fn same_scenario_twice_writes_identical_output_files() {
    let sc = load(None);
    let tmp = tempfile::tempdir().expect("temp dir");
    let (da, db) = (tmp.path().join("a"), tmp.path().join("b"));
    write(&simulate(&sc), &da);
    write(&simulate(&sc), &db);
    for name in DETERMINISTIC_FILES {
        let (a, b) = (read(&da, name), read(&db, name));
        assert!(!a.is_empty(), "{name} is empty");
        assert_eq!(a, b, "{name} differs between two runs");
    }
}

#[test]
fn cli_run_twice_gives_identical_outputs() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dirs = [tmp.path().join("A"), tmp.path().join("B")];
    for d in &dirs {
        cargo_bin_cmd!("autoscale-sim")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("--quiet")
            .arg("run")
            .arg("scenarios/static-cluster.yaml")
            .arg("--out")
            .arg(d)
            .assert()
            .success();
    }
    for name in DETERMINISTIC_FILES {
        let (a, b) = (read(&dirs[0], name), read(&dirs[1], name));
        assert!(!a.is_empty(), "{name} is empty");
        assert_eq!(a, b, "{name} differs between two CLI runs");
    }
    // run-meta.json is the one file allowed to differ (wall clock); it must still exist.
    for d in &dirs {
        assert!(d.join("run-meta.json").is_file());
    }
}

#[test]
fn a_different_seed_gives_a_different_run() {
    let base = load(None);
    let other = load(Some(base.seed + 1));
    let a = simulate(&base);
    let b = simulate(&other);
    assert_eq!(b.report.seed, base.seed + 1);
    let tmp = tempfile::tempdir().expect("temp dir");
    let (da, db) = (tmp.path().join("a"), tmp.path().join("b"));
    write(&a, &da);
    write(&b, &db);
    // The seed must change what happens, not only the `seed` field.
    assert_ne!(
        report_without_seed(&read(&da, "report.json")),
        report_without_seed(&read(&db, "report.json")),
        "reports of seeds {} and {} are identical apart from the seed",
        base.seed,
        base.seed + 1
    );
    assert_ne!(read(&da, "pods.csv"), read(&db, "pods.csv"));
}

#[test]
fn cli_seed_flag_changes_the_run() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let seeds = [None, Some("1234")];
    let mut reports = Vec::new();
    for (i, seed) in seeds.iter().enumerate() {
        let d = tmp.path().join(format!("out{i}"));
        let mut cmd = cargo_bin_cmd!("autoscale-sim");
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["--quiet", "run", "scenarios/static-cluster.yaml", "--out"])
            .arg(&d);
        if let Some(s) = seed {
            cmd.args(["--seed", s]);
        }
        cmd.assert().success();
        reports.push(read(&d, "report.json"));
    }
    let seeded: serde_json::Value = serde_json::from_str(&reports[1]).expect("JSON");
    assert_eq!(seeded["seed"], 1234, "--seed is reported");
    assert_ne!(
        report_without_seed(&reports[0]),
        report_without_seed(&reports[1]),
        "--seed 1234 simulated the same run as the scenario's seed"
    );
}

// A second run into the same --out replaces the set: the Karpenter run's decisions.jsonl does
// not survive a run (no autoscaler) that writes none.
#[test]
fn a_second_run_into_the_same_out_leaves_no_stale_output() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("out");
    for scenario in [
        "scenarios/examples/startup-taints.yaml",
        "scenarios/static-cluster.yaml",
    ] {
        cargo_bin_cmd!("autoscale-sim")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["--quiet", "run", scenario, "--out"])
            .arg(&out)
            .assert()
            .success();
    }
    assert!(out.join("report.json").is_file());
    assert!(
        !out.join("decisions.jsonl").exists(),
        "decisions.jsonl of the first run survived"
    );
    let report = std::fs::read_to_string(out.join("report.json")).expect("report");
    assert!(report.contains("\"autoscaler\": \"none\""), "{report}");
}
