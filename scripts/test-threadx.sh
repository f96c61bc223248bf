#!/usr/bin/env bash
# Tests of the ThreadX / NetX Duo port (ports/threadx). Ends with one line `N passed, M failed`.
#  - On the real trees (located by scripts/trees.sh: THREADX_DIR / NETXDUO_DIR when set, else
#    ../shared/third_party/ when present; MT_SHARED_THIRD_PARTY moves that default): ports/threadx/test/real, a CMake project
#    that adds ThreadX and NetX Duo with their own CMake and links the port as microtally::threadx,
#    runs test_real on the ThreadX Linux port with two NetX Duo instances on the RAM test driver
#    (our code under ASan + UBSan); the library is cross-compiled against the real
#    cortex_m3/gnu ports too. Without a tree this says so in one line and counts it skipped.
#  - Fast unit tests against the test double in ports/threadx/shim, plain and under ASan + UBSan.
#  - The library cross-compiled for Cortex-M3 (-Werror on our sources), its objects' sizes, and
#    a test image run on QEMU mps2-an385.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/test-counts.sh
. scripts/test-counts.sh

if ! bash scripts/build-wasm3.sh >/dev/null; then fail "build-wasm3"; finish; fi
if [ ! -f build/microtally-rtos-small.wasm ]; then fail "build/microtally-rtos-small.wasm missing (npm run build)"; finish; fi
if ! command -v cmake >/dev/null 2>&1; then fail "cmake not installed (scripts/setup.sh)"; finish; fi
JOBS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
GENERATOR=(); command -v ninja >/dev/null 2>&1 && GENERATOR=(-G Ninja)
SHIM=$ROOT/ports/threadx/shim
LOGS=build/test-logs
mkdir -p "$LOGS"

# The real ThreadX and NetX Duo trees (read only: everything is built under build/), and wasm3.
# shellcheck source=scripts/trees.sh
. scripts/trees.sh
TX_TREE=$THREADX_DIR
NX_TREE=$NETXDUO_DIR

# The options a user passes, pointed at the test double.
PORT_OPTS=(-DTHREADX_DIR="$SHIM/threadx" -DNETXDUO_DIR="$SHIM/netxduo" -DTHREADX_ARCH=cortex_m3
           -DMT_TX_DEFINITIONS=NX_ENABLE_IP_PACKET_FILTER -DWASM3_DIR="$WASM3_DIR" -DMT_WERROR=ON)

# configure_and_build <name> <build dir> <cmake options...>
configure_and_build() {
  local name=$1 dir=$2; shift 2
  if [ -f "$dir/CMakeCache.txt" ] && ! grep -q "CMAKE_GENERATOR:INTERNAL=${GENERATOR[1]:-Unix Makefiles}" "$dir/CMakeCache.txt"; then
    rm -rf "$dir"
  fi
  if cmake -S ports/threadx -B "$dir" "${GENERATOR[@]}" "${PORT_OPTS[@]}" "$@" >"$LOGS/threadx-$name.log" 2>&1 &&
     cmake --build "$dir" -j "$JOBS" >>"$LOGS/threadx-$name.log" 2>&1; then
    pass "$name: CMake build, -Wall -Wextra -Werror on microtally's sources"
    return 0
  fi
  tail -30 "$LOGS/threadx-$name.log"; fail "$name: CMake build"
  return 1
}

run_tests() {
  local name=$1 dir=$2 t
  for t in test_packet test_netx test_agent test_agent_clock; do
    "$dir/test/$t" >"$LOGS/threadx-$name-$t.log" 2>&1
    local rc=$?
    cat "$LOGS/threadx-$name-$t.log"
    if grep -qE 'runtime error|Sanitizer' "$LOGS/threadx-$name-$t.log"; then fail "$name $t: sanitizer report"; fi
    add_counts "$LOGS/threadx-$name-$t.log" "$name $t"
    [ $rc -eq 0 ] || fail "$name $t: exit status $rc"
  done
}

echo "== host tests against the test double (gcc)"
if configure_and_build host build/threadx/host -DMT_TX_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Debug; then
  run_tests host build/threadx/host
fi

