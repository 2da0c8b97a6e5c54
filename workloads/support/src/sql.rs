//! SQL databases (the `postgres` and `mysql` protocol families): one worker's connection,
//! which finds the node to talk to ([`SqlPrimary`]), runs each operation as one explicit
//! transaction at the chosen isolation level, and turns every failure into `fail` or
//! `info` by where it happened ([`faultline_db::sql::outcome`], documented there and in
//! docs/db-definition.md).
//!
//! Statements are plain SQL text with integer and quoted-string literals only (every value
//! a workload writes is an integer; keys are ours), answered as rows of text, so a
//! workload writes one statement per [`Dialect`] and reads one kind of answer.

use faultline_db::postgres::PgSession;
use faultline_db::sql::{not_primary, outcome, Phase, SqlFailure};
use faultline_db::{ClientError, Isolation, SqlClient, SqlPrimary};
use std::time::Duration;
use tokio::sync::Mutex;

/// Which SQL dialect a statement must be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL (and what speaks its protocol).
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
}

/// Rows of an answer, each column as text (`None`: SQL NULL).
pub type Rows = Vec<Vec<Option<String>>>;

/// One open connection, of either family.
enum Session {
    Pg(PgSession),
    My(faultline_db::mysql::MySession),
}

impl Session {
    async fn query(&mut self, sql: &str) -> Result<Rows, SqlFailure> {
        match self {
            Session::Pg(s) => s.query(sql).await,
            Session::My(s) => s.query(sql).await,
        }
    }
}

/// How a [`SqlConn`] reaches the database.
#[derive(Clone, Debug)]
pub struct SqlTarget {
    /// The dialect (from the protocol family).
    pub dialect: Dialect,
    /// Port, user, database and which node is primary.
    pub client: SqlClient,
    /// The isolation level of every transaction; `None`: the database's default.
    pub isolation: Option<Isolation>,
    /// Bound on each statement (and on connecting).
    pub timeout: Duration,
}

/// One worker's connection to a SQL database: reconnects after a failure, and says which
/// node served its last transaction.
pub struct SqlConn {
    target: SqlTarget,
    /// `(name, address)` of the nodes to try, in order.
    candidates: Vec<(String, String)>,
    session: Option<(String, Session)>,
    in_txn: bool,
    served: Option<String>,
}

impl SqlConn {
    /// A connection for a worker on `own` (`(name, address)`) among `nodes`; connects
    /// lazily, so failing to connect is each operation's definite failure.
    pub fn new(target: SqlTarget, own: (String, String), nodes: &[(String, String)]) -> SqlConn {
        let candidates = match &target.client.primary {
            SqlPrimary::Any => vec![own],
            SqlPrimary::Fixed => vec![nodes.first().cloned().unwrap_or(own)],
            SqlPrimary::Query(_) => {
                let mut c = vec![own.clone()];
                c.extend(nodes.iter().filter(|n| n.0 != own.0).cloned());
                c
            }
        };
        SqlConn {
            target,
            candidates,
            session: None,
            in_txn: false,
            served: None,
        }
    }

    /// A second, unconnected connection to the same database, for a task of the same
    /// worker (a lock's keepalive): it finds its node as this one does.
    pub fn fresh(&self) -> SqlConn {
        SqlConn {
            target: self.target.clone(),
            candidates: self.candidates.clone(),
            session: None,
            in_txn: false,
            served: None,
        }
    }

    /// The dialect statements must be written in.
    pub fn dialect(&self) -> Dialect {
        self.target.dialect
    }

    /// The node that served the last transaction (or was last tried).
    pub fn served_by(&self) -> Option<String> {
        self.served.clone()
    }

    /// Opens a session on the first candidate that answers (and, with a primary query,
    /// says it is primary). Nothing of an operation has been sent yet: failures are
    /// definite.
    async fn open(&mut self) -> Result<(), ClientError> {
        let per_node = (self.target.timeout / 4).max(Duration::from_millis(200));
        let deadline = tokio::time::Instant::now() + self.target.timeout / 2;
        let mut tried = Vec::new();
        for (name, address) in self.candidates.clone() {
            if tokio::time::Instant::now() >= deadline && !tried.is_empty() {
                break;
            }
            self.served = Some(name.clone());
            match self.open_on(&address, per_node).await {
                Ok(Some(session)) => {
                    self.session = Some((name, session));
                    return Ok(());
                }
                Ok(None) => tried.push(format!("{name}: not primary")),
                Err(f) => tried.push(format!("{name}: {f}")),
            }
        }
        let why = tried.join("; ");
        Err(ClientError::Rejected(match self.target.client.primary {
            SqlPrimary::Query(_) => format!("no primary found: {why}"),
            _ => why,
        }))
    }

