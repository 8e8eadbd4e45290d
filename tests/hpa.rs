//! The HorizontalPodAutoscaler controller (docs/model/hpa.md), rule by rule, each against the
//! upstream controller (kubernetes: `pkg/controller/podautoscaler/horizontal.go` and
//! `replica_calculator.go`), then whole runs: a diurnal load's replica curve against an
//! independent calculation, and the errors a bad HPA gets.

mod common;

use autoscale_sim::cluster::hpa::{
    Autoscaler, History, MetricTarget, PodState, Policy, PolicyType, Reason, ScalingRules,
    SelectPolicy, Source, Target, replicas_for_metric,
};
use autoscale_sim::engine::SimTime;
use autoscale_sim::workload::AutoscalerKind;

fn cpu(pct: f64) -> MetricTarget {
    MetricTarget {
        source: Source::Resource,
        name: "cpu".into(),
        target: Target::Utilization(pct),
        request: 1.0,
    }
}

fn ready(n: usize) -> Vec<PodState> {
    vec![PodState::Ready; n]
}

fn hpa(min: u32, max: u32) -> Autoscaler {
    Autoscaler {
        min_replicas: min,
        max_replicas: max,
        up: ScalingRules::default_up(),
        down: ScalingRules::default_down(300_000),
        history: History::default(),
    }
}

/// `replica_calculator.go`: a usage ratio within the tolerance (0.1) of 1 changes nothing;
/// beyond it, ceil(ratio × ready pods).
#[test]
fn a_usage_ratio_within_the_tolerance_keeps_the_replicas() {
    // 10 pods, 1-core requests, target 50 %: 5.4 cores is 54 % (ratio 1.08).
    assert_eq!(
        replicas_for_metric(10, &ready(10), 5.4, &cpu(50.0), 0.1),
        Some(10)
    );
    // 5.6 cores: ratio 1.12 → ceil(11.2) = 12.
    assert_eq!(
        replicas_for_metric(10, &ready(10), 5.6, &cpu(50.0), 0.1),
        Some(12)
    );
    // Down: 4.4 cores, ratio 0.88 → ceil(8.8) = 9.
    assert_eq!(
        replicas_for_metric(10, &ready(10), 4.4, &cpu(50.0), 0.1),
        Some(9)
    );
    // A tighter tolerance acts on the 8 %.
    assert_eq!(
        replicas_for_metric(10, &ready(10), 5.4, &cpu(50.0), 0.05),
        Some(11)
    );
}

/// `GetResourceReplicas`: pods whose metrics are not in yet count as using nothing on a
/// scale-up and as their whole request on a scale-down; no change if that flips the direction.
#[test]
fn pods_without_metrics_damp_the_change_and_never_reverse_it() {
    let mut pods = ready(4);
    pods.extend([PodState::MissingMetrics; 4]);
    // 8 running pods share 3.6 cores: 0.45 each, ratio 0.9 of the 0.5-core target, within
    // the tolerance: unchanged.
    assert_eq!(replicas_for_metric(8, &pods, 3.6, &cpu(50.0), 0.1), Some(8));
    // 2.0 cores: 0.25 each, ratio 0.5 → a scale-down; the 4 new pods count at 100 % of the
    // request (ratio 2), so the corrected ratio (4 × 0.5 + 4 × 2) / 8 = 1.25 flips the
    // direction: no change.
    assert_eq!(replicas_for_metric(8, &pods, 2.0, &cpu(50.0), 0.1), Some(8));
    // Pending pods are left out altogether: 2 running pods at 1 core each = ratio 2 → 4.
    let mixed = [
        PodState::Ready,
        PodState::Ready,
        PodState::Ignored,
        PodState::Ignored,
    ];
    assert_eq!(
        replicas_for_metric(4, &mixed, 2.0, &cpu(50.0), 0.1),
        Some(4)
    );
    // No pod with metrics: the metric cannot be read.
    assert_eq!(
        replicas_for_metric(4, &[PodState::Ignored; 4], 2.0, &cpu(50.0), 0.1),
        None
    );
}

