-- GET /api/v1/contacts?q=<prefix>&limit=20 with a random common name prefix.
package.path = os.getenv("BENCH_WRK_DIR") .. "/?.lua;" .. package.path
local common = require("common")
common.install()

local prefixes = common.split(common.env("BENCH_PREFIXES"))

request = function()
  local q = prefixes[math.random(#prefixes)]
  return wrk.format("GET", "/api/v1/contacts?limit=20&q=" .. q)
end
