//! The checker against a brute-force oracle that shares no code with it.
//!
//! The oracle reads the raw operations itself and tries every order of the committed
//! transactions (every `ok` one, and any subset of the `info` ones), executing each against a
//! store and comparing every `ok` read with what the store holds at that point. A history is
//! serializable if some order works, strict-serializable if some order that also keeps every
//! `ok` transaction before those invoked after it completed works.
//!
//! Properties, on thousands of generated small histories (valid executions, some with one
//! read corrupted: stale, reordered, with a foreign or aborted element):
//! - list-append: the checker's verdict equals the oracle's, for serializable and for
//!   strict-serializable (inference is complete when values are unique per key);
//! - rw-register: whenever the checker says invalid, the oracle agrees (inference is sound;
//!   a register's version order is only partly observable, so it cannot be complete);
//! - every cycle the checker reports is a real cycle: each edge is checked against the raw
//!   operations by rules written here.

use faultline_history::{Operation, Outcome, Verdict};
use faultline_transactional::{check, Model, Options, Report};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

// ---------------------------------------------------------------------------------------
// A tiny deterministic random source for the generator.

struct R(u64);

impl R {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut z = self.0;
        z ^= z >> 33;
        z = z.wrapping_mul(0xff51afd7ed558ccd);
        z ^ (z >> 33)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

// ---------------------------------------------------------------------------------------
// Generator.

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Append,
    Register,
}

