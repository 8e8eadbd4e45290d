//! The launch-latency model: one distribution per stage between "pod Pending" and "pod Running"
//! and for instance termination, with the defaults of docs/model/latency.md §3.
//!
//! Scenario overrides live under `spec.cloud.latency` (docs/design.md §4), camelCase stage names, each a
//! distribution written as `{lognormal: {median: 1.2s, sigma: 0.35}}`, `{constant: 2s}`,
//! `{uniform: {min: 0.1s, max: 1s}}` or `{exponential: {mean: 10m}}`. Stages not given keep
//! their defaults; an unknown stage is an error that lists the known ones. Durations are Go
//! durations (`crate::k8s::duration`).

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use super::AmiFamily;
use crate::k8s::duration::Duration;
use crate::math;

const SEC: u64 = 1000;
const GIB: f64 = (1u64 << 30) as f64;

/// A duration distribution, in milliseconds. Samples are rounded to whole ms and never negative.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "DistRepr", into = "DistRepr")]
pub enum Dist {
    Constant(u64),
    Uniform {
        min_ms: u64,
        max_ms: u64,
    },
    /// `LN(m, s)`: median `m`, log-space standard deviation `s`.
    LogNormal {
        median_ms: u64,
        sigma: f64,
    },
    Exponential {
        mean_ms: u64,
    },
}

impl Dist {
    pub const fn constant_s(s: u64) -> Dist {
        Dist::Constant(s * SEC)
    }

    /// `LN(median, sigma)` with the median in milliseconds.
    pub const fn lognormal_ms(median_ms: u64, sigma: f64) -> Dist {
        Dist::LogNormal { median_ms, sigma }
    }

    /// One sample, rounded to ms.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        to_ms(self.sample_f64(rng))
    }

    /// One sample in (unrounded) ms. Bad parameters give 0 or saturate instead of panicking.
    pub(crate) fn sample_f64<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match *self {
            Dist::Constant(ms) => ms as f64,
            Dist::Uniform { min_ms, max_ms } => {
                let (lo, hi) = (min_ms.min(max_ms) as f64, min_ms.max(max_ms) as f64);
                let u: f64 = rng.random();
                lo + (hi - lo) * u
            }
            Dist::LogNormal { median_ms, sigma } => {
                median_ms as f64 * math::exp(sigma * math::standard_normal(rng))
            }
            Dist::Exponential { mean_ms } => mean_ms as f64 * math::exp1(rng),
        }
    }

    /// The median, for reports and sanity checks.
    pub fn median_ms(&self) -> f64 {
        match *self {
            Dist::Constant(ms) => ms as f64,
            Dist::Uniform { min_ms, max_ms } => (min_ms as f64 + max_ms as f64) / 2.0,
            Dist::LogNormal { median_ms, .. } => median_ms as f64,
            Dist::Exponential { mean_ms } => mean_ms as f64 * std::f64::consts::LN_2,
        }
    }

    fn validate(&self) -> Result<(), String> {
        match *self {
            Dist::Uniform { min_ms, max_ms } if min_ms > max_ms => Err(format!(
                "uniform: min ({min_ms}ms) must not exceed max ({max_ms}ms)"
            )),
            Dist::LogNormal { sigma, .. } if !(sigma.is_finite() && sigma >= 0.0) => Err(format!(
                "lognormal: sigma must be a finite number ≥ 0, got {sigma}"
            )),
            _ => Ok(()),
        }
    }
}

fn to_ms(x: f64) -> u64 {
    // `as` saturates: NaN and negatives give 0, +inf gives u64::MAX.
    x.round() as u64
}

/// The YAML/JSON shape of a [`Dist`].
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
enum DistRepr {
    Constant(Duration),
    Uniform { min: Duration, max: Duration },
    Lognormal { median: Duration, sigma: f64 },
    Exponential { mean: Duration },
}

impl TryFrom<DistRepr> for Dist {
    type Error = String;

    fn try_from(r: DistRepr) -> Result<Self, String> {
        let d = match r {
            DistRepr::Constant(d) => Dist::Constant(d.0),
            DistRepr::Uniform { min, max } => Dist::Uniform {
                min_ms: min.0,
                max_ms: max.0,
            },
            DistRepr::Lognormal { median, sigma } => Dist::LogNormal {
                median_ms: median.0,
                sigma,
            },
            DistRepr::Exponential { mean } => Dist::Exponential { mean_ms: mean.0 },
        };
        d.validate()?;
        Ok(d)
    }
}

