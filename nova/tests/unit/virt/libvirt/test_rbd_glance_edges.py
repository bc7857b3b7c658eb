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

"""Edge cases of the Rbd backend's copy and wait that mutation testing
found unchecked (tools/mutation.sh): the exact clone source, several clock
origins, a pool watch that fails, Nova's per-image lock held by another
process, and the guards before a copy.
"""

import errno
import os
import subprocess
import sys
import threading
from unittest import mock

import fixtures
from oslo_utils.fixture import uuidsentinel as uuids

from nova import exception
from nova.storage import rbd_multistore
from nova.storage import rbd_utils
from nova.tests.unit.storage import test_rbd_multistore as ms_base
from nova.tests.unit.virt.libvirt import glance_copy_sim as sim
from nova.tests.unit.virt.libvirt import test_rbd_glance as base
from nova.virt.libvirt import image_copy
from nova.virt.libvirt import rbd_glance

# The image of every test here (not the simulator's default, so that these
# tests do not depend on it).
IMG = '5e1c0a7e-0000-4000-8000-00000000e0e1'
SITE_A_URL = 'rbd://%s/images/%s/snap' % (sim.FSID_A, IMG)
OLD_URL = 'rbd://%s/old/%s/snap' % (sim.FSID_A, IMG)
ORIGINS = (1e6, 12345.678, 7.5e8)
URL_OF_IMG = 'rbd://%s/images/%s/snap' % (ms_base.FSID, IMG)

# Holds Nova's per-image copy lock in another process until stdin closes.
HOLD_LOCK = """
import sys
from oslo_concurrency import lockutils
with lockutils.external_lock(sys.argv[1], lock_file_prefix='nova-',
                             lock_path=sys.argv[2]):
    print('held', flush=True)
    sys.stdin.read()
"""


class RbdTimeout(ms_base.RbdError):
    """librbd's Timeout: an OSError of errno ETIMEDOUT."""

    errno = errno.ETIMEDOUT


class PickyRbd(sim.SimRbd):
    """Clones only the urls in ``cloneable``."""

    def __init__(self, glance, cloneable):
        super().__init__(glance)
        self.cloneable = cloneable

    def why_not_cloneable(self, location, image_meta):
        self.calls['why_not_cloneable'] += 1
        if location.url in self.cloneable:
            return None
        return 'not this one'


class BrokenWatchRbd(sim.SimRbd):
    """The pool can be read ``good`` times, then Ceph fails."""

    def __init__(self, glance, good, error=None):
        super().__init__(glance)
        self.good = good
        self.error = error or exception.StorageError(reason='mon gone')

    def copy_progress(self, pool, name, snapshot='snap'):
        if self.calls['copy_progress'] >= self.good:
            self.calls['copy_progress'] += 1
            raise self.error
        return super().copy_progress(pool, name, snapshot)


