//! The simulation: one scenario, one autoscaler, run on the virtual clock.
//!
//! `Simulation` owns the event queue, the cluster, the mock EC2, the autoscaler and the
//! recorder. It is the only place that turns state changes into future events, so every flow
//! (a pod from creation to running, an instance from launch to Ready, a node from cordon to
//! termination) can be read here from top to bottom.

pub mod run;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand_distr::{Distribution, Exp, LogNormal};

use asim_cluster::autoscaler::{Autoscaler, Ctx, DrainOptions, Effects, NodeBlueprint, NodeEvent};
use asim_cluster::pod::{CAPACITY_TYPE_KEY, HOSTNAME_KEY, ZONE_KEY};
use asim_cluster::scheduler::SchedulerSettings;
use asim_cluster::{
    Cluster, ControllerRef, DaemonSetController, EndReason, JobController, Node, NodeId, NodeOwner,
    OwnerKind, PodId, PodPhase, PodTemplate, ReplicaController, terminal_phase,
};
use asim_core::cloud::latency::LatencyModel;
use asim_core::cloud::mock::MockEc2;
use asim_core::cloud::{
    CapacityType, Cloud, CloudRngs, IceWindow, InstanceId, LaunchSpec, MockConfig, Notice, PoolKey,
    PoolSpec, SpotSettings, TerminationReason,
};
use asim_core::engine::{EventQueue, RngStreams, SimTime, Stream};
use asim_core::k8s::resources::Resources;
use asim_core::k8s::taints::{Taint, TaintEffect};
use asim_report::{NodeRecord, Recorder, Sample};
use asim_workload::{Action, DurationDist, Scenario, WorkloadKind};

/// How often the timeseries is sampled.
pub const SAMPLE_EVERY_MS: u64 = 60_000;
/// How often a blocked drain retries its evictions.
const DRAIN_RETRY_MS: u64 = 5_000;
/// Karpenter's terminator requeues every second and finishes no earlier than `MinDrainTime`
/// after it started (docs/model/karpenter.md §6, §11).
const TIERED_DRAIN_RETRY_MS: u64 = 1_000;
const MIN_DRAIN_MS: u64 = 5_000;
/// A pod terminating for longer than this no longer holds up a drain (§6, §11).
const STUCK_TERMINATING_MS: u64 = 60_000;

#[derive(Debug)]
enum Event {
    Timeline(u32),
    Generator(u32),
    TraceArrival { trace: u32, job: u32 },
    PodQueued(PodId),
    SchedulerPass,
    PodRunning(PodId),
    PodCompleted(PodId),
    PodGone(PodId),
    Cloud(asim_core::cloud::CloudTimer),
    Autoscaler(u64),
    Drain(NodeId),
    Sample,
}

/// Per-node drain state of a node being deleted.
struct Deletion {
    instance: Option<InstanceId>,
    opts: DrainOptions,
    started: SimTime,
}

pub struct Simulation<'s> {
    pub scenario: &'s Scenario,
    queue: EventQueue<Event>,
    rng: RngStreams,
    pub cluster: Cluster,
    pub cloud: MockEc2,
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
    pub events: u64,
    end: SimTime,
}

impl<'s> Simulation<'s> {
    pub fn new(
        scenario: &'s Scenario,
        autoscaler: Box<dyn Autoscaler + 's>,
    ) -> Result<Self, String> {
        let mut sched = SchedulerSettings::default();
        if let Some(s) = &scenario.spec.scheduler.scoring {
            sched.scoring = match s.as_str() {
                "LeastAllocated" => asim_cluster::scheduler::Scoring::LeastAllocated,
                "MostAllocated" => asim_cluster::scheduler::Scoring::MostAllocated,
                other => {
                    return Err(format!(
                        "spec.scheduler.scoring: unknown strategy {other:?} (expected LeastAllocated or MostAllocated)"
                    ));
                }
            };
        }
        let latency = scenario.spec.cloud.latency.unwrap_or_default();
        let config = mock_config(scenario, latency)?;
        let cloud = MockEc2::new(config).map_err(|e| e.to_string())?;
        Ok(Simulation {
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
            events: 0,
            end: SimTime(scenario.duration_ms),
        })
    }

    pub fn now(&self) -> SimTime {
        self.queue.now()
    }

