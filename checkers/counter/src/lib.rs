//! Jepsen's counter checker: every read must lie within the values the adds allow.
//!
//! A counter starts at [`CounterOptions::initial`]; `add` operations change it by their
//! argument (an integer delta) and `read` operations return its value. For each `ok` read
//! the checker computes the range of values the counter could have held at some instant
//! while the read was in flight:
//!
//! - an add is *definite* for the read if it completed `ok` before the read was invoked:
//!   it must be included;
//! - an add is *possible* if it was invoked before the read completed and is not definite
//!   (concurrent `ok` adds, and `info` adds, which may or may not have happened): it may
//!   or may not be included;
//! - `fail` adds, and adds invoked after the read completed, are excluded.
//!
//! Then `lower = initial + Σ definite + Σ min(0, possible)` and
//! `upper = initial + Σ definite + Σ max(0, possible)`. For positive deltas this is
//! exactly `jepsen.checker/counter` (lower: ok adds completed before the read began;
//! upper: all non-failed adds invoked before the read completed); negative deltas widen
//! the range soundly instead of being rejected. A read outside its range is an anomaly.
//! Like Jepsen, this checks reads one at a time against bounds: it does not check that
//! the reads are mutually consistent, nor that the value is an exact subset sum.

use faultline_history::{Anomaly, CheckerResult, Operation, Outcome, Verdict};
use serde_json::{json, Value};
use std::fmt;

/// The checker's name in results.
pub const CHECKER: &str = "counter";

/// A history the checker cannot interpret: which event, and what is wrong with it.
pub use faultline_history::InputError;

/// How to check a counter history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterOptions {
    /// The counter's value before the first operation (Jepsen: 0).
    pub initial: i64,
}

/// One `ok` read and the range of values it could legally have returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadBounds {
    /// `index` of the read's invoke event.
    pub invoke_index: u64,
    /// `index` of the read's ok event.
    pub complete_index: u64,
    /// The least value the counter could have held during the read.
    pub lower: i128,
    /// The value the read returned.
    pub value: i128,
    /// The greatest value the counter could have held during the read.
    pub upper: i128,
    /// How many adds were definite for this read.
    pub definite_adds: usize,
    /// How many adds may or may not have been visible to this read.
    pub possible_adds: usize,
}

impl ReadBounds {
    /// Whether the value lies within `[lower, upper]`.
    ///
    /// ```
    /// let b = faultline_counter_checker::ReadBounds {
    ///     invoke_index: 0, complete_index: 1, lower: 2, value: 7, upper: 5,
    ///     definite_adds: 1, possible_adds: 1,
    /// };
    /// assert!(!b.is_valid());
    /// assert_eq!(b.error(), 2);
    /// ```
    pub fn is_valid(&self) -> bool {
        self.lower <= self.value && self.value <= self.upper
    }

    /// How far outside the bounds the value lies; 0 when within.
    pub fn error(&self) -> i128 {
        if self.value < self.lower {
            self.lower - self.value
        } else if self.value > self.upper {
            self.value - self.upper
        } else {
            0
        }
    }
}

impl fmt::Display for ReadBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "read (events {}-{}) returned {}, but the counter could only have been between {} and {}",
            self.invoke_index, self.complete_index, self.value, self.lower, self.upper
        )
    }
}

/// An add, reduced to what the bounds need.
struct Add {
    invoke_index: u64,
    /// `Some` only for ok adds.
    ok_complete_index: Option<u64>,
    delta: i128,
}

/// Reads an integer from a JSON value, or says why not.
fn integer(v: &Value) -> Option<i128> {
    v.as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
}

/// The ok completion index of an operation, or an error naming its invocation.
fn ok_completion(op: &Operation) -> Result<u64, InputError> {
    op.complete_index.ok_or_else(|| InputError {
        event: op.invoke_index,
        message: format!("{} is ok but has no completion event", op.f),
    })
}

