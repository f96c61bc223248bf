#!/usr/bin/env bash
# End-to-end tests of the device side on IoT Hub's path (issue 20): the example firmware
# (examples/threadx-azure-iot) and the programs of ports/azure-iot/test on ThreadX's Linux port,
# NetX Duo over a TAP device (ports/netxduo-tap) inside a network namespace this script creates,
# so no traffic leaves it; the peers (test/azure-iot/: DNS, SNTP, echo, the IoT Hub stand-in)
# run inside the same namespace. First, without root, the example's Cortex-M3 build and size
# (scripts/build-iot-example.sh).
# Needs root (namespaces), /dev/net/tun, node, cmake and the real ThreadX / NetX Duo trees
# (THREADX_DIR / NETXDUO_DIR, else ../shared/third_party): without one it says so in one line
# and counts skipped. Ends with one line `N passed, M failed[, K skipped]`.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/test-counts.sh
. scripts/test-counts.sh

LOGS=build/test-logs
mkdir -p "$LOGS"
JOBS=2
GENERATOR=(); command -v ninja >/dev/null 2>&1 && GENERATOR=(-G Ninja)

SHARED_TREES=${MT_SHARED_THIRD_PARTY:-$ROOT/../shared/third_party}
[ -d "$SHARED_TREES" ] && SHARED_TREES=$(cd "$SHARED_TREES" && pwd)
TX_TREE=${THREADX_DIR:-}
NX_TREE=${NETXDUO_DIR:-}
if [ -z "$TX_TREE" ] && [ -f "$SHARED_TREES/threadx/common/inc/tx_api.h" ]; then TX_TREE=$SHARED_TREES/threadx; fi
if [ -z "$NX_TREE" ] && [ -f "$SHARED_TREES/netxduo/common/inc/nx_api.h" ]; then NX_TREE=$SHARED_TREES/netxduo; fi

# The example firmware for the Cortex-M3 board: it links, and its size file (the READMEs' table,
# scripts/readme-numbers.mjs) is this build's. Needs no root, so it runs before that check.
echo "== the example firmware for Cortex-M3 (mps2-an385): build, link, measure"
nice bash scripts/build-iot-example.sh >"$LOGS/azure-iot-m3.log" 2>&1
rc=$?
if [ $rc -eq 3 ]; then
  tail -1 "$LOGS/azure-iot-m3.log"; skip "the example firmware for Cortex-M3 (tree or toolchain missing)"
elif [ $rc -eq 0 ] && [ -s build/iot-example-m3/threadx-azure-iot.elf ] && node -e '
    const s = JSON.parse(require("fs").readFileSync("build/firmware/size-iot-example.json", "utf8"));
    const c = s.components;
    process.exit(["microtally", "middleware", "tls", "threadx", "netxduo", "example"].every((k) => c[k] && c[k].flash > 0) ? 0 : 1);'; then
  pass "examples/threadx-azure-iot links for mps2-an385 ($(tail -n +1 "$LOGS/azure-iot-m3.log" | grep -m1 'flash' | sed 's/^.*: flash/flash/'))"
else
  tail -20 "$LOGS/azure-iot-m3.log"; fail "examples/threadx-azure-iot for mps2-an385 (log: $LOGS/azure-iot-m3.log)"
fi

missing=""
[ "$(id -u)" -eq 0 ] || missing="root (network namespaces)"
[ -z "$missing" ] && [ ! -c /dev/net/tun ] && missing="/dev/net/tun"
[ -z "$missing" ] && ! command -v ip >/dev/null 2>&1 && missing="iproute2 (ip)"
[ -z "$missing" ] && ! command -v node >/dev/null 2>&1 && missing="node"
[ -z "$missing" ] && ! command -v cmake >/dev/null 2>&1 && missing="cmake"
[ -z "$missing" ] && { [ -z "$TX_TREE" ] || [ -z "$NX_TREE" ] || [ ! -f "$NX_TREE/addons/azure_iot/nx_azure_iot_hub_client.c" ]; } &&
  missing="the ThreadX / NetX Duo trees with addons/azure_iot (THREADX_DIR / NETXDUO_DIR, or ${SHARED_TREES})"
