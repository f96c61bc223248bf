#!/usr/bin/env bash
# Continuous fuzzing of the C bindings on the real blobs (docs/FUZZING.md): builds the libFuzzer
# targets of test/fuzz/ (clang, ASan + UBSan) for both engines (wasm3, and aot when wasm2c is
# installed), fuzzes each target for FUZZ_SECONDS (default 20) from its seed corpus, FUZZ_JOBS
# at a time (default 2), prints executions per second, then replays the whole seed corpus and
# every regression input (test/fuzz/regressions/, without tolerating the known issues) as
# plain runs. Ends with `N passed, M failed`. Crash inputs go to build/fuzz/crashes/.
#   FUZZ_SECONDS=0  only build and replay (no fuzzing)
#   FUZZ_COMPARE_ONLY=1  only build and compare the engines (no fuzzing, no replay)
#   FUZZ_ENGINES="aot"  FUZZ_TARGETS="lines batch"  a subset
# With both engines built, the seeds and the newest inputs the fuzzers kept are replayed on both
# and their outputs compared (SPEC R9).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/test-counts.sh
. scripts/test-counts.sh

SECONDS_PER_TARGET=${FUZZ_SECONDS:-20}
COMPARE_ONLY=${FUZZ_COMPARE_ONLY:-0}
[ "$COMPARE_ONLY" = 1 ] && SECONDS_PER_TARGET=0
JOBS=${FUZZ_JOBS:-2}
TARGETS=(${FUZZ_TARGETS:-lines config records batch})
ENGINES=(${FUZZ_ENGINES:-wasm3 aot})
# The known issues (test/fuzz/known-issues.txt) are tolerated while fuzzing and in the seed replay.
KNOWN=$(grep -oE '^[a-z0-9-]+:' test/fuzz/known-issues.txt | tr -d : | paste -sd, -)
started=$(date +%s)
if [ "$COMPARE_ONLY" = 1 ] && [ " ${ENGINES[*]} " != " wasm3 aot " ]; then
  echo "fuzz.sh: FUZZ_COMPARE_ONLY=1 compares wasm3 with aot: leave FUZZ_ENGINES unset" >&2; exit 2
fi

skip_all() {
  for e in "${ENGINES[@]}"; do for t in "${TARGETS[@]}"; do
    [ "$SECONDS_PER_TARGET" -gt 0 ] && skip "fuzz $e/$t"
    [ "$COMPARE_ONLY" = 1 ] || skip "replay $e/$t"
  done; done
  [ "$COMPARE_ONLY" = 1 ] && for t in "${TARGETS[@]}"; do skip "wasm3 = aot on $t inputs"; done
}

if ! command -v clang >/dev/null 2>&1; then
  echo "skip fuzzing: clang not installed (apt-get install clang; scripts/setup.sh does)"
  skip_all; finish
fi
engines=()
for e in "${ENGINES[@]}"; do
  if [ "$e" = aot ] && ! command -v wasm2c >/dev/null 2>&1; then
    echo "skip the aot fuzz targets: wasm2c not installed (apt install wabt)"
    for t in "${TARGETS[@]}"; do
      [ "$SECONDS_PER_TARGET" -gt 0 ] && skip "fuzz aot/$t"
      if [ "$COMPARE_ONLY" = 1 ]; then skip "wasm3 = aot on $t inputs"; else skip "replay aot/$t"; fi
    done
  else
    engines+=("$e")
  fi
done
if [[ " ${engines[*]} " == *" wasm3 "* ]] && [ -z "${WASM3_DIR:-}" ] && ! bash scripts/build-wasm3.sh --fetch-only >/dev/null 2>&1; then
  fail "fetch wasm3's source (scripts/build-wasm3.sh --fetch-only)"; finish
fi

mkdir -p build/fuzz/logs build/fuzz/crashes
echo "== build (clang, -fsanitize=fuzzer,address,undefined)"
built=()
build_started=$(date +%s)
for e in "${engines[@]}"; do
  if make --no-print-directory -s -C test/fuzz MT_ENGINE="$e" TARGETS="${TARGETS[*]}" -j"$JOBS" >build/fuzz/logs/build-$e.log 2>&1; then
    pass "build fuzz targets ($e)"; built+=("$e")
  else
    tail -20 build/fuzz/logs/build-$e.log; fail "build fuzz targets ($e)"
  fi
done

# One fuzzing run; its verdict goes to build/fuzz/logs/<engine>-<target>.result.
fuzz_one() {
  local e=$1 t=$2 log=build/fuzz/logs/$1-$2.log
  mkdir -p "build/fuzz/work/$e-$t"
  FUZZ_KNOWN=$KNOWN "build/fuzz/$e/fuzz_$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="build/fuzz/crashes/$e-$t-" \
    "build/fuzz/work/$e-$t" "test/fuzz/corpus/$t" >"$log" 2>&1
  echo $? >"build/fuzz/logs/$e-$t.result"
}

build_seconds=$(( $(date +%s) - build_started ))

