//! The clock shim (image/clockshim.c), built here as the image build does (gcc -shared
//! -fPIC -O2) and preloaded into a small program: wall clocks move by the offset in the
//! file, re-read while the program runs; monotonic clocks do not move.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

const PROBE: &str = r#"
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
static void show(void) {
    struct timespec rt, mono;
    struct timeval tv;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    gettimeofday(&tv, NULL);
    printf("%ld %ld %ld %ld\n", (long)rt.tv_sec, (long)tv.tv_sec, (long)time(NULL), (long)mono.tv_sec);
    fflush(stdout);
}
int main(void) {
    char line[16];
    show();
    while (fgets(line, sizeof line, stdin)) show();
    return 0;
}
"#;

fn gcc(args: &[&str], out: &Path) {
    let status = Command::new("gcc")
        .args(args)
        .arg("-o")
        .arg(out)
        .status()
        .expect("gcc is needed (apt-get install -y gcc): the image build compiles the shim too");
    assert!(status.success(), "gcc {args:?} failed");
}

fn read_times(lines: &mut impl BufRead) -> Vec<i64> {
    let mut line = String::new();
    lines.read_line(&mut line).unwrap();
    line.split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect()
}

#[test]
fn shim_shifts_wall_clocks_by_the_offset_file_and_leaves_monotonic_alone() {
    let dir = tempfile::tempdir().unwrap();
    let shim_src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../image/clockshim.c");
    let shim = dir.path().join("shim.so");
    gcc(
        &[
            "-shared",
            "-fPIC",
            "-O2",
            "-Wall",
            "-Werror",
            shim_src.to_str().unwrap(),
        ],
        &shim,
    );
    let probe_src = dir.path().join("probe.c");
    std::fs::write(&probe_src, PROBE).unwrap();
    let probe = dir.path().join("probe");
    gcc(&["-O2", probe_src.to_str().unwrap()], &probe);
    let offset_file = dir.path().join("clock-offset");
    std::fs::write(&offset_file, "0\n").unwrap();

    let mut child = Command::new(&probe)
        .env("LD_PRELOAD", &shim)
        .env("FAULTLINE_CLOCK_OFFSET_FILE", &offset_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let before = read_times(&mut out);

    // +1000 s, then -3000 s: the running program sees each rewrite.
    for (offset, expected) in [(1_000_000_000_000i64, 1000i64), (-3_000_000_000_000, -3000)] {
        std::fs::write(&offset_file, format!("{offset}\n")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        writeln!(stdin, "again").unwrap();
        stdin.flush().unwrap();
        let after = read_times(&mut out);
        for i in 0..3 {
            let shift = after[i] - before[i];
            assert!(
                (expected..=expected + 2).contains(&shift),
                "wall clock {i} moved {shift} s, expected {expected} s"
            );
        }
        let mono_shift = after[3] - before[3];
        assert!(
            (0..=2).contains(&mono_shift),
            "monotonic moved {mono_shift} s"
        );
    }

    // Back to zero: the real time again.
    std::fs::write(&offset_file, "0\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    writeln!(stdin, "again").unwrap();
    let after = read_times(&mut out);
    assert!((0..=2).contains(&(after[0] - before[0])));
    drop(stdin);
    assert!(child.wait().unwrap().success());
}
