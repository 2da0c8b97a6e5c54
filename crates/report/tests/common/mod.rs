//! Synthetic runs for the report tests and benchmarks: a history with ok, fail and info
//! operations, nemesis partitions and clock bumps, and a linearizability result with an anomaly.
#![allow(dead_code)]

pub mod browser;

use faultline_history::{Anomaly, CheckerResult, Event, EventType, Process, Verdict};
use serde_json::{json, Value};
use std::path::Path;

/// A value that would run script if a report put it in the page as markup.
pub const HOSTILE: &str =
    "</script><script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">\u{2028}&amp;";

/// A synthetic run.
pub struct Run {
    /// The history.
    pub events: Vec<Event>,
    /// One invalid linearizability result and one valid set result.
    pub checkers: Vec<CheckerResult>,
    /// A runner-style test.json.
    pub config: Value,
    /// `index` of the events the anomaly names.
    pub anomaly_events: Vec<u64>,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic, good enough to vary latencies and outcomes.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Builds a run of about `operations` client operations by `workers` concurrent workers.
pub fn synth_run(operations: usize, workers: u64) -> Run {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut events: Vec<Event> = Vec::with_capacity(operations * 2 + 64);
    // Per worker: current process number, and the time it is next free.
    let mut procs: Vec<u64> = (0..workers).collect();
    let mut free_at: Vec<u64> = vec![0; workers as usize];
    // Pending completions: (time, worker, event without index).
    let mut pending: Vec<(u64, usize, Event)> = Vec::new();
    let mut raw: Vec<Event> = Vec::new();
    let mut t: u64 = 1_000_000;
    for n in 0..operations {
        let w = (n as u64 % workers) as usize;
        t = t.max(free_at[w]) + rng.below(1_000_000);
        let p = procs[w];
        let (f, value) = match rng.below(3) {
            0 => ("read", Value::Null),
            1 => ("write", json!(rng.below(5))),
            _ => ("cas", json!([rng.below(5), rng.below(5)])),
        };
        let value = if n == 7 { json!(HOSTILE) } else { value };
        let latency =
            200_000 + rng.below(4_000_000) + if rng.below(100) == 0 { 50_000_000 } else { 0 };
        let roll = rng.below(100);
        let kind = if roll < 80 {
            EventType::Ok
        } else if roll < 93 {
            EventType::Fail
        } else {
            EventType::Info
        };
        raw.push(ev(
            t,
            Process::Client(p),
            EventType::Invoke,
            f,
            value.clone(),
        ));
        let out = if f == "read" && kind == EventType::Ok {
            json!(rng.below(5))
        } else {
            value
        };
        let mut done = ev(t + latency, Process::Client(p), kind, f, out);
        if kind == EventType::Fail {
            done.error = Some(json!(if f == "cas" {
                "compare-failed"
            } else {
                "unavailable"
            }));
        }
        if kind == EventType::Info {
            done.error = Some(json!("timeout"));
            procs[w] += workers;
        }
        done.node = Some(format!("n{}", 1 + p % 5));
        pending.push((t + latency, w, done));
        free_at[w] = t + latency + 1;
    }
    let end = pending.iter().map(|p| p.0).max().unwrap_or(0) + 5_000_000;
    // Nemesis, scaled to the history: four partitions of a tenth of it each, and a clock
    // bump and reset after every second one.
    for round in 0..4u64 {
        let nt = end / 100 * (5 + 24 * round);
        let len = end / 10;
        raw.push(ev(
            nt,
            Process::Nemesis,
            EventType::Invoke,
            "start-partition",
            json!("majority"),
        ));
        raw.push(ev(
            nt + 2_000_000,
            Process::Nemesis,
            EventType::Info,
            "start-partition",
            json!({"n1": ["n3", "n4", "n5"], "n2": ["n3", "n4", "n5"]}),
        ));
        raw.push(ev(
            nt + len,
            Process::Nemesis,
            EventType::Invoke,
            "stop-partition",
            Value::Null,
        ));
        raw.push(ev(
            nt + len + 3_000_000,
            Process::Nemesis,
            EventType::Info,
            "stop-partition",
            json!("network healed"),
        ));
        if round % 2 == 1 {
            let ct = nt + end / 100 * 12;
            raw.push(ev(
                ct,
                Process::Nemesis,
                EventType::Invoke,
                "bump-clock",
                json!({"n2": 250_000_000}),
            ));
            raw.push(ev(
                ct + 1_000_000,
                Process::Nemesis,
                EventType::Info,
                "bump-clock",
                json!({"n1": 1_200_000, "n2": 251_000_000 + round * 1_000_000, "n3": -800_000}),
            ));
            raw.push(ev(
                ct + end / 100 * 7,
                Process::Nemesis,
                EventType::Invoke,
                "reset-clock",
                Value::Null,
            ));
            raw.push(ev(
                ct + end / 100 * 7 + 1_000_000,
                Process::Nemesis,
                EventType::Info,
                "reset-clock",
                json!({"n1": 900_000, "n2": 1_500_000, "n3": -400_000}),
            ));
        }
    }
    raw.extend(pending.into_iter().map(|(_, _, e)| e));
    // A stable sort by time keeps each invoke before its completion.
    raw.sort_by_key(|e| e.time);
    for (i, mut e) in raw.into_iter().enumerate() {
        e.index = i as u64;
        events.push(e);
    }
    // The anomaly: the first client write and the two reads after it.
    let mut anomaly_events = Vec::new();
    let mut taken = 0;
    for e in &events {
        if let Process::Client(_) = e.process {
            if e.kind == EventType::Ok && (e.f == "read" || e.f == "write") && taken < 3 {
                anomaly_events.push(e.index);
                taken += 1;
            }
        }
    }
    // Include the invocation of the operation with the hostile value, so it is tabulated.
    let hostile = events
        .iter()
        .find(|e| e.value == json!(HOSTILE))
        .expect("the hostile operation exists")
        .index;
    anomaly_events.push(hostile);
    let checkers = vec![
        CheckerResult {
            checker: "linearizability".into(),
            verdict: Verdict::Invalid,
            reason: None,
            anomalies: vec![Anomaly {
                kind: "nonlinearizable".into(),
                explanation: format!(
                    "No linearization explains read {} after the write: the register cannot hold that value. {HOSTILE}",
                    anomaly_events.len()
                ),
                events: anomaly_events.clone(),
                detail: json!({
                    "last-linearized": [{"process": 0, "f": "write", "value": 1}],
                    "final-paths": [[{"op": "read 3", "model": "register 1"}]],
                    "note": HOSTILE,
                }),
            }],
            stats: json!({"ops": operations}),
            first_anomaly_s: None,
        },
        CheckerResult {
            checker: "set-full".into(),
            verdict: Verdict::Valid,
            reason: None,
            anomalies: vec![],
            stats: Value::Null,
            first_anomaly_s: None,
        },
    ];
    let config = json!({
        "name": "etcd-register",
        "workload": "register",
        "db": "etcd",
        "nemesis": ["partition", "clock"],
        "nodes": ["n1", "n2", "n3", "n4", "n5"],
        "seed": 1234,
        "command": ["faultline", "test", "--workload", "register", "--db", "etcd", "--seed", "1234"],
    });
    Run {
        events,
        checkers,
        config,
        anomaly_events,
    }
}

fn ev(time: u64, process: Process, kind: EventType, f: &str, value: Value) -> Event {
    faultline_history::testing::event(0, time, process, kind, f, value)
}

/// Writes a run directory the way the runner does: history.jsonl, test.json, results.json with
/// the checker results, and node logs; then regenerates its reports.
pub fn write_run_dir(dir: &Path, run: &Run) {
    use std::io::Write;
    std::fs::create_dir_all(dir.join("logs/n1")).unwrap();
    std::fs::create_dir_all(dir.join("logs/n2")).unwrap();
    let mut h = std::io::BufWriter::new(std::fs::File::create(dir.join("history.jsonl")).unwrap());
    for e in &run.events {
        serde_json::to_writer(&mut h, e).unwrap();
        h.write_all(b"\n").unwrap();
    }
    h.flush().unwrap();
    std::fs::write(
        dir.join("test.json"),
        serde_json::to_vec_pretty(&run.config).unwrap(),
    )
    .unwrap();
    let results = faultline_report::Results::build(&run.events, &run.checkers, &run.config);
    faultline_report::write_results_json(&dir.join("results.json"), &results).unwrap();
    std::fs::write(dir.join("logs/n1/db.log"), format!("started\n{HOSTILE}\n")).unwrap();
    std::fs::write(dir.join("logs/n2/db.log"), "started\n").unwrap();
    faultline_report::regenerate(dir).unwrap();
}
