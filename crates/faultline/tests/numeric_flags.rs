//! Issue 18 item 6: no numeric flag of any command makes faultline panic (exit 101), whatever
//! its value: huge, negative, NaN, infinite or zero. The flags are enumerated from clap's
//! command definition (`faultline::Cli`), so a new flag is covered by construction; a value
//! either runs or is refused in one line with exit 254.

use clap::CommandFactory;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The values every numeric flag gets.
const VALUES: &[&str] = &[
    "1e20",
    "-1e20",
    "18446744073709551615",
    "99999999999999999999999",
    "-1",
    "NaN",
    "inf",
    "-inf",
    "0",
];

/// Whether `arg` takes a number: a command of it alone takes `--arg=1` and refuses `--arg=x`.
fn numeric(arg: &clap::Arg) -> bool {
    let Some(long) = arg.get_long() else {
        return false;
    };
    let alone = || clap::Command::new("x").arg(arg.clone().required(false));
    let takes = |v: &str| {
        alone()
            .try_get_matches_from(["x", &format!("--{long}={v}")])
            .is_ok()
    };
    takes("1") && !takes("x")
}

/// Every leaf command with its path (`["cluster", "up"]`).
fn leaves(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, clap::Command)>) {
    if cmd.get_subcommands().next().is_none() {
        out.push((path, cmd.clone()));
        return;
    }
    for sub in cmd.get_subcommands() {
        let mut p = path.clone();
        p.push(sub.get_name().to_string());
        leaves(sub, p, out);
    }
}

/// The arguments each command runs with besides the flag under test, so that it runs
/// quickly and starts nothing: one entry per variant. A command with required arguments
/// that is missing here fails the test, which says so.
fn bases(path: &[String], history: &Path, dir: &Path) -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let h = history.display().to_string();
    let d = dir.display().to_string();
    match path.join(" ").as_str() {
        "test" => vec![s(&["--dry-run", "--store", &d])],
        "check" => vec![s(&[&h])],
        "gen" => ["kv", "register", "append"]
            .iter()
            .map(|k| {
                s(&[
                    k,
                    "--ops",
                    "30",
                    "--keys",
                    "3",
                    "--processes",
                    "3",
                    "-o",
                    "/dev/null",
                ])
            })
            .collect(),
        "serve" => vec![s(&["--store", &d])],
        _ => vec![vec![]],
    }
}

/// Runs faultline with `argv`; a command still running after a few seconds (a server) is
/// ended, which counts as no panic. Returns the exit code (0 for one ended) and stderr.
fn run(argv: &[String], state: &Path) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(argv)
        .env("FAULTLINE_STATE_DIR", state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(5) {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.map_or(0, |s| s.code().unwrap_or(-1)), err)
}

#[test]
fn no_numeric_flag_of_any_command_panics_on_any_value() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("h.jsonl");
    std::fs::write(
        &history,
        concat!(
            r#"{"index":0,"time":0,"type":"invoke","process":0,"f":"write","value":1}"#,
            "\n",
            r#"{"index":1,"time":1,"type":"ok","process":0,"f":"write","value":1}"#,
            "\n"
        ),
    )
    .unwrap();
    let mut commands = Vec::new();
    leaves(&faultline::Cli::command(), vec![], &mut commands);
    let mut tried = 0;
    for (path, cmd) in &commands {
        let flags: Vec<&clap::Arg> = cmd.get_arguments().filter(|a| numeric(a)).collect();
        for base in bases(path, &history, dir.path()) {
            for flag in &flags {
                let long = flag.get_long().unwrap();
                // The base's own value of this flag gives way to the one under test.
                let mut args: Vec<String> = Vec::new();
                let mut i = 0;
                while i < base.len() {
                    if base[i] == format!("--{long}") {
                        i += 2;
                        continue;
                    }
                    args.push(base[i].clone());
                    i += 1;
                }
                for value in VALUES {
                    let argv: Vec<String> = path
                        .iter()
                        .cloned()
                        .chain(args.iter().cloned())
                        .chain([format!("--{long}={value}")])
                        .collect();
                    let (code, err) = run(&argv, dir.path());
                    tried += 1;
                    assert!(
                        [0, 1, 2, 254].contains(&code),
                        "faultline {}: exit {code}: {err}",
                        argv.join(" ")
                    );
                    if code == 254 {
                        assert_eq!(
                            err.lines().count(),
                            1,
                            "faultline {}: {err}",
                            argv.join(" ")
                        );
                        assert!(err.starts_with("faultline"), "{err}");
                        assert!(err.len() < 600, "faultline {}: {err}", argv.join(" "));
                    }
                }
            }
        }
    }
    // test, check, gen and serve have numeric flags; more commands may get them.
    assert!(
        tried > 200,
        "only {tried} runs: are the numeric flags found?"
    );
}
