//! The counter workload: increments by small positive integers and reads of one counter,
//! checked with Jepsen's counter checker (each read within the values the adds allow).
//!
//! - etcd: an add is a compare-and-set loop on the key's mod revision (read the value and
//!   its revision, then a transaction that writes value + delta only if the key is still at
//!   that revision; retried when another add got in first); a read is a get (0 when absent);
//! - Redis: INCRBY and GET on the primary.

mod sql;

use async_trait::async_trait;
use faultline_counter_checker::CounterOptions;
use faultline_history::{CheckerResult, Operation};
use faultline_runner::{Client, ClientFactory, Completion, Gen, Op};
use faultline_workload_support::sql::Table;
use faultline_workload_support::{
    at_rate, completion, connecting, namespace, parse_int, refuse, unreadable, ClientError, DbConn,
    Target,
};
use rand::Rng;
use serde_json::{json, Value};
use std::sync::Arc;

/// The workload's name for `faultline test --workload`.
pub const NAME: &str = "counter";

/// How many times an etcd add retries after losing a compare-and-set race before giving up
/// (`fail`: none of the attempts wrote anything).
pub const MAX_CAS_ATTEMPTS: u32 = 32;

/// The counter workload's knobs (none depends on the seed).
#[derive(Clone, Debug)]
pub struct Options {
    /// Adds are by `1..=max_delta`.
    pub max_delta: i64,
    /// Mean operations a second over all workers; `None`: as fast as they can.
    pub rate: Option<f64>,
    /// Physical key; `None`: a fresh one per workload, so old data never leaks in.
    pub namespace: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_delta: 5,
            rate: Some(50.0),
            namespace: None,
        }
    }
}

/// What the workers ask for: adds of `1..=max_delta` and reads, half and half.
pub fn generator(opts: &Options) -> Gen {
    let max = opts.max_delta.max(1);
    let add = Gen::source(move |ctx| Op::new("add", json!(ctx.rng.random_range(1..=max))));
    let read = Gen::repeat(Op::new("read", Value::Null));
    let gen = Gen::mix(vec![add, read]);
    at_rate(gen, opts.rate)
}

/// The final phase, after the heal: one read per worker.
pub fn final_generator() -> Gen {
    Gen::repeat(Op::new("read", Value::Null))
        .once()
        .each_thread()
}

/// The clients for `target`: each worker adds to and reads the workload's one counter.
pub fn clients(target: Target, opts: &Options) -> Arc<dyn ClientFactory> {
    let key = namespace(&opts.namespace, NAME);
    let table = sql::table(&key);
    connecting(target, move |conn, _node| {
        Box::new(CounterClient {
            conn,
            key: key.clone(),
            table: table.clone(),
        })
    })
}

/// Checks a counter history: every `ok` read within its bounds, from an initial 0.
pub fn check(ops: &[Operation], _opts: &Options) -> Vec<CheckerResult> {
    let result = faultline_counter_checker::check(ops, &CounterOptions { initial: 0 })
        .unwrap_or_else(|e| {
            unreadable(
                faultline_counter_checker::CHECKER,
                format!("event {}: {}", e.event, e.message),
            )
        });
    vec![result]
}

struct CounterClient {
    conn: DbConn,
    key: String,
    /// The SQL families' table.
    table: Table,
}

impl CounterClient {
    async fn add(&mut self, delta: i64) -> Result<(), ClientError> {
        let key = &self.key;
        match &mut self.conn {
            DbConn::Etcd(c) => {
                for _ in 0..MAX_CAS_ATTEMPTS {
                    // Only a transaction writes: when a read fails, no attempt so far has
                    // written anything, so the add definitely did not happen.
                    let current = c.client.get_kv(key).await.map_err(|e| {
                        ClientError::Rejected(format!(
                            "read before add failed, nothing written: {}",
                            e.history_error()
                        ))
                    })?;
                    let (value, revision) = match current {
                        Some(kv) => (parse_int(key, &kv.value)?, kv.mod_revision),
                        None => (0, 0),
                    };
                    match c
                        .client
                        .cas_revision(key, revision, &(value + delta).to_string())
                        .await
                    {
                        Err(ClientError::CompareFailed) => continue,
                        done => return done,
                    }
                }
                Err(ClientError::Rejected(format!(
                    "contention: lost {MAX_CAS_ATTEMPTS} compare-and-set races, nothing written"
                )))
            }
            DbConn::Redis(r) => r
                .query::<i64>(redis::cmd("INCRBY").arg(key).arg(delta))
                .await
                .map(|_| ()),
            DbConn::Sql(c) => sql::add(c, &self.table, delta).await,
        }
    }

