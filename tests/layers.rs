//! The layers of ARCHITECTURE.md, checked: each crate may depend only on the crates below it.
//! The compiler already refuses a cycle; this test also refuses an arrow that skips no cycle
//! but runs upward (the report crate reaching for the simulation, an autoscaler for the
//! scenario format), which would compile.

mod common;

use std::collections::BTreeMap;

/// Each crate, with the workspace crates it may use. Order is the layering, bottom first.
const LAYERS: &[(&str, &[&str])] = &[
    ("asim-core", &[]),
    ("asim-manifests", &[]),
    ("asim-cluster", &["asim-core"]),
    ("asim-karpenter", &["asim-core", "asim-cluster"]),
    ("asim-cluster-autoscaler", &["asim-core", "asim-cluster"]),
    ("asim-report", &["asim-core", "asim-cluster"]),
    (
        "asim-workload",
        &[
            "asim-core",
            "asim-manifests",
            "asim-cluster",
            "asim-karpenter",
            "asim-cluster-autoscaler",
            "asim-report",
        ],
    ),
    (
        "asim-sim",
        &[
            "asim-core",
            "asim-cluster",
            "asim-karpenter",
            "asim-cluster-autoscaler",
            "asim-report",
            "asim-workload",
        ],
    ),
    (
        "asim-sweep",
        &["asim-core", "asim-report", "asim-workload", "asim-sim"],
    ),
    // Live mode (cargo feature `live`): a second `Cloud` and a wall-clock driver beside the
    // simulation, which knows nothing of it.
    (
        "asim-live",
        &["asim-core", "asim-report", "asim-workload", "asim-sim"],
    ),
];

/// The `asim-*` names in a Cargo.toml's `[dependencies]` table.
fn workspace_deps(manifest: &str) -> Vec<String> {
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps
            && let Some(name) = line.split(['.', '=', ' ']).next()
            && name.starts_with("asim-")
        {
            out.push(name.to_string());
        }
    }
    out
}

#[test]
fn no_crate_depends_on_a_crate_above_it() {
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(common::repo("crates")).expect("crates/") {
        let dir = entry.expect("entry").path();
        let manifest = common::read(&dir.join("Cargo.toml"));
        let name = manifest
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|l| l.strip_suffix('"'))
            .expect("package name")
            .to_string();
        let Some(ok) = allowed.get(name.as_str()) else {
            panic!(
                "{name} is not in LAYERS: give it a place in the layering (and in ARCHITECTURE.md)"
            );
        };
        for dep in workspace_deps(&manifest) {
            assert!(
                ok.contains(&dep.as_str()),
                "{name} depends on {dep}, which is not below it (ARCHITECTURE.md, The layers)"
            );
        }
        seen.push(name);
    }
    seen.sort();
    let mut all: Vec<String> = LAYERS.iter().map(|(n, _)| n.to_string()).collect();
    all.sort();
    assert_eq!(seen, all, "LAYERS names a crate that does not exist");
}

/// The top-level modules of a crate's `src/` and the sibling modules each one names through
/// `crate::x`, `use crate::{x, …}` or (from a top-level file) `super::x`, test code excluded.
/// A heuristic reading of the source, good enough to keep the layering inside a crate honest.
fn module_graph(src: &std::path::Path) -> BTreeMap<String, std::collections::BTreeSet<String>> {
    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut all = Vec::new();
    files(src, &mut all);
    let mut graph: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for path in &all {
        let rel = path.strip_prefix(src).expect("under src");
        let top = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("name")
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = common::read(path);
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let deps = graph.entry(top.clone()).or_default();
        let words = |s: &str| -> Vec<String> {
            s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect()
        };
        let mut name_after = |prefix: &str| {
            for (i, _) in code.match_indices(prefix) {
                let rest = &code[i + prefix.len()..];
                if let Some(group) = rest.strip_prefix('{') {
                    let group = &group[..group.find('}').unwrap_or(0)];
                    for item in group.split(',') {
                        if let Some(w) = words(item).into_iter().next() {
                            deps.insert(w);
                        }
                    }
                } else if let Some(w) = words(rest).into_iter().next() {
                    deps.insert(w);
                }
            }
        };
        name_after("crate::");
        if rel.components().count() == 1 {
            name_after("super::");
        }
    }
    let names: std::collections::BTreeSet<String> = graph.keys().cloned().collect();
    for (m, deps) in graph.iter_mut() {
        deps.retain(|d| names.contains(d) && d != m);
    }
    graph
}

#[test]
fn no_crate_has_an_import_cycle_among_its_modules() {
    for entry in std::fs::read_dir(common::repo("crates")).expect("crates/") {
        let src = entry.expect("entry").path().join("src");
        let graph = module_graph(&src);
        // Depth-first search for a back edge.
        fn visit<'g>(
            m: &'g str,
            graph: &'g BTreeMap<String, std::collections::BTreeSet<String>>,
            state: &mut BTreeMap<&'g str, u8>,
            path: &mut Vec<&'g str>,
        ) -> Option<Vec<String>> {
            match state.get(m) {
                Some(1) => {
                    let start = path.iter().position(|p| *p == m).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        path[start..].iter().map(|s| s.to_string()).collect();
                    cycle.push(m.to_string());
                    return Some(cycle);
                }
                Some(_) => return None,
                None => {}
            }
            state.insert(m, 1);
            path.push(m);
            for d in graph.get(m).into_iter().flatten() {
                if let Some(c) = visit(d, graph, state, path) {
                    return Some(c);
                }
            }
            path.pop();
            state.insert(m, 2);
            None
        }
        let mut state = BTreeMap::new();
        for m in graph.keys() {
            if let Some(cycle) = visit(m, &graph, &mut state, &mut Vec::new()) {
                panic!(
                    "{}: modules import each other: {}",
                    src.display(),
                    cycle.join(" -> ")
                );
            }
        }
    }
}
