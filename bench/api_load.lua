-- Load script for wrk (bench/api.py): POST /v1/assessments, a fresh Idempotency-Key on every request.
--   wrk -t1 -cN -dS --timeout 30s -s bench/api_load.lua URL -- BODY_FILE API_KEY
-- Prints one JSON line: completed requests, errors (non-2xx/3xx, socket errors, timeouts), duration, p50/p99.

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  wrk.body = file:read("*a")
  file:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-Acting-User"] = "bench"
  if args[2] ~= nil and args[2] ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. args[2]
  end
  prefix = string.format("%d-%d-%d", os.time(), tid, math.floor(os.clock() * 1000000))
  counter = 0
end

function request()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = prefix .. "-" .. counter
  return wrk.format(nil, "/v1/assessments")
end

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.timeout + e.status
  io.write(string.format(
    '{"requests": %d, "errors": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, errors, summary.duration, latency:percentile(50), latency:percentile(99)))
end
