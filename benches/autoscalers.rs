//! The autoscalers' periodic work on a ~1,000-node cluster, measured inside the real
//! simulation: the scenario is replayed event by event up to the autoscaler's timer of
//! interest, and one iteration is the single `Simulation::step` that handles that one timer
//! event (the autoscaler's callback and the effects the simulation carries out for it).
//! Replaying up to it is setup, excluded from the timing; the simulation is deterministic, so
//! the event is found once by its decision log lines and is the same event in every sample
//! (checked in each iteration).
//!
//! - `karpenter_disruption_pass`, on `benches/karpenter-disruption-1000.yaml` (about 1,000 nodes
//!   of 8 to 16 vCPU, refilled at 2m30s to 60 % with pods the binder spreads over every node,
//!   consolidateAfter 1m): one pass of the disruption controller's 10 s loop (§4.1). Arg
//!   `multi-node` is the first pass that commands a multi-node consolidation (at 250 s, on about
//!   1,000 nodes, right after an emptiness command ran: emptiness finds nothing, then
//!   multi-node consolidation over the ~1,000 candidates picks 99 of them). `single-node` is the first
//!   pass after 400 s that commands a single-node consolidation (at 430 s; by then earlier
//!   commands have removed nodes and about 640 are left; emptiness and multi-node consolidation
//!   ran first and found nothing, or were skipped by their memo, §4.6).
//! - `cluster_autoscaler_loop`, on `benches/cluster-autoscaler-1000.yaml` (about 1,000 nodes in
//!   two groups of 8 and 16 vCPU at ~40 % utilization; 500 pods pinned to an empty third group
//!   arrive at 7m): the `RunOnce` of the first loop that scales up for them (at ~427 s, on 986
//!   nodes: ASG refresh, readiness, scale-up with the binpacking estimate of the 500 pods, 125
//!   m5.xlarge, and scale-down planning over every node, under the 0.5 utilization threshold).
//!
//! Run: `cargo bench --bench autoscalers`.

use std::path::Path;

use autoscale_sim::engine::SimTime;
use autoscale_sim::run::make_autoscaler;
use autoscale_sim::sim::Simulation;
use autoscale_sim::workload::{AutoscalerKind, Scenario};

fn main() {
    divan::main();
}

fn load(file: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches")
        .join(file);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The simulation at time zero, started.
fn start(scenario: &Scenario, kind: AutoscalerKind) -> Simulation<'_> {
    let autoscaler = make_autoscaler(kind, scenario).expect("the bench scenario has an autoscaler");
    let mut sim = Simulation::new(scenario, autoscaler).expect("the bench scenario builds");
    sim.start();
    sim
}

/// The ordinal (`Simulation::events` after it) of the first event at or after `from` whose
/// new decision log lines satisfy `pick`.
fn find_event(
    scenario: &Scenario,
    kind: AutoscalerKind,
    from: SimTime,
    pick: impl Fn(&[&str]) -> bool,
) -> u64 {
    let mut sim = start(scenario, kind);
    loop {
        let before = sim.decisions().mark();
        let t = sim
            .step()
            .expect("the event of interest happens before the scenario ends");
        let new: Vec<&str> = sim.decisions().since(before).collect();
        if t >= from && pick(&new) {
            return sim.events;
        }
    }
}

/// Time the handling of event number `ordinal` (found by [`find_event`]), replaying the
/// events before it in the setup.
fn bench_event(
    bencher: divan::Bencher,
    scenario: &Scenario,
    kind: AutoscalerKind,
    ordinal: u64,
    expect_line: &str,
) {
    bencher
        .with_inputs(|| {
            let mut sim = start(scenario, kind);
            while sim.events + 1 < ordinal {
                sim.step().expect("replays up to the event");
            }
            sim
        })
        .bench_local_refs(|sim| {
            let before = sim.decisions().mark();
            let t = sim.step();
            assert_eq!(sim.events, ordinal, "one event was handled");
            assert!(
                sim.decisions()
                    .since(before)
                    .any(|l| l.contains(expect_line)),
                "the timed event is the one found"
            );
            divan::black_box(t)
        });
}

fn has(lines: &[&str], parts: &[&str]) -> bool {
    lines.iter().any(|l| parts.iter().all(|p| l.contains(p)))
}

/// One Karpenter disruption pass over ~1,000 nodes (see the crate docs for `method`).
#[divan::bench(args = ["multi-node", "single-node"], sample_count = 10, sample_size = 1)]
fn karpenter_disruption_pass(bencher: divan::Bencher, method: &str) {
    let scenario = load("karpenter-disruption-1000.yaml");
    let (from, wanted) = match method {
        "multi-node" => (SimTime::ZERO, "\"method\":\"multi-node-consolidation\""),
        _ => (
            SimTime::from_secs(400),
            "\"method\":\"single-node-consolidation\"",
        ),
    };
    let ordinal = find_event(&scenario, AutoscalerKind::Karpenter, from, |new| {
        // A cancellation in the same step may be an earlier command's (validation ends at the
        // start of a pass); only one of the wanted method's own disqualifies the step.
        has(new, &["\"event\":\"disruption-validating\"", wanted])
            && !has(new, &["\"event\":\"disruption-cancelled\"", wanted])
    });
    bench_event(
        bencher,
        &scenario,
        AutoscalerKind::Karpenter,
        ordinal,
        wanted,
    );
}

/// One cluster-autoscaler loop (`RunOnce`) over ~1,000 nodes with 500 pending pods.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn cluster_autoscaler_loop(bencher: divan::Bencher) {
    let scenario = load("cluster-autoscaler-1000.yaml");
    let kind = AutoscalerKind::ClusterAutoscaler;
    let wanted = "\"event\":\"scale-up\"";
    let ordinal = find_event(&scenario, kind, SimTime::from_secs(7 * 60), |new| {
        has(new, &[wanted, "\"pods\":500,"])
    });
    bench_event(bencher, &scenario, kind, ordinal, wanted);
}
