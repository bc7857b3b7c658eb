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

"""Check the docs and the release note that the series adds to upstream nova.

Building upstream Nova's whole documentation takes long and needs its own
toolchain, so this builds only what the series adds, in the built series tree
(``tools/series.sh build``), with warnings as errors:

``pages``
    every ``doc/source/**.rst`` file a series commit adds, in a small Sphinx
    project with upstream's theme (openstackdocstheme) and option roles
    (oslo_config.sphinxext). The ``nova.conf`` option reference is generated
    from the series tree, so every ``:oslo.config:option:`` role must name an
    option that exists there. Each ``:doc:`` target outside the series must be
    an upstream page (a stub with its title stands in for it), and each added
    page must be listed in a toctree of the tree's ``doc/source``.
``notes``
    every ``releasenotes/notes/*.yaml`` a series commit adds: only reno's
    sections, each entry valid reStructuredText (no warnings).

Run with the nova venv's python (Sphinx, openstackdocstheme, reno, docutils
and nova from the series tree importable)::

    python tools/docs/series_docs.py pages|notes --tree .stack/series/nova \\
        --out doc/build/series
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
COMMITS = os.path.join(TOP, 'tools', 'series', 'commits')

DOC_ROLE_RE = re.compile(r':doc:`(?:[^`<]*<)?([^`>]+)>?`')
TITLE_RE = re.compile(r'^([=\-~^"#*+]{3,})\n(.+)\n\1\n|^(.+)\n([=\-~^"#*+]{3,})\n',
                      re.M)
# reno's default sections.
RENO_SECTIONS = ('features', 'issues', 'upgrade', 'deprecations', 'critical',
                 'security', 'fixes', 'other', 'prelude')

CONF_PY = '''\
extensions = ['openstackdocstheme', 'oslo_config.sphinxext']
project = 'nova (series pages)'
master_doc = 'index'
html_theme = 'openstackdocs'
openstackdocs_repo_name = 'openstack/nova'
openstackdocs_use_storyboard = False
openstackdocs_auto_name = False
exclude_patterns = []
# Upstream's option help links to upstream pages this small project does not
# have; series_docs.py checks the :doc: targets of the series pages itself.
suppress_warnings = ['ref.doc']
'''


def series_files(prefix, suffix):
    """Paths under ``prefix`` ending in ``suffix`` that commits add."""
    found = []
    for commit in sorted(os.listdir(COMMITS)):
        path = os.path.join(COMMITS, commit, 'files')
        if not os.path.isfile(path):
            continue
        with open(path) as f:
            for line in f:
                line = line.strip()
                if (line and not line.startswith('#') and
                        line.startswith(prefix) and line.endswith(suffix)):
                    found.append(line)
    return found


def page_title(path):
    with open(path) as f:
        match = TITLE_RE.search(f.read())
    if not match:
        return os.path.basename(path)
    return (match.group(2) or match.group(3)).strip()


def fail(msg):
    print('series-docs: %s' % msg, file=sys.stderr)
    return 1


def toctree_entries(path):
    """Entries of every toctree directive in an rst file."""
    entries = []
    in_tree = False
    with open(path) as f:
        for line in f:
            if line.startswith('.. toctree::'):
                in_tree = True
                continue
            if in_tree:
                if line.strip() == '' or line.lstrip().startswith(':'):
                    continue
                if line.startswith('   '):
                    entries.append(line.strip())
                    continue
                in_tree = False
    return entries


def check_pages(tree, out):
    pages = series_files('doc/source/', '.rst')
    if not pages:
        return fail('no doc/source pages in tools/series/commits/*/files')
    src = os.path.join(out, 'src')
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(src)
    docnames = []
    targets = set()
    rc = 0
    for rel in pages:
        tree_path = os.path.join(tree, rel)
        if not os.path.isfile(tree_path):
            return fail('%s is not in the series tree %s; run tools/series.sh '
                        'build' % (rel, tree))
        docname = rel[len('doc/source/'):-len('.rst')]
        docnames.append(docname)
        dest = os.path.join(src, docname + '.rst')
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(tree_path, dest)
        with open(tree_path) as f:
            for target in DOC_ROLE_RE.findall(f.read()):
                if not target.startswith('/'):
                    target = os.path.normpath(
                        os.path.join(os.path.dirname(docname), target))
                targets.add(target.lstrip('/'))
        # The page must be reachable in upstream's docs.
        index = os.path.join(tree, 'doc', 'source', os.path.dirname(docname),
                             'index.rst')
        name = os.path.basename(docname)
        if not (os.path.isfile(index) and name in toctree_entries(index)):
            rc = fail('%s is in no toctree of %s' % (rel, index))
    for target in sorted(targets - set(docnames)):
        upstream = os.path.join(tree, 'doc', 'source', target + '.rst')
        if not os.path.isfile(upstream):
            rc = fail(':doc:`/%s` is not a page of the series tree' % target)
            continue
        dest = os.path.join(src, target + '.rst')
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        title = page_title(upstream)
        with open(dest, 'w') as f:
            f.write('%s\n%s\n\nStands in for upstream\'s page.\n'
                    % (title, '=' * len(title)))
        docnames.append(target)
    os.makedirs(os.path.join(src, 'configuration'), exist_ok=True)
    with open(os.path.join(src, 'configuration', 'series-config.rst'),
              'w') as f:
        f.write('Configuration options\n=====================\n\n'
                '.. show-options::\n\n   nova.conf\n')
    docnames.append('configuration/series-config')
    with open(os.path.join(src, 'index.rst'), 'w') as f:
        f.write('Series pages\n============\n\n.. toctree::\n\n')
        for docname in docnames:
            f.write('   %s\n' % docname)
    with open(os.path.join(src, 'conf.py'), 'w') as f:
        f.write(CONF_PY)
    env = dict(os.environ)
    # nova from the series tree, whatever else is installed.
    env['PYTHONPATH'] = os.pathsep.join(
        [tree] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
    build = subprocess.run(
        [sys.executable, '-m', 'sphinx', '-W', '--keep-going', '-q', '-b',
         'html', '-d', os.path.join(out, 'doctrees'), src,
         os.path.join(out, 'html')], env=env)
    if build.returncode:
        rc = fail('sphinx-build of the series pages failed')
    return rc


def check_notes(tree):
    import docutils.core
    import docutils.utils
    import yaml

    notes = series_files('releasenotes/notes/', '.yaml')
    if not notes:
        return fail('no release note in tools/series/commits/*/files')
    rc = 0
    for rel in notes:
        path = os.path.join(tree, rel)
        if not os.path.isfile(path):
            return fail('%s is not in the series tree %s; run tools/series.sh '
                        'build' % (rel, tree))
        with open(path) as f:
            content = yaml.safe_load(f)
        if not isinstance(content, dict) or not content:
            rc = fail('%s: not a mapping of reno sections' % rel)
            continue
        for section, entries in content.items():
            if section not in RENO_SECTIONS:
                rc = fail('%s: unknown section %r' % (rel, section))
                continue
            if section == 'prelude':
                entries = [entries]
            if not isinstance(entries, list) or not entries:
                rc = fail('%s: %s is not a list of entries' % (rel, section))
                continue
            for i, entry in enumerate(entries):
                try:
                    docutils.core.publish_doctree(
                        entry, settings_overrides={
                            'report_level': 2, 'halt_level': 2,
                            'warning_stream': sys.stderr})
                except docutils.utils.SystemMessage as e:
                    rc = fail('%s: %s[%d]: %s' % (rel, section, i, e))
    # reno's own checks. Upstream's sdist has notes that reno cannot load in
    # one commit (two notes share a UID), so lint ours alone in a scratch
    # repository, after checking that their UIDs are new to the tree.
    tree_uids = {}
    for path in glob.glob(os.path.join(tree, 'releasenotes', 'notes',
                                       '*.yaml')):
        name = os.path.basename(path)
        tree_uids.setdefault(name[:-5].rsplit('-', 1)[-1], []).append(name)
    for rel in notes:
        name = os.path.basename(rel)
        uid = name[:-5].rsplit('-', 1)[-1]
        others = [n for n in tree_uids.get(uid, []) if n != name]
        if others:
            rc = fail('%s: UID %s is used by %s' % (rel, uid, others))
    with tempfile.TemporaryDirectory() as scratch:
        os.makedirs(os.path.join(scratch, 'releasenotes', 'notes'))
        for rel in notes:
            shutil.copyfile(os.path.join(tree, rel),
                            os.path.join(scratch, rel))
        git = ['git', '-C', scratch, '-c', 'user.name=series-docs',
               '-c', 'user.email=series-docs@localhost']
        subprocess.run(git + ['init', '-q'], check=True)
        subprocess.run(git + ['add', '.'], check=True)
        subprocess.run(git + ['commit', '-q', '-m', 'notes'], check=True)
        lint = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), 'reno'), '-q',
             'lint', scratch])
        if lint.returncode:
            rc = fail('reno lint failed on %s' % ', '.join(notes))
    return rc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('what', choices=('pages', 'notes'))
    parser.add_argument('--tree', default=os.path.join(
        TOP, '.stack', 'series', 'nova'))
    parser.add_argument('--out', default=os.path.join(
        TOP, 'doc', 'build', 'series'))
    args = parser.parse_args(argv)
    if not os.path.isdir(os.path.join(args.tree, 'nova')):
        return fail('no series tree at %s; run tools/series.sh build'
                    % args.tree)
    if args.what == 'pages':
        return check_pages(os.path.abspath(args.tree),
                           os.path.abspath(args.out))
    return check_notes(os.path.abspath(args.tree))


if __name__ == '__main__':
    sys.exit(main())
