//! Resource bounds and interrupts (issue 18): a scenario too big for the machine is refused at
//! load with a located error and exit 2 — before anything runs — naming the field, its line,
//! the estimate and the limit; the limits can be raised; `run --max-wall` stops cleanly with
//! partial outputs marked; Ctrl-C and SIGTERM stop a run with 130/143 and change nothing in
//! `--out`. docs/scenario.md "Size limits" and docs/cli.md document them.

use std::path::Path;
use std::process::Command as Std;
use std::time::{Duration, Instant};

use assert_cmd::Command;

fn bin() -> Command {
    Command::cargo_bin("autoscale-sim").expect("the autoscale-sim binary is built")
}

/// A small scenario: `spec_extra` is added under `spec:`, `replicas` is the Deployment's.
fn scenario(spec_extra: &str, replicas: u64) -> String {
    format!(
        "apiVersion: autoscale-sim/v1alpha1
kind: Scenario
metadata:
  name: limits
spec:
  seed: 1
  duration: 2h
  autoscaler: none
{spec_extra}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
        - name: web
          image: nginx
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
---
apiVersion: v1
kind: Pod
metadata:
  name: task
spec:
  containers:
    - name: t
      image: busybox
      resources:
        requests: {{cpu: 100m, memory: 64Mi}}
"
    )
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write the scenario");
    p
}

/// `validate` and `run` both refuse `file` with exit 2 and one error line containing every
/// piece of `want`; nothing is written to `--out`.
fn refused(file: &Path, want: &[&str]) {
    let out_dir = file.parent().expect("dir").join("out");
    for args in [vec!["validate"], vec!["run", "--out"]] {
        let mut cmd = bin();
        cmd.args(&args);
        if args.len() == 2 {
            cmd.arg(&out_dir);
        }
        let started = Instant::now();
        let out = cmd.arg(file).assert().code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        for w in want {
            assert!(stderr.contains(w), "{args:?}: expected {w:?} in:\n{stderr}");
        }
        // Refused from the files alone: long before anything could have run.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{args:?} took {:?}",
            started.elapsed()
        );
        assert!(!out_dir.exists(), "{args:?} wrote {}", out_dir.display());
    }
}

#[test]
fn a_hundred_million_static_nodes_are_refused_at_their_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(
        dir.path(),
        "s.yaml",
        &scenario(
            "  staticNodes:\n    - {instanceType: m5.large, count: 100000000}",
            1,
        ),
    );
    refused(
        &f,
        &[
            "s.yaml:10: spec.staticNodes[0].count:",
            "about 100,000,000 nodes",
            "the limit is 100,000",
            "--max-nodes",
        ],
    );
}

#[test]
fn two_billion_replicas_are_refused_at_the_deployment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(
        dir.path(),
        "s.yaml",
        &scenario(
            "  staticNodes:\n    - {instanceType: m5.large, count: 2}",
            2_000_000_000,
        ),
    );
    refused(
        &f,
        &[
            "s.yaml:17: Deployment/web: spec.replicas:",
            // The Deployment's and the one Pod's.
            "about 2,000,000,001 pods at once",
            "the limit is 2,000,000",
            "--max-pods",
        ],
    );
}

#[test]
fn a_poisson_rate_of_1e15_per_hour_is_refused_at_the_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(
        dir.path(),
        "s.yaml",
        &scenario(
            "  generators:\n    - poisson: {ratePerHour: 1e15, template: {pod: task}, duration: {constant: 1m}}",
            1,
        ),
    );
    refused(
        &f,
        &[
            "s.yaml:10: spec.generators[0].poisson.ratePerHour:",
            // 1e15/h × a minute each.
            "about 16,666,666,666,669 pods at once",
            "--max-pods",
        ],
    );
}

#[test]
fn a_years_long_duration_is_refused_for_its_periodic_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(
        dir.path(),
        "s.yaml",
        &scenario("", 1).replace("2h", "2000000h"),
    );
    refused(
        &f,
        &["s.yaml:7: spec.duration:", "periodic loops", "--max-events"],
    );
}

