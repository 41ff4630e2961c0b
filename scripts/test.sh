#!/usr/bin/env bash
# Installs what the tests need (moto, pinned, in ./.venv) and runs every test of the workspace.
# Usage: ./scripts/test.sh            (from anywhere inside the repository)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*"; }

step "Python test tools (moto, pinned) in .venv"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
req_stamp=.venv/.requirements.sha256
want=$(sha256sum tests/moto/requirements.txt | cut -d' ' -f1)
if [ ! -f "$req_stamp" ] || [ "$(cat "$req_stamp")" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/moto/requirements.txt
    echo "$want" > "$req_stamp"
fi
export FB_TEST_PYTHON="$root/.venv/bin/python"

step "Formatting and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Build the binaries the end-to-end tests start"
cargo build --workspace --bins --locked
export FB_TEST_BIN_DIR="$root/target/debug"

step "The demo, end to end (scripts/demo.sh against the binaries just built)"
./scripts/demo.sh --no-build

step "Tests"
if cargo nextest --version >/dev/null 2>&1; then
    # nextest does not run doctests: run them first so nextest's summary closes the output.
    cargo test --workspace --doc --locked
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi
