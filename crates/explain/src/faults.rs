//! Faults and operations as a history shows them: the lenient pairing reports draw with,
//! nemesis operations paired into fault intervals, measured clock offsets, and the leader
//! (primary) observations the runner records. The conventions are those documented in
//! faultline-report's crate docs and in `docs/history-format.md`.

use faultline_history::{Event, EventType, Operation, Process};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// The `f` of a nemesis event that records which nodes consider themselves leader or
/// primary: a lone `info` event whose value is the list of their names (empty: none).
pub const PRIMARIES_F: &str = faultline_history::PRIMARIES;

/// The `f` of the nemesis operation that measures every node's clock offset.
pub const CLOCK_OFFSET_F: &str = "clock-offset";

/// Which nodes considered themselves leader or primary at one instant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaderSample {
    /// When it was observed, ns since the start of the test.
    pub time_ns: u64,
    /// `index` of the observing event.
    pub index: u64,
    /// The nodes that said they lead; empty when every node said it does not; `None` when
    /// the watch could not tell (the event's value is null): unknown, not leaderless.
    pub primaries: Option<Vec<String>>,
}

/// How many operations ended each way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeCounts {
    /// Completed `ok`.
    pub ok: u64,
    /// Completed `fail`.
    pub fail: u64,
    /// Completed `info`, or never completed.
    pub info: u64,
}

/// Quantiles of a set of latencies, nearest-rank, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantiles {
    /// Number of samples.
    pub count: u64,
    /// Smallest sample.
    pub min: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest sample.
    pub max: u64,
}

/// The nemesis's activity: faults with times and targets, and measured clock offsets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NemesisSummary {
    /// Faults in the order they began.
    pub faults: Vec<Fault>,
    /// Clock offsets the nemesis reported, in time order.
    pub clock_offsets: Vec<ClockSample>,
    /// Leader (primary) observations, in time order; empty when the database cannot say.
    #[serde(default)]
    pub leaders: Vec<LeaderSample>,
}

/// One fault: from the invocation of the nemesis operation that began it to the completion of
/// the one that ended it (see the crate docs for how start and stop operations are paired).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// The fault's name: `partition` for `start-partition`, `kill`, `pause`, `clock`...
    pub name: String,
    /// The `f` of the operation that began it.
    pub start_f: String,
    /// The `f` of the operation that ended it; `None` if it was never ended or is instantaneous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_f: Option<String>,
    /// When it began, ns since the start of the test.
    pub start_ns: u64,
    /// When it ended, ns; the last event's time if it was never ended.
    pub end_ns: u64,
    /// `index` of the event that began it.
    pub start_index: u64,
    /// `index` of the event that ended it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_index: Option<u64>,
    /// The nodes it acted on, as far as the events say.
    pub targets: Vec<String>,
    /// The value of the beginning operation's completion (or invocation), verbatim.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub value: Value,
    /// The error of the beginning operation, when it did not complete `ok` (for a storage
    /// fault that restarts the database: why it did not come back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_error: Option<String>,
    /// The error of the ending operation, when it did not complete `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_error: Option<String>,
    /// The value of the ending operation's completion (what a heal found), verbatim.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub stop_value: Value,
}

/// Clock offsets of the nodes at one instant, as a nemesis event reported them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClockSample {
    /// When it was reported, ns since the start of the test.
    pub time_ns: u64,
    /// `index` of the reporting event.
    pub index: u64,
    /// Offset of each node's clock from the control node's, in ns (positive: ahead).
    pub offsets_ns: BTreeMap<String, i64>,
}

/// The strings of a JSON value: a string, a list's items, or an object's keys.
pub fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::Object(o)) => o.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Pairs each client invocation with its process's next completion. Unpaired invocations end
/// as `info` with no completion. Completions without an invocation are ignored.
///
/// Deliberately more lenient than [`faultline_history::pair`], which rejects such histories:
/// a report must still draw a partial or crashed run's history. It builds each operation
/// with the same [`Operation::invoked`](faultline_history::Operation::invoked) and
/// [`Operation::complete_with`](faultline_history::Operation::complete_with).
pub fn pair_operations(events: &[Event]) -> Vec<Operation> {
    let mut open: HashMap<u64, usize> = HashMap::new();
    let mut ops: Vec<Operation> = Vec::new();
    for e in events {
        let Process::Client(p) = e.process else {
            continue;
        };
        if e.kind == EventType::Invoke {
            open.insert(p, ops.len());
            ops.push(Operation::invoked(p, e));
        } else if let Some(i) = open.remove(&p) {
            ops[i].complete_with(e);
        }
    }
    ops
}

