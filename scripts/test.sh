#!/usr/bin/env bash
# Every test of microtally on every engine that builds here. Prints one closing line
# `N passed, M failed[, K skipped]` summed over all suites and exits non-zero if anything failed;
# what needs something this machine lacks is counted as skipped, never as passed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

mkdir -p build/test-logs
passed=0; failed=0; skipped=0; broken=()

# Runs one suite, keeps its log, and adds its `N passed, M failed[, K skipped]` line to the totals.
stage() {
  local name=$1; shift
  local log="build/test-logs/$name.log"
  echo "== $name"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line
  line=$(grep -aE '^[[:alnum:]:]* ?[0-9]+ passed, [0-9]+ failed' "$log" | tail -1 | grep -oE '[0-9]+ passed, [0-9]+ failed')
  if [ -n "$line" ]; then
    passed=$((passed + ${line%% passed*}))
    local f=${line#*passed, }; failed=$((failed + ${f%% failed}))
    local s
    s=$(grep -aE '^[[:alnum:]:]* ?[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$log" | tail -1 | grep -oE '[0-9]+ skipped')
    [ -n "$s" ] && skipped=$((skipped + ${s%% skipped}))
  fi
  if [ "$rc" -ne 0 ]; then
    broken+=("$name")
    [ -z "$line" ] && failed=$((failed + 1))
  fi
  return "$rc"
}

engines=v8
stage build-wasm3 bash scripts/build-wasm3.sh && engines="$engines,wasm3"
stage build-aot bash scripts/build-aot.sh && engines="$engines,aot"
stage build-firmware bash scripts/build-firmware.sh && engines="$engines,qemu,qemu-aot"
# The agent thread on the real ThreadX kernel (ports/qemu-threadx), when a ThreadX tree is there
# (located by scripts/trees.sh); without one its runs are skipped, not passed.
threadx_tree=$(bash scripts/trees.sh | sed -n 's/^THREADX_DIR=//p')
if [ -f "$threadx_tree/common/inc/tx_api.h" ]; then
  stage build-threadx-firmware bash scripts/build-threadx-firmware.sh && engines="$engines,qemu-threadx"
else
  echo "== build-threadx-firmware"
  echo "qemu-threadx runs skipped: $(bash scripts/trees.sh --refusal threadx)"
  skipped=$((skipped + 1))
fi

stage unit-assemblyscript node scripts/aspect-summary.mjs
stage vitest env MICROTALLY_ENGINES="$engines" node scripts/vitest-summary.mjs --exclude test/agent/kernel.test.ts
# The live agent's kernel event capture on its own: it measures what the agent catches of a
# burst of processes and connections, and the suites above would compete for the two cores.
stage kernel-events node scripts/vitest-summary.mjs --report=kernel-events test/agent/kernel.test.ts
[ -f scripts/test-c.sh ] && stage c-bindings bash scripts/test-c.sh
[ -f scripts/test-threadx.sh ] && stage threadx-port bash scripts/test-threadx.sh
[ -f scripts/test-update-c.sh ] && stage update-device bash scripts/test-update-c.sh
[ -f scripts/test-cmake-consumer.sh ] && stage cmake-consumer bash scripts/test-cmake-consumer.sh
[ -f scripts/test-azure-iot.sh ] && stage azure-iot bash scripts/test-azure-iot.sh
# The C sources follow .clang-format (Debian's clang-format).
stage c-format bash scripts/check-format.sh
stage fuzz env FUZZ_SECONDS=${FUZZ_SECONDS:-10} bash scripts/fuzz.sh
# The packed package, installed from its tarball outside the repository (rebuilds dist/ and the blobs).
stage package bash scripts/test-package.sh
# A check that is one test: its own output, then its line.
one_check() { "$@" && echo "1 passed, 0 failed" || { echo "0 passed, 1 failed"; return 1; }; }
stage version one_check node scripts/version.mjs --check
# No module imports itself through others (scripts/check-cycles.mjs prints the cycle it finds).
stage import-cycles one_check node scripts/check-cycles.mjs assembly host
# The tests and the host type-check together (tsconfig.test.json): vitest runs them untyped.
stage test-types one_check node_modules/.bin/tsc -p tsconfig.test.json
# The README's measured tables must be what this build measures (scripts/readme-numbers.mjs).
readme_check() {
  if [[ ",$engines," == *",qemu-aot,"* ]]; then
    one_check node scripts/readme-numbers.mjs --check
  else
    echo "README tables not checked: the firmware images were not built"; echo "0 passed, 0 failed, 1 skipped"
  fi
}
stage readme-numbers readme_check

echo
echo "engines tested: $engines"
[ ${#broken[@]} -gt 0 ] && echo "failing stages: ${broken[*]}"
echo "$passed passed, $failed failed$([ "$skipped" -gt 0 ] && echo ", $skipped skipped")"
[ ${#broken[@]} -eq 0 ] && [ "$failed" -eq 0 ]
