//! Zonal persistent volumes (docs/model/scheduler.md §3, issue 15 item 2): a claim of a zonal
//! StorageClass binds a volume in one zone, and from then on its pods run only there — in the
//! binder (kube-scheduler's VolumeBinding and VolumeZone plugins), in Karpenter's provisioning
//! (its volume topology) and in cluster-autoscaler's scale-up and scale-down simulations.
//! StatefulSet pods keep their ordinal names, and so their claims, when recreated.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use autoscale_sim::cluster::pod::{HOSTNAME_KEY, ZONE_KEY};
use autoscale_sim::cluster::scheduler::SchedulerSettings;
use autoscale_sim::cluster::volume::{ClaimSpec, StorageClass, VolumeBindingMode, Volumes};
use autoscale_sim::cluster::{
    Cluster, ControllerRef, EndReason, Node, NodeId, OwnerKind, PodId, PodPhase, PodTemplate,
    ReplicaController, terminal_phase,
};
use autoscale_sim::engine::SimTime;
use autoscale_sim::k8s::resources::Resources;
use autoscale_sim::k8s::selector::Labels;
use autoscale_sim::run::{make_autoscaler, run_to_end};
use autoscale_sim::workload::AutoscalerKind;
use serde_json::{Value, json};

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A Ready 2-vCPU node in `zone`.
fn node(name: &str, zone: &str) -> Node {
    common::ready_node(
        name,
        labels(&[(HOSTNAME_KEY, name), (ZONE_KEY, zone)]),
        2_000,
        8 << 30,
    )
}

fn ebs(mode: VolumeBindingMode) -> StorageClass {
    StorageClass {
        name: "gp3".into(),
        binding_mode: mode,
        zonal: true,
        allowed_zones: Vec::new(),
    }
}

/// A cluster with a StatefulSet `db` of `replicas` 1-vCPU pods, each with a `data` claim of
/// the `gp3` class; its pods created and queued.
fn statefulset(c: &mut Cluster, replicas: u32) -> Vec<PodId> {
    let mut requests = Resources::new(1_000, 1 << 30);
    requests.pods = 1;
    c.replica_sets.push(ReplicaController {
        kind: OwnerKind::StatefulSet,
        name: "db".into(),
        namespace: "default".into(),
        replicas,
        template: Arc::new(PodTemplate {
            namespace: "default".into(),
            labels: labels(&[("app", "db")]),
            requests,
            termination_grace_ms: 30_000,
            ..Default::default()
        }),
        pods: BTreeSet::new(),
        terminating: 0,
        next_ordinal: 0,
        claim_templates: vec![ClaimSpec {
            name: "data".into(),
            storage_class: Some("gp3".into()),
        }],
    });
    let (created, _) = c.reconcile(ControllerRef::Replicas(0), SimTime::ZERO, false);
    for p in &created {
        c.pod_mut(*p).queued = true;
    }
    created
}

/// Evict a bound pod to its end (a drain's eviction, the grace period over) and let the
/// StatefulSet replace it; the replacement is queued.
fn evict(c: &mut Cluster, pod: PodId, at: u64) -> Vec<PodId> {
    c.begin_termination(pod, SimTime(at), EndReason::Evicted);
    let ctrl = c
        .end_pod(pod, SimTime(at + 1_000), terminal_phase(EndReason::Evicted))
        .expect("a controller");
    let (created, _) = c.reconcile(ctrl, SimTime(at + 1_000), true);
    for p in &created {
        c.pod_mut(*p).queued = true;
    }
    created
}

fn zone_of(c: &Cluster, n: NodeId) -> String {
    c.node(n)
        .and_then(|n| n.label(ZONE_KEY))
        .expect("a zone")
        .to_string()
}

