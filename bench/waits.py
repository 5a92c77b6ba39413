#!/usr/bin/env python3
"""Sums up bench/wait_sampler.sql's samples of pg_stat_activity (python3 standard library only).

Reads the sampler's psql output (NOTICE lines "W|ms|backend type|state|wait type|wait event|query") and prints
what sessions were waiting on over the whole run, which background work ran when (checkpointer,
autovacuum, ...), and the slowest stretches: the windows with the most busy client sessions and what they
waited on. Usage: waits.py SAMPLER_OUTPUT [--window-ms 250] [--top 8]
"""
import argparse
import collections
import re
import sys

LINE = re.compile(r"NOTICE:\s+W\|(\d+)\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|(.*)$")


def kind(query):
    """A short name for what a session runs: the prepared statements are recognisable by their text."""
    q = query.strip().lower()
    for needle, name in (("with appended as", "append"), ("commit", "COMMIT"), ("unnest($1::uuid[])", "read_streams"),
                         ("from credit_records", "GET record"), ("projection_checkpoints", "checkpoint row"),
                         ("insert into credit_records", "project"), ("pg_snapshot_xmin", "horizon"),
                         ("transaction_id, position) >", "read_after"), ("api_keys", "api_keys")):
        if needle in q:
            return name
    return q[:40] or "-"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--window-ms", type=int, default=250)
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    ticks = set()
    client = collections.Counter()
    background = collections.Counter()
    background_windows = collections.defaultdict(set)
    windows = collections.defaultdict(collections.Counter)
    held = []
    for line in open(args.path, encoding="utf-8", errors="replace"):
        m = LINE.search(line.rstrip("\n"))
        if not m:
            continue
        ms, backend_type, state, wait_type, wait_event, xid, xact_ms, query = m.groups()
        ms = int(ms)
        ticks.add(ms)
        if xid and xact_ms:  # the longest-held transaction ids hold back the projector's horizon
            held.append((int(xact_ms), ms, state, f"{wait_type}:{wait_event}" if wait_type else "CPU", kind(query)))
        if backend_type == "client backend" and state != "active":
            continue
        wait = f"{wait_type}:{wait_event}" if wait_type else "CPU"
        window = ms // args.window_ms
        if backend_type == "client backend":
            client[(wait, kind(query))] += 1
            windows[window][(wait, kind(query))] += 1
        else:
            background[(backend_type, wait)] += 1
            background_windows[backend_type].add(window)
    if not ticks:
        print("waits.py: no samples", file=sys.stderr)
        return 1
    n = len(ticks)
    span_s = (max(ticks) - min(ticks)) / 1000.0
    print(f"{n} samples over {span_s:.1f} s; busy client sessions per sample, by wait and statement:")
    for (wait, what), count in client.most_common(args.top * 2):
        print(f"  {count / n:6.2f}  {wait:32s} {what}")
    print("background processes at work (share of samples):")
    for (backend_type, wait), count in background.most_common(args.top * 2):
        print(f"  {count / n:6.2f}  {backend_type:28s} {wait}")
    for backend_type, ws in sorted(background_windows.items()):
        spans, start, prev = [], None, None
        for w in sorted(ws):
            if start is None or w != prev + 1:
                if start is not None:
                    spans.append((start, prev))
                start = w
            prev = w
        spans.append((start, prev))
        text = ", ".join(f"{a * args.window_ms / 1000:.2f}-{(b + 1) * args.window_ms / 1000:.2f} s" for a, b in spans[:12])
        print(f"  {backend_type} busy at: {text}{' ...' if len(spans) > 12 else ''}")
    print("longest-held transaction ids (ms in the transaction, at ms into the run, state, wait, statement):")
    seen = set()
    for xact_ms, at, state, wait, what in sorted(held, reverse=True):
        if len(seen) >= args.top:
            break
        if at // 1000 in seen:
            continue  # one line per second of the run
        seen.add(at // 1000)
        print(f"  {xact_ms:7d} ms at {at / 1000:6.2f} s  {state:20s} {wait:28s} {what}")
    samples_per_window = max(1, n * args.window_ms / max(1.0, span_s * 1000))
    print(f"busiest {args.window_ms} ms windows (mean busy client sessions, then the top waits):")
    for window, counter in sorted(windows.items(), key=lambda kv: -sum(kv[1].values()))[:args.top]:
        total = sum(counter.values())
        tops = ", ".join(f"{wait} {what} {count / samples_per_window:.1f}" for (wait, what), count in counter.most_common(3))
        print(f"  {window * args.window_ms / 1000:7.2f} s  {total / samples_per_window:5.1f}  {tops}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
