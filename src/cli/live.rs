//! `autoscale-sim live …` (docs/live.md). Built with cargo feature `live`; without it the
//! subcommand exists only to say how to get it (exit 2).

#[cfg(not(feature = "live"))]
mod off {
    /// Live mode is not in this build.
    #[derive(clap::Args)]
    pub struct LiveArgs {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        _args: Vec<String>,
    }

    pub fn cmd_live(_args: LiveArgs, _quiet: bool) -> i32 {
        eprintln!(
            "error: live mode is not in this build of autoscale-sim.\n\
             Build it with the `live` feature (adds the AWS SDK; docs/live.md):\n\
             \n    cargo build --release --features live\n\
             \nthen run `target/release/autoscale-sim live --help`."
        );
        2
    }
}

#[cfg(not(feature = "live"))]
pub use off::{LiveArgs, cmd_live};

#[cfg(feature = "live")]
pub use on::{LiveArgs, cmd_live};

#[cfg(feature = "live")]
mod on {
    use std::path::PathBuf;
    use std::time::Duration;

    use clap::{Subcommand, ValueEnum};

    use autoscale_sim::cloud::CapacityType;
    use autoscale_sim::live::{self, LiveError, safety};

    #[derive(clap::Args)]
    pub struct LiveArgs {
        #[command(subcommand)]
        command: LiveCommand,
    }

    #[derive(Copy, Clone, ValueEnum)]
    enum CapacityArg {
        OnDemand,
        Spot,
    }

    impl CapacityArg {
        fn get(self) -> CapacityType {
            match self {
                CapacityArg::OnDemand => CapacityType::OnDemand,
                CapacityArg::Spot => CapacityType::Spot,
            }
        }
    }

    /// Safety caps shared by `calibrate` and `run`.
    #[derive(clap::Args)]
    struct CapArgs {
        /// Never have more than this many instances of this run live at once.
        #[arg(long, default_value_t = 4)]
        max_instances: u32,
        /// Never let this run's instances cost more than this per hour (on-demand prices for
        /// on-demand, the catalog's spot price for spot).
        #[arg(long, default_value_t = 2.0)]
        max_usd_per_hour: f64,
    }

