"""Decisions of the libvirt driver slice: which path makes the root disk, what the
guest XML says, and that a failure at any step undoes the steps before it.

libvirt, Ceph and Glance are replaced by mocks; the functional tests boot real guests.
"""

import base64
import os
from unittest import mock
from xml.etree import ElementTree as etree

import fixtures
import libvirt
from oslo_config import fixture as config_fixture
from oslo_utils import units
import testtools

import nova.conf
from nova import exception
from nova import objects
from nova.tests.unit.virt.libvirt import test_config
from nova.virt.libvirt import config as vconfig
from nova.virt.libvirt import driver
from nova.virt.libvirt import host as vhost

CONF = nova.conf.CONF

DISK_METHODS = ['exists', 'clone', 'create_image', 'resize', 'remove', 'libvirt_info',
                'get_disk_size', 'cache_image', 'rbd_name', 'pool']


def libvirt_error(code):
    error = libvirt.libvirtError('boom')
    error.get_error_code = lambda: code
    error.get_error_message = lambda: 'boom %d' % code
    return error


class DriverTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.flags = self.useFixture(config_fixture.Config(CONF))
        self.flags.config(host='compute-a', instances_path=self.tmp,
                          instance_name_template='stk-%(uuid)s')
        self.flags.config(group='libvirt', images_type='rbd', virt_type='qemu',
                          rbd_user='nova', rbd_secret_uuid='sec-1',
                          images_rbd_ceph_conf='/c/ceph.conf')
        self.flags.config(group='workarounds', never_download_image_if_on_rbd=False)
        self.useFixture(fixtures.FakeLogger(level='DEBUG'))

        self.disk = mock.Mock(spec=DISK_METHODS)
        self.disk.rbd_name = 'u1_disk'
        self.disk.pool = 'vms'
        self.disk.exists.return_value = False
        self.disk.libvirt_info.return_value = test_config.rbd_disk()
        self.backend = mock.Mock(spec=['by_name'])
        self.backend.by_name.return_value = self.disk

        self.host = mock.create_autospec(vhost.Host, instance=True)
        self.domain = mock.Mock(spec=['create', 'destroy', 'undefine', 'isActive',
                                      'state', 'name', 'ID', 'UUIDString', 'metadata'])
        self.domain.state.return_value = (libvirt.VIR_DOMAIN_RUNNING, 1)
        self.domain.isActive.return_value = True
        self.domain.name.return_value = 'stk-u1'
        self.host.define_domain.return_value = self.domain
        self.host.find_secret.return_value = mock.sentinel.secret
        self.host.list_domains.return_value = []
        self.glance = mock.Mock(spec=['download'])
        self.clock = mock.Mock(side_effect=[float(i) for i in range(1000)])
        self.sleep = mock.Mock()
        self.drv = driver.LibvirtDriver(CONF, image_backend=self.backend, host=self.host,
                                        glance_api=self.glance, clock=self.clock,
                                        sleep=self.sleep)
        self.instance = objects.Instance(uuid='u1', name='stk-u1', image_ref='img-1',
                                         root_gb=1, memory_mb=64, vcpus=1,
                                         host='compute-a', display_name='web')
        self.image = objects.ImageMeta(id='img-1', disk_format='raw', size=64 * units.Mi)

    def spawn(self):
        self.drv.spawn(None, self.instance, self.image)

    def assert_deploy_failure(self, cause_type):
        error = self.assertRaises(exception.InstanceDeployFailure, self.spawn)
        self.assertIsInstance(error.__cause__, cause_type)
        self.assertIn('u1', str(error))
        return error

    def assert_nothing_left(self):
        self.assertFalse(os.path.exists(os.path.join(self.tmp, 'u1')))
        self.assertEqual([], [n for n in os.listdir(self.tmp) if n != '_base'])


