//! `faultline test`: the main job. Bring a cluster up, run a workload against it while the
//! nemesis injects faults, record the history, check it, write the reports, take the cluster
//! down, and exit with the verdict (0 valid, 1 invalid, 2 unknown).
//!
//! The pieces come from the library crates; this module only wires them, in the one
//! direction a history flows: generator -> clients and nemesis -> history -> checkers ->
//! results -> reports.

use crate::cluster::{parse_up, UpArgs};
use faultline_cluster::{self as cluster, CleanupGuard, NodeSource};
use faultline_control::faults::{CLOCK_OFFSET_FILE, PID_DIR};
use faultline_control::Node;
use faultline_db::{Db, DbKind};
use faultline_history::{pair, CheckerResult, Operation, Verdict};
use faultline_nemesis::{DbSignal, FaultKind, NemesisConfig, NodeControl, NodeError, Schedule};
use faultline_report as report;
use faultline_runner::{self as runner, RunConfig, Workload};
use faultline_workload_support::NodeAddr;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Arguments of `faultline test`. The defaults give a meaningful one-minute test.
#[derive(clap::Args)]
pub struct TestArgs {
    /// The database under test: etcd or redis.
    #[arg(long, default_value = "etcd")]
    db: String,
    /// The workload: register, set, counter, bank, lock or lock-fenced.
    #[arg(long, default_value = "register")]
    workload: String,
    /// Faults, comma-separated: partition[-halves|-random-halves|-one|-majorities-ring|-bridge|
    /// -primaries], loss, pause, slow, kill, clock[-bump|-strobe][-forward|-backward], or none;
    /// all but partitions take a target: -one, -minority, -majority, -all or -primaries
    /// (e.g. pause-one, clock-bump-forward-primaries) [default target: random each time].
    #[arg(long, default_value = "partition", value_delimiter = ',')]
    nemesis: Vec<String>,
    /// Seconds of workload before the final heal and the final reads.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    time_limit: f64,
    /// Concurrent client workers (Jepsen's concurrency).
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// A node count for a Docker cluster (n1..nN), or existing hosts: host1,host2[:port],...
    #[arg(long, default_value = "5")]
    nodes: String,
    /// The SSH user on existing hosts.
    #[arg(long, default_value = "root")]
    ssh_user: String,
    /// The SSH private key for existing hosts.
    #[arg(long)]
    ssh_key: Option<PathBuf>,
    /// The seed every random choice derives from [default: from the clock; recorded in test.json].
    #[arg(long)]
    seed: Option<u64>,
    /// Run the test this many times on the same cluster (seeds seed, seed+1, ...); exit with the worst.
    #[arg(long, default_value_t = 1, value_name = "K")]
    test_count: u32,
    /// Overall request rate, ops/s [default: the workload's].
    #[arg(long, value_name = "OPS_PER_S")]
    rate: Option<f64>,
    /// Seconds between nemesis operations.
    #[arg(long, default_value_t = 10.0, value_name = "S")]
    nemesis_interval: f64,
    /// etcd: serializable (possibly stale) reads instead of linearizable ones.
    #[arg(long)]
    serializable_reads: bool,
    /// Seconds after which a client request completes as `info` (unknown outcome).
    #[arg(long, default_value_t = 5.0, value_name = "S")]
    op_timeout: f64,
    /// lock workloads: the lease TTL in seconds.
    #[arg(long, value_name = "S")]
    lease_ttl: Option<f64>,
    /// Where runs are stored: <store>/<test-name>/<timestamp>/.
    #[arg(long, default_value = "store")]
    store: PathBuf,
    /// The test's name in the store [default: <db>-<workload>].
    #[arg(long)]
    name: Option<String>,
    /// Leave the cluster up at the end, for debugging (faults are still healed).
    #[arg(long)]
    keep_cluster: bool,
    /// Allow clock faults on existing hosts over SSH.
    #[arg(long)]
    allow_clock_changes: bool,
}

