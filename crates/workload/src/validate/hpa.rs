//! HorizontalPodAutoscalers (docs/model/hpa.md): each manifest converted against the workloads,
//! with the values its metrics read from the Scenario's `spec.metrics`, and the controller's
//! settings from `spec.horizontalPodAutoscaling`.

use asim_cluster::hpa::{
    Autoscaler, History, MetricTarget, Policy, PolicyType, ScalingRules, SelectPolicy, Series,
    Settings, Source as MetricSource, Target,
};
use asim_core::k8s::quantity::parse_quantity;
use serde_json::Value;

use super::Doc;
use crate::HpaDef;
use crate::hpa::{HpaDoc, MetricDoc, RulesDoc, TargetDoc};
use crate::load::{LoadError, Manifest, Object};
use crate::scenario::MetricSeriesSpec;
use crate::{Workload, WorkloadKind};

/// `spec.horizontalPodAutoscaling`, and the new-pod metrics delay.
pub(super) fn settings(d: &Doc<'_>) -> Result<(Settings, u64), LoadError> {
    let s = &d.spec.horizontal_pod_autoscaling;
    let f = "spec.horizontalPodAutoscaling";
    let mut out = Settings::default();
    if let Some(p) = s.sync_period {
        if p.0 == 0 {
            return Err(d.err(&format!("{f}.syncPeriod"), "must be positive".into()));
        }
        out.sync_period_ms = p.0;
    }
    if let Some(t) = s.tolerance {
        if !(t.is_finite() && (0.0..1.0).contains(&t)) {
            return Err(d.err(
                &format!("{f}.tolerance"),
                format!("must be a fraction from 0 to 1 (0.1 is 10 %), got {t}"),
            ));
        }
        out.tolerance = t;
    }
    if let Some(w) = s.downscale_stabilization {
        out.downscale_stabilization_ms = w.0;
    }
    let delay = s.new_pod_metrics_delay.map_or(30_000, |d| d.0);
    Ok((out, delay))
}

/// A quantity or a number as f64 (`500m` → 0.5).
fn quantity(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a number")),
        Value::String(s) => parse_quantity(s)
            .map(|q| q.nanos() as f64 / 1e9)
            .map_err(|e| format!("{s:?} is not a quantity: {e}")),
        other => Err(format!("expected a quantity, got {other}")),
    }
}

fn rules(
    m: &Manifest,
    field: &str,
    doc: Option<&RulesDoc>,
    default: ScalingRules,
) -> Result<ScalingRules, LoadError> {
    let Some(doc) = doc else {
        return Ok(default);
    };
    let mut out = default;
    if let Some(w) = doc.stabilization_window_seconds {
        if !(0..=3600).contains(&w) {
            return Err(m.error(
                &format!("{field}.stabilizationWindowSeconds"),
                format!("must be from 0 to 3600 (the API server's range), got {w}"),
                None,
            ));
        }
        out.stabilization_ms = w as u64 * 1000;
    }
    if let Some(p) = &doc.select_policy {
        out.select = match p.as_str() {
            "Max" => SelectPolicy::Max,
            "Min" => SelectPolicy::Min,
            "Disabled" => SelectPolicy::Disabled,
            other => {
                return Err(m.error(
                    &format!("{field}.selectPolicy"),
                    format!("expected Max, Min or Disabled, got {other:?}"),
                    Some(other),
                ));
            }
        };
    }
    if let Some(ps) = &doc.policies
        && !ps.is_empty()
    {
        out.policies = Vec::new();
        for (i, p) in ps.iter().enumerate() {
            let pf = format!("{field}.policies[{i}]");
            let kind = match p.kind.as_str() {
                "Pods" => PolicyType::Pods,
                "Percent" => PolicyType::Percent,
                other => {
                    return Err(m.error(
                        &format!("{pf}.type"),
                        format!("expected Pods or Percent, got {other:?}"),
                        Some(other),
                    ));
                }
            };
            if p.value <= 0 {
                return Err(m.error(&format!("{pf}.value"), "must be positive", None));
            }
            if !(1..=1800).contains(&p.period_seconds) {
                return Err(m.error(
                    &format!("{pf}.periodSeconds"),
                    format!(
                        "must be from 1 to 1800 (the API server's range), got {}",
                        p.period_seconds
                    ),
                    None,
                ));
            }
            out.policies.push(Policy {
                kind,
                value: p.value.min(u32::MAX as i64) as u32,
                period_ms: p.period_seconds as u64 * 1000,
            });
        }
    }
    Ok(out)
}

