//! Expanders: which node group to grow when several could help (docs/model/cluster-autoscaler.md
//! §3.4). `--expander` is a comma-separated chain; each filter narrows the options, the first
//! time exactly one is left it wins, and whatever remains at the end goes to `random`.

use std::collections::BTreeMap;

use rand::{Rng, RngExt};
use thiserror::Error;

use asim_cluster::PodId;

use crate::nodegroup::GroupId;

/// One way to scale up: a node group, how many nodes the estimator wants, and the pods they
/// would help.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpansionOption {
    pub group: GroupId,
    pub group_name: String,
    pub node_count: u32,
    pub pods: Vec<PodId>,
    /// Σ CPU (millicores) and memory (bytes) requested by `pods` (containers only).
    pub requested_cpu_m: i64,
    pub requested_memory: i64,
    /// The template node's **capacity** (least-waste uses capacity, not allocatable).
    pub node_cpu_m: i64,
    pub node_memory: i64,
}

/// One expander of the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expander {
    Random,
    MostPods,
    LeastWaste,
    /// Registered in the factory although missing from the help string (§3.4).
    LeastNodes,
    Priority,
}

impl Expander {
    pub fn name(&self) -> &'static str {
        match self {
            Expander::Random => "random",
            Expander::MostPods => "most-pods",
            Expander::LeastWaste => "least-waste",
            Expander::LeastNodes => "least-nodes",
            Expander::Priority => "priority",
        }
    }
}

/// The priority expander's rules: priority → node-group name regexes (the `priorities` key of
/// the `cluster-autoscaler-priority-expander` ConfigMap).
#[derive(Clone, Debug, Default)]
pub struct PriorityRules {
    pub rules: BTreeMap<i32, Vec<Regex>>,
}

impl PriorityRules {
    /// Add `patterns` under `priority`.
    pub fn add(&mut self, priority: i32, patterns: &[String]) -> Result<(), ExpanderError> {
        for p in patterns {
            let re = Regex::new(p).map_err(|source| ExpanderError::PriorityRule {
                priority,
                rule: p.clone(),
                source,
            })?;
            self.rules.entry(priority).or_default().push(re);
        }
        Ok(())
    }

    /// Add the node group `name` itself (the group's own `priority`) under `priority`.
    pub fn add_group(&mut self, priority: i32, name: &str) -> Result<(), ExpanderError> {
        self.add(priority, &[format!("^{}$", escape_regex(name))])
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// The `--expander` chain.
#[derive(Clone, Debug)]
pub struct ExpanderChain {
    pub filters: Vec<Expander>,
    pub priorities: PriorityRules,
}

/// Why `--expander` or the priority rules are refused (the messages are the real binary's
/// where it has one, `expander/factory/expander_factory.go`).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ExpanderError {
    #[error(
        "--expander: expander {0} was specified multiple times, each expander must not be specified more than once"
    )]
    Repeated(String),
    #[error(
        "--expander: expander {0} came after an expander random that will always return only one result, this is not allowed since {0} will never be used"
    )]
    AfterRandom(String),
    /// The error the real binary exits with for `--expander=price` on AWS: the factory asks
    /// the cloud provider for its pricing model and the AWS provider's `Pricing()` returns
    /// `cloudprovider.ErrNotImplemented` ("Not implemented"), §3.4.
    #[error(
        "Failed to create autoscaler: Not implemented (--expander=price needs the cloud provider's pricing model; the AWS provider's Pricing() returns ErrNotImplemented, so cluster-autoscaler refuses to start; docs/model/cluster-autoscaler.md §3.4)"
    )]
    PriceOnAws,
    #[error(
        "--expander: grpc needs an external expander server (--grpc-expander-url), which the simulator does not run"
    )]
    Grpc,
    #[error("--expander: expander {0} not supported")]
    Unsupported(String),
    #[error(
        "--expander: priority needs priority rules: the cluster-autoscaler-priority-expander ConfigMap (namespace kube-system, data.priorities), or `priority` on the node groups, or the sim-priority-expander-config flag"
    )]
    PriorityWithoutRules,
    #[error("can't compile regexp rule for priority {priority} and rule {rule:?}: {source}")]
    PriorityRule {
        priority: i32,
        rule: String,
        source: RegexError,
    },
}

