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
//! on [`read_trace`] and on the per-format readers. Randomness (only the Azure format needs it)
//! comes from the caller's rng, so a seed gives the same jobs every time.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::{Rng, RngExt};
use serde::Deserialize;

/// Which reader to use for a trace file. Deserializes from `generic`, `openb` or `azure-vm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TraceFormat {
    Generic,
    Openb,
    AzureVm,
}

/// The accepted format names, for error messages.
const FORMAT_NAMES: &str = "`generic`, `openb`, `azure-vm`";

impl TraceFormat {
    pub const ALL: [TraceFormat; 3] = [
        TraceFormat::Generic,
        TraceFormat::Openb,
        TraceFormat::AzureVm,
    ];

    /// The name used in scenario files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceFormat::Generic => "generic",
            TraceFormat::Openb => "openb",
            TraceFormat::AzureVm => "azure-vm",
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
/// Per-format choices (see each data folder's README):
/// - **openb**: arrival = `creation_time`; duration = `deletion_time − scheduled_time` (the
///   historical run time; the simulator adds its own pending time). `Pending` pods never ran
///   upstream and are dropped (README: "or drop them"). `Running` pods whose `deletion_time` is
///   the file's last timestamp were still running when the trace was cut: duration `None`.
///   A shared GPU (`num_gpu == 1`, `gpu_milli < 1000`) is requested as one whole GPU, because
///   `nvidia.com/gpu` is an integer resource and the simulator models no GPU sharing; this
///   overstates GPU demand for the 3,078 sharing pods but keeps them on GPU nodes.
///   Priority is `None` (the trace has none); group = `qos`.
/// - **azure-vm**: see [`read_azure_vm`].
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
        TraceFormat::Generic => read_generic(path, scale)?,
        TraceFormat::Openb => read_openb(path, scale)?,
        TraceFormat::AzureVm => read_azure_vm(path, scale, rng)?,
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
const GIB: f64 = (1u64 << 30) as f64;

/// Seconds (already validated ≥ 0 and ≤ `MAX_SECS`) to scaled milliseconds.
fn secs_to_ms(secs: f64, scale: f64) -> u64 {
    // The value is finite, non-negative and below 2^53 here, so the cast is exact.
    (secs * 1000.0 * scale).round() as u64
}

/// Unscaled milliseconds to scaled milliseconds.
fn scale_ms(ms: u64, scale: f64) -> u64 {
    if scale == 1.0 {
        ms
    } else {
        (ms as f64 * scale).round() as u64
    }
}

fn io_err(path: &Path, source: io::Error) -> TraceError {
    TraceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A column found in a CSV header.
#[derive(Clone, Copy)]
struct Col {
    name: &'static str,
    idx: usize,
}

/// A CSV file read into memory, with its header split.
///
/// We split lines ourselves instead of using the `csv` crate's reader: its record positions
/// (csv 1.4) are wrong after blank lines and with CRLF endings, and every error here must name
/// the line as a text editor shows it. The traces are small, unquoted CSV (openb README); a
/// field may still be wrapped in double quotes (`""` inside for a quote) but not span lines.
struct CsvFile {
    path: PathBuf,
    text: String,
    header: Vec<String>,
    header_line: u64,
    /// Byte offset of the first line after the header.
    body_start: usize,
}

impl CsvFile {
    /// Reads `path` and its header; `expected` describes the header for error messages.
    fn open(path: &Path, expected: &str) -> Result<CsvFile, TraceError> {
        let text = fs::read_to_string(path).map_err(|e| io_err(path, e))?;
        let mut offset = if text.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            0
        };
        let mut line_no = 0u64;
        while offset < text.len() {
            line_no += 1;
            let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
            let line = &text[offset..line_end];
            let next = (line_end + 1).min(text.len());
            if !line.trim().is_empty() {
                let header = split_csv_line(line).map_err(|message| TraceError::Header {
                    path: path.to_path_buf(),
                    line: line_no,
                    message,
                })?;
                return Ok(CsvFile {
                    path: path.to_path_buf(),
                    text,
                    header,
                    header_line: line_no,
                    body_start: next,
                });
            }
            offset = next;
        }
        Err(TraceError::Empty {
            path: path.to_path_buf(),
            expected: expected.to_string(),
        })
    }

    fn header_err(&self, message: String) -> TraceError {
        TraceError::Header {
            path: self.path.clone(),
            line: self.header_line,
            message,
        }
    }

    /// Finds a required column by name.
    fn col(&self, name: &'static str, expected: &str) -> Result<Col, TraceError> {
        self.opt_col(name)
            .ok_or_else(|| self.header_err(format!("missing column `{name}`; expected {expected}")))
    }

    fn opt_col(&self, name: &'static str) -> Option<Col> {
        self.header
            .iter()
            .position(|h| h == name)
            .map(|idx| Col { name, idx })
    }

    /// Calls `f` for every non-blank line after the header; errors if there is none.
    fn for_each_row(
        &self,
        mut f: impl FnMut(&Row<'_>) -> Result<(), TraceError>,
    ) -> Result<(), TraceError> {
        let mut rows = 0usize;
        let body = &self.text[self.body_start..];
        for (i, raw) in body.split('\n').enumerate() {
            let line = self.header_line + 1 + i as u64;
            if raw.trim().is_empty() {
                continue;
            }
            let malformed = |message| TraceError::Malformed {
                path: self.path.clone(),
                line,
                message,
            };
            let record = split_csv_line(raw).map_err(malformed)?;
            if record.len() > self.header.len() {
                return Err(malformed(format!(
                    "the row has {} fields but the header has {}",
                    record.len(),
                    self.header.len()
                )));
            }
            rows += 1;
            f(&Row {
                path: &self.path,
                line,
                record: &record,
                header_len: self.header.len(),
            })?;
        }
        if rows == 0 {
            return Err(TraceError::NoRows {
                path: self.path.clone(),
            });
        }
        Ok(())
    }
}

/// Splits one CSV line (without its `\n`) into fields with surrounding spaces trimmed.
fn split_csv_line(line: &str) -> Result<Vec<String>, String> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        let trimmed = rest.trim_start();
        if let Some(quoted) = trimmed.strip_prefix('"') {
            // A quoted field runs to the next lone `"`; `""` is an escaped quote.
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let after = loop {
                match chars.next() {
                    Some((i, '"')) => {
                        if quoted[i + 1..].starts_with('"') {
                            value.push('"');
                            chars.next();
                        } else {
                            break &quoted[i + 1..];
                        }
                    }
                    Some((_, c)) => value.push(c),
                    None => {
                        return Err(format!(
                            "field {} has an opening `\"` but no closing one",
                            fields.len() + 1
                        ));
                    }
                }
            };
            fields.push(value);
            let after = after.trim_start();
            match after.strip_prefix(',') {
                Some(r) => rest = r,
                None if after.is_empty() => return Ok(fields),
                None => {
                    return Err(format!(
                        "field {}: unexpected text after the closing `\"`",
                        fields.len()
                    ));
                }
            }
        } else {
            match rest.split_once(',') {
                Some((field, r)) => {
                    fields.push(field.trim().to_string());
                    rest = r;
                }
                None => {
                    fields.push(rest.trim().to_string());
                    return Ok(fields);
                }
            }
        }
    }
}

