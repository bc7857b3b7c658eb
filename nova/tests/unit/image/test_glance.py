"""Unit tests for nova.image.glance: answers to exceptions, credentials, retries.

The keystoneauth adapter is replaced by an autospec mock answering real
``requests.Response`` objects shaped like Glance 33's (JSON errors with ``<br />``).
"""

import hashlib
import http.client
import io
import json
import os
from unittest import mock

import fixtures
from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading
from keystoneauth1 import plugin as ks_plugin
from oslo_config import cfg
from oslo_config import fixture as config_fixture
import requests
import testtools

from nova.conf import glance as glance_conf
from nova import context as nova_context
from nova import exception
from nova.image import glance

IMAGE = '0b5a3f4e-1111-2222-3333-444455556666'
TOKEN = 'gAAAA-user-secret-token'
ENDPOINT = 'http://127.0.0.1:9292'


def response(code, body=None, html=None, data=None, headers=None):
    resp = requests.Response()
    resp.status_code = code
    resp.reason = http.client.responses.get(code, '')
    resp.url = ENDPOINT + '/v2/images/' + IMAGE
    resp.encoding = 'utf-8'
    if body is not None:
        resp._content = json.dumps(body).encode()
        resp.headers['Content-Type'] = 'application/json'
    elif html is not None:
        resp._content = html.encode()
        resp.headers['Content-Type'] = 'text/html; charset=UTF-8'
    elif data is not None:
        resp.raw = io.BytesIO(data)
        resp.headers['Content-Type'] = 'application/octet-stream'
    else:
        resp._content = b''
    resp.headers.update(headers or {})
    return resp


def glance_error(code, message):
    """Glance 33's JSON error body, noise included."""
    title = http.client.responses[code]
    return response(code, body={'message': message + '<br /><br />\n\n\n',
                                'code': '%s %s' % (code, title), 'title': title})


class GlanceTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.conf = cfg.ConfigOpts()
        glance_conf.register_opts(self.conf)
        self.conf([], default_config_files=[])
        self.useFixture(config_fixture.Config(self.conf))
        self.service_auth = None
        self.useFixture(fixtures.MockPatchObject(
            ks_loading, 'load_auth_from_conf_options', autospec=True,
            side_effect=lambda conf, group: self.service_auth))
        self.adapter = mock.create_autospec(ks_adapter.Adapter, instance=True)
        self.adapter.endpoint_override = None
        self.adapter.get_endpoint.return_value = ENDPOINT
        self.load_adapter = self.useFixture(fixtures.MockPatchObject(
            ks_loading, 'load_adapter_from_conf_options', autospec=True,
            return_value=self.adapter)).mock
        self.sleep = mock.Mock()
        self.api = glance.API(conf=self.conf, session=mock.sentinel.session,
                              sleep=self.sleep)
        self.ctx = nova_context.RequestContext(
            user_id='u-demo', project_id='p-demo', auth_token=TOKEN,
            roles=['member'], request_id='req-test')

    def answer(self, *responses):
        self.adapter.request.side_effect = list(responses)

    def use_service_credentials(self):
        self.service_auth = mock.create_autospec(ks_plugin.BaseAuthPlugin,
                                                 instance=True)

    def auths_used(self):
        return [c.kwargs['auth'] for c in self.load_adapter.call_args_list]

    def requests_sent(self):
        return [(c.args[1], c.args[0]) for c in self.adapter.request.call_args_list]


class MessageTest(testtools.TestCase):

    def test_json_error_loses_br_noise(self):
        resp = glance_error(409, 'Image has active task')
        self.assertEqual('Image has active task', glance.response_message(resp))

    def test_html_error_keeps_only_the_explanation(self):
        page = ('<html>\n <head>\n  <title>400 Bad Request</title>\n </head>\n <body>\n'
                '  <h1>400 Bad Request</h1>\n  Image is already present at store '
                '&#x27;site_b&#x27;<br /><br />\n\n\n\n </body>\n</html>')
        self.assertEqual("Image is already present at store 'site_b'",
                         glance.response_message(response(400, html=page)))

    def test_nested_json_layout(self):
        resp = response(400, body={'badRequest': {'message': 'bad <b>thing</b>'}})
        self.assertEqual('bad thing', glance.response_message(resp))

    def test_long_text_is_cut(self):
        self.assertLessEqual(len(glance.clean_message('x' * 5000)), 400)


