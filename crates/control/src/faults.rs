//! Where faultline leaves its marks on a node, and how to remove them.
//!
//! The nemesis and the DB supervisors use these names, and the cleanup guard undoes them on
//! every exit path: the network is healed by removing only faultline's own iptables chain
//! and any netem qdisc, paused processes are resumed, the clock offset goes back to zero, and
//! a real host's clock that a clock fault moved is moved back.

use crate::{ControlError, Remote};
use std::time::Duration;

/// The iptables chain that holds every rule faultline adds; nothing else is ever touched.
pub const IPTABLES_CHAIN: &str = "FAULTLINE";
/// The file the clock shim reads its offset (ns) from.
pub const CLOCK_OFFSET_FILE: &str = "/var/lib/faultline/clock-offset";
/// The clock shim library inside the node image.
pub const CLOCK_SHIM: &str = "/usr/local/lib/faultline-clockshim.so";
/// faultline-clock (`image/clockvdso.c`): injects clock changes into running processes
/// through their vDSO, sets them, and probes them.
pub const CLOCK_TOOL: &str = "/usr/local/sbin/faultline-clock";
/// The shared page faultline-clock's injected code reads offsets and rates from.
pub const CLOCK_CONTROL_FILE: &str = "/var/lib/faultline/clock-control";
/// The pid of the `faultline-clock watch` loop that injects restarted daemons.
pub const CLOCK_WATCH_PID_FILE: &str = "/var/lib/faultline/clock-watch.pid";
/// faultline-netq (`image/netq.c`): the NFQUEUE packet handler of packet faults.
pub const NETQ_TOOL: &str = "/usr/local/sbin/faultline-netq";
/// The running packet handler's pid (the nemesis writes it).
pub const NETQ_PID_FILE: &str = "/var/lib/faultline/netq.pid";
/// Where supervised daemons keep their PID files (`<name>.pid`).
pub const PID_DIR: &str = "/var/lib/faultline/run";
/// Where supervised daemons write their logs (`<name>.log`).
pub const LOG_DIR: &str = "/var/log/faultline";

/// faultline-fs (`image/faultfs.c`): the FUSE file system storage faults mount over a
/// definition's data directories; it keeps what was not fsynced undoable and drops it on
/// command.
pub const FAULTFS_TOOL: &str = "/usr/local/sbin/faultline-fs";
/// The backing directories of faultline-fs mounts on a node: `<n>/root` holds the files of
/// the n-th data directory, `<n>/trash` inodes a durable entry may still name, `<n>/ctl` the
/// control socket.
pub const FAULTFS_DIR: &str = "/var/lib/faultline/fs";

/// Unmounts every faultline-fs mount on the node (its daemon then exits) and removes the
/// backing directories.
pub fn faultfs_unmount_cmd() -> String {
    format!(
        "awk '$3 == \"fuse.faultline\" {{ print $2 }}' /proc/mounts | \
           while read -r m; do umount \"$m\" 2>/dev/null || umount -l \"$m\"; done; \
         rm -rf {FAULTFS_DIR}"
    )
}

/// Mounts a fresh faultline-fs over each of `dirs` (emptied), after removing any earlier one.
pub fn faultfs_mount_cmd(dirs: &[String]) -> String {
    let mut cmd = format!("{} && mkdir -p {FAULTFS_DIR}", faultfs_unmount_cmd());
    for (i, dir) in dirs.iter().enumerate() {
        let d = crate::quote(dir);
        cmd.push_str(&format!(
            " && rm -rf {d} && mkdir -p {FAULTFS_DIR}/{i} {d} && {FAULTFS_TOOL} mount {FAULTFS_DIR}/{i} {d}"
        ));
    }
    cmd
}

/// Lets the disks of every faultline-fs mount work again (ends a `disk-error`); the mounts
/// stay, so a kept cluster's database keeps its files. Nothing to do without mounts.
pub fn heal_storage_cmd() -> String {
    format!(
        "for b in {FAULTFS_DIR}/*; do [ -S \"$b/ctl\" ] && {FAULTFS_TOOL} ctl \"$b\" heal >/dev/null; done; true"
    )
}

/// Sends `command` (`drop`, `stats`, `sync`, `fail EIO`, `fail ENOSPC`, `heal`) to every
/// faultline-fs mount on the node; prints `<backing dir>: <answer>` per mount, and fails when
/// the node has none.
pub fn faultfs_ctl_cmd(command: &str) -> String {
    format!(
        "found=0; for b in {FAULTFS_DIR}/*; do [ -S \"$b/ctl\" ] || continue; found=1; \
           printf '%s: ' \"$b\"; {FAULTFS_TOOL} ctl \"$b\" {command} || exit 1; done; \
         [ $found = 1 ] || {{ echo 'no faultline-fs mount here: storage faults need the cluster set up for them' >&2; exit 1; }}"
    )
}

