//! The run engine: workers, the nemesis, and the phases of a test.
//!
//! A run has two phases. In the main phase every worker drives its own [`GenState`] of the
//! workload's generator while the nemesis follows its schedule. When every worker is done
//! (or the run is stopped), the nemesis heals every fault it left active. Then, in the final
//! phase, every worker runs the final generator (e.g. final reads on a healed cluster).

use crate::client::{Client, ClientFactory, Completion};
use crate::display::Display;
use crate::generator::{Gen, GenError, Op, Share};
use crate::live_effect::{effect, Snapshot, AFTERMATH};
use crate::live_facts::LiveFacts;
use crate::recorder::{start_writer, Record, Recorder, Stats};
use faultline_history::{EventType, Process};
use faultline_nemesis::{
    apply_start_timed, apply_stop_timed, Fault, FaultClass, NemesisOp, NodeControl, NodeError,
    Schedule, CANNOT_NAME_PRIMARIES,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout, Instant};

/// How long a worker waits after failing to open a client before asking for its next op.
const REOPEN_BACKOFF: Duration = Duration::from_millis(100);

/// How long a fault aimed at the lock holder or the last writer waits for its trigger (a
/// lock granted, a write acknowledged) before it goes with what the run showed last. Short
/// beside a nemesis interval, so the fault keeps most of its time in force.
pub const TRIGGER_WAIT: Duration = Duration::from_secs(2);

/// How long the nemesis waits for the clock offsets it measures after a clock fault. A node
/// paused by another fault in force (`--nemesis pause,clock`) answers only when resumed, and
/// the nemesis does nothing else while it waits: the measurement is recorded as timed out.
pub const CLOCK_MEASURE_LIMIT: Duration = Duration::from_secs(3);

/// The knobs of a run.
#[derive(Clone, Debug, Serialize)]
pub struct RunConfig {
    /// The nodes clients connect to; worker `i` uses `nodes[i % len]`.
    pub nodes: Vec<String>,
    /// How many workers (Jepsen's concurrency); worker `i` starts as process `i`.
    pub concurrency: usize,
    /// The seed every random choice derives from.
    pub seed: u64,
    /// Bound on each client call (and client open); past it the op completes as `info`.
    pub op_timeout: Duration,
    /// Bound on each nemesis operation; past it the nemesis op completes as `info`.
    pub nemesis_timeout: Duration,
    /// Length of the main phase: the generator is wrapped in a time limit; `None` for none.
    pub time_limit: Option<Duration>,
    /// Where the history goes (JSON Lines).
    pub history_path: PathBuf,
    /// Draw the live display (only ever on a terminal).
    pub progress: bool,
}

/// What the workload supplies: generators and the clients that carry them out.
#[derive(Clone)]
pub struct Workload {
    /// The main phase's generator.
    pub generator: Gen,
    /// Run by every worker once the main phase is over and faults are healed.
    pub final_generator: Option<Gen>,
    /// Opens a client to a node.
    pub clients: Arc<dyn ClientFactory>,
}

/// The nemesis: its schedule and the cluster it acts on.
pub struct Nemesis {
    /// When to do what.
    pub schedule: Schedule,
    /// How faults reach the nodes.
    pub control: Arc<dyn NodeControl>,
}

/// What a run did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunSummary {
    /// Events written to the history.
    pub events: u64,
    /// Client invocations.
    pub invokes: u64,
    /// `ok` completions.
    pub ok: u64,
    /// `fail` completions.
    pub fail: u64,
    /// `info` completions.
    pub info: u64,
    /// Nemesis events.
    pub nemesis_events: u64,
    /// Wall-clock length of the run.
    pub elapsed: Duration,
    /// True if the run was stopped early.
    pub stopped: bool,
}

