//! An Elle-class transactional checker: infers the dependency graph of a list-append or
//! rw-register history, finds its cycles, names its anomalies and the consistency models the
//! history rules out.
//!
//! The pipeline is plain functions over plain data:
//!
//! 1. [`txn::parse`] turns `txn` operations into compact transactions (keys and values
//!    interned);
//! 2. [`infer::infer`] derives write-write, write-read and read-write dependencies per key,
//!    and the anomalies that need no cycle (G1a, G1b, internal, garbage, ...);
//! 3. [`graph::DepGraph`] puts them on a petgraph graph, with process and real-time edges when
//!    the model needs them;
//! 4. [`cycles`] takes strongly connected components and searches each for the shortest cycle
//!    of every anomaly class (G0, G1c, G-single, G-nonadjacent, G2-item and their `-process`
//!    and `-realtime` variants);
//! 5. [`models`] turns the anomalies into a verdict for the chosen model and Elle's `not` /
//!    `also-not` sets.
//!
//! ```
//! use faultline_history::{testing::op, Outcome};
//! use faultline_transactional::{check, Options};
//! use serde_json::json;
//!
//! // T0 appends 1 to key x; T1 reads x and sees [1]. Serializable.
//! let ops = vec![
//!     op(0, "txn", json!([["append", "x", 1]]), json!([["append", "x", 1]]), Outcome::Ok, 0, Some(1)),
//!     op(1, "txn", json!([["r", "x", null]]), json!([["r", "x", [1]]]), Outcome::Ok, 2, Some(3)),
//! ];
//! let report = check(&ops, &Options::default()).unwrap();
//! assert_eq!(report.verdict, faultline_history::Verdict::Valid);
//! ```

pub mod cycles;
pub mod graph;
pub mod infer;
pub mod models;
pub mod synth;
pub mod txn;

pub use models::Model;
pub use txn::Workload;

use cycles::{Budget, Class, Cycle, PLAIN};
use faultline_history::{Anomaly, CheckerResult, InputError, Operation, Outcome, Verdict};
use graph::{DepGraph, Edge, PROC, RT, RW, WR, WW};
use petgraph::graph::NodeIndex;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use txn::{Mop, TxnHistory};

/// The checker's name in results.
pub const CHECKER: &str = "transactional";

/// How to check a history.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The model the database claims; anomalies it proscribes make the verdict invalid.
    pub model: Model,
    /// Give up on cycle searches past this long (their classes become unknown).
    pub time_limit: Option<Duration>,
    /// Examples kept per anomaly kind (all are counted).
    pub max_examples: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            model: Model::StrictSerializable,
            time_limit: None,
            max_examples: 8,
        }
    }
}

/// One step of a cycle: a transaction and the dependency leading to the next one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    /// The transaction's position among the history's transactions (`T<n>`).
    pub txn: u32,
    /// Its process.
    pub process: u64,
    /// `index` of its invoke event.
    pub invoke: u64,
    /// `index` of its completion event, if any.
    pub complete: Option<u64>,
    /// Its micro-operations as Elle prints them, e.g. `[[append x 1] [r y [1 2]]]`.
    pub ops: String,
    /// The edge to the next transaction: `ww`, `wr`, `rw`, `process` or `realtime`.
    pub edge: &'static str,
    /// For data edges, the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<serde_json::Value>,
    /// For data edges, the values: ww `[this one's, the next one's]`, wr `[the value read]`,
    /// rw `[the next one's]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<serde_json::Value>,
    /// The edge in words.
    pub why: String,
}

/// One anomaly, explained.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TxnAnomaly {
    /// Elle's name: `G-single`, `G1a`, `incompatible-order`...
    pub kind: String,
    /// What happened, for a person.
    pub explanation: String,
    /// `index` of the events of the transactions involved.
    pub events: Vec<u64>,
    /// For cycle anomalies, the cycle.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cycle: Vec<Step>,
}

/// Figures about the check.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Transactions in the history.
    pub txns: usize,
    /// ok, info and fail transactions.
    pub ok: usize,
    /// Transactions that ended info (or never completed).
    pub info: usize,
    /// Transactions that failed.
    pub fail: usize,
    /// Committed transactions in the graph.
    pub graph_txns: usize,
    /// Edges in the graph (including real-time barrier edges).
    pub edges: usize,
    /// Strongly connected components with more than one node.
    pub cycle_components: usize,
    /// Nodes in the largest such component.
    pub largest_component: usize,
    /// Milliseconds spent checking.
    pub check_ms: f64,
}

