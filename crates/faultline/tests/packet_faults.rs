//! Packet faults on a two-node Docker cluster, through faultline-netq where the kernel has
//! no netem (this machine): each fault changes what the peer receives (a TCP round trip
//! gets slower; UDP datagrams arrive twice, damaged or out of order), and healing leaves no
//! rule and no handler behind. Then `faultline test` interrupted by SIGINT in the middle of a
//! delay fault, with the cluster kept: its nodes carry no rule and no handler either.

mod common;

use faultline_cluster::{CleanupGuard, Cluster, NodeSource, UpOptions};
use faultline_control::Node;
use faultline_nemesis::{apply_start, apply_stop, Aim, Fault, NetemEffect, NodeControl, NodeError};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NETPROBE: &str = "/usr/local/bin/netprobe";

/// The nemesis's view of the cluster, with packet faults forced through faultline-netq.
struct Control<'a> {
    nodes: &'a [Node],
}

impl NodeControl for Control<'_> {
    fn nodes(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }
    fn exec(&self, node: &str, command: &str) -> Result<String, NodeError> {
        let n = self.node(node);
        n.remote
            .run_with(command, b"", Duration::from_secs(30))
            .map_err(|e| NodeError::new(node, e.to_string()))
    }
    fn addr(&self, node: &str) -> Result<String, NodeError> {
        Ok(self.node(node).address.clone())
    }
    fn db_pid(&self, node: &str) -> Result<u32, NodeError> {
        Err(NodeError::new(node, "no database in this test"))
    }
    fn start_db(&self, node: &str) -> Result<(), NodeError> {
        Err(NodeError::new(node, "no database in this test"))
    }
    fn clock_offset_file(&self, _node: &str) -> String {
        String::new()
    }
    fn packet_faults_use_netem(&self) -> bool {
        false
    }
}

impl Control<'_> {
    fn node(&self, name: &str) -> &Node {
        self.nodes.iter().find(|n| n.name == name).expect("node")
    }
    fn sh(&self, node: &str, command: &str) -> String {
        self.exec(node, command)
            .unwrap_or_else(|e| panic!("{node}: {command}: {e}"))
    }
}