/// Why a run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad configuration, found before anything started.
    #[error("{0}")]
    Config(String),
    /// The generator cannot run with this concurrency.
    #[error(transparent)]
    Generator(#[from] GenError),
    /// The history could not be written.
    #[error("{0}")]
    History(#[from] std::io::Error),
    /// A worker or the nemesis panicked (a bug in a client or in faultline).
    #[error("{0}")]
    Panicked(String),
}

/// Runs a test: workers and nemesis until the generator is exhausted, the final heal, the
/// final phase. `stop` turning true ends the main phase early (the heal still happens, the
/// final phase is skipped).
pub async fn run(
    config: &RunConfig,
    workload: Workload,
    nemesis: Option<Nemesis>,
    stop: Option<watch::Receiver<StopRequest>>,
) -> Result<RunSummary, RunError> {
    run_tapped(config, workload, nemesis, stop, None).await
}

/// [`run`], also sending every event, as it is written to the history, to `tap` (e.g. a
/// checker that runs while the test goes). The tap's channel closes when the history does.
pub async fn run_tapped(
    config: &RunConfig,
    workload: Workload,
    nemesis: Option<Nemesis>,
    stop: Option<watch::Receiver<StopRequest>>,
    tap: Option<std::sync::mpsc::Sender<faultline_history::Event>>,
) -> Result<RunSummary, RunError> {
    if config.nodes.is_empty() {
        return Err(RunError::Config("a run needs at least one node".into()));
    }
    if config.op_timeout.is_zero() {
        return Err(RunError::Config(
            "the op timeout must be greater than zero".into(),
        ));
    }
    workload.generator.check(config.concurrency)?;
    if let Some(g) = &workload.final_generator {
        g.check(config.concurrency)?;
    }
    let generator = match config.time_limit {
        Some(limit) => workload.generator.clone().time_limit(limit),
        None => workload.generator.clone(),
    };

    let started = std::time::Instant::now();
    let stats = Arc::new(Stats::default());
    let live = LiveFacts::new();
    let (recorder, writer) = start_writer(
        &config.history_path,
        started,
        stats.clone(),
        live.clone(),
        tap,
    )?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = Arc::new(Mutex::new(None::<Duration>));
    if let Some(mut external) = stop {
        let stop_tx = stop_tx.clone();
        let stopped = stopped.clone();
        tokio::spawn(async move {
            let at = loop {
                if let Some(at) = *external.borrow_and_update() {
                    break at;
                }
                if external.changed().await.is_err() {
                    return;
                }
            };
            *stopped.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
            let _ = stop_tx.send(true);
        });
    }
    let active_faults = Arc::new(Mutex::new(Vec::<String>::new()));
    let display = Display::start(
        config.progress,
        config.time_limit,
        stats.clone(),
        active_faults.clone(),
    );

    // The nemesis runs until the main phase ends, then heals.
    let (main_over_tx, main_over_rx) = watch::channel(false);
    let nemesis_control = nemesis.as_ref().map(|n| n.control.clone());
    // Only a run with a final phase waits for the cluster to settle before it.
    let recovery_control = nemesis_control
        .clone()
        .filter(|_| workload.final_generator.is_some());
    let (leaders_over_tx, leaders_over_rx) = watch::channel(false);
    let nemesis_task = nemesis.map(|n| {
        let runner = NemesisRunner {
            control: n.control,
            recorder: recorder.clone(),
            timeout: config.nemesis_timeout,
            active: BTreeMap::new(),
            display: active_faults.clone(),
            stats: stats.clone(),
            live: live.clone(),
            anomaly_at: stopped.clone(),
        };
        tokio::spawn(runner.run(n.schedule, Instant::now(), main_over_rx))
    });

    let leader_watch = nemesis_control
        .map(|control| tokio::spawn(watch_leaders(control, recorder.clone(), leaders_over_rx)));

    let (final_tx, final_rx) = watch::channel(false);
    let mut workers = Vec::with_capacity(config.concurrency);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(config.concurrency.max(1));
    for index in 0..config.concurrency {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        rng.set_stream(index as u64);
        let worker = Worker {
            index,
            concurrency: config.concurrency as u64,
            process: index as u64,
            node: Arc::from(config.nodes[index % config.nodes.len()].as_str()),
            client: None,
            clients: workload.clients.clone(),
            recorder: recorder.clone(),
            op_timeout: config.op_timeout,
            rng,
            stop: stop_rx.clone(),
        };
        let main = generator.clone();
        let last = workload.final_generator.clone();
        let done_tx = done_tx.clone();
        let mut final_rx = final_rx.clone();
        workers.push(tokio::spawn(async move {
            let mut worker = worker;
            worker.run_gen(&main).await;
            drop(done_tx);
            // Wait until the nemesis has healed; `false` means skip the final phase.
            let go = final_rx.wait_for(|v| *v).await.is_ok();
            if go && !*worker.stop.borrow() {
                if let Some(last) = last {
                    worker.run_gen(&last).await;
                }
            }
            worker.close().await;
        }));
    }
    drop(done_tx);
    drop(recorder);
    // Every worker drops its sender when its main phase is over.
    while done_rx.recv().await.is_some() {}
    let _ = main_over_tx.send(true);
    let mut panics = Vec::new();
    if let Some(task) = nemesis_task {
        if let Err(e) = task.await {
            panics.push(format!("the nemesis panicked: {e}"));
        }
    }
    let _ = leaders_over_tx.send(true);
    if let Some(task) = leader_watch {
        if let Err(e) = task.await {
            panics.push(format!("the leader watch panicked: {e}"));
        }
    }
    let was_stopped = stopped.lock().unwrap_or_else(|p| p.into_inner()).is_some();
    if let Some(control) = recovery_control.filter(|_| !was_stopped) {
        await_recovery(control).await;
    }
    let _ = final_tx.send(true);
    for (i, w) in workers.into_iter().enumerate() {
        if let Err(e) = w.await {
            panics.push(format!("worker {i} panicked: {e}"));
        }
    }
    drop(final_tx);
    let events = tokio::task::spawn_blocking(move || writer.finish())
        .await
        .map_err(|e| RunError::Panicked(format!("history writer: {e}")))??;
    display.finish();
    if !panics.is_empty() {
        return Err(RunError::Panicked(panics.join("; ")));
    }
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    Ok(RunSummary {
        events,
        invokes: load(&stats.invokes),
        ok: load(&stats.ok),
        fail: load(&stats.fail),
        info: load(&stats.info),
        nemesis_events: load(&stats.nemesis),
        elapsed: started.elapsed(),
        stopped: was_stopped,
    })
}

/// One worker: a process id, a client, a random stream.
struct Worker {
    index: usize,
    concurrency: u64,
    process: u64,
    node: Arc<str>,
    client: Option<Box<dyn Client>>,
    clients: Arc<dyn ClientFactory>,
    recorder: Recorder,
    op_timeout: Duration,
    rng: ChaCha8Rng,
    stop: watch::Receiver<bool>,
}

impl Worker {
    async fn run_gen(&mut self, gen: &Gen) {
        let mut state = gen.start(Share {
            index: self.index,
            count: self.concurrency as usize,
        });
        loop {
            if *self.stop.borrow() {
                return;
            }
            let now = Instant::now();
            let Some(pending) = state.next(&mut self.rng, now) else {
                return;
            };
            if pending.at > now {
                let mut stop = self.stop.clone();
                tokio::select! {
                    _ = sleep_until(pending.at) => {}
                    _ = stop.wait_for(|v| *v) => return,
                }
            }
            self.perform(pending.op).await;
            // A client that never waits (in-process, or failing fast) must not keep the
            // runtime from the other workers, the nemesis and the display.
            tokio::task::consume_budget().await;
        }
    }

    fn record(&self, kind: EventType, op: &Op, value: Value, error: Option<Value>) {
        self.record_at(kind, op, value, error, self.node.clone());
    }

    fn record_at(
        &self,
        kind: EventType,
        op: &Op,
        value: Value,
        error: Option<Value>,
        node: Arc<str>,
    ) {
        self.recorder.record(Record {
            time: 0,
            process: Process::Client(self.process),
            kind,
            f: op.f.clone(),
            key: op.key.clone(),
            value,
            error,
            node: Some(node),
        });
    }

    async fn perform(&mut self, op: Op) {
        if self.client.is_none() {
            match timeout(
                self.op_timeout,
                self.clients.open_process(&self.node, self.process),
            )
            .await
            {
                Ok(Ok(client)) => self.client = Some(client),
                failed => {
                    let why = match failed {
                        Ok(Err(e)) => e,
                        _ => "timed out".to_string(),
                    };
                    tracing::warn!(worker = self.index, node = %self.node, "cannot open client: {why}");
                    // Never sent, so definitely not applied: fail, as Jepsen does.
                    self.record(EventType::Invoke, &op, op.value.clone(), None);
                    self.record(
                        EventType::Fail,
                        &op,
                        op.value.clone(),
                        Some(json!(format!("no-client: {why}"))),
                    );
                    let mut stop = self.stop.clone();
                    tokio::select! {
                        _ = tokio::time::sleep(REOPEN_BACKOFF) => {}
                        _ = stop.wait_for(|v| *v) => {}
                    }
                    return;
                }
            }
        }
        self.record(EventType::Invoke, &op, op.value.clone(), None);
        let Some(client) = self.client.as_mut() else {
            return;
        };
        let (kind, value, error) = match timeout(self.op_timeout, client.invoke(&op)).await {
            Ok(Completion::Ok(v)) => (EventType::Ok, v, None),
            Ok(Completion::Fail(e)) => (EventType::Fail, op.value.clone(), Some(e)),
            Ok(Completion::Info(e)) => (EventType::Info, op.value.clone(), Some(e)),
            Err(_) => (EventType::Info, op.value.clone(), Some(json!("timeout"))),
        };
        let node = client
            .served_by()
            .map_or_else(|| self.node.clone(), Arc::from);
        self.record_at(kind, &op, value, error, node);
        if kind == EventType::Info {
            // The process may still be mid-operation: continue as a new one, on a new connection.
            self.process += self.concurrency;
            self.close().await;
        }
    }

    async fn close(&mut self) {
        if let Some(mut client) = self.client.take() {
            let _ = timeout(self.op_timeout, client.close()).await;
        }
    }
}

/// How often the leader watch asks the cluster who leads: a change is placed within this
/// plus one ask (every node asked at once).
const LEADER_WATCH_PERIOD: Duration = Duration::from_millis(100);
/// An ask still unanswered after this is recorded as unknown; no new ask starts until it
/// ends, and its late answer is dropped as stale.
const LEADER_ASK_LIMIT: Duration = Duration::from_secs(1);

/// What the leader watch last recorded.
#[derive(Clone, Debug, PartialEq)]
enum LeaderState {
    /// Nothing yet.
    Unrecorded,
    /// These nodes lead (sorted; empty: every node said it does not).
    Known(Vec<String>),
    /// The last ask failed or timed out: nobody knows.
    Unknown,
}

/// Records who leads (`primaries` events, see `faultline_history::PRIMARIES`) at the start
/// and whenever that changes, asking every [`LEADER_WATCH_PERIOD`], until `over`. An ask that
/// fails or takes longer than [`LEADER_ASK_LIMIT`] makes the state unknown (a `primaries`
/// event whose value is null), never "no leader". It stops at once if the database cannot
/// name its primaries at all. Every ask and failure goes to faultline.log.
async fn watch_leaders(
    control: Arc<dyn NodeControl>,
    recorder: Recorder,
    mut over: watch::Receiver<bool>,
) {
    let mut state = LeaderState::Unrecorded;
    // An ask past its limit, still running: waited for instead of starting another.
    let mut late: Option<tokio::task::JoinHandle<Result<Vec<String>, NodeError>>> = None;
    let mut tick = tokio::time::interval(LEADER_WATCH_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(
        "leader watch: asking every node who leads every {LEADER_WATCH_PERIOD:?}; \
         unknown after a failure or {LEADER_ASK_LIMIT:?} without an answer"
    );
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = over.wait_for(|v| *v) => return,
        }
        let stale = late.is_some();
        let mut ask = late.take().unwrap_or_else(|| {
            let control = control.clone();
            tracing::trace!("leader watch: asking who leads");
            tokio::task::spawn_blocking(move || control.primaries())
        });
        let answered = tokio::select! {
            answer = &mut ask => Some(answer),
            _ = tokio::time::sleep(LEADER_ASK_LIMIT) => None,
            _ = over.wait_for(|v| *v) => return,
        };
        let next = match answered {
            None => {
                tracing::warn!(
                    "leader watch: no answer after {LEADER_ASK_LIMIT:?}: leader unknown"
                );
                late = Some(ask);
                LeaderState::Unknown
            }
            Some(_) if stale => continue, // Asked too long ago to say who leads now.
            Some(Ok(Ok(mut primaries))) => {
                primaries.sort();
                LeaderState::Known(primaries)
            }
            Some(Ok(Err(e)))
                if state == LeaderState::Unrecorded && e.message == CANNOT_NAME_PRIMARIES =>
            {
                tracing::info!("not watching leaders: {e}");
                return;
            }
            Some(Ok(Err(e))) => {
                tracing::warn!("leader watch: {e}: leader unknown");
                LeaderState::Unknown
            }
            Some(Err(e)) => {
                tracing::warn!("leader watch: the ask panicked: {e}: leader unknown");
                LeaderState::Unknown
            }
        };
        if next != state {
            record_leaders(&recorder, &next);
            state = next;
        }
    }
}

