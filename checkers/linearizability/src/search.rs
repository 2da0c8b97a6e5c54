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
//!
//! # One search over a product model: dead projections and backjumping
//!
//! When the model's state is a product of independent parts and every op touches exactly one
//! part ([`Model::part`]; [`crate::keyed::Keyed`], used to check a keyed history without
//! splitting it), plain WGL blows up: stuck on one key, it backtracks into other keys'
//! choices, and its memo cannot dedup the product of the keys' frontiers. The search then
//! reasons per part instead. Why it is sound:
//!
//! 1. The linearized set `L` of a configuration `C = (L, s)` is downward-closed under real-time
//!    precedence: an op is linearized only at its call entry, when no return entry precedes it
//!    in the list, so every op that returned before it was invoked is already in `L`. Hence `C`
//!    extends to a linearization of the history iff the remaining ops `R` are linearizable
//!    from `s` (their real-time order among themselves; nothing in `R` precedes anything in
//!    `L`).
//! 2. Locality (Herlihy & Wing), applied to `R`: `R` is linearizable from `s` iff for every
//!    part `k` the remaining ops of `k` are linearizable from `s_k`. (Only if: project a
//!    linearization onto `k`. If: per-part linearizations merge, as in the locality proof;
//!    `info` ops have no return, so precede nothing.) So whether `C` is dead depends on its
//!    projections `(k, L ∩ ops_k, s_k)`, and a projection, once dead, is dead in every
//!    configuration that has it. Dead projections are recorded exactly (part, state id,
//!    bitset of the part's linearized ops) and any configuration with one is pruned; only the
//!    projection on the part of the op just linearized changes, so only it is checked.
//! 3. Stuck at the return entry of op `X` on part `k` (it is the first return entry in the
//!    list), the projection on `k` is dead. Suppose not: take a linearization `σ` of `k`'s
//!    remaining ops from `s_k`, normalized to use identical `info` ops in invocation order
//!    (see above). Its first op `Y` is `X` or precedes `X`, so `Y` is invoked before `X`
//!    returns and its call entry is before `X`'s return entry: the walk tried `Y`. It can
//!    step. If read-only, the fresh scan would have linearized some read first (and never come
//!    back here, see 5). Otherwise its child's projection on `k`, `(L_k + Y, s_k.Y)`, is
//!    alive (the rest of `σ`), yet the child was pruned by a dead projection on `k`, or
//!    explored and came back to this configuration, which (4) happens only when it was found
//!    dead with blame `k`; or it hit the memo of whole configurations, which (6) implies a
//!    dead projection on `k`. Each is a contradiction.
//! 4. Backjumping: with part `b`'s projection dead at the current configuration, undo frames;
//!    a frame whose op is on another part left `b`'s projection unchanged, so its parent is
//!    dead too and its other alternatives need not be tried. The first frame on `b` (unless
//!    forced, see 5) is where the search resumes: its parent's projection on `b` differs.
//! 5. A forced (greedy read) frame on `b`: the read can go first in any order of `b`'s
//!    remaining ops, so the projection without it is dead too; it is recorded and the undo
//!    goes on. A read-only op whose child's projection is already dead makes the current
//!    configuration stuck with that read's part to blame, for the same reason.
//! 6. Invariant: no configuration on the stack has a recorded dead projection (a projection
//!    recorded dead is shared exactly by the configurations undone with it; those below have
//!    fewer of that part's ops), and every configuration undone had a recorded dead
//!    projection. So a configuration reached again, `C + Y` from the current `C`, had a dead
//!    projection on some part; on any part but `Y`'s it would equal `C`'s, which the
//!    invariant forbids. So it is on `Y`'s part, and is caught by the dead-projection check:
//!    projecting, the memo of whole configurations is never hit, and is not kept.
//! 7. A part found dead first: the joint walk explores whichever part it gets stuck on first,
//!    however hard, while another part may be dead in a few hundred steps (Porcupine's
//!    c50-bad: key "0" alone takes 9.7 M configurations to refute, key "1" 439; the joint
//!    search took 11 s). So before it, each part's ops are searched alone from the initial
//!    state, smallest part first, for a few thousand steps (on histories of at least
//!    [`PART_FIRST_MIN_OPS`] ops). A part whose ops are not
//!    linearizable from there has a dead projection in the initial configuration, which is in
//!    every configuration: by 2 the history is not linearizable, and that part's stuck point
//!    is the counterexample. Parts found linearizable, or not decided within the steps, are
//!    left to the joint search (it still decides the whole history).

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
#[derive(Clone, Copy)]
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
    /// The step cap given to [`search`] was reached first; search again without it.
    Paused,
}

