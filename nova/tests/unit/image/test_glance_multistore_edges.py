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

"""Edges of the Glance calls that mutation testing found unchecked
(tools/mutation.sh): reading locations for a context without a user token
(image precaching, periodic tasks).
"""

import fixtures
from oslo_utils.fixture import uuidsentinel as uuids
import webob

from nova import context
from nova.image import glance
from nova.tests.unit.image import test_glance_multistore as base


class TokenlessLocationsTestCase(base._Base):

    LOC = base.GetImageLocationsTestCase.LOC

    def setUp(self):
        super().setUp()
        self.show = self.useFixture(fixtures.MockPatchObject(
            glance.GlanceImageServiceV2, 'show', autospec=True)).mock
        self.ctx = context.RequestContext('user-id', 'project-id',
                                          auth_token=None)

    def test_service_user_reads_for_a_context_without_token(self):
        self.with_service_user()
        self.client.call.return_value = [self.LOC]
        self.assertEqual([self.LOC], self.service.get_image_locations(
            self.ctx, uuids.image))
        self.assertEqual([('service', 'get_image_locations')], self.calls())
        self.assertEqual((uuids.image,),
                         self.client.call.call_args.kwargs['args'])
        self.show.assert_not_called()

    def test_without_token_or_service_user_the_record_is_read(self):
        self.client.call.side_effect = base.glance_error(
            webob.exc.HTTPUnauthorized, 'no token')
        self.show.return_value = {'locations': [self.LOC]}
        self.assertEqual([self.LOC], self.service.get_image_locations(
            self.ctx, uuids.image))
        self.assertEqual([('user', 'get_image_locations')], self.calls())
        self.show.assert_called_once_with(self.ctx, uuids.image,
                                          include_locations=True)
