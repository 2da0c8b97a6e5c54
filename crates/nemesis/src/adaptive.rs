//! `--nemesis auto` and `--nemesis random`: faults drawn from the whole catalogue that applies
//! to the database, with random targets and durations, where `auto` learns from their effects.
//!
//! A fault is chosen along independent dimensions: what ([`Catalogue::faults`]: every
//! partition shape, pause, kill, slow, loss, delay, clock jumps), where ([`Catalogue::targets`],
//! for faults aimed at nodes) and for how long ([`DURATIONS`]). `random` draws each uniformly,
//! the baseline. `auto` keeps a UCB1 bandit per dimension (Auer et al. 2002, with a smaller
//! exploration weight). It chooses a kind's family ([`FAMILIES`]) before the kind: a family
//! is worth its best kind's mean, a kind never tried counting as [`UNTRIED_KIND`], and it
//! opens with its strongest kind ([`OPENINGS`]: the partition that isolates the primaries,
//! where the database names them, a pause, a monotonic clock jump). Targets are learned per
//! family, and those the live run reveals (the lock holder, the primaries, the last writer,
//! the busiest node: [`live_first`]) are tried before nodes drawn at random. Durations are
//! learned per family too, and a family's first fault lasts [`OPENING_DURATION`]. Every
//! fault is rewarded with the effect it had on the clients ([`Effect::score`]), raised to 1
//! for the fault in force when an anomalous operation completed ([`Bandit::credit_anomaly`]):
//! fault kinds, targets and durations that bit are tried more often, and ones that never do
//! less. The fault that found an anomaly is tried again first, as it was started (on the
//! same nodes), and the next run of a series starts with it, each replay after a miss lasting
//! longer, until [`REPLAY_MISSES`] replays in a row find nothing. The
//! bandit sees effects only, never which database or workload runs, and it lives as long as
//! the test, so the runs of a `--test-count` series learn from the ones before them.
//!
//! Every draw comes from the schedule's seeded stream, so given the same effects the same
//! seed gives the same schedule; the schedule chosen is written into the history as usual.

use crate::fault::{Aim, Fault, NodeSpec, Targets};
use crate::fault::{ClockDirection, ClockKind, ClockMode, ClockSource, FaultKind, NetemKind};
use crate::grudge::PartitionSpec;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long an adaptive fault lasts: short, medium, long.
pub const DURATIONS: [Duration; 3] = [
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];

/// How long a family's first fault lasts under `auto` (an index into [`DURATIONS`]): the
/// middle length. A database's failure detectors and leases run for a second to a few (an
/// election timeout, a replica declared down after 2 s, a 2 s lease); a 2 s opening often
/// ends just before they act and scores nothing where 4 s would have found the bug, and
/// 8 s takes a quarter of a 30 s run.
pub const OPENING_DURATION: usize = 1;

/// The quiet time between a heal and the next fault (plus up to as much again, at random):
/// long enough to see the clients recover, short enough for several faults a run.
pub const GAP: Duration = Duration::from_millis(1500);

/// How faults are chosen from the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Learn from effects (UCB1 per dimension).
    Auto,
    /// Uniformly at random: the baseline.
    Random,
}

impl Policy {
    /// The `--nemesis` name.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Auto => "auto",
            Policy::Random => "random",
        }
    }
}

/// What the database allows the nemesis to draw from.
#[derive(Clone, Debug, PartialEq)]
pub struct Catalogue {
    /// Fault kinds; those aimed at nodes have no targets (the target dimension gives them).
    pub faults: Vec<FaultKind>,
    /// Where faults aimed at nodes land.
    pub targets: Vec<Targets>,
}

impl Catalogue {
    /// Everything that applies: primaries targets and the primaries partition only where the
    /// database names its primaries, monotonic clocks only where faultline-clock reaches them,
    /// the lock holder's node only where the workload grants locks. The last writer's node and
    /// the busiest node are targets in every run.
    pub fn new(names_primaries: bool, monotonic_clocks: bool, grants_locks: bool) -> Catalogue {
        let mut faults: Vec<FaultKind> = [
            PartitionSpec::Halves,
            PartitionSpec::One,
            PartitionSpec::MajoritiesRing,
            PartitionSpec::Bridge,
        ]
        .into_iter()
        .chain(names_primaries.then_some(PartitionSpec::Primaries))
        .map(|spec| FaultKind::Partition(Some(spec)))
        .collect();
        faults.extend([
            FaultKind::Pause(None),
            FaultKind::Kill(None),
            FaultKind::Slow(None),
            FaultKind::Loss(None),
            FaultKind::Netem(NetemKind::Delay, None),
            clock(ClockSource::Wall, ClockDirection::Forward),
            clock(ClockSource::Wall, ClockDirection::Backward),
        ]);
        if monotonic_clocks {
            faults.push(clock(ClockSource::Monotonic, ClockDirection::Forward));
        }
        let mut targets: Vec<Targets> = [NodeSpec::One, NodeSpec::Minority, NodeSpec::Majority]
            .into_iter()
            .map(Targets::Spec)
            .collect();
        if names_primaries {
            targets.push(Targets::Primaries);
        }
        targets.extend([Aim::LastWriter, Aim::Busiest].map(Targets::Live));
        if grants_locks {
            targets.push(Targets::Live(Aim::LockHolder));
        }
        Catalogue { faults, targets }
    }
}

