//! Imports and pairs every published Porcupine history in the shared directory
//! (`CARGO_MANIFEST_DIR/../../../shared`, or `$FAULTLINE_SHARED`).

use faultline_history::import::{detect, import, Format};
use faultline_history::{pair, EventType, Outcome};
use std::path::PathBuf;

fn shared() -> PathBuf {
    std::env::var_os("FAULTLINE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

fn files(dir: &str) -> Vec<PathBuf> {
    let dir = shared().join("histories/porcupine").join(dir);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

#[test]
fn every_porcupine_etcd_log_imports_and_pairs() {
    let logs = files("etcd");
    assert_eq!(logs.len(), 102, "the README promises 102 etcd logs");
    let (mut compare_failed, mut timed_out) = (0, 0);
    for path in logs {
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            detect(&text),
            Some(Format::PorcupineEtcd),
            "{}",
            path.display()
        );
        let h = import(&text, None).unwrap_or_else(|e| panic!("{}:{e}", path.display()));
        assert_eq!(h.events.len(), text.lines().count(), "{}", path.display());
        assert!(h
            .events
            .iter()
            .all(|e| e.kind != EventType::Fail || e.f == "cas"));
        let ops = pair(&h.events, &h.lines).unwrap_or_else(|e| panic!("{}:{e}", path.display()));
        assert_eq!(
            ops.len(),
            h.events
                .iter()
                .filter(|e| e.kind == EventType::Invoke)
                .count()
        );
        compare_failed += ops.iter().filter(|o| o.outcome == Outcome::Fail).count();
        timed_out += ops
            .iter()
            .filter(|o| o.outcome == Outcome::Info && o.complete_index.is_some())
            .count();
    }
    // Counted with grep over the published logs: 1748 `:fail :cas`, and 17 `:fail :read`
    // + 626 `:info :write` + 657 `:info :cas` timed out.
    assert_eq!(compare_failed, 1748);
    assert_eq!(timed_out, 17 + 626 + 657);
}

#[test]
fn every_porcupine_kv_history_imports_and_pairs() {
    let histories = files("kv");
    assert_eq!(histories.len(), 6);
    for path in histories {
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            detect(&text),
            Some(Format::PorcupineKv),
            "{}",
            path.display()
        );
        let h = import(&text, None).unwrap_or_else(|e| panic!("{}:{e}", path.display()));
        assert_eq!(h.events.len(), text.lines().count());
        assert!(h.events.iter().all(|e| e.key.is_some()));
        let ops = pair(&h.events, &h.lines).unwrap_or_else(|e| panic!("{}:{e}", path.display()));
        assert_eq!(
            ops.len() * 2,
            h.events.len(),
            "{}: only invoke and ok",
            path.display()
        );
        assert!(ops.iter().all(|o| o.outcome == Outcome::Ok));
    }
}
