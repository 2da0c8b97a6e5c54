//! faultline-cluster: the nodes under test, as a Docker cluster or existing hosts.
//!
//! [`up`] makes a cluster: for a Docker cluster it builds the node image if missing
//! ([`image::ensure_image`]), writes a compose file, generates an SSH key pair for the
//! cluster, starts the containers under their own compose project name, records their host
//! keys in a per-cluster known_hosts, and connects over SSH; for existing hosts it connects
//! with the given user and key. Then it sets the database up and records the cluster in a
//! state file so `status`, `exec` and `down` find it. Everything it creates is tracked by a
//! [`CleanupGuard`] from the first step, so a failure or signal leaves nothing behind.

pub mod clean;
pub mod compose;
pub mod guard;
pub mod image;
pub mod node_control;
pub mod proc;
pub mod state;

pub use guard::{
    compose_down, exit_code_after_signal, leftovers, on_interrupt, CleanupGuard, EXIT_INTERRUPTED,
};
pub use image::{ensure_image, image_tag};
pub use node_control::{ClockMechanism, ClusterControl};

use faultline_control::{
    ControlError, DockerRemote, HostsConfig, Node, Remote, SshConfig, SshRemote,
};
use faultline_db::{Db, DbError};
use proc::{run_tracked, which};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most nodes a Docker cluster may have.
pub const MAX_NODES: usize = 32;

/// Why a cluster step failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The user asked for something impossible (zero nodes, an unknown node...).
    #[error("{0}")]
    BadArgs(String),
    /// A prerequisite is missing; the message says what to install or start.
    #[error("{0}")]
    Missing(String),
    /// Building the node image failed.
    #[error("{0}")]
    Build(String),
    /// A node could not be reached or a command on it failed.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// The database could not be set up.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Docker or compose failed, or a local file could not be written.
    #[error("{0}")]
    Io(String),
    /// A signal arrived; the cleanup guard is taking the cluster down.
    #[error("interrupted")]
    Interrupted,
}

impl ClusterError {
    /// True for errors of the user's input (exit code 254) rather than of the harness.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ClusterError::BadArgs(_)
                | ClusterError::Missing(_)
                | ClusterError::Control(ControlError::File { .. })
                | ClusterError::Control(ControlError::Connect { .. })
                | ClusterError::Control(ControlError::Auth { .. })
                | ClusterError::Control(ControlError::HostKey { .. })
        )
    }
}

/// Where the nodes come from.
#[derive(Clone, Debug)]
pub enum NodeSource {
    /// A Docker cluster of this many nodes (n1..nN).
    Docker(usize),
    /// Existing machines over SSH.
    Hosts(HostsConfig),
}

/// What [`up`] makes.
#[derive(Clone, Debug)]
pub struct UpOptions {
    /// The database to set up: a built-in name or a definition's path (`--db`).
    pub db: String,
    /// Docker nodes or existing hosts.
    pub source: NodeSource,
    /// Where the state file and per-cluster files go (see [`default_state_dir`]).
    pub state_dir: PathBuf,
    /// The compose project name; default `faultline-<pid>-<random>`.
    pub project: Option<String>,
    /// Show progress on stderr.
    pub progress: bool,
    /// The run asks for storage faults: nodes get /dev/fuse and SYS_ADMIN, and faultline-fs
    /// is mounted over the database's data directories (what setup wrote counts as durable).
    /// Never otherwise.
    pub storage: bool,
}

/// One node as recorded in the state file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// n1, n2, ... (or the host name).
    pub name: String,
    /// The address clients use.
    pub address: String,
    /// The SSH port.
    pub port: u16,
    /// The container, for a Docker cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// The record of a running cluster (`<state dir>/cluster.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterState {
    /// The compose project (Docker) or a name for the host set.
    pub project: String,
    /// The database, e.g. `etcd`.
    pub db: String,
    /// The compose file, for a Docker cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose_file: Option<PathBuf>,
    /// The node image, for a Docker cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The SSH login user.
    pub ssh_user: String,
    /// The SSH private key.
    pub key_file: PathBuf,
    /// The cluster's known_hosts.
    pub known_hosts: PathBuf,
    /// Files faultline made for this cluster (key pair, compose file), removed by `down`.
    pub cluster_dir: PathBuf,
    /// The nodes.
    pub nodes: Vec<NodeRecord>,
}

