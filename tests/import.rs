//! `autoscale-sim import cluster` / `import history` and the `replicas` trace format, through
//! the CLI: fixtures in their real formats (tests/fixtures/import/, the shipped dump under
//! scenarios/imported-example/dump/) converted, validated and replayed; bad rows located with
//! exit 2; the same input giving the same bytes.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::str::contains;

use autoscale_sim::workload::{Action, Scenario};

fn fixture(name: &str) -> PathBuf {
    common::repo(&format!("tests/fixtures/import/{name}"))
}

fn cli() -> assert_cmd::Command {
    cargo_bin_cmd!("autoscale-sim")
}

/// The (time, replicas) of every scale step of workload `name`.
fn scale_steps(s: &Scenario, name: &str) -> Vec<(u64, u32)> {
    s.timeline
        .iter()
        .filter_map(|t| match t.action {
            Action::Scale { workload, replicas } if s.workloads[workload].name == name => {
                Some((t.at_ms, replicas))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_replicas_trace_becomes_scale_steps_and_runs() {
    let s = Scenario::load(&fixture("history-scenario.yaml")).expect("loads");
    // history.csv: 600 s repeats 10m's count and is still a step (the loader replays what it
    // is given; `import history` is what drops repeats).
    assert_eq!(
        scale_steps(&s, "web"),
        [(0, 2), (600_000, 6), (600_000, 6), (1_800_000, 3)]
    );
    assert_eq!(scale_steps(&s, "db"), [(1_200_000, 2)]);
    let dir = tempfile::tempdir().unwrap();
    cli()
        .args(["-q", "run"])
        .arg(fixture("history-scenario.yaml"))
        .arg("--out")
        .arg(dir.path().join("out"))
        .assert()
        .success();
}

/// A copy of history-scenario.yaml reading `csv` instead of history.csv.
fn scenario_with_history(dir: &Path, csv: &str) -> PathBuf {
    fs::copy(fixture(csv), dir.join(csv)).unwrap();
    let text = fs::read_to_string(fixture("history-scenario.yaml"))
        .unwrap()
        .replace("path: history.csv", &format!("path: {csv}"));
    let p = dir.join("scenario.yaml");
    fs::write(&p, text).unwrap();
    p
}

#[test]
fn bad_history_rows_are_located_and_exit_2() {
    let cases = [
        (
            "history-bad.csv",
            ":3: column `replicas`: expected a whole number of replicas ≥ 0, found negative `-3`",
        ),
        (
            "history-unknown.csv",
            ":3: column `name`: no Deployment named \"api\" in namespace \"shop\"",
        ),
        (
            "history-late.csv",
            ":3: column `time`: 3h0m0s is past the scenario's duration (1h0m0s)",
        ),
    ];
    for (csv, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        let scenario = scenario_with_history(dir.path(), csv);
        cli()
            .arg("validate")
            .arg(&scenario)
            .assert()
            .code(2)
            .stderr(contains(format!("{csv}{message}")))
            .stderr(contains("(trace of spec.traces[0] at"));
    }
    // `import history` checks the same rows.
    let dir = tempfile::tempdir().unwrap();
    cli()
        .args(["import", "history"])
        .arg(fixture("history-bad.csv"))
        .args(["--format", "csv", "--out"])
        .arg(dir.path().join("out"))
        .assert()
        .code(2)
        .stderr(contains("history-bad.csv:3: column `replicas`"));
}

fn import_history(file: &str, format: &str, out: &Path) {
    cli()
        .args(["-q", "import", "history"])
        .arg(fixture(file))
        .args(["--format", format, "--out"])
        .arg(out)
        .assert()
        .success();
}

#[test]
fn csv_history_is_normalised() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    import_history("history.csv", "csv", &out);
    assert_eq!(
        fs::read_to_string(out.join("history.csv")).unwrap(),
        "time,namespace,kind,name,replicas\n\
         0s,shop,Deployment,web,2\n\
         10m0s,shop,Deployment,web,6\n\
         20m0s,shop,StatefulSet,db,2\n\
         30m0s,shop,Deployment,web,3\n"
    );
}

#[test]
fn prometheus_history_is_step_aligned_changes_only_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    import_history("prometheus.json", "prometheus", &out);
    let csv = fs::read_to_string(out.join("history.csv")).unwrap();
    // 1714565400.001 is aligned to the 300 s step; repeated values are dropped.
    assert_eq!(
        csv,
        "time,namespace,kind,name,replicas\n\
         0s,shop,Deployment,web,2\n\
         0s,shop,StatefulSet,db,2\n\
         10m0s,shop,Deployment,web,5\n\
         20m0s,shop,Deployment,web,3\n\
         20m0s,shop,StatefulSet,db,3\n"
    );
    // Replayed by the fixture scenario in place of its own history.
    fs::copy(out.join("history.csv"), dir.path().join("prom.csv")).unwrap();
    let text = fs::read_to_string(fixture("history-scenario.yaml"))
        .unwrap()
        .replace("path: history.csv", "path: prom.csv");
    let scenario = dir.path().join("scenario.yaml");
    fs::write(&scenario, text).unwrap();
    let s = Scenario::load(&scenario).expect("loads");
    assert_eq!(
        scale_steps(&s, "web"),
        [(0, 2), (600_000, 5), (1_200_000, 3)]
    );
    assert_eq!(scale_steps(&s, "db"), [(0, 2), (1_200_000, 3)]);
}

#[test]
fn kubereplay_capture_converts_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    import_history("kubereplay.json", "kubereplay", &out);
    let csv = fs::read_to_string(out.join("history.csv")).unwrap();
    assert_eq!(
        csv,
        "time,namespace,kind,name,replicas\n\
         10m0s,shop,Deployment,web,8\n\
         40m0s,shop,Deployment,web,3\n\
         50m0s,shop,Deployment,web,0\n"
    );
    let workloads = fs::read_to_string(out.join("workloads.yaml")).unwrap();
    assert!(workloads.contains("kind: Deployment"), "{workloads}");
    assert!(workloads.contains("kind: Job"), "{workloads}");
    assert!(!workloads.contains("resourceVersion"), "{workloads}");
    let s = Scenario::load(&out.join("scenario.yaml")).expect("the written scenario loads");
    assert_eq!(s.duration_ms, 2 * 3_600_000);
    assert_eq!(
        scale_steps(&s, "web"),
        [(600_000, 8), (2_400_000, 3), (3_000_000, 0)]
    );
    // The Job is created by a timeline apply at its event's time, as a Job.
    let applies: Vec<(u64, &str)> = s
        .timeline
        .iter()
        .filter_map(|t| match t.action {
            Action::Apply { workload, .. } => Some((t.at_ms, s.workloads[workload].kind.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(applies, [(900_250, "Job")]);
    cli()
        .args(["-q", "run"])
        .arg(out.join("scenario.yaml"))
        .arg("--out")
        .arg(dir.path().join("run"))
        .assert()
        .success();
}

fn import_example(out: &Path, extra: &[&str]) {
    let dump = common::repo("scenarios/imported-example/dump");
    cli()
        .args(["-q", "import", "cluster"])
        .arg(dump.join("workloads.yaml"))
        .arg(dump.join("karpenter.yaml"))
        .arg(dump.join("nodes.yaml"))
        .args(extra)
        .arg("--out")
        .arg(out)
        .assert()
        .success();
}

fn read_tree(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                files.push((rel, fs::read_to_string(&p).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn the_shipped_dump_imports_validates_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("imported");
    import_example(&out, &[]);
    let s = Scenario::load(&out.join("scenario.yaml")).expect("the imported scenario loads");
    assert_eq!(s.region, "us-west-2");
    assert_eq!(s.zones, ["us-west-2a", "us-west-2b", "us-west-2c"]);
    // 3 system node-group nodes and 2 unmanaged ones are static; Karpenter's 7 are not.
    assert_eq!(s.nodes.len(), 0);
    let statics: u32 = s.spec.static_nodes.iter().map(|n| n.count).sum();
    assert_eq!(statics, 5);
    let report = fs::read_to_string(out.join("import-report.md")).unwrap();
    for needle in [
        "| Service | shop/storefront | the simulator does not read Service |",
        "created by CronJob/nightly-report",
        "weekly-cleanup",
        "| general | 5 |",
        "node group system",
    ] {
        assert!(report.contains(needle), "{needle}\n{report}");
    }
    let deployments = fs::read_to_string(out.join("manifests/deployments.yaml")).unwrap();
    for gone in [
        "managedFields",
        "resourceVersion",
        "uid:",
        "last-applied",
        "status:",
    ] {
        assert!(!deployments.contains(gone), "{gone}");
    }
    // A CronJob with an every-N-minutes schedule is a repeating apply of its Job.
    assert!(
        s.timeline
            .iter()
            .any(|t| matches!(t.action, Action::Apply { .. }) && t.at_ms == 1_800_000)
    );
    cli()
        .args(["-q", "run"])
        .arg(out.join("scenario.yaml"))
        .arg("--out")
        .arg(dir.path().join("run"))
        .assert()
        .success();
    // Same dump, same bytes.
    let again = dir.path().join("again");
    import_example(&again, &[]);
    assert_eq!(read_tree(&out), read_tree(&again));
}

#[test]
fn an_anonymized_import_still_loads_and_hides_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("anon");
    import_example(&out, &["--anonymize", "--anonymize-key", "k1"]);
    let s = Scenario::load(&out.join("scenario.yaml")).expect("anonymized scenario loads");
    assert!(s.workloads.iter().all(|w| w.name != "storefront"));
    for (name, text) in read_tree(&out) {
        for secret in [
            "storefront",
            "payments",
            "nightly-report",
            "shop-prod",
            "dkr.ecr",
            "LOG_LEVEL",
        ] {
            assert!(!text.contains(secret), "{secret} in {name}");
        }
    }
    // PDBs and topology spread still select their pods: every PDB matches some workload.
    assert!(!s.pdbs.is_empty());
    let hpas = fs::read_to_string(out.join("manifests/horizontalpodautoscalers.yaml")).unwrap();
    let deployments = fs::read_to_string(out.join("manifests/deployments.yaml")).unwrap();
    let target = hpas
        .lines()
        .skip_while(|l| !l.contains("scaleTargetRef"))
        .find_map(|l| l.trim().strip_prefix("name: "))
        .expect("an HPA target");
    assert!(
        deployments.contains(&format!("name: {target}\n")),
        "{target}"
    );
}
