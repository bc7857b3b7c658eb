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

"""Turns the benchmark's results into the rst page that is also printed."""

import statistics

SIDES = ('ours', 'upstream')
FEW_SECONDS = 3


def jsonable(results):
    if isinstance(results, dict):
        return {(' / '.join(k) if isinstance(k, tuple) else k): jsonable(v)
                for k, v in results.items()}
    if isinstance(results, list):
        return [jsonable(v) for v in results]
    return results


def pct(values, q):
    values = sorted(values)
    if not values:
        return None
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def fmt(v, unit='s', digits=3):
    if v is None:
        return 'n/a'
    if isinstance(v, str):
        return v
    if unit == 's':
        return '%.*f s' % (digits, v)
    if unit == 'MiB':
        return '%d MiB' % round(v)
    if isinstance(v, float):
        return '%.1f' % v
    return str(v)


def ratio(a, b):
    if a is None or b is None or isinstance(a, str) or isinstance(b, str) or not b:
        return 'n/a'
    return '%.2f' % (a / b)


def first_error(clones):
    for c in clones:
        if not c.get('ok'):
            return c['error']
    return None


def error_text(err, limit=240):
    if not err:
        return 'none'
    msg = ' '.join(err['message'].split())
    if len(msg) > limit:
        msg = msg[:limit] + '...'
    return '%s: %s' % (err['type'], msg)


def rst_escape(text):
    return text.replace('\\', '\\\\').replace('*', '\\*').replace('`', '\\`').replace(
        '|', '\\|').replace('_ ', '\\_ ')


class Page(object):

    def __init__(self):
        self.lines = []
        self.targets = []

    def add(self, *lines):
        self.lines.extend(lines)

    def section(self, title):
        self.add('', title, '=' * len(title), '')

    def table(self, header, rows, widths=None):
        self.add('.. list-table::', '   :header-rows: 1')
        if widths:
            self.add('   :widths: %s' % ' '.join(str(w) for w in widths))
        self.add('')
        for row in [header] + rows:
            for i, cell in enumerate(row):
                text = rst_escape(str(cell)) if cell != '' else 'n/a'
                self.add('   %s %s' % ('* -' if i == 0 else '  -', text))
        self.add('')


