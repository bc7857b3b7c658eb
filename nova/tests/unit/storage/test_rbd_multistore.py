#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

import dataclasses
from unittest import mock

import fixtures

from nova import exception
from nova import objects
from nova.storage import rbd_multistore
from nova.storage import rbd_utils
from nova import test

FSID = 'd8d0a5c1-3b8e-4f47-9e2b-4f0d8a1c2e33'
OTHER_FSID = '0e0c5b7a-1111-4222-8333-944455556666'
URL = 'rbd://%s/images/img-1/snap' % FSID
RAW = {'disk_format': 'raw'}


# The bindings are not installed where unit tests run: the modules are
# mocked, with exception classes shaped like theirs (two separate trees).
class RadosError(Exception):
    pass


class RadosObjectNotFound(RadosError):
    pass


class RadosTimedOut(RadosError):
    pass


class RadosPermissionError(RadosError):
    pass


class RadosPermissionDeniedError(RadosError):
    pass


class RbdError(Exception):
    pass


class RbdImageNotFound(RbdError):
    pass


class RbdPermissionError(RbdError):
    pass


class RbdIOError(RbdError):
    pass


class ParseLocationTestCase(test.NoDBTestCase):

    def test_parses_and_round_trips(self):
        loc = rbd_multistore.parse_location(URL)
        self.assertEqual(
            rbd_multistore.RbdLocation(FSID, 'images', 'img-1', 'snap'), loc)
        self.assertEqual(URL, loc.url)
        self.assertEqual(URL, str(loc))

    def test_unquotes_parts_and_quotes_them_back(self):
        loc = rbd_multistore.parse_location(
            'rbd://%s/pool-1/a%%40b/s%%2Fnap' % FSID)
        self.assertEqual(('pool-1', 'a@b', 's/nap'),
                         (loc.pool, loc.image, loc.snapshot))
        self.assertEqual(loc, rbd_multistore.parse_location(loc.url))

    def test_fsid_is_lower_cased(self):
        loc = rbd_multistore.parse_location(URL.replace(FSID, FSID.upper()))
        self.assertEqual(FSID, loc.fsid)

    def test_location_is_frozen(self):
        loc = rbd_multistore.parse_location(URL)
        self.assertRaises(dataclasses.FrozenInstanceError,
                          setattr, loc, 'pool', 'vms')

    def test_is_image_unacceptable(self):
        # Callers that catch upstream's parse_url error catch ours too.
        self.assertTrue(issubclass(rbd_multistore.InvalidRbdLocation,
                                   exception.ImageUnacceptable))

    def test_rejects(self):
        bad = {
            None: 'not a string',
            b'rbd://x/y/z/w': 'not a string',
            '': 'does not start with rbd://',
            'RBD://%s/images/img/snap' % FSID: 'does not start with rbd://',
            'rbd:/%s/images/img/snap' % FSID: 'does not start with rbd://',
            ' rbd://%s/images/img/snap' % FSID: 'does not start with rbd://',
            'rbd://': 'got 1',
            'rbd://image': 'got 1',
            'rbd://%s/images/img' % FSID: 'got 3',
            'rbd://%s/images/img/snap/' % FSID: 'got 5',
            'rbd://%s/images/img/snap/extra' % FSID: 'got 5',
            'rbd://///': 'the fsid is empty',
            'rbd://%s//img/snap' % FSID: 'the pool is empty',
            'rbd://%s/images//snap' % FSID: 'the image is empty',
            'rbd://%s/images/img/' % FSID: 'the snapshot is empty',
            'rbd://%2F/%2F/%2F/%2F': 'is not a UUID',
            'rbd://fsid/images/img/snap': 'is not a UUID',
            'rbd://%s/images/img/snap' % FSID.replace('-', ''):
                'is not a UUID',
            'rbd://{%s}/images/img/snap' % FSID: 'is not a UUID',
            'rbd://%s/images/img/snap' % FSID[:-1]: 'is not a UUID',
            'rbd://%s/images/im g/snap' % FSID: 'whitespace',
            'rbd://%s/images/img/snap%%0A' % FSID: 'whitespace',
            'rbd://%s/my%%20pool/img/snap' % FSID: 'whitespace',
            'rbd://%s/ima%%2Fges/img/snap' % FSID: 'pool name contains',
        }
        for url, reason in bad.items():
            e = self.assertRaises(exception.ImageUnacceptable,
                                  rbd_multistore.parse_location, url)
            self.assertIsInstance(e, rbd_multistore.InvalidRbdLocation)
            self.assertIn(reason, e.format_message(), url)
            self.assertIn('Not a valid RBD location', e.format_message())

    def test_other_schemes_are_not_echoed(self):
        # A swift location may carry a key in its url.
        url = 'swift+https://tenant:user:secret@swift.example.com/v1/c/o'
        e = self.assertRaises(rbd_multistore.InvalidRbdLocation,
                              rbd_multistore.parse_location, url)
        self.assertNotIn('secret', e.format_message())
        self.assertIn('swift+https://...', e.format_message())

    def test_as_location(self):
        loc = rbd_multistore.parse_location(URL)
        self.assertIs(loc, rbd_multistore.as_location(loc))
        self.assertEqual(loc, rbd_multistore.as_location(URL))
        self.assertEqual(loc, rbd_multistore.as_location(
            {'url': URL, 'metadata': {'store': 'site_a'}}))
        self.assertRaises(rbd_multistore.InvalidRbdLocation,
                          rbd_multistore.as_location, {'metadata': {}})


