//! `import cluster` and `import history` (docs/your-cluster.md): read a cluster's exports, write
//! a scenario directory, print what was skipped.

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};

use autoscale_sim::report::output::StagedDir;
use autoscale_sim::workload::import::Imported;
use autoscale_sim::workload::import::anonymize::Anonymizer;
use autoscale_sim::workload::import::cluster::{ClusterOptions, import_cluster};
use autoscale_sim::workload::import::history::{HistoryFormat, import_history};

use super::fail;

#[derive(Subcommand)]
pub enum ImportCommand {
    /// A `kubectl get … -A -o yaml` dump → a scenario directory (manifests, scenario.yaml,
    /// import-report.md).
    Cluster {
        /// Dump files: `kind: List`s or streams of objects, one file or one per kind.
        #[arg(required = true)]
        dumps: Vec<PathBuf>,
        /// The scenario's duration.
        #[arg(long, default_value = "2h")]
        duration: String,
        /// The scenario's name.
        #[arg(long, default_value = "imported")]
        name: String,
        #[command(flatten)]
        anon: AnonArgs,
        /// Output directory (replaced as a whole, like `run --out`).
        #[arg(long)]
        out: PathBuf,
    },
    /// A replica history → the `replicas` trace CSV (history.csv); kubereplay also gives
    /// workloads.yaml and scenario.yaml.
    History {
        file: PathBuf,
        #[arg(long, value_enum)]
        format: FormatArg,
        #[command(flatten)]
        anon: AnonArgs,
        /// Output directory (replaced as a whole).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
pub struct AnonArgs {
    /// Replace names, namespaces, label values and images by stable hashes.
    #[arg(long)]
    anonymize: bool,
    /// The hashes' key: the same key gives the same hashes (keep it secret to stop guessing).
    #[arg(long, default_value = "autoscale-sim", requires = "anonymize")]
    anonymize_key: String,
}

impl AnonArgs {
    fn get(&self) -> Option<Anonymizer> {
        self.anonymize.then(|| Anonymizer::new(&self.anonymize_key))
    }
}

#[derive(Copy, Clone, ValueEnum)]
pub enum FormatArg {
    Csv,
    Prometheus,
    Kubereplay,
}

pub fn cmd_import(cmd: ImportCommand, quiet: bool) -> i32 {
    let (result, out) = match cmd {
        ImportCommand::Cluster {
            dumps,
            duration,
            name,
            anon,
            out,
        } => {
            let paths: Vec<&Path> = dumps.iter().map(PathBuf::as_path).collect();
            let opts = ClusterOptions {
                name,
                duration,
                anonymize: anon.get(),
            };
            (import_cluster(&paths, &opts), out)
        }
        ImportCommand::History {
            file,
            format,
            anon,
            out,
        } => {
            let format = match format {
                FormatArg::Csv => HistoryFormat::Csv,
                FormatArg::Prometheus => HistoryFormat::Prometheus,
                FormatArg::Kubereplay => HistoryFormat::Kubereplay,
            };
            (import_history(&file, format, anon.get()), out)
        }
    };
    let imported = match result {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    if let Err(e) = write(&imported, &out) {
        return fail(format!("cannot write {}: {e}", out.display()));
    }
    if !quiet {
        print!("{}", imported.report);
        println!("\nwrote {}", out.display());
    }
    0
}

/// Every file into a staging directory that then replaces `out`; files the user put there
/// that are not ours are kept.
fn write(imported: &Imported, out: &Path) -> std::io::Result<()> {
    let staged = StagedDir::new(out)?;
    for (rel, text) in &imported.files {
        let p = staged.path().join(rel);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(p, text)?;
    }
    let ours = |name: &str, _: &Path| {
        matches!(
            name,
            "scenario.yaml" | "import-report.md" | "manifests" | "history.csv" | "workloads.yaml"
        )
    };
    staged.commit(ours)
}