/// Present on a node that the membership fault removed from its cluster and did not add
/// back (its `join` failed): the next membership fault does not count it as a member.
/// Database setup removes it.
pub const LEFT_CLUSTER_FILE: &str = "/var/lib/faultline/left-cluster";

/// Removes faultline's iptables chain and its jumps; other rules stay as they are.
pub fn heal_network_cmd() -> String {
    let c = IPTABLES_CHAIN;
    format!(
        "command -v iptables >/dev/null || exit 0; \
         if iptables -w -n -L {c} >/dev/null 2>&1; then \
           for hook in INPUT OUTPUT FORWARD; do \
             while iptables -w -D $hook -j {c} 2>/dev/null; do :; done; \
           done; \
           iptables -w -F {c} && iptables -w -X {c}; \
         fi"
    )
}

/// Sends SIGCONT to every supervised daemon, so none stays paused.
pub fn resume_all_cmd() -> String {
    format!(
        "for f in {PID_DIR}/*.pid; do [ -f \"$f\" ] && kill -CONT \"$(cat \"$f\")\" 2>/dev/null; done; true"
    )
}

/// Where the on-node strobe loop of a `slow` fault records its pid.
pub const SLOW_PID_FILE: &str = "/tmp/faultline-slow.pid";
/// Where the on-node strobe loop of a clock-strobe fault records its pid.
pub const CLOCK_STROBE_PID_FILE: &str = "/tmp/faultline-clock-strobe.pid";

/// Ends the nemesis's detached loops (`slow`, clock strobe) if they still run. Runs before
/// the resume and the clock reset, so no loop stops a process or moves a clock after them.
pub fn stop_loops_cmd() -> String {
    stop_loops_in(&[SLOW_PID_FILE, CLOCK_STROBE_PID_FILE])
}

/// [`stop_loops_cmd`] for the loops recorded in `pid_files`.
fn stop_loops_in(pid_files: &[&str]) -> String {
    pid_files
        .iter()
        .map(|f| {
            let q = quote(f);
            format!("if [ -f {q} ]; then kill $(cat {q}) 2>/dev/null; rm -f {q}; fi; ")
        })
        .collect::<String>()
        + "true"
}

/// Sets the clock offset back to zero (if the node has one), stops the clock watcher, and
/// sets faultline-clock's wall clocks back to true time and both rates to 1 (monotonic
/// clocks keep their offset: they never go back).
pub fn reset_clock_cmd() -> String {
    format!(
        "[ ! -e {CLOCK_OFFSET_FILE} ] || echo 0 > {CLOCK_OFFSET_FILE}; \
         {}; \
         [ ! -e {CLOCK_CONTROL_FILE} ] || [ ! -x {CLOCK_TOOL} ] || {CLOCK_TOOL} set --reset",
        stop_pid_file_cmd(CLOCK_WATCH_PID_FILE)
    )
}

/// `faultline-clock set` with `args` (e.g. `--wall -5000000000`, `--mono-rate 4`).
pub fn clock_set_cmd(args: &str) -> String {
    format!("{CLOCK_TOOL} set {args}")
}

/// Injects faultline-clock into every supervised daemon now, and starts the watcher that
/// injects them again whenever one restarts (idempotent: one watcher per node).
pub fn clock_inject_cmd() -> String {
    format!(
        "{CLOCK_TOOL} inject-dir {PID_DIR} && \
         {{ [ -f {CLOCK_WATCH_PID_FILE} ] && kill -0 $(cat {CLOCK_WATCH_PID_FILE}) 2>/dev/null || \
           {{ nohup {CLOCK_TOOL} watch {PID_DIR} >> {LOG_DIR}/clock-watch.log 2>&1 & echo $! > {CLOCK_WATCH_PID_FILE}; }}; }}"
    )
}

/// Each process's clocks as a fresh probe process under faultline-clock sees them:
/// prints `<wall offset ns> <monotonic offset ns>`.
pub fn clock_probe_cmd() -> String {
    format!("{CLOCK_TOOL} probe")
}

/// Ends the process whose pid `file` holds (if it still runs) and removes the file.
fn stop_pid_file_cmd(file: &str) -> String {
    format!(
        "if [ -f {file} ]; then p=$(cat {file}); kill $p 2>/dev/null; \
         i=0; while kill -0 $p 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done; \
         rm -f {file}; fi; true"
    )
}

/// Stops faultline's packet handler, which releases every packet it holds as it exits.
/// Run after [`heal_network_cmd`] removed its queue rules.
pub fn stop_packet_handler_cmd() -> String {
    stop_pid_file_cmd(NETQ_PID_FILE)
}

