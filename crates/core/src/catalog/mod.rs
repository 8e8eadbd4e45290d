//! The EC2 instance catalog the simulator ships (docs/design.md §5).
//!
//! One CSV per region under `catalogs/aws/<region>/instance-types.csv`, built from `data/` by
//! [`build::build_catalogs`]. The default region's catalog is compiled into the binary so a
//! scenario runs with no catalog files present; other regions are read from disk.
//! Allocatable resources (Karpenter's AWS formulas) live in [`allocatable`].

pub mod allocatable;
pub mod build;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Region whose catalog is compiled into the binary.
pub const EMBEDDED_REGION: &str = "us-east-1";

/// Name of the per-region catalog file.
pub const INSTANCE_TYPES_FILE: &str = "instance-types.csv";

/// Optional file beside it: real spot prices per zone, columns `name,zone,usd_per_hour`
/// (docs/model/ec2.md §2.3). A (type, zone) it lists replaces the Advisor-derived price with
/// its drawn zone factor; types and zones it does not list keep those.
pub const SPOT_PRICES_FILE: &str = "spot-prices.csv";

/// Default on-disk root of the per-region catalogs, relative to the current directory.
pub const DEFAULT_CATALOG_ROOT: &str = "catalogs/aws";

/// The us-east-1 catalog as built by `autoscale-sim catalog build`.
const EMBEDDED_US_EAST_1: &str =
    include_str!("../../../../catalogs/aws/us-east-1/instance-types.csv");

/// Columns a catalog may leave out (catalogs written before they were added): read as empty.
pub const OPTIONAL_COLUMNS: [&str; 3] = [
    "ebs_bandwidth_mbps",
    "cpu_sustained_clock_mhz",
    "encryption_in_transit",
];

/// Columns of `instance-types.csv`, in file order.
pub const COLUMNS: [&str; 33] = [
    "name",
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
    "ebs_bandwidth_mbps",
    "hypervisor",
    "cpu_manufacturer",
    "cpu_sustained_clock_mhz",
    "encryption_in_transit",
    "capability_flex",
    "eni_pods",
    "res_nvidia_gpu",
    "res_amd_gpu",
    "res_aws_neuron",
    "res_aws_neuroncore",
    "res_efa",
    "od_usd_per_hour",
    "spot_savings_pct",
    "interruption_bucket",
];

/// Monthly interruption probability per Spot Advisor bucket: the bucket midpoints
/// (`<5%`, `5-10%`, `10-15%`, `15-20%`, `>20%` → 25 % is an assumption).
/// docs/model/latency.md "Spot interruption model".
pub const INTERRUPTION_BUCKET_MONTHLY_PROBABILITY: [f64; 5] = [0.025, 0.075, 0.125, 0.175, 0.25];

/// Hours in the "month" the Advisor frequency refers to (docs/model/latency.md).
pub const HOURS_PER_MONTH: f64 = 730.0;

const MS_PER_HOUR: f64 = 3_600_000.0;

/// Errors reading or building a catalog. Every parse error names the file, line and column.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: malformed CSV: {message}")]
    Csv {
        file: String,
        line: u64,
        message: String,
    },
    #[error("{file}: header has no column `{column}`")]
    MissingColumn { file: String, column: String },
    #[error("{file}:{line}: column {index} `{column}`: expected {expected}, found {value:?}")]
    Field {
        file: String,
        line: u64,
        /// 1-based column number.
        index: usize,
        column: String,
        expected: String,
        value: String,
    },
    #[error("{file}:{line}: duplicate instance type `{name}`")]
    Duplicate {
        file: String,
        line: u64,
        name: String,
    },
    #[error("duplicate instance type `{name}` in catalog for region `{region}`")]
    DuplicateType { region: String, name: String },
    #[error(
        "no catalog for region `{region}`: {path} does not exist (run `autoscale-sim catalog build`)"
    )]
    RegionNotFound { region: String, path: String },
    #[error("region `{region}`: {reason}")]
    UnsupportedRegion { region: String, reason: String },
    #[error("{file}: no entry for `{entry}`")]
    MissingProvenance { file: String, entry: String },
}

/// CPU architecture, as the `kubernetes.io/arch` label spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "amd64" => Ok(Arch::Amd64),
            "arm64" => Ok(Arch::Arm64),
            other => Err(format!(
                "unknown architecture `{other}` (expected amd64 or arm64)"
            )),
        }
    }
}

