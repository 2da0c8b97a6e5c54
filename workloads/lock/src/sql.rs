//! The lock workloads on SQL databases: a lease row, the same on PostgreSQL and MySQL.
//!
//! Advisory locks (`pg_advisory_lock`, `GET_LOCK`) belong to a session: they have no lease,
//! and a holder whose connection the server has not yet noticed is gone holds them for as
//! long as TCP takes to tell. A lease row is a lease lock like etcd's and Redis's, judged by
//! the same lease semantics, so the workload keeps one meaning on every family.
//!
//! The run's table holds two rows: row 0 is the lock (`holder`, `token`, `expires_ms`, by
//! the database's own clock), row 1 the protected register (`v`, and in `token` the highest
//! fencing token it accepted). Each step is one transaction that locks the row it reads
//! (`SELECT ... FOR UPDATE`) and decides on what it read:
//! - acquire: free (no holder, or its lease ran out) -> holder = us, token + 1, expires =
//!   now + lease; taken -> `lock-held`, rolled back.
//! - renew (the keepalive, on a connection of its own): still ours and unexpired -> expires
//!   = now + lease.
//! - write: plain, set `v`; fenced, set `v` and the token unless a higher token was
//!   accepted (`stale-token`).
//! - release: still ours and unexpired -> no holder; otherwise `lock-lost`.
//!
//! Failures are the SQL outcome table's: anything before `COMMIT` is `fail`, a `COMMIT`
//! that may have happened `info`.

use faultline_workload_support::sql::{literal, Dialect, SqlConn, Table};
use faultline_workload_support::{parse_int, ClientError};
use std::time::Duration;

/// Row 0: the lock; row 1: the protected register.
const COLUMNS: &str =
    "id INT PRIMARY KEY, holder VARCHAR(255), token BIGINT NOT NULL, expires_ms BIGINT NOT NULL, v VARCHAR(255)";

/// The lock's table and lease.
#[derive(Clone, Debug)]
pub(crate) struct LockSql {
    table: Table,
    lease_ms: u128,
}

/// Row 0 as a transaction read it, with the database's clock at that moment.
#[derive(Debug, PartialEq, Eq)]
struct LockRow {
    holder: Option<String>,
    token: i64,
    expires_ms: i64,
    now_ms: i64,
}

impl LockRow {
    /// Whether `holder` holds the lock with `token` and its lease still runs.
    fn held_by(&self, holder: &str, token: i64) -> bool {
        self.holder.as_deref() == Some(holder) && self.token == token && self.live()
    }

    /// Whether someone holds the lock with a lease that still runs.
    fn live(&self) -> bool {
        self.holder.is_some() && self.expires_ms > self.now_ms
    }
}

/// The database's clock in ms since the Unix epoch, as an SQL expression: the moment the
/// statement runs (not the transaction's start, which may precede a wait for the row).
fn now_ms(d: Dialect) -> &'static str {
    match d {
        Dialect::Postgres => "(extract(epoch FROM clock_timestamp()) * 1000)::bigint",
        Dialect::Mysql => "CAST(UNIX_TIMESTAMP(SYSDATE(3)) * 1000 AS SIGNED)",
    }
}

impl LockSql {
    /// The statements for the table named after `namespace`, with lease `lease`.
    pub(crate) fn new(namespace: &str, lease: Duration) -> Self {
        LockSql {
            table: Table::new(namespace, COLUMNS),
            lease_ms: lease.as_millis().max(1),
        }
    }

    /// Row 0 under a row lock; the transaction must be open.
    async fn lock_row(&self, c: &mut SqlConn) -> Result<LockRow, ClientError> {
        let sql = format!(
            "SELECT holder, token, expires_ms, {} FROM {} WHERE id = 0 FOR UPDATE",
            now_ms(c.dialect()),
            self.table.name
        );
        let rows = c.query(&sql).await?;
        let row = rows.first().ok_or_else(|| {
            ClientError::Rejected(format!("{}: the lock row is missing", self.table.name))
        });
        let parsed = row.and_then(|r| parse_lock_row(&self.table.name, r));
        if parsed.is_err() {
            c.rollback().await;
        }
        parsed
    }

