//! `faultline check FILE...`: import histories and check them.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `faultline check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// History files: history.jsonl, Jepsen EDN, or Porcupine logs.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Runs `faultline check`.
pub fn run(args: CheckArgs) -> ExitCode {
    eprintln!("faultline check: not yet implemented for {:?}", args.files);
    ExitCode::from(crate::EXIT_CRASH)
}