if [ -n "$missing" ]; then
  echo "skip the Azure IoT end-to-end tests: this machine lacks $missing"
  skip "Azure IoT end to end (NetX Duo on a TAP device in a network namespace)"
  finish
fi

# microtally's side: wasm3's pinned source and the rtos blob (as scripts/test-threadx.sh).
if ! bash scripts/build-wasm3.sh >"$LOGS/azure-iot-wasm3.log" 2>&1; then cat "$LOGS/azure-iot-wasm3.log"; fail "build-wasm3"; finish; fi
if [ ! -f build/microtally-rtos-small.wasm ]; then fail "build/microtally-rtos-small.wasm missing (npm run build)"; finish; fi

BUILD=build/azure-iot
echo "== build: the example's CMake project (ThreadX Linux port + NetX Duo + NetX Secure + Azure IoT middleware + microtally) and the tests"
if [ -f "$BUILD/CMakeCache.txt" ] && ! grep -q "CMAKE_GENERATOR:INTERNAL=${GENERATOR[1]:-Unix Makefiles}" "$BUILD/CMakeCache.txt"; then
  rm -rf "$BUILD"
fi
if cmake -S ports/azure-iot/test -B "$BUILD" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Debug \
     -DTHREADX_DIR="$TX_TREE" -DNETXDUO_DIR="$NX_TREE" >"$LOGS/azure-iot-build.log" 2>&1 &&
   nice cmake --build "$BUILD" -j "$JOBS" >>"$LOGS/azure-iot-build.log" 2>&1; then
  pass "build: the example firmware (examples/threadx-azure-iot, Linux port), the TAP driver and the tests with -Wall -Wextra -Werror, upstream's trees as upstream builds them"
else
  tail -30 "$LOGS/azure-iot-build.log"; fail "build (log: $LOGS/azure-iot-build.log)"; finish
fi

# The namespace: one TAP device, the peers' address on the kernel side, nothing else.
NS=mt-aziot-$$
TAP=mt0
PEER=10.77.0.1
HUB=mt-test-hub.azure-devices.net
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  ip netns del "$NS" 2>/dev/null
}
trap cleanup EXIT
if ! { ip netns add "$NS" && ip -n "$NS" link set lo up && ip -n "$NS" tuntap add dev "$TAP" mode tap &&
       ip -n "$NS" addr add "$PEER/24" dev "$TAP" && ip -n "$NS" link set "$TAP" up; } >"$LOGS/azure-iot-netns.log" 2>&1; then
  cat "$LOGS/azure-iot-netns.log"; fail "network namespace $NS with TAP device $TAP"; finish
fi
routes=$(ip -n "$NS" -4 route show | awk '{ printf "%s %s %s;", $1, $2, $3 }')
links=$(ip -n "$NS" -o link show | awk -F': ' '{ sub(/@.*/, "", $2); printf "%s;", $2 }')
if [ "$routes" = "10.77.0.0/24 dev $TAP;" ] && [ "$links" = "lo;$TAP;" ]; then
  pass "namespace $NS: one TAP device, no route beyond 10.77.0.0/24 (no traffic can leave)"
else
  fail "namespace $NS: routes $routes links $links"
fi

# start_in_ns <log> <command...>: runs a peer in the namespace, waits for its `ready` line.
start_in_ns() {
  local log=$1; shift
  ip netns exec "$NS" "$@" >"$log" 2>&1 &
  PIDS+=($!)
  local i
  for i in $(seq 1 100); do
    grep -q '^ready' "$log" && return 0
    kill -0 "${PIDS[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  cat "$log"; return 1
}

