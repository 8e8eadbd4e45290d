//! `live calibrate`: launch a few tagged instances (CreateFleet `instant`, one call per
//! instance), time each call, poll DescribeInstances for pending → running and
//! DescribeInstanceStatus for running → both status checks `ok`, terminate them, time
//! shutting-down → terminated, and write the fitted stages as a file `spec.cloud.latency`
//! takes (docs/scenario.md "cloud.latency"; docs/live.md "Calibrating a scenario").
//!
//! Calibration never logs in to an instance (it is SSH-less): kubelet registration cannot be
//! seen from the EC2 API, so the status checks are the boot figure it can measure. They pass
//! after the operating system answers EC2's reachability probe, which is an upper bound of
//! `boot.<family>`; the file carries them as a comment, not as a stage.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use asim_core::catalog::Catalog;
use asim_core::cloud::{AllocationStrategy, CapacityType};

use crate::LiveError;
use crate::ec2::{DryRunResult, Ec2, FleetCall, Override};
use crate::safety::{self, Caps};

/// How often DescribeInstances is polled: the resolution of the pending → running figure.
pub const POLL: Duration = Duration::from_millis(500);

pub struct CalibrateOptions {
    pub region: String,
    pub instance_types: Vec<String>,
    pub capacity_types: Vec<CapacityType>,
    /// Instances per (type, capacity type).
    pub count: u32,
    pub zone: Option<String>,
    pub ami: Option<String>,
    pub launch_template: Option<String>,
    pub caps: Caps,
    pub launch: bool,
    /// Wait for running → status checks `ok` (minutes of extra billing per instance).
    pub status_checks: bool,
    pub timeout: Duration,
    pub out: PathBuf,
    pub run_id: String,
    pub catalog_root: Option<PathBuf>,
}

/// One measured instance.
#[derive(Debug, Clone)]
pub struct Sample {
    pub instance_type: String,
    pub capacity_type: CapacityType,
    pub id: String,
    pub zone: String,
    pub api_ms: f64,
    pub pending_to_running_ms: Option<f64>,
    /// `running` seen → system and instance status checks both `ok`.
    pub running_to_status_ok_ms: Option<f64>,
    pub terminate_ms: Option<f64>,
}

