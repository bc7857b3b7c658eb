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

"""The Rbd image backend as nova-compute reaches it, against the real stack.

``imagebackend.Backend(use_cow=True).by_name(instance, 'disk', 'rbd').clone(ctx,
image_id)`` with CONF parsed from the nova.conf the stack wrote for a compute host
and a RequestContext built from a real Keystone token. A second host is a separate
process (``python -m`` this module): boots on one host share Nova's per-image lock
by design, two hosts meet only in Glance.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from nova import exception
from nova.tests.live import base
from nova.virt.libvirt import imagebackend

CONF = base.CONF
MIB = base.MIB
OTHER_HOST_TIMEOUT = 300


class RbdBackendTest(base.LiveTestCase):

    def setUp(self):
        super().setUp()
        self.demo = self.stack.context('demo')

    def disk(self, site, instance=None):
        """The root disk backend of a new instance; removed at cleanup."""
        backend = imagebackend.Backend(True).by_name(
            instance or self.new_instance(), 'disk', 'rbd')
        self.addCleanup(self.remove_disk, site, backend.rbd_name)
        return backend

    def assert_cloned(self, site, disk, image_id, data, pool_key='images_pool'):
        got, parent = self.read_disk(site, disk.rbd_name, len(data))
        self.assertEqual(data, got, 'the disk does not hold the image\'s bytes')
        self.assertEqual((self.state.sites[site][pool_key], image_id, 'snap'), parent)

    def assert_refused(self, site, image_id, error, *texts, context=None):
        """clone() fails with ``error`` naming ``texts``; no disk is left in vms."""
        disk = self.disk(site)
        e = self.assertRaises(error, disk.clone, context or self.demo, image_id)
        for text in texts:
            self.assertIn(text, str(e))
        self.assertNotIn(disk.rbd_name, self.vms_images(site))
        return e

    def other_host(self, compute, image_id, user='demo'):
        """Start a clone on another host (a separate process); returns the Popen."""
        return subprocess.Popen(
            [sys.executable, '-m', __name__, compute, image_id, user],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def other_host_result(self, proc, site):
        out, err = proc.communicate(timeout=OTHER_HOST_TIMEOUT)
        self.assertEqual(0, proc.returncode, 'other host failed: %s' % err[-3000:])
        name = json.loads(out.strip().splitlines()[-1])['rbd_name']
        self.addCleanup(self.remove_disk, site, name)
        return name

    # --- copy paths -------------------------------------------------------------

    def test_file_to_rbd_copies_once_then_clones_hot(self):
        site = self.use_compute('compute-a')
        image_id, data = self.upload()
        disk = self.disk(site)
        # A member user under Glance's default policy: the copy is made with Nova's
        # service user ([service_user], [glance] copy_credentials = auto).
        disk.clone(self.demo, image_id)
        self.assert_cloned(site, disk, image_id, data)
        self.assertEqual({'central', 'site_a'}, self.stores(image_id))
        self.assertEqual(1, len(self.tasks(image_id)))

        # Hot path: the image is in the store, no import is asked for.
        disk2 = self.disk(site)
        t0 = time.monotonic()
        disk2.clone(self.demo, image_id)
        hot = time.monotonic() - t0
        self.assert_cloned(site, disk2, image_id, data)
        self.assertEqual(1, len(self.tasks(image_id)))
        self.assertLess(hot, 5, 'a clone of an image already in the store took '
                        '%.1f s' % hot)

    def test_rbd_to_rbd_between_clusters(self):
        site = self.use_compute('compute-b')
        image_id, data = self.upload(store='site_a')
        disk = self.disk(site)
        disk.clone(self.demo, image_id)
        self.assert_cloned(site, disk, image_id, data)
        self.assertEqual({'site_a', 'site_b'}, self.stores(image_id))

    def test_image_already_in_the_store_is_cloned_without_a_copy(self):
        site = self.use_compute('compute-a')
        image_id, data = self.upload(store='site_a')
        disk = self.disk(site)
        disk.clone(self.demo, image_id)
        self.assert_cloned(site, disk, image_id, data)
        self.assertEqual([], self.tasks(image_id))

    # --- concurrency ------------------------------------------------------------

    def test_concurrent_boots_on_one_host_make_one_copy(self):
        site = self.use_compute('compute-b')
        image_id, data = self.upload(size=32 * MIB)
        disks = [self.disk(site) for _ in range(4)]
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
            t.join(OTHER_HOST_TIMEOUT)
        self.assertEqual([], errors)
        self.assertEqual(1, len(self.tasks(image_id)))
        for disk in disks:
            self.assert_cloned(site, disk, image_id, data[:MIB])

    def test_second_process_on_one_host_makes_no_second_copy(self):
        site = self.use_compute('compute-a')
        image_id, data = self.upload(size=32 * MIB)
        proc = self.other_host('compute-a', image_id)
        disk = self.disk(site)
        disk.clone(self.demo, image_id)
        self.other_host_result(proc, site)
        self.assert_cloned(site, disk, image_id, data[:MIB])
        self.assertEqual(['success'], [t['status'] for t in self.tasks(image_id)])

    def test_both_sites_at_once_both_succeed(self):
        # Glance locks the image for one import at a time: the site that gets 409
        # waits and asks again, it does not fail the boot.
        site = self.use_compute('compute-a')
        image_id, data = self.upload(size=32 * MIB)
        proc = self.other_host('compute-b', image_id)
        disk = self.disk(site)
        disk.clone(self.demo, image_id)
        self.other_host_result(proc, 'site_b')
        self.assert_cloned(site, disk, image_id, data[:MIB])
        self.assertEqual({'central', 'site_a', 'site_b'}, self.stores(image_id))
        self.assertEqual(['success', 'success'],
                         [t['status'] for t in self.tasks(image_id)])

    # --- failures ---------------------------------------------------------------

    def test_failing_copy_is_reported_in_seconds(self):
        # The spare store's cephx user may only read its pool: Glance's copy fails.
        # Tests that upload into it wait until this one is done.
        self.stack.hold_store('spare', exclusive=True)
        cluster = self.stack.rados('site_a')
        entity = 'client.glance-spare'
        pool = self.state.sites['site_a']['spare_pool']

        def caps(osd):
            cmd = {'prefix': 'auth caps', 'entity': entity,
                   'caps': ['mon', 'profile rbd', 'osd', osd]}
            ret, _out, err = cluster.mon_command(json.dumps(cmd), b'')
            self.assertEqual(0, ret, err)

        caps('profile rbd-read-only pool=%s' % pool)
        self.addCleanup(caps, 'profile rbd pool=%s' % pool)
        # The copy timeout only bounds this test if the failure goes unnoticed.
        site = self.use_compute(
            'compute-a', libvirt={'images_rbd_glance_store_name': 'spare',
                                  'images_rbd_glance_copy_timeout': 90})
        image_id, data = self.upload()
        t0 = time.monotonic()
        e = self.assert_refused(site, image_id, exception.ImageUnacceptable, 'spare')
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, 60, 'a failed copy took %.1f s to notice: %s'
                        % (elapsed, e))
        self.assertNotIn('spare', self.stores(image_id))

        # Once Glance can write again, the next boot copies and clones.
        caps('profile rbd pool=%s' % pool)
        disk = self.disk(site)
        disk.clone(self.demo, image_id)
        self.assert_cloned(site, disk, image_id, data, pool_key='spare_pool')

    def test_timeout(self):
        image_id, _data = self.upload(size=256 * MIB)
        self.addCleanup(self.wait_unlocked, image_id)
        # An import to site_b holds Glance's per-image lock for its whole copy, so
        # the copy to site_a cannot even start within the 1 s budget.
        self.admin_glance.images.image_import(image_id, method='copy-image',
                                              stores=['site_b'])
        site = self.use_compute(
            'compute-a', libvirt={'images_rbd_glance_copy_timeout': 1,
                                  'images_rbd_glance_copy_poll_interval': 1})
        t0 = time.monotonic()
        self.assert_refused(site, image_id, exception.ImageUnacceptable, 'site_a')
        self.assertLess(time.monotonic() - t0, 60)

    def test_member_with_user_credentials_gets_a_policy_error(self):
        # The user's token alone: the stack's Glance policy (the admin guide's)
        # allows a user's copy only with Nova's service token beside it.
        site = self.use_compute('compute-a', glance={'copy_credentials': 'user'},
                                service_user={'send_service_user_token': False})
        image_id, _data = self.upload()
        self.assert_refused(site, image_id, exception.ImageUnacceptable,
                            'copy_image', 'copy_credentials')
        self.assertEqual([], self.tasks(image_id))

    def test_member_with_service_credentials(self):
        site = self.use_compute('compute-a', glance={'copy_credentials': 'service'})
        image_id, data = self.upload()
        disk = self.disk(site)
        disk.clone(self.demo, image_id)
        self.assert_cloned(site, disk, image_id, data)

    # --- bad input: a clear error, nothing half-made ------------------------------

    def test_unknown_store(self):
        site = self.use_compute(
            'compute-a', libvirt={'images_rbd_glance_store_name': 'nowhere'})
        image_id, _data = self.upload(size=MIB)
        self.assert_refused(site, image_id, exception.ImageUnacceptable, 'nowhere')
        self.assertEqual([], self.tasks(image_id))

    def test_store_in_another_cluster(self):
        site = self.use_compute(
            'compute-a', libvirt={'images_rbd_glance_store_name': 'site_b'})
        image_id, _data = self.upload(size=MIB)
        self.assert_refused(site, image_id, exception.ImageUnacceptable, 'site_b')
        self.assertEqual([], self.tasks(image_id))

    def test_qcow2_image(self):
        site = self.use_compute('compute-a')
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        path = os.path.join(tmp, 'disk.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', path, '16M'],
                       check=True)
        with open(path, 'rb') as f:
            image_id = self.stack.upload_image(f.read(), disk_format='qcow2')
        self.assert_refused(site, image_id, exception.ImageUnacceptable, 'raw')
        self.assertEqual([], self.tasks(image_id))

    def test_unknown_image(self):
        site = self.use_compute('compute-a')
        self.assert_refused(site, '0b5a3f4e-dead-4bad-8bad-444455556666',
                            exception.ImageNotFound)

    def test_deleted_image(self):
        site = self.use_compute('compute-a')
        image_id, _data = self.upload(size=MIB)
        self.admin_glance.images.delete(image_id)
        self.assert_refused(site, image_id, exception.ImageNotFound)

    def test_glance_down(self):
        site = self.use_compute(
            'compute-a', glance={'endpoint_override': 'http://127.0.0.1:9',
                                 'num_retries': 0})
        t0 = time.monotonic()
        self.assert_refused(site, '0b5a3f4e-dead-4bad-8bad-444455556666',
                            exception.GlanceConnectionFailed, '127.0.0.1:9')
        self.assertLess(time.monotonic() - t0, 10)


def _other_host_main(compute, image_id, user):
    """Clone ``image_id`` as ``user`` on ``compute``; print JSON. Run by the tests."""
    from oslo_utils import uuidutils

    from nova import objects
    from nova.tests.live.fixtures import stack
    objects.register_all()
    fix = stack.SharedStackFixture()
    fix.setUp()
    try:
        CONF(['--config-file', fix.nova_conf(compute)], project='nova',
             default_config_files=[])
        instance = objects.Instance(uuid=uuidutils.generate_uuid())
        disk = imagebackend.Backend(True).by_name(instance, 'disk', 'rbd')
        disk.clone(fix.context(user), image_id)
        print(json.dumps({'rbd_name': disk.rbd_name}))
    finally:
        fix.cleanUp()


if __name__ == '__main__':
    _other_host_main(*sys.argv[1:4])
