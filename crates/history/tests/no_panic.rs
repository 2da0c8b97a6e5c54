//! Property tests: no input, however broken, makes an importer or the pairer panic; and
//! JSON Lines round-trips any event; and the parallel JSON Lines reader agrees with the serial
//! one on any input.

use faultline_history::import::{detect, import, import_within, Format};
use faultline_history::jsonl::{
    read_jsonl_ops, read_jsonl_ops_serial, read_jsonl_ops_with, ReadOptions, PARSE_BYTES_PER_BYTE,
};
use faultline_history::{pair, read_jsonl, write_jsonl, Event, EventType, Outcome, Process};
use proptest::prelude::*;
use serde_json::{json, Value};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const ETCD: &str = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]\n\
INFO  jepsen.util - 0\t:ok\t:read\t3\n\
INFO  jepsen.util - 2\t:fail\t:cas\t[3 0]\n\
INFO  jepsen.util - 3   :invoke :read   nil\n\
INFO  jepsen.util - 3   :fail   :read   :timed-out\n\
INFO  jepsen.util - :nemesis :info :start nil\n\
INFO  jepsen.util - 4\t:invoke\t:write\t4\n\
INFO  jepsen.util - 4\t:info\t:write\t:timed-out\n";

const KV: &str = "{:process 0, :type :invoke, :f :append, :key \"0\", :value \"x 0 0 y\"}\n\
{:process 0, :type :ok, :f :append, :key \"0\", :value \"x 0 0 y\"}\n\
{:process 1, :type :invoke, :f :get, :key \"0\", :value nil}\n\
{:process 1, :type :ok, :f :get, :key \"0\", :value \"x 0 0 y\"}\n";

const JSONL: &str = "{\"index\":0,\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n\
{\"index\":1,\"time\":3,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"value\":[\"n1\"],\"node\":\"n1\"}\n\
{\"index\":2,\"time\":5,\"process\":0,\"type\":\"info\",\"f\":\"write\",\"value\":1,\"error\":\"timed-out\"}\n";

const ELLE: &str = "[{\"index\":0,\"process\":0,\"type\":\"invoke\",\"value\":[[\"append\",1,1e2],[\"r\",2,null]]},\n {\"index\":1,\"process\":0,\"type\":\"ok\",\"value\":[[\"append\",1,100],[\"r\",2,[0.10,-0]]]}]\n";

const EDN_NUMBERS: &str = "\u{feff}{:process 0, :type :invoke, :f :write, :value [1 1N 1.0 1.00M 2/4 -0.0 1e400 12345678901234567890123N 1.5e-9M]}\n\
{:process 0, :type :ok, :f :write, :value {:a 1, :b 1.0, 1 :x, 1.0 :y, 1M :z}}\n";

fn seeds() -> Vec<(Format, String)> {
    vec![
        (Format::ElleJson, ELLE.to_string()),
        (Format::JepsenEdn, EDN_NUMBERS.to_string()),
        (Format::PorcupineEtcd, ETCD.to_string()),
        (Format::PorcupineKv, KV.to_string()),
        (Format::Jsonl, JSONL.to_string()),
        (Format::JepsenEdn, fixture("jepsen/history.edn")),
        (Format::JepsenEdn, fixture("knossos/cas-failure-tuples.edn")),
        (Format::JepsenEdn, fixture("knossos/cas-failure-maps.edn")),
        (
            Format::JepsenEdn,
            fixture("knossos/rethink-fail-minimal.edn"),
        ),
    ]
}

