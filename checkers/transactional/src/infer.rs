//! Inference: from what transactions wrote and read to dependency edges between them, and to
//! the anomalies that need no cycle (aborted, intermediate, garbage and future reads, internal
//! inconsistency, duplicates, incompatible orders, dirty and lost updates).
//!
//! Only committed transactions are nodes of the dependency graph: every `ok` one, and every
//! `info` one some `ok` read observed a write of (so it committed). Every edge states an order
//! any serial execution consistent with the history must keep, so a cycle is a proof, never a
//! guess.
//!
//! **List-append.** Each `ok` read of a key is a prefix of the key's version order, so the
//! longest read is the order as far as anyone saw (every read must be its prefix, else the
//! key has an *incompatible order* and adds no edges). Consecutive elements by different
//! writers give `ww`; the writer of a read's last element precedes the reader (`wr`); the
//! reader precedes the writer of the element after its read (`rw`). An append of a committed
//! transaction that no read saw comes after every element anyone saw, so every reader of the
//! key precedes it (`rw`) and the last seen element's writer precedes it (`ww`).
//!
//! **rw-register.** Reads name a value, not a history, so the version order is partial: the
//! initial `null` precedes every written value (so readers of `null` precede every writer),
//! and a transaction that read `v1` and then wrote `v2` puts `v1` right before `v2`
//! (writes-follow-reads): the writer of `v1` and every other reader of `v1` precede it.

use crate::graph::{Edge, RW, WR, WW};
use crate::txn::{Id, Mop, TxnHistory, Workload};
use faultline_history::{InputError, Outcome};
use rustc_hash::{FxHashMap, FxHashSet};

/// A non-cycle anomaly: its kind, the transactions involved and an explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Elle's name: `G1a`, `internal`, `lost-update`...
    pub kind: &'static str,
    /// Transactions involved, by position in [`TxnHistory::txns`].
    pub txns: Vec<u32>,
    /// What happened, in words.
    pub explanation: String,
}

/// What inference yields.
#[derive(Debug, Default)]
pub struct Inferred {
    /// Dependency edges `(from, to, edge)` between transactions.
    pub edges: Vec<(u32, u32, Edge)>,
    /// Which transactions are committed nodes of the graph.
    pub member: Vec<bool>,
    /// Anomalies found without cycles (at most `max_examples` of each kind).
    pub found: Vec<Found>,
    /// How many of each kind were found, including those beyond `max_examples`.
    pub counts: FxHashMap<&'static str, usize>,
}

impl Inferred {
    fn report(
        &mut self,
        max: usize,
        kind: &'static str,
        txns: Vec<u32>,
        why: impl FnOnce() -> String,
    ) {
        let n = self.counts.entry(kind).or_insert(0);
        *n += 1;
        if *n <= max {
            self.found.push(Found {
                kind,
                txns,
                explanation: why(),
            });
        }
    }

    fn edge(&mut self, from: u32, to: u32, label: u8, key: Id, v1: Id, v2: Id) {
        if from != to && self.member[from as usize] && self.member[to as usize] {
            self.edges.push((from, to, Edge { label, key, v1, v2 }));
        }
    }
}

/// "no value" in an [`Edge`]'s value fields.
pub const NONE: Id = Id::MAX;

/// Infers edges and non-cycle anomalies.
pub fn infer(h: &TxnHistory, max_examples: usize) -> Result<Inferred, InputError> {
    match h.workload {
        Workload::ListAppend => list_append(h, max_examples),
        Workload::RwRegister => rw_register(h, max_examples),
    }
}

/// Where a value was written: by which transaction, which micro-operation, and whether it
/// was that transaction's last write to the key.
#[derive(Clone, Copy, Debug)]
struct Written {
    txn: u32,
    mop: u32,
    last: bool,
}

