#!/usr/bin/env bash
# The whole product on this machine, no AWS account and no Backlog space needed:
# moto (with the Security Hub additions of tests/moto/server.py) plays three AWS accounts in two
# regions, backlog-sandbox plays Backlog, and the real `findings-bridge` binary
#   1. applies examples/demo.yaml to the emulated accounts (validate, plan, apply, plan again),
#   2. files one Backlog issue per GuardDuty finding although each is delivered several times,
#      and marks every finding NOTIFIED with its issue key in Security Hub,
#   3. resolves the finding when a person closes its issue in Backlog (closure sync, webhook).
# Everything it starts is stopped when it ends (also on Ctrl-C or a failure); the logs stay in
# .demo/logs/. Exits non-zero when any step or check fails.
#
# Usage: ./scripts/demo.sh [--no-build]   (from anywhere inside the repository)
#   --no-build  use the binaries already in target/debug (e.g. CI, after `cargo build --bins`)
# Needs: cargo, python3 (with venv), curl. Ports: free ones on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
build=1
case "${1:-}" in
    "") ;;
    --no-build) build=0 ;;
    *) echo "usage: $0 [--no-build]" >&2; exit 2 ;;
esac
root=$(pwd)
work="$root/.demo"
logs="$work/logs"
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
helper="$root/scripts/lib/demo.py"

# The emulated organization: examples/demo.yaml names these.
accounts=(111111111111 222222222222 333333333333)
regions=(ap-northeast-1 us-east-1)
role=FindingsBridgeExecution
hub_account=111111111111
hub_region=ap-northeast-1
fixture="$root/crates/model/tests/fixtures/aws/guardduty-finding-in-securityhub-asff-awsdocs.json"
deliveries_per_finding=3

step() { printf '\n==> %s\n' "$*"; }
say() { printf '    %s\n' "$*"; }
indent() { sed 's/^/    /'; }
py() { "$root/.venv/bin/python" "$helper" "$@"; }

