//! The transactional workloads, Jepsen's and Elle's: `append` (list-append) and `wr`
//! (rw-register). Each operation is one transaction, `f: "txn"`, whose value is a list of
//! micro-operations: `["append", k, v]` and `["r", k, null]` (completed as `["r", k, [v...]]`)
//! for list-append, `["w", k, v]` and `["r", k, null]` (completed as `["r", k, v]`) for
//! rw-register. The history is checked by `checkers/transactional` for the anomalies the
//! chosen consistency model proscribes (default: strict-serializable).
//!
//! Keys: each worker keeps [`Options::key_count`] active keys and retires a key once it has
//! written it its share of [`Options::max_writes_per_key`], taking the next unused key, so
//! lists stay short and every key's writes stay bounded (as Jepsen's generator does, but
//! without shared state: workers never coordinate, see `faultline_runner::Gen`). Values
//! written to a key are unique to it.
//!
//! - etcd: a transaction first reads every key it touches with one read-only Txn (values
//!   and mod revisions, at one revision; each range serializable with `--serializable-reads`).
//!   A read-only transaction is complete there. Otherwise it commits with one Txn that
//!   compares every touched key's mod revision with the one read (0: still absent) and puts
//!   each written key's final value; a failed compare is a definite `fail`
//!   (`compare-failed`), a timeout or a lost connection `info`. The compares make the values
//!   read the values at the commit's revision, so the reads are answered from them.
//! - Redis: one Lua script on the primary (atomic there) runs the micro-operations in order:
//!   RPUSH and LRANGE for list-append, SET and GET for rw-register.
//! - SQL (PostgreSQL, MySQL): one transaction at the chosen isolation level (`--isolation`),
//!   a row per key in the run's own table; reads select, appends upsert with a
//!   concatenation, writes upsert (see `sql.rs`). A serialization failure or deadlock is a
//!   definite `fail`; a lost connection or timeout at COMMIT `info`.

mod sql;

use async_trait::async_trait;
use faultline_history::{CheckerResult, Operation};
use faultline_runner::{Client, ClientFactory, Completion, Gen, Op};
use faultline_transactional::Model;
use faultline_workload_support::etcd::{self as etcd, EtcdConn};
use faultline_workload_support::redis::RedisPrimary;
use faultline_workload_support::sql::Table;
use faultline_workload_support::{
    at_rate, completion, connecting, namespace, refuse, unreadable, ClientError, DbConn, Target,
};
use rand::Rng;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The list-append workload's name for `faultline test --workload`.
pub const APPEND_NAME: &str = "append";
/// The rw-register workload's name for `faultline test --workload`.
pub const WR_NAME: &str = "wr";

/// Which kind of transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// List-append: `append` and `r` of whole lists.
    Append,
    /// Rw-register: `w` and `r` of single values.
    Wr,
}

impl Kind {
    /// The kind a workload name stands for.
    pub fn for_name(name: &str) -> Option<Kind> {
        match name {
            APPEND_NAME => Some(Kind::Append),
            WR_NAME => Some(Kind::Wr),
            _ => None,
        }
    }

    /// The write micro-operation's name: `append` or `w`.
    pub fn write_f(self) -> &'static str {
        match self {
            Kind::Append => "append",
            Kind::Wr => "w",
        }
    }
}

/// The transactional workloads' knobs (none depends on the seed).
#[derive(Clone, Debug)]
pub struct Options {
    /// List-append or rw-register.
    pub kind: Kind,
    /// Keys each worker has active at once (Jepsen's key-count).
    pub key_count: u32,
    /// Fewest micro-operations in a transaction.
    pub min_txn_length: u32,
    /// Most micro-operations in a transaction.
    pub max_txn_length: u32,
    /// Writes a key receives before it is retired, over all workers.
    pub max_writes_per_key: u32,
    /// The share of micro-operations that are reads, 0 to 1.
    pub read_fraction: f64,
    /// The consistency model the checker holds the database to.
    pub model: Model,
    /// Mean transactions a second over all workers; `None`: as fast as they can.
    pub rate: Option<f64>,
    /// Physical key prefix; `None`: a fresh one per workload, so old data never leaks in.
    pub namespace: Option<String>,
    /// Give up cycle searches (their classes unknown) after this long; `None`: no limit.
    pub check_time_limit: Option<Duration>,
}

