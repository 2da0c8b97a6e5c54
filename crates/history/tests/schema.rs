//! docs/history.schema.json must accept exactly what the JSON Lines reader accepts, and
//! everything the writer produces.

use faultline_history::{Event, EventType, Process, COMPARE_FAILED};
use serde_json::{json, Value};

fn validator() -> jsonschema::Validator {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/history.schema.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::draft202012::new(&schema).expect("the schema is valid draft 2020-12")
}

#[test]
fn written_events_conform() {
    let v = validator();
    let events = [
        Event {
            index: 0,
            time: 0,
            process: Process::Client(3),
            kind: EventType::Invoke,
            f: "cas".into(),
            key: None,
            value: json!([1, 2]),
            error: None,
            node: None,
        },
        Event {
            index: 1,
            time: 1_500,
            process: Process::Client(3),
            kind: EventType::Fail,
            f: "cas".into(),
            key: Some(json!("k7")),
            value: json!([1, 2]),
            error: Some(json!(COMPARE_FAILED)),
            node: Some("n2".into()),
        },
        Event {
            index: u64::MAX,
            time: u64::MAX,
            process: Process::Nemesis,
            kind: EventType::Info,
            f: "start-partition".into(),
            key: None,
            value: json!({"n1": ["n2", "n3"]}),
            error: None,
            node: None,
        },
    ];
    for e in &events {
        let doc = serde_json::to_value(e).unwrap();
        let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{doc}: {errors:?}");
    }
}

#[test]
fn schema_and_reader_agree() {
    let v = validator();
    let base = json!({"index": 4, "time": 10, "process": 0, "type": "ok", "f": "read", "value": 3});
    let with = |field: &str, value: Value| {
        let mut doc = base.clone();
        doc[field] = value;
        doc
    };
    let without = |field: &str| {
        let mut doc = base.clone();
        doc.as_object_mut().unwrap().remove(field);
        doc
    };
    let cases = [
        (base.clone(), true),
        (without("value"), true),
        (with("extra", json!({"anything": 1})), true),
        (with("key", json!(null)), true),
        (
            with("error", json!(["socket-timeout", "Read timed out"])),
            true,
        ),
        (with("node", json!(null)), true),
        (with("process", json!("nemesis")), true),
        (without("index"), false),
        (without("time"), false),
        (without("process"), false),
        (without("type"), false),
        (without("f"), false),
        (with("index", json!(-1)), false),
        (with("time", json!("soon")), false),
        (with("process", json!(-2)), false),
        (with("process", json!("client")), false),
        (with("type", json!("invoked")), false),
        (with("f", json!(7)), false),
        (with("node", json!(["n1"])), false),
        (json!([1, 2]), false),
    ];
    for (doc, valid) in cases {
        let by_reader = serde_json::from_value::<Event>(doc.clone()).is_ok();
        assert_eq!(by_reader, valid, "reader on {doc}");
        assert_eq!(v.is_valid(&doc), valid, "schema on {doc}");
    }
}