class CredentialsTest(GlanceTestCase):

    def test_show_uses_the_users_token_and_request_id(self):
        self.use_service_credentials()
        self.answer(response(200, body={'id': IMAGE}))

        self.api.show(self.ctx, IMAGE)

        (auth,) = self.auths_used()
        self.assertEqual({'X-Auth-Token': TOKEN}, auth.get_headers(None))
        kwargs = self.load_adapter.call_args.kwargs
        self.assertEqual('req-test', kwargs['global_request_id'])
        self.assertIs(mock.sentinel.session, kwargs['session'])
        # [glance] num_retries is ours; keystoneauth must not retry underneath.
        self.assertEqual(0, kwargs['connect_retries'])
        self.assertEqual(0, kwargs['status_code_retries'])

    def test_copy_auto_prefers_service_credentials(self):
        self.use_service_credentials()
        self.answer(response(202))

        self.api.image_import(self.ctx, IMAGE, stores=['site_a'])

        self.assertEqual([self.service_auth], self.auths_used())

    def test_copy_auto_without_service_credentials_uses_the_user(self):
        self.answer(response(202))

        self.api.image_import(self.ctx, IMAGE, stores=['site_a'])

        (auth,) = self.auths_used()
        self.assertEqual(TOKEN, auth.get_token(None))

    def test_copy_user_mode_ignores_service_credentials(self):
        self.use_service_credentials()
        self.conf.set_override('copy_credentials', 'user', 'glance')
        self.answer(response(202))

        self.api.image_import(self.ctx, IMAGE, stores=['site_a'])

        (auth,) = self.auths_used()
        self.assertEqual(TOKEN, auth.get_token(None))

    def test_copy_service_mode_requires_service_credentials(self):
        self.conf.set_override('copy_credentials', 'service', 'glance')

        exc = self.assertRaises(exception.InvalidConfiguration,
                                self.api.image_import, self.ctx, IMAGE,
                                stores=['site_a'])

        self.assertIn('copy_credentials', str(exc))
        self.adapter.request.assert_not_called()

    def test_context_without_token_is_refused_before_any_request(self):
        ctx = nova_context.RequestContext(user_id='u-demo')

        exc = self.assertRaises(exception.ImageNotAuthorized, self.api.show, ctx, IMAGE)

        self.assertIn('u-demo', str(exc))
        self.adapter.request.assert_not_called()

    def test_service_auth_is_loaded_once(self):
        self.use_service_credentials()
        self.answer(response(202), response(202))

        self.api.image_import(self.ctx, IMAGE, stores=['a'])
        self.api.image_import(self.ctx, IMAGE, stores=['b'])

        self.assertEqual(1, ks_loading.load_auth_from_conf_options.call_count)

    def test_keystone_rejecting_service_credentials(self):
        self.use_service_credentials()
        self.adapter.request.side_effect = ks_exc.Unauthorized('The request you have '
                                                               'made requires auth')

        exc = self.assertRaises(exception.InvalidConfiguration,
                                self.api.image_import, self.ctx, IMAGE,
                                stores=['site_a'])

        self.assertIn("Nova's service user", str(exc))
        self.assertIn('[glance] auth options', str(exc))

    def test_no_image_endpoint_in_catalog(self):
        self.adapter.request.side_effect = ks_exc.EndpointNotFound()

        exc = self.assertRaises(exception.InvalidConfiguration,
                                self.api.show, self.ctx, IMAGE)

        self.assertIn('endpoint_override', str(exc))


