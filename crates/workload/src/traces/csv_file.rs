//! The CSV splitter the generic and openb readers share: a file read into memory, its header,
//! and typed access to one row's fields with errors that name file, line and column.
//!
//! Why not the `csv` crate (a dependency of this crate; asim-core's catalog reads prices with
//! it)? Its reader does not accept the same inputs, nor name the same lines. Checked with csv
//! 1.4.0 / csv-core 0.1.13 on the inputs the tests below pin:
//! - its record positions are wrong after blank lines and with CRLF endings: for
//!   `BOM CRLF header CRLF row CRLF CRLF CRLF row` it reports lines 1, 2, 3 (an editor shows 2,
//!   3, 6), and `Position::byte` points at the skipped blank lines, not at the record;
//! - a quote after leading whitespace (`4, "a,""b"""`) is literal text there, so the comma
//!   inside splits the field; here it opens a quoted field;
//! - a quoted field may span lines there, so an unclosed quote silently swallows the rest of
//!   the file; here it is an error naming the line and the field;
//! - text after a closing quote (`"a"b`) is joined into the field there; here it is an error;
//! - a lone `\r` ends a record there; here only `\n` ends a line.
//!
//! Speed is not the reason: on the openb pod list (8,152 rows) both split in about 5 ms.

use std::path::{Path, PathBuf};

use super::{MAX_SECS, MIB, TraceError, text_err};

/// A column found in a CSV header.
#[derive(Clone, Copy)]
pub(super) struct Col {
    name: &'static str,
    idx: usize,
}

/// A CSV file read into memory, with its header split.
///
/// We split lines ourselves instead of using the `csv` crate's reader (see the module doc): every
/// error here must name the line as a text editor shows it. The traces are small, unquoted CSV
/// (openb README); a field may still be wrapped in double quotes (`""` inside for a quote) but
/// not span lines.
pub(super) struct CsvFile {
    path: PathBuf,
    text: String,
    pub(super) header: Vec<String>,
    header_line: u64,
    /// Byte offset of the first line after the header.
    body_start: usize,
}

impl CsvFile {
    /// Reads `path` and its header; `expected` describes the header for error messages.
    pub(super) fn open(path: &Path, expected: &str) -> Result<CsvFile, TraceError> {
        let text = crate::text::read_text(path, asim_core::files::MAX_TRACE_BYTES, "trace")
            .map_err(|e| text_err(path, e))?;
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

    pub(super) fn header_err(&self, message: String) -> TraceError {
        TraceError::Header {
            path: self.path.clone(),
            line: self.header_line,
            message,
        }
    }

    /// Finds a required column by name.
    pub(super) fn col(&self, name: &'static str, expected: &str) -> Result<Col, TraceError> {
        self.opt_col(name)
            .ok_or_else(|| self.header_err(format!("missing column `{name}`; expected {expected}")))
    }

    pub(super) fn opt_col(&self, name: &'static str) -> Option<Col> {
        self.header
            .iter()
            .position(|h| h == name)
            .map(|idx| Col { name, idx })
    }

    /// Calls `f` for every non-blank line after the header; errors if there is none.
    pub(super) fn for_each_row(
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
pub(super) struct Row<'a> {
    path: &'a Path,
    pub(super) line: u64,
    record: &'a [String],
    header_len: usize,
}

impl<'a> Row<'a> {
    pub(super) fn err(&self, col: Col, message: String) -> TraceError {
        TraceError::Field {
            path: self.path.to_path_buf(),
            line: self.line,
            column: col.name.to_string(),
            message,
        }
    }

    pub(super) fn get(&self, col: Col) -> Result<&'a str, TraceError> {
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
    pub(super) fn opt_secs(&self, col: Col) -> Result<Option<f64>, TraceError> {
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

    pub(super) fn secs(&self, col: Col) -> Result<f64, TraceError> {
        self.opt_secs(col)?.ok_or_else(|| {
            self.err(
                col,
                "expected a number of seconds, found an empty field".to_string(),
            )
        })
    }

    /// A whole number ≥ 0 of `unit`. Empty → `None`.
    pub(super) fn opt_count(&self, col: Col, unit: &str) -> Result<Option<i64>, TraceError> {
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

    pub(super) fn count(&self, col: Col, unit: &str) -> Result<i64, TraceError> {
        self.opt_count(col, unit)?.ok_or_else(|| {
            self.err(
                col,
                format!("expected a whole number of {unit} ≥ 0, found an empty field"),
            )
        })
    }

    pub(super) fn mib_to_bytes(&self, col: Col, mib: i64) -> Result<i64, TraceError> {
        mib.checked_mul(MIB)
            .ok_or_else(|| self.err(col, format!("{mib} MiB is too large")))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{field_err, generic, read};
    use super::super::{TraceError, TraceFormat};

    // The splitter is exercised through the generic reader, which has no columns of its own to
    // get in the way.

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
}
