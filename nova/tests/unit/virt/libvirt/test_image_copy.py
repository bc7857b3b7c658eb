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

"""Unit tests for the copy-to-store decisions: plain functions, no I/O.

Times are offsets from T0, far from 0, so that a ``now - t`` written as
``now + t`` shows.
"""

import dataclasses
import datetime

from nova import exception
from nova.storage import rbd_multistore
from nova import test
from nova.virt.libvirt import image_copy as ic

FSID_A = 'aaaaaaaa-0000-4000-8000-000000000001'
FSID_B = 'bbbbbbbb-0000-4000-8000-000000000002'
T0 = 1e6


def image(**props):
    """Nova's image dict: schema keys on top, os_glance_* in properties."""
    base = {'id': 'img-1', 'status': 'active', 'disk_format': 'raw',
            'size': 64 << 20, 'stores': 'central', 'properties': {}}
    for key in ('id', 'status', 'disk_format', 'size', 'stores'):
        if key in props:
            base[key] = props.pop(key)
    base['properties'].update(props)
    return base


def view(**kw):
    return ic.ImageView.from_image(image(**kw))


def state(now=0.0, timeout=600, retries=2, **kw):
    s = ic.new_wait_state('site_a', T0 + now, timeout, retries,
                          max_interval=kw.pop('max_interval', 15),
                          stall_timeout=kw.pop('stall_timeout', 120),
                          watch_pool=kw.pop('watch_pool', False))
    return dataclasses.replace(s, **kw) if kw else s


def observe(s, v, t, task=None):
    return ic.observe(s, v, T0 + t, task)


def decide(s, v, t, **kw):
    return ic.decide(s, v, T0 + t, **kw)


def pool(exists=True, written=0, complete=False):
    return ic.PoolView(exists=exists, written_bytes=written,
                       complete=complete)


class TestImageView(test.NoDBTestCase):

    def test_split_stores(self):
        self.assertEqual(frozenset(), ic.split_stores(None))
        self.assertEqual(frozenset(), ic.split_stores(''))
        self.assertEqual({'a', 'b'}, ic.split_stores('a, b,'))
        self.assertEqual({'a'}, ic.split_stores(['a', '']))

    def test_reads_import_keys_under_properties(self):
        # Where Nova's _extract_attributes_v2 puts keys outside the schema.
        v = view(stores='central,site_b',
                 os_glance_importing_to_stores='site_a',
                 os_glance_failed_import='', os_glance_import_task='t-1')
        self.assertEqual({'central', 'site_b'}, v.stores)
        self.assertEqual({'site_a'}, v.importing)
        self.assertEqual(frozenset(), v.failed)
        self.assertEqual('t-1', v.task_id)

    def test_reads_top_level_keys_too(self):
        v = ic.ImageView.from_image({'id': 'x', 'status': 'active',
                                     'os_glance_failed_import': 'site_a'})
        self.assertEqual({'site_a'}, v.failed)

    def test_absent_keys_are_empty_and_id_defaults(self):
        v = ic.ImageView.from_image({'disk_format': 'raw'}, 'img-9')
        self.assertEqual(('img-9', '', frozenset(), ''),
                         (v.image_id, v.status, v.importing, v.task_id))

    def test_pool_view_from_copy_progress(self):
        p = ic.PoolView.from_progress(rbd_multistore.CopyProgress(
            exists=True, written_bytes=5, snapshot_protected=True, size=9))
        self.assertEqual(pool(True, 5, True), p)


class TestLocations(test.NoDBTestCase):

    parse = staticmethod(rbd_multistore.parse_location)

    def test_local_locations_of_our_store_first(self):
        locs = [
            {'url': 'file:///var/lib/glance/x',
             'metadata': {'store': 'central'}},
            {'url': 'rbd://%s/images/x/snap' % FSID_B,
             'metadata': {'store': 'site_b'}},
            {'url': 'rbd://%s/other/x/snap' % FSID_A,
             'metadata': {'store': 'extra'}},
            {'url': 'rbd://%s/images/x/snap' % FSID_A,
             'metadata': {'store': 'site_a'}},
        ]
        found = ic.local_locations(locs, FSID_A, self.parse,
                                   preferred_store='site_a')
        self.assertEqual(['images', 'other'], [loc.pool for loc in found])
        self.assertEqual('images', ic.pick_local_location(
            locs, FSID_A, self.parse, preferred_store='site_a').pool)
        # Without a preference, Glance's order stands.
        self.assertEqual('other', ic.pick_local_location(
            locs, FSID_A, self.parse).pool)

    def test_other_cluster_file_and_malformed_are_not_local(self):
        locs = [{'url': 'rbd://%s/images/x/snap' % FSID_B},
                {'url': 'file:///x'}, {'url': 'rbd://broken'}, {}]
        self.assertIsNone(ic.pick_local_location(locs, FSID_A, self.parse))
        self.assertEqual([], ic.local_locations(None, FSID_A, self.parse))