class ShowTest(GlanceTestCase):

    def test_returns_every_key_of_the_json(self):
        image = {'id': IMAGE, 'status': 'active', 'stores': 'central',
                 'os_glance_importing_to_stores': 'site_a',
                 'os_glance_failed_import': '', 'os_glance_import_task': 't-1',
                 'custom_property': 'kept'}
        self.answer(response(200, body=image))

        self.assertEqual(image, self.api.show(self.ctx, IMAGE))
        self.assertEqual([('GET', '/v2/images/' + IMAGE)], self.requests_sent())
        headers = self.adapter.request.call_args.kwargs['headers']
        self.assertEqual('application/json', headers['Accept'])
        self.assertFalse(self.adapter.request.call_args.kwargs['raise_exc'])

    def test_404_is_image_not_found(self):
        self.answer(glance_error(404, 'No image found with ID ' + IMAGE))
        exc = self.assertRaises(exception.ImageNotFound, self.api.show, self.ctx, IMAGE)
        self.assertIn(IMAGE, str(exc))

    def test_403_is_not_authorized_and_names_the_user(self):
        self.answer(glance_error(403, 'You are not authorized to complete get_image '
                                      'action.'))
        exc = self.assertRaises(exception.ImageNotAuthorized,
                                self.api.show, self.ctx, IMAGE)
        self.assertIn('user u-demo', str(exc))
        self.assertIn('get_image', str(exc))
        self.assertNotIn('<br', str(exc))

    def test_401_is_not_authorized(self):
        self.answer(glance_error(401, 'The request you have made requires '
                                      'authentication.'))
        self.assertRaises(exception.ImageNotAuthorized, self.api.show, self.ctx, IMAGE)

    def test_other_400_is_bad_request(self):
        self.answer(glance_error(400, 'Invalid image id'))
        exc = self.assertRaises(exception.ImageBadRequest,
                                self.api.show, self.ctx, IMAGE)
        self.assertIn('Invalid image id', str(exc))

    def test_500_is_not_retried_and_names_the_request_id(self):
        self.answer(response(500, body={'message': 'boom'},
                             headers={'x-openstack-request-id': 'req-glance-1'}))
        exc = self.assertRaises(exception.NovaException, self.api.show, self.ctx, IMAGE)
        self.assertIn('req-glance-1', str(exc))
        self.assertEqual(1, self.adapter.request.call_count)


class RetryTest(GlanceTestCase):

    def test_connection_failures_retried_then_glance_connection_failed(self):
        self.conf.set_override('num_retries', 3, 'glance')
        refused = ks_exc.ConnectFailure(
            'Unable to establish connection to %s/v2/images/%s: [Errno 111] '
            'Connection refused' % (ENDPOINT, IMAGE))
        self.adapter.request.side_effect = refused

        exc = self.assertRaises(exception.GlanceConnectionFailed,
                                self.api.show, self.ctx, IMAGE)

        self.assertEqual(4, self.adapter.request.call_count)
        self.assertEqual([mock.call(0.5), mock.call(1.0), mock.call(2.0)],
                         self.sleep.call_args_list)
        self.assertIn(ENDPOINT, str(exc))
        self.assertIn('4 attempt(s)', str(exc))
        self.assertIn('[Errno 111] Connection refused', str(exc))
        self.assertNotIn(TOKEN, str(exc))

    def test_no_retries_configured(self):
        self.conf.set_override('num_retries', 0, 'glance')
        self.adapter.request.side_effect = ks_exc.ConnectTimeout('timed out')

        self.assertRaises(exception.GlanceConnectionFailed,
                          self.api.show, self.ctx, IMAGE)

        self.assertEqual(1, self.adapter.request.call_count)
        self.sleep.assert_not_called()

    def test_gateway_errors_retried_until_success(self):
        self.answer(response(503, html='<h1>Service Unavailable</h1>'),
                    response(502), response(504), response(200, body={'id': IMAGE}))

        self.assertEqual({'id': IMAGE}, self.api.show(self.ctx, IMAGE))
        self.assertEqual(3, self.sleep.call_count)

    def test_gateway_errors_exhaust_retries(self):
        self.conf.set_override('num_retries', 1, 'glance')
        self.answer(response(503), glance_error(503, 'Service Unavailable'))

        exc = self.assertRaises(exception.GlanceConnectionFailed,
                                self.api.show, self.ctx, IMAGE)

        self.assertIn('HTTP 503', str(exc))
        self.assertIn('2 attempt(s)', str(exc))

    def test_endpoint_unknown_still_gives_a_message(self):
        self.conf.set_override('num_retries', 0, 'glance')
        self.adapter.get_endpoint.side_effect = ks_exc.EndpointNotFound()
        self.adapter.request.side_effect = ks_exc.ConnectFailure('[Errno 111] x')

        exc = self.assertRaises(exception.GlanceConnectionFailed,
                                self.api.show, self.ctx, IMAGE)

        self.assertIn('image endpoint', str(exc))


