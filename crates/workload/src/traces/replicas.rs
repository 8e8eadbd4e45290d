//! Replica history: `time,namespace,kind,name,replicas`, one row per change of a workload's
//! replica count (docs/scenario.md "traces", format `replicas`). Unlike the other formats its
//! rows are not pods: the scenario turns each into a timeline `scale` step, so this reader only
//! checks the rows and leaves resolving the workload names to the validator.

use std::path::Path;

use asim_core::k8s::duration::parse_duration;

use super::csv_file::{Col, CsvFile, Row};
use super::{MAX_SECS, TraceError, secs_to_ms};

const HEADER: &str = "header `time,namespace,kind,name,replicas`";
const COLUMNS: [&str; 5] = ["time", "namespace", "kind", "name", "replicas"];

/// The workload kinds a row may scale, as a timeline `scale` step can.
pub const KINDS: [&str; 3] = ["Deployment", "StatefulSet", "Job"];

/// One checked row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaRow {
    /// 1-based line in the file, for errors found later (an unknown workload, a time past the
    /// scenario's end).
    pub line: u64,
    /// After time scaling.
    pub at_ms: u64,
    pub namespace: String,
    /// `Deployment`, `StatefulSet` or `Job`, spelled as Kubernetes spells the kind.
    pub kind: &'static str,
    pub name: String,
    pub replicas: u32,
}

/// Reads a replica history. Columns by header name, all five required, any order; an unknown
/// or repeated column is an error. Per row: `time` seconds ≥ 0 (fractions allowed) or a Go
/// duration (`1h30m`); `namespace` text, empty meaning `default`; `kind` one of [`KINDS`] (any
/// case); `name` non-empty; `replicas` a whole number ≥ 0 that fits a u32. Rows keep file order
/// (the validator sorts by time, stably, so two rows at one time apply in file order).
pub fn read_replicas(path: &Path, scale: f64) -> Result<Vec<ReplicaRow>, TraceError> {
    let csv = CsvFile::open(path, HEADER)?;
    let mut seen: Vec<&str> = Vec::new();
    for h in csv.header.iter().map(String::as_str) {
        if !COLUMNS.contains(&h) {
            return Err(csv.header_err(format!("unknown column `{h}`; expected {HEADER}",)));
        }
        if seen.contains(&h) {
            return Err(csv.header_err(format!("column `{h}` appears twice")));
        }
        seen.push(h);
    }
    let time = csv.col("time", HEADER)?;
    let namespace = csv.col("namespace", HEADER)?;
    let kind = csv.col("kind", HEADER)?;
    let name = csv.col("name", HEADER)?;
    let replicas = csv.col("replicas", HEADER)?;

    let mut rows = Vec::new();
    csv.for_each_row(|row| {
        let at_ms = time_ms(row, time, scale)?;
        let ns = row.get(namespace)?;
        let k = row.get(kind)?;
        let kind_name = KINDS
            .into_iter()
            .find(|x| x.eq_ignore_ascii_case(k))
            .ok_or_else(|| {
                row.err(
                    kind,
                    format!("expected one of {}, found `{k}`", KINDS.join(", ")),
                )
            })?;
        let n = row.get(name)?;
        if n.is_empty() {
            return Err(row.err(
                name,
                "expected a workload name, found an empty field".into(),
            ));
        }
        let count = row.count(replicas, "replicas")?;
        let count = u32::try_from(count).map_err(|_| {
            row.err(
                replicas,
                format!("expected at most {} replicas, found {count}", u32::MAX),
            )
        })?;
        rows.push(ReplicaRow {
            line: row.line,
            at_ms,
            namespace: if ns.is_empty() { "default" } else { ns }.to_string(),
            kind: kind_name,
            name: n.to_string(),
            replicas: count,
        });
        Ok(())
    })?;
    Ok(rows)
}

/// `time`: seconds (what a spreadsheet or `date +%s` arithmetic gives) or a Go duration (what
/// the rest of the scenario format uses), scaled.
fn time_ms(row: &Row<'_>, col: Col, scale: f64) -> Result<u64, TraceError> {
    let s = row.get(col)?;
    if s.is_empty() {
        return Err(row.err(
            col,
            "expected seconds or a duration such as 1h30m, found an empty field".into(),
        ));
    }
    if s.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && s.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        return row.secs(col).map(|v| secs_to_ms(v, scale));
    }
    if s.starts_with('-') {
        return Err(row.err(col, format!("expected a time ≥ 0, found negative `{s}`")));
    }
    let ms = parse_duration(s).map_err(|e| {
        row.err(
            col,
            format!("expected seconds or a duration such as 1h30m: {e}"),
        )
    })?;
    let secs = ms as f64 / 1000.0;
    if secs > MAX_SECS {
        return Err(row.err(
            col,
            format!("expected a time ≤ {MAX_SECS:e} s, found `{s}`"),
        ));
    }
    Ok(secs_to_ms(secs, scale))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.csv");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        (dir, path)
    }

    #[test]
    fn reads_seconds_and_durations_in_file_order() {
        let (_d, path) = file(
            "time,namespace,kind,name,replicas\n\
             90,shop,Deployment,web,4\n\
             1m,,statefulset,db,2\n\
             1h0m30s,shop,job,etl,0\n",
        );
        let rows = read_replicas(&path, 1.0).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0],
            ReplicaRow {
                line: 2,
                at_ms: 90_000,
                namespace: "shop".into(),
                kind: "Deployment",
                name: "web".into(),
                replicas: 4,
            }
        );
        assert_eq!((rows[1].at_ms, rows[1].kind), (60_000, "StatefulSet"));
        assert_eq!(rows[1].namespace, "default");
        assert_eq!((rows[2].at_ms, rows[2].kind), (3_630_000, "Job"));
        let half = read_replicas(&path, 0.5).unwrap();
        assert_eq!(half[0].at_ms, 45_000);
    }

    #[test]
    fn bad_rows_name_line_and_column() {
        let cases = [
            ("1m,default,Deployment,web,-1\n", "replicas", "negative"),
            ("soon,default,Deployment,web,1\n", "time", "duration"),
            ("-5,default,Deployment,web,1\n", "time", "negative"),
            ("1m,default,CronJob,web,1\n", "kind", "expected one of"),
            ("1m,default,Deployment,,1\n", "name", "empty"),
            (
                "1m,default,Deployment,web,1.5\n",
                "replicas",
                "whole number",
            ),
        ];
        for (row, column, needle) in cases {
            let (_d, path) = file(&format!("time,namespace,kind,name,replicas\n\n{row}"));
            let e = read_replicas(&path, 1.0).unwrap_err();
            let TraceError::Field {
                line,
                column: c,
                message,
                ..
            } = &e
            else {
                panic!("{e:?}");
            };
            assert_eq!((*line, c.as_str()), (3, column), "{row}: {e}");
            assert!(message.contains(needle), "{row}: {e}");
        }
    }

    #[test]
    fn header_must_name_the_five_columns() {
        let (_d, path) = file("time,namespace,kind,name,count\n1,a,Deployment,b,1\n");
        let e = read_replicas(&path, 1.0).unwrap_err();
        assert!(e.to_string().contains("unknown column `count`"), "{e}");
    }
}