/// Sums of a per-add quantity over a prefix of adds sorted by some event index: lets the
/// bounds of every read be answered by binary search instead of a scan.
struct PrefixSums {
    /// Sorted event indices.
    keys: Vec<u64>,
    /// `sums[i]` = sum of the quantity over the first `i` keys.
    sums: Vec<i128>,
}

impl PrefixSums {
    fn new(mut items: Vec<(u64, i128)>) -> Self {
        items.sort_unstable_by_key(|&(k, _)| k);
        let mut sums = Vec::with_capacity(items.len() + 1);
        sums.push(0);
        let mut acc = 0i128;
        for &(_, v) in &items {
            acc += v;
            sums.push(acc);
        }
        PrefixSums {
            keys: items.into_iter().map(|(k, _)| k).collect(),
            sums,
        }
    }

    /// (count, sum) over items whose key is strictly below `bound`.
    fn below(&self, bound: u64) -> (usize, i128) {
        let n = self.keys.partition_point(|&k| k < bound);
        (n, self.sums[n])
    }
}

/// Computes the bounds of every `ok` read, in order of completion.
///
/// Operations other than `add` and `read` are ignored. Errors name the event whose value
/// is not an integer, or an `ok` operation that lacks its completion.
///
/// ```
/// use faultline_counter_checker::{read_bounds, CounterOptions};
/// use faultline_history::{Operation, Outcome};
/// use serde_json::json;
///
/// let op = |f: &str, input, output, outcome, i: u64, c: Option<u64>| Operation {
///     process: i, f: f.into(), key: None, input, output, outcome, error: None,
///     invoke_index: i, complete_index: c, invoke_time: i, complete_time: c,
/// };
/// let history = [
///     op("add", json!(2), json!(2), Outcome::Ok, 0, Some(1)),
///     op("add", json!(3), json!(null), Outcome::Info, 2, Some(3)),
///     op("read", json!(null), json!(4), Outcome::Ok, 4, Some(5)),
/// ];
/// let b = read_bounds(&history, &CounterOptions::default()).unwrap();
/// assert_eq!((b[0].lower, b[0].value, b[0].upper), (2, 4, 5));
/// ```
pub fn read_bounds(
    ops: &[Operation],
    opts: &CounterOptions,
) -> Result<Vec<ReadBounds>, InputError> {
    let mut adds = Vec::new();
    let mut reads = Vec::new();
    for op in ops {
        match op.f.as_str() {
            "add" => {
                if op.outcome == Outcome::Fail {
                    continue;
                }
                let delta = integer(&op.input).ok_or_else(|| InputError {
                    event: op.invoke_index,
                    message: format!("add's argument must be an integer delta, got {}", op.input),
                })?;
                let ok_complete_index = match op.outcome {
                    Outcome::Ok => Some(ok_completion(op)?),
                    _ => None,
                };
                adds.push(Add {
                    invoke_index: op.invoke_index,
                    ok_complete_index,
                    delta,
                });
            }
            "read" if op.outcome == Outcome::Ok => {
                let complete_index = ok_completion(op)?;
                let value = integer(&op.output).ok_or_else(|| InputError {
                    event: complete_index,
                    message: format!("read must return an integer, got {}", op.output),
                })?;
                reads.push((op.invoke_index, complete_index, value));
            }
            _ => {}
        }
    }

    // Prefix sums of every non-failed add by invocation, and of ok adds by completion.
    let invoked_pos = PrefixSums::new(
        adds.iter()
            .map(|a| (a.invoke_index, a.delta.max(0)))
            .collect(),
    );
    let invoked_neg = PrefixSums::new(
        adds.iter()
            .map(|a| (a.invoke_index, a.delta.min(0)))
            .collect(),
    );
    let ok_by_completion = |f: fn(i128) -> i128| {
        PrefixSums::new(
            adds.iter()
                .filter_map(|a| a.ok_complete_index.map(|c| (c, f(a.delta))))
                .collect(),
        )
    };
    let definite_all = ok_by_completion(|d| d);
    let definite_pos = ok_by_completion(|d| d.max(0));
    let definite_neg = ok_by_completion(|d| d.min(0));

    reads.sort_unstable_by_key(|&(_, c, _)| c);
    let initial = i128::from(opts.initial);
    Ok(reads
        .into_iter()
        .map(|(invoke_index, complete_index, value)| {
            // Definite: ok and completed before the read was invoked. Every definite add
            // was also invoked before the read completed, so the possible adds are the
            // invoked-before-completion ones minus the definite ones.
            let (definite_adds, definite) = definite_all.below(invoke_index);
            let (_, def_pos) = definite_pos.below(invoke_index);
            let (_, def_neg) = definite_neg.below(invoke_index);
            let (invoked, inv_pos) = invoked_pos.below(complete_index);
            let (_, inv_neg) = invoked_neg.below(complete_index);
            ReadBounds {
                invoke_index,
                complete_index,
                lower: initial + definite + (inv_neg - def_neg),
                value,
                upper: initial + definite + (inv_pos - def_pos),
                definite_adds,
                possible_adds: invoked - definite_adds,
            }
        })
        .collect())
}

