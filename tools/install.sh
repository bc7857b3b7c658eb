#!/bin/bash
# tools/install.sh: install everything this tree needs on a fresh Debian 12 machine.
#
#   Debian packages : Ceph (mon, osd, client, python3-rados/rbd), libvirt + QEMU with
#                     the rbd block driver, nasm (builds the test boot sector).
#   venvs (.stack/) : nova  - this tree + test tools, on /usr/bin/python3 with system
#                             site-packages (rados/rbd/libvirt exist only there);
#                     glance - Glance + glance_store + uWSGI (system site-packages too:
#                             its rbd store imports rados/rbd);
#                     keystone - Keystone (served by the glance venv's uWSGI binary).
#
# Idempotent: a venv whose marker file matches the requirements is left alone, so a
# second run costs a few seconds. The three venvs build in parallel.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
STACK=${NOVA_STACK_HOME:-$TOP/.stack}
# The venvs always live in <repo>/.stack/venv, whatever NOVA_STACK_HOME says (several
# stacks share them); NOVA_VENV_DIR builds them elsewhere, e.g. to time a fresh install.
VENVS=${NOVA_VENV_DIR:-$TOP/.stack/venv}
LOG=$STACK/log/install
mkdir -p "$VENVS" "$LOG"
T0=$(date +%s)

DEB_PACKAGES="ceph-mon ceph-osd ceph-common python3-rbd python3-rados
  libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86
  qemu-block-extra qemu-utils python3-libvirt nasm python3-venv python3-dev gcc
  iproute2 curl procps postgresql"

missing=$(dpkg-query -W -f='${Package} ${Status}\n' $DEB_PACKAGES 2>/dev/null \
          | awk '$NF != "installed" {print $1}'; \
          for p in $DEB_PACKAGES; do dpkg-query -W "$p" >/dev/null 2>&1 || echo "$p"; done)
missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')
if [ -n "${missing// /}" ]; then
  echo "install: apt-get install $missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >"$LOG/apt.log" 2>&1
  apt-get install -y -q --no-install-recommends $missing >>"$LOG/apt.log" 2>&1 \
    || { echo "apt-get failed, see $LOG/apt.log" >&2; exit 1; }
fi

# venv NAME SYSTEM_SITE(0|1) PIP_ARGS...: (re)build only when the wanted set changed.
venv() {
  local name=$1 site=$2; shift 2
  local dir=$VENVS/$name want
  want=$(printf '%s\n' "$@" | sha1sum | cut -c1-12)
  [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$want" ] && return 0
  rm -rf "$dir"
  if [ "$site" = 1 ]; then /usr/bin/python3 -m venv --system-site-packages "$dir"
  else /usr/bin/python3 -m venv "$dir"; fi
  "$dir/bin/pip" install -q --upgrade pip
  "$dir/bin/pip" install -q "$@"
  echo "$want" > "$dir/.installed"
}

glance_venv() {
  # Debian's python3-openssl is too old for the cryptography pip brings: upgrade it in
  # the venv or eventlet's import of OpenSSL fails.
  # psycopg2: the stack's Glance keeps its database in PostgreSQL (SQLite fails
  # concurrent writes from its workers and import tasks with "database is locked").
  venv glance 1 glance==33.0.0 glance-store uwsgi python-glanceclient pyopenssl \
    psycopg2-binary
  # "pyopenssl" alone is satisfied by Debian's 23.0 through system site-packages, which
  # fails to import against the venv's cryptography: repair in place (no rebuild).
  if ! "$VENVS/glance/bin/python" -c 'import OpenSSL' >/dev/null 2>&1; then
    "$VENVS/glance/bin/pip" install -q -U 'pyopenssl>=24'
  fi
}
keystone_venv() {
  venv keystone 0 keystone==30.0.0 python-keystoneclient
}
nova_venv() {
  venv nova 1 -r "$TOP/requirements.txt" -r "$TOP/test-requirements.txt" pyopenssl
  # the tree itself, editable, so entry points and `import nova` work from anywhere
  "$VENVS/nova/bin/pip" install -q --no-deps -e "$TOP"
}

pids=()
glance_venv >"$LOG/glance.log" 2>&1 & pids+=($!)
keystone_venv >"$LOG/keystone.log" 2>&1 & pids+=($!)
nova_venv >"$LOG/nova.log" 2>&1 & pids+=($!)
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
if [ $rc -ne 0 ]; then
  echo "install: a venv failed to build; logs in $LOG:" >&2
  tail -n 20 "$LOG"/*.log >&2
  exit 1
fi
echo "install: ready in $(( $(date +%s) - T0 )) s (venvs in $VENVS)"
