//! Hand-written histories for each model, counterexamples, errors, budgets and progress.

use faultline_history::{Operation, Outcome, Verdict, COMPARE_FAILED};
use faultline_linearizability::synth::{generate, SynthConfig};
use faultline_linearizability::{
    check, model_by_name, CheckOptions, ModelOptions, ModelSpec, Progress, MODEL_NAMES,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Builds operations from `(process, f, value, outcome, invoke, complete)`; `ok` ops carry the
/// value as both input and output, reads (`read`/`get`/`dequeue`) only as output.
/// `(process, f, value, outcome, invoke index, complete index)`.
type Spec<'a> = (u64, &'a str, Value, &'a str, u64, Option<u64>);

fn history(spec: &[Spec]) -> Vec<Operation> {
    spec.iter()
        .map(|(p, f, v, outcome, inv, comp)| {
            let reads = matches!(*f, "read" | "get" | "dequeue");
            let (outcome, error) = match *outcome {
                "ok" => (Outcome::Ok, None),
                "info" => (Outcome::Info, Some(json!("timeout"))),
                "cf" => (Outcome::Fail, Some(json!(COMPARE_FAILED))),
                _ => (Outcome::Fail, Some(json!("refused"))),
            };
            Operation {
                process: *p,
                f: f.to_string(),
                key: None,
                input: if reads { Value::Null } else { v.clone() },
                output: if outcome == Outcome::Ok {
                    v.clone()
                } else {
                    Value::Null
                },
                outcome,
                error,
                invoke_index: *inv,
                complete_index: *comp,
                invoke_time: *inv,
                complete_time: *comp,
            }
        })
        .collect()
}

fn verdict(ops: &[Operation], model: ModelSpec) -> Verdict {
    check(ops, model, &CheckOptions::default()).unwrap().verdict
}

#[test]
fn every_named_model_resolves() {
    for name in MODEL_NAMES {
        assert_eq!(model_by_name(name).unwrap().name(), *name);
    }
    assert!(model_by_name("queue").is_none());
    let err = "queue".parse::<ModelSpec>().unwrap_err().to_string();
    assert!(
        err.contains("unknown model `queue`") && err.contains("fifo-queue"),
        "{err}"
    );
}

#[test]
fn register_stale_read_is_invalid_and_explained() {
    // write 1 completes, then a read returns the initial null... with null meaning absent.
    let ops = history(&[
        (0, "write", json!(1), "ok", 0, Some(1)),
        (1, "read", json!(2), "ok", 2, Some(3)),
        (0, "write", json!(2), "ok", 4, Some(5)),
    ]);
    let r = check(&ops, ModelSpec::Register, &CheckOptions::default()).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    let c = &r.counterexamples[0];
    assert_eq!((c.op.invoke_index, c.op.complete_index), (2, Some(3)));
    assert_eq!(c.state, json!(1));
    assert_eq!(c.prefix.len(), 1);
    assert!(
        c.explanation
            .contains("the only write of that value was invoked after this read completed"),
        "{}",
        c.explanation
    );
    let result = r.to_checker_result();
    assert_eq!(result.checker, "linearizability");
    assert_eq!(result.anomalies.len(), 1);
    assert_eq!(result.anomalies[0].kind, "nonlinearizable");
    assert!(result.anomalies[0].events.contains(&2));
    assert_eq!(result.anomalies[0].detail["op"]["f"], "read");
}

#[test]
fn register_read_of_never_written_value_says_so() {
    let ops = history(&[
        (0, "write", json!(1), "ok", 0, Some(1)),
        (1, "read", json!(7), "ok", 2, Some(3)),
    ]);
    let r = check(&ops, ModelSpec::Register, &CheckOptions::default()).unwrap();
    let e = &r.counterexamples[0].explanation;
    assert!(e.contains("no operation ever wrote that value"), "{e}");
}

#[test]
fn concurrent_write_and_read_may_see_either_value() {
    for seen in [json!(0), json!(1)] {
        let ops = history(&[
            (0, "write", json!(0), "ok", 0, Some(1)),
            (0, "write", json!(1), "ok", 2, Some(5)),
            (1, "read", seen, "ok", 3, Some(4)),
        ]);
        assert_eq!(verdict(&ops, ModelSpec::Register), Verdict::Valid);
    }
}

#[test]
fn knossos_nil_reads_match_any_state_only_when_asked() {
    let ops = history(&[
        (0, "write", json!(3), "ok", 0, Some(1)),
        (1, "read", Value::Null, "ok", 2, Some(3)),
    ]);
    assert_eq!(verdict(&ops, ModelSpec::CasRegister), Verdict::Invalid);
    let knossos = CheckOptions {
        model: ModelOptions {
            nil_read_matches_any: true,
            initial: None,
        },
        ..CheckOptions::default()
    };
    for model in [ModelSpec::Register, ModelSpec::CasRegister] {
        assert_eq!(
            check(&ops, model, &knossos).unwrap().verdict,
            Verdict::Valid
        );
    }
}

#[test]
fn compare_failed_cas_needs_a_different_value_during_the_call() {
    // The register holds 1 for the whole cas call: a compare failure against 1 is impossible.
    let bad = history(&[
        (0, "write", json!(1), "ok", 0, Some(1)),
        (1, "cas", json!([1, 2]), "cf", 2, Some(3)),
    ]);
    assert_eq!(verdict(&bad, ModelSpec::CasRegister), Verdict::Invalid);
    // A concurrent write of 5 makes it possible; a plain failure never constrains anything.
    let ok = history(&[
        (0, "write", json!(1), "ok", 0, Some(1)),
        (1, "cas", json!([1, 2]), "cf", 2, Some(5)),
        (2, "write", json!(5), "ok", 3, Some(4)),
    ]);
    assert_eq!(verdict(&ok, ModelSpec::CasRegister), Verdict::Valid);
    let plain = history(&[
        (0, "write", json!(1), "ok", 0, Some(1)),
        (1, "cas", json!([1, 2]), "fail", 2, Some(3)),
    ]);
    assert_eq!(verdict(&plain, ModelSpec::CasRegister), Verdict::Valid);
}

#[test]
fn info_ops_may_happen_late_or_never() {
    // An info write may take effect long after it completed as info...
    let late = history(&[
        (0, "write", json!(1), "info", 0, Some(1)),
        (1, "read", Value::Null, "ok", 2, Some(3)),
        (1, "read", json!(1), "ok", 4, Some(5)),
    ]);
    assert_eq!(verdict(&late, ModelSpec::Register), Verdict::Valid);
    // ...or never, even a cas that could not apply at the end.
    let never = history(&[
        (0, "cas", json!([7, 8]), "info", 0, None),
        (1, "write", json!(1), "ok", 1, Some(2)),
        (1, "read", json!(1), "ok", 3, Some(4)),
    ]);
    assert_eq!(verdict(&never, ModelSpec::CasRegister), Verdict::Valid);
    // But an ok op cannot take effect before it is invoked.
    let early = history(&[
        (1, "read", json!(1), "ok", 0, Some(1)),
        (0, "write", json!(1), "info", 2, None),
    ]);
    assert_eq!(verdict(&early, ModelSpec::Register), Verdict::Invalid);
}

#[test]
fn many_identical_open_info_ops_do_not_blow_up() {
    // 40 identical info writes all open at once, then reads that need exactly one of them.
    let mut spec = Vec::new();
    for p in 0..40u64 {
        spec.push((p, "write", json!(1), "info", p, None));
    }
    spec.push((100, "read", json!(1), "ok", 50, Some(51)));
    spec.push((100, "write", json!(2), "ok", 52, Some(53)));
    spec.push((100, "read", json!(1), "ok", 54, Some(55)));
    spec.push((100, "read", json!(3), "ok", 56, Some(57)));
    let ops = history(&spec);
    let r = check(&ops, ModelSpec::Register, &CheckOptions::default()).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(r.stats.states < 10_000, "{} states", r.stats.states);
}

#[test]
fn mutex_double_acquire_is_invalid() {
    let ops = history(&[
        (0, "acquire", Value::Null, "ok", 0, Some(1)),
        (1, "acquire", Value::Null, "ok", 2, Some(3)),
    ]);
    assert_eq!(verdict(&ops, ModelSpec::Mutex), Verdict::Invalid);
    let ok = history(&[
        (0, "acquire", Value::Null, "ok", 0, Some(1)),
        (1, "acquire", Value::Null, "ok", 2, Some(5)),
        (0, "release", Value::Null, "ok", 3, Some(4)),
    ]);
    assert_eq!(verdict(&ok, ModelSpec::Mutex), Verdict::Valid);
}

#[test]
fn queues_differ_on_order() {
    let ops = history(&[
        (0, "enqueue", json!(1), "ok", 0, Some(1)),
        (0, "enqueue", json!(2), "ok", 2, Some(3)),
        (1, "dequeue", json!(2), "ok", 4, Some(5)),
        (1, "dequeue", json!(1), "ok", 6, Some(7)),
    ]);
    assert_eq!(verdict(&ops, ModelSpec::FifoQueue), Verdict::Invalid);
    assert_eq!(verdict(&ops, ModelSpec::UnorderedQueue), Verdict::Valid);
    // Knossos: dequeuing from an empty queue is inconsistent.
    let empty = history(&[(1, "dequeue", json!(1), "ok", 0, Some(1))]);
    assert_eq!(verdict(&empty, ModelSpec::UnorderedQueue), Verdict::Invalid);
}

#[test]
fn set_reads_compare_as_sets() {
    let ops = history(&[
        (0, "add", json!(1), "ok", 0, Some(1)),
        (0, "add", json!(2), "ok", 2, Some(3)),
        (1, "read", json!([2, 1, 2]), "ok", 4, Some(5)),
    ]);
    assert_eq!(verdict(&ops, ModelSpec::Set), Verdict::Valid);
    let missing = history(&[
        (0, "add", json!(1), "ok", 0, Some(1)),
        (1, "read", json!([]), "ok", 2, Some(3)),
    ]);
    assert_eq!(verdict(&missing, ModelSpec::Set), Verdict::Invalid);
}

#[test]
fn multi_register_transactions() {
    let ops = history(&[
        (
            0,
            "txn",
            json!([["write", "x", 1], ["write", "y", 2]]),
            "ok",
            0,
            Some(1),
        ),
        (
            1,
            "txn",
            json!([["read", "x", 1], ["read", "y", 2]]),
            "ok",
            2,
            Some(3),
        ),
    ]);
    assert_eq!(verdict(&ops, ModelSpec::MultiRegister), Verdict::Valid);
    let torn = history(&[
        (
            0,
            "txn",
            json!([["write", "x", 1], ["write", "y", 2]]),
            "ok",
            0,
            Some(1),
        ),
        (
            1,
            "txn",
            json!([["read", "x", 1], ["read", "y", null]]),
            "ok",
            2,
            Some(3),
        ),
    ]);
    assert_eq!(verdict(&torn, ModelSpec::MultiRegister), Verdict::Invalid);
}

#[test]
fn kv_appends_and_keys_split_or_not() {
    let mut ops = history(&[
        (0, "append", json!("a"), "ok", 0, Some(3)),
        (1, "append", json!("b"), "ok", 1, Some(4)),
        (2, "get", json!("ba"), "ok", 5, Some(6)),
        (3, "put", json!("z"), "ok", 7, Some(8)),
        (3, "get", json!("z"), "ok", 9, Some(10)),
    ]);
    for (i, o) in ops.iter_mut().enumerate() {
        o.key = Some(json!(if i < 3 { "k1" } else { "k2" }));
    }
    for split in [true, false] {
        let opts = CheckOptions {
            split,
            ..CheckOptions::default()
        };
        assert_eq!(
            check(&ops, ModelSpec::Kv, &opts).unwrap().verdict,
            Verdict::Valid
        );
    }
    ops[2].output = json!("ab b");
    for split in [true, false] {
        let opts = CheckOptions {
            split,
            ..CheckOptions::default()
        };
        let r = check(&ops, ModelSpec::Kv, &opts).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid, "split={split}");
        assert_eq!(r.counterexamples[0].op.invoke_index, 5);
    }
}