/// A cluster: its record and its nodes.
pub struct Cluster {
    /// What the state file holds.
    pub state: ClusterState,
    /// The nodes, reached over SSH.
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// The database, from its definition.
    pub fn db(&self) -> Result<Arc<dyn Db>, ClusterError> {
        open_db(&self.state.db)
    }

    /// The nodes reached with `docker exec` instead of SSH (Docker clusters only).
    pub fn docker_nodes(&self) -> Option<Vec<Node>> {
        self.state
            .nodes
            .iter()
            .map(|r| {
                r.container.as_ref().map(|c| Node {
                    name: r.name.clone(),
                    address: r.address.clone(),
                    remote: Arc::new(DockerRemote::new(c.clone())) as Arc<dyn Remote>,
                })
            })
            .collect()
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> Result<&Node, ClusterError> {
        self.nodes.iter().find(|n| n.name == name).ok_or_else(|| {
            let names: Vec<_> = self.nodes.iter().map(|n| n.name.as_str()).collect();
            ClusterError::BadArgs(format!(
                "no node {name:?} in cluster {}: nodes are {}",
                self.state.project,
                names.join(", ")
            ))
        })
    }

    /// Rebuilds a cluster from its record (connections open lazily).
    pub fn from_state(state: ClusterState) -> Self {
        let docker = state.compose_file.is_some();
        let ssh = SshConfig {
            user: state.ssh_user.clone(),
            key_file: state.key_file.clone(),
            known_hosts: state.known_hosts.clone(),
            // Docker nodes' keys were recorded at start; real hosts are trusted on first use.
            accept_new_host_keys: !docker,
            connect_timeout: Duration::from_secs(5),
        };
        let nodes = state
            .nodes
            .iter()
            .map(|r| Node {
                name: r.name.clone(),
                address: r.address.clone(),
                remote: Arc::new(SshRemote::new(r.address.clone(), r.port, ssh.clone())),
            })
            .collect();
        Cluster { state, nodes }
    }

    /// A guard that takes this cluster down (used by `cluster down`, and by a runner that
    /// adopts a running cluster).
    pub fn guard(&self, keep_cluster: bool) -> CleanupGuard {
        let g = CleanupGuard::new(keep_cluster);
        if let Some(file) = &self.state.compose_file {
            g.track_project(&self.state.project, file.clone());
        }
        g.track_nodes(self.docker_nodes().as_deref().unwrap_or(&self.nodes));
        if let Ok(db) = self.db() {
            g.track_db(db);
        }
        g
    }
}

/// The default state directory of `faultline cluster`: `cluster/` under the private state
/// root ([`state::state_root`]).
pub fn default_state_dir() -> PathBuf {
    state::cluster_dir(&state::state_root())
}

/// The state file in `state_dir`.
pub fn state_file(state_dir: &Path) -> PathBuf {
    state_dir.join("cluster.json")
}

/// Reads the running cluster's record.
pub fn load(state_dir: &Path) -> Result<Cluster, ClusterError> {
    let path = state_file(state_dir);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ClusterError::BadArgs(format!(
                "no cluster is up ({} not found): start one with `faultline cluster up`",
                path.display()
            ))
        } else {
            ClusterError::Io(format!("{}: {e}", path.display()))
        }
    })?;
    let state: ClusterState = serde_json::from_str(&text).map_err(|e| {
        ClusterError::BadArgs(format!("{}: not a cluster record: {e}", path.display()))
    })?;
    Ok(Cluster::from_state(state))
}

/// Takes the recorded cluster down and removes its record and files.
pub fn down(state_dir: &Path) -> Result<ClusterState, ClusterError> {
    let cluster = load(state_dir)?;
    let guard = cluster.guard(false);
    guard.track_path(cluster.state.cluster_dir.clone());
    guard.track_path(state_file(state_dir));
    let problems = guard.cleanup();
    if !problems.is_empty() {
        return Err(ClusterError::Io(problems.join("; ")));
    }
    Ok(cluster.state)
}

