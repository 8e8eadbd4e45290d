//! `--set PATH=VALUE` overrides and `compare --variant` manifests, applied to the parsed
//! documents of a scenario before it is validated (docs/design.md §11, §13).
//!
//! An override names the Scenario document (`spec.duration=2h`) or one manifest by kind and
//! name (`NodePool/default:spec.disruption.consolidateAfter=5m`, `Deployment/ns/web:…`). The
//! document is read as a generic YAML tree, the value (itself YAML: a scalar, `[a, b]` or
//! `{k: v}`) is put at the path, and the tree is parsed again as its type. A path that names no
//! field the type knows is an error, not a silent no-op: the Scenario's types reject unknown
//! fields, and for manifests the fields the type ignores are collected (`serde_ignored`).

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::load::{self, LoadError, Manifest, RawScenario};
use super::scenario::ScenarioDoc;
use asim_karpenter::apis::{EC2NodeClass, NodePool};

/// What to change in a scenario while loading it.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Files of manifests; each replaces the manifest of the same kind, namespace and name, or
    /// is added. Applied in order, before the overrides.
    pub variants: Vec<PathBuf>,
    pub overrides: Vec<Override>,
    /// The largest run to accept (`--max-pods`, `--max-nodes`, `--max-events`).
    pub limits: crate::Limits,
}

/// One step of a path: a mapping key, a sequence index, or the one item of a sequence whose
/// field has a value (`requirements[key=karpenter.k8s.aws/instance-family]`, as kubectl's
/// JSONPath filters and strategic-merge keys pick list items by a field, not a position).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
    Match { field: String, value: String },
}

/// `a.b[2]["k.with.dots"]`.
pub fn render_path(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if k.contains(['.', '[', ']']) => s.push_str(&format!("[{k:?}]")),
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
            Seg::Match { field, value } => s.push_str(&format!("[{field}={value}]")),
        }
    }
    s
}

/// Which document an override changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Scenario,
    Manifest {
        kind: String,
        namespace: Option<String>,
        name: String,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Scenario => write!(f, "Scenario"),
            Target::Manifest {
                kind,
                namespace: Some(ns),
                name,
            } => write!(f, "{kind}/{ns}/{name}"),
            Target::Manifest {
                kind,
                namespace: None,
                name,
            } => write!(f, "{kind}/{name}"),
        }
    }
}

/// A parsed `--set` argument.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    /// The argument as given, for messages.
    pub raw: String,
    pub target: Target,
    pub path: Vec<Seg>,
    pub value: Value,
}

/// A `--set` argument that cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("--set {raw}: {message}")]
pub struct SetSyntaxError {
    pub raw: String,
    pub message: String,
}

/// The kinds a manifest override may name (as the loader spells them).
const KINDS: &[&str] = &[
    "Pod",
    "Node",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "PodDisruptionBudget",
    "PriorityClass",
    "HorizontalPodAutoscaler",
    "NodePool",
    "EC2NodeClass",
];

impl Override {
    /// Parse `PATH=VALUE` or `Kind/[namespace/]name:PATH=VALUE`.
    pub fn parse(arg: &str) -> Result<Override, SetSyntaxError> {
        let err = |m: String| SetSyntaxError {
            raw: arg.to_string(),
            message: m,
        };
        let eq = split_point(arg, '=').ok_or_else(|| {
            err(
                "expected PATH=VALUE (e.g. spec.duration=2h or NodePool/default:spec.weight=10)"
                    .into(),
            )
        })?;
        let (lhs, value_text) = (&arg[..eq], &arg[eq + 1..]);
        let (target, path) = parse_lhs(lhs).map_err(err)?;
        if let Some(Seg::Key(first)) = path.first()
            && path.len() == 1
            && (first == "apiVersion" || first == "kind")
        {
            return Err(err(format!("{first} cannot be changed")));
        }
        let value = parse_value(value_text).map_err(err)?;
        Ok(Override {
            raw: arg.to_string(),
            target,
            path,
            value,
        })
    }
}

/// Parse the `Kind/name:PATH`, `Scenario:PATH` or `PATH` half of an override (without the
/// `=VALUE`); a sweep's parameters use the same syntax.
pub fn parse_lhs(lhs: &str) -> Result<(Target, Vec<Seg>), String> {
    let (target, path_text) = match split_point(lhs, ':') {
        Some(c) if lhs[..c].eq_ignore_ascii_case("scenario") => (Target::Scenario, &lhs[c + 1..]),
        Some(c) => (parse_target(&lhs[..c])?, &lhs[c + 1..]),
        None => (Target::Scenario, lhs),
    };
    Ok((target, parse_path(path_text)?))
}

