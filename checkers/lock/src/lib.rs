//! Lock checkers: did two processes ever hold the lock at once, and did the protected
//! storage ever accept a stale fencing token?
//!
//! **Overlap** ([`check_overlap`]): each process's `acquire` and `release` operations give
//! its *definite holds*. A hold starts at the `ok` of an `acquire` (the lock was granted
//! before the client heard so) and ends at the invocation of the process's next `release`,
//! whatever that release's outcome: an `info` or `fail` release may have freed the lock at
//! any instant after it was invoked, so only the time before it is certain. A hold with no
//! release lasts to the end of the history, unless [`LockOptions::lease_ns`] says the lock
//! is a lease: then a holder that goes silent holds it until one lease after its last
//! successful action (the invocation of its acquire, or of an `ok` write made while its
//! lease still ran: the earliest instants its lease can have been granted or renewed, or of
//! a renewal the client reports), and an acquire acknowledged only after its lease ran out
//! gives no certain hold at all. A client reports renewals that the history does not show
//! (keepalives sent while it waits for the lock and while it holds it) as
//! `lease_renewed_ns` in the `ok` value of an acquire or write: the latest successful
//! renewal, in ns after the operation's invocation (negative: before). A
//! silent holder's expired lease is how a lease lock works, not an anomaly. `info` and
//! `fail` acquires give no hold. Two holds by different processes that share an instant are
//! reported; by construction only definite holds count, so an overlap is never a false
//! alarm.
//!
//! **Acting after the lease ran out** (with a lease): an `ok` write by a holder whose lease
//! had run out, invoked after another process's acquire succeeded, is the unfenced-lease
//! bug: the lock had gone to someone else, yet the old holder's write took effect. Whatever
//! renewals the history does not show, either that acquire overlapped a valid lease or the
//! write came after it ran out; both are anomalies, so this is never a false alarm either.
//!
//! **A write placed after a later grant** (where the database orders its changes): when
//! the `ok` value of an acquire and of a write also carry `revision`, a position in one
//! total order of the database's changes (etcd's revision), an acquire's `revision` is a
//! point by which every hold on a lower token had ended (etcd grants the lock only once
//! every older waiter's key is gone), and a write's is where the write landed. A write on
//! token `t` that landed after another process's grant on a higher token therefore took
//! effect when its writer no longer held the lock, whatever the clocks or the lease say:
//! certain, never a false alarm ([`writes_after_later_grants`]).
//!
//! **Fencing** ([`check_fencing`]): `write` operations carry `{token, holder}` to a
//! storage service that must reject tokens lower than one it already accepted. A write
//! that completed `ok` with a token lower than that of a write that had already completed
//! `ok` before it was invoked was a stale token accepted. Concurrent writes may have been
//! applied in either order, and `info` writes may never have been applied, so neither
//! counts as "already accepted".
//!
//! Mapping lock histories onto the linearizability checker's mutex model is that
//! checker's business, not this crate's.

use faultline_history::{Anomaly, CheckerResult, Operation, Outcome, Verdict};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The overlap checker's name in results.
pub const OVERLAP_CHECKER: &str = "lock-overlap";

/// The fencing checker's name in results.
pub const FENCING_CHECKER: &str = "lock-fencing";

/// A history the checker cannot interpret: which event, and what is wrong with it.
pub use faultline_history::InputError;

/// How to interpret lock holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockOptions {
    /// The lock's lease in ns: it frees itself this long after being granted. `None`: the
    /// lock is held until released.
    pub lease_ns: Option<u64>,
}

/// An interval during which one process certainly held the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hold {
    /// The holding process.
    pub process: u64,
    /// `index` of the acquire's invoke event.
    pub acquire_invoke_index: u64,
    /// `index` of the acquire's ok event: the hold starts here.
    pub start_index: u64,
    /// `time` of the acquire's ok event, ns.
    pub start_time: u64,
    /// `index` of the release's invoke event, which ends the hold; `None` if the process
    /// never released it within the history.
    pub release_invoke_index: Option<u64>,
    /// With a lease: the hold certainly ended by this time, ns (one lease after its last
    /// successful action).
    pub expires_at: Option<u64>,
}

