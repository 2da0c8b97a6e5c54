//! Explanations of hand-built histories shaped like faultline's findings, and properties of
//! the fault effects against a brute-force count.

use faultline_explain::{explain, Expectation, Role};
use faultline_history::{pair, CheckerResult, Event, EventType, Process};
use faultline_linearizability::{check, CheckOptions, ModelSpec};
use proptest::prelude::*;
use serde_json::{json, Value};

use faultline_explain::testing::{lost_writes, stale_read, History, S};

fn linearizability(events: &[Event]) -> Vec<CheckerResult> {
    let ops = pair(events, &[]).unwrap();
    let report = check(&ops, ModelSpec::CasRegister, &CheckOptions::default()).unwrap();
    vec![report.to_checker_result()]
}

#[test]
fn a_stale_read_names_the_node_the_partition_and_the_write_it_missed() {
    let h = stale_read();
    let checkers = linearizability(&h.events);
    assert_eq!(checkers[0].anomalies.len(), 1);
    let x = explain(&h.events, &checkers, &[]);
    let a = &x.anomalies[0];
    assert_eq!((a.checker.as_str(), a.anomaly), ("linearizability", 0));
    let f = &a.finding;
    for part in [
        "The read of key 7 by process 24 was served by n3",
        "which the partition (majorities-ring, 10.0 s to 20.4 s) had cut off from n1, n4 and n5",
        "it returned 0",
        "n1 was the leader then",
        "but write 4 of key 7 by process 5 had been acknowledged by n1 at 18.2 s, before it began",
    ] {
        assert!(f.contains(part), "{part:?} missing from: {f}");
    }
    let roles: Vec<(u64, Role)> = a.operations.iter().map(|o| (o.process, o.role)).collect();
    assert_eq!(roles[0], (24, Role::Failing));
    assert!(roles.contains(&(5, Role::Contradicting)), "{roles:?}");
    assert_eq!(a.faults, vec![0]);
    assert_eq!(a.operations[0].node.as_deref(), Some("n3"));
    assert_eq!(a.operations[0].primaries, Some(vec!["n1".to_string()]));
    // The drawing: the key's four operations, the partition behind them, the prefix marked.
    assert_eq!(a.timeline.key, Some(json!(7)));
    assert_eq!(a.timeline.ops.len(), 10);
    assert_eq!(a.timeline.faults, vec![0]);
    assert!(a.timeline.prefix_ns.is_some());
}

#[test]
fn lost_writes_name_the_cut_off_primary_and_when_it_was_demoted() {
    let h = lost_writes();
    let ops = pair(&h.events, &[]).unwrap();
    let set = faultline_set_checker::check(
        &ops,
        &faultline_set_checker::SetOptions { linearizable: true },
    )
    .unwrap();
    let lost: Vec<usize> = set
        .anomalies
        .iter()
        .enumerate()
        .filter(|(_, a)| a.kind == "lost")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(lost.len(), 1, "{:?}", set.anomalies);
    let x = explain(&h.events, &[set], &[]);
    let f = &x.anomalies[lost[0]].finding;
    for part in [
        "Add 2 by process 0 was served by n1 (acknowledged at 8.0 s)",
        "which the partition (primaries, 5.0 s to 20.1 s) had cut off from n2, n3, n4 and n5",
        "n1 was the leader then",
        "and n3 led from 9.0 s",
        "n1 was demoted at 21.0 s",
    ] {
        assert!(f.contains(part), "{part:?} missing from: {f}");
    }
}

