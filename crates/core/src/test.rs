//! A test with its cluster up: [`Test::start`] brings the nodes up (cleaned up on every exit
//! path by the cluster crate's guard), `Test::run` (in [`crate::run`]) carries out one run on
//! them, [`Test::recover`] waits for the cluster between runs, and
//! [`Test::finish`] heals and takes it down.

use crate::nodes::{up_options, NodeFlags};
use crate::plan::{no_netem_note, Plan};
use crate::Failure;
use faultline_cluster::{self as cluster, CleanupGuard, ClusterControl, NodeSource, UpOptions};
use faultline_control::Node;
use faultline_db::ProcessState;
use std::path::PathBuf;

/// A planned test whose cluster is up.
pub struct Test {
    /// What was decided before anything started.
    pub plan: Plan,
    /// The nodes the runs use.
    pub nodes: Vec<Node>,
    /// The cluster's compose project (its record is under the private state root).
    pub project: String,
    state_dir: PathBuf,
    guard: CleanupGuard,
    pub(crate) runtime: tokio::runtime::Runtime,
    /// What an adaptive nemesis has learned so far, carried from run to run of a series.
    pub(crate) learned: std::sync::Mutex<Option<LearnedFaults>>,
}

/// An adaptive nemesis's learner, shared by the runs of a series.
pub(crate) type LearnedFaults = std::sync::Arc<std::sync::Mutex<faultline_nemesis::Bandit>>;

impl Test {
    /// Brings the plan's cluster up (Docker nodes or existing hosts) and probes what its
    /// kernel offers (netem).
    pub fn start(mut plan: Plan) -> Result<Test, Failure> {
        let state_root = cluster::state::state_root();
        let mut up = cluster_options(&plan, &state_root)?;
        if let Some(note) = cluster::validate(&up)? {
            plan.notify.warn(note);
        }
        up.progress = plan.show_progress;
        faultline_runner::begin_log();
        if let Some(warning) = cluster::clean::leftover_warning(&state_root) {
            plan.notify.warn(warning);
        }
        // Each run's cluster records its state and owner privately, so a `cluster up` of the
        // user's stays untouched and `faultline clean` can tell a crashed run's cluster.
        let project = cluster::new_project_name();
        up.state_dir = cluster::state::runs_dir(&state_root).join(&project);
        up.project = Some(project.clone());
        let guard = CleanupGuard::new(plan.options.keep_cluster);
        if plan.options.client.is_some() {
            cluster::on_interrupt(Box::new(faultline_client_protocol::kill_all_instances));
        }
        guard.track_path(up.state_dir.clone());
        cluster::state::private_dir(&up.state_dir)
            .and_then(|()| cluster::state::Owner::this_process(&project)?.write(&up.state_dir))
            .map_err(|e| Failure::BadInput(format!("{}: {e}", up.state_dir.display())))?;
        let cluster = cluster::up(&up, &guard)?;
        let runtime = tokio::runtime::Runtime::new()
            .map_err(|e| Failure::Crash(format!("cannot start the async runtime: {e}")))?;
        probe_netem(&mut plan, &cluster.nodes);
        Ok(Test {
            plan,
            nodes: cluster.nodes,
            project: cluster.state.project,
            state_dir: up.state_dir,
            guard,
            runtime,
            learned: Default::default(),
        })
    }

    /// Between runs: undoes every fault, starts a database process a fault left down, and
    /// waits for the definition's readiness check to pass on every node again.
    pub fn recover(&self) -> Result<(), String> {
        let db = self.plan.db.as_ref();
        heal(&self.nodes).map_err(|p| format!("healing the cluster between runs: {p}"))?;
        for node in &self.nodes {
            if matches!(db.state(node), Ok(ProcessState::Down)) {
                db.start(node)
                    .map_err(|e| format!("restarting {}: {e}", node.name))?;
            }
        }
        // As long as the definition gives a node to become ready: a run stopped mid-fault
        // (or healed a moment ago) may still be electing a leader, which can take longer
        // than one operation's timeout.
        let timeout = db.ready_timeout().max(self.plan.op_timeout);
        db.await_ready(&self.nodes, timeout)
            .map_err(|e| format!("the cluster was not ready again after the previous run: {e}"))
    }

    /// Heals the nodes and takes the cluster down (or leaves it up with `--keep-cluster`,
    /// recorded so that `faultline clean` leaves it alone). Returns the problems met.
    pub fn finish(self) -> Vec<String> {
        let Test {
            plan,
            project,
            state_dir,
            guard,
            runtime,
            ..
        } = self;
        drop(runtime);
        let mut problems = guard.cleanup();
        if plan.options.keep_cluster {
            if let Ok(mut owner) = cluster::state::Owner::read(&state_dir) {
                owner.kept = true;
                let _ = owner.write(&state_dir);
            }
            problems.push(format!(
                "cluster {project} left up (--keep-cluster); take it down with: faultline cluster --state-dir {} down",
                state_dir.display()
            ));
        }
        problems
    }
}

/// Undoes faultline's faults on every node at once (the cluster crate's guard does the
/// same at the end); the first problem, if any.
fn heal(nodes: &[Node]) -> Result<(), String> {
    std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|n| s.spawn(move || faultline_control::faults::restore_node(n.remote.as_ref())))
            .collect();
        for (h, n) in handles.into_iter().zip(nodes) {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("{}: {e}", n.name)),
                Err(_) => return Err(format!("{}: the healing thread panicked", n.name)),
            }
        }
        Ok(())
    })
}

/// The cluster the plan's options describe (keys and records under the private state root).
fn cluster_options(plan: &Plan, state_root: &std::path::Path) -> Result<UpOptions, Failure> {
    let o = &plan.options;
    let flags = NodeFlags {
        db: o.db.clone(),
        nodes: o.nodes.clone(),
        ssh_user: o.ssh_user.clone(),
        ssh_key: o.ssh_key.clone(),
        name: None,
    };
    let mut up = up_options(flags, PathBuf::new())?;
    up.progress = true;
    // Only a run with a storage fault mounts faultline-fs (and gives nodes FUSE and SYS_ADMIN).
    up.storage = plan.nemesis.kinds.iter().any(|k| k.needs_faultfs());
    if let NodeSource::Hosts(h) = &mut up.source {
        h.known_hosts = state_root.join("known_hosts");
    }
    Ok(up)
}

/// Packet faults use netem where the nodes' kernel has it, else faultline's handler (noted).
fn probe_netem(plan: &mut Plan, nodes: &[Node]) {
    if !plan.wants_netem() {
        return;
    }
    let control = ClusterControl {
        nodes: nodes.to_vec(),
        db: plan.db.clone(),
        clock: plan.clock,
        netem: true,
    };
    if let Some(node) = nodes.first() {
        if let Err(e) = faultline_nemesis::probe_netem(&control, &node.name) {
            plan.netem = false;
            plan.notes
                .push(no_netem_note(&plan.netem_names(), &e.to_string()));
        }
    }
}
