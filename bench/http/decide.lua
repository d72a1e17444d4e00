-- decide.lua: wrk script of the HTTP benchmark (BENCHMARK.md section 3).
--
-- Posts the test-case carts of bench/http/make_carts.py in turn, one JSON
-- body per line of the file named by $CW_CARTS, with the bearer key
-- $CW_KEY, on wrk's kept-alive connections. Every thread goes through all
-- the carts, each starting at its own offset. The requests are formatted
-- once in init() so that the Lua side costs next to nothing per request.
--
--   CW_CARTS=carts.jsonl CW_KEY=pk_... wrk -t2 -c64 -d30s --latency \
--       -s bench/http/decide.lua http://127.0.0.1:8080/v1/decide

local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
end

local requests = {}
local n = 0
local i = 0

function init(args)
   local path = os.getenv("CW_CARTS")
   local key = os.getenv("CW_KEY")
   if not path or not key then
      error("decide.lua: set CW_CARTS (carts file) and CW_KEY (bearer key)")
   end
   local headers = {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. key,
   }
   local f = assert(io.open(path, "r"))
   for line in f:lines() do
      if #line > 0 then
         n = n + 1
         requests[n] = wrk.format("POST", nil, headers, line)
      end
   end
   f:close()
   if n == 0 then
      error("decide.lua: no carts in " .. path)
   end
   i = ((id or 0) * 7919) % n
end

function request()
   i = i + 1
   if i > n then
      i = 1
   end
   return requests[i]
end
