//! The workload registry: every `--workload` name as a value, with how its options follow
//! from the common arguments, its generators, its clients per protocol family, and its
//! checkers.
//!
//! `faultline test` looks a workload up here and only wires it; `faultline check RUN_DIR`
//! rebuilds the very checkers of a run from its `test.json` ([`from_test_json`]).
//! Adding a workload is one entry in [`WORKLOADS`] and one `configure` function.
//!
//! ```
//! use faultline_workloads::{configure, Common};
//! let register = configure("register", &Common::default()).unwrap();
//! assert_eq!(register.def.checkers, ["linearizability"]);
//! // No operations: nothing can be wrong.
//! let results = register.check(&[]);
//! assert_eq!(results[0].checker, "linearizability");
//! assert!(configure("regsiter", &Common::default()).err().unwrap().contains("expected one of"));
//! ```

mod early;

pub use early::PrefixCheck;
use faultline_history::{CheckerResult, Operation};
use faultline_linearizability::{ModelError, Report, SpecStream};
use faultline_runner::{ClientFactory, Gen, Workload};
use faultline_workload_bank as bank;
use faultline_workload_counter as counter;
use faultline_workload_lock as lock;
use faultline_workload_register as register;
use faultline_workload_set as set;
/// A SQL transaction isolation level (`--isolation`).
pub use faultline_workload_support::Isolation;
use faultline_workload_support::{ClientFamily, DbKind, NodeAddr, Target};
use faultline_workload_txn as txn;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// What `faultline test`'s common arguments say to every workload. The field names are
/// those of `test.json`, which records them, so a run's checkers can be rebuilt from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Common {
    /// Overall request rate, ops/s (`--rate`); `None`: the workload's own default.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Seconds after which a request completes as `info` (`--op-timeout`).
    pub op_timeout_s: f64,
    /// Serializable (possibly stale) reads instead of linearizable ones
    /// (`--serializable-reads`).
    #[serde(default)]
    pub serializable_reads: bool,
    /// The lock workloads' lease, seconds (`--lease-ttl`); `None`: the workload's default.
    #[serde(default)]
    pub lease_ttl_s: Option<f64>,
    /// The transactional workloads' active keys per worker (`--key-count`).
    #[serde(default)]
    pub key_count: Option<u32>,
    /// The transactional workloads' fewest micro-operations per transaction
    /// (`--min-txn-length`).
    #[serde(default)]
    pub min_txn_length: Option<u32>,
    /// The transactional workloads' most micro-operations per transaction
    /// (`--max-txn-length`).
    #[serde(default)]
    pub max_txn_length: Option<u32>,
    /// The transactional workloads' writes per key before it is retired
    /// (`--max-writes-per-key`).
    #[serde(default)]
    pub max_writes_per_key: Option<u32>,
    /// The transactional workloads' share of reads among micro-operations
    /// (`--read-fraction`).
    #[serde(default)]
    pub read_fraction: Option<f64>,
    /// The consistency model the transactional checker holds the database to
    /// (`--consistency-model`); `None`: strict-serializable.
    #[serde(default)]
    pub consistency_model: Option<String>,
    /// The SQL families' transaction isolation level (`--isolation`); `None`: the
    /// database's default.
    #[serde(default)]
    pub isolation: Option<Isolation>,
    /// How many nodes the cluster has (worker `i` uses node `i % node_count`); `None`: not
    /// known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_count: Option<usize>,
    /// Concurrent workers (`--concurrency`); `None`: not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
}

impl Default for Common {
    fn default() -> Self {
        Common {
            rate: None,
            op_timeout_s: 5.0,
            serializable_reads: false,
            lease_ttl_s: None,
            key_count: None,
            min_txn_length: None,
            max_txn_length: None,
            max_writes_per_key: None,
            read_fraction: None,
            consistency_model: None,
            isolation: None,
            node_count: None,
            workers: None,
        }
    }
}