/// A new project name: `faultline-<pid>-<random>`.
pub fn new_project_name() -> String {
    format!("faultline-{}-{}", std::process::id(), random_suffix())
}

pub(crate) fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:06x}", h.finish() & 0xff_ffff)
}

fn say(progress: bool, start: Instant, msg: &str) {
    tracing::info!(target: "faultline::setup", "{msg}");
    if progress {
        eprintln!("[{:5.1}s] {msg}", start.elapsed().as_secs_f64());
    }
}

fn io_err(path: &Path, e: std::io::Error) -> ClusterError {
    ClusterError::Io(format!("{}: {e}", path.display()))
}

/// Checks the arguments of [`up`] before anything is created; gives a note for the user
/// when the definition's packages could not be checked.
pub fn validate(opts: &UpOptions) -> Result<Option<String>, ClusterError> {
    // A definition's mistakes are found before anything starts.
    let db = open_storage_db(opts)?;
    let mut note = None;
    if matches!(opts.source, NodeSource::Docker(_)) {
        match db.check_packages(&image::packages()) {
            Err(e) => return Err(ClusterError::BadArgs(format!("--db: {e}"))),
            Ok(unchecked) => note = unchecked.map(|u| format!("note: {u}")),
        }
    }
    match &opts.source {
        NodeSource::Docker(0) => Err(ClusterError::BadArgs("--nodes must be at least 1".into())),
        NodeSource::Docker(n) if *n > MAX_NODES => Err(ClusterError::BadArgs(format!(
            "--nodes {n} is more than the {MAX_NODES} a Docker cluster may have"
        ))),
        NodeSource::Docker(_) => Ok(()),
        NodeSource::Hosts(h) if h.hosts.is_empty() => {
            Err(ClusterError::BadArgs("--nodes lists no hosts".into()))
        }
        NodeSource::Hosts(h) => {
            let key = SshConfig {
                user: h.user.clone(),
                key_file: h.key_file.clone(),
                known_hosts: h.known_hosts.clone(),
                accept_new_host_keys: true,
                connect_timeout: h.connect_timeout,
            };
            key.check_key_file()?;
            Ok(())
        }
    }?;
    if state_file(&opts.state_dir).exists() {
        return Err(ClusterError::BadArgs(format!(
            "a cluster is already up ({} exists): take it down with `faultline cluster down` first",
            state_file(&opts.state_dir).display()
        )));
    }
    Ok(note)
}

/// The database `spec` names (a built-in name or a definition's path), or one line.
pub fn open_db(spec: &str) -> Result<Arc<dyn Db>, ClusterError> {
    faultline_db::open_db(spec).map_err(|e| ClusterError::BadArgs(format!("--db: {e}")))
}

/// Counts what the database's setup and start wrote as durable: a run starts from a disk a
/// kernel would have written back long ago, and storage faults test what the database does
/// from then on, not how it was created.
fn storage_synced(nodes: &[Node]) -> Result<(), ClusterError> {
    let sync = faultline_control::faults::faultfs_ctl_cmd("sync");
    faultline_db::on_all(nodes, |node| {
        node.remote.run(&sync)?;
        Ok(())
    })?;
    Ok(())
}

/// The database of `opts`, with faultline-fs over its data directories when the run asks
/// for storage faults.
fn open_storage_db(opts: &UpOptions) -> Result<Arc<dyn Db>, ClusterError> {
    if !opts.storage {
        return open_db(&opts.db);
    }
    faultline_db::open_db_with_faultfs(&opts.db)
        .map_err(|e| ClusterError::BadArgs(format!("--db: {e}")))
}

/// `--db` as the state file records it: a definition's path made absolute, so `status` and
/// `down` find it from any directory.
fn db_record(spec: &str) -> String {
    if faultline_db::definition::is_path(spec) {
        if let Ok(p) = Path::new(spec).canonicalize() {
            return p.display().to_string();
        }
    }
    spec.to_string()
}

