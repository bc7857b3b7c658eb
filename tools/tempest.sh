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
# tools/tempest.sh [--keep] [--concurrency N] [--regex REGEX]
#
# Tempest 47 (installed in .stack/venv/nova by tools/install.sh) against the Nova
# cloud of the live stack, with the series' Nova:
#   tempest.api.compute.servers.test_create_server.ServersTestJSON
#   tempest.api.image.v2.admin.test_images.ImportCopyImagesTest
#   tempest.api.image.v2.test_images.MultiStoresImportImagesTest
# 1. uses the running stack of NOVA_STACK_HOME/NOVA_STACK_PORT_BASE, or starts one
#    with its cloud (NOVA_STACK_CLOUD=1 tools/stack.sh up) and always stops it
#    again and checks it left nothing (--keep: leave it up);
# 2. uploads image_ref/image_ref_alt (the boot disk, raw, in store central only),
#    writes <NOVA_STACK_HOME>/tempest/etc/tempest.conf and initialises that
#    workspace once (nova/tests/live/fixtures/tempest_conf.py);
# 3. `tempest run --regex` with concurrency 2 (--concurrency), prints tempest's
#    own summary, then "N passed, N failed, N skipped";
# 4. checks through Nova and Glance that image_ref now lists the Glance store of
#    every site a server booted from it on (with --regex, a run that booted
#    nothing passes this check); deletes the images.
# Exit status non-zero if a test failed, nothing passed, the store check failed,
# or the stack could not start or be cleaned. Output is kept in
# <NOVA_STACK_HOME>/log/tests/tempest.out. Knobs: TEMPEST_TIMEOUT (seconds, 1800).
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
KEEP=0
CONCURRENCY=2
CHECK_ARGS=()
REGEX='^tempest\.api\.(compute\.servers\.test_create_server\.ServersTestJSON|image\.v2\.admin\.test_images\.ImportCopyImagesTest|image\.v2\.test_images\.MultiStoresImportImagesTest)\.'
while [ $# -gt 0 ]; do
  case $1 in
    --keep) KEEP=1 ;;
    --concurrency) CONCURRENCY=$2; shift ;;
    --regex) REGEX=$2; CHECK_ARGS=(--allow-none); shift ;;
    -h|--help) sed -n '13,34p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--keep] [--concurrency N] [--regex REGEX]" >&2; exit 2 ;;
  esac
  shift
done
VENV=$TOP/.stack/venv/nova
TREE=${NOVA_SERIES_TREE:-$TOP/.stack/series/nova}
export NOVA_STACK_HOME=${NOVA_STACK_HOME:-$TOP/.stack}
export NOVA_STACK_REPO=$TOP
LOGS=$NOVA_STACK_HOME/log/tests
OUT=$LOGS/tempest.out
TEMPEST_TIMEOUT=${TEMPEST_TIMEOUT:-1800}
RC=0; STARTED=0; PREPARED=0
PASSED=0; FAILED=0; SKIPPED=0
mkdir -p "$LOGS"
if [ ! -x "$VENV/bin/tempest" ]; then
  echo "tempest: $VENV/bin/tempest is missing; run tools/install.sh" >&2
  exit 2
fi

conf() {  # the workspace helper, from the patched tree (as tools/stack.sh runs)
  (cd "$TREE" && "$VENV/bin/python" -m nova.tests.live.fixtures.tempest_conf "$@")
}
finish() {
  if [ "$PREPARED" = 1 ]; then
    PREPARED=0
    conf cleanup || RC=1
  fi
  if [ "$STARTED" = 1 ] && [ "$KEEP" = 0 ]; then
    STARTED=0
    echo "== stack down"
    tools/stack.sh down || RC=1
    tools/stack.sh check-clean || RC=1
  fi
}
summary() { echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"; }
on_signal() { echo "interrupted"; RC=130; finish; summary; exit 130; }
trap finish EXIT
trap on_signal INT TERM

T0=$(date +%s)
if tools/stack.sh status >/dev/null 2>&1; then
  echo "== using the running stack of $NOVA_STACK_HOME"
else
  echo "== stack up ($NOVA_STACK_HOME, port base ${NOVA_STACK_PORT_BASE:-17000})"
  STARTED=1
  if ! NOVA_STACK_CLOUD=1 tools/stack.sh up; then
    echo "stack failed to start; logs in $NOVA_STACK_HOME/log/stack"
    RC=1; finish; summary; exit 1
  fi
fi
T_UP=$(date +%s)

echo "== tempest workspace, images and tempest.conf"
PREPARED=1
if ! conf prepare; then
  echo "could not prepare the tempest workspace"
  RC=1; finish; summary; exit 1
fi
WS=$(conf workspace)
T_PREP=$(date +%s)

echo "== tempest run (concurrency $CONCURRENCY)"
T_RUN=$(date +%s)
(cd "$WS" && timeout -k 10 "$TEMPEST_TIMEOUT" "$VENV/bin/tempest" run \
   --config-file "$WS/etc/tempest.conf" --regex "$REGEX" \
   --concurrency "$CONCURRENCY") 2>&1 | tee "$OUT"
st=${PIPESTATUS[0]}
T_DONE=$(date +%s)
[ "$st" = 124 ] && echo "tempest timed out after $TEMPEST_TIMEOUT s"
[ "$st" = 0 ] || RC=1
PASSED=$(sed -n 's/^ - Passed: \([0-9]*\).*/\1/p' "$OUT" | tail -1)
FAILED=$(sed -n 's/^ - Failed: \([0-9]*\).*/\1/p' "$OUT" | tail -1)
SKIPPED=$(sed -n 's/^ - Skipped: \([0-9]*\).*/\1/p' "$OUT" | tail -1)
PASSED=${PASSED:-0}; FAILED=${FAILED:-0}; SKIPPED=${SKIPPED:-0}
[ "$PASSED" -gt 0 ] || { echo "no tempest test passed"; RC=1; }
[ "$FAILED" = 0 ] || RC=1

echo "== image_ref stores after the boots"
T_CLEAN=$(date +%s)
conf check-stores "${CHECK_ARGS[@]}" || { echo "store check failed"; RC=1; }

finish
echo "times: stack up $((T_UP - T0)) s, prepare $((T_PREP - T_UP)) s, tempest run" \
  "$((T_DONE - T_RUN)) s, check + cleanup + down $(($(date +%s) - T_CLEAN)) s," \
  "total $(($(date +%s) - T0)) s"
summary
exit $RC
