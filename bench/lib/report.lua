-- wrk script: print the run's figures as one JSON line after the run.
-- Latencies are in microseconds; "status" counts non-2xx/3xx responses.
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, ' ..
        '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, ' ..
        '"mean_us": %.1f}\n',
        summary.requests, summary.duration, e.connect, e.read, e.write, e.status,
        e.timeout, latency:percentile(50), latency:percentile(99), latency.mean))
end