/// Brings a cluster up with its database, tracked by `guard` from the first step.
///
/// On success the cluster is recorded in the state dir; the caller decides whether the
/// guard takes it down at the end (a test run) or is disarmed (`cluster up`).
pub fn up(opts: &UpOptions, guard: &CleanupGuard) -> Result<Cluster, ClusterError> {
    let start = Instant::now();
    validate(opts)?;
    let (state, nodes) = match &opts.source {
        NodeSource::Docker(n) => docker_up(opts, *n, guard, start)?,
        NodeSource::Hosts(h) => hosts_up(opts, h, guard)?,
    };
    let db = open_storage_db(opts)?;
    guard.track_db(db.clone());
    say(
        opts.progress,
        start,
        &format!("setting up {} on {} nodes", db.name(), nodes.len()),
    );
    faultline_db::setup_all(db.as_ref(), &nodes)?;
    if opts.storage {
        storage_synced(&nodes)?;
    }
    say(
        opts.progress,
        start,
        &format!("{} ready on all nodes", db.name()),
    );
    let path = state_file(&opts.state_dir);
    let json = serde_json::to_string_pretty(&state).expect("cluster state serializes");
    guard.track_path(path.clone());
    std::fs::write(&path, json + "\n").map_err(|e| io_err(&path, e))?;
    Ok(Cluster { state, nodes })
}

fn hosts_up(
    opts: &UpOptions,
    hosts: &HostsConfig,
    guard: &CleanupGuard,
) -> Result<(ClusterState, Vec<Node>), ClusterError> {
    let nodes = faultline_control::nodes_from_hosts(hosts)?;
    guard.track_nodes(&nodes);
    state::private_dir(&opts.state_dir).map_err(|e| ClusterError::Io(e.to_string()))?;
    let records = hosts
        .hosts
        .iter()
        .zip(&nodes)
        .map(|(spec, n)| NodeRecord {
            name: n.name.clone(),
            address: n.address.clone(),
            port: faultline_control::node::parse_host(spec)
                .map(|(_, p)| p)
                .unwrap_or(22),
            container: None,
        })
        .collect();
    let state = ClusterState {
        project: opts.project.clone().unwrap_or_else(new_project_name),
        db: db_record(&opts.db),
        compose_file: None,
        image: None,
        ssh_user: hosts.user.clone(),
        key_file: hosts.key_file.clone(),
        known_hosts: hosts.known_hosts.clone(),
        cluster_dir: opts.state_dir.join("hosts"),
        nodes: records,
    };
    Ok((state, nodes))
}