#[test]
fn fault_effects_show_the_leader_change_and_the_timeouts_on_the_cut_off_side() {
    let h = lost_writes();
    let x = explain(
        &h.events,
        &[],
        &[Expectation::LeaderChange, Expectation::Latency],
    );
    let e = &x.faults[0];
    assert_eq!(e.targets, vec!["n1"]);
    assert_eq!(e.leader_before, Some(vec!["n1".to_string()]));
    assert_eq!(e.leader_after, Some(vec!["n3".to_string()]));
    assert_eq!(e.leader_changed, Some(true));
    assert_eq!(e.leaderless_ns, Some(0));
    assert_eq!(e.during.targeted.counts.ok, 1);
    assert_eq!(e.during.others.counts.ok, 1);
    assert!(e.effects.contains(&"leader-change".to_string()));
    assert!(!e.no_visible_effect);
    assert_eq!(
        x.summary[0].line.split(';').next(),
        Some("partition: 1 of 1 changed the leader")
    );
    assert!(x.expectations[0].met);
    assert!(!x.expectations[1].met, "no latency change here");
}

#[test]
fn a_pause_of_an_idle_follower_did_nothing_visible() {
    let mut h = History::default();
    h.leaders(0, &["n1"]);
    for i in 0..40u64 {
        let t = i * S / 4;
        h.op(
            i % 2,
            "read",
            None,
            Value::Null,
            t,
            EventType::Ok,
            json!(0),
            t + S / 200,
            ["n1", "n2"][(i % 2) as usize],
        );
    }
    h.nemesis(
        5 * S,
        5 * S + S / 100,
        "start-pause",
        json!({"fault": "pause", "nodes": ["n5"]}),
    );
    h.nemesis(
        7 * S,
        7 * S + S / 100,
        "stop-pause",
        json!({"fault": "pause", "nodes": ["n5"]}),
    );
    h.sort();
    let x = explain(
        &h.events,
        &[],
        &[Expectation::Effect, Expectation::LeaderChange],
    );
    let e = &x.faults[0];
    assert_eq!(e.targets, vec!["n5"]);
    assert_eq!(e.paused_leader, Some(false));
    assert!(e.no_visible_effect, "{e:?}");
    assert_eq!(e.during.targeted.counts.ok, 0);
    assert!(e.during.others.counts.ok >= 7);
    assert!(
        x.summary[0].line.contains("1 of 1 had no visible effect"),
        "{}",
        x.summary[0].line
    );
    assert!(x.unmet().count() == 2);
}

#[test]
fn a_pause_of_the_leader_that_stalls_clients_bit() {
    let mut h = History::default();
    h.leaders(0, &["n1"]);
    for i in 0..20u64 {
        let t = i * S / 4;
        h.op(
            i,
            "write",
            None,
            json!(i),
            t,
            EventType::Ok,
            json!(i),
            t + S / 200,
            "n1",
        );
    }
    h.nemesis(
        5 * S,
        5 * S + S / 100,
        "start-pause",
        json!({"fault": "pause", "nodes": ["n1"]}),
    );
    h.op(
        100,
        "write",
        None,
        json!(100),
        5 * S + S / 5,
        EventType::Info,
        Value::Null,
        9 * S,
        "n1",
    );
    h.leaders(6 * S, &[]);
    h.leaders(7 * S, &["n2"]);
    h.nemesis(
        10 * S,
        10 * S + S / 100,
        "stop-pause",
        json!({"fault": "pause", "nodes": ["n1"]}),
    );
    h.sort();
    let x = explain(
        &h.events,
        &[],
        &[Expectation::LeaderChange, Expectation::Errors],
    );
    let e = &x.faults[0];
    assert_eq!(e.paused_leader, Some(true));
    assert_eq!(e.leaderless_ns, Some(S));
    for effect in ["leader-change", "leaderless", "throughput"] {
        assert!(
            e.effects.iter().any(|x| x == effect),
            "{effect} not in {:?}",
            e.effects
        );
    }
    assert_eq!(x.unmet().count(), 0);
}

/// A partition cutting n1 off from n2 and n3.
fn n1_cut_off() -> Value {
    json!({"fault": "partition", "spec": "one", "grudge": {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}})
}

