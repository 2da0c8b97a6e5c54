//! The fault vocabulary: what a user asks for ([`FaultKind`]), a concrete fault with its
//! targets ([`Fault`]), and the shell commands that inflict and heal it on a node.

use crate::grudge::{Grudge, PartitionSpec};
use crate::storage::{StorageAction, StorageKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// A kind of fault a user can ask for on the command line (`--nemesis partition,kill`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// A network partition; `None` picks a random shape (other than primaries) each time.
    Partition(Option<PartitionSpec>),
    /// Random packet loss between nodes via iptables `statistic`; `None` targets: random each time.
    Loss(Option<Targets>),
    /// SIGSTOP the database process until healed.
    Pause(Option<Targets>),
    /// Strobe SIGSTOP/SIGCONT on the database process: it runs slowly and stutters.
    Slow(Option<Targets>),
    /// SIGKILL the database process; healing restarts it.
    Kill(Option<Targets>),
    /// Skew the database's clock. Healing resets it.
    Clock(ClockKind),
    /// Delayed, duplicated, reordered, corrupted or rate-limited packets from the targets to
    /// their peers: a netem qdisc where the kernel has netem, else (and always for corrupt)
    /// faultline's NFQUEUE handler (`image/netq.c`).
    Netem(NetemKind, Option<Targets>),
    /// A storage fault through faultline-fs (`lose-unfsynced`, `power-cut`, `disk-error`):
    /// only these make a run mount it (see [`crate::storage`]).
    Storage(StorageKind, Option<Targets>),
    /// A node leaves the cluster, its data is wiped, and it joins again when healed, through
    /// the definition's `[commands] leave` and `join`; targets one node (random, or the
    /// primary with `-primaries`).
    Membership(Option<Targets>),
}

/// Which packet effect a `delay`, `duplicate`, `reorder`, `corrupt` or `bandwidth` fault asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetemKind {
    /// Every packet leaves late, with jitter.
    Delay,
    /// Some packets are sent twice.
    Duplicate,
    /// Some packets overtake others (the rest are delayed, as netem's reorder requires).
    Reorder,
    /// Some packets get a payload bit flipped with their checksum fixed: the receiver's
    /// kernel accepts them and the application reads damaged data.
    Corrupt,
    /// A bandwidth limit: packets leave no faster than a rate.
    Bandwidth,
}

impl NetemKind {
    /// Every packet effect kind.
    pub const ALL: [NetemKind; 5] = [
        NetemKind::Delay,
        NetemKind::Duplicate,
        NetemKind::Reorder,
        NetemKind::Corrupt,
        NetemKind::Bandwidth,
    ];

    /// The `--nemesis` name: `delay`, `duplicate`, `reorder`, `corrupt`, `bandwidth`.
    pub fn name(self) -> &'static str {
        match self {
            NetemKind::Delay => "delay",
            NetemKind::Duplicate => "duplicate",
            NetemKind::Reorder => "reorder",
            NetemKind::Corrupt => "corrupt",
            NetemKind::Bandwidth => "bandwidth",
        }
    }
}

/// Which nodes a process, loss or clock fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Targets {
    /// Nodes drawn at random by this spec when the fault is scheduled.
    Spec(NodeSpec),
    /// The database's primaries (leaders) at the moment the fault starts: a lease held on
    /// the primary, or the writes it acknowledges, are what such a fault puts at risk.
    Primaries,
    /// A node the run itself reveals when the fault starts ([`Aim`]): the lock holder's,
    /// the last writer's, the busiest.
    Live(Aim),
}

impl Targets {
    /// The `--nemesis` suffixes naming targets, e.g. `pause-primaries`, `kill-minority`.
    pub const SUFFIXES: [(&'static str, Targets); 8] = [
        ("-one", Targets::Spec(NodeSpec::One)),
        ("-minority", Targets::Spec(NodeSpec::Minority)),
        ("-majority", Targets::Spec(NodeSpec::Majority)),
        ("-all", Targets::Spec(NodeSpec::All)),
        ("-primaries", Targets::Primaries),
        ("-lock-holder", Targets::Live(Aim::LockHolder)),
        ("-last-writer", Targets::Live(Aim::LastWriter)),
        ("-busiest", Targets::Live(Aim::Busiest)),
    ];

    /// How a fault with these targets chooses its nodes when it starts.
    pub fn aim(self) -> Aim {
        match self {
            Targets::Spec(_) => Aim::Drawn,
            Targets::Primaries => Aim::Primaries,
            Targets::Live(aim) => aim,
        }
    }
}

/// How a fault's nodes were chosen. Every aim but `drawn` is decided when the fault starts,
/// from what the cluster or the run shows then; the start's completion says why
/// (`"why"` in the history, see docs/history-format.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Aim {
    /// Drawn by the schedule from the seed.
    #[default]
    Drawn,
    /// The database's primaries, asked when the fault starts.
    Primaries,
    /// The node serving the process that holds the lock (acquired ok, release not yet
    /// invoked); the fault waits briefly for the next grant, so it lands right after one.
    LockHolder,
    /// The node that served the most recently acknowledged write; the fault waits briefly
    /// for the next acknowledgement, so it lands right after one.
    LastWriter,
    /// The node serving the most client operations in flight.
    Busiest,
}

impl Aim {
    /// Every aim.
    pub const ALL: [Aim; 5] = [
        Aim::Drawn,
        Aim::Primaries,
        Aim::LockHolder,
        Aim::LastWriter,
        Aim::Busiest,
    ];

    /// Whether the nodes are the schedule's own draw (then nothing is written for the aim).
    pub fn is_drawn(&self) -> bool {
        *self == Aim::Drawn
    }

    /// The `--nemesis` suffix without its dash: `lock-holder`, `primaries`, ...
    pub fn name(self) -> &'static str {
        match self {
            Aim::Drawn => "drawn",
            Aim::Primaries => "primaries",
            Aim::LockHolder => "lock-holder",
            Aim::LastWriter => "last-writer",
            Aim::Busiest => "busiest",
        }
    }

    /// Whether the run's own operations (not the cluster) name the nodes when it starts.
    pub fn is_live(self) -> bool {
        matches!(self, Aim::LockHolder | Aim::LastWriter | Aim::Busiest)
    }
}

