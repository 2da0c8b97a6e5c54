//! One run on a running cluster, phase by phase: [`prepare`] (the client program, the run
//! directory, test.json and what pins the run), [`execute`] (workers and nemesis, with the
//! streamed checker alongside), [`collect`] (the nodes' logs), [`judge`] (the registry's
//! checkers) and [`report`] (results.json, junit.xml, report.html).

use crate::config::{self, CheckSpec, TestConfig, CONFIG_VERSION};
use crate::prefix::check_prefix_while_running;
use crate::stream::{check_while_running, Streamed};
use crate::test::Test;
use crate::Failure;
use faultline_client_protocol::ProgramClients;
use faultline_history::{pair, CheckerResult, Event};
use faultline_report::{self as report, Results};
use faultline_runner::{self as runner, RunConfig, RunDir, RunSummary};
use faultline_workload_support::NodeAddr;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// What one run gave.
pub struct RunOutcome {
    /// Its seed.
    pub seed: u64,
    /// Its directory in the store.
    pub run_dir: PathBuf,
    /// Its results, as results.json holds them (verdict, checkers, explanation, durations).
    pub results: Results,
    /// The runner's counts; `None` for a run that could not start.
    pub summary: Option<RunSummary>,
}

impl RunOutcome {
    /// When the first anomaly was found (streamed check) or became visible in the history
    /// (any checker), in seconds since the workload started, where known.
    pub fn first_anomaly_s(&self) -> Option<f64> {
        self.results.durations.get(report::FIRST_ANOMALY).copied()
    }
}

impl Test {
    /// Run `index` of the test (seed `seed + index`): after the first, the cluster is healed
    /// and must be ready again; a run that cannot start is a run of its own, unknown.
    pub fn run(&self, index: u32) -> Result<RunOutcome, Failure> {
        let seed = self.plan.seed.wrapping_add(u64::from(index));
        if index > 0 {
            if let Err(why) = self.recover() {
                return not_started(self, seed, &why);
            }
        }
        run_once(self, seed, index == 0)
    }
}

fn crash(what: &str, e: &dyn std::fmt::Display) -> Failure {
    Failure::Crash(format!("{what}: {e}"))
}

/// One run with `seed`: prepare, execute, collect, judge, report. On the first run a client
/// program that cannot speak the protocol is bad input; on a later one the run is unknown.
fn run_once(test: &Test, seed: u64, first: bool) -> Result<RunOutcome, Failure> {
    let program = match start_program(test, first) {
        Ok(p) => p,
        Err(Failure::BadInput(why)) if !first => return not_started(test, seed, &why),
        Err(e) => return Err(e),
    };
    let (dir, config) = prepare(test, seed, program.as_ref())?;
    let started = Instant::now();
    let executed = execute(test, seed, &dir, program)?;
    let run_s = started.elapsed().as_secs_f64();
    collect(test, &dir);
    let check_started = Instant::now();
    let Judged {
        events,
        checkers,
        first_anomaly_s,
    } = judge(test, &dir, executed.streamed)?;
    let mut results = Results::build(&events, &checkers, &config);
    results.client_misbehaviour = executed.misbehaviour.and_then(|m| m.verdict_note());
    if let Some(f) = executed.prefix_found.as_ref() {
        if results.verdict != faultline_history::Verdict::Invalid {
            // A certain anomaly is never undone; if the whole history disagrees, say so.
            test.plan.notify.warn(format!(
                "BUG: the run stopped on a certain {} anomaly ({}: event {}), yet the whole history's check is {}; please report it",
                f.kind, f.checker, f.event, results.verdict
            ));
        }
    }
    results.durations.insert("run_s".into(), run_s);
    let check_s = check_started.elapsed().as_secs_f64();
    results.durations.insert("check_s".into(), check_s);
    // A streamed check's time is when it found the anomaly; otherwise Results::build gave
    // the earliest any checker's anomaly became visible in the history.
    if let Some(t) = first_anomaly_s {
        results.durations.insert(report::FIRST_ANOMALY.into(), t);
    }
    write_reports(&dir, &events, &results)?;
    Ok(RunOutcome {
        seed,
        run_dir: dir.path,
        results,
        summary: Some(executed.summary),
    })
}

/// A run that could not start (`why`): its own directory with test.json and reports whose
/// verdict is unknown, saying why.
fn not_started(test: &Test, seed: u64, why: &str) -> Result<RunOutcome, Failure> {
    test.plan
        .notify
        .progress(format!("run with seed {seed} could not start: {why}"));
    let (dir, config) = prepare(test, seed, None)?;
    let mut results = Results::build(&[], &[], &config);
    results.verdict_reason = Some(format!("the run could not start: {why}"));
    std::fs::File::create(dir.history_path()).map_err(|e| crash("cannot write the history", &e))?;
    write_reports(&dir, &[], &results)?;
    Ok(RunOutcome {
        seed,
        run_dir: dir.path,
        results,
        summary: None,
    })
}

