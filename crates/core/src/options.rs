//! [`TestOptions`]: every `faultline test` flag as one typed, serde-derived structure, and
//! [`TestOptions::validate`], which judges every one of them before anything starts.
//!
//! The CLI parses its command line into this structure (clap derives the flags from it, each
//! under its help group); a Rust program embedding faultline fills it in itself. test.json
//! records it whole (`config::TestConfig::flags`), and the reproduce command is rendered from
//! it, so a new flag is recorded and reproduced by construction.

use faultline_workloads::Common;
use std::path::PathBuf;
use std::time::Duration;

/// Help group of the flags that say where the nodes are and what runs on them.
pub const CLUSTER: &str = "Cluster";
/// Help group of the flags that say what the clients do.
pub const WORKLOAD: &str = "Workload";
/// Help group of the nemesis's flags.
pub const FAULTS: &str = "Faults";
/// Help group of the flags that say how the history is judged.
pub const CHECKING: &str = "Checking";
/// Help group of the flags that say where results go.
pub const OUTPUT: &str = "Output";

/// The longest span any seconds flag may ask for (a year): beyond it a deadline would
/// overflow the clock's arithmetic, and no test means it.
pub const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// Arguments of `faultline test`. The defaults give a meaningful one-minute test.
#[derive(clap::Args, Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TestOptions {
    /// The database under test: a built-in definition (etcd, redis) or the path of a db.toml
    /// or its directory (see docs/db-definition.md).
    #[arg(long, default_value = "etcd", value_name = "NAME|PATH", help_heading = CLUSTER)]
    pub db: String,
    /// The workload: register, set, counter, bank, lock, lock-fenced, append (list-append
    /// transactions) or wr (rw-register transactions); `faultline workloads` lists them.
    #[arg(long, default_value = "register", help_heading = WORKLOAD)]
    pub workload: String,
    /// Faults, comma-separated (`faultline faults` lists them): partition[-halves|-random-halves|
    /// -one|-majorities-ring|-bridge|-primaries], loss, pause, slow, kill,
    /// clock[-bump|-strobe|-rate][-wall|-monotonic][-forward|-backward], delay, duplicate,
    /// reorder, corrupt, bandwidth, or none; all but partitions take a target: -one, -minority,
    /// -majority, -all, -primaries, or from the live run -lock-holder, -last-writer, -busiest
    /// (e.g. pause-lock-holder) [default target: random each time]; or
    /// alone, auto (every fault that applies, learning which bite) or random (uniform draw).
    #[arg(long, default_value = "partition", value_delimiter = ',', help_heading = FAULTS)]
    pub nemesis: Vec<String>,
    /// Seconds of workload before the final heal and the final reads.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS", help_heading = WORKLOAD)]
    pub time_limit: f64,
    /// Concurrent client workers (Jepsen's concurrency).
    #[arg(long, default_value_t = 10, help_heading = WORKLOAD)]
    pub concurrency: usize,
    /// A node count for a Docker cluster (n1..nN), or existing hosts: host1,host2[:port],...
    #[arg(long, default_value = "5", help_heading = CLUSTER)]
    pub nodes: String,
    /// The SSH user on existing hosts.
    #[arg(long, default_value = "root", help_heading = CLUSTER)]
    pub ssh_user: String,
    /// The SSH private key for existing hosts.
    #[arg(long, help_heading = CLUSTER)]
    pub ssh_key: Option<PathBuf>,
    /// The seed every random choice derives from [default: from the clock; recorded in test.json].
    #[arg(long, help_heading = WORKLOAD)]
    pub seed: Option<u64>,
    /// Run the test this many times on the same cluster (seeds seed, seed+1, ...); exit with the worst.
    #[arg(long, default_value_t = 1, value_name = "K", help_heading = WORKLOAD)]
    pub test_count: u32,
    /// Overall request rate, ops/s [default: the workload's].
    #[arg(long, value_name = "OPS_PER_S", help_heading = WORKLOAD)]
    pub rate: Option<f64>,
    /// Seconds between nemesis operations.
    #[arg(long, default_value_t = 10.0, value_name = "S", help_heading = FAULTS)]
    pub nemesis_interval: f64,
    /// etcd: serializable (possibly stale) reads instead of linearizable ones.
    #[arg(long, help_heading = WORKLOAD)]
    pub serializable_reads: bool,
    /// Seconds after which a client request completes as `info` (unknown outcome).
    #[arg(long, default_value_t = 5.0, value_name = "S", help_heading = WORKLOAD)]
    pub op_timeout: f64,
    /// The largest clock offset a clock bump or strobe draws, ms.
    #[arg(long, default_value_t = 60_000, value_name = "MS", help_heading = FAULTS)]
    pub clock_max_offset_ms: u64,
    /// How fast a clock-rate fault runs a clock (a -backward one runs at its inverse).
    #[arg(long, default_value_t = 4.0, value_name = "X", help_heading = FAULTS)]
    pub clock_rate: f64,
    /// A delay fault's mean delay, ms.
    #[arg(long, default_value_t = 100, value_name = "MS", help_heading = FAULTS)]
    pub delay_ms: u64,
    /// A delay fault's jitter, ms.
    #[arg(long, default_value_t = 50, value_name = "MS", help_heading = FAULTS)]
    pub delay_jitter_ms: u64,
    /// The share of packets a corrupt fault damages, percent.
    #[arg(long, default_value_t = 5, value_name = "PERCENT", help_heading = FAULTS)]
    pub corrupt_percent: u8,
    /// A bandwidth fault's rate, kbit/s.
    #[arg(long, default_value_t = 1000, value_name = "KBIT", help_heading = FAULTS)]
    pub bandwidth_kbit: u64,
    /// Run this program (through `sh -c`) as the client instead of faultline's built-in one:
    /// one instance per process, JSON Lines on stdin/stdout, stderr to the run's log
    /// (docs/client-protocol.md).
    #[arg(long, value_name = "COMMAND", help_heading = WORKLOAD)]
    pub client: Option<String>,
    /// An option for the --client program, added to its open message's options
    /// (repeatable; the value is JSON when it parses as JSON, else a string).
    #[arg(long = "client-opt", value_name = "KEY=VALUE", help_heading = WORKLOAD)]
    pub client_opt: Vec<String>,
    /// lock workloads: the lease TTL in seconds.
    #[arg(long, value_name = "S", help_heading = WORKLOAD)]
    pub lease_ttl: Option<f64>,
    /// append, wr: keys each worker has active at once [default: 5].
    #[arg(long, value_name = "N", help_heading = WORKLOAD)]
    pub key_count: Option<u32>,
    /// append, wr: fewest micro-operations per transaction [default: 1].
    #[arg(long, value_name = "N", help_heading = WORKLOAD)]
    pub min_txn_length: Option<u32>,
    /// append, wr: most micro-operations per transaction [default: 4].
    #[arg(long, value_name = "N", help_heading = WORKLOAD)]
    pub max_txn_length: Option<u32>,
    /// append, wr: writes a key receives (over all workers) before it is retired [default: 32].
    #[arg(long, value_name = "N", help_heading = WORKLOAD)]
    pub max_writes_per_key: Option<u32>,
    /// append, wr: the share of micro-operations that are reads, 0 to 1 [default: 0.5].
    #[arg(long, value_name = "F", help_heading = WORKLOAD)]
    pub read_fraction: Option<f64>,
    /// append, wr: the consistency model the transactional checker holds the database to
    /// (read-committed, snapshot-isolation, serializable, strict-serializable, ...)
    /// [default: strict-serializable].
    #[arg(long, value_name = "MODEL", help_heading = CHECKING)]
    pub consistency_model: Option<String>,
    /// SQL databases (postgres, mysql families): every transaction's isolation level,
    /// read-uncommitted, read-committed, repeatable-read or serializable [default: the
    /// database's]; append and wr then default --consistency-model to what it promises.
    #[arg(long, value_name = "LEVEL", help_heading = WORKLOAD)]
    #[serde(default)]
    pub isolation: Option<faultline_workloads::Isolation>,
    /// Where runs are stored: <store>/<test-name>/<timestamp>/.
    #[arg(long, default_value = "store", help_heading = OUTPUT)]
    pub store: PathBuf,
    /// The test's name in the store [default: <db>-<workload>].
    #[arg(long, help_heading = OUTPUT)]
    pub name: Option<String>,
    /// Leave the cluster up at the end, for debugging (faults are still healed).
    #[arg(long, help_heading = CLUSTER)]
    pub keep_cluster: bool,
    /// Make a valid run unknown (exit 2) unless some fault had this effect, comma-separated:
    /// leader-change, errors (timeouts or failures rose), latency, effect (anything visible),
    /// every-fault (each fault had a visible effect).
    #[arg(long, value_delimiter = ',', value_name = "EFFECT", help_heading = CHECKING)]
    pub expect: Vec<String>,
    /// End the run as soon as an anomaly is certain (no operation still to come can undo
    /// it): faults are healed, logs collected and reports written as usual, and the verdict
    /// is invalid. register: a key not linearizable; counter: a read outside every bound;
    /// bank: a wrong total or a negative balance; lock: two holders, or a write after the
    /// lease ran out; lock-fenced: a stale token accepted; append, wr: a forbidden cycle
    /// among committed transactions. set: a read that missed an element known before it
    /// began, or an element never added, read twice or whose add failed; with
    /// --serializable-reads only the latter, as a lost element is then certain only at the
    /// final read, after the time limit, so such a run goes to its end.
    #[arg(long, help_heading = CHECKING)]
    #[serde(default)]
    pub stop_on_anomaly: bool,
    /// Allow clock faults on existing hosts over SSH: they step the hosts' real clocks
    /// (Docker nodes never: they share this machine's clock and use faultline-clock).
    #[arg(long, help_heading = FAULTS)]
    pub allow_clock_changes: bool,
    /// Let a --db definition upload files from outside its directory (a [[files]] source,
    /// or a symlink beside db.toml, whose real path leaves it); refused otherwise.
    #[arg(long, help_heading = CLUSTER)]
    #[serde(default)]
    pub allow_outside_files: bool,
    /// Also write a short Markdown summary of the run (verdict, anomalies, what each fault
    /// did, the reproduce command) to this file, e.g. $GITHUB_STEP_SUMMARY.
    #[arg(long, value_name = "FILE", help_heading = OUTPUT)]
    #[serde(default)]
    pub summary_markdown: Option<PathBuf>,
}

