//! Every `faultline ...` command that README.md and docs/*.md show, and that needs no cluster,
//! runs as written and exits as the document says (issue 22). No Docker.
//!
//! The rules, for whoever writes the docs:
//! - A command is a line of a fenced code block that starts with `faultline ` or, in a
//!   transcript, `$ faultline ` (a line ending in `\` goes on on the next one). In a
//!   transcript, the lines up to the next `$ ` are its output: every one of them that starts
//!   with `faultline` (an error, a note) must be a line of what the command really prints.
//! - The exit status it must have: a trailing comment with `exit N` says N; one whose first
//!   word is `valid`, `invalid` or `unknown` says 0, 1 or 2; otherwise 0.
//! - Which commands run is decided by the subcommand: `check`, `gen`, `report`, `init`,
//!   `faults`, `workloads` and `help` run, and any command with `--help`, `-h` or `--version`;
//!   `test` runs with `--dry-run` added (every flag and the definition judged, nothing started),
//!   which must exit 0 whatever verdict the document gives the real run, and its shown output
//!   is not compared; `cluster`, `image`, `serve` and `clean` do not run (they need Docker or
//!   run until stopped). Any other word after `faultline` is an error (a typo in the docs).
//! - `<!-- no-run -->` on the line before a block: none of its commands run.
//! - `<!-- run -->` before a block: all of its commands run, whatever the subcommand: they are
//!   meant to fail on bad input before anything starts. `docker`, `docker-compose` and
//!   `debootstrap` are stubs that fail, so nothing can start a cluster all the same.
//! - `<!-- file: PATH -->` before a block: the block's text is written to PATH before the
//!   document's commands run.
//!
//! Each document runs its commands in order in a fresh directory of its own, where the
//! repository's `examples`, `dbs` and `docs` are linked, and `store/latest` is a finished
//! register run (valid), so `faultline report store/latest` and `faultline check store/latest`
//! have something to judge. Commands run through `bash -c`, with the built `faultline` first on
//! the PATH.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Subcommands whose commands run.
const RUN: &[&str] = &[
    "check",
    "gen",
    "report",
    "init",
    "faults",
    "workloads",
    "help",
];
/// Subcommands whose commands need a cluster, Docker or an interrupt: shown, not run (`test`
/// runs with `--dry-run`).
const SHOWN: &[&str] = &["test", "cluster", "image", "serve", "clean"];
/// The longest a documented command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// One documented command and what the document says about it.
#[derive(Debug, Clone, PartialEq)]
struct DocCommand {
    /// Where it is: `FILE:line N`.
    place: String,
    /// The command line, continuations joined, without `$ ` and the trailing comment.
    line: String,
    /// The exit status the document gives it.
    exit: i32,
    /// Lines of its shown output that must be in what it prints.
    expected_lines: Vec<String>,
    /// Whether it runs (by subcommand or a block marker).
    runs: bool,
}

/// What a document asks for: files to write first, then its commands in order.
#[derive(Debug, Default)]
struct DocPlan {
    files: Vec<(String, String)>,
    commands: Vec<DocCommand>,
    /// Mistakes in the document itself (an unknown subcommand).
    errors: Vec<String>,
}

/// The position of the ` #` that starts a shell comment outside quotes, if any.
fn comment_start(line: &str) -> Option<usize> {
    let (mut single, mut double) = (false, false);
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            b'#' if !single && !double && i > 0 && bytes[i - 1].is_ascii_whitespace() => {
                return Some(i)
            }
            _ => {}
        }
    }
    None
}

/// The exit status a trailing comment gives: `exit N`, or a first word valid/invalid/unknown.
fn exit_from_comment(comment: &str) -> i32 {
    let words: Vec<&str> = comment
        .split(|c: char| c.is_whitespace() || c == ':' || c == ',' || c == ';')
        .filter(|w| !w.is_empty())
        .collect();
    if let Some(i) = words.iter().position(|w| *w == "exit") {
        if let Some(n) = words.get(i + 1).and_then(|w| w.parse().ok()) {
            return n;
        }
    }
    match words.first().copied() {
        Some("invalid") => 1,
        Some("unknown") => 2,
        _ => 0,
    }
}

