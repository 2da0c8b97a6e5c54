//! The set workload on SQL databases: a row per element in the run's own table. An add is
//! a transaction inserting its row; a read a transaction selecting every row.

use faultline_workload_support::sql::{SqlConn, Table};
use faultline_workload_support::{parse_int, ClientError};

/// The set's table.
pub(crate) fn table(namespace: &str) -> Table {
    Table::new(namespace, "e BIGINT NOT NULL")
}

/// Adds `element`.
pub(crate) async fn add(c: &mut SqlConn, t: &Table, element: i64) -> Result<(), ClientError> {
    t.begin(c).await?;
    c.query(&format!("INSERT INTO {} (e) VALUES ({element})", t.name))
        .await?;
    c.commit().await
}

/// Every element, as stored (unsorted, duplicates kept).
pub(crate) async fn read(c: &mut SqlConn, t: &Table) -> Result<Vec<i64>, ClientError> {
    t.begin(c).await?;
    let rows = c.query(&format!("SELECT e FROM {}", t.name)).await?;
    c.commit().await?;
    rows.iter()
        .map(|r| {
            parse_int(
                &t.name,
                r.first().cloned().flatten().as_deref().unwrap_or(""),
            )
        })
        .collect()
}
