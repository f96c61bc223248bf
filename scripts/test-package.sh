#!/usr/bin/env bash
# The package as a user gets it (issue 16): `npm pack` (its prepack builds everything), installed
# from the tarball into a temporary prefix and run from outside the repository. Checks --version,
# --help on every command it lists, that `replay` prints the same bytes as the repository's CLI,
# that engines needing the repository say so, that `run` and `bench` work and that the host API
# imports and type-checks. Then (issue 24) a global install of the tarball into a clean prefix:
# its postinstall builds the native helpers (or records exactly what is missing: a second install
# without a compiler), the installed `microtally run` uses the kernel sources (root), the unit as
# installed passes `systemd-analyze verify`, a readable secret file is refused. Needs npm and the
# dependencies in npm's cache (npm ci put them there).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/test-counts.sh

tmp=$(mktemp -d "${TMPDIR:-/tmp}/microtally-package-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
version=$(node -p "require('./package.json').version")

echo "packing (prepack builds the blobs and the host)…"
if ! tgz=$(npm pack --silent --pack-destination "$tmp" 2>"$tmp/pack.log" | tail -1) || [ ! -f "$tmp/$tgz" ]; then
  cat "$tmp/pack.log"; fail "npm pack"; finish
fi
pass "npm pack made $tgz"

contents=$(tar -tzf "$tmp/$tgz")
for f in package/bin/microtally.js package/dist/host/cli.js package/dist/host/index.d.ts package/dist/host/core.d.ts \
         package/build/microtally-rtos.wasm package/build/microtally-linux.wasm package/LICENSE package/docs/SPEC.md \
         package/host/update/selftest.jsonl; do
  grep -qx "$f" <<<"$contents" && pass "tarball has ${f#package/}" || fail "tarball lacks ${f#package/}"
done
# The native helpers ship as source with their build script (`postinstall`: node scripts/build-native.mjs),
# and `prepare`'s script (which has nothing to do in the built package) ships so that it runs.
leaked=$(grep -E '^package/(test|scripts|assembly|node_modules|third_party|build/(bench|posix|firmware|native))/' <<<"$contents" |
  grep -vx -e 'package/scripts/build-native.mjs' -e 'package/scripts/build-if-needed.mjs' | head -3)
for script in prepare postinstall; do
  file=$(node -p "(require('./package.json').scripts.$script.match(/scripts\/[\w.-]+/) || [''])[0]")
  grep -qx "package/$file" <<<"$contents" && pass "tarball has $script's $file" || fail "tarball lacks $script's script '$file'"
done
[ -z "$leaked" ] && pass "tarball has no tests, scripts, sources or build scratch" || fail "tarball carries: $leaked"

prefix=$tmp/prefix
if ! npm install --prefix "$prefix" --prefer-offline --no-audit --no-fund "$tmp/$tgz" >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log"; fail "npm install of the tarball"; finish
fi
pass "npm install --prefix <tmp> $tgz"
mt="$prefix/node_modules/.bin/microtally"
repo_mt="node $ROOT/bin/microtally.js"
cd "$tmp"   # from here on, nothing runs in the repository

# expect <name> <expected status> <command…>: runs it, keeps stdout/stderr in $tmp/out, $tmp/err.
expect() {
  local name=$1 want=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ "$rc" -eq "$want" ]; then pass "$name (exit $rc)"; return 0; fi
  fail "$name: exit $rc, expected $want"; sed 's/^/    /' "$tmp/err" | head -5; return 1
}

expect "microtally --version" 0 "$mt" --version && { [ "$(cat "$tmp/out")" = "$version" ] && pass "--version prints $version" || fail "--version printed '$(cat "$tmp/out")'"; }
expect "microtally --help" 0 "$mt" --help
commands=$(grep -oE '^microtally [a-z-]+ ' "$tmp/out" | awk '{print $2}')
[ -n "$commands" ] || fail "microtally --help lists no commands"
for c in $commands; do
  expect "microtally $c --help" 0 "$mt" "$c" --help && { grep -q "^usage: microtally $c" "$tmp/out" && pass "$c --help prints its usage" || fail "$c --help printed no usage"; }
