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

"""LibvirtDriver.cache_image with images_type=rbd and a Glance rbd store."""

import os
from unittest import mock

import fixtures
import os_vif

from nova import context
from nova import exception
from nova import test
from nova.tests import fixtures as nova_fixtures
from nova.virt import fake
from nova.virt import images
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import imagecache
from nova.virt.libvirt import rbd_glance

IMAGE_ID = 'a7c2f5d4-5f1e-4a8e-9a3b-2d3c8f0e1b6a'


class CacheImageRbdTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.instances_path = self.useFixture(fixtures.TempDir()).path
        self.flags(instances_path=self.instances_path)
        self.flags(subdirectory_name='cache', group='image_cache')
        self.flags(sysinfo_serial='none', group='libvirt')
        self.useFixture(nova_fixtures.LibvirtFixture())
        self.useFixture(nova_fixtures.CGroupsFixture())
        os_vif.initialize()
        self.drvr = libvirt_driver.LibvirtDriver(fake.FakeVirtAPI(), False)
        self.context = context.get_admin_context()

        self.rbd_cache_image = self.useFixture(fixtures.MockPatchObject(
            rbd_glance, 'cache_image', autospec=True)).mock
        self.fetch_to_raw = self.useFixture(fixtures.MockPatchObject(
            images, 'fetch_to_raw', autospec=True)).mock
        self.cache_dir = os.path.join(self.instances_path, 'cache')

    def _cached_path(self):
        return os.path.join(self.cache_dir,
                            imagecache.get_cache_fname(IMAGE_ID))

    def test_rbd_with_store_copies_into_the_store(self):
        self.flags(images_type='rbd', images_rbd_glance_store_name='site_a',
                   group='libvirt')
        self.rbd_cache_image.return_value = True

        self.assertTrue(self.drvr.cache_image(self.context, IMAGE_ID))

        self.rbd_cache_image.assert_called_once_with(self.context, IMAGE_ID)
        self.fetch_to_raw.assert_not_called()
        # Nothing local: no cache directory, no file.
        self.assertFalse(os.path.exists(self.cache_dir))

    def test_rbd_with_store_already_there(self):
        self.flags(images_type='rbd', images_rbd_glance_store_name='site_a',
                   group='libvirt')
        self.rbd_cache_image.return_value = False

        self.assertFalse(self.drvr.cache_image(self.context, IMAGE_ID))

        self.rbd_cache_image.assert_called_once_with(self.context, IMAGE_ID)
        self.fetch_to_raw.assert_not_called()

    def test_rbd_with_store_failure_does_not_download(self):
        # The compute manager reports the image as 'error'; a local file
        # would be of no use to an rbd host.
        self.flags(images_type='rbd', images_rbd_glance_store_name='site_a',
                   group='libvirt')
        self.rbd_cache_image.side_effect = exception.ImageUnacceptable(
            image_id=IMAGE_ID, reason='copy failed')

        self.assertRaises(exception.ImageUnacceptable,
                          self.drvr.cache_image, self.context, IMAGE_ID)

        self.fetch_to_raw.assert_not_called()
        self.assertFalse(os.path.exists(self.cache_dir))

    def _assert_upstream_download(self):
        self.assertTrue(self.drvr.cache_image(self.context, IMAGE_ID))

        self.rbd_cache_image.assert_not_called()
        self.fetch_to_raw.assert_called_once_with(
            self.context, IMAGE_ID, self._cached_path())

    def test_rbd_without_store_downloads(self):
        self.flags(images_type='rbd', images_rbd_glance_store_name='',
                   group='libvirt')
        self._assert_upstream_download()

    def test_other_images_type_with_store_downloads(self):
        self.flags(images_type='qcow2', images_rbd_glance_store_name='site_a',
                   group='libvirt')
        self._assert_upstream_download()

    def test_default_images_type_downloads(self):
        self._assert_upstream_download()

    def test_other_images_type_existing_file(self):
        self.flags(images_type='flat', images_rbd_glance_store_name='site_a',
                   group='libvirt')
        os.makedirs(self.cache_dir)
        with open(self._cached_path(), 'w'):
            pass
        with mock.patch('nova.privsep.path.utime',
                        autospec=True) as mock_utime:
            self.assertFalse(self.drvr.cache_image(self.context, IMAGE_ID))
        mock_utime.assert_called_once_with(self._cached_path())
        self.rbd_cache_image.assert_not_called()
        self.fetch_to_raw.assert_not_called()