/// One instance type of a regional catalog: EC2 facts as Karpenter labels them, the
/// ENI-limited pod count, extended resources, and the region's prices.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceType {
    pub name: String,
    pub family: String,
    pub category: String,
    pub generation: u32,
    pub size: String,
    pub arch: Arch,
    pub os: String,
    pub vcpu: u32,
    /// Raw EC2 memory (before the arm64 CMA and VM overhead deductions).
    pub memory_mib: u64,
    /// GPU facts are set only when the type has exactly one GPU model (Karpenter's rule).
    pub gpu_count: Option<u32>,
    pub gpu_name: Option<String>,
    pub gpu_manufacturer: Option<String>,
    pub gpu_memory_mib: Option<u64>,
    pub accelerator_count: Option<u32>,
    pub accelerator_name: Option<String>,
    pub accelerator_manufacturer: Option<String>,
    /// Total instance-store size in decimal GB (EC2 `TotalSizeInGB`); None = no NVMe.
    pub local_nvme_gb: Option<u64>,
    pub network_bandwidth_mbps: Option<u64>,
    /// EBS-optimized maximum bandwidth, Mbit/s (`instance-ebs-bandwidth`).
    pub ebs_bandwidth_mbps: Option<u64>,
    /// `nitro`, `xen`, or empty for bare metal (Karpenter labels it with the empty value).
    pub hypervisor: String,
    pub cpu_manufacturer: String,
    /// Sustained clock speed, MHz (`instance-cpu-sustained-clock-speed-mhz`).
    pub cpu_sustained_clock_mhz: Option<u64>,
    /// Network encryption in transit supported (`instance-encryption-in-transit-supported`);
    /// None when the catalog does not say.
    pub encryption_in_transit: Option<bool>,
    pub capability_flex: bool,
    /// ENI-limited max pods `ENIs × (IPv4 per ENI − 1) + 2` (docs/model/karpenter.md §1.5).
    pub eni_pods: u32,
    pub res_nvidia_gpu: u32,
    pub res_amd_gpu: u32,
    pub res_aws_neuron: u32,
    pub res_aws_neuroncore: u32,
    pub res_efa: u32,
    /// On-demand price, USD per hour.
    pub od_usd_per_hour: f64,
    /// Spot Advisor saving vs on-demand, percent; None = no Advisor data ⇒ no spot offering.
    pub spot_savings_pct: Option<u32>,
    /// Spot Advisor interruption bucket 0–4; None exactly when `spot_savings_pct` is None.
    pub interruption_bucket: Option<u8>,
}

impl InstanceType {
    /// Whether a spot offering exists (the Advisor has data for this type and region).
    pub fn has_spot(&self) -> bool {
        self.spot_savings_pct.is_some()
    }

    /// Spot price = on-demand × (1 − savings) (docs/design.md §5); None without Advisor data.
    pub fn spot_price(&self) -> Option<f64> {
        self.spot_savings_pct
            .map(|s| self.od_usd_per_hour * (1.0 - f64::from(s) / 100.0))
    }

    /// Monthly interruption probability of the type's Advisor bucket.
    pub fn spot_monthly_interruption_probability(&self) -> Option<f64> {
        self.interruption_bucket
            .and_then(bucket_monthly_probability)
    }

    /// Constant interruption hazard per millisecond of a running spot instance of this type.
    pub fn spot_interruption_hazard_per_ms(&self) -> Option<f64> {
        self.spot_monthly_interruption_probability()
            .and_then(hazard_per_ms)
    }

    /// Karpenter's well-known labels of the type (no zone, region or capacity-type: those
    /// belong to the offering). Values are formatted as Karpenter formats them
    /// ([aws] pkg/providers/instancetype/types.go `computeRequirements`): memory in MiB,
    /// local NVMe in GB, names lower-kebab-case as in the data.
    pub fn labels(&self) -> BTreeMap<String, String> {
        const P: &str = "karpenter.k8s.aws/instance-";
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        put("node.kubernetes.io/instance-type", self.name.clone());
        put("kubernetes.io/arch", self.arch.as_str().to_string());
        put("kubernetes.io/os", self.os.clone());
        let mut aws = |suffix: &str, v: String| put(&format!("{P}{suffix}"), v);
        aws("category", self.category.clone());
        aws("family", self.family.clone());
        aws("generation", self.generation.to_string());
        aws("size", self.size.clone());
        aws("cpu", self.vcpu.to_string());
        aws("memory", self.memory_mib.to_string());
        aws("hypervisor", self.hypervisor.clone());
        aws("cpu-manufacturer", self.cpu_manufacturer.clone());
        aws("capability-flex", self.capability_flex.to_string());
        if let Some(v) = self.network_bandwidth_mbps {
            aws("network-bandwidth", v.to_string());
        }
        if let Some(v) = self.ebs_bandwidth_mbps {
            aws("ebs-bandwidth", v.to_string());
        }
        if let Some(v) = self.cpu_sustained_clock_mhz {
            aws("cpu-sustained-clock-speed-mhz", v.to_string());
        }
        if let Some(v) = self.encryption_in_transit {
            aws("encryption-in-transit-supported", v.to_string());
        }
        if let Some(v) = self.local_nvme_gb {
            aws("local-nvme", v.to_string());
        }
        if let Some(v) = &self.gpu_name {
            aws("gpu-name", v.clone());
        }
        if let Some(v) = &self.gpu_manufacturer {
            aws("gpu-manufacturer", v.clone());
        }
        if let Some(v) = self.gpu_count {
            aws("gpu-count", v.to_string());
        }
        if let Some(v) = self.gpu_memory_mib {
            aws("gpu-memory", v.to_string());
        }
        if let Some(v) = &self.accelerator_name {
            aws("accelerator-name", v.clone());
        }
        if let Some(v) = &self.accelerator_manufacturer {
            aws("accelerator-manufacturer", v.clone());
        }
        if let Some(v) = self.accelerator_count {
            aws("accelerator-count", v.to_string());
        }
        m
    }

    /// The row's fields in [`COLUMNS`] order, as written to `instance-types.csv`.
    fn to_record(&self) -> [String; COLUMNS.len()] {
        fn opt<T: ToString>(v: &Option<T>) -> String {
            v.as_ref().map(ToString::to_string).unwrap_or_default()
        }
        [
            self.name.clone(),
            self.family.clone(),
            self.category.clone(),
            self.generation.to_string(),
            self.size.clone(),
            self.arch.as_str().to_string(),
            self.os.clone(),
            self.vcpu.to_string(),
            self.memory_mib.to_string(),
            opt(&self.gpu_count),
            opt(&self.gpu_name),
            opt(&self.gpu_manufacturer),
            opt(&self.gpu_memory_mib),
            opt(&self.accelerator_count),
            opt(&self.accelerator_name),
            opt(&self.accelerator_manufacturer),
            opt(&self.local_nvme_gb),
            opt(&self.network_bandwidth_mbps),
            opt(&self.ebs_bandwidth_mbps),
            self.hypervisor.clone(),
            self.cpu_manufacturer.clone(),
            opt(&self.cpu_sustained_clock_mhz),
            opt(&self.encryption_in_transit),
            self.capability_flex.to_string(),
            self.eni_pods.to_string(),
            self.res_nvidia_gpu.to_string(),
            self.res_amd_gpu.to_string(),
            self.res_aws_neuron.to_string(),
            self.res_aws_neuroncore.to_string(),
            self.res_efa.to_string(),
            format!("{:.6}", self.od_usd_per_hour),
            opt(&self.spot_savings_pct),
            opt(&self.interruption_bucket),
        ]
    }
}

