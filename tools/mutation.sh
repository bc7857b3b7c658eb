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
# tools/mutation.sh: mutation testing of the copy-to-store decision core with
# mutmut (PyPI), in a private copy of the series tree. Not part of CI's
# pass/fail (tens of minutes on two cores): run it before changing
#   nova/virt/libvirt/image_copy.py, nova/virt/libvirt/rbd_glance.py,
#   nova/image/glance_multistore.py, nova/storage/rbd_multistore.py
# and see doc/project/testing.rst.
#
#   tools/mutation.sh [--rev REV] [--jobs N] [--pytest-arg ARG]...
#                     [--only PATTERN]... [--keep-tree] [--report-only]
#
#   --rev REV      take our files (the series commits' "files") from git
#                  revision REV instead of the working tree
#   --jobs N       mutmut's parallel workers (default 1)
#   --pytest-arg A one more argument for every pytest run (repeatable),
#                  e.g. --pytest-arg --deselect=<node id> for a test that
#                  fails on the unmutated code (mutmut needs them all green)
#   --only PATTERN run only the mutants whose names match PATTERN (fnmatch,
#                  repeatable), e.g. --only 'nova.image.glance_multistore.*'
#                  for one file or '*image_copy.x_decide__*' for one
#                  function; the others show as not checked in the report
#   --keep-tree    run again in the private tree of the last run, keeping
#                  its results: only the test modules test_*_mutants.py
#                  are copied again (not the code under test, nor tests
#                  that may need newer code), e.g. to check that new tests
#                  there kill the survivors named by --only
#   --report-only  print the report of the last run again
#
# Prints every survivor (a diff, a fingerprint) and the score per file.
# Survivors that no test can or should kill are listed, with the reason, in
# tools/mutation/equivalent.txt. What is not mutated (log statements, prose,
# functions outside the decision core) is listed in tools/mutation/scope.py.
# Environment: MUTATION_DIR (default /tmp/nova-mutation) holds the private
# tree; MUTATION_VENV (default .stack/venv/mutation) gets mutmut and pytest
# on first run and sees the nova venv's packages.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
SERIES=$TOP/.stack/series/nova
NOVA_VENV=${NOVA_VENV:-$TOP/.stack/venv/nova}
VENV=${MUTATION_VENV:-$TOP/.stack/venv/mutation}
WORK=${MUTATION_DIR:-/tmp/nova-mutation}
TREE=$WORK/tree
MUTMUT_VERSION=3.8.1
PYTEST_VERSION=9.0.2
REV=
JOBS=1
REPORT_ONLY=
KEEP_TREE=
PYTEST_ARGS=()
ONLY=()
CORE=(nova/virt/libvirt/image_copy.py nova/virt/libvirt/rbd_glance.py
      nova/storage/rbd_multistore.py nova/image/glance_multistore.py)
# The tests each mutant may run (mutmut runs, for each mutant, only those of
# them that call the mutated function): every test module of the four files.
TESTS=('nova/tests/unit/virt/libvirt/test_image_copy*.py'
       'nova/tests/unit/virt/libvirt/test_rbd_glance*.py'
       'nova/tests/unit/storage/test_rbd_multistore*.py'
       'nova/tests/unit/image/test_glance_multistore*.py')

while [ $# -gt 0 ]; do
  case $1 in
    --rev) REV=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --pytest-arg) PYTEST_ARGS+=("$2"); shift 2 ;;
    --only) ONLY+=("$2"); shift 2 ;;
    --keep-tree) KEEP_TREE=1; shift ;;
    --report-only) REPORT_ONLY=1; shift ;;
    -h|--help) sed -n '14,47p' "$0"; exit 0 ;;
    *) echo "mutation: unknown argument $1" >&2; exit 2 ;;
  esac
done

