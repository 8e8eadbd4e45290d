//! Benchmarks of the bare engine and of a whole shipped scenario.
//! Run: `cargo bench --bench engine`.

use autoscale_sim::engine::{EventQueue, SimTime};

fn main() {
    divan::main();
}

/// Events per second through the queue: schedule and pop with a live heap of ~`n` events.
#[divan::bench(args = [1_000, 100_000])]
fn event_queue_schedule_pop(bencher: divan::Bencher, n: u64) {
    bencher
        .counter(divan::counter::ItemsCount::new(n as usize))
        .bench_local(|| {
            let mut q = EventQueue::new();
            // A steady state: every popped event schedules one later event.
            for i in 0..n {
                q.schedule(SimTime(i * 7 % 1000), i);
            }
            let mut popped = 0u64;
            while let Some((t, e)) = q.pop() {
                popped += 1;
                if popped < n {
                    q.schedule(t + (e % 500) + 1, e);
                }
                if popped >= 2 * n {
                    break;
                }
            }
            divan::black_box(popped)
        });
}

/// The shipped static-cluster scenario end to end (2 simulated hours).
#[divan::bench(sample_count = 10)]
fn scenario_static_cluster(bencher: divan::Bencher) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/static-cluster.yaml");
    let scenario = autoscale_sim::workload::Scenario::load(&path).expect("shipped scenario loads");
    bencher.bench_local(|| {
        let out = autoscale_sim::run::run_to_end(
            &scenario,
            autoscale_sim::workload::AutoscalerKind::None,
        )
        .expect("runs");
        divan::black_box(out.report.pods.created)
    });
}