/// After the final heal, waits for the database's readiness check on every node (as Jepsen
/// waits for recovery before its final reads), so the final phase reads the cluster as it
/// settled: a Redis primary cut off and since replaced is turned into a replica by Sentinel
/// only seconds after it reappears, and a read before then still shows what it will lose.
/// Not ready within the definition's timeout: the final phase goes ahead, and says so.
async fn await_recovery(control: Arc<dyn NodeControl>) {
    let started = Instant::now();
    match tokio::task::spawn_blocking(move || control.await_ready()).await {
        Ok(Ok(())) => tracing::info!(
            "cluster ready for the final phase after {:.1} s",
            started.elapsed().as_secs_f64()
        ),
        Ok(Err(e)) => tracing::warn!("final phase: the cluster was not ready after the heal: {e}"),
        Err(e) => tracing::warn!("final phase: the readiness check panicked: {e}"),
    }
}

/// Writes a `primaries` event: the sorted leaders, or null when unknown.
fn record_leaders(recorder: &Recorder, state: &LeaderState) {
    let value = match state {
        LeaderState::Known(primaries) => json!(primaries),
        _ => Value::Null,
    };
    tracing::debug!("leader watch: primaries now {value}");
    recorder.record(Record {
        time: 0,
        process: Process::Nemesis,
        kind: EventType::Info,
        f: Cow::Borrowed(faultline_history::PRIMARIES),
        key: None,
        value,
        error: None,
        node: None,
    });
}