/// An `ok` write by a holder whose lease had already run out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LateWrite {
    /// The hold it was made in.
    pub hold: Hold,
    /// `index` of the write's invoke event.
    pub invoke_index: u64,
    /// `time` of the write's invoke event, ns.
    pub invoke_time: u64,
    /// `index` of the write's ok event.
    pub complete_index: u64,
}

impl Hold {
    /// Whether this hold, starting no later than `other`, still held when `other` began.
    fn covers_start_of(&self, other: &Hold) -> bool {
        self.start_index < other.start_index
            && self
                .release_invoke_index
                .map_or(true, |r| other.start_index < r)
            && self.expires_at.map_or(true, |e| other.start_time < e)
    }

    /// The hold's events: acquire invoke and ok, and release invoke if any.
    fn events(&self) -> impl Iterator<Item = u64> {
        [self.acquire_invoke_index, self.start_index]
            .into_iter()
            .chain(self.release_invoke_index)
    }
}

/// The ok completion of an operation, or an error naming its invocation.
fn ok_completion(op: &Operation) -> Result<(u64, u64), InputError> {
    op.complete_index
        .zip(op.complete_time)
        .ok_or_else(|| InputError {
            event: op.invoke_index,
            message: format!("{} is ok but has no completion event", op.f),
        })
}

/// Every definite hold in a lock history, ordered by start.
///
/// A second `ok` acquire by a process already holding the lock continues the same hold.
/// Releases by a process not holding the lock are ignored. Errors name an `ok` acquire
/// lacking its completion.
///
/// ```
/// use faultline_lock_checker::{holds, LockOptions};
/// use faultline_history::{Operation, Outcome};
/// use serde_json::Value;
///
/// let op = |f: &str, outcome, i: u64| Operation {
///     process: 1, f: f.into(), key: None, input: Value::Null, output: Value::Null,
///     outcome, error: None, invoke_index: i, complete_index: Some(i + 1),
///     invoke_time: i, complete_time: Some(i + 1),
/// };
/// let h = holds(&[op("acquire", Outcome::Ok, 0), op("release", Outcome::Info, 2)],
///               &LockOptions::default()).unwrap();
/// assert_eq!((h[0].start_index, h[0].release_invoke_index), (1, Some(2)));
/// ```
pub fn holds(ops: &[Operation], opts: &LockOptions) -> Result<Vec<Hold>, InputError> {
    Ok(holds_and_late_writes(ops, opts)?.0)
}

