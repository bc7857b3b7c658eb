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

"""The benchmark and tools/stack.sh refuse a stack home someone else could have
prepared.

Needs no stack and starts nothing: the run.sh and stack.sh tests run only the part
of each script up to its stack home check. Run from this directory::

    cd tools/tests && ../../.stack/venv/nova/bin/python -m unittest test_bench_stackhome
"""

import os
import stat
import subprocess
import sys
import tempfile

import testtools

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, os.path.join(TOP, 'tools', 'bench'))
import stackhome  # noqa: E402

RUN_SH = os.path.join(TOP, 'tools', 'bench', 'run.sh')
CHECK_LINE = 'tools/bench/stackhome.py --create "$NOVA_STACK_HOME" || exit 2'
STACK_SH = os.path.join(TOP, 'tools', 'stack.sh')
STACK_CHECK_LINE = ('tools/bench/stackhome.py --create --private --for stack '
                    '"$NOVA_STACK_HOME" || exit 2')
VENV_PY = os.path.join(TOP, '.stack', 'venv', 'nova', 'bin', 'python')


class StackHomeTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # mkdtemp: mode 0700, ours, under /tmp (root's, sticky).
        self.tmp = tempfile.mkdtemp(prefix='test-stackhome-')
        self.addCleanup(self._cleanup)
        self.home = os.path.join(self.tmp, 'home')
        os.mkdir(self.home, 0o700)

    def _cleanup(self):
        for d, dirs, _ in os.walk(self.tmp):
            for name in dirs:
                os.chmod(os.path.join(d, name), 0o700)
        subprocess.run(['rm', '-rf', self.tmp], check=True)

    def _refused(self, path, *args, **kwargs):
        e = self.assertRaises(stackhome.UnsafeStackHome, stackhome.check, path,
                              *args, **kwargs)
        return str(e)

    def test_private_directory_accepted(self):
        stackhome.check(self.home)
        stackhome.check(self.tmp)

    def test_group_or_world_writable_refused(self):
        for mode in (0o770, 0o707, 0o777, 0o1777):
            os.chmod(self.home, mode)
            self.assertIn('group- or world-writable (mode %04o)' % mode,
                          self._refused(self.home))

    def test_readable_by_others_accepted(self):
        os.chmod(self.home, 0o755)
        stackhome.check(self.home)

    def test_owned_by_someone_else_refused(self):
        # As another user would see our directory.
        other = os.geteuid() + 4242
        self.assertIn('is owned by', self._refused(self.home, euid=other))
        if os.geteuid() == 0:
            os.chown(self.home, 4242, -1)
            self.assertIn('is owned by uid 4242', self._refused(self.home))

    def test_symlink_refused(self):
        link = os.path.join(self.tmp, 'link')
        os.symlink(self.home, link)
        self.assertIn('symbolic link', self._refused(link))

    def test_missing_or_not_a_directory_refused(self):
        self.assertIn('does not exist', self._refused(os.path.join(self.tmp, 'no')))
        path = os.path.join(self.tmp, 'file')
        open(path, 'w').close()
        self.assertIn('not a directory', self._refused(path))

    def test_replaceable_parent_refused(self):
        os.chmod(self.tmp, 0o777)
        self.assertIn('%s, above it, is group- or world-writable' % self.tmp,
                      self._refused(self.home))
        os.chmod(self.tmp, 0o1777)  # sticky, as /tmp: others cannot rename it
        stackhome.check(self.home)

    def test_parent_of_an_untrusted_owner_refused(self):
        self.assertIn('above it, is owned by',
                      self._refused(self.home, trusted_uids={os.geteuid() + 4242}))
        if os.geteuid() == 0:
            os.chown(self.tmp, 4242, -1)
            self.assertIn('%s, above it, is owned by uid 4242' % self.tmp,
                          self._refused(self.home))

    def test_cli_creates_a_private_home(self):
        path = os.path.join(self.tmp, 'new')
        self.assertEqual(0, stackhome.main(['--create', path]))
        st = os.lstat(path)
        self.assertEqual(0o711, stat.S_IMODE(st.st_mode))
        self.assertEqual(os.geteuid(), st.st_uid)

    def test_cli_refuses_with_a_clear_message(self):
        os.chmod(self.home, 0o777)
        proc = subprocess.run(
            [sys.executable, os.path.join(TOP, 'tools', 'bench', 'stackhome.py'),
             '--create', self.home], capture_output=True, text=True)
        self.assertEqual(2, proc.returncode)
        self.assertIn('bench: refusing NOVA_STACK_HOME=%s: ' % self.home, proc.stderr)
        self.assertIn('world-writable', proc.stderr)
        self.assertEqual(0o777, stat.S_IMODE(os.stat(self.home).st_mode))


class PrivateTestCase(StackHomeTestCase):
    """--private: a home of ours loses group and world read and write."""

    def test_readable_home_made_private(self):
        os.chmod(self.home, 0o755)
        self.assertEqual(0, stackhome.main(['--private', self.home]))
        self.assertEqual(0o711, stat.S_IMODE(os.lstat(self.home).st_mode))

    def test_private_home_left_alone(self):
        for mode in (0o700, 0o711):
            os.chmod(self.home, mode)
            self.assertIsNone(stackhome.make_private(self.home))
            self.assertEqual(mode, stat.S_IMODE(os.lstat(self.home).st_mode))

    def test_only_read_and_write_are_taken(self):
        os.chmod(self.home, 0o754)
        self.assertEqual(0o754, stackhome.make_private(self.home))
        self.assertEqual(0o710, stat.S_IMODE(os.lstat(self.home).st_mode))

    def test_unsafe_home_refused_not_mended(self):
        os.chmod(self.home, 0o777)
        self.assertEqual(2, stackhome.main(['--private', self.home]))
        self.assertEqual(0o777, stat.S_IMODE(os.lstat(self.home).st_mode))

    def test_stack_message_names_the_stack(self):
        msg = stackhome.message(self.home, 'why', tool='stack')
        self.assertTrue(msg.startswith('stack: refusing NOVA_STACK_HOME=%s: why.'
                                       % self.home), msg)
        self.assertIn('tools/stack.sh runs as', msg)
        self.assertIn('leave NOVA_STACK_HOME unset for <repo>/.stack.', msg)


