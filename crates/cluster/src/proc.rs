//! Local child processes (docker, docker-compose, debootstrap) that a signal must not orphan.
//!
//! Every child runs in its own process group, so a terminal's Ctrl-C reaches only faultline;
//! faultline's signal handler then stops the children it knows of before it takes the
//! cluster down, so no `docker-compose up` keeps creating containers behind its back.

use crate::ClusterError;
use faultline_control::{ExecOutput, ProcessError, RunningProcess};
use std::collections::HashSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static CHILDREN: Mutex<Option<HashSet<u32>>> = Mutex::new(None);
/// The signal that arrived (0: none yet).
static INTERRUPTED: AtomicI32 = AtomicI32::new(0);
static SCRATCH: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Whether a SIGINT/SIGTERM/SIGHUP arrived; new children are refused from then on.
pub fn interrupted() -> bool {
    interrupted_by().is_some()
}

/// The signal that arrived, if one did.
pub fn interrupted_by() -> Option<i32> {
    match INTERRUPTED.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

pub(crate) fn set_interrupted(signal: i32) {
    INTERRUPTED.store(signal, Ordering::SeqCst);
}

/// Finds `tool` on PATH.
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Spawns `cmd` in its own process group and remembers it until [`untrack`].
pub fn spawn_tracked(cmd: &mut Command) -> Result<Child, ClusterError> {
    if interrupted() {
        return Err(ClusterError::Interrupted);
    }
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut set = CHILDREN.lock().unwrap_or_else(|p| p.into_inner());
    let child = cmd
        .process_group(0)
        .spawn()
        .map_err(|e| ClusterError::Io(format!("cannot run {program}: {e}")))?;
    set.get_or_insert_with(HashSet::new).insert(child.id());
    Ok(child)
}

/// Forgets a child that has been waited for.
pub fn untrack(pid: u32) {
    if let Some(set) = CHILDREN.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        set.remove(&pid);
    }
}

/// Sends SIGTERM to every tracked child and waits up to `grace` for them to go.
pub(crate) fn stop_children(grace: Duration) {
    let pids: Vec<u32> = CHILDREN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map(|s| s.iter().copied().collect())
        .unwrap_or_default();
    for &pid in &pids {
        // Each child leads its own process group: signal the group, so what it started
        // (debootstrap's dpkg, say) stops too.
        // SAFETY: kill(2) on a group we spawned; at worst it is already gone (ESRCH).
        unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGTERM) };
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        let alive = pids
            .iter()
            // SAFETY: signal 0 only checks the process exists.
            .filter(|&&pid| unsafe { libc::kill(pid as libc::pid_t, 0) } == 0)
            .filter(|&&pid| !is_zombie(pid))
            .count();
        if alive == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
                .unwrap_or(false)
        })
        .unwrap_or(true)
}

/// Runs `cmd` to completion (tracked), with no stdin, killing it after `timeout`.
pub fn run_tracked(cmd: &mut Command, timeout: Duration) -> Result<ExecOutput, ClusterError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = spawn_tracked(cmd)?;
    let pid = child.id();
    let mut running = RunningProcess::start(child, timeout);
    let status = running.wait(&program);
    untrack(pid);
    let status = status.map_err(|e| match e {
        ProcessError::Timeout => {
            ClusterError::Io(format!("{program} did not finish within {timeout:?}"))
        }
        ProcessError::Io(message) => ClusterError::Io(message),
    })?;
    let out = running.output(status, |_| Duration::from_secs(2));
    if interrupted() && out.status != 0 {
        return Err(ClusterError::Interrupted);
    }
    Ok(out)
}

/// Remembers a scratch directory (e.g. an image build's root filesystem) that a signal
/// must not leave behind.
pub(crate) fn track_scratch(path: &Path) {
    SCRATCH
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(path.to_path_buf());
}

/// Removes a scratch directory: first unmounts anything mounted inside it (debootstrap
/// mounts /proc and /sys in its target, and an interrupted one may leave them), and leaves
/// the directory in place if something stays mounted, rather than delete through a mount.
pub(crate) fn remove_scratch(path: &Path) {
    let mounts_inside = || -> Vec<String> {
        let prefix = format!("{}/", path.display());
        std::fs::read_to_string("/proc/self/mounts")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| m.starts_with(&prefix))
            .map(str::to_string)
            .collect()
    };
    let mut mounts = mounts_inside();
    // Innermost first.
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in &mounts {
        let _ = Command::new("umount").arg("-l").arg(m).status();
    }
    if mounts_inside().is_empty() {
        let _ = std::fs::remove_dir_all(path);
    } else {
        eprintln!(
            "faultline: left {} in place: something is still mounted inside it",
            path.display()
        );
    }
    SCRATCH
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|p| p != path);
}

/// Removes every tracked scratch directory (after a signal).
pub(crate) fn remove_all_scratch() {
    let paths: Vec<PathBuf> = SCRATCH.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for p in paths {
        remove_scratch(&p);
    }
}
