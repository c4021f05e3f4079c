#!/usr/bin/env bash
# Installs what the admin app and its browser tests need, then builds the app into dist/.
# Safe to run again: each tool is installed only when its pinned version is missing.
#   trunk 0.21.14 (0.22 needs a newer rustc), wasm-bindgen-cli = the wasm-bindgen in Cargo.lock,
#   the wasm32 target, Debian's chromium for Playwright (never a browser a test tool downloads),
#   and the e2e npm packages from e2e/package-lock.json.
# Options: --no-browser skips chromium and npm (enough to build the app, as the Dockerfile does).
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
browser=1
[[ "${1:-}" == "--no-browser" ]] && browser=0

if command -v rustup >/dev/null; then
    rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
fi
if [[ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]]; then
    echo "== installing trunk $TRUNK_VERSION (a few minutes, once)"
    cargo install --locked trunk --version "$TRUNK_VERSION"
fi
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]]; then
    echo "== installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
    # Not --locked: its lock file asks for crate versions this registry may not carry.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

if [[ $browser == 1 ]]; then
    if ! command -v chromium >/dev/null; then
        echo "== installing Debian's chromium"
        sudo=""
        [[ $(id -u) != 0 ]] && sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
    fi
    if [[ ! -d e2e/node_modules/@playwright/test ]]; then
        echo "== installing the e2e packages (npm ci)"
        (cd e2e && npm ci --no-audit --no-fund)
    fi
fi

echo "== trunk build --release (admin app -> dist/)"
# The version check would ask the registry on every build; offline = true is in Trunk.toml.
TRUNK_SKIP_VERSION_CHECK=true trunk build --release
