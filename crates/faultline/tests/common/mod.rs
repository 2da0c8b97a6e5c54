//! What the end-to-end tests of `faultline test` share: Docker detection and leftover checks.

// Each test binary uses only some of these.
#![allow(dead_code)]

use std::process::Command;

/// False when there is no Docker daemon; then the calling test must skip, and only if
/// `FAULTLINE_SKIP_DOCKER` says so (a CI machine with Docker must never skip silently).
pub fn docker_or_skip() -> bool {
    let up = Command::new("docker")
        .arg("info")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !up {
        assert!(
            std::env::var_os("FAULTLINE_SKIP_DOCKER").is_some(),
            "no Docker daemon: start it (or set FAULTLINE_SKIP_DOCKER=1 to skip this test)"
        );
        eprintln!("SKIPPED: no Docker daemon and FAULTLINE_SKIP_DOCKER is set");
    }
    up
}

/// The compose project a run named on stderr ("... (project faultline-123-abc)").
pub fn project_of(stderr: &str) -> String {
    stderr
        .split("(project ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("the run names its compose project")
        .to_string()
}

/// Containers and networks of a compose project that still exist.
pub fn project_leftovers(project: &str) -> Vec<String> {
    let label = format!("label=com.docker.compose.project={project}");
    let mut left = Vec::new();
    for what in [
        &["ps", "-aq", "--filter"][..],
        &["network", "ls", "-q", "--filter"][..],
    ] {
        let out = Command::new("docker")
            .args(what)
            .arg(&label)
            .output()
            .expect("docker runs");
        left.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string),
        );
    }
    left
}
