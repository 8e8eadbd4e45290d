//! Command-line parsing and the commands. Exit codes: 0 success, 1 a check failed, 2 bad input
//! or usage (docs/design.md §11).

mod check;
mod compare;
mod import;
mod interrupt;
mod live;
mod progress;
mod sweep;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use autoscale_sim::catalog::Catalog;
use autoscale_sim::catalog::allocatable::{AmiFamily, default_node_resources};
use autoscale_sim::run::write_run;
use autoscale_sim::workload::{AutoscalerKind, Limits, Scenario, size_count as count};

#[derive(Parser)]
#[command(
    name = "autoscale-sim",
    version,
    about = "Deterministic simulator of Kubernetes node autoscaling (Karpenter, cluster-autoscaler) on AWS"
)]
struct Cli {
    /// Print nothing but errors.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// More logging on stderr (repeat for more).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Refuse scenarios estimated to run more pods at once than this (default 2,000,000).
    #[arg(long, global = true, value_name = "N")]
    max_pods: Option<u64>,
    /// Refuse scenarios whose files create more nodes than this (default 100,000).
    #[arg(long, global = true, value_name = "N")]
    max_nodes: Option<u64>,
    /// Refuse scenarios estimated to need more simulation events than this (default 50,000,000).
    #[arg(long, global = true, value_name = "N")]
    max_events: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, ValueEnum)]
enum AutoscalerArg {
    Karpenter,
    ClusterAutoscaler,
    None,
}

