#!/bin/bash
# tools/check-docs.sh: every check of the docs, release notes, playbooks and sample
# config, with warnings as errors. Runs all steps, reports each, and exits non-zero if
# any failed.
#
#   docs          sphinx-build -W doc/source        -> doc/build/html
#   releasenotes  reno lint + sphinx-build -W releasenotes/source
#                 (reno reads notes from git: uncommitted notes are not built)
#   playbooks     ansible-playbook --syntax-check on every playbooks/**/*.yaml
#   genconfig     oslo-config-generator for the nova.conf namespace
#                 -> doc/build/nova.conf.sample (etc/ is left to tox -e genconfig)
#
# Uses the tools of .stack/venv/nova (tools/install.sh builds it); NOVA_VENV overrides.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
VENV=${NOVA_VENV:-$TOP/.stack/venv/nova}
BIN=$VENV/bin
cd "$TOP"

for tool in sphinx-build reno ansible-playbook oslo-config-generator; do
  if [ ! -x "$BIN/$tool" ]; then
    echo "check-docs: $BIN/$tool is missing; run tools/install.sh" >&2
    exit 2
  fi
done

failed=()
step() {  # step NAME COMMAND...: run, time and record one check
  local name=$1 t0=$SECONDS
  shift
  echo "check-docs: $name ..."
  if "$@"; then
    echo "check-docs: $name ok ($((SECONDS - t0)) s)"
  else
    echo "check-docs: $name FAILED ($((SECONDS - t0)) s)" >&2
    failed+=("$name")
  fi
}

docs() {
  rm -rf doc/build/html doc/build/doctrees
  "$BIN/sphinx-build" -W --keep-going -q -b html -d doc/build/doctrees \
    doc/source doc/build/html
}

releasenotes() {
  "$BIN/reno" -q lint &&
  rm -rf releasenotes/build &&
  "$BIN/sphinx-build" -W --keep-going -q -b html -d releasenotes/build/doctrees \
    releasenotes/source releasenotes/build/html
}

playbooks() {
  local pb rc=0 found=0
  # No inventory file and no controller interpreter discovery: a syntax check only.
  export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false
  while IFS= read -r pb; do
    found=1
    "$BIN/ansible-playbook" --syntax-check -i localhost, "$pb" >/dev/null || {
      echo "check-docs: syntax error in $pb" >&2; rc=1; }
  done < <(find playbooks -name '*.yaml' -o -name '*.yml' | sort)
  [ "$found" = 1 ] || { echo "check-docs: no playbooks found" >&2; return 1; }
  return $rc
}

genconfig() {
  mkdir -p doc/build
  "$BIN/oslo-config-generator" \
    --config-file etc/nova/nova-config-generator.conf \
    --output-file doc/build/nova.conf.sample &&
  grep -q '^#images_rbd_glance_store_name' doc/build/nova.conf.sample || {
    echo "check-docs: the sample lacks images_rbd_glance_store_name" >&2; return 1; }
}

step docs docs
step releasenotes releasenotes
step playbooks playbooks
step genconfig genconfig

if [ ${#failed[@]} -ne 0 ]; then
  echo "check-docs: failed: ${failed[*]}" >&2
  exit 1
fi
echo "check-docs: all passed"
