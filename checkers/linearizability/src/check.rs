//! The entry point: prepare a history, split it by key, search each part, and report.

use crate::keyed::Keyed;
use crate::model::{is_compare_failed, Model, ModelOptions};
use crate::models::{
    fifo_queue::FifoQueue, kv::Kv, multi_register::MultiRegister, mutex::Mutex, register::Register,
    set::Set, unordered_queue::UnorderedQueue,
};
use crate::report::{Counterexample, OpView, Report, Stats};
use crate::search::{search, Abort, Budget, Ending, SearchOp, SearchStats, Stuck};
use crate::values::canonical_string;
use faultline_history::{Operation, Outcome, Verdict};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde_json::Value;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Live progress of a check, for a progress bar: operations and keys done out of total.
#[derive(Debug, Default)]
pub struct Progress {
    /// Operations searched so far (a key's ops count as its search advances).
    pub done: AtomicU64,
    /// Operations to search.
    pub total: AtomicU64,
    /// Keys (partitions) finished.
    pub keys_done: AtomicU64,
    /// Keys (partitions) to search.
    pub keys_total: AtomicU64,
}

/// How to check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Split a keyed history by key and check keys independently, in parallel
    /// (P-compositionality). `false` checks the whole history as one search.
    pub split: bool,
    /// Model options (Knossos nil reads, initial value).
    pub model: ModelOptions,
    /// Give up with an unknown verdict after this long.
    pub time_limit: Option<Duration>,
    /// Give up with an unknown verdict when the search's memo tables and stacks hold about
    /// this many bytes (across all keys being searched at once).
    pub memory_limit: Option<usize>,
    /// Updated as the search advances.
    pub progress: Option<Arc<Progress>>,
    /// Set to true to stop the check; the verdict is then unknown.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Search every key even after one is found not linearizable, to report a counterexample
    /// per bad key. When false (the default, as Porcupine), the first bad key stops the
    /// others: faster, but which bad key is reported may vary between runs.
    pub all_keys: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            split: true,
            model: ModelOptions::default(),
            time_limit: None,
            memory_limit: Some(4 << 30),
            progress: None,
            cancel: None,
            all_keys: false,
        }
    }
}

/// An operation that does not fit the model, or a model name that does not exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelError {
    /// `index` of the offending operation's invoke event, if an operation is at fault.
    pub event: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.event {
            Some(e) => write!(f, "operation at event {e}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ModelError {}

/// The built-in models, by Knossos name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelSpec {
    /// `register`: read/write.
    Register,
    /// `cas-register`: read/write/cas.
    CasRegister,
    /// `multi-register`: transactions of reads and writes over named registers.
    MultiRegister,
    /// `kv`: get/put/append/cas per key.
    Kv,
    /// `mutex`: acquire/release.
    Mutex,
    /// `fifo-queue`: enqueue/dequeue in order.
    FifoQueue,
    /// `unordered-queue`: enqueue/dequeue in any order.
    UnorderedQueue,
    /// `set`: add/read.
    Set,
}

/// Names of the built-in models, as accepted by [`model_by_name`].
pub const MODEL_NAMES: &[&str] = &[
    "register",
    "cas-register",
    "multi-register",
    "kv",
    "mutex",
    "fifo-queue",
    "unordered-queue",
    "set",
];

/// The built-in model called `name`, if any.
pub fn model_by_name(name: &str) -> Option<ModelSpec> {
    Some(match name {
        "register" => ModelSpec::Register,
        "cas-register" => ModelSpec::CasRegister,
        "multi-register" => ModelSpec::MultiRegister,
        "kv" => ModelSpec::Kv,
        "mutex" => ModelSpec::Mutex,
        "fifo-queue" => ModelSpec::FifoQueue,
        "unordered-queue" => ModelSpec::UnorderedQueue,
        "set" => ModelSpec::Set,
        _ => return None,
    })
}

impl ModelSpec {
    /// The model's name.
    pub fn name(self) -> &'static str {
        match self {
            ModelSpec::Register => "register",
            ModelSpec::CasRegister => "cas-register",
            ModelSpec::MultiRegister => "multi-register",
            ModelSpec::Kv => "kv",
            ModelSpec::Mutex => "mutex",
            ModelSpec::FifoQueue => "fifo-queue",
            ModelSpec::UnorderedQueue => "unordered-queue",
            ModelSpec::Set => "set",
        }
    }
}

