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

"""Ours against upstream Nova on one stack, in one run; prints and writes the report.

Run by ``tools/bench/run.sh`` (which starts and stops the stack) with this tree's venv::

    .stack/venv/nova/bin/python tools/bench/bench.py [--quick] [--rst PATH]

Each side clones in its own processes (``driver_ours.py`` in this tree's venv,
``driver_upstream.py`` in ``.stack/venv/upstream-nova``); this module prepares the
images, runs the drivers, reads Glance's tasks and builds the table.
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, TOP)
sys.path.insert(0, HERE)

import report  # noqa: E402
import stackhome  # noqa: E402
import stackio  # noqa: E402

PYTHON = {'ours': os.path.join(TOP, '.stack', 'venv', 'nova', 'bin', 'python'),
          'upstream': os.path.join(TOP, '.stack', 'venv', 'upstream-nova', 'bin', 'python')}
DRIVER = {'ours': os.path.join(HERE, 'driver_ours.py'),
          'upstream': os.path.join(HERE, 'driver_upstream.py')}
POLL = 'libvirt.images_rbd_glance_copy_poll_interval'
TIMEOUT = 'libvirt.images_rbd_glance_copy_timeout'
STORE = 'libvirt.images_rbd_glance_store_name'
# Cold clones of each (size, path, poll, side): more of the cheap ones.
REPEAT = {64: 3, 512: 1}


def log(msg, *args):
    print(time.strftime('%H:%M:%S ') + (msg % args if args else msg), file=sys.stderr,
          flush=True)


class Bench(object):

    def __init__(self, stack, work, quick=False):
        self.s = stack
        self.work = work
        self.quick = quick
        self.results = {}
        self.n = 0

    # --- running the drivers ----------------------------------------------------------

    def _cmd(self, side, scenario, image, compute='compute-a', user='admin', sets=(),
             count=1, threads=1, warmup=0, start_at=0.0, glance='default',
             warm=True):
        sets = list(sets)
        urls = [self.s.state.glance_url]
        if glance == 'variant':
            sets.append('glance.api_servers=%s' % self.s.variant_url)
            urls.append(self.s.variant_url)
        cmd = [PYTHON[side], DRIVER[side], scenario, '--stack-home', self.s.state.home,
               '--compute', compute, '--image', image, '--user', user,
               '--count', str(count), '--threads', str(threads),
               '--warmup', str(warmup), '--start-at', repr(start_at)]
        if warm and scenario == 'clone':
            cmd += ['--warm-image', self.warm_image[compute]]
        for item in sets:
            cmd += ['--set', item]
        for url in urls:
            cmd += ['--glance-url', url]
        return cmd

    def _log_path(self, label):
        self.n += 1
        d = os.path.join(self.work, 'logs')
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, '%02d-%s.log' % (self.n, label))

    def spawn(self, label, *args, **kwargs):
        path = self._log_path(label)
        err = open(path, 'w')
        proc = subprocess.Popen(self._cmd(*args, **kwargs), stdout=subprocess.PIPE,
                                stderr=err, text=True, cwd=TOP)
        proc.log_path = path
        return proc

    @staticmethod
    def collect(proc, timeout=900):
        out, _ = proc.communicate(timeout=timeout)
        lines = [line for line in out.splitlines() if line.startswith('{')]
        if proc.returncode != 0 or not lines:
            raise RuntimeError('driver failed (exit %s); see %s'
                               % (proc.returncode, proc.log_path))
        result = json.loads(lines[-1])
        result['log'] = proc.log_path
        return result

    def driver(self, label, *args, **kwargs):
        log('  %s', label)
        return self.collect(self.spawn(label, *args, **kwargs))

    def copy_time(self, image_id, since):
        """Glance's own time for the newest copy task created after ``since``."""
        tasks = [t for t in self.s.tasks(image_id) if t['t_created'] >= since]
        if not tasks:
            return None, tasks
        t = tasks[-1]
        return t['t_updated'] - t['t_created'], tasks

    # --- scenarios --------------------------------------------------------------------

    def hot(self):
        log('scenario 1: hot clones')
        count = 10 if self.quick else 50
        image = self.s.upload(8, 'site_a', name='hot')
        try:
            self.results['hot'] = {
                'ours': self.driver('hot-ours', 'ours', 'hot', image, count=count,
                                    warmup=2),
                'upstream': self.driver('hot-upstream', 'upstream', 'hot', image,
                                        count=count, warmup=2, glance='variant'),
                'upstream_stock': self.driver('hot-upstream-stock', 'upstream', 'hot',
                                              image, count=3),
            }
        finally:
            self.s.delete_image(image)

    def cold(self):
        log('scenario 2: cold clones')
        sizes = (64,) if self.quick else (64, 512)
        paths = (('central', 'site_a', 'compute-a'), ('site_a', 'site_b', 'compute-b'))
        runs = [('ours', 15), ('upstream', 15), ('ours', 1), ('upstream', 1)]
        out = self.results['cold'] = []
        for size in sizes:
            for src, dst, compute in paths:
                image = self.s.upload(size, src, name='cold')
                try:
                    # Interleaved, so that a slow moment of the machine hits both sides.
                    for rep, (side, poll) in [(i, run) for i in range(REPEAT[size])
                                              for run in runs]:
                        self.s.delete_from_store(image, dst)
                        since = time.time()
                        r = self.driver('cold-%s-%s-%dM-poll%d-%d'
                                        % (side, dst, size, poll, rep),
                                        side, 'clone', image, compute=compute,
                                        sets=['%s=%d' % (POLL, poll)],
                                        glance='variant' if side == 'upstream' else
                                        'default')
                        r['copy'], r['tasks'] = self.copy_time(image, since)
                        r.update(side=side, poll=poll, size=size, src=src, dst=dst)
                        out.append(r)
                    if size == sizes[0] and dst == 'site_a':
                        # Upstream against the stack's Glance as configured.
                        self.s.delete_from_store(image, dst)
                        since = time.time()
                        r = self.driver('cold-upstream-stock', 'upstream', 'clone', image,
                                        compute=compute, sets=['%s=1' % POLL],
                                        warm=False)
                        r['copy'], r['tasks'] = self.copy_time(image, since)
                        self.results['cold_upstream_stock'] = r
                finally:
                    self.s.delete_image(image)

    def concurrent(self):
        log('scenario 3: 10 concurrent cold clones of one image')
        out = self.results['concurrent'] = {}
        for side in ('ours', 'upstream'):
            glance = 'variant' if side == 'upstream' else 'default'
            image = self.s.upload(64, 'central', name='conc')
            try:
                r = self.driver('conc-threads-%s' % side, side, 'clone', image,
                                threads=10, glance=glance)
                r['tasks'] = self.s.tasks(image)
                out[(side, 'threads')] = r
            finally:
                self.s.delete_image(image)
            image = self.s.upload(64, 'central', name='conc')
            try:
                # Line the processes up after their imports: 2 cores load 10 Novas.
                start_at = time.time() + 30
                procs = [self.spawn('conc-proc-%s-%d' % (side, i), side, 'clone', image,
                                    start_at=start_at, glance=glance) for i in range(10)]
                runs = [self.collect(p) for p in procs]
                entries = [c for r in runs for c in r['clones']]
                out[(side, 'processes')] = {
                    'clones': entries, 'tasks': self.s.tasks(image),
                    'wall': max(c['end'] for c in entries) - start_at,
                    'late': sum(1 for c in entries if c['start'] > start_at + 0.5),
                    'maxrss_kib': max(r['maxrss_kib'] for r in runs),
                    'glance_requests': sum(r['glance_requests'] for r in runs)}
            finally:
                self.s.delete_image(image)

    def member(self):
        log('scenario 4: a member user\'s clone')
        out = self.results['member'] = {}
        images = {'demo-private': self.s.upload(8, 'central', user='demo',
                                                visibility='private', name='member'),
                  'admin-public': self.s.upload(8, 'central', name='member')}
        try:
            for kind, image in images.items():
                for side, sets, glance in (
                        ('ours', ['glance.copy_credentials=user'], 'default'),
                        ('ours', [], 'default'),
                        ('upstream', [], 'variant')):
                    self.s.delete_from_store(image, 'site_a')
                    label = side + (' (copy_credentials = user)' if sets else '')
                    out[(kind, label)] = self.driver(
                        'member-%s-%s%s' % (kind, side, '-user' if sets else ''), side,
                        'clone', image, user='demo', glance=glance,
                        sets=sets + ['%s=1' % POLL])
        finally:
            for image in images.values():
                self.s.delete_image(image)

    def failure(self):
        log('scenario 5: a copy that fails inside Glance (spare store read-only)')
        out = self.results['failure'] = {}
        client = 'client.glance-spare'
        original = self.s.caps('site_a', client)
        broken = ['mon', 'profile rbd', 'osd', 'profile rbd-read-only pool=%s'
                  % self.s.state.sites['site_a']['spare_pool']]
        out['caps'] = {'original': original, 'broken': broken}
        runs = (('ours', [], 'default', 'ours'),
                ('ours', ['libvirt.images_rbd_glance_copy_retries=0'], 'default',
                 'ours-noretry'),
                ('upstream', ['%s=60' % TIMEOUT], 'variant', 'upstream'))
        images = {}
        self.s.set_caps('site_a', client, broken)
        try:
            for side, sets, glance, tag in runs:
                # A fresh image each: Glance's failure marker outlives the attempt.
                image = images[tag] = self.s.upload(64, 'central', name='fail')
                out[(side, ' '.join(sets))] = self._fail_run(
                    'fail-' + tag, side, image, sets, glance)
        finally:
            self.s.set_caps('site_a', client, original)
        try:
            # The store works again, but the image still carries the marker of the
            # failed copy above: does a new boot try again?
            sets = ['libvirt.images_rbd_glance_copy_retries=0']
            out[('ours', 'after repair ' + ' '.join(sets))] = self._fail_run(
                'fail-ours-after-repair', 'ours', images['ours-noretry'], sets, 'default')
        finally:
            for image in images.values():
                self.s.delete_image(image)

    def _fail_run(self, label, side, image, sets, glance):
        since = time.time()
        r = self.driver(label, side, 'clone', image, sets=sets + ['%s=spare' % STORE],
                        glance=glance)
        r['tasks'] = [t for t in self.s.tasks(image) if t['t_created'] >= since]
        r['glance_log_cause'] = self.s.task_cause(
            [t['id'] for t in r['tasks']] + re.findall(
                r'task ([0-9a-f-]{36})', json.dumps(r['clones'])))
        return r

    def run(self, only=None):
        # One small image in each site's store: cold-clone processes clone it once,
        # untimed, to be as warm as a running compute service.
        self.warm_image = {'compute-a': self.s.upload(8, 'site_a', name='warm'),
                           'compute-b': self.s.upload(8, 'site_b', name='warm')}
        try:
            self._run(only)
        finally:
            for image in self.warm_image.values():
                self.s.delete_image(image)

    def _run(self, only):
        for name in ('hot', 'cold', 'concurrent', 'member', 'failure'):
            if only and name not in only:
                continue
            t0 = time.monotonic()
            try:
                getattr(self, name)()
            finally:
                left = self.s.sweep_vms()
                if left:
                    log('removed disks the %s scenario left: %s', name, ', '.join(left))
            log('  %s took %.0f s', name, time.monotonic() - t0)


