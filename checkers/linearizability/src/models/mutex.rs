//! `mutex`: a single lock with `acquire` and `release`, initially free (Knossos).

use crate::model::{is_compare_failed, no_function, Model, ModelOptions};
use faultline_history::Operation;
use serde_json::Value;

/// A single mutex.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mutex;

/// A compiled mutex operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MutexOp {
    /// Takes the free lock.
    Acquire,
    /// Frees the held lock.
    Release,
}

impl Model for Mutex {
    type Op = MutexOp;
    /// True when held.
    type State = bool;
    type Ctx = ();

    fn name(&self) -> &str {
        "mutex"
    }

    fn new_ctx(&self, _: &ModelOptions) {}

    fn compile(&self, _: &mut (), op: &Operation) -> Result<MutexOp, String> {
        if is_compare_failed(op) {
            return Err(format!("model mutex: `{}` cannot fail a compare", op.f));
        }
        match op.f.as_str() {
            "acquire" => Ok(MutexOp::Acquire),
            "release" => Ok(MutexOp::Release),
            f => Err(no_function(self.name(), f)),
        }
    }

    fn init(&self, _: &mut ()) -> bool {
        false
    }

    #[inline]
    fn step(&self, _: &mut (), held: &bool, op: &MutexOp) -> Option<bool> {
        match op {
            MutexOp::Acquire => (!held).then_some(true),
            MutexOp::Release => held.then_some(false),
        }
    }

    fn read_only(&self, _: &MutexOp) -> bool {
        false
    }

    fn state_json(&self, _: &(), held: &bool) -> Value {
        Value::String(if *held { "held" } else { "free" }.into())
    }

    fn explain(&self, _: &(), held: &bool, op: &MutexOp) -> String {
        match (op, held) {
            (MutexOp::Acquire, true) => "acquire succeeded, but the lock is already held".into(),
            (MutexOp::Release, false) => "release succeeded, but the lock is not held".into(),
            _ => format!("the lock is {}", if *held { "held" } else { "free" }),
        }
    }
}