/// The first `sep` outside brackets and quotes.
fn split_point(s: &str, sep: char) -> Option<usize> {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') if depth > 0 => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth -= 1,
            (None, c) if c == sep && depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_target(s: &str) -> Result<Target, String> {
    let parts: Vec<&str> = s.split('/').collect();
    let (kind, namespace, name) = match parts.as_slice() {
        [k, n] => (*k, None, *n),
        [k, ns, n] => (*k, Some(ns.to_string()), *n),
        _ => {
            return Err(format!(
                "target {s:?} is not Kind/name or Kind/namespace/name"
            ));
        }
    };
    let Some(kind) = KINDS.iter().find(|k| k.eq_ignore_ascii_case(kind)) else {
        return Err(format!(
            "unknown kind {kind:?} (expected one of {})",
            KINDS.join(", ")
        ));
    };
    if name.is_empty() || namespace.as_deref() == Some("") {
        return Err(format!("target {s:?} has an empty name"));
    }
    Ok(Target::Manifest {
        kind: kind.to_string(),
        namespace,
        name: name.to_string(),
    })
}

/// `a.b[0]["x.y"]` → segments.
pub fn parse_path(s: &str) -> Result<Vec<Seg>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut want_key = true; // at the start or after a '.'
    while i < chars.len() {
        match chars[i] {
            '[' => {
                let close = chars[i..]
                    .iter()
                    .position(|c| *c == ']')
                    .map(|p| p + i)
                    .ok_or_else(|| format!("path {s:?}: unclosed '['"))?;
                let inner: String = chars[i + 1..close].iter().collect();
                let inner = inner.trim();
                if let Some(q) = inner.chars().next().filter(|c| *c == '"' || *c == '\'') {
                    let key = inner
                        .strip_prefix(q)
                        .and_then(|r| r.strip_suffix(q))
                        .ok_or_else(|| format!("path {s:?}: unterminated quoted key"))?;
                    out.push(Seg::Key(key.to_string()));
                } else if let Some((field, value)) = inner.split_once('=') {
                    let (field, value) = (field.trim(), value.trim());
                    let value = value
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                        .unwrap_or(value);
                    if field.is_empty() {
                        return Err(format!(
                            "path {s:?}: [{inner}] needs a field name before '=' (e.g. [key=karpenter.sh/capacity-type])"
                        ));
                    }
                    out.push(Seg::Match {
                        field: field.to_string(),
                        value: value.to_string(),
                    });
                } else {
                    let idx = inner.parse::<usize>().map_err(|_| {
                        format!(
                            "path {s:?}: [{inner}] is not a list index (quote a key: [\"{inner}\"], or pick an item by a field: [key=VALUE])"
                        )
                    })?;
                    out.push(Seg::Index(idx));
                }
                i = close + 1;
                want_key = false;
            }
            '.' => {
                if want_key {
                    return Err(format!("path {s:?}: empty field name"));
                }
                want_key = true;
                i += 1;
            }
            _ => {
                if !want_key {
                    return Err(format!("path {s:?}: expected '.' or '[' at {:?}", chars[i]));
                }
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    if chars[i] == ']' {
                        return Err(format!("path {s:?}: unmatched ']'"));
                    }
                    i += 1;
                }
                out.push(Seg::Key(chars[start..i].iter().collect()));
                want_key = false;
            }
        }
    }
    if out.is_empty() || want_key {
        return Err(format!("path {s:?}: empty field name"));
    }
    Ok(out)
}

/// A YAML scalar or flow collection; empty means null.
fn parse_value(s: &str) -> Result<Value, String> {
    if s.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_saphyr::from_str::<Value>(s).map_err(|e| {
        let m = e.to_string();
        format!(
            "value {s:?} is not valid YAML: {}",
            m.lines().next().unwrap_or("")
        )
    })
}

