//! Jepsen's set-full checker: what happened to every element added to a set.
//!
//! The workload has `add` operations, whose argument is one element (added once), and
//! `read` operations, which return the whole set as a JSON array. Following
//! `jepsen.checker/set-full`, each element gets a timeline:
//!
//! - its *known* instant is when it was certainly in the set: the completion of its `ok`
//!   add, or of the first `ok` read that contained it, whichever came first;
//! - only reads that completed after the add was invoked say anything about it;
//! - it is **stable** if some read contained it and every read invoked after that read's
//!   invocation contained it too (the last read, by invocation, to say anything saw it);
//! - it is **lost** if it was known, and the last read (by invocation) that said anything
//!   did not contain it, and that read began after the element was known;
//! - it is **never-read** otherwise: no read began after it was known, or it was never
//!   known (an `info` add that no read saw may simply not have happened: not lost);
//! - it is **stale** if it is stable but some read that began after it was known missed
//!   it: the set is not linearizable, though the element did show up eventually.
//!
//! Beyond Jepsen's set-full this also reports elements read but never added
//! (**unexpected**, as `jepsen.checker/set` does, including elements read before their add
//! was even invoked), elements appearing more than once in one read (**duplicated**), and
//! elements whose add *failed*, which by definition did not take effect, yet were read
//! (**failed-add-observed**). Jepsen compares instants at millisecond resolution; this
//! compares event order, so staleness is exact.

use faultline_history::{Anomaly, CheckerResult, Operation, Outcome, Verdict};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// The checker's name in results.
pub const CHECKER: &str = "set-full";

/// Quantiles reported for latency distributions, as in Jepsen.
pub const QUANTILES: [f64; 5] = [0.0, 0.5, 0.95, 0.99, 1.0];

/// A history the checker cannot interpret: which event, and what is wrong with it.
pub use faultline_history::InputError;

/// How to judge a set history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetOptions {
    /// The set claims linearizability: stale elements make the history invalid (Jepsen's
    /// `:linearizable?`). Otherwise they are only counted in the stats.
    pub linearizable: bool,
}

/// An `ok` read, by its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadRef {
    /// `index` of the read's invoke event.
    pub invoke_index: u64,
    /// `index` of the read's ok event.
    pub complete_index: u64,
    /// `time` of the read's invoke event, ns.
    pub invoke_time: u64,
    /// `time` of the read's ok event, ns.
    pub complete_time: u64,
}

/// What became of one element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElementOutcome {
    /// Some read saw it, and every later-invoked read that could see it did.
    Stable,
    /// Known present, then missing from every read invoked after some point.
    Lost,
    /// No read began after it was known present (or it was never known).
    NeverRead,
    /// Its add failed, so it was never in the set.
    Failed,
}

impl ElementOutcome {
    /// Jepsen's name for the outcome.
    ///
    /// ```
    /// assert_eq!(faultline_set_checker::ElementOutcome::NeverRead.name(), "never-read");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            ElementOutcome::Stable => "stable",
            ElementOutcome::Lost => "lost",
            ElementOutcome::NeverRead => "never-read",
            ElementOutcome::Failed => "failed",
        }
    }
}

