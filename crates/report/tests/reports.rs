//! What CI systems, tools and people read: results.json against its JSON Schema, junit.xml
//! against the JUnit XSD (with xmllint), and report.html's escaping and contents.

mod common;

use common::{synth_run, write_run_dir, HOSTILE};
use faultline_history::Verdict;
use faultline_report::{
    read_history, regenerate, render_html, render_junit, Results, SCHEMA_VERSION,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn xmllint_validate(xml: &Path) -> std::process::Output {
    let xsd = manifest_dir().join("tests/fixtures/junit.xsd");
    match Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(xml)
        .output()
    {
        Ok(out) => out,
        Err(e) => panic!("xmllint: {e}; install it: apt-get install -y libxml2-utils"),
    }
}

#[test]
fn junit_is_valid_against_the_junit_schema() {
    let run = synth_run(300, 4);
    let mut results = Results::build(&run.events, &run.checkers, &run.config);
    results.checkers.push(faultline_history::CheckerResult {
        checker: "bank".into(),
        verdict: Verdict::Unknown,
        reason: Some("search budget of 1000000 states exhausted <&>".into()),
        anomalies: vec![],
        stats: Value::Null,
        first_anomaly_s: None,
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junit.xml");
    std::fs::write(&path, render_junit(&results, "report.html")).unwrap();
    let out = xmllint_validate(&path);
    assert!(
        out.status.success(),
        "xmllint rejected junit.xml:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_junit_schema_rejects_what_ci_would_not_read() {
    // Proves the validation above can fail: a testsuite without its required counts.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.xml");
    std::fs::write(
        &path,
        "<testsuites><testsuite name=\"x\"><testcase name=\"a\"/></testsuite></testsuites>",
    )
    .unwrap();
    assert!(!xmllint_validate(&path).status.success());
}

#[test]
fn junit_has_one_testcase_per_checker_and_failures_point_to_the_report() {
    let run = synth_run(200, 3);
    let results = Results::build(&run.events, &run.checkers, &run.config);
    let xml = render_junit(&results, "report.html");
    assert_eq!(xml.matches("<testsuite ").count(), 1);
    assert_eq!(xml.matches("<testcase ").count(), 2);
    assert!(
        xml.contains("<testsuite name=\"etcd-register\" tests=\"2\" failures=\"1\" errors=\"0\"")
    );
    assert!(xml.contains(
        "<failure type=\"nonlinearizable\" message=\"1 anomaly: 1 nonlinearizable; see report.html\">"
    ));
    assert!(xml.contains("<testcase name=\"set-full\" classname=\"faultline.etcd-register\""));
    // The hostile explanation is escaped, not markup.
    assert!(!xml.contains("<script>"));
    assert!(xml.contains("&lt;/script&gt;&lt;script&gt;"));
}

fn validate_against_schema(instance: &Value) -> Result<(), String> {
    let schema_path = manifest_dir().join("../../docs/results.schema.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(&schema_path).unwrap()).unwrap();
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource("results.schema.json", schema)
        .map_err(|e| e.to_string())?;
    let mut schemas = boon::Schemas::new();
    let id = compiler
        .compile("results.schema.json", &mut schemas)
        .map_err(|e| format!("{e:#}"))?;
    schemas.validate(instance, id).map_err(|e| format!("{e:#}"))
}

#[test]
fn results_json_follows_the_shipped_schema() {
    let run = synth_run(2000, 5);
    let results = Results::build(&run.events, &run.checkers, &run.config);
    let json = serde_json::to_value(&results).unwrap();
    validate_against_schema(&json).unwrap();
    assert_eq!(json["schema_version"], SCHEMA_VERSION);
    assert_eq!(json["verdict"], "invalid");
    assert_eq!(
        json["checkers"][0]["anomalies"][0]["events"],
        serde_json::json!(run.anomaly_events)
    );
    assert!(json["stats"]["counts"]["read"]["ok"].as_u64().unwrap() > 0);
    assert!(
        json["stats"]["latency_ns"]["write"]["p99"]
            .as_u64()
            .unwrap()
            >= 200_000
    );
    let faults = json["nemesis"]["faults"].as_array().unwrap();
    assert!(faults
        .iter()
        .any(|f| f["name"] == "partition" && f["targets"][0] == "n1"));
    assert!(!json["nemesis"]["clock_offsets"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(json["test"]["seed"], 1234);
    assert_eq!(json["test"]["db"], "etcd");
    assert!(json["versions"]["faultline"].is_string());

    // And the schema is not vacuous: a wrong verdict or a missing field is refused.
    let mut bad = json.clone();
    bad["verdict"] = "broken".into();
    assert!(validate_against_schema(&bad).is_err());
    let mut bad = json;
    bad["checkers"][0]["anomalies"][0]
        .as_object_mut()
        .unwrap()
        .remove("events");
    assert!(validate_against_schema(&bad).is_err());
}

#[test]
fn history_values_are_escaped_in_the_html() {
    let run = synth_run(500, 4);
    let results = Results::build(&run.events, &run.checkers, &run.config);
    let html = render_html(&run.events, &results, &[]);
    assert!(!html.contains(HOSTILE));
    assert!(!html.contains("<script>window.__pwned"));
    assert!(!html.contains("<img src=x"));
    // Exactly two script elements: the data and the code.
    assert_eq!(
        html.matches("<script").count(),
        2,
        "unexpected script element"
    );
    assert_eq!(
        html.matches("</script>").count(),
        2,
        "a value closed a script element"
    );
    let data = html.split("id=\"faultline-data\">").nth(1).unwrap();
    let data = &data[..data.find("</script>").unwrap()];
    assert!(!data.contains('\u{2028}') && !data.contains('<'));
    // Escaped as text in the anomaly's table and explanation.
    assert!(html.contains("&lt;/script&gt;&lt;script&gt;window.__pwned=1&lt;/script&gt;"));
    // And as \u-escapes in the embedded JSON.
    assert!(html.contains("\\u003c/script\\u003e\\u003cscript\\u003ewindow.__pwned=1"));
}

#[test]
fn html_is_self_contained() {
    let run = synth_run(300, 4);
    let results = Results::build(&run.events, &run.checkers, &run.config);
    let html = render_html(&run.events, &results, &[]);
    // `url(` may only name a fragment of the page itself (an SVG marker: `url(#arrow)`).
    for (at, _) in html.match_indices("url(") {
        let rest = html[at + 4..].trim_start_matches(['"', '\'']);
        assert!(
            rest.starts_with('#'),
            "report.html refers outside itself: {}",
            &html[at..(at + 40).min(html.len())]
        );
    }
    for needle in [
        "src=\"http",
        "href=\"http",
        "@import",
        "fetch(",
        "XMLHttpRequest",
        "rel=\"stylesheet",
    ] {
        assert!(
            !html.contains(needle),
            "report.html refers outside itself: {needle}"
        );
    }
    assert!(html.contains("default-src 'none'"));
    for section in [
        "id=\"summary\"",
        "id=\"timeline\"",
        "id=\"latency-raw\"",
        "id=\"latency-quantiles\"",
        "id=\"throughput\"",
        "id=\"clock-offsets\"",
    ] {
        assert!(html.contains(section), "missing {section}");
    }
    assert!(html.contains("faultline test --workload register --db etcd --seed 1234"));
}

#[test]
fn regenerate_rewrites_every_report_of_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = synth_run(400, 4);
    write_run_dir(dir.path(), &run);
    // Pretend the runner recorded its own durations and versions: they must survive.
    let path = dir.path().join("results.json");
    let mut json: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    json["durations"]["run"] = 61.5.into();
    json["versions"]["etcd"] = "3.5.9".into();
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    std::fs::remove_file(dir.path().join("report.html")).unwrap();
    std::fs::remove_file(dir.path().join("junit.xml")).unwrap();

    let results = regenerate(dir.path()).unwrap();
    assert_eq!(results.verdict, Verdict::Invalid);
    assert_eq!(results.durations["run"], 61.5);
    assert_eq!(results.versions["etcd"], "3.5.9");
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("href=\"logs/n1/db.log\""));
    assert!(html.contains("href=\"history.jsonl\""));
    assert!(dir.path().join("junit.xml").is_file());
    let again: Results = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(again, results);
}

#[test]
fn unreadable_inputs_give_a_one_line_error_saying_where() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.jsonl");
    std::fs::write(
        &history,
        "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n\n{\"index\":1,\"time\":2}\n",
    )
    .unwrap();
    let err = read_history(&history).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}:3: not a history event", history.display())),
        "{err}"
    );
    assert!(!err.contains('\n'));

    std::fs::write(&history, "").unwrap();
    std::fs::write(dir.path().join("results.json"), "{\"checkers\": 5}").unwrap();
    let err = regenerate(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("results.json") && err.contains("`checkers` is not a list"),
        "{err}"
    );

    let err = regenerate(&dir.path().join("missing"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing/history.jsonl"), "{err}");
}
