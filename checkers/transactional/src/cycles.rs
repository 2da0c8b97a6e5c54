//! Cycle search: strongly connected components, then the shortest cycle of each anomaly class.
//!
//! Each class is a rule over edge labels (which labels a cycle may use, which it must use,
//! how many anti-dependencies and whether two may be adjacent). For each class, the graph is
//! restricted to the labels the class allows and split into strongly connected components
//! (petgraph's Kosaraju, iterative, so a million nodes do not overflow the stack): a cycle
//! of the class lies inside one of them. Within a component, a breadth-first search over
//! (node, automaton state) from each node that starts a required edge finds the shortest
//! closed walk the rule accepts; the walk is then cut into simple cycles and each is
//! classified by its actual labels, so what is reported is always what the cycle shows.
//!
//! The search is exhaustive unless the budget (a deadline) runs out, in which case the class
//! is *unknown* in that component, never assumed absent.

use crate::graph::{DepGraph, Edge, CONT, PROC, RT, RW, WR, WW};
use petgraph::algo::kosaraju_scc;
use petgraph::graph::{EdgeIndex, NodeIndex};
use petgraph::visit::{EdgeFiltered, EdgeRef};
use std::time::Instant;

/// How many anti-dependency edges a class's cycles have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RwRule {
    /// None.
    Zero,
    /// Exactly one.
    One,
    /// At least two, no two adjacent (cyclically).
    NonAdjacent,
    /// At least one.
    Some,
}

/// An anomaly class of cycles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Class {
    /// Elle's name.
    pub name: &'static str,
    /// Labels the cycle may use.
    pub allowed: u8,
    /// A label the cycle must use at least once (0: none).
    pub need_a: u8,
    /// A second label the cycle must use at least once (0: none).
    pub need_b: u8,
    /// The anti-dependency rule.
    pub rw: RwRule,
}

const DATA: u8 = WW | WR | RW;

/// The plain classes, most severe first.
pub const PLAIN: [Class; 5] = [
    Class {
        name: "G0",
        allowed: WW,
        need_a: 0,
        need_b: 0,
        rw: RwRule::Zero,
    },
    Class {
        name: "G1c",
        allowed: WW | WR,
        need_a: WR,
        need_b: 0,
        rw: RwRule::Zero,
    },
    Class {
        name: "G-single",
        allowed: DATA,
        need_a: 0,
        need_b: 0,
        rw: RwRule::One,
    },
    Class {
        name: "G-nonadjacent",
        allowed: DATA,
        need_a: 0,
        need_b: 0,
        rw: RwRule::NonAdjacent,
    },
    Class {
        name: "G2-item",
        allowed: DATA,
        need_a: 0,
        need_b: 0,
        rw: RwRule::Some,
    },
];

/// The `-process` (`realtime == false`) or `-realtime` variant of a plain class.
pub fn variant(c: Class, realtime: bool) -> Class {
    let (suffix_names, extra, need) = if realtime {
        (REALTIME_NAMES, PROC | RT, RT)
    } else {
        (PROCESS_NAMES, PROC, PROC)
    };
    let i = PLAIN.iter().position(|p| p.name == c.name).unwrap_or(0);
    Class {
        name: suffix_names[i],
        allowed: c.allowed | extra,
        need_a: c.need_a,
        need_b: need,
        rw: c.rw,
    }
}

const PROCESS_NAMES: [&str; 5] = [
    "G0-process",
    "G1c-process",
    "G-single-process",
    "G-nonadjacent-process",
    "G2-item-process",
];
const REALTIME_NAMES: [&str; 5] = [
    "G0-realtime",
    "G1c-realtime",
    "G-single-realtime",
    "G-nonadjacent-realtime",
    "G2-item-realtime",
];

/// The class a cycle's labels show (one label per step; a barrier path counts as one
/// real-time step).
pub fn classify(labels: &[u8]) -> &'static str {
    let rw = labels.iter().filter(|l| **l == RW).count();
    let n = labels.len();
    let adjacent = (0..n).any(|i| labels[i] == RW && labels[(i + 1) % n] == RW);
    let i = match rw {
        0 if labels.iter().all(|l| *l == WW || *l == PROC || *l == RT) => 0,
        0 => 1,
        1 => 2,
        _ if !adjacent => 3,
        _ => 4,
    };
    if labels.contains(&RT) {
        REALTIME_NAMES[i]
    } else if labels.contains(&PROC) {
        PROCESS_NAMES[i]
    } else {
        PLAIN[i].name
    }
}