/// `{lognormal: {median, sigma}}` fitted to the samples (geometric mean, log-space standard
/// deviation), or `{constant: …}` for a single sample or no spread.
pub fn fit(samples_ms: &[f64]) -> Option<String> {
    if samples_ms.is_empty() {
        return None;
    }
    let logs: Vec<f64> = samples_ms
        .iter()
        .map(|&x| asim_core::math::ln(x.max(1.0)))
        .collect();
    let n = logs.len() as f64;
    let mu = logs.iter().sum::<f64>() / n;
    let median = asim_core::math::exp(mu).round() as u64;
    let sigma = if logs.len() > 1 {
        (logs.iter().map(|l| (l - mu) * (l - mu)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    if samples_ms.iter().all(|&x| x < 1.0) {
        return Some("{constant: 0s}".into());
    }
    if sigma < 0.005 {
        Some(format!("{{constant: {median}ms}}"))
    } else {
        Some(format!(
            "{{lognormal: {{median: {median}ms, sigma: {sigma:.3}}}}}"
        ))
    }
}

/// The latency file: comments saying where it came from, then one line per measured stage.
pub fn latency_file(opts: &CalibrateOptions, samples: &[Sample]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# autoscale-sim live calibrate, region {}, run {}, {} instance(s).",
        opts.region,
        opts.run_id,
        samples.len()
    );
    let _ = writeln!(
        o,
        "# Stages for spec.cloud.latency (docs/scenario.md); unmeasured stages keep their defaults."
    );
    let _ = writeln!(
        o,
        "# Use: paste under spec.cloud.latency, or\n#   autoscale-sim run S.yaml --set \"spec.cloud.latency=$(cat THIS_FILE)\""
    );
    let _ = writeln!(
        o,
        "# pendingToRunning is polled every {} ms: each sample is late by up to that much.",
        POLL.as_millis()
    );
    for s in samples {
        let _ = writeln!(
            o,
            "#   {} {} {} {}: createFleet {:.0} ms, pendingToRunning {}, runningToStatusOk {}, terminate {}",
            s.id,
            s.instance_type,
            s.capacity_type,
            s.zone,
            s.api_ms,
            s.pending_to_running_ms
                .map_or("not seen".into(), |v| format!("{v:.0} ms")),
            s.running_to_status_ok_ms.map_or(
                if opts.status_checks {
                    "not seen"
                } else {
                    "not measured"
                }
                .into(),
                |v| { format!("{v:.0} ms") }
            ),
            s.terminate_ms
                .map_or("not seen".into(), |v| format!("{v:.0} ms")),
        );
    }
    let api: Vec<f64> = samples.iter().map(|s| s.api_ms).collect();
    let p2r: Vec<f64> = samples
        .iter()
        .filter_map(|s| s.pending_to_running_ms)
        .collect();
    let term: Vec<f64> = samples.iter().filter_map(|s| s.terminate_ms).collect();
    let status: Vec<f64> = samples
        .iter()
        .filter_map(|s| s.running_to_status_ok_ms)
        .collect();
    if let Some(d) = fit(&status) {
        // Not a stage of the model: kubelet registers before EC2's reachability check
        // passes, so this bounds boot.<family> from above (docs/live.md "calibrate").
        let _ = writeln!(
            o,
            "# runningToStatusOk: {d}  (status checks ok; an upper bound for boot.<family>)"
        );
    }
    for (stage, v) in [
        ("createFleet", api),
        ("pendingToRunning", p2r),
        ("terminate", term),
    ] {
        if let Some(d) = fit(&v) {
            let _ = writeln!(o, "{stage}: {d}");
        }
    }
    o
}

/// The worst case before anything starts: every instance on-demand priced (a spot price never
/// exceeds it), running until the timeout, at least the 60-second minimum.
pub fn worst_case(
    opts: &CalibrateOptions,
    catalog: &Catalog,
) -> Result<(u32, f64, f64), LiveError> {
    let mut rate = 0.0;
    let mut n = 0;
    for t in &opts.instance_types {
        let it = catalog
            .get(t)
            .ok_or_else(|| LiveError::Input(catalog.unknown_type(t)))?;
        for _ in &opts.capacity_types {
            n += opts.count;
            rate += it.od_usd_per_hour * f64::from(opts.count);
        }
    }
    let hours = opts.timeout.as_secs_f64().max(60.0) / 3600.0 * 2.0;
    Ok((n, rate, rate * hours))
}

/// The whole command. Prints as it goes; returns the samples (empty on a dry run).
pub fn calibrate(ec2: &Ec2, opts: &CalibrateOptions) -> Result<Vec<Sample>, LiveError> {
    opts.caps.check_input()?;
    if opts.instance_types.is_empty() || opts.capacity_types.is_empty() || opts.count == 0 {
        return Err(LiveError::Input(
            "nothing to launch: give --instance-type, --capacity-type and --count ≥ 1".into(),
        ));
    }
    let catalog = Catalog::for_region(&opts.region, opts.catalog_root.as_deref())?;
    let (n, rate, worst) = worst_case(opts, &catalog)?;
    println!(
        "worst case: {n} instance(s), ${rate:.4}/h at on-demand prices; if every one ran until the \
         timeout ({} s to running and status checks, as long again to terminate): ${worst:.4}",
        opts.timeout.as_secs()
    );
    opts.caps.allow(0, 0.0, n, rate)?;
    let template = match (&opts.launch_template, &opts.ami) {
        (Some(t), _) => t.clone(),
        (None, Some(_)) => safety::launch_template_name(&opts.run_id),
        (None, None) => {
            return Err(LiveError::Input(
                "give --ami IMAGE (a launch template is created for the run) or --launch-template NAME"
                    .into(),
            ));
        }
    };
    let tags = safety::run_tags(&opts.run_id, "calibrate");
    let dry = !opts.launch;
    println!(
        "run id {}{}",
        opts.run_id,
        if dry {
            " (dry run: every mutating call is sent with DryRun=true; add --launch to launch)"
        } else {
            ""
        }
    );
    println!(
        "cleanup, if this is interrupted: autoscale-sim live cleanup --region {} --run-id {}",
        opts.region, opts.run_id
    );
    let mut known: Vec<String> = Vec::new();
    let result = run_calls(ec2, opts, &template, &tags, dry, &catalog, &mut known);
    if dry {
        return result;
    }
    // Every exit path terminates what was launched, and sweeps the tag.
    let problems = safety::terminate_run(ec2, &opts.run_id, &known, opts.launch_template.is_none());
    for p in &problems {
        eprintln!("warning: {p}");
    }
    let samples = result?;
    let text = latency_file(opts, &samples);
    if let Some(dir) = opts.out.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| LiveError::io(dir, e))?;
    }
    std::fs::write(&opts.out, &text).map_err(|e| LiveError::io(&opts.out, e))?;
    println!("latency file: {}", opts.out.display());
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        println!("  {l}");
    }
    Ok(samples)
}

