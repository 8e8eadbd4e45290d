//! Go `time.ParseDuration` syntax (`300ms`, `1.5h`, `1m30s`, `720h`, `0`), as used by Kubernetes
//! and Karpenter manifests, plus Karpenter's `Never` (`NillableDuration`).
//!
//! Durations are simulator time: `u64` milliseconds. Parsing follows Go: the value is computed in
//! nanoseconds (a fractional part finer than 1 ns is truncated, as Go does) and must fit an `i64`
//! of nanoseconds (about 292 years); the total is then rounded to the **nearest** millisecond,
//! halves rounding up (`1500us` → 2 ms, `1499us` → 1 ms, `0.5ms` → 1 ms). Negative durations,
//! which Go accepts, are rejected: no field the simulator reads may be negative.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

const NANOS_PER_MILLI: u128 = 1_000_000;
const EXPECTED_UNITS: &str = "expected ns, us, ms, s, m, h, e.g. 1m30s";
/// The keyword Karpenter accepts for a disabled `expireAfter` / `consolidateAfter`.
pub const NEVER: &str = "Never";

/// Why a string is not a Go duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error(
        "invalid duration \"\": empty string (expected a Go duration such as 90s, 1m30s, 720h)"
    )]
    Empty,
    #[error("invalid duration {input:?}: expected a number before each unit (e.g. 1m30s, 1.5h)")]
    InvalidNumber { input: String },
    #[error("invalid duration {input:?}: missing unit ({EXPECTED_UNITS})")]
    MissingUnit { input: String },
    #[error("invalid duration {input:?}: unknown unit {unit:?} ({EXPECTED_UNITS})")]
    UnknownUnit { input: String, unit: String },
    #[error("invalid duration {input:?}: negative durations are not allowed")]
    Negative { input: String },
    #[error("invalid duration {input:?}: out of range (at most 2562047h47m16.854s)")]
    OutOfRange { input: String },
}

/// Parses a Go duration into milliseconds, rounded to the nearest millisecond (module docs).
pub fn parse_duration(s: &str) -> Result<u64, DurationError> {
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let (negative, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    // Go special-cases a bare zero: the only number allowed without a unit.
    if body == "0" {
        return Ok(0);
    }
    if body.is_empty() {
        return Err(DurationError::InvalidNumber {
            input: s.to_string(),
        });
    }
    let out_of_range = || DurationError::OutOfRange {
        input: s.to_string(),
    };
    let max_nanos = i64::MAX as u128;
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut total: u128 = 0;
    while i < bytes.len() {
        // The number: digits, optionally '.', digits; at least one digit overall.
        let int_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let int_digits = &body[int_start..i];
        let mut frac_digits = "";
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            let frac_start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            frac_digits = &body[frac_start..i];
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(DurationError::InvalidNumber {
                input: s.to_string(),
            });
        }
        // The unit: everything up to the next digit or '.' (as Go does, so "5 minutes" names
        // " minutes"). Both ends are ASCII, so the slice is on char boundaries.
        let unit_start = i;
        while i < bytes.len() && bytes[i] != b'.' && !bytes[i].is_ascii_digit() {
            i += 1;
        }
        let unit = &body[unit_start..i];
        if unit.is_empty() {
            return Err(DurationError::MissingUnit {
                input: s.to_string(),
            });
        }
        let unit_nanos = unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit {
            input: s.to_string(),
            unit: unit.to_string(),
        })?;
        let mut whole: u128 = 0;
        for d in int_digits.bytes() {
            whole = whole
                .checked_mul(10)
                .and_then(|w| w.checked_add(u128::from(d - b'0')))
                .filter(|w| *w <= max_nanos)
                .ok_or_else(out_of_range)?;
        }
        let mut component = whole.checked_mul(unit_nanos).ok_or_else(out_of_range)?;
        // Digits beyond the 18th cannot change the nanosecond count (unit ≤ 3.6e12 ns) by more
        // than the truncation Go applies anyway.
        let frac = &frac_digits[..frac_digits.len().min(18)];
        if !frac.is_empty() {
            let numerator = frac.parse::<u128>().unwrap_or(0);
            component += numerator * unit_nanos / 10u128.pow(frac.len() as u32);
        }
        total = total
            .checked_add(component)
            .filter(|t| *t <= max_nanos)
            .ok_or_else(out_of_range)?;
    }
    if negative && total > 0 {
        return Err(DurationError::Negative {
            input: s.to_string(),
        });
    }
    // Nearest millisecond, halves up; total ≤ i64::MAX ns so the result fits a u64.
    Ok(((total + NANOS_PER_MILLI / 2) / NANOS_PER_MILLI) as u64)
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        // Go accepts the micro sign (U+00B5) and the Greek mu (U+03BC).
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Formats milliseconds the way Go's `Duration.String` does: `0s`, `300ms`, `1.5s`, `1m30s`,
/// `1h30m0s`, `720h0m0s`. The output parses back to the same value.
pub fn format_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let hours = ms / 3_600_000;
    let minutes = ms / 60_000 % 60;
    let seconds = ms / 1_000 % 60;
    let millis = ms % 1_000;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&seconds.to_string());
    if millis > 0 {
        let frac = format!("{millis:03}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('s');
    out
}

/// A duration in milliseconds, read from a Go duration string (or a bare `0`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub u64);

impl Duration {
    pub const ZERO: Duration = Duration(0);

    pub fn from_millis(ms: u64) -> Duration {
        Duration(ms)
    }

    pub fn as_millis(self) -> u64 {
        self.0
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s).map(Duration)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(DurationVisitor { allow_never: false })
            .map(|d| match d {
                NillableDuration::After(ms) => Duration(ms),
                // Unreachable: the visitor only yields Never when allowed.
                NillableDuration::Never => Duration(u64::MAX),
            })
    }
}

