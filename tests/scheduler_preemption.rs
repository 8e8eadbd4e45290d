//! The binder's preemption (kube-scheduler's PostFilter, DefaultPreemption; docs/model/scheduler.md
//! §2): kubernetes `pkg/scheduler/framework/plugins/defaultpreemption/default_preemption.go`
//! (`SelectVictimsOnNode`, `PodEligibleToPreemptOthers`) and
//! `pkg/scheduler/framework/preemption/preemption.go` (`pickOneNodeForPreemption`,
//! `filterPodsWithPDBViolation`).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use autoscale_sim::cluster::pod::{HOSTNAME_KEY, PodTemplate, PreemptionPolicy};
use autoscale_sim::cluster::scheduler::SchedulerSettings;
use autoscale_sim::cluster::{
    Cluster, EndReason, IntOrPercent, Node, NodeId, OwnerKind, Pdb, PodId, PodPhase,
};
use autoscale_sim::engine::SimTime;
use autoscale_sim::k8s::resources::Resources;
use autoscale_sim::k8s::selector::{LabelSelector, Labels};
use autoscale_sim::workload::Scenario;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A Ready node with 2 vCPU and 8 GiB.
fn node(name: &str) -> Node {
    common::ready_node(name, labels(&[(HOSTNAME_KEY, name)]), 2_000, 8 << 30)
}

/// 1-vCPU pods labelled `app: <app>` with `priority`.
fn template(app: &str, priority: i32, policy: PreemptionPolicy) -> Arc<PodTemplate> {
    let mut requests = Resources::new(1_000, 1 << 30);
    requests.pods = 1;
    Arc::new(PodTemplate {
        namespace: "default".into(),
        labels: labels(&[("app", app)]),
        requests,
        priority,
        preemption_policy: policy,
        termination_grace_ms: 30_000,
        ..Default::default()
    })
}

fn pod(c: &mut Cluster, name: &str, t: &Arc<PodTemplate>, at: u64) -> PodId {
    let id = c.create_pod(
        SimTime(at),
        name.into(),
        Arc::clone(t),
        OwnerKind::None,
        0,
        false,
    );
    c.pod_mut(id).queued = true;
    id
}

/// Bind `t`-pods onto `node` directly (a full node of running pods).
fn running(c: &mut Cluster, node: NodeId, name: &str, t: &Arc<PodTemplate>) -> PodId {
    let id = pod(c, name, t, 0);
    c.bind(id, node, SimTime::ZERO);
    c.mark_running(id, SimTime(1_000));
    id
}

const LOW: i32 = -10;
const MID: i32 = 100;
const HIGH: i32 = 100_000;

/// default_preemption.go `SelectVictimsOnNode`: on a full node the lowest-priority pod is the
/// victim (the other lower-priority pod is reprieved); the preemptor is nominated, waits while
/// the victim terminates, and binds there once it is gone.
#[test]
fn a_high_priority_pod_preempts_the_lowest_priority_pod_and_binds_after_it_goes() {
    let mut c = Cluster::new(SchedulerSettings::default());
    let n = c.add_node(node("n-0"));
    let placeholder = running(
        &mut c,
        n,
        "pause",
        &template("pause", LOW, Default::default()),
    );
    let mid = running(&mut c, n, "mid", &template("mid", MID, Default::default()));
    let hi = pod(
        &mut c,
        "hi",
        &template("hi", HIGH, Default::default()),
        10_000,
    );

    let r = c.schedule_pass(SimTime(10_000));
    assert!(r.bound.is_empty());
    assert_eq!(r.preempted.len(), 1);
    assert_eq!(r.preempted[0].preemptor, hi);
    assert_eq!(r.preempted[0].node, n);
    assert_eq!(
        r.preempted[0].victims,
        vec![placeholder],
        "mid is reprieved"
    );
    assert_eq!(c.pod(hi).nominated_node, Some(n));

    // The victim terminates gracefully, holding its room: no bind, no second preemption.
    assert_eq!(
        c.begin_termination(placeholder, SimTime(10_000), EndReason::Evicted),
        Some(30_000)
    );
    let r = c.schedule_pass(SimTime(11_000));
    assert!(r.bound.is_empty() && r.preempted.is_empty());
    assert_eq!(c.pod(mid).phase, PodPhase::Running);

    // A lower-priority pod queued meanwhile does not take the room held for `hi`.
    let other = pod(
        &mut c,
        "other",
        &template("other", MID, Default::default()),
        12_000,
    );
    c.end_pod(placeholder, SimTime(13_000), PodPhase::Evicted);
    let r = c.schedule_pass(SimTime(13_000));
    assert_eq!(r.bound, vec![(hi, n)]);
    assert_eq!(c.pod(hi).nominated_node, None);
    assert_eq!(c.pod(other).phase, PodPhase::Pending);
    assert!(
        r.preempted.is_empty(),
        "equal priority: `other` may not preempt `mid`"
    );
}

