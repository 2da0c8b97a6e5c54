//! The one place that decides which checkers judge a history and runs them, for `faultline
//! test`, `check` and `report` alike: a run's own checkers are rebuilt from its test.json by
//! the workload registry (`faultline_workloads`), exactly as the run configured them; a bare
//! history gets the checkers `--checker` names, or those of the workload its functions show
//! ([`recognise`]), or a linearizability model its functions imply ([`infer_model`]). Also
//! reading a history from disk ([`load`], [`load_within`]) and finding a run's test.json
//! ([`locate`]).

use faultline_history::import::{self, Format};
use faultline_history::input::Source;
use faultline_history::jsonl::ReadError;
use faultline_history::{pair, CheckerResult, Operation, Verdict};
use faultline_linearizability::ModelSpec;
use faultline_transactional as txn;
use faultline_workloads::{self as workloads, Common, Configured};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The checkers of the run whose test.json is at `config`, as the run configured them.
pub fn run_checkers(config: &Path) -> Result<Configured, String> {
    let name = config.display();
    let text = std::fs::read_to_string(config).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{name}:line {}: not JSON: {e}", e.line()))?;
    if value.get("config_version").is_some() {
        // Typed: the whole record must read, so a damaged test.json is caught here.
        let typed = crate::config::read(config)?;
        return workloads::configure(&typed.workload, &typed.common)
            .map_err(|e| format!("{name}: {e}"));
    }
    // Written before test.json was typed: the registry reads the fields it needs.
    workloads::from_test_json(&value)
        .map_err(|e| format!("{name}: {}", e.trim_start_matches("test.json: ")))
}

/// Runs the checkers of the run whose test.json is at `config` on `ops`.
pub fn check_run(config: &Path, ops: &[Operation]) -> Result<Vec<CheckerResult>, String> {
    Ok(run_checkers(config)?.check(ops))
}

/// Whether `name` names checkers (`--checker`): linearizability or a workload's.
pub fn known_checker(name: &str) -> Result<(), String> {
    if name == LINEARIZABILITY {
        return Ok(());
    }
    workloads::find(name).map(|_| ()).map_err(|e| {
        e.replace("--workload: unknown workload", "unknown checker")
            .replace(
                "expected one of: ",
                &format!("expected one of: {LINEARIZABILITY}, "),
            )
    })
}

/// The worst verdict of several checkers' (valid when there are none).
pub fn worst_of(results: &[CheckerResult]) -> Verdict {
    results
        .iter()
        .fold(Verdict::Valid, |w, r| w.worst(r.verdict))
}

/// The checker named for linearizability (`--checker linearizability`).
pub const LINEARIZABILITY: &str = "linearizability";

/// A history read from disk: its events (with their lines) and its format.
pub struct Loaded {
    /// The imported history.
    pub history: import::History,
    /// The operations, paired.
    pub ops: Vec<Operation>,
    /// What the user should know about how it was read (a torn last line dropped).
    pub warnings: Vec<String>,
}

/// Reads, imports and pairs one history file. A JSON Lines history whose last line a crash
/// tore (no newline, not an event) is read without it, with a one-line warning in
/// [`Loaded::warnings`].
pub fn load(file: &Path, format: Option<Format>) -> Result<Loaded, String> {
    let name = file.display().to_string();
    let source = Source::open(file).map_err(|e| format!("{name}: cannot read: {e}"))?;
    load_source(&source, &name, format, usize::MAX)
}

/// [`load`] of an input already opened, refusing an operation that could take more than
/// `memory_limit` bytes to read.
pub fn load_source(
    source: &Source,
    name: &str,
    format: Option<Format>,
    memory_limit: usize,
) -> Result<Loaded, String> {
    let bytes = source
        .bytes()
        .map_err(|e| format!("{name}: cannot read: {e}"))?;
    let mut text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "{name}: not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    let jsonl = match format {
        Some(f) => f == Format::Jsonl,
        None => import::detect(&text) == Some(Format::Jsonl),
    };
    let mut warnings = Vec::new();
    if jsonl {
        let (kept, torn) = faultline_history::jsonl::without_torn_tail(text.as_bytes());
        if let Some(e) = torn {
            warnings.push(format!(
                "warning: {name}:line {}: torn last line dropped (a crash cut it: {}); checking the {} lines before it",
                e.line,
                faultline_history::value::clip(&e.message),
                e.line - 1
            ));
            let keep = kept.len();
            text.truncate(keep);
        }
    }
    let history =
        import::import_within(&text, format, memory_limit).map_err(|e| format!("{name}:{e}"))?;
    drop(text);
    let ops = pair(&history.events, &history.lines).map_err(|e| format!("{name}:{e}"))?;
    Ok(Loaded {
        history,
        ops,
        warnings,
    })
}

