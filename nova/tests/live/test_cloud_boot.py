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

"""Servers booted through the stack's real Nova cloud (nova-api to nova-compute).

The image lives in Glance's file store ``central`` only; a boot in availability
zone ``site_a`` or ``site_b`` must make Glance copy it into that site's Ceph store,
once, and give the server an RBD clone of the copy as its root disk. A delete must
leave neither disk nor domain behind. Skipped when the stack runs without its cloud
(``NOVA_STACK_CLOUD=0`` or the cloud's packages are not installed).
"""

import time

from nova.tests.live import base
from nova.tests.live.fixtures import cloud as cloud_mod
from nova.tests.live.fixtures import libvirt_host

MICROVERSION = '2.37'  # networks: 'none'
BOOT_TIMEOUT = 300


def bootable(path):
    """The stack's boot disk, with the partition entry Glance's safety check wants."""
    with open(path, 'rb') as f:
        disk = bytearray(f.read())
    if not any(disk[446:510]):
        sectors = len(disk) // 512
        disk[446:462] = (bytes([0, 0, 2, 0, 0x83, 0, 0, 0]) + (1).to_bytes(4, 'little')
                         + (sectors - 1).to_bytes(4, 'little'))
    return bytes(disk)


class CloudTestCase(base.LiveTestCase):
    """Set-up and Nova API helpers of the tests that boot through the cloud."""

    def setUp(self):
        super().setUp()
        self.cloud = self.state.data.get('cloud')
        if not self.cloud:
            self.skipTest('the stack runs without its Nova cloud (NOVA_STACK_CLOUD)')
        _lines, dead = cloud_mod.status(self.state.run_dir)
        if dead:
            self.fail('cloud daemons died: %s (logs in %s)'
                      % (', '.join(dead), self.cloud['log_dir']))
        self.sess = self.stack.session('admin')

    # --- Nova's API -----------------------------------------------------------------

    def api(self, method, path, body=None, ok=(200, 201, 202, 204)):
        resp = self.sess.request(
            self.cloud['compute_url'] + path, method, json=body, raise_exc=False,
            headers={'OpenStack-API-Version': 'compute %s' % MICROVERSION})
        if resp.status_code not in ok:
            self.fail('%s %s: %s %s' % (method, path, resp.status_code, resp.text[:500]))
        return resp

    def create(self, image_id, site):
        """POST a server in ``site``'s availability zone; returns its id."""
        body = {'server': {'name': self.stack.unique_name('cloud'),
                           'imageRef': image_id, 'flavorRef': self.flavor_id(),
                           'networks': 'none',
                           'availability_zone': self.cloud['availability_zones'][site]}}
        server_id = self.api('POST', '/servers', body).json()['server']['id']
        self.addCleanup(self.delete, server_id)
        return server_id

    def boot(self, image_id, site):
        return self.wait_status(self.create(image_id, site), ('ACTIVE',))

    def flavor_id(self):
        for flavor in self.api('GET', '/flavors').json()['flavors']:
            if flavor['name'] == self.cloud['flavor']:
                return flavor['id']
        self.fail('no flavor %s' % self.cloud['flavor'])

    def wait_status(self, server_id, wanted, timeout=BOOT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            server = self.api('GET', '/servers/%s' % server_id).json()['server']
            if server['status'] in wanted:
                return server
            if server['status'] == 'ERROR' or time.monotonic() > deadline:
                self.fail('server %s is %s, not %s: %s (compute logs in %s)'
                          % (server_id, server['status'], '/'.join(wanted),
                             server.get('fault'), self.cloud['log_dir']))
            time.sleep(0.5)

    def console(self, server_id):
        return self.api('POST', '/servers/%s/action' % server_id,
                        {'os-getConsoleOutput': {}}).json()['output']

    def wait_marker(self, server_id, timeout=120):
        deadline = time.monotonic() + timeout
        while self.state.boot_marker not in self.console(server_id):
            if time.monotonic() > deadline:
                self.fail('no %s on the console of %s: %r'
                          % (self.state.boot_marker, server_id,
                             self.console(server_id)[-300:]))
            time.sleep(0.5)

    def delete(self, server_id, timeout=120):
        """Delete and wait until Nova no longer knows the server."""
        self.api('DELETE', '/servers/%s' % server_id, ok=(204, 404))
        deadline = time.monotonic() + timeout
        while self.api('GET', '/servers/%s' % server_id,
                       ok=(200, 404)).status_code != 404:
            if time.monotonic() > deadline:
                self.fail('server %s still exists %s s after its delete'
                          % (server_id, timeout))
            time.sleep(0.5)

    def domains(self, host):
        libvirt = libvirt_host._libvirt()
        conn = libvirt.open(self.cloud['computes'][host]['libvirt_uri'])
        try:
            return [d.UUIDString() for d in conn.listAllDomains()]
        finally:
            conn.close()

    def copy_tasks(self, image_id, status=None):
        return [t for t in self.tasks(image_id) if t.get('type') == 'api_image_import'
                and status in (None, t.get('status'))]


class CloudBootTest(CloudTestCase):

    def test_boot_on_each_site_copies_the_image_once(self):
        image_id = self.stack.upload_image(bootable(self.state.boot_image),
                                           store='central')
        for number, site in enumerate(('site_a', 'site_b'), 1):
            server = self.boot(image_id, site)
            self.assertEqual(site, server['OS-EXT-AZ:availability_zone'])
            host = server['OS-EXT-SRV-ATTR:host']
            self.assertEqual(site, self.state.computes[host]['site'])
            self.wait_marker(server['id'])
            self.assertIn(site, self.stores(image_id))
            self.assertEqual(number, len(self.copy_tasks(image_id)))
            _data, parent = self.read_disk(site, '%s_disk' % server['id'], 512)
            self.assertEqual(('images', image_id, 'snap'), parent)
        # A second boot on a site that has the image copies nothing.
        server = self.boot(image_id, 'site_a')
        self.wait_marker(server['id'])
        self.assertEqual(2, len(self.copy_tasks(image_id)))

    def test_delete_leaves_no_disk_and_no_domain(self):
        image_id = self.stack.upload_image(bootable(self.state.boot_image),
                                           store='site_b')
        server = self.boot(image_id, 'site_b')
        host = server['OS-EXT-SRV-ATTR:host']
        disk = '%s_disk' % server['id']
        self.assertIn(disk, self.vms_images('site_b'))
        self.assertIn(server['id'], self.domains(host))
        self.delete(server['id'])
        self.assertNotIn(disk, self.vms_images('site_b'))
        self.assertNotIn(server['id'], self.domains(host))

    def test_boots_on_both_sites_at_once(self):
        # Glance takes one import per image at a time: the second site's copy
        # request meets the first one's task (409) and must wait for it, not fail.
        image_id = self.stack.upload_image(bootable(self.state.boot_image),
                                           store='central')
        servers = {site: self.create(image_id, site) for site in ('site_a', 'site_b')}
        for site, server_id in servers.items():
            server = self.wait_status(server_id, ('ACTIVE',))
            self.assertEqual(site, server['OS-EXT-AZ:availability_zone'])
            self.wait_marker(server_id)
            _data, parent = self.read_disk(site, '%s_disk' % server_id, 512)
            self.assertEqual(('images', image_id, 'snap'), parent)
        self.assertEqual({'central', 'site_a', 'site_b'}, self.stores(image_id))
        self.assertEqual(2, len(self.copy_tasks(image_id, status='success')))
