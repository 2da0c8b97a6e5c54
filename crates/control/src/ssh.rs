use crate::{ControlError, ExecOutput, Remote};
use ssh2::{CheckResult, KnownHostFileKind, KnownHostKeyFormat, Session};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Serializes additions to known_hosts files within this process.
static KNOWN_HOSTS_WRITER: Mutex<()> = Mutex::new(());

/// How to log in to a node over SSH.
#[derive(Clone, Debug)]
pub struct SshConfig {
    /// The login user, e.g. `root`.
    pub user: String,
    /// The private key file (OpenSSH or PEM format, no passphrase).
    pub key_file: PathBuf,
    /// The known_hosts file that holds (or will hold) the nodes' host keys.
    pub known_hosts: PathBuf,
    /// Record the key of a host not yet in `known_hosts` instead of refusing it
    /// (trust on first use). A changed key is always refused.
    pub accept_new_host_keys: bool,
    /// The time limit for the TCP connection and SSH handshake.
    pub connect_timeout: Duration,
}

impl SshConfig {
    /// Checks that the key file exists and is readable.
    pub fn check_key_file(&self) -> Result<(), ControlError> {
        std::fs::File::open(&self.key_file)
            .map(|_| ())
            .map_err(|e| ControlError::File {
                what: "SSH key file",
                path: self.key_file.clone(),
                reason: if e.kind() == ErrorKind::NotFound {
                    "not found".to_string()
                } else {
                    e.to_string()
                },
            })
    }
}

/// Runs commands on a node over SSH (libssh2), with host-key checking.
///
/// Sessions are opened on first use and kept for the next command; a command finds an idle
/// one or opens another, so commands on one node run side by side: a heal never waits
/// behind a slow ask of the same node (the leader watch's, on a paused database, takes its
/// full timeout). A session that failed is dropped.
pub struct SshRemote {
    host: String,
    port: u16,
    config: SshConfig,
    idle: Mutex<Vec<Session>>,
}

/// Idle sessions kept per node; more may be open at once, the rest close when done.
const IDLE_SESSIONS: usize = 3;

impl std::fmt::Debug for SshRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshRemote")
            .field("login", &self.login())
            .field("config", &self.config)
            .finish()
    }
}