class RbdMultistoreTestCase(test.NoDBTestCase):
    """The bindings mocked as upstream's test_rbd.py does, with a healthy
    cluster: every image exists, with a protected snapshot ``snap``.
    """

    def setUp(self):
        super().setUp()
        self.flags(images_rbd_pool='vms',
                   images_rbd_ceph_conf='/etc/ceph/site_a.conf',
                   rbd_connect_timeout=7, rbd_user='nova', group='libvirt')

        self.mock_rados = self.useFixture(fixtures.MockPatchObject(
            rbd_utils, 'rados')).mock
        self.mock_rados.Error = RadosError
        self.mock_rados.ObjectNotFound = RadosObjectNotFound
        self.mock_rados.TimedOut = RadosTimedOut
        self.mock_rados.PermissionError = RadosPermissionError
        self.mock_rados.PermissionDeniedError = RadosPermissionDeniedError
        self.client = self.mock_rados.Rados.return_value
        self.client.get_fsid.return_value = FSID.encode()
        self.client.conf_get.return_value = None
        self.ioctx = self.client.open_ioctx.return_value

        self.mock_rbd = self.useFixture(fixtures.MockPatchObject(
            rbd_utils, 'rbd')).mock
        self.mock_rbd.Error = RbdError
        self.mock_rbd.ImageNotFound = RbdImageNotFound
        self.mock_rbd.PermissionError = RbdPermissionError
        self.image = self.mock_rbd.Image.return_value
        self.image.size.return_value = 1024
        self.snaps('snap')
        self.image.is_protected_snap.return_value = True

        # Upstream's driver, as nova-compute builds it.
        self.driver = rbd_utils.RBDDriver()
        self.cache = {}

    def why_not(self, location, meta):
        return rbd_multistore.why_not_cloneable(self.driver, location, meta)

    def progress(self, pool, name, **kwargs):
        return rbd_multistore.copy_progress(self.driver, pool, name,
                                            cache=self.cache, **kwargs)

    def snaps(self, *names):
        self.image.list_snaps.return_value = [
            {'id': i, 'name': n, 'size': 1024} for i, n in enumerate(names)]

    def assert_disconnected(self, connections):
        self.assertEqual(connections, self.mock_rados.Rados.call_count)
        self.assertEqual(connections, self.client.shutdown.call_count)
        self.assertEqual(connections, self.ioctx.close.call_count)


