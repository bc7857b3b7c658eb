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

"""Tests of tools/series/build.py on a tiny fake sdist.

Run: /usr/bin/python3 -m unittest tools/series/test_build.py
Each test makes its own repository, commit dirs and sdist in a temporary
directory; nothing under the real tools/series/commits is read.
"""

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import build  # noqa: E402

CONF_INIT = """\
from oslo_config import cfg

from nova.conf import api
from nova.conf import quota

CONF = cfg.CONF

api.register_opts(CONF)
quota.register_opts(CONF)
"""

UPSTREAM_TEXT = ''.join('upstream_statement_%d = compute(%d)\n' % (i, i)
                        for i in range(12))

SDIST = {
    'nova/__init__.py': '',
    'nova/conf/__init__.py': CONF_INIT,
    'nova/virt/imagebackend.py': UPSTREAM_TEXT,
    'nova.egg-info/PKG-INFO': 'Name: nova\n',
    'doc/source/index.rst': 'Nova\n====\n',
    'setup.cfg': '[metadata]\nname = nova\n',
    'tools/run.sh': '#!/bin/sh\necho run\n',
}


class SeriesTestCase(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='series-test-')
        self.addCleanup(shutil.rmtree, self.tmp)
        self.top = os.path.join(self.tmp, 'repo')
        series_dir = os.path.join(self.top, 'tools', 'series')
        os.makedirs(os.path.join(series_dir, 'commits'))
        dist = os.path.join(self.top, '.stack', 'series', 'dist')
        os.makedirs(dist)
        sdist = os.path.join(dist, 'nova-34.0.0.tar.gz')
        self.make_sdist(sdist)
        with open(sdist, 'rb') as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        base = {
            'name': 'nova', 'version': '34.0.0',
            'sdist': 'nova-34.0.0.tar.gz', 'sha256': digest,
            'import_subject': 'Import nova 34.0.0 as released',
            'import_date': '2026-09-30T12:00:00+00:00',
            'series_date': '2026-10-01T12:00:00+00:00',
            'author_name': 'Series Test', 'author_email': 'test@example.org'}
        with open(os.path.join(series_dir, 'base.json'), 'w') as f:
            json.dump(base, f)
        self.series = build.Series(top=self.top)
        self.out = io.StringIO()
        stdout = contextlib.redirect_stdout(self.out)
        stdout.__enter__()
        self.addCleanup(stdout.__exit__, None, None, None)

    def make_sdist(self, path):
        with tarfile.open(path, 'w:gz') as tar:
            for rel, text in sorted(SDIST.items()):
                data = text.encode()
                info = tarfile.TarInfo('nova-34.0.0/' + rel)
                info.size = len(data)
                info.mode = 0o755 if rel.endswith('.sh') else 0o644
                info.mtime = 1
                tar.addfile(info, io.BytesIO(data))

    def write(self, rel, text, executable=False):
        path = os.path.join(self.top, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)
        if executable:
            os.chmod(path, 0o755)
        return path

    def commit(self, name, subject='Add a thing', files=(), edits=None,
               export=None):
        base = 'tools/series/commits/%s/' % name
        self.write(base + 'message',
                   '%s\n\nWhat it does and why.\n' % subject)
        if files:
            self.write(base + 'files', ''.join(f + '\n' for f in files))
        if edits is not None:
            self.write(base + 'edits.json', json.dumps(edits))
        if export is not None:
            self.write(base + 'export', export + '\n')

    def tree_file(self, rel):
        with open(os.path.join(self.series.tree, rel)) as f:
            return f.read()

    def git(self, *args):
        return subprocess.run(['git', '-C', self.series.tree] + list(args),
                              check=True, stdout=subprocess.PIPE,
                              text=True).stdout.strip()

    def assertFails(self, *fragments):
        with self.assertRaises(build.SeriesError) as ctx:
            self.series.build()
        for fragment in fragments:
            self.assertIn(fragment, str(ctx.exception))
        return str(ctx.exception)

    def test_import_only(self):
        self.assertTrue(self.series.build())
        self.assertEqual('Import nova 34.0.0 as released',
                         self.git('log', '-1', '--format=%s'))
        tracked = self.git('ls-files').split('\n')
        self.assertIn('nova/conf/__init__.py', tracked)
        self.assertNotIn('nova.egg-info/PKG-INFO', tracked)
        self.assertEqual('100755', self.git('ls-files', '-s',
                                            'tools/run.sh').split()[0])
        self.assertEqual([], os.listdir(self.series.patches))

    def test_reproducible_commit_ids(self):
        self.write('nova/virt/ours.py', 'OURS = 1\n')
        self.commit('01-ours', files=['nova/virt/ours.py'])
        self.series.build()
        first = self.git('rev-parse', 'HEAD')
        other = build.Series(top=self.top,
                             state_dir=os.path.join(self.tmp, 'state2'))
        os.makedirs(other.dist)
        shutil.copy(self.series.sdist_path, other.dist)
        other.build()
        self.assertEqual(first, other.read_manifest()['head'])

    def test_files_added_and_exported(self):
        self.write('nova/virt/ours.py', 'OURS = 1\n')
        self.write('tools/ours.sh', '#!/bin/sh\n', executable=True)
        self.commit('01-ours', subject='Add our module',
                    files=['nova/virt/ours.py', 'tools/ours.sh'])
        self.series.build()
        self.assertEqual('OURS = 1\n', self.tree_file('nova/virt/ours.py'))
        self.assertEqual('100755', self.git('ls-files', '-s',
                                            'tools/ours.sh').split()[0])
        self.assertEqual('Add our module',
                         self.git('log', '-1', '--format=%s'))
        self.assertEqual(['0001-Add-our-module.patch'],
                         os.listdir(self.series.patches))

    def test_directory_entry(self):
        self.write('nova/tests/live/a.py', 'A = 1\n')
        self.write('nova/tests/live/sub/b.py', 'B = 1\n')
        self.commit('90-live', files=['nova/tests/live/**'], export='no')
        self.series.build()
        self.assertEqual('B = 1\n', self.tree_file('nova/tests/live/sub/b.py'))
        self.assertEqual([], os.listdir(self.series.patches))

    def test_insert_after_before_and_replace(self):
        self.write('nova/conf/ours.py', 'X = 1\n')
        self.commit('01-conf', files=['nova/conf/ours.py'], edits=[
            {'file': 'nova/conf/__init__.py', 'op': 'insert_after',
             'anchor': 'from nova.conf import api',
             'text': 'from nova.conf import ours', 'why': 'import'},
            {'file': 'nova/conf/__init__.py', 'op': 'insert_before',
             'anchor': 'quota.register_opts(CONF)',
             'text': 'ours.register_opts(CONF)\n', 'why': 'register'},
            {'file': 'nova/conf/__init__.py', 'op': 'replace',
             'anchor': 'CONF = cfg.CONF', 'text': 'CONF = cfg.CONF  # ours',
             'why': 'replace'}])
        self.series.build()
        self.assertEqual(
            'from oslo_config import cfg\n\n'
            'from nova.conf import api\nfrom nova.conf import ours\n'
            'from nova.conf import quota\n\nCONF = cfg.CONF  # ours\n\n'
            'api.register_opts(CONF)\nours.register_opts(CONF)\n'
            'quota.register_opts(CONF)\n',
            self.tree_file('nova/conf/__init__.py'))
        self.assertEqual(['nova/conf/__init__.py', 'nova/conf/ours.py'],
                         sorted(self.git('show', '--format=', '--name-only',
                                         'HEAD').split()))

    def test_anchor_not_found(self):
        self.commit('01-conf', edits=[
            {'file': 'nova/conf/__init__.py', 'op': 'insert_after',
             'anchor': 'from nova.conf import nothing\n', 'text': 'x\n',
             'why': 'test'}])
        self.assertFails('tools/series/commits/01-conf/edits.json edit 1',
                         'nova/conf/__init__.py',
                         "'from nova.conf import nothing\\n'",
                         'found 0 times')

    def test_anchor_found_twice(self):
        self.commit('02-conf', edits=[
            {'file': 'nova/conf/__init__.py', 'op': 'replace',
             'anchor': 'register_opts(CONF)', 'text': 'x', 'why': 'test'}])
        self.assertFails('commits/02-conf/edits.json edit 1',
                         'nova/conf/__init__.py', "'register_opts(CONF)'",
                         'found 2 times')

    def test_edit_needs_a_why(self):
        self.commit('01-conf', edits=[
            {'file': 'nova/conf/__init__.py', 'op': 'replace',
             'anchor': 'CONF = cfg.CONF', 'text': 'x'}])
        self.assertFails('missing keys', 'why')

    def test_shadowing_upstream_fails(self):
        self.write('nova/conf/__init__.py', 'ours\n')
        self.commit('01-conf', files=['nova/conf/__init__.py'])
        self.assertFails('01-conf/files', 'nova/conf/__init__.py',
                         'shadow upstream')

    def test_file_of_an_earlier_commit_fails(self):
        self.write('nova/virt/ours.py', 'OURS = 1\n')
        self.commit('01-a', files=['nova/virt/ours.py'])
        self.commit('02-b', files=['nova/virt/ours.py'])
        self.assertFails('02-b/files', 'already exists')

    def test_missing_listed_file(self):
        self.commit('01-a', files=['nova/virt/gone.py'])
        self.assertFails('01-a/files', 'nova/virt/gone.py', 'no such file')

    def test_subject_too_long(self):
        self.write('nova/virt/ours.py', 'OURS = 1\n')
        self.commit('01-a', subject='x' * 73, files=['nova/virt/ours.py'])
        self.assertFails('01-a/message', '73 characters')

    def test_exported_after_local_fails(self):
        self.write('nova/virt/a.py', 'A = 1\n')
        self.write('nova/virt/b.py', 'B = 1\n')
        self.commit('01-a', files=['nova/virt/a.py'], export='no')
        self.commit('02-b', files=['nova/virt/b.py'])
        self.assertFails('02-b is exported but comes after 01-a')

    def test_no_op_and_rebuild(self):
        self.write('nova/virt/ours.py', 'OURS = 1\n')
        self.commit('01-ours', files=['nova/virt/ours.py'])
        self.assertTrue(self.series.build())
        started = time.monotonic()
        self.assertFalse(self.series.build())
        self.assertLess(time.monotonic() - started, 2)
        self.assertIn('series: up to date', self.out.getvalue())
        # one of our files changes: build again
        self.write('nova/virt/ours.py', 'OURS = 2\n')
        self.assertTrue(self.series.build())
        self.assertEqual('OURS = 2\n', self.tree_file('nova/virt/ours.py'))
        # a message changes: build again
        self.commit('01-ours', subject='Add ours',
                    files=['nova/virt/ours.py'])
        self.assertTrue(self.series.build())
        # a hand edit of the tree: build again, and the edit is gone
        with open(os.path.join(self.series.tree, 'setup.cfg'), 'a') as f:
            f.write('# hand edit\n')
        self.assertTrue(self.series.build())
        self.assertNotIn('hand edit', self.tree_file('setup.cfg'))
        self.assertFalse(self.series.build())

    def test_rebuild_touches_only_changed_files_of_the_tree(self):
        self.write('nova/virt/ours.py', 'OURS = 1\n')
        self.write('nova/virt/other.py', 'OTHER = 1\n')
        self.commit('01-ours', files=['nova/virt/ours.py',
                                      'nova/virt/other.py'])
        self.series.build()
        ours = os.path.join(self.series.tree, 'nova/virt/ours.py')
        before = os.stat(ours).st_ino, os.stat(ours).st_mtime_ns
        time.sleep(0.01)
        self.write('nova/virt/other.py', 'OTHER = 2\n')
        self.assertTrue(self.series.build())
        self.assertEqual(before, (os.stat(ours).st_ino,
                                  os.stat(ours).st_mtime_ns))
        self.assertEqual('OTHER = 2\n', self.tree_file('nova/virt/other.py'))
        # a file dropped from the series leaves the tree
        self.commit('01-ours', files=['nova/virt/other.py'])
        self.series.build()
        self.assertFalse(os.path.exists(ours))
        self.assertEqual(self.series.read_manifest()['head'],
                         self.git('rev-parse', 'HEAD'))

    def test_rebuild_reuses_tree_and_keeps_excluded_files(self):
        self.series.build()
        marker = os.path.join(self.series.tree, 'nova.egg-info', 'x')
        os.makedirs(os.path.dirname(marker))
        open(marker, 'w').close()
        stray = os.path.join(self.series.tree, 'nova', 'stray.py')
        open(stray, 'w').close()
        self.series.build(force=True)
        self.assertTrue(os.path.exists(marker))
        self.assertFalse(os.path.exists(stray))

    def test_test_am(self):
        self.write('nova/virt/ours.py', 'OURS = 1\n')
        self.write('nova/tests/live/t.py', 'T = 1\n')
        self.commit('01-ours', files=['nova/virt/ours.py'], edits=[
            {'file': 'nova/conf/__init__.py', 'op': 'insert_after',
             'anchor': 'from nova.conf import api\n',
             'text': 'from nova.conf import ours\n', 'why': 'import'}])
        self.commit('90-live', files=['nova/tests/live/t.py'], export='no')
        self.series.test_am()
        self.assertIn('test-am OK: 1 patches', self.out.getvalue())

    def test_test_am_mismatch(self):
        self.write('nova/virt/ours.py', 'OURS = 1\n')
        self.commit('01-ours', files=['nova/virt/ours.py'])
        self.series.build()
        manifest = self.series.read_manifest()
        manifest['commits'][0]['tree'] = '0' * 40
        with open(self.series.manifest_file, 'w') as f:
            json.dump(manifest, f)
        with self.assertRaises(build.SeriesError) as ctx:
            self.series.test_am()
        self.assertIn('give tree', str(ctx.exception))
        kept = str(ctx.exception).split('kept ')[1].split(' ')[0]
        shutil.rmtree(os.path.dirname(kept))

    def test_check_upstream(self):
        lines = UPSTREAM_TEXT.splitlines(True)
        self.write('nova/virt/copied.py', '"""Ours."""\n' + ''.join(
            lines[2:10]) + 'ours()\n')
        self.write('nova/virt/short.py', ''.join(lines[:7]))
        self.write('doc/source/index.rst', 'Ours\n')
        self.write('README.rst', 'Ours\n')
        self.write('LICENSE', UPSTREAM_TEXT)
        problems = self.series.check_upstream(
            paths=['nova/virt/copied.py', 'nova/virt/short.py',
                   'doc/source/index.rst', 'README.rst', 'LICENSE'])
        self.assertEqual(2, len(problems), problems)
        self.assertIn('shadows upstream: doc/source/index.rst', problems[0])
        self.assertIn('nova/virt/copied.py line 2 shares 8+ lines with '
                      'nova/virt/imagebackend.py line 3', problems[1])

    def test_significant_lines_skip_license_and_trivia(self):
        text = ('#    Licensed under the Apache License, Version 2.0\n'
                '\n"""\nimport os\nfrom a import b\n    pass\n)\n'
                'value = compute()\n').encode()
        self.assertEqual([(8, 'value = compute()')],
                         build.significant_lines(text))


if __name__ == '__main__':
    unittest.main()
