//! The bank workload: transfers between a fixed set of accounts and reads of every
//! balance, checked with Jepsen's bank checker (every read shows the same total, no balance
//! is negative).
//!
//! Accounts `0..accounts` start with [`Options::initial_balance`] each, written once per
//! workload by the first client to open (atomically, only if no account exists yet). A
//! transfer that would overdraw its source account is refused (`fail`), as in Jepsen.
//!
//! - etcd: a transfer reads both accounts in one transaction, then writes both in a second
//!   transaction that compares their mod revisions (retried when another transfer got in
//!   first); a read is one range over the accounts' prefix, served at a single revision;
//! - Redis: a transfer is a Lua script (check, DECRBY, INCRBY: atomic on the primary); a
//!   read is one MGET on the primary;
//! - SQL (PostgreSQL, MySQL): a row per account in the run's own table; a transfer is one
//!   transaction at the chosen isolation level (read both, refuse or update both), a read
//!   one SELECT of every row.

mod sql;

use async_trait::async_trait;
use faultline_bank_checker::BankOptions;
use faultline_history::{CheckerResult, Operation};
use faultline_runner::{Client, ClientFactory, Completion, Gen, Op};
use faultline_workload_support::etcd::{self as etcd, EtcdConn};
use faultline_workload_support::redis::RedisPrimary;
use faultline_workload_support::sql::Table;
use faultline_workload_support::{
    at_rate, completion, namespace, parse_int, refuse, unreadable, ClientError, DbConn, Target,
};
use rand::Rng;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The workload's name for `faultline test --workload`.
pub const NAME: &str = "bank";

/// How many times an etcd transfer retries after losing a race before giving up (`fail`:
/// none of the attempts wrote anything).
pub const MAX_TXN_ATTEMPTS: u32 = 32;

/// The bank workload's knobs (none depends on the seed).
#[derive(Clone, Debug)]
pub struct Options {
    /// Accounts `0..accounts`; at least 2.
    pub accounts: u32,
    /// Each account's starting balance.
    pub initial_balance: i64,
    /// Transfers move `1..=max_transfer`.
    pub max_transfer: i64,
    /// Mean operations a second over all workers; `None`: as fast as they can.
    pub rate: Option<f64>,
    /// Physical key prefix; `None`: a fresh one per workload, so old data never leaks in.
    pub namespace: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            accounts: 5,
            initial_balance: 10,
            max_transfer: 5,
            rate: Some(50.0),
            namespace: None,
        }
    }
}

impl Options {
    /// The conserved total: accounts × initial balance.
    pub fn total(&self) -> i64 {
        i64::from(self.accounts.max(2)) * self.initial_balance
    }

    /// The accounts' names: `0`, `1`, ... (at least two).
    pub fn account_names(&self) -> Vec<String> {
        (0..self.accounts.max(2)).map(|a| a.to_string()).collect()
    }
}

/// What the workers ask for: transfers `{from, to, amount}` between distinct random
/// accounts and reads, half and half.
pub fn generator(opts: &Options) -> Gen {
    let (n, max) = (opts.accounts.max(2), opts.max_transfer.max(1));
    let transfer = Gen::source(move |ctx| {
        let from = ctx.rng.random_range(0..n);
        let to = (from + ctx.rng.random_range(1..n)) % n;
        Op::new(
            "transfer",
            json!({ "from": from, "to": to, "amount": ctx.rng.random_range(1..=max) }),
        )
    });
    let read = Gen::repeat(Op::new("read", Value::Null));
    let gen = Gen::mix(vec![transfer, read]);
    at_rate(gen, opts.rate)
}

/// The final phase, after the heal: one read per worker.
pub fn final_generator() -> Gen {
    Gen::repeat(Op::new("read", Value::Null))
        .once()
        .each_thread()
}

/// The clients for `target`; the first client to open creates the accounts.
pub fn clients(target: Target, opts: &Options) -> Arc<dyn ClientFactory> {
    Arc::new(Factory {
        target,
        bank: Bank::new(
            namespace(&opts.namespace, NAME),
            opts.accounts.max(2),
            opts.initial_balance,
        ),
        ready: OnceCell::new(),
    })
}

