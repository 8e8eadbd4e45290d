//! Structure-aware fuzzing on stable Rust (issue 18, item 3). Each shipped scenario (outside
//! `scenarios/perf/`) and the files it includes are read as YAML trees, mutated — entries
//! deleted and duplicated (duplicate keys too), values retyped, numbers at the edges, unicode
//! and very long text, renamed keys, deep nesting — written into a scratch copy of the
//! repository (`/tmp/fuzz-*`), and loaded:
//!
//! - in process, `Scenario::load` and the autoscalers' and simulation's construction (what
//!   `autoscale-sim validate` does), under `catch_unwind`: no panic, and an error names a file
//!   in the scratch copy, on one line, with a line number whenever it names a field;
//! - through the binary, `validate` and `run --out DIR` under a hard timeout: exit 0 or 2, never
//!   a signal or a panic; on 2, a one-line `error: FILE…` and no output directory (nor its
//!   staging directory) left behind; on 0, every report written.
//!
//! The trace readers (generic, openb, azure-vm, replicas) get the same at the row and byte
//! level: lines truncated, deleted, duplicated, fields added, dropped and replaced, bytes that
//! are not UTF-8, CRLF, a BOM, empty files; read directly and through a scenario.
//!
//! Proptest drives the cases from a fixed seed, so a CI run is the same run every time.
//! `ASIM_FUZZ_CASES=N` sets the number of in-process cases per test (the binary gets N/4) and
//! `ASIM_FUZZ_SEED=S` the seed, for a longer search (docs/testing.md "Fuzzing"). A failure is
//! shrunk to a minimal list of mutations, and its files are kept in `/tmp/fuzz-failures/`;
//! every one found becomes a test in `tests/fuzz_regressions.rs`.

#[path = "common/fuzz.rs"]
mod kit;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use autoscale_sim::run::make_autoscaler;
use autoscale_sim::sim::Simulation;
use autoscale_sim::workload::traces::{self, TraceError, TraceFormat, TraceOptions};
use autoscale_sim::workload::{AutoscalerKind, LoadError, Scenario};
use kit::{Mutation, Y};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use rand::SeedableRng;

// ---- configuration --------------------------------------------------------------------------

/// In-process cases per test in CI; the binary runs a quarter as many.
const DEFAULT_CASES: u32 = 400;
const DEFAULT_SEED: u64 = 18;
/// A `run` longer than this is a failure (a hang), not a slow test.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

fn cases() -> u32 {
    std::env::var("ASIM_FUZZ_CASES")
        .ok()
        .map(|v| v.parse().expect("ASIM_FUZZ_CASES is a number"))
        .unwrap_or(DEFAULT_CASES)
}

fn seed() -> u64 {
    std::env::var("ASIM_FUZZ_SEED")
        .ok()
        .map(|v| v.parse().expect("ASIM_FUZZ_SEED is a number"))
        .unwrap_or(DEFAULT_SEED)
}

/// A deterministic runner: the seed, no persistence file, a bounded shrink.
fn runner(cases: u32, salt: u64) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 300,
        max_shrink_time: 120_000,
        ..Config::default()
    };
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed().to_le_bytes());
    bytes[8..16].copy_from_slice(&salt.to_le_bytes());
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---- the shipped scenarios ------------------------------------------------------------------

struct Shipped {
    /// Relative to the repository: `scenarios/karpenter-spike.yaml`.
    rel: PathBuf,
    /// The scenario file and the files it includes, relative to the repository, each with its
    /// documents.
    files: Vec<(PathBuf, Vec<Y>)>,
}