const fn clock(source: ClockSource, direction: ClockDirection) -> FaultKind {
    FaultKind::Clock(ClockKind {
        clock: source,
        mode: Some(ClockMode::Bump),
        direction: Some(direction),
        targets: None,
    })
}

/// What a fault did to the clients, counted over its window and over the quiet time before it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Effect {
    /// Client completions (ok, fail, info) in the quiet time before the fault.
    pub before_total: u64,
    /// Of those, `fail` and `info`.
    pub before_bad: u64,
    /// Seconds of quiet time counted.
    pub before_s: f64,
    /// Client completions from the fault's start to shortly after its heal.
    pub during_total: u64,
    /// Of those, `fail` and `info`.
    pub during_bad: u64,
    /// Seconds of the fault's window counted.
    pub during_s: f64,
    /// Leader changes seen in the window.
    pub leader_changes: u64,
    /// Whether the fault could not be applied (it then taught nothing).
    pub failed: bool,
}

impl Effect {
    /// How much the fault bit, in 0..=1: the rise in the share of failed and indeterminate
    /// operations, the fall in completions a second, and a leader change, whichever is most.
    /// (An anomaly found is worth 1: [`Bandit::credit_anomaly`].)
    pub fn score(&self) -> f64 {
        if self.failed {
            return 0.0;
        }
        let share = |bad: u64, total: u64| bad as f64 / total.max(1) as f64;
        let errors =
            share(self.during_bad, self.during_total) - share(self.before_bad, self.before_total);
        let rate = |n: u64, s: f64| n as f64 / s.max(0.001);
        let before_rate = rate(self.before_total - self.before_bad, self.before_s);
        let during_rate = rate(self.during_total - self.during_bad, self.during_s);
        let slowdown = if before_rate > 0.0 {
            1.0 - during_rate / before_rate
        } else {
            0.0
        };
        let leader = if self.leader_changes > 0 { 1.0 } else { 0.0 };
        errors.max(slowdown).max(leader).clamp(0.0, 1.0)
    }
}

/// The kinds `auto` tries first in their family, where the catalogue has them: the
/// strongest form of the family's fault. The partition that isolates the primaries, since a
/// leader cut off from its followers is where a partition loses acknowledged writes or
/// serves stale reads; a pause, a node stopped outright for the whole fault (a GC pause, a
/// stalled VM), where leases and locks outlive their holder's belief in them; a forward jump
/// of the monotonic clock, where faultline-clock reaches it, the clock that leases, timeouts
/// and failure detectors measure with (a wall-clock jump reaches only what stamps or expires
/// by the calendar). A milder form tried first (a replica cut off alone, `slow`'s stutter, a
/// wall clock the database never reads) may score nothing and make the family look dull
/// while it holds the fault that bites.
pub const OPENINGS: [FaultKind; 3] = [
    FaultKind::Partition(Some(PartitionSpec::Primaries)),
    FaultKind::Pause(None),
    clock(ClockSource::Monotonic, ClockDirection::Forward),
];

/// The targets `auto` tries first, in this order, where the catalogue has them: what the live
/// run reveals, before nodes drawn at random. A fault on the node serving the lock holder,
/// on the primaries or on the node that acknowledged the last write puts at risk what the
/// database has just promised; a random node is often an idle follower, and with seven
/// targets tried one by one (partitions take none) a series could end before the one that
/// matters came up.
pub const LIVE_FIRST: [Targets; 4] = [
    Targets::Live(Aim::LockHolder),
    Targets::Primaries,
    Targets::Live(Aim::LastWriter),
    Targets::Live(Aim::Busiest),
];

/// The order [`LIVE_FIRST`] takes for clock faults: the primaries first. A clock matters
/// where time is decided, and in a replicated database the primary decides it: it expires
/// leases and stamps time. The lock holder's node, where it is a follower that forwards the
/// holder's requests, decides nothing by its clock.
pub const CLOCK_LIVE_FIRST: [Targets; 4] = [
    Targets::Primaries,
    Targets::Live(Aim::LockHolder),
    Targets::Live(Aim::LastWriter),
    Targets::Live(Aim::Busiest),
];

/// The live targets in the order `auto` tries them for faults of `family` ([`FAMILIES`]).
pub fn live_first(family: usize) -> [Targets; 4] {
    if FAMILIES[family] == "clock" {
        CLOCK_LIVE_FIRST
    } else {
        LIVE_FIRST
    }
}

/// What a fault kind never tried is worth to its family's value (`Bandit::family_value`):
/// less than a kind that bit every time, so a family whose faults all bite keeps its lead for
/// a while, but enough that a family whose first kinds scored nothing has its others tried
/// within a series of five runs (about 25 faults), where 0.5 left some untried.
pub const UNTRIED_KIND: f64 = 0.75;

/// UCB1's weight on exploration. The textbook `sqrt(2)` suits long horizons; a series gets
/// tens of faults, not thousands, and with rewards in 0..=1 it would go on retrying faults
/// that never bit, so the bonus is smaller.
const EXPLORATION: f64 = 0.5;

/// One dimension's arms: pulls and summed rewards.
#[derive(Clone, Debug, Default, PartialEq)]
struct Arms {
    pulls: Vec<u32>,
    rewards: Vec<f64>,
}

