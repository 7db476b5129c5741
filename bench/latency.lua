-- wrk -s latency.lua: after the run, one line of latency figures (in microseconds) for wrk.js.
-- wrk's own --latency table rounds them and has neither the median nor a count of slow requests.

local SLOW_US = 1000000 -- requests slower than 1 s

-- How many requests took longer than limit_us. latency:percentile(p) is the smallest latency
-- with at least p% of the samples at or below it, so bisect p for the share at or below the
-- limit (percentile answers 0 past the last sample). Latencies over wrk's --timeout are not
-- in the histogram at all: wrk counts them as timeouts.
local function slower_than(latency, limit_us, requests)
  if latency.max <= limit_us then return 0 end
  local low, high = 0, 100
  for _ = 1, 50 do
    local mid = (low + high) / 2
    local value = latency:percentile(mid)
    if value > 0 and value <= limit_us then low = mid else high = mid end
  end
  return math.floor(requests * (100 - low) / 100 + 0.5)
end

function done(summary, latency, requests)
  io.write(string.format("bench-latency p50_us=%d p99_us=%d max_us=%d slow=%d timeouts=%d\n",
    latency:percentile(50), latency:percentile(99), latency.max,
    slower_than(latency, SLOW_US, summary.requests), summary.errors.timeout))
end
