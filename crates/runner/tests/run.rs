//! End-to-end runs with in-process clients and a fake cluster.

mod common;

use async_trait::async_trait;
use common::register;
use faultline_history::{pair, read_jsonl, Event, EventType, Outcome, Process};
use faultline_nemesis::adaptive::{DURATIONS, OPENING_DURATION};
use faultline_nemesis::{Adaptive, NemesisConfig, NodeControl, NodeError, Policy, Schedule};
use faultline_runner::{
    run, run_tapped, Client, ClientFactory, Completion, Gen, Nemesis, Op, RunConfig, Workload,
    CLOCK_MEASURE_LIMIT,
};
use rand::Rng;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn config(dir: &Path, concurrency: usize) -> RunConfig {
    RunConfig {
        nodes: vec!["n1".into(), "n2".into(), "n3".into()],
        concurrency,
        seed: 42,
        op_timeout: Duration::from_millis(200),
        nemesis_timeout: Duration::from_secs(5),
        time_limit: None,
        history_path: dir.join("history.jsonl"),
        progress: false,
    }
}

fn history(path: &Path) -> Vec<Event> {
    read_jsonl(BufReader::new(std::fs::File::open(path).unwrap()))
        .unwrap()
        .0
}

/// A client whose behaviour is a function of the op and a per-client call count.
struct FnClient<F> {
    calls: u64,
    behave: Arc<F>,
}

#[async_trait]
impl<F> Client for FnClient<F>
where
    F: Fn(&Op, u64) -> (Duration, Completion) + Send + Sync,
{
    async fn invoke(&mut self, op: &Op) -> Completion {
        self.calls += 1;
        let (delay, c) = (self.behave)(op, self.calls);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        c
    }
}

struct FnFactory<F> {
    behave: Arc<F>,
    opened: AtomicU64,
    refuse: Option<String>,
}

#[async_trait]
impl<F> ClientFactory for FnFactory<F>
where
    F: Fn(&Op, u64) -> (Duration, Completion) + Send + Sync + 'static,
{
    async fn open(&self, node: &str) -> Result<Box<dyn Client>, String> {
        if self.refuse.as_deref() == Some(node) {
            return Err(format!("connection refused by {node}"));
        }
        self.opened.fetch_add(1, Ordering::Relaxed);
        Ok(Box::new(FnClient {
            calls: 0,
            behave: self.behave.clone(),
        }))
    }
}

fn factory<F>(behave: F) -> Arc<FnFactory<F>>
where
    F: Fn(&Op, u64) -> (Duration, Completion) + Send + Sync + 'static,
{
    Arc::new(FnFactory {
        behave: Arc::new(behave),
        opened: AtomicU64::new(0),
        refuse: None,
    })
}

fn workload(generator: Gen, clients: Arc<dyn ClientFactory>) -> Workload {
    Workload {
        generator,
        final_generator: None,
        clients,
    }
}

