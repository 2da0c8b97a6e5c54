//! The transactional workloads on SQL databases: a row per key in the run's own table,
//! `(k, v)` with `v` text (a list as its elements separated by spaces, or a register's
//! value). A request is one transaction at the chosen isolation level, its
//! micro-operations run in order: a read selects the key's row; an append upserts it,
//! concatenating (Elle's encoding on a text column); a write upserts the value.

use crate::{key_text, Kind, Mop, Stored};
use faultline_workload_support::sql::{literal, single, Dialect, SqlConn, Table};
use faultline_workload_support::ClientError;
use serde_json::Value;

/// The transactional workloads' table.
pub(crate) fn table(namespace: &str) -> Table {
    Table::new(namespace, "k VARCHAR(255) PRIMARY KEY, v TEXT NOT NULL")
}

/// The upsert for one write micro-operation.
fn write_sql(dialect: Dialect, kind: Kind, table: &str, key: &str, v: i64) -> String {
    let k = literal(dialect, key);
    match (dialect, kind) {
        (Dialect::Postgres, Kind::Append) => format!(
            "INSERT INTO {table} (k, v) VALUES ({k}, '{v}') \
             ON CONFLICT (k) DO UPDATE SET v = {table}.v || ' {v}'"
        ),
        (Dialect::Postgres, Kind::Wr) => format!(
            "INSERT INTO {table} (k, v) VALUES ({k}, '{v}') ON CONFLICT (k) DO UPDATE SET v = '{v}'"
        ),
        (Dialect::Mysql, Kind::Append) => format!(
            "INSERT INTO {table} (k, v) VALUES ({k}, '{v}') \
             ON DUPLICATE KEY UPDATE v = CONCAT(v, ' {v}')"
        ),
        (Dialect::Mysql, Kind::Wr) => format!(
            "INSERT INTO {table} (k, v) VALUES ({k}, '{v}') ON DUPLICATE KEY UPDATE v = '{v}'"
        ),
    }
}

/// Runs `mops` as one transaction; returns the reads' results, in order.
pub(crate) async fn run(
    c: &mut SqlConn,
    t: &Table,
    kind: Kind,
    mops: &[Mop],
) -> Result<Vec<Value>, ClientError> {
    t.begin(c).await?;
    let mut reads = Vec::new();
    for m in mops {
        let key = key_text(m.key());
        match m {
            Mop::Read(_) => {
                let k = literal(c.dialect(), &key);
                let rows = c
                    .query(&format!("SELECT v FROM {} WHERE k = {k}", t.name))
                    .await?;
                match Stored::parse(kind, &key, single(&rows)) {
                    Ok(s) => reads.push(s.shown()),
                    Err(e) => {
                        c.rollback().await;
                        return Err(e);
                    }
                }
            }
            Mop::Write(_, v) => {
                c.query(&write_sql(c.dialect(), kind, &t.name, &key, *v))
                    .await?;
            }
        }
    }
    c.commit().await?;
    Ok(reads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_concatenate_and_writes_overwrite_in_each_dialect() {
        assert_eq!(
            write_sql(Dialect::Postgres, Kind::Append, "t", "3", 7),
            "INSERT INTO t (k, v) VALUES ('3', '7') ON CONFLICT (k) DO UPDATE SET v = t.v || ' 7'"
        );
        assert_eq!(
            write_sql(Dialect::Mysql, Kind::Append, "t", "3", 7),
            "INSERT INTO t (k, v) VALUES ('3', '7') ON DUPLICATE KEY UPDATE v = CONCAT(v, ' 7')"
        );
        assert!(write_sql(Dialect::Mysql, Kind::Wr, "t", "3", 7).ends_with("UPDATE v = '7'"));
        assert!(write_sql(Dialect::Postgres, Kind::Wr, "t", "3", 7).ends_with("SET v = '7'"));
    }
}
