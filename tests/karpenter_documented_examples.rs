//! Karpenter's own documented examples behave as Karpenter does. Each test runs a NodePool
//! pattern from Karpenter's documentation (karpenter.sh Concepts pages: NodePools, Scheduling,
//! NodeClasses; aws/karpenter-provider-aws `examples/v1/`), written in our own files under
//! `scenarios/examples/` or inline, and checks what the docs promise. The table of every pattern
//! tried is docs/model/karpenter-documented-examples.md; the rules are in
//! docs/model/karpenter-provisioning.md.

mod common;

use std::path::Path;

use autoscale_sim::catalog::Catalog;
use autoscale_sim::catalog::allocatable::AmiFamily;
use autoscale_sim::karpenter::Karpenter;
use autoscale_sim::karpenter::apis::WELL_KNOWN_LABELS;
use autoscale_sim::karpenter::instancetype::{self, ephemeral_bytes};
use autoscale_sim::report::Report;
use autoscale_sim::sim::Simulation;
use autoscale_sim::workload::Scenario;
use serde_json::Value;

const GI: i64 = 1 << 30;

fn shipped(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Load a scenario's text (written to a temp dir, so `include`s must not be relative).
fn load(text: &str) -> Result<Scenario, String> {
    common::try_load_text(text, &[]).map(|l| l.sc)
}

/// The load error of a scenario that must be refused.
fn refused(text: &str) -> String {
    match load(text) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e,
    }
}

/// Run a scenario's text under Karpenter: its report and decision log.
fn run(text: &str) -> (Report, Vec<Value>) {
    let sc = load(text).unwrap_or_else(|e| panic!("{e}"));
    let k = Karpenter::new(&sc.karpenter)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_self_checks();
    let mut sim = Simulation::new(&sc, Box::new(k)).unwrap_or_else(|e| panic!("{e}"));
    sim.start();
    while sim.step().is_some() {}
    sim.finish();
    let decisions = sim
        .decisions()
        .iter()
        .map(|l| serde_json::from_str(l).expect("decision is JSON"))
        .collect();
    (sim.report("karpenter"), decisions)
}

fn events<'a>(decisions: &'a [Value], event: &str) -> Vec<&'a Value> {
    decisions.iter().filter(|d| d["event"] == event).collect()
}

/// The reasons Karpenter gave for pods it could not schedule.
fn unschedulable_reasons(decisions: &[Value]) -> Vec<String> {
    events(decisions, "scheduled")
        .into_iter()
        .filter(|d| d["outcome"] == "unschedulable")
        .map(|d| d["reason"].as_str().unwrap_or_default().to_string())
        .collect()
}

const NODECLASS: &str = "
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: default}
spec:
  role: KarpenterNodeRole-test
  amiSelectorTerms: [{alias: al2023@latest}]
  subnetSelectorTerms: [{tags: {karpenter.sh/discovery: test}}]
  securityGroupSelectorTerms: [{tags: {karpenter.sh/discovery: test}}]
";

/// A scenario of 20 minutes with `docs` (YAML documents) after the Scenario document.
fn scenario(spec_extra: &str, docs: &[&str]) -> String {
    let mut s = format!(
        "apiVersion: autoscale-sim/v1alpha1
kind: Scenario
metadata: {{name: documented-example}}
spec:
  seed: 5
  duration: 20m
  region: us-east-1
  cloud:
    spot: {{interruptions: none}}
    latency: {{slowTail: {{probability: 0}}}}
{spec_extra}"
    );
    for d in docs {
        s.push_str("\n---\n");
        s.push_str(d);
    }
    s
}

fn nodepool(name: &str, requirements: &str) -> String {
    format!(
        "apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {{name: {name}}}
spec:
  template:
    spec:
      requirements:
{requirements}
      nodeClassRef: {{group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}}
"
    )
}

fn deployment(name: &str, replicas: u32, pod_spec: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
{pod_spec}
      containers:
        - name: app
          image: pause
          resources: {{requests: {{cpu: 250m, memory: 256Mi}}}}
"
    )
}

// ---- 1. Capacity type ---------------------------------------------------------------------

