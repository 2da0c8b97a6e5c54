//! The one place that decides which checkers judge a history and runs them, for `faultline
//! test`, `check` and `report` alike: a run's own checkers are rebuilt from its test.json by
//! the workload registry (`faultline_workloads`), exactly as the run configured them.

use faultline_history::{CheckerResult, Operation, Verdict};
use faultline_workloads::{self as workloads, Configured};
use serde_json::Value;
use std::path::Path;

/// The checkers of the run whose test.json is at `config`, as the run configured them.
pub fn run_checkers(config: &Path) -> Result<Configured, String> {
    let name = config.display();
    let text = std::fs::read_to_string(config).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{name}:line {}: not JSON: {e}", e.line()))?;
    if value.get("config_version").is_some() {
        // Typed: the whole record must read, so a damaged test.json is caught here.
        let typed = crate::config::read(config)?;
        return workloads::configure(&typed.workload, &typed.common)
            .map_err(|e| format!("{name}: {e}"));
    }
    // Written before test.json was typed: the registry reads the fields it needs.
    workloads::from_test_json(&value)
        .map_err(|e| format!("{name}: {}", e.trim_start_matches("test.json: ")))
}

/// Runs the checkers of the run whose test.json is at `config` on `ops`.
pub fn check_run(config: &Path, ops: &[Operation]) -> Result<Vec<CheckerResult>, String> {
    Ok(run_checkers(config)?.check(ops))
}

/// The worst verdict of several checkers' (valid when there are none).
pub fn worst_of(results: &[CheckerResult]) -> Verdict {
    results
        .iter()
        .fold(Verdict::Valid, |w, r| w.worst(r.verdict))
}