/// Nearest-rank quantiles of `samples`, which this sorts.
pub fn quantiles(samples: &mut [u64]) -> Quantiles {
    if samples.is_empty() {
        return Quantiles::default();
    }
    samples.sort_unstable();
    let n = samples.len();
    let at = |q: f64| samples[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    Quantiles {
        count: n as u64,
        min: samples[0],
        p50: at(0.5),
        p90: at(0.9),
        p95: at(0.95),
        p99: at(0.99),
        p999: at(0.999),
        max: samples[n - 1],
    }
}

/// How a nemesis `f` relates to a fault: it begins one, ends one, or is a fault on its own.
#[derive(Debug, PartialEq, Eq)]
enum FaultRole {
    Begin(String),
    End(String),
    Instant(String),
}

/// The fault-pairing convention, documented in the crate docs.
fn fault_role(f: &str) -> FaultRole {
    let with_suffix = |prefix: &str| -> Option<String> {
        if f == prefix {
            Some(String::new())
        } else {
            f.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('-'))
                .map(str::to_string)
        }
    };
    let named = |base: &str, suffix: String| {
        if suffix.is_empty() {
            base.to_string()
        } else {
            format!("{base}-{suffix}")
        }
    };
    if let Some(s) = with_suffix("start") {
        return if s.is_empty() {
            // Jepsen's kill nemesis restarts nodes with a bare `start`.
            FaultRole::End("kill".to_string())
        } else {
            FaultRole::Begin(s)
        };
    }
    if let Some(s) = with_suffix("stop") {
        return FaultRole::End(if s.is_empty() { "fault".into() } else { s });
    }
    if let Some(s) = with_suffix("pause") {
        return FaultRole::Begin(named("pause", s));
    }
    if let Some(s) = with_suffix("resume") {
        return FaultRole::End(named("pause", s));
    }
    if let Some(s) = with_suffix("kill") {
        return FaultRole::Begin(named("kill", s));
    }
    if let Some(s) = with_suffix("restart") {
        return FaultRole::End(named("kill", s));
    }
    if f == "reset-clock" || f == "reset-clocks" {
        return FaultRole::End("clock".to_string());
    }
    if f == "bump-clock" || f == "strobe-clock" || f == "skew-clock" || f == "bump-clocks" {
        return FaultRole::Begin("clock".to_string());
    }
    FaultRole::Instant(f.to_string())
}

/// The nodes a nemesis event names: its `node`, else its value's strings or object keys.
fn targets_of(e: &Event) -> Vec<String> {
    if let Some(n) = &e.node {
        return vec![n.clone()];
    }
    match &e.value {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Value::Object(o) => {
            if let Some(Value::Object(grudge)) = o.get("grudge") {
                // A partition: every node that drops someone or is dropped.
                let mut nodes: Vec<String> = Vec::new();
                for (n, dropped) in grudge {
                    let dropped = string_list(Some(dropped));
                    if !dropped.is_empty() && !nodes.contains(n) {
                        nodes.push(n.clone());
                    }
                    for d in dropped {
                        if !nodes.contains(&d) {
                            nodes.push(d);
                        }
                    }
                }
                nodes.sort();
                nodes
            } else if let Some(t) = o.get("targets").or_else(|| o.get("nodes")) {
                string_list(Some(t))
            } else {
                o.keys().cloned().collect()
            }
        }
        _ => Vec::new(),
    }
}

