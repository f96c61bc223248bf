#!/usr/bin/env bash
# Builds the update image of a board engine: the wasm3 image with `replay --update-at`
# (docs/UPDATE.md) — the agent, ports/common/mt_update.c over NetX Duo's nx_crypto, RAM staging
# slots — which host/engines/qemu.ts and qemu-threadx.ts run when a replay has packages. The
# images scripts/build-firmware.sh and build-threadx-firmware.sh measure stay without it.
#
#   bash scripts/build-update-firmware.sh qemu|qemu-threadx [--profile rtos|linux]
#       build/firmware/microtally-qemu-update-<profile>.elf, microtally-threadx-update-<profile>.elf
#
# Needs what those scripts need, and the NetX Duo tree (scripts/trees.sh); without a tree it says
# so in one line and exits 3.
set -euo pipefail
cd "$(dirname "$0")/.."
board=${1:-}
shift || true
case $board in
  qemu|qemu-threadx) FW_SCRIPT=build-update-firmware ;;
  *) echo "usage: build-update-firmware.sh qemu|qemu-threadx [--profile rtos|linux]" >&2; exit 2 ;;
esac
# shellcheck source=scripts/firmware-lib.sh
. scripts/firmware-lib.sh
fw_parse_args "$@"
command -v arm-none-eabi-gcc >/dev/null || die "arm-none-eabi-gcc not found (apt install gcc-arm-none-eabi libnewlib-arm-none-eabi)"
# shellcheck source=scripts/trees.sh
. scripts/trees.sh
if [ ! -d "$NETXDUO_DIR/crypto_libraries" ]; then log "$(mt_tree_refusal netxduo)"; exit 3; fi
if [ "$board" = qemu-threadx ] && [ ! -f "$THREADX_DIR/common/inc/tx_api.h" ]; then log "$(mt_tree_refusal threadx)"; exit 3; fi
fw_sources
mkdir -p build/firmware
# One build at a time per shared object folder: the ThreadX images share the kernel's objects
# (build/firmware/threadx-kernel) with scripts/build-threadx-firmware.sh, so they take its lock.
exec 9>build/firmware/"$([ "$board" = qemu ] && echo .lock-update || echo .lock-threadx)"
flock 9
JOBS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
port=$([ "$board" = qemu ] && echo ports/qemu || echo ports/qemu-threadx)
for p in "${profiles[@]}"; do
  make --no-print-directory -s -C "$port" -j"$JOBS" PROFILE="$p" MT_ENGINE=wasm3 UPDATE=1 \
    THREADX_DIR="$THREADX_DIR" NETXDUO_DIR="$NETXDUO_DIR" WASM3_DIR="$WASM3_DIR" >&2
done