/// A wrong argument: exit 254 with one line.
fn bad(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("faultline test: {message}");
    ExitCode::from(crate::EXIT_BAD_ARGS)
}

fn seconds(flag: &str, s: f64) -> Result<Duration, String> {
    if s.is_finite() && s > 0.0 {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(format!("{flag}: {s} is not a positive number of seconds"))
    }
}

/// Runs `faultline test`.
pub fn run(args: TestArgs) -> ExitCode {
    let plan = match Plan::from_args(&args) {
        Ok(p) => p,
        Err(e) => return bad(e),
    };
    let state_dir = args.store.join(".clusters");
    let up_args = UpArgs {
        db: args.db.clone(),
        nodes: args.nodes.clone(),
        ssh_user: args.ssh_user.clone(),
        ssh_key: args.ssh_key.clone(),
        name: None,
    };
    let mut up = match parse_up(up_args, PathBuf::new()) {
        Ok(up) => up,
        Err(e) => return crate::cluster::report(&e),
    };
    if let Err(e) = cluster::validate(&up) {
        return crate::cluster::report(&e);
    }
    let hosts = matches!(up.source, NodeSource::Hosts(_));
    if hosts && plan.wants_clock() && !args.allow_clock_changes {
        return bad("clock faults on existing hosts change their clocks: give --allow-clock-changes to allow it");
    }
    // Each run's cluster records its state privately, so a `cluster up` of the user's stays untouched.
    let project = cluster::new_project_name();
    up.state_dir = state_dir.join(&project);
    up.project = Some(project);
    up.progress = true;
    if let NodeSource::Hosts(h) = &mut up.source {
        h.known_hosts = args.store.join(".known_hosts");
    }
    if let Err(e) = std::fs::create_dir_all(&up.state_dir) {
        return bad(format!("cannot create {}: {e}", up.state_dir.display()));
    }

    let guard = CleanupGuard::new(args.keep_cluster);
    guard.track_path(up.state_dir.clone());
    let cluster = match cluster::up(&up, &guard) {
        Ok(c) => c,
        Err(e) => return crate::cluster::report(&e),
    };
    let db = faultline_db::new_db(up.db);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("faultline: cannot start the async runtime: {e}");
            return ExitCode::from(crate::EXIT_CRASH);
        }
    };
    let mut worst = Verdict::Valid;
    for i in 0..args.test_count {
        let seed = plan.seed.wrapping_add(u64::from(i));
        match run_once(&args, &plan, seed, &cluster.nodes, db.clone(), &runtime) {
            Ok(v) => worst = worst.worst(v),
            Err(RunFailure::BadInput(m)) => return bad(m),
            Err(RunFailure::Crash(m)) => {
                eprintln!("faultline: {m}");
                return ExitCode::from(crate::EXIT_CRASH);
            }
        }
    }
    drop(runtime);
    let problems = guard.cleanup();
    for p in &problems {
        eprintln!("faultline: cleanup: {p}");
    }
    if args.keep_cluster {
        eprintln!(
            "cluster {} left up (--keep-cluster); take it down with: faultline cluster --state-dir {} down",
            cluster.state.project,
            up.state_dir.display()
        );
    }
    ExitCode::from(worst.exit_code() as u8)
}

/// What was decided from the arguments before anything started.
struct Plan {
    db: DbKind,
    workload: Chosen,
    nemesis: NemesisConfig,
    time_limit: Duration,
    op_timeout: Duration,
    seed: u64,
    name: String,
    /// Things the user should know about this run, also kept in test.json.
    notes: Vec<String>,
}

