//! The `kind: Sweep` file (docs/sweep.md, docs/design.md §13): a base scenario, parameters that
//! change it (the `--set` syntax), how to combine their values into variants, the seeds, and the
//! objective and constraints on report keys. This module reads and checks the file and expands
//! the variants; running them is `asim-sweep`'s.
//!
//! Every error is located in the sweep file (line and field); a parameter whose path matches
//! nothing in the base scenario, or whose value the scenario's types refuse, is found here by
//! loading the base scenario with that one value — before anything runs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::Value;

use crate::load::{self, LoadError};
use crate::scenario::{API_VERSION, AutoscalerKind};
use crate::set::{self, LoadOptions, Override, Seg, Target};
use crate::{Scenario, is_known_expect_key};
use asim_core::k8s::duration::{format_duration, parse_duration};

pub const SWEEP_KIND: &str = "Sweep";

/// Largest number of variants a sweep may expand to (a typo in a range must not plan a
/// million runs); `sample` is the way through larger spaces.
pub const MAX_VARIANTS: usize = 10_000;
/// Largest `seeds` count.
pub const MAX_SEEDS: u64 = 1_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SweepDoc {
    #[allow(dead_code)] // checked by the loader before the document is parsed
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    metadata: crate::scenario::Metadata,
    spec: SpecDoc,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecDoc {
    scenario: String,
    #[serde(default)]
    autoscaler: Option<AutoscalerKind>,
    #[serde(default)]
    seeds: Option<Value>,
    parameters: Vec<ParamDoc>,
    #[serde(default)]
    combine: Option<Value>,
    objective: ObjectiveDoc,
    #[serde(default)]
    constraints: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ParamDoc {
    #[serde(default)]
    name: Option<String>,
    path: String,
    #[serde(default)]
    values: Option<Vec<Value>>,
    #[serde(default)]
    range: Option<RangeDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RangeDoc {
    from: Value,
    to: Value,
    #[serde(default)]
    step: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ObjectiveDoc {
    #[serde(default)]
    minimize: Option<String>,
    #[serde(default)]
    maximize: Option<String>,
}

/// A numeric or duration range.
#[derive(Clone, Debug, PartialEq)]
pub struct Range {
    pub from: f64,
    pub to: f64,
    pub step: Option<f64>,
    /// Durations are kept in milliseconds and written back as Go durations (`90s`).
    pub duration: bool,
    /// Every bound is a whole number: values are written as integers.
    pub integer: bool,
}

impl Range {
    /// The value at `u` ∈ [0, 1) of the range, on the step grid when there is one.
    pub fn at(&self, u: f64) -> Value {
        let mut x = self.from + u * (self.to - self.from);
        if let Some(step) = self.step {
            let k = ((x - self.from) / step).round();
            x = (self.from + k * step).min(self.to);
        }
        self.value(x)
    }

    /// Every value from `from` to `to` by `step` (`step` required).
    fn grid(&self) -> Vec<Value> {
        let Some(step) = self.step else {
            return Vec::new();
        };
        let n = ((self.to - self.from) / step + 1e-9).floor() as usize + 1;
        (0..n)
            .map(|k| self.value(self.from + k as f64 * step))
            .collect()
    }

    fn value(&self, x: f64) -> Value {
        if self.duration {
            Value::String(format_duration(x.round().max(0.0) as u64))
        } else if self.integer {
            Value::from(x.round() as i64)
        } else {
            // Six decimals: enough for any knob, and the same text on every platform.
            let r = (x * 1e6).round() / 1e6;
            serde_json::Number::from_f64(r).map_or(Value::Null, Value::Number)
        }
    }
}

/// What a parameter takes.
#[derive(Clone, Debug, PartialEq)]
pub enum Domain {
    Values(Vec<Value>),
    Range(Range),
}

/// One knob.
#[derive(Clone, Debug)]
pub struct Parameter {
    pub name: String,
    /// The path as written (`NodePool/default:spec.disruption.consolidateAfter`).
    pub path_text: String,
    pub target: Target,
    pub path: Vec<Seg>,
    pub domain: Domain,
    /// `spec.parameters[i]`, for messages.
    field: String,
}

impl Parameter {
    /// An override setting this parameter to `value`.
    pub fn set(&self, value: &Value) -> Override {
        Override {
            raw: format!("{}={}", self.path_text, value_text(value)),
            target: self.target.clone(),
            path: self.path.clone(),
            value: value.clone(),
        }
    }
}

/// A value as one line of text: strings bare, the rest as JSON (also valid YAML flow).
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// How the parameters' values combine into variants.
#[derive(Clone, Debug, PartialEq)]
pub enum Combine {
    /// Every combination.
    Product,
    /// Groups of parameters that vary together (item k of each), combined with the rest by
    /// product.
    Zip(Vec<Vec<usize>>),
    Sample {
        method: SampleMethod,
        count: usize,
        seed: u64,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SampleMethod {
    LatinHypercube,
    Random,
}

/// Minimise or maximise.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Direction {
    Minimize,
    Maximize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    pub key: String,
    pub direction: Direction,
}

impl Objective {
    /// Is `a` better than `b`?
    pub fn better(&self, a: f64, b: f64) -> bool {
        match self.direction {
            Direction::Minimize => a < b,
            Direction::Maximize => a > b,
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Le,
    Lt,
    Ge,
    Gt,
    Eq,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Ge => ">=",
            Op::Gt => ">",
            Op::Eq => "==",
        }
    }

    pub fn holds(self, x: f64, bound: f64) -> bool {
        match self {
            Op::Le => x <= bound,
            Op::Lt => x < bound,
            Op::Ge => x >= bound,
            Op::Gt => x > bound,
            // Report values are rounded before they are written; compare as written.
            Op::Eq => (x - bound).abs() <= 1e-9 * bound.abs().max(1.0),
        }
    }
}

/// `pods.startup_latency_s.p99 <= 60`.
#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    pub key: String,
    pub op: Op,
    pub bound: f64,
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.key,
            self.op.as_str(),
            asim_report::expect::num(self.bound)
        )
    }
}

/// How many seeds, or which.
#[derive(Clone, Debug, PartialEq)]
pub enum Seeds {
    /// The base scenario's seed and the next N − 1.
    Count(u64),
    List(Vec<u64>),
}

/// One variant: a value for each parameter, or none at all (the base scenario unchanged).
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// `base`, `v1`, `v2`, …
    pub label: String,
    /// One value per parameter; empty for the base.
    pub values: Vec<Value>,
}

impl Variant {
    pub fn is_base(&self) -> bool {
        self.values.is_empty()
    }
}

/// A checked sweep file, its variants expanded.
#[derive(Clone, Debug)]
pub struct Sweep {
    pub name: String,
    pub file: PathBuf,
    /// The base scenario, resolved against the sweep file's directory.
    pub scenario: PathBuf,
    pub autoscaler: Option<AutoscalerKind>,
    pub parameters: Vec<Parameter>,
    pub combine: Combine,
    pub seeds: Seeds,
    pub objective: Objective,
    pub constraints: Vec<Constraint>,
    /// Variant 0 is the base scenario unchanged.
    pub variants: Vec<Variant>,
    /// The largest run a variant may be (the command line's `--max-*`).
    pub limits: crate::Limits,
}

/// What a command line may change in a sweep file: fewer seeds, or a sample of the grid (a
/// quick look, or CI on a reduced grid).
#[derive(Clone, Copy, Debug, Default)]
pub struct Reduce {
    /// Run on this many seeds (the base scenario's seed and the next ones).
    pub seeds: Option<u64>,
    /// Run a Latin-hypercube sample of this many variants instead of `spec.combine`.
    pub sample: Option<usize>,
    /// The largest run a variant may be (`--max-pods`, `--max-nodes`, `--max-events`).
    pub limits: crate::Limits,
}

/// Read a sweep file, check it and expand its variants. `base` overrides (a command line's
/// `--set`) apply to every variant and to the checks against the base scenario.
pub fn load(path: &Path, base: &[Override], reduce: Reduce) -> Result<Sweep, LoadError> {
    let text = asim_core::files::read_to_string_capped(
        path,
        asim_core::files::MAX_MANIFEST_BYTES,
        "sweep file",
    )
    .map_err(|e| LoadError::new(path, None, None, format!("cannot read: {e}")))?;
    let docs = load::split_documents(&text);
    let [(start, doc)] = docs.as_slice() else {
        return Err(LoadError::new(
            path,
            None,
            None,
            format!(
                "a sweep file holds one document (apiVersion: {API_VERSION}, kind: {SWEEP_KIND}); found {}",
                docs.len()
            ),
        ));
    };
    let (start, doc) = (*start, doc.as_str());
    check_type(path, start, doc)?;
    let parsed: SweepDoc = load::parse_doc(path, start, doc)?;
    let err = |field: &str, message: String| {
        LoadError::new(
            path,
            Some(load::field_line(start, doc, field)),
            Some(field),
            message,
        )
    };
    let spec = parsed.spec;

    let scenario = path.parent().unwrap_or(Path::new(".")).join(&spec.scenario);
    if !scenario.is_file() {
        return Err(err(
            "spec.scenario",
            format!(
                "no such file: {} (resolved against the sweep file's directory)",
                scenario.display()
            ),
        ));
    }

    // Parameters.
    if spec.parameters.is_empty() {
        return Err(err(
            "spec.parameters",
            "an empty sweep: name at least one parameter".into(),
        ));
    }
    let mut parameters = Vec::new();
    let mut names = BTreeSet::new();
    for (i, p) in spec.parameters.iter().enumerate() {
        let field = format!("spec.parameters[{i}]");
        let (target, seg) =
            set::parse_lhs(&p.path).map_err(|m| err(&format!("{field}.path"), m))?;
        if matches!(target, Target::Scenario)
            && matches!(seg.as_slice(), [Seg::Key(s), Seg::Key(k), ..] if s == "spec" && (k == "seed" || k == "include"))
        {
            return Err(err(
                &format!("{field}.path"),
                "spec.seed and spec.include cannot be swept (use spec.seeds for seeds)".into(),
            ));
        }
        let name = p.name.clone().unwrap_or_else(|| p.path.clone());
        if !names.insert(name.clone()) {
            return Err(err(
                &format!("{field}.name"),
                format!("parameter {name:?} is named twice"),
            ));
        }
        let domain = match (&p.values, &p.range) {
            (Some(_), Some(_)) => {
                return Err(err(&field, "give values or a range, not both".into()));
            }
            (None, None) => {
                return Err(err(
                    &field,
                    "needs values: [...] or range: {from, to, step}".into(),
                ));
            }
            (Some(v), None) if v.is_empty() => {
                return Err(err(
                    &format!("{field}.values"),
                    "an empty list: the sweep would have no variants".into(),
                ));
            }
            (Some(v), None) => Domain::Values(v.clone()),
            (None, Some(r)) => {
                Domain::Range(range(r).map_err(|(f, m)| err(&format!("{field}.range.{f}"), m))?)
            }
        };
        parameters.push(Parameter {
            name,
            path_text: p.path.clone(),
            target,
            path: seg,
            domain,
            field,
        });
    }

    let mut combine = combine(spec.combine.as_ref(), &parameters).map_err(|(f, m)| err(&f, m))?;
    if let Some(count) = reduce.sample {
        combine = Combine::Sample {
            method: SampleMethod::LatinHypercube,
            count: count.clamp(1, MAX_VARIANTS),
            seed: 0,
        };
    }
    for (i, p) in parameters.iter().enumerate() {
        if let Domain::Range(r) = &p.domain
            && r.step.is_none()
            && !matches!(combine, Combine::Sample { .. })
        {
            return Err(err(
                &format!("spec.parameters[{i}].range.step"),
                "a range needs a step unless the sweep samples (combine: {sample: ...})".into(),
            ));
        }
    }

    let seeds = match &spec.seeds {
        None => Seeds::Count(1),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(n) if (1..=MAX_SEEDS).contains(&n) => Seeds::Count(n),
            _ => {
                return Err(err(
                    "spec.seeds",
                    format!("expected a count from 1 to {MAX_SEEDS} or a list of seeds, got {n}"),
                ));
            }
        },
        Some(Value::Array(list)) => {
            let mut seeds = Vec::new();
            for (i, v) in list.iter().enumerate() {
                let Some(s) = v.as_u64() else {
                    return Err(err(
                        &format!("spec.seeds[{i}]"),
                        format!("expected a non-negative integer seed, got {v}"),
                    ));
                };
                if seeds.contains(&s) {
                    return Err(err(&format!("spec.seeds[{i}]"), format!("seed {s} twice")));
                }
                seeds.push(s);
            }
            if seeds.is_empty() || seeds.len() as u64 > MAX_SEEDS {
                return Err(err(
                    "spec.seeds",
                    format!("expected 1 to {MAX_SEEDS} seeds, got {}", seeds.len()),
                ));
            }
            Seeds::List(seeds)
        }
        Some(other) => {
            return Err(err(
                "spec.seeds",
                format!("expected a count or a list of seeds, got {other}"),
            ));
        }
    };

    let seeds = match reduce.seeds {
        Some(n) => Seeds::Count(n.clamp(1, MAX_SEEDS)),
        None => seeds,
    };

    let objective = match (spec.objective.minimize, spec.objective.maximize) {
        (Some(key), None) => Objective {
            key,
            direction: Direction::Minimize,
        },
        (None, Some(key)) => Objective {
            key,
            direction: Direction::Maximize,
        },
        _ => {
            return Err(err(
                "spec.objective",
                "needs exactly one of minimize: KEY or maximize: KEY".into(),
            ));
        }
    };
    let obj_field = match objective.direction {
        Direction::Minimize => "spec.objective.minimize",
        Direction::Maximize => "spec.objective.maximize",
    };
    check_key(&objective.key).map_err(|m| err(obj_field, m))?;
    let mut constraints = Vec::new();
    for (i, c) in spec.constraints.iter().enumerate() {
        let field = format!("spec.constraints[{i}]");
        let parsed = constraint(c).map_err(|m| err(&field, m))?;
        check_key(&parsed.key).map_err(|m| err(&field, m))?;
        constraints.push(parsed);
    }

    let variants = expand(&parameters, &combine).map_err(|(f, m)| err(&f, m))?;
    let sweep = Sweep {
        name: parsed.metadata.name,
        file: path.to_path_buf(),
        scenario,
        autoscaler: spec.autoscaler,
        parameters,
        combine,
        seeds,
        objective,
        constraints,
        variants,
        limits: reduce.limits,
    };
    sweep.check_values(base, &err)?;
    Ok(sweep)
}

