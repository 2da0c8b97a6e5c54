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
use faultline_db::{Db, DbKind};
use faultline_history::{pair, Verdict};
use faultline_nemesis::{probe_netem, FaultKind, NemesisConfig, Schedule};
use faultline_report as report;
use faultline_runner::{self as runner, RunConfig};
use faultline_workload_support::NodeAddr;
use faultline_workloads::{Common, Configured};
use serde_json::{json, Value};
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
    /// -primaries], loss, pause, slow, kill, clock[-bump|-strobe][-forward|-backward],
    /// delay, duplicate, reorder (these three need the kernel's netem; loss does not), or none;
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
    /// Allow clock faults on existing hosts over SSH: they step the hosts' real clocks
    /// (Docker nodes never: they share this machine's clock and use the clock shim).
    #[arg(long)]
    allow_clock_changes: bool,
}

impl TestArgs {
    /// What the common arguments say to the workload (recorded in test.json as they are).
    fn common(&self) -> Common {
        Common {
            rate: self.rate,
            op_timeout_s: self.op_timeout,
            serializable_reads: self.serializable_reads,
            lease_ttl_s: self.lease_ttl,
        }
    }
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
    // The same rule as `parse_up`: a count is a Docker cluster, anything else lists hosts.
    let hosts = args.nodes.trim().parse::<usize>().is_err();
    let plan = match Plan::from_args(&args, hosts) {
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
    debug_assert_eq!(hosts, matches!(up.source, NodeSource::Hosts(_)));
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
    if plan.wants_netem() {
        let control = ClusterControl {
            nodes: cluster.nodes.clone(),
            db: db.clone(),
            clock: plan.clock,
        };
        if let Some(node) = cluster.nodes.first() {
            if let Err(e) = probe_netem(&control, &node.name) {
                return bad(no_netem_message(&plan.netem_names(), &e.to_string()));
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
}

/// The one line `faultline test` exits with when the nodes cannot run netem faults.
fn no_netem_message(names: &[String], error: &str) -> String {
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
         loss (iptables statistic) works, delay/duplicate/reorder need netem",
        names.join(",")
    )
}

impl Plan {
    fn from_args(args: &TestArgs, hosts: bool) -> Result<Plan, String> {
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
        let mut notes = Vec::new();
        let mut kinds = Vec::new();
        let wants_clock = args
            .nemesis
            .iter()
            .any(|n| matches!(n.trim().parse(), Ok(FaultKind::Clock(_))));
        let clock = if wants_clock {
            ClockMechanism::choose(hosts, args.allow_clock_changes)?
        } else {
            ClockMechanism::ShimOffsetFile
        };
        for name in &args.nemesis {
            let name = name.trim();
            if name == "none" || name.is_empty() {
                continue;
            }
            let kind: FaultKind = name.parse().map_err(|e| format!("--nemesis: {e}"))?;
            // A real clock step reaches etcd; the shim cannot.
            if matches!(kind, FaultKind::Clock(_))
                && db == DbKind::Etcd
                && clock == ClockMechanism::ShimOffsetFile
            {
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
            ..NemesisConfig::default()
        };
        let workload = faultline_workloads::configure(&args.workload, &args.common())?;
        workload.supports(db)?;
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
            clock,
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
    let run_dir = runner::create_run_dir(&args.store, &plan.name, SystemTime::now())
        .map_err(|e| RunFailure::BadInput(e.to_string()))?;
    let node_names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let mut config = json!({
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
        "command": reproduce_command(args, seed),
        "notes": plan.notes,
        "clock_mechanism": if plan.wants_clock() { Value::from(plan.clock.name()) } else { Value::Null },
        "faultline_version": env!("CARGO_PKG_VERSION"),
    });
    // The workload's options under their own names: `faultline check RUN_DIR` rebuilds the
    // run's checkers from them (faultline_workloads::from_test_json).
    if let (Some(config), Ok(Value::Object(common))) = (
        config.as_object_mut(),
        serde_json::to_value(&plan.workload.common),
    ) {
        config.extend(common);
    }
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
                clock: plan.clock,
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
    fn docker_nodes_use_the_shim_and_hosts_their_clock_only_when_allowed() {
        let p = plan(&["--db", "redis", "--nemesis", "clock", "--nodes", "3"]).unwrap();
        assert_eq!(p.clock, ClockMechanism::ShimOffsetFile);
        assert!(p.notes.iter().any(|n| n.contains("clock shim")));
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
        assert_eq!(p.clock, ClockMechanism::ShimOffsetFile);
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
        let p = plan(&["--db", "etcd", "--nemesis", "clock", "--nodes", "3"]).unwrap();
        assert!(!p.wants_clock(), "shim clock faults are dropped for etcd");
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
        let m = no_netem_message(
            &p.netem_names(),
            "n1: ssh root@10.0.0.2:22: `dev=$(ip ...); tc qdisc replace dev \"$dev\" root netem delay 1ms` \
             exited with status 2: Error: Specified qdisc kind is unknown.\n",
        );
        assert_eq!(
            m,
            "--nemesis delay,reorder: this kernel has no netem qdisc (tc qdisc ... netem failed: \
             n1: ssh root@10.0.0.2:22: the probe exited with status 2: Error: Specified qdisc kind is unknown.); \
             loss (iptables statistic) works, delay/duplicate/reorder need netem"
        );
    }
}
