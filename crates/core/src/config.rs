//! `test.json`: one typed record of a `faultline test` run, which `test` writes and `check`
//! and `report` read.
//!
//! It holds every `faultline test` flag as given ([`TestOptions`], defaults filled in, the seed
//! fixed to this run's), the values the workload's checkers judge with (its initial value,
//! a lock's lease), and what the run found out (nodes and addresses, notes). The reproduce
//! command is rendered from the flags, so no flag can be forgotten: a flag added to
//! [`TestOptions`] is in test.json and in the command by construction, and a test checks that
//! every flag round-trips (flags -> test.json -> command -> parsed flags).

use crate::options::TestOptions;
use faultline_workloads::{Common, Configured};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The layout version of test.json; a reader refuses newer ones.
pub const CONFIG_VERSION: u32 = 1;

/// The contents of test.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestConfig {
    /// [`CONFIG_VERSION`] when written.
    pub config_version: u32,
    /// The test's name in the store.
    pub name: String,
    /// The database under test.
    pub db: String,
    /// The workload (`--workload`), whose checkers judge the history.
    pub workload: String,
    /// The faults asked for, as given.
    pub nemesis: Vec<String>,
    /// The node names.
    pub nodes: Vec<String>,
    /// Each node's address.
    pub node_addresses: BTreeMap<String, String>,
    /// This run's seed.
    pub seed: u64,
    /// The command that repeats this run, rendered from `flags`.
    pub command: String,
    /// Every `faultline test` flag of this run (seed fixed, one run).
    pub flags: TestOptions,
    /// The workload's options from the common arguments, at the top level under their own
    /// names: the workload registry rebuilds the run's checkers from them
    /// (`faultline_workloads::from_test_json`).
    #[serde(flatten)]
    pub common: Common,
    /// What the workload's checkers judge with.
    pub check: CheckSpec,
    /// The nemesis as planned.
    pub nemesis_config: Value,
    /// Things the user should know about this run.
    pub notes: Vec<String>,
    /// How clock faults reached the nodes, when there were any.
    pub clock_mechanism: Option<String>,
    /// The `--client` program, when one carried out the operations.
    #[serde(default)]
    pub client: Option<String>,
    /// The options its open message carried.
    #[serde(default)]
    pub client_options: Option<Value>,
    /// What the run expects its faults to do (`--expect`); `faultline report` judges with it.
    #[serde(default)]
    pub expect: Vec<String>,
    /// What pins the `--client` program: each file its command names (the executable,
    /// resolved through `PATH`, and any script argument) with its SHA-256.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_files: Vec<PinnedFile>,
    /// The definition as it ran, copied into the run directory's `definition/`: each file
    /// with its SHA-256.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub definition_files: Vec<PinnedFile>,
    /// The faultline version that ran the test.
    pub faultline_version: String,
}

/// A file and its SHA-256 (lowercase hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedFile {
    /// For a client file, its absolute path; for a definition file, its path under
    /// `definition/` (`db.toml`, `start.sh`, `files/etc/app.conf`).
    pub path: String,
    /// The SHA-256 of its contents.
    pub sha256: String,
}

/// What a workload's checkers need beyond the history: recorded so that `faultline check`
/// judges a run alone, the same way the run did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckSpec {
    /// The initial value the workload's data starts from: a register's value (`null`: never
    /// written), a counter's value, a set's elements, a bank's balances by account.
    pub initial: Value,
    /// Lock workloads: the lease TTL in ms (the lock frees itself this long after its holder
    /// last renewed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ttl_ms: Option<u64>,
}

impl CheckSpec {
    /// What `workload`'s checkers judge with.
    pub fn of(workload: &Configured) -> CheckSpec {
        CheckSpec {
            initial: workload.initial.clone(),
            lease_ttl_ms: workload.lease.map(|l| l.as_millis() as u64),
        }
    }
}

/// The flags of one run: `args` with the run's seed, and one run (a reproduce command
/// repeats one run, not the series of `--test-count`).
pub fn flags_for_run(args: &TestOptions, seed: u64) -> TestOptions {
    let mut flags = args.clone();
    flags.seed = Some(seed);
    flags.test_count = 1;
    flags
}

/// Flags that come first in the rendered command, for the reader; the rest follow in order
/// of name.
const LEADING_FLAGS: &[&str] = &["db", "workload", "nemesis"];

/// The `faultline test` command line with exactly `flags`: every flag with a value, switches
/// that are on; `None` and off are the defaults and are left out.
pub fn reproduce_command(flags: &TestOptions) -> String {
    let Ok(Value::Object(map)) = serde_json::to_value(flags) else {
        unreachable!("TestOptions serializes to a map");
    };
    let mut names: Vec<&String> = map.keys().collect();
    names.sort_by_key(|n| {
        (
            LEADING_FLAGS
                .iter()
                .position(|l| l == n)
                .unwrap_or(LEADING_FLAGS.len()),
            n.as_str(),
        )
    });
    let mut command = String::from("faultline test");
    for name in names {
        let flag = format!("--{}", name.replace('_', "-"));
        let value = match &map[name] {
            Value::Null | Value::Bool(false) => continue,
            Value::Bool(true) => {
                command += &format!(" {flag}");
                continue;
            }
            Value::String(s) => s.clone(),
            Value::Array(items) => {
                // Repeated: right for repeatable flags and for comma-separated lists alike.
                for v in items {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    command += &format!(" {flag} {}", faultline_report::shell_quote(&v));
                }
                continue;
            }
            other => other.to_string(),
        };
        command += &format!(" {flag} {}", faultline_report::shell_quote(&value));
    }
    command
}

