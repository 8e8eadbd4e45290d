//! Reading a scenario from disk: the YAML stream, `include`s, and the dispatch of each document
//! to its type. Every error names the file, the line where there is one, and the field.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::{
    apps::v1 as apps, batch::v1 as batch, core::v1 as core, policy::v1 as policy,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use asim_karpenter::apis::{EC2NodeClass, NodePool};
use asim_manifests::Kube;

use super::scenario::{API_VERSION, ScenarioDoc};
use super::text::{TextError, read_text};

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
            write!(f, "{}: ", one_line(field))?;
        }
        write!(f, "{}", one_line(&self.message))
    }
}

/// `s` with its control characters escaped (`\n`, `\t`, `\u{0}`): a message quotes what the
/// user wrote, and an error must stay on one line whatever that was (a newline in an
/// `apiVersion` split it in two; tests/fuzz_regressions.rs).
fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return s.into();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
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
    Pvc(Box<core::PersistentVolumeClaim>),
    StorageClass(Box<k8s_openapi::api::storage::v1::StorageClass>),
    PriorityClass {
        name: String,
        class: asim_cluster::pod_spec::PriorityClass,
        global_default: bool,
    },
    NodePool(Box<NodePool>),
    NodeClass(Box<EC2NodeClass>),
    /// The priority expander's ConfigMap, `cluster-autoscaler-priority-expander` in
    /// `kube-system` (docs/model/cluster-autoscaler.md §3.4): its `data`. Other ConfigMaps are
    /// skipped.
    PriorityExpanderConfig(BTreeMap<String, String>),
    /// `autoscaling/v2` (or `v1`, converted) HorizontalPodAutoscaler.
    Hpa(Box<crate::hpa::HpaDoc>),
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
            Object::Pvc(_) => "PersistentVolumeClaim",
            Object::StorageClass(_) => "StorageClass",
            Object::PriorityClass { .. } => "PriorityClass",
            Object::NodePool(_) => "NodePool",
            Object::NodeClass(_) => "EC2NodeClass",
            Object::PriorityExpanderConfig(_) => "ConfigMap",
            Object::Hpa(_) => "HorizontalPodAutoscaler",
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

    /// The line of `field` (a path in this document): where the path is, else where `value`
    /// is, else the nearest enclosing field that is written out, else the document's start.
    pub fn line_of_field(&self, field: &str, value: Option<&str>) -> u64 {
        match outline::line_of_path(&self.text, field) {
            Some((l, true)) => self.source.line + l as u64,
            found => {
                let by_value = self.line_of(value);
                match found {
                    Some((l, _)) if by_value == self.source.line => self.source.line + l as u64,
                    _ => by_value,
                }
            }
        }
    }

    pub fn error(&self, field: &str, message: impl Into<String>, value: Option<&str>) -> LoadError {
        LoadError::new(
            &self.source.file,
            Some(self.line_of_field(field, value)),
            Some(&format!("{}/{}: {field}", self.object.kind(), self.name)),
            message,
        )
    }
}

/// The result of reading a scenario file and everything it includes.
pub struct RawScenario {
    pub doc: ScenarioDoc,
    pub source: Source,
    /// The Scenario document's text, to find the line of a field reported after parsing.
    pub text: Arc<str>,
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

/// A localizer that leaves the location out of serde-saphyr's message: `LoadError` puts the
/// file line first, and the document-relative line serde-saphyr knows would contradict it.
struct NoLocation;

impl serde_saphyr::localizer::Localizer for NoLocation {
    fn attach_location<'a>(
        &self,
        base: std::borrow::Cow<'a, str>,
        _loc: serde_saphyr::Location,
    ) -> std::borrow::Cow<'a, str> {
        base
    }
}

/// A serde-saphyr error as `(document-relative line, field path, one-line message)`. The path
/// is not in serde-saphyr's error, so it is recovered from the error's position in `text`.
fn yaml_error(e: &serde_saphyr::Error, text: &str) -> (Option<u64>, Option<String>, String) {
    let formatter = serde_saphyr::UserMessageFormatter.with_localizer(&NoLocation);
    let rendered = e.render_with_options(serde_saphyr::render_options! {
        formatter: &formatter,
        snippets: serde_saphyr::SnippetMode::Off,
    });
    let msg = rendered
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let msg = if msg.is_empty() {
        "invalid YAML".to_string()
    } else {
        msg
    };
    let Some(loc) = e.location().filter(|l| l.line() > 0) else {
        return (None, None, msg);
    };
    let mut line = loc.line();
    let (path, is_key) = outline::path_at(text, line, loc.column()).unwrap_or_default();
    let mut field = path.clone();
    // A missing field is reported inside the mapping that lacks it: name the field, and put
    // the line on the mapping's own key.
    if let Some(name) = msg
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        let parent = if is_key { outline::parent(&path) } else { path };
        if let Some((l, true)) = outline::line_of_path(text, &parent) {
            line = l as u64 + 1;
        }
        field = outline::join(&parent, name);
    }
    (Some(line), Some(field).filter(|p| !p.is_empty()), msg)
}

pub(crate) fn parse_doc<T: DeserializeOwned>(
    file: &Path,
    start: u64,
    text: &str,
) -> Result<T, LoadError> {
    serde_saphyr::from_str::<T>(text).map_err(|e| located(file, start, text, &e))
}

/// A YAML or type error in the document `text` that starts on line `start` of `file`.
fn located(file: &Path, start: u64, text: &str, e: &serde_saphyr::Error) -> LoadError {
    let (line, field, msg) = yaml_error(e, text);
    LoadError::new(
        file,
        Some(line.map_or(start, |l| start + l - 1)),
        field.as_deref(),
        msg,
    )
}

