//! Consistency models, the anomalies each one proscribes, and which models a set of anomalies
//! rules out (Elle's `not` and `also-not`).
//!
//! Three small tables, after `elle.consistency-model` (Adya, Bailis, Cerone, Daudjee):
//! [`IMPLIES`] orders the models (a history satisfying the first satisfies the second),
//! [`ANOMALY_IMPLIES`] says which anomalies entail others (G0 is also a G1c; a plain G-single
//! is also a G-single-process, which is also a G-single-realtime), and [`PROSCRIBES`] says
//! which anomalies each model forbids directly. A model is ruled out when it, or any weaker
//! model it implies, proscribes an anomaly found or entailed.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// A transactional consistency model faultline can judge a history against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Model {
    /// Adya's PL-1: no write cycles (G0).
    ReadUncommitted,
    /// Adya's PL-2: no G1 (aborted, intermediate reads, circular information flow).
    ReadCommitted,
    /// Adya's PL-CS: read committed without lost updates.
    CursorStability,
    /// Adya's PL-2.99: no G2-item.
    RepeatableRead,
    /// Adya's PL-2+: no G-single (read skew).
    ConsistentView,
    /// Generalized snapshot isolation: no G-single nor G-nonadjacent.
    SnapshotIsolation,
    /// Snapshot isolation that also sees each process's own earlier transactions.
    StrongSessionSnapshotIsolation,
    /// Snapshot isolation that also sees every transaction completed before it began.
    StrongSnapshotIsolation,
    /// Conflict serializability (Adya's PL-3).
    Serializable,
    /// Serializable, and each process's transactions in its own order.
    StrongSessionSerializable,
    /// Serializable in an order that respects real time (Adya's PL-SS).
    StrictSerializable,
}

impl Model {
    /// Every model, weakest first.
    pub const ALL: [Model; 11] = [
        Model::ReadUncommitted,
        Model::ReadCommitted,
        Model::CursorStability,
        Model::RepeatableRead,
        Model::ConsistentView,
        Model::SnapshotIsolation,
        Model::StrongSessionSnapshotIsolation,
        Model::StrongSnapshotIsolation,
        Model::Serializable,
        Model::StrongSessionSerializable,
        Model::StrictSerializable,
    ];

