//! JSON Lines I/O: the canonical on-disk form of a history, one [`Event`] a line.
//!
//! The writer buffers; the runner calls [`JsonlWriter::flush`] every 100 ms so a crash loses
//! at most that much. [`JsonlReader`] reuses one line buffer and parses each line with
//! `serde_json::from_slice`, so it allocates only what the events themselves hold.
//! [`read_jsonl_ops`], what `faultline check` reads with, parses blocks of lines on the rayon
//! pool and pairs them as they come, in file order; valid UTF-8 is validated once a block,
//! and a line's fields are borrowed and its values built from their raw text, with the usual
//! parse standing in whenever that fails, so results and errors are the serial reader's.

use crate::error::ImportError;
use crate::pairing::{PairError, Pairer};
use crate::{Event, EventType, Operation, Process};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::sync::mpsc;

/// Writes events as JSON Lines through an internal buffer.
///
/// Dropping the writer flushes what is buffered but ignores errors; call
/// [`JsonlWriter::flush`] or [`JsonlWriter::into_inner`] to see them.
pub struct JsonlWriter<W: Write> {
    out: BufWriter<W>,
    written: u64,
}

impl<W: Write> JsonlWriter<W> {
    /// A writer that appends to `out`.
    pub fn new(out: W) -> Self {
        JsonlWriter {
            out: BufWriter::with_capacity(64 * 1024, out),
            written: 0,
        }
    }

    /// Appends one event as one line. It reaches `out` when the buffer fills or on flush.
    pub fn write(&mut self, event: &Event) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, event).map_err(io::Error::from)?;
        self.out.write_all(b"\n")?;
        self.written += 1;
        Ok(())
    }

    /// Pushes buffered lines to the underlying writer and flushes it.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// How many events have been written (buffered or not).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

/// Parses one JSON Lines line (without its newline). Blank lines give `Ok(None)`. Numbers
/// in the event's values get their canonical text ([`crate::value::canonicalize`]).
pub fn parse_line(bytes: &[u8], line: u32) -> Result<Option<Event>, ImportError> {
    parsed(line, bytes, || serde_json::from_slice(bytes))
}

/// [`parse_line`] on text known to be UTF-8, which serde_json then does not validate again:
/// the same result as `parse_line(text.as_bytes(), line)`.
fn parse_line_str(text: &str, line: u32) -> Result<Option<Event>, ImportError> {
    parsed(line, text.as_bytes(), || serde_json::from_str(text))
}

/// A line's event: none if the line is blank, an error if it is not a JSON object (serde
/// would take an array for the struct's fields in order), else what `parse` gives, its error
/// with the line number.
fn parsed(
    line: u32,
    bytes: &[u8],
    parse: impl FnOnce() -> serde_json::Result<Event>,
) -> Result<Option<Event>, ImportError> {
    let Some(at) = bytes.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Ok(None);
    };
    if bytes[at] == b'[' {
        return Err(ImportError {
            line,
            message: format!(
                "column {}: found an array; expected one JSON event object",
                at + 1
            ),
        });
    }
    match parse() {
        Ok(mut ev) => {
            crate::value::canonicalize_event(&mut ev);
            Ok(Some(ev))
        }
        Err(e) => Err(ImportError {
            line,
            message: serde_message(&e),
        }),
    }
}

/// An [`Event`] as a line spells it, borrowing what it can: the fields a line's values are
/// kept raw, to be built into [`Value`]s without serde_json's generic value visitor.
#[derive(Deserialize)]
struct RawEvent<'a> {
    index: u64,
    time: u64,
    process: Process,
    #[serde(rename = "type")]
    kind: EventType,
    #[serde(borrow)]
    f: Cow<'a, str>,
    #[serde(default, borrow)]
    key: Option<&'a RawValue>,
    #[serde(default, borrow)]
    value: Option<&'a RawValue>,
    #[serde(default, borrow)]
    error: Option<&'a RawValue>,
    #[serde(default, borrow)]
    node: Option<Cow<'a, str>>,
}

