//! The faultline command-line tool: one subcommand per module.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

// Checking a large history is mostly allocation: parsed values, interned keys, graph
// edges. mimalloc's thread-local free lists roughly halve the time glibc's malloc takes
// there (ARCHITECTURE.md, "Dependencies").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod check;
mod clean;
mod cluster;
mod config;
mod gen;
mod image;
mod init;
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
    #[command(allow_negative_numbers = true)]
    Test(Box<test::TestArgs>),
    /// Check histories for linearizability violations and other anomalies.
    Check(check::CheckArgs),
    /// Generate a synthetic history (for benchmarks and scale checks).
    Gen(gen::GenArgs),
    /// Start, inspect, use and stop a test cluster (Docker nodes or existing hosts).
    Cluster(cluster::ClusterArgs),
    /// Build the node image (no registry needed).
    Image(image::ImageArgs),
    /// Write a working skeleton of a database definition for your system.
    Init(init::InitArgs),
    /// Regenerate results.json, junit.xml and report.html of a run directory.
    Report(report::ReportArgs),
    /// Serve a store of runs on 127.0.0.1 to browse their reports.
    Serve(serve::ServeArgs),
    /// After a crash: heal and remove the clusters of runs that are gone, and say what went.
    Clean(clean::CleanArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    if matches!(cli.command, Command::Check(_) | Command::Gen(_)) {
        die_quietly_on_broken_pipe();
        no_transparent_huge_pages();
    }
    let code = match cli.command {
        Command::Test(args) => test::run(*args),
        Command::Check(args) => check::run(args),
        Command::Gen(args) => gen::run(args),
        Command::Cluster(args) => cluster::run(args),
        Command::Image(args) => image::run(args),
        Command::Init(args) => init::run(args),
        Command::Report(args) => report::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Clean(args) => clean::run(args),
    };
    // A signal's cleanup may still be under way (e.g. it arrived while this thread was
    // taking the cluster down): wait for it, and exit as the signal says, never 0.
    match faultline_cluster::exit_code_after_signal() {
        Some(signal_code) => ExitCode::from(signal_code.clamp(0, 255) as u8),
        None => code,
    }
}

/// Help and version go to stdout as clap prints them (exit 0). Any other error of the
/// command line is one line, `faultline: what is wrong`, and exit 254: clap's own usage exit
/// code (2) would collide with "unknown", and its usage block is not one line.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    eprintln!("faultline: {}", one_line(&e.render().to_string()));
    ExitCode::from(EXIT_BAD_ARGS)
}

/// The first line of clap's rendered error without its `error: ` label, plus where to look.
fn one_line(rendered: &str) -> String {
    let first = rendered
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("bad command line");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // "Usage: faultline test [OPTIONS]" names the (sub)command whose help to read.
    let command: Vec<&str> = rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .unwrap_or("faultline")
        .split_whitespace()
        .take_while(|w| !w.starts_with(['[', '<', '-']))
        .collect();
    let command = if command.is_empty() {
        "faultline".to_string()
    } else {
        command.join(" ")
    };
    format!("{first} (see `{command} --help`)")
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

/// Turns transparent huge pages off for this process, as mimalloc's `allow_thp=0` does. A large
/// check touches about 1 GB once, sparsely; with huge pages the kernel zeroes 2 MB per first
/// touch, which cost 2 to 3 s of system time on the 1M-transaction history (1.1 s without).
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(argv: &[&str]) -> String {
        match Cli::try_parse_from(argv) {
            Ok(_) => panic!("{argv:?} parsed"),
            Err(e) => one_line(&e.render().to_string()),
        }
    }

    #[test]
    fn command_line_errors_are_one_line_naming_the_command() {
        let m = error_of(&["faultline", "test", "--bogus"]);
        assert!(
            m.starts_with("unexpected argument '--bogus' found")
                && m.ends_with("(see `faultline test --help`)"),
            "{m}"
        );
        assert!(!m.contains('\n'));
        let m = error_of(&["faultline"]);
        assert!(m.ends_with("(see `faultline --help`)"), "{m}");
        let m = error_of(&["faultline", "test", "--concurrency", "x"]);
        assert!(m.contains("'x'") && m.contains("--concurrency"), "{m}");
        // A negative number is a value, judged by the command itself (one line too).
        assert!(Cli::try_parse_from(["faultline", "test", "--time-limit", "-1"]).is_ok());
    }
}