/// Removes a netem root qdisc from every interface that has one (delay, duplicate and
/// reorder faults); other qdiscs stay. Tolerant: nothing to do, or no `tc`, is success.
pub fn heal_netem_cmd() -> String {
    "command -v tc >/dev/null || exit 0; \
     for dev in $(ls /sys/class/net); do \
       if tc qdisc show dev \"$dev\" root 2>/dev/null | grep -q netem; then \
         tc qdisc del dev \"$dev\" root 2>/dev/null || true; \
       fi; \
     done; true"
        .to_string()
}

/// Where a clock fault on a real host records the offset (ms) it has moved the host's clock
/// by, so that a reset, a strobe and the cleanup guard all know what to undo.
pub const HOST_CLOCK_STATE_FILE: &str = "/var/lib/faultline/host-clock-offset-ms";
/// The lock that keeps two host clock changes on a node from interleaving.
const HOST_CLOCK_LOCK: &str = "/var/lib/faultline/host-clock.lock";

/// Steps CLOCK_REALTIME by `$delta` ns relative to its current value: python3's
/// `clock_settime` (microseconds lost), else GNU `date -s` (a few ms lost).
const HOST_CLOCK_STEP: &str = "if command -v python3 >/dev/null 2>&1; then \
       python3 -c \"import sys, time; c = time.CLOCK_REALTIME; time.clock_settime_ns(c, time.clock_gettime_ns(c) + int(sys.argv[1]))\" \"$delta\"; \
     else \
       t=$(( $(date +%s%N) + delta )); \
       date -s \"@$(( t / 1000000000 )).$(printf %09d $(( t % 1000000000 )))\" >/dev/null; \
     fi";

/// Best effort after the final reset: let NTP correct what stepping lost.
const HOST_CLOCK_RESYNC: &str = "if command -v chronyc >/dev/null 2>&1; then \
       chronyc makestep >/dev/null 2>&1 || true; \
     elif command -v ntpdate >/dev/null 2>&1 && [ -r /etc/ntp.conf ]; then \
       ntpdate -b -u $(awk '/^(server|pool) / {print $2}' /etc/ntp.conf) >/dev/null 2>&1 || true; \
     fi";

/// The command that moves a real host's clock so it is `offset_ms` off true time (0: back
/// to true time), relative to the offset already applied ([`HOST_CLOCK_STATE_FILE`]).
/// With `resync`, a reset to 0 then asks chrony or ntpdate to step to NTP time, best effort.
/// Only for existing hosts given with `--allow-clock-changes`: Docker nodes share this
/// machine's clock and use the clock shim instead.
pub fn set_host_clock_cmd(offset_ms: i64, resync: bool) -> String {
    host_clock_cmd(
        HOST_CLOCK_STATE_FILE,
        HOST_CLOCK_LOCK,
        offset_ms,
        HOST_CLOCK_STEP,
        resync.then_some(HOST_CLOCK_RESYNC),
    )
}

/// Moves a real host's clock back by whatever a clock fault left applied, then resyncs;
/// does nothing on a node where no host clock fault ran (no state file).
pub fn reset_host_clock_cmd() -> String {
    format!(
        "[ -e {HOST_CLOCK_STATE_FILE} ] || exit 0; {}",
        set_host_clock_cmd(0, true)
    )
}

/// [`set_host_clock_cmd`] with its state file, lock, clock step (given `$delta` ns) and
/// resync as parameters, so tests can run its bookkeeping with a harmless step.
fn host_clock_cmd(
    state: &str,
    lock: &str,
    offset_ms: i64,
    step: &str,
    resync: Option<&str>,
) -> String {
    let resync = resync.unwrap_or(":");
    let script = format!(
        "set -e; state={state}; target=$1; \
         cur=$(cat \"$state\" 2>/dev/null || echo 0); \
         delta=$(( (target - cur) * 1000000 )); \
         if [ \"$delta\" -ne 0 ]; then {step}; fi; \
         if [ \"$target\" -eq 0 ]; then rm -f \"$state\"; {resync}; \
         else echo \"$target\" > \"$state\"; fi",
        state = quote(state),
    );
    let dir = std::path::Path::new(state)
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| ".".into());
    let run = format!("sh -c {} faultline-clock {offset_ms}", quote(&script));
    format!(
        "mkdir -p {dir} && if command -v flock >/dev/null 2>&1; then flock {lock} {run}; else {run}; fi",
        dir = quote(&dir),
        lock = quote(lock),
    )
}

