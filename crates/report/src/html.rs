//! `report.html`: one self-contained page (inline CSS, JS and data; no fetch of anything).
//!
//! The summary, checker verdicts, anomalies, nemesis and statistics tables are rendered here
//! as escaped HTML, so they read without JavaScript. The timeline and plots are drawn by
//! `assets/report.js` on `<canvas>` elements from compact JSON embedded in the page.

use crate::drawing;
use crate::escape::{html_escape, json_for_script};
use crate::junit::anomaly_summary;
use crate::results::{pair_operations, Results};
use faultline_history::{Event, EventType, Outcome, Process, Verdict};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

/// Values shown per operation are cut to this many characters.
const MAX_VALUE_CHARS: usize = 160;
/// An anomaly's detail is cut to this many characters in the page.
const MAX_DETAIL_CHARS: usize = 200_000;
/// At most this many events are tabulated per anomaly (all are highlighted).
const MAX_ANOMALY_ROWS: usize = 60;

/// A link the report shows in its Files section, relative to the report's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The text shown.
    pub label: String,
    /// The target, already a valid relative URL (see [`relative_href`]).
    pub href: String,
}

/// Percent-encodes each `/`-separated segment of a relative path, so any file name is a safe href.
pub fn relative_href(path: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    path.split('/')
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The data the page's script draws from; every string is escaped by [`json_for_script`].
#[derive(Serialize)]
struct PageData<'a> {
    /// Time of the last event, µs.
    t_end: u64,
    /// Row labels: `nemesis` first if present, then one row per worker (its first process).
    procs: Vec<String>,
    /// Distinct `f`s.
    fs: Vec<&'a str>,
    /// Whether each of `fs` is a nemesis function.
    fs_nemesis: Vec<bool>,
    /// Eight numbers per operation, see report.js.
    ops: Vec<i64>,
    /// A one-line rendering of each operation's value.
    vals: Vec<String>,
    /// Faults: `[start µs, end µs, name, targets]`.
    nemesis: Vec<(u64, u64, String, String)>,
    /// Clock samples.
    clock: Vec<ClockPoint>,
    /// Anomalies in the order the page lists them.
    anomalies: Vec<PageAnomaly<'a>>,
}

#[derive(Serialize)]
struct ClockPoint {
    t: u64,
    o: BTreeMap<String, i64>,
}

#[derive(Serialize)]
struct PageAnomaly<'a> {
    checker: &'a str,
    kind: &'a str,
    events: &'a [u64],
}

/// One row of the timeline: an operation or a nemesis operation.
struct Bar<'a> {
    row: usize,
    /// The client process, or -1 for the nemesis.
    process: i64,
    t0: u64,
    t1: Option<u64>,
    kind: i64,
    f: &'a str,
    invoke: u64,
    complete: Option<u64>,
    text: String,
}