impl Plan {
    fn from_args(args: &TestArgs) -> Result<Plan, String> {
        let db: DbKind = args.db.parse().map_err(|e| format!("--db: {e}"))?;
        let time_limit = seconds("--time-limit", args.time_limit)?;
        let op_timeout = seconds("--op-timeout", args.op_timeout)?;
        let interval = seconds("--nemesis-interval", args.nemesis_interval)?;
        if args.concurrency == 0 {
            return Err("--concurrency: must be at least 1".into());
        }
        if args.test_count == 0 {
            return Err("--test-count: must be at least 1".into());
        }
        if let Some(r) = args.rate {
            if !(r.is_finite() && r > 0.0) {
                return Err(format!("--rate: {r} is not a positive number of ops/s"));
            }
        }
        let mut notes = Vec::new();
        let mut kinds = Vec::new();
        for name in &args.nemesis {
            let name = name.trim();
            if name == "none" || name.is_empty() {
                continue;
            }
            let kind: FaultKind = name.parse().map_err(|e| format!("--nemesis: {e}"))?;
            if matches!(kind, FaultKind::Clock(_)) && db == DbKind::Etcd {
                notes.push(
                    "clock fault not applicable to etcd: etcd is a statically linked Go binary \
                     that reads time through the vDSO, which faultline's clock shim cannot reach; \
                     no clock fault was injected"
                        .to_string(),
                );
                continue;
            }
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        let nemesis = NemesisConfig {
            kinds,
            interval,
            ..NemesisConfig::default()
        };
        let workload = Chosen::new(&args.workload, args, op_timeout)?;
        let seed = args.seed.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
        let name = args
            .name
            .clone()
            .unwrap_or_else(|| format!("{db}-{}", args.workload));
        Ok(Plan {
            db,
            workload,
            nemesis,
            time_limit,
            op_timeout,
            seed,
            name,
            notes,
        })
    }

    fn wants_clock(&self) -> bool {
        self.nemesis
            .kinds
            .iter()
            .any(|k| matches!(k, FaultKind::Clock(_)))
    }
}

/// The chosen workload with its options.
enum Chosen {
    Register(faultline_workload_register::Options),
    Set(faultline_workload_set::Options),
    Counter(faultline_workload_counter::Options),
    Bank(faultline_workload_bank::Options),
    Lock(faultline_workload_lock::Options),
}

/// The `--workload` names.
const WORKLOADS: &[&str] = &[
    faultline_workload_register::NAME,
    faultline_workload_set::NAME,
    faultline_workload_counter::NAME,
    faultline_workload_bank::NAME,
    faultline_workload_lock::NAME,
    faultline_workload_lock::FENCED_NAME,
];

impl Chosen {
    fn new(name: &str, args: &TestArgs, op_timeout: Duration) -> Result<Chosen, String> {
        let c = match name {
            faultline_workload_register::NAME => {
                Chosen::Register(faultline_workload_register::Options {
                    rate: args
                        .rate
                        .or(faultline_workload_register::Options::default().rate),
                    request_timeout: op_timeout,
                    serializable_reads: args.serializable_reads,
                    ..Default::default()
                })
            }
            faultline_workload_set::NAME => Chosen::Set(faultline_workload_set::Options {
                rate: args
                    .rate
                    .or(faultline_workload_set::Options::default().rate),
                request_timeout: op_timeout,
                serializable_reads: args.serializable_reads,
                ..Default::default()
            }),
            faultline_workload_counter::NAME => {
                Chosen::Counter(faultline_workload_counter::Options {
                    rate: args
                        .rate
                        .or(faultline_workload_counter::Options::default().rate),
                    request_timeout: op_timeout,
                    serializable_reads: args.serializable_reads,
                    ..Default::default()
                })
            }
            faultline_workload_bank::NAME => Chosen::Bank(faultline_workload_bank::Options {
                rate: args
                    .rate
                    .or(faultline_workload_bank::Options::default().rate),
                request_timeout: op_timeout,
                serializable_reads: args.serializable_reads,
                ..Default::default()
            }),
            other => {
                let mut o = faultline_workload_lock::Options::for_name(other).ok_or_else(|| {
                    format!(
                        "--workload: unknown workload {other:?}; expected one of: {}",
                        WORKLOADS.join(", ")
                    )
                })?;
                o.rate = args.rate.or(o.rate);
                o.request_timeout = op_timeout;
                if let Some(ttl) = args.lease_ttl {
                    o.lease_ttl = seconds("--lease-ttl", ttl)?;
                }
                Chosen::Lock(o)
            }
        };
        if args.lease_ttl.is_some() && !matches!(c, Chosen::Lock(_)) {
            return Err("--lease-ttl: only the lock workloads take a lease".into());
        }
        Ok(c)
    }

