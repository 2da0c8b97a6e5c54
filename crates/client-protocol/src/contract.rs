//! What an `ok` may say: an answer whose value contradicts what the operation asked for is
//! the client's lie, never the database's anomaly. Pure functions, unit- and
//! property-tested.
//!
//! The rules, for every workload's operations (docs/client-protocol.md):
//! - `read`: any value (it is what the database returned; the checkers judge it);
//! - an operation invoked with a value (register `write` and `cas`, set and counter `add`,
//!   bank `transfer`): the `ok` value must equal the invoked one (numbers by value, so `1.0`
//!   is `1`); the history keeps the invoked value;
//! - `txn`: the same micro-operations in the same order, each write (`append`, `w`) with its
//!   invoked value; reads may carry any value;
//! - the lock's operations (invoked with `null`): an `acquire` answers `{"token", "holder"}`;
//!   a `write` or `release` is `ok` only while the process holds the lock, and a write's
//!   `token` and `holder` are those of that acquire.

use serde_json::{Map, Value};

/// What an instance's earlier answers committed it to: the lock it holds, if any.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Commitments {
    /// The `{token, holder}` of the acquire this process holds.
    held: Option<(Value, Value)>,
}

/// The value the history records for an `ok` answer carrying `answered` to an operation
/// `f` invoked with `invoked`, or why that answer contradicts the operation (one line).
pub fn recorded(
    f: &str,
    invoked: &Value,
    answered: &Value,
    commitments: &mut Commitments,
) -> Result<Value, String> {
    match (f, invoked) {
        ("read", _) => Ok(answered.clone()),
        ("txn", Value::Array(asked)) => txn(asked, answered).map(|()| answered.clone()),
        (_, Value::Null) => lock(f, answered, commitments).map(|()| answered.clone()),
        _ if same(invoked, answered) => Ok(invoked.clone()),
        _ => Err(format!(
            "asked to {f} {invoked}, answered ok with {answered}"
        )),
    }
}

/// Notes a `fail` answer to `f`: a failed release leaves the process without the lock.
pub fn failed(f: &str, commitments: &mut Commitments) {
    if f == "release" {
        commitments.held = None;
    }
}

fn txn(asked: &[Value], answered: &Value) -> Result<(), String> {
    let Some(got) = answered.as_array() else {
        return Err(format!(
            "a txn's ok value must be its micro-operations, got {answered}"
        ));
    };
    if got.len() != asked.len() {
        return Err(format!(
            "asked for {} micro-operations, answered {}",
            asked.len(),
            got.len()
        ));
    }
    for (i, (a, g)) in asked.iter().zip(got).enumerate() {
        let (Some(a), Some(g)) = (a.as_array(), g.as_array()) else {
            return Err(format!(
                "micro-operation {i}: expected [f, key, value], got {g}"
            ));
        };
        let same_head = a.len() == 3
            && g.len() == 3
            && a[0] == g[0]
            && same(&a[1], &g[1])
            && (a[0] == "r" || same(&a[2], &g[2]));
        if !same_head {
            return Err(format!(
                "micro-operation {i}: asked {}, answered {}",
                Value::Array(a.clone()),
                Value::Array(g.clone())
            ));
        }
    }
    Ok(())
}

fn lock(f: &str, answered: &Value, c: &mut Commitments) -> Result<(), String> {
    let pair = |v: &Value| -> Option<(Value, Value)> {
        let m: &Map<String, Value> = v.as_object()?;
        Some((m.get("token")?.clone(), m.get("holder")?.clone()))
    };
    match f {
        "acquire" => {
            let p = pair(answered).ok_or_else(|| {
                format!("an acquire's ok value must be {{\"token\", \"holder\"}}, got {answered}")
            })?;
            c.held = Some(p);
            Ok(())
        }
        "write" | "release" => {
            let Some((token, holder)) = &c.held else {
                return Err(format!(
                    "ok to {f} from a process that does not hold the lock (no acquire since its last release)"
                ));
            };
            if f == "release" {
                c.held = None;
                return Ok(());
            }
            match pair(answered) {
                Some((t, h)) if same(&t, token) && same(&h, holder) => Ok(()),
                _ => Err(format!(
                    "a write holds token {token} as {holder}, answered ok with {answered}"
                )),
            }
        }
        // Operations of workloads faultline may add: nothing is known about them.
        _ => Ok(()),
    }
}

/// Whether two JSON values are equal, numbers compared by their exact value.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.to_string(), y.to_string());
            x == y || decimal(&x).is_some_and(|d| decimal(&y) == Some(d))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// A JSON number's exact value as (negative, significant digits, power of ten), with no
