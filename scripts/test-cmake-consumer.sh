#!/usr/bin/env bash
# The firmware engineer's CMake journey, as ports/threadx/README.md tells it. Ends with one line
# `N passed, M failed[, K skipped]`. For each engine (wasm3; aot when node and wasm2c are there):
#  - ports/threadx is built against the ThreadX and NetX Duo folders (ThreadX's Linux port) and
#    installed into a prefix of its own (install(), the package config); on wasm3 with a config
#    header (test/cmake-consumer/my_microtally_config.h) that the firmware must see as installed;
#  - a firmware project is written from the README as it stands: its CMakeLists.txt (ThreadX and
#    NetX Duo by their own CMake, find_package(microtally CONFIG REQUIRED)) and its start code
#    (microtally_start.c), with test/cmake-consumer/main.c beside them (main(), ip_0, a UDP
#    sender, publish()); it configures against the installed prefix only, builds, links and runs:
#    the agent starts, the hook sees the datagrams, the core takes them, messages reach publish();
#    then a core update (make-test-packages' changed-small-2.pkg, its test key's point built in)
#    streamed through mt_tx_update_begin/write/commit: swapped in on wasm3 (an AgentUpdate
#    `applied`, then the new core's AgentVersion, in messages), refused at once on aot (built
#    with -DMT_UPDATE=ON);
#  - (wasm3) test/cmake-consumer's heap probe, on the same prefix: one rtos core's wasm3 heap,
#    the default MT_WASM3_HEAP_BYTES covering it, and a core unloaded and loaded again in it.
# The trees (scripts/trees.sh: THREADX_DIR / NETXDUO_DIR, else ../shared/third_party) are only
# read; without them this says so in one line and counts the journey as skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/test-counts.sh
. scripts/test-counts.sh
# shellcheck source=scripts/trees.sh
. scripts/trees.sh
OUT=$ROOT/build/cmake-consumer
LOGS=$ROOT/build/test-logs
README=ports/threadx/README.md
mkdir -p "$OUT" "$LOGS"
JOBS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
[ "$JOBS" -gt 2 ] && JOBS=2
GENERATOR=(); command -v ninja >/dev/null 2>&1 && GENERATOR=(-G Ninja)

if ! command -v cmake >/dev/null 2>&1; then fail "cmake not installed (scripts/setup.sh)"; finish; fi
if [ ! -f build/microtally-rtos-small.wasm ]; then fail "build/microtally-rtos-small.wasm missing (npm run build)"; finish; fi
if [ -z "$THREADX_DIR" ] || [ -z "$NETXDUO_DIR" ]; then
  if [ -z "$THREADX_DIR" ]; then echo "skip the CMake journey: $(mt_tree_refusal threadx)"; else echo "skip the CMake journey: $(mt_tree_refusal netxduo)"; fi
  skip "find_package(microtally) firmware on ThreadX's Linux port"
  finish
fi
if [ ! -f "$THREADX_DIR/ports/linux/gnu/inc/tx_port.h" ] || [ ! -f "$NETXDUO_DIR/CMakeLists.txt" ]; then
  echo "skip the CMake journey: the trees lack ThreadX's Linux port or NetX Duo's CMakeLists.txt ($THREADX_DIR, $NETXDUO_DIR)"
  skip "find_package(microtally) firmware on ThreadX's Linux port"
  finish
fi
echo "   ThreadX: $THREADX_DIR"
echo "   NetX Duo: $NETXDUO_DIR"

# The firmware project, from the README as it stands: the first ```cmake block of the package
# section, the first ```c block of "## Start".
SRC=$OUT/firmware
rm -rf "$SRC"; mkdir -p "$SRC"
block() { # block <heading> <language>: the first ```<language> block under <heading>
  awk -v head="$1" -v lang="$2" '
    index($0, head) == 1 { in_section = 1; next }
    in_section && !inside && /^## / { exit }
    in_section && $0 == "```" lang { inside = 1; next }
    inside && $0 == "```" { exit }
    inside { print }' "${README_FILE:-$README}"
}
block '### Against folders, installed as a package' cmake >"$SRC/CMakeLists.txt"
block '## Start' c >"$SRC/microtally_start.c"
cp test/cmake-consumer/main.c ports/common/test/test_storage.[ch] "$SRC/"
if grep -q 'find_package(microtally CONFIG REQUIRED)' "$SRC/CMakeLists.txt" && grep -q 'microtally_start.c' "$SRC/CMakeLists.txt" &&
   grep -q 'mt_tx_start(&cfg)' "$SRC/microtally_start.c"; then
  pass "the firmware's CMakeLists.txt and start code taken from $README ($(wc -l <"$SRC/CMakeLists.txt") + $(wc -l <"$SRC/microtally_start.c") lines)"
