# Copyright 2026 The rbd-glance-multistore-copy authors
#
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

"""Edge cases of the copy-to-store decisions that mutation testing found
unchecked (tools/mutation.sh): grace periods on clocks far from 0, the
guards of the failed-copy branch, backoff caps, store checks and which
local location wins.

Every time check runs at several clock origins, none of them 0, so that
``now - t`` written as ``now + t`` (or ``t - now``) fails.
"""

import dataclasses

from nova import exception
from nova.storage import rbd_multistore
from nova import test
from nova.virt.libvirt import image_copy as ic

FSID_A = 'aaaaaaaa-0000-4000-8000-000000000001'
FSID_B = 'bbbbbbbb-0000-4000-8000-000000000002'
ORIGINS = (1e6, 12345.678, 7.5e8)


def image(**props):
    base = {'id': 'img-1', 'status': 'active', 'disk_format': 'raw',
            'size': 64 << 20, 'stores': 'central', 'properties': {}}
    for key in ('id', 'status', 'disk_format', 'size', 'stores'):
        if key in props:
            base[key] = props.pop(key)
    base['properties'].update(props)
    return base


def view(**kw):
    return ic.ImageView.from_image(image(**kw))


def wait_state(t0, timeout=600, retries=2, **kw):
    s = ic.new_wait_state('site_a', t0, timeout, retries,
                          max_interval=kw.pop('max_interval', 15),
                          stall_timeout=kw.pop('stall_timeout', 120),
                          watch_pool=kw.pop('watch_pool', False))
    return dataclasses.replace(s, **kw) if kw else s


def failed_task(task_id='task-1', status='failure', message='boom'):
    return ic.TaskView(task_id=task_id, status=status, message=message)


