//! What the runner's tests and its benchmark share.

use faultline_runner::{Gen, Op};
use rand::Rng;
use serde_json::{json, Value};

/// A register workload's requests: reads, writes of 0..5 and compare-and-sets over 0..5,
/// mixed uniformly; endless.
pub fn register() -> Gen {
    Gen::mix(vec![
        Gen::repeat(Op::new("read", Value::Null)),
        Gen::source(|c| Op::new("write", json!(c.rng.random_range(0..5)))),
        Gen::source(|c| {
            Op::new(
                "cas",
                json!([c.rng.random_range(0..5), c.rng.random_range(0..5)]),
            )
        }),
    ])
}