/// leading or trailing zero digits (zero: no digits, not negative). `None` for text that is
/// not a JSON number or an exponent too large to hold.
fn decimal(text: &str) -> Option<(bool, String, i128)> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i128>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let mut exp = exp.checked_sub(frac.len() as i128)?;
    let digits = digits.trim_start_matches('0');
    let trimmed = digits.trim_end_matches('0');
    exp = exp.checked_add((digits.len() - trimmed.len()) as i128)?;
    if trimmed.is_empty() {
        return Some((false, String::new(), 0));
    }
    Some((negative, trimmed.to_string(), exp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn num(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn ok(f: &str, invoked: Value, answered: Value) -> Result<Value, String> {
        recorded(f, &invoked, &answered, &mut Commitments::default())
    }

    #[test]
    fn an_ok_must_have_done_what_was_asked() {
        assert_eq!(ok("write", json!(1), json!(1)), Ok(json!(1)));
        assert_eq!(ok("write", json!(1), num("1.0")), Ok(json!(1)), "by value");
        assert_eq!(
            ok("write", json!(1), json!(1001)),
            Err("asked to write 1, answered ok with 1001".into())
        );
        assert!(ok("cas", json!([1, 2]), json!([1, 3])).is_err());
        assert!(ok("cas", json!([1, 2]), json!([1, 2])).is_ok());
        assert!(
            ok("add", json!(7), json!(8)).is_err(),
            "set add of another element"
        );
        assert!(
            ok("add", json!(3), json!(30)).is_err(),
            "counter add of another delta"
        );
        let t = json!({"from": 1, "to": 2, "amount": 5});
        assert!(ok(
            "transfer",
            t.clone(),
            json!({"from": 1, "to": 2, "amount": 50})
        )
        .is_err());
        assert!(ok("transfer", t.clone(), json!({"from": 1, "to": 2})).is_err());
        assert!(ok("transfer", t.clone(), t).is_ok());
        assert_eq!(ok("read", Value::Null, json!(1001)), Ok(json!(1001)));
    }

    #[test]
    fn a_txn_must_write_what_it_was_asked_and_may_read_anything() {
        let asked = json!([["append", 1, 5], ["r", 2, null], ["w", 3, 6]]);
        let honest = json!([["append", 1, 5], ["r", 2, [1, 5]], ["w", 3, 6]]);
        assert_eq!(ok("txn", asked.clone(), honest.clone()), Ok(honest));
        for lie in [
            json!([["append", 1, 9], ["r", 2, [1, 5]], ["w", 3, 6]]),
            json!([["append", 1, 5], ["r", 2, null], ["w", 3, 7]]),
            json!([["append", 1, 5], ["r", 4, null], ["w", 3, 6]]),
            json!([["append", 1, 5], ["w", 2, 1], ["w", 3, 6]]),
            json!([["append", 1, 5], ["r", 2, null]]),
            json!(null),
        ] {
            assert!(ok("txn", asked.clone(), lie.clone()).is_err(), "{lie}");
        }
    }

    #[test]
    fn lock_answers_must_agree_with_the_processs_own_acquire() {
        let mut c = Commitments::default();
        let mut ok = |f: &str, v: Value| recorded(f, &Value::Null, &v, &mut c);
        assert!(
            ok("write", json!({"token": 1, "holder": "n1#0"})).is_err(),
            "not held"
        );
        assert!(ok("release", Value::Null).is_err(), "not held");
        assert!(ok("acquire", json!(7)).is_err(), "no token");
        let held = json!({"token": 4, "holder": "n1#0", "lease_renewed_ns": 5});
        assert!(ok("acquire", held.clone()).is_ok());
        assert!(ok("write", held).is_ok());
        assert!(ok("write", json!({"token": 5, "holder": "n1#0"})).is_err());
        assert!(ok("write", json!({"token": 4, "holder": "n2#0"})).is_err());
        assert!(ok("release", Value::Null).is_ok());
        assert!(ok("release", Value::Null).is_err(), "released already");
        assert!(ok("acquire", json!({"token": 6, "holder": "n1#0"})).is_ok());
        failed("release", &mut c);
        assert!(recorded(
            "write",
            &Value::Null,
            &json!({"token": 6, "holder": "n1#0"}),
            &mut c
        )
        .is_err());
    }

    #[test]
    fn numbers_are_the_same_by_exact_value() {
        for (a, b) in [
            ("1", "1.0"),
            ("100", "1e2"),
            ("1E+2", "100"),
            ("-0", "0"),
            ("0.0", "0e5"),
            ("10e-1", "1"),
            ("0.1", "0.10"),
            (
                "123456789012345678901234567890",
                "1.2345678901234567890123456789e29",
            ),
        ] {
            assert!(same(&num(a), &num(b)), "{a} {b}");
        }
        for (a, b) in [
            ("1", "-1"),
            ("0.1", "0.01"),
            ("9007199254740993", "9007199254740992"),
            (
                "123456789012345678901234567891",
                "123456789012345678901234567890",
            ),
            ("1e400", "1e401"),
        ] {
            assert!(!same(&num(a), &num(b)), "{a} {b}");
        }
    }

    proptest! {
        #[test]
        fn a_number_written_another_way_is_the_same_and_another_number_is_not(
            negative in any::<bool>(),
            digits in "[1-9][0-9]{0,30}",
            exp in -40i32..40,
            shift in 0usize..5,
            other in 1u32..9,
        ) {
            let sign = if negative { "-" } else { "" };
            let a = format!("{sign}{digits}e{exp}");
            // The same value with `shift` more zeros in the mantissa and a smaller exponent.
            let b = format!("{sign}{digits}{}E{}", "0".repeat(shift), exp - shift as i32);
            prop_assert!(same(&num(&a), &num(&b)), "{} {}", a, b);
            let last = digits.as_bytes()[digits.len() - 1] - b'0';
            let changed = format!("{sign}{}{}e{exp}", &digits[..digits.len() - 1], (u32::from(last) + other) % 10);
            prop_assert!(!same(&num(&a), &num(&changed)), "{} {}", a, changed);
        }
    }
}
