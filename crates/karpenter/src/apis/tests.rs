//! The CRDs' parsing and validation, field by field.

use asim_core::k8s::duration::{Duration, NillableDuration};
use asim_core::k8s::quantity::parse_quantity;
use asim_core::k8s::requirements::NodeSelectorOperator;
use asim_core::k8s::taints::{Taint, TaintEffect};

use super::{checker::*, durations::*, ec2nodeclass::*, enums::*, nodepool::*};

/// The getting-started NodePool and EC2NodeClass (docs/model/karpenter.md §2; aws
/// website v1.14 getting-started step 12), with the variables filled in.
const GETTING_STARTED_NODEPOOL: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: default
spec:
  template:
    spec:
      requirements:
        - key: kubernetes.io/arch
          operator: In
          values: ["amd64"]
        - key: kubernetes.io/os
          operator: In
          values: ["linux"]
        - key: karpenter.sh/capacity-type
          operator: In
          values: ["on-demand"]
        - key: karpenter.k8s.aws/instance-category
          operator: In
          values: ["c", "m", "r"]
        - key: karpenter.k8s.aws/instance-generation
          operator: Gt
          values: ["2"]
      nodeClassRef:
        group: karpenter.k8s.aws
        kind: EC2NodeClass
        name: default
      expireAfter: 720h # 30 * 24h = 720h
  limits:
    cpu: 1000
  disruption:
    consolidationPolicy: WhenEmptyOrUnderutilized
    consolidateAfter: 1m
"#;

const GETTING_STARTED_NODECLASS: &str = r#"
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata:
  name: default
spec:
  role: "KarpenterNodeRole-demo"
  amiSelectorTerms:
    - alias: "al2023@latest"
  subnetSelectorTerms:
    - tags:
        karpenter.sh/discovery: "demo"
  securityGroupSelectorTerms:
    - tags:
        karpenter.sh/discovery: "demo"
"#;

const FULL_NODEPOOL: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: gpu
  uid: 1234
  annotations: {kubernetes.io/description: "GPU pool"}
spec:
  weight: 50
  template:
    metadata:
      labels:
        team: ml
        karpenter.sh/capacity-type: spot
      annotations:
        example.com/owner: ml-platform
    spec:
      requirements:
        - key: node.kubernetes.io/instance-type
          operator: In
          values: [g5.xlarge, g5.2xlarge, g6.xlarge]
          minValues: 2
        - key: karpenter.k8s.aws/instance-gpu-count
          operator: Gte
          values: ["1"]
        - key: karpenter.k8s.aws/instance-memory
          operator: Lte
          values: ["65536"]
        - key: topology.kubernetes.io/zone
          operator: NotIn
          values: [us-east-1e]
        - key: example.com/rack
          operator: DoesNotExist
        - key: kubernetes.io/os
          operator: Exists
      taints:
        - key: nvidia.com/gpu
          value: "true"
          effect: NoSchedule
      startupTaints:
        - key: example.com/agent-not-ready
          effect: NoExecute
      nodeClassRef:
        group: karpenter.k8s.aws
        kind: EC2NodeClass
        name: gpu
      expireAfter: Never
      terminationGracePeriod: 1h30m
      futureField: {ignored: true}
  limits:
    cpu: "500"
    memory: 2000Gi
    nvidia.com/gpu: 64
  disruption:
    consolidationPolicy: WhenEmpty
    consolidateAfter: Never
    budgets:
      - nodes: "20%"
        reasons: [Empty, Drifted]
      - nodes: "0"
        schedule: "0 9 * * mon-fri"
        duration: 8h
      - nodes: "5"
        schedule: "@daily"
        duration: 1h30m
status:
  resources: {cpu: "12"}
  conditions: [{type: Ready, status: "True"}]
"#;

const KUBELET_NODECLASS: &str = r#"
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata:
  name: tuned
