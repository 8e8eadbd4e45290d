//! `autoscale-sim trace convert` (docs/cli.md): a pod-level trace becomes the generic CSV and
//! a scenario that replays it; the converted trace reads back as the same jobs, and the Azure
//! trace's draws are those a scenario with the same seed makes.

mod common;

use std::fs;

use assert_cmd::cargo::cargo_bin_cmd;
use autoscale_sim::workload::traces::{TraceFormat, TraceOptions, read_trace};
use predicates::str::contains;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(0)
}

#[test]
fn a_converted_azure_trace_reads_back_as_the_jobs_a_scenario_with_that_seed_draws() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = common::repo("data/traces/azure-vm-v1-binned/v1.dev.txt");
    let out = tmp.path().join("az");
    cargo_bin_cmd!("autoscale-sim")
        .args([
            "-q", "trace", "convert", "--format", "azure-vm", "--limit", "300", "--seed", "7",
        ])
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(0);
    // The scenario it wrote loads, with the seed it was converted with.
    let sc = autoscale_sim::workload::Scenario::load(&out.join("scenario.yaml")).expect("loads");
    assert_eq!(sc.seed, 7);
    assert_eq!(sc.traces[0].jobs.len(), 300);
    // The same trace read as a scenario with seed 7 would read it (its first trace's stream).
    let mut draws = ChaCha8Rng::seed_from_u64(autoscale_sim::engine::derive_seed(7, "trace-0"));
    let opts = TraceOptions {
        limit: Some(300),
        ..TraceOptions::default()
    };
    let direct = read_trace(&input, TraceFormat::AzureVm, &opts, &mut draws).expect("reads");
    let back = read_trace(
        &out.join("trace.csv"),
        TraceFormat::Generic,
        &TraceOptions::default(),
        &mut rng(),
    )
    .expect("the CSV reads back");
    assert_eq!(back.len(), direct.len());
    for (a, b) in direct.iter().zip(&back) {
        assert_eq!(
            (a.arrival_ms, a.duration_ms, a.cpu_m, a.gpu),
            (b.arrival_ms, b.duration_ms, b.cpu_m, b.gpu),
            "{} vs {}",
            a.name,
            b.name
        );
        // Memory is written in whole MiB, rounded up.
        assert!(b.memory_bytes >= a.memory_bytes && b.memory_bytes - a.memory_bytes < 1 << 20);
    }
}

#[test]
fn converting_twice_gives_the_same_bytes_and_a_bad_trace_a_located_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = common::repo("data/traces/alibaba-gpu-v2023-openb/openb_pod_list_default.csv");
    let run = |dir: &str| {
        let out = tmp.path().join(dir);
        cargo_bin_cmd!("autoscale-sim")
            .args([
                "-q",
                "trace",
                "convert",
                "--format",
                "openb",
                "--limit",
                "200",
                "--time-scale",
                "0.1",
            ])
            .arg(&input)
            .arg("--out")
            .arg(&out)
            .assert()
            .code(0);
        (
            fs::read(out.join("trace.csv")).expect("csv"),
            fs::read(out.join("scenario.yaml")).expect("scenario"),
        )
    };
    assert_eq!(run("a"), run("b"));
    let bad = tmp.path().join("bad.csv");
    fs::write(
        &bad,
        "arrival_s,duration_s,cpu_m,memory_mib\n0,10,500,512\n5,-1,500,512\n",
    )
    .expect("write");
    cargo_bin_cmd!("autoscale-sim")
        .args(["trace", "convert", "--format", "generic"])
        .arg(&bad)
        .arg("--out")
        .arg(tmp.path().join("c"))
        .assert()
        .code(2)
        .stderr(contains("bad.csv:3"));
    assert!(
        !tmp.path().join("c").exists(),
        "nothing written for a bad trace"
    );
}