/// Every file under `scenarios/` with a `kind: Scenario` line, as `.ci/run` finds them, less
/// `scenarios/perf/` (too large to fuzz).
fn shipped() -> Vec<Shipped> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("read scenarios/")
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                if !p.ends_with("perf") {
                    walk(&p, out);
                }
            } else if p.extension().is_some_and(|e| e == "yaml")
                && std::fs::read_to_string(&p)
                    .is_ok_and(|t| t.lines().any(|l| l.trim_end() == "kind: Scenario"))
            {
                out.push(p);
            }
        }
    }
    let root = repo();
    let mut paths = Vec::new();
    walk(&root.join("scenarios"), &mut paths);
    paths
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .expect("inside the repository")
                .to_path_buf();
            let docs = kit::parse_stream(&std::fs::read_to_string(&p).expect("read"));
            let mut files = vec![(rel.clone(), docs.clone())];
            for inc in includes(&docs) {
                let f = rel.parent().expect("a folder").join(inc);
                let text = std::fs::read_to_string(root.join(&f)).expect("read include");
                files.push((f, kit::parse_stream(&text)));
            }
            Shipped { rel, files }
        })
        .collect()
}

/// The Scenario document's `spec.include` entries.
fn includes(docs: &[Y]) -> Vec<String> {
    let get = |y: &Y, key: &str| match y {
        Y::M(m) => m
            .iter()
            .find(|(k, _)| k == &kit::quote(key))
            .map(|(_, v)| v.clone()),
        _ => None,
    };
    for d in docs {
        if get(d, "kind") == Some(Y::S(kit::quote("Scenario")))
            && let Some(Y::L(l)) = get(d, "spec").and_then(|s| get(&s, "include"))
        {
            return l
                .iter()
                .filter_map(|y| match y {
                    Y::S(s) => serde_json::from_str::<String>(s).ok(),
                    _ => None,
                })
                .collect();
        }
    }
    Vec::new()
}

/// Scenarios cheap enough to run whole in a fuzz case (each well under a second unmutated).
const RUNNABLE: &[&str] = &[
    "scenarios/static-cluster.yaml",
    "scenarios/karpenter-spike.yaml",
    "scenarios/ca-spike.yaml",
    "scenarios/zonal-spread.yaml",
    "scenarios/gpu-training.yaml",
    "scenarios/examples/budgets.yaml",
    "scenarios/examples/startup-taints.yaml",
    "scenarios/calibration/karpenter-single-pod.yaml",
    "scenarios/calibration/ca-single-pod.yaml",
];

#[derive(Clone, Debug)]
struct Case {
    scenario: usize,
    /// Which of the scenario's files (the scenario, its includes) to mutate.
    file: usize,
    /// Which document of that file.
    doc: usize,
    mutations: Vec<Mutation>,
}

fn mutation(modest: bool) -> BoxedStrategy<Mutation> {
    let at = any::<usize>();
    let basic = prop_oneof![
        at.prop_map(|at| Mutation::Delete { at }),
        at.prop_map(|at| Mutation::Duplicate { at }),
        (at, any::<u8>()).prop_map(|(at, kind)| Mutation::Retype { at, kind }),
        (at, any::<usize>()).prop_map(move |(at, pick)| Mutation::Number { at, pick, modest }),
        (at, any::<usize>()).prop_map(|(at, pick)| Mutation::Text { at, pick }),
        (at, any::<usize>()).prop_map(|(at, pick)| Mutation::RenameKey { at, pick }),
    ];
    if modest {
        return basic.boxed();
    }
    let depth = prop_oneof![4 => 1usize..80, 1 => Just(200usize), 1 => Just(20_000usize)];
    prop_oneof![
        6 => basic,
        1 => (at, depth, any::<bool>(), any::<bool>()).prop_map(|(at, depth, map, block)| {
            // Block style grows as depth²: keep it to a few hundred levels.
            Mutation::Nest { at, depth: if block { depth.min(200) } else { depth }, map, block }
        }),
    ]
    .boxed()
}

fn case(n_scenarios: usize, modest: bool) -> impl Strategy<Value = Case> {
    (
        0..n_scenarios,
        any::<usize>(),
        any::<usize>(),
        prop::collection::vec(mutation(modest), 1..=4),
    )
        .prop_map(|(scenario, file, doc, mutations)| Case {
            scenario,
            file,
            doc,
            mutations,
        })
}