fn bars(events: &[Event]) -> (Vec<String>, Vec<Bar<'_>>) {
    let ops = pair_operations(events);
    let has_nemesis = events.iter().any(|e| e.process == Process::Nemesis);
    let t_end = events.iter().map(|e| e.time).max().unwrap_or(0);
    // Each process's lifetime: a process that ended with `info` never returns, and its worker
    // goes on under a new number. Packing lifetimes into rows gives about one row per worker.
    let mut lifetimes: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for op in &ops {
        let end = op.complete_time.unwrap_or(t_end);
        let life = lifetimes.entry(op.process).or_insert((op.invoke_time, end));
        life.0 = life.0.min(op.invoke_time);
        life.1 = life.1.max(end);
    }
    let mut by_start: Vec<(u64, u64, u64)> =
        lifetimes.iter().map(|(p, (a, b))| (*a, *b, *p)).collect();
    by_start.sort_unstable();
    let offset = usize::from(has_nemesis);
    let mut row_free_at: Vec<u64> = Vec::new();
    let mut row_procs: Vec<Vec<u64>> = Vec::new();
    let mut row_of: HashMap<u64, usize> = HashMap::new();
    for (start, end, p) in by_start {
        let row = match row_free_at.iter().position(|&free| free < start) {
            Some(r) => r,
            None => {
                row_free_at.push(0);
                row_procs.push(Vec::new());
                row_free_at.len() - 1
            }
        };
        row_free_at[row] = end;
        row_procs[row].push(p);
        row_of.insert(p, row + offset);
    }
    let mut labels: Vec<String> = Vec::new();
    if has_nemesis {
        labels.push("nemesis".into());
    }
    labels.extend(row_procs.iter().map(|ps| match ps.as_slice() {
        [one] => one.to_string(),
        [first, ..] => format!("{first}…"),
        [] => String::new(),
    }));
    let by_index: HashMap<u64, &Event> = events.iter().map(|e| (e.index, e)).collect();
    let mut out: Vec<Bar> = Vec::with_capacity(ops.len());
    for op in &ops {
        let mut text = truncate(&compact(&op.input), MAX_VALUE_CHARS);
        if op.complete_index.is_some() && op.output != Value::Null && op.output != op.input {
            text.push_str(" → ");
            text.push_str(&truncate(&compact(&op.output), MAX_VALUE_CHARS));
        }
        if let Some(k) = &op.key {
            text = format!("key {}: {text}", truncate(&compact(k), 40));
        }
        if let Some(e) = &op.error {
            text.push_str("  error: ");
            text.push_str(&truncate(&compact(e), MAX_VALUE_CHARS));
        }
        if let Some(n) = op
            .complete_index
            .and_then(|i| by_index.get(&i)?.node.as_ref())
        {
            text.push_str("  node: ");
            text.push_str(&truncate(n, 40));
        }
        out.push(Bar {
            row: row_of[&op.process],
            process: op.process as i64,
            t0: op.invoke_time,
            t1: op.complete_time,
            kind: match op.outcome {
                Outcome::Ok => 0,
                Outcome::Fail => 1,
                Outcome::Info => 2,
            },
            f: &by_index[&op.invoke_index].f,
            invoke: op.invoke_index,
            complete: op.complete_index,
            text,
        });
    }
    // Nemesis operations: an invocation and the next nemesis completion of the same f.
    let mut open: Option<&Event> = None;
    for e in events.iter().filter(|e| e.process == Process::Nemesis) {
        let (start, end) = if e.kind == EventType::Invoke {
            if let Some(prev) = open.replace(e) {
                (prev, None)
            } else {
                continue;
            }
        } else {
            match open.take() {
                Some(inv) if inv.f == e.f => (inv, Some(e)),
                Some(inv) => {
                    out.push(nemesis_bar(inv, None));
                    (e, Some(e))
                }
                None => (e, Some(e)),
            }
        };
        out.push(nemesis_bar(start, end));
    }
    if let Some(inv) = open {
        out.push(nemesis_bar(inv, None));
    }
    out.sort_by_key(|b| (b.t0, b.invoke));
    (labels, out)
}

fn nemesis_bar<'a>(start: &'a Event, end: Option<&'a Event>) -> Bar<'a> {
    let last = end.unwrap_or(start);
    let mut text = truncate(&compact(&last.value), MAX_VALUE_CHARS * 2);
    if let Some(n) = &last.node {
        text.push_str("  node: ");
        text.push_str(&truncate(n, 40));
    }
    if let Some(e) = &last.error {
        text.push_str("  error: ");
        text.push_str(&truncate(&compact(e), MAX_VALUE_CHARS));
    }
    Bar {
        row: 0,
        process: -1,
        t0: start.time,
        t1: end.map(|e| e.time),
        kind: 3,
        f: &start.f,
        invoke: start.index,
        complete: end.filter(|e| e.index != start.index).map(|e| e.index),
        text,
    }
}