/// Monthly interruption probability of Advisor bucket 0–4 (bucket midpoints).
pub fn bucket_monthly_probability(bucket: u8) -> Option<f64> {
    INTERRUPTION_BUCKET_MONTHLY_PROBABILITY
        .get(usize::from(bucket))
        .copied()
}

/// Constant hazard per ms that gives monthly interruption probability `p`:
/// `λ = −ln(1 − p) / 730 h` (docs/model/latency.md "Spot interruption model").
/// None unless `0 ≤ p < 1`.
pub fn hazard_per_ms(p: f64) -> Option<f64> {
    if !(0.0..1.0).contains(&p) {
        return None;
    }
    Some(-crate::math::ln(1.0 - p) / (HOURS_PER_MONTH * MS_PER_HOUR))
}

/// A region's instance types, sorted by name, indexed by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    region: String,
    types: Vec<InstanceType>,
    index: BTreeMap<String, usize>,
    /// (type, zone) → spot USD per hour, from [`SPOT_PRICES_FILE`] when the catalog has one.
    spot_zone_prices: BTreeMap<(String, String), f64>,
}

impl Catalog {
    /// Builds a catalog from rows (sorted here); rejects duplicate names.
    pub fn new(
        region: impl Into<String>,
        mut types: Vec<InstanceType>,
    ) -> Result<Self, CatalogError> {
        let region = region.into();
        types.sort_by(|a, b| a.name.cmp(&b.name));
        let mut index = BTreeMap::new();
        for (i, t) in types.iter().enumerate() {
            if index.insert(t.name.clone(), i).is_some() {
                return Err(CatalogError::DuplicateType {
                    region,
                    name: t.name.clone(),
                });
            }
        }
        Ok(Catalog {
            region,
            types,
            index,
            spot_zone_prices: BTreeMap::new(),
        })
    }