fn docker_up(
    opts: &UpOptions,
    n: usize,
    guard: &CleanupGuard,
    start: Instant,
) -> Result<(ClusterState, Vec<Node>), ClusterError> {
    let progress = opts.progress;
    image::check_docker()?;
    if which("docker-compose").is_none() {
        return Err(ClusterError::Missing(
            "docker-compose not found: install it with `apt-get install -y docker-compose`".into(),
        ));
    }
    if which("ssh-keygen").is_none() {
        return Err(ClusterError::Missing(
            "ssh-keygen not found: install it with `apt-get install -y openssh-client`".into(),
        ));
    }
    let packages = open_db(&opts.db)?.packages();
    let tag = image::image_tag_for(&packages);
    if !image::image_exists(&tag)? {
        say(
            progress,
            start,
            &format!("node image {tag} missing: building it"),
        );
        image::build_image_for(&packages, progress, false)?;
    }
    let project = opts.project.clone().unwrap_or_else(new_project_name);
    let dir = opts.state_dir.join(&project);
    // The key pair lives here: readable by the user alone.
    state::private_dir(&dir).map_err(|e| ClusterError::Io(e.to_string()))?;
    // Absolute paths: the record must work from any directory.
    let dir = dir.canonicalize().map_err(|e| io_err(&dir, e))?;
    guard.track_path(dir.clone());
    let compose_path = dir.join("docker-compose.yml");
    std::fs::write(&compose_path, compose::compose_file_for(n, opts.storage))
        .map_err(|e| io_err(&compose_path, e))?;
    let key_file = dir.join("id_ed25519");
    let out = run_tracked(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C"])
            .arg(format!("faultline-{project}"))
            .arg("-f")
            .arg(&key_file),
        Duration::from_secs(30),
    )?;
    if out.status != 0 {
        return Err(ClusterError::Io(format!(
            "ssh-keygen failed: {}",
            out.stderr_text()
        )));
    }
    let pubkey_path = dir.join("id_ed25519.pub");
    let pubkey = std::fs::read_to_string(&pubkey_path).map_err(|e| io_err(&pubkey_path, e))?;

    guard.track_project(&project, compose_path.clone());
    say(
        progress,
        start,
        &format!("starting {n} containers (project {project})"),
    );
    let out = run_tracked(
        Command::new("docker-compose")
            .args(["-p", &project, "-f"])
            .arg(&compose_path)
            .args(["up", "-d", "--no-color", "--no-build"])
            .env("FAULTLINE_IMAGE", &tag)
            .env("FAULTLINE_AUTHORIZED_KEY", pubkey.trim()),
        Duration::from_secs(180),
    )?;
    if out.status != 0 {
        return Err(ClusterError::Io(format!(
            "docker-compose up failed: {}",
            out.stderr_text().lines().last().unwrap_or("")
        )));
    }
    let mut records = containers(&project)?;
    let names = compose::node_names(n);
    records.retain(|r| names.contains(&r.name));
    if records.len() != n {
        return Err(ClusterError::Io(format!(
            "expected {n} containers in project {project}, found {}",
            records.len()
        )));
    }
    let docker_nodes: Vec<Node> = records
        .iter()
        .map(|r| Node {
            name: r.name.clone(),
            address: r.address.clone(),
            remote: Arc::new(DockerRemote::new(r.container.clone().unwrap_or_default()))
                as Arc<dyn Remote>,
        })
        .collect();
    guard.track_nodes(&docker_nodes);

    // Host keys, read over the trusted docker channel, become the cluster's known_hosts.
    say(progress, start, "recording host keys");
    let known_hosts = dir.join("known_hosts");
    let keys = host_keys(&docker_nodes, Duration::from_secs(30))?;
    let text: String = records
        .iter()
        .zip(&keys)
        .map(|(r, k)| format!("{} {}\n", r.address, k))
        .collect();
    std::fs::write(&known_hosts, text).map_err(|e| io_err(&known_hosts, e))?;

    let state = ClusterState {
        project: project.clone(),
        db: db_record(&opts.db),
        compose_file: Some(compose_path),
        image: Some(tag),
        ssh_user: "root".into(),
        key_file,
        known_hosts,
        cluster_dir: dir,
        nodes: records,
    };
    let cluster = Cluster::from_state(state);
    say(progress, start, "connecting over SSH");
    connect_all(&cluster.nodes, Duration::from_secs(30))?;
    Ok((cluster.state, cluster.nodes))
}

/// The project's containers: service name, IP address on the private network, id.
fn containers(project: &str) -> Result<Vec<NodeRecord>, ClusterError> {
    let label = format!("label=com.docker.compose.project={project}");
    let out = run_tracked(
        Command::new("docker").args(["ps", "-q", "--filter", &label]),
        Duration::from_secs(30),
    )?;
    let ids: Vec<String> = out.stdout_text().lines().map(str::to_string).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let out = run_tracked(
        Command::new("docker").arg("inspect").args(&ids),
        Duration::from_secs(30),
    )?;
    let info: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| ClusterError::Io(format!("docker inspect printed bad JSON: {e}")))?;
    let mut records = Vec::new();
    for c in info.as_array().into_iter().flatten() {
        let service = c["Config"]["Labels"]["com.docker.compose.service"]
            .as_str()
            .unwrap_or_default();
        let address = c["NetworkSettings"]["Networks"]
            .as_object()
            .and_then(|nets| nets.values().find_map(|n| n["IPAddress"].as_str()))
            .unwrap_or_default();
        let name = c["Name"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches('/');
        if service.is_empty() || address.is_empty() {
            return Err(ClusterError::Io(format!(
                "container {name} has no service label or address"
            )));
        }
        records.push(NodeRecord {
            name: service.to_string(),
            address: address.to_string(),
            port: 22,
            container: Some(name.to_string()),
        });
    }
    // n1, n2, ..., n10 in numeric order.
    records.sort_by_key(|r| {
        r.name
            .trim_start_matches('n')
            .parse::<u32>()
            .unwrap_or(u32::MAX)
    });
    Ok(records)
}

