//! The HorizontalPodAutoscaler controller (autoscaling/v2), as kube-controller-manager runs it
//! (kubernetes: `pkg/controller/podautoscaler`, `horizontal.go` and `replica_calculator.go`;
//! docs/model/hpa.md). Pure: the simulation hands it the time, the target's replica count, its
//! pods' states and the metric values, and applies the replica count it returns.
//!
//! Each sync (every `--horizontal-pod-autoscaler-sync-period`, 15 s):
//! 1. a replica count per metric (`replicas_for_metric`): the usage ratio against the target,
//!    within the tolerance (0.1) no change; pods not yet running ignored; pods whose metrics
//!    are not in yet taken as using nothing on a scale-up and their whole request on a
//!    scale-down; no change when that correction flips the direction;
//! 2. the largest over the metrics;
//! 3. outside `[minReplicas, maxReplicas]` the bound at once; otherwise the `behavior`:
//!    stabilization (the lowest recommendation of the scale-up window, the highest of the
//!    scale-down window — 300 s by default), then the rate policies (by default +100 % or +4
//!    pods per 15 s whichever is more, −100 % per 15 s), then the bounds.

use asim_core::engine::SimTime;

/// Which way a policy limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyType {
    Pods,
    Percent,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub kind: PolicyType,
    pub value: u32,
    pub period_ms: u64,
}

/// `selectPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectPolicy {
    Max,
    Min,
    Disabled,
}

/// `behavior.scaleUp` / `behavior.scaleDown`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalingRules {
    pub stabilization_ms: u64,
    pub select: SelectPolicy,
    pub policies: Vec<Policy>,
}

impl ScalingRules {
    /// The API server's default scale-up: no stabilization, +100 % or +4 pods per 15 s,
    /// whichever allows more (kubernetes: `pkg/apis/autoscaling/v2/defaults.go`).
    pub fn default_up() -> ScalingRules {
        ScalingRules {
            stabilization_ms: 0,
            select: SelectPolicy::Max,
            policies: vec![
                Policy {
                    kind: PolicyType::Percent,
                    value: 100,
                    period_ms: 15_000,
                },
                Policy {
                    kind: PolicyType::Pods,
                    value: 4,
                    period_ms: 15_000,
                },
            ],
        }
    }

    /// The default scale-down: `stabilization_ms` (the controller's
    /// `--horizontal-pod-autoscaler-downscale-stabilization`, 300 s), −100 % per 15 s.
    pub fn default_down(stabilization_ms: u64) -> ScalingRules {
        ScalingRules {
            stabilization_ms,
            select: SelectPolicy::Max,
            policies: vec![Policy {
                kind: PolicyType::Percent,
                value: 100,
                period_ms: 15_000,
            }],
        }
    }
}

/// What a metric's target is.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// `Utilization`: percent of the pods' request (Resource metrics only).
    Utilization(f64),
    /// `AverageValue`: per pod.
    AverageValue(f64),
    /// `Value`: the metric as a whole (Object and External metrics).
    Value(f64),
}

/// Where a metric comes from, which decides how pods are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `Resource` (and `ContainerResource`): from each pod, against its request.
    Resource,
    /// `Pods`: a value from each pod.
    Pods,
    /// `Object` and `External`: one value for the whole target.
    External,
}

/// One entry of `spec.metrics`, with the value the simulation reads for it.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricTarget {
    pub source: Source,
    /// `cpu`, `memory`, or the metric's name.
    pub name: String,
    pub target: Target,
    /// Each pod's request of the resource, in the metric's unit (Resource metrics).
    pub request: f64,
}

/// A pod of the target as the replica calculator sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodState {
    /// Pending, failed or being deleted: left out (`groupPods`).
    Ignored,
    /// Running, but metrics-server has no sample covering it yet.
    MissingMetrics,
    /// Running with a metric.
    Ready,
}

/// The controller's knobs (kube-controller-manager flags).
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub sync_period_ms: u64,
    pub tolerance: f64,
    pub downscale_stabilization_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            sync_period_ms: 15_000,
            tolerance: 0.1,
            downscale_stabilization_ms: 300_000,
        }
    }
}