    /// Adds per-zone spot prices from `spot-prices.csv` text (`name,zone,usd_per_hour`); `file`
    /// names the source in errors. Every type must be in the catalog with a spot offering, every
    /// price a finite number ≥ 0, every (type, zone) listed once.
    pub fn with_spot_zone_prices(mut self, text: &str, file: &str) -> Result<Self, CatalogError> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(text.as_bytes());
        let headers = rdr.headers().map_err(|e| csv_error(file, &e))?.clone();
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| CatalogError::MissingColumn {
                    file: file.to_string(),
                    column: name.to_string(),
                })
        };
        let (ni, zi, pi) = (col("name")?, col("zone")?, col("usd_per_hour")?);
        for rec in rdr.records() {
            let rec = rec.map_err(|e| csv_error(file, &e))?;
            let line = rec.position().map_or(0, |p| p.line());
            let field = |i: usize, expected: &str| CatalogError::Field {
                file: file.to_string(),
                line,
                index: i + 1,
                column: headers.get(i).unwrap_or_default().to_string(),
                expected: expected.to_string(),
                value: rec.get(i).unwrap_or_default().to_string(),
            };
            let name = rec.get(ni).unwrap_or_default();
            if !self.get(name).is_some_and(InstanceType::has_spot) {
                return Err(field(
                    ni,
                    "an instance type of the catalog with a spot offering",
                ));
            }
            let zone = rec.get(zi).unwrap_or_default();
            if zone.is_empty() {
                return Err(field(zi, "a zone name"));
            }
            let price = rec
                .get(pi)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|p| p.is_finite() && *p >= 0.0)
                .ok_or_else(|| field(pi, "a price in USD per hour, ≥ 0"))?;
            if self
                .spot_zone_prices
                .insert((name.to_string(), zone.to_string()), price)
                .is_some()
            {
                return Err(field(zi, "each (name, zone) once"));
            }
        }
        Ok(self)
    }

    /// The real spot price of `name` in `zone`, when the catalog carries one (docs/model/ec2.md
    /// §2.3).
    pub fn spot_zone_price(&self, name: &str, zone: &str) -> Option<f64> {
        self.spot_zone_prices
            .get(&(name.to_string(), zone.to_string()))
            .copied()
    }

    /// Parses `instance-types.csv` text; `file` names the source in error messages.
    pub fn from_csv_str(
        region: impl Into<String>,
        text: &str,
        file: &str,
    ) -> Result<Self, CatalogError> {
        let types = parse_instance_types(text, file)?;
        Catalog::new(region, types)
    }

    /// Loads `<dir>/instance-types.csv`; the region is the directory's name.
    pub fn load_dir(dir: &Path) -> Result<Self, CatalogError> {
        let path = dir.join(INSTANCE_TYPES_FILE);
        let region = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = crate::files::read_to_string_capped(
            &path,
            crate::files::MAX_CATALOG_BYTES,
            "catalog file",
        )
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                CatalogError::RegionNotFound {
                    region: region.clone(),
                    path: path.display().to_string(),
                }
            } else {
                CatalogError::Io {
                    path: path.display().to_string(),
                    source,
                }
            }
        })?;
        let cat = Catalog::from_csv_str(region, &text, &path.display().to_string())?;
        let spot = dir.join(SPOT_PRICES_FILE);
        match crate::files::read_to_string_capped(
            &spot,
            crate::files::MAX_CATALOG_BYTES,
            "catalog file",
        ) {
            Ok(text) => cat.with_spot_zone_prices(&text, &spot.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(cat),
            Err(source) => Err(CatalogError::Io {
                path: spot.display().to_string(),
                source,
            }),
        }
    }

    /// The catalog of `region` with no catalog directory given: us-east-1 from the copy
    /// compiled into the binary, any other region from `catalogs/aws/<region>/` relative to
    /// the current directory.
    pub fn embedded(region: &str) -> Result<Self, CatalogError> {
        if region == EMBEDDED_REGION {
            Catalog::from_csv_str(
                region,
                EMBEDDED_US_EAST_1,
                "<embedded>/catalogs/aws/us-east-1/instance-types.csv",
            )
        } else {
            Catalog::load_dir(&Path::new(DEFAULT_CATALOG_ROOT).join(region))
        }
    }

    /// The catalog of `region`: from `<root>/<region>/` when a root is given, else as
    /// [`Catalog::embedded`].
    pub fn for_region(region: &str, root: Option<&Path>) -> Result<Self, CatalogError> {
        match root {
            Some(root) => Catalog::load_dir(&root.join(region)),
            None => Catalog::embedded(region),
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// All types, sorted by name.
    pub fn types(&self) -> &[InstanceType] {
        &self.types
    }

    pub fn len(&self) -> usize {
        self.types.len()
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, InstanceType> {
        self.types.iter()
    }

    pub fn get(&self, name: &str) -> Option<&InstanceType> {
        self.index.get(name).and_then(|&i| self.types.get(i))
    }

    /// Why `name` is refused, for an error message: not in this catalog, with up to six
    /// types of the same family as suggestions.
    pub fn unknown_type(&self, name: &str) -> String {
        let family = name.split('.').next().unwrap_or(name);
        let similar: Vec<&str> = self
            .types
            .iter()
            .filter(|t| t.family == family)
            .map(|t| t.name.as_str())
            .take(6)
            .collect();
        if similar.is_empty() {
            format!(
                "unknown instance type {name:?} in the {} catalog",
                self.region()
            )
        } else {
            format!(
                "unknown instance type {name:?} in the {} catalog (did you mean one of {}?)",
                self.region(),
                similar.join(", ")
            )
        }
    }

    /// Types of exactly this family (`m5` does not include `m5d`), sorted by name.
    pub fn filter_family<'a>(
        &'a self,
        family: &'a str,
    ) -> impl Iterator<Item = &'a InstanceType> + 'a {
        self.types.iter().filter(move |t| t.family == family)
    }

    /// The catalog as `instance-types.csv` text (rows sorted by name).
    pub fn to_csv_string(&self) -> Result<String, CatalogError> {
        write_instance_types(&self.types, "<memory>")
    }
}

/// Serialises rows as `instance-types.csv` in the given order (callers sort by name).
pub(crate) fn write_instance_types(
    types: &[InstanceType],
    file: &str,
) -> Result<String, CatalogError> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let to_err = |e: csv::Error| CatalogError::Csv {
        file: file.to_string(),
        line: 0,
        message: e.to_string(),
    };
    w.write_record(COLUMNS).map_err(to_err)?;
    for t in types {
        w.write_record(t.to_record()).map_err(to_err)?;
    }
    let bytes = w.into_inner().map_err(|e| CatalogError::Csv {
        file: file.to_string(),
        line: 0,
        message: e.to_string(),
    })?;
    String::from_utf8(bytes).map_err(|e| CatalogError::Csv {
        file: file.to_string(),
        line: 0,
        message: e.to_string(),
    })
}

/// Reads CSV text with a header row and hands each record to `row` with a field accessor.
pub(crate) fn read_csv<T>(
    text: &str,
    file: &str,
    columns: &[&str],
    mut row: impl FnMut(&Row<'_>) -> Result<T, CatalogError>,
) -> Result<Vec<T>, CatalogError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let csv_err = |e: csv::Error| CatalogError::Csv {
        file: file.to_string(),
        line: e.position().map(|p| p.line()).unwrap_or(0),
        message: e.to_string(),
    };
    let headers = rdr.headers().map_err(csv_err)?.clone();
    let mut idx = Vec::with_capacity(columns.len());
    for c in columns {
        if OPTIONAL_COLUMNS.contains(c) && !headers.iter().any(|h| h == *c) {
            // Absent optional column: every cell reads as empty.
            idx.push(usize::MAX);
            continue;
        }
        let i =
            headers
                .iter()
                .position(|h| h == *c)
                .ok_or_else(|| CatalogError::MissingColumn {
                    file: file.to_string(),
                    column: (*c).to_string(),
                })?;
        idx.push(i);
    }
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(csv_err)?;
        let r = Row {
            file,
            line: rec.position().map(|p| p.line()).unwrap_or(0),
            columns,
            idx: &idx,
            rec: &rec,
        };
        out.push(row(&r)?);
    }
    Ok(out)
}

/// One CSV record with typed, error-reporting field access by column name.
pub(crate) struct Row<'a> {
    file: &'a str,
    pub(crate) line: u64,
    columns: &'a [&'a str],
    idx: &'a [usize],
    rec: &'a csv::StringRecord,
}

