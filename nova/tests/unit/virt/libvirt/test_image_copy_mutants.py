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

"""Copy-to-store decisions that the mutation run of issue 15 found
unchecked (tools/mutation.sh): what a new copy request forgets of the
attempt before it, the errors' names, which location is the image's own,
the age and order of import tasks.
"""

import dataclasses
import datetime

from nova import test
from nova.tests.unit.virt.libvirt import test_image_copy_edges as edges
from nova.virt.libvirt import image_copy as ic

IMG = '5e1c0a7e-0000-4000-8000-00000000e0e1'
OTHER = '5e1c0a7e-0000-4000-8000-00000000e0e2'
FSID_A = edges.FSID_A
WALL = datetime.datetime(2026, 3, 1, 12, 0, 0)


def loc(fsid, pool, image_id, store=None):
    return {'url': 'rbd://%s/%s/%s/snap' % (fsid, pool, image_id),
            'metadata': {'store': store} if store else {}}


def parse(url):
    from nova.storage import rbd_multistore
    return rbd_multistore.parse_location(url)


class TestNewRequestForgetsTheLastAttempt(test.NoDBTestCase):
    """A new copy request starts a new attempt: what the pool showed of
    the last one is no news about this one.
    """

    def attempt_seen(self, t0, **kw):
        state = edges.wait_state(t0, watch_pool=True)
        state = ic.observe_pool(state, ic.PoolView(True, 64, True), t0 + 1)
        return dataclasses.replace(state, **kw) if kw else state

    def test_complete_pool_of_the_last_attempt_is_not_confirmed(self):
        for t0 in edges.ORIGINS:
            state = ic.requested(self.attempt_seen(t0, confirm_polls=3),
                                 t0 + 2)
            self.assertFalse(ic.confirming(state))
            self.assertFalse(ic.wake_early(state))
            self.assertIs(False, state.pool_complete)
            self.assertEqual(0, state.confirm_polls)

    def test_pool_empty_after_a_request_is_not_a_vanished_copy(self):
        for t0 in edges.ORIGINS:
            state = ic.requested(self.attempt_seen(t0), t0 + 2)
            self.assertIs(False, state.pool_seen)
            state = ic.observe_pool(state, ic.PoolView(False), t0 + 3)
            self.assertIs(False, state.pool_vanished)
            self.assertFalse(ic.wake_early(state))

    def test_vanished_copy_of_the_last_attempt_is_forgotten(self):
        for t0 in edges.ORIGINS:
            state = self.attempt_seen(t0)
            state = ic.observe_pool(state, ic.PoolView(False), t0 + 2)
            self.assertTrue(state.pool_vanished)
            state = ic.requested(state, t0 + 3)
            self.assertIs(False, state.pool_vanished)
            self.assertFalse(ic.wake_early(state))

    def test_location_reads_count_from_the_request(self):
        for t0 in edges.ORIGINS:
            state = ic.requested(self.attempt_seen(t0, confirm_polls=4),
                                 t0 + 2)
            # Glance lists the store before its location is readable.
            state = ic.observe_locations(state)
            self.assertEqual(1, state.confirm_polls)
            self.assertEqual(1, state.requests)
            self.assertEqual(t0 + 2, state.requested_at)


