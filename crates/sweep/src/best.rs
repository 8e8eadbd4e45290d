//! `best/`: the winning variant's changed manifests, ready for `kubectl apply`, and `diff.md`:
//! what changed against the base and what it does to cost, latency and disruption.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use asim_workload::load;
use asim_workload::set::{Override, Target, set_in};
use asim_workload::sweep::Sweep;

use crate::plan::Plan;
use crate::summary::{COST, DISRUPTED, LATENCY, Summary, VariantSummary, round3};
use crate::{fmt_value, yaml};

/// A file of `best/`: its name and text.
pub type File = (String, String);

/// The manifests variant `v` changes, each with every override of the variant (and of the
/// command line) applied, as `kind-[namespace-]name.yaml`. The Scenario document is not a
/// manifest: its changes are listed in `diff.md` as `--set` arguments.
pub(crate) fn changed_manifests(sweep: &Sweep, base: &[Override], v: usize) -> Vec<File> {
    let Some(variant) = sweep.variants.get(v) else {
        return Vec::new();
    };
    if variant.is_base() {
        return Vec::new();
    }
    let Ok(raw) = load::read_scenario(&sweep.scenario) else {
        return Vec::new();
    };
    let overrides = sweep.overrides(variant, base);
    // The manifests the variant's own parameters name, in the order they are first named.
    let mut touched: Vec<usize> = Vec::new();
    for p in &sweep.parameters {
        let Target::Manifest {
            kind,
            namespace,
            name,
        } = &p.target
        else {
            continue;
        };
        if let Some(i) = raw.manifests.iter().position(|m| {
            m.object.kind() == kind
                && &m.name == name
                && namespace.as_ref().is_none_or(|ns| &m.namespace == ns)
        }) && !touched.contains(&i)
        {
            touched.push(i);
        }
    }
    let mut files = Vec::new();
    for i in touched {
        let m = &raw.manifests[i];
        let Ok(mut tree) = serde_saphyr::from_str::<Value>(&m.text) else {
            continue;
        };
        for o in &overrides {
            if let Target::Manifest {
                kind,
                namespace,
                name,
            } = &o.target
                && kind == m.object.kind()
                && name == &m.name
                && namespace.as_ref().is_none_or(|ns| ns == &m.namespace)
            {
                // Every override was applied once already when the variant loaded.
                let _ = set_in(&mut tree, &o.path, o.value.clone());
            }
        }
        let mut file = m.object.kind().to_ascii_lowercase();
        if m.namespace != "default" {
            file.push('-');
            file.push_str(&m.namespace);
        }
        file.push('-');
        file.push_str(&m.name);
        file.push_str(".yaml");
        files.push((file, yaml::to_yaml(&tree)));
    }
    files
}

