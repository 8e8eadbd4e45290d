//! `autoscale-sim validate` on broken inputs: each exits 2 with one line on stderr that names
//! the file, the line (where there is one), the field and what is wrong (issue 2). The fixtures
//! are in `tests/fixtures/invalid/`, one small scenario per case; the header comment of each
//! says what is broken.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid")
}

fn validate(files: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("autoscale-sim")
        .expect("the autoscale-sim binary is built")
        .current_dir(fixtures())
        .arg("validate")
        .args(files)
        .assert()
}

/// Validates `file` (relative to the fixtures directory) and checks the whole report: exit 2,
/// nothing on stdout, and exactly one stderr line `error: {location}: {field}: …{message}…`,
/// where `location` is `file:line` (or just the file when there is no line) and `field` is
/// left out when the error is about the whole file.
fn fails_with(file: &str, location: &str, field: Option<&str>, message: &str) {
    let out = validate(&[file]).code(2).stdout(predicate::str::is_empty());
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one error line, got:\n{stderr}");
    let prefix = match field {
        Some(f) => format!("error: {location}: {f}: "),
        None => format!("error: {location}: "),
    };
    assert!(
        lines[0].starts_with(&prefix),
        "expected the error to start with {prefix:?}, got:\n{stderr}"
    );
    assert!(
        lines[0].contains(message),
        "expected the error to contain {message:?}, got:\n{stderr}"
    );
}

#[test]
fn yaml_syntax_error_names_line_and_enclosing_field() {
    fails_with(
        "bad-yaml.yaml",
        "bad-yaml.yaml:9",
        Some("spec.staticNodes[0]"),
        "unclosed bracket '{'",
    );
}

#[test]
fn unknown_scenario_field_is_an_error_with_the_expected_fields() {
    fails_with(
        "unknown-field.yaml",
        "unknown-field.yaml:9",
        Some("spec.autoscalr"),
        "unknown field `autoscalr`, expected one of seed, duration",
    );
}

#[test]
fn bad_container_quantity_names_the_container_field() {
    fails_with(
        "bad-quantity.yaml",
        "bad-quantity.yaml:28",
        Some("Deployment/web: spec.template.spec.containers[0].resources.requests.cpu"),
        "invalid quantity \"12Qi\"",
    );
}

#[test]
fn negative_deployment_replicas_are_rejected() {
    fails_with(
        "negative-replicas.yaml",
        "negative-replicas.yaml:16",
        Some("Deployment/web: spec.replicas"),
        "must not be negative, got -3",
    );
}

#[test]
fn scenario_duration_in_words_is_not_a_duration() {
    fails_with(
        "bad-duration.yaml",
        "bad-duration.yaml:7",
        Some("spec.duration"),
        "invalid duration \"5 minutes\"",
    );
}

#[test]
fn timeline_at_in_words_is_not_a_duration() {
    fails_with(
        "bad-timeline-at.yaml",
        "bad-timeline-at.yaml:13",
        Some("spec.timeline[1].at"),
        "invalid duration \"5 minutes\"",
    );
}

#[test]
fn missing_required_scenario_field_is_reported_on_its_mapping() {
    fails_with(
        "missing-duration.yaml",
        "missing-duration.yaml:6",
        Some("spec.duration"),
        "missing field `duration`",
    );
}

#[test]
fn missing_include_names_the_include_entry_and_the_path() {
    fails_with(
        "missing-include.yaml",
        "missing-include.yaml:9",
        Some("spec.include[0]"),
        "cannot read included file workloads/does-not-exist.yaml",
    );
}

#[test]
fn unknown_static_node_instance_type_suggests_the_family() {
    fails_with(
        "unknown-instance-type.yaml",
        "unknown-instance-type.yaml:10",
        Some("spec.staticNodes[1].instanceType"),
        "unknown instance type \"m5.huge\" in the us-east-1 catalog (did you mean one of",
    );
}

#[test]
fn unknown_node_group_instance_type_names_the_list_entry() {
    fails_with(
        "unknown-node-group-type.yaml",
        "unknown-node-group-type.yaml:12",
        Some("spec.clusterAutoscaler.nodeGroups[0].instanceTypes[1]"),
        "unknown instance type \"c9.mega\"",
    );
}