class TestCheckStore(test.NoDBTestCase):

    def test_unknown_detail_is_not_checked(self):
        self.assertIsNone(ic.check_store('img', 'site_a', None, FSID_A))

    def test_rbd_store_in_our_cluster_gives_its_pool(self):
        detail = {'id': 'site_a', 'type': 'rbd',
                  'properties': {'pool': 'images', 'fsid': FSID_A}}
        self.assertEqual('images',
                         ic.check_store('img', 'site_a', detail, FSID_A))

    def test_store_without_fsid_is_trusted(self):
        detail = {'type': 'rbd', 'properties': {'pool': 'images'}}
        self.assertEqual('images',
                         ic.check_store('img', 'site_a', detail, FSID_A))

    def test_other_cluster_is_refused_with_the_fix(self):
        detail = {'type': 'rbd', 'properties': {'pool': 'p', 'fsid': FSID_B}}
        e = self.assertRaises(ic.GlanceStoreWrongCluster, ic.check_store,
                              'img', 'site_b', detail, FSID_A)
        self.assertIsInstance(e, exception.ImageUnacceptable)
        msg = str(e)
        self.assertIn(FSID_B, msg)
        self.assertIn(FSID_A, msg)
        self.assertIn('images_rbd_glance_store_name', msg)

    def test_file_store_is_refused(self):
        e = self.assertRaises(ic.GlanceStoreNotRbd, ic.check_store, 'img',
                              'central', {'type': 'file'}, FSID_A)
        self.assertIsInstance(e, exception.ImageUnacceptable)
        self.assertIn('file store, not rbd', str(e))


class TestCheckBootable(test.NoDBTestCase):

    def test_active_raw_is_fine(self):
        ic.check_bootable(view())

    def test_queued_is_not_ready(self):
        e = self.assertRaises(ic.ImageNotReady, ic.check_bootable,
                              view(status='queued'))
        self.assertIsInstance(e, exception.ImageUnacceptable)
        self.assertIn('queued', str(e))

    def test_no_status_is_left_to_the_locations(self):
        ic.check_bootable(ic.ImageView.from_image({'disk_format': 'raw'}))

    def test_qcow2_is_refused_with_the_fix(self):
        e = self.assertRaises(ic.ImageNotRaw, ic.check_bootable,
                              view(disk_format='qcow2'))
        self.assertIsInstance(e, exception.ImageUnacceptable)
        self.assertIn('qemu-img convert', str(e))

    def test_iso_is_accepted_as_upstream_does(self):
        # Upstream's Rbd.clone accepts raw and iso.
        ic.check_bootable(view(disk_format='iso'))

    def test_unset_format_is_refused(self):
        e = self.assertRaises(ic.ImageNotRaw, ic.check_bootable,
                              view(disk_format=''))
        self.assertIn('unset', str(e))

    def test_every_error_is_image_unacceptable(self):
        # nova-compute falls back to a download (or aborts) on these only.
        for cls in (ic.ImageNotCloneable, ic.ImageNotReady, ic.ImageNotRaw,
                    ic.GlanceStoreNotRbd, ic.GlanceStoreWrongCluster,
                    ic.ImageCopyFailed, ic.ImageCopyTimeout):
            self.assertTrue(issubclass(cls, exception.ImageUnacceptable),
                            cls)

    def test_no_location_reason_names_the_option(self):
        self.assertIn('images_rbd_glance_store_name',
                      ic.no_location_reason(FSID_A))
        self.assertIn('snap gone', ic.no_location_reason(FSID_A,
                                                         ['snap gone']))
        self.assertIn('no copy', ic.no_location_reason(FSID_A,
                                                       store_set=True))