/// Karpenter's `NillableDuration`: a Go duration or `Never` (expireAfter, consolidateAfter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NillableDuration {
    /// The behaviour is disabled.
    Never,
    /// After this many milliseconds.
    After(u64),
}

impl NillableDuration {
    /// Milliseconds, or `None` for `Never`.
    pub fn as_millis(self) -> Option<u64> {
        match self {
            NillableDuration::Never => None,
            NillableDuration::After(ms) => Some(ms),
        }
    }

    pub fn is_never(self) -> bool {
        self == NillableDuration::Never
    }
}

impl FromStr for NillableDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == NEVER {
            Ok(NillableDuration::Never)
        } else {
            parse_duration(s).map(NillableDuration::After)
        }
    }
}

impl fmt::Display for NillableDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NillableDuration::Never => f.write_str(NEVER),
            NillableDuration::After(ms) => f.write_str(&format_duration(*ms)),
        }
    }
}

impl Serialize for NillableDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NillableDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DurationVisitor { allow_never: true })
    }
}

struct DurationVisitor {
    allow_never: bool,
}

impl DurationVisitor {
    fn integer<E: de::Error>(&self, v: i128) -> Result<NillableDuration, E> {
        if v == 0 {
            return Ok(NillableDuration::After(0));
        }
        let input = v.to_string();
        Err(E::custom(if v < 0 {
            DurationError::Negative { input }
        } else {
            DurationError::MissingUnit { input }
        }))
    }
}

