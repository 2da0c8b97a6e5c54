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