/// Writes the case's mutated file into a fresh scratch copy; returns the scratch directory,
/// the scenario's path in it, and the mutated file's text.
fn materialize(s: &Shipped, c: &Case) -> (tempfile::TempDir, PathBuf, String) {
    let dir = kit::scratch(&repo());
    let (rel, docs) = &s.files[c.file % s.files.len()];
    let mut docs = docs.clone();
    let n = docs.len();
    let target = &mut docs[c.doc % n];
    for m in &c.mutations {
        kit::apply(target, m);
    }
    let text = kit::emit_stream(&docs);
    kit::put(&dir.path().join(rel), text.as_bytes());
    let scenario = dir.path().join(&s.rel);
    (dir, scenario, text)
}

/// A load error must name a file in the scratch copy, fit on one line, and carry a line number
/// when it names a field.
fn judge_load_error(e: &LoadError, root: &Path) -> Result<(), String> {
    let shown = e.to_string();
    if !e.file.starts_with(root) {
        return Err(format!("the error names no file of the scenario: {shown}"));
    }
    if shown.contains('\n') {
        return Err(format!("the error spans several lines: {shown}"));
    }
    if e.field.is_some() && e.line.is_none() && !whole_file_error(e) {
        return Err(format!("the error names a field but no line: {shown}"));
    }
    if e.message.trim().is_empty() {
        return Err(format!("the error has no message: {shown}"));
    }
    Ok(())
}

/// Errors about a file as a whole (no Scenario document in it), which have no line.
fn whole_file_error(e: &LoadError) -> bool {
    e.message.starts_with("no Scenario document")
}

