//! Proof that each fault bit: what it did to the leader and to the clients, against the same
//! length of time before it that no other fault touched.

use crate::faults::{quantiles, OutcomeCounts};
use crate::scene::{and_list, secs, Scene};
use faultline_history::{Outcome, COMPARE_FAILED};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long after a fault ends leader observations still count as its doing (an election
/// started by a partition may finish just after the heal).
const SETTLE_NS: u64 = 5_000_000_000;
/// A measured clock offset at least this large (in either direction) is a visible effect.
const CLOCK_EFFECT_NS: i64 = 50_000_000;
/// A median latency this many times the one before is a visible effect...
const LATENCY_FACTOR: u64 = 2;
/// ...if it is also at least this much longer, ns.
const LATENCY_MIN_NS: u64 = 5_000_000;
/// Windows with fewer completed operations than this say nothing about latency.
const LATENCY_SAMPLES: usize = 3;
/// How long after a fault ends the clients may still feel it (timeouts running out,
/// reconnections): no fault's "before" window lies in another's aftermath.
const AFTERMATH_NS: u64 = 2_000_000_000;
/// A quiet stretch shorter than this is too short to compare a fault with.
const MIN_BEFORE_NS: u64 = 1_000_000_000;

/// ok/fail/info counts and median latency of the operations of some nodes in a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideCounts {
    /// How many ended each way (never-completed ones count as info).
    #[serde(flatten)]
    pub counts: OutcomeCounts,
    /// `fail`s other than a compare that definitely failed: refusals, errors.
    pub errors: u64,
    /// Median latency of the completed ones, ns; `None` with fewer than 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_ns: Option<u64>,
}

impl SideCounts {
    /// info plus fail other than compare-failed: what a fault that bites drives up.
    pub fn trouble(&self) -> u64 {
        self.counts.info + self.errors
    }
}

/// The client operations invoked in a window, on the targeted nodes and on the others.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Start, ns.
    pub from_ns: u64,
    /// End, ns.
    pub to_ns: u64,
    /// Operations served by the targeted nodes.
    pub targeted: SideCounts,
    /// Operations served by the other nodes (or by no known node).
    pub others: SideCounts,
}

/// What one fault did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultEffect {
    /// Index of the fault in `nemesis.faults`.
    pub fault: usize,
    /// Its kind: `partition`, `pause`, ...
    pub name: String,
    /// "partition (majorities-ring, 10.0 s to 20.4 s)".
    pub label: String,
    /// The nodes it hit: for a partition the cut-off side, else its targets.
    pub targets: Vec<String>,
    /// Who led when it began, as last observed; `None` if never observed or unknown then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_before: Option<Vec<String>>,
    /// Who led once it was over: as last known when the next fault began or 5 s after it
    /// ended, whichever came first (carried forward when nothing changed); `None` if unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_after: Option<Vec<String>>,
    /// Whether another set of leaders was observed while it was in force or within 5 s
    /// after; `None` when the leader was not known when it began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_changed: Option<bool>,
    /// How long observations said no node led, in that span, ns (unknown stretches not counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaderless_ns: Option<u64>,
    /// Operations invoked while it was in force.
    pub during: Window,
    /// Operations invoked in as long a time before it that no other fault touched (nor its
    /// 2 s aftermath), the latest such stretch of at least 1 s; empty when there is none.
    pub before: Window,
    /// True when no such stretch exists: its client effects cannot be judged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_quiet_before: bool,
    /// For clock faults: the largest offset measured on each node while it was in force, ns.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub clock_offsets_ns: BTreeMap<String, i64>,
    /// For pauses: whether a node that led when it began was among the paused ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_leader: Option<bool>,
    /// For pauses: the processes holding a lock (acquired, not yet releasing) on a paused node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paused_lock_holders: Vec<u64>,
    /// For storage and membership faults, whether the database noticed, in one sentence:
    /// it restarted cleanly (and served on), refused to start, or kept serving; whether
    /// what it served was right is the checkers' verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The visible effects: `leader-change`, `leaderless`, `errors`, `throughput`, `latency`,
    /// `clock-offset`, `lock-holder-paused`, `refused-to-start`.
    pub effects: Vec<String>,
    /// True when it did nothing visible against a quiet time before it: a valid verdict
    /// says nothing about it. Never set when there was no quiet time to compare with.
    pub no_visible_effect: bool,
}

