"""Tests for nova.virt.libvirt.storage.rbd_utils with the rados/rbd bindings mocked."""

import dataclasses
import json
import os
import tempfile
import threading
import time
from unittest import mock

import fixtures
from oslo_config import cfg
from oslo_config import fixture as config_fixture
import rados
import rbd
import testtools

from nova import exception
from nova.virt.libvirt.storage import rbd_utils

FSID = 'd8d0a5c1-3b8e-4f47-9e2b-4f0d8a1c2e33'
OTHER_FSID = '0e0c5b7a-1111-4222-8333-944455556666'
LOCATION = 'rbd://%s/images/img-1/snap' % FSID
RAW = {'disk_format': 'raw'}
# The real class, for autospec after FakeCeph replaced it in the module.
REAL_RADOS = rados.Rados


class FakeCeph(fixtures.Fixture):
    """Patches Rados, RBD and Image (autospec) with a healthy cluster by default."""

    def _setUp(self):
        self.Rados = self.useFixture(fixtures.MockPatchObject(
            rbd_utils.rados, 'Rados', autospec=True)).mock
        self.client = self.Rados.return_value
        self.client.state = 'connected'
        self.client.get_fsid.return_value = FSID
        self.ioctx = self.client.open_ioctx.return_value

        self.RBD = self.useFixture(fixtures.MockPatchObject(
            rbd_utils.rbd, 'RBD', autospec=True)).mock
        self.rbd = self.RBD.return_value

        self.Image = self.useFixture(fixtures.MockPatchObject(
            rbd_utils.rbd, 'Image', autospec=True)).mock
        self.image = self.Image.return_value
        self.image.__enter__.return_value = self.image
        self.image.size.return_value = 1024
        self.image.list_snaps.return_value = []
        self.image.list_children2.return_value = []
        self.image.is_protected_snap.return_value = True

    def snaps(self, *names):
        self.image.list_snaps.return_value = [{'name': n, 'id': i, 'size': 1024}
                                              for i, n in enumerate(names)]


class DriverTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.ceph = self.useFixture(FakeCeph())
        self.driver = rbd_utils.RBDDriver('vms', '/etc/ceph/site.conf', 'nova', 7)


class ParseLocationTest(testtools.TestCase):

    def test_parses_and_round_trips(self):
        loc = rbd_utils.parse_location(LOCATION)
        self.assertEqual(rbd_utils.RbdLocation(FSID, 'images', 'img-1', 'snap'), loc)
        self.assertEqual(LOCATION, str(loc))

    def test_unquotes_parts_and_quotes_them_back(self):
        url = 'rbd://%s/my%%20pool/a%%40b/s%%2Fnap' % FSID
        self.assertRaises(exception.InvalidRbdLocation, rbd_utils.parse_location, url)
        url = 'rbd://%s/pool-1/a%%40b/s%%2Fnap' % FSID
        loc = rbd_utils.parse_location(url)
        self.assertEqual(('pool-1', 'a@b', 's/nap'), (loc.pool, loc.image, loc.snapshot))
        self.assertEqual(loc, rbd_utils.parse_location(str(loc)))

    def test_fsid_case_is_normalised(self):
        loc = rbd_utils.parse_location(LOCATION.replace(FSID, FSID.upper()))
        self.assertEqual(FSID, loc.fsid)

    def test_location_is_frozen(self):
        loc = rbd_utils.parse_location(LOCATION)
        self.assertRaises(dataclasses.FrozenInstanceError, setattr, loc, 'pool', 'vms')

    def test_rejects(self):
        bad = {
            None: 'not a string',
            b'rbd://x/y/z/w': 'not a string',
            '': 'does not start with rbd://',
            'http://example.com/a/b/c': 'does not start with rbd://',
            'RBD://%s/images/img/snap' % FSID: 'does not start with rbd://',
            'rbd:/%s/images/img/snap' % FSID: 'does not start with rbd://',
            ' rbd://%s/images/img/snap' % FSID: 'does not start with rbd://',
            'rbd://': 'got 1',
            'rbd://%s/images/img' % FSID: 'got 3',
            'rbd://%s/images/img/snap/' % FSID: 'got 5',
            'rbd://%s/images/img/snap/extra' % FSID: 'got 5',
            'rbd://%s//img/snap' % FSID: 'the pool is empty',
            'rbd://%s/images//snap' % FSID: 'the image is empty',
            'rbd://%s/images/img/' % FSID: 'the snapshot is empty',
            'rbd:///images/img/snap': 'the fsid is empty',
            'rbd://not-a-uuid/images/img/snap': 'is not a UUID',
            'rbd://%s/images/img/snap' % FSID.replace('-', ''): 'is not a UUID',
            'rbd://{%s}/images/img/snap' % FSID: 'is not a UUID',
            'rbd://%s/images/img/snap' % FSID[:-1]: 'is not a UUID',
            'rbd://%s/images/im g/snap' % FSID: 'whitespace',
            'rbd://%s/images/img/snap%%0A' % FSID: 'whitespace',
            'rbd://%s/ima%%2Fges/img/snap' % FSID: 'pool name contains',
        }
        for url, reason in bad.items():
            e = self.assertRaises(exception.InvalidRbdLocation,
                                  rbd_utils.parse_location, url)
            self.assertIn(reason, e.format_message(), url)
            self.assertIn('Not a valid RBD location', e.format_message())


