//! `live run`: a scenario's Karpenter or cluster-autoscaler against real EC2 on the wall clock.
//!
//! [`LiveEc2`] is the second implementation of the `Cloud` trait (the mock EC2 is the first):
//! CreateFleet and TerminateInstances go to EC2, cluster-autoscaler's SetDesiredCapacity and
//! TerminateInstanceInAutoScalingGroup to real Auto Scaling groups (`asg.rs`), pending → running is polled from
//! DescribeInstances, and what EC2 cannot show for a cluster that does not exist (kubelet
//! registration, Ready, pods) is drawn from the scenario's latency model as the mock does. The
//! simulation itself is unchanged; [`drive`] replaces its loop with one that waits for the wall
//! clock before each event. Without `--launch` every mutating call is sent with DryRun=true, its
//! answer recorded, and the instance simulated instead.
//!
//! Safety (docs/live.md "Safety model"): the caps are checked before every CreateFleet; every
//! instance carries the run id tag; a signal or an error stops the loop, and every exit path
//! terminates what the run launched and sweeps the tag.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use asim_core::cloud::latency::LatencyModel;
use asim_core::cloud::{
    AsgSpec, AsgView, CapacityType, Cloud, CloudError, CloudRngs, CloudTimer, CostBreakdown,
    FleetError, FleetErrorCode, FleetOutcome, FleetRequest, InstanceId, InstanceState,
    InstanceView, InvalidRequest, LaunchSpec, Notice, PoolKey, TerminationReason,
};
use asim_workload::{AutoscalerKind, Scenario};
use serde::Serialize;

use crate::LiveError;
use crate::ec2::{Ec2, FleetCall, Override};
use crate::safety::{self, Caps};

mod asg;
use asg::LiveAsg;
pub use asg::check_asgs;

/// How often a pending instance is polled with DescribeInstances.
pub const POLL_MS: u64 = 1000;
/// CreateFleet takes at most this many instance types (as the mock, docs/model/ec2.md).
const MAX_TYPES: usize = 60;
const MS_PER_HOUR: f64 = 3_600_000.0;

pub struct RunOptions {
    pub out: PathBuf,
    pub ami: Option<String>,
    pub launch_template: Option<String>,
    /// zone → subnet id.
    pub subnets: BTreeMap<String, String>,
    pub caps: Caps,
    pub launch: bool,
    pub run_id: String,
    /// cluster-autoscaler node group → the real Auto Scaling group it drives (`--asg
    /// GROUP=NAME`; a group not named here drives the ASG of its own name).
    pub asgs: BTreeMap<String, String>,
}

/// One mutating call and what came back.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    /// Simulated (= wall-clock) seconds since the start.
    pub t_s: f64,
    pub op: String,
    pub dry_run: bool,
    pub result: String,
}

/// One instance of the run, real or (dry run, static nodes) simulated.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceRecord {
    pub instance: String,
    pub ec2_id: Option<String>,
    pub instance_type: String,
    pub zone: String,
    pub capacity_type: String,
    /// "real" (launched in EC2) or "simulated".
    pub source: &'static str,
    pub create_fleet_ms: Option<f64>,
    pub pending_to_running_ms: Option<f64>,
    /// What the scenario's latency model says for the same stages (medians).
    pub model_create_fleet_ms: f64,
    pub model_pending_to_running_ms: f64,
}

/// What the run did, shared between the cloud (inside the simulation) and the driver.
#[derive(Debug, Default)]
pub struct Ledger {
    pub calls: Vec<CallRecord>,
    pub instances: Vec<InstanceRecord>,
    /// EC2 ids of every instance the run launched (Auto Scaling groups' included).
    pub launched: Vec<String>,
    /// Real Auto Scaling groups this run tagged and scaled: set back to 0 at the end.
    pub asgs: Vec<String>,
    pub fatal: Option<LiveError>,
}

struct Extra {
    real: Option<String>,
    running_at: u64,
    registered_at: u64,
    ready_at: u64,
    terminated_at: Option<u64>,
    billed_from: Option<u64>,
    billed_until: Option<u64>,
    record: Option<usize>,
}

/// The `Cloud` of a live run.
pub struct LiveEc2<'a> {
    ec2: &'a Ec2,
    launch: bool,
    caps: Caps,
    template: String,
    subnets: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
    prices: BTreeMap<PoolKey, f64>,
    latency: LatencyModel,
    views: Vec<InstanceView>,
    extra: Vec<Extra>,
    timers: Vec<(u64, CloudTimer)>,
    started: Instant,
    ledger: Rc<RefCell<Ledger>>,
    /// cluster-autoscaler's groups, by the name it knows them by.
    asgs: BTreeMap<String, LiveAsg>,
    asg_names: BTreeMap<String, String>,
}

fn fleet_failed(errors: Vec<FleetError>) -> FleetOutcome {
    FleetOutcome::Failed {
        errors,
        api_latency_ms: 0,
    }
}

