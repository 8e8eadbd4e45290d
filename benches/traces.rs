//! Reading the workload traces shipped in `data/traces`: the Alibaba openb pod list and the
//! binned Azure VM trace. Run: `cargo bench --bench traces`.

use std::path::Path;

use autoscale_sim::workload::traces::{TraceFormat, TraceOptions, read_trace};
use rand::SeedableRng;

fn main() {
    divan::main();
}

fn read(path: &Path, format: TraceFormat) -> usize {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    read_trace(path, format, &TraceOptions::default(), &mut rng)
        .map(|jobs| jobs.len())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// 8,152 rows, shipped in `data/traces`.
#[divan::bench(sample_count = 20)]
fn read_openb_pod_list(bencher: divan::Bencher) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/traces/alibaba-gpu-v2023-openb/openb_pod_list_default.csv");
    bencher.bench_local(|| divan::black_box(read(&path, TraceFormat::Openb)));
}

/// 259,159 VMs (`v1.dev.txt`, in `data/traces`).
#[divan::bench(sample_count = 5)]
fn read_azure_vm_dev(bencher: divan::Bencher) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/traces/azure-vm-v1-binned/v1.dev.txt");
    bencher.bench_local(|| divan::black_box(read(&path, TraceFormat::AzureVm)));
}