/// The [`Value`] of a raw JSON value, as serde_json would build it; `None` if serde_json
/// would not (e.g. nesting deeper than its recursion limit, which a raw value does not check).
fn raw_value(raw: &RawValue) -> Option<Value> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'n') => Some(Value::Null),
        Some(b't') => Some(Value::Bool(true)),
        Some(b'f') => Some(Value::Bool(false)),
        // A string without escapes is its text between the quotes.
        Some(b'"') if !text.contains('\\') => text
            .get(1..text.len() - 1)
            .map(|s| Value::String(s.to_string())),
        _ => serde_json::from_str(text).ok().map(crate::value::canonical),
    }
}

/// [`parse_line`] on text known to be UTF-8, faster: fields are borrowed and values built from
/// their raw text. Whenever this way fails, the line is parsed the usual way, so the result,
/// and any error, is always `parse_line(text.as_bytes(), line)`'s.
fn parse_line_fast(text: &str, line: u32) -> Result<Option<Event>, ImportError> {
    if !text.trim_start().starts_with('{') {
        return parse_line_str(text, line);
    }
    let fast = serde_json::from_str::<RawEvent>(text).ok().and_then(|raw| {
        let opt = |v: Option<&RawValue>| match v {
            None => Some(None),
            Some(v) => raw_value(v).map(Some),
        };
        Some(Event {
            index: raw.index,
            time: raw.time,
            process: raw.process,
            kind: raw.kind,
            f: raw.f.into_owned(),
            key: opt(raw.key)?,
            value: opt(raw.value)?.unwrap_or(Value::Null),
            error: opt(raw.error)?,
            node: raw.node.map(Cow::into_owned),
        })
    });
    match fast {
        Some(ev) => Ok(Some(ev)),
        None => parse_line_str(text, line),
    }
}

/// A serde_json error as "column C: what", without serde's own "at line 1" suffix (each
/// line is parsed alone, so serde's line number is meaningless here).
fn serde_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let what = match text.rfind(" at line ") {
        Some(cut) => text.get(..cut).unwrap_or(&text),
        None => &text,
    };
    if e.column() > 0 {
        format!(
            "column {}: {what}; expected one JSON event object",
            e.column()
        )
    } else {
        format!("{what}; expected one JSON event object")
    }
}

/// Reads events from JSON Lines one at a time, with the 1-based line of each.
pub struct JsonlReader<R: BufRead> {
    input: R,
    buf: Vec<u8>,
    line: u32,
    failed: bool,
}

impl<R: BufRead> JsonlReader<R> {
    /// A reader over `input`.
    pub fn new(input: R) -> Self {
        JsonlReader {
            input,
            buf: Vec::with_capacity(256),
            line: 0,
            failed: false,
        }
    }

    /// The next event and its line; `None` at end of input. After an error it returns `None`.
    pub fn next_event(&mut self) -> Option<Result<(u32, Event), ImportError>> {
        if self.failed {
            return None;
        }
        if self.line == 0 {
            if let Err(e) = skip_bom(&mut self.input) {
                self.failed = true;
                return Some(Err(ImportError {
                    line: 1,
                    message: format!("cannot read: {e}"),
                }));
            }
        }
        loop {
            self.buf.clear();
            self.line = self.line.saturating_add(1);
            match self.input.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => {
                    self.failed = true;
                    return Some(Err(ImportError {
                        line: self.line,
                        message: format!("cannot read: {e}"),
                    }));
                }
            }
            match parse_line(&self.buf, self.line) {
                Ok(Some(ev)) => return Some(Ok((self.line, ev))),
                Ok(None) => continue,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl<R: BufRead> Iterator for JsonlReader<R> {
    type Item = Result<(u32, Event), ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event()
    }
}

/// Reads a whole JSON Lines history: the events and the line of each.
pub fn read_jsonl<R: BufRead>(input: R) -> Result<(Vec<Event>, Vec<u32>), ImportError> {
    let mut events = Vec::new();
    let mut lines = Vec::new();
    for item in JsonlReader::new(input) {
        let (line, ev) = item?;
        events.push(ev);
        lines.push(line);
    }
    Ok((events, lines))
}

/// Splits off a torn last line: the bytes a crash left mid-write.
///
/// The writer appends whole lines, so a crash can only cut the last one, which then lacks
/// its newline. When `bytes` does not end with a newline and its last line is not an event,
/// returns the bytes before that line and the line's error (with its 1-based number), for a
/// one-line warning; otherwise returns `bytes` whole. A broken line anywhere else, or a
/// broken last line that ends with a newline, is left for the reader to report. Only the
/// last line is parsed here (and lines counted only when it is torn), so the cost is nil.
///
/// ```
/// use faultline_history::jsonl::without_torn_tail;
/// let text = b"{\"index\":0,\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"ind";
/// let (rest, torn) = without_torn_tail(text);
/// assert_eq!(rest.len(), text.len() - 5);
/// assert_eq!(torn.unwrap().line, 2);
/// ```
pub fn without_torn_tail(bytes: &[u8]) -> (&[u8], Option<ImportError>) {
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return (bytes, None);
    }
    let start = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let newlines = bytes[..start].iter().filter(|&&b| b == b'\n').count();
    let line = u32::try_from(newlines + 1).unwrap_or(u32::MAX);
    match parse_line(&bytes[start..], line) {
        Ok(_) => (bytes, None),
        Err(e) => (&bytes[..start], Some(e)),
    }
}

/// Bytes of memory parsing one line of `n` bytes can take at most, about: a JSON array of
/// one-digit numbers takes 2 bytes a value as text and 32 in memory, with up to twice that
/// while its vector grows.
pub const PARSE_BYTES_PER_BYTE: usize = 32;

/// Why [`read_jsonl_ops`] failed: a line that cannot be read or parsed, or events that
/// cannot be paired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// Reading or parsing a line failed.
    Import(ImportError),
    /// The events do not pair into operations.
    Pair(PairError),
}

