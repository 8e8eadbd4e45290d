//! The Alibaba "openb" GPU-cluster pod list
//! (`data/traces/alibaba-gpu-v2023-openb/openb_pod_list_default.csv`).

use std::path::Path;

use super::csv_file::CsvFile;
use super::{TraceError, TraceJob, secs_to_ms};

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

/// Reads the openb pod list. Columns are found by header name; extra columns (`gpu_spec`) are
/// ignored. The mapping (see the data folder's README):
///
/// - arrival = `creation_time`; duration = `deletion_time − scheduled_time` (the historical run
///   time; the simulator adds its own pending time).
/// - `Pending` pods never ran upstream and are dropped (README: "or drop them"). `Running` pods
///   whose `deletion_time` is the file's last timestamp were still running when the trace was
///   cut: duration `None`.
/// - A shared GPU (`num_gpu == 1`, `gpu_milli < 1000`) is requested as one whole GPU, because
///   `nvidia.com/gpu` is an integer resource and the simulator models no GPU sharing; this
///   overstates GPU demand for the 3,078 sharing pods but keeps them on GPU nodes.
/// - Priority is `None` (the trace has none); group = `qos`.
pub(super) fn read_openb(path: &Path, scale: f64) -> Result<Vec<TraceJob>, TraceError> {
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{field_err, generic, read, shipped};
    use super::super::{MIB, TraceError, TraceFormat, TraceJob};

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
}
