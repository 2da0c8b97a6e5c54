//! The register workload: reads, writes and compare-and-sets of small integers on many
//! independent keys (`jepsen.independent` style), checked for linearizability per key
//! against the `cas-register` model.
//!
//! Workers form groups of [`Options::threads_per_key`]; each group works on one key at a
//! time for [`Options::ops_per_key`] operations, then moves to its next key, so every key's
//! history stays small enough to check. A read of an absent key returns `null` (the
//! register's initial state). A `cas` whose compare fails is `fail` with error
//! `compare-failed`, which the checker reads as "saw another value".
//!
//! - etcd: read is a range (linearizable, or serializable with
//!   [`Options::serializable_reads`]), write a put, cas a transaction comparing the value;
//! - Redis: GET and SET on the primary, cas a Lua script (atomic on the primary);
//! - SQL (PostgreSQL, MySQL): a row per key in the run's own table, one transaction per
//!   operation; cas locks the row (`SELECT ... FOR UPDATE`), compares and updates.

mod sql;

use async_trait::async_trait;
use faultline_history::{CheckerResult, Operation, COMPARE_FAILED};
use faultline_linearizability::{CheckOptions, ModelError, ModelSpec, Report, SpecStream};
use faultline_runner::{Client, ClientFactory, Completion, Gen, Op, PerKey};
use faultline_workload_support::{
    at_rate, completion, connecting, namespace, parse_int, refuse, DbConn, Target,
};
use rand::Rng;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The workload's name for `faultline test --workload`.
pub const NAME: &str = "register";

/// The register workload's knobs (none depends on the seed).
#[derive(Clone, Debug)]
pub struct Options {
    /// Workers per key; the concurrency must be a multiple of it. The default of a run is
    /// [`threads_per_key`] of its nodes and workers.
    pub threads_per_key: usize,
    /// Operations on each key before its group moves on.
    pub ops_per_key: u64,
    /// Stop after this many keys; `None`: until the time limit.
    pub keys: Option<u64>,
    /// Values written are `0..values`.
    pub values: i64,
    /// Mean operations a second over all workers; `None`: as fast as they can.
    pub rate: Option<f64>,
    /// Physical key prefix; `None`: a fresh one per workload, so old data never leaks in.
    pub namespace: Option<String>,
    /// Give up checking (verdict unknown) after this long; `None`: no limit.
    pub check_time_limit: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads_per_key: 2,
            ops_per_key: 100,
            keys: None,
            values: 5,
            rate: Some(50.0),
            namespace: None,
            check_time_limit: Some(Duration::from_secs(300)),
        }
    }
}

/// Workers per key for `workers` workers on `nodes` nodes: the largest divisor of `workers`
/// that is at most `nodes`. Worker `i` runs on node `i % nodes` and a key's group is
/// consecutive workers, so with as many workers per key as nodes each key is used from every
/// node, and every partition cuts some of a key's clients off from the others: a stale read
/// needs a read on one side of the cut of a value overwritten on the other.
pub fn threads_per_key(nodes: usize, workers: usize) -> usize {
    (1..=nodes.min(workers).max(1))
        .rev()
        .find(|n| workers.is_multiple_of(*n))
        .unwrap_or(1)
}

/// What the workers ask for: a uniform mix of read, write and cas per key.
pub fn generator(opts: &Options) -> Gen {
    let values = opts.values.max(1);
    let read = Gen::repeat(Op::new("read", Value::Null));
    let write = Gen::source(move |ctx| Op::new("write", json!(ctx.rng.random_range(0..values))));
    let cas = Gen::source(move |ctx| {
        let expected = ctx.rng.random_range(0..values);
        let new = ctx.rng.random_range(0..values);
        Op::new("cas", json!([expected, new]))
    });
    let gen = Gen::mix(vec![read, write, cas]).per_key(PerKey {
        threads_per_key: opts.threads_per_key,
        ops_per_key: opts.ops_per_key,
        keys: opts.keys,
    });
    at_rate(gen, opts.rate)
}

