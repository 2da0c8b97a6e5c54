//! The set workload: every worker adds unique integers to one set and now and then reads
//! the whole set; after the nemesis heals, every worker reads it once more. Checked with
//! Jepsen's set-full (lost, stale, unexpected, duplicated elements, visibility latency).
//!
//! - etcd: each element is its own key under the workload's prefix (an add is one put,
//!   so concurrent adds never conflict); a read is one range over the prefix, which etcd
//!   serves at a single revision (linearizable, or serializable with
//!   [`Options::serializable_reads`]);
//! - Redis: SADD and SMEMBERS on the primary found through Sentinel;
//! - SQL (PostgreSQL, MySQL): a row per element in the run's own table, an add one INSERT
//!   transaction, a read one SELECT of every row.

mod sql;

use async_trait::async_trait;
use faultline_history::{CheckerResult, Operation};
use faultline_runner::{Client, ClientFactory, Completion, Gen, Op};
use faultline_set_checker::SetOptions;
use faultline_workload_support::sql::Table;
use faultline_workload_support::{
    at_rate, completion, connecting, namespace, parse_int, refuse, unreadable, ClientError, DbConn,
    Target,
};
use rand::Rng;
use serde_json::{json, Value};
use std::sync::Arc;

/// The workload's name for `faultline test --workload`.
pub const NAME: &str = "set";

/// The set workload's knobs (none depends on the seed).
#[derive(Clone, Debug)]
pub struct Options {
    /// In the main phase, about one request in this many is a read; the rest are adds.
    pub read_one_in: u32,
    /// Mean operations a second over all workers; `None`: as fast as they can.
    pub rate: Option<f64>,
    /// Reads were serializable (possibly stale): the checker then tolerates stale elements
    /// (counts them) instead of calling the history invalid.
    pub serializable_reads: bool,
    /// Physical key prefix; `None`: a fresh one per workload, so old data never leaks in.
    pub namespace: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            read_one_in: 10,
            rate: Some(50.0),
            serializable_reads: false,
            namespace: None,
        }
    }
}

/// What the workers ask for in the main phase: adds of unique integers (from the
/// generator's unique counter) mixed with reads.
pub fn generator(opts: &Options) -> Gen {
    let one_in = opts.read_one_in.max(1);
    let gen = Gen::source(move |ctx| {
        if one_in > 1 && ctx.rng.random_range(0..one_in) == 0 {
            Op::new("read", Value::Null)
        } else {
            Op::new("add", json!(ctx.unique()))
        }
    });
    at_rate(gen, opts.rate)
}

/// The final phase, after the heal: one read per worker.
pub fn final_generator() -> Gen {
    Gen::repeat(Op::new("read", Value::Null))
        .once()
        .each_thread()
}

/// The clients for `target`: each worker adds to and reads the workload's one set.
pub fn clients(target: Target, opts: &Options) -> Arc<dyn ClientFactory> {
    let namespace = namespace(&opts.namespace, NAME);
    let table = sql::table(&namespace);
    connecting(target, move |conn, _node| {
        Box::new(SetClient {
            conn,
            namespace: namespace.clone(),
            table: table.clone(),
        })
    })
}

/// Checks a set history with set-full; stale elements count as invalid unless reads were
/// serializable.
pub fn check(ops: &[Operation], opts: &Options) -> Vec<CheckerResult> {
    let set_opts = SetOptions {
        linearizable: !opts.serializable_reads,
    };
    let result = faultline_set_checker::check(ops, &set_opts).unwrap_or_else(|e| {
        unreadable(
            faultline_set_checker::CHECKER,
            format!("event {}: {}", e.event, e.message),
        )
    });
    vec![result]
}

struct SetClient {
    conn: DbConn,
    namespace: String,
    /// The SQL families' table.
    table: Table,
}