/// A request to stop a run from outside (`--stop-on-anomaly`): `None` while it should go
/// on; `Some(at)` once an anomaly is certain, `at` being when its operation completed on the
/// history's clock. An adaptive nemesis credits the fault in force then with the find.
pub type StopRequest = Option<Duration>;

/// Drives the nemesis schedule and keeps the faults it started.
struct NemesisRunner {
    control: Arc<dyn NodeControl>,
    recorder: Recorder,
    timeout: Duration,
    active: BTreeMap<FaultClass, Fault>,
    display: Arc<Mutex<Vec<String>>>,
    stats: Arc<Stats>,
    /// What the run shows, for faults aimed at the lock holder, last writer or busiest node.
    live: Arc<LiveFacts>,
    /// Set when the run was stopped from outside: `--stop-on-anomaly` found an anomaly,
    /// whose operation completed at this time on the history's clock.
    anomaly_at: Arc<Mutex<Option<Duration>>>,
}

/// An adaptive fault started and not yet scored: the counts at its start, whether it
/// applied, and when it took effect on the history's clock.
struct Unscored {
    at_start: Snapshot,
    applied: bool,
    began: Duration,
}

impl NemesisRunner {
    async fn run(
        mut self,
        mut schedule: Schedule,
        start: Instant,
        mut main_over: watch::Receiver<bool>,
    ) {
        // An adaptive schedule learns what each fault did: counts before, at its start and
        // after its aftermath; a fixed schedule ignores them.
        let mut quiet = Snapshot::take(&self.stats);
        let mut unscored: Option<Unscored> = None;
        while let Some((at, op)) = schedule.next_op() {
            tokio::select! {
                _ = sleep_until(start + at) => {}
                _ = main_over.wait_for(|v| *v) => break,
            }
            let starting = matches!(op, NemesisOp::Start(_));
            let at_start = Snapshot::take(&self.stats);
            let Executed { applied, unaimed } = self.execute(op).await;
            if starting {
                schedule.took_effect(start.elapsed());
                if unaimed {
                    schedule.could_not_aim();
                }
                let began = Duration::from_nanos(self.recorder.now());
                unscored = Some(Unscored {
                    at_start,
                    applied,
                    began,
                })
                .filter(|_| schedule.is_adaptive());
                continue;
            }
            if unscored.is_none() {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(AFTERMATH) => {}
                _ = main_over.wait_for(|v| *v) => break,
            }
            let fault = unscored.take().expect("checked above");
            quiet = self.score(&mut schedule, quiet, fault);
        }
        // The run ended while a fault was in force or in its aftermath: what it did so far.
        if let Some(fault) = unscored {
            self.score(&mut schedule, quiet, fault);
        }
        // An anomaly stopped the run: the fault in force (or in its aftermath) when its
        // operation completed found it, whether or not it was the last.
        let anomaly_at = *self.anomaly_at.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(line) = anomaly_at.and_then(|at| schedule.credit_anomaly(at)) {
            tracing::info!(target: "faultline::nemesis", "{line}");
        }
        let _ = main_over.wait_for(|v| *v).await;
        // Final heal: everything still active, whether or not its start succeeded.
        let classes: Vec<FaultClass> = self.active.keys().copied().collect();
        for class in classes {
            self.execute(NemesisOp::Stop(class)).await;
        }
    }