class TestObserve(test.NoDBTestCase):

    def test_importing_since_is_tracked_and_dropped(self):
        s = observe(state(), view(os_glance_importing_to_stores='site_a'), 1)
        s = observe(s, view(os_glance_importing_to_stores='site_a'), 3)
        self.assertEqual({'site_a': 2.0}, s.importing_for(T0 + 3))
        s = observe(s, view(), 4)
        self.assertEqual({}, s.importing_for(T0 + 4))

    def test_unchanged_polls_back_off_and_change_resets(self):
        s = state()
        for t in range(1, 13):
            s = observe(s, view(os_glance_import_task='t'), t)
        self.assertEqual(15.0, ic.poll_delay(s))
        self.assertEqual(1.0, ic.poll_delay(
            dataclasses.replace(s, max_interval=1.0)))
        self.assertEqual(T0 + 1, s.last_change)
        # Pool progress is progress (no stall) but does not make Glance
        # polls faster.
        s = ic.observe_pool(s, pool(written=1), T0 + 20)
        self.assertEqual(T0 + 20, s.last_change)
        self.assertEqual(15.0, ic.poll_delay(s))
        s = observe(s, view(os_glance_import_task='t2'), 21)
        self.assertEqual(ic.FIRST_POLL, ic.poll_delay(s))
        self.assertEqual(ic.FIRST_POLL_WATCHED, ic.poll_delay(
            dataclasses.replace(s, watch_pool=True)))

    def test_a_failed_task_counts_once(self):
        failed = view(os_glance_failed_import='site_a')
        task = ic.TaskView('t-1', 'failure', 'Task failed')
        s = observe(state(requests=1), failed, 1, task)
        s = observe(s, failed, 2, task)
        self.assertEqual({'t-1'}, s.failed_tasks)
        self.assertEqual(T0 + 1 + ic.retry_backoff(1), s.not_before)
        self.assertIn('Task failed', s.last_failure)
        s = observe(s, failed, 9, ic.TaskView('t-2', 'failure', 'again'))
        self.assertEqual({'t-1', 't-2'}, s.failed_tasks)

    def test_failure_marker_without_failed_task_is_not_counted(self):
        s = observe(state(requests=1),
                    view(os_glance_failed_import='site_a'), 1,
                    ic.TaskView('t-3', 'processing', ''))
        self.assertEqual(frozenset(), s.failed_tasks)

    def test_listed_at_is_kept_while_listed(self):
        listed = view(stores='central,site_a')
        s = observe(state(), listed, 1)
        s = observe(s, listed, 2)
        self.assertEqual(T0 + 1, s.listed_at)
        self.assertIsNone(observe(s, view(), 3).listed_at)


class TestObservePool(test.NoDBTestCase):

    def test_complete_pool_starts_the_confirm_polls(self):
        s = ic.observe_pool(state(watch_pool=True), pool(written=5), T0 + 1)
        self.assertFalse(ic.wake_early(s))
        s = ic.observe_pool(s, pool(written=9, complete=True), T0 + 2)
        self.assertTrue(ic.confirming(s))
        self.assertTrue(ic.wake_early(s))
        for _i in range(ic.CONFIRM_TRIES):
            s = ic.observe_locations(s)
        self.assertFalse(ic.confirming(s))
        # Still complete on the next look: no new burst of confirm polls.
        s = ic.observe_pool(s, pool(written=9, complete=True), T0 + 3)
        self.assertFalse(ic.wake_early(s))

    def test_vanished_image_wakes_until_glance_is_read(self):
        s = ic.observe_pool(state(watch_pool=True), pool(), T0 + 1)
        s = ic.observe_pool(s, pool(exists=False), T0 + 2)
        self.assertTrue(s.pool_vanished)
        self.assertTrue(ic.wake_early(s))
        s = observe(s, view(os_glance_failed_import='site_a'), 2)
        self.assertFalse(ic.wake_early(s))

    def test_never_seen_is_not_vanished(self):
        s = ic.observe_pool(state(watch_pool=True), pool(exists=False),
                            T0 + 1)
        self.assertFalse(ic.wake_early(s))

    def test_unwatchable_pool(self):
        s = ic.observe_pool(state(watch_pool=True), pool(complete=True),
                            T0 + 1)
        s = ic.pool_unwatchable(s)
        self.assertFalse(s.watch_pool)
        self.assertFalse(ic.wake_early(s))