fn target(m: &Manifest, field: &str, t: &TargetDoc, resource: bool) -> Result<Target, LoadError> {
    let bad = |f: &str, msg: String| m.error(&format!("{field}.{f}"), msg, None);
    match t.kind.as_str() {
        "Utilization" if resource => match t.average_utilization {
            Some(p) if p > 0 => Ok(Target::Utilization(p as f64)),
            _ => Err(bad(
                "averageUtilization",
                "a Utilization target needs a positive averageUtilization".into(),
            )),
        },
        "Utilization" => Err(bad(
            "type",
            "Utilization targets are for Resource metrics only".into(),
        )),
        "AverageValue" => {
            let v = t.average_value.as_ref().ok_or_else(|| {
                bad(
                    "averageValue",
                    "an AverageValue target needs averageValue".into(),
                )
            })?;
            Ok(Target::AverageValue(
                quantity(v).map_err(|e| bad("averageValue", e))?,
            ))
        }
        "Value" if !resource => {
            let v = t
                .value
                .as_ref()
                .ok_or_else(|| bad("value", "a Value target needs value".into()))?;
            Ok(Target::Value(quantity(v).map_err(|e| bad("value", e))?))
        }
        other => Err(bad(
            "type",
            format!("expected Utilization, AverageValue or Value, got {other:?}"),
        )),
    }
}

/// A metric's source, name and target.
fn metric(
    m: &Manifest,
    field: &str,
    doc: &MetricDoc,
) -> Result<(MetricSource, String, Target), LoadError> {
    let missing = |what: &str| {
        m.error(
            &format!("{field}.{what}"),
            format!("type {} needs {what}", doc.kind),
            None,
        )
    };
    match doc.kind.as_str() {
        "Resource" => {
            let r = doc.resource.as_ref().ok_or_else(|| missing("resource"))?;
            let t = target(m, &format!("{field}.resource.target"), &r.target, true)?;
            Ok((MetricSource::Resource, r.name.clone(), t))
        }
        "ContainerResource" => {
            let r = doc
                .container_resource
                .as_ref()
                .ok_or_else(|| missing("containerResource"))?;
            let t = target(
                m,
                &format!("{field}.containerResource.target"),
                &r.target,
                true,
            )?;
            Ok((MetricSource::Resource, r.name.clone(), t))
        }
        "Pods" => {
            let p = doc.pods.as_ref().ok_or_else(|| missing("pods"))?;
            let t = target(m, &format!("{field}.pods.target"), &p.target, false)?;
            if !matches!(t, Target::AverageValue(_)) {
                return Err(m.error(
                    &format!("{field}.pods.target.type"),
                    "Pods metrics take an AverageValue target",
                    None,
                ));
            }
            Ok((MetricSource::Pods, p.metric.name.clone(), t))
        }
        "Object" | "External" => {
            let key = if doc.kind == "Object" {
                "object"
            } else {
                "external"
            };
            let e = if doc.kind == "Object" {
                &doc.object
            } else {
                &doc.external
            };
            let e = e.as_ref().ok_or_else(|| missing(key))?;
            let t = target(m, &format!("{field}.{key}.target"), &e.target, false)?;
            Ok((MetricSource::External, e.metric.name.clone(), t))
        }
        other => Err(m.error(
            &format!("{field}.type"),
            format!(
                "expected Resource, ContainerResource, Pods, Object or External, got {other:?}"
            ),
            Some(other),
        )),
    }
}