/// [`holds`], and (with a lease) the `ok` writes made in a hold after its lease ran out.
pub fn holds_and_late_writes(
    ops: &[Operation],
    opts: &LockOptions,
) -> Result<(Vec<Hold>, Vec<LateWrite>), InputError> {
    let mut by_process: BTreeMap<u64, Vec<&Operation>> = BTreeMap::new();
    let lease = opts.lease_ns.is_some();
    for op in ops
        .iter()
        .filter(|o| o.f == "acquire" || o.f == "release" || (lease && o.f == "write"))
    {
        by_process.entry(op.process).or_default().push(op);
    }
    let mut out = Vec::new();
    let mut late = Vec::new();
    for (process, mut ops) in by_process {
        ops.sort_by_key(|o| o.invoke_index);
        let mut holding: Option<Hold> = None;
        for op in ops {
            match (op.f.as_str(), op.outcome) {
                ("acquire", Outcome::Ok) => {
                    let (start_index, start_time) = ok_completion(op)?;
                    let expires_at = opts.lease_ns.map(|l| {
                        let granted = op.invoke_time.saturating_add(l);
                        renewed_at(op).map_or(granted, |r| r.saturating_add(l).max(granted))
                    });
                    if holding.is_none() && expires_at.map_or(true, |e| start_time < e) {
                        holding = Some(Hold {
                            process,
                            acquire_invoke_index: op.invoke_index,
                            start_index,
                            start_time,
                            release_invoke_index: None,
                            expires_at,
                        });
                    }
                }
                ("write", Outcome::Ok) => {
                    let Some(h) = holding.as_mut() else { continue };
                    let (Some(lease), Some(mut expires)) = (opts.lease_ns, h.expires_at) else {
                        continue;
                    };
                    // A renewal reported with the write proves the lease alive then, and
                    // a lease that lives later lived at the write's invocation too.
                    if let Some(r) = renewed_at(op) {
                        expires = expires.max(r.saturating_add(lease));
                        h.expires_at = Some(expires);
                    }
                    if op.invoke_time < expires {
                        // Acting while the lease still ran: a sign of life that renews it.
                        h.expires_at = Some(op.invoke_time.saturating_add(lease).max(expires));
                    } else {
                        let (complete_index, _) = ok_completion(op)?;
                        late.push(LateWrite {
                            hold: *h,
                            invoke_index: op.invoke_index,
                            invoke_time: op.invoke_time,
                            complete_index,
                        });
                    }
                }
                ("release", _) => {
                    if let Some(mut h) = holding.take() {
                        h.release_invoke_index = Some(op.invoke_index);
                        out.push(h);
                    }
                }
                _ => {}
            }
        }
        out.extend(holding);
    }
    out.sort_by_key(|h| h.start_index);
    // A late write's hold as it finally was (its expiry no longer grows after the write).
    for w in &mut late {
        if let Some(h) = out
            .iter()
            .find(|h| h.process == w.hold.process && h.start_index == w.hold.start_index)
        {
            w.hold = *h;
        }
    }
    Ok((out, late))
}

/// When the client last renewed the lease of the hold `op` belongs to, if it says
/// (`lease_renewed_ns` in the `ok` value, relative to the invocation), in history time.
fn renewed_at(op: &Operation) -> Option<u64> {
    let after_invoke = op.output.get("lease_renewed_ns")?.as_i64()?;
    let at = i128::from(op.invoke_time) + i128::from(after_invoke);
    u64::try_from(at.max(0)).ok()
}

/// The late writes that came after another process's acquire succeeded (once the writer's
/// lease had run out), each with that acquire's hold: the unfenced-lease bug.
pub fn writes_after_lease_lost(holds: &[Hold], late: &[LateWrite]) -> Vec<(LateWrite, Hold)> {
    late.iter()
        .filter_map(|w| {
            let expired = w.hold.expires_at?;
            holds
                .iter()
                .find(|b| {
                    b.process != w.hold.process
                        && b.start_index > w.hold.start_index
                        && b.start_index < w.invoke_index
                        && b.start_time >= expired
                })
                .map(|b| (*w, *b))
        })
        .collect()
}

/// A write that landed, in the database's order of changes, after another process was
/// granted the lock on a higher token (see the crate docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteAfterGrant {
    /// The writing process.
    pub writer: u64,
    /// The write's token: the hold it was made in.
    pub token: i64,
    /// `index` of the write's invoke and ok events.
    pub write: (u64, u64),
    /// Where the write landed.
    pub revision: i64,
    /// The process granted the lock.
    pub acquirer: u64,
    /// Its token, higher than the write's.
    pub acquirer_token: i64,
    /// `index` of its acquire's ok event.
    pub acquire_ok: u64,
    /// Where its grant was placed, before the write.
    pub granted_at: i64,
}

/// The `token` and `revision` of an `ok` acquire or write, when it has both.
fn token_and_revision(op: &Operation) -> Option<(i64, i64)> {
    let t = op.output.get("token")?.as_i64()?;
    Some((t, op.output.get("revision")?.as_i64()?))
}

