-- wrk script: POST /records/{id}/retire on SOLD credits (expected 200), each id retired once.
-- The id file has one id per line; with T threads, thread k (0-based) walks lines k, k+T, k+2T, ...
-- If a thread runs out of ids it starts over (those requests answer 409 and count as unexpected) and
-- reports how many times in "exhausted".
-- Usage: wrk -t2 -c64 -d10s --latency -s bench/retire.lua http://127.0.0.1:PORT -- <id file> <threads>
expected_status = 200
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local ids = {}
local next_index = 1
local headers = with_auth({ ["Content-Type"] = "application/json" })
local body = '{"beneficiary": "Bench Beneficiary", "reason": "benchmark retirement"}'

function init(args)
  local threads = tonumber(args[2] or "1")
  ids = read_ids(args[1], threads, tid)
  assert(#ids > 0, "thread " .. tid .. " has no ids in " .. tostring(args[1]))
end

function request()
  if next_index > #ids then
    next_index = 1
    exhausted_n = exhausted_n + 1
  end
  local id = ids[next_index]
  next_index = next_index + 1
  return wrk.format("POST", "/records/" .. id .. "/retire", headers, body)
end