/// Writes an aim by its name ([`Aim::name`]).
impl Serialize for Aim {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Reads an aim by its name, and the `"primaries": true|false` that histories before aims
/// wrote.
impl<'de> Deserialize<'de> for Aim {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Flag(bool),
            Name(String),
        }
        Ok(match Written::deserialize(d)? {
            Written::Flag(true) => Aim::Primaries,
            Written::Flag(false) => Aim::Drawn,
            Written::Name(n) => Aim::ALL
                .into_iter()
                .find(|a| a.name() == n)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "unknown aim {n:?}; expected one of: {}",
                        Aim::ALL.map(Aim::name).join(", ")
                    ))
                })?,
        })
    }
}

/// A clock fault as asked for: its clock, mode, direction and targets, each random if `None`
/// (the clock defaults to the wall clock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClockKind {
    /// Which clock moves: wall (the default) or monotonic.
    #[serde(default)]
    pub clock: ClockSource,
    /// Bump, strobe or rate; `None` picks one the clock allows each time.
    pub mode: Option<ClockMode>,
    /// Ahead or behind true time (for a rate: faster or slower); `None` picks one each time
    /// (monotonic bumps are always forward).
    pub direction: Option<ClockDirection>,
    /// The skewed nodes; `None` draws a random node spec each time.
    pub targets: Option<Targets>,
}

/// Which clocks a clock fault moves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockSource {
    /// CLOCK_REALTIME and its variants (REALTIME_COARSE, TAI, ...): time of day, may step back.
    #[default]
    Wall,
    /// CLOCK_MONOTONIC and its variants (MONOTONIC_RAW, BOOTTIME, ...): what Go measures
    /// durations, timers and leases on. Only ever moves forward: bumps forward, rates.
    Monotonic,
}

impl ClockSource {
    /// `wall` or `monotonic`.
    pub fn name(self) -> &'static str {
        match self {
            ClockSource::Wall => "wall",
            ClockSource::Monotonic => "monotonic",
        }
    }
}

/// Which way a clock fault moves a clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockDirection {
    /// Ahead of true time: leases and TTLs measured by that clock expire early.
    Forward,
    /// Behind true time.
    Backward,
}

/// How a clock fault moves time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockMode {
    /// Jump the clock by a fixed offset and leave it there.
    Bump,
    /// Flip the clock between the offset and true time every period (wall clocks only).
    Strobe,
    /// Run the clock fast or slow from now on.
    Rate,
}

/// The accepted `--nemesis` names, for error messages and help. Every name but the
/// partitions also takes a target suffix ([`Targets::SUFFIXES`]: `-one`, `-minority`,
/// `-majority`, `-all`, `-primaries`, `-lock-holder`, `-last-writer`, `-busiest`), and the clock names a direction before it
/// (`-forward`, `-backward`): `clock-bump-wall-forward-primaries`. A clock name without
/// `-wall` or `-monotonic` moves the wall clock (`clock-bump` is `clock-bump-wall`).
pub const FAULT_KIND_NAMES: &[&str] = &[
    "partition",
    "partition-halves",
    "partition-random-halves",
    "partition-one",
    "partition-majorities-ring",
    "partition-bridge",
    "partition-primaries",
    "loss",
    "pause",
    "slow",
    "kill",
    "clock",
    "clock-bump",
    "clock-strobe",
    "clock-rate",
    "clock-wall",
    "clock-bump-wall",
    "clock-strobe-wall",
    "clock-rate-wall",
    "clock-monotonic",
    "clock-bump-monotonic",
    "clock-rate-monotonic",
    "delay",
    "duplicate",
    "reorder",
    "corrupt",
    "bandwidth",
    "lose-unfsynced",
    "power-cut",
    "disk-error",
    "corrupt-file",
    "corrupt-file-bitflip",
    "corrupt-file-truncate",
    "membership",
];

/// A `--nemesis` name that is not a fault kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown nemesis fault {name:?}; expected one of: {} (all but partitions optionally followed by one of {}; clock ones by -forward or -backward first; monotonic clocks never go backward and are not strobed)", FAULT_KIND_NAMES.join(", "), Targets::SUFFIXES.map(|(s, _)| s).join(", "))]
pub struct ParseFaultKindError {
    /// The name that was given.
    pub name: String,
}

impl FromStr for FaultKind {
    type Err = ParseFaultKindError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let unknown = || ParseFaultKindError {
            name: s.to_string(),
        };
        if s == "partition" {
            return Ok(FaultKind::Partition(None));
        }
        if let Some(spec) = s.strip_prefix("partition-") {
            return PartitionSpec::ALL
                .into_iter()
                .find(|p| p.name() == spec)
                .map(|p| FaultKind::Partition(Some(p)))
                .ok_or_else(unknown);
        }
        let (base, targets) = Targets::SUFFIXES
            .iter()
            .find_map(|(suffix, t)| s.strip_suffix(suffix).map(|b| (b, Some(*t))))
            .unwrap_or((s, None));
        let (base, direction) = [
            ("-forward", ClockDirection::Forward),
            ("-backward", ClockDirection::Backward),
        ]
        .iter()
        .find_map(|(suffix, d)| base.strip_suffix(suffix).map(|b| (b, Some(*d))))
        .unwrap_or((base, None));
        if let Some(rest) = base.strip_prefix("clock") {
            let (rest, clock) = [
                ("-wall", ClockSource::Wall),
                ("-monotonic", ClockSource::Monotonic),
            ]
            .iter()
            .find_map(|(suffix, c)| rest.strip_suffix(suffix).map(|r| (r, *c)))
            .unwrap_or((rest, ClockSource::Wall));
            let mode = match rest {
                "" => None,
                "-bump" => Some(ClockMode::Bump),
                "-strobe" => Some(ClockMode::Strobe),
                "-rate" => Some(ClockMode::Rate),
                _ => return Err(unknown()),
            };
            let monotonic = clock == ClockSource::Monotonic;
            let backward = direction == Some(ClockDirection::Backward);
            if monotonic
                && (mode == Some(ClockMode::Strobe) || (backward && mode != Some(ClockMode::Rate)))
            {
                return Err(unknown());
            }
            return Ok(FaultKind::Clock(ClockKind {
                clock,
                mode,
                direction,
                targets,
            }));
        }
        let kind = match base {
            _ if direction.is_some() => return Err(unknown()),
            "loss" => FaultKind::Loss(targets),
            "pause" => FaultKind::Pause(targets),
            "slow" => FaultKind::Slow(targets),
            "kill" => FaultKind::Kill(targets),
            "delay" => FaultKind::Netem(NetemKind::Delay, targets),
            "duplicate" => FaultKind::Netem(NetemKind::Duplicate, targets),
            "reorder" => FaultKind::Netem(NetemKind::Reorder, targets),
            "corrupt" => FaultKind::Netem(NetemKind::Corrupt, targets),
            "bandwidth" => FaultKind::Netem(NetemKind::Bandwidth, targets),
            b if StorageKind::parse(b).is_some() => {
                FaultKind::Storage(StorageKind::parse(b).ok_or_else(unknown)?, targets)
            }
            // One member leaves at a time: a random one, or the primary.
            "membership"
                if matches!(
                    targets,
                    None | Some(Targets::Spec(NodeSpec::One)) | Some(Targets::Primaries)
                ) =>
            {
                FaultKind::Membership(targets)
            }
            // The whole data center loses power: every node, at once.
            "power-cut" if matches!(targets, None | Some(Targets::Spec(NodeSpec::All))) => {
                FaultKind::Storage(
                    StorageKind::LoseUnfsynced,
                    Some(Targets::Spec(NodeSpec::All)),
                )
            }
            _ => return Err(unknown()),
        };
        Ok(kind)
    }
}

