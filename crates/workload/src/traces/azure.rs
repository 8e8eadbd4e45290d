//! The binned Azure 2017 VM trace (`data/traces/azure-vm-v1-binned`): an arrivals (flavour)
//! file, its lifetime file, the flavour map and the interval map.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rand::{Rng, RngExt};

use super::{MAX_SECS, TraceError, TraceJob, io_err, text_err};

const GIB: f64 = (1u64 << 30) as f64;

/// Unscaled milliseconds to scaled milliseconds.
fn scale_ms(ms: u64, scale: f64) -> u64 {
    if scale == 1.0 {
        ms
    } else {
        (ms as f64 * scale).round() as u64
    }
}

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
pub(super) fn read_azure_vm(
    path: &Path,
    scale: f64,
    rng: &mut impl Rng,
) -> Result<Vec<TraceJob>, TraceError> {
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

    let arrivals = crate::text::read_text(path, asim_core::files::MAX_TRACE_BYTES, "trace")
        .map_err(|e| text_err(path, e))?;
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
    crate::text::read_text(path, asim_core::files::MAX_TRACE_BYTES, "trace").map_err(|e| match e {
        crate::text::TextError::Io(e) if e.kind() == io::ErrorKind::NotFound => {
            TraceError::MissingFile {
                path: path.to_path_buf(),
                needed_by: needed_by.to_path_buf(),
            }
        }
        e => text_err(path, e),
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
    use std::path::PathBuf;

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::super::test_support::{read, rng, shipped, write_file};
    use super::super::{TraceError, TraceFormat, TraceOptions, read_trace};

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
        let jobs = read(
            &shipped("azure-vm-v1-binned/v1.dev.txt"),
            TraceFormat::AzureVm,
        )
        .unwrap();
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
        let path = shipped("azure-vm-v1-binned/v1.dev.txt");
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
        let path = shipped("azure-vm-v1-binned/v1.dev.txt");
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
            &shipped("azure-vm-v1-binned/v1.test.txt"),
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
