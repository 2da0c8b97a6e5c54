#!/usr/bin/env python3
"""Detection power, side by side: how often, and how soon, each schedule finds each known bug.

Runs every target K times (one cluster per target and schedule, as `--test-count` does) with
a fresh random seed, `--stop-on-anomaly` and a fixed 30 s workload, under three schedules:
the finding's own nemesis, `--nemesis random` and `--nemesis auto`. Prints one table: target,
schedule, runs, invalid runs, median and worst time to the first anomaly over all runs (a run
that found nothing counts as "never"); for the controls, which must stay valid, the invalid
runs are false positives.

    python3 benches/detect.py                      # every target, every schedule, K = 5
    python3 benches/detect.py -k 10 --schedule own --target etcd-register-stale
    python3 benches/detect.py --list

Each run's results.json (verdict, durations.first_anomaly_s) is read from the store. The
whole Docker part runs under `flock` on /tmp/faultline-docker.lock, one cluster at a time.
The schedules see effects only: nothing here tells `auto` which target it runs.
"""

import argparse
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name, kind (bug | control), the workload's flags, the finding's own nemesis flags.
TARGETS = [
    ("etcd-register-stale", "bug",
     "--db etcd --workload register --serializable-reads --op-timeout 1",
     "--nemesis partition --nemesis-interval 5"),
    ("etcd-append-stale", "bug",
     "--db etcd --workload append --serializable-reads --op-timeout 1",
     "--nemesis partition --nemesis-interval 5"),
    # Sentinel demotes a returning old primary only 8 s or more after it reappears (its
    # hard-coded wait), so the writes it took while cut off are gone only then: with the
    # default 10 s interval a 30 s run's one heal comes too late for the final read.
    ("redis-set-primary", "bug",
     "--db redis --workload set", "--nemesis partition-primaries --nemesis-interval 5"),
    ("redis-append-primary", "bug",
     "--db redis --workload append", "--nemesis partition-primaries --nemesis-interval 5"),
    ("etcd-lock-pause", "bug",
     "--db etcd --workload lock --op-timeout 10",
     "--nemesis pause-lock-holder --nemesis-interval 5"),
    ("etcd-lock-clock", "bug",
     "--db etcd --workload lock --clock-max-offset-ms 20000",
     "--nemesis clock-bump-monotonic-primaries --nemesis-interval 3"),
    ("redis-lock-clock", "bug",
     "--db redis --workload lock", "--nemesis clock-bump-forward-primaries --nemesis-interval 3"),
    ("tinykv-unsafe", "bug",
     "--db examples/tinykv/db.toml --client 'python3 examples/tinykv/client.py' "
     "--workload register", "--nemesis partition --nemesis-interval 5"),
    ("redis-replicas", "bug",
     "--db examples/dbs/redis-replicas --workload register", "--nemesis partition"),
    ("etcd-register-linearizable", "control",
     "--db etcd --workload register --op-timeout 1", "--nemesis partition --nemesis-interval 5"),
    ("etcd-lock-fenced", "control",
     "--db etcd --workload lock-fenced --op-timeout 10",
     "--nemesis pause-lock-holder --nemesis-interval 5"),
    ("tinykv-safe", "control",
     "--db examples/tinykv/safe.toml --client 'python3 examples/tinykv/client.py' "
     "--workload register", "--nemesis partition --nemesis-interval 5"),
    ("etcd-append", "control",
     "--db etcd --workload append --op-timeout 1", "--nemesis partition --nemesis-interval 5"),
]

SCHEDULES = {
    "own": None,
    "random": "--nemesis random",
    "auto": "--nemesis auto",
}