#[test]
fn ops_that_do_not_fit_the_model_are_clear_errors() {
    let ops = history(&[
        (0, "write", json!(1), "ok", 0, Some(1)),
        (0, "append", json!(1), "ok", 12, Some(13)),
    ]);
    let err = check(&ops, ModelSpec::CasRegister, &CheckOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "operation at event 12: model cas-register has no function `append`"
    );
    let bad_cas = history(&[(0, "cas", json!(1), "ok", 3, Some(4))]);
    let err = check(&bad_cas, ModelSpec::CasRegister, &CheckOptions::default()).unwrap_err();
    assert!(
        err.to_string().starts_with("operation at event 3: "),
        "{err}"
    );
}

fn big_history() -> Vec<Operation> {
    generate(&SynthConfig {
        ops: 20_000,
        keys: 1,
        processes: 30,
        seed: 3,
        info_rate: 0.02,
        violation: false,
        kind: Default::default(),
    })
}

#[test]
fn budgets_and_cancellation_give_unknown_with_a_reason() {
    let ops = big_history();
    let timed = CheckOptions {
        time_limit: Some(Duration::ZERO),
        ..CheckOptions::default()
    };
    let r = check(&ops, ModelSpec::Kv, &timed).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown);
    let reason = r.reason.unwrap();
    assert!(
        reason.starts_with("time limit") && reason.contains("0 of 1 keys"),
        "{reason}"
    );

    let small = CheckOptions {
        memory_limit: Some(1),
        ..CheckOptions::default()
    };
    let r = check(&ops, ModelSpec::Kv, &small).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(r.reason.unwrap().starts_with("memory limit"));

    let cancel = Arc::new(AtomicBool::new(true));
    let cancelled = CheckOptions {
        cancel: Some(cancel.clone()),
        ..CheckOptions::default()
    };
    let r = check(&ops, ModelSpec::Kv, &cancelled).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(r.reason.unwrap().starts_with("cancelled"));
    cancel.store(false, Ordering::Relaxed);
    let ops = generate(&SynthConfig {
        ops: 3_000,
        keys: 1,
        processes: 10,
        ..SynthConfig::default()
    });
    assert_eq!(
        check(&ops, ModelSpec::Kv, &cancelled).unwrap().verdict,
        Verdict::Valid
    );
}

