//! Disruption budgets (docs/model/karpenter.md §4.7): which budgets are active at a simulated
//! time (cron `schedule` + `duration`), and how many nodes of a NodePool may be disrupted now
//! for a reason.
//!
//! The simulated clock starts at 00:00 UTC on Monday 1 January 2024, so a budget scheduled
//! `0 9 * * 1-5` for `8h` blocks disruption during the first day's working hours.

use crate::apis::{Budget, DisruptionReason, NodePool};
use asim_core::engine::SimTime;

/// Day of the week of simulated time zero (0 = Sunday): Monday.
const EPOCH_WEEKDAY: u64 = 1;
const MINUTE_MS: u64 = 60_000;

/// A parsed five-field cron expression (minute hour day-of-month month day-of-week, UTC), as
/// Karpenter's budgets take them, including the `@daily`-style macros.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    days_of_month: u32,
    months: u16,
    days_of_week: u8,
    /// Both day fields restricted: a day matches if either does (cron's rule).
    dom_or_dow: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("schedule {schedule:?}: {why}")]
pub struct CronError {
    pub schedule: String,
    pub why: String,
}

impl Cron {
    pub fn parse(s: &str) -> Result<Cron, CronError> {
        let err = |why: String| CronError {
            schedule: s.to_string(),
            why,
        };
        let expanded = match s.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(err(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week) or a macro such as @daily, found {}",
                fields.len()
            )));
        }
        const MONTHS: [&str; 12] = [
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ];
        const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
        let minutes = field(fields[0], 0, 59, &[]).map_err(|w| err(format!("minute: {w}")))?;
        let hours = field(fields[1], 0, 23, &[]).map_err(|w| err(format!("hour: {w}")))?;
        let dom = field(fields[2], 1, 31, &[]).map_err(|w| err(format!("day of month: {w}")))?;
        let months = field(fields[3], 1, 12, &MONTHS).map_err(|w| err(format!("month: {w}")))?;
        let mut dow =
            field(fields[4], 0, 7, &DAYS).map_err(|w| err(format!("day of week: {w}")))?;
        if dow & (1 << 7) != 0 {
            dow |= 1; // 7 is Sunday too
        }
        let restricted = |f: &str| !f.starts_with('*');
        Ok(Cron {
            minutes,
            hours: hours as u32,
            days_of_month: dom as u32,
            months: months as u16,
            days_of_week: (dow & 0x7f) as u8,
            dom_or_dow: restricted(fields[2]) && restricted(fields[4]),
        })
    }

    /// Does the cron fire at the start of the simulated minute that holds `t`?
    pub fn matches(&self, t: SimTime) -> bool {
        let minute = t.0 / MINUTE_MS;
        let (min, hour, day) = (minute % 60, (minute / 60) % 24, minute / 1440);
        if self.minutes & (1 << min) == 0 || self.hours & (1 << hour) == 0 {
            return false;
        }
        let (month, dom) = month_and_day(day);
        if self.months & (1 << month) == 0 {
            return false;
        }
        let dow = (day + EPOCH_WEEKDAY) % 7;
        let dom_ok = self.days_of_month & (1 << dom) != 0;
        let dow_ok = self.days_of_week & (1 << dow) != 0;
        if self.dom_or_dow {
            dom_ok || dow_ok
        } else {
            dom_ok && dow_ok
        }
    }

    /// Karpenter's `IsActive`: the first hit after `now − duration` is not after `now`.
    pub fn active(&self, now: SimTime, duration_ms: u64) -> bool {
        // Hits are at whole minutes in (now − duration, now].
        let first = (now.0.saturating_sub(duration_ms) / MINUTE_MS + 1) * MINUTE_MS;
        let first = if duration_ms > now.0 { 0 } else { first };
        let mut t = first;
        while t <= now.0 {
            if self.matches(SimTime(t)) {
                return true;
            }
            t += MINUTE_MS;
        }
        false
    }
}

