//! faultline-client-protocol: clients in any language.
//!
//! `faultline test --client 'COMMAND'` runs the user's program on the control machine, one
//! instance per Jepsen process, and speaks JSON Lines with it on stdin and stdout (protocol
//! [`PROTOCOL_VERSION`], specified in `docs/client-protocol.md`). [`ProgramClients`] is the
//! [`ClientFactory`] that does it: it starts an instance for each process the runner opens,
//! sends `open`, one `invoke` at a time, and `close`; what an instance writes to stderr goes
//! to the run's log (through `tracing`), one log line per line.
//!
//! The rules that keep a history honest whatever the program does:
//! - an answer that is not exactly the protocol (garbage, another id, a missing error) is an
//!   `info` whose error quotes it, with one warning line in the log;
//! - an instance that exits, or writes nothing within the op timeout, leaves its operation
//!   `info` (the runner's timeout) and is killed;
//! - every instance runs in its own process group, killed as a whole when the instance is
//!   closed or dropped, so nothing it started outlives it.
//!
//! ```no_run
//! use faultline_client_protocol::{client_options, ProgramClients};
//! use std::collections::BTreeMap;
//! let nodes = BTreeMap::from([("n1".to_string(), "10.0.0.1".to_string())]);
//! let options = client_options(serde_json::Map::new(), "register", &[]);
//! let clients = ProgramClients::new("python3 client.py", "etcd", "register", nodes, options);
//! // Workload { clients: Arc::new(clients), .. } then faultline_runner::run(..)
//! ```

pub mod contract;
pub mod message;
mod tracking;

pub use message::{parse_client_opt, Answer, PROTOCOL_VERSION};
pub use tracking::kill_all_instances;

use async_trait::async_trait;
use contract::Commitments;
use faultline_runner::{Client, ClientFactory, Completion, Op};
use message::{
    close_message, invoke_message, open_message, parse_answer, parse_open_answer, quote,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// How long an instance may take to exit after `close` and the end of its stdin.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The longest answer line read; a longer one is malformed.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The longest stderr line logged whole; longer ones are logged in pieces.
const MAX_LOG_LINE_BYTES: usize = 4096;

/// The most stderr lines (or pieces of lines) an instance gets in the run's log; the rest
/// is read and counted, and one line says how much was dropped.
pub const MAX_STDERR_LOG_LINES: u64 = 1000;

/// How long `close` waits for the last of an instance's stderr after it ended.
const STDERR_DRAIN: Duration = Duration::from_secs(1);

/// How long faultline waits to deliver `close` to an instance that may not be reading.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_millis(200);

/// The `options` an instance is opened with: the workload's options, then a fresh
/// `namespace` for this run (its keys' prefix, so old data never leaks in), then every
/// `--client-opt` in order (a user's option wins).
pub fn client_options(
    workload_options: Map<String, Value>,
    workload: &str,
    client_opts: &[(String, Value)],
) -> Map<String, Value> {
    let mut options = workload_options;
    options.insert(
        "namespace".into(),
        Value::String(faultline_workload_support::fresh_namespace(workload)),
    );
    for (k, v) in client_opts {
        options.insert(k.clone(), v.clone());
    }
    options
}

/// A [`ClientFactory`] that runs a user's program, one instance per process. Clones share
/// their [`Misbehaviour`] count.
#[derive(Clone, Debug)]
pub struct ProgramClients {
    command: Arc<str>,
    db: String,
    workload: String,
    nodes: BTreeMap<String, String>,
    options: Map<String, Value>,
    misbehaviour: Arc<Mutex<Misbehaviour>>,
}

/// What the program's instances did wrong in a run, for the one line the run ends with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Misbehaviour {
    /// Malformed answers, `ok`s that contradict their operation, exits without an answer,
    /// and unanswered opens and invokes (all `info`).
    pub count: u64,
    /// The first of them, as its log line says it.
    pub first: Option<String>,
}

