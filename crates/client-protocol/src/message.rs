//! The protocol's messages, as plain functions: what faultline writes and how it reads an
//! answer. Nothing here does I/O, so every rule is unit- and property-tested on its own.
//! The format is specified in `docs/client-protocol.md` and `docs/client-protocol.schema.json`.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The protocol version faultline speaks, sent in every `open` message.
pub const PROTOCOL_VERSION: u64 = 1;

/// How much of a malformed answer an error and the log line quote.
pub const QUOTE_LIMIT: usize = 200;

/// The `open` message for one instance.
pub fn open_message(
    process: u64,
    node: &str,
    nodes: &BTreeMap<String, String>,
    db: &str,
    workload: &str,
    options: &Map<String, Value>,
) -> Value {
    json!({
        "type": "open",
        "protocol": PROTOCOL_VERSION,
        "process": process,
        "node": node,
        "nodes": nodes,
        "db": db,
        "workload": workload,
        "options": options,
    })
}

/// The `invoke` message for operation `id`; `key` is `null` for workloads without keys.
pub fn invoke_message(id: u64, f: &str, key: Option<&Value>, value: &Value) -> Value {
    json!({
        "type": "invoke",
        "id": id,
        "f": f,
        "key": key.unwrap_or(&Value::Null),
        "value": value,
    })
}

/// The `close` message.
pub fn close_message() -> Value {
    json!({"type": "close"})
}

/// A well-formed answer to an `invoke`.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// `ok`: the operation took effect; `None` when the answer has no `value` (the history
    /// then keeps the invoked value, as Jepsen's completions do).
    Ok(Option<Value>),
    /// `fail`: the operation certainly did not take effect.
    Fail(String),
    /// `info`: the outcome is unknown.
    Info(String),
}

/// Shortens `line` to [`QUOTE_LIMIT`] characters for an error or a log line.
pub fn quote(line: &str) -> String {
    let line = line.trim_end();
    match line.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!("{:?}...", &line[..cut]),
        None => format!("{line:?}"),
    }
}

fn object(line: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(format!("expected a JSON object, got {}", kind(&other))),
        Err(e) => Err(format!("not JSON ({e})")),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn error_field(m: &Map<String, Value>, ty: &str) -> Result<String, String> {
    match m.get("error") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!("\"error\" must be a string, got {}", kind(other))),
        None => Err(format!("{ty:?} needs an \"error\" string")),
    }
}

/// Reads the answer to `open`: `Ok(Ok(()))` for `open_ok`, `Ok(Err(reason))` for an
/// `error`, `Err(what is wrong)` for anything else.
pub fn parse_open_answer(line: &str) -> Result<Result<(), String>, String> {
    let m = object(line)?;
    match m.get("type").and_then(Value::as_str) {
        Some("open_ok") => Ok(Ok(())),
        Some("error") => Ok(Err(error_field(&m, "error")?)),
        Some(other) => Err(format!(
            "expected \"type\" \"open_ok\" or \"error\", got {other:?}"
        )),
        None => Err("expected a \"type\" string".into()),
    }
}

/// Reads the answer to invoke `id`, or says what is wrong with it.
pub fn parse_answer(line: &str, id: u64) -> Result<Answer, String> {
    let m = object(line)?;
    let ty = match m.get("type").and_then(Value::as_str) {
        Some(t @ ("ok" | "fail" | "info")) => t,
        Some(other) => {
            return Err(format!(
                "expected \"type\" \"ok\", \"fail\" or \"info\", got {other:?}"
            ))
        }
        None => return Err("expected a \"type\" string".into()),
    };
    match m.get("id") {
        Some(v) if v.as_u64() == Some(id) => {}
        Some(v) => return Err(format!("expected \"id\" {id}, got {v}")),
        None => return Err(format!("expected \"id\" {id}, got none")),
    }
    Ok(match ty {
        "ok" => Answer::Ok(m.get("value").cloned()),
        "fail" => Answer::Fail(error_field(&m, ty)?),
        _ => Answer::Info(error_field(&m, ty)?),
    })
}