if [ "$SECONDS_PER_TARGET" -gt 0 ] && [ ${#built[@]} -gt 0 ]; then
  echo "== fuzz, ${SECONDS_PER_TARGET} s per target, $JOBS at a time"
  runs=()
  for e in "${built[@]}"; do for t in "${TARGETS[@]}"; do runs+=("$e $t"); done; done
  running=0
  for r in "${runs[@]}"; do
    # shellcheck disable=SC2086
    fuzz_one $r &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
  done
  wait
  for r in "${runs[@]}"; do
    set -- $r; e=$1; t=$2; log=build/fuzz/logs/$e-$t.log
    rc=$(cat "build/fuzz/logs/$e-$t.result" 2>/dev/null || echo 1)
    execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
    rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || true)
    what="fuzz $e/$t: ${execs:-?} runs, ${rate:-?} exec/s, coverage ${cov:-?}"
    if [ "$rc" = 0 ]; then
      pass "$what"
    else
      fail "$what"
      grep -m1 -A1 -E 'FUZZ CHECK FAILED|runtime error|ERROR: AddressSanitizer|ERROR: libFuzzer' "$log" | sed 's/^/     /'
      artifact=$(grep -oE "Test unit written to [^ ]+" "$log" | tail -1 | sed 's/Test unit written to //')
      if [ -n "$artifact" ]; then
        echo "     input: $artifact"
        echo "     minimise: build/fuzz/$e/fuzz_$t -minimize_crash=1 -runs=20000 -exact_artifact_path=test/fuzz/regressions/$t/<name> $artifact"
      fi
    fi
  done
fi

[ "$COMPARE_ONLY" = 1 ] || echo "== replay: seed corpus (known issues tolerated) and regression inputs (not tolerated)"
for e in "${built[@]}"; do
  [ "$COMPARE_ONLY" = 1 ] && break
  for t in "${TARGETS[@]}"; do
    log=build/fuzz/logs/replay-$e-$t.log
    n=$(find "test/fuzz/corpus/$t" -type f | wc -l)
    if FUZZ_KNOWN=$KNOWN "build/fuzz/$e/fuzz_$t" -timeout=10 "test/fuzz/corpus/$t"/* >"$log" 2>&1; then
      pass "replay $e/$t: $n seed inputs"
    else
      fail "replay $e/$t"; grep -m1 -A1 -E 'FUZZ CHECK FAILED|runtime error|ERROR: ' "$log" | sed 's/^/     /'
    fi
    [ -d "test/fuzz/regressions/$t" ] || continue
    for f in "test/fuzz/regressions/$t"/*; do
      [ -f "$f" ] || continue
      log=build/fuzz/logs/regression-$e-$t-$(basename "$f").log
      if FUZZ_KNOWN= "build/fuzz/$e/fuzz_$t" -timeout=10 "$f" >"$log" 2>&1; then
        pass "regression $e/$t/$(basename "$f")"
      else
        fail "regression $e/$t/$(basename "$f")"; grep -m1 -A1 -E 'FUZZ CHECK FAILED|runtime error|ERROR: ' "$log" | sed 's/^/     /'
      fi
    done
  done
done

# The same inputs on both engines must give the same bytes (SPEC R9): the seeds and what this
# and earlier runs added to the working corpora (the newest FUZZ_COMPARE of each, default 50).
if [[ " ${built[*]} " == *" wasm3 "* ]] && [[ " ${built[*]} " == *" aot "* ]]; then
  echo "== wasm3 and aot, same inputs, same output"
  for t in "${TARGETS[@]}"; do
    list=build/fuzz/logs/compare-$t.list
    { find "test/fuzz/corpus/$t" -type f
      for e in "${built[@]}"; do
        [ -d "build/fuzz/work/$e-$t" ] && ls -t "build/fuzz/work/$e-$t" | head -n "${FUZZ_COMPARE:-50}" | sed "s|^|build/fuzz/work/$e-$t/|"
      done; } | sort -u >"$list"
    n=$(wc -l <"$list")
    for e in "${built[@]}"; do
      # No leak check here: libFuzzer re-runs an input whose mallocs and frees did not balance (its own
      # RSS thread allocates in the first milliseconds), which printed a fast input's output twice.
      # shellcheck disable=SC2046
      FUZZ_KNOWN=$KNOWN FUZZ_HASH=1 "build/fuzz/$e/fuzz_$t" -timeout=10 -detect_leaks=0 $(cat "$list") 2>&1 | grep -E '^output ' >"build/fuzz/logs/compare-$t-$e.out"
    done
    if [ "$(wc -l <"build/fuzz/logs/compare-$t-wasm3.out")" -eq "$n" ] && cmp -s "build/fuzz/logs/compare-$t-wasm3.out" "build/fuzz/logs/compare-$t-aot.out"; then
      pass "wasm3 = aot on $n $t inputs"
    else
      fail "wasm3 and aot differ on $t inputs (build/fuzz/logs/compare-$t-*.out, inputs in $list)"
      diff "build/fuzz/logs/compare-$t-wasm3.out" "build/fuzz/logs/compare-$t-aot.out" | head -4 | sed 's/^/     /'
    fi
  done
fi

echo "fuzz.sh took $(( $(date +%s) - started )) s (building $build_seconds s)"
finish
