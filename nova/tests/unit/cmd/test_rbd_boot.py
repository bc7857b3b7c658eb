"""nova-rbd-boot: argument parsing, exit codes and what each command prints."""

import io
import os
from unittest import mock

import fixtures
import libvirt
from oslo_config import fixture as config_fixture
import testtools

from nova.cmd import rbd_boot
import nova.conf
from nova import exception
from nova import objects
from nova.virt.libvirt import driver

CONF = nova.conf.CONF


class CmdTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(config_fixture.Config(CONF))
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.conf_file = os.path.join(self.tmp, 'nova.conf')
        with open(self.conf_file, 'w') as f:
            f.write('[DEFAULT]\nhost = compute-a\ninstances_path = %s\n'
                    'instance_name_template = stk-%%(uuid)s\n'
                    '[libvirt]\nimages_type = rbd\nimages_rbd_glance_store_name = site_a\n'
                    % self.tmp)
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', self.out))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', self.err))
        self.ctx = self.useFixture(fixtures.MockPatchObject(
            rbd_boot, 'make_context', autospec=True)).mock
        self.drv = mock.create_autospec(driver.LibvirtDriver, instance=True)
        self.drv.console_log_path.return_value = os.path.join(self.tmp, 'console.log')
        self.useFixture(fixtures.MockPatchObject(rbd_boot, '_driver',
                                                 return_value=self.drv))
        self.images = self.useFixture(fixtures.MockPatchObject(
            rbd_boot, '_image', autospec=True)).mock
        self.describe = self.useFixture(fixtures.MockPatchObject(
            rbd_boot, 'describe_disk', autospec=True,
            return_value={'disk': 'vms/u_disk', 'parent': 'images/img-1@snap',
                          'store': 'site_a'})).mock

    def run_cmd(self, *args):
        return rbd_boot.main(['--config-file', self.conf_file] + list(args))


class TestParsing(CmdTestCase):

    def test_help_lists_commands_and_exit_codes(self):
        error = self.assertRaises(SystemExit, self.run_cmd, '--help')
        self.assertEqual(0, error.code)
        text = self.out.getvalue()
        for word in ('boot', 'list', 'destroy', 'precache', 'OS_AUTH_URL', 'Exit codes'):
            self.assertIn(word, text)

    def test_boot_requires_image(self):
        error = self.assertRaises(SystemExit, self.run_cmd, 'boot', '--root-gb', '1')
        self.assertEqual(rbd_boot.EXIT_USAGE, error.code)


class TestExitCodes(testtools.TestCase):

    def deploy_failure(self, cause):
        try:
            try:
                raise cause
            except Exception as e:
                raise exception.InstanceDeployFailure(instance_id='u', reason='r') from e
        except exception.InstanceDeployFailure as e:
            return e

    def test_codes(self):
        cases = [
            (exception.ImageNotFound(image_id='i'), rbd_boot.EXIT_IMAGE),
            (self.deploy_failure(exception.ImageNotFound(image_id='i')),
             rbd_boot.EXIT_IMAGE),
            (self.deploy_failure(exception.ImageDiskFormatUnsupported(
                image_id='i', disk_format='qcow2')), rbd_boot.EXIT_IMAGE_UNBOOTABLE),
            (self.deploy_failure(exception.ImageCopyFailed(
                image_id='i', store='s', attempts=3, reason='r')), rbd_boot.EXIT_COPY),
            (self.deploy_failure(exception.ImageCopyNotAuthorized(
                image_id='i', store='s', who='u')), rbd_boot.EXIT_COPY),
            (self.deploy_failure(libvirt.libvirtError('x')), rbd_boot.EXIT_DEPLOY),
            (exception.InstanceNotFound(instance_id='u'), rbd_boot.EXIT_NOT_FOUND),
            (exception.AuthenticationFailed(reason='r'), rbd_boot.EXIT_AUTH),
            (exception.InvalidConfiguration(option='o', reason='r'), rbd_boot.EXIT_USAGE),
            (exception.NovaException(), rbd_boot.EXIT_ERROR),
        ]
        for error, code in cases:
            self.assertEqual(code, rbd_boot.exit_code(error), repr(error))


