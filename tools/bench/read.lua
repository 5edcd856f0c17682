-- The read scenario's request: GET /orders/{id} of a random existing order (ids 1..N, N given
-- after "--" on wrk's command line).
package.path = debug.getinfo(1, "S").source:match("@?(.*/)") .. "?.lua;" .. package.path
require "wrk_report"

local orders = 1
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

function init(args)
  orders = tonumber(args[1]) or 1
  math.randomseed(os.time() * 1000 + (seed or 0))
end

function request()
  return wrk.format("GET", "/orders/" .. math.random(1, orders))
end

function done(summary, latency, requests) report(summary, latency) end
