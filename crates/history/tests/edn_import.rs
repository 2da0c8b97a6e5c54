//! The jepsen-edn importer on Knossos data files and a Jepsen-style history.edn
//! (fixtures in tests/fixtures; see the README there for sources).

use faultline_history::import::{detect, import, Format, History};
use faultline_history::{pair, EventType, Outcome, Process};
use serde_json::json;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn load(name: &str) -> History {
    let text = fixture(name);
    assert_eq!(detect(&text), Some(Format::JepsenEdn), "{name}");
    let h = import(&text, None).unwrap_or_else(|e| panic!("{name}:{e}"));
    assert_eq!(h.events.len(), h.lines.len());
    pair(&h.events, &h.lines).unwrap_or_else(|e| panic!("{name}:{e}"));
    h
}

#[test]
fn vector_of_maps_with_comments() {
    let h = load("knossos/bad-analysis.edn");
    assert_eq!(h.events.len(), 16);
    // Lines skip the comment lines in between.
    assert_eq!(&h.lines[..2], &[2, 3]);
    assert_eq!(h.lines[9], 12);
    assert_eq!(h.lines[12], 17);
    // No :index or :time in the file: both are the position.
    for (i, e) in h.events.iter().enumerate() {
        assert_eq!((e.index, e.time), (i as u64, i as u64));
    }
    // `{:process 22  :type ...}` (no comma) is fine.
    assert_eq!(h.events[12].process, Process::Client(22));
    assert_eq!(h.events[12].value, json!(3));
    let ops = pair(&h.events, &h.lines).unwrap();
    let open: Vec<u64> = ops
        .iter()
        .filter(|o| o.complete_index.is_none())
        .map(|o| o.process)
        .collect();
    assert_eq!(open, vec![6, 20]);
}

#[test]
fn list_of_maps() {
    let h = load("knossos/rethink-fail-minimal.edn");
    assert_eq!(h.events.len(), 8);
    assert_eq!(h.events[4].kind, EventType::Ok);
    assert_eq!(h.events[4].value, json!(3));
    assert_eq!(h.lines[4], 8);
}

#[test]
fn top_level_tuples_with_errors_and_nemesis() {
    let h = load("knossos/cas-failure-tuples.edn");
    assert_eq!(h.events.len(), 33);
    assert_eq!(h.lines[0], 3);
    let e = &h.events;
    assert_eq!(e[0].process, Process::Client(70));
    assert_eq!(e[0].f, "read");
    assert_eq!(e[8].value, json!([2, 1]));
    assert_eq!(e[20].process, Process::Nemesis);
    assert!(e[20]
        .value
        .as_str()
        .unwrap()
        .starts_with("Cut off [:n3 #[:n4"));
    assert_eq!(e[24].kind, EventType::Fail);
    assert_eq!(e[24].error, Some(json!("conn-lost")));
    assert_eq!(e[28].kind, EventType::Info);
    assert_eq!(e[28].value, json!([1, 1]));
    assert_eq!(e[32].value, json!("fully connected"));
}

#[test]
fn maps_spanning_lines_and_interleaved_comments() {
    let h = load("knossos/cas-failure-maps.edn");
    assert_eq!(h.events.len(), 11);
    let nemesis = h
        .events
        .iter()
        .position(|e| e.process == Process::Nemesis)
        .unwrap();
    assert_eq!(h.lines[nemesis], 12, "a map's line is where it starts");
    assert_eq!(h.lines[nemesis + 1], 18);
    let ops = pair(&h.events, &h.lines).unwrap();
    let crashed = ops.iter().find(|o| o.process == 77).unwrap();
    assert_eq!(crashed.outcome, Outcome::Info);
    assert!(crashed.complete_index.is_some());
}

#[test]
fn error_values_and_trailing_comment() {
    let h = load("knossos/immediate-failure.edn");
    assert_eq!(h.events.len(), 4);
    assert_eq!(
        h.events[2].error,
        Some(json!(["temporarily-unavailable", null]))
    );
}

#[test]
fn explicit_index_and_time_kept_even_when_times_interleave() {
    let h = load("knossos/mutex-etcd.edn");
    assert_eq!(h.events.len(), 30);
    assert_eq!(h.events[5].index, 5);
    assert_eq!(h.events[5].time, 584353142);
    assert!(
        h.events[5].time < h.events[4].time,
        "the source interleaves times"
    );
    assert_eq!(h.events[1].error, Some(json!("not-held")));
    let last = h.events.last().unwrap();
    assert_eq!((last.index, last.process), (169, Process::Nemesis));
    let ops = pair(&h.events, &h.lines).unwrap();
    assert_eq!(ops.len(), 16);
}

