//! Lock checkers: hand-written cases for every rule, and properties against brute force
//! (an event-by-event simulation of who certainly holds the lock; all pairs of writes).

use faultline_history::{testing, Operation, Outcome, Verdict};
use faultline_lock_checker::{
    check_fencing, check_overlap, fenced_writes, holds, holds_and_late_writes, overlaps,
    writes_after_later_grants, writes_after_lease_lost, LockOptions,
};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// An op by process `p` invoked at event `i`, completed at `c`; times are index × 1000.
fn op(p: u64, f: &str, outcome: Outcome, i: u64, c: Option<u64>) -> Operation {
    testing::op(p, f, Value::Null, Value::Null, outcome, i, c)
}

fn acq(p: u64, outcome: Outcome, i: u64, c: u64) -> Operation {
    op(p, "acquire", outcome, i, Some(c))
}

fn rel(p: u64, outcome: Outcome, i: u64, c: u64) -> Operation {
    op(p, "release", outcome, i, Some(c))
}

fn verdict(ops: &[Operation], opts: LockOptions) -> Verdict {
    check_overlap(ops, &opts).unwrap().verdict
}

const OK: Outcome = Outcome::Ok;
const NONE: LockOptions = LockOptions { lease_ns: None };

#[test]
fn sequential_holds_are_valid() {
    let h = [
        acq(1, OK, 0, 1),
        rel(1, OK, 2, 3),
        acq(2, OK, 4, 5),
        rel(2, OK, 6, 7),
    ];
    let r = check_overlap(&h, &NONE).unwrap();
    assert_eq!(r.verdict, Verdict::Valid);
    assert_eq!(r.stats["hold-count"], 2);
}

#[test]
fn acquire_granted_while_another_holds_is_an_overlap() {
    let h = [
        acq(1, OK, 0, 1),
        acq(2, OK, 2, 3),
        rel(1, OK, 4, 5),
        rel(2, OK, 6, 7),
    ];
    let r = check_overlap(&h, &NONE).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.anomalies.len(), 1);
    let a = &r.anomalies[0];
    assert_eq!(a.kind, "overlapping-holders");
    assert_eq!(a.events, vec![0, 1, 2, 3, 4, 6]);
    assert_eq!(
        a.explanation,
        "Processes 1 and 2 held the lock at the same time: process 1 acquired it (ok at event 1) and did not begin releasing it until event 4, yet process 2's acquire succeeded at event 3."
    );
    assert_eq!(a.detail["holders"], json!([1, 2]));
}

#[test]
fn acquire_invoked_before_the_release_but_granted_after_its_invocation_is_fine() {
    // 2 asks at 1 while 1 holds; 1 begins releasing at 2; 2 is granted at 3.
    let h = [acq(1, OK, 0, 1), acq(2, OK, 2, 4), rel(1, OK, 3, 5)];
    // 2's ok (4) comes after 1's release invocation (3): maybe sequential.
    assert_eq!(verdict(&h, NONE), Verdict::Valid);
}

#[test]
fn indeterminate_or_failed_release_ends_the_certain_hold() {
    for outcome in [Outcome::Info, Outcome::Fail] {
        let h = [acq(1, OK, 0, 1), rel(1, outcome, 2, 3), acq(2, OK, 4, 5)];
        assert_eq!(verdict(&h, NONE), Verdict::Valid, "{outcome:?}");
    }
    // Release that never completed.
    let h = [
        acq(1, OK, 0, 1),
        op(1, "release", Outcome::Info, 2, None),
        acq(2, OK, 3, 4),
    ];
    assert_eq!(verdict(&h, NONE), Verdict::Valid);
}

#[test]
fn indeterminate_or_failed_acquire_gives_no_hold() {
    let h = [
        acq(1, Outcome::Info, 0, 1),
        acq(3, Outcome::Fail, 2, 3),
        acq(2, OK, 4, 5),
        op(4, "acquire", Outcome::Info, 6, None),
    ];
    let r = check_overlap(&h, &NONE).unwrap();
    assert_eq!(r.verdict, Verdict::Valid);
    assert_eq!(r.stats["hold-count"], 1);
    assert_eq!(r.stats["acquire-info-count"], 2);
}

