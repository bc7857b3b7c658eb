"""Unit tests for the Rbd image backend's clone and copy-to-store paths.

Glance and Ceph are the simulator in ``sim.py`` on a fake clock, so timings below are
simulated seconds: exact and instant. The functional suite proves the same paths on
the real services.
"""

import threading
import types
from unittest import mock

import fixtures
from oslo_config import fixture as config_fixture
import testtools

import nova.conf
from nova import exception
from nova.tests.unit.virt.libvirt import sim
from nova.virt.libvirt import imagebackend

CONF = nova.conf.CONF


class RbdTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.flags = self.useFixture(config_fixture.Config(CONF))
        self.flags.config(group='libvirt', images_type='rbd', images_rbd_pool='vms',
                          images_rbd_glance_store_name='site_a',
                          images_rbd_glance_copy_poll_interval=15,
                          images_rbd_glance_copy_timeout=600,
                          images_rbd_glance_copy_retries=2)
        self.log = self.useFixture(fixtures.FakeLogger(level='DEBUG'))
        self.clock = sim.Clock()
        self.instance = types.SimpleNamespace(uuid='inst-1')

    def backend(self, glance, driver=None, disk='disk'):
        self.glance = glance
        self.driver = driver or sim.SimRbd(glance)
        return imagebackend.Rbd(instance=self.instance, disk_name=disk, conf=CONF,
                                glance_api=glance, rbd_driver=self.driver,
                                clock=self.clock, sleep=self.clock.sleep)

    def glance_requests(self):
        return sum(v for k, v in self.glance.calls.items() if k != 'get_store_detail')


class TestHotPath(RbdTestCase):

    def test_local_location_is_cloned_without_a_copy(self):
        rbd = self.backend(sim.SimGlance(self.clock, stores=('central', 'site_a')))
        rbd.clone(None, 'img-1')
        self.assertEqual(0, self.glance.calls['image_import'])
        self.assertEqual(2, self.glance_requests())   # show + locations
        self.assertEqual([('rbd://%s/images/img-1/snap' % sim.FSID_A, 'vms',
                           'inst-1_disk')], self.driver.clones)
        self.assertEqual(0.0, self.clock())

    def test_clone_by_rbd_uri(self):
        rbd = self.backend(sim.SimGlance(self.clock))
        rbd.clone(None, 'rbd://%s/images/x/snap' % sim.FSID_A)
        self.assertEqual(1, self.driver.calls['clone'])
        self.assertEqual(0, self.glance_requests())

    def test_not_cloneable_location_says_why(self):
        rbd = self.backend(sim.SimGlance(self.clock, stores=('site_a',)))
        self.driver.not_cloneable = 'snapshot snap is not protected'
        e = self.assertRaises(exception.ImageNotCloneable, rbd.clone, None, 'img-1')
        self.assertIn('not protected', str(e))
        self.assertEqual([], self.driver.clones)


