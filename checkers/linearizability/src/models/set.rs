//! `set`: `add` a value and `read` the whole set, initially empty (Knossos).
//!
//! Reads compare as sets: EDN sets arrive as JSON arrays, so order and duplicates are ignored.

use crate::model::{is_compare_failed, no_function, op_value, Model, ModelOptions};
use crate::values::{Interner, ValueId};
use faultline_history::Operation;
use serde_json::Value;

/// A grow-only set.
#[derive(Clone, Copy, Debug, Default)]
pub struct Set;

/// A compiled set operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetOp {
    /// Adds a value.
    Add(ValueId),
    /// Observed exactly these values (sorted, deduplicated).
    Read(Box<[ValueId]>),
    /// A read that returned `null`: never equal to a set, as in Knossos.
    ReadNull,
}

impl Model for Set {
    type Op = SetOp;
    /// Members, sorted.
    type State = Vec<ValueId>;
    type Ctx = Interner;

    fn name(&self) -> &str {
        "set"
    }

    fn new_ctx(&self, _: &ModelOptions) -> Interner {
        Interner::default()
    }

    fn compile(&self, values: &mut Interner, op: &Operation) -> Result<SetOp, String> {
        if is_compare_failed(op) {
            return Err(format!("model set: `{}` cannot fail a compare", op.f));
        }
        let value = op_value(op);
        match op.f.as_str() {
            "add" => Ok(SetOp::Add(values.intern(value))),
            "read" => match value {
                Value::Array(items) => {
                    let mut ids: Vec<ValueId> = items.iter().map(|v| values.intern(v)).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    Ok(SetOp::Read(ids.into()))
                }
                Value::Null => Ok(SetOp::ReadNull),
                other => Err(format!(
                    "model set: read value must be an array (a set), got {other}"
                )),
            },
            f => Err(no_function(self.name(), f)),
        }
    }

    fn init(&self, _: &mut Interner) -> Vec<ValueId> {
        Vec::new()
    }

    fn step(&self, _: &mut Interner, members: &Vec<ValueId>, op: &SetOp) -> Option<Vec<ValueId>> {
        match op {
            SetOp::Add(v) => Some(match members.binary_search(v) {
                Ok(_) => members.clone(),
                Err(at) => {
                    let mut next = Vec::with_capacity(members.len() + 1);
                    next.extend_from_slice(&members[..at]);
                    next.push(*v);
                    next.extend_from_slice(&members[at..]);
                    next
                }
            }),
            SetOp::Read(seen) => (**seen == **members).then(|| members.clone()),
            SetOp::ReadNull => None,
        }
    }

    fn read_only(&self, op: &SetOp) -> bool {
        !matches!(op, SetOp::Add(_))
    }

    fn state_json(&self, values: &Interner, members: &Vec<ValueId>) -> Value {
        Value::Array(members.iter().map(|&v| values.value(v)).collect())
    }

    fn explain(&self, values: &Interner, members: &Vec<ValueId>, op: &SetOp) -> String {
        let state = self.state_json(values, members);
        match op {
            SetOp::Read(seen) => {
                let seen: Vec<Value> = seen.iter().map(|&v| values.value(v)).collect();
                format!(
                    "read returned {}, but the set is {state}",
                    Value::Array(seen)
                )
            }
            SetOp::ReadNull => "read returned null, which is not a set".into(),
            SetOp::Add(_) => format!("the set is {state}"),
        }
    }

    fn heap_bytes(&self, members: &Vec<ValueId>) -> usize {
        members.capacity() * 4
    }
}