/// What a search did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SearchStats {
    /// Distinct configurations memoised.
    pub states: u64,
    /// Longest linearized prefix, in ops.
    pub max_prefix: usize,
    /// Per-part projections proven dead (one search over a product model).
    pub dead_projections: u64,
    /// Choices on other parts undone without trying their alternatives (backjumps).
    pub backjumps: u64,
    /// Configurations found dead because the op that must go first can no longer succeed
    /// ([`Model::reachable`]).
    pub doomed: u64,
}

impl SearchStats {
    /// Adds another search's figures (the longest prefix is the longer one).
    pub fn add(&mut self, other: &SearchStats) {
        self.states += other.states;
        self.max_prefix = self.max_prefix.max(other.max_prefix);
        self.dead_projections += other.dead_projections;
        self.backjumps += other.backjumps;
        self.doomed += other.doomed;
    }
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
/// Zobrist keys of the linearized must ops combined with the state's hash.
///
/// Configurations with the same must ops and state but different `info` ops linearized are
/// chained under one table slot, and one is pruned when an entry of its chain has a subset of
/// its `info` ops linearized (subsumption): `info` ops precede nothing in real time and need
/// never happen, so any completion of the configuration with more of them also completes the
/// one with fewer (skip the extra ones). Without it, every subset of the crashed operations
/// open at a point of the history is a distinct configuration (Knossos' blowup).
struct Cache<S> {
    table: HashTable<u32>,
    hashes: Vec<u64>,
    /// Per entry: `lo`, start in `arena`, number of must words.
    spans: Vec<(u32, usize, u32)>,
    /// Per entry: the next entry with the same must ops and state (`NIL` ends the chain).
    chain: Vec<u32>,
    arena: Vec<u64>,
    states: Vec<S>,
    info_words: usize,
    /// The chain head [`Cache::insert`] found for the configuration [`Cache::push`] adds next.
    head: u32,
}

impl<S: Eq> Cache<S> {
    /// True when the configuration is neither memoised nor subsumed by a memoised one.
    fn insert(&mut self, hash: u64, lin: &Linearized, state: &S) -> bool {
        let (lo, must, info) = lin.key();
        let (hashes, spans, arena, states) = (&self.hashes, &self.spans, &self.arena, &self.states);
        let found = self.table.find(hash, |&i| {
            let i = i as usize;
            let (elo, start, len) = spans[i];
            let len = len as usize;
            hashes[i] == hash
                && elo == lo
                && len == must.len()
                && &arena[start..start + len] == must
                && states[i] == *state
        });
        let Some(&head) = found else {
            self.head = NIL;
            return true;
        };
        let mut e = head;
        while e != NIL {
            let (_, start, len) = self.spans[e as usize];
            let from = start + len as usize;
            let stored = &self.arena[from..from + self.info_words];
            if stored.iter().zip(info).all(|(s, c)| s & !c == 0) {
                return false;
            }
            e = self.chain[e as usize];
        }
        self.head = head;
        true
    }

