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
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked
