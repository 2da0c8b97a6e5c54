//! Pairing: turns a flat event list into client [`Operation`]s.

use crate::{Event, EventType, Operation, Outcome, Process};
use rustc_hash::FxHashMap;
use std::collections::hash_map::Entry;
use std::fmt;

/// Why a history cannot be paired: the 1-based line of the offending event and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairError {
    /// 1-based source line of the offending event.
    pub line: u32,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for PairError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for PairError {}

/// Pairs each client invocation with its process's next completion.
///
/// `lines[i]` is the source line of `events[i]`, used in errors; where `lines` is shorter
/// than `events` (e.g. empty), the 1-based position stands in.
///
/// The result is ordered by the invoke event's `index` (invocation order). Nemesis events
/// are skipped. An invocation still open when the history ends becomes an [`Outcome::Info`]
/// operation with `complete_index` and `complete_time` `None`: it may or may not have
/// happened.
///
/// Errors: indices that do not strictly increase; a completion with no open invocation for
/// its process; a second invocation while one is open; a completion whose `f` or key differs
/// from its invocation's; a process whose event times decrease. Times are checked per
/// process, not across processes, because Jepsen stamps each event on its worker's thread:
/// events of different processes can appear slightly out of time order (Knossos's
/// `data/mutex/bad/etcd.edn` has such an interleaving).
pub fn pair(events: &[Event], lines: &[u32]) -> Result<Vec<Operation>, PairError> {
    let mut pairer = Pairer::default();
    for (i, ev) in events.iter().enumerate() {
        let line = lines
            .get(i)
            .copied()
            .unwrap_or_else(|| u32::try_from(i + 1).unwrap_or(u32::MAX));
        pairer.push(ev.clone(), line)?;
    }
    Ok(pairer.finish())
}

/// [`pair`], one event at a time, as a history is read or written: the events need not be
/// kept. The same checks and the same result as [`pair`].
///
/// ```
/// use faultline_history::{pairing::Pairer, testing::event, EventType, Process};
/// let mut pairer = Pairer::default();
/// let invoke = event(0, 0, Process::Client(1), EventType::Invoke, "read", serde_json::Value::Null);
/// assert_eq!(pairer.push(invoke, 1).unwrap(), None);
/// let ok = event(1, 5, Process::Client(1), EventType::Ok, "read", serde_json::json!(3));
/// assert_eq!(pairer.push(ok, 2).unwrap(), Some(0));
/// assert_eq!(pairer.finish()[0].output, serde_json::json!(3));
/// ```
#[derive(Debug, Default)]
pub struct Pairer {
    ops: Vec<Operation>,
    /// Per client process: its latest event and open invocation (one lookup an event).
    procs: FxHashMap<u64, ProcState>,
    /// How many processes have an invocation open.
    open: usize,
    /// (index, line) of the latest event.
    prev_index: Option<(u64, u32)>,
}

/// What a [`Pairer`] knows of one client process.
#[derive(Debug)]
struct ProcState {
    /// `time` of its latest event.
    time: u64,
    /// Line of its latest event.
    line: u32,
    /// (line, position in `ops`) of its open invocation.
    open: Option<(u32, usize)>,
}

impl Pairer {
    /// A pairer with room for `ops` operations before it must grow.
    pub fn with_capacity(ops: usize) -> Self {
        Pairer {
            ops: Vec::with_capacity(ops),
            ..Pairer::default()
        }
    }

