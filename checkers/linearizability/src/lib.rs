//! Linearizability checker: does a history of concurrent operations have a legal sequential
//! order that respects real time?
//!
//! The search is WGL with Lowe's refinements (as in Porcupine's `checker.go`), memoising every
//! (linearized set, state) configuration. Models follow Knossos (`register`, `cas-register`,
//! `multi-register`, `mutex`, `fifo-queue`, `unordered-queue`, `set`) plus Porcupine's `kv`;
//! implement [`Model`] to add one. Keyed histories are split by key and the keys searched in
//! parallel (P-compositionality); `split: false` searches the whole history at once, pruning
//! configurations by per-key projections proven dead and backjumping over other keys' choices
//! (sound by the locality of linearizability; see the `search` module).
//!
//! Semantics (see `docs` of each item):
//! - `ok` ops happened between invocation and completion, with the completion's value;
//! - `fail` ops did not happen, except a failed `cas` whose error is
//!   [`faultline_history::COMPARE_FAILED`]: it happened and saw a value other than expected;
//! - `info` ops may have happened at any instant after invocation, or never. `info` ops that
//!   cannot change the state (reads) are dropped; identical open `info` ops are linearized in
//!   invocation order only (symmetry reduction).
//!
//! ```
//! use faultline_linearizability::{check, CheckOptions, ModelSpec};
//! let report = check(&[], ModelSpec::CasRegister, &CheckOptions::default()).unwrap();
//! assert_eq!(report.verdict, faultline_history::Verdict::Valid);
//! ```

mod check;
pub mod keyed;
pub mod model;
pub mod models;
pub mod report;
mod search;
pub mod stream;
pub mod synth;
pub mod values;

pub use check::{
    check, check_model, model_by_name, CheckOptions, ModelError, ModelSpec, Progress, MODEL_NAMES,
    NO_OPERATIONS,
};
pub use model::{Model, ModelOptions};
pub use report::{Counterexample, OpView, Report, Stats};
pub use stream::{Finding, SpecStream, StreamChecker, StreamError};
