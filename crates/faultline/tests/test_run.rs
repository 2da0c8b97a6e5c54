//! End to end: `faultline test` on a real Docker etcd cluster with partitions, as CI runs it.
//! It checks what a CI pipeline relies on: the exit code is the verdict, and the store holds
//! the history, the configuration, the results and the reports, with nothing left running.

mod common;

use serde_json::Value;
use std::path::Path;
use std::process::Command;

#[test]
fn etcd_register_with_partitions_is_valid_and_stored() {
    if !common::docker_or_skip() {
        return;
    }
    let store = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--db",
            "etcd",
            "--workload",
            "register",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "5",
            "--time-limit",
            "20",
            "--concurrency",
            "10",
            "--seed",
            "7",
            "--store",
        ])
        .arg(store.path())
        .output()
        .expect("faultline runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "etcd with linearizable reads must be valid\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    let run = std::fs::canonicalize(store.path().join("latest")).expect("store/latest exists");
    assert!(run.starts_with(store.path().join("etcd-register").canonicalize().unwrap()));
    for file in [
        "history.jsonl",
        "test.json",
        "results.json",
        "junit.xml",
        "report.html",
    ] {
        let p = run.join(file);
        assert!(
            p.is_file() && std::fs::metadata(&p).unwrap().len() > 0,
            "{file} missing or empty"
        );
    }
    assert!(
        std::fs::read_dir(run.join("logs"))
            .map(|d| d.count())
            .unwrap_or(0)
            > 0,
        "node logs collected"
    );

    let test: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("test.json")).unwrap()).unwrap();
    assert_eq!(test["seed"], 7);
    assert!(test["command"].as_str().unwrap().contains("--seed 7"));

    let history = std::fs::File::open(run.join("history.jsonl")).unwrap();
    let (events, lines) =
        faultline_history::read_jsonl(std::io::BufReader::new(history)).expect("history reads");
    let ops = faultline_history::pair(&events, &lines).expect("history pairs");
    assert!(
        ops.len() > 200,
        "a 20 s run does real work: {} ops",
        ops.len()
    );
    assert!(
        events
            .iter()
            .any(|e| e.process == faultline_history::Process::Nemesis && e.f == "start-partition"),
        "the nemesis partitioned the cluster"
    );
    assert!(
        events
            .iter()
            .any(|e| e.process == faultline_history::Process::Nemesis && e.f == "stop-partition"),
        "the nemesis healed the partition"
    );

    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["verdict"], "valid");
    assert_eq!(results["checkers"][0]["checker"], "linearizability");
    let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
    assert!(junit.contains("<testsuite") && !junit.contains("<failure"));

    // Nothing of the run remains.
    let project = common::project_of(&stderr);
    assert_eq!(common::project_leftovers(&project), Vec::<String>::new());
    assert!(
        !store.path().join(".clusters").exists(),
        "cluster state is kept out of the store"
    );
}

#[test]
fn bad_arguments_exit_254_with_one_line_and_start_nothing() {
    for args in [
        &["test", "--db", "mongo"][..],
        &["test", "--workload", "queue"][..],
        &["test", "--nemesis", "meteor"][..],
        &["test", "--time-limit", "0"][..],
        &["test", "--concurrency", "0"][..],
        &["test", "--nodes", "0"][..],
        &["test", "--workload", "register", "--lease-ttl", "2"][..],
        &["test", "--client-opt", "port=2379"][..],
        &["test", "--client", " "][..],
        &["test", "--client", "python3 c.py", "--client-opt", "port"][..],
        // Issue 8: a negative number after a space was a four-line clap usage block.
        &["test", "--time-limit", "-1"][..],
        &["test", "--bogus"][..],
        &["test", "--concurrency", "x"][..],
        &["tset"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(args)
            .arg("--store")
            .arg(Path::new("/nonexistent/should-not-be-created"))
            .output()
            .expect("faultline runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(254), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("faultline: "), "{args:?}: {stderr}");
    }
}