/// n2 and n3 serve 20 ok operations a second each from 0 to `to`.
fn busy_others(h: &mut History, to: u64) {
    for n in ["n2", "n3"] {
        h.ops_on(n, 0, to, 20 * to / S, EventType::Ok);
    }
}

/// The held-out case: a partition took n1 from 27 ok / 10 fail (in the 10 s before it, most
/// of which an earlier partition's aftermath) to 2 ok / 4 fail / 2 info, while n2 and n3
/// stayed busy. Against the quiet time before it, that plainly bit.
#[test]
fn a_partition_that_starves_its_node_bit_however_busy_the_others_and_the_time_before() {
    let mut h = History::default();
    busy_others(&mut h, 30 * S);
    h.nemesis(2 * S, 2 * S + S / 10, "start-partition", n1_cut_off());
    h.nemesis(6 * S, 6 * S + S / 10, "stop-partition", Value::Null);
    h.ops_on("n1", 5 * S, 8 * S, 3, EventType::Ok);
    h.ops_on("n1", 5 * S + S / 10, 8 * S, 10, EventType::Fail);
    h.ops_on("n1", 8 * S, 15 * S, 24, EventType::Ok);
    h.nemesis(15 * S, 15 * S + S / 10, "start-partition", n1_cut_off());
    h.ops_on("n1", 15 * S + S / 5, 25 * S, 2, EventType::Ok);
    h.ops_on("n1", 16 * S, 25 * S, 4, EventType::Fail);
    h.ops_on("n1", 17 * S, 25 * S, 2, EventType::Info);
    h.nemesis(25 * S, 25 * S + S / 10, "stop-partition", Value::Null);
    h.sort();
    let x = explain(&h.events, &[], &[]);
    let e = &x.faults[1];
    assert_eq!(e.targets, ["n1"]);
    let d = e.during.targeted.counts;
    assert_eq!((d.ok, d.fail, d.info), (2, 4, 2));
    assert_eq!(
        (e.before.from_ns, e.before.to_ns),
        (8 * S + S / 10, 15 * S),
        "the quiet time after the first partition's aftermath"
    );
    assert!(!e.no_visible_effect, "{e:?}");
    assert!(
        e.effects.iter().any(|x| x == "throughput"),
        "{:?}",
        e.effects
    );
    assert!(e.effects.iter().any(|x| x == "errors"), "{:?}", e.effects);
}

#[test]
fn a_fault_with_no_quiet_time_before_it_is_never_called_harmless() {
    let mut h = History::default();
    busy_others(&mut h, 20 * S);
    h.ops_on("n1", 0, 20 * S, 200, EventType::Ok);
    h.nemesis(S / 2, S / 2 + S / 10, "start-partition", n1_cut_off());
    h.nemesis(6 * S, 6 * S + S / 10, "stop-partition", Value::Null);
    let pause = json!({"fault": "pause", "nodes": ["n3"]});
    h.nemesis(7 * S, 7 * S + S / 10, "start-pause", pause.clone());
    h.nemesis(12 * S, 12 * S + S / 10, "stop-pause", pause);
    h.sort();
    let x = explain(&h.events, &[], &[]);
    let e = &x.faults[1];
    assert!(e.no_quiet_before && !e.no_visible_effect, "{e:?}");
    assert_eq!(e.before.from_ns, e.before.to_ns);
    assert!(
        x.summary[1]
            .line
            .contains("1 of 1 had no quiet time before it to compare with"),
        "{}",
        x.summary[1].line
    );
}