class TestCloneSource(base.RbdGlanceTestCase):

    def test_copy_clones_our_stores_new_location_not_an_older_one(self):
        glance = sim.SimGlance(self.clock, image_id=IMG)
        # An older location in this cluster that cannot be cloned, listed
        # first; the copy's location comes last.
        glance.locations.insert(0, {'url': OLD_URL,
                                    'metadata': {'store': 'site_a_old'}})
        rbd = self.backend(glance, PickyRbd(glance, {SITE_A_URL}))
        self.clone(rbd, IMG)
        self.assertEqual(1, glance.calls['image_import'])
        self.assertEqual([(SITE_A_URL, 'vms', uuids.instance + '_disk')],
                         self.driver.clones)

    def test_copy_to_store_returns_the_exact_location(self):
        rbd = self.backend(sim.SimGlance(self.clock, image_id=IMG))
        location = rbd.copy_to_store(self.context, {'id': IMG})
        self.assertEqual(rbd_multistore.RbdLocation(
            sim.FSID_A, 'images', IMG, 'snap'), location)
        self.assertEqual([], self.driver.clones)

    def test_local_location_of_our_store_is_cloned_before_others(self):
        glance = sim.SimGlance(self.clock, image_id=IMG,
                               stores=('central', 'site_a'))
        glance.locations.insert(0, {'url': OLD_URL,
                                    'metadata': {'store': 'site_a_old'}})
        rbd = self.backend(glance)
        self.clone(rbd, IMG)
        self.assertEqual(SITE_A_URL, self.driver.clones[0][0])
        self.assertEqual(1, self.driver.calls['why_not_cloneable'])

    def test_uncloneable_copy_says_why(self):
        glance = sim.SimGlance(self.clock, image_id=IMG)
        rbd = self.backend(glance, PickyRbd(glance, set()))
        e = self.assertRaises(image_copy.ImageNotCloneable, self.clone, rbd,
                              IMG)
        self.assertIn('%s: not this one' % SITE_A_URL, str(e))
        self.assertEqual([], self.driver.clones)

    def test_uncloneable_location_in_our_store_is_not_copied_again(self):
        glance = sim.SimGlance(self.clock, image_id=IMG,
                               stores=('central', 'site_a'))
        rbd = self.backend(glance, PickyRbd(glance, set()))
        e = self.assertRaises(image_copy.ImageNotCloneable, self.clone, rbd,
                              IMG)
        self.assertEqual(0, glance.calls['image_import'])
        self.assertIn('cannot be cloned (%s: not this one)' % SITE_A_URL,
                      str(e))

    def test_uncloneable_location_elsewhere_in_the_cluster_is_copied(self):
        glance = sim.SimGlance(self.clock, image_id=IMG)
        glance.locations.insert(0, {'url': OLD_URL,
                                    'metadata': {'store': 'site_a_old'}})
        rbd = self.backend(glance, PickyRbd(glance, {SITE_A_URL}))
        self.clone(rbd, IMG)
        self.assertEqual(1, glance.calls['image_import'])


class TestClockOrigins(base.RbdGlanceTestCase):

    def test_cold_clone_at_several_clock_origins(self):
        for origin in ORIGINS:
            clock = self.clock = sim.Clock(start=origin)
            glance = sim.SimGlance(clock, image_id=IMG, copy_seconds=3.0)
            rbd = self.backend(glance)
            driver = self.driver
            rbd.clone(self.context, IMG)
            self.assertEqual([(origin, 'site_a')], glance.import_log)
            self.assertEqual(SITE_A_URL, driver.clones[0][0])
            noticed = clock() - glance.registered_at['site_a']
            self.assertLess(noticed, 0.5, origin)
            self.assertLess(clock.elapsed(), 4.0, origin)
            requests = sum(v for k, v in glance.calls.items()
                           if k != 'get_store_detail')
            self.assertLessEqual(requests, 10, origin)

    def test_copy_without_pool_watch_at_several_origins(self):
        for origin in ORIGINS:
            clock = self.clock = sim.Clock(start=origin)
            glance = sim.SimGlance(clock, image_id=IMG, copy_seconds=10.0,
                                   store_detail=False)
            rbd = self.backend(glance)
            driver = self.driver
            rbd.clone(self.context, IMG)
            self.assertEqual(1, glance.calls['image_import'], origin)
            self.assertEqual(0, driver.calls['copy_progress'])
            self.assertLess(clock.elapsed(), 14.0, origin)
            self.assertLessEqual(glance.calls['get'], 14, origin)

    def test_failed_copies_back_off_at_several_origins(self):
        for origin in ORIGINS:
            clock = self.clock = sim.Clock(start=origin)
            glance = sim.SimGlance(clock, image_id=IMG, copy_seconds=1.0,
                                   fail_copies=2)
            rbd = self.backend(glance)
            rbd.clone(self.context, IMG)
            times = [t - origin for t, _store in glance.import_log]
            self.assertEqual(3, len(times), origin)
            # 2 s after the first failure, 4 s after the second.
            self.assertGreaterEqual(times[1] - times[0], 1.0 + 2.0)
            self.assertLess(times[1] - times[0], 1.0 + 2.0 + 1.0)
            self.assertGreaterEqual(times[2] - times[1], 1.0 + 4.0)
            self.assertLess(times[2] - times[1], 1.0 + 4.0 + 1.0)


