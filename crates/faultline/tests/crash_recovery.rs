//! Crashes and signals, as a user meets them: a `faultline test` killed with SIGKILL leaves
//! its cluster, and `faultline clean` removes exactly that (never a run still going); a
//! SIGINT or SIGTERM to the process group, during setup, mid-run or during cleanup, ends
//! with 128 + the signal, no traceback, and nothing left; the same with a storage fault in
//! force (faultline-fs mounted on every node). Needs Docker (the docker test-group runs
//! these one at a time).

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn faultline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
}

fn ensure_image() {
    let out = faultline().args(["image", "build"]).output().unwrap();
    assert!(
        out.status.success(),
        "image build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A `faultline test` started the way a terminal starts it: leading its own process group,
/// with its output in files the test can read while it runs.
struct Run {
    child: Child,
    store: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
}

fn start(dir: &Path, name: &str, state: &Path, args: &[&str]) -> Run {
    let store = dir.join(format!("store-{name}"));
    let stdout = dir.join(format!("{name}.out"));
    let stderr = dir.join(format!("{name}.err"));
    let child = faultline()
        .arg("test")
        .args(args)
        .arg("--store")
        .arg(&store)
        .env("FAULTLINE_STATE_DIR", state)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .process_group(0)
        .spawn()
        .unwrap();
    Run {
        child,
        store,
        stdout,
        stderr,
    }
}

impl Run {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    fn history(&self) -> String {
        std::fs::read_to_string(self.store.join("latest/history.jsonl")).unwrap_or_default()
    }

    /// Waits (up to `limit`) for `ready` to hold, failing if the run ends first.
    fn wait_for(&mut self, what: &str, limit: Duration, ready: impl Fn(&Run) -> bool) {
        let deadline = Instant::now() + limit;
        while !ready(self) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the run ended ({status}) before {what}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            assert!(Instant::now() < deadline, "no {what} within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn project(&self) -> String {
        common::project_of(&self.stderr())
    }

    /// Sends `signal` to the whole process group, as a terminal's Ctrl-C does.
    fn signal_group(&self, signal: i32) {
        // SAFETY: kill(2) on the group this test spawned.
        let r = unsafe { libc::kill(-(self.child.id() as libc::pid_t), signal) };
        assert_eq!(r, 0, "kill failed");
    }

    fn wait(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "the run did not end within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn running_containers(project: &str) -> Vec<String> {
    let label = format!("label=com.docker.compose.project={project}");
    let out = Command::new("docker")
        .args(["ps", "-q", "--filter", &label])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// SIGKILLs `run` (no cleanup can run), checks that its 3 containers are left (what `clean`
/// is for), runs `faultline clean`, checks it exited 0, and returns what it printed.
fn kill_then_clean(run: &mut Run, project: &str, state: &Path) -> String {
    run.child.kill().unwrap();
    run.child.wait().unwrap();
    assert_eq!(
        running_containers(project).len(),
        3,
        "a SIGKILLed run leaves its cluster"
    );
    let out = faultline()
        .arg("clean")
        .env("FAULTLINE_STATE_DIR", state)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    stdout
}

/// A run with `args` for `time_limit` seconds in a fresh directory and state root (returned
/// with it), after building the image; `None` without Docker.
fn first_run(
    name: &str,
    args: &[&str],
    time_limit: &str,
) -> Option<(tempfile::TempDir, PathBuf, Run)> {
    if !common::docker_or_skip() {
        return None;
    }
    ensure_image();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let args = [args, &["--time-limit", time_limit]].concat();
    let run = start(dir.path(), name, &state, &args);
    Some((dir, state, run))
}

fn records(state: &Path) -> Vec<String> {
    std::fs::read_dir(state.join("runs"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn partitioned(r: &Run) -> bool {
    r.history()
        .lines()
        .any(|l| l.contains("\"f\":\"start-partition\"") && l.contains("\"type\":\"ok\""))
}

const RUN_ARGS: &[&str] = &[
    "--nodes",
    "3",
    "--concurrency",
    "4",
    "--nemesis",
    "partition",
    "--nemesis-interval",
    "2",
    "--seed",
    "3",
];

#[test]
fn sigkill_mid_partition_then_clean_removes_that_run_and_spares_a_live_one() {
    let Some((dir, state, mut killed)) = first_run("killed", RUN_ARGS, "60") else {
        return;
    };
    let mut live = start(
        dir.path(),
        "live",
        &state,
        &[RUN_ARGS, &["--time-limit", "25"]].concat(),
    );
    killed.wait_for("a partition", Duration::from_secs(90), partitioned);
    live.wait_for("the live run's cluster", Duration::from_secs(60), |r| {
        r.stderr().contains("(project ")
    });
    let project = killed.project();
    let live_project = live.project();
    // The partition's rules are in place on some node when the run dies.
    let label = format!("label=com.docker.compose.project={project}");
    let names = Command::new("docker")
        .args(["ps", "--filter", &label, "--format", "{{.Names}}"])
        .output()
        .unwrap();
    let names: Vec<String> = String::from_utf8_lossy(&names.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let rules = |c: &str| {
        let out = Command::new("docker")
            .args(["exec", c, "iptables", "-S", "FAULTLINE"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .matches("-j DROP")
            .count()
    };
    assert!(
        names.iter().map(|c| rules(c)).sum::<usize>() > 0,
        "no partition rules on {names:?}"
    );

    let stdout = kill_then_clean(&mut killed, &project, &state);
    let removed = stdout
        .lines()
        .find(|l| l.starts_with(&format!("removed {project} ")))
        .unwrap_or_else(|| panic!("clean does not say it removed {project}:\n{stdout}"));
    assert!(
        removed.contains("containers ") && removed.contains("networks "),
        "{removed}"
    );
    assert!(
        stdout.contains(&format!("left {live_project}: its run (pid ")),
        "{stdout}"
    );
    assert_eq!(common::project_leftovers(&project), Vec::<String>::new());
    assert!(!records(&state).contains(&project), "record left behind");

    // The live run was not touched: its nodes still run and it finishes valid.
    assert_eq!(running_containers(&live_project).len(), 3);
    let code = live.wait(Duration::from_secs(90));
    assert_eq!(
        code,
        Some(0),
        "live run:\nstdout:\n{}\nstderr:\n{}",
        live.stdout(),
        live.stderr()
    );
    assert_eq!(
        common::project_leftovers(&live_project),
        Vec::<String>::new()
    );
    assert_eq!(records(&state), Vec::<String>::new());
    // Its faultline.log says what the harness did: setup, and each nemesis command.
    let log = std::fs::read_to_string(live.store.join("latest/faultline.log")).unwrap();
    for what in [
        "starting 3 containers",
        "etcd ready on all nodes",
        "nemesis start-partition",
        "iptables",
        "nemesis stop-partition",
    ] {
        assert!(log.contains(what), "faultline.log lacks {what:?}:\n{log}");
    }
    // A second clean finds nothing.
    let out = faultline()
        .arg("clean")
        .env("FAULTLINE_STATE_DIR", &state)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to clean"));
}

/// Sends `signal` to the run's process group once `moment` holds, then checks the exit
/// code is 128 + signal, there is no traceback, and nothing of the run is left.
fn signal_at(name: &str, signal: i32, moment: fn(&Run) -> bool, time_limit: &str) {
    signal_run_at(name, signal, moment, RUN_ARGS, time_limit);
}

/// [`signal_at`] for a run with `args`.
fn signal_run_at(
    name: &str,
    signal: i32,
    moment: fn(&Run) -> bool,
    args: &[&str],
    time_limit: &str,
) {
    let Some((_dir, state, mut run)) = first_run(name, args, time_limit) else {
        return;
    };
    run.wait_for(name, Duration::from_secs(90), moment);
    let project = run.project();
    run.signal_group(signal);
    let code = run.wait(Duration::from_secs(90));
    let stderr = run.stderr();
    assert_eq!(code, Some(128 + signal), "{name}: stderr:\n{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        !stderr.contains("Traceback") && !stderr.contains("KeyboardInterrupt"),
        "{name}: a tool's traceback reached the user:\n{stderr}"
    );
    assert_eq!(
        common::project_leftovers(&project),
        Vec::<String>::new(),
        "{name}: containers or networks left"
    );
    assert_eq!(
        faultfs_mounts(&[]),
        Vec::<String>::new(),
        "{name}: a mount left"
    );
    assert_eq!(records(&state), Vec::<String>::new(), "{name}: state left");
}

#[test]
fn sigint_during_setup_exits_130_and_leaves_nothing() {
    signal_at(
        "setup",
        libc::SIGINT,
        |r| r.stderr().contains("(project "),
        "30",
    );
}

#[test]
fn sigint_mid_run_exits_130_and_leaves_nothing() {
    signal_at("mid-run", libc::SIGINT, partitioned, "30");
}

#[test]
fn sigterm_mid_run_exits_143_and_leaves_nothing() {
    signal_at("sigterm", libc::SIGTERM, partitioned, "30");
}

/// Issue 8's reproduction: Ctrl-C while `docker-compose down` ran killed it with a Python
/// traceback, and faultline exited 0.
#[test]
fn sigint_during_cleanup_exits_130_without_a_traceback() {
    signal_at(
        "cleanup",
        libc::SIGINT,
        // The verdict line is printed right before the cluster is taken down.
        |r| r.stdout().contains("report.html"),
        "4",
    );
}

/// A run whose power cuts come every 2 s on 3 nodes (faultline-fs mounted on each).
const STORAGE_ARGS: &[&str] = &[
    "--nodes",
    "3",
    "--concurrency",
    "4",
    "--nemesis",
    "power-cut",
    "--nemesis-interval",
    "2",
    "--seed",
    "3",
];

fn power_cut(r: &Run) -> bool {
    r.history()
        .lines()
        .any(|l| l.contains("\"f\":\"start-storage\"") && l.contains("\"type\":\"ok\""))
}

/// The faultline-fs mounts on this machine (`/proc/mounts`) and in each of `containers`.
fn faultfs_mounts(containers: &[String]) -> Vec<String> {
    let host = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut mounts: Vec<String> = host
        .lines()
        .filter(|l| l.contains("fuse.faultline"))
        .map(|l| format!("host: {l}"))
        .collect();
    for c in containers {
        let out = Command::new("docker")
            .args(["exec", c, "cat", "/proc/mounts"])
            .output()
            .unwrap();
        mounts.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.contains("fuse.faultline"))
                .map(|l| format!("{c}: {l}")),
        );
    }
    mounts
}

/// Issue 20: SIGKILL while a power cut is in force leaves the cluster with faultline-fs
/// mounted on its nodes; `faultline clean` then leaves no mount and no container.
#[test]
fn sigkill_during_a_power_cut_then_clean_leaves_no_mount_and_no_container() {
    let Some((_dir, state, mut run)) = first_run("storage-kill", STORAGE_ARGS, "60") else {
        return;
    };
    run.wait_for("a power cut", Duration::from_secs(120), power_cut);
    let project = run.project();
    let containers = running_containers(&project);
    assert_eq!(containers.len(), 3);
    let mounted = faultfs_mounts(&containers);
    assert!(
        mounted.len() >= 3,
        "faultline-fs is not mounted on every node: {mounted:?}"
    );
    let stdout = kill_then_clean(&mut run, &project, &state);
    assert!(stdout.contains(&format!("removed {project} ")), "{stdout}");
    assert_eq!(common::project_leftovers(&project), Vec::<String>::new());
    assert_eq!(
        faultfs_mounts(&[]),
        Vec::<String>::new(),
        "a mount outlived its cluster"
    );
    assert_eq!(records(&state), Vec::<String>::new(), "state left");
}

#[test]
fn sigterm_during_a_power_cut_exits_143_and_leaves_nothing() {
    signal_run_at("storage-term", libc::SIGTERM, power_cut, STORAGE_ARGS, "30");
}

#[test]
fn sigint_during_a_power_cut_exits_130_and_leaves_nothing() {
    signal_run_at("storage-int", libc::SIGINT, power_cut, STORAGE_ARGS, "30");
}
