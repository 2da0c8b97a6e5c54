//! End to end: `faultline test --client` on a real Docker etcd cluster. A user relies on two
//! things: a client program of theirs gives a real verdict (the Python example client, valid
//! on etcd under partitions), and a program that does not speak the protocol stops the run
//! with one line, leaving nothing behind.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/clients")
        .join(name)
        .canonicalize()
        .expect("the example client exists")
}

/// Debian's interpreter where there is one: version-manager shims (pyenv) start slowly, and
/// every instance's start counts against the op timeout.
fn python() -> &'static str {
    ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|p| !p.starts_with('/') || Path::new(p).exists())
        .unwrap()
}

fn faultline(store: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("test")
        .args(args)
        .arg("--store")
        .arg(store)
        .output()
        .expect("faultline runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_python_register_client_is_valid_on_etcd_with_partitions() {
    if !common::docker_or_skip() {
        return;
    }
    let store = tempfile::tempdir().expect("temp dir");
    let python = python();
    let client = format!("{python} {}", example("etcd_register.py").display());
    let (code, stdout, stderr) = faultline(
        store.path(),
        &[
            "--db",
            "etcd",
            "--workload",
            "register",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "3",
            "--time-limit",
            "10",
            "--nodes",
            "3",
            "--seed",
            "11",
            "--client",
            &client,
            "--client-opt",
            "port=2379",
        ],
    );
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let run = std::fs::canonicalize(store.path().join("latest")).unwrap();
    let test: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("test.json")).unwrap()).unwrap();
    assert_eq!(test["client"], client.as_str());
    assert_eq!(test["client_options"]["port"], 2379);
    assert!(test["command"]
        .as_str()
        .unwrap()
        .contains("--client-opt port=2379"));

    let history = std::fs::File::open(run.join("history.jsonl")).unwrap();
    let (events, lines) =
        faultline_history::read_jsonl(std::io::BufReader::new(history)).expect("history reads");
    let ops = faultline_history::pair(&events, &lines).expect("history pairs");
    let ok = |f: &str| {
        ops.iter()
            .filter(|o| o.f == f && o.outcome == faultline_history::Outcome::Ok)
            .count()
    };
    assert!(
        ok("read") > 10 && ok("write") > 10 && ok("cas") > 0,
        "the client did real work: {} ops",
        ops.len()
    );
    assert!(
        !ops.iter().any(|o| o
            .error
            .as_ref()
            .is_some_and(|e| e.to_string().contains("malformed"))),
        "the example client speaks the protocol"
    );
    let log = std::fs::read_to_string(run.join("faultline.log")).unwrap_or_default();
    // Under partitions an instance may be killed for answering past the op timeout (that is
    // the protocol working); it must never misread the example's answers.
    assert!(!log.contains("malformed"), "{log}");
    let project = common::project_of(&stderr);
    assert_eq!(common::project_leftovers(&project), Vec::<String>::new());
}

#[test]
fn a_client_that_answers_garbage_stops_the_run_with_one_line_and_leaves_nothing() {
    if !common::docker_or_skip() {
        return;
    }
    let store = tempfile::tempdir().expect("temp dir");
    let marker = "faultline-garbage-client-e2e";
    let client = format!("echo {marker}; sleep 600");
    let (code, stdout, stderr) = faultline(
        store.path(),
        &[
            "--db",
            "etcd",
            "--workload",
            "register",
            "--nemesis",
            "none",
            "--time-limit",
            "5",
            "--nodes",
            "3",
            "--client",
            &client,
        ],
    );
    assert_eq!(code, Some(254), "stdout:\n{stdout}\nstderr:\n{stderr}");
    // Besides the cluster's progress lines ("[ 4.4s] ..."), one line.
    let errors: Vec<&str> = stderr.lines().filter(|l| !l.starts_with('[')).collect();
    assert_eq!(errors.len(), 1, "one line: {stderr}");
    assert!(
        errors[0].contains(&format!(
            "--client {client:?}: malformed answer to open: not JSON"
        )) && errors[0].contains(marker),
        "{}",
        errors[0]
    );
    // Nothing left: no containers or networks, no run in the store, no client process.
    let project = common::project_of(&stderr);
    assert_eq!(common::project_leftovers(&project), Vec::<String>::new());
    assert!(!store.path().join("latest").exists());
    let ps = Command::new("pgrep").args(["-f", marker]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&ps.stdout).trim().is_empty(),
        "a client process outlived the run"
    );
}