/// `horizontal.go`: outside [minReplicas, maxReplicas] the bound applies at once, whatever the
/// metrics say; inside, the metrics (stabilized, rate-limited) are capped by the bounds.
#[test]
fn min_and_max_replicas_bound_the_count() {
    let mut h = hpa(3, 10);
    assert_eq!(h.sync(SimTime(0), 1, Some(1)), (3, Reason::BelowMin));
    assert_eq!(
        h.sync(SimTime(15_000), 14, Some(14)),
        (10, Reason::AboveMax)
    );
    assert_eq!(h.sync(SimTime(30_000), 10, Some(50)).0, 10, "capped at max");
    let mut h = hpa(3, 10);
    assert_eq!(h.sync(SimTime(0), 4, Some(1)).0, 3, "floored at min");
    // A target scaled to 0 while minReplicas > 0: the HPA does not act (ScalingDisabled).
    assert_eq!(
        h.sync(SimTime(15_000), 0, Some(5)),
        (0, Reason::ScalingDisabled)
    );
}

/// `stabilizeRecommendationWithBehaviors`: a scale-down goes no lower than the highest
/// recommendation of the last 300 s (`--horizontal-pod-autoscaler-downscale-stabilization`).
#[test]
fn a_scale_down_waits_for_the_stabilization_window() {
    let mut h = hpa(1, 100);
    assert_eq!(h.sync(SimTime(0), 10, Some(10)).0, 10);
    // The load drops: the metrics ask for 4 from 15 s on.
    let mut t = 15_000;
    while t < 300_000 {
        assert_eq!(h.sync(SimTime(t), 10, Some(4)).0, 10, "held at {t} ms");
        t += 15_000;
    }
    // 300 s after the last recommendation of 10, the window holds only 4s.
    assert_eq!(h.sync(SimTime(300_000), 10, Some(4)).0, 4);
    // A scale-up is not held back (scale-up window 0).
    assert_eq!(
        h.sync(SimTime(315_000), 4, Some(9)).0,
        8,
        "but rate-limited: max(4 + 4, 4 × 2)"
    );
}

/// `calculateScaleUpLimitWithScalingRules` and its scale-down twin: each policy counts from the
/// replicas at the start of its period; `selectPolicy` picks the loosest (Max) or the
/// tightest (Min), and Disabled stops that direction.
#[test]
fn scaling_policies_limit_the_rate_per_period() {
    let mut h = hpa(1, 1000);
    h.up = ScalingRules {
        stabilization_ms: 0,
        select: SelectPolicy::Min,
        policies: vec![
            Policy {
                kind: PolicyType::Pods,
                value: 2,
                period_ms: 60_000,
            },
            Policy {
                kind: PolicyType::Percent,
                value: 50,
                period_ms: 60_000,
            },
        ],
    };
    // From 10: +2 pods (12) or +50 % (15); Min picks 12.
    assert_eq!(h.sync(SimTime(0), 10, Some(40)).0, 12);
    // Within the same minute the period still started at 10: no more room.
    assert_eq!(h.sync(SimTime(30_000), 12, Some(40)).0, 12);
    // A new period from 12: +2.
    assert_eq!(h.sync(SimTime(60_001), 12, Some(40)).0, 14);

    // Scale-down: 10 % per 60 s, no stabilization; Disabled blocks it.
    let mut h = hpa(1, 1000);
    h.down = ScalingRules {
        stabilization_ms: 0,
        select: SelectPolicy::Max,
        policies: vec![Policy {
            kind: PolicyType::Percent,
            value: 10,
            period_ms: 60_000,
        }],
    };
    assert_eq!(h.sync(SimTime(0), 100, Some(10)).0, 90);
    assert_eq!(
        h.sync(SimTime(15_000), 90, Some(10)).0,
        90,
        "the period started at 100"
    );
    h.down.select = SelectPolicy::Disabled;
    assert_eq!(h.sync(SimTime(120_000), 90, Some(10)).0, 90);
}

