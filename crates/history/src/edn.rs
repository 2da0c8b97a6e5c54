//! A small EDN reader for Jepsen and Knossos history files.
//!
//! Why not a crate: `edn-rs` and `edn-format` neither report the line a form starts on nor
//! let a caller step into a top-level vector one element at a time, and both recurse without
//! a depth limit; the importers need all three (line numbers in every error, streaming over a
//! history vector, no stack overflow on hostile input). EDN is small enough that a reader
//! covering everything Jepsen prints fits in this file.
//!
//! Covered: `nil`, booleans, integers (with `N` suffix, and beyond 64 bits), floats (with `M`
//! suffix, `##Inf`, `##-Inf`, `##NaN`), ratios, strings with escapes, characters, keywords
//! (namespaced and `::auto`), symbols, lists, vectors, sets, maps, namespaced maps `#:ns{}`,
//! regexes `#"..."`, `#_` discard, `;` comments, and tagged literals `#tag form` (records such
//! as `#knossos.op.Op{...}` included). Nesting deeper than [`MAX_DEPTH`] is an error.

use serde_json::{Map, Number, Value};
use std::fmt;

/// How deeply forms may nest (collections, tags and discards all count) before the reader
/// gives up with an error instead of risking the stack.
pub const MAX_DEPTH: usize = 128;

/// One EDN value.
#[derive(Clone, Debug, PartialEq)]
pub enum Edn {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// An integer too large for 64 bits, as its decimal digits (with sign).
    BigInt(String),
    /// A BigDecimal (`2.5M`), as written without its `M` (and without a leading `+`).
    BigDec(String),
    /// A ratio (`1/3`) in lowest terms, as `n/d` text; one whose parts pass 128 bits, as written.
    Ratio(String),
    /// A double (`1.5`, `1e3`, `##Inf`, `##NaN`), as Clojure reads it.
    Float(f64),
    /// A JSON number (from elle-cli's JSON), as its canonical text
    /// ([`crate::value::canonical_number`]): JSON numbers are one kind.
    Number(String),
    /// A string.
    Str(String),
    /// A character literal such as `\a`.
    Char(char),
    /// A keyword, without its leading colon(s): `:jepsen/foo` is `jepsen/foo`.
    Keyword(String),
    /// A symbol.
    Symbol(String),
    /// `( ... )`.
    List(Vec<Edn>),
    /// `[ ... ]`.
    Vector(Vec<Edn>),
    /// `#{ ... }`, in the order written.
    Set(Vec<Edn>),
    /// `{ ... }`, in the order written.
    Map(Vec<(Edn, Edn)>),
    /// `#tag form`, with the tag's name without `#`.
    Tagged(String, Box<Edn>),
}

/// A reading error: the 1-based line where it happened and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdnError {
    /// 1-based line number.
    pub line: u32,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for EdnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for EdnError {}

/// A cursor over EDN text that reads one form at a time and tracks the line.
pub struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    line: u32,
    /// Where the top-level form being read started (byte and line), for the size bound.
    form_start: usize,
    form_line: u32,
    /// The longest a top-level form may be, in bytes of text, before reading it stops.
    max_form: usize,
    /// The memory limit `max_form` derives from, for the message.
    memory_limit: usize,
}

/// Bytes of memory reading one byte of EDN can take at most, about: a vector of one-digit
/// integers takes 2 bytes a value as text, a 40-byte form and then a JSON value with its
/// number's text in memory.
pub const EDN_BYTES_PER_BYTE: usize = 64;

fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'"' | b';' | b',' | b' ' | b'\t' | b'\n' | b'\r'
    ) || b == 0x0c
}

impl<'a> Reader<'a> {
    /// A reader at the start of `text`, line 1.
    pub fn new(text: &'a str) -> Self {
        Reader::starting_at(text, 1)
    }