/// `best/diff.md`.
pub(crate) fn diff_md(plan: &Plan, summary: &Summary, files: &[File]) -> String {
    let mut o = String::new();
    let base = summary.variants.iter().find(|v| v.baseline);
    let _ = writeln!(o, "# {} — the recommended change\n", plan.name);
    let Some(best) = summary.best.map(|i| &summary.variants[i]) else {
        let _ = writeln!(
            o,
            "No variant met every constraint ({}), so there is nothing to recommend. \
             `sweep.md` lists each variant with the constraints it missed.",
            plan.constraints
                .iter()
                .map(|c| format!("`{}`", c.text()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        return o;
    };
    let seeds = plan.seeds.len();
    if best.baseline {
        let _ = writeln!(
            o,
            "The base scenario (`{}`) is already the best variant that meets every constraint: \
             no variant did better on `{}` over {seeds} seed{}. Nothing to apply.",
            plan.scenario,
            plan.objective,
            if seeds == 1 { "" } else { "s" }
        );
        return o;
    }
    let _ = writeln!(
        o,
        "Variant **{}** ranks first of {} that meet every constraint, {} `{}` over {seeds} seed{} ({}).\n",
        best.label,
        summary.ranking.len(),
        if plan.minimize {
            "minimising"
        } else {
            "maximising"
        },
        plan.objective,
        if seeds == 1 { "" } else { "s" },
        plan.seeds
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(o, "## What changes\n");
    let _ = writeln!(
        o,
        "| parameter | path | base | recommended |\n|---|---|---|---|"
    );
    let variant = &plan.variants[best.index];
    let mut scenario_sets = Vec::new();
    for (p, value) in plan.parameters.iter().zip(&variant.values) {
        let was = p
            .base
            .as_ref()
            .map_or_else(|| "(not set)".to_string(), yaml::flow);
        let now = yaml::flow(value);
        let _ = writeln!(
            o,
            "| {} | `{}` | {} | {}{} |",
            p.name,
            p.path,
            was,
            now,
            if was == now { " (unchanged)" } else { "" }
        );
        if asim_workload::set::parse_lhs(&p.path).is_ok_and(|(t, _)| t == Target::Scenario) {
            scenario_sets.push(format!("--set '{}={}'", p.path, now));
        }
    }
    if !files.is_empty() {
        let _ = writeln!(
            o,
            "\nThe changed manifests are in this directory, ready to apply:\n\n```sh\n{}\n```",
            files
                .iter()
                .map(|(f, _)| format!("kubectl apply -f {f}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    if !scenario_sets.is_empty() {
        let _ = writeln!(
            o,
            "\nThe simulated world changes too (not something to apply): run it with\n\n```sh\nautoscale-sim run {} {}\n```",
            plan.scenario,
            scenario_sets.join(" ")
        );
    }
    if !plan.base_overrides.is_empty() {
        let _ = writeln!(
            o,
            "\nEvery variant ran with {}.",
            plan.base_overrides
                .iter()
                .map(|s| format!("`--set {s}`"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let _ = writeln!(o, "\n## What it does\n");
    if !summary.best_vs_base.is_empty() {
        let better = summary
            .best_vs_base
            .iter()
            .filter(|p| {
                if plan.minimize {
                    p.best < p.base
                } else {
                    p.best > p.base
                }
            })
            .count();
        let n = summary.best_vs_base.len();
        let _ = writeln!(
            o,
            "`{}` on each seed (every variant ran on the same seeds, so a seed's difference is the change's, not noise):\n",
            plan.objective
        );
        let _ = writeln!(
            o,
            "| seed | base | recommended | change |\n|---|---|---|---|"
        );
        for p in &summary.best_vs_base {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                p.seed,
                fmt_value(round3(p.base)),
                fmt_value(round3(p.best)),
                change(p.base, p.best)
            );
        }
        let _ = writeln!(
            o,
            "\n{}\n",
            if better == n {
                format!("Better on every seed ({n} of {n}).")
            } else {
                format!(
                    "Better on {better} of {n} seeds only: the gain is within the seeds' spread; run more seeds (`spec.seeds`) before trusting it."
                )
            }
        );
    }
    let _ = writeln!(
        o,
        "Mean over the seeds (min – max in brackets); the change is recommended minus base.\n"
    );
    let _ = writeln!(
        o,
        "| metric | base | recommended | change |\n|---|---|---|---|"
    );
    let mut keys: Vec<&str> = vec![
        COST,
        LATENCY,
        DISRUPTED,
        "disruption.pods_disrupted.evicted",
    ];
    for k in std::iter::once(plan.objective.as_str())
        .chain(plan.constraints.iter().map(|c| c.key.as_str()))
    {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for k in keys {
        let cell = |v: Option<&VariantSummary>| {
            v.and_then(|v| v.metrics.get(k))
                .map_or("—".to_string(), |s| {
                    if seeds > 1 {
                        format!(
                            "{} ({} – {})",
                            fmt_value(round3(s.mean)),
                            fmt_value(round3(s.min)),
                            fmt_value(round3(s.max))
                        )
                    } else {
                        fmt_value(round3(s.mean))
                    }
                })
        };
        let delta = match (base.and_then(|b| b.mean(k)), best.mean(k)) {
            (Some(b), Some(n)) => change(b, n),
            _ => "—".into(),
        };
        let _ = writeln!(
            o,
            "| `{k}` | {} | {} | {delta} |",
            cell(base),
            cell(Some(best))
        );
    }
    if let Some(b) = base
        && !b.feasible
    {
        let _ = writeln!(
            o,
            "\nThe base scenario itself misses {}.",
            if b.violated.is_empty() {
                "a run (see sweep.md)".to_string()
            } else {
                b.violated
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }
    if !files.is_empty() {
        let _ = writeln!(
            o,
            "\nTo see the change on one seed with every chart, from the directory the sweep ran in (OUT being its `--out`):\n\n```sh\nautoscale-sim compare {} {} --seed {}\n```",
            plan.scenario,
            files
                .iter()
                .map(|(f, _)| format!("--variant OUT/best/{f}"))
                .collect::<Vec<_>>()
                .join(" "),
            plan.seeds.first().copied().unwrap_or_default()
        );
    }
    o
}

/// `+1.5 (+2.1 %)`.
fn change(base: f64, new: f64) -> String {
    let d = new - base;
    let sign = if d >= 0.0 { "+" } else { "" };
    if base.abs() > 1e-12 {
        format!(
            "{sign}{} ({sign}{} %)",
            fmt_value(round3(d)),
            fmt_value(round3(d / base * 100.0))
        )
    } else {
        format!("{sign}{}", fmt_value(round3(d)))
    }
}

/// The files of `best/` by name (the manifests, then `diff.md`).
pub(crate) fn files(
    plan: &Plan,
    summary: &Summary,
    manifests: Vec<File>,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let diff = diff_md(plan, summary, &manifests);
    for (f, t) in manifests {
        out.insert(f, t);
    }
    out.insert("diff.md".into(), diff);
    out
}
