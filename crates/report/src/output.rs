//! An output directory replaced as a whole: everything is written into a staging directory
//! beside it, then the staging directory takes its place. A run that fails half-way leaves the
//! earlier outputs as they were; a reader never sees old and new files mixed.
//!
//! The swap is two renames (old aside, new in), so for an instant the directory is absent;
//! it is never partly written. Entries of the old directory that this tool did not write (a
//! user's notes beside the reports) are moved into the new one before the swap, never deleted.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A directory being staged for `out`.
pub struct StagedDir {
    out: PathBuf,
    stage: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Start staging `out`: an empty directory `.NAME.staging` beside it (a leftover from a run
    /// that was killed is removed first).
    pub fn new(out: &Path) -> io::Result<StagedDir> {
        let stage = sibling(out, "staging")?;
        if stage.exists() {
            fs::remove_dir_all(&stage)?;
        }
        fs::create_dir_all(&stage)?;
        Ok(StagedDir {
            out: out.to_path_buf(),
            stage,
            committed: false,
        })
    }

    /// Where to write.
    pub fn path(&self) -> &Path {
        &self.stage
    }

    /// Put the staged directory in place of `out`. `ours(name)` says whether an entry of the
    /// old directory that the new one lacks is an output of an earlier run (dropped) or
    /// someone else's file (kept).
    pub fn commit(mut self, ours: impl Fn(&str, &Path) -> bool) -> io::Result<()> {
        if self.out.is_dir() {
            for entry in fs::read_dir(&self.out)? {
                let entry = entry?;
                let name = entry.file_name();
                let Some(name_str) = name.to_str() else {
                    continue;
                };
                let target = self.stage.join(&name);
                if !target.exists() && !ours(name_str, &entry.path()) {
                    fs::rename(entry.path(), target)?;
                }
            }
            let old = sibling(&self.out, "old")?;
            if old.exists() {
                fs::remove_dir_all(&old)?;
            }
            fs::rename(&self.out, &old)?;
            if let Err(e) = fs::rename(&self.stage, &self.out) {
                // Put the earlier outputs back rather than leave nothing.
                let _ = fs::rename(&old, &self.out);
                return Err(e);
            }
            fs::remove_dir_all(&old)?;
        } else {
            fs::rename(&self.stage, &self.out)?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for StagedDir {
    /// A staging directory never committed (an error, a panic) is removed.
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.stage);
        }
    }
}

/// `.NAME.SUFFIX` in the same parent as `dir`, so that renames stay on one file system.
fn sibling(dir: &Path, suffix: &str) -> io::Result<PathBuf> {
    // `.` or `..` would replace the directory a shell stands in: ask for one of its own.
    let name = dir.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "name a directory of its own for the outputs (e.g. out/), not {}: it is replaced as a whole",
                dir.display()
            ),
        )
    })?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent)?;
    Ok(parent.join(format!(".{}.{suffix}", name.to_string_lossy())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_replaces_our_files_keeps_foreign_ones_and_drops_stale_ones() {
        let root = tempfile::tempdir().expect("tempdir");
        let out = root.path().join("out");
        fs::create_dir_all(&out).expect("mkdir");
        fs::write(out.join("report.json"), "old").expect("write");
        fs::write(out.join("decisions.jsonl"), "stale").expect("write");
        fs::write(out.join("notes.txt"), "mine").expect("write");
        let staged = StagedDir::new(&out).expect("stage");
        fs::write(staged.path().join("report.json"), "new").expect("write");
        staged
            .commit(|name, _| name == "report.json" || name == "decisions.jsonl")
            .expect("commit");
        assert_eq!(fs::read_to_string(out.join("report.json")).unwrap(), "new");
        assert!(!out.join("decisions.jsonl").exists());
        assert_eq!(fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");
        let leftovers: Vec<_> = fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("out")]);
    }

    #[test]
    fn the_current_directory_is_refused_with_a_reason() {
        let e = StagedDir::new(Path::new(".")).err().expect("refused");
        assert!(e.to_string().contains("a directory of its own"), "{e}");
    }

    #[test]
    fn a_staging_that_is_dropped_leaves_the_old_directory_untouched() {
        let root = tempfile::tempdir().expect("tempdir");
        let out = root.path().join("out");
        fs::create_dir_all(&out).expect("mkdir");
        fs::write(out.join("report.json"), "old").expect("write");
        {
            let staged = StagedDir::new(&out).expect("stage");
            fs::write(staged.path().join("report.json"), "half").expect("write");
        }
        assert_eq!(fs::read_to_string(out.join("report.json")).unwrap(), "old");
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 1);
    }
}
