//! The compose file: n1..nN on one private network, each with NET_ADMIN and nothing more.
//!
//! The repository's `docker-compose.yml` is this generator's output for five nodes (a test
//! holds them equal); other node counts get a generated file per run. The syntax stays
//! within what Debian's docker-compose 1.29 (file format 2.4) accepts.

/// The repository's default compose file (five nodes).
pub const DEFAULT_COMPOSE: &str = include_str!("../../../docker-compose.yml");

const HEADER: &str = r#"# faultline's default test cluster: five Debian nodes n1..n5 on one private network.
#
# `faultline cluster up` brings it up (building the node image first if needed) and writes a
# file like this one, from the same generator, for other node counts. By hand:
#   FAULTLINE_IMAGE=faultline-node:latest FAULTLINE_AUTHORIZED_KEY="$(cat key.pub)" \
#     docker-compose -p faultline-mine up -d
# Each node gets NET_ADMIN for iptables and nothing more: never privileged, never SYS_TIME
# (clock faults go through the LD_PRELOAD clock shim instead).
version: "2.4"
x-node: &node
  image: ${FAULTLINE_IMAGE:-faultline-node:latest}
  cap_add: [NET_ADMIN]
  environment:
    - FAULTLINE_AUTHORIZED_KEY
  networks: [jepsen]
  stop_grace_period: 2s
services:
"#;

/// The node names of an `n`-node cluster: n1..nN (Jepsen's convention).
pub fn node_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("n{i}")).collect()
}

/// The compose file for `n` nodes.
pub fn compose_file(n: usize) -> String {
    compose_file_for(n, false)
}

/// What nodes of a run with storage faults get besides: the FUSE device and the one
/// capability mounting it needs (faultline-fs over the data directories).
const STORAGE_NODE: &str = "  devices: [/dev/fuse]\n  cap_add: [NET_ADMIN, SYS_ADMIN]\n";

/// The compose file for `n` nodes; with `storage`, each node may mount faultline-fs.
pub fn compose_file_for(n: usize, storage: bool) -> String {
    let mut s = String::from(HEADER);
    if storage {
        s = s.replace("  cap_add: [NET_ADMIN]\n", STORAGE_NODE);
    }
    for name in node_names(n) {
        s.push_str(&format!("  {name}:\n    <<: *node\n    hostname: {name}\n"));
    }
    s.push_str("networks:\n  jepsen: {}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_compose_file_is_the_five_node_default() {
        assert_eq!(compose_file(5), DEFAULT_COMPOSE);
    }

    #[test]
    fn nodes_get_net_admin_and_nothing_more() {
        let f = compose_file(3);
        // The comments explain what is never granted; the settings must not grant it.
        let settings: String = f
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(settings.contains("cap_add: [NET_ADMIN]"));
        assert!(!settings.contains("privileged"));
        assert!(!settings.contains("SYS_TIME"));
        assert!(!settings.contains("cap_add: [NET_ADMIN, "));
        assert!(f.contains("  n3:\n") && !f.contains("  n4:\n"));
        assert!(!settings.contains("SYS_ADMIN") && !settings.contains("/dev/fuse"));
    }

    #[test]
    fn only_runs_with_storage_faults_get_fuse_and_sys_admin() {
        let plain = compose_file_for(3, false);
        assert_eq!(plain, compose_file(3));
        assert!(!plain.contains("fuse") && !plain.contains("SYS_ADMIN"));
        let storage = compose_file_for(3, true);
        assert!(storage.contains("  devices: [/dev/fuse]\n  cap_add: [NET_ADMIN, SYS_ADMIN]\n"));
        // The file's comment says what nodes never get; the settings must not hold it.
        let settings: Vec<&str> = (storage.lines())
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect();
        let settings = settings.join("\n");
        assert!(!settings.contains("privileged") && !settings.contains("SYS_TIME"));
    }
}