echo "== the link: NetX Duo on the TAP driver, ARP, ICMP, UDP, TCP and DNS against peers in the namespace"
if start_in_ns "$LOGS/azure-iot-peer.log" node test/azure-iot/peer.mjs "$PEER" "$HUB=$PEER"; then
  ip netns exec "$NS" timeout 120 "$BUILD/test_tap_link" "$TAP" "$PEER" "$HUB" >"$LOGS/azure-iot-link.log" 2>&1
  rc=$?
  cat "$LOGS/azure-iot-link.log"
  add_counts "$LOGS/azure-iot-link.log" "test_tap_link"
  [ $rc -eq 0 ] || fail "test_tap_link: exit status $rc"
else
  fail "the peers (test/azure-iot/peer.mjs) did not start"
fi

# Test-time PKI: a CA, the hub's RSA certificate for its name, another CA the device must refuse;
# device keys (the right one and a wrong one) in files, never on a command line or in a log.
CERTS=build/azure-iot/pki
rm -rf "$CERTS"; mkdir -p "$CERTS"
if ! {
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$CERTS/ca.pem" -out "$CERTS/ca.crt" -days 2 -subj "/CN=microtally test CA" &&
  openssl x509 -in "$CERTS/ca.crt" -outform DER -out "$CERTS/ca.der" &&
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$CERTS/other-ca.pem" -out "$CERTS/other-ca.crt" -days 2 -subj "/CN=microtally other CA" &&
  openssl x509 -in "$CERTS/other-ca.crt" -outform DER -out "$CERTS/other-ca.der" &&
  openssl req -newkey rsa:2048 -nodes -keyout "$CERTS/hub.pem" -out "$CERTS/hub.csr" -subj "/CN=$HUB" &&
  openssl x509 -req -in "$CERTS/hub.csr" -CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.pem" -CAcreateserial -days 2 \
    -extfile <(printf 'subjectAltName=DNS:%s\n' "$HUB") -out "$CERTS/hub.crt" &&
  openssl rand -base64 32 >"$CERTS/device.key" && openssl rand -base64 32 >"$CERTS/wrong.key" &&
  # X.509 devices: a device CA the hub trusts, the device's certificate (CN = device id) from it,
  # and one with the same CN that no trusted CA signed; keys as PKCS#1 DER for NetX Secure.
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$CERTS/device-ca.pem" -out "$CERTS/device-ca.crt" -days 2 -subj "/CN=microtally test device CA" &&
  openssl req -newkey rsa:2048 -nodes -keyout "$CERTS/device-cert.pem" -out "$CERTS/device-cert.csr" -subj "/CN=mt-device-1" &&
  openssl x509 -req -in "$CERTS/device-cert.csr" -CA "$CERTS/device-ca.crt" -CAkey "$CERTS/device-ca.pem" -CAcreateserial -days 2 -out "$CERTS/device-cert.crt" &&
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$CERTS/wrong-cert.pem" -out "$CERTS/wrong-cert.crt" -days 2 -subj "/CN=mt-device-1" &&
  openssl x509 -in "$CERTS/device-cert.crt" -outform DER -out "$CERTS/device-cert.der" &&
  openssl rsa -in "$CERTS/device-cert.pem" -traditional -outform DER -out "$CERTS/device-cert-key.der" &&
  openssl x509 -in "$CERTS/wrong-cert.crt" -outform DER -out "$CERTS/wrong-cert.der" &&
  openssl rsa -in "$CERTS/wrong-cert.pem" -traditional -outform DER -out "$CERTS/wrong-cert-key.der"
} >"$LOGS/azure-iot-pki.log" 2>&1; then
  cat "$LOGS/azure-iot-pki.log"; fail "test PKI with openssl"; finish
fi

echo "== the hub: the Azure IoT middleware over NetX Secure against the IoT Hub stand-in (test/azure-iot/hub.mjs)"
ip netns exec "$NS" timeout 600 node test/azure-iot/e2e.mjs "$BUILD" "$CERTS" "$PEER" "$HUB" "$LOGS/azure-iot-peer.log" >"$LOGS/azure-iot-e2e.log" 2>&1
rc=$?
cat "$LOGS/azure-iot-e2e.log"
add_counts "$LOGS/azure-iot-e2e.log" "e2e.mjs"
[ $rc -eq 0 ] || fail "e2e.mjs: exit status $rc"

finish
