"""The driver slice on the real stack: guests boot from RBD clones on both sites.

Needs the stack (``tools/stack.sh up`` or ``tools/run-tests.sh``). Each compute host
gets its own ``ConfigOpts`` parsed from the nova.conf the stack wrote, so one test
process drives compute-a and compute-b like two nova-compute services would.
"""

import concurrent.futures
import os
import subprocess
import sys
import time
import uuid

import fixtures
from oslo_concurrency import opts as lockutils_opts
from oslo_config import cfg
import testtools

from nova.conf import compute as compute_conf
from nova.conf import glance as glance_conf
from nova.conf import libvirt as libvirt_conf
from nova.conf import workarounds as workarounds_conf
from nova import exception
from nova.image import glance
from nova import objects
from nova.tests.live.fixtures import stack as stack_fixture
from nova.virt.libvirt import driver
from nova.virt.libvirt import imagebackend
from nova.virt.libvirt.storage import rbd_utils

MARKER_TIMEOUT = 60
MBR_PTE = slice(446, 462)


def with_partition_entry(disk):
    """The disk with one MBR partition entry if it has none.

    Glance 33's upload safety check refuses an MBR without partitions ("GPT MBR has no
    partitions defined"); the BIOS ignores the table, so the guest boots the same.
    """
    if any(disk[446:510]):
        return disk
    sectors = len(disk) // 512
    entry = bytes([0x00, 0, 2, 0, 0x83, 0, 0, 0]) + (1).to_bytes(4, 'little') + (
        sectors - 1).to_bytes(4, 'little')
    return disk[:MBR_PTE.start] + entry + disk[MBR_PTE.stop:]


def compute_config(nova_conf, name_template):
    conf = cfg.ConfigOpts()
    for module in (compute_conf, glance_conf, libvirt_conf, workarounds_conf):
        module.register_opts(conf)
    for group, opts in lockutils_opts.list_opts():
        conf.register_opts(opts, group=group)
    conf([], default_config_files=[nova_conf], project='nova')
    # Domains carry the stack's prefix, so the stack's cleanup finds any leftovers.
    conf.set_override('instance_name_template', name_template)
    return conf


class Compute(object):
    """One compute host: its config, driver and RBD connection."""

    def __init__(self, stack, name):
        self.name = name
        self.conf = compute_config(stack.nova_conf(name),
                                   '%s%s-%%(uuid)s' % (stack.state.prefix, name))
        self.glance = glance.API(conf=self.conf)
        self.rbd = rbd_utils.RBDDriver.from_conf(self.conf)
        self.backend = imagebackend.Backend(conf=self.conf, glance_api=self.glance,
                                            rbd_driver=self.rbd)
        self.driver = driver.LibvirtDriver(self.conf, image_backend=self.backend,
                                           glance_api=self.glance)

    def new_instance(self, image_id, root_gb=1):
        return objects.Instance.new(self.conf.instance_name_template, image_ref=image_id,
                                    root_gb=root_gb, host=self.conf.host)


class DriverTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.stack = self.useFixture(stack_fixture.SharedStackFixture())
        self.context = self.stack.context('demo')
        with open(self.stack.state.boot_image, 'rb') as f:
            self.boot_data = with_partition_entry(f.read())
        self.computes = {}

    def compute(self, name):
        if name not in self.computes:
            self.computes[name] = Compute(self.stack, name)
        return self.computes[name]

    def upload(self, store='central', data=None, disk_format='raw'):
        return self.stack.upload_image(data or self.boot_data, store=store,
                                       disk_format=disk_format)

    def boot(self, compute, image_id):
        """Spawn and wait for the marker; the guest is destroyed at cleanup."""
        instance = compute.new_instance(image_id)
        image = objects.ImageMeta.from_dict(compute.glance.show(self.context, image_id))
        self.addCleanup(self.destroy, compute, instance)
        compute.driver.spawn(self.context, instance, image)
        self.wait_marker(compute, instance)
        return instance

    def destroy(self, compute, instance):
        compute.driver.destroy(self.context, instance)
        self.assert_nothing_left(compute, instance)

    def wait_marker(self, compute, instance):
        path = compute.driver.console_log_path(instance)
        deadline = time.monotonic() + MARKER_TIMEOUT
        text = ''
        while time.monotonic() < deadline:
            if os.path.exists(path):
                with open(path, errors='replace') as f:
                    text = f.read()
                if self.stack.state.boot_marker in text:
                    return
            time.sleep(0.1)
        self.fail('no %s on the console of %s within %d s: %r'
                  % (self.stack.state.boot_marker, instance.uuid, MARKER_TIMEOUT, text))

    def assert_nothing_left(self, compute, instance):
        self.assertIsNone(compute.driver._host.find_domain(instance.uuid))
        self.assertFalse(compute.rbd.exists('%s_disk' % instance.uuid,
                                            pool=compute.conf.libvirt.images_rbd_pool))
        self.assertFalse(os.path.exists(os.path.join(compute.conf.instances_path,
                                                     instance.uuid)))
        # The stack's secret is host configuration: it stays.
        self.assertIsNotNone(compute.driver._host.find_secret(
            compute.conf.libvirt.rbd_secret_uuid))

    def copy_tasks(self, image_id):
        tasks = self.stack.glance('admin').images.get_associated_image_tasks(image_id)
        return [t for t in tasks.get('tasks', [])
                if (t.get('input') or {}).get('import_req', {}).get('method', {})
                .get('name') == 'copy-image']


class TestBoot(DriverTestCase):

    def test_boot_on_each_site(self):
        image_id = self.upload('central')
        for name, store in (('compute-a', 'site_a'), ('compute-b', 'site_b')):
            compute = self.compute(name)
            instance = self.boot(compute, image_id)
            self.assertEqual(driver.power_state.RUNNING,
                             compute.driver.get_info(instance).state)
            self.assertEqual([instance.uuid], [
                i.uuid for i, _ in compute.driver.instances() if i.uuid == instance.uuid])
            stores = compute.glance.show(self.context, image_id)['stores']
            self.assertIn(store, stores)
            # The root disk is a clone of the copy in this site's store.
            self.assertTrue(compute.rbd.exists(image_id, pool='images'))
            self.destroy(compute, instance)
            # Destroy never touches the parent: the store's copy is intact.
            self.assertTrue(compute.rbd.exists(image_id, pool='images'))

    def test_rbd_to_rbd_copy(self):
        image_id = self.upload('site_a')
        compute = self.compute('compute-b')
        self.boot(compute, image_id)
        self.assertIn('site_b', compute.glance.show(self.context, image_id)['stores'])
        self.assertEqual(1, len(self.copy_tasks(image_id)))

    def test_four_concurrent_boots_one_copy(self):
        image_id = self.upload('central')
        compute = self.compute('compute-b')
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(self.boot, compute, image_id) for _ in range(4)]
            instances = [f.result() for f in futures]
        self.assertEqual(4, len({i.uuid for i in instances}))
        self.assertEqual(1, len(self.copy_tasks(image_id)))

    def test_precache_then_boot_makes_no_copy(self):
        image_id = self.upload('central')
        compute = self.compute('compute-a')
        self.assertTrue(compute.driver.cache_image(self.context, image_id))
        self.assertEqual(1, len(self.copy_tasks(image_id)))
        self.assertFalse(compute.driver.cache_image(self.context, image_id))
        start = time.monotonic()
        self.boot(compute, image_id)
        self.assertEqual(1, len(self.copy_tasks(image_id)))
        self.assertLess(time.monotonic() - start, 30)


