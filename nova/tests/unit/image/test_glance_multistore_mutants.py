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

"""Glance error mapping and location reads that mutation testing found
unchecked (tools/mutation.sh): a 400 to a read, errors other than 4xx for
Nova's service user, the bounded read of the image record when Glance
refuses every reader, hostile answers naming the image.
"""

from unittest import mock

import fixtures
import glanceclient.exc
from oslo_utils.fixture import uuidsentinel as uuids
import webob

from nova import exception
from nova.image import glance
from nova.image import glance_multistore
from nova.tests.unit.image import test_glance_multistore as base


class ReadErrorsTestCase(base._Base):
    """An error other than a refusal, in answer to a read, is Nova's."""

    def test_bad_request_names_the_image_and_glance_s_words(self):
        for read in ('get_image_locations', 'get_image_tasks'):
            self.client.call.side_effect = base.glance_error(
                webob.exc.HTTPBadRequest, 'Invalid marker here')
            e = self.assertRaises(exception.ImageBadRequest,
                                  getattr(self.service, read), self.ctx,
                                  uuids.image)
            message = e.format_message()
            self.assertIn(uuids.image, message)
            self.assertIn('Invalid marker here', message)
            self.assertNotIn('400 Bad Request', message)

    def test_bad_request_to_the_service_user_is_not_retried(self):
        self.with_service_user()
        self.client.call.side_effect = base.glance_error(
            webob.exc.HTTPBadRequest, 'nope')
        self.assertRaises(exception.ImageBadRequest,
                          self.service.get_image_locations, self.ctx,
                          uuids.image)
        self.assertEqual([('service', 'get_image_locations')], self.calls())


class ImportErrorsForTheServiceUserTestCase(base._Base):
    """Only a 404 makes the service user's request an authorization
    question; other errors keep Glance's meaning.
    """

    def setUp(self):
        super().setUp()
        # copy_credentials = auto asks again as the user after a 404; the
        # service user alone decides here.
        self.flags(copy_credentials='service', group='glance')
        self.with_service_user()
        self.show = self.useFixture(fixtures.MockPatchObject(
            glance.GlanceImageServiceV2, 'show', autospec=True)).mock

    def test_over_limit(self):
        self.client.call.side_effect = glanceclient.exc.HTTPOverLimit('quota')
        self.assertRaises(exception.ImageQuotaExceeded,
                          self.service.image_import, self.ctx, uuids.image,
                          stores=['site_b'])
        self.show.assert_not_called()

    def test_server_error(self):
        self.client.call.side_effect = base.glance_error(
            webob.exc.HTTPInternalServerError, 'boom')
        # Glance's own error, as for any other caller: not a refusal.
        self.assertRaises(glanceclient.exc.HTTPInternalServerError,
                          self.service.image_import, self.ctx, uuids.image,
                          stores=['site_b'])
        self.show.assert_not_called()

    def test_hidden_image_names_the_service_user(self):
        self.client.call.side_effect = base.glance_error(
            webob.exc.HTTPNotFound, 'No image found')
        self.show.return_value = {'id': uuids.image}
        e = self.assertRaises(glance_multistore.ImageCopyNotAuthorized,
                              self.service.image_import, self.ctx,
                              uuids.image, stores=['site_b'])
        message = e.format_message()
        self.assertIn("Nova's service user", message)
        self.assertIn('site_b', message)
        self.assertIn(uuids.image, message)
        self.show.assert_called_once_with(self.ctx, uuids.image)


class BoundedRecordReadTestCase(base._Base):
    """Glance refuses every reader: the record is read, bounded too."""

    LOC = base.GetImageLocationsTestCase.LOC

    def setUp(self):
        super().setUp()
        self.bounded = mock.Mock(name='bounded-client')
        self.wrapper = self.useFixture(fixtures.MockPatchObject(
            glance_multistore, '_bounded_client_wrapper', autospec=True,
            return_value=self.bounded)).mock
        self.reads = []
        self.record = None

        def show(service, context, image_id, include_locations=False):
            self.reads.append((service, context, image_id,
                               include_locations))
            return self.record

        self.useFixture(fixtures.MonkeyPatch(
            'nova.image.glance.GlanceImageServiceV2.show', show))
        # Every reader (the bounded client of each) is refused.
        self.bounded.call.side_effect = base.glance_error(
            webob.exc.HTTPForbidden, 'denied')

    def test_record_read_through_a_bounded_client(self):
        self.record = {'id': uuids.image, 'locations': [self.LOC]}
        self.assertEqual([self.LOC], self.service.get_image_locations(
            self.ctx, uuids.image, timeout=7.5))
        self.assertEqual(1, len(self.reads))
        reader, ctx, image_id, include_locations = self.reads[0]
        self.assertIs(self.ctx, ctx)
        self.assertEqual(uuids.image, image_id)
        self.assertIs(True, include_locations)
        self.assertIsInstance(reader, glance.GlanceImageServiceV2)
        self.assertIs(self.bounded, reader._client)
        # The locations call and the record read: both bounded, for the
        # booting user's context.
        for call in self.wrapper.call_args_list:
            self.assertEqual((7.5,), call.args)
            self.assertIs(self.ctx, call.kwargs['context'])
        self.assertEqual(2, self.wrapper.call_count)

    def test_hostile_record_names_the_image(self):
        self.record = {'id': uuids.image, 'locations': 'garbage'}
        e = self.assertRaises(glance_multistore.GlanceUnexpectedAnswer,
                              self.service.get_image_locations, self.ctx,
                              uuids.image, timeout=3)
        self.assertIn(uuids.image, e.format_message())


class HostileLocationsTestCase(base._Base):

    def test_errors_name_the_image(self):
        for answer in ('<html>maintenance</html>', [1], [{'url': 7}]):
            self.client.call.return_value = answer
            e = self.assertRaises(glance_multistore.GlanceUnexpectedAnswer,
                                  self.service.get_image_locations,
                                  self.ctx, uuids.image)
            self.assertIn(uuids.image, e.format_message())

    def test_record_fallback_errors_name_the_image(self):
        self.client.call.side_effect = base.glance_error(
            webob.exc.HTTPForbidden, 'denied')
        with mock.patch.object(glance.GlanceImageServiceV2, 'show',
                               autospec=True,
                               return_value={'locations': {'a': 1}}):
            e = self.assertRaises(glance_multistore.GlanceUnexpectedAnswer,
                                  self.service.get_image_locations,
                                  self.ctx, uuids.image)
        self.assertIn(uuids.image, e.format_message())


class APIDelegatesTestCase(base._Base):
    """``API`` resolves the reference and passes every argument on."""

    def setUp(self):
        super().setUp()
        self.session = mock.Mock(name='session')
        self.resolve = self.useFixture(fixtures.MockPatchObject(
            glance.API, '_get_session_and_image_id', autospec=True,
            return_value=(self.session, uuids.image))).mock
        self.ref = 'http://glance.example/v2/images/%s' % uuids.image

    def test_get_image_locations(self):
        self.assertIs(self.session.get_image_locations.return_value,
                      glance.API().get_image_locations(self.ctx, self.ref,
                                                       timeout=4.5))
        self.resolve.assert_called_once_with(self.ctx, self.ref)
        self.session.get_image_locations.assert_called_once_with(
            self.ctx, uuids.image, timeout=4.5)