impl From<Dist> for DistRepr {
    fn from(d: Dist) -> Self {
        match d {
            Dist::Constant(ms) => DistRepr::Constant(Duration(ms)),
            Dist::Uniform { min_ms, max_ms } => DistRepr::Uniform {
                min: Duration(min_ms),
                max: Duration(max_ms),
            },
            Dist::LogNormal { median_ms, sigma } => DistRepr::Lognormal {
                median: Duration(median_ms),
                sigma,
            },
            Dist::Exponential { mean_ms } => DistRepr::Exponential {
                mean: Duration(mean_ms),
            },
        }
    }
}

/// Stage 4 — guest start → kubelet registered, by AMI family (docs/model/latency.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct BootLatency {
    pub al2: Dist,
    pub al2023: Dist,
    /// Low confidence in the reference.
    pub bottlerocket: Dist,
    /// "~5 min by default" to a Ready Windows node (hackernoon, docs/model/latency.md §1.5
    /// "Tails"), minus stages 3 and 5 ⇒ median 280 s; sigma as AL2 [assumption].
    pub windows: Dist,
    /// [assumption]: custom AMIs today are mostly built on AL2023, so its values.
    pub custom: Dist,
}

impl Default for BootLatency {
    fn default() -> Self {
        BootLatency {
            al2: Dist::lognormal_ms(9 * SEC, 0.35),
            al2023: Dist::lognormal_ms(16 * SEC, 0.35),
            bottlerocket: Dist::lognormal_ms(12 * SEC, 0.4),
            windows: Dist::lognormal_ms(280 * SEC, 0.35),
            custom: Dist::lognormal_ms(16 * SEC, 0.35),
        }
    }
}

impl BootLatency {
    pub fn for_family(&self, ami: AmiFamily) -> &Dist {
        match ami {
            AmiFamily::AL2 => &self.al2,
            AmiFamily::AL2023 => &self.al2023,
            AmiFamily::Bottlerocket => &self.bottlerocket,
            AmiFamily::Windows => &self.windows,
            AmiFamily::Custom => &self.custom,
        }
    }
}

/// Stage 5t — with `probability` add `extra` before registration (CNI/SELinux/CIS tails;
/// weight 0.03 is an [assumption] of docs/model/latency.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, try_from = "SlowTailRepr")]
pub struct SlowTail {
    pub probability: f64,
    pub extra: Dist,
}

/// Unchecked [`SlowTail`], validated on the way in.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SlowTailRepr {
    probability: f64,
    extra: Dist,
}

impl Default for SlowTailRepr {
    fn default() -> Self {
        let d = SlowTail::default();
        SlowTailRepr {
            probability: d.probability,
            extra: d.extra,
        }
    }
}

impl TryFrom<SlowTailRepr> for SlowTail {
    type Error = String;

    fn try_from(r: SlowTailRepr) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&r.probability) {
            return Err(format!(
                "slowTail.probability must be in [0, 1], got {}",
                r.probability
            ));
        }
        Ok(SlowTail {
            probability: r.probability,
            extra: r.extra,
        })
    }
}

impl Default for SlowTail {
    fn default() -> Self {
        SlowTail {
            probability: 0.03,
            extra: Dist::Uniform {
                min_ms: 60 * SEC,
                max_ms: 600 * SEC,
            },
        }
    }
}

/// One distribution per stage (docs/model/latency.md §3; stage numbers in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct LatencyModel {
    /// [0] pod created → marked Unschedulable by kube-scheduler: `U(0.1 s, 1 s)` [assumption].
    pub unschedulable_mark: Dist,
    /// [2a] CreateFleet API: `LN(1.2 s, 0.35)`.
    pub create_fleet: Dist,
    /// [2b] SetDesiredCapacity + ASG dispatch until `pending`: `LN(6 s, 0.7)` [assumption].
    pub asg_dispatch: Dist,
    /// [3] `pending` → guest OS starting (we call it `running`): `LN(11 s, 0.15)`.
    pub pending_to_running: Dist,
    /// [4] guest start → kubelet registered, by AMI family.
    pub boot: BootLatency,
    /// [5] registered → Node Ready: `LN(6 s, 0.5)`.
    pub registered_to_ready: Dist,
    /// [5t] rare slow start, added before registration.
    pub slow_tail: SlowTail,
    /// [6] Node Ready → containers started, image cached: `LN(2 s, 0.5)`.
    pub pod_start: Dist,
    /// [6p] fixed part of an image pull: 0.5 s.
    pub image_pull_base: Dist,
    /// [6p] per GiB of uncompressed image: `LN(15 s, 0.5)`.
    pub image_pull_per_gib: Dist,
    /// `shutting-down` → `terminated`: `LN(60 s, 0.3)`. [assumption] on the spread; the median
    /// follows one measurement: c5.large reached `terminated` "about one minute" after
    /// TerminateInstances (hashicorp/packer-plugin-amazon issue #682; metal types took >19 min).
    pub terminate: Dist,
}

