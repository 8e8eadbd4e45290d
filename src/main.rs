//! The `autoscale-sim` command line (docs/design.md §11). Files and the wall clock live here, at the edge.

mod cli;

// Only speed depends on the allocator: nothing the simulation outputs reads an address.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(cli::main());
}
