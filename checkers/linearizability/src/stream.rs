//! Streamed checking: decides a keyed history's keys while the history is still being
//! written, one event at a time, and forgets what it no longer needs.
//!
//! Per key it keeps a *segment*: the completed operations since the key's last cut. A cut is
//! a point where the key has no open invocation (and no key-less invocation is open): every
//! later operation on the key is invoked after every earlier one completed, so by real time
//! the key's history is the segment's operations, then the later ones. At a cut whose segment
//! holds no `info` operation the search keeps (an `info` write stays open for ever, so no cut
//! can pass it), the segment is searched exhaustively for the set of states it can end in,
//! starting from every state the key could be in before it; the segment is then dropped and
//! the key continues from that set. An empty set means the key is not linearizable.
//!
//! Soundness of an early `invalid`: if the whole history of a key is linearizable, so is
//! every prefix ending at a cut (the part of a legal order before the first later operation
//! holds every completed operation of the prefix; `info` ones it leaves out may never have
//! happened). So a prefix found not linearizable is an anomaly of the whole history. A key
//! with a kept `info` operation is tested the same way at points where no operation on it is
//! open, and decided for good at the end.
//!
//! The final verdict equals [`crate::check`]'s on the whole history split by key: a key never
//! cut is checked at the end by [`check_model`] itself; a key cut at least once is decided by
//! the same exhaustive search over its last segment, which is exact. Memory is what the
//! uncut keys and the segments hold, not the history.

use crate::check::{check_model, CheckOptions, ModelError};
use crate::model::{is_compare_failed, Model};
use crate::report::{Counterexample, OpView, Report, Stats};
use crate::values::canonical_string;
use faultline_history::{Event, EventType, Operation, Outcome, Process, Verdict};
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value;
use std::time::Instant;

/// Configurations an exhaustive search of one segment may visit while the run goes; past it
/// the key waits for a later cut (or the end) instead of holding the recorder back.
const SEGMENT_CONFIGS: usize = 200_000;

/// Bytes one memoised configuration is counted for against [`CheckOptions::memory_limit`] in
/// a key's final search.
const CONFIG_BYTES: usize = 64;

/// An anomaly found while the history was still growing.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// The key found not linearizable.
    pub key: Option<Value>,
    /// `index` of the event after which it was found.
    pub event: u64,
    /// `time` of that event, ns since the test started.
    pub time: u64,
    /// Why.
    pub counterexample: Counterexample,
}

/// A history event the stream cannot take (it breaks the pairing rules).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamError {
    /// `index` of the offending event.
    pub event: u64,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "event {}: {}", self.event, self.message)
    }
}

impl std::error::Error for StreamError {}

/// One operation of a segment, compiled.
struct SegOp<O> {
    op: O,
    /// `info` (optional, never returns).
    info: bool,
    call: u64,
    ret: u64,
}

/// What the stream knows of one key.
struct KeyState<M: Model> {
    key: Option<Value>,
    ctx: M::Ctx,
    /// Invocations on this key still open.
    open: usize,
    /// The states the key may be in before `segment`; `None` until the first cut (the segment
    /// is then the key's whole history).
    starts: Option<Vec<M::State>>,
    /// Completed operations since the last cut, with their compiled form (`None`: dropped,
    /// as a plain `fail`, an `info` read or an always-legal op).
    segment: Vec<(Operation, Option<M::Op>)>,
    /// `segment` holds a kept `info` operation: no cut until the end.
    pinned: bool,
    /// `segment.len()` at the last early search of a pinned key.
    tried: usize,
    /// Cuts gave up (a segment too big to search while the run goes): decide at the end.
    uncuttable: bool,
    /// Operations already summarised in `starts`.
    before: usize,
    /// Found not linearizable: the rest of its history is not kept.
    invalid: Option<Counterexample>,
}

/// Checks a keyed history as its events arrive; see the module docs.
pub struct StreamChecker<M: Model> {
    model: M,
    opts: CheckOptions,
    keys: FxHashMap<String, KeyState<M>>,
    /// Open invocations by process: the key's name and the operation so far.
    open: FxHashMap<u64, (String, Operation)>,
    /// Open invocations without a key: while any is open no key is cut (its key is not
    /// known until it completes).
    keyless_open: usize,
    last_index: Option<u64>,
    ops: usize,
    states: u64,
    first_error: Option<ModelError>,
    started: Instant,
}