/// One CSV data row, with what error messages need.
struct Row<'a> {
    path: &'a Path,
    line: u64,
    record: &'a [String],
    header_len: usize,
}

impl<'a> Row<'a> {
    fn err(&self, col: Col, message: String) -> TraceError {
        TraceError::Field {
            path: self.path.to_path_buf(),
            line: self.line,
            column: col.name.to_string(),
            message,
        }
    }

    fn get(&self, col: Col) -> Result<&'a str, TraceError> {
        self.record.get(col.idx).map(String::as_str).ok_or_else(|| {
            self.err(
                col,
                format!(
                    "missing: the row has {} fields but the header has {}",
                    self.record.len(),
                    self.header_len
                ),
            )
        })
    }

    /// A time in seconds: a finite number, ≥ 0, fractions allowed. Empty → `None`.
    fn opt_secs(&self, col: Col) -> Result<Option<f64>, TraceError> {
        let s = self.get(col)?;
        if s.is_empty() {
            return Ok(None);
        }
        let v: f64 = s
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| self.err(col, format!("expected a number of seconds, found `{s}`")))?;
        if v < 0.0 {
            return Err(self.err(col, format!("expected seconds ≥ 0, found negative `{s}`")));
        }
        if v > MAX_SECS {
            return Err(self.err(col, format!("expected seconds ≤ {MAX_SECS:e}, found `{s}`")));
        }
        Ok(Some(v))
    }

    fn secs(&self, col: Col) -> Result<f64, TraceError> {
        self.opt_secs(col)?.ok_or_else(|| {
            self.err(
                col,
                "expected a number of seconds, found an empty field".to_string(),
            )
        })
    }

    /// A whole number ≥ 0 of `unit`. Empty → `None`.
    fn opt_count(&self, col: Col, unit: &str) -> Result<Option<i64>, TraceError> {
        let s = self.get(col)?;
        if s.is_empty() {
            return Ok(None);
        }
        let v: i64 = s.parse().map_err(|_| {
            self.err(
                col,
                format!("expected a whole number of {unit} ≥ 0, found `{s}`"),
            )
        })?;
        if v < 0 {
            return Err(self.err(
                col,
                format!("expected a whole number of {unit} ≥ 0, found negative `{s}`"),
            ));
        }
        Ok(Some(v))
    }

    fn count(&self, col: Col, unit: &str) -> Result<i64, TraceError> {
        self.opt_count(col, unit)?.ok_or_else(|| {
            self.err(
                col,
                format!("expected a whole number of {unit} ≥ 0, found an empty field"),
            )
        })
    }

    fn mib_to_bytes(&self, col: Col, mib: i64) -> Result<i64, TraceError> {
        mib.checked_mul(MIB)
            .ok_or_else(|| self.err(col, format!("{mib} MiB is too large")))
    }
}

// ---------------------------------------------------------------------------------------------
// generic

const GENERIC_HEADER: &str =
    "header `arrival_s,duration_s,cpu_m,memory_mib[,gpu][,priority][,group]`";
const GENERIC_COLUMNS: [&str; 7] = [
    "arrival_s",
    "duration_s",
    "cpu_m",
    "memory_mib",
    "gpu",
    "priority",
    "group",
];

/// Reads our generic CSV. Columns are matched by header name (any order); the first four are
/// required, `gpu`, `priority` and `group` optional. An unknown or repeated column is an error,
/// so a typo is not silently ignored. Per row: `arrival_s` ≥ 0 seconds (fractions allowed);
/// `duration_s` ≥ 0 seconds or empty (runs to the end); `cpu_m`, `memory_mib`, `gpu` whole
/// numbers ≥ 0 (empty `gpu` = 0); `priority` any i32 (Kubernetes priorities may be negative) or
/// empty; `group` text or empty.
fn read_generic(path: &Path, scale: f64) -> Result<Vec<TraceJob>, TraceError> {
    let csv = CsvFile::open(path, GENERIC_HEADER)?;
    let mut seen: Vec<&str> = Vec::new();
    for h in csv.header.iter().map(String::as_str) {
        if !GENERIC_COLUMNS.contains(&h) {
            return Err(csv.header_err(format!(
                "unknown column `{h}`; allowed columns are {}",
                GENERIC_COLUMNS.join(", ")
            )));
        }
        if seen.contains(&h) {
            return Err(csv.header_err(format!("column `{h}` appears twice")));
        }
        seen.push(h);
    }
    let arrival = csv.col("arrival_s", GENERIC_HEADER)?;
    let duration = csv.col("duration_s", GENERIC_HEADER)?;
    let cpu = csv.col("cpu_m", GENERIC_HEADER)?;
    let memory = csv.col("memory_mib", GENERIC_HEADER)?;
    let gpu = csv.opt_col("gpu");
    let priority = csv.opt_col("priority");
    let group = csv.opt_col("group");

    let mut jobs = Vec::new();
    csv.for_each_row(|row| {
        let arrival_s = row.secs(arrival)?;
        let duration_s = row.opt_secs(duration)?;
        let cpu_m = row.count(cpu, "millicores")?;
        let memory_mib = row.count(memory, "MiB")?;
        let gpu = match gpu {
            Some(c) => row.opt_count(c, "GPUs")?.unwrap_or(0),
            None => 0,
        };
        let priority = match priority {
            Some(c) => {
                let s = row.get(c)?;
                if s.is_empty() {
                    None
                } else {
                    Some(s.parse::<i32>().map_err(|_| {
                        row.err(
                            c,
                            format!(
                                "expected a whole number (32-bit, may be negative), found `{s}`"
                            ),
                        )
                    })?)
                }
            }
            None => None,
        };
        let group = match group {
            Some(c) => Some(row.get(c)?)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            None => None,
        };
        jobs.push(TraceJob {
            name: format!("row-{}", row.line),
            arrival_ms: secs_to_ms(arrival_s, scale),
            duration_ms: duration_s.map(|d| secs_to_ms(d, scale)),
            cpu_m,
            memory_bytes: row.mib_to_bytes(memory, memory_mib)?,
            gpu,
            priority,
            group,
        });
        Ok(())
    })?;
    Ok(jobs)
}

// ---------------------------------------------------------------------------------------------
// openb

const OPENB_HEADER: &str = "the openb pod-list header `name,cpu_milli,memory_mib,num_gpu,\
     gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time`";

#[derive(Clone, Copy, PartialEq, Eq)]
enum OpenbPhase {
    Running,
    Failed,
    Pending,
    Succeeded,
}

struct OpenbRow {
    job: TraceJob,
    phase: OpenbPhase,
    deletion_s: f64,
    run_s: f64,
}

