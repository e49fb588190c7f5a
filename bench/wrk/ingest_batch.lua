-- 1,000 telemetry events per request (a JSON array), built once per thread.
local items = {}
for i = 1, 1000 do
  items[i] = string.format(
    '{"twin_id":"batch%d","asset_id":"a%d","metrics":{"temp_c":%.2f,"load_pct":%d}}',
    i % 16, i % 4, 20 + (i % 100) / 10, i % 100)
end
local body = "[" .. table.concat(items, ",") .. "]"
request = function()
  return wrk.format("POST", "/telemetry/ingest", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("OPSTWIN_TOKEN")}, body)
end