impl Options {
    /// The defaults for `kind`: 5 active keys, 1 to 4 micro-operations, 32 writes per key,
    /// half reads, 100 transactions/s, checked for strict serializability.
    pub fn new(kind: Kind) -> Self {
        Options {
            kind,
            key_count: 5,
            min_txn_length: 1,
            max_txn_length: 4,
            max_writes_per_key: 32,
            read_fraction: 0.5,
            model: Model::StrictSerializable,
            rate: Some(100.0),
            namespace: None,
            check_time_limit: Some(Duration::from_secs(300)),
        }
    }

    /// The knobs checked, or one line naming the flag that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.key_count == 0 {
            return Err("--key-count: 0 keys; need at least 1".into());
        }
        if self.min_txn_length == 0 {
            return Err("--min-txn-length: 0; a transaction needs at least 1 operation".into());
        }
        if self.max_txn_length < self.min_txn_length {
            return Err(format!(
                "--max-txn-length: {} is below --min-txn-length {}",
                self.max_txn_length, self.min_txn_length
            ));
        }
        if self.max_writes_per_key == 0 {
            return Err("--max-writes-per-key: 0; need at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.read_fraction) {
            return Err(format!(
                "--read-fraction: {} is not between 0 and 1",
                self.read_fraction
            ));
        }
        Ok(())
    }
}

/// One worker's keys: the active ones and how often it wrote each.
#[derive(Debug, Default)]
struct WorkerKeys {
    active: Vec<u64>,
    written: HashMap<u64, u64>,
    next: u64,
}

/// What the workers ask for: transactions of `min..=max` micro-operations on the worker's
/// active keys, each a read with probability `read_fraction`, else a write of a value unique
/// to its key.
///
/// Every worker starts with keys `0..key_count`; it retires a key after writing it
/// `max(1, max_writes_per_key / workers)` times and takes the next key it has not used, so
/// workers move through the same keys at about the same pace (and contend on them), and no
/// key gets more than `max_writes_per_key` writes (at least one per worker). Worker `i` of
/// `n` writes values `i + 1, i + 1 + n, ...` to a key: unique per key.
pub fn generator(opts: &Options) -> Gen {
    let (kind, keys) = (opts.kind, u64::from(opts.key_count.max(1)));
    let (min, max) = (opts.min_txn_length.max(1), opts.max_txn_length);
    let (max_writes, read_fraction) = (u64::from(opts.max_writes_per_key), opts.read_fraction);
    // Each worker's key state, by worker index; a worker's state depends only on its own
    // draws (reset when its generator starts), so sequences stay deterministic.
    let state: Mutex<BTreeMap<usize, WorkerKeys>> = Mutex::default();
    let source = Gen::source(move |ctx| {
        let mut all = state.lock().unwrap_or_else(|p| p.into_inner());
        let w = all.entry(ctx.share.index).or_default();
        if ctx.n == 0 {
            *w = WorkerKeys {
                active: (0..keys).collect(),
                written: HashMap::new(),
                next: keys,
            };
        }
        let workers = ctx.share.count.max(1) as u64;
        let budget = (max_writes / workers).max(1);
        let len = ctx.rng.random_range(min..=max.max(min));
        let mut mops = Vec::with_capacity(len as usize);
        for _ in 0..len {
            let slot = ctx.rng.random_range(0..w.active.len());
            let key = w.active[slot];
            if ctx.rng.random_bool(read_fraction) {
                mops.push(json!(["r", key, null]));
                continue;
            }
            let n = w.written.entry(key).or_insert(0);
            let value = *n * workers + ctx.share.index as u64 + 1;
            *n += 1;
            if *n >= budget {
                w.written.remove(&key);
                w.active[slot] = w.next;
                w.next += 1;
            }
            mops.push(json!([kind.write_f(), key, value]));
        }
        Op::new("txn", Value::Array(mops))
    });
    at_rate(source, opts.rate)
}

