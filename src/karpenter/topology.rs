//! Topology in Karpenter's scheduling simulation: spread constraints, pod affinity and pod
//! anti-affinity over zone, hostname, capacity type or any label, counted over existing nodes
//! and the NodeClaims planned so far in this batch. reference/karpenter.md §1.7.
//!
//! A placement asks [`Topology::requirements_for`] which domains the pod may take on a candidate
//! (an existing node with fixed labels, or a planned NodeClaim whose requirements may still
//! allow several zones); the answer narrows the candidate's requirements. After the placement,
//! [`Topology::record`] counts the pod in every group that selects it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::cluster::pod::{HOSTNAME_KEY, PodAffinityTerm, TopologySpread};
use crate::k8s::requirements::{Requirement, Requirements};
use crate::k8s::selector::{LabelSelector, Labels};

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Spread,
    Affinity,
    AntiAffinity,
}

#[derive(Clone, Debug)]
struct Group {
    #[allow(dead_code)] // kept for Debug output of groups
    kind: Kind,
    key: String,
    namespace: String,
    selector: LabelSelector,
    max_skew: i64,
    min_domains: Option<u32>,
    /// Matching pods per domain. Only probed and summed, never iterated into output, so a
    /// hash map is safe here (DESIGN §1.2).
    counts: HashMap<String, i64>,
}

impl Group {
    fn selects(&self, namespace: &str, labels: &Labels) -> bool {
        self.namespace == namespace && self.selector.matches(labels)
    }
}

/// A pod already placed (existing or planned in this batch), as topology sees it.
#[derive(Clone, Debug)]
pub struct Placed<'a> {
    pub namespace: &'a str,
    pub labels: &'a Labels,
    /// Domain values the pod is known to be in, per key (single values only), plus hostname.
    pub domains: &'a Labels,
    pub anti_affinity: &'a [PodAffinityTerm],
}

/// The constraints one pod carries into a placement attempt (after relaxation).
#[derive(Clone, Debug, Default)]
pub struct PodTopology {
    pub spread: Vec<TopologySpread>,
    pub affinity: Vec<PodAffinityTerm>,
    pub anti_affinity: Vec<PodAffinityTerm>,
}

impl PodTopology {
    pub fn is_empty(&self) -> bool {
        self.spread.is_empty() && self.affinity.is_empty() && self.anti_affinity.is_empty()
    }
}

/// A pod's hostname rules resolved to groups: (group, most matching pods allowed already on
/// the host) and the inverse anti-affinity entries that select the pod.
#[derive(Default, Debug)]
pub struct HostRules {
    limits: Vec<(usize, i64)>,
    inverse: Vec<usize>,
}

impl HostRules {
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty() && self.inverse.is_empty()
    }
}

#[derive(Default)]
pub struct Topology {
    groups: Vec<Group>,
    /// Known domain values per key (zones of NodePools and existing nodes, …).
    universe: BTreeMap<String, BTreeSet<String>>,
    /// (key, namespace, selector, domains) of anti-affinity declared by placed pods: an
    /// incoming pod they select may not enter those domains (the symmetric rule).
    inverse: Vec<(String, String, LabelSelector, BTreeSet<String>)>,
    /// Every pod placed so far, kept to seed groups created later.
    placed: Vec<(String, Labels, Labels)>,
}

impl Topology {
    /// Register the domain values a key can take (from NodePools and their instance types).
    pub fn add_universe(&mut self, key: &str, values: impl IntoIterator<Item = String>) {
        self.universe
            .entry(key.to_string())
            .or_default()
            .extend(values);
    }

    /// Count a pod that exists before the batch (bound to an existing node) or was placed.
    pub fn record(&mut self, p: &Placed<'_>) {
        for g in &mut self.groups {
            if g.selects(p.namespace, p.labels)
                && let Some(d) = p.domains.get(&g.key)
            {
                *g.counts.entry(d.clone()).or_insert(0) += 1;
            }
        }
        for term in p.anti_affinity {
            if let Some(d) = p.domains.get(&term.topology_key) {
                match self.inverse.iter_mut().find(|(k, ns, sel, _)| {
                    k == &term.topology_key && ns == p.namespace && sel == &term.selector
                }) {
                    Some((_, _, _, ds)) => {
                        ds.insert(d.clone());
                    }
                    None => self.inverse.push((
                        term.topology_key.clone(),
                        p.namespace.to_string(),
                        term.selector.clone(),
                        BTreeSet::from([d.clone()]),
                    )),
                }
            }
        }
        for (k, v) in p.domains {
            if k != HOSTNAME_KEY {
                self.universe
                    .entry(k.clone())
                    .or_default()
                    .insert(v.clone());
            }
        }
        self.placed
            .push((p.namespace.to_string(), p.labels.clone(), p.domains.clone()));
    }

