//! The WGL search (Wing & Gong, with Lowe's refinements, as in Porcupine's `checker.go`).
//!
//! Entries (calls and returns) sit in a doubly-linked list in history order. The search walks
//! the list from the head: at a call it tries to linearize that operation now (step the model,
//! "lift" its call and return out of the list, push it on the undo stack); at a return it has
//! found an operation that had to be linearized already, so it backtracks (pop, "unlift",
//! restore the state). Every configuration reached, (set of linearized operations, state), is
//! memoised; reaching one again prunes the branch, since its outcome is already known.
//!
//! `info` operations are optional: they have no return entry (their return is +infinity), and
//! the search succeeds as soon as every operation that must have happened is linearized.
//! Identical open `info` operations are interchangeable, so they are linearized only in
//! invocation order (symmetry reduction): if a linearization uses a later-invoked copy but not an
//! earlier one, swapping them keeps every real-time constraint (the earlier copy's interval,
//! from an earlier invocation to +infinity, contains the later one's) and the same state.

use crate::model::Model;
use hashbrown::HashTable;
use rustc_hash::{FxHashMap, FxHasher};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;
/// Loop iterations between budget checks.
const CHECK_EVERY: u64 = 1 << 11;

/// One compiled operation of a search.
#[derive(Clone, Debug)]
pub(crate) struct SearchOp<O> {
    /// The compiled operation.
    pub op: O,
    /// Whether it may not have happened (`info`).
    pub info: bool,
    /// Position of the invocation in the history.
    pub call: u64,
    /// Position of the completion; `u64::MAX` for `info` ops.
    pub ret: u64,
}

/// Why a search stopped before deciding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Abort {
    /// The time limit passed.
    Time,
    /// The memory limit was exceeded.
    Memory,
    /// The caller cancelled the check.
    Cancelled,
}

/// Shared limits and counters of one check, across all partitions.
pub(crate) struct Budget<'a> {
    pub deadline: Option<Instant>,
    pub memory_limit: Option<usize>,
    pub memory_used: &'a AtomicUsize,
    pub cancel: Option<&'a AtomicBool>,
    /// Set by the first partition that runs out, so the others stop too.
    pub stop: &'a AtomicBool,
    /// First abort reason: 0 none, 1 time, 2 memory, 3 cancelled.
    pub reason: &'a AtomicU64,
    pub progress_done: Option<&'a AtomicU64>,
}

impl Budget<'_> {
    fn abort(&self, why: Abort) -> Abort {
        let code = match why {
            Abort::Time => 1,
            Abort::Memory => 2,
            Abort::Cancelled => 3,
        };
        let _ = self
            .reason
            .compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed);
        self.stop.store(true, Ordering::Relaxed);
        why
    }

    /// The reason recorded by the first partition that aborted.
    pub fn recorded(&self) -> Option<Abort> {
        match self.reason.load(Ordering::Relaxed) {
            1 => Some(Abort::Time),
            2 => Some(Abort::Memory),
            3 => Some(Abort::Cancelled),
            _ => None,
        }
    }

    fn check(&self) -> Option<Abort> {
        if self.stop.load(Ordering::Relaxed) {
            return Some(self.recorded().unwrap_or(Abort::Cancelled));
        }
        if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Some(self.abort(Abort::Cancelled));
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(self.abort(Abort::Time));
        }
        if self
            .memory_limit
            .is_some_and(|m| self.memory_used.load(Ordering::Relaxed) > m)
        {
            return Some(self.abort(Abort::Memory));
        }
        None
    }
}

/// The deepest point where the search got stuck.
#[derive(Clone, Debug)]
pub(crate) struct Stuck<S> {
    /// Linearized ops, in linearization order (indices into the search's ops).
    pub prefix: Vec<usize>,
    /// The op whose completion was reached without it being linearizable.
    pub blocked: usize,
    /// The state after `prefix`.
    pub state: S,
}

/// How a search ended.
#[derive(Debug)]
pub(crate) enum Ending<S> {
    Linearizable,
    NotLinearizable(Stuck<S>),
    Aborted,
}

/// What a search did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SearchStats {
    /// Distinct configurations memoised.
    pub states: u64,
    /// Longest linearized prefix, in ops.
    pub max_prefix: usize,
}

/// The set of linearized ops, as a bitset kept compact for the memo: ops that must happen
/// occupy bits `0..must` (in invocation order), `info` ops a separate word-aligned tail. Must
/// ops are linearized roughly in order, so the must part is stored from its first word that is
/// not all ones (`lo`) to its last non-zero word (`hi`): a few words, however long the history.
struct Linearized {
    bits: Vec<u64>,
    /// Bit of each op.
    pos: Vec<u32>,
    /// Words of the must part.
    must_words: usize,
    /// First must word that is not all ones.
    lo: usize,
    /// One past the last non-zero must word.
    hi: usize,
}

