//! ProgramClients against small fake client programs (Python, standard library): one that
//! follows the protocol, and ones that answer garbage, hang, die, refuse to open, ignore
//! `close`, or leave a child behind. What a user relies on: every operation ends as the
//! protocol says, each misbehaviour is one clear log line, and no process outlives its
//! instance.

use faultline_client_protocol::{client_options, ProgramClients};
use faultline_runner::{ClientFactory, Completion, Op};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A register kept in memory; records every message it gets to `$LOG` (one JSON a line).
const GOOD: &str = r#"
import json, os, sys
log = open(os.environ["LOG"], "a")
reg = {}
for line in sys.stdin:
    m = json.loads(line)
    log.write(line); log.flush()
    t = m["type"]
    if t == "open":
        print("opened as process", m["process"], file=sys.stderr, flush=True)
        print(json.dumps({"type": "open_ok"}), flush=True)
    elif t == "close":
        break
    else:
        k, f, v = m["key"], m["f"], m["value"]
        if f == "read":
            a = {"type": "ok", "value": reg.get(str(k))}
        elif f == "write":
            reg[str(k)] = v; a = {"type": "ok"}
        elif reg.get(str(k)) == v[0]:
            reg[str(k)] = v[1]; a = {"type": "ok"}
        else:
            a = {"type": "fail", "error": "compare-failed"}
        a["id"] = m["id"]
        print(json.dumps(a), flush=True)
"#;

/// Opens, then answers every invoke with `ANSWER` (printed as is).
const ANSWERS: &str = r#"
import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m["type"] == "open":
        print(json.dumps({"type": "open_ok"}), flush=True)
    elif m["type"] == "invoke":
        sys.stdout.write(os.environ["ANSWER"].replace("ID", str(m["id"])) + "\n"); sys.stdout.flush()
"#;

/// Opens, then never answers; writes its pid to `$PIDS` first.
const HANGS: &str = r#"
import json, os, sys, time
open(os.environ["PIDS"], "a").write("%d\n" % os.getpid())
for line in sys.stdin:
    m = json.loads(line)
    if m["type"] == "open":
        print(json.dumps({"type": "open_ok"}), flush=True)
    elif m["type"] == "invoke":
        time.sleep(3600)
"#;

/// Opens, then dies on the first invoke.
const DIES: &str = r#"
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m["type"] == "open":
        print(json.dumps({"type": "open_ok"}), flush=True)
    else:
        print("boom: giving up", file=sys.stderr, flush=True)
        sys.exit(3)
"#;

/// Refuses to open.
const REFUSES: &str = r#"
import json, sys
sys.stdin.readline()
print(json.dumps({"type": "error", "error": "cannot reach n2:2379"}), flush=True)
sys.stdin.readline()
"#;

/// Ignores `close` and the end of stdin; starts a child (pid in `$PIDS`) that sleeps.
const STUBBORN: &str = r#"
import json, os, subprocess, sys, time
child = subprocess.Popen(["sleep", "3600"])
open(os.environ["PIDS"], "a").write("%d\n%d\n" % (os.getpid(), child.pid))
sys.stdin.readline()
print(json.dumps({"type": "open_ok"}), flush=True)
while True:
    time.sleep(1)
"#;

struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A factory running `script` with `env` (name=value pairs, values shell-quoted).
    fn clients(&self, script: &str, env: &[(&str, &str)]) -> ProgramClients {
        let file = self.path("client.py");
        std::fs::write(&file, script).unwrap();
        let env: String = env.iter().map(|(k, v)| format!("{k}='{v}' ")).collect();
        program(&format!("{env}exec python3 {}", file.display()))
    }

    fn pids(&self) -> Vec<i32> {
        std::fs::read_to_string(self.path("pids"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect()
    }
}

/// Instances of a shell `command` for the register workload on a two-node etcd.
fn program(command: &str) -> ProgramClients {
    let nodes = BTreeMap::from([
        ("n1".to_string(), "10.0.0.1".to_string()),
        ("n2".to_string(), "10.0.0.2".to_string()),
    ]);
    let mut workload = Map::new();
    workload.insert("serializable_reads".into(), json!(false));
    let options = client_options(workload, "register", &[("port".into(), json!(2379))]);
    ProgramClients::new(command, "etcd", "register", nodes, options)
}

fn op(f: &'static str, key: i64, value: Value) -> Op {
    Op {
        key: Some(json!(key)),
        ..Op::new(f, value)
    }
}

fn alive(pid: i32) -> bool {
    // A zombie is dead for our purposes: only its parent's reaping is left.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn eventually_dead(pids: &[i32]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| alive(p)) {
        assert!(Instant::now() < deadline, "still alive: {pids:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The run's log as tests see it: every tracing line, captured.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
    fn warnings(&self) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains("WARN"))
            .map(String::from)
            .collect()
    }
}

