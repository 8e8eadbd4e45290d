//! The EC2 client, made blocking: one tokio runtime, one `aws_sdk_ec2::Client`, and a method
//! per call live mode makes. Credentials come from the standard AWS chain (environment,
//! profile, SSO, IMDS) through `aws-config`; `AWS_ENDPOINT_URL` (moto) is honoured by it too.
//! Nothing here prints or logs a credential. Throttling and transient errors are retried by the
//! SDK's standard retry mode with exponential backoff.
//!
//! Every mutating call takes `dry_run`: with it, EC2 checks the request and permissions and
//! answers `DryRunOperation` ("would have succeeded") or `UnauthorizedOperation`, and
//! nothing is created.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{
    DefaultTargetCapacityType, Filter, FleetLaunchTemplateConfigRequest,
    FleetLaunchTemplateOverridesRequest, FleetLaunchTemplateSpecificationRequest,
    FleetOnDemandAllocationStrategy, FleetType, InstanceType, OnDemandOptionsRequest,
    RequestLaunchTemplateData, ResourceType, SpotAllocationStrategy, SpotOptionsRequest, Tag,
    TagSpecification, TargetCapacitySpecificationRequest,
};

use crate::error::LiveError;
use asim_core::cloud::{AllocationStrategy, CapacityType};

/// The tag every instance (and launch template) live mode creates carries; its value is the
/// run id. `live cleanup` finds instances by it.
pub const RUN_ID_TAG: &str = "autoscale-sim:run-id";

/// What a mutating call sent with `DryRun=true` came back with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DryRunResult {
    /// `DryRunOperation`: the request was valid and allowed.
    WouldSucceed,
    /// `UnauthorizedOperation`: the credentials may not make this call.
    Denied(String),
    /// Any other error (an invalid parameter, an unknown launch template, …).
    Failed { code: String, message: String },
}

impl std::fmt::Display for DryRunResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DryRunResult::WouldSucceed => f.write_str("DryRunOperation (would have succeeded)"),
            DryRunResult::Denied(m) => write!(f, "UnauthorizedOperation: {m}"),
            DryRunResult::Failed { code, message } => write!(f, "{code}: {message}"),
        }
    }
}

/// One instance as DescribeInstances shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RealInstance {
    pub id: String,
    pub instance_type: String,
    pub zone: String,
    pub capacity_type: CapacityType,
    /// pending, running, shutting-down, terminated, stopping, stopped.
    pub state: String,
    pub tags: BTreeMap<String, String>,
}

impl RealInstance {
    /// Pending, running, stopping or stopped: still costs money (or may again).
    pub fn is_live(&self) -> bool {
        matches!(
            self.state.as_str(),
            "pending" | "running" | "stopping" | "stopped"
        )
    }
}

/// One override of a real CreateFleet.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub instance_type: String,
    /// Empty: any zone (EC2 picks a default subnet).
    pub zone: String,
    /// A subnet of that zone, when the caller mapped one; else EC2 uses the zone's default
    /// subnet.
    pub subnet: Option<String>,
    pub priority: Option<f64>,
}

/// A CreateFleet `instant` for `count` instances of one capacity type.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetCall {
    pub launch_template: String,
    pub capacity_type: CapacityType,
    pub allocation: AllocationStrategy,
    pub overrides: Vec<Override>,
    pub count: i32,
    pub tags: BTreeMap<String, String>,
}

/// One launched instance of a CreateFleet answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Launched {
    pub id: String,
    pub instance_type: String,
    /// The override's zone when the answer names it (else empty: ask DescribeInstances).
    pub zone: String,
    pub capacity_type: CapacityType,
}

/// One per-override error of a CreateFleet answer.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetCallError {
    pub instance_type: String,
    pub zone: String,
    pub code: String,
    pub message: String,
}

/// The answer of a CreateFleet that was sent for real.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FleetAnswer {
    pub instances: Vec<Launched>,
    pub errors: Vec<FleetCallError>,
}

/// The blocking EC2 client (and the Auto Scaling client beside it, `autoscaling.rs`).
pub struct Ec2 {
    pub(crate) rt: tokio::runtime::Runtime,
    client: Client,
    pub(crate) autoscaling: aws_sdk_autoscaling::Client,
    region: String,
    stop: Arc<AtomicBool>,
}

