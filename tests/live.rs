//! Live mode against `moto_server` on loopback (docs/live.md "Tests"): catalog-sync reads the
//! types; without --launch nothing is created; calibrate launches and terminates; a live run
//! launches and terminates; a live run killed with SIGKILL leaves instances that `live cleanup`
//! removes; one stopped by SIGTERM cleans up after itself and reports the time it reached. Built only with `--features live`; `ASIM_MOTO_URL` must name a running moto
//! (`.ci/run` starts one). The tests share one moto, so they run one at a time (a mutex) and
//! reset it (`POST /moto-api/reset`) first. Fake credentials only.
#![cfg(feature = "live")]

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin_cmd;
use autoscale_sim::live::ec2::{Ec2, RUN_ID_TAG, RealInstance};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

static SERIAL: Mutex<()> = Mutex::new(());

const REGION: &str = "us-east-1";
const AMI: &str = "ami-0123456789abcdef0";

fn moto_url() -> String {
    std::env::var("ASIM_MOTO_URL").unwrap_or_else(|_| {
        panic!(
            "ASIM_MOTO_URL is not set: the live tests need a moto_server \
             (`moto_server -p PORT`, then ASIM_MOTO_URL=http://127.0.0.1:PORT; .ci/run does this)"
        )
    })
}

/// The environment every process (and the in-process client) uses: moto's endpoint, fake
/// credentials, no profile files, no IMDS.
fn aws_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto_url()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_SESSION_TOKEN", "testing".into()),
        ("AWS_REGION", REGION.into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        (
            "AWS_CONFIG_FILE",
            "/nonexistent/autoscale-sim-live-test".into(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/autoscale-sim-live-test".into(),
        ),
        ("AWS_MAX_ATTEMPTS", "3".into()),
    ]
}

/// Takes the lock, resets moto, and points this process's AWS environment at it.
fn setup() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    for (k, v) in aws_env() {
        // SAFETY: the tests of this file run one at a time under SERIAL, and nothing else in
        // this process reads the environment concurrently while a test holds it.
        unsafe { std::env::set_var(k, v) };
    }
    reset_moto();
    guard
}

