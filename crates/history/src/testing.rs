//! Builders for tests, benchmarks and examples: plain functions that build an [`Event`] or an
//! [`Operation`] from the fields a case cares about, leaving key, error and node empty, and
//! [`lay_out`], which numbers the events of generated operations placed on a timeline.
//!
//! Every crate's tests build histories by hand; building them here keeps one definition of
//! "an operation invoked at event i, completed at event c". Set the other fields with
//! struct update syntax: `Operation { key: Some(json!(0)), ..op(...) }`.

use crate::{Event, EventType, Operation, Outcome, Process};
use serde_json::Value;

/// Nanoseconds between consecutive event indices in [`op`]'s operations: a latency of one
/// microsecond per event apart.
pub const NS_PER_INDEX: u64 = 1000;

/// An event numbered `index` at `time` ns, with no key, error or node.
pub fn event(
    index: u64,
    time: u64,
    process: Process,
    kind: EventType,
    f: &str,
    value: Value,
) -> Event {
    Event {
        index,
        time,
        process,
        kind,
        f: f.into(),
        key: None,
        value,
        error: None,
        node: None,
    }
}

/// A client operation by `process`, invoked at event `invoke` and completed at event
/// `complete` (`None`: the history ended first), at times `index ×` [`NS_PER_INDEX`] ns,
/// with no key and no error.
pub fn op(
    process: u64,
    f: &str,
    input: Value,
    output: Value,
    outcome: Outcome,
    invoke: u64,
    complete: Option<u64>,
) -> Operation {
    Operation {
        process,
        f: f.into(),
        key: None,
        input,
        output,
        outcome,
        error: None,
        invoke_index: invoke,
        complete_index: complete,
        invoke_time: invoke * NS_PER_INDEX,
        complete_time: complete.map(|c| c * NS_PER_INDEX),
    }
}

/// The event indices `(invoke, complete)` of operations laid out on a coarse timeline, for
/// generated histories: operation `n` is invoked at step `spans[n].0` and completes
/// `spans[n].1` steps later, or never when `spans[n].2` (finished) is false.
///
/// Events are numbered in time order. At one step, invocations come before completions, so
/// an operation completing at step `t` overlaps one invoked at `t`; among events of the same
/// kind at one step, the lower `n` comes first.
pub fn lay_out(spans: &[(u32, u32, bool)]) -> Vec<(u64, Option<u64>)> {
    // (tick, operation, is_completion): step t's invocations at tick 2t, completions at 2t+1.
    let mut events: Vec<(u64, usize, bool)> = Vec::with_capacity(2 * spans.len());
    for (n, &(start, len, finished)) in spans.iter().enumerate() {
        let start = u64::from(start);
        events.push((2 * start, n, false));
        if finished {
            events.push((2 * (start + u64::from(len)) + 1, n, true));
        }
    }
    events.sort_unstable();
    let mut at = vec![(0, None); spans.len()];
    for (index, &(_, n, is_completion)) in (0u64..).zip(&events) {
        if is_completion {
            at[n].1 = Some(index);
        } else {
            at[n].0 = index;
        }
    }
    at
}

/// When a real, linearizable system applied an operation laid out at event indices `invoke`
/// and `complete` (as [`lay_out`] numbers them), on the scale `index ×` [`NS_PER_INDEX`], for
/// properties that replay histories of real systems. `frac` (0..1000) picks the instant:
/// an ok operation strictly inside its interval; an info operation, when `applied`, at some
/// instant after its invocation, possibly after the history ends, and otherwise never; a
/// failed operation never.
///
/// Panics if an ok operation has no completion or its completion does not follow its
/// invocation.
pub fn applied_at(
    outcome: Outcome,
    invoke: u64,
    complete: Option<u64>,
    frac: u32,
    applied: bool,
) -> Option<u64> {
    let start = invoke * NS_PER_INDEX + 1;
    match outcome {
        Outcome::Fail => None,
        Outcome::Info if !applied => None,
        Outcome::Info => Some(start + u64::from(frac) * 20),
        Outcome::Ok => {
            let end = complete.expect("an ok operation completed") * NS_PER_INDEX;
            Some(start + u64::from(frac) % (end - start))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn op_times_follow_indices_and_an_unfinished_op_has_no_completion() {
        let o = op(3, "add", json!(1), json!(1), Outcome::Ok, 2, Some(5));
        assert_eq!((o.process, o.f.as_str()), (3, "add"));
        assert_eq!((o.invoke_index, o.complete_index), (2, Some(5)));
        assert_eq!((o.invoke_time, o.complete_time), (2_000, Some(5_000)));
        assert_eq!((o.key, o.error), (None, None));
        let open = op(1, "add", json!(1), Value::Null, Outcome::Info, 7, None);
        assert_eq!((open.complete_index, open.complete_time), (None, None));
    }

    #[test]
    fn lay_out_numbers_events_in_time_order_invocations_first() {
        // 0: steps 0..2; 1: steps 2..3; 2: invoked at 1, never completes; 3: steps 0..0.
        let at = lay_out(&[(0, 2, true), (2, 1, true), (1, 9, false), (0, 0, true)]);
        assert_eq!(at, [(0, Some(5)), (4, Some(6)), (3, None), (1, Some(2))]);
        assert!(lay_out(&[]).is_empty());
    }

    #[test]
    fn applied_at_is_inside_ok_intervals_after_info_invocations_and_never_for_fails() {
        for frac in [0, 1, 499, 999] {
            let t = applied_at(Outcome::Ok, 2, Some(3), frac, false).unwrap();
            assert!((2_001..3_000).contains(&t), "{t}");
            let t = applied_at(Outcome::Info, 2, None, frac, true).unwrap();
            assert!(t > 2_000, "{t}");
            assert_eq!(applied_at(Outcome::Info, 2, Some(3), frac, false), None);
            assert_eq!(applied_at(Outcome::Fail, 2, Some(3), frac, true), None);
        }
    }

    #[test]
    fn event_leaves_key_error_and_node_empty() {
        let e = event(4, 9, Process::Nemesis, EventType::Info, "start", json!("x"));
        assert_eq!((e.index, e.time, e.process), (4, 9, Process::Nemesis));
        assert_eq!(
            (e.kind, e.f.as_str(), e.value),
            (EventType::Info, "start", json!("x"))
        );
        assert_eq!((e.key, e.error, e.node), (None, None, None));
    }
}