    fn workload(&self, db: DbKind, nodes: &[NodeAddr]) -> Workload {
        match self {
            Chosen::Register(o) => faultline_workload_register::workload(db, o, nodes),
            Chosen::Set(o) => faultline_workload_set::workload(db, o, nodes),
            Chosen::Counter(o) => faultline_workload_counter::workload(db, o, nodes),
            Chosen::Bank(o) => faultline_workload_bank::workload(db, o, nodes),
            Chosen::Lock(o) => faultline_workload_lock::workload(db, o, nodes),
        }
    }

    fn check(&self, ops: &[Operation]) -> Vec<CheckerResult> {
        match self {
            Chosen::Register(o) => faultline_workload_register::check(ops, o),
            Chosen::Set(o) => faultline_workload_set::check(ops, o),
            Chosen::Counter(o) => faultline_workload_counter::check(ops, o),
            Chosen::Bank(o) => faultline_workload_bank::check(ops, o),
            Chosen::Lock(o) => faultline_workload_lock::check(ops, o),
        }
    }
}

enum RunFailure {
    BadInput(String),
    Crash(String),
}

/// One test on a running cluster: run, collect, check, report. Returns the verdict.
fn run_once(
    args: &TestArgs,
    plan: &Plan,
    seed: u64,
    nodes: &[Node],
    db: Arc<dyn Db>,
    runtime: &tokio::runtime::Runtime,
) -> Result<Verdict, RunFailure> {
    let crash = |what: &str, e: &dyn std::fmt::Display| RunFailure::Crash(format!("{what}: {e}"));
    let started = Instant::now();
    let run_dir = runner::create_run_dir(&args.store, &plan.name, SystemTime::now())
        .map_err(|e| RunFailure::BadInput(e.to_string()))?;
    let node_names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let config = json!({
        "name": plan.name,
        "db": plan.db.to_string(),
        "workload": args.workload,
        "nemesis": args.nemesis,
        "nemesis_config": serde_json::to_value(&plan.nemesis).unwrap_or(Value::Null),
        "nemesis_interval_s": args.nemesis_interval,
        "nodes": node_names,
        "node_addresses": nodes.iter().map(|n| (n.name.clone(), n.address.clone())).collect::<std::collections::BTreeMap<_, _>>(),
        "seed": seed,
        "time_limit_s": args.time_limit,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "op_timeout_s": args.op_timeout,
        "serializable_reads": args.serializable_reads,
        "lease_ttl_s": args.lease_ttl,
        "command": reproduce_command(args, seed),
        "notes": plan.notes,
        "faultline_version": env!("CARGO_PKG_VERSION"),
    });
    run_dir
        .write_test_json(&config)
        .map_err(|e| crash("cannot write test.json", &e))?;
    let _ = run_dir.install_log();
    for note in &plan.notes {
        eprintln!("faultline: note: {note}");
    }
    eprintln!(
        "faultline: {} on {} nodes, workload {}, nemesis {}, seed {seed}: {}",
        plan.db,
        nodes.len(),
        args.workload,
        if plan.nemesis.kinds.is_empty() {
            "none".to_string()
        } else {
            args.nemesis.join(",")
        },
        run_dir.path.display()
    );

    let addrs: Vec<NodeAddr> = nodes
        .iter()
        .map(|n| NodeAddr::new(&n.name, &n.address))
        .collect();
    let workload = plan.workload.workload(plan.db, &addrs);
    let nemesis = if plan.nemesis.kinds.is_empty() {
        None
    } else {
        let schedule = Schedule::new(node_names.clone(), plan.nemesis.clone(), seed)
            .map_err(|e| RunFailure::BadInput(format!("--nemesis: {e}")))?;
        Some(runner::Nemesis {
            schedule,
            control: Arc::new(ClusterControl {
                nodes: nodes.to_vec(),
                db: db.clone(),
            }),
        })
    };
    let run_config = RunConfig {
        nodes: node_names,
        concurrency: args.concurrency,
        seed,
        op_timeout: plan.op_timeout,
        nemesis_timeout: Duration::from_secs(30),
        time_limit: Some(plan.time_limit),
        history_path: run_dir.history_path(),
        progress: std::io::stderr().is_terminal(),
    };
    let summary = runtime
        .block_on(runner::run(&run_config, workload, nemesis, None))
        .map_err(|e| match e {
            runner::RunError::Config(m) => RunFailure::BadInput(m),
            runner::RunError::Generator(g) => RunFailure::BadInput(g.to_string()),
            other => crash("the run failed", &other),
        })?;
    let run_s = started.elapsed().as_secs_f64();

    let logs = run_dir.path.join("logs");
    if let Err(e) = faultline_db::collect_logs(db.as_ref(), nodes, &logs) {
        eprintln!("faultline: collecting node logs: {e}");
    }

    let check_started = Instant::now();
    let history = std::fs::File::open(run_dir.history_path())
        .map_err(|e| crash("cannot reopen the history", &e))?;
    let (events, lines) = faultline_history::read_jsonl(std::io::BufReader::new(history))
        .map_err(|e| crash("the recorded history is unreadable", &e))?;
    let ops = pair(&events, &lines).map_err(|e| crash("the recorded history does not pair", &e))?;
    let checkers = plan.workload.check(&ops);
    let check_s = check_started.elapsed().as_secs_f64();

    let mut results = report::Results::build(&events, &checkers, &config);
    results.durations.insert("run_s".into(), run_s);
    results.durations.insert("check_s".into(), check_s);
    let written = report::write_results_json(&run_dir.path.join(report::RESULTS_FILE), &results)
        .and_then(|_| {
            report::write_junit(
                &run_dir.path.join(report::JUNIT_FILE),
                &results,
                report::REPORT_FILE,
            )
        })
        .and_then(|_| {
            report::write_html(
                &run_dir.path.join(report::REPORT_FILE),
                &events,
                &results,
                &report::run_links(&run_dir.path),
            )
        });
    if let Err(e) = written {
        return Err(crash("cannot write the reports", &e));
    }

    println!(
        "{} ops ({} ok, {} fail, {} info), {} nemesis events in {:.1} s",
        summary.invokes, summary.ok, summary.fail, summary.info, summary.nemesis_events, run_s
    );
    for c in &checkers {
        println!(
            "  {:<18} {:<8} {} anomal{}{}",
            c.checker,
            c.verdict,
            c.anomalies.len(),
            if c.anomalies.len() == 1 { "y" } else { "ies" },
            c.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
        for a in c.anomalies.iter().take(3) {
            println!("    {}: {}", a.kind, a.explanation);
        }
    }
    println!(
        "{}: {}",
        results.verdict,
        run_dir.path.join(report::REPORT_FILE).display()
    );
    Ok(results.verdict)
}

/// The command line that repeats this run (same seed, same everything).
fn reproduce_command(args: &TestArgs, seed: u64) -> String {
    let mut c = format!(
        "faultline test --db {} --workload {} --nemesis {} --time-limit {} --concurrency {} --nodes {} --seed {seed} --nemesis-interval {} --op-timeout {}",
        args.db,
        args.workload,
        args.nemesis.join(","),
        args.time_limit,
        args.concurrency,
        args.nodes,
        args.nemesis_interval,
        args.op_timeout
    );
    if let Some(r) = args.rate {
        c += &format!(" --rate {r}");
    }
    if args.serializable_reads {
        c += " --serializable-reads";
    }
    if let Some(t) = args.lease_ttl {
        c += &format!(" --lease-ttl {t}");
    }
    if let Some(k) = &args.ssh_key {
        c += &format!(" --ssh-user {} --ssh-key {}", args.ssh_user, k.display());
    }
    c
}

/// The nemesis's hands on a cluster: node commands through each node's remote, the
/// database's own kill/start/pause/resume, and its view of who is primary.
struct ClusterControl {
    nodes: Vec<Node>,
    db: Arc<dyn Db>,
}

impl ClusterControl {
    fn node(&self, name: &str) -> Result<&Node, NodeError> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| NodeError::new(name, "no such node in this cluster"))
    }
}

