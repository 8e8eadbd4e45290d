//! One run of one scenario under one autoscaler: the glue between the CLI and the simulation.

use std::ops::ControlFlow;
use std::time::Instant;

use crate::{RunError, Simulation};
use asim_cluster::autoscaler::Autoscaler;
use asim_cluster::autoscaler::none::NoAutoscaler;
use asim_report::{Report, RunMeta};
use asim_workload::{AutoscalerKind, Scenario};

pub struct RunOutput<'s> {
    pub report: Report,
    pub meta: RunMeta,
    pub sim: Simulation<'s>,
}

/// Build the autoscaler for `kind`, or say why it cannot run yet.
pub fn make_autoscaler<'s>(
    kind: AutoscalerKind,
    scenario: &'s Scenario,
) -> Result<Box<dyn Autoscaler + 's>, RunError> {
    match kind {
        AutoscalerKind::None => Ok(Box::new(NoAutoscaler)),
        AutoscalerKind::Karpenter => {
            if scenario.nodepools.is_empty() {
                return Err(RunError::NoNodePools);
            }
            let k = asim_karpenter::Karpenter::new(&scenario.karpenter)?;
            Ok(Box::new(k))
        }
        AutoscalerKind::ClusterAutoscaler => {
            if scenario.spec.cluster_autoscaler.node_groups.is_empty() {
                return Err(RunError::NoNodeGroups);
            }
            let ca = asim_cluster_autoscaler::ClusterAutoscaler::new(&scenario.cluster_autoscaler)?;
            Ok(Box::new(ca))
        }
    }
}

/// Run `scenario` under `kind`. Wall-clock time is measured here, at the edge, never in the core.
///
/// `progress` may stop the run early ([`ControlFlow::Break`]: an interrupt, a wall-clock
/// limit): the outputs then cover the time reached, and `meta.stopped_at_seconds` says so.
pub fn run<'s>(
    scenario: &'s Scenario,
    kind: AutoscalerKind,
    progress: impl FnMut(asim_core::engine::SimTime, u64) -> ControlFlow<()>,
) -> Result<RunOutput<'s>, RunError> {
    let autoscaler = make_autoscaler(kind, scenario)?;
    let started = Instant::now();
    let mut sim = Simulation::new(scenario, autoscaler)?;
    let stopped = sim.run(progress);
    let wall = started.elapsed().as_secs_f64();
    let report = sim.report(kind.as_str());
    let simulated = stopped.map_or(scenario.duration_ms, |t| t.0) as f64 / 1000.0;
    let meta = RunMeta {
        scenario: scenario.name.clone(),
        autoscaler: kind.as_str().to_string(),
        seed: scenario.seed,
        wall_seconds: wall,
        simulated_seconds: simulated,
        speedup: if wall > 0.0 { simulated / wall } else { 0.0 },
        events: sim.events,
        version: env!("CARGO_PKG_VERSION").to_string(),
        warnings: scenario.warnings.clone(),
        stopped_at_seconds: stopped.map(|t| t.as_secs_f64()),
    };
    Ok(RunOutput { report, meta, sim })
}

/// [`run`] to the scenario's end, with nobody watching.
pub fn run_to_end(scenario: &Scenario, kind: AutoscalerKind) -> Result<RunOutput<'_>, RunError> {
    run(scenario, kind, |_, _| ControlFlow::Continue(()))
}

/// Every output of one run of `scenario` into `out`: the report files, the autoscaler's
/// `decisions.jsonl`, and the timeline steps marked on `report.html`'s charts.
pub fn write_run(
    out: &std::path::Path,
    scenario: &Scenario,
    output: &RunOutput<'_>,
) -> std::io::Result<()> {
    let sim = &output.sim;
    let view = asim_report::view::RunView::new(
        &output.report.autoscaler,
        &output.report,
        &sim.recorder.samples,
        &sim.recorder.nodes,
        &sim.cluster,
    )
    .with_steps(scenario.timeline_steps());
    asim_report::write_files(
        out,
        &output.report,
        &output.meta,
        &view,
        &sim.recorder.samples,
        &sim.recorder.nodes,
        &sim.cluster,
        sim.decisions(),
    )?;
    // The HPAs' scaling, when the scenario has any.
    let hpa = out.join("hpa.csv");
    if scenario.hpas.is_empty() {
        if hpa.exists() {
            std::fs::remove_file(&hpa)?;
        }
        return Ok(());
    }
    let mut text = String::from("t_s,hpa,from,to,reason\n");
    for row in &sim.hpa_log {
        text.push_str(row);
        text.push('\n');
    }
    std::fs::write(hpa, text)
}
