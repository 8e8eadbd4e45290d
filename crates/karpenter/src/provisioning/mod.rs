//! The provisioner: which pods are provisionable, the batcher, and one provisioning round —
//! build the scheduling inputs from cluster state, solve, and create NodeClaims.
//! docs/model/karpenter.md §1.1, §1.2, §1.8, §1.9.

mod batcher;
mod existing;
pub use asim_cluster::free_capacity;
pub mod scheduling;
pub mod seed;
pub mod topology;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use asim_core::hash::FastMap;
use std::sync::Arc;

use crate::apis::WELL_KNOWN_LABELS;
use asim_cluster::autoscaler::Ctx;
use asim_cluster::pod::HostPort;
use asim_cluster::{Cluster, OwnerKind, Pod, PodId, PodPhase};
use asim_core::engine::SimTime;
use asim_core::k8s::requirements::{Requirement, Requirements};
use asim_core::k8s::resources::Resources;

use crate::Karpenter;
use crate::decision::{Decision, PodDecision};
use crate::ids::ClassId;
use crate::instancetype::{CAPACITY_TYPE, InstanceTypeInfo};
use crate::nodeclaim::store::ClaimId;
use crate::nodeclaim::{ClaimState, NodeClaim};
use crate::provisioning::free_capacity::FreeCapacity;
use crate::provisioning::scheduling::{
    ExistingNode, MAX_INSTANCE_TYPES, PlannedClaim, Scheduler, Template, TypeTables, core,
    finalize_types, instance_type_requirement, satisfies_min_values,
};
use crate::provisioning::seed::{SeedCache, TopologySeed};
use crate::timer::Timer;
pub use batcher::Batcher;
pub(crate) use existing::{ExistingSlot, ExistingSource, KeptNode, LaunchedCache};

/// Pods Karpenter reacts to (§1.2): marked Unschedulable by kube-scheduler, unbound, not
/// preempting (no `nominatedNodeName`), not owned by a DaemonSet or a node.
pub fn is_provisionable(p: &Pod) -> bool {
    p.phase == PodPhase::Pending
        && p.unschedulable_since.is_some()
        && p.nominated_node.is_none()
        && !matches!(p.owner, OwnerKind::DaemonSet | OwnerKind::Node)
}

pub fn provisionable_pods(cluster: &Cluster) -> Vec<PodId> {
    cluster
        .pending_pods()
        .filter(|p| is_provisionable(cluster.pod(*p)))
        .collect()
}

impl Karpenter {
    /// The provisioner watches NodePools and nodes: after a change, every provisionable pod is
    /// tried again in the next batch.
    pub(crate) fn requeue_provisionable(&mut self, ctx: &mut Ctx<'_>) {
        let pods = provisionable_pods(ctx.cluster());
        if !pods.is_empty() {
            self.trigger(ctx, pods);
        }
    }

    /// DaemonSet overhead per instance type of a template (§1.4): the DaemonSets that tolerate
    /// the NodePool's taints and whose node requirements fit the NodePool and the type.
    pub(crate) fn daemon_overhead(
        cluster: &Cluster,
        tpl_reqs: &Requirements,
        taints: &[asim_core::k8s::taints::Taint],
        all: &[InstanceTypeInfo],
        types: &[u32],
    ) -> (Vec<Resources>, Vec<asim_cluster::pod::HostPort>) {
        let mut ds_list = Vec::new();
        for ds in &cluster.daemonsets {
            let t = &ds.template;
            let tolerated = taints.iter().all(|x| {
                x.effect == asim_core::k8s::taints::TaintEffect::PreferNoSchedule
                    || t.tolerations.iter().any(|tol| tol.tolerates(x))
            });
            if !tolerated {
                continue;
            }
            let mut r = Requirements::from_labels(&t.node_selector);
            if let Some(first) = t.required_terms.first() {
                r.add(first);
            }
            if tpl_reqs
                .compatible_allowing_undefined(&r, WELL_KNOWN_LABELS)
                .is_err()
            {
                continue;
            }
            ds_list.push((r, t));
        }
        let mut ports = Vec::new();
        for (_, t) in &ds_list {
            ports.extend(t.host_ports.iter().cloned());
        }
        let overhead = types
            .iter()
            .map(|&i| {
                let it = &all[i as usize];
                let mut sum = Resources::default();
                for (r, t) in &ds_list {
                    if it.requirements.intersects_ok(r) {
                        sum.add(&t.requests);
                    }
                }
                sum
            })
            .collect();
        (overhead, ports)
    }

