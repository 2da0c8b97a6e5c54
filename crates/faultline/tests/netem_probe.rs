//! End to end: `faultline test --nemesis delay` on a one-node Docker cluster. Where the
//! kernel has no netem (as on the development machine), the run must stop before any
//! workload with exit 254 and one line saying so, leaving nothing behind; where it has
//! netem, the nemesis must start and stop a netem delay.

use std::process::Command;

fn docker_available() -> bool {
    Command::new("docker")
        .arg("info")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn delay_without_netem_exits_254_with_one_line_and_with_netem_is_applied() {
    if !docker_available() {
        assert!(
            std::env::var_os("FAULTLINE_SKIP_DOCKER").is_some(),
            "no Docker daemon: start it (or set FAULTLINE_SKIP_DOCKER=1 to skip this test)"
        );
        eprintln!("SKIPPED: no Docker daemon and FAULTLINE_SKIP_DOCKER is set");
        return;
    }
    let store = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--db",
            "redis",
            "--workload",
            "register",
            "--nemesis",
            "delay-all",
            "--nemesis-interval",
            "2",
            "--time-limit",
            "5",
            "--nodes",
            "1",
            "--seed",
            "3",
            "--store",
        ])
        .arg(store.path())
        .output()
        .expect("faultline runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let project = stderr
        .split("(project ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("the run names its compose project")
        .to_string();
    if out.status.code() == Some(254) {
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("faultline test:"))
            .collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        let line = errors[0];
        assert!(
            line.starts_with("faultline test: --nemesis delay: this kernel has no netem qdisc (tc qdisc ... netem failed: n1: "),
            "{line}"
        );
        assert!(line.contains("qdisc"), "tc's complaint is kept: {line}");
        assert!(
            line.ends_with("loss (iptables statistic) works, delay/duplicate/reorder need netem"),
            "{line}"
        );
        assert!(
            !store.path().join("latest").exists(),
            "no run was started: {stderr}"
        );
    } else {
        // This kernel has netem: the delay was inflicted and healed.
        let run = store.path().join("latest");
        let history = std::fs::read_to_string(run.join("history.jsonl")).expect("history");
        assert!(
            history.contains("\"start-netem\"") && history.contains("\"effect\":\"delay\""),
            "{history}"
        );
        assert!(history.contains("\"stop-netem\""));
        assert!(
            matches!(out.status.code(), Some(0..=2)),
            "exit {:?}: {stderr}",
            out.status.code()
        );
    }
    let label = format!("label=com.docker.compose.project={project}");
    let left = Command::new("docker")
        .args(["ps", "-aq", "--filter", &label])
        .output()
        .expect("docker runs");
    assert!(left.stdout.is_empty(), "containers left behind");
}
