//! The lock workload: processes take a lease lock, write `{token, holder}` to a protected
//! register while they believe they hold it, and release it (`acquire`, `write`, `release`,
//! over and over, per worker).
//!
//! A lease lock is only as good as its lease: a holder that stalls longer than the lease
//! (a paused node, a clock jumping forward on the Redis primary) loses the lock while still
//! believing it holds it, and two holders overlap. The plain variant ([`NAME`]) is checked
//! for that with lease semantics (checkers/lock): real-time overlap of definite holds, where
//! a silent holder's hold ends one lease after its last successful action, and writes that
//! succeeded after the lease ran out and the lock went to another process. The `mutex`
//! linearizability model is not run: it knows no leases, so a holder whose lease simply ran
//! out (its release fails `lock-lost`) would hold its mutex forever and make every later
//! acquire look nonlinearizable. The fenced variant ([`FENCED_NAME`])
//! passes the lock's fencing token with every write, and the storage rejects a token lower
//! than one it already accepted; it is checked for stale tokens accepted (overlapping holds
//! are expected there and only counted in the stats: fencing is what makes them harmless).
//!
//! - etcd: acquire grants a lease of [`Options::lease_ttl`] and takes the lock with etcd's
//!   lock API (waiting while another process holds it); the token is the lock key's create
//!   revision, which grows with every acquisition. While waiting and while holding, a
//!   keepalive renews the lease (unless [`Options::keepalive`] is off), so only a holder cut
//!   off from the cluster loses it. The fenced write is a transaction that compares the
//!   token (zero-padded, so byte order is numeric order) with the highest one accepted.
//!   Release deletes the lock key only if it is still ours, then revokes the lease.
//! - Redis: acquire is a Lua script: INCR a token counter, then `SET lock holder NX PX ttl`
//!   (fails at once if the lock is taken); the keepalive extends the expiry only while the
//!   value is still ours; the fenced write is a Lua script that rejects a lower token;
//!   release is a Lua compare-and-delete.
//! - SQL (PostgreSQL, MySQL/MariaDB): a lease row in the run's table, each step one
//!   transaction that locks the row, expiry by the database's clock; the keepalive renews
//!   on a connection of its own (`sql.rs`, which says why not advisory locks).
//!
//! A process that does not hold the lock (its acquire failed, or it is a fresh process after
//! an `info`) fails its write and release at once (`not-held`): nothing is sent. The token
//! is known only to the client, so a write's `{token, holder}` is in its completion's value.
//!
//! Renewals are evidence the checker needs: a holder that waited for the lock, or held it,
//! longer than one lease is still certainly holding it if a keepalive succeeded meanwhile.
//! The `ok` value of an acquire or a write therefore carries `lease_renewed_ns` when a
//! keepalive of the hold's lease has succeeded: when the latest successful one was sent,
//! in ns after the operation began (negative: before). The checker adds it to the
//! operation's invoke time, which the recorder stamps before the client begins, so the
//! renewal it places is never later than the real one.
//!
//! On etcd, the `ok` value of an acquire and of a write also carries `revision`: the grant's
//! place in etcd's one order of changes (the Lock response's header, from the read that
//! found every older waiter's key gone) and the write's. A write that landed after another
//! process's grant on a higher token was made without the lock, which the checker can tell
//! with no clock at all (`write-after-lock-moved`).

use async_trait::async_trait;
use faultline_history::{CheckerResult, Operation, Outcome};
use faultline_lock_checker::LockOptions;
use faultline_runner::{Client, ClientFactory, Completion, Gen, Op};
use faultline_workload_support::etcd::{self as etcd, EtcdConn};
use faultline_workload_support::sql::SqlConn;
use faultline_workload_support::{
    at_rate, completion, connecting, namespace, refuse, unreadable, ClientError, DbConn, Target,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

mod sql;

/// The plain variant's name for `faultline test --workload`.
pub const NAME: &str = "lock";
/// The fenced variant's name for `faultline test --workload`.
pub const FENCED_NAME: &str = "lock-fenced";

/// The lock workload's knobs (none depends on the seed).
#[derive(Clone, Debug)]
pub struct Options {
    /// Writes carry a fencing token that the storage checks.
    pub fenced: bool,
    /// The lock's lease; etcd rounds it up to whole seconds (and to its minimum TTL).
    pub lease_ttl: Duration,
    /// Renew the lease while waiting for and holding the lock.
    pub keepalive: bool,
    /// Mean operations a second over all workers; `None`: as fast as they can.
    pub rate: Option<f64>,
    /// Physical key prefix; `None`: a fresh one per workload, so old data never leaks in.
    pub namespace: Option<String>,
    /// Give up the mutex linearizability check (verdict unknown) after this long.
    pub check_time_limit: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fenced: false,
            lease_ttl: Duration::from_secs(2),
            keepalive: true,
            rate: Some(20.0),
            namespace: None,
            check_time_limit: Some(Duration::from_secs(300)),
        }
    }
}

