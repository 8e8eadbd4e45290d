//! Builds `catalogs/aws/<region>/` from the extracted data in `data/` (docs/design.md §5).
//!
//! Inputs: `ec2-instance-types.csv` (Karpenter's generated instance-type page),
//! `ec2-on-demand-prices.csv` (Karpenter's static price tables) and `spot-advisor.csv`
//! (Spot Instance Advisor). Output per region: `instance-types.csv` (one row per type with an
//! on-demand price, sorted by name) and `SOURCE.md` (provenance). The output depends only on
//! the input bytes, so a rebuild is byte-identical.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{CatalogError, INSTANCE_TYPES_FILE, InstanceType, read_csv, write_instance_types};

/// The regions whose instance list the catalog represents: Karpenter's instance-type page is
/// the union of these three (data/README.md).
pub const CATALOG_REGIONS: [&str; 3] = ["us-east-1", "us-east-2", "us-west-2"];

/// Region whose price table Karpenter falls back to when a region has no static table
/// (docs/model/karpenter.md §2 "Prices").
pub const FALLBACK_PRICE_REGION: &str = "us-east-1";

const TYPES_FILE: &str = "ec2-instance-types.csv";
const PRICES_FILE: &str = "ec2-on-demand-prices.csv";
const SPOT_FILE: &str = "spot-advisor.csv";
const SPOT_RAW_FILE: &str = "raw/spot-advisor-data.json";
const INDEX_FILE: &str = "INDEX.md";
const KARPENTER_LICENSE_FILE: &str = "LICENSE-karpenter-Apache-2.0.txt";

/// The command that regenerates the catalogs, as documented in every `SOURCE.md`.
pub const BUILD_COMMAND: &str = "autoscale-sim catalog build --data data --out catalogs/aws";

/// What [`build_catalogs`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildSummary {
    /// Rows of `ec2-instance-types.csv`.
    pub source_types: usize,
    pub regions: Vec<RegionSummary>,
}

/// One region's output.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionSummary {
    pub region: String,
    /// `<out_dir>/<region>`.
    pub dir: PathBuf,
    /// Rows written to `instance-types.csv`.
    pub types: usize,
    /// Rows with Spot Advisor data (a spot offering).
    pub with_spot: usize,
    /// Region whose on-demand table priced this region.
    pub price_region: String,
    /// Source types left out because they have no on-demand price, sorted.
    pub unpriced: Vec<String>,
}

/// A row of `ec2-instance-types.csv`: the type (prices not yet set) and the allocatable
/// values Karpenter's page lists for AL2023 defaults.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SourceType {
    pub(crate) ty: InstanceType,
    pub(crate) alloc_cpu_millicores: i64,
    pub(crate) alloc_memory_mib: i64,
    pub(crate) alloc_ephemeral_storage_gib: i64,
}

