//! `live catalog-sync`: the region's instance types, latest spot prices and zones from EC2, in
//! the catalog format (`instance-types.csv`, `spot-prices.csv`), merged with the shipped
//! catalog's on-demand prices and Spot Advisor buckets (EC2 publishes neither), and a diff
//! against the catalog currently in the output directory (or the shipped one).
//!
//! A type EC2 lists but the shipped catalog has no on-demand price for is left out, as
//! Karpenter marks unpriced offerings unavailable; a type of the shipped catalog EC2 does not
//! list in the region is dropped. The hardware columns are the shipped catalog's (Karpenter's
//! labels); where EC2 reports a different vCPU count or memory the diff says so.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use asim_core::catalog::{Catalog, INSTANCE_TYPES_FILE, InstanceType, SPOT_PRICES_FILE};

use crate::LiveError;
use crate::ec2::Ec2;

/// A spot price that moved by more than this fraction is listed in the diff.
const MOVED: f64 = 0.10;
/// At most this many names or moves are listed per line of the diff.
const LIST: usize = 12;

pub struct SyncOptions {
    pub region: String,
    pub out: PathBuf,
    /// The catalog whose prices and Advisor data are merged in: `catalogs/aws/<region>/` under
    /// this root, or the embedded/default one when None.
    pub base_root: Option<PathBuf>,
}

/// What EC2 said, before merging.
#[derive(Debug, Clone, Default)]
pub struct Ec2View {
    /// name → (vCPUs, memory MiB)
    pub types: BTreeMap<String, (u32, u64)>,
    pub spot: BTreeMap<(String, String), f64>,
    pub zones: Vec<(String, String, String)>,
}

/// The merged catalog and what changed.
#[derive(Debug, Clone)]
pub struct Synced {
    pub catalog: Catalog,
    pub spot: BTreeMap<(String, String), f64>,
    pub zones: Vec<(String, String, String)>,
    /// Listed by EC2, not written: no on-demand price.
    pub unpriced: Vec<String>,
    /// Spot prices for types with no Advisor row (no spot offering in the catalog), skipped.
    pub spot_skipped: usize,
    pub diff: Diff,
}

#[derive(Debug, Clone, Default)]
pub struct Diff {
    pub against: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// (type, what) where EC2's hardware differs from the catalog row.
    pub hardware: Vec<(String, String)>,
    /// (type, old, new) on-demand.
    pub on_demand_moved: Vec<(String, f64, f64)>,
    /// ((type, zone), old, new): old is the previous zone price, or the Advisor-derived one.
    pub spot_moved: Vec<((String, String), f64, f64)>,
    pub spot_compared: usize,
    pub spot_median_change: Option<f64>,
}

/// Reads the three describes.
pub fn read_ec2(ec2: &Ec2) -> Result<Ec2View, LiveError> {
    let mut v = Ec2View::default();
    for t in ec2.describe_instance_types()? {
        let Some(name) = t.instance_type().map(|n| n.as_str().to_string()) else {
            continue;
        };
        let vcpu = t
            .v_cpu_info()
            .and_then(|c| c.default_v_cpus())
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0);
        let mem = t
            .memory_info()
            .and_then(|m| m.size_in_mib())
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0);
        v.types.insert(name, (vcpu, mem));
    }
    let since = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    v.spot = ec2.latest_spot_prices(since)?;
    v.zones = ec2.availability_zones()?;
    Ok(v)
}

