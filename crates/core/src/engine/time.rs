use std::fmt;
use std::ops::{Add, Sub};

/// Simulated time: milliseconds since the scenario started.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);

    pub fn ms(self) -> u64 {
        self.0
    }

    pub fn from_secs(s: u64) -> Self {
        SimTime(s * 1000)
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// Time elapsed since `earlier`, zero if `earlier` is later (never underflows).
    pub fn since(self, earlier: SimTime) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<u64> for SimTime {
    type Output = SimTime;
    fn add(self, ms: u64) -> SimTime {
        SimTime(self.0.saturating_add(ms))
    }
}

impl Sub<SimTime> for SimTime {
    type Output = u64;
    fn sub(self, other: SimTime) -> u64 {
        self.since(other)
    }
}

impl fmt::Display for SimTime {
    /// `1h02m03.004s`-style, for logs and decision records.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0 % 1000;
        let s = self.0 / 1000;
        let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
        if h > 0 {
            write!(f, "{h}h{m:02}m{s:02}.{ms:03}s")
        } else if m > 0 {
            write!(f, "{m}m{s:02}.{ms:03}s")
        } else {
            write!(f, "{s}.{ms:03}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simtime_displays_hours_minutes_seconds() {
        assert_eq!(SimTime(3_723_004).to_string(), "1h02m03.004s");
        assert_eq!(SimTime(61_000).to_string(), "1m01.000s");
        assert_eq!(SimTime(5).to_string(), "0.005s");
    }

    #[test]
    fn simtime_since_saturates() {
        assert_eq!(SimTime(5).since(SimTime(10)), 0);
        assert_eq!(SimTime(10) - SimTime(4), 6);
    }
}