class ImageImportTest(GlanceTestCase):

    def _import(self, **kwargs):
        kwargs.setdefault('stores', ['site_a'])
        return self.api.image_import(self.ctx, IMAGE, **kwargs)

    def test_202_returns_none_and_sends_the_copy_request(self):
        self.answer(response(202))

        self.assertIsNone(self._import())

        self.assertEqual([('POST', '/v2/images/%s/import' % IMAGE)],
                         self.requests_sent())
        self.assertEqual({'method': {'name': 'copy-image'}, 'stores': ['site_a'],
                          'all_stores_must_succeed': True},
                         self.adapter.request.call_args.kwargs['json'])

    def test_optional_body_fields(self):
        self.answer(response(202))

        self._import(stores=['a', 'b'], all_stores_must_succeed=False)

        body = self.adapter.request.call_args.kwargs['json']
        self.assertEqual(['a', 'b'], body['stores'])
        self.assertFalse(body['all_stores_must_succeed'])

    def test_active_task_is_in_progress(self):
        self.answer(glance_error(409, 'Image has active task'))
        exc = self.assertRaises(exception.ImageImportInProgress, self._import)
        self.assertIn('Image has active task', str(exc))
        self.assertNotIn('<br', str(exc))

    def test_lock_race_is_in_progress(self):
        self.answer(glance_error(
            409, "New operation on image '%s' is not permitted as prior operation "
                 "is still in progress" % IMAGE))
        self.assertRaises(exception.ImageImportInProgress, self._import)

    def test_unknown_store(self):
        self.answer(glance_error(409, 'Store for identifier nowhere not found'))
        exc = self.assertRaises(exception.GlanceStoreNotFound, self._import,
                                stores=['nowhere'])
        self.assertEqual('nowhere', exc.kwargs['store'])
        self.assertEqual(IMAGE, exc.kwargs['image_id'])
        self.assertIn('images_rbd_glance_store_name', str(exc))

    def test_other_conflict(self):
        self.answer(glance_error(409, 'Only images with status active can be '
                                      'targeted for copying'))
        exc = self.assertRaises(exception.Conflict, self._import)
        self.assertNotIsInstance(exc, exception.ImageImportInProgress)
        self.assertIn('status active', str(exc))

    def test_already_present(self):
        self.answer(glance_error(400, "Image is already present at store 'site_a'"))
        exc = self.assertRaises(exception.ImageAlreadyInStore, self._import)
        self.assertEqual('site_a', exc.kwargs['store'])

    def test_method_not_enabled(self):
        self.answer(glance_error(400, "Unknown import method name 'copy-image'."))
        exc = self.assertRaises(exception.ImageImportUnavailable, self._import)
        self.assertIn('enabled_import_methods', str(exc))
        self.assertNotIn("'..", str(exc))

    def test_other_bad_request(self):
        self.answer(glance_error(400, "'all_stores_must_succeed' must be boolean"))
        self.assertRaises(exception.ImageBadRequest, self._import)

    def test_403_as_user_names_the_user_and_the_policy(self):
        self.answer(glance_error(403, 'You are not authorized to complete copy_image '
                                      'action.'))
        exc = self.assertRaises(exception.ImageCopyNotAuthorized, self._import)
        self.assertEqual('user u-demo', exc.kwargs['who'])
        self.assertIn('copy_image', str(exc))
        self.assertNotIn(TOKEN, str(exc))

    def test_403_as_service(self):
        self.use_service_credentials()
        self.answer(glance_error(403, 'You are not authorized to complete copy_image '
                                      'action.'))
        exc = self.assertRaises(exception.ImageCopyNotAuthorized, self._import)
        self.assertEqual("Nova's service user", exc.kwargs['who'])

    def test_404_as_service_for_an_image_the_user_sees(self):
        self.use_service_credentials()
        self.answer(glance_error(404, 'No image found with ID ' + IMAGE),
                    response(200, body={'id': IMAGE}))
        exc = self.assertRaises(exception.ImageNotVisibleToService, self._import)
        self.assertIsInstance(exc, exception.ImageCopyNotAuthorized)
        self.assertIn('admin role', str(exc))
        self.assertEqual([self.service_auth], self.auths_used()[:1])
        self.assertEqual(TOKEN, self.auths_used()[1].get_token(None))

    def test_404_as_service_and_as_user_is_not_found(self):
        self.use_service_credentials()
        self.answer(glance_error(404, 'No image found with ID ' + IMAGE),
                    glance_error(404, 'No image found with ID ' + IMAGE))
        self.assertRaises(exception.ImageNotFound, self._import)

    def test_404_as_user_is_not_found(self):
        self.answer(glance_error(404, 'No image found with ID ' + IMAGE))
        self.assertRaises(exception.ImageNotFound, self._import)

    def test_unreachable(self):
        self.conf.set_override('num_retries', 0, 'glance')
        self.adapter.request.side_effect = ks_exc.ConnectFailure('[Errno 111] refused')
        self.assertRaises(exception.GlanceConnectionFailed, self._import)


