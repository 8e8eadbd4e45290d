//! Node groups: on AWS each is an Auto Scaling group (docs/model/cluster-autoscaler.md §5.1), and
//! the template node CA believes a new member of the group would be (§3.1, §5.2).
//!
//! Two template sources, as in CA's `MixedNodeInfosProcessor`:
//! - a live node of the group that has been Ready for a minute (copied, with its real
//!   allocatable, zone and DaemonSet pods) and then cached;
//! - otherwise the AWS provider's own template, built from the **first** instance type of the
//!   MixedInstancesPolicy with **allocatable = capacity**, **110 pods** and the ASG's **first**
//!   zone. These simplifications are CA's, and they are kept on purpose: they are why a
//!   scale-from-zero estimate can be wrong on a real cluster (§3.1 "\[inference\]").

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::{Index, IndexMut};

use serde::Deserialize;

use crate::error::ConfigError;
use crate::flags::{AUTOSCALING_OPTIONS_TAG, AutoscalingOptions};
use asim_cluster::autoscaler::NodeBlueprint;
use asim_cluster::pod::{HOSTNAME_KEY, ZONE_KEY};
use asim_cluster::{Cluster, Node, NodeOwner, OwnerKind, PodTemplate};
use asim_core::catalog::Catalog;
use asim_core::catalog::allocatable::{AmiFamily, default_node_resources};
use asim_core::cloud::{AsgSpec, CapacityType, InstanceId, LaunchSpec};
use asim_core::engine::SimTime;
use asim_core::hash::FastMap;
use asim_core::k8s::resources::{NVIDIA_GPU, Resources};
use asim_core::k8s::selector::Labels;
use asim_core::k8s::taints::{Taint, TaintEffect};

/// `pods` capacity of the AWS provider template ("TODO: get a real value"), §3.1.
pub const TEMPLATE_PODS: i64 = 110;
/// A Ready node must keep its Ready condition this long before it serves as a template
/// (`stabilizationDelay`, §3.1 / §6).
pub const TEMPLATE_STABILIZATION_MS: u64 = 60_000;
/// Hard NoSchedule taint put on nodes being deleted (§4.6 step 1).
pub const TO_BE_DELETED_TAINT: &str = "ToBeDeletedByClusterAutoscaler";
/// Soft PreferNoSchedule taint on unneeded nodes (§4.5).
pub const DELETION_CANDIDATE_TAINT: &str = "DeletionCandidateOfClusterAutoscaler";
pub const REGION_KEY: &str = "topology.kubernetes.io/region";
pub const ARCH_KEY: &str = "kubernetes.io/arch";
pub const OS_KEY: &str = "kubernetes.io/os";
pub const INSTANCE_TYPE_KEY: &str = "node.kubernetes.io/instance-type";
/// The tag the ASG puts on its instances.
pub const ASG_NAME_TAG: &str = "aws:autoscaling:groupName";

const MIB: i64 = 1 << 20;

/// One node group (an ASG) in `spec.clusterAutoscaler.nodeGroups`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeGroupSpec {
    pub name: String,
    pub instance_types: Vec<String>,
    #[serde(default = "default_on_demand")]
    pub capacity_type: String,
    #[serde(default)]
    pub zones: Vec<String>,
    #[serde(default)]
    pub min_size: u32,
    pub max_size: u32,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub taints: Vec<asim_core::k8s::taints::Taint>,
    #[serde(default)]
    pub max_node_provision_time: Option<asim_core::k8s::duration::Duration>,
    #[serde(default)]
    pub ami_family: Option<String>,
    /// Priority for the `priority` expander (higher wins).
    #[serde(default)]
    pub priority: Option<i32>,
    /// Annotations the group's nodes carry from registration (e.g.
    /// `cluster-autoscaler.kubernetes.io/scale-down-disabled: "true"`, §4.2).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The ASG's tags. Only `k8s.io/cluster-autoscaler/node-template/autoscaling-options/*`
    /// is read (per-group scale-down options, §4.2); other tags are kept as written.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn default_on_demand() -> String {
    "on-demand".to_string()
}

/// A node group's index in the order the scenario lists them (which is also the order CA
/// walks them in every loop).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId(pub usize);

impl std::fmt::Display for GroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a template came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateSource {
    /// The AWS provider's `TemplateNodeInfo()` (scale from zero).
    Asg,
    /// Copied from this live node (name).
    Node(String),
}