spec:
  amiFamily: AL2023
  amiSelectorTerms:
    - id: ami-0123456789abcdef0
    - tags: {Name: "eks-node-*"}
      owner: "123456789012"
  subnetSelectorTerms:
    - id: subnet-0aaa
    - tags: {Tier: private}
  securityGroupSelectorTerms:
    - name: eks-cluster-sg
  capacityReservationSelectorTerms:
    - id: cr-0123
  placementGroupSelector: {name: analytics}
  instanceProfile: KarpenterNodeInstanceProfile
  associatePublicIPAddress: false
  detailedMonitoring: true
  instanceStorePolicy: RAID0
  userData: |
    [settings.kubernetes]
    max-pods = 110
  tags:
    team: platform
  context: ctx-1
  metadataOptions:
    httpEndpoint: enabled
    httpProtocolIPv6: disabled
    httpPutResponseHopLimit: 2
    httpTokens: required
  kubelet:
    maxPods: 58
    podsPerCore: 4
    clusterDNS: ["10.100.0.10"]
    kubeReserved: {cpu: 200m, memory: 1Gi, ephemeral-storage: 3Gi}
    systemReserved: {cpu: 100m, memory: 100Mi, pid: 1000}
    evictionHard: {memory.available: 5%, nodefs.available: 10%, nodefs.inodesFree: 7.5%}
    evictionSoft: {memory.available: 500Mi}
    evictionSoftGracePeriod: {memory.available: 1m30s}
    evictionMaxPodGracePeriod: 60
    imageGCHighThresholdPercent: 85
    imageGCLowThresholdPercent: 80
    cpuCFSQuota: true
    someNewKubeletSetting: 3
  blockDeviceMappings:
    - deviceName: /dev/xvda
      rootVolume: true
      ebs:
        volumeSize: 100Gi
        volumeType: gp3
        iops: 10000
        throughput: 125
        encrypted: true
        deleteOnTermination: true
        kmsKeyID: arn:aws:kms:us-east-1:123456789012:key/abc
        snapshotID: snap-0123
  networkInterfaces:
    - {networkCardIndex: 0, deviceIndex: 0, interfaceType: interface}
    - {networkCardIndex: 0, deviceIndex: 1, interfaceType: efa-only}
  cpuOptions: {nestedVirtualization: disabled}
status:
  subnets: [{id: subnet-0aaa, zone: us-east-1a}]
"#;

fn nodepool(yaml: &str) -> NodePool {
    match serde_saphyr::from_str(yaml) {
        Ok(np) => np,
        Err(e) => panic!("{e}"),
    }
}

fn nodeclass(yaml: &str) -> EC2NodeClass {
    match serde_saphyr::from_str(yaml) {
        Ok(nc) => nc,
        Err(e) => panic!("{e}"),
    }
}

fn violations(err: ApiError) -> Vec<String> {
    err.violations.iter().map(ToString::to_string).collect()
}

fn with(yaml: &str, from: &str, to: &str) -> String {
    assert!(yaml.contains(from), "fixture lacks {from:?}");
    yaml.replacen(from, to, 1)
}

#[test]
fn getting_started_nodepool_parses_with_defaults() {
    let np = nodepool(GETTING_STARTED_NODEPOOL);
    np.validate().unwrap();
    assert_eq!(np.name(), "default");
    assert_eq!(np.weight(), 0);
    assert!(!np.is_static());
    let spec = &np.spec.template.spec;
    assert_eq!(spec.requirements.len(), 5);
    assert_eq!(spec.requirements[4].operator, NodeSelectorOperator::Gt);
    assert_eq!(
        spec.expire_after,
        NillableDuration::After(DEFAULT_EXPIRE_AFTER_MS)
    );
    assert_eq!(spec.termination_grace_period, None);
    assert_eq!(spec.node_class_ref.kind, "EC2NodeClass");
    assert_eq!(np.spec.limits["cpu"].to_milli_ceil(), 1_000_000);
    let d = &np.spec.disruption;
    assert_eq!(
        d.consolidation_policy,
        ConsolidationPolicy::WhenEmptyOrUnderutilized
    );
    assert_eq!(d.consolidate_after, NillableDuration::After(60_000));
    assert_eq!(d.budgets, default_budgets());
    let reqs = np.template_requirements().unwrap();
    assert!(
        reqs.get("karpenter.k8s.aws/instance-generation")
            .unwrap()
            .has("3")
    );
    assert!(
        !reqs
            .get("karpenter.k8s.aws/instance-generation")
            .unwrap()
            .has("2")
    );
    assert_eq!(reqs.labels()["karpenter.sh/nodepool"], "default");
    assert_eq!(reqs.labels()["karpenter.k8s.aws/ec2nodeclass"], "default");
    assert_eq!(reqs.labels()["kubernetes.io/arch"], "amd64");
    assert_eq!(reqs.labels()["karpenter.sh/initialized"], "true");
}

const MINIMAL_NODEPOOL: &str = r#"
metadata: {name: minimal}
spec:
  template:
    spec:
      requirements: []
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
"#;

#[test]
fn nodepool_defaults_when_disruption_and_expiry_are_absent() {
    let np = nodepool(MINIMAL_NODEPOOL);
    np.validate().unwrap();
    assert_eq!(np.spec.disruption, Disruption::default());
    assert_eq!(
        np.spec.disruption.consolidate_after,
        NillableDuration::After(0)
    );
    assert_eq!(
        np.spec.disruption.consolidation_policy,
        ConsolidationPolicy::WhenEmptyOrUnderutilized
    );
    assert_eq!(np.spec.disruption.budgets[0].nodes, "10%");
    assert_eq!(
        np.spec.template.spec.expire_after.as_millis(),
        Some(720 * 3_600_000)
    );
    assert!(np.spec.limits.is_empty());
    // A budget without nodes gets 10%.
    let np = nodepool(&format!(
        "{MINIMAL_NODEPOOL}  disruption:\n    budgets: [{{reasons: [Drifted]}}]\n"
    ));
    assert_eq!(np.spec.disruption.budgets[0].nodes, "10%");
    // An explicit empty budget list stays empty: nothing constrains disruption.
    let np = nodepool(&format!(
        "{MINIMAL_NODEPOOL}  disruption:\n    budgets: []\n"
    ));
    assert!(np.spec.disruption.budgets.is_empty());
    assert_eq!(
        np.allowed_disruptions(DisruptionReason::Empty, 10, |_| true),
        u32::MAX
    );
}

