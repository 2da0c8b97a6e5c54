//! Jepsen's bank checker: transfers move money between accounts, so every read must show
//! the same total, and (unless overdrafts are allowed) no negative balance.
//!
//! The workload has `transfer` operations (argument `{from, to, amount}`) and `read`
//! operations that return every account's balance, either as a JSON object
//! `{"account": balance}` or as an array of `[account, balance]` pairs (account names are
//! compared as text, so account `0` and key `"0"` are the same). Following
//! `jepsen.tests.bank/checker`, each `ok` read is checked on its own:
//!
//! - **unexpected-account**: it names an account outside [`BankOptions::accounts`];
//! - **nil-balance**: some balance is `null`;
//! - **wrong-total**: (when neither of the above) its balances do not sum to the
//!   expected total;
//! - **negative-balance**: some balance is negative, unless
//!   [`BankOptions::negative_balances`] allows it.
//!
//! Transfers are only counted: a read is wrong regardless of which transfers it saw,
//! because every transfer conserves the total. When no expected total is configured, the
//! total most reads agree on is taken as the expected one: any disagreement between reads
//! is then still reported (a conserved total admits none), though which reads get the
//! blame is a majority guess, which the stats state.

use faultline_history::{Anomaly, CheckerResult, Operation, Outcome, Verdict};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// The checker's name in results.
pub const CHECKER: &str = "bank";

/// A history the checker cannot interpret: which event, and what is wrong with it.
pub use faultline_history::InputError;

/// How to judge a bank history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BankOptions {
    /// The total every read must show (Jepsen's `:total-amount`); `None` infers it as
    /// the total most reads show.
    pub total: Option<i64>,
    /// The accounts that exist (Jepsen's `:accounts`), as text; `None` accepts any.
    pub accounts: Option<Vec<String>>,
    /// Whether balances may go negative (Jepsen's `:negative-balances?`).
    pub negative_balances: bool,
}

/// One `ok` read's balances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankRead {
    /// `index` of the read's invoke event.
    pub invoke_index: u64,
    /// `index` of the read's ok event.
    pub complete_index: u64,
    /// Balance per account; `None` where the read returned `null`.
    pub balances: BTreeMap<String, Option<i64>>,
}

impl BankRead {
    /// The sum of the balances, if none is `null`.
    pub fn total(&self) -> Option<i128> {
        self.balances
            .values()
            .try_fold(0i128, |acc, b| b.map(|b| acc + i128::from(b)))
    }
}