    #[derive(Subcommand)]
    enum LiveCommand {
        /// Instance types, latest spot prices and zones from EC2 into a catalog directory,
        /// merged with the shipped on-demand prices and Spot Advisor data; prints a diff.
        CatalogSync {
            #[arg(long)]
            region: String,
            /// Output directory (e.g. catalogs/aws/us-east-1); diffed against what it holds.
            #[arg(long)]
            out: PathBuf,
            /// Root of the shipped catalogs to merge prices from (default: the built-in
            /// us-east-1 catalog, else catalogs/aws).
            #[arg(long, value_name = "DIR")]
            catalogs: Option<PathBuf>,
        },
        /// Launch a few tagged instances, measure CreateFleet and pending → running, terminate
        /// them, and write a latency file for spec.cloud.latency. Needs --launch to launch.
        Calibrate {
            #[arg(long)]
            region: String,
            /// Instance type to launch (repeatable, or comma-separated).
            #[arg(long = "instance-type", value_delimiter = ',', required = true)]
            instance_types: Vec<String>,
            /// Capacity type (repeatable).
            #[arg(
                long = "capacity-type",
                value_enum,
                value_delimiter = ',',
                default_value = "on-demand"
            )]
            capacity_types: Vec<CapacityArg>,
            /// Instances per instance type and capacity type.
            #[arg(long, default_value_t = 1)]
            count: u32,
            /// Launch in this zone (default: EC2's choice).
            #[arg(long)]
            zone: Option<String>,
            /// AMI of the launch template created for the run.
            #[arg(long)]
            ami: Option<String>,
            /// Use this existing launch template instead of creating one.
            #[arg(long)]
            launch_template: Option<String>,
            #[command(flatten)]
            caps: CapArgs,
            /// Actually launch (without it every mutating call is a DryRun).
            #[arg(long)]
            launch: bool,
            /// Stop timing at `running`: skip waiting for the status checks (running → both
            /// checks ok, usually minutes), which calibration measures by default since it
            /// never logs in to an instance.
            #[arg(long)]
            no_status_checks: bool,
            /// Give up waiting for running / status checks / terminated after this long (Go duration).
            #[arg(long, default_value = "10m")]
            timeout: String,
            /// The latency file to write.
            #[arg(long, default_value = "latency.yaml")]
            out: PathBuf,
            /// Tag value for this run (default: a fresh id).
            #[arg(long)]
            run_id: Option<String>,
        },
        /// Run a scenario's Karpenter against real EC2 on the wall clock, the rest of the
        /// cluster simulated. Needs --launch to launch.
        Run(RunArgs),
        /// Terminate every instance tagged with a run id (or with any run id).
        Cleanup {
            #[arg(long)]
            region: String,
            #[arg(
                long,
                required_unless_present = "all_runs",
                conflicts_with = "all_runs"
            )]
            run_id: Option<String>,
            /// Every instance carrying the autoscale-sim:run-id tag, whatever its value.
            #[arg(long)]
            all_runs: bool,
            /// Send TerminateInstances with DryRun=true only.
            #[arg(long)]
            dry_run: bool,
        },
    }

    #[derive(clap::Args)]
    struct RunArgs {
        scenario: PathBuf,
        /// Override a Scenario or manifest field (as `run --set`). Repeatable.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Output directory for the reports.
        #[arg(long, default_value = "out/live")]
        out: PathBuf,
        /// AMI of the launch template created for the run (Karpenter; cluster-autoscaler's
        /// groups launch from their own templates).
        #[arg(long)]
        ami: Option<String>,
        /// Use this existing launch template instead of creating one (Karpenter).
        #[arg(long)]
        launch_template: Option<String>,
        /// Launch a zone's instances into this subnet (ZONE=SUBNET-ID, repeatable); other zones
        /// use their default subnet.
        #[arg(long = "subnet", value_name = "ZONE=SUBNET")]
        subnets: Vec<String>,
        #[command(flatten)]
        caps: CapArgs,
        /// Actually launch (without it every mutating call is a DryRun and the cloud is
        /// simulated).
        #[arg(long)]
        launch: bool,
        /// Tag value for this run (default: a fresh id).
        #[arg(long)]
        run_id: Option<String>,
        /// Which autoscaler: karpenter (CreateFleet), or cluster-autoscaler (real Auto
        /// Scaling groups the account already has; see --asg).
        #[arg(long)]
        autoscaler: Option<String>,
        /// Drive the real Auto Scaling group NAME for the scenario's node group GROUP
        /// (repeatable; a node group not named here drives the group of its own name). The
        /// group must be empty and tagged autoscale-sim:allow-live=true.
        #[arg(long = "asg", value_name = "GROUP=NAME")]
        asgs: Vec<String>,
    }

    fn duration(s: &str, flag: &str) -> Result<Duration, LiveError> {
        autoscale_sim::k8s::duration::parse_duration(s)
            .map(Duration::from_millis)
            .map_err(|e| LiveError::Input(format!("{flag} {s:?}: {e}")))
    }

    fn run_id(given: Option<String>) -> Result<String, LiveError> {
        match given {
            Some(id) => {
                safety::check_run_id(&id)?;
                Ok(id)
            }
            None => Ok(safety::new_run_id()),
        }
    }

    pub fn cmd_live(args: LiveArgs, quiet: bool) -> i32 {
        match dispatch(args.command, quiet) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                e.exit_code()
            }
        }
    }

    fn dispatch(cmd: LiveCommand, quiet: bool) -> Result<i32, LiveError> {
        match cmd {
            LiveCommand::CatalogSync {
                region,
                out,
                catalogs,
            } => {
                let ec2 = live::ec2::Ec2::connect(&region)?;
                let text = live::catalog_sync::sync(
                    &ec2,
                    &live::catalog_sync::SyncOptions {
                        region,
                        out,
                        base_root: catalogs,
                    },
                )?;
                if !quiet {
                    print!("{text}");
                }
                Ok(0)
            }
            LiveCommand::Calibrate {
                region,
                instance_types,
                capacity_types,
                count,
                zone,
                ami,
                launch_template,
                caps,
                launch,
                no_status_checks,
                timeout,
                out,
                run_id: id,
            } => {
                let opts = live::calibrate::CalibrateOptions {
                    region: region.clone(),
                    instance_types,
                    capacity_types: capacity_types.into_iter().map(CapacityArg::get).collect(),
                    count,
                    zone,
                    ami,
                    launch_template,
                    caps: safety::Caps {
                        max_instances: caps.max_instances,
                        max_usd_per_hour: caps.max_usd_per_hour,
                    },
                    launch,
                    status_checks: !no_status_checks,
                    timeout: duration(&timeout, "--timeout")?,
                    out,
                    run_id: run_id(id)?,
                    catalog_root: None,
                };
                let ec2 = live::ec2::Ec2::connect(&region)?;
                live::calibrate::calibrate(&ec2, &opts)?;
                Ok(0)
            }
            LiveCommand::Run(a) => run(a, quiet),
            LiveCommand::Cleanup {
                region,
                run_id: id,
                all_runs,
                dry_run,
            } => {
                if let Some(id) = &id {
                    safety::check_run_id(id)?;
                }
                let ec2 = live::ec2::Ec2::connect(&region)?;
                let target = if all_runs { None } else { id.as_deref() };
                let rep = safety::cleanup(&ec2, target, dry_run, Duration::from_secs(60))?;
                let what = match target {
                    Some(id) => format!("run {id}"),
                    None => "all runs".to_string(),
                };
                for g in &rep.asgs {
                    println!(
                        "{} Auto Scaling group {g} back to 0",
                        if dry_run { "would set" } else { "set" }
                    );
                }
                // A group left above 0 would launch again what is terminated below.
                for p in &rep.asg_problems {
                    eprintln!("error: {p}");
                }
                for i in &rep.terminated {
                    println!(
                        "{} {} {} {} {} ({})",
                        if dry_run {
                            "would terminate"
                        } else {
                            "terminated"
                        },
                        i.id,
                        i.instance_type,
                        i.capacity_type,
                        i.zone,
                        i.tags.get(live::ec2::RUN_ID_TAG).map_or("", String::as_str)
                    );
                }
                if let Some(r) = &rep.dry_run {
                    println!("dry run  TerminateInstances: {r}");
                }
                // The template a Karpenter run created; a cluster-autoscaler run has none.
                if let Some(id) = target
                    && !dry_run
                {
                    let name = safety::launch_template_name(id);
                    if ec2.launch_template_exists(&name)? {
                        ec2.delete_launch_template(&name)?;
                        println!("deleted launch template {name}");
                    }
                }
                println!(
                    "cleanup {what}: {} live instance(s) {}, {} already shutting down or terminated",
                    rep.terminated.len(),
                    if dry_run { "found" } else { "terminated" },
                    rep.already_gone
                );
                if !rep.still_live.is_empty() {
                    eprintln!(
                        "error: still live after 60 s: {}",
                        rep.still_live.join(", ")
                    );
                    return Ok(1);
                }
                Ok(if rep.asg_problems.is_empty() { 0 } else { 1 })
            }
        }
    }

    fn run(a: RunArgs, quiet: bool) -> Result<i32, LiveError> {
        use autoscale_sim::workload::{AutoscalerKind, Scenario};
        let overrides = super::super::compare::overrides(&a.set).map_err(LiveError::Input)?;
        let opts = autoscale_sim::workload::set::LoadOptions {
            variants: Vec::new(),
            overrides,
            limits: super::super::limits(),
        };
        let scenario = Scenario::load_with(&a.scenario, &opts)
            .map_err(|e| LiveError::Scenario(e.to_string()))?;
        super::super::warn_not_simulated(&scenario);
        let kind = match a.autoscaler.as_deref() {
            None => scenario.default_autoscaler,
            Some("karpenter") => AutoscalerKind::Karpenter,
            Some("cluster-autoscaler") => AutoscalerKind::ClusterAutoscaler,
            Some("none") => AutoscalerKind::None,
            Some(other) => {
                return Err(LiveError::Input(format!(
                    "--autoscaler {other:?}: expected karpenter, cluster-autoscaler or none"
                )));
            }
        };
        live::run::check_autoscaler(kind, &scenario)?;
        let mut subnets = std::collections::BTreeMap::new();
        for s in &a.subnets {
            let Some((zone, id)) = s
                .split_once('=')
                .filter(|(z, i)| !z.is_empty() && !i.is_empty())
            else {
                return Err(LiveError::Input(format!(
                    "--subnet {s:?}: expected ZONE=SUBNET-ID (us-east-1a=subnet-0abc)"
                )));
            };
            subnets.insert(zone.to_string(), id.to_string());
        }
        let mut asgs = std::collections::BTreeMap::new();
        for s in &a.asgs {
            let Some((group, name)) = s
                .split_once('=')
                .filter(|(g, n)| !g.is_empty() && !n.is_empty())
            else {
                return Err(LiveError::Input(format!(
                    "--asg {s:?}: expected GROUP=NAME (the scenario's node group = a real Auto Scaling group)"
                )));
            };
            asgs.insert(group.to_string(), name.to_string());
        }
        if !asgs.is_empty() && kind != AutoscalerKind::ClusterAutoscaler {
            return Err(LiveError::Input(
                "--asg maps cluster-autoscaler's node groups; this run's autoscaler is not cluster-autoscaler".into(),
            ));
        }
        let opts = live::run::RunOptions {
            out: a.out,
            ami: a.ami,
            launch_template: a.launch_template,
            subnets,
            caps: safety::Caps {
                max_instances: a.caps.max_instances,
                max_usd_per_hour: a.caps.max_usd_per_hour,
            },
            launch: a.launch,
            run_id: run_id(a.run_id)?,
            asgs,
        };
        let ec2 = live::ec2::Ec2::connect(scenario.catalog.region())?;
        let text = live::run::live_run(&ec2, &scenario, kind, &opts)?;
        if !quiet {
            print!("{text}");
        }
        Ok(0)
    }
}