impl AutoscalerArg {
    fn kind(self) -> AutoscalerKind {
        match self {
            AutoscalerArg::Karpenter => AutoscalerKind::Karpenter,
            AutoscalerArg::ClusterAutoscaler => AutoscalerKind::ClusterAutoscaler,
            AutoscalerArg::None => AutoscalerKind::None,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and write its reports.
    Run {
        scenario: PathBuf,
        /// Which autoscaler to run (default: the scenario's `spec.autoscaler`, else inferred).
        #[arg(long, value_enum)]
        autoscaler: Option<AutoscalerArg>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Override a field of the Scenario (`spec.duration=2h`) or of a manifest
        /// (`NodePool/default:spec.disruption.consolidateAfter=5m`); VALUE is YAML. Repeatable.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Output directory.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Stop after this much wall-clock time (`30s`, `10m`): the outputs then cover the
        /// simulated time reached, `run-meta.json` says where it stopped, and the exit code is 1.
        #[arg(long, value_name = "DURATION", value_parser = parse_wall)]
        max_wall: Option<std::time::Duration>,
    },
    /// Run a scenario under every autoscaler it configures (or its variants) and compare them.
    Compare {
        scenario: PathBuf,
        /// A file of manifests that replace those of the same kind and name (a NodePool
        /// variant). Repeatable; the base scenario runs first.
        #[arg(long = "variant", value_name = "FILE")]
        variants: Vec<PathBuf>,
        /// The autoscaler of the --variant runs (default: the scenario's).
        #[arg(long, value_enum)]
        autoscaler: Option<AutoscalerArg>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Override a Scenario or manifest field in every run (as `run --set`). Repeatable.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Output directory: one report directory per run, and compare.md/.json/.html.
        #[arg(long, default_value = "out/compare")]
        out: PathBuf,
    },
    /// Run scenarios and check their `expect` thresholds and a baseline (exit 1 on failure).
    Check {
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// Baseline reports: DIR/<scenario>/<autoscaler>/report.json.
        #[arg(long, value_name = "DIR")]
        baseline: Option<PathBuf>,
        /// How much worse than the baseline a value may get, in percent.
        #[arg(long, value_name = "PCT", default_value_t = 5.0)]
        tolerance: f64,
        /// Write a JUnit XML report here.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Write each run's report.json and report.md into the --baseline directory instead of
        /// comparing with it.
        #[arg(long)]
        update_baseline: bool,
        /// Also write each run's full reports into DIR/<scenario>/<autoscaler>/.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Run a sweep file's variants of a scenario on every seed, rank them, and write the best
    /// as manifests (`sweep FILE`), or combine shards (`sweep merge DIR... --out DIR`).
    Sweep(sweep::SweepArgs),
    /// Check that this machine computes the numbers every other machine does: pinned
    /// function values, random draws and whole reports (exit 1 if any differs).
    Selftest,
    /// Check scenarios without running them.
    Validate {
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
    /// Traces: `trace convert` turns a pod-level trace into a scenario.
    Trace {
        #[command(subcommand)]
        command: TraceCommand,
    },
    /// Instance catalogs: show, build.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Import a cluster's objects or its replica history into a scenario directory.
    Import {
        #[command(subcommand)]
        command: import::ImportCommand,
    },
    /// Live mode against real EC2: catalog-sync, calibrate, run, cleanup (cargo feature
    /// `live`; docs/live.md).
    Live(live::LiveArgs),
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
}

#[derive(Copy, Clone, ValueEnum)]
enum PodTraceFormat {
    Generic,
    Openb,
    AzureVm,
}

#[derive(Subcommand)]
enum TraceCommand {
    /// Read a pod-level trace as a scenario would and write it as the generic CSV
    /// (`DIR/trace.csv`) with a scenario that replays it on Karpenter (`DIR/scenario.yaml`).
    Convert {
        input: PathBuf,
        #[arg(long, value_enum)]
        format: PodTraceFormat,
        /// Multiply every arrival and duration (0.1 replays 10× faster).
        #[arg(long, default_value_t = 1.0)]
        time_scale: f64,
        /// Keep the first N jobs by arrival.
        #[arg(long)]
        limit: Option<usize>,
        /// Seed of the Azure trace's draws (and of the scenario written).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The scenario's name (default: the input file's stem).
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Print instance types with prices and allocatable.
    Show {
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// Only this family (e.g. m5).
        #[arg(long)]
        family: Option<String>,
        /// A catalog directory instead of the built-in one.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Build `catalogs/aws/<region>/` from the data folder (`data/` in the repository).
    Build {
        #[arg(long, default_value = "data")]
        data: PathBuf,
        #[arg(long, default_value = "catalogs/aws")]
        out: PathBuf,
    },
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()),
        )
        .try_init();
    let d = Limits::DEFAULT;
    let _ = LIMITS.set(Limits {
        pods: cli.max_pods.unwrap_or(d.pods),
        nodes: cli.max_nodes.unwrap_or(d.nodes),
        events: cli.max_events.unwrap_or(d.events),
    });
    // Live mode handles its own signals: the first one must terminate the instances it
    // launched, and a second must not cut that short.
    if !matches!(cli.command, Command::Live(_)) {
        interrupt::install();
    }
    match cli.command {
        Command::Run {
            scenario,
            autoscaler,
            seed,
            set,
            out,
            max_wall,
        } => cmd_run(
            &scenario,
            RunArgs {
                autoscaler,
                seed,
                set: &set,
                out: &out,
                max_wall,
            },
            cli.quiet,
        ),
        Command::Compare {
            scenario,
            variants,
            autoscaler,
            seed,
            set,
            out,
        } => compare::cmd_compare(
            compare::CompareArgs {
                scenario,
                variants,
                autoscaler: autoscaler.map(AutoscalerArg::kind),
                seed,
                set,
                out,
            },
            cli.quiet,
        ),
        Command::Check {
            scenarios,
            baseline,
            tolerance,
            junit,
            update_baseline,
            out,
        } => check::cmd_check(
            check::CheckArgs {
                scenarios,
                baseline,
                tolerance,
                junit,
                update_baseline,
                out,
            },
            cli.quiet,
        ),
        Command::Sweep(args) => sweep::cmd_sweep(args, cli.quiet),
        Command::Validate { scenarios } => cmd_validate(&scenarios, cli.quiet),
        Command::Selftest => cmd_selftest(cli.quiet),
        Command::Trace { command } => cmd_trace(command, cli.quiet),
        Command::Catalog { command } => cmd_catalog(command),
        Command::Import { command } => import::cmd_import(command, cli.quiet),
        Command::Live(args) => live::cmd_live(args, cli.quiet),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "autoscale-sim",
                &mut std::io::stdout(),
            );
            0
        }
    }
}

/// The command line's `--max-pods`/`--max-nodes`/`--max-events`, set once at start.
static LIMITS: std::sync::OnceLock<Limits> = std::sync::OnceLock::new();

/// The size limits every scenario load is checked against.
pub(crate) fn limits() -> Limits {
    LIMITS.get().copied().unwrap_or_default()
}

/// How every command loads a scenario without variants or overrides.
pub(crate) fn load_scenario(path: &Path) -> Result<Scenario, autoscale_sim::workload::LoadError> {
    let opts = autoscale_sim::workload::set::LoadOptions {
        limits: limits(),
        ..Default::default()
    };
    Scenario::load_with(path, &opts)
}

/// `--max-wall`: a Kubernetes-style duration (`90s`, `10m`, `1h30m`), positive.
fn parse_wall(s: &str) -> Result<std::time::Duration, String> {
    match autoscale_sim::k8s::duration::parse_duration(s) {
        Ok(0) => Err("must be positive".into()),
        Ok(ms) => Ok(std::time::Duration::from_millis(ms)),
        Err(e) => Err(e.to_string()),
    }
}

fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("error: {msg}");
    2
}

struct RunArgs<'a> {
    autoscaler: Option<AutoscalerArg>,
    seed: Option<u64>,
    set: &'a [String],
    out: &'a Path,
    max_wall: Option<std::time::Duration>,
}

