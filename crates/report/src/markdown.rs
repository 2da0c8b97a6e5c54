//! A short Markdown summary of a run, fit for `$GITHUB_STEP_SUMMARY` or a merge-request
//! comment (`faultline test --summary-markdown FILE`): the verdict, each checker, each
//! anomaly with its finding in context, what each kind of fault did, and the reproduce
//! command.

use crate::Results;
use std::path::Path;

/// The most anomalies listed per run; the rest are counted.
const MOST_ANOMALIES: usize = 5;

/// `text` on one line, without what would break a Markdown table cell or list item.
fn inline(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line.replace('|', "\\|")
}

/// The summary of the run in `run_dir` whose results are `results`.
pub fn summary(results: &Results, run_dir: &Path) -> String {
    let t = &results.test;
    let title = t.name.as_deref().unwrap_or("faultline run");
    let mut md = format!(
        "## {} {}: **{}**\n\n",
        verdict_mark(&results.verdict.to_string()),
        inline(title),
        results.verdict
    );
    let mut what = Vec::new();
    if let Some(db) = &t.db {
        what.push(format!("database `{}`", inline(db)));
    }
    if let Some(w) = &t.workload {
        what.push(format!("workload `{}`", inline(w)));
    }
    if !t.nemesis.is_empty() {
        what.push(format!("nemesis `{}`", inline(&t.nemesis.join(","))));
    }
    if let Some(seed) = t.seed {
        what.push(format!("seed {seed}"));
    }
    if !what.is_empty() {
        md += &format!(
            "{}; run directory `{}`\n\n",
            what.join(", "),
            run_dir.display()
        );
    }
    if let Some(why) = &results.verdict_reason {
        md += &format!("{}\n\n", inline(why));
    }
    md += &checkers(results);
    md += &anomalies(results);
    if !results.explanation.summary.is_empty() {
        md += "### What the faults did\n\n";
        for k in &results.explanation.summary {
            md += &format!("- {}\n", inline(&k.line));
        }
        md += "\n";
    }
    if let Some(command) = &t.command {
        md += &format!("### Reproduce\n\n```sh\n{command}\n```\n\n");
    }
    md
}

/// A mark a reader sees at a glance.
fn verdict_mark(verdict: &str) -> &'static str {
    match verdict {
        "valid" => "✅",
        "invalid" => "❌",
        _ => "❔",
    }
}

/// One table row per checker.
fn checkers(results: &Results) -> String {
    if results.checkers.is_empty() {
        return String::new();
    }
    let mut md = "| checker | verdict | anomalies | first anomaly |\n| --- | --- | --- | --- |\n"
        .to_string();
    for c in &results.checkers {
        let first = c
            .first_anomaly_s
            .map_or_else(|| "–".to_string(), |t| format!("{t:.1} s"));
        md += &format!(
            "| {} | {} | {} | {first} |\n",
            inline(&c.checker),
            c.verdict,
            c.anomalies.len()
        );
    }
    md += "\n";
    if let Some(t) = results.durations.get(crate::FIRST_ANOMALY) {
        md += &format!("First anomaly {t:.1} s after the workload started.\n\n");
    }
    md
}