// karpenter.sh Concepts → NodePools → "Capacity Type": nothing defaults the requirement in v1;
// a NodePool without it is compatible with every capacity type, and launches prefer spot
// (AWS provider pkg/providers/instance/instance.go `getCapacityType`). Pods selecting
// `karpenter.sh/capacity-type: spot` schedule on it.
#[test]
fn a_nodepool_without_a_capacity_type_requirement_launches_spot_and_serves_spot_pods() {
    let (report, _) = run(&shipped("scenarios/examples/capacity-type-default.yaml"));
    assert_eq!(report.pods.unschedulable_at_end, 0, "{report:?}");
    assert!(
        report
            .nodes
            .by_capacity_type
            .get("spot")
            .copied()
            .unwrap_or(0)
            >= 1
    );
    assert_eq!(report.nodes.by_capacity_type.get("on-demand"), None);
}

// ---- 2. Startup taints --------------------------------------------------------------------

// karpenter.sh Concepts → NodePools → "Cilium Startup Taint": the pods wait for the agent to
// remove the taint, then bind at once. Removing a taint requeues the unschedulable pods, as
// kube-scheduler's queueing hints do for a Node update (kubernetes:
// pkg/scheduler/framework/plugins/tainttoleration/taint_toleration.go).
#[test]
fn pods_bind_as_soon_as_a_startup_taint_is_removed() {
    for effect in ["NoExecute", "NoSchedule"] {
        let text = shipped("scenarios/examples/startup-taints.yaml")
            .replace("effect: NoExecute", &format!("effect: {effect}"));
        let (report, decisions) = run(&text);
        assert_eq!(report.pods.unschedulable_at_end, 0, "{effect}: {report:?}");
        assert_eq!(report.pods.scheduled, report.pods.created, "{effect}");
        // The node is launched once; the pods go to it, not to a second node.
        assert_eq!(events(&decisions, "launched").len(), 1, "{effect}");
        // Ready + the 5 s agent delay + the boot: well under two minutes.
        assert!(
            report.pods.startup_latency_s.max < 120.0,
            "{effect}: {:?}",
            report.pods.startup_latency_s
        );
    }
}

// ---- 3. Ratio split -----------------------------------------------------------------------

// karpenter.sh Concepts → Scheduling → "On-Demand/Spot Ratio Split": a custom label's
// requirement values on two NodePools are the domains of a topology spread on that key
// (karpenter: pkg/controllers/provisioning/scheduling/topology.go `buildDomainGroups`).
#[test]
fn a_spread_over_a_custom_label_uses_the_nodepools_requirement_values_as_domains() {
    let (report, decisions) = run(&shipped("scenarios/examples/ratio-split.yaml"));
    assert_eq!(report.pods.unschedulable_at_end, 0, "{report:?}");
    assert_eq!(report.pods.scheduled, 20);
    // Five domains, four pods each: one node per domain, four spot and one on-demand.
    assert_eq!(report.nodes.by_capacity_type.get("spot"), Some(&4));
    assert_eq!(report.nodes.by_capacity_type.get("on-demand"), Some(&1));
    assert!(unschedulable_reasons(&decisions).is_empty());
}

// ---- 4. Labels from requirements ----------------------------------------------------------

// karpenter.sh Concepts → Scheduling → "User-Defined Labels": a NodePool requirement on a
// custom key puts the label on the NodeClaim when it is created (karpenter:
// pkg/controllers/provisioning/scheduling/nodeclaimtemplate.go
// `resolveCustomLabelsFromRequirements`), so the in-flight NodeClaim already answers pods
// selecting it and no second node is launched while it boots.
#[test]
fn labels_from_requirements_are_on_the_nodeclaim_before_it_registers() {
    // `team In [ml]`, two small pods selecting team: ml, the second arriving while the first's
    // node boots (both fit the cheapest type).
    let np = nodepool(
        "ml",
        "        - {key: team, operator: In, values: [ml]}
        - {key: karpenter.k8s.aws/instance-size, operator: In, values: [large]}
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}",
    );
    let pod = |name: &str| {
        format!(
            "apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  nodeSelector: {{team: ml}}
  containers: [{{name: app, image: pause, resources: {{requests: {{cpu: 50m, memory: 64Mi}}}}}}]
"
        )
    };
    let text = scenario(
        "  timeline:\n    - {at: 20s, apply: {pod: second}}\n",
        &[NODECLASS, &np, &pod("first"), &pod("second")],
    );
    let (report, decisions) = run(&text);
    assert_eq!(report.pods.unschedulable_at_end, 0);
    assert_eq!(
        events(&decisions, "nodeclaim-created").len(),
        1,
        "{decisions:#?}"
    );
    // The Exists variant (one NodePool, two teams): one node per team.
    let (report, _) = run(&shipped("scenarios/examples/custom-label-isolation.yaml"));
    assert_eq!(report.pods.unschedulable_at_end, 0);
    assert_eq!(report.nodes.launched, 2, "{report:?}");
}

