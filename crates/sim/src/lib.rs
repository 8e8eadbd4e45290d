//! The simulation: one scenario, one autoscaler, run on the virtual clock.
//!
//! `Simulation` owns the event queue, the cluster, the mock EC2, the autoscaler and the
//! recorder. It is the only place that turns state changes into future events, so every flow
//! (a pod from creation to running, an instance from launch to Ready, a node from cordon to
//! termination) can be read here from top to bottom.

mod error;
mod hpa;
mod nodes;
pub mod run;
mod setup;
mod termination;
mod workloads;

pub use error::RunError;
pub use setup::mock_config;
use termination::Deletion;
use workloads::sample_duration;

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use asim_cluster::autoscaler::{Autoscaler, Ctx, Effects, NodeBlueprint};
use asim_cluster::scheduler::SchedulerSettings;
use asim_cluster::{
    Cluster, ControllerRef, EndReason, NodeId, NodeOwner, OwnerKind, PodId, PodPhase, PodTemplate,
    terminal_phase,
};
use asim_core::cloud::latency::LatencyModel;
use asim_core::cloud::mock::MockEc2;
use asim_core::cloud::{Cloud, CloudRngs, InstanceId};
use asim_core::engine::{EventQueue, RngStreams, SimTime, Stream};
use asim_core::k8s::resources::Resources;
use asim_report::{NodeRecord, Recorder, Sample};
use asim_workload::Scenario;

/// How often the timeseries is sampled.
pub const SAMPLE_EVERY_MS: u64 = 60_000;

#[derive(Debug)]
enum Event {
    Timeline(u32),
    Generator(u32),
    TraceArrival {
        trace: u32,
        job: u32,
    },
    PodQueued(PodId),
    SchedulerPass,
    PodRunning(PodId),
    PodCompleted(PodId),
    PodGone(PodId),
    Cloud(asim_core::cloud::CloudTimer),
    Autoscaler(u64),
    Drain(NodeId),
    Sample,
    /// The HorizontalPodAutoscaler controller's sync (every `syncPeriod`).
    HpaSync,
}

pub struct Simulation<'s> {
    pub scenario: &'s Scenario,
    queue: EventQueue<Event>,
    rng: RngStreams,
    pub cluster: Cluster,
    /// The mock EC2, or live mode's cloud ([`Simulation::with_cloud`]).
    pub cloud: Box<dyn Cloud + 's>,
    autoscaler: Box<dyn Autoscaler + 's>,
    pub recorder: Recorder,
    latency: LatencyModel,
    blueprints: BTreeMap<InstanceId, NodeBlueprint>,
    instance_nodes: BTreeMap<InstanceId, NodeId>,
    node_records: BTreeMap<NodeId, usize>,
    instance_records: BTreeMap<InstanceId, usize>,
    deletions: BTreeMap<NodeId, Deletion>,
    pass_pending: bool,
    /// Controller index of each workload that exists (by workload index).
    controllers: BTreeMap<usize, ControllerRef>,
    /// Per-pod run time overriding the template's (generators and traces).
    run_ms: BTreeMap<PodId, u64>,
    trace_templates: BTreeMap<(u32, i64, i64, i64), Arc<PodTemplate>>,
    /// DaemonSet pods that did not fit on their node: pending, pinned to it.
    ds_pinned: BTreeMap<NodeId, Vec<PodId>>,
    /// Each HPA's controller state (stabilization and scale events), by `scenario.hpas` index.
    hpas: Vec<asim_cluster::hpa::Autoscaler>,
    /// What the HPAs did: `t_s,hpa,from,to,reason` rows (`hpa.csv`).
    pub hpa_log: Vec<String>,
    pub events: u64,
    end: SimTime,
}

impl<'s> Simulation<'s> {
    pub fn new(
        scenario: &'s Scenario,
        autoscaler: Box<dyn Autoscaler + 's>,
    ) -> Result<Self, RunError> {
        let latency = scenario.spec.cloud.latency.unwrap_or_default();
        let cloud = MockEc2::new(mock_config(scenario, latency))?;
        Ok(Self::with_cloud(scenario, autoscaler, Box::new(cloud)))
    }

