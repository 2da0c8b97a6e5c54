//! `--stop-on-anomaly` for the workloads checked after the run: an anomaly that the prefix
//! check calls certain on some prefix of a random history is in the whole history's check
//! too (same checker and kind, naming the same completions), and the whole history is then
//! invalid. The run's verdict is always the whole history's check, so the streamed (prefix)
//! verdict at the end is the batch one by construction.

use faultline_history::testing::event;
use faultline_history::{pair, Anomaly, CheckerResult, Event, EventType, Process, Verdict};
use faultline_workloads::{configure, Common, Configured};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// A random history of `workload`'s operations: `procs` processes, operations completing
/// ok, fail or info (a process continues under a new number after info), times 0-400 ms
/// apart, some operations left open at the end.
fn random_history(workload: &str, seed: u64, len: usize) -> Vec<Event> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let procs = 4u64;
    let mut open: Vec<Option<(String, Value)>> = vec![None; procs as usize];
    let mut names: Vec<u64> = (0..procs).collect();
    let mut events = Vec::new();
    let mut time = 0u64;
    let mut added: Vec<i64> = Vec::new();
    for index in 0..len as u64 {
        time += rng.random_range(0..400_000_000);
        let slot = rng.random_range(0..procs as usize);
        let p = Process::Client(names[slot]);
        match open[slot].take() {
            None => {
                let (f, input) = invocation(workload, &mut rng, index, &mut added);
                events.push(event(index, time, p, EventType::Invoke, &f, input.clone()));
                open[slot] = Some((f, input));
            }
            Some((f, input)) => {
                let kind = match rng.random_range(0..10) {
                    0 => EventType::Fail,
                    1 => EventType::Info,
                    _ => EventType::Ok,
                };
                let value = completion(workload, &mut rng, &f, &input, &added);
                events.push(event(index, time, p, kind, &f, value));
                if kind == EventType::Info {
                    names[slot] += procs;
                }
            }
        }
    }
    events
}

/// An operation to invoke: its function and argument.
fn invocation(w: &str, rng: &mut ChaCha8Rng, index: u64, added: &mut Vec<i64>) -> (String, Value) {
    let read = rng.random_bool(0.4);
    let (f, v) = match w {
        "counter" if read => ("read", Value::Null),
        "counter" => ("add", json!(rng.random_range(-1..4))),
        "bank" if read => ("read", Value::Null),
        "bank" => ("transfer", json!({"from": 0, "to": 1, "amount": 1})),
        "set" if read => ("read", Value::Null),
        "set" => {
            added.push(index as i64);
            ("add", json!(index))
        }
        "lock-fenced" if rng.random_bool(0.5) => (
            "write",
            json!({"token": rng.random_range(0..6), "holder": index}),
        ),
        _ => match rng.random_range(0..3) {
            0 => ("acquire", Value::Null),
            1 => ("release", Value::Null),
            _ => ("write", json!({"token": 1, "holder": index})),
        },
    };
    (f.to_string(), v)
}

/// A completion's value for an operation `f` with argument `input`.
fn completion(w: &str, rng: &mut ChaCha8Rng, f: &str, input: &Value, added: &[i64]) -> Value {
    match (w, f) {
        ("counter", "read") => json!(rng.random_range(-2..8)),
        ("bank", "read") => {
            let mut b: Vec<i64> = vec![10; 5];
            if rng.random_bool(0.2) {
                b[0] += rng.random_range(-12..3);
            }
            json!({"0": b[0], "1": b[1], "2": b[2], "3": b[3], "4": b[4]})
        }
        ("set", "read") => {
            let mut seen: Vec<i64> = added
                .iter()
                .copied()
                .filter(|_| rng.random_bool(0.8))
                .collect();
            if rng.random_bool(0.05) {
                seen.push(1_000_000);
            }
            if rng.random_bool(0.05) && !seen.is_empty() {
                seen.push(seen[0]);
            }
            json!(seen)
        }
        _ => input.clone(),
    }
}

/// The workload's checkers on `events`.
fn check(w: &Configured, events: &[Event]) -> Vec<CheckerResult> {
    let lines: Vec<u32> = (1..=events.len() as u32).collect();
    w.check(&pair(events, &lines).expect("the history pairs"))
}

