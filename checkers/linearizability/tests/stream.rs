//! Property tests: the streamed checker, fed a history one event at a time, reaches the offline
//! check's verdict and finds the same non-linearizable keys, on synthetic kv and register
//! histories (with `info` ops, many keys, stale reads) and on random register histories that
//! are often not linearizable; every key it reports while the history grows is one the
//! offline check finds bad in the whole history.

use faultline_history::{pair, Event, EventType, Process, Verdict};
use faultline_linearizability::synth::{events, generate, SynthConfig, SynthKind};
use faultline_linearizability::{check, CheckOptions, ModelSpec, SpecStream};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use std::cell::Cell;
use std::collections::BTreeSet;

fn key_set(keys: impl IntoIterator<Item = Option<Value>>) -> BTreeSet<String> {
    keys.into_iter()
        .map(|k| k.map(|k| k.to_string()).unwrap_or_default())
        .collect()
}

/// Feeds `events` to a streamed checker and compares with the offline check of the same
/// events; returns the verdict for the caller's coverage counts.
fn agree(events: &[Event], spec: ModelSpec) -> Result<(Verdict, usize), TestCaseError> {
    let opts = CheckOptions {
        all_keys: true,
        ..CheckOptions::default()
    };
    let ops = pair(events, &[]).expect("generated histories pair");
    let offline = check(&ops, spec, &opts).expect("generated histories fit the model");
    let mut stream = SpecStream::new(spec, opts);
    let mut early = Vec::new();
    for ev in events {
        early.extend(stream.push(ev).expect("generated events are well formed"));
    }
    let streamed = stream.finish().expect("same ops as offline");
    prop_assert_eq!(streamed.verdict, offline.verdict, "offline: {:?}", offline);
    let bad = key_set(offline.counterexamples.iter().map(|c| c.key.clone()));
    prop_assert_eq!(
        key_set(streamed.counterexamples.iter().map(|c| c.key.clone())),
        bad.clone()
    );
    let found = key_set(early.iter().map(|f| f.key.clone()));
    prop_assert!(found.is_subset(&bad), "early {found:?}, offline {bad:?}");
    prop_assert_eq!(streamed.stats.ops, ops.len());
    Ok((streamed.verdict, early.len()))
}

/// A random register history: each step a random process invokes a random op on one of
/// `keys` keys, or completes its open one with a random result (ok, compare-failed, info).
/// With few values and random results many histories are not linearizable.
fn random_register(seed: u64, processes: u64, keys: u64, steps: usize) -> Vec<Event> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let values = [Value::Null, json!(0), json!(1), json!(2)];
    let mut open: Vec<Option<(String, Value, Value)>> = vec![None; processes as usize];
    let mut ids: Vec<u64> = (0..processes).collect();
    // The last value written per key: reads mostly return it, so many keys stay valid.
    let mut last = vec![Value::Null; keys as usize];
    let mut out = Vec::new();
    for i in 0..steps as u64 {
        let p = next(processes) as usize;
        let (kind, f, key, value, error) = match open[p].take() {
            None => {
                let key = json!(next(keys));
                let (f, v) = match next(3) {
                    0 => ("read", Value::Null),
                    1 => ("write", values[1 + next(3) as usize].clone()),
                    _ => (
                        "cas",
                        json!([values[next(4) as usize], values[1 + next(3) as usize]]),
                    ),
                };
                open[p] = Some((f.to_string(), key.clone(), v.clone()));
                (EventType::Invoke, f.to_string(), key, v, None)
            }
            Some((f, key, v)) => match next(10) {
                0 => (EventType::Info, f, key, v, Some(json!("timeout"))),
                1 | 2 if f == "cas" => (EventType::Fail, f, key, v, Some(json!("compare-failed"))),
                _ if f == "read" => {
                    let read = if next(4) == 0 {
                        values[next(4) as usize].clone()
                    } else {
                        last[key.as_u64().unwrap_or(0) as usize].clone()
                    };
                    (EventType::Ok, f, key, read, None)
                }
                _ => {
                    let k = key.as_u64().unwrap_or(0) as usize;
                    last[k] = if f == "cas" { v[1].clone() } else { v.clone() };
                    (EventType::Ok, f, key, v, None)
                }
            },
        };
        let info = kind == EventType::Info;
        out.push(Event {
            index: i,
            time: i * 1000,
            process: Process::Client(ids[p]),
            kind,
            f,
            key: Some(key),
            value,
            error,
            node: None,
        });
        if info {
            ids[p] += processes;
        }
    }
    out
}

