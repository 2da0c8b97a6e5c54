//! `fifo-queue`: `enqueue` and `dequeue` in FIFO order, initially empty (Knossos).
//!
//! As in Knossos, a dequeue's value must be the head; dequeuing from an empty queue is
//! inconsistent. An `info` dequeue whose value is unknown (`null` invocation) may have removed
//! the head, whatever it was: it compiles to [`FifoOp::DequeueAny`] (Knossos would require the
//! head to be `null`, which could wrongly reject a history where it did happen).

use crate::model::{is_compare_failed, no_function, op_value, result_known, Model, ModelOptions};
use crate::values::{Interner, ValueId};
use faultline_history::Operation;
use serde_json::Value;

/// A FIFO queue.
#[derive(Clone, Copy, Debug, Default)]
pub struct FifoQueue;

/// A compiled queue operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FifoOp {
    /// Adds at the tail.
    Enqueue(ValueId),
    /// Removed this value from the head.
    Dequeue(ValueId),
    /// Removed the head, value unknown.
    DequeueAny,
}

impl Model for FifoQueue {
    type Op = FifoOp;
    /// Pending values, head first.
    type State = Vec<ValueId>;
    type Ctx = Interner;

    fn name(&self) -> &str {
        "fifo-queue"
    }

    fn new_ctx(&self, _: &ModelOptions) -> Interner {
        Interner::default()
    }

    fn compile(&self, values: &mut Interner, op: &Operation) -> Result<FifoOp, String> {
        if is_compare_failed(op) {
            return Err(format!(
                "model fifo-queue: `{}` cannot fail a compare",
                op.f
            ));
        }
        let value = op_value(op);
        match op.f.as_str() {
            "enqueue" => Ok(FifoOp::Enqueue(values.intern(value))),
            "dequeue" if !result_known(op) && value.is_null() => Ok(FifoOp::DequeueAny),
            "dequeue" => Ok(FifoOp::Dequeue(values.intern(value))),
            f => Err(no_function(self.name(), f)),
        }
    }

    fn init(&self, _: &mut Interner) -> Vec<ValueId> {
        Vec::new()
    }

    fn step(&self, _: &mut Interner, queue: &Vec<ValueId>, op: &FifoOp) -> Option<Vec<ValueId>> {
        match *op {
            FifoOp::Enqueue(v) => {
                let mut next = Vec::with_capacity(queue.len() + 1);
                next.extend_from_slice(queue);
                next.push(v);
                Some(next)
            }
            FifoOp::Dequeue(v) => (queue.first() == Some(&v)).then(|| queue[1..].to_vec()),
            FifoOp::DequeueAny => (!queue.is_empty()).then(|| queue[1..].to_vec()),
        }
    }

    fn read_only(&self, _: &FifoOp) -> bool {
        false
    }

    fn state_json(&self, values: &Interner, queue: &Vec<ValueId>) -> Value {
        Value::Array(queue.iter().map(|&v| values.value(v)).collect())
    }

    fn explain(&self, values: &Interner, queue: &Vec<ValueId>, op: &FifoOp) -> String {
        let state = self.state_json(values, queue);
        match *op {
            FifoOp::Dequeue(v) if queue.is_empty() => format!(
                "dequeue returned {}, but the queue is empty",
                values.value(v)
            ),
            FifoOp::Dequeue(v) => format!(
                "dequeue returned {}, but the queue is {state} (head first)",
                values.value(v)
            ),
            _ => format!("the queue is {state}"),
        }
    }

    fn heap_bytes(&self, queue: &Vec<ValueId>) -> usize {
        queue.capacity() * 4
    }
}