/// The analysis of one added element.
#[derive(Clone, Debug, PartialEq)]
pub struct ElementResult {
    /// The element.
    pub element: Value,
    /// What became of it.
    pub outcome: ElementOutcome,
    /// How its add ended.
    pub add_outcome: Outcome,
    /// `index` of the add's invoke event.
    pub add_invoke_index: u64,
    /// `index` of the add's completion event, if it completed.
    pub add_complete_index: Option<u64>,
    /// `index` of the event at which it was certainly present, if ever.
    pub known_index: Option<u64>,
    /// The last read (by invocation) that contained it.
    pub last_present: Option<ReadRef>,
    /// The last read (by invocation), among those completed after the add was invoked,
    /// that did not contain it.
    pub last_absent: Option<ReadRef>,
    /// The first read (by invocation) that contained it.
    pub first_present: Option<ReadRef>,
    /// The first read (by invocation) that began after it was known yet missed it.
    pub first_stale: Option<ReadRef>,
    /// Lost: the first read (by invocation) that missed it for good, the earliest read to
    /// begin after it was known and after the last read that saw it began. It and every
    /// read invoked after it missed it: the loss was visible from its completion on.
    pub lost_from: Option<ReadRef>,
    /// How many reads began after it was known yet missed it.
    pub stale_reads: usize,
    /// How many reads contained it.
    pub present_reads: usize,
    /// Stable, yet some read that began after it was known missed it.
    pub stale: bool,
    /// Stable: ns from known until the last read that missed it began (0 if none did).
    pub stable_latency_ns: Option<u64>,
    /// Lost: ns from known until the last read that saw it began (0 if none did).
    pub lost_latency_ns: Option<u64>,
    /// Seen and known: ns from known until the first read that saw it began, or 0 if
    /// no read that began after it was known missed it first.
    pub visibility_latency_ns: Option<u64>,
}

/// An element some read returned although it had not been added (yet).
#[derive(Clone, Debug, PartialEq)]
pub struct Unexpected {
    /// The element.
    pub element: Value,
    /// The first such read.
    pub first_read: ReadRef,
    /// How many reads returned it while unexplained.
    pub reads: usize,
    /// `index` of its add's invocation, when the add came only after those reads.
    pub added_later_at: Option<u64>,
}

/// An element that appeared more than once in a single read.
#[derive(Clone, Debug, PartialEq)]
pub struct Duplicated {
    /// The element.
    pub element: Value,
    /// The largest number of copies in one read.
    pub max_copies: usize,
    /// The first read with copies.
    pub first_read: ReadRef,
    /// How many reads held copies.
    pub reads: usize,
}

/// Everything the checker learned from a set history.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SetAnalysis {
    /// One result per added element, in order of the adds' invocation.
    pub elements: Vec<ElementResult>,
    /// Elements read but not (yet) added, in order of first sighting.
    pub unexpected: Vec<Unexpected>,
    /// Elements duplicated within a read, in order of first sighting.
    pub duplicated: Vec<Duplicated>,
    /// How many reads completed ok.
    pub read_count: usize,
}

/// A tracked element while reads are folded in.
struct State {
    element: Value,
    add_outcome: Outcome,
    add_invoke_index: u64,
    add_complete_index: Option<u64>,
    /// (index, time) at which it was certainly present.
    known: Option<(u64, u64)>,
    last_present: Option<ReadRef>,
    first_present: Option<ReadRef>,
    last_absent: Option<ReadRef>,
    first_stale: Option<ReadRef>,
    stale_reads: usize,
    present_reads: usize,
}

/// An element's identity, for hashing: integers (the common case) without allocating,
/// anything else by its JSON text (serde_json writes maps in sorted key order).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Int(i64),
    Text(String),
}

/// The identity of an element.
fn key(v: &Value) -> Key {
    match v.as_i64() {
        Some(i) => Key::Int(i),
        None => Key::Text(v.to_string()),
    }
}

/// The later (by invocation) of two reads.
fn later(a: Option<ReadRef>, r: ReadRef) -> Option<ReadRef> {
    match a {
        Some(a) if a.invoke_index > r.invoke_index => Some(a),
        _ => Some(r),
    }
}

/// The earlier (by invocation) of two reads.
fn earlier(a: Option<ReadRef>, r: ReadRef) -> Option<ReadRef> {
    match a {
        Some(a) if a.invoke_index < r.invoke_index => Some(a),
        _ => Some(r),
    }
}

