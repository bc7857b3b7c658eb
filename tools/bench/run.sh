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
# Upstream Nova against the series through a real Nova cloud: builds the upstream
# venv if missing, starts a stack of its own with its cloud
# (NOVA_STACK_HOME=<repo>/.stack/bench-stack, ports from 21000 unless set), runs
# tools/bench/bench.py, which switches only the two nova-compute services between
# the two Novas, prints the table and writes doc/project/benchmark.rst (and its
# plot), and always stops the stack. --quick: a smoke run of a few minutes.
#
# The stack home is trusted (its recorded PIDs get killed), so one that is not a
# directory of the user running this (root, usually) with no group or world write,
# under directories only trusted users can replace, is refused: see
# tools/bench/stackhome.py. The default is made with mode 0711 and, being fixed,
# lets `up` clean what a killed run left.
set -euo pipefail
T0=$(date +%s)
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
export NOVA_STACK_HOME=${NOVA_STACK_HOME:-$TOP/.stack/bench-stack}
export NOVA_STACK_PORT_BASE=${NOVA_STACK_PORT_BASE:-21000}
PY=$TOP/.stack/venv/nova/bin/python
UP=$TOP/.stack/venv/upstream-nova
# The stack's venvs (Keystone, Glance, Neutron, this tree's Nova): built on a fresh
# machine, a few seconds' check otherwise.
tools/install.sh
# Before anything reads the home (stop_all below kills the PID recorded there).
"$PY" tools/bench/stackhome.py --create "$NOVA_STACK_HOME" || exit 2

# Upstream nova 34.0.0 from PyPI, unpatched, outside this tree's venvs, with the
# versions this tree's venv pins. System site-packages for the rados/rbd/libvirt
# bindings; pyopenssl upgraded or eventlet fails to import OpenSSL. The bench
# switches the cloud's two nova-compute services to it and back.
UPSTREAM_NOVA=34.0.0
if [ "$(cat "$UP/.bench-ready" 2>/dev/null)" != "$UPSTREAM_NOVA" ]; then
  echo "bench: building $UP (pip install nova==$UPSTREAM_NOVA)" >&2
  rm -rf "$UP"
  /usr/bin/python3 -m venv --system-site-packages "$UP"
  "$UP/bin/python" -m pip install -q -c tools/series/constraints.txt \
    "nova==$UPSTREAM_NOVA"
  "$UP/bin/python" -m pip install -q -U 'pyopenssl>=24'
  "$UP/bin/python" -c 'import importlib.metadata as m; print(m.version("nova"))' \
    > "$UP/.bench-ready"
fi
export NOVA_STACK_UPSTREAM_VENV=$UP
# The benchmark needs the stack's Nova cloud.
export NOVA_STACK_CLOUD=1

stop_all() {
  local rc=$?
  tools/stack.sh down || rc=1
  exit $rc
}
trap stop_all EXIT INT TERM

tools/stack.sh up
start=$(date +%s)
"$PY" tools/bench/bench.py --command "tools/bench/run.sh${*:+ $*}" "$@"
echo "bench: done in $(( $(date +%s) - start )) s (stack up/down not counted;" \
  "$(( $(date +%s) - T0 )) s since run.sh started)" >&2
