//! Importers: histories written by other tools, converted to [`Event`]s.
//!
//! Every importer returns the events with the 1-based source line of each, and every error
//! names the line and says what was expected. See `docs/history-format.md` for the mappings.

use crate::edn::{Edn, Reader};
pub use crate::error::ImportError;
use crate::{Event, EventType, Process, COMPARE_FAILED};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// A history file format faultline can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// faultline's own JSON Lines, one event a line.
    Jsonl,
    /// Jepsen's `history.edn` and Knossos data files.
    JepsenEdn,
    /// Porcupine's etcd logs: `INFO  jepsen.util - <process> <type> <f> <value>`.
    PorcupineEtcd,
    /// Porcupine's key-value histories: one EDN map with `:key` a line.
    PorcupineKv,
    /// elle-cli's JSON: one array of operation objects, `"value":[["append",1,1],["r",2,null]]`.
    ElleJson,
}

impl Format {
    /// Every format, in the order `detect` prefers them.
    pub const ALL: [Format; 5] = [
        Format::Jsonl,
        Format::ElleJson,
        Format::PorcupineEtcd,
        Format::PorcupineKv,
        Format::JepsenEdn,
    ];

    /// The format's name on the command line: `jsonl`, `jepsen-edn`, `porcupine-etcd`, `porcupine-kv`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::JepsenEdn => "jepsen-edn",
            Format::PorcupineEtcd => "porcupine-etcd",
            Format::PorcupineKv => "porcupine-kv",
            Format::ElleJson => "elle-json",
        }
    }

    /// The model the format implies: `cas-register` for porcupine-etcd, `kv` for porcupine-kv;
    /// `None` where the caller must infer it from the functions present.
    pub fn default_model(self) -> Option<&'static str> {
        match self {
            Format::PorcupineEtcd => Some("cas-register"),
            Format::PorcupineKv => Some("kv"),
            Format::Jsonl | Format::JepsenEdn | Format::ElleJson => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown history format {s:?}; expected one of jsonl, jepsen-edn, porcupine-etcd, porcupine-kv, elle-json"
                )
            })
    }
}

/// An imported history: the events in file order and the source line of each.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// The format the events were read from.
    pub format: Format,
    /// The events, in file order.
    pub events: Vec<Event>,
    /// `lines[i]` is the 1-based source line where `events[i]` starts.
    pub lines: Vec<u32>,
}

fn fail<T>(line: u32, message: impl Into<String>) -> Result<T, ImportError> {
    Err(ImportError {
        line,
        message: message.into(),
    })
}

/// How many non-blank lines `detect` looks at for the line-oriented formats.
const DETECT_LINES: usize = 20;

/// The longest line `detect` parses; a longer one is judged by its opening bytes, so telling
/// the format never builds a huge value.
const DETECT_LINE_BYTES: usize = 64 << 10;

/// Guesses the format from the content (see `docs/history-format.md`):
/// JSON Lines if the first non-blank line is a JSON object with `"type"`; porcupine-etcd if
/// the text contains `jepsen.util -`; porcupine-kv if the first lines are each one EDN map
/// with `:key`; jepsen-edn if the text starts with `[`, `(`, `{`, `#` or `;`.
pub fn detect(text: &str) -> Option<Format> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut non_blank = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = non_blank.next()?;
    if first.len() > DETECT_LINE_BYTES {
        // Too long to parse just to tell the format: its opening bytes say it.
        let after_brace = first.strip_prefix('{').map(str::trim_start);
        if after_brace.is_some_and(|r| r.starts_with('"')) {
            return Some(Format::Jsonl);
        }
    }
    if first.starts_with('{') && first.len() <= DETECT_LINE_BYTES {
        match serde_json::from_str::<Value>(first) {
            Ok(Value::Object(m)) if m.contains_key("type") => return Some(Format::Jsonl),
            // A line that is not EDN (JSON cut by a crash, nested too deep, or lacking
            // fields) is meant as JSON Lines: the JSON reader's error says what is wrong.
            _ if !is_edn_form(first) => return Some(Format::Jsonl),
            _ => {}
        }
    }
    if is_elle_json(first) {
        return Some(Format::ElleJson);
    }
    if text.contains("jepsen.util -") {
        return Some(Format::PorcupineEtcd);
    }
    let is_kv_line = |l: &str| {
        l.len() <= DETECT_LINE_BYTES && l.starts_with('{') && l.ends_with('}') && {
            let mut r = Reader::new(l);
            match r.read() {
                Ok(Edn::Map(pairs)) => {
                    r.at_end().unwrap_or(false)
                        && pairs
                            .iter()
                            .any(|(k, _)| matches!(k, Edn::Keyword(n) if n == "key"))
                }
                _ => false,
            }
        }
    };
    if std::iter::once(first)
        .chain(non_blank)
        .take(DETECT_LINES)
        .all(is_kv_line)
    {
        return Some(Format::PorcupineKv);
    }
    if first.starts_with(['[', '(', '{', '#', ';']) {
        return Some(Format::JepsenEdn);
    }
    None
}

