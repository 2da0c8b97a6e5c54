//! The [`Model`] trait: a sequential specification the search checks a history against.
//!
//! A model compiles each [`Operation`] once into a compact `Op` (values interned to integer
//! ids), and steps a compact `State`. States must be cheap to clone, hash and compare: the
//! search memoises every (linearized set, state) pair it reaches.

use faultline_history::{Operation, Outcome, COMPARE_FAILED};
use serde_json::Value;
use std::fmt::Debug;
use std::hash::Hash;

/// Options that change how models read histories.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelOptions {
    /// Knossos semantics: a read whose value is `null` matches any state (the read's result is
    /// unknown). Set it for histories imported from Jepsen EDN. When false (Porcupine and
    /// faultline's own histories), `null` means "absent" and must equal the state.
    pub nil_read_matches_any: bool,
    /// The initial value of registers and of every kv key, replacing the model's default
    /// (`null` for registers, `""` for kv); for multi-register, an object gives each register
    /// its own by name.
    pub initial: Option<Value>,
}

/// A sequential specification: implement it to check histories of a new data type.
///
/// `compile` sees each operation exactly once, before the search; `step` runs millions of times.
pub trait Model: Send + Sync {
    /// A compiled operation.
    type Op: Clone + Debug + Eq + Hash + Send;
    /// A model state.
    type State: Clone + Debug + Eq + Hash + Send;
    /// Per-search mutable context: interners and memoised transitions.
    type Ctx: Send;

    /// The model's name, e.g. `cas-register`.
    fn name(&self) -> &str;
    /// A fresh context for one search (one key, or the whole history).
    fn new_ctx(&self, opts: &ModelOptions) -> Self::Ctx;
    /// Compiles one operation, or explains why it does not fit the model (without the
    /// "operation at event N" prefix, which the caller adds).
    ///
    /// Called only for `ok` and `info` operations and for `fail` operations whose error is
    /// [`COMPARE_FAILED`]; see [`op_value`] for which value to use.
    fn compile(&self, ctx: &mut Self::Ctx, op: &Operation) -> Result<Self::Op, String>;
    /// Sees every operation of the search (those [`Model::compile`] will get, and possibly
    /// others) before any is compiled, e.g. to learn which values are ever observed. Optional:
    /// a model must compile correctly without it.
    fn prepare(&self, _ctx: &mut Self::Ctx, _ops: &[&Operation]) {}
    /// The initial state; called after every operation of the search has been compiled.
    fn init(&self, ctx: &mut Self::Ctx) -> Self::State;
    /// Applies `op` to `state`: the next state, or `None` if `op` cannot happen in `state`.
    fn step(&self, ctx: &mut Self::Ctx, state: &Self::State, op: &Self::Op) -> Option<Self::State>;
    /// True when `op` never changes the state (e.g. a read). An `info` read-only op may simply
    /// not have happened, so the search drops it.
    fn read_only(&self, op: &Self::Op) -> bool;
    /// True when `op` can only grow the state toward what later reads observe (e.g. `append`,
    /// or any read-only op); see [`Model::reachable`]. Defaults to [`Model::read_only`].
    fn monotone(&self, op: &Self::Op) -> bool {
        self.read_only(op)
    }
    /// Whether `op` could still succeed after some sequence of [`Model::monotone`] ops from
    /// `state` (e.g. a kv `get` of `"abc"` from `"ab"` with only appends in between: yes; from
    /// `"b"`: never). The search uses it to prune: when every op that may still go before `op`
    /// is monotone and this is false, the configuration is dead. It must never say false when
    /// such a sequence exists; the default, `true`, never prunes.
    fn reachable(&self, ctx: &mut Self::Ctx, state: &Self::State, op: &Self::Op) -> bool {
        let _ = (ctx, state, op);
        true
    }
    /// True when `op` succeeds in every state without changing it (e.g. a read whose value is
    /// unknown); the search drops it.
    fn trivial(&self, op: &Self::Op) -> bool {
        let _ = op;
        false
    }
    /// The state as JSON, for counterexamples.
    fn state_json(&self, ctx: &Self::Ctx, state: &Self::State) -> Value;
    /// Why `op` cannot be applied to `state`, as a clause, e.g. "read returned 1, but the
    /// register holds 3".
    fn explain(&self, ctx: &Self::Ctx, state: &Self::State, op: &Self::Op) -> String;
    /// The value an op needs the state to hold to succeed (a read's result, a cas's expected
    /// value), as an id comparable with [`Model::produces`].
    fn observes(&self, op: &Self::Op) -> Option<u64> {
        let _ = op;
        None
    }
    /// The value a write-like op leaves in the state, as an id comparable with [`Model::observes`].
    fn produces(&self, op: &Self::Op) -> Option<u64> {
        let _ = op;
        None
    }
    /// The value an op's step compares the state with, equal or not (a read's result, a cas's
    /// expected value, a failed cas's too), as an id comparable with [`Model::holds`].
    /// Defaults to [`Model::observes`].
    fn compares(&self, op: &Self::Op) -> Option<u64> {
        self.observes(op)
    }
    /// The value `state` holds, as an id comparable with [`Model::observes`],
    /// [`Model::compares`] and [`Model::produces`], when the state is nothing but one value (a
    /// register). `None` (the default) for other models.
    ///
    /// Returning `Some` lets the search reason about values (see `LostValues` in search.rs): a
    /// configuration is dead as soon as a value some remaining `ok` op observes has been
    /// overwritten and no remaining op produces it again (with unique written values, the
    /// common case, a write linearized too early is refuted at once instead of after every
    /// order of the ops concurrent with it), and states holding values no remaining op compares
    /// with are one state for the memo. So it must be exact: equal held values mean equal
    /// states; an op's step depends on the state only through whether it holds the op's
    /// [`Model::compares`] value; an op that observes `x` compares with `x` and steps only from
    /// a state holding `x`; and a step leaves the held value unchanged or sets it to what the op
    /// produces.
    fn holds(&self, state: &Self::State) -> Option<u64> {
        let _ = state;
        None
    }
    /// The state holding `value` (an id as [`Model::holds`] gives), the inverse of
    /// [`Model::holds`] where that is `Some`; `None` (the default) otherwise.
    fn holding(&self, value: u64) -> Option<Self::State> {
        let _ = value;
        None
    }
    /// The independent part (e.g. the key) `op` alone reads and writes, when the model's state
    /// is a product of independent parts and every op touches exactly one of them. `None` (the
    /// default) when the model is not such a product.
    ///
    /// Returning `Some` lets one search over the whole history reason per part (by the locality
    /// of linearizability), so it must be exact: an op's step must only depend on and change
    /// [`Model::part_state_id`] of its own part.
    fn part(&self, op: &Self::Op) -> Option<u32> {
        let _ = op;
        None
    }
    /// An id of part `part` of `state`: equal ids exactly when that part's states are equal.
    /// Only called when [`Model::part`] returns `Some`.
    fn part_state_id(&self, ctx: &mut Self::Ctx, state: &Self::State, part: u32) -> u64 {
        let _ = (ctx, state, part);
        0
    }
    /// Approximate bytes a context holds (interners, memoised transitions), for the memory
    /// budget; contexts that grow during the search should report it.
    fn ctx_bytes(&self, ctx: &Self::Ctx) -> usize {
        let _ = ctx;
        0
    }
    /// Approximate heap bytes a state holds beyond `size_of::<State>()`, for the memory budget.
    fn heap_bytes(&self, state: &Self::State) -> usize {
        let _ = state;
        0
    }
}

