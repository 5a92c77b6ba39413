-- Shared by the wrk scripts (loaded with dofile from the script's own directory).
-- Defines wrk's setup/response/done hooks: each thread counts responses whose status is the expected one
-- (the global `expected_status`, set by the script) and the others by status; done() adds them up over all
-- threads and prints one machine-readable line, BENCH_RESULT {json}, that bench/report.py parses.
-- Socket errors and timeouts (wrk's summary.errors) count as unexpected too. thread:get copies
-- numbers, strings and tables out of the thread's Lua state.

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "results.lua")

-- The API key (bench/run.sh creates one and exports LEDGER_BENCH_KEY): every request sends it.
local bench_key = os.getenv("LEDGER_BENCH_KEY")

-- `headers` plus Authorization: Bearer <LEDGER_BENCH_KEY> when that is set.
function with_auth(headers)
  headers = headers or {}
  if bench_key and bench_key ~= "" then headers["Authorization"] = "Bearer " .. bench_key end
  return headers
end

local threads = {}
local thread_count = 0

-- Main Lua state, once per thread before it starts: number the threads so each can own a slice of ids.
function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  thread:set("exhausted_n", 0)
  table.insert(threads, thread)
end

ok_n = 0
bad_n = 0
bad_by_status = {}

function response(status, headers, body)
  if status == expected_status then
    ok_n = ok_n + 1
  else
    bad_n = bad_n + 1
    bad_by_status[status] = (bad_by_status[status] or 0) + 1
    -- Keep a few sample bodies of unexpected answers for the log.
    if bad_n <= 3 then
      io.stderr:write(string.format("wrk: unexpected status %d: %s\n", status, tostring(body):sub(1, 300)))
    end
  end
end

function done(summary, latency, requests)
  local ok = sum_over_threads(threads, "ok_n")
  local bad = sum_over_threads(threads, "bad_n")
  local exhausted = sum_over_threads(threads, "exhausted_n")
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  local duration_s = summary.duration / 1e6
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_s": %.6f, "ok": %d, "rps": %.3f, "unexpected": %d, ' ..
    '"unexpected_statuses": {%s}, "socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"exhausted": %d, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, duration_s, ok, ok / duration_s, bad + socket_errors,
    json_counts(merge_over_threads(threads, "bad_by_status")), e.connect, e.read, e.write, e.timeout,
    exhausted, latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end

-- Reads one id per line; keeps the lines i (1-based) with (i - 1) % every == keep.
function read_ids(path, every, keep)
  local ids = {}
  local f = assert(io.open(path, "r"), "cannot open id file " .. tostring(path))
  local i = 0
  for line in f:lines() do
    if line ~= "" then
      if (i % every) == keep then table.insert(ids, line) end
      i = i + 1
    end
  end
  f:close()
  return ids
end
