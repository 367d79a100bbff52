-- GET the URL given on the command line; wrk sends the same request each
-- time (no Lua per request).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")
