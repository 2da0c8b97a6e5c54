//! Every Porcupine history gets the verdict in EXPECTED.tsv (kv files split and not split).

use faultline_history::import::import;
use faultline_history::{pair, Operation, Verdict};
use faultline_linearizability::{check, CheckOptions, ModelSpec};
use std::path::PathBuf;

fn corpus() -> PathBuf {
    let shared = std::env::var_os("FAULTLINE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let dir = shared.join("histories/porcupine");
    assert!(
        dir.join("EXPECTED.tsv").is_file(),
        "Porcupine corpus not found at {} (set FAULTLINE_SHARED to the shared directory)",
        dir.display()
    );
    dir
}

fn load(path: &std::path::Path) -> Vec<Operation> {
    let text = std::fs::read_to_string(path).unwrap();
    let history = import(&text, None).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    pair(&history.events, &history.lines).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn expected() -> Vec<(String, Verdict)> {
    let dir = corpus();
    let tsv = std::fs::read_to_string(dir.join("EXPECTED.tsv")).unwrap();
    tsv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (file, verdict) = l.split_once('\t').unwrap();
            let v = match verdict.trim() {
                "linearizable" => Verdict::Valid,
                "not-linearizable" => Verdict::Invalid,
                other => panic!("unknown expectation {other}"),
            };
            (file.to_string(), v)
        })
        .collect()
}

#[test]
fn etcd_files_get_expected_verdicts() {
    let dir = corpus();
    let mut n = 0;
    for (file, want) in expected()
        .into_iter()
        .filter(|(f, _)| f.starts_with("etcd/"))
    {
        let ops = load(&dir.join(&file));
        let report = check(&ops, ModelSpec::CasRegister, &CheckOptions::default()).unwrap();
        assert_eq!(
            report.verdict,
            want,
            "{file}: {:?}",
            report.counterexamples.first().map(|c| &c.explanation)
        );
        if want == Verdict::Invalid {
            assert_eq!(report.counterexamples.len(), 1, "{file}");
        }
        n += 1;
    }
    assert_eq!(n, 102);
}

#[test]
fn kv_files_get_expected_verdicts_split_and_not_split() {
    let dir = corpus();
    let mut n = 0;
    for (file, want) in expected().into_iter().filter(|(f, _)| f.starts_with("kv/")) {
        let ops = load(&dir.join(&file));
        for split in [true, false] {
            let opts = CheckOptions {
                split,
                ..CheckOptions::default()
            };
            let report = check(&ops, ModelSpec::Kv, &opts).unwrap();
            assert_eq!(
                report.verdict, want,
                "{file} split={split}: {:?}",
                report.reason
            );
            if want == Verdict::Invalid {
                assert!(!report.counterexamples.is_empty(), "{file} split={split}");
            }
        }
        n += 1;
    }
    assert_eq!(n, 6);
}