/// A client instance (shell) that records when it started and its pid, starts a process in a
/// session of its own (setsid: outside the instance's process group) recording its pid too,
/// then, with `$ANSWER` set, opens and never answers an invoke; without, never answers open.
const STUCK_CLIENT: &str = r#"
date +%s.%N > "$DIR/started"
echo $$ >> "$DIR/pids"
setsid sh -c 'echo $$ >> "$DIR/pids"; exec sleep 600' &
if [ -n "$ANSWER" ]; then read -r open; echo '{"type":"open_ok"}'; fi
exec sleep 600
"#;

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z'))
    })
}

/// The pids the stuck client recorded (its instance and the process that left its session).
fn stuck_pids(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("pids"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn stuck_client(dir: &Path, answer_open: bool) -> String {
    let script = dir.join("stuck.sh");
    std::fs::write(&script, STUCK_CLIENT).unwrap();
    format!(
        "DIR={} ANSWER={} sh {}",
        dir.display(),
        if answer_open { "1" } else { "" },
        script.display()
    )
}

fn seconds_since_epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn a_client_that_never_answers_open_ends_the_run_within_the_op_timeout_leaving_nothing() {
    if !common::docker_or_skip() {
        return;
    }
    let store = tempfile::tempdir().expect("temp dir");
    let dir = tempfile::tempdir().expect("temp dir");
    let client = stuck_client(dir.path(), false);
    let (code, stdout, stderr) = faultline(
        store.path(),
        &[
            "--db",
            "etcd",
            "--workload",
            "register",
            "--nemesis",
            "none",
            "--time-limit",
            "5",
            "--nodes",
            "3",
            "--op-timeout",
            "3",
            "--client",
            &client,
        ],
    );
    let ended = seconds_since_epoch();
    assert_eq!(code, Some(254), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| !l.starts_with('[')).collect();
    assert_eq!(errors.len(), 1, "one line: {stderr}");
    assert!(
        errors[0].contains("no answer to open within the op timeout (3.0 s); killed"),
        "{}",
        errors[0]
    );
    // From the instance's start: the op timeout, then the cluster's cleanup.
    let started: f64 = std::fs::read_to_string(dir.path().join("started"))
        .expect("the client started")
        .trim()
        .parse()
        .unwrap();
    let took = ended - started;
    assert!(
        (3.0..45.0).contains(&took),
        "ended {took:.1} s after the client started"
    );
    let pids = stuck_pids(dir.path());
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert!(
        !pids.iter().any(|&p| alive(p)),
        "a client process outlived the run (one left its session): {pids:?}"
    );
    let project = common::project_of(&stderr);
    assert_eq!(common::project_leftovers(&project), Vec::<String>::new());
}

#[test]
fn sigterm_during_a_run_kills_every_client_process_even_one_that_left_its_session() {
    if !common::docker_or_skip() {
        return;
    }
    let store = tempfile::tempdir().expect("temp dir");
    let dir = tempfile::tempdir().expect("temp dir");
    let client = stuck_client(dir.path(), true);
    let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--db",
            "etcd",
            "--workload",
            "register",
            "--nemesis",
            "none",
            "--time-limit",
            "300",
            "--nodes",
            "3",
            "--op-timeout",
            "60",
            "--concurrency",
            "2",
            "--client",
            &client,
        ])
        .arg("--store")
        .arg(store.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("faultline runs");
    // The probe's instance, then the run's two: each records two pids.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
    while stuck_pids(dir.path()).len() < 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never started its clients"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_secs(1));
    // SAFETY: kill(2) on the child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "stderr:\n{stderr}");
    let pids = stuck_pids(dir.path());
    let left: Vec<i32> = pids.iter().copied().filter(|&p| alive(p)).collect();
    assert!(
        left.is_empty(),
        "client processes outlived SIGTERM: {left:?} of {pids:?}"
    );
    let project = common::project_of(&stderr);
    assert_eq!(common::project_leftovers(&project), Vec::<String>::new());
    let run = std::fs::canonicalize(store.path().join("latest")).unwrap();
    let log = std::fs::read_to_string(run.join("faultline.log")).unwrap();
    assert!(
        log.contains("interrupted by SIGTERM: the run stops here"),
        "{log}"
    );
    assert!(log.contains("killed the --client program's"), "{log}");
    assert!(log.contains("cleanup finished"), "{log}");
}

/// Wraps a real client: reads `open`, then decides by the run's namespace. The first run's
/// namespace opens; a second run's probes fail (exit without answering) for 2 s from the
/// first, as a cluster still settling would, then open; every later run's probes fail for
/// ever. Instances of a run that opened (its workers) always open.
const SETTLING_CLIENT: &str = r#"
import fcntl, json, os, subprocess, sys, time
state, real = sys.argv[1], sys.argv[2:]
first = sys.stdin.buffer.readline()
ns = json.loads(first)["options"]["namespace"]
with open(state + ".lock", "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        s = json.load(open(state))
    except (OSError, ValueError):
        s = {"opened": [], "failing_since": None, "refused": 0}
    if ns not in s["opened"]:
        if len(s["opened"]) == 1:
            s["failing_since"] = s["failing_since"] or time.time()
            ok = time.time() - s["failing_since"] >= 2
        else:
            ok = len(s["opened"]) == 0
        if ok:
            s["opened"].append(ns)
        else:
            s["refused"] += 1
            json.dump(s, open(state, "w"))
            sys.exit(3)
    json.dump(s, open(state, "w"))
child = subprocess.Popen(real, stdin=subprocess.PIPE)
child.stdin.write(first)
child.stdin.flush()
for line in iter(sys.stdin.buffer.readline, b""):
    child.stdin.write(line)
    child.stdin.flush()
child.stdin.close()
sys.exit(child.wait())
"#;

/// Issue 18, item 9: with `--test-count`, a run whose client probe fails while the cluster
/// settles is retried within `--op-timeout` and runs; a run that still cannot start is a run
/// of its own (its directory, unknown), the earlier verdicts are kept, and the exit code is
/// the worst over all runs.
#[test]
fn a_series_retries_a_settling_probe_and_reports_a_run_that_cannot_start() {
    if !common::docker_or_skip() {
        return;
    }
    let store = tempfile::tempdir().expect("temp dir");
    let dir = tempfile::tempdir().expect("temp dir");
    let python = python();
    let wrapper = dir.path().join("settling.py");
    std::fs::write(&wrapper, SETTLING_CLIENT).unwrap();
    let state = dir.path().join("state.json");
    let client = format!(
        "{python} {} {} {python} {}",
        wrapper.display(),
        state.display(),
        example("etcd_register.py").display()
    );
    let flags = "--db etcd --workload register --nemesis none --time-limit 3 --nodes 3 \
                 --op-timeout 5 --test-count 3 --client-opt port=2379 --client";
    let mut args: Vec<&str> = flags.split_whitespace().collect();
    args.push(&client);
    let (code, stdout, stderr) = faultline(store.path(), &args);
    assert_eq!(code, Some(2), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(s["opened"].as_array().map(Vec::len), Some(2), "{s}");
    assert!(
        s["refused"].as_u64() > Some(2),
        "the probes were retried: {s}"
    );
    let test_dir = std::fs::read_dir(store.path())
        .unwrap()
        .flatten()
        .find(|e| e.file_name() != "latest")
        .unwrap()
        .path();
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&test_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    runs.sort();
    let verdicts: Vec<(String, String)> = runs
        .iter()
        .map(|r| {
            let results: Value =
                serde_json::from_str(&std::fs::read_to_string(r.join("results.json")).unwrap())
                    .unwrap();
            let reason = results["verdict_reason"].as_str().unwrap_or("").to_string();
            (results["verdict"].as_str().unwrap().to_string(), reason)
        })
        .collect();
    assert_eq!(verdicts.len(), 3, "{verdicts:?}\n{stderr}");
    assert_eq!(
        (verdicts[0].0.as_str(), verdicts[1].0.as_str()),
        ("valid", "valid")
    );
    assert_eq!(verdicts[2].0, "unknown", "{verdicts:?}");
    assert!(verdicts[2].1.contains("could not start"), "{verdicts:?}");
    assert!(stderr.contains("could not start"), "{stderr}");
    assert!(stdout.contains("invalid in 0 of 3 runs"), "{stdout}");
    let project = common::project_of(&stderr);
    assert_eq!(common::project_leftovers(&project), Vec::<String>::new());
}