/// Put `value` at `path` in `doc`, creating missing mappings on the way. Returns the path with
/// each `[field=value]` resolved to the index it picked.
pub fn set_in(doc: &mut Value, path: &[Seg], value: Value) -> Result<Vec<Seg>, String> {
    let mut resolved = Vec::with_capacity(path.len());
    let mut cur = doc;
    for (i, seg) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let here = render_path(&path[..i]);
        let here = if here.is_empty() {
            "the document".to_string()
        } else {
            here
        };
        match seg {
            Seg::Key(k) => {
                if cur.is_null() {
                    *cur = Value::Object(Default::default());
                }
                let Value::Object(map) = cur else {
                    return Err(format!(
                        "{here} is {}, not a mapping with field {k:?}",
                        describe(cur)
                    ));
                };
                resolved.push(seg.clone());
                if last {
                    map.insert(k.clone(), value);
                    return Ok(resolved);
                }
                cur = map.entry(k.clone()).or_insert(Value::Null);
            }
            Seg::Index(idx) => {
                let Value::Array(items) = cur else {
                    return Err(format!("{here} is {}, not a list", describe(cur)));
                };
                let len = items.len();
                let Some(item) = items.get_mut(*idx) else {
                    return Err(format!(
                        "index {idx} is out of range ({here} has {len} item{})",
                        if len == 1 { "" } else { "s" }
                    ));
                };
                resolved.push(seg.clone());
                if last {
                    *item = value;
                    return Ok(resolved);
                }
                cur = item;
            }
            Seg::Match { field, value: want } => {
                let Value::Array(items) = cur else {
                    return Err(format!("{here} is {}, not a list", describe(cur)));
                };
                let found: Vec<usize> = items
                    .iter()
                    .enumerate()
                    .filter(|(_, it)| item_matches(it, field, want))
                    .map(|(i, _)| i)
                    .collect();
                let idx = match found.as_slice() {
                    [one] => *one,
                    [] => {
                        let mut have: Vec<String> = items
                            .iter()
                            .filter_map(|it| it.get(field).map(scalar_text))
                            .collect();
                        have.sort();
                        return Err(if have.is_empty() {
                            format!("no item of {here} has a field {field:?}")
                        } else {
                            format!(
                                "no item of {here} has {field}={want} (its items have {field}: {})",
                                have.join(", ")
                            )
                        });
                    }
                    _ => {
                        return Err(format!(
                            "{} items of {here} have {field}={want}; pick one by index",
                            found.len()
                        ));
                    }
                };
                resolved.push(Seg::Index(idx));
                if last {
                    items[idx] = value;
                    return Ok(resolved);
                }
                cur = &mut items[idx];
            }
        }
    }
    Err("empty path".into())
}

/// Does list item `item` have `field` equal to `want` (as `[field=value]` picks items)? A
/// number matches its value written any way (`4`, `4.0`), a boolean `true`/`false`.
pub fn item_matches(item: &Value, field: &str, want: &str) -> bool {
    match item.get(field) {
        Some(Value::String(s)) => s == want,
        Some(Value::Number(n)) => want.parse::<f64>().ok() == n.as_f64(),
        Some(Value::Bool(b)) => want == if *b { "true" } else { "false" },
        _ => false,
    }
}