    /// One template per NodePool that can provision, with the host ports of the DaemonSets that
    /// would run on its nodes (same order).
    pub(crate) fn templates(
        &self,
        cluster: &Cluster,
        now: SimTime,
    ) -> (Vec<Template>, Vec<Vec<HostPort>>) {
        let mut out = Vec::new();
        let mut daemon_ports = Vec::new();
        for (pi, pool) in self.pools.iter().enumerate() {
            let np = &pool.nodepool;
            let Some(ci) = pool.class else { continue };
            if np.is_static() {
                continue;
            }
            let class = &self.classes[ci];
            // Nothing defaults `karpenter.sh/capacity-type` in v1: a NodePool that says nothing is
            // compatible with every capacity type its offerings have, so launches go spot first
            // (docs/model/karpenter-provisioning.md "Capacity type"; the AWS provider's
            // `getCapacityType` in pkg/providers/instance/instance.go).
            let Ok(reqs) = np.template_requirements() else {
                continue;
            };
            // The types the NodePool's requirements allow change only with the NodePool or the
            // NodeClass: cached. Availability is judged now: an ICE entry lapses after its 3
            // minutes (§2).
            let types: Vec<u32> = self.available_types(np.name(), ci, &reqs, now).to_vec();
            let spec = &np.spec.template.spec;
            let (daemon_overhead, ports) =
                Self::daemon_overhead(cluster, &reqs, &spec.taints, &class.types, &types);
            // Limits: spec.limits − capacity of the NodePool's live NodeClaims (§1.8).
            let (remaining, remaining_nodes) = if np.spec.limits.is_empty() {
                (None, None)
            } else {
                let mut used = Resources::default();
                let mut nodes = 0i64;
                for (_, c) in self
                    .claims
                    .live()
                    .filter(|&(ci, c)| c.is_active() && self.pool_of(ci) == Some(pi))
                {
                    nodes += 1;
                    let all = &self.classes[c.nodeclass].types;
                    match &c.launched {
                        Some(l) => used.add(&all[l.instance_type as usize].capacity),
                        None => {
                            let mut max = Resources::default();
                            for &t in &c.types {
                                max.max_with(&all[t as usize].capacity);
                            }
                            used.add(&max);
                        }
                    }
                }
                // Nodes carrying the NodePool's label that no live NodeClaim of ours owns (e.g.
                // Node manifests) count too: Karpenter sums the capacity of every state node
                // with the `karpenter.sh/nodepool` label, except those marked for deletion
                // (§1.8; [core] pkg/controllers/state/cluster.go `updateNodePoolResources`).
                // (Our own NodeClaims' nodes, nearly all of them, are ruled out first by id: a
                // label lookup compares strings in the node's map, once per node per pass.)
                for node in cluster.nodes() {
                    if node.deleting
                        || self.claim_of_node(node.id).is_some()
                        || node.label(crate::apis::NODEPOOL_LABEL) != Some(np.name())
                    {
                        continue;
                    }
                    nodes += 1;
                    used.add(&node.capacity);
                }
                let mut rem = Resources::default();
                let mut rem_nodes = None;
                for (k, q) in &np.spec.limits {
                    let v = if k == "cpu" {
                        q.to_milli_ceil()
                    } else {
                        q.to_units_ceil()
                    };
                    if k == "nodes" {
                        rem_nodes = Some(v - nodes);
                    } else {
                        rem.set(k, v - used.get(k));
                    }
                }
                // Unlimited resources stay unlimited, extended ones (GPUs, EFA, …) included: a
                // type's capacity is compared only with the resources the limits name (§1.8).
                let mut lim = Resources {
                    cpu_m: i64::MAX / 4,
                    memory: i64::MAX / 4,
                    ephemeral_storage: i64::MAX / 4,
                    pods: i64::MAX / 4,
                    ..Default::default()
                };
                for &i in &types {
                    for k in class.types[i as usize].capacity.extended.keys() {
                        lim.extended.entry(k.clone()).or_insert(i64::MAX / 4);
                    }
                }
                for k in np.spec.limits.keys() {
                    if k != "nodes" {
                        lim.set(k, rem.get(k));
                    }
                }
                let any_resource = np.spec.limits.keys().any(|k| k != "nodes");
                (any_resource.then_some(lim), rem_nodes)
            };
            let no_types_reason = types.is_empty().then(|| self.why_no_types(ci, &reqs));
            out.push(Template {
                no_types_reason,
                nodepool: np.name().to_string(),
                requirements: reqs,
                labels: np.spec.template.metadata.labels.clone(),
                taints: spec.taints.clone(),
                startup_taints: spec.startup_taints.clone(),
                all_types: Arc::clone(&class.types),
                types,
                daemon_overhead,
                remaining,
                remaining_nodes,
            });
            daemon_ports.push(ports);
        }
        (out, daemon_ports)
    }

    /// Pods planned onto a NodeClaim whose node is now up but whose taints or labels refuse
    /// them. Karpenter's view of a NodeClaim and the node it becomes must agree (every
    /// instance type defines every well-known label; NodeClaims carry their requirement
    /// labels), so this should never happen; if it does, it is a simulator bug that would
    /// otherwise show as a loop of launches, and it is logged loudly once per pod and claim
    /// (`nodeclaim-refused-pod` in decisions.jsonl, and a warning).
    pub(crate) fn check_refused_pods(&mut self, cluster: &Cluster, now: SimTime, pods: &[PodId]) {
        // A pod that was bound or ended needs no watching: the map holds pending pods only.
        self.planned_on
            .retain(|p, _| cluster.pod(*p).phase == PodPhase::Pending);
        for &p in pods {
            let Some(i) = self.planned_on.get(&p).copied() else {
                continue;
            };
            let c = &self.claims[i];
            let Some(node) = c.node.and_then(|n| cluster.node(n)) else {
                continue;
            };
            if !c.initialized() || node.deleting {
                continue;
            }
            let pod = cluster.pod(p);
            if let Err(why) = Cluster::node_admits(&pod.template, node) {
                let (pod_name, claim_name) =
                    (format!("{}/{}", pod.namespace(), pod.name), c.name.clone());
                tracing::warn!(
                    "simulator bug: NodeClaim {claim_name} was launched for pod {pod_name}, whose node refuses it ({})",
                    why.describe()
                );
                self.log(
                    now,
                    Decision::NodeclaimRefusedPod {
                        pod: pod_name,
                        nodeclaim: claim_name,
                        reason: why.describe(),
                    },
                );
                self.planned_on.remove(&p);
            }
        }
    }

    /// The types of NodeClass `ci` whose requirements intersect NodePool `pool`'s `reqs`,
    /// computed once per (requirements, NodeClass generation).
    pub(crate) fn compatible_types(
        &self,
        pool: &str,
        ci: ClassId,
        reqs: &Requirements,
    ) -> Arc<Vec<u32>> {
        let class = &self.classes[ci];
        if let Some((r, c, g, types)) = self.compatible_cache.borrow().get(pool)
            && *c == ci
            && *g == class.generation
            && r == reqs
        {
            return Arc::clone(types);
        }
        let types: Arc<Vec<u32>> = Arc::new(
            (0..class.types.len() as u32)
                .filter(|&i| class.types[i as usize].requirements.intersects_ok(reqs))
                .collect(),
        );
        self.compatible_cache.borrow_mut().insert(
            pool.to_string(),
            (reqs.clone(), ci, class.generation, Arc::clone(&types)),
        );
        types
    }

