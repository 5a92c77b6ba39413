#!/usr/bin/env python3
"""bench/soak's verdict (python3 standard library only): reads what the soak collected, prints one Markdown
summary table, and exits 1 when a check fails (0 when all pass).

  soak_check.py --soak OUT --measure OUT --rss TSV --db TXT --target RATE [--max-rate RATE] ...

  --soak / --measure   wrk output with the SOAK_RESULT line of bench/soak_mixed.lua (measure may be empty)
  --rss                tab-separated samples: elapsed_s, serve_kib, project_kib, log_position (header first)
  --db                 "key value" lines: rows_/md5_projected, rows_/md5_rebuilt, only_projected,
                       only_rebuilt, events_total, events_<TYPE>, rebuild_summary

Checks: no unexpected status in the soak; achieved rate within +-rate-tolerance % of the target; for serve and project,
RSS at the end <= rss-limit x RSS at the start (the first sample at or after --warmup seconds); every
acknowledged command in the log; the rebuilt read model equal to the projected one.
"""
import argparse
import json
import sys

EXPECTED = {"register": 201, "sell": 200, "retire": 200, "get": 200}
EVENT_OF = {"register": "CREATED", "sell": "SOLD", "retire": "RETIRED"}


def soak_result(path):
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except FileNotFoundError:
        return None
    lines = [l for l in text.splitlines() if l.startswith("SOAK_RESULT ")]
    return json.loads(lines[-1][len("SOAK_RESULT "):]) if lines else None


def read_rss(path):
    samples = []
    with open(path, encoding="utf-8") as f:
        next(f, None)
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and all(p.isdigit() for p in parts):
                samples.append(tuple(int(p) for p in parts) + (None,) * (4 - len(parts)))
    return samples


def read_db(path):
    facts = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition(" ")
            if key:
                facts[key] = value
    return facts


def mib(kib):
    return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"


def ms(v):
    return "n/a" if v is None else (f"{v:.2f} ms" if v < 10 else f"{v:.1f} ms")


def counts_cell(counts):
    def order(item):
        kind, status = item[0].rsplit(" ", 1)
        return (list(EXPECTED).index(kind) if kind in EXPECTED else 99, status)
    parts = []
    for key, n in sorted(counts.items(), key=order):
        kind, status = key.rsplit(" ", 1)
        mark = "" if EXPECTED.get(kind) == int(status) else " (unexpected)"
        parts.append(f"{key}: {n:,}{mark}")
    return "; ".join(parts) or "none"


