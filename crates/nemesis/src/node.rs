//! The seam between faults and nodes: [`NodeControl`] is the handful of operations a fault
//! needs on a node, with the errors a node and a fault report.
//!
//! The real implementation (SSH or `docker exec`) lives with the control crate; tests use a
//! fake that records commands. Calls are blocking; async callers run them on a blocking pool.

use crate::fault::{write_clock_offset_command, Fault};
use std::collections::BTreeMap;

/// The message of [`NodeControl::primaries`] where the database cannot ever name them.
pub const CANNOT_NAME_PRIMARIES: &str = "this database cannot name its primaries";

/// An operation on one node failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{node}: {message}")]
pub struct NodeError {
    /// The node.
    pub node: String,
    /// What went wrong, in one line.
    pub message: String,
}

impl NodeError {
    /// A new error on `node`.
    pub fn new(node: impl Into<String>, message: impl Into<String>) -> Self {
        NodeError {
            node: node.into(),
            message: message.into(),
        }
    }
}

/// A signal for the database process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbSignal {
    /// SIGKILL.
    Kill,
    /// SIGSTOP.
    Pause,
    /// SIGCONT.
    Resume,
}

impl DbSignal {
    /// The `kill` option for this signal.
    pub fn kill_flag(self) -> &'static str {
        match self {
            DbSignal::Kill => "-KILL",
            DbSignal::Pause => "-STOP",
            DbSignal::Resume => "-CONT",
        }
    }
}

/// A change of a cluster's membership: a node leaves or joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipChange {
    /// The node is removed from the cluster.
    Leave,
    /// The node is added back.
    Join,
}

impl MembershipChange {
    /// `leave` or `join`: the definition's command.
    pub fn name(self) -> &'static str {
        match self {
            MembershipChange::Leave => "leave",
            MembershipChange::Join => "join",
        }
    }
}

/// One change to the clocks a node's processes see.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClockChange {
    /// Wall clocks this far from true time, ms (0: true time again).
    WallOffset(i64),
    /// Wall clocks run at this rate from now on (1.0: true speed).
    WallRate(f64),
    /// Monotonic clocks jump forward by this much, ms (never back).
    MonotonicBump(i64),
    /// Monotonic clocks run at this rate from now on (1.0: true speed).
    MonotonicRate(f64),
}

