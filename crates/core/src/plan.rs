//! The first phase of a test: [`Plan::new`] judges the options and the definition and decides
//! everything that does not need a cluster (database, workload, nemesis, seed, name, notes),
//! so every mistake is found before anything starts.

use crate::options::TestOptions;
use faultline_cluster::ClockMechanism;
use faultline_db::Db;
use faultline_nemesis::{
    fault::Targets, Adaptive, Aim, ClockMode, ClockSource, FaultKind, NemesisConfig, Policy,
    Schedule,
};
use faultline_workloads::Configured;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What was decided from the options before anything started.
pub struct Plan {
    /// The options as given (the seed may still be `None`; [`Plan::seed`] is the one used).
    pub options: TestOptions,
    /// The database under test.
    pub db: Arc<dyn Db>,
    /// The workload, configured from the common options.
    pub workload: Configured,
    /// The nemesis's configuration.
    pub nemesis: NemesisConfig,
    /// Seconds of workload.
    pub time_limit: Duration,
    /// A request's timeout.
    pub op_timeout: Duration,
    /// The first run's seed (run `i` of `--test-count` uses `seed + i`).
    pub seed: u64,
    /// The test's name in the store.
    pub name: String,
    /// Things the user should know about this run, also kept in test.json.
    pub notes: Vec<String>,
    /// How clock faults reach the nodes' clocks.
    pub clock: ClockMechanism,
    /// Whether packet faults use netem (the nodes' kernel has it) or faultline's handler.
    pub netem: bool,
    /// The `--client-opt`s, parsed.
    pub client_opts: Vec<(String, Value)>,
    /// Where the test's notices go (quiet unless the caller sets it; the CLI prints them).
    pub notify: crate::notice::Notify,
    /// Whether setup and runs draw progress on stderr (off unless the caller sets it; the CLI
    /// does when stderr is a terminal).
    pub show_progress: bool,
}

/// A `membership` fault needs the definition's `[commands] leave` and `join`.
fn membership_supported(kinds: &[FaultKind], db: &dyn faultline_db::Db) -> Result<(), String> {
    if kinds.iter().any(|k| matches!(k, FaultKind::Membership(_))) && !db.has_membership() {
        return Err(format!(
            "--nemesis membership: the definition of {} has no [commands] leave and join, through which the fault removes a node and adds it back (see docs/db-definition.md)",
            db.name()
        ));
    }
    Ok(())
}

/// A fault aimed at the lock holder needs a workload that grants locks.
fn lock_holder_supported(kinds: &[FaultKind], workload: &str, grants: bool) -> Result<(), String> {
    let aims = kinds
        .iter()
        .any(|k| k.targets() == Some(Targets::Live(Aim::LockHolder)));
    if aims && !grants {
        return Err(format!(
            "--nemesis: a fault aimed at the lock holder (-lock-holder) needs a workload that grants locks (lock, lock-fenced), not {workload}"
        ));
    }
    Ok(())
}

impl Plan {
    /// Judges `options` (flags, definition, workload, faults) and plans the test, or says in
    /// one line what is wrong.
    pub fn new(options: TestOptions) -> Result<Plan, String> {
        options.validate()?;
        // A definition's mistakes are found before anything starts.
        faultline_db::definition::set_allow_outside_files(options.allow_outside_files);
        let db = faultline_db::open_db(&options.db).map_err(|e| format!("--db: {e}"))?;
        let (time_limit, op_timeout, interval) = options.durations()?;
        let clock = clock_mechanism(&options)?;
        let (mut nemesis, notes) = nemesis(&options, clock, interval)?;
        if let Some(a) = &mut nemesis.adaptive {
            a.names_primaries = db.names_primaries();
        }
        membership_supported(&nemesis.kinds, &*db)?;
        let workload = faultline_workloads::configure(&options.workload, &options.common())?;
        if let Some(a) = &mut nemesis.adaptive {
            a.grants_locks = workload.lease.is_some();
        }
        lock_holder_supported(&nemesis.kinds, &options.workload, workload.lease.is_some())?;
        // A --client program carries out the operations itself, whatever the family.
        if options.client.is_none() {
            workload.supports(&db.client())?;
        }
        // What the database family promises at the chosen isolation decides the default model.
        let workload = workload.for_client(&db.client())?;
        let client_opts = parse_client_opts(&options)?;
        let seed = options.seed.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
        let name = options
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-{}", db.name(), options.workload));
        Ok(Plan {
            options,
            db,
            workload,
            nemesis,
            time_limit,
            op_timeout,
            seed,
            name,
            notes,
            clock,
            netem: true,
            client_opts,
            notify: Default::default(),
            show_progress: false,
        })
    }

    /// Whether any clock fault was asked for.
    pub fn wants_clock(&self) -> bool {
        self.nemesis.adaptive.is_some()
            || self
                .nemesis
                .kinds
                .iter()
                .any(|k| matches!(k, FaultKind::Clock(_)))
    }

