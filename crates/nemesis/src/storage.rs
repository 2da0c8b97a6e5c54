//! Storage faults: what a node keeps when its power goes, and disks that fail.
//!
//! They act through faultline-fs (`image/faultfs.c`), which a run with a storage fault
//! mounts over the database's data directories on every node (and no other run does).
//! `lose-unfsynced` kills the database on its targets and drops what they wrote and never
//! fsynced; healing starts it again. `power-cut` does it to every node at once: the data
//! center loses power. `disk-error` fails writes, fsyncs and creations under the data
//! directories with EIO or ENOSPC until healed. Each records, per node, what faultline-fs
//! answered (files rolled back, bytes dropped, directories restored; the error injected), and
//! healing a lost-write fault checks that the database came back.

use crate::apply::{ApplyError, DbSignal, NodeControl, NodeError};
use crate::fault::Fault;
use faultline_control::faults::faultfs_ctl_cmd;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which storage fault a user asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StorageKind {
    /// Kill the database, drop what was not fsynced, restart it when healed.
    LoseUnfsynced,
    /// Writes and fsyncs fail with EIO or ENOSPC until healed.
    DiskError,
}

impl StorageKind {
    /// The `--nemesis` name: `lose-unfsynced` or `disk-error`.
    pub fn name(self) -> &'static str {
        match self {
            StorageKind::LoseUnfsynced => "lose-unfsynced",
            StorageKind::DiskError => "disk-error",
        }
    }
}

/// What a storage fault does, concretely.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum StorageAction {
    /// The database is killed and what it never fsynced is lost.
    LoseUnfsynced,
    /// Writes, fsyncs and creations fail with this error (`EIO` or `ENOSPC`).
    DiskError {
        /// The error name.
        errno: DiskErrno,
    },
}

/// The error a `disk-error` fault injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiskErrno {
    /// An I/O error: the disk failed (the "fsyncgate" case when an fsync gets it).
    EIO,
    /// No space left on the device.
    ENOSPC,
}

impl DiskErrno {
    /// `EIO` or `ENOSPC`.
    pub fn name(self) -> &'static str {
        match self {
            DiskErrno::EIO => "EIO",
            DiskErrno::ENOSPC => "ENOSPC",
        }
    }
}

/// How long after a restart the database must still run to count as having come back.
const COME_BACK: std::time::Duration = std::time::Duration::from_secs(2);

/// The command checking that `pid` still runs; it fails with one line if not.
pub fn still_running_command(pid: u32) -> String {
    format!(
        "kill -0 {pid} 2>/dev/null || \
         {{ echo 'the database exited within {} s of its restart after the storage fault (see its log)' >&2; exit 1; }}",
        COME_BACK.as_secs()
    )
}

fn each(
    nodes: &[String],
    mut f: impl FnMut(&str) -> Result<String, NodeError>,
) -> (BTreeMap<String, String>, Vec<NodeError>) {
    let mut done = BTreeMap::new();
    let mut errors = Vec::new();
    for n in nodes {
        match f(n) {
            Ok(out) => {
                done.insert(n.clone(), out.trim().replace('\n', "; "));
            }
            Err(e) => errors.push(e),
        }
    }
    (done, errors)
}

fn result(errors: Vec<NodeError>) -> Result<(), ApplyError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApplyError {
            errors,
            resolved: None,
        })
    }
}

/// Inflicts a storage fault; records in `fault` what faultline-fs did on each node.
pub fn inflict(fault: &mut Fault, ctl: &dyn NodeControl) -> Result<(), ApplyError> {
    let Fault::Storage {
        nodes,
        action,
        outcome,
        ..
    } = fault
    else {
        return Ok(());
    };
    let (done, errors) = match action {
        StorageAction::LoseUnfsynced => {
            // Every target loses power before any comes back: kill all, then drop.
            let (_, mut errors) = each(nodes, |n| {
                ctl.signal_db(n, DbSignal::Kill).map(|_| String::new())
            });
            let (done, more) = each(nodes, |n| ctl.exec(n, &faultfs_ctl_cmd("drop")));
            errors.extend(more);
            (done, errors)
        }
        StorageAction::DiskError { errno } => each(nodes, |n| {
            ctl.exec(n, &faultfs_ctl_cmd(&format!("fail {}", errno.name())))
        }),
    };
    *outcome = done;
    result(errors)
}

/// Heals a storage fault: restarts the databases that lost power (and checks that they
/// stay up), or lets the disks work again.
pub fn heal(fault: &Fault, ctl: &dyn NodeControl) -> Result<(), ApplyError> {
    let Fault::Storage { nodes, action, .. } = fault else {
        return Ok(());
    };
    let (_, errors) = match action {
        StorageAction::LoseUnfsynced => {
            let (_, mut errors) = each(nodes, |n| ctl.start_db(n).map(|_| String::new()));
            std::thread::sleep(COME_BACK);
            let (_, more) = each(nodes, |n| {
                let pid = ctl.db_pid(n)?;
                ctl.exec(n, &still_running_command(pid))
            });
            errors.extend(more);
            ((), errors)
        }
        StorageAction::DiskError { .. } => {
            let (_, errors) = each(nodes, |n| ctl.exec(n, &faultfs_ctl_cmd("heal")));
            ((), errors)
        }
    };
    result(errors)
}