fn check_type(path: &Path, start: u64, doc: &str) -> Result<(), LoadError> {
    #[derive(Deserialize)]
    struct TypeMeta {
        #[serde(default, rename = "apiVersion")]
        api_version: Option<String>,
        #[serde(default)]
        kind: Option<String>,
    }
    let tm: TypeMeta = serde_saphyr::from_str(doc).map_err(|e| {
        LoadError::new(
            path,
            Some(start),
            None,
            format!(
                "not a YAML mapping: {}",
                e.to_string().lines().next().unwrap_or("")
            ),
        )
    })?;
    if tm.kind.as_deref() != Some(SWEEP_KIND) {
        return Err(LoadError::new(
            path,
            Some(load::field_line(start, doc, "kind")),
            Some("kind"),
            format!(
                "expected kind: {SWEEP_KIND}, got {}",
                tm.kind.as_deref().unwrap_or("nothing")
            ),
        ));
    }
    if tm.api_version.as_deref() != Some(API_VERSION) {
        return Err(LoadError::new(
            path,
            Some(load::field_line(start, doc, "apiVersion")),
            Some("apiVersion"),
            format!(
                "expected apiVersion: {API_VERSION}, got {}",
                tm.api_version.as_deref().unwrap_or("nothing")
            ),
        ));
    }
    Ok(())
}

