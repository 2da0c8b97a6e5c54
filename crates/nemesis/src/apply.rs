//! [`apply_start`] / [`apply_stop`] turn a [`Fault`] into calls on a [`NodeControl`].

use crate::fault::{
    clock_strobe_start_command, netem_probe_command, netem_start_command, netem_stop_command,
    netq_rules, netq_start_command, netq_stop_command, slow_start_command, slow_stop_command,
    stop_loop_command, Aim, ClockMode, ClockSource, Fault, NetemEffect, CLOCK_STROBE_PID_FILE,
};
use crate::grudge::{
    add_rules_command, delete_rule, delete_rules_command, loss_rules, output_chain_setup_commands,
    parse_took_effect, partition_rules, primaries, PartitionSpec,
};
use crate::node::{ApplyError, ClockChange, DbSignal, NodeControl, NodeError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// How far ahead of now a network fault's common start time is set, ms: long enough for the
/// command to reach every node (a `docker exec` or SSH round), so all change together.
const RULES_LEAD_MS: i128 = 250;

/// When a network fault's rules took effect on each node, as the node's clock read it just
/// after its one command committed them: recorded in the fault's completion event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Landing {
    /// Node -> ns since the Unix epoch, by that node's clock; nodes that printed no time are absent.
    pub took_effect: BTreeMap<String, i64>,
    /// From the first node to the last, ms.
    pub skew_ms: f64,
    /// A primaries partition's failover: the node promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted: Option<String>,
    /// A primaries partition's heal: the old primaries retired and started again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejoined: Vec<String>,
}

impl Landing {
    /// The landing of these per-node times.
    pub fn of(took_effect: BTreeMap<String, i64>) -> Landing {
        let first = took_effect.values().min().copied().unwrap_or(0);
        let last = took_effect.values().max().copied().unwrap_or(0);
        Landing {
            took_effect,
            skew_ms: (last - first) as f64 / 1e6,
            ..Landing::default()
        }
    }

    /// Adds `took_effect` and `skew_ms` to a fault's JSON object `value`.
    pub fn record_in(&self, value: &mut serde_json::Value) {
        if let Some(obj) = value.as_object_mut() {
            obj.insert("took_effect".into(), serde_json::json!(self.took_effect));
            obj.insert("skew_ms".into(), serde_json::json!(self.skew_ms));
            if let Some(p) = &self.promoted {
                obj.insert("promoted".into(), serde_json::json!(p));
            }
            if !self.rejoined.is_empty() {
                obj.insert("rejoined".into(), serde_json::json!(self.rejoined));
            }
        }
    }
}

/// Runs `f` on every node at once (a thread each): the results of those that succeeded,
/// and every failure, in node order.
fn on_each_at_once<T: Send>(
    nodes: &[String],
    f: impl Fn(&str) -> Result<T, NodeError> + Sync,
) -> (BTreeMap<String, T>, Vec<NodeError>) {
    let results: Vec<Result<T, NodeError>> = std::thread::scope(|s| {
        let handles: Vec<_> = nodes.iter().map(|n| s.spawn(|| f(n))).collect();
        handles
            .into_iter()
            .zip(nodes)
            .map(|(h, n)| {
                h.join()
                    .unwrap_or_else(|_| Err(NodeError::new(n.as_str(), "panicked")))
            })
            .collect()
    });
    let (mut done, mut errors) = (BTreeMap::new(), Vec::new());
    for (n, r) in nodes.iter().zip(results) {
        match r {
            Ok(v) => {
                done.insert(n.clone(), v);
            }
            Err(e) => errors.push(e),
        }
    }
    (done, errors)
}

/// This machine's clock, ns since the Unix epoch.
fn unix_now_ns() -> i128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// Changes every node's `rules` with one command per node ([`add_rules_command`] or
/// [`delete_rules_command`]), all nodes at once, set to take effect at one common time.
fn change_rules(
    rules: &BTreeMap<String, Vec<String>>,
    ctl: &dyn NodeControl,
    command: fn(&[String], i128, i128) -> String,
) -> Result<Landing, ApplyError> {
    let at = unix_now_ns() + RULES_LEAD_MS * 1_000_000;
    let targets: Vec<String> = rules.keys().cloned().collect();
    let (outputs, errors) = on_each_at_once(&targets, |n| {
        ctl.exec(n, &command(&rules[n], at, RULES_LEAD_MS))
    });
    if !errors.is_empty() {
        return Err(ApplyError {
            errors,
            resolved: None,
        });
    }
    // A node that printed no time (no GNU date) changed its rules all the same.
    let took_effect = outputs
        .into_iter()
        .filter_map(|(n, out)| parse_took_effect(&out).map(|ns| (n, ns)))
        .collect();
    Ok(Landing::of(took_effect))
}

/// Runs `f` on every node, continuing past failures, and reports all of them.
fn on_each(
    nodes: &[String],
    mut f: impl FnMut(&str) -> Result<(), NodeError>,
) -> Result<(), ApplyError> {
    ApplyError::unless_any(nodes.iter().filter_map(|n| f(n).err()).collect())
}

fn addrs(ctl: &dyn NodeControl, nodes: &[String]) -> Result<BTreeMap<String, String>, ApplyError> {
    let mut out = BTreeMap::new();
    for n in nodes {
        out.insert(n.clone(), ctl.addr(n)?);
    }
    Ok(out)
}