class TestGraceAtClockOrigins(test.NoDBTestCase):

    def test_listed_without_location_fails_only_after_the_grace(self):
        listed = view(stores='central,site_a')
        for t0 in ORIGINS:
            s = ic.observe(wait_state(t0), listed, t0 + 10)
            self.assertEqual(t0 + 10, s.listed_at)
            for dt in (0.0, 1.0, ic.LOCATION_GRACE - 0.01):
                step = ic.decide(ic.observe(s, listed, t0 + 10 + dt),
                                 listed, t0 + 10 + dt)
                self.assertIs(ic.Action.CONFIRM, step.action, (t0, dt))
            for dt in (ic.LOCATION_GRACE, ic.LOCATION_GRACE + 30):
                step = ic.decide(ic.observe(s, listed, t0 + 10 + dt),
                                 listed, t0 + 10 + dt)
                self.assertIs(ic.Action.FAIL, step.action, (t0, dt))
                self.assertIsInstance(step.error, ic.ImageNotCloneable)
                self.assertIn('[service_user]', str(step.error))

    def test_unlisting_resets_the_grace(self):
        t0 = ORIGINS[1]
        s = ic.observe(wait_state(t0), view(stores='site_a'), t0)
        s = ic.observe(s, view(), t0 + 1)
        self.assertIsNone(s.listed_at)
        s = ic.observe(s, view(stores='site_a'), t0 + 20)
        self.assertIs(ic.Action.CONFIRM,
                      ic.decide(s, view(stores='site_a'), t0 + 21).action)

    def test_accepted_request_is_not_repeated_within_the_grace(self):
        quiet = view()
        for t0 in ORIGINS:
            s = ic.requested(ic.observe(wait_state(t0), quiet, t0), t0 + 3)
            for dt in (0.0, 0.5, ic.ACCEPT_GRACE - 0.01):
                step = ic.decide(ic.observe(s, quiet, t0 + 3 + dt), quiet,
                                 t0 + 3 + dt)
                self.assertIs(ic.Action.WAIT, step.action, (t0, dt))
                self.assertLessEqual(step.delay, ic.FIRST_POLL)
            for dt in (ic.ACCEPT_GRACE, ic.ACCEPT_GRACE + 60):
                step = ic.decide(ic.observe(s, quiet, t0 + 3 + dt), quiet,
                                 t0 + 3 + dt)
                self.assertIs(ic.Action.REQUEST_COPY, step.action, (t0, dt))
                self.assertEqual(ic.AFTER_REQUEST_POLL, step.delay)

    def test_deadline_is_relative_to_the_start(self):
        for t0 in ORIGINS:
            s = wait_state(t0, timeout=30)
            self.assertEqual(t0 + 30, s.deadline)
            busy = view(os_glance_import_task='t',
                        os_glance_importing_to_stores='site_a')
            s = ic.observe(s, busy, t0 + 29)
            step = ic.decide(s, busy, t0 + 29.9)
            self.assertIs(ic.Action.WAIT, step.action)
            self.assertAlmostEqual(0.1, step.delay)
            step = ic.decide(s, busy, t0 + 30)
            self.assertIs(ic.Action.FAIL, step.action)
            self.assertIsInstance(step.error, ic.ImageCopyTimeout)
            self.assertIn('within 30 s', str(step.error))
            self.assertIn('importing for 1 s', str(step.error))

    def test_backoff_is_relative_to_the_failure(self):
        for t0 in ORIGINS:
            s = ic.requested(wait_state(t0), t0)
            failed = view(os_glance_failed_import='site_a')
            s = ic.observe(s, failed, t0 + 2, failed_task())
            self.assertEqual(t0 + 2 + ic.RETRY_BACKOFF_BASE, s.not_before)
            step = ic.decide(s, failed, t0 + 3, task=failed_task())
            self.assertIs(ic.Action.WAIT, step.action)
            self.assertLessEqual(step.delay, 1.0 + 1e-9)
            self.assertGreater(step.delay, 0)
            step = ic.decide(s, failed, t0 + 4, task=failed_task())
            self.assertIs(ic.Action.REQUEST_COPY, step.action)

    def test_stall_is_measured_from_the_last_change(self):
        for t0 in ORIGINS:
            busy = view(os_glance_import_task='t',
                        os_glance_importing_to_stores='site_a')
            s = ic.observe(wait_state(t0, stall_timeout=100), busy, t0)
            self.assertEqual(50, ic.stalled_for(s, t0 + 50))
            self.assertIsNone(ic.decide(s, busy, t0 + 99).stalled)
            self.assertEqual(100, ic.decide(s, busy, t0 + 100).stalled)
            s = ic.warned(s, t0 + 100)
            self.assertIsNone(ic.decide(s, busy, t0 + 150).stalled)
            self.assertEqual(200, ic.decide(s, busy, t0 + 200).stalled)

    def test_importing_for_counts_from_first_sight(self):
        for t0 in ORIGINS:
            busy = view(os_glance_importing_to_stores='site_a,site_b')
            s = ic.observe(wait_state(t0), busy, t0 + 5)
            s = ic.observe(s, busy, t0 + 9)
            self.assertEqual({'site_a': 4, 'site_b': 4},
                             s.importing_for(t0 + 9))