impl Arms {
    fn new(n: usize) -> Arms {
        Arms {
            pulls: vec![0; n],
            rewards: vec![0.0; n],
        }
    }

    /// UCB1 among the arms `among`: an untried one first (at random among them), else the
    /// highest mean reward plus `EXPLORATION * sqrt(ln N / n)`; ties broken at random.
    fn ucb1(&self, among: &[usize], rng: &mut impl Rng) -> usize {
        self.ucb1_valued(among, |i| self.rewards[i] / f64::from(self.pulls[i]), rng)
    }

    /// UCB1 among `among` with each tried arm's value given by `value` (its mean, for
    /// [`Arms::ucb1`]) and the exploration bonus from its pulls.
    fn ucb1_valued(
        &self,
        among: &[usize],
        value: impl Fn(usize) -> f64,
        rng: &mut impl Rng,
    ) -> usize {
        let untried: Vec<usize> = among
            .iter()
            .copied()
            .filter(|&i| self.pulls[i] == 0)
            .collect();
        if !untried.is_empty() {
            return untried[rng.random_range(0..untried.len())];
        }
        let total: f64 = among.iter().map(|&i| f64::from(self.pulls[i])).sum();
        let score = |i: usize| {
            let n = f64::from(self.pulls[i]);
            value(i) + EXPLORATION * (total.ln() / n).sqrt()
        };
        let best = among.iter().map(|&i| score(i)).fold(f64::MIN, f64::max);
        let ties: Vec<usize> = among
            .iter()
            .copied()
            .filter(|&i| score(i) >= best - 1e-12)
            .collect();
        ties[rng.random_range(0..ties.len())]
    }

    /// An arm among `among`, by the policy.
    fn pick_among(&self, policy: Policy, among: &[usize], rng: &mut impl Rng) -> usize {
        match policy {
            Policy::Auto => self.ucb1(among, rng),
            Policy::Random => among[rng.random_range(0..among.len())],
        }
    }

    /// Any arm, by the policy.
    fn pick(&self, policy: Policy, rng: &mut impl Rng) -> usize {
        let all: Vec<usize> = (0..self.pulls.len()).collect();
        self.pick_among(policy, &all, rng)
    }

    fn reward(&mut self, arm: usize, pulls: u32, reward: f64) {
        self.pulls[arm] += pulls;
        self.rewards[arm] += reward;
    }

    fn mean(&self, arm: usize) -> Option<f64> {
        (self.pulls[arm] > 0).then(|| self.rewards[arm] / f64::from(self.pulls[arm]))
    }
}

/// The families fault kinds fall in: `auto` first chooses a family, then a kind in it, so it
/// learns which family bites after a handful of faults rather than after trying every kind.
pub const FAMILIES: [&str; 5] = ["network", "process", "clock", "packet", "storage"];

/// The index in [`FAMILIES`] of a fault kind's family.
pub fn family(kind: &FaultKind) -> usize {
    match kind {
        FaultKind::Partition(_) => 0,
        FaultKind::Pause(_) | FaultKind::Kill(_) | FaultKind::Slow(_) => 1,
        FaultKind::Clock(_) => 2,
        FaultKind::Loss(_) | FaultKind::Netem(..) => 3,
        FaultKind::Storage(..) | FaultKind::Membership(_) => 4,
    }
}

/// How many replays in a row of a fault that found an anomaly may find nothing before `auto`
/// stops replaying it. A fault that finds a bug seldom finds it every time (a lock holder
/// paused just before its lease renewal, a partition that cut off a leader with nothing to
/// lose), so one miss is no proof that the find was luck; three are, more or less.
pub const REPLAY_MISSES: u32 = 3;

/// A chosen fault: indices into the catalogue's dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    /// Index into [`Catalogue::faults`].
    pub fault: usize,
    /// Index into [`Catalogue::targets`], for a fault aimed at nodes.
    pub target: Option<usize>,
    /// Index into [`DURATIONS`].
    pub duration: usize,
}

/// The learner: a catalogue and what each of its arms earned so far.
#[derive(Clone, Debug, PartialEq)]
pub struct Bandit {
    policy: Policy,
    catalogue: Catalogue,
    families: Arms,
    faults: Arms,
    /// Per family ([`FAMILIES`]): where a fault lands matters differently for each, a pause
    /// on the lock holder's node, a clock jump on the primary, and a dull kind aimed at the
    /// right node must not make that node look dull for the others.
    targets: Vec<Arms>,
    /// Per family, likewise: a partition may bite at 2 s where a pause must outlast a lease.
    durations: Vec<Arms>,
    /// `auto`: the fault (kind, target, duration) in force when the last anomaly was found,
    /// tried again first while it keeps finding one, and how many replays in a row since
    /// found nothing: the run after a find starts with the fault that found it, as a person
    /// reproducing a bug would.
    replay: Option<Replay>,
}

/// The fault `auto` tries again first, and how many replays in a row since its last find
/// found nothing.
#[derive(Clone, Debug, PartialEq)]
struct Replay {
    choice: Choice,
    /// The fault as it was started when it found the anomaly: replayed as is, on the same
    /// nodes with the same magnitude (a clock jump on the node whose clock mattered, not on
    /// two others drawn afresh). Targets resolved when a fault starts (the primaries, the
    /// lock holder) are resolved afresh all the same.
    fault: Option<Fault>,
    misses: u32,
}