impl ExpanderChain {
    /// Parse `--expander` as `ExpanderStrategyFromStrings` does: each name once, nothing after
    /// `random` (it always returns a single option), `price` refused on AWS, `grpc` refused
    /// (no external server in a simulation).
    pub fn parse(flag: &str, priorities: PriorityRules) -> Result<Self, ExpanderError> {
        let mut filters: Vec<Expander> = Vec::new();
        let names: Vec<&str> = flag.split(',').map(str::trim).collect();
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(ExpanderError::Repeated(name.to_string()));
            }
            if filters.last() == Some(&Expander::Random) {
                return Err(ExpanderError::AfterRandom(name.to_string()));
            }
            let e = match *name {
                "random" => Expander::Random,
                "most-pods" => Expander::MostPods,
                "least-waste" => Expander::LeastWaste,
                "least-nodes" => Expander::LeastNodes,
                "priority" => Expander::Priority,
                "price" => return Err(ExpanderError::PriceOnAws),
                "grpc" => return Err(ExpanderError::Grpc),
                other => return Err(ExpanderError::Unsupported(other.to_string())),
            };
            filters.push(e);
        }
        if filters.contains(&Expander::Priority) && priorities.is_empty() {
            return Err(ExpanderError::PriorityWithoutRules);
        }
        Ok(ExpanderChain {
            filters,
            priorities,
        })
    }

    /// The chosen option's index and the expander that settled it.
    pub fn best_option(
        &self,
        options: &[ExpansionOption],
        rng: &mut impl Rng,
    ) -> Option<(usize, &'static str)> {
        let mut left: Vec<usize> = (0..options.len()).collect();
        for f in &self.filters {
            left = self.filter(f, options, left, rng);
            if left.len() == 1 {
                return Some((left[0], f.name()));
            }
            if left.is_empty() {
                return None;
            }
        }
        match left.len() {
            0 => None,
            n => Some((left[rng.random_range(0..n)], "random")),
        }
    }

    fn filter(
        &self,
        f: &Expander,
        options: &[ExpansionOption],
        left: Vec<usize>,
        rng: &mut impl Rng,
    ) -> Vec<usize> {
        match f {
            Expander::Random => {
                if left.is_empty() {
                    left
                } else {
                    vec![left[rng.random_range(0..left.len())]]
                }
            }
            Expander::MostPods => keep_best(&left, |i| -(options[i].pods.len() as f64)),
            Expander::LeastNodes => keep_best(&left, |i| f64::from(options[i].node_count)),
            Expander::LeastWaste => keep_best(&left, |i| waste_score(&options[i])),
            Expander::Priority => self.priority_filter(options, left),
        }
    }

    /// Options matching the highest priority whose regexes match their group name; options
    /// matching nothing are dropped; if no option matches anything, nothing is filtered.
    /// Priorities below −1 never win (the real code starts its maximum at −1).
    fn priority_filter(&self, options: &[ExpansionOption], left: Vec<usize>) -> Vec<usize> {
        let mut best_prio = -1;
        let mut best: Vec<usize> = Vec::new();
        for &i in &left {
            let name = &options[i].group_name;
            let top = self
                .priorities
                .rules
                .iter()
                .rev()
                .find(|(_, res)| res.iter().any(|re| re.is_match(name)))
                .map(|(p, _)| *p);
            match top {
                Some(p) if p > best_prio => {
                    best_prio = p;
                    best = vec![i];
                }
                Some(p) if p == best_prio => best.push(i),
                _ => {}
            }
        }
        if best.is_empty() { left } else { best }
    }
}

/// `least-waste` score: wasted CPU fraction + wasted memory fraction of the new nodes'
/// capacity (expander/waste/waste.go, §3.4).
pub fn waste_score(o: &ExpansionOption) -> f64 {
    let n = i64::from(o.node_count.max(1));
    let frac = |avail: i64, used: i64| {
        if avail <= 0 {
            0.0
        } else {
            (avail - used) as f64 / avail as f64
        }
    };
    frac(o.node_cpu_m * n, o.requested_cpu_m) + frac(o.node_memory * n, o.requested_memory)
}

/// Indices with the minimum score (ties kept, in order).
fn keep_best(left: &[usize], score: impl Fn(usize) -> f64) -> Vec<usize> {
    let mut best = f64::INFINITY;
    let mut out = Vec::new();
    for &i in left {
        let s = score(i);
        if s < best {
            best = s;
            out.clear();
            out.push(i);
        } else if s == best {
            out.push(i);
        }
    }
    out
}

