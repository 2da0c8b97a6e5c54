use crate::{ControlError, ExecOutput, Remote};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs commands in a container with `docker exec`, copies files with `docker cp`.
#[derive(Clone, Debug)]
pub struct DockerRemote {
    /// The container's name or id.
    pub container: String,
}

impl DockerRemote {
    /// A remote for the container named (or with the id) `container`.
    pub fn new(container: impl Into<String>) -> Self {
        DockerRemote {
            container: container.into(),
        }
    }
}

impl Remote for DockerRemote {
    fn exec(&self, cmd: &str, stdin: &[u8], timeout: Duration) -> Result<ExecOutput, ControlError> {
        let mut command = Command::new("docker");
        command.args(["exec", "-i", &self.container, "sh", "-c", cmd]);
        run_process(&mut command, stdin, timeout).map_err(|e| match e {
            ProcessError::Timeout => ControlError::Timeout {
                target: self.target(),
                cmd: cmd.to_string(),
                after: timeout,
            },
            ProcessError::Io(reason) => ControlError::Io {
                target: self.target(),
                reason,
            },
        })
    }

    fn upload(&self, local: &Path, remote_path: &str) -> Result<(), ControlError> {
        let dest = format!("{}:{}", self.container, remote_path);
        self.docker_cp(&local.to_string_lossy(), &dest)
    }

    fn download(&self, remote_path: &str, local: &Path) -> Result<(), ControlError> {
        let src = format!("{}:{}", self.container, remote_path);
        self.docker_cp(&src, &local.to_string_lossy())
    }

    fn target(&self) -> String {
        format!("docker exec {}", self.container)
    }
}

impl DockerRemote {
    fn docker_cp(&self, src: &str, dest: &str) -> Result<(), ControlError> {
        let mut command = Command::new("docker");
        command.args(["cp", src, dest]);
        let out = run_process(&mut command, b"", crate::DEFAULT_TIMEOUT).map_err(|e| {
            ControlError::Io {
                target: self.target(),
                reason: format!("docker cp {src} {dest}: {e}"),
            }
        })?;
        if out.status != 0 {
            return Err(ControlError::Io {
                target: self.target(),
                reason: format!("docker cp {src} {dest}: {}", out.stderr_text()),
            });
        }
        Ok(())
    }
}

/// Why a local process did not complete.
#[derive(Debug)]
pub enum ProcessError {
    /// It outlived its time limit and was killed.
    Timeout,
    /// It could not be started or its pipes failed.
    Io(String),
}

impl std::fmt::Display for ProcessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProcessError::Timeout => f.write_str("timed out"),
            ProcessError::Io(e) => f.write_str(e),
        }
    }
}

/// Runs a local process to completion with `stdin`, killing it after `timeout`.
pub fn run_process(
    command: &mut Command,
    stdin: &[u8],
    timeout: Duration,
) -> Result<ExecOutput, ProcessError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ProcessError::Io(format!("cannot run {program}: {e}")))?;
    let mut child_stdin = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // A command that ignores its stdin closes the pipe early; that is not an error.
        let _ = child_stdin.write_all(&stdin);
    });
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let (out_tx, out_rx) = std::sync::mpsc::channel();
    let (err_tx, err_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        let _ = out_tx.send(buf);
    });
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        let _ = err_tx.send(buf);
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ProcessError::Timeout);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(ProcessError::Io(format!("waiting for {program}: {e}"))),
        }
    };
    let _ = writer.join();
    // A background process the command started may hold the pipes open: stop reading at
    // the deadline rather than wait for it.
    let remaining = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(100);
    let stdout = out_rx.recv_timeout(remaining).unwrap_or_default();
    let remaining = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(100);
    let stderr = err_rx.recv_timeout(remaining).unwrap_or_default();
    Ok(ExecOutput {
        status: exit_code(status),
        stdout,
        stderr,
    })
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}
