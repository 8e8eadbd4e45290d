//! Without cargo feature `live`, `autoscale-sim live …` says how to get it and exits 2
//! (docs/live.md; docs/design.md §14).
#![cfg(not(feature = "live"))]

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::str::contains;

#[test]
fn live_without_the_feature_says_how_to_build_it() {
    cargo_bin_cmd!("autoscale-sim")
        .args([
            "live",
            "catalog-sync",
            "--region",
            "us-east-1",
            "--out",
            "x",
        ])
        .assert()
        .code(2)
        .stdout("")
        .stderr(contains("live mode is not in this build"))
        .stderr(contains("cargo build --release --features live"));
}