#[test]
fn unknown_trace_format_lists_the_formats() {
    fails_with(
        "unknown-trace-format.yaml",
        "unknown-trace-format.yaml:12",
        Some("spec.traces[0].format"),
        "unknown variant `parquet`, expected one of generic, openb, azure-vm",
    );
}

#[test]
fn trace_row_with_missing_column_names_the_trace_line_and_column() {
    fails_with(
        "trace-missing-column.yaml",
        "trace-missing-column.csv:4",
        Some("column `memory_mib`"),
        "the row has 3 fields but the header has 4 (trace of spec.traces[0] at trace-missing-column.yaml:11)",
    );
}

#[test]
fn empty_file_is_an_error() {
    fails_with(
        "empty.yaml",
        "empty.yaml",
        None,
        "the file is empty (expected YAML documents)",
    );
}

#[test]
fn nodepool_requirement_operator_must_be_a_known_operator() {
    fails_with(
        "nodepool-bad-operator.yaml",
        "nodepool-bad-operator.yaml:22",
        Some("NodePool/default: spec.template.spec.requirements[1].operator"),
        "unknown operator \"Equals\" (expected In, NotIn, Exists, DoesNotExist",
    );
}

#[test]
fn nodepool_without_template_is_reported_on_its_spec() {
    fails_with(
        "nodepool-missing-template.yaml",
        "nodepool-missing-template.yaml:13",
        Some("NodePool/default: spec.template"),
        "missing field `template`",
    );
}

#[test]
fn nodeclass_api_rule_violation_names_the_object() {
    fails_with(
        "nodeclass-invalid.yaml",
        "nodeclass-invalid.yaml:14",
        Some("EC2NodeClass/default: spec"),
        "must specify exactly one of ['role', 'instanceProfile']",
    );
}

#[test]
fn timeline_step_past_the_duration_is_rejected() {
    fails_with(
        "timeline-past-duration.yaml",
        "timeline-past-duration.yaml:13",
        Some("spec.timeline[1]"),
        "at 3h0m0s is past the scenario duration 2h0m0s",
    );
}

#[test]
fn file_without_a_scenario_document_is_rejected() {
    fails_with(
        "no-scenario.yaml",
        "no-scenario.yaml",
        Some("kind"),
        "no Scenario document",
    );
}

#[test]
fn timeline_scale_of_an_unknown_deployment_is_rejected() {
    fails_with(
        "scale-unknown-deployment.yaml",
        "scale-unknown-deployment.yaml:12",
        Some("spec.timeline[0].scale.deployment"),
        "no Deployment named \"api\" in the scenario's manifests",
    );
}

#[test]
fn timeline_apply_file_that_does_not_exist_is_named() {
    fails_with(
        "apply-file-missing.yaml",
        "apply-file-missing.yaml:11",
        Some("spec.timeline[0].applyFile"),
        "apply-file/nodepool-v3.yaml: no such file",
    );
}

#[test]
fn timeline_apply_file_may_hold_only_nodepools() {
    fails_with(
        "apply-file-not-nodepool.yaml",
        "apply-file/deployment.yaml:3",
        Some("Deployment/web: kind"),
        "a timeline applyFile may hold NodePools only, not a Deployment",
    );
}

#[test]
fn timeline_applied_nodepool_is_validated_at_its_own_line() {
    fails_with(
        "apply-file-bad-nodepool.yaml",
        "apply-file/nodepool-bad.yaml:11",
        Some("NodePool/default: spec.template.spec.requirements[0].operator"),
        "unknown operator \"Equals\"",
    );
}

// docs/reports.md "Schema 2": a key the report renamed is refused with its new name.
#[test]
fn a_schema_1_expect_key_is_refused_with_its_new_name() {
    fails_with(
        "renamed-expect-key.yaml",
        "renamed-expect-key.yaml:13",
        Some("spec.expect.none.disruption.evicted_pods"),
        "report key renamed in report schema 2: use disruption.pods_disrupted.evicted",
    );
}

