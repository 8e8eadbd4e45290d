//! Karpenter's disruption, expiration, interruption and termination, one test per behaviour
//! vector of docs/model/karpenter.md §8 (items 34–48, 53, 54, 60), named for the behaviour.
//! Scenarios use the real us-east-1 catalog with NodePools narrowed to a few instance types, so
//! prices are known: c5.large $0.085 (1930m), c5.xlarge $0.17 (3920m), m5.large $0.096 (1930m),
//! m5.xlarge $0.192.
//!
//! Most scenarios build nodes with "big" pods and then delete them, leaving the nodes empty or
//! underutilized — as Karpenter's own tests create nodes directly.

mod common;

use common::{Loaded, merge, run_to};
use std::collections::BTreeMap;

use autoscale_sim::cluster::PodPhase;
use autoscale_sim::sim::Simulation;
use serde_json::{Value, json};

// ---- plumbing ------------------------------------------------------------------------------

fn spec(duration: &str, extra: Value) -> Value {
    let mut s = json!({
        "seed": 1,
        "duration": duration,
        "cloud": {"spot": {"interruptions": "none"}},
    });
    merge(&mut s, extra);
    s
}

fn nodeclass() -> Value {
    json!({
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": "default"},
        "spec": {
            "role": "KarpenterNodeRole-test",
            "amiSelectorTerms": [{"alias": "al2023@latest"}],
            "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "test"}}],
            "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "test"}}],
        },
    })
}

/// A NodePool limited to `types` and `capacity` with this `disruption` block (and any other
/// spec fields in `extra`).
fn nodepool(
    name: &str,
    types: &[&str],
    capacity: &[&str],
    disruption: Value,
    extra: Value,
) -> Value {
    let mut np = json!({
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": name},
        "spec": {
            "template": {"spec": {
                "requirements": [
                    {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": types},
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": capacity},
                ],
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
            }},
            "disruption": disruption,
        },
    });
    merge(&mut np, extra);
    np
}

fn pod_spec(cpu: &str, extra: Value) -> Value {
    let mut s = json!({"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": cpu, "memory": "256Mi"}}}]});
    merge(&mut s, extra);
    s
}

fn deployment(name: &str, replicas: u32, spec: Value, annotations: Value) -> Value {
    deployment_kind("Deployment", name, replicas, spec, annotations)
}

fn deployment_kind(
    kind: &str,
    name: &str,
    replicas: u32,
    spec: Value,
    annotations: Value,
) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}, "annotations": annotations}, "spec": spec},
        },
    })
}

/// Required hostname anti-affinity with the pod's own app: one per node.
fn one_per_node(app: &str) -> Value {
    json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": "kubernetes.io/hostname"}
    ]}}})
}

fn load(spec: Value, docs: &[Value]) -> Loaded {
    load_with_files(spec, docs, &[])
}

/// [`load`] with more files beside the scenario (e.g. a timeline `applyFile`), as JSON documents.
fn load_with_files(spec: Value, docs: &[Value], files: &[(&str, &[Value])]) -> Loaded {
    common::load_json("disruption-vector", spec, docs, files)
}

fn start(l: &Loaded) -> Simulation<'_> {
    common::start_karpenter(l)
}

fn run(l: &Loaded, t_ms: u64) -> Simulation<'_> {
    let mut sim = start(l);
    run_to(&mut sim, t_ms);
    sim
}

#[allow(dead_code)]
fn dump(sim: &Simulation<'_>) {
    for l in sim.decisions() {
        if !l.contains("\"scheduled\"") {
            eprintln!("{l}");
        }
    }
}

fn events(sim: &Simulation<'_>, kind: &str) -> Vec<Value> {
    sim.decisions()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
        .filter(|d| d["event"] == kind)
        .collect()
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Karpenter-owned nodes alive now, by NodePool.
fn live_nodes(sim: &Simulation<'_>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for n in sim.cluster.nodes() {
        if let Some(p) = n.label("karpenter.sh/nodepool") {
            *out.entry(p.to_string()).or_insert(0) += 1;
        }
    }
    out
}

const M: u64 = 60_000;

/// `n` m5.large nodes each holding one 1.5-CPU "big" pod (deleted by a [`delete_big`] step)
/// and, with `small`, one 300m pod that stays.
fn big_then_small(n: u32, small: bool, budget: &str) -> Vec<Value> {
    let mut docs = vec![
        nodeclass(),
        nodepool(
            "default",
            &["m5.large"],
            &["on-demand"],
            json!({"budgets": [{"nodes": budget}]}),
            json!({}),
        ),
        deployment("big", n, pod_spec("1500m", json!({})), json!({})),
    ];
    if small {
        docs.push(deployment(
            "small",
            n,
            pod_spec("300m", json!({})),
            json!({}),
        ));
    }
    docs
}

fn delete_big(at: &str) -> Value {
    json!({"timeline": [{"at": at, "delete": {"deployment": "big"}}]})
}

// ---- emptiness and budgets ------------------------------------------------------------------

// §8 item 34: 10 empty nodes, budget 30% ⇒ one command of 3; 100% ⇒ all; 0% ⇒ none.
#[test]
fn emptiness_deletes_as_many_empty_nodes_as_the_budget_allows_in_one_command() {
    for (budget, expected) in [("30%", Some(3)), ("100%", Some(10)), ("0%", None)] {
        let l = load(
            spec("8m", delete_big("3m")),
            &big_then_small(10, false, budget),
        );
        let sim = run(&l, 6 * M);
        let cmds = events(&sim, "disruption");
        match expected {
            Some(n) => {
                let first = cmds
                    .first()
                    .unwrap_or_else(|| panic!("{budget}: no command"));
                assert_eq!(first["method"], "emptiness", "{budget}");
                assert_eq!(names(&first["nodeclaims"]).len(), n, "{budget}");
            }
            None => assert!(cmds.is_empty(), "{budget}: {cmds:?}"),
        }
    }
}

// §8 item 35: 10 nodes each with one small pod that all fit on one ⇒ multi-node deletes 3
// under a 30% budget.
#[test]
fn multi_node_consolidation_deletes_the_budgeted_prefix_when_pods_fit_elsewhere() {
    let l = load(
        spec("8m", delete_big("3m")),
        &big_then_small(10, true, "30%"),
    );
    let sim = run(&l, 6 * M);
    let cmds = events(&sim, "disruption");
    let first = cmds.first().expect("a command");
    assert_eq!(first["method"], "multi-node-consolidation");
    assert_eq!(first["decision"], "delete");
    assert_eq!(names(&first["nodeclaims"]).len(), 3);
}

// §8 item 36: 10 NodePools × 3 empty nodes, budget 50% (1.5 rounds up to 2) ⇒ one command
// deleting 2 per NodePool.
#[test]
fn percentage_budgets_round_up_per_nodepool() {
    let mut docs = vec![nodeclass()];
    for i in 0..10 {
        let name = format!("pool{i}");
        docs.push(nodepool(
            &name,
            &["m5.large"],
            &["on-demand"],
            json!({"budgets": [{"nodes": "50%"}]}),
            json!({"spec": {"weight": 1}}),
        ));
        docs.push(deployment(
            &format!("big{i}"),
            3,
            pod_spec(
                "1500m",
                json!({"nodeSelector": {"karpenter.sh/nodepool": name}}),
            ),
            json!({}),
        ));
    }
    let timeline: Vec<Value> = (0..10)
        .map(|i| json!({"at": "3m", "delete": {"deployment": format!("big{i}")}}))
        .collect();
    let l = load(spec("8m", json!({"timeline": timeline})), &docs);
    let sim = run(&l, 6 * M);
    let first = events(&sim, "disruption")
        .into_iter()
        .next()
        .expect("a command");
    assert_eq!(first["method"], "emptiness");
    let claims = names(&first["nodeclaims"]);
    assert_eq!(claims.len(), 20);
    for i in 0..10 {
        let p = format!("pool{i}-");
        assert_eq!(
            claims.iter().filter(|c| c.starts_with(&p)).count(),
            2,
            "{p}"
        );
    }
}

