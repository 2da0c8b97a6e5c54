//! Browsing a store of runs over HTTP: an index of runs and their files, on 127.0.0.1 only.
//!
//! A store holds `<test-name>/<timestamp>/` run directories. Runs are listed newest first by
//! timestamp directory name (the runner's timestamps sort as text), then by test name.

use crate::escape::html_escape;
use crate::html::relative_href;
use crate::{ReportError, HISTORY_FILE, JUNIT_FILE, LOGS_DIR, REPORT_FILE, RESULTS_FILE};
use faultline_history::Verdict;
use serde_json::Value;
use std::fmt::Write;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// One run found in a store.
#[derive(Clone, Debug, PartialEq)]
pub struct RunEntry {
    /// The test's directory name.
    pub test: String,
    /// The run's directory name (a timestamp).
    pub timestamp: String,
    /// The verdict from its `results.json`, if it has one that says.
    pub verdict: Option<Verdict>,
    /// The number of operations from its `results.json`, if recorded.
    pub operations: Option<u64>,
    /// Which of report.html, results.json, junit.xml, history.jsonl and logs/ exist.
    pub files: Vec<&'static str>,
}

const RUN_FILES: [&str; 5] = [
    REPORT_FILE,
    RESULTS_FILE,
    JUNIT_FILE,
    HISTORY_FILE,
    LOGS_DIR,
];

fn is_run_dir(dir: &Path) -> bool {
    ["history.jsonl", "results.json", "test.json"]
        .iter()
        .any(|f| dir.join(f).is_file())
}

fn real_dirs(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        // Symlinks such as store/latest point at runs listed anyway; dot-directories are
        // never a store's to show.
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect()
}

/// Lists the runs of a store, newest first.
pub fn list_runs(store: &Path) -> Result<Vec<RunEntry>, ReportError> {
    fs::read_dir(store).map_err(|source| ReportError::Io {
        path: store.to_path_buf(),
        source,
    })?;
    let mut runs = Vec::new();
    for (test, test_dir) in real_dirs(store) {
        for (timestamp, run_dir) in real_dirs(&test_dir) {
            if !is_run_dir(&run_dir) {
                continue;
            }
            let results: Option<Value> = fs::read(run_dir.join(RESULTS_FILE))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let verdict = results
                .as_ref()
                .and_then(|r| r.get("verdict"))
                .and_then(|v| serde_json::from_value(v.clone()).ok());
            let operations = results
                .as_ref()
                .and_then(|r| r.pointer("/stats/operations"))
                .and_then(Value::as_u64);
            let files = RUN_FILES
                .iter()
                .copied()
                .filter(|f| run_dir.join(f).exists())
                .collect();
            runs.push(RunEntry {
                test: test.clone(),
                timestamp,
                verdict,
                operations,
                files,
            });
        }
    }
    runs.sort_by(|a, b| {
        b.timestamp
            .cmp(&a.timestamp)
            .then_with(|| a.test.cmp(&b.test))
    });
    Ok(runs)
}

const PAGE_STYLE: &str = "body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d232a}\
header{padding:14px 24px;border-bottom:1px solid #d8dee4}h1{font-size:20px;margin:0}main{padding:12px 24px 40px}\
table{border-collapse:collapse}th,td{padding:5px 14px 5px 8px;border-bottom:1px solid #d8dee4;text-align:left}\
tr.valid{background:#eaf6ee}tr.invalid{background:#fbeaea}tr.unknown{background:#fdf3e2}tr.none{background:#f6f8fa}\
tr.valid td:first-child{border-left:4px solid #2e9e4f}tr.invalid td:first-child{border-left:4px solid #d64541}\
tr.unknown td:first-child{border-left:4px solid #e8a33d}tr.none td:first-child{border-left:4px solid #aab4be}\
.verdict{font-weight:600;text-transform:uppercase;font-size:12px}.valid .verdict{color:#2e9e4f}\
.invalid .verdict{color:#d64541}.unknown .verdict{color:#b57514}a{margin-right:10px}.muted{color:#5d6b78}\
td.num{text-align:right;font-variant-numeric:tabular-nums}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <link rel=\"icon\" href=\"data:,\">\
         <style>{PAGE_STYLE}</style></head><body><header><h1>{t}</h1></header><main>{body}</main></body></html>\n",
        t = html_escape(title)
    )
}

/// Renders the store's index page: runs newest first, coloured by verdict, with their files.
pub fn render_index(store_label: &str, runs: &[RunEntry]) -> String {
    let mut b = String::new();
    if runs.is_empty() {
        let _ = write!(
            b,
            "<p class=\"muted\">No runs in {} yet.</p>",
            html_escape(store_label)
        );
        return page("faultline runs", &b);
    }
    let _ = write!(
        b,
        "<p class=\"muted\">{} run{} in {}, newest first.</p><table id=\"runs\">\
         <tr><th>run</th><th>test</th><th>verdict</th><th class=\"num\">operations</th><th>files</th></tr>",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        html_escape(store_label)
    );
    for r in runs {
        let base = format!(
            "/{}/{}/",
            relative_href(&r.test),
            relative_href(&r.timestamp)
        );
        let class = r.verdict.map_or("none".to_string(), |v| v.to_string());
        let verdict = r
            .verdict
            .map_or("no results".to_string(), |v| v.to_string());
        let _ = write!(
            b,
            "<tr class=\"run {class}\"><td><a href=\"{base}\">{}</a></td><td>{}</td><td class=\"verdict\">{}</td><td class=\"num\">{}</td><td>",
            html_escape(&r.timestamp),
            html_escape(&r.test),
            html_escape(&verdict),
            r.operations.map_or("—".to_string(), |n| n.to_string()),
        );
        for f in &r.files {
            let label = if *f == REPORT_FILE { "report" } else { f };
            let suffix = if *f == LOGS_DIR { "/" } else { "" };
            let _ = write!(
                b,
                "<a href=\"{}{f}{suffix}\">{}</a>",
                html_escape(&base),
                html_escape(label)
            );
        }
        b.push_str("</td></tr>");
    }
    b.push_str("</table>");
    page("faultline runs", &b)
}

