#!/usr/bin/python3
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

"""Build our patch series on top of the nova sdist from PyPI.

The repository stores only our own files; this tool turns them into a git
series on the released nova (stdlib only, run with /usr/bin/python3):

* ``tools/series/base.json`` names the sdist and pins its sha256. It is
  downloaded once (``pip download --no-deps --no-binary :all:``) into
  ``.stack/series/dist/`` and verified on every run.
* ``.stack/series/nova`` is a git repository: the sdist as released (commit
  "Import nova X as released", tag ``import``), then one commit per directory
  ``tools/series/commits/NN-slug/``, in name order. Author, committer and
  dates are fixed, so the same inputs give the same commit ids. The commits
  are made in a second worktree, ``.stack/series/build``; the tree nova is
  installed from moves to the new series only once it is complete.
* A commit directory holds:

  ``message``
      the commit message (subject <= 72 characters, blank line, body).
  ``files`` (optional)
      one repository path per line (blank lines and ``#`` comments are
      skipped); each is copied whole to the same path in the tree. A path
      ending in ``/`` or ``/**`` names every file the repository has under
      that directory. A listed file must exist in the repository and must not
      exist in the tree yet: our files never shadow upstream's.
  ``edits.json`` (optional)
      a list of anchored wiring edits of files already in the tree:
      ``{"file", "anchor", "op", "text", "why"}``. The anchor is exact text
      that must occur exactly once in the file as it stands at that point.
      ``insert_after`` puts ``text`` after the end of the line the anchor
      ends on, ``insert_before`` before the start of the line the anchor
      starts on (a missing final newline of ``text`` is added for both),
      ``replace`` replaces the anchor text itself with ``text``.
  ``export`` (optional)
      ``no``: applied to the tree but not exported as a patch. Such commits
      must come after every exported one.

* The exported commits are written by ``git format-patch`` into
  ``.stack/series/patches/``; ``.stack/series/manifest.json`` lists the
  commits, and ``.stack/series/.built`` holds a hash of every input so that a
  second build with nothing changed returns at once.

Commands: build, export, test-am, status, clean, check-upstream,
requirements (see ``--help``; ``tools/series.sh`` is the usual way in).
"""

import argparse
import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))

# Bump when the way the import commit is made changes, so that a kept tree
# from an older build.py is not reused.
IMPORT_FORMAT = 1
COMMIT_DIR_RE = re.compile(r'^[0-9]{2}-[a-z0-9][a-z0-9-]*$')
KNOWN_COMMIT_FILES = ('message', 'files', 'edits.json', 'export')
EDIT_KEYS = ('file', 'anchor', 'op', 'text', 'why')
EDIT_OPS = ('insert_after', 'insert_before', 'replace')
# Local ignores of the built tree (not committed): what installing it
# editable and running its tests leave behind.
TREE_EXCLUDES = ('/*.egg-info/', '__pycache__/', '*.py[co]', '/.stestr/',
                 '/.tox/', '/build/', '/doc/build/', '/releasenotes/build/',
                 '/AUTHORS.new', '/ChangeLog.new')
# check-upstream: directories where a path of ours must not exist upstream,
# and the length of a run of identical lines that counts as a copy.
SHADOW_DIRS = ('nova', 'doc', 'releasenotes')
RUN_LINES = 8
LICENSE_PHRASES = (
    'licensed under the apache license', 'not use this file except',
    'a copy of the license', 'apache.org/licenses',
    'unless required by applicable law', 'distributed under the license',
    'warranties or conditions of any kind', 'for the specific language',
    'under the license', 'copyright', 'all rights reserved',
    'spdx-license-identifier')
LICENSE_FILES = ('LICENSE', 'COPYING')
TRIVIAL_LINES = frozenset((
    'pass', 'else:', 'try:', 'finally:', 'return', 'continue', 'break',
    'return none', 'return true', 'return false', 'raise', 'yield',
    'def setup(self):', 'super().setup()', 'self', 'none', 'true', 'false'))
TRIVIAL_RE = re.compile(r'^([\W_]*|import \S+( as \S+)?|from \S+ import .+)$')


class SeriesError(Exception):
    """A build input or step is wrong; the message says which and why."""


def log(msg):
    print(msg, flush=True)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def is_executable(path):
    return bool(os.stat(path).st_mode & 0o100)


