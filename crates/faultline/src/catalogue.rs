//! `faultline faults` and `faultline workloads`: the catalogues, one line each, taken from
//! the nemesis crate's fault kinds and the workload registry (never a list of our own).

use faultline_nemesis::fault::{Targets, FAULT_KIND_NAMES};
use faultline_nemesis::{FaultKind, PartitionSpec};
use std::process::ExitCode;

/// Which databases a fault applies to: a fault aimed at primaries needs a definition that
/// says who is primary (`is_primary`); clock faults reach any database on Docker nodes.
fn applies_to(kind: FaultKind, primaries: &[String]) -> String {
    let aims_at_primaries = kind == FaultKind::Partition(Some(PartitionSpec::Primaries))
        || kind.targets() == Some(Targets::Primaries);
    if aims_at_primaries {
        format!(
            "databases whose definition has is_primary ({})",
            primaries.join(", ")
        )
    } else if matches!(kind, FaultKind::Storage(..)) {
        "any database with setup.data_dirs, on Docker nodes (mounts faultline-fs: /dev/fuse, SYS_ADMIN)"
            .to_string()
    } else if matches!(kind, FaultKind::Membership(_)) {
        "databases whose definition has [commands] leave and join (etcd)".to_string()
    } else if matches!(kind, FaultKind::Clock(_)) {
        "any database on Docker nodes; existing hosts: wall bumps with --allow-clock-changes"
            .to_string()
    } else {
        "any database".to_string()
    }
}

/// The built-in databases whose definition names its primaries.
fn builtins_with_primaries() -> Vec<String> {
    faultline_db::definition::BUILTINS
        .iter()
        .filter_map(|(name, _)| {
            let def = faultline_db::definition::builtin(name)?.ok()?;
            def.is_primary.is_some().then(|| name.to_string())
        })
        .collect()
}

/// The lines `faultline faults` prints.
pub(crate) fn fault_lines() -> Vec<String> {
    let primaries = builtins_with_primaries();
    let mut lines = vec![format!(
        "{:<26} {:<10} {:<58} APPLIES TO",
        "FAULT", "CLASS", "WHAT"
    )];
    for name in FAULT_KIND_NAMES {
        let Ok(kind) = name.parse::<FaultKind>() else {
            continue;
        };
        let class = kind.class();
        lines.push(format!(
            "{name:<26} {:<10} {:<58} {}",
            class.name(),
            class.about(),
            applies_to(kind, &primaries)
        ));
    }
    lines.push(
        "All but partitions take a target suffix: -one, -minority, -majority, -all, -primaries \
         (e.g. pause-primaries); clock faults a direction first (-forward, -backward)."
            .to_string(),
    );
    lines.push(
        "Targets the run itself reveals when the fault starts: -lock-holder (the node of the \
         process holding the lock; lock workloads), -last-writer (the node that acknowledged \
         the latest write, right after it does), -busiest (the node with the most operations \
         in flight); the history says why each was chosen."
            .to_string(),
    );
    lines.push(
        "--nemesis auto draws one fault at a time from every fault above that applies to the \
         database (all but storage faults), with random targets and durations, and tries the \
         kinds, targets and durations that had an effect more often; --nemesis random draws \
         uniformly, the baseline."
            .to_string(),
    );
    lines
}

/// The lines `faultline workloads` prints.
pub(crate) fn workload_lines() -> Vec<String> {
    let mut lines = vec![format!(
        "{:<12} {:<14} {:<36} ABOUT",
        "WORKLOAD", "FAMILIES", "CHECKERS"
    )];
    for w in faultline_workloads::WORKLOADS {
        let families: Vec<String> = w.families.iter().map(ToString::to_string).collect();
        lines.push(format!(
            "{:<12} {:<14} {:<36} {}",
            w.name,
            families.join(","),
            w.checkers.join(","),
            w.about
        ));
    }
    lines.push(
        "FAMILIES: the databases with a built-in client; any database (family none) runs every \
         workload with a --client program."
            .to_string(),
    );
    lines
}

/// Runs `faultline faults`.
pub fn faults() -> ExitCode {
    for line in fault_lines() {
        println!("{line}");
    }
    ExitCode::SUCCESS
}

/// Runs `faultline workloads`.
pub fn workloads() -> ExitCode {
    for line in workload_lines() {
        println!("{line}");
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_kind_and_workload_has_one_line() {
        let faults = fault_lines();
        // The header, one line per kind, the two target notes and the auto/random note.
        assert_eq!(faults.len(), FAULT_KIND_NAMES.len() + 4);
        assert!(faults
            .iter()
            .any(|l| l.contains("-lock-holder (the node of the process")));
        assert!(faults.last().unwrap().starts_with("--nemesis auto draws"));
        let line = |name: &str| {
            faults
                .iter()
                .find(|l| l.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("{name} missing"))
                .clone()
        };
        assert!(line("partition-primaries").contains("is_primary (etcd, redis, "));
        assert!(line("kill").contains("SIGKILL") && line("kill").ends_with("any database"));
        assert!(line("clock-rate-monotonic").contains("Docker nodes"));
        let workloads = workload_lines();
        assert_eq!(workloads.len(), faultline_workloads::WORKLOADS.len() + 2);
        let append = workloads.iter().find(|l| l.starts_with("append ")).unwrap();
        assert!(append.contains("etcd,redis"), "{append}");
    }
}