impl Bandit {
    /// A bandit that has tried nothing yet.
    pub fn new(policy: Policy, catalogue: Catalogue) -> Bandit {
        Bandit {
            policy,
            replay: None,
            families: Arms::new(FAMILIES.len()),
            faults: Arms::new(catalogue.faults.len()),
            targets: vec![Arms::new(catalogue.targets.len()); FAMILIES.len()],
            durations: vec![Arms::new(DURATIONS.len()); FAMILIES.len()],
            catalogue,
        }
    }

    /// The policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The next fault: its kind with targets filled in, how long it lasts, and the choice.
    /// Under `auto`: the replay if any, else a family, then a kind in it (its opening first).
    pub fn choose(&self, rng: &mut impl Rng) -> (FaultKind, Duration, Choice) {
        if let Some(Replay { choice, .. }) = self.replay {
            let mut kind = self.catalogue.faults[choice.fault];
            if let Some(t) = choice.target {
                set_targets(&mut kind, self.catalogue.targets[t]);
            }
            return (kind, DURATIONS[choice.duration], choice);
        }
        let fault = match self.policy {
            // A uniform draw over every kind: the baseline.
            Policy::Random => self.faults.pick(self.policy, rng),
            Policy::Auto => {
                let present: Vec<usize> = (0..FAMILIES.len())
                    .filter(|&f| self.catalogue.faults.iter().any(|k| family(k) == f))
                    .collect();
                let kinds_of = |f: usize| -> Vec<usize> {
                    (0..self.catalogue.faults.len())
                        .filter(|&i| family(&self.catalogue.faults[i]) == f)
                        .collect()
                };
                let f =
                    self.families
                        .ucb1_valued(&present, |f| self.family_value(&kinds_of(f)), rng);
                let kinds = kinds_of(f);
                self.opening(&kinds)
                    .unwrap_or_else(|| self.faults.pick_among(self.policy, &kinds, rng))
            }
        };
        let mut kind = self.catalogue.faults[fault];
        let f = family(&kind);
        let targets = &self.targets[f];
        let target = aimed_at_nodes(&kind).then(|| {
            self.live_opening(f, targets)
                .unwrap_or_else(|| targets.pick(self.policy, rng))
        });
        if let Some(t) = target {
            set_targets(&mut kind, self.catalogue.targets[t]);
        }
        let durations = &self.durations[f];
        let duration = match self.policy {
            Policy::Auto if durations.pulls.iter().all(|&n| n == 0) => OPENING_DURATION,
            _ => durations.pick(self.policy, rng),
        };
        let choice = Choice {
            fault,
            target,
            duration,
        };
        (kind, DURATIONS[duration], choice)
    }

    /// What a family is worth to `auto`: its best kind's mean, where a kind not yet tried
    /// counts as [`UNTRIED_KIND`]. One dull kind (`slow`, a replica cut off alone) must not
    /// stand for its family while the family holds kinds never tried (`pause`, the cut that
    /// isolates the primaries): a family's mean would retire it after one such try whenever
    /// another family (a kill, which every failover scores 1) keeps biting.
    fn family_value(&self, kinds: &[usize]) -> f64 {
        kinds
            .iter()
            .map(|&i| self.faults.mean(i).unwrap_or(UNTRIED_KIND))
            .fold(0.0, f64::max)
    }

    /// `auto`'s first kind in a family, before UCB1 draws: its opening ([`OPENINGS`]), while
    /// untried.
    fn opening(&self, kinds: &[usize]) -> Option<usize> {
        kinds
            .iter()
            .copied()
            .find(|&i| OPENINGS.contains(&self.catalogue.faults[i]) && self.faults.pulls[i] == 0)
    }

    /// `auto`'s first targets in a family (`targets`, its arms), before UCB1 draws: the ones
    /// the live run reveals ([`live_first`]), each until tried once.
    fn live_opening(&self, family: usize, targets: &Arms) -> Option<usize> {
        if self.policy != Policy::Auto {
            return None;
        }
        live_first(family).iter().find_map(|live| {
            (0..self.catalogue.targets.len())
                .find(|&i| self.catalogue.targets[i] == *live && targets.pulls[i] == 0)
        })
    }

    /// Credits `choice` with the effect's score; a replay of a fault that found an anomaly
    /// counts as a miss until [`Bandit::credit_anomaly`] says otherwise, and the next replay
    /// lasts the next longer duration: a find under a 2 s cut may have come from the cut's
    /// aftermath, or from a failover that took just that long this once, and the same 2 s
    /// replayed can miss every time where 4 s would find it again. (Its target may read
    /// untried: [`crate::schedule::Schedule::could_not_aim`].)
    pub fn learn(&mut self, choice: Choice, effect: &Effect) {
        if let Some(replay) = &mut self.replay {
            let Choice {
                fault, duration, ..
            } = replay.choice;
            if (fault, duration) == (choice.fault, choice.duration) {
                replay.misses += 1;
                replay.choice.duration = (duration + 1).min(DURATIONS.len() - 1);
                if replay.misses >= REPLAY_MISSES {
                    self.replay = None;
                }
            }
        }
        self.reward(choice, 1, effect.score());
    }

