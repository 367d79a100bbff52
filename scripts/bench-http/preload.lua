-- Fill a cache before the loaded GET runs: POST items "pre-<n>" until
-- PRELOAD_N (the first argument after "--") have been answered, then stop.
-- Run with -t1: the count is per thread. Any answer but 201 is an error.
local headers = { ["Content-Type"] = "application/json" }
local want, sent, answered, bad

function init(args)
  want = tonumber(args[1]) or 0
  sent, answered, bad = 0, 0, 0
end

function request()
  sent = sent + 1
  local body = '{"id":"pre-' .. sent .. '","data":{"status":"Not-started","attempt":0}}'
  return wrk.format("POST", nil, headers, body)
end

function response(status)
  answered = answered + 1
  if status ~= 201 then bad = bad + 1 end
  if answered >= want then wrk.thread:stop() end
end

function done(summary)
  io.write(string.format("PRELOADED\t%d\t%d\n", summary.requests, summary.errors.status))
end