/// kube-scheduler's VolumeBinding plugin (kubernetes:
/// pkg/scheduler/framework/plugins/volumebinding/binder.go): a WaitForFirstConsumer claim is
/// provisioned when its first pod is bound, in that node's zone; VolumeZone
/// (plugins/volumezone/volume_zone.go) then keeps the pod's replacement in that zone — with
/// the zone's only node cordoned it stays pending although the other zone has room, with the
/// upstream reason, and binds once a node of its zone appears.
#[test]
fn wait_for_first_consumer_binds_in_the_first_nodes_zone_and_the_pod_stays_in_it() {
    let mut c = Cluster::new(SchedulerSettings::default());
    c.volumes = Volumes::new([ebs(VolumeBindingMode::WaitForFirstConsumer)], Vec::new());
    let a = c.add_node(node("a", "us-east-1a"));
    c.add_node(node("b", "us-east-1b"));
    let pods = statefulset(&mut c, 1);
    let claim = c.volumes.by_name("default", "data-db-0").expect("claim");
    assert!(
        !c.volumes.claim(claim).bound,
        "unbound until a pod is bound"
    );
    assert_eq!(c.pod(pods[0]).template.volume_zones, None);

    let pass = c.schedule_pass(SimTime(1_000));
    assert_eq!(pass.bound, vec![(pods[0], a)]);
    assert_eq!(
        c.volumes.claim(claim).zone.as_deref(),
        Some("us-east-1a"),
        "provisioned in the zone of the pod's first node"
    );

    c.node_mut(a).expect("node").unschedulable = true;
    let again = evict(&mut c, pods[0], 60_000);
    assert_eq!(again.len(), 1);
    let pass = c.schedule_pass(SimTime(62_000));
    assert!(pass.bound.is_empty(), "node b is in the wrong zone");
    let reason = c
        .pod(again[0])
        .unschedulable_reason
        .clone()
        .expect("reason");
    assert!(
        reason.contains("1 node(s) had volume node affinity conflict"),
        "{reason}"
    );

    let a2 = c.add_node(node("a2", "us-east-1a"));
    let pass = c.schedule_pass(SimTime(120_000));
    assert_eq!(pass.bound, vec![(again[0], a2)]);
    assert_eq!(zone_of(&c, a2), "us-east-1a");
}

/// The StatefulSet controller (kubernetes: pkg/controller/statefulset/stateful_set_control.go)
/// keeps one pod per ordinal: the replacement of `db-1` is `db-1` again, mounting the same
/// claim, created only once the old pod is gone (a terminating pod still holds its name); a
/// scale-down removes the highest ordinals.
#[test]
fn statefulset_pods_keep_their_ordinal_names_and_claims_when_recreated() {
    let mut c = Cluster::new(SchedulerSettings::default());
    c.volumes = Volumes::new([ebs(VolumeBindingMode::WaitForFirstConsumer)], Vec::new());
    c.add_node(node("a", "us-east-1a"));
    c.add_node(node("b", "us-east-1b"));
    let pods = statefulset(&mut c, 3);
    let names: Vec<&str> = pods.iter().map(|p| c.pod(*p).name.as_str()).collect();
    assert_eq!(names, ["db-0", "db-1", "db-2"]);
    c.schedule_pass(SimTime(1_000));
    let claim = c.pod(pods[1]).claims.clone();

    // Terminating: no replacement yet.
    c.begin_termination(pods[1], SimTime(60_000), EndReason::Evicted);
    let (created, _) = c.reconcile(ControllerRef::Replicas(0), SimTime(60_000), true);
    assert!(created.is_empty(), "db-1 still holds its name");
    let ctrl = c
        .end_pod(pods[1], SimTime(61_000), PodPhase::Evicted)
        .expect("controller");
    let (created, _) = c.reconcile(ctrl, SimTime(61_000), true);
    assert_eq!(created.len(), 1);
    let p = c.pod(created[0]);
    assert_eq!(p.name, "db-1");
    assert_eq!(p.ordinal, Some(1));
    assert_eq!(p.claims, claim, "the same claim, data-db-1");

    c.replica_sets[0].replicas = 1;
    let (_, deleted) = c.reconcile(ControllerRef::Replicas(0), SimTime(70_000), false);
    let names: Vec<&str> = deleted.iter().map(|p| c.pod(*p).name.as_str()).collect();
    assert_eq!(names, ["db-2", "db-1"]);
}

/// A claim of an Immediate class is bound at creation, in a zone of the class's
/// `allowedTopologies` (docs/model/scheduler.md §3); a pod mounting it is limited to that zone
/// before it is ever scheduled.
#[test]
fn an_immediate_claim_is_bound_at_creation_and_limits_its_first_pod() {
    let mut c = Cluster::new(SchedulerSettings::default());
    let mut class = ebs(VolumeBindingMode::Immediate);
    class.allowed_zones = vec!["us-east-1b".into()];
    c.volumes = Volumes::new([class], vec!["us-east-1a".into(), "us-east-1b".into()]);
    c.add_node(node("a", "us-east-1a"));
    let b = c.add_node(node("b", "us-east-1b"));
    let pods = statefulset(&mut c, 1);
    let claim = c.volumes.by_name("default", "data-db-0").expect("claim");
    assert!(c.volumes.claim(claim).bound);
    assert_eq!(c.volumes.claim(claim).zone.as_deref(), Some("us-east-1b"));
    let pass = c.schedule_pass(SimTime(1_000));
    assert_eq!(pass.bound, vec![(pods[0], b)], "node a is older but in 1a");
}

