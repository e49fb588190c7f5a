-- One telemetry event per request; each thread cycles through its own twins.
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format(
    '{"twin_id":"bench%d","asset_id":"a%d","metrics":{"temp_c":%.2f,"load_pct":%d}}',
    counter % 16, counter % 4, 20 + (counter % 100) / 10, counter % 100)
  return wrk.format("POST", "/telemetry/ingest", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("OPSTWIN_TOKEN")}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("errors: %d non-2xx: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
