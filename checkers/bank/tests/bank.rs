//! Bank checker: a hand-written case per anomaly, and properties on histories of a real
//! bank (valid) and of the same bank with one read corrupted (caught).

use faultline_bank_checker::{check, BankOptions};
use faultline_history::{testing, Operation, Outcome, Verdict};
use proptest::prelude::*;
use serde_json::{json, Value};

/// An operation by process `i`, invoked at event `i`, completed at `c`; times are indices × 1000 ns.
fn op(f: &str, input: Value, output: Value, outcome: Outcome, i: u64, c: Option<u64>) -> Operation {
    testing::op(i, f, input, output, outcome, i, c)
}

fn read(balances: Value, i: u64) -> Operation {
    op("read", Value::Null, balances, Outcome::Ok, i, Some(i + 1))
}

fn transfer(from: &str, to: &str, amount: i64, outcome: Outcome, i: u64) -> Operation {
    op(
        "transfer",
        json!({"from": from, "to": to, "amount": amount}),
        Value::Null,
        outcome,
        i,
        Some(i + 1),
    )
}

fn total(t: i64) -> BankOptions {
    BankOptions {
        total: Some(t),
        ..BankOptions::default()
    }
}

#[test]
fn conserved_totals_are_valid() {
    let h = [
        read(json!({"a": 50, "b": 50}), 0),
        transfer("a", "b", 10, Outcome::Ok, 2),
        transfer("b", "a", 5, Outcome::Info, 4),
        read(json!({"a": 45, "b": 55}), 6),
    ];
    let r = check(&h, &total(100)).unwrap();
    assert_eq!(r.verdict, Verdict::Valid);
    assert!(r.anomalies.is_empty());
    assert_eq!(r.stats["read-count"], 2);
    assert_eq!(r.stats["transfer-ok-count"], 1);
    assert_eq!(r.stats["transfer-info-count"], 1);
    assert_eq!(r.stats["total-inferred"], false);
}

#[test]
fn wrong_total_reports_the_difference() {
    let h = [
        read(json!({"a": 50, "b": 50}), 0),
        read(json!({"a": 50, "b": 47}), 2),
        read(json!({"a": 60, "b": 45}), 4),
    ];
    let r = check(&h, &total(100)).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.anomalies.len(), 2);
    let a = &r.anomalies[0];
    assert_eq!(a.kind, "wrong-total");
    assert_eq!(a.events, vec![2, 3]);
    assert_eq!(
        a.detail,
        json!({"total": 97, "expected": 100, "difference": -3})
    );
    assert_eq!(
        a.explanation,
        "Read (events 2-3) shows a total of 97 across 2 account(s), but the total must always be 100: 3 missing."
    );
    assert_eq!(r.anomalies[1].detail["difference"], 5);
    assert!(r.anomalies[1].explanation.contains("5 too many"));
    assert_eq!(
        r.stats["lowest-total"],
        json!({"total": 97, "events": [2, 3]})
    );
    assert_eq!(
        r.stats["highest-total"],
        json!({"total": 105, "events": [4, 5]})
    );
    assert_eq!(r.stats["first-error"], 2);
}

#[test]
fn without_a_configured_total_the_majority_total_is_expected() {
    let h = [
        read(json!({"a": 50, "b": 50}), 0),
        read(json!({"a": 90, "b": 0}), 2),
        read(json!({"a": 30, "b": 70}), 4),
    ];
    let r = check(&h, &BankOptions::default()).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.anomalies.len(), 1);
    assert_eq!(r.anomalies[0].events, vec![2, 3]);
    assert!(r.anomalies[0]
        .explanation
        .contains("most reads show is 100"));
    assert_eq!(r.stats["expected-total"], 100);
    assert_eq!(r.stats["total-inferred"], true);
    // Any disagreement is invalid, even a tie.
    let h = [read(json!({"a": 1}), 0), read(json!({"a": 2}), 2)];
    assert_eq!(
        check(&h, &BankOptions::default()).unwrap().verdict,
        Verdict::Invalid
    );
}

