//! `kv`: one key of a key-value store with `get`, `put`, `append` and `cas`.
//!
//! Keys are independent: the checker splits a keyed history by key, or (with `split: false`)
//! wraps this model in [`crate::keyed::Keyed`]. Every key starts as the empty string `""`, as in
//! Porcupine's kv model (set [`ModelOptions::initial`] to start from e.g. `null`). `append`
//! concatenates strings; appending to `null` appends to `""`.

use crate::model::{
    cas_pair, compare_failed_needs_cas, is_compare_failed, no_function, op_value, result_known,
    Model, ModelOptions,
};
use crate::values::{Interner, ValueId};
use faultline_history::Operation;
use rustc_hash::FxHashMap;
use serde_json::Value;

/// One key of a key-value store.
#[derive(Clone, Copy, Debug, Default)]
pub struct Kv;

/// A compiled kv operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// Observed this value.
    Get(ValueId),
    /// A get whose result is unknown: always legal.
    GetAny,
    /// Sets the value.
    Put(ValueId),
    /// Appends this string.
    Append(ValueId),
    /// If the value is `.0`, sets it to `.1`.
    Cas(ValueId, ValueId),
    /// The compare failed: the value was not `.0`.
    CasFailed(ValueId),
}

/// Interned values and memoised appends, for one search.
#[derive(Debug)]
pub struct KvCtx {
    values: Interner,
    appended: FxHashMap<(ValueId, ValueId), Option<ValueId>>,
    scratch: String,
    opts: ModelOptions,
}

impl KvCtx {
    fn append(&mut self, state: ValueId, suffix: ValueId) -> Option<ValueId> {
        if let Some(&r) = self.appended.get(&(state, suffix)) {
            return r;
        }
        let result = if state == Interner::NULL {
            Some(suffix)
        } else {
            match (self.values.as_str(state), self.values.as_str(suffix)) {
                (Some(base), Some(s)) => {
                    self.scratch.clear();
                    self.scratch.push_str(base);
                    self.scratch.push_str(s);
                    Some(self.values.intern_str(&self.scratch))
                }
                _ => None,
            }
        };
        self.appended.insert((state, suffix), result);
        result
    }
}

impl Model for Kv {
    type Op = KvOp;
    type State = ValueId;
    type Ctx = KvCtx;

    fn name(&self) -> &str {
        "kv"
    }

    fn new_ctx(&self, opts: &ModelOptions) -> KvCtx {
        KvCtx {
            values: Interner::default(),
            appended: FxHashMap::default(),
            scratch: String::new(),
            opts: opts.clone(),
        }
    }

    fn compile(&self, ctx: &mut KvCtx, op: &Operation) -> Result<KvOp, String> {
        let value = op_value(op);
        if is_compare_failed(op) && op.f != "cas" {
            return Err(compare_failed_needs_cas(self.name(), &op.f));
        }
        match op.f.as_str() {
            "get" | "read" => {
                if !result_known(op) || (value.is_null() && ctx.opts.nil_read_matches_any) {
                    Ok(KvOp::GetAny)
                } else {
                    Ok(KvOp::Get(ctx.values.intern(value)))
                }
            }
            "put" | "write" => Ok(KvOp::Put(ctx.values.intern(value))),
            "append" => match value {
                Value::String(_) => Ok(KvOp::Append(ctx.values.intern(value))),
                other => Err(format!(
                    "model kv: append needs a string value, got {other}"
                )),
            },
            "cas" => {
                let (expected, new) = cas_pair(self.name(), value)?;
                let expected = ctx.values.intern(expected);
                if is_compare_failed(op) {
                    Ok(KvOp::CasFailed(expected))
                } else {
                    Ok(KvOp::Cas(expected, ctx.values.intern(new)))
                }
            }
            f => Err(no_function(self.name(), f)),
        }
    }

    fn init(&self, ctx: &mut KvCtx) -> ValueId {
        let initial = ctx
            .opts
            .initial
            .clone()
            .unwrap_or_else(|| Value::String(String::new()));
        ctx.values.intern(&initial)
    }

    #[inline]
    fn step(&self, ctx: &mut KvCtx, state: &ValueId, op: &KvOp) -> Option<ValueId> {
        match *op {
            KvOp::Get(v) => (*state == v).then_some(v),
            KvOp::GetAny => Some(*state),
            KvOp::Put(v) => Some(v),
            KvOp::Append(s) => ctx.append(*state, s),
            KvOp::Cas(expected, new) => (*state == expected).then_some(new),
            KvOp::CasFailed(expected) => (*state != expected).then_some(*state),
        }
    }

    fn read_only(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get(_) | KvOp::GetAny | KvOp::CasFailed(_))
    }

    /// Appends only grow a string, and reads and failed compares change nothing.
    fn monotone(&self, op: &KvOp) -> bool {
        matches!(
            op,
            KvOp::Get(_) | KvOp::GetAny | KvOp::CasFailed(_) | KvOp::Append(_)
        )
    }

    /// After appends alone, a string state is a prefix of every later get's value.
    #[inline]
    fn reachable(&self, ctx: &mut KvCtx, state: &ValueId, op: &KvOp) -> bool {
        let KvOp::Get(v) = *op else { return true };
        if *state == v || *state == Interner::NULL {
            return true;
        }
        match (ctx.values.as_str(*state), ctx.values.as_str(v)) {
            (Some(s), Some(v)) => v.starts_with(s),
            // A state that is not a string cannot be appended to, and a string stays one.
            _ => false,
        }
    }

    fn trivial(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::GetAny)
    }

    fn state_json(&self, ctx: &KvCtx, state: &ValueId) -> Value {
        ctx.values.value(*state)
    }

    fn explain(&self, ctx: &KvCtx, state: &ValueId, op: &KvOp) -> String {
        let v = |id: ValueId| ctx.values.value(id).to_string();
        let holds = v(*state);
        match *op {
            KvOp::Get(r) => format!("get returned {}, but the key holds {holds}", v(r)),
            KvOp::Append(s) => format!("append of {} cannot apply to {holds}", v(s)),
            KvOp::Cas(e, n) => format!(
                "cas from {} to {} succeeded, but the key holds {holds}",
                v(e),
                v(n)
            ),
            KvOp::CasFailed(e) => format!(
                "cas expecting {} failed its compare, but the key holds exactly {holds}",
                v(e)
            ),
            KvOp::Put(_) | KvOp::GetAny => format!("the key holds {holds}"),
        }
    }

    fn observes(&self, op: &KvOp) -> Option<u64> {
        match *op {
            KvOp::Get(v) | KvOp::Cas(v, _) => Some(v.into()),
            _ => None,
        }
    }

    fn ctx_bytes(&self, ctx: &KvCtx) -> usize {
        ctx.values.bytes() + ctx.appended.capacity() * 13
    }

    fn produces(&self, op: &KvOp) -> Option<u64> {
        match *op {
            KvOp::Put(v) | KvOp::Cas(_, v) => Some(v.into()),
            _ => None,
        }
    }
}