fn page_data<'a>(events: &'a [Event], results: &'a Results) -> PageData<'a> {
    let (procs, bars) = bars(events);
    let mut fs: Vec<&str> = Vec::new();
    let mut fs_nemesis: Vec<bool> = Vec::new();
    let mut f_index: HashMap<(&str, bool), usize> = HashMap::new();
    let mut ops = Vec::with_capacity(bars.len() * 8);
    let mut vals = Vec::with_capacity(bars.len());
    for b in bars {
        let key = (b.f, b.kind == 3);
        let fi = *f_index.entry(key).or_insert_with(|| {
            fs.push(b.f);
            fs_nemesis.push(b.kind == 3);
            fs.len() - 1
        });
        ops.extend_from_slice(&[
            b.row as i64,
            (b.t0 / 1000) as i64,
            b.t1.map_or(-1, |t| (t / 1000) as i64),
            b.kind,
            fi as i64,
            b.invoke as i64,
            b.complete.map_or(-1, |c| c as i64),
            b.process,
        ]);
        vals.push(b.text);
    }
    PageData {
        t_end: events.iter().map(|e| e.time).max().unwrap_or(0) / 1000,
        procs,
        fs,
        fs_nemesis,
        ops,
        vals,
        nemesis: results
            .nemesis
            .faults
            .iter()
            .map(|f| {
                (
                    f.start_ns / 1000,
                    f.end_ns / 1000,
                    f.name.clone(),
                    f.targets.join(", "),
                )
            })
            .collect(),
        clock: results
            .nemesis
            .clock_offsets
            .iter()
            .map(|s| ClockPoint {
                t: s.time_ns / 1000,
                o: s.offsets_ns.clone(),
            })
            .collect(),
        anomalies: results
            .checkers
            .iter()
            .flat_map(|c| {
                c.anomalies.iter().map(move |a| PageAnomaly {
                    checker: &c.checker,
                    kind: &a.kind,
                    events: &a.events,
                })
            })
            .collect(),
    }
}

fn seconds(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

fn latency(ns: u64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.3} s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else {
        format!("{:.1} µs", ns as f64 / 1e3)
    }
}

fn verdict_badge(v: Verdict) -> String {
    format!("<span class=\"verdict {v}\">{v}</span>")
}

fn summary_section(h: &mut String, results: &Results) {
    let t = &results.test;
    let or_dash = |s: Option<&str>| html_escape(s.unwrap_or("—"));
    let list = |v: &[String]| {
        if v.is_empty() {
            "—".to_string()
        } else {
            html_escape(&v.join(", "))
        }
    };
    h.push_str("<section id=\"summary\"><h2>Summary</h2><dl class=\"summary\">");
    let _ = write!(
        h,
        "<dt>Verdict</dt><dd>{}</dd><dt>Workload</dt><dd>{}</dd><dt>Database</dt><dd>{}</dd>\
         <dt>Nemesis</dt><dd>{}</dd><dt>Seed</dt><dd>{}</dd><dt>Nodes</dt><dd>{}</dd>\
         <dt>Operations</dt><dd>{} ({} events)</dd>",
        verdict_badge(results.verdict),
        or_dash(t.workload.as_deref()),
        or_dash(t.db.as_deref()),
        list(&t.nemesis),
        t.seed.map_or("—".to_string(), |s| s.to_string()),
        list(&t.nodes),
        results.stats.operations,
        results.stats.events,
    );
    if let Some(why) = &results.verdict_reason {
        let _ = write!(
            h,
            "<dt>Why unknown</dt><dd class=\"why\">{}</dd>",
            html_escape(why)
        );
    }
    if !results.explanation.summary.is_empty() {
        h.push_str("<dt>What the faults did</dt><dd><ul class=\"fault-summary\">");
        for k in &results.explanation.summary {
            let _ = write!(
                h,
                "<li{}>{}</li>",
                if k.no_visible_effect > 0 {
                    " class=\"no-effect\""
                } else {
                    ""
                },
                html_escape(&k.line)
            );
        }
        h.push_str("</ul></dd>");
    }
    for e in &results.explanation.expectations {
        let _ = write!(
            h,
            "<dt>Expected</dt><dd class=\"{}\">{}</dd>",
            if e.met { "met" } else { "unmet" },
            html_escape(&e.line)
        );
    }
    if let Some(t) = results.durations.get(crate::FIRST_ANOMALY) {
        let _ = write!(
            h,
            "<dt>First anomaly</dt><dd id=\"first-anomaly\">{t:.3} s after the workload started</dd>"
        );
    }
    for (phase, secs) in &results.durations {
        if phase == crate::FIRST_ANOMALY {
            continue;
        }
        let _ = write!(
            h,
            "<dt>Duration ({})</dt><dd>{secs:.3} s</dd>",
            html_escape(phase)
        );
    }
    if !results.versions.is_empty() {
        let v = results
            .versions
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(h, "<dt>Versions</dt><dd>{}</dd>", html_escape(&v));
    }
    h.push_str("<dt>Reproduce</dt><dd>");
    match &t.command {
        Some(c) => {
            let _ = write!(
                h,
                "<pre id=\"command\">{}</pre><button id=\"copy-command\" type=\"button\">Copy</button>",
                html_escape(c)
            );
        }
        None => h.push_str(
            "<span class=\"muted\">not recorded: the run configuration has no <code>command</code></span>",
        ),
    }
    h.push_str("</dd></dl></section>\n");
}

