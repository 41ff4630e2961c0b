#!/usr/bin/env bash
# Reruns every benchmark of docs/benchmarks.md (release builds unless --debug), one after the
# other, printing each one's numbers. Expect about 10 minutes on 2 cores once built; the first
# release build takes much longer. Each script can also be run alone (see its header).
#
# Usage: ./scripts/bench.sh [--debug]
set -euo pipefail
cd "$(dirname "$0")/.."
mode=()
[ "${1:-}" = "--debug" ] && mode=(--debug)
date -u +"benchmarks started %Y-%m-%dT%H:%MZ on $(nproc) CPUs ($(uname -m))"
./scripts/bench-intake.sh "${mode[@]}" 20
./scripts/bench-memory.sh "${mode[@]}" 1000000
./scripts/bench-e2e.sh "${mode[@]}" 200 10 5
if [ ${#mode[@]} -eq 0 ]; then
    ./scripts/bench-plan.sh --release 5
else
    ./scripts/bench-plan.sh 5
fi