    /// [`Karpenter::compatible_types`] with an offering `reqs` allows that is available now.
    fn available_types(
        &self,
        pool: &str,
        ci: ClassId,
        reqs: &Requirements,
        now: SimTime,
    ) -> Arc<Vec<u32>> {
        let compatible = self.compatible_types(pool, ci, reqs);
        let ice = self.ice.state(now);
        if let Some((c, i, types)) = self.available_cache.borrow().get(pool)
            && Arc::ptr_eq(c, &compatible)
            && *i == ice
        {
            return Arc::clone(types);
        }
        let class = &self.classes[ci];
        let types: Arc<Vec<u32>> = Arc::new(
            compatible
                .iter()
                .copied()
                .filter(|&i| class.types[i as usize].has_offering(reqs, &self.ice, now))
                .collect(),
        );
        self.available_cache
            .borrow_mut()
            .insert(pool.to_string(), (compatible, ice, Arc::clone(&types)));
        types
    }

    /// Why NodeClass `ci` offers a NodePool with requirements `reqs` no instance type: the
    /// filter that removed the last one, in Karpenter's order — the AMI family (types it
    /// cannot run are never offered), each NodePool requirement, then availability (the
    /// subnets' zones, capacity types, the insufficient-capacity cache).
    pub(crate) fn why_no_types(&self, ci: ClassId, reqs: &Requirements) -> String {
        let class = &self.classes[ci];
        let ami = class
            .nodeclass
            .as_ref()
            .map_or(crate::apis::AmiFamily::Al2023, |n| n.effective_ami_family());
        if class.zones.is_empty() {
            return format!(
                "EC2NodeClass {} selects no subnet, so it offers no instance type",
                class.name
            );
        }
        let mut left: Vec<&InstanceTypeInfo> = class.types.iter().collect();
        for r in reqs.iter() {
            left.retain(|it| {
                it.requirements
                    .get(r.key())
                    .is_none_or(|a| a.has_intersection(r))
            });
            if left.is_empty() {
                let mut why = format!(
                    "no instance type of EC2NodeClass {} ({}) satisfies the NodePool requirement {r}",
                    class.name,
                    ami.as_str()
                );
                let blocked: Vec<&str> = class
                    .ami_excluded
                    .iter()
                    .filter(|(_, tr)| tr.intersects_ok(reqs))
                    .map(|(n, _)| n.as_str())
                    .collect();
                if let Some(first) = blocked.first() {
                    why.push_str(&format!(
                        "; {} type(s) that would ({first}, …) cannot run the AMI family {}",
                        blocked.len(),
                        ami.as_str()
                    ));
                }
                return why;
            }
        }
        let cts = reqs
            .get(CAPACITY_TYPE)
            .map_or_else(|| "any".to_string(), ToString::to_string);
        format!(
            "none of the {} instance types matching the NodePool has an available offering \
             (zones {}; capacity types {cts}; an offering out of capacity stays unavailable for 3 minutes)",
            left.len(),
            class.zones.join(", "),
        )
    }

    pub(crate) fn claim_of_node(&self, node: asim_cluster::NodeId) -> Option<&NodeClaim> {
        self.claims
            .by_node(node)
            .map(|i| &self.claims[i])
            .filter(|c| c.node == Some(node) && c.is_active())
    }

    /// The reschedulable pods of a node that is leaving (§1.2 item 3, §4.4): active pods not
    /// owned by a DaemonSet or the node, and terminating StatefulSet pods (their replacement
    /// keeps the name, so it needs the room).
    pub(crate) fn reschedulable_pods(cluster: &Cluster, node: &asim_cluster::Node) -> Vec<PodId> {
        node.pods
            .iter()
            .copied()
            .filter(|p| {
                let pod = cluster.pod(*p);
                !matches!(pod.owner, OwnerKind::DaemonSet | OwnerKind::Node)
                    && (matches!(pod.phase, PodPhase::Starting | PodPhase::Running)
                        || (pod.phase == PodPhase::Terminating
                            && pod.owner == OwnerKind::StatefulSet))
            })
            .collect()
    }

    /// Is the node going away: deleting, or marked for deletion by a disruption command that
    /// waits for its replacements (§4.8)? Then it is no capacity.
    pub(crate) fn is_leaving(&self, node: &asim_cluster::Node) -> bool {
        node.deleting
            || self
                .claims
                .by_node(node.id)
                .is_some_and(|i| self.claims[i].marked_for_deletion)
    }

