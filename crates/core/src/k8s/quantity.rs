//! Kubernetes resource quantities (`500m`, `2Gi`, `1.5`, `1e3`), parsed exactly.
//!
//! Grammar (k8s.io/apimachinery `resource.ParseQuantity`):
//! `[+-]? (digits | digits. | digits.digits | .digits) suffix`, where suffix is one of
//! `n u m "" k M G T P E` (decimal SI), `Ki Mi Gi Ti Pi Ei` (binary SI) or `e`/`E` followed by a
//! signed integer exponent. `1E` is one exa; `1E3` is a thousand.
//!
//! The value is kept as an exact integer count of nano-units. Like Kubernetes, a value finer than
//! one nano-unit is rounded *up* (away from zero) to the next nano-unit, so that asking for a tiny
//! amount of something never becomes zero. Unlike Kubernetes, which silently caps huge values,
//! a magnitude whose milli-value does not fit an `i64` (about 9.2e15 units, e.g. `8Ei`) is an
//! error, so [`Quantity::to_milli_ceil`] and [`Quantity::to_units_ceil`] never overflow.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

const NANOS_PER_UNIT: i128 = 1_000_000_000;
const NANOS_PER_MILLI: i128 = 1_000_000;
const NANOS_PER_MICRO: i128 = 1_000;
/// Largest accepted magnitude, in nano-units: the milli-value of every quantity fits an `i64`.
const MAX_NANOS: i128 = i64::MAX as i128 * NANOS_PER_MILLI;
/// Exponents beyond this magnitude are clamped: they are out of range (positive) or round up to
/// one nano-unit (negative) either way, and clamping bounds the work done on hostile input.
const MAX_EXPONENT: i64 = 1_000;

const EXPECTED_SUFFIXES: &str = "n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent";

/// An exact Kubernetes resource quantity, stored as a count of nano-units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity {
    nanos: i128,
}

/// Why a string is not a Kubernetes quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error(
        "invalid quantity \"\": empty string (expected a number with an optional suffix, e.g. 500m, 2Gi, 1.5)"
    )]
    Empty,
    #[error(
        "invalid quantity {input:?}: expected a number with an optional sign and suffix, e.g. 500m, 2Gi, 1.5, .5, +1"
    )]
    NotANumber { input: String },
    #[error(
        "invalid quantity {input:?}: unknown suffix {suffix:?} (expected one of {EXPECTED_SUFFIXES})"
    )]
    UnknownSuffix { input: String, suffix: String },
    #[error(
        "invalid quantity {input:?}: out of range (the magnitude may be at most about 9.2e15 units, so that its milli-value fits in 64 bits)"
    )]
    OutOfRange { input: String },
    #[error("invalid quantity {value}: not a finite number")]
    NotFinite { value: String },
}

impl Quantity {
    /// Zero.
    pub const ZERO: Quantity = Quantity { nanos: 0 };

    /// A quantity of `milli` thousandths of a unit (e.g. millicores). Always in range.
    pub fn from_milli(milli: i64) -> Quantity {
        Quantity {
            nanos: i128::from(milli) * NANOS_PER_MILLI,
        }
    }

    /// A quantity of whole units (e.g. bytes); `None` if its milli-value would not fit an `i64`.
    pub fn from_units(units: i64) -> Option<Quantity> {
        let nanos = i128::from(units) * NANOS_PER_UNIT;
        (nanos.abs() <= MAX_NANOS).then_some(Quantity { nanos })
    }

    /// The exact value in nano-units.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The value in thousandths of a unit, rounded up (towards +∞): `0.0001` → 1, `-0.0001` → 0.
    /// Kubernetes rounds cpu requests up the same way (`MilliValue`).
    pub fn to_milli_ceil(&self) -> i64 {
        // In range by construction: |nanos| ≤ MAX_NANOS, or from_milli of an i64.
        i64::try_from(div_ceil(self.nanos, NANOS_PER_MILLI)).unwrap_or(i64::MAX)
    }

    /// The value in whole units, rounded up (towards +∞): `1.5Ki` → 1536, `0.5` → 1.
    pub fn to_units_ceil(&self) -> i64 {
        i64::try_from(div_ceil(self.nanos, NANOS_PER_UNIT)).unwrap_or(i64::MAX)
    }

    /// Kubernetes accepts negative quantities; callers that need a non-negative amount check this.
    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }
}

fn div_ceil(a: i128, b: i128) -> i128 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 { q } else { q + 1 }
}