    /// Run to the scenario's end. `progress` is called now and then with the simulated time.
    pub fn run(&mut self, mut progress: impl FnMut(SimTime)) {
        self.start();
        let mut next_progress = 0u64;
        while let Some(now) = self.step() {
            if now.0 >= next_progress {
                progress(now);
                next_progress = now.0 + 600_000;
            }
        }
        self.finish();
        progress(self.end);
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

    /// Set up time zero: nodes, workloads, the timeline, generators, traces, the autoscaler.
    pub fn start(&mut self) {
        let sc = self.scenario;
        let now = SimTime::ZERO;
        self.cluster.pdbs.extend(sc.pdbs.iter().cloned());
        // Unmanaged nodes from Node manifests exist, Ready, at time zero.
        for nd in &sc.nodes {
            let mut labels = nd.labels.clone();
            add_system_labels(&mut labels, sc.catalog.region());
            let node = Node::new(
                nd.name.clone(),
                labels,
                nd.taints.clone(),
                nd.capacity.clone(),
                nd.allocatable.clone(),
                NodeOwner::Unmanaged,
                None,
                now,
                true,
            );
            let id = self.cluster.add_node(node);
            let itype = nd
                .labels
                .get("node.kubernetes.io/instance-type")
                .cloned()
                .unwrap_or_default();
            let price = sc.catalog.get(&itype).map_or(0.0, |t| t.od_usd_per_hour);
            self.recorder.nodes.push(NodeRecord {
                name: nd.name.clone(),
                instance_type: itype,
                zone: nd.labels.get(ZONE_KEY).cloned().unwrap_or_default(),
                capacity_type: nd
                    .labels
                    .get(CAPACITY_TYPE_KEY)
                    .cloned()
                    .unwrap_or_else(|| "on-demand".into()),
                owner: "manifest".into(),
                price_per_hour: price,
                launched_at: now,
                registered_at: Some(now),
                ready_at: Some(now),
                terminated_at: None,
                termination_reason: None,
            });
            self.node_records.insert(id, self.recorder.nodes.len() - 1);
        }
        // Static instances: launched before the scenario starts, Ready at time zero.
        let mut n = 0usize;
        for s in &sc.spec.static_nodes {
            for _ in 0..s.count {
                let zone = s
                    .zone
                    .clone()
                    .unwrap_or_else(|| sc.zones[n % sc.zones.len()].clone());
                n += 1;
                self.launch_static(s, &zone, n);
            }
        }
        // Workloads that exist at time zero.
        for (i, w) in sc.workloads.iter().enumerate() {
            if w.at_start {
                self.create_workload(now, i, 0);
            }
        }
        for (i, a) in sc.timeline.iter().enumerate() {
            self.queue
                .schedule(SimTime(a.at_ms), Event::Timeline(i as u32));
        }
        for (i, g) in sc.generators.iter().enumerate() {
            let first = g.from_ms + self.next_gap(g.rate_per_ms);
            if first < g.until_ms {
                self.queue
                    .schedule(SimTime(first), Event::Generator(i as u32));
            }
        }
        for (i, t) in sc.traces.iter().enumerate() {
            if let Some(j) = t.jobs.first() {
                self.queue.schedule(
                    SimTime(j.arrival_ms),
                    Event::TraceArrival {
                        trace: i as u32,
                        job: 0,
                    },
                );
            }
        }
        self.queue.schedule(now, Event::Sample);
        self.with_ctx(now, |a, ctx| a.start(ctx));
    }

    fn launch_static(&mut self, s: &asim_workload::scenario::StaticNodes, zone: &str, n: usize) {
        let now = SimTime::ZERO;
        let Some(it) = self.scenario.catalog.get(&s.instance_type) else {
            return;
        };
        let capacity_type = if s.capacity_type == "spot" {
            CapacityType::Spot
        } else {
            CapacityType::OnDemand
        };
        let ami = s
            .ami_family
            .as_deref()
            .and_then(|a| a.parse().ok())
            .unwrap_or(asim_core::catalog::allocatable::AmiFamily::AL2023);
        let Ok(res) = asim_core::catalog::allocatable::default_node_resources(it, ami) else {
            return;
        };
        let (capacity, allocatable) = (res.capacity.to_resources(), res.allocatable.to_resources());
        let key = PoolKey::new(s.instance_type.clone(), zone, capacity_type);
        let launch = LaunchSpec {
            ami_family: ami,
            tags: BTreeMap::new(),
        };
        let [latency, spot, alloc] = self.rng.cloud();
        let mut rngs = CloudRngs {
            latency,
            spot,
            alloc,
        };
        let instance = match self
            .cloud
            .adopt_running_instance(0, &key, &launch, &mut rngs)
        {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!("static node {n}: {e}");
                return;
            }
        };
        let name = format!("static-{n}");
        let mut labels = it.labels();
        labels.extend(s.labels.clone());
        labels.insert(ZONE_KEY.into(), zone.to_string());
        labels.insert(CAPACITY_TYPE_KEY.into(), capacity_type.as_str().into());
        labels.insert(HOSTNAME_KEY.into(), name.clone());
        add_system_labels(&mut labels, self.scenario.catalog.region());
        let node = Node::new(
            name.clone(),
            labels,
            s.taints.clone(),
            capacity,
            allocatable,
            NodeOwner::Unmanaged,
            Some(instance.0),
            now,
            true,
        );
        let id = self.cluster.add_node(node);
        self.instance_nodes.insert(instance, id);
        let price = self
            .cloud
            .instance(instance)
            .map_or(0.0, |i| i.price_per_hour);
        self.recorder.nodes.push(NodeRecord {
            name,
            instance_type: s.instance_type.clone(),
            zone: zone.to_string(),
            capacity_type: capacity_type.as_str().into(),
            owner: "static".into(),
            price_per_hour: price,
            launched_at: now,
            registered_at: Some(now),
            ready_at: Some(now),
            terminated_at: None,
            termination_reason: None,
        });
        self.node_records.insert(id, self.recorder.nodes.len() - 1);
        self.instance_records
            .insert(instance, self.recorder.nodes.len() - 1);
        self.schedule_cloud_timers();
    }