// §8 item 37: emptiness and consolidation wait 15 s before acting; the nodes exist meanwhile.
#[test]
fn commands_wait_fifteen_seconds_for_validation_before_acting() {
    let l = load(
        spec("8m", delete_big("3m")),
        &big_then_small(4, false, "100%"),
    );
    let sim = run(&l, 6 * M);
    let v = events(&sim, "disruption-validating");
    let d = events(&sim, "disruption");
    let (tv, td) = (
        v[0]["t_s"].as_f64().unwrap_or(0.0),
        d[0]["t_s"].as_f64().unwrap_or(0.0),
    );
    assert!(
        (td - tv - 15.0).abs() < 1e-6,
        "validating at {tv}, acted at {td}"
    );
    let deleted = events(&sim, "nodeclaim-deleted");
    assert!(
        deleted
            .iter()
            .all(|e| e["t_s"].as_f64().unwrap_or(0.0) >= td)
    );
}

// §8 item 38: a do-not-disrupt pod landing on the node during the 15 s wait cancels it.
#[test]
fn a_do_not_disrupt_pod_arriving_during_validation_cancels_the_command() {
    let docs = |with_pod: Option<u64>| {
        let mut d = big_then_small(1, false, "100%");
        let mut tl = vec![json!({"at": "3m", "delete": {"deployment": "big"}})];
        if let Some(at) = with_pod {
            d.push(deployment(
                "guard",
                1,
                pod_spec("100m", json!({})),
                json!({"karpenter.sh/do-not-disrupt": "true"}),
            ));
            tl.push(json!({"at": format!("{at}ms"), "apply": {"deployment": "guard"}}));
        }
        (d, tl)
    };
    // Find when validation starts without the guard, then bring the guard in 1 s later.
    let (d, tl) = docs(None);
    let probe = load(spec("8m", json!({"timeline": tl})), &d);
    let sim = run(&probe, 6 * M);
    let tv = events(&sim, "disruption-validating")[0]["t_s"]
        .as_f64()
        .unwrap_or(0.0);
    let (d, tl) = docs(Some((tv * 1000.0) as u64 + 1_000));
    let l = load(spec("8m", json!({"timeline": tl})), &d);
    let sim = run(&l, 6 * M);
    let cancelled = events(&sim, "disruption-cancelled");
    assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    assert!(events(&sim, "disruption").is_empty());
    assert_eq!(live_nodes(&sim).values().sum::<usize>(), 1);
}

// §8 item 38 with a duration: `karpenter.sh/do-not-disrupt: "12m"` blocks consolidation until
// 12 minutes after the pod started running. Nothing else in the cluster changes then, so, as in
// Karpenter, consolidation notices at its 5-minute re-check (§4.6 "Consolidated memo"). The
// simulator caches the candidates while their inputs hold; the duration running out is one of
// the edges that must end that cache (docs/performance.md "Idle time"), or the node would be
// held forever.
#[test]
fn a_do_not_disrupt_duration_frees_the_node_at_the_re_check_after_it_runs_out() {
    let mut docs = big_then_small(2, true, "100%");
    docs[3]["spec"]["template"]["metadata"]["annotations"] =
        json!({"karpenter.sh/do-not-disrupt": "12m"});
    let l = load(spec("30m", delete_big("3m")), &docs);
    let probe = run(&l, 5 * M);
    let started: Vec<f64> = probe
        .cluster
        .nodes()
        .flat_map(|n| n.pods.iter().map(|p| probe.cluster.pod(*p)))
        .filter(|p| p.name.starts_with("small"))
        .filter_map(|p| p.running_at.map(|t| t.0 as f64 / 1000.0))
        .collect();
    assert_eq!(started.len(), 2, "{started:?}");
    let free_at = started.iter().copied().fold(f64::MAX, f64::min) + 12.0 * 60.0;
    let sim = run(&l, 25 * M);
    let v = events(&sim, "disruption-validating");
    let t = v.first().expect("consolidation once the duration ran out")["t_s"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(
        (free_at..free_at + 5.0 * 60.0 + 10.0).contains(&t),
        "{t} vs {free_at}"
    );
}

// ---- consolidation price rules -------------------------------------------------------------

/// One spot node whose big pod leaves, so a small pod under-uses it.
fn spot_underutilized(gate: bool, types: &[&str]) -> Loaded {
    load(
        spec(
            "10m",
            json!({
                "karpenter": {"featureGates": {"SpotToSpotConsolidation": gate}},
                "timeline": [{"at": "3m", "delete": {"deployment": "big"}}],
            }),
        ),
        &[
            nodeclass(),
            nodepool("default", types, &["spot"], json!({}), json!({})),
            deployment("big", 1, pod_spec("6", json!({})), json!({})),
            deployment("small", 1, pod_spec("200m", json!({})), json!({})),
        ],
    )
}

fn big_spot_types() -> Vec<&'static str> {
    vec![
        "m5.2xlarge",
        "m5.large",
        "m5.xlarge",
        "m5a.large",
        "m5a.xlarge",
        "m6i.large",
        "m6i.xlarge",
        "m6a.large",
        "m6a.xlarge",
        "c5.large",
        "c5.xlarge",
        "c5a.large",
        "c5a.xlarge",
        "c6i.large",
        "c6i.xlarge",
        "c6a.large",
        "c6a.xlarge",
        "r5.large",
        "r5.xlarge",
        "r6i.large",
        "r6a.large",
        "t3.large",
        "t3a.large",
        "m7i.large",
        "c7i.large",
    ]
}

// §8 item 39: no spot-to-spot replacement with the gate off; with it on, one with at least 15
// cheaper spot types, truncated to the 15 cheapest; not with fewer than 15.
#[test]
fn spot_to_spot_consolidation_needs_the_gate_and_fifteen_cheaper_types() {
    let types = big_spot_types();
    let l = spot_underutilized(false, &types);
    let sim = run(&l, 8 * M);
    let why = events(&sim, "unconsolidatable");
    assert!(
        why.iter().any(|e| e["reason"]
            .as_str()
            .unwrap_or("")
            .contains("SpotToSpotConsolidation is disabled")),
        "{why:?}"
    );
    assert!(events(&sim, "disruption").is_empty());

    let l = spot_underutilized(true, &types);
    let sim = run(&l, 8 * M);
    let cmd = events(&sim, "disruption")
        .into_iter()
        .next()
        .expect("a spot-to-spot replace");
    assert_eq!(cmd["decision"], "replace");
    let created = events(&sim, "nodeclaim-created");
    let replacement = created.last().expect("replacement claim");
    assert!(replacement["instance_types"].as_u64().unwrap_or(0) <= 15);

    let few = ["m5.2xlarge", "m5.large", "c5.large", "c6a.large"];
    let l = spot_underutilized(true, &few);
    let sim = run(&l, 8 * M);
    assert!(events(&sim, "disruption").is_empty());
    assert!(events(&sim, "unconsolidatable").iter().any(|e| {
        e["reason"]
            .as_str()
            .unwrap_or("")
            .contains("needs 15 cheaper spot")
    }));
}

