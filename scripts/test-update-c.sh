#!/usr/bin/env bash
# The device's update verifier (ports/common/mt_update.c over NetX Duo's nx_crypto), the agent's
# core swap (ports/common/mt_agent.c, wasm3) and the ThreadX API (mt_tx_update_*, on the ThreadX
# test double) on the host, plain and under ASan + UBSan, against packages `microtally keygen` / `sign` make now (a good
# one, the next sequence, a lower one, another key's, the linux blob's); then its cost on the
# emulated Cortex-M3 board (instructions, QEMU -icount) into build/update-c/m3.json, which
# scripts/readme-numbers.mjs puts in the README. Needs the NetX Duo tree (its crypto_libraries)
# and the built host (dist/). Ends with one line `N passed, M failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/test-counts.sh
. scripts/test-counts.sh
# shellcheck source=scripts/trees.sh
. scripts/trees.sh
LOGS=build/test-logs
mkdir -p "$LOGS"

if [ -z "$NETXDUO_DIR" ] || [ ! -d "$NETXDUO_DIR/crypto_libraries" ]; then
  echo "skip the update verifier: $(mt_tree_refusal netxduo)"
  skip "update verifier over nx_crypto (needs the NetX Duo tree)"
  finish
fi

PKG=build/update-c/packages
rm -rf "$PKG"; mkdir -p "$PKG"
cli() { node bin/microtally.js "$@"; }
if cli keygen --out "$PKG/release" >/dev/null && cli keygen --out "$PKG/other" >/dev/null &&
   cp build/microtally-rtos-small.wasm "$PKG/blob.wasm" &&
   cli sign --key "$PKG/release.key" --sequence 5 "$PKG/blob.wasm" -o "$PKG/good.pkg" >/dev/null &&
   cli sign --key "$PKG/release.key" --sequence 6 "$PKG/blob.wasm" -o "$PKG/next.pkg" >/dev/null &&
   cli sign --key "$PKG/release.key" --sequence 3 "$PKG/blob.wasm" -o "$PKG/low.pkg" >/dev/null &&
   cli sign --key "$PKG/release.key" --sequence 9 "$PKG/blob.wasm" -o "$PKG/nine.pkg" >/dev/null &&
   cli sign --key "$PKG/other.key" --sequence 7 "$PKG/blob.wasm" -o "$PKG/other-key.pkg" >/dev/null &&
   cli sign --key "$PKG/release.key" --sequence 8 build/microtally-linux.wasm -o "$PKG/linux.pkg" >/dev/null &&
   # agentVersion at the limit, 64 bytes of UTF-8 (32 x "é"), and 60 x "é" (60 characters, 120 bytes)
   node --input-type=module -e 'const [{ makePackage, sealPackage, manifestMap, loadPrivateKey }, { encode }] = await Promise.all(
       [import("./dist/host/update/package.js"), import("./dist/host/update/cbor.js")]);
     const fs = await import("node:fs"), [dir] = process.argv.slice(1), key = loadPrivateKey(fs.readFileSync(dir + "/release.key"));
     const blob = fs.readFileSync(dir + "/blob.wasm"), { manifest } = makePackage(blob, 10, key);
     for (const [name, v] of [["version-64", "\u00e9".repeat(32)], ["version-long", "\u00e9".repeat(60)]])
       fs.writeFileSync(dir + "/" + name + ".pkg", sealPackage(encode(manifestMap({ ...manifest, agentVersion: v })), blob, key));' "$PKG" &&
   # the device builds the key in as its raw point: the last 65 bytes of the SPKI DER
   node -e 'const c = require("crypto"), fs = require("fs");
     const der = c.createPublicKey(fs.readFileSync(process.argv[1])).export({ type: "spki", format: "der" });
     fs.writeFileSync(process.argv[2], der.subarray(der.length - 65));' "$PKG/release.pub" "$PKG/key.raw"; then
  pass "packages made by microtally keygen / sign"
else
  fail "packages made by microtally keygen / sign"; finish
fi
# The swap's failures by name (docs/UPDATE.md): scripts/make-test-packages.mjs's blobs and packages.
NAMED=$PWD/build/test-packages
if node scripts/make-test-packages.mjs "$NAMED" >"$LOGS/update-test-packages.log" 2>&1; then
  pass "named test packages (scripts/make-test-packages.mjs)"
else
  tail -5 "$LOGS/update-test-packages.log"; fail "named test packages (scripts/make-test-packages.mjs)"; finish
fi