/// The series `spec.metrics[i]` describes.
fn series(
    d: &Doc<'_>,
    i: usize,
    s: &MetricSeriesSpec,
    duration_ms: u64,
) -> Result<Series, LoadError> {
    let f = format!("spec.metrics[{i}]");
    let given = [
        s.constant.is_some(),
        s.diurnal.is_some(),
        s.points.is_some(),
        s.file.is_some(),
        s.prometheus.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if given != 1 {
        return Err(d.err(
            &f,
            "needs exactly one of constant, diurnal, points, file or prometheus".into(),
        ));
    }
    let finite = |v: f64, field: String| {
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(d.err(&field, format!("must be a finite number ≥ 0, got {v}")))
        }
    };
    if let Some(c) = s.constant {
        return Ok(Series::Constant(finite(c, format!("{f}.constant"))?));
    }
    if let Some(di) = &s.diurnal {
        let min = finite(di.min, format!("{f}.diurnal.min"))?;
        let max = finite(di.max, format!("{f}.diurnal.max"))?;
        if max < min {
            return Err(d.err(&format!("{f}.diurnal.max"), "is below min".into()));
        }
        let period = di.period.map_or(86_400_000, |p| p.0);
        if period == 0 {
            return Err(d.err(&format!("{f}.diurnal.period"), "must be positive".into()));
        }
        return Ok(Series::Diurnal {
            min,
            max,
            peak_ms: di.peak_at.0,
            period_ms: period,
        });
    }
    if let Some(points) = &s.points {
        if points.is_empty() {
            return Err(d.err(&format!("{f}.points"), "needs at least one point".into()));
        }
        let mut out = Vec::new();
        for (k, p) in points.iter().enumerate() {
            let v = finite(p.value, format!("{f}.points[{k}].value"))?;
            if out.last().is_some_and(|(t, _): &(u64, f64)| p.at.0 < *t) {
                return Err(d.err(
                    &format!("{f}.points[{k}].at"),
                    "points must be in time order".into(),
                ));
            }
            out.push((p.at.0, v));
        }
        return Ok(Series::Linear(out));
    }
    if let Some(file) = &s.prometheus {
        return prometheus(d, &format!("{f}.prometheus"), file, duration_ms);
    }
    let file = s.file.as_deref().unwrap_or_default();
    let path = d.base_dir.join(file);
    let text = crate::text::read_text(&path, asim_core::files::MAX_TRACE_BYTES, "metrics file")
        .map_err(|e| match e {
            crate::text::TextError::Io(e) => d.err(
                &format!("{f}.file"),
                format!("cannot read {}: {e}", path.display()),
            ),
            e @ crate::text::TextError::NotUtf8 { line, .. } => {
                LoadError::new(&path, Some(line), None, e.message())
            }
        })?;
    let mut out: Vec<(u64, f64)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || (n == 0 && line.starts_with("time")) {
            continue;
        }
        let at = |msg: String| LoadError::new(&path, Some(n as u64 + 1), None, msg);
        let Some((t, v)) = line.split_once(',') else {
            return Err(at(format!("expected time,value, got {line:?}")));
        };
        let t = t.trim();
        let ms = match t.parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => (s * 1000.0).round() as u64,
            Ok(_) => return Err(at(format!("time {t:?} must be ≥ 0"))),
            Err(_) => asim_core::k8s::duration::parse_duration(t)
                .map_err(|e| at(format!("time {t:?}: {e}")))?,
        };
        let v: f64 = v
            .trim()
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| at(format!("value {:?} is not a number ≥ 0", v.trim())))?;
        if out.last().is_some_and(|(p, _)| ms < *p) {
            return Err(at("rows must be in time order".into()));
        }
        if ms > duration_ms {
            break; // past the end: never read
        }
        out.push((ms, v));
    }
    if out.is_empty() {
        return Err(d.err(
            &format!("{f}.file"),
            format!("{} has no rows", path.display()),
        ));
    }
    Ok(Series::Steps(out))
}

