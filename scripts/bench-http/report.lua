-- Shared by get.lua and post.lua: after a run, print one tab-separated line
-- that scripts/bench-http.sh parses:
--   RESULT requests duration_us req/s p50_us p99_us status_errors socket_errors
-- wrk gives latencies in microseconds; status errors are non-2xx/3xx answers.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT\t%d\t%d\t%.1f\t%d\t%d\t%d\t%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
