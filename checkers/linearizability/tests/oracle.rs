//! Property tests: the checker agrees with a brute-force oracle on thousands of small random
//! histories, for every model, split and not split.
//!
//! The oracle shares no code with the checker: it steps plain `serde_json::Value` states with
//! the Knossos semantics written out directly, and tries every order consistent with real time
//! (`info` ops optional and open-ended, compare-failed cas as a read-only op that must happen).

use faultline_history::{Operation, Outcome, Verdict, COMPARE_FAILED};
use faultline_linearizability::{check, CheckOptions, ModelOptions, ModelSpec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A random op before it is given a model-specific meaning.
#[derive(Clone, Debug)]
struct Raw {
    f: u8,
    a: u8,
    b: u8,
    out: u8,
    outcome: u8,
    start: u8,
    len: u8,
    key: u8,
}

fn raw() -> impl Strategy<Value = Raw> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        0u8..20,
        0u8..16,
        0u8..8,
        0u8..6,
    )
        .prop_map(|(f, a, b, out, outcome, start, len, key)| Raw {
            f,
            a,
            b,
            out,
            outcome,
            start,
            len,
            key,
        })
}

fn pick<T: Clone>(xs: &[T], i: u8) -> T {
    xs[i as usize % xs.len()].clone()
}

/// What one raw op means for a model: (f, value, whether it may be a compare-failed cas).
fn meaning(model: ModelSpec, r: &Raw) -> (&'static str, Value, Value) {
    let reg = [Value::Null, json!(0), json!(1), json!(2)];
    match model {
        ModelSpec::Register | ModelSpec::CasRegister => {
            let fs: &[&str] = if model == ModelSpec::Register {
                &["read", "write"]
            } else {
                &["read", "write", "cas"]
            };
            match pick(fs, r.f) {
                "read" => ("read", Value::Null, pick(&reg, r.out)),
                "write" => ("write", pick(&reg[1..], r.a), Value::Null),
                _ => (
                    "cas",
                    json!([pick(&reg, r.a), pick(&reg[1..], r.b)]),
                    Value::Null,
                ),
            }
        }
        ModelSpec::Kv => {
            let vals = [json!(""), json!("x"), json!("y"), json!("xy"), json!("yx")];
            match r.f % 4 {
                0 => ("get", Value::Null, pick(&vals, r.out)),
                1 => ("put", pick(&vals, r.a), Value::Null),
                2 => ("append", pick(&[json!("x"), json!("y")], r.a), Value::Null),
                _ => (
                    "cas",
                    json!([pick(&vals, r.a), pick(&vals, r.b)]),
                    Value::Null,
                ),
            }
        }
        ModelSpec::Mutex => (pick(&["acquire", "release"], r.f), Value::Null, Value::Null),
        ModelSpec::FifoQueue | ModelSpec::UnorderedQueue => {
            let vals = [json!(1), json!(2), json!(3)];
            if r.f & 1 == 0 {
                ("enqueue", pick(&vals, r.a), Value::Null)
            } else {
                let outs = [json!(1), json!(2), json!(3), Value::Null];
                ("dequeue", Value::Null, pick(&outs, r.out))
            }
        }
        ModelSpec::Set => {
            if r.f & 1 == 0 {
                ("add", pick(&[json!(1), json!(2)], r.a), Value::Null)
            } else {
                let outs = [
                    json!([]),
                    json!([1]),
                    json!([2]),
                    json!([1, 2]),
                    json!([2, 1]),
                    json!([1, 1]),
                ];
                ("read", Value::Null, pick(&outs, r.out))
            }
        }
        ModelSpec::MultiRegister => {
            let keys = ["x", "y"];
            let vals = [Value::Null, json!(1), json!(2)];
            let micro = |sel: u8, k: u8, v: u8| {
                if sel & 1 == 0 {
                    json!(["read", pick(&keys, k), pick(&vals, v)])
                } else {
                    json!(["write", pick(&keys, k), pick(&vals[1..], v)])
                }
            };
            let mut txn = vec![micro(r.f, r.a, r.out)];
            if r.b % 2 == 1 {
                txn.push(micro(r.f / 2, r.b / 2, r.out / 3));
            }
            // The invocation's reads are unknown (null); the completion has their values.
            let invoke: Vec<Value> = txn
                .iter()
                .map(|m| {
                    if m[0] == "read" {
                        json!(["read", m[1], null])
                    } else {
                        m.clone()
                    }
                })
                .collect();
            ("txn", Value::Array(invoke), Value::Array(txn))
        }
    }
}

