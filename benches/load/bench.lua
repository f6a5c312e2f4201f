-- wrk script for benches/load/compare.sh.
--   wrk ... -s bench.lua URL -- hit          the same request every time (wrk builds it once)
--   wrk ... -s bench.lua URL -- miss SALT    a unique query string per request (`n=SALT-THREAD-COUNT`),
--                                            so every request is a cache miss
-- At the end it prints one line, `RESULT {json}`, that compare.sh reads.

local counter, thread_id, salt = 0, 0, "0"
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

local function unique_request()
  counter = counter + 1
  local sep = string.find(wrk.path, "?", 1, true) and "&" or "?"
  return wrk.format(nil, wrk.path .. sep .. "n=" .. salt .. "-" .. thread_id .. "-" .. counter)
end

function init(args)
  if args[1] == "miss" then
    salt = args[2] or "0"
    -- Defined only in miss mode: without a `request` function wrk sends a prebuilt request and
    -- spends no Lua time per request, which matters when wrk shares the machine with the server.
    request = unique_request
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
