//! Counter checker: hand-written cases for each rule, and properties against brute force.

use faultline_counter_checker::{check, read_bounds, CounterOptions, ReadBounds};
use faultline_history::{testing, Operation, Outcome, Verdict};
use proptest::prelude::*;
use serde_json::{json, Value};

/// An operation by process `i`, invoked at event `i` and completed at event `c`.
fn op(f: &str, input: Value, output: Value, outcome: Outcome, i: u64, c: Option<u64>) -> Operation {
    testing::op(i, f, input, output, outcome, i, c)
}

fn add(delta: i64, outcome: Outcome, i: u64, c: Option<u64>) -> Operation {
    op("add", json!(delta), json!(delta), outcome, i, c)
}

fn read(value: Value, i: u64, c: u64) -> Operation {
    op("read", Value::Null, value, Outcome::Ok, i, Some(c))
}

fn verdict(ops: &[Operation]) -> Verdict {
    check(ops, &CounterOptions::default()).unwrap().verdict
}

fn bounds(ops: &[Operation]) -> Vec<(i128, i128, i128)> {
    read_bounds(ops, &CounterOptions::default())
        .unwrap()
        .iter()
        .map(|b| (b.lower, b.value, b.upper))
        .collect()
}

#[test]
fn acknowledged_add_before_read_must_be_seen() {
    let h = [add(5, Outcome::Ok, 0, Some(1)), read(json!(5), 2, 3)];
    assert_eq!(verdict(&h), Verdict::Valid);
    let h = [add(5, Outcome::Ok, 0, Some(1)), read(json!(4), 2, 3)];
    let r = check(&h, &CounterOptions::default()).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.anomalies.len(), 1);
    let a = &r.anomalies[0];
    assert_eq!(a.kind, "counter-out-of-bounds");
    assert_eq!(a.events, vec![2, 3]);
    assert_eq!(a.detail, json!({"lower": 5, "value": 4, "upper": 5}));
    assert!(a.explanation.contains("returned 4"), "{}", a.explanation);
    assert!(a.explanation.contains("off by 1"), "{}", a.explanation);
}

#[test]
fn concurrent_ok_add_may_or_may_not_be_seen() {
    // add invoked 0, read invoked 1, add ok 2, read ok 3.
    let mk = |v| vec![add(5, Outcome::Ok, 0, Some(2)), read(json!(v), 1, 3)];
    assert_eq!(bounds(&mk(0)), vec![(0, 0, 5)]);
    assert_eq!(verdict(&mk(0)), Verdict::Valid);
    assert_eq!(verdict(&mk(5)), Verdict::Valid);
    assert_eq!(verdict(&mk(6)), Verdict::Invalid);
}

#[test]
fn info_add_may_or_may_not_have_happened_even_long_after() {
    // The info add completes at 1, reads much later may or may not see it.
    let mk = |v| vec![add(3, Outcome::Info, 0, Some(1)), read(json!(v), 10, 11)];
    assert_eq!(verdict(&mk(0)), Verdict::Valid);
    assert_eq!(verdict(&mk(3)), Verdict::Valid);
    assert_eq!(verdict(&mk(4)), Verdict::Invalid);
    // An info add that never completed behaves the same.
    let h = [add(3, Outcome::Info, 0, None), read(json!(3), 10, 11)];
    assert_eq!(verdict(&h), Verdict::Valid);
}

#[test]
fn failed_add_never_counts() {
    let h = [add(3, Outcome::Fail, 0, Some(1)), read(json!(3), 2, 3)];
    let r = check(&h, &CounterOptions::default()).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(
        r.anomalies[0].detail,
        json!({"lower": 0, "value": 3, "upper": 0})
    );
    // Even a failed add concurrent with the read cannot be seen.
    let h = [add(3, Outcome::Fail, 0, Some(3)), read(json!(3), 1, 2)];
    assert_eq!(verdict(&h), Verdict::Invalid);
}

#[test]
fn add_invoked_after_the_read_completed_cannot_be_seen() {
    let h = [read(json!(2), 0, 1), add(2, Outcome::Ok, 2, Some(3))];
    assert_eq!(bounds(&h), vec![(0, 2, 0)]);
    assert_eq!(verdict(&h), Verdict::Invalid);
}

