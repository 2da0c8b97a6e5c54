//! Time to detection for every checker: on a history whose first anomaly is known, each
//! workload's checker names operations whose last completion is that anomaly's time
//! (`faultline_history::first_anomaly_s`), not the time of an earlier or later event it
//! also names.

use faultline_history::{pair, CheckerResult, Event, EventType, Process};
use faultline_workloads::{configure, Common};
use serde_json::{json, Value};

/// An operation: process, function, key, argument, completion type and value, and its
/// invoke and completion times in seconds.
type Op = (
    u64,
    &'static str,
    Option<u64>,
    Value,
    EventType,
    Value,
    f64,
    f64,
);

/// The events of `ops`, in time order, indexed from 0.
fn history(ops: &[Op]) -> Vec<Event> {
    let mut evs: Vec<(u64, Event)> = Vec::new();
    for (p, f, key, input, kind, output, t0, t1) in ops {
        let ev = |kind, value: &Value, t: f64| Event {
            index: 0,
            time: (t * 1e9) as u64,
            process: Process::Client(*p),
            kind,
            f: f.to_string(),
            key: key.map(Value::from),
            value: value.clone(),
            error: None,
            node: None,
        };
        evs.push((0, ev(EventType::Invoke, input, *t0)));
        evs.push((1, ev(*kind, output, *t1)));
    }
    evs.sort_by_key(|(_, e)| e.time);
    evs.into_iter()
        .enumerate()
        .map(|(i, (_, mut e))| {
            e.index = i as u64;
            e
        })
        .collect()
}

/// The workload's checker's results on `ops`, and when its first anomaly became visible.
fn first(workload: &str, ops: &[Op]) -> (CheckerResult, Option<f64>) {
    let events = history(ops);
    let lines: Vec<u32> = (1..=events.len() as u32).collect();
    let w = configure(workload, &Common::default()).unwrap();
    let r = w.check(&pair(&events, &lines).unwrap()).remove(0);
    let t = faultline_history::first_anomaly_s(&r, &events);
    (r, t)
}

use EventType::{Fail as FAIL, Ok as OK};

#[test]
fn counter_the_first_read_outside_its_bounds() {
    let ops = [
        (0, "add", None, json!(1), OK, json!(1), 0.0, 1.0),
        (1, "read", None, Value::Null, OK, json!(0), 2.0, 3.0),
        (2, "read", None, Value::Null, OK, json!(9), 4.0, 5.0),
    ];
    let (r, t) = first("counter", &ops);
    assert_eq!(r.anomalies.len(), 2, "{r:?}");
    assert_eq!(t, Some(3.0));
}

#[test]
fn bank_the_first_read_with_a_wrong_total() {
    let good = json!({"0": 10, "1": 10, "2": 10, "3": 10, "4": 10});
    let bad = json!({"0": 10, "1": 10, "2": 10, "3": 10, "4": -1});
    let ops = [
        (0, "read", None, Value::Null, OK, good, 0.0, 0.5),
        (1, "read", None, Value::Null, OK, bad, 1.0, 2.5),
    ];
    let (r, t) = first("bank", &ops);
    assert!(!r.anomalies.is_empty(), "{r:?}");
    assert_eq!(t, Some(2.5));
}

#[test]
fn set_a_lost_element_at_the_read_that_misses_it() {
    let ops = [
        (0, "add", None, json!(1), OK, json!(1), 0.0, 1.0),
        (1, "read", None, Value::Null, OK, json!([1]), 1.5, 2.0),
        (1, "read", None, Value::Null, OK, json!([]), 2.5, 3.0),
    ];
    let (r, t) = first("set", &ops);
    assert_eq!(r.anomalies[0].kind, "lost", "{r:?}");
    assert_eq!(t, Some(3.0));
}

#[test]
fn lock_two_holders_when_the_second_acquire_is_acknowledged() {
    // Process 0 holds from 1.0 s (lease 2 s from 0.0 s) and releases at 4.0 s; process 1's
    // acquire is ok at 1.6 s: the overlap is visible then, not at the release.
    let ops = [
        (0, "acquire", None, Value::Null, OK, Value::Null, 0.0, 1.0),
        (1, "acquire", None, Value::Null, OK, Value::Null, 1.2, 1.6),
        (0, "release", None, Value::Null, OK, Value::Null, 4.0, 4.5),
    ];
    let (r, t) = first("lock", &ops);
    assert_eq!(r.anomalies[0].kind, "overlapping-holders", "{r:?}");
    assert_eq!(t, Some(1.6));
}

#[test]
fn lock_fenced_the_stale_token_accepted() {
    let ops = [
        (
            0,
            "write",
            None,
            json!({"token": 5, "holder": 0}),
            OK,
            Value::Null,
            0.0,
            1.0,
        ),
        (
            1,
            "write",
            None,
            json!({"token": 3, "holder": 1}),
            OK,
            Value::Null,
            2.0,
            3.5,
        ),
    ];
    let (r, t) = first("lock-fenced", &ops);
    assert_eq!(r.anomalies[0].kind, "stale-fencing-token", "{r:?}");
    assert_eq!(t, Some(3.5));
}

#[test]
fn append_a_cycle_when_its_last_transaction_completes() {
    // T1 appends 1 to x and completes at 1 s; T2, begun after, reads x empty (ok at 3 s).
    let ops = [
        (
            0,
            "txn",
            None,
            json!([["append", "x", 1]]),
            OK,
            json!([["append", "x", 1]]),
            0.0,
            1.0,
        ),
        (
            1,
            "txn",
            None,
            json!([["r", "x", null]]),
            OK,
            json!([["r", "x", []]]),
            2.0,
            3.0,
        ),
        (
            2,
            "txn",
            None,
            json!([["r", "x", null]]),
            OK,
            json!([["r", "x", [1]]]),
            4.0,
            5.0,
        ),
    ];
    let (r, t) = first("append", &ops);
    assert!(!r.anomalies.is_empty(), "{r:?}");
    assert_eq!(t, Some(3.0));
}

#[test]
fn register_the_read_that_cannot_be_linearized() {
    let ops = [
        (0, "write", Some(1), json!(1), OK, json!(1), 0.0, 1.0),
        (1, "read", Some(1), Value::Null, OK, json!(2), 2.0, 3.0),
        (2, "write", Some(1), json!(3), FAIL, Value::Null, 3.5, 4.0),
    ];
    let (r, t) = first("register", &ops);
    assert_eq!(r.anomalies.len(), 1, "{r:?}");
    assert_eq!(t, Some(3.0));
}

#[test]
fn a_valid_history_has_none() {
    let ops = [(0, "add", None, json!(1), OK, json!(1), 0.0, 1.0)];
    assert_eq!(first("counter", &ops).1, None);
}
