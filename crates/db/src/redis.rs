//! Redis 7.0 (Debian): a primary (the first node) with replicas on the others, and a
//! Sentinel on every node that fails over when the primary is lost (quorum: a majority).
//!
//! Clients find the current primary by asking a Sentinel
//! (`SENTINEL get-master-addr-by-name`), then check with `ROLE` that it is one. The server
//! and Sentinel run under the clock shim (LD_PRELOAD), so clock faults reach them.

use crate::daemon::{require_binary, Daemon};
use crate::{ClientError, Db, DbError, DbKind, ProcessState};
use faultline_control::Node;
use redis::AsyncCommands;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The Redis server port.
pub const PORT: u16 = 6379;
/// The Sentinel port.
pub const SENTINEL_PORT: u16 = 26379;
/// The name Sentinel monitors the primary under.
pub const MASTER_NAME: &str = "faultline";
const DIR: &str = "/var/lib/faultline/redis";

/// Redis with Sentinel on every node.
#[derive(Clone, Copy, Debug, Default)]
pub struct RedisDb;

fn server() -> Daemon {
    Daemon {
        name: "redis".into(),
        exec: "/usr/bin/redis-server".into(),
        args: vec![format!("{DIR}/redis.conf")],
        clock_shim: true,
    }
}

fn sentinel() -> Daemon {
    Daemon {
        name: "redis-sentinel".into(),
        exec: "/usr/bin/redis-server".into(),
        args: vec![format!("{DIR}/sentinel.conf"), "--sentinel".into()],
        clock_shim: true,
    }
}

/// A majority of `n` Sentinels.
pub fn quorum(n: usize) -> usize {
    n / 2 + 1
}

/// The redis.conf of `node`; every node but the first replicates the first.
pub fn server_config(node: &Node, nodes: &[Node]) -> String {
    let mut conf = format!(
        "# Written by faultline.\n\
         bind 0.0.0.0\n\
         protected-mode no\n\
         port {PORT}\n\
         daemonize no\n\
         dir {DIR}\n\
         appendonly yes\n\
         appendfsync everysec\n\
         save \"\"\n\
         replica-announce-ip {}\n",
        node.address
    );
    if node.name != nodes[0].name {
        conf.push_str(&format!("replicaof {} {PORT}\n", nodes[0].address));
    }
    conf
}

/// The sentinel.conf of `node` (Sentinel rewrites it as it learns; it must stay writable).
/// It names the replicas up front: Sentinel would otherwise learn them only from the
/// primary's INFO, every 10 s, and could not fail over to one it has not seen.
pub fn sentinel_config(node: &Node, nodes: &[Node]) -> String {
    let known: String = nodes[1..]
        .iter()
        .map(|r| {
            format!(
                "sentinel known-replica {MASTER_NAME} {} {PORT}\n",
                r.address
            )
        })
        .collect();
    // The known replicas follow the `monitor` line they refer to.
    let base = format!(
        "# Written by faultline; Sentinel rewrites this file.\n\
         port {SENTINEL_PORT}\n\
         bind 0.0.0.0\n\
         protected-mode no\n\
         daemonize no\n\
         dir {DIR}\n\
         sentinel resolve-hostnames yes\n\
         sentinel announce-ip {}\n\
         sentinel monitor {MASTER_NAME} {} {PORT} {}\n\
         sentinel down-after-milliseconds {MASTER_NAME} 2000\n\
         sentinel failover-timeout {MASTER_NAME} 10000\n\
         sentinel parallel-syncs {MASTER_NAME} 1\n",
        node.address,
        nodes[0].address,
        quorum(nodes.len())
    );
    base + &known
}

fn cli(port: u16, args: &str) -> String {
    format!("redis-cli -p {port} {args}")
}

impl Db for RedisDb {
    fn kind(&self) -> DbKind {
        DbKind::Redis
    }

    fn setup(&self, node: &Node, nodes: &[Node]) -> Result<(), DbError> {
        require_binary(node, "redis-server", "redis-server")?;
        require_binary(node, "redis-cli", "redis-tools")?;
        // A second setup starts from scratch: never wipe data under a running server.
        sentinel().stop(node, "KILL")?;
        server().stop(node, "KILL")?;
        node.remote
            .run(&format!("rm -rf {DIR} && mkdir -p {DIR}"))?;
        node.remote.write_file(
            &format!("{DIR}/redis.conf"),
            server_config(node, nodes).as_bytes(),
        )?;
        node.remote.write_file(
            &format!("{DIR}/sentinel.conf"),
            sentinel_config(node, nodes).as_bytes(),
        )?;
        for d in [server(), sentinel()] {
            d.install(node)?;
            d.start(node)?;
        }
        Ok(())
    }