impl TestOptions {
    /// What the common arguments say to the workload (recorded in test.json as they are).
    pub fn common(&self) -> Common {
        Common {
            rate: self.rate,
            op_timeout_s: self.op_timeout,
            serializable_reads: self.serializable_reads,
            lease_ttl_s: self.lease_ttl,
            key_count: self.key_count,
            min_txn_length: self.min_txn_length,
            max_txn_length: self.max_txn_length,
            max_writes_per_key: self.max_writes_per_key,
            read_fraction: self.read_fraction,
            consistency_model: self.consistency_model.clone(),
            isolation: self.isolation,
            node_count: self.node_count(),
            workers: Some(self.concurrency),
        }
    }

    /// How many nodes `--nodes` names: a Docker node count, or the hosts listed.
    pub fn node_count(&self) -> Option<usize> {
        let nodes = self.nodes.trim();
        if self.lists_hosts() {
            let hosts = nodes.split(',').filter(|h| !h.trim().is_empty()).count();
            (hosts > 0).then_some(hosts)
        } else {
            nodes.parse().ok()
        }
    }

    /// Whether `--nodes` lists existing hosts rather than a Docker node count (a string of
    /// digits is a count, however large).
    pub fn lists_hosts(&self) -> bool {
        let nodes = self.nodes.trim();
        nodes.is_empty() || !nodes.bytes().all(|b| b.is_ascii_digit())
    }