/// A cycle: `steps[i]` is a transaction and the edge from it to the next (cyclically).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cycle {
    /// The class its labels show.
    pub kind: &'static str,
    /// (transaction, edge to the next transaction).
    pub steps: Vec<(u32, Edge)>,
}

/// What a class search found.
#[derive(Debug, Default)]
pub struct ClassResult {
    /// Cycles found (at most `max` per class).
    pub cycles: Vec<Cycle>,
    /// Sizes of components whose search ran out of budget.
    pub unknown: Vec<usize>,
}

/// Budget shared by all searches.
pub struct Budget {
    /// Stop at this instant.
    pub deadline: Option<Instant>,
    steps: u64,
}

impl Budget {
    /// A budget ending at `deadline`.
    pub fn new(deadline: Option<Instant>) -> Budget {
        Budget { deadline, steps: 0 }
    }

    fn tick(&mut self) -> bool {
        self.steps += 1;
        if self.steps % 4096 == 0 {
            if let Some(d) = self.deadline {
                return Instant::now() < d;
            }
        }
        true
    }

    /// Has the deadline passed?
    pub fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Strongly connected components with more than one node, of the graph restricted to labels
/// in `allowed` (continuations out of barriers count when `RT` is allowed).
pub fn components(dg: &DepGraph, allowed: u8) -> Vec<Vec<NodeIndex>> {
    let filtered = EdgeFiltered::from_fn(&dg.g, |e| edge_allowed(e.weight().label, allowed));
    kosaraju_scc(&filtered)
        .into_iter()
        .filter(|c| c.len() > 1)
        .collect()
}

fn edge_allowed(label: u8, allowed: u8) -> bool {
    if label == CONT {
        allowed & RT != 0
    } else {
        label & allowed != 0
    }
}

// Automaton state bits.
const COUNT: u8 = 0b11;
const FIRST_RW: u8 = 1 << 2;
const LAST_RW: u8 = 1 << 3;
const HAS_A: u8 = 1 << 4;
const HAS_B: u8 = 1 << 5;

/// The state after taking an edge labelled `label` from `state`; `None` if the class forbids it.
fn step(c: &Class, state: u8, label: u8, first: bool) -> Option<u8> {
    if !edge_allowed(label, c.allowed) {
        return None;
    }
    if label == CONT {
        return Some(state);
    }
    let mut s = state;
    if label == RW {
        let count = s & COUNT;
        match c.rw {
            RwRule::Zero => return None,
            RwRule::One if count >= 1 => return None,
            RwRule::NonAdjacent if s & LAST_RW != 0 => return None,
            _ => {}
        }
        s = (s & !COUNT) | (count + 1).min(2);
        s |= LAST_RW;
        if first {
            s |= FIRST_RW;
        }
    } else {
        s &= !LAST_RW;
    }
    if c.need_a != 0 && label & c.need_a != 0 {
        s |= HAS_A;
    }
    if c.need_b != 0 && label & c.need_b != 0 {
        s |= HAS_B;
    }
    Some(s)
}

/// Does a closed walk ending in `state` satisfy the class?
fn accepts(c: &Class, s: u8) -> bool {
    let count = s & COUNT;
    let rw_ok = match c.rw {
        RwRule::Zero => count == 0,
        RwRule::One => count == 1,
        RwRule::NonAdjacent => count == 2 && !(s & FIRST_RW != 0 && s & LAST_RW != 0),
        RwRule::Some => count >= 1,
    };
    rw_ok && (c.need_a == 0 || s & HAS_A != 0) && (c.need_b == 0 || s & HAS_B != 0)
}

/// The label a class search starts from: every cycle of the class has an edge with it.
fn start_label(c: &Class) -> u8 {
    if c.rw != RwRule::Zero {
        RW
    } else if c.need_b != 0 {
        c.need_b
    } else if c.need_a != 0 {
        c.need_a
    } else {
        c.allowed
    }
}

/// Searches every component of the class's subgraph for its shortest cycle, at most `max`
/// cycles in all. `skip(component)` can rule a component out (already explained).
pub fn search_class(
    dg: &DepGraph,
    c: &Class,
    max: usize,
    budget: &mut Budget,
    mut skip: impl FnMut(&[NodeIndex]) -> bool,
) -> ClassResult {
    let mut out = ClassResult::default();
    let comps = components(dg, c.allowed);
    if comps.is_empty() {
        return out;
    }
    let mut local = vec![u32::MAX; dg.g.node_count()];
    let mut comps = comps;
    comps.sort_by_key(|c| c.len());
    for comp in comps {
        if out.cycles.len() >= max {
            break;
        }
        if skip(&comp) {
            continue;
        }
        if budget.expired() {
            out.unknown.push(comp.len());
            continue;
        }
        for (i, n) in comp.iter().enumerate() {
            local[n.index()] = i as u32;
        }
        let sl = start_label(c);
        let mut starts: Vec<NodeIndex> = comp
            .iter()
            .copied()
            .filter(|n| !dg.is_barrier(*n))
            .filter(|n| {
                dg.g.edges(*n)
                    .any(|e| e.weight().label & sl != 0 && local[e.target().index()] != u32::MAX)
            })
            .collect();
        starts.sort_unstable();
        let mut found = None;
        let mut exhausted = true;
        for s in starts {
            match bfs(dg, c, s, &local, comp.len(), budget) {
                Ok(Some(walk)) => {
                    found = Some(walk);
                    break;
                }
                Ok(None) => {}
                Err(()) => {
                    exhausted = false;
                    break;
                }
            }
        }
        for n in &comp {
            local[n.index()] = u32::MAX;
        }
        match found {
            Some(walk) => {
                if let Some(cycle) = best_simple_cycle(dg, c, &walk) {
                    out.cycles.push(cycle);
                }
            }
            None if !exhausted => out.unknown.push(comp.len()),
            None => {}
        }
    }
    out
}

/// Breadth-first search from `s` for the shortest closed walk the class accepts. `Err` when
/// the budget ran out.
fn bfs(
    dg: &DepGraph,
    c: &Class,
    s: NodeIndex,
    local: &[u32],
    size: usize,
    budget: &mut Budget,
) -> Result<Option<Vec<EdgeIndex>>, ()> {
    // Arena of (node, state, parent entry, edge taken); visited bit per (node, state).
    let mut arena: Vec<(NodeIndex, u8, u32, EdgeIndex)> = vec![(s, 0, u32::MAX, EdgeIndex::end())];
    let mut visited = vec![0u64; size];
    let mut head = 0usize;
    while head < arena.len() {
        let (node, state, _, _) = arena[head];
        let first = head == 0;
        for e in dg.g.edges(node) {
            if !budget.tick() {
                return Err(());
            }
            let t = e.target();
            let li = local[t.index()];
            if li == u32::MAX {
                continue;
            }
            let Some(ns) = step(c, state, e.weight().label, first) else {
                continue;
            };
            if t == s {
                if accepts(c, ns) {
                    let mut walk = vec![e.id()];
                    let mut i = head;
                    while arena[i].2 != u32::MAX {
                        walk.push(arena[i].3);
                        i = arena[i].2 as usize;
                    }
                    walk.reverse();
                    return Ok(Some(walk));
                }
                continue;
            }
            let bit = 1u64 << ns;
            if visited[li as usize] & bit != 0 {
                continue;
            }
            visited[li as usize] |= bit;
            arena.push((t, ns, head as u32, e.id()));
        }
        head += 1;
    }
    Ok(None)
}

/// Collapses a walk's barrier hops into real-time steps: (transaction, edge to the next).
fn steps_of(dg: &DepGraph, walk: &[EdgeIndex]) -> Vec<(u32, Edge)> {
    let mut steps = Vec::new();
    for e in walk {
        let (a, _) = dg.g.edge_endpoints(*e).expect("edge of the graph");
        let w = dg.g[*e];
        if !dg.is_barrier(a) {
            steps.push((dg.g[a], w));
        }
    }
    steps
}

/// Cuts a closed walk at repeated transactions into simple cycles, and returns the shortest
/// one whose own labels the class accepts, else the shortest one with a class of its own.
fn best_simple_cycle(dg: &DepGraph, c: &Class, walk: &[EdgeIndex]) -> Option<Cycle> {
    let steps = steps_of(dg, walk);
    let mut pieces: Vec<Vec<(u32, Edge)>> = Vec::new();
    let mut stack: Vec<(u32, Edge)> = Vec::new();
    for st in steps {
        if let Some(p) = stack.iter().position(|(t, _)| *t == st.0) {
            pieces.push(stack.split_off(p));
        }
        stack.push(st);
    }
    if !stack.is_empty() {
        pieces.push(stack);
    }
    let mut cycles: Vec<Cycle> = pieces
        .into_iter()
        .filter(|p| p.len() > 1 || p.first().is_some_and(|_| false))
        .map(|steps| {
            let labels: Vec<u8> = steps.iter().map(|(_, e)| e.label).collect();
            Cycle {
                kind: classify(&labels),
                steps,
            }
        })
        .collect();
    cycles.sort_by_key(|cy| (cy.kind != c.name, cy.steps.len()));
    cycles.into_iter().next()
}