/// Escape regex metacharacters of a node-group name.
pub(crate) fn escape_regex(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_punctuation() && c != '_' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

// ---- a small regular-expression matcher ----------------------------------------------------

/// The subset of Go RE2 syntax that priority rules use: literals, `.`, classes `[a-z0-9-]`
/// (negated with `^`), `\d \w \s` and their negations, escapes, anchors `^ $`, groups `( )`
/// and `(?: )`, alternation `|`, and the repetitions `* + ? {m} {m,} {m,n}` (greedy).
/// Matching is unanchored, like Go's `FindStringIndex`. Group names are short, so a
/// backtracking matcher is enough.
#[derive(Clone, Debug)]
pub struct Regex {
    source: String,
    alt: Alt,
}

type Alt = Vec<Vec<Item>>;

#[derive(Clone, Debug)]
struct Item {
    atom: Atom,
    min: u32,
    max: Option<u32>,
}

#[derive(Clone, Debug)]
enum Atom {
    Char(char),
    Any,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    Start,
    End,
    Group(Alt),
}

impl PartialEq for Regex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// Why a priority rule is not a regular expression the matcher accepts. The parser's helpers
/// build the message as a plain `String` (one kind of failure, no caller matches on it); it
/// becomes this type at the public entry, [`Regex::new`].
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct RegexError(pub String);

impl Regex {
    pub fn new(pattern: &str) -> Result<Regex, RegexError> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut pos = 0;
        let alt = parse_alt(&chars, &mut pos, 0).map_err(RegexError)?;
        if pos != chars.len() {
            return Err(RegexError(format!("unexpected ) at offset {pos}")));
        }
        Ok(Regex {
            source: pattern.to_string(),
            alt,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Does the pattern match anywhere in `s`?
    pub fn is_match(&self, s: &str) -> bool {
        let input: Vec<char> = s.chars().collect();
        (0..=input.len()).any(|start| match_alt(&self.alt, &input, start, &mut |_| true))
    }
}

fn parse_alt(c: &[char], pos: &mut usize, depth: u32) -> Result<Alt, String> {
    if depth > 32 {
        return Err("groups nested too deeply".into());
    }
    let mut alt = vec![Vec::new()];
    while *pos < c.len() {
        match c[*pos] {
            '|' => {
                *pos += 1;
                alt.push(Vec::new());
            }
            ')' => {
                if depth == 0 {
                    return Err(format!("unexpected ) at offset {pos}"));
                }
                return Ok(alt);
            }
            _ => {
                let atom = parse_atom(c, pos, depth)?;
                let (min, max) = parse_repeat(c, pos)?;
                if matches!(atom, Atom::Start | Atom::End) && (min, max) != (1, Some(1)) {
                    return Err("missing argument to repetition operator".into());
                }
                if let Some(seq) = alt.last_mut() {
                    seq.push(Item { atom, min, max });
                }
            }
        }
    }
    if depth > 0 {
        return Err("missing closing )".into());
    }
    Ok(alt)
}

fn parse_atom(c: &[char], pos: &mut usize, depth: u32) -> Result<Atom, String> {
    let ch = c[*pos];
    *pos += 1;
    Ok(match ch {
        '.' => Atom::Any,
        '^' => Atom::Start,
        '$' => Atom::End,
        '(' => {
            if c.get(*pos) == Some(&'?') {
                if c.get(*pos + 1) == Some(&':') {
                    *pos += 2;
                } else {
                    return Err("unsupported group flags (only (?: ) is supported)".into());
                }
            }
            let inner = parse_alt(c, pos, depth + 1)?;
            if c.get(*pos) != Some(&')') {
                return Err("missing closing )".into());
            }
            *pos += 1;
            Atom::Group(inner)
        }
        '[' => parse_class(c, pos)?,
        '\\' => parse_escape(c, pos)?,
        '*' | '+' | '?' => return Err("missing argument to repetition operator".into()),
        other => Atom::Char(other),
    })
}

fn class_of(e: char) -> Option<(bool, Vec<(char, char)>)> {
    let digits = vec![('0', '9')];
    let word = vec![('0', '9'), ('A', 'Z'), ('a', 'z'), ('_', '_')];
    let space = vec![('\t', '\n'), ('\x0c', '\r'), (' ', ' ')];
    Some(match e {
        'd' => (false, digits),
        'D' => (true, digits),
        'w' => (false, word),
        'W' => (true, word),
        's' => (false, space),
        'S' => (true, space),
        _ => return None,
    })
}

fn parse_escape(c: &[char], pos: &mut usize) -> Result<Atom, String> {
    let Some(&e) = c.get(*pos) else {
        return Err("trailing backslash at end of expression".into());
    };
    *pos += 1;
    if let Some((negated, ranges)) = class_of(e) {
        return Ok(Atom::Class { negated, ranges });
    }
    match e {
        'n' => Ok(Atom::Char('\n')),
        't' => Ok(Atom::Char('\t')),
        _ if e.is_ascii_punctuation() => Ok(Atom::Char(e)),
        _ => Err(format!("invalid escape sequence \\{e}")),
    }
}

fn parse_class(c: &[char], pos: &mut usize) -> Result<Atom, String> {
    let mut negated = false;
    if c.get(*pos) == Some(&'^') {
        negated = true;
        *pos += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let Some(&ch) = c.get(*pos) else {
            return Err("missing closing ]".into());
        };
        if ch == ']' && !first {
            *pos += 1;
            break;
        }
        first = false;
        *pos += 1;
        let lo = if ch == '\\' {
            let Some(&e) = c.get(*pos) else {
                return Err("missing closing ]".into());
            };
            *pos += 1;
            if let Some((neg, rs)) = class_of(e) {
                if neg {
                    return Err("negated class escapes inside [] are not supported".into());
                }
                ranges.extend(rs);
                continue;
            }
            e
        } else {
            ch
        };
        if c.get(*pos) == Some(&'-') && c.get(*pos + 1).is_some_and(|&n| n != ']') {
            let hi = c[*pos + 1];
            *pos += 2;
            if hi < lo {
                return Err(format!("invalid character class range {lo}-{hi}"));
            }
            ranges.push((lo, hi));
        } else {
            ranges.push((lo, lo));
        }
    }
    Ok(Atom::Class { negated, ranges })
}

fn parse_repeat(c: &[char], pos: &mut usize) -> Result<(u32, Option<u32>), String> {
    let r = match c.get(*pos) {
        Some('*') => (0, None),
        Some('+') => (1, None),
        Some('?') => (0, Some(1)),
        Some('{') => {
            let close = c[*pos..].iter().position(|&x| x == '}').map(|p| *pos + p);
            let Some(close) = close else {
                return Ok((1, Some(1)));
            };
            let body: String = c[*pos + 1..close].iter().collect();
            let parse = |s: &str| s.trim().parse::<u32>().ok();
            let r = match body.split_once(',') {
                None => parse(&body).map(|n| (n, Some(n))),
                Some((a, "")) => parse(a).map(|n| (n, None)),
                Some((a, b)) => parse(a).zip(parse(b)).map(|(a, b)| (a, Some(b))),
            };
            let Some(r) = r else {
                return Ok((1, Some(1)));
            };
            if r.1.is_some_and(|m| m < r.0) || r.0 > 1000 {
                return Err(format!("invalid repeat count {{{body}}}"));
            }
            *pos = close;
            r
        }
        _ => return Ok((1, Some(1))),
    };
    *pos += 1;
    if c.get(*pos) == Some(&'?') {
        return Err("non-greedy repetition is not supported".into());
    }
    Ok(r)
}

fn match_alt(alt: &Alt, s: &[char], i: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    alt.iter().any(|seq| match_seq(seq, s, i, k))
}

fn match_seq(seq: &[Item], s: &[char], i: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    match seq.split_first() {
        None => k(i),
        Some((item, rest)) => match_item(item, 0, s, i, &mut |j| match_seq(rest, s, j, k)),
    }
}

/// Greedy repetition: try one more occurrence first, then stop if the minimum is met.
fn match_item(
    item: &Item,
    count: u32,
    s: &[char],
    i: usize,
    k: &mut dyn FnMut(usize) -> bool,
) -> bool {
    let can_more = item.max.is_none_or(|m| count < m);
    if can_more {
        let more = match_atom(&item.atom, s, i, &mut |j| {
            // An empty iteration beyond the minimum cannot make progress: stop it to avoid
            // looping (zero-width atoms such as `^` still count toward the minimum).
            (j != i || count < item.min) && match_item(item, count + 1, s, j, k)
        });
        if more {
            return true;
        }
    }
    count >= item.min && k(i)
}

fn match_atom(a: &Atom, s: &[char], i: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    match a {
        Atom::Char(c) => s.get(i) == Some(c) && k(i + 1),
        Atom::Any => s.get(i).is_some_and(|&c| c != '\n') && k(i + 1),
        Atom::Class { negated, ranges } => {
            s.get(i)
                .is_some_and(|&c| ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated)
                && k(i + 1)
        }
        Atom::Start => i == 0 && k(i),
        Atom::End => i == s.len() && k(i),
        Atom::Group(alt) => match_alt(alt, s, i, k),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn opt(
        group: usize,
        name: &str,
        nodes: u32,
        pods: usize,
        cpu: i64,
        mem: i64,
    ) -> ExpansionOption {
        ExpansionOption {
            group: GroupId(group),
            group_name: name.into(),
            node_count: nodes,
            pods: (0..pods as u32).map(PodId).collect(),
            requested_cpu_m: cpu,
            requested_memory: mem,
            node_cpu_m: 4000,
            node_memory: 16 << 30,
        }
    }

    fn rng() -> rand_chacha::ChaCha8Rng {
        rand_chacha::ChaCha8Rng::seed_from_u64(1)
    }

    #[test]
    fn escape_regex_escapes_dots() {
        assert_eq!(escape_regex("ng.m5-large_a"), "ng\\.m5\\-large_a");
    }

    #[test]
    fn regex_matches_unanchored_with_classes_groups_and_repeats() {
        let re = |p: &str| Regex::new(p).expect("valid");
        assert!(re("spot").is_match("eks-spot-group"));
        assert!(!re("^spot").is_match("eks-spot-group"));
        assert!(re("^eks-.*-group$").is_match("eks-spot-group"));
        assert!(re("m5\\.(x|2x)large").is_match("ng-m5.2xlarge"));
        assert!(!re("m5\\.(x|2x)large").is_match("ng-m5a2xlarge"));
        assert!(re("^[a-c][0-9]{2,3}$").is_match("b123"));
        assert!(!re("^[a-c][0-9]{2,3}$").is_match("b1234"));
        assert!(re("^(?:on-demand|spot)-\\d+$").is_match("spot-42"));
        assert!(re("[^x]+$").is_match("abc"));
        assert!(re("a*").is_match(""));
        assert!(Regex::new("(unclosed").is_err());
        assert!(Regex::new("*x").is_err());
        assert!(Regex::new("[z-a]").is_err());
    }

    #[test]
    fn chain_rejects_duplicates_anything_after_random_and_unknown_names() {
        let p = PriorityRules::default;
        assert!(ExpanderChain::parse("least-waste,least-waste", p()).is_err());
        let e = ExpanderChain::parse("random,least-waste", p()).unwrap_err();
        assert!(e.to_string().contains("will never be used"), "{e}");
        assert!(ExpanderChain::parse("cheapest", p()).is_err());
        assert!(ExpanderChain::parse("least-waste,random", p()).is_ok());
    }

    #[test]
    fn price_expander_is_refused_as_on_aws() {
        let e = ExpanderChain::parse("price", PriorityRules::default()).unwrap_err();
        assert_eq!(e, ExpanderError::PriceOnAws);
        assert!(e.to_string().contains("Not implemented"), "{e}");
    }

    #[test]
    fn most_pods_keeps_ties_and_chain_falls_to_random() {
        let c = ExpanderChain::parse("most-pods", PriorityRules::default()).expect("ok");
        let opts = [
            opt(0, "a", 1, 5, 0, 0),
            opt(1, "b", 2, 9, 0, 0),
            opt(2, "c", 3, 9, 0, 0),
        ];
        let (i, by) = c.best_option(&opts, &mut rng()).expect("some");
        assert!(i == 1 || i == 2);
        assert_eq!(by, "random");
        let c =
            ExpanderChain::parse("most-pods,least-nodes", PriorityRules::default()).expect("ok");
        assert_eq!(c.best_option(&opts, &mut rng()), Some((1, "least-nodes")));
    }

    #[test]
    fn least_waste_sums_cpu_and_memory_waste_fractions() {
        // 3 of 4 CPUs and half the memory used: 0.25 + 0.5.
        let o = opt(0, "a", 1, 1, 3000, 8 << 30);
        assert!((waste_score(&o) - 0.75).abs() < 1e-12);
    }

    #[test]
    fn priority_filter_keeps_highest_matching_and_ignores_unmatched() {
        let mut rules = PriorityRules::default();
        rules.add(10, &["^spot-.*".into()]).expect("ok");
        rules.add(50, &["^reserved$".into()]).expect("ok");
        let c = ExpanderChain::parse("priority", rules).expect("ok");
        let opts = [
            opt(0, "on-demand", 1, 1, 0, 0),
            opt(1, "spot-a", 1, 1, 0, 0),
        ];
        assert_eq!(c.best_option(&opts, &mut rng()), Some((1, "priority")));
    }
}