impl FaultKind {
    /// The class of fault this kind produces.
    pub fn class(self) -> FaultClass {
        match self {
            FaultKind::Partition(_) => FaultClass::Partition,
            FaultKind::Loss(_) => FaultClass::Loss,
            FaultKind::Pause(_) => FaultClass::Pause,
            FaultKind::Slow(_) => FaultClass::Slow,
            FaultKind::Kill(_) => FaultClass::Kill,
            FaultKind::Clock(_) => FaultClass::Clock,
            FaultKind::Netem(..) => FaultClass::Netem,
            FaultKind::Storage(..) => FaultClass::Storage,
            FaultKind::Membership(_) => FaultClass::Membership,
        }
    }

    /// The targets asked for (`None`: random each time, or a partition, which has none).
    pub fn targets(mut self) -> Option<Targets> {
        self.targets_slot().and_then(|t| *t)
    }

    /// Where this kind keeps its targets; `None` for a partition, which has none.
    pub fn targets_slot(&mut self) -> Option<&mut Option<Targets>> {
        match self {
            FaultKind::Partition(_) => None,
            FaultKind::Loss(t)
            | FaultKind::Pause(t)
            | FaultKind::Slow(t)
            | FaultKind::Kill(t)
            | FaultKind::Netem(_, t)
            | FaultKind::Storage(_, t)
            | FaultKind::Membership(t) => Some(t),
            FaultKind::Clock(c) => Some(&mut c.targets),
        }
    }

    /// Whether this kind is a storage fault: the run then mounts faultline-fs, and its nodes
    /// get /dev/fuse and SYS_ADMIN.
    pub fn needs_faultfs(self) -> bool {
        matches!(self, FaultKind::Storage(..))
    }

    /// Whether this kind is a packet fault (netem where the kernel has it, else the NFQUEUE handler).
    pub fn needs_netem(self) -> bool {
        matches!(self, FaultKind::Netem(..))
    }
}

/// The class of a fault: at most one fault of each class is active at a time, and the
/// history's `f` is `start-<class>` / `stop-<class>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultClass {
    /// Network partitions.
    Partition,
    /// Packet loss.
    Loss,
    /// Paused processes.
    Pause,
    /// Strobed (slowed) processes.
    Slow,
    /// Killed processes.
    Kill,
    /// Skewed clocks.
    Clock,
    /// Packet delay, duplication, reordering, corruption or a bandwidth limit. One class for
    /// all: an interface has one root qdisc (and a node one packet handler), so two such
    /// faults on a node would replace each other.
    Netem,
    /// Lost un-fsynced writes, failing disks and corrupted files (faultline-fs).
    Storage,
    /// A node that left the cluster with its data wiped, until it joins again.
    Membership,
}

impl FaultClass {
    /// The class name as it appears in `f`: `partition`, `loss`, ...
    pub fn name(self) -> &'static str {
        match self {
            FaultClass::Partition => "partition",
            FaultClass::Loss => "loss",
            FaultClass::Pause => "pause",
            FaultClass::Slow => "slow",
            FaultClass::Kill => "kill",
            FaultClass::Clock => "clock",
            FaultClass::Netem => "netem",
            FaultClass::Storage => "storage",
            FaultClass::Membership => "membership",
        }
    }

    /// The history `f` of the operation that starts a fault of this class.
    pub fn start_f(self) -> &'static str {
        match self {
            FaultClass::Partition => "start-partition",
            FaultClass::Loss => "start-loss",
            FaultClass::Pause => "start-pause",
            FaultClass::Slow => "start-slow",
            FaultClass::Kill => "start-kill",
            FaultClass::Clock => "start-clock",
            FaultClass::Netem => "start-netem",
            FaultClass::Storage => "start-storage",
            FaultClass::Membership => "start-membership",
        }
    }

    /// The history `f` of the operation that heals a fault of this class.
    pub fn stop_f(self) -> &'static str {
        match self {
            FaultClass::Partition => "stop-partition",
            FaultClass::Loss => "stop-loss",
            FaultClass::Pause => "stop-pause",
            FaultClass::Slow => "stop-slow",
            FaultClass::Kill => "stop-kill",
            FaultClass::Clock => "stop-clock",
            FaultClass::Netem => "stop-netem",
            FaultClass::Storage => "stop-storage",
            FaultClass::Membership => "stop-membership",
        }
    }
}

impl fmt::Display for FaultClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which nodes a process or clock fault hits, as in Jepsen's node specs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeSpec {
    /// One random node.
    One,
    /// A random minority (at least one node when there are two or more).
    Minority,
    /// A random majority.
    Majority,
    /// Every node.
    All,
}

impl NodeSpec {
    /// Every spec.
    pub const ALL: [NodeSpec; 4] = [
        NodeSpec::One,
        NodeSpec::Minority,
        NodeSpec::Majority,
        NodeSpec::All,
    ];

    /// How many of `n` nodes this spec selects.
    pub fn count(self, n: usize) -> usize {
        match self {
            NodeSpec::One => n.min(1),
            NodeSpec::Minority => ((n.saturating_sub(1)) / 2).max(n.min(1)),
            NodeSpec::Majority => n / 2 + 1,
            NodeSpec::All => n,
        }
        .min(n)
    }
}