    /// What every simulation in one controller pass shares: the NodePools' templates and the
    /// existing capacity (leaving nodes excluded), without the nodes `left_out` — nodes every
    /// simulation of the pass excludes (consolidation's nodes inside their consolidateAfter
    /// window), so that the pass's index, topology and seed are built without them instead of
    /// each simulation taking them out again.
    pub(crate) fn solve_base(
        &self,
        cluster: &Cluster,
        now: SimTime,
        left_out: Arc<BTreeSet<asim_cluster::NodeId>>,
    ) -> SolveBase {
        let (templates, daemon_ports) = self.templates(cluster, now);
        // A bit per node slot: one lookup per node of the pass.
        let mut left_out_bits = vec![false; left_out.last().map_or(0, |n| n.0 as usize + 1)];
        for n in left_out.iter() {
            left_out_bits[n.0 as usize] = true;
        }
        // In the scheduler's own order (initialized first, then by name), so that the indices
        // it reports for placements on existing nodes are indices into this list.
        let (existing, existing_return) = self.existing_nodes(cluster, &left_out, &left_out_bits);
        // The requests the pass's simulations place are those of the pods bound or pending
        // now: the index keeps exact bits for them (free_capacity.rs).
        // The cluster keeps the bound pods' shapes: no node is read for them.
        let mut shapes: BTreeSet<_> = cluster.bound_request_shapes().collect();
        shapes.extend(
            cluster
                .pending_pods()
                .map(|p| core(&cluster.pod(p).template.requests)),
        );
        let free =
            FreeCapacity::new(existing.iter().map(|e| core(&e.available))).with_shapes(shapes);
        let index = existing
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((e.node?, i)))
            .collect();
        let mut free_total = [0i64; 4];
        for e in &existing {
            add_room(&mut free_total, core(&e.available));
        }
        // Per resource, the most any one new NodeClaim could hold (overhead not deducted).
        let mut claim_max = [0i64; 4];
        for t in &templates {
            for &i in &t.types {
                let a = core(&t.all_types[i as usize].allocatable);
                for j in 0..4 {
                    claim_max[j] = claim_max[j].max(a[j]);
                }
            }
        }
        // Nodes merely marked by a disruption command are covered by its replacements (§4.8);
        // their pods count once the node is deleted.
        let deleting_pods = cluster
            .nodes()
            .filter(|n| n.deleting)
            .flat_map(|node| Self::reschedulable_pods(cluster, node))
            .collect();
        SolveBase {
            pending: provisionable_pods(cluster).into_iter().collect(),
            deleting_pods,
            templates,
            daemon_ports,
            existing,
            left_out,
            free: free.into(),
            free_total,
            claim_max,
            index,
            seed: std::cell::OnceCell::new(),
            type_tables: Default::default(),
            existing_return: Some(existing_return),
        }
    }

    /// Run the scheduling simulation over `pods` against `base` minus the `excluded` nodes
    /// (the provisioner excludes none; consolidation excludes its candidates, §4.6). The
    /// base's `left_out` nodes are not in it to begin with: naming one in `excluded`, or any
    /// other node the base does not hold, changes nothing. `log`: the pods' decisions are
    /// wanted (with their names).
    /// `max_claims`: stop once more NodeClaims than this are planned
    /// ([`Scheduler::max_claims`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn simulate<'b>(
        &self,
        cluster: &Cluster,
        now: SimTime,
        base: &'b SolveBase,
        mut pods: Vec<PodId>,
        excluded: &BTreeSet<asim_cluster::NodeId>,
        claim_prefix: String,
        log: bool,
        max_claims: Option<usize>,
    ) -> Simulated<'b> {
        // Karpenter's order: CPU desc, memory desc, older first, then UID (§1.3). The keys are
        // read once per pod (not per comparison); the id makes them unique, so an unstable sort
        // gives the same order.
        let mut keyed: Vec<_> = pods
            .iter()
            .map(|&p| {
                let pod = cluster.pod(p);
                (
                    std::cmp::Reverse(pod.template.requests.cpu_m),
                    std::cmp::Reverse(pod.template.requests.memory),
                    pod.created_at,
                    pod.id,
                )
            })
            .collect();
        keyed.sort_unstable();
        pods.clear();
        pods.extend(keyed.iter().map(|k| k.3));
        pods.dedup();
        // The pass's existing nodes, shared: the excluded ones are only taken out of the
        // pass's free-capacity index, lent to this solve and restored after it, so no pod is
        // offered to them.
        let mut free = base.free.take();
        free.journal();
        free.exclude(excluded.iter().filter_map(|n| base.index.get(n).copied()));
        // Seed topology with the pods bound to the remaining nodes — only needed when some pod
        // has topology rules (its own, or a bound pod's anti-affinity).
        let needs_topology = cluster.has_anti_affinity_pods()
            || pods.iter().any(|p| {
                let t = &cluster.pod(*p).template;
                !(t.spread.is_empty()
                    && t.affinity.is_empty()
                    && t.anti_affinity.is_empty()
                    && t.preferred_affinity.is_empty()
                    && t.preferred_anti_affinity.is_empty())
            });
        let seed = base.seed(cluster, &self.seed_cache);
        let mut sched = Scheduler::over_base(
            &base.templates,
            &base.existing,
            excluded,
            free,
            seed.existing_doms(),
            &self.ice,
            now,
            claim_prefix,
            seed.topology(excluded, needs_topology),
            seed.keys(),
        );
        sched.set_type_tables(base.type_tables.take());
        sched.set_existing_hosts(seed.existing_hosts());
        sched.min_values_best_effort = self.settings.min_values_best_effort;
        sched.log_decisions = log;
        sched.max_claims = max_claims;
        for (ti, ports) in base.daemon_ports.iter().enumerate() {
            sched.set_daemon_host_ports(ti, ports.clone());
        }
        let input: Vec<(PodId, Arc<asim_cluster::PodTemplate>, String)> = pods
            .iter()
            .map(|p| {
                let pod = cluster.pod(*p);
                let mut t = Arc::clone(&pod.template);
                if self.settings.ignore_preferences {
                    let mut tt = (*t).clone();
                    tt.preferred_terms.clear();
                    tt.preferred_affinity.clear();
                    tt.preferred_anti_affinity.clear();
                    tt.spread.retain(|s| {
                        s.when_unsatisfiable == asim_cluster::pod::WhenUnsatisfiable::DoNotSchedule
                    });
                    t = Arc::new(tt);
                }
                // Names are for the log only.
                let name = if log {
                    format!("{}/{}", pod.namespace(), pod.name)
                } else {
                    String::new()
                };
                (*p, t, name)
            })
            .collect();
        let mut result = sched.solve(&input);
        base.type_tables
            .replace(std::mem::take(&mut result.type_tables));
        let mut free = std::mem::take(&mut result.free);
        free.restore();
        base.free.replace(free);
        Simulated {
            templates: &base.templates,
            existing: &base.existing,
            result,
            input,
        }
    }

    /// One provisioning round: solve over the provisionable pods and create NodeClaims.
    pub(crate) fn provision(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        let cluster = ctx.cluster();
        let mut pods: Vec<PodId> = provisionable_pods(cluster);
        // Plus the reschedulable pods of nodes being deleted (§1.2 item 3).
        // Nodes merely marked by a disruption command are covered by its replacements (§4.8);
        // their pods count once the node is deleted.
        for node in cluster.nodes().filter(|n| n.deleting) {
            pods.extend(Self::reschedulable_pods(cluster, node));
        }
        if pods.is_empty() {
            return;
        }
        self.check_refused_pods(cluster, now, &pods);
        let base = self.solve_base(cluster, now, Arc::default());
        let prefix = format!("batch{}", self.claims.sequence());
        let mut sim = self.simulate(
            cluster,
            now,
            &base,
            pods,
            &BTreeSet::new(),
            prefix,
            true,
            None,
        );
        for (_, d) in std::mem::take(&mut sim.result.decisions) {
            self.log(now, Decision::Scheduled(d));
        }
        // Nodes the simulation put pods on are nominated: disruption leaves them alone for a
        // while (§4.2, nomination window 20 s).
        for (_, e) in &sim.result.existing {
            if let Some(ExistingNode {
                node: Some(node), ..
            }) = sim.existing.get(*e)
            {
                self.nominated
                    .insert(*node, now + crate::NOMINATION_WINDOW_MS);
                self.nominations += 1;
            }
        }
        // Create the NodeClaims.
        for claim in &sim.result.claims {
            let tpl = &sim.templates[claim.template];
            if let Err(why) = self.plan_claim(tpl, claim, now) {
                for p in &claim.pods {
                    let pod = sim
                        .input
                        .iter()
                        .find(|(id, _, _)| id == p)
                        .map(|(_, _, n)| n.clone())
                        .unwrap_or_default();
                    self.log(
                        now,
                        Decision::Scheduled(PodDecision {
                            pod,
                            outcome: "unschedulable".into(),
                            target: None,
                            nodepool: Some(tpl.nodepool.clone()),
                            relaxed: Vec::new(),
                            reason: Some(why.to_string()),
                        }),
                    );
                }
                continue;
            }
            let Ok(planned) = self.plan_claim(tpl, claim, now) else {
                continue;
            };
            let (reqs, types) = Rc::unwrap_or_clone(planned);
            self.create_claim(ctx, tpl, claim, reqs, types);
        }
        // Pods stay provisionable until bound: requeue them every 10 s (§1.1).
        if !self.requeue_pending {
            self.requeue_pending = true;
            ctx.set_timer(now + 10_000, Timer::Requeue.encode());
        }
    }

    /// The requirements and instance types a planned NodeClaim is created with: its types
    /// sorted by price, at most 600, minValues still met, capacity types narrowed to the
    /// offerings left (§1.9). `Err` says why no NodeClaim can be made.
    pub(crate) fn plan_claim(
        &self,
        tpl: &Template,
        claim: &PlannedClaim,
        now: SimTime,
    ) -> Result<Rc<Planned>, String> {
        self.plan_memo
            .borrow_mut()
            .get(tpl, claim, (now, self.ice.state(now)), || {
                self.plan_claim_afresh(tpl, claim, now)
            })
    }

    /// [`Karpenter::plan_claim`] without the memo.
    fn plan_claim_afresh(
        &self,
        tpl: &Template,
        claim: &PlannedClaim,
        now: SimTime,
    ) -> Result<(Requirements, Vec<u32>), String> {
        let types = finalize_types(claim, &tpl.all_types, &self.ice, now);
        if types.is_empty() {
            return Err("no instance type has an available offering".into());
        }
        // Truncating to the 600 cheapest types may break minValues: the NodeClaim is then
        // dropped and its pods error (§1.9; [core] scheduling/scheduler.go
        // `TruncateInstanceTypes`, MIN_VALUES_POLICY=Strict).
        if let Err(why) = satisfies_min_values(&claim.requirements, &tpl.all_types, &types)
            && !self.settings.min_values_best_effort
        {
            return Err(format!(
                "after truncating to {MAX_INSTANCE_TYPES} instance types: {why}"
            ));
        }
        let mut reqs = claim.requirements.clone();
        reqs.add_requirement(instance_type_requirement(&types, &tpl.all_types));
        narrow_capacity_types(&mut reqs, &types, &tpl.all_types);
        Ok((reqs, types))
    }

    /// Create a NodeClaim for a planned one of `tpl`'s NodePool and schedule its launch.
    pub(crate) fn create_claim(
        &mut self,
        ctx: &mut Ctx<'_>,
        tpl: &Template,
        claim: &PlannedClaim,
        reqs: Requirements,
        types: Vec<u32>,
    ) -> Option<ClaimId> {
        let now = ctx.now;
        let pool = self
            .pools
            .iter()
            .find(|p| p.nodepool.name() == tpl.nodepool)?;
        let class = pool.class?;
        let spec = &pool.nodepool.spec.template.spec;
        let expire_after = match spec.expire_after {
            asim_core::k8s::duration::NillableDuration::After(ms) => Some(ms),
            asim_core::k8s::duration::NillableDuration::Never => None,
        };
        let termination_grace = spec.termination_grace_period.map(|d| d.as_millis());
        let do_not_disrupt = pool
            .nodepool
            .spec
            .template
            .metadata
            .annotations
            .get(asim_cluster::pod::DO_NOT_DISRUPT)
            .is_some_and(|v| v == "true");
        let name = format!("{}-{:05x}", tpl.nodepool, self.claims.sequence());
        let mut labels = tpl.labels.clone();
        labels.extend(custom_labels(&reqs));
        labels.insert(crate::apis::NODEPOOL_LABEL.into(), tpl.nodepool.clone());
        labels.insert(
            crate::apis::EC2NODECLASS_LABEL.into(),
            self.classes[class].name.clone(),
        );
        let i = self.claims.push(NodeClaim {
            name: name.clone(),
            nodepool: tpl.nodepool.clone(),
            nodeclass: class,
            requirements: reqs,
            types,
            requests: claim.requests.clone(),
            labels,
            taints: tpl.taints.clone(),
            startup_taints: tpl.startup_taints.clone(),
            state: ClaimState::Pending,
            created_at: now,
            launched: None,
            launched_at: None,
            registered_at: None,
            initialized_at: None,
            node: None,
            deletion_reason: None,
            expire_after_ms: expire_after,
            termination_grace_ms: termination_grace,
            do_not_disrupt,
            nodeclass_generation: self.classes[class].generation,
            template: Arc::clone(&pool.template),
            drifted_at: None,
            drift_reason: None,
            marked_for_deletion: false,
        });
        for &p in &claim.pods {
            self.planned_on.insert(p, i);
        }
        // `hostname` is the placeholder the `scheduled` events name as their target.
        // BestEffort: the NodeClaim is annotated when its types do not meet minValues.
        let min_values_relaxed = (self.settings.min_values_best_effort
            && satisfies_min_values(
                &self.claims[i].requirements,
                &tpl.all_types,
                &self.claims[i].types,
            )
            .is_err())
        .then_some(true);
        let event = Decision::NodeclaimCreated {
            nodeclaim: name,
            hostname: claim.hostname.clone(),
            nodepool: tpl.nodepool.clone(),
            pods: claim.pods.len(),
            instance_types: self.claims[i].types.len(),
            min_values_relaxed,
        };
        self.log(now, event);
        // The claim is launched once the solve is done (docs/model/latency.md §3 stage 1d).
        ctx.set_timer(now + self.settings.solve_ms, Timer::Launch(i).encode());
        if let Some(ms) = expire_after {
            ctx.set_timer(now + ms, Timer::Expire(i).encode());
        }
        Some(i)
    }
}

