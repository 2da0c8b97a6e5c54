//! A seeded schedule of nemesis operations.
//!
//! Every `interval` (from `interval` on) the schedule picks one of the requested kinds at
//! random: if a fault of that class is active it is stopped, otherwise a new one starts with
//! random targets. With several kinds, faults of different classes overlap. [`Schedule::heal_all`]
//! stops whatever is still active, for the final heal.
//!
//! Deterministic: given the same nodes, configuration and seed, the times, operations and
//! targets are identical (a primaries partition's targets are resolved only when applied).
//!
//! With `--nemesis auto` or `random` ([`NemesisConfig::adaptive`]) the schedule instead runs one
//! fault at a time from the whole catalogue, each for a drawn duration with a short quiet gap
//! between, chosen by a [`Bandit`] that [`Schedule::observe`] tells what each fault did.

use crate::adaptive::{arm_name, Bandit, Catalogue, Choice, Effect, Policy, GAP};
use crate::fault::{
    Aim, ClockDirection, ClockMode, ClockSource, Fault, FaultClass, FaultKind, NetemEffect,
    NetemKind, NodeSpec, Targets,
};
use crate::grudge::PartitionSpec;
use crate::storage::{CorruptMode, DiskErrno, StorageAction, StorageKind};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The shapes `--nemesis partition` picks from: all but primaries, which needs the database's help.
const RANDOM_PARTITIONS: [PartitionSpec; 5] = [
    PartitionSpec::Halves,
    PartitionSpec::RandomHalves,
    PartitionSpec::One,
    PartitionSpec::MajoritiesRing,
    PartitionSpec::Bridge,
];

/// The ChaCha stream the nemesis draws from; workers use streams from 0 upward.
pub const NEMESIS_STREAM: u64 = u64::MAX;

/// What the nemesis should do, and how hard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NemesisConfig {
    /// The kinds of fault to inject; empty for none.
    pub kinds: Vec<FaultKind>,
    /// Time between nemesis operations (`--nemesis-interval`, default 10 s).
    pub interval: Duration,
    /// Share of packets a loss fault drops, percent.
    pub loss_percent: u8,
    /// How long each stop of a slow fault lasts, ms.
    pub slow_pause_ms: u64,
    /// How long the process runs between stops of a slow fault, ms.
    pub slow_run_ms: u64,
    /// The largest clock offset, ms; offsets are drawn from 1..=this, either sign.
    pub clock_max_offset_ms: u64,
    /// How long each state of a clock strobe lasts, ms.
    pub clock_strobe_period_ms: u64,
    /// A delay fault's mean delay, ms.
    pub delay_ms: u64,
    /// A delay fault's jitter, ms.
    pub delay_jitter_ms: u64,
    /// Share of packets a duplicate fault sends twice, percent.
    pub duplicate_percent: u8,
    /// Share of packets a reorder fault sends at once, percent.
    pub reorder_percent: u8,
    /// How long a reorder fault delays the other packets, ms.
    pub reorder_delay_ms: u64,
    /// How fast a `clock-rate` fault runs a clock (a slow one runs at its inverse).
    pub clock_rate: f64,
    /// Share of packets a corrupt fault damages, percent.
    pub corrupt_percent: u8,
    /// A bandwidth fault's rate, kbit/s.
    pub bandwidth_kbit: u64,
    /// `--nemesis auto` or `random`: draw from the whole catalogue instead of `kinds`.
    pub adaptive: Option<Adaptive>,
}

/// What `--nemesis auto` and `random` draw from, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adaptive {
    /// Learn from effects, or draw uniformly.
    pub policy: Policy,
    /// The database names its primaries: primaries targets and partitions apply.
    pub names_primaries: bool,
    /// faultline-clock reaches monotonic clocks (Docker nodes).
    pub monotonic_clocks: bool,
    /// The workload grants locks: the lock holder's node is a target.
    #[serde(default)]
    pub grants_locks: bool,
}

impl Default for NemesisConfig {
    fn default() -> Self {
        NemesisConfig {
            kinds: Vec::new(),
            interval: Duration::from_secs(10),
            loss_percent: 20,
            slow_pause_ms: 100,
            slow_run_ms: 400,
            clock_max_offset_ms: 60_000,
            clock_strobe_period_ms: 250,
            delay_ms: 100,
            delay_jitter_ms: 50,
            duplicate_percent: 5,
            reorder_percent: 25,
            reorder_delay_ms: 50,
            clock_rate: 4.0,
            corrupt_percent: 5,
            bandwidth_kbit: 1000,
            adaptive: None,
        }
    }
}

/// One step of the schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NemesisOp {
    /// Inflict this fault.
    Start(Fault),
    /// Heal the active fault of this class.
    Stop(FaultClass),
}

impl NemesisOp {
    /// The history `f`: `start-partition`, `stop-kill`, ...
    pub fn f(&self) -> &'static str {
        match self {
            NemesisOp::Start(fault) => fault.class().start_f(),
            NemesisOp::Stop(class) => class.stop_f(),
        }
    }

    /// The history value of the invocation: the fault, or the class being healed.
    pub fn value(&self) -> Value {
        match self {
            NemesisOp::Start(fault) => serde_json::to_value(fault).unwrap_or(Value::Null),
            NemesisOp::Stop(class) => json!({ "fault": class.name() }),
        }
    }
}