for san in 0 1; do
  name=$([ $san = 1 ] && echo "ASan + UBSan" || echo plain)
  out=build/update-c$([ $san = 1 ] && echo -san)
  if make --no-print-directory -s -C ports/common/test OUT="$PWD/$out" $([ $san = 1 ] && echo SAN=1) -j2 \
       >"$LOGS/update-c-build-$san.log" 2>&1; then
    # test_update_tx reset: the previous run reset while a swap was on trial
    for run in test_update test_swap test_update_tx "test_update_tx reset"; do
      t=${run%% *} mode=${run#"${run%% *}"}
      args=("$PKG"); [ $t = test_update ] || args+=(host/update/selftest.jsonl)
      [ $t = test_swap ] && args+=("$NAMED")
      [ -n "$mode" ] && args+=($mode)
      log=$LOGS/update-${run// /-}-$san.log
      ASAN_OPTIONS=detect_leaks=1 "$out/$t" "${args[@]}" >"$log" 2>&1
      rc=$?
      cat "$log"
      if grep -qE 'runtime error|Sanitizer' "$log"; then fail "$run ($name): sanitizer report"; fi
      add_counts "$log" "$run ($name)"
      [ $rc -eq 0 ] || fail "$run ($name): exit status $rc"
    done
  else
    tail -30 "$LOGS/update-c-build-$san.log"; fail "update verifier ($name): build"
  fi
done

echo "== the ahead-of-time engine refuses a swap, and a transfer at its first call (its blob is compiled in)"
if ! command -v wasm2c >/dev/null 2>&1; then
  echo "skip the ahead-of-time swap refusal: wasm2c not installed (apt install wabt)"
  skip "swap refused on the aot engine"
elif make --no-print-directory -s -C ports/common/test OUT="$PWD/build/update-c" MT_ENGINE=aot \
       "$PWD/build/update-c/test_swap_aot" "$PWD/build/update-c/test_update_tx_aot" -j2 >"$LOGS/update-aot-build.log" 2>&1; then
  for t in test_swap_aot test_update_tx_aot; do
    build/update-c/$t "$PKG" host/update/selftest.jsonl >"$LOGS/update-$t.log" 2>&1
    rc=$?
    cat "$LOGS/update-$t.log"
    add_counts "$LOGS/update-$t.log" "$t"
    [ $rc -eq 0 ] || fail "$t: exit status $rc"
  done
else
  tail -30 "$LOGS/update-aot-build.log"; fail "test_swap_aot / test_update_tx_aot: build"
fi

echo "== verify cost on the Cortex-M3 board (QEMU mps2-an385, -icount)"
if ! command -v arm-none-eabi-gcc >/dev/null 2>&1 || ! command -v qemu-system-arm >/dev/null 2>&1; then
  echo "skip the Cortex-M3 bench: arm-none-eabi-gcc or qemu-system-arm not installed"
  skip "update verifier on the Cortex-M3 board"
elif make --no-print-directory -s -f ports/common/test/m3.mk MT_ROOT="$PWD" -j2 >"$LOGS/update-m3-build.log" 2>&1; then
  if (cd build/update-c && timeout 300 qemu-system-arm -M mps2-an385 -nographic -monitor none -serial none \
        -icount shift=0,align=off,sleep=off \
        -semihosting-config enable=on,target=native,arg=bench,arg=--key=packages/key.raw,arg=--selftest=../../host/update/selftest.jsonl,arg=packages/good.pkg \
        -kernel bench-update-m3.elf) >build/update-c/m3.out 2>"$LOGS/update-m3.err" &&
     node -e 'const fs = require("fs"), r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
       if (!(r.envelopeInstructions > 0 && r.blobInstructions > 0 && r.blobBytes > 0 && r.swapInstructions > 0)) process.exit(1);
       if (r.heapPeakSwap !== r.heapOneCore) { console.error("the swap held more than one core: " + JSON.stringify(r)); process.exit(1); }
       fs.writeFileSync(process.argv[2], JSON.stringify(r, null, 2) + "\n");' build/update-c/m3.out build/update-c/m3.json; then
    pass "Cortex-M3: a package verified, staged and swapped in, wasm3's heap at its peak that of one core: $(cat build/update-c/m3.out) (build/update-c/m3.json)"
  else
    cat "$LOGS/update-m3.err"; fail "Cortex-M3: the bench image did not verify the package"
  fi
else
  tail -30 "$LOGS/update-m3-build.log"; fail "Cortex-M3: bench image build"
fi
finish