/// Merges what EC2 said with `base` (prices, Advisor data, labels) and diffs the result
/// against `current` (the catalog being replaced).
pub fn merge(
    region: &str,
    view: &Ec2View,
    base: &Catalog,
    current: &Catalog,
    current_label: &str,
) -> Result<Synced, LiveError> {
    let mut rows: Vec<InstanceType> = Vec::new();
    let mut unpriced = Vec::new();
    let mut hardware = Vec::new();
    for (name, &(vcpu, mem)) in &view.types {
        match base.get(name) {
            Some(t) => {
                let mut what = Vec::new();
                if vcpu != 0 && vcpu != t.vcpu {
                    what.push(format!("vCPU {} → {vcpu}", t.vcpu));
                }
                if mem != 0 && mem != t.memory_mib {
                    what.push(format!("memory {} → {mem} MiB", t.memory_mib));
                }
                if !what.is_empty() {
                    hardware.push((name.clone(), what.join(", ")));
                }
                rows.push(t.clone());
            }
            None => unpriced.push(name.clone()),
        }
    }
    let catalog = Catalog::new(region, rows)?;
    let mut spot = BTreeMap::new();
    let mut spot_skipped = 0;
    for ((t, z), p) in &view.spot {
        if catalog.get(t).is_some_and(InstanceType::has_spot) {
            spot.insert((t.clone(), z.clone()), *p);
        } else {
            spot_skipped += 1;
        }
    }
    let new_names: BTreeSet<&str> = catalog.iter().map(|t| t.name.as_str()).collect();
    let old_names: BTreeSet<&str> = current.iter().map(|t| t.name.as_str()).collect();
    let mut diff = Diff {
        against: current_label.to_string(),
        added: new_names
            .difference(&old_names)
            .map(|s| s.to_string())
            .collect(),
        removed: old_names
            .difference(&new_names)
            .map(|s| s.to_string())
            .collect(),
        hardware,
        ..Diff::default()
    };
    for t in catalog.iter() {
        if let Some(o) = current.get(&t.name)
            && (o.od_usd_per_hour - t.od_usd_per_hour).abs() > 1e-9
        {
            diff.on_demand_moved
                .push((t.name.clone(), o.od_usd_per_hour, t.od_usd_per_hour));
        }
    }
    let mut changes = Vec::new();
    for ((t, z), &p) in &spot {
        let old = current
            .spot_zone_price(t, z)
            .or_else(|| current.get(t).and_then(InstanceType::spot_price));
        if let Some(old) = old
            && old > 0.0
        {
            let c = (p - old) / old;
            changes.push(c);
            if c.abs() > MOVED {
                diff.spot_moved.push(((t.clone(), z.clone()), old, p));
            }
        }
    }
    diff.spot_compared = changes.len();
    if !changes.is_empty() {
        changes.sort_by(f64::total_cmp);
        diff.spot_median_change = Some(changes[changes.len() / 2]);
    }
    diff.spot_moved.sort_by(|a, b| {
        let ca = ((a.2 - a.1) / a.1).abs();
        let cb = ((b.2 - b.1) / b.1).abs();
        cb.total_cmp(&ca).then_with(|| a.0.cmp(&b.0))
    });
    Ok(Synced {
        catalog,
        spot,
        zones: view.zones.clone(),
        unpriced,
        spot_skipped,
        diff,
    })
}

fn list(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(LIST)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LIST {
        let _ = write!(s, ", … ({} more)", names.len() - LIST);
    }
    s
}

/// The diff, as printed.
pub fn render(s: &Synced) -> String {
    let d = &s.diff;
    let mut o = String::new();
    let zones: Vec<&str> = s.zones.iter().map(|z| z.0.as_str()).collect();
    let _ = writeln!(
        o,
        "  synced      {} types, {} spot prices (type × zone), {} zones ({})",
        s.catalog.len(),
        s.spot.len(),
        zones.len(),
        zones.join(", ")
    );
    if !s.unpriced.is_empty() {
        let _ = writeln!(
            o,
            "  left out    {} listed by EC2 with no on-demand price in the shipped catalog: {}",
            s.unpriced.len(),
            list(&s.unpriced)
        );
    }
    if s.spot_skipped > 0 {
        let _ = writeln!(
            o,
            "  spot        {} prices skipped (types without Spot Advisor data in the catalog)",
            s.spot_skipped
        );
    }
    let _ = writeln!(o, "diff against {}:", d.against);
    let _ = writeln!(o, "  added       {}{}", d.added.len(), colon(&d.added));
    let _ = writeln!(o, "  removed     {}{}", d.removed.len(), colon(&d.removed));
    if !d.hardware.is_empty() {
        let h: Vec<String> = d
            .hardware
            .iter()
            .map(|(n, w)| format!("{n} ({w})"))
            .collect();
        let _ = writeln!(
            o,
            "  hardware    {} differ from EC2 (catalog kept): {}",
            h.len(),
            list(&h)
        );
    }
    let od: Vec<String> = d
        .on_demand_moved
        .iter()
        .map(|(n, a, b)| format!("{n} ${a:.4} → ${b:.4}"))
        .collect();
    let _ = writeln!(o, "  on-demand   {} prices moved{}", od.len(), colon(&od));
    let median = d
        .spot_median_change
        .map_or("n/a".to_string(), |m| format!("{:+.1} %", m * 100.0));
    let sp: Vec<String> = d
        .spot_moved
        .iter()
        .map(|((t, z), a, b)| format!("{t} {z} ${a:.4} → ${b:.4} ({:+.0} %)", (b - a) / a * 100.0))
        .collect();
    let _ = writeln!(
        o,
        "  spot        {} compared, median change {median}, {} moved more than {:.0} %{}",
        d.spot_compared,
        sp.len(),
        MOVED * 100.0,
        colon(&sp)
    );
    o
}

