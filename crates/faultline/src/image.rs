//! `faultline image build`: make the node image without a registry.

use faultline_cluster::{image, ClusterError};
use std::process::ExitCode;

/// Arguments of `faultline image`.
#[derive(clap::Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(clap::Subcommand)]
enum ImageCommand {
    /// Build the node image (debootstrap + docker import) unless the current recipe's
    /// image exists.
    Build {
        /// Build even if the image exists.
        #[arg(long)]
        force: bool,
    },
    /// Print the node image's tag for the current recipe.
    Tag,
}

/// Runs `faultline image`.
pub fn run(args: ImageArgs) -> ExitCode {
    let result = match args.command {
        ImageCommand::Tag => {
            println!("{}", image::image_tag());
            Ok(())
        }
        ImageCommand::Build { force } => build(force),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::cluster::report(&e),
    }
}

fn build(force: bool) -> Result<(), ClusterError> {
    let start = std::time::Instant::now();
    let tag = if force {
        image::build_image(true, true)?
    } else {
        image::check_docker()?;
        let tag = image::image_tag();
        if image::image_exists(&tag)? {
            eprintln!("{tag} is up to date (recipe unchanged)");
            println!("{tag}");
            return Ok(());
        }
        image::build_image(true, false)?
    };
    eprintln!("built {tag} in {:.1} s", start.elapsed().as_secs_f64());
    println!("{tag}");
    Ok(())
}