impl Misbehaviour {
    /// What the verdict must say about a run whose client misbehaved (`None`: it did not).
    pub fn verdict_note(&self) -> Option<String> {
        (self.count > 0).then(|| {
            format!(
                "the --client program misbehaved {} time(s), each recorded as info so no database is blamed for it; \
                 a client that misbehaves may be wrong elsewhere too: fix it before trusting an invalid verdict (first: {})",
                self.count,
                self.first.as_deref().unwrap_or("?")
            )
        })
    }
}

impl ProgramClients {
    /// Instances of `command` (run by `sh -c` in the current directory) for workload
    /// `workload` on database `db`, whose nodes are `nodes` (name to address).
    pub fn new(
        command: &str,
        db: &str,
        workload: &str,
        nodes: BTreeMap<String, String>,
        options: Map<String, Value>,
    ) -> Self {
        ProgramClients {
            command: Arc::from(command),
            db: db.to_string(),
            workload: workload.to_string(),
            nodes,
            options,
            misbehaviour: Arc::default(),
        }
    }

    /// What the instances did wrong so far.
    pub fn misbehaviour(&self) -> Misbehaviour {
        lock(&self.misbehaviour).clone()
    }

    /// Opens and closes one instance (as process 0, on `node`) to show the program speaks
    /// the protocol before a run depends on it: `Err` says in one line why it does not. An
    /// instance that does not answer `open` within `op_timeout` is killed (with everything
    /// it started) and is such an error.
    pub async fn probe(&self, node: &str, op_timeout: Duration) -> Result<(), String> {
        let mut client = match timeout(op_timeout, self.open_process(node, 0)).await {
            Ok(opened) => opened?,
            Err(_) => {
                // The open was dropped, and the instance with it: its processes are gone.
                let problem = format!(
                    "no answer to open within the op timeout ({:.1} s); killed",
                    op_timeout.as_secs_f64()
                );
                warn(&self.misbehaviour, &format!("client process 0: {problem}"));
                return Err(problem);
            }
        };
        client.close().await;
        Ok(())
    }

    /// The options every instance is opened with.
    pub fn options(&self) -> &Map<String, Value> {
        &self.options
    }

    fn spawn(&self, process: u64) -> Result<Instance, String> {
        let label: Arc<str> = Arc::from(format!("client process {process}"));
        let (mut child, marker) = tracking::start(|marker| {
            let child = Command::new("sh")
                .arg("-c")
                .arg(&*self.command)
                .env(tracking::MARKER_VAR, marker)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .process_group(0)
                .spawn()
                .map_err(|e| format!("cannot start client {:?}: {e}", &*self.command))?;
            let pgid = child.id().map_or(0, |id| id as i32);
            Ok((child, pgid))
        })?;
        let pgid = child.id().map_or(0, |id| id as i32);
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            tracking::kill_instance(&marker, pgid);
            return Err("client started without its pipes".into());
        };
        let stderr_log = tokio::spawn(log_stderr(stderr, label.clone(), MAX_STDERR_LOG_LINES));
        Ok(Instance {
            misbehaviour: self.misbehaviour.clone(),
            label,
            child,
            pgid,
            marker,
            stderr_log: Some(stderr_log),
            commitments: Commitments::default(),
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            buf: Vec::new(),
            next_id: 0,
            awaiting: None,
            logged: false,
            finished: false,
        })
    }
}

#[async_trait]
impl ClientFactory for ProgramClients {
    /// Opens an instance as process 0; the runner calls [`ClientFactory::open_process`].
    async fn open(&self, node: &str) -> Result<Box<dyn Client>, String> {
        self.open_process(node, 0).await
    }