    /// Tells an adaptive schedule what `fault` did, and logs what it learned; the counts
    /// now, where the next quiet window starts.
    fn score(&self, schedule: &mut Schedule, quiet: Snapshot, fault: Unscored) -> Snapshot {
        let end = Snapshot::take(&self.stats);
        let effect = effect(quiet, fault.at_start, end, fault.applied);
        if let Some(line) = schedule.observe(&effect, fault.began) {
            tracing::info!(target: "faultline::nemesis", "{line}");
        }
        end
    }

    fn record(&self, kind: EventType, f: &'static str, value: Value, error: Option<Value>) {
        self.recorder.record(Record {
            time: 0,
            process: Process::Nemesis,
            kind,
            f: Cow::Borrowed(f),
            key: None,
            value,
            error,
            node: None,
        });
    }

    /// Records each node's clock offset as its database sees it, as a nemesis `clock-offset`
    /// operation whose completion value is `{node: offset_ns}`, or, where the control can
    /// also measure monotonic clocks, `{"offsets": {node: ns}, "monotonic_offsets": {node: ns}}`.
    async fn measure_clock_offsets(&self) {
        let control = self.control.clone();
        self.record(EventType::Invoke, "clock-offset", Value::Null, None);
        let measured = timeout(
            CLOCK_MEASURE_LIMIT.min(self.timeout),
            tokio::task::spawn_blocking(move || {
                control
                    .clock_offsets()
                    .map(|wall| (wall, control.monotonic_clock_offsets()))
            }),
        )
        .await;
        match measured {
            Ok(Ok(Some((offsets, None)))) => {
                let v = serde_json::to_value(offsets).unwrap_or(Value::Null);
                self.record(EventType::Ok, "clock-offset", v, None);
            }
            Ok(Ok(Some((offsets, Some(monotonic))))) => {
                let v = json!({"offsets": offsets, "monotonic_offsets": monotonic});
                self.record(EventType::Ok, "clock-offset", v, None);
            }
            Ok(Ok(None)) => self.record(
                EventType::Fail,
                "clock-offset",
                Value::Null,
                Some(json!("the database cannot report its clock")),
            ),
            _ => self.record(
                EventType::Info,
                "clock-offset",
                Value::Null,
                Some(json!("measurement failed or timed out")),
            ),
        }
    }