/// Reads the three input tables from `data_dir` and writes `<out_dir>/<region>/` for each
/// region. Regions without their own on-demand table use the us-east-1 table; `cn-*` regions
/// are refused (their table is in CNY).
pub fn build_catalogs(
    data_dir: &Path,
    out_dir: &Path,
    regions: &[&str],
) -> Result<BuildSummary, CatalogError> {
    let source = read_source_types(&data_dir.join(TYPES_FILE))?;
    let prices = read_prices(&data_dir.join(PRICES_FILE))?;
    let (spot, spot_rows) = read_spot_advisor(&data_dir.join(SPOT_FILE))?;
    let index_path = data_dir.join(INDEX_FILE);
    let index = read_text(&index_path)?;
    let index_file = index_path.display().to_string();
    let mut provenance = Vec::new();
    for file in [TYPES_FILE, PRICES_FILE, SPOT_FILE, SPOT_RAW_FILE] {
        let (source, licence) =
            index_entry(&index, file).ok_or_else(|| CatalogError::MissingProvenance {
                file: index_file.clone(),
                entry: file.to_string(),
            })?;
        provenance.push((file, source, licence));
    }
    let has_licence_copy = data_dir.join(KARPENTER_LICENSE_FILE).is_file();
    let price_rows: usize = prices.values().map(BTreeMap::len).sum();
    let row_counts = [source.len(), price_rows, spot_rows];

    let mut summaries = Vec::new();
    for &region in regions {
        let price_region = price_table_region(region, &prices)?;
        let table = prices
            .get(price_region)
            .ok_or_else(|| CatalogError::UnsupportedRegion {
                region: region.to_string(),
                reason: format!("no on-demand price table for {price_region}"),
            })?;
        let mut types = Vec::new();
        let mut unpriced = Vec::new();
        for s in &source {
            let Some(&od) = table.get(&s.ty.name) else {
                unpriced.push(s.ty.name.clone());
                continue;
            };
            let mut t = s.ty.clone();
            t.od_usd_per_hour = od;
            if let Some(&(bucket, savings)) = spot.get(&(region.to_string(), t.name.clone())) {
                t.interruption_bucket = Some(bucket);
                t.spot_savings_pct = Some(savings);
            }
            types.push(t);
        }
        types.sort_by(|a, b| a.name.cmp(&b.name));
        unpriced.sort();
        let dir = out_dir.join(region);
        std::fs::create_dir_all(&dir).map_err(|source| CatalogError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let csv_path = dir.join(INSTANCE_TYPES_FILE);
        let csv = write_instance_types(&types, &csv_path.display().to_string())?;
        write_file(&csv_path, &csv)?;
        let summary = RegionSummary {
            region: region.to_string(),
            dir: dir.clone(),
            types: types.len(),
            with_spot: types.iter().filter(|t| t.has_spot()).count(),
            price_region: price_region.to_string(),
            unpriced,
        };
        let md = source_md(&summary, &provenance, row_counts, has_licence_copy);
        write_file(&dir.join("SOURCE.md"), &md)?;
        summaries.push(summary);
    }
    Ok(BuildSummary {
        source_types: source.len(),
        regions: summaries,
    })
}

/// Karpenter's static tables cover us-east-1 and GovCloud (USD) and cn-north-1 (CNY); any
/// other region starts from the us-east-1 table (docs/model/karpenter.md §2 "Prices").
fn price_table_region<'a>(
    region: &'a str,
    prices: &BTreeMap<String, BTreeMap<String, f64>>,
) -> Result<&'a str, CatalogError> {
    if region.starts_with("cn-") {
        return Err(CatalogError::UnsupportedRegion {
            region: region.to_string(),
            reason: "China regions are priced in CNY; the catalog is in USD".to_string(),
        });
    }
    if prices.contains_key(region) {
        Ok(region)
    } else {
        Ok(FALLBACK_PRICE_REGION)
    }
}

fn read_text(path: &Path) -> Result<String, CatalogError> {
    crate::files::read_to_string_capped(path, crate::files::MAX_CATALOG_BYTES, "catalog file")
        .map_err(|source| CatalogError::Io {
            path: path.display().to_string(),
            source,
        })
}

fn write_file(path: &Path, text: &str) -> Result<(), CatalogError> {
    std::fs::write(path, text).map_err(|source| CatalogError::Io {
        path: path.display().to_string(),
        source,
    })
}

const SOURCE_COLUMNS: [&str; 34] = [
    "instance_type",
    "family",
    "category",
    "generation",
    "size",
    "arch",
    "os",
    "vcpu",
    "memory_mib",
    "gpu_count",
    "gpu_name",
    "gpu_manufacturer",
    "gpu_memory_mib",
    "accelerator_count",
    "accelerator_name",
    "accelerator_manufacturer",
    "local_nvme_gb",
    "network_bandwidth_mbps",
    "hypervisor",
    "cpu_manufacturer",
    "capability_flex",
    "pods",
    "alloc_cpu_millicores",
    "alloc_memory_mib",
    "alloc_ephemeral_storage_gib",
    "res_nvidia_gpu",
    "res_amd_gpu",
    "res_aws_neuron",
    "res_aws_neuroncore",
    "res_efa",
    "ebs_bandwidth_mbps",
    "cpu_sustained_clock_mhz",
    "encryption_in_transit",
    // Read but not carried into the catalog; listed so a renamed column fails loudly.
    "res_pod_eni",
];

