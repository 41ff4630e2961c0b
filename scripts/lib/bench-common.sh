# Shared by scripts/bench-intake.sh and scripts/bench-memory.sh (sourced, not run).
# Reads $profile (release|debug) and $start_tries (how many 50 ms waits a server gets to print
# `listening on ADDR`). Sets $bindir and $work; installs wrk when missing; kills every server
# started with `start` and removes $work on exit.

if ! command -v wrk >/dev/null; then
    echo "installing wrk (apt-get)…" >&2
    apt-get install -y wrk >&2 || { sudo apt-get update >&2 && sudo apt-get install -y wrk >&2; }
fi

if [ -n "${FB_BENCH_BIN_DIR:-}" ]; then
    bindir=$FB_BENCH_BIN_DIR
else
    mode=()
    [ "$profile" = debug ] && mode=(--debug)
    bindir=$(./scripts/bench-build.sh "${mode[@]}")
fi

# Other processes share the 2 cores: say how busy the machine was when the run began.
echo "machine: $(nproc) CPUs, load average $(cut -d" " -f1-3 /proc/loadavg) at $(date -u +%FT%TZ)"
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Starts "$@" in the background with stdout in $work/$name.out; sets $addr from its
# `listening on ADDR` line and $pid.
start() {
    local name=$1
    shift
    "$@" >"$work/$name.out" 2>"$work/$name.log" &
    pid=$!
    pids+=("$pid")
    for _ in $(seq "$start_tries"); do
        addr=$(sed -n 's/^listening on //p' "$work/$name.out" | head -n1)
        [ -n "$addr" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "$name did not start; log:" >&2
    cat "$work/$name.log" >&2
    exit 1
}

rss_mib() { awk '/^VmRSS:/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