#[test]
fn unreleased_hold_lasts_to_the_end_unless_the_lease_expires() {
    // 1 acquires (invoked at 0 ns, ok at 1000 ns) and never releases; 2 gets it at 3000 ns.
    let h = [acq(1, OK, 0, 1), acq(2, OK, 2, 3)];
    let r = check_overlap(&h, &NONE).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(r.anomalies[0].explanation.contains("never released it"));
    assert_eq!(r.stats["unreleased-hold-count"], 2);
    // A 3000 ns lease granted no earlier than 0 ns lasts until at least 3000 ns: 2's ok at
    // 3000 ns may come after the expiry.
    assert_eq!(
        verdict(
            &h,
            LockOptions {
                lease_ns: Some(3000)
            }
        ),
        Verdict::Valid
    );
    // A longer lease certainly still held.
    let r = check_overlap(
        &h,
        &LockOptions {
            lease_ns: Some(3001),
        },
    )
    .unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(r.anomalies[0]
        .explanation
        .contains("its lease lasted at least until 3001 ns"));
}

#[test]
fn acquire_acknowledged_after_its_lease_could_have_expired_gives_no_hold() {
    // Invoked at 0 ns, ok at 5000 ns, lease 2000 ns: maybe already expired.
    let h = [acq(1, OK, 0, 5), acq(2, OK, 6, 7)];
    let h2 = holds(
        &h,
        &LockOptions {
            lease_ns: Some(2000),
        },
    )
    .unwrap();
    assert_eq!(h2.len(), 1);
    assert_eq!(h2[0].process, 2);
}

/// An `ok` op whose value reports the lease's latest renewal, `renewed` ns after its invocation.
fn renewed(mut o: Operation, renewed: i64) -> Operation {
    o.output = json!({ "token": 1, "holder": "c", "lease_renewed_ns": renewed });
    o
}

#[test]
fn renewals_the_client_reports_extend_the_lease() {
    let lease = LockOptions {
        lease_ns: Some(2000),
    };
    // 1 waits 5000 ns for the lock (a keepalive renewed its lease 4500 ns after it asked),
    // then holds it; 2's acquire is ok at 6000 ns, within 4500 + 2000: two holders.
    let waited = [
        renewed(acq(1, OK, 0, 5), 4500),
        acq(2, OK, 5, 6),
        rel(1, OK, 7, 8),
    ];
    let r = check_overlap(&waited, &lease).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid, "{r:?}");
    assert!(r.anomalies[0]
        .explanation
        .contains("its lease lasted at least until 6500 ns"));
    // Without the renewal, the acquire may have come after its lease ran out: no hold.
    let unrenewed = [acq(1, OK, 0, 5), acq(2, OK, 5, 6), rel(1, OK, 7, 8)];
    assert_eq!(verdict(&unrenewed, lease), Verdict::Valid);
    // A renewal too early to cover the acknowledgement gives no hold either.
    let early = [
        renewed(acq(1, OK, 0, 5), 2500),
        acq(2, OK, 5, 6),
        rel(1, OK, 7, 8),
    ];
    assert_eq!(verdict(&early, lease), Verdict::Valid);

    // A renewal reported by a write extends the hold past it: 1 acquires at 0-1000 ns,
    // writes at 2000-3000 ns (renewed at 1500 ns, before the write's invocation, and
    // then 2700 ns); 2 gets the lock at 4000 ns, before 2700 + 2000.
    let write = |p, i, c, r| {
        renewed(
            op(p, "write", OK, i, Some(c)),
            r - i64::try_from(i * 1000).unwrap(),
        )
    };
    let held = [
        acq(1, OK, 0, 1),
        write(1, 2, 3, 2700),
        acq(2, OK, 3, 4),
        rel(1, OK, 9, 10),
    ];
    assert_eq!(verdict(&held, lease), Verdict::Invalid);
    // A negative renewal (before the operation began) counts from the invocation back.
    let (hs, late) = holds_and_late_writes(&[renewed(acq(1, OK, 3, 4), -1500)], &lease).unwrap();
    assert!(late.is_empty());
    assert_eq!(hs[0].expires_at, Some(5000));
}

#[test]
fn reacquire_continues_the_hold_and_stray_release_is_ignored() {
    let h = [
        rel(1, OK, 0, 1),
        acq(1, OK, 2, 3),
        acq(1, OK, 4, 5),
        rel(1, OK, 6, 7),
        acq(2, OK, 8, 9),
    ];
    let hs = holds(&h, &NONE).unwrap();
    assert_eq!(hs.len(), 2);
    assert_eq!(
        (hs[0].start_index, hs[0].release_invoke_index),
        (3, Some(6))
    );
    assert_eq!(verdict(&h, NONE), Verdict::Valid);
}

