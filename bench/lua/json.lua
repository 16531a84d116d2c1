-- wrk script: send one JSON body with the method given in the environment.
-- BENCH_METHOD, BENCH_BODY; BENCH_TOKEN (optional): one token, or several
-- separated by spaces, used in turn (writes spread over several users, as
-- real traffic is); BENCH_PATHS (optional): one path per token, paired with it.
wrk.method = os.getenv("BENCH_METHOD")
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"

local tokens, paths = {}, {}
for token in (os.getenv("BENCH_TOKEN") or ""):gmatch("%S+") do table.insert(tokens, token) end
for path in (os.getenv("BENCH_PATHS") or ""):gmatch("%S+") do table.insert(paths, path) end

if #tokens == 1 then
  wrk.headers["Authorization"] = "Bearer " .. tokens[1]
elseif #tokens > 1 then
  local turn = 0
  request = function()
    turn = turn % #tokens + 1
    local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. tokens[turn]}
    return wrk.format(nil, paths[turn], headers, nil)
  end
end

-- BENCH_DELAY_MS (optional): each connection waits this long before its next
-- request, to offer a steady load below what the server sustains.
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pause then
  delay = function() return pause end
end
