"""rbd_utils against the stack's real Ceph clusters, as client.nova.

Needs the stack (``tools/stack.sh up`` or ``tools/run-tests.sh``). Glance's side is
played by client.admin writing ``images/<name>`` the way Glance's rbd store does: write,
snapshot ``snap``, protect.
"""

import os
import socket
import tempfile
import time

import rbd
import testtools

from nova import exception
from nova.tests.live.fixtures import stack as stack_fixture
from nova.virt.libvirt.storage import rbd_utils

MiB = 1024 * 1024
# Glance's images get Ceph 16's default features; clones need only layering.
GLANCE_FEATURES = (rbd.RBD_FEATURE_LAYERING | rbd.RBD_FEATURE_EXCLUSIVE_LOCK
                   | rbd.RBD_FEATURE_OBJECT_MAP | rbd.RBD_FEATURE_FAST_DIFF
                   | rbd.RBD_FEATURE_DEEP_FLATTEN)


def remove_quietly(ioctx, name):
    """Remove an image and its snapshots, whatever state a failed test left."""
    try:
        with rbd.Image(ioctx, name) as image:
            for snap in list(image.list_snaps()):
                if image.is_protected_snap(snap['name']):
                    image.unprotect_snap(snap['name'])
                image.remove_snap(snap['name'])
    except rbd.ImageNotFound:
        return
    try:
        rbd.RBD().remove(ioctx, name)
    except rbd.ImageNotFound:
        pass


class RbdTestCase(testtools.TestCase):

    site = 'site_a'

    def setUp(self):
        super().setUp()
        self.stack = self.useFixture(stack_fixture.SharedStackFixture())
        self.info = self.stack.state.sites[self.site]
        self.admin = self.stack.rados(self.site)
        self.driver = rbd_utils.RBDDriver(self.info['vms_pool'], self.info['nova_conf'],
                                          'nova', 5)
        self.addCleanup(self.driver.close)

    def ioctx(self, pool):
        ioctx = self.admin.open_ioctx(pool)
        self.addCleanup(ioctx.close)
        return ioctx

    def name(self, what):
        return self.stack.unique_name(what)

    def glance_image(self, data, protect=True, features=GLANCE_FEATURES):
        """Write ``images/<name>@snap`` as Glance's rbd store would; removed at cleanup."""
        ioctx = self.ioctx(self.info['images_pool'])
        name = self.name('glance')
        rbd.RBD().create(ioctx, name, len(data), old_format=False, order=23,
                         features=features)
        self.addCleanup(remove_quietly, ioctx, name)
        with rbd.Image(ioctx, name) as image:
            image.write(data, 0)
            image.create_snap('snap')
            if protect:
                image.protect_snap('snap')
        return rbd_utils.RbdLocation(self.info['fsid'], self.info['images_pool'], name,
                                     'snap')

    def read_vms(self, name):
        with rbd.Image(self.ioctx(self.info['vms_pool']), name, read_only=True) as image:
            return image.read(0, image.size())

    def track_vms(self, name):
        self.addCleanup(remove_quietly, self.ioctx(self.info['vms_pool']), name)
        return name

    def local_file(self, data):
        fd, path = tempfile.mkstemp()
        self.addCleanup(os.unlink, path)
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        return path