    /// The model's name on the command line and in results, Elle's friendly name.
    pub fn name(self) -> &'static str {
        match self {
            Model::ReadUncommitted => "read-uncommitted",
            Model::ReadCommitted => "read-committed",
            Model::CursorStability => "cursor-stability",
            Model::RepeatableRead => "repeatable-read",
            Model::ConsistentView => "consistent-view",
            Model::SnapshotIsolation => "snapshot-isolation",
            Model::StrongSessionSnapshotIsolation => "strong-session-snapshot-isolation",
            Model::StrongSnapshotIsolation => "strong-snapshot-isolation",
            Model::Serializable => "serializable",
            Model::StrongSessionSerializable => "strong-session-serializable",
            Model::StrictSerializable => "strict-serializable",
        }
    }

    /// The models this one implies directly (weaker ones).
    fn implies(self) -> &'static [Model] {
        use Model::*;
        match self {
            ReadUncommitted => &[],
            ReadCommitted => &[ReadUncommitted],
            CursorStability => &[ReadCommitted],
            RepeatableRead => &[CursorStability],
            ConsistentView => &[CursorStability],
            SnapshotIsolation => &[ConsistentView],
            StrongSessionSnapshotIsolation => &[SnapshotIsolation],
            StrongSnapshotIsolation => &[StrongSessionSnapshotIsolation],
            Serializable => &[RepeatableRead, SnapshotIsolation],
            StrongSessionSerializable => &[Serializable, StrongSessionSnapshotIsolation],
            StrictSerializable => &[StrongSessionSerializable, StrongSnapshotIsolation],
        }
    }

    /// This model and every model it implies.
    pub fn and_weaker(self) -> BTreeSet<Model> {
        let mut out = BTreeSet::new();
        let mut stack = vec![self];
        while let Some(m) = stack.pop() {
            if out.insert(m) {
                stack.extend_from_slice(m.implies());
            }
        }
        out
    }

    /// Does this model imply `other` (or equal it)?
    pub fn implies_model(self, other: Model) -> bool {
        self.and_weaker().contains(&other)
    }

    /// The anomalies this model forbids directly (weaker models add theirs).
    fn proscribes(self) -> &'static [&'static str] {
        use Model::*;
        match self {
            ReadUncommitted => &["G0", "duplicate-elements", "garbage-read"],
            ReadCommitted => &["G1a", "G1b", "G1c"],
            CursorStability => &["lost-update"],
            RepeatableRead => &["G2-item", "lost-update"],
            ConsistentView => &["G-single"],
            SnapshotIsolation => &["internal", "G-single", "G-nonadjacent"],
            StrongSessionSnapshotIsolation => &[
                "G0-process",
                "G1c-process",
                "G-single-process",
                "G-nonadjacent-process",
            ],
            StrongSnapshotIsolation => &[
                "G0-realtime",
                "G1c-realtime",
                "G-single-realtime",
                "G-nonadjacent-realtime",
            ],
            Serializable => &["internal", "G2-item", "cycle-exists"],
            StrongSessionSerializable => &["G2-item-process", "cycle-exists-process"],
            StrictSerializable => &["G2-item-realtime", "cycle-exists-realtime"],
        }
    }

    /// Every anomaly this model forbids, its own and its weaker models'.
    pub fn proscribed(self) -> BTreeSet<&'static str> {
        let direct: Vec<&'static str> = self
            .and_weaker()
            .into_iter()
            .flat_map(|m| m.proscribes().iter().copied())
            .collect();
        // Any anomaly that entails a proscribed one is proscribed too.
        ALL_ANOMALIES
            .iter()
            .copied()
            .filter(|a| entailed(&[a]).iter().any(|e| direct.contains(e)))
            .collect()
    }

    /// Does the model need process edges to be checked?
    pub fn needs_process(self) -> bool {
        self.implies_model(Model::StrongSessionSnapshotIsolation)
    }

    /// Does the model need real-time edges to be checked?
    pub fn needs_realtime(self) -> bool {
        self.implies_model(Model::StrongSnapshotIsolation)
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Model {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim_start_matches(':');
        let alias = match s {
            "strong-serializable" | "strict-1sr" => "strict-serializable",
            "PL-3" | "conflict-serializable" => "serializable",
            "PL-SI" | "si" => "snapshot-isolation",
            "PL-2" => "read-committed",
            "PL-1" => "read-uncommitted",
            "PL-2.99" => "repeatable-read",
            "PL-2+" => "consistent-view",
            "PL-CS" => "cursor-stability",
            other => other,
        };
        Model::ALL
            .into_iter()
            .find(|m| m.name() == alias)
            .ok_or_else(|| {
                let names: Vec<&str> = Model::ALL.iter().map(|m| m.name()).collect();
                format!(
                    "unknown consistency model {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// Every anomaly name the checker can report, most severe first within each family.
pub const ALL_ANOMALIES: &[&str] = &[
    "G0",
    "G0-process",
    "G0-realtime",
    "G1a",
    "G1b",
    "G1c",
    "G1c-process",
    "G1c-realtime",
    "G-single",
    "G-single-process",
    "G-single-realtime",
    "G-nonadjacent",
    "G-nonadjacent-process",
    "G-nonadjacent-realtime",
    "G2-item",
    "G2-item-process",
    "G2-item-realtime",
    "cycle-exists",
    "cycle-exists-process",
    "cycle-exists-realtime",
    "internal",
    "dirty-update",
    "duplicate-elements",
    "incompatible-order",
    "lost-update",
    "future-read",
    "garbage-read",
];

/// Anomalies that directly entail others.
pub const ANOMALY_IMPLIES: &[(&str, &[&str])] = &[
    ("G0", &["G1c", "G0-process"]),
    ("G0-process", &["G1c-process", "G0-realtime"]),
    ("G0-realtime", &["G1c-realtime"]),
    ("G1c", &["G1c-process", "cycle-exists"]),
    ("G1c-process", &["G1c-realtime", "cycle-exists-process"]),
    ("G1c-realtime", &["cycle-exists-realtime"]),
    // Our G-single and G-nonadjacent cycles are over items, so they are also G2-item.
    ("G-single", &["G-nonadjacent", "G-single-process"]),
    (
        "G-single-process",
        &["G-nonadjacent-process", "G-single-realtime"],
    ),
    ("G-single-realtime", &["G-nonadjacent-realtime"]),
    ("G-nonadjacent", &["G2-item", "G-nonadjacent-process"]),
    (
        "G-nonadjacent-process",
        &["G2-item-process", "G-nonadjacent-realtime"],
    ),
    ("G-nonadjacent-realtime", &["G2-item-realtime"]),
    ("G2-item", &["G2-item-process", "cycle-exists"]),
    (
        "G2-item-process",
        &["G2-item-realtime", "cycle-exists-process"],
    ),
    ("G2-item-realtime", &["cycle-exists-realtime"]),
    ("cycle-exists", &["cycle-exists-process"]),
    ("cycle-exists-process", &["cycle-exists-realtime"]),
    // Two reads that disagree on a key's order cannot both be committed states: a dirty read.
    ("incompatible-order", &["G1a"]),
    ("dirty-update", &["G1a"]),
    // A transaction that reads its own later write is a one-transaction information cycle.
    ("future-read", &["G1c"]),
    ("lost-update", &["G2-item"]),
];

/// The anomalies `found` entail, themselves included.
pub fn entailed(found: &[&str]) -> BTreeSet<&'static str> {
    let mut out: BTreeSet<&'static str> = BTreeSet::new();
    let mut stack: Vec<&'static str> = found
        .iter()
        .filter_map(|a| ALL_ANOMALIES.iter().copied().find(|x| x == a))
        .collect();
    while let Some(a) = stack.pop() {
        if out.insert(a) {
            if let Some((_, next)) = ANOMALY_IMPLIES.iter().find(|(x, _)| *x == a) {
                stack.extend_from_slice(next);
            }
        }
    }
    out
}

/// Every model ruled out by the anomalies found.
pub fn impossible(found: &[&str]) -> BTreeSet<Model> {
    let all = entailed(found);
    Model::ALL
        .into_iter()
        .filter(|m| {
            m.and_weaker()
                .iter()
                .any(|w| w.proscribes().iter().any(|a| all.contains(a)))
        })
        .collect()
}

/// Elle's boundary: `not` is the weakest models ruled out, `also_not` the stronger rest.
pub fn boundary(found: &[&str]) -> (Vec<Model>, Vec<Model>) {
    let out = impossible(found);
    let weakest: Vec<Model> = out
        .iter()
        .copied()
        .filter(|m| {
            !out.iter()
                .any(|other| other != m && m.implies_model(*other))
        })
        .collect();
    let rest = out.into_iter().filter(|m| !weakest.contains(m)).collect();
    (weakest, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases() {
        for m in Model::ALL {
            assert_eq!(m.name().parse::<Model>(), Ok(m));
        }
        assert_eq!("strong-serializable".parse(), Ok(Model::StrictSerializable));
        assert_eq!(":serializable".parse(), Ok(Model::Serializable));
        let e = "linearizable".parse::<Model>().unwrap_err();
        assert!(e.contains("expected one of read-uncommitted"), "{e}");
    }

    #[test]
    fn g_single_rules_out_consistent_view_and_repeatable_read() {
        let (not, also) = boundary(&["G-single"]);
        assert_eq!(not, vec![Model::RepeatableRead, Model::ConsistentView]);
        assert!(also.contains(&Model::SnapshotIsolation));
        assert!(also.contains(&Model::StrictSerializable));
        assert!(!also.contains(&Model::ReadCommitted));
    }

    #[test]
    fn realtime_only_rules_out_strict_and_strong_si() {
        let (not, also) = boundary(&["G-single-realtime"]);
        assert_eq!(not, vec![Model::StrongSnapshotIsolation]);
        assert_eq!(also, vec![Model::StrictSerializable]);
        let (not, also) = boundary(&["G2-item-realtime"]);
        assert_eq!(not, vec![Model::StrictSerializable]);
        assert!(also.is_empty());
    }

    #[test]
    fn g0_rules_out_everything() {
        let (not, also) = boundary(&["G0"]);
        assert_eq!(not, vec![Model::ReadUncommitted]);
        assert_eq!(also.len(), Model::ALL.len() - 1);
    }

    #[test]
    fn g2_item_allows_snapshot_isolation() {
        let out = impossible(&["G2-item"]);
        assert!(out.contains(&Model::Serializable));
        assert!(out.contains(&Model::RepeatableRead));
        assert!(!out.contains(&Model::SnapshotIsolation));
        assert!(Model::Serializable.proscribed().contains("G-single"));
        assert!(!Model::SnapshotIsolation.proscribed().contains("G2-item"));
        assert!(Model::StrictSerializable
            .proscribed()
            .contains("G1c-realtime"));
        assert!(!Model::Serializable.proscribed().contains("G2-item-process"));
    }
}