def _hot(res, rows, page):
    hot = res.get('hot')
    if not hot:
        return
    stats = {}
    for side in SIDES:
        r = hot[side]
        ok = [c['seconds'] for c in r['clones'] if c['ok']]
        stats[side] = {
            'p50': pct(ok, 0.5), 'p95': pct(ok, 0.95), 'n': len(r['clones']),
            'ok': len(ok),
            'glance': statistics.mean(c['glance_requests'] for c in r['clones']),
            'rados': statistics.mean(c['rados_connects'] for c in r['clones']),
            'rss': r['maxrss_kib'] / 1024.0,
            'err': first_error(r['clones'])}
    o, u = stats['ours'], stats['upstream']
    n = o['n']
    rows += [
        ['Hot clone p50 (%d clones, warm process)' % n, fmt(o['p50']), fmt(u['p50']),
         ratio(o['p50'], u['p50'])],
        ['Hot clone p95', fmt(o['p95']), fmt(u['p95']), ratio(o['p95'], u['p95'])],
        ['Hot clones that succeeded', '%d/%d' % (o['ok'], n), '%d/%d' % (u['ok'], n), ''],
        ['Glance requests per hot clone', fmt(o['glance'], ''), fmt(u['glance'], ''),
         ratio(o['glance'], u['glance'])],
        ['RADOS connections opened per hot clone', fmt(o['rados'], ''),
         fmt(u['rados'], ''), ratio(o['rados'], u['rados'])],
        ['Peak RSS of the process after the hot clones', fmt(o['rss'], 'MiB'),
         fmt(u['rss'], 'MiB'), ratio(o['rss'], u['rss'])],
    ]
    met = o['p50'] is not None and u['p50'] is not None and o['p50'] <= u['p50']
    page.targets.append(
        ('Hot clone p50 no slower than upstream\'s', met,
         'ours %s, upstream %s (ratio %s)' % (fmt(o['p50']), fmt(u['p50']),
                                              ratio(o['p50'], u['p50']))))
    stock = hot.get('upstream_stock')
    if stock:
        page.stock.append(
            ('Hot clone, image already in site_a', '%d/%d succeeded; %s'
             % (sum(c['ok'] for c in stock['clones']), len(stock['clones']),
                error_text(first_error(stock['clones'])))))


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _cold(res, rows, page):
    cold = res.get('cold') or []
    if not cold:
        return
    by = {}
    for r in cold:
        by.setdefault((r['size'], r['src'], r['dst'], r['poll'], r['side']), []).append(r)
    overheads = {'ours': [], 'upstream': []}
    keys = sorted({(r['size'], r['src'], r['dst'], r['poll']) for r in cold},
                  key=lambda k: (k[0], k[1] != 'central', -k[3]))
    for size, src, dst, poll in keys:
        vals = {}
        n = 0
        for side in SIDES:
            runs = by.get((size, src, dst, poll, side), [])
            if not runs:
                continue
            n = max(n, len(runs))
            samples = []
            for r in runs:
                c = r['clones'][0]
                total = c['seconds'] if c['ok'] else None
                copy = r.get('copy')
                over = total - copy if total is not None and copy is not None else None
                samples.append((total, copy, over))
                if poll == 15 and over is not None:
                    overheads[side].append(over)
            failed = [r['clones'][0] for r in runs if not r['clones'][0]['ok']]
            vals[side] = {
                'total': _median(t for t, _, _ in samples),
                'copy': _median(c for _, c, _ in samples),
                'over': _median(o for _, _, o in samples),
                'glance': _median(r['glance_requests'] for r in runs),
                'rados': _median(r['rados_connects'] for r in runs),
                'failed': len(failed), 'n': len(runs),
                'err': failed[0].get('error') if failed else None}
        o, u = vals.get('ours', {}), vals.get('upstream', {})
        what = 'Cold %d MiB %s -> %s, poll %d s%s' % (
            size, src, dst, poll, ' (median of %d)' % n if n > 1 else '')
        rows += [
            [what + ': total', _total(o), _total(u), ratio(o.get('total'), u.get('total'))],
            [what + ': Glance\'s copy (task)', fmt(o.get('copy')), fmt(u.get('copy')),
             ratio(o.get('copy'), u.get('copy'))],
            [what + ': overhead (total - copy)', fmt(o.get('over')), fmt(u.get('over')),
             ratio(o.get('over'), u.get('over'))],
            [what + ': Glance requests / RADOS connections',
             '%s / %s' % (_num(o.get('glance')), _num(o.get('rados'))),
             '%s / %s' % (_num(u.get('glance')), _num(u.get('rados'))),
             ratio(o.get('glance'), u.get('glance'))],
        ]
    o50 = statistics.median(overheads['ours']) if overheads['ours'] else None
    u50 = statistics.median(overheads['upstream']) if overheads['upstream'] else None
    rows.append(['Cold clone overhead p50 over all %d runs per side at poll 15 s '
                 '(defaults)' % len(overheads['ours']),
                 fmt(o50), fmt(u50), ratio(o50, u50)])
    met = (o50 is not None and u50 is not None and o50 < 0.5 and o50 * 10 <= u50)
    page.targets.append(
        ('Overhead p50 under 0.5 s and at least 10x lower than upstream at its defaults',
         met, 'ours %s, upstream %s: %s lower' % (
             fmt(o50), fmt(u50), '%.0fx' % (u50 / o50) if o50 and u50 else 'n/a')))
    stock = res.get('cold_upstream_stock')
    if stock:
        c = stock['clones'][0]
        page.stock.append(
            ('Cold clone 64 MiB central -> site_a, poll 1 s',
             '%s after %.1f s (Glance copied it in %s); %s'
             % ('succeeded' if c['ok'] else 'failed', c['seconds'], fmt(stock.get('copy')),
                error_text(c.get('error')))))


