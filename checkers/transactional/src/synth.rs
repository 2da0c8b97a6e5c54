//! Synthetic list-append histories, for benchmarks and `faultline gen append`: a simulated
//! strict-serializable store with overlapping client transactions, deterministic by seed,
//! optionally with one injected stale read.
//!
//! Each transaction takes effect atomically at one instant between its invocation and its
//! completion, against one store, so the order of those instants is a serial order that
//! respects real time: the history is strict-serializable by construction. Keys follow
//! Jepsen's list-append generator: a pool of active keys, each retired after a number of
//! appends and replaced by a fresh one; each micro-operation is a read (with probability
//! `read_fraction`) or an append of the key's next value.
//!
//! With `stale_read`, one read of a key that had at least two elements when its transaction
//! took effect, and whose last append had completed before the reader was invoked, drops that
//! last element: the reader must precede the append's transaction (rw), which completed
//! before the reader began (real time), so the history is no longer strict-serializable.

use faultline_history::{Event, EventType, Process};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct AppendConfig {
    /// Number of transactions.
    pub txns: usize,
    /// Concurrent client processes.
    pub processes: usize,
    /// Active keys at any time (Jepsen's `key-count`).
    pub key_count: usize,
    /// Appends after which a key is retired (Jepsen's `max-writes-per-key`).
    pub max_writes_per_key: usize,
    /// Micro-operations per transaction, from 1 to this (Jepsen's `max-txn-length`).
    pub max_txn_length: usize,
    /// Probability that a micro-operation is a read.
    pub read_fraction: f64,
    /// Share of transactions that end `info` (each took effect or not, at random).
    pub info_rate: f64,
    /// Seed of the random choices.
    pub seed: u64,
    /// Inject one stale read (the history is then not strict-serializable).
    pub stale_read: bool,
}

impl Default for AppendConfig {
    fn default() -> Self {
        AppendConfig {
            txns: 10_000,
            processes: 20,
            key_count: 10,
            max_writes_per_key: 32,
            max_txn_length: 4,
            read_fraction: 0.5,
            info_rate: 0.0,
            seed: 1,
            stale_read: false,
        }
    }
}

enum Micro {
    Append(u64, u64),
    Read(u64, Option<Vec<u64>>),
}

struct Open {
    process: u64,
    mops: Vec<Micro>,
    applied: bool,
    invoke_index: u64,
}