/// Whether `line` is exactly one EDN form.
fn is_edn_form(line: &str) -> bool {
    let mut r = Reader::new(line);
    r.read().is_ok() && r.at_end().unwrap_or(false)
}

/// Imports a history in `format`, or in the format [`detect`] finds when `None`. An empty
/// input (nothing but whitespace) is an empty history in any format.
pub fn import(text: &str, format: Option<Format>) -> Result<History, ImportError> {
    import_within(text, format, usize::MAX)
}

/// [`import`], refusing (with an error naming its line) any operation whose text is so long
/// that reading it could take more than `memory_limit` bytes: a JSON Lines line, an EDN form
/// or an elle-cli JSON object. The text itself is not counted.
pub fn import_within(
    text: &str,
    format: Option<Format>,
    memory_limit: usize,
) -> Result<History, ImportError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Ok(History {
            format: format.unwrap_or(Format::Jsonl),
            events: Vec::new(),
            lines: Vec::new(),
        });
    }
    let format = match format {
        Some(f) => f,
        None => match detect(text) {
            Some(f) => f,
            None => {
                let line = text
                    .lines()
                    .position(|l| !l.trim().is_empty())
                    .map_or(1, |i| u32::try_from(i + 1).unwrap_or(u32::MAX));
                return fail(
                    line,
                    "cannot tell the history format from the content; expected JSON Lines events, Jepsen EDN, or a Porcupine etcd/kv log (or name the format)",
                );
            }
        },
    };
    let (events, lines) = match format {
        Format::Jsonl => import_jsonl(text, memory_limit)?,
        Format::PorcupineEtcd => import_etcd(text, memory_limit)?,
        Format::PorcupineKv => import_kv(text, memory_limit)?,
        Format::JepsenEdn => import_edn(text, memory_limit)?,
        Format::ElleJson => import_elle_json(text, memory_limit)?,
    };
    Ok(History {
        format,
        events,
        lines,
    })
}

type Imported = (Vec<Event>, Vec<u32>);

fn line_no(i: usize) -> u32 {
    u32::try_from(i + 1).unwrap_or(u32::MAX)
}

fn import_jsonl(text: &str, memory_limit: usize) -> Result<Imported, ImportError> {
    let mut events = Vec::new();
    let mut lines = Vec::new();
    let max_line = (memory_limit / crate::jsonl::PARSE_BYTES_PER_BYTE).max(1);
    for (i, line) in text.split('\n').enumerate() {
        let n = line_no(i);
        if line.len() > max_line {
            return fail(
                n,
                crate::limits::too_long_message("the line is", max_line, memory_limit),
            );
        }
        if let Some(ev) = crate::jsonl::parse_line(line.as_bytes(), n)? {
            events.push(ev);
            lines.push(n);
        }
    }
    Ok((events, lines))
}

// ---------------------------------------------------------------------------------------
// Porcupine etcd logs

/// Where the operation starts in a jepsen.util log line, if the line is one.
fn etcd_body(line: &str) -> Option<&str> {
    let at = line.find("jepsen.util")?;
    let rest = line.get(at + "jepsen.util".len()..)?;
    let rest = rest.trim_start();
    rest.strip_prefix('-')
        .or_else(|| rest.strip_prefix(':'))
        .map(str::trim_start)
}

/// A log line that is clearly not an operation: it starts like a log record (a level word,
/// or a timestamp) and comes from a logger other than `jepsen.util`.
fn is_log_noise(line: &str) -> bool {
    let first = line.split_whitespace().next().unwrap_or("");
    let level = matches!(
        first,
        "TRACE" | "DEBUG" | "INFO" | "WARN" | "WARNING" | "ERROR" | "FATAL"
    );
    let timestamp = first.len() >= 10
        && first.bytes().take(4).all(|c| c.is_ascii_digit())
        && first.as_bytes().get(4) == Some(&b'-');
    (level || timestamp) && !line.contains("jepsen.util")
}

fn import_etcd(text: &str, memory_limit: usize) -> Result<Imported, ImportError> {
    let mut events = Vec::new();
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = line_no(i);
        if line.trim().is_empty() || is_log_noise(line) {
            continue;
        }
        let Some(body) = etcd_body(line) else {
            return fail(
                n,
                format!(
                    "not a Jepsen log operation line: {:?}; expected `INFO  jepsen.util - <process> <type> <f> <value>`",
                    clip(line)
                ),
            );
        };
        let position = events.len() as u64;
        events.push(etcd_event(body, n, position, memory_limit)?);
        lines.push(n);
    }
    Ok((events, lines))
}

fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

