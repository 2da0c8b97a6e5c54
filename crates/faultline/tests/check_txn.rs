//! `faultline check` on transactional histories: Jepsen EDN, Elle's EDN and elle-cli JSON in,
//! the verdict, anomaly kinds and models ruled out out, as lines and as `--json` fields.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-check-txn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("check")
        .args(args)
        .output()
        .unwrap()
}

/// Read skew as Jepsen writes it: T1 sees T0's append to :y but not to :x.
const JEPSEN_EDN: &str = r#"{:type :invoke, :f :txn, :value [[:append :x 1] [:append :y 1]], :time 0, :process 0, :index 0}
{:type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil]], :time 1, :process 1, :index 1}
{:type :ok, :f :txn, :value [[:append :x 1] [:append :y 1]], :time 2, :process 0, :index 2}
{:type :ok, :f :txn, :value [[:r :x []] [:r :y [1]]], :time 3, :process 1, :index 3}
{:type :invoke, :f :txn, :value [[:r :x nil]], :time 4, :process 0, :index 4}
{:type :ok, :f :txn, :value [[:r :x [1]]], :time 5, :process 0, :index 5}
"#;

/// Circular information flow in elle-cli's JSON (no "f": transactions by their value).
const ELLE_JSON: &str = r#"[{"index":0,"process":0,"type":"invoke","value":[["append",1,1],["r",2,null]]},
 {"index":1,"process":1,"type":"invoke","value":[["append",2,1],["r",1,null]]},
 {"index":2,"process":0,"type":"ok","value":[["append",1,1],["r",2,[1]]]},
 {"index":3,"process":1,"type":"ok","value":[["append",2,1],["r",1,[1]]]}]
"#;

#[test]
fn jepsen_edn_list_append_prints_verdict_anomalies_and_models() {
    let f = write("gsingle.edn", JEPSEN_EDN);
    let out = check(&[f.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("\tinvalid\t3 txns"), "{text}");
    assert!(
        text.contains("list-append history checked against strict-serializable"),
        "{text}"
    );
    assert!(text.contains("anomalies: G-single (1)"), "{text}");
    assert!(
        text.contains("not: repeatable-read, consistent-view"),
        "{text}"
    );
    assert!(
        text.contains("T1 read key x before T0 appended 1"),
        "{text}"
    );
    // Read committed allows read skew.
    let out = check(&[f.to_str().unwrap(), "--consistency-model", "read-committed"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn elle_cli_json_gives_fields() {
    let f = write("g1c.json", ELLE_JSON);
    let out = check(&[f.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &v[0];
    assert_eq!(r["format"], "elle-json");
    assert_eq!(r["verdict"], "invalid");
    assert_eq!(r["consistency_model"], "strict-serializable");
    assert_eq!(r["anomaly_types"], serde_json::json!(["G1c"]));
    assert_eq!(r["not"], serde_json::json!(["read-committed"]));
    assert!(r["also_not"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "serializable"));
    let checker = &r["checkers"][0];
    assert_eq!(checker["checker"], "transactional");
    let cycle = checker["anomalies"][0]["detail"]["cycle"]
        .as_array()
        .unwrap();
    assert_eq!(cycle.len(), 2);
    assert!(cycle.iter().all(|s| s["edge"] == "wr"));
}

#[test]
fn valid_history_exits_zero() {
    let text = r#"[{"index":0,"process":0,"type":"invoke","value":[["append",1,1]]},
 {"index":1,"process":0,"type":"ok","value":[["append",1,1]]},
 {"index":2,"process":1,"type":"invoke","value":[["r",1,null]]},
 {"index":3,"process":1,"type":"ok","value":[["r",1,[1]]]}]"#;
    let f = write("valid.json", text);
    let out = check(&[f.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("\tvalid\t2 txns"), "{stdout}");
}

#[test]
fn bad_input_is_one_line_and_254() {
    let f = write("gsingle2.edn", JEPSEN_EDN);
    let out = check(&[f.to_str().unwrap(), "--consistency-model", "linearizable"]);
    assert_eq!(out.status.code(), Some(254));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("--consistency-model: unknown consistency model \"linearizable\""),
        "{err}"
    );
    let f = write("bad.edn", "{:type :invoke, :f :txn, :value [[:append :x]], :process 0}\n{:type :ok, :f :txn, :value [[:append :x]], :process 0}\n");
    let out = check(&[f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(254));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.edn:1:") && err.contains("not [f, key, value]"),
        "{err}"
    );
}