/// A standalone WaitForFirstConsumer claim shared by a Deployment's replicas (VolumeBinding,
/// binder.go): once the first replica binds it in us-east-1a, the other replica — pending in the
/// same pass — may only follow it there, and waits rather than take the room in us-east-1b.
#[test]
fn replicas_sharing_a_claim_follow_the_first_one_into_its_zone() {
    let mut c = Cluster::new(SchedulerSettings::default());
    c.volumes = Volumes::new([ebs(VolumeBindingMode::WaitForFirstConsumer)], Vec::new());
    c.volumes.ensure(
        "default",
        "shared",
        &ClaimSpec {
            name: "shared".into(),
            storage_class: Some("gp3".into()),
        },
    );
    let a = c.add_node(node("a", "us-east-1a"));
    c.add_node(node("b", "us-east-1b"));
    let mut requests = Resources::new(1_500, 1 << 30);
    requests.pods = 1;
    let t = Arc::new(PodTemplate {
        namespace: "default".into(),
        labels: labels(&[("app", "web")]),
        requests,
        claims: vec!["shared".into()],
        ..Default::default()
    });
    let pods: Vec<PodId> = (0..2)
        .map(|i| {
            let id = c.create_pod(
                SimTime(i),
                format!("web-{i}"),
                Arc::clone(&t),
                OwnerKind::None,
                0,
                false,
            );
            c.pod_mut(id).queued = true;
            id
        })
        .collect();
    let pass = c.schedule_pass(SimTime(1_000));
    assert_eq!(pass.bound, vec![(pods[0], a)]);
    let second = c.pod(pods[1]);
    assert_eq!(
        second.template.volume_zones.as_deref(),
        Some(&["us-east-1a".to_string()][..])
    );
    let reason = second.unschedulable_reason.clone().expect("pending");
    assert!(reason.contains("volume node affinity conflict"), "{reason}");
    assert!(reason.contains("Insufficient cpu"), "{reason}");
}

// ---- whole runs ---------------------------------------------------------------------------

fn storage_class(mode: &str, zones: &[&str]) -> Value {
    let mut sc = json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "gp3",
                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "ebs.csi.aws.com",
        "volumeBindingMode": mode,
    });
    if !zones.is_empty() {
        sc["allowedTopologies"] =
            json!([{"matchLabelExpressions": [{"key": ZONE_KEY, "values": zones}]}]);
    }
    sc
}

fn pvc(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
    })
}

fn pod_spec(cpu: &str) -> Value {
    json!({"containers": [{"name": "c", "image": "x",
        "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}]})
}

/// A Deployment of one pod mounting the standalone claim `claim`.
fn deployment_with_claim(name: &str, claim: &str) -> Value {
    let mut spec = pod_spec("500m");
    spec["volumes"] = json!([{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]);
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": spec}},
    })
}

fn statefulset_manifest(name: &str, cpu: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1, "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec(cpu)},
            "volumeClaimTemplates": [{"metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "10Gi"}}}}],
        },
    })
}

fn karpenter_objects() -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass",
            "metadata": {"name": "default"},
            "spec": {
                "role": "KarpenterNodeRole-test",
                "amiSelectorTerms": [{"alias": "al2023@latest"}],
                "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "test"}}],
                "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "test"}}],
            },
        }),
        json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "default"},
            "spec": {"template": {"spec": {
                "requirements": [{"key": "karpenter.sh/capacity-type", "operator": "In",
                                  "values": ["on-demand"]}],
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass",
                                 "name": "default"},
            }}},
        }),
    ]
}

/// The zone of the node pod `name` is bound to at the end of the run.
fn pod_zone(sim: &autoscale_sim::sim::Simulation<'_>, name: &str) -> Option<String> {
    let p = sim
        .cluster
        .pods
        .iter()
        .rev()
        .find(|p| p.name == name && p.is_active())?;
    let n = p.node?;
    sim.cluster.node(n)?.label(ZONE_KEY).map(str::to_string)
}

