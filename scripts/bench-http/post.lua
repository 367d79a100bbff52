-- POST a new item with a unique id on every request: "<run>-<thread>-<n>",
-- where <run> is the first argument after "--" (so warm-up and rounds never
-- collide) and <thread> is wrk's thread number.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local prefix, counter
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  prefix = (args[1] or "run") .. "-" .. tostring(tid) .. "-"
  counter = 0
end

function request()
  counter = counter + 1
  local body = '{"id":"' .. prefix .. counter .. '","data":{"status":"Not-started","attempt":0}}'
  return wrk.format("POST", nil, headers, body)
end