class TestErrorsNameImageAndStore(test.NoDBTestCase):

    def test_store_not_rbd(self):
        e = self.assertRaises(ic.GlanceStoreNotRbd, ic.check_store, IMG,
                              'central', {'type': 'file'}, FSID_A)
        self.assertIn(IMG, str(e))
        self.assertIn('central', str(e))
        self.assertIn('file store', str(e))

    def test_store_in_another_cluster(self):
        e = self.assertRaises(
            ic.GlanceStoreWrongCluster, ic.check_store, IMG, 'site_b',
            {'type': 'rbd', 'properties': {'fsid': edges.FSID_B}}, FSID_A)
        for word in (IMG, 'site_b', edges.FSID_B, FSID_A):
            self.assertIn(word, str(e))

    def dead(self, age):
        t0 = 1e6
        state = edges.wait_state(t0, stall_timeout=120)
        task = ic.TaskView(task_id='task-9', status='processing', message='',
                           updated_at=WALL, age=age)
        v = edges.view(id=IMG, os_glance_import_task='task-9')
        state = ic.observe(ic.task_checked(state, t0), v, t0, task)
        return ic.dead_task_error(state, v, t0 + 20, state.holder)

    def test_dead_task_names_image_store_and_release(self):
        msg = str(self.dead(age=600))
        self.assertIn(IMG, msg)
        self.assertIn('store site_a', msg)
        self.assertIn('task-9 (processing)', msg)
        self.assertIn('at 2026-03-01 13:00:00 UTC (60 minutes', msg)
        # 3600 - 600 s left: 50 minutes.
        self.assertIn('about 50 minutes from now', msg)

    def test_dead_task_past_glance_s_ttl_is_released_now(self):
        msg = str(self.dead(age=3590))
        self.assertIn('about 0 minutes from now', msg)
        msg = str(self.dead(age=5000))
        self.assertIn('about 0 minutes from now', msg)

    def test_timeout_after_a_fault_keeps_what_glance_showed(self):
        t0 = 1e6
        state = edges.wait_state(t0, timeout=60)
        v = edges.view(id=IMG, os_glance_import_task='task-7')
        state = ic.glance_failed(state, t0 + 61, 'HTTP 503: busy')
        step = ic.after_glance_failure(state, v, t0 + 61, IMG)
        self.assertEqual(ic.Action.FAIL, step.action)
        msg = str(step.error)
        self.assertIn('import task task-7 holds the image', msg)
        self.assertIn('HTTP 503: busy', msg)
        self.assertIn(IMG, msg)


class TestOwnLocationOnly(test.NoDBTestCase):
    """Only the image's own RBD image, in the store's pool, is cloned."""

    def test_another_image_in_this_cluster_is_not_ours(self):
        locations = [loc(FSID_A, 'images', OTHER, 'site_a'),
                     loc(FSID_A, 'images', IMG, 'central')]
        found = ic.pick_local_location(locations, FSID_A, parse,
                                       preferred_store='site_a',
                                       image_id=IMG, pool='images')
        self.assertEqual(IMG, found.image)
        self.assertEqual('images', found.pool)

    def test_another_pool_is_not_the_store_s(self):
        locations = [loc(FSID_A, 'other', IMG, 'site_a')]
        self.assertIsNone(ic.pick_local_location(
            locations, FSID_A, parse, preferred_store='site_a',
            image_id=IMG, pool='images'))
        # Without a known pool, any pool of this cluster.
        self.assertEqual('other', ic.pick_local_location(
            locations, FSID_A, parse, preferred_store='site_a',
            image_id=IMG).pool)

    def test_store_of_anything_but_a_dict(self):
        for value in ('rbd://x', None, ['metadata'], 3):
            self.assertIsNone(ic.store_of(value))


class TestTasks(test.NoDBTestCase):

    def task(self, task_id, created, updated=None, status='processing'):
        return {'id': task_id, 'type': 'api_image_import', 'status': status,
                'message': '', 'created_at': created,
                'updated_at': updated}

    def test_a_task_without_creation_time_is_the_oldest(self):
        tasks = [self.task('dated', '2026-03-01T11:00:00Z'),
                 self.task('undated', None)]
        self.assertEqual('dated', ic.TaskView.newest(tasks).task_id)
        self.assertEqual('dated', ic.TaskView.newest(tasks[::-1]).task_id)

    def test_newest_is_aged_at_the_wall_time(self):
        tasks = [self.task('t', '2026-03-01T11:00:00Z',
                           '2026-03-01T11:59:00Z')]
        task = ic.TaskView.newest(tasks, WALL)
        self.assertEqual(60.0, task.age)
        self.assertEqual(datetime.datetime(2026, 3, 1, 11, 59),
                         task.updated_at)

    def test_age_of_a_task_updated_just_now_is_zero(self):
        task = ic.TaskView.from_task(
            self.task('t', '2026-03-01T12:00:00Z', '2026-03-01T12:00:00Z'),
            WALL)
        self.assertEqual(0.0, task.age)
        # A clock behind Glance's: never a negative age.
        task = ic.TaskView.from_task(
            self.task('t', '2026-03-01T12:00:05Z', '2026-03-01T12:00:05Z'),
            WALL)
        self.assertEqual(0.0, task.age)

    def test_task_without_id_or_status(self):
        task = ic.TaskView.from_task({}, WALL)
        self.assertEqual('', task.task_id)
        self.assertEqual('', task.status)
        self.assertIsNone(task.age)

    def test_times_that_are_not_text_fall_back_to_creation(self):
        task = ic.TaskView.from_task(
            {'id': 't', 'updated_at': 1234567,
             'created_at': '2026-03-01T11:00:00Z'}, WALL)
        self.assertEqual(3600.0, task.age)
        task = ic.TaskView.from_task(
            {'id': 't', 'updated_at': '', 'created_at': True}, WALL)
        self.assertIsNone(task.age)