/// A generated history: operations sorted by invocation.
fn generate(seed: u64, kind: Kind) -> Vec<Operation> {
    let mut r = R(seed);
    let n = 2 + r.below(5) as usize; // 2..=6 transactions
    let keys = 1 + r.below(3);
    // Intervals: distinct event positions, so each txn has invoke < complete.
    let mut points: Vec<(u64, usize, bool)> = Vec::new();
    for t in 0..n {
        let s = r.below(2 * n as u64) * 2;
        let len = 1 + r.below(n as u64 * 2);
        points.push((s, t, true));
        points.push((s + len * 2 + 1, t, false));
    }
    points.sort();
    let mut invoke = vec![0u64; n];
    let mut complete = vec![0u64; n];
    for (i, (_, t, is_invoke)) in points.iter().enumerate() {
        if *is_invoke {
            invoke[*t] = i as u64;
        } else {
            complete[*t] = i as u64;
        }
    }
    let outcomes: Vec<Outcome> = (0..n)
        .map(|_| match r.below(100) {
            0..=79 => Outcome::Ok,
            80..=91 => Outcome::Info,
            _ => Outcome::Fail,
        })
        .collect();
    // Micro-ops with unique values per key.
    let mut next_value: HashMap<u64, u64> = HashMap::new();
    let mut mops: Vec<Vec<(bool, u64, u64)>> = Vec::new(); // (is_read, key, value)
    for _ in 0..n {
        let len = 1 + r.below(3);
        let mut m = Vec::new();
        for _ in 0..len {
            let k = r.below(keys);
            if r.chance(50) {
                m.push((true, k, 0));
            } else {
                let v = next_value.entry(k).or_insert(1);
                m.push((false, k, *v));
                *v += 1;
            }
        }
        mops.push(m);
    }
    // Who commits: ok always, info half the time, fail never.
    let commits: Vec<bool> = outcomes
        .iter()
        .map(|o| match o {
            Outcome::Ok => true,
            Outcome::Info => r.chance(50),
            Outcome::Fail => false,
        })
        .collect();
    // Execution order: effect points inside the intervals (strict), or any order.
    let mut order: Vec<usize> = (0..n).filter(|t| commits[*t]).collect();
    if r.chance(70) {
        let points: Vec<u64> = (0..n)
            .map(|t| invoke[t] * 16 + 1 + r.below((complete[t] - invoke[t]) * 16 - 1))
            .collect();
        order.sort_by_key(|t| points[*t]);
    } else {
        for i in (1..order.len()).rev() {
            let j = r.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
    }
    // Execute; reads of committed txns record what they saw.
    let mut lists: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut regs: HashMap<u64, u64> = HashMap::new();
    let mut seen: Vec<Vec<Value>> = mops.iter().map(|m| vec![Value::Null; m.len()]).collect();
    for &t in &order {
        for (i, (is_read, k, v)) in mops[t].iter().enumerate() {
            match (kind, is_read) {
                (Kind::Append, true) => {
                    seen[t][i] = json!(lists.get(k).cloned().unwrap_or_default())
                }
                (Kind::Append, false) => lists.entry(*k).or_default().push(*v),
                (Kind::Register, true) => seen[t][i] = json!(regs.get(k)),
                (Kind::Register, false) => {
                    regs.insert(*k, *v);
                }
            }
        }
    }
    // Sometimes corrupt one ok read.
    let ok_reads: Vec<(usize, usize)> = (0..n)
        .filter(|t| outcomes[*t] == Outcome::Ok)
        .flat_map(|t| {
            let m = &mops[t];
            (0..m.len()).filter(move |i| m[*i].0).map(move |i| (t, i))
        })
        .collect();
    if !ok_reads.is_empty() && r.chance(50) {
        let (t, i) = ok_reads[r.below(ok_reads.len() as u64) as usize];
        let k = mops[t][i].1;
        let written: Vec<u64> = (0..n)
            .flat_map(|u| {
                mops[u]
                    .iter()
                    .filter(|m| !m.0 && m.1 == k)
                    .map(|m| m.2)
                    .collect::<Vec<_>>()
            })
            .collect();
        match kind {
            Kind::Append => {
                let mut l: Vec<u64> =
                    serde_json::from_value(seen[t][i].clone()).unwrap_or_default();
                match r.below(4) {
                    0 if !l.is_empty() => {
                        let keep = r.below(l.len() as u64) as usize;
                        l.truncate(keep);
                    }
                    1 if l.len() >= 2 => {
                        let a = r.below(l.len() as u64) as usize;
                        let b = r.below(l.len() as u64) as usize;
                        l.swap(a, b);
                    }
                    _ if !written.is_empty() => {
                        let v = written[r.below(written.len() as u64) as usize];
                        if !l.contains(&v) {
                            l.push(v);
                        }
                    }
                    _ => {}
                }
                seen[t][i] = json!(l);
            }
            Kind::Register => {
                seen[t][i] = if written.is_empty() || r.chance(30) {
                    Value::Null
                } else {
                    json!(written[r.below(written.len() as u64) as usize])
                };
            }
        }
    }
    let f = |m: &(bool, u64, u64), read: Value| -> Value {
        let key = format!("k{}", m.1);
        match (kind, m.0) {
            (_, true) => json!(["r", key, read]),
            (Kind::Append, false) => json!(["append", key, m.2]),
            (Kind::Register, false) => json!(["w", key, m.2]),
        }
    };
    let mut ops: Vec<Operation> = (0..n)
        .map(|t| {
            let input: Vec<Value> = mops[t].iter().map(|m| f(m, Value::Null)).collect();
            let output = if outcomes[t] == Outcome::Ok {
                Value::Array(
                    mops[t]
                        .iter()
                        .enumerate()
                        .map(|(i, m)| f(m, seen[t][i].clone()))
                        .collect(),
                )
            } else {
                Value::Null
            };
            Operation {
                process: t as u64,
                f: "txn".into(),
                key: None,
                input: Value::Array(input),
                output,
                outcome: outcomes[t],
                error: None,
                invoke_index: invoke[t],
                complete_index: Some(complete[t]),
                invoke_time: invoke[t],
                complete_time: Some(complete[t]),
            }
        })
        .collect();
    ops.sort_by_key(|o| o.invoke_index);
    ops
}

// ---------------------------------------------------------------------------------------
// The oracle.

/// One micro-op as the oracle reads it: (f, key, invoked value, observed value).
type Micro = (String, String, Value, Value);

fn micro_ops(op: &Operation) -> Vec<Micro> {
    let input = op.input.as_array().cloned().unwrap_or_default();
    let output = op.output.as_array().cloned();
    input
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let f = m[0].as_str().unwrap().to_string();
            let key = m[1].to_string();
            let seen = output.as_ref().map_or(Value::Null, |o| o[i][2].clone());
            (f, key, m[2].clone(), seen)
        })
        .collect()
}

