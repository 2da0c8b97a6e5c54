//! The checker that runs alongside a run (the workload's linearizability checker, when it is
//! the only one): it takes the tapped events as they are written, tells each anomaly when
//! found, and may stop the run on the first (`--stop-on-anomaly`).

use crate::notice::{Notice, Notify};
use faultline_linearizability::{ModelError, Report, SpecStream, StreamError};
use std::time::Duration;

/// How the checker that ran alongside the run ended.
pub enum Streamed {
    /// Its report, and when (s since the run started) it found its first anomaly.
    Done(Result<Report, ModelError>, Option<f64>),
    /// An event it could not take.
    Unreadable(StreamError),
}

/// Feeds `checker` the run's events until the history closes. Each anomaly is told on one
/// line when found; the first one sends `stop` (`--stop-on-anomaly`).
pub fn check_while_running(
    mut checker: SpecStream,
    events: &std::sync::mpsc::Receiver<faultline_history::Event>,
    stop: Option<tokio::sync::watch::Sender<faultline_runner::StopRequest>>,
    notify: &Notify,
) -> Streamed {
    let mut first = None;
    for ev in events {
        let found = match checker.push(&ev) {
            Ok(f) => f,
            Err(e) => return Streamed::Unreadable(e),
        };
        for f in found {
            let t = f.time as f64 / 1e9;
            first.get_or_insert(t);
            let key = f.key.map_or_else(String::new, |k| format!(" key {k}"));
            notify.tell(Notice::Anomaly(format!(
                "anomaly at {t:.1} s (event {}): linearizability:{key}: {}",
                f.event, f.counterexample.explanation
            )));
            if let Some(stop) = &stop {
                if stop.borrow().is_none() {
                    notify.tell(Notice::Anomaly(
                        "stopping the run (--stop-on-anomaly)".into(),
                    ));
                    let _ = stop.send(Some(Duration::from_nanos(f.time)));
                }
            }
        }
    }
    Streamed::Done(checker.finish(), first)
}
