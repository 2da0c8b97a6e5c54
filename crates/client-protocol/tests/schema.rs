//! docs/client-protocol.schema.json describes exactly what faultline writes and reads.

use faultline_client_protocol::message::{
    close_message, invoke_message, open_message, parse_answer, parse_open_answer,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

fn validator() -> jsonschema::Validator {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/client-protocol.schema.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::draft202012::new(&schema).expect("the schema is valid draft 2020-12")
}

#[test]
fn what_faultline_writes_conforms() {
    let v = validator();
    let nodes = BTreeMap::from([("n1".to_string(), "172.18.0.2".to_string())]);
    let mut options = Map::new();
    options.insert("namespace".into(), json!("faultline/register/1-2"));
    options.insert("serializable_reads".into(), json!(true));
    let messages = [
        open_message(3, "n1", &nodes, "etcd", "register", &options),
        invoke_message(1, "cas", Some(&json!(7)), &json!([1, 2])),
        invoke_message(2, "read", None, &Value::Null),
        invoke_message(3, "transfer", None, &json!({"from":0,"to":1,"amount":3})),
        close_message(),
    ];
    for m in messages {
        assert!(v.is_valid(&m), "{m}: {:?}", v.validate(&m).err());
    }
}

#[test]
fn the_schema_and_the_reader_agree_on_answers() {
    let v = validator();
    let answers = [
        r#"{"type":"ok","id":1,"value":[1,2]}"#,
        r#"{"type":"ok","id":1}"#,
        r#"{"type":"fail","id":1,"error":"compare-failed"}"#,
        r#"{"type":"info","id":1,"error":"timeout"}"#,
        r#"{"type":"fail","id":1}"#,
        r#"{"type":"info","id":1,"error":3}"#,
        r#"{"type":"ok","id":"1"}"#,
        r#"{"type":"ok"}"#,
        r#"{"type":"done","id":1}"#,
        r#"{"id":1}"#,
        r#"[1]"#,
    ];
    for a in answers {
        let value: Value = serde_json::from_str(a).unwrap();
        assert_eq!(
            parse_answer(a, 1).is_ok(),
            v.is_valid(&value),
            "{a}: reader {:?}",
            parse_answer(a, 1)
        );
    }
    for a in [
        r#"{"type":"open_ok"}"#,
        r#"{"type":"error","error":"no route"}"#,
        r#"{"type":"error"}"#,
        r#"{"type":"error","error":false}"#,
    ] {
        let value: Value = serde_json::from_str(a).unwrap();
        assert_eq!(parse_open_answer(a).is_ok(), v.is_valid(&value), "{a}");
    }
}
