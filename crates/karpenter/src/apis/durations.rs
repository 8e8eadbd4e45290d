//! Durations as the CRDs constrain them (the patterns of `expireAfter`, `consolidateAfter` and a budget's `duration`).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use asim_core::k8s::duration::{Duration, NEVER, NillableDuration, parse_duration};

/// A duration field's text before parsing; a bare integer is kept as its digits.
pub(super) struct RawText(pub(super) String);

impl<'de> Deserialize<'de> for RawText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as 30s, 1h30m or 720h")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawText, E> {
                Ok(RawText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawText, E> {
                Ok(RawText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawText, E> {
                Ok(RawText(v.to_string()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// `^([0-9]+(s|m|h))+$`, the CRD pattern of expireAfter / consolidateAfter /
/// terminationGracePeriod (a bare `0` is also taken, as 0s).
pub(super) fn is_crd_duration(s: &str) -> bool {
    if s == "0" {
        return true;
    }
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        match rest.as_bytes().get(digits) {
            Some(b's' | b'm' | b'h') => rest = &rest[digits + 1..],
            _ => return false,
        }
        // "ms" is not allowed: "5ms" reads 5m then "s" without digits, which fails above.
    }
    !s.is_empty()
}

/// `^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$`: whole minutes (cron has no seconds).
pub(super) fn is_budget_duration_text(s: &str) -> bool {
    let core = s.strip_suffix("0s").unwrap_or(s);
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if let Some(h) = core.strip_suffix('h') {
        return digits(h);
    }
    if let Some(hm) = core.strip_suffix('m') {
        return match hm.split_once('h') {
            Some((h, m)) => digits(h) && digits(m),
            None => digits(hm),
        };
    }
    false
}

pub(super) fn crd_duration_text<E: de::Error>(
    text: &str,
    allow_never: bool,
) -> Result<NillableDuration, E> {
    if allow_never && text == NEVER {
        return Ok(NillableDuration::Never);
    }
    let ms = parse_duration(text).map_err(E::custom)?;
    if !is_crd_duration(text) {
        return Err(E::custom(format!(
            "invalid duration {text:?}: Karpenter accepts only whole numbers with units s, m, h (e.g. 30s, 1h30m, 720h){}",
            if allow_never { " or Never" } else { "" }
        )));
    }
    Ok(NillableDuration::After(ms))
}

pub(super) fn crd_nillable_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<NillableDuration, D::Error> {
    let RawText(text) = RawText::deserialize(d)?;
    crd_duration_text(&text, true)
}

pub(super) fn crd_optional_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    match Option::<RawText>::deserialize(d)? {
        None => Ok(None),
        Some(RawText(text)) => {
            crd_duration_text(&text, false).map(|nd| Some(Duration(nd.as_millis().unwrap_or(0))))
        }
    }
}

pub(super) fn budget_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    match Option::<RawText>::deserialize(d)? {
        None => Ok(None),
        Some(RawText(text)) => {
            let ms = parse_duration(&text).map_err(de::Error::custom)?;
            if !is_budget_duration_text(&text) {
                return Err(de::Error::custom(format!(
                    "invalid budget duration {text:?}: only hours and minutes are accepted (e.g. 30m, 8h, 1h30m), as cron has no seconds"
                )));
            }
            Ok(Some(Duration(ms)))
        }
    }
}