/// default_preemption.go `PodEligibleToPreemptOthers`: `preemptionPolicy: Never` never preempts.
#[test]
fn preemption_policy_never_never_preempts() {
    let mut c = Cluster::new(SchedulerSettings::default());
    let n = c.add_node(node("n-0"));
    running(&mut c, n, "a", &template("pause", LOW, Default::default()));
    running(&mut c, n, "b", &template("pause", LOW, Default::default()));
    let hi = pod(
        &mut c,
        "hi",
        &template("hi", HIGH, PreemptionPolicy::Never),
        10_000,
    );
    let r = c.schedule_pass(SimTime(10_000));
    assert!(r.preempted.is_empty());
    assert_eq!(r.newly_unschedulable, vec![hi]);
    assert_eq!(c.pod(hi).nominated_node, None);
}

/// preemption.go `pickOneNodeForPreemption` (fewest PDB violations first) with
/// `filterPodsWithPDBViolation`: a victim a PDB protects is avoided when another node has an
/// unprotected one of the same priority.
#[test]
fn a_pdb_protected_victim_is_avoided_when_another_node_has_unprotected_ones() {
    let mut c = Cluster::new(SchedulerSettings::default());
    let n0 = c.add_node(node("n-0"));
    let n1 = c.add_node(node("n-1"));
    // Fillers of the preemptor's own priority: never victims.
    let full = template("filler", HIGH, Default::default());
    running(&mut c, n0, "f0", &full);
    running(&mut c, n1, "f1", &full);
    let protected = running(&mut c, n0, "db", &template("db", LOW, Default::default()));
    let free = running(
        &mut c,
        n1,
        "cache",
        &template("cache", LOW, Default::default()),
    );
    c.pdbs.push(Pdb {
        name: "db".into(),
        namespace: "default".into(),
        selector: LabelSelector {
            match_labels: BTreeMap::from([("app".to_string(), "db".to_string())]),
            match_expressions: vec![],
        },
        min_available: Some(IntOrPercent::Int(1)),
        max_unavailable: None,
    });
    pod(
        &mut c,
        "hi",
        &template("hi", HIGH, Default::default()),
        10_000,
    );
    let r = c.schedule_pass(SimTime(10_000));
    assert_eq!(r.preempted.len(), 1);
    assert_eq!(
        r.preempted[0].node, n1,
        "n-0 would violate the PDB of {protected:?}"
    );
    assert_eq!(r.preempted[0].victims, vec![free]);
}

/// default_preemption.go `SelectVictimsOnNode`: only pods of strictly lower priority are
/// potential victims.
#[test]
fn equal_priority_pods_are_never_victims() {
    let mut c = Cluster::new(SchedulerSettings::default());
    let n = c.add_node(node("n-0"));
    let same = template("web", MID, Default::default());
    running(&mut c, n, "a", &same);
    running(&mut c, n, "b", &same);
    let p = pod(&mut c, "c", &same, 10_000);
    let r = c.schedule_pass(SimTime(10_000));
    assert!(r.preempted.is_empty());
    assert_eq!(r.newly_unschedulable, vec![p]);
}

/// cluster-autoscaler FAQ.md "How can I configure overprovisioning with Cluster Autoscaler?":
/// the real pods take the placeholders' room at once; the evicted placeholders are recreated by
/// their ReplicaSet, go pending and make Karpenter launch a node for them.
#[test]
fn evicted_placeholders_are_recreated_and_trigger_scale_up() {
    let sc = Scenario::load(&common::shipped("overprovisioning.yaml")).expect("loads");
    let l = common::Loaded {
        dir: tempfile::tempdir().expect("dir"),
        sc,
        yaml: String::new(),
    };
    let mut sim = common::start_karpenter(&l);
    let scale_at = 30 * 60_000;
    common::run_to(&mut sim, scale_at - 1);
    let nodes_before = sim.recorder.nodes.len();
    assert_eq!(sim.recorder.pods_evicted, 0);
    common::run_to(&mut sim, scale_at + 20_000);
    // The six new app pods run within 20 s: on free room, and on the room the placeholders
    // held.
    let app_running = sim
        .cluster
        .pods
        .iter()
        .filter(|p| p.name.starts_with("app-") && p.phase == PodPhase::Running)
        .count();
    assert_eq!(app_running, 10);
    let evicted = sim.recorder.pods_evicted as usize;
    assert!(evicted >= 1);
    let replacements: Vec<_> = sim
        .cluster
        .pods
        .iter()
        .filter(|p| p.name.starts_with("overprovisioning-") && p.replaces_evicted)
        .collect();
    assert_eq!(replacements.len(), evicted);
    common::run_to(&mut sim, scale_at + 5 * 60_000);
    assert!(
        sim.recorder.nodes.len() > nodes_before,
        "the pending placeholders made Karpenter launch a node"
    );
    assert!(
        sim.recorder.nodes[nodes_before..]
            .iter()
            .all(|n| n.launched_at.0 >= scale_at)
    );
    let placeholders_running = sim
        .cluster
        .pods
        .iter()
        .filter(|p| p.name.starts_with("overprovisioning-") && p.phase == PodPhase::Running)
        .count();
    assert_eq!(placeholders_running, 6);
}