/// Requests (f, key, value) each worker invoked, by worker index (process mod concurrency).
fn requests_by_worker(
    events: &[Event],
    concurrency: u64,
) -> BTreeMap<u64, Vec<(String, Option<Value>, Value)>> {
    let mut out: BTreeMap<u64, Vec<_>> = BTreeMap::new();
    for e in events {
        if let (Process::Client(p), EventType::Invoke) = (e.process, e.kind) {
            out.entry(p % concurrency).or_default().push((
                e.f.clone(),
                e.key.clone(),
                e.value.clone(),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_same_requests_per_worker_whatever_the_outcomes() {
    let mut runs = Vec::new();
    for attempt in 0..2u64 {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 6);
        // Outcomes and latencies depend on thread timing and differ between the runs.
        let chaos = Arc::new(AtomicU64::new(attempt * 7));
        let clients = factory(move |_op: &Op, _n| {
            let x = chaos.fetch_add(1, Ordering::Relaxed);
            let delay = Duration::from_micros(rand::rng().random_range(0..300));
            let c = match x % 5 {
                0 => Completion::Info(json!("connection reset")),
                1 => Completion::Fail(json!("not-leader")),
                _ => Completion::Ok(Value::Null),
            };
            (delay, c)
        });
        let summary = run(&cfg, workload(register().limit(600), clients), None, None)
            .await
            .unwrap();
        assert_eq!(summary.invokes, 600);
        assert!(summary.info > 50, "some ops were indeterminate");
        let events = history(&cfg.history_path);
        runs.push(requests_by_worker(&events, 6));
    }
    assert_eq!(runs[0].len(), 6);
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_moves_the_worker_to_a_new_process_and_the_history_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 4);
    // Every third call on a connection is indeterminate.
    let clients = factory(|op: &Op, n| {
        let c = if n % 3 == 0 {
            Completion::Info(json!("connection lost"))
        } else {
            Completion::Ok(op.value.clone())
        };
        (Duration::ZERO, c)
    });
    let summary = run(
        &cfg,
        workload(register().limit(200), clients.clone()),
        None,
        None,
    )
    .await
    .unwrap();
    let events = history(&cfg.history_path);
    assert_eq!(summary.events, events.len() as u64);
    assert_eq!(events.len(), 400);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.index, i as u64);
        if i > 0 {
            assert!(e.time >= events[i - 1].time, "times never decrease");
        }
    }
    let ops = pair(&events, &[]).unwrap();
    assert_eq!(ops.len(), 200);
    // Worker w runs as w, w+4, w+8, ...: each process does at most three ops, the last info.
    let mut by_process: BTreeMap<u64, Vec<Outcome>> = BTreeMap::new();
    for op in &ops {
        by_process.entry(op.process).or_default().push(op.outcome);
        let node = &events[op.invoke_index as usize].node;
        assert_eq!(
            node.as_deref(),
            Some(["n1", "n2", "n3"][(op.process % 4 % 3) as usize]),
            "round-robin nodes"
        );
    }
    for (p, outcomes) in &by_process {
        assert!(outcomes.len() <= 3, "process {p}: {outcomes:?}");
        if let Some(i) = outcomes.iter().position(|o| *o == Outcome::Info) {
            assert_eq!(
                i,
                outcomes.len() - 1,
                "process {p} never acts after its info"
            );
        }
        if *p >= 4 {
            assert!(
                by_process.contains_key(&(p - 4)),
                "process {p} continues process {}",
                p - 4
            );
        }
    }
    let infos = ops.iter().filter(|o| o.outcome == Outcome::Info).count() as u64;
    assert_eq!(summary.info, infos);
    assert_eq!(
        clients.opened.load(Ordering::Relaxed),
        4 + infos,
        "one reopen per info"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_complete_as_info_never_fail() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 2);
    cfg.op_timeout = Duration::from_millis(50);
    let clients = factory(|op: &Op, _| {
        let delay = if op.f == "write" {
            Duration::from_secs(10)
        } else {
            Duration::ZERO
        };
        (delay, Completion::Ok(Value::Null))
    });
    let started = Instant::now();
    let summary = run(&cfg, workload(register().limit(30), clients), None, None)
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "hung writes were cut off"
    );
    let events = history(&cfg.history_path);
    let ops = pair(&events, &[]).unwrap();
    let writes: Vec<_> = ops.iter().filter(|o| o.f == "write").collect();
    assert!(!writes.is_empty());
    for w in &writes {
        assert_eq!(w.outcome, Outcome::Info);
        assert_eq!(w.error, Some(json!("timeout")));
        let took = w.complete_time.unwrap() - w.invoke_time;
        assert!(took >= 50_000_000, "not before the timeout: {took} ns");
    }
    assert_eq!(summary.fail, 0);
    assert_eq!(summary.info, writes.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_limit_ends_the_main_phase() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 4);
    cfg.time_limit = Some(Duration::from_millis(500));
    let clients = factory(|_: &Op, _| (Duration::from_millis(2), Completion::Ok(Value::Null)));
    let started = Instant::now();
    let summary = run(&cfg, workload(register(), clients), None, None)
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(500),
        "ran the whole limit: {took:?}"
    );
    assert!(
        took < Duration::from_millis(500) + cfg.op_timeout + Duration::from_millis(300),
        "{took:?}"
    );
    let events = history(&cfg.history_path);
    let last_invoke = events
        .iter()
        .filter(|e| e.kind == EventType::Invoke)
        .map(|e| e.time)
        .max()
        .unwrap();
    assert!(
        last_invoke < 600_000_000,
        "no op invoked well after the limit: {last_invoke} ns"
    );
    assert!(summary.ok > 100);
    pair(&events, &[]).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_is_flushed_within_100ms_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 4);
    cfg.time_limit = Some(Duration::from_millis(1500));
    let path = cfg.history_path.clone();
    let clients = factory(|_: &Op, _| (Duration::from_millis(1), Completion::Ok(Value::Null)));
    let before = Instant::now();
    let handle = tokio::spawn(async move {
        run(&cfg, workload(register().rate(500.0), clients), None, None).await
    });
    let mut samples = 0;
    tokio::time::sleep(Duration::from_millis(200)).await;
    while before.elapsed() < Duration::from_millis(1300) {
        let now = before.elapsed();
        let text = std::fs::read_to_string(&path).unwrap();
        // Only complete lines count; the last may be mid-write.
        let newest = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Event>(l).ok())
            .map(|e| e.time)
            .max()
            .unwrap_or(0);
        // An event at `time` happened at or after before + time (the run starts after `before`).
        let lag = now.saturating_sub(Duration::from_nanos(newest));
        assert!(
            lag <= Duration::from_millis(100),
            "the file lags the run by {lag:?}"
        );
        samples += 1;
        tokio::time::sleep(Duration::from_millis(37)).await;
    }
    assert!(samples > 20);
    handle.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unopenable_client_fails_its_ops_with_no_client() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 3);
    let clients = Arc::new(FnFactory {
        behave: Arc::new(|_: &Op, _| (Duration::ZERO, Completion::Ok(Value::Null))),
        opened: AtomicU64::new(0),
        refuse: Some("n2".into()),
    });
    let summary = run(
        &cfg,
        workload(register().limit(9).each_thread(), clients),
        None,
        None,
    )
    .await
    .unwrap();
    let ops = pair(&history(&cfg.history_path), &[]).unwrap();
    let worker1: Vec<_> = ops.iter().filter(|o| o.process == 1).collect();
    assert_eq!(worker1.len(), 9);
    for op in worker1 {
        assert_eq!(op.outcome, Outcome::Fail);
        assert_eq!(op.error, Some(json!("no-client: connection refused by n2")));
    }
    assert_eq!((summary.ok, summary.fail), (18, 9));
}

