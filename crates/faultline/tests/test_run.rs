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
    let out = faultline_test(
        store.path(),
        &[
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
        ],
    );
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

    let (events, ops) = history_of(&run);
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

/// Issue 10: list-append transactions on etcd, briefly partitioned, are strict-serializable;
/// the run records txn operations and its checker is the transactional one, and `faultline
/// check RUN_DIR` judges the run again with the model it recorded.
#[test]
fn etcd_append_is_strict_serializable_and_checked_as_transactions() {
    if !common::docker_or_skip() {
        return;
    }
    let store = tempfile::tempdir().expect("temp dir");
    let out = faultline_test(
        store.path(),
        &[
            "--workload",
            "append",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "5",
            "--time-limit",
            "15",
            "--concurrency",
            "6",
            "--seed",
            "3",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "etcd list-append must be strict-serializable\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let run = std::fs::canonicalize(store.path().join("latest")).expect("store/latest exists");
    let (_, ops) = history_of(&run);
    let ok_reads = ops
        .iter()
        .filter(|o| o.f == "txn" && o.outcome == faultline_history::Outcome::Ok)
        .flat_map(|o| o.output.as_array().cloned().unwrap_or_default())
        .filter(|m| m[0] == "r" && m[2].is_array())
        .count();
    assert!(ok_reads > 50, "reads of lists were recorded: {ok_reads}");

    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["verdict"], "valid");
    let checker = &results["checkers"][0];
    assert_eq!(checker["checker"], "transactional");
    assert_eq!(checker["stats"]["workload"], "list-append");
    assert_eq!(checker["stats"]["consistency_model"], "strict-serializable");
    assert!(checker["stats"]["ok"].as_u64().unwrap() > 50, "{checker}");

    let again = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["check", "--json"])
        .arg(&run)
        .output()
        .expect("faultline check runs");
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let records: Value = serde_json::from_slice(&again.stdout).expect("--json is JSON");
    let record = &records[0];
    assert_eq!(record["verdict"], "valid", "{record}");
    assert_eq!(
        record["consistency_model"], "strict-serializable",
        "{record}"
    );

    let project = common::project_of(&stderr);
    assert_eq!(common::project_leftovers(&project), Vec::<String>::new());
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
        &["test", "--workload", "register", "--key-count", "3"][..],
        &[
            "test",
            "--workload",
            "append",
            "--consistency-model",
            "acid",
        ][..],
        &["test", "--workload", "wr", "--min-txn-length", "5"][..],
        &["test", "--workload", "append", "--read-fraction", "1.5"][..],
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

/// `faultline test ARGS --store STORE`, run to the end.
fn faultline_test(store: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("test")
        .args(args)
        .arg("--store")
        .arg(store)
        .output()
        .expect("faultline runs")
}

/// A run's recorded events and their operations.
fn history_of(
    run: &Path,
) -> (
    Vec<faultline_history::Event>,
    Vec<faultline_history::Operation>,
) {
    let history = std::fs::File::open(run.join("history.jsonl")).unwrap();
    let (events, lines) =
        faultline_history::read_jsonl(std::io::BufReader::new(history)).expect("history reads");
    let ops = faultline_history::pair(&events, &lines).expect("history pairs");
    (events, ops)
}

/// Runs faultline with `args`; its exit code, its stderr, and the containers of the compose
/// projects its process could have made (`faultline-<pid>-*`).
fn run_and_leftovers(args: &[&str]) -> (Option<i32>, String, Vec<String>) {
    let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("faultline runs");
    let pid = child.id();
    let out = child.wait_with_output().expect("faultline finishes");
    let left = Command::new("docker")
        .args(["ps", "-aq", "--filter"])
        .arg(format!("name=faultline-{pid}-"))
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        left,
    )
}

