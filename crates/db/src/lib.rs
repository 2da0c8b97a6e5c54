//! faultline-db: the databases under test.
//!
//! A [`Db`] installs its configuration on the nodes, starts and stops the server processes
//! (supervised by PID file, see [`daemon`]), kills, restarts, pauses and resumes them, says
//! which nodes are primaries, and names its log files. Each database also has a client
//! ([`etcd::EtcdClient`], [`redis::RedisClient`]) whose errors say whether an operation
//! definitely failed or may have taken effect ([`ClientError`]).

pub mod daemon;
pub mod defined;
pub mod definition;
pub mod etcd;
pub mod mysql;
pub mod packages;
pub mod postgres;
pub mod redis;
pub mod sql;

pub use defined::DefinedDb;
pub use definition::{ClientFamily, Definition, FailoverCommands, RedisPrimary};
pub use sql::{Isolation, SqlClient, SqlPrimary};

use faultline_control::{ControlError, Node};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// The protocol families faultline has clients for (and the built-in databases that
/// speak them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DbKind {
    /// The etcd v3 API (built in: etcd 3.4, a Raft cluster on all nodes).
    Etcd,
    /// RESP (built in: Redis 7.0 with replicas and a Sentinel on every node).
    Redis,
    /// The PostgreSQL wire protocol (built in: PostgreSQL 15, a primary and streaming
    /// replicas).
    Postgres,
    /// The MySQL wire protocol (built in: MariaDB 10.11, a primary and replicas).
    Mysql,
}

impl DbKind {
    /// Every protocol family, for help texts.
    pub const ALL: [DbKind; 4] = [DbKind::Etcd, DbKind::Redis, DbKind::Postgres, DbKind::Mysql];

    /// The built-in definition that speaks this family.
    pub fn builtin(self) -> &'static str {
        match self {
            DbKind::Etcd => "etcd",
            DbKind::Redis => "redis",
            DbKind::Postgres => "postgres",
            DbKind::Mysql => "mariadb",
        }
    }

    /// Whether this is a SQL family (transactions, `--isolation`).
    pub fn is_sql(self) -> bool {
        matches!(self, DbKind::Postgres | DbKind::Mysql)
    }
}

impl fmt::Display for DbKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DbKind::Etcd => "etcd",
            DbKind::Redis => "redis",
            DbKind::Postgres => "postgres",
            DbKind::Mysql => "mysql",
        })
    }
}

impl FromStr for DbKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "etcd" => Ok(DbKind::Etcd),
            "redis" => Ok(DbKind::Redis),
            "postgres" => Ok(DbKind::Postgres),
            "mysql" => Ok(DbKind::Mysql),
            _ => Err(format!(
                "unknown database {s:?}: expected etcd, redis, postgres or mysql"
            )),
        }
    }
}

/// Why a database step failed on a node.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A command on the node failed.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// The node lacks something the database needs, or the database misbehaved.
    #[error("{node}: {reason}")]
    Node {
        /// The node's name.
        node: String,
        /// What is wrong.
        reason: String,
    },
}

/// How a database's server process on one node is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessState {
    /// Running (not stopped by SIGSTOP).
    Running,
    /// Stopped by SIGSTOP (the pause fault).
    Paused,
    /// Not running.
    Down,
}

impl fmt::Display for ProcessState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProcessState::Running => "running",
            ProcessState::Paused => "paused",
            ProcessState::Down => "down",
        })
    }
}