#[test]
fn three_way_overlap_reports_every_pair() {
    let h = [acq(1, OK, 0, 1), acq(2, OK, 2, 3), acq(3, OK, 4, 5)];
    let r = check_overlap(&h, &NONE).unwrap();
    let pairs: Vec<Value> = r
        .anomalies
        .iter()
        .map(|a| a.detail["holders"].clone())
        .collect();
    assert_eq!(pairs.len(), 3);
    let set: BTreeSet<String> = pairs.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        set,
        ["[1,2]", "[1,3]", "[2,3]"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}

#[test]
fn no_certain_hold_is_unknown() {
    let r = check_overlap(&[acq(1, Outcome::Info, 0, 1)], &NONE).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(r.reason.unwrap().contains("no acquire certainly succeeded"));
}

#[test]
fn ok_acquire_without_completion_is_an_error() {
    let e = check_overlap(&[op(1, "acquire", OK, 7, None)], &NONE).unwrap_err();
    assert_eq!(
        e.to_string(),
        "event 7: acquire is ok but has no completion event"
    );
}

// ------------------------------------------------------------------------------- fencing

fn write(p: u64, token: i64, outcome: Outcome, i: u64, c: u64) -> Operation {
    let mut o = op(p, "write", outcome, i, Some(c));
    o.input = json!({"token": token, "holder": p});
    o
}

#[test]
fn increasing_tokens_are_valid() {
    let h = [
        write(1, 1, OK, 0, 1),
        write(2, 2, OK, 2, 3),
        write(2, 2, OK, 4, 5),
    ];
    let r = check_fencing(&h).unwrap();
    assert_eq!(r.verdict, Verdict::Valid);
    assert_eq!(r.stats["accepted-count"], 3);
}

#[test]
fn lower_token_accepted_after_a_higher_one_is_stale() {
    let h = [
        write(1, 33, OK, 0, 1),
        write(2, 34, OK, 2, 3),
        write(1, 33, OK, 4, 5),
    ];
    let r = check_fencing(&h).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.anomalies.len(), 1);
    let a = &r.anomalies[0];
    assert_eq!(a.kind, "stale-fencing-token");
    assert_eq!(a.events, vec![2, 3, 4, 5]);
    assert_eq!(
        a.explanation,
        "The storage accepted token 33 from holder 1 (write invoked at event 4, ok at 5) after it had already accepted the higher token 34 from holder 2 (write ok at event 3)."
    );
    assert_eq!(a.detail["accepted-token"], 34);
}

#[test]
fn concurrent_writes_may_apply_in_either_order() {
    // 34 completes at 3, but 33 was invoked at 1, before that.
    let h = [write(2, 34, OK, 0, 3), write(1, 33, OK, 1, 2)];
    assert_eq!(check_fencing(&h).unwrap().verdict, Verdict::Valid);
    let h = [write(2, 34, OK, 0, 2), write(1, 33, OK, 1, 3)];
    assert_eq!(check_fencing(&h).unwrap().verdict, Verdict::Valid);
}

#[test]
fn indeterminate_higher_write_is_not_known_accepted_and_rejections_are_fine() {
    let h = [write(2, 34, Outcome::Info, 0, 1), write(1, 33, OK, 2, 3)];
    assert_eq!(check_fencing(&h).unwrap().verdict, Verdict::Valid);
    let h = [write(2, 34, OK, 0, 1), write(1, 33, Outcome::Fail, 2, 3)];
    let r = check_fencing(&h).unwrap();
    assert_eq!(r.verdict, Verdict::Valid);
    assert_eq!(r.stats["rejected-count"], 1);
}

#[test]
fn no_accepted_write_is_unknown_and_bad_writes_are_errors() {
    let r = check_fencing(&[write(1, 3, Outcome::Fail, 0, 1)]).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown);
    let mut w = write(1, 3, OK, 4, 5);
    w.input = json!({"holder": 1});
    assert_eq!(
        check_fencing(&[w]).unwrap_err().to_string(),
        "event 4: write's argument must be {\"token\": integer, \"holder\": ...}, got {\"holder\":1}"
    );
    let mut w = write(1, 3, OK, 4, 5);
    w.complete_index = None;
    assert!(fenced_writes(&[w]).is_err());
}

// ---------------------------------------------------------------------------- properties