class TestFailedCopyGuards(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.t0 = ORIGINS[0]

    def test_earlier_failure_with_the_lock_held_waits(self):
        # Not asked yet, our store marked failed, another import running.
        v = view(os_glance_failed_import='site_a', os_glance_import_task='x')
        s = ic.observe(wait_state(self.t0), v, self.t0, failed_task())
        step = ic.decide(s, v, self.t0, task=failed_task())
        self.assertIs(ic.Action.WAIT, step.action)
        self.assertEqual('another import holds the image', step.reason)
        self.assertEqual(frozenset(), s.failed_tasks)

    def test_earlier_failure_without_lock_asks_at_once(self):
        v = view(os_glance_failed_import='site_a')
        s = ic.observe(wait_state(self.t0), v, self.t0, failed_task())
        step = ic.decide(s, v, self.t0, task=failed_task())
        self.assertIs(ic.Action.REQUEST_COPY, step.action)
        self.assertEqual(ic.AFTER_REQUEST_POLL, step.delay)

    def test_our_failure_meets_another_import_holding_the_image(self):
        s = ic.requested(wait_state(self.t0), self.t0)
        v = view(os_glance_failed_import='site_a', os_glance_import_task='y')
        s = ic.observe(s, v, self.t0 + 1, failed_task())
        self.assertEqual(1, len(s.failed_tasks))
        # Well past the backoff: the lock alone keeps us waiting.
        step = ic.decide(s, v, self.t0 + 100, task=failed_task())
        self.assertIs(ic.Action.WAIT, step.action)
        self.assertEqual('another import holds the image', step.reason)
        # The lock gone, we ask again.
        free = view(os_glance_failed_import='site_a')
        step = ic.decide(s, free, self.t0 + 100, task=failed_task())
        self.assertIs(ic.Action.REQUEST_COPY, step.action)

    def test_pending_retry_task_waits_not_counts(self):
        s = ic.requested(wait_state(self.t0, retries=0), self.t0)
        v = view(os_glance_failed_import='site_a')
        for status in ('pending', 'processing'):
            task = failed_task(status=status)
            s2 = ic.observe(s, v, self.t0 + 1, task)
            self.assertEqual(frozenset(), s2.failed_tasks)
            step = ic.decide(s2, v, self.t0 + 1, task=task)
            self.assertIs(ic.Action.WAIT, step.action)
            self.assertEqual('retry accepted, waiting for it to start',
                             step.reason)

    def test_failures_up_to_retries_are_retried_then_fail(self):
        s = ic.requested(wait_state(self.t0, retries=1), self.t0)
        v = view(os_glance_failed_import='site_a')
        s = ic.observe(s, v, self.t0 + 1, failed_task('t1'))
        self.assertIs(ic.Action.REQUEST_COPY,
                      ic.decide(s, v, self.t0 + 50).action)
        s = ic.requested(s, self.t0 + 50)
        s = ic.observe(s, v, self.t0 + 51, failed_task('t2', message=''))
        step = ic.decide(s, v, self.t0 + 51)
        self.assertIs(ic.Action.FAIL, step.action)
        self.assertIsInstance(step.error, ic.ImageCopyFailed)
        self.assertIn('2 time(s)', str(step.error))
        self.assertIn('task t2: no message', str(step.error))

    def test_the_same_failed_task_counts_once(self):
        s = ic.requested(wait_state(self.t0), self.t0)
        v = view(os_glance_failed_import='site_a')
        s = ic.observe(s, v, self.t0 + 1, failed_task())
        not_before = s.not_before
        s = ic.observe(s, v, self.t0 + 2, failed_task())
        self.assertEqual(1, len(s.failed_tasks))
        self.assertEqual(not_before, s.not_before)

    def test_failure_of_another_store_is_not_ours(self):
        s = ic.requested(wait_state(self.t0), self.t0)
        v = view(os_glance_failed_import='site_b')
        s = ic.observe(s, v, self.t0 + 1, failed_task())
        self.assertEqual(frozenset(), s.failed_tasks)

    def test_failure_reason_without_task_message(self):
        self.assertIn('(no task message)',
                      ic.failure_reason(wait_state(self.t0)))


class TestBackoffCaps(test.NoDBTestCase):

    def test_retry_backoff_grows_then_caps(self):
        self.assertEqual(2.0, ic.retry_backoff(1))
        self.assertEqual(4.0, ic.retry_backoff(2))
        self.assertEqual(32.0, ic.retry_backoff(5))
        self.assertEqual(ic.RETRY_BACKOFF_MAX, ic.retry_backoff(6))
        self.assertEqual(ic.RETRY_BACKOFF_MAX, ic.retry_backoff(40))

    def test_poll_delay_grows_then_caps(self):
        s = wait_state(ORIGINS[0], max_interval=10)
        self.assertEqual(ic.FIRST_POLL, ic.poll_delay(s))
        s2 = dataclasses.replace(s, polls_without_change=2)
        self.assertAlmostEqual(ic.FIRST_POLL * ic.POLL_GROWTH ** 2,
                               ic.poll_delay(s2))
        s3 = dataclasses.replace(s, polls_without_change=50)
        self.assertEqual(10.0, ic.poll_delay(s3))
        watched = dataclasses.replace(s, watch_pool=True)
        self.assertEqual(ic.FIRST_POLL_WATCHED, ic.poll_delay(watched))

    def test_unchanged_polls_count_up(self):
        t0 = ORIGINS[2]
        v = view()
        s = ic.observe(wait_state(t0), v, t0)
        self.assertEqual(0, s.polls_without_change)
        s = ic.observe(s, v, t0 + 1)
        s = ic.observe(s, v, t0 + 2)
        self.assertEqual(2, s.polls_without_change)
        self.assertEqual(t0, s.last_change)

    def test_wait_never_negative_nor_past_the_deadline(self):
        t0 = ORIGINS[0]
        busy = view(os_glance_importing_to_stores='site_a',
                    os_glance_import_task='t')
        s = dataclasses.replace(ic.observe(wait_state(t0, timeout=10), busy,
                                           t0), polls_without_change=30)
        step = ic.decide(s, busy, t0 + 9.5)
        self.assertAlmostEqual(0.5, step.delay)
        step = ic.decide(s, busy, t0 + 1)
        self.assertEqual(9.0, step.delay)


class TestPoolFolding(test.NoDBTestCase):

    def test_complete_restarts_the_confirm_count_once(self):
        t0 = ORIGINS[0]
        s = dataclasses.replace(wait_state(t0, watch_pool=True),
                                confirm_polls=4)
        s = ic.observe_pool(s, ic.PoolView(True, 10, True), t0 + 1)
        self.assertEqual(0, s.confirm_polls)
        self.assertTrue(ic.confirming(s))
        s = ic.observe_locations(s)
        s = ic.observe_pool(s, ic.PoolView(True, 10, True), t0 + 2)
        self.assertEqual(1, s.confirm_polls)
        self.assertTrue(s.view_stale)

    def test_confirm_polls_end_after_their_tries(self):
        s = ic.observe_pool(wait_state(ORIGINS[0], watch_pool=True),
                            ic.PoolView(True, 10, True), ORIGINS[0])
        for _ in range(ic.CONFIRM_TRIES - 1):
            s = ic.observe_locations(s)
        self.assertTrue(ic.confirming(s))
        self.assertTrue(ic.wake_early(s))
        s = ic.observe_locations(s)
        self.assertFalse(ic.confirming(s))
        self.assertFalse(ic.wake_early(s))
        # Then the image is read again before anything else.
        step = ic.decide(s, view(), ORIGINS[0] + 1)
        self.assertIs(ic.Action.WAIT, step.action)
        self.assertEqual(0.0, step.delay)

    def test_pool_progress_is_a_change_but_same_bytes_is_not(self):
        t0 = ORIGINS[1]
        s = ic.observe_pool(wait_state(t0, watch_pool=True),
                            ic.PoolView(True, 10), t0 + 1)
        self.assertEqual(t0 + 1, s.last_change)
        s = ic.observe_pool(s, ic.PoolView(True, 10), t0 + 2)
        self.assertEqual(t0 + 1, s.last_change)
        s = ic.observe_pool(s, ic.PoolView(True, 20), t0 + 3)
        self.assertEqual(t0 + 3, s.last_change)

    def test_vanished_sticks_until_a_request(self):
        t0 = ORIGINS[1]
        s = ic.observe_pool(wait_state(t0, watch_pool=True),
                            ic.PoolView(True, 10), t0)
        s = ic.observe_pool(s, ic.PoolView(False), t0 + 1)
        self.assertTrue(s.pool_vanished)
        s = ic.observe_pool(s, ic.PoolView(False), t0 + 2)
        self.assertTrue(s.pool_vanished)
        self.assertTrue(ic.wake_early(s))
        s = ic.requested(s, t0 + 3)
        self.assertFalse(s.pool_vanished)
        self.assertFalse(s.pool_seen)
        self.assertEqual(1, s.requests)
        # Reading the image clears it.
        s = ic.observe_pool(s, ic.PoolView(True, 1), t0 + 4)
        s = ic.observe_pool(s, ic.PoolView(False), t0 + 5)
        s = ic.observe(s, view(), t0 + 6)
        self.assertFalse(s.pool_vanished)

    def test_pool_view_from_progress(self):
        p = ic.PoolView.from_progress(rbd_multistore.CopyProgress(
            exists=True, written_bytes=None, snapshot_protected=True))
        self.assertEqual(ic.PoolView(True, 0, True), p)


class TestStoreAndLocations(test.NoDBTestCase):

    def test_preferred_store_wins_even_when_listed_last(self):
        locations = [
            {'url': 'rbd://%s/other/img-1/snap' % FSID_A,
             'metadata': {'store': 'site_a_old'}},
            {'url': 'rbd://%s/nostore/img-1/snap' % FSID_A},
            {'url': 'rbd://%s/images/img-1/snap' % FSID_B,
             'metadata': {'store': 'site_b'}},
            {'url': 'rbd://%s/images/img-1/snap' % FSID_A,
             'metadata': {'store': 'site_a'}},
        ]
        found = ic.local_locations(locations, FSID_A,
                                   rbd_multistore.parse_location,
                                   preferred_store='site_a')
        self.assertEqual(['images', 'other', 'nostore'],
                         [loc.pool for loc in found])
        picked = ic.pick_local_location(locations, FSID_A,
                                        rbd_multistore.parse_location,
                                        preferred_store='site_a')
        self.assertEqual('images', picked.pool)
        self.assertEqual(FSID_A, picked.fsid)
        # Without a preference the input order is kept.
        stored = [loc for loc in locations if loc.get('metadata')]
        found = ic.local_locations(stored, FSID_A,
                                   rbd_multistore.parse_location)
        self.assertEqual(['other', 'images'], [loc.pool for loc in found])

    def test_no_local_location_picks_none(self):
        self.assertIsNone(ic.pick_local_location(
            [{'url': 'file:///x', 'metadata': {}}], FSID_A,
            rbd_multistore.parse_location, 'site_a'))
        self.assertIsNone(ic.pick_local_location(
            None, FSID_A, rbd_multistore.parse_location))

    def test_store_of(self):
        self.assertEqual('s', ic.store_of({'metadata': {'store': 's'}}))
        self.assertIsNone(ic.store_of({'metadata': None}))
        self.assertIsNone(ic.store_of({}))

    def test_file_store_as_target_is_refused(self):
        self.assertRaises(ic.GlanceStoreNotRbd, ic.check_store, 'img-1',
                          'central', {'type': 'file', 'properties': {}},
                          FSID_A)

    def test_store_of_unknown_type_is_checked_by_cluster_only(self):
        detail = {'type': None, 'properties': {'pool': 'images',
                                               'fsid': FSID_A}}
        self.assertEqual('images',
                         ic.check_store('img-1', 'site_a', detail, FSID_A))
        detail['properties']['fsid'] = FSID_B
        self.assertRaises(ic.GlanceStoreWrongCluster, ic.check_store,
                          'img-1', 'site_a', detail, FSID_A)

    def test_unknown_local_fsid_trusts_the_store(self):
        detail = {'type': 'rbd', 'properties': {'pool': 'p', 'fsid': FSID_B}}
        self.assertEqual('p', ic.check_store('img-1', 's', detail, None))
        self.assertIsNone(ic.check_store('img-1', 's',
                                         {'type': 'rbd'}, FSID_A))

    def test_deactivated_image_is_not_ready(self):
        self.assertRaises(ic.ImageNotReady, ic.check_bootable,
                          view(status='deactivated'))
        e = self.assertRaises(ic.ImageNotRaw, ic.check_bootable,
                              view(disk_format=''))
        self.assertIn('disk_format unset', str(e))
        self.assertIsInstance(e, exception.ImageUnacceptable)

    def test_no_location_reasons_keep_every_reason(self):
        text = ic.no_location_reason(FSID_A, ['a: x', 'b: y'], True)
        self.assertIn('(a: x; b: y)', text)
        self.assertIn('no copy into', ic.no_location_reason(
            FSID_A, store_set=True))

    def test_store_lists_from_lists_and_strings(self):
        self.assertEqual(frozenset({'a', 'b'}),
                         ic.split_stores(['a', ' b ', '', None, ' ']))
        self.assertEqual(frozenset({'a', 'b'}), ic.split_stores(' a,,b, '))
        self.assertEqual(frozenset(), ic.split_stores(None))

    def test_empty_top_level_value_falls_back_to_properties(self):
        v = ic.ImageView.from_image({'id': '', 'stores': '',
                                     'properties': {'stores': 'site_a'}},
                                    'img-9')
        self.assertEqual('img-9', v.image_id)
        self.assertEqual(frozenset({'site_a'}), v.stores)
        self.assertEqual(0, v.size)

    def test_newest_task_ignores_other_types_and_cleans_text(self):
        tasks = [
            {'id': 'a', 'type': 'api_image_import', 'status': 'failure',
             'created_at': '2026-01-01T00:00:02Z',
             'message': 'one<br />  two'},
            {'id': 'b', 'type': 'import', 'status': 'success',
             'created_at': '2026-01-01T00:00:09Z'},
            {'id': 'c', 'status': 'processing',
             'created_at': '2026-01-01T00:00:01Z'},
        ]
        task = ic.TaskView.newest(tasks)
        self.assertEqual(ic.TaskView('a', 'failure', 'one two'), task)
        self.assertIsNone(ic.TaskView.newest([tasks[1]]))
        self.assertIsNone(ic.TaskView.newest(None))


class TestSurvivorsOfTheWait(test.NoDBTestCase):
    """Survivors of a mutation run of the wait's later shape."""

    def test_unwatchable_pool_forgets_everything_it_showed(self):
        s = dataclasses.replace(wait_state(ORIGINS[0], watch_pool=True),
                                pool_seen=True, pool_complete=True,
                                pool_vanished=True)
        s = ic.pool_unwatchable(s)
        self.assertIs(False, s.watch_pool)
        self.assertIs(False, s.pool_seen)
        self.assertIs(False, s.pool_complete)
        self.assertIs(False, s.pool_vanished)
        self.assertFalse(ic.wake_early(s))

    def test_timeout_before_any_glance_answer_names_image_and_store(self):
        t0 = ORIGINS[0]
        s = wait_state(t0, timeout=30)
        e = ic.timeout_error(s, None, t0 + 30, image_id='img-9')
        self.assertIsInstance(e, ic.ImageCopyTimeout)
        text = str(e)
        self.assertIn('img-9', text)
        self.assertIn('store site_a', text)
        self.assertIn('no import was running at the end', text)
        self.assertNotIn('holds the image', text)

    def test_newest_counts_a_task_without_type_as_an_import(self):
        tasks = [
            {'id': 'a', 'type': 'api_image_import', 'status': 'success',
             'created_at': '2026-01-01T00:00:01Z'},
            {'id': 'b', 'status': 'processing',
             'created_at': '2026-01-01T00:00:05Z'},
        ]
        self.assertEqual('b', ic.TaskView.newest(tasks).task_id)

    def test_no_location_reason_without_a_store_names_the_option(self):
        text = ic.no_location_reason(FSID_A)
        self.assertIn('images_rbd_glance_store_name is not set', text)
        self.assertIn(FSID_A, text)
