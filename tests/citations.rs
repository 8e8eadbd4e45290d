//! Every `§N.M` in the code resolves to a section of a document in the repository: the one
//! named on the same line (`docs/model/karpenter.md §4.5`, `cluster-autoscaler.md §2`), else
//! the one the file's `//!` header names, else the crate's own model document (Karpenter's and
//! cluster-autoscaler's). A citation that points nowhere is a promise a reader cannot follow.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The section numbers of a markdown file's headings (`## 4.5 Drift` → `4.5`).
fn sections(doc: &Path) -> BTreeSet<String> {
    common::read(doc)
        .lines()
        .filter(|l| l.starts_with('#'))
        .filter_map(|l| {
            let title = l.trim_start_matches('#').trim_start();
            let num: String = title
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let num = num.trim_end_matches('.');
            (!num.is_empty()).then(|| num.to_string())
        })
        .collect()
}

/// The last `something.md` token in `text`.
fn last_doc(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || "()[],;`:".contains(c))
        .rfind(|w| w.ends_with(".md"))
        .map(str::to_string)
}

fn resolve(name: &str) -> Option<PathBuf> {
    let base = Path::new(name).file_name()?.to_str()?.to_string();
    [
        common::repo(name),
        common::repo("docs/model").join(&base),
        common::repo("docs").join(&base),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

#[test]
fn every_section_citation_resolves_inside_the_repository() {
    let mut files = Vec::new();
    for dir in ["crates", "src", "tests"] {
        rust_files(&common::repo(dir), &mut files);
    }
    let mut cache: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = common::read(file);
        let rel = file
            .strip_prefix(common::repo(""))
            .unwrap_or(file)
            .to_string_lossy()
            .to_string();
        let header: String = text
            .lines()
            .take(20)
            .filter(|l| l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join(" ");
        let header_doc = header.find("docs/").and_then(|i| {
            let rest = &header[i..];
            rest.find(".md").map(|j| rest[..j + 3].to_string())
        });
        let crate_doc = if rel.starts_with("crates/karpenter/") {
            Some("docs/model/karpenter.md".to_string())
        } else if rel.starts_with("crates/cluster-autoscaler/") {
            Some("docs/model/cluster-autoscaler.md".to_string())
        } else {
            None
        };
        for (n, line) in text.lines().enumerate() {
            if line.contains("\"") && !line.trim_start().starts_with("//") {
                continue; // a § inside a string literal is data, not a citation
            }
            for (i, _) in line.match_indices('§') {
                let num: String = line[i + '§'.len_utf8()..]
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.')
                    .collect();
                let num = num.trim_end_matches('.').to_string();
                if num.is_empty() {
                    continue;
                }
                let doc = last_doc(&line[..i])
                    .or_else(|| header_doc.clone())
                    .or_else(|| crate_doc.clone());
                let Some(path) = doc.as_deref().and_then(resolve) else {
                    broken.push(format!(
                        "{rel}:{}: §{num} names no document in the repository",
                        n + 1
                    ));
                    continue;
                };
                let secs = cache.entry(path.clone()).or_insert_with(|| sections(&path));
                let top = num.split('.').next().unwrap_or("").to_string();
                checked += 1;
                if !secs.contains(&num) && !secs.contains(&top) {
                    broken.push(format!(
                        "{rel}:{}: §{num} is not a section of {}",
                        n + 1,
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} citations found: the scan is broken"
    );
    assert!(
        broken.is_empty(),
        "{} broken citations:\n{}",
        broken.len(),
        broken.join("\n")
    );
}