/// A Prometheus `query_range` response: `{"status": "success", "data": {"resultType":
/// "matrix", "result": [{"metric": {...}, "values": [[unix_seconds, "value"], ...]}]}}`. Every
/// series is summed per timestamp (a query such as `sum(rate(container_cpu_usage_seconds_total
/// {namespace="shop", pod=~"web-.*"}[5m]))` gives one); times count from the first sample.
fn prometheus(d: &Doc<'_>, field: &str, file: &str, duration_ms: u64) -> Result<Series, LoadError> {
    let path = d.base_dir.join(file);
    let text = crate::text::read_text(&path, asim_core::files::MAX_TRACE_BYTES, "metrics file")
        .map_err(|e| match e {
            crate::text::TextError::Io(e) => {
                d.err(field, format!("cannot read {}: {e}", path.display()))
            }
            e @ crate::text::TextError::NotUtf8 { line, .. } => {
                LoadError::new(&path, Some(line), None, e.message())
            }
        })?;
    let bad = |msg: String| LoadError::new(&path, None, None, msg);
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        LoadError::new(&path, Some(e.line() as u64), None, format!("not JSON: {e}"))
    })?;
    if v.get("status").and_then(Value::as_str) != Some("success") {
        return Err(bad(format!(
            "status is {}, not \"success\" (a Prometheus query_range response)",
            v.get("status")
                .map_or("missing".to_string(), |s| s.to_string())
        )));
    }
    let data = v.get("data").ok_or_else(|| bad("no data".into()))?;
    if data.get("resultType").and_then(Value::as_str) != Some("matrix") {
        return Err(bad(
            "data.resultType is not \"matrix\" (use /api/v1/query_range, not /api/v1/query)".into(),
        ));
    }
    let result = data
        .get("result")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("data.result is not a list".into()))?;
    let mut sums: std::collections::BTreeMap<i64, f64> = std::collections::BTreeMap::new();
    for (i, series) in result.iter().enumerate() {
        let values = series
            .get("values")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("data.result[{i}].values is not a list")))?;
        for (k, pair) in values.iter().enumerate() {
            let at = |m: &str| bad(format!("data.result[{i}].values[{k}]: {m}"));
            let (Some(ts), Some(val)) = (pair.get(0).and_then(Value::as_f64), pair.get(1)) else {
                return Err(at("expected [unix_seconds, \"value\"]"));
            };
            let x: f64 = match val {
                Value::String(s) => s
                    .parse()
                    .map_err(|_| at(&format!("{s:?} is not a number")))?,
                Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                _ => return Err(at("the value is not a number")),
            };
            if !x.is_finite() || x < 0.0 {
                return Err(at(&format!("value {x} is not a finite number ≥ 0")));
            }
            // Millisecond timestamps as integers: summing per sample is exact.
            *sums.entry((ts * 1000.0).round() as i64).or_insert(0.0) += x;
        }
    }
    let Some((&first, _)) = sums.iter().next() else {
        return Err(bad("no samples (data.result is empty)".into()));
    };
    let points: Vec<(u64, f64)> = sums
        .into_iter()
        .map(|(t, v)| ((t - first) as u64, v))
        .take_while(|(t, _)| *t <= duration_ms)
        .collect();
    Ok(Series::Steps(points))
}

