//! `junit.xml`: one testsuite per run, one testcase per checker, for CI systems.
//!
//! The layout is the one Jenkins and GitLab read (`testsuites/testsuite/testcase` with
//! `failure`, `error` and `system-out`); `tests/fixtures/junit.xsd` states it and a test checks
//! our output against it with xmllint.

use crate::escape::xml_escape;
use crate::results::Results;
use faultline_history::{CheckerResult, Verdict};
use std::fmt::Write;

/// At most this many anomalies are listed in a failure's text; the rest are counted.
const MAX_LISTED_ANOMALIES: usize = 20;

/// One-line summary of a checker's anomalies: `3 anomalies: 2 nonlinearizable, 1 lost`.
pub fn anomaly_summary(c: &CheckerResult) -> String {
    let mut kinds: Vec<(&str, usize)> = Vec::new();
    for a in &c.anomalies {
        match kinds.iter_mut().find(|(k, _)| *k == a.kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((&a.kind, 1)),
        }
    }
    let n = c.anomalies.len();
    let list = kinds
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("{n} anomal{}: {list}", if n == 1 { "y" } else { "ies" })
}

/// Renders `results` as JUnit XML. `report_link` is where the HTML report is, for messages.
pub fn render_junit(results: &Results, report_link: &str) -> String {
    let suite_name = results.test.name.as_deref().unwrap_or("faultline");
    let time = results.durations.get("history").copied().unwrap_or(0.0);
    let failures = results
        .checkers
        .iter()
        .filter(|c| c.verdict == Verdict::Invalid)
        .count();
    let errors = results
        .checkers
        .iter()
        .filter(|c| c.verdict == Verdict::Unknown)
        .count();
    let tests = results.checkers.len();
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"faultline\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{time:.3}\">"
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{time:.3}\">",
        xml_escape(suite_name)
    );
    x.push_str("    <properties>\n");
    let t = &results.test;
    let mut props: Vec<(&str, String)> = vec![("verdict", results.verdict.to_string())];
    if let Some(w) = &t.workload {
        props.push(("workload", w.clone()));
    }
    if let Some(d) = &t.db {
        props.push(("db", d.clone()));
    }
    if !t.nemesis.is_empty() {
        props.push(("nemesis", t.nemesis.join(",")));
    }
    if !t.nodes.is_empty() {
        props.push(("nodes", t.nodes.join(",")));
    }
    if let Some(s) = t.seed {
        props.push(("seed", s.to_string()));
    }
    if let Some(c) = &t.command {
        props.push(("command", c.clone()));
    }
    props.push(("report", report_link.to_string()));
    for (name, value) in props {
        let _ = writeln!(
            x,
            "      <property name=\"{}\" value=\"{}\"/>",
            xml_escape(name),
            xml_escape(&value)
        );
    }
    x.push_str("    </properties>\n");
    for c in &results.checkers {
        let _ = write!(
            x,
            "    <testcase name=\"{}\" classname=\"faultline.{}\" time=\"{time:.3}\"",
            xml_escape(&c.checker),
            xml_escape(suite_name)
        );
        match c.verdict {
            Verdict::Valid => x.push_str("/>\n"),
            Verdict::Invalid => {
                x.push_str(">\n");
                let message = format!("{}; see {report_link}", anomaly_summary(c));
                let kind = c.anomalies.first().map_or("invalid", |a| a.kind.as_str());
                let _ = write!(
                    x,
                    "      <failure type=\"{}\" message=\"{}\">",
                    xml_escape(kind),
                    xml_escape(&message)
                );
                let mut body = String::new();
                for (i, a) in c.anomalies.iter().take(MAX_LISTED_ANOMALIES).enumerate() {
                    let events = a
                        .events
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ");
                    let _ = writeln!(
                        body,
                        "{}. {}: {} (events {events})",
                        i + 1,
                        a.kind,
                        a.explanation
                    );
                }
                if c.anomalies.len() > MAX_LISTED_ANOMALIES {
                    let _ = writeln!(
                        body,
                        "... and {} more",
                        c.anomalies.len() - MAX_LISTED_ANOMALIES
                    );
                }
                let _ = writeln!(body, "Report: {report_link}");
                x.push_str(&xml_escape(&body));
                x.push_str("</failure>\n    </testcase>\n");
            }
            Verdict::Unknown => {
                x.push_str(">\n");
                let reason = c
                    .reason
                    .as_deref()
                    .unwrap_or("the checker could not decide");
                let message = format!("unknown: {reason}; see {report_link}");
                let _ = writeln!(
                    x,
                    "      <error type=\"unknown\" message=\"{}\">{}</error>\n    </testcase>",
                    xml_escape(&message),
                    xml_escape(&message)
                );
            }
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}
