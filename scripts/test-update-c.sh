#!/usr/bin/env bash
# The device's update verifier (ports/common/mt_update.c over NetX Duo's nx_crypto), the agent's
# core swap (ports/common/mt_agent.c, wasm3) and the ThreadX API (mt_tx_update_*, on the ThreadX
# test double) on the host, plain and under ASan + UBSan, against packages `microtally keygen` / `sign` make now (a good
# one, the next sequence, a lower one, another key's, the linux blob's); `replay --update-at`
# through that code (build/posix's update program) under ASan + UBSan, its bytes V8's; then its cost on the
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

echo "== replay --update-at through the device's code (ports/posix), under ASan + UBSan, against V8"
# The agent over the stepped mt_os.h, mt_update.c into RAM slots (ports/common/mt_replay_update.c):
# the named packages swapped, rolled back and refused, each run's bytes V8's.
RS=build/update-c/replay-san
if make --no-print-directory -s -C ports/posix -j2 MT_OBJ="$PWD/$RS" NETXDUO_DIR="$NETXDUO_DIR" \
     CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all" \
     MT_WASM3_EXTRA_CFLAGS=-fno-sanitize=alignment LDFLAGS="-fsanitize=address,undefined" update \
     >"$LOGS/update-replay-san-build.log" 2>&1; then
  node -e 'const T0 = Date.UTC(2026, 0, 1), l = [JSON.stringify({ kind: "config", t: T0, config: { systemInformation: { enabled: false } } })];
    for (let i = 1; i <= 60; i++) l.push(JSON.stringify({ kind: "connection", t: T0 + 2000 * i, proto: "tcp", dir: "out", local: "10.0.0.2",
      lport: 40000 + i % 7, remote: "20.1.2.3", rport: 8883, bytesIn: 100, bytesOut: 50 }));
    console.log(l.join("\n"));' >"$RS/trace.jsonl"
  hex=$(node -e 'const d = require("crypto").createPublicKey(require("fs").readFileSync(process.argv[1])).export({ type: "spki", format: "der" });
    console.log(d.subarray(d.length - 65).toString("hex"))' "$NAMED/test.pub")
  for spec in 10:changed-2.pkg 10:trap-after-6.pkg 10:selftest-mismatch-7.pkg 5:other-key-3.pkg,10:changed-2.pkg,1000:changed-1.pkg; do
    args=(); v8=()
    IFS=, read -ra items <<<"$spec"
    for i in "${items[@]}"; do args+=("--update-at=${i%%:*}:$NAMED/${i#*:}"); v8+=("${i%%:*}:$NAMED/${i#*:}"); done
    ASAN_OPTIONS=detect_leaks=1 "$RS/microtally-replay-update" --profile rtos "${args[@]}" --pub-hex="$hex" \
      --self-test=host/update/selftest.jsonl "$RS/trace.jsonl" >"$RS/c.out" 2>"$RS/c.err"; c=$?
    node bin/microtally.js replay "$RS/trace.jsonl" --update-at "$(IFS=,; echo "${v8[*]}")" --pub "$NAMED/test.pub" \
      >"$RS/v8.out" 2>"$RS/v8.err"; v=$?
    if [ $c -eq $v ] && ! grep -qE 'runtime error|Sanitizer' "$RS/c.err" && cmp -s "$RS/c.out" "$RS/v8.out" && cmp -s "$RS/c.err" "$RS/v8.err"; then
      pass "replay --update-at $spec: V8's bytes, under sanitizers"
    else
      fail "replay --update-at $spec under sanitizers (exit $c, V8 $v)"; head -5 "$RS/c.err"
    fi
  done
else
  tail -30 "$LOGS/update-replay-san-build.log"; fail "replay --update-at program (sanitizers): build"
fi

echo "== the device's swap gives V8's bytes (test_swap --replay against replay --update-at)"
# A trace of connection lines every 500 ms for 3 minutes (rtos windows of 30 s: ~60 lines a
# window fill the probation journal, MT_AGENT_TRIAL_JOURNAL_BYTES), one with 1.5 s between lines,
# one that ends inside a window (no closing tick).
X=build/update-c/replay
mkdir -p "$X"
node --input-type=module -e '
  const [dir] = process.argv.slice(1), fs = await import("node:fs"), T0 = Date.UTC(2026, 0, 1), line = JSON.stringify;
  const make = (step, closing) => {
    const lines = [line({ kind: "config", t: T0, config: { systemInformation: { enabled: false } } })];
    let c = 0;
    for (let t = T0 + step; t <= T0 + 180000; t += step, c++) {
      lines.push(line({ kind: "connection", t, proto: "tcp", dir: "out", local: "10.0.0.2", lport: 40000 + (c % 7), remote: "20.1.2.3", rport: 8883, bytesIn: 100, bytesOut: 50 }));
      if (t % 20000 === 0) lines.push(line({ kind: "sysinfo", t, os: "Debian", osVersion: "12", kernel: "6.1.0", hw: "x86_64", memTotal: 1024 }));
    }
    if (closing) lines.push(line({ kind: "tick", t: T0 + 240000 }));
    return lines.join("\n") + "\n";
  };
  fs.writeFileSync(dir + "/dense.jsonl", make(500, true));
  fs.writeFileSync(dir + "/sparse.jsonl", make(1500, true));
  fs.writeFileSync(dir + "/open.jsonl", make(500, false));' "$X"
VERSION=$(node --input-type=module -e 'import { VERSION } from "./dist/host/version.js"; console.log(VERSION)')
# name | trace | updates | what stderr's counters must show
while IFS='|' read -r name trace updates counters; do
  args=(); for u in $updates; do args+=("${u%%:*}:$NAMED/${u#*:}"); done
  node bin/microtally.js replay "$X/$trace.jsonl" --update-at "$(IFS=,; echo "${args[*]}")" --pub "$NAMED/test.pub" \
    >"$X/$name.v8" 2>"$X/$name.v8.err"
  for build in update-c update-c-san; do # plain, and under ASan + UBSan
    ASAN_OPTIONS=detect_leaks=1 build/$build/test_swap --replay "$X/$trace.jsonl" "$NAMED/test.pub" host/update/selftest.jsonl \
      "$VERSION" "${args[@]}" >"$X/$name.c" 2>"$X/$name.c.err"
    if [ -s "$X/$name.v8" ] && cmp -s "$X/$name.v8" "$X/$name.c" && grep -qE "$counters" "$X/$name.c.err" &&
       ! grep -qE 'runtime error|Sanitizer' "$X/$name.c.err"; then
      pass "the device's swap prints V8's bytes ($build): $name ($(wc -l <"$X/$name.c") messages; $(cat "$X/$name.c.err"))"
    else
      diff <(tr '{' '\n' <"$X/$name.v8") <(tr '{' '\n' <"$X/$name.c") | head -10; tail -20 "$X/$name.c.err"
      fail "the device's swap prints V8's bytes ($build): $name"
    fi
  done
done <<'CASES'
changed-2 applied|dense|10:changed-2.pkg|trial_checkpoints [1-9]
trap-after-6 rolled back, the inputs since the early checkpoint given again (journal full)|dense|10:trap-after-6.pkg|trial_checkpoints [1-9][0-9]* trial_refed [1-9]
trap-after-6 rolled back in its second window|sparse|10:trap-after-6.pkg|trial_refed [1-9]
selftest-mismatch-7 rolled back|dense|10:selftest-mismatch-7.pkg|faults 0
trap-load-5 rolled back|dense|10:trap-load-5.pkg|faults 0
other-key-3 refused at delivery|dense|10:other-key-3.pkg|faults 0
changed-2 then changed-1 refused (anti-rollback)|dense|10:changed-2.pkg 200:changed-1.pkg|faults 0
changed-2 delivered at the end of input, inside a window|open|100000:changed-2.pkg|faults 0
CASES

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
       if (!(r.envelopeInstructions > 0 && r.blobInstructions > 0 && r.blobBytes > 0 && r.swapInstructions > 0 && r.trialJournalBytes > 0)) process.exit(1);
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