fn netprobe_binary(dir: &Path) -> Vec<u8> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/netprobe.c");
    let bin = dir.join("netprobe");
    let out = Command::new("gcc")
        .args(["-O2", "-Wall", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .expect("gcc");
    assert!(out.status.success(), "{out:?}");
    std::fs::read(&bin).unwrap()
}

/// Median and max ms of 20 one-byte TCP round trips from n1 to n2.
fn rtt(ctl: &Control, n2: &str) -> (f64, f64) {
    let out = ctl.sh("n1", &format!("{NETPROBE} tcp-rtt {n2} 7000 20"));
    let v: Vec<f64> = out.split_whitespace().map(|w| w.parse().unwrap()).collect();
    (v[0], v[1])
}

/// What n2 receives when n1 sends 50 numbered datagrams: (received, distinct, damaged, reordered).
fn udp(ctl: &Control, n2: &str, port: u16) -> [u32; 4] {
    let sink = {
        let n = ctl.node("n2").clone();
        std::thread::spawn(move || {
            n.remote
                .run_with(
                    &format!("{NETPROBE} udp-sink {port} 5000"),
                    b"",
                    Duration::from_secs(30),
                )
                .unwrap()
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    ctl.sh("n1", &format!("{NETPROBE} udp-send {n2} {port} 50"));
    let out = sink.join().unwrap();
    let v: Vec<u32> = out
        .split_whitespace()
        .skip(1)
        .step_by(2)
        .map(|w| w.parse().unwrap())
        .collect();
    [v[0], v[1], v[2], v[3]]
}

fn assert_clean(ctl: &Control) {
    for n in ["n1", "n2"] {
        let rules = ctl.sh(n, "iptables -S");
        assert!(!rules.contains("NFQUEUE"), "{n}: {rules}");
        let handlers = ctl.sh(n, "pgrep -c faultline-netq || true");
        assert_eq!(handlers.trim(), "0", "{n}: a packet handler still runs");
    }
}

#[test]
fn each_packet_fault_changes_what_the_peer_receives_and_heals_clean() {
    if !common::docker_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let probe = netprobe_binary(dir.path());
    let guard = CleanupGuard::new(false);
    let opts = UpOptions {
        db: "redis".to_string(),
        source: NodeSource::Docker(2),
        state_dir: dir.path().join("state"),
        project: None,
        progress: false,
        storage: false,
    };
    let cluster: Cluster = faultline_cluster::up(&opts, &guard).expect("cluster up");
    let ctl = Control {
        nodes: &cluster.nodes,
    };
    for n in &cluster.nodes {
        n.remote.write_file(NETPROBE, &probe).unwrap();
        ctl.sh(&n.name, &format!("chmod +x {NETPROBE}"));
        // Only the probe's packets are measured: replication and Sentinel chatter between
        // the nodes would share the faulted path (at 8 kbit/s it backs the queue up for
        // seconds), so the database stops here.
        ctl.sh(&n.name, "pkill redis || true");
    }
    let n2 = ctl.node("n2").address.clone();
    ctl.sh(
        "n2",
        &format!("nohup {NETPROBE} tcp-echo 7000 >/dev/null 2>&1 &"),
    );
    std::thread::sleep(Duration::from_millis(300));
    let (base, _) = rtt(&ctl, &n2);
    assert!(base < 50.0, "baseline round trip {base} ms");
    let base_udp = udp(&ctl, &n2, 9001);
    assert_eq!(base_udp, [50, 50, 0, 0], "baseline datagrams");

    let fault = |effect| Fault::Netem {
        nodes: vec!["n1".into()],
        aim: Aim::Drawn,
        effect,
    };
    let run = |effect: NetemEffect, measure: &dyn Fn()| {
        let f = apply_start(&fault(effect), &ctl).unwrap_or_else(|e| panic!("{effect:?}: {e}"));
        measure();
        apply_stop(&f, &ctl).unwrap();
        assert_clean(&ctl);
    };

    run(
        NetemEffect::Delay {
            delay_ms: 200,
            jitter_ms: 20,
        },
        &|| {
            let (median, _) = rtt(&ctl, &n2);
            assert!(
                (175.0..400.0).contains(&median),
                "round trip under a 200 ms delay: {median} ms"
            );
        },
    );
    let (after, _) = rtt(&ctl, &n2);
    assert!(after < 50.0, "round trip after healing: {after} ms");

    run(NetemEffect::Duplicate { percent: 100 }, &|| {
        let [received, distinct, damaged, _] = udp(&ctl, &n2, 9002);
        assert_eq!((distinct, damaged), (50, 0));
        assert_eq!(received, 100, "every datagram arrives twice");
    });
    run(NetemEffect::Corrupt { percent: 100 }, &|| {
        let [received, _, damaged, _] = udp(&ctl, &n2, 9003);
        assert_eq!(
            (received, damaged),
            (50, 50),
            "every datagram arrives, damaged: its checksum was fixed"
        );
    });
    run(
        NetemEffect::Reorder {
            percent: 50,
            delay_ms: 100,
        },
        &|| {
            let [received, distinct, _, reordered] = udp(&ctl, &n2, 9004);
            assert_eq!((received, distinct), (50, 50));
            assert!(reordered >= 5, "only {reordered} datagrams overtaken");
        },
    );
    run(NetemEffect::Bandwidth { kbit: 8 }, &|| {
        // A 1-byte TCP segment is 53 bytes on the wire: 53 ms at 8 kbit/s.
        let (median, _) = rtt(&ctl, &n2);
        assert!(median >= 45.0, "round trip at 8 kbit/s: {median} ms");
    });
    // The handler dies: --queue-bypass lets traffic flow, and a heal still cleans up.
    let f = apply_start(
        &fault(NetemEffect::Delay {
            delay_ms: 300,
            jitter_ms: 0,
        }),
        &ctl,
    )
    .unwrap();
    ctl.sh("n1", "kill -KILL $(cat /var/lib/faultline/netq.pid)");
    let (median, _) = rtt(&ctl, &n2);
    assert!(
        median < 50.0,
        "a dead handler must not hold traffic: {median} ms"
    );
    apply_stop(&f, &ctl).unwrap();
    assert_clean(&ctl);
    let problems = guard.cleanup();
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn sigint_during_a_delay_fault_leaves_no_rule_and_no_handler() {
    if !common::docker_or_skip() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    // The run's private state (keys, the kept cluster's record) goes here, not in $HOME.
    let state_root = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .env("FAULTLINE_STATE_DIR", state_root.path())
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
            "60",
            "--nodes",
            "2",
            "--seed",
            "5",
            "--keep-cluster",
            "--store",
        ])
        .arg(store.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the delay is in place (the history records its start's completion).
    let deadline = Instant::now() + Duration::from_secs(150);
    let started = loop {
        let history =
            std::fs::read_to_string(store.path().join("latest/history.jsonl")).unwrap_or_default();
        let done = history
            .lines()
            .any(|l| l.contains("\"start-netem\"") && l.contains("\"type\":\"ok\""));
        if done || Instant::now() > deadline {
            break done;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // SAFETY: kill with a pid we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(started, "the delay never started: {stderr}");
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let history = std::fs::read_to_string(store.path().join("latest/history.jsonl")).unwrap();
    assert!(history.contains("faultline's NFQUEUE") || history.contains("\"effect\":\"delay\""));
    // The cluster was kept: look inside its nodes.
    let project = common::project_of(&stderr);
    for n in ["n1", "n2"] {
        let name = format!("{project}_{n}_1");
        let run = |cmd: &str| {
            let out = Command::new("docker")
                .args(["exec", &name, "sh", "-c", cmd])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let rules = run("iptables -S");
        assert!(
            !rules.contains("NFQUEUE") && !rules.contains("FAULTLINE"),
            "{n}: {rules}"
        );
        assert_eq!(run("pgrep -c faultline-netq || true").trim(), "0", "{n}");
    }
    let state = state_root.path().join("runs").join(&project);
    let down = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["cluster", "--state-dir"])
        .arg(&state)
        .arg("down")
        .output()
        .unwrap();
    assert!(down.status.success(), "{down:?}");
    assert_eq!(common::project_leftovers(&project), Vec::<String>::new());
}
