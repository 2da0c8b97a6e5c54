//! The PostgreSQL wire protocol (the `postgres` protocol family, `tokio-postgres`): opening
//! a connection and sorting its errors into [`SqlFailure`]s, which [`crate::sql::outcome`]
//! turns into `fail` or `info`. The database itself is the definition `dbs/postgres/`.
//!
//! Statements go through the simple query protocol: one round trip each, every value as
//! text, as the MySQL client reads them too, so workloads write one SQL text per dialect
//! and parse one kind of answer.

use crate::sql::{SqlClient, SqlFailure};
use std::time::Duration;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// The PostgreSQL port, unless a definition says otherwise.
pub const PORT: u16 = 5432;

/// One open connection to one server.
pub struct PgSession {
    client: Client,
}

impl PgSession {
    /// Connects to `host` as `config` says, within `timeout`.
    pub async fn connect(
        host: &str,
        config: &SqlClient,
        timeout: Duration,
    ) -> Result<PgSession, SqlFailure> {
        let mut c = tokio_postgres::Config::new();
        c.host(host)
            .port(config.port)
            .user(&config.user)
            .dbname(&config.database)
            .application_name("faultline")
            .connect_timeout(timeout);
        if let Some(p) = &config.password {
            c.password(p);
        }
        let (client, connection) = match tokio::time::timeout(timeout, c.connect(NoTls)).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Err(failure(&e)),
            Err(_) => return Err(SqlFailure::Timeout),
        };
        // The connection task ends when the client is dropped (or the server goes away).
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(PgSession { client })
    }

    /// Runs `sql` (one statement or several separated by `;`) and returns the rows of
    /// every result, each column as text (`None`: SQL NULL).
    pub async fn query(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, SqlFailure> {
        let messages = self
            .client
            .simple_query(sql)
            .await
            .map_err(|e| failure(&e))?;
        Ok(messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }
}

/// Sorts a `tokio-postgres` error: a server error keeps its SQLSTATE; anything else is the
/// connection's.
pub fn failure(e: &tokio_postgres::Error) -> SqlFailure {
    match e.as_db_error() {
        Some(db) => SqlFailure::Server {
            sqlstate: db.code().code().to_string(),
            message: db.message().to_string(),
        },
        None => SqlFailure::Connection(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_listening_is_a_connection_failure() {
        let config = crate::sql::unreachable_client("postgres", "postgres");
        let err = PgSession::connect("127.0.0.1", &config, Duration::from_secs(2))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, SqlFailure::Connection(_)), "{err:?}");
    }
}
