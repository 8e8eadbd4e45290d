//! The cluster-state registry (docs/model/cluster-autoscaler.md §3.7, §3.8): per node group, the
//! readiness of its registered nodes, the scale-up requests still in flight, the "upcoming"
//! nodes that keep the same capacity from being requested twice, and the exponential backoff
//! of groups whose scale-ups failed.

use std::collections::BTreeMap;

use asim_core::engine::SimTime;

use crate::nodegroup::GroupId;

pub use crate::flags::BackoffSettings;

/// One group's backoff record (`exponentialBackoffInfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffInfo {
    pub duration_ms: u64,
    pub until: SimTime,
    pub last_failure: SimTime,
}

/// `utils/backoff/exponential_backoff.go` as §3.8 describes it.
#[derive(Clone, Debug, Default)]
pub struct ExponentialBackoff {
    pub settings: BackoffSettings,
    info: BTreeMap<GroupId, BackoffInfo>,
}

impl ExponentialBackoff {
    pub fn new(settings: BackoffSettings) -> Self {
        ExponentialBackoff {
            settings,
            info: BTreeMap::new(),
        }
    }

    /// Record a failure of `group` at `now`; returns the backoff duration now in force.
    /// A failure while still backed off keeps the duration; a failure after the backoff
    /// expired doubles it (capped); a record older than the reset timeout starts over.
    pub fn backoff(&mut self, group: GroupId, now: SimTime) -> u64 {
        let s = self.settings;
        let duration = match self.info.get(&group) {
            Some(b) if now.since(b.last_failure) < s.reset_ms => {
                if now < b.until {
                    b.duration_ms
                } else {
                    b.duration_ms.saturating_mul(2).min(s.max_ms)
                }
            }
            _ => s.initial_ms,
        };
        self.info.insert(
            group,
            BackoffInfo {
                duration_ms: duration,
                until: now + duration,
                last_failure: now,
            },
        );
        duration
    }

    pub fn is_backed_off(&self, group: GroupId, now: SimTime) -> bool {
        self.info.get(&group).is_some_and(|b| now < b.until)
    }

    pub fn info(&self, group: GroupId) -> Option<&BackoffInfo> {
        self.info.get(&group)
    }

    /// `RemoveStaleBackoffData`: forget groups with no failure for the reset timeout.
    pub fn remove_stale(&mut self, now: SimTime) {
        let reset = self.settings.reset_ms;
        self.info
            .retain(|_, b| now < b.until || now.since(b.last_failure) < reset);
    }
}

/// A scale-up in flight (`ScaleUpRequest`, §3.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScaleUpRequest {
    pub increase: u32,
    pub time: SimTime,
    pub expected_add: SimTime,
}

/// Registered nodes of one group by readiness (`updateReadinessStats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    pub ready: u32,
    /// Registered, not Ready, created within `max-node-startup-time`: still upcoming.
    pub not_started: u32,
    /// Registered, not Ready, older than `max-node-startup-time`.
    pub unready: u32,
    /// Instances that never registered within `max-node-provision-time`.
    pub long_unregistered: u32,
}

/// What `update_scale_requests` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestOutcome {
    /// All requested nodes arrived.
    Done,
    /// `ExpectedAddTime` passed with `outstanding` nodes still upcoming.
    TimedOut { outstanding: u32 },
}

#[derive(Clone, Debug, Default)]
pub struct ClusterState {
    pub requests: BTreeMap<GroupId, ScaleUpRequest>,
    pub backoff: ExponentialBackoff,
    /// Indexed by `GroupId.0`.
    pub readiness: Vec<Readiness>,
}

impl ClusterState {
    pub fn new(groups: usize, backoff: BackoffSettings) -> Self {
        ClusterState {
            requests: BTreeMap::new(),
            backoff: ExponentialBackoff::new(backoff),
            readiness: vec![Readiness::default(); groups],
        }
    }

    /// `GetUpcomingNodes`: target − (Ready + Unready + LongUnregistered); NotStarted nodes and
    /// instances not yet registered are upcoming. A backed-off group contributes none (§3.8:
    /// "its upcoming nodes are no longer injected").
    pub fn upcoming(&self, group: GroupId, target: u32, now: SimTime) -> u32 {
        if self.backoff.is_backed_off(group, now) {
            return 0;
        }
        let r = self.readiness.get(group.0).copied().unwrap_or_default();
        target.saturating_sub(r.ready + r.unready + r.long_unregistered)
    }

    /// `areThereUpcomingNodesInNodeGroup`: how many of the target are not yet provisioned,
    /// provisioned meaning registered and started (Ready or Unready). Unlike [`Self::upcoming`]
    /// it counts instances that never registered (LongUnregistered) as still to come, and
    /// ignores backoff: a scale-up whose instances never register is not "done", it times out
    /// (cluster-autoscaler: clusterstate/clusterstate.go, `updateScaleRequests`, §3.7).
    pub fn not_provisioned(&self, group: GroupId, target: u32) -> u32 {
        let r = self.readiness.get(group.0).copied().unwrap_or_default();
        target.saturating_sub(r.ready + r.unready)
    }

