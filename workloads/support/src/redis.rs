//! Redis: a connection to the current primary (found through Sentinel with crates/db's
//! [`RedisClient::primary_address`], then confirmed with `ROLE`), for the commands and Lua
//! scripts the workloads need beyond crates/db's get/put/cas.
//!
//! After any failure the connection is dropped and the next command finds the primary
//! again, so a client follows failovers. A client of Sentinel also asks it again in the
//! background at most every [`SENTINEL_RECHECK`], and moves when it names another primary:
//! as clients that follow Sentinel's `+switch-master` announcements do (Jedis, Lettuce), it
//! leaves a primary that lost a failover within about a second, not only after an error
//! (a cut-off old primary goes on serving the clients that stay).
//!
//! Errors are sorted as crates/db sorts them: a refused connection, no known primary, or an
//! error reply (READONLY, NOREPLICAS, ...) means the command was not executed (`fail`); a
//! timeout or a connection lost mid-command means it may have been (`info`). Every script
//! here checks before it writes, so an error reply from a script also means nothing was
//! written.

/// Sorts a Redis error exactly as crates/db does: refusals and error replies are definite;
/// timeouts and connections lost mid-command are not.
pub use faultline_db::redis::classify;
use faultline_db::redis::{RedisClient, RedisOptions};
use faultline_db::{url_host, ClientError};
use redis::aio::MultiplexedConnection;
use redis::FromRedisValue;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a client of Sentinel asks it again, in the background, where the primary is.
pub const SENTINEL_RECHECK: Duration = Duration::from_secs(1);

enum Resolve {
    Sentinels(Arc<RedisClient>),
    /// A server at host:port; `true`: it must say it is a primary.
    Direct(String, u16, bool),
}

/// A client of the Redis primary.
pub struct RedisPrimary {
    resolve: Resolve,
    timeout: Duration,
    conn: Option<(String, MultiplexedConnection)>,
    /// Which node served the last command (boxed: it is rarely read).
    served: Box<Served>,
    /// Sentinel clients: the background re-asking (boxed: other clients have none).
    recheck: Box<Recheck>,
}

/// Where Sentinel last said the primary is, asked in the background while connected.
struct Recheck {
    every: Duration,
    /// The primary connected to, as Sentinel named it.
    connected: Option<(String, u16)>,
    /// When the last question was sent.
    asked: Option<Instant>,
    /// The latest answer, written by the background task.
    answer: Arc<Mutex<Option<(String, u16)>>>,
    /// Whether a question is still out (one at a time, however slow Sentinel is).
    out: Arc<AtomicBool>,
}

impl Default for Recheck {
    fn default() -> Self {
        Recheck {
            every: SENTINEL_RECHECK,
            connected: None,
            asked: None,
            answer: Arc::default(),
            out: Arc::default(),
        }
    }
}

/// The host the last command went to, and the node names to call it by.
#[derive(Default)]
struct Served {
    last_host: Option<String>,
    /// `(address, name)` pairs.
    names: Vec<(String, String)>,
}

impl RedisPrimary {
    /// A client that asks the Sentinels on `sentinel_hosts` (at `sentinel_port`, for
    /// `master`), in order, for the primary.
    pub fn via_sentinels(
        sentinel_hosts: Vec<String>,
        sentinel_port: u16,
        master: &str,
        timeout: Duration,
    ) -> Self {
        let options = RedisOptions {
            timeout,
            sentinel_port,
            master: master.to_string(),
        };
        let client = RedisClient::new(&sentinel_hosts, options);
        RedisPrimary {
            resolve: Resolve::Sentinels(Arc::new(client)),
            timeout,
            conn: None,
            served: Box::default(),
            recheck: Box::default(),
        }
    }

    /// A client of the server at `host:port`, which must say it is a primary (no Sentinel).
    pub fn direct(host: &str, port: u16, timeout: Duration) -> Self {
        RedisPrimary {
            resolve: Resolve::Direct(host.to_string(), port, true),
            timeout,
            conn: None,
            served: Box::default(),
            recheck: Box::default(),
        }
    }

    /// A client of the server at `host:port` whatever its role: a replica serves reads
    /// (possibly stale) and refuses writes.
    pub fn any_role(host: &str, port: u16, timeout: Duration) -> Self {
        RedisPrimary {
            resolve: Resolve::Direct(host.to_string(), port, false),
            timeout,
            conn: None,
            served: Box::default(),
            recheck: Box::default(),
        }
    }

    /// Names the nodes: `(address, name)` pairs, so [`RedisPrimary::served_by`] says `n1`
    /// rather than an address.
    pub fn with_names(mut self, names: Vec<(String, String)>) -> Self {
        self.served.names = names;
        self
    }

    /// The node (by name when known, else its address) the last command was sent to.
    pub fn served_by(&self) -> Option<String> {
        let host = self.served.last_host.as_ref()?;
        Some(
            self.served
                .names
                .iter()
                .find(|(a, _)| a == host)
                .map_or_else(|| host.clone(), |(_, n)| n.clone()),
        )
    }

