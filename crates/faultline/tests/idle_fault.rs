//! End to end: a fault that does nothing visible is flagged, and `--expect` turns the valid
//! verdict into unknown (exit 2). Redis with Sentinel: clients write to the primary (n1 after
//! setup), and the seeded `pause-one` pauses a replica, which no client talks to and which
//! leads nothing.

mod common;

use serde_json::Value;
use std::process::Command;

#[test]
fn pausing_an_idle_replica_is_flagged_and_expect_makes_the_run_unknown() {
    if !common::docker_or_skip() {
        return;
    }
    let store = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--db",
            "redis",
            "--workload",
            "set",
            "--nemesis",
            "pause-one",
            "--nemesis-interval",
            "4",
            "--time-limit",
            "10",
            "--concurrency",
            "4",
            "--nodes",
            "3",
            "--seed",
            "3",
            "--expect",
            "leader-change,effect",
            "--store",
        ])
        .arg(store.path())
        .output()
        .expect("faultline runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let context = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    let run = std::fs::canonicalize(store.path().join("latest")).expect("store/latest exists");
    let results: Value =
        serde_json::from_slice(&std::fs::read(run.join("results.json")).unwrap()).unwrap();
    let x = &results["explanation"];
    let faults = x["faults"].as_array().expect("fault effects");
    assert_eq!(faults.len(), 1, "one pause\n{context}");
    let pause = &faults[0];
    let target = pause["targets"][0].as_str().unwrap();
    let leaders = pause["leader_before"]
        .as_array()
        .expect("Redis names its primary");
    assert!(
        !leaders.iter().any(|l| l == target),
        "the seed must pause a replica, not the primary: {pause}\n{context}"
    );
    assert_eq!(pause["paused_leader"], false, "{pause}");
    assert_eq!(
        pause["during"]["targeted"]["ok"], 0,
        "no client talks to a replica: {pause}"
    );
    assert_eq!(pause["no_visible_effect"], true, "{pause}\n{context}");
    assert!(
        stdout.contains("pause: 0 of 1 changed the leader")
            && stdout.contains("1 of 1 had no visible effect"),
        "{context}"
    );
    // The set is intact, so only the expectations make it unknown.
    assert!(
        results["checkers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["verdict"] == "valid"),
        "{context}"
    );
    assert_eq!(results["verdict"], "unknown");
    let why = results["verdict_reason"].as_str().unwrap();
    assert!(
        why.contains("expected leader-change: 0 of 1 faults changed the leader"),
        "{why}"
    );
    assert_eq!(out.status.code(), Some(2), "{context}");
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("no visible effect"));
    let project = common::project_of(&stderr);
    assert!(common::project_leftovers(&project).is_empty());
}
