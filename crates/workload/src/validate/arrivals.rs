//! Pods that arrive over time rather than from a manifest: Poisson generators
//! (`spec.generators`) and traces (`spec.traces`).

use std::path::Path;
use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use asim_cluster::pod::PodTemplate;

use super::Doc;
use crate::load::{self, LoadError};
use crate::scenario::DurationDist;
use crate::traces::{self, TraceError, TraceFormat};
use crate::{Action, GeneratorDef, TimedAction, TraceDef, Workload, WorkloadKind};

/// `spec.generators`, in order, each checked in this order: a positive `ratePerHour`; a
/// `template` naming a Job or a Pod; a lognormal duration's `sigma` ≥ 0; `from` / `until`
/// within the scenario's duration.
pub(super) fn generators(
    d: &Doc<'_>,
    duration_ms: u64,
    workloads: &[Workload],
) -> Result<Vec<GeneratorDef>, LoadError> {
    let mut generators = Vec::new();
    for (i, g) in d.spec.generators.iter().enumerate() {
        let f = format!("spec.generators[{i}].poisson");
        let p = &g.poisson;
        if !(p.rate_per_hour.is_finite() && p.rate_per_hour > 0.0) {
            return Err(d.err(
                &format!("{f}.ratePerHour"),
                format!("must be a positive number, got {}", p.rate_per_hour),
            ));
        }
        let idx = d.find_workload(workloads, &p.template, &format!("{f}.template"))?;
        let w = &workloads[idx];
        if !matches!(w.kind, WorkloadKind::Job { .. } | WorkloadKind::Pod) {
            return Err(d.err(
                &format!("{f}.template"),
                format!("must name a Job or a Pod, not a {}", w.kind.as_str()),
            ));
        }
        if let Some(DurationDist::Lognormal { sigma, .. }) = &p.duration
            && !(sigma.is_finite() && *sigma >= 0.0)
        {
            return Err(d.err(
                &format!("{f}.duration.lognormal.sigma"),
                format!("must be a non-negative number, got {sigma}"),
            ));
        }
        let from_ms = p.from.map_or(0, |dur| dur.0);
        let until_ms = p.until.map_or(duration_ms, |dur| dur.0);
        if from_ms > duration_ms || until_ms > duration_ms {
            return Err(d.err(
                &f,
                format!("from/until must be within the scenario duration ({duration_ms} ms)"),
            ));
        }
        generators.push(GeneratorDef {
            name: w.name.clone(),
            rate_per_ms: p.rate_per_hour / 3_600_000.0,
            template: Arc::clone(&w.template),
            duration: p.duration.clone(),
            from_ms,
            until_ms,
        });
    }
    Ok(generators)
}

/// `spec.traces`, in order: a positive `timeScale`; the trace itself, read now so that
/// `validate` checks every row (its rng seeded from the scenario seed and the trace's index);
/// a `podTemplate` naming a Pod (without one, trace pods get an empty template in `default`).
pub(super) fn traces(
    d: &Doc<'_>,
    duration_ms: u64,
    workloads: &[Workload],
) -> Result<Vec<TraceDef>, LoadError> {
    let mut traces = Vec::new();
    for (i, t) in d.spec.traces.iter().enumerate() {
        // Replica histories are timeline steps, not pods: `replica_histories` reads them.
        if t.format == TraceFormat::Replicas {
            continue;
        }
        let f = format!("spec.traces[{i}]");
        if !(t.time_scale.is_finite() && t.time_scale > 0.0) {
            return Err(d.err(
                &format!("{f}.timeScale"),
                format!("must be a positive number, got {}", t.time_scale),
            ));
        }
        let path = d.base_dir.join(&t.path);
        let opts = traces::TraceOptions {
            time_scale: t.time_scale,
            limit: t.limit,
            start_ms: t.from.map_or(0, |dur| dur.0),
            until_ms: Some(t.until.map_or(duration_ms, |dur| dur.0)),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(asim_core::engine::derive_seed(
            d.spec.seed,
            &format!("trace-{i}"),
        ));
        let jobs = traces::read_trace(&path, t.format, &opts, &mut rng).map_err(|e| {
            let at = format!(
                "{}:{}",
                d.source.file.display(),
                load::field_line(d.source.line, d.text, &f)
            );
            trace_error(e, &f, &at, d)
        })?;
        let base = match &t.pod_template {
            Some(name) => {
                let w = workloads
                    .iter()
                    .find(|w| w.kind == WorkloadKind::Pod && &w.name == name)
                    .ok_or_else(|| {
                        d.err(
                            &format!("{f}.podTemplate"),
                            format!("no Pod named {name:?}"),
                        )
                    })?;
                Arc::clone(&w.template)
            }
            None => Arc::new(PodTemplate {
                namespace: "default".into(),
                termination_grace_ms: 30_000,
                ..Default::default()
            }),
        };
        traces.push(TraceDef {
            name: Path::new(&t.path)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| format!("trace-{i}")),
            jobs,
            base,
        });
    }
    Ok(traces)
}

