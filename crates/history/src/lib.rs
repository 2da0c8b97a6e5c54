//! Operation histories: the event type every part of faultline shares.
//!
//! A history is a sequence of [`Event`]s. Each client operation appears twice: once as an
//! `invoke` and once as its completion (`ok`, `fail` or `info`), paired by process. The
//! canonical on-disk form is JSON Lines, one event a line (see `docs/history-format.md`).
//!
//! Semantics follow Jepsen:
//! - `ok`: the operation took effect, with the completion's value;
//! - `fail`: the operation definitely did not take effect;
//! - `info`: indeterminate: it may have taken effect at any instant after its invocation, or never.
//!
//! Beyond the shared types: [`jsonl`] reads and writes JSON Lines, [`import`] reads other
//! tools' histories (Jepsen/Knossos EDN, Porcupine logs), [`pair()`] turns events into
//! [`Operation`]s, [`edn`] is the EDN reader the importers use, [`value`] gives numbers one
//! canonical text (so equal numbers compare equal) and bounds values shown in messages,
//! [`input`] reads a file, a pipe or standard input once, and [`testing`] builds events and
//! operations for tests and benchmarks.

pub mod edn;
pub mod error;
pub mod import;
pub mod input;
pub mod jsonl;
pub mod limits;
pub mod pairing;
pub mod testing;
pub mod value;

pub use jsonl::{read_jsonl, write_jsonl, JsonlReader, JsonlWriter};
pub use pairing::{pair, PairError};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

/// Who performed an event: a numbered client process or the nemesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    /// A client process; a worker continues under a new number after an `info`.
    Client(u64),
    /// The fault injector.
    Nemesis,
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(p) => write!(f, "{p}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

impl Serialize for Process {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(p) => s.serialize_u64(*p),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Process;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a non-negative integer or \"nemesis\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Process, E> {
                Ok(Process::Client(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Process, E> {
                u64::try_from(v)
                    .map(Process::Client)
                    .map_err(|_| E::custom(format!("process {v} is negative")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Process, E> {
                if v == "nemesis" {
                    Ok(Process::Nemesis)
                } else {
                    Err(E::custom(format!(
                        "process {v:?} is neither an integer nor \"nemesis\""
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The type of an event, as in Jepsen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The start of an operation.
    Invoke,
    /// Completed and took effect.
    Ok,
    /// Completed and definitely did not take effect.
    Fail,
    /// Completed with an unknown outcome: it may or may not have taken effect.
    Info,
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        })
    }
}

/// One line of a history: an invocation or a completion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the history, from 0, strictly increasing.
    pub index: u64,
    /// Nanoseconds since the start of the test, from a monotonic clock.
    pub time: u64,
    /// The client process or the nemesis.
    pub process: Process,
    /// invoke, ok, fail or info.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The function: `read`, `write`, `cas`, `append`, `start-partition`, ...
    pub f: String,
    /// For keyed workloads, the key the operation acts on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// The argument (on invoke) or result (on completion).
    #[serde(default)]
    pub value: Value,
    /// Why an operation failed or is indeterminate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// The node the client talked to, or the nemesis acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// The `error` a `fail` cas carries when its compare definitely failed: the register held a
/// value other than the expected one at some instant during the call, and nothing was written.
pub const COMPARE_FAILED: &str = "compare-failed";

/// The `f` of a lone nemesis `info` event recording which nodes consider themselves leader
/// or primary at that instant; its value is the list of their names (empty: none does).
pub const PRIMARIES: &str = "primaries";

/// How a client operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Took effect; the result is the completion's value.
    Ok,
    /// Definitely did not take effect (see [`COMPARE_FAILED`] for the one refinement).
    Fail,
    /// Unknown: completed as `info`, or never completed before the history ended.
    Info,
}

/// A client operation: an invocation paired with its completion.
///
/// Nemesis events are not operations; they stay in the event list for reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// The client process that performed it.
    pub process: u64,
    /// The function, e.g. `read`, `write`, `cas`.
    pub f: String,
    /// The key, for keyed workloads.
    pub key: Option<Value>,
    /// The invocation's value (the argument).
    pub input: Value,
    /// The completion's value (the result); `Null` when there is no completion.
    pub output: Value,
    /// ok, fail or info.
    pub outcome: Outcome,
    /// The completion's error, if any.
    pub error: Option<Value>,
    /// `index` of the invoke event.
    pub invoke_index: u64,
    /// `index` of the completion event; `None` if the history ended first.
    pub complete_index: Option<u64>,
    /// `time` of the invoke event, ns.
    pub invoke_time: u64,
    /// `time` of the completion event, ns; `None` if the history ended first.
    pub complete_time: Option<u64>,
}

/// A checker's judgement of a history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No anomaly found: exit code 0.
    Valid,
    /// The search ran out of budget, or could not decide: exit code 2.
    Unknown,
    /// At least one anomaly found: exit code 1.
    Invalid,
}

impl Verdict {
    /// Jepsen's exit code for this verdict: 0 valid, 1 invalid, 2 unknown.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unknown => 2,
        }
    }

    /// The worse of two verdicts: invalid beats unknown beats valid.
    pub fn worst(self, other: Verdict) -> Verdict {
        self.max(other)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
        })
    }
}

/// One problem a checker found, with the history events that show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// A short kebab-case name: `nonlinearizable`, `lost`, `stale-read`, `overlapping-holders`...
    pub kind: String,
    /// One or two sentences a person can follow.
    pub explanation: String,
    /// `index` of the events involved, for highlighting in reports.
    pub events: Vec<u64>,
    /// Checker-specific detail (for linearizability: the counterexample).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub detail: Value,
}