class TestTaskView(test.NoDBTestCase):

    def test_newest_import_task(self):
        tasks = [
            {'id': 'old', 'type': 'api_image_import', 'status': 'failure',
             'created_at': '2026-01-01T00:00:00Z', 'message': 'a<br />b'},
            {'id': 'new', 'type': 'api_image_import', 'status': 'processing',
             'created_at': '2026-01-01T00:01:00Z'},
            {'id': 'other', 'type': 'import',
             'created_at': '2027-01-01T00:00:00Z'},
        ]
        newest = ic.TaskView.newest(tasks)
        self.assertEqual(('new', 'processing', ''),
                         (newest.task_id, newest.status, newest.message))
        self.assertEqual('a b', ic.TaskView.newest(tasks[:1]).message)
        self.assertIsNone(ic.TaskView.newest([]))

    def test_age_from_updated_at_else_created_at(self):
        now = datetime.datetime(2026, 1, 1, 0, 10, 0)
        task = ic.TaskView.from_task(
            {'id': 't', 'status': 'processing',
             'created_at': '2026-01-01T00:00:00Z',
             'updated_at': '2026-01-01T00:05:00.000000'}, now)
        self.assertEqual(300.0, task.age)
        self.assertEqual(datetime.datetime(2026, 1, 1, 0, 5), task.updated_at)
        task = ic.TaskView.from_task(
            {'id': 't', 'created_at': '2026-01-01T00:00:00+00:00',
             'updated_at': None}, now)
        self.assertEqual(600.0, task.age)

    def test_unreadable_times_give_no_age(self):
        now = datetime.datetime(2026, 1, 1)
        for value in (None, '', 'yesterday', 12, ['x']):
            task = ic.TaskView.from_task({'id': 't', 'updated_at': value,
                                          'message': 7}, now)
            self.assertIsNone(task.age)
            self.assertEqual('7', task.message)

    def test_find_the_holder(self):
        tasks = [{'id': 'a', 'status': 'success'},
                 {'id': 'b', 'status': 'processing'}]
        self.assertEqual('b', ic.TaskView.find(tasks, 'b').task_id)
        self.assertIsNone(ic.TaskView.find(tasks, 'c'))