/// What `validate` does in process: load, then build each configured autoscaler and the
/// simulation. `Err` describes a failure of the harness's properties.
fn load_in_process(path: &Path, root: &Path) -> Result<(), String> {
    let outcome = catch_unwind(AssertUnwindSafe(|| match Scenario::load(path) {
        Ok(s) => {
            let mut kinds = vec![AutoscalerKind::None];
            if !s.nodepools.is_empty() {
                kinds.push(AutoscalerKind::Karpenter);
            }
            if !s.spec.cluster_autoscaler.node_groups.is_empty() {
                kinds.push(AutoscalerKind::ClusterAutoscaler);
            }
            for kind in kinds {
                // A construction error is reported by the CLI as `FILE: error`; it need only
                // not panic.
                if let Ok(a) = make_autoscaler(kind, &s) {
                    let _ = Simulation::new(&s, a);
                }
            }
            Ok(())
        }
        Err(e) => judge_load_error(&e, root),
    }));
    match outcome {
        Ok(r) => r,
        Err(p) => Err(format!("panicked: {}", panic_message(&p))),
    }
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

fn describe(s: &Shipped, c: &Case, text: &str) -> String {
    format!(
        "{} (file {} of {}), mutations {:?}\n--- mutated file (start) ---\n{}",
        s.rel.display(),
        c.file % s.files.len(),
        s.files.len(),
        c.mutations,
        kit::excerpt(text, 3000)
    )
}

#[test]
fn roundtrip_of_every_shipped_scenario_validates() {
    // The harness's own writer: every shipped scenario, read and written back unmutated, is
    // still valid — so a mutated case fails because of its mutation.
    let all = shipped();
    assert!(all.len() >= 20, "found {} scenarios", all.len());
    for s in &all {
        let dir = kit::scratch(&repo());
        for (rel, docs) in &s.files {
            kit::put(&dir.path().join(rel), kit::emit_stream(docs).as_bytes());
        }
        if let Err(e) = Scenario::load(&dir.path().join(&s.rel)) {
            panic!("{}: written back, it no longer loads: {e}", s.rel.display());
        }
    }
}

#[test]
fn mutated_scenarios_load_without_panic_and_with_located_errors() {
    let all = shipped();
    let start = Instant::now();
    let result = runner(cases(), 1).run(&case(all.len(), false), |c| {
        let s = &all[c.scenario];
        let (dir, path, text) = materialize(s, &c);
        let verbose = std::env::var_os("ASIM_FUZZ_VERBOSE").is_some();
        if verbose {
            eprintln!("case: {} {:?}", s.rel.display(), c.mutations);
        }
        let t = Instant::now();
        let r = load_in_process(&path, dir.path());
        if verbose {
            eprintln!("  {:.3} s", t.elapsed().as_secs_f64());
        }
        match r {
            Ok(()) => Ok(()),
            Err(why) => {
                let kept = kit::keep(dir.path(), "load");
                Err(TestCaseError::fail(format!(
                    "{why}\nfiles kept in {}\n{}",
                    kept.display(),
                    describe(s, &c, &text)
                )))
            }
        }
    });
    eprintln!(
        "in-process scenario fuzz: {} cases in {:.1} s",
        cases(),
        start.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Runs `autoscale-sim ARGS` with a timeout.
fn bin(args: &[&std::ffi::OsStr], cwd: &Path) -> kit::Outcome {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_autoscale-sim"));
    cmd.args(args).current_dir(cwd);
    kit::run_with_timeout(cmd, RUN_TIMEOUT)
}

/// Exit 0 or 2 and nothing else; on 2 a first line `error: …` naming a file of the scratch copy.
fn judge_exit(what: &str, o: &kit::Outcome, root: &Path) -> Result<i32, String> {
    if o.timed_out {
        return Err(format!(
            "{what}: still running after {:?} (killed)",
            RUN_TIMEOUT
        ));
    }
    let code = match o.status.and_then(|s| s.code()) {
        Some(c) => c,
        None => return Err(format!("{what}: killed by a signal: {:?}", o.status)),
    };
    if o.stderr.contains("panicked") {
        return Err(format!(
            "{what}: panicked:\n{}",
            kit::excerpt(&o.stderr, 2000)
        ));
    }
    match code {
        0 => Ok(0),
        2 => {
            let first = o
                .stderr
                .lines()
                .find(|l| l.starts_with("error: "))
                .unwrap_or("");
            if !first.starts_with(&format!("error: {}", root.display())) {
                return Err(format!(
                    "{what}: exit 2 without an `error: FILE…` line naming the scenario's files:\n{}",
                    kit::excerpt(&o.stderr, 2000)
                ));
            }
            Ok(2)
        }
        other => Err(format!(
            "{what}: exit {other} (expected 0 or 2):\n{}",
            kit::excerpt(&o.stderr, 2000)
        )),
    }
}

/// The files `run` writes for any autoscaler.
const REPORT_FILES: &[&str] = &[
    "report.json",
    "report.md",
    "timeseries.csv",
    "pods.csv",
    "nodes.csv",
    "run-meta.json",
];

/// `Ok(true)` when the scenario ran, `Ok(false)` when both commands refused it.
fn through_binary(path: &Path, root: &Path) -> Result<bool, String> {
    let v = bin(&["validate".as_ref(), path.as_os_str()], root);
    let vcode = judge_exit("validate", &v, root)?;
    let out = root.join("out");
    let r = bin(
        &[
            "-q".as_ref(),
            "run".as_ref(),
            path.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ],
        root,
    );
    let rcode = judge_exit("run", &r, root)?;
    let staging = root.join(".out.staging");
    if staging.exists() {
        return Err(format!(
            "run exit {rcode}: the staging directory was left behind"
        ));
    }
    if rcode == 2 {
        if out.exists() {
            let left: Vec<String> = std::fs::read_dir(&out)
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            return Err(format!("run exit 2 but --out holds {left:?}"));
        }
        if vcode == 0 {
            return Err(format!(
                "validate passed but run failed:\n{}",
                kit::excerpt(&r.stderr, 2000)
            ));
        }
    } else {
        for f in REPORT_FILES {
            if !out.join(f).is_file() {
                return Err(format!("run exit 0 but {f} is missing"));
            }
        }
        if vcode == 2 {
            return Err(format!(
                "run succeeded but validate failed:\n{}",
                kit::excerpt(&v.stderr, 2000)
            ));
        }
    }
    Ok(rcode == 0)
}

#[test]
fn mutated_scenarios_through_the_binary_exit_0_or_2_and_leave_no_partial_output() {
    let all: Vec<Shipped> = shipped()
        .into_iter()
        .filter(|s| RUNNABLE.iter().any(|r| s.rel == Path::new(r)))
        .collect();
    assert_eq!(all.len(), RUNNABLE.len(), "a RUNNABLE scenario is missing");
    let n = (cases() / 4).max(1);
    let start = Instant::now();
    let slowest = std::sync::Mutex::new(Duration::ZERO);
    let ran = AtomicUsize::new(0);
    let result = runner(n, 2).run(&case(all.len(), true), |c| {
        let s = &all[c.scenario];
        let (dir, path, text) = materialize(s, &c);
        let t = Instant::now();
        let r = through_binary(&path, dir.path());
        if std::env::var_os("ASIM_FUZZ_VERBOSE").is_some() {
            eprintln!(
                "case: {} {:?}: {:?} in {:.2} s",
                s.rel.display(),
                c.mutations,
                r.as_ref().map(|ran| if *ran { "ran" } else { "refused" }),
                t.elapsed().as_secs_f64()
            );
        }
        if let Ok(true) = r {
            ran.fetch_add(1, Ordering::Relaxed);
        }
        let mut sl = slowest.lock().expect("lock");
        *sl = (*sl).max(t.elapsed());
        r.map(|_| ()).map_err(|why| {
            let kept = kit::keep(dir.path(), "binary");
            TestCaseError::fail(format!(
                "{why}\nfiles kept in {}\n{}",
                kept.display(),
                describe(s, &c, &text)
            ))
        })
    });
    eprintln!(
        "binary scenario fuzz: {n} cases ({} ran, the others refused with exit 2) in {:.1} s (slowest {:.2} s)",
        ran.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64(),
        slowest.lock().expect("lock").as_secs_f64()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

// ---- traces ---------------------------------------------------------------------------------

const GENERIC: &str = "arrival_s,duration_s,cpu_m,memory_mib,gpu,priority,group
0,600,500,1024,0,,batch
12.5,,250,512,0,100,web
30,3600,4000,16384,1,1000,training
\"45\",60,100,128,0,-5,\"a,b\"
";

const REPLICAS: &str = "time,namespace,kind,name,replicas
0,default,Deployment,web,2
10m,default,Deployment,web,6
1800,,deployment,web,3
";

/// The first `n` lines of a shipped data file.
fn head(rel: &str, n: usize) -> String {
    let text = std::fs::read_to_string(repo().join(rel)).expect("read data file");
    text.lines().take(n).map(|l| format!("{l}\n")).collect()
}

/// One trace format's files: `(file name, contents)`; the first is the one read.
fn trace_seed(format: TraceFormat) -> Vec<(&'static str, String)> {
    const AZ: &str = "data/traces/azure-vm-v1-binned/";
    match format {
        TraceFormat::Generic => vec![("trace.csv", GENERIC.into())],
        TraceFormat::Replicas => vec![("trace.csv", REPLICAS.into())],
        TraceFormat::Openb => vec![(
            "trace.csv",
            head(
                "data/traces/alibaba-gpu-v2023-openb/openb_pod_list_default.csv",
                30,
            ),
        )],
        TraceFormat::AzureVm => vec![
            ("v1.dev.txt", head(&format!("{AZ}v1.dev.txt"), 6)),
            (
                "v1.dev.c2100000.txt",
                head(&format!("{AZ}v1.dev.c2100000.txt"), 6),
            ),
            ("flav_map.txt", head(&format!("{AZ}flav_map.txt"), 100)),
            (
                "v1.interval_map.txt",
                head(&format!("{AZ}v1.interval_map.txt"), 200),
            ),
        ],
    }
}

/// A field value for a CSV or a token of the Azure files.
const FIELDS: &[&str] = &[
    "",
    " ",
    "-1",
    "-0",
    "0",
    "1.5",
    "1e308",
    "1e309",
    "-1e308",
    "NaN",
    "inf",
    "-inf",
    "1e15",
    "999999999999999999999",
    "18446744073709551615",
    "9223372036854775807",
    "2147483648",
    "0x10",
    " 12 ",
    "\"quoted\"",
    "\"unclosed",
    "a\"b",
    "\"a\"b",
    "\"\"",
    "|",
    "U99999",
    "C-1",
    "U",
    "z",
    "1h30m",
    "-5m",
    "🚀",
    "\u{202e}web",
    "web\u{200b}",
    "Deployment",
    "Pending",
];

/// Bytes inserted as they are: not UTF-8, NUL, a lone CR, quote, separators.
const BYTES: &[&[u8]] = &[
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\x00",
    b"\r",
    b"\"",
    b",",
    b" ",
    b"\n",
    b"\xef\xbb\xbf",
];

#[derive(Clone, Debug)]
enum CsvMut {
    DeleteLine(usize),
    DuplicateLine(usize),
    /// Cut a line at a byte offset (modulo its length).
    Truncate(usize, usize),
    /// Append a field to a line.
    ExtraField(usize, usize),
    /// Drop one field of a line (split on `,` and spaces as the formats do).
    DropField(usize, usize),
    /// Replace one field.
    Field(usize, usize, usize),
    /// Insert raw bytes at an offset of a line.
    Bytes(usize, usize, usize),
    /// A line of 200,000 digits.
    LongLine(usize),
    Crlf,
    Empty,
    HeaderOnly,
}

fn csv_mut() -> impl Strategy<Value = CsvMut> {
    let l = any::<usize>();
    prop_oneof![
        1 => l.prop_map(CsvMut::DeleteLine),
        1 => l.prop_map(CsvMut::DuplicateLine),
        1 => (l, any::<usize>()).prop_map(|(a, b)| CsvMut::Truncate(a, b)),
        1 => (l, any::<usize>()).prop_map(|(a, b)| CsvMut::ExtraField(a, b)),
        1 => (l, any::<usize>()).prop_map(|(a, b)| CsvMut::DropField(a, b)),
        3 => (l, any::<usize>(), any::<usize>()).prop_map(|(a, b, c)| CsvMut::Field(a, b, c)),
        2 => (l, any::<usize>(), any::<usize>()).prop_map(|(a, b, c)| CsvMut::Bytes(a, b, c)),
        1 => l.prop_map(CsvMut::LongLine),
        1 => Just(CsvMut::Crlf),
        1 => Just(CsvMut::Empty),
        1 => Just(CsvMut::HeaderOnly),
    ]
}

/// Field boundaries of a line: `,` and spaces (the Azure files separate `t` with a space).
fn fields(line: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in line.iter().enumerate() {
        if *b == b',' || *b == b' ' {
            out.push((start, i));
            start = i + 1;
        }
    }
    out.push((start, line.len()));
    out
}

fn mutate_bytes(text: &[u8], m: &CsvMut) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    if lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    let n = lines.len().max(1);
    if lines.is_empty() {
        lines.push(Vec::new());
    }
    match *m {
        CsvMut::DeleteLine(i) => {
            lines.remove(i % n);
        }
        CsvMut::DuplicateLine(i) => {
            let l = lines[i % n].clone();
            lines.insert(i % n, l);
        }
        CsvMut::Truncate(i, at) => {
            let l = &mut lines[i % n];
            let cut = at % (l.len() + 1);
            l.truncate(cut);
        }
        CsvMut::ExtraField(i, k) => {
            let l = &mut lines[i % n];
            l.push(b',');
            l.extend_from_slice(FIELDS[k % FIELDS.len()].as_bytes());
        }
        CsvMut::DropField(i, k) => {
            let l = &mut lines[i % n];
            let f = fields(l);
            let (a, b) = f[k % f.len()];
            let b = (b + 1).min(l.len());
            l.drain(a..b);
        }
        CsvMut::Field(i, k, v) => {
            let l = &mut lines[i % n];
            let f = fields(l);
            let (a, b) = f[k % f.len()];
            l.splice(a..b, FIELDS[v % FIELDS.len()].bytes());
        }
        CsvMut::Bytes(i, at, k) => {
            let l = &mut lines[i % n];
            let at = at % (l.len() + 1);
            l.splice(at..at, BYTES[k % BYTES.len()].iter().copied());
        }
        CsvMut::LongLine(i) => {
            lines.insert(i % (n + 1), vec![b'9'; 200_000]);
        }
        CsvMut::Crlf => {
            for l in &mut lines {
                l.push(b'\r');
            }
        }
        CsvMut::Empty => lines.clear(),
        CsvMut::HeaderOnly => lines.truncate(1),
    }
    let mut out = lines.join(&b'\n');
    if !out.is_empty() {
        out.push(b'\n');
    }
    out
}

#[derive(Clone, Debug)]
struct TraceCase {
    format: TraceFormat,
    /// Which of the format's files to mutate (the Azure trace has four).
    file: usize,
    mutations: Vec<CsvMut>,
}

fn trace_case() -> impl Strategy<Value = TraceCase> {
    (
        prop::sample::select(TraceFormat::ALL.to_vec()),
        any::<usize>(),
        prop::collection::vec(csv_mut(), 1..=3),
    )
        .prop_map(|(format, file, mutations)| TraceCase {
            format,
            file,
            mutations,
        })
}

/// A trace error must name a file of the scratch directory, on one line; a failure to read
/// the bytes (not UTF-8) must say where.
fn judge_trace_error(e: &TraceError, root: &Path) -> Result<(), String> {
    let shown = e.to_string();
    if !shown.starts_with(&root.display().to_string()) {
        return Err(format!("the error names no file of the trace: {shown}"));
    }
    if shown.contains('\n') {
        return Err(format!("the error spans several lines: {shown}"));
    }
    if let TraceError::Io { source, .. } = e
        && source.kind() != std::io::ErrorKind::NotFound
    {
        return Err(format!("an unreadable file without a line: {shown}"));
    }
    Ok(())
}

/// A scenario replaying the trace: the loader's wrapping of trace errors gets fuzzed too.
fn trace_scenario(format: TraceFormat, file: &str) -> String {
    format!(
        "apiVersion: autoscale-sim/v1alpha1
kind: Scenario
metadata: {{name: fuzz-trace}}
spec:
  duration: 2h
  staticNodes: [{{instanceType: m5.2xlarge, count: 1}}]
  traces:
    - {{path: {file}, format: {format}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: main, image: busybox, resources: {{requests: {{cpu: 100m}}}}}}]
"
    )
}

#[test]
fn mutated_traces_read_without_panic_and_with_located_errors() {
    let start = Instant::now();
    let result = runner(cases(), 3).run(&trace_case(), |c| {
        let dir = tempfile::Builder::new()
            .prefix("fuzz-trace-")
            .tempdir()
            .expect("temp dir");
        let mut files = trace_seed(c.format);
        let k = c.file % files.len();
        let mut bytes = files[k].1.clone().into_bytes();
        for m in &c.mutations {
            bytes = mutate_bytes(&bytes, m);
        }
        for (i, (name, text)) in files.iter_mut().enumerate() {
            let b = if i == k { &bytes } else { text.as_bytes() };
            kit::put(&dir.path().join(name), b);
        }
        let path = dir.path().join(files[0].0);
        let fail = |why: String| {
            let kept = kit::keep(dir.path(), "trace");
            TestCaseError::fail(format!(
                "{why}\n{:?} file {} mutated by {:?}; files kept in {}\n--- mutated file (start) ---\n{}",
                c.format,
                files[k].0,
                c.mutations,
                kept.display(),
                kit::excerpt(&String::from_utf8_lossy(&bytes), 2000)
            ))
        };
        // The reader alone.
        let read = catch_unwind(AssertUnwindSafe(|| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
            match c.format {
                TraceFormat::Replicas => traces::replicas::read_replicas(&path, 1.0).map(|_| ()),
                f => traces::read_trace(&path, f, &TraceOptions::default(), &mut rng).map(|_| ()),
            }
        }));
        match read {
            Err(p) => return Err(fail(format!("the reader panicked: {}", panic_message(&p)))),
            Ok(Err(e)) => judge_trace_error(&e, dir.path()).map_err(&fail)?,
            Ok(Ok(())) => {}
        }
        // Through a scenario.
        let scenario = dir.path().join("scenario.yaml");
        kit::put(&scenario, trace_scenario(c.format, files[0].0).as_bytes());
        load_in_process(&scenario, dir.path()).map_err(&fail)
    });
    eprintln!(
        "trace fuzz: {} cases in {:.1} s",
        cases(),
        start.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}
