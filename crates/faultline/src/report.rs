//! `faultline report RUN_DIR`: regenerate results.json, junit.xml and report.html of a run.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `faultline report`.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// A run directory (store/<test>/<timestamp>, or store/latest) holding history.jsonl.
    run_dir: PathBuf,
}

/// Runs `faultline report`: exits with the run's verdict code, or 254 for unreadable input.
pub fn run(args: ReportArgs) -> ExitCode {
    match faultline_report::regenerate(&args.run_dir) {
        Ok(results) => {
            if results.checkers.is_empty() {
                eprintln!(
                    "faultline: {} has no checker results; verdict unknown",
                    args.run_dir.join(faultline_report::RESULTS_FILE).display()
                );
            }
            println!(
                "{}: {} ({})",
                args.run_dir.display(),
                results.verdict,
                [
                    faultline_report::RESULTS_FILE,
                    faultline_report::JUNIT_FILE,
                    faultline_report::REPORT_FILE
                ]
                .join(", ")
            );
            ExitCode::from(results.verdict.exit_code() as u8)
        }
        Err(e) => {
            eprintln!("faultline: {e}");
            ExitCode::from(crate::EXIT_BAD_ARGS)
        }
    }
}