class TasksTest(GlanceTestCase):

    TASKS = [{'id': 't-1', 'status': 'processing', 'message': 'Copied 0 MiB',
              'created_at': '2026-01-01T00:00:00', 'updated_at': None}]

    def test_returns_the_task_list(self):
        self.answer(response(200, body={'tasks': self.TASKS}))

        self.assertEqual(self.TASKS, self.api.get_image_tasks(self.ctx, IMAGE))
        self.assertEqual([('GET', '/v2/images/%s/tasks' % IMAGE)],
                         self.requests_sent())

    def test_asks_with_the_copy_credentials_first(self):
        # Glance lists only the caller's project's tasks: those Nova started belong
        # to the service project.
        self.use_service_credentials()
        self.answer(response(200, body={'tasks': []}))

        self.api.get_image_tasks(self.ctx, IMAGE)

        self.assertEqual([self.service_auth], self.auths_used())

    def test_service_user_blind_to_private_image_falls_back_to_user(self):
        self.use_service_credentials()
        self.answer(glance_error(404, 'Not Found'),
                    response(200, body={'tasks': self.TASKS}))

        self.assertEqual(self.TASKS, self.api.get_image_tasks(self.ctx, IMAGE))
        self.assertEqual(TOKEN, self.auths_used()[1].get_token(None))

    def test_404(self):
        self.answer(glance_error(404, 'Not Found'))
        self.assertRaises(exception.ImageNotFound,
                          self.api.get_image_tasks, self.ctx, IMAGE)