    async fn open_process(&self, node: &str, process: u64) -> Result<Box<dyn Client>, String> {
        let mut instance = self.spawn(process)?;
        let open = open_message(
            process,
            node,
            &self.nodes,
            &self.db,
            &self.workload,
            &self.options,
        );
        // On every error below, dropping the instance kills its process group.
        // A program that exits at once may have answered before it did: read what it wrote
        // even when the open could not be delivered.
        let sent = instance.send(&open).await;
        let problem = match instance.read_answer().await {
            Ok(line) => match parse_open_answer(&line) {
                Ok(Ok(())) if sent.is_ok() => return Ok(Box::new(instance)),
                // The program's own reason: no warning, it is recorded as the op's error.
                Ok(Err(reason)) => return Err(format!("client could not open: {reason}")),
                Ok(Ok(())) => "answered open_ok without reading open".to_string(),
                Err(what) => format!("malformed answer to open: {what}: {}", quote(&line)),
            },
            Err(Unanswered::Exited) => {
                let status = instance.exit_status().await;
                format!("exited without answering open ({status})")
            }
            Err(Unanswered::Malformed(what)) => format!("malformed answer to open: {what}"),
        };
        instance.warn(problem.clone());
        Err(problem)
    }
}

/// Why no answer line came.
enum Unanswered {
    /// The instance closed its stdout (it exited).
    Exited,
    /// What came is not a line faultline reads.
    Malformed(String),
}

/// One running instance of the user's program: one process's client.
struct Instance {
    misbehaviour: Arc<Mutex<Misbehaviour>>,
    label: Arc<str>,
    child: Child,
    pgid: i32,
    /// Names the instance in its processes' environment (see `tracking`).
    marker: String,
    /// The task logging its stderr, awaited briefly at close for its last lines.
    stderr_log: Option<JoinHandle<()>>,
    /// What its earlier answers committed it to (the lock it holds).
    commitments: Commitments,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    buf: Vec<u8>,
    next_id: u64,
    /// The invoke sent and not yet well answered: the instance is unusable if this is set
    /// when `invoke` returns or is cancelled (by the runner's timeout).
    awaiting: Option<(u64, String)>,
    /// Whether a warning about this instance is already in the log.
    logged: bool,
    finished: bool,
}

impl Instance {
    async fn send(&mut self, message: &Value) -> std::io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::other("stdin already closed"))?;
        let mut line = message.to_string();
        line.push('\n');
        stdin.write_all(line.as_bytes()).await?;
        stdin.flush().await
    }

    /// The next non-blank line of stdout.
    async fn read_answer(&mut self) -> Result<String, Unanswered> {
        loop {
            match read_line_bounded(&mut self.stdout, &mut self.buf, MAX_LINE_BYTES).await {
                Ok(Read::Line) => {
                    let line = String::from_utf8_lossy(&self.buf).into_owned();
                    if !line.trim().is_empty() {
                        return Ok(line);
                    }
                }
                Ok(Read::TooLong) => {
                    let start = String::from_utf8_lossy(&self.buf).into_owned();
                    return Err(Unanswered::Malformed(format!(
                        "a line longer than {MAX_LINE_BYTES} bytes: {}",
                        quote(&start)
                    )));
                }
                Ok(Read::Eof) => return Err(Unanswered::Exited),
                Err(e) => return Err(Unanswered::Malformed(format!("cannot read it: {e}"))),
            }
        }
    }

    /// The exit status, if the instance exits soon (it closed its stdout).
    async fn exit_status(&mut self) -> String {
        match timeout(Duration::from_millis(500), self.child.wait()).await {
            Ok(Ok(status)) => status.to_string(),
            _ => "still running, stdout closed".into(),
        }
    }

    /// SIGKILL to the instance's whole process group and every process it started, even
    /// one that left the group (see `tracking`).
    fn kill_group(&self) {
        tracking::kill_instance(&self.marker, self.pgid);
    }

    /// The completion of an `ok` answer to invoke `id`: its value as the history records
    /// it, or `info` quoting `line` when the answer contradicts what was asked (the
    /// client's lie must not become the database's anomaly).
    fn ok(&mut self, id: u64, op: &Op, value: Option<Value>, line: &str) -> Completion {
        let answered = value.unwrap_or_else(|| op.value.clone());
        match contract::recorded(&op.f, &op.value, &answered, &mut self.commitments) {
            Ok(v) => Completion::Ok(v),
            Err(why) => {
                let q = quote(line);
                self.warn(format!("ok contradicts invoke {id} ({}): {why}: {q}", op.f));
                self.info(format!(
                    "client misbehaved: ok contradicts the operation: {why}: {q}"
                ))
            }
        }
    }

    fn info(&mut self, error: String) -> Completion {
        Completion::Info(Value::String(error))
    }

    /// The one log line about something this instance did wrong, counted for the run.
    fn warn(&mut self, what: String) {
        warn(&self.misbehaviour, &format!("{}: {what}", self.label));
        self.logged = true;
    }
}