/// A report key an objective or a constraint may name.
fn check_key(key: &str) -> Result<(), String> {
    if asim_report::numeric_keys().contains(key) {
        return Ok(());
    }
    if let Some((_, new)) = asim_report::RENAMED_KEYS
        .iter()
        .find(|(old, _)| *old == key)
    {
        return Err(format!(
            "report key {key} was renamed in report schema {}: use {new}",
            asim_report::SCHEMA_VERSION
        ));
    }
    if is_known_expect_key(key) {
        return Err(format!(
            "{key} is an entry of a map that not every run has; name a numeric key every report carries (docs/reports.md)"
        ));
    }
    Err(format!(
        "unknown report key {key:?} (a numeric key of report.json, e.g. cost.total_usd, pods.startup_latency_s.p99; docs/reports.md)"
    ))
}

/// `KEY OP NUMBER`.
fn constraint(text: &str) -> Result<Constraint, String> {
    let ops = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    for (s, op) in ops {
        if let Some((k, v)) = text.split_once(s) {
            let key = k.trim();
            let v = v.trim();
            let bound: f64 = v.parse().map_err(|_| {
                format!("{text:?}: {v:?} is not a number (expected KEY {s} NUMBER)")
            })?;
            if key.is_empty() || !bound.is_finite() {
                return Err(format!("{text:?}: expected KEY {s} NUMBER"));
            }
            return Ok(Constraint {
                key: key.to_string(),
                op,
                bound,
            });
        }
    }
    Err(format!(
        "{text:?}: expected KEY OP NUMBER with OP one of <=, <, >=, >, == (e.g. pods.startup_latency_s.p99 <= 60)"
    ))
}

