//! `results.json`: what a run concluded, in the versioned schema of `docs/results.schema.json`.

use faultline_explain::{explain, string_list, Expectation, Explanation};
pub use faultline_explain::{
    pair_operations, quantiles, ClockSample, Fault, LeaderSample, NemesisSummary, OutcomeCounts,
    Quantiles,
};
use faultline_history::{CheckerResult, Event, Outcome, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The version of the results schema this crate writes; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 2;

/// The identifier of the results schema, written as `$schema`-like tag in every file.
pub const SCHEMA_ID: &str = "https://faultline.dev/schemas/results-v2.json";

/// Everything `results.json` holds about one run (or one checked history).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Always [`SCHEMA_VERSION`] when written by this crate.
    pub schema_version: u32,
    /// The worst verdict of all checkers; `unknown` when no checker ran, or when the checkers
    /// found nothing but an expectation (`expect` in the configuration) was not met.
    pub verdict: Verdict,
    /// Why the verdict is `unknown` though every checker said valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict_reason: Option<String>,
    /// What the `--client` program did wrong in the run, when it did (each such answer is
    /// recorded as `info`): an anomaly may then be the client's doing, not the database's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_misbehaviour: Option<String>,
    /// What was tested: name, workload, database, nemesis, nodes, seed, reproducing command.
    pub test: TestSummary,
    /// One entry per checker, in the order they ran.
    pub checkers: Vec<CheckerResult>,
    /// Counts and latencies of the client operations.
    pub stats: Stats,
    /// The faults the nemesis injected and the clock offsets it measured.
    pub nemesis: NemesisSummary,
    /// The run configuration as given (the runner's `test.json`), verbatim.
    #[serde(default)]
    pub config: Value,
    /// Versions of faultline and of the software under test, by name.
    #[serde(default)]
    pub versions: BTreeMap<String, String>,
    /// Durations in seconds, by phase: `history` (first to last event) and whatever the caller adds.
    #[serde(default)]
    pub durations: BTreeMap<String, f64>,
    /// Each anomaly in context and what each fault did (see faultline-explain).
    #[serde(default)]
    pub explanation: Explanation,
}

/// The identity of a run, read from its configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TestSummary {
    /// The test's name (`name` in the configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The workload, e.g. `register` (`workload`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// The database under test (`db`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<String>,
    /// The nemesis faults enabled (`nemesis`: a string or a list of strings).
    #[serde(default)]
    pub nemesis: Vec<String>,
    /// The cluster's nodes (`nodes`).
    #[serde(default)]
    pub nodes: Vec<String>,
    /// The random seed (`seed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// A shell command that reproduces the run (`command`: a string or a list of arguments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// Counts by function and outcome, and latency quantiles by function.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Number of events in the history, nemesis events included.
    pub events: u64,
    /// Number of client operations (invocations).
    pub operations: u64,
    /// By `f`: how many operations ended ok, fail and info (never-completed ones count as info).
    pub counts: BTreeMap<String, OutcomeCounts>,
    /// By `f`: latency quantiles in nanoseconds over operations that completed (any outcome).
    pub latency_ns: BTreeMap<String, Quantiles>,
}

impl Results {
    /// Builds the results of a run from its history, its checker results and its configuration.
    pub fn build(events: &[Event], checkers: &[CheckerResult], config: &Value) -> Results {
        // A report holds the first part of a long value, never all of it.
        let events = &*crate::bounded_events(events);
        let checkers: Vec<CheckerResult> = checkers
            .iter()
            .map(|c| with_first_anomaly(crate::bounded_checker(c), events))
            .collect();
        let checkers = checkers.as_slice();
        let mut verdict = if checkers.is_empty() {
            Verdict::Unknown
        } else {
            checkers
                .iter()
                .fold(Verdict::Valid, |v, c| v.worst(c.verdict))
        };
        let explanation = explain(events, checkers, &expectations(config));
        let unmet: Vec<&str> = explanation.unmet().map(|e| e.line.as_str()).collect();
        let mut verdict_reason = None;
        if verdict == Verdict::Valid && !unmet.is_empty() {
            verdict = Verdict::Unknown;
            verdict_reason = Some(format!(
                "no fault had the expected effect, so valid is not evidence: {}",
                unmet.join("; ")
            ));
        }
        let mut durations = BTreeMap::new();
        if let (Some(first), Some(last)) = (events.first(), events.last()) {
            durations.insert(
                "history".to_string(),
                last.time.saturating_sub(first.time) as f64 / 1e9,
            );
        }
        if let Some(first) = first_anomaly_s(checkers) {
            durations.insert(FIRST_ANOMALY.to_string(), first);
        }
        let mut versions = BTreeMap::new();
        versions.insert(
            "faultline".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        );
        Results {
            schema_version: SCHEMA_VERSION,
            verdict,
            verdict_reason,
            client_misbehaviour: None,
            test: TestSummary::from_config(config),
            checkers: checkers.to_vec(),
            stats: Stats::build(events),
            nemesis: NemesisSummary::build(events),
            config: config.clone(),
            versions,
            durations,
            explanation,
        }
    }
}

