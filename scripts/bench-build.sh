#!/usr/bin/env bash
# Builds everything the benchmarks run, in ONE cargo invocation so that Cargo resolves features
# once (the examples bring their packages' dev-dependency features, e.g. tokio's test-util, into
# the same build as the binaries; a second invocation would rebuild half the tree).
#
# Usage: ./scripts/bench-build.sh [--debug]   — prints the directory holding the binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
flag=(--release)
if [ "${1:-}" = "--debug" ]; then
    profile=debug
    flag=()
fi
cargo build "${flag[@]}" -p findings-bridge -p backlog-sandbox -p fb-daemon -p fb-store \
    --bins --example noop_ingest --example accept_bench >&2
echo "$(pwd)/target/$profile"
