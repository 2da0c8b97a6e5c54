//! Property tests of how values compare (docs/history-format.md, "Values: when two are
//! equal"): JSON numbers by exact value, however written and at any size; EDN numbers by
//! Clojure's `=`. Each against an oracle that shares no code with the canonical form.

use faultline_history::import::{import, Format};
use faultline_history::jsonl::parse_line;
use faultline_history::value::canonical_number;
use proptest::prelude::*;
use serde_json::Value;

/// A number as `digits × 10^exp`, sign apart.
#[derive(Clone, Debug)]
struct Num {
    negative: bool,
    digits: String,
    exp: i64,
}

fn num() -> impl Strategy<Value = Num> {
    (
        any::<bool>(),
        prop_oneof![
            "[0-9]{1,3}",
            "[1-9][0-9]{0,25}",
            "[1-9][0-9]{30,70}",
            "[0-9]{1,4}0{0,30}",
        ],
        prop_oneof![
            -30i64..30,
            -400i64..400,
            Just(999_999_999),
            Just(-999_999_999)
        ],
    )
        .prop_map(|(negative, digits, exp)| Num {
            negative,
            digits,
            exp,
        })
}

/// One way to write a number: where the point goes, extra zeros, the exponent's spelling.
#[derive(Clone, Debug)]
struct Spelling {
    /// Digits moved after the point (the exponent grows by as many).
    point: usize,
    /// Zeros appended after the digits (within the fraction once there is a point).
    trailing: usize,
    /// Zeros put before the digits.
    leading: usize,
    upper_e: bool,
    plus: bool,
    exp_zeros: usize,
    /// Write the exponent even when it is zero.
    always_exp: bool,
}

fn spelling() -> impl Strategy<Value = Spelling> {
    (
        0usize..40,
        0usize..5,
        0usize..4,
        any::<bool>(),
        any::<bool>(),
        0usize..3,
        any::<bool>(),
    )
        .prop_map(
            |(point, trailing, leading, upper_e, plus, exp_zeros, always_exp)| Spelling {
                point,
                trailing,
                leading,
                upper_e,
                plus,
                exp_zeros,
                always_exp,
            },
        )
}

/// `n` written as JSON text in the way `s` says: the same value every time.
fn write(n: &Num, s: &Spelling) -> String {
    let digits = format!("{}{}", n.digits, "0".repeat(s.trailing));
    // Appending zeros multiplies by 10^trailing: the exponent takes it back.
    let mut exp = n.exp - s.trailing as i64;
    let point = s.point.min(digits.len().saturating_sub(1));
    let (int, frac) = digits.split_at(digits.len() - point);
    exp += point as i64;
    // JSON allows no leading zero in the integer part, except a lone 0.
    let int = int.trim_start_matches('0');
    let (int, frac) = if int.is_empty() {
        ("0".to_string(), frac.to_string())
    } else {
        (int.to_string(), frac.to_string())
    };
    let _ = s.leading; // (JSON has no leading zeros; kept for the EDN spelling)
    let mut out = String::new();
    if n.negative {
        out.push('-');
    }
    out.push_str(&int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(&frac);
    }
    if exp != 0 || s.always_exp {
        out.push(if s.upper_e { 'E' } else { 'e' });
        if exp < 0 {
            out.push('-');
        } else if s.plus {
            out.push('+');
        }
        out.push_str(&"0".repeat(s.exp_zeros));
        out.push_str(&exp.unsigned_abs().to_string());
    }
    out
}

/// The oracle: a number's exact value as a decimal expansion with the point at a fixed place
/// (`SCALE` digits after it), or `None` when its exponent is too large to expand.
fn expanded(n: &Num) -> Option<(bool, String)> {
    const SCALE: i64 = 200;
    if n.exp.abs() > 150 {
        return None;
    }
    let shift = (SCALE + n.exp) as usize;
    let all = format!("{}{}", n.digits, "0".repeat(shift));
    let all = all.trim_start_matches('0').to_string();
    let zero = all.is_empty();
    Some((n.negative && !zero, all))
}

