# GET /health, 64 connections, side by side with nginx serving a small
# static file (the practical ceiling on this machine). Target: >= 60% of nginx.
start_opstwin health || exit 1
start_nginx || exit 1
curl -s "$OPSTWIN_URL_health/health" >"$BENCH_TMP/nginx/www/health.json"
ot=$(wrk_rps "$OPSTWIN_URL_health/health" 64)
ng=$(wrk_rps "$NGINX_URL/health.json" 64)
p=$(pct "$ot" "$ng")
verdict=FAIL; [ "${p:-0}" -ge 60 ] 2>/dev/null && verdict=PASS
row "GET /health, 64 conn (wrk)" "$ot" "req/s" "nginx static file" "$ng req/s" ">= 60% of nginx" "$verdict ($p%)"