/// Karpenter's volume topology (kubernetes-sigs/karpenter:
/// pkg/controllers/provisioning/scheduling/volumetopology.go): the zone of a pod's bound volume
/// is added to the pod's requirements, so the NodeClaim launched for it is in that zone. Two
/// small pods whose volumes are in 1b and 1c get a node each, in those zones (without the
/// requirement one node would hold both).
#[test]
fn karpenter_launches_a_pod_with_a_bound_volume_in_that_zone() {
    let mut docs = karpenter_objects();
    let mut c = storage_class("Immediate", &["us-east-1b", "us-east-1c"]);
    c["metadata"]["name"] = json!("gp3");
    docs.extend([
        c,
        pvc("data-b"),
        pvc("data-c"),
        deployment_with_claim("app-b", "data-b"),
        deployment_with_claim("app-c", "data-c"),
    ]);
    let l = common::load_json(
        "volume-zone-karpenter",
        json!({"duration": "20m", "region": "us-east-1"}),
        &docs,
        &[],
    );
    // Immediate claims take the allowed zones round robin, in file order.
    let mut sim = common::start_karpenter(&l);
    common::run_to(&mut sim, 10 * 60_000);
    let claim_zone = |n: &str| {
        let id = sim.cluster.volumes.by_name("default", n).expect("claim");
        sim.cluster.volumes.claim(id).zone.clone()
    };
    assert_eq!(claim_zone("data-b").as_deref(), Some("us-east-1b"));
    assert_eq!(claim_zone("data-c").as_deref(), Some("us-east-1c"));
    let zone = |prefix: &str| {
        let p = sim
            .cluster
            .pods
            .iter()
            .find(|p| p.name.starts_with(prefix) && p.phase == PodPhase::Running)
            .unwrap_or_else(|| panic!("{prefix} runs"));
        let n = sim.cluster.node(p.node.expect("bound")).expect("node");
        n.label(ZONE_KEY).expect("zone").to_string()
    };
    assert_eq!(zone("app-b-"), "us-east-1b");
    assert_eq!(zone("app-c-"), "us-east-1c");
    assert_eq!(sim.cluster.node_count(), 2);
}

/// Issue 15's case under Karpenter: a StatefulSet pod with a WaitForFirstConsumer EBS volume
/// whose node drifts is recreated as `db-0` and lands on a replacement in its volume's zone.
#[test]
fn a_statefulset_pod_replaced_by_drift_returns_to_its_volumes_zone_under_its_name() {
    let mut docs = karpenter_objects();
    docs.extend([
        storage_class("WaitForFirstConsumer", &[]),
        statefulset_manifest("db", "500m"),
    ]);
    let l = common::load_json(
        "volume-zone-drift",
        json!({"duration": "1h", "region": "us-east-1",
               "timeline": [{"at": "10m", "driftNodeClass": "default"}]}),
        &docs,
        &[],
    );
    let mut sim = common::start_karpenter(&l);
    common::run_to(&mut sim, 9 * 60_000);
    let first = pod_zone(&sim, "db-0").expect("db-0 runs");
    let first_node = sim
        .cluster
        .pods
        .iter()
        .find(|p| p.name == "db-0")
        .and_then(|p| p.node)
        .expect("bound");
    common::run_to(&mut sim, 50 * 60_000);
    assert!(
        sim.cluster.node(first_node).is_none(),
        "the drifted node is gone"
    );
    let db: Vec<_> = sim
        .cluster
        .pods
        .iter()
        .filter(|p| p.name.starts_with("db-"))
        .collect();
    assert!(db.len() >= 2, "the pod was replaced");
    assert!(
        db.iter().all(|p| p.name == "db-0"),
        "keeps its ordinal name"
    );
    assert_eq!(pod_zone(&sim, "db-0").as_deref(), Some(first.as_str()));
}

fn ca_spec(groups: Value, duration: &str) -> Value {
    json!({
        "duration": duration, "region": "us-east-1",
        "clusterAutoscaler": {"flags": {"expander": "priority"}, "nodeGroups": groups},
    })
}

