//! set-full checker: a hand-written case per outcome and anomaly, and properties against
//! a brute-force restatement of the definitions and against a real linearizable set.

use faultline_history::{testing, Operation, Outcome, Verdict};
use faultline_set_checker::{analyze, check, ElementOutcome, SetOptions};
use proptest::prelude::*;
use serde_json::{json, Value};

/// An operation by process `i`, invoked at event `i`, completed at `c`; times are indices × 1000 ns.
fn op(f: &str, input: Value, output: Value, outcome: Outcome, i: u64, c: Option<u64>) -> Operation {
    testing::op(i, f, input, output, outcome, i, c)
}

fn add(e: i64, outcome: Outcome, i: u64, c: u64) -> Operation {
    op("add", json!(e), json!(e), outcome, i, Some(c))
}

fn read(v: Value, i: u64, c: u64) -> Operation {
    op("read", Value::Null, v, Outcome::Ok, i, Some(c))
}

fn outcomes(ops: &[Operation]) -> Vec<(Value, ElementOutcome)> {
    analyze(ops)
        .unwrap()
        .elements
        .into_iter()
        .map(|e| (e.element, e.outcome))
        .collect()
}

fn lin() -> SetOptions {
    SetOptions { linearizable: true }
}

#[test]
fn element_read_after_its_add_is_stable() {
    let h = [add(1, Outcome::Ok, 0, 1), read(json!([1]), 2, 3)];
    let r = check(&h, &lin()).unwrap();
    assert_eq!(r.verdict, Verdict::Valid);
    assert!(r.anomalies.is_empty());
    assert_eq!(r.stats["stable-count"], 1);
    assert_eq!(r.stats["stable-latencies-ns"]["0.5"], 0);
    assert_eq!(r.stats["visibility-latencies-ns"]["1"], 0);
}

#[test]
fn acknowledged_add_missing_from_later_reads_is_lost() {
    let h = [add(1, Outcome::Ok, 0, 1), read(json!([]), 2, 3)];
    let r = check(&h, &SetOptions::default()).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.anomalies.len(), 1);
    let a = &r.anomalies[0];
    assert_eq!(a.kind, "lost");
    assert_eq!(a.events, vec![0, 1, 2, 3]);
    assert!(
        a.explanation.contains("acknowledged at event 1"),
        "{}",
        a.explanation
    );
    assert!(
        a.explanation.contains("no read ever contained it"),
        "{}",
        a.explanation
    );
    assert_eq!(r.stats["lost"], json!([1]));
    assert_eq!(r.stats["lost-latencies-ns"]["0"], 0);
}

#[test]
fn element_seen_then_gone_is_lost_and_names_the_last_sighting() {
    let h = [
        add(1, Outcome::Ok, 0, 1),
        read(json!([1]), 2, 3),
        read(json!([1]), 4, 5),
        read(json!([]), 6, 7),
    ];
    let r = check(&h, &SetOptions::default()).unwrap();
    assert_eq!(r.anomalies[0].kind, "lost");
    assert_eq!(r.anomalies[0].events, vec![0, 1, 4, 5, 6, 7]);
    // Known at add completion (t=1000); last present read began at 4000.
    assert_eq!(r.stats["lost-latencies-ns"]["0"], 3001);
}

#[test]
fn a_lost_element_names_the_first_read_that_missed_it_for_good() {
    // Seen at 2-3, missed at 6-7 (stale, but seen again at 8-9), then missed from 10 on.
    let h = [
        add(1, Outcome::Ok, 0, 1),
        read(json!([1]), 2, 3),
        read(json!([]), 6, 7),
        read(json!([1]), 8, 9),
        read(json!([]), 10, 11),
        read(json!([]), 12, 13),
        read(json!([]), 14, 15),
    ];
    let a = analyze(&h).unwrap();
    let e = &a.elements[0];
    assert_eq!(e.outcome, ElementOutcome::Lost);
    assert_eq!(e.lost_from.map(|r| r.invoke_index), Some(10));
    assert_eq!(e.last_absent.map(|r| r.invoke_index), Some(14));
    let r = check(&h, &SetOptions::default()).unwrap();
    // Visible once the read at 10 completed (event 11), not at the last read.
    assert_eq!(r.anomalies[0].events, vec![0, 1, 8, 9, 10, 11]);
    let text = &r.anomalies[0].explanation;
    assert!(
        text.contains("invoked at event 10 (completed at 11)"),
        "{text}"
    );
    assert!(text.contains("the last invoked at event 14"), "{text}");
}

