-- Load script for wrk (bench/api.py): POST /v1/assessments, a fresh Idempotency-Key on every request.
--   wrk -t1 -cN -dS --timeout 30s -s bench/api_load.lua URL -- BODY_FILE API_KEY
-- Prints one JSON line: completed requests, socket errors (connect, read, write, timeout), duration, p50/p99,
-- and the count of each HTTP status.

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
  statuses = {}
end

function request()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = prefix .. "-" .. counter
  return wrk.format(nil, "/v1/assessments")
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local e = summary.errors
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(totals) do
    table.insert(parts, string.format('"%d": %d', status, count))
  end
  io.write(string.format(
    '{"requests": %d, "socket_errors": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "statuses": {%s}}\n',
    summary.requests, e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99), table.concat(parts, ", ")))
end