/// Builds a history from raw ops: intervals from `start`/`len`, outcomes from `outcome`.
fn build(model: ModelSpec, raws: &[Raw], keyed: bool) -> Vec<Operation> {
    // (time, is_completion, op) sorted, then numbered: gives unique event indices.
    let mut marks: Vec<(u32, u8, usize)> = Vec::new();
    for (i, r) in raws.iter().enumerate() {
        let start = u32::from(r.start) * 2;
        marks.push((start, 0, i));
        marks.push((start + 1 + u32::from(r.len) * 2, 1, i));
    }
    marks.sort();
    let mut invoke = vec![0u64; raws.len()];
    let mut complete = vec![0u64; raws.len()];
    for (index, &(_, kind, i)) in marks.iter().enumerate() {
        if kind == 0 {
            invoke[i] = index as u64;
        } else {
            complete[i] = index as u64;
        }
    }
    raws.iter()
        .enumerate()
        .map(|(i, r)| {
            let (f, input, mut output) = meaning(model, r);
            let (outcome, error, complete_index) = match r.outcome {
                0..=12 => (Outcome::Ok, None, Some(complete[i])),
                13..=15 => (Outcome::Info, Some(json!("timeout")), Some(complete[i])),
                16 | 17 => (Outcome::Info, None, None),
                _ if f == "cas" => (
                    Outcome::Fail,
                    Some(json!(COMPARE_FAILED)),
                    Some(complete[i]),
                ),
                _ => (Outcome::Fail, Some(json!("refused")), Some(complete[i])),
            };
            if outcome == Outcome::Ok && output.is_null() {
                output = input.clone();
            }
            if outcome != Outcome::Ok {
                output = Value::Null;
            }
            Operation {
                process: i as u64,
                f: f.to_string(),
                key: keyed
                    .then(|| match r.key {
                        0..=2 => Some(json!("a")),
                        3 | 4 => Some(json!("b")),
                        _ => None,
                    })
                    .flatten(),
                input,
                output,
                outcome,
                error,
                invoke_index: invoke[i],
                complete_index,
                invoke_time: invoke[i],
                complete_time: complete_index,
            }
        })
        .collect()
}

// ---------------------------------------------------------------- the oracle

fn value(op: &Operation) -> &Value {
    if op.outcome == Outcome::Ok && !op.output.is_null() {
        &op.output
    } else {
        &op.input
    }
}

fn compare_failed(op: &Operation) -> bool {
    op.outcome == Outcome::Fail && op.error == Some(json!(COMPARE_FAILED))
}

