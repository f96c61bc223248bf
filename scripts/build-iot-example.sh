#!/usr/bin/env bash
# Builds the example firmware of examples/threadx-azure-iot for the Cortex-M3 board (QEMU
# mps2-an385) with its own CMake, as its README says, and measures it: flash and static RAM
# split into microtally, the Azure IoT middleware (with the Azure SDK for Embedded C), TLS
# (NetX Secure and NetX Crypto) and the rest (ThreadX, NetX Duo's IP stack with its DNS and SNTP
# clients, the example with its board, the toolchain's library), from the linker map by
# ports/mps2-an385/size.mjs:
#   bash scripts/build-iot-example.sh     build/iot-example-m3/threadx-azure-iot.elf (+ .map),
#                                         build/firmware/size-iot-example.json
# `node scripts/readme-numbers.mjs` copies the table into the READMEs. Without the ThreadX /
# NetX Duo trees or arm-none-eabi-gcc it says so in one line and exits 3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/trees.sh
. scripts/trees.sh
if [ ! -f "$THREADX_DIR/CMakeLists.txt" ]; then echo "build-iot-example: $(mt_tree_refusal threadx)" >&2; exit 3; fi
if [ ! -f "$NETXDUO_DIR/addons/azure_iot/nx_azure_iot_hub_client.c" ]; then echo "build-iot-example: $(mt_tree_refusal netxduo)" >&2; exit 3; fi
for tool in arm-none-eabi-gcc cmake; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build-iot-example: $tool is not installed" >&2; exit 3; }
done
[ -f "$WASM3_DIR/wasm3.h" ] || bash scripts/build-wasm3.sh >/dev/null

BUILD=build/iot-example-m3
GENERATOR=(); command -v ninja >/dev/null 2>&1 && GENERATOR=(-G Ninja)
cmake -S examples/threadx-azure-iot -B "$BUILD" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=MinSizeRel \
  -DTHREADX_DIR="$THREADX_DIR" -DNETXDUO_DIR="$NETXDUO_DIR" -DWASM3_DIR="$WASM3_DIR" \
  -DCMAKE_TOOLCHAIN_FILE="$ROOT/ports/threadx/cmake/arm-none-eabi-cortex-m3.cmake" >"$BUILD.log" 2>&1 ||
  { tail -20 "$BUILD.log"; exit 1; }
nice cmake --build "$BUILD" -j 2 >>"$BUILD.log" 2>&1 || { tail -20 "$BUILD.log"; exit 1; }

# First match wins: microtally's libraries and its buffers in the example (agent stack and
# queue, the adapter's stack); the middleware and the SDK; NetX Secure and the crypto library;
# then the kernel, NetX Duo's remaining objects and the example's own.
mkdir -p build/firmware
node ports/mps2-an385/size.mjs --map "$BUILD/threadx-azure-iot.elf.map" --elf "$BUILD/threadx-azure-iot.elf" \
  --label "examples/threadx-azure-iot on mps2-an385" --out build/firmware/size-iot-example.json \
  --component microtally=libmicrotally_threadx.a --component microtally=libmicrotally_azure_iot.a \
  --component microtally=section:.bss.agent_stack --component microtally=section:.bss.agent_queue \
  --component microtally=section:.bss.adapter_stack \
  --component middleware=libnetxduo.a\(nx_azure_iot --component middleware=libnetxduo.a\(nx_cloud. \
  --component middleware=libnetxduo.a\(nxd_mqtt_client. --component middleware=/libaz_ \
  --component middleware=section:.bss.iot --component middleware=section:.bss.iot_stack \
  --component middleware=section:.bss.hub_client \
  --component tls=libnetxduo.a\(nx_secure_ --component tls=libnetxduo.a\(nx_crypto_ \
  --component tls=section:.bss.tls_metadata --component tls=section:.bss.ca_cert \
  --component tls=section:.bss.device_cert \
  --component threadx=libthreadx.a --component netxduo=libnetxduo.a \
  --component example=threadx-azure-iot.dir/