impl SetClient {
    async fn add(&mut self, element: i64) -> Result<(), ClientError> {
        match &mut self.conn {
            DbConn::Etcd(c) => {
                c.client
                    .put(&format!("{}/{element}", self.namespace), "")
                    .await
            }
            DbConn::Redis(r) => r
                .query::<i64>(redis::cmd("SADD").arg(&self.namespace).arg(element))
                .await
                .map(|_| ()),
            DbConn::Sql(c) => sql::add(c, &self.table, element).await,
        }
    }

    async fn read(&mut self) -> Result<Vec<i64>, ClientError> {
        let prefix = format!("{}/", self.namespace);
        let members: Vec<String> = match &mut self.conn {
            DbConn::Etcd(c) => c
                .range_prefix(&prefix)
                .await?
                .into_iter()
                .map(|kv| kv.key.strip_prefix(&prefix).unwrap_or(&kv.key).to_string())
                .collect(),
            DbConn::Redis(r) => r.query(redis::cmd("SMEMBERS").arg(&self.namespace)).await?,
            DbConn::Sql(c) => {
                let mut elements = sql::read(c, &self.table).await?;
                elements.sort_unstable();
                return Ok(elements);
            }
        };
        let mut elements = members
            .iter()
            .map(|m| parse_int(&self.namespace, m))
            .collect::<Result<Vec<_>, _>>()?;
        elements.sort_unstable();
        Ok(elements)
    }
}

#[async_trait]
impl Client for SetClient {
    fn served_by(&self) -> Option<String> {
        self.conn.served_by()
    }

