#!/bin/bash
# tools/run-tests.sh [--unit-only|--functional-only] [stestr filter]
#
# Installs what is missing (tools/install.sh), runs the unit tests, then brings the
# real stack up once, runs the functional suite against it (2 workers) and always
# brings the stack down again (on failure and on Ctrl-C too), then checks that
# nothing of it is left. The last line is "N passed, N failed, N skipped" over both
# suites; the exit status is non-zero if a test failed, nothing ran, or the stack
# could not start or be cleaned.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
MODE=all
case "${1:-}" in
  --unit-only) MODE=unit; shift ;;
  --functional-only) MODE=functional; shift ;;
esac
FILTER=("$@")
VENV=$TOP/.stack/venv/nova
export NOVA_STACK_HOME=${NOVA_STACK_HOME:-$TOP/.stack}
LOGS=$NOVA_STACK_HOME/log/tests
mkdir -p "$LOGS"
PASSED=0; FAILED=0; SKIPPED=0; RC=0; STACK_UP=0
# A hung test must not hang CI: each suite gets a wall-clock budget (seconds).
UNIT_TIMEOUT=${UNIT_TIMEOUT:-900}
FUNCTIONAL_TIMEOUT=${FUNCTIONAL_TIMEOUT:-1800}

# stestr's closing "Totals" block of one run -> add to the counters. Parsed from the
# run's own output, not `stestr last`, which other runs in the same tree may move.
count() {
  local out=$1 p f s
  p=$(sed -n 's/^ - Passed: \([0-9]*\).*/\1/p' "$out" | tail -1)
  f=$(sed -n 's/^ - Failed: \([0-9]*\).*/\1/p' "$out" | tail -1)
  s=$(sed -n 's/^ - Skipped: \([0-9]*\).*/\1/p' "$out" | tail -1)
  PASSED=$((PASSED + ${p:-0})); FAILED=$((FAILED + ${f:-0})); SKIPPED=$((SKIPPED + ${s:-0}))
}

stack_down() {
  [ "$STACK_UP" = 1 ] || return 0
  STACK_UP=0
  echo "== stack down"
  tools/stack.sh down || RC=1
  tools/stack.sh check-clean || RC=1
}
on_signal() { echo "interrupted"; RC=130; stack_down; summary; exit 130; }
summary() {
  echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
}
trap stack_down EXIT
trap on_signal INT TERM

echo "== install"
tools/install.sh || { echo "install failed"; summary; exit 1; }

if [ "$MODE" != functional ]; then
  echo "== unit tests"
  out=$LOGS/unit.out
  timeout -k 10 "$UNIT_TIMEOUT" "$VENV/bin/stestr" --test-path=./nova/tests/unit \
    --top-dir=./ run "${FILTER[@]}" 2>&1 | tee "$out"
  st=${PIPESTATUS[0]}
  [ "$st" = 124 ] && echo "unit tests timed out after $UNIT_TIMEOUT s"
  [ "$st" = 0 ] || RC=1
  count "$out"
fi

if [ "$MODE" != unit ]; then
  echo "== stack up"
  STACK_UP=1
  if tools/stack.sh up; then
    echo "== functional tests"
    out=$LOGS/functional.out
    timeout -k 10 "$FUNCTIONAL_TIMEOUT" "$VENV/bin/stestr" \
      --test-path=./nova/tests/functional --top-dir=./ run --concurrency 2 \
      "${FILTER[@]}" 2>&1 | tee "$out"
    st=${PIPESTATUS[0]}
    [ "$st" = 124 ] && echo "functional tests timed out after $FUNCTIONAL_TIMEOUT s"
    [ "$st" = 0 ] || RC=1
    count "$out"
  else
    echo "stack failed to start; logs in $NOVA_STACK_HOME/log/stack"
    RC=1
  fi
  stack_down
fi

[ $((PASSED + FAILED)) -gt 0 ] || { echo "no tests ran"; RC=1; }
[ "$FAILED" = 0 ] || RC=1
summary
exit $RC