/// What CA thinks one new node of a group looks like.
#[derive(Clone, Debug)]
pub struct Template {
    pub instance_type: String,
    pub zone: String,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    pub capacity: Resources,
    pub allocatable: Resources,
    /// Requests of the DaemonSet pods that would run on a fresh node of the group.
    pub daemonset: Resources,
    pub source: TemplateSource,
}

#[cfg(test)]
impl Template {
    /// A bare template of `cpu_m` millicores and `mem` bytes, 110 pods, no labels or taints.
    pub(crate) fn for_test(cpu_m: i64, mem: i64) -> Template {
        let mut alloc = Resources::new(cpu_m, mem);
        alloc.pods = 110;
        Template {
            instance_type: "x".into(),
            zone: "z".into(),
            labels: Default::default(),
            taints: Vec::new(),
            capacity: alloc.clone(),
            allocatable: alloc,
            daemonset: Resources::default(),
            source: TemplateSource::Asg,
        }
    }
}

impl Template {
    /// Allocatable left for workload pods once the DaemonSet pods are placed.
    pub fn free(&self) -> Resources {
        let mut f = self.allocatable.clone();
        f.sub(&self.daemonset);
        f
    }
}

/// Does a node with `labels` satisfy the pod's node selector and required node affinity?
pub fn matches_affinity(t: &PodTemplate, labels: &Labels) -> bool {
    t.node_selector
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
        && (t.required_terms.is_empty()
            || t.required_terms.iter().any(|r| r.matches_labels(labels)))
}

/// Are all NoSchedule / NoExecute taints tolerated (PreferNoSchedule never blocks)?
pub fn tolerates(t: &PodTemplate, taints: &[Taint]) -> bool {
    taints.iter().all(|taint| {
        taint.effect == TaintEffect::PreferNoSchedule
            || t.tolerations.iter().any(|tol| tol.tolerates(taint))
    })
}

/// Requests of the DaemonSet pods that a node with these labels and taints would run.
pub fn daemonset_requests(cluster: &Cluster, labels: &Labels, taints: &[Taint]) -> Resources {
    let mut r = Resources::default();
    for ds in &cluster.daemonsets {
        if tolerates(&ds.template, taints) && matches_affinity(&ds.template, labels) {
            r.add(&ds.template.requests);
        }
    }
    r
}

/// A node group as CA sees it, plus CA's cached view of its ASG.
#[derive(Clone, Debug)]
pub struct NodeGroup {
    pub name: String,
    pub instance_types: Vec<String>,
    pub capacity_type: CapacityType,
    pub zones: Vec<String>,
    pub min_size: u32,
    pub max_size: u32,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    /// `max-node-provision-time` for this group (§3.7; per-group override).
    pub max_node_provision_ms: u64,
    pub ami: AmiFamily,
    /// Priority for the `priority` expander (higher wins), if set on the group.
    pub priority: Option<i32>,
    /// Annotations put on the group's nodes when they register.
    pub annotations: BTreeMap<String, String>,
    /// The ASG's `autoscaling-options` tags (§4.2).
    pub options: AutoscalingOptions,
    /// The AWS provider template without DaemonSet pods (§3.1 item 3).
    pub asg_template: Template,
    /// Last template copied from a live node, with the time it was taken (§3.1 item 2).
    pub cached: Option<(Template, SimTime)>,
    /// The template used in the current loop.
    pub template: Template,
    /// CA's cached desired capacity (`SetAsgSize` updates it locally, §5.3).
    pub target: u32,
    /// When CA last called SetDesiredCapacity on the group (failure detection, §5.4).
    pub last_set_desired_ms: Option<u64>,
    /// Live instances at the last ASG refresh.
    pub instances: Vec<InstanceId>,
    /// CreateAutoScalingGroup succeeded.
    pub exists: bool,
    /// The last scale-up and the last scale-down deletion started in this group, for
    /// `--scale-down-delay-type-local` (§4.1).
    pub last_scale_up: Option<SimTime>,
    pub last_scale_down: Option<SimTime>,
}

