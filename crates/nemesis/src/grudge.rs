//! Network partitions as grudges, and the iptables rules that realise them.
//!
//! A grudge maps each node to the set of nodes it drops inbound traffic from. Rules live in
//! faultline's own chain ([`CHAIN`]), jumped to from `INPUT`, so healing one fault deletes
//! exactly its own rules and never touches the host's other firewall rules.

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Node -> the nodes whose packets it drops. Every node of the cluster appears as a key.
pub type Grudge = BTreeMap<String, BTreeSet<String>>;

/// The iptables chain faultline adds its rules to.
pub const CHAIN: &str = "FAULTLINE";

/// The shape of a network partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionSpec {
    /// The node list cut in two at the middle, in the given order: smaller half first.
    Halves,
    /// The shuffled node list cut in two: a random minority against a random majority.
    RandomHalves,
    /// One random node isolated from all others.
    One,
    /// Every node sees a majority, and no two nodes see the same majority.
    MajoritiesRing,
    /// Two halves, with one node of the larger half still talking to both sides.
    Bridge,
    /// Each primary (leader) isolated alone; the rest stay together. Resolved when applied.
    Primaries,
}

impl PartitionSpec {
    /// Every spec, in CLI order.
    pub const ALL: [PartitionSpec; 6] = [
        PartitionSpec::Halves,
        PartitionSpec::RandomHalves,
        PartitionSpec::One,
        PartitionSpec::MajoritiesRing,
        PartitionSpec::Bridge,
        PartitionSpec::Primaries,
    ];

    /// The kebab-case name used on the command line and in histories.
    pub fn name(self) -> &'static str {
        match self {
            PartitionSpec::Halves => "halves",
            PartitionSpec::RandomHalves => "random-halves",
            PartitionSpec::One => "one",
            PartitionSpec::MajoritiesRing => "majorities-ring",
            PartitionSpec::Bridge => "bridge",
            PartitionSpec::Primaries => "primaries",
        }
    }

    /// The grudge for this spec over `nodes`, drawing randomness from `rng`.
    ///
    /// [`PartitionSpec::Primaries`] needs the current primaries, which only a running cluster
    /// knows: it yields an empty grudge here and is resolved by [`primaries`] when applied.
    pub fn grudge<R: Rng>(self, nodes: &[String], rng: &mut R) -> Grudge {
        match self {
            PartitionSpec::Halves => {
                let (a, b) = bisect(nodes);
                complete_grudge(&[a.to_vec(), b.to_vec()])
            }
            PartitionSpec::RandomHalves => {
                let shuffled = shuffled(nodes, rng);
                let (a, b) = bisect(&shuffled);
                complete_grudge(&[a.to_vec(), b.to_vec()])
            }
            PartitionSpec::One => {
                let shuffled = shuffled(nodes, rng);
                let (one, rest) = shuffled.split_at(shuffled.len().min(1));
                complete_grudge(&[one.to_vec(), rest.to_vec()])
            }
            PartitionSpec::MajoritiesRing => majorities_ring(&shuffled(nodes, rng)),
            PartitionSpec::Bridge => bridge(&shuffled(nodes, rng)),
            PartitionSpec::Primaries => Grudge::new(),
        }
    }
}

impl fmt::Display for PartitionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn shuffled<R: Rng>(nodes: &[String], rng: &mut R) -> Vec<String> {
    let mut v = nodes.to_vec();
    v.shuffle(rng);
    v
}

/// Cuts `nodes` in two: the first `len / 2` nodes, then the rest (the larger half when odd).
pub fn bisect(nodes: &[String]) -> (&[String], &[String]) {
    nodes.split_at(nodes.len() / 2)
}

/// A grudge in which each component talks only to itself: every node drops every node
/// outside its own component. Nodes in no component are absent.
pub fn complete_grudge(components: &[Vec<String>]) -> Grudge {
    let universe: BTreeSet<&String> = components.iter().flatten().collect();
    let mut grudge = Grudge::new();
    for component in components {
        let inside: BTreeSet<&String> = component.iter().collect();
        for node in component {
            let snubbed = universe
                .iter()
                .filter(|n| !inside.contains(*n))
                .map(|n| (*n).clone())
                .collect();
            grudge.insert(node.clone(), snubbed);
        }
    }
    grudge
}

