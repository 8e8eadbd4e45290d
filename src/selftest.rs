//! `autoscale-sim selftest`: does this machine compute what every other machine computes?
//!
//! Reports are promised byte-identical for the same scenario and seed on every platform, and
//! baselines made on one machine are checked on another. That holds only if every number the
//! simulation draws and computes comes out to the same bits here. This module pins a set of
//! them — transcendental functions and random draws (`asim_core::math`), and the whole
//! `report.json` and decision log of three shipped scenarios, embedded in the binary — and
//! compares. A platform that differs fails loudly here instead of drifting in a baseline.
//!
//! `tests/platform.rs` runs the same checks in the test suite and ties the pinned reports to
//! `reports/`: a change of behaviour that rewrites those baselines must update the pins too.

use std::fmt::Write as _;
use std::path::PathBuf;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use asim_core::math;
use asim_workload::{AutoscalerKind, Scenario};

/// One value and the bits it must have.
pub struct Pinned {
    pub name: String,
    pub expected: String,
    pub got: String,
}

impl Pinned {
    pub fn pass(&self) -> bool {
        self.expected == self.got
    }
}

/// The functions the simulation computes with, at inputs that exercise their hard cases
/// (arguments near 0 and 1, large and small exponents, a reduced cosine), as f64 bit patterns —
/// each also what glibc 2.36 returns on x86_64, checked when they were pinned.
const FUNCTIONS: [(&str, u64); 10] = [
    ("exp(0.35)", 0x3ff6_b480_2c80_5dec),
    ("exp(-740.5)", 0x0000_0000_0000_0033),
    ("exp(12.25)", 0x4109_82aa_4f9a_ec90),
    ("ln(1.0000001)", 0x3e7a_d7f2_847b_6492),
    ("ln(123456.789)", 0x4027_7281_cad8_a844),
    ("ln(2^-53)", 0xc042_5e4f_7b27_37fa),
    ("log10(0.002)", 0xc005_977d_95ec_10c0),
    ("pow(1.0001, 7000.5)", 0x4000_1c3a_375b_0699),
    ("cos(1e6)", 0x3fed_f9df_9906_d32c),
    ("cos(2.0943951023931953)", 0xbfdf_ffff_ffff_fffc),
];

fn function_value(name: &str) -> f64 {
    match name {
        "exp(0.35)" => math::exp(0.35),
        "exp(-740.5)" => math::exp(-740.5),
        "exp(12.25)" => math::exp(12.25),
        "ln(1.0000001)" => math::ln(1.000_000_1),
        "ln(123456.789)" => math::ln(123_456.789),
        "ln(2^-53)" => math::ln(1.0 / 9_007_199_254_740_992.0),
        "log10(0.002)" => math::log10(0.002),
        "pow(1.0001, 7000.5)" => math::pow(1.0001, 7000.5),
        "cos(1e6)" => math::cos(1e6),
        "cos(2.0943951023931953)" => math::cos(2.094_395_102_393_195_3),
        _ => f64::NAN,
    }
}

/// The first draws of each distribution from stream seed 2026, as f64 bit patterns.
const DRAWS: [(&str, [u64; 4]); 3] = [
    (
        "exp1",
        [
            0x3fed_4b35_0a30_aa4b,
            0x3fd2_c066_bf3d_46db,
            0x3fa6_1670_7c0a_a274,
            0x3fca_8680_3e0b_6c04,
        ],
    ),
    (
        "standard_normal",
        [
            0xbfa1_4a9c_9305_74ea,
            0x3fbc_ebea_5c6c_2a7e,
            0xbfc5_3776_3d28_74e2,
            0xbfff_c04c_4311_f2a5,
        ],
    ),
    (
        "lognormal(ln 90000, 0.5)",
        [
            0x40f5_9ad0_0c6a_6ab1,
            0x40f7_3fe3_1d6b_cd75,
            0x40f4_399b_f887_2f50,
            0x40e0_4af3_aa83_56af,
        ],
    ),
];

fn draw(name: &str, rng: &mut ChaCha8Rng) -> f64 {
    match name {
        "exp1" => math::exp1(rng),
        "standard_normal" => math::standard_normal(rng),
        _ => math::lognormal(rng, math::ln(90_000.0), 0.5),
    }
}