class ClusterTest(RbdTestCase):

    def test_fsid_and_mon_addrs(self):
        self.assertEqual(self.info['fsid'], self.driver.get_fsid())
        self.assertEqual((['127.0.0.1'], [str(self.info['mon_port'])]),
                         self.driver.get_mon_addrs())

    def test_one_connection_for_many_calls(self):
        client = self.driver.get_connection()
        for _ in range(5):
            self.driver.exists('nothing-here')
        self.assertIs(client, self.driver.get_connection())

    def test_a_shut_down_connection_is_replaced(self):
        broken = self.driver.get_connection()
        broken.shutdown()
        self.assertFalse(self.driver.exists('nothing-here'))
        self.assertIsNot(broken, self.driver.get_connection())
        self.assertEqual(self.info['fsid'], self.driver.get_fsid())

    def test_dead_mon_fails_within_the_timeout(self):
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            dead_port = s.getsockname()[1]
        with open(self.info['nova_conf']) as f:
            conf = f.read().replace('127.0.0.1:%s' % self.info['mon_port'],
                                    '127.0.0.1:%s' % dead_port)
        self.assertIn(str(dead_port), conf)
        path = self.local_file(conf.encode())
        driver = rbd_utils.RBDDriver('vms', path, 'nova', 2)

        start = time.monotonic()
        e = self.assertRaises(exception.CephConnectionFailed, driver.get_fsid)
        took = time.monotonic() - start

        self.assertLess(took, 2 + 3, 'rbd_connect_timeout=2 but took %.1f s' % took)
        msg = e.format_message()
        self.assertIn(path, msg)
        self.assertIn('client.nova', msg)
        self.assertIn('within 2 s', msg)
        keyring = open(os.path.join(self.info['dir'], 'ceph.client.nova.keyring')).read()
        key = keyring.split('key = ', 1)[1].split()[0]
        self.assertNotIn(key, msg)

    def test_unknown_user_is_refused(self):
        driver = rbd_utils.RBDDriver('vms', self.info['nova_conf'], 'nobody', 5)
        e = self.assertRaises(exception.CephConnectionFailed, driver.get_fsid)
        self.assertIn('client.nobody', e.format_message())


class CloneTest(RbdTestCase):

    def test_clone_of_a_glance_image_has_its_bytes(self):
        data = os.urandom(4 * MiB) + bytes(8 * MiB) + os.urandom(MiB)
        location = self.glance_image(data)
        meta = {'disk_format': 'raw'}
        self.assertIsNone(self.driver.why_not_cloneable(str(location), meta))

        dest = self.track_vms(self.name('disk'))
        self.driver.clone(str(location), dest)

        self.assertEqual(data, self.read_vms(dest))
        self.assertEqual(location, self.driver.parent_info(dest))
        self.assertTrue(self.driver.exists(dest))
        self.assertEqual(len(data), self.driver.size(dest))
        e = self.assertRaises(exception.RbdImageExists, self.driver.clone, location, dest)
        self.assertIn('already exists', e.format_message())

    def test_reasons_not_to_clone(self):
        raw = {'disk_format': 'raw'}
        unprotected = self.glance_image(b'x' * MiB, protect=False)
        self.assertIn('not protected', self.driver.why_not_cloneable(unprotected, raw))

        location = self.glance_image(b'y' * MiB)
        self.assertIn('disk_format is qcow2', self.driver.why_not_cloneable(
            location, {'disk_format': 'qcow2'}))
        other = self.stack.state.sites['site_b']['fsid']
        elsewhere = rbd_utils.RbdLocation(other, location.pool, location.image, 'snap')
        self.assertIn('cluster %s' % other, self.driver.why_not_cloneable(elsewhere, raw))
        no_snap = rbd_utils.RbdLocation(location.fsid, location.pool, location.image,
                                        'other')
        self.assertIn('no snapshot other', self.driver.why_not_cloneable(no_snap, raw))
        gone = rbd_utils.RbdLocation(location.fsid, location.pool, 'gone', 'snap')
        self.assertIn('does not exist', self.driver.why_not_cloneable(gone, raw))
        no_pool = rbd_utils.RbdLocation(location.fsid, 'no-such-pool', 'x', 'snap')
        self.assertIn('does not exist', self.driver.why_not_cloneable(no_pool, raw))

    def test_nova_cannot_write_the_images_pool(self):
        location = self.glance_image(b'z' * MiB)
        dest = self.name('disk')
        self.addCleanup(remove_quietly, self.ioctx(self.info['images_pool']), dest)
        e = self.assertRaises(exception.StorageError, self.driver.clone, location, dest,
                              dest_pool=self.info['images_pool'])
        self.assertIn('client.nova may not', e.format_message())


