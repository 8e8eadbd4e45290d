//! The fuzz harness's pieces (tests/fuzz.rs): a YAML value tree that keeps key order and
//! allows duplicate keys, read with serde-saphyr and written back as block YAML, and the
//! structure-aware mutations applied to it; scratch copies of the repository's scenarios; a
//! child process with a hard timeout.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A YAML node. Scalars and keys hold YAML text as it is written (`"5m"` quoted, `12`, `null`),
/// so a mutation can put any token there, valid or not.
#[derive(Clone, Debug, PartialEq)]
pub enum Y {
    S(String),
    L(Vec<Y>),
    M(Vec<(String, Y)>),
}

/// `s` as a double-quoted YAML string (JSON's escapes are YAML's).
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

impl<'de> Deserialize<'de> for Y {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Y, D::Error> {
        d.deserialize_any(YVisitor)
    }
}

struct YVisitor;

impl<'de> Visitor<'de> for YVisitor {
    type Value = Y;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Y, E> {
        Ok(Y::S(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Y, E> {
        Ok(Y::S(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Y, E> {
        Ok(Y::S(v.to_string()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Y, E> {
        Ok(Y::S(v.to_string()))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Y, E> {
        Ok(Y::S(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Y, E> {
        Ok(Y::S(if v.is_nan() {
            ".nan".into()
        } else if v.is_infinite() {
            if v > 0.0 { ".inf" } else { "-.inf" }.into()
        } else {
            format!("{v:?}")
        }))
    }
    fn visit_str<E>(self, v: &str) -> Result<Y, E> {
        Ok(Y::S(quote(v)))
    }
    fn visit_unit<E>(self) -> Result<Y, E> {
        Ok(Y::S("null".into()))
    }
    fn visit_none<E>(self) -> Result<Y, E> {
        Ok(Y::S("null".into()))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Y, D::Error> {
        Y::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Y, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element::<Y>()? {
            v.push(x);
        }
        Ok(Y::L(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Y, A::Error> {
        let mut v = Vec::new();
        while let Some((k, x)) = a.next_entry::<Y, Y>()? {
            let key = match k {
                Y::S(s) => s,
                other => flow(&other),
            };
            v.push((key, x));
        }
        Ok(Y::M(v))
    }
}

/// The documents of a YAML stream (as the scenario loader splits it) as trees.
pub fn parse_stream(text: &str) -> Vec<Y> {
    autoscale_sim::workload::load::split_documents(text)
        .into_iter()
        .map(|(_, doc)| {
            serde_saphyr::from_str::<Y>(&doc)
                .unwrap_or_else(|e| panic!("a shipped document parses: {e}\n{doc}"))
        })
        .collect()
}

/// `y` on one line, in flow style.
pub fn flow(y: &Y) -> String {
    match y {
        Y::S(s) => s.clone(),
        Y::L(l) => format!("[{}]", l.iter().map(flow).collect::<Vec<_>>().join(", ")),
        Y::M(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{k}: {}", flow(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Documents as a YAML stream, block style, two-space indents.
pub fn emit_stream(docs: &[Y]) -> String {
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        match d {
            Y::M(m) if !m.is_empty() => block_map(m, 0, &mut out),
            Y::L(l) if !l.is_empty() => block_seq(l, 0, &mut out),
            other => {
                out.push_str(&flow(other));
                out.push('\n');
            }
        }
    }
    out
}

fn pad(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn after_key(v: &Y, ind: usize, out: &mut String) {
    match v {
        Y::M(m) if !m.is_empty() => {
            out.push('\n');
            block_map(m, ind + 2, out);
        }
        Y::L(l) if !l.is_empty() => {
            out.push('\n');
            block_seq(l, ind + 2, out);
        }
        other => {
            out.push(' ');
            out.push_str(&flow(other));
            out.push('\n');
        }
    }
}

fn block_map(m: &[(String, Y)], ind: usize, out: &mut String) {
    for (k, v) in m {
        pad(ind, out);
        out.push_str(k);
        out.push(':');
        after_key(v, ind, out);
    }
}

fn block_seq(l: &[Y], ind: usize, out: &mut String) {
    for item in l {
        pad(ind, out);
        match item {
            Y::M(m) if !m.is_empty() => {
                out.push_str("- ");
                let (k, v) = &m[0];
                out.push_str(k);
                out.push(':');
                after_key(v, ind + 2, out);
                block_map(&m[1..], ind + 2, out);
            }
            Y::L(inner) if !inner.is_empty() => {
                out.push_str("-\n");
                block_seq(inner, ind + 2, out);
            }
            other => {
                out.push_str("- ");
                out.push_str(&flow(other));
                out.push('\n');
            }
        }
    }
}

// ---- mutations ------------------------------------------------------------------------------

/// Numbers at the edges: zero, negatives, the integer types' limits and one past them, floats
/// at and past f64's range, YAML's special floats, hex and octal spellings.
pub const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "-0.0",
    "1e308",
    "-1e308",
    "1e309",
    "5e-324",
    ".nan",
    ".inf",
    "-.inf",
    "2147483647",
    "2147483648",
    "-2147483649",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "1e15",
    "\"1e15\"",
    "\"NaN\"",
    "0x7fffffff",
    "0o777",
    "0.000001",
];

/// Small numbers, for cases that are also run: a run's size must stay bounded.
pub const MODEST_NUMBERS: &[&str] = &["0", "1", "2", "3", "-1", "0.5", "10"];

/// Text that trips up parsers and renderers: empty, blank, YAML-significant, unicode
/// (right-to-left override, zero-width, combining, emoji, NUL), paths, very long.
pub fn texts() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        " ",
        "~",
        "-",
        ":",
        "#",
        "---",
        "null",
        "true",
        "0",
        "5m",
        "-5m",
        "1ns",
        "9999999999h",
        "100Gi",
        "1e15",
        "NaN",
        "\u{202e}lortnoc\u{202c}",
        "web\u{200b}",
        "\u{feff}default",
        "e\u{301}\u{301}\u{301}",
        "🚀🔥👩‍👩‍👧‍👦",
        "ﬁ\u{0}nul",
        "\t\r\n",
        "../../../../etc/passwd",
        "/dev/null",
        "*alias",
        "&anchor",
        "!!binary",
        "{unclosed",
        "[unclosed",
        "\"half-quoted",
        "a,b,c",
        "us-east-1z",
        "m5.xlarge\u{0}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("x".repeat(100_000));
    v.push("é".repeat(20_000));
    v
}

/// One change to a document tree. `at` picks a node: an index, modulo the number of nodes the
/// mutation applies to (pre-order), so any `usize` is valid and shrinking moves toward the root.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// Remove a mapping entry or a list item.
    Delete { at: usize },
    /// Repeat a mapping entry (a duplicate key) or a list item.
    Duplicate { at: usize },
    /// Replace a node with a value of another type (`kind` picks which).
    Retype { at: usize, kind: u8 },
    /// Replace a scalar with a number from `NUMBERS` (or `MODEST_NUMBERS`).
    Number {
        at: usize,
        pick: usize,
        modest: bool,
    },
    /// Replace a scalar with a string from `texts()`.
    Text { at: usize, pick: usize },
    /// Rename a mapping key to a string from `texts()`.
    RenameKey { at: usize, pick: usize },
    /// Replace a node with `depth` nested lists or mappings, flow (one line) or block style.
    Nest {
        at: usize,
        depth: usize,
        map: bool,
        block: bool,
    },
}

/// Paths of every node in pre-order: `(parent path, index within parent)`; the root has none.
fn nodes(y: &Y, path: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    out.push(path.clone());
    let children: Vec<&Y> = match y {
        Y::S(_) => Vec::new(),
        Y::L(l) => l.iter().collect(),
        Y::M(m) => m.iter().map(|(_, v)| v).collect(),
    };
    for (i, c) in children.into_iter().enumerate() {
        path.push(i);
        nodes(c, path, out);
        path.pop();
    }
}

fn node_mut<'a>(y: &'a mut Y, path: &[usize]) -> &'a mut Y {
    match path.split_first() {
        None => y,
        Some((&i, rest)) => match y {
            Y::L(l) => node_mut(&mut l[i], rest),
            Y::M(m) => node_mut(&mut m[i].1, rest),
            Y::S(_) => unreachable!("a path into a scalar"),
        },
    }
}

fn all_paths(y: &Y) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    nodes(y, &mut Vec::new(), &mut out);
    out
}

fn pick<T: Clone>(v: &[T], at: usize) -> Option<T> {
    (!v.is_empty()).then(|| v[at % v.len()].clone())
}

/// A nested value `depth` deep.
pub fn nested(depth: usize, map: bool, block: bool) -> Y {
    if block {
        let mut y = Y::S("1".into());
        for _ in 0..depth {
            y = if map {
                Y::M(vec![("a".into(), y)])
            } else {
                Y::L(vec![y])
            };
        }
        y
    } else if map {
        Y::S(format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth)))
    } else {
        Y::S(format!("{}1{}", "[".repeat(depth), "]".repeat(depth)))
    }
}

/// Applies `m` to `doc`; a mutation with nothing to apply to is a no-op.
pub fn apply(doc: &mut Y, m: &Mutation) {
    let paths = all_paths(doc);
    // Nodes that are an entry of a container (everything but the root).
    let entries: Vec<Vec<usize>> = paths.iter().filter(|p| !p.is_empty()).cloned().collect();
    let scalars: Vec<Vec<usize>> = paths
        .iter()
        .filter(|p| matches!(node_mut(&mut doc.clone(), p), Y::S(_)))
        .cloned()
        .collect();
    let in_map = |p: &Vec<usize>, doc: &mut Y| matches!(node_mut(doc, &p[..p.len() - 1]), Y::M(_));
    match *m {
        Mutation::Delete { at } => {
            if let Some(p) = pick(&entries, at) {
                let (last, parent) = p.split_last().expect("not the root");
                match node_mut(doc, parent) {
                    Y::L(l) => {
                        l.remove(*last);
                    }
                    Y::M(e) => {
                        e.remove(*last);
                    }
                    Y::S(_) => {}
                }
            }
        }
        Mutation::Duplicate { at } => {
            if let Some(p) = pick(&entries, at) {
                let (last, parent) = p.split_last().expect("not the root");
                match node_mut(doc, parent) {
                    Y::L(l) => {
                        let x = l[*last].clone();
                        l.insert(*last + 1, x);
                    }
                    Y::M(e) => {
                        let x = e[*last].clone();
                        e.insert(*last + 1, x);
                    }
                    Y::S(_) => {}
                }
            }
        }
        Mutation::Retype { at, kind } => {
            if let Some(p) = pick(&entries, at) {
                let n = node_mut(doc, &p);
                let replacement = match (kind % 6, &*n) {
                    (0, Y::S(_)) => Y::M(vec![("x".into(), Y::S("1".into()))]),
                    (0, _) => Y::S("\"text\"".into()),
                    (1, Y::L(_)) => Y::M(Vec::new()),
                    (1, _) => Y::L(vec![n.clone()]),
                    (2, _) => Y::S("null".into()),
                    (3, _) => Y::S("true".into()),
                    (4, Y::S(s)) if s.starts_with('"') => Y::S("12".into()),
                    (4, Y::S(s)) => Y::S(quote(s)),
                    (4, _) => Y::S("12".into()),
                    (_, Y::M(_)) => Y::L(Vec::new()),
                    _ => Y::M(Vec::new()),
                };
                *n = replacement;
            }
        }
        Mutation::Number {
            at,
            pick: k,
            modest,
        } => {
            if let Some(p) = pick(&scalars, at) {
                let pool = if modest { MODEST_NUMBERS } else { NUMBERS };
                *node_mut(doc, &p) = Y::S(pool[k % pool.len()].to_string());
            }
        }
        Mutation::Text { at, pick: k } => {
            if let Some(p) = pick(&scalars, at) {
                let t = texts();
                *node_mut(doc, &p) = Y::S(quote(&t[k % t.len()]));
            }
        }
        Mutation::RenameKey { at, pick: k } => {
            let keys: Vec<Vec<usize>> = entries
                .iter()
                .filter(|p| in_map(p, &mut doc.clone()))
                .cloned()
                .collect();
            if let Some(p) = pick(&keys, at) {
                let (last, parent) = p.split_last().expect("not the root");
                if let Y::M(e) = node_mut(doc, parent) {
                    let t = texts();
                    e[*last].0 = quote(&t[k % t.len()]);
                }
            }
        }
        Mutation::Nest {
            at,
            depth,
            map,
            block,
        } => {
            if let Some(p) = pick(&entries, at) {
                *node_mut(doc, &p) = nested(depth, map, block);
            }
        }
    }
}

// ---- scratch copies of the repository -------------------------------------------------------

/// A temporary directory (`/tmp/fuzz-*`) holding `scenarios/` as a tree of symbolic links to
/// the repository's files (the directories real, so a file can be replaced by a mutated copy)
/// and links to `data/` and `catalogs/`, so relative paths resolve as in the repository.
pub fn scratch(repo: &Path) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("fuzz-")
        .tempdir()
        .expect("a temporary directory");
    for top in ["data", "catalogs"] {
        std::os::unix::fs::symlink(repo.join(top), dir.path().join(top)).expect("symlink");
    }
    mirror(&repo.join("scenarios"), &dir.path().join("scenarios"));
    dir
}

fn mirror(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let name = e.file_name();
        let src = e.path();
        if src.is_dir() {
            if name != "perf" && name != "imported-example" {
                mirror(&src, &to.join(&name));
            }
        } else {
            std::os::unix::fs::symlink(&src, to.join(&name)).expect("symlink");
        }
    }
}

/// Replaces the file (or link) at `path` with `bytes`.
pub fn put(path: &Path, bytes: &[u8]) {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

// ---- child processes ------------------------------------------------------------------------

pub struct Outcome {
    /// `None` when the child was killed by a signal or by the timeout.
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub stderr: String,
}

/// Runs `cmd` with stdout discarded, killing it after `limit`.
pub fn run_with_timeout(mut cmd: Command, limit: Duration) -> Outcome {
    let errfile = tempfile::Builder::new()
        .prefix("fuzz-stderr-")
        .tempfile()
        .expect("a temporary file");
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(errfile.reopen().expect("reopen"))
        .spawn()
        .expect("spawn autoscale-sim");
    let (status, timed_out) = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break (Some(s), false);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stderr = std::fs::read_to_string(errfile.path()).unwrap_or_default();
    Outcome {
        status,
        timed_out,
        stderr,
    }
}

/// The first `n` characters of `s`, for failure messages.
pub fn excerpt(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        let _ = write!(out, "… ({} bytes in all)", s.len());
    }
    out
}

/// Where a failing case's files are kept for reproduction: `/tmp/fuzz-failures/<label>`.
pub fn keep(dir: &Path, label: &str) -> PathBuf {
    let to = std::env::temp_dir().join("fuzz-failures").join(label);
    let _ = std::fs::remove_dir_all(&to);
    let _ = Command::new("cp").arg("-a").arg(dir).arg(&to).status();
    to
}
