//! How much a streamed check holds, against the offline check of the same history: a
//! synthetic register history fed event by event, the most operations held at any point, and
//! both checks' time and verdict.
//!
//! `cargo run --release -p faultline-linearizability --example stream_memory -- 200000 1000 20 1`
//! (operations, keys, processes, percent of operations ending `info`).

use faultline_history::pair;
use faultline_linearizability::synth::{events, generate, SynthConfig, SynthKind};
use faultline_linearizability::{check, CheckOptions, ModelSpec, SpecStream};
use std::time::Instant;

fn main() {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let cfg = SynthConfig {
        ops: arg(1, 200_000),
        keys: arg(2, 1000),
        processes: arg(3, 20),
        seed: 1,
        info_rate: arg(4, 1) as f64 / 100.0,
        violation: true,
        kind: SynthKind::Register,
    };
    let evs = events(&generate(&cfg));
    let opts = CheckOptions {
        all_keys: true,
        ..CheckOptions::default()
    };
    let started = Instant::now();
    let mut stream = SpecStream::new(ModelSpec::CasRegister, opts.clone());
    let (mut most, mut found) = (0, None);
    for ev in &evs {
        if !stream.push(ev).unwrap().is_empty() && found.is_none() {
            found = Some(ev.index);
        }
        most = most.max(stream.held().1);
    }
    let streamed = stream.finish().unwrap();
    let stream_ms = started.elapsed().as_secs_f64() * 1e3;
    let ops = pair(&evs, &[]).unwrap();
    let started = Instant::now();
    let offline = check(&ops, ModelSpec::CasRegister, &opts).unwrap();
    let offline_ms = started.elapsed().as_secs_f64() * 1e3;
    println!(
        "{} ops, {} keys, {} processes, {}% info, one stale read",
        ops.len(),
        cfg.keys,
        cfg.processes,
        cfg.info_rate * 100.0
    );
    println!(
        "streamed: {:?} in {stream_ms:.0} ms (every event fed one by one), at most {most} ops held, first anomaly at event {:?} of {}",
        streamed.verdict,
        found,
        evs.len()
    );
    println!("offline:  {:?} in {offline_ms:.0} ms", offline.verdict);
}