#[test]
fn a_definition_with_a_mistake_is_one_line_naming_file_and_field_and_starts_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("store");
    let def = dir.path().join("mine");
    std::fs::create_dir(&def).unwrap();
    let good = "name = \"mine\"\n[[daemons]]\nname = \"mine\"\nstart = \"sleep 1000\"\n\
                [ready]\ncommand = \"true\"\n[client]\nfamily = \"redis\"\nport = 6379\n";
    let cases = [
        (
            // "mysql" became a family of its own, so the unknown family is one nobody ships.
            good.replace("family = \"redis\"", "family = \"mongodb\""),
            "client.family: expected \"etcd\", \"redis\", \"postgres\", \"mysql\" or \"none\", found \"mongodb\"",
        ),
        (
            format!("{good}[[files]]\nsource = \"bin/server\"\ndest = \"/usr/bin/server\"\n"),
            "files[0].source: cannot read",
        ),
        (
            good.replace("[ready]\ncommand = \"true\"\n", ""),
            "ready: missing; expected a table with a command",
        ),
    ];
    let toml = def.join("db.toml");
    for (text, expected) in cases {
        std::fs::write(&toml, text).unwrap();
        let spec = def.to_str().unwrap();
        let store_arg = store.to_str().unwrap();
        for args in [
            &["test", "--db", spec, "--nodes", "3", "--store", store_arg][..],
            &[
                "cluster",
                "--state-dir",
                store_arg,
                "up",
                "--db",
                spec,
                "--nodes",
                "3",
            ][..],
        ] {
            let (code, stderr, left) = run_and_leftovers(args);
            assert_eq!(code, Some(254), "{args:?}: {stderr}");
            assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
            assert!(
                stderr.contains(&format!("{}: {expected}", toml.display())),
                "{args:?}: {stderr}"
            );
            assert_eq!(left, Vec::<String>::new(), "{args:?}: containers were made");
        }
        assert!(
            !store.join(".clusters").exists()
                || std::fs::read_dir(store.join(".clusters"))
                    .unwrap()
                    .next()
                    .is_none(),
            "no cluster state is left"
        );
        assert!(!store.join("cluster.json").exists());
    }
}

/// `--stop-on-anomaly` for a workload checked after the run (finding 4: etcd's lease lock,
/// its holders' nodes paused past the lease): the prefix check sees two holders as soon as
/// the second acquire is acknowledged and the run ends long before its time limit, invalid,
/// with when the first anomaly became visible in results.json (overall and for the
/// checker), the pauses ended, logs collected and no container or network left behind.
#[test]
fn stop_on_anomaly_ends_a_lock_run_early() {
    if !common::docker_or_skip() {
        return;
    }
    let store = tempfile::tempdir().expect("temp dir");
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--db",
            "etcd",
            "--workload",
            "lock",
            "--nemesis",
            "pause-minority",
            "--nemesis-interval",
            "5",
            "--op-timeout",
            "10",
            "--stop-on-anomaly",
            "--time-limit",
            "150",
            "--seed",
            "1",
            "--store",
        ])
        .arg(store.path())
        .output()
        .expect("faultline runs");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let context = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("--stop-on-anomaly: the lock workload stops when two processes"),
        "the log line says what stops the run\n{context}"
    );
    assert_eq!(out.status.code(), Some(1), "invalid\n{context}");
    let anomaly = stdout
        .lines()
        .find(|l| l.starts_with("anomaly at "))
        .unwrap_or_else(|| panic!("the anomaly is printed when found\n{context}"));
    assert!(anomaly.contains(": lock-overlap: "), "{anomaly}");
    assert!(
        stdout.contains("stopping the run (--stop-on-anomaly)"),
        "{context}"
    );
    assert!(stdout.contains("first anomaly "), "{context}");

    let run = std::fs::canonicalize(store.path().join("latest")).expect("store/latest exists");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["verdict"], "invalid");
    let lock = &results["checkers"][0];
    assert_eq!(lock["checker"], "lock-overlap");
    assert_eq!(lock["verdict"], "invalid");
    let first = results["durations"]["first_anomaly_s"]
        .as_f64()
        .expect("results.json says when the first anomaly became visible");
    assert_eq!(lock["first_anomaly_s"].as_f64(), Some(first), "{lock}");
    let run_s = results["durations"]["run_s"].as_f64().unwrap();
    // When the pauses first give two holders depends on timing (17 s in one run, 127 s in
    // another); what the flag promises is that the run stops soon after, before its limit:
    // within a re-check, an op timeout (10 s) and the final heal.
    assert!(
        first < run_s && run_s - first < 30.0 && run_s < 150.0,
        "{first} s, run {run_s} s of 150"
    );
    assert!(took.as_secs() < 240, "the whole command took {took:?}");

    every_fault_ended_and_logs_collected(&run, "pause");
    let project = common::project_of(&stderr);
    assert_eq!(common::project_leftovers(&project), Vec::<String>::new());
}

