//! Every anomaly class on the smallest history that shows it, mostly the shapes of the
//! examples in Elle's paper (Kingsbury & Alvaro, VLDB 2020) and Jepsen's analyses.

use faultline_history::{testing::op, Operation, Outcome, Verdict};
use faultline_transactional::{check, Model, Options, Report};
use serde_json::{json, Value};

/// A transaction by `process` from event `invoke` to `complete`; `mops` carries what reads
/// saw (the invoke gets `null` reads).
fn t(process: u64, invoke: u64, complete: u64, outcome: Outcome, mops: Value) -> Operation {
    let input = Value::Array(
        mops.as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let m = m.as_array().unwrap();
                if m[0] == "r" {
                    json!(["r", m[1], null])
                } else {
                    json!(m)
                }
            })
            .collect(),
    );
    let output = if outcome == Outcome::Ok {
        mops
    } else {
        Value::Null
    };
    op(
        process,
        "txn",
        input,
        output,
        outcome,
        invoke,
        Some(complete),
    )
}

fn ok(process: u64, invoke: u64, complete: u64, mops: Value) -> Operation {
    t(process, invoke, complete, Outcome::Ok, mops)
}

fn run(ops: &[Operation], model: Model) -> Report {
    check(
        ops,
        &Options {
            model,
            ..Options::default()
        },
    )
    .unwrap()
}

fn has(r: &Report, kind: &str) -> bool {
    r.anomaly_types.iter().any(|k| k == kind)
}

/// Checks a history against a model, expecting the verdict and the anomaly kind.
fn expect(ops: &[Operation], model: Model, verdict: Verdict, kind: &str) -> Report {
    let r = run(ops, model);
    assert_eq!(r.verdict, verdict, "{model}: {:#?}", r.anomalies);
    if !kind.is_empty() {
        assert!(has(&r, kind), "expected {kind}, got {:?}", r.anomaly_types);
    }
    r
}

#[test]
fn g0_write_cycle() {
    // T0 and T1 both append to x and y, in opposite orders.
    let ops = [
        ok(0, 0, 2, json!([["append", "x", 1], ["append", "y", 1]])),
        ok(1, 1, 3, json!([["append", "x", 2], ["append", "y", 2]])),
        ok(2, 4, 5, json!([["r", "x", [1, 2]], ["r", "y", [2, 1]]])),
    ];
    let r = expect(&ops, Model::ReadUncommitted, Verdict::Invalid, "G0");
    assert_eq!(r.not, vec!["read-uncommitted"]);
    let a = r.anomalies.iter().find(|a| a.kind == "G0").unwrap();
    assert_eq!(a.cycle.len(), 2);
    assert!(
        a.explanation
            .contains("T0 appended 1 to key x, and T1 appended 2 right after it"),
        "{}",
        a.explanation
    );
    assert!(
        a.explanation
            .contains("T1 appended 2 to key y, and T0 appended 1 right after it"),
        "{}",
        a.explanation
    );
}

#[test]
fn g1a_aborted_read() {
    let ops = [
        t(0, 0, 1, Outcome::Fail, json!([["append", "x", 1]])),
        ok(1, 2, 3, json!([["r", "x", [1]]])),
    ];
    let r = expect(&ops, Model::ReadCommitted, Verdict::Invalid, "G1a");
    assert_eq!(r.not, vec!["read-committed"]);
    expect(&ops, Model::ReadUncommitted, Verdict::Valid, "G1a");
}

#[test]
fn g1b_intermediate_read() {
    let ops = [
        ok(0, 0, 3, json!([["append", "x", 1], ["append", "x", 2]])),
        ok(1, 1, 2, json!([["r", "x", [1]]])),
    ];
    expect(&ops, Model::ReadCommitted, Verdict::Invalid, "G1b");
}

#[test]
fn g1c_circular_information_flow() {
    let ops = [
        ok(0, 0, 2, json!([["append", "x", 1], ["r", "y", [1]]])),
        ok(1, 1, 3, json!([["append", "y", 1], ["r", "x", [1]]])),
    ];
    let r = expect(&ops, Model::ReadCommitted, Verdict::Invalid, "G1c");
    let a = r.anomalies.iter().find(|a| a.kind == "G1c").unwrap();
    assert!(
        a.explanation.contains("which T1 read") && a.explanation.contains("which T0 read"),
        "{}",
        a.explanation
    );
    expect(&ops, Model::ReadUncommitted, Verdict::Valid, "G1c");
}