    /// The connection to the primary, opening one if needed. Nothing has been sent to the
    /// primary when this fails, so its errors are definite.
    pub async fn connection(&mut self) -> Result<(String, MultiplexedConnection), ClientError> {
        self.follow_sentinel();
        if let Some(c) = &self.conn {
            self.served.last_host = Some(c.0.clone());
            return Ok(c.clone());
        }
        let (host, port) = match &self.resolve {
            Resolve::Sentinels(client) => client.primary_address().await?,
            Resolve::Direct(host, port, _) => (host.clone(), *port),
        };
        let check_role = !matches!(self.resolve, Resolve::Direct(_, _, false));
        self.served.last_host = Some(host.clone());
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
        if check_role {
            let role: Vec<redis::Value> = redis::cmd("ROLE")
                .query_async(&mut conn)
                .await
                .map_err(reject)?;
            if !matches!(role.first(), Some(redis::Value::BulkString(b)) if b == b"master") {
                let named = match self.resolve {
                    Resolve::Sentinels(_) => "named primary by Sentinel",
                    Resolve::Direct(..) => "the fixed primary",
                };
                return Err(ClientError::Rejected(format!(
                    "{host}:{port}, {named}, is not a primary (failover in progress)"
                )));
            }
        }
        self.conn = Some((host.clone(), conn.clone()));
        if matches!(self.resolve, Resolve::Sentinels(_)) {
            let r = &mut self.recheck;
            r.connected = Some((host.clone(), port));
            r.asked = Some(Instant::now());
            *r.answer.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        Ok((host, conn))
    }

    /// Sentinel clients, while connected: drops the connection when Sentinel's latest answer
    /// names another primary (the next command connects to it), and asks again in the
    /// background when the last question is [`SENTINEL_RECHECK`] old. Never waits: a slow or
    /// unreachable Sentinel delays no command, and its failure leaves the connection be.
    fn follow_sentinel(&mut self) {
        let Resolve::Sentinels(client) = &self.resolve else {
            return;
        };
        if self.conn.is_none() {
            return;
        }
        let r = &mut self.recheck;
        let answer = r.answer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if answer.is_some() && answer != r.connected {
            self.conn = None;
            return;
        }
        if r.asked.is_some_and(|t| t.elapsed() < r.every) || r.out.swap(true, Ordering::AcqRel) {
            return;
        }
        r.asked = Some(Instant::now());
        let (client, slot, out) = (client.clone(), r.answer.clone(), r.out.clone());
        tokio::spawn(async move {
            if let Ok(primary) = client.primary_address().await {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(primary);
            }
            out.store(false, Ordering::Release);
        });
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
    async fn the_serving_node_is_named() {
        let fake = FakeRedis::start(vec![Reply::redis_bulk(Some("5"))]).await;
        let mut p = RedisPrimary::direct("127.0.0.1", fake.port, Duration::from_secs(1))
            .with_names(vec![("127.0.0.1".into(), "n4".into())]);
        assert_eq!(p.served_by(), None, "nothing sent yet");
        let _: Option<String> = p.query(&get("k")).await.unwrap();
        assert_eq!(p.served_by().as_deref(), Some("n4"));
        let mut unnamed = RedisPrimary::direct("127.0.0.1", fake.port, Duration::from_secs(1));
        let _ = unnamed.query::<Option<String>>(&get("k")).await;
        assert_eq!(unnamed.served_by().as_deref(), Some("127.0.0.1"));
    }

    /// Sentinel names A, then B: the client moves to B on its own, with no error from A.
    #[tokio::test]
    async fn a_sentinel_client_moves_when_sentinel_names_another_primary() {
        let a = FakeRedis::start(vec![Reply::redis_bulk(Some("a")); 2]).await;
        let b = FakeRedis::start(vec![Reply::redis_bulk(Some("b"))]).await;
        let named = |port: u16| Reply::redis_array(&[Some("127.0.0.1"), Some(&port.to_string())]);
        let sentinel = FakeRedis::start(vec![named(a.port), named(b.port), named(b.port)]).await;
        let hosts = vec!["127.0.0.1".to_string()];
        let mut p = RedisPrimary::via_sentinels(hosts, sentinel.port, "m", Duration::from_secs(1));
        p.recheck.every = Duration::ZERO;
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(p.query::<Option<String>>(&get("k")).await.unwrap());
            // Let the background question come back before the next command.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let got: Vec<&str> = got.iter().map(|v| v.as_deref().unwrap()).collect();
        assert_eq!(
            got,
            ["a", "a", "b"],
            "asked again while on A, then moved to B"
        );
        assert_eq!(a.commands().await, vec!["GET k"; 2]);
        assert_eq!(b.commands().await, vec!["GET k"]);
    }

    /// A client of a fixed primary never asks anyone where the primary is.
    #[tokio::test]
    async fn a_direct_client_stays() {
        let a = FakeRedis::start(vec![Reply::redis_bulk(Some("a")); 3]).await;
        let mut p = RedisPrimary::direct("127.0.0.1", a.port, Duration::from_secs(1));
        p.recheck.every = Duration::ZERO;
        for _ in 0..3 {
            assert_eq!(
                p.query::<Option<String>>(&get("k")).await,
                Ok(Some("a".into()))
            );
        }
        assert!(p.recheck.asked.is_none());
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