/// A concrete fault with its targets: what a `start-*` operation does, and what its
/// `stop-*` undoes. Serialised into the history as the nemesis operation's value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum Fault {
    /// Nodes drop packets from the nodes their grudge names.
    Partition {
        /// The shape.
        spec: PartitionSpec,
        /// Node -> nodes it drops; for primaries, filled in when applied.
        grudge: Grudge,
    },
    /// Each target drops `percent`% of packets from every other node, at random.
    Loss {
        /// The nodes that drop.
        nodes: Vec<String>,
        /// How `nodes` are chosen: by the schedule, or when the fault starts.
        #[serde(default, alias = "primaries", skip_serializing_if = "Aim::is_drawn")]
        aim: Aim,
        /// The share of packets dropped, 0..=100.
        percent: u8,
    },
    /// The database process on each target is stopped (SIGSTOP).
    Pause {
        /// The paused nodes.
        nodes: Vec<String>,
        /// How `nodes` are chosen: by the schedule, or when the fault starts.
        #[serde(default, alias = "primaries", skip_serializing_if = "Aim::is_drawn")]
        aim: Aim,
    },
    /// The database process on each target is stopped for `pause_ms`, run for `run_ms`, repeatedly.
    Slow {
        /// The strobed nodes.
        nodes: Vec<String>,
        /// How `nodes` are chosen: by the schedule, or when the fault starts.
        #[serde(default, alias = "primaries", skip_serializing_if = "Aim::is_drawn")]
        aim: Aim,
        /// How long each stop lasts, ms.
        pause_ms: u64,
        /// How long it runs between stops, ms.
        run_ms: u64,
    },
    /// The database process on each target is killed (SIGKILL); healing starts it again.
    Kill {
        /// The killed nodes.
        nodes: Vec<String>,
        /// How `nodes` are chosen: by the schedule, or when the fault starts.
        #[serde(default, alias = "primaries", skip_serializing_if = "Aim::is_drawn")]
        aim: Aim,
    },
    /// The database's clock on each target is offset or runs at another rate.
    Clock {
        /// The skewed nodes.
        nodes: Vec<String>,
        /// How `nodes` are chosen: by the schedule, or when the fault starts.
        #[serde(default, alias = "primaries", skip_serializing_if = "Aim::is_drawn")]
        aim: Aim,
        /// Which clock moves.
        #[serde(default)]
        clock: ClockSource,
        /// Bump, strobe or rate.
        mode: ClockMode,
        /// The offset from true time, ms (negative: behind); 0 for a rate.
        offset_ms: i64,
        /// For strobe, how long each state lasts, ms; 0 otherwise.
        period_ms: u64,
        /// For a rate, how fast the clock runs (2.0: two seconds per real second).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate: Option<f64>,
    },
    /// Each target's packets to its peers get `effect`: through a netem qdisc
    /// (`tc qdisc replace ... root netem`, all of the interface's outgoing packets) where
    /// the kernel has netem, else through faultline's NFQUEUE handler (only packets to the
    /// other nodes of the cluster).
    Netem {
        /// The nodes whose outgoing packets are affected.
        nodes: Vec<String>,
        /// How `nodes` are chosen: by the schedule, or when the fault starts.
        #[serde(default, alias = "primaries", skip_serializing_if = "Aim::is_drawn")]
        aim: Aim,
        /// What netem does to the packets.
        #[serde(flatten)]
        effect: NetemEffect,
    },
    /// A storage fault on each target, through faultline-fs.
    Storage {
        /// The nodes whose storage fails.
        nodes: Vec<String>,
        /// How `nodes` are chosen: by the schedule, or when the fault starts.
        #[serde(default, alias = "primaries", skip_serializing_if = "Aim::is_drawn")]
        aim: Aim,
        /// What happens to their storage.
        #[serde(flatten)]
        action: StorageAction,
        /// Per node, what faultline-fs answered when the fault started (what it dropped, the
        /// error it now injects), filled in when applied.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        outcome: BTreeMap<String, String>,
        /// Per node, what the heal found that the start did not know (a database that had
        /// exited since its restart), filled in when healed.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        at_heal: BTreeMap<String, String>,
    },
    /// The target leaves the cluster (the definition's `leave`), its database is stopped and
    /// its data wiped; healing adds it back (`join`) and starts it.
    Membership {
        /// The node that leaves (one).
        nodes: Vec<String>,
        /// How `nodes` are chosen (for the primaries, the first is taken).
        #[serde(default, alias = "primaries", skip_serializing_if = "Aim::is_drawn")]
        aim: Aim,
        /// The members before the change, filled in when applied.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        before: Vec<String>,
        /// The members after it, filled in when applied.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        after: Vec<String>,
        /// Per node, what the definition's command printed (the database's own view).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        outcome: BTreeMap<String, String>,
    },
}

/// What a netem fault does to each outgoing packet of its targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "kebab-case")]
pub enum NetemEffect {
    /// Every packet is delayed by `delay_ms` ± `jitter_ms`.
    Delay {
        /// The mean delay, ms.
        delay_ms: u64,
        /// The jitter around it, ms.
        jitter_ms: u64,
    },
    /// `percent`% of packets are sent twice.
    Duplicate {
        /// The share duplicated, 0..=100.
        percent: u8,
    },
    /// `percent`% of packets go at once, the rest after `delay_ms`: the early ones overtake.
    Reorder {
        /// The share sent at once, 0..=100.
        percent: u8,
        /// The delay of the others, ms (netem reorders only delayed traffic).
        delay_ms: u64,
    },
    /// `percent`% of packets carrying a TCP or UDP payload get one payload bit flipped,
    /// checksum fixed (always through the NFQUEUE handler: netem's corrupt breaks the
    /// checksum, so the receiving kernel drops the packet, which is loss, not corruption).
    Corrupt {
        /// The share corrupted, 0..=100.
        percent: u8,
    },
    /// Packets leave no faster than `kbit` kbit/s.
    Bandwidth {
        /// The rate, kbit/s.
        kbit: u64,
    },
}

impl NetemEffect {
    /// The kind of this effect.
    pub fn kind(self) -> NetemKind {
        match self {
            NetemEffect::Delay { .. } => NetemKind::Delay,
            NetemEffect::Duplicate { .. } => NetemKind::Duplicate,
            NetemEffect::Reorder { .. } => NetemKind::Reorder,
            NetemEffect::Corrupt { .. } => NetemKind::Corrupt,
            NetemEffect::Bandwidth { .. } => NetemKind::Bandwidth,
        }
    }