/// A checker's first-anomaly time for its table row: seconds, or a dash.
fn first_anomaly_text(t: Option<f64>) -> String {
    t.map_or_else(|| "–".to_string(), |t| format!("{t:.3} s"))
}

fn checkers_section(h: &mut String, events: &[Event], results: &Results) {
    h.push_str("<section id=\"checkers\"><h2>Checkers</h2>");
    if results.checkers.is_empty() {
        h.push_str("<p class=\"muted\">No checker results.</p>");
    } else {
        h.push_str(
            "<table><tr><th>Checker</th><th>Verdict</th><th>First anomaly</th><th>Finding</th></tr>",
        );
        for c in &results.checkers {
            let finding = match c.verdict {
                Verdict::Valid => "no anomaly".to_string(),
                Verdict::Invalid => anomaly_summary(c),
                Verdict::Unknown => c.reason.clone().unwrap_or_else(|| "undecided".into()),
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"first-anomaly\">{}</td><td>{}</td></tr>",
                html_escape(&c.checker),
                verdict_badge(c.verdict),
                first_anomaly_text(c.first_anomaly_s),
                html_escape(&finding)
            );
        }
        h.push_str("</table>");
    }
    let by_index: HashMap<u64, &Event> = events.iter().map(|e| (e.index, e)).collect();
    let total: usize = results.checkers.iter().map(|c| c.anomalies.len()).sum();
    if total > 0 {
        h.push_str("<h3>Anomalies</h3><ol class=\"anomalies\" id=\"anomalies\">");
        let mut k = 0;
        for c in &results.checkers {
            for (index, a) in c.anomalies.iter().enumerate() {
                let _ = write!(
                    h,
                    "<li class=\"anomaly\" data-anomaly=\"{k}\"><button class=\"show\" type=\"button\">{}: {}</button> \
                     <span class=\"muted\">{} event{}</span><p>{}</p>",
                    html_escape(&c.checker),
                    html_escape(&a.kind),
                    a.events.len(),
                    if a.events.len() == 1 { "" } else { "s" },
                    html_escape(&a.explanation)
                );
                h.push_str(&crate::cycle::figure(&a.detail));
                let context = results
                    .explanation
                    .anomalies
                    .iter()
                    .find(|x| x.checker == c.checker && x.anomaly == index);
                if let Some(ctx) = context {
                    let _ = write!(
                        h,
                        "<p class=\"finding\">{}</p><figure class=\"counterexample\">{}{}</figure>",
                        html_escape(&ctx.finding),
                        drawing::counterexample_svg(ctx, &results.nemesis.faults),
                        drawing::LEGEND
                    );
                }
                let _ = write!(
                    h,
                    "<details class=\"raw\"><summary>Raw events and JSON{}</summary>",
                    if c.checker.contains("linear") {
                        " (counterexample)"
                    } else {
                        ""
                    }
                );
                if !a.events.is_empty() {
                    h.push_str("<table><tr><th class=\"num\">index</th><th class=\"num\">time</th><th>process</th><th>type</th><th>f</th><th>value</th></tr>");
                    for ev in a.events.iter().take(MAX_ANOMALY_ROWS) {
                        match by_index.get(ev) {
                            Some(e) => {
                                let mut value = truncate(&compact(&e.value), MAX_VALUE_CHARS * 2);
                                if let Some(err) = &e.error {
                                    value.push_str("  error: ");
                                    value.push_str(&truncate(&compact(err), MAX_VALUE_CHARS));
                                }
                                let _ = write!(
                                    h,
                                    "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td class=\"value\">{}</td></tr>",
                                    e.index,
                                    seconds(e.time),
                                    html_escape(&e.process.to_string()),
                                    e.kind,
                                    e.kind,
                                    html_escape(&e.f),
                                    html_escape(&value)
                                );
                            }
                            None => {
                                let _ = write!(
                                    h,
                                    "<tr><td class=\"num\">{ev}</td><td colspan=\"5\" class=\"muted\">not in the history</td></tr>"
                                );
                            }
                        }
                    }
                    if a.events.len() > MAX_ANOMALY_ROWS {
                        let _ = write!(
                            h,
                            "<tr><td colspan=\"6\" class=\"muted\">… and {} more, all highlighted in the timeline</td></tr>",
                            a.events.len() - MAX_ANOMALY_ROWS
                        );
                    }
                    h.push_str("</table>");
                }
                if !a.detail.is_null() {
                    let pretty = serde_json::to_string_pretty(&a.detail).unwrap_or_default();
                    let _ = write!(
                        h,
                        "<h4>Detail from the checker</h4><pre>{}</pre>",
                        html_escape(&truncate(&pretty, MAX_DETAIL_CHARS))
                    );
                }
                if let Some(ctx) = context {
                    let pretty = serde_json::to_string_pretty(ctx).unwrap_or_default();
                    let _ = write!(
                        h,
                        "<h4>Context</h4><pre>{}</pre>",
                        html_escape(&truncate(&pretty, MAX_DETAIL_CHARS))
                    );
                }
                h.push_str("</details></li>");
                k += 1;
            }
        }
        h.push_str("</ol>");
    }
    h.push_str("</section>\n");
}

