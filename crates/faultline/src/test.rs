//! `faultline test`: the main job. Bring a cluster up, run a workload against it while the
//! nemesis injects faults, record the history, check it, write the reports, take the cluster
//! down, and exit with the verdict (0 valid, 1 invalid, 2 unknown).
//!
//! The pieces come from the library crates; this module only wires them, in the one
//! direction a history flows: generator -> clients and nemesis -> history -> checkers ->
//! results -> reports.

use crate::cluster::{parse_up, UpArgs};
use faultline_cluster::{
    self as cluster, CleanupGuard, ClockMechanism, ClusterControl, NodeSource,
};
use faultline_control::Node;
use faultline_db::Db;
use faultline_history::{pair, Verdict};
use faultline_nemesis::{probe_netem, ClockMode, ClockSource, FaultKind, NemesisConfig, Schedule};
use faultline_report as report;
use faultline_runner::{self as runner, RunConfig};
use faultline_workload_support::NodeAddr;
use faultline_workloads::{Common, Configured};
use serde_json::Value;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Arguments of `faultline test`. The defaults give a meaningful one-minute test. test.json
/// records them all (`config::TestConfig::flags`), and the reproduce command is rendered
/// from them, so a new flag is recorded and reproduced by construction.
#[derive(clap::Args, Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TestArgs {
    /// The database under test: a built-in definition (etcd, redis) or the path of a db.toml
    /// or its directory (see docs/db-definition.md).
    #[arg(long, default_value = "etcd", value_name = "NAME|PATH")]
    db: String,
    /// The workload: register, set, counter, bank, lock, lock-fenced, append (list-append
    /// transactions) or wr (rw-register transactions).
    #[arg(long, default_value = "register")]
    workload: String,
    /// Faults, comma-separated: partition[-halves|-random-halves|-one|-majorities-ring|-bridge|
    /// -primaries], loss, pause, slow, kill, clock[-bump|-strobe|-rate][-wall|-monotonic]
    /// [-forward|-backward], delay, duplicate, reorder, corrupt, bandwidth (netem where the
    /// kernel has it, else faultline's NFQUEUE handler), or none; all but partitions take a
    /// target: -one, -minority, -majority, -all or -primaries (e.g. pause-one,
    /// clock-bump-monotonic-primaries) [default target: random each time].
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
    pub(crate) seed: Option<u64>,
    /// Run the test this many times on the same cluster (seeds seed, seed+1, ...); exit with the worst.
    #[arg(long, default_value_t = 1, value_name = "K")]
    pub(crate) test_count: u32,
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
    /// The largest clock offset a clock bump or strobe draws, ms.
    #[arg(long, default_value_t = 60_000, value_name = "MS")]
    clock_max_offset_ms: u64,
    /// How fast a clock-rate fault runs a clock (a -backward one runs at its inverse).
    #[arg(long, default_value_t = 4.0, value_name = "X")]
    clock_rate: f64,
    /// A delay fault's mean delay, ms.
    #[arg(long, default_value_t = 100, value_name = "MS")]
    delay_ms: u64,
    /// A delay fault's jitter, ms.
    #[arg(long, default_value_t = 50, value_name = "MS")]
    delay_jitter_ms: u64,
    /// The share of packets a corrupt fault damages, percent.
    #[arg(long, default_value_t = 5, value_name = "PERCENT")]
    corrupt_percent: u8,
    /// A bandwidth fault's rate, kbit/s.
    #[arg(long, default_value_t = 1000, value_name = "KBIT")]
    bandwidth_kbit: u64,
    /// Run this program (through `sh -c`) as the client instead of faultline's built-in one:
    /// one instance per process, JSON Lines on stdin/stdout, stderr to the run's log
    /// (docs/client-protocol.md).
    #[arg(long, value_name = "COMMAND")]
    client: Option<String>,
    /// An option for the --client program, added to its open message's options
    /// (repeatable; the value is JSON when it parses as JSON, else a string).
    #[arg(long = "client-opt", value_name = "KEY=VALUE")]
    client_opt: Vec<String>,
    /// lock workloads: the lease TTL in seconds.
    #[arg(long, value_name = "S")]
    lease_ttl: Option<f64>,
    /// append, wr: keys each worker has active at once [default: 5].
    #[arg(long, value_name = "N")]
    key_count: Option<u32>,
    /// append, wr: fewest micro-operations per transaction [default: 1].
    #[arg(long, value_name = "N")]
    min_txn_length: Option<u32>,
    /// append, wr: most micro-operations per transaction [default: 4].
    #[arg(long, value_name = "N")]
    max_txn_length: Option<u32>,
    /// append, wr: writes a key receives (over all workers) before it is retired [default: 32].
    #[arg(long, value_name = "N")]
    max_writes_per_key: Option<u32>,
    /// append, wr: the share of micro-operations that are reads, 0 to 1 [default: 0.5].
    #[arg(long, value_name = "F")]
    read_fraction: Option<f64>,
    /// append, wr: the consistency model the transactional checker holds the database to
    /// (read-committed, snapshot-isolation, serializable, strict-serializable, ...)
    /// [default: strict-serializable].
    #[arg(long, value_name = "MODEL")]
    consistency_model: Option<String>,
    /// Where runs are stored: <store>/<test-name>/<timestamp>/.
    #[arg(long, default_value = "store")]
    store: PathBuf,
    /// The test's name in the store [default: <db>-<workload>].
    #[arg(long)]
    name: Option<String>,
    /// Leave the cluster up at the end, for debugging (faults are still healed).
    #[arg(long)]
    keep_cluster: bool,
    /// Make a valid run unknown (exit 2) unless some fault had this effect, comma-separated:
    /// leader-change, errors (timeouts or failures rose), latency, effect (anything visible),
    /// every-fault (each fault had a visible effect).
    #[arg(long, value_delimiter = ',', value_name = "EFFECT")]
    expect: Vec<String>,
    /// End the run as soon as the checker running alongside it finds an anomaly (a key not
    /// linearizable: register workload): faults are healed, logs collected and reports
    /// written as usual, and the verdict is invalid.
    #[arg(long)]
    #[serde(default)]
    stop_on_anomaly: bool,
    /// Allow clock faults on existing hosts over SSH: they step the hosts' real clocks
    /// (Docker nodes never: they share this machine's clock and use faultline-clock).
    #[arg(long)]
    allow_clock_changes: bool,
    /// Let a --db definition upload files from outside its directory (a [[files]] source,
    /// or a symlink beside db.toml, whose real path leaves it); refused otherwise.
    #[arg(long)]
    #[serde(default)]
    allow_outside_files: bool,
}

