//! Every failure `tests/fuzz.rs` found, as the minimal input that reproduced it, each fixed at
//! its source (docs/testing.md "Fuzzing"). Each test runs `autoscale-sim validate` (or the
//! reader) on the input and checks the located error that replaced the failure.

use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::Command;

/// `autoscale-sim validate FILE` in `dir`: exit 2, one stderr line, which starts with `prefix`
/// and contains `message`.
fn validate_fails(dir: &Path, file: &str, prefix: &str, message: &str) {
    let out = Command::cargo_bin("autoscale-sim")
        .expect("the autoscale-sim binary is built")
        .current_dir(dir)
        .args(["validate", file])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one error line, got:\n{stderr}");
    assert!(
        lines[0].starts_with(prefix),
        "expected the error to start with {prefix:?}, got:\n{stderr}"
    );
    assert!(
        lines[0].contains(message),
        "expected the error to contain {message:?}, got:\n{stderr}"
    );
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("fuzz-regression-")
        .tempdir()
        .expect("a temporary directory")
}

const HEAD: &str = "apiVersion: autoscale-sim/v1alpha1
kind: Scenario
metadata: {name: fuzz}
spec:
  duration: 1h
";

// Bytes that are not UTF-8 (the trace fuzz's `Bytes` mutation inserts them): the readers said
// only "cannot read: stream did not contain valid UTF-8", naming no line. Found while writing
// the harness, and fixed before its first run.
#[test]
fn trace_that_is_not_utf8_names_the_line_of_the_bad_byte() {
    let dir = scratch();
    std::fs::write(
        dir.path().join("trace.csv"),
        b"arrival_s,duration_s,cpu_m,memory_mib\n0,60,100,128\n5,60,1\xff0,128\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("s.yaml"),
        format!("{HEAD}  traces:\n    - {{path: trace.csv, format: generic}}\n"),
    )
    .expect("write");
    validate_fails(
        dir.path(),
        "s.yaml",
        "error: trace.csv:3: ",
        "not UTF-8 text: byte 0xFF at column 7 (save the file as UTF-8) (trace of spec.traces[0] at s.yaml:7)",
    );
}

// The same for the scenario file itself (the loader said "cannot read: stream did not contain
// valid UTF-8").
#[test]
fn scenario_that_is_not_utf8_names_the_line_of_the_bad_byte() {
    let dir = scratch();
    let mut text = HEAD.as_bytes().to_vec();
    text.extend_from_slice(b"  region: us-east-1\xe9\n");
    std::fs::write(dir.path().join("s.yaml"), text).expect("write");
    validate_fails(
        dir.path(),
        "s.yaml",
        "error: s.yaml:6: ",
        "not UTF-8 text: byte 0xE9 at column 20",
    );
}

// Found by the scenario fuzz (`Nest { depth: 20000, map: true, block: false }`): a value nested
// 20,000 levels deep on one line made `validate` run for minutes (5,000 levels: 20 s), finding
// the path of the error. Now the outline stops at 80 levels and the error comes at once.
#[test]
fn deeply_nested_flow_value_is_refused_quickly() {
    let dir = scratch();
    let depth = 20_000;
    for (file, open, close, message) in [
        ("map.yaml", "{a: ", "}", "limits breached: Depth"),
        ("list.yaml", "[", "]", "recursion limit exceeded"),
    ] {
        std::fs::write(
            dir.path().join(file),
            format!(
                "{HEAD}  seed: {}1{}\n",
                open.repeat(depth),
                close.repeat(depth)
            ),
        )
        .expect("write");
        let t = Instant::now();
        validate_fails(
            dir.path(),
            file,
            &format!("error: {file}:6: spec.seed"),
            message,
        );
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{file}: {:?}",
            t.elapsed()
        );
    }
}

// Found by the scenario fuzz (seed 99: a `Text` mutation put "\t\r\n" in a NodePool's
// apiVersion): the "unsupported object" error quoted it raw and spanned two lines. Control
// characters in an error's field and message are now escaped.
#[test]
fn control_characters_in_a_value_do_not_split_the_error_line() {
    let dir = scratch();
    std::fs::write(
        dir.path().join("s.yaml"),
        format!("{HEAD}---\napiVersion: \"\\t\\r\\n\"\nkind: NodePool\nmetadata: {{name: gpu}}\n"),
    )
    .expect("write");
    validate_fails(
        dir.path(),
        "s.yaml",
        "error: s.yaml:7: NodePool/gpu: kind: ",
        "unsupported object \\t\\r\\n/NodePool",
    );
}