    /// Judges every flag on its own (ranges, names, lists), before anything starts: the
    /// first mistake as one line naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        seconds("--time-limit", self.time_limit)?;
        seconds("--op-timeout", self.op_timeout)?;
        seconds("--nemesis-interval", self.nemesis_interval)?;
        if let Some(ttl) = self.lease_ttl {
            seconds("--lease-ttl", ttl)?;
        }
        if let Some(rate) = self.rate {
            within("--rate", rate, f64::MIN_POSITIVE, 1e9)?;
        }
        within("--clock-rate", self.clock_rate, f64::MIN_POSITIVE, 1e6)?;
        if let Some(f) = self.read_fraction {
            within("--read-fraction", f, 0.0, 1.0)?;
        }
        count("--concurrency", self.concurrency as u64, 1, 100_000)?;
        count("--test-count", u64::from(self.test_count), 1, 1_000_000)?;
        count(
            "--clock-max-offset-ms",
            self.clock_max_offset_ms,
            1,
            1e12 as u64,
        )?;
        count("--delay-ms", self.delay_ms, 0, 3_600_000)?;
        count("--delay-jitter-ms", self.delay_jitter_ms, 0, 3_600_000)?;
        count("--corrupt-percent", u64::from(self.corrupt_percent), 0, 100)?;
        count("--bandwidth-kbit", self.bandwidth_kbit, 1, 1e9 as u64)?;
        let txn = [
            ("--key-count", self.key_count, 1_000_000),
            ("--min-txn-length", self.min_txn_length, 10_000),
            ("--max-txn-length", self.max_txn_length, 10_000),
            (
                "--max-writes-per-key",
                self.max_writes_per_key,
                1_000_000_000,
            ),
        ];
        for (flag, value, most) in txn {
            if let Some(v) = value {
                count(flag, u64::from(v), 1, most)?;
            }
        }
        self.validate_names()
    }

    /// The flags that name things: `--nodes`, `--name`, `--expect`, `--ssh-key`.
    fn validate_names(&self) -> Result<(), String> {
        if !self.lists_hosts() {
            let most = faultline_cluster::MAX_NODES;
            match self.nodes.trim().parse::<usize>() {
                Ok(n) if (1..=most).contains(&n) => {}
                _ => {
                    return Err(format!(
                        "--nodes {}: a Docker cluster has 1 to {most} nodes",
                        shorten(self.nodes.trim())
                    ))
                }
            }
            if self.ssh_key.is_some() {
                return Err("--ssh-key is for existing hosts: give --nodes host1,host2,...".into());
            }
        } else if self.ssh_key.is_none() {
            return Err(format!(
                "--nodes {}: lists hosts: give --ssh-key FILE too",
                shorten(self.nodes.trim())
            ));
        }
        if let Some(name) = &self.name {
            if name.is_empty()
                || name.starts_with('.')
                || name.contains(['/', '\\'])
                || name == "latest"
            {
                return Err(format!(
                    "--name {:?}: a test name is one store directory name (no '/', no leading '.', not \"latest\")",
                    shorten(name)
                ));
            }
        }
        if let Some(e) = self
            .expect
            .iter()
            .find_map(|e| faultline_report::Expectation::parse(e).err())
        {
            return Err(format!("--expect: {e}"));
        }
        Ok(())
    }

    /// The time limit, op timeout and nemesis interval as durations (after [`Self::validate`]).
    pub fn durations(&self) -> Result<(Duration, Duration, Duration), String> {
        Ok((
            seconds("--time-limit", self.time_limit)?,
            seconds("--op-timeout", self.op_timeout)?,
            seconds("--nemesis-interval", self.nemesis_interval)?,
        ))
    }
}