/// Reads `{node: offset_ns}` from a clock event's value, or from its `offsets`/`clock_offsets` key.
fn clock_offsets_of(value: &Value) -> Option<BTreeMap<String, i64>> {
    let obj = value.as_object()?;
    for key in ["offsets", "clock_offsets", "offsets_ns"] {
        if let Some(inner) = obj.get(key) {
            return clock_offsets_of(inner);
        }
    }
    if obj.is_empty() {
        return None;
    }
    obj.iter()
        .map(|(k, v)| {
            v.as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .map(|n| (k.clone(), n))
        })
        .collect()
}

/// One nemesis operation: an invocation and its completion, or a lone event.
struct NemesisOp<'a> {
    invoke: Option<&'a Event>,
    complete: Option<&'a Event>,
}

impl<'a> NemesisOp<'a> {
    fn first(&self) -> &'a Event {
        self.invoke.or(self.complete).expect("one of them is set")
    }
    fn last(&self) -> &'a Event {
        self.complete.or(self.invoke).expect("one of them is set")
    }
}

fn nemesis_ops(events: &[Event]) -> Vec<NemesisOp<'_>> {
    let mut ops: Vec<NemesisOp> = Vec::new();
    let mut open: Option<usize> = None;
    // Leader observations are lone events that may fall between an operation's two ends.
    let nemesis = events
        .iter()
        .filter(|e| e.process == Process::Nemesis && e.f != PRIMARIES_F);
    for e in nemesis {
        if e.kind == EventType::Invoke {
            open = Some(ops.len());
            ops.push(NemesisOp {
                invoke: Some(e),
                complete: None,
            });
        } else {
            match open.take() {
                Some(i) if ops[i].first().f == e.f => ops[i].complete = Some(e),
                _ => ops.push(NemesisOp {
                    invoke: None,
                    complete: Some(e),
                }),
            }
        }
    }
    ops
}

/// The error of a nemesis operation that completed other than `ok`, as text.
fn error_of(op: &NemesisOp) -> Option<String> {
    let done = op.complete.filter(|e| e.kind != EventType::Ok)?;
    let e = done.error.as_ref()?;
    Some(e.as_str().map_or_else(|| e.to_string(), str::to_string))
}

