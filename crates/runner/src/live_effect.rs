//! What an adaptive nemesis learns from: the clients' completions and the leader changes
//! counted while the run goes ([`Stats`]), compared over a fault's window and the quiet
//! time before it ([`Scores`] keeps them for the faults of every lane).

use crate::recorder::Stats;
use faultline_nemesis::adaptive::Lane;
use faultline_nemesis::{Effect, FaultClass};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

/// How long after a heal a fault's window still runs: operations it held up complete then.
pub const AFTERMATH: Duration = Duration::from_secs(1);

/// The counts at one instant.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot {
    at: Instant,
    total: u64,
    bad: u64,
    leader_changes: u64,
}

impl Snapshot {
    /// The counts now.
    pub fn take(stats: &Stats) -> Snapshot {
        let fail = stats.fail.load(Ordering::Relaxed);
        let info = stats.info.load(Ordering::Relaxed);
        Snapshot {
            at: Instant::now(),
            total: stats.ok.load(Ordering::Relaxed) + fail + info,
            bad: fail + info,
            leader_changes: stats.leader_changes.load(Ordering::Relaxed),
        }
    }
}

/// The effect of a fault that started at `start` and whose window ended at `end`, against
/// the quiet time from `quiet` to `start`; `applied` is false when the fault failed to apply.
pub fn effect(quiet: Snapshot, start: Snapshot, end: Snapshot, applied: bool) -> Effect {
    Effect {
        before_total: start.total - quiet.total,
        before_bad: start.bad - quiet.bad,
        before_s: (start.at - quiet.at).as_secs_f64(),
        during_total: end.total - start.total,
        during_bad: end.bad - start.bad,
        during_s: (end.at - start.at).as_secs_f64(),
        // The first leader of the run is not a change.
        leader_changes: end.leader_changes - start.leader_changes,
        failed: !applied,
        anomaly: false,
    }
}

/// A fault whose effect is not yet known: when the schedule started it, the quiet time
/// before it, its start, whether it applied, and (once stopped) when its aftermath ends.
#[derive(Clone, Copy, Debug)]
struct Pending {
    due: Duration,
    quiet: Snapshot,
    start: Snapshot,
    applied: bool,
    aftermath_ends: Option<Instant>,
}

/// A fault's effect, with its class, when the schedule started it, and its window: from its
/// start to the end of its aftermath (or to when it was scored, if the run ended first).
#[derive(Clone, Copy, Debug)]
pub struct Scored {
    /// The fault's class.
    pub class: FaultClass,
    /// When the schedule started it, from the start of the run.
    pub due: Duration,
    /// When it started.
    pub start: Instant,
    /// When its window ended.
    pub end: Instant,
    /// What it did.
    pub effect: Effect,
}

/// The counts an adaptive run keeps per fault: each lane's quiet time begins where its last
/// fault's window ended (faults of other lanes may fall in it: they overlap).
#[derive(Clone, Debug)]
pub struct Scores {
    run_start: Snapshot,
    quiet: BTreeMap<Lane, Snapshot>,
    pending: BTreeMap<FaultClass, Pending>,
}

impl Scores {
    /// Nothing pending; every lane's quiet time begins at `run_start`.
    pub fn new(run_start: Snapshot) -> Scores {
        Scores {
            run_start,
            quiet: BTreeMap::new(),
            pending: BTreeMap::new(),
        }
    }

    /// A fault of `class`, due at `due`, started at `start` (and applied, or not); the
    /// effect of the one before it in its lane, if its aftermath has not ended yet, counted
    /// until now.
    pub fn started(
        &mut self,
        class: FaultClass,
        due: Duration,
        start: Snapshot,
        applied: bool,
        stats: &Stats,
    ) -> Option<Scored> {
        let before = self
            .pending
            .contains_key(&class)
            .then(|| self.take(class, stats));
        let quiet = *self.quiet.get(&Lane::of(class)).unwrap_or(&self.run_start);
        self.pending.insert(
            class,
            Pending {
                due,
                quiet,
                start,
                applied,
                aftermath_ends: None,
            },
        );
        before
    }

    /// The fault of `class` stopped; its window ends with its aftermath, at `aftermath_ends`.
    pub fn stopped(&mut self, class: FaultClass, aftermath_ends: Instant) {
        if let Some(p) = self.pending.get_mut(&class) {
            p.aftermath_ends = Some(aftermath_ends);
        }
    }

    /// When the first stopped fault's aftermath ends.
    pub fn next_aftermath(&self) -> Option<Instant> {
        self.pending.values().filter_map(|p| p.aftermath_ends).min()
    }

    /// The effect of the stopped fault whose aftermath ended at `at`, counted until now.
    pub fn take_due(&mut self, at: Instant, stats: &Stats) -> Scored {
        let class = *self
            .pending
            .iter()
            .find(|(_, p)| p.aftermath_ends == Some(at))
            .map(|(c, _)| c)
            .expect("an aftermath ends at `at`");
        self.take(class, stats)
    }

    /// The effects of every fault still pending, as they stand (the run ended).
    pub fn take_all(&mut self, stats: &Stats) -> Vec<Scored> {
        let classes: Vec<FaultClass> = self.pending.keys().copied().collect();
        classes.into_iter().map(|c| self.take(c, stats)).collect()
    }

    fn take(&mut self, class: FaultClass, stats: &Stats) -> Scored {
        let p = self.pending.remove(&class).expect("pending");
        let end = Snapshot::take(stats);
        self.quiet.insert(Lane::of(class), end);
        Scored {
            class,
            due: p.due,
            start: p.start.at,
            end: end.at,
            effect: effect(p.quiet, p.start, end, p.applied),
        }
    }
}