/// Every HPA manifest, converted; HPAs or metrics that cannot act are kept and named in
/// `warnings` (an imported cluster's HPA without a load series still holds its replicas).
pub(super) fn convert(
    d: &Doc<'_>,
    manifests: &[Manifest],
    workloads: &[Workload],
    settings: &Settings,
    duration_ms: u64,
    warnings: &mut Vec<String>,
) -> Result<Vec<HpaDef>, LoadError> {
    // The series, by (workload index, metric name).
    let mut by_target: Vec<(usize, String, Series, bool)> = Vec::new();
    for (i, s) in d.spec.metrics.iter().enumerate() {
        let w = d.find_workload(workloads, &s.target, &format!("spec.metrics[{i}].target"))?;
        if !matches!(
            workloads[w].kind,
            WorkloadKind::Deployment { .. } | WorkloadKind::StatefulSet { .. }
        ) {
            return Err(d.err(
                &format!("spec.metrics[{i}].target"),
                "an HPA scales a Deployment or a StatefulSet".into(),
            ));
        }
        if by_target
            .iter()
            .any(|(x, n, _, _)| *x == w && *n == s.metric)
        {
            return Err(d.err(
                &format!("spec.metrics[{i}].metric"),
                format!("a second series for metric {:?} of this workload", s.metric),
            ));
        }
        by_target.push((w, s.metric.clone(), series(d, i, s, duration_ms)?, false));
    }

    let mut out = Vec::new();
    for m in manifests {
        let Object::Hpa(h) = &m.object else { continue };
        let h: &HpaDoc = h;
        let spec = &h.spec;
        let r = &spec.scale_target_ref;
        let workload = workloads
            .iter()
            .position(|w| w.kind.as_str() == r.kind && w.name == r.name && w.namespace == m.namespace)
            .ok_or_else(|| {
                m.error(
                    "spec.scaleTargetRef",
                    format!(
                        "no {} named {:?} in namespace {:?} (an HPA scales a Deployment or a StatefulSet of the scenario)",
                        r.kind, r.name, m.namespace
                    ),
                    Some(&r.name),
                )
            })?;
        if !matches!(
            workloads[workload].kind,
            WorkloadKind::Deployment { .. } | WorkloadKind::StatefulSet { .. }
        ) {
            return Err(m.error(
                "spec.scaleTargetRef.kind",
                "an HPA scales a Deployment or a StatefulSet",
                Some(&r.kind),
            ));
        }
        let min = spec.min_replicas.unwrap_or(1);
        if min < 0 || spec.max_replicas < 1 || min > spec.max_replicas {
            return Err(m.error(
                "spec.maxReplicas",
                format!(
                    "need 0 ≤ minReplicas ≤ maxReplicas and maxReplicas ≥ 1, got {min} and {}",
                    spec.max_replicas
                ),
                None,
            ));
        }
        let behavior = spec.behavior.clone().unwrap_or_default();
        let up = rules(
            m,
            "spec.behavior.scaleUp",
            behavior.scale_up.as_ref(),
            ScalingRules::default_up(),
        )?;
        let down = rules(
            m,
            "spec.behavior.scaleDown",
            behavior.scale_down.as_ref(),
            ScalingRules::default_down(settings.downscale_stabilization_ms),
        )?;
        // No metrics: the API server's default, 80 % CPU.
        let docs = spec
            .metrics
            .clone()
            .unwrap_or_else(|| vec![MetricDoc::cpu_utilization(80)]);
        let template = &workloads[workload].template;
        let where_ = format!(
            "{}:{}: HorizontalPodAutoscaler/{}",
            m.source.file.display(),
            m.source.line,
            m.name
        );
        let mut metrics = Vec::new();
        for (i, doc) in docs.iter().enumerate() {
            let (source, name, target) = metric(m, &format!("spec.metrics[{i}]"), doc)?;
            let request = match name.as_str() {
                "cpu" => template.requests.cpu_m as f64 / 1000.0,
                "memory" => template.requests.memory as f64,
                other => template.requests.extended.get(other).copied().unwrap_or(0) as f64,
            };
            if source == MetricSource::Resource
                && matches!(target, Target::Utilization(_))
                && request <= 0.0
            {
                warnings.push(format!(
                    "{where_}: spec.metrics[{i}]: the target's pods request no {name}, so a Utilization target cannot be computed (the controller reports FailedGetResourceMetric); this metric never scales"
                ));
            }
            let found = by_target
                .iter_mut()
                .find(|(w, n, _, _)| *w == workload && *n == name);
            let values = match found {
                Some((_, _, s, used)) => {
                    *used = true;
                    Some(s.clone())
                }
                None => {
                    warnings.push(format!(
                        "{where_}: spec.metrics[{i}]: no values for metric {name:?} of {} {} (add a spec.metrics entry with target and metric to the Scenario); this metric never scales",
                        r.kind, r.name
                    ));
                    None
                }
            };
            metrics.push((
                MetricTarget {
                    source,
                    name,
                    target,
                    request,
                },
                values,
            ));
        }
        if out.iter().any(|h: &HpaDef| h.workload == workload) {
            return Err(m.error(
                "spec.scaleTargetRef",
                format!(
                    "{} {} already has an HPA: two would fight over its replicas",
                    r.kind, r.name
                ),
                Some(&r.name),
            ));
        }
        out.push(HpaDef {
            name: m.name.clone(),
            namespace: m.namespace.clone(),
            workload,
            controller: Autoscaler {
                min_replicas: min as u32,
                max_replicas: spec.max_replicas.min(u32::MAX as i64) as u32,
                up,
                down,
                history: History::default(),
            },
            metrics,
            source: m.source.clone(),
        });
    }
    for (i, (w, name, _, used)) in by_target.iter().enumerate() {
        if !used {
            warnings.push(format!(
                "{}:{}: spec.metrics[{i}]: no HorizontalPodAutoscaler of {} {} reads metric {name:?}; the series is unused",
                d.source.file.display(),
                crate::load::field_line(d.source.line, d.text, &format!("spec.metrics[{i}]")),
                workloads[*w].kind.as_str(),
                workloads[*w].name
            ));
        }
    }
    Ok(out)
}
