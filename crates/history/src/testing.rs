//! Builders for tests, benchmarks and examples: plain functions that build an [`Event`] or an
//! [`Operation`] from the fields a case cares about, leaving key, error and node empty.
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