/// Every `ok` write that landed after another process's grant on a higher token, each with
/// the earliest-placed such grant. Operations without `token` and `revision` take no part.
pub fn writes_after_later_grants(ops: &[Operation]) -> Vec<WriteAfterGrant> {
    let ok = |f: &'static str| {
        ops.iter()
            .filter(move |o| o.f == f && o.outcome == Outcome::Ok)
            .filter_map(|o| Some((o, token_and_revision(o)?)))
    };
    // Grants by token; from each token up, the earliest-placed grant and the earliest by
    // any other process (so a writer's own grants never hide another's).
    let mut grants: Vec<(i64, i64, &Operation)> =
        ok("acquire").map(|(o, (t, r))| (t, r, o)).collect();
    grants.sort_by_key(|g| g.0);
    type Best<'a> = Option<(i64, i64, &'a Operation)>;
    let mut suffix: Vec<(Best, Best)> = vec![(None, None); grants.len() + 1];
    for i in (0..grants.len()).rev() {
        let g = grants[i];
        let (mut first, mut second) = suffix[i + 1];
        if first.map_or(true, |f| g.1 < f.1) {
            if first.is_some_and(|f| f.2.process != g.2.process) {
                second = first;
            }
            first = Some(g);
        } else if first.is_some_and(|f| f.2.process != g.2.process)
            && second.map_or(true, |s| g.1 < s.1)
        {
            second = Some(g);
        }
        suffix[i] = (first, second);
    }
    let mut found = Vec::new();
    for (w, (token, revision)) in ok("write") {
        let (first, second) = suffix[grants.partition_point(|g| g.0 <= token)];
        let other = match first {
            Some(f) if f.2.process == w.process => second,
            f => f,
        };
        let Some((acquirer_token, granted_at, g)) = other else {
            continue;
        };
        if granted_at < revision {
            found.push(WriteAfterGrant {
                writer: w.process,
                token,
                write: (w.invoke_index, w.complete_index.unwrap_or(w.invoke_index)),
                revision,
                acquirer: g.process,
                acquirer_token,
                acquire_ok: g.complete_index.unwrap_or(g.invoke_index),
                granted_at,
            });
        }
    }
    found.sort_by_key(|w| w.write.1);
    found
}

/// Every pair of definite holds by different processes that share an instant, each pair
/// as (earlier-starting, later-starting).
///
/// ```
/// use faultline_lock_checker::{holds, overlaps, LockOptions};
/// use faultline_history::{Operation, Outcome};
/// use serde_json::Value;
///
/// let op = |p, f: &str, i: u64, c: u64| Operation {
///     process: p, f: f.into(), key: None, input: Value::Null, output: Value::Null,
///     outcome: Outcome::Ok, error: None, invoke_index: i, complete_index: Some(c),
///     invoke_time: i, complete_time: Some(c),
/// };
/// // 1 holds from event 1 until its release at 4; 2's acquire is ok at 3.
/// let ops = [op(1, "acquire", 0, 1), op(2, "acquire", 2, 3), op(1, "release", 4, 5)];
/// let h = holds(&ops, &LockOptions::default()).unwrap();
/// assert_eq!(overlaps(&h).len(), 1);
/// ```
pub fn overlaps(holds: &[Hold]) -> Vec<(Hold, Hold)> {
    let mut sorted = holds.to_vec();
    sorted.sort_by_key(|h| h.start_index);
    let mut active: Vec<Hold> = Vec::new();
    let mut out = Vec::new();
    for h in sorted {
        // A hold released before this one starts is released before every later one
        // too. Lease expiry is checked per pair instead: event times of different
        // processes need not increase with the index (Jepsen stamps them per thread).
        active.retain(|a| a.release_invoke_index.map_or(true, |r| h.start_index < r));
        out.extend(
            active
                .iter()
                .filter(|a| a.process != h.process && a.covers_start_of(&h))
                .map(|a| (*a, h)),
        );
        active.push(h);
    }
    out
}