    /// Whether any fault would use netem where the kernel has it.
    pub fn wants_netem(&self) -> bool {
        self.nemesis.adaptive.is_some() || self.nemesis.kinds.iter().any(|k| k.needs_netem())
    }

    /// The `--nemesis` names that need netem, as given.
    pub fn netem_names(&self) -> Vec<String> {
        self.nemesis
            .kinds
            .iter()
            .filter_map(|k| match k {
                FaultKind::Netem(kind, _) => Some(kind.name().to_string()),
                _ => None,
            })
            .collect()
    }

    /// The `--nemesis` names as given, or `none`.
    pub fn nemesis_label(&self) -> String {
        if self.nemesis.kinds.is_empty() && self.nemesis.adaptive.is_none() {
            "none".to_string()
        } else {
            self.options.nemesis.join(",")
        }
    }
}

/// How clock faults would reach the nodes: faultline-clock on Docker nodes, the real clock on
/// hosts only with `--allow-clock-changes`.
fn clock_mechanism(options: &TestOptions) -> Result<ClockMechanism, String> {
    let wants_clock = options.nemesis.iter().any(|n| {
        matches!(n.trim(), "auto" | "random") || matches!(n.trim().parse(), Ok(FaultKind::Clock(_)))
    });
    if wants_clock {
        ClockMechanism::choose(options.lists_hosts(), options.allow_clock_changes)
    } else {
        Ok(ClockMechanism::ClockTool)
    }
}