#[test]
fn negative_balances_are_anomalies_unless_allowed() {
    let h = [read(json!({"a": 110, "b": -10}), 0)];
    let r = check(&h, &total(100)).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.anomalies[0].kind, "negative-balance");
    assert_eq!(r.anomalies[0].detail, json!({"balances": {"b": -10}}));
    assert!(r.anomalies[0].explanation.contains("b = -10"));
    let allowed = BankOptions {
        negative_balances: true,
        ..total(100)
    };
    assert_eq!(check(&h, &allowed).unwrap().verdict, Verdict::Valid);
}

#[test]
fn one_read_can_be_wrong_in_several_ways() {
    let h = [read(json!({"a": 100, "b": -10}), 0)];
    let r = check(&h, &total(100)).unwrap();
    let kinds: Vec<&str> = r.anomalies.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, vec!["wrong-total", "negative-balance"]);
    assert_eq!(r.stats["error-count"], 1);
    assert_eq!(
        r.stats["errors"],
        json!({"negative-balance": 1, "wrong-total": 1})
    );
}

#[test]
fn unknown_accounts_are_unexpected_and_skip_the_total() {
    let opts = BankOptions {
        accounts: Some(vec!["0".into(), "1".into()]),
        ..total(100)
    };
    let h = [read(json!({"0": 50, "1": 40, "7": 10}), 0)];
    let r = check(&h, &opts).unwrap();
    assert_eq!(r.anomalies.len(), 1);
    assert_eq!(r.anomalies[0].kind, "unexpected-account");
    assert_eq!(r.anomalies[0].detail, json!({"accounts": ["7"]}));
}

#[test]
fn null_balances_are_reported_and_skip_the_total() {
    let h = [read(json!({"a": 100, "b": null}), 0)];
    let r = check(&h, &total(100)).unwrap();
    assert_eq!(r.anomalies.len(), 1);
    assert_eq!(r.anomalies[0].kind, "nil-balance");
    assert!(r.anomalies[0]
        .explanation
        .contains("no balance for account(s) b"));
}

#[test]
fn balances_as_pairs_with_integer_accounts() {
    let opts = BankOptions {
        accounts: Some(vec!["0".into(), "1".into()]),
        ..total(10)
    };
    let h = [
        read(json!([[0, 4], [1, 6]]), 0),
        read(json!({"0": 5, "1": 5}), 2),
    ];
    assert_eq!(check(&h, &opts).unwrap().verdict, Verdict::Valid);
    let h = [read(json!([[0, 4], [1, 5]]), 0)];
    assert_eq!(check(&h, &opts).unwrap().anomalies[0].kind, "wrong-total");
}

#[test]
fn only_ok_reads_count_and_none_is_unknown() {
    let h = [
        transfer("a", "b", 1, Outcome::Ok, 0),
        op(
            "read",
            Value::Null,
            json!({"a": -1}),
            Outcome::Info,
            2,
            Some(3),
        ),
        op("read", Value::Null, Value::Null, Outcome::Fail, 4, Some(5)),
        op("read", Value::Null, Value::Null, Outcome::Info, 6, None),
    ];
    let r = check(&h, &total(100)).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(r.reason.unwrap().contains("no read completed ok"));
}

#[test]
fn malformed_reads_are_errors_naming_the_event() {
    let cases = [
        (
            json!(100),
            "event 1: read must return an object of account balances or an array of [account, balance] pairs, got 100",
        ),
        (
            json!({"a": "ten"}),
            "event 1: balance of account a must be an integer or null, got \"ten\"",
        ),
        (
            json!([[0, 1, 2]]),
            "event 1: read's balances must be [account, balance] pairs, got [0,1,2]",
        ),
        (json!([[0, 1], ["0", 2]]), "event 1: read lists account 0 twice"),
        (
            json!({"a": 1.5}),
            "event 1: balance of account a must be an integer or null, got 1.5",
        ),
    ];
    for (value, message) in cases {
        let e = check(&[read(value, 0)], &total(1)).unwrap_err();
        assert_eq!(e.to_string(), message);
    }
}

// ---------------------------------------------------------------------------------------

/// A generated op: a transfer between two of 4 accounts, or a read.
#[derive(Clone, Debug)]
struct Gen {
    is_read: bool,
    start: u8,
    len: u8,
    outcome: Outcome,
    from: usize,
    to: usize,
    amount: i64,
    frac: u32,
    applied: bool,
}