    /// Memoises the configuration, just found new by [`Cache::insert`] (or the first one).
    fn push(&mut self, hash: u64, lin: &Linearized, state: S) {
        let (lo, must, info) = lin.key();
        let i = self.states.len() as u32;
        self.hashes.push(hash);
        self.spans.push((lo, self.arena.len(), must.len() as u32));
        self.chain.push(self.head);
        self.arena.extend_from_slice(must);
        self.arena.extend_from_slice(info);
        self.states.push(state);
        if self.head == NIL {
            let hashes = &self.hashes;
            self.table.insert_unique(hash, i, |&j| hashes[j as usize]);
        } else {
            let head = self.head;
            if let Some(slot) = self.table.find_mut(hash, |&j| j == head) {
                *slot = i;
            }
        }
        self.head = NIL;
    }
}

/// Per-part bookkeeping of one search over a product model whose ops each touch one part
/// ([`Model::part`], e.g. [`crate::keyed::Keyed`] without splitting): every part's projection of
/// the current configuration, and the projections proven dead.
struct Projections {
    /// Dense part index of each op.
    part: Vec<u32>,
    /// The model's part id of each dense part.
    part_id: Vec<u32>,
    /// Index of each op among its part's ops.
    local: Vec<u32>,
    /// Each part's linearized ops, over that part's ops.
    bits: Vec<Linearized>,
    /// Zobrist hash of each part's linearized ops.
    zob: Vec<u64>,
    dead: DeadSet,
}

/// Projections (part, linearized ops of the part, the part's state) from which the part's
/// remaining ops are not linearizable: exact entries, compact bitsets in one arena.
#[derive(Default)]
struct DeadSet {
    table: HashTable<u32>,
    hashes: Vec<u64>,
    /// Per entry: dense part, state id, `lo`, start in `arena`, number of must words.
    entries: Vec<(u32, u64, u32, usize, u32)>,
    arena: Vec<u64>,
}

impl Projections {
    /// Per-part bookkeeping, when every op has a part and there are at least two parts (with
    /// one part the projection is the whole configuration, and plain WGL is the same search).
    fn new<M: Model>(model: &M, ops: &[SearchOp<M::Op>]) -> Option<Projections> {
        let mut dense: FxHashMap<u32, u32> = FxHashMap::default();
        let mut part_id = Vec::new();
        let mut part = Vec::with_capacity(ops.len());
        let mut local = Vec::with_capacity(ops.len());
        let mut infos: Vec<Vec<bool>> = Vec::new();
        for o in ops {
            let id = model.part(&o.op)?;
            let d = *dense.entry(id).or_insert_with(|| {
                part_id.push(id);
                infos.push(Vec::new());
                part_id.len() as u32 - 1
            });
            part.push(d);
            local.push(infos[d as usize].len() as u32);
            infos[d as usize].push(o.info);
        }
        if part_id.len() < 2 {
            return None;
        }
        Some(Projections {
            part,
            part_id,
            local,
            zob: vec![0; infos.len()],
            bits: infos.iter().map(|f| Linearized::new(f)).collect(),
            dead: DeadSet::default(),
        })
    }

    /// Marks op `i` linearized (or, called again, not): its part's projection changes.
    #[inline]
    fn toggle(&mut self, i: usize, zobrist: u64, set: bool) {
        let k = self.part[i] as usize;
        if set {
            self.bits[k].set(self.local[i] as usize);
        } else {
            self.bits[k].clear(self.local[i] as usize);
        }
        self.zob[k] ^= zobrist;
    }

    #[inline]
    fn hash(&self, k: u32, state_id: u64) -> u64 {
        self.zob[k as usize] ^ splitmix(state_id.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ u64::from(k))
    }

    /// Whether part `k`'s projection, with its state's id `state_id`, is known dead.
    fn is_dead(&self, k: u32, state_id: u64) -> bool {
        self.find(self.hash(k, state_id), k, state_id).is_some()
    }

    fn find(&self, hash: u64, k: u32, state_id: u64) -> Option<&u32> {
        let lin = &self.bits[k as usize];
        let (lo, must, info) = lin.key();
        let d = &self.dead;
        d.table.find(hash, |&e| {
            let (ek, es, elo, start, len) = d.entries[e as usize];
            let len = len as usize;
            d.hashes[e as usize] == hash
                && ek == k
                && es == state_id
                && elo == lo
                && len == must.len()
                && &d.arena[start..start + len] == must
                && &d.arena[start + len..start + len + info.len()] == info
        })
    }

