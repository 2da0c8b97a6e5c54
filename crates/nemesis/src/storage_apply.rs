//! Inflicting and healing storage faults (see [`crate::storage`]) through faultline-fs's
//! control file on each node, and the commands of [`crate::corrupt`].

use crate::corrupt;
use crate::fault::Fault;
use crate::node::{ApplyError, DbSignal, NodeControl, NodeError};
use crate::storage::{CorruptMode, StorageAction};
use faultline_control::faults::faultfs_ctl_cmd;
use std::collections::BTreeMap;

/// How long after a restart the database must still run to count as having come back.
const COME_BACK: std::time::Duration = std::time::Duration::from_secs(2);

/// The command printing whether `pid` still runs (`up` or `down`).
pub fn still_running_command(pid: u32) -> String {
    format!("if kill -0 {pid} 2>/dev/null; then echo up; else echo down; fi")
}

/// What the heal of a `corrupt-file` records for a database that was not running.
pub const EXITED: &str = "the database was not running at the heal; started again";

/// What a restart check says when the database exited within `COME_BACK` of its start.
pub fn refused_message() -> String {
    format!(
        "the database exited within {} s of its restart (its log says why)",
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

/// Inflicts a storage fault; records in `fault` what it did on each node.
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
    let (done, errors) = match *action {
        StorageAction::LoseUnfsynced => {
            // Every target loses power before any comes back: kill all, then drop.
            let (_, mut errors) = kill_all(nodes, ctl);
            let (done, more) = each(nodes, |n| ctl.exec(n, &faultfs_ctl_cmd("drop")));
            errors.extend(more);
            (done, errors)
        }
        StorageAction::DiskError { errno } => each(nodes, |n| {
            ctl.exec(n, &faultfs_ctl_cmd(&format!("fail {}", errno.name())))
        }),
        StorageAction::CorruptFile { mode, seed } => corrupt_files(nodes, mode, seed, ctl),
    };
    *outcome = done;
    ApplyError::unless_any(errors)
}

/// Kills the database on every one of `nodes`.
fn kill_all(nodes: &[String], ctl: &dyn NodeControl) -> (BTreeMap<String, String>, Vec<NodeError>) {
    each(nodes, |n| {
        ctl.signal_db(n, DbSignal::Kill).map(|_| String::new())
    })
}

/// `corrupt-file`: kill the database on each target, damage one of its data files (what
/// the kill left in faultline-fs's memory is made durable first, as a kill leaves the page
/// cache), and start it again; what was done, per node, and whether it came back.
fn corrupt_files(
    nodes: &[String],
    mode: CorruptMode,
    seed: u64,
    ctl: &dyn NodeControl,
) -> (BTreeMap<String, String>, Vec<NodeError>) {
    let (_, mut errors) = kill_all(nodes, ctl);
    let all = ctl.nodes();
    let (dirs, patterns) = (ctl.data_dirs(), ctl.corrupt_patterns());
    let (done, more) = each(nodes, |n| {
        ctl.exec(n, &faultfs_ctl_cmd("sync"))?;
        let listed = corrupt::parse_listing(&ctl.exec(n, &corrupt::list_command(&dirs))?);
        let files = corrupt::candidates(&listed, &dirs, &patterns);
        let place = all.iter().position(|m| m == n).unwrap_or(0);
        let c = corrupt::choose(&files, mode, seed, place).ok_or_else(|| {
            NodeError::new(
                n,
                format!(
                    "no non-empty data file to corrupt under {}{}",
                    dirs.join(", "),
                    if patterns.is_empty() {
                        String::new()
                    } else {
                        format!(" matching {}", patterns.join(", "))
                    }
                ),
            )
        })?;
        let printed = ctl.exec(n, &corrupt::corrupt_command(&c))?;
        Ok(corrupt::describe(&c, &printed))
    });
    errors.extend(more);
    errors.extend(restart_all(nodes, ctl));
    (done, errors)
}

/// Starts the database on every one of `nodes`, waits [`COME_BACK`], and checks that each
/// still runs; the errors of those that did not start or exited.
pub(crate) fn restart_all(nodes: &[String], ctl: &dyn NodeControl) -> Vec<NodeError> {
    let (_, mut errors) = each(nodes, |n| ctl.start_db(n).map(|_| String::new()));
    std::thread::sleep(COME_BACK);
    let (_, more) = each(nodes, |n| {
        let pid = ctl.db_pid(n)?;
        match ctl.exec(n, &still_running_command(pid))?.trim() {
            "down" => Err(NodeError::new(n, refused_message())),
            _ => Ok(String::new()),
        }
    });
    errors.extend(more);
    errors
}

/// Whether the database on `node` runs now.
fn running(ctl: &dyn NodeControl, node: &str) -> bool {
    ctl.db_pid(node)
        .and_then(|pid| ctl.exec(node, &format!("kill -0 {pid}")))
        .is_ok()
}

/// Heals a storage fault: restarts the databases that lost power (and checks that they
/// stay up), starts again a database that refused its corrupted files or exited since (and
/// records in `fault` that it had), or lets the disks work again.
pub fn heal(fault: &mut Fault, ctl: &dyn NodeControl) -> Result<(), ApplyError> {
    let Fault::Storage {
        nodes,
        action,
        at_heal,
        ..
    } = fault
    else {
        return Ok(());
    };
    let errors = match action {
        StorageAction::LoseUnfsynced => restart_all(nodes, ctl),
        StorageAction::CorruptFile { .. } => {
            let down: Vec<String> = nodes.iter().filter(|n| !running(ctl, n)).cloned().collect();
            for n in &down {
                at_heal.insert(n.clone(), EXITED.to_string());
            }
            if down.is_empty() {
                Vec::new()
            } else {
                restart_all(&down, ctl)
            }
        }
        StorageAction::DiskError { .. } => each(nodes, |n| ctl.exec(n, &faultfs_ctl_cmd("heal"))).1,
    };
    ApplyError::unless_any(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the check for real: this process is up, a child that has exited is down.
    #[test]
    fn the_restart_check_tells_a_running_process_from_a_gone_one() {
        let check = |pid: u32| {
            let out = std::process::Command::new("sh")
                .args(["-c", &still_running_command(pid)])
                .output()
                .unwrap();
            assert!(out.status.success());
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        assert_eq!(check(std::process::id()), "up");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        assert_eq!(check(gone), "down");
    }
}