    /// A session on `address`, or `None` when the primary query says it is not primary.
    async fn open_on(
        &self,
        address: &str,
        timeout: Duration,
    ) -> Result<Option<Session>, SqlFailure> {
        let t = &self.target;
        let mut session = match t.dialect {
            Dialect::Postgres => {
                Session::Pg(PgSession::connect(address, &t.client, timeout).await?)
            }
            Dialect::Mysql => Session::My(
                faultline_db::mysql::MySession::connect(address, &t.client, t.isolation, timeout)
                    .await?,
            ),
        };
        if let SqlPrimary::Query(q) = &t.client.primary {
            let rows = bounded(timeout, session.query(q)).await?;
            let answer = rows.first().and_then(|r| r.first()).cloned().flatten();
            let yes = matches!(answer.as_deref(), Some("t" | "true" | "1" | "TRUE" | "on"));
            if !yes {
                return Ok(None);
            }
        }
        Ok(Some(session))
    }

    fn begin_sql(&self) -> String {
        match (self.target.dialect, self.target.isolation) {
            (Dialect::Postgres, Some(i)) => format!("BEGIN ISOLATION LEVEL {}", i.sql()),
            (Dialect::Postgres, None) => "BEGIN".into(),
            // MySQL sets the level per session when it connects.
            (Dialect::Mysql, _) => "START TRANSACTION".into(),
        }
    }

    /// Starts a transaction (connecting first if needed). A transaction left open by an
    /// earlier operation is abandoned with its connection.
    pub async fn begin(&mut self) -> Result<(), ClientError> {
        if self.in_txn {
            self.session = None;
            self.in_txn = false;
        }
        if self.session.is_none() {
            self.open().await?;
        }
        let sql = self.begin_sql();
        self.call(Phase::Connect, &sql).await?;
        self.in_txn = true;
        Ok(())
    }

    /// Runs a statement inside the transaction. On failure the transaction is over
    /// (rolled back, or abandoned with its connection) and the error is definite.
    pub async fn query(&mut self, sql: &str) -> Result<Rows, ClientError> {
        self.call(Phase::Statement, sql).await
    }

    /// Commits the transaction.
    pub async fn commit(&mut self) -> Result<(), ClientError> {
        self.call(Phase::Commit, "COMMIT").await.map(|_| ())
    }

    /// Rolls the transaction back (when the client decides not to commit, e.g. a failed
    /// compare). A rollback that fails drops the connection, which rolls back too.
    pub async fn rollback(&mut self) {
        self.in_txn = false;
        if let Some((_, s)) = self.session.as_mut() {
            if bounded(self.target.timeout, s.query("ROLLBACK"))
                .await
                .is_err()
            {
                self.session = None;
            }
        }
    }

    /// Runs `sql` outside any transaction (autocommit), e.g. creating tables; failures are
    /// definite (callers only use it for statements that are safe to repeat).
    pub async fn autocommit(&mut self, sql: &str) -> Result<Rows, ClientError> {
        if self.in_txn {
            self.session = None;
            self.in_txn = false;
        }
        if self.session.is_none() {
            self.open().await?;
        }
        self.call(Phase::Connect, sql).await
    }

    async fn call(&mut self, phase: Phase, sql: &str) -> Result<Rows, ClientError> {
        let timeout = self.target.timeout;
        let Some((name, session)) = self.session.as_mut() else {
            return Err(ClientError::Rejected("not connected".into()));
        };
        let name = name.clone();
        self.served = Some(name.clone());
        let failure = match bounded(timeout, session.query(sql)).await {
            Ok(rows) => {
                if phase == Phase::Commit {
                    self.in_txn = false;
                }
                return Ok(rows);
            }
            Err(f) => f,
        };
        self.settle(&failure).await;
        Err(outcome(&name, phase, &failure))
    }

    /// After a failure: a server error on a live connection leaves the connection usable
    /// once rolled back; a lost connection, a timeout, or a node that is not primary
    /// (for a client that must find the primary) drops it.
    async fn settle(&mut self, failure: &SqlFailure) {
        let any_node_serves = matches!(self.target.client.primary, SqlPrimary::Any);
        let keep = matches!(failure, SqlFailure::Server { .. })
            && (any_node_serves || !not_primary(failure));
        if keep && self.in_txn {
            self.rollback().await;
        } else if !keep {
            self.session = None;
        }
        self.in_txn = false;
    }
}

async fn bounded<T>(
    timeout: Duration,
    f: impl std::future::Future<Output = Result<T, SqlFailure>>,
) -> Result<T, SqlFailure> {
    tokio::time::timeout(timeout, f)
        .await
        .unwrap_or(Err(SqlFailure::Timeout))
}