/// One process's op: a gap after its previous op, a duration, what and how it ended.
#[derive(Clone, Debug)]
struct Step {
    gap: u8,
    len: u8,
    acquire: bool,
    outcome: Outcome,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0u8..4,
        0u8..4,
        any::<bool>(),
        prop_oneof![3 => Just(Outcome::Ok), 1 => Just(Outcome::Info), 1 => Just(Outcome::Fail)],
    )
        .prop_map(|(gap, len, acquire, outcome)| Step {
            gap,
            len,
            acquire,
            outcome,
        })
}

/// Lays out each process's ops one after another on a shared timeline.
fn layout(procs: &[Vec<Step>]) -> Vec<Operation> {
    let mut spans = Vec::new();
    let mut steps = Vec::new(); // (process, f, outcome), in the order of `spans`
    for (p, process_steps) in procs.iter().enumerate() {
        let mut t = 0u32;
        for s in process_steps {
            let start = t + u32::from(s.gap);
            spans.push((start, u32::from(s.len), true));
            let f = if s.acquire { "acquire" } else { "release" };
            steps.push((p as u64, f, s.outcome));
            t = start + u32::from(s.len) + 1;
        }
    }
    steps
        .into_iter()
        .zip(testing::lay_out(&spans))
        .map(|((p, f, outcome), (i, c))| op(p, f, outcome, i, c))
        .collect()
}

/// Brute force: replay events in order, tracking who certainly holds the lock (from an
/// ok acquire's completion to the invocation of its next release) and recording every
/// pair of holds, by their start events, alive at the same moment.
fn oracle(ops: &[Operation]) -> BTreeSet<(u64, u64)> {
    let mut events: Vec<(u64, &Operation, bool)> = Vec::new();
    for o in ops {
        events.push((o.invoke_index, o, false));
        if let Some(c) = o.complete_index {
            events.push((c, o, true));
        }
    }
    events.sort_by_key(|e| e.0);
    let mut holding: std::collections::BTreeMap<u64, u64> = Default::default();
    let mut pairs = BTreeSet::new();
    for (idx, o, completion) in events {
        match (o.f.as_str(), completion) {
            ("acquire", true) if o.outcome == Outcome::Ok => {
                holding.entry(o.process).or_insert(idx);
            }
            ("release", false) => {
                holding.remove(&o.process);
            }
            _ => {}
        }
        let starts: Vec<u64> = holding.values().copied().collect();
        for (i, &a) in starts.iter().enumerate() {
            for &b in &starts[i + 1..] {
                pairs.insert((a.min(b), a.max(b)));
            }
        }
    }
    pairs
}

/// An ok acquire or write by `p` with a token and a revision.
fn placed(p: u64, f: &str, token: i64, revision: i64, i: u64, c: u64) -> Operation {
    let out = json!({"token": token, "holder": format!("n1#{p}"), "revision": revision});
    testing::op(p, f, Value::Null, out, OK, i, Some(c))
}

#[test]
fn a_write_placed_after_a_later_grant_is_certain_whatever_the_lease_says() {
    // Process 1 holds token 11 and writes; its write hangs, the lock goes to process 7 on
    // token 12 (granted at revision 55), and 1's write lands at revision 61.
    let h = [
        placed(1, "acquire", 11, 50, 0, 1),
        placed(7, "acquire", 12, 55, 2, 4),
        placed(7, "write", 12, 56, 5, 6),
        placed(1, "write", 11, 61, 3, 7),
    ];
    // The lease cannot tell: the write was invoked while 1's lease still ran.
    let opts = LockOptions {
        lease_ns: Some(10_000_000),
    };
    let r = check_overlap(&h, &opts).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    let a = r
        .anomalies
        .iter()
        .find(|a| a.kind == "write-after-lock-moved")
        .expect("the placed write is reported");
    assert_eq!(a.events, vec![3, 4, 7]);
    assert_eq!(
        a.explanation,
        "Process 1's write on token 11 (ok at event 7) landed at revision 61, after process 7 had been granted the lock on token 12 (ok at event 4, revision 55): by then every hold on a lower token had ended, so the write took effect without the lock."
    );
    assert_eq!(r.stats["write-after-lock-moved-count"], 1);
}

