-- wrk script of scripts/bench-cdp. The bearer token comes from BENCH_TOKEN.
--
--   wrk … -s scripts/bench-cdp.lua URL -- push PREFIX
--       POSTs a JSON array of BENCH_BATCH (default 1000) records per request, every record a
--       new customer (SourceCustomerNumber and Email PREFIX-<thread>-<request>-<n>) with one
--       productBrowsed event; expects 202.
--   wrk … -s scripts/bench-cdp.lua URL -- get [PATHS]
--       GETs the URL, or each path of the file PATHS in turn (one a line); expects 200.
--
-- Every answer but the expected status is counted; done() prints
-- "unexpected responses: N" (and the first such answer), which the script checks.

local threads = {}

function setup(thread)
    thread:set("thread_id", #threads + 1)
    table.insert(threads, thread)
end

function init(args)
    mode = args[1]
    unexpected = 0
    first_unexpected = ""
    sent = 0
    wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("BENCH_TOKEN"), "BENCH_TOKEN is not set")
    wrk.headers["Accept"] = "application/json"
    if mode == "push" then
        expected = 202
        prefix = assert(args[2], "push takes a prefix")
        batch = tonumber(os.getenv("BENCH_BATCH") or "1000")
        wrk.method = "POST"
        wrk.headers["Content-Type"] = "application/json"
    elseif mode == "get" then
        expected = 200
        paths = {}
        if args[2] then
            for line in io.lines(args[2]) do
                if line ~= "" then
                    table.insert(paths, line)
                end
            end
            assert(#paths > 0, "no paths in " .. args[2])
        end
    else
        error("bench-cdp.lua: mode must be push or get, not " .. tostring(mode))
    end
end

local function push_body()
    local base = prefix .. "-" .. thread_id .. "-" .. sent .. "-"
    local parts = {}
    for n = 1, batch do
        local id = base .. n
        parts[n] = '{"SourceCustomerNumber":"' .. id
            .. '","Email":"' .. id .. '@bench.example'
            .. '","FirstName":"Bench","LastName":"Customer ' .. n
            .. '","Type":"productBrowsed","Subtype":"SKU-' .. (n % 100)
            .. '","EventTimeStamp":"2026-11-23T10:' .. string.format("%02d:%02d", n % 60, sent % 60)
            .. 'Z"}'
    end
    return "[" .. table.concat(parts, ",") .. "]"
end

function request()
    sent = sent + 1
    if mode == "push" then
        return wrk.format(nil, nil, nil, push_body())
    elseif #paths > 0 then
        return wrk.format(nil, paths[(sent - 1) % #paths + 1])
    else
        return wrk.format()
    end
end

function response(status, headers, body)
    if status ~= expected then
        unexpected = unexpected + 1
        if first_unexpected == "" then
            first_unexpected = status .. " " .. string.sub(body or "", 1, 300)
        end
    end
end

function done(summary, latency, requests)
    local count, first = 0, ""
    for _, thread in ipairs(threads) do
        count = count + thread:get("unexpected")
        if first == "" then
            first = thread:get("first_unexpected")
        end
    end
    io.write(string.format("unexpected responses: %d\n", count))
    if count > 0 then
        io.write("first unexpected response: " .. first .. "\n")
    end
end