/// Parses a Kubernetes quantity exactly (see the module docs for the grammar and rounding).
pub fn parse_quantity(s: &str) -> Result<Quantity, QuantityError> {
    if s.is_empty() {
        return Err(QuantityError::Empty);
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let negative = match bytes[0] {
        b'-' => {
            i = 1;
            true
        }
        b'+' => {
            i = 1;
            false
        }
        _ => false,
    };
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = &s[int_start..i];
    let mut frac_digits = "";
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = &s[frac_start..i];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(QuantityError::NotANumber {
            input: s.to_string(),
        });
    }
    let suffix = &s[i..];
    let (exp10, exp2) = parse_suffix(suffix).ok_or_else(|| QuantityError::UnknownSuffix {
        input: s.to_string(),
        suffix: suffix.to_string(),
    })?;
    let out_of_range = || QuantityError::OutOfRange {
        input: s.to_string(),
    };

    // value = D × 10^(exp10 − frac_len) × 2^exp2, with D the integer formed by all the digits;
    // in nano-units, the decimal exponent gains 9.
    let mut big = Big::default();
    for digit in int_digits.bytes().chain(frac_digits.bytes()) {
        big.mul_add_small(10, u32::from(digit - b'0'));
    }
    let mut sticky = false;
    if !big.is_zero() {
        for _ in 0..exp2 / 10 {
            big.mul_add_small(1024, 0);
        }
        let scale = exp10 - frac_digits.len() as i64 + 9;
        if scale >= 0 {
            for _ in 0..scale {
                big.mul_add_small(10, 0);
                if big.limbs.len() > 4 {
                    return Err(out_of_range());
                }
            }
        } else {
            for _ in 0..-scale {
                if big.is_zero() {
                    break;
                }
                sticky |= big.div_small(10) != 0;
            }
        }
    }
    let mut magnitude = big.to_u128().ok_or_else(out_of_range)?;
    if sticky {
        // Round up to the next nano-unit, as Kubernetes does.
        magnitude += 1;
    }
    let magnitude = i128::try_from(magnitude).map_err(|_| out_of_range())?;
    if magnitude > MAX_NANOS {
        return Err(out_of_range());
    }
    Ok(Quantity {
        nanos: if negative { -magnitude } else { magnitude },
    })
}

/// Decimal and binary exponents of a suffix; `None` if it is not one.
fn parse_suffix(suffix: &str) -> Option<(i64, u32)> {
    let decimal = |e: i64| Some((e, 0));
    let binary = |e: u32| Some((0, e));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            let rest = suffix.strip_prefix(['e', 'E'])?;
            let (negative, digits) = match rest.as_bytes().first() {
                Some(b'-') => (true, &rest[1..]),
                Some(b'+') => (false, &rest[1..]),
                _ => (false, rest),
            };
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // Saturate: anything this large is out of range or rounds to one nano-unit.
            let magnitude = digits.parse::<i64>().unwrap_or(i64::MAX).min(MAX_EXPONENT);
            decimal(if negative { -magnitude } else { magnitude })
        }
    }
}

/// A minimal unsigned big integer (little-endian 32-bit limbs, no trailing zero limbs), enough
/// to parse quantities with arbitrarily many digits exactly.
#[derive(Default)]
struct Big {
    limbs: Vec<u32>,
}

impl Big {
    fn is_zero(&self) -> bool {
        self.limbs.is_empty()
    }

    fn mul_add_small(&mut self, mul: u32, add: u32) {
        let mut carry = u64::from(add);
        for limb in &mut self.limbs {
            let v = u64::from(*limb) * u64::from(mul) + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.limbs.push(carry as u32);
        }
    }

    /// Divides in place, returning the remainder.
    fn div_small(&mut self, div: u32) -> u32 {
        let mut rem = 0u64;
        for limb in self.limbs.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*limb);
            *limb = (cur / u64::from(div)) as u32;
            rem = cur % u64::from(div);
        }
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
        rem as u32
    }

    fn to_u128(&self) -> Option<u128> {
        if self.limbs.len() > 4 {
            return None;
        }
        Some(
            self.limbs
                .iter()
                .rev()
                .fold(0u128, |acc, &limb| (acc << 32) | u128::from(limb)),
        )
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_quantity(s)
    }
}