def run_series(binary, target, schedule, k, time_limit, store):
    """Runs one target under one schedule K times; the runs' (seed, verdict, first anomaly)."""
    name, _, workload, own = target
    nemesis = own if SCHEDULES[schedule] is None else SCHEDULES[schedule]
    seed = random.SystemRandom().randrange(1, 2**32)
    test_name = f"{name}-{schedule}"
    cmd = (
        ["flock", "/tmp/faultline-docker.lock", str(binary), "test"]
        + shlex.split(workload)
        + shlex.split(nemesis)
        + ["--time-limit", str(time_limit), "--test-count", str(k), "--seed", str(seed),
           "--stop-on-anomaly", "--store", str(store), "--name", test_name]
    )
    print("+ " + shlex.join(cmd[2:]), file=sys.stderr, flush=True)
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    log = store / f"{test_name}.log"
    log.write_text(proc.stdout)
    if proc.returncode == 254:
        # Bad input or a machine that cannot run a cluster: every target after it would fail
        # the same way, so stop with faultline's own line rather than a table of zeros.
        last = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
        print(f"detect: {test_name} could not start (exit 254, see {log}): {last}",
              file=sys.stderr)
        sys.exit(254)
    if proc.returncode not in (0, 1, 2):
        print(f"  exit {proc.returncode}; see {log}", file=sys.stderr)
    runs = []
    for results in sorted((store / test_name).glob("*/results.json")):
        r = json.loads(results.read_text())
        test = json.loads((results.parent / "test.json").read_text())
        runs.append((test.get("seed"), r.get("verdict"),
                     (r.get("durations") or {}).get("first_anomaly_s")))
    print(f"  {len(runs)} runs in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return runs


def row(target, schedule, runs):
    """One table row."""
    name, kind = target[0], target[1]
    invalid = [r for r in runs if r[1] == "invalid"]
    # A run that found nothing found it "never": the median is over every run, so a schedule
    # cannot look fast by finding the bug rarely.
    never = float("inf")
    firsts = [r[2] if r[1] == "invalid" and r[2] is not None else never for r in runs]
    fmt = lambda t: "never" if t == never else f"{t:.1f} s"
    median = fmt(statistics.median_high(firsts)) if firsts else "-"
    worst = fmt(max(firsts)) if firsts else "-"
    unknown = sum(1 for r in runs if r[1] == "unknown")
    found = f"{len(invalid)} of {len(runs)}"
    if kind == "control":
        found = f"{len(invalid)} false positive(s) of {len(runs)}"
    note = f" ({unknown} unknown)" if unknown else ""
    return f"| {name} | {kind} | {schedule} | {found}{note} | {median} | {worst} |"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-k", type=int, default=5, help="runs per target and schedule")
    p.add_argument("--time-limit", type=int, default=30)
    p.add_argument("--schedule", action="append", choices=list(SCHEDULES),
                   help="schedules to run (default: all)")
    p.add_argument("--target", action="append", help="targets to run (default: all)")
    p.add_argument("--store", default="/tmp/faultline-detect", help="where runs are kept")
    p.add_argument("--binary", default=str(ROOT / "target/release/faultline"))
    p.add_argument("--list", action="store_true", help="list the targets and exit")
    args = p.parse_args()
    if args.list:
        for name, kind, workload, own in TARGETS:
            print(f"{name:28} {kind:8} {workload} {own}")
        return 0
    targets = [t for t in TARGETS if not args.target or t[0] in args.target]
    unknown = set(args.target or []) - {t[0] for t in TARGETS}
    if unknown:
        print(f"detect.py: --target: no target named {', '.join(sorted(unknown))}; "
              "see --list", file=sys.stderr)
        return 254
    binary = Path(args.binary)
    if not binary.exists():
        print(f"detect.py: {binary}: no such binary; build it with "
              "cargo build --release -p faultline", file=sys.stderr)
        return 254
    store = Path(args.store) / time.strftime("%Y%m%dT%H%M%S")
    store.mkdir(parents=True, exist_ok=True)
    lines = ["| target | kind | schedule | invalid runs | median first anomaly | worst |",
             "|---|---|---|---|---|---|"]
    for target in targets:
        for schedule in args.schedule or list(SCHEDULES):
            runs = run_series(binary, target, schedule, args.k, args.time_limit, store)
            lines.append(row(target, schedule, runs))
            print(lines[-1], flush=True)
    table = "\n".join(lines)
    (store / "table.md").write_text(table + "\n")
    print(table)
    print(f"\nstore: {store}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
