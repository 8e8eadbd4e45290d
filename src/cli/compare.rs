//! `autoscale-sim compare` (docs/design.md §10, §11): one scenario under every autoscaler it configures,
//! or the base scenario and each `--variant`, each run's reports in `OUT/<label>/`, and the
//! side-by-side `compare.md`, `compare.json` and `compare.html` in `OUT/`.

use std::path::{Path, PathBuf};

use autoscale_sim::report::compare::{self, RunInfo};
use autoscale_sim::report::html::compare_html;
use autoscale_sim::report::output::StagedDir;
use autoscale_sim::report::view::RunView;
use autoscale_sim::report::{report_json, report_md};
use autoscale_sim::run::write_run;
use autoscale_sim::workload::set::{LoadOptions, Override};
use autoscale_sim::workload::{AutoscalerKind, Scenario};

/// A finished run: what charts and comparisons need, and its report texts.
pub(super) struct Executed {
    pub view: RunView,
    pub report_json: String,
    pub report_md: String,
    /// [`autoscale_sim::report::decisions_digest`] of the run's decision log.
    pub decisions_digest: String,
}

/// Run `scenario` under `kind`, write its reports into `out` if given, and keep what charts and
/// comparisons need. Prints `ran N events…` on stderr unless `quiet`.
pub(super) fn execute(
    scenario: &Scenario,
    kind: AutoscalerKind,
    label: &str,
    out: Option<&Path>,
    quiet: bool,
) -> Result<Executed, String> {
    let bar =
        super::progress::Progress::new(scenario, &format!("{} · {label}", scenario.name), quiet);
    let output = autoscale_sim::run::run(scenario, kind, |t, events| {
        if let Some(b) = &bar {
            b.update(t, events);
        }
        if super::interrupt::requested() {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    })
    .map_err(|e| format!("{}: {e}", scenario.file.display()))?;
    if let Some(b) = bar {
        b.finish();
    }
    if super::interrupt::requested() {
        return Err(INTERRUPTED.into());
    }
    if let Some(out) = out {
        write_run(out, scenario, &output)
            .map_err(|e| format!("cannot write reports to {}: {e}", out.display()))?;
    }
    if !quiet {
        eprintln!(
            "{} · {label}: ran {} events in {:.2} s wall ({:.0}× real time)",
            scenario.name, output.meta.events, output.meta.wall_seconds, output.meta.speedup
        );
    }
    let view = RunView::new(
        label,
        &output.report,
        &output.sim.recorder.samples,
        &output.sim.recorder.nodes,
        &output.sim.cluster,
    )
    .with_steps(scenario.timeline_steps());
    Ok(Executed {
        view,
        report_json: report_json(&output.report),
        report_md: report_md(&output.report),
        decisions_digest: autoscale_sim::report::decisions_digest(output.sim.decisions()),
    })
}

/// Parse every `--set` argument.
pub(super) fn overrides(args: &[String]) -> Result<Vec<Override>, String> {
    args.iter()
        .map(|a| Override::parse(a).map_err(|e| e.to_string()))
        .collect()
}

/// A directory name from a label: letters, digits, `.`, `_`, `-`.
fn dir_name(label: &str) -> String {
    let s: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("run-{s}")
    } else {
        s
    }
}

/// Write `text` to `path` through a temporary file, so a reader never sees half of it.
pub(super) fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

pub(super) struct CompareArgs {
    pub scenario: PathBuf,
    pub variants: Vec<PathBuf>,
    pub autoscaler: Option<AutoscalerKind>,
    pub seed: Option<u64>,
    pub set: Vec<String>,
    pub out: PathBuf,
}

/// One planned run: its label, autoscaler and variant file.
struct Plan {
    label: String,
    kind: AutoscalerKind,
    variant: Option<PathBuf>,
}

/// What [`execute`] answers when an interrupt stopped its run; the command then exits 130/143.
pub(super) const INTERRUPTED: &str = "interrupted";

pub(super) fn cmd_compare(a: CompareArgs, quiet: bool) -> i32 {
    match compare(a, quiet) {
        Ok(()) => 0,
        Err(e) => super::interrupt::stop_here().unwrap_or_else(|| super::fail(e)),
    }
}

