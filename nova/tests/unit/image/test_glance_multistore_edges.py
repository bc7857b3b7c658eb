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
from nova import exception
from nova.image import glance
from nova.image import glance_multistore
from nova import test
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
        base.check_service_user_reads_locations(self)

    def test_without_token_or_service_user_the_record_is_read(self):
        self.client.call.side_effect = base.glance_error(
            webob.exc.HTTPUnauthorized, 'no token')
        self.show.return_value = {'locations': [self.LOC]}
        self.assertEqual([self.LOC], self.service.get_image_locations(
            self.ctx, uuids.image))
        self.assertEqual([('user', 'get_image_locations')], self.calls())
        self.show.assert_called_once_with(self.ctx, uuids.image,
                                          include_locations=True)


class ImportErrorsNameTheImageTestCase(base._Base):
    """Copy request errors name the image, the store and Glance's words."""

    def import_raises(self, cls, text, nova_exc, service=False):
        if service:
            self.with_service_user()
        self.client.call.side_effect = base.glance_error(cls, text)
        e = self.assertRaises(nova_exc, self.service.image_import, self.ctx,
                              uuids.image, stores=['site_b'])
        message = e.format_message()
        self.assertIn(uuids.image, message)
        return message

    def test_in_progress(self):
        message = self.import_raises(
            webob.exc.HTTPConflict, 'Image has active task',
            glance_multistore.ImageImportInProgress)
        self.assertIn('Image has active task', message)

    def test_other_conflict(self):
        message = self.import_raises(
            webob.exc.HTTPConflict, 'Image status transition refused',
            exception.ImageImportImpossible)
        self.assertIn('Image status transition refused', message)

    def test_already_present(self):
        message = self.import_raises(
            webob.exc.HTTPBadRequest, 'Image is already present at store',
            glance_multistore.ImageAlreadyInStore)
        self.assertIn('site_b', message)

    def test_other_bad_request(self):
        message = self.import_raises(
            webob.exc.HTTPBadRequest, 'Stores must be a list',
            exception.ImageBadRequest)
        self.assertIn('Stores must be a list', message)

    def test_forbidden_names_store_and_who(self):
        message = self.import_raises(
            webob.exc.HTTPForbidden, 'Not allowed',
            glance_multistore.ImageCopyNotAuthorized)
        self.assertIn('site_b', message)
        self.assertIn('user user-id', message)
        self.assertIn('HTTP 403: Not allowed', message)

    def test_hidden_from_the_service_user(self):
        # copy_credentials = service: no retry with the user's token.
        self.flags(copy_credentials='service', group='glance')
        show = self.useFixture(fixtures.MockPatchObject(
            glance.GlanceImageServiceV2, 'show', autospec=True)).mock
        message = self.import_raises(
            webob.exc.HTTPNotFound, 'No image found',
            glance_multistore.ImageCopyNotAuthorized, service=True)
        self.assertIn('site_b', message)
        # Whether the user can read it is asked as the user.
        show.assert_called_once_with(self.ctx, uuids.image)

    def test_not_found_for_the_user_is_not_found(self):
        self.import_raises(webob.exc.HTTPNotFound, 'No image found',
                           exception.ImageNotFound)

    def test_store_not_found(self):
        self.client.call.side_effect = base.glance_error(
            webob.exc.HTTPConflict, 'Store for identifier site_x not found')
        e = self.assertRaises(glance_multistore.GlanceStoreNotFound,
                              self.service.image_import, self.ctx,
                              uuids.image, stores=['site_x'])
        self.assertIn('site_x', e.format_message())


class GlanceMessageEdgesTestCase(test.NoDBTestCase):

    def test_a_message_of_exactly_the_limit_is_kept(self):
        text = 'x' * glance_multistore._MAX_MESSAGE
        self.assertEqual(text, glance_multistore.glance_message(
            Exception(text)))
        longer = glance_multistore.glance_message(Exception(text + 'y'))
        self.assertEqual(glance_multistore._MAX_MESSAGE, len(longer))
        self.assertTrue(longer.endswith('...'))

    def test_details_win_over_the_text(self):
        exc = Exception('text')
        exc.details = 'details'
        self.assertEqual('details', glance_multistore.glance_message(exc))

    def test_empty_message_names_the_class(self):
        class Oops(Exception):
            pass
        self.assertEqual('Oops', glance_multistore.glance_message(Oops('')))

    def test_unknown_code_keeps_the_text(self):
        exc = Exception('599 Odd: x')
        exc.code = 599
        self.assertEqual('599 Odd: x', glance_multistore.glance_message(exc))