    /// Raises what `choice` earned, already scored `scored` by [`Bandit::learn`], to 1: an
    /// anomalous operation completed while it was in force or in its aftermath, the
    /// strongest effect there is. Under `auto` it is the next fault tried, until
    /// [`REPLAY_MISSES`] replays in a row find nothing: `started`, the fault as it was
    /// started, where known, else the choice with its nodes drawn afresh.
    pub fn credit_anomaly(&mut self, choice: Choice, scored: f64, started: Option<Fault>) {
        if self.policy == Policy::Auto {
            self.replay = Some(Replay {
                choice,
                fault: started,
                misses: 0,
            });
        }
        self.reward(choice, 0, 1.0 - scored);
    }

    /// The fault to start as is when `choice` is the replay [`Bandit::choose`] gave: the one
    /// that found the anomaly, on the same nodes.
    pub fn replayed_fault(&self, choice: Choice) -> Option<Fault> {
        self.replay
            .as_ref()
            .filter(|r| r.choice == choice)
            .and_then(|r| r.fault.clone())
    }

    /// Adds `pulls` and `reward` to each dimension's arm that `choice` took.
    fn reward(&mut self, choice: Choice, pulls: u32, reward: f64) {
        let f = family(&self.catalogue.faults[choice.fault]);
        self.families.reward(f, pulls, reward);
        self.faults.reward(choice.fault, pulls, reward);
        if let Some(t) = choice.target {
            self.targets[f].reward(t, pulls, reward);
        }
        self.durations[f].reward(choice.duration, pulls, reward);
    }

    /// Each fault kind's mean score so far (`None`: never tried), in catalogue order, for the log.
    pub fn fault_means(&self) -> Vec<(FaultKind, Option<f64>)> {
        (0..self.catalogue.faults.len())
            .map(|i| (self.catalogue.faults[i], self.faults.mean(i)))
            .collect()
    }
}

/// A fault kind's name in the log: `partition-halves`, `pause`, `clock-monotonic-forward`.
pub fn arm_name(kind: &FaultKind) -> String {
    match kind {
        FaultKind::Partition(spec) => match spec {
            Some(spec) => format!("partition-{spec}"),
            None => "partition".into(),
        },
        FaultKind::Loss(_) => "loss".into(),
        FaultKind::Pause(_) => "pause".into(),
        FaultKind::Slow(_) => "slow".into(),
        FaultKind::Kill(_) => "kill".into(),
        FaultKind::Clock(k) => format!(
            "clock-{}-{}",
            if k.clock == ClockSource::Monotonic {
                "monotonic"
            } else {
                "wall"
            },
            if k.direction == Some(ClockDirection::Backward) {
                "backward"
            } else {
                "forward"
            }
        ),
        FaultKind::Netem(n, _) => n.name().into(),
        FaultKind::Storage(s, _) => s.name().into(),
        FaultKind::Membership(_) => "membership".into(),
    }
}

fn aimed_at_nodes(kind: &FaultKind) -> bool {
    !matches!(kind, FaultKind::Partition(_))
}

