//! `faultline report RUN_DIR`: regenerate results.json, junit.xml and report.html of a run.
//!
//! A run that never finished (faultline was killed before checking) has a history but no
//! checker results: its workload's checkers are run afresh from its test.json, on the
//! history without a torn last line, so it gets a verdict too.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `faultline report`.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// A run directory (store/<test>/<timestamp>, or store/latest) holding history.jsonl.
    run_dir: PathBuf,
}

/// Whether `run_dir` is a run directory at all: one that exists and holds a history.
fn readable_run_dir(run_dir: &std::path::Path) -> Result<(), String> {
    let name = run_dir.display();
    if !run_dir.exists() {
        return Err(format!("{name}: no such run directory"));
    }
    if !run_dir.is_dir() {
        return Err(format!(
            "{name}: not a run directory (give store/<test>/<timestamp>)"
        ));
    }
    if !run_dir.join(faultline_report::HISTORY_FILE).is_file() {
        return Err(format!(
            "{name}: not a run directory: it holds no {}",
            faultline_report::HISTORY_FILE
        ));
    }
    Ok(())
}

/// Whether the run's results.json holds checker results (absent, unreadable or empty: no).
fn has_checker_results(run_dir: &std::path::Path) -> bool {
    std::fs::read_to_string(run_dir.join(faultline_report::RESULTS_FILE))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| {
            v.get("checkers")
                .and_then(|c| c.as_array())
                .map(|c| !c.is_empty())
        })
        .unwrap_or(false)
}

/// The run's checkers, run afresh on its history.
fn rerun_checkers(
    run_dir: &std::path::Path,
) -> Result<Vec<faultline_history::CheckerResult>, String> {
    let config = run_dir.join(faultline_report::CONFIG_FILE);
    if !config.is_file() {
        return Err(format!(
            "{}: the run has no checker results and no test.json to rerun its checkers from",
            run_dir.display()
        ));
    }
    let checkers = faultline_core::checking::run_checkers(&config)?;
    let loaded = faultline_core::checking::load(
        &run_dir.join(faultline_report::HISTORY_FILE),
        Some(faultline_history::import::Format::Jsonl),
    )?;
    crate::print::warnings(&loaded.warnings);
    Ok(checkers.check(&loaded.ops))
}

/// Warns, one line each, about the files of the run's definition and client program that
/// changed since it ran (what test.json pins).
fn warn_of_changes(run_dir: &std::path::Path) {
    let Ok(config) = faultline_core::config::read(&run_dir.join(faultline_report::CONFIG_FILE))
    else {
        return;
    };
    for change in faultline_core::pin::changes(&config) {
        eprintln!("faultline report: warning: {change}; the reproduce command would not run what this run ran");
    }
}

/// Runs `faultline report`: exits with the run's verdict code, or 254 for unreadable input.
pub fn run(args: ReportArgs) -> ExitCode {
    if let Err(e) = readable_run_dir(&args.run_dir) {
        eprintln!("faultline report: {e}");
        return ExitCode::from(crate::EXIT_BAD_ARGS);
    }
    warn_of_changes(&args.run_dir);
    let fresh = if has_checker_results(&args.run_dir) {
        None
    } else {
        match rerun_checkers(&args.run_dir) {
            Ok(results) => {
                eprintln!(
                    "faultline report: {} had no checker results (the run never finished); ran its checkers afresh",
                    args.run_dir.display()
                );
                Some(results)
            }
            Err(e) => {
                eprintln!("faultline report: {e}");
                return ExitCode::from(crate::EXIT_BAD_ARGS);
            }
        }
    };
    match faultline_report::regenerate_with(&args.run_dir, fresh) {
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