/// Reads a JSON Lines history and pairs it into operations as it goes, keeping no events:
/// the memory a check needs is the operations' alone. A line that could take more than
/// `memory_limit` bytes to parse (see [`PARSE_BYTES_PER_BYTE`]) is refused as soon as it is
/// that long, before it is read whole. Lines are parsed in parallel (see
/// [`read_jsonl_ops_with`]); the result is [`read_jsonl_ops_serial`]'s exactly.
pub fn read_jsonl_ops<R: BufRead>(
    input: R,
    memory_limit: usize,
) -> Result<Vec<Operation>, ReadError> {
    read_jsonl_ops_with(input, &ReadOptions::new(memory_limit))
}

/// How [`read_jsonl_ops_with`] reads: its memory limit, block size and a size hint.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Refuse a line that could take more than this many bytes to parse.
    pub memory_limit: usize,
    /// About how many bytes of whole lines each parallel parse task takes.
    pub block_bytes: usize,
    /// The input's size in bytes, if known (0 if not): room for its operations is reserved
    /// up front instead of grown by copying.
    pub expected_bytes: u64,
}

impl ReadOptions {
    /// Blocks of [`DEFAULT_BLOCK_BYTES`], no size hint.
    pub fn new(memory_limit: usize) -> Self {
        ReadOptions {
            memory_limit,
            block_bytes: DEFAULT_BLOCK_BYTES,
            expected_bytes: 0,
        }
    }
}

/// The block size [`read_jsonl_ops`] parses in parallel: big enough that a task's overhead
/// is nil, small enough that the blocks in flight take a few MB.
pub const DEFAULT_BLOCK_BYTES: usize = 1 << 20;

/// How many blocks may be read ahead of the pairing: bounds the memory parsed events take.
const BLOCKS_IN_FLIGHT: usize = 8;

/// Fewest bytes of JSON Lines an operation takes (an invoke and a completion line), for
/// reserving room from a size hint: an underestimate of the operations only costs one copy.
const BYTES_PER_OP: u64 = 128;

/// The error for a line longer than `memory_limit` allows.
fn too_long(line: u32, memory_limit: usize) -> ImportError {
    let max_line = memory_limit / PARSE_BYTES_PER_BYTE;
    ImportError {
        line,
        message: format!(
            "line is longer than {} MB: parsing it could take more than the memory limit of {} MB; raise --memory-limit to read it",
            max_line >> 20,
            memory_limit >> 20
        ),
    }
}

/// The events of one block of whole lines, and the error that ended it early, if any.
struct Parsed {
    events: Vec<(u32, Event)>,
    error: Option<ImportError>,
}

