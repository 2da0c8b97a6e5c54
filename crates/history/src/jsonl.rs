//! JSON Lines I/O: the canonical on-disk form of a history, one [`Event`] a line.
//!
//! The writer buffers; the runner calls [`JsonlWriter::flush`] every 100 ms so a crash loses
//! at most that much. The reader reuses one line buffer and parses each line with
//! `serde_json::from_slice`, so it allocates only what the events themselves hold.

use crate::import::ImportError;
use crate::pairing::{PairError, Pairer};
use crate::{Event, Operation};
use std::io::{self, BufRead, BufWriter, Write};

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

/// Parses one JSON Lines line (without its newline). Blank lines give `Ok(None)`.
pub fn parse_line(bytes: &[u8], line: u32) -> Result<Option<Event>, ImportError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice::<Event>(bytes)
        .map(Some)
        .map_err(|e| ImportError {
            line,
            message: serde_message(&e),
        })
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
/// that long, before it is read whole.
pub fn read_jsonl_ops<R: BufRead>(
    mut input: R,
    memory_limit: usize,
) -> Result<Vec<Operation>, ReadError> {
    let max_line = memory_limit / PARSE_BYTES_PER_BYTE;
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
                return Err(ReadError::Import(ImportError {
                    line,
                    message: format!(
                        "line is longer than {} MB: parsing it could take more than the memory limit of {} MB; raise --memory-limit to read it",
                        max_line >> 20,
                        memory_limit >> 20
                    ),
                }));
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
