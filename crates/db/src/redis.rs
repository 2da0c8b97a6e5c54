//! The Redis client (the `redis` protocol family). The database itself is the definition
//! `dbs/redis/` (a primary, replicas, and a Sentinel on every node).
//!
//! Clients find the current primary by asking a Sentinel
//! (`SENTINEL get-master-addr-by-name`), then check with `ROLE` that it is one.

use crate::ClientError;
use redis::AsyncCommands;
use std::time::Duration;
use tokio::sync::Mutex;

/// The Redis server port, unless a definition says otherwise.
pub const PORT: u16 = 6379;
/// The Sentinel port, unless a definition says otherwise.
pub const SENTINEL_PORT: u16 = 26379;
/// The name Sentinel monitors the primary under, unless a definition says otherwise.
pub const MASTER_NAME: &str = "faultline";

/// Options of a [`RedisClient`].
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// The time limit of each command; a command that outlives it is indeterminate.
    pub timeout: Duration,
    /// The Sentinels' port.
    pub sentinel_port: u16,
    /// The name the Sentinels monitor the primary under.
    pub master: String,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            timeout: Duration::from_secs(5),
            sentinel_port: SENTINEL_PORT,
            master: MASTER_NAME.to_string(),
        }
    }
}

const CAS_SCRIPT: &str = r#"
local v = redis.call('GET', KEYS[1])
if (ARGV[1] == '' and v == false) or (ARGV[1] ~= '' and v == string.sub(ARGV[1], 2)) then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"#;

/// A client of the current Redis primary, found through the Sentinels.
///
/// After any failure the connection is dropped and the next command asks a Sentinel again,
/// so a client follows failovers.
pub struct RedisClient {
    sentinels: Vec<String>,
    options: RedisOptions,
    conn: Mutex<Option<(String, redis::aio::MultiplexedConnection)>>,
}

impl RedisClient {
    /// A client that asks the Sentinels at `sentinel_hosts` (host or IP, port 26379).
    pub fn new(sentinel_hosts: &[String], options: RedisOptions) -> Self {
        RedisClient {
            sentinels: sentinel_hosts.to_vec(),
            options,
            conn: Mutex::new(None),
        }
    }

    fn config(&self) -> redis::AsyncConnectionConfig {
        redis::AsyncConnectionConfig::new()
            .set_connection_timeout(self.options.timeout)
            .set_response_timeout(self.options.timeout)
    }

    async fn open(
        &self,
        host: &str,
        port: u16,
    ) -> Result<redis::aio::MultiplexedConnection, redis::RedisError> {
        let client = redis::Client::open(format!("redis://{}:{port}/", crate::url_host(host)))?;
        client
            .get_multiplexed_async_connection_with_config(&self.config())
            .await
    }

    /// Asks the Sentinels, in turn, where the primary is; returns `host:port`.
    pub async fn primary_address(&self) -> Result<(String, u16), ClientError> {
        let mut last = String::from("no sentinels given");
        for s in &self.sentinels {
            let mut conn = match self.open(s, self.options.sentinel_port).await {
                Ok(c) => c,
                Err(e) => {
                    last = format!("sentinel {s}: {e}");
                    continue;
                }
            };
            let addr: Result<Option<(String, u16)>, _> = redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(&self.options.master)
                .query_async(&mut conn)
                .await;
            match addr {
                Ok(Some(a)) => return Ok(a),
                Ok(None) => last = format!("sentinel {s} knows no primary"),
                Err(e) => last = format!("sentinel {s}: {e}"),
            }
        }
        // Nothing was sent to a primary: the operation definitely did not happen.
        Err(ClientError::Rejected(format!("no primary found: {last}")))
    }

    async fn connection(&self) -> Result<(String, redis::aio::MultiplexedConnection), ClientError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let (host, port) = self.primary_address().await?;
        let mut conn = self
            .open(&host, port)
            .await
            .map_err(|e| ClientError::Rejected(format!("primary {host}:{port}: {e}")))?;
        let role: Vec<redis::Value> = redis::cmd("ROLE")
            .query_async(&mut conn)
            .await
            .map_err(|e| ClientError::Rejected(format!("primary {host}:{port}: ROLE: {e}")))?;
        let is_master = matches!(role.first(), Some(redis::Value::BulkString(b)) if b == b"master");
        if !is_master {
            return Err(ClientError::Rejected(format!(
                "{host}:{port}, named primary by Sentinel, is not a primary (failover in progress)"
            )));
        }
        let entry = (host, conn);
        *guard = Some(entry.clone());
        Ok(entry)
    }

    async fn forget(&self) {
        *self.conn.lock().await = None;
    }

    async fn run<T, F, Fut>(&self, f: F) -> Result<T, ClientError>
    where
        F: FnOnce(redis::aio::MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = Result<T, redis::RedisError>>,
    {
        let (host, conn) = self.connection().await?;
        match f(conn).await {
            Ok(v) => Ok(v),
            Err(e) => {
                self.forget().await;
                Err(classify(&host, &e))
            }
        }
    }

    /// The host of the primary this client currently talks to, if connected.
    pub async fn current_primary(&self) -> Option<String> {
        self.conn.lock().await.as_ref().map(|(h, _)| h.clone())
    }

    /// Reads a key from the primary; `None` if absent.
    pub async fn get(&self, key: &str) -> Result<Option<String>, ClientError> {
        let key = key.to_string();
        self.run(|mut c| async move { c.get(key).await }).await
    }

    /// Writes a key on the primary.
    pub async fn put(&self, key: &str, value: &str) -> Result<(), ClientError> {
        let (key, value) = (key.to_string(), value.to_string());
        self.run(|mut c| async move { c.set(key, value).await })
            .await
    }

    /// Sets `key` to `new` if its value is `expected` (`None`: if absent), atomically (Lua).
    pub async fn cas(
        &self,
        key: &str,
        expected: Option<&str>,
        new: &str,
    ) -> Result<(), ClientError> {
        // '' means "absent"; any value travels with a one-character prefix.
        let expected = expected.map(|v| format!("={v}")).unwrap_or_default();
        let (key, new) = (key.to_string(), new.to_string());
        let done: i64 = self
            .run(|mut c| async move {
                redis::Script::new(CAS_SCRIPT)
                    .key(key)
                    .arg(expected)
                    .arg(new)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        if done == 1 {
            Ok(())
        } else {
            Err(ClientError::CompareFailed)
        }
    }
}

/// Refused connections and errors Redis returns before executing a command (READONLY,
/// NOREPLICAS, LOADING, ...) are definite; I/O errors and timeouts mid-command are not.
pub fn classify(host: &str, e: &redis::RedisError) -> ClientError {
    let msg = format!("{host}: {e}");
    if e.is_connection_refusal() {
        ClientError::Rejected(msg)
    } else if e.is_timeout()
        || e.is_io_error()
        || e.is_connection_dropped()
        || e.is_unrecoverable_error()
    {
        ClientError::Indeterminate(msg)
    } else if e.kind() == redis::ErrorKind::ReadOnly || e.code().is_some() {
        ClientError::Rejected(msg)
    } else {
        ClientError::Indeterminate(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_reachable_sentinel_is_definite() {
        let c = RedisClient::new(&["127.0.0.1".to_string()], RedisOptions::default());
        // Nothing listens on 26379 here (if something does, it is no Sentinel of ours).
        let err = c.put("k", "v").await.unwrap_err();
        assert!(err.is_definite(), "{err:?}");
    }
}
