//! Spot instance choice over the real us-east-1 catalog (issue 14 item 1; docs/model/ec2.md
//! §2): price-capacity-optimized takes the cheapest pool among those with enough capacity for
//! the request, so the chosen spot price stays near the cheapest compatible offering, while a
//! dearer legacy type still wins now and then where the cheap pools are shallow
//! (kubernetes-sigs/karpenter#2137, aws/karpenter-provider-aws#3044).
//!
//! Karpenter: whole scenarios, one pod on a spot-only NodePool, many shapes, NodePools and
//! seeds; the launch is read from the decision log. The pools' prices and capacity figures are
//! rebuilt with the simulation's own `mock_config`, so "cheapest compatible offering" is the
//! zone price the mock charges. cluster-autoscaler: spot Auto Scaling groups with a
//! MixedInstancesPolicy of several types, driven through the `Cloud` trait on the same mock.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use autoscale_sim::catalog::allocatable::{AmiFamily, default_node_resources};
use autoscale_sim::catalog::{Arch, Catalog};
use autoscale_sim::cloud::market::is_legacy;
use autoscale_sim::cloud::mock::MockEc2;
use autoscale_sim::cloud::mock::pco_tier_threshold;
use autoscale_sim::cloud::{
    AsgSpec, CapacityType, Cloud, CloudRngs, CloudTimer, LaunchSpec, Notice,
};
use autoscale_sim::engine::RngStreams;
use autoscale_sim::karpenter::launch::MAX_FLEET_TYPES;
use autoscale_sim::sim::mock_config;
use autoscale_sim::workload::Scenario;
use serde_json::{Value, json};

const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];
const SEEDS: u64 = 12;

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

/// A spot-only amd64 NodePool over `categories` with generation > `gen_gt`, in `zone` only
/// when given (a zonal workload: EBS volumes, a zone's topology spread).
fn nodepool(categories: &[&str], gen_gt: u32, zone: Option<&str>) -> Value {
    let mut np = json!({
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "spot"},
        "spec": {"template": {"spec": {
            "requirements": [
                {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]},
                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": categories},
                {"key": "karpenter.k8s.aws/instance-generation", "operator": "Gt", "values": [gen_gt.to_string()]},
            ],
            "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
        }}},
    });
    if let Some(z) = zone {
        np["spec"]["template"]["spec"]["requirements"]
            .as_array_mut()
            .expect("requirements")
            .push(json!({"key": "topology.kubernetes.io/zone", "operator": "In", "values": [z]}));
    }
    np
}

fn pod(cpu: &str, mem: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "app"},
        "spec": {"containers": [{"name": "c", "image": "busybox",
            "resources": {"requests": {"cpu": cpu, "memory": mem}}}]},
    })
}

/// One spot launch: its price over the cheapest compatible pool's, whether it is a dearer
/// (> 1.2 ×) legacy type, and whether every cheaper pool of the request was under the tier's bar.
struct Pick {
    case: String,
    ratio: f64,
    dearer_legacy: bool,
    cheaper_pools_shallow: bool,
}

/// The compatible spot types of a case, as Karpenter's CreateFleet would carry them: fits the
/// pod under AL2023's allocatable, the NodePool's requirements, no metal while others fit, the
/// 60 cheapest by the catalog (Advisor) price Karpenter sees.
fn fleet_types<'c>(
    cat: &'c Catalog,
    categories: &[&str],
    gen_gt: u32,
    cpu_m: i64,
    mem: i64,
) -> Vec<&'c autoscale_sim::catalog::InstanceType> {
    let mut fits: Vec<_> = cat
        .types()
        .iter()
        .filter(|t| {
            t.has_spot()
                && t.arch == Arch::Amd64
                && categories.contains(&t.category.as_str())
                && t.generation > gen_gt
                && t.gpu_count.unwrap_or(0) == 0
                && default_node_resources(t, AmiFamily::AL2023)
                    .is_ok_and(|r| r.allocatable.cpu_m >= cpu_m && r.allocatable.memory >= mem)
        })
        .collect();
    if fits.iter().any(|t| !t.size.contains("metal")) {
        fits.retain(|t| !t.size.contains("metal"));
    }
    fits.sort_by(|a, b| {
        a.spot_price()
            .unwrap_or(f64::INFINITY)
            .total_cmp(&b.spot_price().unwrap_or(f64::INFINITY))
            .then(a.name.cmp(&b.name))
    });
    fits.truncate(MAX_FLEET_TYPES);
    fits
}