/// The `--client` program, once it has shown it speaks the protocol. After the first run
/// the cluster may still be settling: the probe is retried within `--op-timeout`.
fn start_program(test: &Test, first: bool) -> Result<Option<ProgramClients>, Failure> {
    let Some(command) = &test.plan.options.client else {
        return Ok(None);
    };
    let deadline = Instant::now() + test.plan.op_timeout;
    loop {
        match probe_program(command, test) {
            Ok(p) => return Ok(Some(p)),
            Err(e) if first || Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// The `--client` program as the run's client factory (the workload's options as test.json
/// records them, a fresh namespace, the `--client-opt`s), once it has shown it speaks the
/// protocol: a program that does not is bad input, found before any operation.
fn probe_program(command: &str, test: &Test) -> Result<ProgramClients, Failure> {
    let plan = &test.plan;
    let common = match serde_json::to_value(&plan.workload.common) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let workload = &plan.options.workload;
    let options = faultline_client_protocol::client_options(common, workload, &plan.client_opts);
    let addrs = test
        .nodes
        .iter()
        .map(|n| (n.name.clone(), n.address.clone()))
        .collect();
    let program = ProgramClients::new(command, &plan.db.name(), workload, addrs, options);
    let node = test.nodes.first().map_or("n1", |n| n.name.as_str());
    let started = Instant::now();
    test.runtime
        .block_on(program.probe(node, plan.op_timeout))
        .map_err(|e| Failure::BadInput(format!("--client {command:?}: {e}")))?;
    // Every instance's start counts against the op timeout of the op it opens for.
    let took = started.elapsed();
    if took > plan.op_timeout / 4 {
        plan.notify.warn(format!(
            "note: the --client program took {:.1} s to start and open \
             (--op-timeout {:.1} s bounds each instance's open): start it faster \
             (e.g. the interpreter's real path, not a shim) or raise --op-timeout",
            took.as_secs_f64(),
            plan.op_timeout.as_secs_f64()
        ));
    }
    Ok(program)
}

/// The run's directory with test.json (and the definition it ran) written and the run's log
/// installed; the notes are told.
pub fn prepare(
    test: &Test,
    seed: u64,
    program: Option<&ProgramClients>,
) -> Result<(RunDir, Value), Failure> {
    let plan = &test.plan;
    let dir = runner::create_run_dir(&plan.options.store, &plan.name, SystemTime::now())
        .map_err(|e| Failure::BadInput(e.to_string()))?;
    let mut test_config = test_config(test, seed, program);
    test_config.definition_files = crate::pin::copy_definition(&plan.options.db, &dir.path)
        .map_err(|e| crash("cannot copy the definition into the run directory", &e))?;
    let config =
        serde_json::to_value(&test_config).map_err(|e| crash("cannot encode test.json", &e))?;
    dir.write_test_json(&config)
        .map_err(|e| crash("cannot write test.json", &e))?;
    let _ = dir.install_log();
    for note in &plan.notes {
        plan.notify.warn(format!("note: {note}"));
    }
    plan.notify.progress(format!(
        "{} on {} nodes, workload {}, nemesis {}, seed {seed}: {}",
        plan.db.name(),
        test.nodes.len(),
        plan.options.workload,
        plan.nemesis_label(),
        dir.path.display()
    ));
    Ok((dir, config))
}

/// test.json for the run with `seed`.
fn test_config(test: &Test, seed: u64, program: Option<&ProgramClients>) -> TestConfig {
    let plan = &test.plan;
    let options = &plan.options;
    let flags = config::flags_for_run(options, seed);
    TestConfig {
        config_version: CONFIG_VERSION,
        name: plan.name.clone(),
        db: plan.db.name(),
        workload: options.workload.clone(),
        nemesis: options.nemesis.clone(),
        nodes: test.nodes.iter().map(|n| n.name.clone()).collect(),
        node_addresses: test
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.address.clone()))
            .collect(),
        seed,
        command: config::reproduce_command(&flags),
        flags,
        common: plan.workload.common.clone(),
        check: CheckSpec::of(&plan.workload),
        nemesis_config: serde_json::to_value(&plan.nemesis).unwrap_or(Value::Null),
        notes: plan.notes.clone(),
        clock_mechanism: plan.wants_clock().then(|| plan.clock.name().to_string()),
        client: options.client.clone(),
        expect: options.expect.clone(),
        client_options: program.map(|p| Value::Object(p.options().clone())),
        client_files: options
            .client
            .as_deref()
            .map(crate::pin::client_files)
            .unwrap_or_default(),
        definition_files: Vec::new(),
        faultline_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// What [`execute`] leaves: the runner's counts and the streamed checker's thread.
pub struct Executed {
    /// The runner's counts.
    pub summary: RunSummary,
    /// The checker that ran alongside, if the workload has one.
    pub streamed: Option<std::thread::JoinHandle<Streamed>>,
    /// The certain anomaly the prefix check stopped the run on (`--stop-on-anomaly`).
    pub prefix_found: Option<crate::prefix::Found>,
    /// How the `--client` program misbehaved, when there was one.
    pub misbehaviour: Option<faultline_client_protocol::Misbehaviour>,
}

/// Workers and nemesis until the time limit, the final heal and phase; the workload's
/// linearizability checker takes the history as it is written.
pub fn execute(
    test: &Test,
    seed: u64,
    dir: &RunDir,
    program: Option<ProgramClients>,
) -> Result<Executed, Failure> {
    let plan = &test.plan;
    let addrs: Vec<NodeAddr> = test
        .nodes
        .iter()
        .map(|n| NodeAddr::new(&n.name, &n.address))
        .collect();
    let mut workload = plan.workload.workload(&plan.db.client(), &addrs);
    if let Some(program) = &program {
        workload.clients = Arc::new(program.clone());
    }
    let nemesis = nemesis(test, seed)?;
    let run_config = RunConfig {
        nodes: test.nodes.iter().map(|n| n.name.clone()).collect(),
        concurrency: plan.options.concurrency,
        seed,
        op_timeout: plan.op_timeout,
        nemesis_timeout: Duration::from_secs(30),
        time_limit: Some(plan.time_limit),
        history_path: dir.history_path(),
        progress: plan.show_progress,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(None);
    let (tap, checking) = check_alongside(plan, stop_tx)?;
    let summary = test
        .runtime
        .block_on(runner::run_tapped(
            &run_config,
            workload,
            nemesis,
            Some(stop_rx),
            tap,
        ))
        .map_err(|e| match e {
            runner::RunError::Config(m) => Failure::BadInput(m),
            runner::RunError::Generator(g) => Failure::BadInput(g.to_string()),
            other => crash("the run failed", &other),
        })?;
    let (streamed, prefix_found) = match checking {
        Alongside::Streamed(thread) => (Some(thread), None),
        // The prefix check ends when the history closes; the verdict is the whole history's.
        Alongside::Prefix(thread) => (None, thread.join().ok().flatten()),
        Alongside::Nothing => (None, None),
    };
    if summary.stopped {
        plan.notify
            .progress("--stop-on-anomaly: the run was stopped early; faults healed");
    }
    let misbehaviour = program.map(|p| p.misbehaviour());
    if let Some(m) = misbehaviour.clone().filter(|m| m.count > 0) {
        plan.notify.warn(format!(
            "the --client program misbehaved {} time(s), each recorded as info (all in {}); first: {}",
            m.count,
            dir.log_path().display(),
            m.first.unwrap_or_default()
        ));
    }
    Ok(Executed {
        summary,
        streamed,
        prefix_found,
        misbehaviour,
    })
}

/// What checks the history while it is written.
enum Alongside {
    /// The workload's streamed checker (linearizability), whose report is the verdict.
    Streamed(std::thread::JoinHandle<Streamed>),
    /// `--stop-on-anomaly` for another workload: its checkers re-check the prefix.
    Prefix(std::thread::JoinHandle<Option<crate::prefix::Found>>),
    /// Nothing.
    Nothing,
}

/// The tap for the recorder and the checker it feeds: the streamed checker when the
/// workload has one, else with `--stop-on-anomaly` the prefix check, else none.
fn check_alongside(
    plan: &crate::plan::Plan,
    stop_tx: tokio::sync::watch::Sender<runner::StopRequest>,
) -> Result<(Option<Sender<Event>>, Alongside), Failure> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawn = |name: &str| std::thread::Builder::new().name(name.into());
    let notify = plan.notify.clone();
    if let Some(checker) = plan.workload.stream_checker() {
        let stop = plan.options.stop_on_anomaly.then_some(stop_tx);
        let thread = spawn("faultline-stream-check")
            .spawn(move || check_while_running(checker, &rx, stop, &notify))
            .map_err(|e| crash("cannot start the streamed checker", &e))?;
        return Ok((Some(tx), Alongside::Streamed(thread)));
    }
    if !plan.options.stop_on_anomaly {
        return Ok((None, Alongside::Nothing));
    }
    let check = plan.workload.prefix_check();
    plan.notify
        .progress(format!("--stop-on-anomaly: {}", check.note));
    let thread = spawn("faultline-prefix-check")
        .spawn(move || check_prefix_while_running(check, &rx, stop_tx, &notify))
        .map_err(|e| crash("cannot start the prefix check", &e))?;
    Ok((Some(tx), Alongside::Prefix(thread)))
}

/// The nemesis of the run with `seed`, or none when no fault was asked for.
fn nemesis(test: &Test, seed: u64) -> Result<Option<runner::Nemesis>, Failure> {
    let plan = &test.plan;
    if plan.nemesis.kinds.is_empty() && plan.nemesis.adaptive.is_none() {
        return Ok(None);
    }
    let names = test.nodes.iter().map(|n| n.name.clone()).collect();
    let mut schedule = faultline_nemesis::Schedule::new(names, plan.nemesis.clone(), seed)
        .map_err(|e| Failure::BadInput(format!("--nemesis: {e}")))?;
    // An adaptive nemesis keeps learning over the runs of a series.
    let mut learned = test.learned.lock().unwrap_or_else(|p| p.into_inner());
    match learned.clone() {
        Some(bandit) => schedule = schedule.learning_from(bandit),
        None => *learned = schedule.bandit(),
    }
    Ok(Some(runner::Nemesis {
        schedule,
        control: Arc::new(faultline_cluster::ClusterControl {
            nodes: test.nodes.clone(),
            db: plan.db.clone(),
            clock: plan.clock,
            netem: plan.netem,
        }),
    }))
}

/// Copies every node's database logs into the run's `logs/`.
pub fn collect(test: &Test, dir: &RunDir) {
    let logs = dir.path.join(report::LOGS_DIR);
    if let Err(e) = faultline_db::collect_logs(test.plan.db.as_ref(), &test.nodes, &logs) {
        test.plan.notify.warn(format!("collecting node logs: {e}"));
    }
}

/// What [`judge`] gives: the recorded history, the checkers' results, and when the first
/// anomaly was found (s since the run started), when the streamed checker knows.
pub struct Judged {
    /// The history's events.
    pub events: Vec<Event>,
    /// The workload's checkers' results.
    pub checkers: Vec<CheckerResult>,
    /// When the streamed checker found its first anomaly.
    pub first_anomaly_s: Option<f64>,
}

/// The recorded history and the workload's checkers' results: the streamed checker's report
/// when it ran to the end, else the registry's checkers on the whole history.
pub fn judge(
    test: &Test,
    dir: &RunDir,
    streamed: Option<std::thread::JoinHandle<Streamed>>,
) -> Result<Judged, Failure> {
    let workload = &test.plan.workload;
    let history = std::fs::File::open(dir.history_path())
        .map_err(|e| crash("cannot reopen the history", &e))?;
    let (events, lines) = faultline_history::read_jsonl(std::io::BufReader::new(history))
        .map_err(|e| crash("the recorded history is unreadable", &e))?;
    let ops = pair(&events, &lines).map_err(|e| crash("the recorded history does not pair", &e))?;
    let (checkers, first) = match streamed.map(|t| t.join()) {
        Some(Ok(Streamed::Done(report, first))) => {
            let mut results = workload.streamed_results(report);
            // The streamed check's own time is the checker's, as it is the run's.
            for r in results.iter_mut().filter(|r| !r.anomalies.is_empty()) {
                r.first_anomaly_s = r.first_anomaly_s.or(first);
            }
            (results, first)
        }
        // The stream could not take the history (it does not pair, which reading it again
        // just did not find either) or the thread died: check it whole, as without a stream.
        Some(Ok(Streamed::Unreadable(e))) => {
            test.plan.notify.warn(format!(
                "the streamed check stopped ({e}); checking the history whole"
            ));
            (workload.check(&ops), None)
        }
        Some(Err(_)) => {
            test.plan
                .notify
                .warn("the streamed check panicked; checking the history whole");
            (workload.check(&ops), None)
        }
        None => (workload.check(&ops), None),
    };
    Ok(Judged {
        events,
        checkers,
        first_anomaly_s: first,
    })
}

/// results.json, junit.xml and report.html in the run's directory.
pub fn write_reports(dir: &RunDir, events: &[Event], results: &Results) -> Result<(), Failure> {
    let path = &dir.path;
    report::write_results_json(&path.join(report::RESULTS_FILE), results)
        .and_then(|_| {
            report::write_junit(&path.join(report::JUNIT_FILE), results, report::REPORT_FILE)
        })
        .and_then(|_| {
            report::write_html(
                &path.join(report::REPORT_FILE),
                events,
                results,
                &report::run_links(path),
            )
        })
        .map_err(|e| crash("cannot write the reports", &e))
}