fn same_set(a: &[Value], b: &[Value]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

/// The model's initial state for one key.
fn initial(model: ModelSpec) -> Value {
    match model {
        ModelSpec::Kv => json!(""),
        ModelSpec::Mutex => json!(false),
        ModelSpec::FifoQueue | ModelSpec::UnorderedQueue | ModelSpec::Set => json!([]),
        ModelSpec::MultiRegister => json!({}),
        _ => Value::Null,
    }
}

/// Knossos semantics on plain values: the next state, or None if the op cannot happen.
fn step(model: ModelSpec, nil_any: bool, s: &Value, op: &Operation) -> Option<Value> {
    let v = value(op);
    let known = op.outcome != Outcome::Info;
    let read_matches = |observed: &Value, actual: &Value| {
        !known || (observed.is_null() && nil_any) || observed == actual
    };
    match (model, op.f.as_str()) {
        (ModelSpec::Register | ModelSpec::CasRegister, "read") | (ModelSpec::Kv, "get") => {
            read_matches(v, s).then(|| s.clone())
        }
        (ModelSpec::Register | ModelSpec::CasRegister, "write") | (ModelSpec::Kv, "put") => {
            Some(v.clone())
        }
        (ModelSpec::CasRegister | ModelSpec::Kv, "cas") => {
            if compare_failed(op) {
                (s != &v[0]).then(|| s.clone())
            } else {
                (s == &v[0]).then(|| v[1].clone())
            }
        }
        (ModelSpec::Kv, "append") => {
            let base = match s {
                Value::Null => "",
                Value::String(x) => x.as_str(),
                _ => return None,
            };
            Some(json!(format!("{base}{}", v.as_str()?)))
        }
        (ModelSpec::Mutex, "acquire") => (s == &json!(false)).then_some(json!(true)),
        (ModelSpec::Mutex, "release") => (s == &json!(true)).then_some(json!(false)),
        (ModelSpec::FifoQueue | ModelSpec::UnorderedQueue | ModelSpec::Set, "enqueue" | "add") => {
            let mut q = s.as_array().unwrap().clone();
            if op.f == "enqueue" || !q.contains(v) {
                q.push(v.clone());
            }
            Some(Value::Array(q))
        }
        (ModelSpec::FifoQueue, "dequeue") => {
            let q = s.as_array().unwrap();
            let head = q.first()?;
            (!known && v.is_null() || head == v).then(|| Value::Array(q[1..].to_vec()))
        }
        (ModelSpec::UnorderedQueue, "dequeue") => {
            let mut q = s.as_array().unwrap().clone();
            if !known && v.is_null() {
                return Some(s.clone());
            }
            let at = q.iter().position(|x| x == v)?;
            q.remove(at);
            Some(Value::Array(q))
        }
        (ModelSpec::Set, "read") => {
            if !known {
                return Some(s.clone());
            }
            let seen = v.as_array()?;
            same_set(seen, s.as_array().unwrap()).then(|| s.clone())
        }
        (ModelSpec::MultiRegister, "txn") => {
            let mut regs = s.as_object().unwrap().clone();
            for m in v.as_array().unwrap() {
                let k = m[1].as_str().unwrap();
                let cur = regs.get(k).cloned().unwrap_or(Value::Null);
                if m[0] == "read" {
                    if !read_matches(&m[2], &cur) {
                        return None;
                    }
                } else {
                    regs.insert(k.to_string(), m[2].clone());
                }
            }
            Some(Value::Object(regs))
        }
        (m, f) => panic!("oracle: {m:?} has no {f}"),
    }
}

/// Tries every order consistent with real time; info ops optional.
fn oracle(model: ModelSpec, nil_any: bool, ops: &[Operation]) -> bool {
    let ops: Vec<&Operation> = ops
        .iter()
        .filter(|o| o.outcome != Outcome::Fail || compare_failed(o))
        .collect();
    let must = |o: &Operation| o.outcome != Outcome::Info;
    let ret = |o: &Operation| {
        if must(o) {
            o.complete_index.unwrap_or(u64::MAX)
        } else {
            u64::MAX
        }
    };
    fn key(o: &Operation) -> String {
        o.key.as_ref().map(|k| k.to_string()).unwrap_or_default()
    }
    fn go(
        model: ModelSpec,
        nil_any: bool,
        ops: &[&Operation],
        placed: &mut Vec<bool>,
        states: &BTreeMap<String, Value>,
        must: &dyn Fn(&Operation) -> bool,
        ret: &dyn Fn(&Operation) -> u64,
    ) -> bool {
        if ops.iter().zip(placed.iter()).all(|(o, &p)| p || !must(o)) {
            return true;
        }
        for i in 0..ops.len() {
            if placed[i] {
                continue;
            }
            // i may go next only if no unplaced must-op completed before i was invoked.
            let blocked = (0..ops.len())
                .any(|j| !placed[j] && must(ops[j]) && ret(ops[j]) < ops[i].invoke_index);
            if blocked {
                continue;
            }
            let k = key(ops[i]);
            let s = states.get(&k).cloned().unwrap_or_else(|| initial(model));
            if let Some(next) = step(model, nil_any, &s, ops[i]) {
                let mut states = states.clone();
                states.insert(k, next);
                placed[i] = true;
                let ok = go(model, nil_any, ops, placed, &states, must, ret);
                placed[i] = false;
                if ok {
                    return true;
                }
            }
        }
        false
    }
    let mut placed = vec![false; ops.len()];
    go(
        model,
        nil_any,
        &ops,
        &mut placed,
        &BTreeMap::new(),
        &must,
        &ret,
    )
}

// ---------------------------------------------------------------- the properties

fn agree(model: ModelSpec, cases: u32) {
    let (mut valid, mut invalid) = (0u32, 0u32);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec(raw(), 0..=7),
        any::<bool>(),
        any::<bool>(),
    );
    let counts = std::cell::Cell::new((0u32, 0u32));
    runner
        .run(&strategy, |(raws, keyed, nil_any)| {
            let ops = build(model, &raws, keyed);
            let expected = oracle(model, nil_any, &ops);
            for split in [true, false] {
                let opts = CheckOptions {
                    split,
                    model: ModelOptions {
                        nil_read_matches_any: nil_any,
                        initial: None,
                    },
                    ..CheckOptions::default()
                };
                let report = check(&ops, model, &opts)
                    .map_err(|e| TestCaseError::fail(format!("model error: {e}")))?;
                // An empty history is no evidence: the checker says unknown (issue 18).
                let want = if ops.is_empty() {
                    Verdict::Unknown
                } else if expected {
                    Verdict::Valid
                } else {
                    Verdict::Invalid
                };
                prop_assert_eq!(report.verdict, want, "split={} ops={:#?}", split, ops);
                if !expected {
                    prop_assert!(!report.counterexamples.is_empty());
                }
            }
            let (v, i) = counts.get();
            counts.set(if expected { (v + 1, i) } else { (v, i + 1) });
            Ok(())
        })
        .unwrap();
    (valid, invalid) = (valid + counts.get().0, invalid + counts.get().1);
    // The generator must exercise both verdicts, or the property proves little.
    assert!(
        valid * 10 >= cases && invalid * 10 >= cases,
        "{model:?}: {valid} valid, {invalid} invalid of {cases}"
    );
}

