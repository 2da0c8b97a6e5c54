//! `faultline cluster` as users run it: bad input is refused with one clear line before
//! anything is created, and SIGINT in the middle of `cluster up` leaves no container,
//! network or iptables rule behind. The SIGINT test needs Docker and says loudly when it
//! cannot run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn faultline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
}

/// A fresh scratch directory under the system temp dir, removed when dropped.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("faultline-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn stderr_line(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line of error, got: {text:?}");
    lines[0].to_string()
}

fn up(state: &Path, args: &[&str]) -> Output {
    faultline()
        .args(["cluster", "up", "--state-dir"])
        .arg(state)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn assert_nothing_made(state: &Path) {
    assert!(
        !state.join("cluster.json").exists(),
        "a cluster record was written"
    );
    let entries: Vec<_> = std::fs::read_dir(state)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(entries.is_empty(), "files were made: {entries:?}");
}

#[test]
fn unknown_database_is_refused_in_one_line() {
    let dir = scratch("unknown-db");
    let state = dir.join("state");
    let out = up(&state, &["--db", "mongodb", "--nodes", "3"]);
    assert_eq!(out.status.code(), Some(254));
    assert_eq!(
        stderr_line(&out),
        "faultline: --db: unknown database \"mongodb\": expected one of etcd, redis, redis-fsync-always, etcd-no-fsync, postgres, mariadb, mariadb-galera, postgres-sync, or the path of a db.toml or of its directory (no such file or directory)"
    );
    assert_nothing_made(&state);
}

#[test]
fn zero_nodes_is_refused_in_one_line() {
    let dir = scratch("zero");
    let state = dir.join("state");
    let out = up(&state, &["--db", "etcd", "--nodes", "0"]);
    assert_eq!(out.status.code(), Some(254));
    assert_eq!(stderr_line(&out), "faultline: --nodes must be at least 1");
    assert_nothing_made(&state);
}

#[test]
fn missing_key_file_is_refused_in_one_line() {
    let dir = scratch("nokey");
    let state = dir.join("state");
    let key = dir.join("no-such-key");
    let out = up(
        &state,
        &["--nodes", "127.0.0.1", "--ssh-key", key.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(254));
    assert_eq!(
        stderr_line(&out),
        format!("faultline: SSH key file {}: not found", key.display())
    );
    assert_nothing_made(&state);
}

#[test]
fn unreachable_ssh_host_is_refused_in_one_line() {
    let dir = scratch("unreachable");
    let state = dir.join("state");
    let key = dir.join("id");
    std::fs::write(
        &key,
        "not really a key, never read: the host is unreachable\n",
    )
    .unwrap();
    // Port 1 on loopback: nothing listens there, so the connection is refused.
    let out = up(
        &state,
        &[
            "--db",
            "etcd",
            "--nodes",
            "127.0.0.1:1",
            "--ssh-user",
            "root",
            "--ssh-key",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(254));
    let line = stderr_line(&out);
    assert!(
        line.starts_with("faultline: cannot reach 127.0.0.1:1 over SSH: ")
            && line.to_lowercase().contains("refused"),
        "{line}"
    );
    assert!(!state.join("cluster.json").exists());
}

#[test]
fn status_without_a_cluster_says_how_to_start_one() {
    let dir = scratch("nostatus");
    let state = dir.join("state");
    let out = faultline()
        .args(["cluster", "status", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
    let line = stderr_line(&out);
    assert!(line.contains("no cluster is up"), "{line}");
    assert!(line.contains("faultline cluster up"), "{line}");
}

fn docker_available(test: &str) -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!(
            "\n********************************************************************\n\
             SKIPPED {test}: no Docker daemon (docker missing or not running).\n\
             This test did NOT run. Install docker.io and start it to run it.\n\
             ********************************************************************\n"
        );
    }
    ok
}

fn docker_lines(args: &[&str]) -> Vec<String> {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(out.status.success(), "docker {args:?} failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn iptables_rules() -> String {
    let out = Command::new("iptables-save").output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => panic!("iptables-save is needed to check that no rule is left behind"),
    }
}

#[test]
fn sigint_during_cluster_up_leaves_nothing_behind() {
    if !docker_available("sigint_during_cluster_up_leaves_nothing_behind") {
        return;
    }
    // Build (or find) the image first, so the signal lands while the cluster starts.
    let out = faultline().args(["image", "build"]).output().unwrap();
    assert!(
        out.status.success(),
        "image build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = scratch("sigint");
    let state = dir.join("state");
    let project = format!("faultline-sigint-{}", std::process::id());
    let label = format!("label=com.docker.compose.project={project}");
    let mut child = faultline()
        .args([
            "cluster", "up", "--db", "etcd", "--nodes", "3", "--name", &project,
        ])
        .arg("--state-dir")
        .arg(&state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Wait until the run has made its network and containers, then interrupt it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let bridge = loop {
        let nets = docker_lines(&["network", "ls", "-q", "--no-trunc", "--filter", &label]);
        let running = docker_lines(&["ps", "-q", "--filter", &label]);
        if let (Some(net), 3) = (nets.first(), running.len()) {
            break format!("br-{}", &net[..12]);
        }
        assert!(
            Instant::now() < deadline,
            "cluster never started its containers"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "cluster up ended early"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        iptables_rules().contains(&bridge),
        "docker made no rules for {bridge}"
    );
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");

    assert_eq!(
        docker_lines(&["ps", "-aq", "--filter", &label]),
        Vec::<String>::new(),
        "containers left behind"
    );
    assert_eq!(
        docker_lines(&["network", "ls", "-q", "--filter", &label]),
        Vec::<String>::new(),
        "networks left behind"
    );
    assert!(
        !iptables_rules().contains(&bridge),
        "iptables rules for {bridge} left behind"
    );
    assert!(
        !state.join("cluster.json").exists(),
        "cluster record left behind"
    );
    assert!(
        !state.join(&project).exists(),
        "per-cluster files (key pair) left behind"
    );
}

#[test]
fn missing_docker_is_named_with_how_to_install_it() {
    let empty = scratch("nopath");
    for args in [
        &["image", "build"][..],
        &["cluster", "up", "--nodes", "3"][..],
    ] {
        let out = faultline()
            .args(args)
            .env("PATH", &*empty)
            .env("FAULTLINE_STATE_DIR", empty.join("state"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(254), "{args:?}");
        assert_eq!(
            stderr_line(&out),
            "faultline: docker not found: install it with `apt-get install -y docker.io`"
        );
    }
    assert!(!empty.join("state").join("cluster.json").exists());
}

#[test]
fn missing_debootstrap_is_named_with_how_to_install_it() {
    if !docker_available("missing_debootstrap_is_named_with_how_to_install_it") {
        return;
    }
    // A PATH with docker on it and nothing else.
    let bin = scratch("onlydocker");
    let docker = Command::new("sh")
        .args(["-c", "command -v docker"])
        .output()
        .unwrap();
    let docker = String::from_utf8_lossy(&docker.stdout).trim().to_string();
    std::os::unix::fs::symlink(&docker, bin.join("docker")).unwrap();
    let out = faultline()
        .args(["image", "build", "--force"])
        .env("PATH", &*bin)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
    assert_eq!(
        stderr_line(&out),
        "faultline: debootstrap not found: install it with `apt-get install -y debootstrap`"
    );
}
