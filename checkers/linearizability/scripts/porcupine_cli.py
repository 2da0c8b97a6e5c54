#!/usr/bin/env python3
"""Porcupine corpus through the faultline CLI: per group and per file, the check_ms that
`faultline check --json FILE` reports for the file checked alone (one process per file, so
every figure includes what a user's run includes: thread-pool start, per-key set-up), beside
Porcupine's published figures (../shared/histories/porcupine/README.md, and the issue's c50
per-file figures from one run beside Porcupine on this machine kind).

Usage: porcupine_cli.py FAULTLINE_BINARY CORPUS_DIR [RUNS]   (median of RUNS, default 3)
"""
import json
import statistics
import subprocess
import sys
from pathlib import Path

# Porcupine's check time in ms, parsing excluded: group totals and the files it publishes.
PORCUPINE = {
    "etcd": {"total": 565.0, "etcd_002.log": 256.0, "etcd_007.log": 142.0},
    "kv split by key": {"total": 202.0, "c50-ok.txt": 156.6, "c50-bad.txt": 14.3},
    "c01+c10 kv --no-split": {"total": 5500.0, "c10-ok.txt": 2600.0, "c10-bad.txt": 2900.0},
}


def check_ms(binary, path, extra, runs):
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [binary, "check", "--json", *extra, str(path)], capture_output=True, text=True
        )
        record = json.loads(out.stdout)[0]
        times.append(record["check_ms"])
    return statistics.median(times), record["verdict"]


def main():
    binary, corpus = sys.argv[1], Path(sys.argv[2])
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    groups = [
        ("etcd", sorted((corpus / "etcd").glob("*.log")), []),
        ("kv split by key", sorted((corpus / "kv").glob("*.txt")), []),
        (
            "c01+c10 kv --no-split",
            sorted(p for p in (corpus / "kv").glob("c[01][01]-*.txt")),
            ["--no-split"],
        ),
        ("c50 kv --no-split", sorted((corpus / "kv").glob("c50-*.txt")), ["--no-split"]),
    ]
    print(f"{'group':<24} {'file':<14} {'verdict':<8} {'faultline ms':>13} {'Porcupine ms':>13} {'ratio':>7}")
    for name, files, extra in groups:
        published = PORCUPINE.get(name, {})
        total = 0.0
        for f in files:
            ms, verdict = check_ms(binary, f, extra, runs)
            total += ms
            ref = published.get(f.name)
            if ref is not None or name != "etcd":
                shown = f"{ref:13.1f} {ref / ms:6.1f}x" if ref else f"{'-':>13} {'':>7}"
                print(f"{name:<24} {f.name:<14} {verdict:<8} {ms:13.3f} {shown}")
        ref = published.get("total")
        shown = f"{ref:13.1f} {ref / total:6.1f}x" if ref else f"{'(none)':>13}"
        print(f"{name:<24} {'TOTAL':<14} {'':<8} {total:13.3f} {shown}")


if __name__ == "__main__":
    main()
