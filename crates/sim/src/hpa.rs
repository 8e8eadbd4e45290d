//! The HorizontalPodAutoscaler controller's sync, driven on the virtual clock: every
//! `syncPeriod` each HPA reads its target's replicas, its pods and its metrics' values now,
//! and the replica count `asim_cluster::hpa` decides is applied as a `kubectl scale` would
//! (docs/model/hpa.md).

use asim_cluster::hpa::{PodState, Reason, replicas_for_metric};
use asim_cluster::{ControllerRef, PodPhase};
use asim_core::engine::SimTime;

use crate::{Event, Simulation};

impl Simulation<'_> {
    pub(crate) fn hpa_sync(&mut self, now: SimTime) {
        let delay = self.scenario.hpa_new_pod_metrics_delay_ms;
        let tolerance = self.scenario.hpa_settings.tolerance;
        for (i, def) in self.scenario.hpas.iter().enumerate() {
            // A workload applied later by the timeline has no controller yet.
            let Some(&ctrl) = self.controllers.get(&def.workload) else {
                continue;
            };
            let ControllerRef::Replicas(r) = ctrl else {
                continue;
            };
            let rs = &self.cluster.replica_sets[r as usize];
            let current = rs.replicas;
            // `groupPods`: pods not running (or going away) are left out; a pod running for
            // less than the metrics delay has no sample yet.
            let states: Vec<PodState> = rs
                .pods
                .iter()
                .map(|p| {
                    let pod = &self.cluster.pods[p.0 as usize];
                    match (pod.phase, pod.running_at) {
                        (PodPhase::Running, Some(t)) if now.0 >= t.0 + delay => PodState::Ready,
                        (PodPhase::Running, Some(_)) => PodState::MissingMetrics,
                        _ => PodState::Ignored,
                    }
                })
                .collect();
            // The largest count any readable metric asks for.
            let by_metrics = def
                .metrics
                .iter()
                .filter_map(|(m, series)| {
                    let value = series.as_ref()?.at(now);
                    replicas_for_metric(current, &states, value, m, tolerance)
                })
                .max();
            let (desired, reason) = self.hpas[i].sync(now, current, by_metrics);
            if desired == current {
                continue;
            }
            self.hpa_log.push(format!(
                "{:.3},{}/{},{current},{desired},{}",
                now.0 as f64 / 1000.0,
                def.namespace,
                def.name,
                match reason {
                    Reason::BelowMin => "below minReplicas",
                    Reason::AboveMax => "above maxReplicas",
                    _ => "metrics",
                }
            ));
            self.cluster.replica_sets[r as usize].replicas = desired;
            self.reconcile(now, ctrl, false);
        }
        let next = now + self.scenario.hpa_settings.sync_period_ms;
        if next.0 <= self.end.0 {
            self.queue.schedule(next, Event::HpaSync);
        }
    }
}