class ScriptHead(testtools.TestCase):
    """Runs the head of SCRIPT: all of it up to its stack home check CHECK."""

    SCRIPT = CHECK = None

    def setUp(self):
        super().setUp()
        with open(self.SCRIPT) as f:
            self.text = f.read()
        self.assertEqual(1, self.text.count(self.CHECK))
        self.head = self.text[:self.text.index(self.CHECK) + len(self.CHECK)]

    def _run_head(self, home, cwd=None):
        if not os.access(VENV_PY, os.X_OK):
            self.skipTest('no nova venv; run tools/install.sh')
        env = dict(os.environ)
        env.pop('NOVA_STACK_HOME', None)
        if home is not None:
            env['NOVA_STACK_HOME'] = home
        # $0 is the script so that TOP is this repository; only the head runs.
        return subprocess.run(
            ['bash', '-c', self.head + '\necho "home ok: $NOVA_STACK_HOME"',
             self.SCRIPT], env=env, capture_output=True, text=True, cwd=cwd)


class StackShTestCase(ScriptHead):
    """tools/stack.sh checks its home before it builds, reads or kills anything."""

    SCRIPT, CHECK = STACK_SH, STACK_CHECK_LINE

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix='test-stackhome-')
        self.addCleanup(subprocess.run, ['rm', '-rf', self.tmp], check=True)

    def test_check_comes_before_anything_else(self):
        body = self.head.split('\nset -euo pipefail', 1)[1]
        for later in ('series.sh', 'exec ', 'nova.tests.live', 'rm '):
            self.assertNotIn(later, body)

    def _run_head(self, home, cwd=None):
        return super()._run_head(home, cwd=cwd or self.tmp)

    def test_refuses_a_world_writable_home(self):
        home = os.path.join(self.tmp, 'home')
        os.mkdir(home)
        os.chmod(home, 0o777)
        proc = self._run_head(home)
        self.assertEqual(2, proc.returncode, proc.stdout + proc.stderr)
        self.assertIn('stack: refusing NOVA_STACK_HOME=%s' % home, proc.stderr)
        self.assertNotIn('home ok', proc.stdout)

    def test_refuses_a_symlink(self):
        os.mkdir(os.path.join(self.tmp, 'real'), 0o711)
        link = os.path.join(self.tmp, 'link')
        os.symlink(os.path.join(self.tmp, 'real'), link)
        proc = self._run_head(link)
        self.assertEqual(2, proc.returncode, proc.stdout + proc.stderr)
        self.assertIn('symbolic link', proc.stderr)

    def test_makes_a_missing_home_private(self):
        home = os.path.join(self.tmp, 'new')
        proc = self._run_head(home)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)
        self.assertIn('home ok: %s' % home, proc.stdout)
        self.assertEqual(0o711, stat.S_IMODE(os.lstat(home).st_mode))

    def test_makes_a_readable_home_private(self):
        home = os.path.join(self.tmp, 'home')
        os.mkdir(home, 0o755)
        os.chmod(home, 0o755)
        proc = self._run_head(home)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)
        self.assertIn('was mode 0755, now 0711', proc.stderr)
        self.assertEqual(0o711, stat.S_IMODE(os.lstat(home).st_mode))

    def test_relative_home_is_taken_from_the_callers_directory(self):
        proc = self._run_head('rel')
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)
        self.assertIn('home ok: %s/rel' % self.tmp, proc.stdout)
        self.assertTrue(os.path.isdir(os.path.join(self.tmp, 'rel')))

    def test_default_home_is_the_repositorys_stack(self):
        self.assertIn('NOVA_STACK_HOME=${NOVA_STACK_HOME:-$TOP/.stack}', self.head)


class RunShTestCase(ScriptHead):
    """run.sh checks the home before it reads, starts or kills anything."""

    SCRIPT, CHECK = RUN_SH, CHECK_LINE

    def test_check_comes_first(self):
        for later in ('trap ', 'stack.sh up', 'pip install', 'bench.py'):
            self.assertNotIn(later, self.head.split('\nset -euo pipefail', 1)[1])
        self.assertNotIn('/tmp', self.head.split('\nset -euo pipefail', 1)[1])

    def test_run_sh_refuses_a_world_writable_home(self):
        tmp = tempfile.mkdtemp(prefix='test-stackhome-')
        self.addCleanup(subprocess.run, ['rm', '-rf', tmp], check=True)
        os.chmod(tmp, 0o777)
        proc = self._run_head(tmp)
        self.assertEqual(2, proc.returncode, proc.stdout + proc.stderr)
        self.assertIn('bench: refusing NOVA_STACK_HOME=%s' % tmp, proc.stderr)
        self.assertNotIn('home ok', proc.stdout)

    def test_run_sh_accepts_a_private_home(self):
        tmp = tempfile.mkdtemp(prefix='test-stackhome-')
        self.addCleanup(subprocess.run, ['rm', '-rf', tmp], check=True)
        proc = self._run_head(tmp)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)
        self.assertIn('home ok: %s' % tmp, proc.stdout)

    def test_default_home_is_private_and_under_the_repo(self):
        self.assertIn('NOVA_STACK_HOME=${NOVA_STACK_HOME:-$TOP/.stack/bench-stack}',
                      self.head)
