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

"""Upstream Nova against the series through the real cloud, in one run.

Run by ``tools/bench/run.sh`` (which starts and stops the stack) with this tree's venv::

    .stack/venv/nova/bin/python tools/bench/bench.py [--quick] [--rst PATH]

Every boot goes through nova-api, the scheduler, the conductor and a real
nova-compute. Between phases only the two compute services change
(``cloud.switch_computes``): this series' venv or upstream nova 34.0.0 from PyPI,
with the phase's poll interval and ``never_download_image_if_on_rbd``. The results
go to ``<stack home>/bench/results.json``; ``report.py`` makes the page and plot.
``--render RESULTS`` only renders a saved run.
"""

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, TOP)
sys.path.insert(0, HERE)

import report  # noqa: E402
import stackhome  # noqa: E402

POLL = 'images_rbd_glance_copy_poll_interval'
NEVER_DOWNLOAD = 'never_download_image_if_on_rbd'
SIZES = (64, 512)
# (image source store, site booted): a copy from Glance's file store, and one
# between the two Ceph sites.
PATHS = (('central', 'site_a'), ('site_a', 'site_b'))
HOST = {'site_a': 'compute-a', 'site_b': 'compute-b'}
# How long a boot may take before the bench records it as still building.
CAP = {'boot': 300, 'fault': {'ours': 200, 'upstream': 60}}


def log(msg, *args):
    print(time.strftime('%H:%M:%S ') + (msg % args if args else msg), file=sys.stderr,
          flush=True)


def phases(quick):
    """(side, poll, never_download, scenarios) in run order; sides alternate."""
    if quick:
        return [('ours', 1, True, ('cold', 'hot', 'multi', 'race', 'member', 'fail')),
                ('upstream', 1, False, ('cold', 'hot', 'multi', 'race', 'member',
                                        'fail'))]
    return [('ours', 1, True, ('cold', 'hot', 'multi')),
            ('upstream', 1, False, ('cold', 'hot', 'multi')),
            ('ours', 15, True, ('cold', 'race', 'member', 'fail', 'dead')),
            ('upstream', 15, False, ('cold', 'race', 'member', 'fail', 'dead')),
            ('ours', 15, False, ('race',)),
            ('upstream', 15, True, ('race',))]


