//! `faultline check FILE...`: import histories and check them for linearizability, or, for
//! transactional histories (`f: "txn"`), for the anomalies of a consistency model, or with
//! a workload's own checkers.
//!
//! A run directory (or a JSON Lines history with the run's `test.json` beside it) is judged
//! by exactly the checkers its workload ran, with the same options (the workload registry
//! rebuilds them from test.json). `--checker NAME` picks them for a bare history; without
//! it, set, counter and bank histories are recognised by their functions and values. A
//! history whose last line a crash tore is checked without that line, with a warning.
//!
//! Each file is read, imported (format given or detected) and paired into operations. A
//! history of transactions goes to the transactional checker (`--consistency-model`); any
//! other is searched against a model (given, implied by the format, or inferred from the
//! functions present). One line per file goes to stdout; `--json` prints one JSON array
//! instead. The exit code is the worst outcome's: invalid (1), then bad input (254, a file
//! that could not be read), then unknown (2), then valid (0); see [`exit_code`]. Each input
//! is read once: `-` is standard input, and a pipe or FIFO is read whole when opened.

use faultline_history::import::{self, Format};
use faultline_history::input::Source;
use faultline_history::jsonl::ReadError;
use faultline_history::{pair, Event, Operation, Verdict};
use faultline_linearizability::{self as lin, CheckOptions, ModelSpec, Progress, Report};
use faultline_transactional as txn;
use faultline_workloads::{self as workloads, Common};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `faultline check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// History files (history.jsonl, Jepsen/Knossos EDN, Elle JSON, Porcupine logs) or run
    /// directories (store/<test>/<timestamp>, judged by their workload's own checkers).
    #[arg(required = true, value_name = "FILE|RUN_DIR")]
    files: Vec<PathBuf>,
    /// The checkers for a history without a test.json: linearizability (with --model), or a
    /// workload's: register, set, counter, bank, lock, lock-fenced [default: a run's own;
    /// else recognised from the history's functions].
    #[arg(long, value_name = "NAME")]
    checker: Option<String>,
    /// The initial value the history starts from: a register's value, a multi-register's or
    /// kv's map such as {"x":0,"y":0}, a counter's value, a bank's balances by account
    /// [default: a run's recorded one; else null, 0, or the most common total].
    #[arg(long, value_name = "JSON")]
    initial: Option<String>,
    /// Lock histories without a test.json: the lease TTL in seconds [default: the lock
    /// workload's, 2 s].
    #[arg(long, value_name = "S")]
    lease_ttl: Option<f64>,
    /// Input format: jsonl, jepsen-edn, elle-json, porcupine-etcd or porcupine-kv [default: detected].
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// Model: register, cas-register, multi-register, kv, mutex, fifo-queue, unordered-queue,
    /// set [default: implied by the format, else inferred from the functions in the history].
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
    /// For transactional histories: the consistency model the database claims (read-uncommitted,
    /// read-committed, cursor-stability, repeatable-read, consistent-view, snapshot-isolation,
    /// strong-session-snapshot-isolation, strong-snapshot-isolation, serializable,
    /// strong-session-serializable, strict-serializable).
    #[arg(long, value_name = "MODEL", default_value = "strict-serializable")]
    consistency_model: String,
    /// Check a keyed history as one search instead of key by key.
    #[arg(long)]
    no_split: bool,
    /// Give up (verdict unknown) after this many seconds per file.
    #[arg(long, value_name = "SECONDS")]
    time_limit: Option<f64>,
    /// Give up (verdict unknown) when the search holds about this many MB; a JSON Lines line
    /// that could take more than this to parse is refused (exit 254) before it is read whole.
    #[arg(long, value_name = "MB", default_value_t = 4096)]
    memory_limit: u64,
    /// Print one JSON array with a record per file instead of lines.
    #[arg(long)]
    json: bool,
    /// Write a self-contained HTML report of the (single) checked history to this path.
    #[arg(long, value_name = "OUT")]
    html: Option<PathBuf>,
}

/// What `--json` prints for one file.
#[derive(Serialize)]
struct FileRecord {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'static str>,
    /// valid, invalid, unknown, or `error` when the file could not be read.
    verdict: String,
    ops: usize,
    check_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    counterexample: Option<lin::Counterexample>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<lin::Stats>,
    /// Transactional histories: the consistency model checked against.
    #[serde(skip_serializing_if = "Option::is_none")]
    consistency_model: Option<&'static str>,
    /// Transactional histories: every anomaly kind found.
    #[serde(skip_serializing_if = "Option::is_none")]
    anomaly_types: Option<Vec<String>>,
    /// Transactional histories: the weakest models ruled out (Elle's `not`).
    #[serde(skip_serializing_if = "Option::is_none")]
    not: Option<Vec<String>>,
    /// Transactional histories: the stronger models also ruled out (Elle's `also-not`).
    #[serde(skip_serializing_if = "Option::is_none")]
    also_not: Option<Vec<String>>,
    /// The same per-checker records as `results.json`'s `checkers` (docs/results.schema.json).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checkers: Vec<faultline_history::CheckerResult>,
}

/// A file that could not be checked: `file:line N: what is wrong`.
struct InputError(String);

/// What checking one file gave: a linearizability report, a transactional one, or the
/// results of a workload's checkers.
enum Checked {
    Linear(Report),
    Txn(txn::Report),
    Workload(String, Vec<faultline_history::CheckerResult>),
}

impl Checked {
    fn verdict(&self) -> Verdict {
        match self {
            Checked::Linear(r) => r.verdict,
            Checked::Txn(r) => r.verdict,
            Checked::Workload(_, results) => worst_of(results),
        }
    }

    fn to_checker_results(&self) -> Vec<faultline_history::CheckerResult> {
        match self {
            Checked::Linear(r) => vec![r.to_checker_result()],
            Checked::Txn(r) => vec![r.to_checker_result()],
            Checked::Workload(_, results) => results.clone(),
        }
    }

    fn model(&self) -> &str {
        match self {
            Checked::Linear(r) => &r.model,
            Checked::Txn(r) => r.model.name(),
            Checked::Workload(name, _) => name,
        }
    }
}

/// The worst verdict of several checkers' (valid when there are none).
fn worst_of(results: &[faultline_history::CheckerResult]) -> Verdict {
    results
        .iter()
        .fold(Verdict::Valid, |w, r| w.worst(r.verdict))
}

/// Runs `faultline check`.
pub fn run(args: CheckArgs) -> ExitCode {
    let format = match args.format.as_deref().map(str::parse::<Format>).transpose() {
        Ok(f) => f,
        Err(e) => return bad_args(&format!("--format: {e}")),
    };
    let model = match args
        .model
        .as_deref()
        .map(str::parse::<ModelSpec>)
        .transpose()
    {
        Ok(m) => m,
        Err(e) => return bad_args(&format!("--model: {e}")),
    };
    let time_limit = match args.time_limit {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            return bad_args(&format!(
                "--time-limit: {s} is not a positive number of seconds"
            ))
        }
        s => s.map(Duration::from_secs_f64),
    };
    if args.memory_limit == 0 {
        return bad_args("--memory-limit: must be at least 1 MB");
    }
    let consistency_model = match args.consistency_model.parse::<txn::Model>() {
        Ok(m) => m,
        Err(e) => return bad_args(&format!("--consistency-model: {e}")),
    };
    let initial = match args.initial.as_deref().map(serde_json::from_str::<Value>) {
        None => None,
        Some(Ok(v)) => Some(faultline_history::value::canonical(v)),
        Some(Err(e)) => return bad_args(&format!("--initial: not JSON: {e}")),
    };
    if let Some(name) = &args.checker {
        if name != LINEARIZABILITY {
            if let Err(e) = workloads::find(name) {
                return bad_args(&format!(
                    "--checker: {}",
                    e.replace("--workload: unknown workload", "unknown checker")
                        .replace(
                            "expected one of: ",
                            &format!("expected one of: {LINEARIZABILITY}, ")
                        )
                ));
            }
        }
    }
    if let Some(ttl) = args.lease_ttl {
        if !(ttl.is_finite() && ttl > 0.0) {
            return bad_args(&format!(
                "--lease-ttl: {ttl} is not a positive number of seconds"
            ));
        }
    }
    if args.html.is_some() && args.files.len() != 1 {
        return bad_args("--html: give exactly one history file");
    }

    let mut records = Vec::new();
    let mut worst = Verdict::Valid;
    let mut input_error = false;
    for file in &args.files {
        let given = Given {
            format,
            model,
            consistency_model,
            initial: initial.as_ref(),
            time_limit,
        };
        let record = match check_file(file, &given, &args) {
            Ok((record, report, events)) => {
                worst = worst.worst(report.verdict());
                if !args.json {
                    print_human(&record, &report);
                }
                if let Some(out) = &args.html {
                    if let Err(e) = write_html(file, out, &report, &events, &record) {
                        eprintln!("faultline: {}: {e}", out.display());
                        input_error = true;
                    }
                }
                record
            }
            Err(InputError(message)) => {
                input_error = true;
                eprintln!("faultline: {message}");
                FileRecord {
                    file: file.display().to_string(),
                    format: None,
                    model: None,
                    verdict: "error".into(),
                    ops: 0,
                    check_ms: 0.0,
                    reason: None,
                    error: Some(message),
                    counterexample: None,
                    stats: None,
                    consistency_model: None,
                    anomaly_types: None,
                    not: None,
                    also_not: None,
                    checkers: Vec::new(),
                }
            }
        };
        records.push(record);
    }
    if args.json {
        match serde_json::to_string_pretty(&records) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("faultline: cannot encode JSON output: {e}");
                return ExitCode::from(crate::EXIT_CRASH);
            }
        }
    }
    ExitCode::from(exit_code(worst, input_error))
}

/// The exit code of a check of several inputs, the worst outcome winning: invalid (1) beats
/// bad input (254), which beats unknown (2), which beats valid (0). An invalid history is a
/// finding whatever else went wrong; an input that could not be read may hide one, so it
/// outranks unknown and valid.
fn exit_code(worst: Verdict, input_error: bool) -> u8 {
    match (worst, input_error) {
        (Verdict::Invalid, _) => 1,
        (_, true) => crate::EXIT_BAD_ARGS,
        (v, false) => v.exit_code() as u8,
    }
}

fn bad_args(message: &str) -> ExitCode {
    eprintln!("faultline: {message}");
    ExitCode::from(crate::EXIT_BAD_ARGS)
}

/// The checker named for linearizability (`--checker linearizability`).
const LINEARIZABILITY: &str = "linearizability";

/// The parsed flags that apply to every file.
struct Given<'a> {
    format: Option<Format>,
    model: Option<ModelSpec>,
    consistency_model: txn::Model,
    initial: Option<&'a Value>,
    time_limit: Option<Duration>,
}

/// A history read from disk: its events (with their lines) and its format.
pub(crate) struct Loaded {
    /// The imported history.
    pub history: import::History,
    /// The operations, paired.
    pub ops: Vec<Operation>,
}

/// Reads, imports and pairs one history file. A JSON Lines history whose last line a crash
/// tore (no newline, not an event) is read without it, with a one-line warning.
pub(crate) fn load(file: &Path, format: Option<Format>) -> Result<Loaded, String> {
    let name = file.display().to_string();
    let source = Source::open(file).map_err(|e| format!("{name}: cannot read: {e}"))?;
    load_source(&source, &name, format, usize::MAX)
}

/// [`load`] of an input already opened, refusing an operation that could take more than
/// `memory_limit` bytes to read.
fn load_source(
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
    if jsonl {
        let (kept, torn) = faultline_history::jsonl::without_torn_tail(text.as_bytes());
        if let Some(e) = torn {
            eprintln!(
                "faultline: warning: {name}:line {}: torn last line dropped (a crash cut it: {}); checking the {} lines before it",
                e.line,
                faultline_history::value::clip(&e.message),
                e.line - 1
            );
            let keep = kept.len();
            text.truncate(keep);
        }
    }
    let history =
        import::import_within(&text, format, memory_limit).map_err(|e| format!("{name}:{e}"))?;
    drop(text);
    let ops = pair(&history.events, &history.lines).map_err(|e| format!("{name}:{e}"))?;
    Ok(Loaded { history, ops })
}

/// Like [`load_source`], but a JSON Lines history whose events are not needed (no `--html`)
/// is streamed: events are paired as they are read and not kept, and no line may take more
/// than `memory_limit` bytes to parse, so reading stays within the limit. A stream that fails
/// on an input that does not end with a newline goes the whole-file way, which drops a torn
/// last line.
fn load_within(
    source: &Source,
    name: &str,
    format: Option<Format>,
    memory_limit: usize,
    keep_events: bool,
) -> Result<Loaded, String> {
    if !keep_events && is_jsonl(source, format, name).map_err(|InputError(e)| e)? {
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
                return Ok(Loaded { history, ops });
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
fn locate(file: &Path) -> (PathBuf, Option<PathBuf>) {
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
fn recorded_consistency_model(config: &Path) -> Result<Option<txn::Model>, String> {
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

/// The checkers of the run whose test.json is at `config`, as the run configured them.
pub(crate) fn run_checkers(config: &Path) -> Result<workloads::Configured, String> {
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

/// The workload whose checkers a bare history gets when `--checker` does not say: sets,
/// counters and banks by their functions and values; `None` for linearizability.
fn recognise(ops: &[Operation], fs: &BTreeSet<&str>) -> Option<&'static str> {
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
fn workload_checkers(
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

/// Reads, imports, pairs and checks one file (or run directory).
fn check_file(
    file: &Path,
    given: &Given,
    args: &CheckArgs,
) -> Result<(FileRecord, Checked, Vec<Event>), InputError> {
    let Given {
        format,
        model,
        consistency_model,
        initial,
        time_limit,
    } = *given;
    let (history_path, config) = locate(file);
    let name = file.display().to_string();
    let source = Source::open(&history_path)
        .map_err(|e| InputError(format!("{}: cannot read: {e}", history_path.display())))?;
    // A run of a transactional workload is judged with the model its test.json records.
    let consistency_model = match &config {
        Some(c) => recorded_consistency_model(c)
            .map_err(InputError)?
            .unwrap_or(consistency_model),
        None => consistency_model,
    };
    if model.is_none()
        && args.html.is_none()
        && args.checker.is_none()
        && format.is_none_or(|f| f == Format::Jsonl)
    {
        if let Some(checked) = stream_txn_jsonl(&source, &name, consistency_model, time_limit)? {
            return Ok(checked);
        }
    }
    let memory_limit = (args.memory_limit as usize).saturating_mul(1 << 20);
    let Loaded { history, ops } =
        load_within(&source, &name, format, memory_limit, args.html.is_some())
            .map_err(InputError)?;
    let ops = FreedAside(ops);
    // The distinct f's, gathered once (in one pass over the operations) when first needed.
    let fs = std::cell::LazyCell::new(|| functions(&ops));
    let config = config.filter(|_| history.format == Format::Jsonl);
    let workload: Option<String> = match (&args.checker, &config) {
        (Some(c), _) if c == LINEARIZABILITY => None,
        (Some(c), _) => Some(c.clone()),
        (None, Some(_)) => Some(String::new()),
        (None, None) if model.is_none() && history.format.default_model().is_none() => {
            recognise(&ops, &fs).map(str::to_string)
        }
        (None, None) => None,
    };
    if let Some(workload) = workload {
        let started = Instant::now();
        let (label, results) = match (workload.as_str(), &config) {
            ("", Some(config)) => {
                if initial.is_some() || args.lease_ttl.is_some() {
                    return Err(InputError(format!(
                        "{name}: --initial and --lease-ttl are for bare histories; a run is judged with what its test.json records"
                    )));
                }
                let run = run_checkers(config).map_err(InputError)?;
                (run.def.name.to_string(), run.check(&ops))
            }
            (w, _) => (
                w.to_string(),
                workload_checkers(w, &ops, initial, args.lease_ttl)
                    .map_err(|e| InputError(format!("{name}: {e}")))?,
            ),
        };
        let check_ms = started.elapsed().as_secs_f64() * 1e3;
        let verdict = worst_of(&results);
        let record = FileRecord {
            file: name,
            format: Some(history.format.name()),
            model: None,
            verdict: verdict.to_string(),
            ops: ops.len(),
            check_ms: (check_ms * 1000.0).round() / 1000.0,
            reason: results.iter().find_map(|r| r.reason.clone()),
            error: None,
            counterexample: None,
            stats: None,
            consistency_model: None,
            anomaly_types: None,
            not: None,
            also_not: None,
            checkers: results.clone(),
        };
        return Ok((record, Checked::Workload(label, results), history.events));
    }
    // `txn::is_transactional`, from the f's already gathered.
    if model.is_none() && fs.contains("txn") {
        // Only the HTML report needs the events; a million transactions' worth is big.
        let events = if args.html.is_some() {
            history.events
        } else {
            Vec::new()
        };
        let opts = txn::Options {
            model: consistency_model,
            time_limit,
            ..txn::Options::default()
        };
        let started = Instant::now();
        let report = txn::check(&ops, &opts).map_err(|e| {
            let line = history
                .lines
                .get(e.event as usize)
                .map_or(String::new(), |l| format!("line {l}:"));
            InputError(format!(
                "{name}:{line} txn invoked at event {}: {}",
                e.event, e.message
            ))
        })?;
        let check_ms = started.elapsed().as_secs_f64() * 1e3;
        let record = txn_record(name, history.format, &report, check_ms);
        return Ok((record, Checked::Txn(report), events));
    }
    let spec = model
        .or_else(|| history.format.default_model().and_then(lin::model_by_name))
        .unwrap_or_else(|| infer_model(&fs));

    let mut opts = CheckOptions {
        split: !args.no_split,
        time_limit,
        memory_limit: Some(memory_limit),
        ..CheckOptions::default()
    };
    // Knossos reads a nil read as "unknown result": follow it for the histories it wrote.
    opts.model.nil_read_matches_any = history.format == Format::JepsenEdn;
    opts.model.initial = initial.cloned();
    let progress = Arc::new(Progress::default());
    opts.progress = Some(progress.clone());

    let done = Arc::new(AtomicBool::new(false));
    let bar = (!args.json).then(|| spawn_progress_bar(&name, progress, done.clone()));
    let started = Instant::now();
    let result = lin::check(&ops, spec, &opts);
    let check_ms = started.elapsed().as_secs_f64() * 1e3;
    done.store(true, Ordering::Relaxed);
    if let Some(bar) = bar {
        let _ = bar.join();
    }
    let report = result.map_err(|e| InputError(format!("{name}: {e}")))?;
    let record = FileRecord {
        file: name,
        format: Some(history.format.name()),
        model: Some(spec.name()),
        verdict: report.verdict.to_string(),
        ops: ops.len(),
        check_ms: (check_ms * 1000.0).round() / 1000.0,
        reason: report.reason.clone(),
        error: None,
        counterexample: report.counterexamples.first().cloned(),
        stats: Some(report.stats.clone()),
        consistency_model: None,
        anomaly_types: None,
        not: None,
        also_not: None,
        checkers: vec![report.to_checker_result()],
    };
    Ok((record, Checked::Linear(report), history.events))
}

/// A JSON Lines history of transactions, checked as it streams from the file: the events are
/// never all in memory, only the compact transactions (a million transactions' events would
/// take gigabytes). `None` when the file is not JSON Lines with `txn` operations near its top.
fn stream_txn_jsonl(
    source: &Source,
    name: &str,
    consistency_model: txn::Model,
    time_limit: Option<Duration>,
) -> Result<Option<(FileRecord, Checked, Vec<Event>)>, InputError> {
    use std::io::BufReader;
    let cannot = |e: std::io::Error| InputError(format!("{name}: cannot read: {e}"));
    let open = || source.reader().map_err(cannot);
    let head = source.head(64 * 1024).map_err(cannot)?;
    let head_text = String::from_utf8_lossy(&head);
    if import::detect(&head_text) != Some(Format::Jsonl) {
        return Ok(None);
    }
    let is_txn = faultline_history::JsonlReader::new(head.as_slice())
        .map_while(Result::ok)
        .any(|(_, e)| e.f == "txn");
    if !is_txn {
        return Ok(None);
    }
    let started = Instant::now();
    let reader = faultline_history::JsonlReader::new(BufReader::with_capacity(1 << 20, open()?));
    let history = txn::txn::parse_events(reader)
        .map_err(|e| InputError(format!("{name}:line {}: {}", e.line, e.message)))?;
    let opts = txn::Options {
        model: consistency_model,
        time_limit,
        ..txn::Options::default()
    };
    let report = txn::check_parsed(&history, &opts, started).map_err(|e| {
        InputError(format!(
            "{name}: txn invoked at event {}: {}",
            e.event, e.message
        ))
    })?;
    let check_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(Some((
        txn_record(name.to_string(), Format::Jsonl, &report, check_ms),
        Checked::Txn(report),
        Vec::new(),
    )))
}

/// The `--json` record of a transactional check.
fn txn_record(file: String, format: Format, report: &txn::Report, check_ms: f64) -> FileRecord {
    FileRecord {
        file,
        format: Some(format.name()),
        model: None,
        verdict: report.verdict.to_string(),
        ops: report.stats.txns,
        check_ms: (check_ms * 1000.0).round() / 1000.0,
        reason: report.reason.clone(),
        error: None,
        counterexample: None,
        stats: None,
        consistency_model: Some(report.model.name()),
        anomaly_types: Some(report.anomaly_types.clone()),
        not: Some(report.not.clone()),
        also_not: Some(report.also_not.clone()),
        checkers: vec![report.to_checker_result()],
    }
}

/// Whether `file` is JSON Lines (named so, or detected from its first line), judged from its
/// first 64 KiB: a first line longer than that which opens a JSON object counts as JSON Lines,
/// so that a huge line is refused by the streamed reader instead of being read whole.
fn is_jsonl(source: &Source, format: Option<Format>, name: &str) -> Result<bool, InputError> {
    if let Some(f) = format {
        return Ok(f == Format::Jsonl);
    }
    let mut head = source
        .head(64 << 10)
        .map_err(|e| InputError(format!("{name}: cannot read: {e}")))?;
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
fn infer_model(fs: &BTreeSet<&str>) -> ModelSpec {
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
fn functions(ops: &[Operation]) -> BTreeSet<&str> {
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

/// A history's operations, freed on a thread of their own when there are many: a million
/// take about 0.1 s to free, which would otherwise delay the verdict's output.
struct FreedAside(Vec<Operation>);

impl std::ops::Deref for FreedAside {
    type Target = Vec<Operation>;
    fn deref(&self) -> &Vec<Operation> {
        &self.0
    }
}

impl Drop for FreedAside {
    fn drop(&mut self) {
        let ops = std::mem::take(&mut self.0);
        if ops.len() >= 100_000 {
            // If no thread can be started, the closure and the operations drop here.
            let _ = std::thread::Builder::new().spawn(move || drop(ops));
        }
    }
}

/// Draws a progress bar on a terminal for checks that take more than a second.
fn spawn_progress_bar(
    name: &str,
    progress: Arc<Progress>,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let name = name.to_string();
    std::thread::spawn(move || {
        use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
        let started = Instant::now();
        let mut bar: Option<ProgressBar> = None;
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            if started.elapsed() < Duration::from_secs(1) {
                continue;
            }
            let total = progress.total.load(Ordering::Relaxed);
            let bar = bar.get_or_insert_with(|| {
                let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                b.set_style(
                    ProgressStyle::with_template(
                        "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} ops",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b.set_message(format!("checking {name}"));
                b
            });
            bar.set_length(total);
            bar.set_position(progress.done.load(Ordering::Relaxed).min(total));
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
    })
}

/// One line per file, then the counterexample or anomalies of an invalid history.
fn print_human(record: &FileRecord, checked: &Checked) {
    let report = match checked {
        Checked::Linear(r) => r,
        Checked::Txn(r) => return print_txn(record, r),
        Checked::Workload(_, results) => return print_workload(record, results),
    };
    println!(
        "{}\t{}\t{} ops\t{:.1} ms",
        record.file, record.verdict, record.ops, record.check_ms
    );
    if let Some(reason) = &report.reason {
        println!("  unknown: {reason}");
    }
    for c in &report.counterexamples {
        print_counterexample(c);
    }
}

/// A workload's checkers: one line each, then the first anomalies.
fn print_workload(record: &FileRecord, results: &[faultline_history::CheckerResult]) {
    println!(
        "{}\t{}\t{} ops\t{:.1} ms",
        record.file, record.verdict, record.ops, record.check_ms
    );
    print_checker_lines(results);
}

/// One line per checker (verdict, anomaly count, why unknown), then its first anomalies:
/// what `faultline test` and `faultline check` print for a workload's checkers.
pub(crate) fn print_checker_lines(results: &[faultline_history::CheckerResult]) {
    for c in results {
        println!(
            "  {:<18} {:<8} {} anomal{}{}",
            c.checker,
            c.verdict,
            c.anomalies.len(),
            if c.anomalies.len() == 1 { "y" } else { "ies" },
            c.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
        for a in c.anomalies.iter().take(3) {
            println!("    {}: {}", a.kind, a.explanation);
        }
    }
}

/// A transactional verdict: the model, the anomaly kinds, the models ruled out, examples.
fn print_txn(record: &FileRecord, r: &txn::Report) {
    println!(
        "{}\t{}\t{} txns\t{:.1} ms",
        record.file, record.verdict, r.stats.txns, record.check_ms
    );
    println!(
        "  {} history checked against {}",
        r.workload.name(),
        r.model.name()
    );
    if let Some(reason) = &r.reason {
        println!("  unknown: {reason}");
    }
    if r.anomaly_types.is_empty() {
        return;
    }
    let kinds: Vec<String> = r
        .anomaly_counts
        .iter()
        .map(|(k, n)| format!("{k} ({n})"))
        .collect();
    println!("  anomalies: {}", kinds.join(", "));
    println!("  not: {}", r.not.join(", "));
    if !r.also_not.is_empty() {
        println!("  also not: {}", r.also_not.join(", "));
    }
    const SHOWN: usize = 6;
    for a in r.anomalies.iter().take(SHOWN) {
        if a.explanation.starts_with(&a.kind) {
            println!("  {}", a.explanation);
        } else {
            println!("  {}: {}", a.kind, a.explanation);
        }
        for s in &a.cycle {
            println!(
                "    T{} {} (process {}, event {})  -{}->",
                s.txn, s.ops, s.process, s.invoke, s.edge
            );
        }
    }
    if r.anomalies.len() > SHOWN {
        println!(
            "  ... {} more examples (--json has them all)",
            r.anomalies.len() - SHOWN
        );
    }
}

fn print_counterexample(c: &lin::Counterexample) {
    if let Some(key) = &c.key {
        println!("  key {key}:");
    }
    println!("  cannot linearize: {}", c.op.describe());
    println!("  why: {}", c.explanation);
    if c.real_time {
        println!(
            "  the write it needed and what replaced it, in real-time order (state {}):",
            c.state
        );
    } else {
        println!(
            "  longest linearizable prefix ({} ops), leaving state {}:",
            c.prefix.len(),
            c.state
        );
    }
    const SHOWN: usize = 8;
    if c.prefix.len() > SHOWN {
        println!("    ... {} earlier ops", c.prefix.len() - SHOWN);
    }
    for op in c.prefix.iter().skip(c.prefix.len().saturating_sub(SHOWN)) {
        println!("    {}", op.describe());
    }
    if !c.concurrent.is_empty() {
        println!("  concurrent with it:");
        // Crashed operations are concurrent with everything after them: show the nearest.
        let mut near: Vec<&lin::OpView> = c.concurrent.iter().collect();
        near.sort_by_key(|o| std::cmp::Reverse(o.invoke_index));
        for op in near.iter().take(SHOWN).rev() {
            println!("    {}", op.describe());
        }
        if near.len() > SHOWN {
            println!("    ... {} more (--json has them all)", near.len() - SHOWN);
        }
    }
}

/// Writes the self-contained HTML report for an imported history.
fn write_html(
    file: &Path,
    out: &Path,
    report: &Checked,
    events: &[Event],
    record: &FileRecord,
) -> Result<(), String> {
    let config = serde_json::json!({
        "name": file.file_name().map(|n| n.to_string_lossy().into_owned()),
        "workload": format!("imported {} history, model {}", record.format.unwrap_or("?"), report.model()),
        "command": format!("faultline check {} --html {}", file.display(), out.display()),
    });
    let results = faultline_report::Results::build(events, &report.to_checker_results(), &config);
    let links = [faultline_report::file_link("raw history", file)];
    faultline_report::write_html(out, events, &results, &links).map_err(|e| e.to_string())
}