    fn next_gap(&mut self, rate_per_ms: f64) -> u64 {
        match Exp::new(rate_per_ms) {
            Ok(e) => e.sample(self.rng.get(Stream::Workload)).round().max(1.0) as u64,
            Err(_) => u64::MAX / 4,
        }
    }

    // ---- workloads ---------------------------------------------------------------------------

    fn create_workload(&mut self, now: SimTime, idx: usize, occurrence: u32) {
        let w = &self.scenario.workloads[idx];
        let name = if occurrence > 0 || matches!(w.kind, WorkloadKind::Job { .. }) && !w.at_start {
            format!("{}-{}", w.name, occurrence + 1)
        } else {
            w.name.clone()
        };
        let template = Arc::clone(&w.template);
        let ctrl = match &w.kind {
            WorkloadKind::Deployment { replicas } | WorkloadKind::StatefulSet { replicas } => {
                let kind = if matches!(w.kind, WorkloadKind::Deployment { .. }) {
                    OwnerKind::ReplicaSet
                } else {
                    OwnerKind::StatefulSet
                };
                self.cluster.replica_sets.push(ReplicaController {
                    kind,
                    name,
                    namespace: w.namespace.clone(),
                    replicas: *replicas,
                    template,
                    pods: BTreeSet::new(),
                    next_ordinal: 0,
                });
                Some(ControllerRef::Replicas(
                    self.cluster.replica_sets.len() as u32 - 1,
                ))
            }
            WorkloadKind::Job {
                completions,
                parallelism,
            } => {
                self.cluster.jobs.push(JobController {
                    name,
                    namespace: w.namespace.clone(),
                    completions: *completions,
                    parallelism: *parallelism,
                    succeeded: 0,
                    template,
                    pods: BTreeSet::new(),
                    next_ordinal: 0,
                });
                Some(ControllerRef::Job(self.cluster.jobs.len() as u32 - 1))
            }
            WorkloadKind::Pod => {
                let id = self
                    .cluster
                    .create_pod(now, name, template, OwnerKind::None, 0, false);
                self.pod_created(now, id);
                None
            }
            WorkloadKind::DaemonSet => {
                self.cluster.daemonsets.push(DaemonSetController {
                    name,
                    namespace: w.namespace.clone(),
                    template,
                });
                let ds = self.cluster.daemonsets.len() - 1;
                let ready: Vec<NodeId> = self
                    .cluster
                    .nodes()
                    .filter(|n| n.ready)
                    .map(|n| n.id)
                    .collect();
                for node in ready {
                    self.place_daemon_pod(now, ds, node);
                }
                Some(ControllerRef::DaemonSet(ds as u32))
            }
        };
        if let Some(c) = ctrl {
            self.controllers.insert(idx, c);
            self.reconcile(now, c, false);
        }
    }

    fn reconcile(&mut self, now: SimTime, ctrl: ControllerRef, replaces_evicted: bool) {
        let (created, deleted) = self.cluster.reconcile(ctrl, now, replaces_evicted);
        for p in created {
            self.pod_created(now, p);
        }
        for p in deleted {
            self.terminate_pod(now, p, EndReason::Deleted);
        }
    }

    fn pod_created(&mut self, now: SimTime, pod: PodId) {
        // Stage 0: kube-scheduler takes the pod into its queue (docs/model/latency.md §3).
        let d = self
            .latency
            .unschedulable_mark
            .sample(self.rng.get(Stream::Pods));
        self.queue.schedule(now + d, Event::PodQueued(pod));
    }

    fn terminate_pod(&mut self, now: SimTime, pod: PodId, reason: EndReason) {
        self.terminate_pod_capped(now, pod, reason, None);
    }