/// The iptables rules each node adds for a network fault.
fn network_rules(
    fault: &Fault,
    ctl: &dyn NodeControl,
) -> Result<BTreeMap<String, Vec<String>>, ApplyError> {
    let all = ctl.nodes();
    let addrs = addrs(ctl, &all)?;
    match fault {
        Fault::Partition { grudge, .. } => partition_rules(grudge, &addrs)
            .map_err(|e| NodeError::new(e.0.clone(), e.to_string()).into()),
        Fault::Loss { nodes, percent, .. } => Ok(nodes
            .iter()
            .map(|n| {
                (
                    n.clone(),
                    loss_rules(&peer_addrs(n, &all, &addrs), *percent),
                )
            })
            .collect()),
        _ => Ok(BTreeMap::new()),
    }
}

/// `fault` with its targets resolved: a primaries partition gets its grudge, a fault
/// aimed at the primaries gets their names.
fn resolve(fault: &Fault, ctl: &dyn NodeControl) -> Result<Fault, ApplyError> {
    let mut resolved = fault.clone();
    if let Fault::Partition {
        spec: PartitionSpec::Primaries,
        grudge,
    } = &mut resolved
    {
        *grudge = primaries(&ctl.nodes(), &ctl.primaries()?);
    }
    // Live aims come with the nodes the runner chose (or the schedule's fallback draw).
    if let Some((nodes, Aim::Primaries)) = resolved.targets_mut() {
        if nodes.is_empty() {
            *nodes = ctl.primaries()?;
        }
    }
    Ok(resolved)
}

/// Inflicts `fault`; returns it resolved (see [`ApplyError::resolved`] for a failure).
pub fn apply_start(fault: &Fault, ctl: &dyn NodeControl) -> Result<Fault, ApplyError> {
    apply_start_timed(fault, ctl).map(|(resolved, _)| resolved)
}

/// [`apply_start`], and for a partition or loss when its rules took effect on each node.
pub fn apply_start_timed(
    fault: &Fault,
    ctl: &dyn NodeControl,
) -> Result<(Fault, Option<Landing>), ApplyError> {
    let mut resolved = resolve(fault, ctl)?;
    let inflicted = match resolved {
        Fault::Storage { .. } => crate::storage_apply::inflict(&mut resolved, ctl).map(|()| None),
        Fault::Membership { .. } => crate::membership::inflict(&mut resolved, ctl).map(|()| None),
        Fault::Partition { .. } | Fault::Loss { .. } => network_rules(&resolved, ctl)
            .and_then(|rules| change_rules(&rules, ctl, add_rules_command))
            .and_then(|landing| failover_after(&resolved, ctl, landing))
            .map(Some),
        _ => inflict(&resolved, ctl).map(|()| None),
    };
    let landing = inflicted.map_err(|mut e| {
        e.resolved = Some(Box::new(resolved.clone()));
        e
    })?;
    Ok((resolved, landing))
}

/// The grudge of a primaries partition.
fn primaries_grudge(fault: &Fault) -> Option<&crate::grudge::Grudge> {
    match fault {
        Fault::Partition {
            spec: PartitionSpec::Primaries,
            grudge,
        } => Some(grudge),
        _ => None,
    }
}

/// A primaries partition's failover ([`crate::failover::promote`]) once its rules are in.
fn failover_after(
    resolved: &Fault,
    ctl: &dyn NodeControl,
    mut landing: Landing,
) -> Result<Landing, ApplyError> {
    if let Some(g) = primaries_grudge(resolved) {
        landing.promoted = crate::failover::promote(g, ctl)?;
    }
    Ok(landing)
}

