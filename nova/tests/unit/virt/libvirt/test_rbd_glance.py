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

"""Unit tests for the Rbd backend's clone and copy-to-store paths.

Glance and Ceph are the simulator in ``glance_copy_sim`` on a fake clock, so
the times below are simulated seconds: exact and instant. The live tests
prove the same paths on the real services.
"""

import os
import threading
import time
from unittest import mock

import fixtures
from glanceclient import exc as glanceclient_exc
from oslo_concurrency import lockutils
from oslo_utils.fixture import uuidsentinel as uuids

from nova import context as nova_context
from nova import exception
from nova.image import glance_multistore
from nova import objects
from nova.storage import rbd_utils
from nova import test
from nova.tests.unit.virt.libvirt import glance_copy_sim as sim
from nova import utils
from nova.virt.libvirt import image_copy
from nova.virt.libvirt import imagebackend
from nova.virt.libvirt import rbd_glance

IMG = sim.IMAGE_ID
SITE_A_URL = 'rbd://%s/images/%s/snap' % (sim.FSID_A, IMG)


class RbdGlanceTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        # Upstream's RBDDriver checks for the Ceph bindings on construction.
        self.useFixture(fixtures.MockPatchObject(rbd_utils, 'rbd'))
        self.useFixture(fixtures.MockPatchObject(rbd_utils, 'rados'))
        self.instances_path = self.useFixture(fixtures.TempDir()).path
        self.flags(instances_path=self.instances_path)
        self.flags(images_type='rbd', images_rbd_pool='vms',
                   images_rbd_glance_store_name='site_a',
                   images_rbd_glance_copy_poll_interval=15,
                   images_rbd_glance_copy_timeout=600,
                   images_rbd_glance_copy_retries=2,
                   images_rbd_glance_copy_stall_timeout=120,
                   group='libvirt')
        self.clock = sim.Clock()
        self.context = nova_context.RequestContext(
            user_id='demo', project_id='demo-project')
        self.instance = objects.Instance(uuid=uuids.instance)

    def backend(self, glance, driver=None, disk='disk'):
        self.glance = glance
        self.driver = driver or sim.SimRbd(glance)
        return rbd_glance.Rbd(instance=self.instance, disk_name=disk,
                              glance_api=glance, rbd_driver=self.driver,
                              cluster=self.driver,
                              clock=self.clock, sleep=self.clock.sleep,
                              wall=self.clock.wall)

    def glance_requests(self):
        return sum(v for k, v in self.glance.calls.items()
                   if k != 'get_store_detail')

    def clone(self, rbd, image_id=IMG):
        return rbd.clone(self.context, image_id)


class TestHotPath(RbdGlanceTestCase):

    @mock.patch.object(utils, 'synchronized', autospec=True)
    def test_local_location_is_cloned_without_a_copy(self, mock_sync):
        rbd = self.backend(sim.SimGlance(self.clock,
                                         stores=('central', 'site_a')))
        self.clone(rbd)
        self.assertEqual(0, self.glance.calls['image_import'])
        self.assertEqual(0, self.glance.calls['get_store_detail'])
        self.assertEqual(2, self.glance_requests())  # image + locations
        self.assertEqual([(SITE_A_URL, 'vms', uuids.instance + '_disk')],
                         self.driver.clones)
        self.assertEqual(0.0, self.clock.elapsed())
        mock_sync.assert_not_called()

    def test_image_is_read_with_the_users_context(self):
        rbd = self.backend(sim.SimGlance(self.clock, stores=('site_a',)))
        self.clone(rbd)
        self.assertEqual([('get', self.context),
                          ('get_image_locations', self.context)],
                         self.glance.contexts)

    def test_not_cloneable_location_in_our_store_says_why(self):
        rbd = self.backend(sim.SimGlance(self.clock, stores=('site_a',)))
        self.driver.not_cloneable = 'snapshot snap is not protected'
        e = self.assertRaises(image_copy.ImageNotCloneable, self.clone, rbd)
        self.assertIn('not protected', str(e))
        self.assertIn(SITE_A_URL, str(e))
        self.assertEqual([], self.driver.clones)
        # Glance has it in our store already: a copy cannot help.
        self.assertEqual(0, self.glance.calls['image_import'])

    def test_defaults_are_nova_image_api_and_upstreams_driver(self):
        rbd = rbd_glance.Rbd(instance=self.instance, disk_name='disk')
        self.assertIs(rbd_utils.RBDDriver, type(rbd.driver))
        copier = rbd._copier()
        self.assertIs(imagebackend.IMAGE_API, copier.glance)
        self.assertIsInstance(copier.cluster, rbd_glance.ClusterReads)
        self.assertIs(rbd.driver, copier.cluster.driver)
        self.assertEqual('vms', rbd.driver.pool)
        self.assertEqual(uuids.instance + '_disk', rbd.rbd_name)

    def test_the_driver_is_whatever_upstream_built(self):
        with mock.patch.object(rbd_utils, 'RBDDriver') as mock_driver:
            rbd = rbd_glance.Rbd(instance=self.instance, disk_name='disk')
        self.assertIs(mock_driver.return_value, rbd.driver)
        self.assertIs(mock_driver.return_value, rbd._copier().cluster.driver)

    def test_backend_hands_out_the_subclass_for_rbd(self):
        backend = imagebackend.Backend(False)
        self.assertIs(rbd_glance.Rbd, backend.backend('rbd'))
        disk = backend.by_name(self.instance, 'disk')
        self.assertIsInstance(disk, rbd_glance.Rbd)
        self.assertIsInstance(disk, imagebackend.Rbd)
        self.assertIs(imagebackend.Flat, backend.backend('raw'))


