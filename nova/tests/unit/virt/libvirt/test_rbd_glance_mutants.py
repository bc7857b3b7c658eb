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

"""The Rbd backend's copy and wait, on what the mutation run of issue 15
found unchecked (tools/mutation.sh): one deadline per boot, the image's own
location in the store's pool, the task that holds the image, transient
failures of the copy request, the lock wait's backoff, the reads of this
host's cluster, and request counts where a loop polls.
"""

from unittest import mock

import fixtures
from oslo_concurrency import lockutils

from nova import exception
from nova.storage import rbd_multistore
from nova.tests.unit.virt.libvirt import glance_copy_sim as sim
from nova.tests.unit.virt.libvirt import test_rbd_glance as base
from nova import utils
from nova.virt.libvirt import image_copy
from nova.virt.libvirt import rbd_glance

IMG = sim.IMAGE_ID
SITE_A_URL = base.SITE_A_URL
OTHER_IMG = '0c2f5a7e-3d4b-4e1f-9a8c-6b5d4e3f2a11'


def before_each_read(glance, hook):
    """Call ``hook()`` before each read of the image record."""
    read = glance.get

    def get(context, image_id):
        hook()
        return read(context, image_id)

    glance.get = get


class SlowFirstRead(sim.SimGlance):
    """Glance takes ``first_read`` seconds to answer the boot's first read."""

    first_read = 100.0

    def read_image(self, context, image_id, timeout=None):
        if not self.calls['get']:
            self.clock.sleep(self.first_read)
        return super().read_image(context, image_id, timeout=timeout)


class CrowdedLocations(sim.SimGlance):
    """Once copied, the image's locations in this cluster include other
    RBD images (another image's, another pool's, another store's) listed
    before its own in our store.
    """

    def get_image_locations(self, context, image_id, timeout=None):
        locations = super().get_image_locations(context, image_id,
                                                timeout=timeout)
        if 'site_a' not in self.stores():
            return locations
        fsid = sim.FSID_A
        crowd = [
            {'url': 'rbd://%s/images/%s/snap' % (fsid, OTHER_IMG),
             'metadata': {'store': 'site_a'}},
            {'url': 'rbd://%s/other/%s/snap' % (fsid, IMG),
             'metadata': {'store': 'site_a'}},
            {'url': 'rbd://%s/images/%s/old' % (fsid, IMG),
             'metadata': {'store': 'site_a_old'}},
        ]
        return crowd + locations


class NoIdRecord(sim.SimGlance):
    """The image record as a Glance without ``id`` in its answer."""

    def get(self, context, image_id):
        image = super().get(context, image_id)
        image.pop('id')
        return image


class FlakyImport(sim.SimGlance):
    """The first ``flaky`` copy requests fail as Glance being unreachable."""

    flaky = 3

    def image_import(self, context, image_id, *args, **kwargs):
        if self.flaky:
            self.flaky -= 1
            self.calls['image_import_failed'] += 1
            raise exception.GlanceConnectionFailed(server='127.0.0.1:9292',
                                                   reason='refused')
        return super().image_import(context, image_id, *args, **kwargs)