class ConnectionTestCase(RbdMultistoreTestCase):

    def test_connect_is_bounded_by_rbd_connect_timeout(self):
        # Commit 03's edit of upstream's RBDDriver._connect_to_rados: Ceph
        # 16's Rados.connect() ignores timeout=, client_mount_timeout bounds
        # the monitor connect.
        client, ioctx = self.driver._connect_to_rados('images')
        self.assertIs(self.client, client)
        self.assertIs(self.ioctx, ioctx)
        self.mock_rados.Rados.assert_called_once_with(
            rados_id='nova', conffile='/etc/ceph/site_a.conf',
            conf={'client_mount_timeout': '7'})
        self.client.connect.assert_called_once_with(timeout=7)
        self.client.open_ioctx.assert_called_once_with('images')

    def test_connect_defaults_to_nova_pool(self):
        self.driver._connect_to_rados()
        self.client.open_ioctx.assert_called_once_with('vms')

    def test_failed_connect_shuts_the_client_down(self):
        self.client.connect.side_effect = RadosTimedOut('timed out')
        self.assertRaises(RadosTimedOut, self.driver._connect_to_rados)
        self.client.shutdown.assert_called_once_with()
        self.client.open_ioctx.assert_not_called()

    def test_get_cluster_fsid(self):
        self.client.get_fsid.return_value = FSID.upper().encode()
        self.assertEqual(FSID, rbd_multistore.cluster_fsid(self.driver))
        self.assert_disconnected(1)

    def test_get_cluster_fsid_errors_say_what_to_check(self):
        cases = [
            (RadosTimedOut('x'), ['within 7 s', 'mon_host',
                                  '/etc/ceph/site_a.conf', 'client.nova',
                                  'rbd_connect_timeout']),
            (RadosPermissionDeniedError('x'), ['refused client.nova',
                                               'keyring', 'rbd_user']),
            (RadosObjectNotFound('x'), ['pool vms does not exist']),
            (RadosError('boom'), ['RadosError: boom']),
        ]
        for error, expected in cases:
            self.client.connect.side_effect = error
            e = self.assertRaises(exception.StorageError,
                                  rbd_multistore.cluster_fsid, self.driver)
            for text in expected:
                self.assertIn(text, e.format_message())


