//! End to end (issue 21): every workload the SQL families have, in short runs on the
//! built-in PostgreSQL (a primary and streaming replicas) and MariaDB (a primary and
//! replicas), each on a real Docker cluster: the run is valid, its operations were served
//! (oks recorded), its tables live in the run's namespace, and test.json records the
//! isolation level and the consistency model it implies.

mod common;

use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Runs `faultline test --db DB --workload W ...` on three nodes; returns the run directory.
fn run(store: &Path, db: &str, workload: &str, extra: &[&str]) -> std::path::PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--db", db, "--workload", workload, "--nodes", "3"])
        .args(["--time-limit", "8", "--concurrency", "4", "--seed", "5"])
        .args(extra)
        .arg("--store")
        .arg(store)
        .output()
        .expect("faultline runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{db} {workload} {extra:?} must be valid\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let project = common::project_of(&stderr);
    assert_eq!(common::project_leftovers(&project), Vec::<String>::new());
    std::fs::canonicalize(store.join("latest")).expect("store/latest exists")
}

/// How many operations of the run completed `ok`.
fn oks(run: &Path) -> usize {
    let text = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] == "ok")
        .count()
}

fn test_json(run: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("test.json")).unwrap()).unwrap()
}

fn every_workload_is_valid(db: &str, isolation: &str, model: &str) {
    if !common::docker_or_skip() {
        return;
    }
    let workloads = [
        "register",
        "set",
        "counter",
        "bank",
        "lock",
        "lock-fenced",
        "append",
        "wr",
    ];
    for workload in workloads {
        let store = tempfile::tempdir().expect("temp dir");
        let run = run(store.path(), db, workload, &["--isolation", isolation]);
        assert!(
            oks(&run) > 10,
            "{db} {workload}: few oks in {}",
            run.display()
        );
        let config = test_json(&run);
        assert_eq!(config["isolation"], isolation, "{db} {workload}");
        if matches!(workload, "append" | "wr") {
            assert_eq!(config["consistency_model"], model, "{db} {workload}");
        }
    }
}

#[test]
fn postgres_runs_every_sql_workload_valid_at_serializable() {
    every_workload_is_valid("postgres", "serializable", "serializable");
}

#[test]
fn mariadb_runs_every_sql_workload_valid_at_serializable() {
    every_workload_is_valid("mariadb", "serializable", "serializable");
}

#[test]
fn isolation_on_a_non_sql_database_is_bad_input() {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--db", "etcd", "--isolation", "serializable"])
        .args(["--store", "/nonexistent/should-not-be-created"])
        .output()
        .expect("faultline runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "faultline: --isolation: only the SQL client families (postgres, mysql) take it, not etcd"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--db", "postgres", "--isolation", "snapshot"])
        .output()
        .expect("faultline runs");
    assert_eq!(bad.status.code(), Some(254));
}
