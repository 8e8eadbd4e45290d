//! `autoscale-sim compare` and the HTML reports through the CLI (docs/design.md §10, §11).

mod common;

use common::read;
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::str::contains;

fn scenario(name: &str) -> PathBuf {
    common::shipped(name)
}

fn compare(out: &Path) -> assert_cmd::Command {
    let mut c = cargo_bin_cmd!("autoscale-sim");
    c.arg("--quiet").arg("compare").arg("--out").arg(out);
    c
}

#[test]
fn compare_runs_both_autoscalers_and_writes_every_file() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("cmp");
    compare(&out)
        .arg(scenario("ca-vs-karpenter.yaml"))
        .assert()
        .code(0);
    for f in ["compare.md", "compare.json", "compare.html"] {
        assert!(!read(&out.join(f)).is_empty(), "{f} is empty");
    }
    for run in ["karpenter", "cluster-autoscaler"] {
        for f in [
            "report.json",
            "report.md",
            "report.html",
            "timeseries.csv",
            "nodes.csv",
        ] {
            assert!(out.join(run).join(f).is_file(), "{run}/{f} missing");
        }
    }
    let json: serde_json::Value =
        serde_json::from_str(&read(&out.join("compare.json"))).expect("compare.json is JSON");
    let labels: Vec<&str> = json["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["label"].as_str())
        .collect();
    assert_eq!(labels, ["karpenter", "cluster-autoscaler"]);
    let keys: Vec<&str> = json["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .filter_map(|m| m["key"].as_str())
        .collect();
    for k in [
        "pods.startup_latency_s.p90",
        "nodes.peak",
        "average_nodes",
        "cost.total_usd",
        "spot_share_node_hours",
        "utilization.cpu",
        "cost.per_requested_vcpu_hour",
        "disruption.pods_disrupted.total",
        "disruption.nodes_removed.underutilized",
        "disruption.churn.launches_per_hour",
        "disruption.churn.terminations_per_hour",
    ] {
        assert!(keys.contains(&k), "compare.json lacks {k}");
    }
    // One time-to-capacity row per timeline occurrence (6 steps and 7 batch Jobs), each with
    // a value per run.
    let ttc = json["time_to_capacity"]
        .as_array()
        .expect("time_to_capacity");
    assert_eq!(ttc.len(), 13);
    assert!(
        ttc.iter()
            .all(|r| r["seconds"].as_array().map(Vec::len) == Some(2))
    );
    let md = read(&out.join("compare.md"));
    assert!(
        md.contains("| metric | karpenter | cluster-autoscaler |"),
        "{md}"
    );
    assert!(md.contains("### Time to capacity"));
    let html = read(&out.join("compare.html"));
    assert!(html.contains("<svg"));
    assert!(!html.contains("<script"));
    assert!(html.contains("href=\"karpenter/report.html\""));
}

#[test]
fn compare_is_deterministic() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for d in [&a, &b] {
        compare(d)
            .arg(scenario("karpenter-spike.yaml"))
            .assert()
            .code(0);
    }
    for f in [
        "compare.md",
        "compare.json",
        "compare.html",
        "karpenter/report.html",
    ] {
        assert_eq!(read(&a.join(f)), read(&b.join(f)), "{f} differs");
    }
}

#[test]
fn variants_replace_manifests_of_the_same_kind_and_name() {
    let tmp = tempfile::tempdir().expect("temp dir");
    // The spike's NodePool with a CPU limit of 8: the burst cannot all be placed.
    let spike = read(&scenario("karpenter-spike.yaml"));
    let start = spike
        .find("apiVersion: karpenter.sh/v1")
        .expect("a NodePool");
    let len = spike[start..].find("\n---").expect("more documents follow");
    let nodepool = &spike[start..start + len];
    assert!(nodepool.contains("cpu: 1000"));
    let variant = tmp.path().join("small-limit.yaml");
    fs::write(&variant, nodepool.replace("cpu: 1000", "cpu: 8")).expect("variant written");
    let out = tmp.path().join("cmp");
    compare(&out)
        .arg(scenario("karpenter-spike.yaml"))
        .arg("--variant")
        .arg(&variant)
        .assert()
        .code(0);
    let json: serde_json::Value =
        serde_json::from_str(&read(&out.join("compare.json"))).expect("compare.json is JSON");
    let runs = json["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["label"], "base");
    assert_eq!(runs[1]["label"], "small-limit");
    assert!(
        runs[1]["variant"]
            .as_str()
            .is_some_and(|v| v.ends_with("small-limit.yaml"))
    );
    // The burst needs far more than 8 vCPU: the variant's nodes are capped.
    let peak = |r: &serde_json::Value| r["report"]["nodes"]["peak"].as_u64().expect("peak");
    assert!(
        peak(&runs[1]) < peak(&runs[0]),
        "the CPU limit capped the nodes"
    );
    assert!(out.join("small-limit/report.json").is_file());
}

#[test]
fn compare_without_autoscalers_or_variants_is_bad_input() {
    let tmp = tempfile::tempdir().expect("temp dir");
    compare(&tmp.path().join("cmp"))
        .arg(scenario("static-cluster.yaml"))
        .assert()
        .code(2)
        .stderr(contains("nothing to compare"));
}

#[test]
fn a_variant_with_a_scenario_document_is_bad_input() {
    let tmp = tempfile::tempdir().expect("temp dir");
    compare(&tmp.path().join("cmp"))
        .arg(scenario("karpenter-spike.yaml"))
        .arg("--variant")
        .arg(scenario("static-cluster.yaml"))
        .assert()
        .code(2)
        .stderr(contains("Scenario document"));
}

#[test]
fn run_writes_a_self_contained_report_html() {
    let tmp = tempfile::tempdir().expect("temp dir");
    cargo_bin_cmd!("autoscale-sim")
        .arg("--quiet")
        .arg("run")
        .arg(scenario("static-cluster.yaml"))
        .arg("--out")
        .arg(tmp.path())
        .assert()
        .code(0);
    let html = read(&tmp.path().join("report.html"));
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        html.matches("<svg").count() >= 5,
        "nodes, pods, cost, latency, instance types"
    );
    for needle in [
        "Nodes by capacity type",
        "Pending",
        "Cost accumulated",
        "startup latency",
        "m5.xlarge",
    ] {
        assert!(
            html.to_lowercase().contains(&needle.to_lowercase()),
            "report.html lacks {needle}"
        );
    }
    assert!(!html.contains("<script"));
    assert!(!html.contains("<link"), "no external stylesheet");
}