/// The labels a NodeClaim gets when it is created from its requirements' user-defined keys:
/// one concrete value for each (`team In [ml]` → `team: ml`; `team Exists` → some value), so
/// that the in-flight NodeClaim already answers pods selecting them and the provisioner does
/// not launch another node for them while it boots. Well-known keys are left to the instance
/// type chosen at launch. Karpenter: pkg/controllers/provisioning/scheduling/nodeclaimtemplate.go
/// `resolveCustomLabelsFromRequirements`; docs/model/karpenter-provisioning.md "NodeClaim labels".
pub(crate) fn custom_labels(reqs: &Requirements) -> Vec<(String, String)> {
    reqs.iter()
        .filter(|r| {
            let k = r.key();
            !crate::apis::WELL_KNOWN_LABELS.contains(&k)
                && crate::apis::restricted_label_reason(k).is_none()
        })
        .filter_map(|r| r.any_value().map(|v| (r.key().to_string(), v)))
        .collect()
}

/// Narrow a NodeClaim's capacity types to those its remaining offerings have.
pub(crate) fn narrow_capacity_types(
    reqs: &mut Requirements,
    types: &[u32],
    all: &[InstanceTypeInfo],
) {
    // How many capacity types there are (the match stops compiling should one be added).
    const ALL: usize = match asim_core::cloud::CapacityType::Spot {
        asim_core::cloud::CapacityType::Spot | asim_core::cloud::CapacityType::OnDemand => 2,
    };
    let mut cts = BTreeSet::new();
    let allowed = crate::instancetype::OfferingReqs::of(reqs);
    // Once both capacity types are in, no further offering can add one: stop (the types are
    // up to 600, each with an offering per zone and capacity type).
    'types: for &i in types {
        for o in &all[i as usize].offerings {
            if allowed.allows(o) {
                cts.insert(o.capacity_type.as_str());
                if cts.len() == ALL {
                    break 'types;
                }
            }
        }
    }
    reqs.add_requirement(Requirement::in_values(CAPACITY_TYPE, cts));
}

