use faultline_history::{pair, Verdict};
use faultline_transactional::synth::{events, AppendConfig};
use faultline_transactional::{check, Model, Options};

#[test]
fn synth_valid_and_stale() {
    for seed in 0..5 {
        let cfg = AppendConfig {
            txns: 3000,
            seed,
            info_rate: 0.05,
            ..AppendConfig::default()
        };
        let ev = events(&cfg);
        let lines: Vec<u32> = (1..=ev.len() as u32).collect();
        let ops = pair(&ev, &lines).unwrap();
        let r = check(&ops, &Options::default()).unwrap();
        assert_eq!(r.verdict, Verdict::Valid, "{:#?}", r.anomalies);
        let cfg = AppendConfig {
            stale_read: true,
            ..cfg
        };
        let ev = events(&cfg);
        let ops = pair(&ev, &lines).unwrap();
        let r = check(&ops, &Options::default()).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid, "seed {seed}");
        eprintln!(
            "{:?} {:?} {}",
            r.anomaly_types,
            r.not,
            r.anomalies.last().unwrap().explanation
        );
        let r = check(
            &ops,
            &Options {
                model: Model::Serializable,
                ..Options::default()
            },
        )
        .unwrap();
        eprintln!("serializable: {:?}", r.verdict);
    }
}

/// Issue 18: `--checker append` on a register history said valid. A history with no
/// transactions is no evidence: unknown, saying why.
#[test]
fn no_transactions_is_unknown() {
    use faultline_history::testing::event;
    use faultline_history::{EventType, Process};
    let evs = vec![
        event(
            0,
            0,
            Process::Client(0),
            EventType::Invoke,
            "write",
            1.into(),
        ),
        event(1, 1, Process::Client(0), EventType::Ok, "write", 1.into()),
    ];
    let lines: Vec<u32> = (1..=2).collect();
    for ops in [pair(&evs, &lines).unwrap(), Vec::new()] {
        let r = check(&ops, &Options::default()).unwrap();
        assert_eq!(r.verdict, Verdict::Unknown);
        assert!(r.reason.unwrap().contains("no transactions"));
    }
}
