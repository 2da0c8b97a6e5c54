//! Redis: a connection to the current primary (found through Sentinel with crates/db's
//! [`RedisClient::primary_address`], then confirmed with `ROLE`), for the commands and Lua
//! scripts the workloads need beyond crates/db's get/put/cas.
//!
//! After any failure the connection is dropped and the next command finds the primary
//! again, so a client follows failovers. Errors are sorted as crates/db sorts them: a
//! refused connection, no known primary, or an error reply (READONLY, NOREPLICAS, ...)
//! means the command was not executed (`fail`); a timeout or a connection lost mid-command
//! means it may have been (`info`). Every script here checks before it writes, so an error
//! reply from a script also means nothing was written.

/// Sorts a Redis error exactly as crates/db does: refusals and error replies are definite;
/// timeouts and connections lost mid-command are not.
pub use faultline_db::redis::classify;
use faultline_db::redis::{RedisClient, RedisOptions};
use faultline_db::{url_host, ClientError};
use redis::aio::MultiplexedConnection;
use redis::FromRedisValue;
use std::time::Duration;

enum Resolve {
    Sentinels(RedisClient),
    Direct(String, u16),
}

/// A client of the Redis primary.
pub struct RedisPrimary {
    resolve: Resolve,
    timeout: Duration,
    conn: Option<(String, MultiplexedConnection)>,
    /// The host the last command went to.
    last_host: Option<String>,
    /// Node names by address, to name the node that served a command.
    names: Vec<(String, String)>,
}

impl RedisPrimary {
    /// A client that asks the Sentinels on `sentinel_hosts`, in order, for the primary.
    pub fn via_sentinels(sentinel_hosts: Vec<String>, timeout: Duration) -> Self {
        let client = RedisClient::new(&sentinel_hosts, RedisOptions { timeout });
        RedisPrimary {
            resolve: Resolve::Sentinels(client),
            timeout,
            conn: None,
            last_host: None,
            names: Vec::new(),
        }
    }

    /// A client of the server at `host:port`, which must say it is a primary (no Sentinel).
    pub fn direct(host: &str, port: u16, timeout: Duration) -> Self {
        RedisPrimary {
            resolve: Resolve::Direct(host.to_string(), port),
            timeout,
            conn: None,
            last_host: None,
            names: Vec::new(),
        }
    }

    /// Names the nodes: `(address, name)` pairs, so [`RedisPrimary::served_by`] says `n1`
    /// rather than an address.
    pub fn with_names(mut self, names: Vec<(String, String)>) -> Self {
        self.names = names;
        self
    }

    /// The node (by name when known, else its address) the last command was sent to.
    pub fn served_by(&self) -> Option<String> {
        let host = self.last_host.as_ref()?;
        Some(
            self.names
                .iter()
                .find(|(a, _)| a == host)
                .map_or_else(|| host.clone(), |(_, n)| n.clone()),
        )
    }

    /// The connection to the primary, opening one if needed. Nothing has been sent to the
    /// primary when this fails, so its errors are definite.
    pub async fn connection(&mut self) -> Result<(String, MultiplexedConnection), ClientError> {
        if let Some(c) = &self.conn {
            self.last_host = Some(c.0.clone());
            return Ok(c.clone());
        }
        let (host, port) = match &self.resolve {
            Resolve::Sentinels(client) => client.primary_address().await?,
            Resolve::Direct(host, port) => (host.clone(), *port),
        };
        self.last_host = Some(host.clone());
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout);
        let reject =
            |e: redis::RedisError| ClientError::Rejected(format!("primary {host}:{port}: {e}"));
        let client =
            redis::Client::open(format!("redis://{}:{port}/", url_host(&host))).map_err(reject)?;
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(reject)?;
        let role: Vec<redis::Value> = redis::cmd("ROLE")
            .query_async(&mut conn)
            .await
            .map_err(reject)?;
        if !matches!(role.first(), Some(redis::Value::BulkString(b)) if b == b"master") {
            return Err(ClientError::Rejected(format!(
                "{host}:{port}, named primary by Sentinel, is not a primary (failover in progress)"
            )));
        }
        self.conn = Some((host.clone(), conn.clone()));
        Ok((host, conn))
    }

    /// Runs one command on the primary.
    pub async fn query<T: FromRedisValue>(&mut self, cmd: &redis::Cmd) -> Result<T, ClientError> {
        let (host, mut conn) = self.connection().await?;
        let result = cmd.query_async(&mut conn).await;
        self.settle(&host, result)
    }

    /// Runs a Lua script (EVALSHA, loading it first if the server lacks it) on the primary.
    pub async fn script<T: FromRedisValue>(
        &mut self,
        script: &redis::Script,
        keys: &[&str],
        args: &[String],
    ) -> Result<T, ClientError> {
        let (host, mut conn) = self.connection().await?;
        let mut invocation = script.prepare_invoke();
        for k in keys {
            invocation.key(*k);
        }
        for a in args {
            invocation.arg(a);
        }
        let result = invocation.invoke_async(&mut conn).await;
        self.settle(&host, result)
    }

    fn settle<T>(&mut self, host: &str, result: redis::RedisResult<T>) -> Result<T, ClientError> {
        result.map_err(|e| {
            self.conn = None;
            classify(host, &e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeRedis, Reply};

    fn get(key: &str) -> redis::Cmd {
        let mut c = redis::cmd("GET");
        c.arg(key);
        c
    }

    #[tokio::test]
    async fn replies_errors_drops_and_hangs_classify() {
        let fake = FakeRedis::start(vec![
            Reply::redis_bulk(Some("5")),
            Reply::redis_error("READONLY You can't write against a read only replica."),
            Reply::Close,
            Reply::Hang,
        ])
        .await;
        let mut p = RedisPrimary::direct("127.0.0.1", fake.port, Duration::from_millis(300));
        assert_eq!(
            p.query::<Option<String>>(&get("k")).await,
            Ok(Some("5".into()))
        );
        assert!(p
            .query::<Option<String>>(&get("k"))
            .await
            .unwrap_err()
            .is_definite());
        assert!(!p
            .query::<Option<String>>(&get("k"))
            .await
            .unwrap_err()
            .is_definite());
        assert!(!p
            .query::<Option<String>>(&get("k"))
            .await
            .unwrap_err()
            .is_definite());
        assert_eq!(fake.commands().await, vec!["GET k"; 4]);
    }

    #[tokio::test]
    async fn no_server_is_definite() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut p = RedisPrimary::direct("127.0.0.1", port, Duration::from_millis(300));
        assert!(p
            .query::<Option<String>>(&get("k"))
            .await
            .unwrap_err()
            .is_definite());
    }

    #[tokio::test]
    async fn scripts_send_evalsha_with_keys_and_args() {
        let fake = FakeRedis::start(vec![Reply::redis_int(1)]).await;
        let mut p = RedisPrimary::direct("127.0.0.1", fake.port, Duration::from_secs(1));
        let s = redis::Script::new("return 1");
        let n: i64 = p.script(&s, &["a"], &["x".to_string()]).await.unwrap();
        assert_eq!(n, 1);
        let sent = fake.commands().await;
        assert!(
            sent[0].starts_with("EVALSHA ") && sent[0].ends_with(" 1 a x"),
            "{sent:?}"
        );
    }
}
