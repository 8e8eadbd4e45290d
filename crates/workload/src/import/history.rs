//! `import history`: a workload's replica counts over time, from what a cluster's tools
//! export, as the `replicas` trace CSV (`time,namespace,kind,name,replicas`, docs/scenario.md
//! "traces").
//!
//! - `csv`: our own format, checked and normalised (sorted by time, unchanged counts dropped).
//! - `prometheus`: a `query_range` response for kube-state-metrics'
//!   `kube_deployment_spec_replicas` / `kube_statefulset_replicas`, times relative to the
//!   first sample and aligned to the query's step.
//! - `kubereplay`: a capture of aws/karpenter-provider-aws `tools/kubereplay`
//!   (`{cluster, captured, events: [{type, kind, key, deployment|job, replicas, timestamp}]}`):
//!   scale events become rows; create events carry the workload's manifest, written to
//!   `workloads.yaml` with a timeline `apply` (a Job is applied as a Job); a Deployment's delete
//!   becomes a row scaling it to 0.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use asim_core::k8s::duration::format_duration;

use super::Imported;
use super::anonymize::Anonymizer;
use super::objects::clean;
use crate::load::LoadError;
use crate::traces::TraceError;
use crate::traces::replicas::read_replicas;
use crate::yaml;

/// The input formats of `import history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryFormat {
    Csv,
    Prometheus,
    Kubereplay,
}

/// One row of the output CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub at_ms: u64,
    pub namespace: String,
    pub kind: String,
    pub name: String,
    pub replicas: u32,
}

pub const CSV_FILE: &str = "history.csv";

/// Converts `path`; the output always holds `history.csv` and `import-report.md`, and for
/// kubereplay also `workloads.yaml` and `scenario.yaml`.
pub fn import_history(
    path: &Path,
    format: HistoryFormat,
    anonymize: Option<Anonymizer>,
) -> Result<Imported, LoadError> {
    let mut notes = Vec::new();
    let mut out = Imported::default();
    let rows = match format {
        HistoryFormat::Csv => read_replicas(path, 1.0)
            .map_err(|e| trace_error(path, e))?
            .into_iter()
            .map(|r| Row {
                at_ms: r.at_ms,
                namespace: r.namespace,
                kind: r.kind.to_string(),
                name: r.name,
                replicas: r.replicas,
            })
            .collect(),
        HistoryFormat::Prometheus => prometheus(&read_json(path)?, path, &mut notes)?,
        HistoryFormat::Kubereplay => {
            kubereplay(&read_json(path)?, path, anonymize, &mut out, &mut notes)?
        }
    };
    let rows = normalise(rows, anonymize);
    out.files.insert(CSV_FILE.into(), to_csv(&rows));
    let mut report = format!(
        "# History import report\n\n{} rows (changes only) in {CSV_FILE}, from {}.\n",
        rows.len(),
        path.file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
    );
    if !notes.is_empty() {
        report.push_str("\n## Skipped or changed\n\n");
        for n in &notes {
            let _ = writeln!(report, "- {n}");
        }
    }
    out.report = report.clone();
    out.files.insert("import-report.md".into(), report);
    Ok(out)
}

/// A bad row at its line and column, as the scenario loader reports it.
fn trace_error(path: &Path, e: TraceError) -> LoadError {
    match e {
        TraceError::Field {
            path,
            line,
            column,
            message,
        } => LoadError::new(
            &path,
            Some(line),
            Some(&format!("column `{column}`")),
            message,
        ),
        TraceError::Header {
            path,
            line,
            message,
        } => LoadError::new(&path, Some(line), Some("header"), message),
        TraceError::Malformed {
            path,
            line,
            message,
        } => LoadError::new(&path, Some(line), None, message),
        other => LoadError::new(path, None, None, other.to_string()),
    }
}

/// Sorted by time (stable: rows at one time keep input order), each workload's unchanged
/// counts dropped, names hashed when anonymizing (with the same function as `import cluster`,
/// so the two outputs line up under one key).
fn normalise(mut rows: Vec<Row>, anonymize: Option<Anonymizer>) -> Vec<Row> {
    rows.sort_by_key(|r| r.at_ms);
    let mut last: BTreeMap<(String, String, String), u32> = BTreeMap::new();
    let mut out = Vec::new();
    for mut r in rows {
        let key = (r.namespace.clone(), r.kind.clone(), r.name.clone());
        if last.insert(key, r.replicas) == Some(r.replicas) {
            continue;
        }
        if let Some(a) = anonymize {
            r.namespace = a.namespace(&r.namespace);
            r.name = a.token(&r.name);
        }
        out.push(r);
    }
    out
}