impl<M: Model> StreamChecker<M> {
    /// A checker of `model` with `opts` (their `split` is ignored: keys are always separate).
    pub fn new(model: M, opts: CheckOptions) -> Self {
        StreamChecker {
            model,
            opts,
            keys: FxHashMap::default(),
            open: FxHashMap::default(),
            keyless_open: 0,
            last_index: None,
            ops: 0,
            states: 0,
            first_error: None,
            started: Instant::now(),
        }
    }

    /// Keys whose operations are held in memory (not yet decided, or decided invalid).
    pub fn keys_held(&self) -> usize {
        self.keys.values().filter(|k| k.invalid.is_none()).count()
    }

    /// Operations held in memory (the segments of every key).
    pub fn ops_held(&self) -> usize {
        self.keys.values().map(|k| k.segment.len()).sum()
    }

    /// Takes the next event of the history (nemesis events are ignored); returns the keys
    /// this event let the checker find not linearizable.
    pub fn push(&mut self, ev: &Event) -> Result<Vec<Finding>, StreamError> {
        let err = |message: String| StreamError {
            event: ev.index,
            message,
        };
        if self.last_index.is_some_and(|prev| ev.index <= prev) {
            return Err(err(format!(
                "index {} is not greater than the previous event's; expected strictly increasing indices",
                ev.index
            )));
        }
        self.last_index = Some(ev.index);
        let Process::Client(p) = ev.process else {
            return Ok(Vec::new());
        };
        if ev.kind == EventType::Invoke {
            if self.open.contains_key(&p) {
                return Err(err(format!(
                    "a second invoke for process {p} while one is open; expected a completion first"
                )));
            }
            let name = self.key_name(&ev.key);
            match &ev.key {
                Some(_) => self.key_mut(&name, &ev.key).open += 1,
                None => self.keyless_open += 1,
            }
            self.open.insert(p, (name, Operation::invoked(p, ev)));
            return Ok(Vec::new());
        }
        let Some((name, mut op)) = self.open.remove(&p) else {
            return Err(err(format!(
                "{} for process {p} has no open invocation; expected an invoke first",
                ev.kind
            )));
        };
        if op.f != ev.f {
            return Err(err(format!(
                "{} for process {p} has f {:?} but its invoke has f {:?}; expected the same f",
                ev.kind, ev.f, op.f
            )));
        }
        let was_keyless = op.key.is_none();
        match (&op.key, &ev.key) {
            (Some(a), Some(b)) if a != b => {
                return Err(err(format!(
                "{} for process {p} has key {b} but its invoke has key {a}; expected the same key",
                ev.kind
            )))
            }
            (None, Some(b)) => op.key = Some(b.clone()),
            _ => {}
        }
        op.output = ev.value.clone();
        op.outcome = match ev.kind {
            EventType::Ok => Outcome::Ok,
            EventType::Fail => Outcome::Fail,
            _ => Outcome::Info,
        };
        op.error = ev.error.clone();
        op.complete_index = Some(ev.index);
        op.complete_time = Some(ev.time);
        let name = if was_keyless {
            self.keyless_open -= 1;
            self.key_name(&op.key)
        } else {
            self.key_mut(&name, &op.key).open -= 1;
            name
        };
        self.add(&name, op);
        let mut found = Vec::new();
        if self.keyless_open > 0 {
            return Ok(found);
        }
        let names: Vec<String> = if was_keyless {
            // Cuts a key-less invocation held back may now be possible.
            self.keys.keys().cloned().collect()
        } else {
            vec![name]
        };
        for name in names {
            if let Some(c) = self.try_cut(&name) {
                found.push(Finding {
                    key: c.key.clone(),
                    event: ev.index,
                    time: ev.time,
                    counterexample: c,
                });
            }
        }
        Ok(found)
    }