/// A database under test, driven through the nodes' remotes.
pub trait Db: Send + Sync {
    /// The database's name.
    fn name(&self) -> String;
    /// The built-in client that speaks to it.
    fn client(&self) -> ClientFamily;
    /// Writes the configuration for `node` (a member of `nodes`) and starts the server.
    fn setup(&self, node: &Node, nodes: &[Node]) -> Result<(), DbError>;
    /// Waits until every node serves requests (and, for Redis, replication and Sentinel
    /// are in place), or `timeout` passes: never longer.
    fn await_ready(&self, nodes: &[Node], timeout: Duration) -> Result<(), DbError>;
    /// How long every node has to become ready after setup (a definition's
    /// `[ready] timeout_s`).
    fn ready_timeout(&self) -> Duration;
    /// Stops the server and wipes its data and configuration.
    fn teardown(&self, node: &Node) -> Result<(), DbError>;
    /// Kills the server with SIGKILL.
    fn kill(&self, node: &Node) -> Result<(), DbError>;
    /// Starts the server again after a kill, with the configuration from setup.
    fn start(&self, node: &Node) -> Result<(), DbError>;
    /// Stops the server with SIGSTOP.
    fn pause(&self, node: &Node) -> Result<(), DbError>;
    /// Resumes the server with SIGCONT.
    fn resume(&self, node: &Node) -> Result<(), DbError>;
    /// The state of the server process on `node`.
    fn state(&self, node: &Node) -> Result<ProcessState, DbError>;
    /// The names of the nodes that consider themselves leader or primary.
    fn primaries(&self, nodes: &[Node]) -> Result<Vec<String>, DbError>;
    /// Whether [`Db::primaries`] can answer (a definition's `is_primary`).
    fn names_primaries(&self) -> bool {
        false
    }
    /// The server's log files on a node.
    fn log_files(&self) -> Vec<String>;
    /// The PID file of the main server process on a node: the one faults signal.
    fn server_pid_file(&self) -> String;
    /// A command printing the node's clock as the database sees it (seconds and
    /// microseconds, or decimal seconds), for the report's clock offsets; `None`: the
    /// database cannot say.
    fn clock_command(&self) -> Option<String> {
        None
    }
    /// The definition's failover, each command ready to run on a node (`[commands]
    /// promote`, `position`, `rejoin`); `None`: it has none.
    fn failover(&self) -> Option<FailoverCommands> {
        None
    }
    /// Whether clock faults through the clock shim reach the database.
    fn clock_shim(&self) -> bool {
        false
    }
    /// The Debian packages its node image needs beyond the base image's.
    fn packages(&self) -> Vec<String> {
        Vec::new()
    }
    /// Checks [`Db::packages`] (but those in `skip`) against this machine's `apt-cache`
    /// before an image is built: `Err` names the file and field of one that cannot be
    /// installed; `Ok(Some(why))` when this machine cannot tell.
    fn check_packages(&self, _skip: &[&str]) -> Result<Option<String>, String> {
        Ok(None)
    }
    /// The directories where it keeps its data (a definition's `setup.data_dirs`).
    fn data_dirs(&self) -> Vec<String> {
        Vec::new()
    }
    /// Globs (relative to a data directory) of the files `corrupt-file` may damage (a
    /// definition's `[storage] corrupt`); empty: any data file.
    fn corrupt_patterns(&self) -> Vec<String> {
        Vec::new()
    }
    /// Wipes its data on `node`, the server stopped (as setup does before starting it).
    fn wipe(&self, node: &Node) -> Result<(), DbError> {
        Err(DbError::Node {
            node: node.name.clone(),
            reason: format!("{} cannot wipe its data", self.name()),
        })
    }
    /// Whether it can change its membership ([`Db::change_membership`]).
    fn has_membership(&self) -> bool {
        false
    }
    /// Runs the definition's `leave` or `join` command (`change`) on `node`, telling it the
    /// members the cluster has after the change (`FAULTLINE_MEMBERS`,
    /// `FAULTLINE_MEMBER_ADDRESSES`); what it printed.
    fn change_membership(
        &self,
        node: &Node,
        change: &str,
        _members: &[&Node],
    ) -> Result<String, DbError> {
        Err(DbError::Node {
            node: node.name.clone(),
            reason: format!("{} has no [commands] {change}", self.name()),
        })
    }
}

/// The built-in database that speaks this protocol family (`dbs/etcd`, `dbs/redis`,
/// `dbs/postgres`, `dbs/mariadb`).
pub fn new_db(kind: DbKind) -> Arc<dyn Db> {
    let def = definition::builtin(kind.builtin())
        .expect("a built-in definition per protocol family")
        .expect("the built-in definitions parse (a unit test checks)");
    Arc::new(DefinedDb::new(def))
}

/// The database `spec` names (`--db NAME|PATH`), or one line saying what is wrong.
pub fn open_db(spec: &str) -> Result<Arc<dyn Db>, String> {
    Ok(Arc::new(DefinedDb::new(definition::load(spec)?)))
}

/// [`open_db`] whose setup mounts faultline-fs over the data directories (for runs with
/// storage faults), or one line when the definition has no data directory to mount.
pub fn open_db_with_faultfs(spec: &str) -> Result<Arc<dyn Db>, String> {
    let def = definition::load(spec)?;
    if def.data_dirs.is_empty() {
        return Err(format!(
            "{}: setup.data_dirs is empty: storage faults need the directories where the database keeps its data",
            def.origin
        ));
    }
    Ok(Arc::new(DefinedDb::new(def).with_faultfs()))
}

