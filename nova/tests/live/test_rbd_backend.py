"""The Rbd image backend against the real stack: two Ceph clusters, Keystone, Glance 33.

Each test parses the nova.conf the stack wrote for a compute host into its own
ConfigOpts, so overrides (another store, a short timeout) stay in the test. A second
"host" is a separate process (``python -m`` this module), because boots on one host
share a per-image lock by design.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import types

from keystoneauth1 import loading as ks_loading
import rbd
import testtools

from nova import exception
from nova.image import glance
from nova.tests.live.fixtures import stack
from nova.tests.functional.virt.libvirt.test_driver import compute_config
from nova.virt.libvirt import imagebackend
from nova.virt.libvirt.storage import rbd_utils

MIB = 1 << 20


class Host(object):
    """One simulated compute host: its config, Glance API and RBD driver."""

    def __init__(self, stack_fixture, compute, **overrides):
        self.stack = stack_fixture
        self.site = stack_fixture.state.computes[compute]['site']
        self.conf = compute_config(stack_fixture.nova_conf(compute),
                                   stack_fixture.state.prefix + 'inst-%(uuid)s')
        if 'password' in overrides.get('glance', {}):
            # A plugin option: it exists once the password plugin is loaded.
            self.conf.register_opts(
                ks_loading.get_auth_plugin_conf_options('password'), group='glance')
        for group, opts in overrides.items():
            for name, value in opts.items():
                self.conf.set_override(name, value, group=group)
        self.glance = glance.API(conf=self.conf)
        self.rbd = rbd_utils.RBDDriver.from_conf(self.conf)
        self.backend = imagebackend.Backend(conf=self.conf, glance_api=self.glance,
                                            rbd_driver=self.rbd)

    def disk(self, test):
        instance = types.SimpleNamespace(uuid=self.stack.unique_name('inst'))
        disk = self.backend.by_name(instance, 'disk')
        test.addCleanup(self._remove, disk)
        return disk

    @staticmethod
    def _remove(disk):
        try:
            disk.remove()
        except exception.NovaException:
            pass


class RbdBackendTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.stack = self.useFixture(stack.SharedStackFixture())
        self.demo = self.stack.context('demo')
        self.admin_glance = self.stack.glance('admin')

    # --- helpers ----------------------------------------------------------------

    def upload(self, size=8 * MIB, store='central', **kw):
        data = os.urandom(size)
        return self.stack.upload_image(data, store=store, **kw), data

    def tasks(self, image_id):
        return self.admin_glance.images.get_associated_image_tasks(image_id)['tasks']

    def stores(self, image_id):
        return set(self.admin_glance.images.get(image_id)['stores'].split(','))

    def read_clone(self, host, disk, length):
        cluster = self.stack.rados(host.site)
        with cluster.open_ioctx(host.conf.libvirt.images_rbd_pool) as ioctx:
            with rbd.Image(ioctx, disk.rbd_name, read_only=True) as image:
                parent = image.parent_info()
                return image.read(0, length), parent

    def vms_images(self, host):
        cluster = self.stack.rados(host.site)
        with cluster.open_ioctx(host.conf.libvirt.images_rbd_pool) as ioctx:
            return set(rbd.RBD().list(ioctx))

    def assert_cloned(self, host, disk, image_id, data, pool_key='images_pool'):
        got, parent = self.read_clone(host, disk, len(data))
        self.assertEqual(data, got, 'clone bytes differ from the uploaded image')
        self.assertEqual((self.stack.state.sites[host.site][pool_key], image_id,
                          'snap'), parent[:3])

    def wait_unlocked(self, image_id, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.admin_glance.images.get(image_id).get('os_glance_import_task'):
                return
            time.sleep(0.2)

    def other_host(self, compute, image_id, user='demo'):
        """Start a clone on another 'host' (a separate process); returns the Popen."""
        env = dict(os.environ, PYTHONPATH=os.getcwd())
        return subprocess.Popen(
            [sys.executable, '-m', __name__, compute, image_id, user],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)

    def other_host_result(self, proc):
        out, err = proc.communicate(timeout=300)
        self.assertEqual(0, proc.returncode, 'other host failed: %s' % err[-2000:])
        return json.loads(out.strip().splitlines()[-1])

    # --- copy paths -------------------------------------------------------------

    def test_file_to_rbd_copies_once_then_clones_hot(self):
        image_id, data = self.upload()
        host = Host(self.stack, 'compute-a')
        disk = host.disk(self)
        disk.clone(self.demo, image_id)            # a member user, Glance's default policy
        self.assert_cloned(host, disk, image_id, data)
        self.assertIn('site_a', self.stores(image_id))
        self.assertEqual(1, len(self.tasks(image_id)))
        # Hot path: no import request at all.
        disk2 = host.disk(self)
        t0 = time.monotonic()
        disk2.clone(self.demo, image_id)
        hot = time.monotonic() - t0
        self.assertEqual(1, len(self.tasks(image_id)))
        self.assert_cloned(host, disk2, image_id, data)
        self.assertLess(hot, 5, 'a hot clone should take milliseconds')

    def test_rbd_to_rbd_between_clusters(self):
        image_id, data = self.upload(store='site_a')
        host = Host(self.stack, 'compute-b')
        disk = host.disk(self)
        disk.clone(self.demo, image_id)
        self.assert_cloned(host, disk, image_id, data)
        self.assertEqual({'site_a', 'site_b'}, self.stores(image_id))

    def test_precache_then_clone_makes_no_copy(self):
        image_id, data = self.upload()
        host = Host(self.stack, 'compute-b')
        self.assertTrue(host.backend.by_name(
            types.SimpleNamespace(uuid='unused'), 'disk').cache_image(self.demo, image_id))
        self.assertEqual(1, len(self.tasks(image_id)))
        disk = host.disk(self)
        disk.clone(self.demo, image_id)
        self.assertEqual(1, len(self.tasks(image_id)))
        self.assert_cloned(host, disk, image_id, data)

    # --- concurrency ------------------------------------------------------------

    def test_concurrent_boots_on_one_host_make_one_copy(self):
        image_id, data = self.upload(size=32 * MIB)
        host = Host(self.stack, 'compute-b')
        disks = [host.disk(self) for _ in range(4)]
        errors = []

        def boot(disk):
            try:
                disk.clone(self.demo, image_id)
            except Exception as e:  # collected and asserted below
                errors.append(e)

        threads = [threading.Thread(target=boot, args=(d,)) for d in disks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        self.assertEqual([], errors)
        self.assertEqual(1, len(self.tasks(image_id)))
        for disk in disks:
            self.assert_cloned(host, disk, image_id, data[:MIB])

    def test_two_hosts_on_one_site_both_succeed_with_one_copy(self):
        image_id, data = self.upload(size=32 * MIB)
        proc = self.other_host('compute-a', image_id)
        host = Host(self.stack, 'compute-a')
        disk = host.disk(self)
        disk.clone(self.demo, image_id)
        other = self.other_host_result(proc)
        self.addCleanup(host.rbd.remove_image, other['rbd_name'])
        self.assert_cloned(host, disk, image_id, data[:MIB])
        self.assertEqual([t['status'] for t in self.tasks(image_id)], ['success'])

    def test_both_sites_at_once_both_succeed(self):
        # Glance locks the image for one import at a time: one site's request gets
        # 409 and must wait and ask again, not fail.
        image_id, data = self.upload(size=32 * MIB)
        proc = self.other_host('compute-b', image_id)
        host = Host(self.stack, 'compute-a')
        disk = host.disk(self)
        disk.clone(self.demo, image_id)
        other = self.other_host_result(proc)
        self.addCleanup(Host(self.stack, 'compute-b').rbd.remove_image,
                        other['rbd_name'])
        self.assert_cloned(host, disk, image_id, data[:MIB])
        self.assertEqual({'central', 'site_a', 'site_b'}, self.stores(image_id))
        self.assertEqual(['success', 'success'],
                         [t['status'] for t in self.tasks(image_id)])

    # --- failures -----------------------------------------------------------------

    def test_failing_copy_is_reported_and_a_later_boot_recovers(self):
        cluster = self.stack.rados('site_a')
        entity = 'client.glance-spare'
        pool = self.stack.state.sites['site_a']['spare_pool']

        def caps(osd):
            cmd = {'prefix': 'auth caps', 'entity': entity,
                   'caps': ['mon', 'profile rbd', 'osd', osd]}
            ret, _out, err = cluster.mon_command(json.dumps(cmd), b'')
            self.assertEqual(0, ret, err)

        caps('profile rbd-read-only pool=%s' % pool)
        self.addCleanup(caps, 'profile rbd pool=%s' % pool)
        image_id, data = self.upload()
        host = Host(self.stack, 'compute-a',
                    libvirt={'images_rbd_glance_store_name': 'spare',
                             'images_rbd_glance_copy_retries': 1})
        t0 = time.monotonic()
        e = self.assertRaises(exception.ImageCopyFailed, host.disk(self).clone,
                              self.demo, image_id)
        elapsed = time.monotonic() - t0
        self.assertIn('2 time(s)', str(e))
        self.assertIn('Glance API log', str(e))
        self.assertLess(elapsed, 30, 'the failure should be noticed in seconds')
        self.assertNotIn('spare', self.stores(image_id))

        caps('profile rbd pool=%s' % pool)
        disk = host.disk(self)
        disk.clone(self.demo, image_id)
        self.assert_cloned(host, disk, image_id, data, pool_key='spare_pool')
        self.assertIn('spare', self.stores(image_id))

    def test_timeout_says_what_was_importing(self):
        image_id, _data = self.upload(size=256 * MIB)
        self.addCleanup(self.wait_unlocked, image_id)
        # Another import (to site_b) holds Glance's per-image lock for its whole copy,
        # so this host's copy cannot even start within the 1 s budget, however fast
        # Glance copies on the machine.
        self.admin_glance.images.image_import(image_id, method='copy-image',
                                              stores=['site_b'])
        host = Host(self.stack, 'compute-a',
                    libvirt={'images_rbd_glance_copy_timeout': 1})
        e = self.assertRaises(exception.ImageCopyTimeout, host.disk(self).clone,
                              self.demo, image_id)
        self.assertIn('site_a', str(e))
        self.assertIn('holds the image', str(e))
        self.assertIn('images_rbd_glance_copy_timeout', str(e))

    def test_member_with_user_credentials_gets_a_clear_policy_error(self):
        image_id, _data = self.upload()
        host = Host(self.stack, 'compute-a', glance={'copy_credentials': 'user'})
        e = self.assertRaises(exception.ImageCopyNotAuthorized, host.disk(self).clone,
                              self.demo, image_id)
        self.assertIn('copy_image', str(e))
        self.assertEqual([], self.tasks(image_id))

    # --- bad input: a clear error, nothing half-made --------------------------------

    def assert_refused(self, host, image_id, error, *texts):
        disk = host.disk(self)
        e = self.assertRaises(error, disk.clone, self.demo, image_id)
        for text in texts:
            self.assertIn(text, str(e))
        # This disk only: other workers' tests create and remove disks meanwhile.
        self.assertNotIn(disk.rbd_name, self.vms_images(host))
        return e

    def test_unknown_image(self):
        self.assert_refused(Host(self.stack, 'compute-a'),
                            '0b5a3f4e-dead-4bad-8bad-444455556666',
                            exception.ImageNotFound)

    def test_deleted_image(self):
        image_id, _data = self.upload(size=MIB)
        self.admin_glance.images.delete(image_id)
        self.assert_refused(Host(self.stack, 'compute-a'), image_id,
                            exception.ImageNotFound)

    def test_queued_image(self):
        image = self.admin_glance.images.create(
            name=self.stack.unique_name('queued'), disk_format='raw',
            container_format='bare', visibility='public')
        self.addCleanup(self.admin_glance.images.delete, image['id'])
        self.assert_refused(Host(self.stack, 'compute-a'), image['id'],
                            exception.ImageNotActive, 'queued')

    def test_qcow2_image(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        path = os.path.join(tmp, 'disk.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', path, '16M'],
                       check=True)
        with open(path, 'rb') as f:
            image_id = self.stack.upload_image(f.read(), disk_format='qcow2')
        self.assert_refused(Host(self.stack, 'compute-a'), image_id,
                            exception.ImageDiskFormatUnsupported, 'qemu-img convert')
        self.assertEqual([], self.tasks(image_id))

    def test_unknown_store(self):
        image_id, _data = self.upload(size=MIB)
        self.assert_refused(
            Host(self.stack, 'compute-a',
                 libvirt={'images_rbd_glance_store_name': 'nowhere'}),
            image_id, exception.GlanceStoreNotFound, 'nowhere')
        self.assertEqual([], self.tasks(image_id))

    def test_store_in_another_cluster(self):
        image_id, _data = self.upload(size=MIB)
        self.assert_refused(
            Host(self.stack, 'compute-a',
                 libvirt={'images_rbd_glance_store_name': 'site_b'}),
            image_id, exception.GlanceStoreWrongCluster,
            self.stack.state.sites['site_b']['fsid'])
        self.assertEqual([], self.tasks(image_id))

    def test_glance_down(self):
        image_id, _data = self.upload(size=MIB)
        host = Host(self.stack, 'compute-a',
                    glance={'endpoint_override': 'http://127.0.0.1:9', 'num_retries': 1})
        t0 = time.monotonic()
        self.assert_refused(host, image_id, exception.GlanceConnectionFailed,
                            '127.0.0.1:9', 'num_retries')
        self.assertLess(time.monotonic() - t0, 10)

    def test_ceph_down(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        conf = os.path.join(tmp, 'ceph.conf')
        with open(self.stack.state.sites['site_a']['nova_conf']) as f:
            text = f.read()
        with open(conf, 'w') as f:
            f.write(''.join(
                'mon_host = [v2:127.0.0.1:9]\n' if line.strip().startswith('mon_host')
                else line for line in text.splitlines(True)))
        image_id, _data = self.upload(size=MIB)
        host = Host(self.stack, 'compute-a',
                    libvirt={'images_rbd_ceph_conf': conf, 'rbd_connect_timeout': 2})
        t0 = time.monotonic()
        e = self.assertRaises(exception.CephConnectionFailed, host.disk(self).clone,
                              self.demo, image_id)
        self.assertIn(conf, str(e))
        self.assertLess(time.monotonic() - t0, 20)
        self.assertEqual([], self.tasks(image_id))

    def test_bad_service_credentials(self):
        image_id, _data = self.upload(size=MIB)
        self.assert_refused(
            Host(self.stack, 'compute-a', glance={'password': 'wrong'}),
            image_id, exception.InvalidConfiguration, '[glance]')
        self.assertNotIn('wrong', str(self.assertRaises(
            exception.InvalidConfiguration,
            Host(self.stack, 'compute-a', glance={'password': 'wrong'}).disk(self).clone,
            self.demo, image_id)))

    def test_bad_user_token(self):
        image_id, _data = self.upload(size=MIB)
        ctx = self.stack.context('demo')
        ctx.auth_token = 'gAAAAA-not-a-token'
        e = self.assertRaises(exception.ImageNotAuthorized,
                              Host(self.stack, 'compute-a').disk(self).clone,
                              ctx, image_id)
        self.assertNotIn('gAAAAA-not-a-token', str(e))


def _other_host_main(compute, image_id, user):
    """Clone ``image_id`` as ``user`` on ``compute``; print JSON. Run by the tests."""
    fix = stack.SharedStackFixture()
    fix.setUp()
    try:
        host = Host(fix, compute)
        instance = types.SimpleNamespace(uuid=fix.unique_name('inst'))
        disk = host.backend.by_name(instance, 'disk')
        disk.clone(fix.context(user), image_id)
        print(json.dumps({'rbd_name': disk.rbd_name}))
    finally:
        fix.cleanUp()


if __name__ == '__main__':
    _other_host_main(*sys.argv[1:4])