#[test]
fn the_leader_after_a_fault_that_changed_nothing_is_the_one_before() {
    let mut h = History::default();
    h.leaders(0, &["n1"]);
    h.ops_on("n1", 0, 10 * S, 100, EventType::Ok);
    let pause = json!({"fault": "pause", "nodes": ["n3"]});
    h.nemesis(3 * S, 3 * S + S / 10, "start-pause", pause.clone());
    h.nemesis(5 * S, 5 * S + S / 10, "stop-pause", pause);
    h.sort();
    let x = explain(&h.events, &[], &[]);
    let e = &x.faults[0];
    assert_eq!(e.leader_before.as_deref(), Some(&["n1".to_string()][..]));
    assert_eq!(e.leader_after.as_deref(), Some(&["n1".to_string()][..]));
    assert_eq!(e.leader_changed, Some(false));
}

#[test]
fn an_unknown_leader_is_unknown_never_leaderless() {
    let mut h = History::default();
    h.leaders(0, &["n1"]);
    h.ops_on("n2", 0, 20 * S, 200, EventType::Ok);
    let pause = json!({"fault": "pause", "nodes": ["n1"]});
    h.nemesis(2 * S, 2 * S + S / 10, "start-pause", pause.clone());
    h.leaders(3 * S, &[]);
    h.leaders_unknown(4 * S);
    h.leaders(5 * S, &["n2"]);
    h.nemesis(6 * S, 6 * S + S / 10, "stop-pause", pause.clone());
    // A flaky ask: unknown from 9 s, through a second pause, known again at 14 s.
    h.leaders_unknown(9 * S);
    h.nemesis(10 * S, 10 * S + S / 10, "start-pause", pause.clone());
    h.nemesis(12 * S, 12 * S + S / 10, "stop-pause", pause);
    h.leaders(14 * S, &["n2"]);
    h.sort();
    let x = explain(&h.events, &[], &[]);
    let first = &x.faults[0];
    assert_eq!(
        first.leaderless_ns,
        Some(S),
        "3 s to 4 s only: then unknown"
    );
    assert_eq!(first.leader_changed, Some(true));
    let second = &x.faults[1];
    assert_eq!(second.leader_before, None);
    assert_eq!(
        second.leader_after.as_deref(),
        Some(&["n2".to_string()][..]),
        "known again within 5 s"
    );
    assert_eq!((second.leader_changed, second.leaderless_ns), (None, None));
    assert!(
        !second.effects.iter().any(|e| e.starts_with("leader")),
        "{:?}",
        second.effects
    );
    let leaders = faultline_explain::NemesisSummary::build(&h.events).leaders;
    assert_eq!(leaders[2].primaries, None);
}

