//! Each anomaly in context: the operations involved, the nodes that served them, the faults
//! in force on those nodes, the leader of the moment, and a finding a person can follow.

use crate::scene::{and_list, secs, Scene};
use faultline_history::{Anomaly, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// At most this many operations are drawn on an anomaly's timeline.
const TIMELINE_OPS: usize = 48;
/// At most this many acknowledged writes are named as contradicting a failing operation.
const CONTRADICTING: usize = 2;

/// What part an operation plays in an anomaly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The operation that cannot be placed (linearizability), or the first one the checker names.
    Failing,
    /// An acknowledged operation that makes the failing one impossible.
    Contradicting,
    /// Overlaps the failing operation in time.
    Concurrent,
    /// Named by the checker's anomaly.
    Involved,
    /// In the longest linearizable prefix the search found.
    Prefix,
    /// Shown for context only.
    Other,
}

/// One operation as an explanation shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpContext {
    /// Its part in the anomaly.
    pub role: Role,
    /// The client process.
    pub process: u64,
    /// The function.
    pub f: String,
    /// The key, for keyed workloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// The argument.
    pub input: Value,
    /// The result (`null` unless ok).
    pub output: Value,
    /// ok, fail or info.
    pub outcome: Outcome,
    /// `index` of the invocation.
    pub invoke_index: u64,
    /// `index` of the completion, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_index: Option<u64>,
    /// When it was invoked, ns.
    pub invoke_ns: u64,
    /// When it completed, ns; `None` if it never did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_ns: Option<u64>,
    /// The node that served it, as the history says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Who led when it completed (the last observation before), if the database could say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primaries: Option<Vec<String>>,
    /// Indices (into `nemesis.faults`) of the faults in force on its node while it ran.
    #[serde(default)]
    pub faults: Vec<usize>,
}

/// What the report draws for an anomaly: the key's operations around it, one row per process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// The key, when every operation involved has the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// Start of the drawn window, ns.
    pub from_ns: u64,
    /// End of the drawn window, ns.
    pub to_ns: u64,
    /// The operations in the window (the nearest ones when there are many).
    pub ops: Vec<OpContext>,
    /// Indices of the faults overlapping the window, shaded behind.
    pub faults: Vec<usize>,
    /// The time the longest linearizable prefix reaches: the latest completion among its
    /// operations drawn here; `None` when there is no prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_ns: Option<u64>,
}

/// One anomaly with its context.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnomalyContext {
    /// The checker that found it.
    pub checker: String,
    /// Its position in that checker's `anomalies`.
    pub anomaly: usize,
    /// The anomaly's kind.
    pub kind: String,
    /// The anomaly explained in context, in a paragraph.
    pub finding: String,
    /// The operations that matter, the failing one first.
    pub operations: Vec<OpContext>,
    /// Indices of the faults in force on the serving nodes while those operations ran.
    pub faults: Vec<usize>,
    /// The drawing.
    pub timeline: Timeline,
}

/// The anomaly's context and finding.
pub(crate) fn explain_anomaly(
    scene: &Scene,
    checker: &str,
    index: usize,
    a: &Anomaly,
) -> AnomalyContext {
    let by_invoke: HashMap<u64, usize> = scene
        .ops
        .iter()
        .enumerate()
        .map(|(i, o)| (o.invoke_index, i))
        .collect();
    let by_event: HashMap<u64, usize> = scene
        .ops
        .iter()
        .enumerate()
        .flat_map(|(i, o)| {
            std::iter::once((o.invoke_index, i)).chain(o.complete_index.map(|c| (c, i)))
        })
        .collect();
    let from_view = |v: &Value| {
        v.get("invoke_index")
            .and_then(Value::as_u64)
            .and_then(|i| by_invoke.get(&i).copied())
    };
    let mut roles: Vec<(usize, Role)> = Vec::new();
    let push = |roles: &mut Vec<(usize, Role)>, i: usize, r: Role| {
        if !roles.iter().any(|(j, _)| *j == i) {
            roles.push((i, r));
        }
    };
    let detail = &a.detail;
    let failing = detail.get("op").and_then(from_view);
    let mut prefix: Vec<usize> = Vec::new();
    if let Some(f) = failing {
        push(&mut roles, f, Role::Failing);
        for w in contradicting_writes(scene, f) {
            push(&mut roles, w, Role::Contradicting);
        }
        for v in detail
            .get("concurrent")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(i) = from_view(v) {
                push(&mut roles, i, Role::Concurrent);
            }
        }
        prefix = detail
            .get("prefix")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(from_view)
            .collect();
    }
    let mut named: Vec<usize> = a
        .events
        .iter()
        .filter_map(|e| by_event.get(e).copied())
        .collect();
    named.sort_unstable();
    named.dedup();
    for (n, i) in named.into_iter().enumerate() {
        let role = if failing.is_none() && n == 0 {
            Role::Failing
        } else {
            Role::Involved
        };
        push(&mut roles, i, role);
    }
    let view = |i: usize, role: Role| op_context(scene, i, role);
    let operations: Vec<OpContext> = roles.iter().map(|&(i, r)| view(i, r)).collect();
    let mut faults: Vec<usize> = operations
        .iter()
        .flat_map(|o| o.faults.iter().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    faults.sort_unstable();
    let finding = finding(scene, a, &operations);
    let timeline = timeline(scene, &roles, &prefix);
    AnomalyContext {
        checker: checker.to_string(),
        anomaly: index,
        kind: a.kind.clone(),
        finding,
        operations,
        faults,
        timeline,
    }
}

