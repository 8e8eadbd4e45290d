//! Reading a user's file whole, with a cap on its size.
//!
//! Why: scenarios, manifests, catalogs and traces are read into memory whole, and a wrong path
//! (a 10 GB log given as a trace, `/dev/zero`) must get a clear error before the read, not
//! exhaust the machine. The caps are far above any real input of each kind (the shipped
//! 259,159-VM Azure trace is 4 MB, a region's catalog 60 kB).

use std::io::{self, Read};
use std::path::Path;

/// A Scenario, manifest, sweep or metrics file.
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;
/// A catalog file (instance types, prices, spot advisor).
pub const MAX_CATALOG_BYTES: u64 = 64 << 20;
/// A trace (pods, VMs, replica histories), a metrics series or an import dump.
pub const MAX_TRACE_BYTES: u64 = 1 << 30;

/// `fs::read`, refusing a file over `cap` bytes (`what` names the kind in the error) before
/// reading it — and, for a file whose size the file system does not know (a pipe, a device),
/// after reading `cap` bytes of it.
pub fn read_capped(path: &Path, cap: u64, what: &str) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let too_big = |size: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{size} is over the limit of {} MiB for a {what}: is this the right file?",
                cap >> 20
            ),
        )
    };
    let meta = file.metadata()?;
    if meta.is_file() && meta.len() > cap {
        return Err(too_big(format!(
            "the file is {} MiB, which",
            meta.len() >> 20
        )));
    }
    let mut bytes = Vec::new();
    let read = file.take(cap + 1).read_to_end(&mut bytes)?;
    if read as u64 > cap {
        return Err(too_big("what it gives".into()));
    }
    Ok(bytes)
}

/// [`read_capped`] as UTF-8 text.
pub fn read_to_string_capped(path: &Path, cap: u64, what: &str) -> io::Result<String> {
    String::from_utf8(read_capped(path, cap, what)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_the_cap_is_refused_with_its_size_and_kind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("big.csv");
        std::fs::write(&p, vec![b'x'; 3 << 20]).expect("write");
        let e = read_to_string_capped(&p, 2 << 20, "trace").expect_err("refused");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let msg = e.to_string();
        assert!(
            msg.contains("3 MiB") && msg.contains("limit of 2 MiB for a trace"),
            "{msg}"
        );
        assert_eq!(
            read_to_string_capped(&p, 4 << 20, "trace")
                .expect("read")
                .len(),
            3 << 20
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_endless_device_stops_at_the_cap() {
        let e = read_to_string_capped(Path::new("/dev/zero"), 1 << 20, "manifest")
            .expect_err("refused");
        assert!(e.to_string().contains("limit of 1 MiB"), "{e}");
    }
}
