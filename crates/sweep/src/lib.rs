//! Sweeps (docs/sweep.md, docs/design.md §13): the variants of a `kind: Sweep` file run on
//! every seed, in parallel, summarised per variant, ranked by the objective among the variants
//! that meet every constraint, and the winner written out as manifests ready to apply.
//!
//! The outputs are a function of the sweep file and the base scenario only: runs are
//! independent and deterministic, results are written in (variant, seed) order whatever order
//! they finish in, and a shard (`--shard I/N`) writes what `merge` needs to produce exactly the
//! files one process writes. Wall-clock facts go to `sweep-meta.json`, apart.

mod best;
mod html;
mod plan;
mod shard;
mod summary;
mod write;
pub use asim_workload::yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use asim_report::output::StagedDir;
use asim_workload::set::Override;
use asim_workload::sweep::Sweep;

pub use plan::Plan;
pub use shard::{Shard, merge};
pub use summary::Summary;

/// Version of the sweep outputs' layout (`sweep.json`, `shard-*.json`).
pub const SWEEP_SCHEMA_VERSION: u32 = 1;

/// Why a sweep could not run or write.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// Bad input: the sweep file, its scenario, the shard arguments (exit 2).
    #[error("{0}")]
    Input(String),
    /// Stopped by an interrupt (Ctrl-C, SIGTERM) before the end: nothing was written.
    #[error("interrupted: no outputs written")]
    Interrupted,
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One (variant, seed) run's outcome: the report's numeric leaves, or why it failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub variant: usize,
    pub seed_index: usize,
    pub seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<BTreeMap<String, f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How to run: threads, and which slice of the runs.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    pub jobs: usize,
    /// `(I, N)`: run the runs whose index is I modulo N.
    pub shard: Option<(usize, usize)>,
    /// Set (by a signal handler) to stop: runs not started are skipped, running ones stop at
    /// their next progress check, and nothing is written.
    pub cancel: Option<&'static AtomicBool>,
}

impl RunOptions {
    fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// Every entry a sweep writes into its `--out` directory (a shard adds its
/// `shard-I-of-N.json`); the rest of an earlier directory is kept.
const SWEEP_OUTPUTS: [&str; 6] = [
    "sweep.csv",
    "sweep.json",
    "sweep.md",
    "sweep.html",
    "sweep-meta.json",
    "best",
];

/// What a finished sweep (or shard) did, for the command line.
pub struct Finished {
    pub runs: usize,
    pub failed: usize,
    /// The ranked summary (not for a shard: it needs every run).
    pub summary: Option<Summary>,
    pub wall_seconds: f64,
}

/// Run `sweep` into `out`: `sweep.csv` as runs finish, then the summaries and `best/` (or,
/// for a shard, `shard-I-of-N.json` for `merge`). `progress(done, total)` is called on the
/// calling thread after each run.
pub fn run(
    sweep: &Sweep,
    base: &[Override],
    opts: RunOptions,
    out: &Path,
    mut progress: impl FnMut(usize, usize),
) -> Result<Finished, SweepError> {
    let started = std::time::Instant::now();
    let plan = Plan::new(sweep, base)?;
    let runs: Vec<(usize, usize)> = plan.runs(opts.shard);
    // Everything is written into a staging directory that replaces `out` at the end: an
    // interrupted or failed sweep leaves the earlier outputs as they were.
    let staged = StagedDir::new(out).map_err(|source| SweepError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let final_out = out;
    let out = staged.path();
    let mut csv = write::CsvStream::create(&out.join("sweep.csv"), &plan)?;

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .build()
        .map_err(|e| {
            SweepError::Input(format!("cannot start {} worker threads: {e}", opts.jobs))
        })?;
    let (tx, rx) = mpsc::channel::<(usize, RunResult)>();
    let total = runs.len();
    let mut results: Vec<Option<RunResult>> = vec![None; total];
    let mut csv_error = None;
    std::thread::scope(|scope| {
        let runs = &runs;
        let plan = &plan;
        scope.spawn(move || {
            pool.install(|| {
                runs.par_iter()
                    .enumerate()
                    .for_each_with(tx, |tx, (k, &(v, s))| {
                        let r = plan::execute(sweep, plan, base, v, s, opts.cancel);
                        // The receiver lives until every run is in; a send cannot fail before.
                        let _ = tx.send((k, r));
                    });
            });
        });
        // Rows are written in run order as soon as every earlier run is in.
        let mut next = 0;
        for (done, (k, r)) in rx.iter().enumerate() {
            results[k] = Some(r);
            while next < total
                && let Some(r) = &results[next]
            {
                if csv_error.is_none()
                    && let Err(e) = csv.row(plan, r)
                {
                    csv_error = Some(e);
                }
                next += 1;
            }
            progress(done + 1, total);
        }
    });
    if opts.cancelled() {
        return Err(SweepError::Interrupted);
    }
    if let Some(e) = csv_error {
        return Err(e);
    }
    csv.finish()?;
    let results: Vec<RunResult> = results.into_iter().flatten().collect();
    let failed = results.iter().filter(|r| r.error.is_some()).count();
    let wall_seconds = started.elapsed().as_secs_f64();
    let summary = match opts.shard {
        Some((i, n)) => {
            let shard = Shard::new(i, n, &plan, sweep, base, results)?;
            shard.write(out)?;
            None
        }
        None => {
            let summary = Summary::new(&plan, &results);
            let manifests = |v: usize| best::changed_manifests(sweep, base, v);
            write::outputs(out, &plan, &results, &summary, &manifests)?;
            Some(summary)
        }
    };
    write::meta(out, &plan, opts, total, wall_seconds)?;
    let shard_file = opts.shard.map(|(i, n)| Shard::file_name(i, n));
    staged
        .commit(|name, _| SWEEP_OUTPUTS.contains(&name) || shard_file.as_deref() == Some(name))
        .map_err(|source| SweepError::Write {
            path: final_out.to_path_buf(),
            source,
        })?;
    Ok(Finished {
        runs: total,
        failed,
        summary,
        wall_seconds,
    })
}

fn create_dir(dir: &Path) -> Result<(), SweepError> {
    std::fs::create_dir_all(dir).map_err(|source| SweepError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// Write `text` to `path` through a temporary file: a reader never sees half of it.
fn write_file(path: &Path, text: &str) -> Result<(), SweepError> {
    let err = |source| SweepError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// A number as the outputs write it: at most six decimals, no trailing zeros, the same text on
/// every platform.
pub fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}