/// Like [`load_source`], but a JSON Lines history whose events are not needed (no `--html`)
/// is streamed: events are paired as they are read and not kept, and no line may take more
/// than `memory_limit` bytes to parse, so reading stays within the limit. A stream that fails
/// on an input that does not end with a newline goes the whole-file way, which drops a torn
/// last line.
pub fn load_within(
    source: &Source,
    name: &str,
    format: Option<Format>,
    memory_limit: usize,
    keep_events: bool,
) -> Result<Loaded, String> {
    if !keep_events && is_jsonl(source, format, name)? {
        let f = source
            .reader()
            .map_err(|e| format!("{name}: cannot read: {e}"))?;
        let opts = faultline_history::jsonl::ReadOptions {
            expected_bytes: source.len_hint(),
            ..faultline_history::jsonl::ReadOptions::new(memory_limit)
        };
        match faultline_history::jsonl::read_jsonl_ops_with(
            std::io::BufReader::with_capacity(1 << 20, f),
            &opts,
        ) {
            Ok(ops) => {
                let history = import::History {
                    format: Format::Jsonl,
                    events: Vec::new(),
                    lines: Vec::new(),
                };
                return Ok(Loaded {
                    history,
                    ops,
                    warnings: Vec::new(),
                });
            }
            Err(ReadError::Import(e))
                if !source.ends_with_newline() && !e.message.starts_with("line is longer") => {}
            Err(ReadError::Import(e)) => return Err(format!("{name}:{e}")),
            Err(ReadError::Pair(e)) => return Err(format!("{name}:{e}")),
        }
    }
    load_source(source, name, format, memory_limit)
}

/// Where a file's history and its run's test.json are: a run directory holds both; a JSON
/// Lines history may have test.json beside it.
pub fn locate(file: &Path) -> (PathBuf, Option<PathBuf>) {
    if file.as_os_str() == faultline_history::input::STDIN || !file.is_file() && !file.is_dir() {
        // Standard input, a pipe or a FIFO: nothing is beside it.
        return (file.to_path_buf(), None);
    }
    if file.is_dir() {
        let config = file.join(faultline_report::CONFIG_FILE);
        return (
            file.join(faultline_report::HISTORY_FILE),
            config.is_file().then_some(config),
        );
    }
    let beside = file
        .parent()
        .map(|d| d.join(faultline_report::CONFIG_FILE))
        .filter(|c| c.is_file());
    (file.to_path_buf(), beside)
}

/// The consistency model the run whose test.json is at `config` was checked with, if it
/// recorded one (`--consistency-model` of the transactional workloads).
pub fn recorded_consistency_model(config: &Path) -> Result<Option<txn::Model>, String> {
    let name = config.display();
    let text = std::fs::read_to_string(config).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{name}:line {}: not JSON: {e}", e.line()))?;
    match value.get("consistency_model") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(m)) => m
            .parse()
            .map(Some)
            .map_err(|e| format!("{name}: consistency_model: {e}")),
        Some(other) => Err(format!(
            "{name}: consistency_model: expected a model name, got {other}"
        )),
    }
}

/// The workload whose checkers a bare history gets when `--checker` does not say: sets,
/// counters and banks by their functions and values; `None` for linearizability.
pub fn recognise(ops: &[Operation], fs: &BTreeSet<&str>) -> Option<&'static str> {
    let has = |f: &str| fs.contains(f);
    let read_outputs = || {
        ops.iter()
            .filter(|o| o.f == "read" && o.outcome == faultline_history::Outcome::Ok)
            .map(|o| &o.output)
    };
    if has("transfer") && !has("txn") {
        return Some("bank");
    }
    if has("add") {
        if read_outputs().any(Value::is_array) {
            return Some("set");
        }
        if read_outputs().any(|v| v.is_i64() || v.is_u64()) {
            return Some("counter");
        }
    }
    None
}