fn etcd_event(
    body: &str,
    line: u32,
    position: u64,
    memory_limit: usize,
) -> Result<Event, ImportError> {
    let expected = "expected `<process> <type> <f> <value>`, e.g. `3 :invoke :cas [1 2]`";
    let mut r = Reader::starting_at(body, line).within(memory_limit);
    let mut next = |what: &str| -> Result<Edn, ImportError> {
        if r.at_end()? {
            return fail(line, format!("the operation has no {what}; {expected}"));
        }
        Ok(r.read()?)
    };
    let process = process_of(&next("process")?, line)?;
    let kind = type_of(&next("type")?, line)?;
    let f = name_of(&next("f")?)
        .ok_or_else(|| ImportError {
            line,
            message: format!("the operation's f is not a keyword; {expected}"),
        })?
        .to_string();
    // The value: one EDN form, or none (nil). Nemesis values are free text in some logs.
    let rest = r.rest();
    let mut vr = Reader::starting_at(rest, line).within(memory_limit);
    let parsed: Result<Edn, ImportError> = (|| {
        if vr.at_end()? {
            return Ok(Edn::Nil);
        }
        let v = vr.read()?;
        if !vr.at_end()? {
            return fail(
                line,
                format!(
                    "unexpected text after the value: {:?}; {expected}",
                    clip(vr.rest().trim())
                ),
            );
        }
        Ok(v)
    })();
    let value = match (parsed, process) {
        (Ok(v), _) => v,
        (Err(_), Process::Nemesis) => Edn::Str(rest.trim().to_string()),
        (Err(e), _) => return Err(e),
    };

    let mut ev = Event {
        index: position,
        time: position,
        process,
        kind,
        f,
        key: None,
        value: Value::Null,
        error: None,
        node: None,
    };
    if process == Process::Nemesis {
        ev.value = value.to_json();
        return Ok(ev);
    }
    match (kind, &value) {
        (EventType::Invoke | EventType::Ok, v) => ev.value = v.to_json(),
        // A completion whose value is a keyword reports an error, not a result.
        (EventType::Fail | EventType::Info, Edn::Keyword(reason)) => {
            ev.error = Some(Value::String(reason.clone()));
            if reason == "timed-out" {
                // A timed-out operation may or may not have happened: info, never fail.
                ev.kind = EventType::Info;
            }
        }
        (EventType::Fail, v) => {
            ev.value = v.to_json();
            if ev.f == "cas" {
                ev.error = Some(Value::String(COMPARE_FAILED.to_string()));
            }
        }
        (EventType::Info, v) => ev.value = v.to_json(),
    }
    Ok(ev)
}

// ---------------------------------------------------------------------------------------
// EDN event conversion, shared by jepsen-edn and porcupine-kv

fn name_of(e: &Edn) -> Option<&str> {
    match e {
        Edn::Keyword(s) | Edn::Str(s) | Edn::Symbol(s) => Some(s),
        _ => None,
    }
}

fn show(e: &Edn) -> String {
    let s = match e {
        Edn::Keyword(k) => format!(":{k}"),
        other => crate::value::shown_within(&other.to_json(), 80),
    };
    clip(&s)
}

fn process_of(e: &Edn, line: u32) -> Result<Process, ImportError> {
    match e {
        Edn::Int(p) => u64::try_from(*p).map(Process::Client).or_else(|_| {
            fail(
                line,
                format!("process {p} is negative; expected a non-negative integer or :nemesis"),
            )
        }),
        other if name_of(other) == Some("nemesis") => Ok(Process::Nemesis),
        other => fail(
            line,
            format!(
                "process is {}; expected a non-negative integer or :nemesis",
                show(other)
            ),
        ),
    }
}

fn type_of(e: &Edn, line: u32) -> Result<EventType, ImportError> {
    match name_of(e) {
        Some("invoke") => Ok(EventType::Invoke),
        Some("ok") => Ok(EventType::Ok),
        Some("fail") => Ok(EventType::Fail),
        Some("info") => Ok(EventType::Info),
        _ => fail(
            line,
            format!("type is {}; expected :invoke, :ok, :fail or :info", show(e)),
        ),
    }
}

fn u64_of(e: &Edn, field: &str, line: u32) -> Result<u64, ImportError> {
    match e {
        Edn::Int(v) if *v >= 0 => Ok(*v as u64),
        Edn::BigInt(s) => s.parse::<u64>().or_else(|_| {
            fail(
                line,
                format!(":{field} is {s}; expected a non-negative integer below 2^64"),
            )
        }),
        other => fail(
            line,
            format!(
                ":{field} is {}; expected a non-negative integer",
                show(other)
            ),
        ),
    }
}

fn node_of(e: &Edn) -> Option<String> {
    match e {
        Edn::Nil => None,
        Edn::List(xs) | Edn::Vector(xs) | Edn::Set(xs) => {
            let names: Vec<String> = xs.iter().filter_map(node_of).collect();
            (!names.is_empty()).then(|| names.join(","))
        }
        other => Some(name_of(other).map_or_else(|| other.to_json().to_string(), str::to_string)),
    }
}

/// An event as read, before missing index and time are filled in.
struct Partial {
    event: Event,
    index: Option<u64>,
    time: Option<u64>,
}

const OP_EXAMPLE: &str = "{:process 0, :type :invoke, :f :read, :value nil}";

