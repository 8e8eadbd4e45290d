//! `autoscale-sim check` (docs/design.md §11): run scenarios, judge each run by the scenario's `expect`
//! thresholds and against a baseline `report.json`, print a table, write JUnit XML. Exit 0 when
//! everything passed, 1 when a threshold or the baseline failed, 2 on bad input.
//!
//! Which runs: for each scenario, every autoscaler its `expect` names (`karpenter`,
//! `cluster-autoscaler`, `none`); when it names none (only `all`, or no `expect`), the
//! scenario's default autoscaler. The baseline of a run is
//! `BASELINE/<scenario name>/<autoscaler>/report.json`; the keys compared are
//! [`autoscale_sim::report::expect::BASELINE_KEYS`].

use std::fmt::Write as _;
use std::path::PathBuf;

use autoscale_sim::report::expect::{self, Outcome, num};
use autoscale_sim::workload::{AutoscalerKind, Scenario};

use super::compare::{execute, write_file};

pub(super) struct CheckArgs {
    pub scenarios: Vec<PathBuf>,
    pub baseline: Option<PathBuf>,
    pub tolerance: f64,
    pub junit: Option<PathBuf>,
    pub update_baseline: bool,
    pub out: Option<PathBuf>,
}

/// The judged items of one run (or the error that stopped it).
struct Suite {
    /// `scenario/autoscaler`, or the file when it did not load.
    name: String,
    outcomes: Vec<Outcome>,
    /// Notes that are neither pass nor fail (no baseline yet, baseline written).
    notes: Vec<String>,
    error: Option<String>,
}

fn kind_from(name: &str) -> Option<AutoscalerKind> {
    match name {
        "karpenter" => Some(AutoscalerKind::Karpenter),
        "cluster-autoscaler" => Some(AutoscalerKind::ClusterAutoscaler),
        "none" => Some(AutoscalerKind::None),
        _ => None,
    }
}

/// The autoscalers to run a scenario under (see the module doc).
fn autoscalers(s: &Scenario) -> Vec<AutoscalerKind> {
    let named: Vec<AutoscalerKind> = s.expect.keys().filter_map(|k| kind_from(k)).collect();
    if named.is_empty() {
        vec![s.default_autoscaler]
    } else {
        named
    }
}

pub(super) fn cmd_check(a: CheckArgs, quiet: bool) -> i32 {
    if a.update_baseline && a.baseline.is_none() {
        return super::fail("--update-baseline needs --baseline DIR (where to write the reports)");
    }
    if !(a.tolerance.is_finite() && a.tolerance >= 0.0) {
        return super::fail(format!(
            "--tolerance must be a non-negative percentage, got {}",
            a.tolerance
        ));
    }
    let mut suites = Vec::new();
    for path in &a.scenarios {
        let scenario = match super::load_scenario(path) {
            Ok(s) => {
                super::warn_not_simulated(&s);
                s
            }
            Err(e) => {
                suites.push(Suite {
                    name: path.display().to_string(),
                    outcomes: Vec::new(),
                    notes: Vec::new(),
                    error: Some(e.to_string()),
                });
                continue;
            }
        };
        for kind in autoscalers(&scenario) {
            suites.push(check_run(&scenario, kind, &a, quiet));
            // An interrupt ends the check before any table, JUnit file or baseline is written.
            if let Some(code) = super::interrupt::stop_here() {
                return code;
            }
        }
    }
    let table = render_table(&suites);
    if !quiet
        || suites
            .iter()
            .any(|s| s.error.is_some() || s.outcomes.iter().any(|o| !o.pass))
    {
        print!("{table}");
    }
    for s in &suites {
        if let Some(e) = &s.error {
            eprintln!("error: {e}");
        }
    }
    if let Some(j) = &a.junit {
        if let Some(dir) = j.parent().filter(|d| !d.as_os_str().is_empty())
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            return super::fail(format!("cannot create {}: {e}", dir.display()));
        }
        if let Err(e) = write_file(j, &junit_xml(&suites)) {
            return super::fail(format!("cannot write {}: {e}", j.display()));
        }
    }
    if suites.iter().any(|s| s.error.is_some()) {
        2
    } else if suites.iter().any(|s| s.outcomes.iter().any(|o| !o.pass)) {
        1
    } else {
        0
    }
}