    /// Whether netem can do this as asked (corrupt: no, see [`NetemEffect::Corrupt`]).
    pub fn netem_can(self) -> bool {
        !matches!(self, NetemEffect::Corrupt { .. })
    }

    /// The arguments of faultline's NFQUEUE handler (`faultline-netq`) for this effect.
    pub fn netq_args(self) -> String {
        match self {
            NetemEffect::Delay {
                delay_ms,
                jitter_ms,
            } => format!("--delay-ms {delay_ms} --jitter-ms {jitter_ms}"),
            NetemEffect::Duplicate { percent } => format!("--duplicate-pct {percent}"),
            NetemEffect::Reorder { percent, delay_ms } => {
                format!("--reorder-pct {percent} --delay-ms {delay_ms}")
            }
            NetemEffect::Corrupt { percent } => format!("--corrupt-pct {percent}"),
            NetemEffect::Bandwidth { kbit } => format!("--rate-kbit {kbit}"),
        }
    }

    /// The netem parameters after `netem`: `delay 100ms 50ms`, `duplicate 5%`, `delay 50ms reorder 25%`.
    pub fn netem_args(self) -> String {
        match self {
            NetemEffect::Delay {
                delay_ms,
                jitter_ms,
            } => format!("delay {delay_ms}ms {jitter_ms}ms"),
            NetemEffect::Duplicate { percent } => format!("duplicate {percent}%"),
            NetemEffect::Reorder { percent, delay_ms } => {
                format!("delay {delay_ms}ms reorder {percent}%")
            }
            NetemEffect::Corrupt { percent } => format!("corrupt {percent}%"),
            NetemEffect::Bandwidth { kbit } => format!("rate {kbit}kbit"),
        }
    }
}

impl Fault {
    /// This fault's class.
    pub fn class(&self) -> FaultClass {
        match self {
            Fault::Partition { .. } => FaultClass::Partition,
            Fault::Loss { .. } => FaultClass::Loss,
            Fault::Pause { .. } => FaultClass::Pause,
            Fault::Slow { .. } => FaultClass::Slow,
            Fault::Kill { .. } => FaultClass::Kill,
            Fault::Clock { .. } => FaultClass::Clock,
            Fault::Netem { .. } => FaultClass::Netem,
            Fault::Storage { .. } => FaultClass::Storage,
            Fault::Membership { .. } => FaultClass::Membership,
        }
    }

    /// The nodes this fault acts on (for partitions, nodes that drop someone).
    pub fn nodes(&self) -> Vec<String> {
        match self {
            Fault::Partition { grudge, .. } => grudge
                .iter()
                .filter(|(_, s)| !s.is_empty())
                .map(|(n, _)| n.clone())
                .collect(),
            Fault::Loss { nodes, .. }
            | Fault::Pause { nodes, .. }
            | Fault::Slow { nodes, .. }
            | Fault::Kill { nodes, .. }
            | Fault::Clock { nodes, .. }
            | Fault::Netem { nodes, .. }
            | Fault::Storage { nodes, .. }
            | Fault::Membership { nodes, .. } => nodes.clone(),
        }
    }

    /// How a fault aimed at nodes chooses them; `None` for a partition (its spec says).
    pub fn aim(&self) -> Option<Aim> {
        match self {
            Fault::Partition { .. } => None,
            Fault::Loss { aim, .. }
            | Fault::Pause { aim, .. }
            | Fault::Slow { aim, .. }
            | Fault::Kill { aim, .. }
            | Fault::Clock { aim, .. }
            | Fault::Netem { aim, .. }
            | Fault::Storage { aim, .. }
            | Fault::Membership { aim, .. } => Some(*aim),
        }
    }

    /// The target list of a process, loss or clock fault, and how it is chosen.
    pub fn targets_mut(&mut self) -> Option<(&mut Vec<String>, Aim)> {
        match self {
            Fault::Partition { .. } => None,
            Fault::Loss { nodes, aim, .. }
            | Fault::Pause { nodes, aim }
            | Fault::Slow { nodes, aim, .. }
            | Fault::Kill { nodes, aim }
            | Fault::Clock { nodes, aim, .. }
            | Fault::Netem { nodes, aim, .. }
            | Fault::Storage { nodes, aim, .. }
            | Fault::Membership { nodes, aim, .. } => Some((nodes, *aim)),
        }
    }

    /// A short human label for live displays: `partition(halves)`, `kill n1,n3`.
    pub fn label(&self) -> String {
        match self {
            Fault::Partition { spec, .. } => format!("partition({spec})"),
            Fault::Loss { nodes, percent, .. } => format!("loss {percent}% {}", nodes.join(",")),
            Fault::Clock {
                nodes,
                clock,
                mode,
                offset_ms,
                rate,
                ..
            } => {
                let clock = clock.name();
                let nodes = nodes.join(",");
                match mode {
                    ClockMode::Bump => format!("clock bump {clock} {offset_ms:+}ms {nodes}"),
                    ClockMode::Strobe => format!("clock strobe {clock} {offset_ms:+}ms {nodes}"),
                    ClockMode::Rate => {
                        format!("clock rate {clock} x{} {nodes}", rate.unwrap_or(1.0))
                    }
                }
            }
            Fault::Netem { nodes, effect, .. } => {
                format!("netem {} {}", effect.netem_args(), nodes.join(","))
            }
            other => format!("{} {}", other.class(), other.nodes().join(",")),
        }
    }
}

/// Where the on-node loops record their pids: shared with the cleanup guard, which ends them.
pub use faultline_control::faults::{CLOCK_STROBE_PID_FILE, SLOW_PID_FILE};

/// The text of the clock offset file: signed nanoseconds, as the node image's clock shim
/// (`image/clockshim.c`) reads it. Debian's libfaketime is not used: it aborts redis-server.
pub fn clock_offset_text(offset_ms: i64) -> String {
    (i128::from(offset_ms) * 1_000_000).to_string()
}

/// Shell-quotes `s` with single quotes.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The command that writes `offset_ms` into the clock offset file at `path`.
pub fn write_clock_offset_command(path: &str, offset_ms: i64) -> String {
    format!(
        "printf '%s\\n' {} > {}",
        shell_quote(&clock_offset_text(offset_ms)),
        shell_quote(path)
    )
}