impl NodeGroup {
    /// Build a group from the scenario, checking what the loader cannot (capacity type, zones,
    /// AMI family, spot offerings).
    pub fn from_spec(
        i: usize,
        spec: &NodeGroupSpec,
        scenario_zones: &[String],
        region: &str,
        catalog: &Catalog,
        default_provision_ms: u64,
    ) -> Result<NodeGroup, ConfigError> {
        let field = |f: &str| format!("spec.clusterAutoscaler.nodeGroups[{i}].{f}");
        let capacity_type = match spec.capacity_type.as_str() {
            "on-demand" => CapacityType::OnDemand,
            "spot" => CapacityType::Spot,
            other => {
                return Err(ConfigError::new(
                    field("capacityType"),
                    format!("unknown capacity type {other:?} (expected on-demand or spot)"),
                ));
            }
        };
        let zones = if spec.zones.is_empty() {
            scenario_zones.to_vec()
        } else {
            spec.zones.clone()
        };
        for z in &zones {
            if !scenario_zones.contains(z) {
                return Err(ConfigError::new(
                    field("zones"),
                    format!("zone {z:?} is not one of the scenario zones {scenario_zones:?}"),
                ));
            }
        }
        let Some(first_zone) = zones.first().cloned() else {
            return Err(ConfigError::new(field("zones"), "no zones"));
        };
        let ami = match &spec.ami_family {
            None => AmiFamily::AL2023,
            Some(a) => a
                .parse::<AmiFamily>()
                .map_err(|e| ConfigError::new(field("amiFamily"), format!("{e}")))?,
        };
        let Some(first) = spec.instance_types.first() else {
            return Err(ConfigError::new(
                field("instanceTypes"),
                "must list at least one instance type",
            ));
        };
        for (j, t) in spec.instance_types.iter().enumerate() {
            let Some(it) = catalog.get(t) else {
                return Err(ConfigError::new(
                    field(&format!("instanceTypes[{j}]")),
                    catalog.unknown_type(t),
                ));
            };
            if capacity_type == CapacityType::Spot && !it.has_spot() {
                return Err(ConfigError::new(
                    field(&format!("instanceTypes[{j}]")),
                    format!("{t} has no spot offering in the catalog"),
                ));
            }
        }
        if spec.min_size > spec.max_size {
            return Err(ConfigError::new(
                field("minSize"),
                format!(
                    "minSize {} is above maxSize {}",
                    spec.min_size, spec.max_size
                ),
            ));
        }
        let mut options = AutoscalingOptions::default();
        for (k, v) in &spec.tags {
            if let Some(opt) = k.strip_prefix(AUTOSCALING_OPTIONS_TAG) {
                options
                    .set(opt, v)
                    .map_err(|e| ConfigError::new(field(&format!("tags.{k}")), e))?;
            }
        }
        let it = catalog
            .get(first)
            .ok_or_else(|| ConfigError::new(field("instanceTypes"), catalog.unknown_type(first)))?;
        // §3.1: capacity from the instance-type table, allocatable = capacity, pods = 110.
        let mut capacity = Resources::new(
            i64::from(it.vcpu) * 1000,
            i64::try_from(it.memory_mib).unwrap_or(i64::MAX / MIB) * MIB,
        );
        capacity.pods = TEMPLATE_PODS;
        // [assumption] ephemeral storage from the launch template's root volume: the AMI's
        // default volume size (CA reads it from the launch template block-device mapping).
        capacity.ephemeral_storage = ami.default_ephemeral_storage_bytes();
        capacity.set(NVIDIA_GPU, i64::from(it.res_nvidia_gpu));
        let labels = asg_template_labels(&spec.name, it, region, &first_zone, &spec.labels);
        let asg_template = Template {
            instance_type: first.clone(),
            zone: first_zone,
            labels,
            taints: spec.taints.clone(),
            allocatable: capacity.clone(),
            capacity,
            daemonset: Resources::default(),
            source: TemplateSource::Asg,
        };
        Ok(NodeGroup {
            name: spec.name.clone(),
            instance_types: spec.instance_types.clone(),
            capacity_type,
            zones,
            min_size: spec.min_size,
            max_size: spec.max_size,
            labels: spec.labels.clone(),
            taints: spec.taints.clone(),
            max_node_provision_ms: spec
                .max_node_provision_time
                .map_or(default_provision_ms, |d| d.0),
            ami,
            priority: spec.priority,
            annotations: spec.annotations.clone(),
            options,
            template: asg_template.clone(),
            asg_template,
            cached: None,
            target: spec.min_size,
            last_set_desired_ms: None,
            instances: Vec::new(),
            exists: false,
            last_scale_up: None,
            last_scale_down: None,
        })
    }