class TestSpawn(DriverTestCase):

    def test_clone_resize_define_start(self):
        self.spawn()
        self.backend.by_name.assert_called_once_with(self.instance, 'disk')
        self.disk.clone.assert_called_once_with(None, 'img-1')
        self.disk.create_image.assert_not_called()
        self.disk.resize.assert_called_once_with(units.Gi)
        self.disk.libvirt_info.assert_called_once_with(driver.ROOT_DISK_INFO, 'writeback')
        self.domain.create.assert_called_once_with()
        self.host.create_secret.assert_not_called()
        self.assertTrue(os.path.isdir(os.path.join(self.tmp, 'u1')))

    def test_guest_xml(self):
        self.spawn()
        root = etree.fromstring(self.host.define_domain.call_args.args[0])
        self.assertEqual('qemu', root.get('type'))
        self.assertEqual('stk-u1', root.findtext('name'))
        self.assertEqual('u1', root.findtext('uuid'))
        self.assertEqual(str(64 * 1024), root.findtext('memory'))
        self.assertEqual('vms/u1_disk', root.find('devices/disk/source').get('name'))
        self.assertEqual(os.path.join(self.tmp, 'u1', 'console.log'),
                         root.find('devices/serial/log').get('file'))
        meta = vconfig.LibvirtConfigGuestMetaNovaInstance.parse_str(etree.tostring(
            root.find('metadata/{%s}instance' % vconfig.NOVA_NS), encoding='unicode'))
        self.assertEqual(('compute-a', self.tmp, 'web', 'img-1', 1),
                         (meta.host, meta.instances_path, meta.display_name,
                          meta.image_ref, meta.root_gb))

    def test_kvm_domain_type_from_config(self):
        self.flags.config(group='libvirt', virt_type='kvm')
        self.spawn()
        root = etree.fromstring(self.host.define_domain.call_args.args[0])
        self.assertEqual('kvm', root.get('type'))

    def test_not_started_without_power_on(self):
        self.drv.spawn(None, self.instance, self.image, power_on=False)
        self.domain.create.assert_not_called()

    def test_waits_until_running(self):
        self.domain.state.side_effect = [(libvirt.VIR_DOMAIN_PAUSED, 0),
                                         (libvirt.VIR_DOMAIN_RUNNING, 1)]
        self.spawn()
        self.sleep.assert_called_once_with(0.1)

    def test_flat_download_when_not_cloneable(self):
        self.disk.clone.side_effect = exception.ImageNotCloneable(image_id='img-1',
                                                                  reason='no store')

        def create_image(prepare_template, base, size, **kwargs):
            prepare_template(target=base, **kwargs)
            self.assertEqual(os.path.join(self.tmp, '_base', 'img-1.u1.part'), base)
            self.assertEqual(units.Gi, size)
            open(base, 'w').close()   # what a download leaves
        self.disk.create_image.side_effect = create_image
        self.spawn()
        self.glance.download.assert_called_once_with(
            None, 'img-1', os.path.join(self.tmp, '_base', 'img-1.u1.part'))
        self.assertEqual([], os.listdir(os.path.join(self.tmp, '_base')))
        self.domain.create.assert_called_once_with()

    def test_flat_fallback_is_the_backends_call_even_with_never_download(self):
        # Only the backend knows whether the image lives on RBD elsewhere; when it
        # says "not cloneable" (not "refused"), the download is allowed.
        self.flags.config(group='workarounds', never_download_image_if_on_rbd=True)
        self.disk.clone.side_effect = exception.ImageNotCloneable(image_id='img-1',
                                                                  reason='file store')
        self.spawn()
        self.disk.create_image.assert_called_once_with(
            self.drv._fetch_image, os.path.join(self.tmp, '_base', 'img-1.u1.part'),
            units.Gi, context=None, image_id='img-1')

    def test_download_refused_by_backend(self):
        self.disk.clone.side_effect = exception.ImageDownloadRefused(image_id='img-1',
                                                                     reason='r')
        self.assert_deploy_failure(exception.ImageDownloadRefused)
        self.disk.create_image.assert_not_called()

    def test_qcow2_refused_before_any_storage(self):
        self.image = objects.ImageMeta(id='img-1', disk_format='qcow2')
        error = self.assert_deploy_failure(exception.ImageDiskFormatUnsupported)
        self.assertIn('qemu-img convert', str(error))
        self.backend.by_name.assert_not_called()
        self.host.define_domain.assert_not_called()

    def test_image_larger_than_root_disk(self):
        self.image = objects.ImageMeta(id='img-1', disk_format='raw', size=2 * units.Gi)
        error = self.assert_deploy_failure(exception.Invalid)
        self.assertIn('--root-gb', str(error))
        self.backend.by_name.assert_not_called()

    def test_existing_disk_is_not_reused_nor_removed(self):
        self.disk.exists.return_value = True
        self.assert_deploy_failure(exception.InstanceExists)
        self.disk.clone.assert_not_called()
        self.disk.remove.assert_not_called()

    def test_clone_failure_removes_partial_disk(self):
        def clone(context, image):
            self.disk.exists.return_value = True
            raise exception.ImageCopyTimeout(image_id='img-1', store='site_a',
                                             timeout=1, detail='d')
        self.disk.clone.side_effect = clone
        self.assert_deploy_failure(exception.ImageCopyTimeout)
        self.disk.remove.assert_called_once_with()
        self.host.define_domain.assert_not_called()
        self.assert_nothing_left()

    def test_start_failure_undoes_everything(self):
        self.disk.clone.side_effect = lambda *a: setattr(
            self.disk.exists, 'return_value', True)
        self.domain.create.side_effect = libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR)
        self.domain.isActive.return_value = False
        error = self.assert_deploy_failure(libvirt.libvirtError)
        self.assertIn('boom', str(error))
        self.domain.undefine.assert_called_once_with()
        self.disk.remove.assert_called_once_with()
        self.assert_nothing_left()

    def test_guest_dying_at_start_is_stopped_and_undone(self):
        self.disk.clone.side_effect = lambda *a: setattr(
            self.disk.exists, 'return_value', True)
        self.domain.state.return_value = (libvirt.VIR_DOMAIN_SHUTOFF, 5)
        self.domain.isActive.return_value = False
        error = self.assert_deploy_failure(exception.Invalid)
        self.assertIn('stopped right after it started', str(error))
        self.domain.undefine.assert_called_once_with()
        self.disk.remove.assert_called_once_with()

    def test_running_timeout(self):
        self.domain.state.return_value = (libvirt.VIR_DOMAIN_PAUSED, 0)
        error = self.assert_deploy_failure(exception.Invalid)
        self.assertIn('did not report running within 60 s', str(error))
        self.domain.destroy.assert_called_once_with()
        self.domain.undefine.assert_called_once_with()

    def test_disk_removal_waits_for_a_dead_qemus_watch(self):
        self.disk.clone.side_effect = lambda *a: setattr(
            self.disk.exists, 'return_value', True)
        self.domain.create.side_effect = libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR)
        busy = exception.RbdImageBusy(pool='vms', name='u1_disk', reason='open')
        self.disk.remove.side_effect = [busy, busy, None]
        self.assert_deploy_failure(libvirt.libvirtError)
        self.assertEqual(3, self.disk.remove.call_count)
        self.sleep.assert_has_calls([mock.call(2), mock.call(2)])

    def test_disk_removal_gives_up(self):
        self.disk.clone.side_effect = lambda *a: setattr(
            self.disk.exists, 'return_value', True)
        self.domain.create.side_effect = libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR)
        self.disk.remove.side_effect = exception.RbdImageBusy(
            pool='vms', name='u1_disk', reason='open')
        # The spawn's own error is what the caller sees; the leftover is logged.
        self.assert_deploy_failure(libvirt.libvirtError)
        self.assertGreater(self.disk.remove.call_count, 1)

    def test_interrupt_undoes_and_propagates(self):
        self.disk.clone.side_effect = lambda *a: setattr(
            self.disk.exists, 'return_value', True)
        self.domain.create.side_effect = KeyboardInterrupt
        self.domain.isActive.return_value = False
        self.assertRaises(KeyboardInterrupt, self.spawn)
        self.domain.undefine.assert_called_once_with()
        self.disk.remove.assert_called_once_with()

    def test_undo_keeps_going_when_one_step_fails(self):
        self.domain.create.side_effect = libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR)
        self.domain.undefine.side_effect = libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR)
        self.disk.exists.side_effect = [False, True]
        self.assert_deploy_failure(libvirt.libvirtError)
        self.disk.remove.assert_called_once_with()
        self.assert_nothing_left()


