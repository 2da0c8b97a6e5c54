//! Real Docker clusters: the node image, etcd and Redis clusters, both remotes, the Rust
//! clients, a kill and restart, cleanup. These need a Docker daemon; without one they say
//! so loudly and return (they never pass silently otherwise: every step asserts).

use faultline_cluster::{
    ensure_image, leftovers, new_project_name, up, CleanupGuard, Cluster, NodeSource, UpOptions,
};
use faultline_control::faults::{restore_node, IPTABLES_CHAIN};
use faultline_control::{nodes_from_hosts, ControlError, HostsConfig, Node};
use faultline_db::etcd::{EtcdClient, EtcdOptions};
use faultline_db::redis::{RedisClient, RedisOptions};
use faultline_db::{collect_logs, new_db, ClientError, DbKind, ProcessState};
use std::time::{Duration, Instant};

fn docker_available(test: &str) -> bool {
    let ok = std::process::Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!(
            "\n********************************************************************\n\
             SKIPPED {test}: no Docker daemon (docker missing or not running).\n\
             This test did NOT run. Install docker.io and start it to run it.\n\
             ********************************************************************\n"
        );
    }
    ok
}

fn bring_up(
    db: DbKind,
    n: usize,
    dir: &std::path::Path,
    guard: &CleanupGuard,
) -> (Cluster, String) {
    let tag = ensure_image().expect("node image");
    assert!(tag.starts_with("faultline-node:"));
    let project = new_project_name();
    let opts = UpOptions {
        db: db.to_string(),
        source: NodeSource::Docker(n),
        state_dir: dir.to_path_buf(),
        project: Some(project.clone()),
        progress: true,
        storage: false,
    };
    let start = Instant::now();
    let cluster = up(&opts, guard).unwrap_or_else(|e| panic!("{db} cluster up: {e}"));
    eprintln!(
        "MEASURED: {db} cluster of {n} nodes up and ready in {:.2} s (image present)",
        start.elapsed().as_secs_f64()
    );
    assert_eq!(cluster.nodes.len(), n);
    assert!(dir.join("cluster.json").exists());
    (cluster, project)
}

fn take_down(guard: CleanupGuard, project: &str, dir: &std::path::Path) {
    let problems = guard.cleanup();
    assert!(problems.is_empty(), "cleanup problems: {problems:?}");
    assert_eq!(leftovers(project).unwrap(), Vec::<String>::new());
    assert!(!dir.join("cluster.json").exists(), "state file left behind");
    drop(guard);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Both remotes: stdin, exit status, stdout, stderr, timeouts, upload and download.
fn check_remote(node: &Node, scratch: &std::path::Path) {
    let out = node
        .remote
        .exec(
            "cat; echo oops >&2; exit 3",
            b"hello",
            Duration::from_secs(20),
        )
        .unwrap();
    assert_eq!(out.status, 3, "{}", node.remote.target());
    assert_eq!(out.stdout, b"hello");
    assert_eq!(out.stderr_text(), "oops");
    let err = node
        .remote
        .exec("sleep 5", b"", Duration::from_millis(500))
        .unwrap_err();
    assert!(matches!(err, ControlError::Timeout { .. }), "{err}");
    // Still usable after a timeout.
    assert_eq!(node.remote.run("echo again").unwrap(), "again");
    // A slow command does not hold up another on the same node (a heal behind a slow ask).
    std::thread::scope(|s| {
        let slow = s.spawn(|| node.remote.run("sleep 3; echo slow"));
        std::thread::sleep(Duration::from_millis(300));
        let started = std::time::Instant::now();
        assert_eq!(node.remote.run("echo quick").unwrap(), "quick");
        assert!(
            started.elapsed() < Duration::from_millis(2000),
            "{}: waited {:?} behind a slow command",
            node.remote.target(),
            started.elapsed()
        );
        assert_eq!(slow.join().unwrap().unwrap(), "slow");
    });
    let err = node.remote.run("echo no >&2; false").unwrap_err();
    assert!(
        matches!(err, ControlError::Failed { status: 1, .. }),
        "{err}"
    );

    let local = scratch.join(format!("up-{}", node.name));
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&local, &data).unwrap();
    let remote_path = format!("/tmp/faultline-upload-{}", node.name);
    node.remote.upload(&local, &remote_path).unwrap();
    assert_eq!(
        node.remote.run(&format!("wc -c < {remote_path}")).unwrap(),
        "100000"
    );
    let back = scratch.join(format!("down-{}", node.name));
    node.remote.download(&remote_path, &back).unwrap();
    assert_eq!(std::fs::read(&back).unwrap(), data);
}