#[async_trait]
impl Client for Instance {
    async fn invoke(&mut self, op: &Op) -> Completion {
        if let Some((id, _)) = &self.awaiting {
            return self.info(format!("client unusable: invoke {id} was never answered"));
        }
        self.next_id += 1;
        let id = self.next_id;
        self.awaiting = Some((id, op.f.to_string()));
        let message = invoke_message(id, &op.f, op.key.as_ref(), &op.value);
        if let Err(e) = self.send(&message).await {
            let status = self.exit_status().await;
            self.warn(format!(
                "cannot send invoke {id} ({}): exited ({status}): {e}",
                op.f
            ));
            return self.info(format!("client exited ({status}): {e}"));
        }
        let line = match self.read_answer().await {
            Ok(line) => line,
            Err(Unanswered::Exited) => {
                let status = self.exit_status().await;
                self.warn(format!(
                    "exited without answering invoke {id} ({}) ({status})",
                    op.f
                ));
                return self.info(format!("client exited without answering ({status})"));
            }
            Err(Unanswered::Malformed(what)) => {
                self.warn(format!(
                    "malformed answer to invoke {id} ({}): {what}",
                    op.f
                ));
                return self.info(format!("malformed answer: {what}"));
            }
        };
        match parse_answer(&line, id) {
            Ok(answer) => {
                self.awaiting = None;
                match answer {
                    Answer::Ok(value) => self.ok(id, op, value, &line),
                    Answer::Fail(e) => {
                        contract::failed(&op.f, &mut self.commitments);
                        Completion::Fail(Value::String(e))
                    }
                    Answer::Info(e) => Completion::Info(Value::String(e)),
                }
            }
            Err(what) => {
                let q = quote(&line);
                self.warn(format!(
                    "malformed answer to invoke {id} ({}): {what}: {q}",
                    op.f
                ));
                self.info(format!("malformed answer: {what}: {q}"))
            }
        }
    }

