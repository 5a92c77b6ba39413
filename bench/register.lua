-- wrk script: POST /register with a new credit per request (expected 201).
-- Serial numbers are unique per run, thread and request: WRK-<run tag>-<thread>-<n>.
-- Usage: wrk -t2 -c64 -d10s --latency -s bench/register.lua http://127.0.0.1:PORT -- <run tag>
expected_status = 201
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local tag = "run"
local n = 0
local headers = with_auth({ ["Content-Type"] = "application/json" })

function init(args)
  tag = args[1] or tostring(os.time())
end

function request()
  n = n + 1
  local body = string.format(
    '{"project_name": "Bench Project", "registry": "BenchRegistry", "vintage": %d, "quantity": %d, ' ..
    '"serial_number": "WRK-%s-%d-%d"}', 1990 + n % 40, 1 + n % 10000, tag, tid, n)
  return wrk.format("POST", "/register", headers, body)
end
