//! The binder's scheduling queue (docs/model/scheduler.md §4): a pod that fits nowhere and is
//! not nominated waits in the unschedulable pool until a cluster event one of its rejecting
//! plugins registers for, or until it has waited five minutes (kubernetes:
//! `pkg/scheduler/backend/queue/scheduling_queue.go`, `flushUnschedulablePodsLeftover` and
//! `DefaultPodMaxInUnschedulablePodsDuration`; the plugins' `EventsToRegister` in
//! `pkg/scheduler/framework/plugins/noderesources/fit.go`,
//! `pkg/scheduler/framework/plugins/tainttoleration/taint_toleration.go`,
//! `pkg/scheduler/framework/plugins/podtopologyspread/plugin.go`,
//! `pkg/scheduler/framework/plugins/interpodaffinity/plugin.go`).

use std::collections::BTreeMap;
use std::sync::Arc;

use autoscale_sim::cluster::pod::{
    HOSTNAME_KEY, PodTemplate, PreemptionPolicy, TopologySpread, WhenUnsatisfiable, ZONE_KEY,
};
use autoscale_sim::cluster::scheduler::SchedulerSettings;
use autoscale_sim::cluster::{Cluster, EndReason, Node, NodeId, NodeOwner, OwnerKind, PodId};
use autoscale_sim::engine::SimTime;
use autoscale_sim::k8s::resources::Resources;
use autoscale_sim::k8s::selector::{LabelSelector, Labels};
use autoscale_sim::k8s::taints::{Taint, TaintEffect};

const MINUTE: u64 = 60_000;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A 2-vCPU, 8 GiB node in `zone`.
fn node(name: &str, zone: &str, ready: bool, taints: Vec<Taint>) -> Node {
    let mut r = Resources::new(2_000, 8 << 30);
    r.pods = 110;
    Node::new(
        name.into(),
        labels(&[(HOSTNAME_KEY, name), (ZONE_KEY, zone)]),
        taints,
        r.clone(),
        r,
        NodeOwner::Unmanaged,
        None,
        SimTime::ZERO,
        ready,
    )
}

fn template(app: &str, cpu_m: i64) -> PodTemplate {
    let mut requests = Resources::new(cpu_m, 1 << 30);
    requests.pods = 1;
    PodTemplate {
        namespace: "default".into(),
        labels: labels(&[("app", app)]),
        requests,
        termination_grace_ms: 30_000,
        preemption_policy: PreemptionPolicy::Never,
        ..Default::default()
    }
}

