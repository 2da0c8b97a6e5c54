//! The MySQL wire protocol (the `mysql` protocol family, `mysql_async`): opening a
//! connection at an isolation level and sorting its errors into [`SqlFailure`]s, which
//! [`crate::sql::outcome`] turns into `fail` or `info`. The database itself is the
//! definition `dbs/mariadb/`.
//!
//! Statements go through the text protocol, every value read as text, as the PostgreSQL
//! client reads them too.

use crate::sql::{SqlClient, SqlFailure};
use crate::Isolation;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row, Value};
use std::time::Duration;

/// The MySQL and MariaDB port, unless a definition says otherwise.
pub const PORT: u16 = 3306;

/// One open connection to one server.
pub struct MySession {
    conn: Conn,
}

impl MySession {
    /// Connects to `host` as `config` says, within `timeout`, and sets the session's
    /// transaction isolation level (`None`: the server's default).
    pub async fn connect(
        host: &str,
        config: &SqlClient,
        isolation: Option<Isolation>,
        timeout: Duration,
    ) -> Result<MySession, SqlFailure> {
        let opts = OptsBuilder::default()
            .ip_or_hostname(host.to_string())
            .tcp_port(config.port)
            .user(Some(config.user.clone()))
            .pass(config.password.clone())
            .db_name(Some(config.database.clone()))
            .prefer_socket(false)
            .stmt_cache_size(0);
        let mut conn = match tokio::time::timeout(timeout, Conn::new(opts)).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(failure(&e)),
            Err(_) => return Err(SqlFailure::Timeout),
        };
        if let Some(i) = isolation {
            let set = format!("SET SESSION TRANSACTION ISOLATION LEVEL {}", i.sql());
            match tokio::time::timeout(timeout, conn.query_drop(set)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(failure(&e)),
                Err(_) => return Err(SqlFailure::Timeout),
            }
        }
        Ok(MySession { conn })
    }

    /// Runs `sql` and returns its rows, each column as text (`None`: SQL NULL).
    pub async fn query(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, SqlFailure> {
        let rows: Vec<Row> = self.conn.query(sql).await.map_err(|e| failure(&e))?;
        Ok(rows
            .into_iter()
            .map(|r| r.unwrap().into_iter().map(text).collect())
            .collect())
    }
}

/// A value of the text protocol as text.
fn text(v: Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(d) => Some(d.to_string()),
        other => Some(other.as_sql(true)),
    }
}

/// Sorts a `mysql_async` error: a server error keeps its SQLSTATE, with the vendor's
/// error code in the message (1213 deadlock and 1020 "record has changed" are SQLSTATE
/// 40001 and HY000); anything else is the connection's.
pub fn failure(e: &mysql_async::Error) -> SqlFailure {
    match e {
        mysql_async::Error::Server(s) => SqlFailure::Server {
            sqlstate: server_state(s.code, &s.state),
            message: format!("{} {}", s.code, s.message),
        },
        other => SqlFailure::Connection(other.to_string()),
    }
}

/// The SQLSTATE a MySQL error stands for in the outcome table: MariaDB's 1020 ("Record
/// has changed since last read", its snapshot-isolation conflict) reports HY000 but rolls
/// the transaction back like a serialization failure.
pub fn server_state(code: u16, state: &str) -> String {
    match code {
        1020 => "40001".to_string(),
        _ => state.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_record_is_a_serialization_failure() {
        assert_eq!(server_state(1020, "HY000"), "40001");
        assert_eq!(server_state(1213, "40001"), "40001");
        assert_eq!(server_state(1290, "HY000"), "HY000");
    }

    #[tokio::test]
    async fn nothing_listening_is_a_connection_failure() {
        let config = crate::sql::unreachable_client("root", "test");
        let err = MySession::connect("127.0.0.1", &config, None, Duration::from_secs(2))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, SqlFailure::Connection(_)), "{err:?}");
    }
}