fn karpenter_picks() -> Vec<Pick> {
    let cat = Catalog::embedded("us-east-1").expect("embedded catalog");
    let shapes = [
        ("1", "4Gi"),
        ("2", "16Gi"),
        ("3", "12Gi"),
        ("6", "40Gi"),
        ("14", "56Gi"),
        ("30", "120Gi"),
        ("60", "400Gi"),
        ("90", "180Gi"),
    ];
    // Three NodePools over every zone, and the first pinned to each zone in turn: a request
    // over three zones escapes a zone's crunch (docs/model/ec2.md §2.1), a zonal one does not.
    let pools: [(&[&str], u32, Option<&str>); 6] = [
        (&["c", "m", "r"], 2, None),
        (&["m", "r"], 3, None),
        (&["c", "m", "r"], 4, None),
        (&["c", "m", "r"], 2, Some(ZONES[0])),
        (&["c", "m", "r"], 2, Some(ZONES[1])),
        (&["c", "m", "r"], 2, Some(ZONES[2])),
    ];
    let mut picks = Vec::new();
    for &(categories, gen_gt, zone) in &pools {
        for &(cpu, mem) in &shapes {
            let cpu_m = autoscale_sim::k8s::quantity::parse_quantity(cpu)
                .expect("cpu")
                .to_milli_ceil();
            let mem_b = autoscale_sim::k8s::quantity::parse_quantity(mem)
                .expect("memory")
                .to_units_ceil();
            let types = fleet_types(&cat, categories, gen_gt, cpu_m, mem_b);
            assert!(!types.is_empty(), "{cpu}/{mem}: nothing fits");
            for seed in 1..=SEEDS {
                let spec = json!({
                    "seed": seed,
                    "duration": "1m",
                    "cloud": {"spot": {"interruptions": "none"}},
                });
                let l = common::load_json(
                    "spot-choice",
                    spec,
                    &[
                        nodeclass(),
                        nodepool(categories, gen_gt, zone),
                        pod(cpu, mem),
                    ],
                    &[],
                );
                let mut sim = common::start_karpenter(&l);
                common::run_to(&mut sim, 20_000);
                let launched: Vec<Value> = sim
                    .decisions()
                    .iter()
                    .map(|d| serde_json::from_str::<Value>(d).expect("JSON"))
                    .filter(|d| d["event"] == "launched")
                    .collect();
                let zones: Vec<&str> = zone.map_or(ZONES.to_vec(), |z| vec![z]);
                let case = format!(
                    "{categories:?}>{gen_gt} in {} {cpu}/{mem} seed {seed}",
                    zone.unwrap_or("all zones")
                );
                let [one] = launched.as_slice() else {
                    panic!("{case}: expected one launch, got {launched:?}");
                };
                picks.push(judge(&l.sc, &cat, &types, &zones, one, case));
            }
        }
    }
    picks
}