class Bench(object):

    def __init__(self, stack, quick=False):
        import cloudio
        self.s = stack
        self.quick = quick
        self.nova = cloudio.Nova(stack, stack.state.data['cloud'])
        self.results = {'phases': [], 'boots': []}
        self.images = {}
        self.phase = None

    # --- helpers ----------------------------------------------------------------------

    def image(self, size, store, key=None):
        """A shared image of the run (``key``), or a fresh one (key None)."""
        if key and key in self.images:
            return self.images[key]
        image = self.s.upload(size, store, name='%s-%s' % (store, key or 'fresh'))
        if key:
            self.images[key] = image
        else:
            self.images.setdefault('_fresh', []).append(image)
        return image

    def record(self, scenario, boot, **extra):
        side, poll, nd = self.phase
        boot.update(scenario=scenario, side=side, poll=poll, never_download=nd, **extra)
        self.results['boots'].append(boot)
        servers = boot['servers']
        log('    %s %s: %s; %d copy task(s) %s; %d Glance requests', scenario,
            ' '.join('%s=%s' % kv for kv in sorted(extra.items())),
            ', '.join('%s %s' % (s['site'], report.outcome(s)) for s in servers),
            len(boot['tasks']), '/'.join(t['status'] for t in boot['tasks']),
            boot['glance_requests'])
        return boot

    def switch(self, side, poll, never_download, warm=True):
        from nova.tests.live.fixtures import cloud as cloud_mod
        log('phase: %s computes, poll %s s, never_download %s', side, poll,
            never_download)
        info = cloud_mod.switch_computes(self.s.state.data, side, {
            'libvirt': {POLL: str(poll)},
            'workarounds': {NEVER_DOWNLOAD: str(never_download)}})
        log('  computes run %s (%s) after %.1f s', info['venv'], info['rbd_backend'],
            info['seconds'])
        self.phase = (side, poll, never_download)
        self.results['phases'].append(info)
        # A first, untimed boot per host: a restarted compute's first boot pays
        # for its first libvirt and Ceph connections.
        for site in ('site_a', 'site_b') if warm else ():
            image = self.image(64, site, key='hot-' + site)
            boot = self.nova.boot(image, site, cap=CAP['boot'])
            if not boot['servers'][0]['marker']:
                raise RuntimeError('the warm-up boot on %s failed: %s'
                                   % (site, boot['servers'][0]))

    # --- scenarios --------------------------------------------------------------------

    def cold(self):
        sizes = SIZES[:1] if self.quick else SIZES
        for size in sizes:
            for src, site in PATHS:
                image = self.image(size, src, key='cold-%d-%s' % (size, src))
                self.s.delete_from_store(image, site)
                self.record('cold', self.nova.boot(image, site, cap=CAP['boot']),
                            size=size, src=src)

    def hot(self):
        counts = ({'site_a': 3, 'site_b': 2} if self.quick
                  else {'site_a': 20, 'site_b': 8})
        # One after the other, each deleted before the next: a host of the stack
        # has room for 4 servers (DISK_GB 4 from its small Ceph).
        for site, count in counts.items():
            image = self.image(64, site, key='hot-' + site)
            for _ in range(count):
                self.record('hot', self.nova.boot(image, site, cap=CAP['boot']),
                            size=64, src=site)

    def multi(self):
        count = 2 if self.quick else 3  # a host has room for 4
        image = self.image(64, 'central')
        self.record('multi', self.nova.boot(image, 'site_a', count=count,
                                            cap=CAP['boot']), size=64, src='central')

    def race(self):
        image = self.image(64, 'central')
        self.record('race', self.nova.boot(
            image, 'site_a', cap=CAP['boot'],
            concurrent_with=[('site_a', 'admin'), ('site_b', 'admin')]),
            size=64, src='central')

    def member(self):
        image = self.image(64, 'central')
        self.record('member', self.nova.boot(image, 'site_a', user='demo',
                                             cap=CAP['boot']), size=64, src='central')

    def fail(self):
        """Glance's copy into site_a fails: its Ceph user may only read there."""
        image = self.image(64, 'central')
        client = 'client.glance'
        original = self.s.caps('site_a', client)
        broken = ['mon', 'profile rbd', 'osd', 'profile rbd-read-only pool=%s'
                  % self.s.state.sites['site_a']['images_pool']]
        self.s.set_caps('site_a', client, broken)
        try:
            boot = self.nova.boot(image, 'site_a', cap=CAP['fault'][self.phase[0]],
                                  delete_timeout=10)
        finally:
            self.s.set_caps('site_a', client, original)
        boot['glance_cause'] = self.s.task_cause([t['id'] for t in boot['tasks']])
        self.record('fail', boot, size=64, src='central')

    def dead(self):
        """Glance's workers are killed while they copy the image into site_b."""
        import threading
        image = self.image(512, 'central')
        glance = self.s.glance()
        master = self.s.glance_master()
        killed = {}

        def killer():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if glance.images.get(image).get('os_glance_import_task'):
                    time.sleep(0.5)  # the copy has started writing
                    killed['t'] = time.monotonic()
                    killed['pids'] = master.children()
                    for pid in killed['pids']:
                        os.kill(pid, signal.SIGKILL)
                    return
                time.sleep(0.1)

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        t0 = time.monotonic()
        boot = self.nova.boot(image, 'site_b', cap=CAP['fault'][self.phase[0]],
                              delete_timeout=10)
        thread.join(5)
        if 'pids' in killed:
            boot['killed_after'] = killed['t'] - t0
            boot['killed_pids'] = len(killed['pids'])
        self._glance_back(master)
        self.record('dead', boot, size=512, src='central')

    def _glance_back(self, master, timeout=90):
        from nova.tests.live.fixtures import process
        process.wait_for('Glance workers back', lambda: (
            len(master.children()) > 0 and self._glance_answers()), timeout,
            interval=0.5)

    def _glance_answers(self):
        try:
            list(self.s.glance().images.list(limit=1))
            return True
        except Exception:
            return False

    # --- the run ----------------------------------------------------------------------

    def run(self):
        try:
            for side, poll, nd, scenarios in phases(self.quick):
                t0 = time.monotonic()
                # Only timed scenarios need warm computes.
                self.switch(side, poll, nd, warm=scenarios != ('race',))
                for name in scenarios:
                    log('  %s', name)
                    try:
                        getattr(self, name)()
                    except Exception as e:  # the page says what broke, the run goes on
                        log('  %s failed: %s', name, e)
                        self.results.setdefault('errors', []).append(
                            {'scenario': name, 'side': side, 'poll': poll,
                             'never_download': nd, 'error': '%s: %s' % (
                                 type(e).__name__, str(e)[:500])})
                    left = self.s.sweep_vms()
                    if left:
                        log('  removed disks %s left: %s', name, ', '.join(left))
                log('  phase took %.0f s', time.monotonic() - t0)
        finally:
            self.cleanup()

    def cleanup(self):
        fresh = self.images.pop('_fresh', [])
        for image in list(self.images.values()) + fresh:
            self.s.delete_image(image)


