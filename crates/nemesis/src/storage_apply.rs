//! Inflicting and healing storage faults (see [`crate::storage`]) through faultline-fs's
//! control file on each node.

use crate::fault::Fault;
use crate::node::{ApplyError, DbSignal, NodeControl, NodeError};
use crate::storage::StorageAction;
use faultline_control::faults::faultfs_ctl_cmd;
use std::collections::BTreeMap;

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
    ApplyError::unless_any(errors)
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
    ApplyError::unless_any(errors)
}