fn cmd_run(path: &Path, a: RunArgs<'_>, quiet: bool) -> i32 {
    let RunArgs {
        autoscaler,
        seed,
        set,
        out,
        max_wall,
    } = a;
    let overrides = match compare::overrides(set) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let opts = autoscale_sim::workload::set::LoadOptions {
        variants: Vec::new(),
        overrides,
        limits: limits(),
    };
    let mut scenario = match Scenario::load_with(path, &opts) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    warn_not_simulated(&scenario);
    if let Some(s) = seed {
        scenario.seed = s;
    }
    let kind = autoscaler.map_or(scenario.default_autoscaler, AutoscalerArg::kind);
    let bar = progress::Progress::new(&scenario, &scenario.name, quiet);
    // The wall clock is read here, at the edge: the simulation only hears "stop".
    let deadline = max_wall.map(|d| std::time::Instant::now() + d);
    let output = match autoscale_sim::run::run(&scenario, kind, |t, events| {
        if let Some(b) = &bar {
            b.update(t, events);
        }
        if interrupt::requested() || deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    }) {
        Ok(o) => o,
        Err(e) => return fail(format!("{}: {e}", path.display())),
    };
    if let Some(b) = bar {
        b.finish();
    }
    if let Some(code) = interrupt::stop_here() {
        return code;
    }
    if let Err(e) = write_run(out, &scenario, &output) {
        return fail(format!("cannot write reports to {}: {e}", out.display()));
    }
    if let Some(at) = output.meta.stopped_at_seconds {
        eprintln!(
            "stopped by --max-wall after {:.1} s at simulated {} of {}: the outputs in {} cover that much (run-meta.json: stopped_at_seconds)",
            output.meta.wall_seconds,
            autoscale_sim::k8s::duration::format_duration((at * 1000.0) as u64),
            autoscale_sim::k8s::duration::format_duration(scenario.duration_ms),
            out.display()
        );
        return 1;
    }
    if !quiet {
        let r = &output.report;
        let mut o = std::io::stdout().lock();
        let _ = writeln!(
            o,
            "{} · {} · seed {} · {} simulated",
            r.scenario,
            r.autoscaler,
            r.seed,
            autoscale_sim::k8s::duration::format_duration(r.duration_s * 1000)
        );
        let _ = writeln!(
            o,
            "  pods       {} created, {} scheduled, {} not started at end, {} disrupted",
            r.pods.created,
            r.pods.scheduled,
            r.pods.not_started_at_end,
            r.disruption.pods_disrupted.total
        );
        let st = &r.pods.startup_latency_s;
        let _ = writeln!(
            o,
            "  startup    {}p50 {:.1} s · p90 {:.1} s · p99 {:.1} s · max {:.1} s",
            // Pods that never started count until the end: the figures are lower bounds.
            if st.censored > 0 { "≥ " } else { "" },
            st.p50,
            st.p90,
            st.p99,
            st.max
        );
        let _ = writeln!(
            o,
            "  nodes      {} launched, {} static, peak {}, {:.1} node-hours",
            r.nodes.launched, r.nodes.static_nodes, r.nodes.peak, r.nodes.node_hours
        );
        let _ = writeln!(
            o,
            "  cost       ${:.2} (on-demand ${:.2}, spot ${:.2})",
            r.cost.total_usd, r.cost.on_demand_usd, r.cost.spot_usd
        );
        let _ = writeln!(
            o,
            "  util       cpu {:.1} % · memory {:.1} %",
            r.utilization.cpu * 100.0,
            r.utilization.memory * 100.0
        );
        let _ = writeln!(o, "  reports    {}", out.display());
        eprintln!(
            "ran {} events in {:.2} s wall ({:.0}× real time)",
            output.meta.events, output.meta.wall_seconds, output.meta.speedup
        );
    }
    0
}