/// What a pending block will deliver: its parse, or the panic of the task that parsed it.
type Pending = mpsc::Receiver<std::thread::Result<Parsed>>;

/// Parses a block of whole lines whose first is line `first`, up to its first bad line.
/// The last line may lack its newline (the end of the input).
fn parse_block(block: &[u8], first: u32) -> Parsed {
    let mut events = Vec::with_capacity(block.len() / 64);
    // Valid UTF-8 as a whole (the usual case) need not be validated again string by string.
    let text = std::str::from_utf8(block).ok();
    let mut line = first;
    let mut start = 0;
    while start < block.len() {
        let end = memchr::memchr(b'\n', &block[start..]).map_or(block.len(), |at| start + at);
        // A '\n' never splits a UTF-8 sequence, so each line of valid text is valid text.
        let parsed = match text.and_then(|t| t.get(start..end)) {
            Some(line_text) => parse_line_fast(line_text, line),
            None => parse_line(&block[start..end], line),
        };
        match parsed {
            Ok(Some(ev)) => events.push((line, ev)),
            Ok(None) => {}
            Err(e) => {
                return Parsed {
                    events,
                    error: Some(e),
                }
            }
        }
        line = line.saturating_add(1);
        start = end + 1;
    }
    Parsed {
        events,
        error: None,
    }
}

/// A block already parsed: the events of `events` and then `error`.
fn ready(events: Vec<(u32, Event)>, error: Option<ImportError>) -> Pending {
    let (tx, rx) = mpsc::sync_channel(1);
    let _ = tx.send(Ok(Parsed { events, error }));
    rx
}

/// Hands a block to the rayon pool to parse; the receiver delivers the result.
fn spawn_parse(block: Vec<u8>, first: u32) -> Pending {
    let (tx, rx) = mpsc::sync_channel(1);
    rayon::spawn_fifo(move || {
        let parsed =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse_block(&block, first)));
        let _ = tx.send(parsed);
    });
    rx
}

/// The line numbers `n` newlines after line `line`, saturating as the serial reader does.
fn advance(line: u32, n: usize) -> u32 {
    u32::try_from(n).map_or(u32::MAX, |n| line.saturating_add(n))
}

