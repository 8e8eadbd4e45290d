//! Reading a file that must be UTF-8 text, with the place of the first byte that is not: a
//! scenario, a manifest or a trace saved in another encoding is an error naming its line, like
//! any other bad input, rather than the bare "stream did not contain valid UTF-8" of
//! `fs::read_to_string`.

use std::path::Path;

/// Why a file could not be read as text.
#[derive(Debug)]
pub(crate) enum TextError {
    Io(std::io::Error),
    /// The first byte that is not UTF-8: its 1-based line, its 1-based column in bytes, and
    /// the byte.
    NotUtf8 {
        line: u64,
        column: usize,
        byte: u8,
    },
}

impl TextError {
    /// What is wrong, without the file name (the caller's error carries it, and the line).
    pub(crate) fn message(&self) -> String {
        match self {
            TextError::Io(e) => format!("cannot read: {e}"),
            TextError::NotUtf8 { column, byte, .. } => format!(
                "not UTF-8 text: byte 0x{byte:02X} at column {column} (save the file as UTF-8)"
            ),
        }
    }
}

/// `path` read as UTF-8 text, refused when over `cap` bytes (`what` names the kind of file in
/// that error; `asim_core::files`).
pub(crate) fn read_text(path: &Path, cap: u64, what: &str) -> Result<String, TextError> {
    let bytes = asim_core::files::read_capped(path, cap, what).map_err(TextError::Io)?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let before = &bytes[..at];
        let line_start = before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        TextError::NotUtf8 {
            line: before.iter().filter(|b| **b == b'\n').count() as u64 + 1,
            column: at - line_start + 1,
            byte: bytes[at],
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bad_byte_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.csv");
        std::fs::write(&p, b"a,b\nc,\xe9t\xff\n").unwrap();
        let e = read_text(&p, 1 << 20, "trace").unwrap_err();
        assert!(
            matches!(
                e,
                TextError::NotUtf8 {
                    line: 2,
                    column: 3,
                    byte: 0xE9
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.message(),
            "not UTF-8 text: byte 0xE9 at column 3 (save the file as UTF-8)"
        );
        std::fs::write(&p, "é\n").unwrap();
        assert_eq!(read_text(&p, 1 << 20, "trace").unwrap(), "é\n");
    }
}