fn gen_op() -> impl Strategy<Value = Gen> {
    (
        any::<bool>(),
        0u8..16,
        0u8..5,
        prop_oneof![Just(Outcome::Ok), Just(Outcome::Info), Just(Outcome::Fail)],
        (0usize..4, 0usize..4, 1i64..30),
        (0u32..1000, any::<bool>()),
    )
        .prop_map(
            |(is_read, start, len, outcome, (from, to, amount), (frac, applied))| Gen {
                is_read,
                start,
                len,
                outcome: if is_read { Outcome::Ok } else { outcome },
                from,
                to,
                amount,
                frac,
                applied,
            },
        )
}

/// Runs a real bank (4 accounts of 25; a transfer that would overdraw does nothing, as
/// the database would refuse it) with each op taking effect at one instant in its interval
/// (info: maybe, at any later instant; fail: never) and reads returning the balances at
/// their instant.
fn real_bank(gens: &[Gen]) -> Vec<Operation> {
    let spans: Vec<(u32, u32, bool)> = gens
        .iter()
        .map(|g| (g.start.into(), g.len.into(), true))
        .collect();
    let (inv, comp): (Vec<u64>, Vec<u64>) = testing::lay_out(&spans)
        .into_iter()
        .map(|(i, c)| (i, c.expect("every op finishes")))
        .unzip();
    let instant = |n: usize| -> Option<u64> {
        let g = &gens[n];
        testing::applied_at(g.outcome, inv[n], Some(comp[n]), g.frac, g.applied)
    };
    let mut order: Vec<(u64, usize)> = (0..gens.len())
        .filter_map(|n| instant(n).map(|t| (t, n)))
        .collect();
    order.sort();
    let mut balances = [25i64; 4];
    let mut seen = vec![None; gens.len()];
    for (_, n) in order {
        let g = &gens[n];
        if g.is_read {
            seen[n] = Some(balances);
        } else if balances[g.from] >= g.amount {
            balances[g.from] -= g.amount;
            balances[g.to] += g.amount;
        }
    }
    gens.iter()
        .enumerate()
        .map(|(n, g)| {
            if g.is_read {
                let b = seen[n].unwrap();
                op(
                    "read",
                    Value::Null,
                    json!({"0": b[0], "1": b[1], "2": b[2], "3": b[3]}),
                    Outcome::Ok,
                    inv[n],
                    Some(comp[n]),
                )
            } else {
                let v = json!({"from": g.from, "to": g.to, "amount": g.amount});
                op("transfer", v, Value::Null, g.outcome, inv[n], Some(comp[n]))
            }
        })
        .collect()
}

fn bank_options() -> BankOptions {
    BankOptions {
        total: Some(100),
        accounts: Some((0..4).map(|a| a.to_string()).collect()),
        negative_balances: false,
    }
}

proptest! {
    #[test]
    fn histories_of_a_real_bank_are_valid(gens in prop::collection::vec(gen_op(), 1..20)) {
        let ops = real_bank(&gens);
        let r = check(&ops, &bank_options()).unwrap();
        prop_assert_ne!(r.verdict, Verdict::Invalid, "{:?}", r.anomalies);
        // Inferring the total finds the same.
        let r = check(&ops, &BankOptions::default()).unwrap();
        prop_assert_ne!(r.verdict, Verdict::Invalid, "{:?}", r.anomalies);
    }

    #[test]
    fn a_corrupted_read_is_caught_and_only_it(
        gens in prop::collection::vec(gen_op(), 1..20),
        which in any::<prop::sample::Index>(),
        account in 0usize..4,
        delta in prop_oneof![-30i64..0, 1i64..30],
    ) {
        let mut ops = real_bank(&gens);
        let reads: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].f == "read").collect();
        prop_assume!(!reads.is_empty());
        let k = reads[which.index(reads.len())];
        let key = account.to_string();
        let b = ops[k].output[&key].as_i64().unwrap();
        ops[k].output[&key] = json!(b + delta);
        let r = check(&ops, &bank_options()).unwrap();
        prop_assert_eq!(r.verdict, Verdict::Invalid);
        prop_assert!(r.anomalies.iter().all(|a| a.events == vec![ops[k].invoke_index, ops[k].complete_index.unwrap()]));
        prop_assert!(r.anomalies.iter().any(|a| a.kind == "wrong-total" && a.detail["difference"] == json!(delta)));
    }
}