#[test]
fn info_add_never_seen_is_not_lost() {
    let h = [
        add(1, Outcome::Info, 0, 1),
        add(2, Outcome::Ok, 2, 3),
        read(json!([2]), 4, 5),
    ];
    assert_eq!(
        outcomes(&h),
        vec![
            (json!(1), ElementOutcome::NeverRead),
            (json!(2), ElementOutcome::Stable)
        ]
    );
    let r = check(&h, &lin()).unwrap();
    assert_eq!(r.verdict, Verdict::Valid);
    assert_eq!(r.stats["never-read"], json!([1]));
    assert_eq!(r.stats["indeterminate-count"], 1);
    // An info add that never completed counts the same.
    let h = [
        op("add", json!(1), Value::Null, Outcome::Info, 0, None),
        read(json!([]), 4, 5),
    ];
    assert_eq!(outcomes(&h), vec![(json!(1), ElementOutcome::NeverRead)]);
}

#[test]
fn info_add_seen_then_gone_is_lost() {
    let h = [
        add(1, Outcome::Info, 0, 1),
        read(json!([1]), 2, 3),
        read(json!([]), 4, 5),
    ];
    let r = check(&h, &SetOptions::default()).unwrap();
    assert_eq!(r.anomalies[0].kind, "lost");
    assert!(r.anomalies[0]
        .explanation
        .contains("a read completed at event 3 contained it"));
}

#[test]
fn info_add_seen_later_is_recovered_and_stable() {
    let h = [
        add(1, Outcome::Info, 0, 1),
        read(json!([]), 2, 3),
        read(json!([1]), 4, 5),
    ];
    assert_eq!(outcomes(&h), vec![(json!(1), ElementOutcome::Stable)]);
    // Not stale: it was not known when the empty read began.
    assert_eq!(check(&h, &lin()).unwrap().verdict, Verdict::Valid);
}

#[test]
fn read_concurrent_with_the_add_may_miss_it() {
    // read invoked at 1, before the add completes at 2.
    let h = [add(1, Outcome::Ok, 0, 2), read(json!([]), 1, 3)];
    assert_eq!(outcomes(&h), vec![(json!(1), ElementOutcome::NeverRead)]);
    let r = check(&h, &lin()).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(r.anomalies.is_empty());
    assert!(r
        .reason
        .unwrap()
        .contains("no element was ever stably present"));
}

#[test]
fn read_finished_before_the_add_began_says_nothing() {
    let h = [read(json!([]), 0, 1), add(1, Outcome::Ok, 2, 3)];
    assert_eq!(outcomes(&h), vec![(json!(1), ElementOutcome::NeverRead)]);
    let e = &analyze(&h).unwrap().elements[0];
    assert_eq!(e.last_absent, None);
}

#[test]
fn missing_then_present_is_stale_and_invalid_only_when_linearizable() {
    let h = [
        add(1, Outcome::Ok, 0, 1),
        read(json!([]), 2, 3),
        read(json!([]), 4, 5),
        read(json!([1]), 6, 7),
    ];
    assert_eq!(outcomes(&h), vec![(json!(1), ElementOutcome::Stable)]);
    let relaxed = check(&h, &SetOptions::default()).unwrap();
    assert_eq!(relaxed.verdict, Verdict::Valid);
    assert!(relaxed.anomalies.is_empty());
    assert_eq!(relaxed.stats["stale"], json!([1]));
    // Known at 1000 ns; the last read missing it began at 4000 ns.
    assert_eq!(relaxed.stats["worst-stale"][0]["stable-latency-ns"], 3001);
    assert_eq!(relaxed.stats["worst-stale"][0]["stale-reads"], 2);
    // First visible to the read invoked at 6000 ns, 5000 ns after the add completed.
    assert_eq!(relaxed.stats["visibility-latencies-ns"]["0"], 5000);

    let strict = check(&h, &lin()).unwrap();
    assert_eq!(strict.verdict, Verdict::Invalid);
    let a = &strict.anomalies[0];
    assert_eq!(a.kind, "stale-read");
    assert_eq!(a.events, vec![0, 1, 2, 3, 6, 7]);
    assert!(
        a.explanation.contains("2 stale read(s)"),
        "{}",
        a.explanation
    );
}