    fn await_ready(&self, nodes: &[Node], timeout: Duration) -> Result<(), DbError> {
        let deadline = Instant::now() + timeout;
        let primary = nodes[0].name.clone();
        let others = nodes.len() - 1;
        // Every Sentinel must know every replica and every other Sentinel: a Sentinel
        // learns replicas from the primary's INFO (every 10 s), so one that has not yet
        // seen a replica could never fail over to it once the primary dies.
        let sentinel_knows = format!(
            "[ \"$({})\" -ge {others} ] && [ \"$({})\" -ge {others} ]",
            cli(
                SENTINEL_PORT,
                &format!("sentinel replicas {MASTER_NAME} | grep -cx name")
            ),
            cli(
                SENTINEL_PORT,
                &format!("sentinel sentinels {MASTER_NAME} | grep -cx name")
            ),
        );
        crate::on_all(nodes, |node| {
            let replica = node.name != primary;
            let check = if replica {
                format!(
                    "{} | grep -q '^master_link_status:up' && {sentinel_knows}",
                    cli(PORT, "info replication"),
                )
            } else {
                format!(
                    "[ \"$({})\" = PONG ] && {sentinel_knows}",
                    cli(PORT, "ping")
                )
            };
            loop {
                let out = node.remote.exec(&check, b"", Duration::from_secs(5))?;
                if out.status == 0 {
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    return Err(DbError::Node {
                        node: node.name.clone(),
                        reason: format!(
                            "redis not ready after {timeout:?} (a replication link is down or a Sentinel does not know every replica and Sentinel; logs: {}, {})",
                            server().log_file(),
                            sentinel().log_file()
                        ),
                    });
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    }

    fn teardown(&self, node: &Node) -> Result<(), DbError> {
        sentinel().stop(node, "TERM")?;
        server().stop(node, "TERM")?;
        node.remote.run(&format!("rm -rf {DIR}"))?;
        Ok(())
    }

    fn kill(&self, node: &Node) -> Result<(), DbError> {
        Ok(server().stop(node, "KILL")?)
    }

    fn start(&self, node: &Node) -> Result<(), DbError> {
        Ok(server().start(node)?)
    }

    fn pause(&self, node: &Node) -> Result<(), DbError> {
        Ok(server().signal(node, "STOP")?)
    }

    fn resume(&self, node: &Node) -> Result<(), DbError> {
        Ok(server().signal(node, "CONT")?)
    }

    fn state(&self, node: &Node) -> Result<ProcessState, DbError> {
        Ok(server().state(node)?)
    }

    fn primaries(&self, nodes: &[Node]) -> Result<Vec<String>, DbError> {
        let mut primaries = Vec::new();
        for node in nodes {
            let out = node
                .remote
                .exec(&cli(PORT, "role"), b"", Duration::from_secs(5))?;
            if out.status == 0 && out.stdout_text().lines().next() == Some("master") {
                primaries.push(node.name.clone());
            }
        }
        Ok(primaries)
    }

    fn log_files(&self) -> Vec<String> {
        vec![server().log_file(), sentinel().log_file()]
    }

    fn server_pid_file(&self) -> String {
        server().pid_file()
    }

    fn clock_command(&self) -> Option<String> {
        Some(format!("redis-cli -p {PORT} TIME"))
    }
}

/// Options of a [`RedisClient`].
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// The time limit of each command; a command that outlives it is indeterminate.
    pub timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            timeout: Duration::from_secs(5),
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
            let mut conn = match self.open(s, SENTINEL_PORT).await {
                Ok(c) => c,
                Err(e) => {
                    last = format!("sentinel {s}: {e}");
                    continue;
                }
            };
            let addr: Result<Option<(String, u16)>, _> = redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(MASTER_NAME)
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

    fn nodes(n: usize) -> Vec<Node> {
        let remote: std::sync::Arc<dyn faultline_control::Remote> =
            std::sync::Arc::new(faultline_control::DockerRemote::new("x"));
        (1..=n)
            .map(|i| Node {
                name: format!("n{i}"),
                address: format!("10.0.0.{i}"),
                remote: remote.clone(),
            })
            .collect()
    }

    #[test]
    fn quorum_is_a_majority() {
        assert_eq!(quorum(1), 1);
        assert_eq!(quorum(3), 2);
        assert_eq!(quorum(4), 3);
        assert_eq!(quorum(5), 3);
    }

    #[test]
    fn first_node_is_primary_and_others_replicate_it() {
        let ns = nodes(3);
        assert!(!server_config(&ns[0], &ns).contains("replicaof"));
        assert!(server_config(&ns[2], &ns).contains("replicaof 10.0.0.1 6379\n"));
        let s = sentinel_config(&ns[1], &ns);
        assert!(s.contains("sentinel monitor faultline 10.0.0.1 6379 2\n"));
        assert!(s.contains("sentinel announce-ip 10.0.0.2\n"));
        assert!(s.contains("sentinel known-replica faultline 10.0.0.3 6379\n"));
        assert!(!s.contains("known-replica faultline 10.0.0.1 "));
    }

    #[tokio::test]
    async fn no_reachable_sentinel_is_definite() {
        let c = RedisClient::new(&["127.0.0.1".to_string()], RedisOptions::default());
        // Nothing listens on 26379 here (if something does, it is no Sentinel of ours).
        let err = c.put("k", "v").await.unwrap_err();
        assert!(err.is_definite(), "{err:?}");
    }
}
