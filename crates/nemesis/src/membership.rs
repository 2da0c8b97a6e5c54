//! The `membership` fault: a node leaves the cluster (the definition's `[commands] leave`),
//! its database is stopped and its data wiped; healing adds it back (`join`) and starts it
//! with empty data, so it must catch up from its peers. The fault records the members before
//! and after, and what the definition's command printed (the database's own view).

use crate::fault::Fault;
use crate::node::{ApplyError, DbSignal, MembershipChange, NodeControl, NodeError};
use crate::storage_apply::restart_all;
use faultline_control::faults::LEFT_CLUSTER_FILE;
use std::collections::BTreeMap;

/// What a membership fault records: its target, the members before and after, what the
/// definition's commands printed.
type Parts<'a> = (
    &'a mut Vec<String>,
    &'a mut Vec<String>,
    &'a mut Vec<String>,
    &'a mut BTreeMap<String, String>,
);

/// The parts of a membership fault, or `None` for another fault.
fn parts(fault: &mut Fault) -> Option<Parts<'_>> {
    match fault {
        Fault::Membership {
            nodes,
            before,
            after,
            outcome,
            ..
        } => Some((nodes, before, after, outcome)),
        _ => None,
    }
}

/// The node a membership fault moves: its first target (a primaries target may name several).
fn target(nodes: &mut Vec<String>) -> Result<String, ApplyError> {
    nodes.truncate(1);
    nodes.first().cloned().ok_or_else(|| {
        ApplyError::from(NodeError::new(
            "cluster",
            "no node to remove from the cluster",
        ))
    })
}

/// Removes the target from the cluster, stops its database and wipes its data; records the
/// membership before and after in `fault`.
pub fn inflict(fault: &mut Fault, ctl: &dyn NodeControl) -> Result<(), ApplyError> {
    let Some((nodes, before, after, outcome)) = parts(fault) else {
        return Ok(());
    };
    let node = target(nodes)?;
    *before = members(ctl);
    *after = before.iter().filter(|n| **n != node).cloned().collect();
    let printed = ctl.change_membership(&node, MembershipChange::Leave, after)?;
    outcome.insert(node.clone(), one_line(&printed));
    ctl.exec(&node, &format!("touch {LEFT_CLUSTER_FILE}"))?;
    // A removed member may already have shut itself down: a failed kill is no error.
    let _ = ctl.signal_db(&node, DbSignal::Kill);
    ctl.wipe_data(&node)?;
    Ok(())
}

/// Adds the target back to the cluster and starts its database, checking that it stays up;
/// records in `fault` the members after the rejoin and what the `join` command printed.
pub fn heal(fault: &mut Fault, ctl: &dyn NodeControl) -> Result<(), ApplyError> {
    let Some((nodes, before, after, outcome)) = parts(fault) else {
        return Ok(());
    };
    let Some(node) = nodes.first().cloned() else {
        return Ok(());
    };
    // A leave that failed left the node a member with its data: nothing to undo.
    if !outcome.contains_key(&node) {
        return Ok(());
    }
    let members = if before.is_empty() {
        ctl.nodes()
    } else {
        before.clone()
    };
    let printed = ctl.change_membership(&node, MembershipChange::Join, &members)?;
    *after = members;
    outcome.insert(node.clone(), one_line(&printed));
    ctl.exec(&node, &format!("rm -f {LEFT_CLUSTER_FILE}"))?;
    ApplyError::unless_any(restart_all(&[node], ctl))
}

/// The members of the cluster now: every node but those an earlier membership fault removed
/// and could not add back (marked with [`LEFT_CLUSTER_FILE`]); a node that cannot be asked
/// counts as a member.
fn members(ctl: &dyn NodeControl) -> Vec<String> {
    let check = format!("if [ -e {LEFT_CLUSTER_FILE} ]; then echo left; fi");
    ctl.nodes()
        .into_iter()
        .filter(|n| ctl.exec(n, &check).map_or(true, |out| out.trim() != "left"))
        .collect()
}

fn one_line(s: &str) -> String {
    s.trim().replace('\n', "; ")
}
