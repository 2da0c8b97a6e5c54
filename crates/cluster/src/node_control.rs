//! The nemesis's hands on a real cluster: [`ClusterControl`] implements
//! [`faultline_nemesis::NodeControl`] over the nodes' remotes and the database's own
//! kill/start/pause/resume, primary lookup and clock reading. [`ClockMechanism`] says how
//! clock faults reach a node's clock.

use faultline_control::faults::{
    clock_inject_cmd, clock_probe_cmd, clock_set_cmd, set_host_clock_cmd, CLOCK_CONTROL_FILE,
    CLOCK_OFFSET_FILE, HOST_CLOCK_STATE_FILE,
};
use faultline_control::Node;
use faultline_db::{Db, DbError};
use faultline_nemesis::{
    ClockChange, DbSignal, Failover, MembershipChange, NodeControl, NodeError,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How clock faults reach a node's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMechanism {
    /// faultline-clock's control page, read by the database's processes through their
    /// vDSO (injected with ptrace: etcd, any process) or the preload shim (Redis). Docker
    /// nodes: they share this machine's clock, which faultline never changes.
    ClockTool,
    /// The host's real clock, stepped by a helper (`set_host_clock_cmd`): existing hosts,
    /// only with `--allow-clock-changes`.
    HostClock,
}

impl ClockMechanism {
    /// The mechanism for nodes that are existing `hosts` (or Docker nodes), or why clock
    /// faults may not run there.
    pub fn choose(hosts: bool, allow_clock_changes: bool) -> Result<ClockMechanism, String> {
        match (hosts, allow_clock_changes) {
            (false, _) => Ok(ClockMechanism::ClockTool),
            (true, true) => Ok(ClockMechanism::HostClock),
            (true, false) => Err("clock faults on existing hosts step their real clocks: give --allow-clock-changes to allow it".into()),
        }
    }

    /// The name recorded in test.json.
    pub fn name(self) -> &'static str {
        match self {
            ClockMechanism::ClockTool => "faultline-clock",
            ClockMechanism::HostClock => "host-clock",
        }
    }

    /// What the run output and test.json say about it.
    pub fn note(self) -> String {
        match self {
            ClockMechanism::ClockTool => format!(
                "clock faults move the database processes' clocks through faultline-clock's control page \
                 ({CLOCK_CONTROL_FILE}), read by code injected into their vDSO (or by the preload shim); \
                 wall and monotonic clocks separately; the nodes' real clock (this machine's) is not changed"
            ),
            ClockMechanism::HostClock => format!(
                "clock faults step the hosts' real clocks (python3 clock_settime, else date -s), \
                 tracking the applied offset in {HOST_CLOCK_STATE_FILE}; they are stepped back at \
                 the end (then chronyc makestep or ntpdate, best effort); an NTP daemon running \
                 on the hosts may pull them back sooner"
            ),
        }
    }
}

/// The nemesis's hands on a cluster: node commands through each node's remote, the
/// database's own kill/start/pause/resume, and its view of who is primary.
pub struct ClusterControl {
    /// The cluster's nodes.
    pub nodes: Vec<Node>,
    /// The database running on them.
    pub db: Arc<dyn Db>,
    /// How clock faults reach the nodes' clocks.
    pub clock: ClockMechanism,
    /// Whether packet faults use netem; else faultline's NFQUEUE handler.
    pub netem: bool,
}

impl ClusterControl {
    /// Field `field` (0: wall, 1: monotonic) of `faultline-clock probe` on every node: the
    /// offsets a fresh process under faultline-clock sees. `None` on real hosts, or if a
    /// node cannot say.
    fn probe_clocks(&self, field: usize) -> Option<BTreeMap<String, i64>> {
        if self.clock != ClockMechanism::ClockTool {
            return None;
        }
        let mut offsets = BTreeMap::new();
        for n in &self.nodes {
            let out = self.exec(&n.name, &clock_probe_cmd()).ok()?;
            let value = out.split_whitespace().nth(field)?.parse().ok()?;
            offsets.insert(n.name.clone(), value);
        }
        Some(offsets)
    }

    /// The node called `name`.
    fn node(&self, name: &str) -> Result<&Node, NodeError> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| NodeError::new(name, "no such node in this cluster"))
    }
}

/// A database's clock reading in ns since the Unix epoch: seconds and microseconds as two
/// integers (what Redis `TIME` prints), or seconds with an optional fraction.
pub fn parse_clock(out: &str) -> Option<i128> {
    let mut words = out.split_whitespace();
    let first = words.next()?;
    match words.next() {
        Some(micros) => {
            let secs: i128 = first.parse().ok()?;
            let micros: i128 = micros.parse().ok()?;
            Some(secs * 1_000_000_000 + micros * 1_000)
        }
        None => {
            let (secs, frac) = first.split_once('.').unwrap_or((first, ""));
            let secs: i128 = secs.parse().ok()?;
            if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let frac_ns: i128 = format!("{frac:0<9}").parse().ok()?;
            Some(secs * 1_000_000_000 + if secs < 0 { -frac_ns } else { frac_ns })
        }
    }
}