/// The acknowledged writes of the failing op's key that completed before it began, latest
/// first: the state the failing operation should have seen.
fn contradicting_writes(scene: &Scene, failing: usize) -> Vec<usize> {
    let op = &scene.ops[failing];
    let mut writes: Vec<usize> = scene
        .ops
        .iter()
        .enumerate()
        .filter(|(_, o)| {
            o.key == op.key
                && o.f != "read"
                && o.outcome == Outcome::Ok
                && o.complete_time.is_some_and(|t| t < op.invoke_time)
        })
        .map(|(i, _)| i)
        .collect();
    writes.sort_by_key(|&i| std::cmp::Reverse(scene.ops[i].complete_time));
    writes.truncate(CONTRADICTING);
    writes
}

fn op_context(scene: &Scene, i: usize, role: Role) -> OpContext {
    let o = &scene.ops[i];
    let node = scene.nodes[i].clone();
    let end = scene.end_of(o);
    OpContext {
        role,
        process: o.process,
        f: o.f.clone(),
        key: o.key.clone(),
        input: o.input.clone(),
        output: if o.outcome == Outcome::Ok {
            o.output.clone()
        } else {
            Value::Null
        },
        outcome: o.outcome,
        invoke_index: o.invoke_index,
        complete_index: o.complete_index,
        invoke_ns: o.invoke_time,
        complete_ns: o.complete_time,
        primaries: scene.leaders_at(end).cloned(),
        faults: node
            .as_deref()
            .map(|n| scene.faults_on(n, o.invoke_time, end))
            .unwrap_or_default(),
        node,
    }
}

/// "the read of key 7 by process 24", "write 4 by process 5", "add 544 by process 3".
pub(crate) fn describe(o: &OpContext) -> String {
    let key = o
        .key
        .as_ref()
        .map(|k| format!(" of key {}", plain(k)))
        .unwrap_or_default();
    if o.input.is_null() {
        format!("the {}{key} by process {}", o.f, o.process)
    } else {
        format!("{} {}{key} by process {}", o.f, plain(&o.input), o.process)
    }
}

/// A JSON value as a person writes it: strings without quotes.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// "which the partition (majorities-ring, 10.0 s to 20.4 s) had cut off from n1, n4 and n5".
fn fault_clause(scene: &Scene, node: &str, fault: usize) -> String {
    let f = &scene.nemesis.faults[fault];
    let label = scene.fault_label(fault);
    let base = f.name.split('-').next().unwrap_or(&f.name);
    match base {
        "partition" => format!(
            "which the {label} had cut off from {}",
            and_list(&scene.cut_off_from(fault, node))
        ),
        "pause" => format!("whose database process was paused ({label})"),
        "kill" => format!("whose database process was killed ({label})"),
        "slow" => format!("whose database process was being stopped and resumed ({label})"),
        "clock" => format!("whose clock was skewed ({label})"),
        "loss" => format!("which was dropping packets ({label})"),
        "netem" => format!("whose packets netem was delaying, duplicating or reordering ({label})"),
        _ => format!("under the fault {label}"),
    }
}

/// Who led, in words: "n1 was the leader", "n1 and n3 both claimed to be primary".
fn leaders_clause(primaries: &[String]) -> String {
    match primaries {
        [] => "no node was leader".to_string(),
        [one] => format!("{one} was the leader"),
        [a, b] => format!("{a} and {b} both claimed to lead"),
        many => format!("{} all claimed to lead", and_list(many)),
    }
}

/// One sentence about where and under what an operation ran.
fn served_sentence(scene: &Scene, o: &OpContext) -> String {
    let mut s = describe(o);
    if let Some(c) = s.get(0..1) {
        let up = c.to_uppercase();
        s.replace_range(0..1, &up);
    }
    let done = match (o.outcome, o.complete_ns) {
        (Outcome::Ok, Some(t)) => format!("acknowledged at {}", secs(t)),
        (Outcome::Fail, Some(t)) => format!("failed at {}", secs(t)),
        (_, Some(t)) => format!("timed out or was lost at {}", secs(t)),
        (_, None) => "never completed".to_string(),
    };
    match &o.node {
        Some(n) => {
            s += &format!(" was served by {n} ({done})");
            let clauses: Vec<String> = o
                .faults
                .iter()
                .map(|&f| fault_clause(scene, n, f))
                .collect();
            if !clauses.is_empty() {
                s += ", ";
                s += &clauses.join(", and ");
            }
        }
        None => s += &format!(" was {done} (the history does not say which node served it)"),
    }
    if o.outcome == Outcome::Ok && o.f == "read" {
        let got = match &o.output {
            Value::Array(a) if a.len() > 8 => format!("{} elements", a.len()),
            v => plain(v),
        };
        s += &format!("; it returned {got}");
    }
    if let Some(p) = &o.primaries {
        s += &format!("; {} then", leaders_clause(p));
        if let (Some(n), Some(t)) = (&o.node, o.complete_ns) {
            if p.contains(n) {
                let (demoted, successor) = scene.demotion_after(n, t);
                if let Some(succ) = successor {
                    let others: Vec<String> = succ
                        .primaries
                        .iter()
                        .flatten()
                        .filter(|p| *p != n)
                        .cloned()
                        .collect();
                    s += &format!(
                        ", and {} led from {}",
                        and_list(&others),
                        secs(succ.time_ns)
                    );
                }
                if let Some(d) = demoted {
                    s += &format!("; {n} was demoted at {}", secs(d.time_ns));
                }
            }
        }
    }
    s + "."
}