fn compare(a: CompareArgs, quiet: bool) -> Result<(), String> {
    let overrides = overrides(&a.set)?;
    let load = |variant: Option<&PathBuf>| -> Result<Scenario, String> {
        let opts = LoadOptions {
            variants: variant.into_iter().cloned().collect(),
            overrides: overrides.clone(),
            limits: super::limits(),
        };
        let mut s = Scenario::load_with(&a.scenario, &opts).map_err(|e| e.to_string())?;
        if let Some(seed) = a.seed {
            s.seed = seed;
        }
        Ok(s)
    };
    let base = load(None)?;
    super::warn_not_simulated(&base);
    let mut plans = Vec::new();
    if a.variants.is_empty() {
        if a.autoscaler.is_some() {
            return Err("--autoscaler chooses the autoscaler of --variant runs; without --variant, compare runs every autoscaler the scenario configures".into());
        }
        if !base.nodepools.is_empty() {
            plans.push(Plan {
                label: "karpenter".into(),
                kind: AutoscalerKind::Karpenter,
                variant: None,
            });
        }
        if !base.spec.cluster_autoscaler.node_groups.is_empty() {
            plans.push(Plan {
                label: "cluster-autoscaler".into(),
                kind: AutoscalerKind::ClusterAutoscaler,
                variant: None,
            });
        }
        if plans.is_empty() {
            return Err(format!(
                "{}: nothing to compare: the scenario has no NodePool and no spec.clusterAutoscaler.nodeGroups (give --variant files to compare variants)",
                a.scenario.display()
            ));
        }
        if plans.len() == 1 && !quiet {
            eprintln!(
                "note: {} configures only {}; add --variant FILE to compare variants",
                a.scenario.display(),
                plans[0].label
            );
        }
    } else {
        let kind = a.autoscaler.unwrap_or(base.default_autoscaler);
        let mut labels = vec!["base".to_string()];
        plans.push(Plan {
            label: "base".into(),
            kind,
            variant: None,
        });
        for v in &a.variants {
            let stem = v
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "variant".into());
            let mut label = dir_name(&stem);
            let mut n = 2;
            while labels.contains(&label) {
                label = format!("{}-{n}", dir_name(&stem));
                n += 1;
            }
            labels.push(label.clone());
            plans.push(Plan {
                label,
                kind,
                variant: Some(v.clone()),
            });
        }
    }
    // Load every variant before running anything: a bad file fails fast.
    let mut scenarios = Vec::new();
    for p in &plans {
        scenarios.push(match &p.variant {
            None => None,
            Some(v) => Some(load(Some(v))?),
        });
    }
    // Every run and the comparison go into a staging directory that replaces `--out` as a
    // whole at the end: a failed variant leaves the previous comparison untouched.
    let staged =
        StagedDir::new(&a.out).map_err(|e| format!("cannot create {}: {e}", a.out.display()))?;
    let mut runs = Vec::new();
    let mut views = Vec::new();
    for (p, s) in plans.iter().zip(&scenarios) {
        let scenario = s.as_ref().unwrap_or(&base);
        let dir = dir_name(&p.label);
        let view = execute(
            scenario,
            p.kind,
            &p.label,
            Some(&staged.path().join(&dir)),
            quiet,
        )?
        .view;
        runs.push(RunInfo {
            label: p.label.clone(),
            autoscaler: p.kind.as_str().to_string(),
            variant: p.variant.as_ref().map(|v| v.display().to_string()),
            dir,
        });
        views.push(view);
    }
    let c = compare::build(&base.name, runs, &views);
    let md = compare::compare_md(&c);
    let files = [
        ("compare.md", md.clone()),
        ("compare.json", compare::compare_json(&c, &views)),
        ("compare.html", compare_html(&c, &views)),
    ];
    for (name, text) in &files {
        let path = staged.path().join(name);
        std::fs::write(&path, text)
            .map_err(|e| format!("cannot write {}: {e}", a.out.join(name).display()))?;
    }
    // Dropped from the old directory: an earlier comparison's files and run directories.
    staged
        .commit(|name, path| name.starts_with("compare.") || path.join("run-meta.json").is_file())
        .map_err(|e| format!("cannot write reports to {}: {e}", a.out.display()))?;
    if !quiet {
        print!("{md}");
        println!("\nreports: {}", a.out.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names_are_safe() {
        assert_eq!(dir_name("spot heavy/2"), "spot-heavy-2");
        assert_eq!(dir_name("..x"), "run-..x");
        assert_eq!(dir_name("cluster-autoscaler"), "cluster-autoscaler");
    }
}