fn cmd_selftest(quiet: bool) -> i32 {
    use autoscale_sim::selftest;
    let mut checks = selftest::numbers();
    match selftest::reports() {
        Ok(r) => checks.extend(r),
        Err(e) => return fail(format!("selftest: {e}")),
    }
    let failed = checks.iter().filter(|c| !c.pass()).count();
    if !quiet || failed > 0 {
        print!("{}", selftest::render(&checks));
    }
    if failed > 0 {
        eprintln!(
            "error: {failed} of {} pinned values differ on this platform ({} {}): its reports will not match baselines made elsewhere; please report it with this output",
            checks.len(),
            std::env::consts::OS,
            std::env::consts::ARCH
        );
        return 1;
    }
    if !quiet {
        println!(
            "selftest: all {} pinned values match on {} {}",
            checks.len(),
            std::env::consts::OS,
            std::env::consts::ARCH
        );
    }
    0
}

fn cmd_validate(paths: &[PathBuf], quiet: bool) -> i32 {
    let mut code = 0;
    for p in paths {
        match load_scenario(p) {
            Ok(s) => {
                warn_not_simulated(&s);
                // Loading checked everything a user wrote; building the autoscalers and the
                // simulation also runs the mock EC2's own consistency checks.
                if let Err(e) = check_controllers(&s) {
                    eprintln!("error: {}: {e}", p.display());
                    code = 2;
                    continue;
                }
                if !quiet {
                    println!(
                        "ok  {} ({}: {} workloads, {} NodePools, {} node groups, {} timeline steps, {} trace jobs)",
                        p.display(),
                        s.name,
                        s.workloads.len(),
                        s.nodepools.len(),
                        s.spec.cluster_autoscaler.node_groups.len(),
                        s.timeline.len(),
                        s.traces.iter().map(|t| t.jobs.len()).sum::<usize>()
                    );
                    let z = &s.size;
                    println!(
                        "    size: up to {} pods at once, {} created, {} nodes from the files, ~{} events ({} per simulated hour)",
                        count(z.peak_pods),
                        count(z.pods_created),
                        count(z.nodes),
                        count(z.events),
                        count(z.events_per_hour())
                    );
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                code = 2;
            }
        }
    }
    code
}

/// Print the scenario's accepted-but-not-simulated fields, once each, whatever `--quiet` says:
/// a number that ignores part of what a user wrote must not look complete.
pub(crate) fn warn_not_simulated(s: &Scenario) {
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
}

/// Build every autoscaler the scenario configures, and the simulation, without running them.
fn check_controllers(s: &Scenario) -> Result<(), autoscale_sim::sim::RunError> {
    let mut kinds = vec![AutoscalerKind::None];
    if !s.nodepools.is_empty() {
        kinds.push(AutoscalerKind::Karpenter);
    }
    if !s.spec.cluster_autoscaler.node_groups.is_empty() {
        kinds.push(AutoscalerKind::ClusterAutoscaler);
    }
    for kind in kinds {
        let a = autoscale_sim::run::make_autoscaler(kind, s)?;
        autoscale_sim::sim::Simulation::new(s, a)?;
    }
    Ok(())
}

fn cmd_trace(cmd: TraceCommand, quiet: bool) -> i32 {
    use autoscale_sim::workload::import::trace as convert;
    use autoscale_sim::workload::traces::{TraceFormat, TraceOptions};
    let TraceCommand::Convert {
        input,
        format,
        time_scale,
        limit,
        seed,
        name,
        out,
    } = cmd;
    let format = match format {
        PodTraceFormat::Generic => TraceFormat::Generic,
        PodTraceFormat::Openb => TraceFormat::Openb,
        PodTraceFormat::AzureVm => TraceFormat::AzureVm,
    };
    let opts = TraceOptions {
        time_scale,
        limit,
        ..TraceOptions::default()
    };
    let name = name.unwrap_or_else(|| {
        input
            .file_stem()
            .map(|s| {
                s.to_string_lossy()
                    .replace(['.', '_', ' '], "-")
                    .to_lowercase()
            })
            .unwrap_or_else(|| "trace".into())
    });
    let c = match convert::convert(&input, format, &opts, seed, &name) {
        Ok(c) => c,
        Err(e) => return fail(format!("{}: {e}", input.display())),
    };
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&out)?;
        compare::write_file(&out.join("trace.csv"), &c.csv)?;
        compare::write_file(&out.join("scenario.yaml"), &c.scenario)
    };
    if let Err(e) = write() {
        return fail(format!("cannot write {}: {e}", out.display()));
    }
    if !quiet {
        println!(
            "{} jobs ({} with GPUs) over {} → {}/trace.csv, {}/scenario.yaml",
            c.jobs,
            c.gpu_jobs,
            autoscale_sim::k8s::duration::format_duration(c.duration_ms),
            out.display(),
            out.display()
        );
    }
    0
}

