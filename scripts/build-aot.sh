#!/usr/bin/env bash
# Builds the ahead-of-time engine for POSIX hosts: Debian wabt's wasm2c translates both blobs to
# C (bindings/microtally.mk, scripts/aot-translate.mjs; the generated C stays in build/, never
# committed), and build/posix-aot/microtally-replay links them behind the same C API as wasm3.
#
#   bash scripts/build-aot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "build-aot: $*" >&2; }

command -v wasm2c >/dev/null || { log "wasm2c not found (apt install wabt; scripts/setup.sh does)"; exit 1; }
# The blobs come from `npm run build` (npm ci runs it); build them if a fresh tree lacks them.
if [ ! -f build/microtally-rtos.wasm ] || [ ! -f build/microtally-linux.wasm ]; then
  log "blobs missing: building them (npm run build:core)"
  npm run --silent build:core >&2
fi
JOBS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
make --no-print-directory -s -C ports/posix -j"$JOBS" MT_ENGINE=aot >&2
log "built build/posix-aot/microtally-replay ($(wc -c < build/posix-aot/microtally-replay) bytes)"