#[test]
fn streamed_verdicts_equal_offline_on_synthetic_histories() {
    let mut runner = TestRunner::new(Config {
        cases: 400,
        ..Config::default()
    });
    let (invalid, early) = (Cell::new(0), Cell::new(0));
    runner
        .run(
            &(
                any::<u64>(),
                1usize..5,
                1usize..7,
                10usize..120,
                prop_oneof![Just(0.0), 0.0f64..0.3],
                any::<bool>(),
                any::<bool>(),
                0usize..=100,
            ),
            |(seed, keys, processes, n, info_rate, violation, register, cut)| {
                let kind = if register {
                    SynthKind::Register
                } else {
                    SynthKind::Kv
                };
                let ops = generate(&SynthConfig {
                    ops: n,
                    keys,
                    processes,
                    seed,
                    info_rate,
                    violation,
                    kind,
                });
                let mut evs = events(&ops);
                // Sometimes the history ends early, leaving invocations open.
                evs.truncate(evs.len() * cut.max(50) / 100);
                let spec = if register {
                    ModelSpec::CasRegister
                } else {
                    ModelSpec::Kv
                };
                let (v, e) = agree(&evs, spec)?;
                invalid.set(invalid.get() + usize::from(v == Verdict::Invalid));
                early.set(early.get() + e);
                Ok(())
            },
        )
        .unwrap();
    // The cases exercise what they claim to: bad keys, found before the end.
    let (invalid, early) = (invalid.get(), early.get());
    assert!(invalid > 40, "{invalid} invalid histories");
    assert!(early > 20, "{early} anomalies found while streaming");
}

#[test]
fn streamed_verdicts_equal_offline_on_random_register_histories() {
    let mut runner = TestRunner::new(Config {
        cases: 3000,
        ..Config::default()
    });
    let verdicts = Cell::new([0usize; 3]);
    let early = Cell::new(0);
    runner
        .run(
            &(any::<u64>(), 1u64..5, 1u64..4, 4usize..60, any::<bool>()),
            |(seed, processes, keys, steps, cas)| {
                let evs = random_register(seed, processes, keys, steps);
                let spec = if cas {
                    ModelSpec::CasRegister
                } else {
                    ModelSpec::Register
                };
                // The plain register has no cas: only check it on histories without one.
                if !cas && evs.iter().any(|e| e.f == "cas") {
                    return Ok(());
                }
                let (v, e) = agree(&evs, spec)?;
                let mut counts = verdicts.get();
                counts[v as usize] += 1;
                verdicts.set(counts);
                early.set(early.get() + e);
                Ok(())
            },
        )
        .unwrap();
    let [valid, unknown, invalid] = verdicts.get();
    assert!(
        valid > 100 && invalid > 100 && unknown == 0,
        "{:?}",
        verdicts.get()
    );
    assert!(early.get() > 100, "{}", early.get());
}

#[test]
fn a_stale_read_is_reported_while_streaming_and_the_key_is_dropped() {
    // Key 0: write 1, then (after it completed) a read of null; key 1 keeps going afterwards.
    let ev = |i: u64, p: u64, kind: EventType, f: &str, key: u64, value: Value| Event {
        index: i,
        time: i * 1000,
        process: Process::Client(p),
        kind,
        f: f.into(),
        key: Some(json!(key)),
        value,
        error: None,
        node: None,
    };
    let evs = [
        ev(0, 0, EventType::Invoke, "write", 0, json!(1)),
        ev(1, 0, EventType::Ok, "write", 0, json!(1)),
        ev(2, 1, EventType::Invoke, "read", 0, Value::Null),
        ev(3, 2, EventType::Invoke, "write", 1, json!(2)),
        ev(4, 1, EventType::Ok, "read", 0, Value::Null),
        ev(5, 2, EventType::Ok, "write", 1, json!(2)),
    ];
    let mut stream = SpecStream::new(ModelSpec::CasRegister, CheckOptions::default());
    let mut found = Vec::new();
    for e in &evs {
        let f = stream.push(e).unwrap();
        if !f.is_empty() {
            found.push((e.index, f));
        }
    }
    assert_eq!(found.len(), 1);
    let (at, f) = &found[0];
    assert_eq!(*at, 4, "found as soon as the read completed");
    assert_eq!(f[0].key, Some(json!(0)));
    assert_eq!(f[0].time, 4000);
    assert!(f[0].counterexample.explanation.contains("read"), "{f:?}");
    // Both keys are decided: nothing held.
    assert_eq!(stream.held(), (1, 0));
    let report = stream.finish().unwrap();
    assert_eq!(report.verdict, Verdict::Invalid);
    assert_eq!(report.counterexamples.len(), 1);
}

#[test]
fn quiescent_keys_are_summarised_and_their_operations_dropped() {
    // One key, two processes taking turns: quiescent after every completion.
    let mut evs = Vec::new();
    for i in 0..1000u64 {
        let p = i % 2;
        let (f, v) = if i % 3 == 0 {
            ("write", json!(i % 4))
        } else {
            ("read", json!((i - i % 3) % 4))
        };
        for (j, kind) in [EventType::Invoke, EventType::Ok].into_iter().enumerate() {
            evs.push(Event {
                index: 2 * i + j as u64,
                time: 2 * i + j as u64,
                process: Process::Client(p),
                kind,
                f: f.into(),
                key: Some(json!("k")),
                value: if kind == EventType::Invoke && f == "read" {
                    Value::Null
                } else {
                    v.clone()
                },
                error: None,
                node: None,
            });
        }
    }
    let mut stream = SpecStream::new(ModelSpec::CasRegister, CheckOptions::default());
    let mut most = 0;
    for e in &evs {
        assert!(stream.push(e).unwrap().is_empty());
        most = most.max(stream.held().1);
    }
    assert!(most <= 1, "held at most one op at a time, held {most}");
    let report = stream.finish().unwrap();
    assert_eq!(report.verdict, Verdict::Valid);
    assert_eq!(report.stats.ops, 1000);
}
