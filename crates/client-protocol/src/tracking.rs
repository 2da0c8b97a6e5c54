//! Every process an instance starts dies with it, including one that left the instance's
//! process group or session (`setsid`, a daemon's double fork).
//!
//! Each instance runs in its own process group, and with an environment variable
//! ([`MARKER_VAR`]) naming it, which every descendant inherits whatever group or session it
//! moves to. Killing an instance is SIGKILL to its group, then to every process of this
//! machine whose environment (`/proc/PID/environ`) names the instance, repeated until none
//! is left (one may fork while we look; one caught mid-`execve` reads an empty environment,
//! so it is looked at again). It needs no privilege (a user's own processes' environments
//! are readable), no daemon and no namespace support. What escapes it: a process that
//! deliberately replaces its environment (`env -i`) after leaving the group.
//! [`kill_all_instances`] does it for every instance of this faultline process: the signal
//! handler calls it, so SIGINT and SIGTERM leave nothing behind either.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// The environment variable that names the instance a process belongs to.
pub const MARKER_VAR: &str = "FAULTLINE_CLIENT_INSTANCE";

/// How many times a kill looks again for survivors (each look kills what it finds).
const KILL_ROUNDS: usize = 20;

/// How many times a kill looks again, 2 ms apart, at processes caught mid-`execve`: half a
/// second, seven times the longest such window measured with both cores busy (72 ms).
const EXEC_ROUNDS: usize = 250;

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
/// until a look finds none and catches none mid-`execve` (or [`KILL_ROUNDS`] looks, and
/// [`EXEC_ROUNDS`] looks at those mid-`execve`). Returns how many processes it killed.
fn kill_marked(matches: impl Fn(&[u8]) -> bool) -> usize {
    kill_marked_on(&ProcFs, matches)
}

/// How a kill sees and signals this machine's processes: `/proc` and kill(2) in production
/// ([`ProcFs`]), a scripted machine in tests (so the decisions are tested without races).
trait Machine {
    /// This machine's processes, but for this one.
    fn pids(&self) -> Vec<i32>;
    /// `pid`'s environment (entries ending in NUL); `None` if unreadable (gone, another user's).
    fn environ(&self, pid: i32) -> Option<Vec<u8>>;
    /// Whether `pid` is a live user process in `execve` whose new environment is not set yet
    /// (so an empty read of it proves nothing).
    fn mid_exec(&self, pid: i32) -> bool;
    /// SIGKILL to `pid`.
    fn kill(&self, pid: i32);
    /// Waits between looks, for the killed to die and the execs to finish.
    fn pause(&self);
}

/// [`kill_marked`] on `machine`. A look with no match but with processes caught mid-`execve`
/// is not final: `execve` installs the new memory before it sets the environment there, so
/// such a process reads empty (for milliseconds under load). Those alone are looked at again
/// after a pause, until they read their environment or no longer are mid-`execve`.
fn kill_marked_on(machine: &impl Machine, matches: impl Fn(&[u8]) -> bool) -> usize {
    let mut killed = std::collections::BTreeSet::new();
    let mut doubtful = Vec::new();
    let (mut full_looks, mut exec_looks) = (0, 0);
    loop {
        let pids = if !doubtful.is_empty() {
            exec_looks += 1;
            std::mem::take(&mut doubtful)
        } else {
            full_looks += 1;
            machine.pids()
        };
        if full_looks > KILL_ROUNDS || exec_looks > EXEC_ROUNDS {
            break;
        }
        let look = look(machine, pids, &matches);
        if look.found.is_empty() && look.doubtful.is_empty() {
            break;
        }
        for &pid in &look.found {
            machine.kill(pid);
            killed.insert(pid);
        }
        // After kills the next look is a full one anyway, which doubts afresh.
        if look.found.is_empty() {
            doubtful = look.doubtful;
        }
        machine.pause();
    }
    killed.len()
}