#[test]
fn full_nodepool_parses_every_field_and_ignores_unknown_ones() {
    let np = nodepool(FULL_NODEPOOL);
    np.validate().unwrap();
    assert_eq!(np.weight(), 50);
    let t = &np.spec.template;
    assert_eq!(t.metadata.labels["team"], "ml");
    assert_eq!(t.metadata.annotations["example.com/owner"], "ml-platform");
    let spec = &t.spec;
    assert_eq!(spec.requirements[0].min_values, Some(2));
    assert_eq!(spec.requirements[1].operator, NodeSelectorOperator::Gte);
    assert_eq!(
        spec.requirements[4].operator,
        NodeSelectorOperator::DoesNotExist
    );
    assert_eq!(
        spec.taints,
        [Taint::new(
            "nvidia.com/gpu",
            Some("true"),
            TaintEffect::NoSchedule
        )]
    );
    assert_eq!(spec.startup_taints[0].effect, TaintEffect::NoExecute);
    assert_eq!(spec.expire_after, NillableDuration::Never);
    assert_eq!(spec.termination_grace_period, Some(Duration(5_400_000)));
    assert_eq!(np.spec.limits["memory"].to_units_ceil(), 2000 << 30);
    assert_eq!(np.spec.limits["nvidia.com/gpu"].to_units_ceil(), 64);
    let d = &np.spec.disruption;
    assert_eq!(d.consolidation_policy, ConsolidationPolicy::WhenEmpty);
    assert!(d.consolidate_after.is_never());
    assert_eq!(d.budgets.len(), 3);
    assert_eq!(
        d.budgets[0].reasons.as_deref(),
        Some(&[DisruptionReason::Empty, DisruptionReason::Drifted][..])
    );
    assert_eq!(d.budgets[1].schedule.as_deref(), Some("0 9 * * mon-fri"));
    assert_eq!(d.budgets[1].duration, Some(Duration(8 * 3_600_000)));
    assert_eq!(d.budgets[2].duration, Some(Duration(5_400_000)));
    let reqs = np.template_requirements().unwrap();
    assert!(
        reqs.get("karpenter.k8s.aws/instance-gpu-count")
            .unwrap()
            .has("1")
    );
    assert!(
        !reqs
            .get("karpenter.k8s.aws/instance-memory")
            .unwrap()
            .has("65537")
    );
    assert_eq!(
        reqs.get("node.kubernetes.io/instance-type")
            .unwrap()
            .min_values(),
        Some(2)
    );
}

#[test]
fn budget_allowed_disruptions_rounds_percentages_up() {
    let b = |nodes: &str| Budget {
        nodes: nodes.to_string(),
        schedule: None,
        duration: None,
        reasons: None,
    };
    assert_eq!(b("10%").allowed_disruptions(10), 1);
    assert_eq!(b("10%").allowed_disruptions(11), 2);
    assert_eq!(b("30%").allowed_disruptions(10), 3);
    assert_eq!(b("50%").allowed_disruptions(3), 2);
    assert_eq!(b("100%").allowed_disruptions(7), 7);
    assert_eq!(b("0%").allowed_disruptions(100), 0);
    assert_eq!(b("10%").allowed_disruptions(0), 0);
    assert_eq!(b("5").allowed_disruptions(2), 5);
    assert_eq!(b("0").allowed_disruptions(10), 0);
    assert_eq!(
        b("99999999999").nodes_value(),
        Some(BudgetNodes::Count(u32::MAX))
    );
    // Invalid values fail closed.
    assert_eq!(b("110%").allowed_disruptions(10), 0);
    assert_eq!(b("ten").allowed_disruptions(10), 0);
}

#[test]
fn nodepool_allowed_disruptions_takes_the_minimum_applicable_active_budget() {
    let np = nodepool(FULL_NODEPOOL);
    let always = |_: &Budget| true;
    // Budget 0 (20%, Empty/Drifted), budget 1 (0, scheduled), budget 2 (5, scheduled).
    assert_eq!(
        np.allowed_disruptions(DisruptionReason::Empty, 10, always),
        0
    );
    let unscheduled_only = |b: &Budget| b.schedule.is_none();
    assert_eq!(
        np.allowed_disruptions(DisruptionReason::Empty, 10, unscheduled_only),
        2
    );
    assert_eq!(
        np.allowed_disruptions(DisruptionReason::Drifted, 11, unscheduled_only),
        3
    );
    assert_eq!(
        np.allowed_disruptions(DisruptionReason::Underutilized, 10, unscheduled_only),
        u32::MAX
    );
    let not_zero = |b: &Budget| b.nodes != "0";
    assert_eq!(
        np.allowed_disruptions(DisruptionReason::Underutilized, 10, not_zero),
        5
    );
}