impl Default for LatencyModel {
    fn default() -> Self {
        LatencyModel {
            unschedulable_mark: Dist::Uniform {
                min_ms: 100,
                max_ms: SEC,
            },
            create_fleet: Dist::lognormal_ms(1200, 0.35),
            asg_dispatch: Dist::lognormal_ms(6 * SEC, 0.7),
            pending_to_running: Dist::lognormal_ms(11 * SEC, 0.15),
            boot: BootLatency::default(),
            registered_to_ready: Dist::lognormal_ms(6 * SEC, 0.5),
            slow_tail: SlowTail::default(),
            pod_start: Dist::lognormal_ms(2 * SEC, 0.5),
            image_pull_base: Dist::Constant(500),
            image_pull_per_gib: Dist::lognormal_ms(15 * SEC, 0.5),
            terminate: Dist::lognormal_ms(60 * SEC, 0.3),
        }
    }
}

/// Sampled offsets of one node's start-up, each from the previous stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeStartup {
    pub pending_to_running_ms: u64,
    /// Stage 4 plus the slow tail when it hit.
    pub running_to_registered_ms: u64,
    pub registered_to_ready_ms: u64,
}

impl LatencyModel {
    /// Stages 3, 4 (+5t), 5 in that draw order.
    pub fn sample_node_startup<R: Rng + ?Sized>(&self, rng: &mut R, ami: AmiFamily) -> NodeStartup {
        let pending_to_running_ms = self.pending_to_running.sample(rng);
        let mut boot = self.boot.for_family(ami).sample_f64(rng);
        let p = self.slow_tail.probability;
        if p > 0.0 && rng.random::<f64>() < p {
            boot += self.slow_tail.extra.sample_f64(rng);
        }
        let running_to_registered_ms = to_ms(boot);
        let registered_to_ready_ms = self.registered_to_ready.sample(rng);
        NodeStartup {
            pending_to_running_ms,
            running_to_registered_ms,
            registered_to_ready_ms,
        }
    }