/// Waits for each node's init to write its host key, then reads it.
fn host_keys(nodes: &[Node], timeout: Duration) -> Result<Vec<String>, ClusterError> {
    let deadline = Instant::now() + timeout;
    std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|node| {
                s.spawn(move || loop {
                    let out = node.remote.exec(
                        "cat /etc/ssh/ssh_host_ed25519_key.pub && pgrep -x sshd >/dev/null",
                        b"",
                        Duration::from_secs(10),
                    )?;
                    let key = out.stdout_text();
                    let mut words = key.split_whitespace();
                    if out.status == 0 {
                        if let (Some(kind), Some(b64)) = (words.next(), words.next()) {
                            return Ok(format!("{kind} {b64}"));
                        }
                    }
                    if Instant::now() >= deadline || proc::interrupted() {
                        return Err(ClusterError::Io(format!(
                            "{}: no SSH host key after {timeout:?}: {}",
                            node.name,
                            out.stderr_text()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(ClusterError::Io("thread panicked".into())))
            })
            .collect()
    })
}

/// Connects to every node over SSH, retrying while sshd starts.
fn connect_all(nodes: &[Node], timeout: Duration) -> Result<(), ClusterError> {
    let deadline = Instant::now() + timeout;
    faultline_db::on_all(nodes, |node| loop {
        match node.remote.run_with("true", b"", Duration::from_secs(10)) {
            Ok(_) => return Ok(()),
            Err(e @ ControlError::Connect { .. })
                if Instant::now() < deadline && !proc::interrupted() =>
            {
                tracing::debug!(target: "faultline::setup", "{}: retrying: {e}", node.name);
                std::thread::sleep(Duration::from_millis(100))
            }
            Err(e) => return Err(e.into()),
        }
    })
    .map_err(|e| match e {
        DbError::Control(c) => ClusterError::Control(c),
        other => ClusterError::Db(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(source: NodeSource, dir: &Path) -> UpOptions {
        UpOptions {
            db: "etcd".into(),
            source,
            state_dir: dir.to_path_buf(),
            project: None,
            progress: false,
            storage: false,
        }
    }

    #[test]
    fn zero_nodes_is_refused_before_anything_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let err = validate(&opts(NodeSource::Docker(0), dir.path())).unwrap_err();
        assert_eq!(err.to_string(), "--nodes must be at least 1");
        assert!(err.is_bad_input());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn missing_key_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = HostsConfig {
            hosts: vec!["127.0.0.1".into()],
            user: "root".into(),
            key_file: dir.path().join("nope"),
            known_hosts: dir.path().join("known_hosts"),
            connect_timeout: Duration::from_secs(1),
        };
        let err = validate(&opts(NodeSource::Hosts(hosts), dir.path())).unwrap_err();
        assert!(err.is_bad_input());
        let msg = err.to_string();
        assert!(
            msg.starts_with("SSH key file ") && msg.ends_with("nope: not found"),
            "{msg}"
        );
    }

    #[test]
    fn state_round_trips_through_json() {
        let state = ClusterState {
            project: "faultline-1-abc".into(),
            db: "redis".into(),
            compose_file: Some("/x/docker-compose.yml".into()),
            image: Some("faultline-node:0123".into()),
            ssh_user: "root".into(),
            key_file: "/x/id_ed25519".into(),
            known_hosts: "/x/known_hosts".into(),
            cluster_dir: "/x".into(),
            nodes: vec![NodeRecord {
                name: "n1".into(),
                address: "172.20.0.2".into(),
                port: 22,
                container: Some("faultline-1-abc_n1_1".into()),
            }],
        };
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<ClusterState>(&json).unwrap(), state);
        let c = Cluster::from_state(state);
        assert_eq!(
            c.docker_nodes().unwrap()[0].remote.target(),
            "docker exec faultline-1-abc_n1_1"
        );
        assert!(c
            .node("n9")
            .unwrap_err()
            .to_string()
            .contains("nodes are n1"));
    }

    #[test]
    fn project_names_differ_per_call() {
        let a = new_project_name();
        let b = new_project_name();
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("faultline-{}-", std::process::id())));
    }
}
