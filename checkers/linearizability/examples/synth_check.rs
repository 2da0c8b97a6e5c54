//! Generates a kv history and checks it, printing times:
//! `cargo run --release --example synth_check -- OPS KEYS PROCESSES [--violation] [--info RATE]`

use faultline_linearizability::synth::{generate, SynthConfig};
use faultline_linearizability::{check, CheckOptions, ModelSpec};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let info = args
        .iter()
        .position(|a| a == "--info")
        .and_then(|i| args.get(i + 1))
        .and_then(|a| a.parse().ok())
        .unwrap_or(0.01);
    let cfg = SynthConfig {
        ops: num(0, 1_000_000),
        keys: num(1, 1000),
        processes: num(2, 20),
        seed: 1,
        info_rate: info,
        violation: args.iter().any(|a| a == "--violation"),
        kind: Default::default(),
    };
    let t = Instant::now();
    let ops = generate(&cfg);
    println!("generated {} ops in {:.2?}", ops.len(), t.elapsed());
    let t = Instant::now();
    let report = check(&ops, ModelSpec::Kv, &CheckOptions::default()).expect("fits kv");
    println!(
        "checked in {:.2?}: {} ({} states, {} keys)",
        t.elapsed(),
        report.verdict,
        report.stats.states,
        report.stats.keys
    );
    if let Some(c) = report.counterexamples.first() {
        println!("{}", c.explanation);
    }
}