impl Common {
    /// The transactional workloads' flags that were given, by name.
    fn txn_flags_given(&self) -> Vec<&'static str> {
        [
            ("--key-count", self.key_count.is_some()),
            ("--min-txn-length", self.min_txn_length.is_some()),
            ("--max-txn-length", self.max_txn_length.is_some()),
            ("--max-writes-per-key", self.max_writes_per_key.is_some()),
            ("--read-fraction", self.read_fraction.is_some()),
            ("--consistency-model", self.consistency_model.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }
}

/// One workload: what it is called, which protocol families it has clients for, which
/// checkers it runs, and how its options follow from [`Common`].
pub struct WorkloadDef {
    /// The `--workload` name.
    pub name: &'static str,
    /// One line for help texts.
    pub about: &'static str,
    /// The protocol families it has clients for.
    pub families: &'static [DbKind],
    /// The `checker` names of the results its check returns, in order.
    pub checkers: &'static [&'static str],
    /// Whether it takes `--lease-ttl`.
    pub takes_lease: bool,
    /// Whether it takes the transactional flags (`--key-count`, `--consistency-model`, ...).
    pub takes_txn: bool,
    /// Its options, generators, clients and checks from the (validated) common arguments.
    configure: fn(&'static WorkloadDef, &Common) -> Configured,
}

/// The protocol families of the workloads every built-in client family runs.
const EVERY_FAMILY: &[DbKind] = &[DbKind::Etcd, DbKind::Redis, DbKind::Postgres, DbKind::Mysql];

/// Every workload `faultline test --workload` knows, in help order.
pub static WORKLOADS: &[WorkloadDef] = &[
    WorkloadDef {
        name: register::NAME,
        about: "read, write and cas on many keys; linearizability per key (cas-register)",
        families: EVERY_FAMILY,
        checkers: &["linearizability"],
        takes_lease: false,
        takes_txn: false,
        configure: configure_register,
    },
    WorkloadDef {
        name: set::NAME,
        about: "unique adds and reads of one set; set-full",
        families: EVERY_FAMILY,
        checkers: &["set-full"],
        takes_lease: false,
        takes_txn: false,
        configure: configure_set,
    },
    WorkloadDef {
        name: counter::NAME,
        about: "increments and reads of one counter; reads within the adds' bounds",
        families: EVERY_FAMILY,
        checkers: &["counter"],
        takes_lease: false,
        takes_txn: false,
        configure: configure_counter,
    },
    WorkloadDef {
        name: bank::NAME,
        about: "transfers between accounts and reads of all balances; totals conserved",
        families: EVERY_FAMILY,
        checkers: &["bank"],
        takes_lease: false,
        takes_txn: false,
        configure: configure_bank,
    },
    WorkloadDef {
        name: lock::NAME,
        about: "lease locks with writes while held; no overlapping holds, no write after the lease was lost",
        families: EVERY_FAMILY,
        checkers: &["lock-overlap"],
        takes_lease: true,
        takes_txn: false,
        configure: configure_lock,
    },
    WorkloadDef {
        name: lock::FENCED_NAME,
        about: "lease locks with fenced writes; no stale fencing token accepted",
        families: EVERY_FAMILY,
        checkers: &["lock-fencing"],
        takes_lease: true,
        takes_txn: false,
        configure: configure_lock,
    },
    WorkloadDef {
        name: txn::APPEND_NAME,
        about: "list-append transactions (append, read whole lists); Elle-class anomalies for a consistency model",
        families: EVERY_FAMILY,
        checkers: &[faultline_transactional::CHECKER],
        takes_lease: false,
        takes_txn: true,
        configure: configure_txn,
    },
    WorkloadDef {
        name: txn::WR_NAME,
        about: "rw-register transactions (write, read single values); Elle-class anomalies for a consistency model",
        families: EVERY_FAMILY,
        checkers: &[faultline_transactional::CHECKER],
        takes_lease: false,
        takes_txn: true,
        configure: configure_txn,
    },
];

/// The `--workload` names, in help order.
pub fn names() -> Vec<&'static str> {
    WORKLOADS.iter().map(|w| w.name).collect()
}

/// The workload called `name`, or a one-line error listing the names there are.
pub fn find(name: &str) -> Result<&'static WorkloadDef, String> {
    WORKLOADS.iter().find(|w| w.name == name).ok_or_else(|| {
        format!(
            "--workload: unknown workload {name:?}; expected one of: {}",
            names().join(", ")
        )
    })
}