/// A day of load on a roomy static cluster (pods start in seconds): the replica curve the
/// simulation gives, against the algorithm computed here independently — ideal pods ready at
/// once, ceil(load / (request × target)) beyond the tolerance, scale-downs held for 5 minutes.
#[test]
fn a_diurnal_load_gives_the_replica_curve_the_algorithm_predicts() {
    let text = r#"
apiVersion: autoscale-sim/v1alpha1
kind: Scenario
metadata: {name: hpa-diurnal}
spec:
  seed: 3
  duration: 24h
  staticNodes: [{instanceType: m5.4xlarge, count: 12}]
  metrics:
    - target: {deployment: web}
      metric: cpu
      diurnal: {min: 3, max: 30, peakAt: 14h}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 5
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - {name: app, image: nginx, resources: {requests: {cpu: "1", memory: 512Mi}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 80
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
"#;
    let l = common::load_text(text);
    let out = autoscale_sim::run::run_to_end(&l.sc, AutoscalerKind::None).expect("run");
    // The simulated replicas at time t (ms): the last scale at or before t.
    let log: Vec<(u64, u32)> = out
        .sim
        .hpa_log
        .iter()
        .map(|row| {
            let f: Vec<&str> = row.split(',').collect();
            (
                (f[0].parse::<f64>().expect("t") * 1000.0).round() as u64,
                f[3].parse().expect("to"),
            )
        })
        .collect();
    let simulated = |t: u64| {
        log.iter()
            .rev()
            .find(|(at, _)| *at <= t)
            .map_or(5, |(_, r)| *r)
    };

    // The independent calculation: load(t) = 3 + 27 (1 + cos(2π (t − 14h) / 24h)) / 2 cores.
    let load = |t: u64| {
        let x = 2.0 * std::f64::consts::PI * (t as f64 - 14.0 * 3600e3) / 86_400e3;
        3.0 + 27.0 * (1.0 + asim_core::math::cos(x)) / 2.0
    };
    let mut ideal = Vec::new();
    let mut r: u32 = 5;
    let mut recs: Vec<(u64, u32)> = Vec::new();
    let mut t = 15_000;
    while t <= 86_400_000 {
        let ratio = load(t) / (r as f64 * 0.5);
        let want = if (1.0 - ratio).abs() <= 0.1 {
            r
        } else {
            (ratio * r as f64).ceil() as u32
        };
        recs.retain(|(at, _)| at + 300_000 > t);
        let held = recs.iter().map(|(_, x)| *x).max().unwrap_or(want).max(want);
        recs.push((t, want));
        r = if want > r { want } else { held.min(r) }.clamp(2, 80);
        ideal.push((t, r));
        t += 15_000;
    }
    let peak_ideal = ideal.iter().map(|x| x.1).max().expect("peak");
    let peak_sim = log.iter().map(|x| x.1).max().expect("the HPA scaled");
    assert!(
        peak_sim.abs_diff(peak_ideal) <= 2,
        "peak: simulated {peak_sim}, predicted {peak_ideal}"
    );
    // Hour by hour (after the first), the simulated count stays within 15 % (or 2 pods) of the
    // prediction: pod start-up and metrics delays lag it by a sync or two.
    for h in 1..24u64 {
        let t = h * 3_600_000;
        let want = ideal
            .iter()
            .rev()
            .find(|(at, _)| *at <= t)
            .map_or(5, |x| x.1);
        let got = simulated(t);
        let slack = (want as f64 * 0.15).ceil().max(2.0) as u32;
        assert!(
            got.abs_diff(want) <= slack,
            "hour {h}: simulated {got}, predicted {want} (load {:.1} cores)",
            load(t)
        );
    }
    // It rises to the afternoon peak and falls back at night.
    assert!(simulated(14 * 3_600_000) > 3 * simulated(2 * 3_600_000));
    // The run's hpa.csv is what the sim logged.
    assert!(
        out.sim
            .hpa_log
            .iter()
            .all(|r| r.starts_with(|c: char| c.is_ascii_digit()))
    );
}

#[test]
fn a_bad_hpa_gets_a_located_error() {
    let base = |hpa: &str| {
        format!(
            r#"apiVersion: autoscale-sim/v1alpha1
kind: Scenario
metadata: {{name: hpa-bad}}
spec:
  duration: 1h
  staticNodes: [{{instanceType: m5.large, count: 1}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: a, image: x, resources: {{requests: {{cpu: 100m}}}}}}]
---
{hpa}"#
        )
    };
    let cases = [
        (
            "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\nspec:\n  scaleTargetRef: {kind: Deployment, name: nope}\n  maxReplicas: 3\n",
            "no Deployment named \"nope\"",
        ),
        (
            "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\nspec:\n  scaleTargetRef: {kind: Deployment, name: web}\n  minReplicas: 5\n  maxReplicas: 3\n",
            "minReplicas ≤ maxReplicas",
        ),
        (
            "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\nspec:\n  scaleTargetRef: {kind: Deployment, name: web}\n  maxReplicas: 3\n  behavior:\n    scaleDown:\n      policies: [{type: Seconds, value: 1, periodSeconds: 60}]\n",
            "expected Pods or Percent",
        ),
    ];
    for (hpa, needle) in cases {
        let e = common::load_error(&base(hpa));
        assert!(
            e.contains(needle) && e.contains("scenario.yaml:"),
            "{hpa}\n→ {e}"
        );
    }
    // An HPA with no values for its metric loads, with a warning naming it.
    let ok = "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\nspec:\n  scaleTargetRef: {kind: Deployment, name: web}\n  maxReplicas: 3\n";
    let l = common::load_text(&base(ok));
    assert!(
        l.sc.warnings
            .iter()
            .any(|w| w.contains("no values for metric \"cpu\"")),
        "{:?}",
        l.sc.warnings
    );
}

/// A Prometheus `query_range` response (two pods' CPU, summed per sample) drives an HPA: the
/// load goes from 3 to 12 cores at 2 minutes, and web (1-core pods at 50 %) scales to 24.
#[test]
fn a_prometheus_range_response_drives_an_hpa() {
    let text = r#"
apiVersion: autoscale-sim/v1alpha1
kind: Scenario
metadata: {name: hpa-prom}
spec:
  duration: 20m
  staticNodes: [{instanceType: m5.8xlarge, count: 4}]
  metrics:
    - target: {deployment: web}
      metric: cpu
      prometheus: web-cpu.json
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: a, image: x, resources: {requests: {cpu: "1"}}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 50
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
"#;
    let json = common::read(&common::repo("tests/fixtures/hpa/web-cpu.json"));
    let l = common::try_load_text(text, &[("web-cpu.json", json)]).expect("loads");
    let out = autoscale_sim::run::run_to_end(&l.sc, AutoscalerKind::None).expect("run");
    let last: u32 = out
        .sim
        .hpa_log
        .last()
        .and_then(|r| r.split(',').nth(3))
        .and_then(|x| x.parse().ok())
        .expect("the HPA scaled");
    assert_eq!(last, 24, "{:?}", out.sim.hpa_log);
    // A bad sample is located in the file.
    let bad = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"lots"]]}]}}"#;
    let e = common::try_load_text(text, &[("web-cpu.json", bad.to_string())])
        .err()
        .expect("a bad sample is an error");
    assert!(
        e.contains("web-cpu.json") && e.contains("values[0]") && e.contains("\"lots\""),
        "{e}"
    );
}
