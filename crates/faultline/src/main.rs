//! The faultline command-line tool: one subcommand per module.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod check;
mod cluster;
mod config;
mod gen;
mod image;
mod report;
mod serve;
mod test;

/// Exit code for bad arguments or unreadable input (Jepsen's convention).
pub const EXIT_BAD_ARGS: u8 = 254;
/// Exit code for an internal error of the harness itself.
pub const EXIT_CRASH: u8 = 255;

/// Jepsen-style cluster test harness for distributed databases.
#[derive(Parser)]
#[command(name = "faultline", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a test: cluster up, workload and nemesis, history, checkers, reports, verdict.
    Test(test::TestArgs),
    /// Check histories for linearizability violations and other anomalies.
    Check(check::CheckArgs),
    /// Generate a synthetic history (for benchmarks and scale checks).
    Gen(gen::GenArgs),
    /// Start, inspect, use and stop a test cluster (Docker nodes or existing hosts).
    Cluster(cluster::ClusterArgs),
    /// Build the node image (no registry needed).
    Image(image::ImageArgs),
    /// Regenerate results.json, junit.xml and report.html of a run directory.
    Report(report::ReportArgs),
    /// Serve a store of runs on 127.0.0.1 to browse their reports.
    Serve(serve::ServeArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap's own usage exit code (2) would collide with "unknown".
            let _ = e.print();
            return ExitCode::from(match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => EXIT_BAD_ARGS,
            });
        }
    };
    if matches!(cli.command, Command::Check(_) | Command::Gen(_)) {
        die_quietly_on_broken_pipe();
    }
    match cli.command {
        Command::Test(args) => test::run(args),
        Command::Check(args) => check::run(args),
        Command::Gen(args) => gen::run(args),
        Command::Cluster(args) => cluster::run(args),
        Command::Image(args) => image::run(args),
        Command::Report(args) => report::run(args),
        Command::Serve(args) => serve::run(args),
    }
}

/// `faultline check ... | head` should stop quietly when `head` is done, as Unix filters do,
/// instead of panicking on the failed write. Only for the commands that just write output:
/// commands that talk to nodes keep Rust's default, so a closed socket is an error, not death.
fn die_quietly_on_broken_pipe() {
    // SAFETY: called once at start-up, before any thread exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
