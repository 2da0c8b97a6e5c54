//! faultline-clock (image/clockvdso.c), built here as the image build does, injected into
//! running programs on this machine: a Go program (static, reads time through the vDSO, as
//! etcd does) and a C program (glibc, through the vDSO too). Wall and monotonic clocks move
//! separately, reset, and a restarted program is injected again by the watcher. The preload
//! shim obeys the same control page. Nothing here changes this machine's clock: only what
//! the injected processes read.

use faultline_cluster::image::CLOCK_TOOL_CFLAGS;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const C_PROBE: &str = r#"
#include <stdio.h>
#include <time.h>
int main(void) {
    char line[16];
    do {
        struct timespec w, m;
        clock_gettime(CLOCK_REALTIME, &w);
        clock_gettime(CLOCK_MONOTONIC, &m);
        printf("%lld %lld\n", (long long)w.tv_sec * 1000000000LL + w.tv_nsec,
               (long long)m.tv_sec * 1000000000LL + m.tv_nsec);
        fflush(stdout);
    } while (fgets(line, sizeof line, stdin));
    return 0;
}
"#;

const GO_PROBE: &str = r#"package main

import (
	"bufio"
	"fmt"
	"os"
	"time"
)

func main() {
	start := time.Now()
	in := bufio.NewReader(os.Stdin)
	for {
		now := time.Now()
		fmt.Printf("%d %d\n", now.UnixNano(), int64(now.Sub(start)))
		if _, err := in.ReadString('\n'); err != nil {
			return
		}
	}
}
"#;

const SECOND: i64 = 1_000_000_000;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Tools {
    dir: tempfile::TempDir,
    clock: PathBuf,
    control: PathBuf,
}

impl Tools {
    fn build() -> Tools {
        let dir = tempfile::tempdir().unwrap();
        let clock = dir.path().join("faultline-clock");
        run(Command::new("gcc")
            .args(CLOCK_TOOL_CFLAGS)
            .arg("-Werror")
            .arg("-o")
            .arg(&clock)
            .arg(repo().join("image/clockvdso.c")));
        let control = dir.path().join("clock-control");
        Tools {
            dir,
            clock,
            control,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.clock);
        c.args(args).env("FAULTLINE_CLOCK_CONTROL", &self.control);
        c
    }

    fn clock(&self, args: &[&str]) -> String {
        run(&mut self.cmd(args))
    }

    fn c_probe(&self) -> PathBuf {
        let src = self.dir.path().join("probe.c");
        std::fs::write(&src, C_PROBE).unwrap();
        let bin = self.dir.path().join("cprobe");
        run(Command::new("gcc").arg("-O2").arg("-o").arg(&bin).arg(&src));
        bin
    }

    fn go_probe(&self) -> PathBuf {
        let src = self.dir.path().join("probe.go");
        std::fs::write(&src, GO_PROBE).unwrap();
        let bin = self.dir.path().join("gprobe");
        let cache = self.dir.path().join("gocache");
        let out = Command::new("go")
            .arg("build")
            .arg("-o")
            .arg(&bin)
            .arg(&src)
            .env("CGO_ENABLED", "0")
            .env("GOCACHE", &cache)
            .env("HOME", self.dir.path())
            .output()
            .expect("go is needed for this test (apt-get install -y golang-go, as the README's test command does)");
        assert!(out.status.success(), "go build: {out:?}");
        bin
    }
}