/// [`read_jsonl_ops`] with its options. This thread reads blocks of whole lines; the rayon
/// pool parses them, several at a time; one more thread pairs their events in file order as
/// they arrive. At most [`BLOCKS_IN_FLIGHT`] blocks are read ahead of the pairing. The
/// operations and the first error (reading, parsing or pairing, in file order) are those of
/// [`read_jsonl_ops_serial`].
pub fn read_jsonl_ops_with<R: BufRead>(
    mut input: R,
    opts: &ReadOptions,
) -> Result<Vec<Operation>, ReadError> {
    let memory_limit = opts.memory_limit;
    // The longest line allowed, with its newline.
    let limit = (memory_limit / PARSE_BYTES_PER_BYTE).max(1) + 1;
    let block_bytes = opts.block_bytes.max(1);
    let capacity = usize::try_from(opts.expected_bytes / BYTES_PER_OP).unwrap_or(0);
    skip_bom(&mut input).map_err(|e| cannot_read(1, &e))?;
    if rayon::current_thread_index().is_some() {
        // On a pool thread, waiting for the pool's parse tasks could deadlock it.
        return read_jsonl_ops_serial(input, memory_limit);
    }
    std::thread::scope(|scope| {
        let (order, pending) = mpsc::sync_channel::<Pending>(BLOCKS_IN_FLIGHT);
        let pairing = scope.spawn(move || pair_blocks(pending, capacity));
        // Bytes read and not yet handed on: part of a line, or none.
        let mut carry: Vec<u8> = Vec::new();
        // The number of the first line in `carry`.
        let mut line: u32 = 1;
        loop {
            let mut buf = std::mem::take(&mut carry);
            // Whole lines end at `buf[..cut]`; the rest is a line still being read.
            let mut cut = 0;
            let mut failed = None;
            let mut eof = false;
            loop {
                let before = buf.len();
                let want = block_bytes
                    .saturating_sub(before)
                    .max(block_bytes / 2)
                    .max(1);
                buf.reserve(want);
                match input.by_ref().take(want as u64).read_to_end(&mut buf) {
                    Ok(0) => eof = true,
                    Ok(_) => {}
                    Err(e) => failed = Some(e),
                }
                if let Some(at) = memchr::memrchr(b'\n', &buf[before..]) {
                    cut = before + at + 1;
                }
                if cut > 0 || eof || failed.is_some() || buf.len() - cut > limit {
                    break;
                }
            }
            if eof {
                cut = buf.len();
            }
            // The first line longer than the limit, if any: only lines before it are kept.
            let mut too_long_at = None;
            if buf.len() > limit {
                let mut start = 0;
                let mut n = 0;
                while start < buf.len() {
                    let end =
                        memchr::memchr(b'\n', &buf[start..]).map_or(buf.len(), |at| start + at + 1);
                    if end - start > limit {
                        too_long_at = Some((start, advance(line, n)));
                        break;
                    }
                    n += 1;
                    start = end;
                }
            }
            let next = match too_long_at {
                Some((start, _)) => start.min(cut),
                None => cut,
            };
            let rest = buf.split_off(next);
            let newlines = memchr::memchr_iter(b'\n', &buf).count();
            let first = line;
            line = advance(line, newlines);
            let error = match (too_long_at, failed) {
                (Some((_, at)), _) => Some(too_long(at, memory_limit)),
                (None, Some(e)) => Some(ImportError {
                    line,
                    message: format!("cannot read: {e}"),
                }),
                (None, None) => None,
            };
            let stop = error.is_some() || eof;
            if !buf.is_empty() && order.send(spawn_parse(buf, first)).is_err() {
                break;
            }
            if let Some(e) = error {
                let _ = order.send(ready(Vec::new(), Some(e)));
            }
            if stop {
                break;
            }
            carry = rest;
        }
        drop(order);
        match pairing.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Pairs the events of the blocks `pending` delivers, in order, until a block's error.
fn pair_blocks(
    pending: mpsc::Receiver<Pending>,
    capacity: usize,
) -> Result<Vec<Operation>, ReadError> {
    let mut pairer = Pairer::with_capacity(capacity);
    for block in pending {
        let parsed = match block.recv() {
            Ok(Ok(parsed)) => parsed,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(mpsc::RecvError) => {
                return Err(ReadError::Import(ImportError {
                    line: 0,
                    message: "internal error: a parse task vanished".into(),
                }))
            }
        };
        for (line, ev) in parsed.events {
            pairer.push(ev, line).map_err(ReadError::Pair)?;
        }
        if let Some(e) = parsed.error {
            return Err(ReadError::Import(e));
        }
    }
    Ok(pairer.finish())
}

/// [`read_jsonl_ops`] on one thread, a line at a time: the reference the parallel reader is
/// tested against (same operations, same first error), and no faster for small inputs.
pub fn read_jsonl_ops_serial<R: BufRead>(
    mut input: R,
    memory_limit: usize,
) -> Result<Vec<Operation>, ReadError> {
    let max_line = memory_limit / PARSE_BYTES_PER_BYTE;
    skip_bom(&mut input).map_err(|e| cannot_read(1, &e))?;
    let mut pairer = Pairer::default();
    let mut buf: Vec<u8> = Vec::with_capacity(256);
    let mut line: u32 = 0;
    loop {
        buf.clear();
        line = line.saturating_add(1);
        let mut ended = false;
        while !ended {
            let chunk = input.fill_buf().map_err(|e| {
                ReadError::Import(ImportError {
                    line,
                    message: format!("cannot read: {e}"),
                })
            })?;
            if chunk.is_empty() {
                break;
            }
            let (take, found) = match chunk.iter().position(|&b| b == b'\n') {
                Some(at) => (at + 1, true),
                None => (chunk.len(), false),
            };
            if buf.len() + take > max_line.max(1) + 1 {
                return Err(ReadError::Import(too_long(line, memory_limit)));
            }
            buf.extend_from_slice(&chunk[..take]);
            input.consume(take);
            ended = found;
        }
        if buf.is_empty() {
            return Ok(pairer.finish());
        }
        let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if let Some(ev) = parse_line(text, line).map_err(ReadError::Import)? {
            pairer.push(ev, line).map_err(ReadError::Pair)?;
        }
    }
}

/// The error for input that cannot be read at `line`.
fn cannot_read(line: u32, e: &io::Error) -> ReadError {
    ReadError::Import(ImportError {
        line,
        message: format!("cannot read: {e}"),
    })
}

/// Skips a UTF-8 byte order mark at the start of `input`, which some editors write.
pub fn skip_bom<R: BufRead>(input: &mut R) -> io::Result<()> {
    if input.fill_buf()?.starts_with(crate::input::BOM) {
        input.consume(crate::input::BOM.len());
    }
    Ok(())
}

/// Writes all `events` as JSON Lines and flushes.
pub fn write_jsonl<W: Write>(events: &[Event], out: W) -> io::Result<W> {
    let mut w = JsonlWriter::new(out);
    for e in events {
        w.write(e)?;
    }
    w.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventType, Process};
    use serde_json::json;

    fn ev(
        index: u64,
        process: Process,
        kind: EventType,
        f: &str,
        value: serde_json::Value,
    ) -> Event {
        crate::testing::event(index, index * 1000, process, kind, f, value)
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let mut with_all = ev(2, Process::Client(1), EventType::Info, "cas", json!([1, 2]));
        with_all.key = Some(json!("k1"));
        with_all.error = Some(json!("timed-out"));
        with_all.node = Some("n3".into());
        let events = vec![
            ev(
                0,
                Process::Client(1),
                EventType::Invoke,
                "cas",
                json!([1, 2]),
            ),
            ev(
                1,
                Process::Nemesis,
                EventType::Info,
                "start-partition",
                json!({"n1": ["n2"]}),
            ),
            with_all,
        ];
        let bytes = write_jsonl(&events, Vec::new()).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(
            text.starts_with(
                r#"{"index":0,"time":0,"process":1,"type":"invoke","f":"cas","value":[1,2]}"#
            ),
            "{text}"
        );
        assert!(text.contains(r#""process":"nemesis""#));
        let (back, lines) = read_jsonl(&bytes[..]).unwrap();
        assert_eq!(back, events);
        assert_eq!(lines, vec![1, 2, 3]);
    }

    #[test]
    fn blank_lines_skipped_and_crlf_accepted() {
        let text = "\n{\"index\":0,\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\r\n\n  \n{\"index\":1,\"time\":5,\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":3}";
        let (events, lines) = read_jsonl(text.as_bytes()).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(lines, vec![2, 5]);
        assert_eq!(events[1].value, json!(3));
    }

    #[test]
    fn bad_line_reports_line_and_serde_message() {
        let text = "{\"index\":0,\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"index\":1,\"time\":0,\"process\":0,\"type\":\"maybe\",\"f\":\"read\"}\n";
        let err = read_jsonl(text.as_bytes()).unwrap_err();
        assert_eq!(err.line, 2);
        let shown = err.to_string();
        assert!(shown.starts_with("line 2: column "), "{shown}");
        assert!(shown.contains("unknown variant `maybe`"), "{shown}");
        assert!(!shown.contains("at line 1"), "{shown}");

        let err = read_jsonl(
            &b"{\"index\":0,\"time\":0,\"process\":-3,\"type\":\"ok\",\"f\":\"r\"}\n"[..],
        )
        .unwrap_err();
        assert!(err.message.contains("process -3 is negative"), "{err}");
        let err = read_jsonl(&b"not json\n"[..]).unwrap_err();
        assert_eq!(err.line, 1);
        let err = read_jsonl(&b"{\"index\":0}\n"[..]).unwrap_err();
        assert!(err.message.contains("missing field"), "{err}");
    }

    #[test]
    fn reader_stops_after_error() {
        let mut r = JsonlReader::new(&b"oops\n{}\n"[..]);
        assert!(r.next().unwrap().is_err());
        assert!(r.next().is_none());
    }

    #[test]
    fn writer_flush_makes_lines_visible() {
        let mut w = JsonlWriter::new(Vec::new());
        w.write(&ev(
            0,
            Process::Client(0),
            EventType::Invoke,
            "read",
            json!(null),
        ))
        .unwrap();
        assert_eq!(w.written(), 1);
        w.flush().unwrap();
        let out = w.into_inner().unwrap();
        assert!(out.ends_with(b"}\n"));
    }
}