/// The key of `durations` that says when the first anomaly of any checker became visible.
pub const FIRST_ANOMALY: &str = "first_anomaly_s";

/// `result` with its anomalies in the order they became visible (those without a time
/// last, as found), so what a report lists and explains first is the first anomaly, and its
/// `first_anomaly_s` computed from `events`, unless it already has one (a streamed check's
/// own time).
fn with_first_anomaly(mut result: CheckerResult, events: &[Event]) -> CheckerResult {
    result
        .anomalies
        .sort_by_key(|a| faultline_history::anomaly_visible_ns(a, events).unwrap_or(u64::MAX));
    if result.first_anomaly_s.is_none() {
        result.first_anomaly_s = faultline_history::first_anomaly_s(&result, events);
    }
    result
}

/// The earliest `first_anomaly_s` of the checkers, `None` when none found an anomaly.
pub fn first_anomaly_s(checkers: &[CheckerResult]) -> Option<f64> {
    checkers
        .iter()
        .filter_map(|c| c.first_anomaly_s)
        .min_by(f64::total_cmp)
}

/// The run-level expectations of a configuration: its `expect` key, a name or a list of
/// names (see [`Expectation::parse`]); names this version does not know are ignored.
pub fn expectations(config: &Value) -> Vec<Expectation> {
    string_list(config.get("expect"))
        .iter()
        .filter_map(|n| Expectation::parse(n).ok())
        .collect()
}

fn string_field(config: &Value, keys: &[&str]) -> Option<String> {
    keys.iter()
        .filter_map(|k| config.get(*k))
        .find_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            Value::Object(o) => o.get("name").and_then(Value::as_str).map(str::to_string),
            other => Some(other.to_string()),
        })
}

/// Quotes one argument for a POSIX shell, only when it needs it.
pub fn shell_quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c));
    if safe {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

impl TestSummary {
    /// Reads the summary from a run configuration: keys `name` (or `test`), `workload`, `db`,
    /// `nemesis`, `nodes`, `seed` and `command` (a string, or a list of arguments).
    pub fn from_config(config: &Value) -> TestSummary {
        let command = match config.get("command") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(args)) => Some(
                args.iter()
                    .map(|a| shell_quote(a.as_str().unwrap_or(&a.to_string())))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            _ => None,
        };
        TestSummary {
            name: string_field(config, &["name", "test"]),
            workload: string_field(config, &["workload"]),
            db: string_field(config, &["db", "database"]),
            nemesis: string_list(config.get("nemesis")),
            nodes: string_list(config.get("nodes")),
            seed: config.get("seed").and_then(Value::as_u64),
            command,
        }
    }
}