class FromConfTest(testtools.TestCase):

    def test_reads_libvirt_options(self):
        import nova.conf
        conf = self.useFixture(config_fixture.Config(nova.conf.CONF))
        conf.config(group='libvirt', images_rbd_pool='vms', rbd_user='nova',
                    images_rbd_ceph_conf='/etc/ceph/a.conf', rbd_connect_timeout=9)
        driver = rbd_utils.RBDDriver.from_conf(nova.conf.CONF)
        self.assertEqual(('vms', '/etc/ceph/a.conf', 'nova', 9),
                         (driver.pool, driver.ceph_conf, driver.rbd_user,
                          driver.connect_timeout))

    def test_defaults_from_a_fresh_conf(self):
        from nova.conf import libvirt as libvirt_conf
        conf = cfg.ConfigOpts()
        libvirt_conf.register_opts(conf)
        conf([])
        driver = rbd_utils.RBDDriver.from_conf(conf)
        self.assertEqual(('rbd', '', None, 5), (driver.pool, driver.ceph_conf,
                                                driver.rbd_user, driver.connect_timeout))


class ConnectionTest(DriverTestCase):

    def test_connects_once_with_timeouts_and_reuses(self):
        self.driver.exists('a')
        self.driver.size('a')
        self.driver.get_mon_addrs = mock.Mock()
        self.assertEqual(FSID, self.driver.get_fsid())

        self.ceph.Rados.assert_called_once_with(conffile='/etc/ceph/site.conf',
                                                rados_id='nova')
        self.assertEqual([mock.call('client_mount_timeout', '7'),
                          mock.call('rados_mon_op_timeout', '7')],
                         self.ceph.client.conf_set.call_args_list)
        self.ceph.client.connect.assert_called_once_with()
        self.ceph.client.conf_read_file.assert_not_called()
        self.assertEqual(2, self.ceph.client.open_ioctx.call_count)
        self.assertEqual(2, self.ceph.ioctx.close.call_count)

    def test_empty_conf_reads_librados_default(self):
        driver = rbd_utils.RBDDriver('vms', '', None, 5)
        driver.get_connection()
        self.assertIsNone(self.ceph.Rados.call_args.kwargs['conffile'])
        self.assertIsNone(self.ceph.Rados.call_args.kwargs['rados_id'])
        self.ceph.client.conf_read_file.assert_called_once_with()
        # The timeouts are set after the file is read, so they win over it.
        names = [c[0] for c in self.ceph.client.method_calls]
        self.assertLess(names.index('conf_read_file'), names.index('conf_set'))
        self.assertLess(names.index('conf_set'), names.index('connect'))

    def test_fsid_is_cached(self):
        self.driver.get_fsid()
        self.driver.get_fsid()
        self.ceph.client.get_fsid.assert_called_once_with()

    def test_reconnects_when_the_handle_is_no_longer_connected(self):
        old = self.driver.get_connection()
        old.state = 'shutdown'
        new_client = mock.create_autospec(REAL_RADOS, instance=True)
        new_client.state = 'connected'
        self.ceph.Rados.side_effect = [new_client]

        self.assertIs(new_client, self.driver.get_connection())
        old.shutdown.assert_called_once_with()

    def test_a_forked_child_does_not_touch_the_parents_handle(self):
        parent_client = self.driver.get_connection()
        child_client = mock.create_autospec(REAL_RADOS, instance=True)
        child_client.state = 'connected'
        self.ceph.Rados.side_effect = [child_client]
        with mock.patch.object(os, 'getpid', autospec=True, return_value=-1):
            self.assertIs(child_client, self.driver.get_connection())
        parent_client.shutdown.assert_not_called()

    def test_threads_share_one_connection(self):
        def slow_connect():
            time.sleep(0.05)
        self.ceph.client.connect.side_effect = slow_connect
        got = []
        threads = [threading.Thread(target=lambda: got.append(
            self.driver.get_connection())) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(8, len(got))
        self.assertEqual(1, len({id(c) for c in got}))
        self.ceph.Rados.assert_called_once()

    def test_timeout_names_conf_user_and_seconds(self):
        self.ceph.client.connect.side_effect = rados.TimedOut('timed out')
        e = self.assertRaises(exception.CephConnectionFailed, self.driver.get_fsid)
        msg = e.format_message()
        self.assertIn('/etc/ceph/site.conf', msg)
        self.assertIn('client.nova', msg)
        self.assertIn('within 7 s', msg)
        self.ceph.client.shutdown.assert_called_once_with()

    def test_failed_connect_is_retried_on_the_next_call(self):
        self.ceph.client.connect.side_effect = [rados.TimedOut('x'), None]
        self.assertRaises(exception.CephConnectionFailed, self.driver.get_connection)
        self.assertIs(self.ceph.client, self.driver.get_connection())
        self.assertEqual(2, self.ceph.Rados.call_count)

    def test_auth_refused(self):
        self.ceph.client.connect.side_effect = rados.PermissionDeniedError('denied')
        e = self.assertRaises(exception.CephConnectionFailed, self.driver.get_connection)
        self.assertIn('refused authentication', e.format_message())

    def test_unreadable_conf(self):
        self.ceph.Rados.side_effect = rados.ObjectNotFound('conf_read_file')
        e = self.assertRaises(exception.CephConnectionFailed, self.driver.get_connection)
        self.assertIn('cannot read the configuration', e.format_message())

    def test_broken_handle_is_dropped_and_reported(self):
        self.ceph.image.size.side_effect = rbd.ConnectionShutdown('gone')
        self.assertRaises(exception.CephConnectionFailed, self.driver.size, 'a')
        self.ceph.client.shutdown.assert_called_once_with()
        self.ceph.ioctx.close.assert_called_once_with()
        self.ceph.image.size.side_effect = None
        self.driver.size('a')
        self.assertEqual(2, self.ceph.Rados.call_count)

    def test_ioctx_and_image_closed_when_the_call_fails(self):
        self.ceph.image.resize.side_effect = rbd.IOError('eio')
        self.assertRaises(rbd.IOError, self.driver.resize, 'a', 4096)
        self.ceph.image.close.assert_called_once_with()
        self.ceph.ioctx.close.assert_called_once_with()

    def test_missing_pool(self):
        self.ceph.client.open_ioctx.side_effect = rados.ObjectNotFound('pool')
        e = self.assertRaises(exception.StorageError, self.driver.size, 'a', pool='nope')
        self.assertIn('pool nope does not exist', e.format_message())

    def test_close_shuts_down_and_next_call_reconnects(self):
        self.driver.get_connection()
        self.driver.close()
        self.ceph.client.shutdown.assert_called_once_with()
        self.driver.get_connection()
        self.assertEqual(2, self.ceph.Rados.call_count)


class MonAddrsTest(DriverTestCase):

    def _dump(self, mons):
        return json.dumps({'fsid': FSID, 'mons': mons}).encode()

    def test_prefers_v2_and_strips_nonce_and_brackets(self):
        mons = [
            {'name': 'a', 'public_addrs': {'addrvec': [
                {'type': 'v2', 'addr': '127.0.0.1:3300', 'nonce': 0},
                {'type': 'v1', 'addr': '127.0.0.1:6789', 'nonce': 0}]}},
            {'name': 'b', 'public_addrs': {'addrvec': [
                {'type': 'v1', 'addr': '10.0.0.2:6789', 'nonce': 0}]}},
            {'name': 'c', 'public_addr': '[::1]:3300/0'},
            {'name': 'd', 'public_addr': 'garbage'},
        ]
        self.ceph.client.mon_command.return_value = (0, self._dump(mons), '')
        self.assertEqual((['127.0.0.1', '10.0.0.2', '::1'], ['3300', '6789', '3300']),
                         self.driver.get_mon_addrs())
        cmd = json.loads(self.ceph.client.mon_command.call_args.args[0])
        self.assertEqual({'prefix': 'mon dump', 'format': 'json'}, cmd)

    def test_command_failure(self):
        self.ceph.client.mon_command.return_value = (-13, b'', 'access denied')
        e = self.assertRaises(exception.StorageError, self.driver.get_mon_addrs)
        self.assertIn('access denied', e.format_message())

    def test_unparseable_output(self):
        self.ceph.client.mon_command.return_value = (0, b'not json', '')
        self.assertRaises(exception.StorageError, self.driver.get_mon_addrs)


class CloneableTest(DriverTestCase):

    def setUp(self):
        super().setUp()
        self.ceph.snaps('snap')
        self.log = self.useFixture(fixtures.FakeLogger(
            name=rbd_utils.__name__, level='DEBUG'))

    def test_cloneable(self):
        self.assertIsNone(self.driver.why_not_cloneable(LOCATION, RAW))
        self.assertTrue(self.driver.is_cloneable(LOCATION, RAW))
        self.ceph.Image.assert_called_with(self.ceph.ioctx, 'img-1', snapshot=None,
                                           read_only=True)
        self.ceph.client.open_ioctx.assert_called_with('images')
        self.ceph.image.is_protected_snap.assert_called_with('snap')

    def test_accepts_a_parsed_location_and_an_object_meta(self):
        meta = mock.Mock(disk_format='raw')
        self.assertTrue(self.driver.is_cloneable(rbd_utils.parse_location(LOCATION),
                                                 meta))

    def _reason(self, location=LOCATION, meta=RAW):
        reason = self.driver.why_not_cloneable(location, meta)
        self.assertIsNotNone(reason)
        self.assertFalse(self.driver.is_cloneable(location, meta))
        self.assertIn(reason, self.log.output)
        return reason

    def test_not_raw_needs_no_io(self):
        self.assertIn('disk_format is qcow2', self._reason(meta={'disk_format': 'qcow2'}))
        self.assertIn('disk_format is unknown', self._reason(meta={}))
        self.ceph.Rados.assert_not_called()

    def test_not_an_rbd_location(self):
        self.assertIn('does not start with rbd://', self._reason('file:///tmp/x'))

    def test_other_cluster(self):
        reason = self._reason(LOCATION.replace(FSID, OTHER_FSID))
        self.assertIn(OTHER_FSID, reason)
        self.assertIn(FSID, reason)
        self.ceph.client.open_ioctx.assert_not_called()

    def test_image_missing(self):
        self.ceph.Image.side_effect = rbd.ImageNotFound('x')
        self.assertIn('image images/img-1 does not exist', self._reason())

    def test_snapshot_missing(self):
        self.ceph.snaps('other')
        self.assertIn('has no snapshot snap', self._reason())

    def test_snapshot_not_protected(self):
        self.ceph.image.is_protected_snap.return_value = False
        self.assertIn('not protected', self._reason())

    def test_pool_not_readable(self):
        self.ceph.Image.side_effect = rbd.PermissionError('eperm')
        reason = self._reason()
        self.assertIn('pool images', reason)
        self.assertIn('client.nova may not', reason)

    def test_pool_missing(self):
        self.ceph.client.open_ioctx.side_effect = rados.ObjectNotFound('pool')
        self.assertIn('does not exist', self._reason())

    def test_connection_failure_is_not_a_reason(self):
        self.ceph.client.connect.side_effect = rados.TimedOut('x')
        self.assertRaises(exception.CephConnectionFailed,
                          self.driver.why_not_cloneable, LOCATION, RAW)


class CloneTest(DriverTestCase):

    def test_clones_with_layering_into_default_pool(self):
        src, dst = mock.Mock(), mock.Mock()
        self.ceph.client.open_ioctx.side_effect = [src, dst]
        self.driver.clone(LOCATION, 'inst_disk')
        self.ceph.rbd.clone.assert_called_once_with(
            src, 'img-1', 'snap', dst, 'inst_disk', features=rbd.RBD_FEATURE_LAYERING)
        self.assertEqual([mock.call('images'), mock.call('vms')],
                         self.ceph.client.open_ioctx.call_args_list)
        src.close.assert_called_once_with()
        dst.close.assert_called_once_with()

    def test_dest_pool(self):
        self.driver.clone(rbd_utils.parse_location(LOCATION), 'd', dest_pool='other')
        self.assertEqual(mock.call('other'), self.ceph.client.open_ioctx.call_args)

    def test_existing_destination(self):
        self.ceph.rbd.clone.side_effect = rbd.ImageExists('exists')
        e = self.assertRaises(exception.RbdImageExists, self.driver.clone, LOCATION, 'd')
        self.assertIn('vms/d already exists', e.format_message())

    def test_missing_parent(self):
        self.ceph.rbd.clone.side_effect = rbd.ImageNotFound('nope')
        self.assertRaises(exception.RbdImageNotFound, self.driver.clone, LOCATION, 'd')


class ImageOpsTest(DriverTestCase):

    def test_exists(self):
        self.assertTrue(self.driver.exists('a'))
        self.ceph.Image.side_effect = rbd.ImageNotFound('x')
        self.assertFalse(self.driver.exists('a'))

    def test_exists_snapshot(self):
        self.ceph.snaps('s1')
        self.assertTrue(self.driver.exists('a', snapshot='s1'))
        self.assertFalse(self.driver.exists('a', snapshot='s2'))

    def test_size_of_missing_image(self):
        self.ceph.Image.side_effect = rbd.ImageNotFound('x')
        e = self.assertRaises(exception.RbdImageNotFound, self.driver.size, 'a')
        self.assertIn('vms/a', e.format_message())

    def test_resize_grows(self):
        self.driver.resize('a', 4096)
        self.ceph.image.resize.assert_called_once_with(4096)

    def test_resize_to_same_size_is_a_no_op(self):
        self.driver.resize('a', 1024)
        self.ceph.image.resize.assert_not_called()

    def test_resize_refuses_to_shrink(self):
        e = self.assertRaises(exception.Invalid, self.driver.resize, 'a', 512)
        self.assertIn('refusing to shrink', e.format_message())
        self.ceph.image.resize.assert_not_called()

    def test_flatten(self):
        self.driver.flatten('a', pool='p')
        self.ceph.image.flatten.assert_called_once_with()
        self.ceph.client.open_ioctx.assert_called_once_with('p')

    def test_parent_info(self):
        self.ceph.image.parent_info.return_value = ('images', 'img-1', 'snap')
        self.assertEqual(rbd_utils.parse_location(LOCATION), self.driver.parent_info('a'))
        self.ceph.image.parent_info.side_effect = rbd.ImageNotFound('no parent')
        self.assertIsNone(self.driver.parent_info('a'))

    def test_list_children_of_every_snapshot(self):
        self.ceph.snaps('s1', 's2')
        self.ceph.image.list_children2.side_effect = [
            [{'pool': 'vms', 'image': 'c1'}], [{'pool': 'vms', 'image': 'c2'}]]
        self.assertEqual([('vms', 'c1'), ('vms', 'c2')], self.driver.list_children('a'))
        self.assertEqual([mock.call('s1'), mock.call('s2'), mock.call(None)],
                         self.ceph.image.set_snap.call_args_list)

    def test_create_snap_protects_by_default(self):
        self.driver.create_snap('a', 's')
        self.ceph.image.create_snap.assert_called_once_with('s')
        self.ceph.image.protect_snap.assert_called_once_with('s')
        self.ceph.image.reset_mock()
        self.driver.create_snap('a', 's', protect=False)
        self.ceph.image.protect_snap.assert_not_called()

    def test_remove_snap(self):
        self.ceph.snaps('s')
        self.driver.remove_snap('a', 's')
        self.ceph.image.unprotect_snap.assert_called_once_with('s')
        self.ceph.image.remove_snap.assert_called_once_with('s')

    def test_remove_missing_snap_is_fine(self):
        self.driver.remove_snap('a', 's')
        self.ceph.image.remove_snap.assert_not_called()

    def test_remove_snap_with_clones_is_refused(self):
        self.ceph.snaps('s')
        self.ceph.image.list_children2.return_value = [{'pool': 'vms', 'image': 'c'}]
        e = self.assertRaises(exception.RbdImageBusy, self.driver.remove_snap, 'a', 's')
        self.assertIn('vms/c', e.format_message())
        self.ceph.image.unprotect_snap.assert_not_called()


class RemoveImageTest(DriverTestCase):

    def test_removes_snapshots_then_image(self):
        self.ceph.snaps('s1')
        self.driver.remove_image('a')
        self.ceph.image.unprotect_snap.assert_called_once_with('s1')
        self.ceph.image.remove_snap.assert_called_once_with('s1')
        self.ceph.rbd.remove.assert_called_once_with(self.ceph.ioctx, 'a')

    def test_refuses_an_image_with_clones(self):
        self.ceph.snaps('snap')
        self.ceph.image.list_children2.return_value = [
            {'pool': 'vms', 'image': 'inst_disk'}, {'pool': 'other', 'image': 'x'}]
        e = self.assertRaises(exception.RbdImageBusy, self.driver.remove_image, 'a')
        msg = e.format_message()
        self.assertIn('vms/a', msg)
        self.assertIn('2 clone(s)', msg)
        self.assertIn('vms/inst_disk', msg)
        self.ceph.rbd.remove.assert_not_called()
        self.ceph.image.remove_snap.assert_not_called()

    def test_already_gone(self):
        self.ceph.Image.side_effect = rbd.ImageNotFound('x')
        self.driver.remove_image('a')
        self.ceph.rbd.remove.assert_not_called()

    def test_gone_between_check_and_remove(self):
        self.ceph.rbd.remove.side_effect = rbd.ImageNotFound('x')
        self.driver.remove_image('a')

    def test_open_by_a_guest(self):
        self.ceph.rbd.remove.side_effect = rbd.ImageBusy('watchers')
        e = self.assertRaises(exception.RbdImageBusy, self.driver.remove_image, 'a')
        self.assertIn('a client has it open', e.format_message())

    def test_clone_appears_during_unprotect(self):
        self.ceph.snaps('s')
        self.ceph.image.unprotect_snap.side_effect = rbd.ImageBusy('children')
        self.assertRaises(exception.RbdImageBusy, self.driver.remove_image, 'a')
        self.ceph.rbd.remove.assert_not_called()


class CleanupVolumesTest(DriverTestCase):

    def test_removes_only_prefixed_and_reports_busy_last(self):
        self.ceph.rbd.list.return_value = ['u1_disk', 'u1_disk.config', 'u2_disk']
        calls = []

        def remove(name, pool=None):
            calls.append(name)
            if name == 'u1_disk':
                raise exception.RbdImageBusy(pool=pool, name=name, reason='clones')

        with mock.patch.object(self.driver, 'remove_image', autospec=True,
                               side_effect=remove):
            self.assertRaises(exception.RbdImageBusy, self.driver.cleanup_volumes, 'u1_')
        self.assertEqual(['u1_disk', 'u1_disk.config'], calls)

    def test_returns_removed(self):
        self.ceph.rbd.list.return_value = ['u1_disk', 'u2_disk']
        self.assertEqual(['u1_disk'], self.driver.cleanup_volumes('u1_'))
        self.ceph.rbd.remove.assert_called_once_with(self.ceph.ioctx, 'u1_disk')

    def test_empty_prefix_refused(self):
        self.assertRaises(exception.Invalid, self.driver.cleanup_volumes, '')


class ImportImageTest(DriverTestCase):

    def _file(self, data):
        fd, path = tempfile.mkstemp()
        self.addCleanup(os.unlink, path)
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        return path

    def test_creates_format2_layering_and_skips_zero_chunks(self):
        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.libvirt.storage.rbd_utils.IMPORT_CHUNK', 4))
        path = self._file(b'abcd\0\0\0\0ef')
        self.driver.import_image(path, 'a')
        self.ceph.rbd.create.assert_called_once_with(
            self.ceph.ioctx, 'a', 10, old_format=False, features=rbd.RBD_FEATURE_LAYERING)
        self.assertEqual([mock.call(b'abcd', 0), mock.call(b'ef', 8)],
                         self.ceph.image.write.call_args_list)
        self.ceph.image.flush.assert_called_once_with()

    def test_failed_write_removes_the_partial_image(self):
        path = self._file(b'data')
        self.ceph.image.write.side_effect = rbd.IOError('eio')
        self.assertRaises(rbd.IOError, self.driver.import_image, path, 'a')
        self.ceph.rbd.remove.assert_called_once_with(self.ceph.ioctx, 'a')

    def test_existing_image(self):
        self.ceph.rbd.create.side_effect = rbd.ImageExists('x')
        self.assertRaises(exception.RbdImageExists, self.driver.import_image,
                          self._file(b'x'), 'a')
        self.ceph.rbd.remove.assert_not_called()


class CopyProgressTest(DriverTestCase):

    def setUp(self):
        super().setUp()
        self.now = 100.0
        self.useFixture(fixtures.MockPatchObject(
            rbd_utils.time, 'monotonic', side_effect=lambda: self.now))
        self.written = 512

        def diff_iterate(offset, length, from_snapshot, cb, include_parent, whole_object):
            cb(0, self.written, True)
            cb(self.written, 256, False)
        self.ceph.image.diff_iterate.side_effect = diff_iterate

    def test_missing(self):
        self.ceph.Image.side_effect = rbd.ImageNotFound('x')
        self.assertEqual(rbd_utils.CopyProgress(exists=False),
                         self.driver.copy_progress('images', 'img'))

    def test_writing(self):
        p = self.driver.copy_progress('images', 'img')
        self.assertEqual(rbd_utils.CopyProgress(True, 1024, 512, False), p)
        self.ceph.Image.assert_called_once_with(self.ceph.ioctx, 'img', snapshot=None,
                                                read_only=True)
        self.ceph.image.diff_iterate.assert_called_once_with(
            0, 1024, None, mock.ANY, include_parent=False, whole_object=True)

    def test_written_bytes_are_recounted_at_most_every_refresh(self):
        self.driver.copy_progress('images', 'img')
        self.written = 768
        self.now += rbd_utils.WRITTEN_REFRESH_SECONDS / 2
        self.assertEqual(512, self.driver.copy_progress('images', 'img').written_bytes)
        self.now += rbd_utils.WRITTEN_REFRESH_SECONDS
        self.assertEqual(768, self.driver.copy_progress('images', 'img').written_bytes)
        self.assertEqual(2, self.ceph.image.diff_iterate.call_count)

    def test_protected_snapshot_recounts_at_once(self):
        self.driver.copy_progress('images', 'img')
        self.written = 1024
        self.ceph.snaps('snap')
        p = self.driver.copy_progress('images', 'img')
        self.assertEqual(rbd_utils.CopyProgress(True, 1024, 1024, True), p)

    def test_snapshot_not_yet_protected(self):
        self.ceph.snaps('snap')
        self.ceph.image.is_protected_snap.return_value = False
        self.assertFalse(self.driver.copy_progress('images', 'img').snapshot_protected)

    def test_removed_while_reading(self):
        self.ceph.image.size.side_effect = rbd.ImageNotFound('gone')
        self.assertFalse(self.driver.copy_progress('images', 'img').exists)

    def test_unreadable_pool_is_an_error(self):
        self.ceph.Image.side_effect = rbd.PermissionError('eperm')
        self.assertRaises(exception.StorageError, self.driver.copy_progress,
                          'images', 'img')
