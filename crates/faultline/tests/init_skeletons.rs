//! End to end: every `faultline init` skeleton runs as generated to a valid verdict on a real
//! Docker cluster, against the system it names (Debian's etcd, Debian's Redis, and for `none`
//! the tiny example system it writes, through its own Python client). A user starts from one
//! of these and changes it; a skeleton that does not run as written fails them in minute one.

mod common;

use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// `faultline init DIR --family FAMILY`, then a short register run against it with a
/// partition; the run's exit code, its stdout and stderr, and its results.json.
fn init_and_test(family: &str) -> (Option<i32>, String, Value) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join(format!("my-{family}"));
    let init = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["init", "--family", family])
        .arg(&dir)
        .output()
        .expect("faultline runs");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let store = tmp.path().join("store");
    let mut test = Command::new(env!("CARGO_BIN_EXE_faultline"));
    test.arg("test")
        .arg("--db")
        .arg(&dir)
        .arg("--store")
        .arg(&store);
    test.args([
        "--workload",
        "register",
        "--time-limit",
        "10",
        "--nodes",
        "3",
        "--seed",
        "7",
    ]);
    test.args(["--nemesis", "partition", "--nemesis-interval", "3"]);
    if family == "none" {
        // Debian's interpreter where there is one: a version manager's shim starts slowly,
        // and every client instance's start counts against the op timeout.
        let python = if Path::new("/usr/bin/python3").exists() {
            "/usr/bin/python3"
        } else {
            "python3"
        };
        test.arg("--client")
            .arg(format!("{python} {}", dir.join("client.py").display()));
    }
    let out = test.output().expect("faultline runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let text = format!(
        "stdout:\n{}\nstderr:\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    let results = std::fs::read_to_string(store.join("latest/results.json"))
        .map(|r| serde_json::from_str(&r).expect("results.json is JSON"))
        .unwrap_or(Value::Null);
    if stderr.contains("(project ") {
        let left = common::project_leftovers(&common::project_of(&stderr));
        assert!(left.is_empty(), "left behind: {left:?}\n{text}");
    }
    (out.status.code(), text, results)
}

fn assert_valid_with_operations(family: &str) {
    if !common::docker_or_skip() {
        return;
    }
    let (code, text, results) = init_and_test(family);
    assert_eq!(code, Some(0), "{family}: {text}");
    assert_eq!(results["verdict"], "valid", "{family}: {text}");
    let counts = results["stats"]["counts"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let ok: u64 = counts.values().filter_map(|c| c["ok"].as_u64()).sum();
    assert!(
        ok >= 20,
        "{family}: a valid verdict needs operations that succeeded, got {ok}: {text}"
    );
}

#[test]
fn the_etcd_skeleton_is_valid_on_debians_etcd() {
    assert_valid_with_operations("etcd");
}

#[test]
fn the_redis_skeleton_is_valid_on_debians_redis() {
    assert_valid_with_operations("redis");
}

#[test]
fn the_none_skeleton_is_valid_on_its_example_system_through_its_python_client() {
    assert_valid_with_operations("none");
}