/// Reads test.json, or says in one line what is wrong with it.
pub fn read(path: &Path) -> Result<TestConfig, String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{name}:line {}: not JSON: {e}", e.line()))?;
    match value.get("config_version").and_then(Value::as_u64) {
        None => {
            return Err(format!(
                "{name}: written by a faultline before typed test.json (no config_version); \
                 name the checker with --checker"
            ))
        }
        Some(v) if v > u64::from(CONFIG_VERSION) => {
            return Err(format!(
                "{name}: config_version {v} is newer than this faultline understands ({CONFIG_VERSION})"
            ))
        }
        Some(_) => {}
    }
    // Through a `Value`: serde's flatten buffers numbers, which only a `Value` hands on
    // as plain numbers when serde_json keeps their text (arbitrary_precision).
    serde_json::from_value(value).map_err(|e| format!("{name}: {e}"))
}

/// A test.json for tests of other modules.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// The test.json of one run of `flags` on one node, seed 1.
    pub(crate) fn config(flags: TestOptions) -> TestConfig {
        let workload = faultline_workloads::configure(&flags.workload, &flags.common()).unwrap();
        TestConfig {
            config_version: CONFIG_VERSION,
            name: "t".into(),
            db: flags.db.clone(),
            workload: flags.workload.clone(),
            nemesis: vec![],
            nodes: vec!["n1".into()],
            node_addresses: BTreeMap::new(),
            seed: 1,
            command: reproduce_command(&flags),
            common: workload.common.clone(),
            check: CheckSpec::of(&workload),
            flags,
            nemesis_config: Value::Null,
            notes: vec![],
            clock_mechanism: None,
            client: None,
            client_options: None,
            expect: vec![],
            client_files: vec![],
            definition_files: vec![],
            faultline_version: "0".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser, Debug)]
    #[command(name = "faultline-test")]
    struct Cli {
        #[command(flatten)]
        args: TestOptions,
    }

    /// Splits a command rendered by [`reproduce_command`] the way a POSIX shell would
    /// (plain words, single-quoted ones, backslash escapes outside quotes).
    fn shell_words(command: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word = String::new();
        let (mut quoted, mut started) = (false, false);
        let mut chars = command.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' if !quoted => {
                    word.extend(chars.next());
                    started = true;
                }
                '\'' => {
                    quoted = !quoted;
                    started = true;
                }
                ' ' if !quoted => {
                    if started {
                        words.push(std::mem::take(&mut word));
                    }
                    started = false;
                }
                c => {
                    word.push(c);
                    started = true;
                }
            }
        }
        if started {
            words.push(word);
        }
        words
    }

    fn parse(words: &[String]) -> TestOptions {
        Cli::try_parse_from(
            std::iter::once("faultline-test".to_string()).chain(words.iter().cloned()),
        )
        .unwrap_or_else(|e| panic!("{words:?}: {e}"))
        .args
    }

    /// Every flag set away from its default: a flag missing from test.json or from the
    /// command, or rendered under another name, fails here.
    const EVERY_FLAG: &[&str] = &[
        "--db",
        "redis",
        "--workload",
        "lock",
        "--nemesis",
        "pause-one,clock-bump-forward",
        "--time-limit",
        "12.5",
        "--concurrency",
        "3",
        "--nodes",
        "h1,h2:2222,h3",
        "--ssh-user",
        "admin",
        "--ssh-key",
        "/keys/it's mine",
        "--seed",
        "42",
        "--test-count",
        "1",
        "--rate",
        "7.5",
        "--nemesis-interval",
        "3",
        "--serializable-reads",
        "--op-timeout",
        "2.25",
        "--lease-ttl",
        "1.5",
        "--key-count",
        "7",
        "--min-txn-length",
        "2",
        "--max-txn-length",
        "6",
        "--max-writes-per-key",
        "16",
        "--read-fraction",
        "0.25",
        "--consistency-model",
        "snapshot-isolation",
        "--store",
        "/tmp/a store",
        "--name",
        "my test",
        "--keep-cluster",
        "--allow-clock-changes",
        "--clock-max-offset-ms",
        "1234",
        "--clock-rate",
        "2.5",
        "--delay-ms",
        "150",
        "--delay-jitter-ms",
        "20",
        "--corrupt-percent",
        "7",
        "--bandwidth-kbit",
        "64",
        "--expect",
        "leader-change,effect",
        "--stop-on-anomaly",
        "--client",
        "python3 'my client'.py",
        "--client-opt",
        "a=1",
        "--client-opt",
        "b={\"x\": [2, 3]}",
        "--summary-markdown",
        "/tmp/sum mary.md",
        "--allow-outside-files",
        "--isolation",
        "serializable",
    ];

    #[test]
    fn every_flag_round_trips_through_test_json_and_the_reproduce_command() {
        let given: Vec<String> = EVERY_FLAG.iter().map(|s| s.to_string()).collect();
        let args = parse(&given);
        // Every flag `faultline test` has is in the list above.
        for arg in Cli::command().get_arguments() {
            if let Some(long) = arg.get_long() {
                assert!(
                    EVERY_FLAG.contains(&format!("--{long}").as_str()),
                    "--{long} is not exercised by this test"
                );
            }
        }
        let flags = flags_for_run(&args, 42);
        assert_eq!(flags, args, "seed 42 and one run were given");
        let json = serde_json::to_string_pretty(&flags).unwrap();
        let back: TestOptions = serde_json::from_str(&json).unwrap();
        assert_eq!(back, flags);
        let command = reproduce_command(&back);
        assert!(command.contains(" --allow-clock-changes"), "{command}");
        let words = shell_words(&command);
        assert_eq!(words[..2], ["faultline", "test"]);
        assert_eq!(parse(&words[2..]), flags, "{command}");
    }

    /// What `faultline test` writes for `argv`, as it writes it.
    fn written(argv: &[&str], dir: &Path) -> (Configured, std::path::PathBuf) {
        let args = parse(&argv.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let workload = faultline_workloads::configure(&args.workload, &args.common()).unwrap();
        let flags = flags_for_run(&args, 1);
        let config = TestConfig {
            config_version: CONFIG_VERSION,
            name: "t".into(),
            db: "etcd".into(),
            workload: args.workload.clone(),
            nemesis: vec![],
            nodes: vec!["n1".into()],
            node_addresses: BTreeMap::new(),
            seed: 1,
            command: reproduce_command(&flags),
            flags,
            common: workload.common.clone(),
            check: CheckSpec::of(&workload),
            nemesis_config: Value::Null,
            notes: vec![],
            clock_mechanism: None,
            client: None,
            client_options: None,
            expect: vec![],
            client_files: vec![],
            definition_files: vec![],
            faultline_version: "0".into(),
        };
        let path = dir.join(format!("{}.json", argv.join("_").replace(['-', '/'], "")));
        std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
        assert_eq!(read(&path).unwrap(), config);
        (workload, path)
    }

    /// Issue 8 items 8 and 9: the checkers `faultline check RUN_DIR` rebuilds from test.json are
    /// the run's own, with its options, and the lease is recorded for the lock workloads.
    #[test]
    fn a_runs_checkers_are_rebuilt_from_the_test_json_it_writes() {
        let dir = tempfile::tempdir().unwrap();
        let cases: &[&[&str]] = &[
            &["--workload", "register", "--rate", "3"],
            &["--workload", "set", "--serializable-reads"],
            &["--workload", "counter"],
            &["--workload", "bank", "--op-timeout", "1.5"],
            &["--workload", "lock", "--lease-ttl", "3"],
            &["--workload", "lock-fenced"],
            &[
                "--workload",
                "append",
                "--key-count",
                "3",
                "--read-fraction",
                "0.7",
            ],
            &[
                "--workload",
                "wr",
                "--consistency-model",
                "serializable",
                "--max-txn-length",
                "2",
            ],
        ];
        for argv in cases {
            let (run, path) = written(argv, dir.path());
            let again = crate::checking::run_checkers(&path).unwrap();
            assert_eq!(again.def.name, run.def.name);
            assert_eq!(again.common, run.common, "{argv:?}");
            assert_eq!(again.initial, run.initial, "{argv:?}");
            assert_eq!(again.lease, run.lease, "{argv:?}");
            let names = |w: &Configured| -> Vec<String> {
                w.check(&[]).into_iter().map(|r| r.checker).collect()
            };
            assert_eq!(names(&again), names(&run));
        }
        let (lock, path) = written(&["--workload", "lock", "--lease-ttl", "3"], dir.path());
        assert_eq!(lock.lease, Some(std::time::Duration::from_secs(3)));
        assert_eq!(read(&path).unwrap().check.lease_ttl_ms, Some(3000));
        let (counter, _) = written(&["--workload", "counter"], dir.path());
        assert_eq!(counter.initial, serde_json::json!(0));
    }

    #[test]
    fn defaults_round_trip_and_a_series_reproduces_one_run() {
        let args = parse(&["--test-count".into(), "3".into()]);
        let flags = flags_for_run(&args, 9);
        assert_eq!(flags.seed, Some(9));
        assert_eq!(flags.test_count, 1);
        let command = reproduce_command(&flags);
        assert!(
            command
                .starts_with("faultline test --db etcd --workload register --nemesis partition "),
            "{command}"
        );
        assert_eq!(parse(&shell_words(&command)[2..]), flags, "{command}");
    }
}