    /// `terminate_pod` with the grace period capped at `max_grace_ms` (an eviction's
    /// `gracePeriodSeconds`).
    fn terminate_pod_capped(
        &mut self,
        now: SimTime,
        pod: PodId,
        reason: EndReason,
        max_grace_ms: Option<u64>,
    ) {
        // A pending pod ends at once (None); a bound one leaves after its grace period.
        if let Some(grace) = self.cluster.begin_termination(pod, now, reason) {
            let grace = max_grace_ms.map_or(grace, |c| grace.min(c));
            // Most pods exit well within their grace period; we take a tenth of it, at
            // least a second ([assumption]: SIGTERM handling time is not modelled).
            let d = (grace / 10).max(1000).min(grace.max(1000));
            self.queue.schedule(now + d, Event::PodGone(pod));
        }
    }

    fn place_daemon_pod(&mut self, now: SimTime, ds: usize, node: NodeId) {
        let d = &self.cluster.daemonsets[ds];
        let t = Arc::clone(&d.template);
        let Some(n) = self.cluster.node(node) else {
            return;
        };
        let tolerated = n.taints.iter().all(|taint| {
            taint.effect == TaintEffect::PreferNoSchedule
                || t.tolerations.iter().any(|tol| tol.tolerates(taint))
        });
        if !tolerated || !Cluster::node_matches_affinity(&t, n) {
            return;
        }
        let name = format!("{}-{}", d.name, n.name);
        let fits = n.requested.fits_with(&t.requests, &n.allocatable);
        let id = self
            .cluster
            .create_pod(now, name, t, OwnerKind::DaemonSet, ds as u32, false);
        if fits {
            self.cluster.pod_mut(id).queued = true;
            self.cluster.bind(id, node, now);
            self.pod_bound(now, id, node);
        } else {
            // The DaemonSet controller pins its pod to the node; it stays Pending there.
            let node_name = self
                .cluster
                .node(node)
                .map(|n| n.name.clone())
                .unwrap_or_default();
            let p = self.cluster.pod_mut(id);
            p.unschedulable_since = Some(now);
            p.unschedulable_reason =
                Some(format!("DaemonSet pod does not fit on node {node_name}"));
            self.ds_pinned.entry(node).or_default().push(id);
        }
    }

    fn pod_bound(&mut self, now: SimTime, pod: PodId, node: NodeId) {
        let p = self.cluster.pod(pod);
        let mut d = self.latency.pod_start.sample(self.rng.get(Stream::Pods));
        if let Some(n) = self.cluster.node(node) {
            for img in &p.template.images {
                if img.size > 0 && !n.images.contains(&img.name) {
                    d += self
                        .latency
                        .sample_image_pull(self.rng.get(Stream::Pods), img.size);
                }
            }
        }
        self.queue.schedule(now + d, Event::PodRunning(pod));
    }

    fn request_pass(&mut self, now: SimTime) {
        if !self.pass_pending {
            self.pass_pending = true;
            self.queue.schedule(now, Event::SchedulerPass);
        }
    }