    /// A reader over `text` whose first line is numbered `line` (for text cut out of a file).
    pub fn starting_at(text: &'a str, line: u32) -> Self {
        Reader {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            line,
            form_start: 0,
            form_line: line,
            max_form: usize::MAX,
            memory_limit: usize::MAX,
        }
    }

    /// This reader, refusing (with an error) any top-level form whose text is so long that
    /// reading it could take more than `memory_limit` bytes (see [`EDN_BYTES_PER_BYTE`]).
    pub fn within(mut self, memory_limit: usize) -> Self {
        self.max_form = (memory_limit / EDN_BYTES_PER_BYTE).max(1);
        self.memory_limit = memory_limit;
        self
    }

    /// Starts a top-level form at the current position: the size bound counts from here.
    fn begin_form(&mut self) {
        self.form_start = self.pos;
        self.form_line = self.line;
    }

    /// An error once the form being read has grown past the bound.
    fn check_size(&self) -> Result<(), EdnError> {
        if self.pos - self.form_start <= self.max_form {
            return Ok(());
        }
        Err(EdnError {
            line: self.form_line,
            message: crate::limits::too_long_message("a form", self.max_form, self.memory_limit),
        })
    }

    /// The current 1-based line.
    pub fn line(&self) -> u32 {
        self.line
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, EdnError> {
        Err(EdnError {
            line: self.line,
            message: message.into(),
        })
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        if b == b'\n' {
            self.line = self.line.saturating_add(1);
        }
        Some(b)
    }

    /// Skips whitespace, commas and comments, but not `#_` discards.
    fn skip_blank(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | b',' | 0x0c => {
                    self.bump();
                }
                b';' => {
                    while let Some(c) = self.peek() {
                        if c == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    /// Skips whitespace, comments and `#_` discarded forms. Errors only if a discarded form is
    /// itself malformed.
    pub fn skip_ws(&mut self) -> Result<(), EdnError> {
        self.begin_form();
        self.skip_ws_at(0)
    }

    fn skip_ws_at(&mut self, depth: usize) -> Result<(), EdnError> {
        loop {
            self.skip_blank();
            if self.peek() == Some(b'#') && self.peek_at(1) == Some(b'_') {
                if depth >= MAX_DEPTH {
                    return self.err(format!(
                        "forms nest deeper than {MAX_DEPTH} levels; expected a flatter structure"
                    ));
                }
                self.pos += 2;
                self.skip_ws_at(depth + 1)?;
                if self.peek().is_none() {
                    return self.err("#_ at end of input; expected a form to discard");
                }
                self.read_at(depth + 1)?;
            } else {
                return Ok(());
            }
        }
    }

    /// True when only whitespace, comments and discards remain.
    pub fn at_end(&mut self) -> Result<bool, EdnError> {
        self.skip_ws()?;
        Ok(self.peek().is_none())
    }

    /// After [`Reader::skip_ws`], the next byte, if any.
    pub fn peek_byte(&self) -> Option<u8> {
        self.peek()
    }

    /// Consumes one byte (the caller peeked it, e.g. an opening bracket).
    pub fn consume_byte(&mut self) {
        self.bump();
    }

    /// The rest of the text from the current position.
    pub fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or("")
    }

    /// Reads the next form. Call [`Reader::at_end`] first to tell end of input from an error.
    pub fn read(&mut self) -> Result<Edn, EdnError> {
        self.skip_blank();
        self.begin_form();
        self.read_at(0)
    }

    fn read_at(&mut self, depth: usize) -> Result<Edn, EdnError> {
        if depth >= MAX_DEPTH {
            return self.err(format!(
                "forms nest deeper than {MAX_DEPTH} levels; expected a flatter structure"
            ));
        }
        self.skip_ws_at(depth)?;
        let Some(b) = self.peek() else {
            return self.err("unexpected end of input; expected a form");
        };
        match b {
            b'(' => {
                self.bump();
                Ok(Edn::List(self.read_seq(b')', depth)?))
            }
            b'[' => {
                self.bump();
                Ok(Edn::Vector(self.read_seq(b']', depth)?))
            }
            b'{' => {
                self.bump();
                self.read_map(depth)
            }
            b')' | b']' | b'}' => {
                self.err(format!("unexpected `{}`; expected a form", char::from(b)))
            }
            b'"' => {
                self.bump();
                Ok(Edn::Str(self.read_string()?))
            }
            b'\\' => {
                self.bump();
                self.read_char()
            }
            b'#' => {
                self.bump();
                self.read_dispatch(depth)
            }
            b':' => {
                let tok = self.read_token();
                let name = tok.trim_start_matches(':');
                if name.is_empty() {
                    return self.err(format!(
                        "invalid keyword `{tok}`; expected a name after `:`"
                    ));
                }
                Ok(Edn::Keyword(name.to_string()))
            }
            _ => {
                let tok = self.read_token();
                if tok.is_empty() {
                    // A byte that is neither a delimiter nor starts a token: cannot happen for
                    // ASCII, but be safe with anything.
                    self.bump();
                    return self.err(format!("unexpected character `{}`", char::from(b)));
                }
                self.atom(tok)
            }
        }
    }

    fn read_token(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if is_delimiter(b) {
                break;
            }
            self.pos += 1;
        }
        self.text.get(start..self.pos).unwrap_or("")
    }

    fn atom(&self, tok: &str) -> Result<Edn, EdnError> {
        match tok {
            "nil" => return Ok(Edn::Nil),
            "true" => return Ok(Edn::Bool(true)),
            "false" => return Ok(Edn::Bool(false)),
            _ => {}
        }
        let bytes = tok.as_bytes();
        let first = bytes.first().copied().unwrap_or(b' ');
        let second = bytes.get(1).copied();
        let numeric = first.is_ascii_digit()
            || ((first == b'-' || first == b'+') && second.is_some_and(|c| c.is_ascii_digit()));
        if numeric {
            return self.number(tok);
        }
        Ok(Edn::Symbol(tok.to_string()))
    }

    fn number(&self, tok: &str) -> Result<Edn, EdnError> {
        let bad = || {
            self.err(format!(
                "invalid number `{tok}`; expected an integer, a float or a ratio"
            ))
        };
        if let Some((n, d)) = tok.split_once('/') {
            if !is_plain_int(n) || d.is_empty() || !d.bytes().all(|c| c.is_ascii_digit()) {
                return bad();
            }
            if d.bytes().all(|c| c == b'0') {
                return bad();
            }
            return Ok(ratio(n, d));
        }
        if let Some(digits) = tok.strip_suffix('N') {
            return if is_plain_int(digits) {
                Ok(int_or_big(digits))
            } else {
                bad()
            };
        }
        if is_plain_int(tok) {
            return Ok(int_or_big(tok));
        }
        let body = tok.strip_suffix('M').unwrap_or(tok);
        let hex = body
            .strip_prefix("0x")
            .or_else(|| body.strip_prefix("0X"))
            .map(|h| (false, h))
            .or_else(|| {
                body.strip_prefix("-0x")
                    .or_else(|| body.strip_prefix("-0X"))
                    .map(|h| (true, h))
            });
        if let Some((neg, h)) = hex {
            return match i64::from_str_radix(h, 16) {
                Ok(v) if !h.starts_with(['+', '-']) => Ok(Edn::Int(if neg { -v } else { v })),
                _ => bad(),
            };
        }
        // Rust's float parser accepts "inf" and "nan"; EDN does not, and those start with a
        // letter so cannot reach here. Reject anything else Rust accepts but EDN does not.
        if body
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            if let Ok(v) = body.parse::<f64>() {
                if tok.ends_with('M') {
                    // A BigDecimal is exact: keep its digits (`1.` is `1`).
                    let text = body.strip_prefix('+').unwrap_or(body);
                    let text = text.replace(".e", "e").replace(".E", "E");
                    let text = text.strip_suffix('.').unwrap_or(&text).to_string();
                    if crate::value::edn_bigdec(&text).is_some() {
                        return Ok(Edn::BigDec(text));
                    }
                    return bad();
                }
                return Ok(Edn::Float(v));
            }
        }
        bad()
    }

    fn read_seq(&mut self, close: u8, depth: usize) -> Result<Vec<Edn>, EdnError> {
        let open_line = self.line;
        let mut items = Vec::new();
        loop {
            self.check_size()?;
            self.skip_ws_at(depth + 1)?;
            match self.peek() {
                None => {
                    return self.err(format!(
                        "unexpected end of input; expected `{}` to close the collection opened at line {open_line}",
                        char::from(close)
                    ))
                }
                Some(b) if b == close => {
                    self.bump();
                    return Ok(items);
                }
                Some(_) => items.push(self.read_at(depth + 1)?),
            }
        }
    }

    fn read_map(&mut self, depth: usize) -> Result<Edn, EdnError> {
        let open_line = self.line;
        let items = self.read_seq(b'}', depth)?;
        if items.len() % 2 != 0 {
            return Err(EdnError {
                line: open_line,
                message: format!(
                    "map opened at line {open_line} has an odd number of forms ({}); expected key-value pairs",
                    items.len()
                ),
            });
        }
        let mut pairs = Vec::with_capacity(items.len() / 2);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            pairs.push((k, v));
        }
        if let Some(k) = duplicate_key(&pairs) {
            return Err(EdnError {
                line: open_line,
                message: format!(
                    "map opened at line {open_line} has the key {} twice; expected each key once (Clojure's reader refuses it too)",
                    crate::value::clip(&k.shown())
                ),
            });
        }
        Ok(Edn::Map(pairs))
    }

