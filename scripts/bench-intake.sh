#!/usr/bin/env bash
# Benchmark (issue 3): acknowledged `POST /v1/events` throughput and latency with 64 concurrent
# connections on loopback, against the real daemon (`findings-bridge run`, a fresh temporary
# store, durable 202s) and against a server that answers 202 and does nothing (the ceiling,
# crates/daemon/examples/noop_ingest.rs). Load: wrk with benches/intake.lua (~3 KB ASFF events,
# a distinct finding Id per request, all matching the relay rule).
#
# Usage: ./scripts/bench-intake.sh [--debug] [SECONDS]
#   --debug    use debug builds (quick check of the tooling; the numbers mean little)
#   SECONDS    measured duration per target (default 20), after a 3 s warm-up
#   FB_BENCH_BIN_DIR=DIR  take findings-bridge, backlog-sandbox and examples/noop_ingest from DIR
# Installs wrk with apt-get when it is missing. Backlog is a backlog-sandbox on 127.0.0.1 (the
# daemon's readiness resolves the project there); AWS endpoints point at a closed local port, so
# no real AWS is touched (write-backs fail and are retried later, as in an AWS outage).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
if [ "${1:-}" = "--debug" ]; then
    profile=debug
    shift
fi
seconds=${1:-20}
connections=64
threads=2

start_tries=200
# shellcheck source=lib/bench-common.sh
source scripts/lib/bench-common.sh
noop=$bindir/examples/noop_ingest

# Runs wrk against http://$1; prints its summary lines (from benches/intake.lua).
load() {
    local target=$1 label=$2
    wrk -t"$threads" -c"$connections" -d3s -s benches/intake.lua "http://$target" >/dev/null
    wrk -t"$threads" -c"$connections" -d"${seconds}s" --timeout 10s -s benches/intake.lua \
        "http://$target" >"$work/$label.wrk"
    sed -n '/^requests:/,$p' "$work/$label.wrk"
    if ! grep -q '^non-202: 0$' "$work/$label.wrk"; then
        echo "$label: not every request was acknowledged with 202" >&2
        exit 1
    fi
}

export FB_BENCH_INGEST_KEY="bench-ingest-key-$RANDOM$RANDOM"
sandbox_key="bench-sandbox-key-$RANDOM$RANDOM"

start sandbox "$bindir/backlog-sandbox" --listen 127.0.0.1:0 --api-key "$sandbox_key" \
    --project SEC --print-port
sandbox_addr=$addr

# A port nothing listens on: every AWS call fails fast (connection refused).
closed_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -e "s|@BACKLOG@|http://$sandbox_addr|" -e "s|@STORE@|$work/store|" \
    benches/intake.yaml >"$work/findings-bridge.yaml"

echo "== findings-bridge run ($profile build), $connections connections, ${seconds}s"
FB_BENCH_BACKLOG_KEY=$sandbox_key AWS_ENDPOINT_URL="http://127.0.0.1:$closed_port" \
    AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 \
    AWS_EC2_METADATA_DISABLED=true RUST_LOG=warn \
    start daemon "$bindir/findings-bridge" run -c "$work/findings-bridge.yaml"
daemon_addr=$addr
daemon_pid=$pid
for _ in $(seq 200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$daemon_addr/readyz")" = 200 ] && break
    sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$daemon_addr/readyz")" = 200 ] || {
    echo "the daemon is not ready:" >&2
    curl -s "http://$daemon_addr/readyz" >&2 || true
    cat "$work/daemon.log" >&2
    exit 1
}
load "$daemon_addr" daemon
accepted=$(curl -s "http://$daemon_addr/metrics" |
    sed -n 's/^findings_bridge_events_total{result="accepted",reason=""} //p')
echo "daemon: accepted events counted by the daemon (warm-up included): ${accepted:-?}"
echo "daemon: rss $(rss_mib "$daemon_pid") MiB, store on disk $(du -sm "$work/store" | cut -f1) MiB"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || true

echo "== noop_ingest (ceiling), $connections connections, ${seconds}s"
start noop "$noop"
load "$addr" noop