/// A cluster that records what the nemesis asks of it.
#[derive(Default)]
struct FakeCluster {
    log: Mutex<Vec<(String, String)>>,
    down: Option<String>,
    /// Clocks that answer only after this, as a paused node's do when resumed; none: the
    /// cluster cannot measure its clocks.
    clocks_answer_after: Option<Duration>,
    /// How long each command takes, as over a slow SSH link.
    exec_takes: Duration,
}

impl NodeControl for FakeCluster {
    fn nodes(&self) -> Vec<String> {
        vec!["n1".into(), "n2".into(), "n3".into()]
    }
    fn exec(&self, node: &str, command: &str) -> Result<String, NodeError> {
        if self.down.as_deref() == Some(node) {
            return Err(NodeError::new(node, "ssh: connection timed out"));
        }
        std::thread::sleep(self.exec_takes);
        self.log.lock().unwrap().push((node.into(), command.into()));
        Ok(String::new())
    }
    fn addr(&self, node: &str) -> Result<String, NodeError> {
        Ok(format!("10.1.0.{}", &node[1..]))
    }
    fn db_pid(&self, _node: &str) -> Result<u32, NodeError> {
        Ok(4242)
    }
    fn start_db(&self, node: &str) -> Result<(), NodeError> {
        self.exec(node, "start-db").map(drop)
    }
    fn clock_offset_file(&self, _node: &str) -> String {
        "/var/lib/faultline/clock".into()
    }
    fn clock_offsets(&self) -> Option<BTreeMap<String, i64>> {
        std::thread::sleep(self.clocks_answer_after?);
        Some(BTreeMap::new())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nemesis_is_recorded_healed_at_the_end_and_the_final_phase_follows() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 3);
    cfg.time_limit = Some(Duration::from_millis(1150));
    let cluster = Arc::new(FakeCluster::default());
    let nemesis_config = NemesisConfig {
        kinds: vec![
            "partition-halves".parse().unwrap(),
            "kill".parse().unwrap(),
            "pause".parse().unwrap(),
        ],
        interval: Duration::from_millis(100),
        ..NemesisConfig::default()
    };
    let schedule = Schedule::new(cfg.nodes.clone(), nemesis_config.clone(), cfg.seed).unwrap();
    let planned: Vec<&'static str> = Schedule::new(cfg.nodes.clone(), nemesis_config, cfg.seed)
        .unwrap()
        .plan(Duration::from_millis(1150))
        .iter()
        .map(|(_, op)| op.f())
        .collect();
    let clients = factory(|_: &Op, _| (Duration::from_millis(1), Completion::Ok(Value::Null)));
    let mut w = workload(register(), clients);
    w.final_generator = Some(
        Gen::repeat(Op::new("read", Value::Null))
            .once()
            .each_thread(),
    );
    let nemesis = Nemesis {
        schedule,
        control: cluster.clone(),
    };
    let summary = run(&cfg, w, Some(nemesis), None).await.unwrap();

