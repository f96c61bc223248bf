#!/usr/bin/env bash
# Checks that the C sources follow .clang-format, with the clang-format of Debian's package
# (scripts/setup.sh installs it; another version may format differently). One check per file;
# ends with `N passed, M failed`.
#   bash scripts/check-format.sh          check
#   bash scripts/check-format.sh --fix    format the files in place, then check
# Every tracked C file but the generated ones.
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/test-counts.sh
. scripts/test-counts.sh

GENERATED=(bindings/mt_record_layout.h) # scripts/record-layout.mjs writes it
CLANG_FORMAT=/usr/bin/clang-format

if ! dpkg -s clang-format >/dev/null 2>&1 || [ ! -x "$CLANG_FORMAT" ]; then
  echo "skip the format check: Debian's clang-format is not installed (bash scripts/setup.sh)"
  skip "clang-format"
  finish
fi
echo "$("$CLANG_FORMAT" --version)"

files=()
while IFS= read -r f; do
  for skip_prefix in "${GENERATED[@]}"; do
    [[ $f == "$skip_prefix"* ]] && continue 2
  done
  files+=("$f")
done < <(git ls-files '*.c' '*.h')

[ "${1:-}" = --fix ] && "$CLANG_FORMAT" -i "${files[@]}"
for f in "${files[@]}"; do
  if "$CLANG_FORMAT" "$f" | cmp -s - "$f"; then
    passed=$((passed + 1))
  else
    fail "$f is not formatted as .clang-format says (bash scripts/check-format.sh --fix)"
    "$CLANG_FORMAT" "$f" | diff "$f" - | head -10
  fi
done
echo "${#files[@]} C files checked"
finish