fn charts_section(h: &mut String, results: &Results) {
    h.push_str(
        "<section id=\"timeline-section\"><h2>Timeline</h2>\
         <div class=\"controls\"><button id=\"zoom-in\" type=\"button\">Zoom in</button>\
         <button id=\"zoom-out\" type=\"button\">Zoom out</button>\
         <button id=\"zoom-reset\" type=\"button\">Reset</button>\
         <button id=\"clear-highlight\" type=\"button\">Clear highlight</button>\
         <span id=\"view-range\"></span>\
         <span class=\"legend\"><span><i style=\"background:var(--ok)\"></i>ok</span>\
         <span><i style=\"background:var(--fail)\"></i>fail</span>\
         <span><i style=\"background:var(--info)\"></i>info</span>\
         <span><i style=\"background:var(--nemesis)\"></i>nemesis</span>\
         <span><i style=\"background:rgba(122,111,176,.3)\"></i>fault active</span>\
         <span><i style=\"background:var(--hl)\"></i>highlighted</span></span>\
         <span class=\"hint\">wheel: zoom · drag: pan · double-click: reset · click a bar: details</span></div>\
         <div id=\"highlight-status\" class=\"muted\"></div>\
         <div class=\"plot-wrap\"><canvas id=\"timeline\"></canvas></div>\
         <pre id=\"op-detail\"></pre></section>\n\
         <section id=\"plots\"><h2>Latency and throughput</h2><div class=\"plots\">\
         <div><h3>Latency, every operation (log scale)</h3><div class=\"plot-wrap\"><canvas id=\"latency-raw\"></canvas></div></div>\
         <div><h3>Latency quantiles by f</h3><div class=\"plot-wrap\"><canvas id=\"latency-quantiles\"></canvas></div></div>\
         <div><h3>Throughput (completions by invocation time)</h3><div class=\"plot-wrap\"><canvas id=\"throughput\"></canvas></div></div>",
    );
    if !results.nemesis.clock_offsets.is_empty() {
        h.push_str(
            "<div><h3>Clock offsets (ms, from nemesis clock events)</h3><div class=\"plot-wrap\"><canvas id=\"clock-offsets\"></canvas></div></div>",
        );
    }
    h.push_str("</div></section>\n");
}

