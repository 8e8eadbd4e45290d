//! `autoscale-sim check` through the CLI: `expect` thresholds, baselines within a tolerance,
//! `--update-baseline`, JUnit XML, and the exit codes 0 / 1 / 2 (docs/design.md §11).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::str::contains;

fn scenario(name: &str) -> PathBuf {
    common::shipped(name)
}

/// static-cluster.yaml with its cost threshold replaced by `cost_max`, in `dir`.
fn static_with_cost_max(dir: &Path, cost_max: &str) -> PathBuf {
    let text = fs::read_to_string(scenario("static-cluster.yaml")).expect("scenario readable");
    let needle = "cost.total_usd: {max: 3}";
    assert!(
        text.contains(needle),
        "static-cluster.yaml changed its expect block"
    );
    let path = dir.join("static-cluster.yaml");
    fs::write(
        &path,
        text.replace(needle, &format!("cost.total_usd: {{max: {cost_max}}}")),
    )
    .expect("scenario written");
    path
}

fn check() -> assert_cmd::Command {
    let mut c = cargo_bin_cmd!("autoscale-sim");
    c.arg("--quiet").arg("check");
    c
}

/// (tests, failures, errors) of a JUnit file, read with an XML parser.
fn junit_counts(path: &Path) -> (usize, usize, usize) {
    let text = fs::read_to_string(path).expect("junit written");
    let doc = roxmltree::Document::parse(&text).expect("JUnit XML parses");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let attr = |n: &str| -> usize {
        root.attribute(n)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("testsuites has no numeric {n}"))
    };
    let cases = root
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(cases, attr("tests"), "tests= counts the testcases");
    let failures = root
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .count();
    assert_eq!(failures, attr("failures"));
    (attr("tests"), attr("failures"), attr("errors"))
}

#[test]
fn passing_thresholds_exit_0_and_write_junit() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let junit = tmp.path().join("out/junit.xml");
    check()
        .arg(scenario("static-cluster.yaml"))
        .arg("--junit")
        .arg(&junit)
        .assert()
        .code(0);
    let (tests, failures, errors) = junit_counts(&junit);
    assert_eq!(
        (tests, failures, errors),
        (2, 0, 0),
        "two expect thresholds"
    );
}

#[test]
fn a_broken_threshold_exits_1_and_names_the_key() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = static_with_cost_max(tmp.path(), "1");
    let junit = tmp.path().join("junit.xml");
    check()
        .arg(&path)
        .arg("--junit")
        .arg(&junit)
        .assert()
        .code(1)
        .stdout(contains("FAIL"))
        .stdout(contains("expect cost.total_usd"))
        .stdout(contains("above the maximum 1"));
    let (_, failures, errors) = junit_counts(&junit);
    assert_eq!((failures, errors), (1, 0));
}

#[test]
fn baseline_regression_beyond_tolerance_exits_1_and_within_passes() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let base = tmp.path().join("baseline");
    check()
        .arg(scenario("static-cluster.yaml"))
        .arg("--baseline")
        .arg(&base)
        .arg("--update-baseline")
        .assert()
        .code(0);
    let file = base.join("static-cluster/none/report.json");
    assert!(base.join("static-cluster/none/report.md").is_file());
    // Unchanged: passes.
    check()
        .arg(scenario("static-cluster.yaml"))
        .arg("--baseline")
        .arg(&base)
        .assert()
        .code(0);
    // A baseline 20 % cheaper: today's run costs 25 % more than it.
    let mut report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&file).expect("baseline written"))
            .expect("baseline is JSON");
    let cost = report["cost"]["total_usd"]
        .as_f64()
        .expect("cost is a number");
    report["cost"]["total_usd"] = serde_json::json!(cost * 0.8);
    fs::write(&file, serde_json::to_string_pretty(&report).expect("json")).expect("write");
    let junit = tmp.path().join("junit.xml");
    cargo_bin_cmd!("autoscale-sim")
        .arg("check")
        .arg(scenario("static-cluster.yaml"))
        .arg("--baseline")
        .arg(&base)
        .arg("--tolerance")
        .arg("5")
        .arg("--junit")
        .arg(&junit)
        .assert()
        .code(1)
        .stdout(contains("baseline cost.total_usd"))
        .stdout(contains("regressed"));
    let (_, failures, _) = junit_counts(&junit);
    assert_eq!(failures, 1, "only the cost regressed");
    // Within a 30 % tolerance it passes.
    check()
        .arg(scenario("static-cluster.yaml"))
        .arg("--baseline")
        .arg(&base)
        .arg("--tolerance")
        .arg("30")
        .assert()
        .code(0);
}

// A baseline written with another report schema compares keys that no longer mean the same:
// it is an error asking for --update-baseline, not a pass or a regression.
#[test]
fn a_baseline_of_another_report_schema_is_an_error() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let base = tmp.path().join("baseline");
    check()
        .arg(scenario("static-cluster.yaml"))
        .arg("--baseline")
        .arg(&base)
        .arg("--update-baseline")
        .assert()
        .code(0);
    let file = base.join("static-cluster/none/report.json");
    let mut report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&file).expect("baseline written"))
            .expect("baseline is JSON");
    report["schema_version"] = serde_json::json!(1);
    fs::write(&file, serde_json::to_string_pretty(&report).expect("json")).expect("write");
    let out = check()
        .arg(scenario("static-cluster.yaml"))
        .arg("--baseline")
        .arg(&base)
        .assert()
        .failure();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.get_output().stdout),
        String::from_utf8_lossy(&out.get_output().stderr)
    );
    assert!(all.contains("report schema 1"), "{all}");
    assert!(all.contains("--update-baseline"), "{all}");
}

#[test]
fn every_autoscaler_named_in_expect_is_checked() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let base = tmp.path().join("baseline");
    check()
        .arg(scenario("ca-vs-karpenter.yaml"))
        .arg("--baseline")
        .arg(&base)
        .arg("--update-baseline")
        .assert()
        .code(0);
    for a in ["karpenter", "cluster-autoscaler"] {
        assert!(
            base.join("ca-vs-karpenter")
                .join(a)
                .join("report.json")
                .is_file(),
            "no baseline for {a}"
        );
    }
}

#[test]
fn bad_input_exits_2_with_an_error_case() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let junit = tmp.path().join("junit.xml");
    check()
        .arg(tmp.path().join("missing.yaml"))
        .arg(scenario("static-cluster.yaml"))
        .arg("--junit")
        .arg(&junit)
        .assert()
        .code(2)
        .stderr(contains("missing.yaml"));
    let (_, failures, errors) = junit_counts(&junit);
    assert_eq!((failures, errors), (0, 1), "the good scenario still ran");
}

#[test]
fn update_baseline_needs_a_baseline_dir() {
    check()
        .arg(scenario("static-cluster.yaml"))
        .arg("--update-baseline")
        .assert()
        .code(2)
        .stderr(contains("--baseline"));
}
