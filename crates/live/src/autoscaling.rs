//! The Auto Scaling calls live mode makes for cluster-autoscaler, on the same blocking client
//! as EC2's (one runtime, one credentials chain, the SDK's retries).
//!
//! Live mode drives **existing** groups only: it never creates or deletes one, and it takes a
//! group only when its owner has marked it for this ([`ALLOW_TAG`]) and it is empty, so that
//! nothing the run did not launch is ever scaled in or terminated (docs/live.md "Safety
//! model").

use std::collections::BTreeMap;

use aws_sdk_autoscaling::types::Tag;

use crate::LiveError;
use crate::ec2::{Ec2, api_error};

/// The tag a group's owner sets (value `true`) to let live mode drive it. The IAM policy of
/// docs/live.md conditions the mutating Auto Scaling calls on it too.
pub const ALLOW_TAG: &str = "autoscale-sim:allow-live";

/// The tag EC2 Auto Scaling puts on the instances it launches.
pub const GROUP_NAME_TAG: &str = "aws:autoscaling:groupName";

/// One member of a group, as DescribeAutoScalingGroups lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealMember {
    pub id: String,
    pub instance_type: String,
    pub zone: String,
    /// Pending, InService, Terminating, Terminated, … (the group's lifecycle, not EC2's state).
    pub lifecycle_state: String,
}

/// One group, as DescribeAutoScalingGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealAsg {
    pub name: String,
    pub desired: u32,
    pub min: u32,
    pub max: u32,
    pub members: Vec<RealMember>,
    pub tags: BTreeMap<String, String>,
}

impl RealAsg {
    /// Why live mode may not drive this group, or `None` when it may.
    pub fn refusal(&self) -> Option<String> {
        if self.tags.get(ALLOW_TAG).map(String::as_str) != Some("true") {
            return Some(format!(
                "it is not tagged {ALLOW_TAG}=true (tag a group you allow live mode to scale)"
            ));
        }
        if self.min > 0 || self.desired > 0 || !self.members.is_empty() {
            return Some(format!(
                "it is not empty (min {}, desired {}, {} instance(s)); live mode scales only \
                 groups at 0, so that it never terminates an instance it did not launch",
                self.min,
                self.desired,
                self.members.len()
            ));
        }
        None
    }
}

fn u32_of(v: Option<i32>) -> u32 {
    v.and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
}