    fn group(
        &mut self,
        kind: Kind,
        key: &str,
        ns: &str,
        sel: &LabelSelector,
        skew: i64,
        min_domains: Option<u32>,
    ) -> usize {
        // Groups are few: a linear scan with field comparison beats formatting a key.
        if let Some(i) = self.groups.iter().position(|g| {
            g.kind == kind
                && g.max_skew == skew
                && g.min_domains == min_domains
                && g.key == key
                && g.namespace == ns
                && g.selector == *sel
        }) {
            return i;
        }
        let mut g = Group {
            kind,
            key: key.to_string(),
            namespace: ns.to_string(),
            selector: sel.clone(),
            max_skew: skew,
            min_domains,
            counts: HashMap::new(),
        };
        for (pns, labels, domains) in &self.placed {
            if g.selects(pns, labels)
                && let Some(d) = domains.get(key)
            {
                *g.counts.entry(d.clone()).or_insert(0) += 1;
            }
        }
        self.groups.push(g);
        self.groups.len() - 1
    }

    /// The hostname-keyed rules of a pod, resolved to groups once per placement attempt, so
    /// that rejecting a candidate claim costs a few map lookups ([`Topology::host_allows`]).
    pub fn host_rules(&self, namespace: &str, labels: &Labels, topo: &PodTopology) -> HostRules {
        let mut r = HostRules::default();
        let find = |kind: Kind, sel: &LabelSelector, skew: i64, md: Option<u32>| {
            self.groups.iter().position(|g| {
                g.kind == kind
                    && g.key == HOSTNAME_KEY
                    && g.namespace == namespace
                    && g.max_skew == skew
                    && g.min_domains == md
                    && g.selector == *sel
            })
        };
        for c in topo
            .spread
            .iter()
            .filter(|c| c.topology_key == HOSTNAME_KEY)
        {
            if let Some(gi) = find(
                Kind::Spread,
                &c.selector,
                i64::from(c.max_skew),
                c.min_domains,
            ) {
                let me = i64::from(self.groups[gi].selects(namespace, labels));
                r.limits.push((gi, i64::from(c.max_skew) - me));
            }
        }
        for a in topo
            .anti_affinity
            .iter()
            .filter(|a| a.topology_key == HOSTNAME_KEY)
        {
            if let Some(gi) = find(Kind::AntiAffinity, &a.selector, 0, None) {
                r.limits.push((gi, 0));
            }
        }
        for (i, (k, ns, sel, _)) in self.inverse.iter().enumerate() {
            if k == HOSTNAME_KEY && ns == namespace && sel.matches(labels) {
                r.inverse.push(i);
            }
        }
        r
    }

    /// Whether `host` passes the pod's hostname rules (see [`Topology::host_rules`]).
    pub fn host_allows(&self, rules: &HostRules, host: &str) -> bool {
        rules
            .limits
            .iter()
            .all(|(gi, max)| self.groups[*gi].counts.get(host).copied().unwrap_or(0) <= *max)
            && rules
                .inverse
                .iter()
                .all(|i| !self.inverse[*i].3.contains(host))
    }

