//! Throughput of history I/O: JSON Lines read and write, EDN import, pairing.
//!
//! The runner and the checkers read histories of millions of events; these show the
//! events-per-second rate (criterion reports it from `Throughput::Elements`).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use faultline_history::import::{import, Format};
use faultline_history::{pair, read_jsonl, write_jsonl, Event, EventType, Process};
use serde_json::json;
use std::hint::black_box;

const EVENTS: usize = 200_000;

/// A register history: 8 processes taking turns, each op an invoke and a completion.
fn history(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let op = i / 2;
            let p = (op % 8) as u64;
            let invoke = i % 2 == 0;
            let (f, value) = match op % 3 {
                0 => ("read", if invoke { json!(null) } else { json!(op % 5) }),
                1 => ("write", json!(op % 5)),
                _ => ("cas", json!([op % 5, (op + 1) % 5])),
            };
            Event {
                index: i as u64,
                time: i as u64 * 1_000,
                process: Process::Client(p),
                kind: if invoke {
                    EventType::Invoke
                } else {
                    EventType::Ok
                },
                f: f.into(),
                key: None,
                value,
                error: None,
                node: Some(format!("n{}", p % 5 + 1)),
            }
        })
        .collect()
}

fn to_edn(events: &[Event]) -> String {
    let mut out = String::from("[");
    for e in events {
        let value = match &e.value {
            serde_json::Value::Array(xs) => format!("[{} {}]", xs[0], xs[1]),
            serde_json::Value::Null => "nil".into(),
            v => v.to_string(),
        };
        out.push_str(&format!(
            "{{:type :{}, :f :{}, :value {value}, :time {}, :process {}, :index {}}}\n",
            e.kind, e.f, e.time, e.process, e.index
        ));
    }
    out.push(']');
    out
}

fn benches(c: &mut Criterion) {
    let events = history(EVENTS);
    let bytes = write_jsonl(&events, Vec::new()).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let edn = to_edn(&events);

    let mut g = c.benchmark_group("history");
    g.sample_size(10);
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.bench_function("jsonl_read_200k", |b| {
        b.iter(|| black_box(read_jsonl(black_box(&bytes[..])).unwrap()))
    });
    g.bench_function("jsonl_write_200k", |b| {
        b.iter_batched(
            || Vec::with_capacity(bytes.len()),
            |out| black_box(write_jsonl(&events, out).unwrap()),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("import_jsonl_200k", |b| {
        b.iter(|| black_box(import(black_box(&text), Some(Format::Jsonl)).unwrap()))
    });
    g.bench_function("import_edn_200k", |b| {
        b.iter(|| black_box(import(black_box(&edn), Some(Format::JepsenEdn)).unwrap()))
    });
    g.bench_function("pair_200k", |b| {
        b.iter(|| black_box(pair(black_box(&events), &[]).unwrap()))
    });
    g.finish();
}

criterion_group!(history_io, benches);
criterion_main!(history_io);