/// The first anomalies, each with its finding in context (or the checker's explanation).
fn anomalies(results: &Results) -> String {
    let all: Vec<(String, String, String)> = results
        .checkers
        .iter()
        .flat_map(|c| {
            c.anomalies.iter().enumerate().map(move |(i, a)| {
                let finding = results
                    .explanation
                    .anomalies
                    .iter()
                    .find(|x| x.checker == c.checker && x.anomaly == i)
                    .map_or_else(|| a.explanation.clone(), |x| x.finding.clone());
                (c.checker.clone(), a.kind.clone(), finding)
            })
        })
        .collect();
    if all.is_empty() {
        return String::new();
    }
    let mut md = "### Anomalies\n\n".to_string();
    for (checker, kind, finding) in all.iter().take(MOST_ANOMALIES) {
        md += &format!(
            "- **{}** ({}): {}\n",
            inline(kind),
            inline(checker),
            inline(finding)
        );
    }
    if all.len() > MOST_ANOMALIES {
        md += &format!(
            "- ... and {} more (see report.html)\n",
            all.len() - MOST_ANOMALIES
        );
    }
    md + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_history::{Anomaly, CheckerResult, Verdict};
    use serde_json::json;

    fn results(checkers: Vec<CheckerResult>) -> Results {
        let config = json!({
            "name": "etcd-register", "workload": "register", "db": "etcd",
            "nemesis": ["partition"], "seed": 42,
            "command": "faultline test --db etcd --seed 42"
        });
        Results::build(&[], &checkers, &config)
    }

    fn checker(verdict: Verdict, anomalies: usize) -> CheckerResult {
        CheckerResult {
            checker: "linearizability".into(),
            verdict,
            reason: None,
            anomalies: (0..anomalies)
                .map(|i| Anomaly {
                    kind: "nonlinearizable".into(),
                    explanation: format!("read {i} | saw a stale\nvalue"),
                    events: vec![],
                    detail: serde_json::Value::Null,
                })
                .collect(),
            stats: serde_json::Value::Null,
            first_anomaly_s: None,
        }
    }

    #[test]
    fn an_invalid_run_shows_its_verdict_anomalies_and_reproduce_command() {
        let md = summary(
            &results(vec![checker(Verdict::Invalid, 7)]),
            Path::new("store/x/1"),
        );
        assert!(md.starts_with("## ❌ etcd-register: **invalid**\n"), "{md}");
        assert!(md.contains("database `etcd`, workload `register`, nemesis `partition`, seed 42; run directory `store/x/1`"), "{md}");
        assert!(md.contains("| linearizability | invalid | 7 |"), "{md}");
        assert_eq!(
            md.matches("- **nonlinearizable** (linearizability): ")
                .count(),
            5,
            "{md}"
        );
        // A table cell or list item stays one line, its pipes escaped.
        assert!(md.contains("read 0 \\| saw a stale value\n"), "{md}");
        assert!(md.contains("- ... and 2 more (see report.html)"), "{md}");
        assert!(
            md.contains("```sh\nfaultline test --db etcd --seed 42\n```"),
            "{md}"
        );
    }

    #[test]
    fn each_checker_and_the_run_say_when_the_first_anomaly_became_visible() {
        let mut r = results(vec![
            CheckerResult {
                first_anomaly_s: Some(2.5),
                ..checker(Verdict::Invalid, 1)
            },
            checker(Verdict::Valid, 0),
        ]);
        r.durations.insert(crate::FIRST_ANOMALY.into(), 2.5);
        let md = summary(&r, Path::new("d"));
        assert!(
            md.contains("| linearizability | invalid | 1 | 2.5 s |"),
            "{md}"
        );
        assert!(md.contains("| linearizability | valid | 0 | – |"), "{md}");
        assert!(
            md.contains("First anomaly 2.5 s after the workload started."),
            "{md}"
        );
        let html = crate::render_html(&[], &r, &[]);
        assert!(html.contains("<td class=\"first-anomaly\">2.500 s</td>"));
        assert!(html.contains("<dd id=\"first-anomaly\">2.500 s after the workload started</dd>"));
    }

    #[test]
    fn a_valid_run_has_no_anomaly_section_and_an_unknown_one_says_why() {
        let md = summary(&results(vec![checker(Verdict::Valid, 0)]), Path::new("d"));
        assert!(md.starts_with("## ✅ etcd-register: **valid**"), "{md}");
        assert!(!md.contains("### Anomalies"), "{md}");
        let mut r = results(vec![]);
        r.verdict_reason = Some("the run could not start: n2 not ready".into());
        let md = summary(&r, Path::new("d"));
        assert!(md.starts_with("## ❔ etcd-register: **unknown**"), "{md}");
        assert!(
            md.contains("the run could not start: n2 not ready\n"),
            "{md}"
        );
    }
}