#[test]
fn times_without_indices() {
    let h = load("knossos/multi-register.edn");
    assert_eq!(h.events.len(), 10);
    assert_eq!(h.lines[0], 4);
    assert_eq!(h.lines[1], 9);
    assert_eq!(h.events[1].index, 1);
    assert_eq!(h.events[1].time, 7686334122);
    assert_eq!(h.events[0].value, json!([["read", "x", null]]));
}

#[test]
fn jepsen_history_edn_one_map_per_line() {
    let text = fixture("jepsen/history.edn");
    assert_eq!(detect(&text), Some(Format::JepsenEdn));
    let h = import(&text, None).unwrap();
    let e = &h.events;
    assert_eq!(e.len(), 8, "the #_ discarded op is skipped");
    assert_eq!(e[0].key, Some(json!(7)));
    assert_eq!(e[0].value, json!(null));
    assert_eq!(e[1].key, Some(json!(7)));
    assert_eq!(e[1].value, json!(3));
    assert_eq!(e[2].value, json!("majority"));
    assert_eq!(
        e[3].value,
        json!(["isolated", {"n1": ["n2", "n3"], "n4": ["n5"]}])
    );
    assert_eq!(e[4].node.as_deref(), Some("n1"));
    // A record literal is read as its map.
    assert_eq!(e[5].index, 5);
    assert_eq!(e[5].kind, EventType::Info);
    assert_eq!(
        e[5].error,
        Some(json!(["socket-timeout", "Read timed out"]))
    );
    assert_eq!(e[5].node.as_deref(), Some("n2"));
    // Unknown fields (big ints, ratios, #inst, #uuid, chars) are read and ignored.
    assert_eq!(e[6].value, json!([1, 2]));
    assert_eq!(e[7].index, 8);
    assert_eq!(e[7].error, Some(json!("jepsen.etcd/compare-failed")));
    assert_eq!(e[7].node.as_deref(), Some("n1,n2"));
    assert_eq!(h.lines, vec![1, 2, 3, 4, 5, 6, 7, 9]);
    let ops = pair(&h.events, &h.lines).unwrap();
    assert_eq!(ops.len(), 3);
    assert_eq!(ops[0].key, Some(json!(7)));
    assert_eq!(ops[1].outcome, Outcome::Info);
}

fn edn_err(text: &str) -> String {
    import(text, Some(Format::JepsenEdn))
        .unwrap_err()
        .to_string()
}

#[test]
fn edn_errors_name_the_line_and_what_was_expected() {
    assert_eq!(
        edn_err("[{:process 0, :type :invoke, :f :read}\n {:process 0, :type :ok}]"),
        "line 2: the operation has no :f; expected a map such as {:process 0, :type :invoke, :f :read, :value nil}"
    );
    assert_eq!(
        edn_err("[{:process 0, :type :invoke, :f :read}\n"),
        "line 2: unexpected end of input; expected `]` to close the history opened at line 1"
    );
    assert_eq!(
        edn_err("\n(0 :invoke :read\n nil"),
        "line 3: unexpected end of input; expected `)` to close the operation opened at line 2"
    );
    assert_eq!(
        edn_err("{:process -1, :type :invoke, :f :read}"),
        "line 1: process -1 is negative; expected a non-negative integer or :nemesis"
    );
    assert_eq!(
        edn_err("{:process 1, :type :begin, :f :read}"),
        "line 1: type is :begin; expected :invoke, :ok, :fail or :info"
    );
    assert_eq!(
        edn_err("\n{:process 1, :type :ok, :f :read, :index 1.5}"),
        "line 2: :index is 1.5; expected a non-negative integer"
    );
    assert_eq!(
        edn_err("[{:process 1, :type :ok, :f :read}] {:a 1}"),
        "line 1: a form follows the history that closed; expected nothing after the `]` matching line 1"
    );
    assert_eq!(
        edn_err("[[1 :invoke :read nil]\n 42]"),
        "line 2: found an integer where an operation belongs; expected a map such as {:process 0, :type :invoke, :f :read, :value nil}"
    );
    assert_eq!(
        edn_err("{:process 1, :type :ok, :f :read, :value \"abc}"),
        "line 1: string opened at line 1 is not closed; expected `\"`"
    );
    assert!(edn_err(&"[".repeat(10_000)).contains("nest deeper than"));
}