#[test]
fn known_through_a_read_before_the_add_is_acknowledged() {
    // The add is slow to acknowledge (ok at 9), but a read completed at 2 saw the element:
    // a read that began at 3 must see it too.
    let h = [
        add(1, Outcome::Ok, 0, 9),
        read(json!([1]), 1, 2),
        read(json!([]), 3, 4),
        read(json!([1]), 5, 6),
    ];
    let e = &analyze(&h).unwrap().elements[0];
    assert_eq!(e.known_index, Some(2));
    assert!(e.stale);
    assert_eq!(check(&h, &lin()).unwrap().anomalies[0].kind, "stale-read");
}

#[test]
fn element_never_added_is_unexpected() {
    let h = [
        add(1, Outcome::Ok, 0, 1),
        read(json!([1, 99]), 2, 3),
        read(json!([1, 99]), 4, 5),
    ];
    let r = check(&h, &SetOptions::default()).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.anomalies.len(), 1);
    let a = &r.anomalies[0];
    assert_eq!(a.kind, "unexpected");
    assert_eq!(a.events, vec![2, 3]);
    assert!(a.explanation.contains("never added"), "{}", a.explanation);
    assert!(a.explanation.contains("2 read(s)"), "{}", a.explanation);
    assert_eq!(r.stats["unexpected"], json!([99]));
}

#[test]
fn element_read_before_its_add_began_is_unexpected() {
    let h = [
        read(json!([1]), 0, 1),
        add(1, Outcome::Ok, 2, 3),
        read(json!([1]), 4, 5),
    ];
    let r = check(&h, &SetOptions::default()).unwrap();
    assert_eq!(r.anomalies.len(), 1);
    assert_eq!(r.anomalies[0].kind, "unexpected");
    assert!(r.anomalies[0]
        .explanation
        .contains("its add was only invoked later, at event 2"));
    // The later read is ordinary evidence.
    assert_eq!(outcomes(&h), vec![(json!(1), ElementOutcome::Stable)]);
}

#[test]
fn element_twice_in_one_read_is_duplicated() {
    let h = [
        add(1, Outcome::Ok, 0, 1),
        read(json!([1, 1, 1]), 2, 3),
        read(json!([1, 1]), 4, 5),
        read(json!([7, 7]), 6, 7),
    ];
    let r = check(&h, &SetOptions::default()).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    let dups: Vec<_> = r
        .anomalies
        .iter()
        .filter(|a| a.kind == "duplicated")
        .collect();
    assert_eq!(dups.len(), 2);
    assert_eq!(dups[0].events, vec![2, 3]);
    assert_eq!(dups[0].detail["max-copies"], 3);
    assert_eq!(dups[0].detail["reads"], 2);
    assert_eq!(dups[1].detail["element"], 7);
    assert_eq!(r.stats["duplicated"], json!([[1, 3], [7, 2]]));
    // 7 was never added either.
    assert!(r.anomalies.iter().any(|a| a.kind == "unexpected"));
}

#[test]
fn failed_add_must_never_be_read() {
    let h = [add(1, Outcome::Fail, 0, 1), read(json!([]), 2, 3)];
    assert_eq!(outcomes(&h), vec![(json!(1), ElementOutcome::Failed)]);
    assert!(check(&h, &lin()).unwrap().anomalies.is_empty());
    let h = [add(1, Outcome::Fail, 0, 1), read(json!([1]), 2, 3)];
    let r = check(&h, &lin()).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.anomalies[0].kind, "failed-add-observed");
    assert_eq!(r.anomalies[0].events, vec![0, 1, 2, 3]);
}

#[test]
fn only_ok_reads_count() {
    let h = [
        add(1, Outcome::Ok, 0, 1),
        read(json!([1]), 2, 3),
        op("read", Value::Null, json!([]), Outcome::Info, 4, Some(5)),
        op("read", Value::Null, Value::Null, Outcome::Fail, 6, Some(7)),
        op("read", Value::Null, Value::Null, Outcome::Info, 8, None),
    ];
    let r = check(&h, &lin()).unwrap();
    assert_eq!(r.verdict, Verdict::Valid);
    assert_eq!(r.stats["read-count"], 1);
}

#[test]
fn non_integer_elements_work() {
    let h = [
        op(
            "add",
            json!({"k": "a"}),
            Value::Null,
            Outcome::Ok,
            0,
            Some(1),
        ),
        read(json!([{"k": "a"}, "zz"]), 2, 3),
    ];
    let r = check(&h, &SetOptions::default()).unwrap();
    assert_eq!(r.stats["stable-count"], 1);
    assert_eq!(r.stats["unexpected"], json!(["zz"]));
}