/// What one look saw: the processes to kill, and those that read empty mid-`execve`.
struct Look {
    found: Vec<i32>,
    doubtful: Vec<i32>,
}

/// Reads the environment of each of `pids`: those with a matching entry are found, those that
/// read empty mid-`execve` are doubtful (zombies, kernel threads and `env -i` read empty too).
fn look(machine: &impl Machine, pids: Vec<i32>, matches: &impl Fn(&[u8]) -> bool) -> Look {
    let mut look = Look {
        found: Vec::new(),
        doubtful: Vec::new(),
    };
    for pid in pids {
        let Some(env) = machine.environ(pid) else {
            continue;
        };
        if env.is_empty() {
            if machine.mid_exec(pid) {
                look.doubtful.push(pid);
            }
        } else if env.split(|&b| b == 0).any(matches) {
            look.found.push(pid);
        }
    }
    look
}

/// The real machine: `/proc` and kill(2).
struct ProcFs;

/// The kernel's flag (in `/proc/PID/stat`) of a kernel thread, `PF_KTHREAD`.
const PF_KTHREAD: u64 = 0x0020_0000;

impl Machine for ProcFs {
    fn pids(&self) -> Vec<i32> {
        let me = std::process::id() as i32;
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|&pid| pid != me)
            .collect()
    }

    fn environ(&self, pid: i32) -> Option<Vec<u8>> {
        std::fs::read(format!("/proc/{pid}/environ")).ok()
    }

    fn mid_exec(&self, pid: i32) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // The command name (in parentheses) may hold anything; the fields follow its last ')'.
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        // Field 51, env_end, is 0 from the new memory's install until the kernel sets the
        // environment there; it is not 0 for an empty environment (`env -i`).
        let live = !matches!(fields.first(), None | Some(&("Z" | "X" | "x")));
        live && field(9).is_some_and(|f| f & PF_KTHREAD == 0) && field(51) == Some(0)
    }

    fn kill(&self, pid: i32) {
        // SAFETY: kill(2) on one process; no memory is touched.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }

    fn pause(&self) {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::process::Command;
    use std::time::{Duration, Instant};

    /// Whether `pid` exists and is not a zombie.
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

    /// A scripted machine: each pid's environment reads as its script says, in order (the
    /// last read repeats), until it is killed; an empty read is mid-`execve` unless the pid is
    /// settled. It records the kills and the pauses.
    struct Scripted {
        scripts: BTreeMap<i32, Vec<&'static str>>,
        settled: Vec<i32>,
        reads: RefCell<BTreeMap<i32, usize>>,
        killed: RefCell<Vec<i32>>,
        pauses: Cell<usize>,
        /// Whether a killed process still reads (a fork bomb's endless new children).
        immortal: Cell<bool>,
    }

    impl Scripted {
        /// A machine whose processes' environments read as `scripts` say.
        fn new(scripts: &[(i32, &[&'static str])]) -> Self {
            Scripted {
                scripts: scripts.iter().map(|(p, s)| (*p, s.to_vec())).collect(),
                settled: Vec::new(),
                reads: RefCell::default(),
                killed: RefCell::default(),
                pauses: Cell::new(0),
                immortal: Cell::new(false),
            }
        }

        /// How many times `pid`'s environment was read.
        fn reads(&self, pid: i32) -> usize {
            self.reads.borrow().get(&pid).copied().unwrap_or(0)
        }
    }

    impl Machine for Scripted {
        fn pids(&self) -> Vec<i32> {
            self.scripts.keys().copied().collect()
        }

        fn environ(&self, pid: i32) -> Option<Vec<u8>> {
            if !self.immortal.get() && self.killed.borrow().contains(&pid) {
                return None;
            }
            let script = self.scripts.get(&pid)?;
            let mut reads = self.reads.borrow_mut();
            let n = reads.entry(pid).or_insert(0);
            let env = script[(*n).min(script.len() - 1)];
            *n += 1;
            Some(env.as_bytes().to_vec())
        }

        fn mid_exec(&self, pid: i32) -> bool {
            !self.settled.contains(&pid)
        }

        fn kill(&self, pid: i32) {
            self.killed.borrow_mut().push(pid);
        }

        fn pause(&self) {
            self.pauses.set(self.pauses.get() + 1);
        }
    }

    /// An environment that names instance `m`.
    const MARKED: &str = "HOME=/\0FAULTLINE_CLIENT_INSTANCE=m\0";

    /// Matches the marker of [`MARKED`].
    fn is_m(entry: &[u8]) -> bool {
        entry == b"FAULTLINE_CLIENT_INSTANCE=m"
    }

    #[test]
    fn a_process_caught_mid_exec_is_killed_once_its_environment_shows_its_marker() {
        let machine = Scripted::new(&[(7, &["HOME=/\0"]), (10, &["", "", "", MARKED])]);
        assert_eq!(kill_marked_on(&machine, is_m), 1);
        assert_eq!(*machine.killed.borrow(), [10]);
        // Only the doubtful process is looked at again.
        assert_eq!(machine.reads(7), 2);
    }

    #[test]
    fn a_settled_empty_environment_zombie_or_kernel_thread_causes_no_second_look() {
        let mut machine = Scripted::new(&[(2, &[""]), (7, &["HOME=/\0"]), (10, &["", MARKED])]);
        machine.settled = vec![2, 10];
        assert_eq!(kill_marked_on(&machine, is_m), 0);
        assert_eq!(machine.pauses.get(), 0);
        assert_eq!((machine.reads(2), machine.reads(10)), (1, 1));
    }

    #[test]
    fn a_process_that_stays_mid_exec_is_looked_at_no_more_than_exec_rounds_times_after_a_full_look()
    {
        let machine = Scripted::new(&[(7, &["HOME=/\0"]), (10, &[""])]);
        assert_eq!(kill_marked_on(&machine, is_m), 0);
        assert_eq!((machine.reads(10), machine.reads(7)), (1 + EXEC_ROUNDS, 1));
    }

    #[test]
    fn a_process_that_forks_forever_is_looked_for_no_more_than_kill_rounds_times() {
        let machine = Scripted::new(&[(7, &["HOME=/\0"]), (10, &[MARKED])]);
        machine.immortal.set(true);
        assert_eq!(kill_marked_on(&machine, is_m), 1);
        assert_eq!(
            (machine.reads(10), machine.reads(7)),
            (KILL_ROUNDS, KILL_ROUNDS)
        );
    }

    #[test]
    fn after_kills_a_full_look_doubts_afresh() {
        let machine = Scripted::new(&[(9, &[MARKED]), (10, &["", "", MARKED])]);
        assert_eq!(kill_marked_on(&machine, is_m), 2);
        assert_eq!(*machine.killed.borrow(), [9, 10]);
    }

    #[test]
    fn the_real_machine_sees_no_exec_in_a_settled_process_a_kernel_thread_or_a_zombie() {
        assert!(!ProcFs.mid_exec(std::process::id() as i32));
        // kthreadd is pid 2 unless this runs in its own pid namespace.
        if std::fs::read_to_string("/proc/2/comm").is_ok_and(|c| c.trim() == "kthreadd") {
            assert!(!ProcFs.mid_exec(2));
        }
        let mut empty = Command::new("env")
            .args(["-i", "sleep", "60"])
            .spawn()
            .unwrap();
        let pid = empty.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c != "sleep\n") {
            assert!(Instant::now() < deadline, "env never ran sleep");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(ProcFs.environ(pid), Some(Vec::new()));
        assert!(!ProcFs.mid_exec(pid));
        empty.kill().unwrap();
        // Now a zombie (unreaped).
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) {
            assert!(Instant::now() < deadline, "{pid} never became a zombie");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!ProcFs.mid_exec(pid));
        empty.wait().unwrap();
    }
}