/// Checks a bank history: each read's total is accounts × initial balance, no account
/// outside `0..accounts`, no null or negative balance.
pub fn check(ops: &[Operation], opts: &Options) -> Vec<CheckerResult> {
    let bank_opts = BankOptions {
        total: Some(opts.total()),
        accounts: Some(opts.account_names()),
        negative_balances: false,
    };
    let result = faultline_bank_checker::check(ops, &bank_opts).unwrap_or_else(|e| {
        unreadable(
            faultline_bank_checker::CHECKER,
            format!("event {}: {}", e.event, e.message),
        )
    });
    vec![result]
}

/// Where the accounts live and how they start.
#[derive(Clone, Debug)]
struct Bank {
    prefix: String,
    accounts: u32,
    initial: i64,
    /// The SQL families' table.
    table: Table,
}

impl Bank {
    fn new(prefix: String, accounts: u32, initial: i64) -> Bank {
        Bank {
            table: sql::table(&prefix),
            prefix,
            accounts,
            initial,
        }
    }

    fn key(&self, account: u64) -> String {
        format!("{}/{account}", self.prefix)
    }

    fn keys(&self) -> Vec<String> {
        (0..u64::from(self.accounts)).map(|a| self.key(a)).collect()
    }

    /// Writes every account's initial balance, unless some account already exists.
    async fn create(&self, conn: &mut DbConn) -> Result<(), ClientError> {
        let keys = self.keys();
        let initial = self.initial.to_string();
        match conn {
            DbConn::Etcd(c) => {
                let absent = keys
                    .iter()
                    .map(|k| etcd::create_revision_is(k, 0))
                    .collect();
                let puts = keys.iter().map(|k| etcd::put(k, &initial)).collect();
                c.txn(absent, puts, vec![]).await.map(|_| ())
            }
            DbConn::Redis(r) => {
                let mut cmd = redis::cmd("MSETNX");
                for k in &keys {
                    cmd.arg(k).arg(&initial);
                }
                r.query::<i64>(&cmd).await.map(|_| ())
            }
            DbConn::Sql(c) => sql::create(c, &self.table, self.accounts, self.initial).await,
        }
    }
}

struct Factory {
    target: Target,
    bank: Bank,
    ready: OnceCell<()>,
}

#[async_trait]
impl ClientFactory for Factory {
    async fn open(&self, node: &str) -> Result<Box<dyn Client>, String> {
        let mut conn = self.target.connect(node)?;
        // Idempotent, so a failed or indeterminate attempt is simply tried again next open.
        self.ready
            .get_or_try_init(|| self.bank.create(&mut conn))
            .await
            .map_err(|e| format!("cannot create the accounts: {e}"))?;
        Ok(Box::new(BankClient {
            conn,
            bank: self.bank.clone(),
        }))
    }
}

struct BankClient {
    conn: DbConn,
    bank: Bank,
}

const REDIS_TRANSFER: &str = r"
local from = tonumber(redis.call('GET', KEYS[1]))
local to = tonumber(redis.call('GET', KEYS[2]))
if from == nil or to == nil then return -1 end
if from < tonumber(ARGV[1]) then return 0 end
redis.call('DECRBY', KEYS[1], ARGV[1])
redis.call('INCRBY', KEYS[2], ARGV[1])
return 1
";

/// Why a transfer was refused without writing anything.
const INSUFFICIENT: &str = "insufficient-funds";