#[test]
fn nodepool_weight_must_be_between_1_and_100() {
    for w in ["0", "101", "-5"] {
        let np = nodepool(&with(FULL_NODEPOOL, "weight: 50", &format!("weight: {w}")));
        let v = violations(np.validate().unwrap_err());
        assert_eq!(
            v,
            [format!("spec.weight: must be between 1 and 100, found {w}")]
        );
    }
    nodepool(&with(FULL_NODEPOOL, "weight: 50", "weight: 100"))
        .validate()
        .unwrap();
}

#[test]
fn nodepool_rejects_wrong_types_and_unknown_enum_values() {
    let cases = [
        ("weight: 50", "weight: heavy"),
        (
            "consolidationPolicy: WhenEmpty",
            "consolidationPolicy: WhenUnderutilized",
        ),
        ("operator: Gte", "operator: Equals"),
        ("effect: NoSchedule", "effect: Sometimes"),
        ("memory: 2000Gi", "memory: 2000Qi"),
        ("expireAfter: Never", "expireAfter: 5 minutes"),
        ("expireAfter: Never", "expireAfter: 1.5h"),
        ("expireAfter: Never", "expireAfter: 500ms"),
        (
            "terminationGracePeriod: 1h30m",
            "terminationGracePeriod: Never",
        ),
        ("consolidateAfter: Never", "consolidateAfter: never"),
        ("reasons: [Empty, Drifted]", "reasons: [Empty, Expired]"),
        ("duration: 8h", "duration: 30s"),
        ("minValues: 2", "minValues: -1"),
        (
            "    spec:\n      requirements:",
            "    spec:\n      requirementz:",
        ),
    ];
    for (from, to) in cases {
        let yaml = with(FULL_NODEPOOL, from, to);
        assert!(
            serde_saphyr::from_str::<NodePool>(&yaml).is_err(),
            "{to} was accepted"
        );
    }
    let err = serde_saphyr::from_str::<NodePool>(&with(
        FULL_NODEPOOL,
        "consolidationPolicy: WhenEmpty",
        "consolidationPolicy: WhenUnderutilized",
    ))
    .unwrap_err();
    assert!(
            err.to_string().contains(
                "unknown consolidation policy \"WhenUnderutilized\" (expected WhenEmpty, WhenEmptyOrUnderutilized, Balanced)"
            ),
            "{err}"
        );
    let err = serde_saphyr::from_str::<NodePool>(&with(
        FULL_NODEPOOL,
        "expireAfter: Never",
        "expireAfter: 1.5h",
    ))
    .unwrap_err();
    assert!(
        err.to_string().contains("whole numbers with units s, m, h"),
        "{err}"
    );
    let missing = with(
        GETTING_STARTED_NODEPOOL,
        "      nodeClassRef:\n        group: karpenter.k8s.aws\n        kind: EC2NodeClass\n        name: default\n",
        "",
    );
    let err = serde_saphyr::from_str::<NodePool>(&missing).unwrap_err();
    assert!(err.to_string().contains("nodeClassRef"), "{err}");
}

#[test]
fn nodepool_rejects_restricted_requirement_keys() {
    for (key, expect) in [
        (
            "karpenter.sh/nodepool",
            "label \"karpenter.sh/nodepool\" is restricted",
        ),
        (
            "kubernetes.io/hostname",
            "label \"kubernetes.io/hostname\" is restricted",
        ),
        (
            "karpenter.sh/custom",
            "label domain \"karpenter.sh\" is restricted",
        ),
        (
            "sub.karpenter.k8s.aws/x",
            "label domain \"karpenter.k8s.aws\" is restricted",
        ),
        (
            "karpenter.k8s.aws/instance-foo",
            "label domain \"karpenter.k8s.aws\" is restricted",
        ),
    ] {
        let np = nodepool(&with(
            FULL_NODEPOOL,
            "key: example.com/rack",
            &format!("key: {key}"),
        ));
        let v = violations(np.validate().unwrap_err());
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].starts_with("spec.template.spec.requirements[4]: "),
            "{v:?}"
        );
        assert!(v[0].contains(expect), "{v:?}");
    }
    // Well-known labels in restricted domains are fine, as are normalised beta keys.
    for key in [
        "karpenter.sh/capacity-type",
        "karpenter.k8s.aws/instance-family",
        "beta.kubernetes.io/arch",
    ] {
        nodepool(&with(
            FULL_NODEPOOL,
            "key: example.com/rack",
            &format!("key: {key}"),
        ))
        .validate()
        .unwrap();
    }
}