    /// Records part `k`'s current projection as dead; the bytes it took.
    fn record(&mut self, k: u32, state_id: u64) -> usize {
        let hash = self.hash(k, state_id);
        if self.find(hash, k, state_id).is_some() {
            return 0;
        }
        let (lo, must, info) = self.bits[k as usize].key();
        let d = &mut self.dead;
        let e = d.entries.len() as u32;
        d.hashes.push(hash);
        d.entries
            .push((k, state_id, lo, d.arena.len(), must.len() as u32));
        d.arena.extend_from_slice(must);
        d.arena.extend_from_slice(info);
        let hashes = &d.hashes;
        d.table.insert_unique(hash, e, |&j| hashes[j as usize]);
        8 + 32 + 8 + 8 * (must.len() + info.len())
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

/// Entries scanned at most when looking for an op that can no longer succeed.
const DOOM_SCAN: usize = 256;

/// An op that must still be linearized but can no longer succeed from `state`, whatever order
/// the ops that may go before it take: its return entry comes before any non-monotone op's
/// call entry on its part (only monotone ops may go before it), and [`Model::reachable`] says
/// no. Scans at most [`DOOM_SCAN`] entries of the list from the head.
#[allow(clippy::too_many_arguments)]
#[inline]
fn doomed_op<M: Model>(
    model: &M,
    ctx: &mut M::Ctx,
    state: &M::State,
    ops: &[SearchOp<M::Op>],
    monotone: &[bool],
    part: Option<&[u32]>,
    next: &[u32],
    blocked_parts: &mut Vec<u32>,
) -> Option<usize> {
    blocked_parts.clear();
    let mut e = next[HEAD as usize];
    let mut scanned = 0;
    while e != NIL && scanned < DOOM_SCAN {
        scanned += 1;
        let i = (e as usize - 1) / 2;
        let blocked = |blocked_parts: &Vec<u32>| match part {
            None => !blocked_parts.is_empty(),
            Some(p) => blocked_parts.contains(&p[i]),
        };
        if e & 1 == 1 {
            if !monotone[i] && !blocked(blocked_parts) {
                match part {
                    None => return None,
                    Some(p) => blocked_parts.push(p[i]),
                }
            }
        } else if !blocked(blocked_parts) && !model.reachable(ctx, state, &ops[i].op) {
            return Some(i);
        }
        e = next[e as usize];
    }
    None
}

/// Steps each part's projection is searched alone before one search over a product model.
const PART_FIRST_STEPS: u64 = 1 << 12;

/// Ops from which a search over a product model first searches each part alone: below, the
/// joint search is cheap, and the parts' searches (up to [`PART_FIRST_STEPS`] each, wasted on
/// a valid history) would cost as much as it does (Porcupine's c10-ok: 337 ops, 1 ms).
const PART_FIRST_MIN_OPS: usize = 512;

/// Before one search over a product model: each part's ops searched alone from the initial
/// state, smallest part first, for at most [`PART_FIRST_STEPS`] steps. A part whose ops are not
/// linearizable has a dead projection in the initial configuration, so the history is not
/// linearizable (point 7 of the module docs): its stuck point, in `ops`' indices, is returned.
/// `Some(Ending::Aborted)` when the budget ran out; `None` when no part was found dead.
fn dead_part_first<M: Model>(
    model: &M,
    ctx: &mut M::Ctx,
    ops: &[SearchOp<M::Op>],
    init: &M::State,
    parts: &Projections,
    budget: &Budget,
    stats: &mut SearchStats,
) -> Option<Ending<M::State>> {
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); parts.part_id.len()];
    for (i, &k) in parts.part.iter().enumerate() {
        members[k as usize].push(i);
    }
    members.sort_by_key(Vec::len);
    // Progress is the joint search's to report.
    let alone = Budget {
        progress_done: None,
        ..*budget
    };
    for member in members {
        let sub: Vec<SearchOp<M::Op>> = member.iter().map(|&i| ops[i].clone()).collect();
        let mut sub_stats = SearchStats::default();
        let ending = search(
            model,
            ctx,
            &sub,
            init.clone(),
            &alone,
            &mut sub_stats,
            Some(PART_FIRST_STEPS),
        );
        stats.states += sub_stats.states;
        stats.doomed += sub_stats.doomed;
        match ending {
            Ending::NotLinearizable(stuck) => {
                stats.dead_projections += 1;
                stats.max_prefix = stats.max_prefix.max(stuck.prefix.len());
                return Some(Ending::NotLinearizable(Stuck {
                    prefix: stuck.prefix.iter().map(|&j| member[j]).collect(),
                    blocked: member[stuck.blocked],
                    state: stuck.state,
                }));
            }
            Ending::Aborted => return Some(Ending::Aborted),
            Ending::Linearizable | Ending::Paused => {}
        }
    }
    None
}

/// Runs the search over `ops` (sorted by `call`) from `init`.
pub(crate) fn search<M: Model>(
    model: &M,
    ctx: &mut M::Ctx,
    ops: &[SearchOp<M::Op>],
    init: M::State,
    budget: &Budget,
    stats: &mut SearchStats,
    step_cap: Option<u64>,
) -> Ending<M::State> {
    let step_cap = step_cap.unwrap_or(u64::MAX);
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
    // The memo hashes must ops only: configurations that differ in `info` ops share a chain.
    let memo_zob: Vec<u64> = (0..n)
        .map(|i| if ops[i].info { 0 } else { zobrist[i] })
        .collect();

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
        chain: Vec::new(),
        head: NIL,
    };
    let parts = Projections::new(model, ops);
    if let Some(p) = parts.as_ref().filter(|_| n >= PART_FIRST_MIN_OPS) {
        match dead_part_first(model, ctx, ops, &init, p, budget, stats) {
            Some(Ending::NotLinearizable(stuck)) => return Ending::NotLinearizable(stuck),
            Some(_) => return Ending::Aborted,
            None => {}
        }
    }
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
    let monotone: Vec<bool> = ops.iter().map(|o| model.monotone(&o.op)).collect();
    let mut blocked_parts: Vec<u32> = Vec::new();
    // Without ops that grow the state (monotone but not read-only), `Model::reachable` prunes
    // nothing the walk does not already find stuck: skip the scan.
    let grows = (0..n).any(|i| monotone[i] && !read_only[i]);
    let mut parts = parts;
    // Projecting, the memo of whole configurations is never hit (a configuration reached again
    // has a dead projection on the part of the op just linearized, which is checked first; see
    // the module docs), so it is not kept: `cache.states` is then just the stack of states.
    let memo = parts.is_none();
    let mut configs: u64 = 0;
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
                + if memo {
                    0
                } else {
                    cache.states.capacity() * entry_bytes
                }
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
        if iterations > step_cap {
            break Ending::Paused;
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
                    let mut dead = false;
                    if let Some(p) = parts.as_mut() {
                        p.toggle(i, zobrist[i], true);
                        let k = p.part[i];
                        let current = &cache.states[state as usize];
                        dead =
                            p.is_dead(k, model.part_state_id(ctx, current, p.part_id[k as usize]));
                    }
                    bits.set(i);
                    let new_zob = zob ^ memo_zob[i];
                    let hash = if memo {
                        new_zob ^ cache.hashes[state as usize] ^ zob
                    } else {
                        0
                    };
                    let current = cache.states[state as usize].clone();
                    if dead || (memo && !cache.insert(hash, &bits, &current)) {
                        // Already explored from here, and it failed: so does this configuration
                        // (and, projecting, the projection on this op's part: it is unchanged but
                        // for a read that can go first in any order of the part's remaining ops).
                        bits.clear(i);
                        if let Some(p) = parts.as_mut() {
                            p.toggle(i, zobrist[i], false);
                        }
                        stuck = true;
                        entry = e;
                        break;
                    }
                    calls.push(Frame {
                        entry: e,
                        state,
                        forced: true,
                    });
                    state = cache.states.len() as u32;
                    configs += 1;
                    if memo {
                        bytes += entry_bytes + 8 * bits.stored_words() + model.heap_bytes(&current);
                        cache.push(hash, &bits, current);
                    } else {
                        cache.states.push(current);
                    }
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
                // Every op whose return entry comes before any non-monotone op's call entry
                // (on its part) can only be reached through monotone ops. If one of them can no
                // longer succeed, this configuration is dead: no order of the ops that may go
                // before it makes it possible (see `Model::reachable`).
                if e != NIL && grows {
                    if let Some(x) = doomed_op(
                        model,
                        ctx,
                        &cache.states[state as usize],
                        ops,
                        &monotone,
                        parts.as_ref().map(|p| p.part.as_slice()),
                        &next,
                        &mut blocked_parts,
                    ) {
                        stats.doomed += 1;
                        entry = 2 * x as u32 + 2;
                    }
                }
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
            // Projecting, the stuck op's part is to blame: its projection is dead (see the module
            // docs), and so is every configuration on the stack that shares it.
            let mut blame = u32::MAX;
            if entry == NIL {
                // Unreachable (every remaining must op has a return entry), but if it were
                // reached no part could be blamed: finish as plain WGL, which needs no blame.
                parts = None;
            } else if let Some(p) = parts.as_mut() {
                blame = p.part[(entry as usize - 1) / 2];
                let current = &cache.states[state as usize];
                let id = model.part_state_id(ctx, current, p.part_id[blame as usize]);
                bytes += p.record(blame, id);
                stats.dead_projections += 1;
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
                if !memo {
                    cache.states.truncate(state as usize + 1);
                }
                bits.clear(i);
                zob ^= memo_zob[i];
                if ops[i].info {
                    group_done[group[i] as usize] -= 1;
                } else {
                    must_done -= 1;
                }
                unlift(&mut next, &mut prev, e, !ops[i].info);
                let resume = match parts.as_mut() {
                    None => !frame.forced,
                    Some(p) => {
                        p.toggle(i, zobrist[i], false);
                        if p.part[i] != blame {
                            // A choice on another part: the blamed projection is the same
                            // without it, so this configuration is dead too (backjump).
                            stats.backjumps += u64::from(!frame.forced);
                            false
                        } else if frame.forced {
                            // A read that can go first: the projection without it is dead too.
                            let current = &cache.states[state as usize];
                            let id = model.part_state_id(ctx, current, p.part_id[blame as usize]);
                            bytes += p.record(blame, id);
                            stats.dead_projections += 1;
                            false
                        } else {
                            true
                        }
                    }
                };
                if resume {
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
        if let Some(p) = parts.as_mut() {
            p.toggle(i, zobrist[i], true);
            let k = p.part[i];
            if p.is_dead(
                k,
                model.part_state_id(ctx, &new_state, p.part_id[k as usize]),
            ) {
                p.toggle(i, zobrist[i], false);
                entry = next[entry as usize];
                continue;
            }
        }
        bits.set(i);
        let new_zob = zob ^ memo_zob[i];
        let hash = if memo {
            new_zob ^ state_hash(&new_state)
        } else {
            0
        };
        if memo && !cache.insert(hash, &bits, &new_state) {
            // Projecting, its projection on this op's part is dead (see the module docs).
            bits.clear(i);
            if let Some(p) = parts.as_mut() {
                p.toggle(i, zobrist[i], false);
            }
            entry = next[entry as usize];
            continue;
        }
        calls.push(Frame {
            entry,
            state,
            forced: false,
        });
        state = cache.states.len() as u32;
        configs += 1;
        if memo {
            bytes += entry_bytes + 8 * bits.stored_words() + model.heap_bytes(&new_state);
            cache.push(hash, &bits, new_state);
        } else {
            cache.states.push(new_state);
        }
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
    stats.states += configs;
    budget
        .memory_used
        .fetch_sub(bytes_reported, Ordering::Relaxed);
    if let (Some(p), Ending::Paused) = (budget.progress_done, &ending) {
        // The part is searched again from the start: it reports its progress then.
        p.fetch_sub(progress_reported as u64, Ordering::Relaxed);
    } else if let Some(p) = budget.progress_done {
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