    /// The CreateAutoScalingGroup request.
    pub fn asg_spec(&self) -> AsgSpec {
        AsgSpec {
            name: self.name.clone(),
            instance_types: self.instance_types.clone(),
            capacity_type: self.capacity_type,
            zones: self.zones.clone(),
            min_size: self.min_size,
            max_size: self.max_size,
            launch: LaunchSpec {
                ami_family: self.ami,
                tags: BTreeMap::from([(ASG_NAME_TAG.to_string(), self.name.clone())]),
            },
        }
    }

    /// Choose this loop's template (§3.1): a "good" live node of the group (the oldest), else
    /// the cache if younger than `cache_expire_ms`, else the provider template; DaemonSet pods
    /// that would land on it are added.
    pub fn refresh_template(&mut self, cluster: &Cluster, now: SimTime, cache_expire_ms: u64) {
        let owner = NodeOwner::NodeGroup(self.name.clone());
        let good = cluster.nodes().find(|n| {
            n.owner == owner
                && n.schedulable()
                && n.ready_at
                    .is_some_and(|r| now.since(r) >= TEMPLATE_STABILIZATION_MS)
                && !n.taints.iter().any(|t| t.key == TO_BE_DELETED_TAINT)
        });
        if let Some(n) = good {
            let t = template_from_node(&self.name, n, cluster);
            self.cached = Some((t.clone(), now));
            self.template = t;
            return;
        }
        if let Some((t, at)) = &self.cached
            && now.since(*at) < cache_expire_ms
        {
            self.template = t.clone();
            return;
        }
        let mut t = self.asg_template.clone();
        t.daemonset = daemonset_requests(cluster, &t.labels, &t.taints);
        self.template = t;
    }

    /// The node object the kubelet of `instance` registers: the real instance type's capacity
    /// and allocatable (EKS AMI formulas), the group's labels and taints.
    pub fn blueprint(
        &self,
        instance: InstanceId,
        instance_type: &str,
        catalog: &Catalog,
        region: &str,
    ) -> Option<NodeBlueprint> {
        let it = catalog.get(instance_type)?;
        let res = default_node_resources(it, self.ami).ok()?;
        let mut labels = Labels::new();
        labels.insert(ARCH_KEY.into(), it.arch.as_str().into());
        labels.insert(OS_KEY.into(), it.os.clone());
        labels.insert(INSTANCE_TYPE_KEY.into(), it.name.clone());
        labels.insert(REGION_KEY.into(), region.to_string());
        labels.extend(self.labels.clone());
        Some(NodeBlueprint {
            name: format!("{}-{:05x}", self.name, instance.0),
            labels,
            taints: self.taints.clone(),
            annotations: self.annotations.clone(),
            startup_taints: Vec::new(),
            capacity: res.capacity.to_resources(),
            allocatable: res.allocatable.to_resources(),
            owner: NodeOwner::NodeGroup(self.name.clone()),
        })
    }
}

/// The node groups CA was started with, addressed by [`GroupId`] or by name.
#[derive(Clone, Debug, Default)]
pub struct NodeGroups {
    groups: Vec<NodeGroup>,
    /// Only looked up (a node's group on every loop, for every node): hashed, since group
    /// names share long prefixes that an ordered map compares byte by byte.
    by_name: FastMap<String, GroupId>,
    /// Per node id, the node's group as [`NodeGroups::of_node`] found it (a node's owner is
    /// set when it joins and ids are never reused): the loop asks for every node's group
    /// several times over.
    node_group: RefCell<Vec<NodeGroupMemo>>,
}

/// A node's group as remembered by [`NodeGroups::of_node`].
#[derive(Clone, Copy, Debug, PartialEq)]
enum NodeGroupMemo {
    NotLooked,
    None,
    Group(GroupId),
}