/// The clients for `target`: each transaction runs under the workload's namespace.
pub fn clients(target: Target, opts: &Options) -> Arc<dyn ClientFactory> {
    let namespace = namespace(&opts.namespace, opts.kind.write_f());
    let (kind, serializable_reads) = (opts.kind, target.serializable_reads);
    let table = sql::table(&namespace);
    connecting(target, move |conn, _node| {
        Box::new(TxnClient {
            conn,
            txn: Txns {
                namespace: namespace.clone(),
                kind,
                serializable_reads,
                table: table.clone(),
            },
        })
    })
}

/// Checks a transactional history for the anomalies `opts.model` proscribes.
pub fn check(ops: &[Operation], opts: &Options) -> Vec<CheckerResult> {
    let check_opts = faultline_transactional::Options {
        model: opts.model,
        time_limit: opts.check_time_limit,
        ..faultline_transactional::Options::default()
    };
    let result = match faultline_transactional::check(ops, &check_opts) {
        Ok(report) => report.to_checker_result(),
        Err(e) => unreadable(
            faultline_transactional::CHECKER,
            format!("event {}: {}", e.event, e.message),
        ),
    };
    vec![result]
}

/// One micro-operation of a request.
#[derive(Clone, Debug, PartialEq)]
enum Mop {
    /// Read key `k` (logical).
    Read(Value),
    /// Append or write `v` to key `k`.
    Write(Value, i64),
}

impl Mop {
    fn key(&self) -> &Value {
        match self {
            Mop::Read(k) | Mop::Write(k, _) => k,
        }
    }
}

/// The micro-operations of a `txn` request, or why it is malformed.
fn parse_mops(kind: Kind, value: &Value) -> Result<Vec<Mop>, String> {
    let items = value
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or("bad-op: txn needs a non-empty list of micro-operations")?;
    items
        .iter()
        .map(|m| {
            let (f, k, v) = (m.get(0).and_then(Value::as_str), m.get(1), m.get(2));
            let key = k
                .filter(|k| k.is_i64() || k.is_u64() || k.is_string())
                .ok_or_else(|| format!("bad-op: {m} has no integer or string key"))?;
            match (f, v) {
                (Some("r"), _) => Ok(Mop::Read(key.clone())),
                (Some(w), Some(v)) if w == kind.write_f() => v
                    .as_i64()
                    .map(|v| Mop::Write(key.clone(), v))
                    .ok_or_else(|| format!("bad-op: {m} writes no integer")),
                _ => Err(format!(
                    "bad-op: {m} is neither [\"r\", k, null] nor [\"{}\", k, v]",
                    kind.write_f()
                )),
            }
        })
        .collect()
}

/// A key's logical name as part of a physical key: strings as they are, numbers as digits.
fn key_text(k: &Value) -> String {
    k.as_str().map_or_else(|| k.to_string(), str::to_string)
}

/// A list as stored in etcd: its elements separated by spaces.
fn parse_list(key: &str, text: &str) -> Result<Vec<i64>, ClientError> {
    text.split_whitespace()
        .map(|e| {
            e.parse().map_err(|_| {
                ClientError::Indeterminate(format!("key {key} holds {text:?}, not a list"))
            })
        })
        .collect()
}

/// A key's state as a transaction sees it: absent, a register's value or a list.
#[derive(Clone, Debug, PartialEq)]
enum Stored {
    Register(Option<i64>),
    List(Vec<i64>),
}

impl Stored {
    fn parse(kind: Kind, key: &str, text: Option<&str>) -> Result<Stored, ClientError> {
        Ok(match kind {
            Kind::Append => Stored::List(
                text.map(|t| parse_list(key, t))
                    .transpose()?
                    .unwrap_or_default(),
            ),
            Kind::Wr => Stored::Register(
                text.map(|t| faultline_workload_support::parse_int(key, t))
                    .transpose()?,
            ),
        })
    }