// §8 item 40: an on-demand node is not replaced when no replacement is cheaper.
#[test]
fn on_demand_node_is_not_replaced_without_a_cheaper_type() {
    let l = load(
        spec("8m", delete_big("3m")),
        &big_then_small(1, true, "100%"),
    );
    let sim = run(&l, 6 * M);
    assert!(events(&sim, "disruption").is_empty());
    assert!(events(&sim, "unconsolidatable").iter().any(|e| {
        e["reason"]
            .as_str()
            .unwrap_or("")
            .contains("no replacement is cheaper")
    }));
}

// §8 item 41: three nodes merge into one cheaper node; two nodes are not merged into one of
// their own type (a delete is preferred).
#[test]
fn three_nodes_merge_into_one_cheaper_node_but_not_into_their_own_type() {
    // m5.large nodes ($0.096), each with a 1.2-CPU pod arriving 20 s apart (so each batch
    // launches its own node): any two or all three fit one c5.xlarge ($0.17), cheaper than two
    // ($0.192) or three ($0.288) m5.large. The binary search accepts 2, then 3. A scheduled
    // budget of 0 for the first 5 minutes (cron at midnight, simulated time zero) holds
    // consolidation until all three nodes are up.
    let budgets = json!({"budgets": [
        {"nodes": "100%"},
        {"nodes": "0", "schedule": "0 0 * * *", "duration": "5m"},
    ]});
    let mut docs = vec![
        nodeclass(),
        nodepool(
            "default",
            &["m5.large", "c5.xlarge"],
            &["on-demand"],
            budgets,
            json!({}),
        ),
    ];
    let mut tl = Vec::new();
    for i in 0..3 {
        let name = format!("app{i}");
        docs.push(deployment(
            &name,
            1,
            pod_spec("1200m", json!({})),
            json!({}),
        ));
        tl.push(json!({"at": format!("{}s", 60 + 20 * i), "apply": {"deployment": name}}));
    }
    let l = load(spec("12m", json!({"timeline": tl})), &docs);
    let sim = run(&l, 10 * M);
    let cmd = events(&sim, "disruption")
        .into_iter()
        .next()
        .expect("a merge");
    assert!(
        cmd["t_s"].as_f64().unwrap_or(0.0) >= 300.0,
        "the scheduled budget held it"
    );
    assert_eq!(cmd["method"], "multi-node-consolidation");
    assert_eq!(cmd["decision"], "replace");
    assert_eq!(names(&cmd["nodeclaims"]).len(), 3);
    assert_eq!(names(&cmd["replacement_instance_types"]), ["c5.xlarge"]);

    // Three m5.large with a 300m pod each: merging all three into one m5.large is filtered out
    // (same type, not cheaper); deleting two works.
    let l = load(
        spec("8m", delete_big("3m")),
        &big_then_small(3, true, "100%"),
    );
    let sim = run(&l, 6 * M);
    let cmd = events(&sim, "disruption")
        .into_iter()
        .next()
        .expect("a delete");
    assert_eq!(cmd["decision"], "delete");
    assert_eq!(names(&cmd["nodeclaims"]).len(), 2);
}

// §8 item 42: pods that fit on capacity Karpenter does not own let the node go; a pod that
// fits nowhere keeps it.
#[test]
fn consolidation_deletes_when_pods_fit_on_unmanaged_capacity() {
    let l = load(
        spec(
            "12m",
            json!({
                "staticNodes": [{"instanceType": "m5.xlarge", "count": 1}],
                "timeline": [
                    {"at": "1m", "apply": {"deployment": "app"}},
                    {"at": "5m", "delete": {"deployment": "filler"}},
                ],
            }),
        ),
        &[
            nodeclass(),
            nodepool(
                "default",
                &["m5.large"],
                &["on-demand"],
                json!({}),
                json!({}),
            ),
            deployment("filler", 1, pod_spec("3500m", json!({})), json!({})),
            deployment("app", 1, pod_spec("1", json!({})), json!({})),
        ],
    );
    let sim = run(&l, 10 * M);
    let cmd = events(&sim, "disruption")
        .into_iter()
        .next()
        .expect("a delete");
    assert_eq!(cmd["decision"], "delete");
    assert!(live_nodes(&sim).is_empty(), "{:?}", live_nodes(&sim));
    // The app pod runs on the static node.
    let app = sim
        .cluster
        .pods
        .iter()
        .rev()
        .find(|p| p.name.starts_with("app"))
        .expect("app pod");
    assert_eq!(app.phase, PodPhase::Running);
}

// §8 item 43: pods do not move onto a node still inside its consolidateAfter window.
#[test]
fn consolidation_does_not_target_nodes_inside_their_consolidate_after_window() {
    // Two m5.large with a 300m pod each; consolidateAfter 5m. The small pods keep being
    // quiet, but the nodes' last pod event is the big pods' deletion at 3m: until 8m neither
    // is a candidate nor a destination.
    let mut docs = big_then_small(2, true, "100%");
    docs[1]["spec"]["disruption"]["consolidateAfter"] = json!("5m");
    let l = load(spec("14m", delete_big("3m")), &docs);
    let sim = run(&l, 12 * M);
    let cmd = events(&sim, "disruption")
        .into_iter()
        .next()
        .expect("a delete after the window");
    assert!(cmd["t_s"].as_f64().unwrap_or(0.0) >= 8.0 * 60.0, "{cmd}");
}

// ---- the Balanced policy (§4.6 "Balanced") ---------------------------------------------------

/// One m5.large ($0.096) holding a 4 GiB "big" pod (too much memory for a c5.large) and five
/// 100m pods, in a NodePool of m5.large and c5.large ($0.085) with `policy`. Once the big pod is
/// deleted at 3 min, the five fit a c5.large: a replace saving $0.011/h.
fn one_node_replace(policy: &str) -> Loaded {
    let pod = |cpu: &str, mem: &str| {
        json!({"containers": [{"name": "c", "image": "busybox",
            "resources": {"requests": {"cpu": cpu, "memory": mem}}}]})
    };
    let docs = vec![
        nodeclass(),
        nodepool(
            "default",
            &["m5.large", "c5.large"],
            &["on-demand"],
            json!({"consolidationPolicy": policy, "budgets": [{"nodes": "100%"}]}),
            json!({}),
        ),
        deployment("big", 1, pod("500m", "4Gi"), json!({})),
        deployment("small", 5, pod("100m", "256Mi"), json!({})),
    ];
    load(spec("10m", delete_big("3m")), &docs)
}

