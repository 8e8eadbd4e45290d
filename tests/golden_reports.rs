//! Golden reports: every shipped scenario with a baseline in `reports/<name>/<autoscaler>/` gives
//! exactly that `report.json` and `report.md`, byte for byte, and a decision log with exactly
//! the digest in `decisions.digest` (the log itself is too large to keep). `.ci/run`'s `check` compares the
//! headline keys within ±5 % (what a user's CI wants); this test is the strict form that any
//! change of behaviour trips, so a change to a shipped report is always deliberate: rerun
//! `autoscale-sim check <scenarios> --baseline reports --update-baseline` and say why in the
//! commit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use autoscale_sim::report::{decisions_digest, report_json, report_md};
use autoscale_sim::run::run_to_end;
use autoscale_sim::workload::{AutoscalerKind, Scenario};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `kind: Scenario` file under `scenarios/` except the performance ones, by scenario name.
fn shipped_scenarios() -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root().join("scenarios")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("scenarios dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "perf") {
                    dirs.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read scenario");
            if !text.lines().any(|l| l == "kind: Scenario") {
                continue;
            }
            let sc = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            out.insert(sc.name.clone(), path);
        }
    }
    out
}

fn kind(dir_name: &str) -> AutoscalerKind {
    match dir_name {
        "karpenter" => AutoscalerKind::Karpenter,
        "cluster-autoscaler" => AutoscalerKind::ClusterAutoscaler,
        "none" => AutoscalerKind::None,
        other => panic!("unknown autoscaler directory {other:?} in reports/"),
    }
}

#[test]
fn every_shipped_scenario_reproduces_its_baseline_byte_for_byte() {
    let scenarios = shipped_scenarios();
    let mut checked = 0;
    let mut differences = Vec::new();
    let mut baselines: Vec<PathBuf> = std::fs::read_dir(root().join("reports"))
        .expect("reports dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    baselines.sort();
    for dir in baselines {
        let name = dir.file_name().and_then(|n| n.to_str()).expect("name");
        let Some(path) = scenarios.get(name) else {
            differences.push(format!("reports/{name}: no shipped scenario has that name"));
            continue;
        };
        let sc = Scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
        let mut sides: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("baseline dir")
            .map(|e| e.expect("entry").path())
            .collect();
        sides.sort();
        for side in sides {
            let auto = side.file_name().and_then(|n| n.to_str()).expect("name");
            let out = run_to_end(&sc, kind(auto)).unwrap_or_else(|e| panic!("{name}: {e}"));
            for (file, got) in [
                ("report.json", report_json(&out.report)),
                ("report.md", report_md(&out.report)),
                ("decisions.digest", decisions_digest(out.sim.decisions())),
            ] {
                let want = std::fs::read_to_string(side.join(file))
                    .unwrap_or_else(|e| panic!("reports/{name}/{auto}/{file}: {e}"));
                if got != want {
                    differences.push(format!("reports/{name}/{auto}/{file} differs"));
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} baselines found");
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