impl Options {
    /// The default options of the variant called `name` ([`NAME`] or [`FENCED_NAME`]).
    pub fn for_name(name: &str) -> Option<Options> {
        match name {
            NAME => Some(Options::default()),
            FENCED_NAME => Some(Options {
                fenced: true,
                ..Options::default()
            }),
            _ => None,
        }
    }
}

/// What each worker asks for: acquire, write, release, acquire, ...
pub fn generator(opts: &Options) -> Gen {
    let gen = Gen::source(|ctx| match ctx.n % 3 {
        0 => Op::new("acquire", Value::Null),
        1 => Op::new("write", Value::Null),
        _ => Op::new("release", Value::Null),
    });
    at_rate(gen, opts.rate)
}

/// The final phase, after the heal: every worker releases once (a no-op unless it holds).
pub fn final_generator() -> Gen {
    Gen::repeat(Op::new("release", Value::Null))
        .once()
        .each_thread()
}

/// The clients for `target` (its request timeout also bounds how long etcd's acquire waits
/// for the lock); reads are never serializable here.
pub fn clients(target: Target, opts: &Options) -> Arc<dyn ClientFactory> {
    let prefix = namespace(
        &opts.namespace,
        if opts.fenced { FENCED_NAME } else { NAME },
    );
    let settings = Settings {
        keys: Keys::under(&prefix),
        sql: sql::LockSql::new(&prefix, opts.lease_ttl),
        fenced: opts.fenced,
        ttl: opts.lease_ttl,
        keepalive: opts.keepalive,
    };
    let opened = AtomicU64::new(0);
    let target = Target {
        serializable_reads: false,
        ..target
    };
    connecting(target, move |conn, node| {
        let n = opened.fetch_add(1, Ordering::Relaxed);
        Box::new(LockClient {
            conn,
            settings: settings.clone(),
            holder: format!("{node}#{n}"),
            held: None,
        })
    })
}

/// Checks a lock history with lease semantics ([`Options::lease_ttl`]). Plain: overlapping
/// definite holds and writes after the lease was lost (`lock-overlap`). Fenced: stale tokens accepted (`lock-fencing`), with the
/// overlapping holds counted in its stats.
pub fn check(ops: &[Operation], opts: &Options) -> Vec<CheckerResult> {
    // The lease as requested; etcd may round it up, never down, so holds judged with it
    // are never longer than the real ones.
    let lease = LockOptions {
        lease_ns: Some(u64::try_from(opts.lease_ttl.as_nanos()).unwrap_or(u64::MAX)),
    };
    let overlap = faultline_lock_checker::check_overlap(ops, &lease).unwrap_or_else(|e| {
        unreadable(
            faultline_lock_checker::OVERLAP_CHECKER,
            format!("event {}: {}", e.event, e.message),
        )
    });
    if !opts.fenced {
        return vec![overlap];
    }
    let writes = fenced_writes(ops);
    let mut fencing = faultline_lock_checker::check_fencing(&writes).unwrap_or_else(|e| {
        unreadable(
            faultline_lock_checker::FENCING_CHECKER,
            format!("event {}: {}", e.event, e.message),
        )
    });
    let stats = match &mut fencing.stats {
        Value::Object(m) => m,
        other => {
            *other = json!({});
            other.as_object_mut().expect("just made an object")
        }
    };
    stats.insert("overlapping-holds".into(), json!(overlap.anomalies.len()));
    vec![fencing]
}

/// The writes as the fencing checker wants them: `{token, holder}` as the argument. A
/// write's token is known only to its client, so it comes from the `ok` completion; writes
/// that did not complete `ok` carry none and cannot have been accepted by definition of the
/// checker (only `ok` writes count), so they are left out.
fn fenced_writes(ops: &[Operation]) -> Vec<Operation> {
    ops.iter()
        .filter(|o| o.f == "write")
        .filter_map(|o| {
            if o.input.get("token").is_some() {
                return Some(o.clone());
            }
            (o.outcome == Outcome::Ok && o.output.get("token").is_some()).then(|| Operation {
                input: o.output.clone(),
                ..o.clone()
            })
        })
        .collect()
}

/// The keys one workload uses.
#[derive(Clone, Debug)]
struct Keys {
    /// etcd: the lock's name (etcd makes a key per waiter under it); Redis: the lock key.
    lock: String,
    /// Redis: the fencing token counter.
    tokens: String,
    /// The protected register.
    register: String,
    /// Fenced variant: the highest token the register accepted.
    max_token: String,
}

impl Keys {
    fn under(prefix: &str) -> Keys {
        Keys {
            lock: format!("{prefix}/lock"),
            tokens: format!("{prefix}/tokens"),
            register: format!("{prefix}/register"),
            max_token: format!("{prefix}/max-token"),
        }
    }
}