/// Account name as text: strings as they are, anything else as its JSON.
fn account_name(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parses one balance: an integer, or `null`.
fn balance(v: &Value, account: &str, event: u64) -> Result<Option<i64>, InputError> {
    if v.is_null() {
        return Ok(None);
    }
    v.as_i64().map(Some).ok_or_else(|| InputError {
        event,
        message: format!("balance of account {account} must be an integer or null, got {v}"),
    })
}

/// Extracts every `ok` read's balances, in order of completion.
///
/// Errors name the event of a read whose value is neither an object nor an array of
/// `[account, balance]` pairs, or holds a non-integer balance or a repeated account.
///
/// ```
/// use faultline_bank_checker::reads;
/// use faultline_history::{Operation, Outcome};
/// use serde_json::json;
///
/// let r = Operation {
///     process: 0, f: "read".into(), key: None, input: json!(null),
///     output: json!([[0, 60], [1, 40]]), outcome: Outcome::Ok, error: None,
///     invoke_index: 0, complete_index: Some(1), invoke_time: 0, complete_time: Some(1),
/// };
/// let rs = reads(&[r]).unwrap();
/// assert_eq!(rs[0].balances["1"], Some(40));
/// assert_eq!(rs[0].total(), Some(100));
/// ```
pub fn reads(ops: &[Operation]) -> Result<Vec<BankRead>, InputError> {
    let mut out = Vec::new();
    for op in ops
        .iter()
        .filter(|o| o.f == "read" && o.outcome == Outcome::Ok)
    {
        let event = op.complete_index.ok_or_else(|| InputError {
            event: op.invoke_index,
            message: "read is ok but has no completion event".into(),
        })?;
        let mut balances = BTreeMap::new();
        let mut put = |account: String, v: &Value| -> Result<(), InputError> {
            let b = balance(v, &account, event)?;
            if balances.insert(account.clone(), b).is_some() {
                return Err(InputError {
                    event,
                    message: format!("read lists account {account} twice"),
                });
            }
            Ok(())
        };
        match &op.output {
            Value::Object(m) => {
                for (k, v) in m {
                    put(k.clone(), v)?;
                }
            }
            Value::Array(pairs) => {
                for p in pairs {
                    match p.as_array().map(|a| a.as_slice()) {
                        Some([k, v]) => put(account_name(k), v)?,
                        _ => {
                            return Err(InputError {
                                event,
                                message: format!(
                                    "read's balances must be [account, balance] pairs, got {p}"
                                ),
                            })
                        }
                    }
                }
            }
            other => {
                return Err(InputError {
                    event,
                    message: format!(
                        "read must return an object of account balances or an array of [account, balance] pairs, got {other}"
                    ),
                })
            }
        }
        out.push(BankRead {
            invoke_index: op.invoke_index,
            complete_index: event,
            balances,
        });
    }
    out.sort_by_key(|r| r.complete_index);
    Ok(out)
}

/// The total most reads show; ties go to the one seen first.
fn most_common_total(reads: &[BankRead]) -> Option<i128> {
    let mut counts: HashMap<i128, (usize, usize)> = HashMap::new();
    for (n, t) in reads.iter().filter_map(BankRead::total).enumerate() {
        counts.entry(t).or_insert((0, n)).0 += 1;
    }
    counts
        .into_iter()
        .max_by_key(|&(_, (count, first))| (count, std::cmp::Reverse(first)))
        .map(|(t, _)| t)
}

/// A JSON number with `v`'s exact digits.
fn number(v: i128) -> Value {
    faultline_history::integer_value(v)
}

/// Checks every `ok` read of a bank history.
///
/// Invalid with one anomaly per problem per read (kinds `unexpected-account`,
/// `nil-balance`, `wrong-total`, `negative-balance`, each naming the read's events);
/// unknown when no read completed ok; else valid.
///
/// ```
/// use faultline_bank_checker::{check, BankOptions};
/// use faultline_history::{Operation, Outcome, Verdict};
/// use serde_json::json;
///
/// let read = |balances, i: u64| Operation {
///     process: 0, f: "read".into(), key: None, input: json!(null), output: balances,
///     outcome: Outcome::Ok, error: None, invoke_index: i, complete_index: Some(i + 1),
///     invoke_time: i, complete_time: Some(i + 1),
/// };
/// let history = [read(json!({"a": 50, "b": 50}), 0), read(json!({"a": 70, "b": 20}), 2)];
/// let opts = BankOptions { total: Some(100), ..BankOptions::default() };
/// let r = check(&history, &opts).unwrap();
/// assert_eq!(r.verdict, Verdict::Invalid);
/// assert_eq!(r.anomalies[0].kind, "wrong-total");
/// assert_eq!(r.anomalies[0].events, vec![2, 3]);
/// assert_eq!(r.anomalies[0].detail["difference"], -10);
/// ```
pub fn check(ops: &[Operation], opts: &BankOptions) -> Result<CheckerResult, InputError> {
    let reads = reads(ops)?;
    let inferred = opts.total.is_none();
    let expected = opts
        .total
        .map(i128::from)
        .or_else(|| most_common_total(&reads));
    let accounts: Option<std::collections::HashSet<&str>> = opts
        .accounts
        .as_ref()
        .map(|a| a.iter().map(String::as_str).collect());

    let mut anomalies = Vec::new();
    let mut bad_reads = 0usize;
    let mut kind_counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut lowest: Option<(i128, &BankRead)> = None;
    let mut highest: Option<(i128, &BankRead)> = None;
    for r in &reads {
        let before = anomalies.len();
        let what = format!("Read (events {}-{})", r.invoke_index, r.complete_index);
        let events = vec![r.invoke_index, r.complete_index];
        let mut flag = |kind: &'static str, explanation: String, detail: Value| {
            *kind_counts.entry(kind).or_default() += 1;
            anomalies.push(Anomaly {
                kind: kind.into(),
                explanation,
                events: events.clone(),
                detail,
            });
        };

        let unexpected: Vec<&String> = match &accounts {
            Some(known) => r
                .balances
                .keys()
                .filter(|k| !known.contains(k.as_str()))
                .collect(),
            None => Vec::new(),
        };
        if !unexpected.is_empty() {
            flag(
                "unexpected-account",
                format!(
                    "{what} shows account(s) that do not exist: {}.",
                    join(unexpected.iter().map(|s| s.as_str()))
                ),
                json!({"accounts": unexpected}),
            );
        }
        let nils: Vec<&String> = r
            .balances
            .iter()
            .filter(|(_, b)| b.is_none())
            .map(|(k, _)| k)
            .collect();
        if !nils.is_empty() {
            flag(
                "nil-balance",
                format!(
                    "{what} has no balance for account(s) {}.",
                    join(nils.iter().map(|s| s.as_str()))
                ),
                json!({"accounts": nils}),
            );
        }
        if let (true, Some(total), Some(expected)) = (unexpected.is_empty(), r.total(), expected) {
            if lowest.map_or(true, |(t, _)| total < t) {
                lowest = Some((total, r));
            }
            if highest.map_or(true, |(t, _)| total > t) {
                highest = Some((total, r));
            }
            if total != expected {
                let diff = total - expected;
                flag(
                    "wrong-total",
                    format!(
                        "{what} shows a total of {total} across {} account(s), but the total {} {expected}: {} {}.",
                        r.balances.len(),
                        if inferred { "most reads show is" } else { "must always be" },
                        diff.abs(),
                        if diff < 0 { "missing" } else { "too many" }
                    ),
                    json!({
                        "total": number(total),
                        "expected": number(expected),
                        "difference": number(diff),
                    }),
                );
            }
        }
        if !opts.negative_balances {
            let negative: Map<String, Value> = r
                .balances
                .iter()
                .filter_map(|(k, b)| b.filter(|b| *b < 0).map(|b| (k.clone(), json!(b))))
                .collect();
            if !negative.is_empty() {
                let list = negative
                    .iter()
                    .map(|(k, b)| format!("{k} = {b}"))
                    .collect::<Vec<_>>();
                flag(
                    "negative-balance",
                    format!("{what} shows negative balance(s): {}.", list.join(", ")),
                    json!({"balances": negative}),
                );
            }
        }
        if anomalies.len() > before {
            bad_reads += 1;
        }
    }

    let count = |f: &str, o: Outcome| ops.iter().filter(|op| op.f == f && op.outcome == o).count();
    let extreme = |e: Option<(i128, &BankRead)>| {
        e.map(|(t, r)| json!({"total": number(t), "events": [r.invoke_index, r.complete_index]}))
    };
    let stats = json!({
        "read-count": reads.len(),
        "error-count": bad_reads,
        "errors": kind_counts,
        "first-error": anomalies.first().map(|a| a.events[0]),
        "expected-total": expected.map(number),
        "total-inferred": inferred,
        "lowest-total": extreme(lowest),
        "highest-total": extreme(highest),
        "transfer-ok-count": count("transfer", Outcome::Ok),
        "transfer-info-count": count("transfer", Outcome::Info),
        "transfer-fail-count": count("transfer", Outcome::Fail),
    });
    let (verdict, reason) = if !anomalies.is_empty() {
        (Verdict::Invalid, None)
    } else if reads.is_empty() {
        (
            Verdict::Unknown,
            Some("no read completed ok, so no balance could be checked".to_string()),
        )
    } else {
        (Verdict::Valid, None)
    };
    Ok(CheckerResult {
        checker: CHECKER.into(),
        verdict,
        reason,
        anomalies,
        stats,
        first_anomaly_s: None,
    })
}

/// Names joined with commas.
fn join<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}