// ---- 5. Hardware labels -------------------------------------------------------------------

// The AWS provider defines every well-known label on every instance type, `DoesNotExist` when
// the type lacks the hardware (pkg/providers/instancetype/types.go `computeRequirements`): a
// requirement on GPU, NVMe or accelerator labels keeps only types that have them.
#[test]
fn every_instance_type_defines_every_well_known_label() {
    let cat = Catalog::embedded("us-east-1").expect("catalog");
    let zones = vec!["us-east-1a".to_string(), "us-east-1b".to_string()];
    let types = instancetype::resolve(&cat, None, &zones);
    for it in types.iter() {
        for key in WELL_KNOWN_LABELS {
            if *key == "karpenter.sh/nodepool" {
                continue;
            }
            assert!(
                it.requirements.has(key),
                "{} has no requirement on {key}",
                it.name
            );
        }
    }
    let c6a = types.iter().find(|t| t.name == "c6a.xlarge").expect("c6a");
    let nvme = c6a
        .requirements
        .get("karpenter.k8s.aws/instance-local-nvme")
        .expect("defined");
    assert_eq!(nvme.operator().as_str(), "DoesNotExist");
    let c6id = types
        .iter()
        .find(|t| t.name == "c6id.xlarge")
        .expect("c6id");
    assert!(
        c6id.requirements
            .get("karpenter.k8s.aws/instance-local-nvme")
            .is_some_and(|r| r.has("237"))
    );
    // Region and zone ids come from the NodeClass's subnets.
    assert!(
        c6a.requirements
            .get("topology.kubernetes.io/region")
            .expect("region")
            .has("us-east-1")
    );
    let ids = c6a
        .requirements
        .get("topology.k8s.aws/zone-id")
        .expect("zone-id");
    assert!(ids.has("use1-az1") && ids.has("use1-az2") && !ids.has("use1-az3"));
}

// karpenter.sh Concepts → NodeClasses → "instanceStorePolicy": with RAID0 and a requirement on
// `instance-local-nvme`, every launch is a type with local NVMe, and every pod schedules (a
// type without NVMe used to be launched, rejected by the binder, and launched again).
#[test]
fn local_nvme_requirements_launch_only_types_with_nvme() {
    let (report, decisions) = run(&shipped("scenarios/examples/instance-store.yaml"));
    let cat = Catalog::embedded("us-east-1").expect("catalog");
    assert_eq!(report.pods.unschedulable_at_end, 0, "{report:?}");
    for l in events(&decisions, "launched") {
        let name = l["instance_type"].as_str().expect("type");
        let it = cat.get(name).expect("catalog type");
        assert!(it.local_nvme_gb.is_some(), "{name} has no local NVMe");
    }
    assert!(report.nodes.launched <= 4, "{report:?}");
}

// A pod whose node affinity names a hardware label no type of its NodePool has stays pending
// with a reason; nothing is launched for it (no loop of launches the binder then refuses).
#[test]
fn a_pod_requiring_hardware_no_type_has_launches_nothing() {
    let np = nodepool(
        "default",
        "        - {key: karpenter.k8s.aws/instance-family, operator: In, values: [c6a]}",
    );
    let dep = deployment(
        "needs-nvme",
        2,
        "      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
              - matchExpressions:
                  - {key: karpenter.k8s.aws/instance-local-nvme, operator: Exists}",
    );
    let (report, decisions) = run(&scenario("", &[NODECLASS, &np, &dep]));
    assert_eq!(report.nodes.launched, 0, "{report:?}");
    assert_eq!(report.pods.unschedulable_at_end, 2);
    let reasons = unschedulable_reasons(&decisions);
    assert!(
        reasons.iter().any(|r| r.contains("instance-local-nvme")),
        "{reasons:?}"
    );
}

// ---- 6. Deprecated beta labels ------------------------------------------------------------