// designs/balanced-consolidation.md "Marginal Move (rejected)"; karpenter:
// pkg/controllers/disruption/balanced.go `EvaluateBalancedMove`. The replace saves 11.5 % of
// the NodePool's cost and disrupts all of it (the node is the whole NodePool: 1 + 5 pods of
// its 6): score 0.11 < 1/k = 0.5. WhenEmptyOrUnderutilized takes any cheaper replacement.
#[test]
fn balanced_refuses_a_replace_whose_savings_are_small_for_its_disruption() {
    let l = one_node_replace("WhenEmptyOrUnderutilized");
    let sim = run(&l, 8 * M);
    let cmd = events(&sim, "disruption")
        .into_iter()
        .next()
        .expect("a replace");
    assert_eq!(cmd["method"], "single-node-consolidation");
    assert_eq!(cmd["decision"], "replace");
    assert_eq!(names(&cmd["replacement_instance_types"]), ["c5.large"]);

    let l = one_node_replace("Balanced");
    let sim = run(&l, 8 * M);
    assert!(
        events(&sim, "disruption").is_empty(),
        "{:?}",
        events(&sim, "disruption")
    );
    let why: Vec<String> = events(&sim, "unconsolidatable")
        .iter()
        .filter_map(|e| e["reason"].as_str().map(String::from))
        .collect();
    assert!(
        why.iter().any(|r| r
            == "Balanced: NodePool default would score 0.11 < threshold 0.50 \
                (k: 2, savings 11.5%, disruption 100.0%)"),
        "{why:?}"
    );
}

// designs/balanced-consolidation.md "Spare Capacity Delete (approved)": three m5.large with a
// 300m pod each; deleting two saves 2/3 of the cost for 2/3 of the disruption (score 1), so
// Balanced takes the same multi-node delete as WhenEmptyOrUnderutilized.
#[test]
fn balanced_and_the_default_policy_both_take_a_delete_worth_its_disruption() {
    for policy in ["WhenEmptyOrUnderutilized", "Balanced"] {
        let mut docs = big_then_small(3, true, "100%");
        docs[1]["spec"]["disruption"]["consolidationPolicy"] = json!(policy);
        let l = load(spec("8m", delete_big("3m")), &docs);
        let sim = run(&l, 6 * M);
        let cmd = events(&sim, "disruption")
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{policy}: a delete"));
        assert_eq!(cmd["method"], "multi-node-consolidation", "{policy}");
        assert_eq!(cmd["decision"], "delete", "{policy}");
        assert_eq!(names(&cmd["nodeclaims"]).len(), 2, "{policy}");
    }
}

// §8 item 44: DaemonSet pods don't make a node non-empty; a terminating Deployment pod does
// not either, a terminating StatefulSet pod does.
#[test]
fn emptiness_ignores_daemonset_and_terminating_deployment_pods_but_not_statefulset_ones() {
    let long_grace = json!({"terminationGracePeriodSeconds": 3000});
    for (kind, empty_early) in [("Deployment", true), ("StatefulSet", false)] {
        let docs = vec![
            nodeclass(),
            nodepool(
                "default",
                &["m5.large"],
                &["on-demand"],
                json!({"budgets": [{"nodes": "100%"}]}),
                json!({}),
            ),
            json!({
                "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
                "spec": {"selector": {"matchLabels": {"ds": "agent"}},
                         "template": {"metadata": {"labels": {"ds": "agent"}}, "spec": pod_spec("100m", json!({}))}},
            }),
            deployment_kind(
                kind,
                "big",
                1,
                pod_spec("1500m", long_grace.clone()),
                json!({}),
            ),
        ];
        let timeline = json!({"timeline": [{"at": "3m", "delete": {kind.to_lowercase(): "big"}}]});
        let l = load(spec("20m", timeline), &docs);
        let sim = run(&l, 10 * M);
        let cmd = events(&sim, "disruption").into_iter().next();
        // The pod takes 300 s (a tenth of its grace) to go: the node is empty before that only
        // if the terminating pod does not count.
        let early = cmd.as_ref().is_some_and(|c| {
            c["method"] == "emptiness" && c["t_s"].as_f64().unwrap_or(0.0) < 400.0
        });
        assert_eq!(early, empty_early, "{kind}: {cmd:?}");
    }
}

// ---- drift ----------------------------------------------------------------------------------

fn drift_scenario(budget: &str, annotations: Value, tgp: Option<&str>) -> Loaded {
    let extra = match tgp {
        Some(t) => json!({"spec": {"template": {"spec": {"terminationGracePeriod": t}}}}),
        None => json!({}),
    };
    load(
        spec(
            "60m",
            json!({"timeline": [{"at": "5m", "driftNodeClass": "default"}]}),
        ),
        &[
            nodeclass(),
            nodepool(
                "default",
                &["m5.large"],
                &["on-demand"],
                json!({"budgets": [{"nodes": budget}]}),
                extra,
            ),
            deployment(
                "web",
                4,
                {
                    let mut s = pod_spec("500m", json!({}));
                    merge(&mut s, one_per_node("web"));
                    s
                },
                annotations,
            ),
        ],
    )
}

// §8 item 45: drifted nodes are replaced one per command under the budget, earliest first;
// every node ends up replaced.
#[test]
fn drift_replaces_every_drifted_node_one_at_a_time_within_budget() {
    let l = drift_scenario("25%", json!({}), None);
    let mut sim = start(&l);
    let mut max_disrupting = 0;
    while let Some(t) = sim.step() {
        let disrupting = sim
            .cluster
            .nodes()
            .filter(|n| n.deleting || n.taints.iter().any(|t| t.key == "karpenter.sh/disrupted"))
            .count();
        max_disrupting = max_disrupting.max(disrupting);
        if t.0 >= 55 * M {
            break;
        }
    }
    let cmds = events(&sim, "disruption");
    assert_eq!(cmds.len(), 4, "{cmds:?}");
    assert!(
        cmds.iter()
            .all(|c| c["method"] == "drift" && c["decision"] == "replace")
    );
    assert!(cmds.iter().all(|c| names(&c["nodeclaims"]).len() == 1));
    assert_eq!(max_disrupting, 1, "25% of 4 nodes");
    // The original four are gone; four new ones run the pods.
    let live: Vec<String> = sim.cluster.nodes().map(|n| n.name.clone()).collect();
    for c in &cmds {
        assert!(!live.contains(&names(&c["nodeclaims"])[0]));
    }
    assert_eq!(live.len(), 4);
}

// §8 item 46: a do-not-disrupt pod blocks drift, unless the NodeClaim has a
// terminationGracePeriod.
#[test]
fn do_not_disrupt_blocks_drift_unless_a_termination_grace_period_is_set() {
    let dnd = json!({"karpenter.sh/do-not-disrupt": "true"});
    let l = drift_scenario("100%", dnd.clone(), None);
    let sim = run(&l, 55 * M);
    assert!(events(&sim, "disruption").is_empty());
    let l = drift_scenario("100%", dnd, Some("10m"));
    let sim = run(&l, 55 * M);
    assert!(!events(&sim, "disruption").is_empty());
}

/// Four m5.large nodes, one web pod each, and NodePool `default` replaced at each `at` by
/// the given versions (a timeline `applyFile` per version).
fn nodepool_change(versions: &[(&str, Value)]) -> Loaded {
    nodepool_change_with(versions, Vec::new())
}

