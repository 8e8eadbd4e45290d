//! Billing (docs/design.md §6): per second from `running` (or from `pending` if configured),
//! a 60-second minimum, nothing after `shutting-down`; the running cost and hourly rate.

use super::{MS_PER_HOUR, MockEc2};
use crate::cloud::{CapacityType, CostBreakdown, InstanceId};

/// An open billing interval.
#[derive(Debug, Clone, Copy)]
pub(super) struct Meter {
    start_ms: u64,
    price_per_hour: f64,
    capacity_type: CapacityType,
}

/// Cost of `elapsed_ms` of billed time: whole seconds, rounded up, at least the minimum.
fn billed_usd(elapsed_ms: u64, minimum_ms: u64, price_per_hour: f64) -> f64 {
    let secs = elapsed_ms.div_ceil(1000).max(minimum_ms.div_ceil(1000));
    secs as f64 * 1000.0 * price_per_hour / MS_PER_HOUR
}

impl MockEc2 {
    pub(super) fn open_meter(&mut self, id: InstanceId, at: u64) {
        let v = &self.views[id.0 as usize];
        self.meters.insert(
            id.0,
            Meter {
                start_ms: at,
                price_per_hour: v.price_per_hour,
                capacity_type: v.pool.capacity_type,
            },
        );
    }

    pub(super) fn close_meter(&mut self, id: InstanceId, at: u64) {
        if let Some(m) = self.meters.remove(&id.0) {
            let usd = billed_usd(
                at.saturating_sub(m.start_ms),
                self.billing.minimum_ms,
                m.price_per_hour,
            );
            match m.capacity_type {
                CapacityType::OnDemand => self.closed_on_demand_usd += usd,
                CapacityType::Spot => self.closed_spot_usd += usd,
            }
        }
    }

    /// Closed intervals plus open meters up to `now_ms`; once billing starts, the 60-second
    /// minimum is owed at once.
    pub(super) fn cost_at(&self, now_ms: u64) -> CostBreakdown {
        let (mut od, mut spot) = (self.closed_on_demand_usd, self.closed_spot_usd);
        for m in self.meters.values() {
            let usd = billed_usd(
                now_ms.saturating_sub(m.start_ms),
                self.billing.minimum_ms,
                m.price_per_hour,
            );
            match m.capacity_type {
                CapacityType::OnDemand => od += usd,
                CapacityType::Spot => spot += usd,
            }
        }
        CostBreakdown {
            total_usd: od + spot,
            on_demand_usd: od,
            spot_usd: spot,
        }
    }

    /// USD per hour of the open meters.
    pub(super) fn running_rate(&self) -> f64 {
        self.meters.values().map(|m| m.price_per_hour).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::cloud::*;

    // ---- Billing (docs/design.md §6; EC2 bills running only, per second, 60 s minimum) ----

    #[test]
    fn billing_is_per_second_from_running_with_60_second_minimum() {
        let price = 3.6; // $0.001 per second
        let mut sim = Sim::new(config(vec![pool("m5.large", A, OD, price)]));
        let id = sim.launch_one(&od(&[("m5.large", A)]));
        assert_eq!(
            sim.cloud.cost_usd(10_999).total_usd,
            0.0,
            "pending is not billed"
        );
        sim.run_until(11_000); // running
        assert!(
            (sim.cloud.cost_usd(11_000).total_usd - 0.06).abs() < 1e-9,
            "60 s minimum owed"
        );
        assert!((sim.cloud.cost_usd(71_000).total_usd - 0.06).abs() < 1e-9);
        assert!(
            (sim.cloud.cost_usd(71_001).total_usd - 0.061).abs() < 1e-9,
            "partial seconds round up"
        );
        sim.run_until(111_000);
        sim.terminate(&[id]);
        assert!((sim.cloud.cost_usd(111_000).total_usd - 0.1).abs() < 1e-9);
        // A short-lived instance pays the minimum.
        let short = sim.launch_one(&od(&[("m5.large", A)]));
        sim.run_until(123_000); // running at 122 s
        sim.terminate(&[short]);
        assert!((sim.cloud.cost_usd(500_000).total_usd - 0.16).abs() < 1e-9);
    }

    #[test]
    fn nothing_is_billed_after_shutting_down() {
        let mut sim = Sim::new(config(vec![pool("m5.large", A, OD, 0.096)]));
        let id = sim.launch_one(&od(&[("m5.large", A)]));
        sim.run_until(3_600_000);
        sim.terminate(&[id]);
        let at_stop = sim.cloud.cost_usd(3_600_000);
        sim.run_until(10 * 3_600_000);
        assert_eq!(sim.cloud.cost_usd(10 * 3_600_000), at_stop);
        assert_eq!(sim.cloud.hourly_rate(), 0.0);
        let expected = (3_600_000.0 - 11_000.0) / 3_600_000.0 * 0.096;
        assert!((at_stop.total_usd - expected).abs() < 1e-9);
    }

    #[test]
    fn instance_terminated_while_pending_costs_nothing() {
        let mut sim = Sim::new(config(vec![pool("m5.large", A, OD, 0.096)]));
        let id = sim.launch_one(&od(&[("m5.large", A)]));
        sim.run_until(5_000);
        sim.terminate(&[id]);
        sim.run_until(3_600_000);
        assert_eq!(sim.cloud.cost_usd(3_600_000).total_usd, 0.0);
        assert!(
            sim.times_of(|n| matches!(n, Notice::InstanceRunning { .. }))
                .is_empty()
        );
    }

    #[test]
    fn billing_from_pending_setting_starts_meter_at_launch() {
        let mut cfg = config(vec![pool("m5.large", A, OD, 3.6)]);
        cfg.billing.from_pending = true;
        let mut sim = Sim::new(cfg);
        sim.launch_one(&od(&[("m5.large", A)]));
        sim.run_until(1000); // pending at 1 s
        assert!((sim.cloud.cost_usd(101_000).total_usd - 0.1).abs() < 1e-9);
    }

    #[test]
    fn cost_splits_on_demand_and_spot_and_hourly_rate_sums_running() {
        let mut sim = Sim::new(config(vec![
            pool("m5.large", A, OD, 0.096),
            pool("m5.large", A, SPOT, 0.036),
        ]));
        sim.launch_one(&od(&[("m5.large", A)]));
        sim.launch_one(&spot_pco(&[("m5.large", A)]));
        sim.run_until(11_000);
        assert!((sim.cloud.hourly_rate() - 0.132).abs() < 1e-12);
        let c = sim.cloud.cost_usd(11_000 + 3_600_000);
        assert!((c.on_demand_usd - 0.096).abs() < 1e-9, "{c:?}");
        assert!((c.spot_usd - 0.036).abs() < 1e-9, "{c:?}");
        assert!((c.total_usd - 0.132).abs() < 1e-9);
    }
}