fn partial_from_edn(form: &Edn, line: u32) -> Result<Partial, ImportError> {
    if let Some(pairs) = form.as_map() {
        return partial_from_map(pairs, line, None);
    }
    match form {
        // Early Knossos files: [process type f value] or [process type f value error].
        Edn::Vector(xs) | Edn::List(xs) if (3..=5).contains(&xs.len()) => {
            let get = |i: usize| xs.get(i).unwrap_or(&Edn::Nil);
            let process = process_of(get(0), line)?;
            let kind = type_of(get(1), line)?;
            let f = name_of(get(2))
                .ok_or_else(|| ImportError {
                    line,
                    message: format!("f is {}; expected a keyword such as :read", show(get(2))),
                })?
                .to_string();
            let (key, value) = value_and_key(get(3));
            let error = match get(4) {
                Edn::Nil => None,
                e => Some(e.to_json()),
            };
            Ok(Partial {
                event: Event {
                    index: 0,
                    time: 0,
                    process,
                    kind,
                    f,
                    key,
                    value,
                    error,
                    node: None,
                },
                index: None,
                time: None,
            })
        }
        other => fail(
            line,
            format!(
                "found {} where an operation belongs; expected a map such as {OP_EXAMPLE}",
                other.kind()
            ),
        ),
    }
}

/// Splits `#jepsen.independent.Tuple{:key k :value v}` into key and value.
fn value_and_key(v: &Edn) -> (Option<Value>, Value) {
    match v.as_tuple() {
        Some((k, v)) => (Some(k.to_json()), v.to_json()),
        None => (None, v.to_json()),
    }
}

/// An operation from a map's pairs; `json_value`, when given, is its value as JSON (read
/// apart from the pairs), which decides whether an operation without `:f` is a transaction.
fn partial_from_map(
    pairs: &[(Edn, Edn)],
    line: u32,
    json_value: Option<&Value>,
) -> Result<Partial, ImportError> {
    let mut process = None;
    let mut kind = None;
    let mut f = None;
    let mut key = None;
    let mut value = Value::Null;
    let mut index = None;
    let mut time = None;
    let mut error = None;
    let mut node = None;
    for (k, v) in pairs {
        // Fields of operations are keywords; anything else (and unknown fields) is ignored.
        let Some(name) = name_of(k) else { continue };
        match name {
            "process" => process = Some(process_of(v, line)?),
            "type" => kind = Some(type_of(v, line)?),
            "f" => {
                f = Some(
                    name_of(v)
                        .ok_or_else(|| ImportError {
                            line,
                            message: format!(":f is {}; expected a keyword such as :read", show(v)),
                        })?
                        .to_string(),
                )
            }
            "value" => {
                let (k, v) = value_and_key(v);
                if k.is_some() {
                    key = k;
                }
                value = v;
            }
            "key" => key = Some(v.to_json()),
            "index" => index = Some(u64_of(v, "index", line)?),
            "time" => time = Some(u64_of(v, "time", line)?),
            "error" => {
                error = match v {
                    Edn::Nil => None,
                    e => Some(e.to_json()),
                }
            }
            "node" | "nodes" => node = node_of(v),
            _ => {}
        }
    }
    let missing = |field: &str| ImportError {
        line,
        message: format!("the operation has no :{field}; expected a map such as {OP_EXAMPLE}"),
    };
    Ok(Partial {
        event: Event {
            index: 0,
            time: 0,
            process: process.ok_or_else(|| missing("process"))?,
            kind: kind.ok_or_else(|| missing("type"))?,
            f: match f {
                Some(f) => f,
                None if txn_shaped(json_value.unwrap_or(&value)) => "txn".to_string(),
                None => return Err(missing("f")),
            },
            key,
            value,
            error,
            node,
        },
        index,
        time,
    })
}

/// Fills in missing indices and times, keeping file order. A missing `:index` becomes the
/// previous event's index plus one (so a file with no indices gets 0, 1, 2, ...). If no event
/// has a `:time`, each event's time is its position; otherwise a missing `:time` repeats the
/// previous event's time (0 before the first).
fn finish(partials: Vec<Partial>) -> Vec<Event> {
    let any_time = partials.iter().any(|p| p.time.is_some());
    let mut prev_index: Option<u64> = None;
    let mut prev_time = 0u64;
    partials
        .into_iter()
        .enumerate()
        .map(|(pos, p)| {
            let mut ev = p.event;
            ev.index = p
                .index
                .unwrap_or_else(|| prev_index.map_or(0, |i| i.saturating_add(1)));
            ev.time = if any_time {
                p.time.unwrap_or(prev_time)
            } else {
                pos as u64
            };
            prev_index = Some(ev.index);
            prev_time = ev.time;
            ev
        })
        .collect()
}

const KV_EXAMPLE: &str = "{:process 4, :type :ok, :f :append, :key \"1\", :value \"x 4 0 y\"}";