proptest! {
    /// Counts per window equal a brute-force count over the operations, and explaining any
    /// history with faults and anomalies never panics.
    #[test]
    fn window_counts_match_a_brute_force_count(
        ops in prop::collection::vec((0u64..4, 0u64..20_000, 1u64..3_000, 0u8..3, 0usize..3), 0..60),
        faults in prop::collection::vec((0u64..20_000, 1u64..8_000, 0usize..3), 0..4),
    ) {
        let nodes = ["n1", "n2", "n3"];
        let mut h = History::default();
        let mut busy = [0u64; 4];
        let mut placed = Vec::new();
        for (p, at, len, kind, node) in ops {
            let from = at.max(busy[p as usize]) * 1_000_000;
            let to = from + len * 1_000_000;
            busy[p as usize] = to / 1_000_000 + 1;
            let kind = [EventType::Ok, EventType::Fail, EventType::Info][kind as usize];
            h.op(p, "write", None, json!(1), from, kind, json!(1), to, nodes[node]);
            placed.push((from, kind, nodes[node]));
        }
        for (at, len, node) in &faults {
            let v = json!({"fault": "pause", "nodes": [nodes[*node]]});
            h.nemesis(at * 1_000_000, at * 1_000_000 + 1, "start-pause", v.clone());
            h.nemesis((at + len) * 1_000_000, (at + len) * 1_000_000 + 1, "stop-pause", v);
        }
        h.sort();
        let anomaly = faultline_history::Anomaly {
            kind: "made-up".into(),
            explanation: "x".into(),
            events: h.events.iter().map(|e| e.index).filter(|i| i % 3 == 0).collect(),
            detail: json!({"op": {"invoke_index": 0}, "concurrent": [{"invoke_index": 99999}]}),
        };
        let checker = CheckerResult {
            checker: "c".into(),
            verdict: faultline_history::Verdict::Invalid,
            reason: None,
            anomalies: vec![anomaly],
            stats: Value::Null,
            first_anomaly_s: None,
        };
        let x = explain(&h.events, &[checker], &[Expectation::EveryFault]);
        prop_assert_eq!(x.anomalies.len(), 1);
        for e in &x.faults {
            for w in [&e.during, &e.before] {
                let count = |targeted: bool, kind: EventType| {
                    placed
                        .iter()
                        .filter(|(t, k, n)| {
                            *t >= w.from_ns && *t < w.to_ns && *k == kind
                                && e.targets.iter().any(|x| x == n) == targeted
                        })
                        .count() as u64
                };
                prop_assert_eq!(w.targeted.counts.ok, count(true, EventType::Ok));
                prop_assert_eq!(w.targeted.counts.fail, count(true, EventType::Fail));
                prop_assert_eq!(w.targeted.counts.info, count(true, EventType::Info));
                prop_assert_eq!(w.others.counts.ok, count(false, EventType::Ok));
                prop_assert_eq!(w.others.counts.info, count(false, EventType::Info));
            }
            prop_assert_eq!(
                e.no_visible_effect,
                e.effects.is_empty() && !e.no_quiet_before
            );
            // The "before" window lies in no other fault, nor in its 2 s aftermath.
            for (j, f) in x.faults.iter().enumerate() {
                let (from, to) = (f.during.from_ns, f.during.to_ns + 2 * S);
                prop_assert!(
                    j == e.fault || e.before.to_ns <= from || e.before.from_ns >= to
                        || e.before.from_ns == e.before.to_ns,
                    "fault {}'s before window {:?} overlaps fault {j}", e.fault, e.before
                );
            }
        }
    }
}

/// A nemesis operation `f` invoked at `from` with `input` and completed as `kind` at `to`
/// with `output`: the completion, to set its error.
fn nemesis_as<'a>(
    h: &'a mut History,
    from: u64,
    to: u64,
    kind: EventType,
    f: &str,
    input: Value,
    output: Value,
) -> &'a mut Event {
    h.push(from, Process::Nemesis, EventType::Invoke, f, input);
    h.push(to, Process::Nemesis, kind, f, output)
}

/// What each fault's effect says the database did.
fn database_lines(x: &faultline_explain::Explanation) -> Vec<String> {
    x.faults
        .iter()
        .map(|f| f.database.clone().unwrap_or_default())
        .collect()
}