fn report_dry(what: &str, r: &DryRunResult) {
    println!("dry run  {what}: {r}");
}

fn run_calls(
    ec2: &Ec2,
    opts: &CalibrateOptions,
    template: &str,
    tags: &BTreeMap<String, String>,
    dry: bool,
    catalog: &Catalog,
    known: &mut Vec<String>,
) -> Result<Vec<Sample>, LiveError> {
    if let (None, Some(ami)) = (&opts.launch_template, &opts.ami) {
        match ec2.create_launch_template(template, ami, tags, dry)? {
            Some(r) => report_dry(&format!("CreateLaunchTemplate {template}"), &r),
            None => println!("created launch template {template} ({ami})"),
        }
    }
    let mut samples: Vec<Sample> = Vec::new();
    // Wall time each instance was reported by CreateFleet.
    let mut returned_at: BTreeMap<String, Instant> = BTreeMap::new();
    let mut live_rate = 0.0;
    for t in &opts.instance_types {
        let price = catalog.get(t).map_or(0.0, |i| i.od_usd_per_hour);
        for &ct in &opts.capacity_types {
            for _ in 0..opts.count {
                if ec2.stopped() {
                    return Err(LiveError::Interrupted);
                }
                opts.caps.allow(known.len() as u32, live_rate, 1, price)?;
                let call = FleetCall {
                    launch_template: template.to_string(),
                    capacity_type: ct,
                    allocation: match ct {
                        CapacityType::OnDemand => AllocationStrategy::LowestPrice,
                        CapacityType::Spot => AllocationStrategy::PriceCapacityOptimized,
                    },
                    overrides: vec![Override {
                        instance_type: t.clone(),
                        zone: opts.zone.clone().unwrap_or_default(),
                        subnet: None,
                        priority: None,
                    }],
                    count: 1,
                    tags: tags.clone(),
                };
                let (answer, elapsed) = ec2.create_fleet(&call, dry)?;
                let answer = match answer {
                    Err(r) => {
                        report_dry(&format!("CreateFleet instant {t} {ct}"), &r);
                        continue;
                    }
                    Ok(a) => a,
                };
                let now = Instant::now();
                for e in &answer.errors {
                    println!(
                        "CreateFleet {t} {ct}: {} {} ({})",
                        e.code, e.message, e.zone
                    );
                }
                for l in &answer.instances {
                    known.push(l.id.clone());
                    live_rate += price;
                    returned_at.insert(l.id.clone(), now);
                    println!(
                        "launched {} {} {} in {:.0} ms",
                        l.id,
                        l.instance_type,
                        l.capacity_type,
                        elapsed.as_secs_f64() * 1000.0
                    );
                    samples.push(Sample {
                        instance_type: l.instance_type.clone(),
                        capacity_type: l.capacity_type,
                        id: l.id.clone(),
                        zone: l.zone.clone(),
                        api_ms: elapsed.as_secs_f64() * 1000.0,
                        pending_to_running_ms: None,
                        running_to_status_ok_ms: None,
                        terminate_ms: None,
                    });
                }
                if dry && !answer.instances.is_empty() {
                    // The endpoint ignored DryRun: stop here; the caller terminates them.
                    return Err(LiveError::Api {
                        op: "CreateFleet",
                        code: "DryRunIgnored".into(),
                        message: "the endpoint launched instances for a DryRun call".into(),
                    });
                }
            }
        }
    }
    if dry {
        if known.is_empty() {
            println!(
                "dry run  TerminateInstances: not sent (nothing launched, no instance id to name)"
            );
            println!("nothing launched; add --launch to measure");
        }
        return Ok(Vec::new());
    }
    // pending → running, then (one poll loop, so an early instance is not timed late)
    // running → both status checks ok.
    let deadline = Instant::now() + opts.timeout;
    let mut running_seen: BTreeMap<String, Instant> = BTreeMap::new();
    let mut gone: Vec<String> = Vec::new();
    loop {
        let waiting: Vec<String> = samples
            .iter()
            .filter(|s| s.pending_to_running_ms.is_none() && !gone.contains(&s.id))
            .map(|s| s.id.clone())
            .collect();
        let checking: Vec<String> = if opts.status_checks {
            samples
                .iter()
                .filter(|s| running_seen.contains_key(&s.id) && s.running_to_status_ok_ms.is_none())
                .map(|s| s.id.clone())
                .collect()
        } else {
            Vec::new()
        };
        if waiting.is_empty() && checking.is_empty() {
            break;
        }
        let seen = Instant::now();
        for i in ec2.describe(&waiting)? {
            if let Some(s) = samples.iter_mut().find(|s| s.id == i.id) {
                if s.zone.is_empty() {
                    s.zone = i.zone.clone();
                }
                if i.state == "running" {
                    let from = returned_at.get(&i.id).copied().unwrap_or(seen);
                    let ms = seen.duration_since(from).as_secs_f64() * 1000.0;
                    s.pending_to_running_ms = Some(ms);
                    running_seen.insert(i.id.clone(), seen);
                    println!("running  {} after {ms:.0} ms", i.id);
                } else if i.state != "pending" {
                    println!("{} went {} before running", i.id, i.state);
                    gone.push(i.id.clone());
                }
            }
        }
        for id in ec2.status_checks_ok(&checking)? {
            if let (Some(s), Some(from)) = (
                samples.iter_mut().find(|s| s.id == id),
                running_seen.get(&id),
            ) {
                let ms = seen.duration_since(*from).as_secs_f64() * 1000.0;
                s.running_to_status_ok_ms = Some(ms);
                println!("status checks ok  {id} {ms:.0} ms after running");
            }
        }
        if Instant::now() >= deadline {
            println!("timeout: some instances never reached running or passed their status checks");
            break;
        }
        if !ec2.sleep(POLL) {
            return Err(LiveError::Interrupted);
        }
    }
    // shutting-down → terminated.
    let ids: Vec<String> = samples.iter().map(|s| s.id.clone()).collect();
    let asked = Instant::now();
    ec2.terminate(&ids, false)?;
    let deadline = Instant::now() + opts.timeout;
    loop {
        let seen = Instant::now();
        let mut left = 0;
        for i in ec2.describe(&ids)? {
            if let Some(s) = samples.iter_mut().find(|s| s.id == i.id) {
                if i.state == "terminated" {
                    if s.terminate_ms.is_none() {
                        s.terminate_ms = Some(seen.duration_since(asked).as_secs_f64() * 1000.0);
                    }
                } else {
                    left += 1;
                }
            }
        }
        if left == 0 || Instant::now() >= deadline {
            break;
        }
        if !ec2.sleep(POLL) {
            return Err(LiveError::Interrupted);
        }
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_gives_constant_for_one_sample_and_lognormal_for_spread() {
        assert_eq!(fit(&[1200.0]).as_deref(), Some("{constant: 1200ms}"));
        assert_eq!(fit(&[0.0, 0.0]).as_deref(), Some("{constant: 0s}"));
        let f = fit(&[1000.0, 2000.0, 4000.0]).expect("fit");
        assert!(
            f.starts_with("{lognormal: {median: 2000ms, sigma: 0.69"),
            "{f}"
        );
        assert!(fit(&[]).is_none());
    }
}