/// A random op packed into a short time span, for heavy overlap.
fn raw_dense() -> impl Strategy<Value = Raw> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        0u8..20,
        0u8..6,
        0u8..10,
        0u8..3,
    )
        .prop_map(|(f, a, b, out, outcome, start, len, key)| Raw {
            f,
            a,
            b,
            out,
            outcome,
            start,
            len,
            key,
        })
}

/// One search over a whole history on three keys (not split), where per-key projections die
/// and the search backjumps over other keys' choices, agrees with the oracle; so does the split
/// check. Dead projections and backjumps must actually happen in the run.
fn agree_keyed_no_split(model: ModelSpec, cases: u32) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = prop::collection::vec(raw_dense(), 2..=8);
    // (valid, invalid, cases with dead projections, cases with backjumps)
    let counts = std::cell::Cell::new((0u32, 0u32, 0u32, 0u32));
    runner
        .run(&strategy, |raws| {
            let mut ops = build(model, &raws, true);
            for (op, r) in ops.iter_mut().zip(&raws) {
                op.key = Some(json!(["a", "b", "c"][usize::from(r.key % 3)]));
            }
            let expected = oracle(model, false, &ops);
            let want = if expected {
                Verdict::Valid
            } else {
                Verdict::Invalid
            };
            let (mut dead, mut jumped) = (false, false);
            for split in [false, true] {
                let opts = CheckOptions {
                    split,
                    ..CheckOptions::default()
                };
                let report = check(&ops, model, &opts)
                    .map_err(|e| TestCaseError::fail(format!("model error: {e}")))?;
                prop_assert_eq!(report.verdict, want, "split={} ops={:#?}", split, ops);
                if !expected {
                    prop_assert!(!report.counterexamples.is_empty());
                }
                if !split {
                    dead = report.stats.dead_projections > 0;
                    jumped = report.stats.backjumps > 0;
                }
            }
            let (v, i, d, j) = counts.get();
            counts.set((
                v + u32::from(expected),
                i + u32::from(!expected),
                d + u32::from(dead),
                j + u32::from(jumped),
            ));
            Ok(())
        })
        .unwrap();
    let (valid, invalid, dead, jumped) = counts.get();
    assert!(
        valid * 10 >= cases && invalid * 10 >= cases,
        "{model:?}: {valid} valid, {invalid} invalid of {cases}"
    );
    assert!(
        dead * 10 >= cases && jumped * 20 >= cases,
        "{model:?}: dead projections in {dead}, backjumps in {jumped} of {cases} cases"
    );
}