class WhyNotCloneableTestCase(RbdMultistoreTestCase):

    def setUp(self):
        super().setUp()
        self.log = self.useFixture(fixtures.FakeLogger(
            name=rbd_multistore.__name__, level='DEBUG'))

    def _reason(self, location=URL, meta=RAW):
        reason = rbd_multistore.why_not_cloneable(self.driver, location, meta)
        self.assertIsNotNone(reason)
        self.assertIn(reason, self.log.output)
        return reason

    def test_cloneable(self):
        self.assertIsNone(self.why_not(URL, RAW))
        self.assertIsNone(
            rbd_multistore.why_not_cloneable(self.driver, {'url': URL}, RAW))
        self.mock_rbd.Image.assert_called_with(
            self.ioctx, 'img-1', snapshot=None, read_only=True)
        self.assertEqual(mock.call('images'),
                         self.client.open_ioctx.call_args)
        self.image.is_protected_snap.assert_called_with('snap')
        self.image.close.assert_called_with()
        # One connection for the fsid, one for the image, both closed.
        self.assert_disconnected(4)

    def test_accepts_a_parsed_location_and_image_meta(self):
        meta = objects.ImageMeta.from_dict({'disk_format': 'raw'})
        loc = rbd_multistore.parse_location(URL)
        self.assertIsNone(self.why_not(loc, meta))

    def test_iso_is_cloneable_as_upstream_accepts_it(self):
        # Upstream's Rbd.clone accepts raw and iso images.
        self.assertIsNone(rbd_multistore.why_not_cloneable(
            self.driver, URL, {'disk_format': 'iso'}))

    def test_reads_use_the_drivers_settings_with_bounded_operations(self):
        rbd_multistore.why_not_cloneable(self.driver, URL, RAW)
        # Ceph waits forever for a monitor or OSD op by default.
        self.mock_rados.Rados.assert_called_with(
            rados_id='nova', conffile='/etc/ceph/site_a.conf',
            conf={'client_mount_timeout': '7',
                  'rados_mon_op_timeout': '30',
                  'rados_osd_op_timeout': '30'})
        self.client.connect.assert_called_with(timeout=7)

    def test_every_read_has_bounded_operations(self):
        rbd_multistore.cluster_fsid(self.driver)
        rbd_multistore.copy_progress(self.driver, 'images', 'img')
        for call in self.mock_rados.Rados.call_args_list:
            self.assertEqual('30', call.kwargs['conf']['rados_osd_op_timeout'])
        self.assertEqual(2, self.mock_rados.Rados.call_count)
        self.assert_disconnected(2)

    def test_failed_read_connect_shuts_the_client_down(self):
        self.client.open_ioctx.side_effect = RadosObjectNotFound('x')
        self.assertRaises(exception.StorageError,
                          rbd_multistore.cluster_fsid, self.driver)
        self.client.shutdown.assert_called_once_with()

    def test_not_raw_needs_no_ceph(self):
        self.assertIn('disk_format is qcow2',
                      self._reason(meta={'disk_format': 'qcow2'}))
        self.assertIn('disk_format is unknown', self._reason(meta={}))
        reason = self._reason(meta=objects.ImageMeta.from_dict({}))
        self.assertIn('disk_format is unknown', reason)
        self.assertIn('upload the image as raw', reason)
        self.mock_rados.Rados.assert_not_called()

    def test_not_an_rbd_location(self):
        reason = self._reason({'url': 'file:///var/lib/glance/images/x'})
        self.assertIn('does not start with rbd://', reason)
        self.mock_rados.Rados.assert_not_called()

    def test_credentials_in_other_locations_are_not_logged(self):
        url = 'swift+https://t:u:secret@swift.example.com/v1/c/o'
        self._reason({'url': url})
        self.assertNotIn('secret', self.log.output)

    def test_other_cluster(self):
        reason = self._reason(URL.replace(FSID, OTHER_FSID))
        self.assertIn('cluster %s' % OTHER_FSID, reason)
        self.assertIn('cluster %s' % FSID, reason)
        self.assertIn('images_rbd_glance_store_name', reason)
        self.mock_rbd.Image.assert_not_called()

    def test_fsid_case_does_not_matter(self):
        self.client.get_fsid.return_value = FSID.upper().encode()
        self.assertIsNone(self.why_not(URL, RAW))

    def test_image_missing(self):
        self.mock_rbd.Image.side_effect = RbdImageNotFound('x')
        reason = self._reason()
        self.assertIn('image images/img-1 does not exist in cluster %s'
                      % FSID, reason)

    def test_snapshot_missing(self):
        self.snaps('other')
        self.assertIn('has no snapshot snap', self._reason())
        self.image.close.assert_called_with()

    def test_snapshot_not_protected(self):
        self.image.is_protected_snap.return_value = False
        reason = self._reason()
        self.assertIn('images/img-1@snap is not protected', reason)
        self.assertIn('rbd snap protect', reason)
        self.assertIn('rbd_default_clone_format', reason)
        self.client.conf_get.assert_called_with('rbd_default_clone_format')

    def test_unprotected_snapshot_with_clone_v2(self):
        self.image.is_protected_snap.return_value = False
        self.client.conf_get.return_value = '2'
        self.assertIsNone(self.why_not(URL, RAW))

    def test_pool_not_readable(self):
        self.mock_rbd.Image.side_effect = RbdPermissionError('eperm')
        reason = self._reason()
        self.assertIn('client.nova may not read pool images', reason)
        self.assertIn('profile rbd-read-only pool=images', reason)

    def test_pool_missing(self):
        self.client.open_ioctx.side_effect = [self.ioctx,
                                              RadosObjectNotFound('x')] * 2
        self.assertIn('pool images does not exist', self._reason())

    def test_other_rbd_error_is_a_reason(self):
        self.image.list_snaps.side_effect = RbdIOError('eio')
        self.assertIn('RbdIOError: eio', self._reason())

    def test_unreachable_cluster_is_not_a_reason(self):
        self.client.connect.side_effect = RadosTimedOut('x')
        e = self.assertRaises(exception.StorageError,
                              self.why_not, URL, RAW)
        self.assertIn('within 7 s', e.format_message())

    def test_cluster_lost_after_the_fsid_is_not_a_reason(self):
        self.client.connect.side_effect = [None, RadosTimedOut('x')]
        self.assertRaises(exception.StorageError,
                          self.why_not, URL, RAW)