/// One line per kind of fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KindSummary {
    /// The kind: `partition`, `pause`, ...
    pub kind: String,
    /// How many faults of this kind.
    pub faults: usize,
    /// How many changed the leader (0 when leaders were not observed).
    pub leader_changes: usize,
    /// Operations that timed out (info) on the targeted nodes while these faults were in force.
    pub timed_out_targeted: u64,
    /// How many did nothing visible.
    pub no_visible_effect: usize,
    /// "partition: 3 of 3 changed the leader; 212 operations timed out on the cut-off side".
    pub line: String,
}

/// An effect a run asks some fault to have (`--expect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expectation {
    /// Some fault changed the leader or primary.
    LeaderChange,
    /// Some fault raised timeouts or errors.
    Errors,
    /// Some fault raised latency.
    Latency,
    /// Some fault had any visible effect.
    Effect,
    /// Every fault had a visible effect.
    EveryFault,
}

/// The expectations' names, as `--expect` takes them.
pub const EXPECTATIONS: [(&str, Expectation); 5] = [
    ("leader-change", Expectation::LeaderChange),
    ("errors", Expectation::Errors),
    ("latency", Expectation::Latency),
    ("effect", Expectation::Effect),
    ("every-fault", Expectation::EveryFault),
];

impl Expectation {
    /// Its name, as `--expect` takes it.
    pub fn name(self) -> &'static str {
        EXPECTATIONS
            .iter()
            .find(|(_, e)| *e == self)
            .map_or("?", |(n, _)| n)
    }

    /// Parses a name; the error lists the valid ones.
    pub fn parse(name: &str) -> Result<Expectation, String> {
        EXPECTATIONS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, e)| *e)
            .ok_or_else(|| {
                let names: Vec<&str> = EXPECTATIONS.iter().map(|(n, _)| *n).collect();
                format!(
                    "unknown expectation {name:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// Whether an expectation was met, and by which faults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpectationCheck {
    /// The expectation's name.
    pub expect: String,
    /// Whether it was met.
    pub met: bool,
    /// Indices of the faults that met it (for `every-fault`: those that did not).
    pub faults: Vec<usize>,
    /// One line: what was expected and what happened.
    pub line: String,
}

pub(crate) fn check_expectation(e: Expectation, effects: &[FaultEffect]) -> ExpectationCheck {
    let with = |effect: &str| -> Vec<usize> {
        effects
            .iter()
            .filter(|f| f.effects.iter().any(|x| x == effect))
            .map(|f| f.fault)
            .collect()
    };
    let (met, faults, what) = match e {
        Expectation::LeaderChange => {
            let f = with("leader-change");
            (!f.is_empty(), f, "changed the leader")
        }
        Expectation::Errors => {
            let mut f = with("errors");
            f.extend(with("throughput"));
            f.sort_unstable();
            f.dedup();
            (!f.is_empty(), f, "raised timeouts or errors")
        }
        Expectation::Latency => {
            let f = with("latency");
            (!f.is_empty(), f, "raised latency")
        }
        Expectation::Effect => {
            let f: Vec<usize> = effects
                .iter()
                .filter(|f| !f.no_visible_effect)
                .map(|f| f.fault)
                .collect();
            (!f.is_empty(), f, "had a visible effect")
        }
        Expectation::EveryFault => {
            let f: Vec<usize> = effects
                .iter()
                .filter(|f| f.no_visible_effect)
                .map(|f| f.fault)
                .collect();
            (
                f.is_empty() && !effects.is_empty(),
                f,
                "without a visible effect",
            )
        }
    };
    let line = match e {
        Expectation::EveryFault => format!(
            "expected every fault to have a visible effect: {} of {} {what}",
            faults.len(),
            effects.len()
        ),
        _ => format!(
            "expected {}: {} of {} faults {what}",
            e.name(),
            faults.len(),
            effects.len()
        ),
    };
    ExpectationCheck {
        expect: e.name().to_string(),
        met,
        faults,
        line,
    }
}

fn window(scene: &Scene, targets: &[String], from: u64, to: u64) -> Window {
    let mut w = Window {
        from_ns: from,
        to_ns: to,
        ..Window::default()
    };
    let mut lat: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    for (o, node) in scene.ops.iter().zip(&scene.nodes) {
        if o.invoke_time < from || o.invoke_time >= to {
            continue;
        }
        let targeted = node.as_ref().is_some_and(|n| targets.contains(n));
        let side = if targeted {
            &mut w.targeted
        } else {
            &mut w.others
        };
        match o.outcome {
            Outcome::Ok => side.counts.ok += 1,
            Outcome::Fail => {
                side.counts.fail += 1;
                if o.error.as_ref().and_then(|e| e.as_str()) != Some(COMPARE_FAILED) {
                    side.errors += 1;
                }
            }
            Outcome::Info => side.counts.info += 1,
        }
        if let Some(t) = o.complete_time {
            lat[usize::from(targeted)].push(t - o.invoke_time.min(t));
        }
    }
    for (side, l) in [&mut w.others, &mut w.targeted]
        .into_iter()
        .zip(lat.iter_mut())
    {
        if l.len() >= LATENCY_SAMPLES {
            side.p50_ns = Some(quantiles(l).p50);
        }
    }
    w
}

fn total(w: &Window) -> SideCounts {
    let (a, b) = (w.targeted, w.others);
    SideCounts {
        counts: OutcomeCounts {
            ok: a.counts.ok + b.counts.ok,
            fail: a.counts.fail + b.counts.fail,
            info: a.counts.info + b.counts.info,
        },
        errors: a.errors + b.errors,
        p50_ns: a.p50_ns.max(b.p50_ns),
    }
}

/// The effects visible in `during` against `before`, scaled to the same length: on the
/// targeted nodes, on the others, or on all (a node that went quiet must not hide among
/// busy ones).
fn client_effects(during: &Window, before: &Window) -> Vec<&'static str> {
    let len = |w: &Window| (w.to_ns - w.from_ns).max(1) as f64;
    let scale = len(during) / len(before);
    let sides = [
        (during.targeted, before.targeted),
        (during.others, before.others),
        (total(during), total(before)),
    ];
    let mut out = Vec::new();
    if sides.iter().any(|(d, b)| more_trouble(d, b, scale)) {
        out.push("errors");
    }
    if sides.iter().any(|(d, b)| less_done(d, b, scale)) {
        out.push("throughput");
    }
    let slower = |d: Option<u64>, b: Option<u64>| match (d, b) {
        (Some(d), Some(b)) => d > LATENCY_FACTOR * b && d - b >= LATENCY_MIN_NS,
        _ => false,
    };
    if slower(during.targeted.p50_ns, before.targeted.p50_ns)
        || slower(during.others.p50_ns, before.others.p50_ns)
    {
        out.push("latency");
    }
    out
}

/// Whether `d` had clearly more timeouts and errors than `b` scaled by `scale`.
fn more_trouble(d: &SideCounts, b: &SideCounts, scale: f64) -> bool {
    d.trouble() >= 2 && d.trouble() as f64 > 1.5 * b.trouble() as f64 * scale + 1.0
}

/// Whether `d` completed under half the ok operations of `b` scaled by `scale`.
fn less_done(d: &SideCounts, b: &SideCounts, scale: f64) -> bool {
    let before_ok = b.counts.ok as f64 * scale;
    before_ok >= 4.0 && (d.counts.ok as f64) < 0.5 * before_ok
}

/// The latest stretch before fault `i` began, at most `len` long and at least
/// [`MIN_BEFORE_NS`], that no other earlier fault touched while in force or in its
/// [`AFTERMATH_NS`]; `None` when there is none.
fn quiet_before(scene: &Scene, i: usize, len: u64) -> Option<(u64, u64)> {
    let start = scene.nemesis.faults[i].start_ns;
    let mut busy: Vec<(u64, u64)> = scene
        .nemesis
        .faults
        .iter()
        .enumerate()
        .filter(|(j, f)| *j != i && f.start_ns < start)
        .map(|(_, f)| (f.start_ns, f.end_ns.saturating_add(AFTERMATH_NS)))
        .collect();
    busy.sort_unstable();
    // Quiet stretches are the gaps between busy ones, from the start of the history.
    let mut gaps = Vec::new();
    let mut quiet_from = 0;
    for (from, to) in busy {
        if from > quiet_from {
            gaps.push((quiet_from, from));
        }
        quiet_from = quiet_from.max(to);
    }
    if quiet_from < start {
        gaps.push((quiet_from, start));
    }
    gaps.into_iter()
        .rev()
        .map(|(from, to)| (from.max(to.saturating_sub(len)), to.min(start)))
        .find(|(from, to)| to.saturating_sub(*from) >= MIN_BEFORE_NS.min(len))
}

/// Who led once fault `i` (ending at `end`) was over: as last known at the earlier of
/// `end` + [`SETTLE_NS`] and the next fault's start (but not before `end`).
fn leader_after(scene: &Scene, i: usize, end: u64) -> Option<Vec<String>> {
    let next_start = scene
        .nemesis
        .faults
        .iter()
        .enumerate()
        .filter(|(j, f)| *j != i && f.start_ns >= end)
        .map(|(_, f)| f.start_ns)
        .min()
        .unwrap_or(u64::MAX);
    scene
        .leaders_at((end + SETTLE_NS).min(next_start).max(end))
        .cloned()
}

/// Whether the leader changed while fault `i` was in force or settling, and how long
/// observations said nobody led: `(None, None)` when the leader was unknown when it began.
fn leader_change(
    scene: &Scene,
    before: Option<&Vec<String>>,
    start: u64,
    end: u64,
) -> (Option<bool>, Option<u64>) {
    let Some(before) = before else {
        return (None, None);
    };
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    let base = sorted(before);
    let span = scene
        .nemesis
        .leaders
        .iter()
        .filter(|s| s.time_ns > start && s.time_ns <= end + SETTLE_NS);
    let (mut changed, mut none) = (false, 0);
    // (since when, whether nobody led) of the state in force; unknown: not counted.
    let mut prev = Some((start, before.is_empty()));
    for s in span {
        if let Some((t, true)) = prev {
            none += s.time_ns - t;
        }
        prev = s.primaries.as_ref().map(|p| (s.time_ns, p.is_empty()));
        changed |= s
            .primaries
            .as_ref()
            .is_some_and(|p| !p.is_empty() && sorted(p) != base);
    }
    (Some(changed), Some(none))
}

pub(crate) fn fault_effects(scene: &Scene) -> Vec<FaultEffect> {
    scene
        .nemesis
        .faults
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let targets = scene.targets(i);
            let (start, end) = (f.start_ns, f.end_ns.max(f.start_ns + 1));
            let during = window(scene, &targets, start, end);
            let quiet = quiet_before(scene, i, end - start);
            let (from, to) = quiet.unwrap_or((start, start));
            let before = window(scene, &targets, from, to);
            let mut effects: Vec<String> = match quiet {
                Some(_) => client_effects(&during, &before),
                None => Vec::new(),
            }
            .into_iter()
            .map(str::to_string)
            .collect();

            let leader_before = scene.leaders_at(start).cloned();
            let leader_after = leader_after(scene, i, end);
            let (leader_changed, leaderless_ns) =
                leader_change(scene, leader_before.as_ref(), start, end);
            if leader_changed == Some(true) {
                effects.push("leader-change".into());
            }
            if leaderless_ns.is_some_and(|n| n > 0) {
                effects.push("leaderless".into());
            }

            let mut clock_offsets_ns = BTreeMap::new();
            if f.name.starts_with("clock") {
                for c in scene
                    .nemesis
                    .clock_offsets
                    .iter()
                    .filter(|c| c.time_ns >= start && c.time_ns <= end)
                {
                    for (n, &o) in &c.offsets_ns {
                        let e = clock_offsets_ns.entry(n.clone()).or_insert(0i64);
                        if o.abs() > e.abs() {
                            *e = o;
                        }
                    }
                }
                if clock_offsets_ns
                    .values()
                    .any(|o: &i64| o.abs() >= CLOCK_EFFECT_NS)
                {
                    effects.push("clock-offset".into());
                }
            }

            let (mut paused_leader, mut paused_lock_holders) = (None, Vec::new());
            if f.name.starts_with("pause") {
                paused_leader = leader_before
                    .as_ref()
                    .map(|p| p.iter().any(|l| targets.contains(l)));
                paused_lock_holders = lock_holders(scene, start)
                    .into_iter()
                    .filter(|(_, n)| n.as_ref().is_some_and(|n| targets.contains(n)))
                    .map(|(p, _)| p)
                    .collect();
                if !paused_lock_holders.is_empty() {
                    effects.push("lock-holder-paused".into());
                }
            }

            let database = database_reaction(f, &during, &targets);
            if database.as_ref().is_some_and(|d| d.starts_with(REFUSED)) {
                effects.push("refused-to-start".into());
            }

            FaultEffect {
                fault: i,
                name: f.name.clone(),
                label: scene.fault_label(i),
                targets,
                leader_before,
                leader_after,
                leader_changed,
                leaderless_ns,
                during,
                before,
                clock_offsets_ns,
                paused_leader,
                paused_lock_holders,
                database,
                no_visible_effect: effects.is_empty() && quiet.is_some(),
                no_quiet_before: quiet.is_none(),
                effects,
            }
        })
        .collect()
}

