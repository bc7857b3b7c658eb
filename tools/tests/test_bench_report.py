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

"""The benchmark's statistics, ratios, targets, page and plot, from made-up results.

Needs no stack. Run from this directory::

    cd tools/tests && ../../.stack/venv/nova/bin/python -m unittest test_bench_report
"""

import os
import sys
import xml.etree.ElementTree as ElementTree

import testtools

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, os.path.join(TOP, 'tools', 'bench'))
import report  # noqa: E402
import stackio  # noqa: E402


def server(site='site_a', active=2.0, marker=3.0, parent='images/x@snap', **kw):
    s = {'id': 'id-%s-%s' % (site, active), 'site': site, 'status': 'ACTIVE',
         'active': active, 'marker': marker, 'error': None, 'fault': None,
         'parent': parent}
    s.update(kw)
    return s


def boot(scenario, side, poll=1, nd=True, site='site_a', src='central', size=64,
         servers=None, tasks=(), requests=5, **kw):
    b = {'scenario': scenario, 'side': side, 'poll': poll, 'never_download': nd,
         'site': site, 'src': src, 'size': size, 'count': len(servers or [1]),
         'servers': servers or [server(site)], 'glance_requests': requests,
         'created': 0.2,
         'tasks': [{'status': st, 'seconds': sec, 'id': 't%d' % i, 'start': 0.2}
                   for i, (st, sec) in enumerate(tasks)]}
    b.update(kw)
    return b


def results():
    boots = []
    for side, hot in (('ours', (2.0, 2.2, 2.4)), ('upstream', (2.1, 2.3, 2.5))):
        for t in hot:
            boots.append(boot('hot', side, servers=[server(active=t)]))
    boots += [
        boot('cold', 'ours', poll=15, servers=[server(active=5.4)],
             tasks=[('success', 3.0)]),
        boot('cold', 'upstream', poll=15, servers=[server(active=21.2)],
             tasks=[('success', 3.0)]),
        boot('cold', 'ours', poll=1, size=512, servers=[server(active=9.0)],
             tasks=[('success', 6.5)]),
        boot('cold', 'upstream', poll=1, size=512, servers=[server(active=10.0)],
             tasks=[('success', 6.5)]),
        boot('race', 'ours', poll=15, servers=[server('site_a'), server('site_b')],
             tasks=[('success', 2.0), ('success', 2.0)]),
        boot('race', 'upstream', poll=15, nd=False,
             servers=[server('site_a'), server('site_b', parent='')],
             tasks=[('success', 2.0)]),
        boot('fail', 'ours', servers=[server(active=None, marker=None, error=6.0,
                                             status='ERROR', fault='copy failed')],
             tasks=[('failure', 4.0)]),
        boot('fail', 'upstream', servers=[server(active=None, marker=None,
                                                 status='BUILD', timed_out=60)],
             tasks=[('failure', 4.0)]),
    ]
    return {'boots': boots, 'phases': [], 'info': {'command': 'tools/bench/run.sh',
                                                   'commit': 'abc1234'}}


class StatsTestCase(testtools.TestCase):

    def test_pct_interpolates_and_skips_none(self):
        self.assertEqual(2.0, report.pct([3.0, 1.0, None, 2.0], 0.5))
        self.assertEqual(2.5, report.pct([1.0, 2.0, 3.0, 4.0], 0.5))
        self.assertAlmostEqual(3.85, report.pct([1.0, 2.0, 3.0, 4.0], 0.95))
        self.assertIsNone(report.pct([], 0.5))
        self.assertIsNone(report.pct([None], 0.5))

    def test_ratio(self):
        self.assertEqual('0.50', report.ratio(1.0, 2.0))
        self.assertEqual('n/a', report.ratio(None, 2.0))
        self.assertEqual('n/a', report.ratio(1.0, 0))
        self.assertEqual('n/a', report.ratio(1.0, -0.2))
        self.assertEqual('n/a', report.ratio(-0.1, 2.0))

    def test_copy_seconds_counts_successful_tasks_only(self):
        b = boot('cold', 'ours', tasks=[('success', 3.0), ('failure', 9.0)])
        self.assertEqual(3.0, report.copy_seconds(b))

    def test_penalty_subtracts_hot_p50_and_copy(self):
        r = results()
        cold = report.boots(r, 'cold', 'ours', poll=15)[0]
        # 5.4 - hot p50 2.2 - copy 3.0
        self.assertAlmostEqual(0.2, report.penalty(r, cold))
        up = report.boots(r, 'cold', 'upstream', poll=15)[0]
        self.assertAlmostEqual(21.2 - 2.3 - 3.0, report.penalty(r, up))

    def test_penalty_without_hot_boots_is_unknown(self):
        r = {'boots': [boot('cold', 'ours', tasks=[('success', 1.0)])]}
        self.assertIsNone(report.penalty(r, r['boots'][0]))

    def test_outcome_texts(self):
        self.assertEqual('ACTIVE 2.0 s, marker 3.0 s, clone',
                         report.outcome(server()))
        self.assertIn('flat disk', report.outcome(server(parent='')))
        self.assertEqual('ERROR after 6.0 s (boom)', report.outcome(
            server(active=None, error=6.0, fault='boom')))
        self.assertEqual('BUILD after 60 s (bench cap)', report.outcome(
            server(active=None, marker=None, status='BUILD', timed_out=60)))

    def test_count_requests_skips_health_checks(self):
        log = '\n'.join([
            '[pid: 1|app: 0|req: 1/1] 127.0.0.1 () {26 vars in 313 bytes} [x] '
            'GET /healthcheck => generated 2 bytes in 1 msecs (HTTP/1.1 200)',
            '[pid: 1|app: 0|req: 2/2] 127.0.0.1 () {26 vars in 313 bytes} [x] '
            'GET /v2/images/abc => generated 2 bytes in 1 msecs (HTTP/1.1 200)',
            'some other line',
            '[pid: 2|app: 0|req: 1/3] 127.0.0.1 () {26 vars in 313 bytes} [x] '
            'POST /v2/images/abc/import => generated 0 bytes in 9 msecs (HTTP/1.1 202)'])
        self.assertEqual(2, stackio.count_requests(log))