class InstanceDiskTest(RbdTestCase):

    def test_import_snapshot_clone_and_refused_remove(self):
        data = os.urandom(2 * MiB) + bytes(6 * MiB) + os.urandom(1000)
        base = self.track_vms(self.name('base'))
        self.driver.import_image(self.local_file(data), base)
        self.assertEqual(data, self.read_vms(base))
        with rbd.Image(self.ioctx(self.info['vms_pool']), base, read_only=True) as image:
            self.assertEqual(rbd.RBD_FEATURE_LAYERING, image.features())
            self.assertFalse(image.old_format())

        self.driver.create_snap(base, 'snap')
        self.assertTrue(self.driver.exists(base, snapshot='snap'))
        child = self.name('child')
        self.driver.clone(rbd_utils.RbdLocation(self.driver.get_fsid(), 'vms', base,
                                                'snap'), child)
        self.track_vms(child)
        self.assertEqual([('vms', child)], self.driver.list_children(base))

        e = self.assertRaises(exception.RbdImageBusy, self.driver.remove_image, base)
        self.assertIn('vms/%s' % child, e.format_message())
        self.assertRaises(exception.RbdImageBusy, self.driver.remove_snap, base, 'snap')
        self.assertTrue(self.driver.exists(base, snapshot='snap'))

        self.driver.flatten(child)
        self.assertIsNone(self.driver.parent_info(child))
        self.assertEqual(data, self.read_vms(child))
        self.driver.remove_image(base)
        self.assertFalse(self.driver.exists(base))
        self.driver.remove_image(base)  # already gone is fine

    def test_resize_only_grows(self):
        disk = self.track_vms(self.name('disk'))
        self.driver.import_image(self.local_file(b'a' * MiB), disk)
        self.driver.resize(disk, 4 * MiB)
        self.assertEqual(4 * MiB, self.driver.size(disk))
        self.assertRaises(exception.Invalid, self.driver.resize, disk, 2 * MiB)
        self.assertEqual(4 * MiB, self.driver.size(disk))
        self.assertEqual(b'a' * MiB + bytes(3 * MiB), self.read_vms(disk))

    def test_cleanup_volumes_by_prefix(self):
        prefix = self.name('inst') + '_'
        names = [self.track_vms(prefix + n) for n in ('disk', 'disk.config')]
        other = self.track_vms(self.name('keep'))
        for name in names + [other]:
            self.driver.import_image(self.local_file(b'q' * 4096), name)
        self.assertEqual(sorted(names), sorted(self.driver.cleanup_volumes(prefix)))
        self.assertFalse(any(self.driver.exists(n) for n in names))
        self.assertTrue(self.driver.exists(other))


class CopyProgressTest(RbdTestCase):

    def test_progress_while_glance_writes(self):
        ioctx = self.ioctx(self.info['images_pool'])
        name = self.name('copy')
        pool = self.info['images_pool']
        self.assertEqual(rbd_utils.CopyProgress(exists=False),
                         self.driver.copy_progress(pool, name))

        size = 64 * MiB
        rbd.RBD().create(ioctx, name, size, old_format=False, order=23,
                         features=GLANCE_FEATURES)
        self.addCleanup(remove_quietly, ioctx, name)
        chunk = os.urandom(8 * MiB)
        with rbd.Image(ioctx, name) as image:
            image.write(chunk, 0)
            image.write(chunk, 8 * MiB)
            image.flush()
            # Seen while Glance still holds the image open (exclusive lock).
            p = self.driver.copy_progress(pool, name)
            self.assertEqual((True, size, 16 * MiB, False),
                             (p.exists, p.size, p.written_bytes, p.snapshot_protected))
            for offset in range(16 * MiB, size, 8 * MiB):
                image.write(chunk, offset)
            image.create_snap('snap')
            self.assertFalse(self.driver.copy_progress(pool, name).snapshot_protected)
            image.protect_snap('snap')

        p = self.driver.copy_progress(pool, name)
        self.assertEqual(rbd_utils.CopyProgress(True, size, size, True), p)

    def test_layering_only_image_counts_objects_too(self):
        location = self.glance_image(os.urandom(3 * MiB) + bytes(5 * MiB),
                                     features=rbd.RBD_FEATURE_LAYERING)
        p = self.driver.copy_progress(location.pool, location.image)
        # Whole objects of 8 MiB (order 23): the one object holding data counts.
        self.assertEqual(rbd_utils.CopyProgress(True, 8 * MiB, 8 * MiB, True), p)


class RadosAdminSanityTest(RbdTestCase):
    """The admin handle the tests use really is another user than nova."""

    def test_nova_cannot_remove_glance_images(self):
        location = self.glance_image(b'k' * MiB)
        e = self.assertRaises(exception.StorageError, self.driver.remove_image,
                              location.image, pool=location.pool)
        self.assertIn('client.nova may not modify %s' % location.image,
                      e.format_message())
        self.assertTrue(self.driver.exists(location.image, pool=location.pool,
                                           snapshot='snap'))
