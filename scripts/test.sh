#!/usr/bin/env bash
# Runs every check and test of the project, as CI does. Safe to run again: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Rust toolchain is the only prerequisite; make sure its lint tools are there.
if command -v rustup >/dev/null; then
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --exclude admin-app --all-targets --locked -- -D warnings

echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --exclude admin-app --locked 2>&1 | tee "$log"
# cargo's last lines are the doc-test runs (often 0 tests); close with the sum of every run.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "Total: %d passed, %d failed\n", p, f }' "$log"