/// The replica count one metric asks for, or `None` when it cannot say (no pod with metrics,
/// no request to compare with): the controller then leaves that metric out.
///
/// `total` is the metric summed over the target's running pods (Resource and Pods metrics:
/// each running pod reports `total / running`) or the metric itself (External).
pub fn replicas_for_metric(
    current: u32,
    pods: &[PodState],
    total: f64,
    m: &MetricTarget,
    tolerance: f64,
) -> Option<u32> {
    let running = pods.iter().filter(|p| **p != PodState::Ignored).count();
    let ready = pods.iter().filter(|p| **p == PodState::Ready).count();
    match m.source {
        Source::External => external(current, ready, total, &m.target, tolerance),
        Source::Resource | Source::Pods => {
            if running == 0 || ready == 0 {
                return None; // "did not receive metrics for targeted pods"
            }
            let per_pod = total / running as f64;
            // Per-pod usage and the per-pod target in the same unit.
            let (usage, target) = match (&m.target, m.source) {
                (Target::Utilization(pct), Source::Resource) => {
                    if m.request <= 0.0 {
                        return None; // "missing request for cpu"
                    }
                    (per_pod, m.request * pct / 100.0)
                }
                (Target::AverageValue(v), _) => (per_pod, *v),
                _ => return None,
            };
            if target <= 0.0 {
                return None;
            }
            let missing = running - ready;
            let ratio = usage / target;
            if missing == 0 {
                if (1.0 - ratio).abs() <= tolerance {
                    return Some(current);
                }
                return Some(ceil(ratio * ready as f64));
            }
            // Pods without metrics: nothing on a scale-up, their whole target (or request,
            // when the target is above 100 %) on a scale-down (`GetResourceReplicas`); at a
            // ratio of exactly 1 they are not counted at all.
            let (fill, counted) = if ratio < 1.0 {
                let fill = match &m.target {
                    Target::Utilization(pct) => m.request * pct.max(100.0) / 100.0,
                    _ => target,
                };
                (fill, running)
            } else if ratio > 1.0 {
                (0.0, running)
            } else {
                (0.0, ready)
            };
            let n = counted as f64;
            let new_ratio = (usage * ready as f64 + fill * (counted - ready) as f64) / n / target;
            if (1.0 - new_ratio).abs() <= tolerance
                || (ratio < 1.0 && new_ratio > 1.0)
                || (ratio > 1.0 && new_ratio < 1.0)
            {
                return Some(current);
            }
            let replicas = ceil(new_ratio * n);
            // Never move against the direction the metric points to.
            if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
                return Some(current);
            }
            Some(replicas)
        }
    }
}

/// `GetExternalMetricReplicas` / `GetObjectMetricReplicas`.
fn external(
    current: u32,
    ready: usize,
    value: f64,
    target: &Target,
    tolerance: f64,
) -> Option<u32> {
    match target {
        Target::Value(t) if *t > 0.0 => {
            let ratio = value / t;
            if current == 0 {
                return Some(ceil(ratio));
            }
            if (1.0 - ratio).abs() <= tolerance {
                return Some(current);
            }
            Some(ceil(ratio * ready as f64))
        }
        Target::AverageValue(t) if *t > 0.0 => {
            let ratio = value / (t * current.max(1) as f64);
            if (1.0 - ratio).abs() <= tolerance {
                return Some(current);
            }
            Some(ceil(value / t))
        }
        _ => None,
    }
}

/// Is an event at `t` inside the window of `window_ms` that ends at `now` (after `now − window`,
/// as Go's `timestamp.After(cutoff)`)?
fn within(t: SimTime, window_ms: u64, now: SimTime) -> bool {
    t.0 + window_ms > now.0
}

fn ceil(x: f64) -> u32 {
    if !x.is_finite() || x <= 0.0 {
        return 0;
    }
    // A ratio computed as 3.0000000000000004 must not ask for a fourth pod.
    let r = (x * 1e9).round() / 1e9;
    r.ceil().min(u32::MAX as f64) as u32
}

