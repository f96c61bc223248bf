# Counting helpers of the test scripts (sourced, not run): each check is `ok` or `FAIL`, a test
# program's closing `N passed, M failed` (alone or after `suite: `) adds to the totals, and
# finish prints the script's own closing line and exits non-zero on any failure.
passed=0; failed=0; skipped=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
# skip <what>: a check this machine cannot run (the reason is said on the line before): counted
# as skipped, never as passed.
skip() { skipped=$((skipped + 1)); echo "SKIP $*"; }
finish() {
  echo "$passed passed, $failed failed$([ "$skipped" -gt 0 ] && echo ", $skipped skipped")"
  [ "$failed" -eq 0 ]; exit $?
}

# add_counts <log> <name>: adds the last `N passed, M failed` of the log to the totals.
add_counts() {
  local line; line=$(grep -oE '[0-9]+ passed, [0-9]+ failed$' "$1" | tail -1)
  if [ -z "$line" ]; then fail "$2: no result line"; return; fi
  passed=$((passed + ${line%% passed*}))
  local f=${line#*passed, }; failed=$((failed + ${f%% failed}))
}
