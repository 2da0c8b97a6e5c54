//! What every faultline workload shares.
//!
//! - [`NodeAddr`] and [`Target`]: which database, which nodes, and how to reach them;
//! - [`DbConn`]: one worker's connection, to an etcd member ([`etcd`]), to the Redis
//!   primary found through Sentinel ([`redis`]), or to a SQL database ([`sql`]:
//!   PostgreSQL or MySQL, one explicit transaction per operation);
//! - [`completion`]: turns a database error into the history's `fail` (definitely not
//!   applied) or `info` (may have been applied), never the other way round;
//! - helpers the workloads' `check` functions share;
//! - [`fake`]: tiny fake etcd and Redis servers, so tests can show how each client
//!   operation classifies refused, rejected, dropped and timed-out requests;
//! - [`testing`]: what a generator asks for, sampled as the runner samples it, for tests.

pub mod etcd;
pub mod fake;
pub mod redis;
pub mod sql;
pub mod testing;

pub use faultline_db::{
    ClientError, ClientFamily, DbKind, Isolation, RedisPrimary as RedisMode, SqlClient,
};

use async_trait::async_trait;
use faultline_history::{CheckerResult, Verdict};
use faultline_runner::{Client, ClientFactory, Completion, Gen};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// A node as clients see it: its name (as recorded in the history) and its address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAddr {
    /// The node's name, e.g. `n1`: what the runner passes to a client factory.
    pub name: String,
    /// The host or IP clients connect to.
    pub address: String,
}

impl NodeAddr {
    /// A node called `name` at `address`.
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        NodeAddr {
            name: name.into(),
            address: address.into(),
        }
    }
}

/// The database a workload runs against, and how its clients connect.
#[derive(Clone, Debug)]
pub struct Target {
    /// The protocol family and how to reach it (from the database's definition).
    pub client: ClientFamily,
    /// Every node; a worker's client talks to its own node first.
    pub nodes: Vec<NodeAddr>,
    /// Bound on each request a client makes; past it the request is indeterminate.
    pub request_timeout: Duration,
    /// etcd only: read from the member's local state (possibly stale) instead of through
    /// the leader.
    pub serializable_reads: bool,
    /// SQL families only: every transaction's isolation level (`--isolation`); `None`: the
    /// database's default.
    pub isolation: Option<Isolation>,
}

impl Target {
    /// The address of the node named `node`; a name not in the list is taken as an address.
    pub fn address_of(&self, node: &str) -> String {
        self.nodes
            .iter()
            .find(|n| n.name == node)
            .map(|n| n.address.clone())
            .unwrap_or_else(|| node.to_string())
    }

    /// A connection for a worker on `node`: for etcd, a client of that member; for Redis, a
    /// client of the primary that asks the Sentinel on `node` first, then the others.
    /// Connects lazily: failing to reach anything shows up as each op's definite failure.
    pub fn connect(&self, node: &str) -> Result<DbConn, String> {
        let address = self.address_of(node);
        match &self.client {
            ClientFamily::Etcd { port } => etcd::EtcdConn::new(
                &address,
                *port,
                self.request_timeout,
                self.serializable_reads,
            )
            .map(DbConn::Etcd)
            .map_err(|e| format!("etcd client for {node}: {e}")),
            ClientFamily::Redis { port, primary } => {
                let timeout = self.request_timeout;
                let names = self
                    .nodes
                    .iter()
                    .map(|n| (n.address.clone(), n.name.clone()))
                    .collect();
                let conn = match primary {
                    RedisMode::Sentinel { port: sp, master } => {
                        let mut sentinels = vec![address.clone()];
                        sentinels.extend(
                            self.nodes
                                .iter()
                                .map(|n| n.address.clone())
                                .filter(|a| *a != address),
                        );
                        redis::RedisPrimary::via_sentinels(sentinels, *sp, master, timeout)
                    }
                    RedisMode::Fixed => {
                        let first = self.nodes.first().map(|n| n.address.clone());
                        redis::RedisPrimary::direct(&first.unwrap_or(address), *port, timeout)
                    }
                    RedisMode::Any => redis::RedisPrimary::any_role(&address, *port, timeout),
                };
                Ok(DbConn::Redis(conn.with_names(names)))
            }
            ClientFamily::Postgres(c) => Ok(self.sql(sql::Dialect::Postgres, c, node, address)),
            ClientFamily::Mysql(c) => Ok(self.sql(sql::Dialect::Mysql, c, node, address)),
            ClientFamily::None => Err(
                "the database has no built-in client (client.family = \"none\"): give --client"
                    .to_string(),
            ),
        }
    }
}

impl Target {
    fn sql(&self, dialect: sql::Dialect, c: &SqlClient, node: &str, address: String) -> DbConn {
        let target = sql::SqlTarget {
            dialect,
            client: c.clone(),
            isolation: self.isolation,
            timeout: self.request_timeout,
        };
        let nodes: Vec<(String, String)> = self
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.address.clone()))
            .collect();
        DbConn::Sql(Box::new(sql::SqlConn::new(
            target,
            (node.to_string(), address),
            &nodes,
        )))
    }
}

/// The client factory of a workload whose clients need only a connection: each worker's
/// client is `open(connection, node)`, with the connection from [`Target::connect`].
pub fn connecting<F>(target: Target, open: F) -> Arc<dyn ClientFactory>
where
    F: Fn(DbConn, &str) -> Box<dyn Client> + Send + Sync + 'static,
{
    Arc::new(Connecting { target, open })
}