/// [`nodepool_change`] with more timeline steps.
fn nodepool_change_with(versions: &[(&str, Value)], steps: Vec<Value>) -> Loaded {
    let base = nodepool(
        "default",
        &["m5.large"],
        &["on-demand"],
        json!({"budgets": [{"nodes": "100%"}]}),
        json!({}),
    );
    let mut timeline: Vec<Value> = versions
        .iter()
        .enumerate()
        .map(|(i, (at, _))| json!({"at": at, "applyFile": format!("nodepool-v{i}.yaml")}))
        .collect();
    timeline.extend(steps);
    let files: Vec<(String, Vec<Value>)> = versions
        .iter()
        .enumerate()
        .map(|(i, (_, patch))| {
            let mut np = base.clone();
            merge(&mut np, patch.clone());
            (format!("nodepool-v{i}.yaml"), vec![np])
        })
        .collect();
    let file_refs: Vec<(&str, &[Value])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let mut web = pod_spec("500m", json!({}));
    merge(&mut web, one_per_node("web"));
    load_with_files(
        spec("40m", json!({"timeline": timeline})),
        &[
            nodeclass(),
            base.clone(),
            deployment("web", 4, web, json!({})),
        ],
        &file_refs,
    )
}

fn template_labels(labels: Value) -> Value {
    json!({"spec": {"template": {"metadata": {"labels": labels}}}})
}

// §4.5: a change of the NodePool template's hashed fields (here a label) drifts every
// NodeClaim of the NodePool; they are replaced, and the new nodes carry the new label.
#[test]
fn a_nodepool_template_change_drifts_its_nodes_and_replaces_them() {
    let l = nodepool_change(&[("6m", template_labels(json!({"team": "web"})))]);
    let sim = run(&l, 39 * M);
    let applied = events(&sim, "nodepool-applied");
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0]["changed"], json!(["template"]));
    assert_eq!(applied[0]["drifted_nodeclaims"], 4);
    let cmds = events(&sim, "disruption");
    assert_eq!(cmds.len(), 4, "{cmds:?}");
    for c in &cmds {
        assert_eq!(c["method"], "drift");
        assert_eq!(c["drift_reason"], "NodePoolDrifted");
        // Found at the 10-minute check (created at about 0 s; checks every 5 min).
        let t = c["t_s"].as_f64().unwrap_or(0.0);
        assert!(
            t >= 600.0,
            "drift acted at {t} s, before the check after the change"
        );
    }
    let nodes: Vec<_> = sim.cluster.nodes().collect();
    assert_eq!(nodes.len(), 4);
    assert!(nodes.iter().all(|n| n.label("team") == Some("web")));
}