    /// Stage 6p for one uncached image of `size_bytes` (uncompressed): base + size × per-GiB.
    /// Size 0 means nothing to pull: 0 and no draw.
    pub fn sample_image_pull<R: Rng + ?Sized>(&self, rng: &mut R, size_bytes: u64) -> u64 {
        if size_bytes == 0 {
            return 0;
        }
        let base = self.image_pull_base.sample_f64(rng);
        let per = self.image_pull_per_gib.sample_f64(rng);
        to_ms(base + size_bytes as f64 / GIB * per)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    fn median(mut xs: Vec<u64>) -> u64 {
        xs.sort_unstable();
        xs[xs.len() / 2]
    }

    #[test]
    fn defaults_match_latency_calibration_section_3() {
        let m = LatencyModel::default();
        assert_eq!(
            m.create_fleet,
            Dist::LogNormal {
                median_ms: 1200,
                sigma: 0.35
            }
        );
        assert_eq!(
            m.asg_dispatch,
            Dist::LogNormal {
                median_ms: 6000,
                sigma: 0.7
            }
        );
        assert_eq!(
            m.pending_to_running,
            Dist::LogNormal {
                median_ms: 11_000,
                sigma: 0.15
            }
        );
        assert_eq!(
            m.boot.al2,
            Dist::LogNormal {
                median_ms: 9000,
                sigma: 0.35
            }
        );
        assert_eq!(
            m.boot.al2023,
            Dist::LogNormal {
                median_ms: 16_000,
                sigma: 0.35
            }
        );
        assert_eq!(
            m.boot.bottlerocket,
            Dist::LogNormal {
                median_ms: 12_000,
                sigma: 0.4
            }
        );
        assert_eq!(
            m.registered_to_ready,
            Dist::LogNormal {
                median_ms: 6000,
                sigma: 0.5
            }
        );
        assert_eq!(m.slow_tail.probability, 0.03);
        assert_eq!(
            m.slow_tail.extra,
            Dist::Uniform {
                min_ms: 60_000,
                max_ms: 600_000
            }
        );
        assert_eq!(
            m.pod_start,
            Dist::LogNormal {
                median_ms: 2000,
                sigma: 0.5
            }
        );
        assert_eq!(m.image_pull_base, Dist::Constant(500));
        assert_eq!(
            m.image_pull_per_gib,
            Dist::LogNormal {
                median_ms: 15_000,
                sigma: 0.5
            }
        );
        assert_eq!(
            m.unschedulable_mark,
            Dist::Uniform {
                min_ms: 100,
                max_ms: 1000
            }
        );
    }

    #[test]
    fn lognormal_sample_median_and_p90_match_parameters() {
        // docs/model/latency.md §3: p90 ≈ m·e^{1.2816 s}; LN(1.2 s, 0.35) → 1.2 / 1.88 s.
        let d = Dist::lognormal_ms(1200, 0.35);
        let mut r = rng();
        let mut xs: Vec<u64> = (0..20_000).map(|_| d.sample(&mut r)).collect();
        xs.sort_unstable();
        let p50 = xs[10_000] as f64;
        let p90 = xs[18_000] as f64;
        assert!((p50 - 1200.0).abs() < 30.0, "p50 {p50}");
        assert!(
            (p90 - 1200.0 * math::exp(1.2816 * 0.35)).abs() < 60.0,
            "p90 {p90}"
        );
    }

    #[test]
    fn uniform_and_constant_stay_in_range() {
        let mut r = rng();
        let u = Dist::Uniform {
            min_ms: 100,
            max_ms: 1000,
        };
        let xs: Vec<u64> = (0..5000).map(|_| u.sample(&mut r)).collect();
        assert!(xs.iter().all(|&x| (100..=1000).contains(&x)));
        assert!(xs.iter().any(|&x| x < 200) && xs.iter().any(|&x| x > 900));
        assert_eq!(Dist::Constant(2000).sample(&mut r), 2000);
    }

    #[test]
    fn exponential_sample_mean_matches() {
        let d = Dist::Exponential { mean_ms: 10_000 };
        let mut r = rng();
        let n = 20_000;
        let mean = (0..n).map(|_| d.sample(&mut r) as f64).sum::<f64>() / n as f64;
        assert!((mean - 10_000.0).abs() < 300.0, "mean {mean}");
    }

    #[test]
    fn bad_parameters_never_panic() {
        let mut r = rng();
        assert_eq!(
            Dist::LogNormal {
                median_ms: 1000,
                sigma: f64::NAN
            }
            .sample(&mut r),
            0
        );
        let huge = Dist::LogNormal {
            median_ms: u64::MAX,
            sigma: 50.0,
        };
        assert!(
            (0..100).any(|_| huge.sample(&mut r) == u64::MAX),
            "saturates"
        );
        let y = Dist::Uniform {
            min_ms: 10,
            max_ms: 5,
        }
        .sample(&mut r);
        assert!((5..=10).contains(&y));
    }

    #[test]
    fn same_seed_same_samples() {
        let m = LatencyModel::default();
        let a: Vec<NodeStartup> = {
            let mut r = rng();
            (0..50)
                .map(|_| m.sample_node_startup(&mut r, AmiFamily::AL2))
                .collect()
        };
        let b: Vec<NodeStartup> = {
            let mut r = rng();
            (0..50)
                .map(|_| m.sample_node_startup(&mut r, AmiFamily::AL2))
                .collect()
        };
        assert_eq!(a, b);
    }

    #[test]
    fn boot_stage_depends_on_ami_family() {
        let m = LatencyModel {
            slow_tail: SlowTail {
                probability: 0.0,
                ..SlowTail::default()
            },
            ..LatencyModel::default()
        };
        let med = |ami| {
            let mut r = rng();
            median(
                (0..2001)
                    .map(|_| m.sample_node_startup(&mut r, ami).running_to_registered_ms)
                    .collect(),
            )
        };
        let (al2, al2023, br, win) = (
            med(AmiFamily::AL2),
            med(AmiFamily::AL2023),
            med(AmiFamily::Bottlerocket),
            med(AmiFamily::Windows),
        );
        assert!((8500..9500).contains(&al2), "al2 {al2}");
        assert!((15_000..17_000).contains(&al2023), "al2023 {al2023}");
        assert!((11_000..13_000).contains(&br), "bottlerocket {br}");
        assert!(win > 200_000, "windows {win}");
    }

    #[test]
    fn slow_tail_hits_about_three_percent() {
        // docs/model/latency.md §3 stage 5t: prob 0.03 add U(60 s, 600 s).
        let m = LatencyModel::default();
        let mut r = rng();
        let n = 20_000;
        let slow = (0..n)
            .filter(|_| {
                m.sample_node_startup(&mut r, AmiFamily::AL2)
                    .running_to_registered_ms
                    > 60_000
            })
            .count();
        let frac = slow as f64 / n as f64;
        assert!((0.02..0.04).contains(&frac), "slow fraction {frac}");
    }

    #[test]
    fn image_pull_scales_with_size_and_zero_size_draws_nothing() {
        let m = LatencyModel::default();
        let mut r = rng();
        let before = r.clone();
        assert_eq!(m.sample_image_pull(&mut r, 0), 0);
        assert_eq!(r, before, "size 0 must not draw");
        // 1 GiB: 0.5 + LN(15, 0.5) s → median 15.5 s (docs/model/latency.md §3 stage 6p).
        let one = median(
            (0..4001)
                .map(|_| m.sample_image_pull(&mut r, 1 << 30))
                .collect(),
        );
        let four = median(
            (0..4001)
                .map(|_| m.sample_image_pull(&mut r, 4 << 30))
                .collect(),
        );
        assert!((14_500..16_500).contains(&one), "1 GiB {one}");
        assert!((57_000..64_000).contains(&four), "4 GiB {four}");
    }

    #[test]
    fn yaml_overrides_replace_only_named_stages() {
        let yaml = "
createFleet: {lognormal: {median: 2s, sigma: 0.5}}
asgDispatch: {constant: 30s}
unschedulableMark: {uniform: {min: 0.1s, max: 1s}}
terminate: {exponential: {mean: 10m}}
boot: {al2: {constant: 7s}}
slowTail: {probability: 0}
";
        let m: LatencyModel = serde_saphyr::from_str(yaml).expect("parses");
        let d = LatencyModel::default();
        assert_eq!(
            m.create_fleet,
            Dist::LogNormal {
                median_ms: 2000,
                sigma: 0.5
            }
        );
        assert_eq!(m.asg_dispatch, Dist::Constant(30_000));
        assert_eq!(
            m.unschedulable_mark,
            Dist::Uniform {
                min_ms: 100,
                max_ms: 1000
            }
        );
        assert_eq!(m.terminate, Dist::Exponential { mean_ms: 600_000 });
        assert_eq!(m.boot.al2, Dist::Constant(7000));
        assert_eq!(m.boot.al2023, d.boot.al2023);
        assert_eq!(m.slow_tail.probability, 0.0);
        assert_eq!(m.slow_tail.extra, d.slow_tail.extra);
        assert_eq!(m.pending_to_running, d.pending_to_running);
    }

    #[test]
    fn unknown_stage_error_lists_the_stages() {
        let err = serde_saphyr::from_str::<LatencyModel>("bootTime: {constant: 1s}")
            .expect_err("unknown stage")
            .to_string();
        assert!(err.contains("bootTime"), "{err}");
        for stage in [
            "createFleet",
            "asgDispatch",
            "pendingToRunning",
            "registeredToReady",
            "terminate",
        ] {
            assert!(err.contains(stage), "missing {stage} in {err}");
        }
    }

    #[test]
    fn invalid_distributions_are_rejected() {
        for yaml in [
            "createFleet: {lognormal: {median: 1s, sigma: -1}}",
            "createFleet: {uniform: {min: 2s, max: 1s}}",
            "createFleet: {constant: 5}",
            "createFleet: {constant: 1parsec}",
            "createFleet: {gamma: {shape: 1}}",
            "slowTail: {probability: 1.5}",
            "slowTail: {weight: 0.1}",
        ] {
            assert!(
                serde_saphyr::from_str::<LatencyModel>(yaml).is_err(),
                "{yaml}"
            );
        }
    }

    #[test]
    fn dist_round_trips_through_json() {
        for d in [
            Dist::Constant(2000),
            Dist::Uniform {
                min_ms: 1,
                max_ms: 9,
            },
            Dist::LogNormal {
                median_ms: 1200,
                sigma: 0.35,
            },
            Dist::Exponential { mean_ms: 600_000 },
        ] {
            let s = serde_json::to_string(&d).expect("serialises");
            let back: Dist = serde_json::from_str(&s).expect("parses");
            assert_eq!(back, d, "{s}");
        }
    }
}
