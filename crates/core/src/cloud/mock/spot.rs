//! Spot interruptions (docs/model/latency.md "Spot interruption model", §2.1): the reclaim time
//! drawn at launch from the pool's hazard, the two-minute warning, rebalance recommendations and
//! correlated reclaims of pool mates.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::instance::Hidden;
use super::{MS_PER_HOUR, MockEc2};
use crate::cloud::{CloudTimer, InstanceId, Notice};
use crate::math;

fn ms_from_f64(x: f64) -> u64 {
    // Saturating: NaN/negative → 0, +inf → u64::MAX.
    x.round() as u64
}

impl MockEc2 {
    /// Spot interruption from a constant hazard (docs/model/latency.md "Spot interruption model"):
    /// reclaim at `t = launch + Exp(λ)`, notice at `t − 2 min`, rebalance recommendation with
    /// probability q at `notice − Exp(lead mean)`, else together with the notice. Times before
    /// the launch are clamped to it.
    pub(super) fn plan_interruption(
        &self,
        h: &mut Hidden,
        launched_at: u64,
        pool: usize,
        rng: &mut ChaCha8Rng,
    ) {
        let per_hour = self
            .spot
            .override_per_hour
            .unwrap_or(self.pools[pool].interruption_per_hour);
        if !(per_hour.is_finite() && per_hour > 0.0) {
            return;
        }
        let e = math::exp1(rng);
        let t = launched_at.saturating_add(ms_from_f64(e * MS_PER_HOUR / per_hour));
        let warn = t.saturating_sub(self.spot.warning_lead_ms).max(launched_at);
        h.interrupt_at = Some(t);
        h.warn_at = Some(warn);
        if rng.random::<f64>() < self.spot.rebalance_probability {
            let lead = math::exp1(rng);
            let lead_ms = ms_from_f64(lead * self.spot.rebalance_lead_mean_ms as f64);
            h.rebalance_at = Some(warn.saturating_sub(lead_ms).max(launched_at));
        }
    }

    /// The interruption notice of `id`: its rebalance recommendation if not yet sent, the
    /// warning, then the correlated pool mates (each with probability `correlation`, drawn in
    /// id order) get the same notice now and the same reclaim time. Pool mates do not cascade.
    pub(super) fn interruption_warning(
        &mut self,
        id: InstanceId,
        now: u64,
        spot: &mut ChaCha8Rng,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        let i = id.0 as usize;
        let h = &self.hidden[i];
        if !self.views[i].state.is_live() || h.warn_at != Some(now) || h.warning_sent {
            return notices;
        }
        let Some(reclaim_at) = h.interrupt_at else {
            return notices;
        };
        let pool = h.pool;
        self.warn(id, &mut notices);
        let c = self.spot.correlation;
        if c > 0.0 {
            let mates: Vec<u32> = self.pool_live[pool]
                .iter()
                .copied()
                .filter(|&m| m != id.0)
                .collect();
            for m in mates {
                let mi = m as usize;
                if self.hidden[mi].warning_sent || self.views[mi].launched_at_ms > now {
                    continue;
                }
                if spot.random::<f64>() < c {
                    let h = &mut self.hidden[mi];
                    h.interrupt_at = Some(reclaim_at);
                    h.warn_at = Some(now);
                    self.warn(InstanceId(m), &mut notices);
                    self.schedule(reclaim_at, CloudTimer::Reclaim(InstanceId(m)));
                }
            }
        }
        notices
    }

