//! Helpers for workload tests: what a workload's generator asks for, sampled exactly as the
//! runner samples it, without a cluster or a clock.

use faultline_runner::{Gen, Op, Share};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The first `n` requests worker `index` of `count` asks `gen` for with seed `seed`, with
/// the runner's per-worker random stream and the clock standing still (so rate limits and
/// time limits do not end the sequence early).
pub fn requests(gen: &Gen, seed: u64, index: usize, count: usize, n: usize) -> Vec<Op> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    let mut state = gen.start(Share { index, count });
    let now = tokio::time::Instant::now();
    std::iter::from_fn(|| state.next(&mut rng, now).map(|p| p.op))
        .take(n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::RngCore;
    use serde_json::json;

    #[test]
    fn requests_follow_the_worker_stream_and_stop_at_n_or_exhaustion() {
        let gen = Gen::source(|ctx| Op::new("write", json!(ctx.rng.next_u64() % 1000)));
        let a = requests(&gen, 1, 0, 2, 20);
        assert_eq!(a.len(), 20);
        assert_eq!(a, requests(&gen, 1, 0, 2, 20), "same seed, same worker");
        assert_ne!(a, requests(&gen, 1, 1, 2, 20), "another worker's stream");
        assert_ne!(a, requests(&gen, 2, 0, 2, 20), "another seed");
        let once = Gen::repeat(Op::new("read", serde_json::Value::Null)).once();
        assert_eq!(requests(&once, 1, 0, 1, 5).len(), 1);
    }
}