/// The clients for `target`: each worker reads and writes under the workload's namespace.
pub fn clients(target: Target, opts: &Options) -> Arc<dyn ClientFactory> {
    let namespace = namespace(&opts.namespace, NAME);
    let sql = sql::RegisterSql::new(&namespace);
    connecting(target, move |conn, _node| {
        Box::new(RegisterClient {
            conn,
            sql: sql.clone(),
            namespace: namespace.clone(),
        })
    })
}

/// Checks a register history: linearizability per key against `cas-register`.
pub fn check(ops: &[Operation], opts: &Options) -> Vec<CheckerResult> {
    results(faultline_linearizability::check(
        ops,
        ModelSpec::CasRegister,
        &check_options(opts),
    ))
}

/// A checker that takes the history event by event while the run goes and ends with
/// [`check`]'s verdict (see [`faultline_linearizability::stream`]); [`results`] turns what
/// it finishes with into [`check`]'s results.
pub fn stream_checker(opts: &Options) -> SpecStream {
    SpecStream::new(ModelSpec::CasRegister, check_options(opts))
}

/// The workload's results from a linearizability report (or the error that the history
/// does not fit the model).
pub fn results(report: Result<Report, ModelError>) -> Vec<CheckerResult> {
    let result = match report {
        Ok(report) => report.to_checker_result(),
        Err(e) => faultline_workload_support::unreadable("linearizability", e.to_string()),
    };
    vec![result]
}

fn check_options(opts: &Options) -> CheckOptions {
    CheckOptions {
        time_limit: opts.check_time_limit,
        ..CheckOptions::default()
    }
}

struct RegisterClient {
    conn: DbConn,
    namespace: String,
    sql: sql::RegisterSql,
}

const REDIS_CAS: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// A stored register value as the history shows it: an integer, or `null` when absent.
fn register_value(
    key: &str,
    stored: Option<String>,
) -> Result<Value, faultline_workload_support::ClientError> {
    stored
        .map(|s| parse_int(key, &s).map(Value::from))
        .transpose()
        .map(|v| v.unwrap_or(Value::Null))
}

impl RegisterClient {
    async fn read(&mut self, key: &str) -> Completion {
        let stored = match &mut self.conn {
            DbConn::Etcd(c) => c.client.get(key).await,
            DbConn::Redis(r) => r.query::<Option<String>>(redis::cmd("GET").arg(key)).await,
            DbConn::Sql(c) => {
                return match self.sql.read(c, key).await {
                    Ok(v) => Completion::Ok(json!(v)),
                    Err(e) => completion(&e),
                }
            }
        };
        match stored.and_then(|s| register_value(key, s)) {
            Ok(v) => Completion::Ok(v),
            Err(e) => completion(&e),
        }
    }

    async fn write(&mut self, key: &str, value: i64) -> Completion {
        let done = match &mut self.conn {
            DbConn::Etcd(c) => c.client.put(key, &value.to_string()).await,
            DbConn::Redis(r) => r.query::<()>(redis::cmd("SET").arg(key).arg(value)).await,
            DbConn::Sql(c) => self.sql.write(c, key, value).await,
        };
        match done {
            Ok(()) => Completion::Ok(json!(value)),
            Err(e) => completion(&e),
        }
    }

    async fn cas(&mut self, key: &str, expected: i64, new: i64) -> Completion {
        let swapped = match &mut self.conn {
            DbConn::Etcd(c) => c
                .client
                .cas(key, Some(&expected.to_string()), &new.to_string())
                .await
                .map(|()| true),
            DbConn::Redis(r) => {
                let script = redis::Script::new(REDIS_CAS);
                r.script::<i64>(&script, &[key], &[expected.to_string(), new.to_string()])
                    .await
                    .map(|n| n == 1)
            }
            DbConn::Sql(c) => self.sql.cas(c, key, expected, new).await,
        };
        match swapped {
            Ok(true) => Completion::Ok(json!([expected, new])),
            Ok(false) => Completion::Fail(json!(COMPARE_FAILED)),
            Err(e) => completion(&e),
        }
    }
}

#[async_trait]
impl Client for RegisterClient {
    fn served_by(&self) -> Option<String> {
        self.conn.served_by()
    }