impl NodeGroups {
    /// The groups of `spec.clusterAutoscaler.nodeGroups`, each checked against the catalog and
    /// the zones; names must be unique.
    pub fn from_specs(
        specs: &[NodeGroupSpec],
        scenario_zones: &[String],
        region: &str,
        catalog: &Catalog,
        default_provision_ms: u64,
    ) -> Result<NodeGroups, ConfigError> {
        let mut out = NodeGroups::default();
        for (i, g) in specs.iter().enumerate() {
            let ng =
                NodeGroup::from_spec(i, g, scenario_zones, region, catalog, default_provision_ms)?;
            let id = GroupId(out.groups.len());
            if out.by_name.insert(ng.name.clone(), id).is_some() {
                return Err(ConfigError::new(
                    format!("spec.clusterAutoscaler.nodeGroups[{i}].name"),
                    format!("duplicate node group {:?}", ng.name),
                ));
            }
            out.groups.push(ng);
        }
        Ok(out)
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// `n` groups `g0`, `g1`, … of m5.large in us-east-1a, 0..10 nodes.
    #[cfg(test)]
    pub(crate) fn for_test(n: usize) -> NodeGroups {
        let cat = Catalog::embedded("us-east-1").expect("embedded catalog");
        let zones = vec!["us-east-1a".to_string()];
        let specs: Vec<NodeGroupSpec> = (0..n)
            .map(|i| NodeGroupSpec {
                name: format!("g{i}"),
                instance_types: vec!["m5.large".into()],
                capacity_type: "on-demand".into(),
                zones: zones.clone(),
                min_size: 0,
                max_size: 10,
                labels: BTreeMap::new(),
                taints: Vec::new(),
                max_node_provision_time: None,
                ami_family: None,
                priority: None,
                annotations: BTreeMap::new(),
                tags: BTreeMap::new(),
            })
            .collect();
        NodeGroups::from_specs(&specs, &zones, "us-east-1", &cat, 900_000).expect("valid groups")
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Every group id, in order.
    pub fn ids(&self) -> impl Iterator<Item = GroupId> + use<> {
        (0..self.groups.len()).map(GroupId)
    }

    pub fn iter(&self) -> impl Iterator<Item = (GroupId, &NodeGroup)> {
        self.groups.iter().enumerate().map(|(i, g)| (GroupId(i), g))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut NodeGroup> {
        self.groups.iter_mut()
    }

    pub fn by_name(&self, name: &str) -> Option<GroupId> {
        self.by_name.get(name).copied()
    }

    /// The group a node belongs to, if CA manages it.
    pub fn of_owner(&self, owner: &NodeOwner) -> Option<GroupId> {
        match owner {
            NodeOwner::NodeGroup(name) => self.by_name(name),
            _ => None,
        }
    }

    /// The group node `n` belongs to, if CA manages it: [`NodeGroups::of_owner`] of its
    /// owner, looked up once per node.
    pub fn of_node(&self, n: &Node) -> Option<GroupId> {
        let i = n.id.0 as usize;
        let mut memo = self.node_group.borrow_mut();
        if memo.len() <= i {
            memo.resize(i + 1, NodeGroupMemo::NotLooked);
        }
        match memo[i] {
            NodeGroupMemo::Group(g) => Some(g),
            NodeGroupMemo::None => None,
            NodeGroupMemo::NotLooked => {
                let g = self.of_owner(&n.owner);
                memo[i] = g.map_or(NodeGroupMemo::None, NodeGroupMemo::Group);
                g
            }
        }
    }
}

impl Index<GroupId> for NodeGroups {
    type Output = NodeGroup;

    fn index(&self, g: GroupId) -> &NodeGroup {
        &self.groups[g.0]
    }
}

impl IndexMut<GroupId> for NodeGroups {
    fn index_mut(&mut self, g: GroupId) -> &mut NodeGroup {
        &mut self.groups[g.0]
    }
}

/// Labels of the AWS provider template (`buildGenericLabels` plus the group's label tags).
fn asg_template_labels(
    group: &str,
    it: &asim_core::catalog::InstanceType,
    region: &str,
    zone: &str,
    extra: &BTreeMap<String, String>,
) -> Labels {
    let mut l = Labels::new();
    l.insert(ARCH_KEY.into(), it.arch.as_str().into());
    l.insert(OS_KEY.into(), it.os.clone());
    l.insert(INSTANCE_TYPE_KEY.into(), it.name.clone());
    l.insert(REGION_KEY.into(), region.to_string());
    l.insert(ZONE_KEY.into(), zone.to_string());
    l.insert(HOSTNAME_KEY.into(), format!("template-node-for-{group}"));
    l.extend(extra.clone());
    l
}

/// A template copied from a live node: its real capacity, allocatable, labels, taints and the
/// DaemonSet pods it runs (§3.1 item 1, "sanitised").
pub fn template_from_node(group: &str, n: &Node, cluster: &Cluster) -> Template {
    let mut labels = n.labels.clone();
    labels.insert(HOSTNAME_KEY.into(), format!("template-node-for-{group}"));
    let taints = n
        .taints
        .iter()
        .filter(|t| t.key != TO_BE_DELETED_TAINT && t.key != DELETION_CANDIDATE_TAINT)
        .cloned()
        .collect();
    let mut daemonset = Resources::default();
    for p in &n.pods {
        let pod = cluster.pod(*p);
        if pod.owner == OwnerKind::DaemonSet && pod.is_active() {
            daemonset.add(&pod.template.requests);
        }
    }
    Template {
        instance_type: n.label(INSTANCE_TYPE_KEY).unwrap_or_default().to_string(),
        zone: n.label(ZONE_KEY).unwrap_or_default().to_string(),
        labels,
        taints,
        capacity: n.capacity.clone(),
        allocatable: n.allocatable.clone(),
        daemonset,
        source: TemplateSource::Node(n.name.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::embedded("us-east-1").expect("embedded catalog")
    }

    fn spec(types: &[&str]) -> NodeGroupSpec {
        NodeGroupSpec {
            name: "general".into(),
            instance_types: types.iter().map(|s| s.to_string()).collect(),
            capacity_type: "on-demand".into(),
            zones: vec!["us-east-1b".into(), "us-east-1a".into()],
            min_size: 0,
            max_size: 10,
            labels: BTreeMap::from([("team".to_string(), "web".to_string())]),
            taints: Vec::new(),
            max_node_provision_time: None,
            ami_family: None,
            priority: None,
            annotations: BTreeMap::new(),
            tags: BTreeMap::new(),
        }
    }

    fn zones() -> Vec<String> {
        ["us-east-1a", "us-east-1b", "us-east-1c"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn asg_template_has_allocatable_equal_capacity_110_pods_and_first_zone() {
        let cat = catalog();
        let g = NodeGroup::from_spec(
            0,
            &spec(&["m5.xlarge", "m5a.2xlarge"]),
            &zones(),
            "us-east-1",
            &cat,
            900_000,
        )
        .expect("valid group");
        let t = &g.asg_template;
        assert_eq!(t.instance_type, "m5.xlarge");
        assert_eq!(t.capacity.cpu_m, 4000);
        assert_eq!(t.capacity.memory, 16 * 1024 * MIB);
        assert_eq!(t.capacity.pods, TEMPLATE_PODS);
        assert_eq!(t.allocatable, t.capacity);
        assert_eq!(t.zone, "us-east-1b");
        assert_eq!(
            t.labels.get(ZONE_KEY).map(String::as_str),
            Some("us-east-1b")
        );
        assert_eq!(t.labels.get("team").map(String::as_str), Some("web"));
    }

    #[test]
    fn real_node_blueprint_has_smaller_allocatable_than_the_template() {
        let cat = catalog();
        let g = NodeGroup::from_spec(0, &spec(&["m5.xlarge"]), &zones(), "us-east-1", &cat, 1)
            .expect("valid group");
        let bp = g
            .blueprint(InstanceId(3), "m5.xlarge", &cat, "us-east-1")
            .expect("blueprint");
        assert!(bp.allocatable.cpu_m < g.asg_template.allocatable.cpu_m);
        assert!(bp.allocatable.memory < g.asg_template.allocatable.memory);
        assert!(bp.allocatable.pods < TEMPLATE_PODS);
        assert_eq!(bp.owner, NodeOwner::NodeGroup("general".into()));
    }

    #[test]
    fn group_rejects_unknown_capacity_type_and_foreign_zone() {
        let cat = catalog();
        let mut s = spec(&["m5.xlarge"]);
        s.capacity_type = "reserved".into();
        let e = NodeGroup::from_spec(2, &s, &zones(), "us-east-1", &cat, 1).unwrap_err();
        assert!(e.to_string().contains("nodeGroups[2].capacityType"), "{e}");
        let mut s = spec(&["m5.xlarge"]);
        s.zones = vec!["eu-west-1a".into()];
        let e = NodeGroup::from_spec(0, &s, &zones(), "us-east-1", &cat, 1).unwrap_err();
        assert!(e.to_string().contains("zones"), "{e}");
    }
}
