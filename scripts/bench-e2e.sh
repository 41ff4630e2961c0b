#!/usr/bin/env bash
# Benchmark (issues 3 and 4), end to end against moto + backlog-sandbox on 127.0.0.1:
# Backlog calls per distinct finding (and per unfinished create intent after a SIGKILL), closure
# sync latency with webhooks off and on, calls per closed issue, calls per quiet poll.
# The driver is tests/examples/bench_e2e.rs (it reuses the e2e harness, fb_e2e).
#
# Usage: ./scripts/bench-e2e.sh [--debug] [FINDINGS CLOSES POLL_SECONDS]   (default 200 10 5)
#   --debug  run the debug daemon and sandbox (default: release builds of both)
#   FB_TEST_BIN_DIR=DIR  take findings-bridge and backlog-sandbox from DIR
# The driver itself is always a debug build: it only sends requests and reads logs.
# Needs .venv with the pinned moto (./scripts/test.sh creates it). Touches no real AWS/Backlog.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

profile=release
if [ "${1:-}" = "--debug" ]; then
    profile=debug
    shift
fi
[ -x "$root/.venv/bin/python" ] || { echo "missing .venv: run ./scripts/test.sh once" >&2; exit 1; }

if [ -z "${FB_TEST_BIN_DIR:-}" ]; then
    mode=()
    [ "$profile" = debug ] && mode=(--debug)
    FB_TEST_BIN_DIR=$(./scripts/bench-build.sh "${mode[@]}")
    export FB_TEST_BIN_DIR
fi
cargo build -p fb-e2e --example bench_e2e >&2
# Other processes share the 2 cores: say how busy the machine was when the run began.
echo "machine: $(nproc) CPUs, load average $(cut -d" " -f1-3 /proc/loadavg) at $(date -u +%FT%TZ)"
echo "== bench_e2e with $FB_TEST_BIN_DIR/findings-bridge"
"$root/target/debug/examples/bench_e2e" "$@"