pub fn to_csv(rows: &[Row]) -> String {
    let mut s = String::from("time,namespace,kind,name,replicas\n");
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{}",
            format_duration(r.at_ms),
            r.namespace,
            r.kind,
            r.name,
            r.replicas
        );
    }
    s
}

fn read_json(path: &Path) -> Result<Value, LoadError> {
    let text = asim_core::files::read_to_string_capped(
        path,
        asim_core::files::MAX_TRACE_BYTES,
        "history file",
    )
    .map_err(|e| LoadError::new(path, None, None, format!("cannot read: {e}")))?;
    serde_json::from_str(&text).map_err(|e| {
        LoadError::new(
            path,
            Some(e.line() as u64),
            Some(&format!("column {}", e.column())),
            format!("invalid JSON: {e}"),
        )
    })
}

/// A `query_range` matrix. Each series names its workload by the metric's label
/// (`deployment` or `statefulset`) and `namespace`. Time zero is the first sample of any
/// series; every time is rounded to the step, taken as the most common gap between two
/// samples of one series (Prometheus evaluates a range query at `start + k·step`, so samples
/// are on that grid up to float formatting; a series may have holes).
fn prometheus(v: &Value, path: &Path, notes: &mut Vec<String>) -> Result<Vec<Row>, LoadError> {
    let err = |field: &str, msg: String| LoadError::new(path, None, Some(field), msg);
    if v.get("status").and_then(Value::as_str) != Some("success") {
        return Err(err(
            "status",
            "expected \"success\" (a Prometheus query_range response)".into(),
        ));
    }
    if v.pointer("/data/resultType").and_then(Value::as_str) != Some("matrix") {
        return Err(err(
            "data.resultType",
            "expected \"matrix\" (use /api/v1/query_range, not /api/v1/query)".into(),
        ));
    }
    let result = v
        .pointer("/data/result")
        .and_then(Value::as_array)
        .ok_or_else(|| err("data.result", "expected a list of series".into()))?;
    // (kind, namespace, name, samples (ts seconds, replicas))
    let mut series = Vec::new();
    for (i, s) in result.iter().enumerate() {
        let f = format!("data.result[{i}]");
        let metric = s.get("metric").cloned().unwrap_or(json!({}));
        let label = |k: &str| metric.get(k).and_then(Value::as_str).map(str::to_string);
        let metric_name = label("__name__").unwrap_or_default();
        let (kind, name_label) = match metric_name.as_str() {
            "kube_deployment_spec_replicas" => ("Deployment", "deployment"),
            "kube_statefulset_replicas" => ("StatefulSet", "statefulset"),
            other => {
                notes.push(format!(
                    "{f}: metric {other:?} skipped (expected kube_deployment_spec_replicas or kube_statefulset_replicas)"
                ));
                continue;
            }
        };
        let name = label(name_label).ok_or_else(|| {
            err(
                &format!("{f}.metric.{name_label}"),
                format!("a {metric_name} series without its `{name_label}` label"),
            )
        })?;
        let namespace = label("namespace").unwrap_or_else(|| "default".into());
        let values = s.get("values").and_then(Value::as_array).ok_or_else(|| {
            err(
                &format!("{f}.values"),
                "expected [[time, \"value\"], …]".into(),
            )
        })?;
        let mut samples = Vec::new();
        for (j, p) in values.iter().enumerate() {
            let pf = format!("{f}.values[{j}]");
            let (Some(ts), Some(val)) = (
                p.get(0).and_then(Value::as_f64),
                p.get(1).and_then(Value::as_str),
            ) else {
                return Err(err(&pf, "expected [unix time, \"value\"]".into()));
            };
            let n: f64 = val
                .parse()
                .map_err(|_| err(&pf, format!("value {val:?} is not a number")))?;
            if !(n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= f64::from(u32::MAX)) {
                return Err(err(
                    &pf,
                    format!("value {val:?}: expected a whole number of replicas ≥ 0"),
                ));
            }
            samples.push((ts, n as u32));
        }
        series.push((kind, namespace, name, samples));
    }
    let t0 = series
        .iter()
        .flat_map(|s| s.3.iter().map(|p| p.0))
        .fold(f64::INFINITY, f64::min);
    // The step: the most common gap between a series' consecutive samples, in whole ms (the
    // smallest on a tie), so one sample written as `…400.001` does not shrink it.
    let mut gaps: BTreeMap<i64, usize> = BTreeMap::new();
    for s in &series {
        for w in s.3.windows(2) {
            let gap = ((w[1].0 - w[0].0) * 1000.0).round() as i64;
            if gap > 0 {
                *gaps.entry(gap).or_default() += 1;
            }
        }
    }
    let step = gaps
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map_or(f64::INFINITY, |(g, _)| *g as f64 / 1000.0);
    let mut rows = Vec::new();
    for (kind, namespace, name, samples) in series {
        for (ts, n) in samples {
            let rel = ts - t0;
            let aligned = if step.is_finite() {
                (rel / step).round() * step
            } else {
                rel
            };
            rows.push(Row {
                at_ms: (aligned * 1000.0).round() as u64,
                namespace: namespace.clone(),
                kind: kind.into(),
                name: name.clone(),
                replicas: n,
            });
        }
    }
    Ok(rows)
}

