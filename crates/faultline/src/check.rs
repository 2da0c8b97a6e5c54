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

use faultline_core::checking;
use faultline_core::options::seconds;
use faultline_history::import::{self, Format};
use faultline_history::input::Source;
use faultline_history::{Event, EventType, Operation, Verdict};
use faultline_linearizability::{self as lin, CheckOptions, ModelSpec, Progress, Report};
use faultline_transactional as txn;
use serde::Serialize;
use serde_json::Value;
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
            Checked::Workload(_, results) => checking::worst_of(results),
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

impl FileRecord {
    /// What `--json` says of a file that could not be checked.
    fn error(file: &Path, message: String) -> FileRecord {
        FileRecord {
            verdict: "error".into(),
            format: None,
            error: Some(message),
            ..FileRecord::new(file.display().to_string(), Format::Jsonl, 0, 0.0)
        }
    }

    /// A record with what every check fills in; the verdict is set by the caller.
    fn new(file: String, format: Format, ops: usize, check_ms: f64) -> FileRecord {
        FileRecord {
            file,
            format: Some(format.name()),
            model: None,
            verdict: String::new(),
            ops,
            check_ms: (check_ms * 1000.0).round() / 1000.0,
            reason: None,
            error: None,
            counterexample: None,
            stats: None,
            consistency_model: None,
            anomaly_types: None,
            not: None,
            also_not: None,
            checkers: Vec::new(),
        }
    }
}