/// A command that starts a detached loop on a node, running `body` repeatedly, and records
/// the loop's pid in `pid_file` so [`stop_loop_command`] can end it.
fn detached_loop_command(body: &str, pid_file: &str) -> String {
    let script = format!("while {body}; do :; done");
    format!(
        "nohup sh -c {} >/dev/null 2>&1 & echo $! > {}",
        shell_quote(&script),
        shell_quote(pid_file)
    )
}

/// The command that ends a loop started with a pid file, if it still runs.
pub fn stop_loop_command(pid_file: &str) -> String {
    let q = shell_quote(pid_file);
    format!("if [ -f {q} ]; then kill $(cat {q}) 2>/dev/null; rm -f {q}; fi; true")
}

/// The command starting a strobe of SIGSTOP/SIGCONT on `pid`; the loop ends by itself
/// when the process is gone (so a restarted database is not strobed by a stale loop).
pub fn slow_start_command(pid: u32, pause_ms: u64, run_ms: u64) -> String {
    let body = format!(
        "kill -STOP {pid} 2>/dev/null && sleep {} && kill -CONT {pid} && sleep {}",
        seconds(pause_ms),
        seconds(run_ms)
    );
    detached_loop_command(&body, SLOW_PID_FILE)
}

/// The command ending a slow fault: stop the strobe loop, then make sure `pid` runs.
pub fn slow_stop_command(pid: u32) -> String {
    format!(
        "{}; kill -CONT {pid} 2>/dev/null; true",
        stop_loop_command(SLOW_PID_FILE)
    )
}

/// The command starting a clock strobe: the clock flips between the offset (`set_offset`,
/// a command such as [`write_clock_offset_command`]) and true time (`set_zero`) every `period_ms`.
pub fn clock_strobe_start_command(set_offset: &str, set_zero: &str, period_ms: u64) -> String {
    let body = format!(
        "{{ {set_offset}; }} && sleep {p} && {{ {set_zero}; }} && sleep {p}",
        p = seconds(period_ms)
    );
    detached_loop_command(&body, CLOCK_STROBE_PID_FILE)
}

/// A shell prelude that sets `$dev` to the interface carrying `addr` (the node's address as
/// its peers see it), or else the default route's interface, and fails with a message if
/// there is neither.
fn netem_iface_prelude(addr: &str) -> String {
    let a = shell_quote(addr);
    format!(
        "dev=$(ip -o -4 addr show | awk -v a={a} '{{split($4, p, \"/\"); if (p[1] == a) {{print $2; exit}}}}'); \
         [ -n \"$dev\" ] || dev=$(ip -o route show default | awk '{{for (i = 1; i < NF; i++) if ($i == \"dev\") {{print $(i + 1); exit}}}}'); \
         [ -n \"$dev\" ] || {{ echo \"no network interface carries \"{a} >&2; exit 1; }}; "
    )
}

/// The command that puts a netem qdisc with `effect` on the interface carrying `addr`.
pub fn netem_start_command(addr: &str, effect: NetemEffect) -> String {
    format!(
        "{}tc qdisc replace dev \"$dev\" root netem {}",
        netem_iface_prelude(addr),
        effect.netem_args()
    )
}

/// The command that removes the netem qdisc from the interface carrying `addr`.
pub fn netem_stop_command(addr: &str) -> String {
    format!(
        "{}tc qdisc del dev \"$dev\" root",
        netem_iface_prelude(addr)
    )
}

/// faultline's NFQUEUE packet handler in the node image (`image/netq.c`).
pub const NETQ_BIN: &str = "/usr/local/sbin/faultline-netq";
/// Where the running packet handler's pid is kept (the cleanup guard reads it too).
pub const NETQ_PID_FILE: &str = "/var/lib/faultline/netq.pid";
/// The packet handler's log: its start line and, at exit, what it did to how many packets.
pub const NETQ_LOG: &str = "/var/log/faultline/netq.log";
/// The NFQUEUE number faultline's rules send packets to.
pub const NETQ_QUEUE: u16 = 4654;
/// The packet mark of the handler's own duplicates, which the queue rules let pass.
pub const NETQ_MARK: u32 = 0x4654;

/// The iptables rules sending a node's packets to `peer_addrs` (not marked as the handler's
/// own duplicates) to the handler's queue; `--queue-bypass` lets them pass when no handler
/// is bound, so a dead handler cannot cut the node off.
pub fn netq_rules(peer_addrs: &[String]) -> Vec<String> {
    peer_addrs
        .iter()
        .map(|addr| {
            format!(
                "iptables -A {} -d {addr} -m mark ! --mark {NETQ_MARK:#x} -j NFQUEUE --queue-num {NETQ_QUEUE} --queue-bypass",
                crate::grudge::CHAIN
            )
        })
        .collect()
}

/// The command that starts the packet handler with `effect` (after stopping any earlier one)
/// and fails, with the end of its log, if it is not running 200 ms later.
pub fn netq_start_command(effect: NetemEffect) -> String {
    format!(
        "{stop}; nohup {NETQ_BIN} --queue {NETQ_QUEUE} --mark {NETQ_MARK} {args} >> {NETQ_LOG} 2>&1 & echo $! > {NETQ_PID_FILE}; \
         sleep 0.2; kill -0 $(cat {NETQ_PID_FILE}) 2>/dev/null || {{ tail -n 3 {NETQ_LOG} >&2; exit 1; }}",
        stop = netq_stop_command(),
        args = effect.netq_args(),
    )
}

/// The command that stops the packet handler, waiting up to 5 s for it to release the
/// packets it holds and exit.
pub fn netq_stop_command() -> String {
    format!(
        "if [ -f {NETQ_PID_FILE} ]; then p=$(cat {NETQ_PID_FILE}); kill $p 2>/dev/null; \
         i=0; while kill -0 $p 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done; \
         rm -f {NETQ_PID_FILE}; fi; true"
    )
}