class TestCopyToStore(RbdTestCase):

    def test_cold_clone_copies_once_and_notices_completion_quickly(self):
        rbd = self.backend(sim.SimGlance(self.clock, copy_seconds=1.5))
        rbd.clone(None, 'img-1')
        self.assertEqual([(0.0, 'site_a')], self.glance.import_log)
        self.assertEqual(1, len(self.driver.clones))
        noticed = self.clock() - self.glance.registered_at['site_a']
        self.assertLess(noticed, 0.5)
        # A fixed 1 s poll makes: show + locations + import + 2 polls + locations.
        self.assertLessEqual(self.glance_requests(), 6)
        self.assertIn('Asking Glance to copy image img-1 to store site_a',
                      self.log.output)

    def test_long_copy_polls_glance_less_than_a_fixed_one_second_poll(self):
        rbd = self.backend(sim.SimGlance(self.clock, copy_seconds=60))
        rbd.clone(None, 'img-1')
        self.assertLess(self.clock() - self.glance.registered_at['site_a'], 0.5)
        # A fixed 1 s poll makes ~62 requests here; the backoff makes about a quarter.
        self.assertLessEqual(self.glance_requests(), 62 // 3)
        self.assertIn('Copying image img-1 to store site_a:', self.log.output)

    def test_without_store_detail_glance_alone_is_watched(self):
        rbd = self.backend(sim.SimGlance(self.clock, copy_seconds=1.5,
                                         store_detail=False))
        rbd.clone(None, 'img-1')
        self.assertEqual(0, self.driver.calls['copy_progress'])
        # Without the store's pool (no service role for stores/detail) only Glance
        # polls show the end, and they back off: within a second for a short copy.
        self.assertLess(self.clock() - self.glance.registered_at['site_a'], 1.0)

    def test_copy_started_elsewhere_is_waited_for(self):
        glance = sim.SimGlance(self.clock, copy_seconds=3)
        glance.start_other_import('site_a')
        self.backend(glance).clone(None, 'img-1')
        self.assertEqual(0, glance.calls['image_import'])
        self.assertEqual(1, len(self.driver.clones))

    def test_conflict_on_request_is_not_a_failure(self):
        glance = sim.SimGlance(self.clock, copy_seconds=2)
        real_import = glance.image_import

        def racing_import(*args, **kwargs):
            # Another host's request lands first: we get Glance's 409.
            glance.image_import = real_import
            glance.start_other_import('site_a')
            return real_import(*args, **kwargs)

        glance.image_import = racing_import
        self.backend(glance).clone(None, 'img-1')
        self.assertEqual(1, len(self.driver.clones))
        self.assertIn('Waiting for it', self.log.output)

    def test_other_store_import_holds_the_lock_then_we_ask(self):
        glance = sim.SimGlance(self.clock, copy_seconds=2)
        glance.start_other_import('site_b')
        self.backend(glance).clone(None, 'img-1')
        (asked_at, store), = glance.import_log
        self.assertEqual('site_a', store)
        self.assertGreaterEqual(asked_at, 2.0)
        self.assertIn('site_b', glance.image['stores'])

    def test_failed_copy_is_retried_with_backoff(self):
        glance = sim.SimGlance(self.clock, copy_seconds=1, fail_copies=1)
        self.backend(glance).clone(None, 'img-1')
        first, second = glance.import_log
        self.assertGreaterEqual(second[0] - first[0], 1 + 2)  # copy time + backoff
        self.assertEqual(1, len(self.driver.clones))

    def test_failed_copy_beyond_retries_names_the_task(self):
        self.flags.config(group='libvirt', images_rbd_glance_copy_retries=1)
        glance = sim.SimGlance(self.clock, copy_seconds=0.5, fail_copies=9)
        rbd = self.backend(glance)
        e = self.assertRaises(exception.ImageCopyFailed, rbd.clone, None, 'img-1')
        msg = str(e)
        self.assertIn('2 time(s)', msg)
        self.assertIn('task-2: Task failed due to Internal Error', msg)
        self.assertIn('Glance API log', msg)
        self.assertEqual(2, len(glance.import_log))
        self.assertEqual([], self.driver.clones)
        # Reported soon after Glance marked it, not at the timeout.
        self.assertLess(self.clock(), 10)

    def test_retries_that_fail_at_once_are_noticed_at_once(self):
        # Glance fails the copy before writing anything to the pool: nothing there to
        # watch, and the image looks the same before and after each attempt.
        glance = sim.SimGlance(self.clock, copy_seconds=0.1, fail_copies=9)
        rbd = self.backend(glance)
        self.assertRaises(exception.ImageCopyFailed, rbd.clone, None, 'img-1')
        self.assertEqual(3, len(glance.import_log))
        last_failed = glance.import_log[-1][0] + 0.1
        self.assertLess(self.clock() - last_failed, 0.5)

    def test_failure_marker_of_an_earlier_attempt_does_not_fail_the_boot(self):
        self.flags.config(group='libvirt', images_rbd_glance_copy_retries=0)
        glance = sim.SimGlance(self.clock, copy_seconds=0.5, fail_copies=1)
        glance.start_other_import('site_a', fails=True)   # before the store was fixed
        glance.fail_copies = 0
        rbd = self.backend(glance)
        rbd.clone(None, 'img-1')
        self.assertEqual(1, len(glance.import_log))
        self.assertEqual(1, len(self.driver.clones))

    def test_timeout_says_what_was_importing(self):
        self.flags.config(group='libvirt', images_rbd_glance_copy_timeout=30)
        glance = sim.SimGlance(self.clock, copy_seconds=1000)
        e = self.assertRaises(exception.ImageCopyTimeout,
                              self.backend(glance).clone, None, 'img-1')
        msg = str(e)
        self.assertIn('store site_a importing for', msg)
        self.assertIn('task-1', msg)
        self.assertGreaterEqual(self.clock(), 30)
        self.assertLess(self.clock(), 30 + 15 + 1)

    def test_stalled_import_is_reported_with_its_task(self):
        self.flags.config(group='libvirt', images_rbd_glance_copy_timeout=300,
                          images_rbd_glance_copy_stall_timeout=60)
        glance = sim.SimGlance(self.clock, copy_seconds=10 ** 6)
        glance.start_other_import('site_a')
        # A dead Glance worker: the lock stays, nothing moves in the pool.
        glance.pool_state = lambda store: (True, 8 * sim.MiB, False)
        self.assertRaises(exception.ImageCopyTimeout,
                          self.backend(glance).clone, None, 'img-1')
        self.assertIn('No progress copying image img-1 to store site_a', self.log.output)
        self.assertIn('task-1 holds the image', self.log.output)

    def test_store_in_another_cluster_is_refused_before_copying(self):
        self.flags.config(group='libvirt', images_rbd_glance_store_name='site_b')
        glance = sim.SimGlance(self.clock)
        e = self.assertRaises(exception.GlanceStoreWrongCluster,
                              self.backend(glance).clone, None, 'img-1')
        self.assertIn(sim.FSID_B, str(e))
        self.assertEqual(0, glance.calls['image_import'])

    def test_unknown_store_is_a_configuration_error(self):
        self.flags.config(group='libvirt', images_rbd_glance_store_name='nowhere')
        glance = sim.SimGlance(self.clock)
        e = self.assertRaises(exception.GlanceStoreNotFound,
                              self.backend(glance).clone, None, 'img-1')
        self.assertIn('images_rbd_glance_store_name', str(e))

    def test_cache_image_copies_without_cloning(self):
        rbd = self.backend(sim.SimGlance(self.clock))
        self.assertTrue(rbd.cache_image(None, 'img-1'))
        self.assertFalse(rbd.cache_image(None, 'img-1'))
        self.assertEqual([], self.driver.clones)
        self.assertEqual(1, len(self.glance.import_log))


class TestConcurrentBoots(RbdTestCase):

    def test_boots_of_one_image_on_one_host_make_one_copy_request(self):
        glance = sim.SimGlance(self.clock, copy_seconds=1.5)
        driver = sim.SimRbd(glance)
        backends = [self.backend(glance, driver, disk='disk%d' % i) for i in range(6)]
        errors = []

        def boot(rbd):
            try:
                rbd.clone(None, 'img-1')
            except Exception as e:  # collected and asserted below
                errors.append(e)

        threads = [threading.Thread(target=boot, args=(b,)) for b in backends]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual([], errors)
        self.assertEqual(1, len(glance.import_log))
        self.assertEqual(6, len(driver.clones))


class TestCopyLock(testtools.TestCase):

    def test_a_failing_file_lock_releases_the_thread_lock(self):
        lock_path = self.useFixture(fixtures.TempDir()).path
        not_a_dir = lock_path + '/file'
        open(not_a_dir, 'w').close()
        lock = imagebackend.CopyLock('img-x', not_a_dir)
        self.assertRaises(OSError, lock.__enter__)
        with imagebackend.CopyLock('img-x', lock_path) as again:
            self.assertFalse(again.waited)

    def test_second_holder_waits(self):
        lock_path = self.useFixture(fixtures.TempDir()).path
        first = imagebackend.CopyLock('img-y', lock_path).__enter__()
        entered = []

        def second():
            with imagebackend.CopyLock('img-y', lock_path) as lock:
                entered.append(lock.waited)

        t = threading.Thread(target=second)
        t.start()
        t.join(0.2)
        self.assertEqual([], entered)
        first.__exit__(None, None, None)
        t.join(5)
        self.assertEqual([True], entered)


class TestBadInput(RbdTestCase):

    def test_unknown_image(self):
        rbd = self.backend(sim.SimGlance(self.clock))
        self.assertRaises(exception.ImageNotFound, rbd.clone, None, 'nope')

    def test_queued_image(self):
        rbd = self.backend(sim.SimGlance(self.clock, status='queued'))
        self.assertRaises(exception.ImageNotActive, rbd.clone, None, 'img-1')
        self.assertEqual(0, self.glance.calls['image_import'])

    def test_qcow2_image(self):
        rbd = self.backend(sim.SimGlance(self.clock, disk_format='qcow2'))
        self.assertRaises(exception.ImageDiskFormatUnsupported, rbd.clone, None, 'img-1')
        self.assertEqual([], self.driver.clones)

    def test_no_store_and_image_elsewhere_on_rbd_with_never_download(self):
        self.flags.config(group='libvirt', images_rbd_glance_store_name='')
        self.flags.config(group='workarounds', never_download_image_if_on_rbd=True)
        rbd = self.backend(sim.SimGlance(self.clock, stores=('site_b',)))
        e = self.assertRaises(exception.ImageDownloadRefused, rbd.clone, None, 'img-1')
        self.assertIn('images_rbd_glance_store_name', str(e))

    def test_no_store_allows_the_flat_path(self):
        self.flags.config(group='libvirt', images_rbd_glance_store_name='')
        self.flags.config(group='workarounds', never_download_image_if_on_rbd=True)
        # Only in a file store: never_download does not apply, the driver may download.
        rbd = self.backend(sim.SimGlance(self.clock, stores=('central',)))
        self.assertRaises(exception.ImageNotCloneable, rbd.clone, None, 'img-1')


class TestDisk(RbdTestCase):

    def test_flat_create_image_downloads_imports_and_grows(self):
        rbd = self.backend(sim.SimGlance(self.clock))
        prepare = mock.Mock()
        rbd.create_image(prepare, '/base/img-1', 128 * sim.MiB)
        prepare.assert_called_once_with(target='/base/img-1')
        self.assertEqual(128 * sim.MiB, rbd.get_disk_size())
        rbd.create_image(prepare, '/base/img-1', 64 * sim.MiB)
        self.assertEqual(1, prepare.call_count)        # exists: not downloaded again
        self.assertEqual(128 * sim.MiB, rbd.get_disk_size())   # never shrunk

    def test_remove(self):
        rbd = self.backend(sim.SimGlance(self.clock, stores=('site_a',)))
        rbd.clone(None, 'img-1')
        self.assertTrue(rbd.exists())
        rbd.remove()
        self.assertFalse(rbd.exists())

    def test_backend_refuses_other_image_types(self):
        self.flags.config(group='libvirt', images_type='qcow2')
        e = self.assertRaises(exception.InvalidConfiguration,
                              imagebackend.Backend(CONF, glance_api=mock.Mock(),
                                                   rbd_driver=mock.Mock()).by_name,
                              self.instance, 'disk')
        self.assertIn('images_type', str(e))

    def test_backend_shares_its_collaborators(self):
        driver, glance = mock.Mock(), mock.Mock()
        backend = imagebackend.Backend(CONF, glance_api=glance, rbd_driver=driver)
        a = backend.by_name(self.instance, 'disk')
        b = backend.by_name(self.instance, 'disk.eph0')
        self.assertIs(a.driver, b.driver)
        self.assertEqual(('inst-1_disk', 'inst-1_disk.eph0'), (a.rbd_name, b.rbd_name))


class TestLibvirtInfo(RbdTestCase):

    def test_rbd_network_disk_with_monitors_and_cephx_secret(self):
        self.flags.config(group='libvirt', rbd_user='nova',
                          rbd_secret_uuid='5a6c7d8e-0000-4000-8000-00000000abcd')
        rbd = self.backend(sim.SimGlance(self.clock))
        xml = rbd.libvirt_info({'dev': 'vda', 'bus': 'virtio', 'type': 'disk'},
                               'writeback').to_xml()
        for fragment in ("type=\"network\"", "protocol=\"rbd\"",
                         "name=\"vms/inst-1_disk\"",
                         "<host name=\"127.0.0.1\" port=\"17000\"",
                         "<auth username=\"nova\">",
                         "uuid=\"5a6c7d8e-0000-4000-8000-00000000abcd\"",
                         "type=\"ceph\"", "dev=\"vda\"", "cache=\"writeback\""):
            self.assertIn(fragment, xml.replace("'", '"'))
