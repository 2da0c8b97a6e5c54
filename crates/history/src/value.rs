//! Values as checkers compare them: numbers in one canonical text per value, and values
//! shown in messages without ever writing them out whole.
//!
//! serde_json (with `arbitrary_precision`) keeps a number's text, and `Value`'s `==` and hash
//! compare that text, so `1e2` and `100`, or `0.1` and `0.10`, would be different values. JSON
//! numbers are one kind, so every reader of a JSON history, and the recorder of a live run,
//! passes its values through [`canonicalize`]: each number is rewritten to the one text of its
//! exact mathematical value (see [`canonical_number`]), so every later `==`, hash and interning
//! in the checkers compares numbers by value without knowing it. Distinct numbers keep distinct
//! texts at any size, and a huge exponent stays an exponent (`1e999999999` is not expanded).
//!
//! EDN follows Clojure's `=` instead: integers, doubles and BigDecimals are three kinds that
//! never compare equal to each other. The EDN reader writes each kind in a family of texts of
//! its own ([`edn_double`], [`edn_bigdec`]; integers share the JSON canonical form), so the
//! same `==` gives Clojure's answer. `docs/history-format.md` states both rules.

use serde_json::{Number, Value};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io;

/// Rewrites every number in `value`, however deeply nested, to its canonical text.
pub fn canonicalize(value: &mut Value) {
    match value {
        Value::Number(n) => {
            let text = match canonical_number(n.as_str()) {
                c if c == n.as_str() => return,
                c => c.into_owned(),
            };
            if let Ok(c) = text.parse::<Number>() {
                *n = c;
            }
        }
        Value::Array(xs) => xs.iter_mut().for_each(canonicalize),
        Value::Object(m) => m.values_mut().for_each(canonicalize),
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

/// `value` with every number in its canonical text (see [`canonicalize`]).
///
/// ```
/// use faultline_history::value::canonical;
/// use serde_json::Value;
/// let a: Value = serde_json::from_str("[1e2, 0.10, -0, 10e-1]").unwrap();
/// let b: Value = serde_json::from_str("[100, 0.1, 0, 1]").unwrap();
/// assert_ne!(a, b);
/// assert_eq!(canonical(a), canonical(b));
/// ```
pub fn canonical(mut value: Value) -> Value {
    canonicalize(&mut value);
    value
}

/// Canonicalizes the key, value and error of an event as it is read or recorded.
pub fn canonicalize_event(event: &mut crate::Event) {
    if let Some(k) = &mut event.key {
        canonicalize(k);
    }
    canonicalize(&mut event.value);
    if let Some(e) = &mut event.error {
        canonicalize(e);
    }
}

/// A number with a fraction whose adjusted exponent is at least this is written without an
/// exponent (`0.000001`), a smaller one with (`1e-7`), as in JavaScript.
const PLAIN_FROM: i128 = -6;

/// An integer with more than this many trailing zeros is written with an exponent.
const PLAIN_ZEROS: i128 = 20;

/// A number's exact value: its significant digits (no leading or trailing zeros; empty for
/// zero), its sign, and the exponent of its first digit (`value = 0.D × 10^(adjusted+1)`).
struct Exact<'a> {
    negative: bool,
    /// The integer and fraction digits written, concatenated; `digits[lead..end]` are the
    /// significant ones.
    int: &'a str,
    frac: &'a str,
    lead: usize,
    end: usize,
    /// The exponent of the last significant digit (`q` in `D × 10^q`).
    last: Exponent,
}

/// An exponent: an `i128` when it fits comfortably, else its decimal digits with a sign.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Exponent {
    Small(i128),
    Big { negative: bool, digits: String },
}

impl Exact<'_> {
    fn digit(&self, i: usize) -> u8 {
        let il = self.int.len();
        if i < il {
            self.int.as_bytes()[i]
        } else {
            self.frac.as_bytes()[i - il]
        }
    }

    fn significant(&self) -> String {
        (self.lead..self.end)
            .map(|i| char::from(self.digit(i)))
            .collect()
    }

    fn is_zero(&self) -> bool {
        self.lead >= self.end
    }
}