impl<'a> LiveEc2<'a> {
    pub fn new(
        ec2: &'a Ec2,
        scenario: &Scenario,
        opts: &RunOptions,
        template: String,
        ledger: Rc<RefCell<Ledger>>,
    ) -> Self {
        let latency = scenario.spec.cloud.latency.unwrap_or_default();
        let prices = asim_sim::mock_config(scenario, latency)
            .pools
            .into_iter()
            .map(|p| (p.key, p.price_per_hour))
            .collect();
        LiveEc2 {
            ec2,
            launch: opts.launch,
            caps: opts.caps,
            template,
            subnets: opts.subnets.clone(),
            tags: safety::run_tags(&opts.run_id, "run"),
            prices,
            latency,
            views: Vec::new(),
            extra: Vec::new(),
            timers: Vec::new(),
            started: Instant::now(),
            ledger,
            asgs: BTreeMap::new(),
            asg_names: opts.asgs.clone(),
        }
    }

    fn t_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn call(&self, op: String, dry_run: bool, result: String) {
        if dry_run {
            println!("dry run  {op}: {result}");
        } else {
            println!("live     {op}: {result}");
        }
        self.ledger.borrow_mut().calls.push(CallRecord {
            t_s: self.t_s(),
            op,
            dry_run,
            result,
        });
    }

    fn fatal(&self, e: LiveError) {
        let mut l = self.ledger.borrow_mut();
        if l.fatal.is_none() {
            l.fatal = Some(e);
        }
    }

    fn live_counts(&self) -> (u32, f64) {
        let mut n = 0;
        let mut rate = 0.0;
        for (v, x) in self.views.iter().zip(&self.extra) {
            // Static nodes are simulated and outside the caps.
            if v.state.is_live() && x.record.is_some() {
                n += 1;
                rate += v.price_per_hour;
            }
        }
        (n, rate)
    }

    #[allow(clippy::too_many_arguments)]
    fn add_instance(
        &mut self,
        now: u64,
        launched_at: u64,
        pool: PoolKey,
        price: f64,
        launch: &LaunchSpec,
        real: Option<String>,
        api_ms: Option<f64>,
        asg: Option<&str>,
        rngs: &mut CloudRngs<'_>,
    ) -> InstanceId {
        let id = InstanceId(u32::try_from(self.views.len()).unwrap_or(u32::MAX));
        let st = self
            .latency
            .sample_node_startup(rngs.latency, launch.ami_family);
        let running_at = launched_at.saturating_add(st.pending_to_running_ms);
        let record = InstanceRecord {
            instance: id.to_string(),
            ec2_id: real.clone(),
            instance_type: pool.instance_type.clone(),
            zone: pool.zone.clone(),
            capacity_type: pool.capacity_type.as_str().to_string(),
            source: if real.is_some() { "real" } else { "simulated" },
            create_fleet_ms: api_ms,
            pending_to_running_ms: if real.is_some() {
                None
            } else {
                Some(st.pending_to_running_ms as f64)
            },
            model_create_fleet_ms: self.latency.create_fleet.median_ms(),
            model_pending_to_running_ms: self.latency.pending_to_running.median_ms(),
        };
        let rec = {
            let mut l = self.ledger.borrow_mut();
            l.instances.push(record);
            if let Some(r) = &real {
                l.launched.push(r.clone());
            }
            l.instances.len() - 1
        };
        let mut tags = launch.tags.clone();
        tags.extend(self.tags.clone());
        self.views.push(InstanceView::pending(
            id,
            pool,
            price,
            launch.ami_family,
            launched_at,
            asg.map(str::to_string),
            tags,
        ));
        // Real instances: registration follows the observed `running`; the simulated ones'
        // stages are fixed now, as the mock's.
        let registered_at = running_at.saturating_add(st.running_to_registered_ms);
        self.extra.push(Extra {
            real: real.clone(),
            running_at,
            registered_at,
            ready_at: registered_at.saturating_add(st.registered_to_ready_ms),
            terminated_at: None,
            billed_from: None,
            billed_until: None,
            record: Some(rec),
        });
        // An Auto Scaling group's instance is reported pending by the group's poll, with the
        // group's own notice right after it (as the mock's dispatch does).
        if asg.is_none() {
            self.timers
                .push((launched_at, CloudTimer::InstancePending(id)));
        }
        if real.is_some() {
            self.timers.push((
                launched_at.max(now) + POLL_MS,
                CloudTimer::InstanceRunning(id),
            ));
        } else {
            self.timers
                .push((running_at, CloudTimer::InstanceRunning(id)));
        }
        id
    }

    fn enter_running(&mut self, id: InstanceId, now: u64, rngs: &mut CloudRngs<'_>) -> Notice {
        let i = id.0 as usize;
        self.views[i].state = InstanceState::Running;
        self.views[i].running_at_ms = Some(now);
        let x = &mut self.extra[i];
        x.billed_from = Some(now);
        if x.real.is_some() {
            // Registration and Ready after the real `running`, drawn as the mock draws them.
            let st = self
                .latency
                .sample_node_startup(rngs.latency, self.views[i].ami_family);
            x.running_at = now;
            x.registered_at = now.saturating_add(st.running_to_registered_ms);
            x.ready_at = x.registered_at.saturating_add(st.registered_to_ready_ms);
            let launched = self.views[i].launched_at_ms;
            if let Some(r) = x.record {
                self.ledger.borrow_mut().instances[r].pending_to_running_ms =
                    Some(now.saturating_sub(launched) as f64);
            }
        }
        let (reg, ready) = (x.registered_at, x.ready_at);
        self.timers.push((reg, CloudTimer::NodeRegistered(id)));
        self.timers.push((ready, CloudTimer::NodeReady(id)));
        Notice::InstanceRunning { instance: id }
    }

