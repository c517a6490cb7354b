-- POST /api/v1/contacts: realistic names (so duplicate checks do their usual work) and emails
-- made unique by thread, counter and a random part.
package.path = os.getenv("BENCH_WRK_DIR") .. "/?.lua;" .. package.path
local common = require("common")
common.install({ json_body = true })

local firsts = { "Maria", "James", "Sofia", "Lucas", "Emma", "Noah", "Anna", "Daniel", "Julia",
  "Omar", "Chloe", "Mateo", "Hana", "Erik", "Grace", "Ivan", "Leah", "Rahul", "Zoe", "Felix" }
local lasts = { "Garcia", "Smith", "Muller", "Rossi", "Kim", "Nguyen", "Patel", "Silva", "Brown",
  "Kowalski", "Jensen", "Moreau", "Tanaka", "Okafor", "Lopez", "Weber", "Novak", "Reyes" }
local counter = 0

request = function()
  counter = counter + 1
  local body = string.format(
    '{"first_name":"%s","last_name":"%s","email":"wrk%d.%d.%d@post.example","status":"lead"}',
    firsts[math.random(#firsts)], lasts[math.random(#lasts)],
    thread_id or 0, counter, math.random(1, 1000000000))
  return wrk.format("POST", "/api/v1/contacts", nil, body)
end
