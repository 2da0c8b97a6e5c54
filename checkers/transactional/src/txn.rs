//! Transactions as the checker sees them: compact micro-operations with keys and values
//! interned to integers, parsed from `txn` operations.
//!
//! A `txn` operation's value is a list of micro-operations `[f, key, value]`: `["append", k, v]`
//! and `["r", k, [v...]]` for list-append, `["w", k, v]` and `["r", k, v]` for rw-register.
//! Reads carry `null` on the invoke and what they saw on an `ok` completion; the checker takes
//! an `ok` transaction's micro-operations from its completion, and an `info` or `fail` one's
//! from its invocation (their reads are unknown).

use faultline_history::{InputError, Operation, Outcome};
use rustc_hash::FxHashMap;
use serde_json::Value;

/// An interned key or value.
pub type Id = u32;

/// One micro-operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mop {
    /// `["append", k, v]`: append `v` to the list at `k`.
    Append(Id, Id),
    /// `["r", k, [v...]]`: the list at `k`; `None` when unknown (not an `ok` transaction).
    ReadList(Id, Option<Vec<Id>>),
    /// `["w", k, v]`: set register `k` to `v`.
    Write(Id, Id),
    /// `["r", k, v]`: register `k`; `Some(None)` read the initial `null`, `None` is unknown.
    ReadReg(Id, Option<Option<Id>>),
}

impl Mop {
    /// The key the micro-operation acts on.
    pub fn key(&self) -> Id {
        match self {
            Mop::Append(k, _) | Mop::ReadList(k, _) | Mop::Write(k, _) | Mop::ReadReg(k, _) => *k,
        }
    }
}

/// One transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Txn {
    /// Client process.
    pub process: u64,
    /// ok, fail or info.
    pub outcome: Outcome,
    /// `index` of the invoke event.
    pub invoke_index: u64,
    /// `index` of the completion; `None` if the history ended first.
    pub complete_index: Option<u64>,
    /// The micro-operations, in order.
    pub mops: Vec<Mop>,
}

/// Which kind of data the history's transactions act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    /// Lists with `append` and `r` (reads return whole lists).
    ListAppend,
    /// Registers with `w` and `r` (reads return one value).
    RwRegister,
}

impl Workload {
    /// Elle's name: `list-append` or `rw-register`.
    pub fn name(self) -> &'static str {
        match self {
            Workload::ListAppend => "list-append",
            Workload::RwRegister => "rw-register",
        }
    }
}

/// Interns JSON keys and values to dense integers, and gives them back for explanations.
#[derive(Default, Debug)]
pub struct Interner {
    ints: FxHashMap<i64, Id>,
    others: FxHashMap<String, Id>,
    values: Vec<Value>,
}

impl Interner {
    /// The id of `v`, new if unseen.
    pub fn intern(&mut self, v: &Value) -> Id {
        if let Some(i) = v.as_i64() {
            if let Some(&id) = self.ints.get(&i) {
                return id;
            }
            let id = self.values.len() as Id;
            self.ints.insert(i, id);
            self.values.push(v.clone());
            return id;
        }
        let text = v.to_string();
        if let Some(&id) = self.others.get(&text) {
            return id;
        }
        let id = self.values.len() as Id;
        self.others.insert(text, id);
        self.values.push(v.clone());
        id
    }

    /// The JSON value with id `id`.
    pub fn value(&self, id: Id) -> &Value {
        &self.values[id as usize]
    }

    /// `id` as text: numbers and strings plainly, other JSON as JSON.
    pub fn show(&self, id: Id) -> String {
        match self.value(id) {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        }
    }
}

/// A parsed transactional history.
#[derive(Debug)]
pub struct TxnHistory {
    /// list-append or rw-register.
    pub workload: Workload,
    /// The transactions, in invocation order.
    pub txns: Vec<Txn>,
    /// Keys and values.
    pub interner: Interner,
    /// Client operations that were not `txn` (ignored).
    pub skipped: usize,
}

fn bad(op: &Operation, message: String) -> InputError {
    InputError {
        event: op.invoke_index,
        message,
    }
}

/// What a micro-operation's function says about the workload.
fn mop_kind(f: &str) -> Option<char> {
    match f {
        "append" => Some('a'),
        "r" | "read" => Some('r'),
        "w" | "write" => Some('w'),
        _ => None,
    }
}

/// Decides list-append or rw-register from the micro-operations present.
fn detect_workload(ops: &[&Operation]) -> Workload {
    let mut saw_write = false;
    let mut saw_scalar_read = false;
    for op in ops {
        for side in [&op.input, &op.output] {
            let Some(mops) = side.as_array() else {
                continue;
            };
            for m in mops {
                let Some(m) = m.as_array() else { continue };
                match m.first().and_then(Value::as_str).and_then(mop_kind) {
                    Some('a') => return Workload::ListAppend,
                    Some('w') => saw_write = true,
                    Some('r') => match m.get(2) {
                        Some(Value::Array(_)) => return Workload::ListAppend,
                        Some(Value::Null) | None => {}
                        Some(_) => saw_scalar_read = true,
                    },
                    _ => {}
                }
            }
        }
    }
    if saw_write || saw_scalar_read {
        Workload::RwRegister
    } else {
        Workload::ListAppend
    }
}