fn check_run(scenario: &Scenario, kind: AutoscalerKind, a: &CheckArgs, quiet: bool) -> Suite {
    let name = format!("{}/{}", scenario.name, kind.as_str());
    let mut suite = Suite {
        name,
        outcomes: Vec::new(),
        notes: Vec::new(),
        error: None,
    };
    let out = a
        .out
        .as_ref()
        .map(|o| o.join(&scenario.name).join(kind.as_str()));
    let run = match execute(scenario, kind, kind.as_str(), out.as_deref(), quiet) {
        Ok(r) => r,
        Err(e) => {
            suite.error = Some(e);
            return suite;
        }
    };
    suite.outcomes = expect::evaluate_expect(&run.view.report, kind.as_str(), &scenario.expect);
    let Some(base_dir) = &a.baseline else {
        return suite;
    };
    let dir = base_dir.join(&scenario.name).join(kind.as_str());
    let file = dir.join("report.json");
    if a.update_baseline {
        let written = std::fs::create_dir_all(&dir)
            .and_then(|_| write_file(&file, &run.report_json))
            .and_then(|_| write_file(&dir.join("report.md"), &run.report_md))
            .and_then(|_| write_file(&dir.join("decisions.digest"), &run.decisions_digest));
        match written {
            Ok(()) => suite
                .notes
                .push(format!("baseline written to {}", file.display())),
            Err(e) => suite.error = Some(format!("cannot write {}: {e}", file.display())),
        }
        return suite;
    }
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            suite.notes.push(format!(
                "no baseline at {} (create it with --update-baseline)",
                file.display()
            ));
            return suite;
        }
        Err(e) => {
            suite.error = Some(format!("cannot read {}: {e}", file.display()));
            return suite;
        }
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(base)
            if base
                .get("schema_version")
                .and_then(serde_json::Value::as_u64)
                != Some(u64::from(asim_report::SCHEMA_VERSION)) =>
        {
            suite.error = Some(format!(
                "{}: written with report schema {}, this build writes schema {} (docs/reports.md says what changed); write it again with --update-baseline",
                file.display(),
                base.get("schema_version")
                    .map_or_else(|| "?".to_string(), ToString::to_string),
                asim_report::SCHEMA_VERSION
            ));
        }
        Ok(base) => suite.outcomes.extend(expect::compare_baseline(
            &run.view.report,
            &base,
            a.tolerance,
        )),
        Err(e) => suite.error = Some(format!("{}: not JSON: {e}", file.display())),
    }
    suite
}

