//! Check times on the Porcupine corpus (parsing excluded) and on generated kv histories.
//!
//! Groups: `etcd` (all 102 files, one after another), `kv-split` (the 6 kv files, split by
//! key), `kv-no-split` (c01 and c10 files, whole), `porcupine-c50/kv-no-split-c50` (c50-ok and
//! c50-bad, whole), `synth` (generated kv histories of 250k and
//! 1M ops over 1000 keys with 20 processes). Reference (Porcupine, Go, same machine kind):
//! etcd 565 ms, kv split 202 ms, c01+c10 no-split 5.5 s.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use faultline_history::import::import;
use faultline_history::{pair, Operation, Verdict};
use faultline_linearizability::synth::{generate, SynthConfig};
use faultline_linearizability::{check, CheckOptions, ModelSpec};
use std::path::PathBuf;
use std::time::Duration;

fn corpus() -> PathBuf {
    std::env::var_os("FAULTLINE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("histories/porcupine")
}

fn load(dir: &str, filter: impl Fn(&str) -> bool) -> Vec<(String, Vec<Operation>)> {
    let dir = corpus().join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| filter(&p.file_name().unwrap().to_string_lossy()))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let h = import(&text, None).unwrap();
            let ops = pair(&h.events, &h.lines).unwrap();
            (p.display().to_string(), ops)
        })
        .collect()
}

fn check_all(files: &[(String, Vec<Operation>)], model: ModelSpec, split: bool) -> usize {
    let opts = CheckOptions {
        split,
        ..CheckOptions::default()
    };
    files
        .iter()
        .filter(|(_, ops)| check(ops, model, &opts).unwrap().verdict == Verdict::Invalid)
        .count()
}

fn porcupine(c: &mut Criterion) {
    let etcd = load("etcd", |f| f.ends_with(".log"));
    assert_eq!(etcd.len(), 102);
    let kv = load("kv", |f| f.ends_with(".txt"));
    let small: Vec<_> = kv
        .iter()
        .filter(|(f, _)| f.contains("c01") || f.contains("c10"))
        .cloned()
        .collect();

    let mut g = c.benchmark_group("porcupine");
    g.bench_function("etcd", |b| {
        b.iter(|| check_all(&etcd, ModelSpec::CasRegister, true))
    });
    g.bench_function("kv-split", |b| {
        b.iter(|| check_all(&kv, ModelSpec::Kv, true))
    });
    g.bench_function("kv-no-split-c01-c10", |b| {
        b.iter(|| check_all(&small, ModelSpec::Kv, false))
    });
    g.finish();

    // c50 as one search: seconds per iteration, so few samples.
    let c50: Vec<_> = kv
        .iter()
        .filter(|(f, _)| f.contains("c50"))
        .cloned()
        .collect();
    let mut g = c.benchmark_group("porcupine-c50");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(30));
    g.bench_function("kv-no-split-c50", |b| {
        b.iter(|| assert_eq!(check_all(&c50, ModelSpec::Kv, false), 1))
    });
    g.finish();
}

fn synth(c: &mut Criterion) {
    let mut g = c.benchmark_group("synth");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(10));
    for ops in [250_000usize, 1_000_000] {
        let history = generate(&SynthConfig {
            ops,
            keys: 1000,
            processes: 20,
            seed: 1,
            info_rate: 0.01,
            violation: false,
            kind: Default::default(),
        });
        g.throughput(Throughput::Elements(ops as u64));
        g.bench_function(format!("kv-{ops}-ops-1000-keys"), |b| {
            b.iter(|| {
                let r = check(&history, ModelSpec::Kv, &CheckOptions::default()).unwrap();
                assert_eq!(r.verdict, Verdict::Valid);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, porcupine, synth);
criterion_main!(benches);
