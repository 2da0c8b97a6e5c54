//! Transactional checking throughput: generated list-append histories (Jepsen's defaults:
//! 10 active keys retired after 32 appends, 1 to 4 micro-operations, half reads, 20
//! processes), checked for strict serializability, valid and with one stale read. The
//! checker's own time from paired operations; `faultline check` adds reading and pairing
//! (see the README for the CLI's figure).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use faultline_history::{pair, Operation, Verdict};
use faultline_transactional::synth::{events, AppendConfig};
use faultline_transactional::{check, Options};

fn history(txns: usize, stale_read: bool) -> Vec<Operation> {
    let cfg = AppendConfig {
        txns,
        stale_read,
        ..AppendConfig::default()
    };
    let ev = events(&cfg);
    let lines: Vec<u32> = (1..=ev.len() as u32).collect();
    pair(&ev, &lines).expect("generated histories pair")
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("strict-serializable");
    g.sample_size(10);
    for txns in [100_000, 1_000_000] {
        for (name, stale) in [("valid", false), ("stale-read", true)] {
            let ops = history(txns, stale);
            let expected = if stale {
                Verdict::Invalid
            } else {
                Verdict::Valid
            };
            g.throughput(Throughput::Elements(txns as u64));
            g.bench_with_input(BenchmarkId::new(name, txns), &ops, |b, ops| {
                b.iter(|| {
                    let r = check(ops, &Options::default()).unwrap();
                    assert_eq!(r.verdict, expected);
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
