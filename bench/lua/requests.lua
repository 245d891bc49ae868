-- Walks a file of pre-generated requests, one per line: METHOD <TAB> PATH <TAB> BODY {<TAB> Header: value}.
-- BENCH_REQUESTS names the file; BENCH_CYCLE=1 starts over at the end (reads), otherwise the thread stops
-- when every request has been sent once (requests that consume what they use: right codes, challenges).
-- BENCH_EXPECT lists the statuses that count as success (e.g. "200,201"). done() prints one JSON line.
local requests = {}
local cycle = os.getenv("BENCH_CYCLE") == "1"
local expected = {}
-- Globals, so that done() can read them from each thread. `position`: the last request sent.
position = 0
statuses = {}
unexpected = 0
exhausted = 0

for status in string.gmatch(os.getenv("BENCH_EXPECT") or "200", "%d+") do
  expected[tonumber(status)] = true
end

local function split(line)
  local fields = {}
  for field in string.gmatch(line .. "\t", "([^\t]*)\t") do
    fields[#fields + 1] = field
  end
  return fields
end

for line in io.lines(os.getenv("BENCH_REQUESTS")) do
  local fields = split(line)
  local headers = {}
  for column = 4, #fields do
    local name, value = string.match(fields[column], "^([^:]+): (.*)$")
    if name then headers[name] = value end
  end
  local body = fields[3]
  if body == "" then body = nil end
  requests[#requests + 1] = wrk.format(fields[1], fields[2], headers, body)
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function request()
  position = position + 1
  if position > #requests then
    if cycle then
      position = 1
    else
      exhausted = 1
      wrk.thread:stop()
      return requests[#requests]
    end
  end
  return requests[position]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if not expected[status] then unexpected = unexpected + 1 end
end

function done(summary, latency, requests_done)
  local parts = {}
  local total_unexpected, total_exhausted, last_position = 0, 0, 0
  local counts = {}
  for _, thread in ipairs(threads) do
    total_unexpected = total_unexpected + thread:get("unexpected")
    total_exhausted = total_exhausted + thread:get("exhausted")
    last_position = math.max(last_position, thread:get("position"))
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  for status, count in pairs(counts) do
    parts[#parts + 1] = string.format('"%d": %d', status, count)
  end
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"socket_errors": %d, "unexpected": %d, "exhausted": %d, "position": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    total_unexpected, total_exhausted, last_position, table.concat(parts, ", ")))
end