/// Analyses a set history element by element.
///
/// Operations other than `add` and `read` are ignored, as are reads that did not
/// complete ok. Errors name the event of a read whose value is not an array, an element
/// added twice, or an `ok` operation lacking its completion.
///
/// ```
/// use faultline_set_checker::{analyze, ElementOutcome};
/// use faultline_history::{Operation, Outcome};
/// use serde_json::json;
///
/// let op = |f: &str, input, output, i: u64| Operation {
///     process: i, f: f.into(), key: None, input, output, outcome: Outcome::Ok,
///     error: None, invoke_index: i, complete_index: Some(i + 1),
///     invoke_time: i, complete_time: Some(i + 1),
/// };
/// let history = [
///     op("add", json!(1), json!(1), 0),
///     op("add", json!(2), json!(2), 2),
///     op("read", json!(null), json!([1]), 4),
/// ];
/// let a = analyze(&history).unwrap();
/// assert_eq!(a.elements[0].outcome, ElementOutcome::Stable);
/// assert_eq!(a.elements[1].outcome, ElementOutcome::Lost);
/// ```
pub fn analyze(ops: &[Operation]) -> Result<SetAnalysis, InputError> {
    let ok_completion = |op: &Operation| {
        op.complete_index
            .zip(op.complete_time)
            .ok_or_else(|| InputError {
                event: op.invoke_index,
                message: format!("{} is ok but has no completion event", op.f),
            })
    };

    let mut adds: Vec<&Operation> = ops.iter().filter(|o| o.f == "add").collect();
    adds.sort_unstable_by_key(|o| o.invoke_index);
    let mut ids: HashMap<Key, usize> = HashMap::with_capacity(adds.len());
    let mut states = Vec::with_capacity(adds.len());
    for op in adds {
        if let Some(&prior) = ids.get(&key(&op.input)) {
            let prior: &State = &states[prior];
            return Err(InputError {
                event: op.invoke_index,
                message: format!(
                    "add of {} repeats the add invoked at event {}; set-full needs each element added once",
                    op.input, prior.add_invoke_index
                ),
            });
        }
        let known = match op.outcome {
            Outcome::Ok => Some(ok_completion(op)?),
            _ => None,
        };
        ids.insert(key(&op.input), states.len());
        states.push(State {
            element: op.input.clone(),
            add_outcome: op.outcome,
            add_invoke_index: op.invoke_index,
            add_complete_index: op.complete_index,
            known,
            last_present: None,
            first_present: None,
            last_absent: None,
            first_stale: None,
            stale_reads: 0,
            present_reads: 0,
        });
    }

    let mut reads = Vec::new();
    for op in ops
        .iter()
        .filter(|o| o.f == "read" && o.outcome == Outcome::Ok)
    {
        let (complete_index, complete_time) = ok_completion(op)?;
        let elements = op.output.as_array().ok_or_else(|| InputError {
            event: complete_index,
            message: format!(
                "read must return a JSON array of elements, got {}",
                op.output
            ),
        })?;
        let r = ReadRef {
            invoke_index: op.invoke_index,
            complete_index,
            invoke_time: op.invoke_time,
            complete_time,
        };
        reads.push((r, elements));
    }
    // Fold reads in completion order, so that when a read is folded in, every read that
    // completed before it began has been too: an element's `known` is then final as far
    // as this read's invocation is concerned.
    reads.sort_unstable_by_key(|(r, _)| r.complete_index);

    let mut unexpected: Vec<Unexpected> = Vec::new();
    let mut unexpected_ids: HashMap<Key, usize> = HashMap::new();
    let mut duplicated: Vec<Duplicated> = Vec::new();
    let mut duplicated_ids: HashMap<Key, usize> = HashMap::new();
    // Per element: the read (numbered from 1) that last contained it, and how often.
    let mut seen_in = vec![0usize; states.len()];
    let mut copies = vec![0usize; states.len()];
    let mut untracked_copies: HashMap<Key, (Value, usize)> = HashMap::new();

    for (n, (r, elements)) in reads.iter().enumerate() {
        let read_no = n + 1;
        let r = *r;
        untracked_copies.clear();
        let mut repeated: Vec<(Key, Value, usize)> = Vec::new();
        for v in elements.iter() {
            let k = key(v);
            match ids.get(&k) {
                // The add was invoked before this read completed: the read is evidence.
                Some(&id) if states[id].add_invoke_index < r.complete_index => {
                    if seen_in[id] != read_no {
                        seen_in[id] = read_no;
                        copies[id] = 0;
                    }
                    copies[id] += 1;
                    if copies[id] == 2 {
                        repeated.push((k, v.clone(), id));
                    }
                }
                _ => {
                    let e = untracked_copies.entry(k).or_insert((v.clone(), 0));
                    e.1 += 1;
                }
            }
        }

        let mut note_duplicate = |k: Key, v: Value, count: usize| {
            let at = *duplicated_ids.entry(k).or_insert_with(|| {
                duplicated.push(Duplicated {
                    element: v,
                    max_copies: 0,
                    first_read: r,
                    reads: 0,
                });
                duplicated.len() - 1
            });
            duplicated[at].max_copies = duplicated[at].max_copies.max(count);
            duplicated[at].reads += 1;
        };
        for (k, v, id) in repeated {
            note_duplicate(k, v, copies[id]);
        }
        let mut untracked: Vec<(Key, (Value, usize))> = untracked_copies.drain().collect();
        untracked.sort_by(|a, b| a.0.cmp(&b.0));
        for (k, (v, count)) in untracked {
            if count > 1 {
                note_duplicate(k.clone(), v.clone(), count);
            }
            let added_later_at = ids.get(&k).map(|&id| states[id].add_invoke_index);
            let at = *unexpected_ids.entry(k).or_insert_with(|| {
                unexpected.push(Unexpected {
                    element: v,
                    first_read: r,
                    reads: 0,
                    added_later_at,
                });
                unexpected.len() - 1
            });
            unexpected[at].reads += 1;
        }

        // Every element whose add was invoked before this read completed.
        let tracked = states.partition_point(|s| s.add_invoke_index < r.complete_index);
        for (id, s) in states[..tracked].iter_mut().enumerate() {
            if seen_in[id] == read_no {
                s.present_reads += 1;
                s.last_present = later(s.last_present, r);
                s.first_present = earlier(s.first_present, r);
                if s.add_outcome != Outcome::Fail
                    && s.known.map_or(true, |(k, _)| r.complete_index < k)
                {
                    s.known = Some((r.complete_index, r.complete_time));
                }
            } else {
                s.last_absent = later(s.last_absent, r);
                if s.known.is_some_and(|(k, _)| k < r.invoke_index) {
                    s.stale_reads += 1;
                    s.first_stale = earlier(s.first_stale, r);
                }
            }
        }
    }

    let mut by_invoke: Vec<ReadRef> = reads.iter().map(|(r, _)| *r).collect();
    by_invoke.sort_unstable_by_key(|r| r.invoke_index);
    let elements = states.into_iter().map(|s| finish(s, &by_invoke)).collect();
    Ok(SetAnalysis {
        elements,
        unexpected,
        duplicated,
        read_count: reads.len(),
    })
}