/// The workload called `name` configured from `common`, or a one-line error naming the
/// flag that is wrong.
pub fn configure(name: &str, common: &Common) -> Result<Configured, String> {
    let def = find(name)?;
    positive("--op-timeout", "seconds", common.op_timeout_s)?;
    if let Some(rate) = common.rate {
        positive("--rate", "ops/s", rate)?;
    }
    if let Some(ttl) = common.lease_ttl_s {
        if !def.takes_lease {
            return Err("--lease-ttl: only the lock workloads take a lease".into());
        }
        positive("--lease-ttl", "seconds", ttl)?;
    }
    if let Some(flag) = common.txn_flags_given().first() {
        if !def.takes_txn {
            return Err(format!(
                "{flag}: only the transactional workloads (append, wr) take it"
            ));
        }
    }
    if def.takes_txn {
        txn_options(def, common)?.validate()?;
    }
    Ok((def.configure)(def, common))
}

/// The workload of a recorded run, configured exactly as it ran, from the run's
/// `test.json` (its `workload` and the [`Common`] fields): what `faultline check RUN_DIR`
/// needs to run the run's own checkers.
pub fn from_test_json(test: &Value) -> Result<Configured, String> {
    let name = test
        .get("workload")
        .and_then(Value::as_str)
        .ok_or("test.json: field workload: expected a workload name")?;
    let common: Common = serde_json::from_value(test.clone())
        .map_err(|e| format!("test.json: the workload's options: {e}"))?;
    configure(name, &common).map_err(|e| format!("test.json: {e}"))
}

fn positive(flag: &str, unit: &str, x: f64) -> Result<(), String> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(format!("{flag}: {x} is not a positive number of {unit}"))
    }
}

/// A workload with its options fixed: generators, clients and checks, ready to run.
pub struct Configured {
    /// Which workload this is.
    pub def: &'static WorkloadDef,
    /// The common arguments it was configured from.
    pub common: Common,
    /// The main phase's generator.
    pub generator: Gen,
    /// What every worker runs after the final heal, if anything.
    pub final_generator: Option<Gen>,
    /// The value the workload's data starts from, as its checkers assume it (recorded in
    /// test.json): a register's (`null`: never written), a set's elements, a counter's value,
    /// a bank's balances by account.
    pub initial: Value,
    /// Lock workloads: the lease, after which an unrenewed lock frees itself.
    pub lease: Option<Duration>,
    clients: Box<ClientsFn>,
    check: Arc<CheckFn>,
    /// Workloads checked for linearizability alone: a checker for the history as it is
    /// written, and how its report becomes `check`'s results.
    streamed: Option<(Box<StreamFn>, ResultsFn)>,
}

/// A configured workload's client factory for a target.
type ClientsFn = dyn Fn(Target) -> Arc<dyn ClientFactory> + Send + Sync;
/// A configured workload's streamed linearizability checker.
type StreamFn = dyn Fn() -> SpecStream + Send + Sync;
/// How a streamed checker's report becomes the workload's results.
type ResultsFn = fn(Result<Report, ModelError>) -> Vec<CheckerResult>;
/// A configured workload's checkers.
pub(crate) type CheckFn = dyn Fn(&[Operation]) -> Vec<CheckerResult> + Send + Sync;

