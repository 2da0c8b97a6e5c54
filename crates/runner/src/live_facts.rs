//! What the run itself shows about where a fault would matter now, kept from the history as
//! it is written: which process holds the lock and through which node, which node served
//! the latest acknowledged write, how many operations each node has in flight.
//!
//! The history writer feeds every event to [`LiveFacts::observe`]; the nemesis asks
//! [`LiveFacts::choose`] when a fault aimed at the lock holder, the last writer or the
//! busiest node starts. A checker never reads this: it is targeting, not judgement.

use faultline_history::{EventType, Process};
use faultline_nemesis::Aim;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Targets chosen from the live run, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Chosen {
    /// The nodes.
    pub nodes: Vec<String>,
    /// One line for the history: what the run showed.
    pub why: String,
}

/// One event as [`LiveFacts::observe`] takes it (the recorder's record, field by field).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Observed<'a> {
    pub process: Process,
    pub kind: EventType,
    pub f: &'a str,
    pub value: &'a Value,
    pub node: Option<&'a Arc<str>>,
    pub time: u64,
}

/// The facts so far; see the module docs.
#[derive(Debug, Default)]
pub struct LiveFacts {
    facts: Mutex<Facts>,
}

#[derive(Debug, Default)]
struct Facts {
    /// Process -> (node, when its acquire completed ok, ns).
    holders: BTreeMap<u64, (Arc<str>, u64)>,
    /// Lock grants so far.
    grants: u64,
    /// The latest acknowledged write: node, process, f, time (ns).
    last_write: Option<(Arc<str>, u64, String, u64)>,
    /// Acknowledged writes so far.
    writes: u64,
    /// Node -> client operations invoked and not yet completed.
    in_flight: BTreeMap<Arc<str>, u64>,
}

/// Whether an acknowledged operation changed the data: anything but reads and lock
/// acquires and releases (the lock holder is its own target); a transaction if any of its
/// micro-operations is not a read (`["r", k, v]`).
fn is_write(f: &str, value: &Value) -> bool {
    match f {
        "read" | "acquire" | "release" => false,
        "txn" => value.as_array().is_some_and(|ops| {
            ops.iter()
                .any(|op| op.get(0).and_then(Value::as_str).is_some_and(|m| m != "r"))
        }),
        _ => true,
    }
}

impl LiveFacts {
    /// A new, shareable set of facts.
    pub fn new() -> Arc<LiveFacts> {
        Arc::new(LiveFacts::default())
    }

    /// Takes in one event as the history writer writes it: who, what, served by which node,
    /// when (ns since the start).
    pub(crate) fn observe(&self, event: Observed<'_>) {
        let Observed {
            process,
            kind,
            f,
            value,
            node,
            time,
        } = event;
        let (Process::Client(process), Some(node)) = (process, node) else {
            return;
        };
        let Ok(mut facts) = self.facts.lock() else {
            return;
        };
        if kind == EventType::Invoke {
            *facts.in_flight.entry(node.clone()).or_default() += 1;
            if f == "release" {
                facts.holders.remove(&process);
            }
            return;
        }
        if let Some(n) = facts.in_flight.get_mut(node) {
            *n = n.saturating_sub(1);
        }
        if kind != EventType::Ok {
            return;
        }
        if f == "acquire" {
            facts.holders.insert(process, (node.clone(), time));
            facts.grants += 1;
        } else if is_write(f, value) {
            facts.last_write = Some((node.clone(), process, f.to_string(), time));
            facts.writes += 1;
        }
    }

    /// How many events of the kind `aim` waits for have happened: lock grants for the lock
    /// holder, acknowledged writes for the last writer; `None` for the aims that never wait.
    pub fn events(&self, aim: Aim) -> Option<u64> {
        let f = self.facts.lock().ok()?;
        match aim {
            Aim::LockHolder => Some(f.grants),
            Aim::LastWriter => Some(f.writes),
            _ => None,
        }
    }