/// `--stop-on-anomaly`: the checker running alongside the run finds etcd's stale serializable
/// reads under a partition, and the run ends long before its time limit, invalid, with the
/// stale read in results.json, faults healed, logs collected and nothing left running.
#[test]
fn stop_on_anomaly_ends_a_stale_read_run_early() {
    if !common::docker_or_skip() {
        return;
    }
    let store = tempfile::tempdir().expect("temp dir");
    let started = std::time::Instant::now();
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
            "--serializable-reads",
            "--stop-on-anomaly",
            "--time-limit",
            "120",
            "--seed",
            "3",
            "--store",
        ])
        .arg(store.path())
        .output()
        .expect("faultline runs");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let context = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(out.status.code(), Some(1), "invalid\n{context}");
    let anomaly = stdout
        .lines()
        .find(|l| l.starts_with("anomaly at "))
        .unwrap_or_else(|| panic!("the anomaly is printed when found\n{context}"));
    assert!(anomaly.contains("linearizability: key "), "{anomaly}");
    assert!(
        stdout.contains("stopping the run (--stop-on-anomaly)"),
        "{context}"
    );

    let run = std::fs::canonicalize(store.path().join("latest")).expect("store/latest exists");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["verdict"], "invalid");
    let lin = &results["checkers"][0];
    assert_eq!(lin["checker"], "linearizability");
    assert_eq!(lin["verdict"], "invalid");
    let stale = &lin["anomalies"][0]["detail"]["op"];
    assert_eq!(stale["f"], "read", "a stale read: {stale}");
    let first = results["durations"]["first_anomaly_s"]
        .as_f64()
        .expect("results.json says when the anomaly was found");
    let run_s = results["durations"]["run_s"].as_f64().unwrap();
    // The run stops within an op timeout (5 s) and the heal of the anomaly, far before 120 s.
    assert!(first < run_s && run_s < 90.0, "{first} s, run {run_s} s");
    assert!(took.as_secs() < 150, "the whole command took {took:?}");

    every_fault_ended_and_logs_collected(&run, "partition");
    let test: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("test.json")).unwrap()).unwrap();
    assert_eq!(test["flags"]["stop_on_anomaly"], true);
    assert!(test["command"]
        .as_str()
        .unwrap()
        .contains("--stop-on-anomaly"));

    let project = common::project_of(&stderr);
    assert_eq!(common::project_leftovers(&project), Vec::<String>::new());
}

/// A run that stopped early still healed every `fault` it started and collected node logs.
fn every_fault_ended_and_logs_collected(run: &std::path::Path, fault: &str) {
    let history = std::fs::File::open(run.join("history.jsonl")).unwrap();
    let (events, _) =
        faultline_history::read_jsonl(std::io::BufReader::new(history)).expect("history reads");
    let nemesis = |f: &str| {
        events
            .iter()
            .filter(|e| e.process == faultline_history::Process::Nemesis && e.f == f)
            .count()
    };
    assert_eq!(
        nemesis(&format!("start-{fault}")),
        nemesis(&format!("stop-{fault}")),
        "every {fault} ended"
    );
    let logs = std::fs::read_dir(run.join("logs")).map_or(0, |d| d.count());
    assert!(logs > 0, "node logs collected");
}
