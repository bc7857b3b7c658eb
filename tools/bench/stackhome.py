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

"""Refuse a stack home that someone else could have prepared.

``tools/stack.sh`` and the benchmark run as root and trust their stack home: the
PIDs recorded there are killed and the libvirt objects of its prefix undefined. A
home that another user owns or can write to (a predictable path under /tmp, made
before the run) would let that user choose what root kills. So the home must be a
real directory (not a symbolic link) owned by the user running the tool, writable
by nobody else, and each directory above it must be writable only by its owner (or
sticky, as /tmp is) and owned by root, that user or the owner of this repository
(whose scripts run anyway).

A home is made, and with ``--private`` an existing home of ours is set, to mode
0711: nobody else may list or write it, and the stack's PostgreSQL, which runs as
its own user, can still reach its data directory below (0700 would lock it out).
The stack's secrets are files of mode 0600 of their own.

Standard library only: ``stack.sh`` and ``run.sh`` run it before anything else, and
``bench.py`` checks the home it is given again.

    python3 tools/bench/stackhome.py [--create] [--private] [--for stack|bench] PATH
"""

import argparse
import os
import stat
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class UnsafeStackHome(Exception):
    pass


def _who(uid):
    try:
        import pwd
        return '%s (uid %d)' % (pwd.getpwuid(uid).pw_name, uid)
    except (ImportError, KeyError):
        return 'uid %d' % uid


def check(path, euid=None, trusted_uids=None):
    """Raise UnsafeStackHome unless ``path`` is a stack home safe to trust."""
    euid = os.geteuid() if euid is None else euid
    if trusted_uids is None:
        trusted_uids = {0, euid, os.stat(TOP).st_uid}
    path = os.path.abspath(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise UnsafeStackHome('%s does not exist' % path)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeStackHome('%s is a symbolic link' % path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeStackHome('%s is not a directory' % path)
    if st.st_uid != euid:
        raise UnsafeStackHome('%s is owned by %s, not by %s who runs the benchmark'
                              % (path, _who(st.st_uid), _who(euid)))
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeStackHome('%s is group- or world-writable (mode %04o)'
                              % (path, stat.S_IMODE(st.st_mode)))
    parent = os.path.dirname(path)
    while True:
        pst = os.stat(parent)
        if (pst.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
                and not pst.st_mode & stat.S_ISVTX):
            raise UnsafeStackHome(
                '%s, above it, is group- or world-writable without the sticky bit '
                '(mode %04o): others could replace it' % (parent, stat.S_IMODE(pst.st_mode)))
        if pst.st_uid not in trusted_uids:
            raise UnsafeStackHome('%s, above it, is owned by %s: they could replace it'
                                  % (parent, _who(pst.st_uid)))
        if parent == os.path.dirname(parent):
            return
        parent = os.path.dirname(parent)


PRIVATE_MODE = 0o711
# Who refuses a home, and the home it uses when NOVA_STACK_HOME is unset.
TOOLS = {
    'bench': ('bench', 'The benchmark', '<repo>/.stack/bench-stack'),
    'stack': ('stack', 'tools/stack.sh', '<repo>/.stack'),
}


def create(path):
    """Make ``path`` (mode 0711) if it does not exist; its parent must.

    0711: the stack's PostgreSQL runs as its own user and must reach its data
    directory below; nobody else may list or write the home.
    """
    try:
        os.mkdir(path, PRIVATE_MODE)
    except (FileExistsError, FileNotFoundError):
        pass  # check() says what is wrong with it


def make_private(path):
    """Take group and world read and write off a home that check() accepted.

    A home made by ``mkdir -p`` (mode 0755, as tools/install.sh and
    tools/run-tests.sh make the default one) is ours and safe to trust, but
    others could list it. Returns the mode it had when it changed, else None.
    """
    mode = stat.S_IMODE(os.lstat(path).st_mode)
    private = mode & ~(stat.S_IRWXG | stat.S_IRWXO) | (
        mode & (stat.S_IXGRP | stat.S_IXOTH))
    if private == mode:
        return None
    os.chmod(path, private)
    return mode


def message(path, error, tool='bench'):
    name, who, default = TOOLS[tool]
    return ('%s: refusing NOVA_STACK_HOME=%s: %s. %s runs as %s and kills the '
            'PIDs recorded there; use a directory of yours with mode 0711 that '
            'only you can replace, or leave NOVA_STACK_HOME unset for %s.'
            % (name, path, error, who, _who(os.geteuid()), default))


def check_or_exit(path):
    try:
        check(path)
    except UnsafeStackHome as e:
        sys.exit(message(path, e))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--create', action='store_true',
                   help='make the directory (mode 0711) if it does not exist')
    p.add_argument('--private', action='store_true',
                   help='take group and world read and write off the home')
    p.add_argument('--for', dest='tool', choices=sorted(TOOLS), default='bench',
                   help='whose home it is (for the message)')
    p.add_argument('path')
    args = p.parse_args(argv)
    if args.create:
        create(args.path)
    try:
        check(args.path)
    except UnsafeStackHome as e:
        print(message(args.path, e, args.tool), file=sys.stderr)
        return 2
    if args.private:
        was = make_private(args.path)
        if was is not None:
            print('%s: NOVA_STACK_HOME=%s was mode %04o, now %04o' % (
                TOOLS[args.tool][0], args.path, was,
                stat.S_IMODE(os.lstat(args.path).st_mode)), file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
