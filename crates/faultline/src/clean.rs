//! `faultline clean`: recover after a crash. Heals and removes every cluster whose
//! `faultline test` run is gone, says what it removed, and never touches a cluster whose run
//! still goes (see `faultline_cluster::clean`).

use faultline_cluster::clean::{clean_one, survey};
use faultline_cluster::image::check_docker;
use faultline_cluster::state::{state_root, RunRecord};
use std::process::ExitCode;

/// Arguments of `faultline clean`.
#[derive(clap::Args)]
pub struct CleanArgs {
    /// Only say what would be removed.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `faultline clean`: 0 when everything abandoned is gone, 255 if something stayed.
pub fn run(args: CleanArgs) -> ExitCode {
    let root = state_root();
    // Existing-host clusters need no Docker; Docker clusters do, and say so if it is missing.
    let docker = check_docker().is_ok();
    let s = match survey(&root, docker) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("faultline: {e}");
            return ExitCode::from(crate::EXIT_CRASH);
        }
    };
    for r in &s.in_use {
        let why = match &r.owner {
            Some(o) if o.kept => "kept with --keep-cluster; take it down with `faultline cluster --state-dir DIR down`".replace("DIR", &r.dir.display().to_string()),
            Some(o) => format!("its run (pid {}) is still going", o.pid),
            None => "no owner record yet (a run starting now?)".to_string(),
        };
        println!("left {}: {why}", r.project());
    }
    for p in &s.unrecorded {
        println!(
            "left {p}: no record in {} (another state directory's, or made by hand)",
            root.display()
        );
    }
    if s.abandoned.is_empty() {
        println!("nothing to clean in {}", root.display());
        return ExitCode::SUCCESS;
    }
    let mut failed = false;
    for r in &s.abandoned {
        if args.dry_run {
            println!("would remove {}", describe(r));
            continue;
        }
        let done = clean_one(r);
        if done.problems.is_empty() {
            println!("removed {done}");
        } else {
            failed = true;
            eprintln!(
                "faultline: {}: not fully removed: {}",
                done.project,
                done.problems.join("; ")
            );
        }
    }
    if failed {
        ExitCode::from(crate::EXIT_CRASH)
    } else {
        ExitCode::SUCCESS
    }
}

fn describe(r: &RunRecord) -> String {
    match &r.owner {
        Some(o) => format!("{} (left by pid {}, which is gone)", r.project(), o.pid),
        None => r.project(),
    }
}
