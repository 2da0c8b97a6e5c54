//! `--stop-on-anomaly` for workloads without a streamed checker: the workload's own checkers
//! re-check the completed prefix of the history now and then while it is written, and the
//! run stops at the first anomaly that operations still to come cannot undo (see
//! `faultline_workloads::PrefixCheck`). The run's verdict is still the checkers' on the
//! whole history, after the run.

use crate::notice::{Notice, Notify};
use faultline_history::{pair, Event, EventType};
use faultline_workloads::PrefixCheck;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The least time between two checks of the prefix.
const MIN_INTERVAL: Duration = Duration::from_millis(500);

/// How many times its own duration a check waits before the next: the re-checks take at
/// most about a fifth of one core, however long the history grows.
const BACKOFF: u32 = 4;

/// The first certain anomaly found: when it became visible (s since the workload started),
/// its checker, kind, explanation and the event that made it visible.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// When it became visible, s on the history's clock.
    pub at_s: f64,
    /// The latest completion it names.
    pub event: u64,
    /// The checker that named it.
    pub checker: String,
    /// Its kind.
    pub kind: String,
    /// Its explanation.
    pub explanation: String,
}

/// The first certain anomaly of the prefix `events`, if its check finds one.
pub fn first_certain(check: &PrefixCheck, events: &[Event]) -> Option<Found> {
    let lines: Vec<u32> = (1..=events.len() as u32).collect();
    let ops = pair(events, &lines).ok()?;
    let results = check.check(&ops);
    check
        .certain(&results, events)
        .into_iter()
        .filter_map(|(checker, a)| {
            let ns = faultline_history::anomaly_visible_ns(a, events)?;
            let event = a.events.iter().copied().max().unwrap_or_default();
            Some(Found {
                at_s: ns as f64 / 1e9,
                event,
                checker: checker.to_string(),
                kind: a.kind.clone(),
                explanation: a.explanation.clone(),
            })
        })
        .min_by(|a, b| a.at_s.total_cmp(&b.at_s))
}

/// Takes the run's events until the history closes, re-checking the prefix when due; at the
/// first certain anomaly tells it and sends `stop`. Returns what it found.
pub fn check_prefix_while_running(
    check: PrefixCheck,
    events: &Receiver<Event>,
    stop: tokio::sync::watch::Sender<faultline_runner::StopRequest>,
    notify: &Notify,
) -> Option<Found> {
    let mut seen: Vec<Event> = Vec::new();
    let mut next_check = Instant::now() + MIN_INTERVAL;
    let mut completed_since = false;
    loop {
        match events.recv_timeout(MIN_INTERVAL) {
            Ok(ev) => {
                completed_since |= ev.kind != EventType::Invoke;
                seen.push(ev);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return None,
        }
        if !completed_since || Instant::now() < next_check {
            continue;
        }
        let started = Instant::now();
        let found = first_certain(&check, &seen);
        next_check = Instant::now() + MIN_INTERVAL.max(started.elapsed() * BACKOFF);
        completed_since = false;
        if let Some(f) = found {
            notify.tell(Notice::Anomaly(format!(
                "anomaly at {:.1} s (event {}): {}: {}: {}",
                f.at_s, f.event, f.checker, f.kind, f.explanation
            )));
            notify.tell(Notice::Anomaly(
                "stopping the run (--stop-on-anomaly)".into(),
            ));
            let _ = stop.send(Some(Duration::from_secs_f64(f.at_s)));
            // The recorder stops feeding a tap whose reader has gone.
            return Some(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_history::testing::event;
    use faultline_history::{EventType::*, Process};
    use serde_json::json;

    /// An add of 1 (0-1 s) and a read of 5 (2-3 s): out of every bound.
    fn counter_history() -> Vec<Event> {
        let s = 1_000_000_000;
        let c = Process::Client;
        vec![
            event(0, 0, c(0), Invoke, "add", json!(1)),
            event(1, s, c(0), Ok, "add", json!(1)),
            event(2, 2 * s, c(1), Invoke, "read", json!(null)),
            event(3, 3 * s, c(1), Ok, "read", json!(5)),
        ]
    }

    fn counter() -> PrefixCheck {
        faultline_workloads::configure("counter", &Default::default())
            .unwrap()
            .prefix_check()
    }

    #[test]
    fn a_read_out_of_bounds_is_certain_once_it_completed() {
        let events = counter_history();
        assert_eq!(first_certain(&counter(), &events[..3]), None);
        let found = first_certain(&counter(), &events).expect("certain");
        assert_eq!((found.at_s, found.event), (3.0, 3));
        assert_eq!(found.kind, "counter-out-of-bounds");
    }

    #[test]
    fn the_running_check_stops_the_run_at_the_first_certain_anomaly() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(None);
        for e in counter_history() {
            tx.send(e).unwrap();
        }
        let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let notify = {
            let told = told.clone();
            Notify::new(move |n| told.lock().unwrap().push(n))
        };
        let thread = std::thread::spawn(move || {
            check_prefix_while_running(counter(), &rx, stop_tx, &notify)
        });
        let found = thread
            .join()
            .unwrap()
            .expect("found while the history is open");
        assert_eq!(found.at_s, 3.0);
        assert_eq!(
            *stop_rx.borrow(),
            Some(Duration::from_secs(3)),
            "stopped, naming when"
        );
        let told = told.lock().unwrap();
        assert!(
            matches!(told.first(), Some(Notice::Anomaly(line)) if line.starts_with("anomaly at 3.0 s (event 3)")),
            "{told:?}"
        );
        drop(tx);
    }
}