/// Parses `ec2-instance-types.csv` (data/README.md); prices and spot fields are left unset.
pub(crate) fn read_source_types(path: &Path) -> Result<Vec<SourceType>, CatalogError> {
    let text = read_text(path)?;
    let file = path.display().to_string();
    let mut seen = BTreeMap::new();
    read_csv(&text, &file, &SOURCE_COLUMNS, |r| {
        let name = r.nonempty("instance_type")?;
        if seen.insert(name.clone(), r.line).is_some() {
            return Err(CatalogError::Duplicate {
                file: file.clone(),
                line: r.line,
                name,
            });
        }
        let ty = r.hardware(name, "pods")?;
        Ok(SourceType {
            ty,
            alloc_cpu_millicores: r.parse("alloc_cpu_millicores", "millicores")?,
            alloc_memory_mib: r.parse("alloc_memory_mib", "MiB")?,
            alloc_ephemeral_storage_gib: r.parse("alloc_ephemeral_storage_gib", "GiB")?,
        })
    })
}

/// Parses `ec2-on-demand-prices.csv` into region → type → USD/hour.
fn read_prices(path: &Path) -> Result<BTreeMap<String, BTreeMap<String, f64>>, CatalogError> {
    let text = read_text(path)?;
    let file = path.display().to_string();
    let rows = read_csv(
        &text,
        &file,
        &["region", "instance_type", "usd_per_hour"],
        |r| {
            let price: f64 = r.parse("usd_per_hour", "a price in USD per hour")?;
            if !price.is_finite() || price < 0.0 {
                return Err(r.err("usd_per_hour", "a finite non-negative price"));
            }
            Ok((
                r.line,
                r.nonempty("region")?,
                r.nonempty("instance_type")?,
                price,
            ))
        },
    )?;
    let mut out: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for (line, region, name, price) in rows {
        if out
            .entry(region)
            .or_default()
            .insert(name.clone(), price)
            .is_some()
        {
            return Err(CatalogError::Duplicate { file, line, name });
        }
    }
    Ok(out)
}

/// Parses the Linux rows of `spot-advisor.csv` into (region, type) → (bucket, savings %);
/// also returns the file's total row count.
#[allow(clippy::type_complexity)]
fn read_spot_advisor(
    path: &Path,
) -> Result<(BTreeMap<(String, String), (u8, u32)>, usize), CatalogError> {
    let text = read_text(path)?;
    let file = path.display().to_string();
    let cols = [
        "region",
        "os",
        "instance_type",
        "interruption_bucket",
        "savings_pct",
    ];
    let rows = read_csv(&text, &file, &cols, |r| {
        let bucket: u8 = r.parse("interruption_bucket", "a bucket 0-4")?;
        if bucket > 4 {
            return Err(r.err("interruption_bucket", "a bucket 0-4"));
        }
        let savings: u32 = r.parse("savings_pct", "an integer percent 0-100")?;
        if savings > 100 {
            return Err(r.err("savings_pct", "an integer percent 0-100"));
        }
        Ok((
            r.line,
            r.nonempty("region")?,
            r.str("os") == "Linux",
            r.nonempty("instance_type")?,
            bucket,
            savings,
        ))
    })?;
    let total = rows.len();
    let mut out = BTreeMap::new();
    for (line, region, linux, name, bucket, savings) in rows {
        if linux
            && out
                .insert((region, name.clone()), (bucket, savings))
                .is_some()
        {
            return Err(CatalogError::Duplicate { file, line, name });
        }
    }
    Ok((out, total))
}

/// Splits a Markdown table row into trimmed cells, honouring `\|` escapes.
fn table_cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|');
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cur.push('\\');
                cur.push('|');
                chars.next();
            }
            '|' => cells.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        cells.push(cur.trim().to_string());
    }
    cells
}

/// The (source, licence) cells of `file`'s row in data/INDEX.md, whose table columns are
/// path | what | rows | source | licence | regenerate.
fn index_entry(index: &str, file: &str) -> Option<(String, String)> {
    let key = format!("`{file}`");
    index.lines().find_map(|line| {
        let cells = table_cells(line);
        (cells.first().map(String::as_str) == Some(key.as_str()) && cells.len() >= 5)
            .then(|| (cells[3].clone(), cells[4].clone()))
    })
}

