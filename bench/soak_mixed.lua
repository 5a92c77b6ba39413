-- wrk script for bench/soak: a paced mix of commands and reads.
--
-- Every credit goes through its whole lifecycle in order: POST /register (expect 201), then, only after that
-- 201 has arrived, POST /records/{id}/sell (expect 200), then after that 200 POST /records/{id}/retire
-- (expect 200). Each wrk thread keeps its own queues of credits waiting to be sold and retired; a command slot
-- serves the retire queue first, then the sell queue, and registers a new credit only when both are empty, so
-- the queues stay short and every register is followed by a sell and a retire. A read slot (READ_PERCENT of
-- all requests, drawn at random) GETs a credit this thread registered at least GET_MIN_AGE seconds ago (expect
-- 200: the projector must have caught up by then, so a 404 is unexpected); while no credit is that old, the
-- slot sends a command instead.
--
-- Every request carries X-Request-Id "<kind>:<...>" (R register, S sell, T retire, G get), which the server
-- echoes, so response() knows what it answers whichever connection it came on. With a key file, every request
-- carries Authorization: Bearer <key>.
--
-- Pacing: wrk's delay() hook (milliseconds before a connection sends its next request) hands out send slots
-- from a per-thread schedule, one every THREADS/RATE seconds, so the thread's rate is RATE/THREADS as long as
-- its connections keep up (latency < connections per thread x interval). A thread that falls more than 1 s
-- behind drops the backlog instead of bursting (the achieved rate then shows it). RATE 0 = unthrottled.
-- wrk measures latency from the moment a request is sent, after the delay, so pacing is not in it.
--
-- Prints one line: SOAK_RESULT {json} with requests, duration, rate, counts by "<kind> <status>",
-- unexpected (statuses other than the expected ones, answers without a recognisable X-Request-Id, 201s
-- without an id, and socket errors/timeouts), lifecycles completed, and latency percentiles (all requests).
--
-- Usage: wrk -t T -c C -d 600s --latency -s bench/soak_mixed.lua URL -- RATE THREADS TAG [KEY_FILE]
--          [READ_PERCENT] [GET_MIN_AGE]
-- (KEY_FILE "" or "-" = no Authorization header; defaults READ_PERCENT 50, GET_MIN_AGE 2.)

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "results.lua")

local has_ffi, ffi = pcall(require, "ffi")
assert(has_ffi, "bench/soak_mixed.lua needs wrk built with LuaJIT (its ffi module gives the clock)")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } soak_timespec_t;
  int clock_gettime(int clock_id, soak_timespec_t *tp);
]]
local ts = ffi.new("soak_timespec_t")
local function now()  -- CLOCK_MONOTONIC, seconds
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

-- ------------------------------------------------------------------------------------------ main state
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

-- ------------------------------------------------------------------------------------------ per thread
local KINDS = { R = "register", S = "sell", T = "retire", G = "get" }
local EXPECTED = { R = 201, S = 200, T = 200, G = 200 }
local GET_WINDOW = 50000   -- GETs draw from this thread's last GET_WINDOW eligible registrations

local interval = 0         -- seconds between this thread's send slots (0 = unthrottled)
local next_slot = nil
local tag = "soak"
local read_fraction = 0.5
local get_min_age = 2.0
local base_headers = {}

local sell_q, sell_head, sell_tail = {}, 1, 0
local retire_q, retire_head, retire_tail = {}, 1, 0
local reg_ids, reg_times, reg_n, eligible, oldest = {}, {}, 0, 0, 1
local n = 0

-- Copied out by done() (globals, so thread:get sees them).
counts = {}
unexpected_n = 0
lifecycles_n = 0

function init(args)
  local rate = tonumber(args[1] or "0") or 0
  local nthreads = tonumber(args[2] or "1") or 1
  tag = args[3] or tostring(os.time())
  local key_file = args[4] or ""
  read_fraction = (tonumber(args[5] or "50") or 50) / 100
  get_min_age = tonumber(args[6] or "2") or 2
  if rate > 0 then interval = nthreads / rate end
  base_headers = {}
  if key_file ~= "" and key_file ~= "-" then
    local f = assert(io.open(key_file, "r"), "cannot open key file " .. key_file)
    local key = (f:read("*a") or ""):gsub("%s+", "")
    f:close()
    assert(key ~= "", "empty key file " .. key_file)
    base_headers["Authorization"] = "Bearer " .. key
  end
  math.randomseed(os.time() * 1000 + tid)
end

