#!/usr/bin/env bash
# Builds and runs the C tests of the bindings: plain (malloc interposed) and under ASan + UBSan,
# checks that the bindings + wasm3 objects reference no allocator, cross-compiles them for
# Cortex-M3 (when arm-none-eabi-gcc is installed), and compares the native wasm3 replay program
# with the V8 CLI byte for byte on generated traces. Ends with one line `N passed, M failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/test-counts.sh
. scripts/test-counts.sh

if ! bash scripts/build-wasm3.sh; then fail "build-wasm3"; finish; fi
WASM3_DIR=${WASM3_DIR:-$ROOT/third_party/pywasm3-0.5.0/wasm3}
export WASM3_DIR
JOBS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
mkdir -p build/test-logs

echo "== C API tests (plain, malloc interposed)"
if make --no-print-directory -s -C test/c -j"$JOBS" >build/test-logs/c-build.log 2>&1; then
  build/c-test/test_bindings | tee build/test-logs/c-plain.log
  add_counts build/test-logs/c-plain.log "C API tests"
else
  cat build/test-logs/c-build.log; fail "C API tests: build"
fi

echo "== C API tests (ASan + UBSan)"
if make --no-print-directory -s -C test/c SAN=1 -j"$JOBS" >build/test-logs/c-san-build.log 2>&1; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    build/c-test-san/test_bindings 2>&1 | tee build/test-logs/c-san.log
  if grep -qE 'runtime error|AddressSanitizer' build/test-logs/c-san.log; then fail "sanitizers reported errors"; fi
  add_counts build/test-logs/c-san.log "C API tests (sanitizers)"
else
  cat build/test-logs/c-san-build.log; fail "C API tests (sanitizers): build"
fi

echo "== replay program under ASan + UBSan"
if make --no-print-directory -s -C ports/posix -j"$JOBS" MT_OBJ="$ROOT/build/posix-san" \
     CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all" \
     MT_WASM3_EXTRA_CFLAGS=-fno-sanitize=alignment LDFLAGS="-fsanitize=address,undefined" \
     >build/test-logs/posix-san-build.log 2>&1; then
  node test/c/gen-traces.mjs build/c-test/traces
  for p in rtos linux; do
    f=build/c-test/traces/load.jsonl
    build/posix-san/microtally-replay --profile $p --stats "$f" >build/c-test/s.out 2>build/c-test/s.err; s=$?
    build/posix/microtally-replay --profile $p --stats "$f" >build/c-test/w.out 2>/dev/null
    if [ $s -eq 0 ] && ! grep -qE 'runtime error|Sanitizer' build/c-test/s.err && cmp -s build/c-test/s.out build/c-test/w.out; then
      pass "replay of load.jsonl --profile $p under sanitizers"
    else
      fail "replay of load.jsonl --profile $p under sanitizers (exit $s)"; head -5 build/c-test/s.err
    fi
  done
else
  cat build/test-logs/posix-san-build.log; fail "replay program (sanitizers): build"
fi

echo "== static checks"
# With d_m3FixedHeap nothing in the bindings or wasm3 may even reference the C allocator.
refs=$(nm -u build/posix/microtally.o build/posix/wasm3/*.o 2>/dev/null \
       | grep -wE 'malloc|calloc|realloc|free|aligned_alloc|posix_memalign|strdup' | sort -u || true)
if [ -z "$refs" ]; then pass "bindings + wasm3 reference no allocator"; else fail "allocator referenced: $refs"; fi
if command -v arm-none-eabi-gcc >/dev/null 2>&1; then
  if make --no-print-directory -s -f test/c/cortex-m3.mk MT_ROOT="$ROOT" -j"$JOBS" >build/test-logs/c-arm.log 2>&1; then
    pass "bindings + wasm3 build for Cortex-M3 (arm-none-eabi, newlib, -Werror on the bindings)"
    arm-none-eabi-size build/cortex-m3/microtally.o build/cortex-m3/wasm3/*.o | awk 'NR==1 || /microtally/ {print "    " $0} NR>1 {t+=$1; d+=$2; b+=$3} END {printf "    total text %d, data %d, bss %d (bss = MT_WASM3_HEAP_BYTES)\n", t, d, b}'
  else
    cat build/test-logs/c-arm.log; fail "Cortex-M3 build"
  fi
else
  echo "skip Cortex-M3 build: arm-none-eabi-gcc not installed"
fi

echo "== wasm3 replay vs V8, byte for byte"
if [ -f dist/host/cli.js ]; then
  traces=build/c-test/traces
  node test/c/gen-traces.mjs "$traces"
  for f in "$traces"/*.jsonl examples/*.jsonl; do
    for p in rtos linux; do
      for opts in "--stats" "--agent-id 0123abcd-4567-89ef-0123-456789abcdef"; do
        # shellcheck disable=SC2086
        build/posix/microtally-replay --profile $p $opts "$f" >build/c-test/w.out 2>build/c-test/w.err; w=$?
        # shellcheck disable=SC2086
        node bin/microtally.js replay --profile $p $opts "$f" >build/c-test/v.out 2>build/c-test/v.err; v=$?
        name="$(basename "$f") --profile $p $opts"
        if [ $w -eq $v ] && cmp -s build/c-test/w.out build/c-test/v.out && cmp -s build/c-test/w.err build/c-test/v.err; then
          pass "$name (exit $w, $(wc -c <build/c-test/w.out) bytes)"
        else
          fail "$name: exit $w vs $v"; diff <(head -c 2000 build/c-test/w.err) <(head -c 2000 build/c-test/v.err) | head -5
        fi
      done
    done
  done
  # Trace on stdin, and the usage errors replay defines (exit 2).
  f=examples/gateway.jsonl
  build/posix/microtally-replay - <"$f" >build/c-test/w.out 2>/dev/null; w=$?
  node bin/microtally.js replay "$f" >build/c-test/v.out 2>/dev/null
  if [ $w -eq 0 ] && cmp -s build/c-test/w.out build/c-test/v.out; then pass "trace on stdin"; else fail "trace on stdin"; fi
  build/posix/microtally-replay --agent-id nope "$f" >/dev/null 2>build/c-test/w.err; w=$?
  node bin/microtally.js replay --agent-id nope "$f" >/dev/null 2>build/c-test/v.err; v=$?
  if [ $w -eq 2 ] && [ $v -eq 2 ] && cmp -s build/c-test/w.err build/c-test/v.err; then pass "bad agent id: exit 2, same message"; else fail "bad agent id ($w/$v)"; fi
  build/posix/microtally-replay --profile mcu "$f" >/dev/null 2>&1; w=$?
  build/posix/microtally-replay >/dev/null 2>&1; v=$?
  if [ $w -eq 2 ] && [ $v -eq 2 ]; then pass "usage errors exit 2"; else fail "usage errors exit $w/$v"; fi
else
  echo "skip replay comparison: dist/host/cli.js missing (run npm run build)"
fi

finish
