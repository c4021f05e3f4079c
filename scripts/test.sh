#!/usr/bin/env bash
# Runs every check and test of the project, as CI does. Safe to run again: installs only what is
# missing (rustfmt/clippy, the web toolchain, Debian's chromium, the e2e npm packages).
set -euo pipefail
cd "$(dirname "$0")/.."

# The Rust toolchain is the only prerequisite; make sure its lint tools are there.
if command -v rustup >/dev/null; then
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

# The admin app (dist/) comes first: the server serves it, its tests read it, e2e drives it.
./scripts/setup-web.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --exclude admin-app --all-targets --locked -- -D warnings
# The app only builds for the browser.
cargo clippy -p admin-app --target wasm32-unknown-unknown --locked -- -D warnings

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== cargo test"
cargo test --workspace --exclude admin-app --locked 2>&1 | tee "$log"

echo "== sync-bench --quick (smoke test of the shipped benchmark on the debug binaries: it fails"
echo "   only on a protocol error or a hang, never on a figure)"
cargo build -p sync-bench -p sync-server -p sync-client --locked
./target/debug/sync-bench --quick --server-binary target/debug/sync-server

echo "== docs: troubleshooting.md and configuration.md against the sources and the binary"
SYNC_SERVER_BIN=target/debug/sync-server python3 scripts/check-docs.py 2>&1 | tee -a "$log"

echo "== deploy/: alert rules and their tests, systemd unit, /metrics, dashboard queries against a"
echo "   live server and a real Prometheus"
SYNC_SERVER_BIN=target/debug/sync-server SYNC_CLIENT_BIN=target/debug/sync-client \
    ./scripts/test-deploy.sh 2>&1 | tee -a "$log"

echo "== fuzz (quick mode: every cargo-fuzz target for a few seconds; nightly toolchain)"
FUZZ_SECONDS="${FUZZ_SECONDS:-10}" ./scripts/fuzz.sh

echo "== e2e (Playwright, Debian chromium, the debug binaries cargo test built)"
(cd e2e && npx playwright test) 2>&1 | tee -a "$log"

# cargo's last lines are doc-test runs (often 0 tests) and Playwright prints its own summary:
# close with the sum of every run.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     /^ +[0-9]+ passed \(/ { p += $1 }
     /^ +[0-9]+ failed$/ { f += $1 }
     /^[0-9]+ passed, [0-9]+ failed$/ { p += $1; f += $3 }
     END { printf "Total: %d passed, %d failed\n", p, f }' "$log"