/// The 1-based file line of `field` (a path such as `spec.timeline[1].at`) in a document that
/// starts on line `start`, or `start` when the path is not found.
pub fn field_line(start: u64, text: &str, field: &str) -> u64 {
    outline::line_of_path(text, field).map_or(start, |(l, _)| start + l as u64)
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

/// The ConfigMap the priority expander reads (docs/model/cluster-autoscaler.md §3.4).
pub const PRIORITY_EXPANDER_CONFIGMAP: &str = "cluster-autoscaler-priority-expander";
/// The namespace it is read from: cluster-autoscaler's own (`--namespace`, kube-system).
pub const PRIORITY_EXPANDER_NAMESPACE: &str = "kube-system";

#[derive(Deserialize)]
struct ConfigMapDoc {
    #[serde(default)]
    data: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct PriorityClassDoc {
    metadata: NameMeta,
    value: i32,
    #[serde(default, rename = "globalDefault")]
    global_default: bool,
    #[serde(default, rename = "preemptionPolicy")]
    preemption_policy: Option<String>,
}

pub(crate) fn dispatch(
    file: &Path,
    start: u64,
    text: &str,
    api_version: &str,
    kind: &str,
) -> Result<Option<Object>, LoadError> {
    // Kubernetes' own kinds are read by asim-manifests (where their deserializers are built).
    if let Some(read) = asim_manifests::parse(api_version, kind, text) {
        return Ok(Some(
            match read.map_err(|e| located(file, start, text, &e))? {
                Kube::Pod(o) => Object::Pod(o),
                Kube::Node(o) => Object::Node(o),
                Kube::Deployment(o) => Object::Deployment(o),
                Kube::StatefulSet(o) => Object::StatefulSet(o),
                Kube::DaemonSet(o) => Object::DaemonSet(o),
                Kube::Job(o) => Object::Job(o),
                Kube::Pdb(o) => Object::Pdb(o),
                Kube::Pvc(o) => Object::Pvc(o),
                Kube::StorageClass(o) => Object::StorageClass(o),
            },
        ));
    }
    let o = match (api_version, kind) {
        ("scheduling.k8s.io/v1", "PriorityClass") => {
            let pc: PriorityClassDoc = parse_doc(file, start, text)?;
            let preemption_policy = match pc.preemption_policy.as_deref() {
                None => asim_cluster::PreemptionPolicy::PreemptLowerPriority,
                Some(s) => asim_cluster::PreemptionPolicy::parse(s).ok_or_else(|| {
                    LoadError::new(
                        file,
                        Some(field_line(start, text, "preemptionPolicy")),
                        Some("preemptionPolicy"),
                        format!("must be PreemptLowerPriority or Never, got {s:?}"),
                    )
                })?,
            };
            Object::PriorityClass {
                name: pc.metadata.name.unwrap_or_default(),
                class: asim_cluster::pod_spec::PriorityClass {
                    value: pc.value,
                    preemption_policy,
                },
                global_default: pc.global_default,
            }
        }
        ("v1", "ConfigMap") => {
            let names: NameOnly = parse_doc(file, start, text)?;
            let is_expander = names.metadata.is_some_and(|m| {
                m.name.as_deref() == Some(PRIORITY_EXPANDER_CONFIGMAP)
                    && m.namespace.as_deref() == Some(PRIORITY_EXPANDER_NAMESPACE)
            });
            if !is_expander {
                // Any other ConfigMap: the simulator has no use for it.
                return Ok(None);
            }
            let cm: ConfigMapDoc = parse_doc(file, start, text)?;
            Object::PriorityExpanderConfig(cm.data.unwrap_or_default())
        }
        ("autoscaling/v2" | "autoscaling/v2beta2", "HorizontalPodAutoscaler") => {
            Object::Hpa(Box::new(parse_doc(file, start, text)?))
        }
        ("autoscaling/v1", "HorizontalPodAutoscaler") => {
            let v1: crate::hpa::HpaV1Doc = parse_doc(file, start, text)?;
            Object::Hpa(Box::new(v1.into_v2()))
        }
        ("karpenter.sh/v1", "NodePool") => {
            Object::NodePool(Box::new(parse_doc(file, start, text)?))
        }
        ("karpenter.k8s.aws/v1", "EC2NodeClass") => {
            Object::NodeClass(Box::new(parse_doc(file, start, text)?))
        }
        // Objects the simulator has no use for (Services, ConfigMaps, …) are skipped.
        (_, "Service" | "ConfigMap" | "Secret" | "ServiceAccount" | "Namespace" | "Ingress") => {
            return Ok(None);
        }
        _ => {
            return Err(LoadError::new(
                file,
                Some(start),
                Some("kind"),
                format!(
                    "unsupported object {api_version}/{kind} (expected a Scenario, v1 Pod/Node, apps/v1 Deployment/StatefulSet/DaemonSet, batch/v1 Job, policy/v1 PodDisruptionBudget, v1 PersistentVolumeClaim, storage.k8s.io/v1 StorageClass, scheduling.k8s.io/v1 PriorityClass, autoscaling/v2 HorizontalPodAutoscaler, karpenter.sh/v1 NodePool, karpenter.k8s.aws/v1 EC2NodeClass, or v1 List)"
                ),
            ));
        }
    };
    Ok(Some(o))
}

struct Reader {
    scenario: Option<(ScenarioDoc, Source, Arc<str>)>,
    manifests: Vec<Manifest>,
    visited: BTreeSet<PathBuf>,
}

impl Reader {
    /// Read `path`; `included_from` is the `spec.include[i]` entry naming it, if any.
    fn read_file(
        &mut self,
        path: &Path,
        included_from: Option<(&Source, &str)>,
    ) -> Result<(), LoadError> {
        let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if !self.visited.insert(canon) {
            return Ok(()); // included twice (or a cycle): read once.
        }
        let text = read_text(
            path,
            asim_core::files::MAX_MANIFEST_BYTES,
            "scenario or manifest file",
        )
        .map_err(|e| match (e, included_from) {
            // Bytes that are not UTF-8 are the file's own fault: name its line.
            (e @ TextError::NotUtf8 { line, .. }, _) => {
                LoadError::new(path, Some(line), None, e.message())
            }
            (TextError::Io(e), Some((src, field))) => LoadError::at(
                src,
                Some(field),
                format!("cannot read included file {}: {e}", path.display()),
            ),
            (TextError::Io(e), None) => {
                LoadError::new(path, None, None, format!("cannot read: {e}"))
            }
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
            self.scenario = Some((doc, src, Arc::from(text)));
            for (i, inc) in includes.iter().enumerate() {
                let field = format!("spec.include[{i}]");
                let at = Source {
                    file: file.to_path_buf(),
                    line: field_line(start, text, &field),
                };
                self.read_file(&base.join(inc), Some((&at, &field)))?;
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
        let object = match dispatch(file, start, text, api_version, kind) {
            Ok(Some(o)) => o,
            Ok(None) => return Ok(()),
            Err(mut e) => {
                // Name the object, as the errors found after parsing do (`Manifest::error`).
                let name = serde_saphyr::from_str::<NameOnly>(text)
                    .ok()
                    .and_then(|n| n.metadata)
                    .and_then(|m| m.name)
                    .filter(|n| !n.is_empty());
                if let Some(name) = name {
                    e.field = Some(match e.field {
                        Some(f) => format!("{kind}/{name}: {f}"),
                        None => format!("{kind}/{name}"),
                    });
                }
                return Err(e);
            }
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
    let Some((doc, source, text)) = r.scenario else {
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
        text,
        manifests: r.manifests,
    })
}

/// Read a file of manifests only (a `compare --variant`): the same documents a scenario file may
/// hold, less the Scenario document and includes.
pub fn read_manifests(path: &Path) -> Result<Vec<Manifest>, LoadError> {
    let mut r = Reader {
        scenario: None,
        manifests: Vec::new(),
        visited: BTreeSet::new(),
    };
    r.read_file(path, None)?;
    if let Some((_, source, _)) = r.scenario {
        return Err(LoadError::at(
            &source,
            Some("kind"),
            "a Scenario document in a file of manifests (a variant or a timeline applyFile holds manifests only; change the Scenario with --set)",
        ));
    }
    Ok(r.manifests)
}

/// A rough outline of a YAML document: where each key and sequence item starts and the path it
/// opens (`spec.timeline[1].at`). serde-saphyr reports where an error is but not the path, and
/// errors found after parsing know the path but not the line; this bridges both ways. It
/// follows block indentation and single- or multi-line flow collections, and skips block
/// scalars and comments; anchors, tags and complex keys are not understood (the path then stops
/// short, which only makes the reported place coarser).
mod outline {
    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Seg {
        Key(String),
        Index(usize),
    }

    /// Nesting deeper than this is not outlined. serde-saphyr refuses a document nested deeper
    /// than 64 levels (its default budget), so no error needs a deeper path; and recording every
    /// node of a line nested 20,000 deep took minutes (each point's path is as long as the
    /// depth; tests/fuzz_regressions.rs).
    const MAX_DEPTH: usize = 80;

    fn render(segs: &[Seg]) -> String {
        let mut s = String::new();
        for seg in segs {
            match seg {
                Seg::Key(k) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(k);
                }
                Seg::Index(i) => {
                    use std::fmt::Write as _;
                    let _ = write!(s, "[{i}]");
                }
            }
        }
        s
    }

    /// `parent.key`, or `key` at the root.
    pub fn join(parent: &str, key: &str) -> String {
        if parent.is_empty() {
            key.to_string()
        } else {
            format!("{parent}.{key}")
        }
    }

    /// The path one level up: `a.b[2]` → `a.b`, `a.b` → `a`. Keys with dots in them make this
    /// approximate, which only matters for where a missing field is reported.
    pub fn parent(path: &str) -> String {
        let cut = if path.ends_with(']') {
            path.rfind('[')
        } else {
            path.rfind(['.', '['])
        };
        cut.map_or(String::new(), |i| path[..i].to_string())
    }

    /// Where a key (`is_key`) or a sequence item / flow collection starts.
    #[derive(Debug)]
    struct Point {
        line: usize,
        col: usize,
        path: String,
        is_key: bool,
    }

    enum Flow {
        Map(Option<String>),
        Seq(usize),
    }

    struct Outliner {
        points: Vec<Point>,
        /// Open block nodes: (column, segment).
        block: Vec<(usize, Seg)>,
        /// Open flow collections, and the block path they hang from.
        flow: Vec<Flow>,
        flow_base: Vec<Seg>,
        /// Inside a block scalar whose parent node is at this column.
        scalar_parent: Option<usize>,
    }

    impl Outliner {
        fn block_path(&self) -> Vec<Seg> {
            self.block.iter().map(|(_, s)| s.clone()).collect()
        }

        fn flow_path(&self) -> Vec<Seg> {
            let mut p = self.flow_base.clone();
            for f in &self.flow {
                match f {
                    Flow::Map(Some(k)) => p.push(Seg::Key(k.clone())),
                    Flow::Map(None) => {}
                    Flow::Seq(i) => p.push(Seg::Index(*i)),
                }
            }
            p
        }

        /// Too deep to record points in (`MAX_DEPTH`).
        fn too_deep(&self) -> bool {
            let depth = if self.flow.is_empty() {
                self.block.len()
            } else {
                self.flow_base.len() + self.flow.len()
            };
            depth > MAX_DEPTH
        }

        fn point(&mut self, line: usize, col: usize, path: &[Seg], is_key: bool) {
            self.points.push(Point {
                line,
                col,
                path: render(path),
                is_key,
            });
        }

        fn line(&mut self, n: usize, chars: &[char]) {
            let indent = chars.iter().take_while(|c| **c == ' ').count();
            if let Some(c) = self.scalar_parent {
                if indent > c {
                    return;
                }
                self.scalar_parent = None;
            }
            if !self.flow.is_empty() {
                self.flow_scan(n, chars, indent);
                return;
            }
            let mut pos = indent;
            loop {
                let rest = &chars[pos..];
                match rest.first() {
                    None | Some('#') => return,
                    Some('-') if rest.get(1).is_none_or(|c| *c == ' ') => {
                        self.block.retain(|(c, _)| *c <= pos);
                        let idx = match self.block.last() {
                            Some((c, Seg::Index(i))) if *c == pos => {
                                let next = i + 1;
                                self.block.pop();
                                next
                            }
                            _ => 0,
                        };
                        self.block.push((pos, Seg::Index(idx)));
                        if !self.too_deep() {
                            let path = self.block_path();
                            self.point(n, pos, &path, false);
                        }
                        pos += 1;
                        while chars.get(pos) == Some(&' ') {
                            pos += 1;
                        }
                    }
                    Some('{' | '[') => {
                        self.flow_base = self.block_path();
                        self.flow_scan(n, chars, pos);
                        return;
                    }
                    Some('|' | '>') => {
                        // A block scalar as a sequence item: its lines are text.
                        self.scalar_parent = Some(self.block.last().map_or(0, |(c, _)| *c));
                        return;
                    }
                    Some(_) => {
                        let Some((key, after)) = parse_key(rest) else {
                            return; // a scalar
                        };
                        self.block.retain(|(c, _)| *c < pos);
                        self.block.push((pos, Seg::Key(key)));
                        if !self.too_deep() {
                            let path = self.block_path();
                            self.point(n, pos, &path, true);
                        }
                        let mut v = pos + after;
                        while chars.get(v) == Some(&' ') {
                            v += 1;
                        }
                        match chars.get(v) {
                            Some('|' | '>') => self.scalar_parent = Some(pos),
                            Some('{' | '[') => {
                                self.flow_base = self.block_path();
                                self.flow_scan(n, chars, v);
                            }
                            _ => {}
                        }
                        return;
                    }
                }
            }
        }

        /// Scan flow syntax from `from`, continuing any open flow collection.
        fn flow_scan(&mut self, n: usize, chars: &[char], from: usize) {
            let mut token: Option<usize> = None; // column where the current token starts
            let mut i = from;
            while i < chars.len() {
                let ch = chars[i];
                match ch {
                    '"' | '\'' => {
                        if token.is_none() {
                            self.token_start(n, i);
                            token = Some(i);
                        }
                        i += 1;
                        while i < chars.len() && chars[i] != ch {
                            if ch == '"' && chars[i] == '\\' {
                                i += 1;
                            }
                            i += 1;
                        }
                    }
                    '{' | '[' => {
                        if token.is_none() {
                            self.token_start(n, i);
                        }
                        self.flow.push(if ch == '{' {
                            Flow::Map(None)
                        } else {
                            Flow::Seq(0)
                        });
                        token = None;
                    }
                    '}' | ']' => {
                        self.flow.pop();
                        token = None;
                        if self.flow.is_empty() {
                            return;
                        }
                    }
                    ',' => {
                        match self.flow.last_mut() {
                            Some(Flow::Seq(idx)) => *idx += 1,
                            Some(Flow::Map(k)) => *k = None,
                            None => {}
                        }
                        token = None;
                    }
                    ':' if chars.get(i + 1).is_none_or(|c| " ,}]".contains(*c)) => {
                        if let (Some(start), Some(Flow::Map(None))) = (token, self.flow.last()) {
                            let key: String = chars[start..i].iter().collect();
                            let key = unquote(key.trim());
                            if let Some(Flow::Map(k)) = self.flow.last_mut() {
                                *k = Some(key);
                            }
                            if !self.too_deep() {
                                let path = self.flow_path();
                                self.point(n, start, &path, true);
                            }
                        }
                        token = None;
                    }
                    '#' if i == 0 || chars[i - 1] == ' ' => return,
                    c if c.is_whitespace() => {}
                    _ => {
                        if token.is_none() {
                            self.token_start(n, i);
                            token = Some(i);
                        }
                    }
                }
                i += 1;
            }
        }

        /// A new item starts in a flow sequence: record it.
        fn token_start(&mut self, n: usize, col: usize) {
            if matches!(self.flow.last(), Some(Flow::Seq(_)) | None) && !self.too_deep() {
                let path = self.flow_path();
                self.point(n, col, &path, false);
            }
        }
    }

    fn unquote(s: &str) -> String {
        let q = s.chars().next();
        if matches!(q, Some('"' | '\'')) && s.len() >= 2 && s.ends_with(q.unwrap_or(' ')) {
            s[1..s.len() - 1].to_string()
        } else {
            s.to_string()
        }
    }

    /// `key: …` → the key and the offset just past its colon.
    fn parse_key(rest: &[char]) -> Option<(String, usize)> {
        let mut i = 0;
        if let Some(q @ ('"' | '\'')) = rest.first().copied() {
            i = 1;
            while i < rest.len() && rest[i] != q {
                i += 1;
            }
            i += 1;
        }
        while i < rest.len() {
            if rest[i] == ':' && rest.get(i + 1).is_none_or(|c| *c == ' ') {
                let key: String = rest[..i].iter().collect();
                return Some((unquote(key.trim()), i + 1));
            }
            if rest[i] == '#' && i > 0 && rest[i - 1] == ' ' {
                return None;
            }
            i += 1;
        }
        None
    }

    fn outline(text: &str) -> Vec<Point> {
        let mut o = Outliner {
            points: Vec::new(),
            block: Vec::new(),
            flow: Vec::new(),
            flow_base: Vec::new(),
            scalar_parent: None,
        };
        for (n, line) in text.lines().enumerate() {
            let chars: Vec<char> = line.chars().collect();
            if chars.iter().all(|c| c.is_whitespace()) {
                continue;
            }
            o.line(n, &chars);
        }
        o.points
    }

    /// The path of the node at 1-based `line`, `column` of `text`, and whether it is a key
    /// (rather than a sequence item or flow collection).
    pub fn path_at(text: &str, line: u64, column: u64) -> Option<(String, bool)> {
        let (line, col) = (
            usize::try_from(line.saturating_sub(1)).ok()?,
            usize::try_from(column.saturating_sub(1)).ok()?,
        );
        outline(text)
            .into_iter()
            .take_while(|p| (p.line, p.col) <= (line, col))
            .last()
            .map(|p| (p.path, p.is_key))
    }

    /// The 0-based line where `path` is written, and whether it was found exactly (else the
    /// line of its longest enclosing path that is).
    pub fn line_of_path(text: &str, path: &str) -> Option<(usize, bool)> {
        let mut best: Option<(usize, usize)> = None; // (matched length, line)
        for p in outline(text) {
            if p.path == path {
                return Some((p.line, true));
            }
            let encloses = !p.path.is_empty()
                && path.starts_with(&p.path)
                && matches!(path.as_bytes().get(p.path.len()), Some(b'.' | b'['));
            if encloses && best.is_none_or(|(len, _)| p.path.len() > len) {
                best = Some((p.path.len(), p.line));
            }
        }
        best.map(|(_, l)| (l, false))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        const DOC: &str = "\
kind: Scenario   # a comment
spec:
  duration: 1h
  note: |
    key: not a key
  staticNodes:
    - {instanceType: m5.xlarge, count: 2}
    - instanceType: m5.huge
      labels: {a: b, \"x.y/z\": [1, 2]}
  timeline:
  - at: 10m
    scale:
      deployment: web
  expect:
    none:
      cost.total_usd: {max: 3}
";

        #[test]
        fn path_at_names_block_and_flow_nodes() {
            assert_eq!(path_at(DOC, 3, 13), Some(("spec.duration".into(), true)));
            assert_eq!(path_at(DOC, 5, 5), Some(("spec.note".into(), true)));
            assert_eq!(
                path_at(DOC, 7, 34),
                Some(("spec.staticNodes[0].count".into(), true))
            );
            assert_eq!(
                path_at(DOC, 8, 21),
                Some(("spec.staticNodes[1].instanceType".into(), true))
            );
            assert_eq!(
                path_at(DOC, 9, 35),
                Some(("spec.staticNodes[1].labels.x.y/z[1]".into(), false))
            );
            assert_eq!(
                path_at(DOC, 13, 19),
                Some(("spec.timeline[0].scale.deployment".into(), true))
            );
        }

        #[test]
        fn line_of_path_finds_exact_or_enclosing_field() {
            assert_eq!(line_of_path(DOC, "spec.staticNodes[1]"), Some((7, true)));
            assert_eq!(
                line_of_path(DOC, "spec.staticNodes[0].instanceType"),
                Some((6, true))
            );
            assert_eq!(line_of_path(DOC, "spec.timeline[0].at"), Some((10, true)));
            assert_eq!(
                line_of_path(DOC, "spec.expect.none.cost.total_usd"),
                Some((15, true))
            );
            assert_eq!(
                line_of_path(DOC, "spec.timeline[0].scale.replicas"),
                Some((11, false))
            );
            assert_eq!(line_of_path(DOC, "metadata.name"), None);
        }

        #[test]
        fn parent_drops_the_last_segment() {
            assert_eq!(parent("spec.timeline[1]"), "spec.timeline");
            assert_eq!(parent("spec.timeline[1].scale"), "spec.timeline[1]");
            assert_eq!(parent("spec"), "");
        }
    }
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
