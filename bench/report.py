#!/usr/bin/env python3
"""Collects benchmark measurements and prints the result table (python3 standard library only).

bench/run.sh calls it in two ways:

  report.py add --results FILE --figure F --side ours|baseline --run N  SOURCE
      parses one run's output and appends one JSON line to FILE. SOURCE is one of
        --wrk OUT                 wrk output with the BENCH_RESULT line of bench/common.lua
        --pgbench OUT [--pgbench-logs PREFIX]
                                  pgbench output (tps), and its -l transaction logs for p50/p99
        --rebuild OUT --time OUT  `carbon-ledger rebuild` stderr (summary line) and /usr/bin/time output
        --copy OUT --rows N       psql \\timing output of bench/copy_baseline.sql
        --json TEXT               a ready result (lag prober line, memory)

  report.py table --results FILE --report docs/benchmarks.md [--meta KEY=VALUE ...]
      prints the Markdown table (medians over the runs of each figure and side) and rewrites the results
      section of the report (everything after the marker line; the intro above it is kept).
"""
import argparse
import glob
import json
import re
import statistics
import sys

MARKER = "<!-- bench/report.py writes everything below this line -->"
REGISTER_UNDER_LOAD_P99_MS = 50  # register p99 during the lag run (issue 9, section 7)
HOT_BLOCK_MIN_RATIO = 0.5        # partial retirements/s on one block against many blocks (issue 10)
CARVE_MAX_RATIO = 1.2            # latency after 10,000 carves against the first carves (issue 10)

DEFAULT_INTRO = """# Benchmarks

`make bench` (or `bash bench/run.sh` after `make build`) measures Carbon Ledger against plain PostgreSQL
baselines in the same run, on a fresh private PostgreSQL 15 cluster (durable: fsync on), and rewrites the
results section below. See bench/run.sh for the knobs (BENCH_SECONDS, BENCH_RUNS, ...).
"""