class TestFlat(DriverTestCase):

    def test_flat_download_without_a_store(self):
        # No local store, and the image is in no Ceph cluster, so even
        # never_download_image_if_on_rbd (set by the stack) lets it be imported flat.
        image_id = self.upload('central')
        compute = self.compute('compute-a')
        compute.conf.set_override('images_rbd_glance_store_name', '', group='libvirt')
        instance = self.boot(compute, image_id)
        self.assertIsNone(compute.rbd.parent_info('%s_disk' % instance.uuid,
                                                  pool='vms'))
        self.assertEqual([], self.copy_tasks(image_id))
        self.assertEqual([], os.listdir(os.path.join(compute.conf.instances_path,
                                                     '_base')))

    def test_never_download_refuses_cleanly(self):
        # The image is on RBD in the other site's cluster: no download, no copy.
        image_id = self.upload('site_a')
        compute = self.compute('compute-b')
        compute.conf.set_override('images_rbd_glance_store_name', '', group='libvirt')
        instance = compute.new_instance(image_id)
        image = objects.ImageMeta.from_dict(compute.glance.show(self.context, image_id))
        self.addCleanup(compute.driver.destroy, self.context, instance)
        error = self.assertRaises(exception.InstanceDeployFailure, compute.driver.spawn,
                                  self.context, instance, image)
        self.assertIsInstance(error.__cause__, exception.ImageDownloadRefused)
        self.assertIn('never_download_image_if_on_rbd', str(error))
        self.assert_nothing_left(compute, instance)


class TestSecret(DriverTestCase):

    def test_secret_defined_from_the_keyring_when_missing(self):
        image_id = self.upload('site_a')
        compute = self.compute('compute-a')
        secret_uuid = str(uuid.uuid4())
        compute.conf.set_override('rbd_secret_uuid', secret_uuid, group='libvirt')
        host = compute.driver._host
        self.addCleanup(lambda: host.find_secret(secret_uuid) and
                        host.find_secret(secret_uuid).undefine())
        self.assertIsNone(host.find_secret(secret_uuid))
        instance = self.boot(compute, image_id)
        secret = host.find_secret(secret_uuid)
        # Named with the stack's prefix: the stack's cleanup finds it after a crash.
        self.assertTrue(secret.usageID().startswith(self.stack.state.prefix))
        compute.driver.destroy(self.context, instance)


class TestCleanFailures(DriverTestCase):

    def assert_fails_cleanly(self, compute, instance, image, cause):
        # Should the spawn wrongly succeed, the guest still goes.
        self.addCleanup(compute.driver.destroy, self.context, instance)
        error = self.assertRaises(exception.InstanceDeployFailure, compute.driver.spawn,
                                  self.context, instance, image)
        self.assertIsInstance(error.__cause__, cause)
        self.assertIn(instance.uuid, str(error))
        self.assert_nothing_left(compute, instance)
        # Only this instance: tests in other workers boot and destroy guests on the
        # same simulated host meanwhile.
        self.assertNotIn(instance.uuid, compute.driver.list_instance_uuids())
        return error

    def qcow2_data(self):
        tmp = self.useFixture(fixtures.TempDir()).path
        raw, qcow2 = os.path.join(tmp, 'disk.raw'), os.path.join(tmp, 'disk.qcow2')
        with open(raw, 'wb') as f:
            f.write(self.boot_data)
        subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2],
                       check=True)
        with open(qcow2, 'rb') as f:
            return f.read()

    def test_qcow2_image(self):
        image_id = self.upload('central', data=self.qcow2_data(), disk_format='qcow2')
        compute = self.compute('compute-a')
        image = objects.ImageMeta.from_dict(compute.glance.show(self.context, image_id))
        error = self.assert_fails_cleanly(compute, compute.new_instance(image_id), image,
                                          exception.ImageDiskFormatUnsupported)
        self.assertIn('qcow2', str(error))
        # Refused before any copy was asked for.
        self.assertEqual([], self.copy_tasks(image_id))

    def test_qcow2_image_refused_by_the_backend_too(self):
        # Without the image's metadata the driver cannot check first; the backend must.
        image_id = self.upload('central', data=self.qcow2_data(), disk_format='qcow2')
        compute = self.compute('compute-a')
        self.assert_fails_cleanly(compute, compute.new_instance(image_id), None,
                                  exception.NovaException)

    def test_guest_that_cannot_start(self):
        # QEMU cannot give a guest 64 TiB: libvirt fails after the clone was made.
        image_id = self.upload('site_a')
        compute = self.compute('compute-a')
        instance = compute.new_instance(image_id)
        instance.memory_mb = 64 * 1024 * 1024
        image = objects.ImageMeta.from_dict(compute.glance.show(self.context, image_id))
        self.assert_fails_cleanly(compute, instance, image, Exception)
        self.assertTrue(compute.rbd.exists(image_id, pool='images'))

    def test_missing_image(self):
        compute = self.compute('compute-b')
        missing = str(uuid.uuid4())
        self.assert_fails_cleanly(compute, compute.new_instance(missing), None,
                                  exception.ImageNotFound)


