//! The live display: elapsed and remaining time, throughput, outcomes, active faults.
//!
//! Drawn on stderr with indicatif, and only when stderr is a terminal; it reads counters the
//! history writer keeps, so workers pay nothing for it.

use crate::recorder::Stats;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the display refreshes.
const TICK: Duration = Duration::from_millis(250);

/// A running display; [`Display::finish`] clears it.
pub(crate) struct Display {
    task: Option<(ProgressBar, tokio::task::JoinHandle<()>)>,
}

impl Display {
    /// Starts drawing if `enabled` and stderr is a terminal; otherwise does nothing.
    pub fn start(
        enabled: bool,
        time_limit: Option<Duration>,
        stats: Arc<Stats>,
        faults: Arc<Mutex<Vec<String>>>,
    ) -> Display {
        if !enabled || !std::io::stderr().is_terminal() {
            return Display { task: None };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        let shown = bar.clone();
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut last = (start, 0u64);
            let mut tick = tokio::time::interval(TICK);
            loop {
                tick.tick().await;
                let now = Instant::now();
                let done = stats.completions();
                let rate =
                    (done - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-3);
                last = (now, done);
                let faults = faults.lock().map(|f| f.join(", ")).unwrap_or_default();
                shown.set_message(status_line(
                    start.elapsed(),
                    time_limit,
                    rate,
                    [&stats.ok, &stats.fail, &stats.info].map(|c| c.load(Ordering::Relaxed)),
                    &faults,
                ));
                shown.tick();
            }
        });
        Display {
            task: Some((bar, task)),
        }
    }

    /// Stops and clears the display.
    pub fn finish(self) {
        if let Some((bar, task)) = self.task {
            task.abort();
            bar.finish_and_clear();
        }
    }
}

/// One line of status: `12s elapsed, 48s left | 5321 ops/s | ok 900 fail 3 info 1 | faults: ...`.
pub fn status_line(
    elapsed: Duration,
    time_limit: Option<Duration>,
    ops_per_sec: f64,
    [ok, fail, info]: [u64; 3],
    faults: &str,
) -> String {
    let left = match time_limit {
        Some(limit) => format!(
            ", {}s left",
            limit.saturating_sub(elapsed).as_secs_f64().ceil()
        ),
        None => String::new(),
    };
    let faults = if faults.is_empty() { "none" } else { faults };
    format!(
        "{}s elapsed{left} | {ops_per_sec:.0} ops/s | ok {ok} fail {fail} info {info} | faults: {faults}",
        elapsed.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_shows_time_rate_outcomes_and_faults() {
        let s = status_line(
            Duration::from_millis(12_300),
            Some(Duration::from_secs(60)),
            5321.4,
            [900, 3, 1],
            "kill n2",
        );
        assert_eq!(
            s,
            "12s elapsed, 48s left | 5321 ops/s | ok 900 fail 3 info 1 | faults: kill n2"
        );
        let s = status_line(
            Duration::from_secs(70),
            Some(Duration::from_secs(60)),
            0.0,
            [0, 0, 0],
            "",
        );
        assert!(s.starts_with("70s elapsed, 0s left") && s.ends_with("faults: none"));
    }
}