/// The command that shows whether the node's kernel has netem: install a 1 ms delay and
/// remove it again. It fails (with tc's complaint on stderr) where netem is missing.
pub fn netem_probe_command(addr: &str) -> String {
    format!(
        "{}tc qdisc replace dev \"$dev\" root netem delay 1ms && tc qdisc del dev \"$dev\" root",
        netem_iface_prelude(addr)
    )
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

impl FaultClass {
    /// Every class, in the order `faultline faults` lists them.
    pub const ALL: [FaultClass; 9] = [
        FaultClass::Partition,
        FaultClass::Loss,
        FaultClass::Pause,
        FaultClass::Slow,
        FaultClass::Kill,
        FaultClass::Clock,
        FaultClass::Netem,
        FaultClass::Storage,
        FaultClass::Membership,
    ];

    /// What a fault of this class does, in one line (`faultline faults`).
    pub fn about(self) -> &'static str {
        match self {
            FaultClass::Partition => "cuts nodes off from each other with iptables (a grudge)",
            FaultClass::Loss => "drops a share of the packets between nodes (iptables statistic)",
            FaultClass::Pause => "SIGSTOPs the database process until healed",
            FaultClass::Slow => "strobes SIGSTOP/SIGCONT on the database process",
            FaultClass::Kill => "SIGKILLs the database process; healing restarts it",
            FaultClass::Clock => "moves the database's clock (faultline-clock on Docker nodes)",
            FaultClass::Netem => {
                "delays, duplicates, reorders, corrupts or rate-limits packets to the peers"
            }
            FaultClass::Storage => "loses un-fsynced data, fails the disk, or corrupts a file",
            FaultClass::Membership => "removes a node, wipes its data, adds it back (leave/join)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_name_and_rejects_others() {
        for name in FAULT_KIND_NAMES {
            assert!(name.parse::<FaultKind>().is_ok(), "{name}");
        }
        assert_eq!(
            "partition-majorities-ring".parse::<FaultKind>(),
            Ok(FaultKind::Partition(Some(PartitionSpec::MajoritiesRing)))
        );
        assert_eq!(
            "clock-strobe".parse::<FaultKind>(),
            Ok(FaultKind::Clock(ClockKind {
                mode: Some(ClockMode::Strobe),
                ..ClockKind::default()
            }))
        );
        let err = "partition-sideways".parse::<FaultKind>().unwrap_err();
        assert!(err.to_string().contains("\"partition-sideways\""));
        assert!(err.to_string().contains("majorities-ring"));
    }

    #[test]
    fn target_and_direction_suffixes_parse() {
        assert_eq!(
            "pause-primaries".parse::<FaultKind>(),
            Ok(FaultKind::Pause(Some(Targets::Primaries)))
        );
        assert_eq!(
            "kill-minority".parse::<FaultKind>(),
            Ok(FaultKind::Kill(Some(Targets::Spec(NodeSpec::Minority))))
        );
        assert_eq!(
            "clock-bump-forward-primaries".parse::<FaultKind>(),
            Ok(FaultKind::Clock(ClockKind {
                clock: ClockSource::Wall,
                mode: Some(ClockMode::Bump),
                direction: Some(ClockDirection::Forward),
                targets: Some(Targets::Primaries),
            }))
        );
        assert_eq!(
            "clock-backward".parse::<FaultKind>(),
            Ok(FaultKind::Clock(ClockKind {
                direction: Some(ClockDirection::Backward),
                ..ClockKind::default()
            }))
        );
        assert_eq!(
            "partition-one".parse::<FaultKind>(),
            Ok(FaultKind::Partition(Some(PartitionSpec::One)))
        );
        for bad in [
            "pause-forward",
            "kill-primaries-one",
            "partition-halves-all",
            "loss-some",
        ] {
            let err = bad.parse::<FaultKind>().unwrap_err();
            assert_eq!(err.name, bad);
        }
    }

    #[test]
    fn clock_names_say_which_clock_moves_and_monotonic_never_goes_back() {
        let clock = |name: &str| match name.parse::<FaultKind>() {
            Ok(FaultKind::Clock(k)) => k,
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(clock("clock-bump"), clock("clock-bump-wall"));
        assert_eq!(clock("clock-strobe").clock, ClockSource::Wall);
        let k = clock("clock-bump-monotonic-primaries");
        assert_eq!(
            (k.clock, k.mode, k.targets),
            (
                ClockSource::Monotonic,
                Some(ClockMode::Bump),
                Some(Targets::Primaries)
            )
        );
        let k = clock("clock-rate-monotonic-backward-one");
        assert_eq!(k.mode, Some(ClockMode::Rate));
        assert_eq!(k.direction, Some(ClockDirection::Backward));
        let k = clock("clock-rate-wall-forward-all");
        assert_eq!(
            (k.clock, k.mode),
            (ClockSource::Wall, Some(ClockMode::Rate))
        );
        assert_eq!(clock("clock-monotonic").mode, None);
        for bad in [
            "clock-strobe-monotonic",
            "clock-bump-monotonic-backward",
            "clock-monotonic-backward",
            "clock-sideways",
            "clock-wall-monotonic",
        ] {
            let err = bad.parse::<FaultKind>().unwrap_err();
            assert_eq!(err.name, bad);
            assert!(err.to_string().contains("never go backward"));
        }
    }

    #[test]
    fn corrupt_and_bandwidth_are_packet_faults_with_handler_arguments() {
        assert_eq!(
            "corrupt-minority".parse::<FaultKind>(),
            Ok(FaultKind::Netem(
                NetemKind::Corrupt,
                Some(Targets::Spec(NodeSpec::Minority))
            ))
        );
        assert_eq!(
            "bandwidth".parse::<FaultKind>(),
            Ok(FaultKind::Netem(NetemKind::Bandwidth, None))
        );
        let corrupt = NetemEffect::Corrupt { percent: 5 };
        assert!(!corrupt.netem_can());
        assert_eq!(corrupt.netq_args(), "--corrupt-pct 5");
        let delay = NetemEffect::Delay {
            delay_ms: 200,
            jitter_ms: 40,
        };
        assert!(delay.netem_can());
        assert_eq!(delay.netq_args(), "--delay-ms 200 --jitter-ms 40");
        assert_eq!(
            NetemEffect::Bandwidth { kbit: 500 }.netem_args(),
            "rate 500kbit"
        );
        assert_eq!(
            netq_rules(&["10.0.0.3".into()]),
            ["iptables -A FAULTLINE -d 10.0.0.3 -m mark ! --mark 0x4654 -j NFQUEUE --queue-num 4654 --queue-bypass"]
        );
        let start = netq_start_command(delay);
        assert!(start.starts_with(&netq_stop_command()));
        assert!(start.contains(
            "nohup /usr/local/sbin/faultline-netq --queue 4654 --mark 18004 --delay-ms 200 --jitter-ms 40 >> /var/log/faultline/netq.log"
        ));
        for cmd in [start, netq_stop_command()] {
            let out = std::process::Command::new("sh")
                .args(["-n", "-c", &cmd])
                .output()
                .unwrap();
            assert!(out.status.success(), "not valid sh: {cmd}");
        }
    }

    #[test]
    fn node_spec_counts() {
        assert_eq!(
            [1, 2, 3, 5].map(|n| NodeSpec::Minority.count(n)),
            [1, 1, 1, 2]
        );
        assert_eq!(
            [1, 2, 3, 5].map(|n| NodeSpec::Majority.count(n)),
            [1, 2, 2, 3]
        );
        assert_eq!(NodeSpec::One.count(0), 0);
        assert_eq!(NodeSpec::All.count(5), 5);
    }

    #[test]
    fn clock_offsets_are_written_as_signed_nanoseconds() {
        assert_eq!(clock_offset_text(1500), "1500000000");
        assert_eq!(clock_offset_text(-250), "-250000000");
        assert_eq!(clock_offset_text(0), "0");
        assert_eq!(
            write_clock_offset_command("/run/faketime", -2000),
            "printf '%s\\n' '-2000000000' > '/run/faketime'"
        );
    }

    #[test]
    fn fault_value_names_its_targets() {
        let f = Fault::Kill {
            nodes: vec!["n1".into(), "n3".into()],
            aim: Aim::Drawn,
        };
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"fault": "kill", "nodes": ["n1", "n3"]})
        );
        assert_eq!(f.label(), "kill n1,n3");
        assert_eq!(f.class().start_f(), "start-kill");
    }

    #[test]
    fn netem_names_parse_with_targets() {
        assert_eq!(
            "delay".parse::<FaultKind>(),
            Ok(FaultKind::Netem(NetemKind::Delay, None))
        );
        assert_eq!(
            "duplicate-one".parse::<FaultKind>(),
            Ok(FaultKind::Netem(
                NetemKind::Duplicate,
                Some(Targets::Spec(NodeSpec::One))
            ))
        );
        assert_eq!(
            "reorder-primaries".parse::<FaultKind>(),
            Ok(FaultKind::Netem(
                NetemKind::Reorder,
                Some(Targets::Primaries)
            ))
        );
        assert!("delay-forward".parse::<FaultKind>().is_err());
        assert!(FaultKind::Netem(NetemKind::Delay, None).needs_netem());
        assert!(!FaultKind::Loss(None).needs_netem());
        assert_eq!(
            FaultKind::Netem(NetemKind::Reorder, None).class().start_f(),
            "start-netem"
        );
    }

    #[test]
    fn netem_commands_replace_and_delete_the_root_qdisc() {
        let delay = NetemEffect::Delay {
            delay_ms: 100,
            jitter_ms: 50,
        };
        let dup = NetemEffect::Duplicate { percent: 5 };
        let reorder = NetemEffect::Reorder {
            percent: 25,
            delay_ms: 50,
        };
        assert_eq!(delay.netem_args(), "delay 100ms 50ms");
        assert_eq!(dup.netem_args(), "duplicate 5%");
        assert_eq!(reorder.netem_args(), "delay 50ms reorder 25%");
        let start = netem_start_command("10.0.0.2", reorder);
        assert!(start.starts_with(&netem_iface_prelude("10.0.0.2")));
        assert!(start.contains("awk -v a='10.0.0.2' "));
        assert!(start.ends_with("tc qdisc replace dev \"$dev\" root netem delay 50ms reorder 25%"));
        assert!(netem_start_command("n1", dup).ends_with("root netem duplicate 5%"));
        assert!(netem_stop_command("10.0.0.2").ends_with("tc qdisc del dev \"$dev\" root"));
        let probe = netem_probe_command("10.0.0.2");
        assert!(probe.ends_with(
            "tc qdisc replace dev \"$dev\" root netem delay 1ms && tc qdisc del dev \"$dev\" root"
        ));
    }

    /// Runs the interface prelude for real (it only reads `ip` output): loopback's address
    /// names `lo`; an address no interface has falls back to the default route, or fails
    /// with a message saying which address.
    #[test]
    fn netem_interface_prelude_finds_the_interface_of_an_address() {
        if std::process::Command::new("ip").arg("-V").output().is_err() {
            eprintln!("SKIPPED: no ip command (iproute2) here");
            return;
        }
        let run = |addr: &str| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{}echo \"$dev\"", netem_iface_prelude(addr)))
                .output()
                .unwrap()
        };
        let out = run("127.0.0.1");
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "lo");
        let out = run("192.0.2.77");
        let default_route = std::process::Command::new("ip")
            .args(["-o", "route", "show", "default"])
            .output()
            .unwrap();
        if default_route.stdout.is_empty() {
            assert!(!out.status.success());
            assert!(String::from_utf8_lossy(&out.stderr).contains("192.0.2.77"));
        } else {
            let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert!(
                String::from_utf8_lossy(&default_route.stdout).contains(&format!("dev {dev} ")),
                "{dev:?}"
            );
        }
    }

    #[test]
    fn netem_fault_value_names_its_effect() {
        let f = Fault::Netem {
            nodes: vec!["n2".into()],
            aim: Aim::Drawn,
            effect: NetemEffect::Delay {
                delay_ms: 100,
                jitter_ms: 50,
            },
        };
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"fault": "netem", "nodes": ["n2"], "effect": "delay", "delay_ms": 100, "jitter_ms": 50})
        );
        assert_eq!(serde_json::from_value::<Fault>(v).unwrap(), f);
        assert_eq!(f.label(), "netem delay 100ms 50ms n2");
        assert_eq!(f.class(), FaultClass::Netem);
    }

    #[test]
    fn clock_strobe_alternates_the_two_commands() {
        let cmd = clock_strobe_start_command("SET 5", "SET 0", 250);
        assert!(cmd.contains("while { SET 5; } && sleep 0.250 && { SET 0; } && sleep 0.250; do"));
        assert!(cmd.ends_with("echo $! > '/tmp/faultline-clock-strobe.pid'"));
    }

    #[test]
    fn strobe_commands_record_and_stop_their_loop() {
        let start = slow_start_command(42, 100, 400);
        assert!(start.contains("kill -STOP 42"));
        assert!(start.contains("sleep 0.100"));
        assert!(start.contains("sleep 0.400"));
        assert!(start.ends_with("echo $! > '/tmp/faultline-slow.pid'"));
        let stop = slow_stop_command(42);
        assert!(stop.contains("kill $(cat '/tmp/faultline-slow.pid')"));
        assert!(stop.contains("kill -CONT 42"));
        let q = shell_quote("it's");
        assert_eq!(q, r"'it'\''s'");
    }
}
