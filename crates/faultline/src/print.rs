//! Lines the commands print about checker results (`test` and `check` alike).

use faultline_history::CheckerResult;

/// One line per checker (verdict, anomaly count, reason) and its first three anomalies.
pub(crate) fn print_checker_lines(results: &[CheckerResult]) {
    for c in results {
        println!(
            "  {:<18} {:<8} {} anomal{}{}",
            c.checker,
            c.verdict,
            c.anomalies.len(),
            if c.anomalies.len() == 1 { "y" } else { "ies" },
            c.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
        for a in c.anomalies.iter().take(3) {
            println!("    {}: {}", a.kind, a.explanation);
        }
    }
}
