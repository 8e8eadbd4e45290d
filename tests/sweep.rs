//! `autoscale-sim sweep` through the CLI (docs/sweep.md, docs/design.md §13): the outputs are
//! the same bytes whatever the number of workers or shards, bad sweep files get located errors
//! (exit 2), a variant that fails is reported while the others run (exit 1), and the Indexed
//! Job of docs/sweep.md is a valid Kubernetes Job.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::str::contains;

/// A sweep over `karpenter-spike.yaml` (a 1-hour burst, a fraction of a second per run).
fn write_sweep(dir: &Path, body: &str) -> PathBuf {
    let base = common::shipped("karpenter-spike.yaml");
    let text = format!(
        "apiVersion: autoscale-sim/v1alpha1\nkind: Sweep\nmetadata:\n  name: t\nspec:\n  scenario: {}\n{body}",
        base.display()
    );
    let path = dir.join("sweep.yaml");
    fs::write(&path, text).expect("write sweep");
    path
}

const GRID: &str = "  seeds: 2
  parameters:
    - name: after
      path: NodePool/default:spec.disruption.consolidateAfter
      values: [0s, 10m]
    - name: categories
      path: NodePool/default:spec.template.spec.requirements[key=karpenter.k8s.aws/instance-category].values
      values: [[c, m, r], [m]]
  objective:
    minimize: cost.total_usd
  constraints:
    - pods.startup_latency_s.p99 <= 120
";

fn sweep(args: &[&str]) -> assert_cmd::Command {
    let mut c = cargo_bin_cmd!("autoscale-sim");
    c.arg("--quiet").arg("sweep").args(args);
    c
}

/// Every file a sweep writes except the wall-clock meta file, by path relative to `dir`.
fn outputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p
                .strip_prefix(dir)
                .expect("prefix")
                .to_string_lossy()
                .into_owned();
            if rel == "sweep-meta.json" || rel.starts_with("shard-") {
                continue;
            }
            out.push((rel, fs::read(&p).expect("read")));
        }
    }
    out.sort();
    out
}

#[test]
fn a_sweep_writes_the_same_bytes_on_one_worker_two_workers_and_three_merged_shards() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = write_sweep(tmp.path(), GRID);
    let f = file.to_str().expect("utf-8");
    let one = tmp.path().join("one");
    let two = tmp.path().join("two");
    sweep(&[f, "--jobs", "1", "--out", one.to_str().expect("utf-8")])
        .assert()
        .code(0);
    sweep(&[f, "--jobs", "2", "--out", two.to_str().expect("utf-8")])
        .assert()
        .code(0);
    let mut shard_dirs = Vec::new();
    for i in 0..3 {
        let d = tmp.path().join(format!("shard{i}"));
        sweep(&[
            f,
            "--jobs",
            "1",
            "--shard",
            &format!("{i}/3"),
            "--out",
            d.to_str().expect("utf-8"),
        ])
        .assert()
        .code(0);
        assert!(d.join(format!("shard-{i}-of-3.json")).is_file());
        shard_dirs.push(d);
    }
    let merged = tmp.path().join("merged");
    let mut m = cargo_bin_cmd!("autoscale-sim");
    m.args(["--quiet", "sweep", "merge"])
        .args(&shard_dirs)
        .arg("--out")
        .arg(&merged)
        .assert()
        .code(0);

    let reference = outputs(&one);
    let names: Vec<&str> = reference.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "sweep.csv",
        "sweep.json",
        "sweep.md",
        "sweep.html",
        "best/diff.md",
        "best/nodepool-default.yaml",
    ] {
        assert!(names.contains(&want), "{want} missing: {names:?}");
    }
    assert_eq!(reference, outputs(&two), "--jobs 2 differs from --jobs 1");
    assert_eq!(
        reference,
        outputs(&merged),
        "3 merged shards differ from one run"
    );

    // One row per (variant, seed): the base and 4 variants, 2 seeds each.
    let csv = common::read(&one.join("sweep.csv"));
    assert_eq!(csv.lines().count(), 1 + 5 * 2, "{csv}");
    assert!(
        csv.lines()
            .next()
            .expect("header")
            .starts_with("variant,label,seed,status,after,categories,")
    );
    let json: serde_json::Value =
        serde_json::from_str(&common::read(&one.join("sweep.json"))).expect("sweep.json");
    assert_eq!(json["variants"][0]["baseline"], true);
    assert!(json["best"].is_string(), "{}", json["best"]);
}

#[test]
fn merge_refuses_a_missing_or_repeated_shard() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = write_sweep(tmp.path(), GRID);
    let f = file.to_str().expect("utf-8");
    let d0 = tmp.path().join("s0");
    sweep(&[f, "--shard", "0/2", "--out", d0.to_str().expect("utf-8")])
        .assert()
        .code(0);
    let mut m = cargo_bin_cmd!("autoscale-sim");
    m.args(["sweep", "merge"])
        .arg(&d0)
        .arg("--out")
        .arg(tmp.path().join("m"))
        .assert()
        .code(2)
        .stderr(contains("missing shard 1/2"));
    let mut m = cargo_bin_cmd!("autoscale-sim");
    m.args(["sweep", "merge"])
        .arg(&d0)
        .arg(&d0)
        .arg("--out")
        .arg(tmp.path().join("m"))
        .assert()
        .code(2)
        .stderr(contains("shard 0/2 twice"));
}