#[test]
fn progress_reaches_total() {
    let ops = generate(&SynthConfig {
        ops: 5_000,
        keys: 50,
        ..SynthConfig::default()
    });
    let progress = Arc::new(Progress::default());
    let opts = CheckOptions {
        progress: Some(progress.clone()),
        ..CheckOptions::default()
    };
    let r = check(&ops, ModelSpec::Kv, &opts).unwrap();
    assert_eq!(r.verdict, Verdict::Valid);
    let total = progress.total.load(Ordering::Relaxed);
    assert_eq!(total, r.stats.checked as u64);
    assert_eq!(progress.done.load(Ordering::Relaxed), total);
    assert_eq!(progress.keys_done.load(Ordering::Relaxed), 50);
    assert_eq!(progress.keys_total.load(Ordering::Relaxed), 50);
}

mod exact_values {
    use faultline_linearizability::values::Interner;
    use proptest::prelude::*;
    use serde_json::Value;

    /// JSON number text: integers of any length and sign, decimals, exponents.
    fn number_text() -> impl Strategy<Value = String> {
        (
            any::<bool>(),
            "(0|[1-9][0-9]{0,40})",
            proptest::option::of("[0-9]{1,25}"),
            proptest::option::of("[eE][+-]?[0-9]{1,3}"),
        )
            .prop_map(|(neg, int, frac, exp)| {
                let mut s = String::new();
                if neg {
                    s.push('-');
                }
                s.push_str(&int);
                if let Some(f) = frac {
                    s.push('.');
                    s.push_str(&f);
                }
                if let Some(e) = exp {
                    s.push_str(&e);
                }
                s
            })
    }