    /// Chooses the nodes of a fault aimed at what the run shows ([`faultline_nemesis::Aim::is_live`]); why, for
    /// the history. The lock holder waits for the next grant and the last writer for the
    /// next acknowledged write, each at most [`TRIGGER_WAIT`], so the fault lands right after
    /// one: a holder caught just after its grant has its whole hold ahead of it (its write
    /// not yet sent). With nothing to name, the schedule's draw stays.
    async fn aim_live(&self, fault: &mut Fault) -> Option<Aimed> {
        let (nodes, aim) = fault.targets_mut().filter(|(_, aim)| aim.is_live())?;
        let seen = self.live.events(aim);
        let deadline = Instant::now() + TRIGGER_WAIT;
        // An aim with a trigger waits for its count to move; one without never waits.
        while seen.is_some() && self.live.events(aim) == seen && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Some(match self.live.choose(aim, self.recorder.now()) {
            Some(chosen) => {
                *nodes = chosen.nodes;
                Aimed {
                    why: chosen.why,
                    named: true,
                }
            }
            None => Aimed {
                why: format!(
                    "the run named no {} within {} s: {} as the schedule drew",
                    aim.name(),
                    TRIGGER_WAIT.as_secs_f64(),
                    nodes.join(",")
                ),
                named: false,
            },
        })
    }

