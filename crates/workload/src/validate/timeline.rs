//! `spec.timeline`: when each step fires and what it does, resolved against the workloads and
//! EC2NodeClasses the manifests define.

use asim_cluster::autoscaler::ConfigChange;
use asim_karpenter::apis::{EC2NodeClass, NodePool};
use asim_karpenter::config::Change as KarpenterChange;

use super::Doc;
use super::manifests::{api_error, unsupported_nodepool};
use crate::load::{self, LoadError, Object, Source};
use crate::scenario::TimelineStep;
use crate::{Action, TimedAction, Workload};

/// Every step: valid times (see [`step_times`]) and exactly one action (scale, apply, delete,
/// driftNodeClass or applyFile), resolved once per occurrence. A step with no occurrence in the
/// scenario's duration is not resolved. Sorted by time; steps at one time keep file order.
pub(super) fn timeline(
    d: &Doc<'_>,
    duration_ms: u64,
    workloads: &[Workload],
    nodeclasses: &[(Source, EC2NodeClass)],
) -> Result<Vec<TimedAction>, LoadError> {
    let mut timeline = Vec::new();
    for (i, step) in d.spec.timeline.iter().enumerate() {
        let f = format!("spec.timeline[{i}]");
        let times = step_times(step, duration_ms).map_err(|m| d.err(&f, m))?;
        let actions = [
            step.scale.is_some(),
            step.apply.is_some(),
            step.delete.is_some(),
            step.drift_node_class.is_some(),
            step.apply_file.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if actions != 1 {
            return Err(d.err(
                &f,
                format!(
                    "needs exactly one action (scale, apply, delete, driftNodeClass or applyFile), found {actions}"
                ),
            ));
        }
        for (occurrence, at_ms) in times.into_iter().enumerate() {
            let action = action(d, &f, step, occurrence as u32, workloads, nodeclasses)?;
            timeline.push(TimedAction { at_ms, action });
        }
    }
    timeline.sort_by_key(|a| a.at_ms);
    Ok(timeline)
}

/// One occurrence of step `f`'s action: `scale` names exactly one Deployment, StatefulSet or
/// Job and a non-negative count; `apply` and `delete` name a workload; `driftNodeClass` an
/// EC2NodeClass; `applyFile` a file of NodePools.
fn action(
    d: &Doc<'_>,
    f: &str,
    step: &TimelineStep,
    occurrence: u32,
    workloads: &[Workload],
    nodeclasses: &[(Source, EC2NodeClass)],
) -> Result<Action, LoadError> {
    Ok(if let Some(s) = &step.scale {
        let named = [
            ("Deployment", &s.deployment),
            ("StatefulSet", &s.statefulset),
            ("Job", &s.job),
        ]
        .into_iter()
        .filter_map(|(k, n)| n.as_ref().map(|n| (k, n)))
        .collect::<Vec<_>>();
        let [(kind, name)] = named.as_slice() else {
            return Err(d.err(
                &format!("{f}.scale"),
                "must name exactly one of deployment, statefulset, job".into(),
            ));
        };
        let idx = workloads
            .iter()
            .position(|w| w.kind.as_str() == *kind && &w.name == *name)
            .ok_or_else(|| {
                d.err(
                    &format!("{f}.scale.{}", kind.to_lowercase()),
                    format!("no {kind} named {name:?} in the scenario's manifests"),
                )
            })?;
        let replicas = u32::try_from(s.replicas).map_err(|_| {
            d.err(
                &format!("{f}.scale.replicas"),
                format!("must not be negative, got {}", s.replicas),
            )
        })?;
        Action::Scale {
            workload: idx,
            replicas,
        }
    } else if let Some(r) = &step.apply {
        Action::Apply {
            workload: d.find_workload(workloads, r, &format!("{f}.apply"))?,
            occurrence,
        }
    } else if let Some(r) = &step.delete {
        Action::Delete {
            workload: d.find_workload(workloads, r, &format!("{f}.delete"))?,
        }
    } else if let Some(nc) = &step.drift_node_class {
        if !nodeclasses.iter().any(|(_, c)| c.metadata.name == *nc) {
            return Err(d.err(
                &format!("{f}.driftNodeClass"),
                format!("no EC2NodeClass named {nc:?}"),
            ));
        }
        Action::Configure(ConfigChange::new(
            format!("drift EC2NodeClass {nc}"),
            KarpenterChange::NodeClassChanged(nc.clone()),
        ))
    } else if let Some(file) = &step.apply_file {
        applied_nodepools(d, file, &format!("{f}.applyFile"))?
    } else {
        unreachable!("exactly one action checked by `timeline`")
    })
}

/// The times a timeline step fires at: `at` (not past the duration, without from/until), or
/// `every` (positive) from `from` (not past the duration) until `until` (capped at the
/// duration), never both.
/// The most times one `every` step may fire (docs/scenario.md "Size limits").
const MAX_STEP_OCCURRENCES: u64 = 1_000_000;

fn step_times(step: &TimelineStep, duration_ms: u64) -> Result<Vec<u64>, String> {
    match (step.at, step.every) {
        (Some(at), None) => {
            if step.from.is_some() || step.until.is_some() {
                return Err("from/until go with every, not at".into());
            }
            if at.0 > duration_ms {
                return Err(format!(
                    "at {} is past the scenario duration {}",
                    asim_core::k8s::duration::format_duration(at.0),
                    asim_core::k8s::duration::format_duration(duration_ms)
                ));
            }
            Ok(vec![at.0])
        }
        (None, Some(every)) => {
            if every.0 == 0 {
                return Err("every must be positive".into());
            }
            let from = step.from.map_or(0, |d| d.0);
            let until = step.until.map_or(duration_ms, |d| d.0.min(duration_ms));
            if from > duration_ms {
                return Err("from is past the scenario duration".into());
            }
            // Every occurrence is built here, before the size check: a step that fires
            // millions of times (`every: 1ms` over days) is refused before it takes the memory.
            let fires = until.saturating_sub(from).div_ceil(every.0);
            if fires > MAX_STEP_OCCURRENCES {
                return Err(format!(
                    "fires {} times (every {} for {}), more than the {} a step may; use a longer `every`",
                    super::size::count(fires as f64),
                    asim_core::k8s::duration::format_duration(every.0),
                    asim_core::k8s::duration::format_duration(until.saturating_sub(from)),
                    super::size::count(MAX_STEP_OCCURRENCES as f64)
                ));
            }
            let mut v = Vec::new();
            let mut t = from;
            while t < until {
                v.push(t);
                t += every.0;
            }
            Ok(v)
        }
        (Some(_), Some(_)) => Err("has both at and every (expected one)".into()),
        (None, None) => Err("needs at or every".into()),
    }
}

/// A timeline `applyFile` step: the NodePools of `file` (relative to the scenario's folder),
/// validated as the scenario's own are. Only NodePools: workloads change through `scale` /
/// `apply` / `delete`, and an EC2NodeClass through `driftNodeClass`.
fn applied_nodepools(d: &Doc<'_>, file: &str, field: &str) -> Result<Action, LoadError> {
    let path = d.base_dir.join(file);
    if !path.is_file() {
        return Err(d.err(
            field,
            format!("cannot read {}: no such file", path.display()),
        ));
    }
    let manifests = load::read_manifests(&path)?;
    let mut nodepools: Vec<NodePool> = Vec::new();
    for m in &manifests {
        let Object::NodePool(np) = &m.object else {
            return Err(m.error(
                "kind",
                format!(
                    "a timeline applyFile may hold NodePools only, not a {} (workloads change with scale/apply/delete, an EC2NodeClass with driftNodeClass)",
                    m.object.kind()
                ),
                None,
            ));
        };
        np.validate().map_err(|e| api_error(m, &e))?;
        unsupported_nodepool(m, np)?;
        if nodepools.iter().any(|p| p.name() == np.name()) {
            return Err(m.error(
                "metadata.name",
                format!("NodePool {:?} appears twice in this file", np.name()),
                None,
            ));
        }
        nodepools.push((**np).clone());
    }
    Ok(Action::Configure(ConfigChange::new(
        format!("apply NodePools from {file}"),
        KarpenterChange::NodePoolsApplied(nodepools),
    )))
}