/// A number, or a duration in milliseconds.
fn bound(v: &Value) -> Result<(f64, bool), String> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .filter(|x| x.is_finite())
            .map(|x| (x, false))
            .ok_or_else(|| format!("{n} is not a finite number")),
        Value::String(s) => parse_duration(s)
            .map(|ms| (ms as f64, true))
            .map_err(|e| format!("{s:?} is neither a number nor a duration: {e}")),
        other => Err(format!("expected a number or a duration, got {other}")),
    }
}

fn range(r: &RangeDoc) -> Result<Range, (String, String)> {
    let (from, df) = bound(&r.from).map_err(|m| ("from".to_string(), m))?;
    let (to, dt) = bound(&r.to).map_err(|m| ("to".to_string(), m))?;
    if df != dt {
        return Err((
            "to".into(),
            "from and to must both be numbers or both durations".into(),
        ));
    }
    if to < from {
        return Err(("to".into(), "to is below from".into()));
    }
    let step = match &r.step {
        None => None,
        Some(s) => {
            let (step, ds) = bound(s).map_err(|m| ("step".to_string(), m))?;
            if ds != df {
                return Err((
                    "step".into(),
                    "step must be of the same kind as from and to (number or duration)".into(),
                ));
            }
            if step <= 0.0 {
                return Err(("step".into(), "must be positive".into()));
            }
            if (to - from) / step + 1.0 > MAX_VARIANTS as f64 {
                return Err((
                    "step".into(),
                    format!("the range would have more than {MAX_VARIANTS} values"),
                ));
            }
            Some(step)
        }
    };
    let whole = |x: f64| x == x.trunc();
    Ok(Range {
        from,
        to,
        step,
        duration: df,
        integer: whole(from) && whole(to) && step.is_none_or(whole),
    })
}

