//! History recording: a dedicated writer thread fed by a channel.
//!
//! Workers and the nemesis stamp each event with the time since the test started and send
//! it. The writer thread gives events their `index` in the order it receives them, so the
//! file order is the order events were sent: an invocation is sent before its request
//! leaves, a completion after its response arrived, which keeps the real-time order that
//! checkers rely on. Times are clamped so they never decrease along the file (senders race
//! by a few microseconds at most). The writer batches lines and flushes within
//! [`FLUSH_INTERVAL`] of the first unflushed event, so a crash loses at most that much.

use crate::live_facts::{LiveFacts, Observed};
use faultline_history::{Event, EventType, JsonlWriter, Process};
use serde_json::Value;
use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest an event waits in memory before it is flushed to the file.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// One event on its way to the writer; `index` is assigned there.
pub(crate) struct Record {
    pub time: u64,
    pub process: Process,
    pub kind: EventType,
    pub f: Cow<'static, str>,
    pub key: Option<Value>,
    pub value: Value,
    pub error: Option<Value>,
    pub node: Option<Arc<str>>,
}

/// Counts of recorded events, updated by the writer thread (never on the workers' path).
#[derive(Debug, Default)]
pub struct Stats {
    /// Client invocations.
    pub invokes: AtomicU64,
    /// Client `ok` completions.
    pub ok: AtomicU64,
    /// Client `fail` completions.
    pub fail: AtomicU64,
    /// Client `info` completions.
    pub info: AtomicU64,
    /// Nemesis events (invocations and completions).
    pub nemesis: AtomicU64,
    /// `primaries` events naming a leader: the first leader seen, then each change.
    pub leader_changes: AtomicU64,
    /// Every event written.
    pub events: AtomicU64,
}

impl Stats {
    /// Client completions so far.
    pub fn completions(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
            + self.fail.load(Ordering::Relaxed)
            + self.info.load(Ordering::Relaxed)
    }

    fn count(&self, r: &Record) {
        if r.f == faultline_history::PRIMARIES && !r.value.is_null() {
            self.leader_changes.fetch_add(1, Ordering::Relaxed);
        }
        let c = match (r.process, r.kind) {
            (Process::Nemesis, _) => &self.nemesis,
            (_, EventType::Invoke) => &self.invokes,
            (_, EventType::Ok) => &self.ok,
            (_, EventType::Fail) => &self.fail,
            (_, EventType::Info) => &self.info,
        };
        c.fetch_add(1, Ordering::Relaxed);
        self.events.fetch_add(1, Ordering::Relaxed);
    }
}

/// A cheap, cloneable handle that sends events to the writer.
#[derive(Clone)]
pub(crate) struct Recorder {
    tx: mpsc::Sender<Record>,
    start: Instant,
}

impl Recorder {
    /// Nanoseconds since the test started.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Sends `record`, stamped now. Sending fails only once the writer has gone, which the
    /// writer's join reports.
    pub fn record(&self, mut record: Record) {
        record.time = self.now();
        let _ = self.tx.send(record);
    }
}

/// The writer thread; join it after every [`Recorder`] clone is dropped.
pub(crate) struct Writer {
    thread: JoinHandle<io::Result<u64>>,
}

impl Writer {
    /// Waits for the writer to drain and close the file; the number of events written.
    pub fn finish(self) -> io::Result<u64> {
        self.thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("history writer thread panicked")))
    }
}

/// Creates `path` and starts the writer thread; times count from `start`. Every event
/// written is counted in `stats`, taken into `live`, and sent to `tap`, if given (e.g. to a
/// checker that runs while the test goes).
pub(crate) fn start_writer(
    path: &Path,
    start: Instant,
    stats: Arc<Stats>,
    live: Arc<LiveFacts>,
    tap: Option<mpsc::Sender<Event>>,
) -> io::Result<(Recorder, Writer)> {
    let file = File::create(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot create history file {}: {e}", path.display()),
        )
    })?;
    let (tx, rx) = mpsc::channel::<Record>();
    let thread = std::thread::Builder::new()
        .name("faultline-history".into())
        .spawn(move || write_loop(rx, JsonlWriter::new(file), &stats, &live, tap))?;
    Ok((Recorder { tx, start }, Writer { thread }))
}

fn write_loop(
    rx: mpsc::Receiver<Record>,
    mut out: JsonlWriter<File>,
    stats: &Stats,
    live: &LiveFacts,
    mut tap: Option<mpsc::Sender<Event>>,
) -> io::Result<u64> {
    // One event reused for every line, so its strings keep their capacity.
    let mut event = Event {
        index: 0,
        time: 0,
        process: Process::Nemesis,
        kind: EventType::Invoke,
        f: String::new(),
        key: None,
        value: Value::Null,
        error: None,
        node: None,
    };
    let mut next_index = 0u64;
    let mut last_time = 0u64;
    let mut unflushed_since: Option<Instant> = None;
    let mut error: Option<io::Error> = None;
    loop {
        let received = match unflushed_since {
            Some(t) => match rx
                .recv_timeout((t + FLUSH_INTERVAL).saturating_duration_since(Instant::now()))
            {
                Ok(r) => Some(r),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(r) => Some(r),
                Err(_) => break,
            },
        };
        if let Some(first) = received {
            unflushed_since.get_or_insert_with(Instant::now);
            let mut batch = 0u32;
            let mut next = Some(first);
            while let Some(r) = next {
                stats.count(&r);
                live.observe(Observed {
                    process: r.process,
                    kind: r.kind,
                    f: &r.f,
                    value: &r.value,
                    node: r.node.as_ref(),
                    time: r.time,
                });
                last_time = last_time.max(r.time);
                event.index = next_index;
                event.time = last_time;
                event.process = r.process;
                event.kind = r.kind;
                event.f.clear();
                event.f.push_str(&r.f);
                event.key = r.key;
                event.value = r.value;
                event.error = r.error;
                match (&mut event.node, r.node) {
                    (Some(s), Some(n)) => {
                        s.clear();
                        s.push_str(&n);
                    }
                    (slot, n) => *slot = n.map(|n| n.to_string()),
                }
                // Equal numbers written differently (a client's `1.0`, another's `1`) must
                // compare equal in the checkers: one canonical text each, as readers give.
                faultline_history::value::canonicalize_event(&mut event);
                next_index += 1;
                if error.is_none() {
                    if let Err(e) = out.write(&event) {
                        error = Some(e);
                    }
                }
                // A tap that has gone (its reader ended) is simply no longer fed.
                if tap.as_ref().is_some_and(|t| t.send(event.clone()).is_err()) {
                    tap = None;
                }
                batch += 1;
                // Check the flush deadline now and then while draining a busy channel.
                if batch & 1023 == 0
                    && unflushed_since.is_some_and(|t| t.elapsed() >= FLUSH_INTERVAL)
                {
                    break;
                }
                next = rx.try_recv().ok();
            }
        }
        if unflushed_since.is_some_and(|t| t.elapsed() >= FLUSH_INTERVAL) {
            if error.is_none() {
                if let Err(e) = out.flush() {
                    error = Some(e);
                }
            }
            unflushed_since = None;
        }
    }
    if let Some(e) = error {
        return Err(io::Error::new(
            e.kind(),
            format!("writing the history failed: {e}"),
        ));
    }
    out.into_inner()?.sync_all()?;
    Ok(next_index)
}
