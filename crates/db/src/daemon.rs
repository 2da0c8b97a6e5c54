//! Server processes on a node, supervised by PID file with `start-stop-daemon`.
//!
//! Setup writes a start script per daemon (`/var/lib/faultline/run/<name>.start`) so a
//! restart after a kill uses exactly the setup's command line. The PID file lives beside it
//! (`<name>.pid`), which is where the cleanup guard looks to resume paused processes. A daemon is
//! recognised by its PID file alone, so a shell start command that `exec`s the server keeps
//! the PID faultline recorded.

use faultline_control::faults::{CLOCK_SHIM, LOG_DIR, PID_DIR};
use faultline_control::{quote, ControlError, Node};
use std::time::Duration;

use crate::ProcessState;

/// One supervised server process.
#[derive(Clone, Debug)]
pub struct Daemon {
    /// Its name: the PID file, log file and start script are named after it.
    pub name: String,
    /// The executable's absolute path.
    pub exec: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Whether to start it under the clock shim (LD_PRELOAD), if the node has the shim.
    pub clock_shim: bool,
}

impl Daemon {
    /// The PID file on the node.
    pub fn pid_file(&self) -> String {
        format!("{PID_DIR}/{}.pid", self.name)
    }

    /// The log file on the node.
    pub fn log_file(&self) -> String {
        format!("{LOG_DIR}/{}.log", self.name)
    }

    fn start_script(&self) -> String {
        format!("{PID_DIR}/{}.start", self.name)
    }

    /// Writes the start script on the node (replacing any earlier one) and truncates the log.
    pub fn install(&self, node: &Node) -> Result<(), ControlError> {
        let mut script =
            String::from("#!/bin/sh\n# Written by faultline: starts one supervised daemon.\n");
        if self.clock_shim {
            script.push_str(&format!(
                "[ -e {CLOCK_SHIM} ] && export LD_PRELOAD={CLOCK_SHIM}\n"
            ));
        }
        let mut words = vec![
            "start-stop-daemon".to_string(),
            "--start".into(),
            "--quiet".into(),
            "--oknodo".into(),
            "--background".into(),
            "--make-pidfile".into(),
            "--pidfile".into(),
            self.pid_file(),
            "--output".into(),
            self.log_file(),
            // Matched by PID file alone: a start command may exec into another program.
            "--startas".into(),
            self.exec.clone(),
            "--".into(),
        ];
        words.extend(self.args.iter().cloned());
        script.push_str("exec ");
        script.push_str(&words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "));
        script.push('\n');
        node.remote.run(&format!(
            "mkdir -p {PID_DIR} {LOG_DIR} && : > {}",
            quote(&self.log_file())
        ))?;
        node.remote
            .write_file(&self.start_script(), script.as_bytes())
    }

    /// Starts the daemon unless it is already running.
    pub fn start(&self, node: &Node) -> Result<(), ControlError> {
        node.remote
            .run(&format!("sh {}", quote(&self.start_script())))
            .map(|_| ())
    }

    /// Sends `signal` to the daemon and waits (up to 10 s) until it is gone; a daemon that
    /// is not running is fine. A paused daemon is resumed first so it can act on SIGTERM.
    pub fn stop(&self, node: &Node, signal: &str) -> Result<(), ControlError> {
        let pid = quote(&self.pid_file());
        let cmd = format!(
            "[ -f {pid} ] || exit 0; p=$(cat {pid}); \
             kill -{signal} $p 2>/dev/null; kill -CONT $p 2>/dev/null; \
             i=0; while kill -0 $p 2>/dev/null; do \
               i=$((i+1)); [ $i -gt 100 ] && {{ kill -KILL $p 2>/dev/null; }}; \
               [ $i -gt 150 ] && {{ echo \"pid $p will not die\" >&2; exit 1; }}; sleep 0.1; done; \
             rm -f {pid}"
        );
        node.remote
            .run_with(&cmd, b"", Duration::from_secs(30))
            .map(|_| ())
    }

    /// Sends `signal` (e.g. STOP, CONT) to the running daemon.
    pub fn signal(&self, node: &Node, signal: &str) -> Result<(), ControlError> {
        let pid = quote(&self.pid_file());
        node.remote
            .run(&format!(
                "[ -f {pid} ] || {{ echo 'not running (no PID file)' >&2; exit 1; }}; kill -{signal} $(cat {pid})"
            ))
            .map(|_| ())
    }

    /// Whether the daemon runs, is paused (SIGSTOP), or is down.
    pub fn state(&self, node: &Node) -> Result<ProcessState, ControlError> {
        let pid = quote(&self.pid_file());
        let out = node.remote.run(&format!(
            "[ -f {pid} ] || {{ echo down; exit 0; }}; p=$(cat {pid}); \
             [ -r /proc/$p/stat ] || {{ echo down; exit 0; }}; \
             s=$(sed 's/.*) //' /proc/$p/stat | cut -c1); \
             case $s in T|t) echo paused;; Z|X) echo down;; *) echo running;; esac"
        ))?;
        Ok(match out.trim() {
            "running" => ProcessState::Running,
            "paused" => ProcessState::Paused,
            _ => ProcessState::Down,
        })
    }
}