    fn after_pod_end(&mut self, now: SimTime, ctrl: Option<ControllerRef>, evicted: bool) {
        if let Some(c) = ctrl {
            self.reconcile(now, c, evicted);
        }
        self.request_pass(now);
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
                        self.recorder.evicted_pods += 1;
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
            Event::Sample => {
                self.sample(now);
                if now.0 + SAMPLE_EVERY_MS <= self.end.0 {
                    self.queue.schedule(now + SAMPLE_EVERY_MS, Event::Sample);
                }
            }
        }
    }

    fn apply_action(&mut self, now: SimTime, i: usize) {
        let action = self.scenario.timeline[i].action.clone();
        match action {
            Action::Scale { workload, replicas } => {
                let Some(ctrl) = self.controllers.get(&workload).copied() else {
                    return;
                };
                match ctrl {
                    ControllerRef::Replicas(r) => {
                        self.cluster.replica_sets[r as usize].replicas = replicas
                    }
                    ControllerRef::Job(j) => self.cluster.jobs[j as usize].parallelism = replicas,
                    ControllerRef::DaemonSet(_) => return,
                }
                self.reconcile(now, ctrl, false);
            }
            Action::Apply {
                workload,
                occurrence,
            } => self.create_workload(now, workload, occurrence),
            Action::Delete { workload } => {
                let Some(ctrl) = self.controllers.remove(&workload) else {
                    return;
                };
                let pods: Vec<PodId> = match ctrl {
                    ControllerRef::Replicas(r) => {
                        self.cluster.replica_sets[r as usize].replicas = 0;
                        self.cluster.replica_sets[r as usize]
                            .pods
                            .iter()
                            .copied()
                            .collect()
                    }
                    ControllerRef::Job(j) => {
                        self.cluster.jobs[j as usize].completions = 0;
                        self.cluster.jobs[j as usize].pods.iter().copied().collect()
                    }
                    ControllerRef::DaemonSet(d) => self
                        .cluster
                        .pods
                        .iter()
                        .filter(|p| {
                            p.owner == OwnerKind::DaemonSet && p.owner_index == d && p.is_active()
                        })
                        .map(|p| p.id)
                        .collect(),
                };
                for p in pods {
                    self.terminate_pod(now, p, EndReason::Deleted);
                }
            }
            Action::Configure(change) => {
                // The autoscaler that owns the change's type acts on it (Karpenter: drift,
                // docs/model/karpenter.md §4.5); the others ignore it.
                self.with_ctx(now, |a, ctx| a.on_config_change(ctx, &change));
            }
        }
    }

    fn handle_notice(&mut self, now: SimTime, notice: Notice) {
        match &notice {
            // Counted at the two-minute warning: Karpenter may terminate the instance itself
            // before EC2 reclaims it.
            Notice::SpotInterruptionWarning { .. } => self.recorder.spot_interruptions += 1,
            Notice::NodeRegistered { instance } => {
                if let Some(bp) = self.blueprints.remove(instance) {
                    self.register_node(now, *instance, bp);
                }
            }
            Notice::NodeReady { instance } => {
                if let Some(node) = self.instance_nodes.get(instance).copied() {
                    self.node_ready(now, node);
                }
            }
            Notice::InstanceShuttingDown { instance, reason } => {
                let spot = *reason == TerminationReason::SpotReclaimed;
                self.blueprints.remove(instance);
                if let Some(&rec) = self.instance_records.get(instance) {
                    let r = &mut self.recorder.nodes[rec];
                    r.terminated_at.get_or_insert(now);
                    if spot {
                        r.termination_reason
                            .get_or_insert_with(|| "spot-interruption".into());
                    }
                }
                if let Some(node) = self.instance_nodes.remove(instance) {
                    self.deletions.remove(&node);
                    self.drop_pinned(now, node);
                    let owners = self.cluster.remove_node(node, now);
                    for c in owners {
                        self.reconcile(now, c, true);
                    }
                    self.request_pass(now);
                    self.with_ctx(now, |a, ctx| a.on_node_event(ctx, node, NodeEvent::Deleted));
                }
            }
            _ => {}
        }
        self.with_ctx(now, |a, ctx| a.on_cloud_notice(ctx, &notice));
    }

    fn register_node(&mut self, now: SimTime, instance: InstanceId, bp: NodeBlueprint) {
        let Some(view) = self.cloud.instance(instance) else {
            return;
        };
        let mut labels = bp.labels.clone();
        labels.insert(ZONE_KEY.into(), view.pool.zone.clone());
        labels.insert(
            CAPACITY_TYPE_KEY.into(),
            view.pool.capacity_type.as_str().into(),
        );
        labels.insert(
            "node.kubernetes.io/instance-type".into(),
            view.pool.instance_type.clone(),
        );
        labels.insert(HOSTNAME_KEY.into(), bp.name.clone());
        add_system_labels(&mut labels, self.scenario.catalog.region());
        let mut taints = bp.taints.clone();
        taints.extend(bp.startup_taints.iter().cloned());
        let node = Node::new(
            bp.name.clone(),
            labels,
            taints,
            bp.capacity.clone(),
            bp.allocatable.clone(),
            bp.owner.clone(),
            Some(instance.0),
            now,
            false,
        );
        let id = self.cluster.add_node(node);
        self.instance_nodes.insert(instance, id);
        if let Some(&rec) = self.instance_records.get(&instance) {
            self.recorder.nodes[rec].registered_at = Some(now);
            self.node_records.insert(id, rec);
        }
        self.recorder.note_nodes(self.cluster.node_count() as u64);
        self.with_ctx(now, |a, ctx| {
            a.on_node_event(ctx, id, NodeEvent::Registered)
        });
    }

    fn node_ready(&mut self, now: SimTime, node: NodeId) {
        let Some(n) = self.cluster.node_mut(node) else {
            return;
        };
        n.ready = true;
        n.ready_at = Some(now);
        if let Some(&rec) = self.node_records.get(&node) {
            self.recorder.nodes[rec].ready_at = Some(now);
        }
        for ds in 0..self.cluster.daemonsets.len() {
            self.place_daemon_pod(now, ds, node);
        }
        self.request_pass(now);
        self.with_ctx(now, |a, ctx| a.on_node_event(ctx, node, NodeEvent::Ready));
    }

    /// Cordon, taint and drain a node, then terminate its instance. Evictions respect PDBs and
    /// retry every few seconds (every second for Karpenter's tiered drain).
    fn begin_deletion(&mut self, now: SimTime, node: NodeId, reason: String, opts: DrainOptions) {
        if self.deletions.contains_key(&node) {
            return;
        }
        let Some(n) = self.cluster.node_mut(node) else {
            return;
        };
        n.unschedulable = true;
        n.deleting = true;
        if let Some(key) = opts.taint
            && !n.taints.iter().any(|t| t.key == key)
        {
            n.taints.push(Taint {
                key: key.into(),
                value: None,
                effect: TaintEffect::NoSchedule,
            });
        }
        let instance = n.instance.map(InstanceId);
        self.recorder.count_disruption(&reason);
        if let Some(&rec) = self.node_records.get(&node) {
            self.recorder.nodes[rec]
                .termination_reason
                .get_or_insert_with(|| reason.clone());
        }
        self.deletions.insert(
            node,
            Deletion {
                instance,
                opts,
                started: now,
            },
        );
        self.drain(now, node);
    }

    /// The autoscaler gave up on a drain (cluster-autoscaler's `--max-pod-eviction-time`,
    /// docs/model/cluster-autoscaler.md §4.6 step 6): the node is uncordoned and stays; the
    /// disruption it was counted as did not happen. A pending `Drain` event finds nothing.
    fn abort_drain(&mut self, now: SimTime, node: NodeId) {
        // Once the instance is being terminated (`instance: None`) there is nothing to undo.
        if self
            .deletions
            .get(&node)
            .is_none_or(|d| d.instance.is_none())
        {
            return;
        }
        let taint = self.deletions.remove(&node).and_then(|d| d.opts.taint);
        if let Some(n) = self.cluster.node_mut(node) {
            n.unschedulable = false;
            n.deleting = false;
            if let Some(key) = taint {
                n.taints.retain(|t| t.key != key);
            }
        }
        if let Some(&rec) = self.node_records.get(&node)
            && let Some(reason) = self.recorder.nodes[rec].termination_reason.take()
        {
            self.recorder.uncount_disruption(&reason);
        }
        self.request_pass(now);
    }

    /// One drain step: evict what may be evicted now; when nothing is left, terminate.
    fn drain(&mut self, now: SimTime, node: NodeId) {
        let Some(d) = self.deletions.get(&node) else {
            return;
        };
        let (opts, started) = (d.opts, d.started);
        let Some(n) = self.cluster.node(node) else {
            self.deletions.remove(&node);
            return;
        };
        let pods: Vec<PodId> = n.pods.iter().copied().collect();
        let remaining = if opts.tiered {
            self.drain_tiered(now, &pods, opts)
        } else {
            let mut remaining = 0;
            for p in pods {
                let pod = self.cluster.pod(p);
                if pod.owner == OwnerKind::DaemonSet || pod.phase == PodPhase::Terminating {
                    if pod.phase == PodPhase::Terminating {
                        remaining += 1;
                    }
                    continue;
                }
                if self.cluster.pdb_blocking(p).is_some() {
                    remaining += 1;
                    continue;
                }
                self.terminate_pod_capped(now, p, EndReason::Evicted, opts.max_grace_ms);
                remaining += 1;
            }
            remaining
        };
        let (retry, min_end) = match opts.tiered {
            true => (TIERED_DRAIN_RETRY_MS, started + MIN_DRAIN_MS),
            false => (DRAIN_RETRY_MS, now),
        };
        if remaining > 0 || now < min_end {
            let at = if remaining > 0 { now + retry } else { min_end };
            self.queue.schedule(at, Event::Drain(node));
            return;
        }
        let Some(d) = self.deletions.remove(&node) else {
            return;
        };
        match d.instance {
            Some(i) => {
                let [latency, spot, alloc] = self.rng.cloud();
                let mut rngs = CloudRngs {
                    latency,
                    spot,
                    alloc,
                };
                // An Auto Scaling group member goes through TerminateInstanceInAutoScalingGroup
                // with the desired-capacity decrement (cluster-autoscaler.md §5.5), or the
                // group would replace it; at min size the plain terminate lets it do so.
                let in_asg = self.cloud.instance(i).is_some_and(|v| v.asg.is_some());
                let result = match in_asg {
                    true => self
                        .cloud
                        .terminate_instance_in_asg(now.0, i, true, &mut rngs)
                        .or_else(|_| self.cloud.terminate_instances(now.0, &[i], &mut rngs)),
                    false => self.cloud.terminate_instances(now.0, &[i], &mut rngs),
                };
                match result {
                    Ok(notices) => {
                        self.schedule_cloud_timers();
                        for n in notices {
                            self.handle_notice(now, n);
                        }
                    }
                    Err(e) => tracing::warn!("terminate {i}: {e}"),
                }
                // The node object goes when the instance reports terminated.
                self.deletions.insert(
                    node,
                    Deletion {
                        instance: None,
                        opts: DrainOptions::default(),
                        started,
                    },
                );
            }
            None => {
                self.drop_pinned(now, node);
                let owners = self.cluster.remove_node(node, now);
                for c in owners {
                    self.reconcile(now, c, true);
                }
                if let Some(&rec) = self.node_records.get(&node) {
                    self.recorder.nodes[rec].terminated_at.get_or_insert(now);
                }
                self.with_ctx(now, |a, ctx| a.on_node_event(ctx, node, NodeEvent::Deleted));
            }
        }
    }

    /// Karpenter's terminator (docs/model/karpenter.md §6): the pods waiting for eviction are the
    /// active ones that neither are static pods nor tolerate the disrupted taint nor have been
    /// terminating for over a minute. They go in tiers — non-critical non-DaemonSet, non-critical
    /// DaemonSet, critical non-DaemonSet, critical DaemonSet — each tier only once the previous
    /// one is gone. `do-not-disrupt` pods are not evicted but still wait; PDBs are respected
    /// until the `terminationGracePeriod` deadline, from which a pod is deleted so that its own
    /// grace period ends by the deadline. Returns how many pods are still waiting.
    fn drain_tiered(&mut self, now: SimTime, pods: &[PodId], opts: DrainOptions) -> usize {
        let disrupted = opts.taint.map(|key| Taint {
            key: key.into(),
            value: None,
            effect: TaintEffect::NoSchedule,
        });
        let mut waiting: Vec<(u8, PodId)> = Vec::new();
        for &p in pods {
            let pod = self.cluster.pod(p);
            if pod.phase.is_terminal()
                || pod.owner == OwnerKind::Node
                || pod
                    .template
                    .tolerations
                    .iter()
                    .any(|t| disrupted.as_ref().is_some_and(|d| t.tolerates(d)))
            {
                continue;
            }
            if pod.phase == PodPhase::Terminating
                && pod
                    .terminating_since
                    .is_some_and(|t| now.0.saturating_sub(t.0) > STUCK_TERMINATING_MS)
            {
                continue;
            }
            let critical = matches!(
                pod.template.priority_class_name.as_deref(),
                Some("system-cluster-critical" | "system-node-critical")
            );
            let ds = pod.owner == OwnerKind::DaemonSet;
            waiting.push((u8::from(critical) * 2 + u8::from(ds), p));
        }
        let Some(tier) = waiting.iter().map(|(t, _)| *t).min() else {
            return 0;
        };
        for &(t, p) in &waiting {
            let pod = self.cluster.pod(p);
            if pod.phase == PodPhase::Terminating {
                continue;
            }
            let grace = pod.template.termination_grace_ms.max(1_000);
            if let Some(deadline) = opts.deadline
                && now.0 + grace >= deadline.0
            {
                // Past `deadline − grace`: deleted whatever blocks it, with what time is left.
                let left = deadline.0.saturating_sub(now.0).max(1_000);
                self.terminate_pod_capped(now, p, EndReason::Evicted, Some(left));
                continue;
            }
            if t != tier || pod.do_not_disrupt_active(now) || self.cluster.pdb_blocking(p).is_some()
            {
                continue;
            }
            self.terminate_pod_capped(now, p, EndReason::Evicted, opts.max_grace_ms);
        }
        waiting.len()
    }

    /// The DaemonSet controller deletes the pods of a node that is gone.
    fn drop_pinned(&mut self, now: SimTime, node: NodeId) {
        for p in self.ds_pinned.remove(&node).unwrap_or_default() {
            self.cluster.end_pod(p, now, PodPhase::Deleted);
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
                &mut self.cloud,
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
        for n in notices {
            self.handle_notice(now, n);
        }
    }

    /// The autoscaler's decision log.
    pub fn decisions(&self) -> &[String] {
        self.autoscaler.decisions()
    }

    fn sample(&mut self, now: SimTime) {
        let mut nodes = 0;
        let mut ready = 0;
        let mut spot = 0;
        for n in self.cluster.nodes() {
            nodes += 1;
            if n.ready {
                ready += 1;
            }
            if n.label(CAPACITY_TYPE_KEY) == Some("spot") {
                spot += 1;
            }
        }
        self.recorder.note_nodes(nodes);
        let running = self
            .cluster
            .pods
            .iter()
            .filter(|p| p.phase == PodPhase::Running)
            .count() as u64;
        let [rc, ac, rm, am] = self.cluster.totals();
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
            cpu_utilization: frac(rc, ac),
            memory_utilization: frac(rm, am),
        });
    }
}

