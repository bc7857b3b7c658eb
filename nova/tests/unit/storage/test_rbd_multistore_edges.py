# Copyright 2026 The rbd-glance-multistore-copy authors
#
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

"""Edges of location parsing and of a Ceph connection that breaks while an
image is open, found unchecked by mutation testing (tools/mutation.sh).
"""

from nova import exception
from nova.storage import rbd_multistore
from nova.tests.unit.storage import test_rbd_multistore as base

URL = base.URL
RAW = base.RAW


class ShownLocationTestCase(base.RbdMultistoreTestCase):

    def test_a_non_string_is_shown_by_its_type_only(self):
        e = self.assertRaises(rbd_multistore.InvalidRbdLocation,
                              rbd_multistore.parse_location, 42)
        self.assertIn('<int>', e.format_message())

    def test_text_without_a_scheme_is_not_echoed(self):
        e = self.assertRaises(rbd_multistore.InvalidRbdLocation,
                              rbd_multistore.parse_location, 'secret-path')
        self.assertNotIn('secret', e.format_message())
        self.assertIn('location ...:', e.format_message())

    def test_only_the_first_scheme_is_shown(self):
        e = self.assertRaises(rbd_multistore.InvalidRbdLocation,
                              rbd_multistore.parse_location,
                              'http://u:pw@h/x?next=https://y')
        self.assertIn('http://...', e.format_message())
        self.assertNotIn('pw', e.format_message())

    def test_an_rbd_url_is_shown_whole(self):
        url = URL + '/extra'
        e = self.assertRaises(rbd_multistore.InvalidRbdLocation,
                              rbd_multistore.parse_location, url)
        self.assertIn(url, e.format_message())

    def test_upper_case_fsid_is_accepted_lower_cased(self):
        loc = rbd_multistore.parse_location(
            URL.replace(base.FSID, base.FSID.upper()))
        self.assertEqual(base.FSID, loc.fsid)


class ConnectionBreaksWhileOpenTestCase(base.RbdMultistoreTestCase):

    def test_listing_snapshots_loses_the_cluster(self):
        self.image.list_snaps.side_effect = base.RadosTimedOut('lost')
        e = self.assertRaises(exception.StorageError, self.why_not, URL, RAW)
        self.assertIn('within 7 s', e.format_message())

    def test_checking_protection_loses_the_cluster(self):
        self.image.is_protected_snap.side_effect = base.RadosError('lost')
        self.assertRaises(exception.StorageError, self.why_not, URL, RAW)

    def test_a_missing_pool_while_open_is_a_reason(self):
        self.image.list_snaps.side_effect = base.RadosObjectNotFound('pool')
        reason = self.why_not(URL, RAW)
        self.assertIsNotNone(reason)
        self.assertIn('images', reason)
