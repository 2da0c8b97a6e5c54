//! Failover: what a partition of the primaries does to a database whose definition has a
//! failover (`[commands] promote`, optionally `position` and `rejoin`), as an operator's
//! tooling would, without knowing which database it is.
//!
//! When `partition-primaries` has isolated the primaries, the nemesis asks every reachable
//! node its `position` (how far its copy of the data goes) and runs `promote` on the one
//! that is furthest (ties and no `position`: the first in node order). When the partition
//! heals, if a reachable node is primary by then, each old primary is retired with `rejoin`
//! while still cut off (it stops, and its next start joins the new primary), the rules go,
//! and it is started again. Nothing else fences an old primary: while cut off it is a
//! second primary to whoever still reaches it, which is what a test should see.

use crate::grudge::Grudge;
use crate::node::{ApplyError, NodeControl, NodeError};

/// The nodes a primaries partition cut off from every other node (the old primaries), and
/// the nodes still together; with no node left together there is no one to promote.
pub fn sides(grudge: &Grudge, nodes: &[String]) -> (Vec<String>, Vec<String>) {
    let others = nodes.len().saturating_sub(1);
    nodes
        .iter()
        .cloned()
        .partition(|n| others > 0 && grudge.get(n).is_some_and(|d| d.len() >= others))
}

/// The node to promote: the highest position, the first in order among equals; a node
/// whose position could not be read comes after every node whose position could.
pub fn furthest(positions: &[(String, Option<f64>)]) -> Option<String> {
    let mut best: Option<&(String, Option<f64>)> = None;
    for p in positions {
        let better = match best {
            None => true,
            Some((_, b)) => p.1.unwrap_or(f64::NEG_INFINITY) > b.unwrap_or(f64::NEG_INFINITY),
        };
        if better {
            best = Some(p);
        }
    }
    best.map(|(n, _)| n.clone())
}

/// After the rules of a primaries partition took effect: promotes the furthest reachable
/// node if the database has a failover; the node promoted.
pub fn promote(grudge: &Grudge, ctl: &dyn NodeControl) -> Result<Option<String>, ApplyError> {
    let Some(f) = ctl.failover() else {
        return Ok(None);
    };
    let (_, reachable) = sides(grudge, &ctl.nodes());
    let positions: Vec<(String, Option<f64>)> = reachable
        .iter()
        .map(|n| {
            let read = f.position.as_ref().map(|c| ctl.exec(n, c));
            let position = match read {
                Some(Ok(out)) => out.trim().parse().ok(),
                Some(Err(_)) => None,
                None => Some(0.0),
            };
            (n.clone(), position)
        })
        .collect();
    let Some(chosen) = furthest(&positions) else {
        return Err(NodeError::new("cluster", "failover: no reachable node to promote").into());
    };
    ctl.exec(&chosen, &f.promote)
        .map_err(|e| NodeError::new(e.node, format!("failover: promote: {}", e.message)))?;
    Ok(Some(chosen))
}

/// Before a primaries partition's rules go: the old primaries to start again once they
/// are gone (each retired with `rejoin`), if another node is primary by now.
pub fn retire(grudge: &Grudge, ctl: &dyn NodeControl) -> Result<Vec<String>, ApplyError> {
    let Some(rejoin) = ctl.failover().and_then(|f| f.rejoin) else {
        return Ok(Vec::new());
    };
    let (old, reachable) = sides(grudge, &ctl.nodes());
    let primaries = ctl.primaries()?;
    if !reachable.iter().any(|n| primaries.contains(n)) {
        return Ok(Vec::new());
    }
    let mut errors = Vec::new();
    for n in &old {
        if let Err(e) = ctl.exec(n, &rejoin) {
            errors.push(NodeError::new(
                e.node,
                format!("failover: rejoin: {}", e.message),
            ));
        }
    }
    ApplyError::unless_any(errors)?;
    Ok(old)
}