class TestAuth(testtools.TestCase):

    def test_missing_environment(self):
        error = self.assertRaises(exception.AuthenticationFailed, rbd_boot.auth_session,
                                  {'OS_AUTH_URL': 'http://127.0.0.1:1/v3'})
        self.assertIn('OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME', str(error))

    def test_session_from_environment(self):
        sess = rbd_boot.auth_session({
            'OS_AUTH_URL': 'http://127.0.0.1:1/v3', 'OS_USERNAME': 'u',
            'OS_PASSWORD': 'p', 'OS_PROJECT_NAME': 'pr'})
        self.assertEqual('http://127.0.0.1:1/v3', sess.auth.auth_url)
        self.assertEqual('Default', sess.auth._user_domain_name)


class TestBoot(CmdTestCase):

    def setUp(self):
        super().setUp()
        self.images.side_effect = [
            objects.ImageMeta(id='img-1', disk_format='raw', stores=('central',)),
            objects.ImageMeta(id='img-1', disk_format='raw',
                              stores=('central', 'site_a')),
        ]

    def test_boot_prints_what_happened(self):
        self.assertEqual(0, self.run_cmd('boot', '--image', 'img-1', '--root-gb', '1',
                                         '--name', 'web'))
        context, instance, image = self.drv.spawn.call_args.args
        self.assertEqual(self.ctx.return_value, context)
        self.assertEqual(('img-1', 1, 'web', 'compute-a'),
                         (instance.image_ref, instance.root_gb, instance.display_name,
                          instance.host))
        self.assertEqual('stk-' + instance.uuid, instance.name)
        out = self.out.getvalue()
        self.assertIn('copied_to_store: site_a', out)
        self.assertIn('parent: images/img-1@snap', out)
        self.assertIn('image_stores: central,site_a', out)

    def test_no_copy_when_already_local(self):
        self.images.side_effect = [objects.ImageMeta(id='img-1', stores=('site_a',))] * 2
        self.run_cmd('boot', '--image', 'img-1', '--root-gb', '1')
        self.assertIn('copied_to_store: no', self.out.getvalue())

    def test_marker_seen(self):
        with open(os.path.join(self.tmp, 'console.log'), 'w') as f:
            f.write('SeaBIOS\nRBD-BOOT-OK\n')
        code = self.run_cmd('boot', '--image', 'img-1', '--root-gb', '1',
                            '--wait-marker', 'RBD-BOOT-OK')
        self.assertEqual(0, code)
        self.assertIn('marker_seconds:', self.out.getvalue())

    def test_marker_timeout(self):
        code = self.run_cmd('boot', '--image', 'img-1', '--root-gb', '1',
                            '--wait-marker', 'NEVER', '--wait-timeout', '0.2')
        self.assertEqual(rbd_boot.EXIT_MARKER, code)
        self.assertIn("'NEVER' did not appear", self.err.getvalue())

    def test_deploy_failure_is_one_line(self):
        self.drv.spawn.side_effect = exception.InstanceDeployFailure(
            instance_id='u', reason='boom')
        self.assertEqual(rbd_boot.EXIT_DEPLOY,
                         self.run_cmd('boot', '--image', 'img-1', '--root-gb', '1'))
        self.assertEqual('ERROR: Failed to deploy instance u: boom\n',
                         self.err.getvalue())

    def test_missing_image(self):
        self.images.side_effect = exception.ImageNotFound(image_id='nope')
        self.assertEqual(rbd_boot.EXIT_IMAGE,
                         self.run_cmd('boot', '--image', 'nope', '--root-gb', '1'))
        self.drv.spawn.assert_not_called()