    /// Runs `update` and commits if `decide(row)` says so; otherwise rolls back.
    /// `Ok(None)`: rolled back.
    async fn locked_step(
        &self,
        c: &mut SqlConn,
        decide: impl FnOnce(&LockRow) -> Option<String>,
    ) -> Result<Option<LockRow>, ClientError> {
        let row = self.lock_row(c).await?;
        let Some(update) = decide(&row) else {
            c.rollback().await;
            return Ok(None);
        };
        c.query(&update).await?;
        c.commit().await?;
        Ok(Some(row))
    }

    /// Takes the lock for `holder` if it is free; `Ok(Some(token))`: taken with this token,
    /// `Ok(None)`: someone else holds it (rolled back).
    pub(crate) async fn acquire(
        &self,
        c: &mut SqlConn,
        holder: &str,
    ) -> Result<Option<i64>, ClientError> {
        self.table.begin(c).await?;
        c.query(&self.create_rows(c.dialect())).await?;
        let (t, h, now) = (
            &self.table.name,
            literal(c.dialect(), holder),
            now_ms(c.dialect()),
        );
        let lease = self.lease_ms;
        let taken = self
            .locked_step(c, |row| {
                (!row.live()).then(|| {
                    format!(
                        "UPDATE {t} SET holder = {h}, token = {}, expires_ms = {now} + {lease} WHERE id = 0",
                        row.token + 1
                    )
                })
            })
            .await?;
        Ok(taken.map(|row| row.token + 1))
    }

    /// Both rows, unless they exist (statement safe to repeat).
    fn create_rows(&self, d: Dialect) -> String {
        let values = "(0, NULL, 0, 0, NULL), (1, NULL, 0, 0, NULL)";
        let t = &self.table.name;
        match d {
            Dialect::Postgres => format!(
                "INSERT INTO {t} (id, holder, token, expires_ms, v) VALUES {values} ON CONFLICT (id) DO NOTHING"
            ),
            Dialect::Mysql => format!(
                "INSERT IGNORE INTO {t} (id, holder, token, expires_ms, v) VALUES {values}"
            ),
        }
    }

    /// Extends the lease of `holder`'s hold with `token` if it still runs; `Ok(false)`:
    /// the hold is gone (expired or taken), nothing written.
    pub(crate) async fn renew(
        &self,
        c: &mut SqlConn,
        holder: &str,
        token: i64,
    ) -> Result<bool, ClientError> {
        let set = format!("expires_ms = {} + {}", now_ms(c.dialect()), self.lease_ms);
        self.if_held(c, holder, token, &set).await
    }

    /// Frees the lock if `holder` still holds it with `token`; `Ok(false)`: the lease ran
    /// out or another process holds it (`lock-lost`), nothing written.
    pub(crate) async fn release(
        &self,
        c: &mut SqlConn,
        holder: &str,
        token: i64,
    ) -> Result<bool, ClientError> {
        self.if_held(c, holder, token, "holder = NULL, expires_ms = 0")
            .await
    }

    /// One transaction that sets `set` on the lock row if `holder` still holds it with
    /// `token` and its lease runs; `Ok(false)`: it does not, rolled back.
    async fn if_held(
        &self,
        c: &mut SqlConn,
        holder: &str,
        token: i64,
        set: &str,
    ) -> Result<bool, ClientError> {
        c.begin().await?;
        let update = format!("UPDATE {} SET {set} WHERE id = 0", self.table.name);
        let done = self
            .locked_step(c, |row| row.held_by(holder, token).then_some(update))
            .await?;
        Ok(done.is_some())
    }