#[test]
fn nodepool_rejects_restricted_template_labels() {
    let np = nodepool(&with(
        FULL_NODEPOOL,
        "team: ml",
        "karpenter.sh/nodepool: other",
    ));
    let v = violations(np.validate().unwrap_err());
    assert_eq!(
        v,
        [
            "spec.template.metadata.labels[karpenter.sh/nodepool]: label \"karpenter.sh/nodepool\" is restricted"
        ]
    );
    let np = nodepool(&with(FULL_NODEPOOL, "team: ml", "team: \"not valid\""));
    assert!(np.validate().is_err());
}

#[test]
fn nodepool_validates_requirement_values_and_counts() {
    let np = nodepool(&with(FULL_NODEPOOL, "values: [\"1\"]", "values: [\"-1\"]"));
    assert!(violations(np.validate().unwrap_err())[0].contains("single positive integer"));
    let np = nodepool(&with(FULL_NODEPOOL, "values: [\"1\"]", "values: [\"one\"]"));
    assert!(violations(np.validate().unwrap_err())[0].contains("exactly one integer"));
    let np = nodepool(&with(FULL_NODEPOOL, "minValues: 2", "minValues: 4"));
    assert!(violations(np.validate().unwrap_err())[0].contains("minValues is 4"));
    let np = nodepool(&with(
        GETTING_STARTED_NODEPOOL,
        "values: [\"on-demand\"]",
        "values: [\"ondemand\"]",
    ));
    assert!(violations(np.validate().unwrap_err())[0].contains("no valid values found"));
    // More than 100 requirements.
    let many: String = (0..101)
        .map(|i| format!("        - {{key: example.com/k{i}, operator: Exists}}\n"))
        .collect();
    let np = nodepool(&with(
        GETTING_STARTED_NODEPOOL,
        "      requirements:\n",
        &format!("      requirements:\n{many}"),
    ));
    assert!(
        violations(np.validate().unwrap_err())[0].contains("at most 100 requirements, found 106")
    );
}

#[test]
fn nodepool_validates_budgets() {
    let np = nodepool(&with(FULL_NODEPOOL, "nodes: \"20%\"", "nodes: \"110%\""));
    assert!(
        violations(np.validate().unwrap_err())[0]
            .starts_with("spec.disruption.budgets[0].nodes: must be")
    );
    let np = nodepool(&with(FULL_NODEPOOL, "        duration: 8h\n", ""));
    assert_eq!(
        violations(np.validate().unwrap_err()),
        ["spec.disruption.budgets[1]: 'schedule' must be set with 'duration'"]
    );
    let np = nodepool(&with(
        FULL_NODEPOOL,
        "schedule: \"0 9 * * mon-fri\"",
        "schedule: \"0 9 * *\"",
    ));
    assert!(violations(np.validate().unwrap_err())[0].contains("cron expression with 5 fields"));
    let np = nodepool(&with(
        FULL_NODEPOOL,
        "schedule: \"@daily\"",
        "schedule: \"@every 1h\"",
    ));
    assert!(np.validate().is_err());
    let np = nodepool(&with(FULL_NODEPOOL, "duration: 8h", "duration: 8h30m0s"));
    np.validate().unwrap();
    let np = nodepool(&with(
        FULL_NODEPOOL,
        "reasons: [Empty, Drifted]",
        "reasons: [Empty, Empty]",
    ));
    assert!(violations(np.validate().unwrap_err())[0].contains("must not repeat"));
}

#[test]
fn nodepool_validates_taints_and_node_class_ref() {
    let np = nodepool(&with(
        FULL_NODEPOOL,
        "key: example.com/agent-not-ready\n          effect: NoExecute",
        "key: nvidia.com/gpu\n          effect: NoSchedule",
    ));
    assert!(
        violations(np.validate().unwrap_err())[0]
            .contains("duplicate taint Key/Effect pair nvidia.com/gpu=NoSchedule")
    );
    let np = nodepool(&with(FULL_NODEPOOL, "kind: EC2NodeClass", "kind: \"\""));
    assert_eq!(
        violations(np.validate().unwrap_err()),
        ["spec.template.spec.nodeClassRef.kind: kind may not be empty"]
    );
}

#[test]
fn static_nodepool_keeps_replicas_and_rejects_weight_and_resource_limits() {
    let np = nodepool(&with(FULL_NODEPOOL, "weight: 50", "replicas: 3"));
    assert!(np.is_static());
    assert_eq!(np.spec.replicas, Some(3));
    let v = violations(np.validate().unwrap_err());
    assert_eq!(
        v,
        ["spec.limits: only 'limits.nodes' is supported on static NodePools"]
    );
    let np = nodepool(&with(
        GETTING_STARTED_NODEPOOL,
        "  limits:\n    cpu: 1000\n",
        "  replicas: 2\n  weight: 5\n",
    ));
    assert_eq!(
        violations(np.validate().unwrap_err()),
        ["spec.weight: 'weight' is not supported on static NodePools"]
    );
}

