//! `faultline gen kv|register|append`: writes a synthetic history as JSON Lines, so anyone can
//! reproduce the checkers' scale figures: `kv` is linearizable (`faultline gen kv --ops 1000000
//! --keys 1000 --processes 20 > big.jsonl && faultline check big.jsonl`), `register` a
//! cas-register history with crashed processes (`--info-rate`), `append` a strict-serializable
//! list-append history of transactions (`faultline gen append --ops 1000000 --keys 10 -o
//! txns.jsonl && faultline check txns.jsonl`); `--violation` breaks any of them.

use faultline_linearizability::synth::{events, generate, SynthConfig, SynthKind};
use faultline_transactional::synth::{generate as generate_append, AppendConfig};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `faultline gen`.
#[derive(clap::Args)]
pub struct GenArgs {
    /// What to generate: `kv` (get/put/append per key, Porcupine's kv model), `register`
    /// (read/write/cas on integer registers, model cas-register; `--keys 1` gives a single-key
    /// history, `--info-rate` the share of crashed operations, each of whose workers continues
    /// under a new process) or `append` (list-append transactions, Elle's workload).
    #[arg(value_parser = ["kv", "register", "append"])]
    kind: String,
    /// Client operations (kv) or transactions (append) in the history.
    #[arg(long, default_value_t = 100_000)]
    ops: usize,
    /// Distinct keys (kv), or keys active at once (append; Jepsen's key-count).
    #[arg(long, default_value_t = 100)]
    keys: usize,
    /// append: appends after which a key is retired for a fresh one.
    #[arg(long, default_value_t = 32)]
    max_writes_per_key: usize,
    /// append: micro-operations per transaction, 1 to this.
    #[arg(long, default_value_t = 4)]
    max_txn_length: usize,
    /// append: probability that a micro-operation is a read (0 to 1).
    #[arg(long, default_value_t = 0.5)]
    read_fraction: f64,
    /// Concurrent client processes.
    #[arg(long, default_value_t = 20)]
    processes: usize,
    /// Seed of the random choices; the same seed gives the same history.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of operations that complete as `info` (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    info_rate: f64,
    /// Inject one violation: a stale read for kv and register (not linearizable), a read that
    /// misses a completed append for append (not strict-serializable).
    #[arg(long)]
    violation: bool,
    /// Write here instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// Runs `faultline gen`.
pub fn run(args: GenArgs) -> ExitCode {
    let bad = |m: String| {
        eprintln!("faultline: {m}");
        ExitCode::from(crate::EXIT_BAD_ARGS)
    };
    if let Err(e) = check_counts(&args) {
        return bad(e);
    }
    if !(0.0..=1.0).contains(&args.info_rate) {
        return bad(format!(
            "--info-rate: {} is not between 0 and 1",
            args.info_rate
        ));
    }
    if !(0.0..=1.0).contains(&args.read_fraction) {
        return bad(format!(
            "--read-fraction: {} is not between 0 and 1",
            args.read_fraction
        ));
    }
    if args.kind == "append" {
        let cfg = AppendConfig {
            txns: args.ops,
            processes: args.processes,
            key_count: args.keys,
            max_writes_per_key: args.max_writes_per_key,
            max_txn_length: args.max_txn_length,
            read_fraction: args.read_fraction,
            info_rate: args.info_rate,
            seed: args.seed,
            stale_read: args.violation,
        };
        let result = match &args.output {
            Some(path) => std::fs::File::create(path)
                .map_err(|e| format!("{}: {e}", path.display()))
                .and_then(|f| {
                    stream_append(&cfg, std::io::BufWriter::new(f))
                        .map_err(|e| format!("{}: {e}", path.display()))
                }),
            None => stream_append(&cfg, std::io::BufWriter::new(std::io::stdout().lock()))
                .map_err(|e| format!("stdout: {e}")),
        };
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("faultline gen: cannot write {e}");
                ExitCode::from(crate::EXIT_CRASH)
            }
        };
    }
    let ops = generate(&SynthConfig {
        ops: args.ops,
        keys: args.keys,
        processes: args.processes,
        seed: args.seed,
        info_rate: args.info_rate,
        violation: args.violation,
        kind: match args.kind.as_str() {
            "register" => SynthKind::Register,
            _ => SynthKind::Kv,
        },
    });
    let events = events(&ops);
    let result = match &args.output {
        Some(path) => std::fs::File::create(path)
            .and_then(|f| write_all(&events, std::io::BufWriter::new(f)))
            .map_err(|e| format!("{}: {e}", path.display())),
        None => write_all(&events, std::io::BufWriter::new(std::io::stdout().lock()))
            .map_err(|e| format!("stdout: {e}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("faultline: cannot write {e}");
            ExitCode::from(crate::EXIT_CRASH)
        }
    }
}

/// The most operations, keys or processes a generated history may have: beyond it memory,
/// not the flag, is the limit, and a count near 2^64 overflowed an allocation (issue 18).
const MOST: usize = 100_000_000;

/// Every count flag is from 1 to [`MOST`] (processes and transaction lengths far fewer).
fn check_counts(args: &GenArgs) -> Result<(), String> {
    let counts = [
        ("--ops", args.ops, MOST),
        ("--keys", args.keys, MOST),
        ("--processes", args.processes, 100_000),
        ("--max-writes-per-key", args.max_writes_per_key, MOST),
        ("--max-txn-length", args.max_txn_length, 10_000),
    ];
    for (flag, n, most) in counts {
        if !(1..=most).contains(&n) {
            return Err(format!("{flag}: {n} is not from 1 to {most}"));
        }
    }
    Ok(())
}

/// Writes a list-append history event by event, without holding it in memory.
fn stream_append(cfg: &AppendConfig, out: impl Write) -> std::io::Result<()> {
    let mut w = faultline_history::JsonlWriter::new(out);
    let mut result = Ok(());
    generate_append(cfg, |e| {
        if result.is_ok() {
            result = w.write(&e);
        }
    });
    result?;
    w.flush()
}

fn write_all(events: &[faultline_history::Event], out: impl Write) -> std::io::Result<()> {
    let mut out = faultline_history::write_jsonl(events, out)?;
    out.flush()
}
