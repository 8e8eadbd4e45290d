//! The unit tests' harness: pools, constant latencies, request builders and `Sim`, a minimal
//! engine around one `MockEc2`.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::MockEc2;
use crate::cloud::latency::{Dist, SlowTail};
use crate::cloud::*;

pub(super) const A: &str = "us-east-1a";
pub(super) const B: &str = "us-east-1b";
pub(super) const C: &str = "us-east-1c";
pub(super) const OD: CapacityType = CapacityType::OnDemand;
pub(super) const SPOT: CapacityType = CapacityType::Spot;

pub(super) fn pool(t: &str, z: &str, ct: CapacityType, price: f64) -> PoolSpec {
    PoolSpec::new(PoolKey::new(t, z, ct), price)
}

/// Every stage constant, so times are exact: API 1 s, dispatch 5 s, running +10 s,
/// registered +20 s (AL2) / +300 s (Windows), ready +6 s, terminate 30 s.
pub(super) fn constant_latency() -> LatencyModel {
    let mut m = LatencyModel {
        create_fleet: Dist::Constant(1000),
        asg_dispatch: Dist::Constant(5000),
        pending_to_running: Dist::Constant(10_000),
        registered_to_ready: Dist::Constant(6000),
        slow_tail: SlowTail {
            probability: 0.0,
            ..SlowTail::default()
        },
        terminate: Dist::Constant(30_000),
        ..LatencyModel::default()
    };
    m.boot.al2 = Dist::Constant(20_000);
    m.boot.windows = Dist::Constant(300_000);
    m
}

pub(super) fn config(pools: Vec<PoolSpec>) -> MockConfig {
    MockConfig {
        pools,
        latency: constant_latency(),
        spot: SpotSettings {
            interruptions: false,
            ..SpotSettings::default()
        },
        ..MockConfig::default()
    }
}

/// A minimal engine: a timer queue ordered by (time, request order), three rng streams and
/// a log of every notice with its time.
pub(super) struct Sim {
    pub(super) cloud: MockEc2,
    pub(super) queue: BTreeMap<(u64, u64), CloudTimer>,
    pub(super) seq: u64,
    pub(super) now: u64,
    pub(super) lat: ChaCha8Rng,
    pub(super) spot: ChaCha8Rng,
    pub(super) alloc: ChaCha8Rng,
    pub(super) log: Vec<(u64, Notice)>,
}

impl Sim {
    pub(super) fn new(cfg: MockConfig) -> Sim {
        Sim::seeded(cfg, 1)
    }

    pub(super) fn seeded(cfg: MockConfig, seed: u64) -> Sim {
        Sim {
            cloud: MockEc2::new(cfg).expect("valid config"),
            queue: BTreeMap::new(),
            seq: 0,
            now: 0,
            lat: ChaCha8Rng::seed_from_u64(seed),
            spot: ChaCha8Rng::seed_from_u64(seed + 1000),
            alloc: ChaCha8Rng::seed_from_u64(seed + 2000),
            log: Vec::new(),
        }
    }

    pub(super) fn pump(&mut self) {
        for (at, t) in self.cloud.take_timers() {
            self.queue.insert((at, self.seq), t);
            self.seq += 1;
        }
    }

    pub(super) fn record(&mut self, notices: Vec<Notice>) {
        let now = self.now;
        self.log.extend(notices.into_iter().map(|n| (now, n)));
        self.pump();
    }

