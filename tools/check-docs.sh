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
# tools/check-docs.sh [STEP...]: every check of the docs, the release note,
# the playbooks, the sample config and the Zuul configuration, with warnings
# as errors. Runs all steps (or the ones named), reports each, and exits
# non-zero if any failed.
#
#   series        tools/series.sh build (the tree the next steps read)
#   docs          sphinx-build -W doc/project -> doc/build/html (this repo's pages)
#   series-docs   the pages the series adds under doc/source, with nova's option
#                 reference from the series tree -> doc/build/series/html
#   releasenotes  the series' reno notes: sections, rst, reno lint, UIDs
#   playbooks     ansible-playbook --syntax-check on every playbooks/**/*.yaml
#   genconfig     oslo-config-generator over the series tree
#                 -> doc/build/nova.conf.sample, which must hold our options
#   zuul          tools/tests/test_zuul_config.py (.zuul.yaml resolves, the
#                 multistore job names options the series tree has), and the
#                 tools' own tests: the stack home rule and the bench report
#
# Uses the tools of .stack/venv/nova (tools/install.sh builds it; NOVA_VENV
# overrides) and the series tree .stack/series/nova (NOVA_SERIES_TREE
# overrides; then the series step only checks that it exists).
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
VENV=${NOVA_VENV:-$TOP/.stack/venv/nova}
BIN=$VENV/bin
TREE=${NOVA_SERIES_TREE:-$TOP/.stack/series/nova}
cd "$TOP"
STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=(series docs series-docs releasenotes playbooks genconfig zuul)

# need TOOL...: fail the step when the nova venv lacks one of them.
need() {
  local tool
  for tool in "$@"; do
    [ -x "$BIN/$tool" ] || {
      echo "check-docs: $BIN/$tool is missing; run tools/install.sh" >&2
      return 1; }
  done
}

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

series() {
  if [ -n "${NOVA_SERIES_TREE:-}" ]; then
    [ -d "$TREE/nova" ] || { echo "check-docs: no tree at $TREE" >&2; return 1; }
    return 0
  fi
  tools/series.sh build
}

docs() {
  need sphinx-build || return 1
  rm -rf doc/build/html doc/build/doctrees
  "$BIN/sphinx-build" -W --keep-going -q -b html -d doc/build/doctrees \
    doc/project doc/build/html
}

series_docs() {
  need python || return 1
  "$BIN/python" tools/docs/series_docs.py pages --tree "$TREE" \
    --out doc/build/series
}

releasenotes() {
  need python reno || return 1
  "$BIN/python" tools/docs/series_docs.py notes --tree "$TREE"
}

playbooks() {
  local pb rc=0 found=0
  need ansible-playbook || return 1
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
  local opt sample=$TOP/doc/build/nova.conf.sample
  need oslo-config-generator || return 1
  mkdir -p doc/build
  # Run in the tree: its generator config names the namespaces, and the
  # tree's nova is the one imported.
  (cd "$TREE" && "$BIN/oslo-config-generator" \
     --config-file etc/nova/nova-config-generator.conf \
     --output-file "$sample") || return 1
  for opt in images_rbd_glance_store_name images_rbd_glance_copy_retries \
             images_rbd_glance_copy_stall_timeout copy_credentials; do
    grep -q "^#$opt =" "$sample" || {
      echo "check-docs: the sample lacks $opt" >&2; return 1; }
  done
}

zuul() {
  need python || return 1
  # From tools/tests, so that the nova imported is the installed series tree.
  (cd tools/tests && "$BIN/python" -m unittest -q test_zuul_config test_bench_stackhome \
    test_bench_report)
}

for name in "${STEPS[@]}"; do
  case "$name" in
    series|docs|releasenotes|playbooks|genconfig|zuul) step "$name" "$name" ;;
    series-docs) step series-docs series_docs ;;
    *) echo "check-docs: unknown step $name" >&2; failed+=("$name") ;;
  esac
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "check-docs: failed: ${failed[*]}" >&2
  exit 1
fi
echo "check-docs: all passed"
