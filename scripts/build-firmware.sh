#!/usr/bin/env bash
# Builds the QEMU mps2-an385 (Cortex-M3) firmware images of ports/qemu and measures them:
#
#   bash scripts/build-firmware.sh              both engines, both profiles, then
#                                               build/firmware/size.json and size-aot.json
#   bash scripts/build-firmware.sh --profile rtos [--engine wasm3|aot]
#                                               one image (what `replay --engine qemu|qemu-aot` needs)
#   WASM3_DIR=/path/to/wasm3/source bash scripts/build-firmware.sh   your own wasm3 checkout
#
# Engines: wasm3 interprets the blob (microtally-qemu-<profile>.elf); aot runs it translated to
# C by wasm2c (microtally-qemu-aot-<profile>.elf). size.json (wasm3) and size-aot.json describe
# the rtos images (the firmware; the linux images exist so the test suites can run the linux
# profile on the board too): flash and static RAM from the linker map, split by component, the
# budget of issue 11, the core's linear-memory regions (mt_regions), and what the image itself
# measured at run time (engine RAM and main stack high-water mark, `--footprint`). Needs
# arm-none-eabi-gcc, newlib, qemu-system-arm and wabt (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
log() { echo "build-firmware: $*" >&2; }
die() { log "$*"; exit 1; }

profiles=(rtos linux)
engines=(wasm3 aot)
while [ $# -gt 0 ]; do
  case "$1 ${2:-}" in
    "--profile rtos"|"--profile linux") profiles=("$2") ;;
    "--engine wasm3"|"--engine aot") engines=("$2") ;;
    *) die "usage: build-firmware.sh [--profile rtos|linux] [--engine wasm3|aot]" ;;
  esac
  shift 2
done
command -v arm-none-eabi-gcc >/dev/null || die "arm-none-eabi-gcc not found (apt install gcc-arm-none-eabi libnewlib-arm-none-eabi)"
case " ${engines[*]} " in *" aot "*) command -v wasm2c >/dev/null || die "wasm2c not found (apt install wabt)" ;; esac

# wasm3's source (pinned, checked) and the blobs.
bash scripts/build-wasm3.sh --fetch-only
WASM3_DIR=${WASM3_DIR:-$ROOT/third_party/pywasm3-0.5.0/wasm3}
if [ ! -f build/microtally-rtos-small.wasm ] || [ ! -f build/microtally-linux.wasm ]; then
  log "blobs missing: building them (npm run build:core)"
  npm run --silent build:core >&2
fi

# One build at a time: test workers each ask for the image (host/engines/qemu.ts).
mkdir -p build/firmware
exec 9>build/firmware/.lock
flock 9

JOBS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
for e in "${engines[@]}"; do
  for p in "${profiles[@]}"; do
    make --no-print-directory -s -C ports/qemu -j"$JOBS" PROFILE="$p" MT_ENGINE="$e" WASM3_DIR="$WASM3_DIR" >&2
  done
done
# A size file follows its rtos image whenever the image is rebuilt, so the two never disagree;
# an image that did not change is not measured again (every test worker asks for a build).
case " ${profiles[*]} " in *" rtos "*) ;; *) exit 0 ;; esac
command -v qemu-system-arm >/dev/null || die "qemu-system-arm not found (apt install qemu-system-arm)"

# The core's linear memory by region, from the blob both images run (mt_regions when it has it).
node scripts/blob-regions.mjs build/microtally-rtos-small.wasm >build/firmware/regions.json

# Run-time footprint of an rtos image on a trace that splits messages and fills the caches,
# then its size file. $1: engine, $2: image name, $3: object folder, $4: size file, $5 and $6:
# flash and RAM budget, then the components.
measure() {
  local engine=$1 name=$2 obj=$3 out=$4 flash=$5 ram=$6
  shift 6
  local elf=$ROOT/build/firmware/$name.elf work=build/firmware/measure-$engine status=0
  [ "$out" -nt "$elf" ] && [ "$out" -nt build/firmware/regions.json ] && return 0
  mkdir -p "$work"
  node test/c/gen-traces.mjs "$work" >/dev/null
  (cd "$work" && qemu-system-arm -M mps2-an385 -nographic -monitor none -serial none \
     -icount shift=0,align=off,sleep=off \
     -semihosting-config enable=on,target=native,arg=microtally,arg=--footprint,arg=load.jsonl \
     -kernel "$elf" >/dev/null 2>footprint.err) || status=$?
  # 0 or 1 (some lines skipped) are replay results; anything else is a failure of the image.
  if [ "$status" -gt 1 ]; then
    cat "$work/footprint.err" >&2
    # 71: mt_init failed; under wasm3 most likely its heap is too small for the blob.
    die "the $name image failed on the footprint run (exit $status); if it says the heap is too small, raise MT_WASM3_HEAP_BYTES in ports/qemu/microtally_config.h"
  fi
  tail -1 "$work/footprint.err" >"$work/footprint.json"
  node ports/qemu/size.mjs --label "$name.elf (mps2-an385, Cortex-M3, $engine)" \
    --map "build/firmware/$name.map" --elf "$elf" --out "$out" "$@" \
    --component "port=$obj/port/" --budget-flash "$flash" --budget-ram "$ram" \
    --measured "$work/footprint.json" --regions build/firmware/regions.json
}

# Budgets of issue 11: wasm3 image flash <= 96 KiB, RAM <= 176 KiB; AOT image 64 / 48 KiB.
for e in "${engines[@]}"; do
  case $e in
    wasm3) measure wasm3 microtally-qemu-rtos build/firmware/rtos build/firmware/size.json 98304 180224 \
             --component "wasm3=build/firmware/rtos/wasm3/" --component "bindings=build/firmware/rtos/microtally.o" \
             --component "bindings=build/firmware/rtos/mt_engine_wasm3.o" --component "blob=build/firmware/rtos/blobs/" ;;
    aot) measure aot microtally-qemu-aot-rtos build/firmware/aot-rtos build/firmware/size-aot.json 65536 49152 \
           --component "blob=build/firmware/aot-rtos/aot/microtally_rtos_aot.o" \
           --component "bindings=build/firmware/aot-rtos/microtally.o" --component "bindings=build/firmware/aot-rtos/mt_engine_aot.o" \
           --component "bindings=build/firmware/aot-rtos/aot/" ;;
  esac
done