/// `POST /moto-api/reset` over a plain TCP connection (no HTTP client dependency).
fn reset_moto() {
    let url = moto_url();
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut s = std::net::TcpStream::connect(&host)
        .unwrap_or_else(|e| panic!("cannot reach moto at {host}: {e}"));
    let req = format!(
        "POST /moto-api/reset HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).expect("write reset");
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(
        resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"),
        "{resp}"
    );
}

fn cli() -> assert_cmd::Command {
    let mut c = cargo_bin_cmd!("autoscale-sim");
    for (k, v) in aws_env() {
        c.env(k, v);
    }
    c.timeout(Duration::from_secs(300));
    c
}

fn ec2() -> Ec2 {
    Ec2::connect(REGION).expect("client")
}

/// Every instance moto knows, with or without our tag.
fn all_instances(ec2: &Ec2) -> Vec<RealInstance> {
    let mut v = ec2.describe_all().expect("describe all");
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

fn live_tagged(ec2: &Ec2) -> Vec<RealInstance> {
    ec2.describe_tagged(None)
        .expect("describe")
        .into_iter()
        .filter(|i| i.tags.contains_key(RUN_ID_TAG) && i.is_live())
        .collect()
}

/// Starts `live run SCENARIO ARGS… --out OUT` in the background (output discarded) and
/// returns once moto holds a live instance with our tag: the run is midway, with something to
/// clean up.
fn spawn_until_launched(ec2: &Ec2, scenario: &Path, args: &[&str], out: &Path) -> Child {
    let bin = assert_cmd::cargo::cargo_bin!("autoscale-sim");
    let mut cmd = Command::new(bin);
    cmd.args(["live", "run"])
        .arg(scenario)
        .args(args)
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in aws_env() {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn live run");
    let deadline = Instant::now() + Duration::from_secs(60);
    while live_tagged(ec2).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no instance launched within 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    child
}

/// The Deployment the small scenarios scale: one vCPU per replica.
const WEB_DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx
          resources: {requests: {cpu: "1", memory: 1Gi}}
"#;

/// A small Karpenter scenario: six 1-CPU pods at 1 s, on-demand m5 nodes, `duration` long,
/// with short boot stages so the pods run within seconds of the wall clock.
fn small_scenario(dir: &Path, duration: &str) -> std::path::PathBuf {
    let text = format!(
        r#"apiVersion: autoscale-sim/v1alpha1
kind: Scenario
metadata: {{name: live-small}}
spec:
  seed: 3
  duration: {duration}
  region: us-east-1
  zones: [us-east-1a]
  cloud:
    latency:
      boot: {{al2023: {{constant: 2s}}}}
      registeredToReady: {{constant: 1s}}
      slowTail: {{probability: 0}}
      podStart: {{constant: 1s}}
  timeline:
    - {{at: 1s, scale: {{deployment: web, replicas: 6}}}}
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {{name: default}}
spec:
  template:
    spec:
      requirements:
        - {{key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}}
        - {{key: node.kubernetes.io/instance-type, operator: In, values: [m5.xlarge, m5.2xlarge]}}
      nodeClassRef: {{group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}}
  disruption: {{consolidationPolicy: WhenEmpty, consolidateAfter: 1h}}
---
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {{name: default}}
spec:
  role: KarpenterNodeRole-live
  amiSelectorTerms: [{{alias: al2023@latest}}]
  subnetSelectorTerms: [{{tags: {{karpenter.sh/discovery: demo}}}}]
  securityGroupSelectorTerms: [{{tags: {{karpenter.sh/discovery: demo}}}}]
---
{WEB_DEPLOYMENT}"#
    );
    let p = dir.join("live-small.yaml");
    std::fs::write(&p, text).expect("write scenario");
    p
}

#[test]
fn catalog_sync_reads_instance_types_spot_prices_and_zones() {
    let _g = setup();
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("us-east-1");
    let a = cli()
        .args(["live", "catalog-sync", "--region", REGION, "--out"])
        .arg(&out)
        .assert()
        .code(0)
        .stdout(contains("catalog-sync us-east-1"))
        .stdout(contains("diff against the shipped us-east-1 catalog"));
    let stdout = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    let cat = autoscale_sim::catalog::Catalog::load_dir(&out).expect("synced catalog loads");
    assert!(cat.len() > 100, "{} types\n{stdout}", cat.len());
    assert!(cat.get("m5.large").is_some(), "{stdout}");
    // moto's spot price is a constant 0.00001 in every zone.
    let p = cat
        .spot_zone_price("m5.large", "us-east-1a")
        .expect("a per-zone spot price");
    assert!(p < 0.001, "{p}");
    let zones = common::read(&out.join("zones.csv"));
    assert!(zones.contains("us-east-1a,use1-az"), "{zones}");
    // A second sync diffs against the first: nothing added or removed.
    cli()
        .args(["live", "catalog-sync", "--region", REGION, "--out"])
        .arg(&out)
        .assert()
        .code(0)
        .stdout(contains("(current)"))
        .stdout(contains("added       0"))
        .stdout(contains("removed     0"));
}

#[test]
fn without_launch_nothing_is_created() {
    let _g = setup();
    let ec2 = ec2();
    cli()
        .args([
            "live",
            "calibrate",
            "--region",
            REGION,
            "--instance-type",
            "m5.large",
            "--capacity-type",
            "on-demand,spot",
            "--ami",
            AMI,
        ])
        .assert()
        .code(0)
        .stdout(contains("worst case: 2 instance(s)"))
        .stdout(contains("dry run  CreateLaunchTemplate"))
        .stdout(contains(
            "dry run  CreateFleet instant m5.large on-demand: DryRunOperation",
        ))
        .stdout(contains("nothing launched"));
    let tmp = tempfile::tempdir().expect("tmp");
    let scenario = small_scenario(tmp.path(), "15s");
    let out = tmp.path().join("out");
    cli()
        .args(["live", "run"])
        .arg(&scenario)
        .args(["--ami", AMI, "--out"])
        .arg(&out)
        .assert()
        .code(0)
        .stdout(contains("DRY RUN"))
        .stdout(contains("dry run  CreateFleet instant on-demand"))
        .stdout(contains("DryRunOperation"));
    let live: serde_json::Value =
        serde_json::from_str(&common::read(&out.join("live.json"))).expect("live.json");
    assert_eq!(live["launch"], false);
    assert_eq!(live["ending"], "completed");
    let instances = live["instances"].as_array().expect("instances");
    assert!(!instances.is_empty(), "the dry run simulated its launches");
    assert!(instances.iter().all(|i| i["source"] == "simulated"));
    assert!(out.join("report.json").exists());
    assert!(
        all_instances(&ec2).is_empty(),
        "a dry run created instances: {:?}",
        all_instances(&ec2)
    );
}

#[test]
fn caps_refuse_before_any_call() {
    let _g = setup();
    let ec2 = ec2();
    cli()
        .args([
            "live",
            "calibrate",
            "--region",
            REGION,
            "--instance-type",
            "m5.large",
            "--count",
            "3",
            "--max-instances",
            "2",
            "--ami",
            AMI,
            "--launch",
        ])
        .assert()
        .code(1)
        .stderr(contains("cap reached"))
        .stderr(contains("--max-instances 2"));
    assert!(all_instances(&ec2).is_empty());
}

#[test]
fn calibrate_launches_measures_and_terminates() {
    let _g = setup();
    let ec2 = ec2();
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("latency.yaml");
    cli()
        .args([
            "live",
            "calibrate",
            "--region",
            REGION,
            "--instance-type",
            "m5.large,c5.large",
            "--count",
            "2",
            "--ami",
            AMI,
            "--launch",
            "--run-id",
            "test-calibrate",
            "--out",
        ])
        .arg(&out)
        .assert()
        .code(0)
        .stdout(contains("launched i-"))
        .stdout(contains("running  i-"))
        .stdout(contains("status checks ok  i-"));
    let text = common::read(&out);
    assert!(text.contains("createFleet: {"), "{text}");
    assert!(text.contains("pendingToRunning: {"), "{text}");
    // The status checks are measured (moto passes them at once) and carried as a comment:
    // they bound boot.<family> but are not a stage of the model.
    assert!(text.contains("# runningToStatusOk: {"), "{text}");
    assert!(!text.contains("\nrunningToStatusOk"), "{text}");
    // The file is a spec.cloud.latency a scenario accepts.
    let scenario = small_scenario(tmp.path(), "1m");
    let run_out = tmp.path().join("sim");
    cli()
        .arg("--quiet")
        .arg("run")
        .arg(&scenario)
        .arg("--set")
        .arg(format!("spec.cloud.latency={text}"))
        .arg("--out")
        .arg(&run_out)
        .assert()
        .code(0);
    let mine = ec2
        .describe_tagged(Some("test-calibrate"))
        .expect("describe");
    assert_eq!(mine.len(), 4, "{mine:?}");
    assert!(mine.iter().all(|i| !i.is_live()), "{mine:?}");
}

#[test]
fn live_run_launches_then_terminates_everything() {
    let _g = setup();
    let ec2 = ec2();
    let tmp = tempfile::tempdir().expect("tmp");
    let scenario = small_scenario(tmp.path(), "20s");
    let out = tmp.path().join("out");
    cli()
        .args(["live", "run"])
        .arg(&scenario)
        .args(["--ami", AMI, "--launch", "--run-id", "test-run", "--out"])
        .arg(&out)
        .assert()
        .code(0)
        .stdout(contains("LAUNCHING"))
        .stdout(contains("live     CreateFleet instant on-demand"));
    let live: serde_json::Value =
        serde_json::from_str(&common::read(&out.join("live.json"))).expect("live.json");
    let real: Vec<&serde_json::Value> = live["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .filter(|i| i["source"] == "real")
        .collect();
    assert!(!real.is_empty(), "{live}");
    assert!(
        real.iter().all(|i| i["pending_to_running_ms"].is_number()),
        "{live}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&common::read(&out.join("report.json"))).expect("report.json");
    assert_eq!(report["pods"]["not_started_at_end"], 0, "{report}");
    assert!(common::read(&out.join("live-latency.csv")).contains(",real,"));
    let mine = ec2.describe_tagged(Some("test-run")).expect("describe");
    assert_eq!(mine.len(), real.len(), "{mine:?}");
    assert!(live_tagged(&ec2).is_empty(), "{:?}", live_tagged(&ec2));
}

#[test]
fn sigkill_midway_leaves_instances_that_cleanup_removes() {
    let _g = setup();
    let ec2 = ec2();
    let tmp = tempfile::tempdir().expect("tmp");
    let scenario = small_scenario(tmp.path(), "5m");
    let mut child = spawn_until_launched(
        &ec2,
        &scenario,
        &["--ami", AMI, "--launch", "--run-id", "test-killed"],
        &tmp.path().join("out"),
    );
    // SIGKILL: no handler runs, nothing is cleaned up.
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let leaked = live_tagged(&ec2);
    assert!(!leaked.is_empty());
    cli()
        .args([
            "live",
            "cleanup",
            "--region",
            REGION,
            "--run-id",
            "test-killed",
        ])
        .assert()
        .code(0)
        .stdout(contains("terminated i-"))
        .stdout(contains(
            "deleted launch template autoscale-sim-test-killed",
        ));
    assert!(live_tagged(&ec2).is_empty(), "{:?}", live_tagged(&ec2));
    // And nothing with our tag is running anywhere.
    cli()
        .args(["live", "cleanup", "--region", REGION, "--all-runs"])
        .assert()
        .code(0)
        .stdout(contains("0 live instance(s) terminated"));
}

#[test]
fn sigterm_midway_terminates_what_was_launched_and_writes_the_reports_so_far() {
    let _g = setup();
    let ec2 = ec2();
    let tmp = tempfile::tempdir().expect("tmp");
    let scenario = small_scenario(tmp.path(), "5m");
    let out = tmp.path().join("out");
    let mut child = spawn_until_launched(
        &ec2,
        &scenario,
        &["--ami", AMI, "--launch", "--run-id", "test-term"],
        &out,
    );
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(1), "{status:?}");
    // Its own instances are gone without a cleanup command.
    assert!(live_tagged(&ec2).is_empty(), "{:?}", live_tagged(&ec2));
    let live: serde_json::Value =
        serde_json::from_str(&common::read(&out.join("live.json"))).expect("live.json");
    assert_eq!(live["ending"], "interrupted");
    // The reports of `run`, up to the time reached.
    let meta: serde_json::Value =
        serde_json::from_str(&common::read(&out.join("run-meta.json"))).expect("run-meta.json");
    let at = meta["stopped_at_seconds"]
        .as_f64()
        .expect("stopped_at_seconds");
    assert!(at > 0.0 && at < 300.0, "{meta}");
    assert_eq!(meta["simulated_seconds"].as_f64(), Some(at), "{meta}");
    let report: serde_json::Value =
        serde_json::from_str(&common::read(&out.join("report.json"))).expect("report.json");
    assert!(
        report["pods"]["created"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
}

#[test]
fn cluster_autoscaler_is_refused_without_real_auto_scaling_groups() {
    let _g = setup();
    cli()
        .args(["live", "run"])
        .arg(common::shipped("ca-spike.yaml"))
        .args(["--ami", AMI])
        .assert()
        .code(2)
        .stderr(contains(
            "no Auto Scaling group named \"general-xlarge\" in us-east-1",
        ))
        .stderr(contains("live mode does not create them"));
}

/// An Auto Scaling group in moto, made the way its owner would (live mode never creates one):
/// a launch template, the group at 0, and `tags` on the group. Through boto3, which moto's
/// pip package brings, so that the tests need no Auto Scaling client of their own.
fn create_asg(name: &str, tags: &[(&str, &str)]) {
    let tags: Vec<String> = tags
        .iter()
        .map(|(k, v)| {
            format!(
                "{{'Key': '{k}', 'Value': '{v}', 'PropagateAtLaunch': False, \
                 'ResourceId': '{name}', 'ResourceType': 'auto-scaling-group'}}"
            )
        })
        .collect();
    let script = format!(
        "import boto3\n\
         ec2 = boto3.client('ec2', region_name='{REGION}')\n\
         ec2.create_launch_template(LaunchTemplateName='{name}-lt', \
         LaunchTemplateData={{'ImageId': '{AMI}', 'InstanceType': 'm5.xlarge'}})\n\
         asg = boto3.client('autoscaling', region_name='{REGION}')\n\
         asg.create_auto_scaling_group(AutoScalingGroupName='{name}', \
         LaunchTemplate={{'LaunchTemplateName': '{name}-lt', 'Version': '$Latest'}}, \
         MinSize=0, MaxSize=10, DesiredCapacity=0, AvailabilityZones=['{REGION}a'], \
         Tags=[{}])\n",
        tags.join(", ")
    );
    let mut py = Command::new("python3");
    py.args(["-c", &script]);
    for (k, v) in aws_env() {
        py.env(k, v);
    }
    let out = py
        .output()
        .expect("python3 with boto3 (moto's pip package brings it)");
    assert!(
        out.status.success(),
        "creating the group: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A small cluster-autoscaler scenario: one node group of m5.xlarge, three 1-CPU pods at 1 s.
fn small_ca_scenario(dir: &Path, duration: &str) -> std::path::PathBuf {
    let text = format!(
        r#"apiVersion: autoscale-sim/v1alpha1
kind: Scenario
metadata: {{name: live-small-ca}}
spec:
  seed: 3
  duration: {duration}
  region: us-east-1
  zones: [us-east-1a]
  autoscaler: cluster-autoscaler
  cloud:
    latency:
      boot: {{al2023: {{constant: 2s}}}}
      registeredToReady: {{constant: 1s}}
      slowTail: {{probability: 0}}
      podStart: {{constant: 1s}}
  clusterAutoscaler:
    nodeGroups:
      - name: general
        instanceTypes: [m5.xlarge]
        minSize: 0
        maxSize: 3
  timeline:
    - {{at: 1s, scale: {{deployment: web, replicas: 3}}}}
---
{WEB_DEPLOYMENT}"#
    );
    let p = dir.join("live-small-ca.yaml");
    std::fs::write(&p, text).expect("write scenario");
    p
}

#[test]
fn cluster_autoscaler_drives_an_existing_auto_scaling_group_and_sets_it_back_to_zero() {
    let _g = setup();
    let ec2 = ec2();
    let tmp = tempfile::tempdir().expect("tmp");
    let scenario = small_ca_scenario(tmp.path(), "40s");
    // Not allowed by its owner: refused before anything is sent.
    create_asg("asim-not-allowed", &[]);
    cli()
        .args(["live", "run"])
        .arg(&scenario)
        .args(["--asg", "general=asim-not-allowed", "--launch"])
        .assert()
        .code(2)
        .stderr(contains("not tagged autoscale-sim:allow-live=true"));
    create_asg("asim-live-ng", &[("autoscale-sim:allow-live", "true")]);
    // Without --launch nothing is sent: Auto Scaling has no DryRun, the group is simulated.
    let dry_out = tmp.path().join("dry");
    cli()
        .args(["live", "run"])
        .arg(&scenario)
        .args([
            "--asg",
            "general=asim-live-ng",
            "--set",
            "spec.duration=20s",
            "--out",
        ])
        .arg(&dry_out)
        .assert()
        .code(0)
        .stdout(contains("found, empty, allowed; simulated"))
        .stdout(contains("SetDesiredCapacity asim-live-ng 0 → "))
        .stdout(contains(": not sent: Auto Scaling has no DryRun"));
    assert!(all_instances(&ec2).is_empty(), "{:?}", all_instances(&ec2));
    // With --launch: real SetDesiredCapacity, the group's instances carry the run id from
    // launch, and at the end the group is back at 0 without the tag.
    let out = tmp.path().join("out");
    cli()
        .args(["live", "run"])
        .arg(&scenario)
        .args([
            "--asg",
            "general=asim-live-ng",
            // Ignored: the group launches from its own template, none is created.
            "--ami",
            AMI,
            "--launch",
            "--run-id",
            "test-ca",
            "--out",
        ])
        .arg(&out)
        .assert()
        .code(0)
        .stdout(contains("CreateLaunchTemplate").not())
        .stdout(contains("live     SetDesiredCapacity asim-live-ng 0 → "))
        .stdout(contains("live     Auto Scaling group general launched: i-"))
        .stdout(contains("Auto Scaling group(s) asim-live-ng set back to 0"));
    let live: serde_json::Value =
        serde_json::from_str(&common::read(&out.join("live.json"))).expect("live.json");
    let real: Vec<&serde_json::Value> = live["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .filter(|i| i["source"] == "real")
        .collect();
    assert!(!real.is_empty(), "{live}");
    let report: serde_json::Value =
        serde_json::from_str(&common::read(&out.join("report.json"))).expect("report.json");
    assert_eq!(report["pods"]["scheduled"], 3, "{report}");
    let group = ec2
        .describe_asgs(Some(&["asim-live-ng".to_string()]))
        .expect("describe the group");
    assert_eq!(group[0].desired, 0, "{group:?}");
    assert!(
        !group[0].tags.contains_key(RUN_ID_TAG),
        "the run's tag is removed: {group:?}"
    );
    let mine = ec2.describe_tagged(Some("test-ca")).expect("describe");
    assert_eq!(mine.len(), real.len(), "tagged from launch: {mine:?}");
    assert!(live_tagged(&ec2).is_empty(), "{:?}", live_tagged(&ec2));
}

#[test]
fn sigkill_of_a_cluster_autoscaler_run_leaves_a_group_that_cleanup_sets_back_to_zero() {
    let _g = setup();
    let ec2 = ec2();
    let tmp = tempfile::tempdir().expect("tmp");
    let scenario = small_ca_scenario(tmp.path(), "5m");
    create_asg("asim-killed-ng", &[("autoscale-sim:allow-live", "true")]);
    let mut child = spawn_until_launched(
        &ec2,
        &scenario,
        &[
            "--asg",
            "general=asim-killed-ng",
            "--launch",
            "--run-id",
            "test-ca-killed",
        ],
        &tmp.path().join("out"),
    );
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let group = |ec2: &Ec2| {
        ec2.describe_asgs(Some(&["asim-killed-ng".to_string()]))
            .expect("describe the group")
            .remove(0)
    };
    assert!(group(&ec2).desired > 0);
    cli()
        .args([
            "live",
            "cleanup",
            "--region",
            REGION,
            "--run-id",
            "test-ca-killed",
        ])
        .assert()
        .code(0)
        .stdout(contains("set Auto Scaling group asim-killed-ng back to 0"));
    let g = group(&ec2);
    assert_eq!(g.desired, 0, "{g:?}");
    assert!(!g.tags.contains_key(RUN_ID_TAG), "{g:?}");
    assert!(live_tagged(&ec2).is_empty(), "{:?}", live_tagged(&ec2));
}
