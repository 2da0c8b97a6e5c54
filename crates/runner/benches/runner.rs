//! Throughput of the run engine: generate, invoke an in-process no-op client, record.
//!
//! `cargo bench -p faultline-runner --bench runner`. The `run/noop-client` group runs a whole
//! test per iteration (100 workers, 100,000 operations = 200,000 history events written to
//! a file) on a 2-thread tokio runtime and reports operations per second.

#[path = "../tests/common/mod.rs"]
mod common;

use async_trait::async_trait;
use common::register;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use faultline_runner::{run, Client, ClientFactory, Completion, Op, RunConfig, Share, Workload};
use rand::SeedableRng;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const OPS: u64 = 100_000;
const CONCURRENCY: usize = 100;

struct Noop;

#[async_trait]
impl Client for Noop {
    async fn invoke(&mut self, op: &Op) -> Completion {
        Completion::Ok(if op.f == "read" {
            json!(3)
        } else {
            Value::Null
        })
    }
}

struct NoopFactory;

#[async_trait]
impl ClientFactory for NoopFactory {
    async fn open(&self, _node: &str) -> Result<Box<dyn Client>, String> {
        Ok(Box::new(Noop))
    }
}

fn bench_run(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("run");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(OPS));
    group.bench_function("noop-client", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let config = RunConfig {
                    nodes: (1..=5).map(|n| format!("n{n}")).collect(),
                    concurrency: CONCURRENCY,
                    seed: i,
                    op_timeout: Duration::from_secs(5),
                    nemesis_timeout: Duration::from_secs(5),
                    time_limit: None,
                    history_path: dir.path().join("history.jsonl"),
                    progress: false,
                };
                let workload = Workload {
                    generator: register().limit(OPS),
                    final_generator: None,
                    clients: Arc::new(NoopFactory),
                };
                let started = Instant::now();
                let summary = runtime
                    .block_on(run(&config, workload, None, None))
                    .unwrap();
                total += started.elapsed();
                assert_eq!(summary.events, 2 * OPS);
            }
            total
        })
    });
    group.finish();
}

fn bench_generator(c: &mut Criterion) {
    let mut group = c.benchmark_group("generator");
    group.throughput(Throughput::Elements(10_000));
    let g = register()
        .stagger(Duration::from_millis(1))
        .limit(1_000_000);
    group.bench_function("mix-stagger-limit", |b| {
        b.iter_batched(
            || {
                (
                    g.start(Share {
                        index: 3,
                        count: 100,
                    }),
                    rand_chacha::ChaCha8Rng::seed_from_u64(1),
                )
            },
            |(mut state, mut rng)| {
                let now = tokio::time::Instant::now();
                for _ in 0..10_000 {
                    std::hint::black_box(state.next(&mut rng, now));
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_run, bench_generator);
criterion_main!(benches);