/// Every node sees a majority centred on itself in a ring (in the order given), and drops
/// the rest; with three or more nodes no two nodes see the same majority.
pub fn majorities_ring(nodes: &[String]) -> Grudge {
    let n = nodes.len();
    let m = n / 2 + 1;
    let mut grudge = Grudge::new();
    for start in 0..n {
        let window: Vec<&String> = (0..m).map(|j| &nodes[(start + j) % n]).collect();
        let centre = window[m / 2];
        let snubbed = nodes
            .iter()
            .filter(|x| !window.contains(x))
            .cloned()
            .collect();
        grudge.insert(centre.clone(), snubbed);
    }
    grudge
}

/// Halves as in [`bisect`], except the first node of the larger half (the bridge) drops
/// nobody and nobody drops it, so it talks to both sides.
pub fn bridge(nodes: &[String]) -> Grudge {
    let (a, b) = bisect(nodes);
    let mut grudge = complete_grudge(&[a.to_vec(), b.to_vec()]);
    if let Some(bridge) = b.first() {
        grudge.insert(bridge.clone(), BTreeSet::new());
        for snubbed in grudge.values_mut() {
            snubbed.remove(bridge);
        }
    }
    grudge
}

/// Each primary alone in its own component; every other node together in one more.
pub fn primaries(nodes: &[String], primaries: &[String]) -> Grudge {
    let mut components: Vec<Vec<String>> = primaries
        .iter()
        .filter(|p| nodes.contains(p))
        .map(|p| vec![p.clone()])
        .collect();
    let rest: Vec<String> = nodes
        .iter()
        .filter(|n| !primaries.contains(n))
        .cloned()
        .collect();
    components.push(rest);
    let mut grudge = complete_grudge(&components);
    for n in nodes {
        grudge.entry(n.clone()).or_default();
    }
    grudge
}

/// Why rules could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no address known for node {0:?}")]
pub struct UnknownNode(pub String);

/// Commands that create [`CHAIN`] and hook it into `INPUT`; idempotent, run before adding rules.
pub fn chain_setup_commands() -> Vec<String> {
    vec![
        format!("iptables -N {CHAIN} 2>/dev/null || true"),
        format!("iptables -C INPUT -j {CHAIN} 2>/dev/null || iptables -I INPUT -j {CHAIN}"),
    ]
}

/// Commands that create [`CHAIN`] and hook it into `OUTPUT` too (for rules on packets a
/// node sends, `-d`: the packet handler's queue); idempotent.
pub fn output_chain_setup_commands() -> Vec<String> {
    vec![
        format!("iptables -N {CHAIN} 2>/dev/null || true"),
        format!("iptables -C OUTPUT -j {CHAIN} 2>/dev/null || iptables -I OUTPUT -j {CHAIN}"),
    ]
}

/// Commands that remove [`CHAIN`] and every rule in it; for teardown after a test.
pub fn chain_teardown_commands() -> Vec<String> {
    vec![
        format!("iptables -D INPUT -j {CHAIN} 2>/dev/null || true"),
        format!("iptables -D OUTPUT -j {CHAIN} 2>/dev/null || true"),
        format!("iptables -F {CHAIN} 2>/dev/null || true"),
        format!("iptables -X {CHAIN} 2>/dev/null || true"),
    ]
}