/// Reads the openb pod list; the mapping is documented on [`read_trace`]. Columns are found by
/// header name; extra columns (`gpu_spec`) are ignored.
fn read_openb(path: &Path, scale: f64) -> Result<Vec<TraceJob>, TraceError> {
    let csv = CsvFile::open(path, OPENB_HEADER)?;
    let name = csv.col("name", OPENB_HEADER)?;
    let cpu = csv.col("cpu_milli", OPENB_HEADER)?;
    let memory = csv.col("memory_mib", OPENB_HEADER)?;
    let num_gpu = csv.col("num_gpu", OPENB_HEADER)?;
    let gpu_milli = csv.col("gpu_milli", OPENB_HEADER)?;
    let qos = csv.col("qos", OPENB_HEADER)?;
    let phase = csv.col("pod_phase", OPENB_HEADER)?;
    let creation = csv.col("creation_time", OPENB_HEADER)?;
    let deletion = csv.col("deletion_time", OPENB_HEADER)?;
    let scheduled = csv.col("scheduled_time", OPENB_HEADER)?;

    let mut rows = Vec::new();
    csv.for_each_row(|row| {
        let pod = row.get(name)?;
        if pod.is_empty() {
            return Err(row.err(
                name,
                "expected a pod name, found an empty field".to_string(),
            ));
        }
        let phase_s = row.get(phase)?;
        let pod_phase = match phase_s {
            "Running" => OpenbPhase::Running,
            "Failed" => OpenbPhase::Failed,
            "Pending" => OpenbPhase::Pending,
            "Succeeded" => OpenbPhase::Succeeded,
            other => {
                return Err(row.err(
                    phase,
                    format!("expected one of Running, Failed, Pending, Succeeded, found `{other}`"),
                ));
            }
        };
        let milli = row.count(gpu_milli, "milli-GPUs")?;
        if milli > 1000 {
            let message = format!("expected milli-GPUs in 0..=1000, found `{milli}`");
            return Err(row.err(gpu_milli, message));
        }
        let creation_s = row.secs(creation)?;
        let deletion_s = row.secs(deletion)?;
        let negative = |before: &str, t: f64| {
            let message =
                format!("negative duration: deletion_time {deletion_s} is before {before} {t}");
            row.err(deletion, message)
        };
        if deletion_s < creation_s {
            return Err(negative("creation_time", creation_s));
        }
        // Pending pods were never bound, so only they may lack scheduled_time (openb README).
        let run_s = match row.opt_secs(scheduled)? {
            Some(s) if s < creation_s => {
                return Err(row.err(
                    scheduled,
                    format!("scheduled_time {s} is before creation_time {creation_s}"),
                ));
            }
            Some(s) if deletion_s < s => return Err(negative("scheduled_time", s)),
            Some(s) => deletion_s - s,
            None if pod_phase == OpenbPhase::Pending => 0.0,
            None => {
                let message = format!(
                    "expected seconds (only Pending pods may leave it empty), \
                     found an empty field in a {phase_s} pod"
                );
                return Err(row.err(scheduled, message));
            }
        };
        let memory_mib = row.count(memory, "MiB")?;
        let qos_s = row.get(qos)?;
        rows.push(OpenbRow {
            job: TraceJob {
                name: pod.to_string(),
                arrival_ms: secs_to_ms(creation_s, scale),
                duration_ms: None, // set below, once the trace end is known
                cpu_m: row.count(cpu, "millicores")?,
                memory_bytes: row.mib_to_bytes(memory, memory_mib)?,
                gpu: row.count(num_gpu, "GPUs")?,
                priority: None,
                group: (!qos_s.is_empty()).then(|| qos_s.to_string()),
            },
            phase: pod_phase,
            deletion_s,
            run_s,
        });
        Ok(())
    })?;

    // The trace was cut at its last deletion_time: Running pods "deleted" then were still alive.
    let trace_end_s = rows.iter().map(|r| r.deletion_s).fold(0.0, f64::max);
    Ok(rows
        .into_iter()
        .filter(|r| r.phase != OpenbPhase::Pending)
        .map(|r| {
            let censored = r.phase == OpenbPhase::Running && r.deletion_s == trace_end_s;
            TraceJob {
                duration_ms: (!censored).then(|| secs_to_ms(r.run_s, scale)),
                ..r.job
            }
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// azure-vm

const AZURE_PATH_HELP: &str = "expected the azure-vm arrivals file, named \
    `<prefix>.<split>.txt` (e.g. `v1.dev.txt`); the lifetime file `v1.dev.c<censor>.txt` \
    is found beside it";

/// Width of one arrival bin: lines of the flavour trace are 300 s apart (azure-vm README).
const AZURE_BIN_MS: u64 = 300_000;

struct Flavour {
    cpu_m: i64,
    memory_bytes: i64,
}

/// Duration bin `k` covers `[lo_ms, hi_ms)`.
#[derive(Clone, Copy)]
struct DurationBin {
    lo_ms: u64,
    hi_ms: u64,
}

/// Reads the binned Azure VM trace. `path` is the flavour (arrivals) file `<p>.<split>.txt`;
/// beside it must be the lifetime file `<p>.<split>.c<censor>.txt`, `flav_map.txt` and
/// `<p>.interval_map.txt`.
///
/// - **Arrival**: a line `t` lists the VMs that arrived since the previous line (INPUT.md of the
///   source repository), so each VM gets an arrival drawn uniformly from `(t − 300 s, t]`, at
///   millisecond resolution. The trace start (time 0) is the start of the first line's bin,
///   `t_first − 300 s`, so arrivals are shifted to begin near 0 rather than at day 20.8.
/// - **Duration**: `U<k>` is drawn uniformly from bin `k`'s range `[lo, hi + 300 s)`, where
///   `lo`/`hi` are the smallest/largest lifetime the interval map puts in bin `k` and 300 s is
///   the map's grid step (the original lifetimes are multiples of 300 s, so a lifetime "0"
///   means under 5 minutes). `C<k>` (still running at the censor time) → `None`.
/// - **Resources**: the flavour's vCPU × 1000 millicores and GB × 2^30 bytes (the README: these
///   Azure sizes are GiB). No GPU, no priority.
/// - **Group**: `tenant-<line>-<batch>`, 1-based file line and 1-based batch on that line (a
///   `|` closes a batch; trailing VMs with no closing `|` form a last batch).
///
/// Draw order is fixed (per VM in file order: arrival, then duration if uncensored).
fn read_azure_vm(path: &Path, scale: f64, rng: &mut impl Rng) -> Result<Vec<TraceJob>, TraceError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let stem = file_name.strip_suffix(".txt").unwrap_or("");
    let (prefix, split) = stem.split_once('.').unwrap_or(("", ""));
    if prefix.is_empty() || split.is_empty() || split.contains('.') {
        return Err(TraceError::BadPath {
            path: path.to_path_buf(),
            message: AZURE_PATH_HELP.to_string(),
        });
    }

    let arrivals = fs::read_to_string(path).map_err(|e| io_err(path, e))?;
    if arrivals.trim().is_empty() {
        return Err(TraceError::Empty {
            path: path.to_path_buf(),
            expected: "lines `<t> <flavour>,…,|,…`".to_string(),
        });
    }
    let lifetime_path = find_lifetime_file(&dir, stem, path)?;
    let lifetimes = read_sibling(&lifetime_path, path)?;
    let flav_path = dir.join("flav_map.txt");
    let flavours = parse_flavour_map(&flav_path, &read_sibling(&flav_path, path)?)?;
    let interval_path = dir.join(format!("{prefix}.interval_map.txt"));
    let bins = parse_interval_map(&interval_path, &read_sibling(&interval_path, path)?)?;

    let malformed = |p: &Path, line: u64, message: String| TraceError::Malformed {
        path: p.to_path_buf(),
        line,
        message,
    };

    let mut jobs = Vec::new();
    let mut life_lines = lifetimes.lines();
    let mut origin_s: Option<u64> = None;
    let mut prev_t: Option<u64> = None;
    let mut vm_index = 0u64;
    let mut line_no = 0u64;
    for a_line in arrivals.lines() {
        line_no += 1;
        let Some(l_line) = life_lines.next() else {
            return Err(malformed(
                &lifetime_path,
                line_no,
                format!(
                    "the file ends early: {} has a line {line_no}",
                    path.display()
                ),
            ));
        };
        if a_line.trim().is_empty() && l_line.trim().is_empty() {
            continue;
        }
        let (t_a, rest_a) = a_line
            .trim_end()
            .split_once(' ')
            .unwrap_or((a_line.trim_end(), ""));
        let (t_l, rest_l) = l_line
            .trim_end()
            .split_once(' ')
            .unwrap_or((l_line.trim_end(), ""));
        let t: u64 = t_a.parse().map_err(|_| {
            malformed(
                path,
                line_no,
                format!("expected `<t> <tokens>` with t in whole seconds, found `{t_a}`"),
            )
        })?;
        if t_l != t_a {
            return Err(malformed(
                &lifetime_path,
                line_no,
                format!(
                    "expected time `{t_a}` as on line {line_no} of {}, found `{t_l}`",
                    path.display()
                ),
            ));
        }
        if prev_t.is_some_and(|p| t <= p) {
            return Err(malformed(
                path,
                line_no,
                format!("time {t} is not after the previous line's"),
            ));
        }
        prev_t = Some(t);
        let origin = *origin_s.get_or_insert(t.saturating_sub(AZURE_BIN_MS / 1000));
        // Bin end relative to the trace start; arrivals fall in (bin_end − 300 s, bin_end].
        let bin_end_ms = (t - origin).saturating_mul(1000);

        let mut batch = 1u32;
        let mut group = format!("tenant-{line_no}-{batch}");
        let mut toks_a = rest_a.split(',');
        let mut toks_l = rest_l.split(',');
        let mut tok_no = 0usize;
        loop {
            let (a, l) = match (toks_a.next(), toks_l.next()) {
                (None, None) => break,
                (Some(a), Some(l)) => (a.trim(), l.trim()),
                _ => {
                    return Err(malformed(
                        &lifetime_path,
                        line_no,
                        format!(
                            "token count differs from line {line_no} of {}",
                            path.display()
                        ),
                    ));
                }
            };
            tok_no += 1;
            if a == "|" || l == "|" {
                if a != l {
                    return Err(malformed(
                        &lifetime_path,
                        line_no,
                        format!(
                            "token {tok_no} is `{l}` but {} has `{a}` there",
                            path.display()
                        ),
                    ));
                }
                batch += 1;
                group = format!("tenant-{line_no}-{batch}");
                continue;
            }
            if a.is_empty() && l.is_empty() {
                continue; // a line with no VMs
            }
            let flavour = flavours.get(a).ok_or_else(|| {
                malformed(
                    path,
                    line_no,
                    format!(
                        "token {tok_no}: unknown flavour `{a}`; flav_map.txt has {}",
                        {
                            let names: Vec<&str> = flavours.keys().map(String::as_str).collect();
                            names.join(", ")
                        }
                    ),
                )
            })?;
            let (censored, bin) = parse_lifetime_token(l).ok_or_else(|| {
                malformed(
                    &lifetime_path,
                    line_no,
                    format!("token {tok_no}: expected `U<bin>` or `C<bin>`, found `{l}`"),
                )
            })?;
            let range = bins.get(bin).copied().flatten().ok_or_else(|| {
                malformed(
                    &lifetime_path,
                    line_no,
                    format!(
                        "token {tok_no}: duration bin {bin} is not in {}",
                        interval_path.display()
                    ),
                )
            })?;
            let arrival = bin_end_ms.saturating_sub(rng.random_range(0..AZURE_BIN_MS));
            let duration_ms = if censored {
                None
            } else {
                Some(scale_ms(rng.random_range(range.lo_ms..range.hi_ms), scale))
            };
            jobs.push(TraceJob {
                name: format!("vm-{vm_index}"),
                arrival_ms: scale_ms(arrival, scale),
                duration_ms,
                cpu_m: flavour.cpu_m,
                memory_bytes: flavour.memory_bytes,
                gpu: 0,
                priority: None,
                group: Some(group.clone()),
            });
            vm_index += 1;
        }
    }
    if life_lines.any(|l| !l.trim().is_empty()) {
        return Err(malformed(
            &lifetime_path,
            line_no + 1,
            format!(
                "the file has more lines than {} ({line_no})",
                path.display()
            ),
        ));
    }
    Ok(jobs)
}

/// Finds `<stem>.c<digits>.txt` in `dir`; exactly one must exist.
fn find_lifetime_file(dir: &Path, stem: &str, needed_by: &Path) -> Result<PathBuf, TraceError> {
    let entries = fs::read_dir(dir).map_err(|e| io_err(dir, e))?;
    let prefix = format!("{stem}.c");
    let mut found: Vec<String> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let censor = name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(".txt"));
        if censor.is_some_and(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit())) {
            found.push(name.to_string());
        }
    }
    found.sort(); // read_dir order is not deterministic
    match found.as_slice() {
        [one] => Ok(dir.join(one)),
        [] => Err(TraceError::MissingFile {
            path: dir.join(format!("{stem}.c<censor-time>.txt")),
            needed_by: needed_by.to_path_buf(),
        }),
        many => Err(TraceError::BadPath {
            path: needed_by.to_path_buf(),
            message: format!("more than one lifetime file beside it: {}", many.join(", ")),
        }),
    }
}

