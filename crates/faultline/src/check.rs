//! `faultline check FILE...`: import histories and check them for linearizability, or, for
//! transactional histories (`f: "txn"`), for the anomalies of a consistency model.
//!
//! Each file is read, imported (format given or detected) and paired into operations. A
//! history of transactions goes to the transactional checker (`--consistency-model`); any
//! other is searched against a model (given, implied by the format, or inferred from the
//! functions present). One line per file goes to stdout; `--json` prints one JSON array
//! instead. The exit code is the worst verdict's, or 254 when any file could not be read.

use faultline_history::import::{self, Format};
use faultline_history::jsonl::ReadError;
use faultline_history::{pair, Event, Operation, Verdict};
use faultline_linearizability::{self as lin, CheckOptions, ModelSpec, Progress, Report};
use faultline_transactional as txn;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `faultline check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// History files: history.jsonl, Jepsen/Knossos EDN, or Porcupine logs.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
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

/// A file that could not be checked: `file:line: what is wrong`.
struct InputError(String);

/// What checking one file gave: a linearizability report or a transactional one.
enum Checked {
    Linear(Report),
    Txn(txn::Report),
}

impl Checked {
    fn verdict(&self) -> Verdict {
        match self {
            Checked::Linear(r) => r.verdict,
            Checked::Txn(r) => r.verdict,
        }
    }

    fn to_checker_result(&self) -> faultline_history::CheckerResult {
        match self {
            Checked::Linear(r) => r.to_checker_result(),
            Checked::Txn(r) => r.to_checker_result(),
        }
    }

    fn model(&self) -> &str {
        match self {
            Checked::Linear(r) => &r.model,
            Checked::Txn(r) => r.model.name(),
        }
    }
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
    if args.html.is_some() && args.files.len() != 1 {
        return bad_args("--html: give exactly one history file");
    }

    let mut records = Vec::new();
    let mut worst = Verdict::Valid;
    let mut input_error = false;
    for file in &args.files {
        let record = match check_file(file, format, model, consistency_model, &args, time_limit) {
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
    if input_error {
        ExitCode::from(crate::EXIT_BAD_ARGS)
    } else {
        ExitCode::from(worst.exit_code() as u8)
    }
}

fn bad_args(message: &str) -> ExitCode {
    eprintln!("faultline check: {message}");
    ExitCode::from(crate::EXIT_BAD_ARGS)
}

/// Reads, imports, pairs and checks one file.
fn check_file(
    file: &Path,
    format: Option<Format>,
    model: Option<ModelSpec>,
    consistency_model: txn::Model,
    args: &CheckArgs,
    time_limit: Option<Duration>,
) -> Result<(FileRecord, Checked, Vec<Event>), InputError> {
    let name = file.display().to_string();
    let memory_limit = (args.memory_limit as usize).saturating_mul(1 << 20);
    let (history, ops) = if args.html.is_none() && is_jsonl(file, format, &name)? {
        // Streamed: events are paired as they are read and not kept, and no line may take
        // more than the memory limit to parse.
        let f = std::fs::File::open(file)
            .map_err(|e| InputError(format!("{name}: cannot read: {e}")))?;
        let ops = faultline_history::jsonl::read_jsonl_ops(
            std::io::BufReader::with_capacity(1 << 20, f),
            memory_limit,
        )
        .map_err(|e| match e {
            ReadError::Import(e) => InputError(format!("{name}:{e}")),
            ReadError::Pair(e) => InputError(format!("{name}:{}:{}", e.line, e.message)),
        })?;
        let history = import::History {
            format: Format::Jsonl,
            events: Vec::new(),
            lines: Vec::new(),
        };
        (history, ops)
    } else {
        let bytes =
            std::fs::read(file).map_err(|e| InputError(format!("{name}: cannot read: {e}")))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            InputError(format!(
                "{name}: not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ))
        })?;
        let history =
            import::import(&text, format).map_err(|e| InputError(format!("{name}:{e}")))?;
        drop(text);
        let ops = pair(&history.events, &history.lines)
            .map_err(|e| InputError(format!("{name}:{}:{}", e.line, e.message)))?;
        (history, ops)
    };
    if model.is_none() && txn::is_transactional(&ops) {
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
                .map_or(String::new(), |l| format!("{l}:"));
            InputError(format!(
                "{name}:{line} txn invoked at event {}: {}",
                e.event, e.message
            ))
        })?;
        let check_ms = started.elapsed().as_secs_f64() * 1e3;
        let record = FileRecord {
            file: name,
            format: Some(history.format.name()),
            model: None,
            verdict: report.verdict.to_string(),
            ops: ops.len(),
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
        };
        return Ok((record, Checked::Txn(report), events));
    }
    let spec = model
        .or_else(|| history.format.default_model().and_then(lin::model_by_name))
        .unwrap_or_else(|| infer_model(&ops));

    let mut opts = CheckOptions {
        split: !args.no_split,
        time_limit,
        memory_limit: Some(memory_limit),
        ..CheckOptions::default()
    };
    // Knossos reads a nil read as "unknown result": follow it for the histories it wrote.
    opts.model.nil_read_matches_any = history.format == Format::JepsenEdn;
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

/// Whether `file` is JSON Lines (named so, or detected from its first line), judged from its
/// first 64 KiB: a first line longer than that which opens a JSON object counts as JSON Lines,
/// so that a huge line is refused by the streamed reader instead of being read whole.
fn is_jsonl(file: &Path, format: Option<Format>, name: &str) -> Result<bool, InputError> {
    if let Some(f) = format {
        return Ok(f == Format::Jsonl);
    }
    use std::io::Read;
    let mut head = Vec::with_capacity(64 << 10);
    std::fs::File::open(file)
        .and_then(|f| f.take(64 << 10).read_to_end(&mut head))
        .map_err(|e| InputError(format!("{name}: cannot read: {e}")))?;
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    let first = &head[start..];
    match first.iter().position(|&b| b == b'\n') {
        Some(end) => Ok(std::str::from_utf8(&first[..end])
            .is_ok_and(|line| import::detect(line) == Some(Format::Jsonl))),
        None => Ok(head.len() == 64 << 10
            && first.starts_with(b"{")
            && first[1..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'"')),
    }
}

/// The model a history's functions imply, when neither `--model` nor the format names one.
///
/// Mirrors what Knossos users would pass: queues, locks, sets and transactions have their own
/// models; register-like histories get `cas-register` (a superset of `register`) and
/// get/put/append histories get `kv`.
fn infer_model(ops: &[Operation]) -> ModelSpec {
    let fs: BTreeSet<&str> = ops.iter().map(|o| o.f.as_str()).collect();
    let has = |f: &str| fs.contains(f);
    if has("acquire") || has("release") {
        ModelSpec::Mutex
    } else if has("enqueue") || has("dequeue") {
        ModelSpec::FifoQueue
    } else if has("txn") {
        ModelSpec::MultiRegister
    } else if has("add") {
        ModelSpec::Set
    } else if has("get") || has("put") || has("append") {
        ModelSpec::Kv
    } else {
        ModelSpec::CasRegister
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
    println!(
        "  longest linearizable prefix ({} ops), leaving state {}:",
        c.prefix.len(),
        c.state
    );
    const SHOWN: usize = 8;
    if c.prefix.len() > SHOWN {
        println!("    ... {} earlier ops", c.prefix.len() - SHOWN);
    }
    for op in c.prefix.iter().skip(c.prefix.len().saturating_sub(SHOWN)) {
        println!("    {}", op.describe());
    }
    if !c.concurrent.is_empty() {
        println!("  concurrent with it:");
        for op in &c.concurrent {
            println!("    {}", op.describe());
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
    let results = faultline_report::Results::build(events, &[report.to_checker_result()], &config);
    let links = [faultline_report::file_link("raw history", file)];
    faultline_report::write_html(out, events, &results, &links).map_err(|e| e.to_string())
}