# --- cleanup: stop what we started, newest first, whatever happens -----------------------------
pids=()
names=()
started_at=$(date +%s)
stop_all() {
    local i pid
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        pid=${pids[i]}
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=()
    names=()
}
on_exit() {
    local status=$?
    trap - EXIT INT TERM
    if ((${#pids[@]} > 0)); then
        printf '\n==> Stopping %s\n' "${names[*]}"
        stop_all
        say "stopped"
    fi
    if [ -d "$logs" ]; then
        say "logs: $logs"
    fi
    if [ "$status" -eq 130 ] || [ "$status" -eq 143 ]; then
        printf '\nDEMO INTERRUPTED\n' >&2
    elif [ "$status" -ne 0 ]; then
        printf '\nDEMO FAILED (exit %s). Last lines of the logs:\n' "$status" >&2
        for f in "$logs"/*.log; do
            [ -s "$f" ] || continue
            printf -- '--- %s\n' "$f" >&2
            tail -n 15 "$f" >&2
        done
    fi
    exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME COMMAND…: runs COMMAND in the background (stdout to NAME.out, stderr to NAME.log)
# and remembers its pid for the cleanup. Background jobs of a script ignore Ctrl-C, so the
# trap above is what stops them. Where util-linux's setpriv is available, each child also gets
# SIGTERM from the kernel if this script dies without running its trap (kill -9).
lifeline=()
if command -v setpriv >/dev/null 2>&1 && setpriv --pdeathsig TERM true 2>/dev/null; then
    lifeline=(setpriv --pdeathsig TERM --)
fi
start() {
    local name=$1
    shift
    "${lifeline[@]}" "$@" >"$logs/$name.out" 2>"$logs/$name.log" </dev/null &
    pids+=("$!")
    names+=("$name")
}
last_pid() { echo "${pids[${#pids[@]} - 1]}"; }

fb() { "$bin/findings-bridge" "$@"; }

# ---------------------------------------------------------------------------------------------
step "1. Build the binaries and install the pinned moto (.venv)"
if [ "$build" = 1 ]; then
    cargo build --bins --locked --quiet
    say "built $bin/findings-bridge and $bin/backlog-sandbox"
else
    for b in findings-bridge backlog-sandbox; do
        [ -x "$bin/$b" ] || { echo "FAILED: no $bin/$b (run without --no-build)" >&2; exit 1; }
    done
    say "using the binaries in $bin (--no-build)"
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
req_stamp=.venv/.requirements.sha256
want=$(sha256sum tests/moto/requirements.txt | cut -d' ' -f1)
if [ ! -f "$req_stamp" ] || [ "$(cat "$req_stamp")" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check \
        -r tests/moto/requirements.txt
    echo "$want" >"$req_stamp"
fi
py versions | indent
started_at=$(date +%s) # the 3-minute budget counts from here

# ---------------------------------------------------------------------------------------------
step "2. Start the emulators (moto for AWS, backlog-sandbox for Backlog) in $work"
rm -rf "$work"
mkdir -p "$logs"
# Generated secrets, only ever passed through the environment (never printed, never in a file).
FB_INGEST_KEY=$(py secret)
BACKLOG_API_KEY=$(py secret)
FB_WEBHOOK_TOKEN=$(py secret)
export FB_INGEST_KEY BACKLOG_API_KEY FB_WEBHOOK_TOKEN
# Nothing below may reach a real AWS account: fake credentials, no profile, no metadata service.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true
export RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1 # plain logs: they go to files

start moto .venv/bin/python tests/moto/server.py --host 127.0.0.1 --port 0
moto_addr=$(py wait-line "$logs/moto.out" "listening on " "$(last_pid)")
export AWS_ENDPOINT_URL="http://$moto_addr"
say "moto            $AWS_ENDPOINT_URL (STS, IAM, EventBridge, Security Hub)"

start backlog-sandbox env BACKLOG_SANDBOX_API_KEY="$BACKLOG_API_KEY" \
    "$bin/backlog-sandbox" --listen 127.0.0.1:0 --project SEC
sandbox_url="http://$(py wait-line "$logs/backlog-sandbox.out" "listening on " "$(last_pid)")"
say "backlog-sandbox $sandbox_url (project SEC)"

# ---------------------------------------------------------------------------------------------
step "3. Deploy examples/demo.yaml to the emulated accounts: roles, validate, plan, apply, plan"
py roles --role "$role" "${accounts[@]}" | indent
port=$(py free-port)
daemon_url="http://127.0.0.1:$port"
config="$work/findings-bridge.yaml"
py config examples/demo.yaml "$config" --backlog "$sandbox_url" --port "$port" \
    --store "$work/findings-bridge-data" | indent
export FINDINGS_BRIDGE_CONFIG="$config"

say "\$ findings-bridge validate"
fb validate 2>&1 | indent
say "\$ findings-bridge plan"
fb plan 2>"$logs/plan.log" | indent
say "\$ findings-bridge apply --auto-approve"
fb apply --auto-approve 2>"$logs/apply.log" | indent
say "\$ findings-bridge plan --detailed-exitcode"
plan_status=0
fb plan --detailed-exitcode >"$work/plan-after-apply.txt" 2>>"$logs/plan.log" || plan_status=$?
indent <"$work/plan-after-apply.txt"
if [ "$plan_status" -ne 0 ]; then
    echo "FAILED: plan after apply exited $plan_status (0 = no changes was expected)" >&2
    exit 1
fi
say "no changes: every account × region matches the file"

# ---------------------------------------------------------------------------------------------
step "4. Run the daemon; deliver GuardDuty findings several times each"
start findings-bridge "$bin/findings-bridge" run -c "$config"
daemon_pid=$(last_pid)
py wait-line "$logs/findings-bridge.out" "listening on " "$daemon_pid" >/dev/null
wait_ready() {
    for _ in $(seq 300); do
        if curl -fsS -o /dev/null "$daemon_url/readyz" 2>/dev/null; then
            return 0
        fi
        kill -0 "$daemon_pid" 2>/dev/null || { echo "FAILED: the daemon exited" >&2; return 1; }
        sleep 0.2
    done
    echo "FAILED: $daemon_url/readyz never answered 200" >&2
    return 1
}
wait_ready
say "findings-bridge run: $daemon_url ready (/readyz 200)"

ids="$work/finding-ids.txt"
hub=(--hub-account "$hub_account" --hub-region "$hub_region")
py import --fixture "$fixture" --accounts "${accounts[@]}" --regions "${regions[@]}" \
    "${hub[@]}" --ids-out "$ids" | indent
py deliver "${hub[@]}" --ids "$ids" --daemon "$daemon_url" --key-env FB_INGEST_KEY \
    --times "$deliveries_per_finding" | indent
py wait-filed "${hub[@]}" --ids "$ids" --daemon "$daemon_url" --sandbox "$sandbox_url" | indent
py echoes "${hub[@]}" --ids "$ids" --daemon "$daemon_url" --sandbox "$sandbox_url" \
    --key-env FB_INGEST_KEY | indent
say "\$ findings-bridge status   (counters: events accepted, issues created, duplicates absorbed)"
fb status 2>>"$logs/cli.log" | grep -E '^(events|queues) ' | indent

# The store has one writer: stop the daemon (SIGTERM, a clean shutdown) to read it, then start
# it again on the same store; nothing is lost or filed twice across the restart.
say "\$ findings-bridge mappings list   (daemon stopped for it: the store has one writer)"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || { echo "FAILED: the daemon did not exit cleanly on SIGTERM" >&2; exit 1; }
pids=("${pids[@]:0:${#pids[@]}-1}")
names=("${names[@]:0:${#names[@]}-1}")
mv "$logs/findings-bridge.log" "$logs/findings-bridge-1.log"
fb mappings list 2>>"$logs/cli.log" | indent
start findings-bridge "$bin/findings-bridge" run -c "$config"
daemon_pid=$(last_pid)
py wait-line "$logs/findings-bridge.out" "listening on " "$daemon_pid" >/dev/null
wait_ready
say "daemon restarted on the same store: ready"

# ---------------------------------------------------------------------------------------------
step "5. Close an issue in Backlog; closure sync resolves its finding in Security Hub"
say "\$ findings-bridge backlog webhook install --url $daemon_url"
fb backlog webhook install --url "$daemon_url" 2>&1 | indent
closed="$work/closed.json"
py close --sandbox "$sandbox_url" --out "$closed" | indent
py wait-closed "${hub[@]}" --ids "$ids" --closed "$closed" --sandbox "$sandbox_url" \
    --daemon "$daemon_url" --timeout 30 | indent

# ---------------------------------------------------------------------------------------------
step "6. findings-bridge status; stop everything; no secret was written anywhere"
fb status 2>>"$logs/cli.log" | indent
printf '\n==> Stopping %s\n' "${names[*]}"
stop_all
say "stopped"
for name in FB_INGEST_KEY BACKLOG_API_KEY FB_WEBHOOK_TOKEN; do
    if grep -rqF -- "${!name}" "$work"; then
        echo "FAILED: the value of $name appears under $work" >&2
        exit 1
    fi
done
say "the generated secrets appear in no log, config or store file under $work"
say "demo finished in $(($(date +%s) - started_at)) s after the build"
