//! Lines the commands print about checker results (`test` and `check` alike).

use faultline_core::notice::{Notice, Notify};
use faultline_history::CheckerResult;

/// Prints what a test tells as it goes: anomalies on stdout (with the run's summary),
/// everything else on stderr after `faultline: `.
pub(crate) fn notices() -> Notify {
    Notify::new(|notice| match notice {
        Notice::Anomaly(line) => println!("{line}"),
        Notice::Progress(line) | Notice::Warning(line) => eprintln!("faultline: {line}"),
    })
}

/// One line per checker (verdict, anomaly count, when the first became visible, reason)
/// and its first three anomalies.
pub(crate) fn print_checker_lines(results: &[CheckerResult]) {
    for c in results {
        println!(
            "  {:<18} {:<8} {} anomal{}{}{}",
            c.checker,
            c.verdict,
            c.anomalies.len(),
            if c.anomalies.len() == 1 { "y" } else { "ies" },
            c.first_anomaly_s
                .map(|t| format!(", the first at {t:.1} s"))
                .unwrap_or_default(),
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

/// Prints what reading a history warned of (a torn last line dropped), one line each.
pub(crate) fn warnings(warnings: &[String]) {
    for warning in warnings {
        eprintln!("faultline: {warning}");
    }
}
