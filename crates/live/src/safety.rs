//! What stands between a mistake and someone's bill: run ids on every instance, caps checked
//! before each launch, and cleanup by tag (`live cleanup`, and the end of every `calibrate` and
//! `run`, signal or error included).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::LiveError;
use crate::ec2::{DryRunResult, Ec2, RUN_ID_TAG, RealInstance};

/// A fresh run id: `asim-` + seconds since the epoch and the process id, in hex. Unique per
/// machine and second, short enough to type into `live cleanup --run-id`.
pub fn new_run_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("asim-{secs:x}-{:x}", std::process::id())
}

/// A run id given on the command line: letters, digits, `-`, `_`, `.`; 1–100 characters (EC2
/// tag values allow more, but a run id is typed and printed).
pub fn check_run_id(id: &str) -> Result<(), LiveError> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(LiveError::Input(format!(
            "--run-id {id:?}: expected 1–100 letters, digits, `-`, `_` or `.`"
        )))
    }
}

/// The tags of everything a run creates.
pub fn run_tags(run_id: &str, purpose: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (RUN_ID_TAG.to_string(), run_id.to_string()),
        ("autoscale-sim:purpose".to_string(), purpose.to_string()),
        (
            "Name".to_string(),
            format!("autoscale-sim {purpose} {run_id}"),
        ),
    ])
}

/// The launch template a run creates: `autoscale-sim-<run id>`.
pub fn launch_template_name(run_id: &str) -> String {
    format!("autoscale-sim-{run_id}")
}

/// Hard limits, checked before each launch call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Caps {
    pub max_instances: u32,
    pub max_usd_per_hour: f64,
}

impl Caps {
    pub fn check_input(&self) -> Result<(), LiveError> {
        if self.max_instances == 0 {
            return Err(LiveError::Input(
                "--max-instances must be at least 1".into(),
            ));
        }
        if !(self.max_usd_per_hour.is_finite() && self.max_usd_per_hour > 0.0) {
            return Err(LiveError::Input(
                "--max-usd-per-hour must be a number above 0".into(),
            ));
        }
        Ok(())
    }

    /// May `adding` more instances costing at most `adding_usd_per_hour` join `live` ones
    /// costing `live_usd_per_hour`? Err says which cap.
    pub fn allow(
        &self,
        live: u32,
        live_usd_per_hour: f64,
        adding: u32,
        adding_usd_per_hour: f64,
    ) -> Result<(), LiveError> {
        if live + adding > self.max_instances {
            return Err(LiveError::Cap(format!(
                "{live} live + {adding} would exceed --max-instances {}",
                self.max_instances
            )));
        }
        let rate = live_usd_per_hour + adding_usd_per_hour;
        if rate > self.max_usd_per_hour + 1e-9 {
            return Err(LiveError::Cap(format!(
                "${live_usd_per_hour:.4}/h live + up to ${adding_usd_per_hour:.4}/h would exceed --max-usd-per-hour {}",
                self.max_usd_per_hour
            )));
        }
        Ok(())
    }
}

/// What a cleanup did.
#[derive(Debug, Clone, Default)]
pub struct CleanupReport {
    /// Live instances found with the tag, terminated (or, dry run, that would be).
    pub terminated: Vec<RealInstance>,
    /// Instances with the tag already shutting down or terminated.
    pub already_gone: usize,
    pub dry_run: Option<DryRunResult>,
    /// Instances still live after the wait (should be empty).
    pub still_live: Vec<String>,
    /// Auto Scaling groups carrying the tag (a cluster-autoscaler run's), set back to 0 first
    /// so that they do not replace the instances terminated next (dry run: that would be).
    pub asgs: Vec<String>,
    /// What went wrong releasing them.
    pub asg_problems: Vec<String>,
}

/// Sets every Auto Scaling group tagged with `run_id` (or with any run id) back to 0, then
/// terminates every live instance so tagged, then waits up to `wait` for none to be live.
/// `dry_run` sends TerminateInstances with DryRun=true only, and leaves the groups alone.
pub fn cleanup(
    ec2: &Ec2,
    run_id: Option<&str>,
    dry_run: bool,
    wait: Duration,
) -> Result<CleanupReport, LiveError> {
    // Groups first: a group at its desired capacity would replace what is terminated below.
    let mut rep = CleanupReport {
        asgs: ec2
            .describe_tagged_asgs(run_id)?
            .into_iter()
            .map(|g| g.name)
            .collect(),
        ..CleanupReport::default()
    };
    if !dry_run {
        rep.asg_problems = crate::autoscaling::release_asgs(ec2, &rep.asgs);
    }
    let found = ec2.describe_tagged(run_id)?;
    for i in found {
        // Only ever terminate what carries our tag, whatever the endpoint's filtering did.
        let ours = match run_id {
            Some(id) => i.tags.get(RUN_ID_TAG).is_some_and(|v| v == id),
            None => i.tags.contains_key(RUN_ID_TAG),
        };
        if !ours {
            continue;
        }
        if i.is_live() {
            rep.terminated.push(i);
        } else {
            rep.already_gone += 1;
        }
    }
    let ids: Vec<String> = rep.terminated.iter().map(|i| i.id.clone()).collect();
    rep.dry_run = ec2.terminate(&ids, dry_run)?;
    if dry_run || ids.is_empty() {
        return Ok(rep);
    }
    let deadline = std::time::Instant::now() + wait;
    loop {
        let live: Vec<String> = ec2
            .describe(&ids)?
            .into_iter()
            .filter(|i| matches!(i.state.as_str(), "pending" | "running"))
            .map(|i| i.id)
            .collect();
        if live.is_empty() || std::time::Instant::now() >= deadline {
            rep.still_live = live;
            return Ok(rep);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Terminates the given instances (this run's), then sweeps the tag for any the run lost
/// track of (a CreateFleet whose answer never arrived), then deletes the launch template the
/// run created, if it created one. Used on every exit path of `calibrate` and `run`; errors
/// are reported, not returned, so the sweep always runs.
pub fn terminate_run(
    ec2: &Ec2,
    run_id: &str,
    known: &[String],
    created_template: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = ec2.terminate(known, false) {
        problems.push(format!("terminating {} instance(s): {e}", known.len()));
    }
    match cleanup(ec2, Some(run_id), false, Duration::from_secs(30)) {
        Ok(r) if !r.still_live.is_empty() => problems.push(format!(
            "still live after 30 s: {} — run `autoscale-sim live cleanup --run-id {run_id}`",
            r.still_live.join(", ")
        )),
        Ok(_) => {}
        Err(e) => problems.push(format!(
            "sweeping tag {RUN_ID_TAG}={run_id}: {e} — run `autoscale-sim live cleanup --run-id {run_id}`"
        )),
    }
    if created_template && let Err(e) = ec2.delete_launch_template(&launch_template_name(run_id)) {
        problems.push(format!("deleting the launch template: {e}"));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_refuse_the_instance_and_the_dollar_over_the_limit() {
        let c = Caps {
            max_instances: 2,
            max_usd_per_hour: 1.0,
        };
        assert!(c.allow(1, 0.2, 1, 0.5).is_ok());
        assert!(matches!(c.allow(2, 0.2, 1, 0.1), Err(LiveError::Cap(_))));
        assert!(matches!(c.allow(0, 0.6, 1, 0.5), Err(LiveError::Cap(_))));
    }

    #[test]
    fn run_ids_are_checked() {
        assert!(check_run_id("asim-1a2b-3c").is_ok());
        assert!(check_run_id("").is_err());
        assert!(check_run_id("a b").is_err());
        assert!(check_run_id(&new_run_id()).is_ok());
    }
}