done
expect "an unknown command is a usage error" 2 "$mt" no-such-command

# replay: the installed package prints exactly what the repository's CLI prints.
{ cat "$ROOT/examples/gateway.jsonl"; echo '{"kind":"nope","t":1}'; echo 'not json'; } >"$tmp/mixed.jsonl"
for profile in rtos linux; do
  for trace in "$ROOT/examples/gateway.jsonl" "$tmp/mixed.jsonl"; do
    "$mt" replay --profile "$profile" --stats "$trace" >"$tmp/installed.out" 2>"$tmp/installed.err"; a=$?
    $repo_mt replay --profile "$profile" --stats "$trace" >"$tmp/repo.out" 2>"$tmp/repo.err"; b=$?
    if [ "$a" -eq "$b" ] && cmp -s "$tmp/installed.out" "$tmp/repo.out" && cmp -s "$tmp/installed.err" "$tmp/repo.err"; then
      pass "replay --profile $profile $(basename "$trace"): same bytes and exit ($a) as the repository"
    else
      fail "replay --profile $profile $(basename "$trace"): installed exit $a, repository exit $b, outputs $(cmp "$tmp/installed.out" "$tmp/repo.out" 2>&1 | head -1)"
    fi
  done
done
[ -s "$tmp/repo.out" ] || fail "the replays printed nothing"

for engine in wasm3 aot qemu qemu-aot; do
  expect "replay --engine $engine from the package says what is missing" 69 "$mt" replay --engine "$engine" "$ROOT/examples/gateway.jsonl" &&
    { grep -q "^microtally: replay: engine $engine is built from the repository's C sources" "$tmp/err" && pass "  …in one line naming the repository's C sources" || fail "  the reason was: $(cat "$tmp/err")"; }
done

# Core updates: the self-test trace ships, so a package made by the installed copy verifies.
if expect "keygen from the package" 0 "$mt" keygen -o "$tmp/upd" &&
   expect "sign from the package (runs the shipped self-test)" 0 "$mt" sign --key "$tmp/upd.key" --sequence 1 "$prefix/node_modules/microtally/build/microtally-rtos.wasm" -o "$tmp/upd.pkg"; then
  expect "verify from the package" 0 "$mt" verify --pub "$tmp/upd.pub" --profile rtos "$tmp/upd.pkg"
  expect "the repository's verify accepts it" 0 $repo_mt verify --pub "$tmp/upd.pub" --installed-sequence 0 "$tmp/upd.pkg"
fi

# run: the Linux agent starts, and on SIGINT sends what is pending as messages of this version.
"$mt" run --sink stdout >"$tmp/run.out" 2>"$tmp/run.err" & pid=$!
sleep 4; kill -INT "$pid"; wait "$pid"; rc=$?
if [ "$rc" -eq 0 ] && [ -s "$tmp/run.out" ] && node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n");
  for (const l of lines) if (JSON.parse(l).AgentVersion !== process.argv[2]) process.exit(1);' "$tmp/run.out" "$version"; then
  pass "run: $(wc -l <"$tmp/run.out") messages of version $version after SIGINT, exit 0"
else
  fail "run: exit $rc"; sed 's/^/    /' "$tmp/run.err" | head -5
fi

# bench: v8 measured; what cannot run here is skipped with a line saying why.
if expect "bench (small)" 0 "$mt" bench --json --events 20000 --quota-events 2000 --repeat 1; then
  node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); if (!(r.engines.v8.nsPerEvent > 0) || r.quota.length === 0) process.exit(1)' "$tmp/out" \
    && pass "bench reports v8 and the quota scenarios" || fail "bench report: $(head -c 300 "$tmp/out")"
  for e in wasm3 aot qemu qemu-aot; do
    grep -q "^microtally: bench: $e skipped: engine $e is built from the repository's C sources" "$tmp/err" \
      && pass "bench says why $e is skipped" || fail "bench did not say why $e is skipped"
  done
fi