/// Runs every importer (and detection) on `text`, pairing whatever imports.
fn exercise(text: &str) {
    let _ = detect(text);
    for format in Format::ALL.map(Some).into_iter().chain([None]) {
        if let Ok(h) = import(text, format) {
            assert_eq!(h.events.len(), h.lines.len());
            let _ = pair(&h.events, &h.lines);
            // Values read from JSON are canonical already; EDN's are in their own families.
            if h.format == Format::Jsonl || h.format == Format::ElleJson {
                for e in &h.events {
                    assert_eq!(
                        faultline_history::value::canonical(e.value.clone()),
                        e.value
                    );
                }
            }
        }
        // A tiny memory limit: whatever is refused is refused with an error, never a panic,
        // and whatever is read is what the unlimited read gives.
        for limit in [1, 2048, 8192] {
            if let Ok(h) = import_within(text, format, limit) {
                assert_eq!(Ok(&h), import(text, format).as_ref());
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, String),
    Duplicate(usize, usize),
    Swap(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let piece = prop_oneof![
        proptest::sample::select(vec![
            "[",
            "]",
            "{",
            "}",
            "(",
            ")",
            "#",
            "#_",
            "#{",
            "##",
            "\"",
            "\\",
            ";",
            ":",
            ",",
            " ",
            "\n",
            "\t",
            "-",
            "N",
            "/",
            "0",
            "99999999999999999999",
            ":nemesis",
            ":invoke",
            ":ok",
            ":fail",
            ":info",
            "nil",
            "#jepsen.independent.Tuple{:key 1 :value",
            "#inst",
            "é",
            "\u{0}",
            "jepsen.util -",
            "{\"type\":",
            "\"index\":",
            "-1",
        ])
        .prop_map(str::to_string),
        ".{0,6}",
    ];
    prop_oneof![
        (any::<usize>(), 0usize..12).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), piece).prop_map(|(a, s)| Mutation::Insert(a, s)),
        (any::<usize>(), 0usize..40).prop_map(|(a, n)| Mutation::Duplicate(a, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
    ]
}

fn apply(text: &str, muts: &[Mutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for m in muts {
        let len = chars.len().max(1);
        match m {
            Mutation::Delete(a, n) => {
                let a = a % len;
                let b = (a + n).min(chars.len());
                if a < b {
                    chars.drain(a..b);
                }
            }
            Mutation::Insert(a, s) => {
                let a = a % (chars.len() + 1);
                chars.splice(a..a, s.chars());
            }
            Mutation::Duplicate(a, n) => {
                let a = a % len;
                let b = (a + n).min(chars.len());
                if a < b {
                    let copy: Vec<char> = chars[a..b].to_vec();
                    chars.splice(b..b, copy);
                }
            }
            Mutation::Swap(a, b) => {
                if !chars.is_empty() {
                    let (a, b) = (a % chars.len(), b % chars.len());
                    chars.swap(a, b);
                }
            }
        }
    }
    chars.into_iter().collect()
}

fn event_strategy() -> impl Strategy<Value = Event> {
    let process =
        prop_oneof![4 => (0u64..4).prop_map(Process::Client), 1 => Just(Process::Nemesis)];
    let kind = proptest::sample::select(vec![
        EventType::Invoke,
        EventType::Ok,
        EventType::Fail,
        EventType::Info,
    ]);
    let f = proptest::sample::select(vec!["read", "write", "cas"]).prop_map(str::to_string);
    let value = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
        (any::<i32>(), any::<i32>()).prop_map(|(a, b)| json!([a, b])),
    ];
    let key = proptest::option::of((0u8..3).prop_map(Value::from));
    let error = proptest::option::of(Just(json!("timed-out")));
    let node = proptest::option::of("n[1-5]");
    (
        0u64..40,
        0u64..40,
        process,
        kind,
        f,
        key,
        value,
        error,
        node,
    )
        .prop_map(
            |(index, time, process, kind, f, key, value, error, node)| Event {
                index,
                time,
                process,
                kind,
                f,
                key,
                value,
                error,
                node,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn number_like_text_is_canonicalized_without_panic(text in "[-+0-9.eE]{0,40}") {
        let once = faultline_history::value::canonical_number(&text).into_owned();
        let twice = faultline_history::value::canonical_number(&once).into_owned();
        prop_assert_eq!(&once, &twice);
        if text.parse::<serde_json::Number>().is_ok() {
            // Canonical text is a JSON number that serde_json keeps as it is.
            let n: serde_json::Number = once.parse().unwrap();
            prop_assert_eq!(n.as_str(), once.as_str());
        }
        exercise(&format!("{{\"index\":0,\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"w\",\"value\":{text}}}"));
        exercise(&format!("{{:process 0 :type :invoke :f :w :value {text}}}"));
    }

    #[test]
    fn random_edn_like_text_never_panics(text in "[\\[\\](){}#_;:\"\\\\ ,\\n0-9a-z/.+-]{0,200}") {
        exercise(&text);
    }

    #[test]
    fn mutated_valid_inputs_never_panic(
        seed in 0usize..9,
        muts in proptest::collection::vec(mutation(), 1..6),
    ) {
        let seeds = seeds();
        let (format, text) = &seeds[seed % seeds.len()];
        let mutated = apply(text, &muts);
        exercise(&mutated);
        // The importer the seed was written for, on its own mutated input.
        let _ = import(&mutated, Some(*format));
    }

    #[test]
    fn pairing_never_panics_and_keeps_invoke_order(
        events in proptest::collection::vec(event_strategy(), 0..30),
    ) {
        if let Ok(ops) = pair(&events, &[]) {
            let invokes = events
                .iter()
                .filter(|e| e.kind == EventType::Invoke && e.process != Process::Nemesis)
                .count();
            prop_assert_eq!(ops.len(), invokes);
            prop_assert!(ops.windows(2).all(|w| w[0].invoke_index < w[1].invoke_index));
            for op in &ops {
                prop_assert_eq!(op.complete_index.is_none(), op.complete_time.is_none());
                if op.complete_index.is_none() {
                    prop_assert_eq!(op.outcome, Outcome::Info);
                }
            }
        }
    }

    #[test]
    fn pairing_sorted_histories_with_sequential_processes_succeeds(
        kinds in proptest::collection::vec((0u64..4, proptest::sample::select(vec![EventType::Ok, EventType::Fail, EventType::Info]), any::<bool>()), 0..40),
    ) {
        // Each step: process p invokes then (maybe) completes; processes never overlap
        // themselves, so pairing must succeed.
        let mut events = Vec::new();
        let mut open = std::collections::HashSet::new();
        let mut next = 0u64;
        let mut push = |events: &mut Vec<Event>, p: u64, kind| {
            events.push(Event {
                index: next, time: next, process: Process::Client(p), kind,
                f: "read".into(), key: None, value: Value::Null, error: None, node: None,
            });
            next += 1;
        };
        for (p, done, complete) in kinds {
            if open.remove(&p) {
                push(&mut events, p, done);
            } else {
                push(&mut events, p, EventType::Invoke);
                if complete {
                    push(&mut events, p, done);
                } else {
                    open.insert(p);
                }
            }
        }
        let ops = pair(&events, &[]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(ops.iter().filter(|o| o.complete_index.is_none()).count(), open.len());
    }

    #[test]
    fn jsonl_round_trips_any_event(events in proptest::collection::vec(event_strategy(), 0..20)) {
        let bytes = write_jsonl(&events, Vec::new()).unwrap();
        let (back, lines) = read_jsonl(&bytes[..]).unwrap();
        prop_assert_eq!(&back, &events);
        prop_assert_eq!(lines.len(), events.len());
        let text = String::from_utf8(bytes).unwrap();
        let h = import(&text, Some(Format::Jsonl)).unwrap();
        prop_assert_eq!(h.events, events);
    }
}

/// A history that pairs: each step, process p invokes then completes, or completes the
/// invocation it left open. Values cover the shapes a reader must keep exactly.
fn pairable_events() -> impl Strategy<Value = Vec<Event>> {
    let value = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        Just(json!(123456789012345678901234567890u128)),
        ".{0,8}".prop_map(Value::from),
        (any::<i32>(), any::<i32>()).prop_map(|(a, b)| json!([a, b])),
        // Numbers keep their exact text (arbitrary_precision), escapes are decoded.
        Just(
            serde_json::from_str::<Value>(
                r#"{"a": [1, 2.50, "é\n", true, false, "\\\"", 1e400, -0, -1.5E-7]}"#
            )
            .unwrap()
        ),
        // Deeper than serde_json's recursion limit: no reader may accept it.
        Just((0..200).fold(json!(null), |v, _| json!([v]))),
    ];
    let kind = proptest::sample::select(vec![EventType::Ok, EventType::Fail, EventType::Info]);
    let step = (
        0u64..4,
        kind,
        any::<bool>(),
        value,
        proptest::option::of(0u8..3),
    );
    proptest::collection::vec(step, 0..40).prop_map(|steps| {
        let mut events = Vec::new();
        let mut open = std::collections::HashMap::new();
        let mut next = 0u64;
        for (p, done, complete, value, key) in steps {
            let mut push = |kind, value: Value, key: Option<u8>| {
                events.push(Event {
                    index: next,
                    time: next * 10,
                    process: Process::Client(p),
                    kind,
                    f: "write".into(),
                    key: key.map(Value::from),
                    value,
                    error: (kind == EventType::Info).then(|| json!("timed-out")),
                    node: Some(format!("n{}", p + 1)),
                });
                next += 1;
            };
            if let Some(key) = open.remove(&p) {
                push(done, value, key);
            } else {
                push(EventType::Invoke, value.clone(), key);
                if complete {
                    push(done, value, key);
                } else {
                    open.insert(p, key);
                }
            }
        }
        events
    })
}

/// Byte-level damage: inserts (possibly invalid UTF-8, newlines, blanks, CRs) and deletes.
fn byte_damage() -> impl Strategy<Value = Vec<(usize, Option<Vec<u8>>)>> {
    let piece = prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..4),
        proptest::sample::select(vec![
            b"\n".to_vec(),
            b"\n\n".to_vec(),
            b"  \n".to_vec(),
            b"\r".to_vec(),
            vec![0xff],
            vec![0xc3],
            b"}".to_vec(),
            b"\"".to_vec(),
        ]),
    ];
    proptest::collection::vec((any::<usize>(), proptest::option::of(piece)), 0..4)
}

fn damage(mut bytes: Vec<u8>, edits: &[(usize, Option<Vec<u8>>)]) -> Vec<u8> {
    for (at, edit) in edits {
        let at = at % (bytes.len() + 1);
        match edit {
            Some(piece) => {
                bytes.splice(at..at, piece.iter().copied());
            }
            None => {
                let end = (at + 3).min(bytes.len());
                bytes.drain(at..end);
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// The parallel reader gives exactly the serial reader's operations or first error, on
    /// any block size (lines split across blocks), any line-length limit, and input damaged
    /// anywhere: broken JSON, invalid UTF-8, blank lines, a missing final newline.
    #[test]
    fn parallel_reader_agrees_with_serial(
        events in prop_oneof![pairable_events(), proptest::collection::vec(event_strategy(), 0..20)],
        edits in byte_damage(),
        cut_tail in 0usize..3,
        block in 1usize..300,
        line_limit in prop_oneof![Just(None), (1usize..200).prop_map(Some)],
    ) {
        let mut bytes = write_jsonl(&events, Vec::new()).unwrap();
        bytes.truncate(bytes.len().saturating_sub(cut_tail));
        let bytes = damage(bytes, &edits);
        let memory_limit = line_limit.map_or(4096 << 20, |l| l * PARSE_BYTES_PER_BYTE);
        let serial = read_jsonl_ops_serial(&bytes[..], memory_limit);
        let opts = ReadOptions {
            memory_limit,
            block_bytes: block,
            expected_bytes: bytes.len() as u64,
        };
        let parallel = read_jsonl_ops_with(&bytes[..], &opts);
        prop_assert_eq!(&parallel, &serial);
        // The default options too (one block for inputs this small).
        prop_assert_eq!(read_jsonl_ops(&bytes[..], memory_limit), serial);
    }
}