pub(crate) fn render_listing(url_path: &str, dir: &Path, root: &Path) -> String {
    let mut entries: Vec<(String, bool)> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                // Only what the allow-list would serve is listed.
                .filter(|e| allowed(root, &e.path()))
                .map(|e| {
                    let is_dir = e.path().is_dir();
                    (e.file_name().to_string_lossy().into_owned(), is_dir)
                })
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    let mut b = String::from("<ul><li><a href=\"../\">../</a></li>");
    for (name, is_dir) in entries {
        let slash = if is_dir { "/" } else { "" };
        let _ = write!(
            b,
            "<li><a href=\"{}{slash}\">{}{slash}</a></li>",
            html_escape(&relative_href(&name)),
            html_escape(&name)
        );
    }
    b.push_str("</ul><p><a href=\"/\">all runs</a></p>");
    page(url_path, &b)
}

/// Why a request path was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a valid path: bad percent-encoding, NUL, backslash.
    BadRequest,
    /// It names something outside the store (`..`, a symlink leading out).
    Forbidden,
    /// Nothing there.
    NotFound,
}

/// Maps a request path (`/test/run/report.html?x`) to a file or directory inside `store`,
/// refusing anything that would leave it: `..` segments, encoded or not, and symlinks out.
pub fn resolve(store: &Path, url_path: &str) -> Result<PathBuf, Refusal> {
    let path = url_path.split(['?', '#']).next().unwrap_or("");
    let mut rel = PathBuf::new();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        let decoded = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| Refusal::BadRequest)?;
        if decoded.contains(['\0', '\\']) {
            return Err(Refusal::BadRequest);
        }
        if decoded.contains('/') || decoded == ".." || decoded == "." {
            return Err(Refusal::Forbidden);
        }
        let segment_path = Path::new(decoded.as_ref());
        if segment_path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(Refusal::Forbidden);
        }
        rel.push(segment_path);
    }
    let root = fs::canonicalize(store).map_err(|_| Refusal::NotFound)?;
    let target = fs::canonicalize(root.join(&rel)).map_err(|_| Refusal::NotFound)?;
    if !target.starts_with(&root) {
        return Err(Refusal::Forbidden);
    }
    // Both the path asked for (store/latest/...) and where it leads must be on the list.
    if !allowed(&root, &root.join(&rel)) || !allowed(&root, &target) {
        return Err(Refusal::NotFound);
    }
    Ok(target)
}

/// What a run directory is meant to show: its reports, history, configuration, the
/// harness's log, and the nodes' logs. Nothing else in a store is served.
pub const SERVED_RUN_ENTRIES: [&str; 7] = [
    REPORT_FILE,
    RESULTS_FILE,
    JUNIT_FILE,
    HISTORY_FILE,
    crate::CONFIG_FILE,
    "faultline.log",
    LOGS_DIR,
];

/// The allow-list: `path` (inside the canonical store `root`) is a test directory, the
/// `latest` link, a run directory, one of [`SERVED_RUN_ENTRIES`] in a run directory, or
/// anything under a run's `logs/`. No name on the way may start with a dot, so cluster
/// state, keys and other dot-directories are never served, whatever they are called.
fn allowed(root: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(root) else {
        return false;
    };
    let names: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if names.iter().any(|n| n.starts_with('.')) {
        return false;
    }
    // store/latest is a run directory; store/<test>/<run> is one.
    let run_depth = if names.first().map(String::as_str) == Some(LATEST) {
        1
    } else {
        2
    };
    if names.len() < run_depth {
        return path.is_dir();
    }
    let run_dir: PathBuf = root.join(names[..run_depth].iter().collect::<PathBuf>());
    if !is_run_dir(&run_dir) {
        return false;
    }
    match names.get(run_depth) {
        None => true,
        Some(entry) if entry == LOGS_DIR => true,
        Some(entry) => names.len() == run_depth + 1 && SERVED_RUN_ENTRIES.contains(&entry.as_str()),
    }
}

/// The `store/latest` link's name.
const LATEST: &str = "latest";

pub(crate) fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
        .as_str()
    {
        "html" | "htm" => "text/html; charset=utf-8",
        "json" => "application/json",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "css" => "text/css",
        "js" => "text/javascript",
        // History, logs, EDN and anything else: shown as text rather than downloaded.
        _ => "text/plain; charset=utf-8",
    }
}

/// True if a request's `Host` header names the address and port the server listens on
/// (`127.0.0.1:PORT`, or `localhost:PORT`, which browsers never resolve through DNS). A
/// page on another name that a DNS-rebinding attack pointed at 127.0.0.1 sends its own
/// name, and is refused.
pub fn host_allowed(host: Option<&str>, port: u16) -> bool {
    let Some(host) = host else {
        return false;
    };
    let host = host.trim().to_ascii_lowercase();
    host == format!("127.0.0.1:{port}") || host == format!("localhost:{port}")
}
