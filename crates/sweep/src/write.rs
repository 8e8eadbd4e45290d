//! The sweep's files: `sweep.csv` (streamed), `sweep.json`, `sweep.md`, `sweep.html`, `best/`
//! and `sweep-meta.json` (wall-clock facts, kept apart from the deterministic files).

use std::fmt::Write as _;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::plan::Plan;
use crate::summary::{COST, DISRUPTED, LATENCY, Summary, round3, table_keys};
use crate::{
    RunOptions, RunResult, SWEEP_SCHEMA_VERSION, SweepError, best, fmt_value, write_file, yaml,
};

/// `sweep.csv`, one row per run in (variant, seed) order, flushed row by row so that a long
/// sweep can be watched; written to a temporary name and renamed when complete.
pub(crate) struct CsvStream {
    path: PathBuf,
    tmp: PathBuf,
    w: csv::Writer<BufWriter<File>>,
    keys: Vec<String>,
}

impl CsvStream {
    pub fn create(path: &Path, plan: &Plan) -> Result<CsvStream, SweepError> {
        let tmp = path.with_extension("csv.partial");
        let f = File::create(&tmp).map_err(|source| SweepError::Write {
            path: tmp.clone(),
            source,
        })?;
        let w = csv::Writer::from_writer(BufWriter::new(f));
        let keys: Vec<String> = asim_report::numeric_keys().into_iter().collect();
        let mut header: Vec<String> = ["variant", "label", "seed", "status"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        header.extend(plan.parameters.iter().map(|p| p.name.clone()));
        header.extend(keys.iter().cloned());
        header.push("error".into());
        let mut s = CsvStream {
            path: path.to_path_buf(),
            tmp,
            w,
            keys,
        };
        s.record(&header)?;
        Ok(s)
    }

    fn record(&mut self, fields: &[String]) -> Result<(), SweepError> {
        let err = |e: csv::Error| SweepError::Write {
            path: self.tmp.clone(),
            source: std::io::Error::other(e.to_string()),
        };
        self.w.write_record(fields).map_err(err)?;
        self.w.flush().map_err(|source| SweepError::Write {
            path: self.tmp.clone(),
            source,
        })
    }

    pub fn row(&mut self, plan: &Plan, r: &RunResult) -> Result<(), SweepError> {
        let row = csv_row(plan, &self.keys, r);
        self.record(&row)
    }

    pub fn finish(mut self) -> Result<(), SweepError> {
        self.w.flush().map_err(|source| SweepError::Write {
            path: self.tmp.clone(),
            source,
        })?;
        drop(self.w);
        std::fs::rename(&self.tmp, &self.path).map_err(|source| SweepError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

fn csv_row(plan: &Plan, keys: &[String], r: &RunResult) -> Vec<String> {
    let v = &plan.variants[r.variant];
    let mut row = vec![
        r.variant.to_string(),
        v.label.clone(),
        r.seed.to_string(),
        if r.error.is_some() { "failed" } else { "ok" }.to_string(),
    ];
    for (i, _) in plan.parameters.iter().enumerate() {
        row.push(v.values.get(i).map(yaml::flow).unwrap_or_default());
    }
    for k in keys {
        row.push(
            r.values
                .as_ref()
                .and_then(|m| m.get(k))
                .map(|x| fmt_value(*x))
                .unwrap_or_default(),
        );
    }
    row.push(r.error.clone().unwrap_or_default());
    row
}

/// Everything a finished (or merged) sweep writes besides `sweep.csv` and the meta file.
pub(crate) fn outputs(
    out: &Path,
    plan: &Plan,
    results: &[RunResult],
    summary: &Summary,
    manifests: &dyn Fn(usize) -> Vec<best::File>,
) -> Result<(), SweepError> {
    let failed: Vec<&RunResult> = results.iter().filter(|r| r.error.is_some()).collect();
    let doc = json!({
        "schema_version": SWEEP_SCHEMA_VERSION,
        "sweep": plan.name,
        "scenario": plan.scenario,
        "autoscaler": plan.autoscaler,
        "seeds": plan.seeds,
        "parameters": plan.parameters,
        "objective": {
            if plan.minimize { "minimize" } else { "maximize" }: plan.objective,
        },
        "constraints": plan.constraints.iter().map(|c| c.text()).collect::<Vec<_>>(),
        "base_overrides": plan.base_overrides,
        "runs": results.len(),
        "failed_runs": failed.len(),
        "best": summary.best.map(|i| plan.variants[i].label.clone()),
        "ranking": summary.ranking.iter().map(|&i| plan.variants[i].label.clone()).collect::<Vec<_>>(),
        "pareto": {
            "cost_vs_startup_p99": summary.pareto_cost_latency.iter().map(|&i| plan.variants[i].label.clone()).collect::<Vec<_>>(),
            "cost_vs_pods_disrupted": summary.pareto_cost_disruption.iter().map(|&i| plan.variants[i].label.clone()).collect::<Vec<_>>(),
        },
        "main_effects": summary.effects,
        "variants": summary.variants,
    });
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    write_file(&out.join("sweep.json"), &text)?;
    write_file(&out.join("sweep.md"), &sweep_md(plan, summary))?;
    write_file(
        &out.join("sweep.html"),
        &crate::html::sweep_html(plan, summary),
    )?;

    // best/: replaced whole, so that a file of an earlier winner does not linger.
    let dir = out.join("best");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|source| SweepError::Write {
            path: dir.clone(),
            source,
        })?;
    }
    crate::create_dir(&dir)?;
    let files = summary.best.map(manifests).unwrap_or_default();
    for (name, text) in best::files(plan, summary, files) {
        write_file(&dir.join(name), &text)?;
    }
    Ok(())
}

/// `sweep-meta.json`: how long it took, on how many threads. Not deterministic.
pub(crate) fn meta(
    out: &Path,
    plan: &Plan,
    opts: RunOptions,
    runs: usize,
    wall: f64,
) -> Result<(), SweepError> {
    let doc = json!({
        "sweep": plan.name,
        "jobs": opts.jobs,
        "shard": opts.shard.map(|(i, n)| format!("{i}/{n}")),
        "runs": runs,
        "wall_seconds": (wall * 1000.0).round() / 1000.0,
        "version": env!("CARGO_PKG_VERSION"),
    });
    write_file(
        &out.join("sweep-meta.json"),
        &(serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"),
    )
}

/// `sweep.md`: the answer first, then the ranking, the fronts, the effects and the failures.
pub(crate) fn sweep_md(plan: &Plan, summary: &Summary) -> String {
    let seeds = plan.seeds.len();
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Sweep {} — {} on `{}`\n",
        plan.name, plan.autoscaler, plan.scenario
    );
    let _ = writeln!(
        o,
        "{} variants × {} seed{} ({}); {} `{}`{}.\n",
        plan.variants.len(),
        seeds,
        if seeds == 1 { "" } else { "s" },
        plan.seeds
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        if plan.minimize {
            "minimise"
        } else {
            "maximise"
        },
        plan.objective,
        if plan.constraints.is_empty() {
            String::new()
        } else {
            format!(
                " subject to {}",
                plan.constraints
                    .iter()
                    .map(|c| format!("`{}`", c.text()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    let base = summary
        .variants
        .iter()
        .find(|v| v.baseline)
        .map(|v| v.index);
    match summary.best {
        Some(b) => {
            let bv = &summary.variants[b];
            let _ = write!(o, "**Best: {}** — {}", bv.label, bv.description);
            if let (Some(base), Some(x)) = (base, bv.mean(&plan.objective))
                && let Some(y) = summary.variants[base].mean(&plan.objective)
                && b != base
            {
                let _ = write!(
                    o,
                    "; `{}` {} against the base's {} ({}{} %)",
                    plan.objective,
                    fmt_value(round3(x)),
                    fmt_value(round3(y)),
                    if x >= y { "+" } else { "" },
                    if y.abs() > 1e-12 {
                        fmt_value(round3((x - y) / y * 100.0))
                    } else {
                        "—".into()
                    }
                );
            }
            if bv.baseline {
                let _ = writeln!(
                    o,
                    ": the base is already the best variant; nothing to change.\n"
                );
            } else {
                let _ = writeln!(o, ". The changed manifests and what they do: `best/`.\n");
            }
        }
        None => {
            let _ = writeln!(o, "**No variant meets every constraint.**\n");
        }
    }
    let _ = writeln!(
        o,
        "Mean over seeds ± standard deviation; constraints hold on the mean. Ranked first, then the others.\n"
    );
    let mut header = vec!["rank".to_string(), "variant".into()];
    header.extend(plan.parameters.iter().map(|p| p.name.clone()));
    let keys = table_keys(plan);
    header.extend(keys.iter().map(|k| format!("`{k}`")));
    header.push("notes".into());
    let _ = writeln!(o, "| {} |", header.join(" | "));
    let _ = writeln!(o, "|{}", "---|".repeat(header.len()));
    for i in summary.display_order() {
        let v = &summary.variants[i];
        let pv = &plan.variants[i];
        let mut row = vec![
            v.rank.map_or("—".to_string(), |r| r.to_string()),
            if v.baseline {
                format!("{} (base)", v.label)
            } else {
                v.label.clone()
            },
        ];
        for (k, _) in plan.parameters.iter().enumerate() {
            row.push(pv.values.get(k).map_or("(base)".to_string(), yaml::flow));
        }
        for k in &keys {
            row.push(v.cell(k, seeds));
        }
        row.push(v.notes());
        let _ = writeln!(o, "| {} |", row.join(" | ").replace('\n', " "));
    }
    let label = |i: &usize| plan.variants[*i].label.clone();
    let _ = writeln!(
        o,
        "\n**Pareto fronts** (among variants meeting every constraint): cost vs p99 startup: {}; cost vs pods disrupted: {}.\n",
        list_or_none(summary.pareto_cost_latency.iter().map(label).collect()),
        list_or_none(summary.pareto_cost_disruption.iter().map(label).collect())
    );
    if !summary.effects.is_empty() {
        let _ = writeln!(
            o,
            "## Main effects\n\nFor each parameter, the mean over the variants at each value (the other parameters averaged over), the base left out.\n"
        );
        // The objective's own column only when it is not one of the three shown anyway.
        let own = ![COST, LATENCY, DISRUPTED].contains(&plan.objective.as_str());
        let _ = writeln!(
            o,
            "| parameter | value | variants |{} `{COST}` | `{LATENCY}` | `{DISRUPTED}` |\n|---|---|---|{}---|---|---|",
            if own {
                format!(" `{}` |", plan.objective)
            } else {
                String::new()
            },
            if own { "---|" } else { "" }
        );
        for e in &summary.effects {
            for l in &e.levels {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} |{} {} | {} | {} |",
                    e.parameter,
                    l.value,
                    l.variants,
                    if own {
                        format!(" {} |", fmt_value(round3(l.objective)))
                    } else {
                        String::new()
                    },
                    fmt_value(round3(l.cost)),
                    fmt_value(round3(l.latency_p99)),
                    fmt_value(round3(l.disrupted))
                );
            }
        }
    }
    let failed: Vec<&crate::summary::VariantSummary> =
        summary.variants.iter().filter(|v| v.failed > 0).collect();
    if !failed.is_empty() {
        let _ = writeln!(o, "\n## Failed runs\n");
        for v in failed {
            for e in &v.errors {
                let _ = writeln!(
                    o,
                    "- {} ({}): {}",
                    v.label,
                    v.description,
                    e.replace('\n', " ")
                );
            }
        }
    }
    o
}

fn list_or_none(v: Vec<String>) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