def sockets_cell(r):
    e = r.get("socket_errors") or {}
    bad = {k: v for k, v in e.items() if v}
    return ", ".join(f"{k} {v}" for k, v in bad.items()) or "none"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--soak", required=True)
    ap.add_argument("--measure", required=True)
    ap.add_argument("--rss", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--target", type=float, required=True)
    ap.add_argument("--max-rate", type=float)
    ap.add_argument("--load-percent", type=int, default=80)
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--rss-limit", type=float, default=1.5)
    ap.add_argument("--rate-tolerance", type=float, default=10, help="percent")
    ap.add_argument("--seconds", type=int)
    ap.add_argument("--connections", type=int)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--read-percent", type=int)
    ap.add_argument("--get-min-age", type=int)
    ap.add_argument("--auth", default="")
    args = ap.parse_args()

    rows = []
    failures = []

    def row(check, value, ok):
        rows.append([check, value, "n/a" if ok is None else ("yes" if ok else "**NO**")])
        if ok is False:
            failures.append(check)

    soak = soak_result(args.soak)
    if soak is None:
        raise SystemExit(f"soak_check.py: no SOAK_RESULT line in {args.soak}")
    measure = soak_result(args.measure)

    # Rate.
    if measure is not None:
        row("maximum (unthrottled measuring run)",
            f"{measure['rps']:,.0f} req/s over {measure['duration_s']:.0f} s (p50 {ms(measure['p50_ms'])}, "
            f"p99 {ms(measure['p99_ms'])}; unexpected {measure['unexpected']}, not judged)", None)
        target_label = f"{args.target:,.0f} req/s ({args.load_percent}% of the maximum)"
    else:
        target_label = f"{args.target:,.0f} req/s (SOAK_RATE)"
    deviation = soak["rps"] / args.target - 1 if args.target else None
    row(f"achieved rate vs target (±{args.rate_tolerance:g}%)",
        f"{soak['rps']:,.0f} req/s vs {target_label}: {deviation * 100:+.1f}%; "
        f"{soak['requests']:,} requests in {soak['duration_s']:.0f} s",
        deviation is not None and abs(deviation) * 100 <= args.rate_tolerance)
    row("latency, all requests (wrk, from send)",
        f"p50 {ms(soak['p50_ms'])}, p90 {ms(soak['p90_ms'])}, p99 {ms(soak['p99_ms'])}, max {ms(soak['max_ms'])}",
        None)

    # The command rate over time, from the log position at each sample (events per second between samples).
    samples = read_rss(args.rss)
    steps = [((b[3] - a[3]) / (b[0] - a[0]), b[0]) for a, b in zip(samples, samples[1:])
             if a[3] is not None and b[3] is not None and b[0] > a[0] and a[0] >= args.warmup
             and (args.seconds is None or b[0] <= args.seconds)]
    if steps:
        lo, hi = min(steps), max(steps)
        row("events appended per second, per sample interval after warm-up",
            f"min {lo[0]:,.0f} (interval ending at {lo[1]} s), max {hi[0]:,.0f} (at {hi[1]} s), "
            f"{len(steps)} intervals", None)

    # Statuses.
    row("statuses (expected: 201 register, 200 sell/retire/GET)", counts_cell(soak["counts"]), None)
    row("unexpected statuses, socket errors, timeouts",
        f"{soak['unexpected']} (socket errors/timeouts: {sockets_cell(soak)}); "
        f"{soak['lifecycles']:,} credits registered, sold and retired", soak["unexpected"] == 0)

    # RSS.
    for index, name in ((1, "serve"), (2, "project")):
        usable = [s for s in samples if s[index] > 0]
        start = next((s for s in usable if s[0] >= args.warmup), None)
        end = usable[-1] if usable else None
        if start is None or end is None or end is start:
            row(f"RSS {name}: end ≤ {args.rss_limit:g}× start", "not enough samples", False)
            continue
        peak = max(usable, key=lambda s: s[index])
        ratio = end[index] / start[index]
        row(f"RSS {name}: end ≤ {args.rss_limit:g}× start",
            f"start {mib(start[index])} (at {start[0]} s), end {mib(end[index])} (at {end[0]} s), "
            f"max {mib(peak[index])} (at {peak[0]} s); end/start {ratio:.2f}", ratio <= args.rss_limit)

    # The log holds every acknowledged command.
    db = read_db(args.db)
    acked = {kind: soak["counts"].get(f"{kind} {EXPECTED[kind]}", 0) for kind in EVENT_OF}
    for m in (measure,) if measure else ():
        for kind in EVENT_OF:
            acked[kind] += m["counts"].get(f"{kind} {EXPECTED[kind]}", 0)
    events = {t: int(db.get(f"events_{t}", "0") or 0) for t in EVENT_OF.values()}
    short = [f"{EVENT_OF[k]} {events[EVENT_OF[k]]:,} < {acked[k]:,} acknowledged" for k in EVENT_OF
             if events[EVENT_OF[k]] < acked[k]]
    row("every acknowledged command is in the log",
        f"events: {', '.join(f'{t} {n:,}' for t, n in events.items())} ({int(db.get('events_total', 0)):,} in all); "
        f"acknowledged (both runs): register {acked['register']:,}, sell {acked['sell']:,}, "
        f"retire {acked['retire']:,}" + (f"; {'; '.join(short)}" if short else ""), not short)

    # Rebuild equality.
    only_p, only_r = int(db.get("only_projected", -1)), int(db.get("only_rebuilt", -1))
    same = (only_p == 0 and only_r == 0 and db.get("rows_projected") == db.get("rows_rebuilt")
            and db.get("md5_projected") == db.get("md5_rebuilt"))
    row("read model = `carbon-ledger rebuild`",
        f"{int(db.get('rows_projected', 0)):,} rows projected, {int(db.get('rows_rebuilt', 0)):,} rebuilt; "
        f"rows only in the projected one {only_p}, only in the rebuilt one {only_r}; md5 "
        f"{'equal' if db.get('md5_projected') == db.get('md5_rebuilt') else 'DIFFERENT'} "
        f"({db.get('md5_projected', '?')[:12]}…); {db.get('rebuild_summary') or 'no rebuild summary'}", same)

    print(f"Soak: {args.seconds} s, {args.connections} connections, {args.threads} wrk threads, "
          f"{args.read_percent}% GETs (of credits acknowledged ≥ {args.get_min_age} s before), "
          f"RSS start after {args.warmup} s; auth: {args.auth}")
    print()
    print("| check | result | ok |")
    print("|---|---|---|")
    for r in rows:
        print("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    print()
    if failures:
        print("soak: FAILED: " + "; ".join(failures))
        return 1
    print("soak: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
