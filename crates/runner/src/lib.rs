//! faultline-runner: the engine behind `faultline test`.
//!
//! History flows one way: [`generator`]s say what each worker asks for; workers send it
//! through their [`client::Client`] (supplied by the workload) while the nemesis follows its
//! schedule; every invocation and completion goes through the [`recorder`] into
//! `history.jsonl`; checkers read that file later. The runner never judges results.
//!
//! - [`generator`]: composable generators ([`Gen`]) and what is deterministic about them;
//! - [`client`]: the client and client-factory traits;
//! - [`run()`]: workers, process ids, timeouts, the nemesis, phases;
//! - [`recorder`]: the history writer thread;
//! - [`store`]: run directories and the `latest` link.

pub mod client;
mod display;
pub mod generator;
mod live_effect;
pub mod live_facts;
pub mod recorder;
pub mod run;
pub mod store;

pub use client::{Client, ClientFactory, Completion};
pub use display::status_line;
pub use generator::{Gen, GenError, GenState, Op, OpCtx, Pending, PerKey, Share};
pub use recorder::{Stats, FLUSH_INTERVAL};
pub use run::{
    run, run_tapped, Nemesis, RunConfig, RunError, RunSummary, StopRequest, Workload,
    CLOCK_MEASURE_LIMIT,
};
pub use store::{begin_log, create_run_dir, RunDir};