#[test]
fn g_single_read_skew() {
    // T1 sees T0's y but not its x.
    let ops = [
        ok(0, 0, 2, json!([["append", "x", 1], ["append", "y", 1]])),
        ok(1, 1, 3, json!([["r", "x", []], ["r", "y", [1]]])),
        ok(2, 4, 5, json!([["r", "x", [1]]])),
    ];
    let r = expect(&ops, Model::SnapshotIsolation, Verdict::Invalid, "G-single");
    assert_eq!(r.not, vec!["repeatable-read", "consistent-view"]);
    assert!(r.also_not.contains(&"serializable".to_string()));
    expect(&ops, Model::ReadCommitted, Verdict::Valid, "G-single");
    let a = r.anomalies.iter().find(|a| a.kind == "G-single").unwrap();
    assert!(
        a.explanation.contains("T1 read key x before T0 appended 1"),
        "{}",
        a.explanation
    );
    assert_eq!(a.cycle.iter().filter(|s| s.edge == "rw").count(), 1);
}

#[test]
fn g_single_without_a_final_read_uses_unseen_appends() {
    // Nobody reads x after T0, but T0 committed, so T1's empty read precedes it.
    let ops = [
        ok(0, 0, 2, json!([["append", "x", 1], ["append", "y", 1]])),
        ok(1, 1, 3, json!([["r", "x", []], ["r", "y", [1]]])),
    ];
    expect(&ops, Model::Serializable, Verdict::Invalid, "G-single");
}

#[test]
fn g2_item_write_skew() {
    let ops = [
        ok(0, 0, 2, json!([["r", "x", []], ["append", "y", 1]])),
        ok(1, 1, 3, json!([["r", "y", []], ["append", "x", 1]])),
        ok(2, 4, 5, json!([["r", "x", [1]], ["r", "y", [1]]])),
    ];
    let r = expect(&ops, Model::Serializable, Verdict::Invalid, "G2-item");
    // Write skew is allowed by snapshot isolation.
    expect(&ops, Model::SnapshotIsolation, Verdict::Valid, "G2-item");
    assert_eq!(r.not, vec!["repeatable-read"]);
}

#[test]
fn g_nonadjacent() {
    // T0 -rw-> T1 -wr-> T2 -rw-> T3 -wr-> T0.
    let ops = [
        ok(0, 0, 9, json!([["r", "a", []], ["r", "d", [1]]])),
        ok(1, 1, 9, json!([["append", "a", 1], ["append", "b", 1]])),
        ok(2, 2, 9, json!([["r", "b", [1]], ["r", "c", []]])),
        ok(3, 3, 9, json!([["append", "c", 1], ["append", "d", 1]])),
    ];
    let r = expect(
        &ops,
        Model::SnapshotIsolation,
        Verdict::Invalid,
        "G-nonadjacent",
    );
    let a = r
        .anomalies
        .iter()
        .find(|a| a.kind == "G-nonadjacent")
        .unwrap();
    assert_eq!(a.cycle.len(), 4);
    expect(
        &ops,
        Model::RepeatableRead,
        Verdict::Invalid,
        "G-nonadjacent",
    );
    expect(&ops, Model::ReadCommitted, Verdict::Valid, "");
}

#[test]
fn internal_inconsistency() {
    let ops = [ok(0, 0, 1, json!([["append", "x", 1], ["r", "x", []]]))];
    expect(&ops, Model::Serializable, Verdict::Invalid, "internal");
}

#[test]
fn duplicate_elements() {
    let ops = [
        ok(0, 0, 1, json!([["append", "x", 1]])),
        ok(1, 2, 3, json!([["r", "x", [1, 1]]])),
    ];
    expect(
        &ops,
        Model::ReadUncommitted,
        Verdict::Invalid,
        "duplicate-elements",
    );
}

#[test]
fn incompatible_order() {
    let ops = [
        ok(0, 0, 1, json!([["append", "x", 1]])),
        ok(1, 0, 1, json!([["append", "x", 2]])),
        ok(2, 2, 3, json!([["r", "x", [1, 2]]])),
        ok(3, 2, 3, json!([["r", "x", [2, 1]]])),
    ];
    let r = expect(
        &ops,
        Model::ReadCommitted,
        Verdict::Invalid,
        "incompatible-order",
    );
    assert_eq!(r.not, vec!["read-committed"]);
}