class TestPoolWatchFails(base.RbdGlanceTestCase):

    def test_watch_failing_mid_copy_falls_back_to_glance(self):
        glance = sim.SimGlance(self.clock, image_id=IMG, copy_seconds=6.0)
        driver = BrokenWatchRbd(glance, good=3)
        rbd = self.backend(glance, driver)
        self.clone(rbd, IMG)
        self.assertEqual(SITE_A_URL, driver.clones[0][0])
        # Three reads, one failure, then no more watching.
        self.assertEqual(4, driver.calls['copy_progress'])
        self.assertEqual(1, glance.calls['image_import'])
        self.assertLess(self.clock.elapsed(), 6.0 + 4.0)

    def test_watch_failing_at_once_still_copies(self):
        glance = sim.SimGlance(self.clock, image_id=IMG, copy_seconds=2.0)
        driver = BrokenWatchRbd(glance, good=0)
        self.clone(self.backend(glance, driver), IMG)
        self.assertEqual(1, driver.calls['copy_progress'])
        self.assertEqual(SITE_A_URL, driver.clones[0][0])

    def test_watch_raising_something_else_is_not_swallowed(self):
        glance = sim.SimGlance(self.clock, image_id=IMG)
        driver = BrokenWatchRbd(glance, good=0, error=ValueError('bug'))
        self.assertRaises(ValueError, self.clone,
                          self.backend(glance, driver), IMG)


