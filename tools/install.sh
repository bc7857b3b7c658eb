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
# tools/install.sh: install everything this repository needs on a fresh
# Debian 12 machine.
#
#   Debian packages : bindep.txt (the one list; services are not started).
#   series          : tools/series.sh build: nova 34.0.0 from PyPI with our
#                     commits, a git tree at .stack/series/nova.
#   venvs (.stack/venv/):
#     nova     - nova 34.0.0's requirements and test requirements (read from
#                the sdist), our tools (requirements.txt of this
#                repository), all pinned by tools/series/constraints.txt;
#                then the series tree itself, editable (PBR_VERSION=34.0.0).
#                /usr/bin/python3 with system site-packages: rados, rbd and
#                libvirt exist only there.
#     glance   - Glance + glance_store + uWSGI (system site-packages too: its
#                rbd store imports rados/rbd).
#     keystone - Keystone (served by the glance venv's uWSGI binary).
#     neutron  - Neutron's API for the cloud (MariaDB through PyMySQL).
#
# Idempotent: a venv whose marker matches its package list (and the content of
# the files that list names) is left alone, so a second run costs seconds.
# The venvs build in parallel.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
STACK=${NOVA_STACK_HOME:-$TOP/.stack}
# The venvs always live in <repo>/.stack/venv, whatever NOVA_STACK_HOME says
# (several stacks share them); NOVA_VENV_DIR builds them elsewhere, e.g. to
# time a fresh install.
VENVS=${NOVA_VENV_DIR:-$TOP/.stack/venv}
TREE=$TOP/.stack/series/nova
CONSTRAINTS=$TOP/tools/series/constraints.txt
LOG=$STACK/log/install
mkdir -p "$VENVS" "$LOG"
T0=$(date +%s)

# bindep.txt (or $BINDEP) -> package names: lines with no [profiles], or
# whose profiles name platform:dpkg (or platform:debian) or no platform.
deb_packages() {
  sed -e 's/#.*//' "${BINDEP:-$TOP/bindep.txt}" | awk '
    NF == 0 { next }
    {
      name = $1; rest = $0; sub(/^[ \t]*[^ \t]+/, "", rest)
      if (rest !~ /\[/ || rest !~ /platform:/) { print name; next }
      if (rest ~ /!platform:(dpkg|debian)/) next
      if (rest ~ /platform:(dpkg|debian)/) print name
    }'
}
DEB_PACKAGES=$(deb_packages | tr '\n' ' ')

missing=$(dpkg-query -W -f='${Package} ${Status}\n' $DEB_PACKAGES 2>/dev/null \
          | awk '$NF != "installed" {print $1}'; \
          for p in $DEB_PACKAGES; do dpkg-query -W "$p" >/dev/null 2>&1 || echo "$p"; done)
missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')
if [ -n "${missing// /}" ]; then
  echo "install: apt-get install $missing"
  export DEBIAN_FRONTEND=noninteractive
  # Packages such as mariadb-server and rabbitmq-server start their service
  # from postinst; the stacks start their own processes, so forbid that
  # (policy-rc.d exit 101) unless the machine already has a policy.
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"
  fi
  rc=0
  apt-get update -q >"$LOG/apt.log" 2>&1 || rc=1
  [ $rc = 0 ] && { apt-get install -y -q --no-install-recommends $missing \
    >>"$LOG/apt.log" 2>&1 || rc=1; }
  [ -n "$policy" ] && rm -f "$policy"
  [ $rc = 0 ] || { echo "apt-get failed, see $LOG/apt.log" >&2; exit 1; }
fi

# venv NAME SYSTEM_SITE(0|1) PIP_ARGS...: (re)build only when the wanted set
# changed. The marker covers the arguments and the lines (comments aside) of
# every argument that is a file (-r/-c lists), not where those files are.
venv() {
  local name=$1 site=$2; shift 2
  local dir=$VENVS/$name want a
  want=$( { for a in "$@"; do
              if [ -f "$a" ]; then sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$a"
              else printf '%s\n' "$a"; fi
            done; } | sha1sum | cut -c1-12)
  [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$want" ] && return 0
  echo "install: building the $name venv"
  local t0=$SECONDS
  rm -rf "$dir"
  if [ "$site" = 1 ]; then /usr/bin/python3 -m venv --system-site-packages "$dir"
  else /usr/bin/python3 -m venv "$dir"; fi
  "$dir/bin/pip" install -q --upgrade pip
  "$dir/bin/pip" install -q "$@"
  echo "$want" > "$dir/.installed"
  echo "install: built the $name venv in $(( SECONDS - t0 )) s"
}

# Debian's python3-openssl (seen through system site-packages) is too old for
# the cryptography pip brings: eventlet's import of OpenSSL fails. Repair in
# place (no rebuild).
fix_openssl() {
  if ! "$VENVS/$1/bin/python" -c 'import OpenSSL' >/dev/null 2>&1; then
    "$VENVS/$1/bin/pip" install -q -U 'pyopenssl>=24'
  fi
}

glance_venv() {
  # psycopg2: the stack's Glance keeps its database in PostgreSQL (SQLite
  # fails concurrent writes from its workers and import tasks with "database
  # is locked").
  venv glance 1 glance==33.0.0 glance-store uwsgi python-glanceclient pyopenssl \
    psycopg2-binary
  fix_openssl glance
}
keystone_venv() {
  venv keystone 0 keystone==30.0.0 python-keystoneclient
}
neutron_venv() {
  venv neutron 0 neutron==29.0.0 PyMySQL
}
nova_venv() {
  # nova 34.0.0's requirements as released (our commits add none), read from
  # the sdist, so that the venv builds even while a commit dir is broken.
  local reqs=$TOP/.stack/series/requirements
  "$TOP/tools/series.sh" requirements "$reqs"
  venv nova 1 -c "$CONSTRAINTS" -r "$reqs/requirements.txt" \
    -r "$reqs/test-requirements.txt" -r "$TOP/requirements.txt"
  fix_openssl nova
  # nova itself: the series tree, editable (tools/series.sh installs it
  # once per venv and packaging change).
  NOVA_VENV=$VENVS/nova "$TOP/tools/series.sh" build
  local where
  where=$("$VENVS/nova/bin/python" -c 'import nova; print(nova.__file__)')
  case "$where" in
    "$TREE"/*) echo "install: nova imports from $where" ;;
    *) echo "install: nova imports from $where, not from $TREE" >&2; return 1 ;;
  esac
}

pids=()
glance_venv >"$LOG/glance.log" 2>&1 & pids+=($!)
keystone_venv >"$LOG/keystone.log" 2>&1 & pids+=($!)
neutron_venv >"$LOG/neutron.log" 2>&1 & pids+=($!)
nova_venv >"$LOG/nova.log" 2>&1 & pids+=($!)
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
if [ $rc -ne 0 ]; then
  echo "install: a venv or the series failed to build; logs in $LOG:" >&2
  for f in "$LOG"/*.log; do
    echo "==> $f <==" >&2
    # (pip's notes about this machine's local indexes are noise here)
    grep -v "^WARNING: Location 'file:" "$f" | tail -n 20 >&2
  done
  exit 1
fi
echo "install: ready in $(( $(date +%s) - T0 )) s (venvs in $VENVS)"