/// A JSON number with `v`'s exact digits.
fn number(v: i128) -> Value {
    faultline_history::integer_value(v)
}

/// Checks every `ok` read of a counter history against its bounds.
///
/// Valid when every read is within bounds; invalid with one `counter-out-of-bounds`
/// anomaly per bad read (naming the read's events); unknown when no read completed `ok`,
/// since then nothing was checked.
///
/// ```
/// use faultline_counter_checker::{check, CounterOptions};
/// use faultline_history::{Operation, Outcome, Verdict};
/// use serde_json::json;
///
/// let op = |f: &str, input, output, outcome, i: u64, c: Option<u64>| Operation {
///     process: i, f: f.into(), key: None, input, output, outcome, error: None,
///     invoke_index: i, complete_index: c, invoke_time: i, complete_time: c,
/// };
/// let history = [
///     op("add", json!(1), json!(1), Outcome::Ok, 0, Some(1)),
///     op("read", json!(null), json!(0), Outcome::Ok, 2, Some(3)),
/// ];
/// let result = check(&history, &CounterOptions::default()).unwrap();
/// assert_eq!(result.verdict, Verdict::Invalid);
/// assert_eq!(result.anomalies[0].events, vec![2, 3]);
/// ```
pub fn check(ops: &[Operation], opts: &CounterOptions) -> Result<CheckerResult, InputError> {
    let bounds = read_bounds(ops, opts)?;
    let count = |f: &str, o: Outcome| ops.iter().filter(|op| op.f == f && op.outcome == o).count();
    let errors: Vec<&ReadBounds> = bounds.iter().filter(|b| !b.is_valid()).collect();
    let anomalies = errors
        .iter()
        .map(|b| Anomaly {
            kind: "counter-out-of-bounds".into(),
            explanation: format!(
                "{b}: {} acknowledged add(s) had completed before it began and {} more may or may not have taken effect; it is off by {}.",
                b.definite_adds,
                b.possible_adds,
                b.error()
            ),
            events: vec![b.invoke_index, b.complete_index],
            detail: json!({
                "lower": number(b.lower),
                "value": number(b.value),
                "upper": number(b.upper),
            }),
        })
        .collect();
    let worst = errors.iter().max_by_key(|b| b.error());
    let stats = json!({
        "read-count": bounds.len(),
        "error-count": errors.len(),
        "add-ok-count": count("add", Outcome::Ok),
        "add-info-count": count("add", Outcome::Info),
        "add-fail-count": count("add", Outcome::Fail),
        "max-absolute-error": worst.map(|b| json!({
            "events": [b.invoke_index, b.complete_index],
            "lower": number(b.lower),
            "value": number(b.value),
            "upper": number(b.upper),
            "error": number(b.error()),
        })),
    });
    let (verdict, reason) = if !errors.is_empty() {
        (Verdict::Invalid, None)
    } else if bounds.is_empty() {
        (
            Verdict::Unknown,
            Some("no read completed ok, so no value could be checked".to_string()),
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
