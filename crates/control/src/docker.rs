use crate::{ControlError, ExecOutput, Remote};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
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
    // Its own process group: a terminal's Ctrl-C reaches faultline alone, which then
    // finishes what it is doing (a cleanup's `docker-compose down`, say) instead of
    // having the tool cut short under it.
    let mut child = command
        .process_group(0)
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
    let mut running = RunningProcess::start(child, timeout);
    let status = running.wait(&program)?;
    let _ = writer.join();
    // A background process the command started may hold the pipes open: stop reading at
    // the deadline rather than wait for it.
    Ok(running.output(status, |deadline| {
        deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(100)
    }))
}

/// A spawned local process with piped stdout and stderr, read on two threads so a chatty
/// process cannot block on a full pipe, and a deadline after which it is killed.
pub struct RunningProcess {
    child: Child,
    deadline: Instant,
    stdout: Receiver<Vec<u8>>,
    stderr: Receiver<Vec<u8>>,
}

impl RunningProcess {
    /// Starts reading `child`'s stdout and stderr (both must be piped); it has `timeout`
    /// from now to exit.
    pub fn start(mut child: Child, timeout: Duration) -> Self {
        let read_all = |mut pipe: Box<dyn Read + Send>| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                let _ = tx.send(buf);
            });
            rx
        };
        let stdout = read_all(Box::new(child.stdout.take().expect("stdout is piped")));
        let stderr = read_all(Box::new(child.stderr.take().expect("stderr is piped")));
        RunningProcess {
            child,
            deadline: Instant::now() + timeout,
            stdout,
            stderr,
        }
    }

    /// Waits for the process (named `program` in errors) to exit; kills and reaps it at the
    /// deadline.
    pub fn wait(&mut self, program: &str) -> Result<ExitStatus, ProcessError> {
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() >= self.deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(ProcessError::Timeout);
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(ProcessError::Io(format!("waiting for {program}: {e}"))),
            }
        }
    }

    /// The exited process's output, given its `status`. Each stream is waited for at most
    /// `drain(deadline)` more, since a background process it started may hold a pipe open;
    /// a stream not finished by then is left empty.
    pub fn output(self, status: ExitStatus, drain: impl Fn(Instant) -> Duration) -> ExecOutput {
        let stdout = self
            .stdout
            .recv_timeout(drain(self.deadline))
            .unwrap_or_default();
        let stderr = self
            .stderr
            .recv_timeout(drain(self.deadline))
            .unwrap_or_default();
        ExecOutput {
            status: exit_code(status),
            stdout,
            stderr,
        }
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn stdin_goes_in_and_stdout_stderr_and_status_come_back() {
        let out = run_process(
            &mut sh("cat; echo oops >&2; exit 3"),
            b"hello",
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(
            (out.status, out.stdout, out.stderr),
            (3, b"hello".to_vec(), b"oops\n".to_vec())
        );
    }

    #[test]
    fn a_process_killed_by_a_signal_exits_128_plus_the_signal() {
        let out = run_process(&mut sh("kill -9 $$"), b"", Duration::from_secs(10)).unwrap();
        assert_eq!(out.status, 137);
    }

    #[test]
    fn a_process_past_its_timeout_is_killed_and_reported() {
        let r = run_process(&mut sh("sleep 30"), b"", Duration::from_millis(200));
        assert!(matches!(r, Err(ProcessError::Timeout)), "{r:?}");
    }

    #[test]
    fn a_missing_program_is_an_io_error_naming_it() {
        let r = run_process(
            &mut Command::new("/nonexistent/faultline-no-such-program"),
            b"",
            Duration::from_secs(1),
        );
        assert!(
            matches!(&r, Err(ProcessError::Io(m)) if m.contains("faultline-no-such-program")),
            "{r:?}"
        );
    }
}