else
  fail "$README: no package CMake snippet or start code where this script looks for them"
  finish
fi

# The main README shows the same firmware project: it must be the same text.
if cmp -s "$SRC/CMakeLists.txt" <(README_FILE=README.md block '## Firmware: the Cortex-M board and the ThreadX port' cmake); then
  pass "README.md's firmware CMakeLists.txt is the port README's"
else
  fail "README.md's firmware CMakeLists.txt differs from $README's"
fi

# The core update the firmware streams in: make-test-packages' changed-small-2.pkg (the rtos-small
# blob with another AgentVersion), signed with its test key, whose point the firmware builds in
# (the last 65 bytes of test.pub's DER, as the README says).
PACKAGES=$ROOT/build/test-packages
if node scripts/make-test-packages.mjs "$PACKAGES" >"$LOGS/cmake-consumer-packages.log" 2>&1 &&
   point=$(openssl pkey -pubin -in "$PACKAGES/test.pub" -outform DER | tail -c 65 | od -An -v -tx1) &&
   [ "$(wc -w <<<"$point")" -eq 65 ]; then
  { echo "/* The update test key's point (scripts/test-cmake-consumer.sh), built in. */"
    echo "static const UCHAR update_key[65] = {"
    sed -E 's/([0-9a-f]{2})/0x\1,/g' <<<"$point"
    echo "};"; } >"$SRC/update_key.h"
  pass "test packages and key (scripts/make-test-packages.mjs), the key's point built into the firmware"
else
  tail -5 "$LOGS/cmake-consumer-packages.log"; fail "test packages (scripts/make-test-packages.mjs) or their key's point"; finish
fi

engines=(wasm3)
if command -v node >/dev/null 2>&1 && command -v wasm2c >/dev/null 2>&1; then
  engines+=(aot)
else
  echo "skip the aot engine: it needs node and wasm2c (apt install wabt)"
  skip "find_package(microtally) firmware, MT_ENGINE=aot"
fi
if ! bash scripts/build-wasm3.sh >"$LOGS/cmake-consumer-wasm3.log" 2>&1; then
  cat "$LOGS/cmake-consumer-wasm3.log"; fail "build-wasm3"; finish
fi