impl Visitor<'_> for DurationVisitor {
    type Value = NillableDuration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.allow_never {
            f.write_str("a Go duration such as 90s, 1m30s, 720h, or Never")
        } else {
            f.write_str("a Go duration such as 90s, 1m30s, 720h")
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<NillableDuration, E> {
        if self.allow_never && v == NEVER {
            return Ok(NillableDuration::Never);
        }
        parse_duration(v)
            .map(NillableDuration::After)
            .map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NillableDuration, E> {
        self.integer(i128::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NillableDuration, E> {
        self.integer(i128::from(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(s: &str) -> u64 {
        match parse_duration(s) {
            Ok(v) => v,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn duration_parses_go_syntax() {
        assert_eq!(ms("300ms"), 300);
        assert_eq!(ms("1.5h"), 5_400_000);
        assert_eq!(ms("1m30s"), 90_000);
        assert_eq!(ms("2h45m"), 9_900_000);
        assert_eq!(ms("720h"), 2_592_000_000);
        assert_eq!(ms("0"), 0);
        assert_eq!(ms("0s"), 0);
        assert_eq!(ms("+5s"), 5_000);
        assert_eq!(ms("-0"), 0);
        assert_eq!(ms("1h1m1s1ms1us1ns"), 3_661_001);
        assert_eq!(ms(".5s"), 500);
        assert_eq!(ms("1.s"), 1_000);
        assert_eq!(ms("2000us"), 2);
        assert_eq!(ms("2000\u{b5}s"), 2);
        assert_eq!(ms("2000\u{3bc}s"), 2);
        assert_eq!(ms("3000000ns"), 3);
        assert_eq!(ms("1s1s"), 2_000);
    }

    #[test]
    fn duration_rounds_to_nearest_millisecond() {
        assert_eq!(ms("1500us"), 2);
        assert_eq!(ms("1499us"), 1);
        assert_eq!(ms("0.5ms"), 1);
        assert_eq!(ms("499999ns"), 0);
        assert_eq!(ms("1.0004s"), 1_000);
        assert_eq!(ms("1.0005s"), 1_001);
        // Sub-nanosecond digits are truncated (as Go does) before rounding.
        assert_eq!(ms("0.49999999999999999999999ms"), 0);
    }

    #[test]
    fn duration_rejects_words_with_clear_message() {
        assert_eq!(
            parse_duration("5 minutes").unwrap_err().to_string(),
            "invalid duration \"5 minutes\": unknown unit \" minutes\" (expected ns, us, ms, s, m, h, e.g. 1m30s)"
        );
        assert!(matches!(
            parse_duration("1d"),
            Err(DurationError::UnknownUnit { unit, .. }) if unit == "d"
        ));
        // As in Go, a sign inside the string is part of the unit.
        assert!(matches!(
            parse_duration("1h-5m"),
            Err(DurationError::UnknownUnit { unit, .. }) if unit == "h-"
        ));
        assert!(matches!(
            parse_duration("Never"),
            Err(DurationError::InvalidNumber { .. })
        ));
    }

    #[test]
    fn duration_rejects_malformed_numbers() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        for bad in [".s", "-", "+", "s", "--1s", " 1s"] {
            assert!(
                matches!(
                    parse_duration(bad),
                    Err(DurationError::InvalidNumber { .. })
                ),
                "{bad}: {:?}",
                parse_duration(bad)
            );
        }
        for bad in ["5", "1.5", "1.5.5s", "1h30"] {
            assert!(
                matches!(parse_duration(bad), Err(DurationError::MissingUnit { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn duration_rejects_negative() {
        assert_eq!(
            parse_duration("-5m").unwrap_err().to_string(),
            "invalid duration \"-5m\": negative durations are not allowed"
        );
    }

    #[test]
    fn duration_overflow_is_an_error() {
        assert_eq!(ms("2562047h"), 2_562_047 * 3_600_000);
        for bad in [
            "2562048h",
            "9223372036854775808ns",
            "99999999999999999999999999999h",
        ] {
            assert!(
                matches!(parse_duration(bad), Err(DurationError::OutOfRange { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn duration_formats_like_go() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(300), "300ms");
        assert_eq!(format_duration(1_500), "1.5s");
        assert_eq!(format_duration(90_000), "1m30s");
        assert_eq!(format_duration(5_400_000), "1h30m0s");
        assert_eq!(format_duration(2_592_000_000), "720h0m0s");
        assert_eq!(format_duration(60_500), "1m0.5s");
        assert_eq!(format_duration(3_600_001), "1h0m0.001s");
        assert_eq!(format_duration(1_250), "1.25s");
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Fields {
        consolidate_after: NillableDuration,
        expire_after: NillableDuration,
        grace: Duration,
        zero: Duration,
    }

    #[test]
    fn duration_deserializes_never_strings_and_zero() {
        let f: Fields = serde_saphyr::from_str(
            "consolidateAfter: Never\nexpireAfter: 720h\ngrace: 1m30s\nzero: 0\n",
        )
        .unwrap();
        assert_eq!(f.consolidate_after, NillableDuration::Never);
        assert_eq!(f.expire_after.as_millis(), Some(2_592_000_000));
        assert_eq!(f.grace, Duration(90_000));
        assert_eq!(f.zero, Duration::ZERO);
        let nd: NillableDuration = serde_saphyr::from_str("0").unwrap();
        assert_eq!(nd, NillableDuration::After(0));
    }

    #[test]
    fn duration_deserialize_rejects_never_where_not_allowed_and_bare_numbers() {
        let err = serde_saphyr::from_str::<Duration>("Never").unwrap_err();
        assert!(
            err.to_string().contains("invalid duration \"Never\""),
            "{err}"
        );
        let err = serde_saphyr::from_str::<Duration>("5").unwrap_err();
        assert!(err.to_string().contains("missing unit"), "{err}");
        let err = serde_saphyr::from_str::<NillableDuration>("-5").unwrap_err();
        assert!(err.to_string().contains("negative"), "{err}");
        let err = serde_saphyr::from_str::<NillableDuration>("5 minutes").unwrap_err();
        assert!(
            err.to_string().contains("unknown unit \" minutes\""),
            "{err}"
        );
        assert!(serde_saphyr::from_str::<Duration>("1.5").is_err());
        assert!(serde_saphyr::from_str::<Duration>("true").is_err());
    }

    #[test]
    fn nillable_duration_displays_and_parses() {
        assert_eq!(NillableDuration::Never.to_string(), "Never");
        assert_eq!(NillableDuration::After(90_000).to_string(), "1m30s");
        assert_eq!(
            "Never".parse::<NillableDuration>(),
            Ok(NillableDuration::Never)
        );
        assert!("never".parse::<NillableDuration>().is_err());
    }

    proptest! {
        #[test]
        fn duration_format_then_parse_round_trips(v in 0u64..=(i64::MAX as u64 / 1_000_000)) {
            prop_assert_eq!(parse_duration(&format_duration(v)), Ok(v));
        }

        #[test]
        fn duration_components_sum(h in 0u64..10_000, m in 0u64..1000, s in 0u64..1000, milli in 0u64..10_000) {
            let text = format!("{h}h{m}m{s}s{milli}ms");
            prop_assert_eq!(parse_duration(&text), Ok(h * 3_600_000 + m * 60_000 + s * 1_000 + milli));
        }
    }
}