/// `s` seconds as a duration, when it is a positive number of at most [`MAX_SECONDS`].
pub fn seconds(flag: &str, s: f64) -> Result<Duration, String> {
    if s.is_finite() && s > 0.0 && s <= MAX_SECONDS {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(format!(
            "{flag}: {s} is not a number of seconds between 0 and {MAX_SECONDS} (a year)"
        ))
    }
}

/// Whether `v` is a finite number from `least` to `most`.
fn within(flag: &str, v: f64, least: f64, most: f64) -> Result<(), String> {
    if v.is_finite() && v >= least && v <= most {
        Ok(())
    } else if least > 0.0 {
        Err(format!(
            "{flag}: {v} is not a positive number of at most {most}"
        ))
    } else {
        Err(format!("{flag}: {v} is not between {least} and {most}"))
    }
}

/// Whether the count `v` is from `least` to `most`.
fn count(flag: &str, v: u64, least: u64, most: u64) -> Result<(), String> {
    if (least..=most).contains(&v) {
        Ok(())
    } else {
        Err(format!("{flag}: {v} is not from {least} to {most}"))
    }
}

/// `s`, cut to a length a one-line message can carry.
pub fn shorten(s: &str) -> String {
    const MOST: usize = 80;
    match s.char_indices().nth(MOST) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    #[command(allow_negative_numbers = true)]
    struct Cli {
        #[command(flatten)]
        options: TestOptions,
    }

    fn judged(argv: &[&str]) -> Result<(), String> {
        Cli::try_parse_from(std::iter::once("test").chain(argv.iter().copied()))
            .unwrap()
            .options
            .validate()
    }

    /// Issue 18 item 6: `Duration::from_secs_f64(1e20)` panicked; every seconds flag is now
    /// bounded, and so is every count.
    #[test]
    fn huge_or_meaningless_values_are_refused_in_one_line() {
        for (flag, value) in [
            ("--time-limit", "1e20"),
            ("--time-limit", "NaN"),
            ("--op-timeout", "inf"),
            ("--nemesis-interval", "0"),
            ("--lease-ttl", "-1"),
            ("--rate", "1e300"),
            ("--clock-rate", "NaN"),
            ("--concurrency", "0"),
            ("--clock-max-offset-ms", "18446744073709551615"),
            ("--bandwidth-kbit", "0"),
            ("--corrupt-percent", "200"),
            ("--read-fraction", "1.5"),
            ("--key-count", "0"),
        ] {
            let err = judged(&[flag, value]).unwrap_err();
            assert!(
                err.starts_with(&format!("{flag}: ")),
                "{flag} {value}: {err}"
            );
            assert!(!err.contains('\n'));
        }
        assert!(judged(&["--time-limit", "31536000"]).is_ok());
        assert!(judged(&[]).is_ok());
    }

    #[test]
    fn names_and_node_counts_are_judged_before_anything_starts() {
        let err = judged(&["--name", "../../x"]).unwrap_err();
        assert!(err.starts_with("--name \"../../x\": "), "{err}");
        assert!(judged(&["--name", "latest"]).is_err());
        let err = judged(&["--nodes", "99999999999999999999999"]).unwrap_err();
        assert_eq!(
            err,
            "--nodes 99999999999999999999999: a Docker cluster has 1 to 32 nodes"
        );
        assert!(judged(&["--nodes", "0"]).is_err());
        assert_eq!(
            judged(&["--nodes", "h1,h2"]).unwrap_err(),
            "--nodes h1,h2: lists hosts: give --ssh-key FILE too"
        );
        assert!(judged(&["--nodes", "h1,h2", "--ssh-key", "/k"]).is_ok());
        let long = "9".repeat(500);
        assert!(judged(&["--nodes", &long]).unwrap_err().len() < 200);
        assert!(judged(&["--expect", "bogus"])
            .unwrap_err()
            .starts_with("--expect: "));
    }
}