/// [`Karpenter::plan_claim`]'s answers at one instant and one set of unavailable offerings.
/// A consolidation pass simulates up to ~30 removals, and most plan a NodeClaim with the same
/// requirements and instance types: pricing and sorting up to 600 types for each cost ~5 % of
/// a busy day. The answer is a function of the template's types, the claim's requirements and
/// types, the unavailable offerings and the time (and the fixed settings), so it is kept for
/// as long as those are unchanged.
#[derive(Default)]
pub(crate) struct PlanMemo {
    at: Option<(SimTime, (u64, usize))>,
    /// The NodeClass's types (kept alive, so the pointer is not reused), the claim's
    /// requirements and types, and the answer.
    #[allow(clippy::type_complexity)]
    entries: Vec<(
        Arc<Vec<InstanceTypeInfo>>,
        Requirements,
        Vec<u32>,
        Result<Rc<Planned>, String>,
    )>,
}

/// A planned NodeClaim's requirements (its instance types among them) and instance types, as
/// it would be created. Shared: a pass asks for the same few many times, and a requirement on
/// up to 600 instance-type names is costly to copy.
pub(crate) type Planned = (Requirements, Vec<u32>);

/// A pass plans few distinct NodeClaims; beyond this many, the oldest answers go.
const PLAN_MEMO_ENTRIES: usize = 16;

