-- wrk script of scripts/bench and scripts/bench-scale: one kind of request, counted.
--
--   wrk … -s scripts/bench.lua URL -- EXPECTED [TOKENS_FILE]
--
-- The request comes from the environment:
--   BENCH_METHOD         GET (default) or POST
--   BENCH_AUTH           the Authorization header, when set
--   BENCH_BODY           the body, when set
--   BENCH_CONTENT_TYPE   the Content-Type (application/x-www-form-urlencoded when a body is set)
--   BENCH_HEADER_NAME_n / BENCH_HEADER_VALUE_n   extra headers, n = 1, 2, …
--   BENCH_STOP_AFTER     wrk prints the counts and exits after this many EXPECTED answers
--                        (for seeding, with -t1; no wrk summary then)
-- With TOKENS_FILE (one token a line), every request takes the next token in turn in place of
-- the first "{token}" of BENCH_AUTH and BENCH_BODY, or (BENCH_TOKEN_HEADER set) as the value
-- of that header; with BENCH_THREADS=N (wrk -tN) the threads take disjoint turns, so a file at
-- least as long as the requests sent sends each line once (one-time credentials: client
-- assertions, DPoP proofs).
--
-- Every answer but EXPECTED is counted; done() prints "expected responses: N" and
-- "unexpected responses: N" (and the first unexpected answer), which the scripts check.

local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("thread_index", #threads - 1)
end

-- Splits text at its first "{token}": returns the part before and the part after, or nil.
local function split(text)
    if not text then
        return nil
    end
    local at = string.find(text, "{token}", 1, true)
    if not at then
        return nil
    end
    return { string.sub(text, 1, at - 1), string.sub(text, at + 7) }
end

function init(args)
    expected = assert(tonumber(args[1]), "bench.lua: the first argument is the expected status")
    ok = 0
    unexpected = 0
    first_unexpected = ""
    sent = 0
    stop_after = tonumber(os.getenv("BENCH_STOP_AFTER") or "")
    method = os.getenv("BENCH_METHOD") or "GET"
    auth = os.getenv("BENCH_AUTH")
    body = os.getenv("BENCH_BODY")
    headers = { ["Accept"] = "application/json" }
    if os.getenv("BENCH_CONTENT_TYPE") then
        headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE")
    elseif body then
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    end
    local n = 1
    while os.getenv("BENCH_HEADER_NAME_" .. n) do
        headers[os.getenv("BENCH_HEADER_NAME_" .. n)] = os.getenv("BENCH_HEADER_VALUE_" .. n)
        n = n + 1
    end
    thread_count = tonumber(os.getenv("BENCH_THREADS") or "") or 1
    tokens = {}
    if args[2] then
        for line in io.lines(args[2]) do
            if line ~= "" then
                table.insert(tokens, line)
            end
        end
        assert(#tokens > 0, "bench.lua: no tokens in " .. args[2])
        token_header = os.getenv("BENCH_TOKEN_HEADER")
        auth_parts = split(auth)
        body_parts = split(body)
        assert(auth_parts or body_parts or token_header,
            "bench.lua: a tokens file needs {token} in BENCH_AUTH or BENCH_BODY, or BENCH_TOKEN_HEADER")
    else
        if auth then
            headers["Authorization"] = auth
        end
        fixed = wrk.format(method, nil, headers, body)
    end
end

function request()
    sent = sent + 1
    if fixed then
        return fixed
    end
    local turn = (sent - 1) * thread_count + (thread_index or 0)
    local token = tokens[turn % #tokens + 1]
    local this_body = body
    if auth_parts then
        headers["Authorization"] = auth_parts[1] .. token .. auth_parts[2]
    elseif auth then
        headers["Authorization"] = auth
    end
    if body_parts then
        this_body = body_parts[1] .. token .. body_parts[2]
    end
    if token_header then
        headers[token_header] = token
    end
    return wrk.format(method, nil, headers, this_body)
end

function response(status, _, answer)
    if status == expected then
        ok = ok + 1
        if stop_after and ok >= stop_after then
            -- wrk runs for its whole -d whatever its threads do: end the process here (use -t1).
            io.write(string.format("expected responses: %d\nunexpected responses: %d\n", ok, unexpected))
            if unexpected > 0 then
                io.write("first unexpected response: " .. first_unexpected .. "\n")
            end
            io.stdout:flush()
            os.exit(0)
        end
    else
        unexpected = unexpected + 1
        if first_unexpected == "" then
            first_unexpected = status .. " " .. string.sub(answer or "", 1, 300)
        end
    end
end

function done()
    local good, bad, first = 0, 0, ""
    for _, thread in ipairs(threads) do
        good = good + thread:get("ok")
        bad = bad + thread:get("unexpected")
        if first == "" then
            first = thread:get("first_unexpected")
        end
    end
    io.write(string.format("expected responses: %d\n", good))
    io.write(string.format("unexpected responses: %d\n", bad))
    if bad > 0 then
        io.write("first unexpected response: " .. first .. "\n")
    end
end