/// Canonical decimal form: whole units when exact, else `m`, `u` or `n` (`1536`, `500m`, `1n`).
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nanos;
        if n % NANOS_PER_UNIT == 0 {
            write!(f, "{}", n / NANOS_PER_UNIT)
        } else if n % NANOS_PER_MILLI == 0 {
            write!(f, "{}m", n / NANOS_PER_MILLI)
        } else if n % NANOS_PER_MICRO == 0 {
            write!(f, "{}u", n / NANOS_PER_MICRO)
        } else {
            write!(f, "{n}n")
        }
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Accepts a string (`500m`, `2Gi`) or a YAML/JSON number (`cpu: 2`, `cpu: 0.5`), as the
/// Kubernetes API does for int-or-string quantities.
impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(QuantityVisitor)
    }
}

struct QuantityVisitor;

impl Visitor<'_> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes quantity such as 500m, 2Gi, 1.5 or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
        parse_quantity(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
        parse_quantity(&v.to_string()).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
        parse_quantity(&v.to_string()).map_err(E::custom)
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Quantity, E> {
        parse_quantity(&v.to_string()).map_err(E::custom)
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Quantity, E> {
        parse_quantity(&v.to_string()).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
        if !v.is_finite() {
            return Err(E::custom(QuantityError::NotFinite {
                value: v.to_string(),
            }));
        }
        // `Display` for f64 prints the shortest decimal that round-trips, without exponent
        // notation, so `0.1` stays exactly 0.1.
        parse_quantity(&v.to_string()).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(s: &str) -> Quantity {
        match parse_quantity(s) {
            Ok(q) => q,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn quantity_parses_every_documented_form_exactly() {
        let cases: &[(&str, i128)] = &[
            ("500m", 500_000_000),
            ("2Gi", 2 * (1 << 30) * NANOS_PER_UNIT),
            ("1.5", 1_500_000_000),
            ("1e3", 1000 * NANOS_PER_UNIT),
            ("1E3", 1000 * NANOS_PER_UNIT),
            ("0.1", 100_000_000),
            ("100Mi", 100 * (1 << 20) * NANOS_PER_UNIT),
            ("1k", 1000 * NANOS_PER_UNIT),
            ("1M", 1_000_000 * NANOS_PER_UNIT),
            ("1Ki", 1024 * NANOS_PER_UNIT),
            ("+1", NANOS_PER_UNIT),
            (".5", 500_000_000),
            ("5.", 5 * NANOS_PER_UNIT),
            ("1P", 1_000_000_000_000_000 * NANOS_PER_UNIT),
            ("3n", 3),
            ("7u", 7_000),
            ("1e-3", 1_000_000),
            ("1E+2", 100 * NANOS_PER_UNIT),
            ("0", 0),
            ("-0", 0),
            ("0.1Ki", 102_400_000_000),
        ];
        for &(s, nanos) in cases {
            assert_eq!(q(s).nanos(), nanos, "{s}");
        }
    }

    #[test]
    fn quantity_rounds_up_to_milli() {
        assert_eq!(q("0.0001").to_milli_ceil(), 1);
        assert_eq!(q("100m").to_milli_ceil(), 100);
        assert_eq!(q("1.0001").to_milli_ceil(), 1001);
        assert_eq!(q("2").to_milli_ceil(), 2000);
        assert_eq!(q("-0.0001").to_milli_ceil(), 0);
    }

    #[test]
    fn quantity_rounds_up_to_units() {
        assert_eq!(q("1.5Ki").to_units_ceil(), 1536);
        assert_eq!(q("0.5").to_units_ceil(), 1);
        assert_eq!(q("2Gi").to_units_ceil(), 2 << 30);
        assert_eq!(q("100Mi").to_units_ceil(), 100 << 20);
        assert_eq!(q("1.5").to_units_ceil(), 2);
        assert_eq!(q("-1.5").to_units_ceil(), -1);
    }

    #[test]
    fn quantity_below_one_nano_rounds_up_to_one_nano() {
        assert_eq!(q("0.0000000001").nanos(), 1);
        assert_eq!(q("1e-30").nanos(), 1);
        assert_eq!(q("1e-999999999999999999999").nanos(), 1);
        assert_eq!(q("-0.0000000001").nanos(), -1);
        assert_eq!(q("0.0000000000").nanos(), 0);
    }

    #[test]
    fn quantity_with_many_digits_is_exact() {
        let long = format!("1.{}1", "0".repeat(60));
        assert_eq!(q(&long).nanos(), NANOS_PER_UNIT + 1);
        let padded = format!("{}42", "0".repeat(80));
        assert_eq!(q(&padded).to_units_ceil(), 42);
    }

    #[test]
    fn quantity_negative_parses_and_reports_negative() {
        let n = q("-500m");
        assert!(n.is_negative());
        assert_eq!(n.to_milli_ceil(), -500);
        assert!(!q("500m").is_negative());
        assert!(!q("-0").is_negative());
    }

    #[test]
    fn quantity_rejects_unknown_suffix_with_clear_message() {
        let err = parse_quantity("12Qi").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid quantity \"12Qi\": unknown suffix \"Qi\" (expected one of n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent)"
        );
        for bad in ["5 Gi", "1K", "1e", "1e1.5", "1Gix", "2 "] {
            assert!(
                matches!(
                    parse_quantity(bad),
                    Err(QuantityError::UnknownSuffix { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn quantity_rejects_non_numbers() {
        assert_eq!(parse_quantity(""), Err(QuantityError::Empty));
        for bad in [
            "--1", "NaN", "nan", "inf", ".", "+", "-", " 1", "Gi", "+-1", "e3",
        ] {
            assert!(
                matches!(parse_quantity(bad), Err(QuantityError::NotANumber { .. })),
                "{bad}: {:?}",
                parse_quantity(bad)
            );
        }
        assert!(
            parse_quantity("--1")
                .unwrap_err()
                .to_string()
                .contains("\"--1\"")
        );
    }

    #[test]
    fn quantity_overflow_is_an_error_not_a_wrap() {
        for bad in [
            "10Ei",
            "1E",
            "1e16",
            "9223372036854775807",
            "1e1000",
            "99999999999999999999999999999999999999999999",
        ] {
            assert!(
                matches!(parse_quantity(bad), Err(QuantityError::OutOfRange { .. })),
                "{bad}"
            );
        }
        // The largest accepted magnitude still converts without overflow.
        let max = q("9223372036854775.807");
        assert_eq!(max.to_milli_ceil(), i64::MAX);
        assert_eq!(q("-9223372036854775.807").to_milli_ceil(), -i64::MAX);
        assert!(parse_quantity("9223372036854775.808").is_err());
        assert_eq!(q("8Pi").to_units_ceil(), 8 << 50);
    }

    #[test]
    fn quantity_displays_canonically_and_round_trips() {
        for (s, shown) in [
            ("1.5Ki", "1536"),
            ("500m", "500m"),
            ("0.1", "100m"),
            ("1.5m", "1500u"),
            ("3n", "3n"),
            ("-2", "-2"),
        ] {
            assert_eq!(q(s).to_string(), shown);
            assert_eq!(q(shown), q(s));
        }
    }

    #[test]
    fn quantity_deserializes_from_yaml_strings_and_numbers() {
        let m: std::collections::BTreeMap<String, Quantity> = serde_saphyr::from_str(
            "cpu: 2\nhalf: 0.5\ntenth: 0.1\nmem: 2Gi\nmilli: 500m\nquoted: \"3\"\nexp: 1e3\nneg: -1\n",
        )
        .unwrap();
        assert_eq!(m["cpu"].to_milli_ceil(), 2000);
        assert_eq!(m["half"].to_milli_ceil(), 500);
        assert_eq!(m["tenth"].nanos(), 100_000_000);
        assert_eq!(m["mem"].to_units_ceil(), 2 << 30);
        assert_eq!(m["milli"].to_milli_ceil(), 500);
        assert_eq!(m["quoted"].to_units_ceil(), 3);
        assert_eq!(m["exp"].to_units_ceil(), 1000);
        assert!(m["neg"].is_negative());
    }

    #[test]
    fn quantity_deserialize_reports_bad_values() {
        let err =
            serde_saphyr::from_str::<std::collections::BTreeMap<String, Quantity>>("cpu: 12Qi\n")
                .unwrap_err();
        assert!(err.to_string().contains("unknown suffix \"Qi\""), "{err}");
        // serde-saphyr refuses `.nan` itself; other formats reach the visitor.
        assert!(
            serde_saphyr::from_str::<std::collections::BTreeMap<String, Quantity>>("cpu: .nan\n")
                .is_err()
        );
        let err = QuantityVisitor
            .visit_f64::<serde::de::value::Error>(f64::NAN)
            .unwrap_err();
        assert!(err.to_string().contains("not a finite number"), "{err}");
        let err =
            serde_saphyr::from_str::<std::collections::BTreeMap<String, Quantity>>("cpu: true\n")
                .unwrap_err();
        assert!(err.to_string().contains("Kubernetes quantity"), "{err}");
    }

    #[test]
    fn quantity_deserializes_from_json_numbers() {
        let v: Vec<Quantity> = serde_json::from_str(r#"[2, 0.25, "250m", 1e3]"#).unwrap();
        assert_eq!(
            v.iter().map(Quantity::to_milli_ceil).collect::<Vec<_>>(),
            [2000, 250, 250, 1_000_000]
        );
    }

    const MAX_UNITS: i64 = 9_223_372_036_854_775; // floor(i64::MAX / 1000)

    /// (suffix, numerator, denominator) of its multiplier.
    const SUFFIXES: &[(&str, u128, u128)] = &[
        ("n", 1, 1_000_000_000),
        ("u", 1, 1_000_000),
        ("m", 1, 1_000),
        ("", 1, 1),
        ("k", 1_000, 1),
        ("M", 1_000_000, 1),
        ("G", 1_000_000_000, 1),
        ("T", 1_000_000_000_000, 1),
        ("P", 1_000_000_000_000_000, 1),
        ("E", 1_000_000_000_000_000_000, 1),
        ("Ki", 1 << 10, 1),
        ("Mi", 1 << 20, 1),
        ("Gi", 1 << 30, 1),
        ("Ti", 1 << 40, 1),
        ("Pi", 1 << 50, 1),
        ("Ei", 1 << 60, 1),
        ("e-2", 1, 100),
        ("e4", 10_000, 1),
    ];

    proptest! {
        #[test]
        fn quantity_integers_round_trip(n in -MAX_UNITS..=MAX_UNITS) {
            let parsed = q(&n.to_string());
            prop_assert_eq!(parsed.to_units_ceil(), n);
            prop_assert_eq!(parsed.to_milli_ceil(), n * 1000);
            prop_assert_eq!(q(&parsed.to_string()), parsed);
        }

        #[test]
        fn quantity_milli_form_round_trips(m in any::<i64>().prop_filter("|m| ≤ i64::MAX", |m| *m != i64::MIN)) {
            let parsed = q(&format!("{m}m"));
            prop_assert_eq!(parsed.to_milli_ceil(), m);
            prop_assert_eq!(parsed, Quantity::from_milli(m));
        }

        #[test]
        fn quantity_mebibyte_form_round_trips(n in 0i64..=(MAX_UNITS >> 20)) {
            prop_assert_eq!(q(&format!("{n}Mi")).to_units_ceil(), n << 20);
        }

        #[test]
        fn quantity_ceil_is_never_below_the_exact_value(
            int_part in 0u64..10_000,
            frac in proptest::option::of("[0-9]{1,9}"),
            suffix in 0..SUFFIXES.len(),
        ) {
            let (sfx, num, den) = SUFFIXES[suffix];
            let frac = frac.unwrap_or_default();
            let text = if frac.is_empty() { format!("{int_part}{sfx}") } else { format!("{int_part}.{frac}{sfx}") };
            // exact = v / 10^len × num / den
            let scale = 10u128.pow(frac.len() as u32);
            let v = u128::from(int_part) * scale + frac.parse::<u128>().unwrap_or(0);
            let exact_num = v * num; // exact = exact_num / (scale × den)
            let exact_den = scale * den;
            match parse_quantity(&text) {
                Ok(parsed) => {
                    let milli = u128::try_from(parsed.to_milli_ceil()).unwrap();
                    // milli/1000 ≥ exact > (milli − 1)/1000
                    prop_assert!(milli * exact_den >= exact_num * 1000, "{}", text);
                    prop_assert!(milli == 0 || (milli - 1) * exact_den < exact_num * 1000, "{}", text);
                    let units = u128::try_from(parsed.to_units_ceil()).unwrap();
                    prop_assert!(units * exact_den >= exact_num, "{}", text);
                    prop_assert!(units == 0 || (units - 1) * exact_den < exact_num, "{}", text);
                    let nanos = u128::try_from(parsed.nanos()).unwrap();
                    prop_assert!(nanos * exact_den >= exact_num * 1_000_000_000, "{}", text);
                }
                Err(QuantityError::OutOfRange { .. }) => {
                    // Only when the exact milli-value really exceeds i64::MAX.
                    prop_assert!(exact_num * 1000 > i64::MAX as u128 * exact_den, "{}", text);
                }
                Err(e) => prop_assert!(false, "{}: {}", text, e),
            }
        }
    }
}