/// A kubereplay capture: rows for scale events (and a Deployment's delete, as 0); the
/// manifests of create events in `workloads.yaml`; a `scenario.yaml` that applies each
/// workload created after the first event at its time and replays the rows.
fn kubereplay(
    v: &Value,
    path: &Path,
    anonymize: Option<Anonymizer>,
    out: &mut Imported,
    notes: &mut Vec<String>,
) -> Result<Vec<Row>, LoadError> {
    let err = |field: &str, msg: String| LoadError::new(path, None, Some(field), msg);
    let events = v.get("events").and_then(Value::as_array).ok_or_else(|| {
        err(
            "events",
            "expected a list of events (a kubereplay capture)".into(),
        )
    })?;
    let mut times = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let ts = e.get("timestamp").and_then(Value::as_str).unwrap_or("");
        let ms = parse_rfc3339_ms(ts).ok_or_else(|| {
            err(
                &format!("events[{i}].timestamp"),
                format!("{ts:?} is not an RFC 3339 time (2024-05-01T12:00:00Z)"),
            )
        })?;
        times.push(ms);
    }
    let t0 = times.iter().copied().min().unwrap_or(0);
    let mut rows = Vec::new();
    // (namespace, name, kind) → manifest, created at.
    let mut manifests: BTreeMap<(String, String, String), Value> = BTreeMap::new();
    let mut steps = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let f = format!("events[{i}]");
        let at_ms = u64::try_from(times[i] - t0).unwrap_or(0);
        let ty = e.get("type").and_then(Value::as_str).unwrap_or("");
        let kind = e.get("kind").and_then(Value::as_str).unwrap_or("");
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let Some((namespace, name)) = key.split_once('/') else {
            return Err(err(
                &format!("{f}.key"),
                format!("{key:?}: expected NAMESPACE/NAME"),
            ));
        };
        if !matches!(kind, "Deployment" | "Job") {
            return Err(err(
                &format!("{f}.kind"),
                format!("{kind:?}: expected Deployment or Job"),
            ));
        }
        match ty {
            "scale" => {
                let n = e.get("replicas").and_then(Value::as_i64).ok_or_else(|| {
                    err(
                        &format!("{f}.replicas"),
                        "a scale event needs replicas".into(),
                    )
                })?;
                let n = u32::try_from(n).map_err(|_| {
                    err(
                        &format!("{f}.replicas"),
                        format!("{n}: expected a whole number ≥ 0"),
                    )
                })?;
                rows.push(Row {
                    at_ms,
                    namespace: namespace.into(),
                    kind: kind.into(),
                    name: name.into(),
                    replicas: n,
                });
            }
            "create" => {
                let field = if kind == "Deployment" {
                    "deployment"
                } else {
                    "job"
                };
                let Some(mut m) = e.get(field).cloned().filter(Value::is_object) else {
                    return Err(err(
                        &format!("{f}.{field}"),
                        format!("a {kind} create event without its {field}"),
                    ));
                };
                let k = (namespace.to_string(), name.to_string(), kind.to_string());
                if manifests.contains_key(&k) {
                    notes.push(format!(
                        "{f}: {kind} {key} created again: the first manifest is kept and applied once"
                    ));
                    continue;
                }
                // The capture stores the object as the API returned it: apiVersion and kind
                // may be empty (Go's typed clients leave TypeMeta unset).
                if let Some(o) = m.as_object_mut() {
                    let api = if kind == "Deployment" {
                        "apps/v1"
                    } else {
                        "batch/v1"
                    };
                    o.insert("apiVersion".into(), json!(api));
                    o.insert("kind".into(), json!(kind));
                    let meta = o.entry("metadata").or_insert_with(|| json!({}));
                    if let Some(meta) = meta.as_object_mut() {
                        meta.insert("name".into(), json!(name));
                        meta.insert("namespace".into(), json!(namespace));
                    }
                }
                clean(kind, &mut m);
                if let Some(a) = anonymize {
                    a.object(kind, &mut m);
                }
                let ref_name = anonymize.map_or_else(|| name.to_string(), |a| a.token(name));
                if at_ms > 0 || kind == "Job" {
                    steps.push(json!({"at": format_duration(at_ms), "apply": {kind.to_lowercase(): ref_name}}));
                }
                manifests.insert(k, m);
            }
            "delete" => {
                if kind == "Deployment" {
                    rows.push(Row {
                        at_ms,
                        namespace: namespace.into(),
                        kind: kind.into(),
                        name: name.into(),
                        replicas: 0,
                    });
                } else {
                    notes.push(format!(
                        "{f}: Job {key} deleted: ignored (a Job's pods end by themselves)"
                    ));
                }
            }
            other => {
                return Err(err(
                    &format!("{f}.type"),
                    format!("{other:?}: expected create, scale or delete"),
                ));
            }
        }
    }
    let created: Vec<&(String, String, String)> = manifests.keys().collect();
    for r in &rows {
        if !created
            .iter()
            .any(|(ns, n, k)| *ns == r.namespace && *n == r.name && *k == r.kind)
        {
            notes.push(format!(
                "{} {}/{} is scaled but never created in the capture: add its manifest (import cluster) before replaying",
                r.kind, r.namespace, r.name
            ));
        }
    }
    notes.dedup();
    let mut text = String::new();
    for (i, m) in manifests.values().enumerate() {
        if i > 0 {
            text.push_str("---\n");
        }
        text.push_str(&yaml::to_yaml(m));
    }
    let last = times.iter().copied().max().unwrap_or(0) - t0;
    // The run lasts an hour past the last event, rounded up to the hour, so the last change
    // plays out.
    let hours = (u64::try_from(last).unwrap_or(0) / 3_600_000) + 2;
    let mut spec = serde_json::Map::new();
    spec.insert("duration".into(), json!(format!("{hours}h")));
    if !manifests.is_empty() {
        spec.insert("include".into(), json!(["workloads.yaml"]));
        out.files.insert("workloads.yaml".into(), text);
    }
    spec.insert(
        "traces".into(),
        json!([{"path": CSV_FILE, "format": "replicas"}]),
    );
    if !steps.is_empty() {
        spec.insert("timeline".into(), serde_json::Value::Array(steps));
    }
    let cluster = v
        .get("cluster")
        .and_then(Value::as_str)
        .unwrap_or("kubereplay");
    let name = anonymize.map_or_else(|| cluster.to_string(), |a| a.token(cluster));
    let scenario = json!({
        "apiVersion": crate::scenario::API_VERSION,
        "kind": "Scenario",
        "metadata": {"name": name, "description": "Replayed from a kubereplay capture by `autoscale-sim import history`."},
        "spec": serde_json::Value::Object(spec),
    });
    let mut s = String::from(
        "# Written by `autoscale-sim import history --format kubereplay`. Add the cluster's\n\
         # capacity (staticNodes, NodePools or node groups, e.g. from `import cluster`) to run it.\n",
    );
    s.push_str(&yaml::to_yaml(&scenario));
    out.files.insert("scenario.yaml".into(), s);
    Ok(rows)
}

/// Milliseconds since the Unix epoch of an RFC 3339 time as Go's `time.Time` marshals it
/// (`2024-05-01T12:00:00Z`, `…:00.123456789+02:00`). Our own few lines rather than a date
/// crate for one format.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = s.get(start..i)?;
        let padded = format!("{frac:0<3}");
        millis = padded.get(0..3)?.parse().ok()?;
    }
    let offset_min = match s.get(i..)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && matches!(tz.as_bytes()[0], b'+' | b'-') => {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            sign * (tz.get(1..3)?.parse::<i64>().ok()? * 60 + tz.get(4..6)?.parse::<i64>().ok()?)
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's days_from_civil).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi - offset_min) * 60_000 + sec * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2024-05-01T12:00:01.5Z"),
            Some(1_714_564_801_500)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-05-01T14:00:01.500000000+02:00"),
            Some(1_714_564_801_500)
        );
        assert_eq!(parse_rfc3339_ms("2024-05-01 nope"), None);
    }
}