# The venv: its own mutmut and pytest first, then the nova venv's packages
# (nova's requirements), then Debian's (rados, rbd, libvirt).
setup_venv() {
  local want="mutmut==$MUTMUT_VERSION pytest==$PYTEST_VERSION $NOVA_VENV"
  [ -f "$VENV/.mutation-installed" ] && \
    [ "$(cat "$VENV/.mutation-installed")" = "$want" ] && return 0
  [ -x "$NOVA_VENV/bin/python" ] || {
    echo "mutation: no nova venv at $NOVA_VENV (tools/install.sh)" >&2
    exit 1; }
  echo "mutation: installing mutmut $MUTMUT_VERSION into $VENV"
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
  "$VENV/bin/pip" install -q "mutmut==$MUTMUT_VERSION" \
    "pytest==$PYTEST_VERSION"
  local site nova_site
  site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  nova_site=$("$NOVA_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "import site; site.addsitedir('$nova_site')" > "$site/zz_nova_venv.pth"
  echo "$want" > "$VENV/.mutation-installed"
}

our_files() {
  local f
  for f in "$TOP"/tools/series/commits/0[234]-*/files; do
    grep -v '^\s*\(#\|$\)' "$f"
  done
}

# The private tree: the built series (nova 34.0.0 and its wiring), our files
# laid over it from the working tree or from --rev.
lay_tree() {
  [ -d "$SERIES/nova" ] || {
    echo "mutation: no series tree at $SERIES: run tools/series.sh build" >&2
    exit 1; }
  mkdir -p "$TREE"
  rsync -a --delete --exclude=.git --exclude=mutants \
    --exclude=__pycache__ --exclude=.stestr "$SERIES/" "$TREE/"
  rm -rf "$TREE/mutants"
  local f
  while read -r f; do
    mkdir -p "$TREE/$(dirname "$f")"
    if [ -n "$REV" ]; then
      git -C "$TOP" show "$REV:$f" > "$TREE/$f" 2>/dev/null || rm -f "$TREE/$f"
    else
      if [ -f "$TOP/$f" ]; then cp "$TOP/$f" "$TREE/$f"; else rm -f "$TREE/$f"; fi
    fi
  done < <(our_files)
  cp "$TOP/tools/mutation/conftest.py" "$TREE/conftest.py"
  # What is not mutated (log statements, prose, functions outside the
  # decision core): see tools/mutation/scope.py.
  (cd "$TREE" && /usr/bin/python3 "$TOP/tools/mutation/scope.py" "${CORE[@]}")
  local tests=() t m
  for t in "${TESTS[@]}"; do
    # The globs expand in the private tree (the series' test modules).
    for m in $(cd "$TREE" && ls $t 2>/dev/null); do tests+=("$m"); done
  done
  {
    echo
    echo "[mutmut]"
    # A mutant that makes the wait loop spin runs until mutmut's CPU limit,
    # (tests' time + 1 s) x multiplier x 2: 3 instead of mutmut's 15 keeps
    # such timeouts to seconds, not minutes, with room for slow tests.
    echo "timeout_multiplier = 3"
    echo "source_paths = nova"
    echo "only_mutate ="
    printf '    %s\n' "${CORE[@]}"
    echo "do_not_mutate_patterns ="
    echo "    no mutate, log only\$"
    echo "also_copy ="
    echo "    conftest.py"
    echo "pytest_add_cli_args_test_selection ="
    printf '    %s\n' "${tests[@]}"
    echo "pytest_add_cli_args ="
    echo "    -p"
    echo "    no:cacheprovider"
    [ ${#PYTEST_ARGS[@]} -eq 0 ] || printf '    %s\n' "${PYTEST_ARGS[@]}"
  } >> "$TREE/setup.cfg"
}

# Our tests against survivors, again, into the tree of the last run
# (--keep-tree).
refresh_tests() {
  [ -f "$TREE/setup.cfg" ] && [ -d "$TREE/mutants" ] || {
    echo "mutation: no earlier run in $TREE to keep" >&2
    exit 1; }
  local f
  while read -r f; do
    case $f in
      # mutmut runs the tests from its own copy, mutants/, which it
      # never refreshes: both copies get the new modules.
      nova/tests/*_mutants.py)
        if [ -f "$TOP/$f" ]; then
          cp "$TOP/$f" "$TREE/$f"
          mkdir -p "$TREE/mutants/$(dirname "$f")"
          cp "$TOP/$f" "$TREE/mutants/$f"
        fi ;;
    esac
  done < <(our_files)
}

setup_venv
export OS_NOVA_DISABLE_EVENTLET_PATCHING=True
if [ -z "$REPORT_ONLY" ]; then
  if [ -n "$KEEP_TREE" ]; then refresh_tests; else lay_tree; fi
  echo "mutation: mutmut run in $TREE (${JOBS} worker(s))"
  start=$(date +%s)
  (cd "$TREE" && "$VENV/bin/mutmut" run --max-children "$JOBS" \
     ${ONLY[@]+"${ONLY[@]}"}) \
    > "$WORK/mutmut.log" 2>&1 || {
      tail -40 "$WORK/mutmut.log" >&2
      echo "mutation: mutmut failed; log: $WORK/mutmut.log" >&2
      exit 1; }
  echo "mutation: mutmut took $(( $(date +%s) - start )) s"
fi
cd "$TREE"
"$VENV/bin/python" "$TOP/tools/mutation/report.py" \
  "$TOP/tools/mutation/equivalent.txt" "${CORE[@]}" | tee "$WORK/report.txt"