fn inflict(resolved: &Fault, ctl: &dyn NodeControl) -> Result<(), ApplyError> {
    match resolved {
        Fault::Pause { nodes, .. } => on_each(nodes, |n| ctl.signal_db(n, DbSignal::Pause))?,
        Fault::Kill { nodes, .. } => on_each(nodes, |n| ctl.signal_db(n, DbSignal::Kill))?,
        Fault::Slow {
            nodes,
            pause_ms,
            run_ms,
            ..
        } => on_each(nodes, |n| {
            let pid = ctl.db_pid(n)?;
            ctl.exec(n, &slow_start_command(pid, *pause_ms, *run_ms))
                .map(drop)
        })?,
        Fault::Clock {
            nodes,
            clock,
            mode,
            offset_ms,
            period_ms,
            rate,
            ..
        } => on_each(nodes, |n| {
            ctl.prepare_clock(n)?;
            let rate = rate.unwrap_or(1.0);
            let command = match (clock, mode) {
                (ClockSource::Wall, ClockMode::Bump) => {
                    return ctl.write_clock_offset(n, *offset_ms)
                }
                (ClockSource::Wall, ClockMode::Strobe) => clock_strobe_start_command(
                    &ctl.clock_command(n, ClockChange::WallOffset(*offset_ms))?,
                    &ctl.clock_command(n, ClockChange::WallOffset(0))?,
                    *period_ms,
                ),
                (ClockSource::Wall, ClockMode::Rate) => {
                    ctl.clock_command(n, ClockChange::WallRate(rate))?
                }
                (ClockSource::Monotonic, ClockMode::Bump) if *offset_ms >= 0 => {
                    ctl.clock_command(n, ClockChange::MonotonicBump(*offset_ms))?
                }
                (ClockSource::Monotonic, ClockMode::Rate) => {
                    ctl.clock_command(n, ClockChange::MonotonicRate(rate))?
                }
                (ClockSource::Monotonic, _) => {
                    return Err(NodeError::new(
                        n,
                        "a monotonic clock only moves forward: no strobe, no backward bump",
                    ))
                }
            };
            ctl.exec(n, &command).map(drop)
        })?,
        Fault::Netem { nodes, effect, .. } if !uses_netq(*effect, ctl) => on_each(nodes, |n| {
            let addr = ctl.addr(n)?;
            ctl.exec(n, &netem_start_command(&addr, *effect)).map(drop)
        })?,
        Fault::Netem { .. } => {}
        Fault::Partition { .. }
        | Fault::Loss { .. }
        | Fault::Storage { .. }
        | Fault::Membership { .. } => {}
    }
    if let Fault::Netem { nodes, effect, .. } = resolved {
        if uses_netq(*effect, ctl) {
            let rules = netq_rules_for(nodes, ctl)?;
            on_each(nodes, |n| {
                ctl.exec(n, &netq_start_command(*effect))?;
                for cmd in output_chain_setup_commands().iter().chain(&rules[n]) {
                    ctl.exec(n, cmd)?;
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// Heals `fault` (as returned by [`apply_start`]): deletes exactly its rules, resumes or
/// restarts its processes, resets its clocks.
pub fn apply_stop(fault: &Fault, ctl: &dyn NodeControl) -> Result<(), ApplyError> {
    apply_stop_timed(fault, ctl).map(drop)
}

/// [`apply_stop`]: the fault as healed (a membership with the members after the rejoin),
/// and for a partition or loss when its rules were gone from each node.
pub fn apply_stop_timed(
    fault: &Fault,
    ctl: &dyn NodeControl,
) -> Result<(Fault, Option<Landing>), ApplyError> {
    let mut healed = fault.clone();
    let landing = match fault {
        Fault::Partition { .. } | Fault::Loss { .. } => {
            let rules = network_rules(fault, ctl)?;
            let retired = match primaries_grudge(fault) {
                Some(g) => crate::failover::retire(g, ctl)?,
                None => Vec::new(),
            };
            let mut landing = change_rules(&rules, ctl, delete_rules_command)?;
            crate::failover::restart(&retired, ctl)?;
            landing.rejoined = retired;
            Some(landing)
        }
        Fault::Membership { .. } => crate::membership::heal(&mut healed, ctl).map(|()| None)?,
        Fault::Storage { .. } => crate::storage_apply::heal(&mut healed, ctl).map(|()| None)?,
        _ => heal(fault, ctl).map(|()| None)?,
    };
    Ok((healed, landing))
}

/// Heals a fault other than a partition or loss.
fn heal(fault: &Fault, ctl: &dyn NodeControl) -> Result<(), ApplyError> {
    match fault {
        Fault::Partition { .. } | Fault::Loss { .. } => Ok(()),
        Fault::Pause { nodes, .. } => on_each(nodes, |n| ctl.signal_db(n, DbSignal::Resume)),
        Fault::Kill { nodes, .. } => on_each(nodes, |n| ctl.start_db(n)),
        Fault::Slow { nodes, .. } => on_each(nodes, |n| {
            let pid = ctl.db_pid(n)?;
            ctl.exec(n, &slow_stop_command(pid)).map(drop)
        }),
        Fault::Clock {
            nodes, clock, mode, ..
        } => on_each(nodes, |n| match (clock, mode) {
            (ClockSource::Wall, _) => {
                if *mode == ClockMode::Strobe {
                    ctl.exec(n, &stop_loop_command(CLOCK_STROBE_PID_FILE))?;
                }
                if *mode == ClockMode::Rate {
                    ctl.exec(n, &ctl.clock_command(n, ClockChange::WallRate(1.0))?)?;
                }
                ctl.write_clock_offset(n, 0)
            }
            // A monotonic clock never goes back: a bump stays; a rate returns to true speed.
            (ClockSource::Monotonic, ClockMode::Rate) => ctl
                .exec(n, &ctl.clock_command(n, ClockChange::MonotonicRate(1.0))?)
                .map(drop),
            (ClockSource::Monotonic, _) => Ok(()),
        }),
        Fault::Netem { nodes, effect, .. } if uses_netq(*effect, ctl) => {
            let rules = netq_rules_for(nodes, ctl)?;
            on_each(nodes, |n| {
                for rule in &rules[n] {
                    ctl.exec(n, &delete_rule(rule))?;
                }
                ctl.exec(n, &netq_stop_command()).map(drop)
            })
        }
        Fault::Netem { nodes, .. } => on_each(nodes, |n| {
            let addr = ctl.addr(n)?;
            ctl.exec(n, &netem_stop_command(&addr)).map(drop)
        }),
        // Healed by apply_stop_timed, which records what the heal found.
        Fault::Storage { .. } => Ok(()),
        // Healed by apply_stop_timed, which records the members after the rejoin.
        Fault::Membership { .. } => Ok(()),
    }
}

/// Whether a packet fault with `effect` goes through faultline's NFQUEUE handler.
fn uses_netq(effect: NetemEffect, ctl: &dyn NodeControl) -> bool {
    !effect.netem_can() || !ctl.packet_faults_use_netem()
}

/// The addresses of every node in `all` but `node`: the peers its packet faults apply to.
fn peer_addrs(node: &str, all: &[String], addrs: &BTreeMap<String, String>) -> Vec<String> {
    all.iter()
        .filter(|p| *p != node)
        .map(|p| addrs[p].clone())
        .collect()
}

/// The handler's queue rules on each of `nodes`: its packets to every other node.
fn netq_rules_for(
    nodes: &[String],
    ctl: &dyn NodeControl,
) -> Result<BTreeMap<String, Vec<String>>, ApplyError> {
    let all = ctl.nodes();
    let addrs = addrs(ctl, &all)?;
    Ok(nodes
        .iter()
        .map(|n| (n.clone(), netq_rules(&peer_addrs(n, &all, &addrs))))
        .collect())
}

/// Checks that `node`'s kernel has the netem qdisc, by installing a 1 ms delay and removing
/// it. The error carries tc's complaint (e.g. `Error: Specified qdisc kind is unknown.`).
pub fn probe_netem(ctl: &dyn NodeControl, node: &str) -> Result<(), NodeError> {
    let addr = ctl.addr(node)?;
    ctl.exec(node, &netem_probe_command(&addr)).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::write_clock_offset_command;
    use crate::node::{wall_offset_command, MembershipChange};
    use crate::storage::{CorruptMode, DiskErrno, StorageAction};
    use crate::FaultKind;
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    /// The time (ns since the Unix epoch) node n0's rules would take effect in a [`Fake`].
    const T0: i64 = 1_700_000_000_000_000_000;

    /// How a [`Fake`] reaches clocks and packets.
    #[derive(Clone, Copy, PartialEq)]
    enum Reach {
        /// As the trait's defaults: the shim's offset file and netem.
        Defaults,
        /// Clocks set by a host command of its own (as real hosts do), `HOSTCLOCK node ms`.
        HostClock,
        /// No netem, clocks the vDSO way: `PREPARE` before a clock fault, `CLOCK change`.
        NoNetem,
    }

    /// Records every command; node `down` fails everything.
    struct Fake {
        nodes: Vec<String>,
        log: Mutex<Vec<(String, String)>>,
        down: Option<String>,
        reach: Reach,
        /// Nodes marked as removed by an earlier membership fault.
        left: Vec<String>,
    }

    impl Fake {
        fn new(n: usize) -> Self {
            Fake {
                nodes: (1..=n).map(|i| format!("n{i}")).collect(),
                log: Mutex::default(),
                down: None,
                reach: Reach::Defaults,
                left: Vec::new(),
            }
        }
        fn reaching(n: usize, reach: Reach) -> Self {
            Fake {
                reach,
                ..Fake::new(n)
            }
        }
        fn log(&self) -> Vec<(String, String)> {
            self.log.lock().unwrap().clone()
        }
        fn check(&self, node: &str) -> Result<(), NodeError> {
            match &self.down {
                Some(d) if d == node => Err(NodeError::new(node, "unreachable")),
                _ => Ok(()),
            }
        }
    }

    impl NodeControl for Fake {
        fn nodes(&self) -> Vec<String> {
            self.nodes.clone()
        }
        fn exec(&self, node: &str, command: &str) -> Result<String, NodeError> {
            self.check(node)?;
            self.log.lock().unwrap().push((node.into(), command.into()));
            // A rules command prints its node's clock: node i's rules land i ms after T0.
            Ok(if command.ends_with("date +%s%N") {
                format!("{}\n", T0 + node[1..].parse::<i64>().unwrap() * 1_000_000)
            } else if command.contains("left-cluster ]; then") && self.left.contains(&node.into()) {
                "left\n".into()
            } else if command.starts_with("find ") {
                "40 /data/b\n0 /data/empty\n10 /data/a\n".into()
            } else {
                String::new()
            })
        }
        fn addr(&self, node: &str) -> Result<String, NodeError> {
            Ok(format!("10.0.0.{}", &node[1..]))
        }
        fn db_pid(&self, node: &str) -> Result<u32, NodeError> {
            self.check(node)?;
            Ok(100 + node[1..].parse::<u32>().unwrap())
        }
        fn start_db(&self, node: &str) -> Result<(), NodeError> {
            self.exec(node, "START-DB").map(drop)
        }
        fn clock_offset_file(&self, _node: &str) -> String {
            "/run/faultline/clock".into()
        }
        fn primaries(&self) -> Result<Vec<String>, NodeError> {
            Ok(vec!["n2".into()])
        }
        fn clock_offset_command(&self, node: &str, offset_ms: i64) -> String {
            match self.reach {
                Reach::HostClock => format!("HOSTCLOCK {node} {offset_ms}"),
                _ => write_clock_offset_command(&self.clock_offset_file(node), offset_ms),
            }
        }
        fn clock_command(&self, node: &str, change: ClockChange) -> Result<String, NodeError> {
            match self.reach {
                Reach::NoNetem => Ok(format!("CLOCK {change:?}")),
                _ => wall_offset_command(self, node, change),
            }
        }
        fn prepare_clock(&self, node: &str) -> Result<(), NodeError> {
            match self.reach {
                Reach::NoNetem => self.exec(node, "PREPARE").map(drop),
                _ => Ok(()),
            }
        }
        fn packet_faults_use_netem(&self) -> bool {
            self.reach != Reach::NoNetem
        }
        fn data_dirs(&self) -> Vec<String> {
            vec!["/data".into()]
        }
        fn change_membership(
            &self,
            node: &str,
            change: MembershipChange,
            members: &[String],
        ) -> Result<String, NodeError> {
            self.exec(node, &format!("{} {}", change.name(), members.join(",")))
                .map(|_| format!("members {}", members.join(",")))
        }
        fn wipe_data(&self, node: &str) -> Result<(), NodeError> {
            self.exec(node, "WIPE").map(drop)
        }
    }

    /// The `-A`/`-D` lines of a rules command's `iptables-restore` input.
    fn restore_specs(command: &str, op: &str) -> BTreeSet<String> {
        command
            .split('\'')
            .filter(|w| w.starts_with(op))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn a_partition_is_one_command_per_node_and_its_heal_deletes_exactly_its_rules() {
        let ctl = Fake::new(3);
        let fault = Fault::Partition {
            spec: PartitionSpec::Primaries,
            grudge: Default::default(),
        };
        let (resolved, landing) = apply_start_timed(&fault, &ctl).unwrap();
        let Fault::Partition { grudge, .. } = &resolved else {
            panic!()
        };
        assert_eq!(
            grudge["n2"],
            BTreeSet::from(["n1".to_string(), "n3".to_string()])
        );
        let mut log = ctl.log();
        log.sort();
        let nodes: Vec<&str> = log.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(nodes, ["n1", "n2", "n3"], "one command per node: {log:?}");
        for (_, c) in &log {
            assert!(
                c.contains("| iptables-restore --noflush && date +%s%N"),
                "{c}"
            );
            // The chain exists before the rules go in.
            assert!(c.find("iptables -N FAULTLINE").unwrap() < c.find("'*filter'").unwrap());
        }
        assert_eq!(
            restore_specs(&log[0].1, "-A "),
            BTreeSet::from(["-A FAULTLINE -s 10.0.0.2 -j DROP".to_string()])
        );
        assert_eq!(
            restore_specs(&log[1].1, "-A ").len(),
            2,
            "n2 drops n1 and n3"
        );
        // Each node's time is what its command printed; the skew runs from first to last.
        let landing = landing.expect("a partition reports when it landed");
        assert_eq!(
            landing.took_effect,
            BTreeMap::from([
                ("n1".to_string(), T0 + 1_000_000),
                ("n2".to_string(), T0 + 2_000_000),
                ("n3".to_string(), T0 + 3_000_000),
            ])
        );
        assert_eq!(landing.skew_ms, 2.0);
        let mut v = serde_json::to_value(&resolved).unwrap();
        landing.record_in(&mut v);
        assert_eq!(v["skew_ms"], 2.0);
        assert_eq!(v["took_effect"]["n3"], T0 + 3_000_000);

        let ctl2 = Fake::new(3);
        let healed = apply_stop_timed(&resolved, &ctl2).unwrap().1.unwrap();
        assert_eq!(healed.took_effect.len(), 3);
        let mut heal = ctl2.log();
        heal.sort();
        assert_eq!(heal.len(), 3, "one command per node: {heal:?}");
        for ((n, add), (m, del)) in log.iter().zip(&heal) {
            assert_eq!(n, m);
            let added: BTreeSet<String> = restore_specs(add, "-A ")
                .iter()
                .map(|r| r.replacen("-A ", "-D ", 1))
                .collect();
            assert_eq!(
                restore_specs(del, "-D "),
                added,
                "{n} deletes exactly its rules"
            );
        }
    }

    #[test]
    fn a_node_whose_rules_command_fails_is_named_and_the_others_still_change() {
        let mut ctl = Fake::new(3);
        ctl.down = Some("n3".into());
        let fault = Fault::Partition {
            spec: PartitionSpec::Halves,
            grudge: crate::grudge::complete_grudge(&[
                vec!["n1".into()],
                vec!["n2".into(), "n3".into()],
            ]),
        };
        let err = apply_start_timed(&fault, &ctl).unwrap_err();
        assert_eq!(err.to_string(), "n3: unreachable");
        assert!(err.resolved.is_some());
        let mut nodes: Vec<String> = ctl.log().into_iter().map(|(n, _)| n).collect();
        nodes.sort();
        assert_eq!(nodes, ["n1", "n2"]);
    }

    #[test]
    fn kill_stops_process_and_heal_restarts_it_and_errors_name_the_node() {
        let mut ctl = Fake::new(3);
        ctl.down = Some("n3".into());
        let fault = Fault::Kill {
            nodes: vec!["n1".into(), "n3".into()],
            aim: Aim::Drawn,
        };
        let err = apply_start(&fault, &ctl).unwrap_err();
        assert_eq!(err.to_string(), "n3: unreachable");
        assert_eq!(
            ctl.log(),
            vec![("n1".to_string(), "kill -KILL 101".to_string())]
        );
        ctl.down = None;
        apply_stop(&fault, &ctl).unwrap();
        assert_eq!(
            ctl.log()[1..],
            [
                ("n1".to_string(), "START-DB".to_string()),
                ("n3".to_string(), "START-DB".to_string())
            ]
        );
    }

    #[test]
    fn a_power_cut_kills_every_target_before_any_drop_records_it_and_heals_by_restarting() {
        let ctl = Fake::new(3);
        let kind: FaultKind = "power-cut".parse().unwrap();
        assert_eq!(kind, "lose-unfsynced-all".parse().unwrap());
        assert!(kind.needs_faultfs() && !FaultKind::Kill(None).needs_faultfs());
        let fault = Fault::Storage {
            nodes: ctl.nodes(),
            aim: Aim::Drawn,
            at_heal: Default::default(),
            action: StorageAction::LoseUnfsynced,
            outcome: Default::default(),
        };
        let resolved = apply_start(&fault, &ctl).unwrap();
        let log = ctl.log();
        let kills: Vec<usize> = (0..log.len())
            .filter(|&i| log[i].1.starts_with("kill -KILL"))
            .collect();
        let drops: Vec<usize> = (0..log.len())
            .filter(|&i| log[i].1.contains("ctl \"$b\" drop"))
            .collect();
        assert_eq!((kills.len(), drops.len()), (3, 3), "{log:?}");
        assert!(
            kills.iter().max() < drops.iter().min(),
            "a node came back before all lost power: {log:?}"
        );
        let Fault::Storage { outcome, .. } = &resolved else {
            panic!()
        };
        assert_eq!(outcome.keys().collect::<Vec<_>>(), ["n1", "n2", "n3"]);
        let v = serde_json::to_value(&resolved).unwrap();
        assert_eq!(v["fault"], "storage");
        assert_eq!(v["action"], "lose-unfsynced");
        let ctl2 = Fake::new(3);
        apply_stop(&resolved, &ctl2).unwrap();
        let log = ctl2.log();
        assert_eq!(log.iter().filter(|(_, c)| c == "START-DB").count(), 3);
        assert!(
            log[3..].iter().all(|(_, c)| c.contains("kill -0 ")),
            "{log:?}"
        );
    }

    #[test]
    fn a_corrupt_file_damages_one_file_per_target_while_stopped_and_the_seed_decides_which() {
        let fault = Fault::Storage {
            nodes: vec!["n1".into(), "n3".into()],
            aim: Aim::Drawn,
            at_heal: Default::default(),
            action: StorageAction::CorruptFile {
                mode: CorruptMode::Truncate,
                seed: 5,
            },
            outcome: Default::default(),
        };
        let ctl = Fake::new(3);
        let resolved = apply_start(&fault, &ctl).unwrap();
        let log: Vec<String> = ctl.log().into_iter().map(|(_, c)| c).collect();
        let at = |p: &str| log.iter().position(|c| c.starts_with(p)).unwrap();
        let last = |p: &str| log.iter().rposition(|c| c.starts_with(p)).unwrap();
        assert!(last("kill -KILL") < at("truncate -s"), "{log:?}");
        assert!(last("truncate -s") < at("START-DB"), "{log:?}");
        assert_eq!(
            log.iter().filter(|c| c.starts_with("truncate -s")).count(),
            2
        );
        let Fault::Storage { outcome, .. } = &resolved else {
            panic!()
        };
        assert_eq!(outcome.keys().collect::<Vec<_>>(), ["n1", "n3"]);
        assert!(
            outcome
                .values()
                .all(|o| o.starts_with("truncated /data/") && !o.contains("empty")),
            "{outcome:?}"
        );
        // The same seed makes the same choice; the heal restarts nothing that runs.
        let again = Fake::new(3);
        assert_eq!(apply_start(&fault, &again).unwrap(), resolved);
        let healer = Fake::new(3);
        apply_stop(&resolved, &healer).unwrap();
        assert!(!healer.log().iter().any(|(_, c)| c == "START-DB"));
        let other_seeds: std::collections::BTreeSet<String> = (0..4)
            .map(|seed| {
                let mut f = fault.clone();
                if let Fault::Storage { action, .. } = &mut f {
                    *action = StorageAction::CorruptFile {
                        mode: CorruptMode::Truncate,
                        seed,
                    };
                }
                match apply_start(&f, &Fake::new(3)).unwrap() {
                    Fault::Storage { outcome, .. } => outcome["n1"].clone(),
                    _ => unreachable!(),
                }
            })
            .collect();
        assert!(other_seeds.len() > 1, "{other_seeds:?}");
    }

    #[test]
    fn membership_removes_stops_and_wipes_the_node_then_adds_it_back() {
        let ctl = Fake::new(3);
        let fault = Fault::Membership {
            nodes: vec!["n2".into()],
            aim: Aim::Drawn,
            before: vec![],
            after: vec![],
            outcome: Default::default(),
        };
        let resolved = apply_start(&fault, &ctl).unwrap();
        let Fault::Membership {
            before,
            after,
            outcome,
            ..
        } = &resolved
        else {
            panic!()
        };
        assert_eq!(before, &["n1", "n2", "n3"]);
        assert_eq!(after, &["n1", "n3"]);
        assert_eq!(outcome["n2"], "members n1,n3");
        let log: Vec<String> = ctl.log().into_iter().map(|(_, c)| c).collect();
        let check = "if [ -e /var/lib/faultline/left-cluster ]; then echo left; fi";
        assert_eq!(log[..3], [check, check, check]);
        assert_eq!(
            log[3..],
            [
                "leave n1,n3",
                "touch /var/lib/faultline/left-cluster",
                "kill -KILL 102",
                "WIPE"
            ]
        );
        let ctl = Fake::new(3);
        let (healed, _) = apply_stop_timed(&resolved, &ctl).unwrap();
        let Fault::Membership { after, outcome, .. } = &healed else {
            panic!()
        };
        assert_eq!(
            (after.len(), outcome["n2"].as_str()),
            (3, "members n1,n2,n3")
        );
        let log: Vec<String> = ctl.log().into_iter().map(|(_, c)| c).collect();
        assert_eq!(
            log[..3],
            [
                "join n1,n2,n3",
                "rm -f /var/lib/faultline/left-cluster",
                "START-DB"
            ]
        );
        assert!(log[3].contains("kill -0 102"), "{log:?}");
        // Without leave/join the fault fails with the definition's missing command named.
        struct Bare(Fake);
        impl NodeControl for Bare {
            fn nodes(&self) -> Vec<String> {
                self.0.nodes()
            }
            fn exec(&self, node: &str, command: &str) -> Result<String, NodeError> {
                self.0.exec(node, command)
            }
            fn addr(&self, node: &str) -> Result<String, NodeError> {
                self.0.addr(node)
            }
            fn db_pid(&self, node: &str) -> Result<u32, NodeError> {
                self.0.db_pid(node)
            }
            fn start_db(&self, node: &str) -> Result<(), NodeError> {
                self.0.start_db(node)
            }
            fn clock_offset_file(&self, node: &str) -> String {
                self.0.clock_offset_file(node)
            }
        }
        let err = apply_start(&fault, &Bare(Fake::new(3))).unwrap_err();
        assert_eq!(err.to_string(), "n2: this database has no [commands] leave");
        // A node an earlier fault could not add back is no member.
        let ctl = Fake {
            left: vec!["n3".into()],
            ..Fake::new(3)
        };
        let Fault::Membership { before, after, .. } = apply_start(&fault, &ctl).unwrap() else {
            panic!()
        };
        assert_eq!(
            (before, after),
            (vec!["n1".into(), "n2".into()], vec!["n1".to_string()])
        );
        // The heal of a leave that failed runs no join: the node never left.
        let failed = err.resolved.map(|f| *f).unwrap_or(fault);
        let ctl = Fake::new(3);
        apply_stop(&failed, &ctl).unwrap();
        assert_eq!(ctl.log(), []);
    }

    #[test]
    fn a_disk_error_fails_the_targets_disks_until_healed() {
        let ctl = Fake::new(3);
        let fault = Fault::Storage {
            nodes: vec!["n2".into()],
            aim: Aim::Drawn,
            at_heal: Default::default(),
            action: StorageAction::DiskError {
                errno: DiskErrno::ENOSPC,
            },
            outcome: Default::default(),
        };
        let resolved = apply_start(&fault, &ctl).unwrap();
        apply_stop(&resolved, &ctl).unwrap();
        let log = ctl.log();
        assert_eq!(log.len(), 2);
        assert!(
            log[0].0 == "n2" && log[0].1.contains("ctl \"$b\" fail ENOSPC"),
            "{log:?}"
        );
        assert!(log[1].1.contains("ctl \"$b\" heal"), "{log:?}");
    }

    #[test]
    fn loss_rules_cover_every_peer_and_clock_reset_writes_zero() {
        let ctl = Fake::new(3);
        apply_start(
            &Fault::Loss {
                nodes: vec!["n1".into()],
                aim: Aim::Drawn,
                percent: 30,
            },
            &ctl,
        )
        .unwrap();
        let log = ctl.log();
        assert_eq!(log.len(), 1, "one command: {log:?}");
        let rules = restore_specs(&log[0].1, "-A ");
        assert_eq!(rules.len(), 2);
        assert!(rules.iter().all(|r| r.contains("--probability 0.3 ")));

        let ctl = Fake::new(2);
        let clock = Fault::Clock {
            nodes: vec!["n2".into()],
            aim: Aim::Drawn,
            clock: ClockSource::Wall,
            mode: ClockMode::Bump,
            offset_ms: 5000,
            period_ms: 0,
            rate: None,
        };
        apply_start(&clock, &ctl).unwrap();
        apply_stop(&clock, &ctl).unwrap();
        assert_eq!(
            ctl.log(),
            vec![
                (
                    "n2".into(),
                    "printf '%s\\n' '5000000000' > '/run/faultline/clock'".into()
                ),
                (
                    "n2".into(),
                    "printf '%s\\n' '0' > '/run/faultline/clock'".into()
                ),
            ]
        );
    }

    #[test]
    fn netem_start_and_stop_run_tc_on_each_target_with_its_address() {
        let ctl = Fake::new(3);
        let fault = Fault::Netem {
            nodes: vec!["n1".into(), "n3".into()],
            aim: Aim::Drawn,
            effect: crate::NetemEffect::Duplicate { percent: 5 },
        };
        let resolved = apply_start(&fault, &ctl).unwrap();
        apply_stop(&resolved, &ctl).unwrap();
        let log = ctl.log();
        assert_eq!(
            log,
            vec![
                (
                    "n1".into(),
                    netem_start_command("10.0.0.1", crate::NetemEffect::Duplicate { percent: 5 })
                ),
                (
                    "n3".into(),
                    netem_start_command("10.0.0.3", crate::NetemEffect::Duplicate { percent: 5 })
                ),
                ("n1".into(), netem_stop_command("10.0.0.1")),
                ("n3".into(), netem_stop_command("10.0.0.3")),
            ]
        );
        assert!(log[0].1.ends_with("root netem duplicate 5%"));
        assert!(log[2].1.ends_with("tc qdisc del dev \"$dev\" root"));
        probe_netem(&ctl, "n2").unwrap();
        assert_eq!(ctl.log()[4], ("n2".into(), netem_probe_command("10.0.0.2")));
    }

    /// A control that sets clocks its own way (as real hosts do) gets its command used for
    /// bumps, strobes and resets alike; nothing touches the shim's offset file.
    #[test]
    fn clock_faults_use_the_controls_clock_command() {
        let ctl = Fake::reaching(2, Reach::HostClock);
        let strobe = Fault::Clock {
            nodes: vec!["n1".into()],
            aim: Aim::Drawn,
            clock: ClockSource::Wall,
            mode: ClockMode::Strobe,
            offset_ms: -700,
            period_ms: 250,
            rate: None,
        };
        apply_start(&strobe, &ctl).unwrap();
        apply_stop(&strobe, &ctl).unwrap();
        let log = ctl.log();
        assert_eq!(log.len(), 3, "{log:?}");
        assert!(log[0]
            .1
            .contains("{ HOSTCLOCK n1 -700; } && sleep 0.250 && { HOSTCLOCK n1 0; }"));
        assert_eq!(log[1].1, stop_loop_command(CLOCK_STROBE_PID_FILE));
        assert_eq!(log[2], ("n1".into(), "HOSTCLOCK n1 0".into()));
        assert!(log.iter().all(|(_, c)| !c.contains("/run/faultline/clock")));
    }

    #[test]
    fn without_netem_packet_faults_start_the_handler_and_queue_only_peer_traffic() {
        let ctl = Fake::reaching(3, Reach::NoNetem);
        let effect = crate::NetemEffect::Delay {
            delay_ms: 200,
            jitter_ms: 40,
        };
        let fault = Fault::Netem {
            nodes: vec!["n1".into()],
            aim: Aim::Drawn,
            effect,
        };
        let resolved = apply_start(&fault, &ctl).unwrap();
        let log = ctl.log();
        assert_eq!(log[0], ("n1".into(), netq_start_command(effect)));
        let rules: Vec<&str> = log
            .iter()
            .filter(|(_, c)| c.contains("NFQUEUE"))
            .map(|(_, c)| c.as_str())
            .collect();
        assert_eq!(rules, netq_rules(&["10.0.0.2".into(), "10.0.0.3".into()]));
        assert!(log
            .iter()
            .any(|(_, c)| c.contains("iptables -I OUTPUT -j FAULTLINE")));
        assert!(log
            .iter()
            .all(|(n, c)| n == "n1" && !c.contains("tc qdisc")));
        apply_stop(&resolved, &ctl).unwrap();
        let log = ctl.log();
        let stop = &log[log.len() - 3..];
        assert!(stop[0].1.starts_with("iptables -D FAULTLINE -d 10.0.0.2 "));
        assert!(stop[1].1.starts_with("iptables -D FAULTLINE -d 10.0.0.3 "));
        assert_eq!(stop[2].1, netq_stop_command());

        // Corrupt uses the handler even where netem exists.
        let with_netem = Fake::new(2);
        let corrupt = Fault::Netem {
            nodes: vec!["n2".into()],
            aim: Aim::Drawn,
            effect: crate::NetemEffect::Corrupt { percent: 10 },
        };
        apply_start(&corrupt, &with_netem).unwrap();
        assert!(with_netem.log()[0].1.contains("--corrupt-pct 10"));
        assert!(with_netem
            .log()
            .iter()
            .all(|(_, c)| !c.contains("tc qdisc")));
    }

    #[test]
    fn monotonic_faults_bump_forward_and_heal_only_the_rate() {
        let clock = |clock, mode, offset_ms, rate| Fault::Clock {
            nodes: vec!["n1".into()],
            aim: Aim::Drawn,
            clock,
            mode,
            offset_ms,
            period_ms: 0,
            rate,
        };
        let ctl = Fake::reaching(2, Reach::NoNetem);
        let bump = clock(ClockSource::Monotonic, ClockMode::Bump, 9000, None);
        apply_start(&bump, &ctl).unwrap();
        apply_stop(&bump, &ctl).unwrap();
        let rate = clock(ClockSource::Monotonic, ClockMode::Rate, 0, Some(4.0));
        apply_start(&rate, &ctl).unwrap();
        apply_stop(&rate, &ctl).unwrap();
        let wall_rate = clock(ClockSource::Wall, ClockMode::Rate, 0, Some(0.5));
        apply_start(&wall_rate, &ctl).unwrap();
        apply_stop(&wall_rate, &ctl).unwrap();
        let log: Vec<String> = ctl.log().into_iter().map(|(_, c)| c).collect();
        assert_eq!(
            log,
            [
                "PREPARE",
                "CLOCK MonotonicBump(9000)",
                "PREPARE",
                "CLOCK MonotonicRate(4.0)",
                "CLOCK MonotonicRate(1.0)",
                "PREPARE",
                "CLOCK WallRate(0.5)",
                "CLOCK WallRate(1.0)",
                "printf '%s\\n' '0' > '/run/faultline/clock'",
            ]
        );
        let back = clock(ClockSource::Monotonic, ClockMode::Bump, -5, None);
        let err = apply_start(&back, &ctl).unwrap_err();
        assert!(err.to_string().contains("only moves forward"), "{err}");
        // A control that only knows wall offsets refuses monotonic faults in one line.
        let plain = Fake::new(2);
        let err = apply_start(&bump, &plain).unwrap_err();
        assert!(err.to_string().contains("need faultline-clock"), "{err}");
    }

    #[test]
    fn faults_aimed_at_primaries_hit_the_primaries_of_the_moment() {
        let ctl = Fake::new(3);
        let clock = Fault::Clock {
            nodes: vec![],
            aim: Aim::Primaries,
            clock: ClockSource::Wall,
            mode: ClockMode::Bump,
            offset_ms: 3000,
            period_ms: 0,
            rate: None,
        };
        let resolved = apply_start(&clock, &ctl).unwrap();
        assert_eq!(resolved.nodes(), ["n2"]);
        assert_eq!(
            ctl.log(),
            vec![(
                "n2".into(),
                "printf '%s\\n' '3000000000' > '/run/faultline/clock'".into()
            )]
        );
        apply_stop(&resolved, &ctl).unwrap();
        assert_eq!(ctl.log().len(), 2);
        assert_eq!(ctl.log()[1].0, "n2");
    }

    #[test]
    fn a_failed_start_still_names_the_resolved_targets_to_heal() {
        let mut ctl = Fake::new(3);
        ctl.down = Some("n2".into());
        let pause = Fault::Pause {
            nodes: vec![],
            aim: Aim::Primaries,
        };
        let err = apply_start(&pause, &ctl).unwrap_err();
        assert_eq!(err.to_string(), "n2: unreachable");
        assert_eq!(
            err.resolved.map(|f| f.nodes()),
            Some(vec!["n2".to_string()])
        );
        let partition = Fault::Partition {
            spec: PartitionSpec::Primaries,
            grudge: Default::default(),
        };
        let err = apply_start(&partition, &ctl).unwrap_err();
        let Some(f) = err.resolved else {
            panic!("grudge resolved before the failure")
        };
        assert!(!f.nodes().is_empty());
    }
}
