#!/usr/bin/env bash
# Installs the JS SDK's dependencies (idempotently), builds it and runs every JS test with node:test.
#
# The real server and CLI come from SYNC_SERVER_BIN and SYNC_CLIENT_BIN (paths relative to this
# directory or absolute; default ../../target/debug/sync-server and sync-client). Browser tests
# use Chromium at $CHROMIUM (default /usr/bin/chromium) and are skipped with a note if it is
# missing.
set -euo pipefail
cd "$(dirname "$0")"

export SYNC_SERVER_BIN="${SYNC_SERVER_BIN:-../../target/debug/sync-server}"
export SYNC_CLIENT_BIN="${SYNC_CLIENT_BIN:-../../target/debug/sync-client}"
for bin in "$SYNC_SERVER_BIN" "$SYNC_CLIENT_BIN"; do
  [[ -x "$bin" ]] || { echo "test.sh: $bin is missing or not executable (build it, or set SYNC_SERVER_BIN / SYNC_CLIENT_BIN)" >&2; exit 1; }
done

# Never let a tool download a browser.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
# Reinstall only when package-lock.json changed since the last install.
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ "$(cat node_modules/.installed-lock-hash 2>/dev/null)" != "$lock_hash" ]]; then
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.installed-lock-hash
fi
npx tsc -p tsconfig.json
node bundle.mjs
node --test --test-concurrency=1 --test-reporter=spec test/*.test.mjs