/// How [`database_reaction`] begins when the database did not come back.
const REFUSED: &str = "refused to start";
/// How it begins when it did.
const RESTARTED: &str = "restarted cleanly";
/// How a membership fault whose `leave` failed begins.
const NOT_LEFT: &str = "did not leave";
/// How one whose `join` failed begins.
const NOT_REJOINED: &str = "could not rejoin";

/// Whether a membership fault's heal added its node back (the heal's value lists it among
/// the members after).
fn rejoined(f: &crate::faults::Fault) -> bool {
    let after = crate::faults::string_list(f.stop_value.get("after"));
    f.targets.iter().all(|t| after.contains(t))
}

/// What a restart that exited before the heal adds.
const EXITED_LATER: &str = ", then exited on";
/// How it begins when the fault did not stop it.
const KEPT: &str = "kept serving";

/// Whether the database noticed storage or membership fault `f` (hit `targets`; `during`
/// its window): from the completion of the operation that restarted it (a `corrupt-file`
/// start, a lost-write heal, a rejoin) and what the targets served while it was in force.
fn database_reaction(
    f: &crate::faults::Fault,
    during: &Window,
    targets: &[String],
) -> Option<String> {
    let action = f.value.get("action").and_then(|a| a.as_str());
    let served = |when: &str| {
        let t = during.targeted;
        format!(
            "{} ok, {} failed, {} timed out on {} {when} (whether what it served was right is the checkers' verdict)",
            t.counts.ok,
            t.errors,
            t.counts.info,
            targets.join(",")
        )
    };
    let restart = |error: &Option<String>, what: &str| match error {
        Some(e) => format!("{REFUSED} {what}: {e}"),
        None => format!("{RESTARTED} {what}"),
    };
    match (f.name.as_str(), action) {
        ("storage", Some("corrupt-file")) => Some(match &f.start_error {
            Some(_) => restart(&f.start_error, "on its damaged files"),
            None => {
                let exited = string_keys(f.stop_value.get("at_heal"));
                let later = match exited.is_empty() {
                    true => String::new(),
                    false => format!(
                        "{EXITED_LATER} {} before the heal (its log says why)",
                        exited.join(",")
                    ),
                };
                format!(
                    "{}{later}; {}",
                    restart(&None, "on its damaged files"),
                    served("while in force")
                )
            }
        }),
        ("storage", Some("lose-unfsynced")) => f
            .stop_f
            .as_ref()
            .map(|_| restart(&f.stop_error, "after losing what it never fsynced")),
        ("storage", Some("disk-error")) => Some(format!(
            "{KEPT} with a failing disk: {}",
            served("while it failed")
        )),
        ("membership", _) => Some(match (&f.start_error, &f.stop_error, &f.stop_f) {
            (Some(e), _, _) => format!("{NOT_LEFT}: {e}"),
            (None, Some(e), _) if !rejoined(f) => format!("{NOT_REJOINED}: {e}"),
            (None, Some(e), _) => format!("{REFUSED} after rejoining with wiped data: {e}"),
            (None, None, Some(_)) => format!("{RESTARTED} after rejoining with wiped data"),
            (None, None, None) => "left the cluster and was not added back before the end".into(),
        }),
        _ => None,
    }
}