    let events = history(&cfg.history_path);
    let nem: Vec<&Event> = events
        .iter()
        .filter(|e| e.process == Process::Nemesis)
        .collect();
    assert_eq!(summary.nemesis_events, nem.len() as u64);
    // Invoke, then its completion, one op at a time; all ok here.
    let mut fs = Vec::new();
    for pair in nem.chunks(2) {
        assert_eq!(pair[0].kind, EventType::Invoke);
        assert_eq!(pair[1].kind, EventType::Ok, "{:?}", pair[1]);
        assert_eq!(pair[0].f, pair[1].f);
        fs.push(pair[0].f.as_str());
    }
    // The recorded ops follow the seeded schedule, and everything started is stopped.
    assert_eq!(fs, planned, "the run follows the plan, final heal included");
    for class in ["partition", "kill", "pause"] {
        let starts = fs
            .iter()
            .filter(|f| **f == format!("start-{class}"))
            .count();
        let stops = fs.iter().filter(|f| **f == format!("stop-{class}")).count();
        assert_eq!(starts, stops, "{class} healed");
    }
    let start_partition = nem
        .iter()
        .find(|e| e.f == "start-partition" && e.kind == EventType::Invoke)
        .unwrap();
    assert_eq!(start_partition.value["spec"], "halves");
    assert_eq!(start_partition.value["grudge"]["n1"], json!(["n2", "n3"]));
    // The cluster saw matching adds and deletes.
    let log = cluster.log.lock().unwrap().clone();
    // (Each node's rules change in one iptables-restore: its `-A`/`-D` lines.)
    let rules = |op: &str| -> usize {
        log.iter()
            .filter(|(_, c)| c.contains("iptables-restore"))
            .map(|(_, c)| c.matches(&format!("'{op} FAULTLINE")).count())
            .sum()
    };
    let (adds, dels) = (rules("-A"), rules("-D"));
    assert!(adds > 0);
    assert_eq!(adds, dels);
    let kills = log
        .iter()
        .filter(|(_, c)| c.starts_with("kill -KILL"))
        .count();
    let starts = log.iter().filter(|(_, c)| c == "start-db").count();
    assert_eq!(kills, starts);
    // The final reads come after the last nemesis event: the cluster was healed first.
    let last_nemesis = nem.last().unwrap().index;
    let finals: Vec<&Event> = events.iter().filter(|e| e.index > last_nemesis).collect();
    assert_eq!(finals.len(), 6, "one read per worker: {finals:?}");
    assert!(finals.iter().all(|e| e.f == "read"));
    pair(&events, &[]).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_nemesis_op_is_info_and_still_healed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1);
    cfg.time_limit = Some(Duration::from_millis(150));
    let cluster = Arc::new(FakeCluster {
        down: Some("n2".into()),
        ..FakeCluster::default()
    });
    let nc = NemesisConfig {
        kinds: vec!["partition-one".parse().unwrap()],
        interval: Duration::from_millis(100),
        ..NemesisConfig::default()
    };
    let schedule = Schedule::new(cfg.nodes.clone(), nc, 1).unwrap();
    let clients = factory(|_: &Op, _| (Duration::from_millis(1), Completion::Ok(Value::Null)));
    run(
        &cfg,
        workload(register(), clients),
        Some(Nemesis {
            schedule,
            control: cluster,
        }),
        None,
    )
    .await
    .unwrap();
    let events = history(&cfg.history_path);
    let nem: Vec<&Event> = events
        .iter()
        .filter(|e| e.process == Process::Nemesis)
        .collect();
    let kinds: Vec<(&str, EventType)> = nem.iter().map(|e| (e.f.as_str(), e.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("start-partition", EventType::Invoke),
            ("start-partition", EventType::Info),
            ("stop-partition", EventType::Invoke),
            ("stop-partition", EventType::Info),
        ]
    );
    assert!(nem[1]
        .error
        .as_ref()
        .unwrap()
        .as_str()
        .unwrap()
        .contains("n2: ssh: connection timed out"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_ends_the_run_early_and_skips_the_final_phase() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 2);
    let clients = factory(|_: &Op, _| (Duration::from_millis(1), Completion::Ok(Value::Null)));
    let mut w = workload(register(), clients);
    w.final_generator = Some(
        Gen::repeat(Op::new("final-read", Value::Null))
            .once()
            .each_thread(),
    );
    let (tx, rx) = tokio::sync::watch::channel(None);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        tx.send(Some(Duration::from_millis(150))).unwrap();
    });
    let summary = run(&cfg, w, None, Some(rx)).await.unwrap();
    assert!(summary.stopped);
    assert!(summary.elapsed < Duration::from_secs(2));
    let events = history(&cfg.history_path);
    assert!(events.iter().all(|e| e.f != "final-read"));
    pair(&events, &[]).unwrap();
}

