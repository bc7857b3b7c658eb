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

"""What the live tests share: the stack, a compute host's nova.conf, RBD reads.

Nova reads its options from the global ``nova.conf.CONF``, as nova-compute does.
:meth:`LiveTestCase.use_compute` parses the nova.conf the stack wrote for one compute
host into it (for this test only: the fixture resets it at cleanup), then applies
the test's overrides.
"""

import os
import time

from oslo_config import fixture as config_fixture
from oslo_utils import uuidutils
import testtools

import nova.conf
from nova import objects
from nova.tests.live.fixtures import stack

CONF = nova.conf.CONF
MIB = 1 << 20


class LiveTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        objects.register_all()
        self.stack = self.useFixture(stack.SharedStackFixture())
        self.state = self.stack.state
        self.admin_glance = self.stack.glance('admin')

    # --- configuration ------------------------------------------------------------

    def use_compute(self, compute='compute-a', **overrides):
        """Load ``compute``'s nova.conf into CONF; ``group={'opt': value}`` overrides.

        Returns the site (Ceph cluster) of the host.
        """
        CONF(['--config-file', self.stack.nova_conf(compute)], project='nova',
             default_config_files=[])
        fix = self.useFixture(config_fixture.Config(CONF))
        for group, opts in overrides.items():
            fix.config(group=group, **opts)
        return self.state.computes[compute]['site']

    # --- Glance -------------------------------------------------------------------

    def upload(self, size=8 * MIB, store='central', **kw):
        """A fresh raw image of random bytes in ``store``; returns (id, bytes)."""
        data = os.urandom(size)
        return self.stack.upload_image(data, store=store, **kw), data

    def tasks(self, image_id):
        return self.admin_glance.images.get_associated_image_tasks(image_id)['tasks']

    def stores(self, image_id):
        stores = self.admin_glance.images.get(image_id).get('stores') or ''
        return {s for s in stores.split(',') if s}

    def wait_unlocked(self, image_id, timeout=120):
        """Wait until no import holds the image (for the tests that come after)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.admin_glance.images.get(image_id).get('os_glance_import_task'):
                return
            time.sleep(0.2)

    # --- instances and their disks --------------------------------------------------

    def new_instance(self, image_id=None, root_gb=1, **fields):
        flavor = objects.Flavor(name='live', flavorid='live', memory_mb=64,
                                vcpus=1, root_gb=root_gb, ephemeral_gb=0,
                                swap=0, extra_specs={})
        return objects.Instance(
            uuid=uuidutils.generate_uuid(), image_ref=image_id, host=CONF.host,
            root_gb=root_gb, ephemeral_gb=0, flavor=flavor, task_state=None,
            vm_state='building', system_metadata={}, metadata={}, os_type=None,
            config_drive='', project_id='live', user_id='live',
            migration_context=None, trusted_certs=None, launched_at=None,
            **fields)

    def vms_images(self, site):
        import rbd
        cluster = self.stack.rados(site)
        with cluster.open_ioctx(self.state.sites[site]['vms_pool']) as ioctx:
            return set(rbd.RBD().list(ioctx))

    def read_disk(self, site, name, length):
        """(first ``length`` bytes, parent (pool, image, snap) or None) of vms/name."""
        import rbd
        cluster = self.stack.rados(site)
        with cluster.open_ioctx(self.state.sites[site]['vms_pool']) as ioctx:
            with rbd.Image(ioctx, name, read_only=True) as image:
                try:
                    parent = tuple(image.parent_info()[:3])
                except rbd.ImageNotFound:
                    parent = None
                return image.read(0, length), parent

    def remove_disk(self, site, name):
        """Remove vms/name if it exists (test cleanup), as client.admin."""
        import rbd
        cluster = self.stack.rados(site)
        with cluster.open_ioctx(self.state.sites[site]['vms_pool']) as ioctx:
            try:
                rbd.RBD().remove(ioctx, name)
            except rbd.ImageNotFound:
                pass