class TestOneDeadlinePerBoot(base.RbdGlanceTestCase):

    def test_copy_ends_by_the_deadline_set_when_the_boot_asked(self):
        glance = SlowFirstRead(self.clock, copy_seconds=10000)
        self.assertRaises(image_copy.ImageCopyTimeout, self.clone,
                          self.backend(glance))
        # The 100 s of the first read count against the boot's 600 s.
        self.assertAlmostEqual(600.0, self.clock.elapsed(), delta=1e-6)

    def test_a_new_boot_on_the_same_backend_gets_a_new_deadline(self):
        glance = sim.SimGlance(self.clock, copy_seconds=10000)
        rbd = self.backend(glance)
        self.assertRaises(image_copy.ImageCopyTimeout, self.clone, rbd)
        # The copy ends; the next boot of this disk has its own deadline.
        glance.copy_seconds = 620
        self.clone(rbd)
        self.assertEqual(1, len(self.driver.clones))

    def test_a_clone_without_copy_has_a_deadline_too(self):
        glance = sim.SimGlance(self.clock, stores=('central', 'site_a'))
        rbd = self.backend(glance)
        rbd.clone(self.context, IMG, copy_to_store=False)
        self.assertTrue(glance.timeouts)
        for call, timeout in glance.timeouts:
            self.assertIsNotNone(timeout, call)
            self.assertLessEqual(timeout, 600)

    def test_timeout_is_on_time_when_the_pool_is_watched(self):
        for origin in (sim.EPOCH, 12345.678):
            self.clock = sim.Clock(origin)
            self.flags(images_rbd_glance_copy_timeout=30, group='libvirt')
            glance = sim.SimGlance(self.clock, copy_seconds=10000)
            self.assertRaises(image_copy.ImageCopyTimeout, self.clone,
                              self.backend(glance))
            self.assertAlmostEqual(30.0, self.clock.elapsed(), delta=1e-6)


class TestOwnLocationAfterTheCopy(base.RbdGlanceTestCase):

    def test_clone_source_is_the_image_s_own_in_our_store_s_pool(self):
        self.clone(self.backend(CrowdedLocations(self.clock)))
        self.assertEqual([(SITE_A_URL, 'vms', mock.ANY)], self.driver.clones)

    def test_image_already_in_the_store_is_returned_at_once(self):
        glance = sim.SimGlance(self.clock, stores=('central', 'site_a'))
        rbd = self.backend(glance)
        location = rbd.copy_to_store(self.context, {'id': IMG})
        self.assertEqual(SITE_A_URL, location.url)
        self.assertEqual(0.0, self.clock.elapsed())
        self.assertEqual(0, glance.calls['image_import'])

    def test_copy_completes_soon_after_the_pool_shows_it(self):
        # Glance is polled up to every 15 s; the pool shows the end.
        glance = sim.SimGlance(self.clock, copy_seconds=60)
        self.clone(self.backend(glance))
        self.assertLess(self.clock.elapsed(), 60 + 1.0)
        self.assertLess(self.glance_requests(), 30)

    def test_location_registered_late_is_read_a_bounded_number_of_times(self):
        glance = sim.SimGlance(self.clock, copy_seconds=2, register_lag=30)
        self.clone(self.backend(glance))
        self.assertEqual(1, len(self.driver.clones))
        # CONFIRM_TRIES quick reads, then the image with its backoff.
        self.assertLess(glance.calls['get_image_locations'],
                        image_copy.CONFIRM_TRIES + 15)

    def test_unwatched_wait_sleeps_once_per_glance_poll(self):
        glance = sim.SimGlance(self.clock, copy_seconds=120,
                               store_detail=False)
        sleeps = []
        real_sleep = self.clock.sleep

        def sleep(seconds):
            sleeps.append(seconds)
            real_sleep(seconds)

        rbd = rbd_glance.Rbd(instance=self.instance, disk_name='disk',
                             glance_api=glance,
                             rbd_driver=sim.SimRbd(glance),
                             cluster=sim.SimRbd(glance), clock=self.clock,
                             sleep=sleep, wall=self.clock.wall)
        rbd.clone(self.context, IMG)
        self.assertEqual(0, rbd._cluster.calls['copy_progress'])
        self.assertLessEqual(len(sleeps), glance.calls['get'] + 2)


