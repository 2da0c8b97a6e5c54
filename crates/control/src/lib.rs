//! faultline-control: run commands on the nodes under test.
//!
//! A test talks to its nodes only through the [`Remote`] trait: run a command (with stdin,
//! a timeout, and its exit status, stdout and stderr), upload a file, download a file.
//! Two implementations exist: [`SshRemote`] (libssh2, for real hosts and for the Docker
//! cluster alike) and [`DockerRemote`] (`docker exec`/`docker cp`). A cluster is a plain
//! list of [`Node`]s, whichever source produced it.

mod docker;
mod error;
pub mod faults;
pub mod node;
mod ssh;

pub use docker::{run_process, DockerRemote, ProcessError, RunningProcess};
pub use error::ControlError;
pub use node::{nodes_from_hosts, HostsConfig, Node};
pub use ssh::{SshConfig, SshRemote};

use std::path::Path;
use std::time::Duration;

/// The result of one command run on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutput {
    /// The command's exit status (for a command killed by a signal, 128 + the signal).
    pub status: i32,
    /// Everything the command wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything the command wrote to stderr.
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    /// Stdout as text, lossily decoded, without the trailing newline.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim_end().to_string()
    }

    /// Stderr as text, lossily decoded, without the trailing newline.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim_end().to_string()
    }
}

/// The default time limit for [`Remote::run`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A way of running commands on one node.
///
/// `cmd` is a shell command line, run by `sh -c` on the node. A command that outlives its
/// timeout yields [`ControlError::Timeout`]; it may still be running on the node.
pub trait Remote: Send + Sync + std::fmt::Debug {
    /// Runs `cmd` with `stdin` as its standard input; returns whatever its exit status.
    fn exec(&self, cmd: &str, stdin: &[u8], timeout: Duration) -> Result<ExecOutput, ControlError>;

    /// Copies the local file `local` to `remote_path` on the node.
    fn upload(&self, local: &Path, remote_path: &str) -> Result<(), ControlError>;

    /// Copies `remote_path` on the node to the local file `local`.
    fn download(&self, remote_path: &str, local: &Path) -> Result<(), ControlError>;

    /// Where this remote runs commands, for error messages (e.g. `ssh root@10.0.0.2:22`).
    fn target(&self) -> String;

    /// Runs `cmd` with no stdin under [`DEFAULT_TIMEOUT`]; a non-zero exit is an error.
    /// Returns stdout as text without its trailing newline.
    fn run(&self, cmd: &str) -> Result<String, ControlError> {
        self.run_with(cmd, b"", DEFAULT_TIMEOUT)
    }

    /// Like [`Remote::run`] with explicit stdin and timeout.
    /// Every such command is logged (`tracing`, into the run's faultline.log) with its
    /// status and output.
    fn run_with(&self, cmd: &str, stdin: &[u8], timeout: Duration) -> Result<String, ControlError> {
        let result = self.exec(cmd, stdin, timeout);
        log_command(&self.target(), cmd, &result);
        let out = result?;
        if out.status != 0 {
            return Err(ControlError::Failed {
                target: self.target(),
                cmd: cmd.to_string(),
                status: out.status,
                stderr: out.stderr_text(),
            });
        }
        Ok(out.stdout_text())
    }

    /// Writes `contents` to `remote_path` on the node (through `cat`, so any remote works).
    fn write_file(&self, remote_path: &str, contents: &[u8]) -> Result<(), ControlError> {
        let cmd = format!("cat > {}", quote(remote_path));
        self.run_with(&cmd, contents, DEFAULT_TIMEOUT).map(|_| ())
    }
}

/// The most of a command's output the log keeps per stream.
const LOGGED_OUTPUT: usize = 2000;

/// Logs one command run on a node: where, what, and its status and output (or error).
fn log_command(target: &str, cmd: &str, result: &Result<ExecOutput, ControlError>) {
    let cut = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim_end();
        match text.char_indices().nth(LOGGED_OUTPUT) {
            Some((i, _)) => format!("{}... ({} bytes)", &text[..i], bytes.len()),
            None => text.to_string(),
        }
    };
    match result {
        Ok(out) if out.status == 0 => tracing::info!(
            target: "faultline::node",
            "{target}: `{cmd}` exited 0; stdout: {:?}; stderr: {:?}",
            cut(&out.stdout),
            cut(&out.stderr)
        ),
        Ok(out) => tracing::warn!(
            target: "faultline::node",
            "{target}: `{cmd}` exited {}; stdout: {:?}; stderr: {:?}",
            out.status,
            cut(&out.stdout),
            cut(&out.stderr)
        ),
        Err(e) => tracing::warn!(target: "faultline::node", "{target}: `{cmd}` failed: {e}"),
    }
}

/// Quotes one word for `sh`.
pub fn quote(word: &str) -> String {
    shlex::try_quote(word)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| format!("'{}'", word.replace('\0', "")))
}

/// Quotes and joins words into one `sh` command line.
pub fn join(words: &[&str]) -> String {
    words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}
