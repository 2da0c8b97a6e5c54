//! What a check concluded: verdict, figures, and counterexamples a person can follow.

use faultline_history::{Anomaly, CheckerResult, Operation, Outcome, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One operation as shown in a counterexample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpView {
    /// The client process.
    pub process: u64,
    /// The function.
    pub f: String,
    /// The key, for keyed histories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// The value the op is judged by (the completion's for `ok`, the invocation's otherwise).
    pub value: Value,
    /// ok, fail (compare-failed) or info.
    pub outcome: Outcome,
    /// `index` of the invoke event.
    pub invoke_index: u64,
    /// `index` of the completion event, if any.
    pub complete_index: Option<u64>,
}

impl OpView {
    /// The view of `op`.
    pub fn of(op: &Operation) -> OpView {
        OpView {
            process: op.process,
            f: op.f.clone(),
            key: op.key.clone(),
            value: crate::model::op_value(op).clone(),
            outcome: op.outcome,
            invoke_index: op.invoke_index,
            complete_index: op.complete_index,
        }
    }

    /// A short description: "read of key 3 by process 4 (events 10-12) returning 1".
    pub fn describe(&self) -> String {
        let key = match &self.key {
            Some(k) => format!(" of key {k}"),
            None => String::new(),
        };
        let events = match self.complete_index {
            Some(c) => format!("events {}-{}", self.invoke_index, c),
            None => format!("event {}, never completed", self.invoke_index),
        };
        let verb = match self.outcome {
            Outcome::Ok => "with value",
            Outcome::Fail => "failing its compare, with value",
            Outcome::Info => "indeterminate, with value",
        };
        format!(
            "{}{key} by process {} ({events}) {verb} {}",
            self.f, self.process, self.value
        )
    }
}

/// Why a history is not linearizable, for one key (or the whole history).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counterexample {
    /// The key, when the history was split by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// The operation that cannot be linearized after the longest prefix.
    pub op: OpView,
    /// The longest linearizable prefix found, in linearization order; when `real_time`, the
    /// write of the value `op` observed and the operation that replaced it.
    pub prefix: Vec<OpView>,
    /// The model state after `prefix`.
    pub state: Value,
    /// Operations whose intervals overlap `op`'s (excluding `op`).
    pub concurrent: Vec<OpView>,
    /// One sentence of why.
    pub explanation: String,
    /// Real-time order alone refutes `op`: the value it observed was replaced by an operation
    /// that began after the value's write completed and completed before `op` began.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub real_time: bool,
}

/// Figures about one check.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Operations given.
    pub ops: usize,
    /// Operations searched (after dropping `fail`s, `info` reads and always-legal ops).
    pub checked: usize,
    /// Partitions (keys) searched; 1 when not split.
    pub keys: usize,
    /// Partitions whose search finished.
    pub keys_done: usize,
    /// Distinct (linearized set, state) configurations explored.
    pub states: u64,
    /// Longest linearized prefix reached in any one partition, in ops.
    pub max_prefix: usize,
    /// Per-key projections proven dead, in a search over a whole keyed history (not split):
    /// configurations whose projection on a key is dead are pruned.
    #[serde(default)]
    pub dead_projections: u64,
    /// Choices on other keys undone at once when a key's projection died (backjumps), in a
    /// search over a whole keyed history.
    #[serde(default)]
    pub backjumps: u64,
    /// Configurations pruned because the op that must go first can no longer succeed, whatever
    /// order the monotone ops before it (e.g. appends) take.
    #[serde(default)]
    pub doomed: u64,
    /// Wall-clock time of the check, milliseconds.
    pub elapsed_ms: u64,
}

/// The result of a linearizability check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The model checked against.
    pub model: String,
    /// valid, invalid or unknown.
    pub verdict: Verdict,
    /// Why the verdict is unknown, and how far the search got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Figures.
    pub stats: Stats,
    /// One counterexample per non-linearizable key, in key order; empty unless invalid.
    pub counterexamples: Vec<Counterexample>,
}

impl Report {
    /// Converts into the harness-wide result: checker `linearizability`, one `nonlinearizable`
    /// anomaly per counterexample.
    pub fn to_checker_result(&self) -> CheckerResult {
        let anomalies = self
            .counterexamples
            .iter()
            .map(|c| {
                let mut events = vec![c.op.invoke_index];
                events.extend(c.op.complete_index);
                for o in &c.concurrent {
                    events.push(o.invoke_index);
                    events.extend(o.complete_index);
                }
                events.sort_unstable();
                events.dedup();
                Anomaly {
                    kind: "nonlinearizable".into(),
                    explanation: c.explanation.clone(),
                    events,
                    detail: serde_json::to_value(c).unwrap_or(Value::Null),
                }
            })
            .collect();
        let mut stats = serde_json::to_value(&self.stats).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut stats {
            m.insert("model".into(), Value::String(self.model.clone()));
        }
        CheckerResult {
            checker: "linearizability".into(),
            verdict: self.verdict,
            reason: self.reason.clone(),
            anomalies,
            stats,
            first_anomaly_s: None,
        }
    }
}