/// Parses one `--client-opt KEY=VALUE`: the value is JSON when it parses as JSON, else the
/// string as given (so `port=2379` is a number, `mode=fast` a string, `x="2379"` a string).
pub fn parse_client_opt(arg: &str) -> Result<(String, Value), String> {
    let (key, value) = arg
        .split_once('=')
        .ok_or_else(|| format!("--client-opt {arg:?}: expected KEY=VALUE"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("--client-opt {arg:?}: the key is empty"));
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
    Ok((key.to_string(), value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn answers_are_read_exactly_as_specified() {
        assert_eq!(
            parse_answer(r#"{"type":"ok","id":3,"value":[1,2]}"#, 3),
            Ok(Answer::Ok(Some(json!([1, 2]))))
        );
        assert_eq!(
            parse_answer(r#"{"type":"ok","id":3}"#, 3),
            Ok(Answer::Ok(None))
        );
        assert_eq!(
            parse_answer(r#"{"type":"ok","id":3,"value":null}"#, 3),
            Ok(Answer::Ok(Some(Value::Null)))
        );
        assert_eq!(
            parse_answer(r#"{"type":"fail","id":3,"error":"compare-failed"}"#, 3),
            Ok(Answer::Fail("compare-failed".into()))
        );
        assert_eq!(
            parse_answer(r#"{"type":"info","id":3,"error":"timeout"}"#, 3),
            Ok(Answer::Info("timeout".into()))
        );
    }

    #[test]
    fn malformed_answers_say_what_is_wrong() {
        let cases = [
            ("hello", "not JSON"),
            ("[1]", "expected a JSON object, got an array"),
            (r#"{"id":3}"#, "expected a \"type\" string"),
            (r#"{"type":"done","id":3}"#, "got \"done\""),
            (r#"{"type":"ok","id":4}"#, "expected \"id\" 3, got 4"),
            (r#"{"type":"ok","id":"3"}"#, "expected \"id\" 3, got \"3\""),
            (r#"{"type":"ok"}"#, "expected \"id\" 3, got none"),
            (
                r#"{"type":"fail","id":3}"#,
                "\"fail\" needs an \"error\" string",
            ),
            (
                r#"{"type":"info","id":3,"error":7}"#,
                "\"error\" must be a string, got a number",
            ),
        ];
        for (line, want) in cases {
            let got = parse_answer(line, 3).unwrap_err();
            assert!(got.contains(want), "{line}: {got}");
        }
    }

    #[test]
    fn open_answers() {
        assert_eq!(parse_open_answer(r#"{"type":"open_ok"}"#), Ok(Ok(())));
        assert_eq!(
            parse_open_answer(r#"{"type":"error","error":"no route to n2"}"#),
            Ok(Err("no route to n2".into()))
        );
        assert!(parse_open_answer(r#"{"type":"ok","id":1}"#).is_err());
        assert!(parse_open_answer(r#"{"type":"error"}"#).is_err());
    }

    #[test]
    fn messages_have_the_documented_shape() {
        let nodes = BTreeMap::from([("n1".to_string(), "10.0.0.1".to_string())]);
        let mut options = Map::new();
        options.insert("namespace".into(), json!("ns"));
        assert_eq!(
            open_message(4, "n1", &nodes, "etcd", "register", &options),
            json!({"type":"open","protocol":1,"process":4,"node":"n1",
                   "nodes":{"n1":"10.0.0.1"},"db":"etcd","workload":"register",
                   "options":{"namespace":"ns"}})
        );
        assert_eq!(
            invoke_message(9, "cas", Some(&json!(2)), &json!([1, 4])),
            json!({"type":"invoke","id":9,"f":"cas","key":2,"value":[1,4]})
        );
        assert_eq!(
            invoke_message(1, "read", None, &Value::Null),
            json!({"type":"invoke","id":1,"f":"read","key":null,"value":null})
        );
        assert_eq!(close_message(), json!({"type":"close"}));
    }

    #[test]
    fn client_opts_are_json_when_they_parse() {
        assert_eq!(
            parse_client_opt("port=2379"),
            Ok(("port".into(), json!(2379)))
        );
        assert_eq!(
            parse_client_opt("tls=true"),
            Ok(("tls".into(), json!(true)))
        );
        assert_eq!(
            parse_client_opt("mode=fast"),
            Ok(("mode".into(), json!("fast")))
        );
        assert_eq!(parse_client_opt("x=\"1\""), Ok(("x".into(), json!("1"))));
        assert_eq!(parse_client_opt("a=b=c"), Ok(("a".into(), json!("b=c"))));
        assert_eq!(parse_client_opt("empty="), Ok(("empty".into(), json!(""))));
        assert_eq!(
            parse_client_opt("hosts=[\"a\",\"b\"]"),
            Ok(("hosts".into(), json!(["a", "b"])))
        );
        assert!(parse_client_opt("noequals")
            .unwrap_err()
            .contains("KEY=VALUE"));
        assert!(parse_client_opt("=1").unwrap_err().contains("key is empty"));
    }

    #[test]
    fn quotes_are_bounded() {
        let long = "x".repeat(10_000);
        let q = quote(&long);
        assert!(q.len() < QUOTE_LIMIT + 10, "{}", q.len());
        assert!(q.ends_with("..."));
        assert_eq!(quote("ab\n"), "\"ab\"");
        // Multi-byte characters are never split.
        let _ = quote(&"é".repeat(500));
    }

    proptest! {
        #[test]
        fn any_line_is_an_answer_or_one_error(line in ".{0,300}", id in 0u64..5) {
            match parse_answer(&line, id) {
                Ok(_) => {
                    let v: Value = serde_json::from_str(&line).unwrap();
                    prop_assert_eq!(v["id"].as_u64(), Some(id));
                }
                Err(e) => prop_assert!(!e.is_empty() && !e.contains('\n')),
            }
            let _ = parse_open_answer(&line);
            let _ = quote(&line);
        }

        #[test]
        fn well_formed_answers_round_trip(
            id in any::<u64>(),
            ty in 0..3u8,
            text in ".{0,40}",
            n in any::<i64>(),
        ) {
            let (line, want) = match ty {
                0 => (json!({"type":"ok","id":id,"value":n}), Answer::Ok(Some(json!(n)))),
                1 => (json!({"type":"fail","id":id,"error":text}), Answer::Fail(text.clone())),
                _ => (json!({"type":"info","id":id,"error":text}), Answer::Info(text.clone())),
            };
            prop_assert_eq!(parse_answer(&line.to_string(), id), Ok(want));
            prop_assert!(parse_answer(&line.to_string(), id.wrapping_add(1)).is_err());
        }

        #[test]
        fn client_opts_never_panic(arg in ".{0,60}") {
            if let Ok((k, _)) = parse_client_opt(&arg) {
                prop_assert!(!k.is_empty());
            }
        }
    }
}