fn combine(v: Option<&Value>, params: &[Parameter]) -> Result<Combine, (String, String)> {
    let f = "spec.combine".to_string();
    let Some(v) = v else {
        return Ok(Combine::Product);
    };
    let index_of = |name: &str, field: String| {
        params.iter().position(|p| p.name == name).ok_or_else(|| {
            let known: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
            (
                field,
                format!(
                    "no parameter named {name:?} (parameters: {})",
                    known.join(", ")
                ),
            )
        })
    };
    match v {
        Value::String(s) if s == "product" => Ok(Combine::Product),
        Value::Object(m) if m.len() == 1 && m.contains_key("zip") => {
            let Some(Value::Array(groups)) = m.get("zip") else {
                return Err((format!("{f}.zip"), "expected a list of lists of parameter names".into()));
            };
            let mut out = Vec::new();
            let mut seen = BTreeSet::new();
            for (g, group) in groups.iter().enumerate() {
                let gf = format!("{f}.zip[{g}]");
                let Value::Array(names) = group else {
                    return Err((gf, "expected a list of parameter names".into()));
                };
                if names.len() < 2 {
                    return Err((gf, "a zip group needs two or more parameters".into()));
                }
                let mut idx = Vec::new();
                for (k, n) in names.iter().enumerate() {
                    let Some(name) = n.as_str() else {
                        return Err((format!("{gf}[{k}]"), "expected a parameter name".into()));
                    };
                    let i = index_of(name, format!("{gf}[{k}]"))?;
                    if !seen.insert(i) {
                        return Err((format!("{gf}[{k}]"), format!("{name:?} is in two zip groups")));
                    }
                    idx.push(i);
                }
                let lens: Vec<usize> = idx
                    .iter()
                    .map(|&i| match &params[i].domain {
                        Domain::Values(v) => v.len(),
                        Domain::Range(r) => r.grid().len(),
                    })
                    .collect();
                if lens.windows(2).any(|w| w[0] != w[1]) {
                    return Err((
                        gf,
                        format!("parameters zipped together need as many values each, got {lens:?}"),
                    ));
                }
                out.push(idx);
            }
            Ok(Combine::Zip(out))
        }
        Value::Object(m) if m.len() == 1 && m.contains_key("sample") => {
            let sf = format!("{f}.sample");
            let Some(Value::Object(s)) = m.get("sample") else {
                return Err((sf, "expected {method: latin-hypercube | random, count: N}".into()));
            };
            for k in s.keys() {
                if !matches!(k.as_str(), "method" | "count" | "seed") {
                    return Err((
                        format!("{sf}.{k}"),
                        "unknown field (expected method, count, seed)".into(),
                    ));
                }
            }
            let method = match s.get("method").and_then(Value::as_str) {
                Some("latin-hypercube") => SampleMethod::LatinHypercube,
                Some("random") => SampleMethod::Random,
                _ => {
                    return Err((
                        format!("{sf}.method"),
                        "expected latin-hypercube or random".into(),
                    ));
                }
            };
            let count = match s.get("count").and_then(Value::as_u64) {
                Some(n) if (1..=MAX_VARIANTS as u64).contains(&n) => n as usize,
                _ => {
                    return Err((
                        format!("{sf}.count"),
                        format!("expected a count from 1 to {MAX_VARIANTS}"),
                    ));
                }
            };
            let seed = match s.get("seed") {
                None => 0,
                Some(v) => v.as_u64().ok_or_else(|| {
                    (format!("{sf}.seed"), "expected a non-negative integer".to_string())
                })?,
            };
            Ok(Combine::Sample {
                method,
                count,
                seed,
            })
        }
        _ => Err((
            f,
            "expected product, {zip: [[a, b], ...]} or {sample: {method: latin-hypercube | random, count: N}}"
                .into(),
        )),
    }
}