#[test]
fn expect_key_must_be_a_report_key() {
    fails_with(
        "unknown-expect-key.yaml",
        "unknown-expect-key.yaml:13",
        Some("spec.expect.none.cost.total"),
        "unknown report key",
    );
}

#[test]
fn shipped_scenario_validates() {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/static-cluster.yaml");
    Command::cargo_bin("autoscale-sim")
        .expect("the autoscale-sim binary is built")
        .arg("validate")
        .arg(&scenario)
        .assert()
        .code(0)
        .stdout(
            predicate::str::starts_with("ok  ").and(predicate::str::contains(
                "static-cluster.yaml (static-cluster:",
            )),
        )
        .stderr(predicate::str::is_empty());
}

#[test]
fn validate_reports_every_bad_file_and_exits_2() {
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/static-cluster.yaml");
    let good = good.to_string_lossy();
    let out = validate(&[
        "bad-quantity.yaml",
        &good,
        "negative-replicas.yaml",
        "empty.yaml",
    ])
    .code(2)
    .stdout(predicate::str::contains(
        "static-cluster.yaml (static-cluster:",
    ));
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "one error line per bad file, got:\n{stderr}"
    );
    assert!(
        lines[0].starts_with("error: bad-quantity.yaml:28: "),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with("error: negative-replicas.yaml:16: "),
        "{stderr}"
    );
    assert!(lines[2].starts_with("error: empty.yaml: "), "{stderr}");
}

/// Flags only cluster-autoscaler reads are checked by `validate` too (by building it).
#[test]
fn unknown_cluster_autoscaler_flag_is_an_error_naming_it() {
    fails_with(
        "unknown-ca-flag.yaml",
        "unknown-ca-flag.yaml:7",
        Some("spec.clusterAutoscaler.flags.scan-intervall"),
        "unknown flag \"scan-intervall\"",
    );
}

#[test]
fn spot_price_changes_step_above_half_is_an_error_at_the_field() {
    fails_with(
        "spot-price-changes-step.yaml",
        "spot-price-changes-step.yaml:10",
        Some("spec.cloud.spot.priceChanges.maxStep"),
        "at most 50%",
    );
}

#[test]
fn spot_price_changes_every_zero_is_an_error_at_the_field() {
    fails_with(
        "spot-price-changes-every.yaml",
        "spot-price-changes-every.yaml:11",
        Some("spec.cloud.spot.priceChanges.every"),
        "must be positive",
    );
}

// Issue 14 item 4: an accepted field the simulator does not model is never silently dropped:
// each is a located warning from every command, and `run-meta.json` lists them.
#[test]
fn accepted_but_not_simulated_fields_are_warned_about_once_and_recorded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/warnings");
    let out = Command::cargo_bin("autoscale-sim")
        .expect("the autoscale-sim binary is built")
        .current_dir(&dir)
        .args(["validate", "not-simulated.yaml"])
        .assert()
        .code(0);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    for (w, field) in warnings.iter().zip([
        "spec.capacityReservationSelectorTerms",
        "spec.placementGroupSelector",
    ]) {
        let prefix = format!("warning: not-simulated.yaml:21: EC2NodeClass/default: {field}: ");
        assert!(w.starts_with(&prefix), "{stderr}");
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    Command::cargo_bin("autoscale-sim")
        .expect("the autoscale-sim binary is built")
        .current_dir(&dir)
        .args(["-q", "run", "not-simulated.yaml", "--out"])
        .arg(tmp.path())
        .assert()
        .code(0)
        .stderr(predicate::str::contains("spec.placementGroupSelector"));
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("run-meta.json")).expect("run-meta.json"),
    )
    .expect("JSON");
    assert_eq!(meta["warnings"].as_array().map(Vec::len), Some(2), "{meta}");
}

#[test]
fn percentage_of_nodes_to_score_over_100_is_an_error_at_its_line() {
    fails_with(
        "percentage-of-nodes-to-score.yaml",
        "percentage-of-nodes-to-score.yaml:9",
        Some("spec.scheduler.percentageOfNodesToScore"),
        "expected 0 to 100",
    );
}