impl Linearized {
    fn new(ops_info: &[bool]) -> Linearized {
        let must = ops_info.iter().filter(|&&i| !i).count();
        let must_words = must.div_ceil(64);
        let info = ops_info.len() - must;
        let (mut next_must, mut next_info) = (0u32, (must_words * 64) as u32);
        let pos = ops_info
            .iter()
            .map(|&is_info| {
                let slot = if is_info {
                    &mut next_info
                } else {
                    &mut next_must
                };
                *slot += 1;
                *slot - 1
            })
            .collect();
        Linearized {
            bits: vec![0; must_words + info.div_ceil(64)],
            pos,
            must_words,
            lo: 0,
            hi: 0,
        }
    }

    #[inline]
    fn set(&mut self, i: usize) {
        let p = self.pos[i] as usize;
        let w = p / 64;
        self.bits[w] |= 1u64 << (p % 64);
        if w < self.must_words {
            self.hi = self.hi.max(w + 1);
            while self.lo < self.must_words && self.bits[self.lo] == !0 {
                self.lo += 1;
            }
        }
    }

    #[inline]
    fn clear(&mut self, i: usize) {
        let p = self.pos[i] as usize;
        let w = p / 64;
        self.bits[w] &= !(1u64 << (p % 64));
        if w < self.must_words {
            self.lo = self.lo.min(w);
            while self.hi > 0 && self.bits[self.hi - 1] == 0 {
                self.hi -= 1;
            }
        }
    }

    /// Words a memo entry stores.
    fn stored_words(&self) -> usize {
        self.hi.max(self.lo) - self.lo + self.bits.len() - self.must_words
    }

    /// The canonical compact form: `lo` and the words that follow it.
    #[inline]
    fn key(&self) -> (u32, &[u64], &[u64]) {
        let hi = self.hi.max(self.lo);
        (
            self.lo as u32,
            &self.bits[self.lo..hi],
            &self.bits[self.must_words..],
        )
    }
}

/// Memo of configurations (linearized set, state): compact bitsets in one arena, hashed by
/// Zobrist keys of the linearized ops combined with the state's hash.
struct Cache<S> {
    table: HashTable<u32>,
    hashes: Vec<u64>,
    /// Per entry: `lo`, start in `arena`, number of must words.
    spans: Vec<(u32, usize, u32)>,
    arena: Vec<u64>,
    states: Vec<S>,
    info_words: usize,
}

impl<S: Eq> Cache<S> {
    /// True when the configuration is not memoised yet.
    fn insert(&mut self, hash: u64, lin: &Linearized, state: &S) -> bool {
        let (lo, must, info) = lin.key();
        let (hashes, spans, arena, states) = (&self.hashes, &self.spans, &self.arena, &self.states);
        let info_words = self.info_words;
        let found = self.table.find(hash, |&i| {
            let i = i as usize;
            let (elo, start, len) = spans[i];
            let len = len as usize;
            hashes[i] == hash
                && elo == lo
                && len == must.len()
                && &arena[start..start + len] == must
                && &arena[start + len..start + len + info_words] == info
                && states[i] == *state
        });
        found.is_none()
    }

    /// Memoises the configuration (known to be new).
    fn push(&mut self, hash: u64, lin: &Linearized, state: S) {
        let (lo, must, info) = lin.key();
        let i = self.states.len() as u32;
        self.hashes.push(hash);
        self.spans.push((lo, self.arena.len(), must.len() as u32));
        self.arena.extend_from_slice(must);
        self.arena.extend_from_slice(info);
        self.states.push(state);
        let hashes = &self.hashes;
        self.table.insert_unique(hash, i, |&j| hashes[j as usize]);
    }
}

