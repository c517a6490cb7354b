-- GET /api/v1/contacts/{id}: a random contact of the big organization.
package.path = os.getenv("BENCH_WRK_DIR") .. "/?.lua;" .. package.path
local common = require("common")
common.install()

local lo = tonumber(common.env("BENCH_ID_MIN"))
local hi = tonumber(common.env("BENCH_ID_MAX"))

request = function()
  return wrk.format("GET", "/api/v1/contacts/" .. math.random(lo, hi))
end