class TestTheImageAsGlanceShowsIt(base.RbdGlanceTestCase):

    def test_deleted_during_the_copy_names_image_store_and_time(self):
        glance = sim.SimGlance(self.clock, copy_seconds=100)

        def deleted_after_5_s():
            if self.clock.elapsed() >= 5:
                glance.delete()

        before_each_read(glance, deleted_after_5_s)
        e = self.assertRaises(image_copy.ImageDeletedDuringCopy, self.clone,
                              self.backend(glance))
        msg = str(e)
        self.assertIn(IMG, msg)
        self.assertIn('store site_a', msg)
        elapsed = int(self.clock.elapsed())
        self.assertIn('after %d s' % elapsed, msg)
        self.assertLess(elapsed, 30)

    def test_record_without_id_still_names_the_image(self):
        glance = NoIdRecord(self.clock, fail_copies=10)
        copier = rbd_glance.GlanceCopy(glance, sim.SimRbd(glance),
                                       self.clock, self.clock.sleep,
                                       wall=self.clock.wall)
        e = self.assertRaises(image_copy.ImageCopyFailed, copier.copy,
                              self.context, IMG, 'site_a')
        self.assertIn(IMG, str(e))


class TestTaskHoldingTheImage(base.RbdGlanceTestCase):
    """The task read with the image is the one holding it, aged."""

    def waiter(self, image, tasks):
        glance = mock.Mock(spec=['read_image', 'get_image_tasks',
                                 'get_image_locations'])
        glance.read_image.return_value = image
        glance.get_image_tasks.return_value = tasks
        glance.get_image_locations.return_value = []
        copier = rbd_glance.GlanceCopy(glance, sim.SimRbd(None), self.clock,
                                       self.clock.sleep, wall=self.clock.wall)
        return glance, rbd_glance.CopyWaiter(copier, self.context, IMG,
                                             'site_a', None)

    def tasks(self):
        return [{'id': 'task-1', 'type': 'api_image_import',
                 'status': 'processing', 'message': '',
                 'created_at': self.clock.iso(self.clock.now - 500),
                 'updated_at': self.clock.iso(self.clock.now - 400)},
                {'id': 'task-2', 'type': 'api_image_import',
                 'status': 'failure', 'message': 'boom',
                 'created_at': self.clock.iso(self.clock.now - 100),
                 'updated_at': self.clock.iso(self.clock.now - 90)}]

    def image(self, holder):
        props = {'os_glance_failed_import': 'site_a'}
        if holder:
            props['os_glance_import_task'] = holder
        return {'id': IMG, 'status': 'active', 'disk_format': 'raw',
                'size': 1, 'stores': 'central', 'properties': props}

    def test_the_holder_not_the_newest(self):
        glance, waiter = self.waiter(self.image('task-1'), self.tasks())
        _location, task = waiter._observe(None, self.clock())
        self.assertEqual('task-1', task.task_id)
        self.assertEqual(400.0, task.age)
        glance.get_image_tasks.assert_called_once_with(
            self.context, IMG, timeout=mock.ANY)

    def test_a_holder_not_listed_falls_back_to_the_newest(self):
        _glance, waiter = self.waiter(self.image('task-9'), self.tasks())
        _location, task = waiter._observe(None, self.clock())
        self.assertEqual('task-2', task.task_id)
        self.assertEqual(90.0, task.age)

    def test_without_holder_the_newest(self):
        _glance, waiter = self.waiter(self.image(None), self.tasks())
        _location, task = waiter._observe(None, self.clock())
        self.assertEqual('task-2', task.task_id)
        self.assertEqual(90.0, task.age)