#[test]
fn malformed_histories_are_errors_naming_the_event() {
    let h = [read(json!({"1": true}), 4, 5)];
    let e = check(&h, &SetOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "event 5: read must return a JSON array of elements, got {\"1\":true}"
    );
    let h = [add(3, Outcome::Ok, 0, 1), add(3, Outcome::Info, 2, 3)];
    let e = check(&h, &SetOptions::default()).unwrap_err();
    assert_eq!(e.event, 2);
    assert!(e.to_string().contains("repeats the add invoked at event 0"));
    let h = [op("add", json!(3), Value::Null, Outcome::Ok, 0, None)];
    let e = check(&h, &SetOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "event 0: add is ok but has no completion event"
    );
}

// ---------------------------------------------------------------------------------------
// Properties.

/// One generated operation on a coarse timeline.
#[derive(Clone, Debug)]
struct Gen {
    is_read: bool,
    start: u8,
    len: u8,
    outcome: Outcome,
    unfinished: bool,
    /// Read: which of the elements 0..8 it returns, and which twice.
    contents: u8,
    twice: u8,
}

fn gen_op() -> impl Strategy<Value = Gen> {
    (
        prop::bool::weighted(0.45),
        0u8..14,
        0u8..5,
        prop_oneof![
            3 => Just(Outcome::Ok),
            1 => Just(Outcome::Info),
            1 => Just(Outcome::Fail)
        ],
        any::<bool>(),
        any::<u8>(),
        prop::bool::weighted(0.05).prop_map(|b| if b { 0xff } else { 0 }),
    )
        .prop_map(
            |(is_read, start, len, outcome, unfinished, contents, twice)| Gen {
                is_read,
                start,
                len,
                outcome: if is_read { Outcome::Ok } else { outcome },
                unfinished: unfinished && outcome == Outcome::Info && !is_read,
                contents,
                twice,
            },
        )
}

/// Lays generated ops out as a history. Adds add elements 0, 1, 2... in order; reads
/// return elements of 0..8 by bitmask (so some may never be added).
fn layout(gens: &[Gen]) -> Vec<Operation> {
    let spans: Vec<(u32, u32, bool)> = gens
        .iter()
        .map(|g| (g.start.into(), g.len.into(), !g.unfinished))
        .collect();
    let (inv, comp): (Vec<u64>, Vec<Option<u64>>) = testing::lay_out(&spans).into_iter().unzip();
    let mut next = 0i64;
    gens.iter()
        .enumerate()
        .map(|(n, g)| {
            let mut o = if g.is_read {
                let mut v = Vec::new();
                for e in 0..8 {
                    if g.contents & (1 << e) != 0 {
                        v.push(json!(e));
                        if g.twice & (1 << e) != 0 {
                            v.push(json!(e));
                        }
                    }
                }
                op(
                    "read",
                    Value::Null,
                    Value::Array(v),
                    g.outcome,
                    inv[n],
                    comp[n],
                )
            } else {
                next += 1;
                op(
                    "add",
                    json!(next - 1),
                    Value::Null,
                    g.outcome,
                    inv[n],
                    comp[n],
                )
            };
            o.process = n as u64;
            o
        })
        .collect()
}

/// The definitions of set-full, restated naively over all pairs of operations.
fn oracle(ops: &[Operation], a: &Operation) -> (ElementOutcome, bool) {
    if a.outcome == Outcome::Fail {
        return (ElementOutcome::Failed, false);
    }
    let (relevant, known) = relevant_reads(ops, a);
    let last = relevant.iter().max_by_key(|(r, _)| r.invoke_index);
    let stale_read = |k: u64| {
        relevant
            .iter()
            .any(|(r, present)| !present && r.invoke_index > k)
    };
    match (last, known) {
        (Some((_, true)), Some(k)) => (ElementOutcome::Stable, stale_read(k)),
        (Some((r, false)), Some(k)) if r.invoke_index > k => (ElementOutcome::Lost, false),
        _ => (ElementOutcome::NeverRead, false),
    }
}

