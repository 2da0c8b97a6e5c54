//! faultline-explain: results that explain themselves.
//!
//! A pure function of a history and the checkers' results ([`explain`]): no cluster, no
//! clock, no randomness, so `faultline report` and `faultline check` reproduce exactly what
//! `faultline test` wrote. It answers two questions a verdict alone leaves open:
//!
//! - **What does this anomaly mean here?** Each anomaly of every checker becomes an
//!   [`AnomalyContext`]: the operations involved with the node that served each, the faults in
//!   force on those nodes at those instants, the leader or primary of the moment, and for a
//!   linearizability counterexample the operations that make it impossible (the last
//!   acknowledged writes of the key before it, and the concurrent ones). Its `finding` says it
//!   in a paragraph, and its [`Timeline`] is what the report draws.
//! - **Did each fault bite?** Each fault becomes a [`FaultEffect`]: the leader before and
//!   after, how long the cluster had none, ok/fail/info counts on the targeted and the other
//!   nodes while it was in force against the same length of time before it, the clock offsets
//!   measured, whether a paused node led or held a lock, and whether it did anything visible at
//!   all. A [`KindSummary`] line sums each kind up, and run-level [`Expectation`]s turn a valid
//!   run whose faults never bit into `unknown`.
//!
//! Inputs follow `docs/history-format.md`: each completion's `node` is the node that served
//! it; nemesis `start-X`/`stop-X` operations carry the fault (faultline's `Fault` JSON, whose
//! partitions have a `grudge`); lone nemesis `primaries` events record who led
//! ([`faults::PRIMARIES_F`]); `clock-offset` operations record measured offsets.
//!
//! ```
//! use faultline_explain::{explain, Expectation};
//! let explanation = explain(&[], &[], &[Expectation::LeaderChange]);
//! assert!(!explanation.expectations[0].met);
//! ```

mod context;
mod effects;
pub mod faults;
mod scene;

pub use context::{AnomalyContext, OpContext, Role, Timeline};
pub use effects::{
    Expectation, ExpectationCheck, FaultEffect, KindSummary, SideCounts, Window, EXPECTATIONS,
};
pub use faults::{
    pair_operations, quantiles, string_list, ClockSample, Fault, LeaderSample, NemesisSummary,
    OutcomeCounts, Quantiles,
};

use faultline_history::{CheckerResult, Event};
use serde::{Deserialize, Serialize};

/// Everything faultline can say about why a run came out as it did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// One entry per anomaly of every checker, in checker order, then anomaly order.
    pub anomalies: Vec<AnomalyContext>,
    /// What each fault did, in the order the faults began (index = the fault's index in
    /// `nemesis.faults`).
    pub faults: Vec<FaultEffect>,
    /// One line per kind of fault.
    pub summary: Vec<KindSummary>,
    /// The run-level expectations asked for, and whether some fault met each.
    pub expectations: Vec<ExpectationCheck>,
}

impl Explanation {
    /// The expectations that no fault met.
    pub fn unmet(&self) -> impl Iterator<Item = &ExpectationCheck> {
        self.expectations.iter().filter(|e| !e.met)
    }
}

/// Explains a history: each anomaly of `checkers` in its context, what each fault did, and
/// whether the `expect`ed effects happened. A pure function of its inputs.
pub fn explain(
    events: &[Event],
    checkers: &[CheckerResult],
    expect: &[Expectation],
) -> Explanation {
    let scene = scene::Scene::new(events);
    let mut anomalies = Vec::new();
    for c in checkers {
        for (i, a) in c.anomalies.iter().enumerate() {
            anomalies.push(context::explain_anomaly(&scene, &c.checker, i, a));
        }
    }
    let faults = effects::fault_effects(&scene);
    let summary = effects::summarize(&faults);
    let expectations = expect
        .iter()
        .map(|e| effects::check_expectation(*e, &faults))
        .collect();
    Explanation {
        anomalies,
        faults,
        summary,
        expectations,
    }
}