/// Parses the `txn` operations of a history (others are counted and skipped).
pub fn parse(ops: &[Operation]) -> Result<TxnHistory, InputError> {
    let txn_ops: Vec<&Operation> = ops.iter().filter(|o| o.f == "txn").collect();
    let skipped = ops.len() - txn_ops.len();
    let workload = detect_workload(&txn_ops);
    let mut interner = Interner::default();
    let mut txns = Vec::with_capacity(txn_ops.len());
    for op in txn_ops {
        txns.push(parse_txn(op, workload, &mut interner)?);
    }
    txns.sort_by_key(|t| t.invoke_index);
    Ok(TxnHistory {
        workload,
        txns,
        interner,
        skipped,
    })
}

fn parse_txn(
    op: &Operation,
    workload: Workload,
    interner: &mut Interner,
) -> Result<Txn, InputError> {
    let example = match workload {
        Workload::ListAppend => r#"[["append", 1, 2], ["r", 1, null]]"#,
        Workload::RwRegister => r#"[["w", 1, 2], ["r", 1, null]]"#,
    };
    let Some(input) = op.input.as_array() else {
        return Err(bad(
            op,
            format!(
                "the txn's value is {}; expected a list of micro-operations such as {example}",
                short(&op.input)
            ),
        ));
    };
    let output = match (&op.outcome, &op.output) {
        (Outcome::Ok, Value::Array(out)) => {
            if out.len() != input.len() {
                return Err(bad(
                    op,
                    format!(
                        "the txn has {} micro-operations on invoke but {} on completion",
                        input.len(),
                        out.len()
                    ),
                ));
            }
            Some(out)
        }
        (Outcome::Ok, other) => {
            return Err(bad(
                op,
                format!(
                    "the ok txn's completion value is {}; expected the micro-operations with what each read saw",
                    short(other)
                ),
            ))
        }
        _ => None,
    };
    let mut mops = Vec::with_capacity(input.len());
    for (i, m) in input.iter().enumerate() {
        let done = output.map(|o| &o[i]);
        mops.push(parse_mop(op, m, done, workload, interner, example)?);
    }
    Ok(Txn {
        process: op.process,
        outcome: op.outcome,
        invoke_index: op.invoke_index,
        complete_index: op.complete_index,
        mops,
    })
}

fn parse_mop(
    op: &Operation,
    m: &Value,
    done: Option<&Value>,
    workload: Workload,
    interner: &mut Interner,
    example: &str,
) -> Result<Mop, InputError> {
    let parts = m.as_array().filter(|p| p.len() == 3).ok_or_else(|| {
        bad(
            op,
            format!(
                "micro-operation {} is not [f, key, value]; expected e.g. {example}",
                short(m)
            ),
        )
    })?;
    let f = parts[0].as_str().and_then(mop_kind);
    let key = interner.intern(&parts[1]);
    // The completion's micro-operation must be the same call.
    let seen = match done {
        Some(d) => {
            let dp = d.as_array().filter(|p| p.len() == 3);
            match dp {
                Some(dp) if dp[0] == parts[0] && dp[1] == parts[1] => Some(&dp[2]),
                _ => {
                    return Err(bad(
                        op,
                        format!(
                            "completion micro-operation {} does not match invoked {}",
                            short(d),
                            short(m)
                        ),
                    ))
                }
            }
        }
        None => None,
    };
    match (f, workload) {
        (Some('a'), Workload::ListAppend) => Ok(Mop::Append(key, interner.intern(&parts[2]))),
        (Some('w'), Workload::RwRegister) => Ok(Mop::Write(key, interner.intern(&parts[2]))),
        (Some('r'), Workload::ListAppend) => match seen {
            None => Ok(Mop::ReadList(key, None)),
            Some(Value::Null) => Ok(Mop::ReadList(key, Some(Vec::new()))),
            Some(Value::Array(vs)) => Ok(Mop::ReadList(
                key,
                Some(vs.iter().map(|v| interner.intern(v)).collect()),
            )),
            Some(other) => Err(bad(
                op,
                format!(
                    "read of key {} returned {}; a list-append read returns a list",
                    short(&parts[1]),
                    short(other)
                ),
            )),
        },
        (Some('r'), Workload::RwRegister) => match seen {
            None => Ok(Mop::ReadReg(key, None)),
            Some(Value::Null) => Ok(Mop::ReadReg(key, Some(None))),
            Some(v) => Ok(Mop::ReadReg(key, Some(Some(interner.intern(v))))),
        },
        (Some(_), w) => Err(bad(
            op,
            format!(
                "micro-operation {} does not belong in a {} history (it mixes append and w)",
                short(m),
                w.name()
            ),
        )),
        (None, _) => Err(bad(
            op,
            format!(
                "micro-operation {} has f {}; expected \"append\", \"r\" or \"w\"",
                short(m),
                short(&parts[0])
            ),
        )),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        let cut: String = s.chars().take(60).collect();
        format!("{cut}…")
    } else {
        s
    }
}