#[derive(Clone, Debug)]
struct Settings {
    keys: Keys,
    /// SQL databases: the lease row's table.
    sql: sql::LockSql,
    fenced: bool,
    ttl: Duration,
    keepalive: bool,
}

/// When the latest successful renewal of a lease was sent, if one has succeeded.
#[derive(Clone, Default)]
struct Renewals(Arc<std::sync::Mutex<Option<Instant>>>);

impl Renewals {
    fn renewed(&self, sent: Instant) {
        let mut latest = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if latest.is_none_or(|l| l < sent) {
            *latest = Some(sent);
        }
    }

    /// `value` with `lease_renewed_ns`: the latest renewal relative to `began`.
    fn stamp(&self, mut value: Value, began: Instant) -> Value {
        let latest = *self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let (Some(sent), Value::Object(fields)) = (latest, &mut value) {
            let ns = if sent >= began {
                i64::try_from((sent - began).as_nanos()).unwrap_or(i64::MAX)
            } else {
                -i64::try_from((began - sent).as_nanos()).unwrap_or(i64::MAX)
            };
            fields.insert("lease_renewed_ns".into(), json!(ns));
        }
        value
    }
}

/// The lock as its holder knows it.
struct Held {
    token: i64,
    renewals: Renewals,
    /// etcd: the lock key and the lease; Redis: the lock key's value.
    etcd: Option<(String, i64)>,
    redis_value: String,
    keeper: Option<JoinHandle<()>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(k) = self.keeper.take() {
            k.abort();
        }
    }
}

struct LockClient {
    conn: DbConn,
    settings: Settings,
    holder: String,
    held: Option<Held>,
}

/// etcd leases are whole seconds.
fn ttl_secs(ttl: Duration) -> i64 {
    (ttl.as_millis().div_ceil(1000) as i64).max(1)
}

/// A token as text whose byte order is its numeric order (etcd compares values as bytes).
fn padded(token: i64) -> String {
    format!("{token:020}")
}

fn renew_every(ttl: Duration) -> Duration {
    (ttl / 3).max(Duration::from_millis(100))
}

async fn etcd_keepalive(conn: EtcdConn, lease: i64, every: Duration, renewals: Renewals) {
    loop {
        let sent = Instant::now();
        // Failures are retried: the holder keeps believing it holds the lock, which is
        // exactly the belief the test puts to the test. A renewal stuck (say, forwarded to
        // a leader that just stopped) is abandoned after one renewal period, as etcd's own
        // client sends the next keepalive on schedule: otherwise a holder whose node can
        // still reach a quorum would lose its lease, and only a cut-off holder should.
        // A lease etcd no longer knows is renewed with TTL 0 (or an error): no renewal.
        if let Ok(Ok(ttl)) = tokio::time::timeout(every, conn.client.lease_keepalive(lease)).await {
            if ttl > 0 {
                renewals.renewed(sent);
            }
        }
        tokio::time::sleep(every).await;
    }
}

const REDIS_ACQUIRE: &str = r"
local token = redis.call('INCR', KEYS[2])
local value = ARGV[1] .. ':' .. token
if redis.call('SET', KEYS[1], value, 'NX', 'PX', ARGV[2]) then
  return token
end
return 0
";

const REDIS_EXTEND: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

const REDIS_RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

const REDIS_FENCED_WRITE: &str = r"
local max = tonumber(redis.call('GET', KEYS[1]))
if max ~= nil and tonumber(ARGV[1]) < max then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
return 1
";

async fn redis_keepalive(
    mut conn: redis::aio::MultiplexedConnection,
    key: String,
    value: String,
    ttl: Duration,
    renewals: Renewals,
) {
    let script = redis::Script::new(REDIS_EXTEND);
    let every = renew_every(ttl);
    loop {
        let sent = Instant::now();
        // As for etcd: a stuck renewal is abandoned after one period and retried. The
        // script extends the expiry only while the lock is still ours (it returns 1).
        let extended = tokio::time::timeout(
            every,
            script
                .key(&key)
                .arg(&value)
                .arg(ttl.as_millis() as u64)
                .invoke_async::<i64>(&mut conn),
        )
        .await;
        if matches!(extended, Ok(Ok(1))) {
            renewals.renewed(sent);
        }
        tokio::time::sleep(every).await;
    }
}

async fn sql_keepalive(
    mut conn: SqlConn,
    lock: sql::LockSql,
    holder: String,
    token: i64,
    ttl: Duration,
    renewals: Renewals,
) {
    let every = renew_every(ttl);
    loop {
        let sent = Instant::now();
        // As for Redis: a stuck renewal is abandoned after one period (its connection is
        // dropped with the open transaction) and retried.
        let renewed = tokio::time::timeout(every, lock.renew(&mut conn, &holder, token)).await;
        if matches!(renewed, Ok(Ok(true))) {
            renewals.renewed(sent);
        }
        tokio::time::sleep(every).await;
    }
}

