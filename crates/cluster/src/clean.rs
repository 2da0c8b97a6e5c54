//! `faultline clean`: after a crash, find the clusters whose run is gone, heal and remove them.
//!
//! A test run records its owner (pid, start time, boot id) in `<state root>/runs/<project>/`
//! before it starts anything. A cluster is abandoned when that owner no longer runs and the
//! run did not keep it on purpose (`--keep-cluster`). Cleaning one heals every node first
//! (faultline's iptables chain, netem qdiscs, the `slow` and clock-strobe loops, paused
//! processes, clock offsets), then takes the cluster down: `docker-compose down` plus every
//! container and network labelled with the project, or the database's teardown on existing
//! hosts. A cluster whose owner still runs, or that has no record in this state root, is
//! never touched.

use crate::guard::{compose_down, docker_lines, restore_nodes};
use crate::state::{run_records, RunRecord};
use crate::{state_file, ClusterState};
use faultline_control::{DockerRemote, Node, Remote};
use std::path::Path;
use std::sync::Arc;

/// What `faultline clean` did to one abandoned cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cleaned {
    /// The compose project (or host-set name).
    pub project: String,
    /// The pid of the run that made it.
    pub owner_pid: Option<u32>,
    /// The containers removed (names).
    pub containers: Vec<String>,
    /// The networks removed (names).
    pub networks: Vec<String>,
    /// The existing hosts healed and torn down.
    pub hosts: Vec<String>,
    /// What went wrong on the way; the record is kept when this is not empty.
    pub problems: Vec<String>,
}

impl std::fmt::Display for Cleaned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.project)?;
        if let Some(pid) = self.owner_pid {
            write!(f, " (left by pid {pid}, which is gone)")?;
        }
        let mut parts = Vec::new();
        if !self.containers.is_empty() {
            parts.push(format!("containers {}", self.containers.join(", ")));
        }
        if !self.networks.is_empty() {
            parts.push(format!("networks {}", self.networks.join(", ")));
        }
        if !self.hosts.is_empty() {
            parts.push(format!("healed hosts {}", self.hosts.join(", ")));
        }
        if parts.is_empty() {
            parts.push("only its state directory was left".into());
        }
        write!(f, ": {}", parts.join("; "))
    }
}

/// What a scan of the state root and the Docker daemon found.
#[derive(Clone, Debug, Default)]
pub struct Survey {
    /// Clusters whose run is gone: these `clean` removes.
    pub abandoned: Vec<RunRecord>,
    /// Clusters whose run still goes, or that were kept: never touched.
    pub in_use: Vec<RunRecord>,
    /// faultline compose projects on the daemon with no record in this state root (another
    /// state root's, or `faultline cluster up`'s): never touched, only named.
    pub unrecorded: Vec<String>,
}

/// Scans `root` (and, if `docker` is true, the Docker daemon's compose labels).
pub fn survey(root: &Path, docker: bool) -> Result<Survey, String> {
    let mut s = Survey::default();
    let records = run_records(root);
    let recorded: Vec<String> = records.iter().map(RunRecord::project).collect();
    for r in records {
        if r.is_abandoned() {
            s.abandoned.push(r);
        } else {
            s.in_use.push(r);
        }
    }
    if docker {
        let mut projects = docker_lines(&[
            "ps",
            "-a",
            "--filter",
            "label=com.docker.compose.project",
            "--format",
            "{{.Label \"com.docker.compose.project\"}}",
        ])?;
        projects.retain(|p| p.starts_with("faultline-") && !recorded.contains(p));
        projects.sort();
        projects.dedup();
        s.unrecorded = projects;
    }
    Ok(s)
}

/// Heals and removes one abandoned cluster, then its record.
pub fn clean_one(record: &RunRecord) -> Cleaned {
    let project = record.project();
    let mut done = Cleaned {
        project: project.clone(),
        owner_pid: record.owner.as_ref().map(|o| o.pid),
        containers: Vec::new(),
        networks: Vec::new(),
        hosts: Vec::new(),
        problems: Vec::new(),
    };
    let state: Option<ClusterState> = std::fs::read_to_string(state_file(&record.dir))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let hosts = state.as_ref().is_some_and(|s| s.compose_file.is_none());
    if hosts {
        let state = state.expect("checked above");
        let cluster = crate::Cluster::from_state(state);
        done.problems.extend(restore_nodes(&cluster.nodes));
        if let Ok(db) = cluster.db() {
            if let Err(e) = faultline_db::teardown_all(db.as_ref(), &cluster.nodes) {
                done.problems.push(format!("database teardown: {e}"));
            }
        }
        done.hosts = cluster.nodes.iter().map(|n| n.name.clone()).collect();
    } else {
        // A Docker cluster: what its labels say exists, whether or not the run got as far
        // as writing its record (a crash during setup leaves no cluster.json).
        let label = format!("label=com.docker.compose.project={project}");
        let listed = |args: &[&str]| docker_lines(args).unwrap_or_else(|_| Vec::new());
        let running = listed(&["ps", "--filter", &label, "--format", "{{.Names}}"]);
        let nodes: Vec<Node> = running
            .iter()
            .map(|c| Node {
                name: c.clone(),
                address: String::new(),
                remote: Arc::new(DockerRemote::new(c.clone())) as Arc<dyn Remote>,
            })
            .collect();
        // Removing a container takes its rules with it; healing first also ends the loops
        // and resumes processes in case removal fails and the node stays.
        done.problems.extend(restore_nodes(&nodes));
        done.containers = listed(&["ps", "-a", "--filter", &label, "--format", "{{.Names}}"]);
        done.networks = listed(&["network", "ls", "--filter", &label, "--format", "{{.Name}}"]);
        // `up` keeps the compose file in a directory named after the project.
        let compose_file = state
            .as_ref()
            .and_then(|s| s.compose_file.clone())
            .unwrap_or_else(|| record.dir.join(&project).join("docker-compose.yml"));
        done.problems.extend(compose_down(&project, &compose_file));
        match crate::leftovers(&project) {
            Ok(left) if left.is_empty() => {}
            Ok(left) => done
                .problems
                .push(format!("still there: {}", left.join(", "))),
            Err(e) => done.problems.push(e),
        }
    }
    if done.problems.is_empty() {
        if let Err(e) = std::fs::remove_dir_all(&record.dir) {
            done.problems
                .push(format!("removing {}: {e}", record.dir.display()));
        }
    }
    done
}

/// The one-line warning `faultline test` prints when abandoned clusters exist, if any.
pub fn leftover_warning(root: &Path) -> Option<String> {
    let s = survey(root, false).ok()?;
    if s.abandoned.is_empty() {
        return None;
    }
    let names: Vec<String> = s.abandoned.iter().map(RunRecord::project).collect();
    Some(format!(
        "warning: {} cluster{} left by runs that ended without cleaning up ({}): remove {} with `faultline clean`",
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        names.join(", "),
        if names.len() == 1 { "it" } else { "them" },
    ))
}
