//! Platform-independent numbers (issue 18, crates/core/src/math.rs): the values `selftest`
//! pins — transcendental functions, random draws, whole reports — are what this platform
//! computes, and the pinned reports are the baselines in `reports/`. A platform whose math
//! differs fails here (and in `autoscale-sim selftest`) instead of drifting from baselines
//! made elsewhere.

use std::path::Path;

use autoscale_sim::selftest;

fn failures(checks: &[selftest::Pinned]) -> String {
    selftest::render(checks.iter().filter(|c| !c.pass()))
}

#[test]
fn pinned_function_values_and_draws_match_on_this_platform() {
    let checks = selftest::numbers();
    assert!(checks.len() >= 20);
    assert!(
        checks.iter().all(selftest::Pinned::pass),
        "{}",
        failures(&checks)
    );
}

#[test]
fn pinned_reports_match_on_this_platform() {
    let checks = selftest::reports().expect("the embedded scenarios run");
    assert_eq!(checks.len(), 2 * selftest::SCENARIOS.len());
    assert!(
        checks.iter().all(selftest::Pinned::pass),
        "{}",
        failures(&checks)
    );
}

/// The pins are the shipped baselines: a change that rewrites `reports/` must update them
/// (the values to write are in this test's failure message).
#[test]
fn pinned_reports_are_the_shipped_baselines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, text, autoscaler, report_hash, digest) in selftest::SCENARIOS {
        let shipped = std::fs::read_to_string(root.join(format!("scenarios/{name}.yaml")))
            .expect("the shipped scenario");
        assert_eq!(
            text, shipped,
            "{name}: the embedded copy is the shipped file"
        );
        let dir = root.join("reports").join(name).join(autoscaler);
        let json = std::fs::read(dir.join("report.json")).expect("baseline report.json");
        let base_digest =
            std::fs::read_to_string(dir.join("decisions.digest")).expect("baseline digest");
        assert_eq!(
            (report_hash, digest),
            (selftest::fnv1a64(&json), base_digest.trim_end()),
            "{name}/{autoscaler}: update src/selftest.rs SCENARIOS to the baseline's values \
             (report hash {:#018x})",
            selftest::fnv1a64(&json)
        );
    }
}

/// The command itself: every pin matches, exit 0.
#[test]
fn selftest_command_passes() {
    let out = assert_cmd::Command::cargo_bin("autoscale-sim")
        .expect("binary")
        .arg("selftest")
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("selftest: all"), "{stdout}");
}