/// A schedule that cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    /// Faults need nodes to land on.
    #[error("the nemesis needs at least one node")]
    NoNodes,
    /// A zero interval would spin.
    #[error("--nemesis-interval must be greater than zero")]
    ZeroInterval,
    /// Loss above 100%.
    #[error("loss percent {0} is above 100")]
    LossPercent(u8),
    /// A duplicate, reorder or corrupt share above 100%.
    #[error("{0} percent {1} is above 100")]
    NetemPercent(&'static str, u8),
    /// A clock rate that is not a positive speed-up (or at most 1000).
    #[error("clock rate {0} must be above 1 and at most 1000 (a slow clock runs at its inverse)")]
    ClockRate(f64),
    /// A zero bandwidth would stop all traffic: that is a partition.
    #[error("bandwidth must be at least 1 kbit/s")]
    Bandwidth,
}

/// The nemesis schedule: an endless, seeded sequence of timed operations.
#[derive(Clone, Debug)]
pub struct Schedule {
    nodes: Vec<String>,
    config: NemesisConfig,
    rng: ChaCha8Rng,
    step: u32,
    active: BTreeSet<FaultClass>,
    adaptive: Option<AdaptiveState>,
}

/// An adaptive schedule's state: the learner (shared by the runs of a series), the fault
/// running now, the one whose effect is awaited, when the next may start, and the faults
/// scored so far.
#[derive(Clone, Debug)]
struct AdaptiveState {
    bandit: Arc<Mutex<Bandit>>,
    running: Option<Running>,
    unscored: Option<(Choice, Fault)>,
    next_start: Duration,
    scored: Vec<Scored>,
}

/// An adaptive schedule's fault in force.
#[derive(Clone, Debug)]
struct Running {
    /// When it stops: its start plus its duration, moved by [`Schedule::took_effect`].
    stop_at: Duration,
    choice: Choice,
    duration: Duration,
    /// The fault as started, to replay as is if it finds an anomaly.
    fault: Fault,
}

/// A fault this run scored: when it took effect (on the caller's clock), what it was, what
/// it earned, and whether it failed to apply.
#[derive(Clone, Debug)]
struct Scored {
    began: Duration,
    choice: Choice,
    fault: Fault,
    score: f64,
    failed: bool,
}