for engine in "${engines[@]}"; do
  echo "== MT_ENGINE=$engine"
  PKG=$OUT/package-$engine PREFIX=$OUT/prefix-$engine LOG=$LOGS/cmake-consumer-$engine.log
  rm -rf "$PREFIX"
  # wasm3: with a config header of the user's, which must reach the firmware through the package.
  # aot: core updates asked for (off by default there), so the same firmware source builds and
  # its update is refused at once.
  config=(-DMT_UPDATE=ON)
  [ "$engine" = wasm3 ] && config=(-DMT_CONFIG_FILE="$ROOT/test/cmake-consumer/my_microtally_config.h"
                                   -DMT_TX_CONFIG_FILE="$ROOT/test/cmake-consumer/my_microtally_config.h")
  # The package, as the README builds it, for ThreadX's Linux port (the host's compiler).
  if nice cmake -S ports/threadx -B "$PKG" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=MinSizeRel \
       -DTHREADX_DIR="$THREADX_DIR" -DNETXDUO_DIR="$NETXDUO_DIR" -DTHREADX_ARCH=linux \
       -DMT_TX_DEFINITIONS=NX_ENABLE_IP_PACKET_FILTER -DMT_ENGINE="$engine" -DMT_WERROR=ON \
       "${config[@]}" -DCMAKE_INSTALL_PREFIX="$PREFIX" >"$LOG" 2>&1 &&
     nice cmake --build "$PKG" -j "$JOBS" >>"$LOG" 2>&1 && cmake --install "$PKG" >>"$LOG" 2>&1; then
    pass "$engine: the package built (-Werror on ours) and installed into $PREFIX"
  else
    tail -30 "$LOG"; fail "$engine: the package's build or install"; continue
  fi
  missing=""
  for f in lib/libmicrotally_threadx.a include/microtally/microtally_threadx.h include/microtally/microtally_netx.h \
           include/microtally/microtally_threadx_config_defaults.h include/microtally/microtally_config_defaults.h \
           lib/cmake/microtally/microtallyConfig.cmake lib/cmake/microtally/microtallyConfigVersion.cmake \
           lib/cmake/microtally/microtallyTargets.cmake include/microtally/microtally_threadx_update.h \
           include/microtally/mt_update.h; do
    [ -f "$PREFIX/$f" ] || missing="$missing $f"
  done
  [ "$engine" = wasm3 ] && ! cmp -s test/cmake-consumer/my_microtally_config.h "$PREFIX/include/microtally/config/microtally_config.h" &&
    missing="$missing include/microtally/config/microtally_config.h"
  if [ -z "$missing" ] && grep -q "set(microtally_ENGINE \"$engine\")" "$PREFIX/lib/cmake/microtally/microtallyConfig.cmake" &&
     grep -q "set(microtally_UPDATE ON)" "$PREFIX/lib/cmake/microtally/microtallyConfig.cmake"; then
    pass "$engine: install layout (lib, include/microtally, lib/cmake/microtally; microtally_ENGINE $engine, microtally_UPDATE ON)"
  else
    fail "$engine: install layout: missing$missing"
  fi

  # Relocatable, and nothing of the build machine's trees: the package's CMake files and headers
  # name neither the source tree (the prefix is under it) nor the ThreadX / NetX Duo trees.
  if named=$(grep -rlF -e "$ROOT" -e "$THREADX_DIR" -e "$NETXDUO_DIR" "$PREFIX"); then
    echo "$named" | head -5; fail "$engine: the installed package names paths of this machine"
  else
    pass "$engine: the installed package names no path of this machine (relocatable)"
  fi

  # The firmware: only the installed prefix is named (never the microtally source tree). One
  # build folder for both engines (ThreadX and NetX Duo compile once): the package is found
  # again in the other prefix, which the cache must then name.
  FW=$OUT/firmware-build
  if [ -f "$FW/CMakeCache.txt" ] && { ! grep -qx "THREADX_DIR:[A-Z]*=$THREADX_DIR" "$FW/CMakeCache.txt" ||
     ! grep -q "CMAKE_GENERATOR:INTERNAL=${GENERATOR[1]:-Unix Makefiles}" "$FW/CMakeCache.txt"; }; then
    rm -rf "$FW" # made from other trees, or by another generator
  fi
  if nice cmake -S "$SRC" -B "$FW" "${GENERATOR[@]}" -DTHREADX_DIR="$THREADX_DIR" -DNETXDUO_DIR="$NETXDUO_DIR" \
       -DTHREADX_ARCH=linux -DCMAKE_PREFIX_PATH="$PREFIX" -Umicrotally_DIR >>"$LOG" 2>&1 &&
     grep -q "^microtally_DIR:PATH=$PREFIX/lib/cmake/microtally$" "$FW/CMakeCache.txt" &&
     nice cmake --build "$FW" -j "$JOBS" >>"$LOG" 2>&1; then
    pass "$engine: the README's firmware found the installed package, built and linked for ThreadX's Linux port"
  else
    tail -30 "$LOG"; fail "$engine: the README's firmware against the installed package"; continue
  fi
  # The engine the package was built with is the one linked: wasm3's interpreter, or the
  # translated blob's module descriptor (never both).
  symbols=$(nm "$FW/my_firmware" 2>/dev/null)
  if [ "$engine" = wasm3 ]; then want=m3_NewRuntime not=mt_aot_microtally_rtos; else want=mt_aot_microtally_rtos not=m3_NewRuntime; fi
  if grep -qw "$want" <<<"$symbols" && ! grep -qw "$not" <<<"$symbols"; then
    pass "$engine: the firmware links the $engine engine ($want, no $not)"
  else
    fail "$engine: the firmware does not link the $engine engine alone ($want / $not)"
  fi
  MT_CONSUMER_PACKAGE=$PACKAGES/changed-small-2.pkg MT_CONSUMER_SELFTEST=$ROOT/host/update/selftest.jsonl \
    timeout 60 "$FW/my_firmware" >"$LOGS/cmake-consumer-$engine-run.log" 2>&1
  rc=$?
  sed 's/^/   /' "$LOGS/cmake-consumer-$engine-run.log"
  add_counts "$LOGS/cmake-consumer-$engine-run.log" "$engine: the firmware's run"
  [ $rc -eq 0 ] || fail "$engine: the firmware's run: exit status $rc"

  if [ "$engine" = wasm3 ]; then
    HP=$OUT/heap-probe
    if cmake -S test/cmake-consumer -B "$HP" "${GENERATOR[@]}" -DCMAKE_PREFIX_PATH="$PREFIX" >>"$LOG" 2>&1 &&
       cmake --build "$HP" >>"$LOG" 2>&1; then
      "$HP/heap_probe" >"$LOGS/cmake-consumer-heap.log" 2>&1
      rc=$?
      cat "$LOGS/cmake-consumer-heap.log"
      add_counts "$LOGS/cmake-consumer-heap.log" "heap probe"
      [ $rc -eq 0 ] || fail "heap probe: exit status $rc"
    else
      tail -20 "$LOG"; fail "heap probe: build against the installed package"
    fi
  fi
done

finish