/// The paragraph: the checker's own words, then where each operation ran and under what.
fn finding(scene: &Scene, a: &Anomaly, ops: &[OpContext]) -> String {
    let failing = ops.iter().find(|o| o.role == Role::Failing);
    let mut text = String::new();
    if let (Some(f), true) = (failing, a.kind == "nonlinearizable") {
        text += &served_sentence(scene, f);
        if let Some(w) = ops.iter().find(|o| o.role == Role::Contradicting) {
            text.pop();
            text += &format!(
                ", but {} had been acknowledged{} at {}, before it began.",
                describe(w),
                w.node
                    .as_ref()
                    .map(|n| format!(" by {n}"))
                    .unwrap_or_default(),
                secs(w.complete_ns.unwrap_or(0))
            );
        }
        let concurrent: Vec<String> = ops
            .iter()
            .filter(|o| o.role == Role::Concurrent)
            .map(describe)
            .collect();
        if !concurrent.is_empty() {
            text += &format!(" Concurrent with it: {}.", and_list(&concurrent));
        }
        text += &format!(" The checker: {}", a.explanation);
    } else {
        text += &a.explanation;
        for o in ops.iter().take(3) {
            text += " ";
            text += &served_sentence(scene, o);
        }
    }
    text
}

/// The operations to draw: the roles' ones, then the nearest others of the same key.
fn timeline(scene: &Scene, roles: &[(usize, Role)], prefix: &[usize]) -> Timeline {
    let keys: BTreeSet<String> = roles
        .iter()
        .map(|(i, _)| {
            scene.ops[*i]
                .key
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_default()
        })
        .collect();
    let key = match (keys.len(), roles.first()) {
        (1, Some((i, _))) => scene.ops[*i].key.clone(),
        _ => None,
    };
    let span_from = roles
        .iter()
        .map(|(i, _)| scene.ops[*i].invoke_time)
        .min()
        .unwrap_or(0);
    let span_to = roles
        .iter()
        .map(|(i, _)| scene.end_of(&scene.ops[*i]))
        .max()
        .unwrap_or(span_from);
    let margin = ((span_to - span_from) / 5).max(200_000_000);
    let from_ns = span_from.saturating_sub(margin);
    let to_ns = (span_to + margin).min(scene.end_ns.max(span_to));
    let chosen: BTreeSet<usize> = roles.iter().map(|(i, _)| *i).collect();
    let center = (span_from + span_to) / 2;
    let mut others: Vec<usize> = scene
        .ops
        .iter()
        .enumerate()
        .filter(|(i, o)| {
            !chosen.contains(i)
                && (key.is_none() || o.key == key)
                && o.invoke_time <= to_ns
                && scene.end_of(o) >= from_ns
        })
        .map(|(i, _)| i)
        .collect();
    others.sort_by_key(|&i| scene.ops[i].invoke_time.abs_diff(center));
    others.truncate(TIMELINE_OPS.saturating_sub(chosen.len()));
    let prefix_set: BTreeSet<usize> = prefix.iter().copied().collect();
    let mut ops: Vec<OpContext> = roles
        .iter()
        .map(|&(i, r)| op_context(scene, i, r))
        .chain(others.iter().map(|&i| {
            let r = if prefix_set.contains(&i) {
                Role::Prefix
            } else {
                Role::Other
            };
            op_context(scene, i, r)
        }))
        .collect();
    ops.sort_by_key(|o| (o.process, o.invoke_index));
    let prefix_ns = prefix
        .iter()
        .filter(|i| {
            ops.iter()
                .any(|o| o.invoke_index == scene.ops[**i].invoke_index)
        })
        .filter_map(|&i| scene.ops[i].complete_time)
        .max();
    let faults = scene
        .nemesis
        .faults
        .iter()
        .enumerate()
        .filter(|(_, f)| f.start_ns <= to_ns && f.end_ns >= from_ns)
        .map(|(i, _)| i)
        .collect();
    Timeline {
        key,
        from_ns,
        to_ns,
        ops,
        faults,
        prefix_ns,
    }
}
