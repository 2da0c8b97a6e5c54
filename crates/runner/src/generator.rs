//! Generators: what operations each worker asks for, and when.
//!
//! A [`Gen`] is an immutable description (cheap to clone) built from an op source and
//! combinators. Each worker turns it into its own [`GenState`] with [`Gen::start`], driven by
//! its own random stream, so what one worker asks for never depends on what another did or
//! on scheduling.
//!
//! # Shares: how "overall" quantities are split
//!
//! Workers do not coordinate. Quantities stated for the whole test are split deterministically
//! among the `count` workers running a generator (its [`Share`]): [`Gen::limit`]`(n)` gives
//! worker `i` `n / count` ops plus one if `i < n % count` (so [`Gen::once`] is worker 0's);
//! [`Gen::rate`]`(r)` spaces each worker's ops `count / r` seconds apart; [`Gen::stagger`]`(dt)`
//! delays each worker's ops by a uniform random `0..2·dt·count`. [`Gen::each_thread`] makes
//! every worker run its generator whole (a share of one), and [`Gen::per_key`] splits workers
//! into groups, one key per group at a time.
//!
//! # What is deterministic
//!
//! Given the seed, the worker's index, the concurrency and the generator, the sequence of
//! requests (`f`, key, value) a worker asks for, and the random delays it draws, are fixed.
//! Outcomes of operations never feed back into generators. Time decides only where a
//! sequence stops: a [`Gen::time_limit`] cuts it short, and so does a failing client
//! open (the request is then recorded as a `fail` with `no-client`, still in sequence). A time
//! limit nested inside [`Gen::mix`] also changes which branches later choices draw from, so
//! put time limits outermost for sequences that are deterministic up to their cut.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// One request a worker sends to its client.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    /// The function: `read`, `write`, `cas`, `add`, ...
    pub f: Cow<'static, str>,
    /// The key, set by [`Gen::per_key`]; `None` for single-key workloads.
    pub key: Option<Value>,
    /// The argument.
    pub value: Value,
}

impl Op {
    /// An operation with a static `f`, no key and `value`.
    pub fn new(f: &'static str, value: Value) -> Self {
        Op {
            f: Cow::Borrowed(f),
            key: None,
            value,
        }
    }
}

/// A worker's position among the workers sharing one generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    /// This worker's index among them, from 0.
    pub index: usize,
    /// How many workers share it; at least 1.
    pub count: usize,
}

impl Share {
    /// This worker's part of `n` things split as evenly as possible, lower indices first.
    pub fn part_of(self, n: u64) -> u64 {
        let count = self.count.max(1) as u64;
        n / count + u64::from((self.index as u64) < n % count)
    }
}

/// What an op source sees when asked for a request.
pub struct OpCtx<'a> {
    /// The worker's random stream.
    pub rng: &'a mut ChaCha8Rng,
    /// The worker's share of this source.
    pub share: Share,
    /// How many requests this worker drew from this source instance before.
    pub n: u64,
}

impl OpCtx<'_> {
    /// A number no other worker sharing this source draws from it: `n * count + index`.
    pub fn unique(&self) -> u64 {
        self.n * self.share.count as u64 + self.share.index as u64
    }
}

type OpFn = dyn Fn(&mut OpCtx<'_>) -> Op + Send + Sync;

/// A generator description. Build with [`Gen::source`] and the combinators; start per worker.
#[derive(Clone)]
pub struct Gen(Arc<Node>);

enum Node {
    Source(Arc<OpFn>),
    Mix(Vec<Gen>),
    Limit(u64, Gen),
    Stagger(Duration, Gen),
    Rate(f64, Gen),
    TimeLimit(Duration, Gen),
    Phases(Vec<Gen>),
    PerKey(PerKey, Gen),
    EachThread(Gen),
}

/// How [`Gen::per_key`] hands out keys, as in `jepsen.independent/concurrent-generator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerKey {
    /// Workers per key; the share of workers must be a multiple of it.
    pub threads_per_key: usize,
    /// Operations on each key, split among the key's workers.
    pub ops_per_key: u64,
    /// Stop after keys `0..keys`; `None` for no limit.
    pub keys: Option<u64>,
}