impl std::str::FromStr for ModelSpec {
    type Err = ModelError;
    fn from_str(name: &str) -> Result<Self, ModelError> {
        model_by_name(name).ok_or_else(|| ModelError {
            event: None,
            message: format!(
                "unknown model `{name}`; known models: {}",
                MODEL_NAMES.join(", ")
            ),
        })
    }
}

/// Why a history with no operations is unknown, not valid: an empty history is no evidence.
pub const NO_OPERATIONS: &str = "the history holds no operations, so there was nothing to check";

/// Checks `ops` against the built-in model `spec`.
pub fn check(
    ops: &[Operation],
    spec: ModelSpec,
    opts: &CheckOptions,
) -> Result<Report, ModelError> {
    match spec {
        ModelSpec::Register => check_model(ops, &Register { cas: false }, opts),
        ModelSpec::CasRegister => check_model(ops, &Register { cas: true }, opts),
        ModelSpec::MultiRegister => check_model(ops, &MultiRegister, opts),
        ModelSpec::Kv => check_model(ops, &Kv, opts),
        ModelSpec::Mutex => check_model(ops, &Mutex, opts),
        ModelSpec::FifoQueue => check_model(ops, &FifoQueue, opts),
        ModelSpec::UnorderedQueue => check_model(ops, &UnorderedQueue, opts),
        ModelSpec::Set => check_model(ops, &Set, opts),
    }
}