impl Row<'_> {
    fn pos(&self, column: &str) -> usize {
        // Columns are looked up by the names passed to `read_csv`; an unknown name is a
        // programming error, reported as column 0 rather than a panic.
        self.columns
            .iter()
            .position(|c| *c == column)
            .and_then(|i| self.idx.get(i).copied())
            .unwrap_or(usize::MAX)
    }

    pub(crate) fn str(&self, column: &str) -> &str {
        self.rec.get(self.pos(column)).unwrap_or("")
    }

    pub(crate) fn err(&self, column: &str, expected: &str) -> CatalogError {
        let p = self.pos(column);
        CatalogError::Field {
            file: self.file.to_string(),
            line: self.line,
            index: p.wrapping_add(1),
            column: column.to_string(),
            expected: expected.to_string(),
            value: self.str(column).to_string(),
        }
    }

    pub(crate) fn nonempty(&self, column: &str) -> Result<String, CatalogError> {
        let v = self.str(column);
        if v.is_empty() {
            Err(self.err(column, "a non-empty value"))
        } else {
            Ok(v.to_string())
        }
    }

    pub(crate) fn opt_str(&self, column: &str) -> Option<String> {
        let v = self.str(column);
        (!v.is_empty()).then(|| v.to_string())
    }

    pub(crate) fn parse<T: FromStr>(
        &self,
        column: &str,
        expected: &str,
    ) -> Result<T, CatalogError> {
        self.str(column)
            .parse()
            .map_err(|_| self.err(column, expected))
    }

    pub(crate) fn opt_parse<T: FromStr>(
        &self,
        column: &str,
        expected: &str,
    ) -> Result<Option<T>, CatalogError> {
        if self.str(column).is_empty() {
            Ok(None)
        } else {
            self.parse(column, expected).map(Some)
        }
    }

    /// Extended-resource counts: empty means 0.
    pub(crate) fn count(&self, column: &str) -> Result<u32, CatalogError> {
        Ok(self
            .opt_parse(column, "a non-negative integer or empty")?
            .unwrap_or(0))
    }

    pub(crate) fn bool(&self, column: &str) -> Result<bool, CatalogError> {
        match self.str(column) {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.err(column, "true or false")),
        }
    }

    pub(crate) fn arch(&self, column: &str) -> Result<Arch, CatalogError> {
        self.parse(column, "amd64 or arm64")
    }

    /// The hardware columns the built catalog and `data/ec2-instance-types.csv` share, as an
    /// `InstanceType` without prices (the pod count column is named `pods_column`).
    pub(crate) fn hardware(
        &self,
        name: String,
        pods_column: &str,
    ) -> Result<InstanceType, CatalogError> {
        Ok(InstanceType {
            name,
            family: self.nonempty("family")?,
            category: self.nonempty("category")?,
            generation: self.parse("generation", "an integer generation")?,
            size: self.nonempty("size")?,
            arch: self.arch("arch")?,
            os: self.nonempty("os")?,
            vcpu: self.parse("vcpu", "a vCPU count")?,
            memory_mib: self.parse("memory_mib", "memory in MiB")?,
            gpu_count: self.opt_parse("gpu_count", "an integer or empty")?,
            gpu_name: self.opt_str("gpu_name"),
            gpu_manufacturer: self.opt_str("gpu_manufacturer"),
            gpu_memory_mib: self.opt_parse("gpu_memory_mib", "an integer MiB or empty")?,
            accelerator_count: self.opt_parse("accelerator_count", "an integer or empty")?,
            accelerator_name: self.opt_str("accelerator_name"),
            accelerator_manufacturer: self.opt_str("accelerator_manufacturer"),
            local_nvme_gb: self.opt_parse("local_nvme_gb", "an integer GB or empty")?,
            network_bandwidth_mbps: self
                .opt_parse("network_bandwidth_mbps", "an integer Mbit/s or empty")?,
            ebs_bandwidth_mbps: self
                .opt_parse("ebs_bandwidth_mbps", "an integer Mbit/s or empty")?,
            hypervisor: self.str("hypervisor").to_string(),
            cpu_manufacturer: self.nonempty("cpu_manufacturer")?,
            cpu_sustained_clock_mhz: self
                .opt_parse("cpu_sustained_clock_mhz", "an integer MHz or empty")?,
            encryption_in_transit: self
                .opt_parse("encryption_in_transit", "true, false or empty")?,
            capability_flex: self.bool("capability_flex")?,
            eni_pods: self.parse(pods_column, "a pod count")?,
            res_nvidia_gpu: self.count("res_nvidia_gpu")?,
            res_amd_gpu: self.count("res_amd_gpu")?,
            res_aws_neuron: self.count("res_aws_neuron")?,
            res_aws_neuroncore: self.count("res_aws_neuroncore")?,
            res_efa: self.count("res_efa")?,
            od_usd_per_hour: 0.0,
            spot_savings_pct: None,
            interruption_bucket: None,
        })
    }
}

