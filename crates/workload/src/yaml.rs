//! A small YAML writer for the manifests of `best/`: block style, keys in order, strings
//! quoted whenever a YAML reader could take them for anything but a string.

use serde_json::Value;

/// `v` as a YAML document (ends with a newline).
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => block_map(m, 0, &mut out),
        Value::Array(a) if !a.is_empty() => block_seq(a, 0, &mut out),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

/// `v` on one line as YAML flow (`[{nodes: "30%"}]`); a lone string bare (`5m`), since it is
/// shown in a table cell rather than read back.
pub fn flow(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => flow_value(other),
    }
}

fn flow_value(v: &Value) -> String {
    match v {
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(flow_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, x)| format!("{}: {}", string(k), flow_value(x)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => scalar(other),
    }
}

fn indent(n: usize, out: &mut String) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn block_map(m: &serde_json::Map<String, Value>, depth: usize, out: &mut String) {
    for (k, v) in m {
        indent(depth, out);
        out.push_str(&string(k));
        out.push(':');
        value_after_key(v, depth, out);
    }
}

fn block_seq(a: &[Value], depth: usize, out: &mut String) {
    for v in a {
        indent(depth, out);
        out.push('-');
        match v {
            Value::Object(m) if !m.is_empty() => {
                // The first key on the dash's line, the rest aligned under it.
                let mut first = true;
                for (k, x) in m {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        indent(depth + 2, out);
                    }
                    out.push_str(&string(k));
                    out.push(':');
                    value_after_key(x, depth + 2, out);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                block_seq(inner, depth + 2, out);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn value_after_key(v: &Value, depth: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            block_map(m, depth + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            block_seq(a, depth + 2, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A string plain when that is unambiguous, else double-quoted (JSON escaping is valid YAML).
fn string(s: &str) -> String {
    let plain_chars = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    let starts_ok = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '_');
    let special = matches!(
        s.to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
    );
    if plain_chars && starts_ok && !special {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_manifest_round_trips_through_a_yaml_reader() {
        let v = json!({
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {"name": "default", "labels": {}},
            "spec": {
                "disruption": {"consolidateAfter": "5m", "budgets": [{"nodes": "10%"}]},
                "template": {"spec": {"requirements": [
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot", "on-demand"]},
                    {"key": "x", "operator": "Exists"}
                ]}},
                "weight": 10,
                "flags": ["yes", "1", "", "a: b", "#c", [1, 2]],
                "limits": null
            }
        });
        let text = to_yaml(&v);
        let back: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back, v, "{text}");
        assert!(text.contains("  consolidateAfter: \"5m\"\n"), "{text}");
        assert!(text.contains("kind: NodePool\n"), "{text}");
        assert_eq!(flow(&json!([{"nodes": "30%"}])), r#"[{nodes: "30%"}]"#);
        assert_eq!(flow(&json!("5m")), "5m");
    }
}