    /// The end of the history: open invocations become `info`, every key is decided. The
    /// report is the one [`check_model`] gives on the whole history split by key, with every
    /// non-linearizable key's counterexample (as with [`CheckOptions::all_keys`]).
    pub fn finish(mut self) -> Result<Report, ModelError> {
        let mut open: Vec<(String, Operation)> = self.open.drain().map(|(_, o)| o).collect();
        open.sort_by_key(|(_, o)| o.invoke_index);
        for (name, op) in open {
            let name = if op.key.is_none() {
                self.key_name(&op.key)
            } else {
                name
            };
            self.add(&name, op);
        }
        if let Some(e) = self.first_error.take() {
            return Err(e);
        }
        let mut names: Vec<String> = self.keys.keys().cloned().collect();
        names.sort();
        let mut stats = Stats {
            ops: self.ops,
            keys: names.len(),
            states: self.states,
            ..Stats::default()
        };
        let mut counterexamples = Vec::new();
        let mut unknown: Option<String> = None;
        for name in names {
            let k = self.keys.remove(&name).expect("listed key");
            stats.checked += k.before + k.segment.iter().filter(|(_, c)| c.is_some()).count();
            match decide_at_end(&self.model, &self.opts, k) {
                End::Valid(s) => {
                    stats.keys_done += 1;
                    stats.states += s;
                }
                End::Invalid(c, s) => {
                    stats.keys_done += 1;
                    stats.states += s;
                    counterexamples.push(*c);
                }
                End::Unknown(why) => {
                    unknown.get_or_insert(why);
                }
            }
        }
        let (verdict, reason) = if !counterexamples.is_empty() {
            (Verdict::Invalid, None)
        } else if let Some(why) = unknown {
            (
                Verdict::Unknown,
                Some(format!(
                    "{why}: {} of {} keys checked",
                    stats.keys_done, stats.keys
                )),
            )
        } else if stats.ops == 0 {
            (
                Verdict::Unknown,
                Some(crate::check::NO_OPERATIONS.to_string()),
            )
        } else {
            (Verdict::Valid, None)
        };
        stats.elapsed_ms = self.started.elapsed().as_millis() as u64;
        Ok(Report {
            model: self.model.name().to_string(),
            verdict,
            reason,
            stats,
            counterexamples,
        })
    }

    fn key_name(&self, key: &Option<Value>) -> String {
        key.as_ref().map(canonical_string).unwrap_or_default()
    }

    fn key_mut(&mut self, name: &str, key: &Option<Value>) -> &mut KeyState<M> {
        if !self.keys.contains_key(name) {
            let ctx = self.model.new_ctx(&self.opts.model);
            self.keys.insert(
                name.to_string(),
                KeyState {
                    key: key.clone(),
                    ctx,
                    open: 0,
                    starts: None,
                    segment: Vec::new(),
                    pinned: false,
                    tried: 0,
                    uncuttable: false,
                    before: 0,
                    invalid: None,
                },
            );
        }
        self.keys.get_mut(name).expect("inserted")
    }

    /// Adds a completed (or, at the end, never completed) operation to its key's segment.
    fn add(&mut self, name: &str, op: Operation) {
        self.ops += 1;
        if !self.keys.contains_key(name) {
            self.key_mut(name, &op.key.clone());
        }
        let model = &self.model;
        let k = self.keys.get_mut(name).expect("inserted");
        if op.outcome == Outcome::Fail && !is_compare_failed(&op) {
            if k.invalid.is_none() {
                k.segment.push((op, None));
            }
            return;
        }
        // Compiled even on a key already found invalid: a malformed operation is an error
        // wherever it is, as in the offline check.
        let compiled = match model.compile(&mut k.ctx, &op) {
            Ok(c) => c,
            Err(message) => {
                let e = ModelError {
                    event: Some(op.invoke_index),
                    message,
                };
                if self.first_error.as_ref().is_none_or(|f| e.event < f.event) {
                    self.first_error = Some(e);
                }
                return;
            }
        };
        if k.invalid.is_some() {
            return;
        }
        let info = op.outcome == Outcome::Info;
        let kept = !(model.trivial(&compiled) || (info && model.read_only(&compiled)));
        k.pinned |= kept && info;
        k.segment.push((op, kept.then_some(compiled)));
    }