class ReportTestCase(testtools.TestCase):

    def test_targets(self):
        targets = {t[0]: (t[1], t[2]) for t in report.Report(results()).targets}
        met, detail = targets['cold penalty p50 <= 0.5 s']
        self.assertTrue(met, detail)
        met, detail = targets['cold penalty >= 10x below upstream at its defaults']
        self.assertTrue(met, detail)
        met, detail = targets['hot boot no slower than upstream (within 5 %)']
        self.assertTrue(met, detail)
        race = [v for k, v in targets.items() if k.startswith('cross-site race')]
        self.assertEqual([True], [m for m, _ in race])
        fail = [v for k, v in targets.items() if k.startswith('failed copy')]
        # ERROR at 6.0 s; the task was created at ~0.2 s and ran 4.0 s.
        self.assertEqual([True], [m for m, _ in fail])
        self.assertIn('1.8 s after', fail[0][1])

    def test_missed_targets_say_so(self):
        r = results()
        for b in report.boots(r, 'hot', 'ours'):
            b['servers'][0]['active'] += 1.0
        page = report.Report(r)
        hot = [t for t in page.targets if t[0].startswith('hot boot')][0]
        self.assertFalse(hot[1])
        self.assertIn('**hot boot no slower than upstream (within 5 %)**: MISSED',
                      page.render())

    def test_race_with_a_downloaded_disk_is_not_ok(self):
        r = results()
        for b in report.boots(r, 'race', 'ours'):
            b['servers'][1]['parent'] = ''
        race = [t for t in report.Report(r).targets if t[0].startswith('cross-site')]
        self.assertFalse(race[0][1])

    def test_render_has_rows_ratios_and_the_plot(self):
        text = report.Report(results()).render(svg_name='bench.svg')
        self.assertIn('tools/bench/run.sh', text)
        self.assertIn('abc1234', text)
        self.assertIn('Cold 64 MiB central -> site_a, poll 15 s: ACTIVE', text)
        self.assertIn('     - 0.25\n', text)  # 5.4 / 21.2
        self.assertIn('.. image:: bench.svg', text)
        self.assertIn('external per-image lock', text)
        self.assertIn('site_b: ACTIVE 2.0 s, marker 3.0 s, flat disk', text)

    def test_summary_is_plain_text(self):
        text = report.Report(results()).summary()
        self.assertIn('target: cold penalty p50 <= 0.5 s: met', text)

    def test_svg_is_well_formed_with_a_line_per_series(self):
        svg = report.Report(results()).svg()
        root = ElementTree.fromstring(svg)
        ns = '{http://www.w3.org/2000/svg}'
        lines = root.findall(ns + 'polyline')
        # ours/upstream at poll 15 (64 MiB) and at poll 1 (512 MiB)
        self.assertEqual(4, len(lines))
        self.assertIn('upstream poll 15, central -&gt; site_a', svg)

    def test_empty_results_render(self):
        page = report.Report({'boots': []})
        self.assertIn('Benchmark', page.render())
        ElementTree.fromstring(page.svg())