/// Checks `ops` against any model, e.g. one of your own.
pub fn check_model<M: Model>(
    ops: &[Operation],
    model: &M,
    opts: &CheckOptions,
) -> Result<Report, ModelError> {
    let started = Instant::now();
    for op in ops {
        if op.complete_index.is_some_and(|c| c < op.invoke_index) {
            return Err(ModelError {
                event: Some(op.invoke_index),
                message: "completes before it is invoked".into(),
            });
        }
    }
    let keyed = ops.iter().any(|o| o.key.is_some());
    let mut report = if keyed && !opts.split {
        let all: Vec<usize> = (0..ops.len()).collect();
        run(&Keyed(model), ops, vec![(None, all)], opts)?
    } else if keyed {
        let mut ids: FxHashMap<String, usize> = FxHashMap::default();
        let mut parts: Vec<(Option<Value>, Vec<usize>)> = Vec::new();
        for (j, op) in ops.iter().enumerate() {
            let name = op.key.as_ref().map(canonical_string).unwrap_or_default();
            let p = *ids.entry(name).or_insert_with(|| {
                parts.push((op.key.clone(), Vec::new()));
                parts.len() - 1
            });
            parts[p].1.push(j);
        }
        run(model, ops, parts, opts)?
    } else {
        run(model, ops, vec![(None, (0..ops.len()).collect())], opts)?
    };
    report.model = model.name().to_string();
    report.stats.ops = ops.len();
    if ops.is_empty() {
        report.verdict = Verdict::Unknown;
        report.reason = Some(NO_OPERATIONS.to_string());
    }
    report.stats.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// One partition, compiled.
struct Part<M: Model> {
    key: Option<Value>,
    ctx: M::Ctx,
    ops: Vec<SearchOp<M::Op>>,
    /// Index into the input of each of `ops`.
    sources: Vec<usize>,
}

fn compile<M: Model>(
    model: &M,
    input: &[Operation],
    key: Option<Value>,
    mut members: Vec<usize>,
    opts: &ModelOptions,
) -> Result<Part<M>, ModelError> {
    members.sort_by_key(|&j| input[j].invoke_index);
    let mut ctx = model.new_ctx(opts);
    let all: Vec<&Operation> = members.iter().map(|&j| &input[j]).collect();
    model.prepare(&mut ctx, &all);
    drop(all);
    let mut ops = Vec::with_capacity(members.len());
    let mut sources = Vec::with_capacity(members.len());
    for j in members {
        let op = &input[j];
        if op.outcome == Outcome::Fail && !is_compare_failed(op) {
            continue;
        }
        let compiled = model.compile(&mut ctx, op).map_err(|message| ModelError {
            event: Some(op.invoke_index),
            message,
        })?;
        let info = op.outcome == Outcome::Info;
        if model.trivial(&compiled) || (info && model.read_only(&compiled)) {
            continue;
        }
        ops.push(SearchOp {
            op: compiled,
            info,
            call: op.invoke_index,
            ret: if info {
                u64::MAX
            } else {
                op.complete_index.unwrap_or(u64::MAX)
            },
        });
        sources.push(j);
    }
    Ok(Part {
        key,
        ctx,
        ops,
        sources,
    })
}

enum PartEnding {
    Valid,
    Invalid(Box<Counterexample>),
    Aborted,
}

fn run<M: Model>(
    model: &M,
    input: &[Operation],
    parts: Vec<(Option<Value>, Vec<usize>)>,
    opts: &CheckOptions,
) -> Result<Report, ModelError> {
    let compile_one = |(key, members)| compile(model, input, key, members, &opts.model);
    let compiled: Vec<Result<Part<M>, ModelError>> = if input.len() < PARALLEL_OPS {
        parts.into_iter().map(compile_one).collect()
    } else {
        parts.into_par_iter().map(compile_one).collect()
    };
    let mut parts = Vec::with_capacity(compiled.len());
    let mut first_error: Option<ModelError> = None;
    for c in compiled {
        match c {
            Ok(p) => parts.push(p),
            Err(e) => {
                if first_error.as_ref().is_none_or(|f| e.event < f.event) {
                    first_error = Some(e);
                }
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }

    let checked: usize = parts.iter().map(|p| p.ops.len()).sum();
    if let Some(p) = &opts.progress {
        p.total.store(checked as u64, Ordering::Relaxed);
        p.keys_total.store(parts.len() as u64, Ordering::Relaxed);
    }
    let memory_used = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let reason = AtomicU64::new(0);
    let budget = Budget {
        deadline: opts.time_limit.map(|t| Instant::now() + t),
        memory_limit: opts.memory_limit,
        memory_used: &memory_used,
        cancel: opts.cancel.as_deref(),
        stop: &stop,
        reason: &reason,
        progress_done: opts.progress.as_ref().map(|p| &p.done),
    };

    // Two passes, so that a key that is quick to decide (often the invalid one) is not stuck
    // behind keys that take long: first every partition, smallest first, with a small step
    // cap; then the ones that did not finish, biggest first, without it.
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|&i| parts[i].ops.len());
    let slots: Vec<std::sync::Mutex<Part<M>>> =
        parts.into_iter().map(std::sync::Mutex::new).collect();
    let results: Vec<std::sync::Mutex<(Option<PartEnding>, SearchStats)>> = slots
        .iter()
        .map(|_| std::sync::Mutex::new((None, SearchStats::default())))
        .collect();
    let pass = |order: &[usize], step_cap: Option<u64>| {
        let cursor = AtomicUsize::new(0);
        let work = |_| loop {
            let at = cursor.fetch_add(1, Ordering::Relaxed);
            let Some(&i) = order.get(at) else { break };
            if stop.load(Ordering::Relaxed) {
                results[i].lock().unwrap().0 = Some(PartEnding::Aborted);
                continue;
            }
            let mut part = slots[i].lock().unwrap();
            let mut stats = SearchStats::default();
            let outcome = search_part(model, input, &mut part, &budget, &mut stats, step_cap);
            if !opts.all_keys && matches!(outcome, Some(PartEnding::Invalid(_))) {
                stop.store(true, Ordering::Relaxed);
            }
            if outcome.is_some() {
                if let Some(p) = &opts.progress {
                    p.keys_done.fetch_add(1, Ordering::Relaxed);
                }
            }
            let mut r = results[i].lock().unwrap();
            r.0 = outcome;
            r.1.add(&stats);
        };
        let workers = if checked < PARALLEL_OPS {
            1
        } else {
            rayon::current_num_threads().min(order.len()).max(1)
        };
        if workers == 1 {
            work(0);
        } else {
            (0..workers).into_par_iter().for_each(work);
        }
    };
    if order.len() > 1 {
        pass(&order, Some(FIRST_PASS_STEPS));
    }
    let mut rest: Vec<usize> = order
        .into_iter()
        .filter(|&i| results[i].lock().unwrap().0.is_none())
        .collect();
    rest.reverse();
    pass(&rest, None);

    let mut stats = Stats {
        checked,
        keys: results.len(),
        ..Stats::default()
    };
    let mut counterexamples = Vec::new();
    let mut aborted = 0;
    for r in results {
        let (ending, s) = r.into_inner().unwrap();
        let ending = ending.expect("every part was searched");
        stats.states += s.states;
        stats.max_prefix = stats.max_prefix.max(s.max_prefix);
        stats.dead_projections += s.dead_projections;
        stats.backjumps += s.backjumps;
        stats.doomed += s.doomed;
        match ending {
            PartEnding::Valid => stats.keys_done += 1,
            PartEnding::Invalid(c) => {
                stats.keys_done += 1;
                counterexamples.push(*c);
            }
            PartEnding::Aborted => aborted += 1,
        }
    }
    let (verdict, reason) = if !counterexamples.is_empty() {
        (Verdict::Invalid, None)
    } else if aborted > 0 {
        let why = match budget.recorded() {
            Some(Abort::Time) => format!(
                "time limit of {:.1?} reached",
                opts.time_limit.unwrap_or_default()
            ),
            Some(Abort::Memory) => format!(
                "memory limit of {} MiB reached",
                opts.memory_limit.unwrap_or_default() >> 20
            ),
            _ => "cancelled".to_string(),
        };
        (
            Verdict::Unknown,
            Some(format!(
                "{why}: {} of {} keys checked, longest linearized prefix {} ops, {} \
                 configurations explored",
                stats.keys_done, stats.keys, stats.max_prefix, stats.states
            )),
        )
    } else {
        (Verdict::Valid, None)
    };
    Ok(Report {
        model: String::new(),
        verdict,
        reason,
        stats,
        counterexamples,
    })
}

/// Below this many operations a check runs on the calling thread: waking the thread pool
/// costs more than the search (and starting it, on the first check of a process, far more).
const PARALLEL_OPS: usize = 20_000;

/// Steps of the first pass over a keyed history's partitions (see [`run`]).
const FIRST_PASS_STEPS: u64 = 1 << 12;

/// Searches one partition; `None` when `step_cap` was reached first.
fn search_part<M: Model>(
    model: &M,
    input: &[Operation],
    part: &mut Part<M>,
    budget: &Budget,
    stats: &mut SearchStats,
    step_cap: Option<u64>,
) -> Option<PartEnding> {
    let init = model.init(&mut part.ctx);
    let ending = search(
        model,
        &mut part.ctx,
        &part.ops,
        init.clone(),
        budget,
        stats,
        step_cap,
    );
    Some(match ending {
        Ending::Linearizable => PartEnding::Valid,
        Ending::Aborted => PartEnding::Aborted,
        Ending::Paused => return None,
        Ending::NotLinearizable(stuck) => {
            PartEnding::Invalid(Box::new(counterexample(model, input, part, &init, stuck)))
        }
    })
}

fn counterexample<M: Model>(
    model: &M,
    input: &[Operation],
    part: &mut Part<M>,
    init: &M::State,
    stuck: Stuck<M::State>,
) -> Counterexample {
    let blocked = &part.ops[stuck.blocked];
    let view = |i: usize| OpView::of(&input[part.sources[i]]);
    let op = view(stuck.blocked);
    let prefix: Vec<OpView> = stuck.prefix.iter().map(|&i| view(i)).collect();
    let concurrent: Vec<OpView> = (0..part.ops.len())
        .filter(|&i| {
            let o = &part.ops[i];
            i != stuck.blocked && o.call < blocked.ret && blocked.call < o.ret
        })
        .map(view)
        .collect();
    let d = prefix.len();
    let possible = model
        .step(&mut part.ctx, &stuck.state, &blocked.op)
        .is_some();
    let clause = model.explain(&part.ctx, &stuck.state, &blocked.op);
    let state = match stuck.overwrite {
        // What the overwriter wrote, as the history has it (a value nobody reads is compiled
        // as one shared value, whose name would be another op's).
        Some(w) => written(&input[part.sources[w.overwriter]]),
        None => model.state_json(&part.ctx, &stuck.state),
    };
    let head = format!("{} cannot be linearized", op.describe());
    let explanation = if let Some(w) = stuck.overwrite {
        let over = view(w.overwriter).describe();
        let others = if w.producers > 1 {
            format!(
                " The same holds for each of the {} other ways that value could have been \
                 there.",
                w.producers - 1
            )
        } else {
            String::new()
        };
        match w.producer {
            Some(p) => format!(
                "{head}: the value it observed was written by {}, which completed before {over} \
                 began, and that completed before this {} began: in any order the overwrite \
                 comes between them, and nothing writes the value again.{others}",
                view(p).describe(),
                op.f
            ),
            None => format!(
                "{head}: it observed the initial value, but {over} replaced it and completed \
                 before this {} began, and nothing writes that value again.{others}",
                op.f
            ),
        }
    } else if possible {
        format!(
            "{head}: after the longest linearizable prefix ({d} ops) the state is {state}; it \
             can take effect there, but no order of the remaining concurrent operations then \
             completes the history."
        )
    } else if let Some(v) = model.observes(&blocked.op) {
        let all_declared = part
            .ops
            .iter()
            .all(|o| model.read_only(&o.op) || model.produces(&o.op).is_some());
        let from_initial = model.step(&mut part.ctx, init, &blocked.op).is_some();
        let producers: Vec<&SearchOp<M::Op>> = part
            .ops
            .iter()
            .filter(|o| model.produces(&o.op) == Some(v))
            .collect();
        if all_declared && !from_initial && producers.is_empty() {
            format!("{head}: {clause}, and no operation ever wrote that value.")
        } else if all_declared && !from_initial && producers.iter().all(|p| p.call > blocked.ret) {
            let which = if producers.len() == 1 {
                "the only write of that value was"
            } else {
                "every write of that value was"
            };
            format!(
                "{head}: {clause}, and {which} invoked after this {} completed.",
                op.f
            )
        } else {
            format!(
                "{head}: after the longest linearizable prefix ({d} ops), {clause}, and no \
                 concurrent operation that could produce it remains."
            )
        }
    } else {
        format!(
            "{head}: after the longest linearizable prefix ({d} ops), {clause}, and no remaining \
             concurrent operation makes it possible."
        )
    };
    Counterexample {
        key: part.key.clone(),
        op,
        prefix,
        state,
        concurrent,
        explanation,
        real_time: stuck.overwrite.is_some(),
    }
}

/// The value an operation that sets one leaves: a cas's new value, else its own value.
fn written(op: &Operation) -> Value {
    let value = crate::model::op_value(op);
    match crate::model::cas_pair(&op.f, value) {
        Ok((_, new)) if op.f == "cas" => new.clone(),
        _ => value.clone(),
    }
}
