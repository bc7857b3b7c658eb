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
# tools/stack.sh up|down|status|env [user]|check-clean
#
# The live test stack on 127.0.0.1: two Ceph clusters, Keystone, Glance (multistore,
# uWSGI, PostgreSQL) and libvirt, as plain processes recorded by PID. It runs from
# the patched Nova tree (.stack/series/nova, made by `tools/series.sh build`) with
# the venv tools/install.sh built (.stack/venv/nova).
# Knobs: NOVA_STACK_HOME (state, run and log dirs; default <repo>/.stack),
# NOVA_STACK_PORT_BASE (default 17000), NOVA_SERIES_TREE (another patched tree),
# NOVA_STACK_PYTHON (another interpreter), NOVA_STACK_NO_BUILD=1 (`up` does not
# rebuild the series first).
# The stack home is trusted (`down` kills the PIDs recorded there): one that another
# user owns, could write or could replace is refused before anything reads it; a
# missing one is made with mode 0711, and one of ours loses group and world read
# and write (tools/bench/stackhome.py).
#   up           build the series, start the stack (cleans what a crashed run left
#                first); says so if already up
#   down         stop everything recorded, remove the run dir; fails if anything is left
#   status       endpoints, PIDs, RSS; exit 1 if a daemon died, 3 if not up
#   env [user]   `eval "$(tools/stack.sh env)"` sets OS_* for admin (or demo, nova...)
#   check-clean  exit 1 if a process, libvirt object or directory of the stack remains
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
NOVA_STACK_HOME=${NOVA_STACK_HOME:-$TOP/.stack}
case $NOVA_STACK_HOME in /*) ;; *) NOVA_STACK_HOME=$PWD/$NOVA_STACK_HOME ;; esac
export NOVA_STACK_HOME
cd "$TOP"
TREE=${NOVA_SERIES_TREE:-$TOP/.stack/series/nova}
PY=${NOVA_STACK_PYTHON:-$TOP/.stack/venv/nova/bin/python}
if [ ! -x "$PY" ]; then
  echo "stack: $PY is missing; run tools/install.sh first" >&2
  exit 2
fi
"$PY" tools/bench/stackhome.py --create --private --for stack "$NOVA_STACK_HOME" || exit 2
if [ "${1:-}" = up ] && [ -z "${NOVA_SERIES_TREE:-}" ] \
   && [ "${NOVA_STACK_NO_BUILD:-0}" != 1 ] && [ -x tools/series.sh ]; then
  tools/series.sh build >&2
fi
if [ ! -d "$TREE/nova/tests/live/fixtures" ]; then
  echo "stack: no patched tree at $TREE; run tools/series.sh build first" >&2
  exit 2
fi
export NOVA_STACK_REPO=$TOP
cd "$TREE"
exec "$PY" -m nova.tests.live.fixtures.stack "$@"