/// Splits JSON number text (`-?int(.frac)?([eE][+-]?exp)?`); `None` if it is not one.
fn parse(text: &str) -> Option<Exact<'_>> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let exp = match exp {
        None => Exponent::Small(0),
        Some(e) => {
            let (neg, digits) = match e.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, e.strip_prefix('+').unwrap_or(e)),
            };
            if digits.is_empty() || !all_digits(digits) {
                return None;
            }
            exponent(neg, digits)
        }
    };
    let bytes = || int.bytes().chain(frac.bytes());
    let total = int.len() + frac.len();
    let lead = bytes().position(|b| b != b'0').unwrap_or(total);
    let trailing = bytes().rev().position(|b| b != b'0').unwrap_or(total);
    let end = total - trailing.min(total - lead);
    // The last significant digit's exponent: the written exponent, less the fraction digits,
    // plus the trailing zeros dropped.
    let shift = trailing as i128 - frac.len() as i128;
    Some(Exact {
        negative,
        int,
        frac,
        lead,
        end,
        last: exp.plus(shift),
    })
}

/// The exponent `±digits`, as an `i128` when it has at most 36 significant digits.
fn exponent(negative: bool, digits: &str) -> Exponent {
    let digits = digits.trim_start_matches('0');
    if digits.len() <= 36 {
        let v: i128 = digits.parse().unwrap_or(0);
        Exponent::Small(if negative { -v } else { v })
    } else {
        Exponent::Big {
            negative,
            digits: digits.to_string(),
        }
    }
}

/// The decimal digits of a positive number one more or one less than `digits` (which has no
/// leading zeros and is above 1).
fn step(digits: &str, up: bool) -> String {
    let mut b = digits.as_bytes().to_vec();
    let mut i = b.len();
    while i > 0 {
        i -= 1;
        match (up, b[i]) {
            (true, b'9') => b[i] = b'0',
            (false, b'0') => b[i] = b'9',
            (true, d) => {
                b[i] = d + 1;
                break;
            }
            (false, d) => {
                b[i] = d - 1;
                break;
            }
        }
    }
    if up && b.first() == Some(&b'0') {
        b.insert(0, b'1');
    }
    let s = String::from_utf8(b).unwrap_or_default();
    s.trim_start_matches('0').to_string()
}

impl Exponent {
    /// This exponent plus `k`, where `|k| < 10^30` (a shift by a count of digits).
    fn plus(self, k: i128) -> Exponent {
        const LOW: i128 = 1_000_000_000_000_000_000_000_000_000_000; // 10^30
        match self {
            Exponent::Small(v) => Exponent::Small(v + k),
            Exponent::Big { negative, digits } => {
                // |value| has at least 37 digits: split it as high × 10^30 + low.
                let (high, low) = digits.split_at(digits.len() - 30);
                let low: i128 = low.parse().unwrap_or(0);
                // Adding k to a negative number subtracts it from the magnitude.
                let mut low = if negative { low - k } else { low + k };
                let mut high = high.to_string();
                if low >= LOW {
                    low -= LOW;
                    high = step(&high, true);
                } else if low < 0 {
                    low += LOW;
                    high = step(&high, false);
                }
                let digits = format!("{high}{low:030}");
                exponent(negative, &digits)
            }
        }
    }

    fn is_negative(&self) -> bool {
        match self {
            Exponent::Small(v) => *v < 0,
            Exponent::Big { negative, .. } => *negative,
        }
    }

    /// `e+N`/`e-N`, with `pad` zeros before the digits.
    fn write(&self, out: &mut String, pad: usize) {
        out.push('e');
        out.push(if self.is_negative() { '-' } else { '+' });
        out.extend(std::iter::repeat_n('0', pad));
        match self {
            Exponent::Small(v) => {
                let _ = write!(out, "{}", v.unsigned_abs());
            }
            Exponent::Big { digits, .. } => out.push_str(digits),
        }
    }
}