/// Whether a command runs, by its subcommand; `Err` for a word that is no subcommand.
fn runs_by_subcommand(line: &str) -> Result<bool, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words
        .iter()
        .any(|w| matches!(*w, "--help" | "-h" | "--version" | "-V"))
    {
        return Ok(true);
    }
    match words.get(1).copied() {
        Some(sub) if RUN.contains(&sub) => Ok(true),
        Some(sub) if SHOWN.contains(&sub) => Ok(false),
        Some(sub) if sub.starts_with(|c: char| c.is_ascii_lowercase()) => {
            Err(format!("`faultline {sub}` is no subcommand"))
        }
        _ => Ok(false),
    }
}

/// A block's marker: the HTML comment on the last non-blank line before its fence.
fn marker(lines: &[&str], fence: usize) -> Option<String> {
    let prev = lines[..fence].iter().rev().find(|l| !l.trim().is_empty())?;
    let t = prev.trim();
    t.strip_prefix("<!--")
        .and_then(|r| r.strip_suffix("-->"))
        .map(|m| m.trim().to_string())
}

/// Numbered lines of a block: (index in the document, text without the fence's indent).
type NumberedLines<'a> = Vec<(usize, &'a str)>;

/// The fenced blocks of a Markdown text: (index of the opening fence, the lines inside).
fn fenced_blocks<'a>(lines: &[&'a str]) -> Vec<(usize, NumberedLines<'a>)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String, NumberedLines)> = None;
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        match &mut open {
            None if t.starts_with("```") => {
                open = Some((i, line[..line.len() - t.len()].to_string(), Vec::new()))
            }
            Some((start, _, body)) if t.starts_with("```") => {
                blocks.push((*start, std::mem::take(body)));
                open = None;
            }
            Some((_, indent, body)) => {
                body.push((i, line.strip_prefix(indent.as_str()).unwrap_or(line)))
            }
            None => {}
        }
    }
    blocks
}

/// The commands of one block, in order.
fn block_commands(file: &str, body: &[(usize, &str)], forced: bool, plan: &mut DocPlan) {
    let mut k = 0;
    while k < body.len() {
        let (n, raw) = body[k];
        k += 1;
        let transcript = raw.trim_start().starts_with("$ ");
        let text = raw.trim_start().trim_start_matches("$ ");
        if !text.starts_with("faultline ") && text != "faultline" {
            continue;
        }
        let mut joined = text.to_string();
        while joined.trim_end().ends_with('\\') && k < body.len() {
            joined = joined.trim_end().trim_end_matches('\\').to_string() + " ";
            joined.push_str(body[k].1.trim());
            k += 1;
        }
        let (line, exit) = match comment_start(&joined) {
            Some(c) => (
                joined[..c].trim().to_string(),
                exit_from_comment(&joined[c + 1..]),
            ),
            None => (joined.trim().to_string(), 0),
        };
        let mut expected_lines = Vec::new();
        while transcript && k < body.len() && !body[k].1.trim_start().starts_with("$ ") {
            if body[k].1.starts_with("faultline") {
                expected_lines.push(body[k].1.trim_end().to_string());
            }
            k += 1;
        }
        let place = format!("{file}:line {}", n + 1);
        let runs = match runs_by_subcommand(&line) {
            Ok(r) => r || forced,
            Err(e) => {
                plan.errors.push(format!("{place}: {e}"));
                continue;
            }
        };
        let command = if !runs && line.split_whitespace().nth(1) == Some("test") {
            DocCommand {
                place,
                line: if line.split_whitespace().any(|w| w == "--dry-run") {
                    line
                } else {
                    format!("{line} --dry-run")
                },
                exit: 0,
                expected_lines: Vec::new(),
                runs: true,
            }
        } else {
            DocCommand {
                place,
                line,
                exit,
                expected_lines,
                runs,
            }
        };
        plan.commands.push(command);
    }
}