    /// Takes the next event of the history, read from source line `line`. On a completion,
    /// returns the position (in [`Pairer::ops`]) of the operation it completed.
    pub fn push(&mut self, ev: Event, line: u32) -> Result<Option<usize>, PairError> {
        let err = |message: String| PairError { line, message };
        if let Some((prev, at)) = self.prev_index {
            if ev.index <= prev {
                return Err(err(format!(
                    "index {} is not greater than the previous event's index {prev} (line {at}); expected strictly increasing indices",
                    ev.index
                )));
            }
        }
        self.prev_index = Some((ev.index, line));

        let Process::Client(p) = ev.process else {
            return Ok(None);
        };
        let state = match self.procs.entry(p) {
            Entry::Occupied(seen) => {
                let state = seen.into_mut();
                let (t, at) = (state.time, state.line);
                if ev.time < t {
                    return Err(err(format!(
                        "time {} for process {p} is earlier than its previous event's time {t} (line {at}); expected a process's times never to decrease",
                        ev.time
                    )));
                }
                state.time = ev.time;
                state.line = line;
                state
            }
            Entry::Vacant(new) => new.insert(ProcState {
                time: ev.time,
                line,
                open: None,
            }),
        };

        match ev.kind {
            EventType::Invoke => {
                if let Some((at, _)) = state.open {
                    return Err(err(format!(
                        "a second invoke for process {p} while its invoke at line {at} is still open; expected a completion first"
                    )));
                }
                state.open = Some((line, self.ops.len()));
                self.open += 1;
                self.ops.push(Operation {
                    process: p,
                    f: ev.f,
                    key: ev.key,
                    input: ev.value,
                    output: serde_json::Value::Null,
                    outcome: Outcome::Info,
                    error: None,
                    invoke_index: ev.index,
                    complete_index: None,
                    invoke_time: ev.time,
                    complete_time: None,
                });
                Ok(None)
            }
            kind => {
                let Some((at, slot)) = state.open.take() else {
                    return Err(err(format!(
                        "{kind} for process {p} has no open invocation; expected an invoke for process {p} first"
                    )));
                };
                self.open -= 1;
                let Some(op) = self.ops.get_mut(slot) else {
                    return Err(err("internal error: lost an open operation".into()));
                };
                if op.f != ev.f {
                    return Err(err(format!(
                        "{kind} for process {p} has f {:?} but its invoke at line {at} has f {:?}; expected the same f",
                        ev.f, op.f
                    )));
                }
                match (&op.key, ev.key) {
                    (Some(a), Some(b)) if *a != b => {
                        return Err(err(format!(
                            "{kind} for process {p} has key {b} but its invoke at line {at} has key {a}; expected the same key"
                        )))
                    }
                    (None, Some(b)) => op.key = Some(b),
                    _ => {}
                }
                op.output = ev.value;
                op.outcome = outcome_of(kind);
                op.error = ev.error;
                op.complete_index = Some(ev.index);
                op.complete_time = Some(ev.time);
                Ok(Some(slot))
            }
        }
    }

    /// The operations so far, in invocation order; open ones are `info` without completion.
    pub fn ops(&self) -> &[Operation] {
        &self.ops
    }

    /// Whether client process `p` has an invocation still open.
    pub fn is_open(&self, p: u64) -> bool {
        self.procs.get(&p).is_some_and(|s| s.open.is_some())
    }

    /// How many invocations are still open.
    pub fn open_count(&self) -> usize {
        self.open
    }

    /// The operations, in invocation order (see [`pair`]).
    pub fn finish(self) -> Vec<Operation> {
        self.ops
    }
}

fn outcome_of(kind: EventType) -> Outcome {
    match kind {
        EventType::Ok => Outcome::Ok,
        EventType::Fail => Outcome::Fail,
        EventType::Info | EventType::Invoke => Outcome::Info,
    }
}

impl Operation {
    /// The operation `invoke` (an invoke event of client `process`) starts, as it stands
    /// until its completion arrives: `info`, with no output and no completion, which is
    /// what it stays if the history ends first.
    pub fn invoked(process: u64, invoke: &Event) -> Operation {
        Operation {
            process,
            f: invoke.f.clone(),
            key: invoke.key.clone(),
            input: invoke.value.clone(),
            output: serde_json::Value::Null,
            outcome: Outcome::Info,
            error: None,
            invoke_index: invoke.index,
            complete_index: None,
            invoke_time: invoke.time,
            complete_time: None,
        }
    }