impl LockClient {
    fn granted(&self, token: i64, renewals: &Renewals, began: Instant) -> Completion {
        Completion::Ok(renewals.stamp(json!({ "token": token, "holder": self.holder }), began))
    }

    async fn acquire(&mut self, began: Instant) -> Completion {
        if self.held.is_some() {
            return refuse("already-held");
        }
        let s = self.settings.clone();
        match &mut self.conn {
            DbConn::Etcd(c) => {
                // Only a lease exists so far: the lock was definitely not requested.
                let lease = match c.client.lease_grant(ttl_secs(s.ttl)).await {
                    Ok(l) => l,
                    Err(e) => {
                        return refuse(&format!(
                            "lease grant failed, lock not requested: {}",
                            e.history_error()
                        ))
                    }
                };
                let every = renew_every(s.ttl);
                let renewals = Renewals::default();
                let locked = if s.keepalive {
                    tokio::select! {
                        r = c.client.lock(&s.keys.lock, lease) => r,
                        () = etcd_keepalive(c.clone(), lease, every, renewals.clone()) => unreachable!("keepalive never ends"),
                    }
                } else {
                    c.client.lock(&s.keys.lock, lease).await
                };
                let (key, granted_at) = match locked {
                    Ok(locked) => locked,
                    Err(e) => {
                        if e.is_definite() {
                            let _ = c.client.lease_revoke(lease).await;
                        }
                        return completion(&e);
                    }
                };
                let token = match c.client.get_kv(&key).await {
                    Ok(Some(kv)) => kv.create_revision,
                    outcome => {
                        // Granted, but we cannot say with which token: give it back.
                        let _ = c.client.lease_revoke(lease).await;
                        let why = match outcome {
                            Err(e) => e.history_error(),
                            _ => "the lock key vanished (lease expired)".into(),
                        };
                        return Completion::Info(json!(format!(
                            "lock granted but token unreadable, lease revoked: {why}"
                        )));
                    }
                };
                let keeper = s.keepalive.then(|| {
                    tokio::spawn(etcd_keepalive(c.clone(), lease, every, renewals.clone()))
                });
                let mut granted = self.granted(token, &renewals, began);
                // etcd's revisions start at 1: 0 is a header that said nothing.
                if let (Completion::Ok(v), true) = (&mut granted, granted_at > 0) {
                    v["revision"] = json!(granted_at);
                }
                self.held = Some(Held {
                    token,
                    renewals,
                    etcd: Some((key, lease)),
                    redis_value: String::new(),
                    keeper,
                });
                granted
            }
            DbConn::Redis(r) => {
                let script = redis::Script::new(REDIS_ACQUIRE);
                let args = [self.holder.clone(), s.ttl.as_millis().to_string()];
                match r
                    .script::<i64>(&script, &[&s.keys.lock, &s.keys.tokens], &args)
                    .await
                {
                    Ok(0) => refuse("lock-held"),
                    Ok(token) => {
                        let value = format!("{}:{token}", self.holder);
                        let renewals = Renewals::default();
                        let keeper = match (s.keepalive, r.connection().await) {
                            (true, Ok((_, conn))) => Some(tokio::spawn(redis_keepalive(
                                conn,
                                s.keys.lock.clone(),
                                value.clone(),
                                s.ttl,
                                renewals.clone(),
                            ))),
                            _ => None,
                        };
                        let granted = self.granted(token, &renewals, began);
                        self.held = Some(Held {
                            token,
                            renewals,
                            etcd: None,
                            redis_value: value,
                            keeper,
                        });
                        granted
                    }
                    Err(e) => completion(&e),
                }
            }
            DbConn::Sql(c) => match s.sql.acquire(c, &self.holder).await {
                Ok(None) => refuse("lock-held"),
                Ok(Some(token)) => {
                    let renewals = Renewals::default();
                    let keeper = s.keepalive.then(|| {
                        let (lock, holder) = (s.sql.clone(), self.holder.clone());
                        let keep =
                            sql_keepalive(c.fresh(), lock, holder, token, s.ttl, renewals.clone());
                        tokio::spawn(keep)
                    });
                    let granted = self.granted(token, &renewals, began);
                    self.held = Some(Held {
                        token,
                        renewals,
                        etcd: None,
                        redis_value: String::new(),
                        keeper,
                    });
                    granted
                }
                Err(e) => completion(&e),
            },
        }
    }