def _load():
    with open('/proc/loadavg') as f:
        return ' '.join(f.read().split()[:3])


def _git(*args):
    return subprocess.run(['git'] + list(args), cwd=TOP, capture_output=True,
                          text=True).stdout


def _tree():
    """(identity of the tree's nova/ + tools/series, how to name it)."""
    head = _git('rev-parse', '--short', 'HEAD').strip()
    tree = _git('rev-parse', 'HEAD:nova').strip()
    changes = _git('diff', 'HEAD', '--', 'nova', 'tools/series') + _git(
        'ls-files', '--others', '--exclude-standard', '--', 'nova')
    if not changes.strip():
        return tree, head
    digest = hashlib.sha1(changes.encode()).hexdigest()[:10]
    return (tree + digest,
            '%s plus uncommitted changes under nova/ (diff digest %s)' % (head, digest))


def _info():
    from nova.tests.live.fixtures import cloud as cloud_mod
    upstream = subprocess.run(
        [os.path.join(cloud_mod.upstream_venv(), 'bin', 'python'), '-c',
         'import importlib.metadata as m; print(m.version("nova"))'],
        capture_output=True, text=True).stdout.strip()
    return {'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
            'tree': _tree(), 'upstream': upstream or '?',
            'machine': '%d cores, load average %s at the start'
                       % (os.cpu_count(), _load())}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true',
                   help='a smoke run: poll 1 only, 64 MiB images, few boots, no dead '
                        'Glance worker')
    p.add_argument('--rst', default=os.path.join(TOP, 'doc', 'project',
                                                 'benchmark.rst'))
    p.add_argument('--no-rst', action='store_true')
    p.add_argument('--render', metavar='RESULTS',
                   help='only render the page from a saved results.json')
    p.add_argument('--command', default='tools/bench/run.sh',
                   help='the command line to print in the report')
    args = p.parse_args()
    svg = os.path.splitext(args.rst)[0] + '-boot-time.svg'

    if args.render:
        with open(args.render) as f:
            results = json.load(f)
    else:
        from nova.tests.live.fixtures import stack as stack_mod
        import stackio
        state = stack_mod.StackState.load()
        stackhome.check_or_exit(state.home)
        if not state.data.get('cloud'):
            print('bench: the stack runs without its Nova cloud', file=sys.stderr)
            return 2
        work = os.path.join(state.home, 'bench')
        os.makedirs(work, exist_ok=True)
        s = stackio.Stack(state, work)
        info = _info()
        t0 = time.monotonic()
        bench = Bench(s, quick=args.quick)
        try:
            bench.run()
        finally:
            s.close()
            results = bench.results
            info['elapsed'] = time.monotonic() - t0
            info['machine'] += ', load average %s at the end' % _load()
            start_tree, end_tree = info.pop('tree'), _tree()
            info['commit'] = start_tree[1]
            if end_tree[0] != start_tree[0]:
                info['commit'] += (' at the start and %s at the end (the tree changed '
                                   'during the run)' % end_tree[1])
            info.update(command=args.command, quick=args.quick)
            results['info'] = info
            with open(os.path.join(work, 'results.json'), 'w') as f:
                json.dump(results, f, indent=1, default=str)
    page = report.Report(results)
    text = page.render(svg_name=os.path.basename(svg))
    print(page.summary())
    if not args.no_rst:
        with open(args.rst, 'w') as f:
            f.write(text)
        with open(svg, 'w') as f:
            f.write(page.svg())
        log('wrote %s and %s', args.rst, svg)
    return 0


if __name__ == '__main__':
    sys.exit(main())
