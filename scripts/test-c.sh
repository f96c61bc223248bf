#!/usr/bin/env bash
# Builds and runs the C tests of the bindings on both engines (wasm3, and the blob translated
# ahead of time by wasm2c when wabt is installed): plain (malloc interposed) and under ASan +
# UBSan; checks that the bindings and engine objects reference no allocator, cross-compiles them
# for Cortex-M3 (when arm-none-eabi-gcc is installed), and compares each native replay program
# with the V8 CLI byte for byte on generated traces. Ends with one line `N passed, M failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/test-counts.sh
. scripts/test-counts.sh

if ! bash scripts/build-wasm3.sh; then fail "build-wasm3"; finish; fi
# shellcheck source=scripts/trees.sh
. scripts/trees.sh
JOBS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
mkdir -p build/test-logs

engines=(wasm3)
if command -v wasm2c >/dev/null 2>&1; then
  engines+=(aot)
else
  echo "skip the ahead-of-time engine: wasm2c not installed (apt install wabt)"; skip "C API tests on the aot engine"
fi

for engine in "${engines[@]}"; do
  sfx=$([ "$engine" = aot ] && echo -aot || true)
  echo "== C API tests, $engine (plain, malloc interposed)"
  if make --no-print-directory -s -C test/c MT_ENGINE="$engine" -j"$JOBS" >build/test-logs/c-build$sfx.log 2>&1; then
    build/c-test$sfx/test_bindings | tee build/test-logs/c-plain$sfx.log
    add_counts build/test-logs/c-plain$sfx.log "C API tests ($engine)"
  else
    cat build/test-logs/c-build$sfx.log; fail "C API tests ($engine): build"
  fi

  echo "== C API tests, $engine (ASan + UBSan)"
  if make --no-print-directory -s -C test/c MT_ENGINE="$engine" SAN=1 -j"$JOBS" >build/test-logs/c-san-build$sfx.log 2>&1; then
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
      build/c-test$sfx-san/test_bindings 2>&1 | tee build/test-logs/c-san$sfx.log
    if grep -qE 'runtime error|AddressSanitizer' build/test-logs/c-san$sfx.log; then fail "sanitizers reported errors ($engine)"; fi
    add_counts build/test-logs/c-san$sfx.log "C API tests ($engine, sanitizers)"
  else
    cat build/test-logs/c-san-build$sfx.log; fail "C API tests ($engine, sanitizers): build"
  fi
done

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
# Nothing in the bindings or an engine may even reference the C allocator (wasm3 runs from its
# d_m3FixedHeap; the translated blob's memory is a static array).
refs=$(nm -u build/posix/microtally.o build/posix/mt_engine_wasm3.o build/posix/wasm3/*.o 2>/dev/null \
       | grep -wE 'malloc|calloc|realloc|free|aligned_alloc|posix_memalign|strdup' | sort -u || true)
if [ -z "$refs" ]; then pass "bindings + wasm3 reference no allocator"; else fail "allocator referenced: $refs"; fi
if [ -d build/posix-aot ]; then
  refs=$(nm -u build/posix-aot/microtally.o build/posix-aot/mt_engine_aot.o build/posix-aot/aot/*.o 2>/dev/null \
         | grep -wE 'malloc|calloc|realloc|free|aligned_alloc|posix_memalign|strdup' | sort -u || true)
  if [ -z "$refs" ]; then pass "bindings + translated blobs reference no allocator"; else fail "allocator referenced (aot): $refs"; fi
fi
if command -v arm-none-eabi-gcc >/dev/null 2>&1; then
  for engine in "${engines[@]}"; do
    if make --no-print-directory -s -f test/c/cortex-m3.mk MT_ROOT="$ROOT" MT_ENGINE="$engine" -j"$JOBS" >build/test-logs/c-arm-$engine.log 2>&1; then
      pass "bindings + $engine build for Cortex-M3 (arm-none-eabi, newlib, -Werror on the bindings)"
      obj=build/cortex-m3-$engine
      arm-none-eabi-size $(find "$obj" -name '*.o' | sort) | awk 'NR==1 || /microtally/ {print "    " $0} NR>1 {t+=$1; d+=$2; b+=$3} END {printf "    total text %d, data %d, bss %d\n", t, d, b}'
    else
      cat build/test-logs/c-arm-$engine.log; fail "Cortex-M3 build ($engine)"
    fi
  done
else
  echo "skip Cortex-M3 build: arm-none-eabi-gcc not installed"; skip "Cortex-M3 build"
fi

echo "== native replay programs vs V8, byte for byte"
programs=(build/posix/microtally-replay)
if [[ " ${engines[*]} " == *" aot "* ]]; then
  if bash scripts/build-aot.sh >build/test-logs/build-aot.log 2>&1; then
    programs+=(build/posix-aot/microtally-replay)
  else
    cat build/test-logs/build-aot.log; fail "build-aot"
  fi
fi
if [ -f dist/host/cli.js ]; then
  traces=build/c-test/traces
  node test/c/gen-traces.mjs "$traces"
  for f in "$traces"/*.jsonl examples/*.jsonl; do
    for p in rtos linux; do
      for opts in "--stats" "--agent-id 0123abcd-4567-89ef-0123-456789abcdef"; do
        # shellcheck disable=SC2086
        node bin/microtally.js replay --profile $p $opts "$f" >build/c-test/v.out 2>build/c-test/v.err; v=$?
        for prog in "${programs[@]}"; do
          # shellcheck disable=SC2086
          $prog --profile $p $opts "$f" >build/c-test/w.out 2>build/c-test/w.err; w=$?
          name="$(basename "$(dirname "$prog")"): $(basename "$f") --profile $p $opts"
          if [ $w -eq $v ] && cmp -s build/c-test/w.out build/c-test/v.out && cmp -s build/c-test/w.err build/c-test/v.err; then
            pass "$name (exit $w, $(wc -c <build/c-test/w.out) bytes)"
          else
            fail "$name: exit $w vs $v"; diff <(head -c 2000 build/c-test/w.err) <(head -c 2000 build/c-test/v.err) | head -5
          fi
        done
      done
    done
  done
  # Trace on stdin, and the usage errors replay defines (exit 2).
  f=examples/gateway.jsonl
  node bin/microtally.js replay "$f" >build/c-test/v.out 2>/dev/null
  node bin/microtally.js replay --agent-id nope "$f" >/dev/null 2>build/c-test/v.err; v=$?
  for prog in "${programs[@]}"; do
    what=$(basename "$(dirname "$prog")")
    $prog - <"$f" >build/c-test/w.out 2>/dev/null; w=$?
    if [ $w -eq 0 ] && cmp -s build/c-test/w.out build/c-test/v.out; then pass "$what: trace on stdin"; else fail "$what: trace on stdin"; fi
    $prog --agent-id nope "$f" >/dev/null 2>build/c-test/w.err; w=$?
    if [ $w -eq 2 ] && [ $v -eq 2 ] && cmp -s build/c-test/w.err build/c-test/v.err; then pass "$what: bad agent id: exit 2, same message"; else fail "$what: bad agent id ($w/$v)"; fi
    $prog --profile mcu "$f" >/dev/null 2>&1; w=$?
    $prog >/dev/null 2>&1; u=$?
    if [ $w -eq 2 ] && [ $u -eq 2 ]; then pass "$what: usage errors exit 2"; else fail "$what: usage errors exit $w/$u"; fi
  done
else
  echo "skip replay comparison: dist/host/cli.js missing (run npm run build)"; skip "replay comparison"
fi

finish