    async fn write(&mut self, began: Instant) -> Completion {
        let Some(held) = &self.held else {
            return refuse("not-held");
        };
        let token = held.token;
        let renewals = held.renewals.clone();
        let record = json!({ "token": token, "holder": self.holder });
        let (keys, fenced) = (&self.settings.keys, self.settings.fenced);
        // etcd says where in its one order of changes the write landed (see `revision` in
        // the module docs); the others say nothing.
        let mut revision = None;
        let written: Result<bool, ClientError> = match &mut self.conn {
            DbConn::Etcd(c) if fenced => {
                let stale = vec![etcd::value_greater(&keys.max_token, &padded(token))];
                let writes = vec![
                    etcd::put(&keys.max_token, &padded(token)),
                    etcd::put(&keys.register, &record.to_string()),
                ];
                c.txn(stale, vec![], writes).await.map(|t| {
                    revision = Some(t.revision);
                    !t.succeeded
                })
            }
            DbConn::Etcd(c) => c
                .client
                .put_at(&keys.register, &record.to_string())
                .await
                .map(|r| {
                    revision = Some(r);
                    true
                }),
            DbConn::Redis(r) if fenced => {
                let script = redis::Script::new(REDIS_FENCED_WRITE);
                let args = [token.to_string(), record.to_string()];
                r.script::<i64>(&script, &[&keys.max_token, &keys.register], &args)
                    .await
                    .map(|n| n == 1)
            }
            DbConn::Redis(r) => r
                .query::<()>(
                    redis::cmd("SET")
                        .arg(&keys.register)
                        .arg(record.to_string()),
                )
                .await
                .map(|()| true),
            DbConn::Sql(c) => {
                let lock = &self.settings.sql;
                lock.write(c, &record.to_string(), token, fenced).await
            }
        };
        let mut record = record;
        if let Some(r) = revision.filter(|r| *r > 0) {
            record["revision"] = json!(r);
        }
        match written {
            Ok(true) => Completion::Ok(renewals.stamp(record, began)),
            Ok(false) => refuse("stale-token"),
            Err(e) => completion(&e),
        }
    }

    async fn release(&mut self) -> Completion {
        let Some(held) = &self.held else {
            return refuse("not-held");
        };
        let lock = &self.settings.keys.lock;
        let released: Result<bool, ClientError> = match (&mut self.conn, &held.etcd) {
            (DbConn::Etcd(c), Some((key, _))) => c
                .txn(
                    vec![etcd::create_revision_is(key, held.token)],
                    vec![etcd::delete(key)],
                    vec![],
                )
                .await
                .map(|t| t.succeeded),
            (DbConn::Redis(r), _) => {
                let script = redis::Script::new(REDIS_RELEASE);
                r.script::<i64>(&script, &[lock], std::slice::from_ref(&held.redis_value))
                    .await
                    .map(|n| n == 1)
            }
            (DbConn::Etcd(_), None) => Err(ClientError::Rejected(
                "held without an etcd lock key".into(),
            )),
            (DbConn::Sql(c), _) => self.settings.sql.release(c, &self.holder, held.token).await,
        };
        if matches!(&released, Err(e) if e.is_definite()) {
            // Nothing happened: still held, keepalive still running; the next release retries.
            return completion(&released.unwrap_err());
        }
        let held = self.held.take().expect("checked above");
        if let (DbConn::Etcd(c), Some((_, lease)), Ok(_)) = (&self.conn, &held.etcd, &released) {
            let _ = c.client.lease_revoke(*lease).await;
        }
        drop(held);
        match released {
            Ok(true) => Completion::Ok(Value::Null),
            Ok(false) => refuse("lock-lost"),
            Err(e) => completion(&e),
        }
    }
}

#[async_trait]
impl Client for LockClient {
    fn served_by(&self) -> Option<String> {
        self.conn.served_by()
    }

    async fn invoke(&mut self, op: &Op) -> Completion {
        let began = Instant::now();
        match op.f.as_ref() {
            "acquire" => self.acquire(began).await,
            "write" => self.write(began).await,
            "release" => self.release().await,
            f => refuse(&format!("bad-op: the lock workload has no {f:?}")),
        }
    }