def _load():
    with open('/proc/loadavg') as f:
        return ' '.join(f.read().split()[:3])


def _tree():
    """Which code of ours the drivers load: (identity of nova/, how to name it).

    Drivers import ``nova`` from the working tree at each process start, so a change
    made to the tree during the run reaches the later scenarios. The identity is the
    committed ``nova/`` tree plus a digest of uncommitted changes under it, so commits
    elsewhere (docs) do not count as a change.
    """
    def git(*args):
        return subprocess.run(['git'] + list(args), cwd=TOP, capture_output=True,
                              text=True).stdout
    head = git('rev-parse', '--short', 'HEAD').strip()
    tree = git('rev-parse', 'HEAD:nova').strip()
    changes = git('diff', 'HEAD', '--', 'nova') + git(
        'ls-files', '--others', '--exclude-standard', '--', 'nova')
    if not changes.strip():
        return tree, head
    digest = hashlib.sha1(changes.encode()).hexdigest()[:10]
    return (tree + digest,
            '%s plus uncommitted changes under nova/ (diff digest %s)' % (head, digest))


def _info():
    """When and where: for the page's first paragraph."""
    upstream = subprocess.run(
        [PYTHON['upstream'], '-c',
         'import importlib.metadata as m; print(m.version("nova"))'],
        capture_output=True, text=True).stdout.strip()
    return {'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
            'tree': _tree(),
            'upstream': upstream or '?',
            'machine': '%d cores, load average %s at the start'
                       % (os.cpu_count(), _load())}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true',
                   help='10 hot clones and 64 MiB images only')
    p.add_argument('--only', action='append',
                   choices=('hot', 'cold', 'concurrent', 'member', 'failure'))
    p.add_argument('--rst', default=os.path.join(TOP, 'doc', 'project',
                                                 'benchmark.rst'))
    p.add_argument('--no-rst', action='store_true')
    p.add_argument('--command', default='tools/bench/run.sh',
                   help='the command line to print in the report')
    args = p.parse_args()

    from nova.tests.live.fixtures import stack as stack_mod
    state = stack_mod.StackState.load()
    stackhome.check_or_exit(state.home)
    work = os.path.join(state.home, 'bench')
    os.makedirs(work, exist_ok=True)
    s = stackio.Stack(state, work)
    info = _info()
    t0 = time.monotonic()
    try:
        s.start_variant()
        bench = Bench(s, work, quick=args.quick)
        bench.run(args.only)
    finally:
        s.close()
    elapsed = time.monotonic() - t0
    with open(os.path.join(work, 'results.json'), 'w') as f:
        json.dump(report.jsonable(bench.results), f, indent=1, default=str)
    info['machine'] += ', load average %s at the end' % _load()
    start_tree, end_tree = info['tree'], _tree()
    info['commit'] = start_tree[1]
    if end_tree[0] != start_tree[0]:
        info['commit'] += (' at the start and %s at the end (nova/ changed during the '
                           'run; each driver process loaded what was there when it '
                           'started)' % end_tree[1])
    text = report.render(bench.results, command=args.command, elapsed=elapsed,
                         quick=args.quick, logs=os.path.join(work, 'logs'), info=info)
    print(text)
    if not args.no_rst:
        with open(args.rst, 'w') as f:
            f.write(text)
        log('wrote %s', args.rst)
    return 0


if __name__ == '__main__':
    sys.exit(main())