/// A corrupt-file fault whose restart failed (its start completed `info` with the error)
/// says the database refused to start; one that came back says it restarted cleanly and what
/// the hit node served; a power cut is judged by its heal.
#[test]
fn storage_faults_say_whether_the_database_came_back() {
    let corrupt = json!({"fault": "storage", "nodes": ["n2"], "action": "corrupt-file",
                         "mode": "truncate", "seed": 1, "outcome": {"n2": "truncated /d/x from 10 to 3 bytes"}});
    let cut = json!({"fault": "storage", "nodes": ["n1", "n2"], "action": "lose-unfsynced"});
    let mut h = History::default();
    h.ops_on("n2", 0, 30 * S, 60, EventType::Ok);
    nemesis_as(
        &mut h,
        2 * S,
        3 * S,
        EventType::Info,
        "start-storage",
        corrupt.clone(),
        corrupt.clone(),
    )
    .error = Some(json!(
        "n2: the database exited within 2 s of its restart (its log says why)"
    ));
    h.nemesis(
        5 * S,
        5 * S + 1,
        "stop-storage",
        json!({"fault": "storage"}),
    );
    h.nemesis(10 * S, 11 * S, "start-storage", corrupt);
    h.nemesis(
        15 * S,
        15 * S + 1,
        "stop-storage",
        json!({"fault": "storage"}),
    );
    h.nemesis(20 * S, 20 * S + 1, "start-storage", cut);
    h.nemesis(22 * S, 25 * S, "stop-storage", json!({"fault": "storage"}));
    let exited = json!({"fault": "storage", "nodes": ["n2"], "action": "corrupt-file", "mode": "bitflip", "seed": 2});
    h.nemesis(26 * S, 27 * S, "start-storage", exited.clone());
    let mut healed = exited;
    healed["at_heal"] = json!({"n2": "the database was not running at the heal; started again"});
    nemesis_as(
        &mut h,
        28 * S,
        29 * S,
        EventType::Ok,
        "stop-storage",
        healed.clone(),
        healed,
    );
    h.sort();
    let x = explain(&h.events, &[], &[]);
    let said = database_lines(&x);
    assert!(
        said[0].starts_with("refused to start on its damaged files: n2: the database exited"),
        "{}",
        said[0]
    );
    assert!(x.faults[0]
        .effects
        .contains(&"refused-to-start".to_string()));
    assert!(said[1].starts_with("restarted cleanly on its damaged files; 11 ok, 0 failed, 0 timed out on n2 while in force"), "{}", said[1]);
    assert_eq!(
        said[2],
        "restarted cleanly after losing what it never fsynced"
    );
    assert!(
        said[3].starts_with(
            "restarted cleanly on its damaged files, then exited on n2 before the heal"
        ),
        "{}",
        said[3]
    );
    assert!(
        x.summary[0].line.contains("the database restarted cleanly after 2 of 4, restarted, then exited before the heal, after 1 of 4 and refused to start after 1 of 4"),
        "{}",
        x.summary[0].line
    );
}

/// Membership faults say whether the node left, rejoined, and came back.
#[test]
fn membership_faults_say_whether_the_node_left_and_rejoined() {
    let left = json!({"fault": "membership", "nodes": ["n3"], "before": ["n1", "n2", "n3"], "after": ["n1", "n2"], "outcome": {"n3": "etcd members: n1 n2"}});
    let mut back = left.clone();
    back["after"] = json!(["n1", "n2", "n3"]);
    let mut h = History::default();
    nemesis_as(
        &mut h,
        S,
        2 * S,
        EventType::Info,
        "start-membership",
        left.clone(),
        left.clone(),
    )
    .error = Some(json!(
        "n3: commands.leave exited with status 1: Error: etcdserver: unhealthy cluster"
    ));
    h.nemesis(3 * S, 4 * S, "stop-membership", left.clone());
    h.nemesis(10 * S, 11 * S, "start-membership", left.clone());
    nemesis_as(
        &mut h,
        12 * S,
        13 * S,
        EventType::Info,
        "stop-membership",
        left.clone(),
        left.clone(),
    )
    .error = Some(json!(
        "n3: commands.join exited with status 1: Error: etcdserver: unhealthy cluster"
    ));
    h.nemesis(20 * S, 21 * S, "start-membership", left);
    nemesis_as(
        &mut h,
        22 * S,
        23 * S,
        EventType::Ok,
        "stop-membership",
        back.clone(),
        back,
    );
    h.sort();
    let x = explain(&h.events, &[], &[]);
    let said = database_lines(&x);
    assert!(
        said[0].starts_with("did not leave: n3: commands.leave"),
        "{}",
        said[0]
    );
    assert!(
        said[1].starts_with("could not rejoin: n3: commands.join"),
        "{}",
        said[1]
    );
    assert_eq!(said[2], "restarted cleanly after rejoining with wiped data");
    let line = &x.summary[0].line;
    assert!(line.contains("restarted cleanly after 1 of 3, did not leave after 1 of 3 and could not rejoin after 1 of 3"), "{line}");
}
