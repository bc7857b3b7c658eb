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

"""Smoke tests that prove the real stack works the way the RBD backend needs it.

They run against the stack that ``tools/stack.sh up`` (or ``tools/run-tests.sh``)
started, and isolate themselves by unique names.
"""

import os
import time
import uuid

from glanceclient import exc as glance_exc

from nova.tests.live import base
from nova.tests.live.fixtures import bootimage

MiB = 1 << 20


def _wait(what, predicate, timeout=60, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %s s waiting for %s' % (timeout, what))
        time.sleep(interval)


class StackTestCase(base.LiveTestCase):

    def _stores(self, image_id):
        return sorted(self.stores(image_id))

    def _locations(self, image_id):
        return [loc['url'] for loc in self.stack.image_locations(image_id)]


class TestIdentity(StackTestCase):

    def test_every_user_gets_a_token_with_its_roles(self):
        expected = {'admin': {'admin'}, 'glance': {'service', 'admin'},
                    'nova': {'service', 'reader'}, 'demo': {'member', 'reader'}}
        for user, roles in expected.items():
            sess = self.stack.session(user)
            access = sess.auth.get_access(sess)
            self.assertTrue(access.auth_token)
            self.assertTrue(roles.issubset(set(access.role_names)),
                            '%s has roles %s' % (user, access.role_names))
            self.assertEqual(self.state.users[user]['project_name'],
                             access.project_name)

    def test_catalog_lists_the_image_service(self):
        sess = self.stack.session('demo')
        url = sess.get_endpoint(service_type='image', interface='public',
                                region_name='RegionOne')
        self.assertEqual(self.state.glance_url, url.rstrip('/'))


class TestComputeConfig(base.LiveTestCase):

    def test_upstream_nova_reads_each_compute_config(self):
        for compute, info in sorted(self.state.computes.items()):
            site = self.use_compute(compute)
            ceph = self.state.sites[site]
            self.assertEqual(info['site'], site)
            self.assertEqual(compute, base.CONF.host)
            self.assertEqual('rbd', base.CONF.libvirt.images_type)
            self.assertEqual(ceph['vms_pool'], base.CONF.libvirt.images_rbd_pool)
            self.assertEqual(ceph['nova_ceph_conf'],
                             base.CONF.libvirt.images_rbd_ceph_conf)
            self.assertEqual('nova', base.CONF.libvirt.rbd_user)
            self.assertEqual(ceph['secret_uuid'], base.CONF.libvirt.rbd_secret_uuid)
            self.assertEqual(site, base.CONF.libvirt.images_rbd_glance_store_name)
            self.assertEqual(self.state.glance_url, base.CONF.glance.endpoint_override)
            self.assertTrue(base.CONF.workarounds.never_download_image_if_on_rbd)
            self.assertTrue(base.CONF.instances_path.startswith(self.state.run_dir))
            self.assertTrue(base.CONF.oslo_concurrency.lock_path.startswith(
                self.state.run_dir))
            self.assertTrue(base.CONF.instance_name_template.startswith(
                self.state.prefix))

    def test_service_user_logs_in_with_the_guides_roles(self):
        from keystoneauth1 import loading as ks_loading
        self.use_compute('compute-a')
        auth = ks_loading.load_auth_from_conf_options(base.CONF, 'service_user')
        sess = ks_loading.load_session_from_conf_options(base.CONF, 'service_user',
                                                         auth=auth)
        access = auth.get_access(sess)
        self.assertEqual('nova', access.username)
        # What the admin guide recommends: no admin role.
        self.assertEqual({'service', 'reader'}, set(access.role_names))


class TestGlanceMultistore(StackTestCase):

    def test_admin_copies_an_image_from_central_to_site_a(self):
        data = os.urandom(3 * MiB)
        image_id = self.stack.upload_image(data, store='central')
        self.assertEqual(['central'], self._stores(image_id))

        self.stack.glance('admin').images.image_import(
            image_id, method='copy-image', stores=['site_a'])
        _wait('site_a in the stores of %s' % image_id,
              lambda: 'site_a' in self._stores(image_id))
        self.assertEqual(['central', 'site_a'], sorted(self._stores(image_id)))

        rbd_urls = [u for u in self._locations(image_id) if u.startswith('rbd://')]
        site_a = self.state.sites['site_a']
        self.assertEqual(['rbd://%s/images/%s/snap' % (site_a['fsid'], image_id)],
                         rbd_urls)
        # The copy holds the very bytes that were uploaded.
        import rbd
        with self.stack.rados('site_a').open_ioctx('images') as ioctx:
            with rbd.Image(ioctx, image_id, snapshot='snap', read_only=True) as img:
                self.assertEqual(len(data), img.size())
                self.assertEqual(data, img.read(0, len(data)))

    def test_member_may_not_copy_under_the_default_policy(self):
        # Glance's default policy makes copy_image admin-only: a member's request is
        # refused even for a public image they can read. Nova's service credentials
        # exist for exactly this case.
        image_id = self.stack.upload_image(b'x' * MiB, store='central')
        demo = self.stack.glance('demo')
        self.assertEqual('active', demo.images.get(image_id)['status'])
        self.assertRaises(glance_exc.HTTPForbidden, demo.images.image_import,
                          image_id, method='copy-image', stores=['site_a'])
        self.assertEqual(['central'], self._stores(image_id))

    def test_stores_map_to_their_clusters(self):
        self.assertEqual({'central': None, 'site_a': 'site_a', 'site_b': 'site_b',
                          'spare': 'site_a'}, self.state.stores)
        image_id = self.stack.upload_image(b'y' * MiB, store='spare')
        urls = self._locations(image_id)
        self.assertEqual(['rbd://%s/images-spare/%s/snap'
                          % (self.state.sites['site_a']['fsid'], image_id)], urls)


DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw' cache='writeback'/>
      <source protocol='rbd' name='{pool}/{image}'>
        <host name='{mon_host}' port='{mon_port}'/>
      </source>
      <auth username='nova'><secret type='ceph' uuid='{secret}'/></auth>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='pty'><log file='{console}' append='off'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
"""


class TestBootFromClone(StackTestCase):

    def _clone_as_nova(self, site, image_id):
        """Clone Glance's snapshot into the vms pool as client.nova, like Nova does."""
        import rados
        import rbd
        conf = self.state.sites[site]['nova_ceph_conf']
        cluster = rados.Rados(conffile=conf, name='client.nova')
        cluster.connect(timeout=15)
        self.addCleanup(cluster.shutdown)
        images = cluster.open_ioctx('images')
        self.addCleanup(images.close)
        vms = cluster.open_ioctx('vms')
        self.addCleanup(vms.close)
        disk = '%s_disk' % uuid.uuid4()
        rbd.RBD().clone(images, image_id, 'snap', vms, disk)
        self.addCleanup(rbd.RBD().remove, vms, disk)
        with rbd.Image(vms, disk) as clone:
            self.assertEqual(('images', image_id, 'snap'), clone.parent_info())
        return disk

    def _boot(self, site, disk):
        import libvirt
        conn = libvirt.open(self.state.libvirt_uri)
        self.addCleanup(conn.close)
        name = self.stack.unique_name('smoke')
        console = os.path.join(self.state.console_dir, name + '.log')
        self.addCleanup(lambda: os.path.exists(console) and os.unlink(console))
        s = self.state.sites[site]
        dom = conn.defineXML(DOMAIN_XML.format(
            name=name, pool='vms', image=disk, mon_host=s['mon_host'],
            mon_port=s['mon_port'], secret=s['secret_uuid'], console=console))
        self.addCleanup(dom.undefine)
        dom.create()
        self.addCleanup(lambda: dom.isActive() and dom.destroy())

        def console_text():
            try:
                with open(console, errors='replace') as f:
                    return f.read()
            except FileNotFoundError:
                return ''
        return _wait('%s and the data line on %s' % (self.state.boot_marker, console),
                     lambda: 'NOVA-RBD-HALT' in console_text() and console_text(),
                     timeout=60, interval=0.05)

    def test_guest_boots_from_a_clone_of_glances_rbd_image(self):
        with open(self.state.boot_image, 'rb') as f:
            disk_image = f.read()
        image_id = self.stack.upload_image(disk_image, store='site_a')
        disk = self._clone_as_nova('site_a', image_id)
        text = self._boot('site_a', disk)
        self.assertIn(self.state.boot_marker, text)
        # The line 1 MiB into the image came through the clone from Glance's parent.
        self.assertIn(bootimage.DATA_LINE.rstrip(b'\0').decode().strip(), text)
        self.assertNotIn('READ-FAILED', text)

    def test_boot_image_has_a_recognisable_pattern(self):
        with open(self.state.boot_image, 'rb') as f:
            data = f.read()
        self.assertEqual(bootimage.SIZE, len(data))
        self.assertEqual(b'\x55\xaa', data[510:512])
        self.assertEqual(bootimage.pattern(7), data[7 * 512:8 * 512])
        self.assertNotEqual(bootimage.pattern(7), bootimage.pattern(8))