    /// At a point where `name` has no open invocation: cuts its segment, or (pinned) tests
    /// its prefix. The counterexample if the key is found not linearizable.
    fn try_cut(&mut self, name: &str) -> Option<Counterexample> {
        if self.first_error.is_some() {
            return None;
        }
        let k = self.keys.get_mut(name)?;
        if k.open > 0 || k.invalid.is_some() || k.uncuttable || k.segment.is_empty() {
            return None;
        }
        if k.pinned && k.segment.len() < k.tried + (k.tried / 4).max(1) {
            return None;
        }
        let (ops, sources) = seg_ops(&k.segment);
        let starts = match &k.starts {
            Some(s) => s.clone(),
            None => vec![self.model.init(&mut k.ctx)],
        };
        let mut search = Segment::new(&self.model, &mut k.ctx, &ops, !k.pinned, SEGMENT_CONFIGS);
        let found = search.run(&starts);
        let configs = search.seen.len() as u64;
        let over = search.over;
        let best = search.best.take();
        let ends: Vec<M::State> = search.ends.drain().collect();
        self.states += configs;
        if over {
            if k.pinned {
                k.tried = k.segment.len();
            } else {
                k.uncuttable = true;
            }
            return None;
        }
        if found {
            if k.pinned {
                k.tried = k.segment.len();
            } else {
                k.before += ops.len();
                k.starts = Some(ends);
                k.segment.clear();
            }
            return None;
        }
        let c = invalid_key(
            &self.model,
            &self.opts,
            k,
            &ops,
            &sources,
            &starts,
            best.expect("a search visits its start"),
        );
        k.invalid = Some(c.clone());
        k.segment = Vec::new();
        k.starts = None;
        Some(c)
    }
}

enum End {
    /// Linearizable; configurations visited.
    Valid(u64),
    /// Not linearizable.
    Invalid(Box<Counterexample>, u64),
    /// Undecided, and why.
    Unknown(String),
}

fn decide_at_end<M: Model>(model: &M, opts: &CheckOptions, mut k: KeyState<M>) -> End {
    if let Some(c) = k.invalid.take() {
        return End::Invalid(Box::new(c), 0);
    }
    let Some(starts) = k.starts.take() else {
        // Never cut: the segment is the key's whole history, checked as the offline check does.
        let ops: Vec<Operation> = k.segment.into_iter().map(|(o, _)| o).collect();
        let key_opts = CheckOptions {
            all_keys: true,
            ..opts.clone()
        };
        return match check_model(&ops, model, &key_opts) {
            Ok(r) => match r.verdict {
                Verdict::Valid => End::Valid(r.stats.states),
                Verdict::Invalid => match r.counterexamples.into_iter().next() {
                    Some(c) => End::Invalid(Box::new(c), r.stats.states),
                    None => End::Unknown("a key was invalid without a counterexample".into()),
                },
                Verdict::Unknown => End::Unknown(r.reason.unwrap_or_default()),
            },
            Err(e) => End::Unknown(e.to_string()),
        };
    };
    let (ops, sources) = seg_ops(&k.segment);
    if ops.is_empty() {
        return End::Valid(0);
    }
    let budget = opts
        .memory_limit
        .map_or(usize::MAX, |m| (m / CONFIG_BYTES).max(1));
    let mut search = Segment::new(model, &mut k.ctx, &ops, false, budget);
    let found = search.run(&starts);
    let configs = search.seen.len() as u64;
    let over = search.over;
    let best = search.best.take();
    if found {
        return End::Valid(configs);
    }
    if over {
        return End::Unknown(format!(
            "memory limit of {} MiB reached",
            opts.memory_limit.unwrap_or_default() >> 20
        ));
    }
    let c = invalid_key(
        model,
        opts,
        &mut k,
        &ops,
        &sources,
        &starts,
        best.expect("a search visits its start"),
    );
    End::Invalid(Box::new(c), configs)
}

/// The kept operations of a segment in invocation order, and their positions in it.
fn seg_ops<O: Clone>(segment: &[(Operation, Option<O>)]) -> (Vec<SegOp<O>>, Vec<usize>) {
    let mut order: Vec<usize> = (0..segment.len())
        .filter(|&i| segment[i].1.is_some())
        .collect();
    order.sort_by_key(|&i| segment[i].0.invoke_index);
    let ops = order
        .iter()
        .map(|&i| {
            let (o, c) = &segment[i];
            let info = o.outcome == Outcome::Info;
            SegOp {
                op: c.clone().expect("kept"),
                info,
                call: o.invoke_index,
                ret: if info {
                    u64::MAX
                } else {
                    o.complete_index.unwrap_or(u64::MAX)
                },
            }
        })
        .collect();
    (ops, order)
}

