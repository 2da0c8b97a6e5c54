//! What the SQL protocol families (`postgres`, `mysql`) share: how a definition says to
//! reach the database ([`SqlClient`], [`SqlPrimary`]), the isolation levels
//! (`--isolation`, [`Isolation`]), and how a failed statement becomes an outcome
//! ([`outcome`]): the one table every SQL client obeys.
//!
//! Each operation is one explicit transaction (`BEGIN` ... `COMMIT`), so where it failed
//! says what can have happened:
//!
//! | where | failure | outcome |
//! | --- | --- | --- |
//! | connecting, `BEGIN` | anything | `fail` (nothing was sent inside a transaction) |
//! | a statement before `COMMIT` | anything | `fail` (the transaction is rolled back, or dies with its connection: `COMMIT` was never sent) |
//! | `COMMIT` | SQLSTATE 40001 serialization failure, 40P01 deadlock, 40002 integrity constraint, class 23 | `fail` (the server rolled it back) |
//! | `COMMIT` | anything else: 40003 completion unknown, class 08 or 57 (connection, shutdown), a lost connection, a timeout | `info` |

use crate::ClientError;
use std::fmt;
use std::str::FromStr;

/// How a SQL-family client reaches the database (a definition's `[client]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlClient {
    /// The server port.
    pub port: u16,
    /// The user to log in as.
    pub user: String,
    /// Its password; `None`: none (trust authentication).
    pub password: Option<String>,
    /// The database to connect to (tables are created in it).
    pub database: String,
    /// Which node transactions go to.
    pub primary: SqlPrimary,
}

/// Which node a SQL-family client sends its transactions to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqlPrimary {
    /// The worker's own node, whatever its role (a replica refuses writes: `fail`).
    Any,
    /// The first node.
    Fixed,
    /// The first node, starting with the worker's own, where this query returns true
    /// (`t`, `true` or `1`); asked again whenever a connection is opened, so clients
    /// follow a failover.
    Query(String),
}

/// A transaction isolation level (`--isolation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// READ UNCOMMITTED (MySQL and MariaDB; PostgreSQL runs it as read committed).
    ReadUncommitted,
    /// READ COMMITTED.
    ReadCommitted,
    /// REPEATABLE READ.
    RepeatableRead,
    /// SERIALIZABLE.
    Serializable,
}

impl Isolation {
    /// Every level, weakest first.
    pub const ALL: [Isolation; 4] = [
        Isolation::ReadUncommitted,
        Isolation::ReadCommitted,
        Isolation::RepeatableRead,
        Isolation::Serializable,
    ];

    /// The level as SQL names it (`REPEATABLE READ`).
    pub fn sql(self) -> &'static str {
        match self {
            Isolation::ReadUncommitted => "READ UNCOMMITTED",
            Isolation::ReadCommitted => "READ COMMITTED",
            Isolation::RepeatableRead => "REPEATABLE READ",
            Isolation::Serializable => "SERIALIZABLE",
        }
    }

    /// The name of the consistency model (`--consistency-model`) this level promises on a
    /// database whose protocol family is `family`: PostgreSQL's repeatable read is
    /// snapshot isolation; MySQL's and MariaDB's is only Adya's repeatable read (as the
    /// SQL standard defines it).
    pub fn promised_model(self, family: crate::DbKind) -> &'static str {
        match (self, family) {
            (Isolation::ReadUncommitted, _) => "read-uncommitted",
            (Isolation::ReadCommitted, _) => "read-committed",
            (Isolation::RepeatableRead, crate::DbKind::Postgres) => "snapshot-isolation",
            (Isolation::RepeatableRead, _) => "repeatable-read",
            (Isolation::Serializable, _) => "serializable",
        }
    }
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Isolation::ReadUncommitted => "read-uncommitted",
            Isolation::ReadCommitted => "read-committed",
            Isolation::RepeatableRead => "repeatable-read",
            Isolation::Serializable => "serializable",
        })
    }
}

impl FromStr for Isolation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Isolation::ALL
            .into_iter()
            .find(|i| i.to_string() == s)
            .ok_or_else(|| {
                format!(
                    "unknown isolation level {s:?}: expected read-uncommitted, read-committed, \
                     repeatable-read or serializable"
                )
            })
    }
}

/// Where in a transaction a failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Connecting, choosing the primary, or `BEGIN`: nothing of the operation was sent.
    Connect,
    /// A statement inside the transaction, before `COMMIT` was sent.
    Statement,
    /// `COMMIT` was sent.
    Commit,
}

/// Why a SQL call failed, as the outcome table needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqlFailure {
    /// The server answered with an error: its SQLSTATE and message.
    Server {
        /// The five-character SQLSTATE.
        sqlstate: String,
        /// The server's message (with the vendor's error code, when it has one).
        message: String,
    },
    /// The connection failed or was lost (I/O error, closed, refused).
    Connection(String),
    /// No answer within the request timeout.
    Timeout,
}

