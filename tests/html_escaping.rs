//! Untrusted text in the HTML outputs (issue 18): every scenario-provided string that reaches
//! `report.html` and `compare.html` — the scenario's description, workload and NodePool names,
//! label values, timeline labels — is escaped, so a scenario from a pull request cannot inject
//! markup or script into a page a reviewer opens. And `metadata.name`, which names report
//! directories, cannot be a path.

use std::path::Path;

use assert_cmd::Command;

fn bin() -> Command {
    Command::cargo_bin("autoscale-sim").expect("the autoscale-sim binary is built")
}

const EVIL: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";

fn scenario() -> String {
    format!(
        r#"apiVersion: autoscale-sim/v1alpha1
kind: Scenario
metadata:
  name: evil
  description: "{EVIL}"
spec:
  seed: 1
  duration: 30m
  timeline:
    - at: 5m
      scale: {{deployment: web, replicas: 3}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {{team: "{EVIL}"}}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web, note: "x"}}
      annotations: {{why: "{EVIL}"}}
    spec:
      containers:
        - name: web
          image: "nginx:{EVIL}"
          resources:
            requests: {{cpu: 500m, memory: 512Mi}}
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: default
spec:
  template:
    spec:
      nodeClassRef: {{group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}}
      requirements:
        - {{key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}}
---
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata:
  name: default
  annotations: {{note: "{EVIL}"}}
spec:
  amiSelectorTerms: [{{alias: al2023@latest}}]
  role: KarpenterNodeRole
  subnetSelectorTerms: [{{tags: {{karpenter.sh/discovery: c}}}}]
  securityGroupSelectorTerms: [{{tags: {{karpenter.sh/discovery: c}}}}]
"#
    )
}

fn assert_clean(html: &Path) {
    let text = std::fs::read_to_string(html).expect("html written");
    for bad in ["<script", "<img", "onerror=alert"] {
        assert!(
            !text.contains(bad),
            "{} contains {bad:?} unescaped",
            html.display()
        );
    }
}

#[test]
fn scenario_strings_are_escaped_in_report_and_compare_html() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("evil.yaml");
    std::fs::write(&f, scenario()).expect("write");
    let out = dir.path().join("out");
    bin()
        .args(["-q", "run", "--out"])
        .arg(&out)
        .arg(&f)
        .assert()
        .code(0);
    assert_clean(&out.join("report.html"));
    let cmp = dir.path().join("cmp");
    bin()
        .args(["-q", "compare", "--out"])
        .arg(&cmp)
        .arg(&f)
        .assert()
        .code(0);
    assert_clean(&cmp.join("compare.html"));
    assert_clean(&cmp.join("karpenter").join("report.html"));
}

#[test]
fn a_scenario_name_that_is_a_path_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["../../escape", "a/b", ".hidden", "", "x\\y"] {
        let f = dir.path().join("s.yaml");
        let text = scenario().replace("name: evil", &format!("name: {name:?}"));
        std::fs::write(&f, text).expect("write");
        let res = bin().arg("validate").arg(&f).assert().code(2);
        let stderr = String::from_utf8_lossy(&res.get_output().stderr).into_owned();
        assert!(
            stderr.contains("s.yaml:4: metadata.name: must be 1 to 253 letters"),
            "{name:?}: {stderr}"
        );
    }
}