fn read_sibling(path: &Path, needed_by: &Path) -> Result<String, TraceError> {
    fs::read_to_string(path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            TraceError::MissingFile {
                path: path.to_path_buf(),
                needed_by: needed_by.to_path_buf(),
            }
        } else {
            io_err(path, e)
        }
    })
}

/// `U<k>` → `(false, k)`, `C<k>` → `(true, k)`.
fn parse_lifetime_token(tok: &str) -> Option<(bool, usize)> {
    let (censored, digits) = match tok.split_at_checked(1)? {
        ("U", d) => (false, d),
        ("C", d) => (true, d),
        _ => return None,
    };
    Some((censored, digits.parse().ok()?))
}

/// Lines `<vcpu>,<memory GB> <letter>`.
fn parse_flavour_map(path: &Path, text: &str) -> Result<BTreeMap<String, Flavour>, TraceError> {
    let mut map = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i as u64 + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let err = || TraceError::Malformed {
            path: path.to_path_buf(),
            line: line_no,
            message: format!(
                "expected `<vcpu>,<memory GB> <letter>` with positive numbers, found `{line}`"
            ),
        };
        let (sizes, letter) = line.split_once(char::is_whitespace).ok_or_else(err)?;
        let (vcpu, gb) = sizes.split_once(',').ok_or_else(err)?;
        let positive = |s: &str| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0 && *v < 1e9)
        };
        let (vcpu, gb) = (
            positive(vcpu).ok_or_else(err)?,
            positive(gb).ok_or_else(err)?,
        );
        let flavour = Flavour {
            cpu_m: (vcpu * 1000.0).round() as i64,
            memory_bytes: (gb * GIB).round() as i64,
        };
        if map.insert(letter.trim().to_string(), flavour).is_some() {
            return Err(TraceError::Malformed {
                path: path.to_path_buf(),
                line: line_no,
                message: format!("flavour `{}` appears twice", letter.trim()),
            });
        }
    }
    if map.is_empty() {
        return Err(TraceError::Empty {
            path: path.to_path_buf(),
            expected: "lines `<vcpu>,<memory GB> <letter>`".to_string(),
        });
    }
    Ok(map)
}