#[test]
fn the_limits_can_be_raised_and_validate_prints_the_estimate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(dir.path(), "s.yaml", &scenario("", 3_000_000));
    bin().arg("validate").arg(&f).assert().code(2);
    let out = bin()
        .args(["validate", "--max-pods", "4000000"])
        .arg(&f)
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("size: up to 3,000,001 pods at once"),
        "{stdout}"
    );
}

#[test]
fn every_shipped_scenario_is_within_the_default_limits() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["scenarios", "scenarios/perf"] {
        for e in std::fs::read_dir(root.join(dir)).expect("scenarios") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "yaml")
                && std::fs::read_to_string(&p).is_ok_and(|t| t.contains("\nkind: Scenario"))
            {
                files.push(p);
            }
        }
    }
    files.sort();
    bin().arg("validate").args(&files).assert().code(0);
}

/// A scenario that takes several seconds: a week of Poisson arrivals onto a fixed cluster.
fn long_scenario(dir: &Path) -> std::path::PathBuf {
    let text = scenario(
        "  staticNodes:\n    - {instanceType: m5.4xlarge, count: 20}\n  generators:\n    - poisson: {ratePerHour: 2000, template: {pod: task}, duration: {constant: 2m}}",
        10,
    )
    .replace("duration: 2h", "duration: 2000h");
    write(dir, "long.yaml", &text)
}

#[test]
fn max_wall_stops_the_run_and_marks_the_outputs_partial() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = long_scenario(dir.path());
    let out = dir.path().join("out");
    let res = bin()
        .args(["run", "-q", "--max-wall", "1s", "--out"])
        .arg(&out)
        .arg(&f)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&res.get_output().stderr).into_owned();
    assert!(stderr.contains("stopped by --max-wall"), "{stderr}");
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("run-meta.json")).expect("run-meta.json"),
    )
    .expect("json");
    let at = meta["stopped_at_seconds"]
        .as_f64()
        .expect("stopped_at_seconds");
    assert!(at > 0.0 && at < 2000.0 * 3600.0, "{meta}");
    assert_eq!(meta["simulated_seconds"].as_f64(), Some(at));
    assert!(out.join("report.json").exists());
}

#[cfg(unix)]
fn interrupted_by(signal: &str, code: i32) {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = long_scenario(dir.path());
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).expect("mkdir");
    std::fs::write(out.join("report.json"), "an earlier run's").expect("write");
    let exe = assert_cmd::cargo::cargo_bin("autoscale-sim");
    let mut child = Std::new(exe)
        .args(["run", "-q", "--out"])
        .arg(&out)
        .arg(&f)
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    let sent = Instant::now();
    let kill = Std::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = child.wait().expect("wait");
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(code), "{status:?}");
    assert!(
        took < Duration::from_secs(5),
        "stopped {took:?} after the signal"
    );
    // The earlier outputs are as they were, and nothing else is beside them.
    assert_eq!(
        std::fs::read_to_string(out.join("report.json")).expect("read"),
        "an earlier run's"
    );
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["long.yaml", "out"]);
}

#[cfg(unix)]
#[test]
fn ctrl_c_during_a_run_exits_130_and_changes_nothing_in_out() {
    interrupted_by("-INT", 130);
}

#[cfg(unix)]
#[test]
fn sigterm_during_a_run_exits_143_and_changes_nothing_in_out() {
    interrupted_by("-TERM", 143);
}

#[test]
fn a_million_short_tasks_an_hour_for_a_year_are_refused_for_their_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(
        dir.path(),
        "s.yaml",
        &scenario(
            "  generators:\n    - poisson: {ratePerHour: 1000000, template: {pod: task}, duration: {constant: 1s}}",
            1,
        )
        .replace("2h", "8760h"),
    );
    refused(
        &f,
        &[
            "s.yaml:10: spec.generators[0].poisson.ratePerHour:",
            "events (estimate; the limit is 50,000,000)",
            "--max-events",
        ],
    );
}

#[test]
fn a_timeline_step_every_millisecond_is_refused_before_it_is_expanded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(
        dir.path(),
        "s.yaml",
        &scenario(
            "  timeline:\n    - every: 1ms\n      scale: {deployment: web, replicas: 2}",
            1,
        )
        .replace("2h", "360h"),
    );
    refused(
        &f,
        &[
            "s.yaml:10: spec.timeline[0]",
            "fires 1,296,000,000 times",
            "1,000,000",
        ],
    );
}