#[test]
fn negative_deltas_widen_bounds_soundly() {
    let h = [
        add(10, Outcome::Ok, 0, Some(1)),
        add(-4, Outcome::Info, 2, Some(3)),
        add(2, Outcome::Ok, 4, Some(7)),
        read(json!(6), 5, 6),
    ];
    // definite 10; possible -4 and +2: [6, 12].
    assert_eq!(bounds(&h), vec![(6, 6, 12)]);
    assert_eq!(verdict(&h), Verdict::Valid);
    let mut h2 = h.clone();
    h2[3] = read(json!(5), 5, 6);
    assert_eq!(verdict(&h2), Verdict::Invalid);
    // A definite negative add lowers both bounds.
    let h = [add(-3, Outcome::Ok, 0, Some(1)), read(json!(-3), 2, 3)];
    assert_eq!(bounds(&h), vec![(-3, -3, -3)]);
    assert_eq!(verdict(&h), Verdict::Valid);
}

#[test]
fn initial_value_is_configurable() {
    let h = [add(1, Outcome::Ok, 0, Some(1)), read(json!(101), 2, 3)];
    let r = check(&h, &CounterOptions { initial: 100 }).unwrap();
    assert_eq!(r.verdict, Verdict::Valid);
    assert_eq!(verdict(&h), Verdict::Invalid);
}

#[test]
fn only_ok_reads_are_checked_and_none_means_unknown() {
    let h = [
        add(1, Outcome::Ok, 0, Some(1)),
        op("read", Value::Null, Value::Null, Outcome::Info, 2, Some(3)),
        op("read", Value::Null, Value::Null, Outcome::Fail, 4, Some(5)),
    ];
    let r = check(&h, &CounterOptions::default()).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(r.reason.unwrap().contains("no read completed ok"));
    assert!(r.anomalies.is_empty());
}

#[test]
fn every_bad_read_is_reported_and_stats_name_the_worst() {
    let h = [
        add(1, Outcome::Ok, 0, Some(1)),
        read(json!(0), 2, 3),
        read(json!(1), 4, 5),
        read(json!(9), 6, 7),
    ];
    let r = check(&h, &CounterOptions::default()).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    let events: Vec<_> = r.anomalies.iter().map(|a| a.events.clone()).collect();
    assert_eq!(events, vec![vec![2, 3], vec![6, 7]]);
    assert_eq!(r.stats["read-count"], 3);
    assert_eq!(r.stats["error-count"], 2);
    assert_eq!(r.stats["max-absolute-error"]["error"], 8);
    assert_eq!(r.stats["max-absolute-error"]["events"], json!([6, 7]));
}

#[test]
fn malformed_values_are_errors_naming_the_event() {
    let h = [read(json!("seven"), 4, 5)];
    let e = check(&h, &CounterOptions::default()).unwrap_err();
    assert_eq!(e.event, 5);
    assert_eq!(
        e.to_string(),
        "event 5: read must return an integer, got \"seven\""
    );
    let h = [add(0, Outcome::Ok, 0, Some(1))];
    let mut h = h.to_vec();
    h[0].input = json!(1.5);
    let e = check(&h, &CounterOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "event 0: add's argument must be an integer delta, got 1.5"
    );
    let h = [op("read", Value::Null, json!(1), Outcome::Ok, 3, None)];
    let e = check(&h, &CounterOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "event 3: read is ok but has no completion event"
    );
    // A failed add's argument is never used, so it need not be an integer.
    let h = [op(
        "add",
        json!("x"),
        Value::Null,
        Outcome::Fail,
        0,
        Some(1),
    )];
    assert_eq!(verdict(&h), Verdict::Unknown);
}

/// One generated operation: when it starts and ends on a coarse timeline.
#[derive(Clone, Debug)]
struct Gen {
    is_read: bool,
    start: u8,
    len: u8,
    outcome: Outcome,
    /// Add: the delta; read: the value returned.
    value: i64,
    /// Info ops: whether the completion event is missing.
    unfinished: bool,
}

fn gen_op() -> impl Strategy<Value = Gen> {
    (
        any::<bool>(),
        0u8..12,
        0u8..6,
        prop_oneof![Just(Outcome::Ok), Just(Outcome::Info), Just(Outcome::Fail)],
        -4i64..8,
        any::<bool>(),
    )
        .prop_map(|(is_read, start, len, outcome, value, unfinished)| Gen {
            is_read,
            start,
            len,
            outcome: if is_read { Outcome::Ok } else { outcome },
            value,
            unfinished: unfinished && outcome == Outcome::Info && !is_read,
        })
}

