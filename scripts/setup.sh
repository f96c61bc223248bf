#!/usr/bin/env bash
# Installs what microtally needs on a fresh Debian machine (as root, or with sudo), then the
# npm dependencies; `npm ci` also builds the blobs and the host (the `prepare` script).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: a C compiler and curl for the wasm3 engine (wasm3's source comes from PyPI),
# a real MQTT broker and openssl (test certificates) for the transport tests,
# iproute2 (ss) for the connection collector, the Arm cross compiler and
# newlib for the firmware, QEMU for the emulated board, clang's sanitizer and libFuzzer
# runtimes (not pulled in by clang itself) for the fuzz targets, clang-format for the C style
# check (scripts/check-format.sh).
PACKAGES=(build-essential clang libclang-rt-14-dev clang-format libbpf-dev cmake curl wabt mosquitto openssl iproute2 gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The tests start their own broker on a free port; the system one is not needed.
  $SUDO service mosquitto stop >/dev/null 2>&1 || true
fi

# Python's cbor2 (a standard CBOR decoder with the stringref tags) for test/cbor-interop.test.ts.
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import cbor2' >/dev/null 2>&1; then
  python3 -m pip install --quiet cbor2 || echo "setup: could not install cbor2 (test/cbor-interop.test.ts will skip)"
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm run --silent build
fi