class TestSecret(DriverTestCase):

    def setUp(self):
        super().setUp()
        self.host.find_secret.return_value = None
        self.read_key = self.useFixture(fixtures.MockPatchObject(
            driver, 'read_cephx_key', autospec=True,
            return_value=base64.b64encode(b'k' * 28).decode())).mock

    def test_defined_from_keyring_when_missing(self):
        self.spawn()
        self.read_key.assert_called_once_with('/c/ceph.conf', 'nova')
        config, value = self.host.create_secret.call_args.args
        self.assertEqual(b'k' * 28, value)
        self.assertEqual('sec-1', config.uuid)
        self.assertEqual('stk-client.nova sec-1', config.usage_id)

    def test_removed_when_the_spawn_that_made_it_fails(self):
        secret = self.host.create_secret.return_value
        self.domain.create.side_effect = libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR)
        self.assert_deploy_failure(libvirt.libvirtError)
        secret.undefine.assert_called_once_with()

    def test_kept_when_other_guests_use_it(self):
        secret = self.host.create_secret.return_value
        self.domain.create.side_effect = libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR)
        self.useFixture(fixtures.MockPatchObject(
            self.drv, 'instances', return_value=[(mock.sentinel.other, None)]))
        self.assert_deploy_failure(libvirt.libvirtError)
        secret.undefine.assert_not_called()

    def test_no_secret_without_rbd_user(self):
        self.flags.config(group='libvirt', rbd_user=None)
        self.spawn()
        self.host.find_secret.assert_not_called()
        self.host.create_secret.assert_not_called()