class TestCopyToStore(RbdGlanceTestCase):

    def test_cold_clone_copies_once_and_clones_the_new_location(self):
        rbd = self.backend(sim.SimGlance(self.clock, copy_seconds=1.5))
        self.clone(rbd)
        self.assertEqual([(sim.EPOCH, 'site_a')], self.glance.import_log)
        self.assertEqual([(SITE_A_URL, 'vms', uuids.instance + '_disk')],
                         self.driver.clones)
        noticed = self.clock() - self.glance.registered_at['site_a']
        self.assertLess(noticed, 0.5)
        # A fixed 1 s poll makes: image + locations + import + 2 polls +
        # locations; plus one read of the task that holds the image (a dead
        # one is recognised at once from its age).
        self.assertLessEqual(self.glance_requests(), 8)
        self.assertEqual(1, self.glance.calls['get_image_tasks'])
        self.assertIn('Asking Glance to copy image %s to store site_a' % IMG,
                      self.stdlog.logger.output)
        # The copy is asked for with the user's context (the Glance layer
        # picks service credentials per [glance] copy_credentials).
        self.assertIn(('image_import', self.context), self.glance.contexts)

    def test_copy_runs_under_novas_per_image_lock(self):
        real = utils.synchronized
        with mock.patch.object(utils, 'synchronized',
                               side_effect=real) as mock_sync:
            self.clone(self.backend(sim.SimGlance(self.clock)))
        mock_sync.assert_called_once_with(
            'rbd-glance-copy-%s' % IMG, external=True,
            lock_path=os.path.join(self.instances_path, 'locks'),
            blocking=False)
        self.assertEqual(1, len(self.driver.clones))

    def test_lock_name_differs_from_the_image_cache_lock(self):
        # Image.cache() holds a lock named after the image's cache file
        # while clone() runs; the same name here would deadlock.
        from nova.virt.libvirt import imagecache
        self.assertNotEqual(imagecache.get_cache_fname(IMG),
                            rbd_glance.COPY_LOCK_PREFIX + IMG)

    def test_long_copy_polls_glance_less_than_a_fixed_one_second_poll(self):
        rbd = self.backend(sim.SimGlance(self.clock, copy_seconds=60))
        self.clone(rbd)
        self.assertLess(self.clock() - self.glance.registered_at['site_a'],
                        0.5)
        # A fixed 1 s poll makes ~62 requests here.
        self.assertLessEqual(self.glance_requests(), 62 // 3)
        self.assertIn('Copying image %s to store site_a:' % IMG,
                      self.stdlog.logger.output)

    def test_slow_registration_after_the_pool_shows_the_copy_done(self):
        # Glance registers the location seconds after the data is complete:
        # the confirm polls run out and the image is read again, no new copy
        # is asked for.
        glance = sim.SimGlance(self.clock, copy_seconds=1.5,
                               register_lag=4.0)
        self.clone(self.backend(glance))
        self.assertEqual(1, len(glance.import_log))
        self.assertEqual(1, len(self.driver.clones))
        self.assertLess(self.clock() - glance.registered_at['site_a'], 3.0)

    def test_without_store_detail_glance_alone_is_watched(self):
        rbd = self.backend(sim.SimGlance(self.clock, copy_seconds=1.5,
                                         store_detail=False))
        self.clone(rbd)
        self.assertEqual(0, self.driver.calls['copy_progress'])
        self.assertLess(self.clock() - self.glance.registered_at['site_a'],
                        1.0)
        self.assertEqual(1, len(self.driver.clones))

    def test_unreadable_pool_falls_back_to_glance_polls(self):
        glance = sim.SimGlance(self.clock, copy_seconds=1.5)
        driver = sim.SimRbd(glance)
        driver.copy_progress = mock.Mock(
            side_effect=exception.StorageError(reason='no read access'))
        self.clone(self.backend(glance, driver))
        self.assertEqual(1, driver.copy_progress.call_count)
        self.assertEqual(1, len(driver.clones))

    def test_copy_started_elsewhere_is_waited_for(self):
        glance = sim.SimGlance(self.clock, copy_seconds=3)
        glance.start_other_import('site_a')
        self.clone(self.backend(glance))
        self.assertEqual(0, glance.calls['image_import'])
        self.assertEqual(1, len(self.driver.clones))

    def test_409_on_request_is_waited_for_not_a_failure(self):
        glance = sim.SimGlance(self.clock, copy_seconds=2)
        real_import = glance.image_import

        def racing_import(*args, **kwargs):
            # Another host's request lands first: we get Glance's 409.
            glance.image_import = real_import
            glance.start_other_import('site_a')
            return real_import(*args, **kwargs)

        glance.image_import = racing_import
        self.clone(self.backend(glance))
        self.assertEqual(1, len(self.driver.clones))
        self.assertEqual(1, len(glance.import_log))
        self.assertIn('Waiting for it', self.stdlog.logger.output)

    def test_already_present_on_request_is_not_a_failure(self):
        glance = sim.SimGlance(self.clock)
        real_import = glance.image_import

        def late_import(context, image_id, *args, **kwargs):
            # The copy finished between our read and our request.
            glance.image['stores'] += ',site_a'
            glance.locations.append(glance._location('site_a'))
            return real_import(context, image_id, *args, **kwargs)

        glance.image_import = late_import
        self.clone(self.backend(glance))
        self.assertEqual([(SITE_A_URL, 'vms', uuids.instance + '_disk')],
                         self.driver.clones)

    def test_other_store_import_holds_the_lock_then_we_ask(self):
        glance = sim.SimGlance(self.clock, copy_seconds=2)
        glance.start_other_import('site_b')
        self.clone(self.backend(glance))
        (asked_at, store), = glance.import_log
        self.assertEqual('site_a', store)
        self.assertGreaterEqual(asked_at, sim.EPOCH + 2.0)
        self.assertIn('site_b', glance.stores())

    def test_failed_copy_is_retried_with_backoff(self):
        glance = sim.SimGlance(self.clock, copy_seconds=1, fail_copies=1)
        self.clone(self.backend(glance))
        first, second = glance.import_log
        self.assertGreaterEqual(second[0] - first[0], 1 + 2)  # copy + backoff
        self.assertEqual(1, len(self.driver.clones))

    def test_failed_copy_beyond_retries_is_image_unacceptable(self):
        self.flags(images_rbd_glance_copy_retries=1, group='libvirt')
        glance = sim.SimGlance(self.clock, copy_seconds=0.5, fail_copies=9)
        rbd = self.backend(glance)
        e = self.assertRaises(image_copy.ImageCopyFailed, self.clone, rbd)
        self.assertIsInstance(e, exception.ImageUnacceptable)
        msg = str(e)
        self.assertIn('2 time(s)', msg)
        self.assertIn('task-2: Task failed due to Internal Error', msg)
        self.assertIn('Glance API log', msg)
        self.assertEqual(2, len(glance.import_log))
        self.assertEqual([], self.driver.clones)
        # Reported soon after Glance marked it, not at the timeout.
        self.assertLess(self.clock.elapsed(), 10)

    def test_retries_that_fail_at_once_are_noticed_at_once(self):
        # Glance fails the copy before writing anything to the pool: nothing
        # there to watch, and the image looks the same before and after.
        glance = sim.SimGlance(self.clock, copy_seconds=0.1, fail_copies=9)
        rbd = self.backend(glance)
        self.assertRaises(image_copy.ImageCopyFailed, self.clone, rbd)
        self.assertEqual(3, len(glance.import_log))
        last_failed = glance.import_log[-1][0] + 0.1
        self.assertLess(self.clock() - last_failed, 0.5)

    def test_failure_marker_of_an_earlier_attempt_does_not_fail(self):
        self.flags(images_rbd_glance_copy_retries=0, group='libvirt')
        glance = sim.SimGlance(self.clock, copy_seconds=0.5)
        glance.start_other_import('site_a', fails=True)  # before a repair
        self.clock.sleep(1)
        self.clone(self.backend(glance))
        self.assertEqual(1, len(glance.import_log))
        self.assertEqual(1, len(self.driver.clones))

    def test_timeout_is_image_unacceptable_and_on_time(self):
        self.flags(images_rbd_glance_copy_timeout=30, group='libvirt')
        glance = sim.SimGlance(self.clock, copy_seconds=1000)
        e = self.assertRaises(image_copy.ImageCopyTimeout, self.clone,
                              self.backend(glance))
        self.assertIsInstance(e, exception.ImageUnacceptable)
        msg = str(e)
        self.assertIn('within 30 s', msg)
        self.assertIn('store site_a importing for', msg)
        self.assertIn('task-1', msg)
        self.assertGreaterEqual(self.clock.elapsed(), 30)
        self.assertLess(self.clock.elapsed(), 31)

    def test_stalled_import_is_reported_with_its_task(self):
        self.flags(images_rbd_glance_copy_timeout=300,
                   images_rbd_glance_copy_stall_timeout=90, group='libvirt')
        glance = sim.SimGlance(self.clock, copy_seconds=10 ** 6)
        glance.start_other_import('site_a')
        # Nothing moves in the pool while Glance keeps updating its task
        # (it is not dead): a warning per stall period, then the timeout.
        glance.pool_state = lambda store: (True, 8 * sim.MiB, False)
        self.assertRaises(image_copy.ImageCopyTimeout, self.clone,
                          self.backend(glance))
        out = self.stdlog.logger.output
        self.assertIn('No progress copying image %s to store site_a' % IMG,
                      out)
        self.assertIn('task-1 holds the image', out)
        # Once per stall period, not once per poll.
        self.assertLessEqual(out.count("No progress copying"), 300 // 90)

    def test_copy_not_authorized_is_image_unacceptable(self):
        glance = sim.SimGlance(self.clock)
        glance.image_import = mock.Mock(
            side_effect=glance_multistore.ImageCopyNotAuthorized(
                image_id=IMG, store='site_a', who='the user',
                reason='403'))
        e = self.assertRaises(exception.ImageUnacceptable, self.clone,
                              self.backend(glance))
        self.assertIn('copy_credentials', str(e))

    def test_copy_to_store_returns_the_location(self):
        rbd = self.backend(sim.SimGlance(self.clock, copy_seconds=1))
        location = rbd.copy_to_store(self.context, {'id': IMG})
        self.assertEqual(SITE_A_URL, location.url)
        self.assertEqual([], self.driver.clones)


class TestStoreChecks(RbdGlanceTestCase):

    def test_store_in_another_cluster_is_refused_before_copying(self):
        self.flags(images_rbd_glance_store_name='site_b', group='libvirt')
        glance = sim.SimGlance(self.clock)
        e = self.assertRaises(image_copy.GlanceStoreWrongCluster, self.clone,
                              self.backend(glance))
        self.assertIsInstance(e, exception.ImageUnacceptable)
        self.assertIn(sim.FSID_B, str(e))
        self.assertEqual(0, glance.calls['image_import'])

    def test_file_store_is_refused_before_copying(self):
        self.flags(images_rbd_glance_store_name='central', group='libvirt')
        glance = sim.SimGlance(self.clock, stores=('site_b',))
        e = self.assertRaises(image_copy.GlanceStoreNotRbd, self.clone,
                              self.backend(glance))
        self.assertIn('not rbd', str(e))
        self.assertEqual(0, glance.calls['image_import'])

    def test_unknown_store_is_image_unacceptable(self):
        self.flags(images_rbd_glance_store_name='nowhere', group='libvirt')
        glance = sim.SimGlance(self.clock)
        e = self.assertRaises(glance_multistore.GlanceStoreNotFound,
                              self.clone, self.backend(glance))
        self.assertIsInstance(e, exception.ImageUnacceptable)
        self.assertIn('images_rbd_glance_store_name', str(e))


class TestBadInput(RbdGlanceTestCase):

    def test_unknown_image(self):
        rbd = self.backend(sim.SimGlance(self.clock))
        self.assertRaises(exception.ImageNotFound, self.clone, rbd,
                          uuids.unknown)

    def test_queued_image(self):
        rbd = self.backend(sim.SimGlance(self.clock, status='queued'))
        self.assertRaises(image_copy.ImageNotReady, self.clone, rbd)
        self.assertEqual(0, self.glance.calls['image_import'])

    def test_qcow2_image_is_refused_for_a_download(self):
        rbd = self.backend(sim.SimGlance(self.clock, disk_format='qcow2'))
        e = self.assertRaises(exception.ImageUnacceptable, self.clone, rbd)
        self.assertIsInstance(e, image_copy.ImageNotRaw)
        self.assertEqual([], self.driver.clones)
        self.assertEqual(0, self.glance.calls['image_import'])

    def test_iso_with_a_local_location_is_cloned(self):
        rbd = self.backend(sim.SimGlance(self.clock, disk_format='iso',
                                         stores=('site_a',)))
        self.clone(rbd)
        self.assertEqual([(SITE_A_URL, 'vms', uuids.instance + '_disk')],
                         self.driver.clones)
        self.assertEqual(0, self.glance.calls['image_import'])

    def test_iso_is_copied_to_the_store_then_cloned(self):
        rbd = self.backend(sim.SimGlance(self.clock, disk_format='iso'))
        self.clone(rbd)
        self.assertEqual(1, self.glance.calls['image_import'])
        self.assertEqual([(SITE_A_URL, 'vms', uuids.instance + '_disk')],
                         self.driver.clones)

    def test_no_store_set_means_not_cloneable(self):
        self.flags(images_rbd_glance_store_name='', group='libvirt')
        rbd = self.backend(sim.SimGlance(self.clock, stores=('site_b',)))
        e = self.assertRaises(image_copy.ImageNotCloneable, self.clone, rbd)
        self.assertIn('images_rbd_glance_store_name', str(e))
        self.assertEqual(0, self.glance.calls['image_import'])

    def test_no_copy_when_asked_not_to(self):
        rbd = self.backend(sim.SimGlance(self.clock))
        self.assertRaises(image_copy.ImageNotCloneable, rbd.clone,
                          self.context, IMG, copy_to_store=False)
        self.assertEqual(0, self.glance.calls['image_import'])


class TestCacheImage(RbdGlanceTestCase):

    def cache(self, glance):
        self.glance = glance
        self.driver = sim.SimRbd(glance)
        return rbd_glance.cache_image(
            self.context, IMG, glance_api=glance, cluster=self.driver,
            clock=self.clock, sleep=self.clock.sleep, wall=self.clock.wall)

    def test_copies_without_cloning_then_finds_it_local(self):
        glance = sim.SimGlance(self.clock)
        self.assertTrue(self.cache(glance))
        self.assertFalse(self.cache(glance))
        self.assertEqual([], self.driver.clones)
        self.assertEqual(1, len(glance.import_log))

    def test_without_store_it_cannot_be_made_local(self):
        self.flags(images_rbd_glance_store_name='', group='libvirt')
        self.assertRaises(image_copy.ImageNotCloneable, self.cache,
                          sim.SimGlance(self.clock))


class TestConcurrentBoots(RbdGlanceTestCase):

    def test_boots_of_one_image_on_one_host_make_one_copy_request(self):
        glance = sim.SimGlance(self.clock, copy_seconds=1.5)
        driver = sim.SimRbd(glance)
        backends = [self.backend(glance, driver, disk='disk%d' % i)
                    for i in range(4)]
        # The fake clock is shared: a boot polling Nova's lock must not
        # spin it past everybody's deadline while the holder works, so
        # each of its sleeps also takes a little real time.
        fake_sleep = self.clock.sleep

        def sleep(seconds):
            fake_sleep(seconds)
            time.sleep(0.01)

        for rbd in backends:
            rbd._sleep = sleep
        errors = []

        def boot(rbd):
            try:
                self.clone(rbd)
            except Exception as e:  # collected and asserted below
                errors.append(e)

        threads = [threading.Thread(target=boot, args=(b,))
                   for b in backends]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual([], errors)
        self.assertEqual(1, len(glance.import_log))
        self.assertEqual(4, len(driver.clones))


class TestFaults(RbdGlanceTestCase):
    """Issue 12: every wait bounded, dead copies noticed."""

    def setUp(self):
        super().setUp()
        self.flags(images_rbd_glance_copy_timeout=600,
                   images_rbd_glance_copy_stall_timeout=120,
                   group='libvirt')

    def test_dead_glance_worker_is_a_finding_not_a_timeout(self):
        # Another host's copy, whose Glance worker died: the task stays
        # processing, the lock stays, nothing moves in the pool.
        glance = sim.SimGlance(self.clock, copy_seconds=1000)
        glance.start_other_import('site_a')
        self.clock.sleep(5)
        glance.kill_worker()
        e = self.assertRaises(image_copy.ImageCopyStalled, self.clone,
                              self.backend(glance))
        self.assertIsInstance(e, exception.ImageUnacceptable)
        msg = str(e)
        self.assertIn('task-1 (processing)', msg)
        self.assertIn('releases the image\'s import lock at '
                      '2026-01-01 01:00:00 UTC (60 minutes', msg)
        self.assertIn('Glance API logs', msg)
        self.assertIn('never_download_image_if_on_rbd', msg)
        # The stall timeout after the task's last update, not the timeout.
        self.assertGreaterEqual(self.clock.elapsed(), 120)
        self.assertLess(self.clock.elapsed(), 120 + 25)
        self.assertEqual([], self.driver.clones)
        self.assertEqual(0, glance.calls['image_import'])

    def test_a_later_boot_sees_the_dead_task_from_its_age(self):
        glance = sim.SimGlance(self.clock, copy_seconds=1000)
        glance.start_other_import('site_a')
        glance.kill_worker()
        self.clock.sleep(600)
        asked = self.clock()
        e = self.assertRaises(image_copy.ImageCopyStalled, self.clone,
                              self.backend(glance))
        self.assertLessEqual(self.clock() - asked,
                             image_copy.QUIET_CONFIRM + 1)
        self.assertIn('last updated 610 s ago', str(e))
        self.assertIn('about 50 minutes from now', str(e))

    def test_a_live_copy_is_not_dead(self):
        # A long copy updates its task every minute: no finding.
        glance = sim.SimGlance(self.clock, copy_seconds=400)
        self.clone(self.backend(glance))
        self.assertEqual(1, len(self.driver.clones))

    def test_image_deleted_mid_copy_says_so_at_once(self):
        glance = sim.SimGlance(self.clock, copy_seconds=100)
        real_pool_state = glance.pool_state

        def pool_state(store):
            if self.clock.elapsed() >= 10 and not glance.deleted:
                glance.delete()
            return real_pool_state(store)

        glance.pool_state = pool_state
        e = self.assertRaises(image_copy.ImageDeletedDuringCopy, self.clone,
                              self.backend(glance))
        self.assertIsInstance(e, exception.ImageUnacceptable)
        self.assertIn('was deleted', str(e))
        self.assertLess(self.clock.elapsed(), 10 + 2)
        self.assertEqual([], self.driver.clones)

    def test_failures_without_a_visible_task_back_off(self):
        self.flags(images_rbd_glance_copy_timeout=120, group='libvirt')
        glance = sim.SimGlance(self.clock, copy_seconds=0.1, fail_copies=99)
        glance.get_image_tasks = mock.Mock(return_value=[])
        self.assertRaises(image_copy.ImageCopyTimeout, self.clone,
                          self.backend(glance))
        # 2, 4, 8, 16, 32, 60 s apart, not every 0.6 s (~200).
        self.assertLessEqual(len(glance.import_log), 8)

    def test_409_without_a_visible_task_backs_off(self):
        # Glance refuses every copy (another project's import holds the
        # image) and the image shows no task we can read.
        self.flags(images_rbd_glance_copy_timeout=600, group='libvirt')
        glance = sim.SimGlance(self.clock, copy_seconds=1000)
        glance.image_import = mock.Mock(
            side_effect=glance_multistore.ImageImportInProgress(
                image_id=IMG, reason='Image has active task'))
        e = self.assertRaises(image_copy.ImageCopyTimeout, self.clone,
                              self.backend(glance))
        # Was one request every ~0.3 s (2001 in 600 s).
        self.assertLessEqual(glance.image_import.call_count, 60)
        self.assertIn('409 (another import)', str(e))
        self.assertLess(self.clock.elapsed(), 601)

    def test_glance_outage_longer_than_one_requests_retries(self):
        glance = sim.SimGlance(self.clock, copy_seconds=2)
        real_get = glance.get
        down_until = sim.EPOCH + 20

        def get(context, image_id):
            if glance.calls['get'] >= 1 and self.clock() < down_until:
                glance.calls['get_failed'] += 1
                raise exception.GlanceConnectionFailed(
                    server='glance', reason='Connection refused')
            return real_get(context, image_id)

        glance.get = get
        self.clone(self.backend(glance))
        self.assertEqual(1, len(self.driver.clones))
        self.assertGreater(glance.calls['get_failed'], 1)
        # Backing off, not hammering: 0.5, 1, 2, 4, 8, 15 s.
        self.assertLessEqual(glance.calls['get_failed'], 8)
        self.assertIn('Glance request 1 for the copy of image %s failed' % IMG,
                      self.stdlog.logger.output)

    def test_glance_down_until_the_deadline_times_out_on_time(self):
        self.flags(images_rbd_glance_copy_timeout=60, group='libvirt')
        glance = sim.SimGlance(self.clock, copy_seconds=2)
        real_get = glance.get

        def get(context, image_id):
            if glance.calls['get']:
                raise exception.GlanceConnectionFailed(
                    server='glance', reason='Connection refused')
            return real_get(context, image_id)

        glance.get = get
        e = self.assertRaises(image_copy.ImageCopyTimeout, self.clone,
                              self.backend(glance))
        self.assertIn('Glance request(s) failed', str(e))
        self.assertIn('Connection refused', str(e))
        self.assertGreaterEqual(self.clock.elapsed(), 60)
        self.assertLess(self.clock.elapsed(), 61)

    def test_5xx_is_transient(self):
        glance = sim.SimGlance(self.clock, copy_seconds=2)
        real_tasks = glance.get_image_tasks
        answers = [glanceclient_exc.HTTPInternalServerError('boom'),
                   glanceclient_exc.HTTPServiceUnavailable('restarting')]

        def tasks(context, image_id, timeout=None):
            if answers:
                raise answers.pop(0)
            return real_tasks(context, image_id, timeout)

        glance.get_image_tasks = tasks
        self.clone(self.backend(glance))
        self.assertEqual(1, len(self.driver.clones))

    def test_every_glance_call_is_bounded_by_what_is_left(self):
        self.flags(images_rbd_glance_copy_timeout=100, group='libvirt')
        glance = sim.SimGlance(self.clock, copy_seconds=30)
        self.clone(self.backend(glance))
        timeouts = [t for _name, t in glance.timeouts]
        self.assertTrue(timeouts)
        self.assertNotIn(None, timeouts)
        self.assertTrue(all(0 < t <= 100 for t in timeouts), timeouts)
        self.assertLess(timeouts[-1], 100 - 29)

    def test_queued_boot_keeps_the_deadline_it_got_when_it_asked(self):
        self.flags(images_rbd_glance_copy_timeout=30, group='libvirt')
        glance = sim.SimGlance(self.clock, copy_seconds=1000)
        real = utils.synchronized
        free_at = sim.EPOCH + 20

        def synchronized(name, **kwargs):
            # Another boot of the image holds Nova's lock for 20 s.
            if self.clock() < free_at:
                raise lockutils.AcquireLockFailedException(name)
            return real(name, **kwargs)

        with mock.patch.object(utils, 'synchronized',
                               side_effect=synchronized):
            e = self.assertRaises(image_copy.ImageCopyTimeout, self.clone,
                                  self.backend(glance))
        self.assertIn('within 30 s', str(e))
        # 30 s from when it asked, not 30 s after the lock.
        self.assertGreaterEqual(self.clock.elapsed(), 30)
        self.assertLess(self.clock.elapsed(), 31)

    def test_lock_held_past_the_deadline(self):
        self.flags(images_rbd_glance_copy_timeout=30, group='libvirt')
        glance = sim.SimGlance(self.clock)

        def synchronized(name, **kwargs):
            self.assertFalse(kwargs['blocking'])
            raise lockutils.AcquireLockFailedException(name)

        with mock.patch.object(utils, 'synchronized',
                               side_effect=synchronized) as mock_sync:
            e = self.assertRaises(image_copy.ImageCopyTimeout, self.clone,
                                  self.backend(glance))
        self.assertIn("copy lock rbd-glance-copy-%s" % IMG, str(e))
        self.assertGreaterEqual(self.clock.elapsed(), 30)
        self.assertLess(self.clock.elapsed(), 30.01)
        # Polled with a backoff up to LOCK_POLL_MAX, not spun.
        self.assertLessEqual(mock_sync.call_count, 40)
        self.assertEqual(0, glance.calls['image_import'])


class TestInputs(RbdGlanceTestCase):
    """Issue 12 item 4: ids, locations and Glance answers checked."""

    def test_references_that_are_not_image_ids_are_refused(self):
        rbd = self.backend(sim.SimGlance(self.clock))
        for ref in ('rbd://%s/images/%s/snap' % (sim.FSID_A, IMG),
                    '../../../tmp/x', 'img-1', '', None,
                    'file:///%s' % IMG):
            e = self.assertRaises(image_copy.InvalidImageReference,
                                  self.clone, rbd, ref)
            self.assertIsInstance(e, exception.ImageUnacceptable)
        self.assertEqual(0, self.glance_requests())
        self.assertEqual([], self.driver.clones)

    def test_a_glance_image_url_is_accepted_as_upstream_does(self):
        glance = sim.SimGlance(self.clock, stores=('site_a',))
        rbd = self.backend(glance)
        real_get = glance.get
        seen = []

        def get(context, image_ref):
            seen.append(image_ref)
            return real_get(context, IMG)

        glance.get = get
        self.clone(rbd, 'http://glance:9292/v2/images/%s' % IMG)
        self.assertEqual(['http://glance:9292/v2/images/%s' % IMG], seen)
        self.assertEqual(1, len(self.driver.clones))

    def test_a_location_of_another_rbd_image_is_not_the_image(self):
        # An owner pointed the image at some other RBD image of this
        # cluster (Glance lets owners edit locations when so configured).
        glance = sim.SimGlance(self.clock, copy_seconds=1)
        glance.locations.append(
            {'url': 'rbd://%s/vms/%s_disk/snap' % (sim.FSID_A, uuids.other),
             'metadata': {}})
        self.clone(self.backend(glance))
        (url, _pool, _name), = self.driver.clones
        self.assertEqual(SITE_A_URL, url)
        self.assertEqual(1, glance.calls['image_import'])

    def test_an_answer_about_another_image_is_refused(self):
        glance = sim.SimGlance(self.clock, stores=('site_a',))
        glance.image['id'] = uuids.other
        e = self.assertRaises(glance_multistore.GlanceUnexpectedAnswer,
                              self.clone, self.backend(glance))
        self.assertIn('another image', str(e))
        self.assertEqual([], self.driver.clones)

    def test_wrong_types_in_the_image_are_not_an_attribute_error(self):
        glance = sim.SimGlance(self.clock, copy_seconds=1)
        glance.image['size'] = 'big'
        glance.image['checksum'] = {'not': 'a string'}
        self.clone(self.backend(glance))
        self.assertEqual(1, len(self.driver.clones))
