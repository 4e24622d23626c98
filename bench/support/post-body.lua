-- wrk script: POSTs one JSON body (the file named by the
-- first argument after `--`) on every keep-alive connection, and prints the figures as one
-- JSON line (latency in microseconds; p99.9 is computed here, wrk's own report stops at p99).

function init(args)
  local file = assert(io.open(args[1], "rb"))
  wrk.body = file:read("*a")
  file:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"durationMicros":%d,"bytes":%d,"p50Micros":%d,"p99Micros":%d,"p999Micros":%d,"maxMicros":%d,' ..
    '"meanMicros":%.1f,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"statusErrors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