class TestDecide(test.NoDBTestCase):

    def step(self, s, v, t=1, **kw):
        return decide(observe(s, v, t, kw.get('task')), v, t, **kw)

    def test_location_means_clone(self):
        step = self.step(state(), view(), location=object())
        self.assertEqual(ic.Action.CLONE, step.action)

    def test_nothing_going_on_means_request_then_a_quick_look(self):
        step = self.step(state(), view())
        self.assertEqual(ic.Action.REQUEST_COPY, step.action)
        self.assertEqual(ic.AFTER_REQUEST_POLL, step.delay)

    def test_not_bootable_fails_at_once(self):
        step = self.step(state(), view(disk_format='qcow2'))
        self.assertEqual(ic.Action.FAIL, step.action)
        self.assertIsInstance(step.error, ic.ImageNotRaw)

    def test_copy_running_means_wait(self):
        step = self.step(state(), view(os_glance_importing_to_stores='site_a',
                                       os_glance_import_task='t'))
        self.assertEqual(ic.Action.WAIT, step.action)
        self.assertEqual(ic.FIRST_POLL, step.delay)
        step = self.step(state(watch_pool=True),
                         view(os_glance_importing_to_stores='site_a',
                              os_glance_import_task='t'))
        self.assertEqual(ic.FIRST_POLL_WATCHED, step.delay)

    def test_other_import_holding_the_lock_means_wait_not_fail(self):
        # Another host copies to site_b: Glance would answer 409 now.
        step = self.step(state(), view(os_glance_importing_to_stores='site_b',
                                       os_glance_import_task='t-other'))
        self.assertEqual(ic.Action.WAIT, step.action)
        self.assertIn('t-other', step.reason)

    def test_lock_released_without_our_store_means_ask_again(self):
        s = observe(state(), view(os_glance_import_task='t-other'), 1)
        step = self.step(s, view(stores='central,site_b'), 2)
        self.assertEqual(ic.Action.REQUEST_COPY, step.action)

    def test_store_listed_without_location_yet_means_confirm_soon(self):
        step = self.step(state(), view(stores='central,site_a'))
        self.assertEqual((ic.Action.CONFIRM, ic.CONFIRM_POLL),
                         (step.action, step.delay))

    def test_pool_complete_means_confirm_before_glance_lists_it(self):
        s = ic.observe_pool(state(watch_pool=True), pool(complete=True),
                            T0 + 1)
        v = view(os_glance_importing_to_stores='site_a',
                 os_glance_import_task='t')
        step = decide(observe(s, v, 1), v, 1)
        self.assertEqual((ic.Action.CONFIRM, ic.CONFIRM_POLL),
                         (step.action, step.delay))
        for _i in range(ic.CONFIRM_TRIES):
            s = ic.observe_locations(s)
        # Glance still has not registered it: read the image again at once,
        # nothing is decided on the read from before the confirm polls.
        step = decide(s, v, 2)
        self.assertEqual((ic.Action.WAIT, 0.0), (step.action, step.delay))
        step = decide(observe(s, v, 2), v, 2)
        self.assertEqual(ic.Action.WAIT, step.action)
        self.assertGreater(step.delay, 0.0)

    def test_store_listed_without_readable_location_fails_after_grace(self):
        v = view(stores='central,site_a')
        s = observe(state(), v, 1)
        self.assertEqual(ic.Action.CONFIRM, decide(s, v, 1.1).action)
        step = decide(s, v, 1 + ic.LOCATION_GRACE)
        self.assertEqual(ic.Action.FAIL, step.action)
        self.assertIsInstance(step.error, ic.ImageNotCloneable)
        self.assertIn('locations API', str(step.error))
        self.assertIn('service_user', str(step.error))

    def test_recent_request_not_yet_visible_means_wait(self):
        s = state(requested_at=T0 + 0.5, requests=1)
        self.assertEqual(ic.Action.WAIT, self.step(s, view(), 1).action)
        self.assertEqual(ic.Action.REQUEST_COPY,
                         self.step(s, view(), 0.5 + ic.ACCEPT_GRACE).action)

    def test_failure_retries_after_backoff_then_gives_up(self):
        failed = view(os_glance_failed_import='site_a')
        s = state(retries=1, requests=1)
        s = observe(s, failed, 1, ic.TaskView('t1', 'failure', 'boom'))
        step = decide(s, failed, 1.5)
        self.assertEqual(ic.Action.WAIT, step.action)
        self.assertLessEqual(step.delay, 1.5)      # not past the backoff
        self.assertEqual(ic.Action.REQUEST_COPY, decide(s, failed, 3).action)
        # Glance accepted the retry but has not cleared the marker yet.
        step = decide(s, failed, 3.1, task=ic.TaskView('t2', 'pending', ''))
        self.assertEqual(ic.Action.WAIT, step.action)
        s = observe(s, failed, 5, ic.TaskView('t2', 'failure', 'boom again'))
        step = decide(s, failed, 5)
        self.assertEqual(ic.Action.FAIL, step.action)
        self.assertIsInstance(step.error, ic.ImageCopyFailed)
        msg = str(step.error)
        self.assertIn('2 time(s)', msg)
        self.assertIn('t2: boom again', msg)
        self.assertIn('Glance API log', msg)

    def test_zero_retries_fails_on_first_failure(self):
        failed = view(os_glance_failed_import='site_a')
        s = observe(state(retries=0, requests=1), failed, 1,
                    ic.TaskView('t1', 'failure', 'x'))
        self.assertEqual(ic.Action.FAIL, decide(s, failed, 1).action)

    def test_failed_retry_while_another_import_holds_the_image_waits(self):
        locked = view(os_glance_failed_import='site_a',
                      os_glance_import_task='t-other')
        s = observe(state(requests=1), locked, 1,
                    ic.TaskView('t1', 'failure', 'x'))
        self.assertEqual(ic.Action.WAIT, decide(s, locked, 9).action)

    def test_failure_from_before_our_request_means_ask_not_fail(self):
        # The store was repaired since; the marker is an earlier attempt's.
        failed = view(os_glance_failed_import='site_a')
        s = observe(state(retries=0), failed, 1,
                    ic.TaskView('old', 'failure', 'x'))
        self.assertEqual(frozenset(), s.failed_tasks)
        step = decide(s, failed, 1)
        self.assertEqual(ic.Action.REQUEST_COPY, step.action)
        self.assertIn('earlier copy', step.reason)
        locked = view(os_glance_failed_import='site_a',
                      os_glance_import_task='t')
        self.assertEqual(ic.Action.WAIT, decide(s, locked, 1).action)

    def test_our_request_makes_the_next_poll_quick(self):
        s = state()
        for t in range(1, 6):
            s = observe(s, view(), t)
        self.assertGreater(ic.poll_delay(s), ic.FIRST_POLL)
        s = ic.requested(s, T0 + 6)
        self.assertEqual((T0 + 6, 1), (s.requested_at, s.requests))
        self.assertEqual(ic.FIRST_POLL, ic.poll_delay(s))

    def test_timeout_names_importing_stores_and_task(self):
        v = view(os_glance_importing_to_stores='site_a',
                 os_glance_import_task='t9')
        s = observe(state(timeout=10), v, 2)
        s = dataclasses.replace(s, requests=1)
        step = decide(observe(s, v, 10), v, 10)
        self.assertEqual(ic.Action.FAIL, step.action)
        self.assertIsInstance(step.error, ic.ImageCopyTimeout)
        msg = str(step.error)
        self.assertIn('within 10 s', msg)
        self.assertIn('store site_a importing for 8 s', msg)
        self.assertIn('t9', msg)
        self.assertIn('images_rbd_glance_copy_timeout', msg)
        self.assertIn('asked Glance to copy 1 time(s)', msg)

    def test_waits_never_pass_the_deadline(self):
        v = view(os_glance_importing_to_stores='site_a',
                 os_glance_import_task='t')
        s = state(timeout=10)
        for t in range(1, 10):
            s = observe(s, v, t * 0.9)
        step = decide(s, v, 9.5)
        self.assertEqual(ic.Action.WAIT, step.action)
        self.assertAlmostEqual(0.5, step.delay)

    def test_stall_warning_is_due_once_per_period(self):
        v = view(os_glance_importing_to_stores='site_a',
                 os_glance_import_task='t')
        s = observe(state(stall_timeout=60), v, 1)
        self.assertIsNone(decide(observe(s, v, 50), v, 50).stalled)
        s = observe(s, v, 61)
        step = decide(s, v, 61)
        self.assertEqual(ic.Action.WAIT, step.action)
        self.assertEqual(60.0, step.stalled)
        s = ic.warned(s, T0 + 61)
        self.assertIsNone(decide(observe(s, v, 90), v, 90).stalled)
        self.assertEqual(120.0, decide(observe(s, v, 121), v, 121).stalled)

    def test_pool_progress_is_not_a_stall(self):
        v = view(os_glance_importing_to_stores='site_a',
                 os_glance_import_task='t')
        s = observe(state(stall_timeout=60, watch_pool=True), v, 1)
        s = ic.observe_pool(s, pool(written=100), T0 + 50)
        self.assertIsNone(decide(observe(s, v, 70), v, 70).stalled)