/// `spec.traces` entries of format `replicas`, as `scale` steps: a positive `timeScale`; no
/// `limit` or `podTemplate` (they describe pods); every row read and checked (the reader's
/// checks, then here: the workload exists — namespace, kind and name all match, unlike a
/// timeline step's name-only reference, because a cluster's history names each workload
/// fully — and the scaled time is within the scenario's duration); then the `[from, until)`
/// window. Unsorted: the caller merges them into the timeline.
pub(super) fn replica_histories(
    d: &Doc<'_>,
    duration_ms: u64,
    workloads: &[Workload],
) -> Result<Vec<TimedAction>, LoadError> {
    let mut out = Vec::new();
    for (i, t) in d.spec.traces.iter().enumerate() {
        if t.format != TraceFormat::Replicas {
            continue;
        }
        let f = format!("spec.traces[{i}]");
        if !(t.time_scale.is_finite() && t.time_scale > 0.0) {
            return Err(d.err(
                &format!("{f}.timeScale"),
                format!("must be a positive number, got {}", t.time_scale),
            ));
        }
        for (set, field) in [
            (t.limit.is_some(), "limit"),
            (t.pod_template.is_some(), "podTemplate"),
        ] {
            if set {
                return Err(d.err(
                    &format!("{f}.{field}"),
                    "not allowed with format `replicas` (its rows scale workloads, they are not pods)"
                        .into(),
                ));
            }
        }
        let path = d.base_dir.join(&t.path);
        let at = format!(
            "{}:{}",
            d.source.file.display(),
            load::field_line(d.source.line, d.text, &f)
        );
        let rows = traces::replicas::read_replicas(&path, t.time_scale)
            .map_err(|e| trace_error(e, &f, &at, d))?;
        let from_ms = t.from.map_or(0, |dur| dur.0);
        let until_ms = t.until.map_or(duration_ms, |dur| dur.0);
        let row_err = |line: u64, column: &str, message: String| {
            LoadError::new(
                &path,
                Some(line),
                Some(&format!("column `{column}`")),
                format!("{message} (trace of {f} at {at})"),
            )
        };
        for r in rows {
            if r.at_ms > duration_ms {
                return Err(row_err(
                    r.line,
                    "time",
                    format!(
                        "{} is past the scenario's duration ({})",
                        asim_core::k8s::duration::format_duration(r.at_ms),
                        asim_core::k8s::duration::format_duration(duration_ms)
                    ),
                ));
            }
            let workload = workloads
                .iter()
                .position(|w| {
                    w.kind.as_str() == r.kind && w.name == r.name && w.namespace == r.namespace
                })
                .ok_or_else(|| {
                    row_err(
                        r.line,
                        "name",
                        format!(
                            "no {} named {:?} in namespace {:?} in the scenario's manifests",
                            r.kind, r.name, r.namespace
                        ),
                    )
                })?;
            if r.at_ms < from_ms || r.at_ms >= until_ms {
                continue;
            }
            out.push(TimedAction {
                at_ms: r.at_ms,
                action: Action::Scale {
                    workload,
                    replicas: r.replicas,
                },
            });
        }
    }
    Ok(out)
}

/// A trace that cannot be read: a bad row is reported at its line in the trace file (with the
/// scenario entry `at` that names it), a problem with the entry itself at its field.
fn trace_error(e: TraceError, field: &str, at: &str, d: &Doc<'_>) -> LoadError {
    use TraceError as T;
    let from = format!("(trace of {field} at {at})");
    match e {
        T::Field {
            path,
            line,
            column,
            message,
        } => LoadError::new(
            &path,
            Some(line),
            Some(&format!("column `{column}`")),
            format!("{message} {from}"),
        ),
        T::Header {
            path,
            line,
            message,
        } => LoadError::new(
            &path,
            Some(line),
            Some("header"),
            format!("{message} {from}"),
        ),
        T::Malformed {
            path,
            line,
            message,
        } => LoadError::new(&path, Some(line), None, format!("{message} {from}")),
        T::Empty { .. } | T::NoRows { .. } | T::BadPath { .. } | T::MissingFile { .. } => {
            d.err(&format!("{field}.path"), e.to_string())
        }
        T::Io { path, source } => d.err(
            &format!("{field}.path"),
            format!("cannot read trace {}: {source}", path.display()),
        ),
        T::UnknownFormat { .. } => d.err(&format!("{field}.format"), e.to_string()),
        T::InvalidOption { .. } => d.err(field, e.to_string()),
    }
}