/// preemptionPolicy is read from a PriorityClass and checked with a located error.
#[test]
fn a_bad_preemption_policy_is_a_located_error() {
    let text = common::scenario_yaml(
        "bad-policy",
        serde_json::json!({"duration": "1h", "region": "us-east-1"}),
        &[serde_json::json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "x"},
            "value": 5,
            "preemptionPolicy": "Sometimes",
        })],
    );
    let e = common::load_error(&text);
    assert!(e.contains("preemptionPolicy"), "{e}");
    assert!(e.contains("Sometimes"), "{e}");
}

/// Issue 15's case under cluster-autoscaler: with the node group at its maximum, a
/// priority-100000 pod no longer waits behind priority-100 pods — it preempts one
/// (default_preemption.go), and the evicted pod, recreated, is the one left pending.
#[test]
fn at_max_size_a_high_priority_pod_preempts_under_cluster_autoscaler() {
    use autoscale_sim::run::make_autoscaler;
    use autoscale_sim::workload::AutoscalerKind;
    use serde_json::json;
    let deployment = |name: &str, replicas: u32, class: &str| {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "priorityClassName": class,
                        "containers": [{"name": "c", "image": "x",
                            "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}],
                    },
                },
            },
        })
    };
    let class = |name: &str, value: i32| {
        json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
               "metadata": {"name": name}, "value": value})
    };
    let l = common::load_json(
        "preempt-at-max",
        json!({
            "duration": "30m", "region": "us-east-1",
            "clusterAutoscaler": {"nodeGroups": [
                {"name": "g", "instanceTypes": ["m5.xlarge"], "maxSize": 1}]},
            "timeline": [{"at": "10m", "scale": {"deployment": "urgent", "replicas": 1}}],
        }),
        &[
            class("batch", 100),
            class("urgent", 100_000),
            deployment("batch", 3, "batch"),
            deployment("urgent", 0, "urgent"),
        ],
        &[],
    );
    let autoscaler = make_autoscaler(AutoscalerKind::ClusterAutoscaler, &l.sc).expect("ca");
    let mut sim = autoscale_sim::sim::Simulation::new(&l.sc, autoscaler).expect("sim");
    sim.start();
    common::run_to(&mut sim, 10 * 60_000 + 60_000);
    let urgent = sim
        .cluster
        .pods
        .iter()
        .find(|p| p.name.starts_with("urgent-"))
        .expect("urgent pod");
    assert_eq!(urgent.phase, PodPhase::Running, "{urgent:?}");
    assert!(urgent.running_at.expect("ran").0 < 10 * 60_000 + 30_000);
    assert_eq!(sim.cluster.preemptions, 1);
    assert_eq!(sim.recorder.pods_evicted, 1);
    assert_eq!(sim.recorder.nodes.len(), 1, "the group is at its maximum");
    let pending: Vec<_> = sim
        .cluster
        .pods
        .iter()
        .filter(|p| p.phase == PodPhase::Pending)
        .collect();
    assert_eq!(pending.len(), 1);
    assert!(pending[0].name.starts_with("batch-") && pending[0].replaces_evicted);
}

/// preemption.go `pickOneNodeForPreemption`: priorities are summed shifted to be non-negative, so
/// a node with one negative-priority victim beats a node with two of the same priority.
#[test]
fn fewer_negative_priority_victims_beat_a_smaller_plain_sum() {
    let mut c = Cluster::new(SchedulerSettings::default());
    let n0 = c.add_node(node("n-0"));
    let n1 = c.add_node(node("n-1"));
    let mut half = Resources::new(500, 256 << 20);
    half.pods = 1;
    let small = Arc::new(PodTemplate {
        namespace: "default".into(),
        labels: labels(&[("app", "pause")]),
        requests: half,
        priority: LOW,
        ..Default::default()
    });
    let keep = template("keep", HIGH, Default::default());
    // n-0: two 500m placeholders and a 1-vCPU pod of the preemptor's priority.
    running(&mut c, n0, "p0", &small);
    running(&mut c, n0, "p1", &small);
    running(&mut c, n0, "k0", &keep);
    // n-1: one 1-vCPU placeholder and the same pod.
    let one = running(
        &mut c,
        n1,
        "p2",
        &template("pause", LOW, Default::default()),
    );
    running(&mut c, n1, "k1", &keep);
    pod(
        &mut c,
        "hi",
        &template("hi", HIGH, Default::default()),
        10_000,
    );
    let r = c.schedule_pass(SimTime(10_000));
    assert_eq!(r.preempted.len(), 1);
    assert_eq!(r.preempted[0].node, n1);
    assert_eq!(r.preempted[0].victims, vec![one]);
}