    /// A simulation whose cloud is `cloud` instead of the mock EC2 built from the scenario
    /// (live mode, docs/live.md). Everything else is as [`Simulation::new`].
    pub fn with_cloud(
        scenario: &'s Scenario,
        autoscaler: Box<dyn Autoscaler + 's>,
        cloud: Box<dyn Cloud + 's>,
    ) -> Self {
        let sched = SchedulerSettings {
            scoring: scenario.spec.scheduler.scoring.unwrap_or_default(),
            percentage_of_nodes_to_score: scenario.spec.scheduler.percentage_of_nodes_to_score,
        };
        let latency = scenario.spec.cloud.latency.unwrap_or_default();
        Simulation {
            scenario,
            queue: EventQueue::new(),
            rng: RngStreams::new(scenario.seed),
            cluster: Cluster::new(sched),
            cloud,
            autoscaler,
            recorder: Recorder::default(),
            latency,
            blueprints: BTreeMap::new(),
            instance_nodes: BTreeMap::new(),
            node_records: BTreeMap::new(),
            instance_records: BTreeMap::new(),
            deletions: BTreeMap::new(),
            pass_pending: false,
            controllers: BTreeMap::new(),
            run_ms: BTreeMap::new(),
            trace_templates: BTreeMap::new(),
            ds_pinned: BTreeMap::new(),
            hpas: scenario.hpas.iter().map(|h| h.controller.clone()).collect(),
            hpa_log: Vec::new(),
            events: 0,
            end: SimTime(scenario.duration_ms),
        }
    }

    /// The time of the next event, if any (a wall-clock driver sleeps until it).
    pub fn next_event_time(&mut self) -> Option<SimTime> {
        self.queue.peek_time()
    }

    pub fn now(&self) -> SimTime {
        self.queue.now()
    }

    /// Run to the scenario's end. `progress` hears the simulated time and the events processed
    /// so far every 10 simulated minutes and every 1,024 events (often
    /// enough for an interrupt to stop a run within a second); when it answers
    /// [`ControlFlow::Break`], the run ends there, its books closed at the time reached, and
    /// that time is returned.
    pub fn run(
        &mut self,
        mut progress: impl FnMut(SimTime, u64) -> ControlFlow<()>,
    ) -> Option<SimTime> {
        self.start();
        let mut next_progress = 0u64;
        while let Some(now) = self.step() {
            if now.0 >= next_progress || self.events.is_multiple_of(1_024) {
                if progress(now, self.events).is_break() {
                    self.stop_at(now);
                    return Some(now);
                }
                next_progress = now.0 + 600_000;
            }
        }
        self.finish();
        let _ = progress(self.end, self.events);
        None
    }

    /// Process the next event, if any is due before the end. Returns its time.
    pub fn step(&mut self) -> Option<SimTime> {
        let t = self.queue.peek_time()?;
        if t > self.end {
            return None;
        }
        let (now, ev) = self.queue.pop()?;
        self.events += 1;
        self.handle(now, ev);
        self.recorder.integrate(now, self.cluster.totals());
        Some(now)
    }

    /// Close the books at the scenario's end.
    pub fn finish(&mut self) {
        self.recorder.integrate(self.end, self.cluster.totals());
    }

    /// End the run early at `at` (a driver was stopped: an interrupt, a limit, a live run's
    /// error): the books close there, and the report covers the time reached.
    pub fn stop_at(&mut self, at: SimTime) {
        self.end = at.min(self.end);
        self.finish();
    }

    // ---- workloads ---------------------------------------------------------------------------

    fn request_pass(&mut self, now: SimTime) {
        if !self.pass_pending {
            self.pass_pending = true;
            self.queue.schedule(now, Event::SchedulerPass);
        }
    }

    // ---- the event loop ------------------------------------------------------------------------

