//! cluster-autoscaler's configuration as the scenario gives it: its flags and its node groups
//! (the ASGs it is started with, `--nodes=min:max:name`, or discovered by tag). Checked when
//! the scenario is loaded, so a mistake is reported with file, line and field before a run.

use std::collections::BTreeMap;
use std::sync::Arc;

use asim_core::catalog::Catalog;
use serde::Deserialize;
use thiserror::Error;

use crate::escape_regex;
use crate::expander::{ExpanderChain, PriorityRules};
use crate::flags::Flags;
use crate::nodegroup::NodeGroup;

/// A mistake in cluster-autoscaler's configuration; `field` is the dotted path from the
/// scenario root.
#[derive(Debug, Error, Clone, PartialEq)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            field: field.into(),
            message: message.into(),
        }
    }
}

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
}

fn default_on_demand() -> String {
    "on-demand".to_string()
}

/// Everything cluster-autoscaler is started with.
#[derive(Clone, Debug)]
pub struct ClusterAutoscalerConfig {
    pub flags: Flags,
    pub node_groups: Vec<NodeGroupSpec>,
    /// The scenario's zones and region.
    pub zones: Vec<String>,
    pub region: String,
    pub catalog: Arc<Catalog>,
}

impl ClusterAutoscalerConfig {
    /// Parse the flags and check the node groups as cluster-autoscaler does when it starts.
    pub fn new(
        flags: &BTreeMap<String, serde_json::Value>,
        node_groups: Vec<NodeGroupSpec>,
        zones: Vec<String>,
        region: String,
        catalog: Arc<Catalog>,
    ) -> Result<ClusterAutoscalerConfig, ConfigError> {
        let config = ClusterAutoscalerConfig {
            flags: Flags::parse(flags)?,
            node_groups,
            zones,
            region,
            catalog,
        };
        config.build_groups()?;
        Ok(config)
    }

    /// The node groups, each checked against the catalog and the zones, and the expander
    /// chain with the groups' priorities.
    pub(crate) fn build_groups(
        &self,
    ) -> Result<(Vec<NodeGroup>, BTreeMap<String, usize>, ExpanderChain), ConfigError> {
        let mut groups = Vec::new();
        let mut by_name = BTreeMap::new();
        for (i, g) in self.node_groups.iter().enumerate() {
            let ng = NodeGroup::from_spec(
                i,
                g,
                &self.zones,
                &self.region,
                &self.catalog,
                self.flags.max_node_provision_ms,
            )?;
            if by_name.insert(ng.name.clone(), groups.len()).is_some() {
                return Err(ConfigError::new(
                    format!("spec.clusterAutoscaler.nodeGroups[{i}].name"),
                    format!("duplicate node group {:?}", ng.name),
                ));
            }
            groups.push(ng);
        }
        let mut rules = PriorityRules::default();
        for (i, g) in groups.iter().enumerate() {
            if let Some(p) = g.priority {
                rules
                    .add(p, &[format!("^{}$", escape_regex(&g.name))])
                    .map_err(|e| {
                        ConfigError::new(format!("spec.clusterAutoscaler.nodeGroups[{i}].name"), e)
                    })?;
            }
        }
        for (p, list) in &self.flags.priority_config {
            rules.add(*p, list).map_err(|e| {
                ConfigError::new(
                    "spec.clusterAutoscaler.flags.sim-priority-expander-config",
                    e,
                )
            })?;
        }
        let chain = ExpanderChain::parse(&self.flags.expander, rules)
            .map_err(|e| ConfigError::new("spec.clusterAutoscaler.flags.expander", e))?;
        Ok((groups, by_name, chain))
    }
}