/// The rules each node adds for `grudge`: `iptables -A FAULTLINE -s <addr> -j DROP` for every
/// node it drops. Nodes that drop nobody get no entry. `addrs` maps node names to addresses.
pub fn partition_rules(
    grudge: &Grudge,
    addrs: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Vec<String>>, UnknownNode> {
    let mut rules = BTreeMap::new();
    for (node, snubbed) in grudge {
        if snubbed.is_empty() {
            continue;
        }
        let mut node_rules = Vec::with_capacity(snubbed.len());
        for other in snubbed {
            let addr = addrs.get(other).ok_or_else(|| UnknownNode(other.clone()))?;
            node_rules.push(format!("iptables -A {CHAIN} -s {addr} -j DROP"));
        }
        rules.insert(node.clone(), node_rules);
    }
    Ok(rules)
}

/// The rules one node adds to drop `percent`% of packets from each of `peers` at random.
pub fn loss_rules(peer_addrs: &[String], percent: u8) -> Vec<String> {
    let probability = f64::from(percent.min(100)) / 100.0;
    peer_addrs
        .iter()
        .map(|addr| {
            format!(
                "iptables -A {CHAIN} -s {addr} -m statistic --mode random --probability {probability} -j DROP"
            )
        })
        .collect()
}

/// The command deleting a rule added by `rule` (an `iptables -A` command): same rule, `-D`.
pub fn delete_rule(rule: &str) -> String {
    rule.replacen(" -A ", " -D ", 1)
}

/// A node waits at most this many times the planned lead for its start time: a node whose
/// clock runs behind this machine's must not stall a fault for long.
const MAX_WAIT_FACTOR: i128 = 2;

/// Shell that waits until the node's clock reads `at_unix_ns` (when that is less than
/// [`MAX_WAIT_FACTOR`] x `lead_ms` away): every node of a fault gets the same start time, so
/// their rules change together however long each command took to reach its node.
fn wait_until_command(at_unix_ns: i128, lead_ms: i128) -> String {
    let max_ms = lead_ms * MAX_WAIT_FACTOR;
    format!(
        "d=$(( ({at_unix_ns} - $(date +%s%N) + 999999) / 1000000 )); \
         if [ \"$d\" -gt 0 ] && [ \"$d\" -le {max_ms} ]; then sleep \"$(printf '%d.%03d' $((d / 1000)) $((d % 1000)))\" || true; fi"
    )
}

/// Shell that feeds `iptables-restore --noflush` every rule of `rules` (`iptables -A ...`
/// commands, with `-A` made `op`) and, once the common start time has come, the `COMMIT`
/// that applies them all. The restore is already running and has read the rules when the
/// start time comes: what is left is one write and one commit, the same moment on every node.
fn restore_commit(rules: &[String], op: &str, at_unix_ns: i128, lead_ms: i128) -> String {
    let lines: Vec<String> = rules
        .iter()
        .map(|rule| {
            let spec = rule.trim_start_matches("iptables ").replacen("-A ", op, 1);
            format!("'{spec}'")
        })
        .collect();
    format!(
        "{{ printf '%s\\n' '*filter' {}; {}; printf 'COMMIT\\n'; }} | iptables-restore --noflush",
        lines.join(" "),
        wait_until_command(at_unix_ns, lead_ms),
    )
}

/// The one command that adds all of a node's `rules` (`iptables -A ...` commands) at once:
/// it sets up [`CHAIN`], commits every rule in one `iptables-restore --noflush` at the common
/// start time and prints the node's clock (ns since the Unix epoch) right after, when the
/// rules took effect.
pub fn add_rules_command(rules: &[String], at_unix_ns: i128, lead_ms: i128) -> String {
    // The chain is made outside the restore: with --noflush a declared chain is flushed.
    format!(
        "{{ iptables -N {CHAIN} 2>/dev/null || true; }} && \
         {{ iptables -C INPUT -j {CHAIN} 2>/dev/null || iptables -I INPUT -j {CHAIN}; }} && \
         {} && date +%s%N",
        restore_commit(rules, "-A ", at_unix_ns, lead_ms),
    )
}

/// The one command that deletes all of a node's `rules` at once, as [`add_rules_command`]
/// added them, and prints when they were gone. If the one commit fails (some rule was never
/// added: its start failed), each rule that is there is deleted alone, so a heal undoes
/// whatever was applied.
pub fn delete_rules_command(rules: &[String], at_unix_ns: i128, lead_ms: i128) -> String {
    let one_by_one: Vec<String> = rules
        .iter()
        .map(|r| {
            let check = r.replacen(" -A ", " -C ", 1);
            format!("{{ ! {check} 2>/dev/null || {} || rc=1; }}", delete_rule(r))
        })
        .collect();
    format!(
        "{{ {} 2>/dev/null || {{ rc=0; {}; [ \"$rc\" = 0 ]; }}; }} && date +%s%N",
        restore_commit(rules, "-D ", at_unix_ns, lead_ms),
        one_by_one.join("; "),
    )
}

/// The time a rules command ([`add_rules_command`], [`delete_rules_command`]) printed: its
/// last line, ns since the Unix epoch; `None` if it printed no such number.
pub fn parse_took_effect(out: &str) -> Option<i64> {
    let last = out.lines().rev().find(|l| !l.trim().is_empty())?;
    last.trim().parse().ok().filter(|ns: &i64| *ns > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    /// Whether a and b can exchange packets in both directions.
    fn connected(g: &Grudge, a: &str, b: &str) -> bool {
        !g.get(a).is_some_and(|s| s.contains(b)) && !g.get(b).is_some_and(|s| s.contains(a))
    }

    fn symmetric(g: &Grudge) -> bool {
        g.iter()
            .all(|(a, s)| s.iter().all(|b| g.get(b).is_some_and(|t| t.contains(a))))
    }

    #[test]
    fn halves_is_a_real_bisection() {
        for n in 2..=9 {
            let ns = nodes(n);
            let g = PartitionSpec::Halves.grudge(&ns, &mut ChaCha8Rng::seed_from_u64(1));
            assert_eq!(g.len(), n);
            assert!(symmetric(&g));
            let small: Vec<&String> = ns[..n / 2].iter().collect();
            let big: Vec<&String> = ns[n / 2..].iter().collect();
            for a in &small {
                assert_eq!(g[*a].len(), big.len(), "{a} drops exactly the other half");
                for b in &big {
                    assert!(!connected(&g, a, b));
                }
                for c in &small {
                    assert!(connected(&g, a, c));
                }
            }
            for b in &big {
                assert_eq!(g[*b].len(), small.len());
            }
        }
    }

    #[test]
    fn random_halves_differ_by_seed_and_stay_bisections() {
        let ns = nodes(5);
        let mut seen = BTreeSet::new();
        for seed in 0..20 {
            let g = PartitionSpec::RandomHalves.grudge(&ns, &mut ChaCha8Rng::seed_from_u64(seed));
            assert!(symmetric(&g));
            let minority: BTreeSet<&String> = g
                .iter()
                .filter(|(_, s)| s.len() == 3)
                .map(|(n, _)| n)
                .collect();
            let majority: BTreeSet<&String> = g
                .iter()
                .filter(|(_, s)| s.len() == 2)
                .map(|(n, _)| n)
                .collect();
            assert_eq!((minority.len(), majority.len()), (2, 3));
            seen.insert(format!("{minority:?}"));
        }
        assert!(
            seen.len() > 3,
            "random halves must vary with the seed: {seen:?}"
        );
    }

    #[test]
    fn one_isolates_exactly_one_node() {
        let ns = nodes(5);
        let g = PartitionSpec::One.grudge(&ns, &mut ChaCha8Rng::seed_from_u64(7));
        assert!(symmetric(&g));
        let isolated: Vec<&String> = g
            .iter()
            .filter(|(_, s)| s.len() == 4)
            .map(|(n, _)| n)
            .collect();
        assert_eq!(isolated.len(), 1);
        for (n, s) in &g {
            if n != isolated[0] {
                assert_eq!(s.iter().collect::<Vec<_>>(), isolated);
            }
        }
    }

    #[test]
    fn majorities_ring_gives_distinct_majority_views() {
        for n in 3..=9 {
            let ns = nodes(n);
            let g =
                PartitionSpec::MajoritiesRing.grudge(&ns, &mut ChaCha8Rng::seed_from_u64(n as u64));
            assert_eq!(g.len(), n, "every node has a view");
            // Not necessarily symmetric: when the majority size is even the window is
            // off-centre by one, as in Jepsen's majorities-ring.
            let mut views = BTreeSet::new();
            for (node, snubbed) in &g {
                let view: BTreeSet<&String> = ns.iter().filter(|x| !snubbed.contains(*x)).collect();
                assert!(view.contains(node), "{node} sees itself");
                assert!(view.len() > n / 2, "{node} sees a majority: {view:?}");
                assert!(view.len() < n, "{node} does not see everyone");
                views.insert(view);
            }
            assert_eq!(views.len(), n, "no two nodes see the same majority");
        }
    }

    #[test]
    fn bridge_leaves_one_node_seeing_both_sides() {
        for n in 3..=9 {
            let ns = nodes(n);
            let g = PartitionSpec::Bridge.grudge(&ns, &mut ChaCha8Rng::seed_from_u64(3));
            assert!(symmetric(&g));
            let bridges: Vec<&String> = ns
                .iter()
                .filter(|b| ns.iter().all(|o| connected(&g, b, o)))
                .collect();
            assert_eq!(bridges.len(), 1, "exactly one bridge in {g:?}");
            let others: Vec<&String> = ns.iter().filter(|x| *x != bridges[0]).collect();
            // Without the bridge, the others form exactly two sides that cannot talk.
            let side_a: Vec<&&String> = others
                .iter()
                .filter(|o| connected(&g, others[0], o))
                .collect();
            let side_b: Vec<&&String> = others
                .iter()
                .filter(|o| !connected(&g, others[0], o))
                .collect();
            assert!(!side_b.is_empty(), "the cut is real");
            for a in &side_a {
                for b in &side_b {
                    assert!(!connected(&g, a, b));
                }
            }
            for b in &side_b {
                for b2 in &side_b {
                    assert!(connected(&g, b, b2));
                }
            }
        }
    }

    #[test]
    fn primaries_isolates_each_primary() {
        let ns = nodes(5);
        let p = vec!["n2".to_string(), "n4".to_string()];
        let g = primaries(&ns, &p);
        assert!(symmetric(&g));
        assert_eq!(g["n2"].len(), 4);
        assert_eq!(g["n4"].len(), 4);
        assert!(connected(&g, "n1", "n3") && connected(&g, "n3", "n5"));
        assert!(!connected(&g, "n2", "n4"));
        let none = primaries(&ns, &[]);
        assert!(none.values().all(BTreeSet::is_empty));
        assert_eq!(none.len(), 5);
    }

    #[test]
    fn partition_rules_drop_by_address_in_own_chain() {
        let ns = nodes(3);
        let addrs: BTreeMap<String, String> = ns
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), format!("10.0.0.{}", i + 1)))
            .collect();
        let g = PartitionSpec::One.grudge(&ns, &mut ChaCha8Rng::seed_from_u64(0));
        let isolated = g.iter().find(|(_, s)| s.len() == 2).unwrap().0.clone();
        let rules = partition_rules(&g, &addrs).unwrap();
        assert_eq!(rules.len(), 3);
        let mut expected: Vec<String> = ns
            .iter()
            .filter(|n| **n != isolated)
            .map(|n| format!("iptables -A FAULTLINE -s {} -j DROP", addrs[n]))
            .collect();
        expected.sort();
        assert_eq!(rules[&isolated], expected);
        for (n, r) in &rules {
            if *n != isolated {
                assert_eq!(
                    r,
                    &vec![format!(
                        "iptables -A FAULTLINE -s {} -j DROP",
                        addrs[&isolated]
                    )]
                );
            }
        }
        let mut partial = addrs.clone();
        partial.remove("n1");
        assert_eq!(partition_rules(&g, &partial), Err(UnknownNode("n1".into())));
    }

    #[test]
    fn loss_rules_use_statistic_probability_and_delete_mirrors_add() {
        let r = loss_rules(&["10.0.0.2".into()], 25);
        assert_eq!(
            r,
            vec!["iptables -A FAULTLINE -s 10.0.0.2 -m statistic --mode random --probability 0.25 -j DROP"]
        );
        assert_eq!(
            delete_rule(&r[0]),
            "iptables -D FAULTLINE -s 10.0.0.2 -m statistic --mode random --probability 0.25 -j DROP"
        );
        assert!(loss_rules(&["a".into()], 100)[0].contains("--probability 1 "));
    }

    /// Runs `command` with `sh -c` where `iptables` and `iptables-restore` are fakes that log
    /// their arguments and input to `log`; the restore fails when `restore_fails`, and
    /// `iptables -C` finds only rules for 10.0.0.9 ("added") and the INPUT jump.
    fn run_with_fake_iptables(command: &str, restore_fails: bool) -> (String, String) {
        let dir = std::env::temp_dir().join(format!(
            "faultline-grudge-{}-{restore_fails}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        let _ = std::fs::remove_file(&log);
        let script = |name: &str, body: String| {
            let path = dir.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::process::Command::new("chmod")
                .arg("+x")
                .arg(&path)
                .status()
                .unwrap();
        };
        let log_path = log.display().to_string();
        script(
            "iptables",
            format!(
                "echo \"iptables $*\" >> {log_path}\n\
                 case \"$*\" in -C*10.0.0.9*|'-C INPUT'*) exit 0;; -C*) exit 1;; esac"
            ),
        );
        script(
            "iptables-restore",
            format!(
                "echo \"restore $*\" >> {log_path}; cat >> {log_path}; exit {}",
                u8::from(restore_fails)
            ),
        );
        let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap());
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .env("PATH", path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{command}: {out:?}");
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        (String::from_utf8(out.stdout).unwrap(), logged)
    }

    #[test]
    fn rules_commands_commit_every_rule_in_one_restore_and_print_when() {
        let rules = loss_rules(&["10.0.0.9".into(), "10.0.0.8".into()], 50);
        // A start time already past: no wait.
        let (out, log) = run_with_fake_iptables(&add_rules_command(&rules, 0, 250), false);
        let took = parse_took_effect(&out).expect("the node's clock after the commit");
        assert!(took > 1_600_000_000_000_000_000, "{out}");
        assert!(log.contains("iptables -N FAULTLINE"), "{log}");
        assert!(log.contains(
            "restore --noflush\n*filter\n-A FAULTLINE -s 10.0.0.9 -m statistic --mode random --probability 0.5 -j DROP\n\
             -A FAULTLINE -s 10.0.0.8 -m statistic --mode random --probability 0.5 -j DROP\nCOMMIT\n"
        ), "{log}");
        assert_eq!(log.matches("restore").count(), 1);

        let (out, log) = run_with_fake_iptables(&delete_rules_command(&rules, 0, 250), false);
        assert!(parse_took_effect(&out).is_some());
        assert!(log.contains("-D FAULTLINE -s 10.0.0.8"), "{log}");
        assert!(
            !log.contains("iptables -D"),
            "one commit, no rule-by-rule: {log}"
        );

        // A heal whose commit fails (10.0.0.8's rule was never added) deletes what is there.
        let (out, log) = run_with_fake_iptables(&delete_rules_command(&rules, 0, 250), true);
        assert!(parse_took_effect(&out).is_some());
        assert!(log.contains("iptables -D FAULTLINE -s 10.0.0.9"), "{log}");
        assert!(!log.contains("iptables -D FAULTLINE -s 10.0.0.8"), "{log}");
    }

    #[test]
    fn a_rules_command_waits_for_the_common_start_time() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i128;
        let at = now + 300_000_000;
        let rules = loss_rules(&["10.0.0.9".into()], 10);
        let (out, _) = run_with_fake_iptables(&add_rules_command(&rules, at, 250), false);
        let took = i128::from(parse_took_effect(&out).unwrap());
        assert!(took >= at, "committed {} ms early", (at - took) / 1_000_000);
        // Further than twice the lead away (a node clock far behind): no wait.
        let far = now + 60_000_000_000;
        let (out, _) = run_with_fake_iptables(&add_rules_command(&rules, far, 250), false);
        assert!(i128::from(parse_took_effect(&out).unwrap()) < far);
        assert_eq!(
            parse_took_effect("x\n1700000000123456789\n\n"),
            Some(1_700_000_000_123_456_789)
        );
        assert_eq!(parse_took_effect("1700000000%N\n"), None);
        assert_eq!(parse_took_effect(""), None);
    }
}