class TestOtherCommands(CmdTestCase):

    def instance(self, uuid, display_name):
        return objects.Instance(uuid=uuid, name='stk-' + uuid, image_ref='img-1',
                                root_gb=1, host='compute-a', display_name=display_name)

    def test_list(self):
        self.drv.instances.return_value = [(self.instance('u1', 'web'), None)]
        self.drv.get_info.return_value = driver.InstanceInfo(driver.power_state.RUNNING)
        self.assertEqual(0, self.run_cmd('list'))
        lines = self.out.getvalue().splitlines()
        self.assertEqual(['UUID', 'NAME', 'STATE', 'ROOT', 'DISK', 'PARENT', 'STORE'],
                         lines[0].split())
        self.assertEqual(['u1', 'web', 'running', 'vms/u_disk', 'images/img-1@snap',
                          'site_a'], lines[1].split())

    def test_destroy_by_name(self):
        inst = self.instance('u1', 'web')
        self.drv.instances.return_value = [(inst, None),
                                           (self.instance('u2', 'db'), None)]
        self.assertEqual(0, self.run_cmd('destroy', 'web'))
        self.drv.destroy.assert_called_once_with(self.ctx.return_value, inst)

    def test_destroy_unknown(self):
        self.drv.instances.return_value = []
        self.assertEqual(rbd_boot.EXIT_NOT_FOUND, self.run_cmd('destroy', 'x'))
        self.assertIn('Instance x could not be found', self.err.getvalue())

    def test_destroy_ambiguous_name(self):
        self.drv.instances.return_value = [(self.instance('u1', 'web'), None),
                                           (self.instance('u2', 'web'), None)]
        self.assertEqual(rbd_boot.EXIT_ERROR, self.run_cmd('destroy', 'web'))
        self.drv.destroy.assert_not_called()

    def test_precache(self):
        self.drv.cache_image.return_value = True
        self.assertEqual(0, self.run_cmd('precache', 'img-1'))
        self.assertIn('image img-1 copied into store site_a', self.out.getvalue())


class TestWaitForMarker(testtools.TestCase):

    def test_missing_file_then_marker(self):
        path = os.path.join(self.useFixture(fixtures.TempDir()).path, 'log')
        ticks = iter(range(100))

        def sleep(_):
            if next(ticks) == 2:
                with open(path, 'w') as f:
                    f.write('..MARK..')
        self.assertIsNotNone(rbd_boot.wait_for_marker(path, 'MARK', 10, sleep=sleep))

    def test_timeout(self):
        clock = iter([0, 5, 11]).__next__
        self.assertIsNone(rbd_boot.wait_for_marker('/nonexistent', 'M', 10,
                                                   sleep=lambda s: None, clock=clock))


class TestDescribeDisk(testtools.TestCase):

    def setUp(self):
        super().setUp()
        flags = self.useFixture(config_fixture.Config(CONF))
        flags.config(group='libvirt', images_rbd_glance_store_name='site_a')
        self.disk = mock.Mock(spec=['pool', 'rbd_name', 'driver'])
        self.disk.pool, self.disk.rbd_name = 'vms', 'u1_disk'
        self.drv = mock.Mock(spec=['image_backend'])
        self.drv.image_backend.by_name.return_value = self.disk
        self.instance = objects.Instance(uuid='u1', name='n', image_ref='img-1',
                                         root_gb=1)

    def test_clone_of_the_local_store_copy(self):
        self.disk.driver.parent_info.return_value = mock.Mock(
            pool='images', image='img-1', snapshot='snap')
        self.assertEqual({'disk': 'vms/u1_disk', 'parent': 'images/img-1@snap',
                          'store': 'site_a'},
                         rbd_boot.describe_disk(self.drv, self.instance))
        self.disk.driver.parent_info.assert_called_once_with('u1_disk', pool='vms')

    def test_flat_disk(self):
        self.disk.driver.parent_info.return_value = None
        self.assertEqual('(flat)',
                         rbd_boot.describe_disk(self.drv, self.instance)['parent'])

    def test_missing_disk(self):
        self.disk.driver.parent_info.side_effect = exception.RbdImageNotFound(
            pool='vms', name='u1_disk')
        self.assertEqual('vms/u1_disk (missing)',
                         rbd_boot.describe_disk(self.drv, self.instance)['disk'])