class TestReferencesInMessages(test.NoDBTestCase):
    """An invalid image reference is shown printable, short and quoted."""

    def shown(self, ref):
        e = self.assertRaises(ic.InvalidImageReference, ic.image_id_of, ref)
        return str(e).split(' is neither')[0][len('Image reference '):]

    def test_unprintable_characters(self):
        self.assertEqual("'rbd://a?b'", self.shown('rbd://a\x00b'))
        self.assertEqual("'not?an?id'", self.shown('not\nan\tid'))

    def test_length(self):
        self.assertEqual(repr('x' * 100), self.shown('x' * 100))
        self.assertEqual(repr('x' * 100 + '...'), self.shown('x' * 101))
        self.assertEqual(repr('x' * 100 + '...'), self.shown('x' * 150))

    def test_not_a_string(self):
        self.assertEqual("'<int>'", self.shown(42))
        self.assertEqual("'<NoneType>'", self.shown(None))

    def test_urls(self):
        self.assertEqual(IMG, ic.image_id_of(
            'https://glance.example/v2/images/%s/' % IMG))
        self.assertEqual("'http://glance.example'",
                         self.shown('http://glance.example'))
        self.assertEqual("'file:///%s'" % IMG, self.shown('file:///' + IMG))
        # Only slashes end the path: a tail that is not a UUID is refused.
        for tail in ('X', 'XX/', '.iso'):
            self.shown('https://glance.example/v2/images/%s%s' % (IMG, tail))


class TestReadChecks(test.NoDBTestCase):

    def test_not_a_record(self):
        e = self.assertRaises(
            ic.glance_multistore.GlanceUnexpectedAnswer,
            ic.check_read_image, ['<html>'], IMG)
        self.assertIn("answer to show for image %s" % IMG, str(e))
        self.assertIn('not an image record (list)', str(e))

    def test_another_image(self):
        e = self.assertRaises(
            ic.glance_multistore.GlanceUnexpectedAnswer,
            ic.check_read_image, {'id': OTHER}, IMG)
        self.assertIn("answer to show for image %s" % IMG, str(e))
        self.assertIn("another image, '%s'" % OTHER, str(e))

    def test_store_url(self):
        for value in ('rbd://x', None, {'url': 5}, {'url': None}, {}):
            self.assertEqual('', ic.store_url(value))
        self.assertEqual('rbd://x', ic.store_url({'url': 'rbd://x'}))


class TestUntilDead(test.NoDBTestCase):
    """A wait never sleeps past the moment the holder would be dead, nor
    wakes early for a holder that cannot die.
    """

    def state(self, t0, task, checked_at=None, view_task='task-1'):
        state = edges.wait_state(t0, stall_timeout=120, max_interval=60,
                                 polls_without_change=20,
                                 last_change=t0 - 50, holder=task,
                                 task_checked_at=(t0 if checked_at is None
                                                  else checked_at))
        return state, edges.view(id=IMG, os_glance_import_task=view_task)

    def task(self, age, status='processing'):
        # Writing into the store: no staging allowance (stall_bound).
        return ic.TaskView(task_id='task-1', status=status,
                           message='Copied 8 MiB', updated_at=WALL, age=age)

    def test_wakes_when_the_holder_would_be_dead(self):
        for t0 in edges.ORIGINS:
            state, v = self.state(t0, self.task(100))
            step = ic.decide(state, v, t0)
            self.assertEqual(ic.Action.WAIT, step.action)
            self.assertAlmostEqual(20.0, step.delay, delta=0.05)
            # Read 5 s ago: 5 s older now.
            step = ic.decide(state, v, t0 + 5)
            self.assertAlmostEqual(15.0, step.delay, delta=0.05)

    def test_half_a_second_before_the_holder_would_be_dead(self):
        for t0 in edges.ORIGINS:
            state, v = self.state(t0, self.task(119.5))
            step = ic.decide(state, v, t0)
            self.assertEqual(ic.Action.WAIT, step.action)
            self.assertGreater(step.delay, 0.5)
            self.assertLess(step.delay, 0.6)
            # Asleep that long, it is dead.
            later = ic.decide(state, v, t0 + step.delay)
            self.assertEqual(ic.Action.FAIL, later.action)
            self.assertIsInstance(later.error, ic.ImageCopyStalled)

    def test_a_finished_holder_cannot_die(self):
        for t0 in edges.ORIGINS:
            state, v = self.state(t0, self.task(200, status='success'))
            step = ic.decide(state, v, t0 + 1)
            self.assertEqual(ic.Action.WAIT, step.action)
            self.assertEqual(60.0, step.delay)