class CopyProgressTestCase(RbdMultistoreTestCase):

    def setUp(self):
        super().setUp()
        self.now = 100.0
        self.useFixture(fixtures.MockPatchObject(
            rbd_multistore.time, 'monotonic', side_effect=lambda: self.now))
        self.written = 512

        def diff_iterate(offset, length, from_snapshot, cb,
                         include_parent, whole_object):
            cb(0, self.written, True)
            cb(self.written, length - self.written, False)
        self.image.diff_iterate.side_effect = diff_iterate
        self.snaps()

    def test_not_created_yet(self):
        self.mock_rbd.Image.side_effect = RbdImageNotFound('x')
        self.assertEqual(rbd_multistore.CopyProgress(exists=False),
                         self.progress('images', 'img'))
        self.assert_disconnected(1)

    def test_writing(self):
        progress = self.progress('images', 'img')
        self.assertEqual(
            rbd_multistore.CopyProgress(exists=True, written_bytes=512,
                                        snapshot_protected=False, size=1024),
            progress)
        self.client.open_ioctx.assert_called_once_with('images')
        self.mock_rbd.Image.assert_called_once_with(
            self.ioctx, 'img', snapshot=None, read_only=True)
        self.image.diff_iterate.assert_called_once_with(
            0, 1024, None, mock.ANY, include_parent=False, whole_object=True)
        self.image.is_protected_snap.assert_not_called()
        self.image.close.assert_called_once_with()
        self.assert_disconnected(1)

    def test_written_bytes_are_recounted_at_most_every_refresh(self):
        self.progress('images', 'img')
        self.written = 768
        self.now += rbd_multistore.WRITTEN_REFRESH_SECONDS / 2
        self.assertEqual(
            512, self.progress('images', 'img').written_bytes)
        self.now += rbd_multistore.WRITTEN_REFRESH_SECONDS
        self.assertEqual(
            768, self.progress('images', 'img').written_bytes)
        self.assertEqual(2, self.image.diff_iterate.call_count)

    def test_without_a_cache_every_call_counts(self):
        rbd_multistore.copy_progress(self.driver, 'images', 'img')
        self.written = 768
        self.assertEqual(768, rbd_multistore.copy_progress(
            self.driver, 'images', 'img').written_bytes)

    def test_images_are_counted_apart(self):
        self.progress('images', 'a')
        self.written = 768
        self.assertEqual(
            768, self.progress('images', 'b').written_bytes)

    def test_protected_snapshot_recounts_at_once(self):
        self.progress('images', 'img')
        self.written = 1024
        self.snaps('snap')
        self.assertEqual(
            rbd_multistore.CopyProgress(True, 1024, True, 1024),
            self.progress('images', 'img'))
        self.image.is_protected_snap.assert_called_once_with('snap')

    def test_snapshot_not_yet_protected(self):
        self.snaps('snap')
        self.image.is_protected_snap.return_value = False
        self.assertFalse(
            self.progress('images', 'img').snapshot_protected)

    def test_other_snapshot_name(self):
        self.snaps('snap')
        self.assertFalse(self.progress(
            'images', 'img', snapshot='other').snapshot_protected)

    def test_removed_while_reading(self):
        self.image.size.side_effect = RbdImageNotFound('gone')
        self.assertFalse(self.progress('images', 'img').exists)
        self.image.close.assert_called_once_with()
        self.assert_disconnected(1)

    def test_removed_and_created_again_is_counted_anew(self):
        self.progress('images', 'img')
        self.mock_rbd.Image.side_effect = RbdImageNotFound('gone')
        self.progress('images', 'img')
        self.mock_rbd.Image.side_effect = None
        self.written = 256
        self.assertEqual(
            256, self.progress('images', 'img').written_bytes)

    def test_errors_are_storage_errors(self):
        cases = [
            (self.mock_rbd.Image, RbdPermissionError('eperm'),
             'client.nova may not read pool images'),
            (self.client.open_ioctx, RadosObjectNotFound('x'),
             'pool images does not exist'),
            (self.client.connect, RadosTimedOut('x'), 'within 7 s'),
            (self.image.diff_iterate, RbdIOError('eio'), 'RbdIOError: eio'),
        ]
        for target, error, text in cases:
            target.side_effect = error
            e = self.assertRaises(exception.StorageError,
                                  self.progress, 'images', 'img')
            self.assertIn(text, e.format_message())
            target.side_effect = None