    async fn invoke(&mut self, op: &Op) -> Completion {
        let Some(key) = op.key.as_ref() else {
            return refuse("bad-op: register ops need a key");
        };
        // SQL keys live in the run's own table; the others under the namespace.
        let key = match self.conn {
            DbConn::Sql(_) => key.to_string(),
            _ => format!("{}/{}", self.namespace, key),
        };
        match (op.f.as_ref(), &op.value) {
            ("read", _) => self.read(&key).await,
            ("write", v) => match v.as_i64() {
                Some(v) => self.write(&key, v).await,
                None => refuse("bad-op: write needs an integer"),
            },
            ("cas", v) => match (
                v.get(0).and_then(Value::as_i64),
                v.get(1).and_then(Value::as_i64),
            ) {
                (Some(expected), Some(new)) => self.cas(&key, expected, new).await,
                _ => refuse("bad-op: cas needs [expected, new] integers"),
            },
            (f, _) => refuse(&format!("bad-op: the register workload has no {f:?}")),
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

    #[test]
    fn every_key_is_used_from_as_many_nodes_as_the_workers_allow() {
        for nodes in 1..=9 {
            for workers in 1..=40 {
                let t = threads_per_key(nodes, workers);
                assert_eq!(workers % t, 0, "{nodes} nodes, {workers} workers: {t}");
                assert!(t <= nodes.max(1), "{nodes} nodes, {workers} workers: {t}");
                // No larger group would fit.
                assert!(((t + 1)..=nodes.min(workers)).all(|u| workers % u != 0));
                // Consecutive workers of a group sit on distinct nodes.
                let spread: std::collections::BTreeSet<usize> = (0..t).map(|i| i % nodes).collect();
                assert_eq!(spread.len(), t);
            }
        }
        assert_eq!(threads_per_key(5, 10), 5);
        assert_eq!(threads_per_key(3, 10), 2);
    }

    #[test]
    fn generator_asks_for_read_write_cas_on_keys_in_turn() {
        let opts = Options {
            ops_per_key: 10,
            threads_per_key: 2,
            keys: Some(4),
            rate: None,
            ..Options::default()
        };
        let gen = generator(&opts);
        gen.check(4).unwrap();
        // 4 workers in 2 groups: group 0 (workers 0, 1) takes keys 0 and 2; each worker does
        // 5 of a key's 10 ops.
        let ops = requests(&gen, 7, 1, 4, 1000);
        assert_eq!(ops.len(), 10);
        assert!(ops[..5].iter().all(|o| o.key == Some(json!(0))));
        assert!(ops[5..].iter().all(|o| o.key == Some(json!(2))));
        let other = requests(&gen, 7, 0, 4, 1000);
        let fs: std::collections::BTreeSet<&str> =
            other.iter().chain(&ops).map(|o| o.f.as_ref()).collect();
        assert_eq!(fs.into_iter().collect::<Vec<_>>(), ["cas", "read", "write"]);
        for op in requests(&gen, 9, 2, 4, 1000) {
            match op.f.as_ref() {
                "write" => assert!((0..5).contains(&op.value.as_i64().unwrap())),
                "cas" => assert!(op
                    .value
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|v| (0..5).contains(&v.as_i64().unwrap()))),
                _ => assert_eq!(op.value, Value::Null),
            }
        }
        assert!(
            generator(&opts).check(3).is_err(),
            "3 workers cannot form pairs"
        );
    }

    #[test]
    fn generator_is_deterministic_by_seed() {
        let gen = generator(&Options {
            rate: None,
            ..Options::default()
        });
        assert_eq!(requests(&gen, 1, 0, 2, 50), requests(&gen, 1, 0, 2, 50));
        assert_ne!(requests(&gen, 1, 0, 2, 50), requests(&gen, 2, 0, 2, 50));
    }

    fn op(f: &'static str, value: Value) -> Op {
        Op {
            key: Some(json!(3)),
            ..Op::new(f, value)
        }
    }

    async fn etcd_client(replies: Vec<Reply>) -> (FakeEtcd, RegisterClient) {
        let fake = FakeEtcd::start(replies).await;
        let conn =
            EtcdConn::with_endpoint(&fake.endpoint, Duration::from_millis(500), false).unwrap();
        (
            fake,
            RegisterClient {
                conn: DbConn::Etcd(conn),
                namespace: "ns".into(),
                sql: sql::RegisterSql::new("ns"),
            },
        )
    }

    #[tokio::test]
    async fn etcd_ops_classify_results_and_errors() {
        let kv = |v: &str| json!({"kvs": [{"key": b64("ns/3"), "value": b64(v), "mod_revision": "2", "create_revision": "2", "version": "1"}]});
        let (fake, mut c) = etcd_client(vec![
            Reply::json(200, kv("4")),
            Reply::json(200, json!({})),
            Reply::json(200, json!({"header": {}})),
            Reply::json(200, json!({"succeeded": true})),
            Reply::json(200, json!({"succeeded": false})),
            Reply::grpc_error(14, "etcdserver: request timed out"),
            Reply::grpc_error(9, "etcdserver: not capable"),
            Reply::Close,
            Reply::Hang,
        ])
        .await;
        assert_eq!(
            c.invoke(&op("read", Value::Null)).await,
            Completion::Ok(json!(4))
        );
        assert_eq!(
            c.invoke(&op("read", Value::Null)).await,
            Completion::Ok(Value::Null),
            "absent is null"
        );
        assert_eq!(
            c.invoke(&op("write", json!(1))).await,
            Completion::Ok(json!(1))
        );
        assert_eq!(
            c.invoke(&op("cas", json!([1, 2]))).await,
            Completion::Ok(json!([1, 2]))
        );
        assert_eq!(
            c.invoke(&op("cas", json!([1, 2]))).await,
            Completion::Fail(json!("compare-failed"))
        );
        assert!(
            matches!(c.invoke(&op("write", json!(1))).await, Completion::Info(_)),
            "timed out in raft: may apply"
        );
        assert!(
            matches!(
                c.invoke(&op("cas", json!([0, 1]))).await,
                Completion::Fail(_)
            ),
            "refused before proposal"
        );
        assert!(
            matches!(
                c.invoke(&op("cas", json!([0, 1]))).await,
                Completion::Info(_)
            ),
            "connection lost mid-call"
        );
        assert!(
            matches!(
                c.invoke(&op("read", Value::Null)).await,
                Completion::Info(_)
            ),
            "no answer"
        );
        let sent = fake.requests().await;
        assert!(sent[0].starts_with("POST /v3/kv/range"), "{sent:?}");
        assert!(
            sent[3].starts_with("POST /v3/kv/txn") && sent[3].contains("\"VALUE\""),
            "{sent:?}"
        );
    }

    #[tokio::test]
    async fn etcd_refused_connection_fails_every_op() {
        let conn = EtcdConn::with_endpoint("http://127.0.0.1:1", Duration::from_millis(500), false)
            .unwrap();
        let mut c = RegisterClient {
            conn: DbConn::Etcd(conn),
            namespace: "ns".into(),
            sql: sql::RegisterSql::new("ns"),
        };
        for o in [
            op("read", Value::Null),
            op("write", json!(1)),
            op("cas", json!([1, 2])),
        ] {
            assert!(matches!(c.invoke(&o).await, Completion::Fail(_)), "{o:?}");
        }
    }

    #[tokio::test]
    async fn redis_ops_classify_results_and_errors() {
        let fake = FakeRedis::start(vec![
            Reply::redis_bulk(Some("2")),
            Reply::redis_bulk(None),
            Reply::Resp("+OK\r\n".into()),
            Reply::redis_int(1),
            Reply::redis_int(0),
            Reply::redis_error("READONLY You can't write against a read only replica."),
            Reply::Close,
            Reply::Hang,
        ])
        .await;
        let conn = RedisPrimary::direct("127.0.0.1", fake.port, Duration::from_millis(300));
        let mut c = RegisterClient {
            conn: DbConn::Redis(conn),
            namespace: "ns".into(),
            sql: sql::RegisterSql::new("ns"),
        };
        assert_eq!(
            c.invoke(&op("read", Value::Null)).await,
            Completion::Ok(json!(2))
        );
        assert_eq!(
            c.invoke(&op("read", Value::Null)).await,
            Completion::Ok(Value::Null)
        );
        assert_eq!(
            c.invoke(&op("write", json!(3))).await,
            Completion::Ok(json!(3))
        );
        assert_eq!(
            c.invoke(&op("cas", json!([3, 4]))).await,
            Completion::Ok(json!([3, 4]))
        );
        assert_eq!(
            c.invoke(&op("cas", json!([3, 4]))).await,
            Completion::Fail(json!("compare-failed"))
        );
        assert!(matches!(
            c.invoke(&op("write", json!(1))).await,
            Completion::Fail(_)
        ));
        assert!(matches!(
            c.invoke(&op("cas", json!([1, 2]))).await,
            Completion::Info(_)
        ));
        assert!(matches!(
            c.invoke(&op("write", json!(1))).await,
            Completion::Info(_)
        ));
        let sent = fake.commands().await;
        assert_eq!(&sent[..3], ["GET ns/3", "GET ns/3", "SET ns/3 3"]);
        assert!(
            sent[3].starts_with("EVALSHA") && sent[3].ends_with("1 ns/3 3 4"),
            "{sent:?}"
        );
    }

    #[tokio::test]
    async fn ops_without_key_or_with_bad_values_fail_without_being_sent() {
        let conn = RedisPrimary::direct("127.0.0.1", 1, Duration::from_millis(300));
        let mut c = RegisterClient {
            conn: DbConn::Redis(conn),
            namespace: "ns".into(),
            sql: sql::RegisterSql::new("ns"),
        };
        let mut keyless = op("read", Value::Null);
        keyless.key = None;
        assert_eq!(
            c.invoke(&keyless).await,
            Completion::Fail(json!("bad-op: register ops need a key"))
        );
        assert!(matches!(
            c.invoke(&op("cas", json!(1))).await,
            Completion::Fail(_)
        ));
    }

    fn hop(
        process: u64,
        f: &str,
        input: Value,
        output: Value,
        outcome: Outcome,
        at: (u64, u64),
    ) -> Operation {
        Operation {
            key: Some(json!(0)),
            error: (outcome == Outcome::Fail).then(|| json!(COMPARE_FAILED)),
            ..testing::op(process, f, input, output, outcome, at.0, Some(at.1))
        }
    }

    #[test]
    fn a_stale_read_is_nonlinearizable() {
        let ops = [
            hop(0, "write", json!(1), json!(1), Outcome::Ok, (0, 1)),
            hop(1, "read", Value::Null, json!(1), Outcome::Ok, (2, 3)),
            hop(0, "write", json!(2), json!(2), Outcome::Ok, (4, 5)),
            hop(1, "read", Value::Null, json!(1), Outcome::Ok, (6, 7)),
        ];
        let r = check(&ops, &Options::default());
        assert_eq!(r[0].checker, "linearizability");
        assert_eq!(r[0].verdict, Verdict::Invalid);
        assert_eq!(
            check(&ops[..3], &Options::default())[0].verdict,
            Verdict::Valid
        );
    }

    #[test]
    fn a_failed_compare_must_have_seen_another_value() {
        let ops = [
            hop(0, "write", json!(1), json!(1), Outcome::Ok, (0, 1)),
            hop(
                1,
                "cas",
                json!([1, 2]),
                json!([1, 2]),
                Outcome::Fail,
                (2, 3),
            ),
        ];
        assert_eq!(
            check(&ops, &Options::default())[0].verdict,
            Verdict::Invalid
        );
        let ok = [
            ops[0].clone(),
            hop(
                1,
                "cas",
                json!([0, 2]),
                json!([0, 2]),
                Outcome::Fail,
                (2, 3),
            ),
        ];
        assert_eq!(check(&ok, &Options::default())[0].verdict, Verdict::Valid);
    }

    #[test]
    fn a_history_the_model_cannot_read_is_unknown_with_a_reason() {
        let ops = [hop(0, "increment", json!(1), json!(1), Outcome::Ok, (0, 1))];
        let r = check(&ops, &Options::default());
        assert_eq!(r[0].verdict, Verdict::Unknown);
        assert!(
            r[0].reason.as_deref().unwrap_or("").contains("increment"),
            "{:?}",
            r[0].reason
        );
    }
}
