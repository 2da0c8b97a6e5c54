//! `workload-smoke DB WORKLOAD SECONDS CONCURRENCY NAME=ADDRESS...`: runs one workload
//! against a running cluster (no nemesis), writes the history to `./history.jsonl`, checks
//! it and prints each checker's result. A developer's check that a workload's clients
//! speak the real databases correctly; `faultline test` is the real entry point.

use faultline_history::{CheckerResult, Operation, Verdict};
use faultline_runner::{run, RunConfig, Workload};
use faultline_workload_support::{DbKind, NodeAddr};
use std::process::ExitCode;
use std::time::Duration;

fn usage() -> ExitCode {
    eprintln!("usage: workload-smoke etcd|redis register|set|counter|lock|lock-fenced|bank SECONDS CONCURRENCY NAME=ADDRESS...");
    ExitCode::from(254)
}

type Checker = Box<dyn Fn(&[Operation]) -> Vec<CheckerResult>>;

fn pick(name: &str, db: DbKind, nodes: &[NodeAddr]) -> Option<(Workload, Checker)> {
    Some(match name {
        faultline_workload_register::NAME => {
            let o = faultline_workload_register::Options::default();
            (
                faultline_workload_register::workload(db, &o, nodes),
                Box::new(move |ops| faultline_workload_register::check(ops, &o)),
            )
        }
        faultline_workload_set::NAME => {
            let o = faultline_workload_set::Options::default();
            (
                faultline_workload_set::workload(db, &o, nodes),
                Box::new(move |ops| faultline_workload_set::check(ops, &o)),
            )
        }
        faultline_workload_counter::NAME => {
            let o = faultline_workload_counter::Options::default();
            (
                faultline_workload_counter::workload(db, &o, nodes),
                Box::new(move |ops| faultline_workload_counter::check(ops, &o)),
            )
        }
        faultline_workload_bank::NAME => {
            let o = faultline_workload_bank::Options::default();
            (
                faultline_workload_bank::workload(db, &o, nodes),
                Box::new(move |ops| faultline_workload_bank::check(ops, &o)),
            )
        }
        _ => {
            let o = faultline_workload_lock::Options::for_name(name)?;
            (
                faultline_workload_lock::workload(db, &o, nodes),
                Box::new(move |ops| faultline_workload_lock::check(ops, &o)),
            )
        }
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        return usage();
    }
    let Ok(db) = args[0].parse::<DbKind>() else {
        return usage();
    };
    let (Ok(seconds), Ok(concurrency)) = (args[2].parse::<u64>(), args[3].parse::<usize>()) else {
        return usage();
    };
    let nodes: Vec<NodeAddr> = args[4..]
        .iter()
        .filter_map(|a| a.split_once('=').map(|(n, addr)| NodeAddr::new(n, addr)))
        .collect();
    let Some((workload, checker)) = pick(&args[1], db, &nodes) else {
        return usage();
    };
    let config = RunConfig {
        nodes: nodes.iter().map(|n| n.name.clone()).collect(),
        concurrency,
        seed: 1,
        op_timeout: Duration::from_secs(10),
        nemesis_timeout: Duration::from_secs(10),
        time_limit: Some(Duration::from_secs(seconds)),
        history_path: "history.jsonl".into(),
        progress: false,
    };
    match run(&config, workload, None, None).await {
        Ok(summary) => eprintln!("{summary:?}"),
        Err(e) => {
            eprintln!("run failed: {e}");
            return ExitCode::from(255);
        }
    }
    let file =
        std::io::BufReader::new(std::fs::File::open("history.jsonl").expect("history written"));
    let (events, lines) = faultline_history::read_jsonl(file).expect("history readable");
    let ops = faultline_history::pair(&events, &lines).expect("history pairs");
    let results = checker(&ops);
    let mut verdict = Verdict::Valid;
    for r in &results {
        println!("{}", serde_json::to_string(r).unwrap_or_default());
        verdict = verdict.worst(r.verdict);
    }
    ExitCode::from(verdict.exit_code() as u8)
}