/// The keys of a JSON object, or none.
fn string_keys(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(|v| v.as_object())
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// The processes holding a lock at `t` (an acquire ok before `t`, no release invoked
/// before `t`), with the node their acquire went through.
fn lock_holders(scene: &Scene, t: u64) -> Vec<(u64, Option<String>)> {
    let mut held: BTreeMap<u64, Option<String>> = BTreeMap::new();
    for (o, n) in scene.ops.iter().zip(&scene.nodes) {
        if o.invoke_time >= t {
            continue;
        }
        match (o.f.as_str(), o.outcome) {
            ("acquire", Outcome::Ok) if o.complete_time.is_some_and(|c| c < t) => {
                held.insert(o.process, n.clone());
            }
            ("release", _) => {
                held.remove(&o.process);
            }
            _ => {}
        }
    }
    held.into_iter().collect()
}

pub(crate) fn summarize(effects: &[FaultEffect]) -> Vec<KindSummary> {
    let mut kinds: Vec<String> = Vec::new();
    for e in effects {
        if !kinds.contains(&e.name) {
            kinds.push(e.name.clone());
        }
    }
    kinds
        .into_iter()
        .map(|kind| {
            let of: Vec<&FaultEffect> = effects.iter().filter(|e| e.name == kind).collect();
            let n = of.len();
            let observed = of.iter().any(|e| e.leader_changed.is_some());
            let leader_changes = of.iter().filter(|e| e.leader_changed == Some(true)).count();
            let timed_out: u64 = of.iter().map(|e| e.during.targeted.counts.info).sum();
            let idle = of.iter().filter(|e| e.no_visible_effect).count();
            let side = if kind.starts_with("partition") {
                "on the cut-off side"
            } else {
                "on the targeted nodes"
            };
            let mut parts = Vec::new();
            if observed {
                parts.push(format!("{leader_changes} of {n} changed the leader"));
            } else {
                parts.push(format!(
                    "{n} fault{}, leader not observed",
                    if n == 1 { "" } else { "s" }
                ));
            }
            parts.push(format!("{timed_out} operations timed out {side}"));
            let offsets: Vec<i64> = of
                .iter()
                .flat_map(|e| e.clock_offsets_ns.values().copied())
                .collect();
            if let Some(big) = offsets.iter().max_by_key(|o| o.abs()) {
                parts.push(format!(
                    "largest measured clock offset {:+.3} s",
                    *big as f64 / 1e9
                ));
            }
            let holders: usize = of.iter().map(|e| e.paused_lock_holders.len()).sum();
            if kind.starts_with("pause") {
                let leaders = of.iter().filter(|e| e.paused_leader == Some(true)).count();
                parts.push(format!(
                    "{leaders} paused the leader, {holders} a lock holder"
                ));
            }
            let reactions: Vec<&str> = of.iter().filter_map(|e| e.database.as_deref()).collect();
            let said: Vec<String> = [
                (RESTARTED, "restarted cleanly"),
                (EXITED_LATER, "restarted, then exited before the heal,"),
                (REFUSED, "refused to start"),
                (KEPT, "kept serving"),
                (NOT_LEFT, "did not leave"),
                (NOT_REJOINED, "could not rejoin"),
            ]
            .iter()
            .map(|(p, what)| {
                let of = |r: &&&str| match *p {
                    RESTARTED => r.starts_with(p) && !r.contains(EXITED_LATER),
                    EXITED_LATER => r.contains(p),
                    _ => r.starts_with(p),
                };
                (reactions.iter().filter(of).count(), what)
            })
            .filter(|(c, _)| *c > 0)
            .map(|(c, what)| format!("{what} after {c} of {n}"))
            .collect();
            if !said.is_empty() {
                parts.push(format!("the database {}", and_list(&said)));
            }
            let unjudged = of.iter().filter(|e| e.no_quiet_before).count();
            if unjudged > 0 {
                parts.push(format!(
                    "{unjudged} of {n} had no quiet time before {} to compare with",
                    if unjudged == 1 { "it" } else { "them" }
                ));
            }
            if idle > 0 {
                let which: Vec<String> = of
                    .iter()
                    .filter(|e| e.no_visible_effect)
                    .map(|e| secs(e.during.from_ns))
                    .collect();
                parts.push(format!(
                    "{idle} of {n} had no visible effect (began at {})",
                    and_list(&which)
                ));
            }
            KindSummary {
                line: format!("{kind}: {}", parts.join("; ")),
                kind,
                faults: n,
                leader_changes,
                timed_out_targeted: timed_out,
                no_visible_effect: idle,
            }
        })
        .collect()
}