/// The counterexample of a key found not linearizable in `ops` (its current segment, after
/// `starts`). A key never cut gets the offline checker's own counterexample.
fn invalid_key<M: Model>(
    model: &M,
    opts: &CheckOptions,
    k: &mut KeyState<M>,
    ops: &[SegOp<M::Op>],
    sources: &[usize],
    starts: &[M::State],
    (path, state): (Vec<usize>, M::State),
) -> Counterexample {
    if k.starts.is_none() {
        let whole: Vec<Operation> = k.segment.iter().map(|(o, _)| o.clone()).collect();
        let key_opts = CheckOptions {
            all_keys: true,
            progress: None,
            cancel: None,
            ..opts.clone()
        };
        if let Ok(r) = check_model(&whole, model, &key_opts) {
            if let Some(c) = r.counterexamples.into_iter().next() {
                return c;
            }
        }
    }
    let view = |i: usize| OpView::of(&k.segment[sources[i]].0);
    let mut done = vec![false; ops.len()];
    for &i in &path {
        done[i] = true;
    }
    let blocked = (0..ops.len())
        .filter(|&i| !done[i] && !ops[i].info)
        .min_by_key(|&i| ops[i].ret)
        .expect("a stuck search leaves a completed op");
    let b = &ops[blocked];
    let op = view(blocked);
    let concurrent = (0..ops.len())
        .filter(|&i| i != blocked && ops[i].call < b.ret && b.call < ops[i].ret)
        .map(view)
        .collect();
    let before = if k.before == 0 {
        String::new()
    } else {
        let states: Vec<String> = starts
            .iter()
            .map(|s| model.state_json(&k.ctx, s).to_string())
            .collect();
        format!(
            "after the key's {} earlier operations (possible states then: {}) and ",
            k.before,
            states.join(", ")
        )
    };
    let clause = model.explain(&k.ctx, &state, &b.op);
    let json = model.state_json(&k.ctx, &state);
    Counterexample {
        key: k.key.clone(),
        explanation: format!(
            "{} cannot be linearized: {before}the longest linearizable prefix of the operations \
             since ({} ops), the state is {json}: {clause}, and no order of the remaining \
             concurrent operations completes the history.",
            op.describe(),
            path.len()
        ),
        op,
        real_time: false,
        prefix: path.iter().map(|&i| view(i)).collect(),
        state: json,
        concurrent,
    }
}

/// An exhaustive search of one segment: every order consistent with real time, memoised by
/// (linearized set, state).
struct Segment<'a, M: Model> {
    model: &'a M,
    ctx: &'a mut M::Ctx,
    ops: &'a [SegOp<M::Op>],
    /// Collect every end state (a segment without `info` ops) rather than stop at the first.
    collect: bool,
    required: usize,
    budget: usize,
    seen: FxHashSet<(Box<[u64]>, M::State)>,
    ends: FxHashSet<M::State>,
    /// The longest linearized prefix and its state.
    best: Option<(Vec<usize>, M::State)>,
    over: bool,
}

impl<'a, M: Model> Segment<'a, M> {
    fn new(
        model: &'a M,
        ctx: &'a mut M::Ctx,
        ops: &'a [SegOp<M::Op>],
        collect: bool,
        budget: usize,
    ) -> Self {
        Segment {
            model,
            ctx,
            ops,
            collect,
            required: ops.iter().filter(|o| !o.info).count(),
            budget,
            seen: FxHashSet::default(),
            ends: FxHashSet::default(),
            best: None,
            over: false,
        }
    }

    /// Searches from each of `starts`; true when some order completes the segment.
    fn run(&mut self, starts: &[M::State]) -> bool {
        let mut done = vec![0u64; self.ops.len().div_ceil(64)];
        let mut path = Vec::new();
        for s in starts {
            if self
                .seen
                .insert((done.clone().into_boxed_slice(), s.clone()))
            {
                self.dfs(&mut done, 0, s, &mut path);
            }
            if self.over || (!self.collect && self.found()) {
                break;
            }
        }
        self.found()
    }