#[test]
fn writes_placed_before_later_grants_or_without_revisions_are_not_judged() {
    let before = [
        placed(1, "acquire", 11, 50, 0, 1),
        placed(1, "write", 11, 54, 2, 3),
        placed(7, "acquire", 12, 55, 4, 5),
    ];
    assert!(writes_after_later_grants(&before).is_empty());
    // A grant on a lower token says nothing about a later token's write.
    let lower = [
        placed(7, "acquire", 10, 40, 0, 1),
        placed(1, "acquire", 11, 50, 2, 3),
        placed(1, "write", 11, 61, 4, 5),
    ];
    assert!(writes_after_later_grants(&lower).is_empty());
    // Without revisions (Redis, SQL) there is no order to compare.
    let tokens_only = |p, f: &str, t: i64, i, c| {
        testing::op(p, f, Value::Null, json!({"token": t}), OK, i, Some(c))
    };
    let unordered = [
        tokens_only(1, "acquire", 11, 0, 1),
        tokens_only(7, "acquire", 12, 2, 3),
        tokens_only(1, "write", 11, 4, 5),
    ];
    assert!(writes_after_later_grants(&unordered).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every write the checker names, and only those, has some grant on a higher token by
    /// another process placed before it (all pairs compared).
    #[test]
    fn placed_writes_match_all_pairs(
        grants in prop::collection::vec((0u64..4, 0i64..20, 0i64..100), 0..8),
        writes in prop::collection::vec((0u64..4, 0i64..20, 0i64..100), 0..8),
    ) {
        let mut ops = Vec::new();
        for (i, (p, t, r)) in grants.iter().enumerate() {
            ops.push(placed(*p, "acquire", *t, *r, 2 * i as u64, 2 * i as u64 + 1));
        }
        for (i, (p, t, r)) in writes.iter().enumerate() {
            let at = 100 + 2 * i as u64;
            ops.push(placed(*p, "write", *t, *r, at, at + 1));
        }
        let got: BTreeSet<u64> = writes_after_later_grants(&ops).iter().map(|w| w.write.1).collect();
        let want: BTreeSet<u64> = writes
            .iter()
            .enumerate()
            .filter(|(_, (p, t, r))| grants.iter().any(|(q, u, g)| q != p && u > t && g < r))
            .map(|(i, _)| 101 + 2 * i as u64)
            .collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn overlaps_match_an_event_by_event_replay(
        procs in prop::collection::vec(prop::collection::vec(step(), 0..6), 1..5)
    ) {
        let ops = layout(&procs);
        let hs = holds(&ops, &NONE).unwrap();
        let got: BTreeSet<(u64, u64)> = overlaps(&hs)
            .iter()
            .map(|(a, b)| (a.start_index, b.start_index))
            .collect();
        prop_assert_eq!(&got, &oracle(&ops));
        let r = check_overlap(&ops, &NONE).unwrap();
        prop_assert_eq!(r.anomalies.len(), got.len());
    }

    /// A lease only shortens holds, so it can only remove overlaps: every hold under a
    /// lease lies within a hold without it, and every overlap under a lease lies within
    /// an overlap without it.
    #[test]
    fn leases_only_remove_overlaps(
        procs in prop::collection::vec(prop::collection::vec(step(), 0..6), 1..5),
        lease in 0u64..20_000,
    ) {
        let ops = layout(&procs);
        let unleased = holds(&ops, &NONE).unwrap();
        let leased = holds(&ops, &LockOptions { lease_ns: Some(lease) }).unwrap();
        let within = |h: &faultline_lock_checker::Hold| -> u64 {
            unleased
                .iter()
                .find(|g| {
                    g.process == h.process
                        && g.start_index <= h.start_index
                        && g.release_invoke_index.map_or(true, |r| {
                            h.release_invoke_index.is_some_and(|hr| hr <= r)
                        })
                })
                .map(|g| g.start_index)
                .expect("a leased hold lies within an unleased one")
        };
        let unleased_pairs: BTreeSet<(u64, u64)> = overlaps(&unleased)
            .iter()
            .map(|(a, b)| (a.start_index, b.start_index))
            .collect();
        for (a, b) in overlaps(&leased) {
            let (x, y) = (within(&a), within(&b));
            prop_assert!(unleased_pairs.contains(&(x.min(y), x.max(y))));
        }
    }

    #[test]
    fn stale_tokens_match_all_pairs(
        ws in prop::collection::vec((0u64..8, 0u8..12, 0u8..4, 0usize..3), 1..10)
    ) {
        // Writes by independent processes at random intervals.
        let spans: Vec<(u32, u32, bool)> =
            ws.iter().map(|&(_, start, len, _)| (start.into(), len.into(), true)).collect();
        let ops: Vec<Operation> = ws
            .iter()
            .zip(testing::lay_out(&spans))
            .enumerate()
            .map(|(n, (&(token, _, _, o), (i, c)))| {
                let outcome = [Outcome::Ok, Outcome::Info, Outcome::Fail][o];
                write(n as u64, token as i64, outcome, i, c.expect("every write finishes"))
            })
            .collect();
        let r = check_fencing(&ops).unwrap();
        let flagged: BTreeSet<u64> = r.anomalies.iter().map(|a| a.events[2]).collect();
        let ok: Vec<&Operation> = ops.iter().filter(|o| o.outcome == Outcome::Ok).collect();
        let token = |o: &Operation| o.input["token"].as_i64().unwrap();
        let expected: BTreeSet<u64> = ok
            .iter()
            .filter(|w| {
                ok.iter().any(|a| a.complete_index.unwrap() < w.invoke_index && token(a) > token(w))
            })
            .map(|w| w.invoke_index)
            .collect();
        prop_assert_eq!(flagged, expected);
    }

    /// With a lease, every `write-after-lease-expired` the checker reports is confirmed by
    /// replaying the raw operations: the writer's hold began with an ok acquire and was not
    /// released; its lease, renewed by each ok write made while it still ran, had run out
    /// when the write was invoked; and another process's acquire had succeeded after that,
    /// before the write. And every such write is reported.
    #[test]
    fn writes_after_the_lease_match_a_replay(
        procs in prop::collection::vec(
            prop::collection::vec((step(), 0u8..3), 0..8), 1..4),
        lease in 1u64..12_000,
    ) {
        // Acquire, write or release per step (the bool of `step` is ignored).
        let mut spans = Vec::new();
        let mut what = Vec::new();
        for (p, steps) in procs.iter().enumerate() {
            let mut t = 0u32;
            for (s, kind) in steps {
                let start = t + u32::from(s.gap);
                spans.push((start, u32::from(s.len), true));
                let f = ["acquire", "write", "release"][usize::from(*kind)];
                what.push((p as u64, f, s.outcome));
                t = start + u32::from(s.len) + 1;
            }
        }
        let ops: Vec<Operation> = what
            .into_iter()
            .zip(testing::lay_out(&spans))
            .map(|((p, f, outcome), (i, c))| op(p, f, outcome, i, c))
            .collect();
        let opts = LockOptions { lease_ns: Some(lease) };
        let (hs, late) = holds_and_late_writes(&ops, &opts).unwrap();
        let got: BTreeSet<u64> = writes_after_lease_lost(&hs, &late)
            .iter()
            .map(|(w, _)| w.invoke_index)
            .collect();

        // Replay each process alone, in invocation order: its holds (start index and
        // time) and its late writes (hold start, lease end, write invocation).
        let mut starts: Vec<(u64, u64, u64)> = Vec::new();
        let mut late_writes: Vec<(u64, u64, u64, u64)> = Vec::new();
        let mut by_process: std::collections::BTreeMap<u64, Vec<&Operation>> = Default::default();
        for o in &ops {
            by_process.entry(o.process).or_default().push(o);
        }
        for (p, mut mine) in by_process {
            mine.sort_by_key(|o| o.invoke_index);
            let mut hold: Option<(u64, u64)> = None;
            for o in mine {
                match (o.f.as_str(), o.outcome) {
                    ("acquire", Outcome::Ok) if hold.is_none() => {
                        let end = o.invoke_time + lease;
                        if o.complete_time.unwrap() < end {
                            hold = Some((o.complete_index.unwrap(), end));
                            starts.push((p, o.complete_index.unwrap(), o.complete_time.unwrap()));
                        }
                    }
                    ("write", Outcome::Ok) => {
                        if let Some((start, end)) = hold {
                            if o.invoke_time < end {
                                hold = Some((start, end.max(o.invoke_time + lease)));
                            } else {
                                late_writes.push((p, start, end, o.invoke_index));
                            }
                        }
                    }
                    ("release", _) => hold = None,
                    _ => {}
                }
            }
        }
        let expected: BTreeSet<u64> = late_writes
            .iter()
            .filter(|&&(p, start, end, write)| {
                starts
                    .iter()
                    .any(|&(q, s, t)| q != p && s > start && s < write && t >= end)
            })
            .map(|w| w.3)
            .collect();
        prop_assert_eq!(got, expected);
    }
}