/// Turns a folded element state into its outcome and latencies; `reads` are every ok read,
/// by invocation.
fn finish(s: State, reads: &[ReadRef]) -> ElementResult {
    let known_time = s.known.map(|(_, t)| t);
    let stable = s.add_outcome != Outcome::Fail
        && s.last_present.is_some_and(|p| {
            s.last_absent
                .map_or(true, |a| a.invoke_index < p.invoke_index)
        });
    let lost = s.add_outcome != Outcome::Fail
        && match (s.known, s.last_absent) {
            (Some((k, _)), Some(a)) => {
                k < a.invoke_index
                    && s.last_present
                        .map_or(true, |p| p.invoke_index < a.invoke_index)
            }
            _ => false,
        };
    let outcome = if s.add_outcome == Outcome::Fail {
        ElementOutcome::Failed
    } else if stable {
        ElementOutcome::Stable
    } else if lost {
        ElementOutcome::Lost
    } else {
        ElementOutcome::NeverRead
    };
    let since_known = |t: u64| known_time.map_or(0, |k| t.saturating_sub(k));
    let stable_latency_ns =
        stable.then(|| s.last_absent.map_or(0, |a| since_known(a.invoke_time + 1)));
    let lost_latency_ns =
        lost.then(|| s.last_present.map_or(0, |p| since_known(p.invoke_time + 1)));
    let lost_from = match s.known {
        Some((known, _)) if lost => {
            let after = s.last_present.map_or(known, |p| p.invoke_index.max(known));
            reads
                .get(reads.partition_point(|r| r.invoke_index <= after))
                .copied()
        }
        _ => None,
    };
    let visibility_latency_ns = match (s.known, s.first_present) {
        (Some(_), Some(p)) if outcome != ElementOutcome::Failed => Some(match s.first_stale {
            Some(st) if st.invoke_index < p.invoke_index => since_known(p.invoke_time),
            _ => 0,
        }),
        _ => None,
    };
    ElementResult {
        element: s.element,
        outcome,
        add_outcome: s.add_outcome,
        add_invoke_index: s.add_invoke_index,
        add_complete_index: s.add_complete_index,
        known_index: s.known.map(|(k, _)| k),
        last_present: s.last_present,
        last_absent: s.last_absent,
        first_present: s.first_present,
        first_stale: s.first_stale,
        lost_from,
        stale_reads: s.stale_reads,
        present_reads: s.present_reads,
        stale: stable && s.first_stale.is_some(),
        stable_latency_ns,
        lost_latency_ns,
        visibility_latency_ns,
    }
}

