-- wrk script for the ZStack benchmark harness (bench/harness.py).
-- The request comes from the environment, so every wrk thread builds the same one:
--   ZSBENCH_MODE=post  POST /echo with a body of ZSBENCH_SIZE bytes (the server echoes it back)
--   ZSBENCH_MODE=get   GET /size/ZSBENCH_SIZE (the server answers ZSBENCH_SIZE bytes)
--   a mode ending in "-close" (post-close, get-close) asks for a new connection per request: Connection: close, the
--   server closes after its response and wrk connects again (latencies count from the request's write, so the
--   handshake is in the request rate, not in them)
-- done() prints one line starting with "ZSBENCH " of key=value pairs; latencies are in microseconds.
local size = tonumber(os.getenv("ZSBENCH_SIZE") or "64")
local mode = os.getenv("ZSBENCH_MODE") or "post"
local close = mode:sub(-6) == "-close"
if close then
  mode = mode:sub(1, -7)
  wrk.headers["Connection"] = "close"
end

if mode == "post" then
  wrk.method = "POST"
  wrk.path = "/echo"
  wrk.body = string.rep("z", size)
  wrk.headers["Content-Type"] = "application/octet-stream"
else
  wrk.method = "GET"
  wrk.path = "/size/" .. size
end

function done(summary, latency, requests)
  local e = summary.errors
  local fields = {
    string.format("requests=%d", summary.requests),
    string.format("duration_us=%d", summary.duration),
    string.format("bytes=%d", summary.bytes),
    string.format("err_connect=%d", e.connect),
    string.format("err_read=%d", e.read),
    string.format("err_write=%d", e.write),
    string.format("err_status=%d", e.status),
    string.format("err_timeout=%d", e.timeout),
    string.format("lat_mean_us=%.3f", latency.mean),
    string.format("lat_stdev_us=%.3f", latency.stdev),
    string.format("lat_p50_us=%d", latency:percentile(50)),
    string.format("lat_p99_us=%d", latency:percentile(99)),
    string.format("lat_p999_us=%d", latency:percentile(99.9)),
    string.format("lat_max_us=%d", latency.max),
  }
  io.write("ZSBENCH " .. table.concat(fields, " ") .. "\n")
end