pub(crate) fn api_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    op: &'static str,
    e: SdkError<E>,
) -> LiveError {
    let code = e.code().unwrap_or("error").to_string();
    let message = e.message().map(str::to_string).unwrap_or_else(|| {
        // No service error: a connection, timeout or credentials problem. The context chain
        // names the failing provider or endpoint, never a secret.
        aws_sdk_ec2::error::DisplayErrorContext(&e).to_string()
    });
    LiveError::Api { op, code, message }
}

/// The result of a call sent with `DryRun=true`, from its error.
fn dry_run_result<T, E: ProvideErrorMetadata>(r: Result<T, SdkError<E>>) -> Option<DryRunResult> {
    match r {
        Ok(_) => None,
        Err(e) => Some(match e.code() {
            Some("DryRunOperation") => DryRunResult::WouldSucceed,
            Some("UnauthorizedOperation") => {
                DryRunResult::Denied(e.message().unwrap_or_default().to_string())
            }
            code => DryRunResult::Failed {
                code: code.unwrap_or("error").to_string(),
                message: e
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| "no message".into()),
            },
        }),
    }
}

fn tag_spec(rt: ResourceType, tags: &BTreeMap<String, String>) -> TagSpecification {
    let mut b = TagSpecification::builder().resource_type(rt);
    for (k, v) in tags {
        b = b.tags(Tag::builder().key(k).value(v).build());
    }
    b.build()
}

fn capacity_type_of(lifecycle: Option<&str>) -> CapacityType {
    match lifecycle {
        Some("spot") => CapacityType::Spot,
        _ => CapacityType::OnDemand,
    }
}

impl Ec2 {
    /// Loads the AWS configuration (standard chain) for `region` and installs the Ctrl-C and
    /// SIGTERM handlers: from then on a signal sets [`Ec2::stopped`] instead of killing the
    /// process, so the caller can terminate what it launched before exiting.
    pub fn connect(region: &str) -> Result<Ec2, LiveError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(LiveError::Runtime)?;
        let conf = rt.block_on(
            aws_config::defaults(BehaviorVersion::latest())
                .region(aws_config::Region::new(region.to_string()))
                .retry_config(RetryConfig::standard().with_max_attempts(6))
                .load(),
        );
        let client = Client::new(&conf);
        let autoscaling = aws_sdk_autoscaling::Client::new(&conf);
        let stop = Arc::new(AtomicBool::new(false));
        {
            use tokio::signal::unix::{SignalKind, signal};
            let _guard = rt.enter();
            let mut int = signal(SignalKind::interrupt()).map_err(LiveError::Runtime)?;
            let mut term = signal(SignalKind::terminate()).map_err(LiveError::Runtime)?;
            let flag = Arc::clone(&stop);
            rt.spawn(async move {
                loop {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                    if flag.swap(true, Ordering::SeqCst) {
                        eprintln!("live: already stopping; terminating this run's instances");
                    } else {
                        eprintln!(
                            "live: signal received; terminating this run's instances before exit"
                        );
                    }
                }
            });
        }
        Ok(Ec2 {
            rt,
            client,
            autoscaling,
            region: region.to_string(),
            stop,
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// True once Ctrl-C or SIGTERM arrived.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Sleeps up to `d`, returning early (false) when a signal arrives.
    pub fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        loop {
            if self.stopped() {
                return false;
            }
            let now = Instant::now();
            if now >= end {
                return true;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(100)));
        }
    }