echo "== host tests under ASan + UBSan"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
# wasm3 reads its code pages with unaligned loads by design (as in test/c); the rest of UBSan
# stays on for it, all of it for the port.
if configure_and_build sanitizers build/threadx/san -DMT_TX_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Debug \
     -DCMAKE_C_FLAGS="-O1 $SAN" -DCMAKE_EXE_LINKER_FLAGS="$SAN" \
     -DMT_WASM3_EXTRA_FLAGS=-fno-sanitize=alignment; then
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_tests sanitizers build/threadx/san
fi

# real_build <name> <build dir> <cmake options...>: the test project on the real trees.
real_build() {
  local name=$1 dir=$2; shift 2
  if [ -f "$dir/CMakeCache.txt" ] && ! grep -q "CMAKE_GENERATOR:INTERNAL=${GENERATOR[1]:-Unix Makefiles}" "$dir/CMakeCache.txt"; then
    rm -rf "$dir"
  fi
  if cmake -S ports/threadx/test/real -B "$dir" "${GENERATOR[@]}" -DTHREADX_DIR="$TX_TREE" -DNETXDUO_DIR="$NX_TREE" \
       -DWASM3_DIR="$WASM3_DIR" -DMT_WERROR=ON "$@" >"$LOGS/threadx-$name.log" 2>&1 &&
     nice cmake --build "$dir" -j "$JOBS" >>"$LOGS/threadx-$name.log" 2>&1; then
    if grep -q 'microtally: linking azrtos::threadx;azrtos::netxduo' "$LOGS/threadx-$name.log" ||
       grep -q 'microtally: linking azrtos::threadx;azrtos::netxduo' "$dir/CMakeFiles/CMakeOutput.log" 2>/dev/null; then
      pass "$name: ThreadX and NetX Duo by their own CMake, the port linking azrtos::threadx and azrtos::netxduo as microtally::threadx, -Werror on ours"
      return 0
    fi
    fail "$name: the port did not link azrtos::threadx / azrtos::netxduo"
    return 1
  fi
  tail -30 "$LOGS/threadx-$name.log"; fail "$name: CMake build on the real trees"
  return 1
}

# real_run <name> <build dir>: test_real on the ThreadX Linux port (a few seconds of real time).
real_run() {
  local name=$1 log=$LOGS/threadx-$1-run.log
  timeout 180 "$2/test_real" >"$log" 2>&1
  local rc=$?
  cat "$log"
  if grep -qE 'runtime error|Sanitizer' "$log"; then fail "$name test_real: sanitizer report"; fi
  add_counts "$log" "$name test_real"
  [ $rc -eq 0 ] || fail "$name test_real: exit status $rc"
}

echo "== the blob embedded by bindings/embed-blob.cmake: the .wasm's bytes, and mt_memory_end() as V8 runs it"
EMBED=build/threadx/embed
mkdir -p "$EMBED"
if ! command -v node >/dev/null 2>&1; then
  echo "skip the embedded blob's check: node not installed (it runs the blob's mt_memory_end)"
  skip "embed-blob.cmake against the blob run by V8"
elif cmake -DIN=build/microtally-rtos-small.wasm -DOUT="$EMBED/blob.c" -DNAME=microtally_rtos -DMEMORY_END=auto \
     -P bindings/embed-blob.cmake >"$LOGS/threadx-embed.log" 2>&1 &&
   cmp -s <(grep -oE '0x[0-9a-f]{2}' "$EMBED/blob.c" | sed 's/^0x//') <(od -An -v -tx1 build/microtally-rtos-small.wasm | tr -s ' ' '\n' | sed '/^$/d') &&
   grep -q "microtally_rtos_wasm_len = $(wc -c <build/microtally-rtos-small.wasm)u;" "$EMBED/blob.c" &&
   grep -q "microtally_rtos_memory_end = $(node -e 'const b = require("fs").readFileSync(process.argv[1]);
       console.log(new WebAssembly.Instance(new WebAssembly.Module(b), {}).exports.mt_memory_end() >>> 0)' \
       build/microtally-rtos-small.wasm)u;" "$EMBED/blob.c"; then
  pass "embed-blob.cmake: same bytes and length, mt_memory_end ($(grep -oE 'memory_end = [0-9]+' "$EMBED/blob.c")) as V8 returns it"
else
  cat "$LOGS/threadx-embed.log"; fail "embed-blob.cmake: the embedded blob differs from the .wasm or its mt_memory_end()"
fi