    fn read_string(&mut self) -> Result<String, EdnError> {
        let open_line = self.line;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' {
                    break;
                }
                self.bump();
            }
            out.push_str(self.text.get(start..self.pos).unwrap_or(""));
            match self.bump() {
                None => {
                    return Err(EdnError {
                        line: open_line,
                        message: format!(
                            "string opened at line {open_line} is not closed; expected `\"`"
                        ),
                    })
                }
                Some(b'"') => return Ok(out),
                Some(_) => {
                    let Some(e) = self.bump() else {
                        return self.err("string ends inside an escape; expected `\"`");
                    };
                    match e {
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'\'' => out.push('\''),
                        b'u' => {
                            let hex = self.text.get(self.pos..self.pos + 4).unwrap_or("");
                            let c = u32::from_str_radix(hex, 16)
                                .ok()
                                .filter(|_| hex.len() == 4 && hex.bytes().all(|c| c.is_ascii_hexdigit()))
                                .and_then(char::from_u32);
                            match c {
                                Some(c) => {
                                    out.push(c);
                                    self.pos += 4;
                                }
                                None => {
                                    return self.err(format!(
                                        "invalid escape `\\u{hex}` in string; expected four hex digits of a Unicode scalar"
                                    ))
                                }
                            }
                        }
                        other => {
                            return self.err(format!(
                                "invalid escape `\\{}` in string; expected one of \\n \\t \\r \\b \\f \\\" \\\\ \\uXXXX",
                                char::from(other).escape_default()
                            ))
                        }
                    }
                }
            }
        }
    }

    fn read_char(&mut self) -> Result<Edn, EdnError> {
        // The first character is taken whatever it is (so `\(` and `\ ` work), then any
        // token characters that follow make a named character.
        let start = self.pos;
        let Some(first) = self.rest().chars().next() else {
            return self.err("`\\` at end of input; expected a character");
        };
        for _ in 0..first.len_utf8() {
            self.bump();
        }
        if first.is_ascii_alphanumeric() {
            self.read_token();
        }
        let tok = self.text.get(start..self.pos).unwrap_or("");
        let c = match tok {
            "newline" => Some('\n'),
            "space" => Some(' '),
            "tab" => Some('\t'),
            "return" => Some('\r'),
            "backspace" => Some('\u{8}'),
            "formfeed" => Some('\u{c}'),
            t if t.chars().count() == 1 => t.chars().next(),
            t if t.len() == 5 && t.starts_with('u') => t
                .get(1..)
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .and_then(char::from_u32),
            t if t.len() >= 2 && t.len() <= 4 && t.starts_with('o') => t
                .get(1..)
                .and_then(|o| u32::from_str_radix(o, 8).ok())
                .filter(|v| *v <= 0o377)
                .and_then(char::from_u32),
            _ => None,
        };
        match c {
            Some(c) => Ok(Edn::Char(c)),
            None => self.err(format!(
                "invalid character literal `\\{tok}`; expected e.g. \\a, \\newline, \\space or \\uXXXX"
            )),
        }
    }

    fn read_dispatch(&mut self, depth: usize) -> Result<Edn, EdnError> {
        match self.peek() {
            Some(b'{') => {
                self.bump();
                Ok(Edn::Set(self.read_seq(b'}', depth)?))
            }
            Some(b'#') => {
                self.bump();
                let tok = self.read_token();
                match tok {
                    "Inf" => Ok(Edn::Float(f64::INFINITY)),
                    "-Inf" => Ok(Edn::Float(f64::NEG_INFINITY)),
                    "NaN" => Ok(Edn::Float(f64::NAN)),
                    _ => self.err(format!(
                        "invalid symbolic value `##{tok}`; expected ##Inf, ##-Inf or ##NaN"
                    )),
                }
            }
            Some(b'"') => {
                self.bump();
                Ok(Edn::Str(self.read_string()?))
            }
            Some(b':') => {
                let tok = self.read_token();
                let ns = tok.trim_start_matches(':').to_string();
                self.skip_ws_at(depth + 1)?;
                if self.peek() != Some(b'{') {
                    return self.err(format!(
                        "namespaced map `#{tok}` has no `{{`; expected a map"
                    ));
                }
                self.bump();
                let Edn::Map(pairs) = self.read_map(depth + 1)? else {
                    return self.err("expected a map");
                };
                let pairs = pairs
                    .into_iter()
                    .map(|(k, v)| match k {
                        Edn::Keyword(name) if !name.contains('/') => {
                            (Edn::Keyword(format!("{ns}/{name}")), v)
                        }
                        other => (other, v),
                    })
                    .collect();
                Ok(Edn::Map(pairs))
            }
            Some(b) if b.is_ascii_alphabetic() => {
                let tag = self.read_token().to_string();
                // A record literal `#ns.Rec{...}` has no space before its map; a tag may.
                self.skip_ws_at(depth + 1)?;
                if self.peek().is_none() {
                    return self.err(format!("tag `#{tag}` at end of input; expected a form"));
                }
                let form = self.read_at(depth + 1)?;
                Ok(Edn::Tagged(tag, Box::new(form)))
            }
            Some(b) => self.err(format!(
                "invalid dispatch `#{}`; expected #{{, #_, ##, #\" or #tag",
                char::from(b)
            )),
            None => self.err("`#` at end of input; expected a form"),
        }
    }
}