def _total(v):
    if not v:
        return 'n/a'
    if v['failed']:
        return '%s; %d of %d failed: %s' % (fmt(v['total']), v['failed'], v['n'],
                                            error_text(v['err'], 120))
    return fmt(v['total'])


def _num(v):
    if v is None:
        return 'n/a'
    return '%g' % v


def _copies(tasks):
    return sum(1 for t in tasks if t.get('status') == 'success')


def _concurrent(res, rows, page):
    conc = res.get('concurrent')
    if not conc:
        return
    all_met = True
    notes = []
    for mode in ('threads', 'processes'):
        vals = {}
        for side in SIDES:
            r = conc.get((side, mode))
            if r is None:
                continue
            ok = sum(1 for c in r['clones'] if c['ok'])
            vals[side] = {'ok': ok, 'n': len(r['clones']), 'tasks': len(r['tasks']),
                          'copies': _copies(r['tasks']), 'wall': r['wall'],
                          'err': first_error(r['clones']), 'rss': r['maxrss_kib'] / 1024.0,
                          'late': r.get('late', 0)}
        o, u = vals['ours'], vals['upstream']
        what = '10 concurrent cold clones of one 64 MiB image, %s' % (
            'threads in one process' if mode == 'threads' else 'separate processes')
        rows += [
            [what + ': succeeded', '%d/%d' % (o['ok'], o['n']), '%d/%d' % (u['ok'], u['n']),
             ''],
            [what + ': Glance copies (tasks, of which succeeded)',
             '%d (%d)' % (o['tasks'], o['copies']), '%d (%d)' % (u['tasks'], u['copies']),
             ''],
            [what + ': wall time', fmt(o['wall']), fmt(u['wall']),
             ratio(o['wall'], u['wall'])],
        ]
        if mode == 'threads':
            rows.append([what + ': peak RSS', fmt(o['rss'], 'MiB'), fmt(u['rss'], 'MiB'),
                         ratio(o['rss'], u['rss'])])
        if o['late'] or u['late']:
            notes.append('%s: %d of ours and %d of upstream\'s processes started their '
                         'clone more than 0.5 s after the common start time'
                         % (mode, o['late'], u['late']))
        all_met = all_met and o['ok'] == o['n'] == 10 and o['copies'] == 1 == o['tasks']
        if u['err']:
            page.errors.append(('Upstream, concurrent %s' % mode, error_text(u['err'])))
        if o['err']:
            page.errors.append(('Ours, concurrent %s' % mode, error_text(o['err'])))
    page.targets.append(('10/10 concurrent clones succeed with one copy', all_met,
                         'see the concurrent rows' + ('; ' + '; '.join(notes)
                                                      if notes else '')))


def _member(res, rows, page):
    member = res.get('member')
    if not member:
        return
    met = True
    for (kind, label), r in sorted(member.items()):
        c = r['clones'][0]
        text = ('succeeded in %.2f s' % c['seconds'] if c['ok']
                else 'failed in %.2f s: %s' % (c['seconds'], error_text(c['error'], 600)))
        image = ('the demo project\'s private image' if kind == 'demo-private'
                 else 'an admin\'s public image')
        page.member.append(('demo clones %s: %s' % (image, label), text))
        if label == 'ours':
            met = met and c['ok']
    page.targets.append(('The member user\'s boot succeeds under the recommended setup '
                         '(ours: [glance] service credentials)', met,
                         'see "Member user" below'))