/// The ok reads that say anything about the add `a` (completed after it was invoked), each
/// with whether it contained the element, and when the element was known (the earliest
/// completion of its ok add or of a read that contained it).
fn relevant_reads<'a>(
    ops: &'a [Operation],
    a: &Operation,
) -> (Vec<(&'a Operation, bool)>, Option<u64>) {
    let relevant: Vec<(&Operation, bool)> = ops
        .iter()
        .filter(|r| r.f == "read" && r.outcome == Outcome::Ok)
        .filter(|r| r.complete_index.unwrap() > a.invoke_index)
        .map(|r| (r, r.output.as_array().unwrap().contains(&a.input)))
        .collect();
    let known = relevant
        .iter()
        .filter(|(_, present)| *present)
        .map(|(r, _)| r.complete_index.unwrap())
        .chain((a.outcome == Outcome::Ok).then(|| a.complete_index.unwrap()))
        .min();
    (relevant, known)
}

/// A lost element's first read to miss it for good, restated naively: the earliest ok read
/// (by invocation) such that it and every ok read invoked after it, of those that say
/// anything, missed the element and began after it was known.
fn oracle_lost_from(ops: &[Operation], a: &Operation, outcome: ElementOutcome) -> Option<u64> {
    if outcome != ElementOutcome::Lost {
        return None;
    }
    let (relevant, known) = relevant_reads(ops, a);
    let known = known?;
    relevant
        .iter()
        .filter(|(r, _)| r.invoke_index > known)
        .filter(|(r, _)| {
            relevant
                .iter()
                .filter(|(o, _)| o.invoke_index >= r.invoke_index)
                .all(|(_, present)| !present)
        })
        .map(|(r, _)| r.invoke_index)
        .min()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn outcomes_match_the_definitions(gens in prop::collection::vec(gen_op(), 1..12)) {
        let ops = layout(&gens);
        let analysis = analyze(&ops).unwrap();
        for e in &analysis.elements {
            let add = ops.iter().find(|o| o.f == "add" && o.input == e.element).unwrap();
            let (outcome, stale) = oracle(&ops, add);
            prop_assert_eq!(e.outcome, outcome, "element {}", e.element);
            prop_assert_eq!(e.stale, stale, "element {}", e.element);
            let from = e.lost_from.map(|r| r.invoke_index);
            prop_assert_eq!(from, oracle_lost_from(&ops, add, outcome), "element {}", e.element);
        }
        // Unexpected: read by some read that completed before any add of it was invoked.
        for r in ops.iter().filter(|r| r.f == "read") {
            for v in r.output.as_array().unwrap() {
                let explained = ops.iter().any(|a| {
                    a.f == "add" && &a.input == v && a.invoke_index < r.complete_index.unwrap()
                });
                let reported = analysis.unexpected.iter().any(|u| &u.element == v);
                prop_assert!(explained || reported, "{} in read at {}", v, r.invoke_index);
            }
        }
        let dup_reads = ops.iter().filter(|r| {
            let v = r.output.as_array().map(|a| a.as_slice()).unwrap_or(&[]);
            (0..v.len()).any(|i| v[i + 1..].contains(&v[i]))
        }).count();
        prop_assert_eq!(dup_reads > 0, !analysis.duplicated.is_empty());
    }

    /// Histories of a real linearizable set are never flagged: each add takes effect at
    /// one instant inside its interval (info: at any instant after invocation, or never;
    /// fail: never), and each read returns the set at an instant inside its interval.
    #[test]
    fn histories_of_a_real_set_are_valid(
        gens in prop::collection::vec(gen_op(), 1..14),
        points in prop::collection::vec((0u32..1000, any::<bool>()), 14),
    ) {
        let mut ops = layout(&gens);
        let instant = |o: &Operation, (frac, applied): (u32, bool)| -> Option<u64> {
            testing::applied_at(o.outcome, o.invoke_index, o.complete_index, frac, applied)
        };
        let at: Vec<Option<u64>> = ops.iter().zip(&points).map(|(o, &p)| instant(o, p)).collect();
        for k in 0..ops.len() {
            if ops[k].f == "read" {
                let t = at[k].unwrap();
                let contents: Vec<Value> = (0..ops.len())
                    .filter(|&j| ops[j].f == "add" && at[j].is_some_and(|a| a < t))
                    .map(|j| ops[j].input.clone())
                    .collect();
                ops[k].output = Value::Array(contents);
            }
        }
        let r = check(&ops, &lin()).unwrap();
        prop_assert_ne!(r.verdict, Verdict::Invalid, "{:?}", r.anomalies);
    }
}