function delay()
  if interval == 0 then return 0 end
  local t = now()
  if next_slot == nil or next_slot < t - 1.0 then next_slot = t end
  local slot = next_slot
  next_slot = next_slot + interval
  local ms = (slot - t) * 1000
  if ms < 0 then return 0 end
  return ms
end

local function headers_with(rid, json)
  local h = {}
  for k, v in pairs(base_headers) do h[k] = v end
  if json then h["Content-Type"] = "application/json" end
  h["X-Request-Id"] = rid
  return h
end

-- A credit this thread registered at least get_min_age seconds ago, or nil.
local function get_id(t)
  local limit = t - get_min_age
  while eligible < reg_n and reg_times[eligible + 1] <= limit do eligible = eligible + 1 end
  if eligible == 0 then return nil end
  while oldest < eligible - GET_WINDOW do   -- forget what has slid out of the window
    reg_ids[oldest], reg_times[oldest] = nil, nil
    oldest = oldest + 1
  end
  return reg_ids[math.random(oldest, eligible)]
end

function request()
  n = n + 1
  if read_fraction > 0 and math.random() < read_fraction then
    local id = get_id(now())
    if id then
      return wrk.format("GET", "/records/" .. id, headers_with("G:" .. id, false))
    end
  end
  if retire_head <= retire_tail then
    local id = retire_q[retire_head]
    retire_q[retire_head] = nil
    retire_head = retire_head + 1
    return wrk.format("POST", "/records/" .. id .. "/retire", headers_with("T:" .. id, true),
      '{"beneficiary": "Soak Beneficiary", "reason": "soak test"}')
  end
  if sell_head <= sell_tail then
    local id = sell_q[sell_head]
    sell_q[sell_head] = nil
    sell_head = sell_head + 1
    return wrk.format("POST", "/records/" .. id .. "/sell", headers_with("S:" .. id, true), '{"buyer": "Soak Buyer"}')
  end
  local body = string.format(
    '{"project_name": "Soak Project", "registry": "SoakRegistry", "vintage": %d, "quantity": %d, ' ..
    '"serial_number": "SOAK-%s-%d-%d"}', 1990 + n % 40, 1 + n % 10000, tag, tid, n)
  return wrk.format("POST", "/register", headers_with("R:" .. tid .. ":" .. n, true), body)
end

local function count(key)
  counts[key] = (counts[key] or 0) + 1
end

local function note_unexpected(what, body)
  unexpected_n = unexpected_n + 1
  if unexpected_n <= 5 then
    io.stderr:write(string.format("soak: unexpected %s: %s\n", what, tostring(body):sub(1, 300)))
  end
end

function response(status, headers, body)
  local rid = headers["X-Request-Id"] or headers["x-request-id"]
  if rid == nil then
    for k, v in pairs(headers) do
      if string.lower(k) == "x-request-id" then rid = v end
    end
  end
  local kind = rid and rid:sub(1, 1)
  local name = kind and KINDS[kind]
  if name == nil or rid:sub(2, 2) ~= ":" then
    count("unknown " .. status)
    note_unexpected("answer " .. status .. " without a soak X-Request-Id (" .. tostring(rid) .. ")", body)
    return
  end
  count(name .. " " .. status)
  if status ~= EXPECTED[kind] then
    note_unexpected(name .. " status " .. status .. " (request " .. rid .. ")", body)
    return
  end
  if kind == "R" then
    local id = tostring(body):match('"id"%s*:%s*"([0-9a-fA-F%-]+)"')
    if id == nil then
      note_unexpected("register 201 without an id", body)
      return
    end
    sell_tail = sell_tail + 1
    sell_q[sell_tail] = id
    reg_n = reg_n + 1
    reg_ids[reg_n], reg_times[reg_n] = id, now()
  elseif kind == "S" then
    retire_tail = retire_tail + 1
    retire_q[retire_tail] = rid:sub(3)
  elseif kind == "T" then
    lifecycles_n = lifecycles_n + 1
  end
end

-- ------------------------------------------------------------------------------------------ main state
function done(summary, latency, requests)
  local unexpected = sum_over_threads(threads, "unexpected_n")
  local lifecycles = sum_over_threads(threads, "lifecycles_n")
  local e = summary.errors
  local duration_s = summary.duration / 1e6
  io.write(string.format(
    'SOAK_RESULT {"requests": %d, "duration_s": %.3f, "rps": %.3f, "counts": {%s}, "unexpected": %d, ' ..
    '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, "lifecycles": %d, ' ..
    '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, duration_s, summary.requests / duration_s, json_counts(merge_over_threads(threads, "counts")),
    unexpected + e.connect + e.read + e.write + e.timeout, e.connect, e.read, e.write, e.timeout, lifecycles,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