class TestReadCephxKey(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.conf = os.path.join(self.tmp, 'ceph.conf')

    def write_conf(self, client_section):
        with open(self.conf, 'w') as f:
            f.write('[global]\nmon_host = 127.0.0.1:1\n[client]\n' + client_section)

    def test_from_keyring_with_metavariables(self):
        self.write_conf('keyring = %s/$cluster.$name.keyring\n' % self.tmp)
        with open(os.path.join(self.tmp, 'ceph.client.nova.keyring'), 'w') as f:
            f.write('[client.admin]\n\tkey = WRONG==\n[client.nova]\n\tkey = AQBk==\n'
                    '\tcaps mon = "profile rbd"\n')
        self.assertEqual('AQBk==', driver.read_cephx_key(self.conf, 'nova'))

    def test_missing_key_says_which_user_and_conf(self):
        self.write_conf('keyring = %s/none.keyring\n' % self.tmp)
        error = self.assertRaises(exception.InvalidConfiguration,
                                  driver.read_cephx_key, self.conf, 'nova')
        self.assertIn('client.nova', str(error))
        self.assertIn(self.conf, str(error))


class TestDestroyAndInfo(DriverTestCase):

    def test_destroy_stops_undefines_and_removes_disk(self):
        self.host.find_domain.return_value = self.domain
        self.disk.exists.return_value = True
        os.makedirs(os.path.join(self.tmp, 'u1'))
        self.drv.destroy(None, self.instance)
        self.domain.destroy.assert_called_once_with()
        self.domain.undefine.assert_called_once_with()
        self.backend.by_name.assert_called_once_with(self.instance, 'disk')
        self.disk.remove.assert_called_once_with()
        self.assert_nothing_left()

    def test_destroy_without_domain_still_removes_disk(self):
        self.host.find_domain.return_value = None
        self.disk.exists.return_value = True
        self.drv.destroy(None, self.instance)
        self.disk.remove.assert_called_once_with()

    def test_destroy_keeps_disks_when_asked(self):
        self.host.find_domain.return_value = self.domain
        self.drv.destroy(None, self.instance, destroy_disks=False)
        self.domain.undefine.assert_called_once_with()
        self.backend.by_name.assert_not_called()

    def test_destroy_retries_a_busy_stop(self):
        self.host.find_domain.return_value = self.domain
        self.domain.destroy.side_effect = [
            libvirt_error(libvirt.VIR_ERR_OPERATION_TIMEOUT), None]
        self.drv.destroy(None, self.instance)
        self.assertEqual(2, self.domain.destroy.call_count)

    def test_destroy_of_a_domain_gone_meanwhile(self):
        self.host.find_domain.return_value = self.domain
        self.domain.destroy.side_effect = libvirt_error(libvirt.VIR_ERR_NO_DOMAIN)
        self.domain.undefine.side_effect = libvirt_error(libvirt.VIR_ERR_NO_DOMAIN)
        self.drv.destroy(None, self.instance)

    def test_get_info(self):
        self.host.find_domain.return_value = self.domain
        self.domain.ID.return_value = 7
        self.assertEqual(driver.InstanceInfo(driver.power_state.RUNNING, 7),
                         self.drv.get_info(self.instance))
        self.domain.state.return_value = (libvirt.VIR_DOMAIN_SHUTOFF, 1)
        self.assertEqual(driver.power_state.SHUTDOWN,
                         self.drv.get_info(self.instance).state)

    def test_get_info_not_found(self):
        self.host.find_domain.return_value = None
        self.assertRaises(exception.InstanceNotFound, self.drv.get_info, self.instance)

    def test_cache_image_delegates(self):
        self.disk.cache_image.return_value = True
        self.assertTrue(self.drv.cache_image(mock.sentinel.ctx, 'img-1'))
        self.disk.cache_image.assert_called_once_with(mock.sentinel.ctx, 'img-1')


class TestInstances(DriverTestCase):

    def domain_with(self, uuid, **meta):
        domain = mock.Mock(spec=['metadata', 'UUIDString', 'name'])
        domain.UUIDString.return_value = uuid
        domain.name.return_value = 'stk-' + uuid
        if meta:
            domain.metadata.return_value = (
                vconfig.LibvirtConfigGuestMetaNovaInstance(**meta).to_xml())
        else:
            domain.metadata.side_effect = libvirt_error(libvirt.VIR_ERR_NO_DOMAIN_METADATA)
        return domain

    def test_only_this_hosts_guests(self):
        self.host.list_domains.return_value = [
            self.domain_with('a', host='compute-a', instances_path=self.tmp,
                             display_name='web', image_ref='img-1', root_gb=1),
            self.domain_with('b', host='compute-b', instances_path=self.tmp),
            self.domain_with('c', host='compute-a', instances_path='/other/stack'),
            self.domain_with('d'),
        ]
        found = self.drv.instances()
        self.assertEqual(['a'], [inst.uuid for inst, _ in found])
        self.assertEqual(('stk-a', 'web', 'img-1', 1),
                         (found[0][0].name, found[0][0].display_name,
                          found[0][0].image_ref, found[0][0].root_gb))
        self.assertEqual(['stk-a'], self.drv.list_instances())


class TestHost(testtools.TestCase):
    """The libvirt connection wrapper, with libvirt.open mocked."""

    def setUp(self):
        super().setUp()
        self.conn = mock.Mock(spec=['isAlive', 'lookupByUUIDString', 'defineXML',
                                    'listAllDomains', 'secretLookupByUUIDString',
                                    'secretDefineXML', 'close'])
        self.open = self.useFixture(fixtures.MockPatchObject(
            libvirt, 'open', return_value=self.conn)).mock
        self.host = vhost.Host('qemu:///system')

    def test_connection_opened_once(self):
        self.conn.isAlive.return_value = True
        self.assertIs(self.conn, self.host.get_connection())
        self.assertIs(self.conn, self.host.get_connection())
        self.open.assert_called_once_with('qemu:///system')

    def test_unreachable_libvirtd(self):
        self.open.side_effect = libvirt_error(libvirt.VIR_ERR_SYSTEM_ERROR)
        error = self.assertRaises(exception.HypervisorUnavailable, self.host.get_connection)
        self.assertIn('qemu:///system', str(error))
        self.assertIn('libvirtd', str(error))

    def test_find_domain(self):
        self.conn.lookupByUUIDString.side_effect = libvirt_error(libvirt.VIR_ERR_NO_DOMAIN)
        self.assertIsNone(self.host.find_domain('u1'))
        self.conn.lookupByUUIDString.side_effect = libvirt_error(
            libvirt.VIR_ERR_INTERNAL_ERROR)
        self.assertRaises(libvirt.libvirtError, self.host.find_domain, 'u1')

    def test_find_secret(self):
        self.conn.secretLookupByUUIDString.side_effect = libvirt_error(
            libvirt.VIR_ERR_NO_SECRET)
        self.assertIsNone(self.host.find_secret('s1'))

    def test_secret_whose_value_cannot_be_set_is_undefined(self):
        secret = self.conn.secretDefineXML.return_value
        secret.setValue.side_effect = libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR)
        config = vconfig.LibvirtConfigSecret(uuid='s1', usage_id='p-client.nova s1')
        self.assertRaises(libvirt.libvirtError, self.host.create_secret, config, b'k')
        secret.setValue.assert_called_once_with(b'k')
        secret.undefine.assert_called_once_with()
