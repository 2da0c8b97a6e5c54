//! `kill_all_instances`, what the signal handler calls: every live instance dies with what
//! it started, even a process in a session of its own, and no instance starts afterwards.
//! (Its own test binary: after it, this process starts no client.)

use faultline_client_protocol::{client_options, kill_all_instances, ProgramClients};
use faultline_runner::ClientFactory;
use serde_json::Map;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Opens, starts a grandchild in a session of its own; both pids go to `$PIDS`.
const ESCAPES: &str = r#"
import json, os, subprocess, sys, time
child = subprocess.Popen(["setsid", "sleep", "3600"])
open(os.environ["PIDS"], "a").write("%d\n%d\n" % (os.getpid(), child.pid))
sys.stdin.readline()
print(json.dumps({"type": "open_ok"}), flush=True)
sys.stdin.readline()
"#;

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z'))
    })
}

#[test]
fn kill_all_instances_ends_every_live_instance_and_what_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("client.py");
    std::fs::write(&script, ESCAPES).unwrap();
    let pids = dir.path().join("pids");
    let command = format!("PIDS={} exec python3 {}", pids.display(), script.display());
    let nodes = BTreeMap::from([("n1".to_string(), "10.0.0.1".to_string())]);
    let options = client_options(Map::new(), "register", &[]);
    let clients = ProgramClients::new(&command, "etcd", "register", nodes, options);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Instances kept open, as when a signal arrives mid-run.
    let _open: Vec<_> = (0..2)
        .map(|p| rt.block_on(clients.open_process("n1", p)).unwrap())
        .collect();
    let pids: Vec<i32> = std::fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 4);
    assert!(pids.iter().all(|&p| alive(p)));
    kill_all_instances();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| alive(p)) {
        assert!(Instant::now() < deadline, "still alive: {pids:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let Err(e) = rt.block_on(clients.open_process("n1", 3)) else {
        panic!("an instance started after kill_all_instances")
    };
    assert!(e.contains("faultline is stopping"), "{e}");
}