/// One HPA's memory between syncs: its recommendations (for stabilization) and the scale
/// events of the last policy periods (for the rate limits).
#[derive(Clone, Debug, Default)]
pub struct History {
    recommendations: Vec<(SimTime, u32)>,
    up_events: Vec<(SimTime, u32)>,
    down_events: Vec<(SimTime, u32)>,
}

/// An HPA, reduced to what its controller decides with.
#[derive(Clone, Debug)]
pub struct Autoscaler {
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub up: ScalingRules,
    pub down: ScalingRules,
    pub history: History,
}

/// Why a sync ended where it did (for the decision log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The target has 0 replicas and `minReplicas` is not 0: the HPA does not act.
    ScalingDisabled,
    BelowMin,
    AboveMax,
    /// No metric could be read.
    NoMetrics,
    /// The metrics, after stabilization and the policies.
    Metrics,
}

impl Autoscaler {
    /// One sync at `now`: the replica count the target should have. `desired_by_metrics` is the
    /// largest of the metrics' answers (`None` if none could answer).
    pub fn sync(
        &mut self,
        now: SimTime,
        current: u32,
        desired_by_metrics: Option<u32>,
    ) -> (u32, Reason) {
        if current == 0 && self.min_replicas != 0 {
            return (current, Reason::ScalingDisabled);
        }
        let (desired, reason) = if current > self.max_replicas {
            (self.max_replicas, Reason::AboveMax)
        } else if current < self.min_replicas {
            (self.min_replicas, Reason::BelowMin)
        } else {
            match desired_by_metrics {
                None => (current, Reason::NoMetrics),
                Some(d) => (self.normalize(now, current, d), Reason::Metrics),
            }
        };
        if desired > current {
            self.history.up_events.push((now, desired - current));
        } else if desired < current {
            self.history.down_events.push((now, current - desired));
        }
        (desired, reason)
    }

    /// `normalizeDesiredReplicasWithBehaviors`: stabilize, then limit the rate, then bound.
    fn normalize(&mut self, now: SimTime, current: u32, proposed: u32) -> u32 {
        let stabilized = self.stabilize(now, current, proposed);
        self.limit_rate(now, current, stabilized)
    }

    /// The recommendation may rise only as far as the lowest of the scale-up window and fall
    /// only as far as the highest of the scale-down window (`stabilizeRecommendationWithBehaviors`).
    fn stabilize(&mut self, now: SimTime, current: u32, proposed: u32) -> u32 {
        let mut up = proposed;
        let mut down = proposed;
        for &(t, r) in &self.history.recommendations {
            if within(t, self.up.stabilization_ms, now) {
                up = up.min(r);
            }
            if within(t, self.down.stabilization_ms, now) {
                down = down.max(r);
            }
        }
        let longest = self.up.stabilization_ms.max(self.down.stabilization_ms);
        self.history
            .recommendations
            .retain(|(t, _)| within(*t, longest, now));
        self.history.recommendations.push((now, proposed));
        current.max(up).min(down)
    }

    fn limit_rate(&mut self, now: SimTime, current: u32, desired: u32) -> u32 {
        let longest = self
            .up
            .policies
            .iter()
            .chain(&self.down.policies)
            .map(|p| p.period_ms)
            .max()
            .unwrap_or(0);
        self.history
            .up_events
            .retain(|(t, _)| within(*t, longest, now));
        self.history
            .down_events
            .retain(|(t, _)| within(*t, longest, now));
        if desired > current {
            let limit = self.scale_up_limit(now, current).max(current);
            desired.min(limit).min(self.max_replicas)
        } else if desired < current {
            let limit = self.scale_down_limit(now, current).min(current);
            desired.max(limit).max(self.min_replicas)
        } else {
            desired
        }
    }

    /// Replicas added and removed within the last `period_ms`.
    fn changes(&self, now: SimTime, period_ms: u64) -> (u32, u32) {
        let sum = |ev: &[(SimTime, u32)]| {
            ev.iter()
                .filter(|(t, _)| within(*t, period_ms, now))
                .map(|(_, n)| *n)
                .sum::<u32>()
        };
        (sum(&self.history.up_events), sum(&self.history.down_events))
    }

    /// `calculateScaleUpLimitWithScalingRules`: each policy from the count at the start of its
    /// period; `Max` picks the loosest, `Min` the tightest.
    fn scale_up_limit(&self, now: SimTime, current: u32) -> u32 {
        if self.up.select == SelectPolicy::Disabled || self.up.policies.is_empty() {
            return current;
        }
        let limits = self.up.policies.iter().map(|p| {
            let (added, removed) = self.changes(now, p.period_ms);
            let start = (current + removed).saturating_sub(added);
            match p.kind {
                PolicyType::Pods => start.saturating_add(p.value),
                PolicyType::Percent => ceil(start as f64 * (1.0 + p.value as f64 / 100.0)),
            }
        });
        match self.up.select {
            SelectPolicy::Min => limits.min().unwrap_or(current),
            _ => limits.max().unwrap_or(current),
        }
    }

    /// `calculateScaleDownLimitWithBehaviors`: `Max` picks the policy that removes the most
    /// (the lowest floor), `Min` the one that removes the least.
    fn scale_down_limit(&self, now: SimTime, current: u32) -> u32 {
        if self.down.select == SelectPolicy::Disabled || self.down.policies.is_empty() {
            return current;
        }
        let limits = self.down.policies.iter().map(|p| {
            let (added, removed) = self.changes(now, p.period_ms);
            let start = (current + removed).saturating_sub(added) as i64;
            let floor = match p.kind {
                PolicyType::Pods => start - p.value as i64,
                // Truncated, as the Go conversion of a float to an integer.
                PolicyType::Percent => (start as f64 * (1.0 - p.value as f64 / 100.0)) as i64,
            };
            floor.max(0) as u32
        });
        match self.down.select {
            SelectPolicy::Min => limits.max().unwrap_or(current),
            _ => limits.min().unwrap_or(current),
        }
    }
}

/// A metric's value over time: the load the workload serves (for Resource and Pods metrics,
/// summed over its pods), or an Object/External metric's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Series {
    Constant(f64),
    /// `min + (max − min) × (1 + cos(2π (t − peak) / period)) / 2`: a day (or any period) that
    /// peaks at `peak_ms`.
    Diurnal {
        min: f64,
        max: f64,
        peak_ms: u64,
        period_ms: u64,
    },
    /// Straight lines between points (time, value), held before the first and after the last.
    Linear(Vec<(u64, f64)>),
    /// Each value held until the next (samples, as a scraper records them).
    Steps(Vec<(u64, f64)>),
}