impl Stats {
    /// Counts operations by `f` and outcome, and computes latency quantiles by `f`.
    pub fn build(events: &[Event]) -> Stats {
        let ops = pair_operations(events);
        let mut counts: BTreeMap<String, OutcomeCounts> = BTreeMap::new();
        let mut latencies: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for op in &ops {
            let c = counts.entry(op.f.clone()).or_default();
            match op.outcome {
                Outcome::Ok => c.ok += 1,
                Outcome::Fail => c.fail += 1,
                Outcome::Info => c.info += 1,
            }
            if let Some(t) = op.complete_time {
                latencies
                    .entry(op.f.clone())
                    .or_default()
                    .push(t.saturating_sub(op.invoke_time));
            }
        }
        Stats {
            events: events.len() as u64,
            operations: ops.len() as u64,
            counts,
            latency_ns: latencies
                .into_iter()
                .map(|(f, mut v)| (f, quantiles(&mut v)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_history::testing::event as ev;
    use serde_json::json;

    #[test]
    fn stats_count_unfinished_operations_as_info() {
        use faultline_history::{EventType::*, Process};
        let c = Process::Client;
        let events = vec![
            ev(0, 0, c(0), Invoke, "write", json!(1)),
            ev(1, 10, c(1), Invoke, "read", Value::Null),
            ev(2, 30, c(0), Ok, "write", json!(1)),
            ev(3, 40, c(1), Fail, "read", Value::Null),
            ev(4, 50, c(2), Invoke, "read", Value::Null),
        ];
        let s = Stats::build(&events);
        assert_eq!(s.operations, 3);
        assert_eq!(
            s.counts["read"],
            OutcomeCounts {
                ok: 0,
                fail: 1,
                info: 1
            }
        );
        assert_eq!(s.latency_ns["write"].max, 30);
        assert_eq!(s.latency_ns["read"].count, 1);
    }

    #[test]
    fn summary_reads_config_keys_and_quotes_commands() {
        let cfg = json!({
            "name": "etcd-register", "workload": "register", "db": "etcd",
            "nemesis": ["partition", "kill"], "nodes": ["n1", "n2"], "seed": 42,
            "command": ["faultline", "test", "--name", "it's"]
        });
        let t = TestSummary::from_config(&cfg);
        assert_eq!(t.name.as_deref(), Some("etcd-register"));
        assert_eq!(t.nemesis, vec!["partition", "kill"]);
        assert_eq!(t.seed, Some(42));
        assert_eq!(
            t.command.as_deref(),
            Some("faultline test --name 'it'\\''s'")
        );
    }

    #[test]
    fn each_checker_and_the_run_say_when_the_first_anomaly_became_visible() {
        use faultline_history::{Anomaly, EventType::*, Process};
        let c = Process::Client;
        let s = 1_000_000_000;
        let events = vec![
            ev(0, 0, c(0), Invoke, "add", json!(1)),
            ev(1, s, c(0), Ok, "add", json!(1)),
            ev(2, 2 * s, c(1), Invoke, "read", Value::Null),
            ev(3, 3 * s, c(1), Ok, "read", json!(0)),
            ev(4, 4 * s, c(2), Invoke, "read", Value::Null),
            ev(5, 5 * s, c(2), Ok, "read", json!(7)),
        ];
        let anomaly = |evs: Vec<u64>| Anomaly {
            kind: "k".into(),
            explanation: String::new(),
            events: evs,
            detail: Value::Null,
        };
        let mk = |name: &str, anomalies, first| CheckerResult {
            checker: name.into(),
            verdict: Verdict::Invalid,
            reason: None,
            anomalies,
            stats: Value::Null,
            first_anomaly_s: first,
        };
        // The read completed at 5 s and, in another anomaly, at 3 s (its invoke at 2 s and
        // the add's invoke at 0 s are not when it became visible).
        let later = mk("a", vec![anomaly(vec![4, 5]), anomaly(vec![0, 2, 3])], None);
        // A streamed check's own time is kept.
        let streamed = mk("b", vec![anomaly(vec![4, 5])], Some(4.5));
        let none = mk("c", vec![], None);
        let r = Results::build(&events, &[later, streamed, none], &Value::Null);
        let firsts: Vec<Option<f64>> = r.checkers.iter().map(|c| c.first_anomaly_s).collect();
        assert_eq!(firsts, vec![Some(3.0), Some(4.5), None]);
        // Listed in the order they became visible: the first one first.
        assert_eq!(r.checkers[0].anomalies[0].events, [0, 2, 3]);
        assert_eq!(r.durations.get(FIRST_ANOMALY), Some(&3.0));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["checkers"][0]["first_anomaly_s"], 3.0);
        assert!(json["checkers"][2].get("first_anomaly_s").is_none());
        assert!(!Results::build(&events, &[], &Value::Null)
            .durations
            .contains_key(FIRST_ANOMALY));
    }

    #[test]
    fn verdict_is_the_worst_and_unknown_without_checkers() {
        let r = Results::build(&[], &[], &Value::Null);
        assert_eq!(r.verdict, Verdict::Unknown);
        let mk = |v| CheckerResult {
            checker: "x".into(),
            verdict: v,
            reason: None,
            anomalies: vec![],
            stats: Value::Null,
            first_anomaly_s: None,
        };
        let r = Results::build(
            &[],
            &[mk(Verdict::Valid), mk(Verdict::Invalid)],
            &Value::Null,
        );
        assert_eq!(r.verdict, Verdict::Invalid);
    }
}