def _failure(res, rows, page):
    fail = res.get('failure')
    if not fail:
        return
    met = True
    vals = {}
    for key, r in fail.items():
        if key == 'caps':
            continue
        side, sets = key
        c = r['clones'][0]
        tasks = r['tasks']
        failed = [t for t in tasks if t.get('status') == 'failure']
        # Glance marks the store failed when the task ends, whatever the task's status
        # (a copy-image that does not require all stores ends "success").
        marked = max((t['t_updated'] for t in tasks), default=None)
        after = c['end'] - marked if marked is not None and not c['ok'] else None
        label = side + (' (%s)' % sets.replace('libvirt.', '[libvirt] ') if sets else
                        ' (defaults: 2 retries)' if side == 'ours' else '')
        page.failure.append((
            label, '%s after %.1f s; %d Glance copy tasks in this run (%d ended '
            '"failure"); reported %s after Glance ended the last one; error: %s'
            % ('failed' if not c['ok'] else 'succeeded', c['seconds'], len(tasks),
               len(failed), fmt(after, digits=2), error_text(c.get('error'), 400))
            + ('. Glance\'s log says: %s' % ' / '.join(_causes(r['glance_log_cause']))
               if r.get('glance_log_cause') else '')))
        if 'after repair' in sets:
            if not c['ok'] and not tasks:
                page.notes.append(
                    'After the store was repaired, a boot (retries 0) of the image that '
                    'still carried the failure marker of an earlier attempt failed in '
                    '%.1f s without asking Glance to copy again: ours counts the earlier '
                    'failed task as a failure of this boot. With retries > 0 it costs '
                    'one retry instead.' % c['seconds'])
            continue
        vals.setdefault(side, []).append((sets, c['seconds'], after))
        if side == 'ours':
            met = met and not c['ok'] and after is not None and after <= FEW_SECONDS
    o = dict((k, (t, a)) for k, t, a in vals.get('ours', []))
    u = vals.get('upstream', [(None, None, None)])[0]
    for sets, title in (('', 'defaults: 2 retries'),
                        ('libvirt.images_rbd_glance_copy_retries=0', 'retries 0')):
        if sets in o:
            rows += [
                ['Failed copy: time until the clone fails (ours %s; upstream timeout '
                 '60 s)' % title, fmt(o[sets][0], digits=1), fmt(u[1], digits=1),
                 ratio(o[sets][0], u[1])],
                ['Failed copy: reported after Glance ended the copy (ours %s)' % title,
                 fmt(o[sets][1], digits=2), fmt(u[2], digits=2), ratio(o[sets][1], u[2])],
            ]
    slow = o.get('', (0, None))[1]
    quick = o.get('libvirt.images_rbd_glance_copy_retries=0', (0, None))[1]
    if slow is not None and quick is not None and slow > FEW_SECONDS >= quick:
        page.notes.append(
            'A first failure is noticed within %.2f s, but with retries the last one took '
            '%.2f s: the retried copies fail within ~0.1 s, between two Glance polls, so '
            'the image looks unchanged (same failure marker, no import running) and the '
            'poll interval keeps backing off; the pool watch cannot help because Glance '
            'never creates the RBD image.' % (quick, slow))
    page.targets.append((
        'A failed copy is reported within a few seconds (here: %d s) of Glance marking '
        'it, with its cause' % FEW_SECONDS, met,
        'ours with its default retries reports the last failure %s after Glance marks it '
        'and %s with retries 0; see "A copy that fails" below'
        % (fmt(o.get('', (0, None))[1], digits=2),
           fmt(o.get('libvirt.images_rbd_glance_copy_retries=0', (0, None))[1], digits=2))))


def _causes(lines):
    """Distinct causes of Glance's log lines, without the task ids."""
    out = []
    for line in lines:
        cause = line.split(' failed with exception ', 1)[-1]
        if cause not in out:
            out.append(cause)
    return ['"failed with exception %s"' % c for c in out]