/// cluster-autoscaler's scale-up simulates the pod on each group's template node, whose zone
/// label fails the volume's zone (the scheduler framework's VolumeBinding filter in its
/// simulation, cluster-autoscaler: `simulator/scheduling`): the group in the volume's zone is
/// scaled although the priority expander prefers the other.
#[test]
fn cluster_autoscaler_scales_the_group_in_the_volumes_zone() {
    let l = common::load_json(
        "volume-zone-ca-up",
        ca_spec(
            json!([
                {"name": "a", "instanceTypes": ["m5.large"], "zones": ["us-east-1a"],
                 "maxSize": 5, "priority": 10},
                {"name": "b", "instanceTypes": ["m5.large"], "zones": ["us-east-1b"],
                 "maxSize": 5, "priority": 5},
            ]),
            "15m",
        ),
        &[
            storage_class("Immediate", &["us-east-1b"]),
            pvc("data"),
            deployment_with_claim("app", "data"),
        ],
        &[],
    );
    let out = run_to_end(&l.sc, AutoscalerKind::ClusterAutoscaler).expect("runs");
    assert_eq!(out.report.pods.unschedulable_at_end, 0);
    let zones: Vec<&str> = out
        .sim
        .recorder
        .nodes
        .iter()
        .map(|n| n.zone.as_str())
        .collect();
    assert_eq!(zones, ["us-east-1b"]);
}

/// cluster-autoscaler's scale-down (cluster-autoscaler: `core/scaledown/eligibility`,
/// `simulator/cluster.go` `NoPlaceToMovePods`): a node whose pod's volume pins it to its zone is
/// kept, though it is underutilized and another zone's node has room. Before, the pod was
/// evicted and recreated in us-east-1b (issue 15).
#[test]
fn cluster_autoscaler_keeps_a_node_whose_pod_cannot_leave_its_volumes_zone() {
    let l = common::load_json(
        "volume-zone-ca-down",
        ca_spec(
            json!([
                {"name": "a", "instanceTypes": ["m5.large"], "zones": ["us-east-1a"],
                 "maxSize": 5, "priority": 10},
                {"name": "b", "instanceTypes": ["m5.xlarge"], "zones": ["us-east-1b"],
                 "minSize": 1, "maxSize": 5, "priority": 5},
            ]),
            "1h",
        ),
        &[
            storage_class("Immediate", &["us-east-1a"]),
            statefulset_manifest("db", "200m"),
        ],
        &[],
    );
    let autoscaler = make_autoscaler(AutoscalerKind::ClusterAutoscaler, &l.sc).expect("ca");
    let mut sim = autoscale_sim::sim::Simulation::new(&l.sc, autoscaler).expect("sim");
    sim.start();
    common::run_to(&mut sim, 60 * 60_000 - 1);
    assert_eq!(sim.recorder.pods_evicted, 0, "db-0 was never moved");
    assert_eq!(pod_zone(&sim, "db-0").as_deref(), Some("us-east-1a"));
    let names: Vec<&str> = sim
        .cluster
        .pods
        .iter()
        .filter(|p| p.name.starts_with("db-"))
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["db-0"]);
}

/// A claim naming a StorageClass that does not exist, and a pod mounting a claim that does not
/// exist, are located load errors (docs/scenario.md, PersistentVolumeClaim), not pods pending
/// forever.
#[test]
fn a_missing_storage_class_or_claim_is_a_located_error() {
    let spec = json!({"duration": "1h", "region": "us-east-1"});
    let mut claim = pvc("data");
    claim["spec"]["storageClassName"] = json!("io2");
    let e = common::load_error(&common::scenario_yaml(
        "bad-class",
        spec.clone(),
        &[storage_class("WaitForFirstConsumer", &[]), claim],
    ));
    assert!(e.contains("spec.storageClassName"), "{e}");
    assert!(e.contains("no StorageClass named \"io2\""), "{e}");

    let e = common::load_error(&common::scenario_yaml(
        "missing-claim",
        spec.clone(),
        &[deployment_with_claim("app", "nope")],
    ));
    assert!(
        e.contains("spec.template.spec.volumes[0].persistentVolumeClaim.claimName"),
        "{e}"
    );
    assert!(e.contains("no PersistentVolumeClaim named \"nope\""), "{e}");

    let mut sc = storage_class("Sometimes", &[]);
    sc["metadata"]["annotations"] = json!({});
    let e = common::load_error(&common::scenario_yaml("bad-mode", spec, &[sc]));
    assert!(e.contains("volumeBindingMode"), "{e}");
    assert!(e.contains("Sometimes"), "{e}");
}