/// Sets `db` up on all nodes at once, then waits until it is ready, at most its
/// [`Db::ready_timeout`].
pub fn setup_all(db: &dyn Db, nodes: &[Node]) -> Result<(), DbError> {
    on_all(nodes, |node| db.setup(node, nodes))?;
    db.await_ready(nodes, db.ready_timeout())
}

/// Tears `db` down on all nodes at once; returns the first failure.
pub fn teardown_all(db: &dyn Db, nodes: &[Node]) -> Result<(), DbError> {
    on_all(nodes, |node| db.teardown(node))
}

/// Runs `f` on every node in parallel; returns the first failure (in node order).
pub fn on_all(
    nodes: &[Node],
    f: impl Fn(&Node) -> Result<(), DbError> + Sync,
) -> Result<(), DbError> {
    let results: Vec<Result<(), DbError>> = std::thread::scope(|s| {
        let handles: Vec<_> = nodes.iter().map(|n| s.spawn(|| f(n))).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(DbError::Node {
                        node: "?".into(),
                        reason: "setup thread panicked".into(),
                    })
                })
            })
            .collect()
    });
    results.into_iter().collect()
}

/// Copies every node's log files into `dir/<node>/`; returns the files written.
///
/// A log that does not exist on a node (the server never started) is skipped.
pub fn collect_logs(db: &dyn Db, nodes: &[Node], dir: &Path) -> Result<Vec<PathBuf>, DbError> {
    let mut written = Vec::new();
    for node in nodes {
        let node_dir = dir.join(&node.name);
        std::fs::create_dir_all(&node_dir).map_err(|e| DbError::Node {
            node: node.name.clone(),
            reason: format!("cannot create {}: {e}", node_dir.display()),
        })?;
        for log in db.log_files() {
            let exists = node
                .remote
                .exec(
                    &format!("test -f {}", faultline_control::quote(&log)),
                    b"",
                    Duration::from_secs(20),
                )?
                .status
                == 0;
            if !exists {
                continue;
            }
            let name = Path::new(&log)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "log".into());
            let local = node_dir.join(name);
            node.remote.download(&log, &local)?;
            written.push(local);
        }
    }
    Ok(written)
}

/// How a client operation failed: definitely, or with an unknown outcome.
///
/// The runner records [`ClientError::is_definite`] errors as `fail` and the rest as `info`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// A compare-and-set found another value: nothing was written.
    #[error("{}", faultline_history::COMPARE_FAILED)]
    CompareFailed,
    /// The server refused the request before acting on it, or it never reached a server.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The request may or may not have taken effect (timeout, connection lost mid-call,
    /// an error the server gives for a request that may already be proposed).
    #[error("indeterminate: {0}")]
    Indeterminate(String),
}

impl ClientError {
    /// True when the operation definitely did not take effect.
    pub fn is_definite(&self) -> bool {
        !matches!(self, ClientError::Indeterminate(_))
    }

    /// The `error` value a history event carries for this failure.
    pub fn history_error(&self) -> String {
        match self {
            ClientError::CompareFailed => faultline_history::COMPARE_FAILED.to_string(),
            ClientError::Rejected(m) | ClientError::Indeterminate(m) => m.clone(),
        }
    }
}

/// The host part of a URL for `address` (IPv6 addresses get brackets).
pub fn url_host(address: &str) -> String {
    if address.contains(':') && !address.starts_with('[') {
        format!("[{address}]")
    } else {
        address.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_names_round_trip_and_unknown_is_one_clear_line() {
        for kind in DbKind::ALL {
            assert_eq!(kind.to_string().parse::<DbKind>(), Ok(kind));
        }
        let err = "mongodb".parse::<DbKind>().unwrap_err();
        assert_eq!(
            err,
            "unknown database \"mongodb\": expected etcd, redis, postgres or mysql"
        );
    }

    #[test]
    fn only_indeterminate_errors_are_indefinite() {
        assert!(ClientError::CompareFailed.is_definite());
        assert!(ClientError::Rejected("READONLY".into()).is_definite());
        assert!(!ClientError::Indeterminate("timeout".into()).is_definite());
        assert_eq!(ClientError::CompareFailed.history_error(), "compare-failed");
    }

    #[test]
    fn ipv6_hosts_get_brackets() {
        assert_eq!(url_host("10.0.0.1"), "10.0.0.1");
        assert_eq!(url_host("::1"), "[::1]");
        assert_eq!(url_host("n1"), "n1");
    }
}
