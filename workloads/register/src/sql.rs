//! The register workload on SQL databases: a row per key in the run's own table,
//! `(k, v)`. Each operation is one transaction at the chosen isolation level: a read
//! selects the row; a write upserts it; a cas locks the row (`SELECT ... FOR UPDATE`),
//! compares, and updates it, or rolls back with `compare-failed`.

use faultline_workload_support::sql::{literal, single, Dialect, SqlConn, Table};
use faultline_workload_support::{parse_int, ClientError};

/// The register workload's table and statements.
#[derive(Clone)]
pub(crate) struct RegisterSql {
    table: Table,
}

impl RegisterSql {
    /// The statements for the table named after `namespace`.
    pub(crate) fn new(namespace: &str) -> Self {
        RegisterSql {
            table: Table::new(namespace, "k VARCHAR(255) PRIMARY KEY, v BIGINT NOT NULL"),
        }
    }

    fn select(&self, c: &SqlConn, key: &str, lock: bool) -> String {
        let k = literal(c.dialect(), key);
        let suffix = if lock { " FOR UPDATE" } else { "" };
        format!("SELECT v FROM {} WHERE k = {k}{suffix}", self.table.name)
    }

    /// The key's value, `None` when it has none.
    pub(crate) async fn read(
        &self,
        c: &mut SqlConn,
        key: &str,
    ) -> Result<Option<i64>, ClientError> {
        self.table.begin(c).await?;
        let rows = c.query(&self.select(c, key, false)).await?;
        c.commit().await?;
        single(&rows).map(|v| parse_int(key, v)).transpose()
    }

    /// Sets the key's value.
    pub(crate) async fn write(
        &self,
        c: &mut SqlConn,
        key: &str,
        value: i64,
    ) -> Result<(), ClientError> {
        self.table.begin(c).await?;
        let (t, k) = (&self.table.name, literal(c.dialect(), key));
        let upsert = match c.dialect() {
            Dialect::Postgres => format!(
                "INSERT INTO {t} (k, v) VALUES ({k}, {value}) ON CONFLICT (k) DO UPDATE SET v = {value}"
            ),
            Dialect::Mysql => format!(
                "INSERT INTO {t} (k, v) VALUES ({k}, {value}) ON DUPLICATE KEY UPDATE v = {value}"
            ),
        };
        c.query(&upsert).await?;
        c.commit().await
    }

    /// Sets the key to `new` if it holds `expected`; `Ok(false)`: it did not (rolled back).
    pub(crate) async fn cas(
        &self,
        c: &mut SqlConn,
        key: &str,
        expected: i64,
        new: i64,
    ) -> Result<bool, ClientError> {
        self.table.begin(c).await?;
        let rows = c.query(&self.select(c, key, true)).await?;
        let current = match single(&rows).map(|v| parse_int(key, v)).transpose() {
            Ok(v) => v,
            Err(e) => {
                c.rollback().await;
                return Err(e);
            }
        };
        if current != Some(expected) {
            c.rollback().await;
            return Ok(false);
        }
        let k = literal(c.dialect(), key);
        c.query(&format!(
            "UPDATE {} SET v = {new} WHERE k = {k}",
            self.table.name
        ))
        .await?;
        c.commit().await?;
        Ok(true)
    }
}