    /// Writes `record` to the register; fenced, only if no token above `token` was
    /// accepted (`Ok(false)`: refused, nothing written).
    pub(crate) async fn write(
        &self,
        c: &mut SqlConn,
        record: &str,
        token: i64,
        fenced: bool,
    ) -> Result<bool, ClientError> {
        c.begin().await?;
        let (t, v) = (&self.table.name, literal(c.dialect(), record));
        if !fenced {
            c.query(&format!("UPDATE {t} SET v = {v} WHERE id = 1"))
                .await?;
            c.commit().await?;
            return Ok(true);
        }
        let rows = c
            .query(&format!("SELECT token FROM {t} WHERE id = 1 FOR UPDATE"))
            .await?;
        let accepted = match rows.first().and_then(|r| r.first()).cloned().flatten() {
            Some(text) => parse_int(t, &text),
            None => Err(ClientError::Rejected(format!(
                "{t}: the register row is missing"
            ))),
        };
        let accepted = match accepted {
            Ok(a) => a,
            Err(e) => {
                c.rollback().await;
                return Err(e);
            }
        };
        if accepted > token {
            c.rollback().await;
            return Ok(false);
        }
        c.query(&format!(
            "UPDATE {t} SET token = {token}, v = {v} WHERE id = 1"
        ))
        .await?;
        c.commit().await?;
        Ok(true)
    }
}

/// Row 0's columns (holder, token, expires_ms, now_ms) as text; anything else is someone
/// else's data or a bug: a definite failure (the transaction is rolled back).
fn parse_lock_row(table: &str, r: &[Option<String>]) -> Result<LockRow, ClientError> {
    let int = |i: usize| -> Result<i64, ClientError> {
        let text = r.get(i).cloned().flatten().unwrap_or_default();
        parse_int(table, &text).map_err(|e| ClientError::Rejected(e.history_error()))
    };
    Ok(LockRow {
        holder: r.first().cloned().flatten(),
        token: int(1)?,
        expires_ms: int(2)?,
        now_ms: int(3)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(holder: Option<&str>, token: i64, expires_ms: i64) -> Vec<Option<String>> {
        vec![
            holder.map(str::to_string),
            Some(token.to_string()),
            Some(expires_ms.to_string()),
            Some("1000".into()),
        ]
    }

    #[test]
    fn a_hold_is_ours_only_while_its_lease_runs() {
        let held = parse_lock_row("t", &row(Some("n1#0"), 4, 1500)).unwrap();
        assert!(held.live() && held.held_by("n1#0", 4));
        assert!(!held.held_by("n1#0", 3), "an older hold of the same holder");
        assert!(!held.held_by("n2#1", 4));
        let expired = parse_lock_row("t", &row(Some("n1#0"), 4, 1000)).unwrap();
        assert!(!expired.live() && !expired.held_by("n1#0", 4));
        let free = parse_lock_row("t", &row(None, 4, 9999)).unwrap();
        assert!(!free.live());
    }

    #[test]
    fn an_unreadable_lock_row_is_a_definite_failure() {
        let mut bad = row(Some("n1#0"), 4, 1500);
        bad[1] = Some("four".into());
        let e = parse_lock_row("t", &bad).unwrap_err();
        assert!(e.is_definite(), "{e:?}");
        assert!(e.history_error().contains("\"four\""), "{e:?}");
    }

    #[test]
    fn the_clock_is_the_statements_own_in_both_dialects() {
        assert!(now_ms(Dialect::Postgres).contains("clock_timestamp()"));
        assert!(now_ms(Dialect::Mysql).contains("SYSDATE(3)"));
        let l = LockSql::new("faultline/lock/1", Duration::from_millis(2500));
        assert!(l
            .create_rows(Dialect::Mysql)
            .starts_with("INSERT IGNORE INTO faultline_lock_1 "));
        assert!(l
            .create_rows(Dialect::Postgres)
            .ends_with("ON CONFLICT (id) DO NOTHING"));
        assert_eq!(l.lease_ms, 2500);
    }
}