// Older Helm charts select `beta.kubernetes.io/os|arch` and
// `failure-domain.beta.kubernetes.io/zone`. Karpenter translates them (karpenter:
// pkg/apis/v1/labels.go `NormalizedLabels`) and the kubelet still sets them on the node
// (kubernetes: pkg/kubelet/kubelet_node_status.go), so such pods bind.
#[test]
fn pods_selecting_deprecated_beta_labels_bind() {
    let np = nodepool(
        "default",
        "        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}",
    );
    let dep = deployment(
        "legacy",
        3,
        "      nodeSelector:
        beta.kubernetes.io/os: linux
        beta.kubernetes.io/arch: amd64
        failure-domain.beta.kubernetes.io/zone: us-east-1b
        failure-domain.beta.kubernetes.io/region: us-east-1",
    );
    let (report, decisions) = run(&scenario("", &[NODECLASS, &np, &dep]));
    assert_eq!(report.pods.unschedulable_at_end, 0, "{report:?}");
    assert_eq!(report.pods.scheduled, 3);
    assert_eq!(events(&decisions, "launched").len(), 1);
    assert_eq!(report.nodes.by_zone.get("us-east-1b"), Some(&1));
}

// ---- 7. blockDeviceMappings ---------------------------------------------------------------

// aws/karpenter-provider-aws examples/v1/multiple-ebs.yaml: ephemeral storage is the AMI
// family's root device (`/dev/xvda` on AL2023), not the last mapping; the last one counts only
// for Custom AMIs (pkg/providers/instancetype/types.go `ephemeralStorage`).
#[test]
fn ephemeral_storage_comes_from_the_ami_families_device_not_the_last_mapping() {
    let nc = |family_line: &str, mappings: &str| {
        let text = format!(
            "apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {{name: default}}
spec:
  role: KarpenterNodeRole-test
{family_line}
  subnetSelectorTerms: [{{tags: {{karpenter.sh/discovery: test}}}}]
  securityGroupSelectorTerms: [{{tags: {{karpenter.sh/discovery: test}}}}]
  blockDeviceMappings:
{mappings}"
        );
        let sc = load(&scenario("", &[&text])).unwrap_or_else(|e| panic!("{e}"));
        sc.nodeclasses[0].1.clone()
    };
    let two = "    - {deviceName: /dev/xvda, ebs: {volumeSize: 20Gi}}
    - {deviceName: /dev/xvdb, ebs: {volumeSize: 100Gi}}
";
    let al2023 = nc("  amiSelectorTerms: [{alias: al2023@latest}]", two);
    assert_eq!(
        ephemeral_bytes(Some(&al2023), AmiFamily::AL2023, None),
        20 * GI
    );
    // Bottlerocket keeps its data on /dev/xvdb.
    let br = nc("  amiSelectorTerms: [{alias: bottlerocket@latest}]", two);
    assert_eq!(
        ephemeral_bytes(Some(&br), AmiFamily::Bottlerocket, None),
        100 * GI
    );
    // Custom: the last mapping.
    let custom = nc(
        "  amiFamily: Custom\n  amiSelectorTerms: [{id: ami-0123456789abcdef0}]",
        two,
    );
    assert_eq!(
        ephemeral_bytes(Some(&custom), AmiFamily::Custom, None),
        100 * GI
    );
    // `rootVolume: true` wins over the device name.
    let root = nc(
        "  amiSelectorTerms: [{alias: al2023@latest}]",
        "    - {deviceName: /dev/xvda, ebs: {volumeSize: 20Gi}}
    - {deviceName: /dev/xvdb, rootVolume: true, ebs: {volumeSize: 60Gi}}
",
    );
    assert_eq!(
        ephemeral_bytes(Some(&root), AmiFamily::AL2023, None),
        60 * GI
    );
    // The shipped example: the 50Gi pod stays pending, the others run.
    let (report, _) = run(&shipped("scenarios/examples/multiple-ebs.yaml"));
    assert_eq!(report.pods.unschedulable_at_end, 1, "{report:?}");
}

// ---- 8. Accepted settings are honoured or refused -----------------------------------------

// Windows NodePools need Windows prices and overheads the catalog lacks: refused with the
// field, never run as Linux.
#[test]
fn windows_ami_families_are_refused_with_the_field() {
    let nc = NODECLASS.replace("al2023@latest", "windows2022@latest");
    let err = refused(&scenario("", &[&nc]));
    assert!(err.contains("spec.amiSelectorTerms"), "{err}");
    assert!(err.contains("Windows2022 is not simulated"), "{err}");
}