/// Lays generated operations out as a well-formed history: events ordered by time, ties
/// broken by operation, so each op's completion follows its invocation.
fn layout(gens: &[Gen]) -> Vec<Operation> {
    let spans: Vec<(u32, u32, bool)> = gens
        .iter()
        .map(|g| (g.start.into(), g.len.into(), !g.unfinished))
        .collect();
    let (inv, comp): (Vec<u64>, Vec<Option<u64>>) = testing::lay_out(&spans).into_iter().unzip();
    gens.iter()
        .enumerate()
        .map(|(n, g)| {
            let f = if g.is_read { "read" } else { "add" };
            let (input, output) = if g.is_read {
                (Value::Null, json!(g.value))
            } else {
                (json!(g.value), json!(g.value))
            };
            let mut o = op(f, input, output, g.outcome, inv[n], comp[n]);
            o.process = n as u64;
            o
        })
        .collect()
}

/// Brute force: the min and max counter value over every set of adds that respects the
/// history (contains each ok add completed before the read began; contains only
/// non-failed adds invoked before the read completed).
fn oracle(ops: &[Operation], r: &Operation) -> (i128, i128) {
    let adds: Vec<&Operation> = ops.iter().filter(|o| o.f == "add").collect();
    let (mut lo, mut hi) = (i128::MAX, i128::MIN);
    'subsets: for mask in 0u32..(1 << adds.len()) {
        let mut sum = 0i128;
        for (k, a) in adds.iter().enumerate() {
            let included = mask & (1 << k) != 0;
            let must = a.outcome == Outcome::Ok && a.complete_index.unwrap() < r.invoke_index;
            let may = a.outcome != Outcome::Fail && a.invoke_index < r.complete_index.unwrap();
            if (must && !included) || (included && !may) {
                continue 'subsets;
            }
            if included {
                sum += i128::from(a.input.as_i64().unwrap());
            }
        }
        lo = lo.min(sum);
        hi = hi.max(sum);
    }
    (lo, hi)
}

proptest! {
    #[test]
    fn bounds_match_brute_force_over_subsets(gens in prop::collection::vec(gen_op(), 1..9)) {
        let ops = layout(&gens);
        let got = read_bounds(&ops, &CounterOptions::default()).unwrap();
        let reads: Vec<&Operation> = ops.iter().filter(|o| o.f == "read").collect();
        prop_assert_eq!(got.len(), reads.len());
        for b in &got {
            let r = reads.iter().find(|r| r.invoke_index == b.invoke_index).unwrap();
            let (lo, hi) = oracle(&ops, r);
            prop_assert_eq!((b.lower, b.upper), (lo, hi), "read {:?}", r);
        }
        let result = check(&ops, &CounterOptions::default()).unwrap();
        let bad = got.iter().filter(|b: &&ReadBounds| !b.is_valid()).count();
        prop_assert_eq!(result.anomalies.len(), bad);
        prop_assert_eq!(result.verdict == Verdict::Invalid, bad > 0);
    }

    /// Histories produced by a real atomic counter are never flagged: each op takes effect
    /// at one instant inside its interval (info ops: at any instant after invocation, or
    /// never; failed ops: never), and each read returns the value at its instant.
    #[test]
    fn histories_of_a_real_counter_are_valid(
        gens in prop::collection::vec(gen_op(), 1..12),
        points in prop::collection::vec((0u32..1000, any::<bool>()), 12),
    ) {
        let ops = layout(&gens);
        // Instants on the event-index axis, scaled by 1000 so they fall between events.
        let instant = |k: usize| -> Option<u64> {
            let o = &ops[k];
            let (frac, applied) = points[k];
            testing::applied_at(o.outcome, o.invoke_index, o.complete_index, frac, applied)
        };
        let mut ops = ops.clone();
        let n = ops.len();
        for k in 0..n {
            if ops[k].f == "read" {
                let at = instant(k).unwrap();
                let value: i64 = (0..n)
                    .filter(|&j| ops[j].f == "add")
                    .filter(|&j| instant(j).is_some_and(|t| t < at))
                    .map(|j| ops[j].input.as_i64().unwrap())
                    .sum();
                ops[k].output = json!(value);
            }
        }
        let result = check(&ops, &CounterOptions::default()).unwrap();
        prop_assert_ne!(result.verdict, Verdict::Invalid, "{:?}", result.anomalies);
    }
}