/// An event line whose value is `text`, read by the JSON Lines reader.
fn read_value(text: &str) -> Value {
    let line = format!(
        "{{\"index\":0,\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"w\",\"value\":{text}}}"
    );
    parse_line(line.as_bytes(), 1).unwrap().unwrap().value
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Every spelling of one number reads as the same value, through the reader, through
    /// elle-json and through `canonical_number`.
    #[test]
    fn json_numbers_equal_by_value_are_equal(n in num(), a in spelling(), b in spelling()) {
        let (ta, tb) = (write(&n, &a), write(&n, &b));
        prop_assert_eq!(canonical_number(&ta), canonical_number(&tb), "{} vs {}", ta, tb);
        prop_assert_eq!(read_value(&ta), read_value(&tb), "{} vs {}", ta, tb);
        let elle = |t: &str| {
            let text = format!("[{{\"process\":0,\"type\":\"invoke\",\"f\":\"w\",\"value\":{t}}}]");
            import(&text, Some(Format::ElleJson)).unwrap().events[0].value.clone()
        };
        prop_assert_eq!(elle(&ta), elle(&tb));
        // The canonical text is no longer than needed: never a billion digits.
        prop_assert!(canonical_number(&ta).len() <= n.digits.len() + 40);
    }

    /// Distinct numbers never read as the same value; equal ones always do (the oracle
    /// expands both exactly).
    #[test]
    fn json_numbers_compare_as_their_exact_values(x in num(), y in num(), a in spelling(), b in spelling()) {
        let (tx, ty) = (write(&x, &a), write(&y, &b));
        if let (Some(ex), Some(ey)) = (expanded(&x), expanded(&y)) {
            prop_assert_eq!(ex == ey, read_value(&tx) == read_value(&ty), "{} vs {}", tx, ty);
        }
    }

    /// Numbers one unit apart in their last digit, at any size and exponent, differ.
    #[test]
    fn neighbours_differ(n in num(), a in spelling(), b in spelling()) {
        let mut up = n.clone();
        let last = up.digits.pop().unwrap();
        if last == '9' {
            up.digits.push('8');
        } else {
            up.digits.push(char::from(last as u8 + 1));
        }
        let (tn, tu) = (write(&n, &a), write(&up, &b));
        prop_assert_ne!(read_value(&tn), read_value(&tu), "{} vs {}", tn, tu);
    }

    /// EDN doubles: equal exactly when they read as the same `f64` (Clojure's `=` on
    /// doubles), whatever the spelling; never equal to an integer or a BigDecimal.
    #[test]
    fn edn_doubles_follow_clojure(f in any::<f64>(), g in any::<f64>(), zeros in 0usize..4) {
        prop_assume!(f.is_finite() && g.is_finite());
        let spell = |v: f64| {
            let t = format!("{v:e}");
            let (m, e) = t.split_once('e').unwrap();
            let m = if m.contains('.') { format!("{m}{}", "0".repeat(zeros)) } else { format!("{m}.{}", "0".repeat(zeros + 1)) };
            format!("{m}e{e}")
        };
        let read = |t: &str| edn_value(t);
        prop_assert_eq!(read(&spell(f)), read(&format!("{f:?}")));
        prop_assert_eq!(f == g, read(&spell(f)) == read(&spell(g)));
        if f.fract() == 0.0 && f.abs() < 1e18 {
            let int = format!("{}", f as i64);
            prop_assert_ne!(read(&int), read(&spell(f)));
            prop_assert_ne!(read(&format!("{int}M")), read(&spell(f)));
            prop_assert_ne!(read(&format!("{int}M")), read(&int));
        }
    }

    /// EDN integers and BigDecimals: by value within their kind (`1` = `1N`, `1.0M` =
    /// `1.00M`), never across kinds.
    #[test]
    fn edn_exact_numbers_follow_clojure(x in num(), y in num(), a in spelling(), b in spelling()) {
        let (x, y) = (Num { exp: x.exp % 100, ..x }, Num { exp: y.exp % 100, ..y });
        let (tx, ty) = (write(&x, &a), write(&y, &b));
        let (ex, ey) = (expanded(&x).unwrap(), expanded(&y).unwrap());
        prop_assert_eq!(ex == ey, edn_value(&format!("{tx}M")) == edn_value(&format!("{ty}M")), "{} vs {}", tx, ty);
        // An integer (no point, no exponent) against the same digits as a BigDecimal.
        let int = format!("{}{}", if x.negative { "-" } else { "" }, x.digits);
        prop_assert_eq!(edn_value(&int), edn_value(&format!("{int}N")));
        prop_assert_ne!(edn_value(&int), edn_value(&format!("{int}M")));
    }
}

/// The value of a one-operation EDN history whose value is `text`.
fn edn_value(text: &str) -> Value {
    let h = import(
        &format!("{{:process 0, :type :invoke, :f :w, :value {text}}}"),
        Some(Format::JepsenEdn),
    )
    .unwrap_or_else(|e| panic!("{text}: {e}"));
    h.events[0].value.clone()
}

#[test]
fn the_issues_examples() {
    for (a, b) in [
        ("0.1", "0.10"),
        ("1e2", "100"),
        ("100", "1E+2"),
        ("-0", "0"),
        ("0.0", "0"),
        ("1.0", "1"),
        ("10e-1", "1"),
    ] {
        assert_eq!(read_value(a), read_value(b), "{a} vs {b}");
    }
    assert_eq!(edn_value("0.1"), edn_value("0.10"));
    assert_eq!(edn_value("1.0M"), edn_value("1.00M"));
    assert_ne!(edn_value("1"), edn_value("1.0"));
    let huge = read_value("1e999999999");
    assert_eq!(huge.to_string(), "1e+999999999");
}