    fn write(&mut self, v: i64) {
        match self {
            Stored::Register(r) => *r = Some(v),
            Stored::List(l) => l.push(v),
        }
    }

    /// What a read shows in the history.
    fn shown(&self) -> Value {
        match self {
            Stored::Register(r) => json!(r),
            Stored::List(l) => json!(l),
        }
    }

    /// How etcd stores it.
    fn text(&self) -> String {
        match self {
            Stored::Register(r) => r.map_or_else(String::new, |v| v.to_string()),
            Stored::List(l) => l.iter().map(i64::to_string).collect::<Vec<_>>().join(" "),
        }
    }
}

struct TxnClient {
    conn: DbConn,
    txn: Txns,
}

/// How a client runs transactions: where its keys live, which kind, which reads.
struct Txns {
    namespace: String,
    kind: Kind,
    serializable_reads: bool,
    /// The SQL families' table.
    table: Table,
}

/// The history's completed value: the micro-operations with each read's result.
fn completed(kind: Kind, mops: &[Mop], reads: Vec<Value>) -> Value {
    let mut reads = reads.into_iter();
    Value::Array(
        mops.iter()
            .map(|m| match m {
                Mop::Read(k) => json!(["r", k, reads.next().unwrap_or(Value::Null)]),
                Mop::Write(k, v) => json!([kind.write_f(), k, v]),
            })
            .collect(),
    )
}

impl Txns {
    fn physical(&self, k: &Value) -> String {
        format!("{}/{}", self.namespace, key_text(k))
    }

    /// The transaction on etcd: the reads' results, in order.
    async fn etcd(&self, c: &EtcdConn, mops: &[Mop]) -> Result<Vec<Value>, ClientError> {
        let mut touched: Vec<String> = Vec::new();
        for m in mops {
            let k = self.physical(m.key());
            if !touched.contains(&k) {
                touched.push(k);
            }
        }
        let writes = mops.iter().any(|m| matches!(m, Mop::Write(..)));
        let gets = touched
            .iter()
            .map(|k| {
                let mut get = etcd::get(k);
                if self.serializable_reads {
                    get["request_range"]["serializable"] = json!(true);
                }
                get
            })
            .collect();
        // A writing transaction's read phase wrote nothing: whatever goes wrong there is
        // definite.
        let definite = |e: ClientError| {
            if writes {
                ClientError::Rejected(format!(
                    "read before commit failed, nothing written: {}",
                    e.history_error()
                ))
            } else {
                e
            }
        };
        let read = c.txn(vec![], gets, vec![]).await.map_err(definite)?;
        if read.responses.len() != touched.len() {
            return Err(definite(ClientError::Indeterminate(format!(
                "expected {} ranges, got {}",
                touched.len(),
                read.responses.len()
            ))));
        }
        // Each touched key, in order of first touch: its state as the transaction goes, the
        // mod revision read, and whether the transaction writes it.
        let mut state: Vec<(Stored, i64, bool)> = Vec::with_capacity(touched.len());
        for (k, r) in touched.iter().zip(&read.responses) {
            let kv = etcd::kvs(&r["response_range"]["kvs"])
                .map_err(definite)?
                .into_iter()
                .find(|kv| kv.key == *k);
            let stored = Stored::parse(self.kind, k, kv.as_ref().map(|kv| kv.value.as_str()))
                .map_err(definite)?;
            state.push((stored, kv.map_or(0, |kv| kv.mod_revision), false));
        }
        let mut reads = Vec::new();
        for m in mops {
            let k = self.physical(m.key());
            let i = touched.iter().position(|t| *t == k).expect("touched");
            match m {
                Mop::Read(_) => reads.push(state[i].0.shown()),
                Mop::Write(_, v) => {
                    state[i].0.write(*v);
                    state[i].2 = true;
                }
            }
        }
        if !writes {
            return Ok(reads);
        }
        let compares = touched
            .iter()
            .zip(&state)
            .map(|(k, (_, rev, _))| etcd::mod_revision_is(k, *rev))
            .collect();
        let puts = touched
            .iter()
            .zip(&state)
            .filter(|(_, (_, _, written))| *written)
            .map(|(k, (stored, _, _))| etcd::put(k, &stored.text()))
            .collect();
        if c.txn(compares, puts, vec![]).await?.succeeded {
            Ok(reads)
        } else {
            Err(ClientError::CompareFailed)
        }
    }

