//! The bank workload on SQL databases: a row per account in the run's own table,
//! `(id, balance)`. The accounts are inserted in one transaction (again harmlessly: rows
//! that exist are kept); a transfer is one transaction that reads both balances, refuses
//! if the source has too little, and updates both; a read selects every row.

use faultline_workload_support::sql::{Dialect, SqlConn, Table};
use faultline_workload_support::{parse_int, ClientError};
use std::collections::BTreeMap;

/// The bank's table.
pub(crate) fn table(namespace: &str) -> Table {
    Table::new(namespace, "id INT PRIMARY KEY, balance BIGINT NOT NULL")
}

/// Inserts `accounts` accounts holding `initial` each, keeping any that exist.
pub(crate) async fn create(
    c: &mut SqlConn,
    t: &Table,
    accounts: u32,
    initial: i64,
) -> Result<(), ClientError> {
    t.begin(c).await?;
    let rows: Vec<String> = (0..accounts).map(|a| format!("({a}, {initial})")).collect();
    let values = rows.join(", ");
    let insert = match c.dialect() {
        Dialect::Postgres => format!(
            "INSERT INTO {} (id, balance) VALUES {values} ON CONFLICT (id) DO NOTHING",
            t.name
        ),
        Dialect::Mysql => format!(
            "INSERT IGNORE INTO {} (id, balance) VALUES {values}",
            t.name
        ),
    };
    c.query(&insert).await?;
    c.commit().await
}

/// Every account's balance, by account id.
async fn balances(
    c: &mut SqlConn,
    t: &Table,
    which: &str,
) -> Result<BTreeMap<u64, i64>, ClientError> {
    let rows = c
        .query(&format!("SELECT id, balance FROM {}{which}", t.name))
        .await?;
    let mut out = BTreeMap::new();
    for r in &rows {
        let field = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
        let id = parse_int(&t.name, &field(0))?;
        out.insert(id as u64, parse_int(&t.name, &field(1))?);
    }
    Ok(out)
}

/// Moves `amount` from `from` to `to`; `Ok(Err(why))`: refused, nothing written.
pub(crate) async fn transfer(
    c: &mut SqlConn,
    t: &Table,
    from: u64,
    to: u64,
    amount: i64,
) -> Result<Result<(), &'static str>, ClientError> {
    t.begin(c).await?;
    let read = balances(c, t, &format!(" WHERE id IN ({from}, {to})")).await;
    let found = match read {
        Ok(b) => b,
        Err(e) => {
            c.rollback().await;
            return Err(e);
        }
    };
    match (found.get(&from), found.get(&to)) {
        (Some(&balance), Some(_)) if balance >= amount => {}
        (Some(_), Some(_)) => {
            c.rollback().await;
            return Ok(Err(crate::INSUFFICIENT));
        }
        _ => {
            c.rollback().await;
            return Ok(Err("no-such-account"));
        }
    }
    let name = &t.name;
    c.query(&format!(
        "UPDATE {name} SET balance = balance - {amount} WHERE id = {from}"
    ))
    .await?;
    c.query(&format!(
        "UPDATE {name} SET balance = balance + {amount} WHERE id = {to}"
    ))
    .await?;
    c.commit().await.map(Ok)
}

/// Every balance, in one transaction.
pub(crate) async fn read(c: &mut SqlConn, t: &Table) -> Result<BTreeMap<u64, i64>, ClientError> {
    t.begin(c).await?;
    let b = balances(c, t, "").await;
    match b {
        Ok(b) => {
            c.commit().await?;
            Ok(b)
        }
        Err(e) => {
            c.rollback().await;
            Err(e)
        }
    }
}
