//! EC2NodeClass `subnetSelectorTerms` choose the zones Karpenter launches into
//! (docs/model/karpenter.md §7: subnets → `status.subnets` → the zones where offerings exist).

use std::io::Write;

use autoscale_sim::karpenter::Karpenter;
use autoscale_sim::sim::Simulation;
use autoscale_sim::workload::Scenario;

fn scenario(subnets: &str, selector: &str) -> String {
    format!(
        r#"apiVersion: autoscale-sim/v1alpha1
kind: Scenario
metadata: {{name: subnets}}
spec:
  duration: 10m
  {subnets}
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {{name: default}}
spec:
  template:
    spec:
      requirements:
        - {{key: karpenter.k8s.aws/instance-family, operator: In, values: [m5]}}
      nodeClassRef: {{group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}}
---
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {{name: default}}
spec:
  role: r
  amiSelectorTerms: [{{alias: al2023@latest}}]
  subnetSelectorTerms: [{selector}]
  securityGroupSelectorTerms: [{{tags: {{a: b}}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
        - name: c
          resources: {{requests: {{cpu: "1", memory: 1Gi}}}}
"#
    )
}

fn launched_zones(text: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.yaml");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("write");
    let sc = Scenario::load(&path).expect("scenario loads");
    let k = Karpenter::new(&sc.karpenter).expect("karpenter");
    let mut sim = Simulation::new(&sc, Box::new(k)).expect("sim");
    sim.run(|_, _| std::ops::ControlFlow::Continue(()));
    let mut zones: Vec<String> = sim.recorder.nodes.iter().map(|n| n.zone.clone()).collect();
    zones.sort();
    zones.dedup();
    zones
}

#[test]
fn subnet_selector_terms_choose_the_launch_zones() {
    let subnets = "subnets:\n    - {id: subnet-a, zone: us-east-1a, tags: {tier: public}}\n    - {id: subnet-b, zone: us-east-1b, tags: {tier: private}}\n    - {id: subnet-c, zone: us-east-1c, tags: {tier: public}}";
    assert_eq!(
        launched_zones(&scenario(subnets, "{tags: {tier: private}}")),
        vec!["us-east-1b"]
    );
    assert_eq!(
        launched_zones(&scenario(subnets, "{id: subnet-c}")),
        vec!["us-east-1c"]
    );
}

#[test]
fn without_declared_subnets_every_zone_is_offered() {
    let zones = launched_zones(&scenario("", "{tags: {any: thing}}"));
    assert_eq!(zones.len(), 1, "one node for three small pods: {zones:?}");
}

#[test]
fn a_nodeclass_selecting_no_subnet_provisions_nothing() {
    let subnets = "subnets:\n    - {id: subnet-a, zone: us-east-1a, tags: {tier: public}}";
    assert!(launched_zones(&scenario(subnets, "{tags: {tier: private}}")).is_empty());
}
