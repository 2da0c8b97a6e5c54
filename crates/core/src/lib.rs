//! faultline as a library: the phases of a test, each a plain function, used by the
//! `faultline` CLI and by Rust programs that embed faultline.
//!
//! ```no_run
//! use clap::Parser;
//! # #[derive(Parser)] struct Cli { #[command(flatten)] options: faultline_core::TestOptions }
//! let options = Cli::parse().options;
//! let plan = faultline_core::Plan::new(options).expect("flags");  // judge every flag: nothing started
//! let test = faultline_core::Test::start(plan).expect("cluster");  // cluster up
//! let outcome = test.run(0).expect("run");  // run, collect, judge, report
//! println!("{}: {}", outcome.results.verdict, outcome.run_dir.display());
//! test.finish();  // heal, take the cluster down
//! ```
//!
//! The history flows one way: generator -> clients and nemesis -> history -> checkers
//! ([`checking`], the one registry of which checkers judge what) -> results -> reports.

pub mod checking;
pub mod config;
pub mod nodes;
pub mod notice;
pub mod options;
pub mod pin;
pub mod plan;
pub mod prefix;
pub mod run;
pub mod series;
pub mod stream;
pub mod test;

pub use options::TestOptions;
pub use plan::Plan;
pub use run::RunOutcome;
pub use test::Test;

/// Exit code for bad arguments or unreadable input (Jepsen's convention).
pub const EXIT_BAD_ARGS: u8 = 254;
/// Exit code for an internal error of the harness itself.
pub const EXIT_CRASH: u8 = 255;

/// Why a phase could not go on.
#[derive(Debug)]
pub enum Failure {
    /// Bad input: a flag, a definition, a client program (exit 254).
    BadInput(String),
    /// faultline itself failed (exit 255).
    Crash(String),
    /// A signal arrived; its handler is cleaning up and decides the exit code.
    Interrupted,
}

impl Failure {
    /// The exit code this failure ends the command with.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::BadInput(_) => EXIT_BAD_ARGS,
            Failure::Crash(_) => EXIT_CRASH,
            Failure::Interrupted => faultline_cluster::EXIT_INTERRUPTED as u8,
        }
    }

    /// The one line that says what went wrong (empty when interrupted: the signal handler
    /// has said so).
    pub fn message(&self) -> &str {
        match self {
            Failure::BadInput(m) | Failure::Crash(m) => m,
            Failure::Interrupted => "",
        }
    }
}

impl From<faultline_cluster::ClusterError> for Failure {
    fn from(e: faultline_cluster::ClusterError) -> Self {
        if matches!(e, faultline_cluster::ClusterError::Interrupted) {
            Failure::Interrupted
        } else if e.is_bad_input() {
            Failure::BadInput(e.to_string())
        } else {
            Failure::Crash(e.to_string())
        }
    }
}
