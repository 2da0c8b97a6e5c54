//! Headless Chromium over the DevTools protocol, for the browser tests and the benchmark.
#![allow(dead_code)]

use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::{Browser, LaunchOptions, Tab};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where chromium is: `$FAULTLINE_CHROMIUM`, else the first of the usual names on `PATH`.
pub fn chromium_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FAULTLINE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome", "chrome"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Starts headless Chromium (killed when the returned `Browser` drops), or `None` when it is
/// absent and `FAULTLINE_SKIP_BROWSER=1`. Without it and without that variable: panics with
/// the install command, so CI without chromium fails loudly.
pub fn launch() -> Option<Browser> {
    let Some(path) = chromium_path() else {
        if std::env::var("FAULTLINE_SKIP_BROWSER").as_deref() == Ok("1") {
            eprintln!("chromium not found; browser test skipped (FAULTLINE_SKIP_BROWSER=1)");
            return None;
        }
        panic!("install chromium: apt-get install -y chromium");
    };
    let args: Vec<&OsStr> = [
        "--disable-background-networking",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-component-update",
        "--no-first-run",
        "--mute-audio",
        "--hide-scrollbars",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    let options = LaunchOptions {
        headless: true,
        sandbox: false,
        path: Some(path),
        window_size: Some((1400, 1000)),
        idle_browser_timeout: Duration::from_secs(120),
        args,
        ..LaunchOptions::default()
    };
    Some(Browser::new(options).expect("chromium starts"))
}

/// Console errors and uncaught exceptions a tab reported.
#[derive(Clone, Default)]
pub struct Problems(pub Arc<Mutex<Vec<String>>>);

/// Opens a tab that records console errors, uncaught exceptions and error log entries.
pub fn open_tab(browser: &Browser) -> (Arc<Tab>, Problems) {
    let tab = browser.new_tab().expect("a tab");
    tab.set_default_timeout(Duration::from_secs(30));
    tab.enable_log().expect("log domain");
    tab.enable_runtime().expect("runtime domain");
    let problems = Problems::default();
    let sink = problems.0.clone();
    tab.add_event_listener(Arc::new(move |event: &Event| {
        let problem = match event {
            Event::RuntimeExceptionThrown(e) => {
                Some(format!("exception: {:?}", e.params.exception_details))
            }
            Event::RuntimeConsoleAPICalled(e) => {
                let kind = format!("{:?}", e.params.Type);
                (kind == "Error" || kind == "Assert")
                    .then(|| format!("console.{kind}: {:?}", e.params.args))
            }
            Event::LogEntryAdded(e) => {
                let level = format!("{:?}", e.params.entry.level);
                (level == "Error").then(|| {
                    format!(
                        "log error: {} ({:?})",
                        e.params.entry.text, e.params.entry.url
                    )
                })
            }
            _ => None,
        };
        if let Some(p) = problem {
            sink.lock().unwrap().push(p);
        }
    }))
    .expect("event listener");
    (tab, problems)
}

/// Evaluates a JavaScript expression that yields a string (use `JSON.stringify`).
pub fn eval_string(tab: &Tab, expr: &str, await_promise: bool) -> String {
    let v = tab
        .evaluate(expr, await_promise)
        .unwrap_or_else(|e| panic!("evaluating {expr}: {e}"));
    match v.value {
        Some(serde_json::Value::String(s)) => s,
        other => panic!("{expr} gave {other:?}, not a string ({:?})", v.description),
    }
}

/// Evaluates `expr` (which yields a JSON string) and parses it.
pub fn eval_json(tab: &Tab, expr: &str) -> serde_json::Value {
    serde_json::from_str(&eval_string(tab, &format!("JSON.stringify({expr})"), false))
        .expect("JSON from the page")
}

/// Polls `expr` (a boolean expression) until true, for at most `limit`.
pub fn wait_true(tab: &Tab, expr: &str, limit: Duration) {
    let start = Instant::now();
    loop {
        let v = tab
            .evaluate(&format!("!!({expr})"), false)
            .expect("evaluate");
        if v.value == Some(serde_json::Value::Bool(true)) {
            return;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {expr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the report page has drawn its timeline and plots.
pub fn wait_rendered(tab: &Tab) {
    tab.wait_for_element_with_custom_timeout("html[data-rendered]", Duration::from_secs(60))
        .expect("the report renders");
}

/// Waits (up to 30 s) until the tab shows a loaded page whose address ends with `path`, and
/// returns its text. For pages without the report's script, such as plain-text logs.
pub fn wait_for_page(tab: &Tab, path: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let state = eval_json(
            tab,
            "[location.href, document.readyState, document.body ? document.body.innerText : null]",
        );
        if state[0].as_str().is_some_and(|u| u.ends_with(path)) && state[1] == "complete" {
            return state[2].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page {path} never loaded: {state}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Saves a PNG screenshot of the whole page under the target directory and returns its path.
pub fn screenshot(tab: &Tab, name: &str) -> PathBuf {
    use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("screenshot");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/report-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
    path
}
