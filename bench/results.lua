-- Shared by the wrk scripts' done() hooks (bench/common.lua, bench/soak_mixed.lua): adding up what each
-- thread counted, and writing counts as JSON members. Defines no wrk hook. thread:get copies numbers and
-- tables out of a thread's Lua state.

-- The sum over `threads` of each thread's number `name` (a thread without it counts 0).
function sum_over_threads(threads, name)
  local total = 0
  for _, t in ipairs(threads) do total = total + (t:get(name) or 0) end
  return total
end

-- The tables of counts `name` of all `threads`, added up key by key.
function merge_over_threads(threads, name)
  local merged = {}
  for _, t in ipairs(threads) do
    local counts = t:get(name)
    if type(counts) == "table" then
      for k, v in pairs(counts) do merged[k] = (merged[k] or 0) + v end
    end
  end
  return merged
end

-- '"key": n, ...' for a table of counts, sorted by key text (the inside of a JSON object).
function json_counts(counts)
  local parts = {}
  for k, v in pairs(counts) do table.insert(parts, string.format('"%s": %d', tostring(k), v)) end
  table.sort(parts)
  return table.concat(parts, ", ")
end