class LocationsTest(GlanceTestCase):

    LOCATIONS = [{'url': 'rbd://fsid/images/%s/snap' % IMAGE,
                  'metadata': {'store': 'site_a'}},
                 {'url': 'file:///var/lib/glance/%s' % IMAGE,
                  'metadata': {'store': 'central'}}]

    def test_service_credentials_read_the_locations_api(self):
        self.use_service_credentials()
        self.answer(response(200, body=self.LOCATIONS))

        self.assertEqual(self.LOCATIONS, self.api.get_locations(self.ctx, IMAGE))
        self.assertEqual([('GET', '/v2/images/%s/locations' % IMAGE)],
                         self.requests_sent())
        self.assertEqual([self.service_auth], self.auths_used())

    def test_without_service_credentials_the_users_token_is_used(self):
        self.answer(response(200, body=self.LOCATIONS))

        self.assertEqual(self.LOCATIONS, self.api.get_locations(self.ctx, IMAGE))
        self.assertEqual(TOKEN, self.auths_used()[0].get_token(None))

    def test_service_user_blind_to_private_image_falls_back_to_user(self):
        self.use_service_credentials()
        self.answer(glance_error(404, 'No image found'),
                    response(200, body=self.LOCATIONS))

        self.assertEqual(self.LOCATIONS, self.api.get_locations(self.ctx, IMAGE))

    def test_forbidden_falls_back_to_the_image_locations_field(self):
        self.answer(glance_error(403, 'You are not authorized to complete '
                                      'fetch_image_location action.'),
                    response(200, body={'id': IMAGE, 'locations': self.LOCATIONS}))

        self.assertEqual(self.LOCATIONS, self.api.get_locations(self.ctx, IMAGE))
        self.assertEqual([('GET', '/v2/images/%s/locations' % IMAGE),
                          ('GET', '/v2/images/%s' % IMAGE)], self.requests_sent())

    def test_forbidden_falls_back_to_direct_url(self):
        url = 'rbd://fsid/images/%s/snap' % IMAGE
        self.answer(glance_error(403, 'no'),
                    response(200, body={'id': IMAGE, 'direct_url': url}))

        self.assertEqual([{'url': url, 'metadata': {}}],
                         self.api.get_locations(self.ctx, IMAGE))

    def test_nothing_visible_is_a_clear_error(self):
        self.use_service_credentials()
        self.answer(glance_error(404, 'No image found'),
                    glance_error(403, 'You are not authorized to complete '
                                      'fetch_image_location action.'),
                    response(200, body={'id': IMAGE, 'stores': 'site_a'}))

        exc = self.assertRaises(exception.ImageNotAuthorized,
                                self.api.get_locations, self.ctx, IMAGE)

        text = str(exc)
        self.assertIn('fetch_image_location', text)
        self.assertIn("Nova's service user: HTTP 404", text)
        self.assertIn('user u-demo: HTTP 403', text)
        self.assertIn('show_image_direct_url', text)

    def test_user_404_is_not_found(self):
        self.answer(glance_error(404, 'No image found'))
        self.assertRaises(exception.ImageNotFound,
                          self.api.get_locations, self.ctx, IMAGE)

    def test_server_error_is_raised(self):
        self.answer(response(500, body={'message': 'boom'}))
        self.assertRaises(exception.NovaException,
                          self.api.get_locations, self.ctx, IMAGE)


