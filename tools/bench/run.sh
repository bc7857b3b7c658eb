#!/bin/bash
#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.
#
# tools/bench/run.sh [bench.py options]  (what `tox -e bench` runs)
#
# Ours against upstream Nova on one stack: builds the upstream venv if missing, starts
# a stack of its own (NOVA_STACK_HOME=<repo>/.stack/bench-stack, ports from 21000
# unless set), runs tools/bench/bench.py, which prints the table and writes
# doc/project/benchmark.rst, and always stops the stack.
#
# The stack home is trusted (its recorded PIDs get killed), so one that is not a
# directory of the user running this (root, usually) with no group or world write,
# under directories only trusted users can replace, is refused: see
# tools/bench/stackhome.py. The default is made with mode 0700 and, being fixed,
# lets `up` clean what a killed run left.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
export NOVA_STACK_HOME=${NOVA_STACK_HOME:-$TOP/.stack/bench-stack}
export NOVA_STACK_PORT_BASE=${NOVA_STACK_PORT_BASE:-21000}
PY=$TOP/.stack/venv/nova/bin/python
UP=$TOP/.stack/venv/upstream-nova
if [ ! -x "$PY" ]; then
  echo "bench: $PY is missing; run tools/install.sh first" >&2
  exit 2
fi
# Before anything reads the home (stop_all below kills the PID recorded there).
"$PY" tools/bench/stackhome.py --create "$NOVA_STACK_HOME" || exit 2

# Upstream Nova from PyPI, outside this tree's venvs. System site-packages for the
# rados/rbd bindings; pyopenssl upgraded or os_brick fails to import.
if [ ! -f "$UP/.bench-ready" ]; then
  echo "bench: building $UP (pip install nova)" >&2
  rm -rf "$UP"
  /usr/bin/python3 -m venv --system-site-packages "$UP"
  "$UP/bin/python" -m pip install -q nova
  "$UP/bin/python" -m pip install -q -U pyopenssl
  "$UP/bin/python" -c 'import importlib.metadata as m; print(m.version("nova"))' \
    > "$UP/.bench-ready"
fi

stop_all() {
  local rc=$?
  # The variant Glance bench.py starts is stopped by bench.py; this catches a kill.
  local pidfile=$NOVA_STACK_HOME/bench/glance-variant.pid
  if [ -f "$pidfile" ]; then
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null && grep -q glance-variant "/proc/$pid/cmdline" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      sleep 5
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  fi
  tools/stack.sh down || rc=1
  exit $rc
}
trap stop_all EXIT INT TERM

tools/stack.sh up
start=$(date +%s)
"$PY" tools/bench/bench.py --command "tools/bench/run.sh${*:+ $*}" "$@"
echo "bench: done in $(( $(date +%s) - start )) s (stack up/down not counted)" >&2
