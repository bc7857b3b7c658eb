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

"""Whose token asks Glance for a copy of an image Nova's user cannot see.

Glance hides other projects' private and shared images from every caller
but admins and the image's projects, whatever its policy says; with
``[glance] copy_credentials = auto``, a copy Glance answers with 404 for
Nova's service user is asked for again with the booting user's token (which
carries Nova's service token when ``send_service_user_token`` is set).
"""

from unittest import mock

from oslo_utils.fixture import uuidsentinel as uuids
import webob.exc

from nova import exception
from nova.image import glance
from nova.image import glance_multistore
from nova.tests.unit.image import test_glance_multistore as base

HIDDEN = (webob.exc.HTTPNotFound, 'No image found')


class HiddenImageCopyTestCase(base._Base):

    def import_(self, **kw):
        return self.service.image_import(self.ctx, uuids.image,
                                         stores=['site_b'], **kw)

    def test_auto_asks_again_as_the_user(self):
        self.with_service_user()
        self.client.call.side_effect = [base.glance_error(*HIDDEN), None]
        self.assertIsNone(self.import_())
        self.assertEqual([('service', 'image_import'),
                          ('user', 'image_import')], self.calls())
        # The same request both times.
        first, second = self.client.call.call_args_list
        self.assertEqual(first.kwargs, second.kwargs)
        self.assertEqual(first.args[1:], second.args[1:])

    def test_the_users_refusal_names_the_user_and_the_policy(self):
        self.with_service_user()
        self.client.call.side_effect = [
            base.glance_error(*HIDDEN),
            base.glance_error(webob.exc.HTTPForbidden, 'not allowed')]
        exc = self.assertRaises(glance_multistore.ImageCopyNotAuthorized,
                                self.import_)
        self.assertIn('user user-id', str(exc))
        self.assertIn('service_roles:service', str(exc))

    def test_missing_for_the_user_too_is_not_found(self):
        self.with_service_user()
        self.client.call.side_effect = [base.glance_error(*HIDDEN),
                                        base.glance_error(*HIDDEN)]
        self.assertRaises(exception.ImageNotFound, self.import_)
        self.assertEqual(2, self.client.call.call_count)

    def test_the_users_conflict_is_still_a_conflict(self):
        self.with_service_user()
        self.client.call.side_effect = [
            base.glance_error(*HIDDEN),
            base.glance_error(webob.exc.HTTPConflict,
                              'Image has active task')]
        self.assertRaises(glance_multistore.ImageImportInProgress,
                          self.import_)

    @mock.patch.object(glance.GlanceImageServiceV2, 'show', autospec=True)
    def test_service_mode_does_not_ask_as_the_user(self, show):
        self.flags(copy_credentials='service', group='glance')
        self.with_service_user()
        self.client.call.side_effect = base.glance_error(*HIDDEN)
        self.assertRaises(glance_multistore.ImageCopyNotAuthorized,
                          self.import_)
        self.assertEqual([('service', 'image_import')], self.calls())

    @mock.patch.object(glance.GlanceImageServiceV2, 'show', autospec=True)
    def test_explicit_service_request_does_not_ask_as_the_user(self, show):
        self.with_service_user()
        self.client.call.side_effect = base.glance_error(*HIDDEN)
        self.assertRaises(glance_multistore.ImageCopyNotAuthorized,
                          self.import_, as_service=True)
        self.assertEqual(1, self.client.call.call_count)

    def test_without_a_service_user_the_users_404_is_final(self):
        self.client.call.side_effect = base.glance_error(*HIDDEN)
        self.assertRaises(exception.ImageNotFound, self.import_)
        self.assertEqual([('user', 'image_import')], self.calls())

    @mock.patch.object(glance_multistore, '_bounded_client_wrapper',
                       autospec=True)
    @mock.patch.object(glance_multistore, '_monotonic', autospec=True)
    def test_the_retry_gets_what_is_left_of_the_timeout(self, clock,
                                                        bounded):
        self.with_service_user()
        clock.side_effect = [100.0, 103.5]
        bounded.return_value.call.side_effect = [
            base.glance_error(*HIDDEN), None]
        self.import_(timeout=10)
        self.assertEqual([10, 6.5],
                         [c.args[0] for c in bounded.call_args_list])
