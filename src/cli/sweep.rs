//! `autoscale-sim sweep` (docs/sweep.md): run a sweep file, or merge shards. Exit codes: 0 done,
//! 1 a run failed (the others still ran and the outputs say which), 2 bad input.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use autoscale_sim::sweep::{self, Finished, RunOptions, SweepError};
use autoscale_sim::workload::sweep as sweep_file;

use super::{compare, fail};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(super) struct SweepArgs {
    #[command(subcommand)]
    command: Option<SweepCommand>,
    /// The sweep file (`kind: Sweep`).
    #[arg(required = true)]
    file: Option<PathBuf>,
    /// Worker threads (default: every core).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Run only slice I of N (I from 0, as a Kubernetes Indexed Job's JOB_COMPLETION_INDEX);
    /// combine the slices with `sweep merge`.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Override a field of the base scenario in every variant (as `run --set`). Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<String>,
    /// Run on N seeds instead of the file's `spec.seeds` (a quick look).
    #[arg(long, value_name = "N")]
    seeds: Option<u64>,
    /// Run a Latin-hypercube sample of N variants (and the base) instead of the file's
    /// `spec.combine` (a quick look, or CI on a reduced grid).
    #[arg(long, value_name = "N")]
    sample: Option<usize>,
    /// Output directory.
    #[arg(long, default_value = "out/sweep")]
    out: PathBuf,
}

#[derive(clap::Subcommand)]
enum SweepCommand {
    /// Combine the outputs of `sweep --shard I/N` runs into the files one run writes.
    Merge {
        /// Shard output directories (each holding shard-I-of-N.json).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--shard {s}: expected I/N with 0 ≤ I < N (e.g. 0/4)");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

pub(super) fn cmd_sweep(a: SweepArgs, quiet: bool) -> i32 {
    if let Some(SweepCommand::Merge { dirs, out }) = a.command {
        return finish(sweep::merge(&dirs, &out), &out, quiet);
    }
    let Some(file) = a.file else {
        return fail("sweep needs a sweep file (or `sweep merge DIR... --out DIR`)");
    };
    let shard = match a.shard.as_deref().map(parse_shard).transpose() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let jobs = match a.jobs {
        Some(0) => return fail("--jobs 0: expected at least one worker"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let base = match compare::overrides(&a.set) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    if a.seeds == Some(0) || a.sample == Some(0) {
        return fail("--seeds and --sample need at least 1");
    }
    let reduce = sweep_file::Reduce {
        seeds: a.seeds,
        sample: a.sample,
        limits: super::limits(),
    };
    let def = match sweep_file::load(&file, &base, reduce) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} sweep {prefix} [{bar:30}] {pos}/{len} runs · {elapsed} · ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_prefix(def.name.clone());
        bar
    });
    if !quiet {
        eprintln!(
            "sweep {}: {} variants (the base and {}) on {} worker{}{}",
            def.name,
            def.variants.len(),
            def.variants.len() - 1,
            jobs,
            if jobs == 1 { "" } else { "s" },
            shard.map_or(String::new(), |(i, n)| format!(", shard {i}/{n}"))
        );
    }
    let result = sweep::run(
        &def,
        &base,
        RunOptions {
            jobs,
            shard,
            cancel: Some(&super::interrupt::STOP),
        },
        &a.out,
        |done, total| {
            if let Some(b) = &bar {
                b.set_length(total as u64);
                b.set_position(done as u64);
            }
        },
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    finish(result, &a.out, quiet)
}

fn finish(result: Result<Finished, SweepError>, out: &std::path::Path, quiet: bool) -> i32 {
    let f = match result {
        Ok(f) => f,
        Err(SweepError::Interrupted) => {
            return super::interrupt::stop_here().unwrap_or(130);
        }
        Err(e) => return fail(e),
    };
    if !quiet {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(
            o,
            "{} runs in {:.1} s wall, {} failed",
            f.runs, f.wall_seconds, f.failed
        );
        if let Some(s) = &f.summary {
            match s.best {
                Some(i) => {
                    let v = &s.variants[i];
                    let _ = writeln!(o, "best: {} — {}", v.label, v.description);
                }
                None => {
                    let _ = writeln!(o, "no variant meets every constraint");
                }
            }
            let _ = writeln!(
                o,
                "reports: {}/sweep.md, sweep.html, best/diff.md",
                out.display()
            );
        } else {
            let _ = writeln!(
                o,
                "shard written to {} (combine with `sweep merge`)",
                out.display()
            );
        }
    }
    if f.failed > 0 {
        eprintln!(
            "error: {} run{} failed (see {}/sweep.md)",
            f.failed,
            if f.failed == 1 { "" } else { "s" },
            out.display()
        );
        return 1;
    }
    0
}
