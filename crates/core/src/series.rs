//! A series of runs (`--test-count K`): the worst verdict over all of them, and the table
//! that says how often and how soon each found an anomaly.

use crate::run::RunOutcome;
use faultline_history::Verdict;

/// The worst verdict of the runs (valid when there are none).
pub fn worst(outcomes: &[RunOutcome]) -> Verdict {
    outcomes
        .iter()
        .fold(Verdict::Valid, |w, o| w.worst(o.results.verdict))
}

/// The median of `values` (`None` when there are none).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() & 1 == 0 {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
}

/// One row per run (its number, seed, verdict, first-anomaly time, directory) and the line
/// `invalid in k of K runs; first anomaly after a median of S s`.
pub fn table(outcomes: &[RunOutcome]) -> Vec<String> {
    let mut lines = vec![format!(
        "{:<4} {:<20} {:<8} {:>14}  {}",
        "run", "seed", "verdict", "first anomaly", "directory"
    )];
    for (i, o) in outcomes.iter().enumerate() {
        let first = o
            .first_anomaly_s()
            .map_or_else(|| "-".to_string(), |t| format!("{t:.1} s"));
        lines.push(format!(
            "{:<4} {:<20} {:<8} {:>14}  {}",
            i + 1,
            o.seed,
            o.results.verdict.to_string(),
            first,
            o.run_dir.display()
        ));
    }
    lines.push(tally(outcomes));
    lines
}

/// `invalid in k of K runs; first anomaly after a median of S s` (or that no run recorded
/// when).
pub fn tally(outcomes: &[RunOutcome]) -> String {
    let invalid = outcomes
        .iter()
        .filter(|o| o.results.verdict == Verdict::Invalid)
        .count();
    let firsts: Vec<f64> = outcomes
        .iter()
        .filter_map(RunOutcome::first_anomaly_s)
        .collect();
    let when = match median(&firsts) {
        Some(m) => format!("first anomaly after a median of {m:.1} s"),
        None => "no run recorded when it first found an anomaly".to_string(),
    };
    format!("invalid in {invalid} of {} runs; {when}", outcomes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_report::Results;
    use serde_json::json;

    fn outcome(seed: u64, verdict: Verdict, first: Option<f64>) -> RunOutcome {
        let mut results = Results::build(&[], &[], &serde_json::Value::Null);
        results.verdict = verdict;
        if let Some(t) = first {
            results.durations.insert("first_anomaly_s".into(), t);
        }
        RunOutcome {
            seed,
            run_dir: format!("store/t/{seed}").into(),
            results,
            summary: None,
        }
    }

    /// A run of a workload checked after the run: its results as `judge` builds them, from
    /// a counter history whose read at 2-3 s is out of bounds.
    fn counter_outcome(seed: u64) -> RunOutcome {
        use faultline_history::testing::event;
        use faultline_history::{EventType::*, Process};
        let s = 1_000_000_000;
        let c = Process::Client;
        let events = vec![
            event(0, 0, c(0), Invoke, "add", json!(1)),
            event(1, s, c(0), Ok, "add", json!(1)),
            event(2, 2 * s, c(1), Invoke, "read", json!(null)),
            event(3, 3 * s, c(1), Ok, "read", json!(5)),
        ];
        let ops = faultline_history::pair(&events, &[1, 2, 3, 4]).unwrap();
        let counter = faultline_workloads::configure("counter", &Default::default()).unwrap();
        RunOutcome {
            seed,
            run_dir: format!("store/c/{seed}").into(),
            results: Results::build(&events, &counter.check(&ops), &serde_json::Value::Null),
            summary: None,
        }
    }

    #[test]
    fn the_table_takes_the_first_anomaly_of_a_workload_checked_after_the_run() {
        let runs = [counter_outcome(1), outcome(2, Verdict::Valid, None)];
        let lines = table(&runs);
        assert!(
            lines[1].contains("invalid") && lines[1].contains("3.0 s"),
            "{}",
            lines[1]
        );
        assert_eq!(
            lines[3],
            "invalid in 1 of 2 runs; first anomaly after a median of 3.0 s"
        );
    }

    #[test]
    fn the_table_counts_invalid_runs_and_the_median_first_anomaly() {
        let runs = [
            outcome(7, Verdict::Invalid, Some(3.0)),
            outcome(8, Verdict::Valid, None),
            outcome(9, Verdict::Invalid, Some(10.0)),
            outcome(10, Verdict::Unknown, None),
        ];
        let lines = table(&runs);
        assert_eq!(lines.len(), 6);
        assert!(lines[1].starts_with("1    7 "), "{}", lines[1]);
        assert!(lines[1].contains("invalid") && lines[1].contains("3.0 s"));
        assert!(lines[2].contains("valid") && lines[2].contains(" - "));
        assert_eq!(
            lines[5],
            "invalid in 2 of 4 runs; first anomaly after a median of 6.5 s"
        );
        assert_eq!(worst(&runs), Verdict::Invalid);
        assert_eq!(
            tally(&runs[1..2]),
            "invalid in 0 of 1 runs; no run recorded when it first found an anomaly"
        );
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[]), None);
    }
}