/// What the Markdown `text` of `file` asks to run.
fn plan(file: &str, text: &str) -> DocPlan {
    let lines: Vec<&str> = text.lines().collect();
    let mut plan = DocPlan::default();
    for (fence, body) in fenced_blocks(&lines) {
        let mark = marker(&lines, fence);
        if let Some(path) = mark.as_deref().and_then(|m| m.strip_prefix("file:")) {
            let content: String = body.iter().map(|(_, l)| format!("{l}\n")).collect();
            plan.files.push((path.trim().to_string(), content));
            continue;
        }
        match mark.as_deref() {
            Some("no-run") => {}
            Some("run") => block_commands(file, &body, true, &mut plan),
            _ => block_commands(file, &body, false, &mut plan),
        }
    }
    plan
}

/// The repository's root.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A directory of stubs for the tools that would start containers: each fails at once.
fn deny_dir(base: &Path) -> PathBuf {
    let dir = base.join("no-docker-here");
    std::fs::create_dir_all(&dir).unwrap();
    for tool in ["docker", "docker-compose", "debootstrap"] {
        let stub = dir.join(tool);
        std::fs::write(
            &stub,
            "#!/bin/sh\necho \"docs_commands: no $(basename \"$0\") in this test\" >&2\nexit 1\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

/// A fresh directory for one document: the repository's examples, dbs and docs linked, and a
/// finished register run (valid) at `store/latest`.
fn workdir(base: &Path, name: &str) -> PathBuf {
    let dir = base.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let root = repo_root().canonicalize().unwrap();
    for entry in ["examples", "dbs", "docs"] {
        std::os::unix::fs::symlink(root.join(entry), dir.join(entry)).unwrap();
    }
    let run = dir.join("store/etcd-register/20261130T054553.678Z");
    std::fs::create_dir_all(&run).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["gen", "register", "--ops", "200", "--keys", "3"])
        .args(["--processes", "5", "--info-rate", "0.05", "-o"])
        .arg(run.join("history.jsonl"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::write(
        run.join("test.json"),
        r#"{"workload":"register","op_timeout_s":5.0}"#,
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "etcd-register/20261130T054553.678Z",
        dir.join("store/latest"),
    )
    .unwrap();
    dir
}

/// Runs `command` in `dir`; returns its exit status (None: killed after the timeout) and
/// everything it printed.
fn run_command(command: &str, dir: &Path, deny: &Path) -> (Option<i32>, String) {
    let bin = Path::new(env!("CARGO_BIN_EXE_faultline")).parent().unwrap();
    let path = format!(
        "{}:{}:{}",
        deny.display(),
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out_file = dir.join(".docs-command-output");
    let out = std::fs::File::create(&out_file).unwrap();
    let mut child = Command::new("bash")
        .args(["-c", command])
        .current_dir(dir)
        .env("PATH", path)
        .env("FAULTLINE_STATE_DIR", dir.join(".state"))
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status,
        std::fs::read_to_string(&out_file).unwrap_or_default(),
    )
}

/// Runs a document's plan in `dir`; returns one line per command that did not do as documented.
fn run_plan(plan: &DocPlan, dir: &Path, deny: &Path) -> Vec<String> {
    let mut failures = plan.errors.clone();
    for (path, content) in &plan.files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, content).unwrap();
    }
    for c in plan.commands.iter().filter(|c| c.runs) {
        let (status, printed) = run_command(&c.line, dir, deny);
        if status != Some(c.exit) {
            failures.push(format!(
                "{}: `{}` exited with {status:?}, the document says {}; it printed:\n{printed}",
                c.place, c.line, c.exit
            ));
        }
        for want in &c.expected_lines {
            if !printed.lines().any(|l| l.trim_end() == want) {
                failures.push(format!(
                    "{}: `{}` did not print the line the document shows:\n  {want}\nit printed:\n{printed}",
                    c.place, c.line
                ));
            }
        }
    }
    failures
}

/// README.md and every docs/*.md, sorted.
fn documents() -> Vec<PathBuf> {
    let root = repo_root();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    docs.insert(0, root.join("README.md"));
    docs
}

#[test]
fn every_documented_command_that_needs_no_cluster_runs_as_written() {
    let base = tempfile::tempdir().unwrap();
    let deny = deny_dir(base.path());
    let mut failures = Vec::new();
    let mut ran = 0;
    for doc in documents() {
        let name = doc.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&doc).unwrap();
        let plan = plan(&name, &text);
        ran += plan.commands.iter().filter(|c| c.runs).count();
        let dir = workdir(base.path(), &name);
        failures.extend(run_plan(&plan, &dir, &deny));
    }
    assert!(
        failures.is_empty(),
        "{} documented commands did not do as written:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(
        ran >= 20,
        "only {ran} commands ran: is the extraction broken?"
    );
}

/// The pages the README and issue 22 promise exist, and each starts with a runnable example:
/// a fenced block before its second heading.
#[test]
fn each_docs_page_exists_and_starts_with_an_example() {
    let root = repo_root();
    for page in [
        "running-tests.md",
        "own-system.md",
        "checking.md",
        "reports.md",
        "performance.md",
        "ci.md",
        "troubleshooting.md",
        "findings.md",
        "db-definition.md",
    ] {
        let text = std::fs::read_to_string(root.join("docs").join(page))
            .unwrap_or_else(|e| panic!("docs/{page}: {e}"));
        assert!(
            text.contains(&format!("(docs/{page})"))
                || std::fs::read_to_string(root.join("README.md"))
                    .unwrap()
                    .contains(&format!("(docs/{page})")),
            "README.md does not link docs/{page}"
        );
        if matches!(page, "findings.md" | "db-definition.md") {
            continue;
        }
        let head = text.split("\n## ").next().unwrap();
        assert!(
            head.contains("```"),
            "docs/{page} does not start with an example"
        );
    }
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.lines().count() <= 160,
        "README.md has grown past a first read"
    );
}

