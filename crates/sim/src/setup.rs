//! Time zero: the starting cluster (static nodes, Ready at once, DaemonSet pods on them), the
//! first timeline, generator, trace and sample events, and the mock EC2's configuration from
//! the scenario.

use std::collections::BTreeMap;

use asim_cluster::pod::{CAPACITY_TYPE_KEY, HOSTNAME_KEY, ZONE_KEY};
use asim_cluster::{Node, NodeOwner};
use asim_core::cloud::latency::LatencyModel;
use asim_core::cloud::market::{
    CRUNCH_FACTOR, CRUNCH_PROBABILITY, DAILY_CAPACITY_SPREAD, MarketDraws, is_legacy,
};
use asim_core::cloud::{
    CapacityType, CloudRngs, IceWindow, LaunchSpec, MockConfig, PoolKey, PoolSpec, PriceChanges,
    SpotMarket, SpotSettings,
};
use asim_core::engine::SimTime;
use asim_core::engine::Stream;
use asim_report::NodeRecord;
use asim_workload::Scenario;

use crate::{Event, Simulation};

impl Simulation<'_> {
    /// Set up time zero: nodes, workloads, the timeline, generators, traces, the autoscaler.
    pub fn start(&mut self) {
        let sc = self.scenario;
        let now = SimTime::ZERO;
        self.cluster.pdbs.extend(sc.pdbs.iter().cloned());
        // StorageClasses and standalone claims exist from time zero; Immediate claims take
        // their zones now, in file order (docs/model/scheduler.md §3).
        self.cluster.volumes = asim_cluster::volume::Volumes::new(
            sc.storage_classes.iter().cloned(),
            sc.zones.clone(),
        );
        for (ns, claim) in &sc.claims {
            self.cluster.volumes.ensure(ns, &claim.name, claim);
        }
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
        if !self.scenario.hpas.is_empty() {
            let first = now + self.scenario.hpa_settings.sync_period_ms;
            if first.0 <= self.end.0 {
                self.queue.schedule(first, Event::HpaSync);
            }
        }
        self.with_ctx(now, |a, ctx| a.start(ctx));
    }

    pub(crate) fn launch_static(
        &mut self,
        s: &asim_workload::scenario::StaticNodes,
        zone: &str,
        n: usize,
    ) {
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
}

/// The mock EC2's pools from the catalog: every type in every scenario zone, on-demand, plus spot
/// where the Spot Advisor has data (docs/design.md §5), each spot pool with its zone's price and
/// capacity figure (docs/model/ec2.md §2). Public so tests can rebuild a run's spot market.
pub fn mock_config(scenario: &Scenario, latency: LatencyModel) -> MockConfig {
    use asim_workload::scenario::Interruptions;
    let market_seed = Stream::SpotMarket.seed(scenario.seed);
    let mut draws = MarketDraws::new(market_seed);
    let mut pools = Vec::new();
    for t in scenario.catalog.types() {
        for z in &scenario.zones {
            pools.push(PoolSpec::new(
                PoolKey::new(t.name.clone(), z.clone(), CapacityType::OnDemand),
                t.od_usd_per_hour,
            ));
            // The zone's price and capacity figure (docs/model/ec2.md §2.1, §2.3).
            if let Some(d) = draws.spot_pool(t, z, scenario.catalog.spot_zone_price(&t.name, z)) {
                let mut p = PoolSpec::new(
                    PoolKey::new(t.name.clone(), z.clone(), CapacityType::Spot),
                    d.price_per_hour,
                );
                p.interruption_per_hour =
                    t.spot_interruption_hazard_per_ms().unwrap_or(0.0) * 3_600_000.0;
                p.capacity_score = d.capacity;
                p.current_generation = !is_legacy(t);
                pools.push(p);
            }
        }
    }
    let cs = &scenario.spec.cloud;
    let mut ice = Vec::new();
    for w in &cs.capacity {
        ice.push(IceWindow {
            instance_types: w.instance_types.clone(),
            zones: w.zones.clone(),
            capacity_type: w.capacity_type,
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
    let market = SpotMarket {
        seed: market_seed,
        daily_spread: DAILY_CAPACITY_SPREAD,
        crunch_probability: CRUNCH_PROBABILITY,
        crunch_factor: CRUNCH_FACTOR,
        price_changes: cs.spot.price_changes.map(|pc| PriceChanges {
            every_ms: pc.every.0,
            max_step: pc.max_step.0,
        }),
    };
    MockConfig {
        pools,
        ice,
        latency,
        spot,
        market,
        ..Default::default()
    }
}

/// Convert the catalog's plain resource vector into a resource list.
/// Labels every EKS node carries besides its launcher's: the region and zone id (kubelet and
/// the AWS cloud controller, from instance metadata), and the deprecated beta aliases the
/// kubelet still sets next to the stable keys (`beta.kubernetes.io/arch|os|instance-type`,
/// `failure-domain.beta.kubernetes.io/zone|region`; kubernetes:
/// pkg/kubelet/kubelet_node_status.go `initialNode`). Older Helm charts select on the aliases.
/// Labels already present are kept.
pub(crate) fn add_system_labels(labels: &mut asim_core::k8s::selector::Labels, region: &str) {
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