/// Compares a launch with the pools the request offered, on the mock rebuilt from the scenario.
fn judge(
    sc: &Scenario,
    cat: &Catalog,
    types: &[&autoscale_sim::catalog::InstanceType],
    zones: &[&str],
    launched: &Value,
    case: String,
) -> Pick {
    let mock = MockEc2::new(mock_config(sc, Default::default())).expect("mock");
    let chosen_type = launched["instance_type"].as_str().expect("type");
    let chosen_zone = launched["zone"].as_str().expect("zone");
    let price = launched["price"].as_f64().expect("price");
    assert_eq!(launched["capacity_type"], "spot", "{case}");
    assert!(
        zones.contains(&chosen_zone),
        "{case}: launched outside the NodePool's zones"
    );
    let t_ms = 0; // the launch is within the first day: the day-0 capacity figures apply
    let names: Vec<(&str, &str)> = types
        .iter()
        .flat_map(|t| zones.iter().map(|z| (t.name.as_str(), *z)))
        .collect();
    let market: Vec<(f64, f64)> = names
        .iter()
        .map(|&(t, z)| mock.spot_market_at(t, z, t_ms).expect("spot pool"))
        .collect();
    let cheapest = market.iter().map(|m| m.1).fold(f64::INFINITY, f64::min);
    let deepest = market.iter().map(|m| m.0).fold(0.0, f64::max);
    // One instance: every cheaper pool must have been under the tier's bar.
    let bar = pco_tier_threshold(deepest, 1);
    let cheaper_deep: Vec<String> = names
        .iter()
        .zip(&market)
        // The decision log rounds the price: the chosen pool itself is not "cheaper".
        .filter(|((t, z), (cap, p))| {
            (*t, *z) != (chosen_type, chosen_zone) && *p < price && *cap >= bar
        })
        .map(|((t, z), (cap, p))| format!("{t} {z} ${p:.4} figure {cap:.1}"))
        .collect();
    let cheaper_pools_shallow = cheaper_deep.is_empty();
    assert!(
        types.iter().any(|t| t.name == chosen_type),
        "{case}: {chosen_type} is not a compatible type"
    );
    let chosen = cat.get(chosen_type).expect("in catalog");
    let ratio = price / cheapest;
    Pick {
        dearer_legacy: is_legacy(chosen) && ratio > 1.2,
        cheaper_pools_shallow,
        ratio,
        case: format!(
            "{case}: {chosen_type} ${price:.4} vs ${cheapest:.4} (bar {bar:.1}; cheaper with \
             enough: {cheaper_deep:?})"
        ),
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Prints the figures docs/model/ec2.md §2.5 quotes for a set of picks: the median price over
/// the cheapest compatible offering, the share above 1.2 × and the share of dearer legacy
/// picks. Returns the median and the numbers of dearer and of dearer legacy picks.
fn shares(picks: &[&Pick], who: &str) -> (f64, usize, usize) {
    let med = median(picks.iter().map(|p| p.ratio).collect());
    let dearer = picks.iter().filter(|p| p.ratio > 1.2).count();
    let legacy = picks.iter().filter(|p| p.dearer_legacy).count();
    let pct = |k: usize| 100.0 * k as f64 / picks.len().max(1) as f64;
    eprintln!(
        "{who}: {} picks, median price / cheapest {med:.3}, {dearer} above 1.2x ({:.1} %), \
         {legacy} dearer legacy ({:.1} %)",
        picks.len(),
        pct(dearer),
        pct(legacy),
    );
    (med, dearer, legacy)
}

/// Checks docs/model/ec2.md §2.5 on a set of picks: the median pick is within 20 % of the
/// cheapest compatible offering, a dearer legacy pick occurs (the cheap pools were shallow:
/// a crunch, §2.1), and every dearer pick (> 1.2 ×) happened only where every cheaper pool
/// was under the tier's bar. Returns the number of dearer picks.
fn check(picks: &[Pick], who: &str) -> usize {
    let all: Vec<&Pick> = picks.iter().collect();
    let (med, _, legacy) = shares(&all, who);
    let dearer: Vec<&Pick> = picks.iter().filter(|p| p.ratio > 1.2).collect();
    for p in picks.iter().filter(|p| p.dearer_legacy) {
        eprintln!("  dearer legacy: {}", p.case);
    }
    assert!(
        med <= 1.2,
        "{who}: median chosen spot price is {med:.3}x the cheapest compatible offering"
    );
    for p in &dearer {
        assert!(
            p.cheaper_pools_shallow,
            "{who}: {} is dearer although a cheaper pool had enough capacity",
            p.case
        );
    }
    assert!(
        legacy > 0,
        "{who}: no dearer legacy pick although crunches leave the cheap pools shallow"
    );
    dearer.len()
}

#[test]
fn karpenter_spot_choice_is_near_the_cheapest_offering_and_dearer_only_where_cheap_pools_are_shallow()
 {
    let picks = karpenter_picks();
    let over_all_zones: Vec<&Pick> = picks
        .iter()
        .filter(|p| p.case.contains("all zones"))
        .collect();
    let zonal: Vec<&Pick> = picks
        .iter()
        .filter(|p| !p.case.contains("all zones"))
        .collect();
    shares(&over_all_zones, "karpenter, NodePools over three zones");
    shares(&zonal, "karpenter, NodePools in one zone");
    check(&picks, "karpenter");
}

// ---- cluster-autoscaler: spot ASGs with a MixedInstancesPolicy (docs/model/ec2.md §2.2) ----

/// Drives one ASG scale-up on `mock` and returns the launched pools' (type, zone).
fn asg_scale_up(
    mock: &mut MockEc2,
    name: &str,
    types: &[&str],
    desired: u32,
    rngs: &mut RngStreams,
) -> Vec<(String, String, f64)> {
    let [latency, spot, alloc] = rngs.cloud();
    let mut r = CloudRngs {
        latency,
        spot,
        alloc,
    };
    let spec = AsgSpec {
        name: name.to_string(),
        instance_types: types.iter().map(|t| t.to_string()).collect(),
        capacity_type: CapacityType::Spot,
        zones: ZONES.iter().map(|z| z.to_string()).collect(),
        min_size: 0,
        max_size: 100,
        launch: LaunchSpec {
            ami_family: AmiFamily::AL2023,
            tags: BTreeMap::new(),
        },
    };
    mock.create_asg(0, spec, &mut r).expect("asg");
    mock.set_desired_capacity(0, name, desired, &mut r)
        .expect("desired");
    let mut launched = Vec::new();
    let mut timers: Vec<(u64, CloudTimer)> = mock.take_timers();
    while let Some(i) = timers
        .iter()
        .position(|(_, t)| matches!(t, CloudTimer::AsgDispatch(_)))
    {
        let (at, t) = timers.remove(i);
        for n in mock.on_timer(at, t, &mut r) {
            if let Notice::AsgInstanceLaunched { instance, .. } = n {
                let v = mock.instance(instance).expect("instance");
                launched.push((
                    v.pool.instance_type.clone(),
                    v.pool.zone.clone(),
                    v.price_per_hour,
                ));
            }
        }
        timers.extend(mock.take_timers());
    }
    launched
}

#[test]
fn cluster_autoscaler_spot_groups_choose_near_the_cheapest_type_and_dearer_only_where_cheap_pools_are_shallow()
 {
    // MixedInstancesPolicy lists as AWS's guidance writes them: one shape, several families,
    // old and new.
    let groups: [&[&str]; 5] = [
        &[
            "m5.xlarge",
            "m5a.xlarge",
            "m6i.xlarge",
            "m6a.xlarge",
            "m7i.xlarge",
            "m4.xlarge",
            "m3.xlarge",
        ],
        &[
            "r5.2xlarge",
            "r5a.2xlarge",
            "r6i.2xlarge",
            "r6a.2xlarge",
            "r7i.2xlarge",
            "r4.2xlarge",
            "r3.2xlarge",
        ],
        &[
            "c5.4xlarge",
            "c5a.4xlarge",
            "c6i.4xlarge",
            "c6a.4xlarge",
            "c7i.4xlarge",
            "c4.4xlarge",
            "c3.4xlarge",
        ],
        &[
            "m5.16xlarge",
            "m5a.16xlarge",
            "m6i.16xlarge",
            "m6a.16xlarge",
            "m7i.16xlarge",
            "m4.16xlarge",
        ],
        &[
            "r5.16xlarge",
            "r5a.16xlarge",
            "r6i.16xlarge",
            "r6a.16xlarge",
            "r7i.16xlarge",
            "r4.16xlarge",
        ],
    ];
    let cat = Catalog::embedded("us-east-1").expect("embedded catalog");
    let mut picks = Vec::new();
    let mut crunched = Vec::new();
    for seed in 1..=SEEDS * 2 {
        let text = common::scenario_yaml(
            "spot-asg",
            json!({"seed": seed, "duration": "1h", "cloud": {"spot": {"interruptions": "none"}}}),
            &[],
        );
        let l = common::load_text(&text);
        let mut mock = MockEc2::new(mock_config(&l.sc, Default::default())).expect("mock");
        crunched.extend(
            ZONES
                .iter()
                .filter(|z| mock.zone_crunched(z, 0))
                .map(|z| format!("seed {seed} {z}")),
        );
        let mut rngs = RngStreams::new(seed);
        for (g, types) in groups.iter().enumerate() {
            for desired in [1u32, 4, 12] {
                let name = format!("g{g}-{desired}");
                for (ty, zone, price) in asg_scale_up(&mut mock, &name, types, desired, &mut rngs) {
                    // Per launch zone: the ASG balances zones first, then picks a type there,
                    // for the activity's `desired` instances.
                    let market: Vec<(f64, f64)> = types
                        .iter()
                        .filter_map(|t| mock.spot_market_at(t, &zone, 0))
                        .collect();
                    let cheapest = market.iter().map(|m| m.1).fold(f64::INFINITY, f64::min);
                    let deepest = market.iter().map(|m| m.0).fold(0.0, f64::max);
                    let bar = pco_tier_threshold(deepest, desired);
                    let cheaper_pools_shallow =
                        market.iter().all(|&(cap, p)| p >= price || cap < bar);
                    let ratio = price / cheapest;
                    let it = cat.get(&ty).expect("type");
                    picks.push(Pick {
                        dearer_legacy: is_legacy(it) && ratio > 1.2,
                        cheaper_pools_shallow,
                        ratio,
                        case: format!(
                            "seed {seed} {name} {zone}: {ty} ${price:.4} vs ${cheapest:.4}"
                        ),
                    });
                }
            }
        }
    }
    let seen: BTreeSet<&str> = picks
        .iter()
        .map(|p| {
            p.case
                .split(": ")
                .nth(1)
                .unwrap_or("")
                .split(' ')
                .next()
                .unwrap_or("")
        })
        .collect();
    eprintln!("types chosen: {seen:?}");
    eprintln!(
        "crunched on day 0: {} of {} zones × seeds: {crunched:?}",
        crunched.len(),
        ZONES.len() as u64 * SEEDS * 2
    );
    let dearer = check(&picks, "cluster-autoscaler ASGs");
    // A scale-up of 12 raises the bar to half the deepest pool: dearer picks do occur there.
    assert!(
        dearer > 0,
        "no dearer pick although large scale-ups need deep pools"
    );
}
