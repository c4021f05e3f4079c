#!/usr/bin/env bash
# Regenerates the protocol seeds of fuzz/corpus/ from the real encoder: every frame that
# `cargo run -p shared-types --example protocol_dump` prints (the worked examples of
# docs/protocol.md), as raw bytes for protocol_decode and protocol_roundtrip, and as message
# sequences in the session target's record format. The model, config and JSON seeds are plain
# files checked in beside them. Run from anywhere; needs xxd.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
corpus="$root/fuzz/corpus"
dump="$(mktemp)"
trap 'rm -f "$dump"' EXIT
cargo run -q --manifest-path "$root/Cargo.toml" -p shared-types --example protocol_dump >"$dump"

frames="$corpus/protocol_decode"
mkdir -p "$frames" "$corpus/protocol_roundtrip" "$corpus/session"
rm -f "$frames"/frame-* "$corpus/protocol_roundtrip"/frame-* "$corpus/session"/seq-*

# Each run of hex-dump lines is one frame, named after the `-- Message` line above it (or
# "compact-ops" for the last section). The shared-secret section's HMAC dumps are not frames.
awk '
  /^==== / { name = "compact-ops"; skip = 0; inblock = 0; next }
  /^HMAC/ { skip = 1; next }
  /^-- / { name = $2; sub(/[(:].*/, "", name); skip = 0; inblock = 0; next }
  /^[0-9a-f][0-9a-f][0-9a-f][0-9a-f]: / {
    if (skip) next
    if (!inblock) { n++; printf "\n%02d-%s ", n, tolower(name); inblock = 1 }
    sub(/^[0-9a-f]+: /, ""); gsub(/ /, ""); printf "%s", $0
    next
  }
  { inblock = 0 }
  END { print "" }
' "$dump" | while read -r name hex; do
  [ -n "$name" ] || continue
  printf '%s' "$hex" | xxd -r -p >"$frames/frame-$name"
  cp "$frames/frame-$name" "$corpus/protocol_roundtrip/frame-$name"
done

# Session records: [tag u8][len u16 LE][payload]. Tag 0 is a client frame, 2 accepts the login,
# 3 refuses it, 4 is a live commit (its payload feeds the generator).
record() {
  local tag="$1" file="$2" len
  len=$(stat -c %s "$file")
  printf "\\x$(printf %02x "$tag")\\x$(printf %02x $((len & 255)))\\x$(printf %02x $((len >> 8)))"
  cat "$file"
}
empty="$(mktemp)"
commit="$(mktemp)"
trap 'rm -f "$dump" "$empty" "$commit"' EXIT
printf '\x01\x02\x00\x01\x01\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01\x01\x02' >"$commit"
f() { ls "$frames"/frame-*-"$1" | head -n "${2:-1}" | tail -n 1; }
{
  record 0 "$(f login)"
  record 2 "$empty"
  record 0 "$(f applytx)"
  record 4 "$commit"
  record 0 "$(f requestupdates)"
  record 0 "$(f heartbeat)"
  record 0 "$(f applytx 2)"
  record 0 "$(f cancelupdates)"
} >"$corpus/session/seq-login-apply-push"
{
  record 0 "$(f applytx)"
  record 0 "$(f login)"
} >"$corpus/session/seq-apply-before-login"
{
  record 0 "$(f login 2)"
  record 3 "$empty"
  record 0 "$(f applytx)"
} >"$corpus/session/seq-login-refused"
{
  record 0 "$(f heartbeat)"
  record 0 "$(f login)"
  record 0 "$(f login 2)"
} >"$corpus/session/seq-login-twice"
{
  record 0 "$(f login)"
  record 2 "$empty"
  record 0 "$(f login)"
} >"$corpus/session/seq-login-after-login"
ls "$corpus"/*/ | wc -l
