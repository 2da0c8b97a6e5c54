//! `faultline cluster up|status|exec|down`: a test cluster outside of a test run.

use faultline_cluster::{self as cluster, CleanupGuard, ClusterError, UpOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Arguments of `faultline cluster`.
#[derive(clap::Args)]
pub struct ClusterArgs {
    /// Where the running cluster is recorded (cluster.json, keys, compose file); default
    /// cluster/ under the private state root ($FAULTLINE_STATE_DIR, else
    /// $XDG_STATE_HOME/faultline, else ~/.local/state/faultline).
    #[arg(long, global = true)]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(clap::Subcommand)]
enum ClusterCommand {
    /// Start nodes and set the database up on them.
    Up(UpArgs),
    /// Show each node's address, database state, and the leader or primary.
    Status,
    /// Run a command on a node: `faultline cluster exec n1 -- CMD ARGS...`.
    Exec {
        /// The node, e.g. n1.
        node: String,
        /// Use `docker exec` instead of SSH.
        #[arg(long)]
        docker: bool,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// Take the cluster down and remove its record.
    Down,
}

/// Arguments of `faultline cluster up`.
#[derive(clap::Args)]
struct UpArgs {
    /// The database: a built-in definition (etcd, redis) or the path of a db.toml or its
    /// directory (see docs/db-definition.md).
    #[arg(long, default_value = "etcd", value_name = "NAME|PATH")]
    db: String,
    /// A node count for a Docker cluster (n1..nN), or existing hosts: host1,host2[:port],...
    #[arg(long, default_value = "5")]
    nodes: String,
    /// The SSH user on existing hosts.
    #[arg(long, default_value = "root")]
    ssh_user: String,
    /// The SSH private key for existing hosts.
    #[arg(long)]
    ssh_key: Option<PathBuf>,
    /// The compose project name (default: faultline-<pid>-<random>).
    #[arg(long)]
    name: Option<String>,
}

/// Prints an error as one line and returns its exit code (254 bad input, 255 internal).
pub fn report(e: &ClusterError) -> ExitCode {
    if matches!(e, ClusterError::Interrupted) {
        // The signal thread has said so and is cleaning up; `main` exits with its code.
        return ExitCode::from(cluster::EXIT_INTERRUPTED as u8);
    }
    tracing::error!("{e}");
    eprintln!("faultline: {e}");
    ExitCode::from(if e.is_bad_input() {
        crate::EXIT_BAD_ARGS
    } else {
        crate::EXIT_CRASH
    })
}

/// Runs `faultline cluster`.
pub fn run(args: ClusterArgs) -> ExitCode {
    let state_dir = args.state_dir.unwrap_or_else(cluster::default_state_dir);
    let result = match args.command {
        ClusterCommand::Up(up) => run_up(up, state_dir),
        ClusterCommand::Status => status(&state_dir),
        ClusterCommand::Exec { node, docker, cmd } => return exec(&state_dir, &node, docker, &cmd),
        ClusterCommand::Down => cluster::down(&state_dir).map(|s| {
            eprintln!("cluster {} is down", s.project);
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

/// The cluster `args` describe, recorded under `state_dir`.
fn parse_up(args: UpArgs, state_dir: PathBuf) -> Result<UpOptions, ClusterError> {
    let flags = faultline_core::nodes::NodeFlags {
        db: args.db,
        nodes: args.nodes,
        ssh_user: args.ssh_user,
        ssh_key: args.ssh_key,
        name: args.name,
    };
    faultline_core::nodes::up_options(flags, state_dir)
}

fn run_up(args: UpArgs, state_dir: PathBuf) -> Result<(), ClusterError> {
    let start = Instant::now();
    let opts = parse_up(args, state_dir)?;
    if let Some(note) = cluster::validate(&opts)? {
        eprintln!("faultline: {note}");
    }
    cluster::state::private_dir(&opts.state_dir).map_err(|e| ClusterError::Io(e.to_string()))?;
    // Until the cluster is fully up, any failure or signal takes it down again.
    let guard = CleanupGuard::new(false);
    let c = cluster::up(&opts, &guard)?;
    guard.disarm();
    eprintln!(
        "cluster {} up with {} on {} nodes in {:.1} s",
        c.state.project,
        c.state.db,
        c.nodes.len(),
        start.elapsed().as_secs_f64()
    );
    for n in &c.nodes {
        println!("{}\t{}", n.name, n.address);
    }
    Ok(())
}

fn status(state_dir: &std::path::Path) -> Result<(), ClusterError> {
    let c = cluster::load(state_dir)?;
    let db = c.db()?;
    let primaries = db.primaries(&c.nodes).unwrap_or_default();
    let role = match db.client().kind() {
        Some(faultline_db::DbKind::Etcd) => "leader",
        _ => "primary",
    };
    println!("cluster {} ({})", c.state.project, c.state.db);
    println!("{:<8} {:<16} {:<10} ROLE", "NODE", "ADDRESS", "DB");
    for n in &c.nodes {
        let state = match db.state(n) {
            Ok(s) => s.to_string(),
            Err(_) => "unreachable".to_string(),
        };
        let r = if primaries.contains(&n.name) {
            role
        } else {
            "-"
        };
        println!("{:<8} {:<16} {:<10} {r}", n.name, n.address, state);
    }
    Ok(())
}

fn exec(state_dir: &std::path::Path, node: &str, docker: bool, cmd: &[String]) -> ExitCode {
    let run = || -> Result<i32, ClusterError> {
        let c = cluster::load(state_dir)?;
        let nodes = if docker {
            c.docker_nodes().ok_or_else(|| {
                ClusterError::BadArgs("--docker: this cluster runs on existing hosts".into())
            })?
        } else {
            c.nodes.clone()
        };
        let c = cluster::Cluster {
            state: c.state,
            nodes,
        };
        let n = c.node(node)?;
        let words: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let line = if words.len() == 1 {
            // One word may be a whole shell command line: `exec n1 -- 'a | b'`.
            words[0].to_string()
        } else {
            faultline_control::join(&words)
        };
        let out = n
            .remote
            .exec(&line, b"", Duration::from_secs(3600))
            .map_err(ClusterError::Control)?;
        use std::io::Write;
        let _ = std::io::stdout().write_all(&out.stdout);
        let _ = std::io::stderr().write_all(&out.stderr);
        Ok(out.status)
    };
    match run() {
        Ok(status) => ExitCode::from(status.clamp(0, 255) as u8),
        Err(e) => report(&e),
    }
}
