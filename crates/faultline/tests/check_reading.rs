//! `faultline check` reading JSON Lines: memory stays bounded by `--memory-limit` while
//! reading (issue 8, item 4), and the streamed reader keeps pairing errors' lines.

use std::io::Write;
use std::process::{Command, Output};

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("check")
        .args(args)
        .output()
        .unwrap()
}

/// Largest resident set of any child waited for so far, in MB.
fn children_max_rss_mb() -> i64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) },
        0
    );
    usage.ru_maxrss / 1024
}

/// One 200 MB line whose value is a 100-million-element array: it used to take 10 GB of
/// memory whatever `--memory-limit` said. Now it is refused in one line, exit 254, without
/// being read whole, with the default limit and with `--memory-limit 500`.
#[test]
fn a_huge_line_is_refused_within_the_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    out.write_all(br#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":["#)
        .unwrap();
    let chunk = "1,".repeat(1_000_000);
    for _ in 0..100 {
        out.write_all(chunk.as_bytes()).unwrap();
    }
    out.write_all(b"1]}\n").unwrap();
    out.flush().unwrap();
    drop(out);
    assert!(std::fs::metadata(&path).unwrap().len() > 200_000_000);

    for args in [vec![], vec!["--memory-limit", "500"]] {
        let file = path.to_str().unwrap();
        let out = check(&[args.as_slice(), &[file]].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(254), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("huge.jsonl:line 1:") && stderr.contains("--memory-limit"),
            "{stderr}"
        );
    }
    let peak = children_max_rss_mb();
    assert!(peak < 500, "peak resident set {peak} MB");
}

/// The same history checks the same streamed (no `--html`) and read whole (`--html`), and a
/// pairing error names its line either way.
#[test]
fn streamed_reading_gives_the_same_verdict_and_lines() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.jsonl");
    std::fs::write(
        &good,
        concat!(
            r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":1}"#,
            "\n",
            "\n",
            r#"{"index":1,"time":1,"process":0,"type":"ok","f":"write","value":1}"#,
            "\n",
            r#"{"index":2,"time":2,"process":1,"type":"invoke","f":"read","value":null}"#,
            "\n",
            r#"{"index":3,"time":3,"process":1,"type":"ok","f":"read","value":2}"#,
            "\n",
        ),
    )
    .unwrap();
    let html = dir.path().join("r.html");
    let streamed = check(&[good.to_str().unwrap()]);
    let whole = check(&[good.to_str().unwrap(), "--html", html.to_str().unwrap()]);
    assert_eq!(streamed.status.code(), Some(1));
    assert_eq!(whole.status.code(), Some(1));
    let first = |o: &Output| {
        let s = String::from_utf8_lossy(&o.stdout).into_owned();
        s.lines().nth(1).unwrap_or_default().to_string()
    };
    assert_eq!(first(&streamed), first(&whole));

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        concat!(
            r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":1}"#,
            "\n",
            r#"{"index":1,"time":1,"process":0,"type":"invoke","f":"write","value":2}"#,
            "\n",
        ),
    )
    .unwrap();
    for extra in [vec![], vec!["--html", html.to_str().unwrap()]] {
        let out = check(&[&[bad.to_str().unwrap()], extra.as_slice()].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(254), "{stderr}");
        assert!(
            stderr.contains("bad.jsonl:line 2:") && stderr.contains("second invoke"),
            "{stderr}"
        );
    }
}
