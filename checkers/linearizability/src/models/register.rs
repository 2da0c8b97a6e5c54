//! `register` (read/write) and `cas-register` (read/write/cas), as in Knossos; initially `null`.
//!
//! Values that no operation observes (no read returns them, no cas expects them) are
//! indistinguishable: every read, cas and failed cas gives the same answer on any of them. So,
//! once [`Model::prepare`] has seen the history, they are compiled as one value (shown as the
//! first of them in a counterexample's state, and as "a value no operation reads" in its
//! explanation). Crashed writes of values nobody reads then become identical operations,
//! which the search linearizes in invocation order only, and the memo merges the states they
//! leave: the difference between deciding a history with many crashed processes and not.

use crate::model::{
    cas_pair, compare_failed_needs_cas, is_compare_failed, no_function, op_value, result_known,
    Model, ModelOptions,
};
use crate::values::{Interner, ValueId};
use faultline_history::Operation;
use rustc_hash::FxHashSet;
use serde_json::Value;

/// A read/write register, with `cas` when `cas` is true (`cas-register`).
#[derive(Clone, Copy, Debug)]
pub struct Register {
    /// Whether `cas` is allowed (`cas-register`).
    pub cas: bool,
}

/// A compiled register operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOp {
    /// Sets the value.
    Write(ValueId),
    /// Observed this value.
    Read(ValueId),
    /// A read whose result is unknown: always legal.
    ReadAny,
    /// If the value is `.0`, sets it to `.1`.
    Cas(ValueId, ValueId),
    /// The compare failed: the value was not `.0`; nothing written.
    CasFailed(ValueId),
}

/// Interned values plus options, for one search.
#[derive(Debug)]
pub struct RegisterCtx {
    /// The value interner.
    pub values: Interner,
    opts: ModelOptions,
    /// Values some operation observes, once [`Model::prepare`] has run.
    observed: Option<FxHashSet<ValueId>>,
    /// The one value every unobserved value is compiled as (the first one met).
    unobserved: Option<ValueId>,
}

impl RegisterCtx {
    /// The id `value` is compiled as when written: unobserved values all share one.
    fn written(&mut self, value: &Value) -> ValueId {
        let id = self.values.intern(value);
        match &self.observed {
            Some(seen) if !seen.contains(&id) => *self.unobserved.get_or_insert(id),
            _ => id,
        }
    }
}

impl Model for Register {
    type Op = RegisterOp;
    type State = ValueId;
    type Ctx = RegisterCtx;

    fn name(&self) -> &str {
        if self.cas {
            "cas-register"
        } else {
            "register"
        }
    }

    fn new_ctx(&self, opts: &ModelOptions) -> RegisterCtx {
        RegisterCtx {
            values: Interner::default(),
            opts: opts.clone(),
            observed: None,
            unobserved: None,
        }
    }

    fn prepare(&self, ctx: &mut RegisterCtx, ops: &[&Operation]) {
        let mut seen = FxHashSet::default();
        if let Some(v) = &ctx.opts.initial {
            seen.insert(ctx.values.intern(v));
        }
        seen.insert(Interner::NULL);
        for op in ops {
            let value = op_value(op);
            match op.f.as_str() {
                "read" if result_known(op) => {
                    seen.insert(ctx.values.intern(value));
                }
                "cas" => {
                    if let Ok((expected, _)) = cas_pair(self.name(), value) {
                        seen.insert(ctx.values.intern(expected));
                    }
                }
                _ => {}
            }
        }
        ctx.observed = Some(seen);
    }