impl fmt::Debug for Gen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            Node::Source(_) => f.write_str("source"),
            Node::Mix(gs) => f.debug_tuple("mix").field(gs).finish(),
            Node::Limit(n, g) => f.debug_tuple("limit").field(n).field(g).finish(),
            Node::Stagger(d, g) => f.debug_tuple("stagger").field(d).field(g).finish(),
            Node::Rate(r, g) => f.debug_tuple("rate").field(r).field(g).finish(),
            Node::TimeLimit(d, g) => f.debug_tuple("time_limit").field(d).field(g).finish(),
            Node::Phases(gs) => f.debug_tuple("phases").field(gs).finish(),
            Node::PerKey(p, g) => f.debug_tuple("per_key").field(p).field(g).finish(),
            Node::EachThread(g) => f.debug_tuple("each_thread").field(g).finish(),
        }
    }
}

/// A generator that cannot run with the given concurrency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenError {
    /// Per-key groups must divide the workers evenly.
    #[error("per-key generator: {workers} workers cannot form groups of {threads_per_key}; use a concurrency that is a multiple of {threads_per_key}")]
    PerKeyGroups {
        /// Workers sharing the per-key generator.
        workers: usize,
        /// The requested group size.
        threads_per_key: usize,
    },
    /// A rate must be positive and finite.
    #[error("rate {0} ops/s must be positive and finite")]
    Rate(String),
    /// A generator needs at least one worker.
    #[error("concurrency must be at least 1")]
    NoWorkers,
}

impl Gen {
    fn wrap(node: Node) -> Gen {
        Gen(Arc::new(node))
    }

    /// An endless source: each request is `f(ctx)`.
    pub fn source(f: impl Fn(&mut OpCtx<'_>) -> Op + Send + Sync + 'static) -> Gen {
        Gen::wrap(Node::Source(Arc::new(f)))
    }

    /// An endless source of the same request.
    pub fn repeat(op: Op) -> Gen {
        Gen::source(move |_| op.clone())
    }

    /// Each request comes from one of `gens`, chosen uniformly at random among those not
    /// exhausted; ends when all are.
    pub fn mix(gens: Vec<Gen>) -> Gen {
        Gen::wrap(Node::Mix(gens))
    }

    /// `gens` one after the other, each until exhausted. Each worker moves on by itself;
    /// the runner's final generator is the phase that waits for everyone.
    pub fn phases(gens: Vec<Gen>) -> Gen {
        Gen::wrap(Node::Phases(gens))
    }

    /// At most `n` requests overall, split among the workers sharing this generator.
    pub fn limit(self, n: u64) -> Gen {
        Gen::wrap(Node::Limit(n, self))
    }

    /// Exactly one request overall: worker 0's (of those sharing this generator).
    pub fn once(self) -> Gen {
        self.limit(1)
    }

    /// Every worker runs this generator as if it were the only one (limits and rates are not split).
    pub fn each_thread(self) -> Gen {
        Gen::wrap(Node::EachThread(self))
    }

    /// Delays each request by a random time, uniform in `0..2·mean` overall (so the shared
    /// stream of requests has mean spacing `mean` when workers keep up).
    pub fn stagger(self, mean: Duration) -> Gen {
        Gen::wrap(Node::Stagger(mean, self))
    }

    /// At most `ops_per_sec` requests a second overall, evenly spaced per worker.
    pub fn rate(self, ops_per_sec: f64) -> Gen {
        Gen::wrap(Node::Rate(ops_per_sec, self))
    }

    /// Requests only until `limit` after this worker first asked; a request whose delay
    /// would end past that is not made.
    pub fn time_limit(self, limit: Duration) -> Gen {
        Gen::wrap(Node::TimeLimit(limit, self))
    }

    /// Independent keys: workers form groups of `threads_per_key`; group `g` of `G` works
    /// on keys `g, g+G, g+2G, ...`, `ops_per_key` requests each (split within the group),
    /// then moves to its next key. The inner generator starts afresh for every key.
    pub fn per_key(self, per_key: PerKey) -> Gen {
        Gen::wrap(Node::PerKey(per_key, self))
    }

    /// Checks that this generator can run with `workers` workers sharing it.
    pub fn check(&self, workers: usize) -> Result<(), GenError> {
        if workers == 0 {
            return Err(GenError::NoWorkers);
        }
        match &*self.0 {
            Node::Source(_) => Ok(()),
            Node::Mix(gs) | Node::Phases(gs) => gs.iter().try_for_each(|g| g.check(workers)),
            Node::Limit(_, g) | Node::Stagger(_, g) | Node::TimeLimit(_, g) => g.check(workers),
            Node::Rate(r, g) => {
                if !(r.is_finite() && *r > 0.0) {
                    return Err(GenError::Rate(r.to_string()));
                }
                g.check(workers)
            }
            Node::EachThread(g) => g.check(1),
            Node::PerKey(p, g) => {
                if workers.checked_rem(p.threads_per_key) != Some(0) {
                    return Err(GenError::PerKeyGroups {
                        workers,
                        threads_per_key: p.threads_per_key,
                    });
                }
                g.check(p.threads_per_key)
            }
        }
    }

    /// This worker's running state of the generator.
    pub fn start(&self, share: Share) -> GenState {
        let inner = match &*self.0 {
            Node::Source(f) => Inner::Source {
                f: f.clone(),
                n: 0,
                share,
            },
            Node::Mix(gs) => Inner::Mix(gs.iter().map(|g| g.start(share)).collect()),
            Node::Limit(n, g) => Inner::Limit {
                left: share.part_of(*n),
                inner: Box::new(g.start(share)),
            },
            Node::Stagger(mean, g) => Inner::Stagger {
                max_ns: 2.0 * mean.as_nanos() as f64 * share.count as f64,
                inner: Box::new(g.start(share)),
            },
            Node::Rate(r, g) => Inner::Rate {
                interval: Duration::from_secs_f64(share.count as f64 / r.max(f64::MIN_POSITIVE)),
                next: None,
                inner: Box::new(g.start(share)),
            },
            Node::TimeLimit(limit, g) => Inner::TimeLimit {
                limit: *limit,
                deadline: None,
                inner: Box::new(g.start(share)),
            },
            Node::Phases(gs) => Inner::Phases {
                gens: gs.clone(),
                at: 0,
                current: None,
                share,
            },
            Node::EachThread(g) => return g.start(Share { index: 0, count: 1 }),
            Node::PerKey(p, g) => {
                let t = p.threads_per_key.max(1);
                let groups = (share.count / t).max(1) as u64;
                Inner::PerKey {
                    per_key: *p,
                    gen: g.clone(),
                    key: (share.index / t) as u64 % groups,
                    groups,
                    share: Share {
                        index: share.index % t,
                        count: t,
                    },
                    current: None,
                }
            }
        };
        GenState(inner)
    }
}

/// A request, and the earliest instant to send it.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    /// The request.
    pub op: Op,
    /// Do not invoke before this instant.
    pub at: Instant,
}