fn queued(c: &mut Cluster, name: &str, t: &Arc<PodTemplate>, at: u64) -> PodId {
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

/// A pod of `t` bound to `node` outside the binder.
fn running(c: &mut Cluster, node: NodeId, name: &str, t: &Arc<PodTemplate>) -> PodId {
    let id = queued(c, name, t, 0);
    c.bind(id, node, SimTime::ZERO);
    c.mark_running(id, SimTime::ZERO);
    id
}

fn reason(c: &Cluster, p: PodId) -> String {
    c.pod(p)
        .unschedulable_reason
        .as_deref()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn unschedulable_pod_is_retried_when_a_node_becomes_ready() {
    // TaintToleration's Node/Update: the node loses its not-ready taint.
    let mut c = Cluster::new(SchedulerSettings::default());
    let n = c.add_node(node("n-1", "us-east-1a", false, Vec::new()));
    let web = Arc::new(template("web", 500));
    let p = queued(&mut c, "web-0", &web, 0);
    let r = c.schedule_pass(SimTime(1_000));
    assert_eq!(r.newly_unschedulable, vec![p]);
    assert!(c.is_parked(p, SimTime(2_000)));
    c.mark_ready(n, SimTime(3_000));
    assert!(!c.is_parked(p, SimTime(3_000)));
    let r = c.schedule_pass(SimTime(3_000));
    assert_eq!(r.bound, vec![(p, n)]);
}

#[test]
fn unschedulable_pod_is_retried_when_an_assigned_pod_is_deleted() {
    // NodeResourcesFit's Pod/Delete: the deleted pod's requests are free again.
    let mut c = Cluster::new(SchedulerSettings::default());
    let n = c.add_node(node("n-1", "us-east-1a", true, Vec::new()));
    let big = Arc::new(template("big", 1_500));
    let old = running(&mut c, n, "big-0", &big);
    let p = queued(&mut c, "big-1", &big, 0);
    c.schedule_pass(SimTime(1_000));
    assert!(c.is_parked(p, SimTime(1_000)));
    c.begin_termination(old, SimTime(2_000), EndReason::Deleted);
    // Still terminating: its requests are held, nothing happened yet for the pool.
    assert!(c.is_parked(p, SimTime(2_000)));
    c.end_pod(
        old,
        SimTime(32_000),
        autoscale_sim::cluster::PodPhase::Deleted,
    );
    assert!(!c.is_parked(p, SimTime(32_000)));
    let r = c.schedule_pass(SimTime(32_000));
    assert_eq!(r.bound, vec![(p, n)]);
}

#[test]
fn unschedulable_pod_is_not_retried_when_an_unrelated_pod_binds() {
    // NodeResourcesFit does not register Pod/Add: another pod binding takes room, never frees it.
    let mut c = Cluster::new(SchedulerSettings::default());
    c.add_node(node("n-1", "us-east-1a", true, Vec::new()));
    let big = Arc::new(template("big", 4_000));
    let small = Arc::new(template("small", 250));
    let p = queued(&mut c, "big-0", &big, 0);
    c.schedule_pass(SimTime(1_000));
    let before = reason(&c, p);
    assert!(before.contains("Insufficient cpu"), "{before}");
    let s = queued(&mut c, "small-0", &small, 2_000);
    let r = c.schedule_pass(SimTime(2_000));
    assert_eq!(r.bound.len(), 1);
    assert_eq!(r.bound[0].0, s);
    assert!(r.newly_unschedulable.is_empty());
    assert!(c.is_parked(p, SimTime(2_000)));
}

#[test]
fn pod_with_topology_spread_is_retried_when_an_assigned_pod_is_added() {
    // PodTopologySpread registers Pod/Add: a matching pod bound in the emptier zone raises the
    // minimum the skew is measured against.
    let mut c = Cluster::new(SchedulerSettings::default());
    let a = c.add_node(node("n-a", "us-east-1a", true, Vec::new()));
    // Zone b's node is full, so the next spread pod can only go to zone a, one above the skew.
    let b = c.add_node(node("n-b", "us-east-1b", true, Vec::new()));
    let mut t = template("web", 250);
    t.spread = vec![TopologySpread {
        max_skew: 1,
        topology_key: ZONE_KEY.into(),
        when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
        selector: LabelSelector {
            match_labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
            match_expressions: vec![],
        },
        min_domains: None,
    }];
    let web = Arc::new(t);
    let filler = Arc::new(template("filler", 2_000));
    running(&mut c, b, "filler-0", &filler);
    running(&mut c, a, "web-0", &web);
    let p = queued(&mut c, "web-1", &web, 0);
    c.schedule_pass(SimTime(1_000));
    assert!(
        reason(&c, p).contains("topology spread"),
        "{}",
        reason(&c, p)
    );
    assert!(c.is_parked(p, SimTime(1_000)));
    // A web pod placed on zone b (as another scheduler or a DaemonSet-like placement would).
    running(&mut c, b, "web-2", &web);
    assert!(!c.is_parked(p, SimTime(2_000)));
    let r = c.schedule_pass(SimTime(2_000));
    assert_eq!(r.bound, vec![(p, a)]);
}

#[test]
fn pod_rejected_by_a_taint_is_not_retried_when_an_assigned_pod_is_deleted() {
    // TaintToleration registers only Node events.
    let mut c = Cluster::new(SchedulerSettings::default());
    let taint = Taint::new("dedicated", Some("gpu"), TaintEffect::NoSchedule);
    let n = c.add_node(node("n-1", "us-east-1a", true, vec![taint]));
    let web = Arc::new(template("web", 250));
    let other = running(&mut c, n, "tolerating-0", &web);
    let p = queued(&mut c, "web-0", &web, 0);
    c.schedule_pass(SimTime(1_000));
    assert!(
        reason(&c, p).contains("untolerated taint"),
        "{}",
        reason(&c, p)
    );
    c.begin_termination(other, SimTime(2_000), EndReason::Deleted);
    c.end_pod(
        other,
        SimTime(2_000),
        autoscale_sim::cluster::PodPhase::Deleted,
    );
    assert!(c.is_parked(p, SimTime(2_000)));
    // The taint goes: Node/Update.
    c.untaint(n, |t| t.key == "dedicated");
    assert!(!c.is_parked(p, SimTime(3_000)));
    let r = c.schedule_pass(SimTime(3_000));
    assert_eq!(r.bound, vec![(p, n)]);
}

#[test]
fn parked_pod_is_flushed_after_five_minutes() {
    // No event can help: the pod is retried only once it has been parked for longer than
    // podMaxInUnschedulablePodsDuration, and until then keeps the message of its last attempt
    // (its PodScheduled condition is not rewritten while it waits).
    let mut c = Cluster::new(SchedulerSettings::default());
    c.add_node(node("n-1", "us-east-1a", true, Vec::new()));
    let taint = Taint::new("dedicated", Some("gpu"), TaintEffect::NoSchedule);
    let t = c.add_node(node("n-2", "us-east-1b", true, vec![taint]));
    let big = Arc::new(template("big", 4_000));
    let p = queued(&mut c, "big-0", &big, 0);
    c.schedule_pass(SimTime(1_000));
    let first = reason(&c, p);
    assert!(first.starts_with("0/2 nodes are available"), "{first}");
    // Node/Delete: neither NodeResourcesFit nor TaintToleration registers it.
    c.remove_node(t, SimTime(2_000));
    let r = c.schedule_pass(SimTime(1_000 + 5 * MINUTE));
    assert!(r.newly_unschedulable.is_empty());
    assert!(c.is_parked(p, SimTime(1_000 + 5 * MINUTE)));
    assert_eq!(reason(&c, p), first);
    // Past five minutes: retried on the next pass, failing again on the one node left.
    assert!(!c.is_parked(p, SimTime(1_001 + 5 * MINUTE)));
    let r = c.schedule_pass(SimTime(1_001 + 5 * MINUTE));
    assert!(r.newly_unschedulable.is_empty(), "still the same episode");
    assert!(
        reason(&c, p).starts_with("0/1 nodes are available"),
        "{}",
        reason(&c, p)
    );
    assert!(c.is_parked(p, SimTime(1_002 + 5 * MINUTE)));
}

#[test]
fn nominated_pod_is_not_parked() {
    // A preemptor waits for its victims on its nominated node and binds on the pass after they
    // are gone; it is never in the unschedulable pool.
    let mut c = Cluster::new(SchedulerSettings::default());
    let n = c.add_node(node("n-1", "us-east-1a", true, Vec::new()));
    let mut low = template("low", 1_500);
    low.priority = -10;
    let low = Arc::new(low);
    let mut high = template("high", 1_500);
    high.priority = 1_000;
    high.preemption_policy = PreemptionPolicy::PreemptLowerPriority;
    let high = Arc::new(high);
    let victim = running(&mut c, n, "low-0", &low);
    let p = queued(&mut c, "high-0", &high, 0);
    let r = c.schedule_pass(SimTime(1_000));
    assert_eq!(r.preempted.len(), 1);
    assert_eq!(r.preempted[0].victims, vec![victim]);
    assert_eq!(c.pod(p).nominated_node, Some(n));
    assert!(!c.is_parked(p, SimTime(1_000)));
    c.begin_termination(victim, SimTime(1_000), EndReason::Evicted);
    let r = c.schedule_pass(SimTime(2_000));
    assert!(r.bound.is_empty() && r.preempted.is_empty());
    assert!(!c.is_parked(p, SimTime(2_000)));
    c.end_pod(
        victim,
        SimTime(31_000),
        autoscale_sim::cluster::PodPhase::Evicted,
    );
    let r = c.schedule_pass(SimTime(31_000));
    assert_eq!(r.bound, vec![(p, n)]);
}