impl SshRemote {
    /// A remote for `host` (a name or address) and `port`; connects lazily.
    pub fn new(host: impl Into<String>, port: u16, config: SshConfig) -> Self {
        SshRemote {
            host: host.into(),
            port,
            config,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Session>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connects now (checking reachability, host key and login) instead of on first use.
    pub fn connect(&self) -> Result<(), ControlError> {
        if self.idle().is_empty() {
            let session = self.open_session()?;
            self.idle().push(session);
        }
        Ok(())
    }

    fn login(&self) -> String {
        format!("{}@{}:{}", self.config.user, self.host, self.port)
    }

    fn open_session(&self) -> Result<Session, ControlError> {
        self.config.check_key_file()?;
        let target = format!("{}:{}", self.host, self.port);
        let connect_err = |reason: String| ControlError::Connect {
            target: format!("{target} over SSH"),
            reason,
        };
        let addrs: Vec<_> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| connect_err(format!("cannot resolve host: {e}")))?
            .collect();
        let mut last = String::from("no address");
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.config.connect_timeout) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = e.to_string(),
            }
        }
        let tcp = tcp.ok_or_else(|| connect_err(last))?;
        let mut session = Session::new().map_err(|e| connect_err(e.to_string()))?;
        session.set_tcp_stream(tcp);
        session.set_timeout(duration_ms(self.config.connect_timeout));
        session
            .handshake()
            .map_err(|e| connect_err(format!("SSH handshake failed: {e}")))?;
        self.check_host_key(&session)?;
        session
            .userauth_pubkey_file(&self.config.user, None, &self.config.key_file, None)
            .map_err(|e| ControlError::Auth {
                target: self.login(),
                reason: e.message().to_string(),
            })?;
        if !session.authenticated() {
            return Err(ControlError::Auth {
                target: self.login(),
                reason: "not authenticated".into(),
            });
        }
        Ok(session)
    }

    fn check_host_key(&self, session: &Session) -> Result<(), ControlError> {
        let path = &self.config.known_hosts;
        let host_err = |reason: String| ControlError::HostKey {
            target: format!("{}:{}", self.host, self.port),
            reason,
            known_hosts: path.clone(),
        };
        let (key, key_type) = session
            .host_key()
            .ok_or_else(|| host_err("was not sent".into()))?;
        // The recorded keys, as the file holds them now (none if there is no file yet).
        let read_known = || -> Result<ssh2::KnownHosts, ControlError> {
            let mut known = session
                .known_hosts()
                .map_err(|e| host_err(format!("cannot be checked: {e}")))?;
            if path.exists() {
                known
                    .read_file(path, KnownHostFileKind::OpenSSH)
                    .map_err(|e| ControlError::File {
                        what: "known_hosts file",
                        path: path.clone(),
                        reason: e.message().to_string(),
                    })?;
            }
            Ok(known)
        };
        match read_known()?.check_port(&self.host, self.port, key) {
            CheckResult::Match => Ok(()),
            CheckResult::Mismatch => Err(host_err(
                "does not match the recorded key: refusing to connect".into(),
            )),
            CheckResult::NotFound if self.config.accept_new_host_keys => {
                // Connections to several hosts record keys at once: one writer at a time,
                // each re-reading the file so no other host's new key is lost.
                let _writer = KNOWN_HOSTS_WRITER.lock().unwrap_or_else(|p| p.into_inner());
                let mut known = read_known()?;
                let name = if self.port == 22 {
                    self.host.clone()
                } else {
                    format!("[{}]:{}", self.host, self.port)
                };
                let format = match key_type {
                    ssh2::HostKeyType::Rsa => KnownHostKeyFormat::SshRsa,
                    ssh2::HostKeyType::Dss => KnownHostKeyFormat::SshDss,
                    ssh2::HostKeyType::Ecdsa256 => KnownHostKeyFormat::Ecdsa256,
                    ssh2::HostKeyType::Ecdsa384 => KnownHostKeyFormat::Ecdsa384,
                    ssh2::HostKeyType::Ecdsa521 => KnownHostKeyFormat::Ecdsa521,
                    ssh2::HostKeyType::Ed25519 => KnownHostKeyFormat::Ed25519,
                    ssh2::HostKeyType::Unknown => KnownHostKeyFormat::Unknown,
                };
                known
                    .add(&name, key, "added by faultline", format)
                    .map_err(|e| host_err(format!("cannot be recorded: {e}")))?;
                known
                    .write_file(path, KnownHostFileKind::OpenSSH)
                    .map_err(|e| ControlError::File {
                        what: "known_hosts file",
                        path: path.clone(),
                        reason: e.message().to_string(),
                    })
            }
            CheckResult::NotFound => Err(host_err("is not recorded".into())),
            CheckResult::Failure => Err(host_err("check failed".into())),
        }
    }

    /// Runs `f` with a connected session; drops the session if `f` fails, so the next call
    /// reconnects.
    fn with_session<T>(
        &self,
        f: impl FnOnce(&Session) -> Result<T, ControlError>,
    ) -> Result<T, ControlError> {
        let taken = self.idle().pop();
        let session = match taken {
            Some(s) => s,
            None => self.open_session()?,
        };
        let result = f(&session);
        let broken = matches!(
            result,
            Err(ControlError::Io { .. }) | Err(ControlError::Timeout { .. })
        );
        let mut idle = self.idle();
        if !broken && idle.len() < IDLE_SESSIONS {
            idle.push(session);
        }
        result
    }

    fn io_err(&self, what: &str, e: impl std::fmt::Display) -> ControlError {
        ControlError::Io {
            target: format!("ssh {}", self.login()),
            reason: format!("{what}: {e}"),
        }
    }
}

fn duration_ms(d: Duration) -> u32 {
    d.as_millis().clamp(1, u32::MAX as u128) as u32
}

fn signal_number(name: Option<&str>) -> i32 {
    match name.unwrap_or("") {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ABRT" => 6,
        "KILL" => 9,
        "SEGV" => 11,
        "PIPE" => 13,
        "TERM" => 15,
        _ => 0,
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock)
        || e.to_string().contains("Timed out")
}

