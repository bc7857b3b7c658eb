#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.
#
# tools/run-tests.sh [--unit-only|--live-only] [stestr filter]
#
# Installs what is missing (tools/install.sh), builds the series (upstream nova
# 34.0.0 with our commits, .stack/series/nova), then from that patched tree:
#   unit tests  upstream's tests of the modules the series touches (image
#               test_glance, libvirt test_imagebackend and test_driver, storage
#               test_rbd, conf) and every unit test the series adds;
#   live tests  nova/tests/live against the real stack, which is brought up once
#               and always brought down again (on failure and Ctrl-C too), then
#               checked for leftovers;
#   tempest     the subset of tools/tempest.sh through the stack's Nova cloud
#               (RUN_TEMPEST=0 leaves it out).
# The last line is "N passed, N failed, N skipped" over both suites; the exit
# status is non-zero if a test failed, nothing ran, or the stack could not start
# or be cleaned. Knobs: UNIT_TIMEOUT, LIVE_TIMEOUT (seconds), UNIT_TESTS (the
# unit test modules, space separated), UNIT_CONCURRENCY, LIVE_CONCURRENCY.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
MODE=all
case "${1:-}" in
  --unit-only) MODE=unit; shift ;;
  --live-only|--functional-only) MODE=live; shift ;;
esac
FILTER=("$@")
VENV=$TOP/.stack/venv/nova
TREE=$TOP/.stack/series/nova
export NOVA_STACK_HOME=${NOVA_STACK_HOME:-$TOP/.stack}
LOGS=$NOVA_STACK_HOME/log/tests
mkdir -p "$LOGS"
PASSED=0; FAILED=0; SKIPPED=0; RC=0; STACK_UP=0
# A hung test must not hang CI: each suite gets a wall-clock budget (seconds).
UNIT_TIMEOUT=${UNIT_TIMEOUT:-1200}
LIVE_TIMEOUT=${LIVE_TIMEOUT:-${FUNCTIONAL_TIMEOUT:-1800}}
UNIT_CONCURRENCY=${UNIT_CONCURRENCY:-2}
LIVE_CONCURRENCY=${LIVE_CONCURRENCY:-2}
# Upstream's own tests of what the series changes or extends.
UPSTREAM_UNIT="nova.tests.unit.image.test_glance
  nova.tests.unit.virt.libvirt.test_imagebackend
  nova.tests.unit.virt.libvirt.test_driver
  nova.tests.unit.storage.test_rbd
  nova.tests.unit.conf"

# Live tests that must have the stack to themselves (they stop Glance).
SERIAL_LIVE='nova\.tests\.live\.test_faults\.'

# stestr's closing "Totals" block of one run -> add to the counters. Parsed from the
# run's own output, not `stestr last`, which other runs in the same tree may move.
count() {
  local out=$1 p f s
  p=$(sed -n 's/^ - Passed: \([0-9]*\).*/\1/p' "$out" | tail -1)
  f=$(sed -n 's/^ - Failed: \([0-9]*\).*/\1/p' "$out" | tail -1)
  s=$(sed -n 's/^ - Skipped: \([0-9]*\).*/\1/p' "$out" | tail -1)
  PASSED=$((PASSED + ${p:-0})); FAILED=$((FAILED + ${f:-0})); SKIPPED=$((SKIPPED + ${s:-0}))
}

# The unit test modules the series adds: every nova/tests/unit/**/test_*.py that
# a commit of .stack/series/manifest.json brings.
series_unit_tests() {
  "$VENV/bin/python" - "$TOP/.stack/series/manifest.json" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    manifest = json.load(f)
for commit in manifest['commits']:
    for path in commit['files']:
        name = path.rsplit('/', 1)[-1]
        if (path.startswith('nova/tests/unit/') and name.startswith('test_')
                and name.endswith('.py')):
            print(path[:-3].replace('/', '.'))
PY
}

# run_stestr NAME TIMEOUT ARGS...: one stestr run in the tree, output teed to
# $LOGS/NAME.out and counted.
run_stestr() {
  local name=$1 limit=$2 out=$LOGS/$1.out st
  shift 2
  (cd "$TREE" && timeout -k 10 "$limit" "$VENV/bin/stestr" "$@") 2>&1 | tee "$out"
  st=${PIPESTATUS[0]}
  [ "$st" = 124 ] && echo "$name tests timed out after $limit s"
  [ "$st" = 0 ] || RC=1
  count "$out"
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
echo "== series build"
tools/series.sh build || { echo "series build failed"; summary; exit 1; }

if [ "$MODE" != live ]; then
  echo "== unit tests (from $TREE)"
  ours=$(series_unit_tests) || { echo "cannot read the series manifest"; RC=1; }
  # shellcheck disable=SC2206
  modules=(${UNIT_TESTS:-$UPSTREAM_UNIT $ours})
  [ ${#FILTER[@]} -gt 0 ] && modules=("${FILTER[@]}")
  # What upstream's tox sets for its unit tests (eventlet mode, as its unit env).
  OS_STDOUT_CAPTURE=1 OS_STDERR_CAPTURE=1 OS_TEST_TIMEOUT=160 \
    PYTHONDONTWRITEBYTECODE=1 NOVA_RAISE_ON_GREENLET_LEAK=True \
    OS_NOVA_DISABLE_EVENTLET_PATCHING=False \
    run_stestr unit "$UNIT_TIMEOUT" --test-path=./nova/tests/unit --top-dir=./ \
    run --concurrency "$UNIT_CONCURRENCY" "${modules[@]}"
fi

if [ "$MODE" != unit ]; then
  echo "== stack up"
  STACK_UP=1
  if NOVA_STACK_NO_BUILD=1 tools/stack.sh up; then
    echo "== live tests (from $TREE)"
    if [ ${#FILTER[@]} -gt 0 ]; then
      run_stestr live "$LIVE_TIMEOUT" --test-path=./nova/tests/live --top-dir=./ \
        run --concurrency "$LIVE_CONCURRENCY" "${FILTER[@]}"
    else
      run_stestr live "$LIVE_TIMEOUT" --test-path=./nova/tests/live --top-dir=./ \
        run --concurrency "$LIVE_CONCURRENCY" --exclude-regex "$SERIAL_LIVE"
      # The fault tests freeze (SIGSTOP) and kill Glance's processes: a test on
      # another worker would see Glance drop its requests. They run alone.
      echo "== live fault tests, one at a time"
      run_stestr live-faults "$LIVE_TIMEOUT" --test-path=./nova/tests/live \
        --top-dir=./ run --concurrency 1 "$SERIAL_LIVE"
    fi
    # Tempest's subset through the Nova cloud on the same stack (tools/tempest.sh
    # leaves a stack it did not start running). Skipped when a filter narrows
    # the run or NOVA_STACK_CLOUD=0 left the cloud out.
    if [ ${#FILTER[@]} = 0 ] && [ "${NOVA_STACK_CLOUD:-auto}" != 0 ] \
        && [ "${RUN_TEMPEST:-1}" = 1 ]; then
      echo "== tempest (tools/tempest.sh)"
      rm -f "$NOVA_STACK_HOME/log/tests/tempest.out"
      tools/tempest.sh || RC=1
      if [ -f "$NOVA_STACK_HOME/log/tests/tempest.out" ]; then
        count "$NOVA_STACK_HOME/log/tests/tempest.out"
      else
        echo "tempest wrote no results"; RC=1
      fi
    fi
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