/// The completions `a` names, in `events`.
fn completions(a: &Anomaly, events: &[Event]) -> Vec<u64> {
    a.events
        .iter()
        .copied()
        .filter(|i| {
            events
                .iter()
                .any(|e| e.index == *i && e.kind != EventType::Invoke)
        })
        .collect()
}

/// Whether the whole history's anomaly `b` is the prefix's `a`: of the same kind and naming
/// one of the operations whose completion `a` names (`named`: a set element's first read may
/// be an earlier one once a read still open at the cut has completed). A transactional
/// cycle's edges all stay in the whole history's graph, but its check reports one cycle per
/// component and class, classified with every edge known (a `G2-item` between two
/// transactions may be reported as the `G-single` through a third): there, a cycle of any
/// kind through one of the same committed transactions.
///
/// A linearizable set's element that a read missed after it was known is lost or stale on
/// the prefix, and in the whole history lost, stale (a later read shows it) or read though
/// its add failed (an add open at the cut failed later): the same element, any of these.
fn same_anomaly(a: &Anomaly, b: &Anomaly, named: &[u64]) -> bool {
    let missed = |k: &str| k == "lost" || k == "stale-read";
    if missed(&a.kind) {
        let of_element = missed(&b.kind) || b.kind == "failed-add-observed";
        return of_element && a.detail["element"] == b.detail["element"];
    }
    let cycle = |k: &str| k.starts_with("G") && !k.starts_with("G1a") && !k.starts_with("G1b");
    let shares = named.iter().any(|i| b.events.contains(i));
    shares && (b.kind == a.kind || (cycle(&a.kind) && cycle(&b.kind)))
}

/// Every certain anomaly of every prefix of `events` is in the whole history's check.
fn prefixes_agree(workload: &str, events: &[Event]) -> Result<(), TestCaseError> {
    let w = configure(workload, &Common::default()).unwrap();
    let prefix = w.prefix_check();
    let full = check(&w, events);
    let mut any = false;
    for cut in (1..=events.len()).step_by(3) {
        let part = &events[..cut];
        let results = check(&w, part);
        for (checker, a) in prefix.certain(&results, part) {
            any = true;
            let named = completions(a, part);
            let found = full
                .iter()
                .filter(|r| r.checker == checker)
                .flat_map(|r| &r.anomalies)
                .any(|b| same_anomaly(a, b, &named));
            prop_assert!(found, "{workload}: {} at cut {cut} is not in the whole history's check: {a:?}\nfull: {full:?}", a.kind);
        }
    }
    if any {
        prop_assert!(full.iter().any(|r| r.verdict == Verdict::Invalid));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn a_certain_anomaly_on_a_prefix_is_in_the_whole_history(
        workload in prop::sample::select(vec!["counter", "bank", "set", "lock", "lock-fenced"]),
        seed in any::<u64>(),
        len in 2usize..90,
    ) {
        prefixes_agree(workload, &random_history(workload, seed, len))?;
    }

    #[test]
    fn a_certain_cycle_on_a_prefix_is_in_the_whole_history(seed in any::<u64>(), stale in any::<bool>()) {
        let cfg = faultline_transactional::synth::AppendConfig {
            txns: 60,
            processes: 4,
            key_count: 3,
            max_writes_per_key: 8,
            info_rate: 0.1,
            seed,
            stale_read: stale,
            ..Default::default()
        };
        prefixes_agree("append", &faultline_transactional::synth::events(&cfg))?;
    }
}

/// The prefix check finds the anomalies the random histories are meant to hold: the
/// property above is not vacuous.
#[test]
fn random_histories_do_hold_certain_anomalies() {
    for workload in ["counter", "bank", "set", "lock"] {
        let w = configure(workload, &Common::default()).unwrap();
        let prefix = w.prefix_check();
        let found = (0..200u64).any(|seed| {
            let events = random_history(workload, seed, 80);
            !prefix.certain(&check(&w, &events), &events).is_empty()
        });
        assert!(
            found,
            "{workload}: no certain anomaly in 200 random histories"
        );
    }
}