/// Checks that no two processes ever certainly held the lock at the same instant.
///
/// Invalid with one `overlapping-holders` anomaly per overlapping pair of holds (naming
/// both acquires and releases); unknown when no acquire succeeded; else valid.
///
/// ```
/// use faultline_lock_checker::{check_overlap, LockOptions};
/// use faultline_history::{Operation, Outcome, Verdict};
/// use serde_json::Value;
///
/// let op = |p, f: &str, i: u64, c: u64| Operation {
///     process: p, f: f.into(), key: None, input: Value::Null, output: Value::Null,
///     outcome: Outcome::Ok, error: None, invoke_index: i, complete_index: Some(c),
///     invoke_time: i, complete_time: Some(c),
/// };
/// let ops = [op(1, "acquire", 0, 1), op(1, "release", 2, 3), op(2, "acquire", 4, 5)];
/// let r = check_overlap(&ops, &LockOptions::default()).unwrap();
/// assert_eq!(r.verdict, Verdict::Valid);
/// ```
pub fn check_overlap(ops: &[Operation], opts: &LockOptions) -> Result<CheckerResult, InputError> {
    let (holds, late) = holds_and_late_writes(ops, opts)?;
    let pairs = overlaps(&holds);
    let lost = writes_after_lease_lost(&holds, &late);
    let until = |h: &Hold| {
        let mut s = match h.release_invoke_index {
            Some(r) => format!("did not begin releasing it until event {r}"),
            None => "never released it".to_string(),
        };
        if let Some(e) = h.expires_at {
            s += &format!(", and its lease lasted at least until {e} ns");
        }
        s
    };
    let late_anomalies = lost.iter().map(|(w, b)| {
        let mut events = vec![w.hold.start_index, b.start_index, w.invoke_index, w.complete_index];
        events.sort_unstable();
        events.dedup();
        Anomaly {
            kind: "write-after-lease-expired".into(),
            explanation: format!(
                "Process {} wrote while it no longer held the lock: its lease ran out at {} ns with no sign of life, process {} acquired the lock (ok at event {}), and then process {}'s write (invoked at event {}) succeeded anyway: an unfenced lease.",
                w.hold.process,
                w.hold.expires_at.unwrap_or(0),
                b.process,
                b.start_index,
                w.hold.process,
                w.invoke_index
            ),
            events,
            detail: json!({
                "writer": w.hold.process,
                "acquirer": b.process,
                "lease-expired-at-ns": w.hold.expires_at,
                "write": {"invoke": w.invoke_index, "ok": w.complete_index},
            }),
        }
    });
    let placed = writes_after_later_grants(ops);
    let placed_anomalies = placed.iter().map(|w| {
        let mut events = vec![w.write.0, w.write.1, w.acquire_ok];
        events.sort_unstable();
        Anomaly {
            kind: "write-after-lock-moved".into(),
            explanation: format!(
                "Process {}'s write on token {} (ok at event {}) landed at revision {}, after process {} had been granted the lock on token {} (ok at event {}, revision {}): by then every hold on a lower token had ended, so the write took effect without the lock.",
                w.writer, w.token, w.write.1, w.revision, w.acquirer, w.acquirer_token, w.acquire_ok, w.granted_at
            ),
            events,
            detail: json!({
                "writer": w.writer,
                "token": w.token,
                "write": {"invoke": w.write.0, "ok": w.write.1, "revision": w.revision},
                "acquirer": w.acquirer,
                "acquire": {"ok": w.acquire_ok, "token": w.acquirer_token, "revision": w.granted_at},
            }),
        }
    });
    let anomalies = pairs
        .iter()
        .map(|(a, b)| {
            let mut events: Vec<u64> = a.events().chain(b.events()).collect();
            events.sort_unstable();
            events.dedup();
            Anomaly {
                kind: "overlapping-holders".into(),
                explanation: format!(
                    "Processes {} and {} held the lock at the same time: process {} acquired it (ok at event {}) and {}, yet process {}'s acquire succeeded at event {}.",
                    a.process, b.process, a.process, a.start_index, until(a), b.process, b.start_index
                ),
                events,
                detail: json!({
                    "holders": [a.process, b.process],
                    "first-hold": {"start": a.start_index, "release": a.release_invoke_index},
                    "second-hold": {"start": b.start_index, "release": b.release_invoke_index},
                }),
            }
        })
        .chain(late_anomalies)
        .chain(placed_anomalies)
        .collect::<Vec<_>>();
    let count = |f: &str, o: Outcome| ops.iter().filter(|op| op.f == f && op.outcome == o).count();
    let stats = json!({
        "hold-count": holds.len(),
        "unreleased-hold-count": holds.iter().filter(|h| h.release_invoke_index.is_none()).count(),
        "overlap-count": pairs.len(),
        "late-write-count": late.len(),
        "write-after-lease-expired-count": lost.len(),
        "write-after-lock-moved-count": placed.len(),
        "acquire-ok-count": count("acquire", Outcome::Ok),
        "acquire-info-count": count("acquire", Outcome::Info),
        "acquire-fail-count": count("acquire", Outcome::Fail),
        "release-ok-count": count("release", Outcome::Ok),
        "release-info-count": count("release", Outcome::Info),
        "release-fail-count": count("release", Outcome::Fail),
        "lease-ns": opts.lease_ns,
    });
    let (verdict, reason) = if !anomalies.is_empty() {
        (Verdict::Invalid, None)
    } else if holds.is_empty() {
        (
            Verdict::Unknown,
            Some("no acquire certainly succeeded, so no hold could be compared".to_string()),
        )
    } else {
        (Verdict::Valid, None)
    };
    Ok(CheckerResult {
        checker: OVERLAP_CHECKER.into(),
        verdict,
        reason,
        anomalies,
        stats,
        first_anomaly_s: None,
    })
}

