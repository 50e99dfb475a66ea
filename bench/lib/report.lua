-- wrk script: print the run's figures as one JSON line after the run.
-- Latencies are in microseconds; "status" counts non-2xx/3xx responses.
-- An argument after the URL is a think time in milliseconds: each
-- connection waits that long after a response before its next request,
-- so the load is set by the client rather than by the server's speed.

init = function(args)
    local ms = tonumber(args[1])
    if ms and ms > 0 then
        delay = function() return ms end
    end
end

done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, ' ..
        '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, ' ..
        '"mean_us": %.1f}\n',
        summary.requests, summary.duration, e.connect, e.read, e.write, e.status,
        e.timeout, latency:percentile(50), latency:percentile(99), latency.mean))
end