fn import_kv(text: &str, memory_limit: usize) -> Result<Imported, ImportError> {
    let mut partials = Vec::new();
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = line_no(i);
        let mut r = Reader::starting_at(line, n).within(memory_limit);
        if r.at_end()? {
            continue;
        }
        let form = r.read()?;
        if !r.at_end()? {
            return fail(
                n,
                format!(
                    "more than one form on the line; expected one map such as {KV_EXAMPLE} a line"
                ),
            );
        }
        let Edn::Map(pairs) = &form else {
            return fail(
                n,
                format!(
                    "found {}; expected one map such as {KV_EXAMPLE} a line",
                    form.kind()
                ),
            );
        };
        partials.push(partial_from_map(pairs, n, None)?);
        lines.push(n);
    }
    Ok((finish(partials), lines))
}

fn import_edn(text: &str, memory_limit: usize) -> Result<Imported, ImportError> {
    let mut r = Reader::new(text).within(memory_limit);
    let mut partials = Vec::new();
    let mut lines = Vec::new();
    let mut push = |form: &Edn, line: u32| -> Result<(), ImportError> {
        partials.push(partial_from_edn(form, line)?);
        lines.push(line);
        Ok(())
    };
    if r.at_end()? {
        return Ok((Vec::new(), Vec::new()));
    }
    let open_line = r.line();
    let close = match r.peek_byte() {
        Some(b'[') => Some(b']'),
        Some(b'(') => Some(b')'),
        _ => None,
    };
    if let Some(close) = close {
        r.consume_byte();
        r.skip_ws()?;
        let container = matches!(r.peek_byte(), Some(b'{' | b'[' | b'(' | b'#') | None)
            || r.peek_byte() == Some(close);
        if container {
            // The whole history is one vector or list of operations.
            read_until_close(&mut r, close, "history", open_line, |form, line| {
                push(&form, line)
            })?;
            if !r.at_end()? {
                return fail(
                    r.line(),
                    format!(
                        "a form follows the history that closed; expected nothing after the `{}` matching line {open_line}",
                        char::from(close)
                    ),
                );
            }
        } else {
            // The first of several top-level tuples, [process type f value].
            let mut items = Vec::new();
            read_until_close(&mut r, close, "operation", open_line, |form, _| {
                items.push(form);
                Ok(())
            })?;
            push(&Edn::Vector(items), open_line)?;
        }
    }
    // One operation per top-level form (history.edn style), after any first tuple above.
    while !r.at_end()? {
        let line = r.line();
        let form = r.read()?;
        push(&form, line)?;
    }
    Ok((finish(partials), lines))
}