impl TestArgs {
    /// The `--workload` name.
    #[cfg(test)]
    pub(crate) fn workload_name(&self) -> String {
        self.workload.clone()
    }

    /// What the common arguments say to the workload (recorded in test.json as they are).
    pub(crate) fn common(&self) -> Common {
        Common {
            rate: self.rate,
            op_timeout_s: self.op_timeout,
            serializable_reads: self.serializable_reads,
            lease_ttl_s: self.lease_ttl,
            key_count: self.key_count,
            min_txn_length: self.min_txn_length,
            max_txn_length: self.max_txn_length,
            max_writes_per_key: self.max_writes_per_key,
            read_fraction: self.read_fraction,
            consistency_model: self.consistency_model.clone(),
        }
    }
}

/// A wrong argument: exit 254 with one line.
fn bad(message: impl std::fmt::Display) -> ExitCode {
    tracing::error!("{message}");
    eprintln!("faultline: {message}");
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
    // The same rule as `parse_up`: a count is a Docker cluster, anything else lists hosts.
    let hosts = args.nodes.trim().parse::<usize>().is_err();
    if let Some(e) = args
        .expect
        .iter()
        .find_map(|e| report::Expectation::parse(e).err())
    {
        return bad(format!("--expect: {e}"));
    }
    let mut plan = match Plan::from_args(&args, hosts) {
        Ok(p) => p,
        Err(e) => return bad(e),
    };
    // Keys and cluster records live in the private state root, never in the served store.
    let state_root = cluster::state::state_root();
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
    debug_assert_eq!(hosts, matches!(up.source, NodeSource::Hosts(_)));
    runner::begin_log();
    if let Some(warning) = cluster::clean::leftover_warning(&state_root) {
        eprintln!("faultline: {warning}");
    }
    // Each run's cluster records its state and owner privately, so a `cluster up` of the
    // user's stays untouched and `faultline clean` can tell a crashed run's cluster.
    let project = cluster::new_project_name();
    up.state_dir = cluster::state::runs_dir(&state_root).join(&project);
    up.project = Some(project.clone());
    up.progress = true;
    if let NodeSource::Hosts(h) = &mut up.source {
        h.known_hosts = state_root.join("known_hosts");
    }
    let guard = CleanupGuard::new(args.keep_cluster);
    if args.client.is_some() {
        cluster::on_interrupt(Box::new(faultline_client_protocol::kill_all_instances));
    }
    guard.track_path(up.state_dir.clone());
    let owner = cluster::state::private_dir(&up.state_dir)
        .and_then(|()| cluster::state::Owner::this_process(&project)?.write(&up.state_dir));
    if let Err(e) = owner {
        return bad(format!("{}: {e}", up.state_dir.display()));
    }
    let cluster = match cluster::up(&up, &guard) {
        Ok(c) => c,
        Err(e) => return crate::cluster::report(&e),
    };
    let db = plan.db.clone();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("faultline: cannot start the async runtime: {e}");
            return ExitCode::from(crate::EXIT_CRASH);
        }
    };
    if plan.wants_netem() {
        let control = ClusterControl {
            nodes: cluster.nodes.clone(),
            db: db.clone(),
            clock: plan.clock,
            netem: true,
        };
        if let Some(node) = cluster.nodes.first() {
            if let Err(e) = probe_netem(&control, &node.name) {
                plan.netem = false;
                plan.notes
                    .push(no_netem_note(&plan.netem_names(), &e.to_string()));
            }
        }
    }
    let mut worst = Verdict::Valid;
    for i in 0..args.test_count {
        let seed = plan.seed.wrapping_add(u64::from(i));
        match run_once(&args, &plan, seed, &cluster.nodes, db.clone(), &runtime) {
            Ok(v) => worst = worst.worst(v),
            Err(RunFailure::BadInput(m)) => return bad(m),
            Err(RunFailure::Crash(m)) => {
                tracing::error!("{m}");
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
        // Kept on purpose: `faultline clean` leaves it alone.
        if let Ok(mut owner) = cluster::state::Owner::read(&up.state_dir) {
            owner.kept = true;
            let _ = owner.write(&up.state_dir);
        }
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
    db: Arc<dyn Db>,
    workload: Configured,
    nemesis: NemesisConfig,
    time_limit: Duration,
    op_timeout: Duration,
    seed: u64,
    name: String,
    /// Things the user should know about this run, also kept in test.json.
    notes: Vec<String>,
    /// How clock faults reach the nodes' clocks.
    clock: ClockMechanism,
    /// Whether packet faults use netem (the nodes' kernel has it) or faultline's handler.
    netem: bool,
    /// The `--client-opt`s, parsed.
    client_opts: Vec<(String, Value)>,
}

/// What the run says when the nodes have no netem: packet faults go through the handler.
fn no_netem_note(names: &[String], error: &str) -> String {
    // The remote's error quotes the whole probe script in backquotes: name it instead.
    let error = match error
        .split_once('`')
        .and_then(|(a, rest)| Some((a, rest.split_once('`')?.1)))
    {
        Some((before, after)) => format!("{before}the probe{after}"),
        None => error.to_string(),
    };
    let error = error.split_whitespace().collect::<Vec<_>>().join(" ");
    format!(
        "--nemesis {}: this kernel has no netem qdisc (tc qdisc ... netem failed: {error}); \
         these faults go through faultline's NFQUEUE packet handler (faultline-netq) instead, \
         on each target's packets to the other nodes",
        names.join(",")
    )
}

impl Plan {
    fn from_args(args: &TestArgs, hosts: bool) -> Result<Plan, String> {
        // A definition's mistakes are found before anything starts.
        faultline_db::definition::set_allow_outside_files(args.allow_outside_files);
        let db = faultline_db::open_db(&args.db).map_err(|e| format!("--db: {e}"))?;
        let time_limit = seconds("--time-limit", args.time_limit)?;
        let op_timeout = seconds("--op-timeout", args.op_timeout)?;
        let interval = seconds("--nemesis-interval", args.nemesis_interval)?;
        if args.concurrency == 0 {
            return Err("--concurrency: must be at least 1".into());
        }
        if args.test_count == 0 {
            return Err("--test-count: must be at least 1".into());
        }
        let mut notes = Vec::new();
        let mut kinds = Vec::new();
        let wants_clock = args
            .nemesis
            .iter()
            .any(|n| matches!(n.trim().parse(), Ok(FaultKind::Clock(_))));
        let clock = if wants_clock {
            ClockMechanism::choose(hosts, args.allow_clock_changes)?
        } else {
            ClockMechanism::ClockTool
        };
        for name in &args.nemesis {
            let name = name.trim();
            if name == "none" || name.is_empty() {
                continue;
            }
            let kind: FaultKind = name.parse().map_err(|e| format!("--nemesis: {e}"))?;
            // Stepping a host's real clock moves its wall clock only.
            if let FaultKind::Clock(k) = kind {
                if clock == ClockMechanism::HostClock
                    && (k.clock == ClockSource::Monotonic || k.mode == Some(ClockMode::Rate))
                {
                    return Err(format!(
                        "--nemesis {name}: on existing hosts clock faults step the real wall clock; \
                         monotonic clocks and clock rates need faultline-clock (Docker nodes)"
                    ));
                }
            }
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        if kinds.iter().any(|k| matches!(k, FaultKind::Clock(_))) {
            notes.push(clock.note());
        }
        if kinds.iter().any(|k| matches!(k, FaultKind::Loss(_))) {
            notes.push(
                "loss drops packets with the iptables statistic match (random); it needs no netem"
                    .to_string(),
            );
        }
        let nemesis = NemesisConfig {
            kinds,
            interval,
            clock_max_offset_ms: args.clock_max_offset_ms.max(1),
            clock_rate: args.clock_rate,
            delay_ms: args.delay_ms,
            delay_jitter_ms: args.delay_jitter_ms,
            corrupt_percent: args.corrupt_percent,
            bandwidth_kbit: args.bandwidth_kbit,
            ..NemesisConfig::default()
        };
        // The schedule's own checks, as one line before any cluster starts.
        Schedule::new(vec!["n1".into()], nemesis.clone(), 0)
            .map_err(|e| format!("--nemesis: {e}"))?;
        let workload = faultline_workloads::configure(&args.workload, &args.common())?;
        if args.stop_on_anomaly && workload.stream_checker().is_none() {
            return Err(format!(
                "--stop-on-anomaly: the {} workload is checked after the run; only the register \
                 workload (linearizability) is checked while it runs",
                args.workload
            ));
        }
        // A --client program carries out the operations itself, whatever the family.
        if args.client.is_none() {
            workload.supports(&db.client())?;
        }
        let client_opts = parse_client_opts(args)?;
        let seed = args.seed.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
        let name = args
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-{}", db.name(), args.workload));
        Ok(Plan {
            db,
            workload,
            nemesis,
            time_limit,
            op_timeout,
            seed,
            name,
            notes,
            clock,
            netem: true,
            client_opts,
        })
    }

    fn wants_clock(&self) -> bool {
        self.nemesis
            .kinds
            .iter()
            .any(|k| matches!(k, FaultKind::Clock(_)))
    }

    fn wants_netem(&self) -> bool {
        self.nemesis.kinds.iter().any(|k| k.needs_netem())
    }

    /// The `--nemesis` names that need netem, as given.
    fn netem_names(&self) -> Vec<String> {
        self.nemesis
            .kinds
            .iter()
            .filter(|k| k.needs_netem())
            .map(|k| match k {
                FaultKind::Netem(kind, _) => kind.name().to_string(),
                _ => unreachable!("filtered to netem kinds"),
            })
            .collect()
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
    let program = match &args.client {
        Some(command) => Some(probe_program(
            command,
            &args.workload,
            plan,
            nodes,
            runtime,
        )?),
        None => None,
    };
    let run_dir = runner::create_run_dir(&args.store, &plan.name, SystemTime::now())
        .map_err(|e| RunFailure::BadInput(e.to_string()))?;
    let node_names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let flags = crate::config::flags_for_run(args, seed);
    let test_config = crate::config::TestConfig {
        config_version: crate::config::CONFIG_VERSION,
        name: plan.name.clone(),
        db: plan.db.name(),
        workload: args.workload.clone(),
        nemesis: args.nemesis.clone(),
        nodes: node_names.clone(),
        node_addresses: nodes
            .iter()
            .map(|n| (n.name.clone(), n.address.clone()))
            .collect(),
        seed,
        command: crate::config::reproduce_command(&flags),
        flags,
        common: plan.workload.common.clone(),
        check: crate::config::CheckSpec::of(&plan.workload),
        nemesis_config: serde_json::to_value(&plan.nemesis).unwrap_or(Value::Null),
        notes: plan.notes.clone(),
        clock_mechanism: plan.wants_clock().then(|| plan.clock.name().to_string()),
        client: args.client.clone(),
        expect: args.expect.clone(),
        client_options: program.as_ref().map(|p| Value::Object(p.options().clone())),
        faultline_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let config =
        serde_json::to_value(&test_config).map_err(|e| crash("cannot encode test.json", &e))?;
    run_dir
        .write_test_json(&config)
        .map_err(|e| crash("cannot write test.json", &e))?;
    let _ = run_dir.install_log();
    for note in &plan.notes {
        eprintln!("faultline: note: {note}");
    }
    eprintln!(
        "faultline: {} on {} nodes, workload {}, nemesis {}, seed {seed}: {}",
        plan.db.name(),
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
    let mut workload = plan.workload.workload(&plan.db.client(), &addrs);
    if let Some(program) = &program {
        workload.clients = Arc::new(program.clone());
    }
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
                clock: plan.clock,
                netem: plan.netem,
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
    // The workload's linearizability checker takes the history as it is written: an anomaly
    // is printed when found, and may stop the run; the final verdict is its report.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (tap, streamed) = match plan.workload.stream_checker() {
        Some(checker) => {
            let (tx, rx) = std::sync::mpsc::channel();
            let stop = args.stop_on_anomaly.then_some(stop_tx);
            let thread = std::thread::Builder::new()
                .name("faultline-stream-check".into())
                .spawn(move || check_while_running(checker, &rx, stop))
                .map_err(|e| crash("cannot start the streamed checker", &e))?;
            (Some(tx), Some(thread))
        }
        None => (None, None),
    };
    let summary = runtime
        .block_on(runner::run_tapped(
            &run_config,
            workload,
            nemesis,
            Some(stop_rx),
            tap,
        ))
        .map_err(|e| match e {
            runner::RunError::Config(m) => RunFailure::BadInput(m),
            runner::RunError::Generator(g) => RunFailure::BadInput(g.to_string()),
            other => crash("the run failed", &other),
        })?;
    if summary.stopped {
        eprintln!("faultline: --stop-on-anomaly: the run was stopped early; faults healed");
    }
    let run_s = started.elapsed().as_secs_f64();
    let misbehaviour = program.map(|p| p.misbehaviour());
    if let Some(m) = misbehaviour.clone().filter(|m| m.count > 0) {
        eprintln!(
            "faultline: the --client program misbehaved {} time(s), each recorded as info (all in {}); first: {}",
            m.count,
            run_dir.log_path().display(),
            m.first.unwrap_or_default()
        );
    }

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
    let streamed = streamed.map(|t| t.join());
    let mut first_anomaly_s = None;
    let checkers = match streamed {
        Some(Ok(Streamed::Done(report, first))) => {
            first_anomaly_s = first;
            plan.workload.streamed_results(report)
        }
        // The stream could not take the history (it does not pair, which reading it again
        // just did not find either) or the thread died: check it whole, as without a stream.
        Some(Ok(Streamed::Unreadable(e))) => {
            eprintln!("faultline: the streamed check stopped ({e}); checking the history whole");
            plan.workload.check(&ops)
        }
        Some(Err(_)) => {
            eprintln!("faultline: the streamed check panicked; checking the history whole");
            plan.workload.check(&ops)
        }
        None => plan.workload.check(&ops),
    };
    let check_s = check_started.elapsed().as_secs_f64();

    let mut results = report::Results::build(&events, &checkers, &config);
    results.client_misbehaviour = misbehaviour.and_then(|m| m.verdict_note());
    results.durations.insert("run_s".into(), run_s);
    results.durations.insert("check_s".into(), check_s);
    if let Some(t) = first_anomaly_s {
        results.durations.insert("first_anomaly_s".into(), t);
    }
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
    crate::check::print_checker_lines(&checkers);
    for c in &checkers {
        let finding = results
            .explanation
            .anomalies
            .iter()
            .find(|x| x.checker == c.checker);
        if let Some(x) = finding {
            println!("    in context: {}", x.finding);
        }
    }
    for k in &results.explanation.summary {
        println!("  {}", k.line);
    }
    if let Some(why) = &results.verdict_reason {
        println!("  {why}");
    }
    if let Some(note) = &results.client_misbehaviour {
        println!("  {note}");
    }
    println!(
        "{}: {}",
        results.verdict,
        run_dir.path.join(report::REPORT_FILE).display()
    );
    Ok(results.verdict)
}

/// How the checker that ran alongside the run ended.
enum Streamed {
    /// Its report, and when (s since the run started) it found its first anomaly.
    Done(
        Result<faultline_linearizability::Report, faultline_linearizability::ModelError>,
        Option<f64>,
    ),
    /// An event it could not take.
    Unreadable(faultline_linearizability::StreamError),
}

/// Feeds `checker` the run's events until the history closes. Each anomaly is printed on one
/// line when found; the first one sends `stop` (`--stop-on-anomaly`).
fn check_while_running(
    mut checker: faultline_linearizability::SpecStream,
    events: &std::sync::mpsc::Receiver<faultline_history::Event>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
) -> Streamed {
    let mut first = None;
    for ev in events {
        let found = match checker.push(&ev) {
            Ok(f) => f,
            Err(e) => return Streamed::Unreadable(e),
        };
        for f in found {
            let t = f.time as f64 / 1e9;
            first.get_or_insert(t);
            let key = f.key.map_or_else(String::new, |k| format!(" key {k}"));
            println!(
                "anomaly at {t:.1} s (event {}): linearizability:{key}: {}",
                f.event, f.counterexample.explanation
            );
            if let Some(stop) = &stop {
                if !*stop.borrow() {
                    println!("stopping the run (--stop-on-anomaly)");
                    let _ = stop.send(true);
                }
            }
        }
    }
    Streamed::Done(checker.finish(), first)
}

/// The `--client-opt`s as (key, value), or the one line that says which is wrong.
fn parse_client_opts(args: &TestArgs) -> Result<Vec<(String, Value)>, String> {
    match &args.client {
        Some(c) if c.trim().is_empty() => return Err("--client: the command is empty".into()),
        None if !args.client_opt.is_empty() => {
            return Err("--client-opt: only a --client program takes options".into())
        }
        _ => {}
    }
    args.client_opt
        .iter()
        .map(|o| faultline_client_protocol::parse_client_opt(o))
        .collect()
}

/// The `--client` program as the run's client factory (the workload's options as test.json
/// records them, a fresh namespace, the `--client-opt`s), once it has shown it speaks the
/// protocol: a program that does not is bad input, found before any operation.
fn probe_program(
    command: &str,
    workload: &str,
    plan: &Plan,
    nodes: &[Node],
    runtime: &tokio::runtime::Runtime,
) -> Result<faultline_client_protocol::ProgramClients, RunFailure> {
    let common = match serde_json::to_value(&plan.workload.common) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let options = faultline_client_protocol::client_options(common, workload, &plan.client_opts);
    let addrs = nodes
        .iter()
        .map(|n| (n.name.clone(), n.address.clone()))
        .collect();
    let program = faultline_client_protocol::ProgramClients::new(
        command,
        &plan.db.name(),
        workload,
        addrs,
        options,
    );
    let node = nodes.first().map(|n| n.name.as_str()).unwrap_or("n1");
    let started = Instant::now();
    runtime
        .block_on(program.probe(node, plan.op_timeout))
        .map_err(|e| RunFailure::BadInput(format!("--client {command:?}: {e}")))?;
    // Every instance's start counts against the op timeout of the op it opens for.
    let took = started.elapsed();
    if took > plan.op_timeout / 4 {
        eprintln!(
            "faultline: note: the --client program took {:.1} s to start and open \
             (--op-timeout {:.1} s bounds each instance's open): start it faster \
             (e.g. the interpreter's real path, not a shim) or raise --op-timeout",
            took.as_secs_f64(),
            plan.op_timeout.as_secs_f64()
        );
    }
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: TestArgs,
    }

    fn plan(argv: &[&str]) -> Result<Plan, String> {
        let args = Cli::try_parse_from(std::iter::once("test").chain(argv.iter().copied()))
            .unwrap()
            .args;
        let hosts = args.nodes.trim().parse::<usize>().is_err();
        Plan::from_args(&args, hosts)
    }

    #[test]
    fn docker_nodes_use_faultline_clock_and_hosts_their_clock_only_when_allowed() {
        let p = plan(&["--db", "redis", "--nemesis", "clock", "--nodes", "3"]).unwrap();
        assert_eq!(p.clock, ClockMechanism::ClockTool);
        assert!(p
            .notes
            .iter()
            .any(|n| n.contains("faultline-clock's control page")));
        let p = plan(&[
            "--db",
            "redis",
            "--nemesis",
            "clock",
            "--nodes",
            "3",
            "--allow-clock-changes",
        ])
        .unwrap();
        assert_eq!(p.clock, ClockMechanism::ClockTool);
        let hosts = ["--nodes", "h1,h2,h3", "--ssh-key", "/k"];
        let err = plan(&[&["--db", "redis", "--nemesis", "clock-bump"][..], &hosts].concat());
        assert!(err.err().unwrap().contains("--allow-clock-changes"));
        // etcd ignores the shim, but a real clock step reaches it.
        let p = plan(
            &[
                &[
                    "--db",
                    "etcd",
                    "--nemesis",
                    "clock",
                    "--allow-clock-changes",
                ][..],
                &hosts,
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!(p.clock, ClockMechanism::HostClock);
        assert!(p.wants_clock());
        assert!(p.notes.iter().any(|n| n.contains("hosts' real clocks")));
        // Docker nodes reach etcd through its vDSO: every clock kind applies.
        let p = plan(&[
            "--db",
            "etcd",
            "--nemesis",
            "clock,clock-bump-monotonic-primaries,clock-rate-wall",
            "--nodes",
            "3",
        ])
        .unwrap();
        assert!(p.wants_clock());
        assert_eq!(p.nemesis.kinds.len(), 3);
        // A real host's clock can only be stepped: monotonic clocks and rates are refused.
        for kind in ["clock-bump-monotonic", "clock-rate"] {
            let err = plan(
                &[
                    &["--db", "etcd", "--nemesis", kind, "--allow-clock-changes"][..],
                    &hosts,
                ]
                .concat(),
            )
            .err()
            .unwrap();
            assert!(
                err.contains(kind) && err.contains("need faultline-clock"),
                "{err}"
            );
        }
        let err = plan(&[
            "--nemesis",
            "clock-rate",
            "--clock-rate",
            "0.5",
            "--nodes",
            "3",
        ])
        .err()
        .unwrap();
        assert!(err.starts_with("--nemesis: clock rate 0.5"), "{err}");
    }

    #[test]
    fn stop_on_anomaly_needs_a_workload_checked_while_it_runs() {
        assert!(plan(&["--stop-on-anomaly", "--nodes", "3"]).is_ok());
        let err = plan(&["--workload", "set", "--stop-on-anomaly", "--nodes", "3"])
            .err()
            .unwrap();
        assert!(
            err.starts_with("--stop-on-anomaly: the set workload is checked after the run"),
            "{err}"
        );
    }

    #[test]
    fn netem_faults_are_named_and_loss_says_it_needs_no_netem() {
        let p = plan(&["--nemesis", "loss", "--nodes", "3"]).unwrap();
        assert!(!p.wants_netem());
        assert!(p
            .notes
            .iter()
            .any(|n| n.contains("iptables statistic") && n.contains("no netem")));
        let p = plan(&["--nemesis", "delay-one,kill,reorder", "--nodes", "3"]).unwrap();
        assert!(p.wants_netem());
        assert_eq!(p.netem_names(), ["delay", "reorder"]);
        let m = no_netem_note(
            &p.netem_names(),
            "n1: ssh root@10.0.0.2:22: `dev=$(ip ...); tc qdisc replace dev \"$dev\" root netem delay 1ms` \
             exited with status 2: Error: Specified qdisc kind is unknown.\n",
        );
        assert_eq!(
            m,
            "--nemesis delay,reorder: this kernel has no netem qdisc (tc qdisc ... netem failed: \
             n1: ssh root@10.0.0.2:22: the probe exited with status 2: Error: Specified qdisc kind is unknown.); \
             these faults go through faultline's NFQUEUE packet handler (faultline-netq) instead, \
             on each target's packets to the other nodes"
        );
    }
}