impl Configured {
    /// Built from a workload crate's options and its `clients` and `check` functions.
    fn new<O: Send + Sync + 'static>(
        def: &'static WorkloadDef,
        common: &Common,
        opts: O,
        generator: Gen,
        final_generator: Option<Gen>,
        clients: fn(Target, &O) -> Arc<dyn ClientFactory>,
        check: fn(&[Operation], &O) -> Vec<CheckerResult>,
    ) -> Configured {
        let opts = Arc::new(opts);
        let for_check = opts.clone();
        Configured {
            def,
            common: common.clone(),
            generator,
            final_generator,
            initial: Value::Null,
            lease: None,
            clients: Box::new(move |target| clients(target, &opts)),
            check: Arc::new(move |ops| check(ops, &for_check)),
            streamed: None,
        }
    }

    /// A checker to feed the history while the run goes, when the workload's only checker
    /// is linearizability; [`Configured::streamed_results`] turns its report into what
    /// [`Configured::check`] returns for the whole history.
    pub fn stream_checker(&self) -> Option<SpecStream> {
        self.streamed.as_ref().map(|(make, _)| make())
    }

    /// [`Configured::check`]'s results from a finished [`Configured::stream_checker`].
    pub fn streamed_results(&self, report: Result<Report, ModelError>) -> Vec<CheckerResult> {
        match &self.streamed {
            Some((_, results)) => results(report),
            None => unreachable!("streamed_results without a stream_checker"),
        }
    }

    /// Whether the workload has clients for the protocol family `client`; if not, one line.
    pub fn supports(&self, client: &ClientFamily) -> Result<(), String> {
        match client.kind() {
            Some(kind) if self.def.families.contains(&kind) => Ok(()),
            Some(kind) => Err(format!(
                "--workload {}: no client for the {kind} protocol family",
                self.def.name
            )),
            None => Err(format!(
                "--workload {}: the database names no client family (client.family = \"none\"): give --client",
                self.def.name
            )),
        }
    }

    /// How clients reach `nodes` through `client`, bounded by the common op timeout.
    pub fn target(&self, client: &ClientFamily, nodes: &[NodeAddr]) -> Target {
        Target {
            client: client.clone(),
            nodes: nodes.to_vec(),
            request_timeout: Duration::from_secs_f64(self.common.op_timeout_s),
            serializable_reads: self.common.serializable_reads,
            isolation: self.common.isolation,
        }
    }

    /// The workload for a database whose client family is `client`: `--isolation` only for
    /// the SQL families, and a transactional workload's consistency model, when none was
    /// given, the one the isolation level promises on that family (recorded in test.json
    /// as if given, so `faultline check` judges the same way).
    pub fn for_client(self, client: &ClientFamily) -> Result<Configured, String> {
        let Some(isolation) = self.common.isolation else {
            return Ok(self);
        };
        let kind = match client.kind() {
            Some(kind) if kind.is_sql() => kind,
            other => {
                let family = other.map_or_else(|| "none".to_string(), |k| k.to_string());
                return Err(format!(
                    "--isolation: only the SQL client families (postgres, mysql) take it, not {family}"
                ));
            }
        };
        if !self.def.takes_txn || self.common.consistency_model.is_some() {
            return Ok(self);
        }
        let common = Common {
            consistency_model: Some(isolation.promised_model(kind).to_string()),
            ..self.common.clone()
        };
        configure(self.def.name, &common)
    }

    /// The workload's own clients for `target`.
    pub fn clients(&self, target: Target) -> Arc<dyn ClientFactory> {
        (self.clients)(target)
    }

    /// Generators and the workload's own clients, for the runner.
    pub fn workload(&self, client: &ClientFamily, nodes: &[NodeAddr]) -> Workload {
        Workload {
            generator: self.generator.clone(),
            final_generator: self.final_generator.clone(),
            clients: self.clients(self.target(client, nodes)),
        }
    }

    /// Runs the workload's checkers on a history; one result per name in `def.checkers`.
    pub fn check(&self, ops: &[Operation]) -> Vec<CheckerResult> {
        (self.check)(ops)
    }

    /// The workload's checkers for re-checking the completed prefix of a history while it
    /// is written, with the anomaly kinds that are certain on a prefix (`--stop-on-anomaly`).
    pub fn prefix_check(&self) -> PrefixCheck {
        let model = self
            .def
            .takes_txn
            .then(|| txn_options(self.def, &self.common).map(|o| o.model).ok())
            .flatten();
        let linearizable = !self.common.serializable_reads;
        PrefixCheck::new(self.def.name, self.check.clone(), model, linearizable)
    }
}

/// `default` with the common rate, when one was given, instead of the workload's own.
fn rate(common: &Common, default: Option<f64>) -> Option<f64> {
    common.rate.or(default)
}