    /// Sends `close` and ends stdin; an instance still alive [`CLOSE_GRACE`] later, or one
    /// that left an invoke unanswered, is killed (its whole process group).
    async fn close(&mut self) {
        if self.finished {
            return;
        }
        let _ = timeout(CLOSE_WRITE_TIMEOUT, self.send(&close_message())).await;
        self.stdin = None;
        if let Some((id, f)) = self.awaiting.take() {
            if !self.logged {
                self.warn(format!(
                    "no answer to invoke {id} ({f}) within the op timeout; killed"
                ));
            }
            self.kill_group();
        } else if timeout(CLOSE_GRACE, self.child.wait()).await.is_err() {
            self.warn(format!(
                "still running {}s after close; killed",
                CLOSE_GRACE.as_secs()
            ));
            self.kill_group();
        }
        let _ = self.child.wait().await;
        // Whatever the instance started and left behind goes with it.
        self.kill_group();
        self.finished = true;
        if let Some(task) = self.stderr_log.take() {
            let _ = timeout(STDERR_DRAIN, task).await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // Cancelled (the runner's open or close timeout) or never closed: kill, so nothing
        // outlives the run. tokio reaps the killed leader in the background.
        if !self.finished {
            self.kill_group();
        }
    }
}

fn lock(m: &Mutex<Misbehaviour>) -> MutexGuard<'_, Misbehaviour> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Logs `line` (one warning) and counts it in `misbehaviour`.
fn warn(misbehaviour: &Mutex<Misbehaviour>, line: &str) {
    tracing::warn!("{line}");
    let mut m = lock(misbehaviour);
    m.count += 1;
    m.first.get_or_insert_with(|| line.to_string());
}

/// Logs an instance's stderr, one log line per line, the first `max_lines` only; then one
/// line saying how many lines and bytes were dropped.
async fn log_stderr(stderr: ChildStderr, who: Arc<str>, max_lines: u64) {
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    let (mut logged, mut dropped, mut dropped_bytes) = (0u64, 0u64, 0u64);
    while let Ok(Read::Line | Read::TooLong) =
        read_line_bounded(&mut reader, &mut buf, MAX_LOG_LINE_BYTES).await
    {
        if logged < max_lines {
            logged += 1;
            let text = String::from_utf8_lossy(&buf);
            tracing::info!("{who} stderr: {}", text.trim_end());
        } else {
            dropped += 1;
            dropped_bytes += buf.len() as u64;
        }
    }
    if dropped > 0 {
        tracing::warn!(
            "{who} stderr: {dropped} more lines ({dropped_bytes} bytes) not logged: at most {max_lines} lines per client process"
        );
    }
}

/// What [`read_line_bounded`] found.
#[derive(Debug, PartialEq)]
enum Read {
    /// A line (without its newline; the last one may lack it) is in the buffer.
    Line,
    /// The first `max` bytes of a longer line are in the buffer; the rest is unread.
    TooLong,
    /// The end of the stream, nothing in the buffer.
    Eof,
}

/// Reads one line into `buf`, never more than `max` bytes of it.
async fn read_line_bounded<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Read> {
    buf.clear();
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(if buf.is_empty() {
                Read::Eof
            } else {
                Read::Line
            });
        }
        let room = max - buf.len();
        match available.iter().position(|&b| b == b'\n') {
            Some(i) if i <= room => {
                buf.extend_from_slice(&available[..i]);
                reader.consume(i + 1);
                return Ok(Read::Line);
            }
            _ => {
                let take = available.len().min(room);
                buf.extend_from_slice(&available[..take]);
                reader.consume(take);
                if buf.len() >= max {
                    return Ok(Read::TooLong);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn lines(input: &[u8], max: usize) -> Vec<(Read, Vec<u8>)> {
        let mut reader = BufReader::with_capacity(3, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let r = read_line_bounded(&mut reader, &mut buf, max).await.unwrap();
            if r == Read::Eof {
                return out;
            }
            out.push((r, buf.clone()));
        }
    }

    #[tokio::test]
    async fn lines_are_read_whole_or_cut_at_the_bound() {
        assert_eq!(
            lines(b"ab\n\ncdefgh\nij", 4).await,
            vec![
                (Read::Line, b"ab".to_vec()),
                (Read::Line, b"".to_vec()),
                (Read::TooLong, b"cdef".to_vec()),
                (Read::Line, b"gh".to_vec()),
                (Read::Line, b"ij".to_vec()),
            ]
        );
        assert_eq!(
            lines(b"abcd\n", 4).await,
            vec![(Read::Line, b"abcd".to_vec())]
        );
        assert!(lines(b"", 4).await.is_empty());
    }

    #[test]
    fn options_put_the_namespace_after_the_workload_and_user_options_last() {
        let mut w = Map::new();
        w.insert("serializable_reads".into(), json!(true));
        w.insert("namespace".into(), json!("old"));
        let o = client_options(w.clone(), "set", &[]);
        assert_eq!(o["serializable_reads"], json!(true));
        let ns = o["namespace"].as_str().unwrap();
        assert!(ns.starts_with("faultline/set/"), "{ns}");
        let again = client_options(w, "set", &[("namespace".into(), json!("mine"))]);
        assert_eq!(again["namespace"], json!("mine"));
    }
}