/// What a fault needs from the nodes of a cluster.
pub trait NodeControl: Send + Sync {
    /// Every node of the cluster, in a fixed order.
    fn nodes(&self) -> Vec<String>;
    /// Runs `command` with `sh -c` as root on `node`; its stdout, or an error if it exits non-zero.
    fn exec(&self, node: &str, command: &str) -> Result<String, NodeError>;
    /// The address other nodes' packets from `node` carry (for iptables `-s`).
    fn addr(&self, node: &str) -> Result<String, NodeError>;
    /// The pid of the database process on `node`.
    fn db_pid(&self, node: &str) -> Result<u32, NodeError>;
    /// Starts the database on `node` again after it was killed.
    fn start_db(&self, node: &str) -> Result<(), NodeError>;
    /// The file whose content offsets the database's clock on `node` (signed nanoseconds, read by the clock shim).
    fn clock_offset_file(&self, node: &str) -> String;
    /// The nodes that are primaries (leaders) now; an error when that cannot be told this
    /// time. Unsupported by default: [`CANNOT_NAME_PRIMARIES`].
    fn primaries(&self) -> Result<Vec<String>, NodeError> {
        Err(NodeError::new("cluster", CANNOT_NAME_PRIMARIES))
    }
    /// Waits until the database says every node is ready again (its readiness check), at
    /// most its own readiness timeout: the runner waits so after the final heal, as Jepsen
    /// waits for recovery, so final reads see the settled cluster. Ready at once by default.
    fn await_ready(&self) -> Result<(), NodeError> {
        Ok(())
    }
    /// The database's failover, if its definition has one: what a partition of the
    /// primaries triggers ([`crate::failover`]). None by default.
    fn failover(&self) -> Option<Failover> {
        None
    }
    /// Sends `signal` to the database process on `node`.
    fn signal_db(&self, node: &str, signal: DbSignal) -> Result<(), NodeError> {
        let pid = self.db_pid(node)?;
        self.exec(node, &format!("kill {} {pid}", signal.kill_flag()))
            .map(drop)
    }
    /// The command that sets the clock offset seen on `node` to `offset_ms` (0: true time).
    /// By default it writes the clock shim's offset file; a control for real hosts may set
    /// the host's clock instead. Clock strobes run it in a loop on the node.
    fn clock_offset_command(&self, node: &str, offset_ms: i64) -> String {
        write_clock_offset_command(&self.clock_offset_file(node), offset_ms)
    }
    /// The command that makes `change` on `node`. By default only wall offsets
    /// ([`NodeControl::clock_offset_command`]); monotonic clocks and rates need a control
    /// that reaches the process's clock reads (faultline-clock through the vDSO).
    fn clock_command(&self, node: &str, change: ClockChange) -> Result<String, NodeError> {
        wall_offset_command(self, node, change)
    }
    /// Makes clock changes reach the processes on `node` before a clock fault (e.g. injects
    /// faultline-clock into them); nothing by default.
    fn prepare_clock(&self, _node: &str) -> Result<(), NodeError> {
        Ok(())
    }
    /// Whether packet faults go through a netem qdisc (the kernel has netem); otherwise
    /// through faultline's NFQUEUE handler. Corrupt always uses the handler.
    fn packet_faults_use_netem(&self) -> bool {
        true
    }
    /// The directories where the database keeps its data (a definition's `setup.data_dirs`).
    fn data_dirs(&self) -> Vec<String> {
        Vec::new()
    }
    /// Globs (relative to a data directory) of the files `corrupt-file` may damage; empty: any.
    fn corrupt_patterns(&self) -> Vec<String> {
        Vec::new()
    }
    /// Runs the definition's `leave` or `join` command on `node`, telling it the members the
    /// cluster has after the change; what it printed. Unsupported by default.
    fn change_membership(
        &self,
        node: &str,
        change: MembershipChange,
        _members: &[String],
    ) -> Result<String, NodeError> {
        Err(NodeError::new(
            node,
            format!("this database has no [commands] {}", change.name()),
        ))
    }
    /// Wipes the database's data directories on `node` (its database stopped). Unsupported by
    /// default.
    fn wipe_data(&self, node: &str) -> Result<(), NodeError> {
        Err(NodeError::new(node, "cannot wipe this database's data"))
    }
    /// Sets the clock offset seen on `node` to `offset_ms`; 0 is the final reset of a clock fault.
    fn write_clock_offset(&self, node: &str, offset_ms: i64) -> Result<(), NodeError> {
        self.exec(node, &self.clock_offset_command(node, offset_ms))
            .map(drop)
    }
    /// Each node's clock offset from true time in ns, as the database itself reports its
    /// time (e.g. Redis `TIME`); `None` where the database cannot say.
    fn clock_offsets(&self) -> Option<BTreeMap<String, i64>> {
        None
    }
    /// Each node's monotonic clock offset in ns, as a process under the clock mechanism sees
    /// it; `None` where nothing can say.
    fn monotonic_clock_offsets(&self) -> Option<BTreeMap<String, i64>> {
        None
    }
}

/// A fault that could not be (fully) applied or healed: it may have partly happened.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ApplyError {
    /// One error per node that failed.
    pub errors: Vec<NodeError>,
    /// A start's fault with its targets resolved (primaries filled in), when the failure
    /// came after resolving them: what a heal must undo. `None` otherwise.
    pub resolved: Option<Box<Fault>>,
}

impl ApplyError {
    /// `Ok` when no node failed, else an error holding every node's failure.
    pub fn unless_any(errors: Vec<NodeError>) -> Result<(), ApplyError> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApplyError {
                errors,
                resolved: None,
            })
        }
    }
}

impl From<NodeError> for ApplyError {
    fn from(e: NodeError) -> Self {
        ApplyError {
            errors: vec![e],
            resolved: None,
        }
    }
}

/// [`NodeControl::clock_command`] of a control that reaches only wall offsets, through
/// [`NodeControl::clock_offset_command`]: monotonic clocks and rates are refused.
pub fn wall_offset_command<C: NodeControl + ?Sized>(
    ctl: &C,
    node: &str,
    change: ClockChange,
) -> Result<String, NodeError> {
    match change {
        ClockChange::WallOffset(ms) => Ok(ctl.clock_offset_command(node, ms)),
        other => Err(NodeError::new(
            node,
            format!("{other:?}: monotonic clocks and clock rates need faultline-clock (the vDSO mechanism of Docker nodes)"),
        )),
    }
}

/// A definition's failover commands, ready to run on a node (what [`NodeControl::failover`]
/// gives; [`crate::failover`] runs them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failover {
    /// Makes the node it runs on the primary.
    pub promote: String,
    /// Prints a number: how far the node's copy of the data goes.
    pub position: Option<String>,
    /// Stops an old primary and makes its next start join the new primary.
    pub rejoin: Option<String>,
}