/// One cron field as a bit set over `lo..=hi`.
fn field(f: &str, lo: u64, hi: u64, names: &[&str]) -> Result<u64, String> {
    let value = |v: &str| -> Result<u64, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            // Month names count from 1 (lo = 1), day names from 0 (lo = 0).
            return Ok(i as u64 + lo);
        }
        let n: u64 = v.parse().map_err(|_| {
            format!(
                "{v:?} is not a number{}",
                if names.is_empty() { "" } else { " or a name" }
            )
        })?;
        if n < lo || n > hi {
            return Err(format!("{n} is outside {lo}-{hi}"));
        }
        Ok(n)
    };
    let mut bits = 0u64;
    for part in f.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u64>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("step {s:?} must be a positive number"))?,
            ),
            None => (part, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let a = value(range)?;
            (a, if part.contains('/') { hi } else { a })
        };
        if a > b {
            return Err(format!("range {a}-{b} runs backwards"));
        }
        let mut v = a;
        while v <= b {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

/// (month 1–12, day of month 1–31) of day `day` after 1 January 2024.
fn month_and_day(day: u64) -> (u64, u64) {
    // Civil-from-days (proleptic Gregorian), anchored at 2024-01-01.
    let mut y = 2024u64;
    let mut d = day;
    loop {
        let len = if is_leap(y) { 366 } else { 365 };
        if d < len {
            break;
        }
        d -= len;
        y += 1;
    }
    let feb = if is_leap(y) { 29 } else { 28 };
    let lens = [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    for (m, len) in lens.iter().enumerate() {
        if d < *len {
            return (m as u64 + 1, d + 1);
        }
        d -= len;
    }
    (12, 31)
}

fn is_leap(y: u64) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

/// A NodePool's budgets with their schedules parsed once.
#[derive(Clone, Debug)]
pub struct Budgets {
    entries: Vec<(Budget, Option<Cron>)>,
}

impl Budgets {
    /// Whether any budget has a schedule: only then can the budgets change with the clock
    /// alone.
    pub fn scheduled(&self) -> bool {
        self.entries.iter().any(|(_, cron)| cron.is_some())
    }

    pub fn new(np: &NodePool) -> Result<Budgets, CronError> {
        let mut entries = Vec::new();
        for b in &np.spec.disruption.budgets {
            let cron = b.schedule.as_deref().map(Cron::parse).transpose()?;
            entries.push((b.clone(), cron));
        }
        Ok(Budgets { entries })
    }

    /// How many of `total` nodes may be disrupting for `reason` at `now`: the minimum over the
    /// active budgets that apply (`u32::MAX` when none constrains; §4.7).
    pub fn allowed(&self, reason: DisruptionReason, total: u32, now: SimTime) -> u32 {
        self.entries
            .iter()
            .filter(|(b, _)| b.applies_to(reason))
            .filter(|(b, cron)| match (cron, b.duration) {
                (Some(c), Some(d)) => c.active(now, d.as_millis()),
                (Some(c), None) => c.matches(now),
                (None, _) => true,
            })
            .map(|(b, _)| b.allowed_disruptions(total))
            .min()
            .unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;
    const DAY: u64 = 24 * HOUR;

    #[test]
    fn cron_weekday_business_hours_are_active_for_their_duration() {
        let c = Cron::parse("0 9 * * mon-fri").unwrap();
        // Day 0 is Monday: active 09:00–17:00 with an 8h duration.
        assert!(!c.active(SimTime(8 * HOUR + 59 * 60_000), 8 * HOUR));
        assert!(c.active(SimTime(9 * HOUR), 8 * HOUR));
        assert!(c.active(SimTime(16 * HOUR + 59 * 60_000), 8 * HOUR));
        assert!(!c.active(SimTime(17 * HOUR), 8 * HOUR));
        // Day 5 is Saturday.
        assert!(!c.active(SimTime(5 * DAY + 10 * HOUR), 8 * HOUR));
    }

    #[test]
    fn cron_macros_steps_lists_and_months() {
        let daily = Cron::parse("@daily").unwrap();
        assert!(daily.matches(SimTime(2 * DAY)));
        assert!(!daily.matches(SimTime(2 * DAY + 60_000)));
        let every15 = Cron::parse("*/15 * * * *").unwrap();
        assert!(every15.matches(SimTime(45 * 60_000)));
        assert!(!every15.matches(SimTime(50 * 60_000)));
        let list = Cron::parse("5,10 0 * * *").unwrap();
        assert!(list.matches(SimTime(10 * 60_000)));
        // 1 February 2024 is day 31.
        let feb = Cron::parse("0 0 1 feb *").unwrap();
        assert!(feb.matches(SimTime(31 * DAY)));
        assert!(!feb.matches(SimTime(0)));
        // Sunday as 7.
        let sun = Cron::parse("0 0 * * 7").unwrap();
        assert!(sun.matches(SimTime(6 * DAY)));
    }

    #[test]
    fn cron_rejects_bad_fields_with_the_field_named() {
        let e = Cron::parse("61 * * * *").unwrap_err();
        assert!(e.why.contains("minute"), "{e}");
        assert!(Cron::parse("* * *").is_err());
        assert!(Cron::parse("*/0 * * * *").is_err());
    }

    #[test]
    fn month_and_day_cross_the_leap_year() {
        assert_eq!(month_and_day(0), (1, 1));
        assert_eq!(month_and_day(59), (2, 29)); // 2024 is a leap year
        assert_eq!(month_and_day(366), (1, 1));
    }
}