class TestTransientCopyRequestFailures(base.RbdGlanceTestCase):

    def test_request_failures_are_retried_then_the_copy_goes_on(self):
        for origin in (sim.EPOCH, 7.5e8):
            self.clock = sim.Clock(origin)
            glance = FlakyImport(self.clock)
            self.clone(self.backend(glance))
            self.assertEqual(3, glance.calls['image_import_failed'])
            self.assertEqual(1, glance.calls['image_import'])
            self.assertGreater(self.clock.elapsed(), 1.5)
            self.assertEqual(1, len(self.driver.clones))

    def test_request_failing_until_the_deadline_says_so(self):
        self.flags(images_rbd_glance_copy_timeout=30, group='libvirt')
        glance = FlakyImport(self.clock)
        glance.flaky = 10 ** 6
        e = self.assertRaises(image_copy.ImageCopyTimeout, self.clone,
                              self.backend(glance))
        self.assertIn('refused', str(e))
        self.assertAlmostEqual(30.0, self.clock.elapsed(), delta=1e-6)

    # The image read between two failed requests succeeds; the requests
    # still back off (image_copy.request_failed).
    def test_request_failures_back_off(self):
        self.flags(images_rbd_glance_copy_timeout=30, group='libvirt')
        glance = FlakyImport(self.clock)
        glance.flaky = 10 ** 6
        self.assertRaises(image_copy.ImageCopyTimeout, self.clone,
                          self.backend(glance))
        # 0.5, 1, 2, 4, 8, 15... s apart.
        self.assertLess(glance.calls['image_import_failed'], 10)

    def test_glance_faults_until_the_deadline_keep_what_it_showed(self):
        self.flags(images_rbd_glance_copy_timeout=30, group='libvirt')
        glance = sim.SimGlance(self.clock, copy_seconds=10000)
        glance.start_other_import('site_a')

        def refused_after_two_reads():
            if glance.calls['get'] >= 2:
                raise exception.GlanceConnectionFailed(server='glance',
                                                       reason='refused')

        before_each_read(glance, refused_after_two_reads)
        e = self.assertRaises(image_copy.ImageCopyTimeout, self.clone,
                              self.backend(glance))
        msg = str(e)
        self.assertIn(IMG, msg)
        self.assertIn('import task task-1 holds the image', msg)


class TestLockWait(base.RbdGlanceTestCase):
    """Nova's lock, held by another boot for the whole wait."""

    def test_backoff_and_the_timeout_message(self):
        self.flags(images_rbd_glance_copy_timeout=5, group='libvirt')
        sleeps = []
        real_sleep = self.clock.sleep

        def sleep(seconds):
            sleeps.append(round(seconds, 6))
            real_sleep(seconds)

        def held(*args, **kwargs):
            def decorator(func):
                def run():
                    raise lockutils.AcquireLockFailedException(args[0])
                return run
            return decorator

        self.useFixture(fixtures.MockPatchObject(utils, 'synchronized',
                                                 side_effect=held))
        glance = sim.SimGlance(self.clock)
        copier = rbd_glance.GlanceCopy(glance, sim.SimRbd(glance),
                                       self.clock, sleep,
                                       wall=self.clock.wall)
        e = self.assertRaises(image_copy.ImageCopyTimeout, copier.copy,
                              self.context, IMG, 'site_a')
        self.assertEqual([0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0],
                         sleeps[:8])
        self.assertAlmostEqual(5.0, self.clock.elapsed(), delta=1e-6)
        msg = str(e)
        self.assertIn('Image %s did not reach' % IMG, msg)
        self.assertIn('within 5 s', msg)
        self.assertIn('(%d tries)' % (len(sleeps) + 1), msg)
        self.assertIn(IMG, msg)
        self.assertIn('store site_a', msg)
        self.assertEqual(0, glance.calls['image_import'])


class TestClusterReads(base.RbdGlanceTestCase):
    """The backend's driver, and what one wait keeps between pool reads."""

    def setUp(self):
        super().setUp()
        self.driver = mock.sentinel.driver
        self.reads = rbd_glance.ClusterReads(self.driver)

    @mock.patch.object(rbd_multistore, 'copy_progress', autospec=True)
    def test_copy_progress(self, progress):
        self.reads.copy_progress('images', IMG)
        self.reads.copy_progress('images', IMG, snapshot='other')
        first, second = progress.call_args_list
        self.assertEqual((self.driver, 'images', IMG), first.args)
        self.assertEqual('snap', first.kwargs['snapshot'])
        self.assertEqual('other', second.kwargs['snapshot'])
        # One cache for the whole wait.
        self.assertIsInstance(first.kwargs['cache'], dict)
        self.assertIs(first.kwargs['cache'], second.kwargs['cache'])

    @mock.patch.object(rbd_multistore, 'why_not_cloneable', autospec=True)
    def test_why_not_cloneable(self, why):
        meta = {'id': IMG, 'disk_format': 'raw'}
        self.assertIs(why.return_value,
                      self.reads.why_not_cloneable(SITE_A_URL, meta))
        self.assertEqual((self.driver, SITE_A_URL, meta),
                         why.call_args.args)

    @mock.patch.object(rbd_multistore, 'cluster_fsid', autospec=True)
    def test_cluster_fsid(self, fsid):
        self.assertIs(fsid.return_value, self.reads.cluster_fsid())
        self.assertEqual((self.driver,), fsid.call_args.args)


