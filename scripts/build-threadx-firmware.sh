#!/usr/bin/env bash
# Builds the ThreadX images of ports/qemu-threadx (the agent thread of ports/threadx on the real
# ThreadX Cortex-M3 kernel, QEMU mps2-an385) and measures them:
#
#   bash scripts/build-threadx-firmware.sh       both engines, both profiles, then
#                                                build/firmware/size-threadx.json (wasm3) and
#                                                size-threadx-aot.json (ahead of time)
#   bash scripts/build-threadx-firmware.sh --profile rtos [--engine wasm3|aot]
#                                                one image (what `replay --engine qemu-threadx` needs)
#
# The ThreadX tree: as scripts/trees.sh locates it. Without one it says so in one line and exits 3 (scripts/test.sh then counts the qemu-threadx runs as skipped).
# The wasm3 rtos image takes the heap size ports/qemu measured (scripts/build-firmware.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FW_SCRIPT=build-threadx-firmware
# shellcheck source=scripts/firmware-lib.sh
. scripts/firmware-lib.sh
fw_parse_args "$@"

# shellcheck source=scripts/trees.sh
. scripts/trees.sh
if [ ! -f "$THREADX_DIR/common/inc/tx_api.h" ] || [ ! -d "$THREADX_DIR/ports/cortex_m3/gnu/src" ]; then
  log "$(mt_tree_refusal threadx)"
  exit 3
fi

# The wasm3 heap header and the blobs come from the ports/qemu build (it takes its own lock).
heap_header=$ROOT/build/firmware/wasm3-heap-rtos.h
for e in "${engines[@]}"; do
  for p in "${profiles[@]}"; do
    if [ "$e/$p" = wasm3/rtos ] && [ ! -f "$heap_header" ]; then
      bash scripts/build-firmware.sh --profile rtos --engine wasm3 >&2
    fi
  done
done
fw_sources

# One build at a time: test workers each ask for the image (host/engines/qemu-threadx.ts).
mkdir -p build/firmware
exec 9>build/firmware/.lock-threadx
flock 9

JOBS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
for e in "${engines[@]}"; do
  for p in "${profiles[@]}"; do
    extra=()
    [ "$e/$p" = wasm3/rtos ] && extra=(HEAP_HEADER="$heap_header")
    make --no-print-directory -s -C ports/qemu-threadx -j"$JOBS" PROFILE="$p" MT_ENGINE="$e" \
      THREADX_DIR="$THREADX_DIR" WASM3_DIR="$WASM3_DIR" "${extra[@]}" >&2
  done
done
case " ${profiles[*]} " in *" rtos "*) ;; *) exit 0 ;; esac

[ -f build/firmware/regions.json ] || node scripts/blob-regions.mjs build/microtally-rtos-small.wasm >build/firmware/regions.json

# The whole bill of an rtos image: ThreadX kernel, agent, queue, stacks, engine, blob, the
# replay feeder and board code; plus the stacks' high-water marks on a run that fills the
# caches, splits messages and ends with the deepest JSON nesting the core accepts.
measure() {
  local engine=$1 name=$2 obj=$3 out=$4
  shift 4
  local elf=$ROOT/build/firmware/$name.elf work=build/firmware/measure-threadx-$engine
  [ "$out" -nt "$elf" ] && return 0
  fw_footprint_run "$name" "$elf" "$work"
  node ports/mps2-an385/size.mjs --label "$name.elf (mps2-an385, Cortex-M3, ThreadX, $engine)" \
    --map "build/firmware/$name.map" --elf "$elf" --out "$out" \
    --component "stacks=section:.bss.agent_stack" --component "stacks=section:.bss.feeder_stack" \
    --component "queue=section:.bss.agent_queue" \
    --component "threadx=build/firmware/threadx-kernel/" --component "agent=$obj/agent/" \
    --component "replay=$obj/port/" "$@" \
    --measured "$work/footprint.json" --regions build/firmware/regions.json
}

for e in "${engines[@]}"; do
  case $e in
    wasm3) measure wasm3 microtally-threadx-rtos build/firmware/threadx-rtos build/firmware/size-threadx.json \
             --component "wasm3=build/firmware/threadx-rtos/wasm3/" --component "bindings=build/firmware/threadx-rtos/microtally.o" \
             --component "bindings=build/firmware/threadx-rtos/mt_engine_wasm3.o" --component "blob=build/firmware/threadx-rtos/blobs/" ;;
    aot) measure aot microtally-threadx-aot-rtos build/firmware/threadx-aot-rtos build/firmware/size-threadx-aot.json \
           --component "blob=build/firmware/threadx-aot-rtos/aot/microtally_rtos_aot.o" \
           --component "bindings=build/firmware/threadx-aot-rtos/microtally.o" --component "bindings=build/firmware/threadx-aot-rtos/mt_engine_aot.o" \
           --component "bindings=build/firmware/threadx-aot-rtos/aot/" ;;
  esac
done