#[test]
fn lost_update() {
    let ops = [
        ok(0, 0, 2, json!([["r", "x", []], ["append", "x", 1]])),
        ok(1, 1, 3, json!([["r", "x", []], ["append", "x", 2]])),
        ok(2, 4, 5, json!([["r", "x", [1, 2]]])),
    ];
    let r = expect(
        &ops,
        Model::SnapshotIsolation,
        Verdict::Invalid,
        "lost-update",
    );
    assert!(
        r.not.contains(&"cursor-stability".to_string()),
        "{:?}",
        r.not
    );
}

#[test]
fn future_read() {
    let ops = [ok(0, 0, 1, json!([["r", "x", [1]], ["append", "x", 1]]))];
    expect(&ops, Model::ReadCommitted, Verdict::Invalid, "future-read");
}

#[test]
fn garbage_read() {
    let ops = [ok(0, 0, 1, json!([["r", "x", [9]]]))];
    expect(
        &ops,
        Model::ReadUncommitted,
        Verdict::Invalid,
        "garbage-read",
    );
}

#[test]
fn dirty_update() {
    let ops = [
        t(0, 0, 1, Outcome::Fail, json!([["append", "x", 1]])),
        ok(1, 2, 3, json!([["append", "x", 2]])),
        ok(2, 4, 5, json!([["r", "x", [1, 2]]])),
    ];
    expect(&ops, Model::ReadCommitted, Verdict::Invalid, "dirty-update");
}

#[test]
fn stale_read_is_a_realtime_anomaly_only() {
    // T0 appends x 1 and completes; T1 begins afterwards and does not see it.
    let ops = [
        ok(0, 0, 1, json!([["append", "x", 1]])),
        ok(1, 2, 3, json!([["r", "x", []]])),
        ok(2, 4, 5, json!([["r", "x", [1]]])),
    ];
    let r = expect(
        &ops,
        Model::StrictSerializable,
        Verdict::Invalid,
        "G-single-realtime",
    );
    assert_eq!(r.not, vec!["strong-snapshot-isolation"]);
    assert_eq!(r.also_not, vec!["strict-serializable"]);
    let a = r
        .anomalies
        .iter()
        .find(|a| a.kind == "G-single-realtime")
        .unwrap();
    assert!(
        a.explanation
            .contains("T0 completed (event 1) before T1 was invoked (event 2)"),
        "{}",
        a.explanation
    );
    expect(&ops, Model::Serializable, Verdict::Valid, "");
    // The same process: a session anomaly too.
    let ops = [
        ok(0, 0, 1, json!([["append", "x", 1]])),
        ok(0, 2, 3, json!([["r", "x", []]])),
        ok(2, 4, 5, json!([["r", "x", [1]]])),
    ];
    expect(
        &ops,
        Model::StrongSessionSerializable,
        Verdict::Invalid,
        "G-single-process",
    );
    expect(&ops, Model::Serializable, Verdict::Valid, "");
}

#[test]
fn info_transactions_may_or_may_not_have_committed() {
    // An info append nobody saw adds nothing; one somebody saw committed.
    let ops = [
        t(
            0,
            0,
            1,
            Outcome::Info,
            json!([["append", "x", 1], ["r", "y", null]]),
        ),
        ok(1, 2, 3, json!([["r", "x", []]])),
    ];
    expect(&ops, Model::StrictSerializable, Verdict::Valid, "");
    let ops = [
        t(
            0,
            0,
            1,
            Outcome::Info,
            json!([["append", "x", 1], ["append", "y", 1]]),
        ),
        ok(1, 2, 3, json!([["r", "x", []], ["r", "y", [1]]])),
    ];
    expect(&ops, Model::Serializable, Verdict::Invalid, "G-single");
}