#[test]
fn getting_started_nodeclass_infers_al2023_from_alias() {
    let nc = nodeclass(GETTING_STARTED_NODECLASS);
    nc.validate().unwrap();
    assert_eq!(nc.effective_ami_family(), AmiFamily::Al2023);
    assert_eq!(
        nc.alias(),
        Some(AmiAlias {
            family: AmiFamily::Al2023,
            version: "latest".to_string()
        })
    );
    assert_eq!(nc.spec.role.as_deref(), Some("KarpenterNodeRole-demo"));
    assert_eq!(nc.spec.kubelet, KubeletConfiguration::default());
    assert!(nc.root_volume().is_none());
}

#[test]
fn effective_ami_family_from_each_alias_and_override() {
    for (alias, family) in [
        ("al2@latest", AmiFamily::Al2),
        ("al2023@v20240807", AmiFamily::Al2023),
        ("bottlerocket@1.20.0", AmiFamily::Bottlerocket),
        ("windows2019@latest", AmiFamily::Windows2019),
        ("windows2022@latest", AmiFamily::Windows2022),
        ("windows2025@latest", AmiFamily::Windows2025),
    ] {
        let nc = nodeclass(&with(GETTING_STARTED_NODECLASS, "al2023@latest", alias));
        nc.validate().unwrap();
        assert_eq!(nc.effective_ami_family(), family, "{alias}");
    }
    let custom = with(
        GETTING_STARTED_NODECLASS,
        "  role:",
        "  amiFamily: Custom\n  role:",
    );
    let nc = nodeclass(&custom);
    nc.validate().unwrap();
    assert_eq!(nc.effective_ami_family(), AmiFamily::Custom);
    assert_eq!(
        nodeclass(KUBELET_NODECLASS).effective_ami_family(),
        AmiFamily::Al2023
    );
}

#[test]
fn nodeclass_with_kubelet_overrides_parses_every_field() {
    let nc = nodeclass(KUBELET_NODECLASS);
    nc.validate().unwrap();
    let k = &nc.spec.kubelet;
    assert_eq!(k.max_pods, Some(58));
    assert_eq!(k.pods_per_core, Some(4));
    assert_eq!(k.cluster_dns, ["10.100.0.10"]);
    assert_eq!(k.kube_reserved["cpu"].to_milli_ceil(), 200);
    assert_eq!(k.kube_reserved["memory"].to_units_ceil(), 1 << 30);
    assert_eq!(k.system_reserved["pid"].to_units_ceil(), 1000);
    assert_eq!(
        k.eviction_hard["memory.available"],
        EvictionThreshold::PercentHundredths(500)
    );
    assert_eq!(
        k.eviction_hard["nodefs.inodesFree"],
        EvictionThreshold::PercentHundredths(750)
    );
    assert_eq!(
        k.eviction_soft["memory.available"],
        EvictionThreshold::Quantity(parse_quantity("500Mi").unwrap())
    );
    assert_eq!(
        k.eviction_soft_grace_period["memory.available"],
        Duration(90_000)
    );
    assert_eq!(k.eviction_max_pod_grace_period, Some(60));
    assert_eq!(
        (
            k.image_gc_high_threshold_percent,
            k.image_gc_low_threshold_percent
        ),
        (Some(85), Some(80))
    );
    assert_eq!(k.cpu_cfs_quota, Some(true));
    let root = nc.root_volume().unwrap();
    let ebs = root.ebs.as_ref().unwrap();
    assert_eq!(ebs.volume_size.unwrap().to_units_ceil(), 100 << 30);
    assert_eq!(ebs.volume_type, Some(VolumeType::Gp3));
    assert_eq!(
        ebs.kms_key_id.as_deref(),
        Some("arn:aws:kms:us-east-1:123456789012:key/abc")
    );
    assert_eq!(ebs.snapshot_id.as_deref(), Some("snap-0123"));
    assert_eq!((ebs.iops, ebs.throughput), (Some(10_000), Some(125)));
    assert_eq!(
        nc.spec.instance_store_policy,
        Some(InstanceStorePolicy::Raid0)
    );
    assert_eq!(
        nc.spec.network_interfaces[1].interface_type,
        InterfaceType::EfaOnly
    );
    let m = nc.spec.metadata_options.as_ref().unwrap();
    assert_eq!(m.http_tokens, Some(HttpTokens::Required));
    assert_eq!(m.http_protocol_ipv6, Some(MetadataEndpointState::Disabled));
    assert_eq!(m.http_put_response_hop_limit, Some(2));
    assert_eq!(nc.spec.associate_public_ip_address, Some(false));
    assert_eq!(nc.spec.detailed_monitoring, Some(true));
    assert_eq!(
        nc.spec.instance_profile.as_deref(),
        Some("KarpenterNodeInstanceProfile")
    );
    assert_eq!(
        nc.spec
            .placement_group_selector
            .as_ref()
            .unwrap()
            .name
            .as_deref(),
        Some("analytics")
    );
    assert_eq!(
        nc.spec.capacity_reservation_selector_terms[0].id.as_deref(),
        Some("cr-0123")
    );
    assert_eq!(
        nc.spec.ami_selector_terms[1].owner.as_deref(),
        Some("123456789012")
    );
    assert!(nc.spec.user_data.as_deref().unwrap().contains("max-pods"));
    assert_eq!(nc.spec.context.as_deref(), Some("ctx-1"));
    assert!(nc.spec.cpu_options.is_some());
}

