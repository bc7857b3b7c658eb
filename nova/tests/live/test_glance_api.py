"""nova.image.glance against the real stack: Keystone, Glance 33 and its stores.

Each test builds its own ``[glance]`` configuration (service credentials or not,
``copy_credentials``, retries) on a private ConfigOpts, so tests do not share state
beyond the images they upload.
"""

import os
import socket
import time

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg
from oslo_config import fixture as config_fixture
import testtools

from nova.conf import glance as glance_conf
from nova import exception
from nova.image import glance
from nova.tests.live.fixtures import stack

MIB = 1024 * 1024
WAIT = 60


def _free_port():
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class GlanceFunctionalTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.stack = self.useFixture(stack.SharedStackFixture())
        self.admin = self.stack.context('admin')
        self.demo = self.stack.context('demo')
        self.nova_roles = set(self.stack.context('nova').roles)

    # --- helpers ----------------------------------------------------------------

    def api(self, service=True, copy_credentials='auto', num_retries=1, **glance_opts):
        conf = cfg.ConfigOpts()
        glance_conf.register_opts(conf)
        conf([], default_config_files=[])
        # nova.conf's OptGroup objects are module-level, so overrides and registered
        # plugin options are shared between ConfigOpts: the fixture undoes them.
        fix = self.useFixture(config_fixture.Config(conf))
        glance_opts.update(num_retries=num_retries, copy_credentials=copy_credentials)
        if service:
            user = self.stack.state.users['nova']
            fix.register_opts(ks_loading.get_auth_plugin_conf_options('password'),
                              group='glance')
            glance_opts.update(
                auth_type='password', auth_url=self.stack.state.keystone_url,
                username=user['username'], password=user['password'],
                project_name=user['project_name'],
                user_domain_name=user['user_domain_name'],
                project_domain_name=user['project_domain_name'])
        fix.config(group='glance', **glance_opts)
        return glance.API(conf=conf)

    def upload(self, size=4 * MIB, public=True, user='admin'):
        return self.stack.upload_image(os.urandom(size), store='central', user=user,
                                       visibility='public' if public else 'private')

    def wait_for(self, api, ctx, image_id, predicate, what):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            image = api.show(ctx, image_id)
            if predicate(image):
                return image
            time.sleep(0.05)
        self.fail('image %s: %s not seen within %d s: %r' % (image_id, what, WAIT, image))

    def copy_and_wait(self, api, image_id, store='site_a'):
        api.image_import(self.admin, image_id, stores=[store])
        self.wait_for(api, self.admin, image_id,
                      lambda i: store in (i.get('stores') or '').split(',')
                      and not i.get('os_glance_import_task'), 'copy to %s' % store)

    # --- show and tasks -----------------------------------------------------------

    def test_show_has_os_glance_properties_during_and_after_a_copy(self):
        api = self.api(copy_credentials='user')
        image_id = self.upload(size=16 * MIB)
        before = api.show(self.demo, image_id)
        self.assertEqual('central', before['stores'])

        self.assertIsNone(api.image_import(self.admin, image_id, stores=['site_a']))
        # Glance takes the image's import lock before it answers 202.
        during = api.show(self.demo, image_id)
        task_id = during.get('os_glance_import_task')
        self.assertTrue(task_id, during)

        after = self.wait_for(
            api, self.demo, image_id,
            lambda i: 'site_a' in i['stores'].split(',')
            and not i.get('os_glance_import_task'), 'copy to site_a')
        self.assertEqual({'central', 'site_a'}, set(after['stores'].split(',')))
        self.assertFalse(after.get('os_glance_importing_to_stores'))
        self.assertFalse(after.get('os_glance_failed_import'))

        tasks = api.get_image_tasks(self.admin, image_id)
        self.assertIn(task_id, [t['id'] for t in tasks])
        task = [t for t in tasks if t['id'] == task_id][0]
        self.assertEqual('success', task['status'])
        for key in ('message', 'created_at', 'updated_at'):
            self.assertIn(key, task)

    def test_unknown_image(self):
        api = self.api()
        missing = '00000000-0000-4000-8000-000000000000'
        self.assertRaises(exception.ImageNotFound, api.show, self.demo, missing)
        self.assertRaises(exception.ImageNotFound, api.image_import, self.admin,
                          missing, stores=['site_a'])
        self.assertRaises(exception.ImageNotFound, api.get_locations, self.demo,
                          missing)

    def test_download_matches_the_upload(self):
        data = os.urandom(3 * MIB + 5)
        image_id = self.stack.upload_image(data, store='central', user='demo',
                                           visibility='private')

        got = b''.join(self.api(service=False).download(self.demo, image_id))

        self.assertEqual(data, got)

    # --- locations ----------------------------------------------------------------

    def test_locations_with_service_credentials(self):
        image_id = self.upload()

        locations = self.api(service=True).get_locations(self.demo, image_id)

        self.assertEqual(['central'], [loc['metadata']['store'] for loc in locations])
        self.assertTrue(locations[0]['url'])

    def test_locations_without_service_credentials_is_a_clear_error(self):
        image_id = self.upload()

        exc = self.assertRaises(exception.ImageNotAuthorized,
                                self.api(service=False).get_locations,
                                self.demo, image_id)

        self.assertIn('fetch_image_location', str(exc))
        self.assertIn('HTTP 403', str(exc))

    def test_locations_as_admin_without_service_credentials(self):
        image_id = self.upload()

        locations = self.api(service=False).get_locations(self.admin, image_id)

        self.assertEqual(['central'], [loc['metadata']['store'] for loc in locations])

    def test_locations_of_a_members_private_image(self):
        # A non-admin service user does not see other projects' private images.
        image_id = self.upload(public=False, user='demo')
        api = self.api(service=True)
        if 'admin' in self.nova_roles:
            locations = api.get_locations(self.demo, image_id)
            self.assertEqual(['central'],
                             [loc['metadata']['store'] for loc in locations])
        else:
            exc = self.assertRaises(exception.ImageNotAuthorized,
                                    api.get_locations, self.demo, image_id)
            self.assertIn("Nova's service user: HTTP 404", str(exc))

    # --- image_import -------------------------------------------------------------

    def test_copy_then_copy_again_is_already_in_store(self):
        api = self.api(copy_credentials='user')
        image_id = self.upload()
        self.copy_and_wait(api, image_id)

        exc = self.assertRaises(exception.ImageAlreadyInStore, api.image_import,
                                self.admin, image_id, stores=['site_a'])

        self.assertEqual('site_a', exc.kwargs['store'])

    def test_copy_while_another_runs_is_in_progress(self):
        api = self.api(copy_credentials='user')
        image_id = self.upload(size=16 * MIB)
        api.image_import(self.admin, image_id, stores=['site_a'])

        # The lock is per image, not per store.
        for store in ('site_a', 'site_b'):
            self.assertRaises(exception.ImageImportInProgress, api.image_import,
                              self.admin, image_id, stores=[store])
        # Leave the image idle for the next test that might share the stack.
        self.wait_for(api, self.admin, image_id,
                      lambda i: not i.get('os_glance_import_task'), 'lock released')

    def test_unknown_store(self):
        api = self.api(copy_credentials='user')
        image_id = self.upload()

        exc = self.assertRaises(exception.GlanceStoreNotFound, api.image_import,
                                self.admin, image_id, stores=['no_such_store'])

        self.assertEqual('no_such_store', exc.kwargs['store'])

    def test_member_with_user_credentials_is_not_authorized(self):
        api = self.api(copy_credentials='user')
        image_id = self.upload()

        exc = self.assertRaises(exception.ImageCopyNotAuthorized, api.image_import,
                                self.demo, image_id, stores=['site_a'])

        self.assertEqual('user %s' % self.demo.user_id, exc.kwargs['who'])
        self.assertIn('copy_image', str(exc))

    def test_member_with_service_credentials(self):
        api = self.api(copy_credentials='auto')
        image_id = self.upload()
        if 'admin' in self.nova_roles:
            self.assertIsNone(api.image_import(self.demo, image_id, stores=['site_a']))
            self.wait_for(api, self.demo, image_id,
                          lambda i: 'site_a' in i['stores'].split(',')
                          and not i.get('os_glance_import_task'), 'copy')
        else:
            # Glance's default copy_image policy is admin only.
            exc = self.assertRaises(exception.ImageCopyNotAuthorized, api.image_import,
                                    self.demo, image_id, stores=['site_a'])
            self.assertEqual("Nova's service user", exc.kwargs['who'])

    # --- Glance down ----------------------------------------------------------------

    def test_glance_down_fails_fast_after_retries(self):
        endpoint = 'http://127.0.0.1:%d' % _free_port()
        api = self.api(service=False, num_retries=2, endpoint_override=endpoint)

        start = time.monotonic()
        exc = self.assertRaises(exception.GlanceConnectionFailed, api.show, self.demo,
                                '00000000-0000-4000-8000-000000000000')
        elapsed = time.monotonic() - start

        # Backoff 0.5 s + 1 s between three attempts; refused connections are instant.
        self.assertGreaterEqual(elapsed, 1.5)
        self.assertLess(elapsed, 5)
        self.assertIn(endpoint, str(exc))
        self.assertIn('3 attempt(s)', str(exc))
        self.assertNotIn(self.demo.auth_token, str(exc))