/// `--nemesis pause,clock`: a clock measurement that hangs (as on a node the pause stopped)
/// gives up after a few seconds, and the schedule goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_measurement_that_hangs_does_not_hold_up_the_nemesis() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 2);
    let limit = Duration::from_secs(8);
    cfg.time_limit = Some(limit);
    cfg.nemesis_timeout = Duration::from_secs(30);
    let cluster = Arc::new(FakeCluster {
        clocks_answer_after: Some(CLOCK_MEASURE_LIMIT * 2),
        ..FakeCluster::default()
    });
    let nemesis_config = NemesisConfig {
        kinds: vec!["pause".parse().unwrap(), "clock".parse().unwrap()],
        interval: Duration::from_millis(500),
        ..NemesisConfig::default()
    };
    let schedule = Schedule::new(cfg.nodes.clone(), nemesis_config, cfg.seed).unwrap();
    let clients = factory(|_: &Op, _| (Duration::from_millis(1), Completion::Ok(Value::Null)));
    let nemesis = Nemesis {
        schedule,
        control: cluster.clone(),
    };
    run(&cfg, workload(register(), clients), Some(nemesis), None)
        .await
        .unwrap();
    let events = history(&cfg.history_path);
    // Every clock measurement gives up long before the clocks answer.
    let measured: Vec<&Event> = events.iter().filter(|e| e.f == "clock-offset").collect();
    assert!(
        measured.len() >= 4,
        "the nemesis went on past a measurement: {measured:?}"
    );
    for invoke_and_end in measured.chunks(2) {
        let [invoke, end] = invoke_and_end else {
            panic!("a measurement that never ended: {invoke_and_end:?}")
        };
        let waited = Duration::from_nanos(end.time - invoke.time);
        assert_eq!(end.kind, EventType::Info, "{end:?}");
        assert!(
            waited < CLOCK_MEASURE_LIMIT + Duration::from_secs(1),
            "waited {waited:?}"
        );
    }
    pair(&events, &[]).unwrap();
}

/// The nemesis events completed so far in a history being written (a half-written last line
/// is skipped).
fn nemesis_completions(path: &Path) -> Vec<Event> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Event>(line).ok())
        .filter(|e| e.process == Process::Nemesis && e.kind != EventType::Invoke)
        .collect()
}

/// `--nemesis auto` on a database that names no primaries, runs no faultline-clock and
/// grants no locks.
fn auto_on_a_bare_cluster() -> NemesisConfig {
    NemesisConfig {
        adaptive: Some(Adaptive {
            policy: Policy::Auto,
            names_primaries: false,
            monotonic_clocks: false,
            grants_locks: false,
        }),
        ..NemesisConfig::default()
    }
}

/// `--stop-on-anomaly` under `--nemesis auto`: the check names an anomaly whose operation
/// completed under the first fault only once the second is in force. The first is credited
/// and tried again first in the next run of the series, not the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anomaly_is_credited_to_the_fault_in_force_when_its_operation_completed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 2);
    cfg.time_limit = Some(Duration::from_secs(60));
    let nemesis_config = auto_on_a_bare_cluster();
    let schedule = Schedule::new(cfg.nodes.clone(), nemesis_config.clone(), cfg.seed).unwrap();
    let bandit = schedule.bandit().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(None);
    let path = cfg.history_path.clone();
    let checker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let starts: Vec<Event> = nemesis_completions(&path)
                .into_iter()
                .filter(|e| e.f.starts_with("start-"))
                .collect();
            if let [first, second, ..] = &starts[..] {
                // Half a second into the first fault: every fault lasts 2 s or more.
                let at = Duration::from_nanos(first.time) + Duration::from_millis(500);
                tx.send(Some(at)).unwrap();
                return (first.f.clone(), second.f.clone());
            }
        }
    });
    let clients = factory(|_: &Op, _| (Duration::from_millis(1), Completion::Ok(Value::Null)));
    let nemesis = Nemesis {
        schedule,
        control: Arc::new(FakeCluster::default()),
    };
    let summary = run(&cfg, workload(register(), clients), Some(nemesis), Some(rx))
        .await
        .unwrap();
    assert!(summary.stopped);
    let (first, second) = checker.await.unwrap();
    // `auto` tries a family it has not tried before it repeats one.
    assert_ne!(first, second);
    let mut next = Schedule::new(cfg.nodes.clone(), nemesis_config, cfg.seed + 1)
        .unwrap()
        .learning_from(bandit);
    let (_, op) = next.next_op().unwrap();
    assert_eq!(
        op.f(),
        first,
        "the fault that found it is tried again, not {second}"
    );
}

