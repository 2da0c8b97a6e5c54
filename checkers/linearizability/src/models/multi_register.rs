//! `multi-register`: registers named by key, read and written by transactions (Knossos).
//!
//! Every operation has `f` = `txn` and a value that is a list of micro-operations
//! `[f, k, v]` with `f` `read` or `write`. Registers start as `null` (or
//! [`ModelOptions::initial`]: one value for all, or a map by register name). With `nil_read_matches_any` (Knossos), a read of `null` is always
//! legal; reads inside an `info` transaction are unknown, so always legal too.

use crate::model::{is_compare_failed, no_function, op_value, result_known, Model, ModelOptions};
use crate::values::{Interner, ValueId};
use faultline_history::Operation;
use serde_json::Value;

/// Registers named by key, accessed by transactions.
#[derive(Clone, Copy, Debug, Default)]
pub struct MultiRegister;

/// One micro-operation of a transaction; the first field is the register's index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Micro {
    /// Observed this value.
    Read(u32, ValueId),
    /// Unknown read: always legal.
    ReadAny(u32),
    /// Sets the value.
    Write(u32, ValueId),
}

/// A compiled transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Txn(pub Box<[Micro]>);

/// Interned register names and values, for one search.
#[derive(Debug)]
pub struct MultiCtx {
    keys: Interner,
    values: Interner,
    opts: ModelOptions,
}

impl Model for MultiRegister {
    type Op = Txn;
    /// Each register's value, by register index.
    type State = Box<[ValueId]>;
    type Ctx = MultiCtx;

    fn name(&self) -> &str {
        "multi-register"
    }

    fn new_ctx(&self, opts: &ModelOptions) -> MultiCtx {
        MultiCtx {
            keys: Interner::default(),
            values: Interner::default(),
            opts: opts.clone(),
        }
    }

    fn compile(&self, ctx: &mut MultiCtx, op: &Operation) -> Result<Txn, String> {
        if op.f != "txn" {
            return Err(no_function(self.name(), &op.f));
        }
        if is_compare_failed(op) {
            return Err("model multi-register: `txn` cannot fail a compare".into());
        }
        let value = op_value(op);
        let micros = value.as_array().ok_or_else(|| {
            format!("model multi-register: txn value must be a list of [f, k, v], got {value}")
        })?;
        let mut out = Vec::with_capacity(micros.len());
        for m in micros {
            let Some([f, k, v]) = m.as_array().map(Vec::as_slice) else {
                return Err(format!(
                    "model multi-register: micro-op must be [f, k, v], got {m}"
                ));
            };
            let key = ctx.keys.intern(k);
            match f.as_str() {
                Some("read") => {
                    if !result_known(op) || (v.is_null() && ctx.opts.nil_read_matches_any) {
                        out.push(Micro::ReadAny(key));
                    } else {
                        out.push(Micro::Read(key, ctx.values.intern(v)));
                    }
                }
                Some("write") => out.push(Micro::Write(key, ctx.values.intern(v))),
                _ => {
                    return Err(format!(
                        "model multi-register: micro-op f must be read or write, got {f}"
                    ))
                }
            }
        }
        Ok(Txn(out.into()))
    }

    /// Every register starts at [`ModelOptions::initial`], or `null`; an object there gives
    /// each register its own by name (`{"x": 0, "y": 0}`, as Knossos' multi-register takes a
    /// map), and registers it does not name start at `null`.
    fn init(&self, ctx: &mut MultiCtx) -> Box<[ValueId]> {
        match ctx.opts.initial.clone() {
            Some(Value::Object(by_name)) => (0..ctx.keys.len() as ValueId)
                .map(|k| {
                    let key = ctx.keys.value(k);
                    let name = key.as_str().map_or_else(|| key.to_string(), str::to_string);
                    by_name
                        .get(&name)
                        .map_or(Interner::NULL, |v| ctx.values.intern(v))
                })
                .collect(),
            Some(v) => vec![ctx.values.intern(&v); ctx.keys.len()].into(),
            None => vec![Interner::NULL; ctx.keys.len()].into(),
        }
    }

    fn step(&self, _: &mut MultiCtx, state: &Box<[ValueId]>, op: &Txn) -> Option<Box<[ValueId]>> {
        let mut next: Option<Box<[ValueId]>> = None;
        for m in op.0.iter() {
            let current = next.as_deref().unwrap_or(state);
            match *m {
                Micro::Read(k, v) => {
                    if current[k as usize] != v {
                        return None;
                    }
                }
                Micro::ReadAny(_) => {}
                Micro::Write(k, v) => {
                    next.get_or_insert_with(|| state.clone())[k as usize] = v;
                }
            }
        }
        Some(next.unwrap_or_else(|| state.clone()))
    }

    fn read_only(&self, op: &Txn) -> bool {
        op.0.iter().all(|m| !matches!(m, Micro::Write(..)))
    }

    fn trivial(&self, op: &Txn) -> bool {
        op.0.iter().all(|m| matches!(m, Micro::ReadAny(_)))
    }

    fn state_json(&self, ctx: &MultiCtx, state: &Box<[ValueId]>) -> Value {
        Value::Array(
            state
                .iter()
                .enumerate()
                .map(|(k, &v)| Value::Array(vec![ctx.keys.value(k as u32), ctx.values.value(v)]))
                .collect(),
        )
    }

    fn explain(&self, ctx: &MultiCtx, state: &Box<[ValueId]>, op: &Txn) -> String {
        let mut current = state.clone();
        for m in op.0.iter() {
            match *m {
                Micro::Read(k, v) if current[k as usize] != v => {
                    return format!(
                        "txn read {} from register {}, but it holds {}",
                        ctx.values.value(v),
                        ctx.keys.value(k),
                        ctx.values.value(current[k as usize])
                    )
                }
                Micro::Write(k, v) => current[k as usize] = v,
                _ => {}
            }
        }
        format!("the registers are {}", self.state_json(ctx, state))
    }

    fn heap_bytes(&self, state: &Box<[ValueId]>) -> usize {
        state.len() * 4
    }
}