impl BankClient {
    async fn transfer(
        &mut self,
        from: u64,
        to: u64,
        amount: i64,
    ) -> Result<Result<(), &'static str>, ClientError> {
        let (kf, kt) = (self.bank.key(from), self.bank.key(to));
        match &mut self.conn {
            DbConn::Etcd(c) => etcd_transfer(c, &kf, &kt, amount).await,
            DbConn::Redis(r) => redis_transfer(r, &kf, &kt, amount).await,
            DbConn::Sql(c) => sql::transfer(c, &self.bank.table, from, to, amount).await,
        }
    }

    async fn read(&mut self) -> Result<Value, ClientError> {
        let names: Vec<String> = (0..self.bank.accounts).map(|a| a.to_string()).collect();
        let mut balances = Map::new();
        match &mut self.conn {
            DbConn::Etcd(c) => {
                let prefix = format!("{}/", self.bank.prefix);
                for name in &names {
                    balances.insert(name.clone(), Value::Null);
                }
                for kv in c.range_prefix(&prefix).await? {
                    let name = kv.key.strip_prefix(&prefix).unwrap_or(&kv.key).to_string();
                    balances.insert(name, json!(parse_int(&kv.key, &kv.value)?));
                }
            }
            DbConn::Redis(r) => {
                let mut cmd = redis::cmd("MGET");
                for k in self.bank.keys() {
                    cmd.arg(k);
                }
                let values: Vec<Option<String>> = r.query(&cmd).await?;
                for (name, v) in names.iter().zip(values) {
                    let balance = v.map(|s| parse_int(&self.bank.key(0), &s)).transpose()?;
                    balances.insert(name.clone(), json!(balance));
                }
            }
            DbConn::Sql(c) => {
                for name in &names {
                    balances.insert(name.clone(), Value::Null);
                }
                for (id, balance) in sql::read(c, &self.bank.table).await? {
                    balances.insert(id.to_string(), json!(balance));
                }
            }
        }
        Ok(Value::Object(balances))
    }
}

/// Read both balances at one revision, then write both if neither changed since.
async fn etcd_transfer(
    c: &EtcdConn,
    from: &str,
    to: &str,
    amount: i64,
) -> Result<Result<(), &'static str>, ClientError> {
    let definite = |e: ClientError| {
        ClientError::Rejected(format!(
            "read before transfer failed, nothing written: {}",
            e.history_error()
        ))
    };
    for _ in 0..MAX_TXN_ATTEMPTS {
        let read = c
            .txn(vec![], vec![etcd::get(from), etcd::get(to)], vec![])
            .await
            .map_err(definite)?;
        let mut found = Vec::new();
        for r in &read.responses {
            let kv = etcd::kvs(&r["response_range"]["kvs"])
                .map_err(definite)?
                .into_iter()
                .next();
            let kv = kv.ok_or_else(|| ClientError::Rejected("an account does not exist".into()))?;
            found.push((parse_int(&kv.key, &kv.value)?, kv.mod_revision));
        }
        let [(balance_from, rev_from), (balance_to, rev_to)] = found[..] else {
            return Err(ClientError::Rejected(format!(
                "expected 2 ranges, got {}",
                found.len()
            )));
        };
        if balance_from < amount {
            return Ok(Err(INSUFFICIENT));
        }
        let unchanged = vec![
            etcd::mod_revision_is(from, rev_from),
            etcd::mod_revision_is(to, rev_to),
        ];
        let writes = vec![
            etcd::put(from, &(balance_from - amount).to_string()),
            etcd::put(to, &(balance_to + amount).to_string()),
        ];
        if c.txn(unchanged, writes, vec![]).await?.succeeded {
            return Ok(Ok(()));
        }
    }
    Err(ClientError::Rejected(format!(
        "contention: lost {MAX_TXN_ATTEMPTS} transaction races, nothing written"
    )))
}

async fn redis_transfer(
    r: &mut RedisPrimary,
    from: &str,
    to: &str,
    amount: i64,
) -> Result<Result<(), &'static str>, ClientError> {
    let script = redis::Script::new(REDIS_TRANSFER);
    match r
        .script::<i64>(&script, &[from, to], &[amount.to_string()])
        .await?
    {
        1 => Ok(Ok(())),
        0 => Ok(Err(INSUFFICIENT)),
        _ => Err(ClientError::Rejected("an account does not exist".into())),
    }
}

#[async_trait]
impl Client for BankClient {
    fn served_by(&self) -> Option<String> {
        self.conn.served_by()
    }