impl Remote for SshRemote {
    fn exec(&self, cmd: &str, stdin: &[u8], timeout: Duration) -> Result<ExecOutput, ControlError> {
        let deadline = Instant::now() + timeout;
        let timed_out = || ControlError::Timeout {
            target: format!("ssh {}", self.login()),
            cmd: cmd.to_string(),
            after: timeout,
        };
        self.with_session(|session| {
            let remaining = || deadline.saturating_duration_since(Instant::now());
            session.set_timeout(duration_ms(remaining()));
            let mut channel = session
                .channel_session()
                .map_err(|e| self.io_err("cannot open channel", e))?;
            channel
                .exec(cmd)
                .map_err(|e| self.io_err("cannot start command", e))?;
            if !stdin.is_empty() {
                channel.write_all(stdin).map_err(|e| {
                    if is_timeout(&e) {
                        timed_out()
                    } else {
                        self.io_err("writing stdin", e)
                    }
                })?;
            }
            channel
                .send_eof()
                .map_err(|e| self.io_err("closing stdin", e))?;
            // Stdout first, then stderr: libssh2 buffers stderr meanwhile (up to its 2 MiB
            // window, far more than the commands faultline runs write there).
            let mut stdout = Vec::new();
            let mut stderr = Vec::new();
            let mut buf = [0u8; 32 * 1024];
            loop {
                if remaining().is_zero() {
                    return Err(timed_out());
                }
                session.set_timeout(duration_ms(remaining()));
                match channel.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => stdout.extend_from_slice(&buf[..n]),
                    Err(e) if is_timeout(&e) => return Err(timed_out()),
                    Err(e) => return Err(self.io_err("reading stdout", e)),
                }
            }
            session.set_timeout(duration_ms(remaining()));
            channel.stderr().read_to_end(&mut stderr).map_err(|e| {
                if is_timeout(&e) {
                    timed_out()
                } else {
                    self.io_err("reading stderr", e)
                }
            })?;
            channel.wait_close().map_err(|e| {
                if e.code() == ssh2::ErrorCode::Session(-9) {
                    timed_out()
                } else {
                    self.io_err("closing channel", e)
                }
            })?;
            let status = channel
                .exit_status()
                .map_err(|e| self.io_err("reading exit status", e))?;
            // A command killed by a signal reports no status; say so as a shell would.
            let status = match channel.exit_signal() {
                Ok(sig) if sig.exit_signal.is_some() => {
                    128 + signal_number(sig.exit_signal.as_deref())
                }
                _ => status,
            };
            Ok(ExecOutput {
                status,
                stdout,
                stderr,
            })
        })
    }

    fn upload(&self, local: &Path, remote_path: &str) -> Result<(), ControlError> {
        let data = std::fs::read(local).map_err(|e| ControlError::File {
            what: "file to upload",
            path: local.to_path_buf(),
            reason: e.to_string(),
        })?;
        self.with_session(|session| {
            session.set_timeout(duration_ms(crate::DEFAULT_TIMEOUT));
            let sftp = session.sftp().map_err(|e| self.io_err("sftp", e))?;
            let mut file = sftp
                .create(Path::new(remote_path))
                .map_err(|e| self.io_err(&format!("creating {remote_path}"), e))?;
            file.write_all(&data)
                .map_err(|e| self.io_err(&format!("writing {remote_path}"), e))
        })
    }

    fn download(&self, remote_path: &str, local: &Path) -> Result<(), ControlError> {
        let data = self.with_session(|session| {
            session.set_timeout(duration_ms(crate::DEFAULT_TIMEOUT));
            let sftp = session.sftp().map_err(|e| self.io_err("sftp", e))?;
            let mut file = sftp
                .open(Path::new(remote_path))
                .map_err(|e| self.io_err(&format!("opening {remote_path}"), e))?;
            let mut data = Vec::new();
            file.read_to_end(&mut data)
                .map_err(|e| self.io_err(&format!("reading {remote_path}"), e))?;
            Ok(data)
        })?;
        std::fs::write(local, data).map_err(|e| ControlError::File {
            what: "download target",
            path: local.to_path_buf(),
            reason: e.to_string(),
        })
    }

    fn target(&self) -> String {
        format!("ssh {}", self.login())
    }
}