#[test]
fn etcd_cluster_serves_survives_a_kill_and_leaves_nothing_behind() {
    if !docker_available("etcd_cluster_serves_survives_a_kill_and_leaves_nothing_behind") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let guard = CleanupGuard::new(false);
    let (cluster, project) = bring_up(DbKind::Etcd, 3, dir.path(), &guard);
    let ssh = &cluster.nodes;
    let docker = cluster
        .docker_nodes()
        .expect("a Docker cluster has docker remotes");
    assert!(ssh[0].remote.target().starts_with("ssh root@"));
    assert!(docker[0].remote.target().starts_with("docker exec "));

    // Write through one remote, read through the other.
    ssh[0].remote.run("etcdctl put via-ssh one").unwrap();
    assert_eq!(
        docker[2]
            .remote
            .run("etcdctl get via-ssh --print-value-only")
            .unwrap(),
        "one"
    );
    docker[1].remote.run("etcdctl put via-docker two").unwrap();
    assert_eq!(
        ssh[2]
            .remote
            .run("etcdctl get via-docker --print-value-only")
            .unwrap(),
        "two"
    );
    check_remote(&ssh[1], dir.path());
    check_remote(&docker[1], dir.path());

    // The same nodes as "existing hosts" (Jepsen's --nodes/--ssh-user/--ssh-key): host keys
    // are trusted on first use and recorded, then checked.
    let hosts = HostsConfig {
        hosts: ssh.iter().map(|n| n.address.clone()).collect(),
        user: "root".into(),
        key_file: cluster.state.key_file.clone(),
        known_hosts: dir.path().join("hosts_known_hosts"),
        connect_timeout: Duration::from_secs(5),
    };
    let real = nodes_from_hosts(&hosts).unwrap();
    for (r, n) in real.iter().zip(ssh) {
        assert_eq!(r.remote.run("hostname").unwrap(), n.name);
    }
    let recorded = std::fs::read_to_string(&hosts.known_hosts).unwrap();
    assert_eq!(recorded.lines().count(), 3, "{recorded}");
    let again = nodes_from_hosts(&hosts).unwrap();
    assert_eq!(again[0].remote.run("echo ok").unwrap(), "ok");

    // The Rust client.
    let rt = runtime();
    let client = |n: &Node, serializable_reads: bool| {
        EtcdClient::new(
            &n.address,
            EtcdOptions {
                serializable_reads,
                timeout: Duration::from_secs(5),
            },
        )
        .unwrap()
    };
    rt.block_on(async {
        let c = client(&ssh[1], false);
        assert_eq!(c.get("via-ssh").await.unwrap().as_deref(), Some("one"));
        assert_eq!(c.get("absent").await.unwrap(), None);
        c.put("r", "1").await.unwrap();
        c.cas("r", Some("1"), "2").await.unwrap();
        assert_eq!(
            c.cas("r", Some("1"), "3").await,
            Err(ClientError::CompareFailed)
        );
        assert_eq!(c.get("r").await.unwrap().as_deref(), Some("2"));
        c.cas("fresh", None, "a").await.unwrap();
        assert_eq!(
            c.cas("fresh", None, "b").await,
            Err(ClientError::CompareFailed)
        );
        let kv = c.get_kv("r").await.unwrap().unwrap();
        assert_eq!(
            c.cas_revision("r", kv.mod_revision - 1, "x").await,
            Err(ClientError::CompareFailed)
        );
        c.cas_revision("r", kv.mod_revision, "3").await.unwrap();
        let s = client(&ssh[2], true);
        assert_eq!(s.get("via-docker").await.unwrap().as_deref(), Some("two"));

        let lease = c.lease_grant(10).await.unwrap();
        assert!(c.lease_keepalive(lease).await.unwrap() > 0);
        let (key, granted_at) = c.lock("the-lock", lease).await.unwrap();
        assert!(key.starts_with("the-lock/"), "{key}");
        // The grant's revision is etcd's, after the lock key was created; a later write is
        // placed after it.
        let lock_key = c.get_kv(&key).await.unwrap().unwrap();
        assert!(granted_at >= lock_key.create_revision, "{granted_at}");
        assert!(c.put_at("after-the-grant", "x").await.unwrap() > granted_at);
        c.unlock(&key).await.unwrap();
        c.lease_revoke(lease).await.unwrap();
    });

    let db = new_db(DbKind::Etcd);
    assert_eq!(db.primaries(ssh).unwrap().len(), 1, "exactly one leader");

    // Kill one node: it is down, its clients fail definitely, the others still serve.
    db.kill(&ssh[2]).unwrap();
    assert_eq!(db.state(&ssh[2]).unwrap(), ProcessState::Down);
    rt.block_on(async {
        let err = client(&ssh[2], false).put("r", "9").await.unwrap_err();
        assert!(
            err.is_definite(),
            "refused connection must be definite: {err:?}"
        );
        // The survivors may first have to elect a new leader (if n3 led).
        let start = Instant::now();
        while let Err(e) = client(&ssh[0], false).put("r", "4").await {
            eprintln!(
                "[{:4.1}s] n1 after the kill of n3: {e}",
                start.elapsed().as_secs_f64()
            );
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the survivors stopped serving"
            );
        }
    });
    db.start(&ssh[2]).unwrap();
    db.await_ready(ssh, Duration::from_secs(30)).unwrap();
    assert_eq!(db.state(&ssh[2]).unwrap(), ProcessState::Running);
    rt.block_on(async {
        assert_eq!(
            client(&ssh[2], false).get("r").await.unwrap().as_deref(),
            Some("4")
        );
    });

    // Faults the cleanup must undo: a paused daemon, faultline's iptables chain (but no
    // other rule), a clock offset.
    db.pause(&ssh[1]).unwrap();
    assert_eq!(db.state(&ssh[1]).unwrap(), ProcessState::Paused);
    ssh[1]
        .remote
        .run(&format!(
            "iptables -w -N {c} && iptables -w -A INPUT -j {c} && iptables -w -A {c} -s 192.0.2.1 -j DROP \
             && iptables -w -A INPUT -s 192.0.2.2 -j DROP && echo 5000000000 > /var/lib/faultline/clock-offset",
            c = IPTABLES_CHAIN
        ))
        .unwrap();
    restore_node(docker[1].remote.as_ref()).unwrap();
    assert_eq!(db.state(&ssh[1]).unwrap(), ProcessState::Running);
    let rules = ssh[1].remote.run("iptables -w -S").unwrap();
    assert!(!rules.contains(IPTABLES_CHAIN), "{rules}");
    assert!(
        rules.contains("-A INPUT -s 192.0.2.2/32 -j DROP"),
        "foreign rule removed: {rules}"
    );
    assert_eq!(
        ssh[1]
            .remote
            .run("cat /var/lib/faultline/clock-offset")
            .unwrap(),
        "0"
    );

    let logs = collect_logs(db.as_ref(), ssh, &dir.path().join("logs")).unwrap();
    assert_eq!(logs.len(), 3);
    for log in &logs {
        assert!(
            std::fs::metadata(log).unwrap().len() > 0,
            "{} is empty",
            log.display()
        );
    }

    take_down(guard, &project, dir.path());
}