#[test]
fn nodeclass_rejects_wrong_types_and_enums() {
    for (from, to) in [
        ("amiFamily: AL2023", "amiFamily: Ubuntu"),
        ("volumeType: gp3", "volumeType: gp4"),
        ("volumeSize: 100Gi", "volumeSize: 100Gb"),
        ("interfaceType: efa-only", "interfaceType: efa"),
        ("maxPods: 58", "maxPods: many"),
        ("httpTokens: required", "httpTokens: always"),
        ("instanceStorePolicy: RAID0", "instanceStorePolicy: RAID1"),
        ("memory.available: 5%", "memory.available: 5.555%"),
        ("memory.available: 1m30s", "memory.available: 90"),
        ("cpu: 200m", "cpu: lots"),
        ("  subnetSelectorTerms:", "  subnetSelectorTermz:"),
    ] {
        let yaml = with(KUBELET_NODECLASS, from, to);
        assert!(
            serde_saphyr::from_str::<EC2NodeClass>(&yaml).is_err(),
            "{to} was accepted"
        );
    }
    let err = serde_saphyr::from_str::<EC2NodeClass>(&with(
        KUBELET_NODECLASS,
        "amiFamily: AL2023",
        "amiFamily: Ubuntu",
    ))
    .unwrap_err();
    assert!(
            err.to_string().contains(
                "unknown AMI family \"Ubuntu\" (expected AL2, AL2023, Bottlerocket, Custom, Windows2019, Windows2022, Windows2025)"
            ),
            "{err}"
        );
}

#[test]
fn nodeclass_validation_rules() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            GETTING_STARTED_NODECLASS,
            "  role: \"KarpenterNodeRole-demo\"\n",
            "",
            "exactly one of ['role', 'instanceProfile']",
        ),
        (
            GETTING_STARTED_NODECLASS,
            "  role:",
            "  instanceProfile: x\n  role:",
            "exactly one of ['role', 'instanceProfile']",
        ),
        (
            GETTING_STARTED_NODECLASS,
            "  role:",
            "  amiFamily: Bottlerocket\n  role:",
            "amiFamily must be 'AL2023' or 'Custom'",
        ),
        (
            GETTING_STARTED_NODECLASS,
            "al2023@latest",
            "windows2022@2024",
            "windows families may only specify version 'latest'",
        ),
        (
            GETTING_STARTED_NODECLASS,
            "al2023@latest",
            "ubuntu@latest",
            "must match 'family@version'",
        ),
        (
            GETTING_STARTED_NODECLASS,
            "    - alias: \"al2023@latest\"\n",
            "    - alias: \"al2023@latest\"\n    - id: ami-123\n",
            "'alias' is mutually exclusive",
        ),
        (
            KUBELET_NODECLASS,
            "  amiFamily: AL2023\n",
            "",
            "must specify amiFamily if amiSelectorTerms does not contain an alias",
        ),
        (
            KUBELET_NODECLASS,
            "imageGCLowThresholdPercent: 80",
            "imageGCLowThresholdPercent: 85",
            "imageGCHighThresholdPercent must be greater",
        ),
        (
            KUBELET_NODECLASS,
            "    evictionSoftGracePeriod: {memory.available: 1m30s}\n",
            "",
            "does not have a matching evictionSoftGracePeriod",
        ),
        (
            KUBELET_NODECLASS,
            "ephemeral-storage: 3Gi",
            "gpu: 1",
            "valid keys for kubeReserved",
        ),
        (
            KUBELET_NODECLASS,
            "cpu: 100m, memory: 100Mi",
            "cpu: -100m, memory: 100Mi",
            "systemReserved value cannot be a negative",
        ),
        (
            KUBELET_NODECLASS,
            "nodefs.inodesFree: 7.5%",
            "disk.available: 7.5%",
            "valid keys for evictionHard",
        ),
        (
            KUBELET_NODECLASS,
            "  networkInterfaces:\n",
            "    - deviceName: /dev/xvdb\n      rootVolume: true\n      ebs: {volumeSize: 20Gi}\n  networkInterfaces:\n",
            "only one blockDeviceMappings with rootVolume",
        ),
        (
            KUBELET_NODECLASS,
            "volumeSize: 100Gi",
            "volumeSize: 100Ti",
            "between 1Gi and 64T",
        ),
        (
            KUBELET_NODECLASS,
            "  networkInterfaces:\n",
            "    - deviceName: /dev/xvdc\n      ebs: {volumeType: gp2}\n  networkInterfaces:\n",
            "snapshotID or volumeSize must be defined",
        ),
        (
            KUBELET_NODECLASS,
            "    - {networkCardIndex: 0, deviceIndex: 0, interfaceType: interface}\n",
            "",
            "must include a primary interface",
        ),
        (
            KUBELET_NODECLASS,
            "deviceIndex: 1, interfaceType: efa-only",
            "deviceIndex: 0, interfaceType: efa-only",
            "duplicate networkCardIndex and deviceIndex",
        ),
        (
            KUBELET_NODECLASS,
            "httpPutResponseHopLimit: 2",
            "httpPutResponseHopLimit: 65",
            "between 1 and 64",
        ),
        (
            KUBELET_NODECLASS,
            "placementGroupSelector: {name: analytics}",
            "placementGroupSelector: {name: analytics, id: pg-1}",
            "'name' and 'id' are mutually exclusive",
        ),
        (
            KUBELET_NODECLASS,
            "    team: platform",
            "    kubernetes.io/cluster/demo: owned",
            "restricted tag matching kubernetes.io/cluster/",
        ),
        (
            KUBELET_NODECLASS,
            "  securityGroupSelectorTerms:\n    - name: eks-cluster-sg\n",
            "  securityGroupSelectorTerms: []\n",
            "securityGroupSelectorTerms must have between 1 and 30 terms",
        ),
        (
            KUBELET_NODECLASS,
            "    - id: subnet-0aaa\n    - tags: {Tier: private}\n",
            "    - {}\n",
            "expected at least one, got none, ['tags', 'id']",
        ),
        (
            KUBELET_NODECLASS,
            "- tags: {Tier: private}",
            "- tags: {Tier: \"\"}",
            "empty tag keys or values",
        ),
        (
            KUBELET_NODECLASS,
            "- id: ami-0123456789abcdef0",
            "- id: img-1",
            "must look like ami-",
        ),
        (
            KUBELET_NODECLASS,
            "owner: \"123456789012\"",
            "id: ami-0123",
            "'id' is mutually exclusive",
        ),
    ];
    for (base, from, to, expect) in cases {
        let nc = nodeclass(&with(base, from, to));
        let err = match nc.validate() {
            Ok(()) => panic!("{to:?} passed validation"),
            Err(e) => e,
        };
        assert!(err.to_string().contains(expect), "{to:?}: {err}");
        assert!(err.to_string().starts_with("EC2NodeClass \""), "{err}");
    }
}

