//! Every process an instance starts dies with it, including one that left the instance's
//! process group or session (`setsid`, a daemon's double fork).
//!
//! Each instance runs in its own process group, and with an environment variable
//! ([`MARKER_VAR`]) naming it, which every descendant inherits whatever group or session it
//! moves to. Killing an instance is SIGKILL to its group, then to every process of this
//! machine whose environment (`/proc/PID/environ`) names the instance, repeated until none
//! is left (one may fork while we look). It needs no privilege (a user's own processes'
//! environments are readable), no daemon and no namespace support. What escapes it: a
//! process that deliberately replaces its environment (`env -i`) after leaving the group.
//! [`kill_all_instances`] does it for every instance of this faultline process: the signal
//! handler calls it, so SIGINT and SIGTERM leave nothing behind either.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// The environment variable that names the instance a process belongs to.
pub const MARKER_VAR: &str = "FAULTLINE_CLIENT_INSTANCE";

/// How many times a kill looks again for survivors (each look kills what it finds).
const KILL_ROUNDS: usize = 20;

/// Live instances (marker to process group), and whether [`kill_all_instances`] ran (then
/// no instance starts any more: the process is ending).
static LIVE: Mutex<Live> = Mutex::new(Live {
    instances: BTreeMap::new(),
    ended: false,
});

struct Live {
    instances: BTreeMap<String, i32>,
    ended: bool,
}

/// This faultline process's prefix of every marker: its pid and start time, so markers of
/// another faultline (or an earlier one with the same pid) never match.
fn run_prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{}-{nanos}.", std::process::id())
    })
}

/// A fresh marker for an instance about to start.
fn new_marker() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    format!("{}{}", run_prefix(), SEQ.fetch_add(1, Ordering::Relaxed))
}

/// Starts an instance with `spawn` (given its marker) and records it, so
/// [`kill_all_instances`] finds its group. Holding the record while it starts means an
/// instance is either recorded before [`kill_all_instances`] looks, or never started.
pub(crate) fn start<T>(
    spawn: impl FnOnce(&str) -> Result<(T, i32), String>,
) -> Result<(T, String), String> {
    let mut live = lock();
    if live.ended {
        return Err("faultline is stopping: no new client instance".into());
    }
    let marker = new_marker();
    let (started, pgid) = spawn(&marker)?;
    live.instances.insert(marker.clone(), pgid);
    Ok((started, marker))
}

fn lock() -> std::sync::MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// SIGKILL to the instance's group and to every process that carries its marker, until none
/// is left; the instance is then forgotten.
pub(crate) fn kill_instance(marker: &str, pgid: i32) {
    kill_group(pgid);
    let entry = format!("{MARKER_VAR}={marker}");
    kill_marked(|e| e == entry.as_bytes());
    lock().instances.remove(marker);
}

/// Kills every instance this process started and everything they started (see the module
/// documentation). Safe to call from the signal handler's thread, any number of times.
pub fn kill_all_instances() {
    let live: Vec<i32> = {
        let mut live = lock();
        live.ended = true;
        live.instances.values().copied().collect()
    };
    for &pgid in &live {
        kill_group(pgid);
    }
    let prefix = format!("{MARKER_VAR}={}", run_prefix());
    let killed = kill_marked(|e| e.starts_with(prefix.as_bytes()));
    lock().instances.clear();
    if !live.is_empty() || killed > 0 {
        tracing::warn!(
            "killed the --client program's {} live instance(s) and {killed} process(es) they started",
            live.len()
        );
    }
}

fn kill_group(pgid: i32) {
    if pgid > 0 {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is touched.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Kills every process with an environment entry for which `matches` holds, looking again
/// until a look finds none (or [`KILL_ROUNDS`] looks). Returns how many processes it killed.
fn kill_marked(matches: impl Fn(&[u8]) -> bool) -> usize {
    let mut killed = std::collections::BTreeSet::new();
    for _ in 0..KILL_ROUNDS {
        let found = marked(&matches);
        if found.is_empty() {
            break;
        }
        for pid in found {
            // SAFETY: kill(2) on one process; no memory is touched.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            killed.insert(pid);
        }
        // A killed process takes a moment to become a zombie (whose environment is empty).
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    killed.len()
}

/// The live processes (not zombies: their environment reads empty) with a matching entry.
fn marked(matches: &impl Fn(&[u8]) -> bool) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(&matches))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::{Duration, Instant};

    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('Z'))
        })
    }

    #[test]
    fn a_process_that_left_the_group_and_session_is_found_by_its_marker() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let marker = new_marker();
        // A child that starts a new session (so neither group nor session finds it) and sleeps.
        let mut sh = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "setsid sh -c 'echo $$ > {}; exec sleep 60' &",
                pidfile.display()
            ))
            .env(MARKER_VAR, &marker)
            .spawn()
            .unwrap();
        sh.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let pid = loop {
            if let Some(p) = std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
            {
                break p;
            }
            assert!(Instant::now() < deadline, "the child never started");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(alive(pid));
        kill_instance(&marker, 0);
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) {
            assert!(Instant::now() < deadline, "{pid} outlived its instance");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
