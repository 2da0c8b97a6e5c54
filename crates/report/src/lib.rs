//! faultline-report: what people review after a run.
//!
//! From plain data (the history's events, the checkers' results and the run configuration)
//! this crate writes:
//! - `results.json`, in the versioned schema shipped as `docs/results.schema.json` ([`Results`]);
//! - `junit.xml`, one testsuite per run and one testcase per checker ([`render_junit`]);
//! - `report.html`, one self-contained page with a zoomable canvas timeline, latency,
//!   throughput and clock-offset plots, and every anomaly with its operations ([`render_html`]);
//!
//! and [`StoreServer`] browses a store of runs over HTTP on 127.0.0.1.
//!
//! # Conventions read from the history
//! Nemesis operations (process `nemesis`, an invocation and its completion) become faults:
//! - `start-X` begins fault `X`, `stop-X` ends it (`start-partition` … `stop-partition`);
//! - `pause[-X]`/`resume[-X]`, `kill[-X]`/`restart[-X]` (or a bare `start`, as Jepsen's kill
//!   nemesis says) begin and end `pause[-X]` and `kill[-X]`;
//! - `bump-clock`, `strobe-clock`, `skew-clock` begin fault `clock`; `reset-clock` ends it;
//! - any other nemesis `f` is a fault of its own, lasting as long as its operation;
//! - a fault runs from its beginning operation's invocation to its ending operation's
//!   completion, or to the end of the history if nothing ends it.
//!
//! Targets are the event's `node`, else the strings of its value (a string, a list, or the keys
//! of an object such as a partition's grudge, or its `targets`/`nodes` key).
//!
//! Clock offsets: a nemesis operation whose `f` contains `clock` and whose completion's value
//! (or, lacking a completion, its invocation's) is an object `{node: offset_ns}` (integers,
//! nanoseconds, positive when the node's clock is ahead), or holds one under `offsets`,
//! `clock_offsets` or `offsets_ns`, is a measurement of every listed node's offset at that time.
//!
//! The run configuration (`test.json`) is kept verbatim; the summary reads its keys `name`,
//! `workload`, `db`, `nemesis`, `nodes`, `seed` and `command` ([`TestSummary::from_config`]).

mod cycle;
mod drawing;
mod escape;
mod html;
mod junit;
pub mod markdown;
mod results;
mod serve;
mod store;

pub use escape::{html_escape, json_for_script, xml_escape};
pub use faultline_explain::{Expectation, Explanation};
pub use html::{relative_href, render_html, Link};
pub use junit::{anomaly_summary, render_junit};
pub use results::{
    expectations, first_anomaly_s, pair_operations, quantiles, shell_quote, ClockSample, Fault,
    LeaderSample, NemesisSummary, OutcomeCounts, Quantiles, Results, Stats, TestSummary,
    FIRST_ANOMALY, SCHEMA_ID, SCHEMA_VERSION,
};
pub use serve::{StoreServer, MAX_CONNECTIONS, MAX_REQUEST_HEAD};
pub use store::{
    host_allowed, list_runs, render_index, resolve, Refusal, RunEntry, SERVED_RUN_ENTRIES,
};

use faultline_history::{CheckerResult, Event};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// File name of the raw history inside a run directory.
pub const HISTORY_FILE: &str = "history.jsonl";
/// File name of the run configuration inside a run directory.
pub const CONFIG_FILE: &str = "test.json";
/// File name of the results inside a run directory.
pub const RESULTS_FILE: &str = "results.json";
/// File name of the JUnit XML inside a run directory.
pub const JUNIT_FILE: &str = "junit.xml";
/// File name of the HTML report inside a run directory.
pub const REPORT_FILE: &str = "report.html";
/// Directory of node logs inside a run directory: `logs/<node>/...`.
pub const LOGS_DIR: &str = "logs";

/// At most this many log files are linked from a report.
const MAX_LOG_LINKS: usize = 2000;

