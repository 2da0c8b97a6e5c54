//! The history read once for every question: operations with the node that served each,
//! fault intervals with the nodes they hit, and leader observations.

use crate::faults::{pair_operations, string_list, Fault, LeaderSample, NemesisSummary};
use faultline_history::{Event, Operation};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// A history read for explaining.
pub(crate) struct Scene {
    /// Client operations in invocation order.
    pub ops: Vec<Operation>,
    /// The node that served each op (its completion's `node`, else its invocation's).
    pub nodes: Vec<Option<String>>,
    /// Faults, clock offsets and leader observations.
    pub nemesis: NemesisSummary,
    /// Every node the history names, sorted.
    pub all_nodes: Vec<String>,
    /// The time of the last event.
    pub end_ns: u64,
}

impl Scene {
    pub fn new(events: &[Event]) -> Scene {
        let ops = pair_operations(events);
        let by_index: HashMap<u64, &Event> = events.iter().map(|e| (e.index, e)).collect();
        let node_of = |i: Option<u64>| {
            i.and_then(|i| by_index.get(&i))
                .and_then(|e| e.node.clone())
        };
        let nodes = ops
            .iter()
            .map(|o| node_of(o.complete_index).or_else(|| node_of(Some(o.invoke_index))))
            .collect::<Vec<_>>();
        let nemesis = NemesisSummary::build(events);
        let mut all: BTreeSet<String> = nodes.iter().flatten().cloned().collect();
        for f in &nemesis.faults {
            all.extend(f.targets.iter().cloned());
        }
        for s in &nemesis.leaders {
            all.extend(s.primaries.iter().flatten().cloned());
        }
        Scene {
            ops,
            nodes,
            nemesis,
            all_nodes: all.into_iter().collect(),
            end_ns: events.iter().map(|e| e.time).max().unwrap_or(0),
        }
    }

    /// When `op` ended, or the end of the history if it never did.
    pub fn end_of(&self, op: &Operation) -> u64 {
        op.complete_time.unwrap_or(self.end_ns)
    }

    /// Who led at `t` as last observed (at or before `t`): `None` when never observed or
    /// unknown then.
    pub fn leaders_at(&self, t: u64) -> Option<&Vec<String>> {
        self.leader_at(t).and_then(|s| s.primaries.as_ref())
    }

    /// The last leader observation at or before `t` (known or not), if any.
    pub fn leader_at(&self, t: u64) -> Option<&LeaderSample> {
        let l = &self.nemesis.leaders;
        let i = l.partition_point(|s| s.time_ns <= t);
        i.checked_sub(1).map(|i| &l[i])
    }

    /// The first leader observation after `t` in which `node` no longer leads, and the first
    /// after `t` in which another node leads.
    pub fn demotion_after(
        &self,
        node: &str,
        t: u64,
    ) -> (Option<&LeaderSample>, Option<&LeaderSample>) {
        // Only observations that know who leads say anything about a demotion.
        let later = || {
            self.nemesis
                .leaders
                .iter()
                .filter(move |s| s.time_ns > t)
                .filter_map(|s| s.primaries.as_ref().map(|p| (s, p)))
        };
        let demoted = later()
            .find(|(_, p)| !p.iter().any(|x| x == node))
            .map(|(s, _)| s);
        let successor = later()
            .find(|(_, p)| p.iter().any(|x| x != node))
            .map(|(s, _)| s);
        (demoted, successor)
    }

    /// The faults in force on `node` at some instant of `[from, to]`.
    pub fn faults_on(&self, node: &str, from: u64, to: u64) -> Vec<usize> {
        self.nemesis
            .faults
            .iter()
            .enumerate()
            .filter(|(_, f)| f.start_ns <= to && f.end_ns >= from)
            .filter(|(i, _)| self.hits(*i, node))
            .map(|(i, _)| i)
            .collect()
    }

    /// Whether fault `i` acts on `node` (for a partition: cuts it off from someone).
    pub fn hits(&self, i: usize, node: &str) -> bool {
        let f = &self.nemesis.faults[i];
        match grudge(f) {
            Some(_) => !self.cut_off_from(i, node).is_empty(),
            None => f.targets.iter().any(|t| t == node),
        }
    }

    /// The nodes a partition keeps `node` from talking to (either side dropping the other).
    pub fn cut_off_from(&self, i: usize, node: &str) -> Vec<String> {
        let Some(g) = grudge(&self.nemesis.faults[i]) else {
            return Vec::new();
        };
        let drops = |a: &str, b: &str| g.get(a).is_some_and(|d| d.iter().any(|x| x == b));
        self.all_nodes
            .iter()
            .filter(|o| *o != node && (drops(node, o) || drops(o, node)))
            .cloned()
            .collect()
    }

    /// The nodes fault `i` targets. For a partition, the cut-off side: the nodes that see
    /// no majority of the cluster (itself included); when every node still sees a majority
    /// (a majorities ring), every node it cuts off from someone.
    pub fn targets(&self, i: usize) -> Vec<String> {
        let f = &self.nemesis.faults[i];
        if grudge(f).is_none() {
            return f.targets.clone();
        }
        let n = self.all_nodes.len();
        let involved: Vec<String> = self
            .all_nodes
            .iter()
            .filter(|x| !self.cut_off_from(i, x).is_empty())
            .cloned()
            .collect();
        let minority: Vec<String> = involved
            .iter()
            .filter(|x| n - self.cut_off_from(i, x).len() <= n / 2)
            .cloned()
            .collect();
        if minority.is_empty() {
            involved
        } else {
            minority
        }
    }

    /// "partition (majorities-ring, 10.0 s to 20.4 s)".
    pub fn fault_label(&self, i: usize) -> String {
        let f = &self.nemesis.faults[i];
        let what = describe_fault(f);
        format!(
            "{} ({what}{}{} to {})",
            f.name,
            if what.is_empty() { "" } else { ", " },
            secs(f.start_ns),
            secs(f.end_ns)
        )
    }
}

/// A partition's grudge: node -> nodes it drops.
pub(crate) fn grudge(f: &Fault) -> Option<HashMap<String, Vec<String>>> {
    let g = f.value.get("grudge")?.as_object()?;
    Some(
        g.iter()
            .map(|(k, v)| (k.clone(), string_list(Some(v))))
            .collect(),
    )
}

/// The fault's particulars for a label: a partition's shape, a clock offset, a loss rate.
fn describe_fault(f: &Fault) -> String {
    let v = &f.value;
    let num = |k: &str| v.get(k).and_then(Value::as_i64);
    if let Some(spec) = v.get("spec").and_then(Value::as_str) {
        return spec.to_string();
    }
    let nodes = f.targets.join(",");
    if let Some(ms) = num("offset_ms") {
        return format!("{ms:+} ms on {nodes}");
    }
    if let Some(p) = num("percent") {
        let what = v.get("effect").and_then(Value::as_str).unwrap_or("loss");
        return format!("{what} {p}% on {nodes}");
    }
    if let Some(ms) = num("delay_ms") {
        return format!("delay {ms} ms on {nodes}");
    }
    nodes
}

/// Nanoseconds as "12.3 s".
pub(crate) fn secs(ns: u64) -> String {
    format!("{:.1} s", ns as f64 / 1e9)
}

/// "n1", "n1 and n2", "n1, n2 and n3".
pub(crate) fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
