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

"""The bound of a Ceph read and how an invalid location is shown, which
the mutation run of issue 15 found unchecked (tools/mutation.sh).
"""

from nova.storage import rbd_multistore
from nova import test


class BoundTestCase(test.NoDBTestCase):
    """librados takes whole seconds, at least one; 0 means no bound."""

    def test_without_a_deadline_the_limit(self):
        self.assertEqual(30, rbd_multistore._bounded(30, None))
        self.assertEqual(0, rbd_multistore._bounded(0, None))

    def test_a_limit_of_one_second_stays_one(self):
        self.assertEqual(1, rbd_multistore._bounded(1, 30.0))

    def test_what_is_left_when_shorter(self):
        self.assertEqual(3, rbd_multistore._bounded(30, 2.5))
        self.assertEqual(1, rbd_multistore._bounded(30, 0.2))
        self.assertEqual(1, rbd_multistore._bounded(30, 0.0))
        self.assertEqual(30, rbd_multistore._bounded(30, 100))

    def test_no_limit_takes_what_is_left(self):
        self.assertEqual(3, rbd_multistore._bounded(0, 2.5))
        self.assertEqual(1, rbd_multistore._bounded(0, 0.0))


class ShownTestCase(test.NoDBTestCase):
    """An invalid location is shown without what could be a secret."""

    def message(self, url):
        e = self.assertRaises(rbd_multistore.InvalidRbdLocation,
                              rbd_multistore.parse_location, url)
        return e.format_message()

    def test_not_a_string(self):
        self.assertIn('location <int>: not a string', self.message(42))

    def test_another_scheme(self):
        msg = self.message('swift://user:secret@host/c/o')
        self.assertIn('location swift://...: it does not start', msg)
        self.assertNotIn('secret', msg)
