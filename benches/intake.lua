-- wrk script for scripts/bench-intake.sh: POST /v1/events with a ~3 KB ASFF "Security Hub
-- Findings - Imported" event that the bench config's relay rule matches (GuardDuty, HIGH,
-- ACTIVE, NEW). Every request carries a distinct finding Id (thread number × request number),
-- so the daemon stores every one as a new event, as a burst of new findings would arrive.
--
-- The ingest key comes from the environment (FB_BENCH_INGEST_KEY), never from this file.
-- At the end each thread's non-202 answers are summed; the script prints them on one line
-- (`non-202: N`) so the caller can refuse a run that was not fully acknowledged.

local threads = {}
local next_thread = 1

function setup(thread)
   thread:set("thread_no", next_thread)
   next_thread = next_thread + 1
   table.insert(threads, thread)
end

local padding = string.rep("Observed repeated connection attempts on an unprotected port. ", 36)

function init(args)
   sent = 0
   non202 = 0
   key = os.getenv("FB_BENCH_INGEST_KEY") or ""
   headers = {
      ["Content-Type"] = "application/json",
      ["X-Api-Key"] = key,
   }
end

local function event(id)
   local finding_id = "arn:aws:guardduty:us-east-1:111111111111:detector/bench/finding/" .. id
   return '{"version":"0","id":"bench-' .. id .. '","detail-type":"Security Hub Findings - Imported",'
      .. '"source":"aws.securityhub","account":"111111111111","time":"2026-01-01T00:00:00Z",'
      .. '"region":"us-east-1","resources":[],"detail":{"findings":[{'
      .. '"SchemaVersion":"2018-10-08","Id":"' .. finding_id .. '",'
      .. '"ProductArn":"arn:aws:securityhub:us-east-1::product/aws/guardduty",'
      .. '"ProductName":"GuardDuty",'
      .. '"GeneratorId":"arn:aws:guardduty:us-east-1:111111111111:detector/bench",'
      .. '"AwsAccountId":"111111111111","Region":"us-east-1",'
      .. '"Types":["TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"],'
      .. '"CreatedAt":"2026-01-01T00:00:00.000Z","UpdatedAt":"2026-01-01T00:00:00.000Z",'
      .. '"Severity":{"Label":"HIGH","Normalized":70},'
      .. '"Title":"Unprotected port on instance ' .. id .. ' is being probed",'
      .. '"Description":"' .. padding .. '",'
      .. '"Resources":[{"Type":"AwsEc2Instance","Id":"i-' .. id .. '","Region":"us-east-1"}],'
      .. '"Workflow":{"Status":"NEW"},"RecordState":"ACTIVE"}]}}'
end

function request()
   sent = sent + 1
   return wrk.format("POST", "/v1/events", headers, event(thread_no .. "-" .. sent))
end

function response(status, headers, body)
   if status ~= 202 then
      non202 = non202 + 1
   end
end

function done(summary, latency, requests)
   local total = 0
   for _, thread in ipairs(threads) do
      total = total + thread:get("non202")
   end
   local us = function(p) return latency:percentile(p) end
   io.write(string.format("requests: %d in %.2f s\n", summary.requests, summary.duration / 1e6))
   io.write(string.format("throughput: %.0f acknowledged/s\n",
      (summary.requests - total) / (summary.duration / 1e6)))
   io.write(string.format("latency_ms: p50 %.2f p90 %.2f p99 %.2f max %.2f\n",
      us(50) / 1000, us(90) / 1000, us(99) / 1000, latency.max / 1000))
   io.write(string.format("socket errors: connect %d read %d write %d timeout %d\n",
      summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
   io.write(string.format("non-202: %d\n", total))
end
