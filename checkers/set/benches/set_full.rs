//! set-full throughput: the checker folds every read over every element added before it,
//! so cost grows with elements × reads. Histories mimic Jepsen's set workload: adds of
//! unique integers interleaved with full reads, 10% of adds indeterminate.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use faultline_history::{testing, Operation, Outcome};
use faultline_set_checker::{check, SetOptions};
use serde_json::{json, Value};

/// `adds` adds, with a full read after every `adds / reads` of them.
fn history(adds: usize, reads: usize) -> Vec<Operation> {
    let mut ops = Vec::new();
    let mut index = 0u64;
    let mut present = Vec::new();
    let every = (adds / reads).max(1);
    let mut op = |f: &str, input: Value, output: Value, outcome| {
        let o = Operation {
            complete_time: Some(index * 1000 + 900),
            ..testing::op(index % 5, f, input, output, outcome, index, Some(index + 1))
        };
        index += 2;
        o
    };
    for e in 0..adds {
        let outcome = if e % 10 == 9 {
            Outcome::Info
        } else {
            Outcome::Ok
        };
        ops.push(op("add", json!(e), Value::Null, outcome));
        present.push(json!(e));
        if e % every == every - 1 {
            ops.push(op(
                "read",
                Value::Null,
                Value::Array(present.clone()),
                Outcome::Ok,
            ));
        }
    }
    ops
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("set-full");
    g.sample_size(10);
    for (adds, reads) in [(1_000, 100), (5_000, 500), (10_000, 1_000)] {
        let h = history(adds, reads);
        // Element-read pairs examined, roughly: each read looks at every earlier element.
        g.throughput(Throughput::Elements((adds * reads / 2) as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{adds}x{reads}")),
            &h,
            |b, h| b.iter(|| check(h, &SetOptions::default()).unwrap()),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
