//! Prints check times for Porcupine corpus files: `cargo run --release --example corpus_times -- FILE...`
//! Add `--no-split` to check keyed histories as one search.

use faultline_history::import::import;
use faultline_history::pair;
use faultline_linearizability::{check, model_by_name, CheckOptions};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = !args.iter().any(|a| a == "--no-split");
    let mut total = Duration::ZERO;
    for path in args.iter().filter(|a| !a.starts_with("--")) {
        let text = std::fs::read_to_string(path).expect("readable file");
        let history = import(&text, None).expect("importable history");
        let ops = pair(&history.events, &history.lines).expect("pairable history");
        let model =
            model_by_name(history.format.default_model().unwrap_or("cas-register")).unwrap();
        let opts = CheckOptions {
            split,
            time_limit: Some(Duration::from_secs(60)),
            ..CheckOptions::default()
        };
        if args.iter().any(|a| a == "--per-key") {
            let mut keys: Vec<String> = ops
                .iter()
                .filter_map(|o| o.key.as_ref().map(|k| k.to_string()))
                .collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let sub: Vec<_> = ops
                    .iter()
                    .filter(|o| o.key.as_ref().map(|x| x.to_string()) == Some(k.clone()))
                    .cloned()
                    .collect();
                let t = Instant::now();
                let r = check(&sub, model, &opts).expect("ops fit the model");
                println!(
                    "  key {k}: {} ops {} {:.3} ms states {}",
                    sub.len(),
                    r.verdict,
                    t.elapsed().as_secs_f64() * 1e3,
                    r.stats.states
                );
            }
        }
        let t = Instant::now();
        let report = check(&ops, model, &opts).expect("ops fit the model");
        let dt = t.elapsed();
        total += dt;
        println!(
            "{path}\t{}\t{:.3} ms\tstates {}\tdead {}\tbackjumps {}\t{}",
            report.verdict,
            dt.as_secs_f64() * 1e3,
            report.stats.states,
            report.stats.dead_projections,
            report.stats.backjumps,
            report.reason.unwrap_or_default()
        );
    }
    println!("total {:.3} ms", total.as_secs_f64() * 1e3);
}