/// What one checker concluded about a history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckerResult {
    /// The checker's name, e.g. `linearizability`, `set-full`, `bank`.
    pub checker: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// Why the verdict is unknown, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Anomalies found; empty when valid.
    #[serde(default)]
    pub anomalies: Vec<Anomaly>,
    /// Checker-specific figures (ops checked, states explored, latencies...).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub stats: Value,
    /// When its first anomaly became visible, in seconds on the history's clock (for a run:
    /// since the workload started): see [`first_anomaly_s`]. `None` when it found none, or
    /// before a report filled it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_anomaly_s: Option<f64>,
}

/// When `anomaly` became visible in the history, in ns on the history's clock: the time of
/// the latest completion among the events it names (the moment the last operation it
/// involves completed, so all its evidence was in), or of the latest event it names when it
/// names no completion. `None` when it names no event of `events`.
pub fn anomaly_visible_ns(anomaly: &Anomaly, events: &[Event]) -> Option<u64> {
    let named: Vec<&Event> = anomaly
        .events
        .iter()
        .filter_map(|i| event_by_index(events, *i))
        .collect();
    let completions = named.iter().filter(|e| e.kind != EventType::Invoke);
    completions
        .map(|e| e.time)
        .max()
        .or_else(|| named.iter().map(|e| e.time).max())
}

/// The event whose `index` is `index`: by position when indices count from 0 (recorded
/// histories), else by binary search (indices increase), else by a scan.
fn event_by_index(events: &[Event], index: u64) -> Option<&Event> {
    let at = usize::try_from(index).ok().and_then(|i| events.get(i));
    match at {
        Some(e) if e.index == index => Some(e),
        _ => match events.binary_search_by_key(&index, |e| e.index) {
            Ok(i) => Some(&events[i]),
            Err(_) => events.iter().find(|e| e.index == index),
        },
    }
}

/// When a checker's first anomaly became visible, in seconds on the history's clock (for a
/// run, since the workload started, as the streamed check's time): the earliest
/// [`anomaly_visible_ns`] of its anomalies. `None` when it names none.
pub fn first_anomaly_s(result: &CheckerResult, events: &[Event]) -> Option<f64> {
    result
        .anomalies
        .iter()
        .filter_map(|a| anomaly_visible_ns(a, events))
        .min()
        .map(|ns| ns as f64 / 1e9)
}

/// A history a checker cannot interpret: which event, and what is wrong with it. The
/// set, counter, bank and lock checkers all return it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// `index` of the offending event.
    pub event: u64,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event {}: {}", self.event, self.message)
    }
}

impl std::error::Error for InputError {}

/// An integer as a JSON number with its exact digits, whatever its size (serde_json's
/// `arbitrary_precision` keeps a number's text, so it never becomes a float).
///
/// ```
/// let v = faultline_history::integer_value(-(1i128 << 100));
/// assert_eq!(v.to_string(), "-1267650600228229401496703205376");
/// assert!(v.is_number());
/// ```
pub fn integer_value(v: i128) -> Value {
    match v.to_string().parse::<serde_json::Number>() {
        Ok(n) => Value::Number(n),
        Err(_) => Value::from(v.to_string()),
    }
}