    /// The transaction on Redis, as one script: the reads' results, in order.
    async fn redis(&self, r: &mut RedisPrimary, mops: &[Mop]) -> Result<Vec<Value>, ClientError> {
        let keys: Vec<String> = mops.iter().map(|m| self.physical(m.key())).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        // An empty argument marks a read: values written are integers, never empty.
        let args: Vec<String> = mops
            .iter()
            .map(|m| match m {
                Mop::Read(_) => String::new(),
                Mop::Write(_, v) => v.to_string(),
            })
            .collect();
        let script = redis::Script::new(match self.kind {
            Kind::Append => REDIS_APPEND,
            Kind::Wr => REDIS_WR,
        });
        let out: Vec<redis::Value> = r.script(&script, &keys, &args).await?;
        if out.len() != mops.len() {
            return Err(ClientError::Indeterminate(format!(
                "the script returned {} results for {} operations",
                out.len(),
                mops.len()
            )));
        }
        let mut reads = Vec::new();
        for ((m, v), key) in mops.iter().zip(out).zip(&keys) {
            if let Mop::Read(_) = m {
                reads.push(redis_read(self.kind, key, v)?);
            }
        }
        Ok(reads)
    }
}

/// A read's result from the script's reply: a list of integers or a register's value.
fn redis_read(kind: Kind, key: &str, v: redis::Value) -> Result<Value, ClientError> {
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        redis::Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    let int = |s: &str| faultline_workload_support::parse_int(key, s);
    match (kind, &v) {
        (Kind::Append, redis::Value::Array(items)) => items
            .iter()
            .map(|i| {
                text(i)
                    .ok_or_else(|| {
                        ClientError::Indeterminate(format!("key {key}: {i:?} in a list"))
                    })
                    .and_then(|s| int(&s))
            })
            .collect::<Result<Vec<i64>, _>>()
            .map(|l| json!(l)),
        (Kind::Wr, redis::Value::Nil) => Ok(Value::Null),
        (Kind::Wr, v) => match text(v) {
            Some(s) => int(&s).map(Value::from),
            None => Err(ClientError::Indeterminate(format!("key {key}: read {v:?}"))),
        },
        (Kind::Append, v) => Err(ClientError::Indeterminate(format!(
            "key {key}: read {v:?}, not a list"
        ))),
    }
}

/// List-append on Redis: `ARGV[i]` empty reads `KEYS[i]`, else appends it.
const REDIS_APPEND: &str = r"
local out = {}
for i, key in ipairs(KEYS) do
  if ARGV[i] == '' then
    out[i] = redis.call('LRANGE', key, 0, -1)
  else
    out[i] = redis.call('RPUSH', key, ARGV[i])
  end
end
return out
";

/// Rw-register on Redis: `ARGV[i]` empty reads `KEYS[i]` (false when absent), else sets it.
const REDIS_WR: &str = r"
local out = {}
for i, key in ipairs(KEYS) do
  if ARGV[i] == '' then
    out[i] = redis.call('GET', key)
  else
    redis.call('SET', key, ARGV[i])
    out[i] = 1
  end
end
return out
";

#[async_trait]
impl Client for TxnClient {
    fn served_by(&self) -> Option<String> {
        self.conn.served_by()
    }

