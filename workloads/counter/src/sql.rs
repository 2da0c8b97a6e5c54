//! The counter workload on SQL databases: one row in the run's own table. An add is a
//! transaction upserting it with `v = v + delta`; a read a transaction selecting it
//! (absent: 0).

use faultline_workload_support::sql::{single, Dialect, SqlConn, Table};
use faultline_workload_support::{parse_int, ClientError};

/// The counter's table.
pub(crate) fn table(namespace: &str) -> Table {
    Table::new(namespace, "id INT PRIMARY KEY, v BIGINT NOT NULL")
}

/// Adds `delta`.
pub(crate) async fn add(c: &mut SqlConn, t: &Table, delta: i64) -> Result<(), ClientError> {
    t.begin(c).await?;
    let name = &t.name;
    let upsert = match c.dialect() {
        Dialect::Postgres => format!(
            "INSERT INTO {name} (id, v) VALUES (0, {delta}) \
             ON CONFLICT (id) DO UPDATE SET v = {name}.v + {delta}"
        ),
        Dialect::Mysql => format!(
            "INSERT INTO {name} (id, v) VALUES (0, {delta}) ON DUPLICATE KEY UPDATE v = v + {delta}"
        ),
    };
    c.query(&upsert).await?;
    c.commit().await
}

/// The counter's value.
pub(crate) async fn read(c: &mut SqlConn, t: &Table) -> Result<i64, ClientError> {
    t.begin(c).await?;
    let rows = c
        .query(&format!("SELECT v FROM {} WHERE id = 0", t.name))
        .await?;
    c.commit().await?;
    single(&rows).map_or(Ok(0), |v| parse_int(&t.name, v))
}