fn nemesis_section(h: &mut String, results: &Results) {
    h.push_str("<section id=\"nemesis\"><h2>Nemesis</h2>");
    if results.nemesis.faults.is_empty() {
        h.push_str("<p class=\"muted\">No faults were injected.</p>");
    } else {
        h.push_str("<table><tr><th>Fault</th><th class=\"num\">start</th><th class=\"num\">end</th><th>by</th><th>targets</th><th>value</th></tr>");
        for f in &results.nemesis.faults {
            let by = match &f.stop_f {
                Some(s) => format!("{} … {s}", f.start_f),
                None => f.start_f.clone(),
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"value\">{}</td></tr>",
                html_escape(&f.name),
                seconds(f.start_ns),
                seconds(f.end_ns),
                html_escape(&by),
                html_escape(&f.targets.join(", ")),
                html_escape(&truncate(&compact(&f.value), MAX_VALUE_CHARS))
            );
        }
        h.push_str("</table>");
        effects_table(h, results);
    }
    h.push_str("</section>\n");
}

/// The skew of fault `i`'s start (first to last node, ms), when its completion records one.
fn skew_ms(results: &Results, i: usize) -> Option<f64> {
    results
        .nemesis
        .faults
        .get(i)?
        .value
        .get("skew_ms")?
        .as_f64()
}

/// "n1" / "none" / "not observed".
fn leaders(v: &Option<Vec<String>>) -> String {
    match v {
        None => "not observed".into(),
        Some(p) if p.is_empty() => "none".into(),
        Some(p) => p.join(","),
    }
}

/// A "before" cell: its counts, or "no quiet time" when no stretch before the fault was
/// free of other faults.
fn before(e: &faultline_explain::FaultEffect, c: &faultline_explain::SideCounts) -> String {
    match e.no_quiet_before {
        true => "no quiet time".into(),
        false => counts(c),
    }
}

fn counts(c: &faultline_explain::SideCounts) -> String {
    format!("{}/{}/{}", c.counts.ok, c.counts.fail, c.counts.info)
}

fn effects_table(h: &mut String, results: &Results) {
    h.push_str(
        "<h3 id=\"fault-effects\">What each fault did</h3>\
         <p class=\"muted\">Operations invoked while the fault was in force against the same length of time just before it, \
         as ok/fail/info, on the nodes it hit and on the others.</p>\
         <table class=\"effects\"><tr><th>Fault</th><th>hit</th><th>leader before → after</th><th class=\"num\">leaderless</th>\
         <th class=\"num\">hit: during</th><th class=\"num\">hit: before</th><th class=\"num\">others: during</th><th class=\"num\">others: before</th>\
         <th>effects</th></tr>",
    );
    for e in &results.explanation.faults {
        let mut effects = e.effects.join(", ");
        if !e.clock_offsets_ns.is_empty() {
            let o: Vec<String> = e
                .clock_offsets_ns
                .iter()
                .map(|(n, o)| format!("{n} {:+.3} s", *o as f64 / 1e9))
                .collect();
            effects += &format!(" (measured {})", o.join(", "));
        }
        if e.paused_leader == Some(true) {
            effects += " (paused the leader)";
        }
        if !e.paused_lock_holders.is_empty() {
            let p: Vec<String> = e.paused_lock_holders.iter().map(u64::to_string).collect();
            effects += &format!(" (paused lock holders: processes {})", p.join(", "));
        }
        if let Some(d) = &e.database {
            effects += &format!(" (the database {d})");
        }
        if let Some(skew) = skew_ms(results, e.fault) {
            effects += &format!(" (rules landed within {skew:.1} ms on all nodes)");
        }
        let cell = if e.no_visible_effect {
            format!(
                "<span class=\"no-effect\">no visible effect</span>{}",
                html_escape(&effects)
            )
        } else {
            html_escape(&effects)
        };
        let _ = write!(
            h,
            "<tr{}><td>{}</td><td>{}</td><td>{} → {}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            if e.no_visible_effect { " class=\"no-effect\"" } else { "" },
            html_escape(&e.label),
            html_escape(&e.targets.join(",")),
            html_escape(&leaders(&e.leader_before)),
            html_escape(&leaders(&e.leader_after)),
            e.leaderless_ns.map_or("—".into(), seconds),
            counts(&e.during.targeted),
            before(e, &e.before.targeted),
            counts(&e.during.others),
            before(e, &e.before.others),
            cell
        );
    }
    h.push_str("</table>");
}