fn set_targets(kind: &mut FaultKind, targets: Targets) {
    if let Some(t) = kind.targets_slot() {
        *t = Some(targets);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn effect(bad_share: f64) -> Effect {
        Effect {
            before_total: 100,
            before_bad: 0,
            before_s: 2.0,
            during_total: 100,
            during_bad: (bad_share * 100.0) as u64,
            during_s: 2.0,
            ..Effect::default()
        }
    }

    #[test]
    fn the_score_sees_errors_slowdowns_and_leader_changes_and_nothing_else() {
        assert_eq!(effect(0.0).score(), 0.0);
        assert!((effect(0.4).score() - 0.4).abs() < 1e-9);
        let slow = Effect {
            during_total: 25,
            ..effect(0.0)
        };
        assert!((slow.score() - 0.75).abs() < 1e-9, "{}", slow.score());
        let leader = Effect {
            leader_changes: 1,
            ..effect(0.0)
        };
        assert_eq!(leader.score(), 1.0);
        let failed = Effect {
            failed: true,
            ..effect(1.0)
        };
        assert_eq!(failed.score(), 0.0);
        // Errors that were there before the fault are not its effect.
        let chronic = Effect {
            before_bad: 50,
            during_bad: 50,
            ..effect(0.0)
        };
        assert_eq!(chronic.score(), 0.0);
    }

    /// Plays `rounds` faults where only `biting` fault kinds have an effect; how often each
    /// policy chose a biting one.
    fn share_biting(policy: Policy, biting: &[usize], rounds: usize, seed: u64) -> f64 {
        let mut bandit = Bandit::new(policy, Catalogue::new(true, true, true));
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut hits = 0;
        for _ in 0..rounds {
            let (_, _, choice) = bandit.choose(&mut rng);
            let bit = biting.contains(&choice.fault);
            hits += usize::from(bit);
            bandit.learn(choice, &effect(if bit { 0.8 } else { 0.0 }));
        }
        hits as f64 / rounds as f64
    }

    /// Plays a series of `faults` faults under `auto` from `seed`, each scored by `score`:
    /// the bandit after it, and each fault's kind and choice.
    fn play(
        catalogue: &Catalogue,
        seed: u64,
        faults: usize,
        score: impl Fn(&FaultKind, &Choice) -> f64,
    ) -> (Bandit, Vec<(FaultKind, Choice)>) {
        let mut bandit = Bandit::new(Policy::Auto, catalogue.clone());
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let played = (0..faults)
            .map(|_| {
                let (kind, _, choice) = bandit.choose(&mut rng);
                bandit.learn(choice, &effect(score(&kind, &choice)));
                (kind, choice)
            })
            .collect();
        (bandit, played)
    }

    #[test]
    fn auto_tries_every_fault_then_prefers_the_ones_that_bite() {
        let n = Catalogue::new(true, true, true).faults.len();
        for seed in 0..20 {
            let auto = share_biting(Policy::Auto, &[1, 4], 60, seed);
            let random = share_biting(Policy::Random, &[1, 4], 60, seed);
            assert!(auto > 0.5, "seed {seed}: auto chose biting faults {auto}");
            assert!(random < 0.35, "seed {seed}: random {random} of {n} kinds");
        }
    }

    /// A series of five 30 s runs gets about 25 faults: within that, choosing the family
    /// first finds what bites after a handful, where trying all 13 kinds first would not.
    #[test]
    fn within_a_short_series_auto_finds_the_biting_family_early() {
        let catalogue = Catalogue::new(true, true, true);
        let kills: Vec<usize> = (0..catalogue.faults.len())
            .filter(|&i| {
                matches!(
                    catalogue.faults[i],
                    FaultKind::Kill(_) | FaultKind::Pause(_)
                )
            })
            .collect();
        let mean = |policy| {
            (0..50)
                .map(|seed| share_biting(policy, &kills, 25, seed))
                .sum::<f64>()
                / 50.0
        };
        let (auto, random) = (mean(Policy::Auto), mean(Policy::Random));
        assert!(auto > 2.0 * random, "auto {auto:.2}, random {random:.2}");
    }

    /// Redis + Sentinel loses acknowledged appends when its primary is cut off, while every
    /// kill of the primary is a failover that scores 1: a first partition that cut off a
    /// replica scored 0 and the network family was hardly drawn again. Likewise a first
    /// `slow` scored 0 on etcd's lease lock and `pause` was never tried. The first run (a
    /// fault from each family) opens each family with its strongest kind, the clocks with a
    /// monotonic jump.
    #[test]
    fn auto_opens_with_the_primaries_cut_off_and_a_pause_whatever_else_bites() {
        let catalogue = Catalogue::new(true, true, true);
        let primaries = FaultKind::Partition(Some(PartitionSpec::Primaries));
        let families = catalogue
            .faults
            .iter()
            .map(family)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        for seed in 0..50 {
            let mut bandit = Bandit::new(Policy::Auto, catalogue.clone());
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let first: Vec<FaultKind> = (0..families)
                .map(|_| {
                    let (kind, _, choice) = bandit.choose(&mut rng);
                    let kill = matches!(kind, FaultKind::Kill(_));
                    bandit.learn(choice, &effect(if kill { 1.0 } else { 0.0 }));
                    catalogue.faults[choice.fault]
                })
                .collect();
            assert!(first.contains(&primaries), "seed {seed}: {first:?}");
            assert!(
                first.contains(&FaultKind::Pause(None)),
                "seed {seed}: {first:?}"
            );
            assert!(first.contains(&OPENINGS[2]), "seed {seed}: {first:?}");
        }
        // Without named primaries, no partition opens: the shapes are drawn as before.
        let bare = Bandit::new(Policy::Auto, Catalogue::new(false, true, true));
        let partitions: Vec<usize> = (0..bare.catalogue.faults.len())
            .filter(|&i| family(&bare.catalogue.faults[i]) == 0)
            .collect();
        assert_eq!(bare.opening(&partitions), None);
    }

    /// The first faults of a family aimed at nodes go where the run reveals something (the
    /// lock holder, the primaries, the last writer, the busiest node; for clocks the primaries
    /// first), one each, before random nodes: drawn one by one among seven, the lock holder
    /// came up in no run of a series.
    #[test]
    fn auto_aims_each_family_s_first_faults_at_what_the_live_run_reveals() {
        for (names_primaries, grants_locks) in [(true, true), (false, true), (true, false)] {
            let catalogue = Catalogue::new(names_primaries, true, grants_locks);
            let live = |family: usize| -> Vec<Targets> {
                live_first(family)
                    .into_iter()
                    .filter(|t| catalogue.targets.contains(t))
                    .collect()
            };
            for seed in 0..30 {
                let mut aimed = vec![Vec::new(); FAMILIES.len()];
                for (kind, choice) in play(&catalogue, seed, 80, |_, _| 0.0).1 {
                    if let Some(t) = choice.target {
                        aimed[family(&kind)].push(catalogue.targets[t]);
                    }
                }
                let full: Vec<(usize, &Vec<Targets>)> = (0..FAMILIES.len())
                    .filter(|&f| aimed[f].len() > live(f).len())
                    .map(|f| (f, &aimed[f]))
                    .collect();
                assert!(full.len() >= 2, "seed {seed}: {aimed:?}");
                if names_primaries {
                    let clock = FAMILIES.iter().position(|f| *f == "clock").unwrap();
                    assert_eq!(
                        aimed[clock].first(),
                        Some(&Targets::Primaries),
                        "seed {seed}"
                    );
                }
                for (f, a) in full {
                    let live = live(f);
                    assert_eq!(a[..live.len()], live[..], "seed {seed}");
                    assert!(matches!(a[live.len()], Targets::Spec(_)), "seed {seed}");
                }
            }
        }
        // `random` draws targets uniformly from the first fault on.
        let catalogue = Catalogue::new(true, true, true);
        let firsts: std::collections::BTreeSet<usize> = (0..60)
            .filter_map(|seed| {
                let bandit = Bandit::new(Policy::Random, catalogue.clone());
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                (0..20).find_map(|_| bandit.choose(&mut rng).2.target)
            })
            .collect();
        assert!(firsts.len() > 4, "{firsts:?}");
    }

    /// A delay on the lock holder's node scored nothing (the lock barely notices 50 ms); the
    /// first pause still goes to the lock holder, where a pause breaks a lease.
    #[test]
    fn a_dull_kind_on_a_target_does_not_make_it_dull_for_another_family() {
        let catalogue = Catalogue::new(true, true, true);
        let index = |kind: FaultKind| catalogue.faults.iter().position(|k| *k == kind);
        let delay = index(FaultKind::Netem(NetemKind::Delay, None)).unwrap();
        let holder = Targets::Live(Aim::LockHolder);
        let lock_holder = catalogue.targets.iter().position(|t| *t == holder);
        for seed in 0..30 {
            let mut bandit = Bandit::new(Policy::Auto, catalogue.clone());
            for duration in 0..DURATIONS.len() {
                let dull = Choice {
                    fault: delay,
                    target: lock_holder,
                    duration,
                };
                bandit.learn(dull, &effect(0.0));
            }
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let pause = (0..40)
                .map(|_| {
                    let (kind, _, choice) = bandit.choose(&mut rng);
                    bandit.learn(choice, &effect(0.0));
                    (kind, choice)
                })
                .find(|(kind, _)| matches!(kind, FaultKind::Pause(_)))
                .expect("a pause within 40 faults");
            assert_eq!(pause.1.target, lock_holder, "seed {seed}");
        }
    }

    /// A family is worth its best kind, a kind never tried counting as [`UNTRIED_KIND`]: on
    /// etcd's lease lock every partition scores 1, and a family whose first kinds scored
    /// nothing must still get its other kinds tried within a series (about 25 faults), not
    /// be retired by its mean.
    #[test]
    fn a_family_whose_first_kinds_scored_nothing_still_gets_its_others_tried() {
        let catalogue = Catalogue::new(true, false, true);
        let process: Vec<usize> = (0..catalogue.faults.len())
            .filter(|&i| family(&catalogue.faults[i]) == 1)
            .collect();
        let partitions = |kind: &FaultKind, _: &Choice| {
            f64::from(u8::from(matches!(kind, FaultKind::Partition(_))))
        };
        for seed in 0..50 {
            let (bandit, _) = play(&catalogue, seed, 25, partitions);
            let untried: Vec<FaultKind> = process
                .iter()
                .filter(|&&i| bandit.faults.pulls[i] == 0)
                .map(|&i| catalogue.faults[i])
                .collect();
            assert!(untried.is_empty(), "seed {seed}: never tried {untried:?}");
        }
    }

    #[test]
    fn an_anomaly_raises_its_fault_to_the_strongest_effect_without_a_second_pull() {
        let mut bandit = Bandit::new(Policy::Auto, Catalogue::new(true, true, true));
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (kind, _, first) = bandit.choose(&mut rng);
        let weak = effect(0.25);
        bandit.learn(first, &weak);
        assert_eq!(bandit.faults.mean(first.fault), Some(0.25));
        bandit.credit_anomaly(first, weak.score(), None);
        assert_eq!(bandit.faults.pulls[first.fault], 1, "one fault, one pull");
        assert_eq!(bandit.faults.mean(first.fault), Some(1.0));
        assert_eq!(
            bandit.durations[family(&kind)].mean(first.duration),
            Some(1.0)
        );
        let failed = Effect {
            failed: true,
            ..effect(1.0)
        };
        assert_eq!(
            failed.score(),
            0.0,
            "a fault that did not apply taught nothing"
        );
    }

    #[test]
    fn the_same_seed_and_effects_give_the_same_choices() {
        let run = |seed| {
            let mut bandit = Bandit::new(Policy::Auto, Catalogue::new(false, false, false));
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..30)
                .map(|i| {
                    let (kind, d, choice) = bandit.choose(&mut rng);
                    bandit.learn(choice, &effect(f64::from(i % 3) / 3.0));
                    (kind, d)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn auto_replays_the_fault_that_found_an_anomaly_longer_after_each_miss_until_three_in_a_row() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let same_fault = |a: Choice, b: Choice| (a.fault, a.target) == (b.fault, b.target);
        for policy in [Policy::Auto, Policy::Random] {
            let mut bandit = Bandit::new(policy, Catalogue::new(true, true, true));
            let (_, _, mut first) = bandit.choose(&mut rng);
            first.duration = 0;
            bandit.learn(first, &effect(0.0));
            bandit.credit_anomaly(first, 0.0, None);
            let again: Vec<Choice> = (0..3).map(|_| bandit.choose(&mut rng).2).collect();
            if policy == Policy::Random {
                assert!(again.iter().any(|c| *c != first), "random never replays");
                continue;
            }
            assert_eq!(again, [first; 3], "the finder is tried next, as it was");
            // Each miss makes the next replay longer, up to the longest.
            let mut replay = first;
            for miss in 1..REPLAY_MISSES {
                bandit.learn(replay, &effect(0.0));
                replay = bandit.choose(&mut rng).2;
                assert!(same_fault(replay, first), "a miss or two is luck");
                assert_eq!(replay.duration, miss as usize, "miss {miss}: longer");
            }
            // A find under the longer replay: it is kept, and the count of misses restarts.
            bandit.learn(replay, &effect(0.0));
            bandit.credit_anomaly(replay, 0.0, None);
            assert_eq!(
                bandit.choose(&mut rng).2,
                replay,
                "found again, replayed again"
            );
            for _ in 1..REPLAY_MISSES {
                bandit.learn(replay, &effect(0.0));
                replay = bandit.choose(&mut rng).2;
                assert!(same_fault(replay, first));
                assert_eq!(
                    replay.duration,
                    DURATIONS.len() - 1,
                    "no longer than the longest"
                );
            }
            bandit.learn(replay, &effect(0.0));
            let later: Vec<Choice> = (0..20).map(|_| bandit.choose(&mut rng).2).collect();
            assert!(
                later.iter().any(|c| !same_fault(*c, first)),
                "{REPLAY_MISSES} misses in a row end it"
            );
        }
    }

    /// A replay aimed at what the run reveals may land where the run named nothing, and the
    /// schedule then hands back its choice without a target: its misses count all the same,
    /// or the replay would go on for ever.
    #[test]
    fn a_replay_whose_aim_named_nothing_still_counts_its_misses() {
        let catalogue = Catalogue::new(true, true, true);
        let pause = catalogue
            .faults
            .iter()
            .position(|k| *k == FaultKind::Pause(None));
        let holder = Targets::Live(Aim::LockHolder);
        let found = Choice {
            fault: pause.unwrap(),
            target: catalogue.targets.iter().position(|t| *t == holder),
            duration: 0,
        };
        let mut bandit = Bandit::new(Policy::Auto, catalogue);
        bandit.learn(found, &effect(0.0));
        bandit.credit_anomaly(found, 0.0, None);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..REPLAY_MISSES {
            let (_, _, replay) = bandit.choose(&mut rng);
            assert_eq!((replay.fault, replay.target), (found.fault, found.target));
            bandit.learn(
                Choice {
                    target: None,
                    ..replay
                },
                &effect(0.0),
            );
        }
        assert_eq!(bandit.replay, None, "{REPLAY_MISSES} misses end it");
    }

    /// A 2 s cut of the primaries scored 1 on a replicated store, and every later fault, a
    /// pause of the lock holder too, lasted 2 s: one duration shared by every family made the
    /// lease outlive each pause. Each family opens at [`OPENING_DURATION`] and learns its own.
    #[test]
    fn each_family_opens_at_the_middle_duration_and_learns_its_own() {
        let catalogue = Catalogue::new(true, true, true);
        // Only the short network faults bite.
        let short_cuts = |kind: &FaultKind, choice: &Choice| {
            f64::from(u8::from(family(kind) == 0 && choice.duration == 0))
        };
        for seed in 0..30 {
            let mut per_family = vec![Vec::new(); FAMILIES.len()];
            for (kind, choice) in play(&catalogue, seed, 60, short_cuts).1 {
                per_family[family(&kind)].push(choice.duration);
            }
            let process = &per_family[1];
            assert!(process.len() >= 3, "seed {seed}: {per_family:?}");
            assert_eq!(process[0], OPENING_DURATION, "seed {seed}: {process:?}");
            let mut firsts = process[..3].to_vec();
            firsts.sort();
            assert_eq!(firsts, [0, 1, 2], "seed {seed}: each length tried once");
            for tried in per_family.iter().filter(|d| !d.is_empty()) {
                assert_eq!(tried[0], OPENING_DURATION, "seed {seed}: {per_family:?}");
            }
        }
    }

    #[test]
    fn the_catalogue_offers_primaries_monotonic_clocks_and_lock_holders_only_where_they_apply() {
        let bare = Catalogue::new(false, false, false);
        assert!(!bare.targets.contains(&Targets::Primaries));
        assert!(!bare
            .faults
            .contains(&FaultKind::Partition(Some(PartitionSpec::Primaries))));
        assert!(!bare
            .faults
            .iter()
            .any(|k| matches!(k, FaultKind::Clock(c) if c.clock == ClockSource::Monotonic)));
        assert!(!bare.targets.contains(&Targets::Live(Aim::LockHolder)));
        assert!(bare.targets.contains(&Targets::Live(Aim::LastWriter)));
        let full = Catalogue::new(true, true, true);
        assert!(full.targets.contains(&Targets::Primaries));
        assert!(full.targets.contains(&Targets::Live(Aim::LockHolder)));
        assert_eq!(full.faults.len(), bare.faults.len() + 2);
        // Every fault aimed at nodes gets a target from the target dimension.
        let mut bandit = Bandit::new(Policy::Random, full);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..200 {
            let (kind, _, choice) = bandit.choose(&mut rng);
            assert_eq!(choice.target.is_some(), aimed_at_nodes(&kind));
            bandit.learn(choice, &effect(0.0));
        }
    }
}
