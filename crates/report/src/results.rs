//! `results.json`: what a run concluded, in the versioned schema of `docs/results.schema.json`.

use faultline_history::{CheckerResult, Event, EventType, Operation, Outcome, Process, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// The version of the results schema this crate writes; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// The identifier of the results schema, written as `$schema`-like tag in every file.
pub const SCHEMA_ID: &str = "https://faultline.dev/schemas/results-v1.json";

/// Everything `results.json` holds about one run (or one checked history).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Always [`SCHEMA_VERSION`] when written by this crate.
    pub schema_version: u32,
    /// The worst verdict of all checkers; `unknown` when no checker ran.
    pub verdict: Verdict,
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

impl Results {
    /// Builds the results of a run from its history, its checker results and its configuration.
    pub fn build(events: &[Event], checkers: &[CheckerResult], config: &Value) -> Results {
        let verdict = if checkers.is_empty() {
            Verdict::Unknown
        } else {
            checkers
                .iter()
                .fold(Verdict::Valid, |v, c| v.worst(c.verdict))
        };
        let mut durations = BTreeMap::new();
        if let (Some(first), Some(last)) = (events.first(), events.last()) {
            durations.insert(
                "history".to_string(),
                last.time.saturating_sub(first.time) as f64 / 1e9,
            );
        }
        let mut versions = BTreeMap::new();
        versions.insert(
            "faultline".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        );
        Results {
            schema_version: SCHEMA_VERSION,
            verdict,
            test: TestSummary::from_config(config),
            checkers: checkers.to_vec(),
            stats: Stats::build(events),
            nemesis: NemesisSummary::build(events),
            config: config.clone(),
            versions,
            durations,
        }
    }
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

fn string_list(v: Option<&Value>) -> Vec<String> {
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

/// Quotes one argument for a POSIX shell, only when it needs it.
fn shell_quote(arg: &str) -> String {
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
            if let Some(t) = o.get("targets").or_else(|| o.get("nodes")) {
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
    for e in events.iter().filter(|e| e.process == Process::Nemesis) {
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

impl NemesisSummary {
    /// Pairs nemesis operations into faults and collects reported clock offsets.
    pub fn build(events: &[Event]) -> NemesisSummary {
        let end_of_history = events.last().map_or(0, |e| e.time);
        let mut faults: Vec<Fault> = Vec::new();
        let mut open: HashMap<String, usize> = HashMap::new();
        let mut clock_offsets = Vec::new();
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_history::testing::event as ev;
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
    fn stats_count_unfinished_operations_as_info() {
        use EventType::*;
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
    fn verdict_is_the_worst_and_unknown_without_checkers() {
        let r = Results::build(&[], &[], &Value::Null);
        assert_eq!(r.verdict, Verdict::Unknown);
        let mk = |v| CheckerResult {
            checker: "x".into(),
            verdict: v,
            reason: None,
            anomalies: vec![],
            stats: Value::Null,
        };
        let r = Results::build(
            &[],
            &[mk(Verdict::Valid), mk(Verdict::Invalid)],
            &Value::Null,
        );
        assert_eq!(r.verdict, Verdict::Invalid);
    }
}