class TestCommand(DriverTestCase):
    """nova-rbd-boot as a user runs it: OS_* in the environment, exit codes, one line."""

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def run_cmd(self, compute, *args):
        names = os.path.join(self.tmp, '%s-names.conf' % compute)
        with open(names, 'w') as f:
            f.write('[DEFAULT]\ninstance_name_template = %s%s-%%(uuid)s\n'
                    % (self.stack.state.prefix, compute))
        user = self.stack.state.users['demo']
        env = dict(os.environ, OS_AUTH_URL=self.stack.state.keystone_url,
                   OS_USERNAME=user['username'], OS_PASSWORD=user['password'],
                   OS_PROJECT_NAME=user['project_name'],
                   OS_USER_DOMAIN_NAME=user['user_domain_name'],
                   OS_PROJECT_DOMAIN_NAME=user['project_domain_name'])
        return subprocess.run(
            [sys.executable, '-m', 'nova.cmd.rbd_boot', '--config-file',
             self.stack.nova_conf(compute), '--config-file', names] + list(args),
            env=env, capture_output=True, text=True, timeout=300)

    def test_boot_list_destroy(self):
        image_id = self.upload('central')
        result = self.run_cmd('compute-a', 'boot', '--image', image_id, '--root-gb', '1',
                              '--name', 'cmd-test', '--wait-marker',
                              self.stack.state.boot_marker)
        self.assertEqual(0, result.returncode, result.stderr)
        fields = dict(line.split(': ', 1) for line in result.stdout.splitlines()
                      if ': ' in line)
        self.addCleanup(self.run_cmd, 'compute-a', 'destroy', fields['uuid'])
        self.assertEqual('images/%s@snap' % image_id, fields['parent'])
        self.assertEqual('site_a', fields['parent_store'])
        listing = self.run_cmd('compute-a', 'list')
        self.assertEqual(0, listing.returncode, listing.stderr)
        row = [line for line in listing.stdout.splitlines() if fields['uuid'] in line]
        self.assertEqual(1, len(row), listing.stdout)
        self.assertIn('running', row[0])
        self.assertIn('cmd-test', row[0])
        destroyed = self.run_cmd('compute-a', 'destroy', 'cmd-test')
        self.assertEqual(0, destroyed.returncode, destroyed.stderr)
        again = self.run_cmd('compute-a', 'destroy', fields['uuid'])
        self.assertEqual(8, again.returncode)

    def test_missing_image_exit_code(self):
        result = self.run_cmd('compute-b', 'boot', '--image', str(uuid.uuid4()),
                              '--root-gb', '1')
        self.assertEqual(4, result.returncode, result.stderr)
        last = result.stderr.strip().splitlines()[-1]
        self.assertTrue(last.startswith('ERROR: '), result.stderr)
        self.assertIn('could not be found', last)
