//! faultline-nemesis: what faults exist, where they land, and when they happen.
//!
//! Everything here is plain data and pure functions, so it can be tested without a cluster:
//! - [`grudge`]: partition shapes as grudges (node -> nodes it drops traffic from), as in
//!   Jepsen's `jepsen.nemesis`, and the iptables rules that realise them;
//! - [`fault`]: the fault vocabulary ([`FaultKind`] a user asks for, [`Fault`] a concrete
//!   fault with its targets) and the shell commands each fault runs on a node;
//! - [`adaptive`]: `--nemesis auto` and `random`, faults drawn from the whole catalogue, by a
//!   bandit that learns from their effects or uniformly;
//! - [`schedule`]: a seeded schedule of start/stop operations, with overlapping faults when
//!   several kinds are asked for and a final heal of every active fault;
//! - [`node`]: the seam through which faults reach nodes, the [`NodeControl`] trait;
//! - [`apply`]: turning a fault into calls on the nodes;
//! - [`failover`]: the promotion a partition of the primaries triggers where the database
//!   defines one, and the old primaries' return;
//! - [`storage`]: storage faults through faultline-fs (lost un-fsynced writes, disk errors,
//!   corrupted files), inflicted and healed by [`storage_apply`]; [`corrupt`] chooses and
//!   makes a file's damage;
//! - [`membership`]: a node leaves the cluster with its data wiped, and joins again.

pub mod adaptive;
pub mod apply;
pub mod corrupt;
pub mod failover;
pub mod fault;
pub mod grudge;
pub mod membership;
pub mod node;
pub mod schedule;
pub mod storage;
pub mod storage_apply;

pub use adaptive::{Bandit, Effect, Policy};
pub use apply::{
    apply_start, apply_start_timed, apply_stop, apply_stop_timed, probe_netem, Landing,
};
pub use fault::{
    Aim, ClockMode, ClockSource, Fault, FaultClass, FaultKind, NetemEffect, NetemKind, NodeSpec,
    ParseFaultKindError,
};
pub use grudge::{Grudge, PartitionSpec};
pub use node::{
    ApplyError, ClockChange, DbSignal, Failover, MembershipChange, NodeControl, NodeError,
    CANNOT_NAME_PRIMARIES,
};
pub use schedule::{Adaptive, NemesisConfig, NemesisOp, Schedule, ScheduleError};
pub use storage::{CorruptMode, DiskErrno, StorageAction, StorageKind};