    /// The domains `pod` may take for each constrained key on a candidate whose requirements are
    /// `candidate` (hostname `host`). Returns requirements to add, or why it cannot go there.
    pub fn requirements_for(
        &mut self,
        namespace: &str,
        labels: &Labels,
        pod_reqs: &Requirements,
        topo: &PodTopology,
        candidate: &Requirements,
        host: &str,
    ) -> Result<Requirements, String> {
        let mut out = Requirements::new();
        if topo.is_empty()
            && !self
                .inverse
                .iter()
                .any(|(_, ns, sel, _)| ns == namespace && sel.matches(labels))
        {
            return Ok(out);
        }
        // Candidate domains for a key: the candidate's allowed values ∩ the pod's own ∩ known.
        // A candidate that does not constrain the key (a NodePool without a zone requirement)
        // allows every known domain: Karpenter reads an undefined key as `Exists` (§1.7;
        // [core] pkg/scheduling/requirements.go `Get`).
        let allowed = |this: &Self, key: &str, extra: &Requirements| -> BTreeSet<String> {
            this.universe
                .get(key)
                .into_iter()
                .flatten()
                .filter(|d| {
                    candidate.get(key).is_none_or(|r| r.has(d))
                        && pod_reqs.get(key).is_none_or(|r| r.has(d))
                        && extra.get(key).is_none_or(|r| r.has(d))
                })
                .cloned()
                .collect()
        };
        for c in &topo.spread {
            let gi = self.group(
                Kind::Spread,
                &c.topology_key,
                namespace,
                &c.selector,
                i64::from(c.max_skew),
                c.min_domains,
            );
            let g = &self.groups[gi];
            let self_match = i64::from(g.selects(namespace, labels));
            if c.topology_key == HOSTNAME_KEY {
                // A new node can always be created: the global minimum is 0 (§1.7).
                let n = g.counts.get(host).copied().unwrap_or(0);
                if n + self_match > g.max_skew {
                    return Err(format!(
                        "topology spread on {HOSTNAME_KEY}: maxSkew {} reached on {host}",
                        g.max_skew
                    ));
                }
                continue;
            }
            // Global minimum over the domains the pod could take anywhere.
            let pod_domains: Vec<String> = self
                .universe
                .get(&c.topology_key)
                .into_iter()
                .flatten()
                .filter(|d| pod_reqs.get(&c.topology_key).is_none_or(|r| r.has(d)))
                .cloned()
                .collect();
            let g = &self.groups[gi];
            let mut min = pod_domains
                .iter()
                .map(|d| g.counts.get(d).copied().unwrap_or(0))
                .min()
                .unwrap_or(0);
            if let Some(md) = g.min_domains
                && (pod_domains.len() as u32) < md
            {
                min = 0;
            }
            let cands = allowed(self, &c.topology_key, &out);
            let g = &self.groups[gi];
            let best = cands
                .iter()
                .map(|d| (g.counts.get(d).copied().unwrap_or(0), d))
                .filter(|(n, _)| n + self_match - min <= g.max_skew)
                .min();
            match best {
                Some((_, d)) => {
                    out.add_requirement(Requirement::in_values(&c.topology_key, [d.as_str()]))
                }
                None => {
                    return Err(format!(
                        "topology spread on {}: no domain within maxSkew {} (candidates {:?})",
                        c.topology_key, g.max_skew, cands
                    ));
                }
            }
        }
        for term in &topo.affinity {
            let gi = self.group(
                Kind::Affinity,
                &term.topology_key,
                namespace,
                &term.selector,
                0,
                None,
            );
            let g = &self.groups[gi];
            let any_match = g.counts.values().any(|n| *n > 0);
            let self_match = g.selects(namespace, labels);
            if term.topology_key == HOSTNAME_KEY {
                if g.counts.get(host).copied().unwrap_or(0) > 0 || (!any_match && self_match) {
                    continue;
                }
                return Err(format!(
                    "pod affinity on {HOSTNAME_KEY}: no matching pod on {host}"
                ));
            }
            let cands = allowed(self, &term.topology_key, &out);
            let g = &self.groups[gi];
            let with: Vec<&String> = cands
                .iter()
                .filter(|d| g.counts.get(*d).copied().unwrap_or(0) > 0)
                .collect();
            let pick: Option<&String> = if !with.is_empty() {
                None
            } else if !any_match && self_match {
                // Bootstrap: the first pod of a self-selecting group picks one domain.
                cands.iter().next()
            } else {
                return Err(format!(
                    "pod affinity on {}: no domain holds a matching pod",
                    term.topology_key
                ));
            };
            match pick {
                Some(d) => {
                    out.add_requirement(Requirement::in_values(&term.topology_key, [d.as_str()]))
                }
                None => out.add_requirement(Requirement::in_values(
                    &term.topology_key,
                    with.iter().map(|s| s.as_str()),
                )),
            }
        }
        for term in &topo.anti_affinity {
            let gi = self.group(
                Kind::AntiAffinity,
                &term.topology_key,
                namespace,
                &term.selector,
                0,
                None,
            );
            let g = &self.groups[gi];
            if term.topology_key == HOSTNAME_KEY {
                if g.counts.get(host).copied().unwrap_or(0) > 0 {
                    return Err(format!(
                        "pod anti-affinity on {HOSTNAME_KEY}: a matching pod is on {host}"
                    ));
                }
                continue;
            }
            let cands = allowed(self, &term.topology_key, &out);
            let g = &self.groups[gi];
            let free: Vec<&String> = cands
                .iter()
                .filter(|d| g.counts.get(*d).copied().unwrap_or(0) == 0)
                .collect();
            if free.is_empty() {
                return Err(format!(
                    "pod anti-affinity on {}: every candidate domain holds a matching pod",
                    term.topology_key
                ));
            }
            out.add_requirement(Requirement::in_values(
                &term.topology_key,
                free.iter().map(|s| s.as_str()),
            ));
        }
        // The symmetric rule: placed pods' anti-affinity that selects this pod.
        for (key, ns, sel, domains) in &self.inverse {
            if ns != namespace || !sel.matches(labels) {
                continue;
            }
            if key == HOSTNAME_KEY {
                if domains.contains(host) {
                    return Err(format!("pod anti-affinity of a placed pod forbids {host}"));
                }
                continue;
            }
            let cands = allowed(self, key, &out);
            let free: Vec<&String> = cands.iter().filter(|d| !domains.contains(*d)).collect();
            if free.is_empty() {
                return Err(format!(
                    "pod anti-affinity of placed pods forbids every candidate {key}"
                ));
            }
            out.add_requirement(Requirement::in_values(key, free.iter().map(|s| s.as_str())));
        }
        Ok(out)
    }
}

/// The single-valued domains of a candidate after placement, for [`Topology::record`].
pub fn known_domains(reqs: &Requirements, host: &str, keys: &BTreeSet<String>) -> Labels {
    let mut out = Labels::new();
    out.insert(HOSTNAME_KEY.to_string(), host.to_string());
    for k in keys {
        if let Some(r) = reqs.get(k)
            && !r.is_complement()
            && r.values().len() == 1
            && let Some(v) = r.values().iter().next()
        {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}