class TestFaultDecisions(test.NoDBTestCase):
    """Issue 12: deadlines, dead tasks, backoffs."""

    UPDATED = datetime.datetime(2026, 1, 1, 0, 0, 0)

    def holder(self, age, status='processing', task_id='t-1'):
        return ic.TaskView(task_id, status, '', updated_at=self.UPDATED,
                           age=age)

    def test_deadline_and_start_from_when_the_boot_asked(self):
        s = ic.new_wait_state('site_a', T0 + 20, 600, 2, deadline=T0 + 30,
                              started=T0)
        self.assertEqual((T0, T0 + 30), (s.started, s.deadline))
        step = decide(s, view(), 30)
        self.assertIs(ic.Action.FAIL, step.action)
        self.assertIn('within 30 s', str(step.error))

    def test_dead_holder_fails_with_its_lock_release(self):
        s = state(stall_timeout=120)
        v = view(os_glance_import_task='t-1',
                 os_glance_importing_to_stores='site_a')
        s = ic.task_checked(observe(s, v, 0, self.holder(300)), T0)
        self.assertEqual(self.holder(300), s.holder)
        # Not before this boot saw QUIET_CONFIRM seconds without change.
        step = decide(s, v, 5)
        self.assertIs(ic.Action.WAIT, step.action)
        self.assertLessEqual(step.delay, ic.QUIET_CONFIRM - 5)
        step = decide(s, v, ic.QUIET_CONFIRM)
        self.assertIs(ic.Action.FAIL, step.action)
        self.assertIsInstance(step.error, ic.ImageCopyStalled)
        self.assertIsInstance(step.error, exception.ImageUnacceptable)
        msg = str(step.error)
        self.assertIn('task t-1 (processing) was last updated 310 s ago',
                      msg)
        self.assertIn('at 2026-01-01 01:00:00 UTC (60 minutes', msg)
        self.assertIn('about 55 minutes from now', msg)

    def test_pending_holder_keeps_the_lock_two_hours(self):
        s = state(stall_timeout=120)
        v = view(os_glance_import_task='t-1')
        s = ic.task_checked(
            observe(s, v, 0, self.holder(300, 'pending')), T0)
        msg = str(decide(s, v, 20).error)
        self.assertIn('at 2026-01-01 02:00:00 UTC (120 minutes', msg)

    def test_live_holder_is_not_dead(self):
        s = state(stall_timeout=120)
        v = view(os_glance_import_task='t-1')
        # Writing into the store: no staging allowance (stall_bound).
        writing = ic.TaskView('t-1', 'processing', 'Copied 8 MiB',
                              updated_at=self.UPDATED, age=30)
        s = ic.task_checked(observe(s, v, 0, writing), T0)
        self.assertIsNot(ic.Action.FAIL, decide(s, v, 60).action)
        # ... until its age reaches the stall timeout without an update.
        self.assertIs(ic.Action.FAIL, decide(s, v, 90).action)

    def test_progress_in_the_pool_keeps_an_old_task_alive(self):
        s = state(stall_timeout=120, watch_pool=True)
        v = view(os_glance_import_task='t-1')
        s = ic.task_checked(observe(s, v, 0, self.holder(300)), T0)
        for t in range(0, 30, 2):
            s = ic.observe_pool(s, pool(written=t * 1000), T0 + t)
        self.assertIsNot(ic.Action.FAIL, decide(s, v, 29).action)

    def test_other_holders_and_finished_tasks_are_not_dead(self):
        s = state(stall_timeout=120)
        v = view(os_glance_import_task='t-2')
        s = ic.task_checked(observe(s, v, 0, self.holder(900)), T0)
        self.assertIsNone(s.holder)
        self.assertIsNot(ic.Action.FAIL, decide(s, v, 20).action)
        v = view(os_glance_import_task='t-1')
        s = ic.task_checked(
            observe(s, v, 0, self.holder(900, 'success')), T0)
        self.assertIsNot(ic.Action.FAIL, decide(s, v, 20).action)

    def test_tasks_are_read_for_a_new_holder_then_every_interval(self):
        s = state()
        v = view(os_glance_import_task='t-1')
        self.assertTrue(ic.wants_task(s, v, T0))
        s = ic.task_checked(s, T0)
        self.assertFalse(ic.wants_task(s, v, T0 + 1))
        self.assertTrue(ic.wants_task(s, v, T0 + ic.TASK_CHECK_INTERVAL))
        self.assertFalse(ic.wants_task(s, view(), T0 + 1))
        self.assertTrue(ic.wants_task(s, view(os_glance_failed_import=
                                              'site_a'), T0 + 1))

    def test_409_backs_off_before_asking_again(self):
        s = state(max_interval=15)
        v = view()
        self.assertIs(ic.Action.REQUEST_COPY, decide(s, v, 0).action)
        gaps = []
        for n in range(1, 7):
            s = ic.conflicted(s, T0)
            gaps.append(s.not_before - T0)
        self.assertEqual([0.5, 1, 2, 4, 8, 15], gaps)
        step = decide(s, v, 1)
        self.assertIs(ic.Action.WAIT, step.action)
        self.assertIn('409 6 time(s)', step.reason)
        self.assertIs(ic.Action.REQUEST_COPY, decide(s, v, 15).action)
        self.assertIn('409 (another import) 6 time(s)',
                      str(decide(s, v, 600).error))

    def test_transient_faults_back_off_until_the_deadline(self):
        s = state(timeout=60, max_interval=15)
        delays = []
        t = 0.0
        while True:
            s = ic.glance_failed(s, T0 + t, 'HTTP 503: restarting')
            step = ic.after_glance_failure(s, None, T0 + t, 'img-1')
            if step.action is ic.Action.FAIL:
                break
            delays.append(step.delay)
            t += step.delay
        self.assertEqual([0.5, 1, 2, 4, 8, 15, 15, 14.5], delays)
        self.assertEqual(60, t)
        self.assertIsInstance(step.error, ic.ImageCopyTimeout)
        self.assertIn('9 Glance request(s) failed, the last: HTTP 503',
                      str(step.error))
        self.assertIn('img-1', str(step.error))

    def test_an_answer_ends_the_streak_not_the_count(self):
        s = ic.glance_failed(state(), T0, 'x')
        s = ic.glance_failed(s, T0, 'x')
        s = ic.glance_answered(s)
        self.assertEqual((0, 2), (s.transient_streak, s.transient_total))
        s = ic.glance_failed(s, T0, 'x')
        self.assertEqual(0.5, s.read_not_before - T0)


