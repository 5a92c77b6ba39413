#!/usr/bin/env python3
"""The cost of the 10,000th carve of one block against the first (issue 10), for bench/run.sh.

Python 3 standard library only (http.client). Against a running serve (admin key in LEDGER_BENCH_KEY):

  1. registers one block of --quantity units (POST /register, 201) and sells it to --buyer (a known account:
     bench/run.sh creates its key), waits until GET /records/{id} shows it SOLD (the projector caught up),
     sends --samples untimed partial retires and GETs to another such block (a fresh serve's first commands
     are slower, which would flatter the ratio), and runs --checkpoint-cmd (bench/run.sh: a CHECKPOINT);
  2. "start": --get-samples sequential GET /records/{id} (the default history page), as many with
     ?history_limit=2, then --samples sequential partial retires (POST /records/{id}/retire {"quantity": 1}:
     carves 1..samples), one keep-alive connection, each timed from sending the request to reading the whole
     answer. The default page holds 2 entries at the start (CREATED, SOLD) and 100 after the carves, so its
     ratio includes a 50 times larger body; history_limit=2 gives the same body before and after (CREATED,
     SOLD), so its ratio is the cost of the carves alone;
  3. carves on: --concurrency threads send retires of quantity 1 to the same block until --carves carves in
     all have answered 200 (answers other than 200 are counted by status and problem type, and retried),
     pausing after 98 carves (version 100: the default history page is full; or right away when --samples
     is more) to time the default GET with the 100-entry body it also has after all the carves ("getfull");
  4. waits until GET shows the parent at version 2 + carves and children_count = carves, runs the checkpoint
     command, registers and sells a fresh control block, and measures "after": the same sequential GETs and
     retires (carves carves+1 .. carves+samples), each one interleaved with the same request on the control
     block (its first carves), so that the control's figures show what the machine gave at that moment; and
     GET ?history_after=<version - 2>&history_limit=2, the newest page of the 10,000-entry history.

Prints BENCH_RESULT {json}: medians (and p90, max) of each phase, ratios after/start and after/control, the
bulk phase's rate and answers, and "unexpected" (answers other than the expected ones, in every phase).
"""
import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time


class Client:
    """One keep-alive HTTP connection that reconnects after an error."""

    def __init__(self, port, timeout):
        self.port = port
        self.timeout = timeout
        self.conn = None
        self.last_used = 0.0

    IDLE_S = 3.0  # serve closes a keep-alive connection idle for LEDGER_HTTP_IDLE_TIMEOUT_MS (5 s by default)

    def request(self, method, path, body=None, headers=None):
        if self.conn is not None and time.monotonic() - self.last_used > self.IDLE_S:
            self.conn.close()  # not reused after a pause: the server may be closing it right now
            self.conn = None
        for attempt in (1, 2):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                data = response.read()
                self.last_used = time.monotonic()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return response.status, data
            except (OSError, http.client.HTTPException) as e:
                self.conn.close()
                self.conn = None
                # A GET on a reused connection the server closed meanwhile is sent once more; a POST is not
                # (it could have been executed).
                if not (attempt == 1 and reused and method == "GET" and
                        isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError))):
                    raise


def slug_of(data):
    try:
        return json.loads(data).get("type") or "-"
    except (ValueError, AttributeError):
        return "-"


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[min(len(sorted_values), int(rank)) - 1]