    fn found(&self) -> bool {
        !self.ends.is_empty()
    }

    /// True to stop (found, in `exists` mode, or over budget).
    fn dfs(
        &mut self,
        done: &mut [u64],
        required_done: usize,
        state: &M::State,
        path: &mut Vec<usize>,
    ) -> bool {
        if self.best.as_ref().is_none_or(|(p, _)| path.len() > p.len()) {
            self.best = Some((path.clone(), state.clone()));
        }
        if required_done == self.required {
            if self.collect {
                // No `info` ops: every op is done.
                self.ends.insert(state.clone());
                return false;
            }
            self.ends.insert(state.clone());
            return true;
        }
        let bit = |d: &[u64], i: usize| d[i / 64] >> (i % 64) & 1 == 1;
        let min_ret = (0..self.ops.len())
            .filter(|&i| !bit(done, i))
            .map(|i| self.ops[i].ret)
            .min()
            .unwrap_or(u64::MAX);
        for i in 0..self.ops.len() {
            let o = &self.ops[i];
            if o.call > min_ret {
                break;
            }
            if bit(done, i) {
                continue;
            }
            let Some(next) = self.model.step(self.ctx, state, &o.op) else {
                continue;
            };
            done[i / 64] |= 1 << (i % 64);
            let fresh = self
                .seen
                .insert((done.to_vec().into_boxed_slice(), next.clone()));
            if fresh && self.seen.len() > self.budget {
                self.over = true;
            }
            let stop = self.over
                || (fresh && {
                    path.push(i);
                    let stop = self.dfs(done, required_done + usize::from(!o.info), &next, path);
                    path.pop();
                    stop
                });
            done[i / 64] &= !(1 << (i % 64));
            if stop {
                return true;
            }
        }
        false
    }
}

/// [`StreamChecker`] of a built-in model chosen at run time (as [`crate::check`] takes one).
pub struct SpecStream(Box<dyn Erased>);

/// [`StreamChecker`]'s methods without its model type.
trait Erased: Send {
    fn push(&mut self, ev: &Event) -> Result<Vec<Finding>, StreamError>;
    fn finish(self: Box<Self>) -> Result<Report, ModelError>;
    fn held(&self) -> (usize, usize);
}

impl<M: Model + 'static> Erased for StreamChecker<M> {
    fn push(&mut self, ev: &Event) -> Result<Vec<Finding>, StreamError> {
        StreamChecker::push(self, ev)
    }
    fn finish(self: Box<Self>) -> Result<Report, ModelError> {
        StreamChecker::finish(*self)
    }
    fn held(&self) -> (usize, usize) {
        (self.keys_held(), self.ops_held())
    }
}

impl SpecStream {
    /// A streamed checker of the built-in model `spec`.
    pub fn new(spec: crate::ModelSpec, opts: CheckOptions) -> SpecStream {
        use crate::models::{
            fifo_queue::FifoQueue, kv::Kv, multi_register::MultiRegister, mutex::Mutex,
            register::Register, set::Set, unordered_queue::UnorderedQueue,
        };
        use crate::ModelSpec as S;
        SpecStream(match spec {
            S::Register => Box::new(StreamChecker::new(Register { cas: false }, opts)),
            S::CasRegister => Box::new(StreamChecker::new(Register { cas: true }, opts)),
            S::MultiRegister => Box::new(StreamChecker::new(MultiRegister, opts)),
            S::Kv => Box::new(StreamChecker::new(Kv, opts)),
            S::Mutex => Box::new(StreamChecker::new(Mutex, opts)),
            S::FifoQueue => Box::new(StreamChecker::new(FifoQueue, opts)),
            S::UnorderedQueue => Box::new(StreamChecker::new(UnorderedQueue, opts)),
            S::Set => Box::new(StreamChecker::new(Set, opts)),
        })
    }

    /// See [`StreamChecker::push`].
    pub fn push(&mut self, ev: &Event) -> Result<Vec<Finding>, StreamError> {
        self.0.push(ev)
    }

    /// See [`StreamChecker::finish`].
    pub fn finish(self) -> Result<Report, ModelError> {
        self.0.finish()
    }

    /// Keys and operations held in memory now.
    pub fn held(&self) -> (usize, usize) {
        self.0.held()
    }
}