/// A running probe: each line sent makes it print `<wall ns> <monotonic ns>`.
struct Probe {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Probe {
    fn start(bin: &Path, preload: Option<(&Path, &Path)>) -> Probe {
        let mut cmd = Command::new(bin);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        if let Some((shim, control)) = preload {
            cmd.env("LD_PRELOAD", shim)
                .env("FAULTLINE_CLOCK_CONTROL", control)
                .env("FAULTLINE_CLOCK_OFFSET_FILE", "/nonexistent");
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        Probe {
            child,
            stdin,
            stdout,
        }
    }

    /// (wall clock minus this machine's true wall clock, monotonic reading), ns.
    fn read(&mut self) -> (i64, i64) {
        let before = unix_ns();
        self.stdin.write_all(b"\n").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let after = unix_ns();
        let v: Vec<i64> = line
            .split_whitespace()
            .map(|w| w.parse().unwrap())
            .collect();
        (v[0] - (before + after) / 2, v[1])
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unix_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn assert_near(what: &str, got: i64, want: i64, slack: i64) {
    assert!(
        (got - want).abs() <= slack,
        "{what}: got {:.3} s, expected {:.3} s (± {:.3} s)",
        got as f64 / 1e9,
        want as f64 / 1e9,
        slack as f64 / 1e9
    );
}

/// Moves, rates and resets both clocks of a running probe; true time on this machine stays.
fn exercise(tools: &Tools, probe: &mut Probe, name: &str) {
    let slack = SECOND / 5;
    let (w0, m0) = probe.read();
    assert_near(&format!("{name}: wall before"), w0, 0, slack);
    tools.clock(&["inject", &probe.pid().to_string()]);
    let (w1, m1) = probe.read();
    assert_near(&format!("{name}: wall once injected"), w1, 0, slack);
    assert!(m1 >= m0);

    tools.clock(&[
        "set",
        "--wall",
        "-3600000000000",
        "--mono-bump",
        "5000000000",
    ]);
    let (w2, m2) = probe.read();
    assert_near(
        &format!("{name}: wall an hour back"),
        w2,
        -3600 * SECOND,
        slack,
    );
    assert_near(
        &format!("{name}: monotonic 5 s ahead"),
        m2 - m1,
        5 * SECOND,
        slack,
    );

    tools.clock(&["set", "--mono-rate", "10"]);
    let (_, m3) = probe.read();
    let t = Instant::now();
    std::thread::sleep(Duration::from_millis(400));
    let (_, m4) = probe.read();
    let real = t.elapsed().as_nanos() as i64;
    let ratio = (m4 - m3) as f64 / real as f64;
    assert!(
        (8.0..=12.0).contains(&ratio),
        "{name}: a 10x monotonic rate ran at {ratio:.2}x"
    );

    tools.clock(&["set", "--reset"]);
    let (w5, m5) = probe.read();
    assert_near(&format!("{name}: wall reset"), w5, 0, slack);
    assert!(m5 >= m4, "{name}: monotonic went back at the reset");
    let t = Instant::now();
    std::thread::sleep(Duration::from_millis(200));
    let (_, m6) = probe.read();
    let ratio = (m6 - m5) as f64 / t.elapsed().as_nanos() as f64;
    assert!(
        (0.8..=1.2).contains(&ratio),
        "{name}: after the reset monotonic ran at {ratio:.2}x"
    );
    // Injecting twice leaves the process as it is.
    tools.clock(&["inject", &probe.pid().to_string()]);
    let (w7, _) = probe.read();
    assert_near(&format!("{name}: wall after a second inject"), w7, 0, slack);
}

#[test]
fn moves_wall_and_monotonic_clocks_of_running_c_and_go_programs() {
    let tools = Tools::build();
    let c = tools.c_probe();
    let go = tools.go_probe();
    for (name, bin) in [("C", &c), ("Go", &go)] {
        let mut probe = Probe::start(bin, None);
        exercise(&tools, &mut probe, name);
        // The control page keeps its monotonic offset (it never goes back); start afresh.
        std::fs::remove_file(&tools.control).unwrap();
    }
}

#[test]
fn a_restarted_program_is_injected_again_by_the_watcher() {
    let tools = Tools::build();
    let go = tools.go_probe();
    let pids = tools.dir.path().join("run");
    std::fs::create_dir_all(&pids).unwrap();
    let mut watcher = tools
        .cmd(&["watch", pids.to_str().unwrap()])
        .spawn()
        .unwrap();
    tools.clock(&["set", "--wall", "120000000000"]);
    let mut seen = Vec::new();
    for round in 0..2 {
        // A fresh process each round, as after a kill fault: only its pid file names it.
        let mut probe = Probe::start(&go, None);
        std::fs::write(pids.join("db.pid"), format!("{}\n", probe.pid())).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let wall = loop {
            let (w, _) = probe.read();
            if (w - 120 * SECOND).abs() < SECOND / 5 || Instant::now() > deadline {
                break w;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        seen.push(wall);
        assert_near(
            &format!("restart {round}: wall"),
            wall,
            120 * SECOND,
            SECOND / 5,
        );
        drop(probe);
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    assert_eq!(seen.len(), 2);
}

#[test]
fn the_probe_and_the_preload_shim_obey_the_same_control_page() {
    let tools = Tools::build();
    tools.clock(&["set", "--wall", "-7000000000", "--mono-bump", "3000000000"]);
    let out = tools.clock(&["probe"]);
    let v: Vec<i64> = out.split_whitespace().map(|w| w.parse().unwrap()).collect();
    assert_near("probe: wall", v[0], -7 * SECOND, SECOND / 10);
    assert_near("probe: monotonic", v[1], 3 * SECOND, SECOND / 10);

    let shim = tools.dir.path().join("shim.so");
    run(Command::new("gcc")
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o"])
        .arg(&shim)
        .arg(repo().join("image/clockshim.c")));
    let c = tools.c_probe();
    let mut plain = Probe::start(&c, None);
    let mut shimmed = Probe::start(&c, Some((&shim, &tools.control)));
    let (w, m) = shimmed.read();
    let (_, m_true) = plain.read();
    assert_near("shim: wall", w, -7 * SECOND, SECOND / 5);
    assert_near("shim: monotonic", m - m_true, 3 * SECOND, SECOND / 5);
    tools.clock(&["set", "--reset"]);
    let (w, m2) = shimmed.read();
    assert_near("shim: wall reset", w, 0, SECOND / 5);
    assert!(m2 >= m, "shim: monotonic went back at the reset");
}

#[test]
fn bad_arguments_are_one_line_and_exit_254() {
    let tools = Tools::build();
    for args in [
        &["set", "--mono-bump", "-5"][..],
        &["set", "--wall-rate", "0"],
        &["set", "--frobnicate", "1"],
        &["inject", "notapid"],
        &["sideways"],
    ] {
        let out = tools.cmd(args).output().unwrap();
        assert_eq!(out.status.code(), Some(254), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.trim().is_empty(), "{args:?}");
    }
    let out = tools.cmd(&["inject", "999999999"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such process"));
}