def render(results, command, elapsed, quick, logs, info=None):
    page = Page()
    page.stock, page.errors, page.member, page.failure = [], [], [], []
    page.notes = []
    info = info or {}
    rows = []
    for part in (_hot, _cold, _concurrent, _member, _failure):
        part(results, rows, page)
    page.add('=========', 'Benchmark', '=========', '')
    page.add('This page is written by the benchmark (``tox -e bench`` runs the same); do '
             'not edit it by hand. Command::', '', '    %s' % command, '')
    page.add('Run of %s: %s, %.0f s in all%s. Ours is this tree at commit %s; '
             'upstream is nova %s from PyPI in its own venv. Both drive the real stack '
             '(two Ceph 16 clusters, Keystone, Glance 33) that the command starts and '
             'stops.' % (info.get('date', '?'), info.get('machine', '?'), elapsed,
                         ' (quick mode: fewer clones, 64 MiB only)' if quick else '',
                         info.get('commit', '?'), info.get('upstream', '?')))
    page.section('How it is measured')
    page.add(
        '- Each side runs in its own processes and venv: ``tools/bench/driver_ours.py`` '
        'calls ``imagebackend.Backend(use_cow=True).by_name(instance, \'disk\', '
        '\'rbd\').clone(context, image_id)`` of nova 34.0.0 with the series applied; '
        '``tools/bench/driver_upstream.py`` calls the same on nova 34.0.0 as released. '
        'Both build the RequestContext from a real Keystone token. Both act as the stack\'s '
        '``admin`` user except in the member scenario (``demo``).',
        '- Upstream only finds RBD locations when Glance shows them. The stack\'s Glance '
        'keeps ``show_multiple_locations`` and ``show_image_direct_url`` false; so the '
        'benchmark starts a second Glance API on the same database, stores and staging '
        'area with ``show_multiple_locations = true`` (what upstream needs) and points '
        'upstream at it with ``[glance] api_servers``. Ours always uses the stack\'s '
        'Glance as configured. Upstream against the stack\'s Glance is reported '
        'separately below.',
        '- Same compute nova.conf for both (store name, pool, ceph conf); the poll '
        'interval and timeout are at upstream\'s defaults (15 s / 600 s) unless a row '
        'says poll 1 s.',
        '- Glance\'s copy time is the copy-image task\'s ``updated_at - created_at`` '
        '(``GET /v2/images/{id}/tasks`` as admin, microsecond timestamps); overhead = '
        'total clone time - copy time. Cold clones run in a process warmed by one '
        'untimed hot clone of another image (tokens and connections made), as a '
        'running compute service is.',
        '- Glance requests and RADOS connections are counted by instrumenting each '
        'driver process (a counting wrapper around keystoneauth\'s ``Session.request`` '
        'for requests to Glance and a ``rados.Rados`` subclass counting ``connect``); '
        'they include every request of the clone call, not only those while waiting.',
        '- Peak RSS is the driver process\'s ``ru_maxrss``.',
        '- Concurrency: 10 threads in one driver process, or 10 driver processes that '
        'each clone once, released together at one wall-clock time after their imports '
        'and warm-up. The compute conf sets ``[oslo_concurrency] lock_path``, so our '
        'processes share a per-image file lock; upstream has no such lock. Upstream runs '
        'with plain threads (no eventlet monkey patching); its behaviour under '
        'contention comes from Glance\'s 409 answers, not from the threading model.',
        '- Failed copy: ``client.glance-spare`` is made read-only on its pool for the '
        'scenario (``ceph auth caps``; restored afterwards), and each run uses a fresh '
        'image. Upstream runs with ``images_rbd_glance_copy_timeout = 60`` instead of '
        '600 to keep the run short. "Glance ended the copy" is the task\'s '
        '``updated_at``; Glance marks the store in ``os_glance_failed_import`` then, '
        'even when the task itself ends "success" (upstream asks without '
        '``all_stores_must_succeed``). The last run repairs the caps and boots the image '
        'that still carries the failure marker.',
        '- Driver logs of this run: ``%s``.' % logs)
    page.section('Results')
    page.table(['Measurement', 'Ours', 'Upstream', 'Ours / upstream'], rows,
               widths=[46, 18, 18, 10])
    page.section('Targets')
    for name, met, detail in page.targets:
        page.add('- **%s**: %s (%s).' % (name, 'met' if met else 'MISSED',
                                         rst_escape(detail)))
    for title, items in (('Member user (scenario 4)', page.member),
                         ('A copy that fails inside Glance (scenario 5)', page.failure),
                         ('Upstream against the stack\'s Glance as configured',
                          page.stock),
                         ('Errors seen in the concurrent runs', page.errors)):
        if not items:
            continue
        page.section(title)
        for name, text in items:
            page.add('- %s: %s' % (rst_escape(name), rst_escape(text)))
    if page.notes:
        page.section('What the failure runs show')
        for note in page.notes:
            page.add('- %s' % rst_escape(note))
    return '\n'.join(page.lines).rstrip() + '\n'