impl NemesisSummary {
    /// Pairs nemesis operations into faults and collects reported clock offsets.
    pub fn build(events: &[Event]) -> NemesisSummary {
        let end_of_history = events.last().map_or(0, |e| e.time);
        let mut faults: Vec<Fault> = Vec::new();
        let mut open: HashMap<String, usize> = HashMap::new();
        let mut clock_offsets = Vec::new();
        let leaders = events
            .iter()
            .filter(|e| e.process == Process::Nemesis && e.f == PRIMARIES_F)
            .map(|e| LeaderSample {
                time_ns: e.time,
                index: e.index,
                primaries: (!e.value.is_null()).then(|| string_list(Some(&e.value))),
            })
            .collect();
        for op in nemesis_ops(events) {
            let first = op.first();
            let last = op.last();
            if first.f.contains("clock") {
                if let Some(offsets_ns) = clock_offsets_of(&last.value) {
                    clock_offsets.push(ClockSample {
                        time_ns: last.time,
                        index: last.index,
                        offsets_ns,
                    });
                }
            }
            if first.f == CLOCK_OFFSET_F {
                continue; // A measurement, not a fault.
            }
            // The completion says what was done; the invocation only what was asked.
            let mut targets = targets_of(last);
            if targets.is_empty() {
                targets = targets_of(first);
            }
            let new_fault = |name: String, end: Option<&Event>| Fault {
                name,
                start_f: first.f.clone(),
                stop_f: None,
                start_ns: first.time,
                end_ns: end.map_or(end_of_history, |e| e.time),
                start_index: first.index,
                end_index: end.map(|e| e.index),
                targets: targets.clone(),
                value: last.value.clone(),
                start_error: error_of(&op),
                stop_error: None,
                stop_value: Value::Null,
            };
            match fault_role(&first.f) {
                FaultRole::Begin(name) => {
                    if let Some(&i) = open.get(&name) {
                        // Already active: a repeated start widens the targets only.
                        for t in &targets {
                            if !faults[i].targets.contains(t) {
                                faults[i].targets.push(t.clone());
                            }
                        }
                        continue;
                    }
                    open.insert(name.clone(), faults.len());
                    faults.push(new_fault(name, None));
                }
                FaultRole::End(name) => {
                    let key = if name == "fault" && open.len() == 1 {
                        open.keys().next().cloned().unwrap_or(name)
                    } else {
                        name
                    };
                    if let Some(i) = open.remove(&key) {
                        faults[i].stop_f = Some(first.f.clone());
                        faults[i].end_ns = last.time;
                        faults[i].end_index = Some(last.index);
                        faults[i].stop_error = error_of(&op);
                        faults[i].stop_value = last.value.clone();
                    }
                }
                FaultRole::Instant(name) => {
                    let mut fault = new_fault(name, Some(last));
                    fault.end_index = None;
                    faults.push(fault);
                }
            }
        }
        NemesisSummary {
            faults,
            clock_offsets,
            leaders,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_history::testing::event as ev;
    use faultline_history::Outcome;
    use serde_json::json;

    #[test]
    fn quantiles_are_nearest_rank() {
        let mut v: Vec<u64> = (1..=1000).collect();
        let q = quantiles(&mut v);
        assert_eq!((q.count, q.min, q.max), (1000, 1, 1000));
        assert_eq!((q.p50, q.p90, q.p99, q.p999), (500, 900, 990, 999));
        assert_eq!(quantiles(&mut []).count, 0);
    }

    #[test]
    fn pairing_draws_histories_the_strict_pairer_rejects() {
        use EventType::*;
        let c = Process::Client;
        let events = vec![
            ev(0, 0, c(0), Ok, "read", json!(9)),
            ev(1, 10, c(1), Invoke, "write", json!(1)),
            ev(2, 20, c(1), Invoke, "write", json!(2)),
            ev(3, 30, c(1), Fail, "write", json!(2)),
        ];
        assert!(faultline_history::pair(&events, &[]).is_err());
        let ops = pair_operations(&events);
        let seen: Vec<_> = ops
            .iter()
            .map(|o| (o.input.clone(), o.outcome, o.complete_index))
            .collect();
        assert_eq!(
            seen,
            [
                (json!(1), Outcome::Info, None),
                (json!(2), Outcome::Fail, Some(3))
            ]
        );
        assert_eq!(ops[1].complete_time, Some(30));
    }

    #[test]
    fn faults_pair_start_and_stop_and_read_clock_offsets() {
        use EventType::*;
        let n = Process::Nemesis;
        let events = vec![
            ev(0, 100, n, Invoke, "start-partition", json!("majority")),
            ev(
                1,
                120,
                n,
                Info,
                "start-partition",
                json!({"n1": ["n2", "n3"]}),
            ),
            ev(2, 500, n, Invoke, "stop-partition", Value::Null),
            ev(3, 510, n, Info, "stop-partition", json!("healed")),
            ev(4, 600, n, Invoke, "bump-clock", json!({"n1": 5_000_000})),
            ev(
                5,
                610,
                n,
                Info,
                "bump-clock",
                json!({"offsets": {"n1": 5_000_000, "n2": -3}}),
            ),
            ev(6, 700, n, Invoke, "kill", json!(["n2"])),
            ev(7, 710, n, Info, "kill", json!(["n2"])),
        ];
        let s = NemesisSummary::build(&events);
        assert_eq!(s.faults.len(), 3);
        let p = &s.faults[0];
        assert_eq!(
            (p.name.as_str(), p.start_ns, p.end_ns),
            ("partition", 100, 510)
        );
        assert_eq!(p.stop_f.as_deref(), Some("stop-partition"));
        assert_eq!(p.targets, vec!["n1"]);
        // Never reset: it lasts to the end of the history.
        assert_eq!(
            (s.faults[1].name.as_str(), s.faults[1].end_ns),
            ("clock", 710)
        );
        assert_eq!(s.faults[2].targets, vec!["n2"]);
        assert_eq!(s.clock_offsets.len(), 1);
        assert_eq!(s.clock_offsets[0].offsets_ns["n2"], -3);
        assert_eq!(s.clock_offsets[0].time_ns, 610);
    }
}