/// Under `--nemesis auto` a fault lasts its whole duration from when it took effect, however
/// long its start took (slow commands here; a lock holder's grant awaited on a real cluster).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adaptive_fault_that_took_long_to_start_still_lasts_its_whole_duration() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 2);
    let nemesis_config = auto_on_a_bare_cluster();
    let plan = |seed| {
        let mut s = Schedule::new(cfg.nodes.clone(), nemesis_config.clone(), seed).unwrap();
        let (start, _) = s.next_op().unwrap();
        (start, s.next_op().unwrap().0 - start)
    };
    // The first fault of a family lasts the opening duration under `auto`, whatever the seed.
    let (start, duration) = plan(cfg.seed);
    assert_eq!(duration, DURATIONS[OPENING_DURATION]);
    cfg.time_limit = Some(start + duration + Duration::from_secs(3));
    let exec_takes = Duration::from_millis(700);
    let nemesis = Nemesis {
        schedule: Schedule::new(cfg.nodes.clone(), nemesis_config, cfg.seed).unwrap(),
        control: Arc::new(FakeCluster {
            exec_takes,
            ..FakeCluster::default()
        }),
    };
    let clients = factory(|_: &Op, _| (Duration::from_millis(1), Completion::Ok(Value::Null)));
    run(&cfg, workload(register(), clients), Some(nemesis), None)
        .await
        .unwrap();
    let history = std::fs::read_to_string(&cfg.history_path).unwrap();
    let nemesis: Vec<Event> = history
        .lines()
        .map(|line| serde_json::from_str::<Event>(line).unwrap())
        .filter(|e| e.process == Process::Nemesis && !e.f.contains("clock-offset"))
        .collect();
    let took_effect = nemesis
        .iter()
        .find(|e| e.f.starts_with("start-") && e.kind != EventType::Invoke)
        .expect("the fault started");
    let stopped = nemesis
        .iter()
        .find(|e| e.f.starts_with("stop-") && e.kind == EventType::Invoke)
        .expect("the fault stopped");
    let started_late = Duration::from_nanos(took_effect.time);
    assert!(
        started_late >= start + exec_takes,
        "the start took {exec_takes:?}"
    );
    let lasted = Duration::from_nanos(stopped.time - took_effect.time);
    assert!(
        lasted >= duration,
        "{} lasted {lasted:?}, not {duration:?}",
        took_effect.f
    );
}

#[tokio::test]
async fn bad_configurations_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let clients = factory(|_: &Op, _| (Duration::ZERO, Completion::Ok(Value::Null)));
    let mut cfg = config(dir.path(), 3);
    cfg.nodes.clear();
    let e = run(&cfg, workload(register(), clients.clone()), None, None)
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "a run needs at least one node");
    let cfg = config(dir.path(), 0);
    let e = run(&cfg, workload(register(), clients.clone()), None, None)
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "concurrency must be at least 1");
    let mut cfg = config(dir.path(), 1);
    cfg.history_path = dir.path().join("no/such/dir/history.jsonl");
    let e = run(&cfg, workload(register(), clients), None, None)
        .await
        .unwrap_err();
    assert!(
        e.to_string().starts_with("cannot create history file"),
        "{e}"
    );
    assert!(!dir.path().join("history.jsonl").exists());
}

/// A cluster whose leader changes from n1 to none to unknown (a failed ask) to none, to
/// unknown (an ask too slow), to n2 as it is asked.
#[derive(Default)]
struct ElectingCluster {
    asked: AtomicU64,
    in_flight: AtomicU64,
    most_in_flight: AtomicU64,
}