    async fn invoke(&mut self, op: &Op) -> Completion {
        match (op.f.as_ref(), op.value.as_i64()) {
            ("add", Some(element)) => match self.add(element).await {
                Ok(()) => Completion::Ok(json!(element)),
                Err(e) => completion(&e),
            },
            ("add", None) => refuse("bad-op: add needs an integer"),
            ("read", _) => match self.read().await {
                Ok(elements) => Completion::Ok(json!(elements)),
                Err(e) => completion(&e),
            },
            (f, _) => refuse(&format!("bad-op: the set workload has no {f:?}")),
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
    use std::collections::BTreeSet;
    use std::time::Duration;

    #[test]
    fn adds_are_unique_across_workers_and_reads_are_mixed_in() {
        let gen = generator(&Options {
            rate: None,
            ..Options::default()
        });
        let mut seen = BTreeSet::new();
        let mut reads = 0;
        for worker in 0..3 {
            for op in requests(&gen, 5, worker, 3, 200) {
                match op.f.as_ref() {
                    "add" => assert!(
                        seen.insert(op.value.as_i64().unwrap()),
                        "{op:?} added twice"
                    ),
                    "read" => reads += 1,
                    f => panic!("unexpected {f}"),
                }
            }
        }
        assert!(
            (20..120).contains(&reads),
            "about one in 10 of 600 should be reads: {reads}"
        );
        assert_eq!(requests(&gen, 5, 1, 3, 100), requests(&gen, 5, 1, 3, 100));
        assert_ne!(requests(&gen, 5, 1, 3, 100), requests(&gen, 6, 1, 3, 100));
    }

    #[test]
    fn the_final_phase_is_one_read_per_worker() {
        let gen = final_generator();
        for worker in 0..4 {
            let ops = requests(&gen, 1, worker, 4, 10);
            assert_eq!(ops, vec![Op::new("read", Value::Null)]);
        }
    }

    #[tokio::test]
    async fn etcd_adds_are_keys_and_reads_are_one_range() {
        let kv = |k: &str| json!({"key": b64(k), "value": "", "mod_revision": "2", "create_revision": "2"});
        let fake = FakeEtcd::start(vec![
            Reply::json(200, json!({"header": {}})),
            Reply::json(200, json!({"kvs": [kv("s/10"), kv("s/2"), kv("s/7")]})),
            Reply::grpc_error(14, "etcdserver: request timed out"),
            Reply::grpc_error(8, "etcdserver: too many requests"),
            Reply::Close,
            Reply::json(200, json!({"kvs": [kv("s/x")]})),
        ])
        .await;
        let conn =
            EtcdConn::with_endpoint(&fake.endpoint, Duration::from_millis(500), false).unwrap();
        let mut c = SetClient {
            conn: DbConn::Etcd(conn),
            namespace: "s".into(),
            table: sql::table("s"),
        };
        assert_eq!(
            c.invoke(&Op::new("add", json!(10))).await,
            Completion::Ok(json!(10))
        );
        assert_eq!(
            c.invoke(&Op::new("read", Value::Null)).await,
            Completion::Ok(json!([2, 7, 10]))
        );
        assert!(matches!(
            c.invoke(&Op::new("add", json!(11))).await,
            Completion::Info(_)
        ));
        assert!(matches!(
            c.invoke(&Op::new("add", json!(11))).await,
            Completion::Fail(_)
        ));
        assert!(matches!(
            c.invoke(&Op::new("read", Value::Null)).await,
            Completion::Info(_)
        ));
        assert!(
            matches!(
                c.invoke(&Op::new("read", Value::Null)).await,
                Completion::Info(_)
            ),
            "foreign data"
        );
        let sent = fake.requests().await;
        assert!(
            sent[0].starts_with("POST /v3/kv/put") && sent[0].contains(&b64("s/10")),
            "{sent:?}"
        );
        assert!(
            sent[1].starts_with("POST /v3/kv/range") && sent[1].contains(&b64("s0")),
            "range end: {sent:?}"
        );
    }

    #[tokio::test]
    async fn redis_adds_and_reads_use_sadd_and_smembers() {
        let fake = FakeRedis::start(vec![
            Reply::redis_int(1),
            Reply::redis_array(&[Some("3"), Some("1")]),
            Reply::redis_error("NOREPLICAS Not enough good replicas to write."),
            Reply::Close,
        ])
        .await;
        let conn = RedisPrimary::direct("127.0.0.1", fake.port, Duration::from_millis(300));
        let mut c = SetClient {
            conn: DbConn::Redis(conn),
            namespace: "s".into(),
            table: sql::table("s"),
        };
        assert_eq!(
            c.invoke(&Op::new("add", json!(3))).await,
            Completion::Ok(json!(3))
        );
        assert_eq!(
            c.invoke(&Op::new("read", Value::Null)).await,
            Completion::Ok(json!([1, 3]))
        );
        assert!(matches!(
            c.invoke(&Op::new("add", json!(4))).await,
            Completion::Fail(_)
        ));
        assert!(matches!(
            c.invoke(&Op::new("add", json!(4))).await,
            Completion::Info(_)
        ));
        assert_eq!(&fake.commands().await[..2], ["SADD s 3", "SMEMBERS s"]);
    }

    fn hop(process: u64, f: &str, input: Value, output: Value, at: (u64, u64)) -> Operation {
        testing::op(process, f, input, output, Outcome::Ok, at.0, Some(at.1))
    }

    #[test]
    fn an_acknowledged_add_missing_from_the_final_read_is_lost() {
        let ops = [
            hop(0, "add", json!(1), json!(1), (0, 1)),
            hop(1, "add", json!(2), json!(2), (2, 3)),
            hop(0, "read", Value::Null, json!([1, 2]), (4, 5)),
            hop(1, "read", Value::Null, json!([1]), (6, 7)),
        ];
        let r = check(&ops, &Options::default());
        assert_eq!(r[0].checker, "set-full");
        assert_eq!(r[0].verdict, Verdict::Invalid);
        assert!(
            r[0].anomalies.iter().any(|a| a.kind == "lost"),
            "{:?}",
            r[0].anomalies
        );
        assert_eq!(
            check(&ops[..3], &Options::default())[0].verdict,
            Verdict::Valid
        );
    }

    #[test]
    fn a_read_of_something_never_added_is_unexpected() {
        let ops = [
            hop(0, "add", json!(1), json!(1), (0, 1)),
            hop(1, "read", Value::Null, json!([1, 9]), (2, 3)),
        ];
        let r = check(&ops, &Options::default());
        assert!(
            r[0].anomalies.iter().any(|a| a.kind == "unexpected"),
            "{:?}",
            r[0].anomalies
        );
    }
}