#[test]
fn api_error_names_object_and_every_field() {
    let np = nodepool(&with(
        &with(FULL_NODEPOOL, "weight: 50", "weight: 0"),
        "nodes: \"20%\"",
        "nodes: \"abc\"",
    ));
    let err = np.validate().unwrap_err();
    assert_eq!(err.violations.len(), 2);
    let text = err.to_string();
    assert!(text.starts_with("NodePool \"gpu\" is invalid: spec.weight: must be between 1 and 100, found 0; spec.disruption.budgets[0].nodes:"), "{text}");
    let np = nodepool(&with(
        GETTING_STARTED_NODEPOOL,
        "kind: NodePool",
        "kind: NodePools",
    ));
    assert_eq!(
        violations(np.validate().unwrap_err()),
        ["kind: expected NodePool, found \"NodePools\""]
    );
}

#[test]
fn crd_duration_patterns() {
    for ok in ["0", "0s", "30s", "1m", "720h", "1h30m", "1h0m0s", "90s"] {
        assert!(is_crd_duration(ok), "{ok}");
    }
    for bad in ["", "1.5h", "500ms", "1d", "h", "1h30", "-1s"] {
        assert!(!is_crd_duration(bad), "{bad}");
    }
    for ok in ["8h", "30m", "1h30m", "8h0s", "1h30m0s", "0m"] {
        assert!(is_budget_duration_text(ok), "{ok}");
    }
    for bad in ["30s", "10s", "0s", "1h30m10s", "h", "1.5h"] {
        assert!(!is_budget_duration_text(bad), "{bad}");
    }
}

#[test]
fn eviction_threshold_percentages() {
    let p = |s: &str| s.parse::<EvictionThreshold>();
    assert_eq!(p("10%"), Ok(EvictionThreshold::PercentHundredths(1000)));
    assert_eq!(p("7.5%"), Ok(EvictionThreshold::PercentHundredths(750)));
    assert_eq!(p("0.25%"), Ok(EvictionThreshold::PercentHundredths(25)));
    assert_eq!(p("100%"), Ok(EvictionThreshold::PercentHundredths(10_000)));
    for bad in ["101%", "5.555%", "%", "5.%", "a%", "1000%"] {
        assert!(p(bad).is_err(), "{bad}");
    }
    assert!(matches!(p("100Mi"), Ok(EvictionThreshold::Quantity(_))));
}