// Static NodePools (`spec.replicas`, the StaticCapacity gate) are refused, not ignored.
#[test]
fn static_nodepools_are_refused_with_the_field() {
    let np = nodepool(
        "static",
        "        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}",
    )
    .replace("spec:\n  template:", "spec:\n  replicas: 3\n  template:");
    let err = refused(&scenario("", &[NODECLASS, &np]));
    assert!(err.contains("spec.replicas"), "{err}");
    assert!(err.contains("not simulated"), "{err}");
}

// `Gte`/`Lte` are NodePool operators; the API server refuses them in a pod's node affinity
// (kubernetes: pkg/apis/core/validation/validation.go `validateNodeSelectorRequirement`).
#[test]
fn gte_in_a_pods_node_affinity_is_refused_as_the_api_server_does() {
    let dep = deployment(
        "gte",
        1,
        "      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
              - matchExpressions:
                  - {key: karpenter.k8s.aws/instance-cpu, operator: Gte, values: [\"4\"]}",
    );
    let err = refused(&scenario("", &[&dep]));
    assert!(
        err.contains("matchExpressions[0].operator")
            && err.contains("Unsupported value: \"Gte\": supported values:"),
        "{err}"
    );
}

// MIN_VALUES_POLICY=BestEffort (karpenter: pkg/operator/options/options.go): a NodePool whose
// types cannot meet minValues still provisions, with minValues relaxed and the NodeClaim
// marked; Strict (the default) leaves the pod pending.
#[test]
fn min_values_best_effort_relaxes_min_values_that_strict_refuses() {
    let np = nodepool(
        "default",
        "        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
        - {key: karpenter.k8s.aws/instance-category, operator: In, values: [m]}
        - {key: karpenter.k8s.aws/instance-generation, operator: In, values: [\"5\"]}
        - {key: karpenter.k8s.aws/instance-family, operator: Exists, minValues: 20}",
    );
    let dep = deployment("web", 2, "");
    let strict = scenario("", &[NODECLASS, &np, &dep]);
    let (report, decisions) = run(&strict);
    assert_eq!(report.pods.unschedulable_at_end, 2);
    assert!(
        unschedulable_reasons(&decisions)
            .iter()
            .any(|r| r.contains("minValues")),
        "{decisions:#?}"
    );
    let best = scenario(
        "  karpenter:\n    settings: {minValuesPolicy: BestEffort}\n",
        &[NODECLASS, &np, &dep],
    );
    let (report, decisions) = run(&best);
    assert_eq!(report.pods.unschedulable_at_end, 0, "{report:?}");
    let created = events(&decisions, "nodeclaim-created");
    assert!(!created.is_empty());
    assert!(created.iter().all(|d| d["min_values_relaxed"] == true));
    let bad = scenario(
        "  karpenter:\n    settings: {minValuesPolicy: Sometimes}\n",
        &[NODECLASS],
    );
    // Refused when the scenario is loaded, with the line of the setting.
    let err = load(&bad).err().expect("refused").to_string();
    assert!(
        err.contains("spec.karpenter.settings.minValuesPolicy")
            && err.contains("expected Strict or BestEffort"),
        "{err}"
    );
}

// ---- 9. Reasons that say what happened ----------------------------------------------------

// A NodePool with no usable instance type names the filter that removed the last one, not
// "limits exceeded" when it has no limits.
#[test]
fn a_nodepool_without_instance_types_names_the_filter_that_removed_the_last() {
    // a1 cannot run AL2023 (AWS provider: the AMI family's compatibility).
    let a1 = nodepool(
        "graviton1",
        "        - {key: karpenter.k8s.aws/instance-family, operator: In, values: [a1]}",
    );
    let dep = deployment("web", 1, "");
    let (_, decisions) = run(&scenario("", &[NODECLASS, &a1, &dep]));
    let reasons = unschedulable_reasons(&decisions);
    assert!(
        reasons.iter().any(
            |r| r.contains("instance-family") && r.contains("cannot run the AMI family AL2023")
        ),
        "{reasons:?}"
    );
    assert!(reasons.iter().all(|r| !r.contains("limits")), "{reasons:?}");
    // A family that does not exist: the requirement is named.
    let none = nodepool(
        "typo",
        "        - {key: karpenter.k8s.aws/instance-family, operator: In, values: [m55]}",
    );
    let (_, decisions) = run(&scenario("", &[NODECLASS, &none, &dep]));
    let reasons = unschedulable_reasons(&decisions);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("satisfies the NodePool requirement") && r.contains("m55")),
        "{reasons:?}"
    );
}
