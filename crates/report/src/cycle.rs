//! Drawings of dependency cycles: a transactional anomaly's cycle (its `detail.cycle`, a list
//! of steps `{txn, ops, edge, why}`) becomes a figure the page draws itself with SVG
//! (`assets/cycle.js`): transactions on a circle, arrows coloured by dependency (ww, wr, rw,
//! process, realtime), each step's words as the arrow's tooltip, and the same steps as a
//! text list for readers without JavaScript.

use crate::escape::html_escape;
use serde_json::Value;
use std::fmt::Write;

/// The page's script that draws every `figure.cycle`.
pub const SCRIPT: &str = include_str!("assets/cycle.js");

/// The figure for an anomaly's detail, or an empty string when it has no cycle.
pub fn figure(detail: &Value) -> String {
    let Some(steps) = detail.get("cycle").and_then(Value::as_array) else {
        return String::new();
    };
    if steps.is_empty() {
        return String::new();
    }
    let data: Vec<Value> = steps
        .iter()
        .map(|s| {
            serde_json::json!({
                "t": s.get("txn"),
                "ops": s.get("ops"),
                "edge": s.get("edge"),
                "why": s.get("why"),
                "process": s.get("process"),
            })
        })
        .collect();
    let json = Value::Array(data).to_string();
    let mut h = format!(
        "<figure class=\"cycle\" data-cycle=\"{}\"><ol class=\"cycle-steps\">",
        html_escape(&json)
    );
    for s in steps {
        let txn = s.get("txn").map_or(String::new(), Value::to_string);
        let edge = s.get("edge").and_then(Value::as_str).unwrap_or("");
        let ops = s.get("ops").and_then(Value::as_str).unwrap_or("");
        let why = s.get("why").and_then(Value::as_str).unwrap_or("");
        let _ = write!(
            h,
            "<li><b>T{}</b> <code>{}</code> <span class=\"edge-{}\">-{}-&gt;</span> {}</li>",
            html_escape(&txn),
            html_escape(ops),
            html_escape(edge),
            html_escape(edge),
            html_escape(why)
        );
    }
    h.push_str("</ol></figure>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn figure_lists_steps_and_escapes() {
        let d = json!({"cycle": [
            {"txn": 1, "ops": "[[r x []]]", "edge": "rw", "why": "T1 read key x before T0 appended <1>", "process": 1},
            {"txn": 0, "ops": "[[append x 1]]", "edge": "wr", "why": "T0 appended 1 to key y, which T1 read", "process": 0},
        ]});
        let h = figure(&d);
        assert!(h.starts_with("<figure class=\"cycle\" data-cycle=\""));
        assert_eq!(h.matches("<li>").count(), 2);
        assert!(h.contains("appended &lt;1&gt;"));
        assert!(!h.contains("<1>"));
        assert_eq!(figure(&json!({"cycle": []})), "");
        assert_eq!(figure(&Value::Null), "");
    }
}