#[test]
fn rw_register_anomalies() {
    // Read skew: T1 reads the initial x and T0's y.
    let ops = [
        ok(0, 0, 2, json!([["w", "x", 1], ["w", "y", 1]])),
        ok(1, 1, 3, json!([["r", "x", null], ["r", "y", 1]])),
    ];
    let r = expect(&ops, Model::Serializable, Verdict::Invalid, "G-single");
    let a = r.anomalies.iter().find(|a| a.kind == "G-single").unwrap();
    assert!(
        a.explanation
            .contains("T1 read key x before T0 wrote 1 to it"),
        "{}",
        a.explanation
    );
    assert!(
        a.explanation.contains("T0 wrote key y = 1, which T1 read"),
        "{}",
        a.explanation
    );
    // Lost update.
    let ops = [
        ok(0, 0, 2, json!([["r", "x", null], ["w", "x", 1]])),
        ok(1, 1, 3, json!([["r", "x", null], ["w", "x", 2]])),
    ];
    expect(&ops, Model::RepeatableRead, Verdict::Invalid, "lost-update");
    // Aborted, intermediate and garbage reads; internal inconsistency.
    let ops = [
        t(0, 0, 1, Outcome::Fail, json!([["w", "x", 1]])),
        ok(1, 2, 3, json!([["r", "x", 1]])),
    ];
    expect(&ops, Model::ReadCommitted, Verdict::Invalid, "G1a");
    let ops = [
        ok(0, 0, 3, json!([["w", "x", 1], ["w", "x", 2]])),
        ok(1, 1, 2, json!([["r", "x", 1]])),
    ];
    expect(&ops, Model::ReadCommitted, Verdict::Invalid, "G1b");
    let ops = [ok(0, 0, 1, json!([["r", "x", 7]]))];
    expect(
        &ops,
        Model::ReadUncommitted,
        Verdict::Invalid,
        "garbage-read",
    );
    let ops = [
        ok(0, 0, 1, json!([["w", "x", 1], ["r", "x", 2]])),
        ok(1, 0, 1, json!([["w", "x", 2]])),
    ];
    expect(&ops, Model::Serializable, Verdict::Invalid, "internal");
    // Writes follow reads: T1 read T0's 1 and wrote 2, T2 read 1 too: T2 precedes T1.
    let ops = [
        ok(0, 0, 1, json!([["w", "x", 1]])),
        ok(1, 2, 5, json!([["r", "x", 1], ["w", "x", 2]])),
        ok(2, 3, 6, json!([["r", "x", 1], ["r", "y", 1]])),
        ok(3, 3, 4, json!([["r", "x", 2], ["w", "y", 1]])),
    ];
    expect(&ops, Model::Serializable, Verdict::Invalid, "G-single");
}

#[test]
fn out_of_time_is_unknown_never_wrong() {
    let ops = [
        ok(0, 0, 2, json!([["append", "x", 1], ["append", "y", 1]])),
        ok(1, 1, 3, json!([["r", "x", []], ["r", "y", [1]]])),
    ];
    let opts = Options {
        model: Model::ReadCommitted,
        time_limit: Some(std::time::Duration::ZERO),
        ..Options::default()
    };
    let r = check(&ops, &opts).unwrap();
    // Read committed allows G-single, but the search could not say what the cycle is.
    assert_eq!(r.verdict, Verdict::Unknown, "{:#?}", r);
    assert!(r.reason.as_deref().unwrap_or("").contains("time limit"));
    let opts = Options {
        model: Model::Serializable,
        ..opts
    };
    let r = check(&ops, &opts).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(has(&r, "cycle-exists"), "{:?}", r.anomaly_types);
}

#[test]
fn bad_input_names_the_event() {
    let ops = [op(
        0,
        "txn",
        json!([["append", "x"]]),
        Value::Null,
        Outcome::Info,
        4,
        Some(5),
    )];
    let e = check(&ops, &Options::default()).unwrap_err();
    assert_eq!(e.event, 4);
    assert!(e.message.contains("not [f, key, value]"), "{}", e.message);
    let ops = [
        ok(0, 0, 1, json!([["append", "x", 1]])),
        ok(1, 2, 3, json!([["append", "x", 1]])),
    ];
    let e = check(&ops, &Options::default()).unwrap_err();
    assert!(
        e.message.contains("written to key x twice"),
        "{}",
        e.message
    );
    let ops = [ok(0, 0, 1, json!([["append", "x", 1], ["w", "y", 1]]))];
    assert!(check(&ops, &Options::default()).is_err());
}