    fn shut_down(
        &mut self,
        id: InstanceId,
        now: u64,
        reason: TerminationReason,
        rngs: &mut CloudRngs<'_>,
    ) -> Notice {
        let i = id.0 as usize;
        let v = &mut self.views[i];
        v.state = InstanceState::ShuttingDown;
        v.shutting_down_at_ms = Some(now);
        v.termination_reason = Some(reason);
        let done = now.saturating_add(self.latency.terminate.sample(rngs.latency));
        let x = &mut self.extra[i];
        if x.billed_from.is_some() {
            x.billed_until = Some(now);
        }
        x.terminated_at = Some(done);
        self.timers.push((done, CloudTimer::InstanceTerminated(id)));
        Notice::InstanceShuttingDown {
            instance: id,
            reason,
        }
    }

    /// The override EC2 would most likely take, for a simulated launch: lowest priority value
    /// (Karpenter sets it to the price), then cheapest, among pools the catalog offers.
    fn simulated_choice(&self, req: &FleetRequest) -> Option<(PoolKey, f64)> {
        req.overrides
            .iter()
            .filter_map(|o| {
                let key = PoolKey::new(&o.instance_type, &o.zone, req.capacity_type);
                self.prices.get(&key).map(|&p| (o.priority, p, key))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)))
            .map(|(_, p, k)| (k, p))
    }
}

fn code_of(code: &str) -> FleetErrorCode {
    if code.contains("InsufficientInstanceCapacity") || code.contains("InsufficientCapacity") {
        FleetErrorCode::InsufficientInstanceCapacity
    } else {
        // Unsupported, UnfulfillableCapacity, MaxSpotInstanceCountExceeded, …: Karpenter
        // leaves the offering alone for 3 minutes, which is the safe reading of any of them.
        FleetErrorCode::Unsupported
    }
}

