//! Issue 18 (smaller items) and issue 22: the CLI's messages say precisely what is wrong,
//! every flag is judged before anything starts, `test --help` groups its flags, and the
//! catalogues list what the library crates define. No Docker needed.

use std::path::Path;
use std::process::{Command, Output};

fn faultline(args: &[&str], state: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .env("FAULTLINE_STATE_DIR", state)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The one line and exit 254 a mistake gives.
fn refused(args: &[&str], state: &Path) -> String {
    let o = faultline(args, state);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(254), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    err
}

#[test]
fn check_and_report_say_what_a_directory_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let err = refused(&["check", &d], dir.path());
    assert!(
        err.contains("a directory without history.jsonl: give a run directory"),
        "{err}"
    );
    let err = refused(&["report", "/nonexistent-faultline-run"], dir.path());
    assert!(
        err.contains("/nonexistent-faultline-run: no such run directory"),
        "{err}"
    );
    let err = refused(&["report", &d], dir.path());
    assert!(
        err.contains("not a run directory: it holds no history.jsonl"),
        "{err}"
    );
}

#[test]
fn every_test_flag_is_judged_before_anything_starts() {
    let state = tempfile::tempdir().unwrap();
    let store = state.path().join("store");
    let s = store.display().to_string();
    let err = refused(&["test", "--name", "../../x", "--store", &s], state.path());
    assert!(
        err.contains("--name \"../../x\": a test name is one store directory name"),
        "{err}"
    );
    let err = refused(
        &["test", "--nodes", "99999999999999999999999", "--store", &s],
        state.path(),
    );
    assert!(err.contains("a Docker cluster has 1 to"), "{err}");
    assert!(!err.contains("ssh-key"), "{err}");
    for (flag, value) in [
        ("--time-limit", "1e20"),
        ("--op-timeout", "1e20"),
        ("--nemesis-interval", "1e20"),
        ("--concurrency", "18446744073709551615"),
    ] {
        let err = refused(&["test", flag, value, "--store", &s], state.path());
        assert!(err.starts_with(&format!("faultline: {flag}: ")), "{err}");
    }
    let err = refused(
        &[
            "test",
            "--workload",
            "lock",
            "--lease-ttl",
            "1e20",
            "--store",
            &s,
        ],
        state.path(),
    );
    assert!(err.starts_with("faultline: --lease-ttl: "), "{err}");
    // Nothing started and nothing was written: no store, no cluster record.
    assert!(!store.exists());
    assert!(!state.path().join("runs").exists());
}

#[test]
fn a_dry_run_prints_the_plan_and_starts_nothing() {
    let state = tempfile::tempdir().unwrap();
    let store = state.path().join("store");
    let o = faultline(
        &[
            "test",
            "--dry-run",
            "--seed",
            "7",
            "--nemesis",
            "kill,partition",
            "--store",
            &store.display().to_string(),
        ],
        state.path(),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.contains("nemesis    kill,partition"), "{out}");
    assert!(out.contains("command    faultline test --db etcd --workload register --nemesis kill --nemesis partition"), "{out}");
    assert!(out.contains("--seed 7"), "{out}");
    assert!(!store.exists());
}

#[test]
fn test_help_groups_its_flags() {
    let state = tempfile::tempdir().unwrap();
    let o = faultline(&["test", "--help"], state.path());
    let help = String::from_utf8_lossy(&o.stdout);
    let at = |heading: &str| {
        help.find(&format!("\n{heading}:\n"))
            .unwrap_or_else(|| panic!("no {heading} group in:\n{help}"))
    };
    let (cluster, workload, faults, checking, output) = (
        at("Cluster"),
        at("Workload"),
        at("Faults"),
        at("Checking"),
        at("Output"),
    );
    let group_of = |flag: &str| {
        let i = help.find(&format!("--{flag} ")).unwrap();
        [cluster, workload, faults, checking, output]
            .into_iter()
            .filter(|&h| h < i)
            .max()
            .unwrap()
    };
    assert_eq!(group_of("ssh-key"), cluster);
    assert_eq!(group_of("concurrency"), workload);
    assert_eq!(group_of("delay-ms"), faults);
    assert_eq!(group_of("expect"), checking);
    assert_eq!(group_of("summary-markdown"), output);
}

#[test]
fn the_catalogues_list_every_fault_and_workload() {
    let state = tempfile::tempdir().unwrap();
    let o = faultline(&["faults"], state.path());
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0));
    for name in [
        "partition-bridge",
        "clock-rate-monotonic",
        "corrupt",
        "kill",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name}: {out}"
        );
    }
    let o = faultline(&["workloads"], state.path());
    let out = String::from_utf8_lossy(&o.stdout);
    for name in ["register", "lock-fenced", "append", "wr"] {
        assert!(
            out.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name}: {out}"
        );
    }
}