/// One worker's running state of a [`Gen`].
pub struct GenState(Inner);

enum Inner {
    Source {
        f: Arc<OpFn>,
        n: u64,
        share: Share,
    },
    Mix(Vec<GenState>),
    Limit {
        left: u64,
        inner: Box<GenState>,
    },
    Stagger {
        max_ns: f64,
        inner: Box<GenState>,
    },
    Rate {
        interval: Duration,
        next: Option<Instant>,
        inner: Box<GenState>,
    },
    TimeLimit {
        limit: Duration,
        deadline: Option<Instant>,
        inner: Box<GenState>,
    },
    Phases {
        gens: Vec<Gen>,
        at: usize,
        current: Option<Box<GenState>>,
        share: Share,
    },
    PerKey {
        per_key: PerKey,
        gen: Gen,
        key: u64,
        groups: u64,
        share: Share,
        current: Option<(Box<GenState>, bool)>,
    },
    Done,
}

impl GenState {
    /// The next request this worker asks for, given the time `now`; `None` once exhausted
    /// (and forever after).
    pub fn next(&mut self, rng: &mut ChaCha8Rng, now: Instant) -> Option<Pending> {
        let out = self.step(rng, now);
        if out.is_none() {
            self.0 = Inner::Done;
        }
        out
    }

