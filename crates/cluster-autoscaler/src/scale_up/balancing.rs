//! Balancing similar node groups (docs/model/cluster-autoscaler.md §3.5; cluster-autoscaler:
//! processors/nodegroupset/compare_nodegroups.go, aws_nodegroups.go, balancing_processor.go):
//! which groups are "similar" to the one the expander chose, and how a scale-up is split
//! among them.

use std::collections::{BTreeMap, BTreeSet};

use asim_core::k8s::resources::Resources;

use crate::nodegroup::{GroupId, NodeGroups, Template};

pub use crate::flags::Similarity;

/// Labels that never make two groups dissimilar on AWS (`aws_nodegroups.go` plus the
/// generic hostname / zone / region / kops ones).
pub const AWS_IGNORED_LABELS: &[&str] = &[
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/fluentd-ds-ready",
    "kops.k8s.io/instancegroup",
    "alpha.eksctl.io/instance-id",
    "alpha.eksctl.io/nodegroup-name",
    "eks.amazonaws.com/nodegroup",
    "k8s.amazonaws.com/eniConfig",
    "lifecycle",
    "topology.ebs.csi.aws.com/zone",
    "topology.k8s.aws/zone-id",
];

fn within(a: i64, b: i64, ratio: f64) -> bool {
    let (lo, hi) = (a.min(b), a.max(b));
    if hi <= 0 {
        return lo == hi;
    }
    (hi - lo) as f64 / hi as f64 <= ratio
}

fn resource_names(a: &Resources, b: &Resources) -> BTreeSet<String> {
    let mut s: BTreeSet<String> = ["cpu", "memory", "pods", "ephemeral-storage"]
        .iter()
        .map(|x| x.to_string())
        .collect();
    s.extend(a.extended.keys().cloned());
    s.extend(b.extended.keys().cloned());
    s
}

impl Similarity {
    /// Are the two templates "similar" (§3.5)?
    pub fn similar(&self, a: &Template, b: &Template) -> bool {
        for r in resource_names(&a.capacity, &b.capacity) {
            let (x, y) = (a.capacity.get(&r), b.capacity.get(&r));
            let ok = if r == "memory" {
                within(x, y, self.memory_difference_ratio)
            } else {
                x == y
            };
            if !ok {
                return false;
            }
        }
        let (fa, fb) = (a.free(), b.free());
        for r in resource_names(&a.allocatable, &b.allocatable) {
            if !within(
                a.allocatable.get(&r),
                b.allocatable.get(&r),
                self.max_allocatable_difference_ratio,
            ) || !within(fa.get(&r), fb.get(&r), self.max_free_difference_ratio)
            {
                return false;
            }
        }
        let keep = |k: &str| {
            if self.only_labels.is_empty() {
                !AWS_IGNORED_LABELS.contains(&k) && !self.ignore_labels.iter().any(|i| i == k)
            } else {
                self.only_labels.iter().any(|i| i == k)
            }
        };
        let la: BTreeMap<&String, &String> = a.labels.iter().filter(|(k, _)| keep(k)).collect();
        let lb: BTreeMap<&String, &String> = b.labels.iter().filter(|(k, _)| keep(k)).collect();
        la == lb
    }
}

/// `BalanceScaleUpBetweenGroups`: hand `delta` nodes one at a time to the group with the
/// smallest (target + already assigned), skipping groups at max; ties by the given order.
/// Returns (group, nodes added) for groups that get at least one node.
pub fn balance(groups: &NodeGroups, members: &[GroupId], delta: u32) -> Vec<(GroupId, u32)> {
    let mut size: Vec<(GroupId, u32, u32)> = members
        .iter()
        .map(|&g| (g, groups[g].target, groups[g].max_size))
        .collect();
    // Sorted by current size, stable on the given order.
    size.sort_by_key(|&(_, s, _)| s);
    let mut add = vec![0u32; size.len()];
    for _ in 0..delta {
        let pick = (0..size.len())
            .filter(|&i| size[i].1 + add[i] < size[i].2)
            .min_by_key(|&i| (size[i].1 + add[i], i));
        match pick {
            Some(i) => add[i] += 1,
            None => break,
        }
    }
    size.iter()
        .zip(add)
        .filter(|(_, a)| *a > 0)
        .map(|(&(g, _, _), a)| (g, a))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(cpu_m: i64, mem: i64) -> Template {
        Template::for_test(cpu_m, mem)
    }

    #[test]
    fn balance_levels_groups_smallest_first_and_skips_full_ones() {
        let cat = asim_core::catalog::Catalog::embedded("us-east-1").expect("catalog");
        let zones: Vec<String> = vec!["us-east-1a".into()];
        let spec = |name: &str, max: u32| crate::nodegroup::NodeGroupSpec {
            name: name.into(),
            instance_types: vec!["m5.large".into()],
            capacity_type: "on-demand".into(),
            zones: zones.clone(),
            min_size: 0,
            max_size: max,
            labels: Default::default(),
            taints: Vec::new(),
            max_node_provision_time: None,
            ami_family: None,
            priority: None,
            annotations: Default::default(),
            tags: Default::default(),
        };
        let specs = [spec("a", 10), spec("b", 10), spec("c", 1)];
        let mut groups =
            NodeGroups::from_specs(&specs, &zones, "us-east-1", &cat, 1).expect("valid groups");
        for (g, target) in [(0, 3), (1, 1), (2, 0)] {
            groups[GroupId(g)].target = target;
        }
        let out = balance(&groups, &[GroupId(0), GroupId(1), GroupId(2)], 5);
        // c gets 1 (to its max), b rises to 3, a and b then share the rest.
        let total: u32 = out.iter().map(|(_, n)| n).sum();
        assert_eq!(total, 5);
        let get = |g: usize| {
            out.iter()
                .find(|(x, _)| *x == GroupId(g))
                .map_or(0, |(_, n)| *n)
        };
        assert_eq!(get(2), 1);
        assert_eq!(get(1), 3);
        assert_eq!(get(0), 1);
    }

    #[test]
    fn similarity_ignores_zone_but_not_other_labels() {
        let s = Similarity {
            memory_difference_ratio: 0.015,
            max_allocatable_difference_ratio: 0.05,
            max_free_difference_ratio: 0.05,
            ignore_labels: Vec::new(),
            only_labels: Vec::new(),
        };
        let mut a = template(4000, 16 << 30);
        let mut b = template(4000, (16 << 30) - (100 << 20));
        a.labels
            .insert("topology.kubernetes.io/zone".into(), "a".into());
        b.labels
            .insert("topology.kubernetes.io/zone".into(), "b".into());
        assert!(s.similar(&a, &b));
        b.labels.insert("team".into(), "x".into());
        assert!(!s.similar(&a, &b));
        let c = template(8000, 16 << 30);
        assert!(!s.similar(&a, &c));
    }
}