impl Cloud for LiveEc2<'_> {
    fn create_fleet(
        &mut self,
        now_ms: u64,
        req: &FleetRequest,
        rngs: &mut CloudRngs<'_>,
    ) -> FleetOutcome {
        if self.ledger.borrow().fatal.is_some() || self.ec2.stopped() {
            return fleet_failed(Vec::new());
        }
        let invalid = |r: InvalidRequest| {
            fleet_failed(vec![FleetError {
                instance_type: String::new(),
                zone: String::new(),
                code: FleetErrorCode::InvalidRequest(r),
            }])
        };
        let types: std::collections::BTreeSet<&str> = req
            .overrides
            .iter()
            .map(|o| o.instance_type.as_str())
            .collect();
        if types.len() > MAX_TYPES {
            return invalid(InvalidRequest::TooManyOverrides {
                count: types.len(),
                max: MAX_TYPES,
            });
        }
        if req.overrides.is_empty() {
            return invalid(InvalidRequest::NoOverrides);
        }
        let all_unavailable = || {
            req.overrides
                .iter()
                .map(|o| FleetError {
                    instance_type: o.instance_type.clone(),
                    zone: o.zone.clone(),
                    code: FleetErrorCode::Unsupported,
                })
                .collect::<Vec<_>>()
        };
        // The most this launch could add per hour: the dearest override.
        let worst = req
            .overrides
            .iter()
            .filter_map(|o| {
                self.prices
                    .get(&PoolKey::new(&o.instance_type, &o.zone, req.capacity_type))
            })
            .fold(0.0, |a: f64, &p| a.max(p));
        let (live, rate) = self.live_counts();
        let dry = !self.launch;
        if let Err(e) = self.caps.allow(live, rate, 1, worst) {
            self.call(
                format!("CreateFleet ({} overrides)", req.overrides.len()),
                dry,
                format!("not sent: {e}"),
            );
            return fleet_failed(all_unavailable());
        }
        let call = FleetCall {
            launch_template: self.template.clone(),
            capacity_type: req.capacity_type,
            allocation: req.allocation,
            overrides: req
                .overrides
                .iter()
                .map(|o| Override {
                    instance_type: o.instance_type.clone(),
                    zone: o.zone.clone(),
                    subnet: self.subnets.get(&o.zone).cloned(),
                    priority: Some(o.priority),
                })
                .collect(),
            count: 1,
            tags: {
                let mut t = req.launch.tags.clone();
                t.extend(self.tags.clone());
                t
            },
        };
        let what = format!(
            "CreateFleet instant {} ({} overrides)",
            req.capacity_type,
            req.overrides.len()
        );
        let (answer, elapsed) = match self.ec2.create_fleet(&call, dry) {
            Ok(a) => a,
            Err(e) => {
                self.call(what, dry, e.to_string());
                self.fatal(e);
                return fleet_failed(Vec::new());
            }
        };
        let api_ms = elapsed.as_millis() as u64;
        match answer {
            Err(dr) => {
                // Reported whatever it says (a refusal is what the real run would meet: the
                // policy, or a launch template the dry run could not create); the rehearsal
                // goes on with a simulated instance.
                self.call(what, true, dr.to_string());
                // Simulate the launch as the mock would, at the model's API latency.
                let Some((pool, price)) = self.simulated_choice(req) else {
                    return fleet_failed(all_unavailable());
                };
                let api = self.latency.create_fleet.sample(rngs.latency);
                let instance = self.add_instance(
                    now_ms,
                    now_ms + api,
                    pool.clone(),
                    price,
                    &req.launch,
                    None,
                    Some(api as f64),
                    None,
                    rngs,
                );
                FleetOutcome::Launched {
                    instance,
                    pool,
                    price_per_hour: price,
                    api_latency_ms: api,
                    errors: Vec::new(),
                }
            }
            Ok(a) => {
                let errors: Vec<FleetError> = a
                    .errors
                    .iter()
                    .map(|e| FleetError {
                        instance_type: e.instance_type.clone(),
                        zone: e.zone.clone(),
                        code: code_of(&e.code),
                    })
                    .collect();
                let mut first: Option<(InstanceId, PoolKey, f64)> = None;
                for l in &a.instances {
                    if dry || first.is_some() {
                        // More than asked for, or launched by a DryRun the endpoint ignored:
                        // terminate at once.
                        self.ledger.borrow_mut().launched.push(l.id.clone());
                        if let Err(e) = self.ec2.terminate(std::slice::from_ref(&l.id), false) {
                            self.fatal(e);
                        }
                        continue;
                    }
                    let mut zone = l.zone.clone();
                    if zone.is_empty() {
                        zone = match self.ec2.describe(std::slice::from_ref(&l.id)) {
                            Ok(d) => d.first().map(|i| i.zone.clone()).unwrap_or_default(),
                            Err(e) => {
                                self.fatal(e);
                                String::new()
                            }
                        };
                    }
                    let pool = PoolKey::new(&l.instance_type, &zone, l.capacity_type);
                    let price = self.prices.get(&pool).copied().unwrap_or(worst);
                    let id = self.add_instance(
                        now_ms,
                        now_ms + api_ms,
                        pool.clone(),
                        price,
                        &req.launch,
                        Some(l.id.clone()),
                        Some(api_ms as f64),
                        None,
                        rngs,
                    );
                    self.call(
                        what.clone(),
                        false,
                        format!(
                            "{} {} {} {} in {api_ms} ms",
                            l.id, pool.instance_type, pool.zone, pool.capacity_type
                        ),
                    );
                    first = Some((id, pool, price));
                }
                match first {
                    Some((instance, pool, price_per_hour)) => FleetOutcome::Launched {
                        instance,
                        pool,
                        price_per_hour,
                        api_latency_ms: api_ms,
                        errors,
                    },
                    None => {
                        let codes: Vec<String> = a
                            .errors
                            .iter()
                            .map(|e| format!("{} {} {}", e.instance_type, e.zone, e.code))
                            .collect();
                        self.call(what, false, format!("no instance: {}", codes.join("; ")));
                        FleetOutcome::Failed {
                            errors,
                            api_latency_ms: api_ms,
                        }
                    }
                }
            }
        }
    }

    fn terminate_instances(
        &mut self,
        now_ms: u64,
        ids: &[InstanceId],
        rngs: &mut CloudRngs<'_>,
    ) -> Result<Vec<Notice>, CloudError> {
        for id in ids {
            if id.0 as usize >= self.views.len() {
                return Err(CloudError::UnknownInstance(*id));
            }
        }
        let mut notices = Vec::new();
        for &id in ids {
            let i = id.0 as usize;
            if !self.views[i].state.is_live() {
                continue;
            }
            let is_static = self.extra[i].record.is_none();
            match self.extra[i].real.clone() {
                Some(real) => match self.ec2.terminate(std::slice::from_ref(&real), false) {
                    Ok(_) => self.call(
                        format!("TerminateInstances {real}"),
                        false,
                        "shutting-down".into(),
                    ),
                    Err(e) => {
                        self.call(format!("TerminateInstances {real}"), false, e.to_string());
                        self.fatal(e);
                    }
                },
                None if !is_static => {
                    // A simulated instance of a dry run: the call it stands for, dry.
                    let fake = id.to_string();
                    match self.ec2.terminate(std::slice::from_ref(&fake), true) {
                        Ok(r) => self.call(
                            format!("TerminateInstances {fake} (simulated instance)"),
                            true,
                            r.map_or("no answer".into(), |r| r.to_string()),
                        ),
                        Err(e) => self.call(
                            format!("TerminateInstances {fake} (simulated instance)"),
                            true,
                            e.to_string(),
                        ),
                    }
                }
                None => {}
            }
            notices.push(self.shut_down(id, now_ms, TerminationReason::Requested, rngs));
            // EC2's TerminateInstances on a group's member: the group replaces it.
            self.asg_member_lost(now_ms, id);
        }
        Ok(notices)
    }

    fn create_asg(
        &mut self,
        _now_ms: u64,
        spec: AsgSpec,
        _rngs: &mut CloudRngs<'_>,
    ) -> Result<(), CloudError> {
        self.asg_create(spec)
    }

    fn set_desired_capacity(
        &mut self,
        now_ms: u64,
        asg: &str,
        desired: u32,
        rngs: &mut CloudRngs<'_>,
    ) -> Result<Vec<Notice>, CloudError> {
        self.asg_set_desired(now_ms, asg, desired, rngs)
    }

    fn terminate_instance_in_asg(
        &mut self,
        now_ms: u64,
        id: InstanceId,
        decrement_desired: bool,
        rngs: &mut CloudRngs<'_>,
    ) -> Result<Vec<Notice>, CloudError> {
        self.asg_terminate_instance(now_ms, id, decrement_desired, rngs)
    }

    fn describe_asg(&self, asg: &str) -> Option<AsgView> {
        self.asgs.get(asg).map(|g| g.view())
    }

    fn instance(&self, id: InstanceId) -> Option<&InstanceView> {
        self.views.get(id.0 as usize)
    }

    fn instances(&self) -> &[InstanceView] {
        &self.views
    }

    fn on_timer(
        &mut self,
        now_ms: u64,
        timer: CloudTimer,
        rngs: &mut CloudRngs<'_>,
    ) -> Vec<Notice> {
        let state = |s: &Self, id: InstanceId| s.views.get(id.0 as usize).map(|v| v.state);
        let mut out = Vec::new();
        match timer {
            CloudTimer::InstancePending(id) if state(self, id) == Some(InstanceState::Pending) => {
                out.push(Notice::InstancePending { instance: id });
            }
            CloudTimer::InstanceRunning(id) => {
                if state(self, id) != Some(InstanceState::Pending) {
                    return out;
                }
                let i = id.0 as usize;
                match self.extra[i].real.clone() {
                    None => {
                        if self.extra[i].running_at == now_ms {
                            out.push(self.enter_running(id, now_ms, rngs));
                        }
                    }
                    Some(real) => match self.ec2.describe(std::slice::from_ref(&real)) {
                        Ok(d) => match d.first().map(|r| r.state.as_str()) {
                            Some("running") => out.push(self.enter_running(id, now_ms, rngs)),
                            Some("pending") | None => self
                                .timers
                                .push((now_ms + POLL_MS, CloudTimer::InstanceRunning(id))),
                            Some(other) => {
                                // Gone before running: reclaimed or refused by EC2.
                                let reason =
                                    if self.views[i].pool.capacity_type == CapacityType::Spot {
                                        TerminationReason::SpotReclaimed
                                    } else {
                                        TerminationReason::Requested
                                    };
                                self.call(
                                    format!("DescribeInstances {real}"),
                                    false,
                                    format!("{other} before running"),
                                );
                                out.push(self.shut_down(id, now_ms, reason, rngs));
                            }
                        },
                        Err(e) => self.fatal(e),
                    },
                }
            }
            CloudTimer::NodeRegistered(id)
                if state(self, id) == Some(InstanceState::Running)
                    && self.extra[id.0 as usize].registered_at == now_ms =>
            {
                out.push(Notice::NodeRegistered { instance: id });
            }
            CloudTimer::NodeReady(id)
                if state(self, id) == Some(InstanceState::Running)
                    && self.extra[id.0 as usize].ready_at == now_ms =>
            {
                out.push(Notice::NodeReady { instance: id });
            }
            CloudTimer::InstanceTerminated(id) => {
                let i = id.0 as usize;
                if state(self, id) == Some(InstanceState::ShuttingDown)
                    && self.extra[i].terminated_at == Some(now_ms)
                {
                    let v = &mut self.views[i];
                    v.state = InstanceState::Terminated;
                    v.terminated_at_ms = Some(now_ms);
                    out.push(Notice::InstanceTerminated {
                        instance: id,
                        reason: v.termination_reason.unwrap_or(TerminationReason::Requested),
                    });
                }
            }
            CloudTimer::AsgDispatch(asg) => out.extend(self.asg_poll(now_ms, &asg, rngs)),
            // Stale timers, and no simulated spot market in live mode: real interruptions show
            // up as a pending instance EC2 reports gone.
            _ => {}
        }
        out
    }

    fn take_timers(&mut self) -> Vec<(u64, CloudTimer)> {
        std::mem::take(&mut self.timers)
    }

    fn cost_usd(&self, now_ms: u64) -> CostBreakdown {
        let mut c = CostBreakdown::default();
        for (v, x) in self.views.iter().zip(&self.extra) {
            let Some(from) = x.billed_from else { continue };
            let until = x.billed_until.unwrap_or(now_ms).max(from);
            // Per second, 60-second minimum once the instance has stopped billing.
            let mut ms = until - from;
            if x.billed_until.is_some() {
                ms = ms.max(60_000);
            }
            let usd = v.price_per_hour * ms as f64 / MS_PER_HOUR;
            c.total_usd += usd;
            match v.pool.capacity_type {
                CapacityType::OnDemand => c.on_demand_usd += usd,
                CapacityType::Spot => c.spot_usd += usd,
            }
        }
        c
    }

    fn hourly_rate(&self) -> f64 {
        self.views
            .iter()
            .zip(&self.extra)
            .filter(|(_, x)| x.billed_from.is_some() && x.billed_until.is_none())
            .map(|(v, _)| v.price_per_hour)
            .sum()
    }

    fn adopt_running_instance(
        &mut self,
        now_ms: u64,
        key: &PoolKey,
        launch: &LaunchSpec,
        _rngs: &mut CloudRngs<'_>,
    ) -> Result<InstanceId, CloudError> {
        let price = *self
            .prices
            .get(key)
            .ok_or_else(|| CloudError::InvalidPool {
                pool: key.to_string(),
                reason: "not offered".into(),
            })?;
        let id = InstanceId(u32::try_from(self.views.len()).unwrap_or(u32::MAX));
        let mut view = InstanceView::pending(
            id,
            key.clone(),
            price,
            launch.ami_family,
            now_ms,
            None,
            launch.tags.clone(),
        );
        view.state = InstanceState::Running;
        view.running_at_ms = Some(now_ms);
        self.views.push(view);
        self.extra.push(Extra {
            real: None,
            running_at: now_ms,
            registered_at: now_ms,
            ready_at: now_ms,
            terminated_at: None,
            billed_from: Some(now_ms),
            billed_until: None,
            record: None,
        });
        Ok(id)
    }
}