    pub(super) fn warn(&mut self, id: InstanceId, notices: &mut Vec<Notice>) {
        let h = &mut self.hidden[id.0 as usize];
        if !h.rebalance_sent {
            h.rebalance_sent = true;
            notices.push(Notice::RebalanceRecommendation { instance: id });
        }
        h.warning_sent = true;
        notices.push(Notice::SpotInterruptionWarning { instance: id });
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::cloud::*;

    // ---- Spot (docs/model/latency.md "Spot interruption model", §2.1) ----

    fn spot_cfg(per_hour: f64, rebalance: f64, correlation: f64) -> MockConfig {
        let mut cfg = config(vec![PoolSpec {
            interruption_per_hour: per_hour,
            ..pool("c5.xlarge", A, SPOT, 0.07)
        }]);
        cfg.spot = SpotSettings {
            interruptions: true,
            rebalance_probability: rebalance,
            correlation,
            ..SpotSettings::default()
        };
        cfg
    }

    #[test]
    fn spot_interruption_warning_comes_two_minutes_before_reclaim() {
        let mut sim = Sim::new(spot_cfg(1.0, 0.0, 0.0));
        let mut seen = 0;
        for _ in 0..20 {
            let id = sim.launch_one(&spot_pco(&[("c5.xlarge", A)]));
            sim.run_until(sim.now + 100 * 3_600_000);
            let warn = sim.times_of(|n| *n == Notice::SpotInterruptionWarning { instance: id });
            let reclaim = sim.times_of(|n| {
                *n == Notice::InstanceShuttingDown {
                    instance: id,
                    reason: TerminationReason::SpotReclaimed,
                }
            });
            assert_eq!((warn.len(), reclaim.len()), (1, 1));
            let launched = sim
                .cloud
                .instance(id)
                .map(|v| v.launched_at_ms)
                .unwrap_or(0);
            if reclaim[0] >= launched + 120_000 {
                assert_eq!(reclaim[0] - warn[0], 120_000);
                seen += 1;
            } else {
                assert_eq!(
                    warn[0], launched,
                    "an early notice is clamped to the launch"
                );
            }
            assert!(sim.log.iter().any(|(_, n)| *n
                == Notice::InstanceTerminated {
                    instance: id,
                    reason: TerminationReason::SpotReclaimed
                }));
        }
        assert!(seen > 10);
    }

    #[test]
    fn spot_interruption_times_follow_the_pool_hazard() {
        // λ = 0.5/h ⇒ mean time to reclaim 2 h.
        let mut sim = Sim::new(spot_cfg(0.5, 0.0, 0.0));
        let n = 1500;
        let ids: Vec<InstanceId> = (0..n)
            .map(|_| sim.launch_one(&spot_pco(&[("c5.xlarge", A)])))
            .collect();
        sim.run_until(1000 * 3_600_000);
        let mean_h = ids
            .iter()
            .map(|id| {
                let v = sim.cloud.instance(*id).expect("exists");
                (v.shutting_down_at_ms.expect("reclaimed") - v.launched_at_ms) as f64 / 3_600_000.0
            })
            .sum::<f64>()
            / n as f64;
        assert!((mean_h - 2.0).abs() < 0.15, "mean {mean_h} h");
    }

    #[test]
    fn rebalance_recommendation_precedes_or_accompanies_the_warning() {
        // q = 1: always earlier (or at the launch when clamped); q = 0: together with the notice.
        for (q, earlier) in [(1.0, true), (0.0, false)] {
            let mut sim = Sim::new(spot_cfg(0.2, q, 0.0));
            let ids: Vec<InstanceId> = (0..50)
                .map(|_| sim.launch_one(&spot_pco(&[("c5.xlarge", A)])))
                .collect();
            sim.run_until(1000 * 3_600_000);
            let mut strictly_before = 0;
            for id in ids {
                let rb = sim.times_of(|n| *n == Notice::RebalanceRecommendation { instance: id });
                let warn = sim.times_of(|n| *n == Notice::SpotInterruptionWarning { instance: id });
                assert_eq!((rb.len(), warn.len()), (1, 1), "q={q}");
                assert!(rb[0] <= warn[0]);
                if rb[0] < warn[0] {
                    strictly_before += 1;
                }
            }
            assert_eq!(strictly_before > 40, earlier, "q={q}: {strictly_before}");
        }
    }

    #[test]
    fn correlated_reclaim_takes_pool_mates_with_it() {
        for (c, expect_all) in [(1.0, true), (0.0, false)] {
            let mut sim = Sim::new(spot_cfg(0.01, 0.0, c));
            let ids: Vec<InstanceId> = (0..10)
                .map(|_| sim.launch_one(&spot_pco(&[("c5.xlarge", A)])))
                .collect();
            sim.run_until(11_000);
            // Run until the first reclaim.
            let mut t = 11_000;
            while sim
                .times_of(|n| matches!(n, Notice::InstanceShuttingDown { .. }))
                .is_empty()
            {
                t += 3_600_000;
                sim.run_until(t);
            }
            let first = sim.times_of(|n| matches!(n, Notice::InstanceShuttingDown { .. }))[0];
            let reclaimed_then = ids
                .iter()
                .filter(|id| {
                    sim.cloud.instance(**id).and_then(|v| v.shutting_down_at_ms) == Some(first)
                })
                .count();
            if expect_all {
                assert_eq!(reclaimed_then, 10, "c=1: the whole pool goes together");
                assert_eq!(
                    sim.times_of(|n| matches!(n, Notice::SpotInterruptionWarning { .. }))
                        .len(),
                    10
                );
            } else {
                assert_eq!(reclaimed_then, 1, "c=0: independent");
            }
        }
    }

    #[test]
    fn spot_interruptions_off_or_overridden() {
        let mut cfg = spot_cfg(5.0, 0.5, 0.0);
        cfg.spot.interruptions = false;
        let mut sim = Sim::new(cfg);
        sim.launch_one(&spot_pco(&[("c5.xlarge", A)]));
        sim.run_until(100 * 3_600_000);
        assert!(
            sim.log
                .iter()
                .all(|(_, n)| !matches!(n, Notice::SpotInterruptionWarning { .. }))
        );

        // The pool hazard is 0, the override makes it 10/h: reclaimed within hours.
        let mut cfg = spot_cfg(0.0, 0.0, 0.0);
        cfg.spot.override_per_hour = Some(10.0);
        let mut sim = Sim::new(cfg);
        let id = sim.launch_one(&spot_pco(&[("c5.xlarge", A)]));
        sim.run_until(10 * 3_600_000);
        assert_eq!(
            sim.cloud.instance(id).and_then(|v| v.termination_reason),
            Some(TerminationReason::SpotReclaimed)
        );
    }

    #[test]
    fn on_demand_instances_are_never_interrupted() {
        let mut cfg = spot_cfg(10.0, 0.5, 0.5);
        cfg.pools.push(PoolSpec {
            interruption_per_hour: 10.0,
            ..pool("c5.xlarge", A, OD, 0.17)
        });
        let mut sim = Sim::new(cfg);
        let id = sim.launch_one(&od(&[("c5.xlarge", A)]));
        sim.run_until(100 * 3_600_000);
        assert_eq!(
            sim.cloud.instance(id).map(|v| v.state),
            Some(InstanceState::Running)
        );
    }

    #[test]
    fn spot_reclaimed_asg_instance_is_replaced() {
        let mut cfg = spot_cfg(1.0, 0.0, 0.0);
        cfg.pools[0].capacity_score = 1.0;
        let mut sim = Sim::new(cfg);
        sim.create_asg(asg_spec("s", &["c5.xlarge"], SPOT, &[A], 0, 5));
        sim.set_desired("s", 1).expect("in range");
        sim.run_until(6_000);
        let first = sim.asg("s").instances[0];
        sim.run_until(100 * 3_600_000);
        assert_eq!(
            sim.cloud.instance(first).and_then(|v| v.termination_reason),
            Some(TerminationReason::SpotReclaimed)
        );
        let v = sim.asg("s");
        assert_eq!((v.desired, v.instances.len()), (1, 1));
        assert!(
            sim.cloud.instances().len() > 2,
            "replaced after each reclaim"
        );
    }
}