/// The nemesis `--nemesis` and its knobs ask for, and the notes it needs.
fn nemesis(
    options: &TestOptions,
    clock: ClockMechanism,
    interval: Duration,
) -> Result<(NemesisConfig, Vec<String>), String> {
    let mut kinds = Vec::new();
    let adaptive = adaptive_policy(options)?.map(|policy| Adaptive {
        policy,
        names_primaries: false,
        monotonic_clocks: clock != ClockMechanism::HostClock,
        grants_locks: false,
    });
    for name in &options.nemesis {
        let name = name.trim();
        if name == "none" || name.is_empty() || adaptive.is_some() {
            continue;
        }
        let kind: FaultKind = name.parse().map_err(|e| format!("--nemesis: {e}"))?;
        // Stepping a host's real clock moves its wall clock only.
        if let FaultKind::Clock(k) = kind {
            if clock == ClockMechanism::HostClock
                && (k.clock == ClockSource::Monotonic || k.mode == Some(ClockMode::Rate))
            {
                return Err(format!(
                    "--nemesis {name}: on existing hosts clock faults step the real wall clock; \
                     monotonic clocks and clock rates need faultline-clock (Docker nodes)"
                ));
            }
        }
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    let mut notes = Vec::new();
    if adaptive.is_some() || kinds.iter().any(|k| matches!(k, FaultKind::Clock(_))) {
        notes.push(clock.note());
    }
    if kinds.iter().any(|k| matches!(k, FaultKind::Loss(_))) {
        notes.push(
            "loss drops packets with the iptables statistic match (random); it needs no netem"
                .to_string(),
        );
    }
    let nemesis = NemesisConfig {
        kinds,
        interval,
        clock_max_offset_ms: options.clock_max_offset_ms.max(1),
        clock_rate: options.clock_rate,
        delay_ms: options.delay_ms,
        delay_jitter_ms: options.delay_jitter_ms,
        corrupt_percent: options.corrupt_percent,
        bandwidth_kbit: options.bandwidth_kbit,
        adaptive,
        ..NemesisConfig::default()
    };
    // The schedule's own checks, as one line before any cluster starts.
    Schedule::new(vec!["n1".into()], nemesis.clone(), 0).map_err(|e| format!("--nemesis: {e}"))?;
    Ok((nemesis, notes))
}

/// `--nemesis auto` or `random`: the whole catalogue, so named alone.
fn adaptive_policy(options: &TestOptions) -> Result<Option<Policy>, String> {
    let names: Vec<&str> = options.nemesis.iter().map(|n| n.trim()).collect();
    let policy = |n: &str| match n {
        "auto" => Some(Policy::Auto),
        "random" => Some(Policy::Random),
        _ => None,
    };
    match names.iter().find_map(|n| policy(n)) {
        Some(p) if names.len() > 1 => Err(format!(
            "--nemesis {}: {} draws from every fault that applies; name no other fault with it",
            names.join(","),
            p.name()
        )),
        found => Ok(found),
    }
}

/// The `--client-opt`s as (key, value), or the one line that says which is wrong.
fn parse_client_opts(options: &TestOptions) -> Result<Vec<(String, Value)>, String> {
    match &options.client {
        Some(c) if c.trim().is_empty() => return Err("--client: the command is empty".into()),
        None if !options.client_opt.is_empty() => {
            return Err("--client-opt: only a --client program takes options".into())
        }
        _ => {}
    }
    options
        .client_opt
        .iter()
        .map(|o| faultline_client_protocol::parse_client_opt(o))
        .collect()
}

/// What the run says when the nodes have no netem: packet faults go through the handler.
pub fn no_netem_note(names: &[String], error: &str) -> String {
    // The remote's error quotes the whole probe script in backquotes: name it instead.
    let error = match error
        .split_once('`')
        .and_then(|(a, rest)| Some((a, rest.split_once('`')?.1)))
    {
        Some((before, after)) => format!("{before}the probe{after}"),
        None => error.to_string(),
    };
    let error = error.split_whitespace().collect::<Vec<_>>().join(" ");
    format!(
        "--nemesis {}: this kernel has no netem qdisc (tc qdisc ... netem failed: {error}); \
         these faults go through faultline's NFQUEUE packet handler (faultline-netq) instead, \
         on each target's packets to the other nodes",
        names.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    use faultline_cluster::ClockMechanism;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: TestOptions,
    }

    fn plan(argv: &[&str]) -> Result<Plan, String> {
        let args = Cli::try_parse_from(std::iter::once("test").chain(argv.iter().copied()))
            .unwrap()
            .args;
        Plan::new(args)
    }

    #[test]
    fn docker_nodes_use_faultline_clock_and_hosts_their_clock_only_when_allowed() {
        let p = plan(&["--db", "redis", "--nemesis", "clock", "--nodes", "3"]).unwrap();
        assert_eq!(p.clock, ClockMechanism::ClockTool);
        assert!(p
            .notes
            .iter()
            .any(|n| n.contains("faultline-clock's control page")));
        let p = plan(&[
            "--db",
            "redis",
            "--nemesis",
            "clock",
            "--nodes",
            "3",
            "--allow-clock-changes",
        ])
        .unwrap();
        assert_eq!(p.clock, ClockMechanism::ClockTool);
        let hosts = ["--nodes", "h1,h2,h3", "--ssh-key", "/k"];
        let err = plan(&[&["--db", "redis", "--nemesis", "clock-bump"][..], &hosts].concat());
        assert!(err.err().unwrap().contains("--allow-clock-changes"));
        // etcd ignores the shim, but a real clock step reaches it.
        let p = plan(
            &[
                &[
                    "--db",
                    "etcd",
                    "--nemesis",
                    "clock",
                    "--allow-clock-changes",
                ][..],
                &hosts,
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!(p.clock, ClockMechanism::HostClock);
        assert!(p.wants_clock());
        assert!(p.notes.iter().any(|n| n.contains("hosts' real clocks")));
        // Docker nodes reach etcd through its vDSO: every clock kind applies.
        let p = plan(&[
            "--db",
            "etcd",
            "--nemesis",
            "clock,clock-bump-monotonic-primaries,clock-rate-wall",
            "--nodes",
            "3",
        ])
        .unwrap();
        assert!(p.wants_clock());
        assert_eq!(p.nemesis.kinds.len(), 3);
        // A real host's clock can only be stepped: monotonic clocks and rates are refused.
        for kind in ["clock-bump-monotonic", "clock-rate"] {
            let err = plan(
                &[
                    &["--db", "etcd", "--nemesis", kind, "--allow-clock-changes"][..],
                    &hosts,
                ]
                .concat(),
            )
            .err()
            .unwrap();
            assert!(
                err.contains(kind) && err.contains("need faultline-clock"),
                "{err}"
            );
        }
        let err = plan(&[
            "--nemesis",
            "clock-rate",
            "--clock-rate",
            "0.5",
            "--nodes",
            "3",
        ])
        .err()
        .unwrap();
        assert!(err.starts_with("--nemesis: clock rate 0.5"), "{err}");
    }

    #[test]
    fn stop_on_anomaly_is_accepted_for_every_workload() {
        for w in faultline_workloads::names() {
            let p = plan(&["--workload", w, "--stop-on-anomaly", "--nodes", "3"]);
            assert!(p.is_ok(), "{w}: {:?}", p.err());
        }
    }

    #[test]
    fn netem_faults_are_named_and_loss_says_it_needs_no_netem() {
        let p = plan(&["--nemesis", "loss", "--nodes", "3"]).unwrap();
        assert!(!p.wants_netem());
        assert!(p
            .notes
            .iter()
            .any(|n| n.contains("iptables statistic") && n.contains("no netem")));
        let p = plan(&["--nemesis", "delay-one,kill,reorder", "--nodes", "3"]).unwrap();
        assert!(p.wants_netem());
        assert_eq!(p.netem_names(), ["delay", "reorder"]);
        let m = no_netem_note(
            &p.netem_names(),
            "n1: ssh root@10.0.0.2:22: `dev=$(ip ...); tc qdisc replace dev \"$dev\" root netem delay 1ms` \
             exited with status 2: Error: Specified qdisc kind is unknown.\n",
        );
        assert_eq!(
            m,
            "--nemesis delay,reorder: this kernel has no netem qdisc (tc qdisc ... netem failed: \
             n1: ssh root@10.0.0.2:22: the probe exited with status 2: Error: Specified qdisc kind is unknown.); \
             these faults go through faultline's NFQUEUE packet handler (faultline-netq) instead, \
             on each target's packets to the other nodes"
        );
    }
}