/// Generates the history's events in order, handing each to `emit`.
pub fn generate(cfg: &AppendConfig, mut emit: impl FnMut(Event)) {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let processes = cfg.processes.max(1);
    let key_count = cfg.key_count.max(1);
    let max_writes = cfg.max_writes_per_key.max(1) as u64;
    // Store: per key, its list; active keys and how many appends each got.
    let mut lists: Vec<Vec<u64>> = Vec::new();
    let mut active: Vec<u64> = Vec::new();
    for _ in 0..key_count {
        active.push(lists.len() as u64);
        lists.push(Vec::new());
    }
    // The next value to append to each key, and when the transaction that appended the
    // key's current last element completed (event index), for the stale read.
    let mut next_value: Vec<u64> = vec![1; lists.len()];
    let mut last_done: Vec<Option<u64>> = vec![None; lists.len()];
    let mut slots: Vec<Option<Open>> = (0..processes).map(|_| None).collect();
    let mut process_ids: Vec<u64> = (0..processes as u64).collect();
    let mut next_process = processes as u64;
    let mut invoked = 0usize;
    let mut index = 0u64;
    let mut stale_pending = cfg.stale_read;
    let stale_after = cfg.txns / 2;

    let mut emit_event = |index: &mut u64, process: u64, kind: EventType, value: Value| {
        emit(Event {
            index: *index,
            time: *index * 1000,
            process: Process::Client(process),
            kind,
            f: "txn".into(),
            key: None,
            value,
            error: None,
            node: None,
        });
        *index += 1;
    };

    loop {
        let busy = slots.iter().filter(|s| s.is_some()).count();
        if invoked >= cfg.txns && busy == 0 {
            break;
        }
        let p = rng.random_range(0..processes);
        match &mut slots[p] {
            None if invoked < cfg.txns => {
                let len = rng.random_range(1..=cfg.max_txn_length.max(1));
                let mut mops = Vec::with_capacity(len);
                for _ in 0..len {
                    let slot = rng.random_range(0..active.len());
                    let k = active[slot];
                    if rng.random_bool(cfg.read_fraction.clamp(0.0, 1.0)) {
                        mops.push(Micro::Read(k, None));
                    } else {
                        // The value is the key's next; retire keys that are full.
                        let n = next_value[k as usize];
                        next_value[k as usize] += 1;
                        mops.push(Micro::Append(k, n));
                        if n >= max_writes {
                            active[slot] = lists.len() as u64;
                            lists.push(Vec::new());
                            next_value.push(1);
                            last_done.push(None);
                        }
                    }
                }
                let value = mops_json(&mops);
                let process = process_ids[p];
                let invoke_index = index;
                emit_event(&mut index, process, EventType::Invoke, value);
                slots[p] = Some(Open {
                    process,
                    mops,
                    applied: false,
                    invoke_index,
                });
                invoked += 1;
            }
            None => {}
            Some(open) if !open.applied && rng.random_bool(0.5) => {
                // Take effect now, atomically.
                open.applied = true;
                for m in &mut open.mops {
                    match m {
                        Micro::Append(k, v) => {
                            lists[*k as usize].push(*v);
                            last_done[*k as usize] = None;
                        }
                        Micro::Read(k, seen) => {
                            let mut l = lists[*k as usize].clone();
                            let stale_ok = l.len() >= 2
                                && last_done[*k as usize].is_some_and(|d| d < open.invoke_index);
                            if stale_pending && invoked >= stale_after && stale_ok {
                                l.pop();
                                stale_pending = false;
                            }
                            *seen = Some(l);
                        }
                    }
                }
            }
            Some(open) => {
                let info = rng.random_bool(cfg.info_rate.clamp(0.0, 1.0));
                if !open.applied && !info {
                    continue;
                }
                if info && !open.applied && rng.random_bool(0.5) {
                    for m in &open.mops {
                        if let Micro::Append(k, v) = m {
                            lists[*k as usize].push(*v);
                            last_done[*k as usize] = None;
                        }
                    }
                }
                let done = index;
                if !info {
                    for m in &open.mops {
                        if let Micro::Append(k, v) = m {
                            if lists[*k as usize].last() == Some(v) {
                                last_done[*k as usize] = Some(done);
                            }
                        }
                    }
                }
                let process = open.process;
                let (kind, value) = if info {
                    // The client gave up: the reads are unknown.
                    for m in &mut open.mops {
                        if let Micro::Read(_, seen) = m {
                            *seen = None;
                        }
                    }
                    (EventType::Info, mops_json(&open.mops))
                } else {
                    (EventType::Ok, mops_json(&open.mops))
                };
                emit_event(&mut index, process, kind, value);
                slots[p] = None;
                if info {
                    // Jepsen: a process that crashed continues under a new id.
                    process_ids[p] = next_process;
                    next_process += 1;
                }
            }
        }
    }
}

fn mops_json(mops: &[Micro]) -> Value {
    Value::Array(
        mops.iter()
            .map(|m| match m {
                Micro::Append(k, v) => json!(["append", k, v]),
                Micro::Read(k, None) => json!(["r", k, null]),
                Micro::Read(k, Some(l)) => json!(["r", k, l]),
            })
            .collect(),
    )
}

/// Generates the history as events.
pub fn events(cfg: &AppendConfig) -> Vec<Event> {
    let mut out = Vec::with_capacity(cfg.txns * 2);
    generate(cfg, |e| out.push(e));
    out
}