    fn handle(&mut self, now: SimTime, ev: Event) {
        match ev {
            Event::PodQueued(p) => {
                if self.cluster.pod(p).phase == PodPhase::Pending {
                    self.cluster.pod_mut(p).queued = true;
                    self.request_pass(now);
                }
            }
            Event::SchedulerPass => {
                self.pass_pending = false;
                let result = self.cluster.schedule_pass(now);
                for (pod, node) in &result.bound {
                    self.pod_bound(now, *pod, *node);
                }
                // Preemption victims are deleted gracefully and counted as evicted
                // (docs/model/scheduler.md §2); their controllers recreate them.
                for pre in &result.preempted {
                    for v in &pre.victims {
                        self.terminate_pod(now, *v, EndReason::Evicted);
                    }
                }
                if !result.newly_unschedulable.is_empty() {
                    let pods = result.newly_unschedulable;
                    self.with_ctx(now, |a, ctx| a.on_pods_unschedulable(ctx, &pods));
                }
            }
            Event::PodRunning(p) => {
                if self.cluster.pod(p).phase == PodPhase::Starting {
                    self.cluster.mark_running(p, now);
                    let run = self.run_ms.get(&p).copied().or(self
                        .cluster
                        .pod(p)
                        .template
                        .duration_ms);
                    if let Some(ms) = run {
                        self.queue.schedule(now + ms, Event::PodCompleted(p));
                    }
                }
            }
            Event::PodCompleted(p) => {
                if self.cluster.pod(p).phase == PodPhase::Running {
                    let ctrl = self.cluster.end_pod(p, now, PodPhase::Succeeded);
                    self.run_ms.remove(&p);
                    self.after_pod_end(now, ctrl, false);
                }
            }
            Event::PodGone(p) => {
                let pod = self.cluster.pod(p);
                if pod.phase == PodPhase::Terminating {
                    let reason = pod.end_reason.unwrap_or(EndReason::Deleted);
                    let ctrl = self.cluster.end_pod(p, now, terminal_phase(reason));
                    if reason == EndReason::Evicted {
                        self.recorder.pods_evicted += 1;
                    }
                    self.run_ms.remove(&p);
                    self.after_pod_end(now, ctrl, reason == EndReason::Evicted);
                }
            }
            Event::Timeline(i) => self.apply_action(now, i as usize),
            Event::Generator(i) => {
                let g = &self.scenario.generators[i as usize];
                let ordinal = self.cluster.pods.len();
                let name = format!("{}-{ordinal:06x}", g.name);
                let template = Arc::clone(&g.template);
                let run = g
                    .duration
                    .clone()
                    .map(|d| sample_duration(&d, self.rng.get(Stream::Workload)));
                let id = self
                    .cluster
                    .create_pod(now, name, template, OwnerKind::None, 0, false);
                if let Some(ms) = run {
                    self.run_ms.insert(id, ms);
                }
                self.pod_created(now, id);
                let (rate, until) = (g.rate_per_ms, g.until_ms);
                let next = now.0 + self.next_gap(rate);
                if next < until {
                    self.queue.schedule(SimTime(next), Event::Generator(i));
                }
            }
            Event::TraceArrival { trace, job } => {
                let t = &self.scenario.traces[trace as usize];
                let j = &t.jobs[job as usize];
                let key = (trace, j.cpu_m, j.memory_bytes, j.gpu);
                let template = match self.trace_templates.get(&key) {
                    Some(t) => Arc::clone(t),
                    None => {
                        let mut tpl = (*t.base).clone();
                        let mut r = Resources::new(j.cpu_m, j.memory_bytes);
                        r.pods = 1;
                        if j.gpu > 0 {
                            r.set(asim_core::k8s::resources::NVIDIA_GPU, j.gpu);
                        }
                        tpl.requests = r;
                        let a = Arc::new(tpl);
                        self.trace_templates.insert(key, Arc::clone(&a));
                        a
                    }
                };
                let id = self.cluster.create_pod(
                    now,
                    j.name.clone(),
                    template,
                    OwnerKind::None,
                    0,
                    false,
                );
                if let Some(ms) = j.duration_ms {
                    self.run_ms.insert(id, ms);
                }
                self.pod_created(now, id);
                if let Some(next) = t.jobs.get(job as usize + 1) {
                    self.queue.schedule(
                        SimTime(next.arrival_ms),
                        Event::TraceArrival {
                            trace,
                            job: job + 1,
                        },
                    );
                }
            }
            Event::Cloud(timer) => {
                let [latency, spot, alloc] = self.rng.cloud();
                let mut rngs = CloudRngs {
                    latency,
                    spot,
                    alloc,
                };
                let notices = self.cloud.on_timer(now.0, timer, &mut rngs);
                self.schedule_cloud_timers();
                for n in notices {
                    self.handle_notice(now, n);
                }
            }
            Event::Autoscaler(token) => self.with_ctx(now, |a, ctx| a.on_timer(ctx, token)),
            Event::Drain(node) => self.drain(now, node),
            Event::HpaSync => self.hpa_sync(now),
            Event::Sample => {
                self.sample(now);
                if now.0 + SAMPLE_EVERY_MS <= self.end.0 {
                    self.queue.schedule(now + SAMPLE_EVERY_MS, Event::Sample);
                }
            }
        }
    }

    fn schedule_cloud_timers(&mut self) {
        for (at, t) in self.cloud.take_timers() {
            self.queue.schedule(SimTime(at), Event::Cloud(t));
        }
    }