impl Write for Log {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` on a current-thread runtime with the log captured.
fn with_log<F: std::future::Future<Output = ()>>(f: impl FnOnce() -> F) -> Log {
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f());
    log
}

fn messages(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_client_that_follows_the_protocol_carries_out_operations() {
    let fake = Fake::new();
    let log_path = fake.path("messages");
    let clients = fake.clients(GOOD, &[("LOG", log_path.to_str().unwrap())]);
    let log = with_log(|| async {
        let mut c = clients.open_process("n2", 7).await.unwrap();
        assert_eq!(
            c.invoke(&op("read", 1, Value::Null)).await,
            Completion::Ok(Value::Null)
        );
        assert_eq!(
            c.invoke(&op("write", 1, json!(3))).await,
            Completion::Ok(json!(3)),
            "an ok without value keeps the invoked value"
        );
        assert_eq!(
            c.invoke(&op("cas", 1, json!([2, 4]))).await,
            Completion::Fail(json!("compare-failed"))
        );
        assert_eq!(
            c.invoke(&op("cas", 1, json!([3, 4]))).await,
            Completion::Ok(json!([3, 4]))
        );
        assert_eq!(
            c.invoke(&op("read", 1, Value::Null)).await,
            Completion::Ok(json!(4))
        );
        let started = Instant::now();
        c.close().await;
        assert!(started.elapsed() < Duration::from_secs(1), "exits on close");
    });
    let got = messages(&log_path);
    let open = &got[0];
    assert_eq!(open["type"], "open");
    assert_eq!(open["protocol"], 1);
    assert_eq!(open["process"], 7);
    assert_eq!(open["node"], "n2");
    assert_eq!(open["nodes"], json!({"n1":"10.0.0.1","n2":"10.0.0.2"}));
    assert_eq!(
        (open["db"].as_str(), open["workload"].as_str()),
        (Some("etcd"), Some("register"))
    );
    assert_eq!(open["options"]["serializable_reads"], false);
    assert_eq!(open["options"]["port"], 2379);
    assert!(open["options"]["namespace"]
        .as_str()
        .unwrap()
        .starts_with("faultline/register/"));
    assert_eq!(
        got[1],
        json!({"type":"invoke","id":1,"f":"read","key":1,"value":null})
    );
    assert_eq!(got[3]["value"], json!([2, 4]));
    assert_eq!(got.last().unwrap(), &json!({"type":"close"}));
    assert!(
        log.text()
            .contains("client process 7 stderr: opened as process 7"),
        "stderr goes to the log: {}",
        log.text()
    );
    assert!(log.warnings().is_empty(), "{}", log.text());
}

#[test]
fn a_client_that_answers_garbage_gets_info_quoting_it_and_one_log_line() {
    let cases = [
        ("hello, world", "not JSON"),
        (r#"{"type":"ok","id":99}"#, "expected \"id\" 1, got 99"),
        (
            r#"{"type":"fail","id":ID}"#,
            "\"fail\" needs an \"error\" string",
        ),
        (r#"{"type":"maybe","id":ID}"#, "got \"maybe\""),
    ];
    for (answer, why) in cases {
        let fake = Fake::new();
        let clients = fake.clients(ANSWERS, &[("ANSWER", answer)]);
        let log = with_log(|| async {
            let mut c = clients.open_process("n1", 0).await.unwrap();
            let got = c.invoke(&op("write", 1, json!(2))).await;
            let Completion::Info(Value::String(e)) = got else {
                panic!("{answer}: {got:?}")
            };
            assert!(
                e.starts_with("malformed answer: ") && e.contains(why),
                "{e}"
            );
            let quoted = format!("{:?}", answer.replace("ID", "1"));
            assert!(e.contains(&quoted), "quotes the answer: {e}");
            // The runner closes a client after info; the instance goes away at once.
            let started = Instant::now();
            c.close().await;
            assert!(started.elapsed() < Duration::from_secs(1));
        });
        let m = clients.misbehaviour();
        assert_eq!(m.count, 1);
        assert!(m
            .first
            .unwrap()
            .contains("malformed answer to invoke 1 (write)"));
        let warnings = log.warnings();
        assert_eq!(warnings.len(), 1, "one line: {warnings:?}");
        assert!(
            warnings[0].contains("client process 0: malformed answer to invoke 1 (write)"),
            "{}",
            warnings[0]
        );
    }
}

#[test]
fn a_client_that_hangs_is_killed_after_the_runners_timeout() {
    let fake = Fake::new();
    let pids = fake.path("pids");
    let clients = fake.clients(HANGS, &[("PIDS", pids.to_str().unwrap())]);
    let log = with_log(|| async {
        let mut c = clients.open_process("n1", 3).await.unwrap();
        // The runner bounds invoke with the op timeout and drops the call.
        let r = tokio::time::timeout(
            Duration::from_millis(300),
            c.invoke(&op("read", 1, Value::Null)),
        )
        .await;
        assert!(r.is_err(), "no answer");
        let started = Instant::now();
        c.close().await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a hung instance is killed, not given the close grace"
        );
    });
    eventually_dead(&fake.pids());
    let warnings = log.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains(
            "client process 3: no answer to invoke 1 (read) within the op timeout; killed"
        ),
        "{}",
        warnings[0]
    );
}

#[test]
fn a_client_that_dies_leaves_its_operation_info() {
    let fake = Fake::new();
    let clients = fake.clients(DIES, &[]);
    let log = with_log(|| async {
        let mut c = clients.open_process("n1", 5).await.unwrap();
        let got = c.invoke(&op("write", 1, json!(1))).await;
        let Completion::Info(Value::String(e)) = got else {
            panic!("{got:?}")
        };
        assert!(
            e.contains("client exited without answering") && e.contains("3"),
            "{e}"
        );
        c.close().await;
    });
    assert!(log
        .text()
        .contains("client process 5 stderr: boom: giving up"));
    let warnings = log.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("exited without answering invoke 1 (write)"));
}

#[test]
fn a_client_that_refuses_to_open_is_an_open_error() {
    let fake = Fake::new();
    let clients = fake.clients(REFUSES, &[]);
    with_log(|| async {
        let Err(e) = clients.open_process("n2", 1).await else {
            panic!("opened")
        };
        assert_eq!(e, "client could not open: cannot reach n2:2379");
    });
    let garbage = fake.clients(ANSWERS.replace("open_ok", "opened").as_str(), &[]);
    let log = with_log(|| async {
        let Err(e) = garbage.open_process("n2", 1).await else {
            panic!("opened")
        };
        assert!(e.starts_with("malformed answer to open: "), "{e}");
    });
    assert_eq!(log.warnings().len(), 1, "{}", log.text());
}

#[test]
fn close_kills_an_instance_that_ignores_it_and_everything_it_started() {
    let fake = Fake::new();
    let pids = fake.path("pids");
    let clients = fake.clients(STUBBORN, &[("PIDS", pids.to_str().unwrap())]);
    let log = with_log(|| async {
        let mut c = clients.open_process("n1", 2).await.unwrap();
        let started = Instant::now();
        c.close().await;
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
            "killed 2 s after close: {took:?}"
        );
    });
    let pids = fake.pids();
    assert_eq!(pids.len(), 2);
    eventually_dead(&pids);
    assert!(log.text().contains("still running 2s after close; killed"));
}

#[test]
fn a_dropped_instance_takes_its_process_group_with_it() {
    let fake = Fake::new();
    let pids = fake.path("pids");
    let clients = fake.clients(STUBBORN, &[("PIDS", pids.to_str().unwrap())]);
    with_log(|| async {
        let c = clients.open_process("n1", 2).await.unwrap();
        drop(c);
    });
    let pids = fake.pids();
    assert_eq!(pids.len(), 2);
    eventually_dead(&pids);
}

#[test]
fn the_probe_says_in_one_line_why_a_program_cannot_be_a_client() {
    let fake = Fake::new();
    let good = fake.clients(GOOD, &[("LOG", fake.path("log").to_str().unwrap())]);
    let refuses = Fake::new();
    let refuses = refuses.clients(REFUSES, &[]);
    let cases: [(ProgramClients, Option<&str>); 5] = [
        (good, None),
        (
            program("echo garbage"),
            Some("malformed answer to open: not JSON"),
        ),
        (
            program("exit 3"),
            Some("exited without answering open (exit status: 3)"),
        ),
        (
            program("/nonexistent/client --flag"),
            Some("exited without answering open (exit status: 127)"),
        ),
        (refuses, Some("client could not open: cannot reach n2:2379")),
    ];
    for (clients, want) in cases {
        with_log(|| async {
            let got = clients.probe("n1", Duration::from_secs(10)).await;
            match want {
                None => assert_eq!(got, Ok(())),
                Some(w) => {
                    let e = got.unwrap_err();
                    assert!(e.starts_with(w) && !e.contains('\n'), "{e}");
                }
            }
        });
    }
}

/// Answers every operation, `info` for every third; writes each open's process to `$LOG`.
const FLAKY: &str = r#"
import json, os, sys
log = open(os.environ["LOG"], "a")
n = 0
for line in sys.stdin:
    m = json.loads(line)
    if m["type"] == "open":
        log.write("%d\n" % m["process"]); log.flush()
        print(json.dumps({"type": "open_ok"}), flush=True)
    elif m["type"] == "invoke":
        n += 1
        a = {"type": "info", "error": "lost"} if n % 3 == 0 else {"type": "ok", "value": None}
        a["id"] = m["id"]
        print(json.dumps(a), flush=True)
    else:
        break
"#;

#[test]
fn the_runner_opens_one_instance_per_process_and_a_new_one_after_info() {
    use faultline_runner::{run, Gen, RunConfig, Workload};
    let fake = Fake::new();
    let opens = fake.path("opens");
    let clients = fake.clients(FLAKY, &[("LOG", opens.to_str().unwrap())]);
    let config = RunConfig {
        nodes: vec!["n1".into(), "n2".into()],
        concurrency: 2,
        seed: 1,
        op_timeout: Duration::from_secs(10),
        nemesis_timeout: Duration::from_secs(5),
        time_limit: None,
        history_path: fake.path("history.jsonl"),
        progress: false,
    };
    let workload = Workload {
        generator: Gen::repeat(Op::new("read", Value::Null))
            .limit(9)
            .each_thread(),
        final_generator: None,
        clients: Arc::new(clients),
    };
    with_log(|| async {
        let summary = run(&config, workload, None, None).await.unwrap();
        assert_eq!((summary.ok, summary.info), (12, 6));
    });
    let text = std::fs::read_to_string(&config.history_path).unwrap();
    let (events, lines) = faultline_history::read_jsonl(text.as_bytes()).unwrap();
    let ops = faultline_history::pair(&events, &lines).unwrap();
    // Each worker: 3 processes of 3 ops, the last of each `info`; process ids p, p+2, p+4.
    let mut processes: Vec<u64> = ops.iter().map(|o| o.process).collect();
    processes.sort_unstable();
    processes.dedup();
    assert_eq!(processes, vec![0, 1, 2, 3, 4, 5]);
    let mut opened: Vec<u64> = std::fs::read_to_string(&opens)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    opened.sort_unstable();
    assert_eq!(opened, processes, "one instance per process, told its id");
}

#[test]
fn an_ok_that_contradicts_its_operation_is_info_quoting_it_and_counted() {
    let fake = Fake::new();
    let lies = fake.clients(
        ANSWERS,
        &[("ANSWER", r#"{"type":"ok","id":ID,"value":1001}"#)],
    );
    let log = with_log(|| async {
        let mut c = lies.open_process("n1", 4).await.unwrap();
        let got = c.invoke(&op("write", 1, json!(1))).await;
        let Completion::Info(Value::String(e)) = got else {
            panic!("recorded as {got:?}")
        };
        assert!(
            e.starts_with("client misbehaved: ok contradicts the operation: asked to write 1, answered ok with 1001: "),
            "{e}"
        );
        assert!(
            e.contains(r#""{\"type\":\"ok\",\"id\":1,\"value\":1001}""#),
            "quotes the answer: {e}"
        );
        c.close().await;
    });
    let m = lies.misbehaviour();
    assert_eq!(m.count, 1);
    let note = m.verdict_note().unwrap();
    assert!(
        note.contains("misbehaved 1 time(s)") && note.contains("no database is blamed"),
        "{note}"
    );
    let warnings = log.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("client process 4: ok contradicts invoke 1 (write)"),
        "{}",
        warnings[0]
    );

    // The same value written another way is no lie; the history keeps the invoked value.
    let fake = Fake::new();
    let honest = fake.clients(
        ANSWERS,
        &[("ANSWER", r#"{"type":"ok","id":ID,"value":1.0}"#)],
    );
    with_log(|| async {
        let mut c = honest.open_process("n1", 0).await.unwrap();
        assert_eq!(
            c.invoke(&op("write", 1, json!(1))).await,
            Completion::Ok(json!(1))
        );
        c.close().await;
    });
    assert_eq!(honest.misbehaviour().count, 0);
    assert_eq!(honest.misbehaviour().verdict_note(), None);
}

/// Starts a grandchild in a session of its own (pid in `$PIDS`), then never answers `open`.
const SILENT_WITH_ESCAPEE: &str = r#"
import os, subprocess, sys, time
child = subprocess.Popen(["setsid", "sleep", "3600"])
open(os.environ["PIDS"], "a").write("%d\n%d\n" % (os.getpid(), child.pid))
sys.stdin.readline()
time.sleep(3600)
"#;

#[test]
fn a_probe_that_gets_no_answer_to_open_ends_within_the_op_timeout_and_kills_everything() {
    let fake = Fake::new();
    let pids = fake.path("pids");
    let clients = fake.clients(SILENT_WITH_ESCAPEE, &[("PIDS", pids.to_str().unwrap())]);
    let log = with_log(|| async {
        let started = Instant::now();
        let e = clients
            .probe("n1", Duration::from_secs(4))
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "took {took:?}");
        assert_eq!(e, "no answer to open within the op timeout (4.0 s); killed");
    });
    let pids = fake.pids();
    assert_eq!(pids.len(), 2, "the client started");
    // `setsid sleep` left the instance's process group and session; it dies all the same.
    eventually_dead(&pids);
    assert_eq!(clients.misbehaviour().count, 1);
    assert_eq!(log.warnings().len(), 1, "{}", log.text());
}

/// Opens, starts a grandchild in a session of its own (pid in `$PIDS`), serves nothing.
const ESCAPES: &str = r#"
import json, os, subprocess, sys, time
child = subprocess.Popen(["setsid", "sleep", "3600"])
open(os.environ["PIDS"], "a").write("%d\n%d\n" % (os.getpid(), child.pid))
sys.stdin.readline()
print(json.dumps({"type": "open_ok"}), flush=True)
sys.stdin.readline()
"#;

#[test]
fn a_process_that_left_the_instances_session_dies_with_the_instance() {
    for close in [true, false] {
        let fake = Fake::new();
        let pids = fake.path("pids");
        let clients = fake.clients(ESCAPES, &[("PIDS", pids.to_str().unwrap())]);
        with_log(|| async {
            let mut c = clients.open_process("n1", 1).await.unwrap();
            if close {
                c.close().await;
            }
        });
        let pids = fake.pids();
        assert_eq!(pids.len(), 2);
        eventually_dead(&pids);
    }
}

/// Writes `$LINES` lines to stderr, then opens.
const CHATTY: &str = r#"
import json, os, sys
for i in range(int(os.environ["LINES"])):
    sys.stderr.write("line %d of noise\n" % i)
sys.stderr.flush()
sys.stdin.readline()
print(json.dumps({"type": "open_ok"}), flush=True)
sys.stdin.readline()
"#;

#[test]
fn a_clients_stderr_in_the_log_is_capped_with_a_note_of_what_was_dropped() {
    let fake = Fake::new();
    let clients = fake.clients(CHATTY, &[("LINES", "5000")]);
    let log = with_log(|| async {
        let mut c = clients.open_process("n1", 6).await.unwrap();
        c.close().await;
    });
    let text = log.text();
    let logged = text
        .lines()
        .filter(|l| l.contains("client process 6 stderr: line "))
        .count();
    assert_eq!(
        logged as u64,
        faultline_client_protocol::MAX_STDERR_LOG_LINES
    );
    assert!(text.contains("client process 6 stderr: line 999 of noise"));
    assert!(!text.contains("line 1000 of noise"));
    assert!(
        text.contains("client process 6 stderr: 4000 more lines (72000 bytes) not logged: at most 1000 lines per client process"),
        "{}",
        text.lines().last().unwrap_or("")
    );
}