/// The mock EC2's pools from the catalog: every type in every scenario zone, on-demand, plus spot
/// where the Spot Advisor has data (docs/design.md §5).
fn mock_config(scenario: &Scenario, latency: LatencyModel) -> Result<MockConfig, String> {
    use asim_workload::scenario::Interruptions;
    let mut pools = Vec::new();
    for t in scenario.catalog.types() {
        for z in &scenario.zones {
            pools.push(PoolSpec::new(
                PoolKey::new(t.name.clone(), z.clone(), CapacityType::OnDemand),
                t.od_usd_per_hour,
            ));
            if let Some(price) = t.spot_price() {
                let mut p = PoolSpec::new(
                    PoolKey::new(t.name.clone(), z.clone(), CapacityType::Spot),
                    price,
                );
                p.interruption_per_hour =
                    t.spot_interruption_hazard_per_ms().unwrap_or(0.0) * 3_600_000.0;
                // Price-capacity-optimized: a lower Advisor bucket means deeper pools.
                p.capacity_score = 4.0 - f64::from(t.interruption_bucket.unwrap_or(4));
                pools.push(p);
            }
        }
    }
    let cs = &scenario.spec.cloud;
    let mut ice = Vec::new();
    for (i, w) in cs.capacity.iter().enumerate() {
        let capacity_type = match w.capacity_type.as_deref() {
            None => None,
            Some("spot") => Some(CapacityType::Spot),
            Some("on-demand") => Some(CapacityType::OnDemand),
            Some(other) => {
                return Err(format!(
                    "spec.cloud.capacity[{i}].capacityType: unknown {other:?} (expected spot or on-demand)"
                ));
            }
        };
        ice.push(IceWindow {
            instance_types: w.instance_types.clone(),
            zones: w.zones.clone(),
            capacity_type,
            from_ms: w.from.map_or(0, |d| d.0),
            until_ms: w.until.map_or(u64::MAX, |d| d.0),
        });
    }
    let mut spot = SpotSettings::default();
    match &cs.spot.interruptions {
        None | Some(Interruptions::Advisor) => {}
        Some(Interruptions::None) => spot.interruptions = false,
        Some(Interruptions::PerHour(r)) => spot.override_per_hour = Some(*r),
    }
    if let Some(p) = cs.spot.rebalance_probability {
        spot.rebalance_probability = p;
    }
    if let Some(d) = cs.spot.rebalance_lead {
        spot.rebalance_lead_mean_ms = d.0;
    }
    if let Some(c) = cs.spot.correlation {
        spot.correlation = c;
    }
    Ok(MockConfig {
        pools,
        ice,
        latency,
        spot,
        ..Default::default()
    })
}