/// Is there an order of the committed transactions that explains every ok read?
fn oracle(ops: &[Operation], strict: bool, kind: Kind) -> bool {
    let is_list = kind == Kind::Append;
    let txns: Vec<&Operation> = ops.iter().filter(|o| o.outcome != Outcome::Fail).collect();
    let micro: Vec<Vec<Micro>> = txns.iter().map(|o| micro_ops(o)).collect();
    let n = txns.len();
    let must: u64 = (0..n)
        .filter(|i| txns[*i].outcome == Outcome::Ok)
        .fold(0, |m, i| m | 1 << i);
    // preds[b]: ok transactions that completed before b was invoked.
    let preds: Vec<u64> = (0..n)
        .map(|b| {
            if !strict {
                return 0;
            }
            (0..n)
                .filter(|a| {
                    txns[*a].outcome == Outcome::Ok
                        && txns[*a].complete_index.unwrap() < txns[b].invoke_index
                })
                .fold(0, |m, a| m | 1 << a)
        })
        .collect();
    let mut failed: HashSet<(u64, String)> = HashSet::new();
    #[allow(clippy::too_many_arguments)]
    fn go(
        is_list: bool,
        placed: u64,
        state: &HashMap<String, Value>,
        txns: &[&Operation],
        micro: &[Vec<Micro>],
        must: u64,
        preds: &[u64],
        failed: &mut HashSet<(u64, String)>,
    ) -> bool {
        if placed & must == must {
            return true;
        }
        let mut keys: Vec<_> = state.iter().collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        let memo = (placed, format!("{keys:?}"));
        if failed.contains(&memo) {
            return false;
        }
        for b in 0..txns.len() {
            if placed & (1 << b) != 0 || preds[b] & !placed != 0 {
                continue;
            }
            let mut s = state.clone();
            let mut fine = true;
            for (f, key, arg, seen) in &micro[b] {
                match f.as_str() {
                    "append" => {
                        let l = s.entry(key.clone()).or_insert(json!([]));
                        l.as_array_mut().unwrap().push(arg.clone());
                    }
                    "w" => {
                        s.insert(key.clone(), arg.clone());
                    }
                    _ if txns[b].outcome == Outcome::Ok => {
                        let now = s.get(key).cloned();
                        let now = now.unwrap_or(if is_list { json!([]) } else { Value::Null });
                        let seen = if is_list && seen.is_null() {
                            json!([])
                        } else {
                            seen.clone()
                        };
                        if now != seen {
                            fine = false;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            if fine
                && go(
                    is_list,
                    placed | 1 << b,
                    &s,
                    txns,
                    micro,
                    must,
                    preds,
                    failed,
                )
            {
                return true;
            }
        }
        failed.insert(memo);
        false
    }
    go(
        is_list,
        0,
        &HashMap::new(),
        &txns,
        &micro,
        must,
        &preds,
        &mut failed,
    )
}

// ---------------------------------------------------------------------------------------
// Cycle edges, verified against the raw operations.

fn appended(op: &Operation, key: &Value) -> Vec<Value> {
    micro_ops(op)
        .into_iter()
        .filter(|m| (m.0 == "append" || m.0 == "w") && m.1 == key.to_string())
        .map(|m| m.2)
        .collect()
}

fn reads_of(op: &Operation, key: &Value) -> Vec<Value> {
    let list = LIST.with(|l| l.get());
    if op.outcome != Outcome::Ok {
        return Vec::new();
    }
    micro_ops(op)
        .into_iter()
        .filter(|m| m.0 == "r" && m.1 == key.to_string())
        .map(|m| {
            if m.3.is_null() && list {
                json!([])
            } else {
                m.3
            }
        })
        .collect()
}

thread_local! {
    /// Whether the history being verified is list-append (an empty read is `[]`).
    static LIST: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Every ok read of `key` in the history, as lists.
fn all_list_reads(ops: &[Operation], key: &Value) -> Vec<Vec<Value>> {
    ops.iter()
        .flat_map(|o| reads_of(o, key))
        .filter_map(|v| v.as_array().cloned())
        .collect()
}

fn verify_edge(
    ops: &[Operation],
    kind: Kind,
    a: &Operation,
    b: &Operation,
    step: &Value,
) -> Result<(), String> {
    let edge = step["edge"].as_str().unwrap();
    let key = &step["key"];
    let values = step["values"].as_array().cloned().unwrap_or_default();
    let fail = |why: &str| Err(format!("{edge} edge {step}: {why}"));
    match edge {
        "process" => {
            if a.process == b.process && a.invoke_index < b.invoke_index {
                Ok(())
            } else {
                fail("not the same process in order")
            }
        }
        "realtime" => {
            if a.outcome == Outcome::Ok && a.complete_index.unwrap() < b.invoke_index {
                Ok(())
            } else {
                fail("the first did not complete before the second began")
            }
        }
        "wr" => {
            let v = &values[0];
            let wrote = appended(a, key).contains(v);
            let read = reads_of(b, key).iter().any(|r| match kind {
                Kind::Append => r.as_array().and_then(|l| l.last()) == Some(v),
                Kind::Register => r == v,
            });
            if wrote && read {
                Ok(())
            } else {
                fail("the second did not read what the first wrote")
            }
        }
        "ww" => {
            let (v1, v2) = (&values[0], &values[1]);
            if !appended(a, key).contains(v1) || !appended(b, key).contains(v2) {
                return fail("the writes are not theirs");
            }
            match kind {
                Kind::Append => {
                    let reads = all_list_reads(ops, key);
                    let adjacent = reads
                        .iter()
                        .any(|l| l.windows(2).any(|w| w[0] == *v1 && w[1] == *v2));
                    let unseen_after_last = !reads.iter().any(|l| l.contains(v2))
                        && reads.iter().any(|l| l.last() == Some(v1));
                    if adjacent || unseen_after_last {
                        Ok(())
                    } else {
                        fail("no read shows the first's value before the second's")
                    }
                }
                // Writes follow reads: the second read the first's value, then wrote.
                Kind::Register => {
                    if reads_of(b, key).first() == Some(v1) {
                        Ok(())
                    } else {
                        fail("the second did not read the first's value before writing")
                    }
                }
            }
        }
        "rw" => {
            let v2 = &values[0];
            if !appended(b, key).contains(v2) {
                return fail("the second did not write that value");
            }
            match kind {
                Kind::Append => {
                    // a read a prefix without v2, and v2 comes after that prefix.
                    let reads = all_list_reads(ops, key);
                    let ok = reads_of(a, key).iter().any(|r| {
                        let r = r.as_array().unwrap();
                        !r.contains(v2) && reads.iter().all(|l| !l.contains(v2) || l.starts_with(r))
                    });
                    if ok {
                        Ok(())
                    } else {
                        fail("the first's read does not precede the second's value")
                    }
                }
                Kind::Register => {
                    let ok = reads_of(a, key).iter().any(|r| {
                        r.is_null()
                            || ops.iter().any(|c| {
                                reads_of(c, key).first() == Some(r)
                                    && appended(c, key).last() == Some(v2)
                            })
                    });
                    if ok {
                        Ok(())
                    } else {
                        fail("no initial state or writes-follow-reads puts the read before the write")
                    }
                }
            }
        }
        other => fail(&format!("unknown edge {other}")),
    }
}

fn verify_cycles(ops: &[Operation], kind: Kind, report: &Report) -> Result<(), String> {
    LIST.with(|l| l.set(kind == Kind::Append));
    let by_invoke: HashMap<u64, &Operation> = ops.iter().map(|o| (o.invoke_index, o)).collect();
    for a in &report.anomalies {
        if a.cycle.is_empty() {
            continue;
        }
        let steps: Vec<Value> = a
            .cycle
            .iter()
            .map(|s| serde_json::to_value(s).unwrap())
            .collect();
        let mut txns = HashSet::new();
        for (i, s) in steps.iter().enumerate() {
            let next = &steps[(i + 1) % steps.len()];
            let x = by_invoke[&s["invoke"].as_u64().unwrap()];
            let y = by_invoke[&next["invoke"].as_u64().unwrap()];
            if !txns.insert(x.invoke_index) {
                return Err(format!(
                    "{}: transaction at event {} repeats",
                    a.kind, x.invoke_index
                ));
            }
            verify_edge(ops, kind, x, y, s).map_err(|e| format!("{}: {e}", a.kind))?;
        }
    }
    Ok(())
}

fn verdict(ops: &[Operation], model: Model) -> Report {
    check(
        ops,
        &Options {
            model,
            ..Options::default()
        },
    )
    .expect("generated histories are well formed")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn list_append_agrees_with_the_oracle(seed in any::<u64>()) {
        let ops = generate(seed, Kind::Append);
        for (model, strict) in [(Model::Serializable, false), (Model::StrictSerializable, true)] {
            let report = verdict(&ops, model);
            let expected = oracle(&ops, strict, Kind::Append);
            prop_assert_eq!(
                report.verdict == Verdict::Valid, expected,
                "{}: checker {:?} ({:?}), oracle {}\n{:#?}\n{:#?}", model, report.verdict, report.anomaly_types, expected, ops, report.anomalies
            );
            if let Err(e) = verify_cycles(&ops, Kind::Append, &report) {
                return Err(TestCaseError::fail(format!("{e}\n{ops:#?}")));
            }
        }
    }

    #[test]
    fn rw_register_invalid_only_when_the_oracle_says_so(seed in any::<u64>()) {
        let ops = generate(seed, Kind::Register);
        for (model, strict) in [(Model::Serializable, false), (Model::StrictSerializable, true)] {
            let report = verdict(&ops, model);
            prop_assert_ne!(report.verdict, Verdict::Unknown);
            if report.verdict == Verdict::Invalid {
                prop_assert!(!oracle(&ops, strict, Kind::Register), "{}: checker says {:?} but the oracle found an order\n{:#?}\n{:#?}", model, report.anomaly_types, ops, report.anomalies);
            }
            if let Err(e) = verify_cycles(&ops, Kind::Register, &report) {
                return Err(TestCaseError::fail(format!("{e}\n{ops:#?}")));
            }
        }
    }
}

#[test]
fn the_generator_makes_both_kinds_of_history() {
    // Guards the properties against a generator that only makes easy cases.
    let mut counts = [[0usize; 2]; 2];
    for seed in 0..2000 {
        for (i, kind) in [Kind::Append, Kind::Register].into_iter().enumerate() {
            let ops = generate(seed, kind);
            counts[i][oracle(&ops, false, kind) as usize] += 1;
        }
    }
    for c in counts {
        assert!(c[0] > 200 && c[1] > 200, "{counts:?}");
    }
}

#[test]
fn the_generator_separates_strict_from_serializable() {
    // Some histories are serializable but not strict-serializable, and the checker sees the
    // difference; a majority of the rw-register histories the oracle rejects are caught.
    let mut only_serializable = 0;
    let (mut reg_invalid, mut reg_caught) = (0, 0);
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for seed in 0..2000 {
        let ops = generate(seed, Kind::Append);
        if oracle(&ops, false, Kind::Append) && !oracle(&ops, true, Kind::Append) {
            only_serializable += 1;
        }
        for k in verdict(&ops, Model::StrictSerializable).anomaly_types {
            *kinds.entry(k).or_default() += 1;
        }
        let ops = generate(seed, Kind::Register);
        if !oracle(&ops, false, Kind::Register) {
            reg_invalid += 1;
            if verdict(&ops, Model::Serializable).verdict == Verdict::Invalid {
                reg_caught += 1;
            }
        }
    }
    eprintln!("only serializable: {only_serializable}; rw-register caught {reg_caught}/{reg_invalid}; kinds {kinds:?}");
    assert!(only_serializable > 50, "{only_serializable}");
    assert!(reg_caught * 2 > reg_invalid, "{reg_caught}/{reg_invalid}");
    for k in [
        "G-single",
        "G1a",
        "incompatible-order",
        "G-single-realtime",
        "internal",
    ] {
        assert!(kinds.get(k).copied().unwrap_or(0) > 5, "{k}: {kinds:?}");
    }
}