    fn step(&mut self, rng: &mut ChaCha8Rng, now: Instant) -> Option<Pending> {
        match &mut self.0 {
            Inner::Done => None,
            Inner::Source { f, n, share } => {
                let op = f(&mut OpCtx {
                    rng,
                    share: *share,
                    n: *n,
                });
                *n += 1;
                Some(Pending { op, at: now })
            }
            Inner::Mix(states) => loop {
                if states.is_empty() {
                    return None;
                }
                let i = if states.len() == 1 {
                    0
                } else {
                    rng.random_range(0..states.len())
                };
                match states[i].next(rng, now) {
                    Some(p) => return Some(p),
                    None => {
                        states.remove(i);
                    }
                }
            },
            Inner::Limit { left, inner } => {
                if *left == 0 {
                    return None;
                }
                let p = inner.next(rng, now)?;
                *left -= 1;
                Some(p)
            }
            Inner::Stagger { max_ns, inner } => {
                let mut p = inner.next(rng, now)?;
                let delay = if *max_ns > 0.0 {
                    rng.random_range(0.0..*max_ns)
                } else {
                    0.0
                };
                p.at += Duration::from_nanos(delay as u64);
                Some(p)
            }
            Inner::Rate {
                interval,
                next,
                inner,
            } => {
                let mut p = inner.next(rng, now)?;
                if let Some(slot) = *next {
                    p.at = p.at.max(slot);
                }
                *next = Some(p.at + *interval);
                Some(p)
            }
            Inner::TimeLimit {
                limit,
                deadline,
                inner,
            } => {
                let deadline = *deadline.get_or_insert(now + *limit);
                if now >= deadline {
                    return None;
                }
                let p = inner.next(rng, now)?;
                (p.at < deadline).then_some(p)
            }
            Inner::Phases {
                gens,
                at,
                current,
                share,
            } => loop {
                if current.is_none() {
                    let g = gens.get(*at)?;
                    *current = Some(Box::new(g.start(*share)));
                }
                if let Some(p) = current.as_mut().and_then(|c| c.next(rng, now)) {
                    return Some(p);
                }
                *current = None;
                *at += 1;
            },
            Inner::PerKey {
                per_key,
                gen,
                key,
                groups,
                share,
                current,
            } => loop {
                if per_key.keys.is_some_and(|max| *key >= max) {
                    return None;
                }
                let (state, fresh) = current.get_or_insert_with(|| {
                    (
                        Box::new(gen.clone().limit(per_key.ops_per_key).start(*share)),
                        true,
                    )
                });
                match state.next(rng, now) {
                    Some(mut p) => {
                        *fresh = false;
                        p.op.key = Some(Value::from(*key));
                        return Some(p);
                    }
                    // A fresh key that yields nothing means no later key would either.
                    None if *fresh => return None,
                    None => {
                        *current = None;
                        *key += *groups;
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn rng(seed: u64, worker: u64) -> ChaCha8Rng {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        r.set_stream(worker);
        r
    }

    fn register() -> Gen {
        let read = Gen::repeat(Op::new("read", Value::Null));
        let write = Gen::source(|c| Op::new("write", json!(c.rng.random_range(0..5))));
        let cas = Gen::source(|c| {
            Op::new(
                "cas",
                json!([c.rng.random_range(0..5), c.rng.random_range(0..5)]),
            )
        });
        Gen::mix(vec![read, write, cas])
    }

    /// Drains a worker's requests (up to `max`), ignoring delays; returns ops and delays.
    fn drain(g: &Gen, share: Share, seed: u64, max: usize) -> Vec<(Op, Duration)> {
        let mut state = g.start(share);
        let mut r = rng(seed, share.index as u64);
        let now = Instant::now();
        let mut out = Vec::new();
        while out.len() < max {
            let Some(p) = state.next(&mut r, now) else {
                break;
            };
            out.push((p.op, p.at - now));
        }
        out
    }

    #[test]
    fn same_seed_same_requests_per_worker() {
        let g = register().stagger(Duration::from_millis(10)).limit(1000);
        for w in 0..4 {
            let share = Share { index: w, count: 4 };
            let a = drain(&g, share, 42, usize::MAX);
            assert_eq!(a, drain(&g, share, 42, usize::MAX), "worker {w}");
            assert_ne!(a, drain(&g, share, 43, usize::MAX), "another seed differs");
            assert_eq!(a.len(), 250, "limit splits 1000 over 4 workers");
        }
        let w0 = drain(&g, Share { index: 0, count: 4 }, 42, 50);
        let w1 = drain(&g, Share { index: 1, count: 4 }, 42, 50);
        assert_ne!(w0, w1, "workers draw from separate streams");
    }

    #[test]
    fn limit_and_once_split_deterministically() {
        let g = register().limit(10);
        let counts: Vec<usize> = (0..4)
            .map(|i| drain(&g, Share { index: i, count: 4 }, 1, 100).len())
            .collect();
        assert_eq!(counts, [3, 3, 2, 2]);
        let once = register().once();
        let counts: Vec<usize> = (0..3)
            .map(|i| drain(&once, Share { index: i, count: 3 }, 1, 100).len())
            .collect();
        assert_eq!(counts, [1, 0, 0]);
        let each = register().once().each_thread();
        let counts: Vec<usize> = (0..3)
            .map(|i| drain(&each, Share { index: i, count: 3 }, 1, 100).len())
            .collect();
        assert_eq!(counts, [1, 1, 1]);
    }

    #[test]
    fn stagger_delays_average_the_overall_mean_and_rate_spaces_ops() {
        let mean = Duration::from_millis(10);
        let ops = drain(
            &register().stagger(mean),
            Share { index: 0, count: 5 },
            7,
            4000,
        );
        let avg = ops.iter().map(|(_, d)| d.as_secs_f64()).sum::<f64>() / ops.len() as f64;
        // Per worker the mean is 5 × 10 ms: five workers together make one op per 10 ms.
        assert!((avg - 0.050).abs() < 0.003, "mean delay {avg}");
        assert!(ops.iter().all(|(_, d)| *d < Duration::from_millis(100)));

        let g = register().rate(100.0);
        let mut state = g.start(Share { index: 0, count: 2 });
        let mut r = rng(0, 0);
        let now = Instant::now();
        let ats: Vec<Instant> = (0..5)
            .map(|_| state.next(&mut r, now).unwrap().at)
            .collect();
        for w in ats.windows(2) {
            assert_eq!(
                w[1] - w[0],
                Duration::from_millis(20),
                "2 workers at 100/s: 20 ms apart each"
            );
        }
    }

    #[test]
    fn time_limit_ends_the_sequence_and_never_schedules_past_it() {
        let g = register()
            .stagger(Duration::from_millis(30))
            .time_limit(Duration::from_millis(100));
        let mut state = g.start(Share { index: 0, count: 1 });
        let mut r = rng(3, 0);
        let start = Instant::now();
        let mut now = start;
        let mut n = 0;
        while let Some(p) = state.next(&mut r, now) {
            assert!(p.at < start + Duration::from_millis(100));
            now = p.at;
            n += 1;
        }
        assert!(n > 0);
        assert!(
            state.next(&mut r, start).is_none(),
            "exhausted stays exhausted"
        );
    }

    #[test]
    fn phases_run_in_order() {
        let g = Gen::phases(vec![
            Gen::repeat(Op::new("write", json!(1))).limit(2),
            Gen::repeat(Op::new("read", Value::Null)).limit(1),
        ]);
        let fs: Vec<String> = drain(&g, Share { index: 0, count: 1 }, 0, 10)
            .into_iter()
            .map(|(o, _)| o.f.into_owned())
            .collect();
        assert_eq!(fs, ["write", "write", "read"]);
    }

    #[test]
    fn per_key_groups_work_on_disjoint_keys_with_bounded_ops() {
        let g = register().per_key(PerKey {
            threads_per_key: 2,
            ops_per_key: 5,
            keys: Some(6),
        });
        assert!(g.check(6).is_ok());
        assert_eq!(
            g.check(5),
            Err(GenError::PerKeyGroups {
                workers: 5,
                threads_per_key: 2
            })
        );
        let mut per_key: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for w in 0..6 {
            for (op, _) in drain(&g, Share { index: w, count: 6 }, 9, 1000) {
                per_key
                    .entry(op.key.unwrap().as_u64().unwrap())
                    .or_default()
                    .push(w);
            }
        }
        assert_eq!(
            per_key.keys().copied().collect::<Vec<_>>(),
            (0..6).collect::<Vec<_>>()
        );
        for (key, workers) in &per_key {
            assert_eq!(workers.len(), 5, "key {key} gets exactly ops_per_key ops");
            let group = (*key % 3) as usize;
            assert!(
                workers.iter().all(|w| w / 2 == group),
                "key {key} only by group {group}: {workers:?}"
            );
        }
        // A worker whose share of a key is nothing gets nothing, and does not spin.
        let g = register().per_key(PerKey {
            threads_per_key: 3,
            ops_per_key: 1,
            keys: None,
        });
        assert!(drain(&g, Share { index: 2, count: 3 }, 0, 10).is_empty());
        assert_eq!(drain(&g, Share { index: 0, count: 3 }, 0, 3).len(), 3);
    }

    #[test]
    fn unique_values_do_not_collide_across_workers() {
        let g = Gen::source(|c| Op::new("add", json!(c.unique()))).limit(300);
        let mut seen = std::collections::BTreeSet::new();
        for w in 0..3 {
            for (op, _) in drain(&g, Share { index: w, count: 3 }, 0, 1000) {
                assert!(seen.insert(op.value.as_u64().unwrap()));
            }
        }
        assert_eq!(seen.len(), 300);
        assert_eq!(seen.iter().max(), Some(&299));
    }

    #[test]
    fn bad_rates_and_zero_workers_are_rejected() {
        assert!(matches!(
            register().rate(0.0).check(1),
            Err(GenError::Rate(_))
        ));
        assert!(matches!(
            register().rate(f64::NAN).check(1),
            Err(GenError::Rate(_))
        ));
        assert_eq!(register().check(0), Err(GenError::NoWorkers));
    }
}
