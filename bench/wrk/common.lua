-- Shared by the aicrm wrk scripts: auth header, per-thread random seeds, status-code counts and
-- a machine-readable summary line (the percentiles come from wrk's own latency histogram).
local M = {}

local threads = {}

function M.env(name, default)
  local value = os.getenv(name)
  if value == nil or value == "" then
    if default == nil then
      error("environment variable " .. name .. " is required")
    end
    return default
  end
  return value
end

function M.split(text)
  local out = {}
  for item in string.gmatch(text, "([^,]+)") do
    out[#out + 1] = item
  end
  return out
end

function M.install(opts)
  opts = opts or {}
  wrk.headers["Authorization"] = "Bearer " .. M.env("BENCH_API_KEY")
  wrk.headers["Accept"] = "application/json"
  if opts.json_body then
    wrk.headers["Content-Type"] = "application/json"
  end

  setup = function(thread)
    threads[#threads + 1] = thread
    thread:set("thread_id", #threads)
  end

  init = function(args)
    statuses = {}
    math.randomseed(os.time() * 1000 + (thread_id or 0))
    if opts.init then
      opts.init(args)
    end
  end

  response = function(status, headers, body)
    local key = tostring(status)
    statuses[key] = (statuses[key] or 0) + 1
    if opts.response then
      opts.response(status, headers, body)
    end
  end

  done = function(summary, latency, requests)
    local merged = {}
    for _, thread in ipairs(threads) do
      local counts = thread:get("statuses") or {}
      for code, n in pairs(counts) do
        merged[code] = (merged[code] or 0) + n
      end
    end
    local parts = {}
    for code, n in pairs(merged) do
      parts[#parts + 1] = string.format('"%s":%d', code, n)
    end
    io.write(string.format(
      'WRK_JSON {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
        .. '"latency_us":{"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f},"statuses":{%s}}\n',
      summary.requests, summary.duration,
      summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
      summary.errors.timeout,
      latency:percentile(50), latency:percentile(75), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean,
      table.concat(parts, ",")))
  end
end

return M