/// Parses `instance-types.csv` text into rows (file order).
fn parse_instance_types(text: &str, file: &str) -> Result<Vec<InstanceType>, CatalogError> {
    let mut seen = BTreeMap::new();
    read_csv(text, file, &COLUMNS, |r| {
        let name = r.nonempty("name")?;
        if seen.insert(name.clone(), r.line).is_some() {
            return Err(CatalogError::Duplicate {
                file: file.to_string(),
                line: r.line,
                name,
            });
        }
        let od: f64 = r.parse("od_usd_per_hour", "a price in USD per hour")?;
        if !od.is_finite() || od < 0.0 {
            return Err(r.err("od_usd_per_hour", "a finite non-negative price"));
        }
        let savings: Option<u32> =
            r.opt_parse("spot_savings_pct", "an integer percent 0-100 or empty")?;
        if savings.is_some_and(|s| s > 100) {
            return Err(r.err("spot_savings_pct", "an integer percent 0-100 or empty"));
        }
        let bucket: Option<u8> = r.opt_parse("interruption_bucket", "a bucket 0-4 or empty")?;
        if bucket.is_some_and(|b| b > 4) {
            return Err(r.err("interruption_bucket", "a bucket 0-4 or empty"));
        }
        if bucket.is_some() != savings.is_some() {
            return Err(r.err(
                "interruption_bucket",
                "a value exactly when spot_savings_pct is set",
            ));
        }
        let mut ty = r.hardware(name, "eni_pods")?;
        ty.od_usd_per_hour = od;
        ty.spot_savings_pct = savings;
        ty.interruption_bucket = bucket;
        Ok(ty)
    })
}

