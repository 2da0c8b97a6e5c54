use crate::{ControlError, Remote, SshConfig, SshRemote};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// One machine under test: its name in histories, its network address, and how to reach it.
#[derive(Clone)]
pub struct Node {
    /// The node's name, e.g. `n1`; clients and the nemesis report it.
    pub name: String,
    /// The address clients connect to (IP address or host name).
    pub address: String,
    /// How commands reach the node.
    pub remote: Arc<dyn Remote>,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("remote", &self.remote.target())
            .finish()
    }
}

/// Existing machines to test, reached over SSH (Jepsen's `--nodes`, `--ssh-user`, `--ssh-key`).
#[derive(Clone, Debug)]
pub struct HostsConfig {
    /// `host` or `host:port` for each node; the node's name is the host part.
    pub hosts: Vec<String>,
    /// The login user.
    pub user: String,
    /// The private key file.
    pub key_file: PathBuf,
    /// Where the hosts' keys are recorded; unknown hosts are added on first use.
    pub known_hosts: PathBuf,
    /// The time limit for connecting to each host.
    pub connect_timeout: Duration,
}

/// Splits `host` or `host:port` (or `[v6]:port`); the port defaults to 22.
pub fn parse_host(spec: &str) -> Result<(String, u16), String> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err("empty host name".into());
    }
    let bad_port = |p: &str| format!("bad port {p:?} in host {spec:?}");
    if let Some(rest) = spec.strip_prefix('[') {
        let (host, tail) = rest
            .split_once(']')
            .ok_or_else(|| format!("unclosed '[' in host {spec:?}"))?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad_port(p))?,
            None if tail.is_empty() => 22,
            None => return Err(format!("unexpected {tail:?} after ']' in host {spec:?}")),
        };
        return Ok((host.to_string(), port));
    }
    match spec.rsplit_once(':') {
        Some((host, p)) if !host.contains(':') => {
            if host.is_empty() {
                return Err(format!("empty host name in {spec:?}"));
            }
            Ok((host.to_string(), p.parse().map_err(|_| bad_port(p))?))
        }
        _ => Ok((spec.to_string(), 22)),
    }
}

/// Connects to every host over SSH and returns them as nodes, or the first failure.
///
/// Checks the key file before connecting anywhere, then connects to all hosts in parallel,
/// so an unreachable host or a refused login is reported before any test starts.
pub fn nodes_from_hosts(config: &HostsConfig) -> Result<Vec<Node>, ControlError> {
    if config.hosts.is_empty() {
        return Err(ControlError::Connect {
            target: "nodes".into(),
            reason: "no hosts given".into(),
        });
    }
    let ssh = SshConfig {
        user: config.user.clone(),
        key_file: config.key_file.clone(),
        known_hosts: config.known_hosts.clone(),
        accept_new_host_keys: true,
        connect_timeout: config.connect_timeout,
    };
    ssh.check_key_file()?;
    let mut parsed = Vec::new();
    for spec in &config.hosts {
        let (host, port) = parse_host(spec).map_err(|reason| ControlError::Connect {
            target: spec.clone(),
            reason,
        })?;
        parsed.push((host, port));
    }
    let remotes: Vec<Result<SshRemote, ControlError>> = std::thread::scope(|s| {
        let handles: Vec<_> = parsed
            .iter()
            .map(|(host, port)| {
                let ssh = ssh.clone();
                s.spawn(move || {
                    let remote = SshRemote::new(host.clone(), *port, ssh);
                    remote.connect().map(|_| remote)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("connect thread panicked"))
            .collect()
    });
    let mut nodes = Vec::new();
    for ((host, _), remote) in parsed.into_iter().zip(remotes) {
        nodes.push(Node {
            name: host.clone(),
            address: host,
            remote: Arc::new(remote?),
        });
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_specs() {
        assert_eq!(parse_host("n1"), Ok(("n1".into(), 22)));
        assert_eq!(parse_host("10.0.0.1:2222"), Ok(("10.0.0.1".into(), 2222)));
        assert_eq!(parse_host("[::1]:23"), Ok(("::1".into(), 23)));
        assert_eq!(parse_host("::1"), Ok(("::1".into(), 22)));
        assert!(parse_host("n1:ssh").unwrap_err().contains("bad port"));
        assert!(parse_host("").is_err());
        assert!(parse_host(":22").is_err());
    }
}
