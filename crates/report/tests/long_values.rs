//! Issue 18: `faultline report` on a history with a 100 MB value took 6.0 GB and wrote a
//! 1.5 GB results.json and a 402 MB report. A report holds the first part of a long value and
//! says it was truncated; here at a scale a test can afford (a 4 MB value).

use faultline_history::testing::event;
use faultline_history::{Anomaly, CheckerResult, EventType, Process, Verdict};
use serde_json::{json, Value};

#[test]
fn long_values_are_truncated_in_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let long = Value::Array((0..500_000).map(Value::from).collect());
    let events = vec![
        event(
            0,
            0,
            Process::Client(0),
            EventType::Invoke,
            "write",
            long.clone(),
        ),
        event(
            1,
            1,
            Process::Client(0),
            EventType::Ok,
            "write",
            long.clone(),
        ),
        event(
            2,
            2,
            Process::Client(0),
            EventType::Invoke,
            "read",
            Value::Null,
        ),
        event(3, 3, Process::Client(0), EventType::Ok, "read", json!(1)),
    ];
    let history = faultline_history::write_jsonl(&events, Vec::new()).unwrap();
    assert!(history.len() > 6_000_000);
    std::fs::write(dir.path().join(faultline_report::HISTORY_FILE), &history).unwrap();
    let checker = CheckerResult {
        checker: "linearizability".into(),
        verdict: Verdict::Invalid,
        reason: None,
        anomalies: vec![Anomaly {
            kind: "nonlinearizable".into(),
            explanation: format!("read 1 after a write of {long}"),
            events: vec![2, 3],
            detail: json!({"op": {"value": long}, "prefix": [{"value": long}]}),
        }],
        stats: Value::Null,
        first_anomaly_s: None,
    };
    let results = json!({"schema_version": 2, "checkers": [checker]});
    std::fs::write(
        dir.path().join(faultline_report::RESULTS_FILE),
        results.to_string(),
    )
    .unwrap();
    faultline_report::regenerate(dir.path()).unwrap();
    for name in [
        faultline_report::RESULTS_FILE,
        faultline_report::REPORT_FILE,
        faultline_report::JUNIT_FILE,
    ] {
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(text.len() < 400_000, "{name}: {} bytes", text.len());
        if name != faultline_report::JUNIT_FILE {
            assert!(text.contains("[truncated: "), "{name} does not say so");
        }
    }
}
