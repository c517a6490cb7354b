-- GET /api/v1/contacts?limit=50, following next_cursor for up to BENCH_MAX_DEPTH pages (per
-- thread), then starting again from the first page: a mix of shallow and deeper keyset pages.
package.path = os.getenv("BENCH_WRK_DIR") .. "/?.lua;" .. package.path
local common = require("common")

local max_depth = tonumber(common.env("BENCH_MAX_DEPTH", "20"))
local cursor = nil
local depth = 0

common.install({
  response = function(status, headers, body)
    if status == 200 and depth < max_depth then
      cursor = string.match(body, '"next_cursor":"([^"]+)"')
      depth = depth + 1
    else
      cursor = nil
      depth = 0
    end
  end,
})

request = function()
  if cursor then
    return wrk.format("GET", "/api/v1/contacts?limit=50&cursor=" .. cursor)
  end
  return wrk.format("GET", "/api/v1/contacts?limit=50")
end