/// Shipped scenarios embedded whole (each is one self-contained file), the autoscalers to run
/// them under, and the FNV-1a 64 hash of `report.json` and the decision log's digest each run
/// must produce — the same as `reports/<name>/<autoscaler>/`.
pub const SCENARIOS: [(&str, &str, &str, u64, &str); 3] = [
    (
        "batch-jobs",
        include_str!("../scenarios/batch-jobs.yaml"),
        "karpenter",
        0x02c5_be5c_de9d_5365,
        "lines 1258 fnv1a64 be2f8684de9d32e8",
    ),
    (
        "spot-interruptions",
        include_str!("../scenarios/spot-interruptions.yaml"),
        "karpenter",
        0x7606_f950_391b_43b0,
        "lines 4439 fnv1a64 b257998c68298b95",
    ),
    (
        "ca-spot-termination-handler",
        include_str!("../scenarios/ca-spot-termination-handler.yaml"),
        "cluster-autoscaler",
        0x9fd7_6aa5_bd6d_7c4d,
        "lines 61 fnv1a64 1f307b759e805316",
    ),
];

/// FNV-1a, 64 bits: the hash `decisions.digest` uses.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn bits(x: f64) -> String {
    format!("{:#018x} ({x:e})", x.to_bits())
}

fn pinned_bits(b: u64) -> String {
    bits(f64::from_bits(b))
}

/// The functions and draws, each against its pin.
pub fn numbers() -> Vec<Pinned> {
    let mut out = Vec::new();
    for (name, b) in FUNCTIONS {
        out.push(Pinned {
            name: name.to_string(),
            expected: pinned_bits(b),
            got: bits(function_value(name)),
        });
    }
    for (name, pins) in DRAWS {
        let mut rng = ChaCha8Rng::seed_from_u64(2026);
        for (k, b) in pins.iter().enumerate() {
            out.push(Pinned {
                name: format!("{name} draw {k}"),
                expected: pinned_bits(*b),
                got: bits(draw(name, &mut rng)),
            });
        }
    }
    out
}

/// The embedded scenarios' reports, each against its pin. The scenario text is written to a
/// temporary folder to load it as a user's file would be.
pub fn reports() -> Result<Vec<Pinned>, String> {
    let dir = scratch_dir()?;
    let result = (|| {
        let mut out = Vec::new();
        for (name, text, autoscaler, report_hash, digest) in SCENARIOS {
            let path = dir.join(format!("{name}.yaml"));
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            let (got_hash, got_digest) = run_one(&path, autoscaler)?;
            out.push(Pinned {
                name: format!("{name}/{autoscaler} report.json"),
                expected: format!("fnv1a64 {report_hash:016x}"),
                got: format!("fnv1a64 {got_hash:016x}"),
            });
            out.push(Pinned {
                name: format!("{name}/{autoscaler} decisions.digest"),
                expected: digest.to_string(),
                got: got_digest,
            });
        }
        Ok(out)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Run one scenario; the hash of its `report.json` and its decision log's digest.
pub fn run_one(path: &std::path::Path, autoscaler: &str) -> Result<(u64, String), String> {
    let scenario = Scenario::load(path).map_err(|e| e.to_string())?;
    let kind = match autoscaler {
        "karpenter" => AutoscalerKind::Karpenter,
        "cluster-autoscaler" => AutoscalerKind::ClusterAutoscaler,
        _ => AutoscalerKind::None,
    };
    let out = asim_sim::run::run_to_end(&scenario, kind).map_err(|e| e.to_string())?;
    let json = asim_report::report_json(&out.report);
    let digest = asim_report::decisions_digest(out.sim.decisions());
    Ok((fnv1a64(json.as_bytes()), digest.trim_end().to_string()))
}

fn scratch_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("autoscale-sim-selftest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// The table `selftest` prints.
pub fn render<'a>(checks: impl IntoIterator<Item = &'a Pinned>) -> String {
    let mut s = String::new();
    for c in checks {
        if c.pass() {
            let _ = writeln!(s, "ok    {}", c.name);
        } else {
            let _ = writeln!(
                s,
                "FAIL  {}: expected {}, got {}",
                c.name, c.expected, c.got
            );
        }
    }
    s
}