fn is_plain_int(tok: &str) -> bool {
    let digits = tok.strip_prefix(['-', '+']).unwrap_or(tok);
    !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit())
}

/// The ratio `n/d` (`d` not zero) as Clojure reads it: an integer when `d` divides `n`,
/// else in lowest terms.
fn ratio(n: &str, d: &str) -> Edn {
    let neg = n.starts_with('-');
    let n_digits = n.trim_start_matches(['-', '+']);
    let (Ok(a), Ok(b)) = (n_digits.parse::<u128>(), d.parse::<u128>()) else {
        return Edn::Ratio(format!("{}/{}", n.trim_start_matches('+'), d));
    };
    let g = gcd(a, b);
    let (a, b) = (a / g, b / g);
    let sign = if neg && a != 0 { "-" } else { "" };
    if b == 1 {
        return int_or_big(&format!("{sign}{a}"));
    }
    Edn::Ratio(format!("{sign}{a}/{b}"))
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// A key that appears twice among `pairs`, compared as Clojure's reader does (by value).
fn duplicate_key(pairs: &[(Edn, Edn)]) -> Option<&Edn> {
    if pairs.len() <= 16 {
        return pairs
            .iter()
            .enumerate()
            .find(|(i, (k, _))| {
                let id = k.identity();
                pairs[..*i].iter().any(|(j, _)| j.identity() == id)
            })
            .map(|(_, (k, _))| k);
    }
    let mut seen = std::collections::HashSet::with_capacity(pairs.len());
    pairs
        .iter()
        .find(|(k, _)| !seen.insert(k.identity()))
        .map(|(k, _)| k)
}

fn int_or_big(tok: &str) -> Edn {
    match tok.parse::<i64>() {
        Ok(v) => Edn::Int(v),
        Err(_) => Edn::BigInt(tok.trim_start_matches('+').to_string()),
    }
}

impl Edn {
    /// Converts to JSON. Keywords and symbols become strings without their colon; sets, lists
    /// and vectors become arrays; map keys that are not strings, keywords or symbols become
    /// their JSON text; integers of any size and decimals become JSON numbers with their exact
    /// text; infinities and NaN become the strings `"##Inf"`, `"##-Inf"`, `"##NaN"`; ratios
    /// become floats;
    /// `#jepsen.independent.Tuple{:key k :value v}` becomes `[k, v]`; any other tag (`#inst`,
    /// `#uuid`, records) becomes its form's conversion.
    pub fn to_json(&self) -> Value {
        match self {
            Edn::Nil => Value::Null,
            Edn::Bool(b) => Value::Bool(*b),
            Edn::Int(i) => Value::from(*i),
            Edn::BigInt(s) => number(&crate::value::canonical_number(s), s),
            Edn::Number(s) => number(s, s),
            Edn::BigDec(s) => match crate::value::edn_bigdec(s) {
                Some(t) => number(&t, s),
                None => Value::String(s.clone()),
            },
            Edn::Ratio(s) => Value::String(s.clone()),
            Edn::Float(f) => match crate::value::edn_double(*f) {
                Some(t) => number(&t, &t),
                None if f.is_nan() => Value::String("##NaN".into()),
                None if *f > 0.0 => Value::String("##Inf".into()),
                None => Value::String("##-Inf".into()),
            },
            Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => Value::String(s.clone()),
            Edn::Char(c) => Value::String(c.to_string()),
            Edn::List(xs) | Edn::Vector(xs) | Edn::Set(xs) => {
                Value::Array(xs.iter().map(Edn::to_json).collect())
            }
            Edn::Map(pairs) => {
                let mut m = Map::with_capacity(pairs.len());
                for (k, v) in pairs {
                    m.insert(k.key_string(), v.to_json());
                }
                Value::Object(m)
            }
            Edn::Tagged(tag, form) => match self.as_tuple() {
                Some((k, v)) => Value::Array(vec![k.to_json(), v.to_json()]),
                None => {
                    let _ = tag;
                    form.to_json()
                }
            },
        }
    }

    /// A text equal for two forms exactly when Clojure's `=` calls them equal (numbers by
    /// kind and value; other forms as written), for finding duplicate map keys.
    fn identity(&self) -> String {
        match self {
            Edn::Int(_) | Edn::BigInt(_) | Edn::BigDec(_) | Edn::Float(_) | Edn::Number(_) => {
                format!("number {}", self.to_json())
            }
            other => format!("{other:?}"),
        }
    }

    /// The form for a message: keywords with their colon, anything else as JSON, cut short.
    pub fn shown(&self) -> String {
        match self {
            Edn::Keyword(k) => crate::value::clip(&format!(":{k}")).into_owned(),
            other => crate::value::shown(&other.to_json()),
        }
    }

    /// The string a map key becomes in JSON.
    pub fn key_string(&self) -> String {
        match self {
            Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => s.clone(),
            other => other.to_json().to_string(),
        }
    }

    /// For `#jepsen.independent.Tuple{:key k :value v}`, the key and value.
    pub fn as_tuple(&self) -> Option<(&Edn, &Edn)> {
        let Edn::Tagged(tag, form) = self else {
            return None;
        };
        if tag != "jepsen.independent.Tuple" {
            return None;
        }
        let Edn::Map(pairs) = form.as_ref() else {
            return None;
        };
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(n) if n == name))
                .map(|(_, v)| v)
        };
        Some((get("key")?, get("value").unwrap_or(&Edn::Nil)))
    }

    /// The map's pairs if this is a map, or a record (`#ns.Record{...}`) or other tagged map.
    pub fn as_map(&self) -> Option<&[(Edn, Edn)]> {
        match self {
            Edn::Map(pairs) => Some(pairs),
            Edn::Tagged(_, form) => form.as_map(),
            _ => None,
        }
    }

    /// A short name of this value's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Edn::Nil => "nil",
            Edn::Bool(_) => "a boolean",
            Edn::Int(_) | Edn::BigInt(_) => "an integer",
            Edn::Float(_) => "a float",
            Edn::BigDec(_) => "a BigDecimal",
            Edn::Ratio(_) => "a ratio",
            Edn::Number(_) => "a number",
            Edn::Str(_) => "a string",
            Edn::Char(_) => "a character",
            Edn::Keyword(_) => "a keyword",
            Edn::Symbol(_) => "a symbol",
            Edn::List(_) => "a list",
            Edn::Vector(_) => "a vector",
            Edn::Set(_) => "a set",
            Edn::Map(_) => "a map",
            Edn::Tagged(_, _) => "a tagged literal",
        }
    }
}