class TestBootErrorsNameTheImage(base.RbdGlanceTestCase):

    def test_not_ready_record_without_id(self):
        e = self.assertRaises(image_copy.ImageNotReady, self.clone,
                              self.backend(NoIdRecord(self.clock,
                                                      status='queued')))
        self.assertIn(IMG, str(e))

    def test_file_store_as_target(self):
        self.flags(images_rbd_glance_store_name='central', group='libvirt')
        e = self.assertRaises(image_copy.GlanceStoreNotRbd, self.clone,
                              self.backend(sim.SimGlance(self.clock)))
        self.assertIn(IMG, str(e))
        self.assertIn('store central', str(e))

    def test_no_copy_asked_for(self):
        rbd = self.backend(sim.SimGlance(self.clock))
        e = self.assertRaises(image_copy.ImageNotCloneable, rbd.clone,
                              self.context, IMG, copy_to_store=False)
        msg = str(e)
        self.assertIn(IMG, msg)
        self.assertIn(sim.FSID_A, msg)
        self.assertIn('no copy into [libvirt] images_rbd_glance_store_name '
                      'was asked for', msg)
        self.assertEqual(0, self.glance.calls['image_import'])

    def test_no_store_set(self):
        self.flags(images_rbd_glance_store_name=None, group='libvirt')
        e = self.assertRaises(image_copy.ImageNotCloneable, self.clone,
                              self.backend(sim.SimGlance(self.clock)))
        self.assertIn('images_rbd_glance_store_name is not set', str(e))
        self.assertIn(sim.FSID_A, str(e))


class TestCallTimeouts(base.RbdGlanceTestCase):

    def test_each_call_gets_what_is_left(self):
        glance = mock.Mock(spec=['read_image'])
        copier = rbd_glance.GlanceCopy(glance, None, self.clock,
                                       self.clock.sleep)
        copier.call('read_image', 'ctx', IMG,
                    deadline=self.clock() + 0.5)
        copier.call('read_image', 'ctx', IMG, deadline=self.clock() - 3)
        copier.call('read_image', 'ctx', IMG)
        self.assertEqual([mock.call('ctx', IMG, timeout=0.5),
                          mock.call('ctx', IMG, timeout=0.001),
                          mock.call('ctx', IMG)],
                         glance.read_image.call_args_list)


class TestGlanceNeverAnswers(base.RbdGlanceTestCase):

    def test_timeout_names_the_image(self):
        self.flags(images_rbd_glance_copy_timeout=20, group='libvirt')
        glance = sim.SimGlance(self.clock)

        def get(context, image_id):
            raise exception.GlanceConnectionFailed(server='glance',
                                                   reason='refused')

        glance.get = get
        copier = rbd_glance.GlanceCopy(glance, sim.SimRbd(glance),
                                       self.clock, self.clock.sleep,
                                       wall=self.clock.wall)
        e = self.assertRaises(image_copy.ImageCopyTimeout, copier.copy,
                              self.context, IMG, 'site_a')
        self.assertIn(IMG, str(e))
        self.assertIn('refused', str(e))
        self.assertAlmostEqual(20.0, self.clock.elapsed(), delta=1e-6)