class CommitSpec(object):
    """One tools/series/commits/NN-slug directory, read and checked."""

    def __init__(self, path, name, message, files, edits, export):
        self.path = path
        self.name = name
        self.message = message
        self.files = files
        self.edits = edits
        self.export = export

    @property
    def subject(self):
        return self.message.splitlines()[0]


class Series(object):

    def __init__(self, top=TOP, series_dir=None, state_dir=None):
        self.top = top
        self.series_dir = series_dir or os.path.join(top, 'tools', 'series')
        self.commits_dir = os.path.join(self.series_dir, 'commits')
        self.state = state_dir or os.path.join(top, '.stack', 'series')
        self.dist = os.path.join(self.state, 'dist')
        self.tree = os.path.join(self.state, 'nova')
        self.work = os.path.join(self.state, 'build')
        self.patches = os.path.join(self.state, 'patches')
        self.built_file = os.path.join(self.state, '.built')
        self.import_file = os.path.join(self.state, '.import')
        self.manifest_file = os.path.join(self.state, 'manifest.json')
        with open(os.path.join(self.series_dir, 'base.json')) as f:
            self.base_text = f.read()
        self.base = json.loads(self.base_text)

    # -- paths and git ---------------------------------------------------

    def rel(self, path):
        return os.path.relpath(path, self.top)

    @property
    def sdist_path(self):
        return os.path.join(self.dist, self.base['sdist'])

    def git_env(self, date):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('GIT_')}
        env.update(GIT_CONFIG_NOSYSTEM='1', GIT_CONFIG_GLOBAL=os.devnull,
                   GIT_AUTHOR_NAME=self.base['author_name'],
                   GIT_AUTHOR_EMAIL=self.base['author_email'],
                   GIT_COMMITTER_NAME=self.base['author_name'],
                   GIT_COMMITTER_EMAIL=self.base['author_email'],
                   GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date,
                   LC_ALL='C', TZ='UTC')
        return env

    def git(self, repo, *args, date=None, capture=True, check=True):
        cmd = ['git', '-C', repo, '-c', 'core.hooksPath=' + os.devnull,
               '-c', 'commit.gpgSign=false', '-c', 'core.autocrlf=false',
               '-c', 'core.fileMode=true', '-c', 'gc.auto=0'] + list(args)
        env = self.git_env(date or self.base['import_date'])
        proc = subprocess.run(cmd, env=env, text=True,
                              stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.PIPE)
        if check and proc.returncode != 0:
            raise SeriesError('git %s failed in %s (exit %d):\n%s' % (
                ' '.join(args[:2]), repo, proc.returncode,
                (proc.stderr or '').strip()))
        return (proc.stdout or '').strip()

    def commit_date(self, index):
        start = datetime.datetime.fromisoformat(self.base['series_date'])
        return (start + datetime.timedelta(minutes=index)).isoformat()

    # -- the sdist -------------------------------------------------------

    def fetch_sdist(self):
        """The pinned sdist, downloaded once, verified on every call."""
        path = self.sdist_path
        if not os.path.exists(path):
            os.makedirs(self.dist, exist_ok=True)
            spec = '%s==%s' % (self.base['name'], self.base['version'])
            log('series: downloading %s (pip download)' % spec)
            tmp = tempfile.mkdtemp(prefix='download-', dir=self.dist)
            try:
                subprocess.run(
                    [sys.executable, '-m', 'pip', 'download', '-q',
                     '--no-deps', '--no-binary', ':all:', '-d', tmp, spec],
                    check=True)
                got = os.path.join(tmp, self.base['sdist'])
                if not os.path.exists(got):
                    raise SeriesError('pip download left %s, not %s' % (
                        os.listdir(tmp), self.base['sdist']))
                os.rename(got, path)
            except subprocess.CalledProcessError as e:
                raise SeriesError('pip download %s failed: %s' % (spec, e))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        digest = sha256_file(path)
        if digest != self.base['sha256']:
            raise SeriesError(
                '%s has sha256 %s, but tools/series/base.json pins %s; '
                'delete the file to download it again' % (
                    path, digest, self.base['sha256']))
        return path

    def sdist_members(self, tar):
        """(member, path inside the tree) for the sdist's files and dirs."""
        prefix = '%s-%s/' % (self.base['name'], self.base['version'])
        for member in tar.getmembers():
            name = member.name
            if not name.startswith(prefix):
                continue
            rel = name[len(prefix):].rstrip('/')
            if not rel:
                continue
            parts = rel.split('/')
            if rel.startswith('/') or '..' in parts:
                raise SeriesError('unsafe path in the sdist: %s' % name)
            if parts[0].endswith('.egg-info'):
                # Build metadata, made again by any install of the tree.
                continue
            yield member, rel

    def extract_sdist(self, dest):
        os.makedirs(dest)
        count = 0
        with tarfile.open(self.fetch_sdist()) as tar:
            for member, rel in self.sdist_members(tar):
                target = os.path.join(dest, rel)
                if member.isdir():
                    os.makedirs(target, exist_ok=True)
                elif member.isfile():
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with tar.extractfile(member) as src, \
                            open(target, 'wb') as out:
                        shutil.copyfileobj(src, out)
                    os.chmod(target,
                             0o755 if member.mode & 0o100 else 0o644)
                    count += 1
                elif member.issym():
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    os.symlink(member.linkname, target)
                    count += 1
        return count

    def import_sdist(self, dest):
        """Lay the sdist into a new git repository at dest, one commit."""
        count = self.extract_sdist(dest)
        self.git(dest, 'init', '-q', '-b', 'series')
        self.git(dest, 'add', '-A', '-f', '.')
        tracked = len([p for p in self.git(
            dest, 'ls-files', '-z').split('\0') if p])
        if tracked != count:
            raise SeriesError('imported %d of the %d files of the sdist' % (
                tracked, count))
        subject = self.base['import_subject']
        self.git(dest, 'commit', '-q', '-m', subject, '-m',
                 'The %s sdist from PyPI, sha256 %s, unchanged.' % (
                     self.base['sdist'], self.base['sha256']))
        self.git(dest, 'tag', 'import')
        with open(os.path.join(dest, '.git', 'info', 'exclude'), 'w') as f:
            f.write('\n'.join(TREE_EXCLUDES) + '\n')
        return self.git(dest, 'rev-parse', 'HEAD')

    def import_key(self):
        return hashlib.sha256(('%s\n%s\n%s' % (
            IMPORT_FORMAT, self.base['sha256'], self.base_text)).encode()
        ).hexdigest()

    def reset_tree(self):
        """The build worktree at the import commit; the import made if due.

        The repository at .stack/series/nova (the tree nova is installed
        from) is made once per sdist; the series is built in a second
        worktree of it, .stack/series/build, which is reset to the import
        commit for every build (a fraction of a second). Only when the
        series is complete does the installed tree move to it, touching
        only the files that differ, so tests running from the tree meanwhile
        see no half-built series.
        """
        key = self.import_key()
        try:
            with open(self.import_file) as f:
                recorded = json.load(f)
        except (OSError, ValueError):
            recorded = {}
        if recorded.get('key') == key and os.path.isdir(
                os.path.join(self.tree, '.git')):
            tagged = self.git(self.tree, 'rev-parse', '-q', '--verify',
                              'refs/tags/import^{commit}', check=False)
            if tagged == recorded.get('commit'):
                if os.path.isfile(os.path.join(self.work, '.git')):
                    self.git(self.work, 'checkout', '-q', '-f', '--detach',
                             tagged)
                    self.git(self.work, 'clean', '-q', '-f', '-f', '-d')
                else:
                    self.add_worktree()
                return tagged
        for path in (self.tree, self.work):
            if os.path.lexists(path):
                shutil.rmtree(path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.import_file)
        commit = self.import_sdist(self.tree)
        self.add_worktree()
        with open(self.import_file, 'w') as f:
            json.dump({'key': key, 'commit': commit}, f)
        return commit

    def add_worktree(self):
        if os.path.lexists(self.work):
            shutil.rmtree(self.work)
        self.git(self.tree, 'worktree', 'prune')
        self.git(self.tree, 'worktree', 'add', '-q', '--detach', self.work,
                 'import')

    def publish(self, head):
        """Move the installed tree to the built series."""
        self.git(self.tree, 'checkout', '-q', '-f', '-B', 'series', head)
        self.git(self.tree, 'clean', '-q', '-f', '-f', '-d')

    # -- our commits -----------------------------------------------------

    def list_dir_files(self, rel_dir):
        """Every repository file under rel_dir (git's view when it can)."""
        rel_dir = rel_dir.rstrip('/')
        if os.path.isdir(os.path.join(self.top, '.git')):
            out = subprocess.run(
                ['git', '-C', self.top, 'ls-files', '-z', '-c', '-o',
                 '--exclude-standard', '--', rel_dir + '/'],
                check=True, stdout=subprocess.PIPE, text=True).stdout
            paths = [p for p in out.split('\0') if p]
            # tracked but deleted in the work tree: not there to copy
            return sorted(set(p for p in paths if os.path.isfile(
                os.path.join(self.top, p))))
        found = []
        for root, dirs, files in os.walk(os.path.join(self.top, rel_dir)):
            dirs[:] = sorted(d for d in dirs if d != '__pycache__')
            for name in files:
                if not name.endswith(('.pyc', '.pyo')):
                    found.append(self.rel(os.path.join(root, name)))
        return sorted(found)

    def read_commit(self, path):
        name = os.path.basename(path)
        where = self.rel(path)
        for entry in sorted(os.listdir(path)):
            if entry.startswith('.') or entry.endswith('~'):
                continue
            if entry not in KNOWN_COMMIT_FILES:
                raise SeriesError('%s: unexpected entry %r (a commit dir '
                                  'holds only %s)' % (
                                      where, entry,
                                      ', '.join(KNOWN_COMMIT_FILES)))
        try:
            with open(os.path.join(path, 'message')) as f:
                message = f.read().strip('\n') + '\n'
        except FileNotFoundError:
            raise SeriesError('%s: no message file' % where)
        lines = message.splitlines()
        if not lines or not lines[0].strip():
            raise SeriesError('%s/message: the subject line is empty' % where)
        if len(lines[0]) > 72:
            raise SeriesError('%s/message: subject is %d characters, '
                              'at most 72' % (where, len(lines[0])))
        if len(lines) > 1 and lines[1].strip():
            raise SeriesError('%s/message: the second line must be blank'
                              % where)
        for number, line in enumerate(lines[2:], 3):
            if len(line) > 72 and ' ' in line.strip():
                log('series: warning: %s/message line %d is %d characters '
                    '(wrap at 72)' % (where, number, len(line)))

        files = []
        files_path = os.path.join(path, 'files')
        if os.path.exists(files_path):
            with open(files_path) as f:
                entries = [line.strip() for line in f]
            for entry in entries:
                if not entry or entry.startswith('#'):
                    continue
                clean = entry[:-2] if entry.endswith('/**') else entry
                parts = clean.rstrip('/').split('/')
                if clean.startswith('/') or '..' in parts or '.' in parts:
                    raise SeriesError('%s/files: %r is not a plain path '
                                      'inside the repository' % (
                                          where, entry))
                if clean.endswith('/'):
                    listed = self.list_dir_files(clean)
                    if not listed:
                        raise SeriesError('%s/files: %s names no file of the '
                                          'repository' % (where, entry))
                    files.extend(listed)
                else:
                    files.append(clean)
        dupes = sorted(set(p for p in files if files.count(p) > 1))
        if dupes:
            raise SeriesError('%s/files: listed twice: %s' % (
                where, ', '.join(dupes)))

        edits = []
        edits_path = os.path.join(path, 'edits.json')
        if os.path.exists(edits_path):
            try:
                with open(edits_path) as f:
                    edits = json.load(f)
            except ValueError as e:
                raise SeriesError('%s/edits.json: not valid JSON: %s' % (
                    where, e))
            if not isinstance(edits, list):
                raise SeriesError('%s/edits.json: must be a list of edits'
                                  % where)
            for number, edit in enumerate(edits, 1):
                label = '%s/edits.json edit %d' % (where, number)
                if not isinstance(edit, dict):
                    raise SeriesError('%s: must be an object' % label)
                missing = [k for k in EDIT_KEYS if k not in edit]
                extra = [k for k in edit if k not in EDIT_KEYS]
                if missing or extra:
                    raise SeriesError('%s: missing keys %s, unknown keys %s '
                                      '(keys are %s)' % (
                                          label, missing, extra,
                                          ', '.join(EDIT_KEYS)))
                if edit['op'] not in EDIT_OPS:
                    raise SeriesError('%s: op %r is not one of %s' % (
                        label, edit['op'], ', '.join(EDIT_OPS)))
                for key in EDIT_KEYS:
                    if not isinstance(edit[key], str):
                        raise SeriesError('%s: %s must be a string' % (
                            label, key))
                if not edit['anchor']:
                    raise SeriesError('%s: the anchor is empty' % label)
                if not edit['why'].strip():
                    raise SeriesError('%s: say why in "why"' % label)

        export = True
        export_path = os.path.join(path, 'export')
        if os.path.exists(export_path):
            with open(export_path) as f:
                value = f.read().strip().lower()
            if value not in ('no', 'yes'):
                raise SeriesError('%s/export: %r, expected "no" (or "yes")'
                                  % (where, value))
            export = value == 'yes'
        if not files and not edits:
            raise SeriesError('%s: neither files nor edits.json: the commit '
                              'would be empty' % where)
        return CommitSpec(path, name, message, files, edits, export)

    def read_commits(self):
        if not os.path.isdir(self.commits_dir):
            return []
        specs = []
        for name in sorted(os.listdir(self.commits_dir)):
            path = os.path.join(self.commits_dir, name)
            if name.startswith('.') or not os.path.isdir(path):
                continue
            if not COMMIT_DIR_RE.match(name):
                raise SeriesError('%s: a commit dir is named NN-slug '
                                  '(lower case)' % self.rel(path))
            specs.append(self.read_commit(path))
        seen_local = None
        for spec in specs:
            if not spec.export:
                seen_local = seen_local or spec.name
            elif seen_local:
                raise SeriesError(
                    'commit %s is exported but comes after %s, which is not: '
                    'exported commits come first' % (spec.name, seen_local))
        return specs

    def inputs_hash(self, specs):
        """A hash of everything a build reads; equal hash, equal series."""
        digest = hashlib.sha256()

        def feed(label, data):
            if isinstance(data, str):
                data = data.encode()
            digest.update(b'%s\0%d\0' % (label.encode(), len(data)))
            digest.update(data)

        feed('base.json', self.base_text)
        feed('sdist', self.base['sha256'])
        with open(os.path.abspath(__file__), 'rb') as f:
            feed('build.py', f.read())
        for spec in specs:
            for entry in sorted(os.listdir(spec.path)):
                if entry in KNOWN_COMMIT_FILES:
                    with open(os.path.join(spec.path, entry), 'rb') as f:
                        feed(spec.name + '/' + entry, f.read())
            for rel in spec.files:
                src = os.path.join(self.top, rel)
                try:
                    with open(src, 'rb') as f:
                        data = f.read()
                    mode = 'x' if is_executable(src) else '-'
                except OSError:
                    data, mode = b'', 'missing'
                feed('%s:%s:%s' % (spec.name, mode, rel), data)
        return digest.hexdigest()

    def apply_edit(self, spec, number, edit):
        label = '%s/edits.json edit %d' % (self.rel(spec.path), number)
        target = os.path.join(self.work, edit['file'])
        if not os.path.isfile(target):
            raise SeriesError('%s: file %s is not in the tree' % (
                label, edit['file']))
        with open(target, encoding='utf-8', newline='') as f:
            content = f.read()
        anchor = edit['anchor']
        positions = []
        start = content.find(anchor)
        while start != -1:
            positions.append(start)
            start = content.find(anchor, start + 1)
        if len(positions) != 1:
            raise SeriesError(
                '%s: file %s: anchor %r found %d times, expected exactly '
                'once' % (label, edit['file'], anchor, len(positions)))
        pos = positions[0]
        end = pos + len(anchor)
        text = edit['text']
        if edit['op'] == 'replace':
            content = content[:pos] + text + content[end:]
        else:
            if not text.endswith('\n'):
                text += '\n'
            if edit['op'] == 'insert_after':
                if anchor.endswith('\n'):
                    at = end
                else:
                    eol = content.find('\n', end)
                    if eol == -1:
                        content += '\n'
                        at = len(content)
                    else:
                        at = eol + 1
            else:
                at = content.rfind('\n', 0, pos) + 1
            content = content[:at] + text + content[at:]
        with open(target, 'w', encoding='utf-8', newline='') as f:
            f.write(content)

    def apply_commit(self, index, spec):
        where = self.rel(spec.path)
        for rel in spec.files:
            src = os.path.join(self.top, rel)
            dst = os.path.join(self.work, rel)
            if not os.path.isfile(src):
                raise SeriesError('%s/files: %s: no such file in the '
                                  'repository' % (where, rel))
            if os.path.lexists(dst):
                raise SeriesError(
                    '%s/files: %s already exists in the tree: it would '
                    'shadow upstream\'s file (or an earlier commit\'s); '
                    'add a new file and wire it with edits.json' % (
                        where, rel))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)
            os.chmod(dst, 0o755 if is_executable(src) else 0o644)
        for number, edit in enumerate(spec.edits, 1):
            self.apply_edit(spec, number, edit)
        paths = sorted(set(spec.files) | set(e['file'] for e in spec.edits))
        self.git(self.work, 'add', '-f', '--', *paths)
        staged = self.git(self.work, 'diff', '--cached', '--name-only')
        if not staged:
            raise SeriesError('%s: the commit changes nothing' % where)
        date = self.commit_date(index)
        with tempfile.NamedTemporaryFile('w', suffix='.msg') as msg:
            msg.write(spec.message)
            msg.flush()
            self.git(self.work, 'commit', '-q', '--cleanup=whitespace',
                     '-F', msg.name, date=date)
        return self.git(self.work, 'rev-parse', 'HEAD')

    # -- state -----------------------------------------------------------

    def read_manifest(self):
        try:
            with open(self.manifest_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def up_to_date(self, digest):
        try:
            with open(self.built_file) as f:
                if f.read().strip() != digest:
                    return False
        except OSError:
            return False
        manifest = self.read_manifest()
        if not manifest or not os.path.isdir(os.path.join(self.tree, '.git')):
            return False
        head = self.git(self.tree, 'rev-parse', '-q', '--verify', 'HEAD',
                        check=False)
        if head != manifest['head']:
            return False
        # A hand edit of a tracked file in the tree means: build again.
        dirty = self.git(self.tree, 'status', '--porcelain',
                         '--untracked-files=no', check=False)
        return not dirty and os.path.isdir(self.patches)

    @contextlib.contextmanager
    def locked(self):
        os.makedirs(self.state, exist_ok=True)
        with open(os.path.join(self.state, '.lock'), 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    # -- commands --------------------------------------------------------

    def build(self, force=False):
        """Build the series unless its inputs are unchanged; True if built."""
        started = time.monotonic()
        with self.locked():
            self.fetch_sdist()
            specs = self.read_commits()
            digest = self.inputs_hash(specs)
            if not force and self.up_to_date(digest):
                manifest = self.read_manifest()
                log('series: up to date (%d commits, %d exported; tree %s)'
                    % (len(manifest['commits']),
                       sum(c['export'] for c in manifest['commits']),
                       self.rel(self.tree)))
                return False
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.built_file)
            base = self.reset_tree()
            commits = []
            for index, spec in enumerate(specs, 1):
                commit = self.apply_commit(index, spec)
                commits.append({
                    'dir': spec.name, 'subject': spec.subject,
                    'commit': commit, 'export': spec.export,
                    'tree': self.git(self.work, 'rev-parse', 'HEAD^{tree}'),
                    'files': spec.files,
                    'edited': sorted(set(e['file'] for e in spec.edits))})
            manifest = {
                'sdist': self.base['sdist'], 'sha256': self.base['sha256'],
                'import': base,
                'import_tree': self.git(self.tree, 'rev-parse',
                                        'import^{tree}'),
                'head': self.git(self.work, 'rev-parse', 'HEAD'),
                'commits': commits}
            self.publish(manifest['head'])
            with open(self.manifest_file, 'w') as f:
                json.dump(manifest, f, indent=1)
            patches = self.export(manifest)
            with open(self.built_file, 'w') as f:
                f.write(digest + '\n')
        log('series: built %d commits on %s in %.1f s: tree %s, '
            '%d patches in %s' % (
                len(commits), self.base['sdist'],
                time.monotonic() - started, self.rel(self.tree),
                len(patches), self.rel(self.patches)))
        return True

    def export(self, manifest=None):
        manifest = manifest or self.read_manifest()
        if manifest is None:
            raise SeriesError('no series built yet: run build first')
        if os.path.lexists(self.patches):
            shutil.rmtree(self.patches)
        os.makedirs(self.patches)
        exported = [c for c in manifest['commits'] if c['export']]
        if not exported:
            return []
        self.git(self.tree, 'format-patch', '-q', '--no-signature',
                 '-o', self.patches,
                 '%s..%s' % (manifest['import'], exported[-1]['commit']))
        return sorted(os.listdir(self.patches))

    def test_am(self):
        """Apply the patches to a fresh import; the tree must be the same."""
        self.build()
        manifest = self.read_manifest()
        exported = [c for c in manifest['commits'] if c['export']]
        expected = exported[-1]['tree'] if exported else manifest[
            'import_tree']
        patches = sorted(os.path.join(self.patches, p)
                         for p in os.listdir(self.patches))
        tmp = tempfile.mkdtemp(prefix='series-am-')
        work = os.path.join(tmp, 'nova')
        self.import_sdist(work)
        if patches:
            self.git(work, 'am', '-q', '--whitespace=nowarn', *patches,
                     date=self.base['series_date'])
        got = self.git(work, 'rev-parse', 'HEAD^{tree}')
        if got != expected:
            raise SeriesError(
                'test-am: %d patches applied to a fresh %s give tree %s, the '
                'series has %s at %s; kept %s to compare' % (
                    len(patches), self.base['sdist'], got, expected,
                    exported[-1]['dir'] if exported else 'import', work))
        shutil.rmtree(tmp)
        log('series: test-am OK: %d patches apply to a fresh %s with git am; '
            'tree %s is the series\' own' % (
                len(patches), self.base['sdist'], got))

    def requirements(self, dest):
        """Copy the sdist's requirements files into dest; their paths."""
        os.makedirs(dest, exist_ok=True)
        wanted = ('requirements.txt', 'test-requirements.txt')
        written = []
        with tarfile.open(self.fetch_sdist()) as tar:
            for member, rel in self.sdist_members(tar):
                if rel not in wanted:
                    continue
                with tar.extractfile(member) as f:
                    data = f.read()
                path = os.path.join(dest, rel)
                try:
                    with open(path, 'rb') as f:
                        same = f.read() == data
                except OSError:
                    same = False
                if not same:
                    with open(path, 'wb') as f:
                        f.write(data)
                written.append(path)
        if len(written) != len(wanted):
            raise SeriesError('%s lacks one of %s' % (
                self.base['sdist'], ', '.join(wanted)))
        return sorted(written)

    def status(self):
        log('base:    %s (sha256 %s...)' % (
            self.base['sdist'], self.base['sha256'][:16]))
        missing = not os.path.exists(self.sdist_path)
        log('sdist:   %s%s' % (self.rel(self.sdist_path),
                               ' (not downloaded yet)' if missing else ''))
        specs = self.read_commits()
        manifest = self.read_manifest()
        built = {c['dir']: c for c in (manifest or {}).get('commits', [])}
        fresh = self.up_to_date(self.inputs_hash(specs))
        log('tree:    %s (%s)' % (self.rel(self.tree), 'up to date' if fresh
                                  else 'needs a build'))
        for spec in specs:
            commit = built.get(spec.name, {}).get('commit', '-' * 12)
            log('  %s %-28s %-6s %s' % (commit[:12], spec.name,
                                        'export' if spec.export else 'local',
                                        spec.subject))
        if os.path.isdir(self.patches):
            for name in sorted(os.listdir(self.patches)):
                log('patch:   %s' % self.rel(os.path.join(self.patches,
                                                          name)))
        return fresh

    def clean(self, everything=False):
        with self.locked():
            for path in (self.tree, self.work, self.patches):
                if os.path.lexists(path):
                    shutil.rmtree(path)
            for path in (self.built_file, self.manifest_file,
                         self.import_file):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            if everything and os.path.isdir(self.dist):
                shutil.rmtree(self.dist)
        log('series: cleaned %s%s' % (self.rel(self.state), (
            ' (sdist cache too)' if everything else ' (sdist cache kept)')))

    # -- the upstream guard ----------------------------------------------

    def repo_files(self):
        out = subprocess.run(
            ['git', '-C', self.top, 'ls-files', '-z', '-c', '-o',
             '--exclude-standard'],
            check=True, stdout=subprocess.PIPE, text=True).stdout
        return sorted(set(p for p in out.split('\0')
                          if p and os.path.isfile(os.path.join(self.top, p))))

    def check_upstream(self, paths=None):
        """Offenders: our paths that exist upstream, runs of upstream lines.

        Returns a list of messages (empty: nothing of upstream's is stored).
        """
        paths = self.repo_files() if paths is None else paths
        problems = []
        windows = {}
        for rel in paths:
            if os.path.basename(rel).startswith(LICENSE_FILES):
                # the Apache License's own text is everyone's, not nova's
                continue
            try:
                with open(os.path.join(self.top, rel), 'rb') as f:
                    data = f.read(4 << 20)
            except OSError:
                continue
            lines = significant_lines(data)
            for i in range(len(lines) - RUN_LINES + 1):
                key = hash(tuple(t for _, t in lines[i:i + RUN_LINES]))
                windows.setdefault(key, (rel, lines[i][0]))
        found = {}
        with tarfile.open(self.fetch_sdist()) as tar:
            upstream_paths = set()
            for member, rel in self.sdist_members(tar):
                upstream_paths.add(rel)
                if not member.isfile() or not windows:
                    continue
                with tar.extractfile(member) as f:
                    lines = significant_lines(f.read())
                for i in range(len(lines) - RUN_LINES + 1):
                    key = hash(tuple(t for _, t in lines[i:i + RUN_LINES]))
                    hit = windows.get(key)
                    if hit:
                        pair = (hit[0], rel)
                        first = found.setdefault(pair, [hit[1], lines[i][0],
                                                        0])
                        first[2] += 1
        for rel in paths:
            if rel.split('/')[0] in SHADOW_DIRS and rel in upstream_paths:
                problems.append('shadows upstream: %s exists in %s' % (
                    rel, self.base['sdist']))
        for (ours, theirs), (line, upline, count) in sorted(found.items()):
            problems.append(
                'upstream text: %s line %d shares %d+ lines with %s line %d '
                '(%d windows of %d)' % (ours, line, RUN_LINES + count - 1,
                                        theirs, upline, count, RUN_LINES))
        return problems


def significant_lines(data):
    """(line number, normalised text) of the lines that say something."""
    if b'\0' in data[:8192]:
        return []
    text = data.decode('utf-8', 'replace')
    result = []
    for number, line in enumerate(text.splitlines(), 1):
        norm = ' '.join(line.split())
        low = norm.lower()
        if (len(norm) < 4 or low in TRIVIAL_LINES or TRIVIAL_RE.match(norm)
                or any(p in low for p in LICENSE_PHRASES)):
            continue
        result.append((number, norm))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='tools/series.sh', description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    build = sub.add_parser('build', help='build the series (no-op when '
                           'nothing changed) and export its patches')
    build.add_argument('--force', action='store_true',
                       help='build even when the inputs are unchanged')
    sub.add_parser('export', help='write the patches of the built series')
    sub.add_parser('test-am', help='git am the patches onto a fresh sdist '
                   'and compare the trees')
    sub.add_parser('status', help='what is built, what would change')
    clean = sub.add_parser('clean', help='remove the built tree and patches')
    clean.add_argument('--all', action='store_true',
                       help='remove the downloaded sdist too')
    sub.add_parser('check-upstream', help='fail if the repository stores a '
                   'path or a run of lines of upstream nova')
    reqs = sub.add_parser('requirements', help="copy the sdist's "
                          'requirements.txt and test-requirements.txt into '
                          'a directory (for tools/install.sh)')
    reqs.add_argument('dest')
    args = parser.parse_args(argv)
    series = Series()
    try:
        if args.command == 'build':
            series.build(force=args.force)
        elif args.command == 'export':
            with series.locked():
                patches = series.export()
            log('series: %d patches in %s' % (
                len(patches), series.rel(series.patches)))
        elif args.command == 'test-am':
            series.test_am()
        elif args.command == 'status':
            series.status()
        elif args.command == 'clean':
            series.clean(everything=args.all)
        elif args.command == 'requirements':
            for path in series.requirements(args.dest):
                log(path)
        elif args.command == 'check-upstream':
            started = time.monotonic()
            problems = series.check_upstream()
            for problem in problems:
                log(problem)
            log('series: check-upstream: %d problem(s) in %.1f s' % (
                len(problems), time.monotonic() - started))
            return 1 if problems else 0
    except SeriesError as e:
        print('series: ERROR: %s' % e, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
