//! Every transcendental function and random distribution the simulation computes, in one place
//! and platform-independent.
//!
//! Why: reports are promised byte-identical for the same scenario and seed on every platform
//! (docs/design.md, "Determinism"). IEEE 754 fixes `+ − × ÷` and `sqrt` to the bit, but not
//! `exp`, `ln`, `powf`, `cos`…: `f64::exp` and friends call the platform's C math library
//! (glibc on Linux, Apple's libm on macOS, the MSVC CRT on Windows), whose last-bit results
//! differ. A single ulp in a drawn launch latency rounds to another millisecond on one machine
//! in a few thousand draws, and from there every later decision can differ. So the core
//! computes them with the pure-Rust `libm` crate — the same code, the same bits, everywhere —
//! and clippy's `disallowed-methods` (clippy.toml) keeps `f64::exp` and the rest out of every
//! crate.
//!
//! The distributions are drawn here too, by inversion from uniform draws, instead of with
//! `rand_distr`: its ziggurat samplers call `f64::exp`/`ln` on their slow paths, and rand's
//! uniform draws themselves are exact bit manipulations. Each draw consumes a fixed number of
//! `u64`s from its stream (one for [`exp1`], two for [`standard_normal`]), which keeps a
//! stream's later draws independent of the values of earlier ones.
//!
//! `autoscale-sim selftest` (and `tests/platform.rs`) pin values drawn here and whole reports'
//! hashes, so a platform that computes differently fails loudly instead of drifting.

use rand::{Rng, RngExt};

/// `e^x`.
#[inline]
pub fn exp(x: f64) -> f64 {
    libm::exp(x)
}

/// The natural logarithm.
#[inline]
pub fn ln(x: f64) -> f64 {
    libm::log(x)
}

/// `log₁₀ x`.
#[inline]
pub fn log10(x: f64) -> f64 {
    libm::log10(x)
}

/// `xʸ`.
#[inline]
pub fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

/// The cosine, `x` in radians.
#[inline]
pub fn cos(x: f64) -> f64 {
    libm::cos(x)
}

/// `10ⁿ`, exact for `|n| ≤ 22` (every power of ten up to 1e22 is an f64), where `powi` would
/// round through repeated multiplication. Used to round report figures to `n` decimals.
pub fn pow10(n: i32) -> f64 {
    const EXACT: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    match usize::try_from(n.unsigned_abs()) {
        Ok(i) if i < EXACT.len() => {
            if n >= 0 {
                EXACT[i]
            } else {
                1.0 / EXACT[i]
            }
        }
        _ => pow(10.0, f64::from(n)),
    }
}

/// A uniform draw in `(0, 1]`: 53 random bits, never 0, so that `ln` of it is finite.
#[inline]
pub fn unit_open0<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    // rand's `random::<f64>()` is `[0, 1)` built from the top 53 bits; 1 − u maps it onto
    // `(0, 1]` exactly (both ends are multiples of 2⁻⁵³).
    1.0 - rng.random::<f64>()
}

/// One draw of the standard exponential distribution (mean 1), by inversion: `−ln U`.
pub fn exp1<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    -ln(unit_open0(rng))
}

/// One draw of the standard normal distribution (mean 0, sd 1), by the Box–Muller transform
/// (its cosine half; the sine half is not kept, so every draw takes exactly two `u64`s).
pub fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1 = unit_open0(rng);
    let u2: f64 = rng.random();
    (-2.0 * ln(u1)).sqrt() * cos(std::f64::consts::TAU * u2)
}

/// One draw of the log-normal distribution whose logarithm has mean `mu` and sd `sigma`.
pub fn lognormal<R: Rng + ?Sized>(rng: &mut R, mu: f64, sigma: f64) -> f64 {
    exp(mu + sigma * standard_normal(rng))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn pow10_is_exact_and_matches_pow_beyond_the_table() {
        assert_eq!(pow10(0), 1.0);
        assert_eq!(pow10(3), 1000.0);
        assert_eq!(pow10(-2), 1.0 / 100.0);
        assert_eq!(pow10(22), 1e22);
        assert_eq!(pow10(30), pow(10.0, 30.0));
        assert_eq!(pow10(i32::MIN), pow(10.0, f64::from(i32::MIN)));
    }

    #[test]
    fn exponential_and_normal_draws_have_their_moments() {
        let mut r = ChaCha8Rng::seed_from_u64(7);
        let n = 200_000;
        let e: Vec<f64> = (0..n).map(|_| exp1(&mut r)).collect();
        let mean = e.iter().sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 0.01, "exp mean {mean}");
        assert!(e.iter().all(|x| x.is_finite() && *x >= 0.0));
        let z: Vec<f64> = (0..n).map(|_| standard_normal(&mut r)).collect();
        let m = z.iter().sum::<f64>() / n as f64;
        let var = z.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
        assert!(m.abs() < 0.01, "normal mean {m}");
        assert!((var - 1.0).abs() < 0.01, "normal variance {var}");
        // P(|Z| < 1.2816·…) — the 90th percentile of Z is 1.2816.
        let below = z.iter().filter(|x| **x < 1.2816).count() as f64 / n as f64;
        assert!((below - 0.9).abs() < 0.005, "P(Z < 1.2816) = {below}");
    }

    #[test]
    fn every_draw_takes_a_fixed_number_of_words() {
        let mut a = ChaCha8Rng::seed_from_u64(1);
        let mut b = ChaCha8Rng::seed_from_u64(1);
        exp1(&mut a);
        standard_normal(&mut a);
        for _ in 0..3 {
            b.random::<u64>();
        }
        assert_eq!(a.random::<u64>(), b.random::<u64>());
    }
}