/// One linearized op on the undo stack.
struct Frame {
    /// Its call entry.
    entry: u32,
    /// The state (cache index) before it.
    state: u32,
    /// Linearized greedily: a read-only op that succeeded in a fresh configuration. Such an op
    /// can be moved to the front of any linearization of the remaining ops (it changes
    /// nothing, and every op that must precede it already has), so if the configuration after
    /// it fails, the configuration before it fails too, and no sibling need be tried.
    forced: bool,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[inline]
fn state_hash<S: Hash>(s: &S) -> u64 {
    let mut h = FxHasher::default();
    s.hash(&mut h);
    splitmix(h.finish())
}

/// Runs the search over `ops` (sorted by `call`) from `init`.
pub(crate) fn search<M: Model>(
    model: &M,
    ctx: &mut M::Ctx,
    ops: &[SearchOp<M::Op>],
    init: M::State,
    budget: &Budget,
    stats: &mut SearchStats,
) -> Ending<M::State> {
    let n = ops.len();
    assert!(
        n < (u32::MAX as usize) / 2 - 2,
        "too many operations in one search"
    );
    // Entry 0 is the head; op i has call entry 2i+1 and return entry 2i+2.
    let mut order: Vec<(u64, u32)> = Vec::with_capacity(2 * n);
    for (i, o) in ops.iter().enumerate() {
        order.push((o.call, 2 * i as u32 + 1));
        if !o.info {
            order.push((o.ret, 2 * i as u32 + 2));
        }
    }
    order.sort_unstable();
    let mut next = vec![NIL; 2 * n + 1];
    let mut prev = vec![NIL; 2 * n + 1];
    let mut last = HEAD;
    for &(_, e) in &order {
        next[last as usize] = e;
        prev[e as usize] = last;
        last = e;
    }
    drop(order);

    // Symmetry groups of identical info ops: rank within the group, by invocation.
    let mut group = vec![u32::MAX; n];
    let mut rank = vec![0u32; n];
    let mut group_size: Vec<u32> = Vec::new();
    {
        let mut ids: FxHashMap<&M::Op, u32> = FxHashMap::default();
        for (i, o) in ops.iter().enumerate() {
            if o.info {
                let g = *ids.entry(&o.op).or_insert_with(|| {
                    group_size.push(0);
                    group_size.len() as u32 - 1
                });
                group[i] = g;
                rank[i] = group_size[g as usize];
                group_size[g as usize] += 1;
            }
        }
    }
    let mut group_done = vec![0u32; group_size.len()];
    let zobrist: Vec<u64> = (0..n as u64).map(|i| splitmix(i ^ 0x5851_F42D)).collect();

    let must_total = ops.iter().filter(|o| !o.info).count();
    let mut must_done = 0usize;
    let info_flags: Vec<bool> = ops.iter().map(|o| o.info).collect();
    let mut bits = Linearized::new(&info_flags);
    let mut zob = 0u64;
    let mut calls: Vec<Frame> = Vec::new();
    let mut cache = Cache {
        table: HashTable::with_capacity(4 * n + 16),
        hashes: Vec::new(),
        spans: Vec::new(),
        arena: Vec::new(),
        states: Vec::new(),
        info_words: bits.bits.len() - bits.must_words,
    };
    // The current state is always a memoised one: `state` indexes the cache.
    let init_hash = state_hash(&init);
    cache.push(init_hash, &bits, init);
    let mut state = 0u32;
    let entry_bytes = std::mem::size_of::<M::State>() + 8 + 16;
    let mut bytes = 0usize;
    let mut bytes_reported = 0usize;
    let mut progress_reported = 0usize;
    let mut best: Option<Stuck<M::State>> = None;

    let lift = |next: &mut [u32], prev: &mut [u32], e: u32, has_ret: bool| {
        let (p, nx) = (prev[e as usize], next[e as usize]);
        next[p as usize] = nx;
        if nx != NIL {
            prev[nx as usize] = p;
        }
        if has_ret {
            let r = e + 1;
            let (p, nx) = (prev[r as usize], next[r as usize]);
            next[p as usize] = nx;
            if nx != NIL {
                prev[nx as usize] = p;
            }
        }
    };
    let unlift = |next: &mut [u32], prev: &mut [u32], e: u32, has_ret: bool| {
        if has_ret {
            let r = e + 1;
            let (p, nx) = (prev[r as usize], next[r as usize]);
            next[p as usize] = r;
            if nx != NIL {
                prev[nx as usize] = r;
            }
        }
        let (p, nx) = (prev[e as usize], next[e as usize]);
        next[p as usize] = e;
        if nx != NIL {
            prev[nx as usize] = e;
        }
    };

    let read_only: Vec<bool> = ops.iter().map(|o| model.read_only(&o.op)).collect();
    let mut entry = next[HEAD as usize];
    // A fresh configuration first looks for a read-only op it can linearize (see `Frame`).
    let mut fresh = true;
    let mut iterations: u64 = 0;
    let ending = 'search: loop {
        iterations += 1;
        if iterations & (CHECK_EVERY - 1) == 0 {
            let now = bytes
                + model.ctx_bytes(ctx)
                + calls.capacity() * std::mem::size_of::<Frame>()
                + cache.table.capacity() * 5;
            if now >= bytes_reported {
                budget
                    .memory_used
                    .fetch_add(now - bytes_reported, Ordering::Relaxed);
            } else {
                budget
                    .memory_used
                    .fetch_sub(bytes_reported - now, Ordering::Relaxed);
            }
            bytes_reported = now;
            if let Some(p) = budget.progress_done {
                if stats.max_prefix > progress_reported {
                    p.fetch_add(
                        (stats.max_prefix - progress_reported) as u64,
                        Ordering::Relaxed,
                    );
                    progress_reported = stats.max_prefix;
                }
            }
            if budget.check().is_some() {
                break Ending::Aborted;
            }
        }
        if must_done == must_total {
            break Ending::Linearizable;
        }
        let mut stuck = false;
        if fresh {
            fresh = false;
            let mut e = next[HEAD as usize];
            while e != NIL && e & 1 == 1 {
                let i = (e as usize - 1) / 2;
                if read_only[i]
                    && model
                        .step(ctx, &cache.states[state as usize], &ops[i].op)
                        .is_some()
                {
                    bits.set(i);
                    let new_zob = zob ^ zobrist[i];
                    let hash = new_zob ^ cache.hashes[state as usize] ^ zob;
                    let current = cache.states[state as usize].clone();
                    if !cache.insert(hash, &bits, &current) {
                        // Already explored from here, and it failed: so does this configuration.
                        bits.clear(i);
                        stuck = true;
                        entry = e;
                        break;
                    }
                    bytes += entry_bytes + 8 * bits.stored_words() + model.heap_bytes(&current);
                    calls.push(Frame {
                        entry: e,
                        state,
                        forced: true,
                    });
                    state = cache.states.len() as u32;
                    cache.push(hash, &bits, current);
                    zob = new_zob;
                    if ops[i].info {
                        group_done[group[i] as usize] += 1;
                    } else {
                        must_done += 1;
                    }
                    stats.max_prefix = stats.max_prefix.max(calls.len());
                    lift(&mut next, &mut prev, e, !ops[i].info);
                    fresh = true;
                    continue 'search;
                }
                e = next[e as usize];
            }
            if !stuck {
                entry = next[HEAD as usize];
            }
        }
        if stuck || entry == NIL || entry & 1 == 0 {
            // Stuck: `entry` completes an op that had to be linearized by now.
            if !stuck && entry != NIL && best.as_ref().is_none_or(|b| calls.len() > b.prefix.len())
            {
                best = Some(Stuck {
                    prefix: calls.iter().map(|f| (f.entry as usize - 1) / 2).collect(),
                    blocked: (entry as usize - 1) / 2,
                    state: cache.states[state as usize].clone(),
                });
            }
            loop {
                let Some(frame) = calls.pop() else {
                    break 'search match best.take() {
                        Some(stuck) => Ending::NotLinearizable(stuck),
                        None => Ending::Linearizable,
                    };
                };
                let e = frame.entry;
                let i = (e as usize - 1) / 2;
                state = frame.state;
                bits.clear(i);
                zob ^= zobrist[i];
                if ops[i].info {
                    group_done[group[i] as usize] -= 1;
                } else {
                    must_done -= 1;
                }
                unlift(&mut next, &mut prev, e, !ops[i].info);
                if !frame.forced {
                    entry = next[e as usize];
                    break;
                }
            }
            continue;
        }
        let i = (entry as usize - 1) / 2;
        let o = &ops[i];
        // Read-only ops were tried when this configuration was fresh, and failed.
        if read_only[i] || (o.info && rank[i] != group_done[group[i] as usize]) {
            entry = next[entry as usize];
            continue;
        }
        let Some(new_state) = model.step(ctx, &cache.states[state as usize], &o.op) else {
            entry = next[entry as usize];
            continue;
        };
        bits.set(i);
        let new_zob = zob ^ zobrist[i];
        let hash = new_zob ^ state_hash(&new_state);
        if !cache.insert(hash, &bits, &new_state) {
            bits.clear(i);
            entry = next[entry as usize];
            continue;
        }
        bytes += entry_bytes + 8 * bits.stored_words() + model.heap_bytes(&new_state);
        calls.push(Frame {
            entry,
            state,
            forced: false,
        });
        state = cache.states.len() as u32;
        cache.push(hash, &bits, new_state);
        zob = new_zob;
        if o.info {
            group_done[group[i] as usize] += 1;
        } else {
            must_done += 1;
        }
        stats.max_prefix = stats.max_prefix.max(calls.len());
        lift(&mut next, &mut prev, entry, !o.info);
        fresh = true;
    };
    stats.states += cache.states.len() as u64 - 1;
    budget
        .memory_used
        .fetch_sub(bytes_reported, Ordering::Relaxed);
    if let Some(p) = budget.progress_done {
        let done = if matches!(ending, Ending::Aborted) {
            stats.max_prefix
        } else {
            n
        };
        if done > progress_reported {
            p.fetch_add((done - progress_reported) as u64, Ordering::Relaxed);
        }
    }
    ending
}