impl PlanMemo {
    fn get(
        &mut self,
        tpl: &Template,
        claim: &PlannedClaim,
        at: (SimTime, (u64, usize)),
        plan: impl FnOnce() -> Result<Planned, String>,
    ) -> Result<Rc<Planned>, String> {
        if self.at != Some(at) {
            self.entries.clear();
            self.at = Some(at);
        }
        let found = self.entries.iter().find(|(types, reqs, ids, _)| {
            Arc::ptr_eq(types, &tpl.all_types) && *ids == claim.types && *reqs == claim.requirements
        });
        if let Some((.., answer)) = found {
            return answer.clone();
        }
        let answer = plan().map(Rc::new);
        if self.entries.len() == PLAN_MEMO_ENTRIES {
            self.entries.drain(..1);
        }
        self.entries.push((
            Arc::clone(&tpl.all_types),
            claim.requirements.clone(),
            claim.types.clone(),
            answer.clone(),
        ));
        answer
    }
}

/// Inputs shared by the simulations of one pass (see [`Karpenter::solve_base`]).
pub struct SolveBase {
    /// The provisionable pods: every simulation of the pass schedules them too.
    pub pending: BTreeSet<PodId>,
    /// The reschedulable pods of deleting nodes, which every consolidation simulation of the
    /// pass schedules too.
    pub deleting_pods: Vec<PodId>,
    pub templates: Vec<Template>,
    pub daemon_ports: Vec<Vec<HostPort>>,
    /// In the scheduler's order.
    pub existing: Vec<ExistingNode>,
    /// Nodes left out of `existing`: a simulation over this base excludes at least these.
    pub left_out: Arc<BTreeSet<asim_cluster::NodeId>>,
    /// The free-capacity index over `existing`, which each simulation borrows, takes its
    /// excluded nodes out of and places its pods in, and gives back restored.
    free: std::cell::RefCell<FreeCapacity>,
    /// Each Node's position in `existing` (only looked up).
    index: FastMap<asim_cluster::NodeId, usize>,
    /// Per core resource, the room left on `existing` (each node's positive part).
    free_total: [i64; 4],
    /// Per core resource, the most any one new NodeClaim of the templates could hold.
    claim_max: [i64; 4],
    /// Built by the first simulation that needs it.
    seed: std::cell::OnceCell<TopologySeed>,
    /// Handed from one simulation to the next.
    type_tables: std::cell::RefCell<TypeTables>,
    /// Gives `existing` back for the next build when the base is dropped (existing.rs).
    existing_return: Option<existing::ExistingReturn>,
}

impl Drop for SolveBase {
    fn drop(&mut self) {
        if let Some(back) = self.existing_return.take() {
            back.give_back(std::mem::take(&mut self.existing));
        }
    }
}

/// `total += max(0, room)`, per resource.
fn add_room(total: &mut [i64; 4], room: [i64; 4]) {
    for j in 0..4 {
        total[j] += room[j].max(0);
    }
}

impl SolveBase {
    /// Whether `requests` (core resources) certainly do not fit in the room left on the
    /// existing nodes but `excluded` plus one new NodeClaim: in some resource, they ask more
    /// than all of that room together, so that any solve placing them all plans at least two
    /// NodeClaims. A bound only — `false` says nothing.
    pub(crate) fn exceeds_one_more_node(
        &self,
        requests: [i64; 4],
        excluded: &BTreeSet<asim_cluster::NodeId>,
    ) -> bool {
        let mut room = self.free_total;
        for n in excluded {
            if let Some(&i) = self.index.get(n) {
                for (j, r) in core(&self.existing[i].available).into_iter().enumerate() {
                    room[j] -= r.max(0);
                }
            }
        }
        (0..4).any(|j| requests[j] > room[j] + self.claim_max[j])
    }

    /// The topology every simulation over this base starts from.
    fn seed(&self, cluster: &Cluster, cache: &RefCell<SeedCache>) -> &TopologySeed {
        self.seed.get_or_init(|| {
            TopologySeed::new(
                &self.templates,
                &self.existing,
                Some(cluster),
                &mut cache.borrow_mut(),
            )
        })
    }
}

/// One simulation's outcome.
pub struct Simulated<'b> {
    /// The pass's templates (a solve's limits are its own).
    pub templates: &'b [Template],
    /// The pass's existing nodes, indexed as `result.existing` reports.
    pub existing: &'b [ExistingNode],
    pub result: crate::provisioning::scheduling::SolveResult,
    pub input: Vec<(PodId, Arc<asim_cluster::PodTemplate>, String)>,
}

/// Bit `i` of a set kept as a bit per slot (node ids, NodeClaim indices, key ids: dense and
/// never reused), growing as slots are added; a bit past the end is unset.
pub(crate) fn set_bit(bits: &mut Vec<bool>, i: usize) {
    if bits.len() <= i {
        bits.resize(i + 1, false);
    }
    bits[i] = true;
}

/// Whether bit `i` of such a set is set.
pub(crate) fn bit(bits: &[bool], i: usize) -> bool {
    bits.get(i).copied().unwrap_or(false)
}