    async fn read(&mut self) -> Result<i64, ClientError> {
        let key = &self.key;
        let stored = match &mut self.conn {
            DbConn::Etcd(c) => c.client.get(key).await?,
            DbConn::Redis(r) => {
                r.query::<Option<String>>(redis::cmd("GET").arg(key))
                    .await?
            }
            DbConn::Sql(c) => return sql::read(c, &self.table).await,
        };
        stored.map_or(Ok(0), |s| parse_int(key, &s))
    }
}

#[async_trait]
impl Client for CounterClient {
    fn served_by(&self) -> Option<String> {
        self.conn.served_by()
    }

    async fn invoke(&mut self, op: &Op) -> Completion {
        match (op.f.as_ref(), op.value.as_i64()) {
            ("add", Some(delta)) => match self.add(delta).await {
                Ok(()) => Completion::Ok(json!(delta)),
                Err(e) => completion(&e),
            },
            ("add", None) => refuse("bad-op: add needs an integer"),
            ("read", _) => match self.read().await {
                Ok(v) => Completion::Ok(json!(v)),
                Err(e) => completion(&e),
            },
            (f, _) => refuse(&format!("bad-op: the counter workload has no {f:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_history::{testing, Outcome, Verdict};
    use faultline_workload_support::etcd::{b64, EtcdConn};
    use faultline_workload_support::fake::{FakeEtcd, FakeRedis, Reply};
    use faultline_workload_support::redis::RedisPrimary;
    use faultline_workload_support::testing::requests;
    use std::time::Duration;

    #[test]
    fn generator_mixes_small_positive_adds_and_reads_deterministically() {
        let gen = generator(&Options {
            rate: None,
            max_delta: 3,
            ..Options::default()
        });
        let ops = requests(&gen, 3, 0, 2, 400);
        let adds: Vec<i64> = ops
            .iter()
            .filter(|o| o.f == "add")
            .map(|o| o.value.as_i64().unwrap())
            .collect();
        assert!(adds.iter().all(|d| (1..=3).contains(d)), "{adds:?}");
        assert!(
            (100..300).contains(&adds.len()),
            "about half adds: {}",
            adds.len()
        );
        assert!(ops
            .iter()
            .filter(|o| o.f != "add")
            .all(|o| o.f == "read" && o.value.is_null()));
        assert_eq!(ops, requests(&gen, 3, 0, 2, 400));
        assert_ne!(ops, requests(&gen, 4, 0, 2, 400));
    }

    fn kv(value: &str, rev: i64) -> Value {
        json!({"kvs": [{"key": b64("c"), "value": b64(value), "mod_revision": rev.to_string(), "create_revision": "1", "version": "1"}]})
    }

    #[tokio::test]
    async fn etcd_add_retries_lost_races_on_the_mod_revision() {
        let fake = FakeEtcd::start(vec![
            Reply::json(200, kv("4", 7)),
            Reply::json(200, json!({"succeeded": false})),
            Reply::json(200, kv("6", 9)),
            Reply::json(200, json!({"succeeded": true})),
            Reply::json(200, json!({})),
            Reply::json(200, json!({"succeeded": true})),
        ])
        .await;
        let conn =
            EtcdConn::with_endpoint(&fake.endpoint, Duration::from_millis(500), false).unwrap();
        let mut c = CounterClient {
            conn: DbConn::Etcd(conn),
            key: "c".into(),
            table: sql::table("c"),
        };
        assert_eq!(
            c.invoke(&Op::new("add", json!(2))).await,
            Completion::Ok(json!(2))
        );
        assert_eq!(
            c.invoke(&Op::new("add", json!(5))).await,
            Completion::Ok(json!(5)),
            "absent counts as 0"
        );
        let sent = fake.requests().await;
        let rev9 = sent[3].contains("\"mod_revision\":\"9\"") && sent[3].contains(&b64("8"));
        assert!(
            rev9,
            "second attempt compares revision 9 and writes 6+2: {sent:?}"
        );
        assert!(
            sent[5].contains("\"mod_revision\":\"0\"") && sent[5].contains(&b64("5")),
            "{sent:?}"
        );
    }

    #[tokio::test]
    async fn etcd_add_is_info_only_when_its_write_may_have_happened() {
        let fake = FakeEtcd::start(vec![
            Reply::grpc_error(14, "etcdserver: request timed out"),
            Reply::json(200, kv("1", 2)),
            Reply::grpc_error(14, "etcdserver: request timed out"),
            Reply::json(200, kv("1", 2)),
            Reply::Close,
            Reply::grpc_error(4, "context deadline exceeded"),
            Reply::json(200, kv("x", 2)),
        ])
        .await;
        let conn =
            EtcdConn::with_endpoint(&fake.endpoint, Duration::from_millis(500), false).unwrap();
        let mut c = CounterClient {
            conn: DbConn::Etcd(conn),
            key: "c".into(),
            table: sql::table("c"),
        };
        assert!(
            matches!(
                c.invoke(&Op::new("add", json!(1))).await,
                Completion::Fail(_)
            ),
            "only the read failed"
        );
        assert!(
            matches!(
                c.invoke(&Op::new("add", json!(1))).await,
                Completion::Info(_)
            ),
            "the txn timed out"
        );
        assert!(
            matches!(
                c.invoke(&Op::new("add", json!(1))).await,
                Completion::Info(_)
            ),
            "the txn lost its connection"
        );
        assert!(matches!(
            c.invoke(&Op::new("read", Value::Null)).await,
            Completion::Info(_)
        ));
        assert!(
            matches!(
                c.invoke(&Op::new("read", Value::Null)).await,
                Completion::Info(_)
            ),
            "not a number"
        );
    }

    #[tokio::test]
    async fn redis_uses_incrby_and_get() {
        let fake = FakeRedis::start(vec![
            Reply::redis_int(3),
            Reply::redis_bulk(Some("3")),
            Reply::redis_bulk(None),
            Reply::redis_error("READONLY You can't write against a read only replica."),
            Reply::Hang,
        ])
        .await;
        let conn = RedisPrimary::direct("127.0.0.1", fake.port, Duration::from_millis(300));
        let mut c = CounterClient {
            conn: DbConn::Redis(conn),
            key: "c".into(),
            table: sql::table("c"),
        };
        assert_eq!(
            c.invoke(&Op::new("add", json!(3))).await,
            Completion::Ok(json!(3))
        );
        assert_eq!(
            c.invoke(&Op::new("read", Value::Null)).await,
            Completion::Ok(json!(3))
        );
        assert_eq!(
            c.invoke(&Op::new("read", Value::Null)).await,
            Completion::Ok(json!(0))
        );
        assert!(matches!(
            c.invoke(&Op::new("add", json!(1))).await,
            Completion::Fail(_)
        ));
        assert!(matches!(
            c.invoke(&Op::new("add", json!(1))).await,
            Completion::Info(_)
        ));
        assert_eq!(&fake.commands().await[..2], ["INCRBY c 3", "GET c"]);
    }

    fn hop(f: &str, input: Value, output: Value, outcome: Outcome, at: (u64, u64)) -> Operation {
        testing::op(at.0, f, input, output, outcome, at.0, Some(at.1))
    }

    #[test]
    fn a_read_missing_an_acknowledged_add_is_out_of_bounds() {
        let ops = [
            hop("add", json!(2), json!(2), Outcome::Ok, (0, 1)),
            hop("add", json!(3), json!(3), Outcome::Info, (2, 3)),
            hop("read", Value::Null, json!(1), Outcome::Ok, (4, 5)),
        ];
        let r = check(&ops, &Options::default());
        assert_eq!(
            (r[0].checker.as_str(), r[0].verdict),
            ("counter", Verdict::Invalid)
        );
        let fine = [
            ops[0].clone(),
            ops[1].clone(),
            hop("read", Value::Null, json!(5), Outcome::Ok, (4, 5)),
        ];
        assert_eq!(check(&fine, &Options::default())[0].verdict, Verdict::Valid);
    }
}
