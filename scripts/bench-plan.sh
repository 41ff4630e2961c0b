#!/usr/bin/env bash
# Benchmark: wall time of a no-op `findings-bridge plan` for 1, 8 and 32 account × regions
# against moto (tests/moto/server.py), and the AWS read calls it makes per account × region.
#
# Usage: ./scripts/bench-plan.sh [--release] [RUNS]
#   --release  build and time the release binary (slow to build); default: the debug build
#   RUNS       timed runs per size (default 5); the median is reported
#   FB_BENCH_BIN=PATH  time this binary instead of building one
# Needs .venv with the pinned moto (./scripts/test.sh creates it). Touches no real AWS: every
# call goes to a moto on 127.0.0.1 started (and stopped) by this script.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

profile=debug
if [ "${1:-}" = "--release" ]; then
    profile=release
    shift
fi
runs=${1:-5}
python="$root/.venv/bin/python"
[ -x "$python" ] || { echo "missing .venv: run ./scripts/test.sh once" >&2; exit 1; }

if [ -n "${FB_BENCH_BIN:-}" ]; then
    bin=$FB_BENCH_BIN   # an already built binary (label its profile yourself)
elif [ "$profile" = release ]; then
    cargo build --release -p findings-bridge >&2
    bin="$root/target/release/findings-bridge"
else
    cargo build -p findings-bridge >&2
    bin="$root/target/debug/findings-bridge"
fi

work=$(mktemp -d)
moto_pid=
cleanup() {
    if [ -n "$moto_pid" ]; then kill "$moto_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# moto on a free port; its first stdout line is `listening on 127.0.0.1:PORT`.
"$python" tests/moto/server.py --port 0 >"$work/moto.out" 2>"$work/moto.err" &
moto_pid=$!
for _ in $(seq 50); do
    grep -q "listening on" "$work/moto.out" 2>/dev/null && break
    sleep 0.1
done
endpoint="http://$(sed -n 's/^listening on //p' "$work/moto.out")"

export AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export FB_INGEST_KEY=bench-ingest-key BACKLOG_API_KEY=unused FINDINGS_BRIDGE_STATS=1

# The execution role in each account (through the harness role moto lets anyone assume).
make_roles() {
    "$python" - "$endpoint" "$@" <<'EOF'
import sys, boto3
endpoint, accounts = sys.argv[1], sys.argv[2:]
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id="test", aws_secret_access_key="test")
sts = boto3.client("sts", **kw)
for account in accounts:
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
                        RoleSessionName="bench")["Credentials"]
    iam = boto3.client("iam", **dict(kw, aws_access_key_id=c["AccessKeyId"],
                       aws_secret_access_key=c["SecretAccessKey"],
                       aws_session_token=c["SessionToken"]))
    try:
        iam.create_role(RoleName="FindingsBridgeExecution", AssumeRolePolicyDocument="{}")
    except iam.exceptions.EntityAlreadyExistsException:
        pass
EOF
}

# write_config FILE STORE "ACCOUNT…" "REGION…" RULES
write_config() {
    local ids regions
    ids=$(printf '"%s", ' $3); ids=${ids%, }
    regions=$(printf '%s, ' $4); regions=${regions%, }
    cat >"$1" <<EOF
version: 1
name: bench
accounts:
  ids: [$ids]
  role: FindingsBridgeExecution
  regions: [$regions]
security_hub: {account: "111111111111", region: us-east-1}
backlog:
  base_url: http://127.0.0.1:9
  api_key: env:BACKLOG_API_KEY
  project: SEC
  issue_type: Task
  priority: {CRITICAL: High, HIGH: High, MEDIUM: Normal, LOW: Low, INFORMATIONAL: Low}
relay: {public_url: "https://bridge.example.test", api_key: "env:FB_INGEST_KEY"}
rules:
$(for r in $(seq "$5"); do
    printf '  - name: rule%s\n' "$r"
    printf '    match: {product_names: [P%s], record_states: [ACTIVE], workflow_statuses: [NEW]}\n' "$r"
    printf '    issue: {summary: "<FindingType> in <AwsAccountId>", description: "<Title>"}\n'
done)
server: {listen: "127.0.0.1:0"}
store: {path: "$2"}
EOF
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '| account × regions | accounts × regions | rules | no-op plan, median of %s (s) | AWS read calls | calls per account × region |\n' "$runs"
printf '|---|---|---|---|---|---|\n'
# size: accounts regions rules (the last row gives the cost of each extra rule)
for size in "1 1 1" "4 2 1" "16 2 1" "4 2 3"; do
    set -- $size
    n_accounts=$1 n_regions=$2 n_rules=$3
    accounts=$(seq -f "1000000%05g" 1 "$n_accounts" | tr '\n' ' ')
    regions=$(echo "us-east-1 ap-northeast-1" | cut -d' ' -f1-"$n_regions")
    make_roles $accounts
    cfg="$work/bench-$n_accounts-$n_regions-$n_rules.yaml"
    write_config "$cfg" "$work/store-$n_accounts-$n_regions-$n_rules" "$accounts" "$regions" "$n_rules"
    "$bin" -c "$cfg" apply --auto-approve >/dev/null 2>"$work/apply.err" \
        || { cat "$work/apply.err" >&2; exit 1; }
    "$bin" -c "$cfg" plan --detailed-exitcode >/dev/null 2>"$work/plan.err" \
        || { echo "the plan after apply is not empty:" >&2; cat "$work/plan.err" >&2; exit 1; }
    times=()
    for _ in $(seq "$runs"); do
        start=$(date +%s.%N)
        "$bin" -c "$cfg" plan --detailed-exitcode >/dev/null 2>"$work/plan.err"
        end=$(date +%s.%N)
        times+=("$(echo "$end - $start" | bc)")
    done
    wall=$(printf '%s\n' "${times[@]}" | median)
    calls=$(sed -n 's/^stats: \([0-9]*\) AWS read calls.*/\1/p' "$work/plan.err")
    per=$(sed -n 's/.* \([0-9.]*\) calls per account × region.*/\1/p' "$work/plan.err")
    printf '| %s | %s × %s | %s | %.2f | %s | %s |\n' \
        $((n_accounts * n_regions)) "$n_accounts" "$n_regions" "$n_rules" "$wall" "$calls" "$per"
done
echo
echo "binary: $profile build; moto 5.2.5 in-process (tests/moto/server.py) on 127.0.0.1;"
echo "reconcile.concurrency 8 (default); $(nproc) CPUs; $(date -u +%Y-%m-%d)."