    /// Ends the operation with `completion` (an ok, fail or info event): its value, outcome,
    /// error, index and time. Checks nothing; [`pair`] checks before it calls this.
    pub fn complete_with(&mut self, completion: &Event) {
        self.output = completion.value.clone();
        self.outcome = outcome_of(completion.kind);
        self.error = completion.error.clone();
        self.complete_index = Some(completion.index);
        self.complete_time = Some(completion.time);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn ev(index: u64, process: Process, kind: EventType, f: &str, value: Value) -> Event {
        crate::testing::event(index, index * 10, process, kind, f, value)
    }
    use EventType::*;
    use Process::*;

    #[test]
    fn pairs_in_invoke_order_and_skips_nemesis() {
        let events = vec![
            ev(0, Client(1), Invoke, "write", json!(1)),
            ev(1, Client(2), Invoke, "read", json!(null)),
            ev(2, Nemesis, Info, "start", json!(null)),
            ev(3, Client(2), Ok, "read", json!(1)),
            ev(4, Client(1), Fail, "write", json!(1)),
            ev(5, Client(3), Invoke, "cas", json!([1, 2])),
            ev(6, Client(2), Invoke, "read", json!(null)),
            ev(7, Client(2), Info, "read", json!(null)),
        ];
        let ops = pair(&events, &[]).unwrap();
        assert_eq!(ops.len(), 4);
        assert_eq!(
            ops.iter().map(|o| o.invoke_index).collect::<Vec<_>>(),
            vec![0, 1, 5, 6]
        );
        assert_eq!(ops[0].outcome, Outcome::Fail);
        assert_eq!(ops[0].complete_index, Some(4));
        assert_eq!(ops[1].outcome, Outcome::Ok);
        assert_eq!(ops[1].input, json!(null));
        assert_eq!(ops[1].output, json!(1));
        assert_eq!(ops[1].complete_time, Some(30));
        // Left open at the end: indeterminate, with no completion.
        assert_eq!(ops[2].outcome, Outcome::Info);
        assert_eq!(ops[2].complete_index, None);
        assert_eq!(ops[2].complete_time, None);
        assert_eq!(ops[2].output, Value::Null);
        assert_eq!(ops[3].outcome, Outcome::Info);
        assert_eq!(ops[3].complete_index, Some(7));
    }

    #[test]
    fn completion_error_and_key_carry_over() {
        let mut inv = ev(0, Client(0), Invoke, "cas", json!([1, 2]));
        inv.key = Some(json!("k"));
        let mut done = ev(1, Client(0), Fail, "cas", json!([1, 2]));
        done.error = Some(json!(crate::COMPARE_FAILED));
        let ops = pair(&[inv, done], &[]).unwrap();
        assert_eq!(ops[0].key, Some(json!("k")));
        assert_eq!(ops[0].error, Some(json!("compare-failed")));
    }

    fn pair_err(events: &[Event], lines: &[u32]) -> String {
        pair(events, lines).unwrap_err().to_string()
    }

    #[test]
    fn completion_without_invoke() {
        let events = vec![ev(0, Client(3), Ok, "read", json!(1))];
        assert_eq!(
            pair_err(&events, &[7]),
            "line 7: ok for process 3 has no open invocation; expected an invoke for process 3 first"
        );
    }

    #[test]
    fn second_invoke_while_open() {
        let events = vec![
            ev(0, Client(2), Invoke, "read", json!(null)),
            ev(1, Client(2), Invoke, "read", json!(null)),
        ];
        assert_eq!(
            pair_err(&events, &[4, 9]),
            "line 9: a second invoke for process 2 while its invoke at line 4 is still open; expected a completion first"
        );
    }

    #[test]
    fn completion_f_differs() {
        let events = vec![
            ev(0, Client(3), Invoke, "read", json!(null)),
            ev(1, Client(3), Ok, "write", json!(1)),
        ];
        assert_eq!(
            pair_err(&events, &[4, 9]),
            "line 9: ok for process 3 has f \"write\" but its invoke at line 4 has f \"read\"; expected the same f"
        );
    }

    #[test]
    fn completion_key_differs() {
        let mut a = ev(0, Client(1), Invoke, "get", json!(null));
        a.key = Some(json!("1"));
        let mut b = ev(1, Client(1), Ok, "get", json!("x"));
        b.key = Some(json!("2"));
        assert_eq!(
            pair_err(&[a, b], &[]),
            "line 2: ok for process 1 has key \"2\" but its invoke at line 1 has key \"1\"; expected the same key"
        );
    }

    #[test]
    fn index_not_increasing() {
        let events = vec![
            ev(5, Client(0), Invoke, "read", json!(null)),
            ev(5, Nemesis, Info, "start", json!(null)),
        ];
        assert_eq!(
            pair_err(&events, &[]),
            "line 2: index 5 is not greater than the previous event's index 5 (line 1); expected strictly increasing indices"
        );
    }

    #[test]
    fn time_going_backwards_within_a_process() {
        let mut a = ev(0, Client(0), Invoke, "read", json!(null));
        a.time = 100;
        let mut b = ev(1, Client(0), Ok, "read", json!(null));
        b.time = 50;
        assert_eq!(
            pair_err(&[a.clone(), b], &[3, 4]),
            "line 4: time 50 for process 0 is earlier than its previous event's time 100 (line 3); expected a process's times never to decrease"
        );
        // Across processes a slight reordering is normal in Jepsen histories.
        let mut c = ev(1, Client(1), Invoke, "read", json!(null));
        c.time = 50;
        assert!(pair(&[a, c], &[]).is_ok());
    }

    #[test]
    fn empty_history_has_no_operations() {
        assert!(pair(&[], &[]).unwrap().is_empty());
    }
}
