//! Workload trace readers (docs/design.md §4 "Trace formats").
//!
//! Three on-disk formats become one list of [`TraceJob`]s, sorted by `(arrival_ms, name)`:
//!
//! - [`TraceFormat::Generic`]: our own CSV,
//!   `arrival_s,duration_s,cpu_m,memory_mib[,gpu][,priority][,group]`.
//! - [`TraceFormat::Openb`]: the Alibaba "openb" GPU-cluster pod list
//!   (`data/traces/alibaba-gpu-v2023-openb/openb_pod_list_default.csv`).
//! - [`TraceFormat::AzureVm`]: the binned Azure 2017 VM trace (`data/traces/azure-vm-v1-binned`).
//!
//! The data folders' READMEs explain the units and caveats; the choices made here are documented
//! on [`read_trace`] and on the per-format readers, one module each (`generic`, `openb`, `azure`);
//! `csv_file` is the line-exact CSV splitter the first two share. Randomness (only the Azure
//! format needs it) comes from the caller's rng, so a seed gives the same jobs every time.

mod azure;
mod csv_file;
mod generic;
mod openb;
pub mod replicas;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::Rng;
use serde::Deserialize;

/// Which reader to use for a trace file. Deserializes from `generic`, `openb` or `azure-vm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TraceFormat {
    Generic,
    Openb,
    AzureVm,
    /// Not pods: a workload's replica count over time, read by [`replicas::read_replicas`]
    /// and turned into timeline `scale` steps by the scenario validator.
    Replicas,
}

/// The accepted format names, for error messages.
const FORMAT_NAMES: &str = "`generic`, `openb`, `azure-vm`, `replicas`";

impl TraceFormat {
    pub const ALL: [TraceFormat; 4] = [
        TraceFormat::Generic,
        TraceFormat::Openb,
        TraceFormat::AzureVm,
        TraceFormat::Replicas,
    ];

    /// The name used in scenario files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceFormat::Generic => "generic",
            TraceFormat::Openb => "openb",
            TraceFormat::AzureVm => "azure-vm",
            TraceFormat::Replicas => "replicas",
        }
    }
}

impl fmt::Display for TraceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TraceFormat {
    type Err = TraceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TraceFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| TraceError::UnknownFormat {
                found: s.to_string(),
            })
    }
}

/// One pod to create, read from a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceJob {
    /// Stable id from the trace: the openb pod name, `vm-<n>` (0-based VM index in file order)
    /// for Azure, `row-<line>` (1-based file line) for generic.
    pub name: String,
    /// Arrival after time scaling, relative to the trace start (the first arrival may be > 0).
    pub arrival_ms: u64,
    /// How long the pod runs once started, after time scaling; `None` = until the simulation ends.
    pub duration_ms: Option<u64>,
    /// CPU request in millicores.
    pub cpu_m: i64,
    /// Memory request in bytes.
    pub memory_bytes: i64,
    /// Whole GPUs requested (`nvidia.com/gpu`). A fractional (shared) GPU request in the openb
    /// trace becomes one whole GPU; see [`read_trace`].
    pub gpu: i64,
    pub priority: Option<i32>,
    /// Grouping from the trace: openb `qos`, Azure tenant batch, generic `group` column.
    pub group: Option<String>,
}

/// How to cut and stretch a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceOptions {
    /// Multiplies every arrival and duration: 0.1 replays 10× faster. Must be finite and > 0.
    pub time_scale: f64,
    /// Keep at most this many jobs (the earliest, after the time window).
    pub limit: Option<usize>,
    /// Drop jobs whose scaled `arrival_ms` is before this.
    pub start_ms: u64,
    /// Drop jobs whose scaled `arrival_ms` is at or after this.
    pub until_ms: Option<u64>,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            time_scale: 1.0,
            limit: None,
            start_ms: 0,
            until_ms: None,
        }
    }
}