/// The variants: the base first, then the combinations in a fixed order (the first parameter
/// varies slowest).
// `k` and `i` index several parallel lists at once (every zipped parameter's values, every
// parameter's strata): an iterator over one of them would hide that.
#[allow(clippy::needless_range_loop)]
fn expand(params: &[Parameter], how: &Combine) -> Result<Vec<Variant>, (String, String)> {
    let lists: Vec<Vec<Value>> = params
        .iter()
        .map(|p| match &p.domain {
            Domain::Values(v) => v.clone(),
            Domain::Range(r) => r.grid(),
        })
        .collect();
    let mut combos: Vec<Vec<Value>> = match how {
        Combine::Product | Combine::Zip(_) => {
            let groups: Vec<Vec<usize>> = match how {
                Combine::Zip(z) => {
                    // Each zip group is one axis, placed where its first parameter is; every other
                    // parameter is an axis of its own.
                    let mut axes: Vec<Vec<usize>> = Vec::new();
                    for i in 0..params.len() {
                        match z.iter().find(|g| g.contains(&i)) {
                            Some(g) if g[0] == i || g.iter().min() == Some(&i) => {
                                axes.push(g.clone())
                            }
                            Some(_) => {}
                            None => axes.push(vec![i]),
                        }
                    }
                    axes
                }
                _ => (0..params.len()).map(|i| vec![i]).collect(),
            };
            let mut total: usize = 1;
            for g in &groups {
                total = total.saturating_mul(lists[g[0]].len());
            }
            if total > MAX_VARIANTS {
                return Err((
                    "spec.parameters".into(),
                    format!(
                        "the grid has {total} variants, more than {MAX_VARIANTS}; narrow it or sample it (combine: {{sample: {{method: latin-hypercube, count: N}}}})"
                    ),
                ));
            }
            let mut out = vec![vec![Value::Null; params.len()]];
            for g in &groups {
                let n = lists[g[0]].len();
                let mut next = Vec::with_capacity(out.len() * n);
                for partial in &out {
                    for k in 0..n {
                        let mut v = partial.clone();
                        for &i in g {
                            v[i] = lists[i][k].clone();
                        }
                        next.push(v);
                    }
                }
                out = next;
            }
            out
        }
        Combine::Sample {
            method,
            count,
            seed,
        } => {
            let mut rng =
                ChaCha8Rng::seed_from_u64(asim_core::engine::derive_seed(*seed, "sweep-sample"));
            // Uniform in [0, 1) from 53 random bits: arithmetic only, the same on every platform.
            let mut uniform = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let n = *count;
            // Latin hypercube: each parameter's [0, 1) cut into n strata, each used once, in a
            // random order per parameter (McKay, Beckman & Conover 1979).
            let strata: Vec<Vec<usize>> = params
                .iter()
                .map(|_| {
                    let mut p: Vec<usize> = (0..n).collect();
                    for i in (1..n).rev() {
                        let j = (uniform() * (i + 1) as f64) as usize;
                        p.swap(i, j.min(i));
                    }
                    p
                })
                .collect();
            let mut out = Vec::new();
            let mut seen = BTreeSet::new();
            for i in 0..n {
                let v: Vec<Value> = params
                    .iter()
                    .enumerate()
                    .map(|(j, p)| {
                        let u = match method {
                            SampleMethod::LatinHypercube => {
                                (strata[j][i] as f64 + uniform()) / n as f64
                            }
                            SampleMethod::Random => uniform(),
                        };
                        match &p.domain {
                            Domain::Values(list) => {
                                let k = ((u * list.len() as f64) as usize).min(list.len() - 1);
                                list[k].clone()
                            }
                            Domain::Range(r) => r.at(u),
                        }
                    })
                    .collect();
                // A repeat of an earlier sample would only spend runs on the same answer.
                if seen.insert(v.iter().map(Value::to_string).collect::<Vec<_>>()) {
                    out.push(v);
                }
            }
            out
        }
    };
    if combos.is_empty() {
        return Err(("spec.parameters".into(), "the sweep has no variants".into()));
    }
    let mut variants = vec![Variant {
        label: "base".into(),
        values: Vec::new(),
    }];
    let width = combos.len().to_string().len();
    for (k, values) in combos.drain(..).enumerate() {
        variants.push(Variant {
            label: format!("v{:0width$}", k + 1),
            values,
        });
    }
    Ok(variants)
}

