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

"""The libvirt driver's clone-or-download contract on the real stack.

``LibvirtDriver._create_and_inject_local_root`` is where spawn makes the root
disk: it asks the Rbd backend to clone the image and, on ImageUnacceptable,
downloads it into a flat RBD image, unless ``[workarounds]
never_download_image_if_on_rbd`` says to re-raise (the build is then aborted).

The driver is the real ``LibvirtDriver``, built as nova-compute builds it
(``LibvirtDriver(virtapi, read_only=False)``) but without ``init_host``: nothing
on the path under test talks to libvirtd. Its virtapi is Nova's
``nova.virt.fake.FakeVirtAPI`` (no compute manager is running); nothing else is
stubbed. Disks, downloads, Glance, Keystone and Ceph are real.
"""

import os

from nova import exception
from nova.tests.live import base
from nova.virt import fake
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import imagecache

CONF = base.CONF
MIB = base.MIB
DISK_MAPPING = {'disk': {'bus': 'virtio', 'dev': 'vda', 'type': 'disk',
                         'boot_index': '1'}}


class DriverRootDiskTest(base.LiveTestCase):

    def setUp(self):
        super().setUp()
        self.demo = self.stack.context('demo')

    def driver(self):
        return libvirt_driver.LibvirtDriver(fake.FakeVirtAPI(), False)

    def root_disk(self, site, image_id, instance=None):
        """Run the driver's root disk step for an instance; returns the disk name.

        The instance's disk is removed at cleanup, whatever happened.
        """
        drv = self.driver()
        instance = instance or self.new_instance(image_id)
        name = '%s_disk' % instance.uuid
        self.addCleanup(self.remove_disk, site, name)
        drv._create_and_inject_local_root(
            self.demo, instance, DISK_MAPPING, False, '',
            {'image_id': image_id, 'kernel_id': None, 'ramdisk_id': None},
            None, None)
        return name

    def assert_flat_copy(self, site, name, data):
        got, parent = self.read_disk(site, name, len(data))
        self.assertEqual(data, got)
        self.assertIsNone(parent, 'a downloaded disk has no parent')

    def test_clone_when_the_image_can_be_copied_into_the_store(self):
        site = self.use_compute('compute-a')
        image_id, data = self.upload()
        name = self.root_disk(site, image_id)
        got, parent = self.read_disk(site, name, len(data))
        self.assertEqual(data, got)
        self.assertEqual((self.state.sites[site]['images_pool'], image_id, 'snap'),
                         parent)
        self.assertIn('site_a', self.stores(image_id))

    def test_falls_back_to_a_download_when_the_clone_is_impossible(self):
        # No store to copy into and the image is not in this cluster: the backend
        # refuses the clone, the driver downloads the image and imports it.
        site = self.use_compute(
            'compute-a', libvirt={'images_rbd_glance_store_name': ''},
            workarounds={'never_download_image_if_on_rbd': False})
        image_id, data = self.upload()
        name = self.root_disk(site, image_id)
        self.assert_flat_copy(site, name, data)
        self.assertEqual({'central'}, self.stores(image_id))
        self.assertEqual([], self.tasks(image_id))
        base_file = os.path.join(CONF.instances_path,
                                 CONF.image_cache.subdirectory_name)
        self.assertTrue(os.listdir(base_file), 'the download went into the cache')

    def test_falls_back_to_a_download_when_the_store_is_unknown(self):
        site = self.use_compute(
            'compute-a', libvirt={'images_rbd_glance_store_name': 'nowhere'},
            workarounds={'never_download_image_if_on_rbd': False})
        image_id, data = self.upload()
        name = self.root_disk(site, image_id)
        self.assert_flat_copy(site, name, data)

    def test_never_download_aborts_with_image_unacceptable(self):
        site = self.use_compute(
            'compute-a', libvirt={'images_rbd_glance_store_name': ''},
            workarounds={'never_download_image_if_on_rbd': True})
        image_id, _data = self.upload(size=MIB)
        instance = self.new_instance(image_id)
        self.assertRaises(exception.ImageUnacceptable, self.root_disk, site,
                          image_id, instance)
        self.assertNotIn('%s_disk' % instance.uuid, self.vms_images(site))
        self.assertEqual({'central'}, self.stores(image_id))

    def test_cache_image_copies_into_the_store_without_a_local_file(self):
        # Image precaching (the compute manager's cache_images) with rbd and a
        # store: the image is made local to the cluster, not downloaded.
        site = self.use_compute('compute-b')
        image_id, data = self.upload()
        drv = self.driver()
        self.assertTrue(drv.cache_image(self.demo, image_id))
        self.assertEqual({'central', 'site_b'}, self.stores(image_id))
        self.assertEqual(1, len(self.tasks(image_id)))
        cached = os.path.join(CONF.instances_path,
                              CONF.image_cache.subdirectory_name,
                              imagecache.get_cache_fname(image_id))
        self.assertFalse(os.path.exists(cached))

        # Already local: nothing to do. A boot then clones without a copy.
        self.assertFalse(drv.cache_image(self.demo, image_id))
        name = self.root_disk(site, image_id)
        got, parent = self.read_disk(site, name, len(data))
        self.assertEqual(data, got)
        self.assertEqual((self.state.sites[site]['images_pool'], image_id, 'snap'),
                         parent)
        self.assertEqual(1, len(self.tasks(image_id)))