    async fn close(&mut self) {
        // Stops the keepalive; the lease then expires by itself, as a crashed client's would.
        self.held = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_history::{testing, Verdict};
    use faultline_workload_support::etcd::b64;
    use faultline_workload_support::fake::{FakeEtcd, FakeRedis, Reply};
    use faultline_workload_support::redis::RedisPrimary;
    use faultline_workload_support::testing::requests;

    #[test]
    fn every_worker_cycles_acquire_write_release() {
        let gen = generator(&Options::default());
        for worker in 0..3 {
            let fs: Vec<String> = requests(&gen, 1, worker, 3, 7)
                .iter()
                .map(|o| o.f.to_string())
                .collect();
            assert_eq!(
                fs,
                ["acquire", "write", "release", "acquire", "write", "release", "acquire"]
            );
        }
        for worker in 0..3 {
            assert_eq!(
                requests(&final_generator(), 1, worker, 3, 5),
                vec![Op::new("release", Value::Null)]
            );
        }
        assert_eq!(
            Options::for_name("lock-fenced").map(|o| o.fenced),
            Some(true)
        );
        assert_eq!(Options::for_name("lock").map(|o| o.fenced), Some(false));
        assert!(Options::for_name("mutex").is_none());
    }

    fn op(f: &'static str) -> Op {
        Op::new(f, Value::Null)
    }

    fn settings(fenced: bool, keepalive: bool) -> Settings {
        Settings {
            keys: Keys::under("ns"),
            sql: sql::LockSql::new("ns", Duration::from_secs(1)),
            fenced,
            ttl: Duration::from_secs(1),
            keepalive,
        }
    }

    fn etcd_client(fake: &FakeEtcd, fenced: bool, keepalive: bool) -> LockClient {
        let conn =
            EtcdConn::with_endpoint(&fake.endpoint, Duration::from_millis(500), false).unwrap();
        LockClient {
            conn: DbConn::Etcd(conn),
            settings: settings(fenced, keepalive),
            holder: "n1#0".into(),
            held: None,
        }
    }

    /// The gateway's replies to a successful etcd acquire with lock-key create revision `rev`.
    fn granted(rev: i64) -> Vec<Reply> {
        vec![
            Reply::json(200, json!({"ID": "42", "TTL": "1"})),
            Reply::json(
                200,
                json!({"key": b64("ns/lock/2a"), "header": {"revision": (rev + 3).to_string()}}),
            ),
            Reply::json(
                200,
                json!({"kvs": [{"key": b64("ns/lock/2a"), "value": "", "create_revision": rev.to_string(), "mod_revision": rev.to_string()}]}),
            ),
        ]
    }

    fn paths(sent: &[String]) -> Vec<&str> {
        sent.iter()
            .map(|r| r.split(' ').nth(1).unwrap_or(""))
            .collect()
    }

    #[tokio::test]
    async fn etcd_holder_writes_its_token_and_releases_only_its_own_key() {
        let mut replies = granted(17);
        replies.extend([
            Reply::json(200, json!({"header": {"revision": "23"}})),
            Reply::json(200, json!({"succeeded": true})),
            Reply::json(200, json!({})),
        ]);
        let fake = FakeEtcd::start(replies).await;
        let mut c = etcd_client(&fake, false, false);
        // Where etcd placed the grant and the write (its header revisions) come along.
        let held = json!({"token": 17, "holder": "n1#0", "revision": 20});
        assert_eq!(c.invoke(&op("acquire")).await, Completion::Ok(held));
        let written = json!({"token": 17, "holder": "n1#0", "revision": 23});
        assert_eq!(c.invoke(&op("write")).await, Completion::Ok(written));
        assert_eq!(c.invoke(&op("release")).await, Completion::Ok(Value::Null));
        assert_eq!(
            c.invoke(&op("release")).await,
            Completion::Fail(json!("not-held"))
        );
        let sent = fake.requests().await;
        let expected = [
            "/v3/lease/grant",
            "/v3/lock/lock",
            "/v3/kv/range",
            "/v3/kv/put",
            "/v3/kv/txn",
            "/v3/lease/revoke",
        ];
        assert_eq!(paths(&sent), expected);
        assert!(
            sent[1].contains(&b64("ns/lock")) && sent[1].contains("\"42\""),
            "{sent:?}"
        );
        assert!(
            sent[4].contains("\"CREATE\"")
                && sent[4].contains("\"17\"")
                && sent[4].contains("request_delete_range")
        );
    }

    #[tokio::test]
    async fn etcd_fenced_write_is_refused_when_a_higher_token_was_accepted() {
        let mut replies = granted(9);
        replies.extend([
            Reply::json(200, json!({"succeeded": true})),
            Reply::json(200, json!({"succeeded": false})),
        ]);
        let fake = FakeEtcd::start(replies).await;
        let mut c = etcd_client(&fake, true, false);
        c.invoke(&op("acquire")).await;
        assert_eq!(
            c.invoke(&op("write")).await,
            Completion::Fail(json!("stale-token"))
        );
        // A reply with no header places nothing: no revision is claimed.
        assert_eq!(
            c.invoke(&op("write")).await,
            Completion::Ok(json!({"token": 9, "holder": "n1#0"}))
        );
        let sent = fake.requests().await;
        assert!(
            sent[3].contains("\"GREATER\"") && sent[3].contains(&b64(&padded(9))),
            "{sent:?}"
        );
        assert!(
            sent[3].contains("\"success\":[]"),
            "a stale token writes nothing: {sent:?}"
        );
    }

    #[tokio::test]
    async fn etcd_ops_without_the_lock_are_refused_unsent() {
        let fake = FakeEtcd::start(vec![]).await;
        let mut c = etcd_client(&fake, true, false);
        assert_eq!(
            c.invoke(&op("write")).await,
            Completion::Fail(json!("not-held"))
        );
        assert_eq!(
            c.invoke(&op("release")).await,
            Completion::Fail(json!("not-held"))
        );
        assert!(fake.requests().await.is_empty());
    }

    #[tokio::test]
    async fn etcd_acquire_and_release_failures_classify() {
        let mut replies = vec![
            Reply::grpc_error(14, "etcdserver: request timed out"),
            Reply::json(200, json!({"ID": "42", "TTL": "1"})),
            Reply::Close,
        ];
        replies.extend(granted(5));
        replies.push(Reply::grpc_error(8, "etcdserver: too many requests"));
        replies.push(Reply::json(200, json!({"succeeded": false})));
        replies.push(Reply::json(200, json!({})));
        replies.extend(granted(6));
        replies.push(Reply::grpc_error(14, "etcdserver: request timed out"));
        let fake = FakeEtcd::start(replies).await;
        let mut c = etcd_client(&fake, false, false);
        assert!(
            matches!(c.invoke(&op("acquire")).await, Completion::Fail(_)),
            "only the lease grant timed out"
        );
        assert!(
            matches!(c.invoke(&op("acquire")).await, Completion::Info(_)),
            "the lock request may have been granted"
        );
        assert!(matches!(c.invoke(&op("acquire")).await, Completion::Ok(_)));
        assert!(
            matches!(c.invoke(&op("release")).await, Completion::Fail(_)),
            "refused: still held"
        );
        assert_eq!(
            c.invoke(&op("release")).await,
            Completion::Fail(json!("lock-lost"))
        );
        assert!(c.held.is_none());
        assert!(matches!(c.invoke(&op("acquire")).await, Completion::Ok(_)));
        assert!(matches!(
            c.invoke(&op("release")).await,
            Completion::Info(_)
        ));
    }

    #[tokio::test]
    async fn etcd_keepalive_renews_the_lease_while_held_and_stops_on_close() {
        let keepalive = (
            "/v3/lease/keepalive",
            Reply::json(200, json!({"result": {"ID": "42", "TTL": "1"}})),
        );
        let fake = FakeEtcd::start_with_routes(granted(3), vec![keepalive]).await;
        let mut c = etcd_client(&fake, false, true);
        assert!(matches!(c.invoke(&op("acquire")).await, Completion::Ok(_)));
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let renewals = |sent: Vec<String>| {
            sent.iter()
                .filter(|r| r.contains("/v3/lease/keepalive") && r.contains("\"42\""))
                .count()
        };
        let while_held = renewals(fake.requests().await);
        // One renewal races the lock request; the keeper renews at once when it is granted.
        assert!(
            while_held >= 2,
            "renewed while waiting and while held: {while_held}"
        );
        c.close().await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(renewals(fake.requests().await), while_held);
    }

    #[tokio::test]
    async fn redis_lock_is_set_nx_px_with_an_incremented_token() {
        let fake = FakeRedis::start(vec![
            Reply::redis_int(7),
            Reply::redis_int(0),
            Reply::redis_int(1),
            Reply::redis_int(0),
            Reply::redis_int(0),
            Reply::redis_error("READONLY You can't write against a read only replica."),
            Reply::Close,
        ])
        .await;
        let conn = RedisPrimary::direct("127.0.0.1", fake.port, Duration::from_millis(300));
        let mut c = LockClient {
            conn: DbConn::Redis(conn),
            settings: settings(true, false),
            holder: "n2#4".into(),
            held: None,
        };
        assert_eq!(
            c.invoke(&op("acquire")).await,
            Completion::Ok(json!({"token": 7, "holder": "n2#4"}))
        );
        assert_eq!(
            c.invoke(&op("write")).await,
            Completion::Fail(json!("stale-token"))
        );
        assert_eq!(
            c.invoke(&op("write")).await,
            Completion::Ok(json!({"token": 7, "holder": "n2#4"}))
        );
        assert_eq!(
            c.invoke(&op("release")).await,
            Completion::Fail(json!("lock-lost"))
        );
        assert_eq!(
            c.invoke(&op("acquire")).await,
            Completion::Fail(json!("lock-held"))
        );
        assert!(matches!(
            c.invoke(&op("acquire")).await,
            Completion::Fail(_)
        ));
        assert!(matches!(
            c.invoke(&op("acquire")).await,
            Completion::Info(_)
        ));
        let sent = fake.commands().await;
        assert!(
            sent[0].ends_with("2 ns/lock ns/tokens n2#4 1000"),
            "{sent:?}"
        );
        assert!(
            sent[2].contains("2 ns/max-token ns/register 7 "),
            "{sent:?}"
        );
        assert!(sent[3].ends_with("1 ns/lock n2#4:7"), "{sent:?}");
    }

    fn hop(process: u64, f: &str, output: Value, outcome: Outcome, at: (u64, u64)) -> Operation {
        testing::op(process, f, Value::Null, output, outcome, at.0, Some(at.1))
    }

    /// Process 1 holds token 1 when process 2 acquires token 2 (1's lease ran out); 1 still
    /// writes afterwards. `stale` says whether the storage accepted 1's late write.
    fn two_holders(stale: Outcome) -> Vec<Operation> {
        let w = |p, t| json!({"token": t, "holder": p});
        vec![
            hop(1, "acquire", w(1, 1), Outcome::Ok, (0, 1)),
            hop(1, "write", w(1, 1), Outcome::Ok, (2, 3)),
            hop(2, "acquire", w(2, 2), Outcome::Ok, (4, 5)),
            hop(2, "write", w(2, 2), Outcome::Ok, (6, 7)),
            hop(
                1,
                "write",
                if stale == Outcome::Ok {
                    w(1, 1)
                } else {
                    Value::Null
                },
                stale,
                (8, 9),
            ),
            hop(1, "release", Value::Null, Outcome::Ok, (10, 11)),
            hop(2, "release", Value::Null, Outcome::Ok, (12, 13)),
        ]
    }

    #[test]
    fn plain_lock_with_two_holders_is_invalid() {
        let r = check(&two_holders(Outcome::Fail), &Options::default());
        assert_eq!(
            r.iter()
                .map(|c| (c.checker.as_str(), c.verdict))
                .collect::<Vec<_>>(),
            [("lock-overlap", Verdict::Invalid)]
        );
        let mut one_at_a_time = two_holders(Outcome::Fail);
        one_at_a_time[5] = hop(1, "release", Value::Null, Outcome::Ok, (3, 4));
        one_at_a_time.retain(|o| o.invoke_index != 8);
        one_at_a_time.sort_by_key(|o| o.invoke_index);
        let ok = check(&one_at_a_time, &Options::default());
        assert!(ok.iter().all(|c| c.verdict == Verdict::Valid), "{ok:?}");
    }

    /// Issue 8 item 9: a holder goes silent, its lease runs out, another process takes the
    /// lock, and the first one's release fails `lock-lost`. That is a lease doing its job:
    /// valid (the mutex model judged it invalid forever after). If the silent holder then
    /// writes, that is the unfenced-lease bug: invalid.
    #[test]
    fn a_silent_holders_expired_lease_is_valid_but_acting_on_it_is_not() {
        let s = 1_000_000_000u64;
        let w = |p: u64, t: u64| json!({"token": t, "holder": p});
        let opts = Options {
            lease_ttl: Duration::from_secs(2),
            ..Options::default()
        };
        let at = |i: u64, t: u64| (i, t * s);
        let timed = |p, f: &str, out: Value, o: Outcome, (i, t): (u64, u64), (c, u): (u64, u64)| {
            let mut op = hop(p, f, out, o, (i, c));
            op.invoke_time = t;
            op.complete_time = Some(u);
            op
        };
        let mut lost = timed(
            1,
            "release",
            Value::Null,
            Outcome::Fail,
            at(10, 9),
            at(11, 9),
        );
        lost.error = Some(json!("lock-lost"));
        let history = vec![
            timed(1, "acquire", w(1, 1), Outcome::Ok, at(0, 0), at(1, 0)),
            // Acknowledged within its own lease (2 s to 3 s), so certainly a hold: an acquire
            // slower than the TTL might have been granted a lease that ran out before the ack.
            timed(2, "acquire", w(2, 2), Outcome::Ok, at(2, 2), at(3, 3)),
            timed(2, "release", Value::Null, Outcome::Ok, at(4, 6), at(5, 6)),
            lost,
        ];
        let r = check(&history, &opts);
        assert_eq!(r.len(), 1, "no mutex model on a lease lock");
        assert_eq!(r[0].verdict, Verdict::Valid, "{:?}", r[0].anomalies);
        // The same silent holder writes after 2's acquire: acting on a lost lease.
        let mut late = history.clone();
        late.insert(
            2,
            timed(1, "write", w(1, 1), Outcome::Ok, at(8, 5), at(9, 5)),
        );
        late.sort_by_key(|o| o.invoke_index);
        let r = check(&late, &opts);
        assert_eq!(r[0].verdict, Verdict::Invalid);
        assert_eq!(r[0].anomalies[0].kind, "write-after-lease-expired");
        // Within the lease, 2's acquire overlaps 1's hold.
        let mut early = history;
        early[1] = timed(2, "acquire", w(2, 2), Outcome::Ok, at(2, 1), at(3, 1));
        let r = check(&early, &opts);
        assert_eq!(r[0].anomalies[0].kind, "overlapping-holders");
    }

    #[test]
    fn fenced_lock_is_invalid_only_if_a_stale_token_was_accepted() {
        let fenced = Options::for_name(FENCED_NAME).unwrap();
        let safe = check(&two_holders(Outcome::Fail), &fenced);
        assert_eq!(
            (safe[0].checker.as_str(), safe[0].verdict),
            ("lock-fencing", Verdict::Valid)
        );
        assert_eq!(safe[0].stats["overlapping-holds"], json!(1));
        let unsafe_ = check(&two_holders(Outcome::Ok), &fenced);
        assert_eq!(unsafe_[0].verdict, Verdict::Invalid);
        assert_eq!(unsafe_[0].anomalies[0].kind, "stale-fencing-token");
    }
}