impl NodeControl for ElectingCluster {
    fn nodes(&self) -> Vec<String> {
        vec!["n1".into(), "n2".into(), "n3".into()]
    }
    fn exec(&self, _node: &str, _command: &str) -> Result<String, NodeError> {
        Ok(String::new())
    }
    fn addr(&self, node: &str) -> Result<String, NodeError> {
        Ok(format!("10.1.0.{}", &node[1..]))
    }
    fn db_pid(&self, _node: &str) -> Result<u32, NodeError> {
        Ok(4242)
    }
    fn start_db(&self, _node: &str) -> Result<(), NodeError> {
        Ok(())
    }
    fn clock_offset_file(&self, _node: &str) -> String {
        "/var/lib/faultline/clock".into()
    }
    fn primaries(&self) -> Result<Vec<String>, NodeError> {
        let n = self.asked.fetch_add(1, Ordering::Relaxed);
        let in_flight = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(in_flight, Ordering::SeqCst);
        if n == 5 {
            // Slower than the watch's limit (1 s): unknown, and no ask may start meanwhile.
            std::thread::sleep(Duration::from_millis(1300));
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        match n {
            0 | 1 => Ok(vec!["n1".into()]),
            2 => Ok(vec![]),
            3 => Err(NodeError::new("n2", "is_primary exited 124")),
            4 => Ok(vec![]),
            5 => Ok(vec!["n3".into()]), // Too late to count.
            _ => Ok(vec!["n2".into()]),
        }
    }
}

/// A client that says another node served it, as a Redis client following the primary does.
struct Forwarded;

#[async_trait]
impl Client for Forwarded {
    async fn invoke(&mut self, _op: &Op) -> Completion {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Completion::Ok(Value::Null)
    }
    fn served_by(&self) -> Option<String> {
        Some("n3".into())
    }
}

struct ForwardedFactory;

#[async_trait]
impl ClientFactory for ForwardedFactory {
    async fn open(&self, _node: &str) -> Result<Box<dyn Client>, String> {
        Ok(Box::new(Forwarded))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaders_are_recorded_when_they_change_and_completions_name_the_serving_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 2);
    cfg.time_limit = Some(Duration::from_millis(3000));
    let nemesis_config = NemesisConfig {
        kinds: vec!["pause".parse().unwrap()],
        interval: Duration::from_secs(60),
        ..NemesisConfig::default()
    };
    let cluster = Arc::new(ElectingCluster::default());
    let nemesis = Nemesis {
        schedule: Schedule::new(cfg.nodes.clone(), nemesis_config, cfg.seed).unwrap(),
        control: cluster.clone(),
    };
    let gen = Gen::repeat(Op::new("read", Value::Null)).stagger(Duration::from_millis(50));
    run(
        &cfg,
        workload(gen, Arc::new(ForwardedFactory)),
        Some(nemesis),
        None,
    )
    .await
    .unwrap();
    let events = history(&cfg.history_path);
    let leaders: Vec<&Value> = events
        .iter()
        .filter(|e| e.process == Process::Nemesis && e.f == faultline_history::PRIMARIES)
        .map(|e| &e.value)
        .collect();
    // Recorded only on change; a failed or too slow ask is unknown (null), never "none".
    assert_eq!(
        leaders,
        [
            &json!(["n1"]),
            &json!([]),
            &Value::Null,
            &json!([]),
            &Value::Null,
            &json!(["n2"])
        ]
    );
    assert_eq!(
        cluster.most_in_flight.load(Ordering::SeqCst),
        1,
        "asks piled up"
    );
    assert!(
        cluster.asked.load(Ordering::Relaxed) > 10,
        "asked about every 100 ms"
    );
    let clients: Vec<&Event> = events
        .iter()
        .filter(|e| e.process != Process::Nemesis)
        .collect();
    assert!(!clients.is_empty());
    for e in clients {
        let expected = match e.kind {
            EventType::Invoke => ["n1", "n2"][(e.process_number() % 2) as usize],
            _ => "n3",
        };
        assert_eq!(e.node.as_deref(), Some(expected), "{e:?}");
    }
    // The pairing the checkers use ignores the leader events.
    pair(&events, &[]).unwrap();
}

trait ProcessNumber {
    fn process_number(&self) -> u64;
}

impl ProcessNumber for Event {
    fn process_number(&self) -> u64 {
        match self.process {
            Process::Client(p) => p,
            Process::Nemesis => u64::MAX,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tap_receives_every_event_as_written_and_closes_with_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 4);
    let clients = factory(|_: &Op, _| (Duration::from_millis(1), Completion::Ok(json!(1))));
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || rx.iter().collect::<Vec<Event>>());
    let summary = run_tapped(
        &cfg,
        workload(register().limit(40), clients),
        None,
        None,
        Some(tx),
    )
    .await
    .unwrap();
    // The channel closed when the history did: the reader ends.
    let tapped = reader.join().unwrap();
    assert_eq!(tapped.len() as u64, summary.events);
    assert_eq!(tapped, history(&cfg.history_path));
}

/// A client that knows its node: acquires succeed only through `grants_on`, writes only
/// through `writes_on`; everything else fails at once.
struct NodeClient {
    node: String,
    grants_on: &'static str,
    writes_on: &'static str,
}

#[async_trait]
impl Client for NodeClient {
    async fn invoke(&mut self, op: &Op) -> Completion {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let here = |n: &str| self.node == n;
        match op.f.as_ref() {
            "acquire" if here(self.grants_on) => Completion::Ok(json!(1)),
            "write" if here(self.writes_on) => Completion::Ok(Value::Null),
            "release" | "read" => Completion::Ok(Value::Null),
            _ => Completion::Fail(json!("refused")),
        }
    }
}

struct NodeClients(&'static str, &'static str);

#[async_trait]
impl ClientFactory for NodeClients {
    async fn open(&self, node: &str) -> Result<Box<dyn Client>, String> {
        Ok(Box::new(NodeClient {
            node: node.to_string(),
            grants_on: self.0,
            writes_on: self.1,
        }))
    }
}

/// The `start-*` completions of a run with `kind` against [`NodeClients`].
async fn live_targeted_starts(kind: &str, clients: NodeClients) -> Vec<(Value, Vec<String>)> {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 3);
    cfg.time_limit = Some(Duration::from_millis(2500));
    let cluster = Arc::new(FakeCluster::default());
    let nemesis_config = NemesisConfig {
        kinds: vec![kind.parse().unwrap()],
        interval: Duration::from_millis(300),
        ..NemesisConfig::default()
    };
    let schedule = Schedule::new(cfg.nodes.clone(), nemesis_config, cfg.seed).unwrap();
    let gen = Gen::source(|ctx| match ctx.n % 3 {
        0 => Op::new("acquire", Value::Null),
        1 => Op::new("write", Value::Null),
        _ => Op::new("release", Value::Null),
    });
    let nemesis = Nemesis {
        schedule,
        control: cluster.clone(),
    };
    run(&cfg, workload(gen, Arc::new(clients)), Some(nemesis), None)
        .await
        .unwrap();
    let log = cluster.log.lock().unwrap().clone();
    history(&cfg.history_path)
        .into_iter()
        .filter(|e| e.f.starts_with("start-") && e.kind == EventType::Ok)
        .map(|e| {
            let signalled = e.value["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_string())
                .filter(|n| log.iter().any(|(m, c)| m == n && c.contains("-STOP")))
                .collect();
            (e.value, signalled)
        })
        .collect()
}

/// The starts whose nodes the run named; at least two. A fault due as the main phase ends
/// may find no fresh grant or write (the workers have stopped): it keeps the schedule's
/// draw and says so, which is right, but says nothing about the aim.
fn named_by_the_run(starts: Vec<(Value, Vec<String>)>) -> Vec<(Value, Vec<String>)> {
    let (fell_back, named): (Vec<_>, Vec<_>) = starts.into_iter().partition(|(v, _)| {
        v["why"]
            .as_str()
            .is_some_and(|w| w.starts_with("the run named no "))
    });
    assert!(named.len() >= 2, "named {named:?}, fell back {fell_back:?}");
    named
}

/// Runs `kind` against `clients`; every start the run named is aimed `aim`, lands on `node`
/// (the cluster paused it), and says a `why` that `said_why` accepts.
async fn assert_aimed(
    kind: &str,
    clients: NodeClients,
    aim: &str,
    node: &str,
    said_why: impl Fn(&str) -> bool,
) {
    for (value, paused) in named_by_the_run(live_targeted_starts(kind, clients).await) {
        assert_eq!(value["aim"], aim, "{value}");
        assert_eq!(value["nodes"], json!([node]), "{value}");
        assert_eq!(paused, [node], "the cluster paused {node}: {value}");
        let why = value["why"].as_str().unwrap();
        assert!(said_why(why), "{why}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_aimed_at_the_lock_holder_lands_on_its_node_and_says_why() {
    let clients = NodeClients("n2", "none");
    let why = |w: &str| w.contains("holds the lock through n2");
    assert_aimed("pause-lock-holder", clients, "lock-holder", "n2", why).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_aimed_at_the_last_writer_lands_on_the_node_that_acknowledged_it() {
    let clients = NodeClients("none", "n3");
    let why = |w: &str| w.starts_with("n3 acknowledged the latest write (write by process");
    assert_aimed("pause-last-writer", clients, "last-writer", "n3", why).await;
}