#[test]
fn kv_on_three_keys_not_split_agrees_with_oracle() {
    agree_keyed_no_split(ModelSpec::Kv, 4000);
}

#[test]
fn cas_register_on_three_keys_not_split_agrees_with_oracle() {
    agree_keyed_no_split(ModelSpec::CasRegister, 4000);
}

#[test]
fn register_agrees_with_oracle() {
    agree(ModelSpec::Register, 3000);
}

#[test]
fn cas_register_agrees_with_oracle() {
    agree(ModelSpec::CasRegister, 3000);
}

#[test]
fn kv_agrees_with_oracle() {
    agree(ModelSpec::Kv, 3000);
}

#[test]
fn mutex_agrees_with_oracle() {
    agree(ModelSpec::Mutex, 3000);
}

#[test]
fn fifo_queue_agrees_with_oracle() {
    agree(ModelSpec::FifoQueue, 3000);
}

#[test]
fn unordered_queue_agrees_with_oracle() {
    agree(ModelSpec::UnorderedQueue, 3000);
}

#[test]
fn set_agrees_with_oracle() {
    agree(ModelSpec::Set, 3000);
}

#[test]
fn multi_register_agrees_with_oracle() {
    agree(ModelSpec::MultiRegister, 3000);
}

/// Append-heavy kv histories, where a get's value pins the order of the appends before it: the
/// search prunes configurations whose string is no longer a prefix of a get that must come
/// next (`Model::reachable`). Agrees with the oracle, split and not, on one key and on three,
/// and the pruning must actually happen in the run.
#[test]
fn kv_appends_pruned_by_later_gets_agree_with_oracle() {
    let cases = 4000;
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (prop::collection::vec(raw_dense(), 2..=8), any::<bool>());
    let gets = ["", "x", "y", "xy", "yx", "xyz", "yxz", "xzy", "zx", "xyzx"];
    // (valid, invalid, cases with pruned configurations)
    let counts = std::cell::Cell::new((0u32, 0u32, 0u32));
    runner
        .run(&strategy, |(raws, keyed)| {
            let mut ops = build(ModelSpec::Kv, &raws, false);
            for (op, r) in ops.iter_mut().zip(&raws) {
                let (f, input, read) = match r.f % 8 {
                    0..=2 => ("get", Value::Null, json!(pick(&gets, r.out))),
                    3..=6 => ("append", json!(pick(&["x", "y", "z"], r.a)), Value::Null),
                    _ => ("put", json!(pick(&gets, r.a)), Value::Null),
                };
                op.f = f.to_string();
                op.input = input.clone();
                op.output = match op.outcome {
                    Outcome::Ok if f == "get" => read,
                    Outcome::Ok => input,
                    _ => Value::Null,
                };
                if compare_failed(op) {
                    op.error = Some(json!("refused"));
                }
                if keyed {
                    op.key = Some(json!(["a", "b", "c"][usize::from(r.key % 3)]));
                }
            }
            let expected = oracle(ModelSpec::Kv, false, &ops);
            let want = if expected {
                Verdict::Valid
            } else {
                Verdict::Invalid
            };
            let mut pruned = false;
            for split in [true, false] {
                let opts = CheckOptions {
                    split,
                    ..CheckOptions::default()
                };
                let report = check(&ops, ModelSpec::Kv, &opts)
                    .map_err(|e| TestCaseError::fail(format!("model error: {e}")))?;
                prop_assert_eq!(report.verdict, want, "split={} ops={:#?}", split, ops);
                if !expected {
                    prop_assert!(!report.counterexamples.is_empty());
                }
                pruned |= report.stats.doomed > 0;
            }
            let (v, i, p) = counts.get();
            counts.set((
                v + u32::from(expected),
                i + u32::from(!expected),
                p + u32::from(pruned),
            ));
            Ok(())
        })
        .unwrap();
    let (valid, invalid, pruned) = counts.get();
    assert!(
        valid * 10 >= cases && invalid * 10 >= cases && pruned * 10 >= cases,
        "{valid} valid, {invalid} invalid, pruned in {pruned} of {cases} cases"
    );
}