class TestLockHeldByAnotherProcess(base.RbdGlanceTestCase):
    """Nova's per-image copy lock, held by a real second process."""

    def hold_lock(self):
        lock_path = os.path.join(self.instances_path, 'locks')
        os.makedirs(lock_path, exist_ok=True)
        holder = subprocess.Popen(
            [sys.executable, '-c', HOLD_LOCK,
             rbd_glance.COPY_LOCK_PREFIX + IMG, lock_path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(holder.wait, 30)
        self.addCleanup(holder.kill)
        self.assertEqual('held', holder.stdout.readline().strip())
        return holder, lock_path

    def test_copy_waits_for_the_lock_of_another_process(self):
        holder, lock_path = self.hold_lock()
        glance = sim.SimGlance(self.clock, image_id=IMG)
        released = threading.Event()
        seen = {}
        real_sleep = self.clock.sleep
        sleeps = []

        def release():
            seen['imports'] = glance.calls['image_import']
            holder.stdin.close()
            holder.wait(30)
            released.set()

        def sleep(seconds):
            # A boot that polls the lock sleeps while it is held: let the
            # other process go after a few tries.
            if not released.is_set():
                sleeps.append(seconds)
                if len(sleeps) == 3:
                    release()
            real_sleep(seconds)

        self.clock.sleep = sleep
        rbd = self.backend(glance)
        done = []

        def boot():
            self.clone(rbd, IMG)
            done.append(True)

        thread = threading.Thread(target=boot)
        thread.start()
        # A boot that blocks on the lock instead does not sleep: release
        # the lock after a while of real time.
        if not released.wait(2.0):
            release()
        thread.join(60)
        self.assertFalse(thread.is_alive())
        self.assertEqual([True], done)
        # Nothing was asked of Glance while the other process held the lock.
        self.assertEqual(0, seen['imports'])
        self.assertEqual(1, glance.calls['image_import'])
        self.assertEqual(SITE_A_URL, self.driver.clones[0][0])
        self.assertTrue(os.path.exists(os.path.join(
            lock_path, 'nova-rbd-glance-copy-' + IMG)))


class TestGuards(base.RbdGlanceTestCase):

    def test_deactivated_image_with_a_local_location_is_not_cloned(self):
        glance = sim.SimGlance(self.clock, image_id=IMG,
                               stores=('central', 'site_a'),
                               status='deactivated')
        rbd = self.backend(glance)
        self.assertRaises(image_copy.ImageNotReady, self.clone, rbd, IMG)
        self.assertEqual([], self.driver.clones)
        self.assertEqual(0, glance.calls['image_import'])

    def test_file_store_as_target_is_refused_before_copying(self):
        self.flags(images_rbd_glance_store_name='central', group='libvirt')
        glance = sim.SimGlance(self.clock, image_id=IMG)
        rbd = self.backend(glance)
        self.assertRaises(image_copy.GlanceStoreNotRbd, self.clone, rbd,
                          IMG)
        self.assertEqual(0, glance.calls['image_import'])
        self.assertEqual(0, glance.calls['get_image_tasks'])

    def test_copy_is_asked_for_our_store_only(self):
        glance = sim.SimGlance(self.clock, image_id=IMG)
        self.clone(self.backend(glance), IMG)
        self.assertEqual([(sim.EPOCH, 'site_a')], glance.import_log)

    def test_progress_is_logged_during_a_long_copy(self):
        glance = sim.SimGlance(self.clock, image_id=IMG, copy_seconds=12.0)
        self.clone(self.backend(glance), IMG)
        out = self.stdlog.logger.output
        self.assertIn('Copying image %s to store site_a: ' % IMG, out)
        self.assertIn(' of 64 MiB (', out)


class TestCephNotAnswering(base.RbdGlanceTestCase):
    """The store's OSD stopped answering mid-copy (found on the live stack:
    one pool read held a 20 s boot for 33 s, and the timeout did not say
    why).
    """

    def setUp(self):
        super().setUp()
        self.flags(images_rbd_glance_copy_timeout=60,
                   images_rbd_glance_copy_stall_timeout=120,
                   group='libvirt')
        self.silent = rbd_multistore.CephTimedOut(reason='osd.0 silent')

    def test_timeout_says_the_pool_did_not_answer(self):
        glance = sim.SimGlance(self.clock, image_id=IMG, copy_seconds=1000)
        driver = BrokenWatchRbd(glance, good=2, error=self.silent)
        e = self.assertRaises(image_copy.ImageCopyTimeout, self.clone,
                              self.backend(glance, driver), IMG)
        self.assertIn('the store\'s pool could not be read, so only Glance '
                      'was watched: Storage error: osd.0 silent', str(e))
        self.assertLessEqual(self.clock.elapsed(), 60)
        self.assertEqual([], driver.clones)

    def test_stuck_copy_with_a_silent_pool_blames_ceph(self):
        # Glance's write hangs on the OSD: its task is not updated any
        # more, as if its worker had died; but the pool does not answer
        # this host either.
        self.flags(images_rbd_glance_copy_timeout=600, group='libvirt')
        glance = sim.SimGlance(self.clock, image_id=IMG, copy_seconds=1000)
        glance.start_other_import('site_a')
        self.clock.sleep(5)
        glance.kill_worker()
        driver = BrokenWatchRbd(glance, good=0, error=self.silent)
        e = self.assertRaises(image_copy.ImageCopyStuckInCeph, self.clone,
                              self.backend(glance, driver), IMG)
        self.assertIsInstance(e, image_copy.ImageCopyStalled)
        self.assertIsInstance(e, exception.ImageUnacceptable)
        msg = str(e)
        self.assertIn('task-1 (processing)', msg)
        self.assertIn('cannot read the store\'s pool either (Storage error: '
                      'osd.0 silent)', msg)
        self.assertIn('ceph health detail', msg)
        self.assertIn('2026-01-01 01:00:00 UTC (60 minutes', msg)
        self.assertLess(self.clock.elapsed(), 120 + 25)

    def test_stuck_copy_with_an_unreadable_pool_is_a_dead_worker(self):
        # A pool this host may not read says nothing about Ceph's health.
        self.flags(images_rbd_glance_copy_timeout=600, group='libvirt')
        glance = sim.SimGlance(self.clock, image_id=IMG, copy_seconds=1000)
        glance.start_other_import('site_a')
        glance.kill_worker()
        driver = BrokenWatchRbd(glance, good=0, error=exception.StorageError(
            reason='client.nova may not read pool images'))
        e = self.assertRaises(image_copy.ImageCopyStalled, self.clone,
                              self.backend(glance, driver), IMG)
        self.assertNotIsInstance(e, image_copy.ImageCopyStuckInCeph)


class TestClusterReadsDeadline(base.RbdGlanceTestCase):
    """Every Ceph read of a boot ends by its deadline."""

    def setUp(self):
        super().setUp()
        self.cluster = rbd_glance.ClusterReads(mock.sentinel.driver,
                                               self.clock)
        self.reads = {}
        for name in ('copy_progress', 'cluster_fsid', 'why_not_cloneable'):
            self.reads[name] = self.useFixture(fixtures.MockPatchObject(
                rbd_multistore, name)).mock

    def timeouts(self):
        self.cluster.copy_progress('images', IMG)
        self.cluster.cluster_fsid()
        self.cluster.why_not_cloneable(SITE_A_URL, {})
        return [self.reads[name].call_args[1]['timeout']
                for name in ('copy_progress', 'cluster_fsid',
                             'why_not_cloneable')]

    def test_without_a_deadline_only_the_pool_watch_is_shortened(self):
        self.assertEqual([rbd_glance.POOL_WATCH_OP_TIMEOUT, None, None],
                         self.timeouts())

    def test_reads_get_what_is_left(self):
        self.cluster.deadline = self.clock() + 3.5
        self.assertEqual([3.5, 3.5, 3.5], self.timeouts())
        self.cluster.deadline = self.clock() + 100
        self.assertEqual([rbd_glance.POOL_WATCH_OP_TIMEOUT, 100, 100],
                         self.timeouts())
        self.clock.sleep(200)
        self.assertEqual([0.0, 0.0, 0.0], self.timeouts())

    def test_a_boot_sets_its_deadline_on_the_reads(self):
        glance = sim.SimGlance(self.clock, image_id=IMG,
                               stores=('central', 'site_a'))
        rbd = rbd_glance.Rbd(instance=self.instance, disk_name='disk',
                             glance_api=glance,
                             rbd_driver=sim.SimRbd(glance),
                             clock=self.clock, sleep=self.clock.sleep)
        cluster = rbd._cluster
        self.assertIsInstance(cluster, rbd_glance.ClusterReads)
        self.assertIsNone(cluster.deadline)
        copier = rbd._copier()
        self.assertEqual(copier.new_deadline(), cluster.deadline)
        self.assertEqual(self.clock() + 600, cluster.deadline)


class TestReadTimeouts(ms_base.RbdMultistoreTestCase):
    """rbd_multistore's reads with a shorter bound, and what a read that
    Ceph does not answer in time says.
    """

    def conf(self):
        return self.mock_rados.Rados.call_args[1]['conf']

    def test_timeout_shortens_the_connect_and_every_operation(self):
        self.progress('images', IMG, timeout=2.5)
        self.assertEqual({'client_mount_timeout': '3',
                          'rados_mon_op_timeout': '3',
                          'rados_osd_op_timeout': '3'}, self.conf())
        self.client.connect.assert_called_once_with(timeout=3)

    def test_a_longer_timeout_keeps_the_usual_bounds(self):
        rbd_multistore.cluster_fsid(self.driver, timeout=1000)
        self.assertEqual({'client_mount_timeout': '7',
                          'rados_mon_op_timeout': '30',
                          'rados_osd_op_timeout': '30'}, self.conf())

    def test_no_time_left_is_still_a_bound(self):
        # librados takes 0 for no timeout at all.
        self.flags(rbd_connect_timeout=0, group='libvirt')
        self.driver = rbd_utils.RBDDriver()
        self.why_not(URL_OF_IMG, {'disk_format': 'raw'})
        self.why_not(URL_OF_IMG, {'disk_format': 'raw'})
        self.progress('images', IMG, timeout=0.0)
        self.assertEqual({'client_mount_timeout': '1',
                          'rados_mon_op_timeout': '1',
                          'rados_osd_op_timeout': '1'}, self.conf())

    def test_an_osd_that_does_not_answer_is_named(self):
        self.mock_rbd.Image.side_effect = RbdTimeout('RBD operation timeout')
        e = self.assertRaises(rbd_multistore.CephTimedOut, self.progress,
                              'images', IMG, timeout=4)
        self.assertIsInstance(e, exception.StorageError)
        msg = str(e)
        self.assertIn('did not complete a read of pool images for '
                      'client.nova within 4 s', msg)
        self.assertIn('an OSD of that pool is down', msg)
        self.assertIn('/etc/ceph/site_a.conf', msg)

    def test_other_errors_are_not_timeouts(self):
        self.mock_rbd.Image.side_effect = ms_base.RbdPermissionError('x')
        e = self.assertRaises(exception.StorageError, self.progress,
                              'images', IMG)
        self.assertNotIsInstance(e, rbd_multistore.CephTimedOut)


class GhostLockGlance(sim.SimGlance):
    """The image's import lock names a task Glance never recorded (its API
    worker died between the two); like Glance, an import request drops
    such a lock (``bust=True``) or, for a task the caller cannot see,
    answers 409 (``bust=False``).
    """

    def __init__(self, clock, bust=True, **kwargs):
        super().__init__(clock, **kwargs)
        self.bust = bust
        self.props['os_glance_import_task'] = 'task-ghost'

    def image_import(self, context, image_id, *args, **kwargs):
        with self.mutex:
            if (self.bust and self.props.get('os_glance_import_task') ==
                    'task-ghost'):
                self.props.pop('os_glance_import_task')
        return super().image_import(context, image_id, *args, **kwargs)


class TestLockOfAnUnlistedTask(base.RbdGlanceTestCase):
    """Glance restarted while it accepted a copy request (found on the live
    stack): the lock stays, its task was never recorded.
    """

    def test_lock_of_a_task_glance_lacks_is_asked_past(self):
        glance = GhostLockGlance(self.clock, image_id=IMG, copy_seconds=3.0)
        self.clone(self.backend(glance), IMG)
        self.assertEqual(SITE_A_URL, self.driver.clones[0][0])
        self.assertEqual(1, glance.calls['image_import'])
        # Two task reads TASK_CHECK_INTERVAL apart, then the copy.
        self.assertLess(self.clock.elapsed(),
                        image_copy.UNLISTED_GRACE + 3.0 + 5.0)

    def test_lock_of_an_invisible_live_task_backs_off(self):
        # Another project's import, whose task Nova may not see: Glance
        # answers 409 to every request; they back off to the poll interval.
        self.flags(images_rbd_glance_copy_timeout=300, group='libvirt')
        glance = GhostLockGlance(self.clock, bust=False, image_id=IMG)
        e = self.assertRaises(image_copy.ImageCopyTimeout, self.clone,
                              self.backend(glance), IMG)
        self.assertIn('import task task-ghost holds the image', str(e))
        self.assertIn('Glance answered 409 (another import)', str(e))
        self.assertGreater(glance.calls['image_import'], 1)
        self.assertLessEqual(glance.calls['image_import'], 300 / 15 + 5)
        self.assertLessEqual(self.clock.elapsed(), 300)


class TestRequestFaultsBackOff(base.RbdGlanceTestCase):
    """A copy request that fails transiently while the image reads succeed
    (found by mutation testing): requests back off on their own streak.
    """

    def test_streak_grows_until_a_request_is_answered(self):
        s = image_copy.new_wait_state('site_a', 1e6, 600, 2,
                                      max_interval=15)
        gaps = []
        for _ in range(7):
            s = image_copy.request_failed(s, 1e6, 'HTTP 503')
            gaps.append(s.not_before - 1e6)
        self.assertEqual([0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0], gaps)
        self.assertEqual((7, 'HTTP 503'), (s.transient_total,
                                           s.last_transient))
        self.assertEqual(0, image_copy.requested(s, 1e6).request_streak)
        self.assertEqual(0, image_copy.conflicted(s, 1e6).request_streak)
        # A successful read does not end it.
        self.assertEqual(7, image_copy.glance_answered(s).request_streak)