    /// The nodes `aim` names now, at `now_ns` since the start, and why; `None` if the run
    /// names none yet (nobody holds the lock, nothing was written, nothing is in flight).
    pub fn choose(&self, aim: Aim, now_ns: u64) -> Option<Chosen> {
        let f = self.facts.lock().ok()?;
        let ago = |t: u64| now_ns.saturating_sub(t) as f64 / 1e9;
        match aim {
            Aim::LockHolder => {
                // The most recent grant: the one a fault now most likely catches mid-hold.
                let (process, (node, at)) = f.holders.iter().max_by_key(|(_, (_, at))| *at)?;
                Some(Chosen {
                    nodes: vec![node.to_string()],
                    why: format!(
                        "process {process} holds the lock through {node} (granted {:.2} s ago)",
                        ago(*at)
                    ),
                })
            }
            Aim::LastWriter => {
                let (node, process, op, at) = f.last_write.as_ref()?;
                Some(Chosen {
                    nodes: vec![node.to_string()],
                    why: format!(
                        "{node} acknowledged the latest write ({op} by process {process}, {:.2} s ago)",
                        ago(*at)
                    ),
                })
            }
            Aim::Busiest => {
                let (node, n) = f
                    .in_flight
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .max_by_key(|(node, n)| (**n, std::cmp::Reverse(node.to_string())))?;
                Some(Chosen {
                    nodes: vec![node.to_string()],
                    why: format!("{node} has the most operations in flight ({n})"),
                })
            }
            Aim::Drawn | Aim::Primaries => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Feeds one client event, at 1 s.
    fn feed(facts: &LiveFacts, p: u64, kind: EventType, f: &str, value: Value, node: &str) {
        facts.observe(Observed {
            process: Process::Client(p),
            kind,
            f,
            value: &value,
            node: Some(&Arc::from(node)),
            time: 1_000_000_000,
        });
    }

    #[test]
    fn the_lock_holder_is_the_latest_grant_not_yet_releasing() {
        let facts = LiveFacts::new();
        assert_eq!(facts.choose(Aim::LockHolder, 0), None, "nobody holds it");
        feed(&facts, 3, EventType::Invoke, "acquire", Value::Null, "n2");
        feed(&facts, 3, EventType::Ok, "acquire", json!(7), "n2");
        assert_eq!(facts.events(Aim::LockHolder), Some(1));
        let chosen = facts.choose(Aim::LockHolder, 1_500_000_000).unwrap();
        assert_eq!(chosen.nodes, ["n2"]);
        assert_eq!(
            chosen.why,
            "process 3 holds the lock through n2 (granted 0.50 s ago)"
        );
        // A failed acquire grants nothing; a release invoked gives the lock up at once.
        feed(&facts, 4, EventType::Fail, "acquire", Value::Null, "n4");
        feed(&facts, 3, EventType::Invoke, "release", Value::Null, "n2");
        assert_eq!(facts.choose(Aim::LockHolder, 0), None);
    }

    #[test]
    fn the_last_writer_counts_acknowledged_writes_only() {
        let facts = LiveFacts::new();
        feed(&facts, 1, EventType::Ok, "write", json!(3), "n1");
        feed(&facts, 2, EventType::Ok, "read", json!(3), "n2");
        feed(&facts, 3, EventType::Info, "write", json!(4), "n3");
        feed(
            &facts,
            4,
            EventType::Ok,
            "txn",
            json!([["r", 1, [1]]]),
            "n4",
        );
        assert_eq!(facts.events(Aim::LastWriter), Some(1));
        assert_eq!(
            facts.events(Aim::Busiest),
            None,
            "the busiest node never waits"
        );
        assert_eq!(facts.choose(Aim::LastWriter, 0).unwrap().nodes, ["n1"]);
        feed(
            &facts,
            5,
            EventType::Ok,
            "txn",
            json!([["append", 1, 2]]),
            "n5",
        );
        let chosen = facts.choose(Aim::LastWriter, 2_000_000_000).unwrap();
        assert_eq!(chosen.nodes, ["n5"]);
        assert!(
            chosen.why.contains("txn by process 5, 1.00 s ago"),
            "{}",
            chosen.why
        );
    }

    #[test]
    fn the_busiest_node_has_the_most_operations_in_flight() {
        let facts = LiveFacts::new();
        assert_eq!(facts.choose(Aim::Busiest, 0), None, "nothing in flight");
        for (p, node) in [(1, "n1"), (2, "n3"), (3, "n3"), (4, "n2")] {
            feed(&facts, p, EventType::Invoke, "read", Value::Null, node);
        }
        assert_eq!(facts.choose(Aim::Busiest, 0).unwrap().nodes, ["n3"]);
        feed(&facts, 2, EventType::Ok, "read", Value::Null, "n3");
        feed(&facts, 3, EventType::Info, "read", Value::Null, "n3");
        // A tie goes to the first node by name, so the choice does not depend on map order.
        assert_eq!(facts.choose(Aim::Busiest, 0).unwrap().nodes, ["n1"]);
    }
}