/// Reads forms up to the `close` byte that ends the `what` (history or operation) opened at
/// `open_line`, handing each form and its line to `each`; consumes the close.
fn read_until_close(
    r: &mut Reader<'_>,
    close: u8,
    what: &str,
    open_line: u32,
    mut each: impl FnMut(Edn, u32) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    loop {
        r.skip_ws()?;
        match r.peek_byte() {
            None => {
                return fail(
                    r.line(),
                    format!(
                        "unexpected end of input; expected `{}` to close the {what} opened at line {open_line}",
                        char::from(close)
                    ),
                )
            }
            Some(b) if b == close => {
                r.consume_byte();
                return Ok(());
            }
            Some(_) => {
                let line = r.line();
                let form = r.read()?;
                each(form, line)?;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// elle-cli JSON

/// Does the first line open a JSON array of objects (`[{"index":0,...`), as elle-cli's
/// histories do? An EDN vector of maps opens `[{:`, never `[{"`.
fn is_elle_json(first: &str) -> bool {
    first
        .strip_prefix('[')
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix('{'))
        .is_some_and(|r| r.trim_start().starts_with('"'))
}

/// Is a value a list of micro-operations (`[["append", k, v], ["r", k, null]]`)? Elle's own
/// histories leave out `:f` on transactions.
fn txn_shaped(value: &Value) -> bool {
    value.as_array().is_some_and(|mops| {
        !mops.is_empty()
            && mops.iter().all(|m| {
                m.as_array().is_some_and(|m| {
                    m.len() == 3
                        && matches!(m[0].as_str(), Some("append" | "r" | "w" | "read" | "write"))
                })
            })
    })
}

/// 1-based line of byte offset `at` in `text`.
fn line_at(text: &str, at: usize) -> u32 {
    line_no(
        text.as_bytes()[..at.min(text.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count(),
    )
}

const ELLE_EXAMPLE: &str =
    r#"{"index":0,"process":0,"type":"invoke","value":[["append",1,1],["r",2,null]]}"#;

fn import_elle_json(text: &str, memory_limit: usize) -> Result<Imported, ImportError> {
    let max_object = (memory_limit / crate::jsonl::PARSE_BYTES_PER_BYTE).max(1);
    // Stream the array's elements, so each error names the line of its object.
    let trimmed = text.trim_start();
    let start = text.len() - trimmed.len();
    let Some(body) = trimmed.strip_prefix('[') else {
        return fail(
            line_at(text, start),
            format!("expected a JSON array of operations such as [{ELLE_EXAMPLE}]"),
        );
    };
    let mut at = start + 1;
    let mut rest = body;
    let mut partials = Vec::new();
    let mut lines = Vec::new();
    loop {
        let t = rest.trim_start();
        at += rest.len() - t.len();
        rest = t;
        if let Some(after) = rest.strip_prefix(']') {
            if !after.trim().is_empty() {
                return fail(
                    line_at(text, at + 1),
                    "text follows the history's closing `]`; expected nothing after it",
                );
            }
            break;
        }
        if rest.is_empty() {
            return fail(
                line_at(text, at),
                "unexpected end of input; expected `]` to close the history",
            );
        }
        let line = line_at(text, at);
        if json_extent_exceeds(rest.as_bytes(), max_object) {
            return fail(
                line,
                crate::limits::too_long_message("an operation", max_object, memory_limit),
            );
        }
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        let value = match stream.next() {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                return fail(
                    line + e.line().saturating_sub(1) as u32,
                    format!("invalid JSON: {e}"),
                )
            }
            None => return fail(line, "unexpected end of input; expected an operation"),
        };
        let used = stream.byte_offset();
        partials.push(partial_from_json(value, line)?);
        lines.push(line);
        at += used;
        rest = &rest[used..];
        let t = rest.trim_start();
        at += rest.len() - t.len();
        rest = t;
        if let Some(after) = rest.strip_prefix(',') {
            at += 1;
            rest = after;
        } else if !rest.starts_with(']') && !rest.is_empty() {
            return fail(line_at(text, at), "expected `,` or `]` after an operation");
        }
    }
    Ok((finish(partials), lines))
}

/// Whether the JSON value at the start of `bytes` (after whitespace) is an array or object
/// longer than `max` bytes: found by scanning brackets and strings, without building it.
fn json_extent_exceeds(bytes: &[u8], max: usize) -> bool {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes[start..].iter().enumerate() {
        if i > max {
            return true;
        }
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth == 0 {
            return false;
        }
    }
    false
}

/// One elle-cli JSON operation: its scalar fields through the same path as an EDN map; its
/// value, key and error kept as JSON, numbers canonical (JSON numbers are one kind).
fn partial_from_json(v: Value, line: u32) -> Result<Partial, ImportError> {
    let m = match v {
        Value::Object(m) => m,
        other => {
            return fail(
                line,
                format!(
                "found {} where an operation belongs; expected an object such as {ELLE_EXAMPLE}",
                crate::value::shown(&other)
            ),
            )
        }
    };
    let mut value = None;
    let mut key = None;
    let mut error = None;
    let mut pairs: Vec<(Edn, Edn)> = Vec::with_capacity(m.len());
    for (k, v) in m {
        let v = crate::value::canonical(v);
        match k.as_str() {
            "value" => value = Some(v),
            "key" => key = Some(v),
            "error" => error = Some(v).filter(|e| !e.is_null()),
            _ => pairs.push((Edn::Keyword(k), json_to_edn(&v))),
        }
    }
    let mut partial = partial_from_map(&pairs, line, value.as_ref())?;
    if key.is_some() {
        partial.event.key = key;
    }
    partial.event.error = error;
    if let Some(v) = value {
        partial.event.value = v;
    }
    Ok(partial)
}

/// A JSON scalar field (process, type, f, index, time, node) as EDN; numbers keep their
/// canonical text.
fn json_to_edn(v: &Value) -> Edn {
    match v {
        Value::Null => Edn::Nil,
        Value::Bool(b) => Edn::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Edn::Int(i),
            None if n.as_u64().is_some() => Edn::BigInt(n.to_string()),
            None => Edn::Number(n.to_string()),
        },
        Value::String(s) => Edn::Str(s.clone()),
        Value::Array(xs) => Edn::Vector(xs.iter().map(json_to_edn).collect()),
        Value::Object(m) => Edn::Map(
            m.iter()
                .map(|(k, v)| (Edn::Str(k.clone()), json_to_edn(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn elle_json_histories() {
        let text = "[{\"index\":0,\"process\":0,\"type\":\"invoke\",\"value\":[[\"append\",1,1],[\"r\",2,null]]},\n {\"index\":1,\"process\":0,\"type\":\"ok\",\"value\":[[\"append\",1,1],[\"r\",2,[3]]]}]\n";
        assert_eq!(detect(text), Some(Format::ElleJson));
        let h = import(text, None).unwrap();
        assert_eq!(h.format, Format::ElleJson);
        assert_eq!(h.lines, vec![1, 2]);
        assert_eq!(h.events[1].f, "txn");
        assert_eq!(h.events[1].kind, EventType::Ok);
        assert_eq!(h.events[1].value, json!([["append", 1, 1], ["r", 2, [3]]]));
        let e = import("[{\"index\":0,\"process\":0,\"type\":\"invoke\",\"value\":[[\"append\",1,1]]},\n {\"process\":0,\"value\":1}]", None).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("no :type"), "{e}");
        let e = import("[{\"process\":0,\"type\":\"invoke\",\"value\":[[\"append\",1,1]]},\n\n {\"process\": }]", None).unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        let e = import(
            "[{\"process\":0,\"type\":\"invoke\",\"value\":[[\"append\",1,1]]}",
            None,
        )
        .unwrap_err();
        assert!(e.message.contains("expected `]`"), "{e}");
        // Elle's EDN histories leave out :f on transactions too.
        let h = import(
            "{:index 0 :process 1 :type :invoke :value [[:append 253 1] [:r 253 nil]]}",
            None,
        )
        .unwrap();
        assert_eq!(h.events[0].f, "txn");
        assert!(import("{:index 0 :process 1 :type :invoke :value 3}", None).is_err());
    }

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
            assert_eq!(f.to_string(), f.name());
        }
        let e = "edn".parse::<Format>().unwrap_err();
        assert!(e.contains("expected one of jsonl, jepsen-edn"), "{e}");
        assert_eq!(Format::PorcupineEtcd.default_model(), Some("cas-register"));
        assert_eq!(Format::PorcupineKv.default_model(), Some("kv"));
        assert_eq!(Format::Jsonl.default_model(), None);
        assert_eq!(Format::JepsenEdn.default_model(), None);
    }

    /// Issue 8 item 5: a JSON Lines history that is cut, holds a huge exponent or nests too
    /// deep was read as EDN and got "invalid keyword ':'"; it gets the JSON error (or, for
    /// the exponent, is read exactly).
    #[test]
    fn broken_json_lines_get_the_json_error() {
        let cut = "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"inv";
        let e = import(cut, None).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("EOF while parsing"), "{e}");
        assert!(e.message.contains("expected one JSON event object"), "{e}");

        let deep = format!(
            "{{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"w\",\"value\":{}{}}}",
            "[".repeat(300),
            "]".repeat(300)
        );
        let e = import(&deep, None).unwrap_err();
        assert!(e.message.contains("recursion limit"), "{e}");
        assert!(!e.message.contains("keyword"), "{e}");

        let huge = "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"w\",\"value\":1e400}\n";
        let h = import(huge, None).unwrap();
        assert_eq!(h.format, Format::Jsonl);
        assert_eq!(h.events[0].value.to_string(), "1e+400");
    }

    #[test]
    fn detection() {
        assert_eq!(
            detect("\n{\"index\":0,\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n"),
            Some(Format::Jsonl)
        );
        assert_eq!(
            detect("INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"),
            Some(Format::PorcupineEtcd)
        );
        assert_eq!(
            detect("{:process 0, :type :invoke, :f :get, :key \"3\", :value nil}\n{:process 0, :type :ok, :f :get, :key \"3\", :value \"\"}\n"),
            Some(Format::PorcupineKv)
        );
        assert_eq!(
            detect("{:process 0, :type :invoke, :f :read, :value nil}\n"),
            Some(Format::JepsenEdn)
        );
        assert_eq!(
            detect("; a comment\n[{:process 0}]"),
            Some(Format::JepsenEdn)
        );
        assert_eq!(detect("(1 2)"), Some(Format::JepsenEdn));
        assert_eq!(detect("[70  :invoke :read nil]"), Some(Format::JepsenEdn));
        assert_eq!(detect("hello world"), None);
        assert_eq!(detect("   \n\n"), None);
        // JSON that is not EDN is read as JSON Lines, whose reader says what is missing.
        assert_eq!(detect("{\"a\": 1}"), Some(Format::Jsonl));
        // JSON without "type" that is also EDN stays EDN.
        assert_eq!(detect("{\"a\" 1}"), Some(Format::JepsenEdn));
    }

    #[test]
    fn undetectable_input_is_an_error_at_its_first_line() {
        let e = import("\n\nhello", None).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.message.starts_with("cannot tell the history format"),
            "{e}"
        );
        // Issue 18: an empty input is an empty history in every format (its checkers then
        // say unknown), no longer an error in one format and valid in another.
        for text in ["", "\n \n", "\u{feff}"] {
            for format in Format::ALL.map(Some).into_iter().chain([None]) {
                let h = import(text, format).unwrap();
                assert!(h.events.is_empty(), "{format:?}");
            }
        }
    }

    // Source: Porcupine test_data/jepsen/etcd_000.log (MIT), as shipped in
    // /work/shared/histories/porcupine/etcd, with lines from other files of that set.
    const ETCD: &str = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]\n\
INFO  jepsen.util - 0\t:ok\t:read\t3\n\
INFO  jepsen.util - 2\t:fail\t:cas\t[3 0]\n\
INFO  jepsen.util - 3   :invoke :read   nil\n\
INFO  jepsen.util - 3   :fail   :read   :timed-out\n\
INFO  jepsen.util - 4\t:invoke\t:write\t4\n\
INFO  jepsen.util - 4\t:info\t:write\t:timed-out\n\
INFO  jepsen.util - 1   :invoke :cas    [1 2]\n\
INFO  jepsen.util - 1   :info   :cas    :timed-out\n";

    #[test]
    fn porcupine_etcd_mapping() {
        let h = import(ETCD, None).unwrap();
        assert_eq!(h.format, Format::PorcupineEtcd);
        assert_eq!(h.lines, (1..=10).collect::<Vec<u32>>());
        let e = &h.events;
        assert_eq!(e.len(), 10);
        for (i, ev) in e.iter().enumerate() {
            assert_eq!((ev.index, ev.time), (i as u64, i as u64));
        }
        assert_eq!(e[0].process, Process::Client(0));
        assert_eq!(e[0].kind, EventType::Invoke);
        assert_eq!(e[0].f, "read");
        assert_eq!(e[0].value, Value::Null);
        assert_eq!(e[1].value, json!([3, 0]));
        assert_eq!(e[2].value, json!(3));
        // A failed cas: definite, compare failed.
        assert_eq!(e[3].kind, EventType::Fail);
        assert_eq!(e[3].value, json!([3, 0]));
        assert_eq!(e[3].error, Some(json!(COMPARE_FAILED)));
        // A timed-out read: unknown result, so info.
        assert_eq!(e[5].kind, EventType::Info);
        assert_eq!(e[5].error, Some(json!("timed-out")));
        assert_eq!(e[5].value, Value::Null);
        for i in [7, 9] {
            assert_eq!(e[i].kind, EventType::Info);
            assert_eq!(e[i].error, Some(json!("timed-out")));
            assert_eq!(e[i].value, Value::Null);
        }
        let ops = crate::pair(&h.events, &h.lines).unwrap();
        assert_eq!(ops.len(), 5);
    }

    #[test]
    fn porcupine_etcd_noise_nemesis_and_errors() {
        let text = "2017-01-01 10:00:00,000 INFO  jepsen.core - Running test\n\
INFO  jepsen.util - :nemesis\t:info\t:start\tCut off {:n1 #{:n2}}\n\
INFO  jepsen.util - 0\t:invoke\t:read\tnil\n";
        let h = import(text, Some(Format::PorcupineEtcd)).unwrap();
        assert_eq!(h.lines, vec![2, 3]);
        assert_eq!(h.events[0].process, Process::Nemesis);
        assert_eq!(h.events[0].value, json!("Cut off {:n1 #{:n2}}"));

        let e = import(
            "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nsomething odd\n",
            Some(Format::PorcupineEtcd),
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("expected `INFO  jepsen.util -"), "{e}");
        let e = import("INFO  jepsen.util - x\t:invoke\t:read\tnil\n", None).unwrap_err();
        assert!(e.to_string().starts_with("line 1: process is \"x\""), "{e}");
        let e = import("INFO  jepsen.util - 1\t:start\t:read\tnil\n", None).unwrap_err();
        assert!(
            e.message.contains("type is :start; expected :invoke"),
            "{e}"
        );
        let e = import("INFO  jepsen.util - 1\t:invoke\n", None).unwrap_err();
        assert!(e.message.contains("has no f"), "{e}");
        let e = import("INFO  jepsen.util - 1 :invoke :write 1 2\n", None).unwrap_err();
        assert!(e.message.contains("unexpected text after the value"), "{e}");
        let e = import("INFO  jepsen.util - 1 :invoke :write [1\n", None).unwrap_err();
        assert!(e.message.contains("expected `]`"), "{e}");
    }

    // Source: Porcupine test_data/kv/c01-ok.txt (MIT), first lines.
    const KV: &str = "{:process 0, :type :invoke, :f :append, :key \"0\", :value \"x 0 0 y\"}\n\
{:process 0, :type :ok, :f :append, :key \"0\", :value \"x 0 0 y\"}\n\
{:process 0, :type :invoke, :f :get, :key \"0\", :value nil}\n\
{:process 0, :type :ok, :f :get, :key \"0\", :value \"x 0 0 y\"}\n";

    #[test]
    fn porcupine_kv_mapping() {
        let h = import(KV, None).unwrap();
        assert_eq!(h.format, Format::PorcupineKv);
        assert_eq!(h.events.len(), 4);
        assert_eq!(h.events[0].key, Some(json!("0")));
        assert_eq!(h.events[0].f, "append");
        assert_eq!(h.events[0].value, json!("x 0 0 y"));
        assert_eq!(h.events[2].value, Value::Null);
        assert_eq!(h.events[3].index, 3);
        assert_eq!(h.events[3].time, 3);
        let ops = crate::pair(&h.events, &h.lines).unwrap();
        assert_eq!(ops[1].output, json!("x 0 0 y"));

        let e = import(
            "{:process 0, :type :invoke, :f :get, :key \"0\"} {:a 1}\n",
            Some(Format::PorcupineKv),
        )
        .unwrap_err();
        assert!(e.message.contains("more than one form"), "{e}");
        let e = import(
            "{:process 0, :type :invoke, :f :get, :key \"0\"}\n[1 2]\n",
            Some(Format::PorcupineKv),
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("found a vector"), "{e}");
        let e = import(
            "{:process 0, :type :invoke, :key \"0\"}\n",
            Some(Format::PorcupineKv),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("line 1: the operation has no :f; expected a map such as {OP_EXAMPLE}")
        );
    }
}