fn sample_duration(d: &DurationDist, rng: &mut impl rand::Rng) -> u64 {
    match d {
        DurationDist::Constant(c) => c.0,
        DurationDist::Exponential { mean } => {
            let rate = 1.0 / (mean.0.max(1) as f64);
            Exp::new(rate).map_or(mean.0, |e| e.sample(rng).round() as u64)
        }
        DurationDist::Lognormal { median, sigma } => {
            let mu = (median.0.max(1) as f64).ln();
            LogNormal::new(mu, *sigma).map_or(median.0, |l| l.sample(rng).round() as u64)
        }
    }
}

/// Convert the catalog's plain resource vector into a resource list.
/// Labels every EKS node carries besides its launcher's: the region and zone id (kubelet and
/// the AWS cloud controller, from instance metadata), and the deprecated beta aliases the
/// kubelet still sets next to the stable keys (`beta.kubernetes.io/arch|os|instance-type`,
/// `failure-domain.beta.kubernetes.io/zone|region`; kubernetes:
/// pkg/kubelet/kubelet_node_status.go `initialNode`). Older Helm charts select on the aliases.
/// Labels already present are kept.
fn add_system_labels(labels: &mut asim_core::k8s::selector::Labels, region: &str) {
    if !labels.contains_key("topology.kubernetes.io/region") {
        labels.insert("topology.kubernetes.io/region".into(), region.into());
    }
    if let Some(zone) = labels.get(ZONE_KEY).cloned() {
        labels
            .entry("topology.k8s.aws/zone-id".into())
            .or_insert_with(|| asim_core::cloud::zones::zone_id(&zone));
    }
    for (beta, stable) in asim_core::k8s::requirements::NORMALIZED_LABELS {
        if let Some(v) = labels.get(stable).cloned() {
            labels.entry(beta.into()).or_insert(v);
        }
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