struct Connecting<F> {
    target: Target,
    open: F,
}

#[async_trait]
impl<F> ClientFactory for Connecting<F>
where
    F: Fn(DbConn, &str) -> Box<dyn Client> + Send + Sync + 'static,
{
    async fn open(&self, node: &str) -> Result<Box<dyn Client>, String> {
        Ok((self.open)(self.target.connect(node)?, node))
    }
}

/// One worker's connection to the database under test.
pub enum DbConn {
    /// A client of one etcd member.
    Etcd(etcd::EtcdConn),
    /// A client of the current Redis primary.
    Redis(redis::RedisPrimary),
    /// A client of a SQL database (PostgreSQL or MySQL protocol); boxed, being much the largest.
    Sql(Box<sql::SqlConn>),
}

impl DbConn {
    /// The node that served the last request when it is not the worker's own: the Redis
    /// primary; `None` for etcd, whose client talks to the member it was opened on.
    pub fn served_by(&self) -> Option<String> {
        match self {
            DbConn::Etcd(_) => None,
            DbConn::Redis(r) => r.served_by(),
            DbConn::Sql(s) => s.served_by(),
        }
    }
}

/// The completion for a failed operation: `fail` when it definitely did not take effect
/// (with `compare-failed` for a failed compare), `info` when it may have.
pub fn completion(err: &ClientError) -> Completion {
    let e = Value::String(err.history_error());
    if err.is_definite() {
        Completion::Fail(e)
    } else {
        Completion::Info(e)
    }
}

/// A definite failure the client found before sending anything (e.g. releasing a lock it
/// does not hold): `fail` with `error`.
pub fn refuse(error: &str) -> Completion {
    Completion::Fail(Value::String(error.to_string()))
}

/// Parses a stored integer; text that is no integer is indeterminate (someone else's data,
/// or a bug), never a silent zero.
pub fn parse_int(key: &str, text: &str) -> Result<i64, ClientError> {
    text.trim().parse().map_err(|_| {
        ClientError::Indeterminate(format!("key {key} holds {text:?}, not an integer"))
    })
}

/// A physical key prefix unique to this process and moment, so a test never sees data a
/// previous test left in the same cluster. Histories carry logical keys only.
pub fn fresh_namespace(workload: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("faultline/{workload}/{}-{nanos:x}", std::process::id())
}

/// The physical key prefix a workload writes under: the one `given` (tests), else a
/// [`fresh_namespace`].
pub fn namespace(given: &Option<String>, workload: &str) -> String {
    given.clone().unwrap_or_else(|| fresh_namespace(workload))
}

/// `gen` paced to about `rate` requests a second in all ([`Gen::stagger`] by `1 / rate`);
/// with no rate, or one that is not positive, requests go as fast as the clients take them.
pub fn at_rate(gen: Gen, rate: Option<f64>) -> Gen {
    match rate {
        Some(rate) if rate > 0.0 => gen.stagger(Duration::from_secs_f64(1.0 / rate)),
        _ => gen,
    }
}

/// The result of a checker that could not interpret the history: unknown, with why.
pub fn unreadable(checker: &str, reason: String) -> CheckerResult {
    CheckerResult {
        checker: checker.to_string(),
        verdict: Verdict::Unknown,
        reason: Some(reason),
        anomalies: Vec::new(),
        stats: Value::Null,
        first_anomaly_s: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_runner::{Op, Share};
    use rand_chacha::rand_core::SeedableRng;
    use serde_json::json;

    #[test]
    fn at_rate_paces_only_with_a_positive_rate() {
        let delays = |rate: Option<f64>| -> Vec<Duration> {
            let gen = at_rate(Gen::repeat(Op::new("read", Value::Null)), rate);
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
            let mut state = gen.start(Share { index: 0, count: 1 });
            let now = tokio::time::Instant::now();
            (0..20)
                .map(|_| state.next(&mut rng, now).unwrap().at - now)
                .collect()
        };
        for unpaced in [None, Some(0.0), Some(-5.0)] {
            assert!(delays(unpaced).iter().all(Duration::is_zero), "{unpaced:?}");
        }
        assert!(delays(Some(100.0)).iter().any(|d| !d.is_zero()));
    }

    #[test]
    fn only_indeterminate_errors_become_info() {
        assert_eq!(
            completion(&ClientError::CompareFailed),
            Completion::Fail(json!("compare-failed"))
        );
        assert_eq!(
            completion(&ClientError::Rejected("READONLY".into())),
            Completion::Fail(json!("READONLY"))
        );
        assert_eq!(
            completion(&ClientError::Indeterminate("timeout".into())),
            Completion::Info(json!("timeout"))
        );
    }

    #[test]
    fn nodes_resolve_by_name_and_unknown_names_are_addresses() {
        let t = Target {
            client: ClientFamily::Etcd { port: 2379 },
            nodes: vec![NodeAddr::new("n1", "10.0.0.1")],
            request_timeout: Duration::from_secs(1),
            serializable_reads: false,
            isolation: None,
        };
        assert_eq!(t.address_of("n1"), "10.0.0.1");
        assert_eq!(t.address_of("10.9.9.9"), "10.9.9.9");
    }

    #[test]
    fn stored_garbage_is_indeterminate_not_zero() {
        assert_eq!(parse_int("k", " 42"), Ok(42));
        assert!(!parse_int("k", "forty").unwrap_err().is_definite());
    }

    #[test]
    fn namespaces_differ_between_calls() {
        assert_ne!(fresh_namespace("x"), fresh_namespace("x"));
    }
}
