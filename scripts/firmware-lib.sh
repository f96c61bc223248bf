# Shared by scripts/build-firmware.sh and scripts/build-threadx-firmware.sh (sourced, not run):
# their options, the board's QEMU command line and the footprint run of an image.
# FW_SCRIPT names the sourcing script in messages.

log() { echo "$FW_SCRIPT: $*" >&2; }
die() { log "$*"; exit 1; }

# Sets `profiles` and `engines` from [--profile rtos|linux] [--engine wasm3|aot] (default: all).
fw_parse_args() {
  profiles=(rtos linux)
  engines=(wasm3 aot)
  while [ $# -gt 0 ]; do
    case "$1 ${2:-}" in
      "--profile rtos"|"--profile linux") profiles=("$2") ;;
      "--engine wasm3"|"--engine aot") engines=("$2") ;;
      *) die "usage: $FW_SCRIPT.sh [--profile rtos|linux] [--engine wasm3|aot]" ;;
    esac
    shift 2
  done
}

# The emulated Cortex-M3 board, with a deterministic instruction clock.
qemu() {
  qemu-system-arm -M mps2-an385 -nographic -monitor none -serial none -icount shift=0,align=off,sleep=off "$@"
}

# Runs image $2 (named $1) with --footprint in folder $3 on a load that splits messages and fills
# the caches, then the deepest JSON nesting the core accepts; leaves its measurements in
# $3/footprint.json. $4: a hint added when the image fails.
fw_footprint_run() {
  local name=$1 elf=$2 work=$3 hint=${4:-} status=0
  mkdir -p "$work"
  node test/c/gen-traces.mjs "$work" >/dev/null
  cat "$work/load.jsonl" "$work/deep.jsonl" >"$work/footprint.jsonl"
  (cd "$work" && qemu -semihosting-config enable=on,target=native,arg=microtally,arg=--footprint,arg=footprint.jsonl \
     -kernel "$elf" >/dev/null 2>footprint.err) || status=$?
  # 0 or 1 (some lines skipped) are replay results; anything else is a failure of the image.
  if [ "$status" -gt 1 ]; then
    cat "$work/footprint.err" >&2
    die "the $name image failed on the footprint run (exit $status)$hint"
  fi
  tail -1 "$work/footprint.err" >"$work/footprint.json"
}

# wasm3's source (pinned, checked) into WASM3_DIR, and the blobs when they are missing.
fw_sources() {
  bash scripts/build-wasm3.sh --fetch-only
  # shellcheck source=scripts/trees.sh
  . scripts/trees.sh
  if [ ! -f build/microtally-rtos-small.wasm ] || [ ! -f build/microtally-linux.wasm ]; then
    log "blobs missing: building them (npm run build:core)"
    npm run --silent build:core >&2
  fi
}