/// What can go wrong while reading inputs or writing reports; each says where and what.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file's contents are not what they should be.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line; 0 when it concerns the whole file.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The HTTP server could not start.
    #[error("cannot serve on {addr}: {message}")]
    Serve {
        /// The address it tried.
        addr: String,
        /// Why it failed.
        message: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a JSON Lines history with [`faultline_history::read_jsonl`]; blank lines are
/// skipped, a torn last line (a crash cut it: see
/// [`faultline_history::jsonl::without_torn_tail`]) is dropped, anything else must be an
/// [`Event`].
pub fn read_history(path: &Path) -> Result<Vec<Event>, ReportError> {
    // Read whole first, so I/O errors stay `Io` and only the contents can be a `Parse`.
    let bytes = fs::read(path).map_err(io_err(path))?;
    // A run that crashed may have a torn last line; the rest is the history (the CLI warns).
    let (bytes, _torn) = faultline_history::jsonl::without_torn_tail(&bytes);
    let (mut events, _lines) =
        faultline_history::read_jsonl(bytes).map_err(|e| ReportError::Parse {
            path: path.to_path_buf(),
            line: e.line as usize,
            message: format!("not a history event: {}", e.message),
        })?;
    // A report shows values; it never needs more than the first part of a long one.
    for ev in &mut events {
        faultline_history::value::bound_event(ev, REPORT_VALUE_BYTES);
    }
    Ok(events)
}

/// The longest JSON of one value (an event's value, a checker's detail) a report holds; a
/// longer one is shown truncated, saying so (see [`faultline_history::value::bounded`]).
pub const REPORT_VALUE_BYTES: usize = 16 << 10;

/// The longest text (an anomaly's explanation) a report holds.
pub const REPORT_TEXT_BYTES: usize = 16 << 10;

/// `events` with every value bounded to [`REPORT_VALUE_BYTES`]; borrowed when none is longer.
pub fn bounded_events(events: &[Event]) -> std::borrow::Cow<'_, [Event]> {
    use faultline_history::value::longer_than;
    let long = |e: &Event| {
        [e.key.as_ref(), Some(&e.value), e.error.as_ref()]
            .into_iter()
            .flatten()
            .any(|v| longer_than(v, REPORT_VALUE_BYTES))
    };
    if !events.iter().any(long) {
        return std::borrow::Cow::Borrowed(events);
    }
    let mut out = events.to_vec();
    for ev in &mut out {
        faultline_history::value::bound_event(ev, REPORT_VALUE_BYTES);
    }
    std::borrow::Cow::Owned(out)
}

/// A checker's result with its long values and texts truncated for a report.
pub fn bounded_checker(result: &CheckerResult) -> CheckerResult {
    use faultline_history::value::{bound_deep, clip};
    let text = |s: &str| -> String {
        if s.len() <= REPORT_TEXT_BYTES {
            s.to_string()
        } else {
            let cut = (0..=REPORT_TEXT_BYTES)
                .rev()
                .find(|&i| s.is_char_boundary(i))
                .unwrap_or(0);
            format!("{}… [truncated: {} bytes]", clip(&s[..cut]), s.len())
        }
    };
    let mut r = CheckerResult {
        checker: result.checker.clone(),
        verdict: result.verdict,
        reason: result.reason.as_deref().map(text),
        anomalies: Vec::with_capacity(result.anomalies.len()),
        stats: result.stats.clone(),
        first_anomaly_s: result.first_anomaly_s,
    };
    bound_deep(&mut r.stats, REPORT_VALUE_BYTES);
    for a in &result.anomalies {
        let mut detail = a.detail.clone();
        bound_deep(&mut detail, REPORT_VALUE_BYTES);
        r.anomalies.push(faultline_history::Anomaly {
            kind: a.kind.clone(),
            explanation: text(&a.explanation),
            events: a.events.clone(),
            detail,
        });
    }
    r
}

fn read_json(path: &Path) -> Result<Value, ReportError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    serde_json::from_str(&text).map_err(|e| ReportError::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        message: format!("invalid JSON: {e}"),
    })
}

/// Writes `contents` next to `path` and renames it into place, so readers never see half a file.
fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), ReportError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    fs::write(&tmp, contents).map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

/// Writes `results` as pretty JSON to `out`.
pub fn write_results_json(out: &Path, results: &Results) -> Result<(), ReportError> {
    let mut json = serde_json::to_vec_pretty(results).expect("results are plain data");
    json.push(b'\n');
    write_atomically(out, &json)
}

/// Writes `results` as JUnit XML to `out`; failures point to `report_link`.
pub fn write_junit(out: &Path, results: &Results, report_link: &str) -> Result<(), ReportError> {
    write_atomically(out, render_junit(results, report_link).as_bytes())
}

/// Writes the self-contained HTML report to `out`. For `faultline check FILE --html OUT`:
/// build `results` with [`Results::build`], and link the history with [`file_link`].
pub fn write_html(
    out: &Path,
    events: &[Event],
    results: &Results,
    links: &[Link],
) -> Result<(), ReportError> {
    write_atomically(out, render_html(events, results, links).as_bytes())
}

/// A link to a file anywhere on this machine, as an absolute `file://` URL (for reports of
/// imported histories, which do not sit next to their inputs).
pub fn file_link(label: &str, target: &Path) -> Link {
    let abs = fs::canonicalize(target).unwrap_or_else(|_| target.to_path_buf());
    let path = abs.to_string_lossy();
    let path = path.trim_start_matches('/');
    Link {
        label: label.to_string(),
        href: format!("file:///{}", relative_href(path)),
    }
}