/// Tables a workload creates once per run, before its first transaction: every worker
/// asks, the first does it.
#[derive(Debug, Default)]
pub struct Schema {
    done: Mutex<bool>,
}

impl Schema {
    /// Runs `ddl` (statements safe to repeat: `CREATE TABLE IF NOT EXISTS`) unless this
    /// schema already ran them; a failure is definite and the next caller tries again.
    pub async fn ensure(&self, conn: &mut SqlConn, ddl: &[String]) -> Result<(), ClientError> {
        let mut done = self.done.lock().await;
        if !*done {
            for statement in ddl {
                conn.autocommit(statement).await?;
            }
            *done = true;
        }
        Ok(())
    }
}

/// A workload's table in the run's namespace: created (`CREATE TABLE IF NOT EXISTS`) by
/// the first transaction of any worker; clones share that.
#[derive(Clone, Debug)]
pub struct Table {
    /// The table's name.
    pub name: String,
    columns: &'static str,
    schema: std::sync::Arc<Schema>,
}

impl Table {
    /// The table named after `namespace` with these column definitions (SQL common to
    /// both dialects).
    pub fn new(namespace: &str, columns: &'static str) -> Table {
        Table {
            name: table_name(namespace),
            columns,
            schema: std::sync::Arc::default(),
        }
    }

    /// Makes sure the table exists, then begins a transaction.
    pub async fn begin(&self, c: &mut SqlConn) -> Result<(), ClientError> {
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {} ({})",
            self.name, self.columns
        );
        self.schema.ensure(c, &[ddl]).await?;
        c.begin().await
    }
}

/// A SQL identifier made from a namespace: letters, digits and `_` only, lower case,
/// starting with a letter, at most 63 bytes (PostgreSQL's limit; MySQL's is 64).
pub fn table_name(namespace: &str) -> String {
    let mut name: String = namespace
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name.insert_str(0, "t_");
    }
    name.truncate(63);
    name
}

/// `s` as a SQL string literal in `dialect` (MySQL also escapes backslashes).
pub fn literal(dialect: Dialect, s: &str) -> String {
    let mut escaped = s.replace('\'', "''");
    if dialect == Dialect::Mysql {
        escaped = escaped.replace('\\', "\\\\");
    }
    format!("'{escaped}'")
}

/// The first column of the first row, if any.
pub fn single(rows: &Rows) -> Option<&str> {
    rows.first()?.first()?.as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_become_identifiers() {
        assert_eq!(
            table_name("faultline/register/123-17aF"),
            "faultline_register_123_17af"
        );
        assert_eq!(table_name("9x"), "t_9x");
        assert_eq!(table_name(&"a".repeat(100)).len(), 63);
    }

    #[test]
    fn literals_are_quoted_for_their_dialect() {
        assert_eq!(literal(Dialect::Postgres, "it's\\"), "'it''s\\'");
        assert_eq!(literal(Dialect::Mysql, "it's\\"), "'it''s\\\\'");
    }

    fn unreachable_conn(primary: SqlPrimary) -> SqlConn {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let target = SqlTarget {
            dialect: Dialect::Postgres,
            client: SqlClient {
                port,
                user: "postgres".into(),
                password: None,
                database: "postgres".into(),
                primary,
            },
            isolation: Some(Isolation::Serializable),
            timeout: Duration::from_secs(1),
        };
        let nodes = [
            ("n1".to_string(), "127.0.0.1".to_string()),
            ("n2".to_string(), "127.0.0.2".to_string()),
        ];
        SqlConn::new(target, nodes[1].clone(), &nodes)
    }

    #[tokio::test]
    async fn no_server_before_the_transaction_is_fail() {
        let mut c = unreachable_conn(SqlPrimary::Any);
        let e = c.begin().await.unwrap_err();
        assert!(e.is_definite(), "{e:?}");
        assert_eq!(
            c.served_by().as_deref(),
            Some("n2"),
            "the worker's own node"
        );
        let mut q = unreachable_conn(SqlPrimary::Query("SELECT true".into()));
        let e = q.begin().await.unwrap_err();
        assert!(
            e.history_error().starts_with("no primary found: n2: "),
            "{e:?}"
        );
        let mut f = unreachable_conn(SqlPrimary::Fixed);
        assert!(f.begin().await.unwrap_err().is_definite());
        assert_eq!(f.served_by().as_deref(), Some("n1"), "the first node");
    }

    #[test]
    fn transactions_begin_at_the_chosen_level() {
        let c = unreachable_conn(SqlPrimary::Any);
        assert_eq!(c.begin_sql(), "BEGIN ISOLATION LEVEL SERIALIZABLE");
    }
}
