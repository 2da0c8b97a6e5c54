//! What an adaptive nemesis learns from: the clients' completions and the leader changes
//! counted while the run goes ([`Stats`]), compared over a fault's window and the quiet
//! time before it.

use crate::recorder::Stats;
use faultline_nemesis::Effect;
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
    }
}