/// How a live run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ending {
    Completed,
    Interrupted,
    Failed,
}

/// `live.json`: the run id, the mode, every mutating call and every instance.
#[derive(Debug, Serialize)]
pub struct LiveSummary {
    pub run_id: String,
    pub region: String,
    pub launch: bool,
    pub ending: Ending,
    pub error: Option<String>,
    pub wall_seconds: f64,
    pub max_instances: u32,
    pub max_usd_per_hour: f64,
    pub calls: Vec<CallRecord>,
    pub instances: Vec<InstanceRecord>,
    pub cleanup_problems: Vec<String>,
}

/// Check a scenario can run live: Karpenter only (cluster-autoscaler needs real Auto Scaling
/// groups, which live mode does not drive).
pub fn check_autoscaler(kind: AutoscalerKind, scenario: &Scenario) -> Result<(), LiveError> {
    match kind {
        AutoscalerKind::Karpenter if !scenario.nodepools.is_empty() => Ok(()),
        AutoscalerKind::Karpenter => Err(LiveError::Scenario(
            "live run: the scenario has no NodePool for Karpenter".into(),
        )),
        // Whether the account has its groups is asked of Auto Scaling (`check_asgs`).
        AutoscalerKind::ClusterAutoscaler
            if !scenario.spec.cluster_autoscaler.node_groups.is_empty() =>
        {
            Ok(())
        }
        AutoscalerKind::ClusterAutoscaler => Err(LiveError::Scenario(
            "live run: the scenario has no node group for cluster-autoscaler".into(),
        )),
        AutoscalerKind::None => Err(LiveError::Scenario(
            "live run: with no autoscaler nothing is launched; use `autoscale-sim run`".into(),
        )),
    }
}

