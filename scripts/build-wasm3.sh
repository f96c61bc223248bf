#!/usr/bin/env bash
# Builds the wasm3 engine: fetches wasm3 0.5.0's C source from PyPI (pywasm3 sdist, pinned by
# version and SHA-256) into third_party/ (ignored, never committed), embeds the blobs and
# builds build/posix/microtally-replay.
#
#   bash scripts/build-wasm3.sh            fetch if needed, then build
#   WASM3_DIR=/path/to/wasm3/source bash scripts/build-wasm3.sh
#                                          use your own wasm3 checkout (its source/ folder);
#                                          nothing is downloaded
#   bash scripts/build-wasm3.sh --update   also build/posix/microtally-replay-update (`replay
#                                          --update-at`; needs the NetX Duo tree, scripts/trees.sh)
#   bash scripts/build-wasm3.sh --fetch-only
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

WASM3_PACKAGE=pywasm3
WASM3_VERSION=0.5.0
WASM3_ARCHIVE=pywasm3-0.5.0.tar.gz
WASM3_SHA256=5a47c8a39f7f6ae71b3316b2e5d86c9d0db6e771a65f09a86e4d4aa3a19aefcc
PYPI_SIMPLE=${PYPI_SIMPLE:-https://pypi.org/simple}

THIRD_PARTY=$ROOT/third_party
# shellcheck source=scripts/trees.sh
. scripts/trees.sh
PINNED_DIR=$MT_WASM3_PINNED

log() { echo "build-wasm3: $*" >&2; }
die() { log "$*"; exit 1; }

sha256() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1 || shasum -a 256 "$1" | cut -d' ' -f1; }

# Finds the archive's URL in PyPI's simple index (by package name), downloads and checks it.
fetch() {
  local dl=$THIRD_PARTY/downloads archive url tmp
  archive=$dl/$WASM3_ARCHIVE
  mkdir -p "$dl"
  if [ ! -f "$archive" ] || [ "$(sha256 "$archive")" != "$WASM3_SHA256" ]; then
    tmp=$archive.part
    rm -f "$tmp"
    url=$(curl -fsSL "$PYPI_SIMPLE/$WASM3_PACKAGE/" 2>/dev/null \
          | grep -o "href=\"[^\"]*/$WASM3_ARCHIVE[^\"]*\"" | head -1 | sed 's/^href="//; s/"$//; s/#.*//' || true)
    if [ -n "$url" ]; then
      log "downloading $url"
      curl -fsSL --retry 3 -o "$tmp" "$url" || rm -f "$tmp"
    fi
    if [ ! -s "$tmp" ] && command -v pip >/dev/null 2>&1; then
      log "index lookup failed; trying pip download"
      local pd; pd=$(mktemp -d)
      pip download --quiet --no-deps --no-binary :all: --no-build-isolation -d "$pd" \
        "$WASM3_PACKAGE==$WASM3_VERSION" >/dev/null 2>&1 || true
      [ -f "$pd/$WASM3_ARCHIVE" ] && mv "$pd/$WASM3_ARCHIVE" "$tmp"
      rm -rf "$pd"
    fi
    [ -s "$tmp" ] || die "could not download $WASM3_ARCHIVE (set WASM3_DIR to a wasm3 source folder instead)"
    local got; got=$(sha256 "$tmp")
    if [ "$got" != "$WASM3_SHA256" ]; then
      rm -f "$tmp"
      die "SHA-256 mismatch for $WASM3_ARCHIVE: got $got, pinned $WASM3_SHA256"
    fi
    mv "$tmp" "$archive"
  fi
  rm -rf "$THIRD_PARTY/pywasm3-$WASM3_VERSION"
  tar -xzf "$archive" -C "$THIRD_PARTY" "pywasm3-$WASM3_VERSION/wasm3" "pywasm3-$WASM3_VERSION/LICENSE"
  [ -f "$PINNED_DIR/wasm3.h" ] || die "archive did not contain wasm3/wasm3.h"
  echo "$WASM3_SHA256" > "$PINNED_DIR/.sha256"
  log "wasm3 $WASM3_VERSION source in ${PINNED_DIR#$ROOT/}"
}

if [ "$WASM3_DIR" != "$PINNED_DIR" ]; then
  [ -f "$WASM3_DIR/wasm3.h" ] && [ -f "$WASM3_DIR/m3_core.c" ] \
    || die "WASM3_DIR=$WASM3_DIR has no wasm3.h/m3_core.c (point it at wasm3's source/ folder)"
  WASM3_DIR=$(cd "$WASM3_DIR" && pwd)
else
  # Re-unpack when the folder is missing or came from another archive; one process at a time
  # (builds started together all come here first: one would unpack over another's compile).
  mkdir -p "$THIRD_PARTY"
  exec 8>"$THIRD_PARTY/.lock-wasm3"
  flock 8
  if [ "$(cat "$PINNED_DIR/.sha256" 2>/dev/null)" != "$WASM3_SHA256" ]; then fetch; fi
  exec 8>&-
  WASM3_DIR=$PINNED_DIR
fi
export WASM3_DIR
[ "${1:-}" = "--fetch-only" ] && exit 0

# The blobs come from `npm run build` (npm ci runs it); build them if a fresh tree lacks them.
if [ ! -f build/microtally-rtos.wasm ] || [ ! -f build/microtally-linux.wasm ]; then
  log "blobs missing: building them (npm run build:core)"
  npm run --silent build:core >&2
fi

command -v make >/dev/null || die "make not found (apt install make; scripts/setup.sh does)"
command -v cmake >/dev/null || die "cmake not found: it embeds the blobs (apt install cmake; scripts/setup.sh does)"
command -v "${CC:-cc}" >/dev/null || die "no C compiler: ${CC:-cc} not found (apt install gcc; scripts/setup.sh does)"
JOBS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
# One build at a time in build/posix: test workers ask for both programs (host/engines/wasm3.ts),
# which share its objects.
mkdir -p build/posix
exec 9>build/posix/.lock
flock 9
make --no-print-directory -s -C ports/posix -j"$JOBS" WASM3_DIR="$WASM3_DIR" >&2
log "built build/posix/microtally-replay ($(wc -c < build/posix/microtally-replay) bytes)"
# --update: also the program with `replay --update-at` (mt_update.c over NetX Duo's nx_crypto).
if [ "${1:-}" = "--update" ]; then
  [ -d "$NETXDUO_DIR/crypto_libraries" ] || die "$(mt_tree_refusal netxduo)"
  make --no-print-directory -s -C ports/posix -j"$JOBS" WASM3_DIR="$WASM3_DIR" NETXDUO_DIR="$NETXDUO_DIR" update >&2
  log "built build/posix/microtally-replay-update"
fi
