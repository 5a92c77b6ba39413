#!/usr/bin/env python3
"""Disk probe for bench/run.sh (python3 standard library only): how long an fdatasync takes on the filesystem the
cluster's WAL is on, while the lag run's load runs, so a register stall can be told apart from a disk stall.

Every --interval-ms, writes 8 kB into a file in --dir and fdatasyncs it (about what a commit's WAL flush
costs the disk), for --seconds; 20 syncs/s is little next to PostgreSQL's hundreds. Prints one line:
BENCH_RESULT {"syncs": n, "p50_ms": ..., "p99_ms": ..., "max_ms": ..., "over_100ms": n, "slowest": [[ms, at s], ...]}.
"""
import argparse
import json
import os
import sys
import time


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list (p in 0..100)."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[min(len(sorted_values), int(rank)) - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--interval-ms", type=float, default=50.0)
    args = parser.parse_args()
    path = os.path.join(args.dir, "fsync-probe.dat")
    block = b"\0" * 8192
    syncs = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < args.seconds:
            os.pwrite(fd, block, (n % 128) * 8192)  # a 1 MiB ring: the file stops growing after the first lap
            t0 = time.monotonic()
            os.fdatasync(fd)
            syncs.append(((time.monotonic() - t0) * 1000.0, t0 - start))
            n += 1
            pause = start + n * args.interval_ms / 1000.0 - time.monotonic()
            if pause > 0:
                time.sleep(pause)
    finally:
        os.close(fd)
        os.unlink(path)
    ms = sorted(m for m, _ in syncs)
    result = {
        "syncs": len(ms), "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99), "max_ms": ms[-1] if ms else None,
        "over_100ms": sum(1 for m in ms if m > 100),
        # [ms, seconds after the probe started], slowest first
        "slowest": [[round(m, 1), round(at, 2)] for m, at in sorted(syncs, reverse=True)[:5]],
    }
    print("BENCH_RESULT " + json.dumps(result), flush=True)
    return 0 if ms else 1


if __name__ == "__main__":
    sys.exit(main())