/// Runs `scenario` live and writes the reports plus `live.json` and `live-latency.csv` into
/// `opts.out`. Returns the printed summary, or the error that stopped the run (after cleanup
/// and after `live.json` is written).
pub fn live_run(
    ec2: &Ec2,
    scenario: &Scenario,
    kind: AutoscalerKind,
    opts: &RunOptions,
) -> Result<String, LiveError> {
    opts.caps.check_input()?;
    check_autoscaler(kind, scenario)?;
    let dry = !opts.launch;
    let ca = kind == AutoscalerKind::ClusterAutoscaler;
    // cluster-autoscaler's groups must exist before anything else happens (read-only calls,
    // so a dry run checks them too).
    let asg_pairs = if ca {
        check_asgs(ec2, scenario, &opts.asgs)?
    } else {
        Vec::new()
    };
    let template = match (&opts.launch_template, &opts.ami) {
        // The groups launch from their own launch templates: --ami and --launch-template do
        // not apply, and no template is created.
        _ if ca => String::new(),
        (Some(t), _) => t.clone(),
        (None, Some(_)) => safety::launch_template_name(&opts.run_id),
        (None, None) => {
            return Err(LiveError::Input(
                "give --ami IMAGE (a launch template is created for the run) or --launch-template NAME"
                    .into(),
            ));
        }
    };
    println!(
        "live run {} · {} · region {} · run id {} · {}",
        scenario.name,
        kind.as_str(),
        ec2.region(),
        opts.run_id,
        if dry {
            "DRY RUN: every mutating call is sent with DryRun=true, instances are simulated (add --launch to launch)"
        } else {
            "LAUNCHING real instances"
        }
    );
    println!(
        "caps: {} instances, ${}/h, {} (the scenario's duration)",
        opts.caps.max_instances,
        opts.caps.max_usd_per_hour,
        asim_core::k8s::duration::format_duration(scenario.duration_ms)
    );
    println!(
        "cleanup, if this is interrupted: autoscale-sim live cleanup --region {} --run-id {}",
        ec2.region(),
        opts.run_id
    );
    let ledger = Rc::new(RefCell::new(Ledger::default()));
    let started = Instant::now();
    for (group, real) in &asg_pairs {
        if dry {
            println!(
                "dry run  node group {group} → Auto Scaling group {real}: found, empty, allowed; \
                 simulated (Auto Scaling has no DryRun)"
            );
            continue;
        }
        // Recorded before the call, so that a failure halfway is still released.
        ledger.borrow_mut().asgs.push(real.clone());
        let r = ec2.tag_asg(real, crate::ec2::RUN_ID_TAG, &opts.run_id, true);
        let result = match &r {
            Ok(()) => format!(
                "tagged {}={} (propagated to its instances at launch); set back to 0 at the end",
                crate::ec2::RUN_ID_TAG,
                opts.run_id
            ),
            Err(e) => e.to_string(),
        };
        println!("live     node group {group} → Auto Scaling group {real}: {result}");
        ledger.borrow_mut().calls.push(CallRecord {
            t_s: 0.0,
            op: format!("CreateOrUpdateTags {real}"),
            dry_run: false,
            result,
        });
        if let Err(e) = r {
            let problems = crate::autoscaling::release_asgs(ec2, &ledger.borrow().asgs);
            for p in problems {
                eprintln!("warning: {p}");
            }
            return Err(e);
        }
    }
    if !ca && let (None, Some(ami)) = (&opts.launch_template, &opts.ami) {
        let tags = safety::run_tags(&opts.run_id, "run");
        let r = ec2.create_launch_template(&template, ami, &tags, dry);
        let mut l = ledger.borrow_mut();
        let (result, err) = match r {
            Ok(Some(dr)) => (dr.to_string(), None),
            Ok(None) => ("created".to_string(), None),
            Err(e) => (e.to_string(), Some(e)),
        };
        if dry {
            println!("dry run  CreateLaunchTemplate {template}: {result}");
        } else {
            println!("live     CreateLaunchTemplate {template}: {result}");
        }
        l.calls.push(CallRecord {
            t_s: 0.0,
            op: format!("CreateLaunchTemplate {template}"),
            dry_run: dry,
            result,
        });
        if let Some(e) = err {
            return Err(e);
        }
    }
    let autoscaler = asim_sim::run::make_autoscaler(kind, scenario)
        .map_err(|e| LiveError::Scenario(e.to_string()))?;
    let cloud = LiveEc2::new(ec2, scenario, opts, template, Rc::clone(&ledger));
    let mut sim = asim_sim::Simulation::with_cloud(scenario, autoscaler, Box::new(cloud));
    let (ending, reached_ms) = drive(ec2, &mut sim, scenario.duration_ms, &ledger);
    // A stopped run's reports cover the time it reached, as `run --max-wall`'s do.
    let stopped_at = (ending != Ending::Completed).then_some(reached_ms);
    match stopped_at {
        Some(at) => sim.stop_at(asim_core::engine::SimTime(at)),
        None => sim.finish(),
    }
    let wall = started.elapsed().as_secs_f64();
    // Every exit path: the groups back to 0, terminate what was launched, sweep the tag, drop
    // the template.
    let launched = ledger.borrow().launched.clone();
    let cleanup_problems = if dry {
        Vec::new()
    } else {
        let asgs = ledger.borrow().asgs.clone();
        let mut p = crate::autoscaling::release_asgs(ec2, &asgs);
        let created_template = !ca && opts.launch_template.is_none() && opts.ami.is_some();
        p.extend(safety::terminate_run(
            ec2,
            &opts.run_id,
            &launched,
            created_template,
        ));
        println!(
            "end      {}{} instance(s) launched by this run terminated, tag {}={} swept{}{}",
            if asgs.is_empty() {
                String::new()
            } else {
                format!("Auto Scaling group(s) {} set back to 0, ", asgs.join(", "))
            },
            launched.len(),
            crate::ec2::RUN_ID_TAG,
            opts.run_id,
            if created_template {
                ", launch template removed"
            } else {
                ""
            },
            if p.is_empty() {
                ""
            } else {
                " (with problems, below)"
            }
        );
        p
    };
    for p in &cleanup_problems {
        eprintln!("warning: {p}");
    }
    let fatal = ledger.borrow_mut().fatal.take();
    let ending = match (&fatal, ending) {
        (Some(_), _) => Ending::Failed,
        (None, e) => e,
    };
    std::fs::create_dir_all(&opts.out).map_err(|e| LiveError::io(&opts.out, e))?;
    let summary = {
        let l = ledger.borrow();
        LiveSummary {
            run_id: opts.run_id.clone(),
            region: ec2.region().to_string(),
            launch: opts.launch,
            ending,
            error: fatal.as_ref().map(ToString::to_string),
            wall_seconds: wall,
            max_instances: opts.caps.max_instances,
            max_usd_per_hour: opts.caps.max_usd_per_hour,
            calls: l.calls.clone(),
            instances: l.instances.clone(),
            cleanup_problems,
        }
    };
    let json = serde_json::to_string_pretty(&summary).unwrap_or_default();
    let p = opts.out.join("live.json");
    std::fs::write(&p, json + "\n").map_err(|e| LiveError::io(&p, e))?;
    let p = opts.out.join("live-latency.csv");
    std::fs::write(&p, latency_csv(&summary.instances)).map_err(|e| LiveError::io(&p, e))?;
    // The same reports as `run`, also for a run that was stopped (up to where it got, with
    // `stopped_at_seconds` in run-meta.json), so that an interrupted or failed run still
    // shows what its decisions were.
    let simulated_ms = stopped_at.unwrap_or(scenario.duration_ms);
    let report = sim.report(kind.as_str());
    let meta = asim_report::RunMeta {
        scenario: scenario.name.clone(),
        autoscaler: kind.as_str().to_string(),
        seed: scenario.seed,
        wall_seconds: wall,
        simulated_seconds: simulated_ms as f64 / 1000.0,
        speedup: if wall > 0.0 {
            simulated_ms as f64 / 1000.0 / wall
        } else {
            0.0
        },
        events: sim.events,
        version: env!("CARGO_PKG_VERSION").to_string(),
        warnings: scenario.warnings.clone(),
        stopped_at_seconds: stopped_at.map(|ms| ms as f64 / 1000.0),
    };
    let output = asim_sim::run::RunOutput { report, meta, sim };
    asim_sim::run::write_run(&opts.out, scenario, &output)
        .map_err(|e| LiveError::io(&opts.out, e))?;
    if let Some(e) = fatal {
        return Err(e);
    }
    if ending == Ending::Interrupted {
        return Err(LiveError::Interrupted);
    }
    let r = &output.report;
    let mut o = String::new();
    let real = summary
        .instances
        .iter()
        .filter(|i| i.source == "real")
        .count();
    let _ = writeln!(
        o,
        "  instances  {} launched ({} real), {} mutating calls ({} dry run)",
        summary.instances.len(),
        real,
        summary.calls.len(),
        summary.calls.iter().filter(|c| c.dry_run).count()
    );
    let _ = writeln!(
        o,
        "  pods       {} created, {} scheduled, {} not started at end",
        r.pods.created, r.pods.scheduled, r.pods.not_started_at_end
    );
    let _ = writeln!(
        o,
        "  cost       ${:.4} (simulated billing at catalog prices)",
        r.cost.total_usd
    );
    let _ = writeln!(
        o,
        "  reports    {} (plus live.json, live-latency.csv)",
        opts.out.display()
    );
    Ok(o)
}