fn configure_register(def: &'static WorkloadDef, c: &Common) -> Configured {
    let d = register::Options::default();
    let threads_per_key = match (c.node_count, c.workers) {
        (Some(nodes), Some(workers)) => register::threads_per_key(nodes, workers),
        _ => d.threads_per_key,
    };
    let o = register::Options {
        rate: rate(c, d.rate),
        threads_per_key,
        ..d
    };
    let generator = register::generator(&o);
    let for_stream = o.clone();
    Configured {
        streamed: Some((
            Box::new(move || register::stream_checker(&for_stream)),
            register::results,
        )),
        ..Configured::new(
            def,
            c,
            o,
            generator,
            None,
            register::clients,
            register::check,
        )
    }
}

fn configure_set(def: &'static WorkloadDef, c: &Common) -> Configured {
    let d = set::Options::default();
    let o = set::Options {
        rate: rate(c, d.rate),
        serializable_reads: c.serializable_reads,
        ..d
    };
    let generator = set::generator(&o);
    let last = Some(set::final_generator());
    Configured {
        initial: Value::Array(Vec::new()),
        ..Configured::new(def, c, o, generator, last, set::clients, set::check)
    }
}

fn configure_counter(def: &'static WorkloadDef, c: &Common) -> Configured {
    let d = counter::Options::default();
    let o = counter::Options {
        rate: rate(c, d.rate),
        ..d
    };
    let generator = counter::generator(&o);
    let last = Some(counter::final_generator());
    Configured {
        initial: Value::from(0),
        ..Configured::new(def, c, o, generator, last, counter::clients, counter::check)
    }
}

fn configure_bank(def: &'static WorkloadDef, c: &Common) -> Configured {
    let d = bank::Options::default();
    let o = bank::Options {
        rate: rate(c, d.rate),
        ..d
    };
    let generator = bank::generator(&o);
    let last = Some(bank::final_generator());
    let initial = o
        .account_names()
        .into_iter()
        .map(|a| (a, Value::from(o.initial_balance)))
        .collect();
    Configured {
        initial: Value::Object(initial),
        ..Configured::new(def, c, o, generator, last, bank::clients, bank::check)
    }
}

fn configure_lock(def: &'static WorkloadDef, c: &Common) -> Configured {
    let d = lock::Options::for_name(def.name).expect("a lock workload's name");
    let o = lock::Options {
        rate: rate(c, d.rate),
        lease_ttl: c
            .lease_ttl_s
            .map(Duration::from_secs_f64)
            .unwrap_or(d.lease_ttl),
        ..d
    };
    let generator = lock::generator(&o);
    let last = Some(lock::final_generator());
    let lease = Some(o.lease_ttl);
    Configured {
        lease,
        ..Configured::new(def, c, o, generator, last, lock::clients, lock::check)
    }
}

/// A transactional workload's options from the common arguments, or one line naming the
/// flag that is wrong.
fn txn_options(def: &WorkloadDef, c: &Common) -> Result<txn::Options, String> {
    let kind = txn::Kind::for_name(def.name).expect("a transactional workload's name");
    let d = txn::Options::new(kind);
    let model = match &c.consistency_model {
        None => d.model,
        Some(m) => m.parse().map_err(|e| format!("--consistency-model: {e}"))?,
    };
    Ok(txn::Options {
        key_count: c.key_count.unwrap_or(d.key_count),
        min_txn_length: c.min_txn_length.unwrap_or(d.min_txn_length),
        max_txn_length: c.max_txn_length.unwrap_or(d.max_txn_length),
        max_writes_per_key: c.max_writes_per_key.unwrap_or(d.max_writes_per_key),
        read_fraction: c.read_fraction.unwrap_or(d.read_fraction),
        model,
        rate: rate(c, d.rate),
        ..d
    })
}

