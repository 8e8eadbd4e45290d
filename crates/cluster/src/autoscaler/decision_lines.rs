//! The decision log's storage: one JSON object per line (`decisions.jsonl`, docs/reports.md).

/// Lines of text kept in chunks of about 1 MiB each, `\n` after every line — instead of one
/// `String` per line. A long replay logs over a million lines; a `String` each (its header, the
/// allocator's overhead and the spare capacity it was built with) cost half as much again as the
/// text, and was the difference between the Azure trace's replay fitting in 1 GiB or not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecisionLines {
    chunks: Vec<String>,
    len: usize,
}

/// Bytes of text per chunk (a longer line gets a chunk of its own size).
const CHUNK: usize = 1 << 20;

/// The lines of one chunk.
type ChunkLines<'a> = std::str::SplitTerminator<'a, char>;

// `&String`, not `&str`: it is mapped over the chunks' slice iterator, whose items are `&String`.
#[allow(clippy::ptr_arg)]
fn lines_of(chunk: &String) -> ChunkLines<'_> {
    chunk.split_terminator('\n')
}

impl DecisionLines {
    pub const fn new() -> Self {
        DecisionLines {
            chunks: Vec::new(),
            len: 0,
        }
    }

    /// Append one line (without its `\n`; a line never contains one: it is compact JSON).
    pub fn push(&mut self, line: &str) {
        debug_assert!(!line.contains('\n'), "a decision line is one line");
        let need = line.len() + 1;
        match self.chunks.last_mut() {
            Some(c) if c.capacity() - c.len() >= need => {}
            _ => self.chunks.push(String::with_capacity(CHUNK.max(need))),
        }
        if let Some(c) = self.chunks.last_mut() {
            c.push_str(line);
            c.push('\n');
        }
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The lines, in order, without their `\n`.
    pub fn iter(&self) -> Lines<'_> {
        self.chunks
            .iter()
            .flat_map(lines_of as fn(&String) -> ChunkLines<'_>)
    }

    /// The whole log as the bytes of `decisions.jsonl`, in pieces: every line followed by `\n`.
    pub fn bytes(&self) -> impl Iterator<Item = &[u8]> {
        self.chunks.iter().map(String::as_bytes)
    }
}

/// A position in a [`DecisionLines`]: its end when taken, where [`DecisionLines::since`] reads
/// from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    chunk: usize,
    offset: usize,
}

impl DecisionLines {
    /// The end of the log now.
    pub fn mark(&self) -> Mark {
        Mark {
            chunk: self.chunks.len().saturating_sub(1),
            offset: self.chunks.last().map_or(0, String::len),
        }
    }

    /// The lines pushed after `mark` was taken.
    pub fn since(&self, mark: Mark) -> impl Iterator<Item = &str> {
        self.chunks
            .iter()
            .enumerate()
            .skip(mark.chunk)
            .flat_map(move |(i, c)| {
                let from = if i == mark.chunk { mark.offset } else { 0 };
                c.get(from..).unwrap_or_default().split_terminator('\n')
            })
    }
}

/// An iterator over a [`DecisionLines`]' lines.
pub type Lines<'a> = std::iter::FlatMap<
    std::slice::Iter<'a, String>,
    ChunkLines<'a>,
    fn(&'a String) -> ChunkLines<'a>,
>;

impl<'a> IntoIterator for &'a DecisionLines {
    type Item = &'a str;
    type IntoIter = Lines<'a>;

    fn into_iter(self) -> Lines<'a> {
        self.iter()
    }
}

impl<S: AsRef<str>> FromIterator<S> for DecisionLines {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut out = DecisionLines::new();
        for line in iter {
            out.push(line.as_ref());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_back_in_order_across_chunks() {
        let long = "x".repeat(CHUNK + 10);
        let lines: Vec<String> = (0..3000)
            .map(|i| format!("{{\"i\":{i},\"pad\":\"{}\"}}", "y".repeat(i % 700)))
            .chain([long.clone(), String::new(), "last".into()])
            .collect();
        let log: DecisionLines = lines.iter().collect();
        assert_eq!(log.len(), lines.len());
        assert!(log.chunks.len() > 2, "the test spans several chunks");
        assert!(log.iter().eq(lines.iter().map(String::as_str)));
        let bytes: Vec<u8> = log.bytes().flatten().copied().collect();
        let mut log = DecisionLines::new();
        let mut seen = 0;
        for l in &lines {
            let mark = log.mark();
            log.push(l);
            assert!(
                log.since(mark).eq([l.as_str()]),
                "since a mark: the lines after it"
            );
            seen += 1;
        }
        assert_eq!(seen, log.len());
        let joined: String = lines.iter().map(|l| format!("{l}\n")).collect();
        assert_eq!(bytes, joined.as_bytes());
    }
}
