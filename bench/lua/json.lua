-- wrk script: send one JSON body with the method given in the environment.
-- BENCH_METHOD, BENCH_BODY, BENCH_TOKEN (optional).
wrk.method = os.getenv("BENCH_METHOD")
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