/// A name's first 16 bytes, zero-padded, as a big-endian integer: ordered as the names are
/// whenever two prefixes differ.
pub(crate) fn name_prefix(name: &str) -> u128 {
    let b = name.as_bytes();
    let mut buf = [0u8; 16];
    let n = b.len().min(16);
    buf[..n].copy_from_slice(&b[..n]);
    u128::from_be_bytes(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provisioning::scheduling::NodeIdentity;

    fn template(types: Arc<Vec<InstanceTypeInfo>>) -> Template {
        Template {
            nodepool: "default".into(),
            requirements: Requirements::new(),
            labels: Default::default(),
            taints: vec![],
            startup_taints: vec![],
            all_types: types,
            types: vec![],
            daemon_overhead: vec![],
            remaining: None,
            remaining_nodes: None,
            no_types_reason: None,
        }
    }

    fn claim(types: Vec<u32>, zone: &str) -> PlannedClaim {
        PlannedClaim {
            template: 0,
            hostname: String::new(),
            requirements: Requirements::from_iter([Requirement::in_values(
                "topology.kubernetes.io/zone",
                [zone],
            )]),
            pods: vec![],
            requests: Resources::default(),
            types,
            host_ports: vec![],
            envelope: Resources::default(),
        }
    }

    fn cpu(m: i64) -> Resources {
        Resources {
            cpu_m: m,
            ..Default::default()
        }
    }

    /// A base over existing nodes with `room` CPU each (node ids 0, 1, ...) and one template
    /// whose largest type allocates `largest` CPU.
    fn base_with(room: &[i64], largest: i64) -> SolveBase {
        let types = Arc::new(
            [largest / 2, largest]
                .iter()
                .map(|&m| InstanceTypeInfo {
                    name: format!("t{m}"),
                    requirements: Requirements::new(),
                    capacity: cpu(m),
                    allocatable: cpu(m),
                    offerings: vec![],
                    exotic: false,
                })
                .collect::<Vec<_>>(),
        );
        let mut tpl = template(types);
        tpl.types = vec![0, 1];
        let existing: Vec<ExistingNode> = room
            .iter()
            .enumerate()
            .map(|(i, &m)| ExistingNode {
                identity: NodeIdentity::new(&format!("n{i}"), Default::default()),
                node: Some(asim_cluster::NodeId(i as u32)),
                nodeclaim: None,
                taints: vec![],
                startup_taints: vec![],
                initialized: true,
                available: cpu(m),
                host_ports: vec![],
            })
            .collect();
        let mut free_total = [0; 4];
        for e in &existing {
            add_room(&mut free_total, core(&e.available));
        }
        SolveBase {
            pending: BTreeSet::new(),
            deleting_pods: Vec::new(),
            templates: vec![tpl],
            daemon_ports: vec![vec![]],
            free: FreeCapacity::new(existing.iter().map(|e| core(&e.available))).into(),
            index: existing
                .iter()
                .enumerate()
                .filter_map(|(i, e)| Some((e.node?, i)))
                .collect(),
            existing,
            left_out: Arc::default(),
            free_total,
            claim_max: [largest, 0, 0, 0],
            seed: Default::default(),
            type_tables: Default::default(),
            existing_return: None,
        }
    }

    /// Multi-node consolidation's search skips the solve when the moving pods ask more than
    /// the other nodes' room plus the largest new node (docs/model/karpenter.md §4.6): the
    /// bound counts each kept node's room (an overcommitted node's as none), takes the
    /// excluded nodes' out, and adds one NodeClaim's worth, never more.
    #[test]
    fn one_more_node_bound_counts_the_kept_nodes_room_and_one_largest_node() {
        let base = base_with(&[1000, -300, 500], 4000);
        let none = BTreeSet::new();
        let need = |m: i64| [m, 0, 0, 0];
        assert!(!base.exceeds_one_more_node(need(5500), &none));
        assert!(base.exceeds_one_more_node(need(5501), &none));
        let without_first = BTreeSet::from([asim_cluster::NodeId(0)]);
        assert!(!base.exceeds_one_more_node(need(4500), &without_first));
        assert!(base.exceeds_one_more_node(need(4501), &without_first));
        // The overcommitted node gives no room, and taking it out takes none away.
        let without_second = BTreeSet::from([asim_cluster::NodeId(1)]);
        assert!(!base.exceeds_one_more_node(need(5500), &without_second));
        // Other resources are bounded alike: nothing asked, nothing exceeded.
        assert!(!base.exceeds_one_more_node([0; 4], &without_first));
    }

    /// The memo answers again only for the same NodeClass types, claim requirements and
    /// types, instant and unavailable offerings: a change of any plans afresh.
    #[test]
    fn plan_memo_answers_again_only_while_every_input_is_unchanged() {
        let types = Arc::new(Vec::new());
        let tpl = template(Arc::clone(&types));
        let other_class = template(Arc::new(Vec::new()));
        let mut memo = PlanMemo::default();
        let mut planned = 0;
        let mut plan = |memo: &mut PlanMemo, tpl: &Template, c: &PlannedClaim, at| {
            memo.get(tpl, c, at, || {
                planned += 1;
                Ok((c.requirements.clone(), vec![planned]))
            })
            .map(|p| (*p).clone())
        };
        let t0 = (SimTime(0), (0, 0));
        let a = claim(vec![1, 2], "a");
        let first = plan(&mut memo, &tpl, &a, t0);
        assert_eq!(plan(&mut memo, &tpl, &a.clone(), t0), first, "same inputs");
        for (tpl, c, at) in [
            (&tpl, claim(vec![1, 2], "b"), t0),
            (&tpl, claim(vec![1], "a"), t0),
            (&other_class, a.clone(), t0),
            (&tpl, a.clone(), (SimTime(1), (0, 0))),
            (&tpl, a.clone(), (SimTime(1), (1, 1))),
        ] {
            let again = plan(&mut memo, tpl, &c, at);
            assert_ne!(again, first, "{c:?} at {at:?} is planned afresh");
        }
    }

    proptest::proptest! {
        /// The pass's nodes sorted by their names' 16-byte prefixes, then in full, are in
        /// name order (docs/performance.md, step 52).
        #[test]
        fn names_sort_by_their_prefix_as_by_the_whole_name(
            common in "[a-z-]{0,20}",
            a in "[a-z0-9-]{0,8}",
            b in "[a-z0-9-]{0,8}",
        ) {
            let (a, b) = (format!("{common}{a}"), format!("{common}{b}"));
            let by_prefix = super::name_prefix(&a).cmp(&super::name_prefix(&b)).then_with(|| a.cmp(&b));
            proptest::prop_assert_eq!(by_prefix, a.cmp(&b));
        }
    }
}