    async fn invoke(&mut self, op: &Op) -> Completion {
        if op.f != "txn" {
            return refuse(&format!(
                "bad-op: the transactional workloads have no {:?}",
                op.f
            ));
        }
        let mops = match parse_mops(self.txn.kind, &op.value) {
            Ok(m) => m,
            Err(e) => return refuse(&e),
        };
        let result = match &mut self.conn {
            DbConn::Etcd(c) => self.txn.etcd(c, &mops).await,
            DbConn::Redis(r) => self.txn.redis(r, &mops).await,
            DbConn::Sql(c) => sql::run(c, &self.txn.table, self.txn.kind, &mops).await,
        };
        match result {
            Ok(reads) => Completion::Ok(completed(self.txn.kind, &mops, reads)),
            Err(e) => completion(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_history::{testing, Outcome, Verdict};
    use faultline_workload_support::etcd::b64;
    use faultline_workload_support::fake::{FakeEtcd, FakeRedis, Reply};
    use faultline_workload_support::testing::requests;

    fn opts(kind: Kind) -> Options {
        Options {
            rate: None,
            ..Options::new(kind)
        }
    }

    #[test]
    fn transactions_have_the_asked_lengths_and_unique_values_per_key() {
        let o = Options {
            key_count: 3,
            min_txn_length: 2,
            max_txn_length: 5,
            max_writes_per_key: 8,
            read_fraction: 0.25,
            ..opts(Kind::Append)
        };
        let gen = generator(&o);
        let workers = 4;
        let mut writes: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        let (mut reads, mut total) = (0, 0);
        for w in 0..workers {
            let ops = requests(&gen, 5, w, workers, 400);
            assert_eq!(ops.len(), 400);
            assert_eq!(ops, requests(&gen, 5, w, workers, 400), "deterministic");
            assert_ne!(ops, requests(&gen, 6, w, workers, 400), "seeded");
            for op in &ops {
                assert_eq!(op.f, "txn");
                let mops = op.value.as_array().unwrap();
                assert!((2..=5).contains(&mops.len()), "{op:?}");
                let mut active = std::collections::BTreeSet::new();
                for m in mops {
                    let key = m[1].as_u64().unwrap();
                    active.insert(key);
                    total += 1;
                    match m[0].as_str().unwrap() {
                        "r" => {
                            assert!(m[2].is_null());
                            reads += 1;
                        }
                        "append" => writes.entry(key).or_default().push(m[2].as_u64().unwrap()),
                        other => panic!("{other}"),
                    }
                }
                assert!(active.len() <= 3 + 5, "a txn touches active keys only");
            }
        }
        let share = f64::from(reads) / f64::from(total);
        assert!((0.18..0.32).contains(&share), "read share {share}");
        assert!(writes.len() > 10, "keys are retired and replaced");
        for (key, values) in &writes {
            assert!(values.len() <= 8, "key {key}: {} writes", values.len());
            let mut unique = values.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), values.len(), "key {key}: {values:?}");
        }
        let wr = requests(&generator(&opts(Kind::Wr)), 1, 0, 1, 50);
        assert!(wr
            .iter()
            .flat_map(|o| o.value.as_array().unwrap())
            .any(|m| m[0] == "w"));
    }

    #[test]
    fn a_reading_only_generator_writes_nothing_and_bad_knobs_are_named() {
        let o = Options {
            read_fraction: 1.0,
            ..opts(Kind::Wr)
        };
        let ops = requests(&generator(&o), 3, 0, 2, 100);
        assert!(ops
            .iter()
            .flat_map(|o| o.value.as_array().unwrap())
            .all(|m| m[0] == "r"));
        let bad = |f: &dyn Fn(&mut Options)| {
            let mut o = opts(Kind::Append);
            f(&mut o);
            o.validate().unwrap_err()
        };
        assert!(bad(&|o| o.key_count = 0).starts_with("--key-count:"));
        assert!(bad(&|o| o.min_txn_length = 0).starts_with("--min-txn-length:"));
        assert!(bad(&|o| o.max_txn_length = 0).starts_with("--max-txn-length: 0 is below"));
        assert!(bad(&|o| o.max_writes_per_key = 0).starts_with("--max-writes-per-key:"));
        assert!(bad(&|o| o.read_fraction = f64::NAN).starts_with("--read-fraction: NaN"));
        assert!(opts(Kind::Wr).validate().is_ok());
    }

    fn client(conn: DbConn, kind: Kind, serializable_reads: bool) -> TxnClient {
        TxnClient {
            conn,
            txn: Txns {
                namespace: "t".into(),
                kind,
                serializable_reads,
                table: sql::table("t"),
            },
        }
    }

    fn etcd_client(fake: &FakeEtcd, kind: Kind, serializable_reads: bool) -> TxnClient {
        let c = EtcdConn::with_endpoint(&fake.endpoint, Duration::from_millis(400), false).unwrap();
        client(DbConn::Etcd(c), kind, serializable_reads)
    }

    /// A read-phase reply: each key's value and mod revision, `None` when absent.
    fn ranges(kvs: &[(&str, Option<(&str, i64)>)]) -> Reply {
        let responses: Vec<Value> = kvs
            .iter()
            .map(|(k, v)| match v {
                Some((v, rev)) => json!({"response_range": {"kvs": [{"key": b64(k), "value": b64(v), "mod_revision": rev.to_string(), "create_revision": "1"}]}}),
                None => json!({"response_range": {}}),
            })
            .collect();
        Reply::json(200, json!({"succeeded": true, "responses": responses}))
    }

    fn txn(value: Value) -> Op {
        Op::new("txn", value)
    }

    #[tokio::test]
    async fn etcd_appends_commit_guarded_by_every_touched_keys_revision() {
        let fake = FakeEtcd::start(vec![
            ranges(&[("t/1", Some(("3 4", 7))), ("t/2", None)]),
            Reply::json(200, json!({"succeeded": true})),
            ranges(&[("t/1", Some(("3 4 9", 8)))]),
            Reply::json(200, json!({"succeeded": false})),
        ])
        .await;
        let mut c = etcd_client(&fake, Kind::Append, false);
        let t = json!([
            ["r", 1, null],
            ["append", 1, 9],
            ["append", 2, 1],
            ["r", 1, null],
            ["r", 2, null]
        ]);
        assert_eq!(
            c.invoke(&txn(t)).await,
            Completion::Ok(json!([
                ["r", 1, [3, 4]],
                ["append", 1, 9],
                ["append", 2, 1],
                ["r", 1, [3, 4, 9]],
                ["r", 2, [1]]
            ]))
        );
        let sent = fake.requests().await;
        assert!(!sent[0].contains("serializable"), "{sent:?}");
        let commit: Value = serde_json::from_str(&sent[1][sent[1].find('{').unwrap()..]).unwrap();
        assert_eq!(
            commit["compare"],
            json!([
                etcd::mod_revision_is("t/1", 7),
                etcd::mod_revision_is("t/2", 0)
            ])
        );
        assert_eq!(
            commit["success"],
            json!([etcd::put("t/1", "3 4 9"), etcd::put("t/2", "1")])
        );
        assert_eq!(
            c.invoke(&txn(json!([["append", 1, 5]]))).await,
            Completion::Fail(json!("compare-failed")),
            "another transaction committed in between"
        );
    }

    #[tokio::test]
    async fn etcd_read_only_transactions_are_one_read_and_may_be_serializable() {
        let fake = FakeEtcd::start(vec![
            ranges(&[("t/1", Some(("5", 3))), ("t/2", None)]),
            Reply::grpc_error(14, "etcdserver: request timed out"),
        ])
        .await;
        let mut c = etcd_client(&fake, Kind::Wr, true);
        let t = json!([["r", 1, null], ["r", 2, null], ["r", 1, null]]);
        assert_eq!(
            c.invoke(&txn(t.clone())).await,
            Completion::Ok(json!([["r", 1, 5], ["r", 2, null], ["r", 1, 5]]))
        );
        assert!(matches!(c.invoke(&txn(t)).await, Completion::Info(_)));
        let sent = fake.requests().await;
        assert_eq!(sent.len(), 2, "no commit for a read-only transaction");
        assert_eq!(
            sent[0].matches("\"serializable\":true").count(),
            2,
            "{sent:?}"
        );
    }

    #[tokio::test]
    async fn etcd_timeouts_are_info_only_once_the_commit_was_sent() {
        let fake = FakeEtcd::start(vec![
            Reply::grpc_error(14, "etcdserver: request timed out"),
            ranges(&[("t/1", None)]),
            Reply::Hang,
        ])
        .await;
        let mut c = etcd_client(&fake, Kind::Wr, false);
        let w = txn(json!([["w", 1, 3]]));
        assert!(
            matches!(c.invoke(&w).await, Completion::Fail(_)),
            "the read phase wrote nothing"
        );
        assert!(
            matches!(c.invoke(&w).await, Completion::Info(_)),
            "the commit may have applied"
        );
        assert!(
            matches!(c.invoke(&txn(json!([["w", 1, "x"]]))).await, Completion::Fail(e) if e.as_str().unwrap().starts_with("bad-op")),
        );
        assert!(matches!(
            c.invoke(&txn(json!([]))).await,
            Completion::Fail(_)
        ));
    }

    #[tokio::test]
    async fn redis_runs_each_transaction_as_one_script() {
        let fake = FakeRedis::start(vec![
            Reply::Resp(
                "*3\r\n*2\r\n$1\r\n3\r\n$1\r\n4\r\n:3\r\n*3\r\n$1\r\n3\r\n$1\r\n4\r\n$1\r\n9\r\n"
                    .into(),
            ),
            Reply::Resp("*2\r\n$-1\r\n:1\r\n".into()),
            Reply::Close,
            Reply::redis_error("READONLY You can't write against a read only replica."),
        ])
        .await;
        let conn = || {
            DbConn::Redis(RedisPrimary::direct(
                "127.0.0.1",
                fake.port,
                Duration::from_millis(400),
            ))
        };
        let mut append = client(conn(), Kind::Append, false);
        assert_eq!(
            append
                .invoke(&txn(json!([
                    ["r", 1, null],
                    ["append", 1, 9],
                    ["r", 1, null]
                ])))
                .await,
            Completion::Ok(json!([
                ["r", 1, [3, 4]],
                ["append", 1, 9],
                ["r", 1, [3, 4, 9]]
            ]))
        );
        let mut wr = client(conn(), Kind::Wr, false);
        assert_eq!(
            wr.invoke(&txn(json!([["r", 2, null], ["w", 2, 7]]))).await,
            Completion::Ok(json!([["r", 2, null], ["w", 2, 7]]))
        );
        assert!(matches!(
            wr.invoke(&txn(json!([["w", 2, 8]]))).await,
            Completion::Info(_)
        ));
        assert!(matches!(
            wr.invoke(&txn(json!([["w", 2, 8]]))).await,
            Completion::Fail(_)
        ));
        let sent = fake.commands().await;
        assert!(
            sent[0].starts_with("EVALSHA ") && sent[0].ends_with(" 3 t/1 t/1 t/1  9 "),
            "{sent:?}"
        );
    }

    fn op_at(p: u64, value: Value, out: Value, at: u64) -> Operation {
        testing::op(p, "txn", value, out, Outcome::Ok, at, Some(at + 1))
    }

    #[test]
    fn the_check_is_the_transactional_checker_with_the_chosen_model() {
        // T0 appends 1 and completes; T1 starts after and reads an empty list: a stale read,
        // wrong only for a model with real time.
        let ops = vec![
            op_at(0, json!([["append", 1, 1]]), json!([["append", 1, 1]]), 0),
            op_at(1, json!([["r", 1, null]]), json!([["r", 1, []]]), 2),
        ];
        let strict = check(&ops, &opts(Kind::Append));
        assert_eq!(strict[0].checker, "transactional");
        assert_eq!(strict[0].verdict, Verdict::Invalid);
        let serializable = Options {
            model: Model::Serializable,
            ..opts(Kind::Append)
        };
        assert_eq!(check(&ops, &serializable)[0].verdict, Verdict::Valid);
        let garbled = vec![op_at(0, json!("x"), json!("x"), 0)];
        assert_eq!(
            check(&garbled, &opts(Kind::Append))[0].verdict,
            Verdict::Unknown
        );
    }
}