# The host API: importable by name, and its declarations type-check a small program.
cat >"$prefix/use.ts" <<'TS'
import { Core, Status, VERSION, engineByName, type ConnectionRecord, type Engine } from 'microtally';
const core = new Core('rtos');
const c: ConnectionRecord = { t: Date.UTC(2027, 0, 1), proto: 'tcp', dir: 'out', local: new Uint8Array([10, 0, 0, 1]),
  remote: new Uint8Array([20, 0, 0, 1]), lport: 40000, rport: 443, bytesIn: 1, bytesOut: 2 };
const s: Status = core.ingestConnection(c).status;
const e: Promise<Engine> = engineByName('v8');
console.log(VERSION, s === Status.Ok, typeof e.then);
TS
cd "$prefix"
if "$ROOT/node_modules/.bin/tsc" --noEmit --strict --module nodenext --moduleResolution nodenext --target es2022 \
     --typeRoots "$ROOT/node_modules/@types" --types node use.ts >"$tmp/tsc.log" 2>&1; then
  pass "the declarations type-check a program using Core, Status, engineByName and ConnectionRecord"
else
  fail "type check against the package's declarations"; head -10 "$tmp/tsc.log"
fi
out=$(node --input-type=module -e "import { Core, Status, VERSION } from 'microtally';
  const c = new Core('linux'); const r = c.ingestLine('{\"kind\":\"tick\",\"t\":1798761600000}');
  console.log(VERSION, r.status === Status.Ok);" 2>&1)
[ "$out" = "$version true" ] && pass "import { Core } from 'microtally' runs the core" || fail "importing the package: $out"

# Global install of the tarball into a clean prefix, as the README's service install does.
gprefix=$tmp/global
if npm install -g --prefix "$gprefix" --prefer-offline --no-audit --no-fund --foreground-scripts "$tmp/$tgz" >"$tmp/global.log" 2>&1; then
  pass "npm install -g --prefix <tmp> $tgz"
  gmt=$gprefix/bin/microtally
  groot=$gprefix/lib/node_modules/microtally
  native=$groot/build/native
  has_cc=$(command -v cc); has_clang=$(command -v clang); has_libbpf=$([ -f /usr/include/bpf/libbpf.h ] && echo yes)
  if [ -n "$has_cc" ] && [ -n "$has_clang" ] && [ -n "$has_libbpf" ]; then
    for f in microtally-events microtally-exec.bpf.o microtally-notify; do
      [ -f "$native/$f" ] && pass "postinstall built build/native/$f" || { fail "postinstall did not build build/native/$f"; tail -5 "$tmp/global.log"; }
    done
    [ "$(cat "$native/not-built.json" 2>/dev/null)" = "{}" ] && pass "postinstall left nothing out" || fail "postinstall left out: $(cat "$native/not-built.json")"
  else
    echo "the native helpers are not all buildable here (cc: ${has_cc:-none}, clang: ${has_clang:-none}, libbpf-dev: ${has_libbpf:-none})"
    skip "postinstall builds every native helper"
  fi

  # prepare (npm runs it for a git or folder install of the package): nothing to build in the built package.
  if (cd "$groot" && npm run --silent prepare >"$tmp/prepare.log" 2>&1) && [ ! -s "$tmp/prepare.log" ]; then
    pass "the installed package's prepare runs and has nothing to do"
  else
    fail "the installed package's prepare: $(head -3 "$tmp/prepare.log")"
  fi

  # The installed agent from kernel events: needs root (or CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN).
  if [ "$(id -u)" -eq 0 ] && [ -f "$native/microtally-exec.bpf.o" ]; then
    "$gmt" run --sink stdout >"$tmp/grun.out" 2>"$tmp/grun.err" & pid=$!
    for _ in $(seq 1 600); do grep -q 'running; sending to' "$tmp/grun.err" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -INT "$pid" 2>/dev/null; wait "$pid"; rc=$?
    if [ "$rc" -eq 0 ] && grep -q "info: sources: processes from the kernel: every exec from the exec probe (eBPF" "$tmp/grun.err" &&
       grep -q "connections from the kernel's socket-destroy notifications" "$tmp/grun.err"; then
      pass "the installed run uses the kernel sources: $(grep -o 'sources: processes from the kernel: every exec from the exec probe' "$tmp/grun.err")"
    else
      fail "the installed run (exit $rc) did not log the kernel sources"; sed 's/^/    /' "$tmp/grun.err" | head -5
    fi
  else
    echo "the installed run from kernel events needs root and the exec probe built"
    skip "the installed run uses the kernel sources"
  fi

  # The unit as installed: ExecStart from `command -v microtally` (here the prefix's bin).
  if command -v systemd-analyze >/dev/null; then
    mkdir -p "$tmp/unit"
    (PATH=$gprefix/bin:$PATH; sed "s|/usr/local/bin/microtally|$(command -v microtally)|" "$groot/examples/microtally.service") >"$tmp/unit/microtally.service"
    if grep -q "^ExecStart=$gmt run " "$tmp/unit/microtally.service" && systemd-analyze verify "$tmp/unit/microtally.service" >"$tmp/verify.log" 2>&1 && [ ! -s "$tmp/verify.log" ]; then
      pass "systemd-analyze verify passes on the unit as installed (ExecStart=$gmt)"
    else
      fail "systemd-analyze verify on the installed unit"; sed 's/^/    /' "$tmp/verify.log" | head -5
    fi
  else
    echo "no systemd-analyze on this machine"
    skip "systemd-analyze verify on the installed unit"
  fi

  # A connection-string file group or others may read: refused in one line, the key nowhere.
  key=c2VjcmV0LWtleS1mb3ItdGhlLXBhY2thZ2UtdGVzdA==
  printf 'HostName=h.example;DeviceId=d;SharedAccessKey=%s\n' "$key" >"$tmp/cs"; chmod 644 "$tmp/cs"
  "$gmt" run --connection-string-file "$tmp/cs" >"$tmp/cs.out" 2>"$tmp/cs.err"; rc=$?
  if [ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/cs.err")" -eq 1 ] && grep -q "readable by group and others (mode 0644): chmod 600 it, or pass --allow-readable-secret" "$tmp/cs.err" &&
     ! grep -q "$key\|c2VjcmV0" "$tmp/cs.err" "$tmp/cs.out"; then
    pass "a connection-string file readable by group and others is refused in one line (exit 2)"
  else
    fail "readable secret file: exit $rc: $(cat "$tmp/cs.err")"
  fi
else
  fail "npm install -g of the tarball"; tail -20 "$tmp/global.log"
fi

# Without a C compiler (nor clang): the install still works and the agent's log says exactly what was missing.
nprefix=$tmp/nocc
if CC=/nonexistent/cc BPF_CLANG=/nonexistent/clang npm install -g --prefix "$nprefix" --prefer-offline --no-audit --no-fund "$tmp/$tgz" >"$tmp/nocc.log" 2>&1; then
  pass "npm install -g without a C compiler"
  nroot=$nprefix/lib/node_modules/microtally
  [ ! -e "$nroot/build/native/microtally-events" ] && grep -q '"helper":"no C compiler \\"/nonexistent/cc\\" (install it, or set CC)"' "$nroot/build/native/not-built.json" &&
    grep -q '"notify":"no C compiler' "$nroot/build/native/not-built.json" &&
    pass "not-built.json names the missing compiler" || fail "not-built.json: $(cat "$nroot/build/native/not-built.json" 2>&1)"
  "$nprefix/bin/microtally" run --sink stdout >"$tmp/nrun.out" 2>"$tmp/nrun.err" & pid=$!
  for _ in $(seq 1 600); do grep -q 'running; sending to' "$tmp/nrun.err" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -INT "$pid" 2>/dev/null; wait "$pid"
  if grep -q 'sources: processes by polling /proc every 50 ms (process connector: helper [^ ]*microtally-events not built (no C compiler "/nonexistent/cc" (install it, or set CC)))' "$tmp/nrun.err"; then
    pass "the agent's log says the helper was not built for want of the C compiler"
  else
    fail "the agent's log without a compiler"; sed 's/^/    /' "$tmp/nrun.err" | head -5
  fi
  if grep -q "needs a C compiler" "$tmp/nrun.err"; then fail "the log still says 'needs a C compiler' without naming it"; fi
else
  fail "npm install -g without a C compiler"; tail -20 "$tmp/nocc.log"
fi

finish