class TestInputs(test.NoDBTestCase):
    """Issue 12 item 4."""

    IMG = '0c2f5a7e-3d4b-4e1f-9a8c-6b5d4e3f2a10'

    def test_image_ids(self):
        self.assertEqual(self.IMG, ic.image_id_of(self.IMG))
        self.assertEqual(self.IMG, ic.image_id_of(
            'https://glance.example.com:9292/v2/images/%s' % self.IMG))
        self.assertEqual(self.IMG, ic.image_id_of(
            'http://glance/v2/images/%s/' % self.IMG))
        for ref in ('img-1', '', None, 42, '../../etc/%s' % self.IMG,
                    'rbd://%s/images/%s/snap' % (FSID_A, self.IMG),
                    'file:///v2/images/%s' % self.IMG,
                    'http:///v2/images/%s' % self.IMG,
                    'http://glance/v2/images/nope',
                    self.IMG + '\n'):
            e = self.assertRaises(ic.InvalidImageReference, ic.image_id_of,
                                  ref)
            self.assertNotIn('\n', str(e))

    def test_long_references_are_cut_in_messages(self):
        e = self.assertRaises(ic.InvalidImageReference, ic.image_id_of,
                              'x' * 5000)
        self.assertLess(len(str(e)), 400)

    def test_read_answer_must_be_the_image(self):
        ic.check_read_image({'id': self.IMG}, self.IMG)
        ic.check_read_image({}, self.IMG)
        for answer in ({'id': 'other'}, '<html>', None, []):
            self.assertRaises(ic.glance_multistore.GlanceUnexpectedAnswer,
                              ic.check_read_image, answer, self.IMG)

    def test_only_the_images_own_rbd_image_counts(self):
        parse = rbd_multistore.parse_location
        own = {'url': 'rbd://%s/images/%s/snap' % (FSID_A, self.IMG),
               'metadata': {'store': 'site_a'}}
        other_image = {'url': 'rbd://%s/images/other/snap' % FSID_A}
        other_pool = {'url': 'rbd://%s/vms/%s/snap' % (FSID_A, self.IMG)}
        other_cluster = {'url': 'rbd://%s/images/%s/snap'
                                % (FSID_B, self.IMG)}
        junk = ['rbd://x', {'url': 7}, {'metadata': []}, 'string', None]
        locs = [other_image, other_pool, other_cluster, own] + junk
        found = ic.local_locations(locs, FSID_A, parse, image_id=self.IMG,
                                   pool='images')
        self.assertEqual([parse(own['url'])], found)
        # Without a known pool, the pool is not checked.
        self.assertEqual(2, len(ic.local_locations(
            locs, FSID_A, parse, image_id=self.IMG)))

    def test_image_view_ignores_wrong_types(self):
        v = ic.ImageView.from_image({'id': self.IMG, 'status': 3,
                                     'disk_format': ['raw'], 'size': '12',
                                     'properties': {
                                         'os_glance_import_task': {}}})
        self.assertEqual(('', '', 0, ''),
                         (v.status, v.disk_format, v.size, v.task_id))


class TestAllowFailure(test.NoDBTestCase):

    def test_a_success_task_with_our_store_failed_is_a_failure(self):
        # Measured on Glance 33: a copy-image with allow_failure=True whose
        # only store fails ends as status 'success', the store in
        # os_glance_failed_import.
        s = ic.requested(state(), T0)
        failed = view(os_glance_failed_import='site_a')
        s = observe(s, failed, 1, ic.TaskView('t1', 'success', ''))
        self.assertEqual({'t1'}, s.failed_tasks)
        step = decide(s, failed, 1.5)
        self.assertIs(ic.Action.WAIT, step.action)
        self.assertIn('backing off', step.reason)