    async fn invoke(&mut self, op: &Op) -> Completion {
        match op.f.as_ref() {
            "transfer" => {
                let field = |name| op.value.get(name).and_then(Value::as_i64);
                let (Some(from), Some(to), Some(amount)) =
                    (field("from"), field("to"), field("amount"))
                else {
                    return refuse("bad-op: transfer needs integer from, to and amount");
                };
                let n = i64::from(self.bank.accounts);
                if !(0..n).contains(&from) || !(0..n).contains(&to) || from == to || amount <= 0 {
                    return refuse(
                        "bad-op: transfer needs two distinct accounts and a positive amount",
                    );
                }
                match self.transfer(from as u64, to as u64, amount).await {
                    Ok(Ok(())) => Completion::Ok(op.value.clone()),
                    Ok(Err(why)) => refuse(why),
                    Err(e) => completion(&e),
                }
            }
            "read" => match self.read().await {
                Ok(balances) => Completion::Ok(balances),
                Err(e) => completion(&e),
            },
            f => refuse(&format!("bad-op: the bank workload has no {f:?}")),
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
    use std::time::Duration;

    #[test]
    fn transfers_are_between_distinct_accounts_by_small_amounts() {
        let opts = Options {
            accounts: 3,
            max_transfer: 4,
            rate: None,
            ..Options::default()
        };
        let gen = generator(&opts);
        let ops = requests(&gen, 11, 1, 2, 300);
        let transfers: Vec<&Op> = ops.iter().filter(|o| o.f == "transfer").collect();
        assert!((80..220).contains(&transfers.len()));
        for t in transfers {
            let (from, to, amount) = (
                t.value["from"].as_i64().unwrap(),
                t.value["to"].as_i64().unwrap(),
                t.value["amount"].as_i64().unwrap(),
            );
            assert!(
                from != to
                    && (0..3).contains(&from)
                    && (0..3).contains(&to)
                    && (1..=4).contains(&amount),
                "{t:?}"
            );
        }
        assert_eq!(ops, requests(&gen, 11, 1, 2, 300));
        assert_ne!(ops, requests(&gen, 12, 1, 2, 300));
        assert_eq!(opts.total(), 30);
    }

    fn bank() -> Bank {
        Bank::new("b".into(), 2, 10)
    }

    fn ranges(a: (&str, i64, i64), b: (&str, i64, i64)) -> Reply {
        let r = |(k, v, rev): (&str, i64, i64)| json!({"response_range": {"kvs": [{"key": b64(k), "value": b64(&v.to_string()), "mod_revision": rev.to_string(), "create_revision": "1"}]}});
        Reply::json(200, json!({"succeeded": true, "responses": [r(a), r(b)]}))
    }

    #[tokio::test]
    async fn etcd_transfer_compares_both_revisions_and_retries() {
        let fake = FakeEtcd::start(vec![
            ranges(("b/0", 10, 3), ("b/1", 10, 3)),
            Reply::json(200, json!({"succeeded": false})),
            ranges(("b/0", 8, 5), ("b/1", 12, 4)),
            Reply::json(200, json!({"succeeded": true})),
            ranges(("b/0", 2, 6), ("b/1", 18, 6)),
            ranges(("b/0", 9, 6), ("b/1", 11, 6)),
            Reply::grpc_error(14, "etcdserver: request timed out"),
            Reply::grpc_error(14, "etcdserver: request timed out"),
        ])
        .await;
        let conn =
            EtcdConn::with_endpoint(&fake.endpoint, Duration::from_millis(500), false).unwrap();
        let mut c = BankClient {
            conn: DbConn::Etcd(conn),
            bank: bank(),
        };
        let t = json!({"from": 0, "to": 1, "amount": 3});
        assert_eq!(
            c.invoke(&Op::new("transfer", t.clone())).await,
            Completion::Ok(t.clone())
        );
        let sent = fake.requests().await;
        assert!(
            sent[3].contains("\"mod_revision\":\"5\"")
                && sent[3].contains("\"mod_revision\":\"4\""),
            "{sent:?}"
        );
        assert!(
            sent[3].contains(&b64("5")) && sent[3].contains(&b64("15")),
            "writes 8-3 and 12+3: {sent:?}"
        );
        assert_eq!(
            c.invoke(&Op::new("transfer", t.clone())).await,
            Completion::Fail(json!("insufficient-funds"))
        );
        assert!(
            matches!(
                c.invoke(&Op::new("transfer", t.clone())).await,
                Completion::Info(_)
            ),
            "the write timed out"
        );
        assert!(
            matches!(c.invoke(&Op::new("transfer", t)).await, Completion::Fail(_)),
            "only the read timed out"
        );
    }

    #[tokio::test]
    async fn etcd_reads_every_balance_at_once_and_creates_accounts_only_if_absent() {
        let kv = |k: &str, v: &str| json!({"key": b64(k), "value": b64(v), "mod_revision": "2", "create_revision": "2"});
        let fake = FakeEtcd::start(vec![
            Reply::json(200, json!({"succeeded": true})),
            Reply::json(200, json!({"kvs": [kv("b/0", "7")]})),
            Reply::Close,
        ])
        .await;
        let mut conn = DbConn::Etcd(
            EtcdConn::with_endpoint(&fake.endpoint, Duration::from_millis(500), false).unwrap(),
        );
        bank().create(&mut conn).await.unwrap();
        let mut c = BankClient { conn, bank: bank() };
        assert_eq!(
            c.invoke(&Op::new("read", Value::Null)).await,
            Completion::Ok(json!({"0": 7, "1": null}))
        );
        assert!(matches!(
            c.invoke(&Op::new("read", Value::Null)).await,
            Completion::Info(_)
        ));
        let sent = fake.requests().await;
        assert!(
            sent[0].contains("\"CREATE\"") && sent[0].matches("request_put").count() == 2,
            "{sent:?}"
        );
    }

    #[tokio::test]
    async fn redis_transfers_by_script_and_reads_by_mget() {
        let fake = FakeRedis::start(vec![
            Reply::redis_int(1),
            Reply::redis_int(0),
            Reply::redis_array(&[Some("7"), Some("13")]),
            Reply::redis_error("READONLY You can't write against a read only replica."),
            Reply::Close,
        ])
        .await;
        let conn = DbConn::Redis(RedisPrimary::direct(
            "127.0.0.1",
            fake.port,
            Duration::from_millis(300),
        ));
        let mut c = BankClient { conn, bank: bank() };
        let t = json!({"from": 1, "to": 0, "amount": 2});
        assert_eq!(
            c.invoke(&Op::new("transfer", t.clone())).await,
            Completion::Ok(t.clone())
        );
        assert_eq!(
            c.invoke(&Op::new("transfer", t.clone())).await,
            Completion::Fail(json!("insufficient-funds"))
        );
        assert_eq!(
            c.invoke(&Op::new("read", Value::Null)).await,
            Completion::Ok(json!({"0": 7, "1": 13}))
        );
        assert!(matches!(
            c.invoke(&Op::new("transfer", t.clone())).await,
            Completion::Fail(_)
        ));
        assert!(matches!(
            c.invoke(&Op::new("transfer", t)).await,
            Completion::Info(_)
        ));
        let sent = fake.commands().await;
        assert!(
            sent[0].starts_with("EVALSHA") && sent[0].ends_with("2 b/1 b/0 2"),
            "{sent:?}"
        );
        assert_eq!(sent[2], "MGET b/0 b/1");
    }

    #[tokio::test]
    async fn malformed_transfers_are_refused_unsent() {
        let mut c = BankClient {
            conn: DbConn::Redis(RedisPrimary::direct(
                "127.0.0.1",
                1,
                Duration::from_millis(100),
            )),
            bank: bank(),
        };
        for bad in [
            json!({"from": 0, "to": 0, "amount": 1}),
            json!({"from": 0, "to": 5, "amount": 1}),
            json!({"from": 0}),
        ] {
            assert!(
                matches!(c.invoke(&Op::new("transfer", bad)).await, Completion::Fail(e) if e.as_str().unwrap().starts_with("bad-op"))
            );
        }
    }

    fn read(balances: Value, at: u64) -> Operation {
        testing::op(
            0,
            "read",
            Value::Null,
            balances,
            Outcome::Ok,
            at,
            Some(at + 1),
        )
    }

    #[test]
    fn a_read_whose_total_changed_or_that_overdrew_is_invalid() {
        let opts = Options {
            accounts: 2,
            ..Options::default()
        };
        let good = [read(json!({"0": 5, "1": 15}), 0)];
        assert_eq!(check(&good, &opts)[0].verdict, Verdict::Valid);
        let r = check(
            &[
                read(json!({"0": 5, "1": 16}), 0),
                read(json!({"0": -1, "1": 21}), 2),
            ],
            &opts,
        );
        assert_eq!(
            (r[0].checker.as_str(), r[0].verdict),
            ("bank", Verdict::Invalid)
        );
        let kinds: Vec<&str> = r[0].anomalies.iter().map(|a| a.kind.as_str()).collect();
        assert!(
            kinds.contains(&"wrong-total") && kinds.contains(&"negative-balance"),
            "{kinds:?}"
        );
    }
}