impl fmt::Display for SqlFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlFailure::Server { sqlstate, message } => write!(f, "{sqlstate} {message}"),
            SqlFailure::Connection(m) => write!(f, "connection: {m}"),
            SqlFailure::Timeout => f.write_str("timeout"),
        }
    }
}

/// Whether a server error at `COMMIT` says the transaction was rolled back: serialization
/// failure (40001), deadlock (40P01), integrity constraint at commit (40002), and any
/// class 23 (a deferred constraint). 40003 (statement completion unknown) is not.
pub fn rolled_back_at_commit(sqlstate: &str) -> bool {
    matches!(sqlstate, "40001" | "40P01" | "40002") || sqlstate.starts_with("23")
}

/// The outcome of an operation that failed with `failure` in `phase` (the table in this
/// module's documentation); `node` prefixes the history's error text.
pub fn outcome(node: &str, phase: Phase, failure: &SqlFailure) -> ClientError {
    let text = format!("{node}: {failure}");
    let definite = match (phase, failure) {
        (Phase::Connect | Phase::Statement, _) => true,
        (Phase::Commit, SqlFailure::Server { sqlstate, .. }) => rolled_back_at_commit(sqlstate),
        (Phase::Commit, SqlFailure::Connection(_) | SqlFailure::Timeout) => false,
    };
    if definite {
        ClientError::Rejected(text)
    } else {
        ClientError::Indeterminate(text)
    }
}

/// Whether a server error means the node will not take writes (it is a replica, or read
/// only): a client that chose it as primary should choose again.
pub fn not_primary(failure: &SqlFailure) -> bool {
    match failure {
        // 25006: read_only_sql_transaction (PostgreSQL on a standby; MySQL's 1290/1792).
        SqlFailure::Server { sqlstate, message } => {
            sqlstate == "25006" || message.contains("--read-only") || message.contains("READ ONLY")
        }
        _ => false,
    }
}

/// A client configuration for a port where nothing listens (bound, then released), for
/// the families' connection-failure tests.
#[cfg(test)]
pub(crate) fn unreachable_client(user: &str, database: &str) -> SqlClient {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    SqlClient {
        port,
        user: user.into(),
        password: None,
        database: database.into(),
        primary: SqlPrimary::Any,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(sqlstate: &str) -> SqlFailure {
        SqlFailure::Server {
            sqlstate: sqlstate.into(),
            message: "m".into(),
        }
    }

    #[test]
    fn every_failure_before_commit_is_fail() {
        let failures = [
            server("40001"),
            server("40P01"),
            server("25006"),
            server("57P01"),
            server("40003"),
            SqlFailure::Connection("refused".into()),
            SqlFailure::Timeout,
        ];
        for phase in [Phase::Connect, Phase::Statement] {
            for f in &failures {
                let e = outcome("n1", phase, f);
                assert!(e.is_definite(), "{phase:?} {f}");
            }
        }
    }

    #[test]
    fn at_commit_only_rollbacks_are_fail() {
        for s in ["40001", "40P01", "40002", "23505", "23514"] {
            assert!(
                outcome("n1", Phase::Commit, &server(s)).is_definite(),
                "{s}"
            );
        }
        for s in [
            "40003", "08006", "08003", "57P01", "57P02", "XX000", "53100",
        ] {
            assert!(
                !outcome("n1", Phase::Commit, &server(s)).is_definite(),
                "{s}"
            );
        }
        for f in [SqlFailure::Connection("reset".into()), SqlFailure::Timeout] {
            assert!(!outcome("n1", Phase::Commit, &f).is_definite(), "{f}");
        }
        assert_eq!(
            outcome("n2", Phase::Commit, &SqlFailure::Timeout).history_error(),
            "n2: timeout"
        );
    }

    #[test]
    fn isolation_levels_round_trip_and_promise_their_models() {
        for i in Isolation::ALL {
            assert_eq!(i.to_string().parse::<Isolation>(), Ok(i));
            let json = serde_json::to_value(i).unwrap();
            assert_eq!(json, serde_json::Value::String(i.to_string()));
        }
        assert!("snapshot"
            .parse::<Isolation>()
            .unwrap_err()
            .starts_with("unknown isolation level \"snapshot\": expected"));
        use crate::DbKind::{Mysql, Postgres};
        assert_eq!(
            Isolation::RepeatableRead.promised_model(Postgres),
            "snapshot-isolation"
        );
        assert_eq!(
            Isolation::RepeatableRead.promised_model(Mysql),
            "repeatable-read"
        );
        assert_eq!(
            Isolation::Serializable.promised_model(Mysql),
            "serializable"
        );
        assert_eq!(Isolation::ReadCommitted.sql(), "READ COMMITTED");
    }

    #[test]
    fn a_read_only_node_is_not_primary() {
        assert!(not_primary(&server("25006")));
        assert!(!not_primary(&server("40001")));
        assert!(!not_primary(&SqlFailure::Timeout));
    }
}