// §4.5: requirements are not hashed; a NodeClaim drifts only when its labels no longer meet
// them. Widening the instance types drifts nothing; narrowing them away from m5.large drifts
// every node, which come back as m5.xlarge (dearer, so consolidation does not act first).
#[test]
fn a_nodepool_requirement_change_drifts_only_nodes_that_no_longer_match() {
    let types = |t: &[&str]| {
        json!({"spec": {"template": {"spec": {"requirements": [
            {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": t},
            {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
        ]}}}})
    };
    let l = nodepool_change(&[("6m", types(&["m5.large", "c5.large"]))]);
    let sim = run(&l, 39 * M);
    let applied = events(&sim, "nodepool-applied");
    assert_eq!(applied[0]["changed"], json!(["requirements"]));
    assert_eq!(applied[0]["drifted_nodeclaims"], 0);
    // (c5.large is cheaper, so consolidation may replace nodes; drift must not.)
    assert!(
        events(&sim, "disruption")
            .iter()
            .all(|c| c["method"] != "drift")
    );

    let l = nodepool_change(&[("6m", types(&["m5.xlarge"]))]);
    let sim = run(&l, 39 * M);
    let cmds = events(&sim, "disruption");
    assert_eq!(cmds.len(), 4, "{cmds:?}");
    assert!(
        cmds.iter()
            .all(|c| c["drift_reason"] == "RequirementsDrifted"),
        "{cmds:?}"
    );
    let types: Vec<_> = sim
        .cluster
        .nodes()
        .map(|n| {
            n.label("node.kubernetes.io/instance-type")
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(types, vec!["m5.xlarge"; 4]);
}

// §4.5: budgets, weight and limits are not part of the hash: changing them drifts nothing, and
// the new budget takes effect at once (here a 0 budget stops a NodeClass drift).
#[test]
fn a_nodepool_budget_change_takes_effect_without_drifting_nodes() {
    let l = nodepool_change(&[(
        "1m",
        json!({"spec": {"weight": 10, "disruption": {"budgets": [{"nodes": "0"}]}}}),
    )]);
    let sim = run(&l, 39 * M);
    let applied = events(&sim, "nodepool-applied");
    assert_eq!(applied[0]["changed"], json!(["disruption", "weight"]));
    assert_eq!(applied[0]["drifted_nodeclaims"], 0);
    assert!(events(&sim, "disruption").is_empty());

    // The same budget change, then an AMI change: drifted, but the budget allows nothing.
    let l = nodepool_change_with(
        &[(
            "1m",
            json!({"spec": {"disruption": {"budgets": [{"nodes": "0"}]}}}),
        )],
        vec![json!({"at": "2m", "driftNodeClass": "default"})],
    );
    let sim = run(&l, 39 * M);
    assert_eq!(events(&sim, "nodeclass-changed").len(), 1);
    assert!(events(&sim, "disruption").is_empty());
}

// §1.6, §4.3: a NodePool applied mid-run that sorts first (heavier) moves the others' places
// in Karpenter's list; each NodeClaim keeps being judged by its own NodePool. Here the new
// NodePool never consolidates, and the old one's empty nodes still go.
#[test]
fn a_heavier_nodepool_applied_later_leaves_the_others_nodeclaims_their_own_nodepool() {
    let l = nodepool_change_with(
        &[(
            "5m",
            json!({"metadata": {"name": "heavy"},
                   "spec": {"weight": 100, "disruption": {"consolidateAfter": "Never"}}}),
        )],
        vec![json!({"at": "10m", "scale": {"deployment": "web", "replicas": 0}})],
    );
    let sim = run(&l, 39 * M);
    let applied = events(&sim, "nodepool-applied");
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0]["nodepool"], "heavy");
    let cmds = events(&sim, "disruption");
    assert!(
        !cmds.is_empty() && cmds.iter().all(|c| c["method"] == "emptiness"),
        "{cmds:?}"
    );
    assert_eq!(
        sim.cluster.nodes().count(),
        0,
        "default's empty nodes are gone"
    );
}

// §4.5: the hash compares values: a template changed and changed back before the next drift
// check is no drift.
#[test]
fn a_nodepool_changed_back_before_the_drift_check_does_not_drift() {
    let l = nodepool_change(&[
        ("6m", template_labels(json!({"team": "web"}))),
        ("7m", json!({})),
    ]);
    let sim = run(&l, 39 * M);
    let applied = events(&sim, "nodepool-applied");
    assert_eq!(applied.len(), 2);
    assert_eq!(applied[1]["changed"], json!(["template"]));
    assert!(events(&sim, "disruption").is_empty());
}

/// The NodeClaim launched `n`-th (0-based), by its `launched` event.
fn launched_claim(sim: &Simulation<'_>, n: usize) -> String {
    events(sim, "launched")
        .get(n)
        .and_then(|e| e["nodeclaim"].as_str().map(String::from))
        .unwrap_or_else(|| panic!("no launch #{n}"))
}

const TYPE: &str = "node.kubernetes.io/instance-type";

fn tainted_disrupted(n: &autoscale_sim::cluster::Node) -> bool {
    n.taints.iter().any(|t| t.key == "karpenter.sh/disrupted")
}

// §8 item 45 "a drift replacement may consist of several NodeClaims": one m5.2xlarge holds
// three 1.5-CPU pods; the NodePool narrowed to m5.large (one such pod each) makes a single
// drift command with three replacements, and the old node is deleted only once all three are
// initialized.
#[test]
fn a_drift_replacement_may_be_several_nodeclaims_and_waits_for_all_to_initialize() {
    let np = |types: &[&str]| {
        nodepool(
            "default",
            types,
            &["on-demand"],
            json!({"budgets": [{"nodes": "100%"}]}),
            json!({}),
        )
    };
    let narrowed = [np(&["m5.large"])];
    let l = load_with_files(
        spec(
            "40m",
            json!({"timeline": [{"at": "6m", "applyFile": "narrow.yaml"}]}),
        ),
        &[
            nodeclass(),
            np(&["m5.2xlarge"]),
            deployment("web", 3, pod_spec("1500m", json!({})), json!({})),
        ],
        &[("narrow.yaml", &narrowed)],
    );
    let mut sim = start(&l);
    let mut seen_old = false;
    // (initialized, all) m5.large nodes when the m5.2xlarge first starts going.
    let mut at_deletion = None;
    // Some moment with the replacements launched but not all initialized, the old node intact.
    let mut waited = false;
    while let Some(t) = sim.step() {
        let old = sim
            .cluster
            .nodes()
            .find(|n| n.label(TYPE) == Some("m5.2xlarge"));
        let small: Vec<_> = sim
            .cluster
            .nodes()
            .filter(|n| n.label(TYPE) == Some("m5.large"))
            .collect();
        let init = small
            .iter()
            .filter(|n| n.label("karpenter.sh/initialized") == Some("true"))
            .count();
        match old {
            Some(o) if !o.deleting => {
                seen_old = true;
                waited |= !small.is_empty() && init < 3;
            }
            _ if seen_old && at_deletion.is_none() => at_deletion = Some((init, small.len())),
            _ => {}
        }
        if t.0 >= 38 * M {
            break;
        }
    }
    let cmds = events(&sim, "disruption");
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    assert_eq!(cmds[0]["method"], "drift");
    assert_eq!(cmds[0]["decision"], "replace");
    assert_eq!(names(&cmds[0]["nodeclaims"]).len(), 1);
    assert_eq!(
        names(&cmds[0]["replacement_instance_types"]),
        ["m5.large"; 3]
    );
    let t_cmd = cmds[0]["t_s"].as_f64().unwrap_or(0.0);
    let created_after = events(&sim, "nodeclaim-created")
        .iter()
        .filter(|e| e["t_s"].as_f64().unwrap_or(0.0) >= t_cmd)
        .count();
    assert_eq!(created_after, 3);
    assert!(events(&sim, "disruption-failed").is_empty());
    assert!(waited, "the replacements were never seen launching");
    assert_eq!(at_deletion, Some((3, 3)), "(initialized, m5.large nodes)");
    let pods_running = sim
        .cluster
        .pods
        .iter()
        .filter(|p| p.phase == PodPhase::Running)
        .count();
    assert_eq!(pods_running, 3);
}

// §8 item 45 "failed replacement untaints the node" (§4.8 step 4): the NodePool narrowed to
// m5.xlarge while m5.xlarge on-demand has no capacity; the drift replacement's launch fails,
// the command fails, and the candidate loses its disrupted taint and keeps its pod. Once the
// capacity is back the drift goes through.
#[test]
fn a_failed_drift_replacement_untaints_the_candidate_and_keeps_it() {
    let np = |types: &[&str]| {
        nodepool(
            "default",
            types,
            &["on-demand"],
            json!({"budgets": [{"nodes": "100%"}]}),
            json!({}),
        )
    };
    let narrowed = [np(&["m5.xlarge"])];
    let l = load_with_files(
        spec(
            "40m",
            json!({
                "cloud": {"capacity": [{"instanceTypes": ["m5.xlarge"], "capacityType": "on-demand", "from": "6m", "until": "25m"}]},
                "timeline": [{"at": "6m", "applyFile": "narrow.yaml"}],
            }),
        ),
        &[
            nodeclass(),
            np(&["m5.large"]),
            deployment("web", 1, pod_spec("500m", json!({})), json!({})),
        ],
        &[("narrow.yaml", &narrowed)],
    );
    let mut sim = start(&l);
    let mut checked = false;
    let mut was_tainted = false;
    while let Some(t) = sim.step() {
        let node = sim
            .cluster
            .nodes()
            .find(|n| n.label(TYPE) == Some("m5.large"));
        was_tainted |= node.is_some_and(tainted_disrupted);
        if !checked && !events(&sim, "disruption-failed").is_empty() {
            checked = true;
            let node = node.expect("the candidate is still there");
            assert!(!tainted_disrupted(node), "still tainted: {:?}", node.taints);
            assert!(!node.deleting);
            let web = sim
                .cluster
                .pods
                .iter()
                .find(|p| p.name.starts_with("web"))
                .expect("web pod");
            assert_eq!(web.phase, PodPhase::Running);
            assert_eq!(web.node, Some(node.id));
        }
        if t.0 >= 38 * M {
            break;
        }
    }
    assert!(checked, "no disruption-failed event");
    assert!(was_tainted, "the command never tainted the candidate");
    let failed = events(&sim, "disruption-failed");
    assert_eq!(failed[0]["method"], "drift");
    let candidate = launched_claim(&sim, 0);
    assert_eq!(
        names(&failed[0]["nodeclaims"]),
        std::slice::from_ref(&candidate)
    );
    // It failed because the replacement's launch did.
    let t_fail = failed[0]["t_s"].as_f64().unwrap_or(0.0);
    assert!(
        events(&sim, "launch-failed")
            .iter()
            .any(|e| e["t_s"].as_f64().unwrap_or(f64::MAX) <= t_fail),
        "{failed:?}"
    );
    // Not deleted while m5.xlarge had no capacity; replaced after.
    let deleted = events(&sim, "nodeclaim-deleted");
    let gone = deleted
        .iter()
        .find(|d| d["nodeclaim"] == candidate.as_str())
        .expect("replaced once the capacity came back");
    assert!(gone["t_s"].as_f64().unwrap_or(0.0) >= 25.0 * 60.0, "{gone}");
    let types: Vec<_> = sim.cluster.nodes().filter_map(|n| n.label(TYPE)).collect();
    assert_eq!(types, ["m5.xlarge"]);
}

// §8 item 45 "continue to next candidate if pods can't reschedule": the NodePool drops
// us-east-1a, drifting the node there first (10 min); its pod must stay in us-east-1a, so drift
// passes it over (`unconsolidatable`) and replaces the later-drifted (AMI, 15 min) other node.
#[test]
fn drift_skips_a_candidate_whose_pods_cannot_reschedule_and_replaces_the_next() {
    let zones = |z: &[&str]| {
        let mut np = nodepool(
            "default",
            &["m5.large"],
            &["on-demand"],
            json!({"budgets": [{"nodes": "100%"}]}),
            json!({}),
        );
        if !z.is_empty() {
            np["spec"]["template"]["spec"]["requirements"]
                .as_array_mut()
                .expect("requirements")
                .push(json!({"key": "topology.kubernetes.io/zone", "operator": "In", "values": z}));
        }
        np
    };
    let in_zone = |z: &str| {
        pod_spec(
            "1500m",
            json!({"nodeSelector": {"topology.kubernetes.io/zone": z}}),
        )
    };
    let narrowed = [zones(&["us-east-1b", "us-east-1c"])];
    let l = load_with_files(
        spec(
            "40m",
            json!({"timeline": [
                {"at": "6m", "applyFile": "zones.yaml"},
                {"at": "11m", "driftNodeClass": "default"},
            ]}),
        ),
        &[
            nodeclass(),
            zones(&[]),
            deployment("pinned", 1, in_zone("us-east-1a"), json!({})),
            deployment("other", 1, in_zone("us-east-1b"), json!({})),
        ],
        &[("zones.yaml", &narrowed)],
    );
    let sim = run(&l, 38 * M);
    let launched = events(&sim, "launched");
    let claim_in = |z: &str| {
        launched
            .iter()
            .find(|e| e["zone"] == z)
            .and_then(|e| e["nodeclaim"].as_str().map(String::from))
            .unwrap_or_else(|| panic!("no launch in {z}"))
    };
    let (stuck, movable) = (claim_in("us-east-1a"), claim_in("us-east-1b"));
    let skipped: Vec<_> = events(&sim, "unconsolidatable")
        .into_iter()
        .filter(|e| e["nodeclaim"] == stuck.as_str())
        .collect();
    assert!(
        skipped.iter().any(|e| e["reason"]
            .as_str()
            .unwrap_or("")
            .contains("could not be rescheduled")),
        "{skipped:?}"
    );
    let cmds = events(&sim, "disruption");
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    assert_eq!(cmds[0]["method"], "drift");
    assert_eq!(names(&cmds[0]["nodeclaims"]), [movable]);
    // The skipped node drifted first and stays, with its pod.
    assert!(
        cmds[0]["t_s"].as_f64().unwrap_or(0.0) >= 15.0 * 60.0,
        "{}",
        cmds[0]
    );
    let pinned = sim
        .cluster
        .pods
        .iter()
        .find(|p| p.name.starts_with("pinned"))
        .expect("pinned pod");
    assert_eq!(pinned.phase, PodPhase::Running);
    let node = sim.cluster.node(pinned.node.expect("bound")).expect("node");
    assert_eq!(
        node.label("topology.kubernetes.io/zone"),
        Some("us-east-1a")
    );
    assert!(!node.deleting && !tainted_disrupted(node));
}

// §8 item 45 "empty drifted nodes before non-empty": with emptiness off (consolidateAfter
// Never), the empty node drifted later (7 min) is still taken before the non-empty one drifted
// earlier (5 min), once a scheduled zero budget lifts at 10 min.
#[test]
fn drift_takes_empty_drifted_nodes_before_non_empty_ones() {
    let budgets = json!({
        "consolidateAfter": "Never",
        "budgets": [
            {"nodes": "100%"},
            {"nodes": "0", "schedule": "0 0 * * *", "duration": "10m"},
        ],
    });
    let l = load(
        spec(
            "40m",
            json!({"timeline": [
                {"at": "2m", "apply": {"deployment": "gone"}},
                {"at": "4m", "delete": {"deployment": "gone"}},
                {"at": "5m", "driftNodeClass": "default"},
            ]}),
        ),
        &[
            nodeclass(),
            nodepool("default", &["m5.large"], &["on-demand"], budgets, json!({})),
            deployment("keep", 1, pod_spec("1500m", json!({})), json!({})),
            deployment("gone", 1, pod_spec("1500m", json!({})), json!({})),
        ],
    );
    let sim = run(&l, 38 * M);
    let (busy, empty) = (launched_claim(&sim, 0), launched_claim(&sim, 1));
    let cmds = events(&sim, "disruption");
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    assert!(cmds.iter().all(|c| c["method"] == "drift"));
    assert!(
        cmds[0]["t_s"].as_f64().unwrap_or(0.0) >= 600.0,
        "{}",
        cmds[0]
    );
    assert_eq!(names(&cmds[0]["nodeclaims"]), [empty]);
    assert_eq!(cmds[0]["decision"], "delete");
    assert_eq!(names(&cmds[1]["nodeclaims"]), [busy]);
    assert_eq!(cmds[1]["decision"], "replace");
}

// §8 item 42 "won't delete if pods would need an uninitialized node": node A's small pod fits
// only on node C, which a startup taint keeps uninitialized for 10 minutes. A is not
// consolidated until C is initialized; then A is deleted and the pod moves to C.
#[test]
fn consolidation_waits_while_pods_would_need_an_uninitialized_node() {
    let other = nodepool(
        "other",
        &["m5.large"],
        &["on-demand"],
        json!({}),
        json!({"spec": {"template": {
            "metadata": {"labels": {"team": "other"}},
            "spec": {"startupTaints": [{"key": "example.com/agent", "effect": "NoSchedule"}]},
        }}}),
    );
    let l = load(
        spec(
            "30m",
            json!({
                "karpenter": {"settings": {"startupTaintRemoval": "10m"}},
                "timeline": [
                    {"at": "3m", "delete": {"deployment": "big"}},
                    {"at": "3m", "apply": {"deployment": "c"}},
                ],
            }),
        ),
        &[
            nodeclass(),
            nodepool(
                "default",
                &["m5.large"],
                &["on-demand"],
                json!({}),
                json!({"spec": {"weight": 10}}),
            ),
            other,
            deployment("big", 1, pod_spec("1500m", json!({})), json!({})),
            deployment("small", 1, pod_spec("300m", json!({})), json!({})),
            deployment(
                "c",
                1,
                pod_spec("1500m", json!({"nodeSelector": {"team": "other"}})),
                json!({}),
            ),
        ],
    );
    let mut sim = start(&l);
    let mut c_initialized = None;
    while let Some(t) = sim.step() {
        if c_initialized.is_none()
            && sim.cluster.nodes().any(|n| {
                n.label("team") == Some("other")
                    && n.label("karpenter.sh/initialized") == Some("true")
            })
        {
            c_initialized = Some(t.0 as f64 / 1000.0);
        }
        if t.0 >= 28 * M {
            break;
        }
    }
    let c_init = c_initialized.expect("C initialized");
    assert!(c_init >= 13.0 * 60.0, "C initialized at {c_init} s");
    let a = launched_claim(&sim, 0);
    let why: Vec<_> = events(&sim, "unconsolidatable")
        .into_iter()
        .filter(|e| e["nodeclaim"] == a.as_str())
        .collect();
    let uninit = why
        .iter()
        .find(|e| {
            e["reason"]
                .as_str()
                .unwrap_or("")
                .contains("would schedule against an uninitialized node")
        })
        .unwrap_or_else(|| panic!("{why:?}"));
    assert!(uninit["t_s"].as_f64().unwrap_or(0.0) < c_init);
    let cmds = events(&sim, "disruption");
    let cmd = cmds.first().expect("A consolidated after C initialized");
    assert!(cmd["t_s"].as_f64().unwrap_or(0.0) >= c_init, "{cmd}");
    assert_eq!(cmd["decision"], "delete");
    assert_eq!(names(&cmd["nodeclaims"]), [a]);
    let small = sim
        .cluster
        .pods
        .iter()
        .rev()
        .find(|p| p.name.starts_with("small"))
        .expect("small pod");
    assert_eq!(small.phase, PodPhase::Running);
    let host = sim.cluster.node(small.node.expect("bound")).expect("node");
    assert_eq!(host.label("team"), Some("other"));
}

// ---- budget accounting ----------------------------------------------------------------------

// §8 item 47 and the check: a 10% budget never lets more than 10% (rounded up) of the
// NodePool's initialized nodes be disrupting, checked at every event.
#[test]
fn a_ten_percent_budget_never_has_more_than_ten_percent_disrupting() {
    let l = load(
        spec("40m", delete_big("5m")),
        &big_then_small(20, true, "10%"),
    );
    let mut sim = start(&l);
    let mut saw_disruption = false;
    while let Some(t) = sim.step() {
        let nodes: Vec<_> = sim
            .cluster
            .nodes()
            .filter(|n| n.label("karpenter.sh/initialized") == Some("true"))
            .collect();
        let disrupting = nodes
            .iter()
            .filter(|n| n.deleting || n.taints.iter().any(|t| t.key == "karpenter.sh/disrupted"))
            .count();
        saw_disruption |= disrupting > 0;
        let allowed = (nodes.len() * 10).div_ceil(100);
        assert!(
            disrupting <= allowed.max(1),
            "at {t:?}: {disrupting} of {} disrupting",
            nodes.len()
        );
        if t.0 >= 38 * M {
            break;
        }
    }
    assert!(saw_disruption);
    assert!(live_nodes(&sim).values().sum::<usize>() < 20);
}

// ---- expiration, consolidateAfter ---------------------------------------------------------------

// §8 item 53: an expired NodeClaim is deleted exactly expireAfter after its creation, whatever
// the budget; consolidateAfter counts from the last pod event.
#[test]
fn expiration_deletes_the_nodeclaim_at_exactly_expire_after_ignoring_budgets() {
    let l = load(
        spec("30m", json!({})),
        &[
            nodeclass(),
            nodepool(
                "default",
                &["m5.large"],
                &["on-demand"],
                json!({"budgets": [{"nodes": "0"}]}),
                json!({"spec": {"template": {"spec": {"expireAfter": "10m"}}}}),
            ),
            deployment("web", 1, pod_spec("500m", json!({})), json!({})),
        ],
    );
    let sim = run(&l, 25 * M);
    let created = events(&sim, "nodeclaim-created");
    let expired = events(&sim, "expired");
    assert!(!expired.is_empty());
    let t0 = created[0]["t_s"].as_f64().unwrap_or(0.0);
    assert!((expired[0]["t_s"].as_f64().unwrap_or(0.0) - t0 - 600.0).abs() < 1e-6);
    assert_eq!(expired[0]["nodeclaim"], created[0]["nodeclaim"]);
    // The pod's replacement came from the normal provisioning loop.
    assert!(created.len() >= 2);
}

#[test]
fn emptiness_waits_for_consolidate_after_since_the_last_pod_event() {
    let mut docs = big_then_small(1, false, "100%");
    docs[1]["spec"]["disruption"]["consolidateAfter"] = json!("4m");
    let l = load(spec("15m", delete_big("3m")), &docs);
    let sim = run(&l, 12 * M);
    let v = events(&sim, "disruption-validating");
    let t = v.first().expect("emptiness")["t_s"].as_f64().unwrap_or(0.0);
    // The pod left a few seconds after 3m; 4 minutes later, at the next 10 s pass.
    assert!((7.0 * 60.0..7.0 * 60.0 + 20.0).contains(&t), "{t}");
}

// ---- termination ----------------------------------------------------------------------------

// §8 item 54: the drain evicts non-critical pods before system-*-critical ones, leaves pods
// tolerating the disrupted taint, and takes at least 5 s.
#[test]
fn drain_evicts_non_critical_pods_before_critical_ones() {
    let critical = json!({"priorityClassName": "system-cluster-critical"});
    let tolerant =
        json!({"tolerations": [{"key": "karpenter.sh/disrupted", "operator": "Exists"}]});
    let l = load(
        spec("20m", json!({})),
        &[
            nodeclass(),
            nodepool(
                "default",
                &["m5.xlarge"],
                &["on-demand"],
                json!({"consolidateAfter": "Never"}),
                json!({"spec": {"template": {"spec": {"expireAfter": "5m"}}}}),
            ),
            deployment(
                "app",
                1,
                pod_spec("200m", json!({"terminationGracePeriodSeconds": 60})),
                json!({}),
            ),
            deployment("dns", 1, pod_spec("200m", critical), json!({})),
            deployment("tolerant", 1, pod_spec("200m", tolerant), json!({})),
        ],
    );
    let sim = run(&l, 8 * M);
    let first = |name: &str| {
        sim.cluster
            .pods
            .iter()
            .find(|p| p.name.starts_with(name))
            .unwrap_or_else(|| panic!("{name}"))
    };
    let (app, dns, tol) = (first("app"), first("dns"), first("tolerant"));
    let app_end = app.ended_at.expect("app evicted");
    let dns_start = dns.terminating_since.expect("dns evicted");
    assert!(
        dns_start >= app_end,
        "critical evicted at {dns_start:?} before app ended {app_end:?}"
    );
    // The tolerant pod is never evicted: it stays until the node goes.
    assert_eq!(tol.terminating_since, None);
}

// ---- interruption ----------------------------------------------------------------------------

// §8 item 60: a spot interruption warning deletes the NodeClaim at once and marks the offering
// unavailable, so the replacement launches elsewhere.
#[test]
fn spot_interruption_deletes_the_nodeclaim_and_avoids_the_offering() {
    let l = load(
        spec(
            "40m",
            json!({"cloud": {"spot": {"interruptions": {"perHour": 6.0}}}}),
        ),
        &[
            nodeclass(),
            nodepool(
                "default",
                &["m5.large", "m5a.large", "c5.large", "c6a.large"],
                &["spot"],
                json!({"consolidateAfter": "Never"}),
                json!({}),
            ),
            deployment("web", 1, pod_spec("500m", json!({})), json!({})),
        ],
    );
    let sim = run(&l, 38 * M);
    let interrupted = events(&sim, "interruption");
    let warn = interrupted
        .iter()
        .find(|e| e["kind"] == "spot_interrupted")
        .expect("a spot interruption in 40 minutes at 6/h");
    let t = warn["t_s"].as_f64().unwrap_or(0.0);
    let deleted = events(&sim, "nodeclaim-deleted");
    assert!(deleted.iter().any(|d| d["nodeclaim"] == warn["nodeclaim"]
        && d["reason"] == "interruption"
        && d["t_s"].as_f64() == Some(t)));
    // The next launch within 3 minutes does not use the interrupted (type, zone) offering.
    let launched = events(&sim, "launched");
    let lost = launched
        .iter()
        .find(|l| l["nodeclaim"] == warn["nodeclaim"])
        .expect("launch");
    if let Some(next) = launched.iter().find(|l| {
        let lt = l["t_s"].as_f64().unwrap_or(0.0);
        lt > t && lt < t + 180.0
    }) {
        assert!(
            next["instance_type"] != lost["instance_type"] || next["zone"] != lost["zone"],
            "{next} reuses {lost}"
        );
    }
}
