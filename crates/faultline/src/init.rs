//! `faultline init DIR`: a working skeleton of a database definition (faultline-init).

use faultline_init::{Family, Options};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `faultline init`.
#[derive(clap::Args)]
pub struct InitArgs {
    /// The directory to create (it must not exist, or be empty).
    dir: PathBuf,
    /// The protocol the database speaks: etcd or redis (faultline's built-in clients), or none
    /// (a Python client of the client protocol, and a tiny example system to replace).
    #[arg(long, default_value = "none", value_parser = ["etcd", "redis", "none"])]
    family: String,
    /// The client's language, for --family none (the only one: python).
    #[arg(long, value_parser = ["python"])]
    client: Option<String>,
    /// An extra Debian package for the node image, with a marked place in setup.sh for its
    /// configuration (repeatable).
    #[arg(long = "package", value_name = "NAME")]
    packages: Vec<String>,
}

/// Runs `faultline init`.
pub fn run(args: InitArgs) -> ExitCode {
    let family = Family::parse(&args.family).expect("clap allows only known families");
    if args.client.is_some() && family != Family::None {
        return bad("--client python: only with --family none (etcd and redis use faultline's built-in clients)");
    }
    let opts = Options {
        family,
        packages: args.packages,
    };
    match faultline_init::write(&args.dir, &opts) {
        Ok(files) => {
            let dir = args.dir.display();
            println!("faultline init: wrote {} files in {dir}:", files.len());
            for f in &files {
                println!("  {}", f.display());
            }
            let client = match family {
                Family::None => format!(" --client 'python3 {dir}/client.py'"),
                _ => String::new(),
            };
            println!(
                "run it: faultline test --db {dir} --workload register{client} --time-limit 30"
            );
            println!("then make it yours: {dir}/README.md says what to fill in");
            ExitCode::SUCCESS
        }
        Err(e) => bad(&e),
    }
}

fn bad(message: &str) -> ExitCode {
    eprintln!("faultline init: {message}");
    ExitCode::from(crate::EXIT_BAD_ARGS)
}