impl Sweep {
    /// The seeds each variant runs on, given the base scenario's seed.
    pub fn seed_list(&self, base_seed: u64) -> Vec<u64> {
        match &self.seeds {
            Seeds::Count(n) => (0..*n).map(|k| base_seed.wrapping_add(k)).collect(),
            Seeds::List(l) => l.clone(),
        }
    }

    /// The overrides that make variant `v`: `base` first (every variant's), then its values.
    pub fn overrides(&self, v: &Variant, base: &[Override]) -> Vec<Override> {
        let mut out = base.to_vec();
        out.extend(
            self.parameters
                .iter()
                .zip(&v.values)
                .map(|(p, value)| p.set(value)),
        );
        out
    }

    /// Load the scenario variant `v` runs, or why it cannot.
    pub fn scenario_for(&self, v: &Variant, base: &[Override]) -> Result<Scenario, LoadError> {
        let opts = LoadOptions {
            variants: Vec::new(),
            overrides: self.overrides(v, base),
            limits: self.limits,
        };
        Scenario::load_with(&self.scenario, &opts)
    }

    /// Load the base scenario with each parameter's values one at a time, so that a path that
    /// matches nothing or a value the scenario refuses is reported at its place in the sweep
    /// file. Ranges are checked at their ends (and every step, when the grid is small).
    fn check_values(
        &self,
        base: &[Override],
        err: &dyn Fn(&str, String) -> LoadError,
    ) -> Result<(), LoadError> {
        let opts = LoadOptions {
            variants: Vec::new(),
            overrides: base.to_vec(),
            limits: self.limits,
        };
        let loaded = Scenario::load_with(&self.scenario, &opts).map_err(|e| {
            err(
                "spec.scenario",
                format!("the base scenario does not load: {e}"),
            )
        })?;
        if let Some(kind) = self.autoscaler {
            let configured = match kind {
                AutoscalerKind::Karpenter => !loaded.nodepools.is_empty(),
                AutoscalerKind::ClusterAutoscaler => {
                    !loaded.spec.cluster_autoscaler.node_groups.is_empty()
                }
                AutoscalerKind::None => true,
            };
            if !configured {
                return Err(err(
                    "spec.autoscaler",
                    format!(
                        "the base scenario does not configure {} (no {})",
                        kind.as_str(),
                        if kind == AutoscalerKind::Karpenter {
                            "NodePool"
                        } else {
                            "node group"
                        }
                    ),
                ));
            }
        }
        for p in &self.parameters {
            let (field, values): (String, Vec<(usize, Value)>) = match &p.domain {
                Domain::Values(v) => (
                    format!("{}.values", p.field),
                    v.iter().cloned().enumerate().collect(),
                ),
                Domain::Range(r) => {
                    let grid = r.grid();
                    let vals = if !grid.is_empty() && grid.len() <= 16 {
                        grid
                    } else {
                        vec![r.at(0.0), r.at(1.0)]
                    };
                    (
                        format!("{}.range", p.field),
                        vals.into_iter().enumerate().collect(),
                    )
                }
            };
            let mut checked: BTreeMap<String, ()> = BTreeMap::new();
            for (k, value) in values {
                if checked.insert(value.to_string(), ()).is_some() {
                    continue;
                }
                let mut overrides = base.to_vec();
                overrides.push(p.set(&value));
                let opts = LoadOptions {
                    variants: Vec::new(),
                    overrides,
                    limits: self.limits,
                };
                if let Err(e) = Scenario::load_with(&self.scenario, &opts) {
                    let at = match &p.domain {
                        Domain::Values(_) => format!("{field}[{k}]"),
                        Domain::Range(_) => field.clone(),
                    };
                    return Err(err(
                        &at,
                        format!(
                            "{} = {}: the base scenario refuses it: {e}",
                            p.path_text,
                            value_text(&value)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(name: &str, values: &[i64]) -> Parameter {
        let (target, path) = set::parse_lhs("spec.x").unwrap();
        Parameter {
            name: name.into(),
            path_text: "spec.x".into(),
            target,
            path,
            domain: Domain::Values(values.iter().map(|v| Value::from(*v)).collect()),
            field: String::new(),
        }
    }

    #[test]
    fn product_varies_the_first_parameter_slowest_after_the_base() {
        let p = [param("a", &[1, 2]), param("b", &[10, 20, 30])];
        let v = expand(&p, &Combine::Product).unwrap();
        assert_eq!(v.len(), 7);
        assert!(v[0].is_base());
        assert_eq!(v[1].values, vec![Value::from(1), Value::from(10)]);
        assert_eq!(v[2].values, vec![Value::from(1), Value::from(20)]);
        assert_eq!(v[4].values, vec![Value::from(2), Value::from(10)]);
    }

    #[test]
    fn zip_moves_a_group_together() {
        let p = [
            param("a", &[1, 2]),
            param("b", &[10, 20]),
            param("c", &[7, 8, 9]),
        ];
        let v = expand(&p, &Combine::Zip(vec![vec![0, 1]])).unwrap();
        assert_eq!(v.len(), 1 + 2 * 3);
        for x in &v[1..] {
            assert_eq!(
                x.values[1].as_i64().unwrap(),
                x.values[0].as_i64().unwrap() * 10
            );
        }
    }

    #[test]
    fn latin_hypercube_uses_each_stratum_once_per_parameter() {
        let r = Range {
            from: 0.0,
            to: 100.0,
            step: None,
            duration: false,
            integer: false,
        };
        let mut a = param("a", &[]);
        a.domain = Domain::Range(r.clone());
        let mut b = param("b", &[]);
        b.domain = Domain::Range(r);
        let how = Combine::Sample {
            method: SampleMethod::LatinHypercube,
            count: 10,
            seed: 3,
        };
        let v = expand(&[a.clone(), b.clone()], &how).unwrap();
        assert_eq!(v.len(), 11);
        for j in 0..2 {
            let mut strata: Vec<usize> = v[1..]
                .iter()
                .map(|x| (x.values[j].as_f64().unwrap() / 10.0) as usize)
                .collect();
            strata.sort();
            assert_eq!(strata, (0..10).collect::<Vec<_>>());
        }
        // Seeded: the same file gives the same variants.
        assert_eq!(v, expand(&[a, b], &how).unwrap());
    }

    #[test]
    fn duration_ranges_expand_to_go_durations() {
        let r = range(&RangeDoc {
            from: Value::from("30s"),
            to: Value::from("2m"),
            step: Some(Value::from("30s")),
        })
        .unwrap();
        assert_eq!(
            r.grid(),
            ["30s", "1m0s", "1m30s", "2m0s"]
                .iter()
                .map(|s| Value::from(*s))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn constraints_parse_with_every_operator() {
        let c = constraint("pods.startup_latency_s.p99 <= 60").unwrap();
        assert_eq!(
            (c.key.as_str(), c.op, c.bound),
            ("pods.startup_latency_s.p99", Op::Le, 60.0)
        );
        assert_eq!(constraint("a.b == 0").unwrap().op, Op::Eq);
        assert_eq!(constraint("a.b>1.5").unwrap().op, Op::Gt);
        assert!(
            constraint("a.b ~ 3")
                .unwrap_err()
                .contains("expected KEY OP NUMBER")
        );
        assert!(
            constraint("a.b <= lots")
                .unwrap_err()
                .contains("not a number")
        );
    }
}