impl Ec2 {
    /// DescribeAutoScalingGroups of `names` (every page); all of the region's groups when
    /// `names` is `None`. Sorted by name.
    pub fn describe_asgs(&self, names: Option<&[String]>) -> Result<Vec<RealAsg>, LiveError> {
        let pages = self.rt.block_on(async {
            self.autoscaling
                .describe_auto_scaling_groups()
                .set_auto_scaling_group_names(names.map(<[String]>::to_vec))
                .into_paginator()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| api_error("DescribeAutoScalingGroups", e))
        })?;
        let mut out: Vec<RealAsg> = pages
            .iter()
            .flat_map(|p| p.auto_scaling_groups())
            .map(|g| RealAsg {
                name: g.auto_scaling_group_name().unwrap_or_default().to_string(),
                desired: u32_of(g.desired_capacity()),
                min: u32_of(g.min_size()),
                max: u32_of(g.max_size()),
                members: g
                    .instances()
                    .iter()
                    .map(|i| RealMember {
                        id: i.instance_id().unwrap_or_default().to_string(),
                        instance_type: i.instance_type().unwrap_or_default().to_string(),
                        zone: i.availability_zone().unwrap_or_default().to_string(),
                        lifecycle_state: i
                            .lifecycle_state()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_default(),
                    })
                    .collect(),
                tags: g
                    .tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().unwrap_or_default().to_string(),
                            t.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The groups carrying [`crate::ec2::RUN_ID_TAG`] = `run_id` (any value when `None`).
    pub fn describe_tagged_asgs(&self, run_id: Option<&str>) -> Result<Vec<RealAsg>, LiveError> {
        Ok(self
            .describe_asgs(None)?
            .into_iter()
            .filter(|g| match (g.tags.get(crate::ec2::RUN_ID_TAG), run_id) {
                (Some(v), Some(id)) => v == id,
                (Some(_), None) => true,
                (None, _) => false,
            })
            .collect())
    }

    /// SetDesiredCapacity, without honouring cooldowns (cluster-autoscaler's call).
    pub fn set_desired_capacity(&self, name: &str, desired: u32) -> Result<(), LiveError> {
        self.rt
            .block_on(
                self.autoscaling
                    .set_desired_capacity()
                    .auto_scaling_group_name(name)
                    .desired_capacity(i32::try_from(desired).unwrap_or(i32::MAX))
                    .honor_cooldown(false)
                    .send(),
            )
            .map_err(|e| api_error("SetDesiredCapacity", e))?;
        Ok(())
    }

    /// TerminateInstanceInAutoScalingGroup.
    pub fn terminate_in_asg(&self, id: &str, decrement_desired: bool) -> Result<(), LiveError> {
        self.rt
            .block_on(
                self.autoscaling
                    .terminate_instance_in_auto_scaling_group()
                    .instance_id(id)
                    .should_decrement_desired_capacity(decrement_desired)
                    .send(),
            )
            .map_err(|e| api_error("TerminateInstanceInAutoScalingGroup", e))?;
        Ok(())
    }

    /// CreateOrUpdateTags on a group. With `propagate`, every instance the group launches from
    /// now on carries the tag from its creation.
    pub fn tag_asg(
        &self,
        name: &str,
        key: &str,
        value: &str,
        propagate: bool,
    ) -> Result<(), LiveError> {
        let tag = Tag::builder()
            .resource_id(name)
            .resource_type("auto-scaling-group")
            .key(key)
            .value(value)
            .propagate_at_launch(propagate)
            .build();
        self.rt
            .block_on(self.autoscaling.create_or_update_tags().tags(tag).send())
            .map_err(|e| api_error("CreateOrUpdateTags", e))?;
        Ok(())
    }

    /// DeleteTags of one key on a group.
    pub fn untag_asg(&self, name: &str, key: &str) -> Result<(), LiveError> {
        let tag = Tag::builder()
            .resource_id(name)
            .resource_type("auto-scaling-group")
            .key(key)
            .build();
        self.rt
            .block_on(self.autoscaling.delete_tags().tags(tag).send())
            .map_err(|e| api_error("DeleteTags", e))?;
        Ok(())
    }
}

/// Every exit path of a run (and `live cleanup`): the groups this run scaled go back to 0 and
/// lose the run's tag; their instances then leave without being replaced. Problems are
/// returned, not raised, so the rest of the cleanup always runs.
pub fn release_asgs(ec2: &Ec2, groups: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    for g in groups {
        if let Err(e) = ec2.set_desired_capacity(g, 0) {
            problems.push(format!("setting Auto Scaling group {g} back to 0: {e}"));
        }
        if let Err(e) = ec2.untag_asg(g, crate::ec2::RUN_ID_TAG) {
            problems.push(format!(
                "removing the run tag from Auto Scaling group {g}: {e}"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(tags: &[(&str, &str)], min: u32, desired: u32, members: usize) -> RealAsg {
        RealAsg {
            name: "g".into(),
            desired,
            min,
            max: 10,
            members: (0..members)
                .map(|i| RealMember {
                    id: format!("i-{i}"),
                    instance_type: "m5.large".into(),
                    zone: "us-east-1a".into(),
                    lifecycle_state: "InService".into(),
                })
                .collect(),
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        }
    }

    #[test]
    fn only_an_empty_group_its_owner_allowed_is_driven() {
        assert!(group(&[(ALLOW_TAG, "true")], 0, 0, 0).refusal().is_none());
        assert!(group(&[], 0, 0, 0).refusal().is_some());
        assert!(group(&[(ALLOW_TAG, "yes")], 0, 0, 0).refusal().is_some());
        assert!(group(&[(ALLOW_TAG, "true")], 1, 1, 1).refusal().is_some());
        assert!(group(&[(ALLOW_TAG, "true")], 0, 0, 1).refusal().is_some());
        assert!(group(&[(ALLOW_TAG, "true")], 0, 2, 0).refusal().is_some());
    }
}