/// Single-quotes `s` for sh.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Undoes every fault on one node: ends the `slow` and clock-strobe loops, heals the network
/// (iptables, the packet handler and netem), resumes daemons, resets the clock (the shim's
/// offset, faultline-clock's wall clocks and rates, and a real host's clock if a fault moved it),
/// and lets faultline-fs disks work again. Tries every step even if one fails, and returns the first failure.
pub fn restore_node(remote: &dyn Remote) -> Result<(), ControlError> {
    let timeout = Duration::from_secs(20);
    let mut first = None;
    for cmd in [
        stop_loops_cmd(),
        heal_network_cmd(),
        stop_packet_handler_cmd(),
        heal_netem_cmd(),
        resume_all_cmd(),
        reset_clock_cmd(),
        reset_host_clock_cmd(),
        heal_storage_cmd(),
    ] {
        if let Err(e) = remote.run_with(&cmd, b"", timeout) {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn sh(cmd: &str) -> std::process::Output {
        Command::new("sh").arg("-c").arg(cmd).output().unwrap()
    }

    /// Runs the host clock bookkeeping for real with a step that only logs `$delta`: each
    /// change steps by the difference from what is applied, and a reset undoes it exactly.
    #[test]
    fn host_clock_steps_by_the_difference_and_reset_undoes_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/offset-ms");
        let log = dir.path().join("steps");
        let step = format!("echo \"$delta\" >> {}", quote(&log.display().to_string()));
        let resync = format!("echo resync >> {}", quote(&log.display().to_string()));
        let lock = dir.path().join("lock").display().to_string();
        let set = |ms: i64, resync: Option<&str>| {
            let out = sh(&host_clock_cmd(
                &state.display().to_string(),
                &lock,
                ms,
                &step,
                resync,
            ));
            assert!(out.status.success(), "{out:?}");
        };
        set(500, None);
        assert_eq!(std::fs::read_to_string(&state).unwrap().trim(), "500");
        set(-200, None);
        set(-200, None);
        set(0, Some(&resync));
        assert!(!state.exists(), "a reset forgets the offset");
        set(0, None);
        let steps = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            steps.lines().collect::<Vec<_>>(),
            ["500000000", "-700000000", "200000000", "resync"]
        );
    }

    #[test]
    fn host_clock_commands_name_their_mechanisms() {
        let set = set_host_clock_cmd(-1500, false);
        assert!(set.starts_with("mkdir -p '/var/lib/faultline' && if command -v flock"));
        assert!(set.contains("flock '/var/lib/faultline/host-clock.lock' sh -c "));
        assert!(set.ends_with(" faultline-clock -1500; fi"));
        assert!(
            set.contains("time.clock_settime_ns(c, time.clock_gettime_ns(c) + int(sys.argv[1]))")
        );
        assert!(set.contains("date -s"));
        assert!(!set.contains("chronyc"));
        assert!(set_host_clock_cmd(0, true).contains("chronyc makestep"));
        let reset = reset_host_clock_cmd();
        assert!(reset.starts_with("[ -e /var/lib/faultline/host-clock-offset-ms ] || exit 0; "));
        assert!(reset.ends_with(" faultline-clock 0; fi"));
        let inner = format!("{HOST_CLOCK_STEP}; {HOST_CLOCK_RESYNC}");
        for cmd in [set, reset, set_host_clock_cmd(0, true), inner] {
            let out = Command::new("sh")
                .args(["-n", "-c", &cmd])
                .output()
                .unwrap();
            assert!(out.status.success(), "not valid sh: {cmd}\n{out:?}");
        }
    }

    /// A loop like the nemesis's `slow` strobe, started for real, is ended by the command
    /// the cleanup guard runs first, and its pid file goes; a missing pid file is no error.
    #[test]
    fn stop_loops_ends_running_loops_and_forgets_them() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("slow.pid").display().to_string();
        let absent = dir.path().join("strobe.pid").display().to_string();
        let start = format!(
            "nohup sh -c 'while sleep 0.05; do :; done' >/dev/null 2>&1 & echo $! > {}",
            quote(&pid_file)
        );
        assert!(sh(&start).status.success());
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let alive = |pid: i32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| !s.rsplit_once(')').unwrap().1.trim_start().starts_with('Z'))
        };
        assert!(alive(pid));
        let out = sh(&stop_loops_in(&[&pid_file, &absent]));
        assert!(out.status.success(), "{out:?}");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while alive(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(pid), "the loop still runs");
        assert!(!std::path::Path::new(&pid_file).exists());
        assert!(stop_loops_cmd().contains("/tmp/faultline-slow.pid"));
        assert!(stop_loops_cmd().contains("/tmp/faultline-clock-strobe.pid"));
    }

    #[test]
    fn netem_heal_removes_only_netem_root_qdiscs() {
        let cmd = heal_netem_cmd();
        assert!(cmd.starts_with("command -v tc >/dev/null || exit 0;"));
        assert!(cmd.contains("grep -q netem"));
        assert!(cmd.contains("tc qdisc del dev \"$dev\" root 2>/dev/null || true"));
        let out = Command::new("sh")
            .args(["-n", "-c", &cmd])
            .output()
            .unwrap();
        assert!(out.status.success(), "not valid sh: {out:?}");
    }
}