/// Jepsen's frequency distribution: for each quantile `q` of [`QUANTILES`], the value at
/// position `min(n - 1, floor(n * q))` of the sorted values. `Null` when empty.
///
/// ```
/// let d = faultline_set_checker::quantiles(&[5, 1, 3, 2, 4]);
/// assert_eq!(d["0"], 1);
/// assert_eq!(d["0.5"], 3);
/// assert_eq!(d["1"], 5);
/// ```
pub fn quantiles(values: &[u64]) -> Value {
    if values.is_empty() {
        return Value::Null;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let mut m = Map::new();
    for q in QUANTILES {
        let at = ((n as f64 * q).floor() as usize).min(n - 1);
        m.insert(q.to_string(), json!(sorted[at]));
    }
    Value::Object(m)
}

/// Orders elements for listing: integers numerically first, then everything else by text.
fn sorted_elements<'a>(it: impl Iterator<Item = &'a Value>) -> Vec<Value> {
    let mut v: Vec<&Value> = it.collect();
    v.sort_by(|a, b| match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.to_string().cmp(&b.to_string()),
    });
    v.into_iter().cloned().collect()
}

/// Events of an element's add, for anomalies.
fn add_events(e: &ElementResult) -> Vec<u64> {
    let mut v = vec![e.add_invoke_index];
    v.extend(e.add_complete_index);
    v
}

/// How an element came to be known, in words.
fn known_phrase(e: &ElementResult) -> String {
    match (e.known_index, e.add_complete_index) {
        (Some(k), Some(c)) if k == c && e.add_outcome == Outcome::Ok => {
            format!("its add was acknowledged at event {k}")
        }
        (Some(k), _) => format!("a read completed at event {k} contained it"),
        (None, _) => "it was never known to be present".into(),
    }
}

