//! Where a test's nodes come from: `--nodes` as a Docker node count or a list of existing
//! hosts, turned into the cluster crate's `UpOptions`.

use faultline_cluster::{ClusterError, NodeSource, UpOptions, MAX_NODES};
use faultline_control::HostsConfig;
use std::path::PathBuf;
use std::time::Duration;

/// What `--db`, `--nodes`, `--ssh-user`, `--ssh-key` and a project name say about a cluster.
pub struct NodeFlags {
    /// `--db`.
    pub db: String,
    /// `--nodes`: a count (digits only) or host1,host2[:port],...
    pub nodes: String,
    /// `--ssh-user`.
    pub ssh_user: String,
    /// `--ssh-key`.
    pub ssh_key: Option<PathBuf>,
    /// The compose project name, if given.
    pub name: Option<String>,
}

/// The cluster `flags` describe, recorded under `state_dir`, or one line saying what is wrong.
pub fn up_options(flags: NodeFlags, state_dir: PathBuf) -> Result<UpOptions, ClusterError> {
    let nodes = flags.nodes.trim();
    let source = if !nodes.is_empty() && nodes.bytes().all(|b| b.is_ascii_digit()) {
        if flags.ssh_key.is_some() {
            return Err(ClusterError::BadArgs(
                "--ssh-key is for existing hosts: give --nodes host1,host2,...".into(),
            ));
        }
        match nodes.parse::<usize>() {
            Ok(n) => NodeSource::Docker(n),
            Err(_) => {
                return Err(ClusterError::BadArgs(format!(
                    "--nodes {}: a Docker cluster has 1 to {MAX_NODES} nodes",
                    crate::options::shorten(nodes)
                )))
            }
        }
    } else if nodes.starts_with('-') || nodes.is_empty() {
        return Err(ClusterError::BadArgs(format!(
            "--nodes {}: expected a node count or host1,host2,...",
            crate::options::shorten(nodes)
        )));
    } else {
        let key_file = flags.ssh_key.ok_or_else(|| {
            ClusterError::BadArgs("--nodes lists hosts: give --ssh-key FILE too".into())
        })?;
        NodeSource::Hosts(HostsConfig {
            hosts: nodes
                .split(',')
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .collect(),
            user: flags.ssh_user,
            key_file,
            known_hosts: state_dir.join("known_hosts"),
            connect_timeout: Duration::from_secs(5),
        })
    };
    Ok(UpOptions {
        db: flags.db,
        source,
        state_dir,
        project: flags.name,
        progress: true,
        storage: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(nodes: &str, key: Option<&str>) -> NodeFlags {
        NodeFlags {
            db: "etcd".into(),
            nodes: nodes.into(),
            ssh_user: "root".into(),
            ssh_key: key.map(PathBuf::from),
            name: None,
        }
    }

    /// Issue 18: a node count too large for a number was taken for a host list ("give
    /// --ssh-key").
    #[test]
    fn a_huge_node_count_is_a_count_not_a_host() {
        let err = up_options(flags("99999999999999999999999", None), PathBuf::new())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("--nodes 99999999999999999999999: a Docker cluster has 1 to"),
            "{err}"
        );
        assert!(matches!(
            up_options(flags("3", None), PathBuf::new()).unwrap().source,
            NodeSource::Docker(3)
        ));
        let err = up_options(flags("h1,h2", None), PathBuf::new())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("give --ssh-key"), "{err}");
    }
}