def summary(latencies_ms):
    s = sorted(latencies_ms)
    return {"median_ms": round(statistics.median(s), 3) if s else None, "p90_ms": percentile(s, 90),
            "max_ms": s[-1] if s else None, "n": len(s)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tag", required=True, help="makes this run's serial numbers unique")
    parser.add_argument("--samples", type=int, default=100, help="timed retires per phase")
    parser.add_argument("--get-samples", type=int, default=100, help="timed GETs of each kind per phase")
    parser.add_argument("--carves", type=int, default=10000, help="carves before the 'after' phase")
    parser.add_argument("--quantity", type=int, default=1000000, help="units of the block")
    parser.add_argument("--concurrency", type=int, default=16, help="connections carving in the bulk phase")
    parser.add_argument("--buyer", default="Bench Buyer")
    parser.add_argument("--checkpoint-cmd", default="", help="shell command run before each timed phase")
    parser.add_argument("--wait-seconds", type=float, default=300, help="bound on each wait for the projector")
    args = parser.parse_args()
    if args.samples < 1 or args.get_samples < 1 or args.carves < args.samples + 2 or args.concurrency < 1:
        parser.error("need samples >= 1, get-samples >= 1, carves >= samples + 2, concurrency >= 1")

    auth = {}
    if os.environ.get("LEDGER_BENCH_KEY"):
        auth["Authorization"] = "Bearer " + os.environ["LEDGER_BENCH_KEY"]
    json_headers = {"Content-Type": "application/json", **auth}
    retire_body = json.dumps({"quantity": 1, "beneficiary": "Bench Beneficiary", "reason": "benchmark carve"})
    unexpected = {}
    lock = threading.Lock()

    def note(phase, status, data):
        key = f"{phase} {status} {slug_of(data)}"
        with lock:
            unexpected[key] = unexpected.get(key, 0) + 1
            if sum(unexpected.values()) <= 5:
                print(f"carve_probe: unexpected answer in {phase}: {status} {data[:300]!r}", file=sys.stderr)

    client = Client(args.port, timeout=30)

    def must(method, path, body, expected, what):
        status, data = client.request(method, path, body=body, headers=json_headers if body else auth)
        if status != expected:
            raise SystemExit(f"carve_probe: {what} answered {status}, expected {expected}: {data[:500]!r}")
        return json.loads(data)

    def new_block(name):
        serial = f"CARVE-{args.tag}-{name}"
        created = must("POST", "/register", json.dumps({
            "project_name": "Bench Carve Project", "registry": "BenchRegistry", "vintage": 2020,
            "quantity": args.quantity, "serial_number": serial}), 201, f"register of {serial}")
        block_id = created["id"]
        must("POST", f"/records/{block_id}/sell", json.dumps({"buyer": args.buyer}), 200, f"sell of {serial}")
        return block_id

    def wait_for(block_id, version, children):
        deadline = time.monotonic() + args.wait_seconds
        last = None
        while time.monotonic() < deadline:
            status, data = client.request("GET", f"/records/{block_id}?history_limit=1", headers=auth)
            if status == 200:
                last = json.loads(data)
                if last.get("version") == version and last.get("children_count") == children:
                    return last
            time.sleep(0.05)
        raise SystemExit(f"carve_probe: {block_id} not at version {version} with {children} children within "
                         f"{args.wait_seconds:g} s (last seen: version {last and last.get('version')}, "
                         f"children {last and last.get('children_count')})")

    def checkpoint():
        if args.checkpoint_cmd:
            subprocess.run(args.checkpoint_cmd, shell=True, check=True, stdout=subprocess.DEVNULL)

    def timed(method, path, body, expected, phase):
        headers = json_headers if body else auth
        t0 = time.perf_counter()
        status, data = client.request(method, path, body=body, headers=headers)
        ms = (time.perf_counter() - t0) * 1000.0
        if status != expected:
            note(phase, status, data)
        return ms, status, data

    # ---- 1. one SOLD block, and a warm-up block: the first partial retires of a fresh serve are slower
    # (connections, prepared statements, caches), which would flatter the ratio; they go to the warm-up block
    warm = new_block("warmup")
    hot = new_block("hot")
    wait_for(warm, 2, 0)
    wait_for(hot, 2, 0)
    for _ in range(args.samples):
        client.request("POST", f"/records/{warm}/retire", body=retire_body, headers=json_headers)
        client.request("GET", f"/records/{warm}", headers=auth)
    checkpoint()
    for _ in range(3):  # warm the connection and the record's pages; not timed
        client.request("GET", f"/records/{hot}", headers=auth)

    # ---- 2. start: GETs, then the first carves
    get_start = [timed("GET", f"/records/{hot}", None, 200, "start-get")[0] for _ in range(args.get_samples)]
    get2_start = [timed("GET", f"/records/{hot}?history_limit=2", None, 200, "start-get2")[0]
                  for _ in range(args.get_samples)]
    retire_start = []
    for _ in range(args.samples):
        ms, status, data = timed("POST", f"/records/{hot}/retire", retire_body, 200, "start-retire")
        retire_start.append(ms)
    start_carves = args.samples

    # ---- 3. bulk: carve on until args.carves carves have answered 200, pausing once the default history page
    # is full (version 100: CREATED, SOLD and 98 SPLITs) to time the default GET with a 100-entry body
    bulk_answers = {}
    attempts_left = [3 * args.carves + 1000]
    bulk_seconds = [0.0]

    def bulk(count):
        remaining = [count]

        def carver():
            c = Client(args.port, timeout=30)
            while True:
                with lock:
                    if remaining[0] <= 0 or attempts_left[0] <= 0:
                        return
                    remaining[0] -= 1
                    attempts_left[0] -= 1
                try:
                    status, data = c.request("POST", f"/records/{hot}/retire", body=retire_body,
                                             headers=json_headers)
                except (OSError, http.client.HTTPException) as e:
                    status, data = "socket-error", repr(e).encode()
                key = f"{status} {slug_of(data)}" if status != 200 else "200"
                with lock:
                    bulk_answers[key] = bulk_answers.get(key, 0) + 1
                    if status != 200:
                        remaining[0] += 1  # not carved: send another
                if status != 200:
                    note("bulk", status, data)

        t0 = time.perf_counter()
        workers = [threading.Thread(target=carver) for _ in range(args.concurrency)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        bulk_seconds[0] += time.perf_counter() - t0

    page_carves = max(98, start_carves)
    get_full = []
    if args.carves > page_carves:
        if page_carves > start_carves:
            bulk(page_carves - start_carves)
        wait_for(hot, 2 + page_carves, page_carves)
        for _ in range(3):
            client.request("GET", f"/records/{hot}", headers=auth)
        get_full = [timed("GET", f"/records/{hot}", None, 200, "full-page-get")[0] for _ in range(args.get_samples)]
        bulk(args.carves - page_carves)
    else:
        bulk(args.carves - start_carves)
    bulk_seconds = bulk_seconds[0]
    bulk_ok = bulk_answers.get("200", 0)
    if start_carves + bulk_ok != args.carves:
        raise SystemExit(f"carve_probe: only {start_carves + bulk_ok} of {args.carves} carves answered 200 "
                         f"(answers: {bulk_answers})")

    # ---- 4. after: the projector caught up, then the next carves, interleaved with a fresh control block
    t_wait = time.perf_counter()
    parent = wait_for(hot, 2 + args.carves, args.carves)
    projector_wait_s = time.perf_counter() - t_wait
    control = new_block("control")
    wait_for(control, 2, 0)
    checkpoint()
    for _ in range(3):
        client.request("GET", f"/records/{control}", headers=auth)
        client.request("GET", f"/records/{hot}", headers=auth)
    get_after, get_control, get2_after, get2_control, getlast_after = [], [], [], [], []
    last_page = f"/records/{hot}?history_after={2 + args.carves - 2}&history_limit=2"
    for _ in range(args.get_samples):
        get_after.append(timed("GET", f"/records/{hot}", None, 200, "after-get")[0])
        get_control.append(timed("GET", f"/records/{control}", None, 200, "control-get")[0])
    for _ in range(args.get_samples):
        get2_after.append(timed("GET", f"/records/{hot}?history_limit=2", None, 200, "after-get2")[0])
        get2_control.append(timed("GET", f"/records/{control}?history_limit=2", None, 200, "control-get2")[0])
        getlast_after.append(timed("GET", last_page, None, 200, "after-getlast")[0])
    retire_after, retire_control = [], []
    last_remainder = None
    for _ in range(args.samples):
        ms, status, data = timed("POST", f"/records/{hot}/retire", retire_body, 200, "after-retire")
        retire_after.append(ms)
        if status == 200:
            last_remainder = json.loads(data).get("remainder")
        retire_control.append(timed("POST", f"/records/{control}/retire", retire_body, 200, "control-retire")[0])

    s = {k: summary(v) for k, v in (("get_start", get_start), ("retire_start", retire_start),
                                     ("get_after", get_after), ("retire_after", retire_after),
                                     ("get_control", get_control), ("retire_control", retire_control),
                                     ("get2_start", get2_start), ("get2_after", get2_after),
                                     ("get2_control", get2_control), ("getlast_after", getlast_after),
                                     ("getfull_start", get_full))}

    def ratio(a, b):
        return round(s[a]["median_ms"] / s[b]["median_ms"], 4) if s[b]["median_ms"] else None

    result = {
        "block": hot, "control_block": control, "quantity": args.quantity, "carves": args.carves,
        "samples": args.samples, "concurrency": args.concurrency,
        **{f"{k}_{m}": v[m] for k, v in s.items() for m in ("median_ms", "p90_ms", "max_ms")},
        "retire_ratio": ratio("retire_after", "retire_start"), "get_ratio": ratio("get_after", "get_start"),
        "retire_ratio_control": ratio("retire_after", "retire_control"),
        "get_ratio_control": ratio("get_after", "get_control"),
        "get2_ratio": ratio("get2_after", "get2_start"), "get2_ratio_control": ratio("get2_after", "get2_control"),
        "getlast_ratio": ratio("getlast_after", "get2_start"), "get_samples": args.get_samples,
        "getfull_ratio": ratio("get_after", "getfull_start") if get_full else None,
        "bulk_seconds": round(bulk_seconds, 3), "bulk_rate": round(bulk_ok / bulk_seconds, 1) if bulk_seconds else None,
        "bulk_answers": bulk_answers, "projector_wait_s": round(projector_wait_s, 3),
        "parent_version_before_after_phase": parent.get("version"), "final_remainder": last_remainder,
        "unexpected": sum(unexpected.values()), "unexpected_answers": unexpected,
    }
    print("BENCH_RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