/// The text of a scalar, for messages; collections never match.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null | Value::Array(_) | Value::Object(_) => "\u{0}".into(),
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Apply `opts` to a scenario as read, before validation.
pub fn apply(mut raw: RawScenario, opts: &LoadOptions) -> Result<RawScenario, LoadError> {
    for v in &opts.variants {
        merge_variant(&mut raw.manifests, load::read_manifests(v)?);
    }
    let file = raw.source.file.clone();
    let fail =
        |o: &Override, m: String| LoadError::new(&file, None, Some(&format!("--set {}", o.raw)), m);

    let scenario_sets: Vec<&Override> = opts
        .overrides
        .iter()
        .filter(|o| o.target == Target::Scenario)
        .collect();
    if !scenario_sets.is_empty() {
        let mut tree = yaml_tree(&raw.text).map_err(|m| fail(scenario_sets[0], m))?;
        for o in &scenario_sets {
            if matches!(o.path.as_slice(), [Seg::Key(s), Seg::Key(i), ..] if s == "spec" && i == "include")
            {
                return Err(fail(
                    o,
                    "spec.include cannot be overridden (includes are read before overrides apply)"
                        .into(),
                ));
            }
            set_in(&mut tree, &o.path, o.value.clone()).map_err(|m| fail(o, m))?;
        }
        let json = tree.to_string();
        raw.doc = load::parse_doc::<ScenarioDoc>(&file, raw.source.line, &json)
            .map_err(|e| after_sets(e, &file, raw.source.line, &raw.text, &scenario_sets))?;
    }

    // Manifest overrides, grouped by the manifest they change (in the order given).
    let mut groups: Vec<(usize, Vec<&Override>)> = Vec::new();
    for o in &opts.overrides {
        let Target::Manifest {
            kind,
            namespace,
            name,
        } = &o.target
        else {
            continue;
        };
        let found: Vec<usize> = raw
            .manifests
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                m.object.kind() == kind
                    && &m.name == name
                    && namespace.as_ref().is_none_or(|ns| &m.namespace == ns)
            })
            .map(|(i, _)| i)
            .collect();
        let idx = match found.as_slice() {
            [one] => *one,
            [] => {
                let mut names: Vec<String> = raw
                    .manifests
                    .iter()
                    .filter(|m| m.object.kind() == kind)
                    .map(|m| {
                        if m.namespace == "default" {
                            m.name.clone()
                        } else {
                            format!("{}/{}", m.namespace, m.name)
                        }
                    })
                    .collect();
                names.sort();
                let known = if names.is_empty() {
                    format!("the scenario has no {kind}")
                } else {
                    format!("{kind}s: {}", names.join(", "))
                };
                return Err(fail(
                    o,
                    format!("no {kind} named {name:?} in the scenario ({known})"),
                ));
            }
            _ => {
                return Err(fail(
                    o,
                    format!(
                        "{kind} {name:?} is in several namespaces; name one: {kind}/NAMESPACE/{name}"
                    ),
                ));
            }
        };
        if let [Seg::Key(m), Seg::Key(f), ..] = o.path.as_slice()
            && m == "metadata"
            && (f == "name" || f == "namespace")
        {
            return Err(fail(
                o,
                format!("metadata.{f} cannot be changed (it names the object)"),
            ));
        }
        match groups.iter_mut().find(|(i, _)| *i == idx) {
            Some((_, list)) => list.push(o),
            None => groups.push((idx, vec![o])),
        }
    }
    for (idx, sets) in groups {
        let m = &raw.manifests[idx];
        let mut tree = yaml_tree(&m.text).map_err(|e| fail(sets[0], e))?;
        let mut paths = Vec::with_capacity(sets.len());
        for o in &sets {
            paths.push(set_in(&mut tree, &o.path, o.value.clone()).map_err(|e| fail(o, e))?);
        }
        let json = tree.to_string();
        let unknown = ignored_fields(m.object.kind(), &json);
        for (o, path) in sets.iter().zip(&paths) {
            if let Some(u) = unknown.iter().find(|u| path.starts_with(u)) {
                return Err(fail(
                    o,
                    format!(
                        "{} has no field {} (a typo? the simulator would ignore it)",
                        m.object.kind(),
                        render_path(u)
                    ),
                ));
            }
        }
        let api_version = tree
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let object = load::dispatch(
            &m.source.file,
            m.source.line,
            &json,
            &api_version,
            m.object.kind(),
        )
        .map_err(|e| after_sets(e, &m.source.file, m.source.line, &m.text, &sets))?;
        let Some(object) = object else {
            return Err(fail(
                sets[0],
                format!("{} cannot be overridden", m.object.kind()),
            ));
        };
        raw.manifests[idx].object = object;
    }
    Ok(raw)
}

/// A document's text as a generic tree.
fn yaml_tree(text: &str) -> Result<Value, String> {
    serde_saphyr::from_str::<Value>(text).map_err(|e| format!("cannot re-read the document: {e}"))
}

/// An error from parsing a changed document. Its lines are those of the JSON text, so it is
/// put on the line of the (first) overridden field in the original document, and names the
/// overrides that made it.
fn after_sets(e: LoadError, file: &Path, start: u64, text: &str, sets: &[&Override]) -> LoadError {
    let line = sets.first().map_or(start, |o| {
        load::field_line(start, text, &render_path(&o.path))
    });
    let list: Vec<&str> = sets.iter().map(|o| o.raw.as_str()).collect();
    let message = match &e.field {
        Some(f) => format!("{f}: {}", e.message),
        None => e.message,
    };
    LoadError::new(
        file,
        Some(line),
        Some(&format!("--set {}", list.join(" --set "))),
        message,
    )
}

/// Replace manifests of the same kind, namespace and name; add the others.
fn merge_variant(base: &mut Vec<Manifest>, variant: Vec<Manifest>) {
    for v in variant {
        match base.iter_mut().find(|m| {
            m.object.kind() == v.object.kind() && m.name == v.name && m.namespace == v.namespace
        }) {
            Some(slot) => *slot = v,
            None => base.push(v),
        }
    }
}