    /// Starts or stops a fault and records it; whether it applied, and whether a start aimed
    /// at what the run reveals found nothing named.
    async fn execute(&mut self, op: NemesisOp) -> Executed {
        let f = op.f();
        let (mut fault, starting) = match op {
            NemesisOp::Start(fault) => (fault, true),
            NemesisOp::Stop(class) => match self.active.remove(&class) {
                Some(fault) => (fault, false),
                None => {
                    return Executed {
                        applied: false,
                        unaimed: false,
                    }
                }
            },
        };
        let aimed = match starting {
            true => self.aim_live(&mut fault).await,
            false => None,
        };
        let unaimed = aimed.as_ref().is_some_and(|a| !a.named);
        let why = aimed.map(|a| a.why);
        let with_why = |mut v: Value| {
            if let (Some(why), Some(o)) = (&why, v.as_object_mut()) {
                o.insert("why".into(), json!(why));
            }
            v
        };
        let value = with_why(serde_json::to_value(&fault).unwrap_or(Value::Null));
        self.record(EventType::Invoke, f, value.clone(), None);
        tracing::info!(target: "faultline::nemesis", "nemesis {f}: {value}");
        let control = self.control.clone();
        let job = fault.clone();
        let task = tokio::task::spawn_blocking(move || {
            if starting {
                apply_start_timed(&job, &*control)
            } else {
                apply_stop_timed(&job, &*control)
            }
        });
        let outcome = match timeout(self.timeout, task).await {
            Ok(Ok(Ok(done))) => Ok(done),
            Ok(Ok(Err(e))) => {
                // Heal what the failed start resolved (e.g. the primaries it aimed at).
                if let Some(resolved) = &e.resolved {
                    fault = (**resolved).clone();
                }
                Err(e.to_string())
            }
            Ok(Err(e)) => Err(format!("panicked: {e}")),
            Err(_) => Err(format!("timed out after {:?}", self.timeout)),
        };
        let applied = outcome.is_ok();
        let resolved = match outcome {
            Ok((resolved, landing)) => {
                let mut v = with_why(serde_json::to_value(&resolved).unwrap_or(Value::Null));
                if let Some(landing) = landing {
                    landing.record_in(&mut v);
                }
                tracing::info!(target: "faultline::nemesis", "nemesis {f} done: {v}");
                self.record(EventType::Ok, f, v, None);
                resolved
            }
            Err(e) => {
                tracing::warn!("nemesis {f} failed: {e}");
                // What a failed start did is known (resolved targets, a storage outcome).
                let v = serde_json::to_value(&fault).map_or(value, with_why);
                self.record(EventType::Info, f, v, Some(json!(e)));
                fault
            }
        };
        let clock = resolved.class() == FaultClass::Clock;
        if starting {
            // A start that failed may have partly happened: keep it so it gets healed.
            self.active.insert(resolved.class(), resolved);
        }
        if clock {
            self.measure_clock_offsets().await;
        }
        let labels = self.active.values().map(Fault::label).collect();
        if let Ok(mut shown) = self.display.lock() {
            *shown = labels;
        }
        Executed { applied, unaimed }
    }
}

/// Where a fault aimed at what the run reveals landed, and why, for the history.
struct Aimed {
    why: String,
    /// The run named a node (else the schedule's draw stayed).
    named: bool,
}

/// What executing a nemesis operation came to.
struct Executed {
    applied: bool,
    /// A start aimed at what the run reveals that found nothing named.
    unaimed: bool,
}