class DownloadTest(GlanceTestCase):

    DATA = os.urandom(200 * 1024 + 17)

    def image(self, **overrides):
        image = {'id': IMAGE, 'status': 'active', 'size': len(self.DATA),
                 'os_hash_algo': 'sha512',
                 'os_hash_value': hashlib.sha512(self.DATA).hexdigest()}
        image.update(overrides)
        return response(200, body=image)

    def test_iterator_of_chunks(self):
        self.answer(self.image(), response(200, data=self.DATA))

        chunks = list(self.api.download(self.ctx, IMAGE))

        self.assertEqual(self.DATA, b''.join(chunks))
        self.assertLessEqual(max(len(c) for c in chunks), glance.CHUNK_SIZE)
        self.assertEqual(('GET', '/v2/images/%s/file' % IMAGE),
                         self.requests_sent()[1])
        self.assertTrue(self.adapter.request.call_args.kwargs['stream'])

    def test_writes_dst_path(self):
        dst = os.path.join(self.useFixture(fixtures.TempDir()).path, 'disk')
        self.answer(self.image(), response(200, data=self.DATA))

        self.assertIsNone(self.api.download(self.ctx, IMAGE, dst_path=dst))

        with open(dst, 'rb') as f:
            self.assertEqual(self.DATA, f.read())

    def test_hash_mismatch_removes_the_file(self):
        dst = os.path.join(self.useFixture(fixtures.TempDir()).path, 'disk')
        self.answer(self.image(os_hash_value='0' * 128), response(200, data=self.DATA))

        exc = self.assertRaises(exception.ImageUnacceptable, self.api.download,
                                self.ctx, IMAGE, dst_path=dst)

        self.assertIn('sha512', str(exc))
        self.assertFalse(os.path.exists(dst))

    def test_size_mismatch_in_iterator_mode(self):
        self.answer(self.image(size=len(self.DATA) + 1), response(200, data=self.DATA))

        chunks = self.api.download(self.ctx, IMAGE)

        self.assertRaises(exception.ImageUnacceptable, list, chunks)

    def test_unknown_hash_algorithm_checks_size_only(self):
        self.answer(self.image(os_hash_algo='no-such-algo'),
                    response(200, data=self.DATA))

        self.assertEqual(self.DATA, b''.join(self.api.download(self.ctx, IMAGE)))

    def test_no_hash_recorded(self):
        self.answer(self.image(os_hash_algo=None, os_hash_value=None),
                    response(200, data=self.DATA))

        self.assertEqual(self.DATA, b''.join(self.api.download(self.ctx, IMAGE)))

    def test_no_data_is_not_active(self):
        self.answer(self.image(status='queued'), response(204))
        exc = self.assertRaises(exception.ImageNotActive,
                                self.api.download, self.ctx, IMAGE)
        self.assertIn('queued', str(exc))

    def test_broken_stream(self):
        resp = response(200, data=self.DATA)
        resp.raw = mock.Mock()
        resp.raw.read.side_effect = [self.DATA[:100],
                                     requests.exceptions.ConnectionError('reset')]
        del resp.raw.stream
        self.answer(self.image(), resp)

        exc = self.assertRaises(exception.GlanceConnectionFailed, list,
                                self.api.download(self.ctx, IMAGE))

        self.assertIn('after 100 bytes', str(exc))

    def test_download_403(self):
        self.answer(self.image(), glance_error(403, 'download_image'))
        self.assertRaises(exception.ImageNotAuthorized,
                          self.api.download, self.ctx, IMAGE)


class StoreDetailTest(GlanceTestCase):

    STORES = {'stores': [
        {'id': 'central', 'type': 'file', 'default': True, 'properties': {}},
        {'id': 'site_a', 'type': 'rbd',
         'properties': {'pool': 'images', 'fsid': 'f-a', 'chunk_size': 8388608}},
    ]}

    def test_returns_the_store_and_caches_the_list(self):
        self.use_service_credentials()
        self.answer(response(200, body=self.STORES))

        detail = self.api.get_store_detail(self.ctx, 'site_a')
        self.assertEqual({'pool': 'images', 'fsid': 'f-a', 'chunk_size': 8388608},
                         detail['properties'])
        self.assertEqual('file', self.api.get_store_detail(self.ctx, 'central')['type'])
        self.assertEqual([('GET', '/v2/info/stores/detail')], self.requests_sent())
        self.assertEqual([self.service_auth], self.auths_used())

    def test_unknown_store_is_refused_before_any_copy(self):
        self.answer(response(200, body=self.STORES))
        e = self.assertRaises(exception.GlanceStoreNotFound,
                              self.api.get_store_detail, self.ctx, 'nowhere')
        self.assertIn('images_rbd_glance_store_name', str(e))

    def test_not_allowed_means_unknown_not_an_error(self):
        for code in (401, 403, 404):
            self.api._store_detail.clear()
            self.answer(glance_error(code, 'nope'))
            self.assertIsNone(self.api.get_store_detail(self.ctx, 'site_a'))

    def test_no_credentials_at_all(self):
        ctx = nova_context.RequestContext(user_id='u', project_id='p')
        self.assertIsNone(self.api.get_store_detail(ctx, 'site_a'))
        self.assertEqual([], self.requests_sent())
