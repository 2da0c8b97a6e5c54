//! The dependency graph on petgraph: transactions as nodes, labelled edges, and the barrier
//! nodes that keep real-time order linear in size.
//!
//! Real-time order (T1 completed before T2 was invoked) has quadratically many pairs. Instead,
//! every invocation that follows at least one completion gets a *barrier* node: the
//! transactions completed since the previous barrier point to it, the previous barrier points
//! to it, and it points to every transaction invoked before the next barrier. T1 reaches T2
//! through barriers exactly when T1 completed before T2 was invoked. Edges out of a barrier
//! carry no label of their own: a path `T1 -rt-> B -> B' -> T2` is one real-time edge.

use crate::txn::{Id, TxnHistory};
use faultline_history::Outcome;
use petgraph::graph::{DiGraph, NodeIndex};

/// A write-write dependency: the first wrote a version the second overwrote.
pub const WW: u8 = 1;
/// A write-read dependency: the second read what the first wrote.
pub const WR: u8 = 2;
/// A read-write anti-dependency: the first read a version the second overwrote.
pub const RW: u8 = 4;
/// Process order: the same process ran the first, then the second.
pub const PROC: u8 = 8;
/// Real-time order: the first completed before the second was invoked.
pub const RT: u8 = 16;
/// The unlabelled continuation out of a barrier node.
pub const CONT: u8 = 0;

/// An edge: its label and, for data edges, the key and values that justify it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    /// One of [`WW`], [`WR`], [`RW`], [`PROC`], [`RT`], [`CONT`].
    pub label: u8,
    /// The key, for data edges.
    pub key: Id,
    /// ww: the first's value; wr: the value read; rw: the second's value.
    pub v1: Id,
    /// ww: the second's value.
    pub v2: Id,
}

impl Edge {
    /// An edge with no key or values.
    pub fn plain(label: u8) -> Edge {
        Edge {
            label,
            key: Id::MAX,
            v1: Id::MAX,
            v2: Id::MAX,
        }
    }
}

/// A node: a transaction (its position) or a barrier.
pub const BARRIER: u32 = u32::MAX;

/// The graph: node `i < txns` is transaction `i`; later nodes are barriers.
pub struct DepGraph {
    /// The petgraph graph; node weights are transaction positions or [`BARRIER`].
    pub g: DiGraph<u32, Edge>,
}

impl DepGraph {
    /// Builds the graph from inferred data edges plus, as asked, process and real-time edges
    /// among the committed transactions (`member`).
    pub fn build(
        h: &TxnHistory,
        data: &[(u32, u32, Edge)],
        member: &[bool],
        process: bool,
        realtime: bool,
    ) -> DepGraph {
        let n = h.txns.len();
        let mut g: DiGraph<u32, Edge> =
            DiGraph::with_capacity(n + if realtime { n } else { 0 }, data.len() + 3 * n);
        for t in 0..n {
            g.add_node(t as u32);
        }
        for (a, b, e) in data {
            g.add_edge(NodeIndex::new(*a as usize), NodeIndex::new(*b as usize), *e);
        }
        if process {
            // Consecutive committed transactions of each process. An info transaction may
            // have committed any time later, so nothing follows it.
            let mut last: rustc_hash::FxHashMap<u64, usize> = Default::default();
            for (t, txn) in h.txns.iter().enumerate() {
                if !member[t] {
                    continue;
                }
                if let Some(&p) = last.get(&txn.process) {
                    if h.txns[p].outcome == Outcome::Ok {
                        g.add_edge(NodeIndex::new(p), NodeIndex::new(t), Edge::plain(PROC));
                    }
                }
                last.insert(txn.process, t);
            }
        }
        if realtime {
            // Events in history order: (index, is_invoke, txn). Only ok completions order
            // anything: an info transaction's commit time is unknown.
            let mut events: Vec<(u64, bool, u32)> = Vec::with_capacity(2 * n);
            for (t, txn) in h.txns.iter().enumerate() {
                if !member[t] {
                    continue;
                }
                events.push((txn.invoke_index, true, t as u32));
                if txn.outcome == Outcome::Ok {
                    if let Some(c) = txn.complete_index {
                        events.push((c, false, t as u32));
                    }
                }
            }
            events.sort_unstable();
            let mut completed: Vec<u32> = Vec::new();
            let mut barrier: Option<NodeIndex> = None;
            for (_, invoke, t) in events {
                if !invoke {
                    completed.push(t);
                    continue;
                }
                if !completed.is_empty() {
                    let b = g.add_node(BARRIER);
                    for c in completed.drain(..) {
                        g.add_edge(NodeIndex::new(c as usize), b, Edge::plain(RT));
                    }
                    if let Some(prev) = barrier {
                        g.add_edge(prev, b, Edge::plain(CONT));
                    }
                    barrier = Some(b);
                }
                if let Some(b) = barrier {
                    g.add_edge(b, NodeIndex::new(t as usize), Edge::plain(CONT));
                }
            }
        }
        DepGraph { g }
    }

    /// Is node `i` a barrier?
    pub fn is_barrier(&self, i: NodeIndex) -> bool {
        self.g[i] == BARRIER
    }
}

/// The name of an edge label in results: `ww`, `wr`, `rw`, `process`, `realtime`.
pub fn label_name(label: u8) -> &'static str {
    match label {
        WW => "ww",
        WR => "wr",
        RW => "rw",
        PROC => "process",
        RT => "realtime",
        _ => "",
    }
}
