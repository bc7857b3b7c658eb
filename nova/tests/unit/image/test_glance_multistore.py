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

import copy
import itertools
from unittest import mock

import fixtures
import glanceclient.exc
from glanceclient.v2 import image_schema
from glanceclient.v2 import images as glance_images
from glanceclient.v2 import schemas
from keystoneauth1 import exceptions as ks_exc
from oslo_utils.fixture import uuidsentinel as uuids
import requests
import webob.exc

from nova import context
from nova import exception
from nova.image import glance
from nova.image import glance_multistore
from nova import service_auth
from nova import test


def glance_error(cls, message):
    """The glanceclient exception for Glance raising ``cls(message)``.

    Glance raises webob errors; glanceclient (which sends no JSON Accept
    header) gets webob's HTML page and parses it with ``from_response``.
    Both steps run here for real.
    """
    page = webob.Request.blank('/v2/images/x').get_response(
        cls(explanation=message))
    resp = requests.Response()
    resp.status_code = page.status_code
    resp._content = page.body
    resp.headers['content-type'] = page.headers['content-type']
    return glanceclient.exc.from_response(resp, resp.content)


class _Base(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.ctx = context.RequestContext(
            'user-id', 'project-id', auth_token='user-token',
            global_request_id='req-' + uuids.request)
        self.client = mock.create_autospec(glance.GlanceClientWrapper,
                                           instance=True)
        self.client.client = None
        self.service = glance.GlanceImageServiceV2(client=self.client)
        self.service_plugin = mock.Mock(name='service-auth-plugin')
        self.get_plugin = self.useFixture(fixtures.MockPatchObject(
            service_auth, 'get_service_auth_plugin', autospec=True,
            return_value=None)).mock

    def with_service_user(self):
        self.get_plugin.return_value = self.service_plugin

    def called_as(self, index=0):
        """Whose auth the n-th client call used: 'service' or 'user'."""
        ctx = self.client.call.call_args_list[index].args[0]
        if ctx.get_auth_plugin() is self.service_plugin:
            return 'service'
        self.assertIs(self.ctx, ctx)
        return 'user'

    def calls(self):
        return [(self.called_as(i), c.args[2])
                for i, c in enumerate(self.client.call.call_args_list)]


class GlanceMessageTestCase(test.NoDBTestCase):

    def test_html_page_through_glanceclient(self):
        exc = glance_error(webob.exc.HTTPConflict, 'Image has active task')
        self.assertEqual('Image has active task',
                         glance_multistore.glance_message(exc))

    def test_br_noise_and_entities(self):
        exc = glanceclient.exc.HTTPBadRequest(
            details='Image is already present at store &#x27;b&#x27;'
                    '<br /><br />\n\n\n')
        self.assertEqual("Image is already present at store 'b'",
                         glance_multistore.glance_message(exc))

    def test_long_text_is_cut(self):
        exc = glanceclient.exc.HTTPBadRequest(details='x' * 1000)
        text = glance_multistore.glance_message(exc)
        self.assertEqual(400, len(text))
        self.assertTrue(text.endswith('...'))

    def test_no_details(self):
        self.assertEqual(
            'HTTPForbidden',
            glance_multistore.glance_message(glanceclient.exc.HTTPForbidden()))


class CredentialsTestCase(_Base):

    def test_auto_with_service_user(self):
        self.with_service_user()
        self.service.image_import(self.ctx, uuids.image, stores=['b'])
        self.assertEqual('service', self.called_as())
        ctx = self.client.call.call_args.args[0]
        self.assertEqual('user-id', ctx.user_id)
        self.assertEqual(self.ctx.global_id, ctx.global_id)
        # The caller's context is left alone.
        self.assertIsNot(self.service_plugin, self.ctx.get_auth_plugin())
        self.get_plugin.assert_called_once_with('service_user')

    def test_auto_without_service_user(self):
        self.service.image_import(self.ctx, uuids.image, stores=['b'])
        self.assertEqual('user', self.called_as())

    def test_service_mode_with_service_user(self):
        self.flags(copy_credentials='service', group='glance')
        self.with_service_user()
        self.service.image_import(self.ctx, uuids.image, stores=['b'])
        self.assertEqual('service', self.called_as())

    def test_service_mode_without_service_user(self):
        self.flags(copy_credentials='service', group='glance')
        exc = self.assertRaises(exception.InvalidConfiguration,
                                self.service.image_import, self.ctx,
                                uuids.image, stores=['b'])
        self.assertIn('[service_user]', str(exc))
        self.assertIn('copy_credentials', str(exc))
        self.client.call.assert_not_called()

    def test_user_mode_ignores_service_user(self):
        self.flags(copy_credentials='user', group='glance')
        self.with_service_user()
        self.service.image_import(self.ctx, uuids.image, stores=['b'])
        self.assertEqual('user', self.called_as())
        self.get_plugin.assert_not_called()

    def test_as_service_argument_overrides_the_option(self):
        self.with_service_user()
        self.service.image_import(self.ctx, uuids.image, stores=['b'],
                                  as_service=False)
        self.flags(copy_credentials='user', group='glance')
        self.service.image_import(self.ctx, uuids.image, stores=['b'],
                                  as_service=True)
        self.assertEqual(['user', 'service'],
                         [self.called_as(0), self.called_as(1)])

    def test_incomplete_service_user_options(self):
        self.get_plugin.side_effect = ks_exc.MissingRequiredOptions([])
        exc = self.assertRaises(exception.InvalidConfiguration,
                                self.service.image_import, self.ctx,
                                uuids.image, stores=['b'])
        self.assertIn('[service_user]', str(exc))

    def test_keystone_rejects_the_service_user(self):
        self.with_service_user()
        self.client.call.side_effect = ks_exc.Unauthorized('bad password')
        exc = self.assertRaises(exception.InvalidConfiguration,
                                self.service.image_import, self.ctx,
                                uuids.image, stores=['b'])
        self.assertIn('[service_user]', str(exc))

    def test_keystone_error_for_the_user_is_not_a_config_error(self):
        self.client.call.side_effect = ks_exc.Unauthorized('expired')
        self.assertRaises(ks_exc.Unauthorized, self.service.image_import,
                          self.ctx, uuids.image, stores=['b'])

    @mock.patch.object(glance, 'GlanceClientWrapper', autospec=True)
    def test_service_user_on_a_client_made_for_an_image_url(self, wrapper):
        # The static client of an image URL carries the user's auth.
        self.client.client = mock.sentinel.static_client
        self.client.api_server = 'http://127.0.0.1:9292'
        self.with_service_user()
        self.service.image_import(self.ctx, uuids.image, stores=['b'])
        ctx = wrapper.call_args.kwargs['context']
        self.assertIs(self.service_plugin, ctx.get_auth_plugin())
        wrapper.assert_called_once_with(context=ctx,
                                        endpoint='http://127.0.0.1:9292')
        wrapper.return_value.call.assert_called_once_with(
            ctx, 2, 'image_import', args=(uuids.image,),
            kwargs={'method': 'copy-image', 'allow_failure': True,
                    'stores': ['b']})
        self.client.call.assert_not_called()


class ImageImportTestCase(_Base):

    def assert_import_raises(self, glance_exc, nova_exc, stores=('site_b',)):
        self.client.call.side_effect = glance_exc
        return self.assertRaises(nova_exc, self.service.image_import,
                                 self.ctx, uuids.image, stores=list(stores))

    def test_accepted(self):
        self.assertIsNone(self.service.image_import(
            self.ctx, uuids.image, stores=['site_b']))
        self.client.call.assert_called_once_with(
            self.ctx, 2, 'image_import', args=(uuids.image,),
            kwargs={'method': 'copy-image', 'allow_failure': True,
                    'stores': ['site_b']})

    def test_all_stores_must_succeed(self):
        self.service.image_import(self.ctx, uuids.image, stores=['a', 'b'],
                                  all_stores_must_succeed=True)
        self.service.image_import(self.ctx, uuids.image, stores=['a', 'b'],
                                  allow_failure=False)
        for call in self.client.call.call_args_list:
            self.assertFalse(call.kwargs['kwargs']['allow_failure'])

    def test_other_method_without_stores(self):
        self.service.image_import(self.ctx, uuids.image,
                                  method='glance-direct')
        self.assertEqual({'method': 'glance-direct', 'allow_failure': True},
                         self.client.call.call_args.kwargs['kwargs'])

    def test_not_found(self):
        self.assert_import_raises(
            glance_error(webob.exc.HTTPNotFound, 'No image found'),
            exception.ImageNotFound)

    def test_active_task_is_in_progress(self):
        exc = self.assert_import_raises(
            glance_error(webob.exc.HTTPConflict, 'Image has active task'),
            glance_multistore.ImageImportInProgress)
        self.assertIsInstance(exc, exception.ImageImportImpossible)
        self.assertIn('Image has active task', str(exc))
        self.assertNotIn('<', str(exc))

    def test_lock_race_is_in_progress(self):
        self.assert_import_raises(
            glance_error(webob.exc.HTTPConflict,
                         'Image import could not be completed because a '
                         'prior operation is still in progress.'),
            glance_multistore.ImageImportInProgress)

    def test_unknown_store_conflict(self):
        exc = self.assert_import_raises(
            glance_error(webob.exc.HTTPConflict,
                         'Store for identifier site_x not found'),
            glance_multistore.GlanceStoreNotFound, stores=['site_x'])
        self.assertIsInstance(exc, exception.ImageUnacceptable)
        self.assertIn('site_x', str(exc))
        self.assertIn('images_rbd_glance_store_name', str(exc))

    def test_unknown_store_not_found(self):
        self.assert_import_raises(
            glance_error(webob.exc.HTTPNotFound,
                         'Store for identifier site_x not found'),
            glance_multistore.GlanceStoreNotFound, stores=['site_x'])

    def test_other_conflict(self):
        exc = self.assert_import_raises(
            glance_error(webob.exc.HTTPConflict, 'Image status is queued'),
            exception.ImageImportImpossible)
        self.assertNotIsInstance(exc, glance_multistore.ImageImportInProgress)
        self.assertIn('Image status is queued', str(exc))

    def test_already_present(self):
        exc = self.assert_import_raises(
            glance_error(webob.exc.HTTPBadRequest,
                         "Image is already present at store 'site_b'"),
            glance_multistore.ImageAlreadyInStore)
        self.assertIsInstance(exc, exception.ImageBadRequest)
        self.assertIn('site_b', str(exc))

    def test_other_bad_request(self):
        exc = self.assert_import_raises(
            glance_error(webob.exc.HTTPBadRequest,
                         'Import method copy-image is not enabled'),
            exception.ImageBadRequest)
        self.assertNotIsInstance(exc, glance_multistore.ImageAlreadyInStore)
        self.assertIn('copy-image is not enabled', str(exc))

    def test_forbidden_names_the_policy_and_the_option(self):
        exc = self.assert_import_raises(
            glance_error(webob.exc.HTTPForbidden,
                         'You are not authorized to complete copy_image '
                         'action.'),
            glance_multistore.ImageCopyNotAuthorized)
        self.assertIsInstance(exc, exception.ImageUnacceptable)
        message = str(exc)
        self.assertIn('copy_image policy', message)
        self.assertIn('[glance] copy_credentials', message)
        self.assertIn('user user-id', message)
        self.assertIn('HTTP 403', message)
        self.assertNotIn('user-token', message)

    def test_forbidden_for_the_service_user(self):
        self.with_service_user()
        exc = self.assert_import_raises(
            glance_error(webob.exc.HTTPForbidden, 'not authorized'),
            glance_multistore.ImageCopyNotAuthorized)
        self.assertIn("Nova's service user", str(exc))

    def test_unauthorized(self):
        self.assert_import_raises(
            glance_error(webob.exc.HTTPUnauthorized, 'token expired'),
            glance_multistore.ImageCopyNotAuthorized)

    @mock.patch.object(glance.GlanceImageServiceV2, 'show', autospec=True)
    def test_image_hidden_from_the_service_user(self, show):
        # copy_credentials = service: no retry with the user's token.
        self.flags(copy_credentials='service', group='glance')
        self.with_service_user()
        exc = self.assert_import_raises(
            glance_error(webob.exc.HTTPNotFound, 'No image found'),
            glance_multistore.ImageCopyNotAuthorized)
        show.assert_called_once_with(self.ctx, uuids.image)
        self.assertIn('admin role', str(exc))

    @mock.patch.object(glance.GlanceImageServiceV2, 'show', autospec=True)
    def test_image_gone_for_the_service_user_and_the_user(self, show):
        self.with_service_user()
        show.side_effect = exception.ImageNotFound(image_id=uuids.image)
        self.assert_import_raises(
            glance_error(webob.exc.HTTPNotFound, 'No image found'),
            exception.ImageNotFound)

    def test_over_limit(self):
        self.assert_import_raises(
            glanceclient.exc.HTTPOverLimit('quota'),
            exception.ImageQuotaExceeded)

    def test_connection_failure_is_nova_s(self):
        self.assert_import_raises(
            exception.GlanceConnectionFailed(server='127.0.0.1:9292',
                                             reason='refused'),
            exception.GlanceConnectionFailed)

    @mock.patch.object(glance, 'get_default_image_service', autospec=True)
    def test_api_delegates(self, get_service):
        get_service.return_value = self.service
        self.assertIsNone(glance.API().image_import(
            self.ctx, uuids.image, stores=['site_b'],
            all_stores_must_succeed=True))
        self.client.call.assert_called_once_with(
            self.ctx, 2, 'image_import', args=(uuids.image,),
            kwargs={'method': 'copy-image', 'allow_failure': False,
                    'stores': ['site_b']})


def check_service_user_reads_locations(test):
    """With a service user, ``test.ctx``'s locations come from Glance's
    locations API as that user, and the image record is not read.
    """
    test.with_service_user()
    test.client.call.return_value = [test.LOC]
    test.assertEqual([test.LOC], test.service.get_image_locations(
        test.ctx, uuids.image))
    test.assertEqual([('service', 'get_image_locations')], test.calls())
    test.assertEqual((uuids.image,),
                     test.client.call.call_args.kwargs['args'])
    test.show.assert_not_called()


class GetImageLocationsTestCase(_Base):

    LOC = {'url': 'rbd://fsid/images/%s/snap' % uuids.image,
           'metadata': {'store': 'site_b'}}

    def setUp(self):
        super().setUp()
        self.show = self.useFixture(fixtures.MockPatchObject(
            glance.GlanceImageServiceV2, 'show', autospec=True)).mock
        self.show.return_value = {'id': uuids.image, 'locations': []}

    def test_service_user_reads_the_locations_api(self):
        check_service_user_reads_locations(self)

    def test_fallback_order(self):
        # Service user refused, then the user refused, then the record.
        self.with_service_user()
        self.client.call.side_effect = [
            glance_error(webob.exc.HTTPForbidden, 'denied'),
            glance_error(webob.exc.HTTPForbidden, 'denied')]
        self.show.return_value = {'locations': [self.LOC]}
        self.assertEqual([self.LOC], self.service.get_image_locations(
            self.ctx, uuids.image))
        self.assertEqual([('service', 'get_image_locations'),
                          ('user', 'get_image_locations')], self.calls())
        self.show.assert_called_once_with(self.ctx, uuids.image,
                                          include_locations=True)

    def test_user_reads_the_api_when_the_service_user_cannot_see(self):
        self.with_service_user()
        self.client.call.side_effect = [
            glance_error(webob.exc.HTTPNotFound, 'No image found'),
            [self.LOC]]
        self.assertEqual([self.LOC], self.service.get_image_locations(
            self.ctx, uuids.image))
        self.show.assert_not_called()

    def test_without_service_user_only_the_user_asks(self):
        self.client.call.side_effect = glance_error(
            webob.exc.HTTPForbidden, 'denied')
        self.assertEqual([], self.service.get_image_locations(
            self.ctx, uuids.image))
        self.assertEqual([('user', 'get_image_locations')], self.calls())
        self.show.assert_called_once_with(self.ctx, uuids.image,
                                          include_locations=True)

    def test_old_glance_without_the_api(self):
        self.client.call.side_effect = glanceclient.exc.HTTPNotImplemented(
            'This operation is not supported by Glance.')
        # show() appends direct_url to the locations; it is listed once.
        self.show.return_value = {'locations': [
            self.LOC, {'url': self.LOC['url'], 'metadata': {}}]}
        self.assertEqual([self.LOC], self.service.get_image_locations(
            self.ctx, uuids.image))

    def test_record_without_locations(self):
        self.client.call.side_effect = glance_error(
            webob.exc.HTTPForbidden, 'denied')
        self.show.return_value = {'id': uuids.image}
        self.assertEqual([], self.service.get_image_locations(
            self.ctx, uuids.image))

    def test_missing_image(self):
        self.client.call.side_effect = glance_error(
            webob.exc.HTTPNotFound, 'No image found')
        self.show.side_effect = exception.ImageNotFound(image_id=uuids.image)
        self.assertRaises(exception.ImageNotFound,
                          self.service.get_image_locations, self.ctx,
                          uuids.image)

    def test_server_error_is_not_a_refusal(self):
        self.client.call.side_effect = glance_error(
            webob.exc.HTTPInternalServerError, 'boom')
        self.assertRaises(glanceclient.exc.HTTPInternalServerError,
                          self.service.get_image_locations, self.ctx,
                          uuids.image)
        self.show.assert_not_called()

    def test_metadata_normalised(self):
        self.client.call.return_value = [{'url': 'rbd://a/b/c/snap'}]
        self.assertEqual([{'url': 'rbd://a/b/c/snap', 'metadata': {}}],
                         self.service.get_image_locations(self.ctx,
                                                          uuids.image))

    @mock.patch.object(glance, 'get_default_image_service', autospec=True)
    def test_api_delegates(self, get_service):
        get_service.return_value = self.service
        self.client.call.return_value = [self.LOC]
        self.assertEqual([self.LOC], glance.API().get_image_locations(
            self.ctx, uuids.image))


class GetImageTasksTestCase(_Base):

    TASK = {'id': uuids.task, 'type': 'api_image_import',
            'status': 'processing', 'message': '', 'image_id': uuids.image,
            'created_at': '2026-10-01T12:00:00.000000',
            'updated_at': '2026-10-01T12:00:01.000000',
            'input': {'import_req': {'stores': ['site_b']}},
            'request_id': 'req-1', 'user_id': 'u'}

    def test_tasks(self):
        self.with_service_user()
        self.client.call.return_value = {'tasks': [self.TASK]}
        tasks = self.service.get_image_tasks(self.ctx, uuids.image)
        self.assertEqual([{
            'id': uuids.task, 'type': 'api_image_import',
            'status': 'processing', 'message': '',
            'created_at': '2026-10-01T12:00:00.000000',
            'updated_at': '2026-10-01T12:00:01.000000',
            'input': {'import_req': {'stores': ['site_b']}}}], tasks)
        self.assertEqual([('service', 'get_associated_image_tasks')],
                         self.calls())

    def test_service_refused_then_user(self):
        self.with_service_user()
        self.client.call.side_effect = [
            glance_error(webob.exc.HTTPNotFound, 'No image found'),
            {'tasks': []}]
        self.assertEqual([], self.service.get_image_tasks(self.ctx,
                                                          uuids.image))
        self.assertEqual(['service', 'user'],
                         [who for who, _method in self.calls()])

    def test_forbidden_is_empty(self):
        self.client.call.side_effect = glance_error(
            webob.exc.HTTPForbidden, 'denied')
        self.assertEqual([], self.service.get_image_tasks(self.ctx,
                                                          uuids.image))

    def test_not_found_is_empty(self):
        self.with_service_user()
        self.client.call.side_effect = glance_error(
            webob.exc.HTTPNotFound, 'No image found')
        self.assertEqual([], self.service.get_image_tasks(self.ctx,
                                                          uuids.image))
        self.assertEqual(2, self.client.call.call_count)

    @mock.patch.object(glance, 'get_default_image_service', autospec=True)
    def test_api_delegates(self, get_service):
        get_service.return_value = self.service
        self.client.call.return_value = {'tasks': []}
        self.assertEqual([], glance.API().get_image_tasks(self.ctx,
                                                           uuids.image))


class GetStoreDetailTestCase(_Base):

    STORES = {'stores': [
        {'id': 'central', 'type': 'file', 'default': True,
         'properties': {'data_dir': '/var/lib/glance/images/'}},
        {'id': 'site_b', 'type': 'rbd',
         'properties': {'pool': 'images', 'chunk_size': 8,
                        'fsid': uuids.fsid}}]}

    def test_detail(self):
        self.with_service_user()
        self.client.call.return_value = self.STORES
        detail = self.service.get_store_detail(self.ctx, 'site_b')
        self.assertEqual('site_b', detail['id'])
        self.assertEqual('rbd', detail['type'])
        self.assertEqual({'pool': 'images', 'chunk_size': 8,
                          'fsid': uuids.fsid}, detail['properties'])
        self.assertEqual([('service', 'get_stores_info_detail')],
                         self.calls())
        self.assertEqual((), self.client.call.call_args.kwargs['args'])

    def test_forbidden_is_none(self):
        self.with_service_user()
        self.client.call.side_effect = glance_error(
            webob.exc.HTTPForbidden, 'denied')
        self.assertIsNone(self.service.get_store_detail(self.ctx, 'site_b'))
        self.assertEqual(['service', 'user'],
                         [who for who, _method in self.calls()])

    def test_unknown_store(self):
        self.client.call.return_value = self.STORES
        exc = self.assertRaises(glance_multistore.GlanceStoreNotFound,
                                self.service.get_store_detail, self.ctx,
                                'site_x')
        self.assertIn('site_x', str(exc))

    def test_store_without_properties(self):
        self.client.call.return_value = {'stores': [{'id': 'site_b'}]}
        detail = self.service.get_store_detail(self.ctx, 'site_b')
        self.assertEqual({'id': 'site_b', 'type': None, 'properties': {}},
                         detail)

    @mock.patch.object(glance, 'get_default_image_service', autospec=True)
    def test_api_delegates(self, get_service):
        get_service.return_value = self.service
        self.client.call.return_value = self.STORES
        self.assertEqual('file', glance.API().get_store_detail(
            self.ctx, 'central')['type'])


class ImportMarkersTestCase(test.NoDBTestCase):
    """Where Glance's import markers sit in the image ``API.get`` returns.

    Nova keeps at the top level only the keys of Glance's image schema and
    puts every other key under ``properties``. Glance's schema does not list
    ``os_glance_importing_to_stores`` and ``os_glance_failed_import``, so the
    copy wait in the Rbd backend reads them from ``image['properties']``.
    The image goes through glanceclient's own model here, built from
    glanceclient's copy of the image schema plus ``stores`` (which Glance's
    multi-store schema has).
    """

    def test_markers_are_properties(self):
        raw_schema = copy.deepcopy(image_schema._BASE_SCHEMA)
        raw_schema['properties']['stores'] = {'type': 'string',
                                              'readOnly': True}
        body = {'id': uuids.image, 'name': 'cirros', 'status': 'active',
                'disk_format': 'raw', 'container_format': 'bare',
                'visibility': 'public', 'size': 4096,
                'stores': 'central,site_b',
                'os_glance_importing_to_stores': 'site_c',
                'os_glance_failed_import': 'site_d',
                'os_glance_import_task': uuids.task,
                'schema': '/v2/schemas/image',
                'self': '/v2/images/%s' % uuids.image}
        http_client = mock.Mock(spec=['get'])
        http_client.get.return_value = (mock.Mock(headers={}),
                                        copy.deepcopy(body))
        schema_client = mock.Mock(spec=['get'])
        schema_client.get.return_value = schemas.Schema(raw_schema)
        wrapper = glance.GlanceClientWrapper()
        wrapper.client = mock.Mock(spec=['images'])
        wrapper.client.images = glance_images.Controller(http_client,
                                                         schema_client)
        ctx = context.RequestContext('user-id', 'project-id',
                                     auth_token='user-token')

        with mock.patch.object(glance, 'get_default_image_service',
                               autospec=True) as get_service:
            get_service.return_value = glance.GlanceImageServiceV2(
                client=wrapper)
            image = glance.API().get(ctx, uuids.image)

        http_client.get.assert_called_once_with(
            '/v2/images/%s' % uuids.image, headers={})
        self.assertEqual('central,site_b', image['stores'])
        self.assertEqual('site_c',
                         image['properties']['os_glance_importing_to_stores'])
        self.assertEqual('site_d',
                         image['properties']['os_glance_failed_import'])
        self.assertNotIn('os_glance_importing_to_stores', image)
        self.assertNotIn('os_glance_failed_import', image)


class BoundedCallTestCase(test.NoDBTestCase):
    """A call with ``timeout``: every HTTP request bounded by what is left."""

    def setUp(self):
        super().setUp()
        self.ctx = context.RequestContext(
            'user-id', 'project-id', auth_token='user-token')
        self.sess = mock.Mock(timeout=None, name='cached-session')
        self.useFixture(fixtures.MockPatchObject(
            glance, '_session_and_auth', autospec=True,
            return_value=(self.sess, 'auth')))
        self.useFixture(fixtures.MockPatchObject(
            glance, 'get_api_servers', autospec=True,
            return_value=itertools.cycle(['http://glance:9292/'])))
        self.ks_session = self.useFixture(fixtures.MockPatchObject(
            glance_multistore.ks_session, 'Session', autospec=True)).mock
        self.client_cls = self.useFixture(fixtures.MockPatchObject(
            glance_multistore.glanceclient, 'Client', autospec=True)).mock
        self.glanceclient = self.client_cls.return_value
        self.glanceclient.images.get_associated_image_tasks.return_value = {
            'tasks': []}
        self.now = 100.0
        self.useFixture(fixtures.MockPatchObject(
            glance_multistore, '_monotonic', side_effect=lambda: self.now))
        self.service = glance.GlanceImageServiceV2()

    def test_requests_time_out_after_what_is_left(self):
        self.assertEqual([], self.service.get_image_tasks(
            self.ctx, uuids.image, timeout=7.5))
        self.ks_session.assert_called_once_with(
            auth=self.sess.auth, session=self.sess.session,
            verify=self.sess.verify, cert=self.sess.cert, timeout=7.5)
        self.client_cls.assert_called_once_with(
            2, session=self.ks_session.return_value, auth='auth',
            endpoint_override='http://glance:9292/',
            global_request_id=self.ctx.global_id)

    def test_glance_timeout_option_wins_when_shorter(self):
        self.sess.timeout = 3.0
        self.service.get_image_tasks(self.ctx, uuids.image, timeout=7.5)
        self.assertEqual(3.0, self.ks_session.call_args.kwargs['timeout'])

    def test_retries_get_only_what_is_left_and_stop_at_the_deadline(self):
        self.flags(num_retries=3, group='glance')
        calls = self.glanceclient.images.get_associated_image_tasks

        def fail(*args, **kwargs):
            self.now += 3.0
            raise glanceclient.exc.CommunicationError('timed out')

        calls.side_effect = fail
        with mock.patch.object(glance.time, 'sleep'):
            self.assertRaises(glance_multistore.GlanceCallTimeout,
                              self.service.get_image_tasks, self.ctx,
                              uuids.image, timeout=7.5)
        self.assertEqual([7.5, 4.5, 1.5],
                         [c.kwargs['timeout']
                          for c in self.ks_session.call_args_list])

    def test_read_image_is_nova_show_with_a_bound(self):
        image = mock.Mock(id=uuids.image)
        self.glanceclient.images.get.return_value = image
        with mock.patch.object(glance, '_translate_from_glance',
                               autospec=True, return_value={'id': 'x'}), \
                mock.patch.object(glance, '_is_image_available',
                                  autospec=True, return_value=True):
            self.assertEqual({'id': 'x'}, self.service.read_image(
                self.ctx, uuids.image, timeout=5))
        self.glanceclient.images.get.assert_called_once_with(uuids.image)
        self.assertEqual(5, self.ks_session.call_args.kwargs['timeout'])

    def test_without_timeout_nova_client_is_used(self):
        client = mock.create_autospec(glance.GlanceClientWrapper,
                                      instance=True)
        client.client = None
        client.call.return_value = {'tasks': []}
        service = glance.GlanceImageServiceV2(client=client)
        service.get_image_tasks(self.ctx, uuids.image)
        client.call.assert_called_once()
        self.ks_session.assert_not_called()


class TransientTestCase(test.NoDBTestCase):

    def test_transient(self):
        for exc in (exception.GlanceConnectionFailed(server='g', reason='r'),
                    glance_multistore.GlanceCallTimeout(timeout=1),
                    ks_exc.ConnectFailure('refused'),
                    glanceclient.exc.CommunicationError('x'),
                    glanceclient.exc.InvalidEndpoint('x'),
                    glanceclient.exc.HTTPInternalServerError('boom'),
                    glanceclient.exc.HTTPBadGateway('x'),
                    glanceclient.exc.HTTPServiceUnavailable('x')):
            self.assertTrue(glance_multistore.is_transient(exc), exc)

    def test_not_transient(self):
        for exc in (glanceclient.exc.HTTPConflict('x'),
                    glanceclient.exc.HTTPNotFound('x'),
                    exception.ImageNotFound(image_id='x'),
                    ValueError('x'), AttributeError('x')):
            self.assertFalse(glance_multistore.is_transient(exc), exc)

    def test_describe(self):
        self.assertEqual(
            'HTTP 500: boom', glance_multistore.describe_fault(
                glanceclient.exc.HTTPInternalServerError('boom')))
        self.assertIn('Connection refused', glance_multistore.describe_fault(
            exception.GlanceConnectionFailed(server='g',
                                             reason='Connection refused')))


class UnexpectedAnswerTestCase(_Base):
    """Anything but the shape of Glance's API is a clear Nova error."""

    def test_locations(self):
        self.with_service_user()
        for answer in ('<html>maintenance</html>', [1], [{'url': 7}],
                       [{'url': 'rbd://x', 'metadata': 'm'}], {'a': 1}):
            self.client.call.return_value = answer
            e = self.assertRaises(glance_multistore.GlanceUnexpectedAnswer,
                                  self.service.get_image_locations,
                                  self.ctx, uuids.image)
            self.assertIsInstance(e, exception.ImageUnacceptable)
            self.assertIn('get_image_locations', str(e))

    def test_tasks(self):
        for answer in ('<html>', {'tasks': 'x'}, {'tasks': [[]]},
                       {'tasks': [{'id': 1}]},
                       {'tasks': [{'id': 't', 'updated_at': 5}]}):
            self.client.call.return_value = answer
            self.assertRaises(glance_multistore.GlanceUnexpectedAnswer,
                              self.service.get_image_tasks, self.ctx,
                              uuids.image)
        self.client.call.return_value = {'tasks': [
            {'id': 't', 'status': 'processing', 'message': 12}]}
        self.assertEqual('t', self.service.get_image_tasks(
            self.ctx, uuids.image)[0]['id'])

    def test_stores(self):
        for answer in ('<html>', {'stores': {}}, {'stores': ['x']},
                       {'stores': [{'id': 'b', 'properties': []}]}):
            self.client.call.return_value = answer
            self.assertRaises(glance_multistore.GlanceUnexpectedAnswer,
                              self.service.get_store_detail, self.ctx, 'b')

    def test_read_image(self):
        with mock.patch.object(glance.GlanceImageServiceV2, 'show',
                               autospec=True,
                               side_effect=TypeError('bad model')):
            e = self.assertRaises(glance_multistore.GlanceUnexpectedAnswer,
                                  self.service.read_image, self.ctx,
                                  uuids.image)
        self.assertIn('TypeError: bad model', str(e))