fn render_table(suites: &[Suite]) -> String {
    let mut rows: Vec<[String; 5]> = vec![[
        "run".into(),
        "check".into(),
        "value".into(),
        "limit".into(),
        "result".into(),
    ]];
    let mut notes = Vec::new();
    for s in suites {
        if let Some(e) = &s.error {
            rows.push([
                s.name.clone(),
                "run".into(),
                String::new(),
                String::new(),
                "ERROR".into(),
            ]);
            notes.push(format!("{}: {e}", s.name));
            continue;
        }
        if s.outcomes.is_empty() {
            rows.push([
                s.name.clone(),
                "run".into(),
                String::new(),
                String::new(),
                "pass".into(),
            ]);
        }
        for o in &s.outcomes {
            rows.push([
                s.name.clone(),
                format!("{} {}", o.kind, o.key),
                o.value.map(num).unwrap_or_else(|| "—".into()),
                o.limit.clone(),
                if o.pass { "pass" } else { "FAIL" }.into(),
            ]);
            if !o.message.is_empty() {
                notes.push(format!("{} {} {}: {}", s.name, o.kind, o.key, o.message));
            }
        }
        for n in &s.notes {
            notes.push(format!("{}: {n}", s.name));
        }
    }
    let mut widths = [0usize; 5];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(widths).enumerate() {
            if i == 2 {
                let _ = write!(line, "{c:>w$}  ");
            } else {
                let _ = write!(line, "{c:<w$}  ");
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    for n in notes {
        let _ = writeln!(out, "  {n}");
    }
    let total: usize = suites.iter().map(|s| s.outcomes.len()).sum();
    let failed: usize = suites
        .iter()
        .map(|s| s.outcomes.iter().filter(|o| !o.pass).count())
        .sum();
    let errors = suites.iter().filter(|s| s.error.is_some()).count();
    let _ = writeln!(
        out,
        "{} run{}, {total} check{}: {} passed, {failed} failed{}",
        suites.len(),
        if suites.len() == 1 { "" } else { "s" },
        if total == 1 { "" } else { "s" },
        total - failed,
        if errors > 0 {
            format!(", {errors} error{}", if errors == 1 { "" } else { "s" })
        } else {
            String::new()
        }
    );
    out
}

fn xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // Characters XML 1.0 cannot hold.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// JUnit XML: one `<testsuite>` per run, one `<testcase>` per judged item. No timestamps or
/// durations, so it is as deterministic as the runs.
fn junit_xml(suites: &[Suite]) -> String {
    let total: usize = suites.iter().map(|s| s.outcomes.len().max(1)).sum();
    let failures: usize = suites
        .iter()
        .map(|s| s.outcomes.iter().filter(|o| !o.pass).count())
        .sum();
    let errors = suites.iter().filter(|s| s.error.is_some()).count();
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        o,
        "<testsuites name=\"autoscale-sim check\" tests=\"{total}\" failures=\"{failures}\" errors=\"{errors}\">"
    );
    for s in suites {
        let class = xml(&s.name.replace('/', "."));
        let f = s.outcomes.iter().filter(|o| !o.pass).count();
        let _ = writeln!(
            o,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{f}\" errors=\"{}\">",
            xml(&s.name),
            s.outcomes.len().max(1),
            usize::from(s.error.is_some())
        );
        if let Some(e) = &s.error {
            let _ = writeln!(
                o,
                "    <testcase classname=\"{class}\" name=\"run\">\n      <error message=\"{}\">{}</error>\n    </testcase>",
                xml(e.lines().next().unwrap_or("")),
                xml(e)
            );
        } else if s.outcomes.is_empty() {
            let _ = writeln!(o, "    <testcase classname=\"{class}\" name=\"run\"/>");
        }
        for out in &s.outcomes {
            let name = xml(&format!("{} {} ({})", out.kind, out.key, out.limit));
            if out.pass {
                let _ = writeln!(o, "    <testcase classname=\"{class}\" name=\"{name}\"/>");
            } else {
                let _ = writeln!(
                    o,
                    "    <testcase classname=\"{class}\" name=\"{name}\">\n      <failure message=\"{}\">value {}, limit {}</failure>\n    </testcase>",
                    xml(&out.message),
                    out.value.map(num).unwrap_or_else(|| "missing".into()),
                    xml(&out.limit)
                );
            }
        }
        if !s.notes.is_empty() {
            let _ = writeln!(
                o,
                "    <system-out>{}</system-out>",
                xml(&s.notes.join("\n"))
            );
        }
        let _ = writeln!(o, "  </testsuite>");
    }
    o.push_str("</testsuites>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(pass: bool) -> Outcome {
        Outcome {
            kind: "expect",
            key: "cost.total_usd".into(),
            value: Some(3.5),
            limit: "max 3".into(),
            pass,
            message: if pass {
                String::new()
            } else {
                "3.5 is above the maximum 3 & <more>".into()
            },
        }
    }

    #[test]
    fn junit_counts_failures_and_escapes_text() {
        let suites = vec![
            Suite {
                name: "s/none".into(),
                outcomes: vec![outcome(true), outcome(false)],
                notes: vec!["no baseline".into()],
                error: None,
            },
            Suite {
                name: "bad.yaml".into(),
                outcomes: Vec::new(),
                notes: Vec::new(),
                error: Some("bad.yaml:3: spec: \"x\"".into()),
            },
        ];
        let x = junit_xml(&suites);
        assert!(x.contains("tests=\"3\" failures=\"1\" errors=\"1\""), "{x}");
        assert!(x.contains("&amp; &lt;more&gt;"));
        assert!(x.contains("<error message=\"bad.yaml:3: spec: &quot;x&quot;\""));
    }

    #[test]
    fn table_marks_failures() {
        let suites = vec![Suite {
            name: "s/none".into(),
            outcomes: vec![outcome(true), outcome(false)],
            notes: Vec::new(),
            error: None,
        }];
        let t = render_table(&suites);
        assert!(t.contains("FAIL"));
        assert!(t.contains("1 run, 2 checks: 1 passed, 1 failed"), "{t}");
    }
}