fn stats_section(h: &mut String, results: &Results) {
    let s = &results.stats;
    h.push_str("<section id=\"stats\"><h2>Operations</h2><table><tr><th>f</th><th class=\"num\">ok</th><th class=\"num\">fail</th><th class=\"num\">info</th>\
                <th class=\"num\">p50</th><th class=\"num\">p95</th><th class=\"num\">p99</th><th class=\"num\">max</th></tr>");
    for (f, c) in &s.counts {
        let q = s.latency_ns.get(f).copied().unwrap_or_default();
        let lat = |v: u64| {
            if q.count == 0 {
                "—".into()
            } else {
                latency(v)
            }
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num ok\">{}</td><td class=\"num fail\">{}</td><td class=\"num info\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            html_escape(f),
            c.ok,
            c.fail,
            c.info,
            lat(q.p50),
            lat(q.p95),
            lat(q.p99),
            lat(q.max)
        );
    }
    h.push_str("</table></section>\n");
}

fn files_section(h: &mut String, links: &[Link]) {
    h.push_str("<section id=\"files\"><h2>Files</h2>");
    if links.is_empty() {
        h.push_str("<p class=\"muted\">No files recorded with this history.</p>");
    } else {
        h.push_str("<ul>");
        for l in links {
            let _ = write!(
                h,
                "<li><a href=\"{}\">{}</a></li>",
                html_escape(&l.href),
                html_escape(&l.label)
            );
        }
        h.push_str("</ul>");
    }
    h.push_str("</section>\n");
}

/// Renders the whole report page. `links` are shown in the Files section (history, logs...).
pub fn render_html(events: &[Event], results: &Results, links: &[Link]) -> String {
    let events = &*crate::bounded_events(events);
    let title = results.test.name.as_deref().unwrap_or("history");
    let data = json_for_script(&page_data(events, results));
    let mut h = String::with_capacity(data.len() + 64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\
         <link rel=\"icon\" href=\"data:,\"><title>faultline: {} ({})</title><style>{}</style></head><body>\n\
         <header><h1>faultline: {}</h1>{}<nav><a href=\"#summary\">Summary</a><a href=\"#checkers\">Checkers</a>\
         <a href=\"#timeline-section\">Timeline</a><a href=\"#plots\">Plots</a><a href=\"#nemesis\">Nemesis</a>\
         <a href=\"#stats\">Operations</a><a href=\"#files\">Files</a></nav></header>\n<main>\
         <noscript><p class=\"noscript\">The timeline and plots need JavaScript; the tables below do not.</p></noscript>\n",
        html_escape(title),
        results.verdict,
        include_str!("assets/report.css"),
        html_escape(title),
        verdict_badge(results.verdict),
    );
    summary_section(&mut h, results);
    checkers_section(&mut h, events, results);
    charts_section(&mut h, results);
    nemesis_section(&mut h, results);
    stats_section(&mut h, results);
    files_section(&mut h, links);
    let _ = write!(
        h,
        "<p class=\"muted\">results schema v{} · faultline {}</p></main><div id=\"tooltip\"></div>\n\
         <script type=\"application/json\" id=\"faultline-data\">{data}</script>\n<script>{}{}</script>\n</body></html>\n",
        results.schema_version,
        env!("CARGO_PKG_VERSION"),
        include_str!("assets/report.js"),
        crate::cycle::SCRIPT,
    );
    h
}