/// This machine's wall clock, ns since the Unix epoch.
fn unix_ns() -> i128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// The PID file of the database's main server process (the one faults target).
fn server_pid_file(kind: DbKind) -> String {
    let name = match kind {
        DbKind::Etcd => "etcd",
        DbKind::Redis => "redis",
    };
    format!("{PID_DIR}/{name}.pid")
}

impl NodeControl for ClusterControl {
    fn nodes(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    fn exec(&self, node: &str, command: &str) -> Result<String, NodeError> {
        let n = self.node(node)?;
        n.remote
            .run_with(command, b"", Duration::from_secs(30))
            .map_err(|e| NodeError::new(node, e.to_string()))
    }

    fn addr(&self, node: &str) -> Result<String, NodeError> {
        Ok(self.node(node)?.address.clone())
    }

    fn db_pid(&self, node: &str) -> Result<u32, NodeError> {
        let file = server_pid_file(self.db.kind());
        let text = self.exec(node, &format!("cat {file}"))?;
        text.trim()
            .parse()
            .map_err(|_| NodeError::new(node, format!("{file} holds {text:?}, not a pid")))
    }

    fn start_db(&self, node: &str) -> Result<(), NodeError> {
        self.db
            .start(self.node(node)?)
            .map_err(|e| NodeError::new(node, e.to_string()))
    }

    fn clock_offset_file(&self, _node: &str) -> String {
        CLOCK_OFFSET_FILE.to_string()
    }

    fn primaries(&self) -> Result<Vec<String>, NodeError> {
        self.db
            .primaries(&self.nodes)
            .map_err(|e| NodeError::new("cluster", e.to_string()))
    }

    fn clock_offsets(&self) -> Option<BTreeMap<String, i64>> {
        if self.db.kind() != DbKind::Redis {
            return None;
        }
        let mut offsets = BTreeMap::new();
        for n in &self.nodes {
            // Bracket the remote call with the local clock: the node's kernel clock is this
            // machine's (CLOCK_REALTIME is not namespaced), so any difference is the shim's.
            let before = unix_ns();
            let out = self.exec(&n.name, "redis-cli -p 6379 TIME").ok()?;
            let after = unix_ns();
            let mut words = out.split_whitespace().map(str::parse::<i128>);
            let (Some(Ok(secs)), Some(Ok(micros))) = (words.next(), words.next()) else {
                return None;
            };
            let redis_ns = secs * 1_000_000_000 + micros * 1_000;
            let offset = redis_ns - (before + after) / 2;
            offsets.insert(n.name.clone(), offset as i64);
        }
        Some(offsets)
    }

    fn signal_db(&self, node: &str, signal: DbSignal) -> Result<(), NodeError> {
        let n = self.node(node)?;
        let result = match signal {
            DbSignal::Kill => self.db.kill(n),
            DbSignal::Pause => self.db.pause(n),
            DbSignal::Resume => self.db.resume(n),
        };
        result.map_err(|e| NodeError::new(node, e.to_string()))
    }
}
