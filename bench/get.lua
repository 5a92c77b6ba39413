-- wrk script: GET /records/{id} for ids drawn uniformly from an id file (expected 200).
-- Usage: wrk -t2 -c64 -d10s --latency -s bench/get.lua http://127.0.0.1:PORT -- <id file>
expected_status = 200
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local ids = {}
local get_headers = with_auth({})

function init(args)
  ids = read_ids(args[1], 1, 0)
  assert(#ids > 0, "no ids in " .. tostring(args[1]))
  math.randomseed(os.time() * 1000 + tid)
end

function request()
  return wrk.format("GET", "/records/" .. ids[math.random(#ids)], get_headers)
end
