use std::path::PathBuf;
use std::time::Duration;

/// Why a command or copy on a node did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The node could not be reached at all.
    #[error("cannot reach {target}: {reason}")]
    Connect {
        /// Where we tried to connect.
        target: String,
        /// What went wrong.
        reason: String,
    },
    /// The node answered but refused our credentials.
    #[error("{target} refused SSH login: {reason}")]
    Auth {
        /// The login target, e.g. `root@10.0.0.2:22`.
        target: String,
        /// What libssh2 said.
        reason: String,
    },
    /// The node's host key does not match the recorded one.
    #[error("host key of {target} {reason} (known hosts: {known_hosts})")]
    HostKey {
        /// The host whose key was checked.
        target: String,
        /// How the check failed.
        reason: String,
        /// The known_hosts file consulted.
        known_hosts: PathBuf,
    },
    /// A key or known_hosts file is missing or unreadable.
    #[error("{what} {path}: {reason}")]
    File {
        /// What the file is, e.g. "SSH key file".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The command did not finish in time; it may still be running on the node.
    #[error("{target}: `{cmd}` timed out after {after:?}")]
    Timeout {
        /// Where the command ran.
        target: String,
        /// The command.
        cmd: String,
        /// The time limit.
        after: Duration,
    },
    /// The command ran and exited non-zero (only from [`crate::Remote::run`]).
    #[error("{target}: `{cmd}` exited with status {status}: {stderr}")]
    Failed {
        /// Where the command ran.
        target: String,
        /// The command.
        cmd: String,
        /// Its exit status.
        status: i32,
        /// Its stderr, trimmed.
        stderr: String,
    },
    /// The connection broke mid-command, or a local I/O step failed.
    #[error("{target}: {reason}")]
    Io {
        /// Where it happened.
        target: String,
        /// What went wrong.
        reason: String,
    },
}
