-- wrk script: partial retirements (issue 10), POST /records/{id}/retire {"quantity": 1, ...} on SOLD blocks
-- (expected 200: the lowest unit is carved into a child block and retired; the parent keeps the rest).
-- The id file has one id per line. With T threads and "spread", thread k (0-based) walks lines k, k+T, ...
-- round and round (a block is carved again on each pass: it holds far more units than a run uses); with
-- "hot", every connection of every thread sends to the first id: one parent, all clients.
-- Besides the BENCH_RESULT line of bench/common.lua, prints BENCH_SLUGS {"<status> <problem type>": n, ...}
-- for the answers other than 200 (e.g. "409 /problems/contended"), which bench/report.py adds to the run.
-- Usage: wrk -t2 -c64 -d10s --latency -s bench/partial.lua http://127.0.0.1:PORT -- <id file> <threads> spread|hot
expected_status = 200
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local ids = {}
local next_index = 1
local headers = with_auth({ ["Content-Type"] = "application/json" })
local body = '{"quantity": 1, "beneficiary": "Bench Beneficiary", "reason": "benchmark partial retirement"}'

function init(args)
  local threads = tonumber(args[2] or "1")
  local mode = args[3] or "spread"
  assert(mode == "spread" or mode == "hot", "mode must be spread or hot, not " .. tostring(mode))
  if mode == "hot" then
    ids = { read_ids(args[1], 1, 0)[1] }
  else
    ids = read_ids(args[1], threads, tid)
  end
  assert(#ids > 0 and ids[1] ~= nil, "thread " .. tid .. " has no ids in " .. tostring(args[1]))
end

function request()
  if next_index > #ids then next_index = 1 end
  local id = ids[next_index]
  next_index = next_index + 1
  return wrk.format("POST", "/records/" .. id .. "/retire", headers, body)
end

-- Counts the answers other than 200 by status and problem type too.
bad_by_slug = {}
local common_response = response
function response(status, headers, body)
  common_response(status, headers, body)
  if status ~= expected_status then
    local slug = tostring(body):match('"type"%s*:%s*"([^"]*)"') or "-"
    local key = status .. " " .. slug
    bad_by_slug[key] = (bad_by_slug[key] or 0) + 1
  end
end

local all_threads = {}
local common_setup = setup
function setup(thread)
  common_setup(thread)
  table.insert(all_threads, thread)
end

local common_done = done
function done(summary, latency, requests)
  common_done(summary, latency, requests)
  io.write('BENCH_SLUGS {' .. json_counts(merge_over_threads(all_threads, "bad_by_slug")) .. '}\n')
end