/// Runs the checkers of the workload `name` on a bare history: its own options, with the
/// lease and initial value the flags give (bank: the total and accounts of `initial`, or the
/// most common total of the reads).
pub fn workload_checkers(
    name: &str,
    ops: &[Operation],
    initial: Option<&Value>,
    lease_ttl_s: Option<f64>,
) -> Result<Vec<faultline_history::CheckerResult>, String> {
    let unreadable = |checker: &str, e: faultline_history::InputError| {
        faultline_workload_support::unreadable(checker, e.to_string())
    };
    match name {
        "counter" => {
            let initial = match initial {
                None => 0,
                Some(v) => v.as_i64().ok_or(format!(
                    "--initial: a counter starts from an integer, got {v}"
                ))?,
            };
            let opts = faultline_counter_checker::CounterOptions { initial };
            Ok(vec![faultline_counter_checker::check(ops, &opts)
                .unwrap_or_else(|e| {
                    unreadable(faultline_counter_checker::CHECKER, e)
                })])
        }
        "bank" => {
            let mut opts = faultline_bank_checker::BankOptions::default();
            if let Some(v) = initial {
                let balances = v.as_object().filter(|m| m.values().all(Value::is_i64)).ok_or(
                    format!("--initial: a bank starts from balances by account, such as {{\"a\":10,\"b\":10}}, got {v}"),
                )?;
                let total = balances
                    .values()
                    .filter_map(Value::as_i64)
                    .try_fold(0i64, i64::checked_add)
                    .ok_or("--initial: the balances' total is beyond 64 bits")?;
                opts.total = Some(total);
                opts.accounts = Some(balances.keys().cloned().collect());
            }
            Ok(vec![faultline_bank_checker::check(ops, &opts)
                .unwrap_or_else(|e| {
                    unreadable(faultline_bank_checker::CHECKER, e)
                })])
        }
        _ => {
            if let Some(v) = initial {
                let empty_set = name == "set" && v.as_array().is_some_and(Vec::is_empty);
                let register_null = name == "register" && v.is_null();
                if !(empty_set || register_null) {
                    return Err(format!(
                        "--initial: the {name} checkers start from the workload's own initial value; \
                         for a register's, use --checker linearizability --model cas-register"
                    ));
                }
            }
            let common = Common {
                lease_ttl_s,
                ..Common::default()
            };
            Ok(workloads::configure(name, &common)?.check(ops))
        }
    }
}

/// Whether `file` is JSON Lines (named so, or detected from its first line), judged from its
/// first 64 KiB: a first line longer than that which opens a JSON object counts as JSON Lines,
/// so that a huge line is refused by the streamed reader instead of being read whole.
pub fn is_jsonl(source: &Source, format: Option<Format>, name: &str) -> Result<bool, String> {
    if let Some(f) = format {
        return Ok(f == Format::Jsonl);
    }
    let mut head = source
        .head(64 << 10)
        .map_err(|e| format!("{name}: cannot read: {e}"))?;
    let whole_head = head.len() == 64 << 10;
    if head.starts_with(faultline_history::input::BOM) {
        head.drain(..faultline_history::input::BOM.len());
    }
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    let first = &head[start..];
    match first.iter().position(|&b| b == b'\n') {
        Some(end) => Ok(std::str::from_utf8(&first[..end])
            .is_ok_and(|line| import::detect(line) == Some(Format::Jsonl))),
        None => Ok(whole_head
            && first.starts_with(b"{")
            && first[1..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'"')),
    }
}

/// The model a history's functions imply, when neither `--model` nor the format names one.
///
/// Mirrors what Knossos users would pass: queues, locks, sets and transactions have their own
/// models; register-like histories get `cas-register` (a superset of `register`) and
/// get/put/append histories get `kv`.
pub fn infer_model(fs: &BTreeSet<&str>) -> ModelSpec {
    let has = |f: &str| fs.contains(f);
    if has("acquire") || has("release") {
        ModelSpec::Mutex
    } else if has("enqueue") || has("dequeue") {
        ModelSpec::FifoQueue
    } else if has("txn") {
        ModelSpec::MultiRegister
    } else if has("add") && !has("read") {
        // Reads would make it a set or counter history, which `recognise` gives their
        // own checkers; adds alone are a set's.
        ModelSpec::Set
    } else if has("get") || has("put") || has("append") {
        ModelSpec::Kv
    } else {
        ModelSpec::CasRegister
    }
}

/// The distinct `f`s of `ops`, in one pass.
pub fn functions(ops: &[Operation]) -> BTreeSet<&str> {
    let mut fs = BTreeSet::new();
    // Operations mostly repeat a few f's: a recent one needs no look-up in the set.
    let mut recent: [Option<&str>; 4] = [None; 4];
    for (i, o) in ops.iter().enumerate() {
        let f = o.f.as_str();
        if !recent.contains(&Some(f)) {
            fs.insert(f);
            recent[i % recent.len()] = Some(f);
        }
    }
    fs
}