/// Judges a set history: the [`analyze`] results as anomalies, verdict and stats.
///
/// Invalid if any element is lost, unexpected, duplicated or read after a failed add,
/// or (with [`SetOptions::linearizable`]) stale. Otherwise unknown if no element was
/// ever stable (nothing was added, or nothing read after the adds), else valid. Stats
/// follow Jepsen's set-full keys, with latencies in nanoseconds.
///
/// ```
/// use faultline_set_checker::{check, SetOptions};
/// use faultline_history::{Operation, Outcome, Verdict};
/// use serde_json::json;
///
/// let op = |f: &str, input, output, i: u64| Operation {
///     process: i, f: f.into(), key: None, input, output, outcome: Outcome::Ok,
///     error: None, invoke_index: i, complete_index: Some(i + 1),
///     invoke_time: i, complete_time: Some(i + 1),
/// };
/// let history = [
///     op("add", json!(7), json!(7), 0),
///     op("read", json!(null), json!([]), 2),
/// ];
/// let r = check(&history, &SetOptions::default()).unwrap();
/// assert_eq!(r.verdict, Verdict::Invalid);
/// assert_eq!(r.anomalies[0].kind, "lost");
/// assert_eq!(r.anomalies[0].events, vec![0, 1, 2, 3]);
/// ```
pub fn check(ops: &[Operation], opts: &SetOptions) -> Result<CheckerResult, InputError> {
    let a = analyze(ops)?;
    let mut anomalies = Vec::new();

    for e in &a.elements {
        match e.outcome {
            ElementOutcome::Lost => {
                let last = e.last_absent.expect("lost elements have an absent read");
                let from = e
                    .lost_from
                    .expect("lost elements have a read that missed them for good");
                let mut events = add_events(e);
                let seen = match e.last_present {
                    Some(p) => {
                        events.extend([p.invoke_index, p.complete_index]);
                        format!(
                            " and the last read to contain it was invoked at event {}",
                            p.invoke_index
                        )
                    }
                    None => ", yet no read ever contained it".into(),
                };
                // The read that first missed it for good, not the last one: the loss was
                // visible from there on (the time to first anomaly).
                events.extend([from.invoke_index, from.complete_index]);
                anomalies.push(Anomaly {
                    kind: "lost".into(),
                    explanation: format!(
                        "Element {} was lost: {}{seen}; the read invoked at event {} (completed at {}) did not contain it, nor did any read invoked after it (the last invoked at event {}).",
                        e.element,
                        known_phrase(e),
                        from.invoke_index,
                        from.complete_index,
                        last.invoke_index
                    ),
                    events: dedup(events),
                    detail: json!({
                        "element": e.element,
                        "lost-latency-ns": e.lost_latency_ns,
                    }),
                });
            }
            ElementOutcome::Stable if e.stale && opts.linearizable => {
                let st = e.first_stale.expect("stale elements have a stale read");
                let p = e.last_present.expect("stable elements have a present read");
                let mut events = add_events(e);
                events.extend([
                    st.invoke_index,
                    st.complete_index,
                    p.invoke_index,
                    p.complete_index,
                ]);
                anomalies.push(Anomaly {
                    kind: "stale-read".into(),
                    explanation: format!(
                        "Element {} was read stale: {}, but the read invoked at event {} (after that) did not contain it; it was visible again by the read invoked at event {} ({} stale read(s) in all).",
                        e.element,
                        known_phrase(e),
                        st.invoke_index,
                        p.invoke_index,
                        e.stale_reads
                    ),
                    events: dedup(events),
                    detail: json!({
                        "element": e.element,
                        "stale-reads": e.stale_reads,
                        "stable-latency-ns": e.stable_latency_ns,
                    }),
                });
            }
            ElementOutcome::Failed if e.present_reads > 0 => {
                let p = e.first_present.expect("present reads were counted");
                let mut events = add_events(e);
                events.extend([p.invoke_index, p.complete_index]);
                anomalies.push(Anomaly {
                    kind: "failed-add-observed".into(),
                    explanation: format!(
                        "Element {} was read although its add (invoked at event {}) failed, so it never took effect: first seen by the read invoked at event {} ({} read(s) in all).",
                        e.element, e.add_invoke_index, p.invoke_index, e.present_reads
                    ),
                    events: dedup(events),
                    detail: json!({"element": e.element, "reads": e.present_reads}),
                });
            }
            _ => {}
        }
    }
    for u in &a.unexpected {
        let why = match u.added_later_at {
            Some(at) => format!("its add was only invoked later, at event {at}"),
            None => "it was never added".into(),
        };
        anomalies.push(Anomaly {
            kind: "unexpected".into(),
            explanation: format!(
                "Element {} was read although {why}: first by the read invoked at event {} ({} read(s) in all).",
                u.element, u.first_read.invoke_index, u.reads
            ),
            events: vec![u.first_read.invoke_index, u.first_read.complete_index],
            detail: json!({"element": u.element, "reads": u.reads}),
        });
    }
    for d in &a.duplicated {
        anomalies.push(Anomaly {
            kind: "duplicated".into(),
            explanation: format!(
                "Element {} appeared {} times in the single read invoked at event {} ({} read(s) held copies).",
                d.element, d.max_copies, d.first_read.invoke_index, d.reads
            ),
            events: vec![d.first_read.invoke_index, d.first_read.complete_index],
            detail: json!({"element": d.element, "max-copies": d.max_copies, "reads": d.reads}),
        });
    }

    let with = |o: ElementOutcome| a.elements.iter().filter(move |e| e.outcome == o);
    let stable_count = with(ElementOutcome::Stable).count();
    let lost: Vec<Value> = sorted_elements(with(ElementOutcome::Lost).map(|e| &e.element));
    let never_read = sorted_elements(with(ElementOutcome::NeverRead).map(|e| &e.element));
    let stale: Vec<&ElementResult> = a.elements.iter().filter(|e| e.stale).collect();
    let mut worst_stale = stale.clone();
    worst_stale.sort_by_key(|e| std::cmp::Reverse(e.stable_latency_ns));
    let worst_stale: Vec<Value> = worst_stale
        .iter()
        .take(8)
        .map(|e| {
            json!({
                "element": e.element,
                "stable-latency-ns": e.stable_latency_ns,
                "known-index": e.known_index,
                "first-stale-read-index": e.first_stale.map(|r| r.invoke_index),
                "stale-reads": e.stale_reads,
            })
        })
        .collect();
    let add_count = |o: Outcome| a.elements.iter().filter(|e| e.add_outcome == o).count();
    let latencies = |f: fn(&ElementResult) -> Option<u64>| {
        quantiles(&a.elements.iter().filter_map(f).collect::<Vec<_>>())
    };
    let stats = json!({
        "attempt-count": a.elements.len(),
        "acknowledged-count": add_count(Outcome::Ok),
        "indeterminate-count": add_count(Outcome::Info),
        "failed-count": add_count(Outcome::Fail),
        "read-count": a.read_count,
        "stable-count": stable_count,
        "lost-count": lost.len(),
        "lost": lost,
        "never-read-count": never_read.len(),
        "never-read": never_read,
        "stale-count": stale.len(),
        "stale": sorted_elements(stale.iter().map(|e| &e.element)),
        "worst-stale": worst_stale,
        "unexpected-count": a.unexpected.len(),
        "unexpected": sorted_elements(a.unexpected.iter().map(|u| &u.element)),
        "duplicated-count": a.duplicated.len(),
        "duplicated": a.duplicated.iter().map(|d| json!([d.element, d.max_copies])).collect::<Vec<_>>(),
        "stable-latencies-ns": latencies(|e| e.stable_latency_ns),
        "lost-latencies-ns": latencies(|e| e.lost_latency_ns),
        "visibility-latencies-ns": latencies(|e| e.visibility_latency_ns),
    });

    let (verdict, reason) = if !anomalies.is_empty() {
        (Verdict::Invalid, None)
    } else if stable_count == 0 {
        (
            Verdict::Unknown,
            Some(
                "no element was ever stably present: nothing was added, or no read began after an add"
                    .to_string(),
            ),
        )
    } else {
        (Verdict::Valid, None)
    };
    Ok(CheckerResult {
        checker: CHECKER.into(),
        verdict,
        reason,
        anomalies,
        stats,
        first_anomaly_s: None,
    })
}

/// Event indices in ascending order, each once.
fn dedup(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v.dedup();
    v
}
