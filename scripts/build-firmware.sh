#!/usr/bin/env bash
# Builds the QEMU mps2-an385 (Cortex-M3) firmware images of ports/qemu and measures them:
#
#   bash scripts/build-firmware.sh                  both profiles, then build/firmware/size.json
#   bash scripts/build-firmware.sh --profile rtos   one image (what `replay --engine qemu` needs)
#   WASM3_DIR=/path/to/wasm3/source bash scripts/build-firmware.sh   your own wasm3 checkout
#
# size.json describes the rtos image (the firmware; the linux image exists so the test suites can
# run the linux profile on the board too): flash and static RAM from the linker map, split by
# component, the budget of issue 5, and what the image itself measured at run time (wasm3 heap
# and main stack high-water marks, `--footprint`). Needs arm-none-eabi-gcc, newlib and
# qemu-system-arm (scripts/setup.sh installs them from Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
log() { echo "build-firmware: $*" >&2; }
die() { log "$*"; exit 1; }

profiles=(rtos linux)
if [ "${1:-}" = "--profile" ]; then
  case "${2:-}" in rtos|linux) profiles=("$2") ;; *) die "--profile takes rtos or linux" ;; esac
fi
command -v arm-none-eabi-gcc >/dev/null || die "arm-none-eabi-gcc not found (apt install gcc-arm-none-eabi libnewlib-arm-none-eabi)"

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
for p in "${profiles[@]}"; do
  make --no-print-directory -s -C ports/qemu -j"$JOBS" PROFILE="$p" WASM3_DIR="$WASM3_DIR" >&2
done
# size.json follows the rtos image whenever it is rebuilt, so the two never disagree; an
# image that did not change is not measured again (every test worker asks for a build).
case " ${profiles[*]} " in *" rtos "*) ;; *) exit 0 ;; esac
[ build/firmware/size.json -nt build/firmware/microtally-qemu-rtos.elf ] && exit 0

# Run-time footprint of the rtos image on a trace that splits messages and fills the caches.
command -v qemu-system-arm >/dev/null || die "qemu-system-arm not found (apt install qemu-system-arm)"
work=build/firmware/measure
mkdir -p "$work"
node test/c/gen-traces.mjs "$work" >/dev/null
elf=$ROOT/build/firmware/microtally-qemu-rtos.elf
status=0
(cd "$work" && qemu-system-arm -M mps2-an385 -nographic -monitor none -serial none \
   -icount shift=0,align=off,sleep=off \
   -semihosting-config enable=on,target=native,arg=microtally,arg=--footprint,arg=load.jsonl \
   -kernel "$elf" >/dev/null 2>footprint.err) || status=$?
# 0 or 1 (some lines skipped) are replay results; anything else is a failure of the image.
if [ "$status" -gt 1 ]; then
  cat "$work/footprint.err" >&2
  # 71: mt_init failed, most likely wasm3's heap is too small for the blob.
  die "the rtos image failed on the footprint run (exit $status); if it says the heap is too small, raise MT_WASM3_HEAP_BYTES in ports/qemu/microtally_config.h"
fi
tail -1 "$work/footprint.err" >"$work/footprint.json"

obj=build/firmware/rtos
node ports/qemu/size.mjs --label "microtally-qemu-rtos.elf (mps2-an385, Cortex-M3)" \
  --map build/firmware/microtally-qemu-rtos.map --elf "$elf" --out build/firmware/size.json \
  --component "wasm3=$obj/wasm3/" --component "bindings=$obj/microtally.o" \
  --component "blob=$obj/blobs/" --component "port=$obj/port/" \
  --budget-flash 131072 --budget-ram 98304 --measured "$work/footprint.json"
