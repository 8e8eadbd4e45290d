//! The `autoscale-sim` command line (docs/design.md §11). Files and the wall clock live here, at the edge.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