fn configure_txn(def: &'static WorkloadDef, c: &Common) -> Configured {
    let o = txn_options(def, c).expect("validated by configure");
    let generator = txn::generator(&o);
    Configured::new(def, c, o, generator, None, txn::clients, txn::check)
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_history::testing::op;
    use faultline_history::Outcome;
    use serde_json::json;

    #[test]
    fn every_workload_checks_with_the_checkers_it_names() {
        for def in WORKLOADS {
            let w = configure(def.name, &Common::default()).unwrap();
            let names: Vec<String> = w.check(&[]).into_iter().map(|r| r.checker).collect();
            assert_eq!(names, def.checkers, "{}", def.name);
        }
    }

    #[test]
    fn names_are_unique_and_found() {
        let mut names = names();
        for n in &names {
            assert_eq!(find(n).unwrap().name, *n);
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), WORKLOADS.len());
        assert_eq!(
            find("nope").err().unwrap(),
            "--workload: unknown workload \"nope\"; expected one of: register, set, counter, bank, lock, lock-fenced, append, wr"
        );
    }

    #[test]
    fn common_arguments_are_validated_with_the_flag_named() {
        let with = |f: &dyn Fn(&mut Common)| {
            let mut c = Common::default();
            f(&mut c);
            c
        };
        let lease = with(&|c| c.lease_ttl_s = Some(1.0));
        assert_eq!(
            configure("set", &lease).err().unwrap(),
            "--lease-ttl: only the lock workloads take a lease"
        );
        assert!(configure("lock-fenced", &lease).is_ok());
        let e = configure("lock", &with(&|c| c.lease_ttl_s = Some(0.0)));
        assert!(e.err().unwrap().starts_with("--lease-ttl: 0 is not"));
        let e = configure("register", &with(&|c| c.rate = Some(f64::NAN)));
        assert!(e.err().unwrap().starts_with("--rate: NaN is not"));
        let e = configure("register", &with(&|c| c.op_timeout_s = -1.0));
        assert!(e.err().unwrap().starts_with("--op-timeout: -1 is not"));
    }

    #[test]
    fn the_target_carries_the_common_timeout_and_reads() {
        let c = Common {
            op_timeout_s: 2.5,
            serializable_reads: true,
            ..Common::default()
        };
        let w = configure("register", &c).unwrap();
        let t = w.target(
            &ClientFamily::Etcd { port: 2379 },
            &[NodeAddr::new("n1", "10.0.0.1")],
        );
        assert_eq!(t.request_timeout, Duration::from_millis(2500));
        assert!(t.serializable_reads);
        assert_eq!(t.address_of("n1"), "10.0.0.1");
        assert!(w.supports(&ClientFamily::Etcd { port: 1 }).is_ok());
        assert!(w
            .supports(&ClientFamily::None)
            .unwrap_err()
            .contains("give --client"));
    }

    /// An acknowledged add, a read missing it, then a read seeing it: stale, which only
    /// serializable reads excuse.
    fn stale_set_history() -> Vec<Operation> {
        vec![
            op(0, "add", json!(1), json!(1), Outcome::Ok, 0, Some(1)),
            op(1, "read", Value::Null, json!([]), Outcome::Ok, 2, Some(3)),
            op(1, "read", Value::Null, json!([1]), Outcome::Ok, 4, Some(5)),
        ]
    }

    #[test]
    fn a_runs_checkers_are_rebuilt_from_its_test_json() {
        let ops = stale_set_history();
        let strict = from_test_json(&json!({"workload": "set", "op_timeout_s": 5.0})).unwrap();
        let relaxed = from_test_json(&json!({
            "workload": "set", "op_timeout_s": 5.0, "serializable_reads": true,
            "rate": null, "lease_ttl_s": null, "seed": 7
        }))
        .unwrap();
        assert!(relaxed.common.serializable_reads);
        let verdict = |w: &Configured| w.check(&ops)[0].verdict;
        assert_ne!(
            verdict(&strict),
            verdict(&relaxed),
            "stale reads judged by the run's options"
        );
        assert_eq!(
            from_test_json(&json!({"op_timeout_s": 5.0})).err().unwrap(),
            "test.json: field workload: expected a workload name"
        );
        assert!(
            from_test_json(&json!({"workload": "set", "op_timeout_s": "x"}))
                .err()
                .unwrap()
                .starts_with("test.json: the workload's options:")
        );
        assert!(from_test_json(
            &json!({"workload": "bank", "op_timeout_s": 5.0, "lease_ttl_s": 3.0})
        )
        .err()
        .unwrap()
        .starts_with("test.json: --lease-ttl"));
    }
}