class TestPoolUnwatchable(test.NoDBTestCase):
    """A pool that cannot be read, without a reason given: no Ceph fault
    is blamed for a dead task or a timeout.
    """

    def test_no_reason_blames_nothing(self):
        t0 = 1e6
        state = ic.pool_unwatchable(edges.wait_state(t0, watch_pool=True))
        self.assertFalse(state.watch_pool)
        self.assertEqual('', state.pool_error)
        self.assertFalse(state.pool_timed_out)
        task = ic.TaskView(task_id='task-9', status='processing', message='',
                           updated_at=WALL, age=600)
        v = edges.view(id=IMG, os_glance_import_task='task-9')
        state = ic.observe(ic.task_checked(state, t0), v, t0, task)
        error = ic.dead_task_error(state, v, t0 + 20, state.holder)
        self.assertNotIsInstance(error, ic.ImageCopyStuckInCeph)
        self.assertIsInstance(error, ic.ImageCopyStalled)
        msg = str(ic.timeout_error(state, v, t0 + 700))
        self.assertNotIn('pool could not be read', msg)


class TestBackoffsEndOnTime(test.NoDBTestCase):
    """A backoff shorter than the next Glance poll ends on time, far from
    the clock's origin too.
    """

    def idle(self, state):
        # Glance polled often without change: the next poll is far off.
        return dataclasses.replace(state, polls_without_change=10)

    def test_after_a_failed_copy(self):
        for t0 in edges.ORIGINS:
            failed = edges.view(id=IMG, os_glance_failed_import='site_a')
            state = ic.requested(edges.wait_state(t0), t0)
            state = ic.observe(state, failed, t0 + 2, edges.failed_task())
            state = self.idle(state)
            step = ic.decide(state, failed, t0 + 3,
                             task=edges.failed_task())
            self.assertEqual(ic.Action.WAIT, step.action)
            self.assertAlmostEqual(1.0, step.delay, delta=1e-6)

    def test_after_a_failed_copy_without_a_visible_task(self):
        for t0 in edges.ORIGINS:
            failed = edges.view(id=IMG, os_glance_failed_import='site_a')
            state = ic.requested(edges.wait_state(t0), t0)
            state = self.idle(ic.observe(state, failed, t0 + 0.5))
            step = ic.decide(state, failed, t0 + 1)
            self.assertEqual(ic.Action.WAIT, step.action)
            # retry_backoff(1 request) after the request.
            self.assertAlmostEqual(1.0, step.delay, delta=1e-6)

    def test_after_409s(self):
        for t0 in edges.ORIGINS:
            state = edges.wait_state(t0)
            for _ in range(3):
                state = ic.conflicted(state, t0)
            self.assertEqual(t0 + 2.0, state.not_before)
            step = ic.decide(self.idle(state), edges.view(id=IMG), t0 + 1)
            self.assertEqual(ic.Action.WAIT, step.action)
            self.assertAlmostEqual(1.0, step.delay, delta=1e-6)


class TestDefaults(test.NoDBTestCase):

    def test_new_wait_state(self):
        state = ic.new_wait_state('site_a', 1e6, 600, 2)
        self.assertEqual(15.0, state.max_interval)
        self.assertEqual(300.0, state.stall_timeout)
        self.assertIs(False, state.watch_pool)
        self.assertEqual(1e6 + 600, state.deadline)

    def test_not_raw_names_the_image(self):
        e = self.assertRaises(ic.ImageNotRaw, ic.check_bootable,
                              edges.view(id=IMG, disk_format='qcow2'))
        self.assertIn(IMG, str(e))
        self.assertIn('qcow2', str(e))