#[test]
fn bad_sweep_files_get_located_errors() {
    let cases = [
        (
            "  parameters:\n    - path: NodePool/nosuch:spec.weight\n      values: [1]\n  objective: {minimize: cost.total_usd}\n",
            "spec.parameters[0].values[0]",
            "no NodePool named \"nosuch\"",
        ),
        (
            "  parameters:\n    - path: NodePool/default:spec.disruption.consolidateAfter\n      values: [1m, banana]\n  objective: {minimize: cost.total_usd}\n",
            "spec.parameters[0].values[1]",
            "banana",
        ),
        (
            "  parameters:\n    - path: NodePool/default:spec.weight\n      values: []\n  objective: {minimize: cost.total_usd}\n",
            "spec.parameters[0].values",
            "empty",
        ),
        (
            "  parameters:\n    - path: NodePool/default:spec.weight\n      values: [1]\n  objective: {minimize: cost.total_usd}\n  constraints: [pods.startup_latency_s.p100 <= 3]\n",
            "spec.constraints[0]",
            "unknown report key",
        ),
        (
            "  parameters:\n    - path: NodePool/default:spec.weight\n      values: [1]\n  objective: {minimize: cost.total_usd}\n  constraints: [disruption.evicted_pods <= 200]\n",
            "spec.constraints[0]",
            "use disruption.pods_disrupted.evicted",
        ),
        (
            "  parameters:\n    - path: NodePool/default:spec.template.spec.requirements[key=nope].values\n      values: [[a]]\n  objective: {minimize: cost.total_usd}\n",
            "spec.parameters[0].values[0]",
            "no item of spec.template.spec.requirements has key=nope",
        ),
        (
            "  parameters:\n    - path: spec.duration\n      range: {from: 1h, to: 2h}\n  objective: {minimize: cost.total_usd}\n",
            "spec.parameters[0].range.step",
            "needs a step",
        ),
        (
            "  parameters:\n    - path: spec.duration\n      values: [1h]\n  objective: {minimize: cost.total_usd}\n  surprise: 1\n",
            "spec",
            "surprise",
        ),
    ];
    for (body, field, needle) in cases {
        let tmp = tempfile::tempdir().expect("tmp");
        let file = write_sweep(tmp.path(), body);
        let out = sweep(&[
            file.to_str().expect("utf-8"),
            "--out",
            tmp.path().join("o").to_str().expect("utf-8"),
        ])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
        let err = String::from_utf8_lossy(&out);
        assert!(
            err.contains("sweep.yaml:") && err.contains(field) && err.contains(needle),
            "{body}\n→ {err}"
        );
        assert!(
            !tmp.path().join("o").exists(),
            "wrote outputs for a bad file"
        );
    }
}

#[test]
fn a_failing_variant_is_reported_and_the_others_still_run() {
    // Each value loads on its own; together, a timeline step lands after the end.
    let tmp = tempfile::tempdir().expect("tmp");
    let file = write_sweep(
        tmp.path(),
        "  parameters:
    - name: duration
      path: spec.duration
      values: [1h, 50m]
    - name: scale-down-at
      path: spec.timeline[1].at
      values: [45m, 55m]
  objective: {minimize: cost.total_usd}
",
    );
    let out = tmp.path().join("o");
    sweep(&[
        file.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ])
    .assert()
    .code(1)
    .stderr(contains("1 run failed"));
    let csv = common::read(&out.join("sweep.csv"));
    assert_eq!(
        csv.lines().filter(|l| l.contains(",ok,")).count(),
        4,
        "{csv}"
    );
    let failed: Vec<&str> = csv.lines().filter(|l| l.contains(",failed,")).collect();
    assert_eq!(failed.len(), 1, "{csv}");
    assert!(
        failed[0].contains("past the scenario duration"),
        "{}",
        failed[0]
    );
    let md = common::read(&out.join("sweep.md"));
    assert!(md.contains("## Failed runs"), "{md}");
    assert!(out.join("best/diff.md").is_file());
}

/// The Indexed Job docs/sweep.md tells users to apply must be a Job Kubernetes accepts: this
/// parses it with k8s-openapi's `Job`, so the example cannot rot.
#[test]
fn the_indexed_job_in_the_sweep_docs_is_a_valid_job() {
    use k8s_openapi::api::batch::v1::Job;
    let doc = common::read(&common::repo("docs/sweep.md"));
    let block = doc
        .split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .find(|b| b.contains("kind: Job"))
        .expect("a ```yaml block with the Job in docs/sweep.md");
    let job: Job = serde_saphyr::from_str(block).expect("the Job parses as batch/v1 Job");
    let spec = job.spec.expect("spec");
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    let n = spec.completions.expect("completions");
    assert!(spec.backoff_limit_per_index.is_some());
    let pod = spec.template.spec.expect("pod spec");
    let args = pod.containers[0].args.clone().unwrap_or_default().join(" ");
    assert!(
        args.contains(&format!("--shard=$(JOB_COMPLETION_INDEX)/{n}")),
        "the shard count must match completions: {args}"
    );
}