    /// DescribeInstanceTypes, every page.
    pub fn describe_instance_types(
        &self,
    ) -> Result<Vec<aws_sdk_ec2::types::InstanceTypeInfo>, LiveError> {
        self.rt.block_on(async {
            self.client
                .describe_instance_types()
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| api_error("DescribeInstanceTypes", e))
        })
    }

    /// DescribeSpotPriceHistory for Linux/UNIX since `since`, every page: the latest price per
    /// (type, zone), in USD per hour.
    pub fn latest_spot_prices(
        &self,
        since: std::time::SystemTime,
    ) -> Result<BTreeMap<(String, String), f64>, LiveError> {
        let items = self.rt.block_on(async {
            self.client
                .describe_spot_price_history()
                .product_descriptions("Linux/UNIX")
                .start_time(aws_sdk_ec2::primitives::DateTime::from(since))
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| api_error("DescribeSpotPriceHistory", e))
        })?;
        let mut latest: BTreeMap<(String, String), (i64, f64)> = BTreeMap::new();
        for p in items {
            let (Some(t), Some(z), Some(price)) = (
                p.instance_type(),
                p.availability_zone(),
                p.spot_price().and_then(|s| s.parse::<f64>().ok()),
            ) else {
                continue;
            };
            if !price.is_finite() || price < 0.0 {
                continue;
            }
            let ts = p.timestamp().map_or(i64::MIN, |d| d.secs());
            let e = latest
                .entry((t.as_str().to_string(), z.to_string()))
                .or_insert((ts, price));
            if ts > e.0 {
                *e = (ts, price);
            }
        }
        Ok(latest.into_iter().map(|(k, (_, p))| (k, p)).collect())
    }

    /// DescribeAvailabilityZones: (zone name, zone id, state) of the region's zones.
    pub fn availability_zones(&self) -> Result<Vec<(String, String, String)>, LiveError> {
        let out = self.rt.block_on(async {
            self.client
                .describe_availability_zones()
                .send()
                .await
                .map_err(|e| api_error("DescribeAvailabilityZones", e))
        })?;
        let mut zones: Vec<(String, String, String)> = out
            .availability_zones()
            .iter()
            .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
            .map(|z| {
                (
                    z.zone_name().unwrap_or_default().to_string(),
                    z.zone_id().unwrap_or_default().to_string(),
                    z.state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        zones.sort();
        Ok(zones)
    }

    /// CreateLaunchTemplate with `image` and our tags. Dry run: the dry-run result.
    pub fn create_launch_template(
        &self,
        name: &str,
        image: &str,
        tags: &BTreeMap<String, String>,
        dry_run: bool,
    ) -> Result<Option<DryRunResult>, LiveError> {
        let data = RequestLaunchTemplateData::builder()
            .image_id(image)
            .tag_specifications(
                aws_sdk_ec2::types::LaunchTemplateTagSpecificationRequest::builder()
                    .resource_type(ResourceType::Instance)
                    .set_tags(Some(
                        tags.iter()
                            .map(|(k, v)| Tag::builder().key(k).value(v).build())
                            .collect(),
                    ))
                    .build(),
            )
            .build();
        let r = self.rt.block_on(
            self.client
                .create_launch_template()
                .launch_template_name(name)
                .launch_template_data(data)
                .tag_specifications(tag_spec(ResourceType::LaunchTemplate, tags))
                .dry_run(dry_run)
                .send(),
        );
        if dry_run {
            return Ok(dry_run_result(r).or(Some(DryRunResult::WouldSucceed)));
        }
        r.map_err(|e| api_error("CreateLaunchTemplate", e))?;
        Ok(None)
    }

    /// Whether a launch template of this name exists (DescribeLaunchTemplates filtered by name:
    /// an empty answer, not an error, when there is none).
    pub fn launch_template_exists(&self, name: &str) -> Result<bool, LiveError> {
        let r = self.rt.block_on(
            self.client
                .describe_launch_templates()
                .filters(
                    Filter::builder()
                        .name("launch-template-name")
                        .values(name)
                        .build(),
                )
                .send(),
        );
        let out = r.map_err(|e| api_error("DescribeLaunchTemplates", e))?;
        Ok(!out.launch_templates().is_empty())
    }

    /// DeleteLaunchTemplate by name; a template already gone is not an error.
    pub fn delete_launch_template(&self, name: &str) -> Result<(), LiveError> {
        let r = self.rt.block_on(
            self.client
                .delete_launch_template()
                .launch_template_name(name)
                .send(),
        );
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if e.code()
                    .is_some_and(|c| c.starts_with("InvalidLaunchTemplateName")) =>
            {
                Ok(())
            }
            Err(e) => Err(api_error("DeleteLaunchTemplate", e)),
        }
    }

    /// CreateFleet `instant`. `Err(dry-run result)` when sent with `DryRun=true`. The elapsed
    /// wall time of the call comes back with the answer.
    pub fn create_fleet(
        &self,
        call: &FleetCall,
        dry_run: bool,
    ) -> Result<(Result<FleetAnswer, DryRunResult>, Duration), LiveError> {
        let mut cfg = FleetLaunchTemplateConfigRequest::builder().launch_template_specification(
            FleetLaunchTemplateSpecificationRequest::builder()
                .launch_template_name(&call.launch_template)
                .version("$Latest")
                .build(),
        );
        for o in &call.overrides {
            let mut b = FleetLaunchTemplateOverridesRequest::builder()
                .instance_type(InstanceType::from(o.instance_type.as_str()));
            b = match &o.subnet {
                Some(s) => b.subnet_id(s),
                None if o.zone.is_empty() => b,
                None => b.availability_zone(&o.zone),
            };
            if let Some(p) = o.priority {
                b = b.priority(p);
            }
            cfg = cfg.overrides(b.build());
        }
        let ct = match call.capacity_type {
            CapacityType::OnDemand => DefaultTargetCapacityType::OnDemand,
            CapacityType::Spot => DefaultTargetCapacityType::Spot,
        };
        let mut req = self
            .client
            .create_fleet()
            .r#type(FleetType::Instant)
            .launch_template_configs(cfg.build())
            .target_capacity_specification(
                TargetCapacitySpecificationRequest::builder()
                    .total_target_capacity(call.count)
                    .default_target_capacity_type(ct)
                    .build(),
            )
            .tag_specifications(tag_spec(ResourceType::Instance, &call.tags))
            .tag_specifications(tag_spec(ResourceType::Fleet, &call.tags))
            .dry_run(dry_run);
        req = match call.capacity_type {
            CapacityType::Spot => req.spot_options(
                SpotOptionsRequest::builder()
                    .allocation_strategy(match call.allocation {
                        AllocationStrategy::CapacityOptimizedPrioritized => {
                            SpotAllocationStrategy::CapacityOptimizedPrioritized
                        }
                        _ => SpotAllocationStrategy::PriceCapacityOptimized,
                    })
                    .build(),
            ),
            CapacityType::OnDemand => req.on_demand_options(
                OnDemandOptionsRequest::builder()
                    .allocation_strategy(match call.allocation {
                        AllocationStrategy::Prioritized => {
                            FleetOnDemandAllocationStrategy::Prioritized
                        }
                        _ => FleetOnDemandAllocationStrategy::LowestPrice,
                    })
                    .build(),
            ),
        };
        let started = Instant::now();
        let r = self.rt.block_on(req.send());
        let elapsed = started.elapsed();
        if dry_run && r.is_err() {
            let res = dry_run_result(r).unwrap_or(DryRunResult::WouldSucceed);
            return Ok((Err(res), elapsed));
        }
        // A dry run that came back Ok: the endpoint ignored DryRun. Whatever it launched is
        // returned as launched, so the caller terminates it.
        let out = r.map_err(|e| api_error("CreateFleet", e))?;
        let mut answer = FleetAnswer::default();
        for i in out.instances() {
            let ovr = i
                .launch_template_and_overrides()
                .and_then(|l| l.overrides());
            let zone = ovr
                .and_then(|o| o.availability_zone())
                .unwrap_or_default()
                .to_string();
            let itype = i
                .instance_type()
                .map(|t| t.as_str().to_string())
                .or_else(|| {
                    ovr.and_then(|o| o.instance_type())
                        .map(|t| t.as_str().to_string())
                })
                .unwrap_or_default();
            for id in i.instance_ids() {
                answer.instances.push(Launched {
                    id: id.clone(),
                    instance_type: itype.clone(),
                    zone: zone.clone(),
                    capacity_type: capacity_type_of(i.lifecycle().map(|l| l.as_str())),
                });
            }
        }
        for e in out.errors() {
            let ovr = e
                .launch_template_and_overrides()
                .and_then(|l| l.overrides());
            answer.errors.push(FleetCallError {
                instance_type: ovr
                    .and_then(|o| o.instance_type())
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                zone: ovr
                    .and_then(|o| o.availability_zone())
                    .unwrap_or_default()
                    .to_string(),
                code: e.error_code().unwrap_or("error").to_string(),
                message: e.error_message().unwrap_or_default().to_string(),
            });
        }
        Ok((Ok(answer), elapsed))
    }

    /// TerminateInstances. With `dry_run`, the dry-run result.
    pub fn terminate(
        &self,
        ids: &[String],
        dry_run: bool,
    ) -> Result<Option<DryRunResult>, LiveError> {
        if ids.is_empty() {
            return Ok(None);
        }
        let mut out = None;
        // TerminateInstances takes up to 1,000 ids per call.
        for chunk in ids.chunks(500) {
            let r = self.rt.block_on(
                self.client
                    .terminate_instances()
                    .set_instance_ids(Some(chunk.to_vec()))
                    .dry_run(dry_run)
                    .send(),
            );
            if dry_run {
                out = Some(dry_run_result(r).unwrap_or(DryRunResult::WouldSucceed));
            } else {
                r.map_err(|e| api_error("TerminateInstances", e))?;
            }
        }
        Ok(out)
    }

    /// DescribeInstances of these ids (every page).
    pub fn describe(&self, ids: &[String]) -> Result<Vec<RealInstance>, LiveError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.describe_with(Some(ids.to_vec()), Vec::new())
    }

    /// DescribeInstanceStatus of `ids` (`IncludeAllInstances`, so a pending one is listed
    /// too): the ids whose system **and** instance status checks are both `ok` — the earliest
    /// moment the operating system is known to be up without logging in to it.
    pub fn status_checks_ok(&self, ids: &[String]) -> Result<Vec<String>, LiveError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let pages = self.rt.block_on(async {
            self.client
                .describe_instance_status()
                .set_instance_ids(Some(ids.to_vec()))
                .include_all_instances(true)
                .into_paginator()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| api_error("DescribeInstanceStatus", e))
        })?;
        let ok = |s: Option<&aws_sdk_ec2::types::InstanceStatusSummary>| {
            s.and_then(|s| s.status())
                .is_some_and(|st| *st == aws_sdk_ec2::types::SummaryStatus::Ok)
        };
        let mut out: Vec<String> = pages
            .iter()
            .flat_map(|p| p.instance_statuses())
            .filter(|st| ok(st.system_status()) && ok(st.instance_status()))
            .filter_map(|st| st.instance_id().map(str::to_string))
            .collect();
        out.sort();
        Ok(out)
    }

    /// DescribeInstances of every instance carrying [`RUN_ID_TAG`] (= `run_id`, or any value).
    pub fn describe_tagged(&self, run_id: Option<&str>) -> Result<Vec<RealInstance>, LiveError> {
        let filter = match run_id {
            Some(id) => Filter::builder()
                .name(format!("tag:{RUN_ID_TAG}"))
                .values(id)
                .build(),
            None => Filter::builder().name("tag-key").values(RUN_ID_TAG).build(),
        };
        self.describe_with(None, vec![filter])
    }

    /// DescribeInstances of every instance in the region (tests, and checking a dry run).
    pub fn describe_all(&self) -> Result<Vec<RealInstance>, LiveError> {
        self.describe_with(None, Vec::new())
    }

    fn describe_with(
        &self,
        ids: Option<Vec<String>>,
        filters: Vec<Filter>,
    ) -> Result<Vec<RealInstance>, LiveError> {
        let pages = self.rt.block_on(async {
            self.client
                .describe_instances()
                .set_instance_ids(ids)
                .set_filters(if filters.is_empty() {
                    None
                } else {
                    Some(filters)
                })
                .into_paginator()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| api_error("DescribeInstances", e))
        })?;
        let mut out = Vec::new();
        for page in pages {
            for r in page.reservations() {
                for i in r.instances() {
                    out.push(RealInstance {
                        id: i.instance_id().unwrap_or_default().to_string(),
                        instance_type: i
                            .instance_type()
                            .map(|t| t.as_str().to_string())
                            .unwrap_or_default(),
                        zone: i
                            .placement()
                            .and_then(|p| p.availability_zone())
                            .unwrap_or_default()
                            .to_string(),
                        capacity_type: capacity_type_of(i.instance_lifecycle().map(|l| l.as_str())),
                        state: i
                            .state()
                            .and_then(|s| s.name())
                            .map(|n| n.as_str().to_string())
                            .unwrap_or_default(),
                        tags: i
                            .tags()
                            .iter()
                            .map(|t| {
                                (
                                    t.key().unwrap_or_default().to_string(),
                                    t.value().unwrap_or_default().to_string(),
                                )
                            })
                            .collect(),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}