/// Every write of every transaction, keyed by (key, value); values must be unique per key.
fn writes(h: &TxnHistory) -> Result<FxHashMap<(Id, Id), Written>, InputError> {
    let mut out: FxHashMap<(Id, Id), Written> = FxHashMap::default();
    out.reserve(h.txns.len() * 2);
    for (t, txn) in h.txns.iter().enumerate() {
        for (i, m) in txn.mops.iter().enumerate() {
            let (Mop::Append(k, v) | Mop::Write(k, v)) = m else {
                continue;
            };
            let last = !txn.mops[i + 1..]
                .iter()
                .any(|n| matches!(n, Mop::Append(k2, _) | Mop::Write(k2, _) if k2 == k));
            let w = Written {
                txn: t as u32,
                mop: i as u32,
                last,
            };
            if let Some(prev) = out.insert((*k, *v), w) {
                return Err(InputError {
                    event: txn.invoke_index,
                    message: format!(
                        "value {} is written to key {} twice (also by the txn invoked at event {}); the checker needs unique values per key",
                        h.interner.show(*v),
                        h.interner.show(*k),
                        h.txns[prev.txn as usize].invoke_index
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// "T12 (process 3, invoked at event 40)".
pub fn name(h: &TxnHistory, t: u32) -> String {
    let txn = &h.txns[t as usize];
    format!(
        "T{} (process {}, event {})",
        t, txn.process, txn.invoke_index
    )
}

fn show_list(h: &TxnHistory, vs: &[Id]) -> String {
    let items: Vec<String> = vs.iter().map(|v| h.interner.show(*v)).collect();
    format!("[{}]", items.join(" "))
}

fn list_append(h: &TxnHistory, max: usize) -> Result<Inferred, InputError> {
    let written = writes(h)?;
    let mut inf = Inferred {
        member: h.txns.iter().map(|t| t.outcome == Outcome::Ok).collect(),
        ..Inferred::default()
    };
    // Reads of ok transactions, by key.
    let mut reads: FxHashMap<Id, Vec<(u32, u32)>> = FxHashMap::default();
    for (t, txn) in h.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        for (i, m) in txn.mops.iter().enumerate() {
            if let Mop::ReadList(k, Some(_)) = m {
                reads.entry(*k).or_default().push((t as u32, i as u32));
            }
        }
    }
    let list = |t: u32, i: u32| -> &[Id] {
        match &h.txns[t as usize].mops[i as usize] {
            Mop::ReadList(_, Some(vs)) => vs,
            _ => &[],
        }
    };
    // An info transaction whose append someone read committed.
    for rs in reads.values() {
        for &(t, i) in rs {
            let Mop::ReadList(k, _) = h.txns[t as usize].mops[i as usize] else {
                continue;
            };
            for v in list(t, i) {
                if let Some(w) = written.get(&(k, *v)) {
                    if h.txns[w.txn as usize].outcome == Outcome::Info {
                        inf.member[w.txn as usize] = true;
                    }
                }
            }
        }
    }
    internal_list(h, max, &mut inf);
    let mut appends_by_key: FxHashMap<Id, Vec<(Id, Written)>> = FxHashMap::default();
    for (&(k, v), w) in &written {
        appends_by_key.entry(k).or_default().push((v, *w));
    }
    for list in appends_by_key.values_mut() {
        list.sort_unstable_by_key(|(v, w)| (w.txn, w.mop, *v));
    }

    let mut keys: Vec<Id> = reads.keys().copied().collect();
    keys.sort_unstable();
    let mut seen = FxHashSet::default();
    let mut garbage_seen: FxHashSet<(Id, Id)> = FxHashSet::default();
    for k in keys.iter().copied() {
        let rs = &reads[&k];
        // Per-element checks on every read.
        for &(t, i) in rs {
            let vs = list(t, i);
            seen.clear();
            for v in vs {
                if !seen.insert(*v) {
                    inf.report(max, "duplicate-elements", vec![t], || {
                        format!(
                            "{} read key {} as {}, which holds {} more than once, though each value is appended once",
                            name(h, t), h.interner.show(k), show_list(h, vs), h.interner.show(*v)
                        )
                    });
                    break;
                }
            }
            for v in vs {
                match written.get(&(k, *v)) {
                    None => {
                        if garbage_seen.insert((k, *v)) {
                            inf.report(max, "garbage-read", vec![t], || {
                                format!(
                                    "{} read {} in key {}, a value no transaction appended",
                                    name(h, t),
                                    h.interner.show(*v),
                                    h.interner.show(k)
                                )
                            });
                        }
                    }
                    Some(w) if h.txns[w.txn as usize].outcome == Outcome::Fail => {
                        inf.report(max, "G1a", vec![w.txn, t], || {
                            format!(
                                "{} read {} in key {}, appended by {}, which failed (aborted read)",
                                name(h, t),
                                h.interner.show(*v),
                                h.interner.show(k),
                                name(h, w.txn)
                            )
                        });
                    }
                    Some(w) if w.txn == t && w.mop > i => {
                        inf.report(max, "future-read", vec![t], || {
                            format!(
                                "{} read {} in key {} before its own later micro-operation appended it",
                                name(h, t),
                                h.interner.show(*v),
                                h.interner.show(k)
                            )
                        });
                    }
                    Some(_) => {}
                }
            }
        }
        // The version order: the longest read, of which every read must be a prefix.
        let &(lt, li) = rs
            .iter()
            .max_by_key(|(t, i)| (list(*t, *i).len(), std::cmp::Reverse(*t)))
            .expect("a key with reads");
        let order = list(lt, li);
        let mut compatible = true;
        for &(t, i) in rs {
            let vs = list(t, i);
            if vs.len() <= order.len() && order[..vs.len()] == *vs {
                continue;
            }
            compatible = false;
            inf.report(max, "incompatible-order", vec![lt, t], || {
                format!(
                    "{} read key {} as {} but {} read it as {}: neither is a prefix of the other, so they cannot both be committed states",
                    name(h, lt), h.interner.show(k), show_list(h, order),
                    name(h, t), show_list(h, vs)
                )
            });
        }
        if !compatible {
            continue;
        }
        let writer = |v: Id| written.get(&(k, v)).copied();
        let valid =
            |w: Option<Written>| w.filter(|w| h.txns[w.txn as usize].outcome != Outcome::Fail);
        // Dirty update: a failed transaction's append followed by a committed one's.
        if let Some(first_failed) = order.iter().position(
            |v| matches!(writer(*v), Some(w) if h.txns[w.txn as usize].outcome == Outcome::Fail),
        ) {
            if let Some(later) = order[first_failed + 1..]
                .iter()
                .find(|v| valid(writer(**v)).is_some())
            {
                let bad = writer(order[first_failed]).map_or(0, |w| w.txn);
                let good = writer(*later).map_or(0, |w| w.txn);
                inf.report(max, "dirty-update", vec![bad, good], || {
                    format!(
                        "{} appended {} to key {} after {} from {}, which failed: a committed write built on an aborted one",
                        name(h, good), h.interner.show(*later), h.interner.show(k),
                        h.interner.show(order[first_failed]), name(h, bad)
                    )
                });
            }
        }
        // ww between consecutive elements.
        for pair in order.windows(2) {
            if let (Some(a), Some(b)) = (valid(writer(pair[0])), valid(writer(pair[1]))) {
                inf.edge(a.txn, b.txn, WW, k, pair[0], pair[1]);
            }
        }
        // wr, rw, intermediate reads and lost updates.
        let mut external: FxHashMap<usize, Vec<u32>> = FxHashMap::default();
        for &(t, i) in rs {
            let vs = list(t, i);
            if let Some(last) = vs.last() {
                if let Some(w) = valid(writer(*last)) {
                    inf.edge(w.txn, t, WR, k, *last, NONE);
                    if w.txn != t && !w.last {
                        inf.report(max, "G1b", vec![w.txn, t], || {
                            format!(
                                "{} read key {} ending in {}, an intermediate append of {}, which appended to the key again later (intermediate read)",
                                name(h, t), h.interner.show(k), h.interner.show(*last), name(h, w.txn)
                            )
                        });
                    }
                }
            }
            if let Some(next) = order.get(vs.len()) {
                if let Some(w) = valid(writer(*next)) {
                    inf.edge(t, w.txn, RW, k, *next, NONE);
                }
            }
            let txn = &h.txns[t as usize];
            let first_on_key = txn.mops.iter().position(|m| m.key() == k) == Some(i as usize);
            let appends_later = txn.mops[i as usize..]
                .iter()
                .any(|m| matches!(m, Mop::Append(k2, _) if *k2 == k));
            if first_on_key && appends_later {
                external.entry(vs.len()).or_default().push(t);
            }
        }
        for (len, ts) in external {
            if ts.len() > 1 {
                inf.report(max, "lost-update", ts.clone(), || {
                    let names: Vec<String> = ts.iter().map(|t| name(h, *t)).collect();
                    format!(
                        "{} all read key {} as {} and then appended to it: each overwrote the others' view (lost update)",
                        names.join(", "), h.interner.show(k), show_list(h, &order[..len])
                    )
                });
            }
        }
        // Committed appends nobody saw come after everything anyone saw.
        let in_order: FxHashSet<Id> = order.iter().copied().collect();
        let last = order
            .last()
            .and_then(|v| valid(writer(*v)).map(|w| (*v, w)));
        for &(v, w) in appends_by_key.get(&k).map_or(&[][..], Vec::as_slice) {
            if in_order.contains(&v) || h.txns[w.txn as usize].outcome == Outcome::Fail {
                continue;
            }
            for &(t, _) in rs {
                inf.edge(t, w.txn, RW, k, v, NONE);
            }
            if let Some((lv, lw)) = last {
                inf.edge(lw.txn, w.txn, WW, k, lv, v);
            }
        }
    }
    // Keys nobody read add no edges: nothing orders their appends.
    Ok(inf)
}

/// What a transaction knows of a key's list: all of it, or only its own appends at the end.
type KnownList = Result<Vec<Id>, Vec<Id>>;

fn internal_list(h: &TxnHistory, max: usize, inf: &mut Inferred) {
    for (t, txn) in h.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok || txn.mops.len() < 2 {
            continue;
        }
        // Per key: Ok(known whole list) or Err(own appends, prefix unknown).
        let mut state: Vec<(Id, KnownList)> = Vec::new();
        for m in &txn.mops {
            let k = m.key();
            let slot = match state.iter().position(|(k2, _)| *k2 == k) {
                Some(p) => p,
                None => {
                    state.push((k, Err(Vec::new())));
                    state.len() - 1
                }
            };
            match m {
                Mop::Append(_, v) => match &mut state[slot].1 {
                    Ok(l) | Err(l) => l.push(*v),
                },
                Mop::ReadList(_, Some(vs)) => {
                    let ok = match &state[slot].1 {
                        Ok(l) => l == vs,
                        Err(suffix) => vs.ends_with(suffix),
                    };
                    if !ok {
                        let expected = match &state[slot].1 {
                            Ok(l) => show_list(h, l),
                            Err(s) => format!("a list ending in {}", show_list(h, s)),
                        };
                        inf.report(max, "internal", vec![t as u32], || {
                            format!(
                                "{} read key {} as {}, but its own earlier micro-operations imply {} (internal inconsistency)",
                                name(h, t as u32), h.interner.show(k), show_list(h, vs), expected
                            )
                        });
                    }
                    state[slot].1 = Ok(vs.clone());
                }
                _ => {}
            }
        }
    }
}

fn show_reg(h: &TxnHistory, v: Option<Id>) -> String {
    v.map_or_else(|| "nil".to_string(), |v| h.interner.show(v))
}

fn rw_register(h: &TxnHistory, max: usize) -> Result<Inferred, InputError> {
    let written = writes(h)?;
    let mut inf = Inferred {
        member: h.txns.iter().map(|t| t.outcome == Outcome::Ok).collect(),
        ..Inferred::default()
    };
    // External reads of ok transactions (the first access of a key is a read), and the
    // final write of each transaction to each key.
    let mut readers: FxHashMap<(Id, Option<Id>), Vec<u32>> = FxHashMap::default();
    let mut ext: Vec<(u32, Id, Option<Id>, u32)> = Vec::new();
    let mut final_writes: FxHashMap<Id, Vec<(u32, Id)>> = FxHashMap::default();
    for (t, txn) in h.txns.iter().enumerate() {
        let t = t as u32;
        // Per key: the value the transaction knows the key holds (after a read or write).
        let mut known: Vec<(Id, Option<Id>, bool)> = Vec::new();
        for (i, m) in txn.mops.iter().enumerate() {
            let k = m.key();
            let slot = known.iter().position(|(k2, _, _)| *k2 == k);
            match m {
                Mop::ReadReg(_, Some(v)) if txn.outcome == Outcome::Ok => match slot {
                    None => {
                        readers.entry((k, *v)).or_default().push(t);
                        ext.push((t, k, *v, i as u32));
                        known.push((k, *v, false));
                    }
                    Some(p) => {
                        let (_, expected, wrote) = known[p];
                        if expected != *v {
                            inf.report(max, "internal", vec![t], || {
                                format!(
                                    "{} read key {} as {}, but it had just {} {} (internal inconsistency)",
                                    name(h, t), h.interner.show(k), show_reg(h, *v),
                                    if wrote { "written" } else { "read" }, show_reg(h, expected)
                                )
                            });
                        }
                    }
                },
                Mop::Write(_, v) => {
                    match slot {
                        Some(p) => known[p] = (k, Some(*v), true),
                        None => known.push((k, Some(*v), true)),
                    }
                    if written.get(&(k, *v)).is_some_and(|w| w.last) {
                        final_writes.entry(k).or_default().push((t, *v));
                    }
                }
                _ => {}
            }
        }
    }
    // An info transaction whose write someone read committed.
    for &(_, k, v, _) in &ext {
        if let Some(w) = v.and_then(|v| written.get(&(k, v))) {
            if h.txns[w.txn as usize].outcome == Outcome::Info {
                inf.member[w.txn as usize] = true;
            }
        }
    }
    // wr edges and the read anomalies.
    for &(t, k, v, i) in &ext {
        let Some(v) = v else { continue };
        match written.get(&(k, v)) {
            None => inf.report(max, "garbage-read", vec![t], || {
                format!(
                    "{} read key {} = {}, a value no transaction wrote",
                    name(h, t),
                    h.interner.show(k),
                    h.interner.show(v)
                )
            }),
            Some(w) if h.txns[w.txn as usize].outcome == Outcome::Fail => {
                inf.report(max, "G1a", vec![w.txn, t], || {
                    format!(
                        "{} read key {} = {}, written by {}, which failed (aborted read)",
                        name(h, t),
                        h.interner.show(k),
                        h.interner.show(v),
                        name(h, w.txn)
                    )
                })
            }
            Some(w) if w.txn == t => inf.report(max, "future-read", vec![t], || {
                format!(
                    "{} read key {} = {} before its own later micro-operation {} wrote it",
                    name(h, t),
                    h.interner.show(k),
                    h.interner.show(v),
                    w.mop.max(i)
                )
            }),
            Some(w) => {
                if !w.last {
                    inf.report(max, "G1b", vec![w.txn, t], || {
                        format!(
                            "{} read key {} = {}, an intermediate write of {}, which wrote the key again later (intermediate read)",
                            name(h, t), h.interner.show(k), h.interner.show(v), name(h, w.txn)
                        )
                    });
                }
                inf.edge(w.txn, t, WR, k, v, NONE);
            }
        }
    }
    // The initial state precedes every committed write: readers of nil precede the writers.
    let mut keys: Vec<Id> = final_writes.keys().copied().collect();
    keys.sort_unstable();
    for k in keys {
        let Some(nil_readers) = readers.get(&(k, None)) else {
            continue;
        };
        for &(w, v) in &final_writes[&k] {
            for &r in nil_readers {
                inf.edge(r, w, RW, k, v, NONE);
            }
        }
    }
    // Writes follow reads: T read v1 of k, then wrote v2, so v1 directly precedes v2.
    let mut lost: FxHashMap<(Id, Option<Id>), Vec<u32>> = FxHashMap::default();
    for &(t, k, v1, _) in &ext {
        let Some(v2) = h.txns[t as usize].mops.iter().rev().find_map(|m| match m {
            Mop::Write(k2, v2) if *k2 == k => Some(*v2),
            _ => None,
        }) else {
            continue;
        };
        lost.entry((k, v1)).or_default().push(t);
        if let Some(v1) = v1 {
            if let Some(w) = written.get(&(k, v1)) {
                if h.txns[w.txn as usize].outcome != Outcome::Fail {
                    inf.edge(w.txn, t, WW, k, v1, v2);
                }
            }
            for &r in readers.get(&(k, Some(v1))).map_or(&[][..], Vec::as_slice) {
                inf.edge(r, t, RW, k, v2, NONE);
            }
        }
    }
    let mut lost: Vec<_> = lost.into_iter().filter(|(_, ts)| ts.len() > 1).collect();
    lost.sort_unstable();
    for ((k, v), ts) in lost {
        inf.report(max, "lost-update", ts.clone(), || {
            let names: Vec<String> = ts.iter().map(|t| name(h, *t)).collect();
            format!(
                "{} all read key {} = {} and then wrote it: each overwrote the others' update (lost update)",
                names.join(", "), h.interner.show(k), show_reg(h, v)
            )
        });
    }
    Ok(inf)
}