/// Links to the files of a run directory: history, configuration, results, JUnit, node logs.
pub fn run_links(run_dir: &Path) -> Vec<Link> {
    let mut links = Vec::new();
    for (name, label) in [
        (HISTORY_FILE, "raw history (history.jsonl)"),
        (CONFIG_FILE, "configuration (test.json)"),
        (RESULTS_FILE, "results (results.json)"),
        (JUNIT_FILE, "JUnit XML (junit.xml)"),
    ] {
        if run_dir.join(name).is_file() {
            links.push(Link {
                label: label.into(),
                href: relative_href(name),
            });
        }
    }
    let mut logs = Vec::new();
    collect_files(&run_dir.join(LOGS_DIR), LOGS_DIR, &mut logs);
    logs.sort();
    let total = logs.len();
    for rel in logs.into_iter().take(MAX_LOG_LINKS) {
        links.push(Link {
            label: format!("log: {rel}"),
            href: relative_href(&rel),
        });
    }
    if total > MAX_LOG_LINKS {
        links.push(Link {
            label: format!("… {} more log files in logs/", total - MAX_LOG_LINKS),
            href: relative_href(LOGS_DIR) + "/",
        });
    }
    links
}

fn collect_files(dir: &Path, rel: &str, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{rel}/{name}");
        match entry.file_type() {
            Ok(t) if t.is_dir() => collect_files(&entry.path(), &rel, out),
            Ok(t) if t.is_file() => out.push(rel),
            _ => {}
        }
        if out.len() > MAX_LOG_LINKS * 4 {
            return;
        }
    }
}

/// Regenerates `results.json`, `junit.xml` and `report.html` of a run directory from its
/// `history.jsonl`, the checker results already in its `results.json` (none if absent: the
/// verdict is then unknown) and its `test.json`. Durations and versions recorded earlier are kept.
pub fn regenerate(run_dir: &Path) -> Result<Results, ReportError> {
    regenerate_with(run_dir, None)
}

/// [`regenerate`], with `checkers` (when given) replacing the checker results in
/// `results.json`: for a run that never finished, whose checkers were run afresh.
pub fn regenerate_with(
    run_dir: &Path,
    fresh: Option<Vec<CheckerResult>>,
) -> Result<Results, ReportError> {
    let history = run_dir.join(HISTORY_FILE);
    let events = read_history(&history)?;
    let config_path = run_dir.join(CONFIG_FILE);
    let config = if config_path.is_file() {
        read_json(&config_path)?
    } else {
        Value::Null
    };
    let results_path = run_dir.join(RESULTS_FILE);
    let previous = if results_path.is_file() {
        Some(read_json(&results_path)?)
    } else {
        None
    };
    let parse_err = |message: String| ReportError::Parse {
        path: results_path.clone(),
        line: 0,
        message,
    };
    let mut checkers: Vec<CheckerResult> = Vec::new();
    let mut durations: BTreeMap<String, f64> = BTreeMap::new();
    let mut versions: BTreeMap<String, String> = BTreeMap::new();
    if let Some(prev) = &previous {
        if let Some(v) = prev.get("schema_version").and_then(Value::as_u64) {
            if v > u64::from(SCHEMA_VERSION) {
                return Err(parse_err(format!(
                    "schema_version {v} is newer than this faultline understands ({SCHEMA_VERSION})"
                )));
            }
        }
        if let Some(c) = prev.get("checkers") {
            checkers = serde_json::from_value(c.clone()).map_err(|e| {
                parse_err(format!("`checkers` is not a list of checker results: {e}"))
            })?;
        }
        if let Some(d) = prev.get("durations") {
            durations = serde_json::from_value(d.clone())
                .map_err(|e| parse_err(format!("`durations` is not a map of seconds: {e}")))?;
        }
        if let Some(v) = prev.get("versions") {
            versions = serde_json::from_value(v.clone())
                .map_err(|e| parse_err(format!("`versions` is not a map of strings: {e}")))?;
        }
    }
    if let Some(fresh) = fresh {
        checkers = fresh;
    }
    let mut results = Results::build(&events, &checkers, &config);
    for (k, v) in durations {
        results.durations.entry(k).or_insert(v);
    }
    for (k, v) in versions {
        results.versions.entry(k).or_insert(v);
    }
    write_results_json(&results_path, &results)?;
    write_junit(&run_dir.join(JUNIT_FILE), &results, REPORT_FILE)?;
    write_html(
        &run_dir.join(REPORT_FILE),
        &events,
        &results,
        &run_links(run_dir),
    )?;
    Ok(results)
}
