# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""nova.storage.rbd_multistore against the stack's real Ceph clusters.

Its functions run over upstream's ``rbd_utils.RBDDriver``, which connects as
client.nova (read-only on the images pools); Glance's side
is played either by Glance itself (an upload into an rbd store) or by client.admin
writing ``images/<name>`` the way Glance's rbd store does: write, snapshot
``snap``, protect.
"""

import os
import socket
import tempfile
import time

import rbd

from nova import exception
from nova.storage import rbd_multistore
from nova.storage import rbd_utils
from nova.tests.live import base

MIB = base.MIB
# Glance's images get Ceph 16's default features; clones need only layering.
GLANCE_FEATURES = (rbd.RBD_FEATURE_LAYERING | rbd.RBD_FEATURE_EXCLUSIVE_LOCK
                   | rbd.RBD_FEATURE_OBJECT_MAP | rbd.RBD_FEATURE_FAST_DIFF
                   | rbd.RBD_FEATURE_DEEP_FLATTEN)
RAW = {'disk_format': 'raw'}


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


class RbdTestCase(base.LiveTestCase):

    site = 'site_a'

    def setUp(self):
        super().setUp()
        self.info = self.state.sites[self.site]
        self.admin = self.stack.rados(self.site)
        self.driver = self.nova_driver()

    def nova_driver(self, ceph_conf=None, user='nova', timeout=5):
        return rbd_utils.RBDDriver(
            pool=self.info['vms_pool'], user=user,
            ceph_conf=ceph_conf or self.info['nova_ceph_conf'],
            connect_timeout=timeout)

    def why_not(self, location, image_meta):
        return rbd_multistore.why_not_cloneable(self.driver, location, image_meta)

    def progress(self, pool, name):
        return rbd_multistore.copy_progress(self.driver, pool, name)

    def ioctx(self, pool):
        ioctx = self.admin.open_ioctx(pool)
        self.addCleanup(ioctx.close)
        return ioctx

    def glance_image(self, data, protect=True, features=GLANCE_FEATURES):
        """Write ``images/<name>@snap`` as Glance's rbd store would.

        The image is removed at cleanup.
        """
        ioctx = self.ioctx(self.info['images_pool'])
        name = self.stack.unique_name('glance')
        rbd.RBD().create(ioctx, name, len(data), old_format=False, order=23,
                         features=features)
        self.addCleanup(remove_quietly, ioctx, name)
        with rbd.Image(ioctx, name) as image:
            image.write(data, 0)
            image.create_snap('snap')
            if protect:
                image.protect_snap('snap')
        return rbd_multistore.RbdLocation(self.info['fsid'], self.info['images_pool'],
                                          name, 'snap')


class LocationTest(RbdTestCase):

    def test_glance_location_parses_and_clones(self):
        data = os.urandom(2 * MIB) + bytes(4 * MIB) + os.urandom(MIB)
        image_id = self.stack.upload_image(data, store='site_a')
        [location] = self.stack.image_locations(image_id)

        loc = rbd_multistore.parse_location(location['url'])
        self.assertEqual((self.info['fsid'], self.info['images_pool'], image_id,
                          'snap'), (loc.fsid, loc.pool, loc.image, loc.snapshot))
        self.assertEqual(location['url'], loc.url)
        self.assertIsNone(self.why_not(location, RAW))
        self.assertTrue(self.driver.is_cloneable(location, RAW))

        # Upstream's clone, from the location Glance registered.
        dest = self.stack.unique_name('disk')
        self.driver.clone(location, dest)
        self.addCleanup(remove_quietly, self.ioctx(self.info['vms_pool']), dest)
        got, parent = self.read_disk(self.site, dest, len(data))
        self.assertEqual(data, got)
        self.assertEqual((self.info['images_pool'], image_id, 'snap'), parent)

    def test_file_store_location_is_not_an_rbd_location(self):
        image_id = self.stack.upload_image(b'f' * MIB, store='central')
        [location] = self.stack.image_locations(image_id)
        self.assertRaises(rbd_multistore.InvalidRbdLocation,
                          rbd_multistore.parse_location, location['url'])
        reason = self.why_not(location, RAW)
        self.assertIn('rbd://', reason)

    def test_reasons_not_to_clone(self):
        location = self.glance_image(b'y' * MIB)
        self.assertIsNone(self.why_not(location, RAW))
        self.assertIn('disk_format is qcow2', self.why_not(
            location, {'disk_format': 'qcow2'}))

        other = self.state.sites['site_b']['fsid']
        elsewhere = rbd_multistore.RbdLocation(other, location.pool, location.image,
                                               'snap')
        reason = self.why_not(elsewhere, RAW)
        self.assertIn(other, reason)
        self.assertIn('images_rbd_glance_store_name', reason)

        no_snap = rbd_multistore.RbdLocation(location.fsid, location.pool,
                                             location.image, 'other')
        self.assertIn('no snapshot other',
                      self.why_not(no_snap, RAW))
        gone = rbd_multistore.RbdLocation(location.fsid, location.pool, 'gone', 'snap')
        self.assertIn('does not exist', self.why_not(gone, RAW))
        no_pool = rbd_multistore.RbdLocation(location.fsid, 'no-such-pool', 'x',
                                             'snap')
        self.assertIn('does not exist', self.why_not(no_pool, RAW))

    def test_unprotected_snapshot(self):
        unprotected = self.glance_image(b'x' * MIB, protect=False)
        self.assertIn('not protected', self.why_not(unprotected, RAW))

    def test_spare_pool_is_readable_by_nova(self):
        image_id = self.stack.upload_image(b's' * MIB, store='spare')
        [location] = self.stack.image_locations(image_id)
        self.assertEqual(self.info['spare_pool'],
                         rbd_multistore.parse_location(location['url']).pool)
        self.assertIsNone(self.why_not(location, RAW))


class ClusterTest(RbdTestCase):

    def test_fsid(self):
        self.assertEqual(self.info['fsid'],
                         rbd_multistore.cluster_fsid(self.driver))

    def test_dead_mon_fails_within_the_timeout(self):
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            dead_port = s.getsockname()[1]
        with open(self.info['nova_ceph_conf']) as f:
            conf = f.read().replace('127.0.0.1:%s' % self.info['mon_port'],
                                    '127.0.0.1:%s' % dead_port)
        self.assertIn(str(dead_port), conf)
        fd, path = tempfile.mkstemp(suffix='.conf')
        self.addCleanup(os.unlink, path)
        with os.fdopen(fd, 'w') as f:
            f.write(conf)
        driver = self.nova_driver(ceph_conf=path, timeout=2)

        start = time.monotonic()
        e = self.assertRaises(exception.StorageError,
                              rbd_multistore.cluster_fsid, driver)
        took = time.monotonic() - start

        self.assertLess(took, 2 + 3, 'rbd_connect_timeout=2 but took %.1f s' % took)
        msg = e.format_message()
        self.assertIn(path, msg)
        self.assertIn('client.nova', msg)
        with open(os.path.join(self.info['dir'], 'ceph.client.nova.keyring')) as f:
            key = f.read().split('key = ', 1)[1].split()[0]
        self.assertNotIn(key, msg)

    def test_unknown_user_is_refused(self):
        driver = self.nova_driver(user='nobody')
        e = self.assertRaises(exception.StorageError,
                              rbd_multistore.cluster_fsid, driver)
        self.assertIn('client.nobody', e.format_message())


class CopyProgressTest(RbdTestCase):

    def test_progress_while_glance_writes(self):
        ioctx = self.ioctx(self.info['images_pool'])
        name = self.stack.unique_name('copy')
        pool = self.info['images_pool']
        self.assertEqual(rbd_multistore.CopyProgress(exists=False),
                         self.progress(pool, name))

        size = 64 * MIB
        rbd.RBD().create(ioctx, name, size, old_format=False, order=23,
                         features=GLANCE_FEATURES)
        self.addCleanup(remove_quietly, ioctx, name)
        chunk = os.urandom(8 * MIB)
        with rbd.Image(ioctx, name) as image:
            image.write(chunk, 0)
            image.write(chunk, 8 * MIB)
            image.flush()
            # Seen while Glance still holds the image open (exclusive lock).
            p = self.progress(pool, name)
            self.assertEqual((True, size, 16 * MIB, False),
                             (p.exists, p.size, p.written_bytes, p.snapshot_protected))
            for offset in range(16 * MIB, size, 8 * MIB):
                image.write(chunk, offset)
            image.create_snap('snap')
            self.assertFalse(self.progress(pool, name).snapshot_protected)
            image.protect_snap('snap')

        p = self.progress(pool, name)
        self.assertEqual(rbd_multistore.CopyProgress(True, size, True, size), p)

    def test_layering_only_image_counts_whole_objects(self):
        location = self.glance_image(os.urandom(3 * MIB) + bytes(5 * MIB),
                                     features=rbd.RBD_FEATURE_LAYERING)
        p = self.progress(location.pool, location.image)
        # Whole objects of 8 MiB (order 23): the one object holding data counts.
        self.assertEqual(rbd_multistore.CopyProgress(True, 8 * MIB, True, 8 * MIB), p)

    def test_progress_of_a_real_glance_copy(self):
        # Glance copies central -> site_a; the image ends complete and protected.
        image_id = self.stack.upload_image(os.urandom(16 * MIB), store='central')
        self.admin_glance.images.image_import(image_id, method='copy-image',
                                              stores=['site_a'])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            p = self.progress(self.info['images_pool'], image_id)
            if p.snapshot_protected:
                break
            time.sleep(0.1)
        self.assertEqual((True, 16 * MIB, 16 * MIB), (p.exists, p.size,
                                                       p.written_bytes))
        self.wait_unlocked(image_id)
