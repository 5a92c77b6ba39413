#!/usr/bin/env python3
"""Projector lag prober for bench/run.sh (python3 standard library only).

While wrk drives register load, registers one credit at a time (POST /register, expects 201), then polls
GET /records/{id} every ~1 ms until it answers 200. A sample's lag is the time from reading the 201 (the
command acknowledged) to reading the first 200 (the record visible in the read model): what a client
polling the API observes, so it includes one GET's latency. Samples are paced evenly over the window.

Prints one line: BENCH_RESULT {"samples": n, "p50_ms": ..., "p99_ms": ..., "max_ms": ..., ...}.
"""
import argparse
import http.client
import json
import os
import sys
import time


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list (p in 0..100)."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil(n * p / 100)
    return sorted_values[min(len(sorted_values), int(rank)) - 1]


class Client:
    """One keep-alive HTTP connection that reconnects after an error."""

    def __init__(self, port, timeout):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            response = self.conn.getresponse()
            data = response.read()
            return response.status, data
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seconds", type=float, required=True, help="stop taking samples after this long")
    parser.add_argument("--tag", required=True, help="makes this run's serial numbers unique")
    parser.add_argument("--sample-timeout", type=float, default=10.0,
                        help="give up on a credit that is not visible after this many seconds")
    parser.add_argument("--poll-interval", type=float, default=0.001)
    args = parser.parse_args()

    commands = Client(args.port, timeout=10)
    queries = Client(args.port, timeout=10)
    auth = {}
    if os.environ.get("LEDGER_BENCH_KEY"):  # bench/run.sh creates the key
        auth["Authorization"] = "Bearer " + os.environ["LEDGER_BENCH_KEY"]
    headers = {"Content-Type": "application/json", **auth}
    start = time.monotonic()
    deadline = start + args.seconds
    pace = args.seconds / max(1, args.samples)
    lags = []
    registers = []
    timeouts = 0
    unexpected = {}
    attempt = 0

    def note(what):
        unexpected[what] = unexpected.get(what, 0) + 1

    while len(lags) < args.samples:
        next_start = start + attempt * pace
        now = time.monotonic()
        if next_start > now:
            time.sleep(next_start - now)
        if time.monotonic() >= deadline:
            break
        attempt += 1
        body = json.dumps({"project_name": "Lag Probe", "registry": "BenchRegistry", "vintage": 2022,
                           "quantity": 1, "serial_number": f"LAG-{args.tag}-{attempt}"})
        sent = time.monotonic()
        try:
            status, data = commands.request("POST", "/register", body, headers)
        except (OSError, http.client.HTTPException) as e:
            note(f"POST {type(e).__name__}")
            continue
        acknowledged = time.monotonic()
        # The prober's own register latency, with when it was sent: places a stall of the command path in time.
        registers.append(((acknowledged - sent) * 1000.0, sent - start))
        if status != 201:
            note(f"POST {status}")
            continue
        record_id = json.loads(data)["id"]
        while True:
            try:
                status, _ = queries.request("GET", f"/records/{record_id}", headers=auth)
            except (OSError, http.client.HTTPException) as e:
                note(f"GET {type(e).__name__}")
                break
            if status == 200:
                lags.append(((time.monotonic() - acknowledged) * 1000.0, acknowledged - start))
                break
            if status != 404:
                note(f"GET {status}")
                break
            if time.monotonic() - acknowledged > args.sample_timeout:
                timeouts += 1
                break
            time.sleep(args.poll_interval)

    slowest = sorted(lags, reverse=True)[:5]
    lags = sorted(lag for lag, _ in lags)
    result = {
        "samples": len(lags),
        "p50_ms": percentile(lags, 50),
        "p90_ms": percentile(lags, 90),
        "p99_ms": percentile(lags, 99),
        "max_ms": lags[-1] if lags else None,
        "over_100ms": sum(1 for lag in lags if lag > 100),
        # [lag ms, when the command was acknowledged, in seconds after the prober started]
        "slowest": [[round(lag, 1), round(at, 2)] for lag, at in slowest],
        # The prober's POST /register latencies: [ms, sent at seconds after the prober started], slowest first.
        "register_slowest": [[round(ms, 1), round(at, 2)] for ms, at in sorted(registers, reverse=True)[:5]],
        "timeouts": timeouts,
        "unexpected": sum(unexpected.values()) + timeouts,
        "unexpected_statuses": unexpected,
    }
    print("BENCH_RESULT " + json.dumps(result), flush=True)
    return 0 if lags else 1


if __name__ == "__main__":
    sys.exit(main())