/// The provenance note written next to each region's catalog.
fn source_md(
    s: &RegionSummary,
    provenance: &[(&str, String, String)],
    row_counts: [usize; 3],
    has_licence_copy: bool,
) -> String {
    let mut m = String::new();
    let region = &s.region;
    // `write!` into a String cannot fail; the results are ignored deliberately.
    let _ = writeln!(m, "# Instance catalog: {region}\n");
    let _ = writeln!(
        m,
        "Generated by `{BUILD_COMMAND}` (run from the repository root; `catalog::build::build_catalogs`).\n\
         Do not edit by hand: rerun the command after updating `data/`. The output depends only on\n\
         the input files, so a rebuild from unchanged inputs is byte-identical.\n"
    );
    let _ = writeln!(m, "## Contents\n");
    let _ = writeln!(
        m,
        "* `{INSTANCE_TYPES_FILE}`: {} instance types, one row per type with an on-demand price, sorted by name.",
        s.types
    );
    let _ = writeln!(
        m,
        "* Instance-type list: Karpenter's generated instance-type page, the union of the types seen in\n  \
         us-east-1, us-east-2 and us-west-2 (AL2023, hvm, x86_64/arm64). Per-region availability is not\n  \
         recorded, so every type is offered in every zone of a scenario."
    );
    if s.price_region == s.region {
        let _ = writeln!(
            m,
            "* On-demand prices: Karpenter's static {region} table (USD per hour)."
        );
    } else {
        let _ = writeln!(
            m,
            "* On-demand prices: Karpenter's static {} table (USD per hour). Karpenter has no static table for\n  \
             {region} and starts from the {} table until the Pricing API answers (docs/model/karpenter.md §2 \"Prices\").",
            s.price_region, s.price_region
        );
    }
    let _ = writeln!(
        m,
        "* Left out for lack of an on-demand price ({}; Karpenter marks unpriced offerings unavailable): {}.",
        s.unpriced.len(),
        if s.unpriced.is_empty() {
            "none".to_string()
        } else {
            s.unpriced
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let _ = writeln!(
        m,
        "* Spot: {} types have a Spot Instance Advisor Linux row for {region} (`spot_savings_pct`,\n  \
         `interruption_bucket`); the other {} have no spot offering. Spot price = on-demand × (1 − savings/100).\n",
        s.with_spot,
        s.types - s.with_spot
    );
    let _ = writeln!(m, "## Columns\n");
    let _ = writeln!(
        m,
        "`name`…`capability_flex` are Karpenter's instance-type labels (memory in MiB, `local_nvme_gb` in decimal\n\
         GB, `network_bandwidth_mbps` and `ebs_bandwidth_mbps` in Mbit/s, `cpu_sustained_clock_mhz` in MHz, empty =\n\
         absent; `hypervisor` empty = bare metal; `encryption_in_transit` true/false). `eni_pods` is the\n\
         ENI-limited max pods (the page's `pods`). `res_*` are extended-resource capacities (nvidia.com/gpu,\n\
         amd.com/gpu, aws.amazon.com/neuron, aws.amazon.com/neuroncore, vpc.amazonaws.com/efa). `od_usd_per_hour`\n\
         has 6 decimals. `spot_savings_pct` (integer percent) and `interruption_bucket` (0 `<5%`, 1 `5-10%`,\n\
         2 `10-15%`, 3 `15-20%`, 4 `>20%`) are empty together when there is no Advisor data.\n"
    );
    let _ = writeln!(m, "## Inputs (paths relative to `data/`)\n");
    let _ = writeln!(
        m,
        "| file | rows read | source (from `data/INDEX.md`) | licence (from `data/INDEX.md`) |"
    );
    let _ = writeln!(m, "| --- | --- | --- | --- |");
    for (i, (file, source, licence)) in provenance.iter().enumerate() {
        let rows = row_counts
            .get(i)
            .map(|n| n.to_string())
            .unwrap_or_else(|| "not read directly".to_string());
        let _ = writeln!(m, "| `{file}` | {rows} | {source} | {licence} |");
    }
    let _ = writeln!(m, "\n## Licences\n");
    let _ = writeln!(
        m,
        "* Columns from `ec2-instance-types.csv` and `ec2-on-demand-prices.csv` derive from\n  \
         `aws/karpenter-provider-aws`, Apache License 2.0{}. Its NOTICE reads: \"Karpenter\" /\n  \
         \"Copyright Amazon.com, Inc. or its affiliates. All Rights Reserved.\"",
        if has_licence_copy {
            format!(" (text: `data/{KARPENTER_LICENSE_FILE}`)")
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        m,
        "* `spot_savings_pct` and `interruption_bucket` derive from the AWS Spot Instance Advisor feed, for\n  \
         which the publisher states **no licence** (see `data/README-spot.md` \"Licence\"); redistribution of\n  \
         these two columns is not explicitly licensed."
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, text).expect("write fixture");
    }

    const TYPES_HEADER: &str = "instance_type,family,category,generation,size,arch,os,vcpu,memory_mib,gpu_count,gpu_name,gpu_manufacturer,gpu_memory_mib,accelerator_count,accelerator_name,accelerator_manufacturer,local_nvme_gb,network_bandwidth_mbps,ebs_bandwidth_mbps,hypervisor,cpu_manufacturer,cpu_sustained_clock_mhz,encryption_in_transit,capability_flex,pods,alloc_cpu_millicores,alloc_memory_mib,alloc_ephemeral_storage_gib,res_nvidia_gpu,res_amd_gpu,res_aws_neuron,res_aws_neuroncore,res_efa,res_pod_eni";

    /// A miniature data/ folder: three types, one unpriced, spot data for one region only.
    fn fixture(dir: &Path) {
        write(
            dir,
            TYPES_FILE,
            &format!(
                "{TYPES_HEADER}\n\
                 m5.xlarge,m5,m,5,xlarge,amd64,linux,4,16384,,,,,,,,,1250,4750,nitro,intel,3100,false,false,58,3920,14162,17,,,,,,18\n\
                 m5.large,m5,m,5,large,amd64,linux,2,8192,,,,,,,,,750,4750,nitro,intel,3100,false,false,29,1930,6903,17,,,,,,9\n\
                 x9z.large,x9z,x,9,large,amd64,linux,2,8192,,,,,,,,,750,4750,nitro,intel,3100,false,false,29,1930,6903,17,,,,,,9\n"
            ),
        );
        write(
            dir,
            PRICES_FILE,
            "region,instance_type,usd_per_hour\nus-east-1,m5.large,0.096000\nus-east-1,m5.xlarge,0.192000\nus-gov-west-1,m5.large,0.121000\n",
        );
        write(
            dir,
            SPOT_FILE,
            "region,os,instance_type,interruption_bucket,interruption_range,savings_pct\n\
             us-east-1,Linux,m5.large,3,15-20%,66\nus-east-1,Windows,m5.xlarge,1,5-10%,40\nus-east-2,Linux,m5.xlarge,0,<5%,60\n",
        );
        let row = |f: &str, c: &str| format!("| `{f}` | what | 1 | {c} | Apache-2.0 | cmd |\n");
        write(
            dir,
            INDEX_FILE,
            &format!(
                "| path | what | rows | source | licence | regenerate command |\n| --- | --- | --- | --- | --- | --- |\n{}{}{}{}",
                row(TYPES_FILE, "src-types @ abc"),
                row(PRICES_FILE, "src-prices @ abc"),
                row(SPOT_FILE, "derived \\| raw"),
                row(SPOT_RAW_FILE, "spotinfo @ 5eed"),
            ),
        );
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("catalog-build-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir tmp");
        d
    }

    #[test]
    fn build_drops_unpriced_types_and_joins_linux_spot_rows() {
        let d = tempdir("join");
        fixture(&d);
        let out = d.join("out");
        let s = build_catalogs(&d, &out, &["us-east-1", "us-east-2"]).expect("builds");
        assert_eq!(s.source_types, 3);
        let east1 = &s.regions[0];
        assert_eq!((east1.types, east1.with_spot), (2, 1));
        assert_eq!(east1.unpriced, ["x9z.large"]);
        let c = crate::catalog::Catalog::load_dir(&out.join("us-east-1")).expect("loads");
        let names: Vec<_> = c.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["m5.large", "m5.xlarge"]);
        let m5l = c.get("m5.large").expect("m5.large");
        assert_eq!(
            (m5l.spot_savings_pct, m5l.interruption_bucket),
            (Some(66), Some(3))
        );
        // The Windows row must not create a spot offering.
        assert_eq!(c.get("m5.xlarge").and_then(|t| t.spot_savings_pct), None);
        // us-east-2 falls back to the us-east-1 prices but has its own spot data.
        let c2 = crate::catalog::Catalog::load_dir(&out.join("us-east-2")).expect("loads");
        assert_eq!(s.regions[1].price_region, "us-east-1");
        assert_eq!(c2.get("m5.large").and_then(|t| t.spot_savings_pct), None);
        assert_eq!(
            c2.get("m5.xlarge").and_then(|t| t.interruption_bucket),
            Some(0)
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn build_uses_a_regions_own_price_table_when_present() {
        let d = tempdir("gov");
        fixture(&d);
        let out = d.join("out");
        let s = build_catalogs(&d, &out, &["us-gov-west-1"]).expect("builds");
        assert_eq!(s.regions[0].price_region, "us-gov-west-1");
        assert_eq!(s.regions[0].types, 1);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn build_is_byte_stable_and_writes_provenance() {
        let d = tempdir("stable");
        fixture(&d);
        let out = d.join("out");
        build_catalogs(&d, &out, &["us-east-2"]).expect("builds");
        let first = std::fs::read(out.join("us-east-2").join(INSTANCE_TYPES_FILE)).expect("csv");
        let md1 = std::fs::read_to_string(out.join("us-east-2/SOURCE.md")).expect("md");
        build_catalogs(&d, &out, &["us-east-2"]).expect("rebuilds");
        assert_eq!(
            first,
            std::fs::read(out.join("us-east-2").join(INSTANCE_TYPES_FILE)).expect("csv")
        );
        assert_eq!(
            md1,
            std::fs::read_to_string(out.join("us-east-2/SOURCE.md")).expect("md")
        );
        assert!(md1.contains("src-types @ abc"), "{md1}");
        assert!(md1.contains("spotinfo @ 5eed"), "{md1}");
        assert!(md1.contains(BUILD_COMMAND));
        assert!(md1.contains("us-east-1 table"));
        assert!(md1.contains("`x9z.large`"));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn build_refuses_cny_priced_regions() {
        let d = tempdir("cn");
        fixture(&d);
        let err = build_catalogs(&d, &d.join("out"), &["cn-north-1"]).expect_err("CNY");
        assert!(matches!(err, CatalogError::UnsupportedRegion { .. }));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn bad_price_names_file_line_and_column() {
        let d = tempdir("badprice");
        fixture(&d);
        write(
            &d,
            PRICES_FILE,
            "region,instance_type,usd_per_hour\nus-east-1,m5.large,cheap\n",
        );
        let err = build_catalogs(&d, &d.join("out"), &["us-east-1"]).expect_err("bad price");
        let msg = err.to_string();
        assert!(msg.contains("ec2-on-demand-prices.csv:2"), "{msg}");
        assert!(msg.contains("column 3 `usd_per_hour`"), "{msg}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn missing_index_entry_is_an_error() {
        let d = tempdir("noindex");
        fixture(&d);
        write(&d, INDEX_FILE, "| path | what |\n");
        let err = build_catalogs(&d, &d.join("out"), &["us-east-1"]).expect_err("no provenance");
        assert!(matches!(err, CatalogError::MissingProvenance { .. }));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn table_cells_keep_escaped_pipes() {
        assert_eq!(
            table_cells("| `a` | b \\| c | d |"),
            ["`a`", "b \\| c", "d"]
        );
    }
}