fn cmd_catalog(cmd: CatalogCommand) -> i32 {
    match cmd {
        CatalogCommand::Show {
            region,
            family,
            dir,
        } => {
            let cat = match dir {
                Some(d) => Catalog::load_dir(&d),
                None => Catalog::for_region(&region, None),
            };
            let cat = match cat {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            let mut o = std::io::stdout().lock();
            let _ = writeln!(
                o,
                "{:<22} {:>5} {:>9} {:>9} {:>10} {:>10} {:>5} {:>6} {:>10}",
                "type",
                "vcpu",
                "mem MiB",
                "od $/h",
                "spot $/h",
                "alloc cpu",
                "pods",
                "mem Mi",
                "interrupt"
            );
            let mut shown = 0;
            for t in cat.types() {
                if family.as_deref().is_some_and(|f| t.family != f) {
                    continue;
                }
                let Ok(r) = default_node_resources(t, AmiFamily::AL2023) else {
                    continue;
                };
                let _ = writeln!(
                    o,
                    "{:<22} {:>5} {:>9} {:>9.4} {:>10} {:>9}m {:>5} {:>6} {:>10}",
                    t.name,
                    t.vcpu,
                    t.memory_mib,
                    t.od_usd_per_hour,
                    t.spot_price()
                        .map(|p| format!("{p:.4}"))
                        .unwrap_or_else(|| "-".into()),
                    r.allocatable.cpu_m,
                    r.allocatable.pods,
                    r.allocatable.memory / (1 << 20),
                    t.interruption_bucket
                        .map(|b| ["<5%", "5-10%", "10-15%", "15-20%", ">20%"]
                            .get(b as usize)
                            .copied()
                            .unwrap_or("?")
                            .to_string())
                        .unwrap_or_else(|| "-".into()),
                );
                shown += 1;
            }
            if shown == 0 {
                return fail(format!(
                    "no instance types{} in the {} catalog",
                    family
                        .map(|f| format!(" of family {f:?}"))
                        .unwrap_or_default(),
                    cat.region()
                ));
            }
            0
        }
        CatalogCommand::Build { data, out } => {
            let regions = &autoscale_sim::catalog::build::CATALOG_REGIONS;
            match autoscale_sim::catalog::build::build_catalogs(&data, &out, regions) {
                Ok(summary) => {
                    for r in &summary.regions {
                        println!(
                            "{}: {} types ({} with spot) → {}",
                            r.region,
                            r.types,
                            r.with_spot,
                            r.dir.display()
                        );
                    }
                    0
                }
                Err(e) => fail(e),
            }
        }
    }
}