    /// serde_json spells an exponent `e` with its sign (`1E3` is `1e+3`); otherwise a number
    /// keeps its text exactly.
    fn normal(text: &str) -> String {
        let text = text.replace('E', "e");
        match text.split_once('e') {
            Some((m, e)) if !e.starts_with(['+', '-']) => format!("{m}e+{e}"),
            _ => text,
        }
    }

    proptest! {
        /// Issue 8 item 1: two distinct numbers never compare equal, whatever their size, in
        /// the values the reader produces and in the checker's interner; equal ones always do.
        #[test]
        fn distinct_numbers_never_compare_equal(a in number_text(), b in number_text()) {
            let va: Value = serde_json::from_str(&a).unwrap();
            let vb: Value = serde_json::from_str(&b).unwrap();
            let same = normal(&a) == normal(&b);
            prop_assert_eq!(va == vb, same, "{} vs {}", a, b);
            let mut interner = Interner::default();
            let (ia, ib) = (interner.intern(&va), interner.intern(&vb));
            prop_assert_eq!(ia == ib, same, "{} vs {}", a, b);
            prop_assert_eq!(interner.value(ia), va);
        }
    }
}

/// One search over a large keyed history (enough ops that each key is first searched alone)
/// gives the split check's verdict, valid and with one stale read; the stale read's key is the
/// counterexample's.
#[test]
fn large_keyed_history_not_split_agrees_with_split() {
    let mut invalid = 0;
    for seed in 0..12 {
        for violation in [false, true] {
            let ops = generate(&SynthConfig {
                ops: 1200,
                keys: 4,
                processes: 8,
                seed,
                violation,
                ..SynthConfig::default()
            });
            let mut verdicts = Vec::new();
            for split in [true, false] {
                let opts = CheckOptions {
                    split,
                    ..CheckOptions::default()
                };
                let r = check(&ops, ModelSpec::Kv, &opts).unwrap();
                assert_ne!(r.verdict, Verdict::Unknown, "seed {seed} split={split}");
                assert_eq!(
                    r.verdict == Verdict::Invalid,
                    !r.counterexamples.is_empty(),
                    "seed {seed} split={split}"
                );
                verdicts.push(r.verdict);
            }
            assert_eq!(
                verdicts[0], verdicts[1],
                "seed {seed} violation={violation}"
            );
            if !violation {
                assert_eq!(verdicts[0], Verdict::Valid, "seed {seed}");
            }
            invalid += usize::from(verdicts[0] == Verdict::Invalid);
        }
    }
    assert!(invalid >= 6, "{invalid} of 12 stale reads found");
}

