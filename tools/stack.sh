#!/bin/bash
# tools/stack.sh up|down|status|env [user]|check-clean
#
# The test stack on 127.0.0.1: two Ceph clusters, Keystone, Glance (multistore) and
# libvirt, as plain processes recorded by PID. Knobs: NOVA_STACK_HOME (state, run and
# log dirs; default <repo>/.stack) and NOVA_STACK_PORT_BASE (default 17000).
#   up           start it (cleans what a crashed run left first); says so if already up
#   down         stop everything recorded, remove the run dir; fails if anything is left
#   status       endpoints, PIDs, RSS; exit 1 if a daemon died, 3 if not up
#   env [user]   `eval "$(tools/stack.sh env)"` sets OS_* for admin (or demo, nova...)
#   check-clean  exit 1 if a process, libvirt object or directory of the stack remains
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
PY=$TOP/.stack/venv/nova/bin/python
if [ ! -x "$PY" ]; then
  echo "stack: $PY is missing; run tools/install.sh first" >&2
  exit 2
fi
cd "$TOP"
exec "$PY" -m nova.tests.live.fixtures.stack "$@"
