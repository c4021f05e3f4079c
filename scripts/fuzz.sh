#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a while; exits non-zero if one crashes.
#
# Quick mode (the default): FUZZ_SECONDS=20 per target. Long mode: e.g. FUZZ_SECONDS=3600.
# FUZZ_TARGETS="session config_load" runs only those. Needs the nightly toolchain; installs
# cargo-fuzz if it is missing. Each target starts from its seed corpus (fuzz/corpus/<target>,
# checked in) plus what earlier runs on this machine found (fuzz/target/corpus/<target>, not
# checked in); a crash leaves its input in fuzz/artifacts/<target>/ and the command that replays
# it in the output.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

seconds="${FUZZ_SECONDS:-20}"
# No AddressSanitizer by default: the code under test is safe Rust, where ASan finds nothing a
# panic or libFuzzer's own signal handling does not, and it doubles the build and slows every
# run. 16 codegen units build much faster than cargo-fuzz's default of 1 for a little speed.
# Overflow checks and debug assertions stay on. FUZZ_SANITIZER=address brings ASan back.
build_flags=(--sanitizer "${FUZZ_SANITIZER:-none}" --codegen-units 16)

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked || cargo install cargo-fuzz
fi

targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"
start=$(date +%s)
cargo +nightly fuzz build "${build_flags[@]}"
echo "fuzz: built in $(($(date +%s) - start)) s"

# Extra seed directories per target: real files elsewhere in the repository.
extra_seeds() {
  case "$1" in
  model_load) echo "$root/model/tests/fixtures/models/public $root/model/tests/fixtures/models/invalid" ;;
  esac
}

failed=()
for target in $targets; do
  work="$root/fuzz/target/corpus/$target"
  log="$root/fuzz/target/$target.log"
  mkdir -p "$work" "$root/fuzz/artifacts/$target"
  echo "fuzz: $target for $seconds s (log: fuzz/target/$target.log)"
  status=0
  # New inputs go to the first directory (the local work corpus), never into the seeds. An input
  # that runs longer than 30 s counts as a crash (a hang).
  # shellcheck disable=SC2046
  cargo +nightly fuzz run "${build_flags[@]}" "$target" "$work" "$root/fuzz/corpus/$target" $(extra_seeds "$target") \
    -- -max_total_time="$seconds" -timeout=30 -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|stat::number_of_executed_units)' "$log" || true
  if [ "$status" -ne 0 ]; then
    # The panic message, then cargo-fuzz's summary: the input and the commands to replay it.
    grep -E -A2 'panicked at|ERROR: libFuzzer' "$log" | head -n 12 || true
    sed -n '/^Failing input:/,/^Stack backtrace:/p' "$log" | sed '$d'
    failed+=("$target")
  fi
done

echo "fuzz: $(($(date +%s) - start)) s in all"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: no crashes in: $(echo $targets)"
