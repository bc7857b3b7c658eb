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
# tools/series.sh: our patch series on the nova sdist from PyPI.
#
#   build [--force]  sdist (downloaded once, sha256 pinned in tools/series/
#                    base.json) -> git tree .stack/series/nova, one commit per
#                    tools/series/commits/NN-slug, patches exported to
#                    .stack/series/patches; "series: up to date" when nothing
#                    changed. When the nova venv exists and nova is not yet
#                    installed from the tree, installs it (editable).
#   export           write the patches of the built series again
#   test-am          build, then git am the patches onto a fresh sdist and
#                    compare the resulting tree with the series' (exit 1 if not)
#   status           the commits, their ids and whether a build is due
#   clean [--all]    remove the tree and patches (--all: the sdist cache too);
#                    the nova venv imports nova from the tree: build again
#   check-upstream   fail when the repository stores a path of upstream nova
#                    under nova/ doc/ releasenotes/, or 8+ lines of its text
#   requirements DIR copy the sdist's requirements.txt, test-requirements.txt
#                    into DIR (tools/install.sh builds the nova venv from them)
#
# The logic is tools/series/build.py (stdlib only, /usr/bin/python3).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
VENV=${NOVA_VENV:-$TOP/.stack/venv/nova}
TREE=$TOP/.stack/series/nova

# install_tree: nova from the series tree into the nova venv, editable, once.
# An editable install follows the tree's files, so later builds need no
# reinstall unless the packaging (setup.cfg, pyproject.toml) changes.
install_tree() {
  [ -x "$VENV/bin/pip" ] || return 0
  local want
  want=$( { echo compat; cat "$TREE/setup.cfg" "$TREE/pyproject.toml" \
           "$VENV/.installed" 2>/dev/null || true; } | sha1sum | cut -c1-12)
  [ -f "$VENV/.series-installed" ] && \
    [ "$(cat "$VENV/.series-installed")" = "$want" ] && return 0
  echo "series: installing $TREE into $VENV (editable)"
  # pbr: the version is the release's; no AUTHORS/ChangeLog from git history.
  # editable_mode=compat: a .pth puts the tree on sys.path, so the tree's
  # nova (a regular package) wins over any nova/ directory without an
  # __init__.py in the current directory, such as this repository's.
  local out
  if ! out=$(PBR_VERSION=34.0.0 SKIP_GENERATE_AUTHORS=1 \
             SKIP_WRITE_GIT_CHANGELOG=1 "$VENV/bin/pip" install -q --no-deps \
             -e "$TREE" --config-settings editable_mode=compat 2>&1); then
    echo "$out" >&2
    echo "series: pip install -e $TREE failed" >&2
    return 1
  fi
  echo "$want" > "$VENV/.series-installed"
}

cmd=${1:-}
case "$cmd" in
  build)
    "$PY" "$TOP/tools/series/build.py" "$@"
    install_tree
    ;;
  export|test-am|status|clean|check-upstream|requirements)
    exec "$PY" "$TOP/tools/series/build.py" "$@"
    ;;
  ""|-h|--help|help)
    sed -n '14,32p' "$0" | sed 's/^# \{0,1\}//'
    ;;
  *)
    echo "usage: tools/series.sh build|export|test-am|status|clean|check-upstream" >&2
    exit 2
    ;;
esac