# ----------------------------------------------------------------------------------------------- parsing
def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list (p in 0..100)."""
    if not sorted_values:
        return None
    rank = -(-len(sorted_values) * p // 100)
    return sorted_values[min(len(sorted_values), max(1, int(rank))) - 1]


def bench_result_line(text, source):
    for line in text.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line[len("BENCH_RESULT "):])
    raise SystemExit(f"report.py: no BENCH_RESULT line in {source}")


def parse_wrk(path):
    text = open(path, encoding="utf-8", errors="replace").read()
    r = bench_result_line(text, path)
    extra = {k: r[k] for k in ("requests", "ok", "duration_s", "unexpected_statuses", "socket_errors",
                               "exhausted", "p90_ms", "max_ms")}
    for line in text.splitlines():  # bench/partial.lua: the answers other than 200 by status and problem type
        if line.startswith("BENCH_SLUGS "):
            extra["unexpected_problems"] = json.loads(line[len("BENCH_SLUGS "):])
    return {"rate": r["rps"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "unexpected": r["unexpected"],
            "extra": extra}


def parse_pgbench(path, log_prefix):
    text = open(path, encoding="utf-8", errors="replace").read()
    m = re.search(r"^tps = ([0-9.]+) \(without initial connection time\)", text, re.M)
    if not m:
        raise SystemExit(f"report.py: no tps line in pgbench output {path} (no transaction completed? a run "
                         f"shorter than pgbench's initial connection time ends with none):\n{text[-2000:]}")
    tps = float(m.group(1))
    processed = re.search(r"^number of transactions actually processed: (\d+)", text, re.M)
    failed = re.search(r"^number of failed transactions: (\d+)", text, re.M)
    result = {"rate": tps, "p50_ms": None, "p99_ms": None,
              "unexpected": int(failed.group(1)) if failed else 0,
              "extra": {"transactions": int(processed.group(1)) if processed else None}}
    if log_prefix:
        latencies = []
        files = sorted(glob.glob(glob.escape(log_prefix) + ".*"))
        for name in files:
            with open(name, encoding="utf-8", errors="replace") as f:
                for line in f:
                    fields = line.split()
                    # client_id transaction_no time(us) script_no time_epoch time_us ...
                    if len(fields) >= 3 and fields[2].isdigit():
                        latencies.append(int(fields[2]) / 1000.0)
        latencies.sort()
        result["p50_ms"] = percentile(latencies, 50)
        result["p99_ms"] = percentile(latencies, 99)
        result["extra"]["logged_transactions"] = len(latencies)
        result["extra"]["log_files"] = len(files)
    return result


def parse_rebuild(path, time_path):
    text = open(path, encoding="utf-8", errors="replace").read()
    m = re.search(r"rebuild: replayed (\d+) events into (\d+) records in ([0-9.]+) s \((\d+) events/s\)", text)
    if not m:
        raise SystemExit(f"report.py: no summary line in rebuild output {path}:\n{text[-2000:]}")
    events, records, seconds = int(m.group(1)), int(m.group(2)), float(m.group(3))
    extra = {"events": events, "records": records, "seconds": seconds}
    if time_path:
        t = re.search(r"BENCH_TIME ([0-9.]+) (\d+)", open(time_path, encoding="utf-8", errors="replace").read())
        if t:
            extra["wall_seconds"] = float(t.group(1))
            extra["max_rss_kib"] = int(t.group(2))
    return {"rate": events / seconds if seconds > 0 else None, "p50_ms": None, "p99_ms": None,
            "unexpected": 0, "extra": extra}


def parse_copy(path, rows):
    text = open(path, encoding="utf-8", errors="replace").read()
    times = re.findall(r"^Time: ([0-9.]+) ms", text, re.M)
    if len(times) != 1:
        raise SystemExit(f"report.py: expected one 'Time:' line (the COPY) in {path}, got {len(times)}:\n{text}")
    seconds = float(times[0]) / 1000.0
    return {"rate": rows / seconds, "p50_ms": None, "p99_ms": None, "unexpected": 0,
            "extra": {"rows": rows, "seconds": seconds}}


def cmd_add(args):
    if args.wrk:
        result = parse_wrk(args.wrk)
    elif args.pgbench:
        result = parse_pgbench(args.pgbench, args.pgbench_logs)
    elif args.rebuild:
        result = parse_rebuild(args.rebuild, args.time)
    elif args.copy:
        result = parse_copy(args.copy, args.rows)
    elif args.json:
        raw = args.json
        result = json.loads(raw[len("BENCH_RESULT "):] if raw.startswith("BENCH_RESULT ") else raw)
    else:
        raise SystemExit("report.py add: give one of --wrk, --pgbench, --rebuild, --copy, --json")
    record = {"figure": args.figure, "side": args.side, "run": args.run, **result}
    with open(args.results, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    print(summary_line(record), file=sys.stderr)


# ----------------------------------------------------------------------------------------------- table
def fmt_rate(v):
    return "n/a" if v is None else f"{v:,.0f}/s"


def fmt_ms(v):
    if v is None:
        return "n/a"
    return f"{v:.2f} ms" if v < 10 else f"{v:.1f} ms"


def fmt_ratio(v):
    # Truncated, not rounded, so a ratio just below a target never prints as reaching it.
    return "n/a" if v is None else f"{int(v * 100) / 100:.2f}×"


def fmt_ratio_up(v):
    # For "at most" targets: rounded up, so a ratio just above a limit never prints as within it.
    return "n/a" if v is None else f"{-(-int(v * 10000) // 100) / 100:.2f}×"


def fmt_mib(kib):
    return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"


def summary_line(r):
    if r["figure"] == "memory":
        return f"bench: memory: serve {fmt_mib(r.get('serve_kib'))}, project {fmt_mib(r.get('project_kib'))}"
    if r["figure"] == "lag":
        return (f"bench: lag: p50 {fmt_ms(r.get('p50_ms'))}, p99 {fmt_ms(r.get('p99_ms'))}, "
                f"{r.get('samples')} samples, unexpected {r.get('unexpected')}")
    if r["figure"] == "carve10k":
        return (f"bench: carve10k run {r['run']}: retire {fmt_ms(r.get('retire_start_median_ms'))} first, "
                f"{fmt_ms(r.get('retire_after_median_ms'))} after {r.get('carves')} carves (ratio "
                f"{r.get('retire_ratio')}; fresh control block then {fmt_ms(r.get('retire_control_median_ms'))}); "
                f"GET {fmt_ms(r.get('get_start_median_ms'))} -> {fmt_ms(r.get('get_after_median_ms'))} (ratio "
                f"{r.get('get_ratio')}); bulk {r.get('bulk_rate')}/s, answers {r.get('bulk_answers')}; "
                f"unexpected {r.get('unexpected')}")
    if r["figure"] == "disk":
        return (f"bench: disk fdatasync during the lag run: p50 {fmt_ms(r.get('p50_ms'))}, p99 {fmt_ms(r.get('p99_ms'))}, "
                f"max {fmt_ms(r.get('max_ms'))}, {r.get('over_100ms')} of {r.get('syncs')} over 100 ms; slowest "
                f"(ms, at s): {r.get('slowest')}")
    return (f"bench: {r['figure']} {r['side']} run {r['run']}: {fmt_rate(r.get('rate'))}, "
            f"p50 {fmt_ms(r.get('p50_ms'))}, p99 {fmt_ms(r.get('p99_ms'))}, unexpected {r.get('unexpected')}")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def group(records, figure, side):
    runs = [r for r in records if r["figure"] == figure and r["side"] == side]
    if not runs:
        return None
    return {
        "runs": len(runs),
        "rate": median([r.get("rate") for r in runs]),
        "p50_ms": median([r.get("p50_ms") for r in runs]),
        "p99_ms": median([r.get("p99_ms") for r in runs]),
        "unexpected": sum(int(r.get("unexpected") or 0) for r in runs),
        "exhausted": sum(int((r.get("extra") or {}).get("exhausted") or 0) for r in runs),
        "list": runs,
    }


def verdict(ok):
    return "n/a" if ok is None else ("yes" if ok else "**NO**")


def build_tables(records):
    rows = []
    notes = []

    def http_row(label, figure, target_ratio, p99_limit=None):
        ours, base = group(records, figure, "ours"), group(records, figure, "baseline")
        if ours is None:
            return
        ratio = ours["rate"] / base["rate"] if base and base["rate"] and ours["rate"] is not None else None
        if target_ratio is None:  # context only: judged on unexpected answers alone
            ok = None
            target = "none (context)"
        else:
            ok = None if ratio is None else ratio >= target_ratio
            target = f"≥ {target_ratio:.1f}×"
        if p99_limit is not None:
            target += f", p99 ≤ {p99_limit:g} ms"
            if ok is not None and ours["p99_ms"] is not None:
                ok = ok and ours["p99_ms"] <= p99_limit
        if ours["unexpected"]:
            ok = False
        ours_cell = (f"{fmt_rate(ours['rate'])} (p50 {fmt_ms(ours['p50_ms'])}, p99 {fmt_ms(ours['p99_ms'])}; "
                     f"unexpected {ours['unexpected']})")
        base_cell = "n/a" if base is None else (
            f"{fmt_rate(base['rate'])} (p50 {fmt_ms(base['p50_ms'])}, p99 {fmt_ms(base['p99_ms'])})")
        rows.append([label, ours_cell, base_cell, fmt_ratio(ratio), target, verdict(ok)])
        if ours["exhausted"]:
            notes.append(f"{label}: wrk threads ran out of ids {ours['exhausted']} times (re-sent ids answer 409).")
        if base and base["unexpected"]:
            notes.append(f"{label}: the baseline had {base['unexpected']} failed transactions.")
        problems = problem_counts(ours["list"])
        if problems:
            notes.append(f"{label}: answers other than 200, over all runs: " +
                         ", ".join(f"{k}: {v}" for k, v in sorted(problems.items())) + ".")

    http_row("register commands/s", "register", 2.0)
    # The verifiable log's cost: the same register load with the projector sealing against without (issue 12:
    # under 10%, a ratio of at least 0.9).
    http_row("register commands/s with the log sealed (baseline: not sealed)", "seal", 0.9)
    http_row("retire commands/s", "retire", 2.0)
    http_row("`GET /records/{id}`/s", "get", 1.0, p99_limit=10)
    partial_rows(records, rows, notes, http_row)

    lag = [r for r in records if r["figure"] == "lag"]
    load = None  # the lag run's register load (none without the lag row)
    if lag:
        r = lag[-1]
        load = group(records, "lag-load", "ours")
        load_rps = load["rate"] if load else None
        load_unexpected = load["unexpected"] if load else 0
        ok = r.get("p99_ms") is not None and r["p99_ms"] <= 100 and not r.get("unexpected") and not load_unexpected
        rows.append(["projector lag (ack → visible in GET)",
                     f"p50 {fmt_ms(r.get('p50_ms'))}, p99 {fmt_ms(r.get('p99_ms'))}, max {fmt_ms(r.get('max_ms'))} "
                     f"({r.get('samples')} samples, {r.get('over_100ms', '?')} over 100 ms; "
                     f"unexpected {r.get('unexpected')}) under {fmt_rate(load_rps)} register load "
                     f"(unexpected {load_unexpected})",
                     "—", "—", "p99 ≤ 100 ms", verdict(ok)])
    if load:
        # The register load of the lag run: the longest stretch of steady load in the suite, where a stall
        # (a checkpoint, a lock, a slow flush) shows. wrk corrects its percentiles for coordinated omission, so one
        # stall of every connection for a second puts p99 near a second however fast the other requests were.
        extra = (load["list"][-1].get("extra") or {})
        ok = load["p99_ms"] is not None and load["p99_ms"] <= REGISTER_UNDER_LOAD_P99_MS and not load_unexpected
        rows.append(["register latency under the lag run's load",
                     f"p50 {fmt_ms(load['p50_ms'])}, p99 {fmt_ms(load['p99_ms'])}, max {fmt_ms(extra.get('max_ms'))} "
                     f"at {fmt_rate(load_rps)} (unexpected {load_unexpected})",
                     "—", "—", f"p99 ≤ {REGISTER_UNDER_LOAD_P99_MS:g} ms", verdict(ok)])
    disk = [r for r in records if r["figure"] == "disk"]
    if disk:
        # Context for the two rows above, not a target: a commit cannot be quicker than the disk's fdatasync.
        d = disk[-1]
        rows.append(["disk: 8 kB fdatasync on the cluster's filesystem, during the lag run",
                     f"p50 {fmt_ms(d.get('p50_ms'))}, p99 {fmt_ms(d.get('p99_ms'))}, max {fmt_ms(d.get('max_ms'))} "
                     f"({d.get('syncs')} syncs, {d.get('over_100ms')} over 100 ms)", "—", "—", "(context)", "n/a"])

    ours, base = group(records, "rebuild", "ours"), group(records, "rebuild", "baseline")
    if ours:
        ratio = ours["rate"] / base["rate"] if base and base["rate"] else None
        ok = ours["rate"] is not None and ours["rate"] >= 100_000 and (ratio is None or ratio >= 0.25)
        if ratio is None:
            ok = None
        first = ours["list"][0].get("extra") or {}
        secs = median([(r.get("extra") or {}).get("seconds") for r in ours["list"]])
        rss = max([(r.get("extra") or {}).get("max_rss_kib") or 0 for r in ours["list"]]) or None
        base_cell = "n/a"
        if base:
            bsecs = median([(r.get("extra") or {}).get("seconds") for r in base["list"]])
            base_cell = f"{fmt_rate(base['rate'])} ({bsecs:.2f} s)"
        rows.append([f"rebuild events/s ({first.get('events', 0):,} events)",
                     f"{fmt_rate(ours['rate'])} ({secs:.2f} s; peak RSS {fmt_mib(rss)})",
                     base_cell, fmt_ratio(ratio), "≥ 0.25× and ≥ 100,000/s", verdict(ok)])

    ours, base = group(records, "verify", "ours"), group(records, "verify", "baseline")
    if ours:
        # Issue 12: at least 500,000 events/s; the baseline is PostgreSQL alone sending what verify reads.
        ratio = ours["rate"] / base["rate"] if base and base["rate"] else None
        ok = ours["rate"] is not None and ours["rate"] >= 500_000
        events = (ours["list"][0].get("extra") or {}).get("events", 0)
        rows.append([f"`carbon-ledger verify` events/s ({events:,} events; baseline: PostgreSQL's binary COPY of them, one stream a reader)",
                     fmt_rate(ours["rate"]), "n/a" if base is None else fmt_rate(base["rate"]), fmt_ratio(ratio),
                     "≥ 500,000/s", verdict(ok)])

    mem = [r for r in records if r["figure"] == "memory"]
    if mem:
        r = mem[-1]
        s, p = r.get("serve_kib"), r.get("project_kib")
        ok = s is not None and p is not None and s <= 64 * 1024 and p <= 64 * 1024
        rows.append(["memory, peak RSS (VmHWM) after the load",
                     f"serve {fmt_mib(s)}, project {fmt_mib(p)}", "—", "—", "≤ 64 MiB each", verdict(ok)])

    header = ["figure", "ours (median)", "baseline, same run (median)", "ratio", "target", "met"]
    main = markdown([header] + rows)

    raw_rows = [["figure", "side", "run", "rate", "p50", "p99", "unexpected", "detail"]]
    for r in records:
        if r["figure"] in ("lag", "memory", "disk", "carve10k"):
            continue
        extra = r.get("extra") or {}
        detail = ", ".join(f"{k} {round(v, 2) if isinstance(v, float) else v}" for k, v in extra.items()
                           if k in ("requests", "transactions", "unexpected_statuses", "unexpected_problems",
                                    "exhausted", "events",
                                    "seconds", "rows", "max_rss_kib", "wall_seconds") and v not in (None, {}, 0))
        raw_rows.append([r["figure"], r["side"], str(r["run"]), fmt_rate(r.get("rate")), fmt_ms(r.get("p50_ms")),
                         fmt_ms(r.get("p99_ms")), str(r.get("unexpected")), detail])
    raw = markdown(raw_rows)
    return main, raw, notes


def problem_counts(runs):
    total = {}
    for r in runs:
        for k, v in ((r.get("extra") or {}).get("unexpected_problems") or {}).items():
            total[k] = total.get(k, 0) + v
    return total


def partial_rows(records, rows, notes, http_row):
    """Issue 10: partial retirements over many blocks and on one block, and the 10,000th carve."""
    http_row("partial retirements/s, many blocks (`retire {\"quantity\": 1}`)", "partial", None)
    hot, many = group(records, "hot", "ours"), group(records, "partial", "ours")
    if hot:
        ratio = hot["rate"] / many["rate"] if many and many["rate"] and hot["rate"] is not None else None
        ok = None if ratio is None else ratio >= HOT_BLOCK_MIN_RATIO
        if hot["unexpected"]:
            ok = False
        rows.append(["partial retirements/s, one hot block (all connections on one parent)",
                     f"{fmt_rate(hot['rate'])} (p50 {fmt_ms(hot['p50_ms'])}, p99 {fmt_ms(hot['p99_ms'])}; "
                     f"unexpected {hot['unexpected']})",
                     "n/a" if many is None else f"many blocks, same run: {fmt_rate(many['rate'])}",
                     fmt_ratio(ratio), f"≥ {HOT_BLOCK_MIN_RATIO:.1f}× many blocks", verdict(ok)])
        problems = problem_counts(hot["list"])
        if problems:
            notes.append("partial retirements, one hot block: answers other than 200, over all runs: " +
                         ", ".join(f"{k}: {v}" for k, v in sorted(problems.items())) + ".")
    carve = [r for r in records if r["figure"] == "carve10k"]
    if carve:
        def med(key):
            return median([r.get(key) for r in carve])
        unexpected = sum(int(r.get("unexpected") or 0) for r in carve)
        carves, samples = carve[0].get("carves"), carve[0].get("samples")
        # (figure key, label, start key, after key, control key, ratio key, judged)
        kinds = [
            ("retire", f"partial retire latency after {carves:,} carves of one block vs carves 1..{samples}",
             "retire_start", "retire_after", "retire_control", "retire_ratio", True),
            ("get2", f"`GET /records/{{id}}?history_limit=2` latency after {carves:,} carves vs at the start "
                     f"(same body)", "get2_start", "get2_after", "get2_control", "get2_ratio", True),
            ("getlast", f"`GET` of the newest history page after {carves:,} carves vs `history_limit=2` at the start",
             "get2_start", "getlast_after", None, "getlast_ratio", True),
            ("getfull", f"`GET /records/{{id}}` (default page, 100 history entries) after {carves:,} carves vs "
                        f"after {max(98, samples)} (a full page)", "getfull_start", "get_after", None, "getfull_ratio", True),
            ("get", f"`GET /records/{{id}}` (default page: 2 history entries at the start, 100 after) after "
                    f"{carves:,} carves vs at the start", "get_start", "get_after", "get_control", "get_ratio", False),
        ]
        for what, label, start_key, after_key, control_key, ratio_key, judged in kinds:
            ratio = med(ratio_key)
            if ratio is None:
                continue
            n = samples if what == "retire" else carve[0].get("get_samples", samples)
            ok = (ratio <= CARVE_MAX_RATIO and not unexpected) if judged else None
            control_cell = "—"
            if control_key:
                control_cell = (f"fresh block at the same time: {fmt_ms(med(control_key + '_median_ms'))} "
                                f"(after/fresh {fmt_ratio_up(med(ratio_key + '_control'))})")
            rows.append([label,
                         f"{fmt_ms(med(after_key + '_median_ms'))} vs {fmt_ms(med(start_key + '_median_ms'))} "
                         f"(medians of {n} sequential requests, median over {len(carve)} run(s); "
                         f"unexpected {unexpected})",
                         control_cell, fmt_ratio_up(ratio),
                         f"≤ {CARVE_MAX_RATIO:.1f}×" if judged else "(context: body 50× larger)", verdict(ok)])
        answers = {}
        for r in carve:
            for k, v in (r.get("bulk_answers") or {}).items():
                answers[k] = answers.get(k, 0) + v
        notes.append(f"carve10k: the {carves:,} carves ({len(carve)} run(s); 16 concurrent connections, one block) "
                     f"at {', '.join(str(r.get('bulk_rate')) for r in carve)} carves/s; answers "
                     + ", ".join(f"{k}: {v}" for k, v in sorted(answers.items())) + "; per run, retire ratio "
                     + ", ".join(str(r.get("retire_ratio")) for r in carve) + ", GET history_limit=2 ratio "
                     + ", ".join(str(r.get("get2_ratio")) for r in carve) + ", default GET ratio "
                     + ", ".join(str(r.get("get_ratio")) for r in carve) + ".")
        if unexpected:
            notes.append("carve10k: unexpected answers: " + "; ".join(
                json.dumps(r.get("unexpected_answers")) for r in carve if r.get("unexpected")))


def markdown(rows):
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
    for row in rows[1:]:
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines)


def cmd_table(args):
    records = [json.loads(line) for line in open(args.results, encoding="utf-8") if line.strip()]
    meta = dict(item.split("=", 1) for item in args.meta)
    main, raw, notes = build_tables(records)
    print(main)
    for note in notes:
        print(f"\nNote: {note}")
    if not args.report:
        return
    try:
        existing = open(args.report, encoding="utf-8").read()
    except FileNotFoundError:
        existing = ""
    intro = existing.split(MARKER)[0].rstrip("\n") if MARKER in existing else DEFAULT_INTRO.rstrip("\n")
    out = [intro, "", MARKER, "", "## Results", ""]
    for key in ("date", "commit", "nproc", "cpu", "memory", "load", "postgres", "settings", "data", "command"):
        if key in meta:
            value = meta[key]
            out.append(f"- {key}: `{value}`" if key in ("command", "commit") else f"- {key}: {value}")
    out += ["", main, ""]
    for note in notes:
        out.append(f"Note: {note}\n")
    for r in records:
        if r["figure"] == "lag" and r.get("slowest"):
            out.append("Slowest lag samples (ms, at seconds into the lag run): " +
                       ", ".join(f"{lag} ms at {at} s" for lag, at in r["slowest"]) + "\n")
        if r["figure"] == "disk" and r.get("slowest"):
            out.append("Slowest disk fdatasyncs during the lag run (ms, at seconds into it): " +
                       ", ".join(f"{ms} ms at {at} s" for ms, at in r["slowest"]) + "\n")
        if r["figure"] == "lag" and r.get("register_slowest"):
            out.append("Slowest registers of the lag prober itself (ms, sent at seconds into the lag run): " +
                       ", ".join(f"{ms} ms at {at} s" for ms, at in r["register_slowest"]) + "\n")
    out += ["Medians over the runs of each figure and side; `unexpected` is the total over all runs (statuses",
            "other than the expected 201/200, plus socket errors and timeouts). wrk latencies are per request",
            "on a closed loop of 64 connections, corrected by wrk for coordinated omission; baseline latencies",
            "come from pgbench's per-transaction log and include the warm-up of its 64 fresh backends (the",
            "service's own connections are already warm).",
            "", "### Every run", "", raw, ""]
    with open(args.report, "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    print(f"\nbench: wrote {args.report}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description="benchmark results: collect runs, print the table")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add")
    add.add_argument("--results", required=True)
    add.add_argument("--figure", required=True)
    add.add_argument("--side", required=True, choices=["ours", "baseline"])
    add.add_argument("--run", type=int, default=1)
    add.add_argument("--wrk")
    add.add_argument("--pgbench")
    add.add_argument("--pgbench-logs")
    add.add_argument("--rebuild")
    add.add_argument("--time")
    add.add_argument("--copy")
    add.add_argument("--rows", type=int)
    add.add_argument("--json")
    table = sub.add_parser("table")
    table.add_argument("--results", required=True)
    table.add_argument("--report")
    table.add_argument("--meta", action="append", default=[], help="KEY=VALUE for the report header")
    args = parser.parse_args()
    if args.command == "add":
        cmd_add(args)
    else:
        cmd_table(args)


if __name__ == "__main__":
    main()
