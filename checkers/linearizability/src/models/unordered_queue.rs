//! `unordered-queue`: `enqueue` and `dequeue` of any pending value, initially empty (Knossos).
//!
//! An `info` dequeue whose value is unknown is dropped: removing an element can never make a
//! later operation possible (dequeues only need their value present), so "it never happened" is
//! always at least as permissive as any value it might have removed.

use crate::model::{is_compare_failed, no_function, op_value, result_known, Model, ModelOptions};
use crate::values::{Interner, ValueId};
use faultline_history::Operation;
use serde_json::Value;

/// A queue that does not order its pending values (a multiset).
#[derive(Clone, Copy, Debug, Default)]
pub struct UnorderedQueue;

/// A compiled queue operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnorderedOp {
    /// Adds a value.
    Enqueue(ValueId),
    /// Removed one copy of this value.
    Dequeue(ValueId),
    /// An `info` dequeue with unknown value: dropped (see the module doc).
    DequeueUnknown,
}

impl Model for UnorderedQueue {
    type Op = UnorderedOp;
    /// Pending values, sorted (a multiset).
    type State = Vec<ValueId>;
    type Ctx = Interner;

    fn name(&self) -> &str {
        "unordered-queue"
    }

    fn new_ctx(&self, _: &ModelOptions) -> Interner {
        Interner::default()
    }

    fn compile(&self, values: &mut Interner, op: &Operation) -> Result<UnorderedOp, String> {
        if is_compare_failed(op) {
            return Err(format!(
                "model unordered-queue: `{}` cannot fail a compare",
                op.f
            ));
        }
        let value = op_value(op);
        match op.f.as_str() {
            "enqueue" => Ok(UnorderedOp::Enqueue(values.intern(value))),
            "dequeue" if !result_known(op) && value.is_null() => Ok(UnorderedOp::DequeueUnknown),
            "dequeue" => Ok(UnorderedOp::Dequeue(values.intern(value))),
            f => Err(no_function(self.name(), f)),
        }
    }

    fn init(&self, _: &mut Interner) -> Vec<ValueId> {
        Vec::new()
    }

    fn step(
        &self,
        _: &mut Interner,
        pending: &Vec<ValueId>,
        op: &UnorderedOp,
    ) -> Option<Vec<ValueId>> {
        match *op {
            UnorderedOp::Enqueue(v) => {
                let at = pending.partition_point(|&x| x <= v);
                let mut next = Vec::with_capacity(pending.len() + 1);
                next.extend_from_slice(&pending[..at]);
                next.push(v);
                next.extend_from_slice(&pending[at..]);
                Some(next)
            }
            UnorderedOp::Dequeue(v) => pending.binary_search(&v).ok().map(|at| {
                let mut next = pending.clone();
                next.remove(at);
                next
            }),
            UnorderedOp::DequeueUnknown => Some(pending.clone()),
        }
    }

    fn read_only(&self, op: &UnorderedOp) -> bool {
        matches!(op, UnorderedOp::DequeueUnknown)
    }

    fn trivial(&self, op: &UnorderedOp) -> bool {
        matches!(op, UnorderedOp::DequeueUnknown)
    }

    fn state_json(&self, values: &Interner, pending: &Vec<ValueId>) -> Value {
        Value::Array(pending.iter().map(|&v| values.value(v)).collect())
    }

    fn explain(&self, values: &Interner, pending: &Vec<ValueId>, op: &UnorderedOp) -> String {
        let state = self.state_json(values, pending);
        match *op {
            UnorderedOp::Dequeue(v) => format!(
                "dequeue returned {}, but the pending values are {state}",
                values.value(v)
            ),
            _ => format!("the pending values are {state}"),
        }
    }

    fn heap_bytes(&self, pending: &Vec<ValueId>) -> usize {
        pending.capacity() * 4
    }
}