/// The canonical text of a JSON number: the same text for every way of writing one value,
/// different texts for different values, at any size. `text` that is not a JSON number is
/// returned as it is.
///
/// Zero is `0`. An integer is its digits (`100`, `-12345678901234567890123`), unless it ends
/// in more than 20 zeros, which become an exponent (`1e+21`). A number with a fraction is
/// written plainly (`0.1`, `-2.5`, `0.000001`) when its first significant digit is no further
/// than 6 places after the point, else in scientific form (`1e-7`, `1.5e-9`). Exponents are written as
/// serde_json writes them, `e+N` or `e-N`.
///
/// ```
/// use faultline_history::value::canonical_number;
/// assert_eq!(canonical_number("1E+2"), "100");
/// assert_eq!(canonical_number("10e-1"), "1");
/// assert_eq!(canonical_number("-0.0"), "0");
/// assert_eq!(canonical_number("0.000123e-5"), "1.23e-9");
/// assert_eq!(canonical_number("1e999999999"), "1e+999999999");
/// ```
pub fn canonical_number(text: &str) -> Cow<'_, str> {
    if is_canonical_integer(text) {
        return Cow::Borrowed(text);
    }
    let Some(x) = parse(text) else {
        return Cow::Borrowed(text);
    };
    if x.is_zero() {
        return Cow::Borrowed("0");
    }
    let mut out = String::with_capacity(text.len() + 2);
    if x.negative {
        out.push('-');
    }
    let digits = x.significant();
    let n = digits.len() as i128;
    match &x.last {
        Exponent::Small(q) if (0..=PLAIN_ZEROS).contains(q) => {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', *q as usize));
        }
        Exponent::Small(q) if *q < 0 && q + n > PLAIN_FROM => {
            let point = n + q; // digits before the point
            if point > 0 {
                out.push_str(&digits[..point as usize]);
                out.push('.');
                out.push_str(&digits[point as usize..]);
            } else {
                out.push_str("0.");
                out.extend(std::iter::repeat_n('0', (-point) as usize));
                out.push_str(&digits);
            }
        }
        last => {
            scientific(&mut out, &digits, false);
            last.clone().plus(n - 1).write(&mut out, 0);
        }
    }
    if out == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(out)
    }
}

/// `d.ddd` of `digits`: the first, a point and the rest; `force_point` writes `d.0` for one.
fn scientific(out: &mut String, digits: &str, force_point: bool) {
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    } else if force_point {
        out.push_str(".0");
    }
}

/// Whether `text` is already a canonical integer: digits with no leading zero (or `0`), an
/// optional `-` before a non-zero one, and at most 20 trailing zeros. The common case, and
/// cheap to recognise.
fn is_canonical_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let b = digits.as_bytes();
    match b.first() {
        None => false,
        Some(b'0') => text == "0",
        Some(_) => {
            b.iter().all(u8::is_ascii_digit)
                && b.iter().rev().take_while(|&&c| c == b'0').count() <= PLAIN_ZEROS as usize
        }
    }
}

/// The text of an EDN double (Clojure's `Double`) as a JSON number, or `None` for infinities
/// and NaN. Equal doubles get one text (`0.0` and `-0.0` too, as Clojure's `=` has it), and
/// no double's text is an integer's or a BigDecimal's: it always has a point, and an exponent
/// only from 10^21 up or below 10^-6, written with one leading zero (`1.0e+021`).
pub fn edn_double(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    if f == 0.0 {
        return Some("0.0".into());
    }
    // Rust's `{:e}` gives the shortest digits that read back as the same double.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e')?;
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let adjusted: i128 = exp.parse().ok()?;
    let n = digits.len() as i128;
    let mut out = String::new();
    if f < 0.0 {
        out.push('-');
    }
    if (PLAIN_FROM..21).contains(&adjusted) {
        let point = adjusted + 1;
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-point) as usize));
            out.push_str(&digits);
        } else if point >= n {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', (point - n) as usize));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..point as usize]);
            out.push('.');
            out.push_str(&digits[point as usize..]);
        }
    } else {
        scientific(&mut out, &digits, true);
        Exponent::Small(adjusted).write(&mut out, 1);
    }
    Some(out)
}

/// The text of an EDN BigDecimal (`1.50M`, given without its `M`) as a JSON number: equal
/// values get one text (`1.0M` and `1.00M` are equal, as Clojure's `=` compares BigDecimals),
/// and it is never an integer's or a double's: always `d.ddd` and an exponent written with two
/// leading zeros (`1.5e+000`). `None` if `text` is not a decimal number.
pub fn edn_bigdec(text: &str) -> Option<String> {
    let x = parse(text)?;
    if x.is_zero() {
        return Some("0.0e+000".into());
    }
    let digits = x.significant();
    let mut out = String::new();
    if x.negative {
        out.push('-');
    }
    scientific(&mut out, &digits, true);
    x.last.plus(digits.len() as i128 - 1).write(&mut out, 2);
    Some(out)
}

/// At most this many characters of a value appear in any message.
pub const SHOWN_CHARS: usize = 200;

/// `value` as JSON for a message, cut after about [`SHOWN_CHARS`] characters with `…`: a
/// value of millions of elements is never written out whole.
pub fn shown(value: &Value) -> String {
    shown_within(value, SHOWN_CHARS)
}

