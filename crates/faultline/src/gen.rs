//! `faultline gen kv|register`: writes a synthetic, linearizable kv or register history as JSON
//! Lines, so anyone can reproduce the checker's scale figures (`faultline gen kv --ops 1000000 --keys 1000
//! --processes 20 > big.jsonl && faultline check big.jsonl`).

use faultline_linearizability::synth::{events, generate, SynthConfig, SynthKind};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `faultline gen`.
#[derive(clap::Args)]
pub struct GenArgs {
    /// What to generate: `kv` (get/put/append per key, Porcupine's kv model) or `register`
    /// (read/write/cas on integer registers, model cas-register). `--keys 1` gives a single-key
    /// history; `--info-rate` the share of crashed (`info`) operations, each of whose workers
    /// continues under a new process.
    #[arg(value_parser = ["kv", "register"])]
    kind: String,
    /// Client operations in the history.
    #[arg(long, default_value_t = 100_000)]
    ops: usize,
    /// Distinct keys.
    #[arg(long, default_value_t = 100)]
    keys: usize,
    /// Concurrent client processes.
    #[arg(long, default_value_t = 20)]
    processes: usize,
    /// Seed of the random choices; the same seed gives the same history.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of operations that complete as `info` (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    info_rate: f64,
    /// Inject one linearizability violation (the history must then check invalid).
    #[arg(long)]
    violation: bool,
    /// Write here instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// Runs `faultline gen`.
pub fn run(args: GenArgs) -> ExitCode {
    let bad = |m: String| {
        eprintln!("faultline gen: {m}");
        ExitCode::from(crate::EXIT_BAD_ARGS)
    };
    if args.ops == 0 || args.keys == 0 || args.processes == 0 {
        return bad("--ops, --keys and --processes must be at least 1".into());
    }
    if !(0.0..=1.0).contains(&args.info_rate) {
        return bad(format!(
            "--info-rate: {} is not between 0 and 1",
            args.info_rate
        ));
    }
    if args.violation && args.kind == "register" {
        return bad("--violation: only kv histories can have one injected (for now)".into());
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
            eprintln!("faultline gen: cannot write {e}");
            ExitCode::from(crate::EXIT_CRASH)
        }
    }
}

fn write_all(events: &[faultline_history::Event], out: impl Write) -> std::io::Result<()> {
    let mut out = faultline_history::write_jsonl(events, out)?;
    out.flush()
}