/// After the rules went: starts the retired old primaries again.
pub fn restart(retired: &[String], ctl: &dyn NodeControl) -> Result<(), ApplyError> {
    ApplyError::unless_any(
        retired
            .iter()
            .filter_map(|n| ctl.start_db(n).err())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::{apply_start_timed, apply_stop_timed};
    use crate::fault::Fault;
    use crate::grudge::{primaries, PartitionSpec};
    use crate::node::Failover;
    use std::sync::Mutex;

    /// Three nodes, n1 primary until n3 is promoted; n3 is furthest ahead.
    struct Fake {
        failover: Option<Failover>,
        log: Mutex<Vec<(String, String)>>,
        promoted: Mutex<bool>,
    }

    impl NodeControl for Fake {
        fn nodes(&self) -> Vec<String> {
            names(&["n1", "n2", "n3"])
        }
        fn exec(&self, node: &str, command: &str) -> Result<String, NodeError> {
            self.log.lock().unwrap().push((node.into(), command.into()));
            if command == "PROMOTE" {
                *self.promoted.lock().unwrap() = true;
            }
            Ok(match command {
                "POSITION" => format!("{}\n", if node == "n3" { 900 } else { 100 }),
                _ => String::new(),
            })
        }
        fn addr(&self, node: &str) -> Result<String, NodeError> {
            Ok(format!("10.0.0.{}", &node[1..]))
        }
        fn db_pid(&self, _node: &str) -> Result<u32, NodeError> {
            Ok(1)
        }
        fn start_db(&self, node: &str) -> Result<(), NodeError> {
            self.exec(node, "START-DB").map(drop)
        }
        fn clock_offset_file(&self, _node: &str) -> String {
            String::new()
        }
        fn primaries(&self) -> Result<Vec<String>, NodeError> {
            let promoted = *self.promoted.lock().unwrap();
            Ok(names(if promoted { &["n1", "n3"] } else { &["n1"] }))
        }
        fn failover(&self) -> Option<Failover> {
            self.failover.clone()
        }
    }

    fn fake(failover: Option<Failover>) -> Fake {
        Fake {
            failover,
            log: Mutex::default(),
            promoted: Mutex::default(),
        }
    }

    /// What the control ran besides the partition's rules.
    fn commands(f: &Fake) -> Vec<(String, String)> {
        let log = f.log.lock().unwrap();
        log.iter()
            .filter(|(_, c)| !c.contains("iptables"))
            .cloned()
            .collect()
    }

    #[test]
    fn a_primaries_partition_promotes_the_furthest_and_its_heal_rejoins_the_old_primary() {
        let ctl = fake(Some(Failover {
            promote: "PROMOTE".into(),
            position: Some("POSITION".into()),
            rejoin: Some("REJOIN".into()),
        }));
        let fault = Fault::Partition {
            spec: PartitionSpec::Primaries,
            grudge: Default::default(),
        };
        let (resolved, landing) = apply_start_timed(&fault, &ctl).unwrap();
        assert_eq!(landing.unwrap().promoted.as_deref(), Some("n3"));
        let pair = |n: &str, c: &str| (n.to_string(), c.to_string());
        let started = vec![
            pair("n2", "POSITION"),
            pair("n3", "POSITION"),
            pair("n3", "PROMOTE"),
        ];
        assert_eq!(commands(&ctl), started);
        let healed = apply_stop_timed(&resolved, &ctl).unwrap().1.unwrap();
        assert_eq!(healed.rejoined, names(&["n1"]));
        let mut all = started;
        all.extend([pair("n1", "REJOIN"), pair("n1", "START-DB")]);
        assert_eq!(
            commands(&ctl),
            all,
            "retired while cut off, started after the rules went"
        );
        let log = ctl.log.lock().unwrap();
        let at = |c: &str| log.iter().position(|(_, x)| x == c).unwrap();
        let deleted = log
            .iter()
            .rposition(|(_, x)| x.contains("iptables"))
            .unwrap();
        assert!(
            at("REJOIN") < deleted && deleted < at("START-DB"),
            "{log:?}"
        );
    }

    #[test]
    fn without_a_failover_or_a_new_primary_nothing_is_promoted_or_retired() {
        let ctl = fake(None);
        let fault = Fault::Partition {
            spec: PartitionSpec::Primaries,
            grudge: Default::default(),
        };
        let (resolved, landing) = apply_start_timed(&fault, &ctl).unwrap();
        assert_eq!(landing.unwrap().promoted, None);
        apply_stop_timed(&resolved, &ctl).unwrap();
        assert_eq!(commands(&ctl), vec![]);
        // The promotion failed to make a primary: the old one is not retired.
        let unpromoted = fake(Some(Failover {
            promote: "FAILS-QUIETLY".into(),
            position: None,
            rejoin: Some("REJOIN".into()),
        }));
        let (resolved, _) = apply_start_timed(&fault, &unpromoted).unwrap();
        let healed = apply_stop_timed(&resolved, &unpromoted).unwrap().1.unwrap();
        assert!(healed.rejoined.is_empty());
        assert_eq!(
            commands(&unpromoted),
            vec![("n2".into(), "FAILS-QUIETLY".into())]
        );
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_isolated_primaries_are_one_side_the_rest_the_other() {
        let nodes = names(&["n1", "n2", "n3"]);
        let g = primaries(&nodes, &names(&["n1"]));
        assert_eq!(sides(&g, &nodes), (names(&["n1"]), names(&["n2", "n3"])));
        let two = names(&["n1", "n2"]);
        let g = primaries(&two, &names(&["n1"]));
        assert_eq!(
            sides(&g, &two).1,
            Vec::<String>::new(),
            "n2 alone looks isolated too: no promotion"
        );
    }

    #[test]
    fn the_furthest_node_is_promoted_first_in_order_among_equals() {
        let p = |n: &str, v: Option<f64>| (n.to_string(), v);
        assert_eq!(
            furthest(&[p("n2", Some(5.0)), p("n3", Some(9.0))]).as_deref(),
            Some("n3")
        );
        assert_eq!(
            furthest(&[p("n2", Some(9.0)), p("n3", Some(9.0))]).as_deref(),
            Some("n2")
        );
        assert_eq!(
            furthest(&[p("n2", None), p("n3", Some(0.0))]).as_deref(),
            Some("n3")
        );
        assert_eq!(furthest(&[p("n2", None)]).as_deref(), Some("n2"));
        assert_eq!(furthest(&[]), None);
    }
}
