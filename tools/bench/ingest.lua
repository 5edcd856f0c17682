-- The ingest scenario's request: POST /orders with the seed's body, on keep-alive connections.
package.path = debug.getinfo(1, "S").source:match("@?(.*/)") .. "?.lua;" .. package.path
require "wrk_report"

wrk.method = "POST"
wrk.path = "/orders"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"user_id": 101, "args": [' ..
           '{"product_id": 1001, "quantity": 2, "price": 4.99}, ' ..
           '{"product_id": 1002, "quantity": 1, "price": 3.50}]}'

function done(summary, latency, requests) report(summary, latency) end
