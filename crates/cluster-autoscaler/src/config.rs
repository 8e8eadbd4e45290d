//! cluster-autoscaler's configuration as the scenario gives it: its flags and its node groups
//! (the ASGs it is started with, `--nodes=min:max:name`, or discovered by tag). Checked when
//! the scenario is loaded, so a mistake is reported with file, line and field before a run.

use std::collections::BTreeMap;
use std::sync::Arc;

use asim_core::catalog::Catalog;

use crate::flags::Flags;
use crate::nodegroup::NodeGroups;
use crate::scale_up::expander::{ExpanderChain, PriorityRules};
use crate::termination_handler::{TerminationHandler, TerminationHandlerSpec};

pub use crate::error::ConfigError;
pub use crate::nodegroup::NodeGroupSpec;

/// Everything cluster-autoscaler is started with.
#[derive(Clone, Debug)]
pub struct ClusterAutoscalerConfig {
    pub flags: Flags,
    /// The `priorities` of the `cluster-autoscaler-priority-expander` ConfigMap, if the
    /// scenario has one (§3.4); it replaces the node groups' `priority` fields.
    pub priority_config_map: Option<BTreeMap<i32, Vec<String>>>,
    pub node_groups: Vec<NodeGroupSpec>,
    /// The scenario's zones and region.
    pub zones: Vec<String>,
    pub region: String,
    pub catalog: Arc<Catalog>,
    /// aws-node-termination-handler beside it (§8); off by default.
    pub termination_handler: TerminationHandler,
}

impl ClusterAutoscalerConfig {
    /// Parse the flags and check the node groups as cluster-autoscaler does when it starts.
    pub fn new(
        flags: &BTreeMap<String, serde_json::Value>,
        priority_config_map: Option<BTreeMap<i32, Vec<String>>>,
        node_groups: Vec<NodeGroupSpec>,
        termination_handler: &TerminationHandlerSpec,
        zones: Vec<String>,
        region: String,
        catalog: Arc<Catalog>,
    ) -> Result<ClusterAutoscalerConfig, ConfigError> {
        let config = ClusterAutoscalerConfig {
            flags: Flags::parse(flags)?,
            priority_config_map,
            node_groups,
            zones,
            region,
            catalog,
            termination_handler: TerminationHandler::new(termination_handler)?,
        };
        config.build_groups()?;
        Ok(config)
    }

    /// The node groups, each checked against the catalog and the zones, and the expander
    /// chain with the groups' priorities.
    pub(crate) fn build_groups(&self) -> Result<(NodeGroups, ExpanderChain), ConfigError> {
        let groups = NodeGroups::from_specs(
            &self.node_groups,
            &self.zones,
            &self.region,
            &self.catalog,
            self.flags.max_node_provision_ms,
        )?;
        let mut rules = PriorityRules::default();
        if let Some(cm) = &self.priority_config_map {
            // The ConfigMap is the only source then (the loader refuses a second one).
            const FIELD: &str = "ConfigMap/cluster-autoscaler-priority-expander: data.priorities";
            if let Some((id, _)) = groups.iter().find(|(_, g)| g.priority.is_some()) {
                return Err(ConfigError::new(
                    format!("spec.clusterAutoscaler.nodeGroups[{id}].priority"),
                    "the priority expander's ConfigMap is given too; keep one",
                ));
            }
            for (p, list) in cm {
                rules
                    .add(*p, list)
                    .map_err(|e| ConfigError::new(FIELD, e))?;
            }
        }
        for (id, g) in groups.iter() {
            if let Some(p) = g.priority {
                rules.add_group(p, &g.name).map_err(|e| {
                    ConfigError::new(format!("spec.clusterAutoscaler.nodeGroups[{id}].name"), e)
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
        Ok((groups, chain))
    }
}