    /// `registerOrUpdateScaleUp`: a later scale-up of the same group adds to the request and
    /// resets its clock.
    pub fn register_scale_up(
        &mut self,
        group: GroupId,
        delta: u32,
        now: SimTime,
        provision_ms: u64,
    ) {
        let r = self.requests.entry(group).or_insert(ScaleUpRequest {
            increase: 0,
            time: now,
            expected_add: now,
        });
        r.increase += delta;
        r.time = now;
        r.expected_add = now + provision_ms;
    }

    /// `RegisterFailedScaleUp`: back the group off and drop its request.
    pub fn register_failed_scale_up(&mut self, group: GroupId, now: SimTime) -> u64 {
        self.requests.remove(&group);
        self.backoff.backoff(group, now)
    }

    /// `updateScaleRequests`: a request with no upcoming nodes left succeeded; one past its
    /// expected add time timed out (the caller backs the group off and reverts the target).
    pub fn update_scale_requests(
        &mut self,
        now: SimTime,
        upcoming: impl Fn(GroupId) -> u32,
    ) -> Vec<(GroupId, RequestOutcome)> {
        let mut out = Vec::new();
        let groups: Vec<GroupId> = self.requests.keys().copied().collect();
        for g in groups {
            let Some(r) = self.requests.get(&g).copied() else {
                continue;
            };
            let u = upcoming(g);
            if u == 0 {
                self.requests.remove(&g);
                out.push((g, RequestOutcome::Done));
            } else if r.expected_add <= now {
                self.requests.remove(&g);
                out.push((
                    g,
                    RequestOutcome::TimedOut {
                        outstanding: u.min(r.increase),
                    },
                ));
            }
        }
        out
    }

    /// `IsClusterHealthy`: unhealthy when more than `ok_unready` nodes are unready **and** they
    /// are more than `max_unready_pct` % of all registered nodes (§2.2 step 6).
    pub fn is_healthy(&self, ok_unready: u32, max_unready_pct: f64) -> bool {
        let (mut unready, mut total) = (0u32, 0u32);
        for r in &self.readiness {
            unready += r.unready + r.long_unregistered;
            total += r.ready + r.unready + r.not_started + r.long_unregistered;
        }
        let pct = if total == 0 {
            0.0
        } else {
            f64::from(unready) * 100.0 / f64::from(total)
        };
        !(unready > ok_unready && pct > max_unready_pct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;
    const G: GroupId = GroupId(0);

    #[test]
    fn backoff_doubles_after_expiry_and_caps_at_thirty_minutes() {
        let mut b = ExponentialBackoff::new(BackoffSettings::default());
        let mut t = SimTime(0);
        let mut seen = Vec::new();
        for _ in 0..5 {
            let d = b.backoff(G, t);
            seen.push(d / MIN);
            t = t + d + 1;
        }
        assert_eq!(seen, vec![5, 10, 20, 30, 30]);
    }

    #[test]
    fn failure_during_backoff_keeps_the_duration() {
        let mut b = ExponentialBackoff::new(BackoffSettings::default());
        assert_eq!(b.backoff(G, SimTime(0)), 5 * MIN);
        assert_eq!(b.backoff(G, SimTime(MIN)), 5 * MIN);
        assert!(b.is_backed_off(G, SimTime(5 * MIN)));
        assert!(!b.is_backed_off(G, SimTime(6 * MIN)));
    }

    #[test]
    fn backoff_resets_after_three_hours_without_failure() {
        let mut b = ExponentialBackoff::new(BackoffSettings::default());
        b.backoff(G, SimTime(0));
        b.backoff(G, SimTime(6 * MIN));
        assert_eq!(b.info(G).map(|i| i.duration_ms), Some(10 * MIN));
        let later = SimTime(6 * MIN + 3 * 60 * MIN + 1);
        b.remove_stale(later);
        assert!(b.info(G).is_none());
        assert_eq!(b.backoff(G, later), 5 * MIN);
    }

    #[test]
    fn upcoming_counts_target_minus_registered_and_none_when_backed_off() {
        let mut cs = ClusterState::new(1, BackoffSettings::default());
        cs.readiness[0] = Readiness {
            ready: 2,
            not_started: 1,
            unready: 0,
            long_unregistered: 0,
        };
        assert_eq!(cs.upcoming(G, 5, SimTime(0)), 3);
        cs.register_failed_scale_up(G, SimTime(0));
        assert_eq!(cs.upcoming(G, 5, SimTime(1)), 0);
    }

    #[test]
    fn request_times_out_after_provision_time() {
        let mut cs = ClusterState::new(1, BackoffSettings::default());
        cs.register_scale_up(G, 3, SimTime(0), 15 * MIN);
        assert!(cs.update_scale_requests(SimTime(MIN), |_| 3).is_empty());
        let out = cs.update_scale_requests(SimTime(15 * MIN), |_| 2);
        assert_eq!(out, vec![(G, RequestOutcome::TimedOut { outstanding: 2 })]);
    }
}
