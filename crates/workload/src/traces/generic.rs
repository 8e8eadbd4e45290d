//! Our own generic trace CSV: `arrival_s,duration_s,cpu_m,memory_mib[,gpu][,priority][,group]`
//! (docs/design.md §4 "Trace formats").

use std::path::Path;

use super::csv_file::CsvFile;
use super::{TraceError, TraceJob, secs_to_ms};

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
pub(super) fn read_generic(path: &Path, scale: f64) -> Result<Vec<TraceJob>, TraceError> {
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{field_err, generic, read};
    use super::super::{TraceFormat, TraceJob};

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
}