/// A write of a fencing token to the protected storage.
#[derive(Clone, Debug, PartialEq)]
pub struct FencedWrite {
    /// The writing process.
    pub process: u64,
    /// The fencing token it presented.
    pub token: i128,
    /// Who it claimed to write as (`Null` if not given).
    pub holder: Value,
    /// How the write ended.
    pub outcome: Outcome,
    /// `index` of the write's invoke event.
    pub invoke_index: u64,
    /// `index` of its completion event, if any.
    pub complete_index: Option<u64>,
}

/// A JSON number with `v`'s exact digits.
fn number(v: i128) -> Value {
    faultline_history::integer_value(v)
}

/// Every `write` of a fencing token, in order of invocation.
///
/// Errors name a write whose argument lacks an integer `token`, or an `ok` write lacking
/// its completion.
///
/// ```
/// use faultline_lock_checker::fenced_writes;
/// use faultline_history::{Operation, Outcome};
/// use serde_json::{json, Value};
///
/// let w = Operation {
///     process: 1, f: "write".into(), key: None, input: json!({"token": 7, "holder": 1}),
///     output: Value::Null, outcome: Outcome::Ok, error: None, invoke_index: 0,
///     complete_index: Some(1), invoke_time: 0, complete_time: Some(1),
/// };
/// assert_eq!(fenced_writes(&[w]).unwrap()[0].token, 7);
/// ```
pub fn fenced_writes(ops: &[Operation]) -> Result<Vec<FencedWrite>, InputError> {
    let mut out = Vec::new();
    for op in ops.iter().filter(|o| o.f == "write") {
        let token = op
            .input
            .get("token")
            .and_then(|t| {
                t.as_i64()
                    .map(i128::from)
                    .or_else(|| t.as_u64().map(i128::from))
            })
            .ok_or_else(|| InputError {
                event: op.invoke_index,
                message: format!(
                    "write's argument must be {{\"token\": integer, \"holder\": ...}}, got {}",
                    op.input
                ),
            })?;
        if op.outcome == Outcome::Ok {
            ok_completion(op)?;
        }
        out.push(FencedWrite {
            process: op.process,
            token,
            holder: op.input.get("holder").cloned().unwrap_or(Value::Null),
            outcome: op.outcome,
            invoke_index: op.invoke_index,
            complete_index: op.complete_index,
        });
    }
    out.sort_by_key(|w| w.invoke_index);
    Ok(out)
}