/// Forty crashed writes of values no one reads, open through 200 sequential writes and
/// reads: each may take effect in any gap, so without merging their values (they are
/// indistinguishable) and pruning configurations with more of them linearized, every subset
/// would be a distinct configuration. The one crashed write that is read is still found.
#[test]
fn crashed_writes_no_one_reads_do_not_blow_up() {
    let mut spec: Vec<Spec> = (0..40u64)
        .map(|i| (100 + i, "write", json!(1000 + i), "info", i, None))
        .collect();
    let mut at = 40;
    for i in 0..100u64 {
        spec.push((0, "write", json!(i), "ok", at, Some(at + 1)));
        spec.push((0, "read", json!(i), "ok", at + 2, Some(at + 3)));
        at += 4;
    }
    for (last, want) in [(json!(99), Verdict::Valid), (json!(1005), Verdict::Valid)] {
        let mut spec = spec.clone();
        spec.push((0, "read", last, "ok", at, Some(at + 1)));
        let r = check(
            &history(&spec),
            ModelSpec::CasRegister,
            &CheckOptions::default(),
        )
        .unwrap();
        assert_eq!(r.verdict, want);
        assert!(r.stats.states < 20_000, "{} states", r.stats.states);
    }
    spec.push((0, "read", json!(2000), "ok", at, Some(at + 1)));
    assert_eq!(
        verdict(&history(&spec), ModelSpec::CasRegister),
        Verdict::Invalid
    );
}

/// A counterexample whose state is a value no operation reads does not name one of the
/// (merged) unread values as the one the register holds.
#[test]
fn unread_value_is_not_named_in_an_explanation() {
    let ops = history(&[
        (0, "write", json!(1), "ok", 0, Some(1)),
        (0, "write", json!(2), "ok", 2, Some(3)),
        (0, "read", json!(3), "ok", 4, Some(5)),
    ]);
    let r = check(&ops, ModelSpec::CasRegister, &CheckOptions::default()).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    let why = &r.counterexamples[0].explanation;
    assert!(why.contains("a value no operation reads"), "{why}");
    assert!(!why.contains("holds 1"), "{why}");
}

/// Issue 18: an empty history is no evidence: unknown, offline and streamed alike.
#[test]
fn an_empty_history_is_unknown() {
    for model in [ModelSpec::CasRegister, ModelSpec::Kv, ModelSpec::Set] {
        let r = faultline_linearizability::check(&[], model, &CheckOptions::default()).unwrap();
        assert_eq!(r.verdict, Verdict::Unknown, "{model:?}");
        assert_eq!(
            r.reason.as_deref(),
            Some(faultline_linearizability::NO_OPERATIONS)
        );
        let stream = faultline_linearizability::SpecStream::new(model, CheckOptions::default());
        let s = stream.finish().unwrap();
        assert_eq!(s.verdict, Verdict::Unknown, "{model:?}");
    }
}