/// The wall-clock loop: each event is processed when the wall clock reaches its time. Stops
/// at the scenario's end, on a signal, or on the cloud's first fatal error; returns how it
/// ended and the simulated time reached (= the wall time since the start, up to the end).
pub fn drive(
    ec2: &Ec2,
    sim: &mut asim_sim::Simulation<'_>,
    end_ms: u64,
    ledger: &Rc<RefCell<Ledger>>,
) -> (Ending, u64) {
    sim.start();
    let zero = Instant::now();
    // Never before the last event processed (the wall clock is at or past it).
    let reached = |sim: &asim_sim::Simulation<'_>| {
        u64::try_from(zero.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .min(end_ms)
            .max(sim.now().0)
    };
    loop {
        if ec2.stopped() {
            return (Ending::Interrupted, reached(sim));
        }
        if ledger.borrow().fatal.is_some() {
            return (Ending::Failed, reached(sim));
        }
        // The next event, or the scenario's end when nothing is due before it.
        let next = sim.next_event_time().map(|t| t.0).filter(|&t| t <= end_ms);
        let due = zero + Duration::from_millis(next.unwrap_or(end_ms));
        let now = Instant::now();
        if now < due {
            ec2.sleep((due - now).min(Duration::from_millis(250)));
            continue;
        }
        match next {
            Some(_) => {
                sim.step();
            }
            None => return (Ending::Completed, end_ms),
        }
    }
}

fn latency_csv(rows: &[InstanceRecord]) -> String {
    let mut s = String::from(
        "instance,ec2_id,instance_type,zone,capacity_type,source,create_fleet_ms,pending_to_running_ms,model_create_fleet_median_ms,model_pending_to_running_median_ms\n",
    );
    let f = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.0}"));
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{:.0},{:.0}",
            r.instance,
            r.ec2_id.clone().unwrap_or_default(),
            r.instance_type,
            r.zone,
            r.capacity_type,
            r.source,
            f(r.create_fleet_ms),
            f(r.pending_to_running_ms),
            r.model_create_fleet_ms,
            r.model_pending_to_running_ms
        );
    }
    s
}
