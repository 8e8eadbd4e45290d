//! Karpenter's scheduling benchmark, rebuilt for our solver (docs/model/karpenter.md §9):
//! 400 fake instance types (type i: i+1 vCPU, 2(i+1) GiB, 10(i+1) pods; 100m / 10Mi overhead,
//! price 0.1 per vCPU + 0.1 per GiB, spot and on-demand in three zones) and a "diverse" pod mix:
//! ⅕ generic, ⅕ zonal spread (maxSkew 1), ⅕ hostname spread, ⅕ zonal self-affinity, ⅕ hostname
//! anti-affinity; CPU ∈ {100,250,500,1000,1500}m, memory ∈ {100,256,512,1024,2048,4096}Mi,
//! labels from {a..g}, seeded.
//!
//! Run: `cargo bench --bench provisioning`. The figure to read is pods per second of one solve.

use std::collections::BTreeMap;
use std::sync::Arc;

use autoscale_sim::cloud::CapacityType;
use autoscale_sim::cluster::PodId;
use autoscale_sim::cluster::pod::{
    PodAffinityTerm, PodTemplate, TopologySpread, WhenUnsatisfiable,
};
use autoscale_sim::engine::SimTime;
use autoscale_sim::k8s::requirements::{Requirement, Requirements};
use autoscale_sim::k8s::resources::Resources;
use autoscale_sim::k8s::selector::LabelSelector;
use autoscale_sim::karpenter::instancetype::{IceCache, InstanceTypeInfo, Offering};
use autoscale_sim::karpenter::provisioning::scheduling::{Scheduler, Template};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() {
    divan::main();
}

const ZONES: [&str; 3] = ["test-zone-1", "test-zone-2", "test-zone-3"];
const GI: i64 = 1 << 30;
const MI: i64 = 1 << 20;

pub fn fake_instance_types(n: usize) -> Vec<InstanceTypeInfo> {
    (0..n)
        .map(|i| {
            let cpu = (i + 1) as i64;
            let mem = 2 * cpu * GI;
            let name = format!("fake-it-{i}");
            let mut capacity = Resources::new(cpu * 1000, mem);
            capacity.pods = 10 * cpu;
            let mut allocatable = capacity.clone();
            allocatable.cpu_m -= 100;
            allocatable.memory -= 10 * MI;
            let price = 0.1 * cpu as f64 + 0.1 * (mem / GI) as f64;
            let mut offerings = Vec::new();
            for z in ZONES {
                for ct in [CapacityType::Spot, CapacityType::OnDemand] {
                    offerings.push(Offering {
                        zone: z.to_string(),
                        zone_id: format!("{z}-id"),
                        capacity_type: ct,
                        price,
                    });
                }
            }
            let mut requirements = Requirements::from_labels(&BTreeMap::from([
                ("node.kubernetes.io/instance-type".to_string(), name.clone()),
                ("kubernetes.io/arch".to_string(), "amd64".to_string()),
                ("kubernetes.io/os".to_string(), "linux".to_string()),
            ]));
            requirements
                .add_requirement(Requirement::in_values("topology.kubernetes.io/zone", ZONES));
            requirements.add_requirement(Requirement::in_values(
                "karpenter.sh/capacity-type",
                ["spot", "on-demand"],
            ));
            InstanceTypeInfo {
                name,
                requirements,
                capacity,
                allocatable,
                offerings,
                exotic: false,
            }
        })
        .collect()
}

fn labels(k: &str, v: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(k.to_string(), v.to_string())])
}

pub fn diverse_pods(count: usize, seed: u64) -> Vec<(PodId, Arc<PodTemplate>, String)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values = ["a", "b", "c", "d", "e", "f", "g"];
    let cpus = [100, 250, 500, 1000, 1500];
    let mems = [100, 256, 512, 1024, 2048, 4096];
    let per = count / 5;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let kind = if i < 5 * per { i / per } else { 0 };
        let mut requests = Resources::new(
            cpus[rng.random_range(0..cpus.len())],
            mems[rng.random_range(0..mems.len())] * MI,
        );
        requests.pods = 1;
        let mut t = PodTemplate {
            namespace: "default".into(),
            requests,
            termination_grace_ms: 30_000,
            ..Default::default()
        };
        let v = values[rng.random_range(0..values.len())];
        match kind {
            0 => t.labels = labels("my-label", v),
            1 | 2 => {
                t.labels = labels("my-label", v);
                let sel = values[rng.random_range(0..values.len())];
                t.spread.push(TopologySpread {
                    max_skew: 1,
                    topology_key: if kind == 1 {
                        "topology.kubernetes.io/zone"
                    } else {
                        "kubernetes.io/hostname"
                    }
                    .into(),
                    when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
                    selector: LabelSelector {
                        match_labels: labels("my-label", sel),
                        match_expressions: vec![],
                    },
                    min_domains: None,
                });
            }
            3 => {
                t.labels = labels("my-affininity", v);
                t.affinity.push(PodAffinityTerm {
                    selector: LabelSelector {
                        match_labels: t.labels.clone(),
                        match_expressions: vec![],
                    },
                    topology_key: "topology.kubernetes.io/zone".into(),
                    weight: 0,
                });
            }
            _ => {
                t.labels = labels("app", "nginx");
                t.anti_affinity.push(PodAffinityTerm {
                    selector: LabelSelector {
                        match_labels: t.labels.clone(),
                        match_expressions: vec![],
                    },
                    topology_key: "kubernetes.io/hostname".into(),
                    weight: 0,
                });
            }
        }
        out.push((PodId(i as u32), Arc::new(t), format!("default/pod-{i}")));
    }
    // Karpenter's queue order: CPU desc, memory desc, then creation (index).
    out.sort_by_key(|(id, t, _)| {
        (
            std::cmp::Reverse(t.requests.cpu_m),
            std::cmp::Reverse(t.requests.memory),
            *id,
        )
    });
    out
}

pub fn template(types: Arc<Vec<InstanceTypeInfo>>) -> Template {
    let n = types.len();
    Template {
        nodepool: "default".into(),
        requirements: Requirements::from_labels(&labels("karpenter.sh/nodepool", "default")),
        labels: BTreeMap::new(),
        taints: vec![],
        startup_taints: vec![],
        all_types: types,
        types: (0..n as u32).collect(),
        daemon_overhead: vec![Resources::default(); n],
        remaining: None,
        remaining_nodes: None,
        no_types_reason: None,
    }
}

/// One solve of `n` diverse pods over 400 instance types.
#[divan::bench(args = [1000, 5000], sample_count = 3)]
fn solve_diverse_pods_400_types(bencher: divan::Bencher, n: usize) {
    let types = Arc::new(fake_instance_types(400));
    let pods = diverse_pods(n, 42);
    let ice = IceCache::default();
    bencher
        .counter(divan::counter::ItemsCount::new(n))
        .bench_local(|| {
            let templates = vec![template(Arc::clone(&types))];
            let s = Scheduler::new(&templates, vec![], &ice, SimTime::ZERO, "bench".into());
            let r = s.solve(&pods);
            divan::black_box((r.claims.len(), r.errors.len()))
        });
}
