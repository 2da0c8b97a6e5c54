//! The drawn counterexample: an anomaly's operations on a small SVG timeline, one row per
//! process, roles highlighted, fault intervals shaded behind, the linearizable prefix marked.
//! Plain SVG made here, so the page shows it without JavaScript.

use crate::escape::html_escape;
use faultline_explain::{AnomalyContext, Fault, OpContext, Role};
use faultline_history::Outcome;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

const WIDTH: f64 = 960.0;
const LABEL: f64 = 130.0;
const ROW: f64 = 24.0;
const TOP: f64 = 34.0;
const AXIS: f64 = 26.0;

fn short(v: &Value) -> String {
    let s = match v {
        Value::Null => "nil".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 14 {
        format!("{}…", s.chars().take(13).collect::<String>())
    } else {
        s
    }
}

/// "r nil", "w 4", "cas [1,2]", "add 544": what a bar says.
fn bar_text(o: &OpContext) -> String {
    let f = match o.f.as_str() {
        "read" => "r",
        "write" => "w",
        other => other,
    };
    let v = if o.outcome == Outcome::Ok && !o.output.is_null() || o.f == "read" {
        &o.output
    } else {
        &o.input
    };
    if o.f == "read" && o.outcome != Outcome::Ok {
        return "r ?".to_string();
    }
    format!("{f} {}", short(v))
}

fn role_class(r: Role) -> &'static str {
    match r {
        Role::Failing => "failing",
        Role::Contradicting => "contradicting",
        Role::Concurrent => "concurrent",
        Role::Involved => "involved",
        Role::Prefix => "prefix",
        Role::Other => "other",
    }
}

/// The SVG of `ctx`'s timeline; `faults` is `nemesis.faults`.
pub(crate) fn counterexample_svg(ctx: &AnomalyContext, faults: &[Fault]) -> String {
    let t = &ctx.timeline;
    let mut rows: BTreeMap<u64, Vec<&OpContext>> = BTreeMap::new();
    for o in &t.ops {
        rows.entry(o.process).or_default().push(o);
    }
    let height = TOP + ROW * rows.len() as f64 + AXIS;
    let span = (t.to_ns.saturating_sub(t.from_ns)).max(1) as f64;
    let x = |ns: u64| {
        LABEL + (ns.saturating_sub(t.from_ns) as f64 / span).min(1.0) * (WIDTH - LABEL - 10.0)
    };
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"cx\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-label=\"counterexample timeline\">"
    );
    // Fault intervals, behind everything; rows of nodes the fault hits a shade darker.
    for (n, &fi) in t.faults.iter().enumerate() {
        let Some(f) = faults.get(fi) else { continue };
        let (x0, x1) = (x(f.start_ns.max(t.from_ns)), x(f.end_ns.min(t.to_ns)));
        let _ = write!(
            s,
            "<rect class=\"cx-fault\" x=\"{x0:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}</title></rect>\
             <text class=\"cx-fault-label\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            TOP - 6.0,
            (x1 - x0).max(1.0),
            ROW * rows.len() as f64 + 6.0,
            html_escape(&format!("{} {}", f.name, f.targets.join(","))),
            x0 + 3.0,
            12.0 + 11.0 * (n % 2) as f64,
            html_escape(&format!("{} ({})", f.name, f.targets.join(",")))
        );
        for (r, ops) in rows.values().enumerate() {
            let hit = ops.iter().any(|o| o.faults.contains(&fi));
            if hit {
                let _ = write!(
                    s,
                    "<rect class=\"cx-fault-hit\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{ROW}\"/>",
                    TOP + ROW * r as f64,
                    (x1 - x0).max(1.0)
                );
            }
        }
    }
    for (r, (process, ops)) in rows.iter().enumerate() {
        let y = TOP + ROW * r as f64;
        let nodes: Vec<&str> = {
            let mut v: Vec<&str> = ops.iter().filter_map(|o| o.node.as_deref()).collect();
            v.dedup();
            v
        };
        let _ = write!(
            s,
            "<text class=\"cx-row\" x=\"4\" y=\"{:.1}\">process {process}{}{}</text>",
            y + ROW * 0.65,
            if nodes.is_empty() { "" } else { " · " },
            html_escape(&nodes.join(","))
        );
        for o in ops {
            let x0 = x(o.invoke_ns);
            let x1 = x(o.complete_ns.unwrap_or(t.to_ns)).max(x0 + 3.0);
            let outcome = match o.outcome {
                Outcome::Ok => "ok",
                Outcome::Fail => "fail",
                Outcome::Info => "info",
            };
            let title = format!(
                "{} by process {} on {} ({}): {} → {} [events {}{}]",
                o.f,
                o.process,
                o.node.as_deref().unwrap_or("?"),
                outcome,
                short(&o.input),
                short(&o.output),
                o.invoke_index,
                o.complete_index
                    .map(|c| format!("-{c}"))
                    .unwrap_or_default()
            );
            let _ = write!(
                s,
                "<g class=\"cx-op {} {}\" data-invoke=\"{}\"><title>{}</title>\
                 <rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"3\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
                role_class(o.role),
                outcome,
                o.invoke_index,
                html_escape(&title),
                y + 4.0,
                x1 - x0,
                ROW - 8.0,
                x0 + 3.0,
                y + ROW * 0.65,
                html_escape(&bar_text(o))
            );
        }
    }
    if let Some(p) = t.prefix_ns {
        let px = x(p);
        let _ = write!(
            s,
            "<line class=\"cx-prefix\" x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
             <text class=\"cx-prefix-label\" x=\"{:.1}\" y=\"{:.1}\">linearizable prefix ends</text>",
            TOP - 4.0,
            TOP + ROW * rows.len() as f64,
            px + 3.0,
            TOP + ROW * rows.len() as f64 + 12.0
        );
    }
    let axis_y = height - 6.0;
    for i in 0..=4 {
        let ns = t.from_ns + (span as u64) * i / 4;
        let _ = write!(
            s,
            "<text class=\"cx-axis\" x=\"{:.1}\" y=\"{axis_y:.1}\">{:.2} s</text>",
            x(ns) - if i == 4 { 40.0 } else { 0.0 },
            ns as f64 / 1e9
        );
    }
    s.push_str("</svg>");
    s
}

/// The legend under a drawing.
pub(crate) const LEGEND: &str = "<p class=\"cx-legend\"><span class=\"failing\">failing</span> \
    <span class=\"contradicting\">contradicting (acknowledged before it began)</span> \
    <span class=\"concurrent\">concurrent</span> <span class=\"involved\">named by the checker</span> \
    <span class=\"prefix\">in the linearizable prefix</span> <span class=\"fault\">fault in force</span></p>";