/// Runs `faultline check`.
pub fn run(args: CheckArgs) -> ExitCode {
    let given = match Given::parse(&args) {
        Ok(g) => g,
        Err(e) => return bad_args(&e),
    };
    let mut records = Vec::new();
    let mut worst = Verdict::Valid;
    let mut input_error = false;
    for file in &args.files {
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
                FileRecord::error(file, message)
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

/// The parsed flags that apply to every file.
struct Given {
    format: Option<Format>,
    model: Option<ModelSpec>,
    consistency_model: txn::Model,
    initial: Option<Value>,
    time_limit: Option<Duration>,
}

impl Given {
    /// Every flag judged before any file is read: the first mistake as one line.
    fn parse(args: &CheckArgs) -> Result<Given, String> {
        let format = args
            .format
            .as_deref()
            .map(str::parse::<Format>)
            .transpose()
            .map_err(|e| format!("--format: {e}"))?;
        let model = args
            .model
            .as_deref()
            .map(str::parse::<ModelSpec>)
            .transpose()
            .map_err(|e| format!("--model: {e}"))?;
        let time_limit = args
            .time_limit
            .map(|s| seconds("--time-limit", s))
            .transpose()?;
        if args.memory_limit == 0 {
            return Err("--memory-limit: must be at least 1 MB".into());
        }
        let consistency_model = args
            .consistency_model
            .parse::<txn::Model>()
            .map_err(|e| format!("--consistency-model: {e}"))?;
        let initial = args
            .initial
            .as_deref()
            .map(serde_json::from_str::<Value>)
            .transpose()
            .map_err(|e| format!("--initial: not JSON: {e}"))?
            .map(faultline_history::value::canonical);
        if let Some(name) = &args.checker {
            checking::known_checker(name).map_err(|e| format!("--checker: {e}"))?;
        }
        if let Some(ttl) = args.lease_ttl {
            seconds("--lease-ttl", ttl)?;
        }
        if args.html.is_some() && args.files.len() != 1 {
            return Err("--html: give exactly one history file".into());
        }
        Ok(Given {
            format,
            model,
            consistency_model,
            initial,
            time_limit,
        })
    }
}

/// Reads, imports, pairs and checks one file (or run directory): with a workload's checkers
/// (a run's own, `--checker`, or recognised), the transactional checker, or linearizability.
/// The history a `check` argument names (a history file, or a run directory's), opened once,
/// and the run's test.json when there is one.
fn open_input(file: &Path) -> Result<(Source, Option<PathBuf>), InputError> {
    let (history_path, config) = checking::locate(file);
    if file.is_dir() && !history_path.is_file() {
        return Err(InputError(format!(
            "{}: a directory without {}: give a run directory (store/<test>/<timestamp>) or a history file",
            file.display(),
            faultline_report::HISTORY_FILE
        )));
    }
    let source = Source::open(&history_path)
        .map_err(|e| InputError(format!("{}: cannot read: {e}", history_path.display())))?;
    Ok((source, config))
}

fn check_file(
    file: &Path,
    given: &Given,
    args: &CheckArgs,
) -> Result<(FileRecord, Checked, Vec<Event>), InputError> {
    let name = file.display().to_string();
    let (source, config) = open_input(file)?;
    // A run of a transactional workload is judged with the model its test.json records.
    let consistency_model = match &config {
        Some(c) => checking::recorded_consistency_model(c)
            .map_err(InputError)?
            .unwrap_or(given.consistency_model),
        None => given.consistency_model,
    };
    if given.model.is_none()
        && args.html.is_none()
        && args.checker.is_none()
        && given.format.is_none_or(|f| f == Format::Jsonl)
    {
        if let Some(checked) =
            stream_txn_jsonl(&source, &name, consistency_model, given.time_limit)?
        {
            return Ok(checked);
        }
    }
    let memory_limit = (args.memory_limit as usize).saturating_mul(1 << 20);
    let loaded = checking::load_within(
        &source,
        &name,
        given.format,
        memory_limit,
        args.html.is_some(),
    )
    .map_err(InputError)?;
    crate::print::warnings(&loaded.warnings);
    let config = config.filter(|_| loaded.history.format == Format::Jsonl);
    let ops = FreedAside(loaded.ops);
    let history = loaded.history;
    // The distinct f's, gathered once (in one pass over the operations) when first needed.
    let fs = std::cell::LazyCell::new(|| checking::functions(&ops));
    let workload: Option<String> = match (&args.checker, &config) {
        (Some(c), _) if c == checking::LINEARIZABILITY => None,
        (Some(c), _) => Some(c.clone()),
        (None, Some(_)) => Some(String::new()),
        (None, None) if given.model.is_none() && history.format.default_model().is_none() => {
            checking::recognise(&ops, &fs).map(str::to_string)
        }
        (None, None) => None,
    };
    if let Some(workload) = workload {
        let (mut record, mut checked) = check_workload(
            &name,
            &workload,
            config.as_deref(),
            given,
            args,
            history.format,
            &ops,
        )?;
        if let Checked::Workload(_, results) = &mut checked {
            stamp_first_anomalies(results, &ops);
            record.checkers = results.clone();
        }
        return Ok((record, checked, history.events));
    }
    // `txn::is_transactional`, from the f's already gathered.
    if given.model.is_none() && fs.contains("txn") {
        return check_txn(&name, history, &ops, consistency_model, given, args);
    }
    let spec = given
        .model
        .or_else(|| history.format.default_model().and_then(lin::model_by_name))
        .unwrap_or_else(|| checking::infer_model(&fs));
    let (record, report) = check_linear(&name, &history, &ops, spec, given, args)?;
    Ok((record, Checked::Linear(report), history.events))
}

/// Each result's `first_anomaly_s`, as a run's results say it, from the operations' event
/// indices and times (the events themselves are kept only for `--html`).
fn stamp_first_anomalies(results: &mut [faultline_history::CheckerResult], ops: &[Operation]) {
    if results.iter().all(|r| r.anomalies.is_empty()) {
        return;
    }
    let mark = |index, time, kind| Event {
        index,
        time,
        process: faultline_history::Process::Client(0),
        kind,
        f: String::new(),
        key: None,
        value: serde_json::Value::Null,
        error: None,
        node: None,
    };
    let mut events: Vec<Event> = Vec::with_capacity(ops.len() * 2);
    for op in ops {
        events.push(mark(op.invoke_index, op.invoke_time, EventType::Invoke));
        if let (Some(i), Some(t)) = (op.complete_index, op.complete_time) {
            events.push(mark(i, t, EventType::Ok));
        }
    }
    events.sort_by_key(|e| e.index);
    for r in results.iter_mut() {
        r.first_anomaly_s = faultline_history::first_anomaly_s(r, &events);
    }
}

/// A workload's checkers on `ops`: the run's own when `workload` is empty (rebuilt from the
/// test.json at `config`), else those `--checker` names or the history's functions show.
fn check_workload(
    name: &str,
    workload: &str,
    config: Option<&Path>,
    given: &Given,
    args: &CheckArgs,
    format: Format,
    ops: &[Operation],
) -> Result<(FileRecord, Checked), InputError> {
    let started = Instant::now();
    let (label, results) = match (workload, config) {
        ("", Some(config)) => {
            if given.initial.is_some() || args.lease_ttl.is_some() {
                return Err(InputError(format!(
                    "{name}: --initial and --lease-ttl are for bare histories; a run is judged with what its test.json records"
                )));
            }
            let run = checking::run_checkers(config).map_err(InputError)?;
            (run.def.name.to_string(), run.check(ops))
        }
        (w, _) => (
            w.to_string(),
            checking::workload_checkers(w, ops, given.initial.as_ref(), args.lease_ttl)
                .map_err(|e| InputError(format!("{name}: {e}")))?,
        ),
    };
    let check_ms = started.elapsed().as_secs_f64() * 1e3;
    let record = FileRecord {
        verdict: checking::worst_of(&results).to_string(),
        reason: results.iter().find_map(|r| r.reason.clone()),
        checkers: results.clone(),
        ..FileRecord::new(name.to_string(), format, ops.len(), check_ms)
    };
    Ok((record, Checked::Workload(label, results)))
}

/// The transactional checker on a history of transactions.
fn check_txn(
    name: &str,
    history: import::History,
    ops: &[Operation],
    consistency_model: txn::Model,
    given: &Given,
    args: &CheckArgs,
) -> Result<(FileRecord, Checked, Vec<Event>), InputError> {
    let opts = txn::Options {
        model: consistency_model,
        time_limit: given.time_limit,
        ..txn::Options::default()
    };
    let started = Instant::now();
    let report = txn::check(ops, &opts).map_err(|e| {
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
    let record = txn_record(name.to_string(), history.format, &report, check_ms);
    // Only the HTML report needs the events; a million transactions' worth is big.
    let events = if args.html.is_some() {
        history.events
    } else {
        Vec::new()
    };
    Ok((record, Checked::Txn(report), events))
}

/// The linearizability search of `ops` against `spec`, with a progress bar on a terminal.
fn check_linear(
    name: &str,
    history: &import::History,
    ops: &[Operation],
    spec: ModelSpec,
    given: &Given,
    args: &CheckArgs,
) -> Result<(FileRecord, Report), InputError> {
    let mut opts = CheckOptions {
        split: !args.no_split,
        time_limit: given.time_limit,
        memory_limit: Some((args.memory_limit as usize).saturating_mul(1 << 20)),
        ..CheckOptions::default()
    };
    // Knossos reads a nil read as "unknown result": follow it for the histories it wrote.
    opts.model.nil_read_matches_any = history.format == Format::JepsenEdn;
    opts.model.initial = given.initial.clone();
    let progress = Arc::new(Progress::default());
    opts.progress = Some(progress.clone());
    let done = Arc::new(AtomicBool::new(false));
    let bar = (!args.json).then(|| spawn_progress_bar(name, progress, done.clone()));
    let started = Instant::now();
    let result = lin::check(ops, spec, &opts);
    let check_ms = started.elapsed().as_secs_f64() * 1e3;
    done.store(true, Ordering::Relaxed);
    if let Some(bar) = bar {
        let _ = bar.join();
    }
    let report = result.map_err(|e| InputError(format!("{name}: {e}")))?;
    let record = FileRecord {
        model: Some(spec.name()),
        verdict: report.verdict.to_string(),
        reason: report.reason.clone(),
        counterexample: report.counterexamples.first().cloned(),
        stats: Some(report.stats.clone()),
        checkers: vec![report.to_checker_result()],
        ..FileRecord::new(name.to_string(), history.format, ops.len(), check_ms)
    };
    Ok((record, report))
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
    crate::print::print_checker_lines(results);
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
