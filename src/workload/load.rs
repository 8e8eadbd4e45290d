//! Reading a scenario from disk: the YAML stream, `include`s, and the dispatch of each document
//! to its type. Every error names the file, the line where there is one, and the field.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::{
    apps::v1 as apps, batch::v1 as batch, core::v1 as core, policy::v1 as policy,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::karpenter::apis::{EC2NodeClass, NodePool};

use super::scenario::{API_VERSION, ScenarioDoc};

/// Where something came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub file: PathBuf,
    /// 1-based line of the start of the document.
    pub line: u64,
}

/// A bad input, located. Displayed as `file:line: field: message`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadError {
    pub file: PathBuf,
    pub line: Option<u64>,
    pub field: Option<String>,
    pub message: String,
}

impl LoadError {
    pub fn new(
        file: &Path,
        line: Option<u64>,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        LoadError {
            file: file.to_path_buf(),
            line,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }

    pub fn at(src: &Source, field: Option<&str>, message: impl Into<String>) -> Self {
        Self::new(&src.file, Some(src.line), field, message)
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for LoadError {}

/// One parsed Kubernetes object.
#[derive(Clone, Debug)]
pub enum Object {
    Pod(Box<core::Pod>),
    Node(Box<core::Node>),
    Deployment(Box<apps::Deployment>),
    StatefulSet(Box<apps::StatefulSet>),
    DaemonSet(Box<apps::DaemonSet>),
    Job(Box<batch::Job>),
    Pdb(Box<policy::PodDisruptionBudget>),
    PriorityClass { name: String, value: i32 },
    NodePool(Box<NodePool>),
    NodeClass(Box<EC2NodeClass>),
}

impl Object {
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Pod(_) => "Pod",
            Object::Node(_) => "Node",
            Object::Deployment(_) => "Deployment",
            Object::StatefulSet(_) => "StatefulSet",
            Object::DaemonSet(_) => "DaemonSet",
            Object::Job(_) => "Job",
            Object::Pdb(_) => "PodDisruptionBudget",
            Object::PriorityClass { .. } => "PriorityClass",
            Object::NodePool(_) => "NodePool",
            Object::NodeClass(_) => "EC2NodeClass",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Manifest {
    pub source: Source,
    pub name: String,
    pub namespace: String,
    pub object: Object,
    /// The document's text, to find the line of a bad value reported after parsing.
    pub text: Arc<str>,
}

impl Manifest {
    /// The line of the first occurrence of `value` in this document, or the document's start.
    pub fn line_of(&self, value: Option<&str>) -> u64 {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            for (i, l) in self.text.lines().enumerate() {
                if l.contains(v) {
                    return self.source.line + i as u64;
                }
            }
        }
        self.source.line
    }

    pub fn error(&self, field: &str, message: impl Into<String>, value: Option<&str>) -> LoadError {
        LoadError::new(
            &self.source.file,
            Some(self.line_of(value)),
            Some(&format!("{}/{}: {field}", self.object.kind(), self.name)),
            message,
        )
    }
}

/// The result of reading a scenario file and everything it includes.
pub struct RawScenario {
    pub doc: ScenarioDoc,
    pub source: Source,
    pub manifests: Vec<Manifest>,
}

/// Split a YAML stream into documents with the 1-based line each starts on.
pub fn split_documents(text: &str) -> Vec<(u64, String)> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut start = 1u64;
    for (i, line) in text.lines().enumerate() {
        let n = i as u64 + 1;
        let is_marker = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if is_marker || line == "..." {
            if cur
                .trim()
                .lines()
                .any(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
            {
                docs.push((start, std::mem::take(&mut cur)));
            }
            cur.clear();
            start = n + 1;
            if is_marker {
                // Content after `--- ` on the same line belongs to the document.
                let rest = line.trim_start_matches('-').trim();
                if !rest.is_empty() {
                    cur.push_str(rest);
                    cur.push('\n');
                    start = n;
                }
            }
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    if cur
        .lines()
        .any(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
    {
        docs.push((start, cur));
    }
    docs
}

/// Render a serde-saphyr error as one line and its document-relative line.
fn yaml_error(e: &serde_saphyr::Error) -> (Option<u64>, String) {
    let line = e.location().map(|l| l.line()).filter(|l| *l > 0);
    let full = e.to_string();
    // The rendered error may carry a source snippet on later lines; keep the first line.
    let first = full.lines().next().unwrap_or("invalid YAML").trim();
    let msg = first.trim_start_matches("error: ").to_string();
    (line, msg)
}

fn parse_doc<T: DeserializeOwned>(file: &Path, start: u64, text: &str) -> Result<T, LoadError> {
    serde_saphyr::from_str::<T>(text).map_err(|e| {
        let (line, msg) = yaml_error(&e);
        LoadError::new(file, Some(line.map_or(start, |l| start + l - 1)), None, msg)
    })
}

#[derive(Deserialize)]
struct TypeMeta {
    #[serde(default, rename = "apiVersion")]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct NameOnly {
    #[serde(default)]
    metadata: Option<NameMeta>,
}

#[derive(Deserialize)]
struct NameMeta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Deserialize)]
struct PriorityClassDoc {
    metadata: NameMeta,
    value: i32,
}

fn dispatch(
    file: &Path,
    start: u64,
    text: &str,
    api_version: &str,
    kind: &str,
) -> Result<Option<Object>, LoadError> {
    let o = match (api_version, kind) {
        ("v1", "Pod") => Object::Pod(Box::new(parse_doc(file, start, text)?)),
        ("v1", "Node") => Object::Node(Box::new(parse_doc(file, start, text)?)),
        ("apps/v1", "Deployment") => Object::Deployment(Box::new(parse_doc(file, start, text)?)),
        ("apps/v1", "StatefulSet") => Object::StatefulSet(Box::new(parse_doc(file, start, text)?)),
        ("apps/v1", "DaemonSet") => Object::DaemonSet(Box::new(parse_doc(file, start, text)?)),
        ("batch/v1", "Job") => Object::Job(Box::new(parse_doc(file, start, text)?)),
        ("policy/v1", "PodDisruptionBudget") => {
            Object::Pdb(Box::new(parse_doc(file, start, text)?))
        }
        ("scheduling.k8s.io/v1", "PriorityClass") => {
            let pc: PriorityClassDoc = parse_doc(file, start, text)?;
            Object::PriorityClass {
                name: pc.metadata.name.unwrap_or_default(),
                value: pc.value,
            }
        }
        ("karpenter.sh/v1", "NodePool") => {
            Object::NodePool(Box::new(parse_doc(file, start, text)?))
        }
        ("karpenter.k8s.aws/v1", "EC2NodeClass") => {
            Object::NodeClass(Box::new(parse_doc(file, start, text)?))
        }
        // Objects the simulator has no use for (Services, ConfigMaps, …) are skipped.
        (
            _,
            "Service"
            | "ConfigMap"
            | "Secret"
            | "ServiceAccount"
            | "Namespace"
            | "HorizontalPodAutoscaler"
            | "Ingress",
        ) => {
            return Ok(None);
        }
        _ => {
            return Err(LoadError::new(
                file,
                Some(start),
                Some("kind"),
                format!(
                    "unsupported object {api_version}/{kind} (expected a Scenario, v1 Pod/Node, apps/v1 Deployment/StatefulSet/DaemonSet, batch/v1 Job, policy/v1 PodDisruptionBudget, scheduling.k8s.io/v1 PriorityClass, karpenter.sh/v1 NodePool, karpenter.k8s.aws/v1 EC2NodeClass, or v1 List)"
                ),
            ));
        }
    };
    Ok(Some(o))
}

struct Reader {
    scenario: Option<(ScenarioDoc, Source)>,
    manifests: Vec<Manifest>,
    visited: BTreeSet<PathBuf>,
}

impl Reader {
    fn read_file(&mut self, path: &Path, included_from: Option<&Source>) -> Result<(), LoadError> {
        let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if !self.visited.insert(canon) {
            return Ok(()); // included twice (or a cycle): read once.
        }
        let text = std::fs::read_to_string(path).map_err(|e| match included_from {
            Some(src) => LoadError::at(
                src,
                Some("spec.include"),
                format!("cannot read included file {}: {e}", path.display()),
            ),
            None => LoadError::new(path, None, None, format!("cannot read: {e}")),
        })?;
        let docs = split_documents(&text);
        if docs.is_empty() {
            return Err(LoadError::new(
                path,
                None,
                None,
                "the file is empty (expected YAML documents)",
            ));
        }
        for (start, doc) in docs {
            self.read_document(path, start, &doc)?;
        }
        Ok(())
    }

    fn read_document(&mut self, file: &Path, start: u64, text: &str) -> Result<(), LoadError> {
        let tm: TypeMeta = parse_doc(file, start, text)?;
        let (Some(api_version), Some(kind)) = (tm.api_version.as_deref(), tm.kind.as_deref())
        else {
            return Err(LoadError::new(
                file,
                Some(start),
                Some(if tm.api_version.is_none() {
                    "apiVersion"
                } else {
                    "kind"
                }),
                "missing (every document needs apiVersion and kind)",
            ));
        };
        if kind == "Scenario" {
            if api_version != API_VERSION {
                return Err(LoadError::new(
                    file,
                    Some(start),
                    Some("apiVersion"),
                    format!("unknown Scenario apiVersion {api_version:?} (expected {API_VERSION})"),
                ));
            }
            if self.scenario.is_some() {
                return Err(LoadError::new(
                    file,
                    Some(start),
                    Some("kind"),
                    "a second Scenario document (expected exactly one)",
                ));
            }
            let doc: ScenarioDoc = parse_doc(file, start, text)?;
            let src = Source {
                file: file.to_path_buf(),
                line: start,
            };
            let base = file.parent().unwrap_or(Path::new(".")).to_path_buf();
            let includes = doc.spec.include.clone();
            self.scenario = Some((doc, src.clone()));
            for inc in includes {
                self.read_file(&base.join(&inc), Some(&src))?;
            }
            return Ok(());
        }
        if (api_version, kind) == ("v1", "List") {
            #[derive(Deserialize)]
            struct List {
                #[serde(default)]
                items: Vec<serde_json::Value>,
            }
            let list: List = parse_doc(file, start, text)?;
            for (i, item) in list.items.into_iter().enumerate() {
                // Re-serialise each item as JSON (valid YAML) and read it as a document.
                let item_text = serde_json::to_string(&item).unwrap_or_default();
                self.read_document(file, start, &item_text)
                    .map_err(|mut e| {
                        e.field = Some(format!(
                            "items[{i}]{}",
                            e.field.map(|f| format!(".{f}")).unwrap_or_default()
                        ));
                        e.line = Some(start);
                        e
                    })?;
            }
            return Ok(());
        }
        let Some(object) = dispatch(file, start, text, api_version, kind)? else {
            return Ok(());
        };
        let names: NameOnly = parse_doc(file, start, text)?;
        let meta = names.metadata;
        let name = meta
            .as_ref()
            .and_then(|m| m.name.clone())
            .unwrap_or_default();
        if name.is_empty() {
            return Err(LoadError::new(
                file,
                Some(start),
                Some("metadata.name"),
                format!("{kind} has no name"),
            ));
        }
        let namespace = meta
            .and_then(|m| m.namespace)
            .unwrap_or_else(|| "default".to_string());
        self.manifests.push(Manifest {
            source: Source {
                file: file.to_path_buf(),
                line: start,
            },
            name,
            namespace,
            object,
            text: Arc::from(text),
        });
        Ok(())
    }
}

/// Read a scenario file and its includes.
pub fn read_scenario(path: &Path) -> Result<RawScenario, LoadError> {
    let mut r = Reader {
        scenario: None,
        manifests: Vec::new(),
        visited: BTreeSet::new(),
    };
    r.read_file(path, None)?;
    let Some((doc, source)) = r.scenario else {
        return Err(LoadError::new(
            path,
            None,
            Some("kind"),
            format!(
                "no Scenario document (expected one with apiVersion: {API_VERSION}, kind: Scenario)"
            ),
        ));
    };
    Ok(RawScenario {
        doc,
        source,
        manifests: r.manifests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_on_markers_with_start_lines() {
        let docs = split_documents("a: 1\n---\nb: 2\n---\n# only a comment\n---\nc: 3\n");
        let starts: Vec<u64> = docs.iter().map(|d| d.0).collect();
        assert_eq!(starts, vec![1, 3, 7]);
    }
}