    /// Runs timers due at or before `t`, then sets the clock to `t`.
    pub(super) fn run_until(&mut self, t: u64) {
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > t {
                break;
            }
            let ((at, _), timer) = entry.remove_entry();
            self.now = at;
            let mut r = CloudRngs {
                latency: &mut self.lat,
                spot: &mut self.spot,
                alloc: &mut self.alloc,
            };
            let n = self.cloud.on_timer(at, timer, &mut r);
            self.record(n);
        }
        self.now = t;
    }

    pub(super) fn fleet(&mut self, req: &FleetRequest) -> FleetOutcome {
        let mut r = CloudRngs {
            latency: &mut self.lat,
            spot: &mut self.spot,
            alloc: &mut self.alloc,
        };
        let out = self.cloud.create_fleet(self.now, req, &mut r);
        self.pump();
        out
    }

    pub(super) fn launch_one(&mut self, req: &FleetRequest) -> InstanceId {
        match self.fleet(req) {
            FleetOutcome::Launched { instance, .. } => instance,
            other => panic!("expected a launch, got {other:?}"),
        }
    }

    pub(super) fn terminate(&mut self, ids: &[InstanceId]) {
        let mut r = CloudRngs {
            latency: &mut self.lat,
            spot: &mut self.spot,
            alloc: &mut self.alloc,
        };
        let n = self
            .cloud
            .terminate_instances(self.now, ids, &mut r)
            .expect("known ids");
        self.record(n);
    }

    pub(super) fn create_asg(&mut self, spec: AsgSpec) {
        let mut r = CloudRngs {
            latency: &mut self.lat,
            spot: &mut self.spot,
            alloc: &mut self.alloc,
        };
        self.cloud
            .create_asg(self.now, spec, &mut r)
            .expect("valid asg");
        self.pump();
    }

    pub(super) fn set_desired(&mut self, asg: &str, desired: u32) -> Result<(), CloudError> {
        let mut r = CloudRngs {
            latency: &mut self.lat,
            spot: &mut self.spot,
            alloc: &mut self.alloc,
        };
        let n = self
            .cloud
            .set_desired_capacity(self.now, asg, desired, &mut r)?;
        self.record(n);
        Ok(())
    }

    pub(super) fn terminate_in_asg(
        &mut self,
        id: InstanceId,
        decrement: bool,
    ) -> Result<(), CloudError> {
        let mut r = CloudRngs {
            latency: &mut self.lat,
            spot: &mut self.spot,
            alloc: &mut self.alloc,
        };
        let n = self
            .cloud
            .terminate_instance_in_asg(self.now, id, decrement, &mut r)?;
        self.record(n);
        Ok(())
    }

    pub(super) fn times_of(&self, f: impl Fn(&Notice) -> bool) -> Vec<u64> {
        self.log
            .iter()
            .filter(|(_, n)| f(n))
            .map(|(t, _)| *t)
            .collect()
    }

    pub(super) fn asg(&self, name: &str) -> AsgView {
        self.cloud.describe_asg(name).expect("asg exists")
    }

    pub(super) fn zone(&self, id: InstanceId) -> String {
        self.cloud.instance(id).expect("exists").pool.zone.clone()
    }
}

pub(super) fn req(
    ct: CapacityType,
    allocation: AllocationStrategy,
    overrides: &[(&str, &str)],
) -> FleetRequest {
    FleetRequest {
        capacity_type: ct,
        allocation,
        overrides: overrides
            .iter()
            .map(|(t, z)| FleetOverride {
                instance_type: t.to_string(),
                zone: z.to_string(),
                priority: 0.0,
            })
            .collect(),
        launch: LaunchSpec {
            ami_family: AmiFamily::AL2,
            ..LaunchSpec::default()
        },
    }
}

pub(super) fn od(overrides: &[(&str, &str)]) -> FleetRequest {
    req(OD, AllocationStrategy::LowestPrice, overrides)
}

pub(super) fn spot_pco(overrides: &[(&str, &str)]) -> FleetRequest {
    req(SPOT, AllocationStrategy::PriceCapacityOptimized, overrides)
}

pub(super) fn ice(
    types: &[&str],
    zones: &[&str],
    ct: Option<CapacityType>,
    from_ms: u64,
    until_ms: u64,
) -> IceWindow {
    IceWindow {
        instance_types: types.iter().map(|s| s.to_string()).collect(),
        zones: zones.iter().map(|s| s.to_string()).collect(),
        capacity_type: ct,
        from_ms,
        until_ms,
    }
}

pub(super) fn launched_pool(out: &FleetOutcome) -> PoolKey {
    match out {
        FleetOutcome::Launched { pool, .. } => pool.clone(),
        other => panic!("expected a launch, got {other:?}"),
    }
}

pub(super) fn asg_spec(
    name: &str,
    types: &[&str],
    ct: CapacityType,
    zones: &[&str],
    min: u32,
    max: u32,
) -> AsgSpec {
    AsgSpec {
        name: name.to_string(),
        instance_types: types.iter().map(|s| s.to_string()).collect(),
        capacity_type: ct,
        zones: zones.iter().map(|s| s.to_string()).collect(),
        min_size: min,
        max_size: max,
        launch: LaunchSpec {
            ami_family: AmiFamily::AL2,
            ..LaunchSpec::default()
        },
    }
}

pub(super) fn three_zone_pools(t: &str, ct: CapacityType, price: f64) -> Vec<PoolSpec> {
    [A, B, C].iter().map(|z| pool(t, z, ct, price)).collect()
}
