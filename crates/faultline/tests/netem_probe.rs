//! End to end: `faultline test --nemesis delay` on a one-node Docker cluster. Where the
//! kernel has no netem (as on the development machine), the run must stop before any
//! workload with exit 254 and one line saying so, leaving nothing behind; where it has
//! netem, the nemesis must start and stop a netem delay.

mod common;

use std::process::Command;

#[test]
fn delay_without_netem_exits_254_with_one_line_and_with_netem_is_applied() {
    if !common::docker_or_skip() {
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
    let project = common::project_of(&stderr);
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
    assert_eq!(common::project_leftovers(&project), Vec::<String>::new());
}
