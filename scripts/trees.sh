# The one locator of the trees microtally builds against but never commits: ThreadX, NetX Duo
# and wasm3. Every script sources it, make includes scripts/trees.mk, CMake runs it.
#   . scripts/trees.sh                       sets and exports THREADX_DIR, NETXDUO_DIR, WASM3_DIR
#   bash scripts/trees.sh                    prints them as NAME=value lines
#   bash scripts/trees.sh --refusal <tree>   prints the one line said when <tree> is missing
# A value already set wins. Else ThreadX and NetX Duo are $MT_SHARED_THIRD_PARTY/{threadx,netxduo}
# (default ../shared/third_party beside the repository) when present, empty when not; wasm3 is
# the pinned copy scripts/build-wasm3.sh unpacks (MT_WASM3_PINNED).
mt_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mt_shared=${MT_SHARED_THIRD_PARTY:-$mt_root/../shared/third_party}
MT_WASM3_PINNED=$mt_root/third_party/pywasm3-0.5.0/wasm3
if [ -z "${THREADX_DIR:-}" ] && [ -f "$mt_shared/threadx/common/inc/tx_api.h" ]; then
  THREADX_DIR=$(cd "$mt_shared/threadx" && pwd)
fi
if [ -z "${NETXDUO_DIR:-}" ] && [ -f "$mt_shared/netxduo/common/inc/nx_api.h" ]; then
  NETXDUO_DIR=$(cd "$mt_shared/netxduo" && pwd)
fi
THREADX_DIR=${THREADX_DIR:-}
NETXDUO_DIR=${NETXDUO_DIR:-}
WASM3_DIR=${WASM3_DIR:-$MT_WASM3_PINNED}
export THREADX_DIR NETXDUO_DIR WASM3_DIR MT_WASM3_PINNED

# mt_tree_refusal threadx|netxduo|wasm3: the line said when that tree is missing.
mt_tree_refusal() {
  local name var repo dir
  case $1 in
    threadx) name=ThreadX var=THREADX_DIR repo=threadx dir=$THREADX_DIR ;;
    netxduo) name='NetX Duo' var=NETXDUO_DIR repo=netxduo dir=$NETXDUO_DIR ;;
    *) echo "no wasm3 source at $WASM3_DIR: run bash scripts/build-wasm3.sh, or set WASM3_DIR to wasm3's source/ folder"; return ;;
  esac
  echo "no $name tree${dir:+ at $dir}: set $var to a checkout of eclipse-threadx/$repo, or MT_SHARED_THIRD_PARTY to a folder holding threadx/ and netxduo/ (default ../shared/third_party)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  if [ "${1:-}" = --refusal ]; then
    mt_tree_refusal "${2:-threadx}"
  else
    printf 'THREADX_DIR=%s\nNETXDUO_DIR=%s\nWASM3_DIR=%s\n' "$THREADX_DIR" "$NETXDUO_DIR" "$WASM3_DIR"
  fi
fi
