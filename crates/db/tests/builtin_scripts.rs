//! The built-in definitions' scripts, run here with `sh` in the environment faultline gives
//! them on a node (with `$FAULTLINE_DIR` a temporary directory and a stand-in `etcd`).

use faultline_db::definition::{builtin, Definition};
use std::path::Path;
use std::process::Command;

const NODES: [(&str, &str); 3] = [("n1", "10.0.0.1"), ("n2", "10.0.0.2"), ("n3", "10.0.0.3")];

/// Runs `command` as faultline would on node `me`, with the definition's files in `dir`.
fn run(def: &Definition, me: usize, dir: &Path, path: &str, command: &str) -> String {
    for (name, contents) in &def.dir_files {
        std::fs::write(dir.join(name), contents).unwrap();
    }
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(command);
    for (k, v) in def.environment(NODES[me], &NODES) {
        cmd.env(k, v);
    }
    cmd.env("FAULTLINE_DIR", dir).env("PATH", path);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn redis_setup_makes_the_first_node_primary_and_every_sentinel_know_every_replica() {
    let def = builtin("redis").unwrap().unwrap();
    let setup = def.setup.clone().unwrap();
    let path = std::env::var("PATH").unwrap();
    let dir = tempfile::tempdir().unwrap();
    run(&def, 0, dir.path(), &path, &setup);
    let conf = std::fs::read_to_string(dir.path().join("redis.conf")).unwrap();
    assert!(!conf.contains("replicaof"), "{conf}");
    assert!(
        conf.contains("port 6379\n") && conf.contains("save \"\"\n"),
        "{conf}"
    );
    assert!(conf.contains("replica-announce-ip 10.0.0.1\n"), "{conf}");

    let dir = tempfile::tempdir().unwrap();
    run(&def, 1, dir.path(), &path, &setup);
    let conf = std::fs::read_to_string(dir.path().join("redis.conf")).unwrap();
    assert!(conf.contains("replicaof 10.0.0.1 6379\n"), "{conf}");
    let s = std::fs::read_to_string(dir.path().join("sentinel.conf")).unwrap();
    assert!(s.contains("port 26379\n"), "{s}");
    assert!(
        s.contains("sentinel monitor faultline 10.0.0.1 6379 2\n"),
        "{s}"
    );
    assert!(s.contains("sentinel announce-ip 10.0.0.2\n"), "{s}");
    assert!(
        s.contains("sentinel known-replica faultline 10.0.0.2 6379\n"),
        "{s}"
    );
    assert!(
        s.contains("sentinel known-replica faultline 10.0.0.3 6379\n"),
        "{s}"
    );
    assert!(!s.contains("known-replica faultline 10.0.0.1 "), "{s}");
}

#[test]
fn etcd_starts_with_an_initial_cluster_naming_every_member() {
    let def = builtin("etcd").unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    // A stand-in etcd that prints its arguments, one a line.
    let fake = bin.join("etcd");
    std::fs::write(&fake, "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done\n").unwrap();
    Command::new("chmod").arg("+x").arg(&fake).status().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = run(
        &def,
        1,
        dir.path(),
        &path,
        &format!("exec {}", def.daemons[0].start),
    );
    let args: Vec<&str> = out.lines().collect();
    let after = |flag: &str| args[args.iter().position(|a| *a == flag).unwrap() + 1];
    assert_eq!(
        after("--initial-cluster"),
        "n1=http://10.0.0.1:2380,n2=http://10.0.0.2:2380,n3=http://10.0.0.3:2380"
    );
    assert_eq!(after("--name"), "n2");
    assert_eq!(after("--advertise-client-urls"), "http://10.0.0.2:2379");
    assert_eq!(
        after("--initial-advertise-peer-urls"),
        "http://10.0.0.2:2380"
    );
    assert_eq!(after("--initial-cluster-state"), "new");
}

#[test]
fn the_example_redis_replicas_definition_is_short_and_replicates_the_first_node() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/dbs/redis-replicas");
    let def = faultline_db::definition::load_path(&dir).unwrap();
    let lines: usize = ["db.toml", "setup.sh", "ready.sh"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(dir.join(f))
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    assert!(lines < 50, "{lines} lines");
    assert_eq!(
        def.client,
        faultline_db::ClientFamily::Redis {
            port: 6379,
            primary: faultline_db::RedisPrimary::Any
        }
    );
    let path = std::env::var("PATH").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    run(&def, 2, tmp.path(), &path, def.setup.as_ref().unwrap());
    let conf = std::fs::read_to_string(tmp.path().join("redis.conf")).unwrap();
    assert!(conf.contains("replicaof 10.0.0.1 6379\n"), "{conf}");
}

#[test]
fn the_built_in_definitions_need_no_image_variant() {
    // The base image's package list, as the cluster crate reads it.
    let base = include_str!("../../../image/packages.txt");
    for name in ["etcd", "redis"] {
        for p in builtin(name).unwrap().unwrap().packages {
            assert!(
                base.lines().any(|l| l.trim() == p),
                "{name}: {p} is not in the base image"
            );
        }
    }
}