/// Lines `<duration_s> <bin>`; returns each bin's `[lo, hi + step)` in ms, indexed by bin.
fn parse_interval_map(path: &Path, text: &str) -> Result<Vec<Option<DurationBin>>, TraceError> {
    let mut pairs: Vec<(u64, usize)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parsed = line
            .split_once(char::is_whitespace)
            .and_then(|(d, b)| {
                Some((
                    d.trim().parse::<u64>().ok()?,
                    b.trim().parse::<usize>().ok()?,
                ))
            })
            .filter(|&(d, b)| (d as f64) <= MAX_SECS && b < 100_000);
        let Some(pair) = parsed else {
            return Err(TraceError::Malformed {
                path: path.to_path_buf(),
                line: i as u64 + 1,
                message: format!(
                    "expected `<duration seconds> <bin>` (whole numbers), found `{line}`"
                ),
            });
        };
        pairs.push(pair);
    }
    pairs.sort_unstable();
    // The grid step: the smallest gap between listed durations (300 s in v1.interval_map.txt).
    let step_s = pairs
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .filter(|&g| g > 0)
        .min();
    let Some(step_s) = step_s else {
        return Err(TraceError::Malformed {
            path: path.to_path_buf(),
            line: 1,
            message: "expected at least two distinct durations, to learn the grid step".to_string(),
        });
    };
    let n_bins = pairs.iter().map(|&(_, b)| b + 1).max().unwrap_or(0);
    let mut bins: Vec<Option<(u64, u64)>> = vec![None; n_bins];
    for &(d, b) in &pairs {
        let slot = &mut bins[b];
        *slot = Some(match *slot {
            None => (d, d),
            Some((lo, hi)) => (lo.min(d), hi.max(d)),
        });
    }
    Ok(bins
        .into_iter()
        .map(|r| {
            r.map(|(lo, hi)| DurationBin {
                lo_ms: lo * 1000,
                hi_ms: (hi + step_s) * 1000,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::io::Write;

    /// A trace shipped in the repository (`data/traces`, the openb pod list).
    fn shipped(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/traces")
            .join(rel)
    }

    /// A trace in the repository's `data/traces` (the Azure VM trace).
    fn data(rel: &str) -> PathBuf {
        shipped(rel)
    }

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        let mut f = fs::File::create(&path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
        path
    }

    fn generic(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "trace.csv", text);
        (dir, path)
    }

    fn read(path: &Path, format: TraceFormat) -> Result<Vec<TraceJob>, TraceError> {
        read_trace(path, format, &TraceOptions::default(), &mut rng())
    }

    fn field_err(err: TraceError) -> (u64, String, String) {
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

    // ---- format names

    #[test]
    fn format_deserializes_from_kebab_case_names() {
        use serde::de::IntoDeserializer;
        for (s, f) in [
            ("generic", TraceFormat::Generic),
            ("openb", TraceFormat::Openb),
            ("azure-vm", TraceFormat::AzureVm),
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
            "unknown trace format `AzureVm`; expected one of `generic`, `openb`, `azure-vm`"
        );
    }

    // ---- generic

    #[test]
    fn generic_reads_all_columns_and_sorts_by_arrival() {
        let (_d, path) = generic(
            "arrival_s,duration_s,cpu_m,memory_mib,gpu,priority,group\n\
             10.5,60,500,1024,0,100,web\n\
             2,,250,256,1,-5,\n\
             2,0.0015,1000,1,,,batch\n",
        );
        let jobs = read(&path, TraceFormat::Generic).unwrap();
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["row-3", "row-4", "row-2"]);
        assert_eq!(
            jobs[0],
            TraceJob {
                name: "row-3".into(),
                arrival_ms: 2000,
                duration_ms: None,
                cpu_m: 250,
                memory_bytes: 256 << 20,
                gpu: 1,
                priority: Some(-5),
                group: None,
            }
        );
        assert_eq!(jobs[1].duration_ms, Some(2)); // 1.5 ms rounds to 2
        assert_eq!(jobs[1].gpu, 0);
        assert_eq!(jobs[1].group.as_deref(), Some("batch"));
        assert_eq!(jobs[2].arrival_ms, 10_500);
        assert_eq!(jobs[2].duration_ms, Some(60_000));
        assert_eq!(jobs[2].priority, Some(100));
    }

    #[test]
    fn generic_optional_columns_may_be_absent_or_reordered() {
        let (_d, path) = generic("cpu_m,arrival_s,memory_mib,duration_s\n100,1,2,3\n");
        let jobs = read(&path, TraceFormat::Generic).unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            (jobs[0].cpu_m, jobs[0].arrival_ms, jobs[0].memory_bytes),
            (100, 1000, 2 << 20)
        );
        assert_eq!(
            (
                jobs[0].duration_ms,
                jobs[0].gpu,
                jobs[0].priority,
                jobs[0].group.clone()
            ),
            (Some(3000), 0, None, None)
        );
    }

    #[test]
    fn generic_missing_column_names_line_and_column() {
        let (_d, path) = generic("arrival_s,duration_s,cpu_m,memory_mib\n1,2,3,4\n\n5,6,7\n");
        let err = read(&path, TraceFormat::Generic).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "{}:4: column `memory_mib`: missing",
                path.display()
            )),
            "{msg}"
        );
        assert_eq!(field_err(err).0, 4);
    }

    #[test]
    fn generic_line_numbers_count_blank_lines_and_crlf() {
        let (_d, path) = generic(
            "\u{feff}\r\narrival_s,duration_s,cpu_m,memory_mib\r\n1,2,3,4\r\n\r\n\r\n5,6,x,8\r\n",
        );
        let (line, column, _) = field_err(read(&path, TraceFormat::Generic).unwrap_err());
        assert_eq!((line, column.as_str()), (6, "cpu_m"));
        let (_d, path) = generic("\n\narrival_s,duration_s,cpu_m,memory_mib\r\n1,2,3,4\r\n");
        assert_eq!(read(&path, TraceFormat::Generic).unwrap()[0].name, "row-4");
    }

    #[test]
    fn generic_quoted_fields_may_hold_commas_and_quotes() {
        let (_d, path) =
            generic("arrival_s,duration_s,cpu_m,memory_mib,group\n1,2,3,4, \"a,\"\"b\"\"\" \n");
        assert_eq!(
            read(&path, TraceFormat::Generic).unwrap()[0]
                .group
                .as_deref(),
            Some("a,\"b\"")
        );
        let (_d, path) = generic("arrival_s,duration_s,cpu_m,memory_mib,group\n1,2,3,4,\"a\n");
        let msg = read(&path, TraceFormat::Generic).unwrap_err().to_string();
        assert!(
            msg.ends_with(":2: field 5 has an opening `\"` but no closing one"),
            "{msg}"
        );
    }

    #[test]
    fn generic_bad_number_names_line_column_and_expectation() {
        let (_d, path) = generic("arrival_s,duration_s,cpu_m,memory_mib\n1,2,3,4\n1,2,1.5,4\n");
        let (line, column, message) = field_err(read(&path, TraceFormat::Generic).unwrap_err());
        assert_eq!((line, column.as_str()), (3, "cpu_m"));
        assert_eq!(
            message,
            "expected a whole number of millicores ≥ 0, found `1.5`"
        );

        let (_d, path) = generic("arrival_s,duration_s,cpu_m,memory_mib\nsoon,2,3,4\n");
        let (line, column, message) = field_err(read(&path, TraceFormat::Generic).unwrap_err());
        assert_eq!((line, column.as_str()), (2, "arrival_s"));
        assert_eq!(message, "expected a number of seconds, found `soon`");

        let (_d, path) = generic("arrival_s,duration_s,cpu_m,memory_mib\nNaN,2,3,4\n");
        assert_eq!(
            field_err(read(&path, TraceFormat::Generic).unwrap_err()).1,
            "arrival_s"
        );
    }

    #[test]
    fn generic_negative_duration_is_rejected() {
        let (_d, path) = generic("arrival_s,duration_s,cpu_m,memory_mib\n1,-2,3,4\n");
        let (line, column, message) = field_err(read(&path, TraceFormat::Generic).unwrap_err());
        assert_eq!((line, column.as_str()), (2, "duration_s"));
        assert_eq!(message, "expected seconds ≥ 0, found negative `-2`");
    }

    #[test]
    fn generic_negative_resource_is_rejected() {
        let (_d, path) = generic("arrival_s,duration_s,cpu_m,memory_mib,gpu\n1,2,3,4,-1\n");
        let (_, column, message) = field_err(read(&path, TraceFormat::Generic).unwrap_err());
        assert_eq!(column, "gpu");
        assert!(message.contains("negative `-1`"), "{message}");
    }

    #[test]
    fn generic_empty_file_is_an_error() {
        let (_d, path) = generic("");
        let err = read(&path, TraceFormat::Generic).unwrap_err();
        assert!(matches!(err, TraceError::Empty { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("the file is empty; expected header `arrival_s,duration_s"),
            "{err}"
        );
    }

    #[test]
    fn generic_header_only_is_an_error() {
        let (_d, path) = generic("arrival_s,duration_s,cpu_m,memory_mib\n");
        let err = read(&path, TraceFormat::Generic).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: no data rows after the header", path.display())
        );
    }

    #[test]
    fn generic_header_problems_are_errors() {
        let (_d, path) = generic("arrival_s,duration_s,cpu_m\n1,2,3\n");
        let msg = read(&path, TraceFormat::Generic).unwrap_err().to_string();
        assert!(
            msg.contains(":1: header: missing column `memory_mib`"),
            "{msg}"
        );

        let (_d, path) = generic("arrival_s,duration_s,cpu_m,memory_mib,gpus\n1,2,3,4,5\n");
        let msg = read(&path, TraceFormat::Generic).unwrap_err().to_string();
        assert!(
            msg.contains("unknown column `gpus`; allowed columns are arrival_s,"),
            "{msg}"
        );

        let (_d, path) = generic("arrival_s,duration_s,cpu_m,memory_mib,cpu_m\n1,2,3,4,5\n");
        let msg = read(&path, TraceFormat::Generic).unwrap_err().to_string();
        assert!(msg.contains("column `cpu_m` appears twice"), "{msg}");
    }

    #[test]
    fn generic_row_with_extra_fields_is_an_error() {
        let (_d, path) = generic("arrival_s,duration_s,cpu_m,memory_mib\n1,2,3,4,5\n");
        let msg = read(&path, TraceFormat::Generic).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                "{}:2: the row has 5 fields but the header has 4",
                path.display()
            )
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

    // ---- openb

    const OPENB_HEAD: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,\
                              pod_phase,creation_time,deletion_time,scheduled_time\n";

    #[test]
    fn openb_real_file_counts_and_totals() {
        let jobs = read(
            &shipped("alibaba-gpu-v2023-openb/openb_pod_list_default.csv"),
            TraceFormat::Openb,
        )
        .unwrap();
        // 8,152 rows minus 897 Pending pods.
        assert_eq!(jobs.len(), 7_255);
        assert_eq!(jobs.iter().filter(|j| j.duration_ms.is_none()).count(), 34);
        assert_eq!(jobs.iter().map(|j| j.cpu_m).sum::<i64>(), 76_423_916);
        assert_eq!(
            jobs.iter().map(|j| j.memory_bytes).sum::<i64>(),
            267_696_088 * MIB
        );
        assert_eq!(jobs.iter().map(|j| j.gpu).sum::<i64>(), 6_571);
        assert_eq!(
            jobs.iter().filter_map(|j| j.duration_ms).sum::<u64>(),
            76_630_207_000
        );
        assert_eq!(
            jobs.iter()
                .filter(|j| j.group.as_deref() == Some("LS"))
                .count(),
            4_193
        );
        assert!(jobs.iter().all(|j| j.priority.is_none()));
        assert!(
            jobs.windows(2)
                .all(|w| (w[0].arrival_ms, &w[0].name) < (w[1].arrival_ms, &w[1].name))
        );

        let first = &jobs[0];
        assert_eq!(
            (first.name.as_str(), first.arrival_ms),
            ("openb-pod-0000", 0)
        );
        assert_eq!(first.duration_ms, Some(12_537_496_000)); // Running, but deleted before the end
        let last = jobs.last().unwrap();
        assert_eq!(
            (last.name.as_str(), last.arrival_ms),
            ("openb-pod-8151", 12_901_761_000)
        );
        // deletion − scheduled (30 s), not deletion − creation (31 s)
        assert_eq!(last.duration_ms, Some(30_000));

        let by_name = |n: &str| jobs.iter().find(|j| j.name == n).unwrap();
        // Running until the last timestamp of the trace: still alive when it was cut.
        assert_eq!(by_name("openb-pod-0001").duration_ms, None);
        let shared = by_name("openb-pod-8150"); // gpu_milli 590 → one whole GPU
        assert_eq!(
            *shared,
            TraceJob {
                name: "openb-pod-8150".into(),
                arrival_ms: 12_900_505_000,
                duration_ms: Some(21_000),
                cpu_m: 3152,
                memory_bytes: 5600 * MIB,
                gpu: 1,
                priority: None,
                group: Some("BE".into()),
            }
        );
        assert_eq!(by_name("openb-pod-1523").memory_bytes, 0);
    }

    #[test]
    fn openb_drops_pending_and_censors_running_at_trace_end() {
        let (_d, path) = generic(&format!(
            "{OPENB_HEAD}\
             p-a,1000,10,1,500,,LS,Running,0,100,2\n\
             p-b,2000,20,0,0,,BE,Pending,5,50,\n\
             p-c,3000,30,8,1000,,Guaranteed,Failed,7,40,9\n\
             p-d,4000,40,1,1000,,LS,Running,8,90,8\n"
        ));
        let jobs = read(&path, TraceFormat::Openb).unwrap();
        let got: Vec<(&str, u64, Option<u64>, i64)> = jobs
            .iter()
            .map(|j| (j.name.as_str(), j.arrival_ms, j.duration_ms, j.gpu))
            .collect();
        assert_eq!(
            got,
            [
                ("p-a", 0, None, 1),
                ("p-c", 7_000, Some(31_000), 8),
                ("p-d", 8_000, Some(82_000), 1)
            ]
        );
    }

    #[test]
    fn openb_negative_duration_is_rejected() {
        let (_d, path) = generic(&format!(
            "{OPENB_HEAD}p-a,1000,10,1,500,,LS,Failed,10,20,30\n"
        ));
        let (line, column, message) = field_err(read(&path, TraceFormat::Openb).unwrap_err());
        assert_eq!((line, column.as_str()), (2, "deletion_time"));
        assert!(message.starts_with("negative duration"), "{message}");

        let (_d, path) = generic(&format!(
            "{OPENB_HEAD}p-a,1000,10,1,500,,LS,Failed,10,5,10\n"
        ));
        let (_, column, message) = field_err(read(&path, TraceFormat::Openb).unwrap_err());
        assert_eq!(column, "deletion_time");
        assert!(message.contains("before creation_time"), "{message}");
    }

    #[test]
    fn openb_row_errors_name_the_column() {
        let (_d, path) = generic(&format!(
            "{OPENB_HEAD}p-a,1000,10,1,500,,LS,Done,10,20,10\n"
        ));
        assert_eq!(
            field_err(read(&path, TraceFormat::Openb).unwrap_err()).1,
            "pod_phase"
        );
        let (_d, path) = generic(&format!(
            "{OPENB_HEAD}p-a,1000,10,1,1500,,LS,Failed,10,20,10\n"
        ));
        assert_eq!(
            field_err(read(&path, TraceFormat::Openb).unwrap_err()).1,
            "gpu_milli"
        );
        let (_d, path) = generic(&format!(
            "{OPENB_HEAD}p-a,1000,10,1,500,,LS,Failed,10,20,\n"
        ));
        assert_eq!(
            field_err(read(&path, TraceFormat::Openb).unwrap_err()).1,
            "scheduled_time"
        );
        let (_d, path) = generic(&format!("{OPENB_HEAD}p-a,1000,10,1,500,,LS,Failed,10\n"));
        let (line, column, _) = field_err(read(&path, TraceFormat::Openb).unwrap_err());
        assert_eq!((line, column.as_str()), (2, "deletion_time"));
    }

    #[test]
    fn openb_missing_header_column_is_an_error() {
        let (_d, path) = generic("name,cpu_milli,memory_mib\np,1,1\n");
        let msg = read(&path, TraceFormat::Openb).unwrap_err().to_string();
        assert!(
            msg.contains(":1: header: missing column `num_gpu`"),
            "{msg}"
        );
        let (_d, path) = generic("");
        assert!(matches!(
            read(&path, TraceFormat::Openb).unwrap_err(),
            TraceError::Empty { .. }
        ));
    }

    // ---- azure-vm

    const FLAV_MAP: &str = "1,0.75 a\n2,3.5 g\n";
    const INTERVAL_MAP: &str = "0 0\n300 1\n600 2\n900 2\n1200 3\n";

    /// A small azure-vm folder; `skip` leaves one of the files out.
    fn azure_dir(arrivals: &str, lifetimes: &str, skip: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            ("v1.dev.txt", arrivals),
            ("v1.dev.c2100000.txt", lifetimes),
            ("flav_map.txt", FLAV_MAP),
            ("v1.interval_map.txt", INTERVAL_MAP),
        ];
        for (name, text) in files {
            if name != skip {
                write_file(dir.path(), name, text);
            }
        }
        let path = dir.path().join("v1.dev.txt");
        (dir, path)
    }

    #[test]
    fn azure_synthetic_maps_tokens_to_jobs() {
        let (_d, path) = azure_dir(
            "1000 a,|,g,g,|\n1300 g,|\n",
            "1000 U0,|,U2,C3,|\n1300 U1,|\n",
            "",
        );
        let jobs = read(&path, TraceFormat::AzureVm).unwrap();
        assert_eq!(jobs.len(), 4);
        let by_name = |n: &str| jobs.iter().find(|j| j.name == n).unwrap();
        let vm0 = by_name("vm-0");
        assert_eq!(
            (vm0.cpu_m, vm0.memory_bytes, vm0.gpu),
            (1000, 805_306_368, 0)
        );
        assert_eq!(vm0.group.as_deref(), Some("tenant-1-1"));
        assert!(vm0.duration_ms.unwrap() < 300_000); // bin 0: under 5 minutes
        let vm1 = by_name("vm-1");
        assert_eq!((vm1.cpu_m, vm1.memory_bytes), (2000, 3_758_096_384));
        assert_eq!(vm1.group.as_deref(), Some("tenant-1-2"));
        let d1 = vm1.duration_ms.unwrap();
        assert!((600_000..1_200_000).contains(&d1), "{d1}"); // bin 2 = 600..=900 s, + one step
        assert_eq!(by_name("vm-2").duration_ms, None); // censored
        assert_eq!(by_name("vm-3").group.as_deref(), Some("tenant-2-1"));
        // Line 1's bin is (0, 300 s] from the trace start, line 2's is (300 s, 600 s].
        for (name, lo, hi) in [
            ("vm-0", 0, 300_000),
            ("vm-1", 0, 300_000),
            ("vm-3", 300_000, 600_000),
        ] {
            let a = by_name(name).arrival_ms;
            assert!(a > lo && a <= hi, "{name} {a}");
        }
    }

    #[test]
    fn azure_missing_sibling_files_are_named() {
        let cases = [
            ("v1.dev.c2100000.txt", "v1.dev.c<censor-time>.txt"),
            ("flav_map.txt", "flav_map.txt"),
            ("v1.interval_map.txt", "v1.interval_map.txt"),
        ];
        for (skip, named) in cases {
            let (_d, path) = azure_dir("1000 a,|\n", "1000 U0,|\n", skip);
            let err = read(&path, TraceFormat::AzureVm).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, TraceError::MissingFile { .. }), "{err:?}");
            assert!(msg.contains(named) && msg.contains("not found"), "{msg}");
        }
    }

    #[test]
    fn azure_misaligned_lifetime_file_is_an_error() {
        let (_d, path) = azure_dir("1000 a,|,g,|\n", "1000 U0,|,U1,U2,|\n", "");
        let msg = read(&path, TraceFormat::AzureVm).unwrap_err().to_string();
        assert!(
            msg.contains("v1.dev.c2100000.txt:1: token 4 is `U2` but"),
            "{msg}"
        );

        let (_d, path) = azure_dir("1000 a,|\n1300 a,|\n", "1000 U0,|\n", "");
        let msg = read(&path, TraceFormat::AzureVm).unwrap_err().to_string();
        assert!(
            msg.contains("v1.dev.c2100000.txt:2: the file ends early"),
            "{msg}"
        );
    }

    #[test]
    fn azure_bad_tokens_are_errors() {
        let (_d, path) = azure_dir("1000 z,|\n", "1000 U0,|\n", "");
        let msg = read(&path, TraceFormat::AzureVm).unwrap_err().to_string();
        assert!(
            msg.contains("v1.dev.txt:1: token 1: unknown flavour `z`; flav_map.txt has a, g"),
            "{msg}"
        );
        let (_d, path) = azure_dir("1000 a,|\n", "1000 X0,|\n", "");
        let msg = read(&path, TraceFormat::AzureVm).unwrap_err().to_string();
        assert!(
            msg.contains("expected `U<bin>` or `C<bin>`, found `X0`"),
            "{msg}"
        );
        let (_d, path) = azure_dir("1000 a,|\n", "1000 U9,|\n", "");
        let msg = read(&path, TraceFormat::AzureVm).unwrap_err().to_string();
        assert!(msg.contains("duration bin 9 is not in"), "{msg}");
        let (d, _) = azure_dir("1000 a,|\n", "1000 U0,|\n", "");
        let lifetime = d.path().join("v1.dev.c2100000.txt");
        let err = read(&lifetime, TraceFormat::AzureVm).unwrap_err();
        assert!(matches!(err, TraceError::BadPath { .. }), "{err:?}");
        let (_d, path) = azure_dir("", "", "");
        assert!(matches!(
            read(&path, TraceFormat::AzureVm).unwrap_err(),
            TraceError::Empty { .. }
        ));
    }

    #[test]
    fn azure_real_dev_split_counts_and_totals() {
        let jobs = read(&data("azure-vm-v1-binned/v1.dev.txt"), TraceFormat::AzureVm).unwrap();
        assert_eq!(jobs.len(), 259_159);
        assert_eq!(
            jobs.iter().filter(|j| j.duration_ms.is_none()).count(),
            14_317
        );
        assert_eq!(jobs.iter().map(|j| j.cpu_m).sum::<i64>(), 557_907_000);
        assert_eq!(
            jobs.iter().map(|j| j.memory_bytes).sum::<i64>(),
            4_138_455 << 28
        ); // 1,034,613.75 GiB
        let groups: std::collections::BTreeSet<&str> =
            jobs.iter().filter_map(|j| j.group.as_deref()).collect();
        assert_eq!(groups.len(), 53_109);
        // 1,000 lines of 300 s: arrivals lie in (0, 300,000 s].
        assert!(jobs[0].arrival_ms > 0 && jobs[0].arrival_ms < 300_000);
        let last = jobs.last().unwrap().arrival_ms;
        assert!(last > 299_700_000 && last <= 300_000_000, "{last}");
        // Longest uncensored lifetime bin in dev starts at 259,500 s (README).
        let max_d = jobs.iter().filter_map(|j| j.duration_ms).max().unwrap();
        assert!((259_500_000..345_600_000).contains(&max_d), "{max_d}");
        // The first VM: `m` (8 vCPU, 14 GiB), U1, alone in its batch on line 1.
        let vm0 = jobs.iter().find(|j| j.name == "vm-0").unwrap();
        assert_eq!((vm0.cpu_m, vm0.memory_bytes), (8000, 14 << 30));
        assert_eq!(vm0.group.as_deref(), Some("tenant-1-1"));
        assert!((300_000..600_000).contains(&vm0.duration_ms.unwrap()));
    }

    #[test]
    fn azure_is_deterministic_per_seed() {
        let path = data("azure-vm-v1-binned/v1.dev.txt");
        let opts = TraceOptions {
            limit: Some(2_000),
            ..TraceOptions::default()
        };
        let a = read_trace(
            &path,
            TraceFormat::AzureVm,
            &opts,
            &mut ChaCha8Rng::seed_from_u64(1),
        )
        .unwrap();
        let b = read_trace(
            &path,
            TraceFormat::AzureVm,
            &opts,
            &mut ChaCha8Rng::seed_from_u64(1),
        )
        .unwrap();
        let c = read_trace(
            &path,
            TraceFormat::AzureVm,
            &opts,
            &mut ChaCha8Rng::seed_from_u64(2),
        )
        .unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn azure_limit_does_not_change_the_kept_jobs() {
        let path = data("azure-vm-v1-binned/v1.dev.txt");
        let all = read(&path, TraceFormat::AzureVm).unwrap();
        let opts = TraceOptions {
            limit: Some(100),
            ..TraceOptions::default()
        };
        let some = read_trace(&path, TraceFormat::AzureVm, &opts, &mut rng()).unwrap();
        assert_eq!(some.as_slice(), &all[..100]);
    }

    #[test]
    fn azure_real_test_split_counts() {
        let jobs = read(
            &data("azure-vm-v1-binned/v1.test.txt"),
            TraceFormat::AzureVm,
        )
        .unwrap();
        assert_eq!(jobs.len(), 410_276);
        assert_eq!(
            jobs.iter().filter(|j| j.duration_ms.is_none()).count(),
            23_311
        );
        assert_eq!(jobs.iter().map(|j| j.cpu_m).sum::<i64>(), 1_004_674_000);
    }
}