    fn compile(&self, ctx: &mut RegisterCtx, op: &Operation) -> Result<RegisterOp, String> {
        let value = op_value(op);
        if is_compare_failed(op) && op.f != "cas" {
            return Err(compare_failed_needs_cas(self.name(), &op.f));
        }
        match op.f.as_str() {
            "read" => {
                if !result_known(op) || (value.is_null() && ctx.opts.nil_read_matches_any) {
                    Ok(RegisterOp::ReadAny)
                } else {
                    Ok(RegisterOp::Read(ctx.values.intern(value)))
                }
            }
            "write" => Ok(RegisterOp::Write(ctx.written(value))),
            "cas" if self.cas => {
                let (expected, new) = cas_pair(self.name(), value)?;
                let expected = ctx.values.intern(expected);
                if is_compare_failed(op) {
                    Ok(RegisterOp::CasFailed(expected))
                } else {
                    Ok(RegisterOp::Cas(expected, ctx.written(new)))
                }
            }
            f => Err(no_function(self.name(), f)),
        }
    }

    fn init(&self, ctx: &mut RegisterCtx) -> ValueId {
        match ctx.opts.initial.clone() {
            Some(v) => ctx.values.intern(&v),
            None => Interner::NULL,
        }
    }

    #[inline]
    fn step(&self, _: &mut RegisterCtx, state: &ValueId, op: &RegisterOp) -> Option<ValueId> {
        match *op {
            RegisterOp::Write(v) => Some(v),
            RegisterOp::Read(v) => (*state == v).then_some(v),
            RegisterOp::ReadAny => Some(*state),
            RegisterOp::Cas(expected, new) => (*state == expected).then_some(new),
            RegisterOp::CasFailed(expected) => (*state != expected).then_some(*state),
        }
    }

    fn read_only(&self, op: &RegisterOp) -> bool {
        matches!(
            op,
            RegisterOp::Read(_) | RegisterOp::ReadAny | RegisterOp::CasFailed(_)
        )
    }

    fn trivial(&self, op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::ReadAny)
    }

    fn state_json(&self, ctx: &RegisterCtx, state: &ValueId) -> Value {
        ctx.values.value(*state)
    }

    fn explain(&self, ctx: &RegisterCtx, state: &ValueId, op: &RegisterOp) -> String {
        let v = |id: ValueId| ctx.values.value(id).to_string();
        // The merged value stands for every value no operation reads: name none of them.
        let holds = if ctx.unobserved == Some(*state) {
            "a value no operation reads".to_string()
        } else {
            v(*state)
        };
        match *op {
            RegisterOp::Read(r) => {
                format!("read returned {}, but the register holds {holds}", v(r))
            }
            RegisterOp::Cas(e, n) => format!(
                "cas from {} to {} succeeded, but the register holds {holds}",
                v(e),
                // The merged value stands for every value no operation reads: name none.
                if ctx.unobserved == Some(n) {
                    "a value no operation reads".to_string()
                } else {
                    v(n)
                }
            ),
            RegisterOp::CasFailed(e) => format!(
                "cas expecting {} failed its compare, but the register holds exactly {holds}",
                v(e)
            ),
            RegisterOp::Write(_) | RegisterOp::ReadAny => {
                format!("the register holds {holds}")
            }
        }
    }

    fn observes(&self, op: &RegisterOp) -> Option<u64> {
        match *op {
            RegisterOp::Read(v) | RegisterOp::Cas(v, _) => Some(v.into()),
            _ => None,
        }
    }

    fn compares(&self, op: &RegisterOp) -> Option<u64> {
        match *op {
            RegisterOp::Read(v) | RegisterOp::Cas(v, _) | RegisterOp::CasFailed(v) => {
                Some(v.into())
            }
            RegisterOp::Write(_) | RegisterOp::ReadAny => None,
        }
    }

    fn holds(&self, state: &ValueId) -> Option<u64> {
        Some((*state).into())
    }

    fn holding(&self, value: u64) -> Option<ValueId> {
        ValueId::try_from(value).ok()
    }

    fn produces(&self, op: &RegisterOp) -> Option<u64> {
        match *op {
            RegisterOp::Write(v) | RegisterOp::Cas(_, v) => Some(v.into()),
            _ => None,
        }
    }
}