    /// Run an autoscaler callback with a fresh context, then carry out what it asked for.
    fn with_ctx(&mut self, now: SimTime, f: impl FnOnce(&mut dyn Autoscaler, &mut Ctx<'_>)) {
        let mut effects = Effects::default();
        {
            let own = self.autoscaler.rng_stream();
            let [rng, latency, spot, alloc] = self.rng.own_and_cloud(own);
            let mut ctx = Ctx::new(
                now,
                &mut self.cluster,
                &mut *self.cloud,
                &self.latency,
                &mut effects,
                rng,
                CloudRngs {
                    latency,
                    spot,
                    alloc,
                },
            );
            f(self.autoscaler.as_mut(), &mut ctx);
        }
        let Effects {
            timers,
            blueprints: new_blueprints,
            deletions,
            aborted_drains,
            drains,
            notices,
        } = effects;
        if self.cluster.take_node_relaxed() {
            self.request_pass(now);
        }
        for (at, token) in timers {
            self.queue.schedule(at, Event::Autoscaler(token));
        }
        for (instance, bp) in new_blueprints {
            if let Some(view) = self.cloud.instance(instance) {
                self.recorder.nodes.push(NodeRecord {
                    name: bp.name.clone(),
                    instance_type: view.pool.instance_type.clone(),
                    zone: view.pool.zone.clone(),
                    capacity_type: view.pool.capacity_type.as_str().into(),
                    owner: match &bp.owner {
                        NodeOwner::NodeClaim { nodepool, .. } => format!("nodepool/{nodepool}"),
                        NodeOwner::NodeGroup(g) => format!("nodegroup/{g}"),
                        NodeOwner::Unmanaged => "unmanaged".into(),
                    },
                    price_per_hour: view.price_per_hour,
                    launched_at: SimTime(view.launched_at_ms),
                    registered_at: None,
                    ready_at: None,
                    terminated_at: None,
                    termination_reason: None,
                });
                self.instance_records
                    .insert(instance, self.recorder.nodes.len() - 1);
            }
            self.blueprints.insert(instance, bp);
        }
        self.schedule_cloud_timers();
        for node in aborted_drains {
            self.abort_drain(now, node);
        }
        for (node, reason, opts) in deletions {
            self.begin_deletion(now, node, reason, opts);
        }
        for (node, opts) in drains {
            self.begin_drain(now, node, opts);
        }
        for n in notices {
            self.handle_notice(now, n);
        }
    }

    /// The autoscaler's decision log.
    pub fn decisions(&self) -> &asim_cluster::autoscaler::DecisionLines {
        self.autoscaler.decisions()
    }

    fn sample(&mut self, now: SimTime) {
        // Kept by the cluster: a 5,000-node day samples 1,440 times.
        let nodes = self.cluster.node_count() as u64;
        let ready = self.cluster.ready_node_count() as u64;
        let spot = self.cluster.spot_node_count() as u64;
        debug_assert_eq!(
            (ready, spot),
            self.cluster.nodes().fold((0, 0), |(r, s), n| (
                r + u64::from(n.ready),
                s + u64::from(asim_cluster::is_spot(n))
            )),
            "the cluster's node counts are stale"
        );
        self.recorder.note_nodes(nodes);
        // Kept by the cluster: a day creates ~150,000 pods, too many to scan every minute.
        let running = self.cluster.running_count() as u64;
        debug_assert_eq!(
            running,
            self.cluster
                .pods
                .iter()
                .filter(|p| p.phase == PodPhase::Running)
                .count() as u64
        );
        let t = self.cluster.totals();
        let frac = |a: i64, b: i64| if b > 0 { a as f64 / b as f64 } else { 0.0 };
        let cost = self.cloud.cost_usd(now.0);
        self.recorder.samples.push(Sample {
            t_s: now.0 / 1000,
            nodes,
            nodes_ready: ready,
            nodes_spot: spot,
            pending_pods: self.cluster.pending_count() as u64,
            running_pods: running,
            cost_rate_usd_per_hour: self.cloud.hourly_rate(),
            cost_usd: cost.total_usd,
            cpu_utilization: frac(t.requested_cpu_m, t.allocatable_cpu_m),
            memory_utilization: frac(t.requested_memory, t.allocatable_memory),
        });
    }
}

impl Simulation<'_> {
    /// The report of a finished run (docs/design.md §10), assembled by the report crate from
    /// what the run recorded.
    pub fn report(&self, autoscaler: &str) -> asim_report::Report {
        asim_report::assemble(&asim_report::RunData {
            scenario: &self.scenario.name,
            autoscaler,
            seed: self.scenario.seed,
            end: self.end,
            cluster: &self.cluster,
            recorder: &self.recorder,
            cost: self.cloud.cost_usd(self.end.0),
        })
    }
}
