//! Stopping early (`--stop-on-anomaly`) for workloads checked after the run: which anomalies
//! a check of a history's completed prefix can report that operations still to come cannot
//! undo, so the whole history's check reports them too.
//!
//! On a prefix, an operation not yet completed is `info` (it may or may not take effect), so
//! a prefix's check is never stricter than the whole history's about what that operation
//! did. The kinds below are those whose evidence is fixed once their operations completed:
//! - counter: a read outside its bounds (bounds only widen for an add still open);
//! - bank: a read with a wrong total, a negative or null balance, or an unknown account (the
//!   total is the configured one, never a majority guess);
//! - lock: two definite holds that overlap, or a write after the lease ran out and another
//!   process got the lock (a release or renewal still to come cannot move a start back), or
//!   a write placed after another process's later grant (both revisions are fixed once
//!   their operations completed `ok`);
//!   lock-fenced: a stale token accepted;
//! - set: an element read that was never added, read twice in one read, or read though its
//!   add failed. Where the set claims linearizability (reads not `--serializable-reads`), also
//!   a lost or stale element: a read that began after an element was known yet missed it
//!   stays in the history, so the element ends stale (a later read shows it) or lost, and
//!   either is invalid. Without that claim a later read may still show it and make it fine,
//!   so a lost element is certain only at the final read, after the time limit;
//! - append, wr: a dependency cycle among committed transactions, of a kind the consistency
//!   model proscribes (later transactions add edges, never remove them).

use crate::CheckFn;
use faultline_history::{Anomaly, CheckerResult, Event, EventType, Operation};
use faultline_transactional::models::{self, Model};
use std::sync::Arc;

/// Cycle kinds of the transactional checker: certain once every transaction in them
/// committed.
const CYCLE_KINDS: &[&str] = &[
    "G0",
    "G1c",
    "G-single",
    "G-nonadjacent",
    "G2-item",
    "G0-process",
    "G1c-process",
    "G-single-process",
    "G-nonadjacent-process",
    "G2-item-process",
    "G0-realtime",
    "G1c-realtime",
    "G-single-realtime",
    "G-nonadjacent-realtime",
    "G2-item-realtime",
];

/// A workload's checkers with what in their results is certain on a prefix.
#[derive(Clone)]
pub struct PrefixCheck {
    check: Arc<CheckFn>,
    /// Anomaly kinds certain on a prefix.
    kinds: Vec<&'static str>,
    /// Whether every operation such an anomaly names must have completed `ok` (transactions:
    /// a cycle among committed ones).
    committed_only: bool,
    /// One line for the run's log: what may stop the run early, and what cannot.
    pub note: String,
}

impl PrefixCheck {
    /// The prefix check of the workload called `workload`, checked by `check`, with the
    /// transactional consistency `model` when it has one; `linearizable` when its reads claim
    /// linearizability (no `--serializable-reads`).
    pub(crate) fn new(
        workload: &str,
        check: Arc<CheckFn>,
        model: Option<Model>,
        linearizable: bool,
    ) -> PrefixCheck {
        let (kinds, note): (Vec<&'static str>, &str) = match workload {
            "set" if linearizable => (
                vec!["unexpected", "duplicated", "failed-add-observed", "lost", "stale-read"],
                "the set workload stops at the first read that missed an element known before it began (the set claims linearizability, so the element is stale or lost either way), or that returned an element never added, twice, or though its add failed",
            ),
            "set" => (
                vec!["unexpected", "duplicated", "failed-add-observed"],
                "with serializable reads the set workload stops early only on an element read that was never added, read twice in one read, or read though its add failed; a lost element is certain only at the final read, after the time limit, so a run with only those goes to its end",
            ),
            "counter" => (
                vec!["counter-out-of-bounds"],
                "the counter workload stops at the first read outside every bound the adds allow",
            ),
            "bank" => (
                vec!["unexpected-account", "nil-balance", "wrong-total", "negative-balance"],
                "the bank workload stops at the first read whose total is wrong or whose balances are negative, null or of an unknown account",
            ),
            "lock" => (
                vec!["overlapping-holders", "write-after-lease-expired", "write-after-lock-moved"],
                "the lock workload stops when two processes certainly held the lock at once, or a write succeeded after its lease ran out and another process got the lock, or (where the database orders its changes) a write landed after another process's later grant",
            ),
            "lock-fenced" => (
                vec!["stale-fencing-token"],
                "the lock-fenced workload stops when the storage accepted a stale fencing token",
            ),
            "append" | "wr" => (
                cycle_kinds_proscribed(model),
                "the transactional workload stops when a dependency cycle the consistency model forbids closes among committed transactions; other anomalies (aborted or garbage reads, incompatible orders) are judged after the run",
            ),
            _ => (
                vec!["nonlinearizable"],
                "the register workload stops at the first key that cannot be linearized",
            ),
        };
        PrefixCheck {
            check,
            kinds,
            committed_only: model.is_some(),
            note: note.to_string(),
        }
    }

    /// The workload's checkers on `ops` (a prefix, its open operations as `info`).
    pub fn check(&self, ops: &[Operation]) -> Vec<CheckerResult> {
        (self.check)(ops)
    }

    /// The anomalies of `results` (a check of the prefix `events`) that the whole history's
    /// check will report too, each with its checker's name.
    pub fn certain<'a>(
        &self,
        results: &'a [CheckerResult],
        events: &[Event],
    ) -> Vec<(&'a str, &'a Anomaly)> {
        results
            .iter()
            .flat_map(|r| r.anomalies.iter().map(move |a| (r.checker.as_str(), a)))
            .filter(|(_, a)| self.kinds.contains(&a.kind.as_str()))
            .filter(|(_, a)| !self.committed_only || all_committed(a, events))
            .collect()
    }
}

/// The cycle kinds that `model` proscribes (all of them without a model).
fn cycle_kinds_proscribed(model: Option<Model>) -> Vec<&'static str> {
    let Some(model) = model else {
        return CYCLE_KINDS.to_vec();
    };
    let proscribed = model.proscribed();
    CYCLE_KINDS
        .iter()
        .copied()
        .filter(|k| {
            models::entailed(&[k])
                .iter()
                .any(|a| proscribed.contains(a))
        })
        .collect()
}

/// Whether every operation `a` names completed `ok`: it names some events, and each
/// completion among them is `ok`, and each invocation among them has one.
fn all_committed(a: &Anomaly, events: &[Event]) -> bool {
    let named: Vec<&Event> = a
        .events
        .iter()
        .filter_map(|i| events.iter().find(|e| e.index == *i))
        .collect();
    let invokes = named.iter().filter(|e| e.kind == EventType::Invoke).count();
    let oks = named.iter().filter(|e| e.kind == EventType::Ok).count();
    !named.is_empty()
        && named.len() == a.events.len()
        && oks == invokes
        && oks + invokes == named.len()
}