/// The fields of `text` that the type for `kind` does not read.
fn ignored_fields(kind: &str, text: &str) -> Vec<Vec<Seg>> {
    let paths = match kind {
        "NodePool" => asim_manifests::ignored::<NodePool>(text),
        "EC2NodeClass" => asim_manifests::ignored::<EC2NodeClass>(text),
        _ => asim_manifests::ignored_paths(kind, text).unwrap_or_default(),
    };
    paths
        .into_iter()
        .map(|path| {
            path.into_iter()
                .map(|seg| match seg {
                    asim_manifests::PathSeg::Key(k) => Seg::Key(k),
                    asim_manifests::PathSeg::Index(i) => Seg::Index(i),
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Seg {
        Seg::Key(k.into())
    }

    #[test]
    fn parse_scenario_override_reads_yaml_value() {
        let o = Override::parse("spec.duration=2h").unwrap();
        assert_eq!(o.target, Target::Scenario);
        assert_eq!(o.path, vec![key("spec"), key("duration")]);
        assert_eq!(o.value, Value::String("2h".into()));
        let o = Override::parse("spec.seed=3").unwrap();
        assert_eq!(o.value, serde_json::json!(3));
    }

    #[test]
    fn parse_manifest_override_with_kind_namespace_and_flow_value() {
        let o = Override::parse(
            "nodepool/default:spec.template.spec.requirements[2].values=[spot, on-demand]",
        )
        .unwrap();
        assert_eq!(
            o.target,
            Target::Manifest {
                kind: "NodePool".into(),
                namespace: None,
                name: "default".into()
            }
        );
        assert_eq!(
            o.path,
            vec![
                key("spec"),
                key("template"),
                key("spec"),
                key("requirements"),
                Seg::Index(2),
                key("values")
            ]
        );
        assert_eq!(o.value, serde_json::json!(["spot", "on-demand"]));
        let o = Override::parse("Deployment/prod/web:spec.replicas=40").unwrap();
        assert_eq!(
            o.target,
            Target::Manifest {
                kind: "Deployment".into(),
                namespace: Some("prod".into()),
                name: "web".into()
            }
        );
    }

    #[test]
    fn quoted_keys_may_hold_dots_colons_and_equals() {
        let o = Override::parse(r#"NodePool/a:spec.template.metadata.labels["team.io/x=y"]=blue"#)
            .unwrap();
        assert_eq!(o.path.last(), Some(&key("team.io/x=y")));
        assert_eq!(o.value, Value::String("blue".into()));
        assert_eq!(
            render_path(&o.path),
            r#"spec.template.metadata.labels["team.io/x=y"]"#
        );
    }

    #[test]
    fn bad_syntax_is_named() {
        for (arg, needle) in [
            ("spec.duration", "expected PATH=VALUE"),
            ("spec..duration=1h", "empty field name"),
            ("Widget/x:spec.a=1", "unknown kind \"Widget\""),
            ("spec.items[x]=1", "not a list index"),
            ("kind=Foo", "kind cannot be changed"),
            ("spec.x={a: [", "not valid YAML"),
        ] {
            let e = Override::parse(arg).unwrap_err();
            assert!(e.to_string().contains(needle), "{arg}: {e}");
            assert!(e.to_string().starts_with(&format!("--set {arg}")), "{e}");
        }
    }

    #[test]
    fn set_in_creates_mappings_and_replaces_items() {
        let mut doc = serde_json::json!({"spec": {"list": [1, 2]}});
        set_in(
            &mut doc,
            &parse_path("spec.a.b").unwrap(),
            serde_json::json!("x"),
        )
        .unwrap();
        set_in(
            &mut doc,
            &parse_path("spec.list[1]").unwrap(),
            serde_json::json!(5),
        )
        .unwrap();
        assert_eq!(
            doc,
            serde_json::json!({"spec": {"list": [1, 5], "a": {"b": "x"}}})
        );
    }

    #[test]
    fn set_in_refuses_out_of_range_and_scalars() {
        let mut doc = serde_json::json!({"spec": {"list": [1], "n": 3}});
        let e = set_in(&mut doc, &parse_path("spec.list[3]").unwrap(), Value::Null).unwrap_err();
        assert!(
            e.contains("index 3 is out of range (spec.list has 1 item)"),
            "{e}"
        );
        let e = set_in(&mut doc, &parse_path("spec.n.x").unwrap(), Value::Null).unwrap_err();
        assert!(e.contains("spec.n is a number"), "{e}");
        let e = set_in(&mut doc, &parse_path("spec[0]").unwrap(), Value::Null).unwrap_err();
        assert!(e.contains("spec is a mapping, not a list"), "{e}");
    }

    #[test]
    fn ignored_fields_finds_typos_in_manifests() {
        let text = r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"},
            "spec": {"replica": 3, "selector": {}, "template": {"spec": {"containers": []}}}}"#;
        let u = ignored_fields("Deployment", text);
        assert!(u.contains(&vec![key("spec"), key("replica")]), "{u:?}");
        let text = r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"},
            "spec": {"replicas": 3, "selector": {}, "template": {"spec": {"containers": []}}}}"#;
        assert!(ignored_fields("Deployment", text).is_empty());
    }
}