impl Series {
    pub fn at(&self, t: SimTime) -> f64 {
        let t = t.0;
        match self {
            Series::Constant(v) => *v,
            Series::Diurnal {
                min,
                max,
                peak_ms,
                period_ms,
            } => {
                let period = (*period_ms).max(1);
                // The phase in whole milliseconds first: exact on every platform.
                let phase = (t + period - peak_ms % period) % period;
                let angle = std::f64::consts::TAU * phase as f64 / period as f64;
                min + (max - min) * (1.0 + asim_core::math::cos(angle)) / 2.0
            }
            Series::Linear(points) => {
                let Some(first) = points.first() else {
                    return 0.0;
                };
                if t <= first.0 {
                    return first.1;
                }
                for w in points.windows(2) {
                    let ((t0, v0), (t1, v1)) = (w[0], w[1]);
                    if t <= t1 {
                        if t1 == t0 {
                            return v1;
                        }
                        return v0 + (v1 - v0) * (t - t0) as f64 / (t1 - t0) as f64;
                    }
                }
                points.last().map_or(0.0, |p| p.1)
            }
            Series::Steps(points) => {
                let i = points.partition_point(|(pt, _)| *pt <= t);
                match i {
                    0 => points.first().map_or(0.0, |p| p.1),
                    i => points[i - 1].1,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(pct: f64) -> MetricTarget {
        MetricTarget {
            source: Source::Resource,
            name: "cpu".into(),
            target: Target::Utilization(pct),
            request: 1.0,
        }
    }

    fn hpa(min: u32, max: u32, down_window_ms: u64) -> Autoscaler {
        Autoscaler {
            min_replicas: min,
            max_replicas: max,
            up: ScalingRules::default_up(),
            down: ScalingRules::default_down(down_window_ms),
            history: History::default(),
        }
    }

    #[test]
    fn at_a_ratio_of_exactly_one_pods_without_metrics_change_nothing() {
        // 3 running pods sharing 0.975 cores at a 0.325-core target: ratio 1; one has metrics.
        let pods = [
            PodState::Ready,
            PodState::MissingMetrics,
            PodState::MissingMetrics,
        ];
        let m = MetricTarget {
            source: Source::Resource,
            name: "cpu".into(),
            target: Target::Utilization(65.0),
            request: 0.5,
        };
        assert_eq!(replicas_for_metric(3, &pods, 0.975, &m, 0.1), Some(3));
    }

    #[test]
    fn steps_hold_each_sample_until_the_next() {
        let s = Series::Steps(vec![(0, 1.0), (60_000, 5.0)]);
        assert_eq!(s.at(SimTime(59_999)), 1.0);
        assert_eq!(s.at(SimTime(60_000)), 5.0);
        let l = Series::Linear(vec![(0, 0.0), (10_000, 10.0)]);
        assert_eq!(l.at(SimTime(2_500)), 2.5);
        assert_eq!(l.at(SimTime(20_000)), 10.0);
    }

    #[test]
    fn a_diurnal_series_peaks_at_its_peak_and_bottoms_half_a_period_later() {
        let d = Series::Diurnal {
            min: 2.0,
            max: 10.0,
            peak_ms: 14 * 3_600_000,
            period_ms: 24 * 3_600_000,
        };
        assert!((d.at(SimTime(14 * 3_600_000)) - 10.0).abs() < 1e-9);
        assert!((d.at(SimTime(2 * 3_600_000)) - 2.0).abs() < 1e-9);
        assert!((d.at(SimTime(20 * 3_600_000)) - 6.0).abs() < 1e-9);
    }

    #[test]
    fn missing_metrics_count_as_zero_on_a_scale_up_only() {
        // 3 pods with metrics at 150 % of a 50 % target... and one new pod without metrics.
        let pods = [
            PodState::Ready,
            PodState::Ready,
            PodState::Ready,
            PodState::MissingMetrics,
        ];
        // total 4.0 cores over 4 running pods = 1.0 core each = 200 % of the 50 % target.
        let r = replicas_for_metric(4, &pods, 4.0, &cpu(50.0), 0.1);
        // Ready pods at ratio 2, the new one at 0: (2+2+2+0)/4 = 1.5 → ceil(1.5 × 4) = 6.
        assert_eq!(r, Some(6));
        // Pending pods are left out altogether.
        let r = replicas_for_metric(
            4,
            &[PodState::Ready, PodState::Ignored],
            0.5,
            &cpu(50.0),
            0.1,
        );
        assert_eq!(r, Some(4), "ratio 1.0: within tolerance");
    }

    #[test]
    fn rate_limits_count_from_the_start_of_their_period() {
        let mut h = hpa(1, 100, 0);
        // Default scale-up: max(+100 %, +4) per 15 s.
        let (d, _) = h.sync(SimTime(0), 2, Some(50));
        assert_eq!(d, 6, "2 + 4 pods beats 2 × 2");
        let (d, _) = h.sync(SimTime(5_000), 6, Some(50));
        assert_eq!(d, 6, "within the same 15 s the period started at 2 pods");
        let (d, _) = h.sync(SimTime(15_001), 6, Some(50));
        assert_eq!(d, 12, "a new period: 6 × 2");
    }
}