echo "== the real kernel and stack: ThreadX Linux port, two NetX Duo instances on the RAM test driver"
if [ -n "$TX_TREE" ] && [ -n "$NX_TREE" ]; then
  echo "   ThreadX: $TX_TREE"
  echo "   NetX Duo: $NX_TREE"
  # One build (ThreadX and NetX Duo compile once, about 2 minutes): our code and the test
  # under ASan + UBSan, upstream's as upstream builds it.
  if real_build real build/threadx/real -DCMAKE_BUILD_TYPE=Debug -DMT_SANITIZE="$SAN"; then
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 real_run real build/threadx/real
  fi
else
  if [ -z "$TX_TREE" ]; then echo "skip the real-kernel tests: $(mt_tree_refusal threadx)"; else echo "skip the real-kernel tests: $(mt_tree_refusal netxduo)"; fi
  skip "real-kernel tests (ports/threadx/test/real on ThreadX's Linux port with NetX Duo)"
fi

echo "== Cortex-M3 cross-compile (arm-none-eabi-gcc, newlib, -Os) and a run on QEMU mps2-an385"
if command -v arm-none-eabi-gcc >/dev/null 2>&1; then
  M3=build/threadx/cortex-m3
  # With the tests on, this also links test/target/target_agent.c into an mps2-an385 image.
  if configure_and_build cortex-m3 "$M3" -DCMAKE_BUILD_TYPE=MinSizeRel -DMT_WASM3_OPT=-Os \
       -DCMAKE_TOOLCHAIN_FILE="$ROOT/ports/threadx/cmake/arm-none-eabi-cortex-m3.cmake" \
       -DMT_TX_BUILD_TESTS=ON -DMT_CONFIG_FILE="$ROOT/ports/threadx/test/target/target_config.h" \
       -DMT_TX_CONFIG_FILE="$ROOT/ports/threadx/test/target/target_config.h"; then
    objs=$(find "$M3/CMakeFiles/microtally_threadx.dir" -name '*.obj' | sort)
    if [ -n "$objs" ] && arm-none-eabi-objdump -f $objs | grep -q 'architecture: arm'; then
      pass "cortex-m3: objects are Arm code"
    else
      fail "cortex-m3: no Arm objects"
    fi
    # Port objects one by one; bindings, wasm3 and the blob as totals (bss = MT_WASM3_HEAP_BYTES).
    # shellcheck disable=SC2086
    arm-none-eabi-size $objs $(find "$M3/CMakeFiles/microtally_wasm3.dir" -name '*.obj') >"$LOGS/threadx-size.txt"
    awk <"$LOGS/threadx-size.txt" '
      NR == 1 { next }
      { n = $6; sub(/.*\//, "", n); sub(/\.c\.obj$/, "", n) }
      n ~ /^(microtally_threadx|mt_agent|mt_message|microtally_netx|mt_packet)$/ { printf "    %-20s text %6d  data %4d  bss %6d\n", n, $1, $2, $3; pt += $1; pb += $3; next }
      n == "microtally" { printf "    %-20s text %6d  data %4d  bss %6d\n", "bindings", $1, $2, $3; next }
      n ~ /^microtally-/ { printf "    %-20s text %6d (const data)\n", "rtos blob", $1; next }
      { wt += $1; wd += $2; wb += $3 }
      END { printf "    %-20s text %6d  data %4d  bss %6d (bss: the test image'"'"'s MT_WASM3_HEAP_BYTES)\n", "wasm3 (11 files)", wt, wd, wb;
            printf "    port alone: text %d, bss %d\n", pt, pb }'
    image=$M3/test/mt_tx_target.elf
    arm-none-eabi-size "$image" | awk 'NR == 2 { printf "    test image (+ shim, startup, newlib-nano): text %d, data %d, bss %d\n", $1, $2, $3 }'
    if command -v qemu-system-arm >/dev/null 2>&1; then
      timeout 60 qemu-system-arm -M mps2-an385 -nographic -monitor none -serial none \
        -chardev stdio,id=sh0 -semihosting-config enable=on,target=native,chardev=sh0 \
        -kernel "$image" >"$LOGS/threadx-target.log" 2>&1
      rc=$?
      cat "$LOGS/threadx-target.log"
      add_counts "$LOGS/threadx-target.log" "Cortex-M3 image on QEMU"
      [ $rc -eq 0 ] || fail "Cortex-M3 image on QEMU: exit status $rc"
      # The default MT_WASM3_HEAP_BYTES of a 32-bit target (bindings/microtally_config_defaults.h,
      # as the cross compiler evaluates it) must hold the one rtos core the image measured.
      default_heap=$(printf '#include "microtally_config_defaults.h"\nunsigned long mt_default_heap = MT_WASM3_HEAP_BYTES;\n' |
                     arm-none-eabi-gcc -mcpu=cortex-m3 -mthumb -Ibindings -x c -S -o - - | awk '$1 == ".word" { print $2; exit }')
      one_core=$(sed -n 's/.*target: wasm3 heap of one rtos core \([0-9]*\) B.*/\1/p' "$LOGS/threadx-target.log" | head -1)
      if [ -n "$default_heap" ] && [ -n "$one_core" ] && [ $((one_core + 64)) -le "$default_heap" ]; then
        pass "the default MT_WASM3_HEAP_BYTES of a 32-bit target ($default_heap B) holds one rtos core ($one_core B + 64)"
      else
        fail "the default MT_WASM3_HEAP_BYTES of a 32-bit target (${default_heap:-?} B) does not hold one rtos core (${one_core:-?} B + 64)"
      fi
      # The figures ports/threadx/README.md shows (scripts/readme-numbers.mjs copies them there).
      if [ $rc -eq 0 ] && node scripts/threadx-figures.mjs "$LOGS/threadx-size.txt" "$LOGS/threadx-target.log" build/threadx/figures.json; then
        pass "figures for ports/threadx/README.md in build/threadx/figures.json"
      else
        fail "build/threadx/figures.json"
      fi
    else
      echo "skip the run on QEMU: qemu-system-arm not installed"
    fi
  fi
  if [ -n "$TX_TREE" ] && [ -n "$NX_TREE" ] && [ -f "$TX_TREE/ports/cortex_m3/gnu/inc/tx_port.h" ]; then
    # The library against the real cortex_m3/gnu ports (their control blocks and headers), as a
    # firmware build without Node: only cmake, ninja/make and the cross compiler on the PATH.
    M3R=build/threadx/cortex-m3-real
    NO_NODE=$ROOT/build/threadx/no-node-bin
    rm -rf "$NO_NODE"; mkdir -p "$NO_NODE"
    for tool in cmake ninja make arm-none-eabi-gcc arm-none-eabi-ar arm-none-eabi-ranlib; do
      command -v "$tool" >/dev/null 2>&1 && ln -s "$(command -v "$tool")" "$NO_NODE/$tool"
    done
    if PATH=$NO_NODE configure_and_build cortex-m3-real "$M3R" -DCMAKE_BUILD_TYPE=MinSizeRel \
         -DCMAKE_TOOLCHAIN_FILE="$ROOT/ports/threadx/cmake/arm-none-eabi-cortex-m3.cmake" \
         -DTHREADX_DIR="$TX_TREE" -DNETXDUO_DIR="$NX_TREE" -DMT_TX_BUILD_TESTS=OFF; then
      # shellcheck disable=SC2046
      arm-none-eabi-size $(find "$M3R/CMakeFiles/microtally_threadx.dir" -name '*.obj' | sort) >"$LOGS/threadx-size-real.txt"
      awk <"$LOGS/threadx-size-real.txt" '
        NR == 1 { next }
        { n = $6; sub(/.*\//, "", n); sub(/\.c\.obj$/, "", n) }
        n ~ /^(microtally_threadx|mt_agent|mt_message|microtally_netx|mt_packet)$/ { printf "    %-20s text %6d  data %4d  bss %6d (real ThreadX / NetX Duo headers)\n", n, $1, $2, $3 }'
      # The port's own figures in ports/threadx/README.md come from this build when there is one.
      if [ -f build/threadx/figures.json ] &&
         node scripts/threadx-figures.mjs "$LOGS/threadx-size.txt" "$LOGS/threadx-target.log" build/threadx/figures.json "$LOGS/threadx-size-real.txt"; then
        pass "figures of the build against the real trees in build/threadx/figures.json"
      else
        fail "build/threadx/figures.json with the real trees' figures"
      fi
    fi
  elif [ -n "$TX_TREE" ]; then
    echo "skip the Cortex-M3 build against the real trees: no ports/cortex_m3/gnu in $TX_TREE"
    skip "cortex-m3-real"
  fi
else
  echo "skip Cortex-M3 cross-compile: arm-none-eabi-gcc not installed"
fi

finish