/// [`shown`] with a limit of `max` bytes.
pub fn shown_within(value: &Value, max: usize) -> String {
    let mut out = Capped {
        buf: Vec::with_capacity(max.min(1024) + 4),
        max,
        cut: false,
    };
    // The writer refuses to take more than `max` bytes, which stops serde early.
    let _ = serde_json::to_writer(&mut out, value);
    let mut text = String::from_utf8_lossy(&out.buf).into_owned();
    if out.cut {
        // Drop a character cut in half, then mark the cut.
        while text.ends_with('\u{fffd}') {
            text.pop();
        }
        text.push('…');
    }
    text
}

/// A writer that keeps the first `max` bytes and then fails.
struct Capped {
    buf: Vec<u8>,
    max: usize,
    cut: bool,
}

impl io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.max.saturating_sub(self.buf.len());
        if data.len() > room {
            self.buf.extend_from_slice(&data[..room]);
            self.cut = true;
            return Err(io::Error::other("shown value is long enough"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `text` cut after about [`SHOWN_CHARS`] characters, with `…` when cut.
pub fn clip(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(SHOWN_CHARS) {
        None => Cow::Borrowed(text),
        Some((at, _)) => Cow::Owned(format!("{}…", &text[..at])),
    }
}

/// The JSON size of `value` and a hash of its text, written nowhere (no memory taken).
fn measure(value: &Value) -> (u64, u64) {
    struct Counter {
        bytes: u64,
        hash: rustc_hash::FxHasher,
    }
    impl io::Write for Counter {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            use std::hash::Hasher;
            self.bytes += data.len() as u64;
            self.hash.write(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut c = Counter {
        bytes: 0,
        hash: rustc_hash::FxHasher::default(),
    };
    let _ = serde_json::to_writer(&mut c, value);
    use std::hash::Hasher;
    (c.bytes, c.hash.finish())
}

/// Whether `value`'s JSON is longer than `max` bytes, found without writing more than that.
pub fn longer_than(value: &Value, max: usize) -> bool {
    match value {
        Value::Null | Value::Bool(_) => false,
        Value::Number(n) => n.as_str().len() > max,
        Value::String(s) => s.len() > max,
        Value::Array(_) | Value::Object(_) => {
            let mut out = Capped {
                buf: Vec::new(),
                max,
                cut: false,
            };
            let _ = serde_json::to_writer(&mut out, value);
            out.cut
        }
    }
}

/// `value` if its JSON is at most `max` bytes; else a string that says it was truncated: its
/// first [`SHOWN_CHARS`] characters, its size, and a hash of its text (so two different long
/// values never look the same). For reports, which must not copy a 100 MB value around.
pub fn bounded(value: &Value, max: usize) -> Option<Value> {
    if !longer_than(value, max) {
        return None;
    }
    let (bytes, hash) = measure(value);
    Some(Value::String(format!(
        "{} [truncated: {bytes} bytes of JSON, hash {hash:016x}]",
        shown(value)
    )))
}

/// Bounds `value` in place for a report (see [`bounded`]), looking inside arrays and objects
/// that hold other arrays and objects (a checker's detail), so only the long values in them
/// are cut; an array or object of plain values is one value. Returns how many were cut.
pub fn bound_deep(value: &mut Value, max: usize) -> usize {
    let nested = match &*value {
        Value::Array(xs) => xs.iter().any(|x| x.is_array() || x.is_object()),
        Value::Object(m) => m.values().any(|x| x.is_array() || x.is_object()),
        _ => false,
    };
    if nested && !longer_than_elements(value) {
        return match value {
            Value::Array(xs) => xs.iter_mut().map(|x| bound_deep(x, max)).sum(),
            Value::Object(m) => m.values_mut().map(|x| bound_deep(x, max)).sum(),
            _ => 0,
        };
    }
    match bounded(value, max) {
        Some(b) => {
            *value = b;
            1
        }
        None => 0,
    }
}

/// Containers with more elements than this are cut whole, even when they nest.
const MAX_NESTED_ELEMENTS: usize = 100_000;

fn longer_than_elements(value: &Value) -> bool {
    match value {
        Value::Array(xs) => xs.len() > MAX_NESTED_ELEMENTS,
        Value::Object(m) => m.len() > MAX_NESTED_ELEMENTS,
        _ => false,
    }
}

/// Bounds an event's key, value and error in place (see [`bounded`]); how many were cut.
pub fn bound_event(event: &mut crate::Event, max: usize) -> usize {
    let mut cut = 0;
    let mut one = |v: &mut Value| {
        if let Some(b) = bounded(v, max) {
            *v = b;
            cut += 1;
        }
    };
    if let Some(k) = &mut event.key {
        one(k);
    }
    one(&mut event.value);
    if let Some(e) = &mut event.error {
        one(e);
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(text: &str) -> String {
        canonical_number(text).into_owned()
    }

    #[test]
    fn equal_numbers_written_differently_get_one_text() {
        for (a, b) in [
            ("0.1", "0.10"),
            ("1e2", "100"),
            ("100", "1E+2"),
            ("-0", "0"),
            ("0.0", "0"),
            ("1.0", "1"),
            ("10e-1", "1"),
            ("-1.50e1", "-15"),
            ("123.456e3", "123456"),
            ("0.00000012", "1.2e-7"),
            ("1000000000000000000000", "1e21"),
        ] {
            assert_eq!(c(a), c(b), "{a} vs {b}");
        }
        assert_eq!(c("1e21"), "1e+21");
        assert_eq!(c("0.000001"), "0.000001");
        assert_eq!(c("0.0000001"), "1e-7");
        assert_eq!(c("-12.5"), "-12.5");
        assert_eq!(c("18446744073709551616"), "18446744073709551616");
    }

    #[test]
    fn huge_exponents_stay_exponents() {
        assert_eq!(c("1e999999999"), "1e+999999999");
        assert_eq!(c("10e999999999"), "1e+1000000000");
        assert_eq!(c("0.1e-999999999"), "1e-1000000000");
        let big = format!("1e{}", "9".repeat(50));
        let bigger = format!("10e{}", "9".repeat(50));
        assert_eq!(c(&big), format!("1e+{}", "9".repeat(50)));
        assert_eq!(c(&bigger), format!("1e+1{}", "0".repeat(50)));
        let tiny = format!("0.1e-{}", "9".repeat(50));
        assert_eq!(c(&tiny), format!("1e-1{}", "0".repeat(50)));
        let down = format!("100e-1{}", "0".repeat(50));
        assert_eq!(c(&down), format!("1e-{}8", "9".repeat(49)));
        assert_ne!(c(&big), c(&bigger));
    }

    #[test]
    fn edn_kinds_never_share_a_text() {
        assert_eq!(edn_double(1.0).unwrap(), "1.0");
        assert_eq!(edn_double(0.1).unwrap(), "0.1");
        assert_eq!(edn_double(-0.0).unwrap(), "0.0");
        assert_eq!(edn_double(1e21).unwrap(), "1.0e+021");
        assert_eq!(edn_double(1.5e-8).unwrap(), "1.5e-08");
        assert_eq!(edn_double(123.0).unwrap(), "123.0");
        assert_eq!(edn_bigdec("1.0").unwrap(), edn_bigdec("1.00").unwrap());
        assert_eq!(edn_bigdec("1").unwrap(), "1.0e+000");
        assert_ne!(edn_bigdec("1").unwrap(), c("1"));
        assert_ne!(edn_bigdec("1.5").unwrap(), edn_double(1.5).unwrap());
        // Every text is one serde_json keeps as it is.
        for t in [edn_double(1e21).unwrap(), edn_bigdec("0.5").unwrap()] {
            assert_eq!(t.parse::<Number>().unwrap().as_str(), t);
        }
    }

    #[test]
    fn shown_values_are_cut() {
        let v = Value::Array((0..1_000_000).map(Value::from).collect());
        let s = shown(&v);
        assert!(s.chars().count() <= SHOWN_CHARS + 1, "{}", s.len());
        assert!(s.ends_with('…'));
        assert_eq!(shown(&Value::from(3)), "3");
        let s = shown(&Value::String("é".repeat(500)));
        assert!(s.ends_with('…') && !s.contains('\u{fffd}'), "{s}");
        assert_eq!(clip("abc"), "abc");
        let b = bounded(&v, 1000).unwrap();
        let text = b.as_str().unwrap();
        assert!(
            text.len() < 400 && text.contains("truncated: 6888891 bytes"),
            "{text}"
        );
        assert_eq!(bounded(&Value::from(3), 1000), None);
        let mut other = Value::Array((1..1_000_001).map(Value::from).collect());
        assert_ne!(bounded(&other, 1000), Some(b));
        let mut detail = serde_json::json!({"ops": [{"value": other.clone()}, {"value": 1}]});
        assert_eq!(bound_deep(&mut detail, 1000), 1);
        assert!(detail["ops"][0]["value"].is_string());
        assert_eq!(detail["ops"][1]["value"], 1);
        assert_eq!(bound_deep(&mut other, 1000), 1);
        assert!(clip(&"x".repeat(1000)).ends_with('…'));
    }
}