/// Why a trace could not be read. Every variant names the file, and the line where there is one.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("unknown trace format `{found}`; expected one of {FORMAT_NAMES}")]
    UnknownFormat { found: String },
    #[error("trace option `{option}`: {message}")]
    InvalidOption {
        option: &'static str,
        message: String,
    },
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: the file is empty; expected {expected}", path.display())]
    Empty { path: PathBuf, expected: String },
    #[error("{}: no data rows after the header", path.display())]
    NoRows { path: PathBuf },
    #[error("{}:{line}: header: {message}", path.display())]
    Header {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{}:{line}: column `{column}`: {message}", path.display())]
    Field {
        path: PathBuf,
        line: u64,
        column: String,
        message: String,
    },
    #[error("{}:{line}: {message}", path.display())]
    Malformed {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    BadPath { path: PathBuf, message: String },
    #[error(
        "{}: not found; the azure-vm trace {} needs it in the same folder",
        path.display(),
        needed_by.display()
    )]
    MissingFile { path: PathBuf, needed_by: PathBuf },
}

/// Reads a trace into jobs sorted by `(arrival_ms, name)`.
///
/// Order of work: read the whole file (every row is validated, so a bad row anywhere is an
/// error even if the window would drop it), scale times, keep `start_ms <= arrival_ms < until_ms`
/// (in scaled time, the same time base as the output; arrivals are not shifted by `start_ms`),
/// sort, then keep the first `limit`. Random draws happen for every job before filtering, so a
/// job's values do not depend on the window or the limit.
///
/// Per-format choices (see each data folder's README) are documented on the readers:
/// [`generic::read_generic`], [`openb::read_openb`], [`azure::read_azure_vm`].
pub fn read_trace(
    path: &Path,
    format: TraceFormat,
    opts: &TraceOptions,
    rng: &mut impl Rng,
) -> Result<Vec<TraceJob>, TraceError> {
    if !(opts.time_scale.is_finite() && opts.time_scale > 0.0) {
        return Err(TraceError::InvalidOption {
            option: "time_scale",
            message: format!("expected a finite number > 0, found {}", opts.time_scale),
        });
    }
    let scale = opts.time_scale;
    let mut jobs = match format {
        TraceFormat::Generic => generic::read_generic(path, scale)?,
        TraceFormat::Openb => openb::read_openb(path, scale)?,
        TraceFormat::AzureVm => azure::read_azure_vm(path, scale, rng)?,
        TraceFormat::Replicas => {
            return Err(TraceError::InvalidOption {
                option: "format",
                message: "a `replicas` trace holds replica counts, not pods; read it with replicas::read_replicas".into(),
            });
        }
    };
    jobs.retain(|j| {
        j.arrival_ms >= opts.start_ms && opts.until_ms.is_none_or(|u| j.arrival_ms < u)
    });
    // Stable sort: rows with the same key (possible only with duplicate names) keep file order.
    jobs.sort_by(|a, b| {
        a.arrival_ms
            .cmp(&b.arrival_ms)
            .then_with(|| a.name.cmp(&b.name))
    });
    if let Some(limit) = opts.limit {
        jobs.truncate(limit);
    }
    Ok(jobs)
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// Largest time accepted in a trace (about 31,700 years): keeps every product below 2^53 ms so
/// the f64 arithmetic is exact to the millisecond and nothing saturates silently.
const MAX_SECS: f64 = 1e12;

const MIB: i64 = 1 << 20;

/// Seconds (already validated ≥ 0 and ≤ `MAX_SECS`) to scaled milliseconds.
fn secs_to_ms(secs: f64, scale: f64) -> u64 {
    // The value is finite, non-negative and below 2^53 here, so the cast is exact.
    (secs * 1000.0 * scale).round() as u64
}

fn io_err(path: &Path, source: io::Error) -> TraceError {
    TraceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A file that could not be read as text: an I/O error, or the line of its first byte that is
/// not UTF-8.
fn text_err(path: &Path, e: crate::text::TextError) -> TraceError {
    match e {
        crate::text::TextError::Io(source) => io_err(path, source),
        crate::text::TextError::NotUtf8 { line, .. } => TraceError::Malformed {
            path: path.to_path_buf(),
            line,
            message: e.message(),
        },
    }
}

/// Helpers shared by the readers' unit tests.
#[cfg(test)]
mod test_support {
    use std::fs;
    use std::io::Write;
    use std::path::{Path, PathBuf};

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::{TraceError, TraceFormat, TraceJob, TraceOptions, read_trace};

    /// A trace shipped in the repository (`data/traces`: the openb pod list, the Azure VM trace).
    pub(super) fn shipped(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/traces")
            .join(rel)
    }

    pub(super) fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    pub(super) fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        let mut f = fs::File::create(&path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
        path
    }

    /// `text` as `trace.csv` in a fresh temporary folder (any CSV format, despite the name).
    pub(super) fn generic(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "trace.csv", text);
        (dir, path)
    }

    pub(super) fn read(path: &Path, format: TraceFormat) -> Result<Vec<TraceJob>, TraceError> {
        read_trace(path, format, &TraceOptions::default(), &mut rng())
    }

    pub(super) fn field_err(err: TraceError) -> (u64, String, String) {
        match err {
            TraceError::Field {
                line,
                column,
                message,
                ..
            } => (line, column, message),
            other => panic!("expected a field error, got {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{generic, read, rng};
    use super::*;

    // ---- format names

    #[test]
    fn format_deserializes_from_kebab_case_names() {
        use serde::de::IntoDeserializer;
        for (s, f) in [
            ("generic", TraceFormat::Generic),
            ("openb", TraceFormat::Openb),
            ("azure-vm", TraceFormat::AzureVm),
            ("replicas", TraceFormat::Replicas),
        ] {
            let de: serde::de::value::StrDeserializer<serde::de::value::Error> =
                s.into_deserializer();
            assert_eq!(TraceFormat::deserialize(de).unwrap(), f);
            assert_eq!(s.parse::<TraceFormat>().unwrap(), f);
            assert_eq!(f.to_string(), s);
        }
    }

    #[test]
    fn unknown_format_string_lists_the_allowed_ones() {
        use serde::de::IntoDeserializer;
        let de: serde::de::value::StrDeserializer<serde::de::value::Error> =
            "azure".into_deserializer();
        let msg = TraceFormat::deserialize(de).unwrap_err().to_string();
        for name in ["`azure`", "`generic`", "`openb`", "`azure-vm`"] {
            assert!(msg.contains(name), "{msg}");
        }
        let msg = "AzureVm".parse::<TraceFormat>().unwrap_err().to_string();
        assert_eq!(
            msg,
            "unknown trace format `AzureVm`; expected one of `generic`, `openb`, `azure-vm`, `replicas`"
        );
    }

    #[test]
    fn missing_trace_file_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.csv");
        let err = read(&path, TraceFormat::Generic).unwrap_err();
        assert!(matches!(err, TraceError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("nope.csv"));
    }

    // ---- options

    #[test]
    fn options_scale_times_then_window_then_limit() {
        let (_d, path) = generic(
            "arrival_s,duration_s,cpu_m,memory_mib\n0,10,1,1\n10,10,1,1\n20,,1,1\n30,1,1,1\n",
        );
        let opts = TraceOptions {
            time_scale: 0.5,
            limit: None,
            start_ms: 5_000,
            until_ms: Some(15_000),
        };
        let jobs = read_trace(&path, TraceFormat::Generic, &opts, &mut rng()).unwrap();
        let got: Vec<(u64, Option<u64>)> =
            jobs.iter().map(|j| (j.arrival_ms, j.duration_ms)).collect();
        assert_eq!(got, [(5_000, Some(5_000)), (10_000, None)]);

        let opts = TraceOptions {
            limit: Some(3),
            ..TraceOptions::default()
        };
        let jobs = read_trace(&path, TraceFormat::Generic, &opts, &mut rng()).unwrap();
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["row-2", "row-3", "row-4"]);
    }

    #[test]
    fn non_positive_time_scale_is_rejected() {
        let (_d, path) = generic("arrival_s,duration_s,cpu_m,memory_mib\n0,10,1,1\n");
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let opts = TraceOptions {
                time_scale: bad,
                ..TraceOptions::default()
            };
            let err = read_trace(&path, TraceFormat::Generic, &opts, &mut rng()).unwrap_err();
            assert!(
                matches!(
                    err,
                    TraceError::InvalidOption {
                        option: "time_scale",
                        ..
                    }
                ),
                "{err:?}"
            );
        }
    }
}