/// The value an operation is judged by (Knossos): the completion's for `ok`, the invocation's
/// for `info` and for a compare-failed `fail`. An `ok` completion without a value (`null`)
/// falls back to the invocation's value, so clients that do not echo arguments still check.
pub fn op_value(op: &Operation) -> &Value {
    match op.outcome {
        Outcome::Ok if !op.output.is_null() => &op.output,
        _ => &op.input,
    }
}

/// True when `op` is a `fail` whose error states the compare of a cas failed.
pub fn is_compare_failed(op: &Operation) -> bool {
    op.outcome == Outcome::Fail && op.error.as_ref().and_then(Value::as_str) == Some(COMPARE_FAILED)
}

/// True when the op's result is known (`ok`, or a compare-failed `fail`): an `info` op's reads
/// are unknown.
pub fn result_known(op: &Operation) -> bool {
    op.outcome != Outcome::Info
}

/// The standard "no such function" message.
pub fn no_function(model: &str, f: &str) -> String {
    format!("model {model} has no function `{f}`")
}

/// Splits a cas value `[expected, new]`, or explains what is wrong with it.
pub fn cas_pair<'a>(model: &str, value: &'a Value) -> Result<(&'a Value, &'a Value), String> {
    match value.as_array().map(Vec::as_slice) {
        Some([expected, new]) => Ok((expected, new)),
        _ => Err(format!(
            "model {model}: cas value must be [expected, new], got {value}"
        )),
    }
}

/// Compare-failed is only meaningful for `cas`.
pub fn compare_failed_needs_cas(model: &str, f: &str) -> String {
    format!("model {model}: a `{COMPARE_FAILED}` fail applies only to `cas`, not `{f}`")
}