/// Checks that the storage never accepted a fencing token lower than one it had already
/// accepted.
///
/// Invalid with one `stale-fencing-token` anomaly per stale write accepted, naming it and
/// the highest-token write accepted before it began; unknown when no write was accepted;
/// else valid.
///
/// ```
/// use faultline_lock_checker::check_fencing;
/// use faultline_history::{Operation, Outcome, Verdict};
/// use serde_json::{json, Value};
///
/// let w = |token, i: u64| Operation {
///     process: i, f: "write".into(), key: None, input: json!({"token": token, "holder": i}),
///     output: Value::Null, outcome: Outcome::Ok, error: None, invoke_index: i,
///     complete_index: Some(i + 1), invoke_time: i, complete_time: Some(i + 1),
/// };
/// let r = check_fencing(&[w(34, 0), w(33, 2)]).unwrap();
/// assert_eq!(r.verdict, Verdict::Invalid);
/// assert_eq!(r.anomalies[0].events, vec![0, 1, 2, 3]);
/// ```
pub fn check_fencing(ops: &[Operation]) -> Result<CheckerResult, InputError> {
    let writes = fenced_writes(ops)?;
    let accepted: Vec<&FencedWrite> = writes.iter().filter(|w| w.outcome == Outcome::Ok).collect();
    let mut by_completion = accepted.clone();
    by_completion.sort_by_key(|w| w.complete_index);

    let mut anomalies = Vec::new();
    let mut highest: Option<&FencedWrite> = None;
    let mut done = by_completion.iter().peekable();
    for w in &accepted {
        // Fold in every accepted write that completed before this one was invoked.
        while let Some(d) = done.next_if(|d| d.complete_index < Some(w.invoke_index)) {
            if highest.map_or(true, |h| d.token > h.token) {
                highest = Some(d);
            }
        }
        if let Some(h) = highest.filter(|h| w.token < h.token) {
            let (hc, wc) = (
                h.complete_index.unwrap_or(h.invoke_index),
                w.complete_index.unwrap_or(w.invoke_index),
            );
            anomalies.push(Anomaly {
                kind: "stale-fencing-token".into(),
                explanation: format!(
                    "The storage accepted token {} from holder {} (write invoked at event {}, ok at {}) after it had already accepted the higher token {} from holder {} (write ok at event {}).",
                    w.token, w.holder, w.invoke_index, wc, h.token, h.holder, hc
                ),
                events: vec![h.invoke_index, hc, w.invoke_index, wc],
                detail: json!({
                    "stale-token": number(w.token),
                    "accepted-token": number(h.token),
                    "stale-holder": w.holder,
                    "accepted-holder": h.holder,
                }),
            });
        }
    }
    let count = |o: Outcome| writes.iter().filter(|w| w.outcome == o).count();
    let stats = json!({
        "write-count": writes.len(),
        "accepted-count": accepted.len(),
        "rejected-count": count(Outcome::Fail),
        "indeterminate-count": count(Outcome::Info),
        "stale-accepted-count": anomalies.len(),
    });
    let (verdict, reason) = if !anomalies.is_empty() {
        (Verdict::Invalid, None)
    } else if accepted.is_empty() {
        (
            Verdict::Unknown,
            Some("no write was accepted, so no tokens could be compared".to_string()),
        )
    } else {
        (Verdict::Valid, None)
    };
    Ok(CheckerResult {
        checker: FENCING_CHECKER.into(),
        verdict,
        reason,
        anomalies,
        stats,
        first_anomaly_s: None,
    })
}