#[test]
fn redis_cluster_fails_over_when_the_primary_dies() {
    if !docker_available("redis_cluster_fails_over_when_the_primary_dies") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let guard = CleanupGuard::new(false);
    let (cluster, project) = bring_up(DbKind::Redis, 3, dir.path(), &guard);
    let ssh = &cluster.nodes;
    let docker = cluster.docker_nodes().unwrap();
    let db = new_db(DbKind::Redis);
    assert_eq!(db.primaries(ssh).unwrap(), vec!["n1".to_string()]);

    ssh[0].remote.run("redis-cli set via-ssh one").unwrap();
    assert_eq!(
        docker[0].remote.run("redis-cli get via-ssh").unwrap(),
        "one"
    );

    let rt = runtime();
    let sentinels: Vec<String> = ssh.iter().map(|n| n.address.clone()).collect();
    let client = RedisClient::new(&sentinels, RedisOptions::default());
    rt.block_on(async {
        assert_eq!(client.get("via-ssh").await.unwrap().as_deref(), Some("one"));
        client.put("r", "1").await.unwrap();
        client.cas("r", Some("1"), "2").await.unwrap();
        assert_eq!(
            client.cas("r", Some("1"), "3").await,
            Err(ClientError::CompareFailed)
        );
        client.cas("fresh", None, "a").await.unwrap();
        assert_eq!(
            client.cas("fresh", None, "b").await,
            Err(ClientError::CompareFailed)
        );
        assert_eq!(client.get("r").await.unwrap().as_deref(), Some("2"));
        assert_eq!(
            client.current_primary().await.as_deref(),
            Some(ssh[0].address.as_str())
        );
    });
    // Replication reaches a replica (asynchronously).
    let deadline = Instant::now() + Duration::from_secs(10);
    while ssh[2].remote.run("redis-cli get r").unwrap() != "2" {
        assert!(Instant::now() < deadline, "r never replicated to n3");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Kill the primary: Sentinel promotes a replica and the client follows.
    db.kill(&ssh[0]).unwrap();
    assert_eq!(db.state(&ssh[0]).unwrap(), ProcessState::Down);
    let start = Instant::now();
    let new_primary = rt.block_on(async {
        loop {
            match client.put("after-failover", "yes").await {
                Ok(()) => break client.current_primary().await.unwrap(),
                Err(e) => {
                    eprintln!(
                        "[{:5.1}s] during failover: {e}",
                        start.elapsed().as_secs_f64()
                    );
                    assert!(
                        start.elapsed() < Duration::from_secs(60),
                        "no failover: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
    eprintln!(
        "MEASURED: Redis failover after a primary kill: {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert_ne!(new_primary, ssh[0].address);
    let primaries = db.primaries(&ssh[1..]).unwrap();
    assert_eq!(primaries.len(), 1, "{primaries:?}");

    // The old primary comes back (Sentinel turns it into a replica).
    db.start(&ssh[0]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.state(&ssh[0]).unwrap() != ProcessState::Running
        || ssh[0]
            .remote
            .run("redis-cli get after-failover")
            .unwrap_or_default()
            != "yes"
    {
        assert!(
            Instant::now() < deadline,
            "old primary did not rejoin as a replica"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let logs = collect_logs(db.as_ref(), ssh, &dir.path().join("logs")).unwrap();
    assert_eq!(logs.len(), 6, "server and sentinel log on each node");
    take_down(guard, &project, dir.path());
}