fn colon(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(": {}", list(names))
    }
}

/// Writes `instance-types.csv`, `spot-prices.csv`, `zones.csv` and `SOURCE.md` into `out`.
pub fn write(out: &Path, s: &Synced, region: &str) -> Result<(), LiveError> {
    std::fs::create_dir_all(out).map_err(|e| LiveError::io(out, e))?;
    let put = |name: &str, text: &str| -> Result<(), LiveError> {
        let p = out.join(name);
        std::fs::write(&p, text).map_err(|e| LiveError::io(&p, e))
    };
    put(INSTANCE_TYPES_FILE, &s.catalog.to_csv_string()?)?;
    let mut sp = String::from("name,zone,usd_per_hour\n");
    for ((t, z), p) in &s.spot {
        let _ = writeln!(sp, "{t},{z},{p:.6}");
    }
    put(SPOT_PRICES_FILE, &sp)?;
    let mut zs = String::from("zone,zone_id,state\n");
    for (z, id, st) in &s.zones {
        let _ = writeln!(zs, "{z},{id},{st}");
    }
    put("zones.csv", &zs)?;
    let when = asim_core_time();
    let md = format!(
        "# Instance catalog: {region} (synced from EC2)\n\n\
Written by `autoscale-sim live catalog-sync --region {region}` at {when} (UTC, seconds since the\n\
epoch). Rerun the command to refresh it.\n\n\
* `instance-types.csv`: {n} types — those DescribeInstanceTypes lists in {region} that the\n\
  shipped catalog prices; the rows (labels, on-demand price, Spot Advisor savings and\n\
  interruption bucket) are the shipped catalog's (see its SOURCE.md for their sources and\n\
  licences). {unpriced} listed types had no on-demand price and are left out.\n\
* `spot-prices.csv`: the latest DescribeSpotPriceHistory price (Linux/UNIX) per type and zone,\n\
  {spot} rows; the simulator prices a spot pool with it instead of the Advisor saving\n\
  (docs/model/ec2.md §2.3).\n\
* `zones.csv`: DescribeAvailabilityZones (name, id, state); informational, not read by the\n\
  simulator.\n",
        n = s.catalog.len(),
        unpriced = s.unpriced.len(),
        spot = s.spot.len(),
    );
    put("SOURCE.md", &md)
}

fn asim_core_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The whole command: read, merge, diff, write. Returns the printed summary.
pub fn sync(ec2: &Ec2, opts: &SyncOptions) -> Result<String, LiveError> {
    let base = Catalog::for_region(&opts.region, opts.base_root.as_deref())?;
    let (current, label) = if opts.out.join(INSTANCE_TYPES_FILE).exists() {
        (
            Catalog::load_dir(&opts.out)?,
            format!("{} (current)", opts.out.display()),
        )
    } else {
        let label = match &opts.base_root {
            Some(r) => r.join(&opts.region).display().to_string(),
            None => format!("the shipped {} catalog", opts.region),
        };
        (base.clone(), label)
    };
    let view = read_ec2(ec2)?;
    if view.types.is_empty() {
        return Err(LiveError::Api {
            op: "DescribeInstanceTypes",
            code: "Empty".into(),
            message: format!("no instance types listed in {}", opts.region),
        });
    }
    let synced = merge(&opts.region, &view, &base, &current, &label)?;
    write(&opts.out, &synced, &opts.region)?;
    // The written directory must load as a catalog, spot prices included.
    Catalog::load_dir(&opts.out)?;
    Ok(format!(
        "catalog-sync {} → {}\n  EC2         {} instance types, {} spot prices\n{}",
        opts.region,
        opts.out.display(),
        view.types.len(),
        view.spot.len(),
        render(&synced)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_priced_types_and_diffs_names_and_prices() {
        let base = Catalog::embedded("us-east-1").expect("embedded");
        let mut view = Ec2View::default();
        view.types.insert("m5.large".into(), (2, 8192));
        view.types.insert("m5.xlarge".into(), (4, 16384));
        view.types.insert("zz9.huge".into(), (8, 1));
        view.spot
            .insert(("m5.large".into(), "us-east-1a".into()), 0.5);
        let s = merge("us-east-1", &view, &base, &base, "base").expect("merge");
        assert_eq!(s.catalog.len(), 2);
        assert_eq!(s.unpriced, vec!["zz9.huge".to_string()]);
        assert!(s.diff.added.is_empty());
        assert_eq!(s.diff.removed.len(), base.len() - 2);
        assert_eq!(s.diff.spot_moved.len(), 1);
        let text = render(&s);
        assert!(text.contains("m5.large us-east-1a"), "{text}");
    }
}
