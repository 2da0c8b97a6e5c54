//! `faultline serve`: browse a store of runs at http://127.0.0.1:PORT/ (loopback only).

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `faultline serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The store directory: <test>/<timestamp>/ run directories.
    #[arg(long, default_value = "store")]
    store: PathBuf,
    /// The port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
}

/// Runs `faultline serve` until interrupted; 254 if the store or port is unusable.
pub fn run(args: ServeArgs) -> ExitCode {
    let served = faultline_report::StoreServer::bind(&args.store, args.port).and_then(|server| {
        eprintln!(
            "faultline: serving {} on http://127.0.0.1:{}/",
            args.store.display(),
            server.port()
        );
        server.run()
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("faultline: {e}");
            ExitCode::from(crate::EXIT_BAD_ARGS)
        }
    }
}