/// A database error on `node` as the nemesis reports it, naming the node once.
fn node_error(node: &str, e: DbError) -> NodeError {
    match e {
        DbError::Node { reason, .. } => NodeError::new(node, reason),
        other => NodeError::new(node, other.to_string()),
    }
}

/// This machine's wall clock, ns since the Unix epoch.
fn unix_ns() -> i128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

impl NodeControl for ClusterControl {
    fn nodes(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    fn exec(&self, node: &str, command: &str) -> Result<String, NodeError> {
        let n = self.node(node)?;
        n.remote
            .run_with(command, b"", Duration::from_secs(30))
            .map_err(|e| NodeError::new(node, e.to_string()))
    }

    fn addr(&self, node: &str) -> Result<String, NodeError> {
        Ok(self.node(node)?.address.clone())
    }

    fn db_pid(&self, node: &str) -> Result<u32, NodeError> {
        let file = self.db.server_pid_file();
        let text = self.exec(node, &format!("cat {file}"))?;
        text.trim()
            .parse()
            .map_err(|_| NodeError::new(node, format!("{file} holds {text:?}, not a pid")))
    }

    fn start_db(&self, node: &str) -> Result<(), NodeError> {
        self.db
            .start(self.node(node)?)
            .map_err(|e| node_error(node, e))
    }

    fn clock_offset_file(&self, _node: &str) -> String {
        CLOCK_OFFSET_FILE.to_string()
    }

    fn clock_offset_command(&self, _node: &str, offset_ms: i64) -> String {
        match self.clock {
            ClockMechanism::ClockTool => {
                clock_set_cmd(&format!("--wall {}", i128::from(offset_ms) * 1_000_000))
            }
            ClockMechanism::HostClock => set_host_clock_cmd(offset_ms, false),
        }
    }

    fn clock_command(&self, node: &str, change: ClockChange) -> Result<String, NodeError> {
        let ns = |ms: i64| i128::from(ms) * 1_000_000;
        match (self.clock, change) {
            (_, ClockChange::WallOffset(ms)) => Ok(self.clock_offset_command(node, ms)),
            (ClockMechanism::ClockTool, ClockChange::WallRate(r)) => {
                Ok(clock_set_cmd(&format!("--wall-rate {r}")))
            }
            (ClockMechanism::ClockTool, ClockChange::MonotonicBump(ms)) => {
                Ok(clock_set_cmd(&format!("--mono-bump {}", ns(ms))))
            }
            (ClockMechanism::ClockTool, ClockChange::MonotonicRate(r)) => {
                Ok(clock_set_cmd(&format!("--mono-rate {r}")))
            }
            (ClockMechanism::HostClock, other) => Err(NodeError::new(
                node,
                format!("{other:?}: a host's real clock can only be stepped"),
            )),
        }
    }

    fn prepare_clock(&self, node: &str) -> Result<(), NodeError> {
        match self.clock {
            ClockMechanism::ClockTool => self.exec(node, &clock_inject_cmd()).map(drop),
            ClockMechanism::HostClock => Ok(()),
        }
    }

    fn packet_faults_use_netem(&self) -> bool {
        self.netem
    }

    fn write_clock_offset(&self, node: &str, offset_ms: i64) -> Result<(), NodeError> {
        // The final reset of a host's clock also asks NTP to correct what stepping lost.
        let command = match (self.clock, offset_ms) {
            (ClockMechanism::HostClock, 0) => set_host_clock_cmd(0, true),
            _ => self.clock_offset_command(node, offset_ms),
        };
        self.exec(node, &command).map(drop)
    }

    fn failover(&self) -> Option<Failover> {
        let f = self.db.failover()?;
        Some(Failover {
            promote: f.promote,
            position: f.position,
            rejoin: f.rejoin,
        })
    }

    fn primaries(&self) -> Result<Vec<String>, NodeError> {
        self.db
            .primaries(&self.nodes)
            .map_err(|e| NodeError::new("cluster", e.to_string()))
    }

    fn await_ready(&self) -> Result<(), NodeError> {
        self.db
            .await_ready(&self.nodes, self.db.ready_timeout())
            .map_err(|e| NodeError::new("cluster", e.to_string()))
    }

    fn clock_offsets(&self) -> Option<BTreeMap<String, i64>> {
        let Some(command) = self.db.clock_command() else {
            // The database cannot tell its time: a probe under the same mechanism can.
            return self.probe_clocks(0);
        };
        let mut offsets = BTreeMap::new();
        for n in &self.nodes {
            // Bracket the remote call with the local clock: a Docker node's kernel clock is
            // this machine's (CLOCK_REALTIME is not namespaced), so any difference is the
            // shim's; on a real host it is the host's clock step plus its own drift.
            let before = unix_ns();
            let out = self.exec(&n.name, &command).ok()?;
            let after = unix_ns();
            let db_ns = parse_clock(&out)?;
            offsets.insert(n.name.clone(), (db_ns - (before + after) / 2) as i64);
        }
        Some(offsets)
    }

    fn monotonic_clock_offsets(&self) -> Option<BTreeMap<String, i64>> {
        self.probe_clocks(1)
    }

    fn signal_db(&self, node: &str, signal: DbSignal) -> Result<(), NodeError> {
        let n = self.node(node)?;
        let result = match signal {
            DbSignal::Kill => self.db.kill(n),
            DbSignal::Pause => self.db.pause(n),
            DbSignal::Resume => self.db.resume(n),
        };
        result.map_err(|e| node_error(node, e))
    }

    fn data_dirs(&self) -> Vec<String> {
        self.db.data_dirs()
    }

    fn corrupt_patterns(&self) -> Vec<String> {
        self.db.corrupt_patterns()
    }

    fn change_membership(
        &self,
        node: &str,
        change: MembershipChange,
        members: &[String],
    ) -> Result<String, NodeError> {
        let members: Vec<&Node> = self
            .nodes
            .iter()
            .filter(|n| members.contains(&n.name))
            .collect();
        self.db
            .change_membership(self.node(node)?, change.name(), &members)
            .map_err(|e| node_error(node, e))
    }

    fn wipe_data(&self, node: &str) -> Result<(), NodeError> {
        self.db
            .wipe(self.node(node)?)
            .map_err(|e| node_error(node, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_db::DbKind;

    fn control(clock: ClockMechanism) -> ClusterControl {
        ClusterControl {
            nodes: Vec::new(),
            db: faultline_db::new_db(DbKind::Redis),
            clock,
            netem: false,
        }
    }

    #[test]
    fn a_database_error_names_its_node_once() {
        let e = DbError::Node {
            node: "n1".into(),
            reason: "commands.leave exited with status 1".into(),
        };
        assert_eq!(
            node_error("n1", e).to_string(),
            "n1: commands.leave exited with status 1"
        );
    }

    #[test]
    fn docker_nodes_use_faultline_clock_and_hosts_their_clock_only_when_allowed() {
        assert_eq!(
            ClockMechanism::choose(false, false),
            Ok(ClockMechanism::ClockTool)
        );
        assert_eq!(
            ClockMechanism::choose(false, true),
            Ok(ClockMechanism::ClockTool),
            "Docker nodes share this machine's clock: never stepped"
        );
        assert_eq!(
            ClockMechanism::choose(true, true),
            Ok(ClockMechanism::HostClock)
        );
        assert!(ClockMechanism::choose(true, false)
            .unwrap_err()
            .contains("--allow-clock-changes"));
    }

    #[test]
    fn host_clock_control_steps_the_clock_and_docker_control_sets_faultline_clock() {
        let docker = control(ClockMechanism::ClockTool);
        assert_eq!(
            docker.clock_offset_command("n1", 2500),
            "/usr/local/sbin/faultline-clock set --wall 2500000000"
        );
        assert_eq!(
            docker.clock_command("n1", ClockChange::MonotonicBump(7000)),
            Ok("/usr/local/sbin/faultline-clock set --mono-bump 7000000000".to_string())
        );
        assert_eq!(
            docker.clock_command("n1", ClockChange::MonotonicRate(4.0)),
            Ok("/usr/local/sbin/faultline-clock set --mono-rate 4".to_string())
        );
        assert!(!docker.clock_offset_command("n1", 0).contains("date"));
        let hosts = control(ClockMechanism::HostClock);
        assert_eq!(
            hosts.clock_offset_command("h1", -800),
            set_host_clock_cmd(-800, false)
        );
        let cmd = hosts.clock_offset_command("h1", -800);
        assert!(cmd.contains("clock_settime_ns") && cmd.ends_with("faultline-clock -800; fi"));
        assert!(!cmd.contains(CLOCK_OFFSET_FILE));
        assert!(hosts
            .clock_command("h1", ClockChange::WallRate(2.0))
            .is_err());
    }

    #[test]
    fn clock_readings_are_redis_time_or_decimal_seconds() {
        assert_eq!(
            parse_clock("1700000000\n123456\n"),
            Some(1_700_000_000_123_456_000)
        );
        assert_eq!(parse_clock("1700000000.5"), Some(1_700_000_000_500_000_000));
        assert_eq!(parse_clock(" 1700000000 "), Some(1_700_000_000_000_000_000));
        assert_eq!(
            parse_clock("1700000000.123456789"),
            Some(1_700_000_000_123_456_789)
        );
        for bad in ["", "x", "1.2.3", "1.-5", "17 x", "1.1234567890"] {
            assert_eq!(parse_clock(bad), None, "{bad:?}");
        }
    }
}