/// The runner fails on a command the docs get wrong: a wrong exit status, an error message
/// that is not the real one, a subcommand that does not exist; and it skips what it must.
#[test]
fn a_wrong_documented_command_fails() {
    let doc = "\
```sh
faultline check missing.jsonl
faultline chek missing.jsonl
```

```
$ faultline check missing.jsonl          # exit 254
faultline: missing.jsonl: no such history
```

<!-- no-run -->
```
faultline check never-run.jsonl
```

```sh
faultline test --workload register       # invalid: run with --dry-run, which exits 0
faultline test --workload registr        # a typo: the dry run says so
faultline serve --port 0                 # shown, not run
faultline gen register --ops 10 --keys 1 --processes 2 -o ok.jsonl
faultline check ok.jsonl                 # valid
```
";
    let plan = plan("wrong.md", doc);
    let runs: Vec<&str> = plan
        .commands
        .iter()
        .filter(|c| c.runs)
        .map(|c| c.line.as_str())
        .collect();
    assert_eq!(
        runs,
        [
            "faultline check missing.jsonl",
            "faultline check missing.jsonl",
            "faultline test --workload register --dry-run",
            "faultline test --workload registr --dry-run",
            "faultline gen register --ops 10 --keys 1 --processes 2 -o ok.jsonl",
            "faultline check ok.jsonl",
        ]
    );
    let base = tempfile::tempdir().unwrap();
    let deny = deny_dir(base.path());
    let dir = workdir(base.path(), "wrong");
    let failures = run_plan(&plan, &dir, &deny);
    assert_eq!(failures.len(), 4, "{failures:#?}");
    assert!(failures[0].contains("`faultline chek` is no subcommand"));
    assert!(failures[1].contains("wrong.md:line 2: `faultline check missing.jsonl` exited with Some(254), the document says 0"));
    assert!(failures[2].contains("did not print the line the document shows"));
    assert!(failures[3].contains(
        "wrong.md:line 18: `faultline test --workload registr --dry-run` exited with Some(254)"
    ));
}

#[test]
fn trailing_comments_give_the_exit_status() {
    assert_eq!(exit_from_comment(" exit 1: invalid"), 1);
    assert_eq!(exit_from_comment(" invalid: stale reads"), 1);
    assert_eq!(exit_from_comment(" valid"), 0);
    assert_eq!(exit_from_comment(" unknown"), 2);
    assert_eq!(exit_from_comment(" check_ms: the check alone"), 0);
    let line = "faultline test --client 'python3 a.py # not a comment' # exit 2";
    assert_eq!(&line[comment_start(line).unwrap()..], "# exit 2");
    assert_eq!(comment_start("faultline check a#b.jsonl"), None);
}