/// The checker's conclusion.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Valid, invalid (an anomaly the model proscribes), or unknown (a search ran out of time).
    pub verdict: Verdict,
    /// The model checked against.
    pub model: Model,
    /// list-append or rw-register.
    pub workload: Workload,
    /// Every anomaly kind found, sorted.
    pub anomaly_types: Vec<String>,
    /// How many of each kind were found.
    pub anomaly_counts: BTreeMap<String, usize>,
    /// Explained examples.
    pub anomalies: Vec<TxnAnomaly>,
    /// The weakest models the history rules out (Elle's `not`).
    pub not: Vec<String>,
    /// The other, stronger models it rules out (Elle's `also-not`).
    pub also_not: Vec<String>,
    /// Why the verdict is unknown, when it is.
    pub reason: Option<String>,
    /// Figures.
    pub stats: Stats,
}

impl Serialize for Model {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl Serialize for Workload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Does the history hold transactions (`f: "txn"` operations)?
pub fn is_transactional(ops: &[Operation]) -> bool {
    ops.iter().any(|o| o.f == "txn")
}

/// Checks a history's `txn` operations against `opts.model`.
pub fn check(ops: &[Operation], opts: &Options) -> Result<Report, InputError> {
    let started = Instant::now();
    let h = txn::parse(ops)?;
    check_parsed(&h, opts, started)
}

/// Checks an already parsed history (`started` is when checking began, for the figures).
pub fn check_parsed(
    h: &TxnHistory,
    opts: &Options,
    started: Instant,
) -> Result<Report, InputError> {
    let deadline = opts.time_limit.map(|d| started + d);
    let max = opts.max_examples.max(1);
    let inf = infer::infer(h, max)?;
    let model = opts.model;
    let dg = DepGraph::build(
        h,
        &inf.edges,
        &inf.member,
        model.needs_process(),
        model.needs_realtime(),
    );
    let mut stats = Stats {
        txns: h.txns.len(),
        ok: h.txns.iter().filter(|t| t.outcome == Outcome::Ok).count(),
        info: h.txns.iter().filter(|t| t.outcome == Outcome::Info).count(),
        fail: h.txns.iter().filter(|t| t.outcome == Outcome::Fail).count(),
        graph_txns: inf.member.iter().filter(|m| **m).count(),
        edges: dg.g.edge_count(),
        ..Stats::default()
    };
    let mut counts: BTreeMap<String, usize> = inf
        .counts
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    let mut anomalies: Vec<TxnAnomaly> = inf
        .found
        .iter()
        .map(|f| TxnAnomaly {
            kind: f.kind.to_string(),
            explanation: f.explanation.clone(),
            events: events_of(h, &f.txns),
            cycle: Vec::new(),
        })
        .collect();
    let mut unknown: Vec<String> = Vec::new();

    // Cycles: only nodes inside a nontrivial component of the whole graph can be on one.
    let all = cycles::components(&dg, WW | WR | RW | PROC | RT);
    stats.cycle_components = all
        .iter()
        .filter(|c| c.iter().any(|n| !dg.is_barrier(*n)))
        .count();
    stats.largest_component = all.iter().map(Vec::len).max().unwrap_or(0);
    if !all.is_empty() {
        let mut keep = vec![false; dg.g.node_count()];
        for n in all.iter().flatten() {
            keep[n.index()] = true;
        }
        let sub = DepGraph {
            g: dg
                .g
                .filter_map(|i, w| keep[i.index()].then_some(*w), |_, e| Some(*e)),
        };
        let mut budget = Budget::new(deadline);
        let mut families: Vec<Vec<Class>> = vec![PLAIN.to_vec()];
        if model.needs_process() {
            families.push(PLAIN.iter().map(|c| cycles::variant(*c, false)).collect());
        }
        if model.needs_realtime() {
            families.push(PLAIN.iter().map(|c| cycles::variant(*c, true)).collect());
        }
        for (fi, family) in families.iter().enumerate() {
            let mut family_found = false;
            let mut family_unknown = false;
            // Transactions on cycles already found with the same allowed labels.
            let mut explained = vec![false; h.txns.len()];
            for (ci, class) in family.iter().enumerate() {
                // A variant is only worth finding when nothing found so far entails it.
                if fi > 0 {
                    let kinds: Vec<&str> = counts.keys().map(String::as_str).collect();
                    if models::entailed(&kinds).contains(class.name) {
                        continue;
                    }
                }
                let skip = |comp: &[NodeIndex]| {
                    ci >= 3
                        && comp
                            .iter()
                            .any(|n| !sub.is_barrier(*n) && explained[sub.g[*n] as usize])
                };
                let result = cycles::search_class(&sub, class, max, &mut budget, skip);
                for size in &result.unknown {
                    family_unknown = true;
                    unknown.push(format!(
                        "the {} search in a {size}-node component ran past the time limit",
                        class.name
                    ));
                }
                if !result.cycles.is_empty() {
                    family_found = true;
                }
                if ci >= 2 {
                    for cy in &result.cycles {
                        for (t, _) in &cy.steps {
                            explained[*t as usize] = true;
                        }
                    }
                }
                for cy in result.cycles {
                    *counts.entry(cy.kind.to_string()).or_insert(0) += 1;
                    anomalies.push(explain_cycle(h, &cy));
                }
            }
            if family_unknown && !family_found {
                // Some cycle exists in this family's graph, class unknown.
                let allowed = family.iter().fold(0, |a, c| a | c.allowed);
                let comps = cycles::components(&sub, allowed);
                if !comps.is_empty() {
                    // The transactions of the cycle's component: where the cycle is, if
                    // not which.
                    let txns: Vec<u32> = comps[0]
                        .iter()
                        .map(|n| sub.g[*n])
                        .filter(|t| *t != graph::BARRIER)
                        .collect();
                    let kind = [
                        "cycle-exists",
                        "cycle-exists-process",
                        "cycle-exists-realtime",
                    ][fi.min(2)];
                    *counts.entry(kind.to_string()).or_insert(0) += 1;
                    anomalies.push(TxnAnomaly {
                        kind: kind.to_string(),
                        explanation: "the dependency graph has a cycle, but classifying it ran past the time limit".into(),
                        events: events_of(h, &txns),
                        cycle: Vec::new(),
                    });
                }
            }
        }
    }

    if h.txns.is_empty() {
        // No transaction is no evidence: a history of other operations says nothing here.
        unknown.push(
            "the history holds no transactions (f \"txn\"), so there was nothing to check"
                .to_string(),
        );
    }
    let types: Vec<&str> = counts.keys().map(String::as_str).collect();
    let (not, also_not) = models::boundary(&types);
    let proscribed = model.proscribed();
    let invalid = models::entailed(&types)
        .iter()
        .any(|a| proscribed.contains(a));
    let verdict = if invalid {
        Verdict::Invalid
    } else if !unknown.is_empty() {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let reason = (verdict == Verdict::Unknown).then(|| unknown.join("; "));
    stats.check_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
    Ok(Report {
        verdict,
        model,
        workload: h.workload,
        anomaly_types: counts.keys().cloned().collect(),
        anomaly_counts: counts,
        anomalies,
        not: not.iter().map(|m| m.name().to_string()).collect(),
        also_not: also_not.iter().map(|m| m.name().to_string()).collect(),
        reason,
        stats,
    })
}

fn events_of(h: &TxnHistory, txns: &[u32]) -> Vec<u64> {
    let mut out = Vec::new();
    for t in txns {
        let txn = &h.txns[*t as usize];
        out.push(txn.invoke_index);
        out.extend(txn.complete_index);
    }
    out
}

/// A transaction's micro-operations as Elle prints them: `[[append x 1] [r y [1 2]]]`.
pub fn show_ops(h: &TxnHistory, t: u32) -> String {
    let i = &h.interner;
    let parts: Vec<String> = h.txns[t as usize]
        .mops
        .iter()
        .map(|m| match m {
            Mop::Append(k, v) => format!("[append {} {}]", i.show(*k), i.show(*v)),
            Mop::Write(k, v) => format!("[w {} {}]", i.show(*k), i.show(*v)),
            Mop::ReadList(k, None) | Mop::ReadReg(k, None) => format!("[r {} ?]", i.show(*k)),
            Mop::ReadList(k, Some(vs)) => {
                let vs: Vec<String> = vs.iter().map(|v| i.show(*v)).collect();
                format!("[r {} [{}]]", i.show(*k), vs.join(" "))
            }
            Mop::ReadReg(k, Some(v)) => format!(
                "[r {} {}]",
                i.show(*k),
                v.map_or_else(|| "nil".into(), |v| i.show(v))
            ),
        })
        .collect();
    format!("[{}]", parts.join(" "))
}

/// One edge in words: "T1 appended 3 to key 5, which T2 read".
pub fn explain_edge(h: &TxnHistory, a: u32, b: u32, e: &Edge) -> String {
    let i = &h.interner;
    let list = h.workload == Workload::ListAppend;
    let (ta, tb) = (format!("T{a}"), format!("T{b}"));
    match e.label {
        WW if list => format!(
            "{ta} appended {} to key {}, and {tb} appended {} right after it",
            i.show(e.v1),
            i.show(e.key),
            i.show(e.v2)
        ),
        WW => format!(
            "{ta} wrote key {} = {}, which {tb} overwrote with {}",
            i.show(e.key),
            i.show(e.v1),
            i.show(e.v2)
        ),
        WR if list => format!(
            "{ta} appended {} to key {}, which {tb} read",
            i.show(e.v1),
            i.show(e.key)
        ),
        WR => format!(
            "{ta} wrote key {} = {}, which {tb} read",
            i.show(e.key),
            i.show(e.v1)
        ),
        RW if list => format!(
            "{ta} read key {} before {tb} appended {}",
            i.show(e.key),
            i.show(e.v1)
        ),
        RW => format!(
            "{ta} read key {} before {tb} wrote {} to it",
            i.show(e.key),
            i.show(e.v1)
        ),
        PROC => format!(
            "{ta} and {tb} ran on process {}, {ta} first",
            h.txns[a as usize].process
        ),
        _ => format!(
            "{ta} completed (event {}) before {tb} was invoked (event {})",
            h.txns[a as usize]
                .complete_index
                .map_or_else(|| "?".into(), |c| c.to_string()),
            h.txns[b as usize].invoke_index
        ),
    }
}

fn explain_cycle(h: &TxnHistory, cy: &Cycle) -> TxnAnomaly {
    let n = cy.steps.len();
    let steps: Vec<Step> = cy
        .steps
        .iter()
        .enumerate()
        .map(|(k, (t, e))| {
            let next = cy.steps[(k + 1) % n].0;
            let txn = &h.txns[*t as usize];
            Step {
                txn: *t,
                process: txn.process,
                invoke: txn.invoke_index,
                complete: txn.complete_index,
                ops: show_ops(h, *t),
                edge: graph::label_name(e.label),
                key: (e.key != infer::NONE).then(|| h.interner.value(e.key).clone()),
                values: [e.v1, e.v2]
                    .iter()
                    .filter(|v| **v != infer::NONE)
                    .map(|v| h.interner.value(*v).clone())
                    .collect(),
                why: explain_edge(h, *t, next, e),
            }
        })
        .collect();
    let whys: Vec<&str> = steps.iter().map(|s| s.why.as_str()).collect();
    let first = steps.first().map_or(0, |s| s.txn);
    let explanation = format!(
        "{}: {}; so T{first} must come before itself, and no order of the transactions explains what they saw",
        describe_kind(cy.kind),
        whys.join("; ")
    );
    let txns: Vec<u32> = cy.steps.iter().map(|(t, _)| *t).collect();
    TxnAnomaly {
        kind: cy.kind.to_string(),
        explanation,
        events: events_of(h, &txns),
        cycle: steps,
    }
}

/// A short phrase for a cycle class.
fn describe_kind(kind: &str) -> String {
    let base = kind
        .trim_end_matches("-process")
        .trim_end_matches("-realtime");
    let what = match base {
        "G0" => "write cycle",
        "G1c" => "circular information flow",
        "G-single" => "read skew, one anti-dependency",
        "G-nonadjacent" => "anti-dependencies, none adjacent",
        _ => "write skew or another anti-dependency cycle",
    };
    format!("{kind} ({what})")
}

impl Report {
    /// The report as a [`CheckerResult`] for results.json.
    pub fn to_checker_result(&self) -> CheckerResult {
        CheckerResult {
            checker: CHECKER.into(),
            verdict: self.verdict,
            reason: self.reason.clone(),
            anomalies: self
                .anomalies
                .iter()
                .map(|a| Anomaly {
                    kind: a.kind.clone(),
                    explanation: a.explanation.clone(),
                    events: a.events.clone(),
                    detail: if a.cycle.is_empty() {
                        serde_json::Value::Null
                    } else {
                        json!({ "cycle": a.cycle })
                    },
                })
                .collect(),
            stats: json!({
                "workload": self.workload.name(),
                "consistency_model": self.model.name(),
                "anomaly_types": self.anomaly_types,
                "anomaly_counts": self.anomaly_counts,
                "not": self.not,
                "also_not": self.also_not,
                "txns": self.stats.txns,
                "ok": self.stats.ok,
                "info": self.stats.info,
                "fail": self.stats.fail,
                "graph_txns": self.stats.graph_txns,
                "edges": self.stats.edges,
                "cycle_components": self.stats.cycle_components,
                "largest_component": self.stats.largest_component,
                "check_ms": self.stats.check_ms,
            }),
            first_anomaly_s: None,
        }
    }
}
