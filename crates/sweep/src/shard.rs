//! Shards (`--shard I/N`, one per index of a Kubernetes Indexed Job) and `sweep merge`. A
//! shard writes `shard-I-of-N.json`: the plan, its runs' results, and the changed manifests of
//! the variants it ran. `merge` checks that the shards belong to one sweep and cover every run
//! exactly once, then writes exactly the files a single process would.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use asim_workload::set::Override;
use asim_workload::sweep::Sweep;

use crate::plan::Plan;
use crate::summary::Summary;
use crate::{Finished, RunResult, SWEEP_SCHEMA_VERSION, SweepError, best, write, write_file};

#[derive(Debug, Serialize, Deserialize)]
pub struct Shard {
    pub schema_version: u32,
    pub index: usize,
    pub count: usize,
    pub plan: Plan,
    pub results: Vec<RunResult>,
    /// Variant index → its changed manifests (file name, text).
    pub manifests: BTreeMap<usize, Vec<best::File>>,
}

impl Shard {
    pub(crate) fn new(
        index: usize,
        count: usize,
        plan: &Plan,
        sweep: &Sweep,
        base: &[Override],
        results: Vec<RunResult>,
    ) -> Result<Shard, SweepError> {
        let mut manifests = BTreeMap::new();
        for r in &results {
            manifests
                .entry(r.variant)
                .or_insert_with(|| best::changed_manifests(sweep, base, r.variant));
        }
        Ok(Shard {
            schema_version: SWEEP_SCHEMA_VERSION,
            index,
            count,
            plan: plan.clone(),
            results,
            manifests,
        })
    }

    pub fn file_name(index: usize, count: usize) -> String {
        format!("shard-{index}-of-{count}.json")
    }

    pub(crate) fn write(&self, dir: &Path) -> Result<(), SweepError> {
        let text = serde_json::to_string(self).map_err(|e| SweepError::Write {
            path: dir.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        write_file(
            &dir.join(Self::file_name(self.index, self.count)),
            &(text + "\n"),
        )
    }
}

/// The shard files in `dir` (`shard-*-of-*.json`), sorted by name.
fn shard_files(dir: &Path) -> Result<Vec<PathBuf>, SweepError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        SweepError::Input(format!("{}: cannot read the directory: {e}", dir.display()))
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("shard-") && n.contains("-of-") && n.ends_with(".json")
            })
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Combine the shards found in `dirs` into `out`.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Finished, SweepError> {
    let started = std::time::Instant::now();
    let mut shards: Vec<(PathBuf, Shard)> = Vec::new();
    for d in dirs {
        let files = shard_files(d)?;
        if files.is_empty() {
            return Err(SweepError::Input(format!(
                "{}: no shard-I-of-N.json here (written by `sweep --shard I/N`)",
                d.display()
            )));
        }
        for f in files {
            let text = std::fs::read_to_string(&f)
                .map_err(|e| SweepError::Input(format!("{}: cannot read: {e}", f.display())))?;
            let shard: Shard = serde_json::from_str(&text).map_err(|e| {
                SweepError::Input(format!("{}: not a sweep shard: {e}", f.display()))
            })?;
            if shard.schema_version != SWEEP_SCHEMA_VERSION {
                return Err(SweepError::Input(format!(
                    "{}: shard schema {} (this build reads {SWEEP_SCHEMA_VERSION})",
                    f.display(),
                    shard.schema_version
                )));
            }
            shards.push((f, shard));
        }
    }
    let (first_file, first) = &shards[0];
    let count = first.count;
    let mut seen = vec![None::<&PathBuf>; count];
    for (f, s) in &shards {
        if s.plan != first.plan || s.count != count {
            return Err(SweepError::Input(format!(
                "{} and {} are shards of different sweeps (or of one sweep changed between runs)",
                first_file.display(),
                f.display()
            )));
        }
        match seen.get_mut(s.index) {
            Some(slot @ None) => *slot = Some(f),
            Some(Some(other)) => {
                return Err(SweepError::Input(format!(
                    "shard {}/{count} twice: {} and {}",
                    s.index,
                    other.display(),
                    f.display()
                )));
            }
            None => {
                return Err(SweepError::Input(format!(
                    "{}: shard index {} out of range for {count} shards",
                    f.display(),
                    s.index
                )));
            }
        }
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_none())
        .map(|(i, _)| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(SweepError::Input(format!(
            "missing shard{} {} (each index 0..{count} must be given once)",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        )));
    }
    let plan = first.plan.clone();
    let mut results: Vec<RunResult> = Vec::new();
    let mut manifests: BTreeMap<usize, Vec<best::File>> = BTreeMap::new();
    for (_, s) in shards {
        results.extend(s.results);
        manifests.extend(s.manifests);
    }
    results.sort_by_key(|r| (r.variant, r.seed_index));
    if results.len() != plan.total_runs()
        || results
            .iter()
            .zip(plan.runs(None))
            .any(|(r, (v, s))| (r.variant, r.seed_index) != (v, s))
    {
        return Err(SweepError::Input(format!(
            "the shards hold {} runs, not each of the sweep's {} once",
            results.len(),
            plan.total_runs()
        )));
    }
    crate::create_dir(out)?;
    let mut csv = write::CsvStream::create(&out.join("sweep.csv"), &plan)?;
    for r in &results {
        csv.row(&plan, r)?;
    }
    csv.finish()?;
    let summary = Summary::new(&plan, &results);
    let lookup = |v: usize| manifests.get(&v).cloned().unwrap_or_default();
    write::outputs(out, &plan, &results, &summary, &lookup)?;
    let wall_seconds = started.elapsed().as_secs_f64();
    let failed = results.iter().filter(|r| r.error.is_some()).count();
    write::meta(
        out,
        &plan,
        crate::RunOptions {
            jobs: 0,
            shard: None,
            cancel: None,
        },
        results.len(),
        wall_seconds,
    )?;
    Ok(Finished {
        runs: results.len(),
        failed,
        summary: Some(summary),
        wall_seconds,
    })
}
