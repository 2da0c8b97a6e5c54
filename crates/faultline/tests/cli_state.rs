//! Where a run keeps its cluster state, and `faultline clean`'s judgement of whose cluster
//! is abandoned, without starting a cluster: state stays out of the store, an early failure
//! leaves nothing, leftovers are announced in one line, and `clean` removes only the
//! records of runs that are gone (a reused pid does not count as the owner).

mod common;

use faultline_cluster::state::{private_dir, runs_dir, Owner};
use std::path::Path;
use std::process::{Command, Output};

fn faultline(state: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_faultline"));
    c.env("FAULTLINE_STATE_DIR", state);
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A record as a crashed run leaves it: its owner's pid belongs to a process that has exited.
fn abandoned_record(state: &Path, project: &str) {
    let dir = runs_dir(state).join(project);
    private_dir(&dir).unwrap();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    let me = Owner::this_process(project).unwrap();
    gone.wait().unwrap();
    Owner { pid, ..me }.write(&dir).unwrap();
}

/// A run against a host nobody listens on: it fails after its state directory was made.
fn failing_run(dir: &Path, state: &Path) -> Output {
    let key = dir.join("id_ed25519");
    std::fs::write(&key, "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n").unwrap();
    faultline(state)
        .args(["test", "--nodes", "127.0.0.1:1", "--ssh-key"])
        .arg(&key)
        .args(["--time-limit", "1", "--store"])
        .arg(dir.join("store"))
        .output()
        .unwrap()
}

/// Issue 8's reproductions: empty `store/.clusters/*` folders after early failures, and
/// keys kept in the (served) store.
#[test]
fn an_early_failure_leaves_no_state_and_nothing_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let out = failing_run(dir.path(), &state);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "{stderr}");
    let last = stderr.trim().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("faultline: ") && last.contains("127.0.0.1"),
        "{stderr}"
    );
    let store: Vec<_> = std::fs::read_dir(dir.path().join("store"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(store.is_empty(), "the store holds {store:?}");
    let runs: Vec<_> = std::fs::read_dir(runs_dir(&state))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(runs.is_empty(), "state left: {runs:?}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(runs_dir(&state))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the state directory is private");
}

#[test]
fn a_test_run_warns_in_one_line_about_abandoned_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    abandoned_record(&state, "faultline-1-crashed");
    let out = failing_run(dir.path(), &state);
    let stderr = text(&out.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(
        warnings,
        ["faultline: warning: 1 cluster left by runs that ended without cleaning up (faultline-1-crashed): remove it with `faultline clean`"],
        "{stderr}"
    );
}

#[test]
fn clean_removes_only_clusters_whose_run_is_gone() {
    if !common::docker_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let unique = std::process::id();
    let dead = format!("faultline-0-dead{unique}");
    let live = format!("faultline-0-live{unique}");
    let reused = format!("faultline-0-reused{unique}");
    let kept = format!("faultline-0-kept{unique}");
    abandoned_record(&state, &dead);
    let me = Owner::this_process(&live).unwrap();
    for (project, owner) in [
        (&live, me.clone()),
        // This process's pid, but another start time: a pid reused after the owner died.
        (
            &reused,
            Owner {
                start_ticks: me.start_ticks.wrapping_sub(1),
                ..me.clone()
            },
        ),
        (
            &kept,
            Owner {
                start_ticks: me.start_ticks.wrapping_sub(1),
                kept: true,
                ..me.clone()
            },
        ),
    ] {
        let d = runs_dir(&state).join(project);
        private_dir(&d).unwrap();
        Owner {
            project: project.clone(),
            ..owner
        }
        .write(&d)
        .unwrap();
    }
    let out = faultline(&state)
        .args(["clean", "--dry-run"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("would remove {dead} ")),
        "{stdout}"
    );
    assert!(runs_dir(&state).join(&dead).exists(), "--dry-run removed");

    let out = faultline(&state).arg("clean").output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for gone in [&dead, &reused] {
        assert!(
            stdout.contains(&format!("removed {gone} (left by pid ")),
            "{stdout}"
        );
        assert!(!runs_dir(&state).join(gone).exists());
    }
    assert!(stdout.contains(&format!(
        "left {live}: its run (pid {}) is still going",
        me.pid
    )));
    assert!(stdout.contains(&format!("left {kept}: kept with --keep-cluster")));
    assert!(runs_dir(&state).join(&live).exists());
    assert!(runs_dir(&state).join(&kept).exists());
}