/// A CSV reader's error as a [`CatalogError::Csv`] naming `file` and the line.
fn csv_error(file: &str, e: &csv::Error) -> CatalogError {
    CatalogError::Csv {
        file: file.to_string(),
        line: e.position().map(|p| p.line()).unwrap_or(0),
        message: e.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A plain m5.large-like row for tests elsewhere in the module.
    pub(crate) fn sample(name: &str) -> InstanceType {
        let (family, size) = name.split_once('.').unwrap_or((name, "large"));
        InstanceType {
            name: name.to_string(),
            family: family.to_string(),
            category: "m".to_string(),
            generation: 5,
            size: size.to_string(),
            arch: Arch::Amd64,
            os: "linux".to_string(),
            vcpu: 2,
            memory_mib: 8192,
            gpu_count: None,
            gpu_name: None,
            gpu_manufacturer: None,
            gpu_memory_mib: None,
            accelerator_count: None,
            accelerator_name: None,
            accelerator_manufacturer: None,
            local_nvme_gb: None,
            network_bandwidth_mbps: Some(750),
            ebs_bandwidth_mbps: Some(4750),
            cpu_sustained_clock_mhz: Some(3100),
            encryption_in_transit: Some(false),
            hypervisor: "nitro".to_string(),
            cpu_manufacturer: "intel".to_string(),
            capability_flex: false,
            eni_pods: 29,
            res_nvidia_gpu: 0,
            res_amd_gpu: 0,
            res_aws_neuron: 0,
            res_aws_neuroncore: 0,
            res_efa: 0,
            od_usd_per_hour: 0.096,
            spot_savings_pct: Some(66),
            interruption_bucket: Some(3),
        }
    }

    fn header() -> String {
        COLUMNS.join(",")
    }

    #[test]
    fn embedded_catalog_loads_sorted_with_m5_large() {
        let c = Catalog::embedded("us-east-1").expect("embedded catalog parses");
        assert_eq!(c.region(), "us-east-1");
        assert!(c.len() > 1000, "only {} rows", c.len());
        assert!(c.types().windows(2).all(|w| w[0].name < w[1].name));
        let m5 = c.get("m5.large").expect("m5.large present");
        assert_eq!((m5.vcpu, m5.memory_mib, m5.eni_pods), (2, 8192, 29));
        assert_eq!(m5.arch, Arch::Amd64);
        assert!((m5.od_usd_per_hour - 0.096).abs() < 1e-12);
        assert!(c.get("no-such.type").is_none());
    }

    #[test]
    fn embedded_catalog_round_trips_byte_for_byte() {
        let c = Catalog::embedded("us-east-1").expect("embedded catalog parses");
        assert_eq!(c.to_csv_string().expect("writes"), EMBEDDED_US_EAST_1);
    }

    #[test]
    fn embedded_catalog_omits_unpriced_types() {
        // data/README.md: hpc7a and p5e.48xlarge have no us-east-1 on-demand price.
        let c = Catalog::embedded("us-east-1").expect("embedded catalog parses");
        assert!(c.get("p5e.48xlarge").is_none());
        assert_eq!(c.filter_family("hpc7a").count(), 0);
        assert!(c.iter().all(|t| t.od_usd_per_hour > 0.0));
    }

    #[test]
    fn m5_large_spot_matches_advisor_row() {
        // docs/model/latency.md §2.2: m5.large us-east-1 `15-20%` / 66 %.
        let c = Catalog::embedded("us-east-1").expect("embedded catalog parses");
        let m5 = c.get("m5.large").expect("m5.large present");
        assert_eq!(m5.spot_savings_pct, Some(66));
        assert_eq!(m5.interruption_bucket, Some(3));
        let spot = m5.spot_price().expect("has spot");
        assert!((spot - 0.096 * 0.34).abs() < 1e-12);
    }

    #[test]
    fn filter_family_is_exact() {
        let c = Catalog::embedded("us-east-1").expect("embedded catalog parses");
        let m5: Vec<_> = c.filter_family("m5").map(|t| t.name.as_str()).collect();
        assert!(m5.contains(&"m5.large"));
        assert!(m5.iter().all(|n| n.starts_with("m5.")));
    }

    #[test]
    fn spot_price_is_none_without_advisor_data() {
        let mut t = sample("m5.large");
        t.spot_savings_pct = None;
        t.interruption_bucket = None;
        assert_eq!(t.spot_price(), None);
        assert_eq!(t.spot_interruption_hazard_per_ms(), None);
        assert!(!t.has_spot());
    }

    #[test]
    fn hazard_gives_bucket_probability_over_730_hours() {
        for b in 0..5u8 {
            let p = bucket_monthly_probability(b).expect("bucket 0-4");
            let l = hazard_per_ms(p).expect("p < 1");
            let month_ms = 730.0 * 3_600_000.0;
            let survive = crate::math::exp(-l * month_ms);
            assert!((1.0 - survive - p).abs() < 1e-12, "bucket {b}");
        }
        assert_eq!(bucket_monthly_probability(5), None);
        assert_eq!(hazard_per_ms(1.0), None);
        assert_eq!(hazard_per_ms(-0.1), None);
        assert_eq!(hazard_per_ms(0.0), Some(0.0));
    }

    #[test]
    fn labels_use_karpenter_keys_and_formats() {
        let mut t = sample("g4dn.xlarge");
        t.gpu_count = Some(1);
        t.gpu_name = Some("t4".into());
        t.gpu_manufacturer = Some("nvidia".into());
        t.gpu_memory_mib = Some(16384);
        t.local_nvme_gb = Some(125);
        let l = t.labels();
        let get = |k: &str| l.get(k).map(String::as_str);
        assert_eq!(get("node.kubernetes.io/instance-type"), Some("g4dn.xlarge"));
        assert_eq!(get("kubernetes.io/arch"), Some("amd64"));
        assert_eq!(get("kubernetes.io/os"), Some("linux"));
        assert_eq!(get("karpenter.k8s.aws/instance-family"), Some("g4dn"));
        assert_eq!(get("karpenter.k8s.aws/instance-size"), Some("xlarge"));
        assert_eq!(get("karpenter.k8s.aws/instance-memory"), Some("8192"));
        assert_eq!(get("karpenter.k8s.aws/instance-cpu"), Some("2"));
        assert_eq!(get("karpenter.k8s.aws/instance-generation"), Some("5"));
        assert_eq!(get("karpenter.k8s.aws/instance-gpu-name"), Some("t4"));
        assert_eq!(get("karpenter.k8s.aws/instance-gpu-count"), Some("1"));
        assert_eq!(get("karpenter.k8s.aws/instance-gpu-memory"), Some("16384"));
        assert_eq!(get("karpenter.k8s.aws/instance-local-nvme"), Some("125"));
        assert_eq!(
            get("karpenter.k8s.aws/instance-network-bandwidth"),
            Some("750")
        );
        assert_eq!(
            get("karpenter.k8s.aws/instance-capability-flex"),
            Some("false")
        );
        assert_eq!(get("karpenter.k8s.aws/instance-accelerator-name"), None);
    }

    #[test]
    fn labels_omit_absent_optional_facts() {
        let mut t = sample("m5.metal");
        t.network_bandwidth_mbps = None;
        t.hypervisor = String::new();
        let l = t.labels();
        assert!(!l.contains_key("karpenter.k8s.aws/instance-network-bandwidth"));
        assert!(!l.contains_key("karpenter.k8s.aws/instance-local-nvme"));
        assert!(!l.contains_key("karpenter.k8s.aws/instance-gpu-name"));
        assert_eq!(
            l.get("karpenter.k8s.aws/instance-hypervisor")
                .map(String::as_str),
            Some("")
        );
    }

    #[test]
    fn parse_error_names_file_line_and_column() {
        let mut row = sample("m5.large").to_record();
        row[7] = "two".into(); // vcpu
        let text = format!("{}\n{}\n", header(), row.join(","));
        let err = Catalog::from_csv_str("r", &text, "x.csv").expect_err("bad vcpu");
        let msg = err.to_string();
        assert!(msg.contains("x.csv:2"), "{msg}");
        assert!(msg.contains("column 8 `vcpu`"), "{msg}");
        assert!(msg.contains("\"two\""), "{msg}");
    }

    #[test]
    fn missing_column_is_reported() {
        let text = "name,family\nm5.large,m5\n";
        let err = Catalog::from_csv_str("r", text, "x.csv").expect_err("missing columns");
        assert!(
            matches!(err, CatalogError::MissingColumn { ref column, .. } if column == "category")
        );
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let row = sample("m5.large").to_record().join(",");
        let text = format!("{}\n{row}\n{row}\n", header());
        let err = Catalog::from_csv_str("r", &text, "x.csv").expect_err("duplicate");
        assert!(
            matches!(err, CatalogError::Duplicate { line: 3, .. }),
            "{err}"
        );
    }

    #[test]
    fn bucket_without_savings_is_rejected() {
        let mut t = sample("m5.large");
        t.spot_savings_pct = None;
        let text = format!("{}\n{}\n", header(), t.to_record().join(","));
        let err = Catalog::from_csv_str("r", &text, "x.csv").expect_err("inconsistent spot");
        assert!(err.to_string().contains("interruption_bucket"), "{err}");
    }

    #[test]
    fn out_of_range_bucket_is_rejected() {
        let mut t = sample("m5.large");
        t.interruption_bucket = Some(5);
        let text = format!("{}\n{}\n", header(), t.to_record().join(","));
        assert!(Catalog::from_csv_str("r", &text, "x.csv").is_err());
    }

    #[test]
    fn load_dir_reports_missing_region() {
        let err = Catalog::load_dir(Path::new("/nonexistent/catalogs/aws/xx-north-9"))
            .expect_err("absent");
        assert!(
            matches!(err, CatalogError::RegionNotFound { ref region, .. } if region == "xx-north-9")
        );
    }

    #[test]
    fn new_sorts_rows_by_name() {
        let c = Catalog::new(
            "r",
            vec![sample("m5.xlarge"), sample("c5.large"), sample("m5.large")],
        )
        .expect("no duplicates");
        let names: Vec<_> = c.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["c5.large", "m5.large", "m5.xlarge"]);
        assert_eq!(c.get("m5.large").map(|t| t.name.as_str()), Some("m5.large"));
    }

    fn opt_word() -> impl Strategy<Value = Option<String>> {
        proptest::option::of("[a-z][a-z0-9-]{0,10}")
    }

    prop_compose! {
        fn arb_type()(
            name in "[a-z][a-z0-9]{0,5}\\.[a-z0-9]{1,8}",
            generation in 1u32..10,
            arm in any::<bool>(),
            vcpu in 1u32..500,
            memory_mib in 512u64..30_000_000,
            gpu in proptest::option::of((0u32..17, "[a-z][a-z0-9-]{0,8}", 1u64..200_000)),
            accel in proptest::option::of((1u32..17, "[a-z][a-z0-9-]{0,8}")),
            nvme in proptest::option::of(1u64..100_000),
            bw in proptest::option::of(1u64..400_000),
            hypervisor in prop_oneof![Just(String::new()), Just("nitro".to_string()), Just("xen".to_string())],
            flex in any::<bool>(),
            eni_pods in 1u32..800,
            res in proptest::array::uniform5(0u32..40),
            od_micro in 1u64..200_000_000,
            spot in proptest::option::of((0u32..=100, 0u8..5)),
            manuf in opt_word(),
        ) -> InstanceType {
            let (family, size) = name.split_once('.').map(|(f, s)| (f.to_string(), s.to_string())).unwrap_or_default();
            InstanceType {
                category: family.chars().take(1).collect(),
                family,
                size,
                name,
                generation,
                arch: if arm { Arch::Arm64 } else { Arch::Amd64 },
                os: "linux".into(),
                vcpu,
                memory_mib,
                gpu_count: gpu.as_ref().map(|g| g.0),
                gpu_name: gpu.as_ref().map(|g| g.1.clone()),
                gpu_manufacturer: gpu.as_ref().map(|_| "nvidia".to_string()),
                gpu_memory_mib: gpu.as_ref().map(|g| g.2),
                accelerator_count: accel.as_ref().map(|a| a.0),
                accelerator_name: accel.as_ref().map(|a| a.1.clone()),
                accelerator_manufacturer: accel.as_ref().and(manuf),
                local_nvme_gb: nvme,
                network_bandwidth_mbps: bw,
                ebs_bandwidth_mbps: None,
                cpu_sustained_clock_mhz: None,
                encryption_in_transit: None,
                hypervisor,
                cpu_manufacturer: "amd".into(),
                capability_flex: flex,
                eni_pods,
                res_nvidia_gpu: res[0],
                res_amd_gpu: res[1],
                res_aws_neuron: res[2],
                res_aws_neuroncore: res[3],
                res_efa: res[4],
                od_usd_per_hour: od_micro as f64 / 1e6,
                spot_savings_pct: spot.map(|s| s.0),
                interruption_bucket: spot.map(|s| s.1),
            }
        }
    }

    proptest! {
        #[test]
        fn csv_write_then_parse_is_identity(types in proptest::collection::vec(arb_type(), 0..8)) {
            let mut types = types;
            types.sort_by(|a, b| a.name.cmp(&b.name));
            types.dedup_by(|a, b| a.name == b.name);
            let text = write_instance_types(&types, "t.csv").expect("writes");
            let back = Catalog::from_csv_str("r", &text, "t.csv").expect("parses");
            prop_assert_eq!(back.types(), &types[..]);
            prop_assert_eq!(back.to_csv_string().expect("writes"), text);
        }

        #[test]
        fn spot_price_never_exceeds_on_demand(t in arb_type()) {
            if let Some(p) = t.spot_price() {
                prop_assert!(p <= t.od_usd_per_hour + 1e-12 && p >= -1e-12);
            }
        }
    }

    // ---- Per-zone spot prices (docs/model/ec2.md §2.3) ----

    #[test]
    fn spot_zone_prices_file_sets_prices_per_zone() {
        let cat = Catalog::embedded("us-east-1").expect("embedded");
        let cat = cat
            .with_spot_zone_prices(
                "name,zone,usd_per_hour\nm5.large,us-east-1a,0.031\nm5.large,us-east-1b,0.04\n",
                "spot-prices.csv",
            )
            .expect("valid");
        assert_eq!(cat.spot_zone_price("m5.large", "us-east-1a"), Some(0.031));
        assert_eq!(cat.spot_zone_price("m5.large", "us-east-1b"), Some(0.04));
        assert_eq!(cat.spot_zone_price("m5.large", "us-east-1c"), None);
    }

    #[test]
    fn spot_zone_prices_errors_name_file_line_and_column() {
        let cat = Catalog::embedded("us-east-1").expect("embedded");
        let bad = |text: &str| {
            cat.clone()
                .with_spot_zone_prices(text, "spot-prices.csv")
                .expect_err("invalid")
                .to_string()
        };
        let e = bad("name,zone,usd_per_hour\nm5.large,us-east-1a,cheap\n");
        assert!(
            e.starts_with("spot-prices.csv:2: column 3 `usd_per_hour`"),
            "{e}"
        );
        let e = bad("name,zone,usd_per_hour\nx9.huge,us-east-1a,0.1\n");
        assert!(e.contains("column 1 `name`"), "{e}");
        let e = bad("name,zone,usd_per_hour\nm5.large,us-east-1a,0.1\nm5.large,us-east-1a,0.2\n");
        assert!(e.starts_with("spot-prices.csv:3:"), "{e}");
        let e = bad("name,usd_per_hour\nm5.large,0.1\n");
        assert!(e.contains("no column `zone`"), "{e}");
    }
}