impl Schedule {
    /// A schedule over `nodes`, drawing from `seed`.
    pub fn new(
        nodes: Vec<String>,
        config: NemesisConfig,
        seed: u64,
    ) -> Result<Self, ScheduleError> {
        if nodes.is_empty() && !config.kinds.is_empty() {
            return Err(ScheduleError::NoNodes);
        }
        if config.interval.is_zero() {
            return Err(ScheduleError::ZeroInterval);
        }
        if config.loss_percent > 100 {
            return Err(ScheduleError::LossPercent(config.loss_percent));
        }
        for (name, percent) in [
            ("duplicate", config.duplicate_percent),
            ("reorder", config.reorder_percent),
            ("corrupt", config.corrupt_percent),
        ] {
            if percent > 100 {
                return Err(ScheduleError::NetemPercent(name, percent));
            }
        }
        if !(config.clock_rate > 1.0 && config.clock_rate <= 1000.0) {
            return Err(ScheduleError::ClockRate(config.clock_rate));
        }
        if config.bandwidth_kbit == 0 {
            return Err(ScheduleError::Bandwidth);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(NEMESIS_STREAM);
        let adaptive = config.adaptive.map(|a| AdaptiveState {
            bandit: Arc::new(Mutex::new(Bandit::new(
                a.policy,
                Catalogue::new(a.names_primaries, a.monotonic_clocks, a.grants_locks),
            ))),
            running: None,
            unscored: None,
            next_start: GAP,
            scored: Vec::new(),
        });
        Ok(Schedule {
            nodes,
            config,
            rng,
            step: 0,
            active: BTreeSet::new(),
            adaptive,
        })
    }

    /// An adaptive schedule's learner, to hand to the next run of a series with
    /// [`Schedule::learning_from`]; `None` for a fixed schedule.
    pub fn bandit(&self) -> Option<Arc<Mutex<Bandit>>> {
        self.adaptive.as_ref().map(|a| a.bandit.clone())
    }

    /// This schedule, continuing to learn with `bandit` (what earlier runs taught).
    pub fn learning_from(mut self, bandit: Arc<Mutex<Bandit>>) -> Self {
        if let Some(a) = &mut self.adaptive {
            a.bandit = bandit;
        }
        self
    }

    /// Whether faults are drawn from the whole catalogue (`auto`, `random`).
    pub fn is_adaptive(&self) -> bool {
        self.adaptive.is_some()
    }

    /// Tells an adaptive schedule that the fault it last started took effect at `at` (on the
    /// clock of [`Schedule::next_op`]'s times): later than planned when it waited for its
    /// trigger (a lock grant, a write's acknowledgement, up to 2 s) or its commands were
    /// slow. Its stop moves so that it lasts its whole duration: a pause meant to outlast a
    /// 2 s lease must not be cut to a fraction of it. A fixed schedule keeps its timeline.
    pub fn took_effect(&mut self, at: Duration) {
        if let Some(a) = &mut self.adaptive {
            if let Some(r) = &mut a.running {
                r.stop_at = r.stop_at.max(at + r.duration);
            }
        }
    }

    /// Tells an adaptive schedule that the fault it last started was aimed at what the run
    /// reveals (the lock holder, the last writer) and the run named nothing, so it landed on
    /// the schedule's draw: its target taught nothing and stays untried. After a partition,
    /// the lock's clients may go seconds without a grant; a pause meant for the holder then
    /// lands on a random node, and the lock holder must not count as tried and dull.
    pub fn could_not_aim(&mut self) {
        if let Some(r) = self.adaptive.as_mut().and_then(|a| a.running.as_mut()) {
            r.choice.target = None;
        }
    }

    /// Tells an adaptive schedule what the fault it last stopped did, which took effect at
    /// `began`, and returns the line for the run's log that says what it has learned; nothing
    /// for a fixed schedule. A fault still in force (the run ended first) is scored as it
    /// stands.
    pub fn observe(&mut self, effect: &Effect, began: Duration) -> Option<String> {
        let a = self.adaptive.as_mut()?;
        let (choice, fault) = match a.unscored.take() {
            Some(unscored) => unscored,
            None => a.running.as_ref().map(|r| (r.choice, r.fault.clone()))?,
        };
        let score = effect.score();
        a.scored.push(Scored {
            began,
            choice,
            fault,
            score,
            failed: effect.failed,
        });
        let mut bandit = a.bandit.lock().unwrap_or_else(|p| p.into_inner());
        bandit.learn(choice, effect);
        Some(format!(
            "{} nemesis: effect score {score:.2}; mean score per fault so far: {}",
            bandit.policy().name(),
            means_line(&bandit)
        ))
    }

    /// Tells an adaptive schedule that an anomalous operation completed at `at` (on the clock
    /// of [`Schedule::observe`]'s `began`): the last scored fault that took effect by then,
    /// in force or in its aftermath, found it, and [`Bandit::credit_anomaly`] raises it to
    /// the strongest effect. The check that sees an anomaly may lag its operation by seconds,
    /// by when another fault is in force; that one did not find it. Returns the log line;
    /// nothing for a fixed schedule, an anomaly before the first fault, or one under a fault
    /// that failed to apply (nothing was in force).
    pub fn credit_anomaly(&mut self, at: Duration) -> Option<String> {
        let a = self.adaptive.as_mut()?;
        let finder = a.scored.iter().rev().find(|s| s.began <= at)?;
        if finder.failed {
            return None;
        }
        let mut bandit = a.bandit.lock().unwrap_or_else(|p| p.into_inner());
        bandit.credit_anomaly(finder.choice, finder.score, Some(finder.fault.clone()));
        let kind = bandit.fault_means()[finder.choice.fault].0;
        let policy = bandit.policy();
        let replayed = match (policy, drawn_nodes(&finder.fault)) {
            (Policy::Auto, true) => ", tried again first, on the same nodes",
            (Policy::Auto, false) => ", tried again first, aimed as before",
            (Policy::Random, _) => "",
        };
        Some(format!(
            "{} nemesis: the anomaly at {:.1} s came under {} (from {:.1} s){replayed}; mean score per fault so far: {}",
            policy.name(),
            at.as_secs_f64(),
            arm_name(&kind),
            finder.began.as_secs_f64(),
            means_line(&bandit)
        ))
    }

    /// The configuration.
    pub fn config(&self) -> &NemesisConfig {
        &self.config
    }

    /// The classes the schedule has started and not yet stopped.
    pub fn active(&self) -> &BTreeSet<FaultClass> {
        &self.active
    }

    /// The next operation and when it is due, measured from the start of the test;
    /// `None` when no kinds were requested.
    pub fn next_op(&mut self) -> Option<(Duration, NemesisOp)> {
        if self.adaptive.is_some() {
            return Some(self.next_adaptive_op());
        }
        let kind = *self.config.kinds.choose(&mut self.rng)?;
        self.step += 1;
        let at = self.config.interval * self.step;
        let class = kind.class();
        let op = if self.active.remove(&class) {
            NemesisOp::Stop(class)
        } else {
            self.active.insert(class);
            NemesisOp::Start(self.fault(kind))
        };
        Some((at, op))
    }

    /// The adaptive schedule's next step: stop the running fault when its time is up, or
    /// after a quiet gap start the next one the bandit chooses.
    fn next_adaptive_op(&mut self) -> (Duration, NemesisOp) {
        let a = self.adaptive.as_mut().expect("adaptive schedule");
        if let Some(Running {
            stop_at,
            choice,
            fault,
            ..
        }) = a.running.take()
        {
            let class = fault.class();
            a.unscored = Some((choice, fault));
            let jitter = GAP.mul_f64(self.rng.random_range(0.0..1.0));
            a.next_start = stop_at + GAP + jitter;
            self.active.remove(&class);
            return (stop_at, NemesisOp::Stop(class));
        }
        let start_at = a.next_start;
        let (kind, duration, choice, replayed) = {
            let bandit = a.bandit.lock().unwrap_or_else(|p| p.into_inner());
            let (kind, duration, choice) = bandit.choose(&mut self.rng);
            (kind, duration, choice, bandit.replayed_fault(choice))
        };
        let fault = replayed.unwrap_or_else(|| self.fault(kind));
        let class = fault.class();
        self.active.insert(class);
        let a = self.adaptive.as_mut().expect("adaptive schedule");
        a.running = Some(Running {
            stop_at: start_at + duration,
            choice,
            duration,
            fault: fault.clone(),
        });
        (start_at, NemesisOp::Start(fault))
    }

    /// Stops for every active class, in class order; afterwards nothing is active.
    pub fn heal_all(&mut self) -> Vec<NemesisOp> {
        std::mem::take(&mut self.active)
            .into_iter()
            .map(NemesisOp::Stop)
            .collect()
    }

    /// Every operation due before `until`, then the final heal at `until`.
    pub fn plan(&mut self, until: Duration) -> Vec<(Duration, NemesisOp)> {
        let mut ops = Vec::new();
        loop {
            let before = (
                self.step,
                self.active.clone(),
                self.rng.clone(),
                self.adaptive.clone(),
            );
            match self.next_op() {
                Some((at, op)) if at < until => ops.push((at, op)),
                _ => {
                    (self.step, self.active, self.rng, self.adaptive) = before;
                    break;
                }
            }
        }
        ops.extend(self.heal_all().into_iter().map(|op| (until, op)));
        ops
    }

    /// The target nodes for `targets` (random spec if `None`), and how they are chosen: the
    /// primaries are resolved only when the fault is applied (empty here); a live aim gets
    /// one node drawn here, which it keeps if the run names none when the fault starts.
    fn targets(&mut self, targets: Option<Targets>) -> (Vec<String>, Aim) {
        let aim = targets.map_or(Aim::Drawn, Targets::aim);
        let spec = match targets {
            Some(Targets::Primaries) => return (Vec::new(), aim),
            Some(Targets::Live(_)) => NodeSpec::One,
            Some(Targets::Spec(spec)) => spec,
            None => *NodeSpec::ALL
                .choose(&mut self.rng)
                .unwrap_or(&NodeSpec::One),
        };
        let mut chosen: Vec<String> = self
            .nodes
            .choose_multiple(&mut self.rng, spec.count(self.nodes.len()))
            .cloned()
            .collect();
        chosen.sort_by_key(|n| self.nodes.iter().position(|m| m == n));
        (chosen, aim)
    }

    fn fault(&mut self, kind: FaultKind) -> Fault {
        let c = &self.config;
        let (loss, pause_ms, run_ms, max_offset, period) = (
            c.loss_percent,
            c.slow_pause_ms,
            c.slow_run_ms,
            c.clock_max_offset_ms.max(1),
            c.clock_strobe_period_ms,
        );
        match kind {
            FaultKind::Partition(spec) => {
                let spec = spec.unwrap_or_else(|| {
                    *RANDOM_PARTITIONS
                        .choose(&mut self.rng)
                        .unwrap_or(&PartitionSpec::Halves)
                });
                let grudge = spec.grudge(&self.nodes, &mut self.rng);
                Fault::Partition { spec, grudge }
            }
            FaultKind::Loss(t) => {
                let (nodes, aim) = self.targets(t);
                Fault::Loss {
                    nodes,
                    aim,
                    percent: loss,
                }
            }
            FaultKind::Pause(t) => {
                let (nodes, aim) = self.targets(t);
                Fault::Pause { nodes, aim }
            }
            FaultKind::Slow(t) => {
                let (nodes, aim) = self.targets(t);
                Fault::Slow {
                    nodes,
                    aim,
                    pause_ms,
                    run_ms,
                }
            }
            FaultKind::Kill(t) => {
                let (nodes, aim) = self.targets(t);
                Fault::Kill { nodes, aim }
            }
            FaultKind::Clock(kind) => {
                let clock_rate = c.clock_rate;
                let monotonic = kind.clock == ClockSource::Monotonic;
                let mode = kind
                    .mode
                    .unwrap_or(match (self.rng.random_bool(0.5), monotonic) {
                        (true, _) => ClockMode::Bump,
                        (false, false) => ClockMode::Strobe,
                        (false, true) => ClockMode::Rate,
                    });
                let (nodes, aim) = self.targets(kind.targets);
                let magnitude = self.rng.random_range(1..=max_offset) as i64;
                let forward = match kind.direction {
                    // A monotonic clock never jumps back.
                    _ if monotonic && mode == ClockMode::Bump => true,
                    Some(d) => d == ClockDirection::Forward,
                    None => self.rng.random_bool(0.5),
                };
                let (offset_ms, rate) = match mode {
                    ClockMode::Rate => (
                        0,
                        Some(if forward {
                            clock_rate
                        } else {
                            1.0 / clock_rate
                        }),
                    ),
                    _ if forward => (magnitude, None),
                    _ => (-magnitude, None),
                };
                let period_ms = if mode == ClockMode::Strobe { period } else { 0 };
                Fault::Clock {
                    nodes,
                    aim,
                    clock: kind.clock,
                    mode,
                    offset_ms,
                    period_ms,
                    rate,
                }
            }
            FaultKind::Netem(kind, t) => {
                let effect = match kind {
                    NetemKind::Delay => NetemEffect::Delay {
                        delay_ms: c.delay_ms,
                        jitter_ms: c.delay_jitter_ms,
                    },
                    NetemKind::Duplicate => NetemEffect::Duplicate {
                        percent: c.duplicate_percent,
                    },
                    NetemKind::Reorder => NetemEffect::Reorder {
                        percent: c.reorder_percent,
                        delay_ms: c.reorder_delay_ms,
                    },
                    NetemKind::Corrupt => NetemEffect::Corrupt {
                        percent: c.corrupt_percent,
                    },
                    NetemKind::Bandwidth => NetemEffect::Bandwidth {
                        kbit: c.bandwidth_kbit,
                    },
                };
                let (nodes, aim) = self.targets(t);
                Fault::Netem { nodes, aim, effect }
            }
            FaultKind::Storage(kind, t) => {
                let action = match kind {
                    StorageKind::LoseUnfsynced => StorageAction::LoseUnfsynced,
                    StorageKind::DiskError => StorageAction::DiskError {
                        errno: if self.rng.random_bool(0.5) {
                            DiskErrno::EIO
                        } else {
                            DiskErrno::ENOSPC
                        },
                    },
                    StorageKind::CorruptFile(mode) => StorageAction::CorruptFile {
                        mode: mode.unwrap_or(if self.rng.random_bool(0.5) {
                            CorruptMode::Bitflip
                        } else {
                            CorruptMode::Truncate
                        }),
                        seed: self.rng.random(),
                    },
                };
                let (nodes, aim) = self.targets(t);
                Fault::Storage {
                    nodes,
                    aim,
                    action,
                    outcome: Default::default(),
                    at_heal: Default::default(),
                }
            }
            FaultKind::Membership(t) => {
                // One node leaves: a random one unless aimed at the primary.
                let (nodes, aim) = self.targets(t.or(Some(Targets::Spec(NodeSpec::One))));
                Fault::Membership {
                    nodes,
                    aim,
                    before: Vec::new(),
                    after: Vec::new(),
                    outcome: Default::default(),
                }
            }
        }
    }
}

/// Whether the fault's nodes are the schedule's own draw, which a replay keeps, rather than
/// resolved when it starts (the primaries, the lock holder), which a replay resolves afresh.
fn drawn_nodes(fault: &Fault) -> bool {
    match fault {
        Fault::Partition { spec, .. } => *spec != PartitionSpec::Primaries,
        other => other.aim().is_some_and(|aim| aim.is_drawn()),
    }
}

/// `fault mean, ...` for the log: what the bandit has learned.
fn means_line(bandit: &Bandit) -> String {
    bandit
        .fault_means()
        .into_iter()
        .filter_map(|(kind, mean)| mean.map(|m| format!("{} {m:.2}", arm_name(&kind))))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn config(kinds: &[&str], interval_s: u64) -> NemesisConfig {
        NemesisConfig {
            kinds: kinds.iter().map(|k| k.parse().unwrap()).collect(),
            interval: Duration::from_secs(interval_s),
            ..NemesisConfig::default()
        }
    }

    #[test]
    fn same_seed_same_plan_and_different_seed_differs() {
        let c = config(&["partition", "kill", "clock", "loss"], 10);
        let a = Schedule::new(nodes(5), c.clone(), 42)
            .unwrap()
            .plan(Duration::from_secs(600));
        let b = Schedule::new(nodes(5), c.clone(), 42)
            .unwrap()
            .plan(Duration::from_secs(600));
        let d = Schedule::new(nodes(5), c, 43)
            .unwrap()
            .plan(Duration::from_secs(600));
        assert_eq!(a, b);
        assert_ne!(a, d);
    }

    #[test]
    fn ops_come_every_interval_and_alternate_within_a_class() {
        let c = config(&["kill"], 7);
        let plan = Schedule::new(nodes(3), c, 1)
            .unwrap()
            .plan(Duration::from_secs(71));
        for (i, (at, _)) in plan.iter().take(10).enumerate() {
            assert_eq!(*at, Duration::from_secs(7 * (i as u64 + 1)));
        }
        let fs: Vec<&str> = plan.iter().map(|(_, op)| op.f()).collect();
        assert_eq!(
            fs[..4],
            ["start-kill", "stop-kill", "start-kill", "stop-kill"]
        );
        for op in &plan {
            if let (_, NemesisOp::Start(Fault::Kill { nodes, .. })) = op {
                assert!(!nodes.is_empty() && nodes.len() <= 3);
            }
        }
    }

    #[test]
    fn every_start_is_healed_by_the_end_and_several_kinds_overlap() {
        let c = config(&["partition", "pause", "clock"], 10);
        let until = Duration::from_secs(3000);
        let plan = Schedule::new(nodes(5), c, 9).unwrap().plan(until);
        let mut active = BTreeSet::new();
        let mut max_overlap = 0;
        for (at, op) in &plan {
            assert!(*at <= until);
            match op {
                NemesisOp::Start(f) => {
                    assert!(active.insert(f.class()), "{:?} started twice", f.class())
                }
                NemesisOp::Stop(c) => assert!(active.remove(c), "{c:?} stopped while inactive"),
            }
            max_overlap = max_overlap.max(active.len());
        }
        assert!(active.is_empty(), "final heal leaves nothing active");
        assert_eq!(max_overlap, 3, "three kinds eventually all overlap");
        let finals: Vec<_> = plan.iter().filter(|(at, _)| *at == until).collect();
        assert!(finals
            .iter()
            .all(|(_, op)| matches!(op, NemesisOp::Stop(_))));
    }

    #[test]
    fn targets_vary_with_the_seed_and_partitions_use_random_shapes() {
        let c = config(&["partition"], 1);
        let mut specs = BTreeSet::new();
        let mut grudges = BTreeSet::new();
        for (_, op) in Schedule::new(nodes(5), c, 3)
            .unwrap()
            .plan(Duration::from_secs(200))
        {
            if let NemesisOp::Start(Fault::Partition { spec, grudge }) = op {
                specs.insert(spec);
                grudges.insert(format!("{grudge:?}"));
                assert_eq!(grudge.len(), 5);
            }
        }
        assert_eq!(specs.len(), 5, "every shape but primaries: {specs:?}");
        assert!(grudges.len() > 10);
    }

    #[test]
    fn no_kinds_no_ops_and_bad_configs_are_rejected() {
        let mut s = Schedule::new(nodes(3), NemesisConfig::default(), 0).unwrap();
        assert_eq!(s.next_op(), None);
        assert!(s.plan(Duration::from_secs(100)).is_empty());
        assert_eq!(
            Schedule::new(vec![], config(&["kill"], 1), 0).unwrap_err(),
            ScheduleError::NoNodes
        );
        assert_eq!(
            Schedule::new(nodes(1), config(&["kill"], 0), 0).unwrap_err(),
            ScheduleError::ZeroInterval
        );
    }

    #[test]
    fn fixed_targets_directions_and_primaries_are_honoured() {
        let c = config(&["pause-minority", "clock-bump-forward-primaries"], 1);
        let plan = Schedule::new(nodes(5), c, 5)
            .unwrap()
            .plan(Duration::from_secs(100));
        let (mut pauses, mut clocks) = (0, 0);
        for (_, op) in plan {
            match op {
                NemesisOp::Start(Fault::Pause { nodes, aim }) => {
                    assert_eq!((nodes.len(), aim), (2, Aim::Drawn));
                    pauses += 1;
                }
                NemesisOp::Start(Fault::Clock {
                    nodes,
                    aim,
                    mode,
                    offset_ms,
                    ..
                }) => {
                    assert!(
                        nodes.is_empty() && aim == Aim::Primaries,
                        "resolved when applied"
                    );
                    assert_eq!(mode, ClockMode::Bump);
                    assert!(offset_ms > 0, "forward: {offset_ms}");
                    clocks += 1;
                }
                _ => {}
            }
        }
        assert!(pauses > 5 && clocks > 5, "{pauses} {clocks}");
        let v = NemesisOp::Start(Fault::Kill {
            nodes: vec![],
            aim: Aim::Primaries,
        })
        .value();
        assert_eq!(v, json!({"fault": "kill", "nodes": [], "aim": "primaries"}));
        // Histories written before aims said `"primaries": true`: still read as the primaries.
        let old: Fault =
            serde_json::from_value(json!({"fault": "kill", "nodes": [], "primaries": true}))
                .unwrap();
        assert_eq!(
            old.clone().targets_mut().map(|(_, a)| a),
            Some(Aim::Primaries)
        );
    }

    #[test]
    fn monotonic_clock_faults_only_move_forward() {
        let c = config(&["clock-monotonic", "clock-rate-wall-backward"], 1);
        let mut s = Schedule::new(nodes(3), c, 7).unwrap();
        let (mut bumps, mut rates, mut slow) = (0, 0, 0);
        for _ in 0..200 {
            if let Some((
                _,
                NemesisOp::Start(Fault::Clock {
                    clock,
                    mode,
                    offset_ms,
                    rate,
                    ..
                }),
            )) = s.next_op()
            {
                match (clock, mode) {
                    (ClockSource::Monotonic, ClockMode::Bump) => {
                        assert!(offset_ms > 0);
                        bumps += 1;
                    }
                    (ClockSource::Monotonic, ClockMode::Rate) => {
                        let r = rate.unwrap();
                        assert!(r == 4.0 || r == 0.25, "{r}");
                        rates += 1;
                    }
                    (ClockSource::Wall, ClockMode::Rate) => {
                        assert_eq!(rate, Some(0.25));
                        slow += 1;
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        assert!(bumps > 5 && rates > 5 && slow > 5, "{bumps} {rates} {slow}");
        let bad = NemesisConfig {
            clock_rate: 1.0,
            ..config(&["clock-rate"], 1)
        };
        assert_eq!(
            Schedule::new(nodes(3), bad, 1).unwrap_err(),
            ScheduleError::ClockRate(1.0)
        );
    }

    #[test]
    fn netem_kinds_share_one_class_and_carry_the_configured_effect() {
        let c = config(&["delay-one", "duplicate", "reorder-all"], 1);
        let plan = Schedule::new(nodes(3), c, 11)
            .unwrap()
            .plan(Duration::from_secs(300));
        let mut seen = BTreeSet::new();
        let mut active = false;
        for (_, op) in plan {
            match op {
                NemesisOp::Start(Fault::Netem { nodes, effect, .. }) => {
                    assert!(!active, "one netem fault at a time: one root qdisc");
                    active = true;
                    match effect {
                        NetemEffect::Delay {
                            delay_ms: 100,
                            jitter_ms: 50,
                        } => assert_eq!(nodes.len(), 1),
                        NetemEffect::Duplicate { percent: 5 } => assert!(!nodes.is_empty()),
                        NetemEffect::Reorder {
                            percent: 25,
                            delay_ms: 50,
                        } => assert_eq!(nodes.len(), 3),
                        other => panic!("unexpected {other:?}"),
                    }
                    seen.insert(effect.kind().name());
                }
                NemesisOp::Stop(FaultClass::Netem) => active = false,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(seen.len(), 3);
        let bad = NemesisConfig {
            reorder_percent: 101,
            ..config(&["reorder"], 1)
        };
        assert_eq!(
            Schedule::new(nodes(3), bad, 0).unwrap_err().to_string(),
            "reorder percent 101 is above 100"
        );
    }

    #[test]
    fn op_values_describe_targets() {
        let op = NemesisOp::Start(Fault::Pause {
            nodes: vec!["n2".into()],
            aim: Aim::Drawn,
        });
        assert_eq!(op.f(), "start-pause");
        assert_eq!(op.value(), json!({"fault": "pause", "nodes": ["n2"]}));
        assert_eq!(
            NemesisOp::Stop(FaultClass::Clock).value(),
            json!({"fault": "clock"})
        );
    }

    fn adaptive(policy: Policy) -> NemesisConfig {
        NemesisConfig {
            adaptive: Some(Adaptive {
                policy,
                names_primaries: true,
                monotonic_clocks: true,
                grants_locks: false,
            }),
            ..NemesisConfig::default()
        }
    }

    #[test]
    fn an_adaptive_schedule_runs_one_fault_at_a_time_with_quiet_gaps() {
        let mut s = Schedule::new(nodes(5), adaptive(Policy::Random), 3).unwrap();
        let plan = s.plan(Duration::from_secs(120));
        assert!(plan.len() > 10, "{} ops in 120 s", plan.len());
        let mut running: Option<(FaultClass, Duration)> = None;
        let mut last_stop = Duration::ZERO;
        for (at, op) in &plan {
            match op {
                NemesisOp::Start(fault) => {
                    assert!(running.is_none(), "two faults at once at {at:?}");
                    assert!(*at >= last_stop + GAP, "no quiet gap before {at:?}");
                    running = Some((fault.class(), *at));
                }
                NemesisOp::Stop(class) => {
                    let (started_class, started) = running.take().expect("a stop with no start");
                    assert_eq!(*class, started_class);
                    assert!(
                        crate::adaptive::DURATIONS.contains(&(*at - started))
                            || *at == Duration::from_secs(120)
                    );
                    last_stop = *at;
                }
            }
        }
        // Many kinds of fault, not one.
        let classes: BTreeSet<FaultClass> = plan
            .iter()
            .filter_map(|(_, op)| match op {
                NemesisOp::Start(f) => Some(f.class()),
                _ => None,
            })
            .collect();
        assert!(classes.len() >= 4, "{classes:?}");
    }

    #[test]
    fn an_adaptive_fault_that_took_effect_late_still_lasts_its_whole_duration() {
        let mut s = Schedule::new(nodes(5), adaptive(Policy::Auto), 4).unwrap();
        let (start, _) = s.next_op().unwrap();
        let (stop, _) = s.clone().next_op().unwrap();
        let duration = stop - start;
        assert!(crate::adaptive::DURATIONS.contains(&duration));
        // Taking effect on time, or early, changes nothing.
        s.took_effect(start);
        assert_eq!(s.clone().next_op().unwrap().0, stop);
        // 1.5 s late (a lock holder's grant awaited): the stop moves as much.
        let late = start + Duration::from_millis(1500);
        s.took_effect(late);
        let (moved, op) = s.next_op().unwrap();
        assert!(matches!(op, NemesisOp::Stop(_)));
        assert_eq!(moved, late + duration);
        // The quiet gap follows the moved stop.
        let (next, _) = s.next_op().unwrap();
        assert!(next >= moved + GAP, "{next:?} after {moved:?}");
        // A fixed schedule keeps its timeline.
        let fixed = NemesisConfig {
            kinds: vec!["pause".parse().unwrap()],
            ..NemesisConfig::default()
        };
        let mut f = Schedule::new(nodes(5), fixed.clone(), 4).unwrap();
        let planned = Schedule::new(nodes(5), fixed, 4)
            .unwrap()
            .plan(Duration::from_secs(60));
        f.next_op();
        f.took_effect(Duration::from_secs(30));
        assert_eq!(f.next_op().unwrap().0, planned[1].0);
    }

    #[test]
    fn an_adaptive_schedule_learns_only_what_it_is_told_and_shares_it_across_runs() {
        let mut first = Schedule::new(nodes(5), adaptive(Policy::Auto), 1).unwrap();
        assert!(
            first.observe(&Effect::default(), ZERO).is_none(),
            "nothing stopped yet"
        );
        let _start = first.next_op().unwrap();
        let _stop = first.next_op().unwrap();
        let line = first.observe(
            &Effect {
                leader_changes: 1,
                ..Effect::default()
            },
            ZERO,
        );
        assert!(line.unwrap().contains("effect score 1.00"));
        assert!(
            first.observe(&Effect::default(), ZERO).is_none(),
            "one effect per fault"
        );
        let bandit = first.bandit().unwrap();
        let second = Schedule::new(nodes(5), adaptive(Policy::Auto), 2)
            .unwrap()
            .learning_from(bandit.clone());
        assert!(Arc::ptr_eq(&second.bandit().unwrap(), &bandit));
        let fixed = Schedule::new(nodes(5), config(&["partition"], 10), 1).unwrap();
        assert!(fixed.bandit().is_none() && !fixed.is_adaptive());
    }

    const ZERO: Duration = Duration::ZERO;

    /// Starts and stops the next fault, scored as nothing at `began`; its class.
    fn play_one(s: &mut Schedule, began: Duration) -> FaultClass {
        let Some((_, NemesisOp::Start(fault))) = s.next_op() else {
            panic!("a start first");
        };
        s.next_op().unwrap();
        s.observe(&Effect::default(), began).unwrap();
        fault.class()
    }

    /// A fault aimed at the lock holder that landed on the schedule's draw, because the run
    /// named no holder, leaves the lock holder untried: the family's next fault aimed at
    /// nodes tries it.
    #[test]
    fn a_fault_that_could_not_be_aimed_leaves_its_target_untried() {
        let secs = Duration::from_secs;
        let mut locks = adaptive(Policy::Auto);
        if let Some(a) = &mut locks.adaptive {
            a.grants_locks = true;
        }
        // The aims of the first two faults of the first family aimed at nodes.
        let aims = |seed: u64, missed: bool| -> (usize, Vec<Aim>) {
            let mut s = Schedule::new(nodes(5), locks.clone(), seed).unwrap();
            let mut aims = Vec::new();
            let mut first = None;
            for _ in 0..60 {
                let Some((_, NemesisOp::Start(fault))) = s.next_op() else {
                    panic!("a start");
                };
                // The fault's family, as `adaptive::family` counts them.
                let family = match fault {
                    Fault::Pause { .. } | Fault::Kill { .. } | Fault::Slow { .. } => 1,
                    Fault::Clock { .. } => 2,
                    Fault::Loss { .. } | Fault::Netem { .. } => 3,
                    _ => 0,
                };
                if fault.aim().is_some() && *first.get_or_insert(family) == family {
                    if missed && aims.is_empty() {
                        s.could_not_aim();
                    }
                    aims.push(fault.aim().unwrap());
                }
                s.next_op().unwrap();
                s.observe(&Effect::default(), secs(1)).unwrap();
                if aims.len() == 2 {
                    break;
                }
            }
            (first.expect("a fault aimed at nodes"), aims)
        };
        for seed in 0..20 {
            let (family, aimed) = aims(seed, false);
            let live = crate::adaptive::live_first(family).map(Targets::aim);
            assert_eq!(aimed, live[..2], "seed {seed}");
            assert_eq!(aims(seed, true).1, [live[0], live[0]], "seed {seed}");
        }
    }

    /// A fault that found an anomaly is started again as it was: a clock jump of the same
    /// size on the same random pair of nodes, the same partition's halves. Drawn afresh, a
    /// replay of a jump that found Redis's lock landed on two other nodes three times and
    /// the replay ended. The next run of the series starts with it too.
    #[test]
    fn an_anomaly_s_fault_is_replayed_on_the_nodes_it_landed_on_in_this_run_and_the_next() {
        let secs = Duration::from_secs;
        for seed in 0..40 {
            let mut s = Schedule::new(nodes(5), adaptive(Policy::Auto), seed).unwrap();
            let Some((_, NemesisOp::Start(found))) = s.next_op() else {
                panic!("a start first");
            };
            s.next_op().unwrap();
            s.observe(&Effect::default(), secs(2)).unwrap();
            let line = s.credit_anomaly(secs(3)).expect("credited");
            let said = if drawn_nodes(&found) {
                "tried again first, on the same nodes"
            } else {
                "tried again first, aimed as before"
            };
            assert!(line.contains(said), "{line}");
            let Some((_, NemesisOp::Start(again))) = s.next_op() else {
                panic!("a start");
            };
            assert_eq!(again, found, "seed {seed}: replayed in this run");
            let mut next_run = Schedule::new(nodes(5), adaptive(Policy::Auto), seed + 1000)
                .unwrap()
                .learning_from(s.bandit().unwrap());
            let Some((_, NemesisOp::Start(first))) = next_run.next_op() else {
                panic!("a start first");
            };
            assert_eq!(first, found, "seed {seed}: replayed in the next run");
        }
    }

    /// The check sees an anomaly seconds after its operation completed, often when the next
    /// fault is in force: the fault in force (or in its aftermath) when the operation
    /// completed is the one credited and tried again.
    #[test]
    fn an_anomaly_is_credited_to_the_fault_in_force_when_its_operation_completed() {
        let secs = Duration::from_secs;
        let seed = (0..100)
            .find(|&seed| {
                let mut s = Schedule::new(nodes(5), adaptive(Policy::Auto), seed).unwrap();
                play_one(&mut s, secs(2)) != play_one(&mut s, secs(9))
            })
            .expect("two different classes in a row");
        let mut s = Schedule::new(nodes(5), adaptive(Policy::Auto), seed).unwrap();
        let finder = play_one(&mut s, secs(2));
        let later = play_one(&mut s, secs(9));
        assert!(s.credit_anomaly(secs(1)).is_none(), "before any fault");
        let line = s.credit_anomaly(secs(7)).expect("credited");
        assert!(line.contains("from 2.0 s), tried again first"), "{line}");
        let Some((_, NemesisOp::Start(next))) = s.next_op() else {
            panic!("a start");
        };
        assert_eq!(
            next.class(),
            finder,
            "the finder is replayed, not {later:?}"
        );
        let mut random = Schedule::new(nodes(5), adaptive(Policy::Random), seed).unwrap();
        play_one(&mut random, secs(2));
        let line = random.credit_anomaly(secs(7)).expect("credited");
        assert!(
            !line.contains("tried again"),
            "random never replays: {line}"
        );
        let mut fixed = Schedule::new(nodes(5), config(&["partition"], 10), 1).unwrap();
        assert!(fixed.credit_anomaly(secs(7)).is_none());
        // A fault that did not apply found nothing.
        let mut s = Schedule::new(nodes(5), adaptive(Policy::Auto), seed).unwrap();
        s.next_op().unwrap();
        s.next_op().unwrap();
        let failed = Effect {
            failed: true,
            ..Effect::default()
        };
        s.observe(&failed, secs(2)).unwrap();
        assert!(s.credit_anomaly(secs(3)).is_none());
    }
}
