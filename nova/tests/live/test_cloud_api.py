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

"""More boots through the stack's real Nova cloud, as its API's users see them.

- Four servers of one central-only image created in one request on one host: all
  become ACTIVE, and Glance copies the image into that site's store once.
- The unprivileged ``demo`` member boots a central-only image it can see: the server
  becomes ACTIVE with an RBD clone as its root disk (Glance's copy-image policy is
  admin-only: the copy must not be asked for with the member's token).
- With ``[workarounds] never_download_image_if_on_rbd = True`` on the compute (the
  cloud sets it), a qcow2 image cannot be cloned and must not be downloaded: the
  server goes to ERROR with a fault that says why.

Every test deletes its servers (and, through the stack fixture, its images) and
checks that none of its disks is left in the site's ``vms`` pool. Skipped when the
stack runs without its cloud, as ``test_cloud_boot`` is.
"""

import configparser
import os
import subprocess
import tempfile
import time

from nova.tests.live import test_cloud_boot

bootable = test_cloud_boot.bootable
MICROVERSION = test_cloud_boot.MICROVERSION
BOOT_TIMEOUT = test_cloud_boot.BOOT_TIMEOUT
RETRIES_MESSAGE = 'Exceeded maximum number of retries'


class CloudApiTest(test_cloud_boot.CloudTestCase):

    # --- helpers ----------------------------------------------------------------------

    def as_user(self, user):
        """Make the Nova API calls of this test as ``user`` (until the test ends)."""
        admin = self.sess
        self.sess = self.stack.session(user)
        self.addCleanup(setattr, self, 'sess', admin)

    def admin_api(self, method, path, body=None, ok=(200, 201, 202, 204)):
        resp = self.stack.session('admin').request(
            self.cloud['compute_url'] + path, method, json=body, raise_exc=False,
            headers={'OpenStack-API-Version': 'compute %s' % MICROVERSION})
        if resp.status_code not in ok:
            self.fail('%s %s: %s %s' % (method, path, resp.status_code, resp.text[:500]))
        return resp

    def zero_disk_flavor(self):
        """A flavor like the cloud's but with disk 0 (root disk = the image's size).

        A compute host offers 4 GB of disk (its ``vms`` pool) and the cloud's flavor
        asks for 1: four of them would fill the host and fail as soon as another
        test's server runs there too.
        """
        body = {'flavor': {'name': self.stack.unique_name('flavor'), 'ram': 128,
                           'vcpus': 1, 'disk': 0}}
        flavor_id = self.api('POST', '/flavors', body).json()['flavor']['id']
        self.addCleanup(self.admin_api, 'DELETE', '/flavors/%s' % flavor_id,
                        ok=(202, 204, 404))
        return flavor_id

    def delete_all(self, server_ids, timeout=180):
        """Delete the servers at once, then wait until Nova knows none of them."""
        for server_id in server_ids:
            self.api('DELETE', '/servers/%s' % server_id, ok=(204, 404))
        for server_id in server_ids:
            self.delete(server_id, timeout=timeout)

    def disks_of(self, site, server_ids):
        """The images of ``site``'s vms pool that belong to these servers."""
        return sorted(name for name in self.vms_images(site)
                      if any(name.startswith(sid) for sid in server_ids))

    def assert_clone_of(self, site, server_id, image_id):
        _data, parent = self.read_disk(site, '%s_disk' % server_id, 512)
        self.assertEqual(('images', image_id, 'snap'), parent)

    def compute_of(self, site):
        hosts = [h for h, c in sorted(self.cloud['computes'].items())
                 if c['site'] == site]
        self.assertTrue(hosts, 'the cloud has no compute host on %s' % site)
        return hosts[0]

    def compute_option(self, host, group, option):
        """The value ``host``'s nova-compute config sets, or None."""
        parser = configparser.RawConfigParser(strict=False)
        parser.read(self.cloud['computes'][host]['nova_conf'])
        if parser.has_option(group, option):
            return parser.get(group, option)
        return None

    # --- tests ------------------------------------------------------------------------

    def test_four_servers_in_one_request_copy_the_image_once(self):
        site = 'site_a'
        image_id = self.stack.upload_image(bootable(self.state.boot_image),
                                           store='central')
        body = {'server': {'name': self.stack.unique_name('multi'),
                           'imageRef': image_id, 'flavorRef': self.zero_disk_flavor(),
                           'networks': 'none', 'min_count': 4, 'max_count': 4,
                           'return_reservation_id': True,
                           'availability_zone': self.cloud['availability_zones'][site]}}
        reservation = self.api('POST', '/servers', body).json()['reservation_id']
        servers = self.api('GET', '/servers/detail?reservation_id=%s'
                           % reservation).json()['servers']
        server_ids = [s['id'] for s in servers]
        for server_id in server_ids:
            self.addCleanup(self.delete, server_id)
        self.assertEqual(4, len(server_ids), servers)

        hosts = set()
        for server_id in server_ids:
            server = self.wait_status(server_id, ('ACTIVE',))
            self.assertEqual(site, server['OS-EXT-AZ:availability_zone'])
            hosts.add(server['OS-EXT-SRV-ATTR:host'])
            self.assert_clone_of(site, server_id, image_id)
        self.assertEqual({self.compute_of(site)}, hosts)
        self.assertIn(site, self.stores(image_id))
        tasks = self.copy_tasks(image_id)
        self.assertEqual(1, len(tasks), tasks)
        self.assertEqual('success', tasks[0]['status'], tasks[0])

        self.delete_all(server_ids)
        self.assertEqual([], self.disks_of(site, server_ids))

    def test_member_boots_a_central_image_from_a_clone(self):
        site = 'site_b'
        # Public (only admins may publish): visible to the demo project, which
        # may not copy it itself under Glance's default policy.
        image_id = self.stack.upload_image(bootable(self.state.boot_image),
                                           store='central')
        self.assertEqual({'central'}, self.stores(image_id))
        self.as_user('demo')
        server_id = self.create(image_id, site)
        server = self.wait_status(server_id, ('ACTIVE',))
        self.assertEqual(site, server['OS-EXT-AZ:availability_zone'])
        # Where it runs and its disk: what only an admin may read.
        seen = self.admin_api('GET', '/servers/%s' % server_id).json()['server']
        self.assertEqual(self.compute_of(site), seen['OS-EXT-SRV-ATTR:host'])
        self.assertIn(site, self.stores(image_id))
        self.assertEqual(1, len(self.copy_tasks(image_id, status='success')))
        self.assert_clone_of(site, server_id, image_id)

        self.delete(server_id)
        self.assertEqual([], self.disks_of(site, [server_id]))

    def test_never_download_refuses_a_qcow2_image_with_a_reason(self):
        site = 'site_a'
        host = self.compute_of(site)
        value = self.compute_option(host, 'workarounds',
                                    'never_download_image_if_on_rbd')
        if (value or '').strip().lower() not in ('true', '1', 'yes', 'on'):
            self.skipTest('%s runs without [workarounds] never_download_image_if_on_rbd'
                          ' (%s)' % (host, self.cloud['computes'][host]['nova_conf']))
        with tempfile.TemporaryDirectory() as tmp:
            raw = os.path.join(tmp, 'disk.raw')
            qcow2 = os.path.join(tmp, 'disk.qcow2')
            with open(raw, 'wb') as f:
                f.write(bootable(self.state.boot_image))
            subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw,
                            qcow2], check=True, capture_output=True, timeout=60)
            with open(qcow2, 'rb') as f:
                data = f.read()
        image_id = self.stack.upload_image(data, store='central', disk_format='qcow2')
        server_id = self.create(image_id, site)

        deadline = time.monotonic() + BOOT_TIMEOUT
        while True:
            server = self.api('GET', '/servers/%s' % server_id).json()['server']
            if server['status'] == 'ERROR':
                break
            if server['status'] == 'ACTIVE' or time.monotonic() > deadline:
                self.fail('server %s of qcow2 image %s is %s, not ERROR (compute log '
                          '%s)' % (server_id, image_id, server['status'],
                                   self.cloud['computes'][host]['log']))
            time.sleep(0.5)
        message = (server.get('fault') or {}).get('message', '')
        self.assertNotIn(RETRIES_MESSAGE, message)
        self.assertIn(image_id, message)
        self.assertIn('qcow2', message)
        self.assertIn('raw', message)

        self.delete(server_id)
        self.assertEqual([], self.disks_of(site, [server_id]))
