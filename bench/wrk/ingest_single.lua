-- One telemetry event per request; each thread cycles through its own twins.
-- The sequence (twin counter % 16, asset % 4, values % 100) repeats every
-- 400 requests, so each thread formats those 400 requests once and sends
-- them in turn: the same load as formatting each one anew, without spending
-- the load generator's share of this machine on Lua string building.
local reqs, n, i = {}, 400, 0
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("OPSTWIN_TOKEN")}
for counter = 1, n do
  local body = string.format(
    '{"twin_id":"bench%d","asset_id":"a%d","metrics":{"temp_c":%.2f,"load_pct":%d}}',
    counter % 16, counter % 4, 20 + (counter % 100) / 10, counter % 100)
  reqs[counter] = wrk.format("POST", "/telemetry/ingest", headers, body)
end
request = function()
  i = i % n + 1
  return reqs[i]
end
done = function(summary, latency, requests)
  io.write(string.format("errors: %d non-2xx: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