/// A JSON number of `text` (a JSON number's text), or the string `fallback` if it is not one.
fn number(text: &str, fallback: &str) -> Value {
    match text.parse::<Number>() {
        Ok(n) => Value::Number(n),
        Err(_) => Value::String(fallback.to_string()),
    }
}

/// Reads every top-level form of `text`, with the line each starts on.
pub fn read_all(text: &str) -> Result<Vec<(u32, Edn)>, EdnError> {
    let mut r = Reader::new(text);
    let mut out = Vec::new();
    while !r.at_end()? {
        let line = r.line();
        out.push((line, r.read()?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Edn {
        let forms = read_all(text).unwrap();
        assert_eq!(forms.len(), 1, "{text}");
        forms.into_iter().next().unwrap().1
    }

    fn err(text: &str) -> EdnError {
        read_all(text).unwrap_err()
    }

    #[test]
    fn scalars() {
        assert_eq!(one("nil"), Edn::Nil);
        assert_eq!(one("true"), Edn::Bool(true));
        assert_eq!(one("-42"), Edn::Int(-42));
        assert_eq!(one("+7"), Edn::Int(7));
        assert_eq!(one("42N"), Edn::Int(42));
        assert_eq!(
            one("123456789012345678901234567890N"),
            Edn::BigInt("123456789012345678901234567890".into())
        );
        assert_eq!(one("1.5"), Edn::Float(1.5));
        assert_eq!(one("1.50"), Edn::Float(1.5));
        assert_eq!(one("+1e3"), Edn::Float(1000.0));
        assert_eq!(one("2.5M"), Edn::BigDec("2.5".into()));
        assert_eq!(one("1.M"), Edn::BigDec("1".into()));
        assert_eq!(one("1/4"), Edn::Ratio("1/4".into()));
        assert_eq!(one("-2/4"), Edn::Ratio("-1/2".into()));
        assert_eq!(one("4/2"), Edn::Int(2));
        assert_eq!(one("0x1F"), Edn::Int(31));
        assert_eq!(
            one(":jepsen.history/op"),
            Edn::Keyword("jepsen.history/op".into())
        );
        assert_eq!(one("::auto"), Edn::Keyword("auto".into()));
        assert_eq!(one("foo-bar"), Edn::Symbol("foo-bar".into()));
        assert_eq!(one("-"), Edn::Symbol("-".into()));
        assert_eq!(one(r"\a"), Edn::Char('a'));
        assert_eq!(one(r"\newline"), Edn::Char('\n'));
        assert_eq!(one(r"\u00e9"), Edn::Char('é'));
        assert_eq!(one(r"\("), Edn::Char('('));
        assert_eq!(one("##Inf").to_json(), json!("##Inf"));
    }

    #[test]
    fn strings_with_escapes() {
        assert_eq!(
            one(r#""a\"b\\c\n\t\u0041é""#),
            Edn::Str("a\"b\\c\n\tAé".into())
        );
        assert_eq!(one(r#"#"re.*""#), Edn::Str("re.*".into()));
    }

    #[test]
    fn collections_comments_and_discards() {
        let v = one("; comment\n[1, 2 #_ 3 #_#_ 4 5 (6 #{7}) {:a nil \"b\" [true]}] ; trailing");
        assert_eq!(
            v.to_json(),
            json!([1, 2, [6, [7]], {"a": null, "b": [true]}])
        );
    }

    #[test]
    fn map_keys_are_stringified() {
        let v = one("{1 :x, [1 2] :y, :k/w \\c}");
        assert_eq!(v.to_json(), json!({"1": "x", "[1,2]": "y", "k/w": "c"}));
    }

    #[test]
    fn tagged_literals() {
        let v = one(r#"#inst "2017-01-01T00:00:00Z""#);
        assert_eq!(v.to_json(), json!("2017-01-01T00:00:00Z"));
        let v = one("#jepsen.independent.Tuple{:key 3 :value [1 2]}");
        assert_eq!(v.to_json(), json!([3, [1, 2]]));
        let v = one("#knossos.op.Op{:process 1, :type :ok}");
        assert_eq!(v.to_json(), json!({"process": 1, "type": "ok"}));
        assert!(v.as_map().is_some());
        let v = one("#:foo{:a 1 :b/c 2}");
        assert_eq!(v.to_json(), json!({"foo/a": 1, "b/c": 2}));
    }

    #[test]
    fn line_numbers_of_forms_and_errors() {
        let forms = read_all("1\n\n{:a\n 2}\n[3]").unwrap();
        let lines: Vec<u32> = forms.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![1, 3, 5]);
        let e = err("[1\n2\n");
        assert_eq!(e.line, 3);
        assert!(e.message.contains("opened at line 1"), "{e}");
        assert_eq!(err("{:a 1\n :b}").line, 1);
        assert_eq!(err("\n\n\"abc").line, 3);
        assert!(err("1.2.3").message.contains("invalid number"));
        assert!(err("]").message.contains("unexpected `]`"));
        assert!(err(r#""\q""#).message.contains("invalid escape"));
        assert!(err(r"\foo").message.contains("invalid character literal"));
        assert!(err("1/0").message.contains("invalid number"));
        assert!(err("#_").message.contains("#_ at end"));
    }

    #[test]
    fn nesting_is_capped() {
        let deep = "[".repeat(100_000);
        assert!(err(&deep).message.contains("nest deeper"));
        let deep = "#_".repeat(100_000);
        assert!(err(&deep).message.contains("nest deeper"));
        let deep = "#a ".repeat(100_000);
        assert!(err(&deep).message.contains("nest deeper"));
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(read_all(&ok).is_ok());
    }
}
